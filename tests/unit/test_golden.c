/*
 * test_golden.c - the golden model against independent formulations of docs/numerics.md.
 *
 * The references here are written differently on purpose: the fixed-point primitives in
 * __int128 as plain rounding rules, the convolution in double over an explicitly padded input,
 * pooling over every window position with bounds tests. Randomized tests print their seed;
 * CBR_SEED=<seed> replays them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "testrng.h"
#include "golden.h"

/* ---- random numbers --------------------------------------------------------------------- */

/* Seed from CBR_SEED, else the clock; printed so that a failure can be replayed. */
static void seed_rng(const char *test)
{
    uint64_t seed = test_seed();
    print_message("%s: seed %llu (CBR_SEED=%llu replays it)\n", test,
                  (unsigned long long)seed, (unsigned long long)seed);
    rng = seed;
}

/* Uniform in [lo, hi]. */
static int64_t rand_range(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(next_u64() % span);
}

static int32_t rand_i32(void)
{
    return (int32_t)rand_range(INT32_MIN, INT32_MAX);
}

/* ---- independent references for the primitives ------------------------------------------ */

typedef __int128 i128;

static i128 floor_div(i128 n, i128 d)
{
    i128 q = n / d;
    if (n % d != 0 && (n < 0) != (d < 0))
        q -= 1;
    return q;
}

static int32_t sat32(i128 v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* SRDHM is a*b / 2^31 rounded to nearest with ties toward +infinity (the nudge 1 - 2^30 for
 * negative products makes negative ties round toward zero), saturated. */
static int32_t ref_srdhm(int32_t a, int32_t b)
{
    i128 two31 = (i128)1 << 31;
    return sat32(floor_div((i128)a * b + two31 / 2, two31));
}

/* x / 2^e rounded to nearest, ties away from zero, from the magnitude. */
static int32_t ref_rdbypot(int32_t x, int e)
{
    int64_t mag = x < 0 ? -(int64_t)x : x;
    int64_t half = e ? INT64_C(1) << (e - 1) : 0;
    int64_t q = (mag + half) / (INT64_C(1) << e);
    return (int32_t)(x < 0 ? -q : q);
}

static int32_t ref_mbqm(int32_t x, int32_t m, int32_t shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int32_t a = sat32((i128)x * ((i128)1 << left));
    return ref_rdbypot(ref_srdhm(a, m), right);
}

static const int32_t edge_values[] = {
    INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1, -65536, -257, -3, -2,
    -1, 0, 1, 2, 3, 255, 65535, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX,
};
#define N_EDGE (sizeof edge_values / sizeof edge_values[0])

/* Valid multipliers: 0 and the ends of [2^30, 2^31 - 1]. */
static const int32_t edge_multipliers[] = {
    0, 1 << 30, (1 << 30) + 1, 3 << 29, 1518500250 /* ~2^30.5 */, INT32_MAX - 1, INT32_MAX,
};
#define N_EDGE_M (sizeof edge_multipliers / sizeof edge_multipliers[0])

/* ---- primitives ------------------------------------------------------------------------- */

static void test_srdhm_int32_min_squared_saturates(void **state)
{
    (void)state;
    assert_int_equal(cbr_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    /* The neighbours do not saturate: (-2^31) * (-2^31 + 1) / 2^31 = 2^31 - 1. */
    assert_int_equal(cbr_srdhm(INT32_MIN, INT32_MIN + 1), INT32_MAX);
    assert_int_equal(cbr_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    assert_int_equal(cbr_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
}

static void test_srdhm_rounds_positive_ties_up_and_negative_ties_toward_zero(void **state)
{
    (void)state;
    /* a * b = +-2^30 is exactly half of 2^31. */
    assert_int_equal(cbr_srdhm(1 << 30, 1), 1);
    assert_int_equal(cbr_srdhm(-(1 << 30), 1), 0);
    /* 3 * 2^30 / 2^31 = 1.5 */
    assert_int_equal(cbr_srdhm(3 << 29, 2), 2);
    assert_int_equal(cbr_srdhm(-(3 << 29), 2), -1);
    /* not ties: nearest */
    assert_int_equal(cbr_srdhm((1 << 30) + 1, 1), 1);
    assert_int_equal(cbr_srdhm(-(1 << 30) - 1, 1), -1);
    assert_int_equal(cbr_srdhm(INT32_MIN, 1), -1); /* -1.0 exactly */
    assert_int_equal(cbr_srdhm(0, INT32_MIN), 0);
}

static void test_srdhm_matches_reference_on_edges_and_random(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (size_t i = 0; i < N_EDGE; i++)
        for (size_t j = 0; j < N_EDGE; j++) {
            int32_t a = edge_values[i], b = edge_values[j];
            int32_t got = cbr_srdhm(a, b), want = ref_srdhm(a, b);
            if (got != want)
                fail_msg("srdhm(%d, %d) = %d, want %d", a, b, got, want);
        }
    for (int k = 0; k < 200000; k++) {
        int32_t a = rand_i32(), b = rand_i32();
        if (k % 4 == 1)
            b = (int32_t)rand_range(-4, 4); /* small b: many ties */
        int32_t got = cbr_srdhm(a, b), want = ref_srdhm(a, b);
        if (got != want)
            fail_msg("srdhm(%d, %d) = %d, want %d", a, b, got, want);
    }
}

static void test_rdbypot_rounds_ties_away_from_zero(void **state)
{
    (void)state;
    static const struct {
        int32_t x;
        int e;
        int32_t want;
    } cases[] = {
        {5, 1, 3},   {-5, 1, -3}, {3, 1, 2},    {-3, 1, -2},  {1, 1, 1},   {-1, 1, -1},
        {4, 1, 2},   {-4, 1, -2}, {2, 2, 1},    {-2, 2, -1},  {6, 2, 2},   {-6, 2, -2},
        {7, 2, 2},   {-7, 2, -2}, {-9, 2, -2},  {9, 2, 2},    {1, 2, 0},   {-1, 2, 0},
        {0, 31, 0},  {17, 0, 17}, {-17, 0, -17}, {INT32_MIN, 0, INT32_MIN},
        {INT32_MAX, 0, INT32_MAX}, {INT32_MIN, 31, -1}, {INT32_MAX, 31, 1},
        {1 << 30, 31, 1},          /* +0.5 */
        {-(1 << 30), 31, -1},      /* -0.5 */
        {(1 << 30) - 1, 31, 0},    {-(1 << 30) + 1, 31, 0},
        {INT32_MIN, 1, -(1 << 30)}, {INT32_MAX, 1, 1 << 30},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t got = cbr_rdbypot(cases[i].x, cases[i].e);
        if (got != cases[i].want)
            fail_msg("rdbypot(%d, %d) = %d, want %d", cases[i].x, cases[i].e, got,
                     cases[i].want);
    }
}

static void test_rdbypot_matches_reference_for_every_exponent(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int e = 0; e <= 31; e++) {
        for (size_t i = 0; i < N_EDGE; i++) {
            int32_t x = edge_values[i];
            int32_t got = cbr_rdbypot(x, e), want = ref_rdbypot(x, e);
            if (got != want)
                fail_msg("rdbypot(%d, %d) = %d, want %d", x, e, got, want);
        }
        for (int k = 0; k < 5000; k++) {
            int32_t x = rand_i32();
            if (k % 2 && e > 0) {
                /* an exact tie, of either sign: (2q + 1) * 2^(e-1) */
                int64_t q = rand_range(-(INT64_C(1) << (31 - e)), (INT64_C(1) << (31 - e)) - 1);
                int64_t t = (2 * q + 1) * (INT64_C(1) << (e - 1));
                if (t < INT32_MIN || t > INT32_MAX)
                    continue;
                x = (int32_t)t;
            }
            int32_t got = cbr_rdbypot(x, e), want = ref_rdbypot(x, e);
            if (got != want)
                fail_msg("rdbypot(%d, %d) = %d, want %d", x, e, got, want);
        }
    }
}

static void check_mbqm(int32_t x, int32_t m, int32_t s)
{
    int32_t got = cbr_mbqm(x, m, s), want = ref_mbqm(x, m, s);
    if (got != want)
        fail_msg("mbqm(%d, %d, %d) = %d, want %d", x, m, s, got, want);
}

static void test_mbqm_matches_reference_for_every_shift(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int32_t s = -31; s <= 30; s++) {
        for (size_t i = 0; i < N_EDGE; i++)
            for (size_t j = 0; j < N_EDGE_M; j++)
                check_mbqm(edge_values[i], edge_multipliers[j], s);
        for (int k = 0; k < 3000; k++) {
            int32_t x = rand_i32();
            if (k % 3 == 0)
                x = (int32_t)rand_range(-70000, 70000); /* typical accumulators */
            int32_t m = (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
            check_mbqm(x, m, s);
        }
    }
}

/* Unsaturated, MBQM is x * M0 * 2^(s - 31) within half an output step plus half a step of the
 * first rounding (it rounds twice). */
static void test_mbqm_is_within_one_step_of_the_exact_product(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int k = 0; k < 200000; k++) {
        int32_t s = (int32_t)rand_range(-31, 30);
        int left = s > 0 ? s : 0, right = s > 0 ? 0 : -s;
        int32_t x = (int32_t)rand_range(-(INT64_C(1) << (31 - left)),
                                        (INT64_C(1) << (31 - left)) - 1);
        int32_t m = (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
        int32_t got = cbr_mbqm(x, m, s);
        /* |got - x*m*2^left / 2^(31+right)| <= 1/2 + 1/2^(right+1), scaled by 2^(32+right) */
        i128 exact = (i128)x * m * ((i128)1 << left) * 2;
        i128 err = (i128)got * ((i128)1 << (32 + right)) - exact;
        if (err < 0)
            err = -err;
        i128 bound = ((i128)1 << (31 + right)) + ((i128)1 << 31);
        if (err > bound)
            fail_msg("mbqm(%d, %d, %d) = %d is too far from the exact product", x, m, s, got);
    }
}

static void test_mbqm_saturates_the_left_shift(void **state)
{
    (void)state;
    /* x * 2^30 saturates to INT32_MAX / INT32_MIN before the multiply. */
    assert_int_equal(cbr_mbqm(INT32_MAX, INT32_MAX, 30), INT32_MAX - 1);
    assert_int_equal(cbr_mbqm(3, 1 << 30, 30), cbr_srdhm(INT32_MAX, 1 << 30));
    assert_int_equal(cbr_mbqm(-3, 1 << 30, 30), cbr_srdhm(INT32_MIN, 1 << 30));
    assert_int_equal(cbr_mbqm(INT32_MIN, INT32_MAX, 1), -INT32_MAX);
    assert_int_equal(cbr_mbqm(100, 0, 5), 0);
    assert_int_equal(cbr_mbqm(INT32_MIN, 1 << 30, -31), -1); /* -2^31 * 0.5 / 2^31 = -0.5 */
}

static void test_round_half_away_rounds_ties_away_from_zero(void **state)
{
    (void)state;
    assert_true(cbr_round_half_away(2.5) == 3.0);
    assert_true(cbr_round_half_away(-2.5) == -3.0);
    assert_true(cbr_round_half_away(0.5) == 1.0);
    assert_true(cbr_round_half_away(-0.5) == -1.0);
    assert_true(cbr_round_half_away(1.4999999999999998) == 1.0);
    assert_true(cbr_round_half_away(0.49999999999999994) == 0.0); /* floor(x + 0.5) gets 1 */
    assert_true(cbr_round_half_away(-7.0) == -7.0);
    assert_true(cbr_round_half_away(4503599627370497.0) == 4503599627370497.0);
}

/* ---- activation ranges and requantization ----------------------------------------------- */

static void test_act_range_follows_the_numerics_table(void **state)
{
    (void)state;
    cbr_layer_desc d = {0};
    int32_t lo, hi;

    d.output_zp = 5;
    d.act = CBR_ACT_NONE;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, 127);
    d.act = CBR_ACT_RELU;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 127);
    d.act = CBR_ACT_LEAKY;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, -128);
    assert_int_equal(hi, 127);
    d.act = CBR_ACT_RELU6;
    d.has_clamp = true;
    d.clamp_min = -128;
    d.clamp_max = 60;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 60);
    d.act = CBR_ACT_RELU;
    d.clamp_min = -20;
    d.clamp_max = 100;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 100);
    d.act = CBR_ACT_NONE;
    assert_int_equal(cbr_act_range(&d, &lo, &hi), 0);
    assert_int_equal(lo, -20);
    assert_int_equal(hi, 100);
    d.act = CBR_ACT_RELU;
    d.clamp_min = -128;
    d.clamp_max = 4; /* below y_zp: empty */
    assert_int_equal(cbr_act_range(&d, &lo, &hi), CBR_EINVAL);
    assert_non_null(strstr(cbr_errmsg(NULL), "clamp"));
}

