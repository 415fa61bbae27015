/*
 * test_plan.c - the tile planner's invariants (host/lib/plan.c, docs/tiling.md), on the plan
 * alone: every output is produced once, depthwise tiles start on a row of their region's
 * banks, regions are shared so halos are stored once, and weight sets are reused across
 * regions in snake order. Bit-exactness of the plans on the device is tested by test_accel
 * (software board) and test_sim (the RTL); the bytes they move are measured by `cbr bench`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "device.h"
#include "plan.h"
#include "testregions.h"
#include "testrng.h"

/* The default 16x16 build (rtl/cbr_top.v) and a small one. */
static const struct cbr_caps caps16 = {16, 16, 524288, 524288, 131072, 2048, 1024, true, 2.0, 0, false};
static const struct cbr_caps caps4 = {4, 4, 4096, 4096, 2048, 64, 64, true, 2.0, 0, false};

static uint64_t seed;

static uint32_t conv_out(uint32_t in, uint32_t pad0, uint32_t pad1, uint32_t k, uint32_t s)
{
    return (in + pad0 + pad1 - k) / s + 1;
}

/* A layer as cbr_layer_create leaves it (the planner reads the geometry only). */
static cbr_layer make_layer(uint32_t c, uint32_t h, uint32_t w, uint32_t o, uint32_t k,
                            uint32_t s, uint32_t pad, uint32_t groups)
{
    cbr_layer l;
    memset(&l, 0, sizeof l);
    l.desc = (cbr_layer_desc){.in_c = c, .in_h = h, .in_w = w, .out_c = o, .kh = k, .kw = k,
                              .stride_h = s, .stride_w = s, .dilation_h = 1,
                              .dilation_w = 1, .pad_top = pad, .pad_left = pad,
                              .pad_bottom = pad, .pad_right = pad, .groups = groups,
                              .act = CBR_ACT_RELU};
    l.act_min = 0;
    l.act_max = 127;
    l.conv_oh = l.out_h = conv_out(h, pad, pad, k, s);
    l.conv_ow = l.out_w = conv_out(w, pad, pad, k, s);
    return l;
}

static struct cbr_plan *plan(const cbr_layer *l, const struct cbr_caps *k)
{
    struct cbr_plan *p = NULL;
    char err[256] = "";
    int rc = cbr_plan_make(l, k, &p, err, sizeof err);
    if (rc != 0)
        print_error("plan failed: %s\n", err);
    assert_int_equal(rc, 0);
    return p;
}

/* Every (output block, pooled pixel) is written by exactly one run that requantizes. */
static void check_coverage(const struct cbr_plan *p)
{
    size_t n = (size_t)p->n_ob * p->ph * p->pw;
    unsigned char *seen = calloc(n, 1);
    assert_non_null(seen);
    for (uint32_t i = 0; i < p->n_runs; i++) {
        const struct plan_run *r = &p->runs[i];
        if (r->acc_mode & PLAN_ACC_KEEP)
            continue;
        for (uint32_t ob = r->ob0; ob < r->ob0 + r->n_ob; ob++)
            for (uint32_t y = r->py0; y < r->py1; y++)
                for (uint32_t x = r->px0; x < r->px1; x++)
                    seen[((size_t)ob * p->ph + y) * p->pw + x]++;
    }
    for (size_t i = 0; i < n; i++)
        if (seen[i] != 1)
            fail_msg("output %zu written %u times", i, seen[i]);
    free(seen);
}

/* Every run's output fits one of the output buffer's PLAN_OUT_SLOTS slots, and three slots
 * fit the buffer (the driver gives tiles i-1, i and i+1 different slots). */
