/*
 * test_sim.c - the RTL, as a simulated board driven by libcbr, against the golden model.
 *
 * For each array shape given, opens "sim:RxC" (the Verilator model of rtl/cbr_top through the
 * real sim transport, packet protocol and board driver) and runs random layers covering every
 * feature and edge of docs/numerics.md; each output must equal the cpu device's (the golden
 * model) byte for byte, and the device's MAC counter must equal the layer's MACs. Every
 * other layer is planned for tiny buffers (CBR_PLAN_CAPS, docs/tiling.md), so that small
 * layers need many tiles along every dimension, input-channel chains and pooling across tile
 * borders on the real RTL; one more is planned so into regions that take the whole activation
 * buffer in turn (testregions.h). No layer may be refused.
 *
 * usage: test_sim [--layers N] [--limits | --stack | --chain] [--seed S] SHAPE...  (SHAPE like
 *                                     16x16, or a named board: ice, the tiny core's sim:ice)
 * --limits runs the fixed shapes of `limits` (H and W of 1024, 2048 channels, the API's
 * limits) instead of random layers, on the device's own buffers. --stack runs random layers
 * of small images in batches of 2..40 that image stacking can run (docs/tiling.md), stacked
 * whatever rows it adds ($CBR_STACK_WASTE), and fails unless most of them did stack.
 * --chain runs N random chains of layers as networks (intermediates kept on the device where
 * they fit, then on the host), each against the golden model.
 * Prints its seed; ends with "N passed, M failed"; exits non-zero on any mismatch.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "testregions.h"
#include "testrng.h"

static int32_t pick(const int32_t *v, size_t n)
{
    return v[rnd((uint32_t)n)];
}

struct layer {
    cbr_layer_desc d;
    int8_t *w;
    int32_t *b, *m, *s, *mn, *sn;
    uint32_t n;
    char what[256];
};

static void free_layer(struct layer *l)
{
    free(l->w), free(l->b), free(l->m), free(l->s), free(l->mn), free(l->sn);
}

static void finish_layer(struct layer *l);

/* An input the kernel's dilated span fits (with the padding), plus 0..extra-1 rows and
 * columns; returns the span's height. */
static uint32_t fit_input(cbr_layer_desc *d, uint32_t extra)
{
    uint32_t eh = d->dilation_h * (d->kh - 1) + 1, ew = d->dilation_w * (d->kw - 1) + 1;
    d->in_h = (eh > d->pad_top + d->pad_bottom ? eh - d->pad_top - d->pad_bottom : 1) + rnd(extra);
    d->in_w = (ew > d->pad_left + d->pad_right ? ew - d->pad_left - d->pad_right : 1) + rnd(extra);
    return eh;
}

/* A random layer. Every feature and edge appears: kernels 1..11 (non-square too), strides
 * 1..4, dilation, asymmetric padding, groups and depthwise, odd channel counts, saturation
 * at both ends, extreme multipliers and shifts, zero points at -128 and 127, every activation
 * and pooling mode. Sizes stay small so a layer fits the smallest array's buffers. */
static void make_layer(struct layer *l)
{
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->kh = 1 + rnd(11);
    d->kw = rnd(3) ? d->kh : 1 + rnd(11);
    if (d->kh * d->kw > 25 && rnd(2)) { /* keep most large kernels cheap */
        d->kh = 1 + rnd(5);
        d->kw = 1 + rnd(5);
    }
    switch (rnd(5)) {
    case 0: d->groups = 1 + rnd(4); d->in_c = d->groups; d->out_c = d->groups * (1 + rnd(2));
        break; /* depthwise (multiplier 1 or 2) */
    case 1: d->groups = 2 + rnd(2); d->in_c = d->groups * (1 + rnd(5));
        d->out_c = d->groups * (1 + rnd(5)); break;
    default: d->groups = 1; d->in_c = 1 + rnd(20); d->out_c = 1 + rnd(20); break;
    }
    d->stride_h = 1 + rnd(4);
    d->stride_w = rnd(2) ? d->stride_h : 1 + rnd(4);
    d->dilation_h = rnd(4) ? 1 : 1 + rnd(3);
    d->dilation_w = rnd(4) ? 1 : 1 + rnd(3);
    d->pad_top = rnd(4);
    d->pad_left = rnd(4);
    d->pad_bottom = rnd(4);
    d->pad_right = rnd(4);
    fit_input(d, 10);
    switch (rnd(6)) {
    case 0: d->pool.kind = CBR_POOL_GAVG; break;
    case 1: case 2:
        d->pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d->pool.kh = 1 + rnd(3);
        d->pool.kw = rnd(2) ? d->pool.kh : 1 + rnd(3);
        d->pool.stride_h = 1 + rnd(3);
        d->pool.stride_w = 1 + rnd(3);
        d->pool.pad_top = rnd(d->pool.kh);
        d->pool.pad_left = rnd(d->pool.kw);
        d->pool.pad_bottom = rnd(d->pool.kh);
        d->pool.pad_right = rnd(d->pool.kw);
        d->pool.ceil_mode = rnd(2);
        break;
    default: break;
    }
    l->n = 1 + (rnd(4) == 0);
    finish_layer(l);
}