static void test_requant_extremes_do_not_overflow(void **state)
{
    (void)state;
    /* INT32_MAX + y_zp 127 must clamp, not wrap. */
    assert_int_equal(cbr_requant(INT32_MAX, INT32_MAX, 30, false, 0, 0, 127, -128, 127), 127);
    assert_int_equal(cbr_requant(INT32_MIN, INT32_MAX, 30, false, 0, 0, -128, -128, 127),
                     -128);
    /* leaky: the negative pair is used for acc < 0 only; acc == 0 uses the positive one. */
    assert_int_equal(cbr_requant(-100, 1 << 30, 0, true, 1 << 30, -2, 0, -128, 127), -13);
    assert_int_equal(cbr_requant(100, 1 << 30, 0, true, 1 << 30, -2, 0, -128, 127), 50);
    assert_int_equal(cbr_requant(0, 1 << 30, 0, true, INT32_MAX, 30, 3, -128, 127), 3);
    /* multiplier 0: every output is y_zp, clamped */
    assert_int_equal(cbr_requant(123456, 0, 0, false, 0, 0, -7, -128, 127), -7);
    assert_int_equal(cbr_requant(123456, 0, 0, false, 0, 0, -7, 0, 127), 0);
}

enum { N_REQ_CH = 6, REQ_H = 3, REQ_W = 5 };