static void check_out_slots(const struct cbr_plan *p, const struct cbr_caps *k)
{
    uint32_t slot = cbr_plan_out_slot(k);
    assert_true(slot > 0 && slot % k->cols == 0);
    assert_true((uint64_t)slot * PLAN_OUT_SLOTS <= k->out_bytes);
    for (uint32_t i = 0; i < p->n_runs; i++) {
        const struct plan_run *r = &p->runs[i];
        uint64_t bytes = (uint64_t)r->n_ob * (r->py1 - r->py0) * (r->px1 - r->px0) * k->cols;
        if (bytes > slot)
            fail_msg("run %u writes %llu output bytes, more than a slot of %u", i,
                     (unsigned long long)bytes, slot);
    }
}

/* Depthwise: a run's first stored input row is a multiple of NG rows into its region, and
 * the region holds every row the run reads. */
static void check_dw_alignment(const cbr_layer *l, const struct cbr_plan *p)
{
    const cbr_layer_desc *d = &l->desc;
    for (uint32_t i = 0; i < p->n_runs; i++) {
        const struct plan_run *r = &p->runs[i];
        const struct plan_region *rg = &p->regions[r->region];
        int64_t a = (int64_t)r->cy0 * d->stride_h - d->pad_top;
        int64_t end = (int64_t)(r->cy1 - 1) * d->stride_h - d->pad_top + d->kh;
        uint32_t row = a < 0 ? 0 : (uint32_t)a;
        if (row < rg->iy0 || (row - rg->iy0) % p->ng != 0)
            fail_msg("run %u starts at row %u, region %u from row %u (NG %u)", i, row,
                     r->region, rg->iy0, p->ng);
        if (end > (int64_t)d->in_h)
            end = d->in_h;
        assert_true(end <= (int64_t)rg->iy1);
        assert_true(r->ob0 * 16 >= rg->c0 || p->ng == 1);
        /* its channels within the region's (a kept input's region has them all) */
        assert_true(r->ob0 * p->ng * 4 >= rg->c0);
        assert_true(r->ob0 * p->ng * 4 + 1 <= rg->c0 + rg->nc);
    }
}

static void test_depthwise_tiles_share_their_regions(void **state)
{
    (void)state;
    /* MobileNetV1's stride-1 depthwise shapes on the 16x16 build */
    static const uint32_t shapes[][2] = {{32, 112}, {128, 56}, {256, 28}, {512, 14}, {1024, 7}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint32_t c = shapes[i][0], hw = shapes[i][1];
        cbr_layer l = make_layer(c, hw, hw, c, 3, 1, 1, c);
        struct cbr_plan *p = plan(&l, &caps16);
        assert_true(p->depthwise);
        check_coverage(p);
        check_dw_alignment(&l, p);
        /* stored rows: the input once, plus at most a halo of 2 rows and the rounding up
         * to NG rows per region */
        uint64_t stored = 0, input = (uint64_t)(c / 16) * hw * hw * 16;
        for (uint32_t r = 0; r < p->n_regions; r++)
            stored += (uint64_t)p->regions[r].bytes * p->ng;
        uint64_t slack = (uint64_t)p->n_regions * (2 + p->ng) * hw * 16 * (c / 16);
        if (stored > input + slack)
            fail_msg("%ux%ux%u: %llu bytes stored for %llu of input over %u regions", c, hw,
                     hw, (unsigned long long)stored, (unsigned long long)input,
                     p->n_regions);
        /* row tiles share regions; full-height tiles (1024 channels on 7x7: two runs of
         * channel groups, each a third of the output buffer) have no halo to share */
        assert_true(p->n_regions < p->n_runs || p->runs[0].py1 - p->runs[0].py0 == hw);
        cbr_plan_free(p);
    }
}

/* Regions that take the whole activation buffer in turn (VGG-16 conv2_2 on the 16x16 build:
 * 128 channels of 112x112, 3.2 MB, in regions of rows of all channels) share the tallest
 * one's block pitch, so row r of every channel block is at the same place in each: the next
 * region's first rows can then go beside the rows the last tiles of the one before read. */