/* A random layer of small images in a batch of 2..40, most of which image stacking can run
 * (docs/tiling.md, "Image stacking"): every padding, stride and dilation; pooling, now and
 * then with padding along H or a partial window (ceil mode), which must not stack. */
static void make_stack_layer(struct layer *l)
{
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->kh = 1 + rnd(4);
    d->kw = rnd(2) ? d->kh : 1 + rnd(4);
    if (rnd(4) == 0) {
        d->groups = 1 + rnd(8); d->in_c = d->groups; d->out_c = d->groups;
    } else {
        d->groups = 1; d->in_c = 1 + rnd(40); d->out_c = 1 + rnd(24);
    }
    d->stride_h = 1 + rnd(3);
    d->stride_w = 1 + rnd(3);
    d->dilation_h = rnd(4) ? 1 : 2;
    d->dilation_w = rnd(4) ? 1 : 2;
    d->pad_top = rnd(3);
    d->pad_bottom = rnd(3);
    d->pad_left = rnd(3);
    d->pad_right = rnd(3);
    uint32_t eh = fit_input(d, 8);
    uint32_t oh = (d->in_h + d->pad_top + d->pad_bottom - eh) / d->stride_h + 1;
    if (rnd(2)) {
        d->pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d->pool.kh = 1 + rnd(oh < 3 ? oh : 3);
        d->pool.kw = 1 + rnd(3);
        d->pool.stride_h = 1 + rnd(3);
        d->pool.stride_w = 1 + rnd(3);
        d->pool.pad_left = rnd(d->pool.kw);
        d->pool.pad_right = rnd(d->pool.kw);
        d->pool.ceil_mode = rnd(4) == 0;
        if (d->pool.kh > 1 && rnd(4) == 0) { /* these must not stack */
            d->pool.pad_top = rnd(d->pool.kh);
            d->pool.pad_bottom = d->pool.pad_top ? rnd(d->pool.kh) : 1 + rnd(d->pool.kh - 1);
        }
    }
    l->n = 2 + rnd(39);
    finish_layer(l);
}

/* A fixed layer's start: in_c -> 5 channels on hw x hw images, a k x k kernel with the same
 * padding on every side, stride and dilation 1; the caller sets the pooling and the batch. */
static cbr_layer_desc *fixed_layer(struct layer *l, uint32_t in_c, uint32_t hw, uint32_t k,
                                   uint32_t pad)
{
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->in_c = in_c, d->in_h = d->in_w = hw, d->out_c = 5, d->kh = d->kw = k, d->groups = 1;
    d->stride_h = d->stride_w = d->dilation_h = d->dilation_w = 1;
    d->pad_top = d->pad_left = d->pad_bottom = d->pad_right = pad;
    return d;
}

/* Draws that make_stack_layer seldom makes, which must not stack: their pooling windows
 * would reach the rows between images. 6x6 images, 3x3 padding 1, average pooling: 2x2 s2
 * with padding above only (the same output height as without), and 3x3 s2 in ceil mode
 * (a last, partial window). */
#define N_STACK_FIXED 2
static void stack_fixed_layer(struct layer *l, int i)
{
    cbr_layer_desc *d = fixed_layer(l, 3, 6, 3, 1);
    d->pool.kind = CBR_POOL_AVG;
    d->pool.kh = d->pool.kw = 2 + i;
    d->pool.stride_h = d->pool.stride_w = 2;
    d->pool.pad_top = i == 0;
    d->pool.ceil_mode = i == 1;
    l->n = 7;
    finish_layer(l);
}

/* Layers whose drain (requantization and pooling, one cycle per window position) lasts many
 * times their beats, in batches of one tile per image (pooling padded along H does not
 * stack): a 1x1 conv on 32x32 images, then 3x3 max or 5x5 average pooling at stride 1. On a
 * core that takes the next tile while one drains (CBR_FEAT_DONES), tile k+1 is taken long
 * before tile k's outputs are written, so a driver that read them once RUNS moved on (and
 * not DONES) would read them half written. */
