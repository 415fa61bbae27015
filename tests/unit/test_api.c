/*
 * test_api.c - the public API on the cpu device: opening devices, validating layers once,
 * synchronous and asynchronous runs, layouts, ownership and error reporting.
 *
 * Results are compared with the golden model called directly, so these tests check the API
 * layer (copies, layouts, the job queue), not the arithmetic (test_golden.c does that).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "testlayer.h"
#include "testrng.h"
#include "golden.h"

static uint64_t seed;

/* A random valid layer with its own parameter arrays (freed by free_layer). */
struct rand_layer {
    cbr_layer_desc d;
    struct test_params p;
};

static void make_layer(struct rand_layer *r)
{
    memset(r, 0, sizeof *r);
    cbr_layer_desc *d = &r->d;
    d->groups = 1 + rnd(3);
    d->in_c = d->groups * (1 + rnd(4));
    d->out_c = d->groups * (1 + rnd(4));
    d->kh = 1 + rnd(4);
    d->kw = 1 + rnd(4);
    d->in_h = d->kh + rnd(8);
    d->in_w = d->kw + rnd(8);
    d->stride_h = 1 + rnd(2);
    d->stride_w = 1 + rnd(2);
    d->pad_top = rnd(2);
    d->pad_left = rnd(2);
    d->pad_bottom = rnd(2);
    d->pad_right = rnd(2);
    d->input_zp = (int32_t)rnd(256) - 128;
    d->output_zp = (int32_t)rnd(256) - 128;
    d->act = (cbr_act)rnd(4);
    if (d->act == CBR_ACT_RELU6) {
        d->has_clamp = true;
        d->clamp_min = -128;
        d->clamp_max = 127 - (int32_t)rnd(10);
        if (d->output_zp > d->clamp_max) /* keep [max(zp, -128), clamp_max] non-empty */
            d->output_zp = d->clamp_max;
    }
    if (rnd(2)) {
        d->pool.kind = CBR_POOL_GAVG;
    }
    test_params_fill(&r->p, d, 10000);
}

static void free_layer(struct rand_layer *r)
{
    test_params_free(&r->p);
}

static size_t in_size(const cbr_layer_desc *d, uint32_t n)
{
    return (size_t)n * d->in_c * d->in_h * d->in_w;
}

static size_t out_size(cbr_layer *l, uint32_t n)
{
    cbr_shape s;
    assert_int_equal(cbr_layer_output_shape(l, n, &s), 0);
    return (size_t)s.n * s.c * s.h * s.w;
}

/* The golden model called directly on a normalised copy of the description. */
static void golden(const cbr_layer_desc *d, uint32_t n, const int8_t *x, int8_t *y)
{
    cbr_layer_desc nd = *d;
    cbr_layer_normalize(&nd);
    assert_int_equal(cbr_golden_layer(&nd, n, x, y), 0);
}

static void test_open_cpu_reports_info(void **state)
{
    (void)state;
    cbr_device *dev = NULL;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    assert_non_null(dev);
    cbr_device_info info;
    assert_int_equal(cbr_device_get_info(dev, &info), 0);
    assert_string_equal(info.uri, "cpu");
    assert_int_equal(info.rows, 0);
    assert_int_equal(info.max_kernel, CBR_MAX_KERNEL);
    assert_true(info.features & CBR_FEAT_LEAKY);
    assert_true(info.features & CBR_FEAT_DEPTHWISE);
    assert_false(info.features & CBR_FEAT_COUNTERS);
    cbr_device_close(dev);
}

static void test_open_unknown_scheme_returns_enodev_naming_it(void **state)
{
    (void)state;
    cbr_device *dev = (cbr_device *)1;
    assert_int_equal(cbr_device_open(&dev, "floppy:0"), CBR_ENODEV);
    assert_null(dev);
    assert_non_null(strstr(cbr_errmsg(NULL), "floppy:0"));
    assert_non_null(strstr(cbr_errmsg(NULL), "cpu"));
}

static void test_open_cpu_with_arguments_returns_einval(void **state)
{
    (void)state;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu:4x4"), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "4x4"));
}

static void test_open_null_out_returns_einval(void **state)
{
    (void)state;
    assert_int_equal(cbr_device_open(NULL, "cpu"), CBR_EINVAL);
}

static void test_default_device_follows_env(void **state)
{
    (void)state;
    setenv("CBR_DEVICE", "cpu", 1);
    assert_string_equal(cbr_default_device(), "cpu");
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, NULL), 0);
    cbr_device_close(dev);
    setenv("CBR_DEVICE", "nonesuch", 1);
    assert_int_equal(cbr_device_open(&dev, ""), CBR_ENODEV);
    assert_non_null(strstr(cbr_errmsg(NULL), "nonesuch"));
    unsetenv("CBR_DEVICE");
}