static void test_whole_buffer_regions_share_their_pitch(void **state)
{
    (void)state;
    cbr_layer l = make_layer(128, 112, 112, 128, 3, 1, 1, 1);
    struct cbr_plan *p = plan(&l, &caps16);
    check_coverage(p);
    assert_true(p->n_regions >= 3);
    uint32_t most = 0;
    for (uint32_t r = 0; r < p->n_regions; r++) {
        const struct plan_region *rg = &p->regions[r];
        const uint32_t rows = rg->iy1 - rg->iy0, cols = rg->ix1 - rg->ix0;
        most = rows > most ? rows : most;
        assert_true(rg->bytes > caps16.act_bytes / 2 && rg->bytes <= caps16.act_bytes);
        assert_int_equal(rg->bytes, rg->n_cb * rg->pitch);
        assert_int_equal(cols, 112);
    }
    /* the first region stores fewer rows (its top is padding), the last maybe too */
    assert_true(p->regions[0].iy1 - p->regions[0].iy0 < most);
    for (uint32_t r = 0; r < p->n_regions; r++)
        assert_int_equal(p->regions[r].pitch, most * 112 * 16);
    cbr_plan_free(p);
    /* regions in halves keep their own pitch */
    l = make_layer(64, 56, 56, 64, 3, 1, 1, 1);
    p = plan(&l, &caps16);
    for (uint32_t r = 0; r < p->n_regions; r++) {
        const struct plan_region *rg = &p->regions[r];
        assert_int_equal(rg->pitch, (rg->iy1 - rg->iy0) * (rg->ix1 - rg->ix0) * 16);
    }
    cbr_plan_free(p);
}

/* test_sim's region layer (testregions.h) under its buffers, on every array shape test_sim
 * runs: regions that take the whole buffer in turn, more than two, the last one shorter, so
 * that their shared pitch and the rows the driver writes beside the last tiles are tested on
 * the RTL. If the planner stops cutting it so, that test no longer tests it: pick another. */
static void test_sim_region_layer_takes_whole_buffer_regions(void **state)
{
    (void)state;
    static const uint32_t shapes[][2] = {{4, 4}, {8, 8}, {4, 8}, {8, 4}, {16, 16}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const uint32_t R = shapes[i][0], C = shapes[i][1];
        const struct test_caps t = test_region_caps(R, C);
        const struct cbr_caps k = {R, C, t.act, t.wgt, t.out, t.param, t.acc, true, 2.0, 0,
                                   false};
        cbr_layer l = make_layer(TEST_REGION_C, TEST_REGION_H, TEST_REGION_W, TEST_REGION_O, 3,
                                 1, 1, 1);
        l.desc.in_h = TEST_REGION_H;
        l.conv_oh = l.out_h = TEST_REGION_H;
        struct cbr_plan *p = plan(&l, &k);
        check_coverage(p);
        print_message("%ux%u: %u regions, %u runs\n", R, C, p->n_regions, p->n_runs);
        assert_true(p->n_regions >= 3);
        assert_true(p->weights_resident);
        uint32_t most = 0, least = UINT32_MAX;
        for (uint32_t r = 0; r < p->n_regions; r++) {
            const struct plan_region *rg = &p->regions[r];
            const uint32_t rows = rg->iy1 - rg->iy0;
            most = rows > most ? rows : most;
            least = rows < least ? rows : least;
            assert_true(rg->bytes > t.act / 2 && rg->bytes <= t.act);
            assert_int_equal(rg->ix1 - rg->ix0, TEST_REGION_W);
            assert_int_equal(rg->pitch, p->regions[0].pitch);
        }
        assert_true(least < most);
        cbr_plan_free(p);
    }
}

/* With the input in place (a chain keeps it: in_resident), a depthwise layer whose input fits
 * a bank takes it as one region of every channel, which the chain can keep (accel.c,
 * wants_kept); its tiles read their channel blocks of it. MobileNetV1 conv5.dw and conv3.dw
 * on the 16x16 build, which stream their input in several regions otherwise. A strided one
 * (conv6.dw, conv4.dw) in tiles of the whole plane, whose first row is the region's: row
 * tiles after the first would start on odd rows, in another bank. conv2.dw (112x112, stride
 * 2) does not fit a bank, nor its 56x56 output the accumulator: it keeps its regions. */