#define N_DRAIN_FIXED 2
static void drain_fixed_layer(struct layer *l, int i)
{
    cbr_layer_desc *d = fixed_layer(l, 3, 32, 1, 0);
    d->pool.kind = i == 0 ? CBR_POOL_MAX : CBR_POOL_AVG;
    d->pool.kh = d->pool.kw = 3 + 2 * i;
    d->pool.stride_h = d->pool.stride_w = 1;
    d->pool.pad_top = d->pool.pad_left = d->pool.pad_bottom = d->pool.pad_right = 1 + i;
    l->n = 4;
    finish_layer(l);
}

/* The layer of testregions.h, planned for its buffers (the caller sets them): regions that
 * take the whole activation buffer in turn, so that the driver writes the next region's
 * first rows while the last tiles of the one before run on the RTL (docs/tiling.md,
 * "Regions"). */
static void region_fixed_layer(struct layer *l)
{
    cbr_layer_desc *d = fixed_layer(l, TEST_REGION_C, TEST_REGION_H, 3, 1);
    d->in_w = TEST_REGION_W;
    d->out_c = TEST_REGION_O;
    l->n = 1;
    finish_layer(l);
    /* A reduction of 2304 products: shifts of -13 keep most outputs off the rails, so that
     * an input block read from the wrong place shows */
    d->act = CBR_ACT_NONE;
    d->has_clamp = false;
    d->neg_multiplier = d->neg_shift = NULL;
    for (uint32_t o = 0; o < d->out_c; o++) {
        l->m[o] = (int32_t)((1u << 30) + rnd(1u << 30));
        l->s[o] = -13;
    }
    snprintf(l->what, sizeof l->what, "n1 %ux%ux%u -> %u k3x3 p1 zp%d,%d none, shift -13 "
             "[whole-buffer regions]", d->in_c, d->in_h, d->in_w, d->out_c, d->input_zp,
             d->output_zp);
}

/* Zero points, activation, weights and requantization of a layer whose shape is set: edge
 * values often (saturation at both ends, extreme multipliers and shifts). */
static void finish_layer(struct layer *l)
{
    cbr_layer_desc *d = &l->d;
    static const int32_t zps[] = {-128, 127, 0, -1, 5, -77, 100};
    d->input_zp = rnd(2) ? pick(zps, 7) : (int32_t)rnd(256) - 128;
    d->output_zp = rnd(2) ? pick(zps, 7) : (int32_t)rnd(256) - 128;
    d->act = (cbr_act)rnd(4);
    if (d->act == CBR_ACT_RELU6 || rnd(5) == 0) {
        d->has_clamp = true;
        int32_t lo = (int32_t)rnd(256) - 128, hi = (int32_t)rnd(256) - 128;
        d->clamp_min = lo < hi ? lo : hi;
        d->clamp_max = lo < hi ? hi : lo;
        if (d->act == CBR_ACT_RELU || d->act == CBR_ACT_RELU6) { /* keep the range non-empty */
            if (d->clamp_max < d->output_zp)
                d->clamp_max = d->output_zp;
        }
    }
    size_t nw = (size_t)d->out_c * (d->in_c / d->groups) * d->kh * d->kw;
    l->w = malloc(nw);
    l->b = malloc(d->out_c * 4);
    l->m = malloc(d->out_c * 4);
    l->s = malloc(d->out_c * 4);
    l->mn = malloc(d->out_c * 4);
    l->sn = malloc(d->out_c * 4);
    bool extreme = rnd(4) == 0;
    for (size_t i = 0; i < nw; i++)
        l->w[i] = extreme && rnd(2) ? (rnd(2) ? 127 : -127) : (int8_t)((int)rnd(255) - 127);
    /* Shifts that keep most outputs off the rails (else a layer shows little more than its
     * saturation: a quarter of the draws did, with under 1% of outputs inside): the
     * accumulator spreads about sqrt(reduction) * 73 * 100 from the products and 58 k from
     * the bias, and M0 * 2^(shift - 31) should bring that to about 60. A quarter of the
     * layers keep shifts of -2..-15, which saturate most outputs (the rails are tested
     * too). */
    const double red = (double)(d->in_c / d->groups) * d->kh * d->kw;
    const int32_t fit = (int32_t)lround(log2(80.0 / sqrt(red * 7300.0 * 7300.0 + 58000.0 * 58000.0)));
    const bool rails = rnd(4) == 0;
    static const int32_t m_edge[] = {0, 1 << 30, INT32_MAX, (1 << 30) + 1, 1518500250};
    static const int32_t b_edge[] = {INT32_MAX, INT32_MIN, INT32_MAX - 1000, -2000000000, 0};
    for (uint32_t o = 0; o < d->out_c; o++) {
        l->b[o] = extreme && rnd(3) == 0 ? pick(b_edge, 5) : (int32_t)rnd(200001) - 100000;
        l->m[o] = extreme && rnd(2) ? pick(m_edge, 5) : (int32_t)((1u << 30) + rnd(1u << 30));
        l->s[o] = extreme && rnd(2) ? (int32_t)rnd(62) - 31
                  : rails ? -(int32_t)(2 + rnd(14)) : fit - 1 + (int32_t)rnd(3);
        l->mn[o] = extreme && rnd(2) ? pick(m_edge, 5) : (int32_t)((1u << 30) + rnd(1u << 30));
        l->sn[o] = extreme && rnd(2) ? (int32_t)rnd(62) - 31
                   : rails ? -(int32_t)(2 + rnd(16)) : fit - 2 + (int32_t)rnd(5);
    }
    d->weights = l->w;
    d->bias = l->b;
    d->multiplier = l->m;
    d->shift = l->s;
    if (d->act == CBR_ACT_LEAKY) {
        d->neg_multiplier = l->mn;
        d->neg_shift = l->sn;
    }
    static const char *const acts[] = {"none", "relu", "relu6", "leaky"};
    static const char *const pools[] = {"-", "max", "avg", "gavg"};
    snprintf(l->what, sizeof l->what,
             "n%u %ux%ux%u -> %u k%ux%u s%u,%u d%u,%u p%u,%u,%u,%u g%u zp%d,%d %s%s pool %s "
             "%ux%u s%u,%u p%u,%u,%u,%u%s%s",
             l->n, d->in_c, d->in_h, d->in_w, d->out_c, d->kh, d->kw, d->stride_h, d->stride_w,
             d->dilation_h, d->dilation_w, d->pad_top, d->pad_left, d->pad_bottom, d->pad_right,
             d->groups, d->input_zp, d->output_zp, acts[d->act], d->has_clamp ? "+clamp" : "",
             pools[d->pool.kind], d->pool.kh, d->pool.kw, d->pool.stride_h, d->pool.stride_w,
             d->pool.pad_top, d->pool.pad_left, d->pool.pad_bottom, d->pool.pad_right,
             d->pool.ceil_mode ? " ceil" : "", extreme ? " extreme" : "");
}

