/*
 * test_small.c - small random layers on a slow simulated board (the yosys netlist in Icarus)
 * against the golden model, through the public API.
 *
 * test_sim's layers are sized for Verilator (up to a few hundred thousand cycles each); a gate
 * netlist in an event-driven simulator runs a few thousand cycles a second, so these layers
 * are tiny (up to 6 channels, 6x6 inputs, 3x3 kernels) but still cover strides, padding,
 * groups, zero points, every activation and max/average pooling. Each output must equal the
 * cpu device's (the golden model) byte for byte.
 *
 * usage: test_small [--layers N] [--seed S] DEVICE      (DEVICE like sim:4x4)
 * Prints its seed; ends with "N passed, M failed"; exits non-zero on any mismatch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "testrng.h"

static int run_layer(cbr_device *dev, cbr_device *cpu, int k)
{
    cbr_layer_desc d;
    memset(&d, 0, sizeof d);
    d.groups = rnd(4) == 0 ? 2 : 1;
    d.in_c = d.groups * (1 + rnd(3));
    d.out_c = d.groups * (1 + rnd(3));
    d.kh = 1 + rnd(3);
    d.kw = rnd(2) ? d.kh : 1 + rnd(3);
    d.stride_h = 1 + rnd(2);
    d.stride_w = 1 + rnd(2);
    d.dilation_h = d.dilation_w = 1;
    d.pad_top = rnd(2);
    d.pad_left = rnd(2);
    d.pad_bottom = rnd(2);
    d.pad_right = rnd(2);
    d.in_h = d.kh + rnd(4);
    d.in_w = d.kw + rnd(4);
    d.input_zp = (int32_t)rnd(256) - 128;
    d.output_zp = (int32_t)rnd(256) - 128;
    d.act = (cbr_act)rnd(4);
    if (d.act == CBR_ACT_RELU6) { /* integer mode: the clamp is explicit, [y_zp, y_zp + k] */
        d.has_clamp = true;
        d.clamp_min = d.output_zp;
        d.clamp_max = d.output_zp + (int32_t)rnd((uint32_t)(128 - d.output_zp));
    }
    uint32_t oh = (d.in_h + d.pad_top + d.pad_bottom - d.kh) / d.stride_h + 1;
    uint32_t ow = (d.in_w + d.pad_left + d.pad_right - d.kw) / d.stride_w + 1;
    if (rnd(3) == 0 && oh >= 2 && ow >= 2) {
        d.pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d.pool.kh = d.pool.kw = 2;
        d.pool.stride_h = d.pool.stride_w = 1 + rnd(2);
    }
    size_t nw = (size_t)d.out_c * (d.in_c / d.groups) * d.kh * d.kw;
    int8_t *w = malloc(nw);
    int32_t *b = malloc(4 * d.out_c), *m = malloc(4 * d.out_c), *s = malloc(4 * d.out_c);
    int32_t *mn = malloc(4 * d.out_c), *sn = malloc(4 * d.out_c);
    size_t nx = (size_t)d.in_c * d.in_h * d.in_w;
    int8_t *x = malloc(nx), *y = NULL, *yr = NULL;
    cbr_layer *l = NULL, *lr = NULL;
    int bad = 1;
    if (!w || !b || !m || !s || !mn || !sn || !x)
        goto out;
    for (size_t i = 0; i < nw; i++)
        w[i] = (int8_t)((int)rnd(255) - 127);
    for (size_t i = 0; i < nx; i++)
        x[i] = (int8_t)((int)rnd(256) - 128);
    for (uint32_t o = 0; o < d.out_c; o++) {
        b[o] = (int32_t)rnd(20001) - 10000;
        m[o] = (int32_t)((1u << 30) + rnd(1u << 30));
        s[o] = -(int32_t)(4 + rnd(8));
        mn[o] = (int32_t)((1u << 30) + rnd(1u << 30));
        sn[o] = -(int32_t)(4 + rnd(10));
    }
    d.weights = w;
    d.bias = b;
    d.multiplier = m;
    d.shift = s;
    if (d.act == CBR_ACT_LEAKY) {
        d.neg_multiplier = mn;
        d.neg_shift = sn;
    }
    printf("layer %d: %ux%ux%u -> %u k%ux%u s%u,%u p%u,%u,%u,%u g%u zp%d,%d act%d pool%d\n", k,
           d.in_c, d.in_h, d.in_w, d.out_c, d.kh, d.kw, d.stride_h, d.stride_w, d.pad_top,
           d.pad_left, d.pad_bottom, d.pad_right, d.groups, d.input_zp, d.output_zp, (int)d.act,
           (int)d.pool.kind);
    fflush(stdout);
    if (cbr_layer_create(dev, &d, &l) < 0 || cbr_layer_create(cpu, &d, &lr) < 0) {
        printf("  FAIL create: %s\n", cbr_errmsg(l ? cpu : dev));
        goto out;
    }
    cbr_shape sh;
    if (cbr_layer_output_shape(lr, 1, &sh) < 0)
        goto out;
    size_t ny = (size_t)sh.n * sh.c * sh.h * sh.w;
    y = malloc(ny);
    yr = malloc(ny);
    if (!y || !yr)
        goto out;
    if (cbr_layer_run(lr, 1, x, yr, NULL) < 0) {
        printf("  FAIL golden: %s\n", cbr_errmsg(cpu));
        goto out;
    }
    cbr_stats st;
    memset(&st, 0, sizeof st);
    if (cbr_layer_run(l, 1, x, y, &st) < 0) {
        printf("  FAIL run: %s\n", cbr_errmsg(dev));
        goto out;
    }
    bad = 0;
    for (size_t i = 0; i < ny; i++)
        if (y[i] != yr[i]) {
            if (bad++ < 5)
                printf("  MISMATCH at %zu: device %d, golden %d\n", i, y[i], yr[i]);
        }
    printf("  %zu outputs, %s, %" PRIu64 " device cycles\n", ny, bad ? "FAIL" : "bit-exact",
           st.cycles);
    fflush(stdout);