static void test_device_list_ends_with_enoent(void **state)
{
    (void)state;
    char buf[64];
    size_t i = 0;
    bool saw_cpu = false;
    while (cbr_device_list(i, buf, sizeof buf) == 0) {
        saw_cpu |= !strcmp(buf, "cpu");
        i++;
        assert_true(i < 100);
    }
    assert_true(saw_cpu);
    assert_int_equal(cbr_device_list(i, buf, sizeof buf), CBR_ENOENT);
}

static void test_close_and_destroy_accept_null(void **state)
{
    (void)state;
    cbr_device_close(NULL);
    cbr_layer_destroy(NULL);
    cbr_job_free(NULL);
    cbr_tensor_free(NULL);
}

static void test_strerror_is_distinct_for_every_code(void **state)
{
    (void)state;
    for (int a = CBR_EDEVICE; a <= 0; a++) {
        assert_non_null(cbr_strerror(a));
        for (int b = CBR_EDEVICE; b < a; b++)
            assert_string_not_equal(cbr_strerror(a), cbr_strerror(b));
    }
    assert_string_equal(cbr_strerror(-999), "unknown error");
}

static void test_layer_create_invalid_returns_error_and_message(void **state)
{
    (void)state;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    struct rand_layer r;
    make_layer(&r);
    r.d.kh = 12;
    cbr_layer *l = (cbr_layer *)1;
    assert_true(cbr_layer_create(dev, &r.d, &l) < 0);
    assert_null(l);
    assert_non_null(strstr(cbr_errmsg(dev), "kh"));
    r.d.kh = 1;
    r.p.w[0] = -128;
    assert_int_equal(cbr_layer_create(dev, &r.d, &l), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(dev), "-128"));
    free_layer(&r);
    cbr_device_close(dev);
}

static void test_layer_create_null_arguments_return_einval(void **state)
{
    (void)state;
    cbr_device *dev;
    cbr_layer *l;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    assert_int_equal(cbr_layer_create(dev, NULL, &l), CBR_EINVAL);
    assert_int_equal(cbr_layer_create(NULL, NULL, &l), CBR_EINVAL);
    cbr_device_close(dev);
}

static void test_run_matches_golden_model(void **state)
{
    (void)state;
    rng = seed;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    for (int iter = 0; iter < 200; iter++) {
        struct rand_layer r;
        make_layer(&r);
        uint32_t n = 1 + rnd(3);
        cbr_layer *l;
        assert_int_equal(cbr_layer_create(dev, &r.d, &l), 0);
        size_t ni = in_size(&r.d, n), no = out_size(l, n);
        int8_t *x = malloc(ni), *y = malloc(no), *g = malloc(no);
        for (size_t i = 0; i < ni; i++)
            x[i] = (int8_t)rnd(256);
        cbr_stats st;
        assert_int_equal(cbr_layer_run(l, n, x, y, &st), 0);
        golden(&r.d, n, x, g);
        assert_memory_equal(y, g, no);
        uint32_t oh, ow;
        cbr_layer_conv_shape(l, &oh, &ow);
        uint64_t macs = (uint64_t)n * oh * ow * r.d.out_c * (r.d.in_c / r.d.groups) * r.d.kh *
                        r.d.kw;
        assert_int_equal(st.macs, macs);
        assert_int_equal(st.cycles, 0);
        assert_true(cbr_stats_utilization(&st) == 0.0);
        assert_true(st.bytes_compulsory >= ni + no);
        free(x);
        free(y);
        free(g);
        cbr_layer_destroy(l);
        free_layer(&r);
    }
    cbr_device_close(dev);
}

static void test_layer_keeps_its_own_copy_of_parameters(void **state)
{
    (void)state;
    rng = seed + 1;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    struct rand_layer r;
    make_layer(&r);
    cbr_layer *l;
    assert_int_equal(cbr_layer_create(dev, &r.d, &l), 0);
    size_t ni = in_size(&r.d, 1), no = out_size(l, 1);
    int8_t *x = malloc(ni), *y = malloc(no), *g = malloc(no);
    for (size_t i = 0; i < ni; i++)
        x[i] = (int8_t)rnd(256);
    golden(&r.d, 1, x, g);
    /* Scribble over the caller's arrays: the layer must not see it. */
    size_t nw = (size_t)r.d.out_c * (r.d.in_c / r.d.groups) * r.d.kh * r.d.kw;
    memset(r.p.w, 0x55, nw);
    for (uint32_t o = 0; o < r.d.out_c; o++)
        r.p.b[o] = 1 << 20;
    assert_int_equal(cbr_layer_run(l, 1, x, y, NULL), 0);
    assert_memory_equal(y, g, no);
    free(x);
    free(y);
    free(g);
    cbr_layer_destroy(l);
    free_layer(&r);
    cbr_device_close(dev);
}