/* Layers at and beyond what docs/tiling.md promises (H and W of 1024, 2048 channels) and at
 * the API's limits (docs/numerics.md: a reduction of 65536, dimensions of 65536): each must
 * run and equal the golden model on the device's own buffers. Shapes are fixed, the rest
 * (zero points, activation, weights, requantization, input) is drawn from the seed. */
static const struct limit {
    uint32_t c, h, w, o, kh, kw, stride, pad, groups;
    cbr_pool_kind pool;
    const char *why;
} limits[] = {
    {3, 1024, 1024, 4, 3, 3, 1, 1, 1, CBR_POOL_MAX, "H and W 1024, 3x3 + max pool 3 s2"},
    {3, 1024, 1024, 8, 7, 7, 2, 3, 1, CBR_POOL_NONE, "H and W 1024, 7x7 s2"},
    {2048, 6, 6, 8, 3, 3, 1, 1, 1, CBR_POOL_NONE, "2048 input channels"},
    {8, 8, 8, 2048, 1, 1, 1, 0, 1, CBR_POOL_AVG, "2048 output channels + avg pool 3 s2"},
    {2048, 8, 8, 2048, 3, 3, 2, 1, 2048, CBR_POOL_NONE, "2048 channels depthwise s2"},
    {65536, 2, 2, 2, 1, 1, 1, 0, 1, CBR_POOL_NONE, "reduction 65536 (the limit)"},
    {1, 2, 2, 65536, 1, 1, 1, 0, 1, CBR_POOL_GAVG, "65536 output channels"},
    {2, 1, 65536, 3, 1, 3, 1, 1, 1, CBR_POOL_NONE, "W 65536"},
    {2, 65536, 1, 3, 3, 1, 1, 1, 1, CBR_POOL_NONE, "H 65536"},
};
#define N_LIMITS (int)(sizeof limits / sizeof limits[0])

static void limit_layer(struct layer *l, int i)
{
    const struct limit *t = &limits[i];
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->in_c = t->c, d->in_h = t->h, d->in_w = t->w, d->out_c = t->o;
    d->kh = t->kh, d->kw = t->kw, d->groups = t->groups;
    d->stride_h = d->stride_w = t->stride;
    d->dilation_h = d->dilation_w = 1;
    /* padding on the kernel's long sides only (a 1-wide kernel pads nothing across) */
    d->pad_top = d->pad_bottom = t->kh > 1 ? t->pad : 0;
    d->pad_left = d->pad_right = t->kw > 1 ? t->pad : 0;
    d->pool.kind = t->pool;
    if (t->pool == CBR_POOL_MAX || t->pool == CBR_POOL_AVG) {
        d->pool.kh = d->pool.kw = 3;
        d->pool.stride_h = d->pool.stride_w = 2;
        d->pool.pad_top = d->pool.pad_left = d->pool.pad_bottom = d->pool.pad_right = 1;
    }
    l->n = 1;
    finish_layer(l);
    snprintf(l->what + strlen(l->what), sizeof l->what - strlen(l->what), " [%s]", t->why);
}