out:
    cbr_layer_destroy(l);
    cbr_layer_destroy(lr);
    free(w), free(b), free(m), free(s), free(mn), free(sn), free(x), free(y), free(yr);
    return bad != 0;
}

int main(int argc, char **argv)
{
    int layers = 3, first = 1;
    uint64_t seed = test_seed();
    while (first < argc && !strncmp(argv[first], "--", 2)) {
        if (!strcmp(argv[first], "--layers") && first + 1 < argc)
            layers = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--seed") && first + 1 < argc)
            seed = strtoull(argv[first + 1], NULL, 0);
        else
            break;
        first += 2;
    }
    if (first + 1 != argc || layers < 1) {
        fprintf(stderr, "usage: test_small [--layers N] [--seed S] DEVICE\n");
        return 2;
    }
    rng = seed;
    printf("test_small: seed %" PRIu64 " (replay with --seed %" PRIu64 "), %d layers on %s\n",
           seed, seed, layers, argv[first]);
    cbr_device *dev = NULL, *cpu = NULL;
    if (cbr_device_open(&dev, argv[first]) < 0) {
        printf("FAIL: cannot open %s: %s\n", argv[first], cbr_errmsg(NULL));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (cbr_device_open(&cpu, "cpu") < 0) {
        printf("FAIL: cannot open cpu: %s\n", cbr_errmsg(NULL));
        cbr_device_close(dev);
        return 1;
    }
    int failed = 0;
    for (int k = 0; k < layers; k++)
        failed += run_layer(dev, cpu, k);
    cbr_device_close(dev);
    cbr_device_close(cpu);
    printf("%d passed, %d failed\n", layers - failed, failed);
    return failed != 0;
}