static void test_depthwise_kept_input_is_one_region(void **state)
{
    (void)state;
    static const uint32_t shapes[][3] = {{256, 28, 1}, {128, 56, 1}, {256, 28, 2}, {128, 56, 2},
                                         {64, 112, 2}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const uint32_t c = shapes[i][0], hw = shapes[i][1], s = shapes[i][2];
        const uint32_t oh = (hw + 2 - 3) / s + 1;
        cbr_layer l = make_layer(c, hw, hw, c, 3, s, 1, c);
        struct cbr_plan *streamed = plan(&l, &caps16);
        struct cbr_caps k = caps16;
        k.in_resident = true;
        struct cbr_plan *p = plan(&l, &k);
        assert_true(p->depthwise && streamed->depthwise);
        assert_true(streamed->n_regions > 1);
        check_coverage(p);
        check_out_slots(p, &k);
        check_dw_alignment(&l, p);
        if (hw < 112) {
            assert_int_equal(p->n_regions, 1);
            const struct plan_region *rg = &p->regions[0];
            assert_int_equal(rg->c0, 0);
            assert_int_equal(rg->nc, c);
            assert_int_equal(rg->iy0, 0);
            assert_int_equal(rg->iy1, hw);
            assert_int_equal(rg->bytes, c / 16 * ((hw + 3) / 4) * hw * 16);
            /* the same weight sets, so the packed weights serve both plans */
            assert_int_equal(p->n_wsets, streamed->n_wsets);
            assert_memory_equal(p->wsets, streamed->wsets, p->n_wsets * sizeof *p->wsets);
            for (uint32_t r = 0; r < p->n_runs && s > 1; r++) {
                assert_int_equal(p->runs[r].py0, 0);
                assert_int_equal(p->runs[r].py1, oh);
            }
            /* several tiles, so that a tile's output goes while the next computes */
            assert_true(p->n_runs > 1);
        } else {
            assert_true(p->n_regions > 1);
        }
        cbr_plan_free(p);
        cbr_plan_free(streamed);
    }
}

static void test_random_depthwise_plans_cover_and_align(void **state)
{
    (void)state;
    rng = seed;
    for (int t = 0; t < 300; t++) {
        struct cbr_caps kk_caps = t % 2 ? caps4 : caps16;
        kk_caps.in_resident = t % 3 == 0; /* a chain keeps the input: one region if it can */
        const struct cbr_caps *k = &kk_caps;
        uint32_t c = k->cols * (1 + rnd(6)) - rnd(2);
        uint32_t kk = 1 + 2 * rnd(3), s = 1 + rnd(2);
        uint32_t h = kk + rnd(40), w = kk + rnd(30);
        uint32_t pad = rnd(kk / 2 + 1);
        cbr_layer l = make_layer(c, h, w, c, kk, s, pad, c);
        struct cbr_plan *p = NULL;
        char err[256];
        if (cbr_plan_make(&l, k, &p, err, sizeof err) != 0)
            continue; /* refused with a message: tested elsewhere */
        check_coverage(p);
        check_out_slots(p, k);
        if (p->depthwise)
            check_dw_alignment(&l, p);
        cbr_plan_free(p);
    }
}

/* Weight-set loads when the driver keeps two sets (the weight buffer's halves) and a new
 * one replaces the set the run before did not use. */
static uint32_t wset_loads(const struct cbr_plan *p)
{
    int64_t slot[2] = {-1, -1};
    uint32_t loads = 0, last = UINT32_MAX;
    for (uint32_t i = 0; i < p->n_runs; i++) {
        uint32_t w = p->runs[i].wset;
        if (slot[0] != w && slot[1] != w) {
            int victim = slot[0] == (int64_t)last ? 1 : 0;
            slot[victim] = w;
            loads++;
        }
        last = w;
    }
    return loads;
}