enum mode { RANDOM, LIMITS, STACK, CHAIN };

/* Layer `i` of a chain, whose input is the tensor prev describes (c x h x w, zero point zp):
 * dense (1x1 to 5x5, stride 1 or 2, now and then pooled) or depthwise 3x3, so that the
 * device keeps many of the intermediates (docs/tiling.md, "Networks") and some it cannot;
 * with dw_s2, depthwise 3x3 with stride 2 (as MobileNetV1's conv4.dw and conv6.dw). */
static void make_chain_layer(struct layer *l, uint32_t c, uint32_t h, uint32_t w, int32_t zp,
                             bool dw_s2)
{
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->in_c = c, d->in_h = h, d->in_w = w;
    d->dilation_h = d->dilation_w = 1;
    if (dw_s2 || rnd(3) == 0) {
        d->groups = d->in_c, d->out_c = d->in_c, d->kh = d->kw = 3;
    } else {
        d->groups = 1, d->out_c = 1 + rnd(40);
        d->kh = 1 + rnd(5), d->kw = rnd(4) ? d->kh : 1 + rnd(5);
    }
    d->stride_h = d->stride_w = dw_s2 || (h > 8 && rnd(4) == 0) ? 2 : 1;
    d->pad_top = d->pad_bottom = d->kh / 2;
    d->pad_left = d->pad_right = d->kw / 2;
    uint32_t oh = (h + 2 * (d->kh / 2) - d->kh) / d->stride_h + 1;
    uint32_t ow = (w + 2 * (d->kw / 2) - d->kw) / d->stride_w + 1;
    if (oh >= 4 && ow >= 4 && rnd(6) == 0) {
        d->pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d->pool.kh = d->pool.kw = 2;
        d->pool.stride_h = d->pool.stride_w = 2;
    }
    finish_layer(l);
    d->input_zp = zp;
}

/* Random chains of 2..6 layers run as a network on the device (intermediates kept where
 * they fit) and on the golden model, and once more with every intermediate on the host:
 * both device runs must equal the golden one byte for byte. Every third chain is planned for
 * tiny buffers (tiles narrower than the plane, several regions). Fails unless the device
 * kept a good share of the intermediates, or if keeping them sent the device more bytes. */