static void test_nhwc_layout_is_the_transpose_of_nchw(void **state)
{
    (void)state;
    rng = seed + 2;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    for (int iter = 0; iter < 40; iter++) {
        struct rand_layer r;
        make_layer(&r);
        cbr_layer *lc, *lh;
        assert_int_equal(cbr_layer_create(dev, &r.d, &lc), 0);
        r.d.layout = CBR_LAYOUT_NHWC;
        assert_int_equal(cbr_layer_create(dev, &r.d, &lh), 0);
        uint32_t n = 2, C = r.d.in_c, H = r.d.in_h, W = r.d.in_w;
        cbr_shape os;
        cbr_layer_output_shape(lc, n, &os);
        size_t ni = in_size(&r.d, n), no = out_size(lc, n);
        int8_t *xc = malloc(ni), *xh = malloc(ni), *yc = malloc(no), *yh = malloc(no);
        for (size_t i = 0; i < ni; i++)
            xc[i] = (int8_t)rnd(256);
        for (uint32_t b = 0; b < n; b++)
            for (uint32_t c = 0; c < C; c++)
                for (uint32_t y = 0; y < H; y++)
                    for (uint32_t x = 0; x < W; x++)
                        xh[((b * H + y) * W + x) * C + c] = xc[((b * C + c) * H + y) * W + x];
        assert_int_equal(cbr_layer_run(lc, n, xc, yc, NULL), 0);
        assert_int_equal(cbr_layer_run(lh, n, xh, yh, NULL), 0);
        for (uint32_t b = 0; b < n; b++)
            for (uint32_t c = 0; c < os.c; c++)
                for (uint32_t y = 0; y < os.h; y++)
                    for (uint32_t x = 0; x < os.w; x++)
                        assert_int_equal(yh[((b * os.h + y) * os.w + x) * os.c + c],
                                         yc[((b * os.c + c) * os.h + y) * os.w + x]);
        free(xc);
        free(xh);
        free(yc);
        free(yh);
        cbr_layer_destroy(lc);
        cbr_layer_destroy(lh);
        free_layer(&r);
    }
    cbr_device_close(dev);
}

static void test_async_jobs_in_flight_complete_in_order_with_right_results(void **state)
{
    (void)state;
    rng = seed + 3;
    enum { JOBS = 16 };
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    struct rand_layer r;
    cbr_layer *l;
    make_layer(&r);
    assert_int_equal(cbr_layer_create(dev, &r.d, &l), 0);
    size_t ni = in_size(&r.d, 1), no = out_size(l, 1);
    int8_t *x[JOBS], *y[JOBS], *g = malloc(no);
    cbr_job *job[JOBS];
    for (int j = 0; j < JOBS; j++) {
        x[j] = malloc(ni);
        y[j] = malloc(no);
        for (size_t i = 0; i < ni; i++)
            x[j][i] = (int8_t)rnd(256);
        assert_int_equal(cbr_layer_submit(l, 1, x[j], y[j], &job[j]), 0);
    }
    /* Poll the first until done; in-order completion means the rest come after it. */
    int rc;
    while ((rc = cbr_job_poll(job[0])) == CBR_EAGAIN)
        ;
    assert_int_equal(rc, 0);
    for (int j = JOBS - 1; j >= 0; j--) {
        cbr_stats st;
        assert_int_equal(cbr_job_wait(job[j], 10000, &st), 0);
        assert_true(st.macs > 0);
        assert_int_equal(cbr_job_poll(job[j]), 0);
        assert_int_equal(cbr_job_wait(job[j], 0, NULL), 0); /* done: no waiting needed */
        golden(&r.d, 1, x[j], g);
        assert_memory_equal(y[j], g, no);
        cbr_job_free(job[j]);
        free(x[j]);
        free(y[j]);
    }
    free(g);
    cbr_layer_destroy(l);
    free_layer(&r);
    cbr_device_close(dev);
}