static void test_weight_sets_are_reused_in_snake_order(void **state)
{
    (void)state;
    /* VGG-16 conv3_2: 590 KB of weights, 802 KB of input: neither fits; the input goes in
     * two regions and the weights pass once per region */
    cbr_layer l = make_layer(256, 56, 56, 256, 3, 1, 1, 1);
    struct cbr_plan *p = plan(&l, &caps16);
    check_coverage(p);
    assert_false(p->weights_resident);
    assert_true(p->n_wsets >= 3);
    assert_true(p->n_regions >= 2);
    /* the short set first, so that the two sets a pass ends with are full */
    for (uint32_t w = 1; w < p->n_wsets; w++)
        assert_true(p->wsets[0].n_ob <= p->wsets[w].n_ob);
    uint32_t loads = wset_loads(p);
    assert_int_equal(loads, p->n_wsets + (p->n_regions - 1) * (p->n_wsets - 2));
    cbr_plan_free(p);
}

static void test_streamed_weights_go_one_block_per_tile(void **state)
{
    (void)state;
    /* ResNet-18 layer3 (256 -> 256 on 14x14: 590 KB of weights, not resident) against
     * layer1 (64 -> 64 on 56x56, resident): streamed weights go one output block per
     * run, so that the next run's weights arrive while the runs before it compute */
    cbr_layer l3 = make_layer(256, 14, 14, 256, 3, 1, 1, 1);
    struct cbr_plan *p = plan(&l3, &caps16);
    check_coverage(p);
    assert_false(p->weights_resident);
    for (uint32_t i = 0; i < p->n_runs; i++)
        assert_int_equal(p->runs[i].n_ob, 1);
    cbr_plan_free(p);
    /* VGG-16 conv2_1 (64 -> 128 on 112x112): resident, several blocks per run */
    cbr_layer v = make_layer(64, 112, 112, 128, 3, 1, 1, 1);
    p = plan(&v, &caps16);
    check_coverage(p);
    assert_true(p->weights_resident);
    uint32_t most = 0;
    for (uint32_t i = 0; i < p->n_runs; i++)
        most = p->runs[i].n_ob > most ? p->runs[i].n_ob : most;
    assert_true(most > 1);
    cbr_plan_free(p);
}

/* Resident weights and an input in regions of half a small room (a chain's producer beside a
 * kept tensor: MobileNetV1 conv3.pw, 128 -> 128 1x1 on 56x56, in 28 KB): the quarter of the
 * blocks would make tiles of 1.8 k cycles, short against what the link idles around each;
 * tiles take twice as many, in equal groups, until they last 3072 beats. On the whole
 * buffer (one region) the layer keeps its own count. */
static void test_short_tiles_take_more_blocks(void **state)
{
    (void)state;
    cbr_layer l = make_layer(128, 56, 56, 128, 1, 1, 0, 1);
    struct cbr_caps small = caps16;
    small.act_bytes = 28672;
    struct cbr_plan *p = plan(&l, &small);
    check_coverage(p);
    assert_true(p->weights_resident && p->n_regions > 1);
    for (uint32_t i = 0; i < p->n_runs; i++) {
        const struct plan_run *r = &p->runs[i];
        const uint64_t beats = (uint64_t)(r->py1 - r->py0) * (r->px1 - r->px0) * p->n_cb;
        assert_int_equal(r->n_ob, 4);
        assert_true(beats * r->n_ob >= 3072 || r->py1 == 56);
    }
    print_message("conv3.pw in 28 KB: %u regions, %u runs of %u blocks\n", p->n_regions,
                  p->n_runs, p->runs[0].n_ob);
    cbr_plan_free(p);
}

/* The first runs of a plan, as (row tile, output block) pairs of its first region and wset:
 * how many runs go before the first one of the second row tile, and how many distinct
 * output blocks they cover. */