static int run_chains(cbr_device *sim, cbr_device *cpu, const char *uri, int chains,
                      const char *caps, int *passed)
{
    int failed = 0, done = 0, kept = 0, bounds = 0, ahead = 0, dw_kept = 0;
    for (int i = 0; i < chains; i++) {
        enum { MAXL = 6 };
        struct layer l[MAXL];
        cbr_layer *ls[MAXL] = {0}, *lc[MAXL] = {0};
        const uint32_t k = 2 + rnd(MAXL - 1), n = 1 + (rnd(3) == 0);
        const bool tiny = i % 3 == 2;
        /* every sixth chain (on the large buffers): a strided depthwise layer second, whose
         * input the device can keep (plan.c, dw_whole: tiles of the whole plane) */
        const bool dw_s2 = i % 6 == 0;
        uint32_t c = 1 + rnd(40), h = (dw_s2 ? 9 : 4) + rnd(28), w = 4 + rnd(28), made = 0;
        int32_t zp = (int32_t)rnd(256) - 128;
        cbr_layout layout = rnd(4) == 0 ? CBR_LAYOUT_NHWC : CBR_LAYOUT_NCHW;
        char what[64];
        snprintf(what, sizeof what, "chain %d (%u layers, n%u%s%s)", i, k, n,
                 tiny ? ", tiny buffers" : "", layout == CBR_LAYOUT_NHWC ? ", NHWC" : "");
        if (tiny)
            setenv("CBR_PLAN_CAPS", caps, 1);
        for (; made < k; made++) {
            struct layer *y = &l[made];
            make_chain_layer(y, c, h, w, zp, dw_s2 && made == 1);
            y->d.layout = layout;
            y->n = n;
            if (cbr_layer_create(cpu, &y->d, &lc[made]) < 0 ||
                cbr_layer_create(sim, &y->d, &ls[made]) < 0) {
                printf("FAIL %s %s layer %u (%s): refused: %s / %s\n", uri, what, made,
                       y->what, cbr_errmsg(cpu), cbr_errmsg(sim));
                failed++;
                free_layer(y);
                break;
            }
            cbr_shape os;
            cbr_layer_output_shape(lc[made], 1, &os);
            c = os.c, h = os.h, w = os.w, zp = y->d.output_zp;
        }
        unsetenv("CBR_PLAN_CAPS");
        cbr_network *ns = NULL, *nc = NULL;
        size_t ni = (size_t)n * l[0].d.in_c * l[0].d.in_h * l[0].d.in_w;
        size_t no = (size_t)n * c * h * w;
        int8_t *x = malloc(ni), *ys = malloc(no), *yh = malloc(no), *yc = malloc(no);
        cbr_stats per[MAXL], perh[MAXL];
        for (size_t j = 0; j < ni; j++)
            x[j] = (int8_t)rnd(256);
        if (made < k) {
            /* counted above */
        } else if (cbr_network_create(lc, k, &nc) < 0 || cbr_network_create(ls, k, &ns) < 0) {
            printf("FAIL %s %s: network refused: %s\n", uri, what, cbr_errmsg(NULL));
            failed++;
        } else if (cbr_network_run(nc, n, x, yc, NULL, NULL) < 0) {
            printf("FAIL cpu %s: %s\n", what, cbr_errmsg(NULL));
            failed++;
        } else if (cbr_network_run(ns, n, x, ys, NULL, per) < 0) {
            printf("FAIL %s %s: %s\n", uri, what, cbr_errmsg(NULL));
            failed++;
        } else if (cbr_network_keep_on_device(ns, false) < 0 ||
                   cbr_network_run(ns, n, x, yh, NULL, perh) < 0) {
            printf("FAIL %s %s, intermediates on the host: %s\n", uri, what, cbr_errmsg(NULL));
            failed++;
        } else if (memcmp(ys, yc, no) || memcmp(yh, yc, no)) {
            const int8_t *bad = memcmp(ys, yc, no) ? ys : yh;
            size_t j = 0;
            while (bad[j] == yc[j])
                j++;
            printf("FAIL %s %s: output %zu of %zu is %d, golden %d (intermediates %s)\n", uri,
                   what, j, no, bad[j], yc[j], bad == ys ? "kept" : "on the host");
            for (uint32_t q = 0; q < k; q++)
                printf("  layer %u: %s, resident %u\n", q, l[q].what, per[q].resident);
            failed++;
        } else {
            done++;
            for (uint32_t q = 0; q + 1 < k; q++) {
                bool out = per[q].resident & CBR_RESIDENT_OUTPUT;
                bool in = per[q + 1].resident & CBR_RESIDENT_INPUT;
                if (out != in) {
                    printf("FAIL %s %s: layer %u says its output %s kept, layer %u its input "
                           "%s\n", uri, what, q, out ? "was" : "was not", q + 1,
                           in ? "was" : "was not");
                    failed++;
                }
                kept += out;
                bounds++;
                /* a strided depthwise layer on its kept input: tiles of the whole plane
                 * (plan.c, dw_whole) */
                dw_kept += in && l[q + 1].d.groups > 1 && l[q + 1].d.stride_h > 1;
            }
            /* keeping tensors never sends the device more bytes: the copies' requests
             * (accel.c, copy_extra) and a producer planned anew for the room beside its kept
             * output (fit_plan) cost less than the tensors save */
            uint64_t sent = 0, sent_host = 0;
            for (uint32_t q = 0; q < k; q++) {
                sent += per[q].bytes_to_device;
                sent_host += perh[q].bytes_to_device;
            }
            if (sent > sent_host) {
                printf("FAIL %s %s: %llu bytes to the device with intermediates kept, %llu "
                       "with them on the host\n", uri, what, (unsigned long long)sent,
                       (unsigned long long)sent_host);
                for (uint32_t q = 0; q < k; q++)
                    printf("  layer %u: %s, resident %u: %llu bytes (%llu ahead), on the "
                           "host %llu\n", q, l[q].what, per[q].resident,
                           (unsigned long long)per[q].bytes_to_device,
                           (unsigned long long)per[q].bytes_ahead,
                           (unsigned long long)perh[q].bytes_to_device);
                failed++;
            }
            /* weights written ahead: of a layer after the first, part of its bytes */
            for (uint32_t q = 0; q < k; q++) {
                if (per[q].bytes_ahead > per[q].bytes_to_device ||
                    (q == 0 && per[q].bytes_ahead)) {
                    printf("FAIL %s %s: layer %u: %llu bytes written ahead of %llu to the "
                           "device\n", uri, what, q, (unsigned long long)per[q].bytes_ahead,
                           (unsigned long long)per[q].bytes_to_device);
                    failed++;
                }
                ahead += per[q].bytes_ahead > 0;
            }
        }
        free(x), free(ys), free(yh), free(yc);
        cbr_network_destroy(ns);
        cbr_network_destroy(nc);
        for (uint32_t q = 0; q < made; q++) {
            cbr_layer_destroy(ls[q]);
            cbr_layer_destroy(lc[q]);
            free_layer(&l[q]);
        }
    }
    printf("%s: %d chains bit-exact, %d failed; %d of %d intermediates kept on the device (%d "
           "for a strided depthwise layer), %d layers' first weights written ahead\n", uri, done,
           failed, kept, bounds, dw_kept, ahead);
    cbr_device_info info;
    cbr_device_get_info(sim, &info);
    if ((info.features & CBR_FEAT_COPY) ? kept * 3 < bounds : kept > 0) {
        printf("FAIL %s: the device kept %d of %d intermediates (%s BUF_COPY)\n", uri, kept,
               bounds, (info.features & CBR_FEAT_COPY) ? "with" : "without");
        failed++;
    }
    if ((info.features & CBR_FEAT_COPY) && chains >= 6 && !dw_kept) {
        printf("FAIL %s: no strided depthwise layer took a kept input\n", uri);
        failed++;
    }
    *passed += done;
    return failed;
}