static void test_job_free_waits_for_a_running_job(void **state)
{
    (void)state;
    rng = seed + 4;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    /* A layer large enough that it is still running when we free the job. */
    cbr_layer_desc d = {.in_c = 64, .in_h = 64, .in_w = 64, .out_c = 64, .kh = 3, .kw = 3,
                        .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    size_t nw = 64 * 64 * 9;
    int8_t *w = calloc(nw, 1), *x = calloc(64 * 64 * 64, 1), *y = malloc(64 * 64 * 64);
    int32_t m[64], s[64];
    for (int o = 0; o < 64; o++) {
        m[o] = 1 << 30;
        s[o] = 0;
    }
    d.weights = w;
    d.multiplier = m;
    d.shift = s;
    cbr_layer *l;
    assert_int_equal(cbr_layer_create(dev, &d, &l), 0);
    memset(y, 0x77, 64 * 64 * 64);
    cbr_job *job;
    assert_int_equal(cbr_layer_submit(l, 1, x, y, &job), 0);
    cbr_job_free(job); /* must block until the worker is done with x and y */
    for (size_t i = 0; i < 64 * 64 * 64; i++)
        assert_int_equal(y[i], 0);
    free(w);
    free(x);
    free(y);
    cbr_layer_destroy(l);
    cbr_device_close(dev);
}

static void test_submit_bad_arguments_return_einval(void **state)
{
    (void)state;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    int8_t w[1] = {1};
    int32_t m[1] = {1 << 30}, s[1] = {0};
    cbr_layer_desc d = {.in_c = 1, .in_h = 1, .in_w = 1, .out_c = 1, .kh = 1, .kw = 1,
                        .weights = w, .multiplier = m, .shift = s};
    cbr_layer *l;
    assert_int_equal(cbr_layer_create(dev, &d, &l), 0);
    int8_t x[1] = {5}, y[1];
    cbr_job *job;
    assert_int_equal(cbr_layer_submit(l, 1, NULL, y, &job), CBR_EINVAL);
    assert_null(job);
    assert_non_null(strstr(cbr_errmsg(dev), "input"));
    assert_int_equal(cbr_layer_submit(l, 0, x, y, &job), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(dev), "batch"));
    assert_int_equal(cbr_layer_submit(l, 1, x, y, NULL), CBR_EINVAL);
    assert_int_equal(cbr_job_poll(NULL), CBR_EINVAL);
    assert_int_equal(cbr_job_wait(NULL, 0, NULL), CBR_EINVAL);
    assert_int_equal(cbr_layer_run(l, 1, x, y, NULL), 0);
    assert_int_equal(y[0], 3); /* 5 * 2^30 * 2^-31 = 2.5, rounded away from zero */
    cbr_layer_destroy(l);
    cbr_device_close(dev);
}

/* A chain of three layers, each fed the previous one's output, equals the golden model run
 * layer by layer; per-layer and total stats add up. */
static void test_network_runs_layers_in_order(void **state)
{
    (void)state;
    rng = seed + 40;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    for (int round = 0; round < 20; round++) {
        struct rand_layer r[3];
        cbr_layer *l[3];
        uint32_t c = 1 + rnd(4), h = 6 + rnd(8), w = 6 + rnd(8);
        int32_t zp = (int32_t)rnd(256) - 128;
        for (int i = 0; i < 3; i++) {
            make_layer(&r[i]);
            cbr_layer_desc *d = &r[i].d;
            test_params_free(&r[i].p);
            d->groups = 1;
            d->in_c = c;
            d->in_h = h;
            d->in_w = w;
            d->kh = 1 + rnd(3);
            d->kw = 1 + rnd(3);
            d->pad_top = d->pad_bottom = d->kh / 2;
            d->pad_left = d->pad_right = d->kw / 2;
            d->input_zp = zp;
            d->pool.kind = i == 2 && rnd(2) ? CBR_POOL_GAVG : CBR_POOL_NONE;
            test_params_fill(&r[i].p, d, 10000);
            assert_int_equal(cbr_layer_create(dev, d, &l[i]), 0);
            cbr_shape s;
            cbr_layer_output_shape(l[i], 1, &s);
            c = s.c, h = s.h, w = s.w, zp = d->output_zp;
        }
        cbr_network *net;
        assert_int_equal(cbr_network_create(l, 3, &net), 0);
        uint32_t n = 1 + rnd(2);
        size_t ni = in_size(&r[0].d, n), no = out_size(l[2], n);
        int8_t *x = malloc(ni), *y = malloc(no), *a = malloc(4096 * n), *b = malloc(4096 * n);
        int8_t *g = malloc(no);
        for (size_t k = 0; k < ni; k++)
            x[k] = (int8_t)rnd(256);
        cbr_stats total, per[3];
        assert_int_equal(cbr_network_run(net, n, x, y, &total, per), 0);
        golden(&r[0].d, n, x, a);
        golden(&r[1].d, n, a, b);
        golden(&r[2].d, n, b, g);
        if (memcmp(y, g, no) != 0)
            fail_msg("seed %llu round %d: network output differs", (unsigned long long)seed,
                     round);
        assert_int_equal(total.macs, per[0].macs + per[1].macs + per[2].macs);
        assert_true(per[0].macs > 0);
        cbr_network_destroy(net);
        free(x), free(y), free(a), free(b), free(g);
        for (int i = 0; i < 3; i++) {
            cbr_layer_destroy(l[i]);
            free_layer(&r[i]);
        }
    }
    cbr_device_close(dev);
}