static void first_rows(const struct cbr_plan *p, uint32_t *before, uint32_t *blocks)
{
    uint32_t y0 = p->runs[0].py0, i = 0;
    unsigned char seen[256] = {0};
    *blocks = 0;
    for (; i < p->n_runs && p->runs[i].py0 == y0; i++)
        if (p->runs[i].ob0 < 256 && !seen[p->runs[i].ob0]++)
            ++*blocks;
    *before = i;
}

static void test_strided_layers_start_on_a_small_rectangle(void **state)
{
    (void)state;
    /* ResNet-18 layer2.0.conv1 (64 -> 128, 3x3 stride 2, 56x56): its input is the larger,
     * so row tiles go outer; but its first row tile does not take every output block before
     * the second row tile starts (the link would carry all the weights and a row tile's
     * input for one row tile's compute) */
    cbr_layer l = make_layer(64, 56, 56, 128, 3, 2, 1, 1);
    struct cbr_plan *p = plan(&l, &caps16);
    check_coverage(p);
    check_out_slots(p, &caps16);
    assert_true(p->weights_resident && p->n_regions == 1 && p->n_wsets == 1);
    uint32_t before, blocks, all = 0;
    for (uint32_t i = 0; i < p->n_runs; i++)
        all = p->runs[i].ob0 + p->runs[i].n_ob > all ? p->runs[i].ob0 + p->runs[i].n_ob : all;
    first_rows(p, &before, &blocks);
    assert_true(before >= 1 && blocks < all / p->runs[0].n_ob);
    cbr_plan_free(p);
    /* layer1.0.conv1 (64 -> 64, stride 1): rows outer, the first row tile takes every
     * block first */
    cbr_layer l1 = make_layer(64, 56, 56, 64, 3, 1, 1, 1);
    p = plan(&l1, &caps16);
    check_coverage(p);
    check_out_slots(p, &caps16);
    first_rows(p, &before, &blocks);
    assert_int_equal(blocks * p->runs[0].n_ob, p->n_ob);
    cbr_plan_free(p);
    /* layer3.0.conv1 (128 -> 256, stride 2, 28x28; 295 KB of resident weights, 147 k link
     * cycles at 2 bytes a cycle for 226 k of compute): the model of the first tiles takes
     * two output blocks a run, not the four a quarter of the weights would allow, and
     * starts on a rectangle of both; over a link ten times faster, four, in the plain
     * order (its input is the smaller, so blocks outer: the first block group runs down
     * every row tile first) */
    for (int fast = 0; fast <= 1; fast++) {
        struct cbr_caps k = caps16;
        k.link_bpc = fast ? 20.0 : 2.0;
        cbr_layer l3 = make_layer(128, 28, 28, 256, 3, 2, 1, 1);
        p = plan(&l3, &k);
        check_coverage(p);
        assert_true(p->weights_resident && p->n_regions == 1 && p->n_wsets == 1);
        uint32_t most = 0;
        for (uint32_t i = 0; i < p->n_runs; i++)
            most = p->runs[i].n_ob > most ? p->runs[i].n_ob : most;
        assert_int_equal(most, fast ? 4 : 2);
        first_rows(p, &before, &blocks);
        if (fast)
            assert_int_equal(before, 1);
        else
            assert_true(before >= 2 && blocks >= 2 && blocks * most < 16);
        cbr_plan_free(p);
    }
}

/* A link with a latency: every tile costs the driver round trips (RECT_TILE_ROUND_TRIPS), so
 * the planner takes fewer, larger tiles: where the model has the choice (one region and one
 * wset: MobileNetV1 conv5.pw, 256 -> 256 1x1 on 28x28, and ResNet-18 layer3.0.conv1 at 2
 * bytes a cycle), and through taller row tiles and more blocks a tile where the weights
 * stream (ResNet-18 layer3.1.conv1, 256 -> 256 3x3 on 14x14: one block a tile without a
 * latency). Without latency, the same plans as before. */