/* One shape: returns the number of failures; counts passes in *passed. */
static int run_shape(const char *shape, int layers, enum mode mode, uint64_t seed,
                     int *passed)
{
    char uri[64];
    snprintf(uri, sizeof uri, "sim:%s", shape);
    cbr_device *sim, *cpu;
    if (cbr_device_open(&sim, uri) < 0) {
        printf("FAIL %s: cannot open: %s\n", uri, cbr_errmsg(NULL));
        return 1;
    }
    if (cbr_device_open(&cpu, "cpu") < 0) {
        printf("FAIL cpu: %s\n", cbr_errmsg(NULL));
        cbr_device_close(sim);
        return 1;
    }
    int failed = 0, done = 0, stacked = 0;
    const bool at_limits = mode == LIMITS;
    uint64_t macs = 0, cycles = 0, tiles = 0;
    uint32_t most = 0;
    /* Tiny buffers for this shape: one 11x11 kernel's weights fit twice, the accumulator
     * holds 16 pixels, the output half one tile of one block. */
    cbr_device_info info;
    cbr_device_get_info(sim, &info);
    char caps[160], region_caps[160];
    test_caps_env(test_tiny_caps(info.rows, info.cols), caps, sizeof caps);
    test_caps_env(test_region_caps(info.rows, info.cols), region_caps, sizeof region_caps);
    rng = seed;
    clock_t t0 = clock();
    if (mode == CHAIN) {
        failed = run_chains(sim, cpu, uri, layers, caps, passed);
        printf("%s: %.1f s host CPU\n", uri, (double)(clock() - t0) / CLOCKS_PER_SEC);
        cbr_device_close(sim);
        cbr_device_close(cpu);
        return failed;
    }
    if (at_limits)
        layers = N_LIMITS;
    for (int i = 0; i < layers; i++) {
        struct layer l;
        cbr_layer *ls = NULL, *lc = NULL;
        bool regions = false;
        if (at_limits)
            limit_layer(&l, i);
        else if (mode == STACK && i < N_STACK_FIXED)
            stack_fixed_layer(&l, i);
        else if (mode == STACK)
            make_stack_layer(&l);
        else if (i < N_DRAIN_FIXED)
            drain_fixed_layer(&l, i);
        else if ((regions = i == N_DRAIN_FIXED))
            region_fixed_layer(&l); /* planned for its buffers, below */
        else
            make_layer(&l);
        if (cbr_layer_create(cpu, &l.d, &lc) < 0) {
            if (at_limits) {
                printf("FAIL layer %d (%s): the golden model refuses it: %s\n", i, l.what,
                       cbr_errmsg(cpu));
                failed++;
                free_layer(&l);
                continue;
            }
            /* a draw the API refuses: draw again */
            free_layer(&l);
            i--;
            continue;
        }
        bool tiny = mode == RANDOM && i % 2 == 1 && i >= N_DRAIN_FIXED;
        if (tiny || regions)
            setenv("CBR_PLAN_CAPS", regions ? region_caps : caps, 1);
        if (mode == STACK) /* stack whatever can be, however many rows it adds */
            setenv("CBR_STACK_WASTE", "1000000000", 1);
        int rc = cbr_layer_create(sim, &l.d, &ls);
        unsetenv("CBR_PLAN_CAPS");
        unsetenv("CBR_STACK_WASTE");
        if (rc < 0) {
            printf("FAIL %s layer %d (%s): refused: %s\n", uri, i, l.what, cbr_errmsg(sim));
            failed++;
            goto next;
        }
        cbr_shape os;
        cbr_layer_output_shape(lc, l.n, &os);
        size_t ni = (size_t)l.n * l.d.in_c * l.d.in_h * l.d.in_w;
        size_t no = (size_t)os.n * os.c * os.h * os.w;
        int8_t *x = malloc(ni), *ys = malloc(no), *yc = malloc(no);
        for (size_t k = 0; k < ni; k++)
            x[k] = (int8_t)rnd(256);
        cbr_stats ss, sc;
        if (cbr_layer_run(lc, l.n, x, yc, &sc) < 0) {
            printf("FAIL cpu layer %d: %s\n", i, cbr_errmsg(cpu));
            failed++;
        } else if (cbr_layer_run(ls, l.n, x, ys, &ss) < 0) {
            printf("FAIL %s layer %d (%s): %s\n", uri, i, l.what, cbr_errmsg(sim));
            failed++;
        } else if (memcmp(ys, yc, no) != 0) {
            size_t k = 0;
            while (ys[k] == yc[k])
                k++;
            printf("FAIL %s layer %d (%s): output %zu of %zu is %d, golden %d\n", uri, i,
                   l.what, k, no, ys[k], yc[k]);
            failed++;
        } else if (ss.macs != sc.macs || ss.cycles == 0 || ss.busy_cycles > ss.cycles ||
                   !(ss.model_seconds > 0) || !(ss.host_seconds >= 0) ||
                   sc.model_seconds != 0) {
            printf("FAIL %s layer %d (%s): counters: macs %" PRIu64 " (golden %" PRIu64
                   "), cycles %" PRIu64 ", busy %" PRIu64 ", host %g s, model %g s (cpu: "
                   "%g s)\n", uri, i, l.what, ss.macs, sc.macs, ss.cycles, ss.busy_cycles,
                   ss.host_seconds, ss.model_seconds, sc.model_seconds);
            failed++;
        } else {
            done++;
            stacked += ss.tiles < l.n; /* fewer tiles than images: they shared tiles */
            macs += ss.macs;
            cycles += ss.cycles;
            tiles += ss.tiles;
            most = ss.tiles > most ? ss.tiles : most;
            if (at_limits)
                printf("  ok %s layer %d (%s): %u tiles, %" PRIu64 " cycles\n", uri, i,
                       l.what, ss.tiles, ss.cycles);
        }
        free(x), free(ys), free(yc);
    next:
        cbr_layer_destroy(ls);
        cbr_layer_destroy(lc);
        free_layer(&l);
    }
    printf("%s: %d layers bit-exact, %d failed, %" PRIu64 " tiles (up to %u per layer), "
           "%.1f s host CPU, %" PRIu64 " MACs in %" PRIu64 " cycles\n", uri, done, failed,
           tiles, most, (double)(clock() - t0) / CLOCKS_PER_SEC, macs, cycles);
    if (mode == STACK) {
        /* most draws stack (not those whose image takes several tiles, or whose slots do not
         * fit the accumulator twice): if few did, stacking is broken */
        printf("%s: %d of %d layers ran stacked\n", uri, stacked, done);
        if (stacked * 2 < done) {
            printf("FAIL %s: image stacking ran for %d of %d layers\n", uri, stacked, done);
            failed++;
        }
    }
    *passed += done;
    cbr_device_close(sim);
    cbr_device_close(cpu);
    return failed;
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: test_sim [--layers N] [--limits | --stack | --chain] "
                                "[--seed S] SHAPE...";
    int layers = 150;
    enum mode mode = RANDOM;
    uint64_t seed = test_seed();
    int first = 1;
    while (first < argc && !strncmp(argv[first], "--", 2)) {
        if (!strcmp(argv[first], "--limits") || !strcmp(argv[first], "--stack") ||
            !strcmp(argv[first], "--chain")) {
            mode = argv[first][2] == 'l' ? LIMITS : argv[first][2] == 's' ? STACK : CHAIN;
            first++;
            continue;
        }
        if (!strcmp(argv[first], "--layers") && first + 1 < argc)
            layers = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--seed") && first + 1 < argc)
            seed = strtoull(argv[first + 1], NULL, 0);
        else {
            fprintf(stderr, "%s\n", usage);
            return 2;
        }
        first += 2;
    }
    if (first == argc) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    if (mode == LIMITS)
        printf("test_sim: seed %" PRIu64 " (replay with --limits --seed %" PRIu64 "), %d layers "
               "at the limits per shape\n", seed, seed, N_LIMITS);
    else
        printf("test_sim: seed %" PRIu64 " (replay with %s--seed %" PRIu64 "), %d %s per "
               "shape\n", seed, mode == STACK ? "--stack " : mode == CHAIN ? "--chain " : "",
               seed, layers, mode == STACK ? "stackable layers" : mode == CHAIN ? "chains"
               : "layers");
    fflush(stdout);
    int passed = 0, failed = 0;
    for (int i = first; i < argc; i++)
        failed += run_shape(argv[i], layers, mode, seed, &passed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