/* Layers that do not chain are refused, naming the layer and the mismatch. */
static void test_network_refuses_layers_that_do_not_chain(void **state)
{
    (void)state;
    rng = seed + 41;
    cbr_device *dev;
    assert_int_equal(cbr_device_open(&dev, "cpu"), 0);
    struct rand_layer r[2];
    cbr_layer *l[2];
    for (int i = 0; i < 2; i++) {
        make_layer(&r[i]);
        test_params_free(&r[i].p);
        r[i].d.groups = 1;
        r[i].d.pool.kind = CBR_POOL_NONE;
        r[i].d.kh = r[i].d.kw = 1;
        r[i].d.stride_h = r[i].d.stride_w = 1;
        r[i].d.pad_top = r[i].d.pad_left = r[i].d.pad_bottom = r[i].d.pad_right = 0;
        r[i].d.in_h = r[i].d.in_w = 5;
        r[i].d.in_c = 3;
        r[i].d.out_c = i == 0 ? 4 : 2; /* layer 1 wants 3 channels, layer 0 gives 4 */
        test_params_fill(&r[i].p, &r[i].d, 100);
        assert_int_equal(cbr_layer_create(dev, &r[i].d, &l[i]), 0);
    }
    cbr_network *net = (cbr_network *)1;
    assert_int_equal(cbr_network_create(l, 2, &net), CBR_EINVAL);
    assert_null(net);
    assert_non_null(strstr(cbr_errmsg(NULL), "layer 1"));
    assert_int_equal(cbr_network_create(l, 0, &net), CBR_EINVAL);
    cbr_layer *withnull[2] = {l[0], NULL};
    assert_int_equal(cbr_network_create(withnull, 2, &net), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "layer 1 is NULL"));
    /* right shape, wrong zero point */
    cbr_layer_destroy(l[0]);
    r[0].d.out_c = 3;
    r[0].d.output_zp = r[1].d.input_zp == 5 ? 6 : 5;
    test_params_free(&r[0].p);
    test_params_fill(&r[0].p, &r[0].d, 100);
    assert_int_equal(cbr_layer_create(dev, &r[0].d, &l[0]), 0);
    assert_int_equal(cbr_network_create(l, 2, &net), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "input_zp"));
    assert_int_equal(cbr_network_run(NULL, 1, (int8_t *)"", (int8_t *)"", NULL, NULL),
                     CBR_EINVAL);
    cbr_network_destroy(NULL);
    for (int i = 0; i < 2; i++) {
        cbr_layer_destroy(l[i]);
        free_layer(&r[i]);
    }
    cbr_device_close(dev);
}

int main(void)
{
    seed = test_seed();
    printf("test_api: seed %llu (replay with CBR_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_cpu_reports_info),
        cmocka_unit_test(test_open_unknown_scheme_returns_enodev_naming_it),
        cmocka_unit_test(test_open_cpu_with_arguments_returns_einval),
        cmocka_unit_test(test_open_null_out_returns_einval),
        cmocka_unit_test(test_default_device_follows_env),
        cmocka_unit_test(test_device_list_ends_with_enoent),
        cmocka_unit_test(test_close_and_destroy_accept_null),
        cmocka_unit_test(test_strerror_is_distinct_for_every_code),
        cmocka_unit_test(test_layer_create_invalid_returns_error_and_message),
        cmocka_unit_test(test_layer_create_null_arguments_return_einval),
        cmocka_unit_test(test_run_matches_golden_model),
        cmocka_unit_test(test_layer_keeps_its_own_copy_of_parameters),
        cmocka_unit_test(test_nhwc_layout_is_the_transpose_of_nchw),
        cmocka_unit_test(test_async_jobs_in_flight_complete_in_order_with_right_results),
        cmocka_unit_test(test_job_free_waits_for_a_running_job),
        cmocka_unit_test(test_submit_bad_arguments_return_einval),
        cmocka_unit_test(test_network_runs_layers_in_order),
        cmocka_unit_test(test_network_refuses_layers_that_do_not_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