static void test_latency_takes_fewer_tiles(void **state)
{
    (void)state;
    const cbr_layer ls[2] = {make_layer(256, 28, 28, 256, 1, 1, 0, 1),
                             make_layer(128, 28, 28, 256, 3, 2, 1, 1)};
    for (int i = 0; i < 2; i++) {
        uint32_t runs[3], rows[3];
        const double lat[3] = {0, 1000, 4000}; /* cycles each way: 0, 5 and 20 us at 200 MHz */
        for (int j = 0; j < 3; j++) {
            struct cbr_caps k = caps16;
            k.link_latency = lat[j];
            struct cbr_plan *p = plan(&ls[i], &k);
            check_coverage(p);
            check_out_slots(p, &k);
            assert_true(p->weights_resident && p->n_regions == 1 && p->n_wsets == 1);
            runs[j] = p->n_runs;
            rows[j] = p->runs[0].py1 - p->runs[0].py0;
            cbr_plan_free(p);
        }
        print_message("layer %d: %u, %u, %u runs of %u, %u, %u rows at latencies 0, 1000, "
                      "4000\n", i, runs[0], runs[1], runs[2], rows[0], rows[1], rows[2]);
        assert_true(runs[1] < runs[0] && runs[2] <= runs[1]);
        /* One region and one wset: the model of the first tiles weighs the short height
         * too. conv5.pw keeps 4-row tiles (all 16 blocks a tile) at 1000 cycles, where the
         * latency's height rule alone made 28-row tiles (57.8% on sim:16x16 instead of
         * 67.1%), and takes the tall tiles at 4000. */
        if (i == 0)
            assert_true(rows[1] == rows[0] && rows[2] > rows[1]);
    }
    cbr_layer l3 = make_layer(256, 14, 14, 256, 3, 1, 1, 1);
    uint32_t runs[2], most[2], rows[2];
    for (int j = 0; j < 2; j++) {
        struct cbr_caps k = caps16;
        k.link_latency = j ? 1000 : 0;
        struct cbr_plan *p = plan(&l3, &k);
        check_coverage(p);
        check_out_slots(p, &k);
        assert_false(p->weights_resident);
        runs[j] = p->n_runs;
        most[j] = rows[j] = 0;
        for (uint32_t i = 0; i < p->n_runs; i++) {
            most[j] = p->runs[i].n_ob > most[j] ? p->runs[i].n_ob : most[j];
            rows[j] = p->runs[i].py1 - p->runs[i].py0 > rows[j] ? p->runs[i].py1 - p->runs[i].py0
                                                                : rows[j];
        }
        cbr_plan_free(p);
    }
    print_message("layer3.1.conv1: %u runs of up to %u blocks and %u rows; at latency 1000, "
                  "%u of %u and %u\n", runs[0], most[0], rows[0], runs[1], most[1], rows[1]);
    assert_int_equal(most[0], 1);
    assert_true(most[1] > 1 && rows[1] > rows[0] && runs[1] < runs[0]);
}

/* The core keeps IN_H in 16 bits: a region of a tall input that fits the activation buffer
 * whole must still stop at PLAN_MAX_IN_ROWS rows (it wrapped to 0 on the RTL: every tap read
 * as padding; found by test_sim --limits). */
static void test_regions_stay_within_in_h(void **state)
{
    (void)state;
    static const struct cbr_caps caps = {4, 4, 524288, 524288, 131072, 2048, 1024, true, 2.0, 0, false};
    cbr_layer l = make_layer(1, 70000, 1, 3, 3, 1, 1, 1);
    struct cbr_plan *p = plan(&l, &caps);
    uint32_t rows = 0;
    for (uint32_t r = 0; r < p->n_regions; r++) {
        assert_true(p->regions[r].iy1 - p->regions[r].iy0 <= PLAN_MAX_IN_ROWS);
        rows += p->regions[r].iy1 - p->regions[r].iy0;
    }
    assert_true(p->n_regions >= 2);
    assert_true(rows >= 70000); /* every input row is stored (halos twice) */
    cbr_plan_free(p);
    /* depthwise: its regions are shared by row tiles too (a buffer where half a bank holds
     * more than 65535 rows) */
    static const struct cbr_caps big = {4, 4, 1u << 21, 524288, 131072, 2048, 1024, true, 2.0, 0, false};
    l = make_layer(4, 140000, 1, 4, 3, 1, 1, 4);
    assert_true(cbr_plan_dw_eligible(&l, &big));
    p = plan(&l, &big);
    assert_true(p->depthwise);
    for (uint32_t r = 0; r < p->n_regions; r++)
        assert_true(p->regions[r].iy1 - p->regions[r].iy0 <= PLAN_MAX_IN_ROWS);
    cbr_plan_free(p);
}