static void test_requant_matches_reference_for_each_activation(void **state)
{
    (void)state;
    seed_rng(__func__);
    static const char *const kinds[] = {"none", "relu", "relu6 via clamp", "leaky",
                                        "explicit clamp"};
    int32_t m[N_REQ_CH], s[N_REQ_CH], nm[N_REQ_CH], ns[N_REQ_CH];
    int32_t acc[2 * N_REQ_CH * REQ_H * REQ_W];
    int8_t y[2 * N_REQ_CH * REQ_H * REQ_W];

    for (int iter = 0; iter < 2000; iter++) {
        int kind = iter % 5;
        cbr_layer_desc d = {0};
        d.in_c = 1;
        d.out_c = N_REQ_CH;
        d.in_h = REQ_H;
        d.in_w = REQ_W;
        d.kh = d.kw = 1;
        cbr_layer_normalize(&d);
        d.output_zp = (int32_t)rand_range(-128, 127);
        d.multiplier = m;
        d.shift = s;
        for (int o = 0; o < N_REQ_CH; o++) {
            m[o] = rand_range(0, 9) == 0 ? 0 : (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
            s[o] = (int32_t)rand_range(-31, 30);
            if (rand_range(0, 1))
                s[o] = (int32_t)rand_range(-20, 0); /* the useful range */
            nm[o] = rand_range(0, 9) == 0 ? 0 : (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
            ns[o] = (int32_t)rand_range(-24, 0);
        }
        int32_t lo = -128, hi = 127; /* the table of NUMERICS.md, written out again */
        switch (kind) {
        case 0:
            d.act = CBR_ACT_NONE;
            break;
        case 1:
            d.act = CBR_ACT_RELU;
            lo = d.output_zp;
            break;
        case 2: {
            d.act = CBR_ACT_RELU6;
            double mantissa = 1.0 + (double)rand_range(0, 1000) / 1000;
            float y_scale = (float)ldexp(mantissa, (int)rand_range(-8, -2));
            d.has_clamp = true;
            assert_int_equal(cbr_relu6_range(y_scale, d.output_zp, &d.clamp_min, &d.clamp_max), 0);
            lo = d.output_zp;
            double top = d.output_zp + round(6.0 / y_scale);
            hi = top > 127 ? 127 : (int32_t)top;
            break;
        }
        case 3:
            d.act = CBR_ACT_LEAKY;
            d.neg_multiplier = nm;
            d.neg_shift = ns;
            break;
        default:
            d.act = CBR_ACT_NONE;
            d.has_clamp = true;
            d.clamp_min = (int32_t)rand_range(-128, 127);
            d.clamp_max = (int32_t)rand_range(d.clamp_min, 127);
            lo = d.clamp_min;
            hi = d.clamp_max;
            break;
        }
        int32_t act_min, act_max;
        assert_int_equal(cbr_act_range(&d, &act_min, &act_max), 0);
        if (act_min != lo || act_max != hi)
            fail_msg("%s: act range [%d, %d], want [%d, %d]", kinds[kind], act_min, act_max, lo,
                     hi);

        uint32_t n = (uint32_t)rand_range(1, 2);
        size_t count = (size_t)n * N_REQ_CH * REQ_H * REQ_W;
        for (size_t i = 0; i < count; i++) {
            acc[i] = rand_i32();
            if (i % 3 == 0)
                acc[i] = (int32_t)rand_range(-300000, 300000);
            if (i % 17 == 0)
                acc[i] = edge_values[rand_range(0, N_EDGE - 1)];
        }
        cbr_golden_requant(&d, n, acc, y);
        for (size_t i = 0; i < count; i++) {
            size_t o = i / (REQ_H * REQ_W) % N_REQ_CH;
            bool neg = kind == 3 && acc[i] < 0;
            int64_t v = (int64_t)ref_mbqm(acc[i], neg ? nm[o] : m[o], neg ? ns[o] : s[o]) +
                        d.output_zp;
            int32_t want = (int32_t)(v < lo ? lo : v > hi ? hi : v);
            if (y[i] != want)
                fail_msg("%s: acc %d, channel %zu (M0 %d, shift %d): y = %d, want %d",
                         kinds[kind], acc[i], o, neg ? nm[o] : m[o], neg ? ns[o] : s[o], y[i],
                         want);
        }
    }
}

/* ---- convolution ------------------------------------------------------------------------ */

struct conv_case {
    cbr_layer_desc d;
    uint32_t n;
    int8_t *x, *w;
    int32_t *bias, *m, *s, *nm, *ns;
};

static void free_case(struct conv_case *c)
{
    free(c->x);
    free(c->w);
    free(c->bias);
    free(c->m);
    free(c->s);
    free(c->nm);
    free(c->ns);
}

/* OH by NUMERICS.md, written out again. */
static int64_t ref_conv_dim(int64_t in, int64_t pa, int64_t pb, int64_t k, int64_t s, int64_t dl)
{
    int64_t num = in + pa + pb - dl * (k - 1) - 1;
    return num < 0 ? 0 : num / s + 1;
}

/* A random valid conv layer: kernels 1..11 (not square), strides, asymmetric pads,
 * dilations, groups including depthwise. Requant parameters are random too. */
static void random_conv(struct conv_case *c)
{
    memset(c, 0, sizeof *c);
    cbr_layer_desc *d = &c->d;
    uint32_t g, cg, og;
    switch (rand_range(0, 3)) {
    case 0: /* dense */
        g = 1, cg = (uint32_t)rand_range(1, 6), og = (uint32_t)rand_range(1, 6);
        break;
    case 1: /* depthwise, with a channel multiplier sometimes */
        g = (uint32_t)rand_range(1, 6), cg = 1, og = (uint32_t)rand_range(1, 2);
        break;
    default: /* grouped */
        g = (uint32_t)rand_range(2, 4), cg = (uint32_t)rand_range(1, 3),
        og = (uint32_t)rand_range(1, 3);
        break;
    }
    d->groups = g;
    d->in_c = g * cg;
    d->out_c = g * og;
    d->kh = (uint32_t)rand_range(1, 11);
    d->kw = (uint32_t)rand_range(1, 11);
    if (rand_range(0, 3) == 0)
        d->kw = d->kh;
    d->stride_h = (uint32_t)rand_range(1, 3);
    d->stride_w = (uint32_t)rand_range(1, 3);
    d->dilation_h = (uint32_t)rand_range(1, d->kh <= 3 ? 4 : 2);
    d->dilation_w = (uint32_t)rand_range(1, d->kw <= 3 ? 4 : 2);
    d->pad_top = (uint32_t)rand_range(0, 4);
    d->pad_bottom = (uint32_t)rand_range(0, 4);
    d->pad_left = (uint32_t)rand_range(0, 4);
    d->pad_right = (uint32_t)rand_range(0, 4);
    int64_t span_h = (int64_t)d->dilation_h * (d->kh - 1) + 1;
    int64_t span_w = (int64_t)d->dilation_w * (d->kw - 1) + 1;
    int64_t h = span_h - d->pad_top - d->pad_bottom + rand_range(0, 6);
    int64_t w = span_w - d->pad_left - d->pad_right + rand_range(0, 6);
    d->in_h = (uint32_t)(h < 1 ? 1 + rand_range(0, 3) : h);
    d->in_w = (uint32_t)(w < 1 ? 1 + rand_range(0, 3) : w);
    d->input_zp = (int32_t)rand_range(-128, 127);
    d->output_zp = (int32_t)rand_range(-128, 127);
    c->n = (uint32_t)rand_range(1, 2);

    size_t nx = (size_t)c->n * d->in_c * d->in_h * d->in_w;
    size_t nw = (size_t)d->out_c * cg * d->kh * d->kw;
    c->x = malloc(nx);
    c->w = malloc(nw);
    c->bias = malloc(d->out_c * sizeof(int32_t));
    c->m = malloc(d->out_c * sizeof(int32_t));
    c->s = malloc(d->out_c * sizeof(int32_t));
    c->nm = malloc(d->out_c * sizeof(int32_t));
    c->ns = malloc(d->out_c * sizeof(int32_t));
    assert_true(c->x && c->w && c->bias && c->m && c->s && c->nm && c->ns);
    for (size_t i = 0; i < nx; i++)
        c->x[i] = (int8_t)rand_range(-128, 127);
    for (size_t i = 0; i < nw; i++)
        c->w[i] = (int8_t)rand_range(-127, 127);
    for (uint32_t o = 0; o < d->out_c; o++) {
        c->bias[o] = (int32_t)rand_range(-(1 << 20), 1 << 20);
        c->m[o] = (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
        c->s[o] = (int32_t)rand_range(-18, -6);
        c->nm[o] = (int32_t)rand_range(INT32_C(1) << 30, INT32_MAX);
        c->ns[o] = (int32_t)rand_range(-20, -8);
    }
    d->weights = c->w;
    d->bias = rand_range(0, 4) ? c->bias : NULL;
    d->multiplier = c->m;
    d->shift = c->s;
}

/* acc in double over an explicitly zero-padded copy of x - x_zp. */
static double *ref_conv(const struct conv_case *c, uint32_t *oh_out, uint32_t *ow_out)
{
    const cbr_layer_desc *d = &c->d;
    const uint32_t C = d->in_c, O = d->out_c, G = d->groups;
    const uint32_t cg = C / G, og = O / G;
    const int64_t hp = (int64_t)d->in_h + d->pad_top + d->pad_bottom;
    const int64_t wp = (int64_t)d->in_w + d->pad_left + d->pad_right;
    const int64_t oh_n = ref_conv_dim(d->in_h, d->pad_top, d->pad_bottom, d->kh, d->stride_h,
                                      d->dilation_h);
    const int64_t ow_n = ref_conv_dim(d->in_w, d->pad_left, d->pad_right, d->kw, d->stride_w,
                                      d->dilation_w);

    double *xp = calloc((size_t)(c->n * C * hp * wp), sizeof *xp);
    double *out = calloc((size_t)(c->n * O * oh_n * ow_n), sizeof *out);
    assert_true(xp && out);
    for (uint32_t b = 0; b < c->n; b++)
        for (uint32_t ch = 0; ch < C; ch++)
            for (uint32_t r = 0; r < d->in_h; r++)
                for (uint32_t col = 0; col < d->in_w; col++)
                    xp[((b * C + ch) * hp + r + d->pad_top) * wp + col + d->pad_left] =
                        c->x[((b * C + ch) * d->in_h + r) * d->in_w + col] - d->input_zp;

    for (uint32_t b = 0; b < c->n; b++)
        for (uint32_t o = 0; o < O; o++)
            for (int64_t r = 0; r < oh_n; r++)
                for (int64_t col = 0; col < ow_n; col++) {
                    double sum = d->bias ? d->bias[o] : 0;
                    for (uint32_t ci = 0; ci < cg; ci++)
                        for (uint32_t i = 0; i < d->kh; i++)
                            for (uint32_t j = 0; j < d->kw; j++) {
                                int64_t pr = r * d->stride_h + (int64_t)i * d->dilation_h;
                                int64_t pc = col * d->stride_w + (int64_t)j * d->dilation_w;
                                uint32_t ch = (o / og) * cg + ci;
                                sum += xp[((b * C + ch) * hp + pr) * wp + pc] *
                                       d->weights[((o * cg + ci) * d->kh + i) * d->kw + j];
                            }
                    out[((b * O + o) * oh_n + r) * ow_n + col] = sum;
                }
    free(xp);
    *oh_out = (uint32_t)oh_n;
    *ow_out = (uint32_t)ow_n;
    return out;
}

static void test_conv_acc_matches_double_reference_on_random_shapes(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int iter = 0; iter < 300; iter++) {
        struct conv_case c;
        random_conv(&c);
        const cbr_layer_desc *d = &c.d;
        if (cbr_layer_check(d) != 0)
            fail_msg("iteration %d: a valid layer was rejected: %s", iter, cbr_errmsg(NULL));
        uint32_t oh, ow, roh, row;
        cbr_conv_out_size(d, &oh, &ow);
        double *want = ref_conv(&c, &roh, &row);
        if (oh != roh || ow != row)
            fail_msg("iteration %d: conv size %ux%u, want %ux%u", iter, oh, ow, roh, row);
        size_t count = (size_t)c.n * d->out_c * oh * ow;
        int32_t *acc = malloc(count * sizeof *acc);
        assert_non_null(acc);
        cbr_golden_conv_acc(d, c.n, c.x, acc);
        for (size_t i = 0; i < count; i++)
            if ((double)acc[i] != want[i])
                fail_msg("iteration %d (C %u O %u G %u k %ux%u s %ux%u d %ux%u pads t%u l%u "
                         "b%u r%u in %ux%u): acc[%zu] = %d, want %.0f",
                         iter, d->in_c, d->out_c, d->groups, d->kh, d->kw, d->stride_h,
                         d->stride_w, d->dilation_h, d->dilation_w, d->pad_top, d->pad_left,
                         d->pad_bottom, d->pad_right, d->in_h, d->in_w, i, acc[i], want[i]);
        free(acc);
        free(want);
        free_case(&c);
    }
}

static void test_conv_acc_largest_reduction_does_not_overflow(void **state)
{
    (void)state;
    /* (C/G)*KH*KW = 65536 taps of (-128 - 127) * -127: 2122383360 < 2^31. */
    enum { C = 65536 };
    int8_t *x = malloc(C), *w = malloc(C);
    int32_t m = 1 << 30, s = 0, acc = 0;
    assert_true(x && w);
    memset(x, -128, C);
    memset(w, -127, C);
    cbr_layer_desc d = {.in_c = C, .in_h = 1, .in_w = 1, .out_c = 1, .kh = 1, .kw = 1,
                        .input_zp = 127, .weights = w, .multiplier = &m, .shift = &s};
    cbr_layer_normalize(&d);
    assert_int_equal(cbr_layer_check(&d), 0);
    cbr_golden_conv_acc(&d, 1, x, &acc);
    assert_int_equal(acc, 2122383360);
    free(x);
    free(w);
}

static void test_conv_acc_bias_overflow_wraps_like_a_32_bit_accumulator(void **state)
{
    (void)state;
    /* NUMERICS.md makes the accumulator int32 and does not bound the bias; the golden model
     * wraps modulo 2^32 (any order of additions gives the same result that way). */
    int8_t x = 10, w = 100;
    int32_t bias = INT32_MAX - 499, m = 1 << 30, s = 0, acc = 0;
    cbr_layer_desc d = {.in_c = 1, .in_h = 1, .in_w = 1, .out_c = 1, .kh = 1, .kw = 1,
                        .weights = &w, .bias = &bias, .multiplier = &m, .shift = &s};
    cbr_layer_normalize(&d);
    cbr_golden_conv_acc(&d, 1, &x, &acc);
    assert_int_equal(acc, INT32_MIN + 500);
}

/* ---- pooling ---------------------------------------------------------------------------- */

/* The PyTorch / ONNX formula in floating point: floor or ceil of (in + pads - k) / s, + 1,
 * minus the last window in ceil mode if it starts in the end padding. */
static uint32_t torch_pool_dim(uint32_t in, uint32_t pa, uint32_t pb, uint32_t k, uint32_t s,
                               bool ceil_mode)
{
    double v = ((double)in + pa + pb - k) / s;
    if (v < 0)
        return 0;
    int64_t out = (int64_t)(ceil_mode ? ceil(v) : floor(v)) + 1;
    if (ceil_mode && (out - 1) * (int64_t)s >= (int64_t)in + pa)
        out--;
    return (uint32_t)out;
}

static void test_pool_out_size_matches_pytorch_formula(void **state)
{
    (void)state;
    /* Known PyTorch results: GoogLeNet's ceil-mode pools 112 -> 56 -> 28 -> 14 -> 7, the last
     * window dropped when it would start in the padding (5, k2 s2 p1 -> 3, not 4), and
     * ResNet's stem pool 112 -> 56. */
    static const struct {
        uint32_t in, k, s, p;
        bool ceil_mode;
        uint32_t want;
    } known[] = {
        {112, 3, 2, 0, true, 56}, {56, 3, 2, 0, true, 28}, {28, 3, 2, 0, true, 14},
        {14, 2, 2, 0, true, 7},   {5, 2, 2, 1, true, 3},   {5, 2, 2, 0, true, 3},
        {5, 2, 2, 0, false, 2},   {112, 3, 2, 1, false, 56}, {7, 7, 1, 0, false, 1},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        cbr_pool p = {.kind = CBR_POOL_MAX, .kh = known[i].k, .kw = 1, .stride_h = known[i].s,
                      .stride_w = 1, .pad_top = known[i].p, .pad_bottom = known[i].p,
                      .ceil_mode = known[i].ceil_mode};
        uint32_t ph, pw;
        cbr_pool_out_size(&p, known[i].in, 1, &ph, &pw);
        if (ph != known[i].want || pw != 1)
            fail_msg("pool in %u k %u s %u p %u ceil %d: %u, want %u", known[i].in, known[i].k,
                     known[i].s, known[i].p, known[i].ceil_mode, ph, known[i].want);
    }
    /* The whole small space, asymmetric pads included. */
    for (uint32_t in = 1; in <= 20; in++)
        for (uint32_t k = 1; k <= 5; k++)
            for (uint32_t s = 1; s <= 4; s++)
                for (uint32_t pa = 0; pa < k; pa++)
                    for (uint32_t pb = 0; pb < k; pb++)
                        for (int cm = 0; cm <= 1; cm++) {
                            cbr_pool p = {.kind = CBR_POOL_AVG, .kh = k, .kw = k,
                                          .stride_h = s, .stride_w = s, .pad_top = pa,
                                          .pad_bottom = pb, .pad_left = pb, .pad_right = pa,
                                          .ceil_mode = cm};
                            uint32_t ph, pw;
                            cbr_pool_out_size(&p, in, in, &ph, &pw);
                            uint32_t wh = torch_pool_dim(in, pa, pb, k, s, cm);
                            uint32_t ww = torch_pool_dim(in, pb, pa, k, s, cm);
                            if (ph != wh || pw != ww)
                                fail_msg("pool in %u k %u s %u pads %u,%u ceil %d: %ux%u, "
                                         "want %ux%u", in, k, s, pa, pb, cm, ph, pw, wh, ww);
                        }
}

/* Pooling by looking at every position of every window. */
static void ref_pool(const cbr_pool *p, uint32_t planes, uint32_t h, uint32_t w,
                     const int8_t *y, int8_t *out, uint32_t ph_n, uint32_t pw_n)
{
    uint32_t sh = p->stride_h ? p->stride_h : p->kh, sw = p->stride_w ? p->stride_w : p->kw;
    for (uint32_t pl = 0; pl < planes; pl++)
        for (uint32_t r = 0; r < ph_n; r++)
            for (uint32_t col = 0; col < pw_n; col++) {
                int best = -1000, count = 0;
                double sum = 0;
                for (uint32_t i = 0; i < p->kh; i++)
                    for (uint32_t j = 0; j < p->kw; j++) {
                        int64_t ih = (int64_t)r * sh + i - p->pad_top;
                        int64_t iw = (int64_t)col * sw + j - p->pad_left;
                        if (ih < 0 || iw < 0 || ih >= h || iw >= w)
                            continue;
                        int v = y[((size_t)pl * h + (size_t)ih) * w + (size_t)iw];
                        best = v > best ? v : best;
                        sum += v;
                        count++;
                    }
                assert_true(count > 0);
                out[((size_t)pl * ph_n + r) * pw_n + col] =
                    (int8_t)(p->kind == CBR_POOL_MAX ? best : round(sum / count));
            }
}

static void check_pool_against_reference(const cbr_pool *p, uint32_t planes, uint32_t h,
                                         uint32_t w, const int8_t *y)
{
    uint32_t ph, pw;
    cbr_pool_out_size(p, h, w, &ph, &pw);
    assert_true(ph >= 1 && pw >= 1);
    int8_t *got = malloc((size_t)planes * ph * pw), *want = malloc((size_t)planes * ph * pw);
    assert_true(got && want);
    cbr_golden_pool(p, 1, planes, h, w, y, got);
    ref_pool(p, planes, h, w, y, want, ph, pw);
    for (size_t i = 0; i < (size_t)planes * ph * pw; i++)
        if (got[i] != want[i])
            fail_msg("%s pool k %ux%u s %ux%u pads t%u l%u b%u r%u ceil %d on %ux%u: out[%zu] = "
                     "%d, want %d",
                     p->kind == CBR_POOL_MAX ? "max" : "avg", p->kh, p->kw, p->stride_h,
                     p->stride_w, p->pad_top, p->pad_left, p->pad_bottom, p->pad_right,
                     p->ceil_mode, h, w, i, got[i], want[i]);
    free(got);
    free(want);
}

static void test_maxpool_padding_never_wins_on_negative_input(void **state)
{
    (void)state;
    seed_rng(__func__);
    enum { H = 7, W = 6 };
    int8_t y[2 * H * W];
    for (size_t i = 0; i < sizeof y; i++)
        y[i] = (int8_t)rand_range(-128, -100);
    memset(y + H * W, -128, H * W); /* the second plane is all -128 */
    cbr_pool p = {.kind = CBR_POOL_MAX, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
                  .pad_top = 2, .pad_left = 1, .pad_bottom = 2, .pad_right = 2,
                  .ceil_mode = true};
    uint32_t ph, pw;
    cbr_pool_out_size(&p, H, W, &ph, &pw);
    int8_t out[2 * H * W];
    cbr_golden_pool(&p, 1, 2, H, W, y, out);
    for (size_t i = 0; i < (size_t)ph * pw; i++) {
        assert_true(out[i] <= -100);            /* not 0, not a zero point */
        assert_int_equal(out[ph * pw + i], -128); /* and not anything above -128 */
    }
    check_pool_against_reference(&p, 2, H, W, y);
    /* The corner window of a 2x2 window with pad 1 sees one real value. */
    cbr_pool corner = {.kind = CBR_POOL_MAX, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2,
                       .pad_top = 1, .pad_left = 1};
    cbr_golden_pool(&corner, 1, 1, H, W, y, out);
    assert_int_equal(out[0], y[0]);
}

static void test_avgpool_rounds_ties_away_from_zero_both_signs(void **state)
{
    (void)state;
    static const struct {
        int8_t a, b;
        int8_t want;
    } pairs[] = {
        {1, 2, 2},     {-1, -2, -2},  {-3, 0, -2},    {3, 0, 2},       {-1, 0, -1},
        {1, 0, 1},     {0, 0, 0},     {-128, -127, -128}, {127, 126, 127}, {-128, 127, -1},
        {5, -4, 1},    {-5, 4, -1},   {2, 2, 2},
    };
    cbr_pool p = {.kind = CBR_POOL_AVG, .kh = 1, .kw = 2, .stride_h = 1, .stride_w = 2};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int8_t y[2] = {pairs[i].a, pairs[i].b}, out = 0;
        cbr_golden_pool(&p, 1, 1, 1, 2, y, &out);
        if (out != pairs[i].want)
            fail_msg("avg(%d, %d) = %d, want %d", pairs[i].a, pairs[i].b, out, pairs[i].want);
    }
    /* Padded positions are not counted: a 2x2 window at the corner with pad 1 sees one
     * value; with pad on one side only it sees two (3 and 4 -> 3.5 -> 4). */
    int8_t y[4] = {-7, 4, 3, 4}, out[4];
    cbr_pool corner = {.kind = CBR_POOL_AVG, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2,
                       .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    cbr_golden_pool(&corner, 1, 1, 2, 2, y, out);
    assert_int_equal(out[0], -7);
    assert_int_equal(out[1], 4);
    assert_int_equal(out[2], 3);
    assert_int_equal(out[3], 4);
    cbr_pool top = {.kind = CBR_POOL_AVG, .kh = 2, .kw = 2, .stride_h = 2, .stride_w = 2,
                    .pad_top = 1, .pad_bottom = 1};
    cbr_golden_pool(&top, 1, 1, 2, 2, y, out);
    assert_int_equal(out[0], -2); /* (-7 + 4) / 2 = -1.5 */
    assert_int_equal(out[1], 4);  /* (3 + 4) / 2 = 3.5 */
}

static void test_pool_matches_reference_on_random_windows(void **state)
{
    (void)state;
    seed_rng(__func__);
    enum { MAXHW = 13 };
    int8_t y[3 * MAXHW * MAXHW];
    for (int iter = 0; iter < 3000; iter++) {
        cbr_pool p = {0};
        p.kind = rand_range(0, 1) ? CBR_POOL_MAX : CBR_POOL_AVG;
        p.kh = (uint32_t)rand_range(1, 5);
        p.kw = (uint32_t)rand_range(1, 5);
        p.stride_h = (uint32_t)rand_range(0, 3); /* 0: the window */
        p.stride_w = (uint32_t)rand_range(0, 3);
        p.pad_top = (uint32_t)rand_range(0, p.kh - 1);
        p.pad_bottom = (uint32_t)rand_range(0, p.kh - 1);
        p.pad_left = (uint32_t)rand_range(0, p.kw - 1);
        p.pad_right = (uint32_t)rand_range(0, p.kw - 1);
        p.ceil_mode = rand_range(0, 1);
        uint32_t h = (uint32_t)rand_range(1, MAXHW), w = (uint32_t)rand_range(1, MAXHW);
        uint32_t ph, pw;
        cbr_pool_out_size(&p, h, w, &ph, &pw);
        if (ph < 1 || pw < 1)
            continue;
        for (size_t i = 0; i < 3 * (size_t)h * w; i++)
            y[i] = (int8_t)rand_range(-128, 127);
        check_pool_against_reference(&p, 3, h, w, y);
    }
}

static void test_gavg_averages_the_whole_plane(void **state)
{
    (void)state;
    cbr_pool p = {.kind = CBR_POOL_GAVG};
    uint32_t ph, pw;
    cbr_pool_out_size(&p, 5, 9, &ph, &pw);
    assert_int_equal(ph, 1);
    assert_int_equal(pw, 1);

    static const struct {
        int8_t v[4];
        int8_t want;
    } planes[] = {
        {{1, 2, 0, 0}, 1},          /* 0.75 */
        {{1, 1, 0, 0}, 1},          /* 0.5 */
        {{-1, -1, 0, 0}, -1},       /* -0.5 */
        {{-1, 0, 0, 0}, 0},         /* -0.25 */
        {{-6, 0, 0, 0}, -2},        /* -1.5 */
        {{127, 127, 127, 127}, 127}, {{-128, -128, -128, -128}, -128},
    };
    int8_t y[sizeof planes / sizeof planes[0] * 4], out[sizeof planes / sizeof planes[0]];
    for (size_t i = 0; i < sizeof planes / sizeof planes[0]; i++)
        memcpy(y + 4 * i, planes[i].v, 4);
    cbr_golden_pool(&p, 1, sizeof planes / sizeof planes[0], 2, 2, y, out);
    for (size_t i = 0; i < sizeof planes / sizeof planes[0]; i++)
        if (out[i] != planes[i].want)
            fail_msg("gavg plane %zu = %d, want %d", i, out[i], planes[i].want);

    /* 3x3: sum 13 / 9 = 1.44 -> 1; batch of 2 planes, 2 x 1 layout. */
    int8_t y9[18] = {1, 2, 3, 4, 5, -2, 0, 0, 0, -9, -9, -9, -9, 0, 0, 0, 0, -9};
    int8_t o9[2];
    cbr_golden_pool(&p, 2, 1, 3, 3, y9, o9);
    assert_int_equal(o9[0], 1);
    assert_int_equal(o9[1], -5); /* -45 / 9 = -5 */
}

/* ---- the whole layer -------------------------------------------------------------------- */

static void test_golden_layer_composes_conv_requant_and_pool(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int iter = 0; iter < 200; iter++) {
        struct conv_case c;
        random_conv(&c);
        cbr_layer_desc *d = &c.d;
        switch (iter % 4) {
        case 0:
            d->act = CBR_ACT_NONE;
            break;
        case 1:
            d->act = CBR_ACT_RELU;
            break;
        case 2:
            d->act = CBR_ACT_LEAKY;
            d->neg_multiplier = c.nm;
            d->neg_shift = c.ns;
            break;
        default:
            d->act = CBR_ACT_RELU6;
            d->has_clamp = true;
            d->clamp_min = -128;
            d->clamp_max = d->output_zp + (int32_t)rand_range(0, 127 - d->output_zp);
            break;
        }
        uint32_t oh, ow;
        cbr_conv_out_size(d, &oh, &ow);
        d->pool.kind = (cbr_pool_kind)(iter / 4 % 4);
        if (d->pool.kind == CBR_POOL_MAX || d->pool.kind == CBR_POOL_AVG) {
            d->pool.kh = (uint32_t)rand_range(1, oh < 3 ? oh : 3);
            d->pool.kw = (uint32_t)rand_range(1, ow < 3 ? ow : 3);
            d->pool.pad_top = (uint32_t)rand_range(0, d->pool.kh - 1);
            d->pool.pad_left = (uint32_t)rand_range(0, d->pool.kw - 1);
            d->pool.ceil_mode = rand_range(0, 1);
        }
        cbr_layer_normalize(d);
        if (cbr_layer_check(d) != 0)
            fail_msg("iteration %d: a valid layer was rejected: %s", iter, cbr_errmsg(NULL));

        /* The reference composition: double conv, reference requant, reference pool. */
        uint32_t roh, row;
        double *acc = ref_conv(&c, &roh, &row);
        int32_t lo, hi;
        assert_int_equal(cbr_act_range(d, &lo, &hi), 0);
        size_t conv_count = (size_t)c.n * d->out_c * oh * ow;
        int8_t *y = malloc(conv_count);
        assert_non_null(y);
        for (size_t i = 0; i < conv_count; i++) {
            size_t o = i / ((size_t)oh * ow) % d->out_c;
            int32_t a = (int32_t)acc[i];
            bool neg = d->act == CBR_ACT_LEAKY && a < 0;
            int64_t v = (int64_t)ref_mbqm(a, neg ? c.nm[o] : c.m[o], neg ? c.ns[o] : c.s[o]) +
                        d->output_zp;
            y[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        }
        uint32_t ph = oh, pw = ow;
        if (d->pool.kind == CBR_POOL_MAX || d->pool.kind == CBR_POOL_AVG) {
            ph = torch_pool_dim(oh, d->pool.pad_top, d->pool.pad_bottom, d->pool.kh,
                                d->pool.stride_h, d->pool.ceil_mode);
            pw = torch_pool_dim(ow, d->pool.pad_left, d->pool.pad_right, d->pool.kw,
                                d->pool.stride_w, d->pool.ceil_mode);
        } else if (d->pool.kind == CBR_POOL_GAVG) {
            ph = pw = 1;
        }
        size_t out_count = (size_t)c.n * d->out_c * ph * pw;
        int8_t *want = malloc(out_count), *got = malloc(out_count);
        assert_true(want && got);
        if (d->pool.kind == CBR_POOL_NONE) {
            memcpy(want, y, out_count);
        } else if (d->pool.kind == CBR_POOL_GAVG) {
            for (size_t pl = 0; pl < (size_t)c.n * d->out_c; pl++) {
                double sum = 0;
                for (size_t k = 0; k < (size_t)oh * ow; k++)
                    sum += y[pl * oh * ow + k];
                want[pl] = (int8_t)round(sum / ((double)oh * ow));
            }
        } else {
            ref_pool(&d->pool, c.n * d->out_c, oh, ow, y, want, ph, pw);
        }

        assert_int_equal(cbr_golden_layer(d, c.n, c.x, got), 0);
        for (size_t i = 0; i < out_count; i++)
            if (got[i] != want[i])
                fail_msg("iteration %d (act %d pool %d): out[%zu] = %d, want %d", iter, d->act,
                         d->pool.kind, i, got[i], want[i]);
        free(acc);
        free(y);
        free(want);
        free(got);
        free_case(&c);
    }
}

/* ---- cbr_layer_normalize and cbr_layer_check -------------------------------------------- */

enum { FX_C = 4, FX_O = 4, FX_K = 3 };

/* A small valid layer to break one rule at a time. */
struct fixture {
    cbr_layer_desc d;
    int8_t w[FX_O * FX_C * FX_K * FX_K];
    int32_t m[FX_O], s[FX_O], nm[FX_O], ns[FX_O];
};

static void make_fixture(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    memset(f->w, 1, sizeof f->w);
    for (int o = 0; o < FX_O; o++) {
        f->m[o] = f->nm[o] = 1 << 30;
        f->s[o] = f->ns[o] = -8;
    }
    cbr_layer_desc *d = &f->d;
    d->in_c = FX_C;
    d->out_c = FX_O;
    d->in_h = d->in_w = 8;
    d->kh = d->kw = FX_K;
    d->pad_top = d->pad_left = d->pad_bottom = d->pad_right = 1;
    d->weights = f->w;
    d->multiplier = f->m;
    d->shift = f->s;
    cbr_layer_normalize(d);
}

/* cbr_layer_check(d) fails with code and a message naming field. */
#define expect_reject(d, code, field) expect_reject_at(d, code, field, __LINE__)

static void expect_reject_at(const cbr_layer_desc *d, int code, const char *field, int line)
{
    int rc = cbr_layer_check(d);
    const char *msg = cbr_errmsg(NULL);
    if (rc != code)
        fail_msg("line %d: cbr_layer_check = %d (%s), want %d; message: %s", line, rc,
                 cbr_strerror(rc), code, msg);
    if (!strstr(msg, field))
        fail_msg("line %d: the message does not name '%s': %s", line, field, msg);
}

static void test_normalize_turns_zeros_into_defaults(void **state)
{
    (void)state;
    cbr_layer_desc d = {0};
    d.pool.kind = CBR_POOL_MAX;
    d.pool.kh = 3;
    d.pool.kw = 2;
    cbr_layer_normalize(&d);
    assert_int_equal(d.stride_h, 1);
    assert_int_equal(d.stride_w, 1);
    assert_int_equal(d.dilation_h, 1);
    assert_int_equal(d.dilation_w, 1);
    assert_int_equal(d.groups, 1);
    assert_int_equal(d.pool.stride_h, 3);
    assert_int_equal(d.pool.stride_w, 2);

    cbr_layer_desc e = {.stride_h = 2, .stride_w = 3, .dilation_h = 4, .dilation_w = 5,
                        .groups = 6, .pool = {.kind = CBR_POOL_AVG, .kh = 3, .kw = 3,
                                              .stride_h = 1, .stride_w = 2}};
    cbr_layer_normalize(&e);
    assert_int_equal(e.stride_h, 2);
    assert_int_equal(e.stride_w, 3);
    assert_int_equal(e.dilation_h, 4);
    assert_int_equal(e.dilation_w, 5);
    assert_int_equal(e.groups, 6);
    assert_int_equal(e.pool.stride_h, 1);
    assert_int_equal(e.pool.stride_w, 2);

    cbr_layer_desc g = {.pool = {.kind = CBR_POOL_GAVG}};
    cbr_layer_normalize(&g);
    assert_int_equal(g.pool.kh, 0); /* the plane is not known here */
    assert_int_equal(g.pool.stride_h, 0);
}

static void test_check_accepts_valid_layers_at_the_limits(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    assert_int_equal(cbr_layer_check(&f.d), 0);

    f.w[0] = -127;
    f.w[1] = 127;
    f.m[0] = 0;
    f.m[1] = INT32_MAX;
    f.m[2] = 1 << 30;
    f.s[0] = -31;
    f.s[1] = 30;
    f.d.bias = NULL;
    f.d.input_zp = -128;
    f.d.output_zp = 127;
    f.d.act = CBR_ACT_RELU; /* range [127, 127]: one value, not empty */
    assert_int_equal(cbr_layer_check(&f.d), 0);

    f.d.act = CBR_ACT_RELU6;
    f.d.has_clamp = true;
    f.d.clamp_min = f.d.clamp_max = 127;
    assert_int_equal(cbr_layer_check(&f.d), 0);

    f.d.act = CBR_ACT_LEAKY;
    f.d.has_clamp = false;
    f.d.neg_multiplier = f.nm;
    f.d.neg_shift = f.ns;
    f.d.layout = CBR_LAYOUT_NHWC;
    f.d.pool.kind = CBR_POOL_GAVG; /* needs no window */
    assert_int_equal(cbr_layer_check(&f.d), 0);

    /* Depthwise; a 1x1 output exactly. */
    make_fixture(&f);
    f.d.groups = FX_C;
    f.d.in_h = f.d.in_w = 1;
    assert_int_equal(cbr_layer_check(&f.d), 0);
}

static void test_check_rejects_null_desc(void **state)
{
    (void)state;
    expect_reject(NULL, CBR_EINVAL, "NULL");
}

static void test_check_rejects_zero_sizes(void **state)
{
    (void)state;
    static const char *const names[] = {"in_c", "in_h", "in_w", "out_c"};
    for (int i = 0; i < 4; i++) {
        struct fixture f;
        make_fixture(&f);
        uint32_t *field[] = {&f.d.in_c, &f.d.in_h, &f.d.in_w, &f.d.out_c};
        *field[i] = 0;
        expect_reject(&f.d, CBR_EINVAL, names[i]);
    }
}

static void test_check_rejects_sizes_above_max_dim_with_erange(void **state)
{
    (void)state;
    static const char *const names[] = {"in_c", "in_h", "in_w", "out_c"};
    for (int i = 0; i < 4; i++) {
        struct fixture f;
        make_fixture(&f);
        uint32_t *field[] = {&f.d.in_c, &f.d.in_h, &f.d.in_w, &f.d.out_c};
        *field[i] = CBR_MAX_DIM + 1;
        expect_reject(&f.d, CBR_ERANGE, names[i]);
        expect_reject(&f.d, CBR_ERANGE, "65537");
    }
}

static void test_check_rejects_zero_kernel(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.kh = 0;
    expect_reject(&f.d, CBR_EINVAL, "kh");
    make_fixture(&f);
    f.d.kw = 0;
    expect_reject(&f.d, CBR_EINVAL, "kw");
}

static void test_check_rejects_kernel_above_max_kernel_with_erange(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.kh = CBR_MAX_KERNEL + 1;
    expect_reject(&f.d, CBR_ERANGE, "kh = 12 exceeds the largest kernel, 11");
    make_fixture(&f);
    f.d.kw = 100;
    expect_reject(&f.d, CBR_ERANGE, "kw = 100");
}

static void test_check_rejects_zero_strides_dilations_and_groups(void **state)
{
    (void)state;
    static const char *const names[] = {"stride_h", "stride_w", "dilation_h", "dilation_w",
                                        "groups"};
    for (int i = 0; i < 5; i++) {
        struct fixture f;
        make_fixture(&f);
        uint32_t *field[] = {&f.d.stride_h, &f.d.stride_w, &f.d.dilation_h, &f.d.dilation_w,
                             &f.d.groups};
        *field[i] = 0; /* a desc that was not normalized */
        expect_reject(&f.d, CBR_EINVAL, names[i]);
    }
}

static void test_check_rejects_strides_and_dilations_above_max_dim(void **state)
{
    (void)state;
    static const char *const names[] = {"stride_h", "stride_w", "dilation_h", "dilation_w"};
    for (int i = 0; i < 4; i++) {
        struct fixture f;
        make_fixture(&f);
        uint32_t *field[] = {&f.d.stride_h, &f.d.stride_w, &f.d.dilation_h, &f.d.dilation_w};
        *field[i] = CBR_MAX_DIM + 1;
        expect_reject(&f.d, CBR_ERANGE, names[i]);
    }
}

static void test_check_rejects_pads_above_max_dim(void **state)
{
    (void)state;
    static const char *const names[] = {"pad_top", "pad_left", "pad_bottom", "pad_right"};
    for (int i = 0; i < 4; i++) {
        struct fixture f;
        make_fixture(&f);
        uint32_t *field[] = {&f.d.pad_top, &f.d.pad_left, &f.d.pad_bottom, &f.d.pad_right};
        *field[i] = UINT32_MAX;
        expect_reject(&f.d, CBR_ERANGE, names[i]);
    }
}

static void test_check_rejects_groups_not_dividing_in_c(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.in_c = 6;
    f.d.groups = 4; /* divides out_c = 4 */
    expect_reject(&f.d, CBR_EINVAL, "groups = 4 does not divide in_c = 6");
}

static void test_check_rejects_groups_not_dividing_out_c(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.groups = 2;
    f.d.out_c = 3;
    expect_reject(&f.d, CBR_EINVAL, "out_c");
}

static void test_check_rejects_zero_points_outside_int8(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.input_zp = 128;
    expect_reject(&f.d, CBR_EINVAL, "input_zp");
    make_fixture(&f);
    f.d.output_zp = -129;
    expect_reject(&f.d, CBR_EINVAL, "output_zp");
}

static void test_check_rejects_invalid_enum_values(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.act = (cbr_act)4;
    expect_reject(&f.d, CBR_EINVAL, "act");
    make_fixture(&f);
    f.d.act = (cbr_act)-1;
    expect_reject(&f.d, CBR_EINVAL, "act");
    make_fixture(&f);
    f.d.pool.kind = (cbr_pool_kind)4;
    expect_reject(&f.d, CBR_EINVAL, "pool.kind");
    make_fixture(&f);
    f.d.layout = (cbr_layout)2;
    expect_reject(&f.d, CBR_EINVAL, "layout");
}

static void test_check_rejects_clamp_outside_int8(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.has_clamp = true;
    f.d.clamp_min = -129;
    f.d.clamp_max = 0;
    expect_reject(&f.d, CBR_EINVAL, "clamp_min");
    f.d.clamp_min = 0;
    f.d.clamp_max = 128;
    expect_reject(&f.d, CBR_EINVAL, "clamp_max");
    f.d.has_clamp = false; /* ignored without has_clamp */
    assert_int_equal(cbr_layer_check(&f.d), 0);
}

static void test_check_rejects_clamp_min_above_clamp_max(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.has_clamp = true;
    f.d.clamp_min = 10;
    f.d.clamp_max = 9;
    expect_reject(&f.d, CBR_EINVAL, "clamp_min = 10 is greater than clamp_max = 9");
}

static void test_check_rejects_relu6_without_clamp(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.act = CBR_ACT_RELU6;
    expect_reject(&f.d, CBR_EINVAL,
                  "relu6 needs an explicit clamp in integer mode: act_max = y_zp + "
                  "round(6 / y_scale); see cbr_relu6_range");
}

static void test_check_rejects_empty_activation_range(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.act = CBR_ACT_RELU;
    f.d.output_zp = 50;
    f.d.has_clamp = true;
    f.d.clamp_min = -128;
    f.d.clamp_max = 49;
    expect_reject(&f.d, CBR_EINVAL, "clamp_max");
    expect_reject(&f.d, CBR_EINVAL, "empty");
}

static void test_check_rejects_null_weights(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.weights = NULL;
    expect_reject(&f.d, CBR_EINVAL, "weights");
}

static void test_check_rejects_weight_minus_128_naming_its_index(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    /* o = 2, c = 1, kh = 0, kw = 2 in O x C x KH x KW */
    f.w[((2 * FX_C + 1) * FX_K + 0) * FX_K + 2] = -128;
    expect_reject(&f.d, CBR_EINVAL, "weights[o=2, c=1, kh=0, kw=2]");
}

static void test_check_rejects_null_multiplier_or_shift(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.multiplier = NULL;
    expect_reject(&f.d, CBR_EINVAL, "multiplier");
    make_fixture(&f);
    f.d.shift = NULL;
    expect_reject(&f.d, CBR_EINVAL, "shift");
}

static void test_check_rejects_multiplier_outside_range_naming_the_channel(void **state)
{
    (void)state;
    static const int32_t bad[] = {1, -1, (1 << 30) - 1, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fixture f;
        make_fixture(&f);
        f.m[3] = bad[i];
        expect_reject(&f.d, CBR_EINVAL, "multiplier[3]");
    }
}

static void test_check_rejects_shift_outside_range_naming_the_channel(void **state)
{
    (void)state;
    static const int32_t bad[] = {-32, 31, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fixture f;
        make_fixture(&f);
        f.s[1] = bad[i];
        expect_reject(&f.d, CBR_EINVAL, "shift[1]");
    }
}

static void test_check_rejects_leaky_without_the_negative_pair(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.act = CBR_ACT_LEAKY;
    f.d.neg_shift = f.ns;
    expect_reject(&f.d, CBR_EINVAL, "neg_multiplier");
    f.d.neg_multiplier = f.nm;
    f.d.neg_shift = NULL;
    expect_reject(&f.d, CBR_EINVAL, "neg_shift");
}

static void test_check_rejects_leaky_negative_pair_outside_range(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.act = CBR_ACT_LEAKY;
    f.d.neg_multiplier = f.nm;
    f.d.neg_shift = f.ns;
    f.nm[2] = 12345;
    expect_reject(&f.d, CBR_EINVAL, "neg_multiplier[2]");
    f.nm[2] = 1 << 30;
    f.ns[0] = 31;
    expect_reject(&f.d, CBR_EINVAL, "neg_shift[0]");
    f.d.act = CBR_ACT_NONE; /* the pair is ignored for other activations */
    assert_int_equal(cbr_layer_check(&f.d), 0);
}

static void test_check_rejects_reduction_above_max_with_erange(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.in_c = 8192;
    f.d.out_c = 8192; /* (8192 / 1) * 3 * 3 = 73728 */
    f.d.weights = NULL; /* never read: the size is rejected first */
    expect_reject(&f.d, CBR_ERANGE, "reduction length (C/G)*KH*KW");
    expect_reject(&f.d, CBR_ERANGE, "73728 exceeds 65536");
    /* Groups shorten it: 8192 / 2 * 9 = 36864 is fine (until the NULL weights). */
    f.d.groups = 2;
    expect_reject(&f.d, CBR_EINVAL, "weights");
}

static void test_check_rejects_empty_conv_output(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.in_h = 2;
    f.d.pad_top = f.d.pad_bottom = 0; /* 2 < 3 */
    expect_reject(&f.d, CBR_EINVAL, "OH = 0");
    expect_reject(&f.d, CBR_EINVAL, "in_h 2");
    make_fixture(&f);
    f.d.in_w = 4;
    f.d.dilation_w = 3; /* 4 + 2 < 3 * 2 + 1 */
    expect_reject(&f.d, CBR_EINVAL, "OW = 0");
    expect_reject(&f.d, CBR_EINVAL, "dilation_w*(kw-1)+1 = 7");
}

static void test_check_rejects_zero_pool_window(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.pool = (cbr_pool){.kind = CBR_POOL_MAX, .kh = 0, .kw = 2, .stride_h = 1, .stride_w = 2};
    expect_reject(&f.d, CBR_EINVAL, "pool.kh");
    f.d.pool = (cbr_pool){.kind = CBR_POOL_AVG, .kh = 2, .kw = 0, .stride_h = 2, .stride_w = 1};
    expect_reject(&f.d, CBR_EINVAL, "pool.kw");
}

static void test_check_rejects_zero_pool_stride(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f);
    f.d.pool = (cbr_pool){.kind = CBR_POOL_MAX, .kh = 2, .kw = 2, .stride_h = 0, .stride_w = 2};
    expect_reject(&f.d, CBR_EINVAL, "pool.stride_h");
    cbr_layer_normalize(&f.d);
    assert_int_equal(cbr_layer_check(&f.d), 0);
}

static void test_check_rejects_pool_pad_not_below_the_window(void **state)
{
    (void)state;
    static const char *const names[] = {"pool.pad_top", "pool.pad_left", "pool.pad_bottom",
                                        "pool.pad_right"};
    for (int i = 0; i < 4; i++) {
        struct fixture f;
        make_fixture(&f);
        f.d.pool = (cbr_pool){.kind = CBR_POOL_MAX, .kh = 2, .kw = 3, .stride_h = 2,
                              .stride_w = 2};
        uint32_t *field[] = {&f.d.pool.pad_top, &f.d.pool.pad_left, &f.d.pool.pad_bottom,
                             &f.d.pool.pad_right};
        *field[i] = i % 2 ? 3 : 2; /* equal to the window */
        expect_reject(&f.d, CBR_EINVAL, names[i]);
        *field[i] -= 1;
        assert_int_equal(cbr_layer_check(&f.d), 0);
    }
}

static void test_check_rejects_empty_pool_output(void **state)
{
    (void)state;
    struct fixture f;
    make_fixture(&f); /* conv output 8 x 8 */
    f.d.pool = (cbr_pool){.kind = CBR_POOL_AVG, .kh = 9, .kw = 2, .stride_h = 1, .stride_w = 1};
    expect_reject(&f.d, CBR_EINVAL, "pooled output height");
    f.d.pool.pad_top = 1; /* 8 + 1 = 9 fits */
    assert_int_equal(cbr_layer_check(&f.d), 0);
    f.d.pool = (cbr_pool){.kind = CBR_POOL_MAX, .kh = 1, .kw = 10, .stride_h = 1, .stride_w = 1,
                          .pad_right = 1};
    expect_reject(&f.d, CBR_EINVAL, "pooled output width");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srdhm_int32_min_squared_saturates),
        cmocka_unit_test(test_srdhm_rounds_positive_ties_up_and_negative_ties_toward_zero),
        cmocka_unit_test(test_srdhm_matches_reference_on_edges_and_random),
        cmocka_unit_test(test_rdbypot_rounds_ties_away_from_zero),
        cmocka_unit_test(test_rdbypot_matches_reference_for_every_exponent),
        cmocka_unit_test(test_mbqm_matches_reference_for_every_shift),
        cmocka_unit_test(test_mbqm_is_within_one_step_of_the_exact_product),
        cmocka_unit_test(test_mbqm_saturates_the_left_shift),
        cmocka_unit_test(test_round_half_away_rounds_ties_away_from_zero),
        cmocka_unit_test(test_act_range_follows_the_numerics_table),
        cmocka_unit_test(test_requant_extremes_do_not_overflow),
        cmocka_unit_test(test_requant_matches_reference_for_each_activation),
        cmocka_unit_test(test_conv_acc_matches_double_reference_on_random_shapes),
        cmocka_unit_test(test_conv_acc_largest_reduction_does_not_overflow),
        cmocka_unit_test(test_conv_acc_bias_overflow_wraps_like_a_32_bit_accumulator),
        cmocka_unit_test(test_pool_out_size_matches_pytorch_formula),
        cmocka_unit_test(test_maxpool_padding_never_wins_on_negative_input),
        cmocka_unit_test(test_avgpool_rounds_ties_away_from_zero_both_signs),
        cmocka_unit_test(test_pool_matches_reference_on_random_windows),
        cmocka_unit_test(test_gavg_averages_the_whole_plane),
        cmocka_unit_test(test_golden_layer_composes_conv_requant_and_pool),
        cmocka_unit_test(test_normalize_turns_zeros_into_defaults),
        cmocka_unit_test(test_check_accepts_valid_layers_at_the_limits),
        cmocka_unit_test(test_check_rejects_null_desc),
        cmocka_unit_test(test_check_rejects_zero_sizes),
        cmocka_unit_test(test_check_rejects_sizes_above_max_dim_with_erange),
        cmocka_unit_test(test_check_rejects_zero_kernel),
        cmocka_unit_test(test_check_rejects_kernel_above_max_kernel_with_erange),
        cmocka_unit_test(test_check_rejects_zero_strides_dilations_and_groups),
        cmocka_unit_test(test_check_rejects_strides_and_dilations_above_max_dim),
        cmocka_unit_test(test_check_rejects_pads_above_max_dim),
        cmocka_unit_test(test_check_rejects_groups_not_dividing_in_c),
        cmocka_unit_test(test_check_rejects_groups_not_dividing_out_c),
        cmocka_unit_test(test_check_rejects_zero_points_outside_int8),
        cmocka_unit_test(test_check_rejects_invalid_enum_values),
        cmocka_unit_test(test_check_rejects_clamp_outside_int8),
        cmocka_unit_test(test_check_rejects_clamp_min_above_clamp_max),
        cmocka_unit_test(test_check_rejects_relu6_without_clamp),
        cmocka_unit_test(test_check_rejects_empty_activation_range),
        cmocka_unit_test(test_check_rejects_null_weights),
        cmocka_unit_test(test_check_rejects_weight_minus_128_naming_its_index),
        cmocka_unit_test(test_check_rejects_null_multiplier_or_shift),
        cmocka_unit_test(test_check_rejects_multiplier_outside_range_naming_the_channel),
        cmocka_unit_test(test_check_rejects_shift_outside_range_naming_the_channel),
        cmocka_unit_test(test_check_rejects_leaky_without_the_negative_pair),
        cmocka_unit_test(test_check_rejects_leaky_negative_pair_outside_range),
        cmocka_unit_test(test_check_rejects_reduction_above_max_with_erange),
        cmocka_unit_test(test_check_rejects_empty_conv_output),
        cmocka_unit_test(test_check_rejects_zero_pool_window),
        cmocka_unit_test(test_check_rejects_zero_pool_stride),
        cmocka_unit_test(test_check_rejects_pool_pad_not_below_the_window),
        cmocka_unit_test(test_check_rejects_empty_pool_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