/* IN_C and OUT_C have 16 bits too: a 1x1 layer of 65536 input channels (the reduction
 * limit) must run as a chain of smaller chunks (with IN_C = 65536 the core counted 0 MACs;
 * found by test_sim --limits), and no run may have 65536 output channels. */
static void test_runs_stay_within_in_c(void **state)
{
    (void)state;
    static const struct cbr_caps big = {4, 8, 1u << 22, 1u << 22, 1u << 20, 65536, 1024, true,
                                        2.0, 0, false};
    cbr_layer l = make_layer(65536, 2, 2, 2, 1, 1, 0, 1);
    struct cbr_plan *p = plan(&l, &big);
    for (uint32_t r = 0; r < p->n_regions; r++)
        assert_true(p->regions[r].nc <= PLAN_MAX_CHANNELS);
    assert_true(p->chain);
    cbr_plan_free(p);
    l = make_layer(1, 1, 1, 65536, 1, 1, 0, 1);
    p = plan(&l, &big);
    for (uint32_t r = 0; r < p->n_runs; r++)
        assert_true((uint64_t)p->runs[r].n_ob * big.cols <= PLAN_MAX_CHANNELS);
    cbr_plan_free(p);
}

static void test_random_dense_plans_cover_every_output_once(void **state)
{
    (void)state;
    rng = seed ^ 0x5A5A;
    for (int t = 0; t < 300; t++) {
        /* a third over a link with a latency (up to 5000 cycles each way): taller tiles,
         * and the model of the first tiles weighing two heights */
        struct cbr_caps kl = t % 2 ? caps4 : caps16;
        if (t % 3 == 2)
            kl.link_latency = rnd(5000);
        const struct cbr_caps *k = &kl;
        uint32_t kk = 1 + 2 * rnd(3), s = 1 + rnd(2);
        uint32_t c = 1 + rnd(t % 2 ? 40 : 300), o = 1 + rnd(300);
        uint32_t h = kk + rnd(60), w = kk + rnd(60);
        cbr_layer l = make_layer(c, h, w, o, kk, s, rnd(kk / 2 + 1), 1);
        struct cbr_plan *p = NULL;
        char err[256];
        if (cbr_plan_make(&l, k, &p, err, sizeof err) != 0)
            continue;
        check_coverage(p);
        check_out_slots(p, k);
        cbr_plan_free(p);
    }
}

int main(void)
{
    seed = test_seed();
    printf("test_plan: seed %llu (replay with CBR_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise_tiles_share_their_regions),
        cmocka_unit_test(test_whole_buffer_regions_share_their_pitch),
        cmocka_unit_test(test_sim_region_layer_takes_whole_buffer_regions),
        cmocka_unit_test(test_depthwise_kept_input_is_one_region),
        cmocka_unit_test(test_random_depthwise_plans_cover_and_align),
        cmocka_unit_test(test_weight_sets_are_reused_in_snake_order),
        cmocka_unit_test(test_streamed_weights_go_one_block_per_tile),
        cmocka_unit_test(test_short_tiles_take_more_blocks),
        cmocka_unit_test(test_strided_layers_start_on_a_small_rectangle),
        cmocka_unit_test(test_latency_takes_fewer_tiles),
        cmocka_unit_test(test_random_dense_plans_cover_every_output_once),
        cmocka_unit_test(test_regions_stay_within_in_h),
        cmocka_unit_test(test_runs_stay_within_in_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
