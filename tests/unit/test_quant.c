/*
 * test_quant.c - host-side quantization: quantize, QuantizeMultiplier, the relu6 range and
 * BN folding, ending with a float conv + BN + activation against the folded int8 layer run on
 * the golden model, within a derived quantization error bound.
 *
 * Randomized tests print their seed; CBR_SEED=<seed> replays them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
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

static int64_t rand_range(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(next_u64() % span);
}

/* Uniform in [lo, hi). */
static double rand_uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64() >> 11) * 0x1p-53;
}

/* rc is the failure code and cbr_errmsg(NULL) names what. */
#define expect_fail(rc, code, what) expect_fail_at(rc, code, what, __LINE__)

static void expect_fail_at(int rc, int code, const char *what, int line)
{
    const char *msg = cbr_errmsg(NULL);
    if (rc != code)
        fail_msg("line %d: returned %d, want %d; message: %s", line, rc, code, msg);
    if (!strstr(msg, what))
        fail_msg("line %d: the message does not mention '%s': %s", line, what, msg);
}

/* ---- quantize / dequantize -------------------------------------------------------------- */

static void test_quantize_rounds_half_away_from_zero_and_saturates(void **state)
{
    (void)state;
    assert_int_equal(cbr_quantize(0.5f, 1.0f, 0), 1);
    assert_int_equal(cbr_quantize(-0.5f, 1.0f, 0), -1);
    assert_int_equal(cbr_quantize(2.5f, 1.0f, 0), 3);
    assert_int_equal(cbr_quantize(-2.5f, 1.0f, 0), -3);
    assert_int_equal(cbr_quantize(0.49f, 1.0f, 0), 0);
    assert_int_equal(cbr_quantize(0.25f, 0.5f, 10), 11);    /* 0.5 -> 1, + 10 */
    assert_int_equal(cbr_quantize(-0.25f, 0.5f, -10), -11); /* -0.5 -> -1, - 10 */
    assert_int_equal(cbr_quantize(0.0f, 0.1f, -128), -128);
    assert_int_equal(cbr_quantize(1000.0f, 1.0f, 0), 127);
    assert_int_equal(cbr_quantize(-1000.0f, 1.0f, 0), -128);
    assert_int_equal(cbr_quantize(126.5f, 1.0f, 0), 127);
    assert_int_equal(cbr_quantize(-127.5f, 1.0f, 0), -128);
    assert_int_equal(cbr_quantize(-1.0f, 1.0f, 127), 126);
    assert_int_equal(cbr_quantize(3e38f, 1e-38f, 0), 127); /* no float overflow on the way */
    assert_int_equal(cbr_quantize(INFINITY, 1.0f, 0), 127);
    assert_int_equal(cbr_quantize(-INFINITY, 1.0f, 0), -128);
}

static void test_quantize_bad_input_gives_the_zero_point_and_a_message(void **state)
{
    (void)state;
    /* cbr_quantize has no error return: the real value 0 and a message. */
    assert_int_equal(cbr_quantize(NAN, 1.0f, 7), 7);
    assert_non_null(strstr(cbr_errmsg(NULL), "NaN"));
    assert_int_equal(cbr_quantize(1.0f, 0.0f, 7), 7);
    assert_non_null(strstr(cbr_errmsg(NULL), "scale"));
    assert_int_equal(cbr_quantize(1.0f, -1.0f, 200), 127);
    assert_int_equal(cbr_quantize(1.0f, NAN, -3), -3);
    assert_int_equal(cbr_quantize(1.0f, INFINITY, -3), -3);
}

static void test_dequantize_inverts_quantize_within_half_a_step(void **state)
{
    (void)state;
    seed_rng(__func__);
    assert_true(cbr_dequantize(5, 0.5f, 3) == 1.0f);
    assert_true(cbr_dequantize(-128, 0.25f, 127) == -63.75f);
    assert_true(cbr_dequantize(0, 2.0f, 0) == 0.0f);
    for (int k = 0; k < 100000; k++) {
        float scale = (float)ldexp(rand_uniform(1, 2), (int)rand_range(-20, 5));
        int32_t zp = (int32_t)rand_range(-128, 127);
        /* inside the representable range, so that nothing saturates */
        float v = (float)(scale * rand_uniform(-128.0 - zp, 127.0 - zp));
        int8_t q = cbr_quantize(v, scale, zp);
        double back = cbr_dequantize(q, scale, zp);
        /* half a step, plus the rounding of the result to float */
        if (fabs(back - v) > scale * 0.5 + fabs(back) * 0x1p-23)
            fail_msg("quantize(%a, %a, %d) = %d comes back as %a", (double)v, (double)scale, zp,
                     q, back);
    }
}

/* ---- QuantizeMultiplier ----------------------------------------------------------------- */

static void expect_qm(double m, int32_t want_m0, int32_t want_shift, int line)
{
    int32_t m0 = -1, shift = -1;
    int rc = cbr_quantize_multiplier(m, &m0, &shift);
    if (rc != 0 || m0 != want_m0 || shift != want_shift)
        fail_msg("line %d: QuantizeMultiplier(%a) = %d: (%d, %d), want (%d, %d)", line, m, rc,
                 m0, shift, want_m0, want_shift);
}
#define EXPECT_QM(m, m0, shift) expect_qm(m, m0, shift, __LINE__)

static void test_quantize_multiplier_zero_and_tiny_give_zero_pair(void **state)
{
    (void)state;
    EXPECT_QM(0.0, 0, 0);
    EXPECT_QM(-0.0, 0, 0);
    EXPECT_QM(0x1p-33, 0, 0);       /* frexp: 0.5 * 2^-32 */
    EXPECT_QM(0x1.fffffp-33, 0, 0); /* just below 2^-32, does not round up */
    EXPECT_QM(1e-300, 0, 0);
    EXPECT_QM(DBL_TRUE_MIN, 0, 0);
    /* the smallest non-zero results */
    EXPECT_QM(0x1p-32, 1 << 30, -31);
    EXPECT_QM(ldexp(1.0 - 0x1p-40, -32), 1 << 30, -31); /* rounds up into range */
}

static void test_quantize_multiplier_rounding_up_to_2_31_renormalizes(void **state)
{
    (void)state;
    EXPECT_QM(1.0 - 0x1p-33, 1 << 30, 1); /* q * 2^31 = 2^31 - 0.25 */
    EXPECT_QM(1.0 - 0x1p-32, 1 << 30, 1); /* 2^31 - 0.5: the tie rounds away, up */
    EXPECT_QM(1.0 - 0x1.8p-32, INT32_MAX, 0); /* 2^31 - 0.75 */
    EXPECT_QM(1.0 - 0x1p-31, INT32_MAX, 0);   /* exactly 2^31 - 1 */
    EXPECT_QM(ldexp(1.0 - 0x1p-33, -10), 1 << 30, -9);
    EXPECT_QM(0.75 + 0x1p-33, 3 << 29, 0);  /* 0.75 * 2^31 + 0.25 -> down */
    EXPECT_QM(0.75 + 0x1p-32, (3 << 29) + 1, 0); /* + 0.5 -> up */
}

static void test_quantize_multiplier_huge_saturates(void **state)
{
    (void)state;
    EXPECT_QM(ldexp(1.0 - 0x1p-31, 30), INT32_MAX, 30); /* the largest in range */
    EXPECT_QM(ldexp(0.75, 30), 3 << 29, 30);
    EXPECT_QM(ldexp(1.0 - 0x1p-33, 30), INT32_MAX, 30); /* rounds up to shift 31 */
    EXPECT_QM(0x1p30, INT32_MAX, 30);
    EXPECT_QM(1e300, INT32_MAX, 30);
    EXPECT_QM(DBL_MAX, INT32_MAX, 30);
}

static void test_quantize_multiplier_exact_powers_of_two(void **state)
{
    (void)state;
    for (int k = -32; k <= 29; k++) {
        int32_t m0, shift;
        assert_int_equal(cbr_quantize_multiplier(ldexp(1.0, k), &m0, &shift), 0);
        if (m0 != (1 << 30) || shift != k + 1)
            fail_msg("QuantizeMultiplier(2^%d) = (%d, %d), want (2^30, %d)", k, m0, shift,
                     k + 1);
        assert_true(ldexp(m0, shift - 31) == ldexp(1.0, k)); /* reconstructs exactly */
    }
}

static void test_quantize_multiplier_reconstruction_error_is_half_a_unit(void **state)
{
    (void)state;
    seed_rng(__func__);
    for (int k = 0; k < 200000; k++) {
        double m = ldexp(rand_uniform(0.5, 1.0), (int)rand_range(-31, 30));
        int32_t m0, shift;
        assert_int_equal(cbr_quantize_multiplier(m, &m0, &shift), 0);
        if (m0 < (1 << 30) || shift < -31 || shift > 30)
            fail_msg("QuantizeMultiplier(%a) = (%d, %d) is out of range", m, m0, shift);
        /* m0 is m * 2^(31 - shift) rounded: exact arithmetic in double (powers of two). */
        double err = fabs(m0 - ldexp(m, 31 - shift));
        if (err > 0.5)
            fail_msg("QuantizeMultiplier(%a) = (%d, %d): off by %g units", m, m0, shift, err);
        /* relative error at most 2^-31 */
        if (fabs(ldexp(m0, shift - 31) - m) > ldexp(m, -31))
            fail_msg("QuantizeMultiplier(%a) = (%d, %d) reconstructs badly", m, m0, shift);
    }
}

static void test_quantize_multiplier_rejects_negative_and_non_finite(void **state)
{
    (void)state;
    int32_t m0, shift;
    expect_fail(cbr_quantize_multiplier(-1.0, &m0, &shift), CBR_EINVAL, "m = -1");
    expect_fail(cbr_quantize_multiplier(-DBL_TRUE_MIN, &m0, &shift), CBR_EINVAL, "m =");
    expect_fail(cbr_quantize_multiplier(NAN, &m0, &shift), CBR_EINVAL, "m =");
    expect_fail(cbr_quantize_multiplier(INFINITY, &m0, &shift), CBR_EINVAL, "m =");
    expect_fail(cbr_quantize_multiplier(-INFINITY, &m0, &shift), CBR_EINVAL, "m =");
    expect_fail(cbr_quantize_multiplier(1.0, NULL, &shift), CBR_EINVAL, "m0");
    expect_fail(cbr_quantize_multiplier(1.0, &m0, NULL), CBR_EINVAL, "shift");
}

/* ---- relu6 ------------------------------------------------------------------------------ */

static void test_relu6_range_is_zero_point_to_six(void **state)
{
    (void)state;
    static const struct {
        float scale;
        int32_t zp, lo, hi;
    } cases[] = {
        {6.0f / 255, -128, -128, 127}, /* the usual relu6 output quantization */
        {0.05f, -10, -10, 110},
        {0.1f, 100, 100, 127},         /* 160, clamped */
        {4.0f, 0, 0, 2},               /* 1.5 rounds away: 2 */
        {4.0f, -3, -3, -1},
        {12.0f, 5, 5, 6},              /* 0.5 -> 1 */
        {1e-30f, -128, -128, 127},
        {1e30f, 42, 42, 42},           /* 6 / 1e30 rounds to 0 */
        {1.0f, 127, 127, 127},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t lo = 0, hi = 0;
        assert_int_equal(cbr_relu6_range(cases[i].scale, cases[i].zp, &lo, &hi), 0);
        if (lo != cases[i].lo || hi != cases[i].hi)
            fail_msg("relu6_range(%g, %d) = [%d, %d], want [%d, %d]", (double)cases[i].scale,
                     cases[i].zp, lo, hi, cases[i].lo, cases[i].hi);
    }
}

static void test_relu6_range_rejects_bad_scale_and_zero_point(void **state)
{
    (void)state;
    int32_t lo, hi;
    expect_fail(cbr_relu6_range(0.0f, 0, &lo, &hi), CBR_EINVAL, "y_scale");
    expect_fail(cbr_relu6_range(-1.0f, 0, &lo, &hi), CBR_EINVAL, "y_scale");
    expect_fail(cbr_relu6_range(NAN, 0, &lo, &hi), CBR_EINVAL, "y_scale");
    expect_fail(cbr_relu6_range(INFINITY, 0, &lo, &hi), CBR_EINVAL, "y_scale");
    expect_fail(cbr_relu6_range(0.1f, 128, &lo, &hi), CBR_EINVAL, "y_zp");
    expect_fail(cbr_relu6_range(0.1f, -129, &lo, &hi), CBR_EINVAL, "y_zp");
    expect_fail(cbr_relu6_range(0.1f, 0, NULL, &hi), CBR_EINVAL, "act_min");
}

/* ---- BN folding: small cases worked by hand ---------------------------------------------- */

static void test_fold_without_bn_quantizes_weights_per_channel(void **state)
{
    (void)state;
    /* three channels of three 1x1 taps; the middle one all zero */
    static const float w[9] = {0.5f, -1.0f, 0.25f, 0, 0, 0, 2.0f, 1.0f, -0.5f};
    static const float b[3] = {0.3f, -0.3f, 0};
    cbr_fold_args a = {.out_c = 3, .in_c_per_group = 3, .kh = 1, .kw = 1, .weight = w,
                       .conv_bias = b, .input_scale = 0.5f, .output_scale = 0.25f};
    int8_t wq[9];
    int32_t bias[3], m[3], s[3];
    float ws[3];
    cbr_fold_out out = {.weights = wq, .bias = bias, .multiplier = m, .shift = s,
                        .weight_scale = ws};
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);

    static const int8_t want_w[9] = {64, -127, 32, 0, 0, 0, 127, 64, -32}; /* 63.5 -> 64 */
    assert_memory_equal(wq, want_w, sizeof want_w);
    assert_true(ws[0] == (float)(1.0 / 127));
    assert_true(ws[1] == 1.0f); /* all-zero channel */
    assert_true(ws[2] == (float)(2.0 / 127));
    assert_int_equal(bias[0], 76); /* 0.3 / (0.5 / 127) = 76.2 */
    assert_int_equal(bias[1], -1); /* -0.3 / 0.5 = -0.6 */
    assert_int_equal(bias[2], 0);
    /* M = s_x * w_scale / s_y: 2/127 = 0.504 * 2^-5, 2 = 0.5 * 2^2, 4/127 = 0.504 * 2^-4 */
    int32_t m0 = (int32_t)round(ldexp(2.0 / 127, 36));
    assert_int_equal(m[0], m0);
    assert_int_equal(s[0], -5);
    assert_int_equal(m[1], 1 << 30);
    assert_int_equal(s[1], 2);
    assert_int_equal(m[2], m0);
    assert_int_equal(s[2], -4);
}

static void test_fold_applies_batch_norm(void **state)
{
    (void)state;
    /* gamma / sqrt(var + eps) = +-4 / sqrt(4) = +-2 */
    static const float w[4] = {0.5f, -0.25f, 0.5f, -0.25f};
    static const float b[2] = {0.125f, 0.125f};
    static const float gamma[2] = {4.0f, -4.0f}, beta[2] = {0.5f, 0.5f};
    static const float mean[2] = {0.25f, 0.25f}, var[2] = {3.0f, 3.0f};
    cbr_fold_args a = {.out_c = 2, .in_c_per_group = 1, .kh = 1, .kw = 2, .weight = w,
                       .conv_bias = b, .bn_gamma = gamma, .bn_beta = beta, .bn_mean = mean,
                       .bn_var = var, .bn_eps = 1.0f, .input_scale = 1.0f,
                       .output_scale = 1.0f};
    int8_t wq[4];
    int32_t bias[2], m[2], s[2];
    float ws[2];
    cbr_fold_out out = {.weights = wq, .bias = bias, .multiplier = m, .shift = s,
                        .weight_scale = ws};
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);
    /* channel 0: W' = [1, -0.5], b' = (0.125 - 0.25) * 2 + 0.5 = 0.25 */
    assert_int_equal(wq[0], 127);
    assert_int_equal(wq[1], -64); /* -63.5 rounds away */
    assert_int_equal(bias[0], 32); /* 0.25 * 127 = 31.75 */
    /* channel 1: W' = [-1, 0.5], b' = (0.125 - 0.25) * -2 + 0.5 = 0.75 */
    assert_int_equal(wq[2], -127);
    assert_int_equal(wq[3], 64);
    assert_int_equal(bias[1], 95); /* 95.25 */
    assert_true(ws[0] == (float)(1.0 / 127) && ws[1] == (float)(1.0 / 127));
    int32_t m0 = (int32_t)round(ldexp(1.0 / 127, 37)); /* 1/127 = 0.504 * 2^-6 */
    assert_int_equal(m[0], m0);
    assert_int_equal(s[0], -6);

    /* gamma 0 makes an all-zero channel: w_scale 1, the bias is beta alone */
    static const float gamma0[2] = {0.0f, 0.0f};
    a.bn_gamma = gamma0;
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);
    assert_true(ws[0] == 1.0f);
    assert_int_equal(wq[0], 0);
    assert_int_equal(wq[1], 0);
    assert_int_equal(bias[0], 1); /* 0.5 / 1 rounds away */
}

static void test_fold_bias_saturates_to_int32(void **state)
{
    (void)state;
    static const float w[2] = {1e-3f, -1e-3f};
    static const float b[2] = {1.0f, -1.0f};
    cbr_fold_args a = {.out_c = 2, .in_c_per_group = 1, .kh = 1, .kw = 1, .weight = w,
                       .conv_bias = b, .input_scale = 1e-12f, .output_scale = 1.0f};
    int8_t wq[2];
    int32_t bias[2], m[2], s[2];
    cbr_fold_out out = {.weights = wq, .bias = bias, .multiplier = m, .shift = s};
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);
    assert_int_equal(bias[0], INT32_MAX);
    assert_int_equal(bias[1], INT32_MIN);
}

static void test_fold_leaky_pair_is_the_multiplier_times_alpha(void **state)
{
    (void)state;
    /* max |W| = 127/64, so w_scale = 1/64 exactly */
    static const float w[2] = {127.0f / 64, -1.0f};
    cbr_fold_args a = {.out_c = 1, .in_c_per_group = 1, .kh = 1, .kw = 2, .weight = w,
                       .input_scale = 0.5f, .output_scale = 0.25f, .leaky_alpha = 0.1f};
    int8_t wq[2];
    int32_t bias, m, s, nm = -1, ns = -1, want_m, want_s;
    cbr_fold_out out = {.weights = wq, .bias = &bias, .multiplier = &m, .shift = &s,
                        .neg_multiplier = &nm, .neg_shift = &ns};
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);
    assert_int_equal(cbr_quantize_multiplier(0.5 / 64 / 0.25, &want_m, &want_s), 0);
    assert_int_equal(m, want_m);
    assert_int_equal(s, want_s);
    assert_int_equal(cbr_quantize_multiplier(0.5 / 64 * (double)0.1f / 0.25, &want_m, &want_s),
                     0);
    assert_int_equal(nm, want_m);
    assert_int_equal(ns, want_s);

    a.leaky_alpha = 0.0f; /* the leaky pair of relu */
    assert_int_equal(cbr_fold_conv_bn(&a, &out), 0);
    assert_int_equal(nm, 0);
    assert_int_equal(ns, 0);
}

/* ---- BN folding: rejections ------------------------------------------------------------- */

enum { RJ_O = 3, RJ_CG = 2, RJ_K = 2, RJ_PER = RJ_CG * RJ_K * RJ_K };

struct fold_fixture {
    float w[RJ_O * RJ_PER], b[RJ_O], gamma[RJ_O], beta[RJ_O], mean[RJ_O], var[RJ_O];
    int8_t wq[RJ_O * RJ_PER];
    int32_t bias[RJ_O], m[RJ_O], s[RJ_O], nm[RJ_O], ns[RJ_O];
    cbr_fold_args a;
    cbr_fold_out out;
};

static void make_fold_fixture(struct fold_fixture *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < RJ_O * RJ_PER; i++)
        f->w[i] = (float)(i % 5) * 0.1f - 0.2f;
    for (int o = 0; o < RJ_O; o++) {
        f->b[o] = 0.1f;
        f->gamma[o] = 1.0f;
        f->var[o] = 1.0f;
    }
    f->a = (cbr_fold_args){.out_c = RJ_O, .in_c_per_group = RJ_CG, .kh = RJ_K, .kw = RJ_K,
                           .weight = f->w, .conv_bias = f->b, .bn_gamma = f->gamma,
                           .bn_beta = f->beta, .bn_mean = f->mean, .bn_var = f->var,
                           .bn_eps = 1e-5f, .input_scale = 0.02f, .output_scale = 0.05f,
                           .leaky_alpha = 0.1f};
    f->out = (cbr_fold_out){.weights = f->wq, .bias = f->bias, .multiplier = f->m,
                            .shift = f->s, .neg_multiplier = f->nm, .neg_shift = f->ns};
    memset(f->wq, 99, sizeof f->wq); /* to see that a failure writes nothing */
}

static void test_fold_rejects_non_finite_weight_naming_channel_and_index(void **state)
{
    (void)state;
    struct fold_fixture f;
    make_fold_fixture(&f);
    assert_int_equal(cbr_fold_conv_bn(&f.a, &f.out), 0);
    make_fold_fixture(&f);
    /* o = 1, c = 1, kh = 0, kw = 1 */
    f.w[1 * RJ_PER + (1 * RJ_K + 0) * RJ_K + 1] = NAN;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "weight[o=1, c=1, kh=0, kw=1]");
    assert_int_equal(f.wq[0], 99); /* channel 0 was not written */
    f.w[1 * RJ_PER + 5] = -INFINITY;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "channel 1");
}

static void test_fold_rejects_non_finite_bias_and_bn_naming_the_channel(void **state)
{
    (void)state;
    struct fold_fixture f;
    make_fold_fixture(&f);
    f.b[2] = INFINITY;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "conv_bias[2]");
    make_fold_fixture(&f);
    f.gamma[0] = NAN;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_gamma[0]");
    make_fold_fixture(&f);
    f.beta[1] = -INFINITY;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_beta[1]");
    make_fold_fixture(&f);
    f.mean[2] = NAN;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_mean[2]");
    make_fold_fixture(&f);
    f.var[1] = INFINITY;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_var[1]");
    make_fold_fixture(&f);
    f.a.bn_eps = NAN;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_eps");
}

static void test_fold_rejects_var_plus_eps_not_positive(void **state)
{
    (void)state;
    struct fold_fixture f;
    make_fold_fixture(&f);
    f.var[1] = -1e-5f;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_var[1] + bn_eps");
    f.var[1] = -1.0f;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "channel 1");
    f.var[1] = 0.0f; /* var 0 is fine with eps > 0 */
    assert_int_equal(cbr_fold_conv_bn(&f.a, &f.out), 0);
    f.a.bn_eps = 0.0f;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_var[1] + bn_eps");
    f.a.bn_gamma = NULL; /* without BN, var and eps are not used */
    assert_int_equal(cbr_fold_conv_bn(&f.a, &f.out), 0);
}

static void test_fold_rejects_bad_scales(void **state)
{
    (void)state;
    static const float bad[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fold_fixture f;
        make_fold_fixture(&f);
        f.a.input_scale = bad[i];
        expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "input_scale");
        make_fold_fixture(&f);
        f.a.output_scale = bad[i];
        expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "output_scale");
    }
}

static void test_fold_rejects_negative_leaky_alpha(void **state)
{
    (void)state;
    struct fold_fixture f;
    make_fold_fixture(&f);
    f.a.leaky_alpha = -0.1f;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "leaky_alpha");
    f.a.leaky_alpha = NAN;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "leaky_alpha");
    f.out.neg_multiplier = NULL; /* alpha is not used without the leaky pair... */
    f.out.neg_shift = NULL;
    assert_int_equal(cbr_fold_conv_bn(&f.a, &f.out), 0);
    f.out.neg_shift = f.ns; /* ...which comes as a pair */
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "neg_multiplier");
}

static void test_fold_rejects_missing_arrays_and_sizes(void **state)
{
    (void)state;
    struct fold_fixture f;
    make_fold_fixture(&f);
    expect_fail(cbr_fold_conv_bn(NULL, &f.out), CBR_EINVAL, "NULL");
    expect_fail(cbr_fold_conv_bn(&f.a, NULL), CBR_EINVAL, "NULL");
    f.a.weight = NULL;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "weight");
    make_fold_fixture(&f);
    f.a.bn_var = NULL;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "bn_var");
    make_fold_fixture(&f);
    f.out.bias = NULL;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "out.bias");
    make_fold_fixture(&f);
    f.a.out_c = 0;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_EINVAL, "out_c");
    make_fold_fixture(&f);
    f.a.kh = CBR_MAX_KERNEL + 1;
    expect_fail(cbr_fold_conv_bn(&f.a, &f.out), CBR_ERANGE, "kh");
}

/* ---- BN folding end to end: float reference vs the folded int8 layer -------------------- */

/* What one random layer gave: outputs outside the bound, for the real layer and for two
 * deliberately broken copies (shift one too large; bias negated) that must be caught. */
struct fold_result {
    size_t outputs, violations, shift_mutant_caught, bias_mutant_caught, busy;
    double worst; /* largest |error| / bound */
};

static size_t count_outside(const int8_t *y, const double *ref, const double *bound,
                            size_t count, double s_y, int32_t y_zp, double *worst)
{
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        double lo = s_y * (-128 - y_zp), hi = s_y * (127 - y_zp);
        double want = ref[i] < lo ? lo : ref[i] > hi ? hi : ref[i]; /* what int8 can hold */
        double err = fabs(s_y * (y[i] - y_zp) - want);
        if (worst && err / bound[i] > *worst)
            *worst = err / bound[i];
        if (err > bound[i])
            bad++;
    }
    return bad;
}

static void fold_case(bool leaky, int iter, struct fold_result *res)
{
    /* the float layer */
    const uint32_t G = (uint32_t)rand_range(1, 2), cg = (uint32_t)rand_range(1, 4),
                   og = (uint32_t)rand_range(1, 4);
    const uint32_t C = G * cg, O = G * og;
    const uint32_t kh = (uint32_t)rand_range(1, 5), kw = (uint32_t)rand_range(1, 5);
    cbr_layer_desc d = {0};
    d.in_c = C;
    d.out_c = O;
    d.groups = G;
    d.kh = kh;
    d.kw = kw;
    d.stride_h = (uint32_t)rand_range(1, 2);
    d.stride_w = (uint32_t)rand_range(1, 2);
    d.pad_top = (uint32_t)rand_range(0, 2);
    d.pad_bottom = (uint32_t)rand_range(0, 2);
    d.pad_left = (uint32_t)rand_range(0, 2);
    d.pad_right = (uint32_t)rand_range(0, 2);
    int64_t h = (int64_t)kh - d.pad_top - d.pad_bottom + rand_range(0, 5);
    int64_t w = (int64_t)kw - d.pad_left - d.pad_right + rand_range(0, 5);
    d.in_h = (uint32_t)(h < 1 ? 1 : h);
    d.in_w = (uint32_t)(w < 1 ? 1 : w);
    cbr_layer_normalize(&d);
    uint32_t oh, ow;
    cbr_conv_out_size(&d, &oh, &ow);

    const size_t per = (size_t)cg * kh * kw;
    float *W = malloc(O * per * sizeof *W);
    float b[8], gamma[8], beta[8], mean[8], var[8];
    for (uint32_t o = 0; o < O; o++) {
        double chan = rand_uniform(0.2, 2.0);
        for (size_t k = 0; k < per; k++)
            W[o * per + k] = (float)(chan * rand_uniform(-1, 1));
        b[o] = (float)rand_uniform(-0.5, 0.5);
        gamma[o] = (float)(rand_uniform(0.3, 1.5) * (rand_range(0, 4) ? 1 : -1));
        beta[o] = (float)rand_uniform(-1, 1);
        mean[o] = (float)rand_uniform(-0.5, 0.5);
        var[o] = (float)rand_uniform(0.05, 2.0);
    }
    const float eps = 1e-5f, alpha = (float)rand_uniform(0.01, 0.3);
    const bool has_bias = iter % 3 != 0;

    /* the input, quantized; the reference sees exactly the quantized values */
    const float s_x = 3.0f / 255;
    const int32_t x_zp = -43;
    const size_t nx = (size_t)C * d.in_h * d.in_w;
    int8_t *xq = malloc(nx);
    for (size_t i = 0; i < nx; i++)
        xq[i] = cbr_quantize((float)rand_uniform(-0.5, 2.5), s_x, x_zp);

    /* float reference: conv, then BatchNorm as PyTorch applies it, then the activation */
    const size_t ny = (size_t)O * oh * ow;
    double *ref = malloc(ny * sizeof *ref), *pre = malloc(ny * sizeof *pre);
    double *taps = malloc(ny * sizeof *taps), *mag = malloc(ny * sizeof *mag);
    double max_abs = 0;
    for (uint32_t o = 0; o < O; o++) {
        double inv = gamma[o] / sqrt((double)var[o] + eps);
        for (uint32_t r = 0; r < oh; r++)
            for (uint32_t c = 0; c < ow; c++) {
                double z = has_bias ? b[o] : 0, x_abs = 0, wx_abs = 0;
                for (uint32_t ci = 0; ci < cg; ci++)
                    for (uint32_t i = 0; i < kh; i++)
                        for (uint32_t j = 0; j < kw; j++) {
                            int64_t ih = (int64_t)r * d.stride_h + i - d.pad_top;
                            int64_t iw = (int64_t)c * d.stride_w + j - d.pad_left;
                            if (ih < 0 || iw < 0 || ih >= d.in_h || iw >= d.in_w)
                                continue;
                            uint32_t ch = o / og * cg + ci;
                            double x = (double)s_x *
                                       (xq[((size_t)ch * d.in_h + ih) * d.in_w + iw] - x_zp);
                            double wv = W[o * per + (ci * kh + i) * kw + j];
                            z += wv * x;
                            x_abs += fabs(x);
                            wx_abs += fabs(wv * x);
                        }
                double bn = (z - mean[o]) * gamma[o] / sqrt((double)var[o] + eps) + beta[o];
                size_t k = ((size_t)o * oh + r) * ow + c;
                pre[k] = bn;
                ref[k] = bn >= 0 ? bn : leaky ? alpha * bn : 0.0;
                taps[k] = x_abs;
                mag[k] = (wx_abs + fabs(has_bias ? b[o] : 0) + fabs(mean[o])) * fabs(inv) +
                         fabs(beta[o]);
                if (fabs(ref[k]) > max_abs)
                    max_abs = fabs(ref[k]);
            }
    }

    /* the output quantization: relu uses all 256 steps above zero, leaky both sides */
    const int32_t y_zp = leaky ? 0 : -128;
    const float s_y = (float)((max_abs > 0.05 ? max_abs : 0.05) / (leaky ? 120 : 240));

    /* fold and run */
    int8_t *wq = malloc(O * per);
    int32_t bias[8], m[8], s[8], nm[8], ns[8];
    float ws[8];
    cbr_fold_args fa = {.out_c = O, .in_c_per_group = cg, .kh = kh, .kw = kw, .weight = W,
                        .conv_bias = has_bias ? b : NULL, .bn_gamma = gamma, .bn_beta = beta,
                        .bn_mean = mean, .bn_var = var, .bn_eps = eps, .input_scale = s_x,
                        .output_scale = s_y, .leaky_alpha = alpha};
    cbr_fold_out fo = {.weights = wq, .bias = bias, .multiplier = m, .shift = s,
                       .weight_scale = ws, .neg_multiplier = leaky ? nm : NULL,
                       .neg_shift = leaky ? ns : NULL};
    assert_true(W && xq && ref && pre && taps && mag && wq);
    if (cbr_fold_conv_bn(&fa, &fo) != 0)
        fail_msg("fold failed: %s", cbr_errmsg(NULL));
    d.input_zp = x_zp;
    d.output_zp = y_zp;
    d.act = leaky ? CBR_ACT_LEAKY : CBR_ACT_RELU;
    d.weights = wq;
    d.bias = bias;
    d.multiplier = m;
    d.shift = s;
    d.neg_multiplier = nm;
    d.neg_shift = ns;
    if (cbr_layer_check(&d) != 0)
        fail_msg("the folded layer was rejected: %s", cbr_errmsg(NULL));

    /*
     * The bound, per output, in real units. The int8 layer computes exactly
     *   round(acc * M) + y_zp,  acc = bias + sum (xq - x_zp) * wq,
     * so against the float layer (on the same quantized input) it differs by:
     *   - weight rounding: |W' - w_scale * wq| <= w_scale / 2 per tap, times sum |x|;
     *   - bias rounding: s_x * w_scale / 2;
     *   - the multiplier: |M0 * 2^(shift-31) - M| <= M * 2^-31, times |acc * M| in output steps,
     *     |acc * M| * s_y <= |pre| + the two errors above (2^-30 for margin);
     *   - requantization rounds twice (SRDHM, then by 2^right): 1/2 + 1/2^(right+1) steps.
     * relu, leaky (alpha <= 1) and the int8 clamp are 1-Lipschitz, so this passes through.
     * w_scale is only known as a float here: (1 + 2^-23) covers its rounding. The float
     * reference itself rounds in double: 1e-9 of the magnitudes covers that.
     */
    double *bound = malloc(ny * sizeof *bound);
    assert_non_null(bound);
    for (uint32_t o = 0; o < O; o++) {
        int right = s[o] < 0 ? -s[o] : 0;
        if (leaky && ns[o] < 0 && -ns[o] < right)
            right = -ns[o];
        double w_scale = ws[o] * (1 + 0x1p-23);
        for (size_t k = (size_t)o * oh * ow; k < (size_t)(o + 1) * oh * ow; k++) {
            double e = taps[k] * w_scale / 2 + s_x * w_scale / 2;
            bound[k] = e + (fabs(pre[k]) + e) * 0x1p-30 +
                       s_y * (0.5 + ldexp(1.0, -(right + 1))) + 1e-9 * (mag[k] + s_y);
        }
    }

    int8_t *y = malloc(ny);
    assert_non_null(y);
    assert_int_equal(cbr_golden_layer(&d, 1, xq, y), 0);
    res->outputs += ny;
    res->violations += count_outside(y, ref, bound, ny, s_y, y_zp, &res->worst);
    for (size_t k = 0; k < ny; k++)
        if (y[k] > y_zp + 20 || y[k] < y_zp - 20)
            res->busy++;
    if (res->violations)
        fail_msg("%s iteration %d: %zu of %zu outputs are outside the quantization error "
                 "(G %u C %u O %u k %ux%u)",
                 leaky ? "leaky" : "relu", iter, res->violations, res->outputs, G, C, O, kh, kw);

    /* The bound must be tight enough to catch a wrong shift or a wrong bias sign. */
    int32_t s2[8], bias2[8];
    for (uint32_t o = 0; o < O; o++) {
        s2[o] = s[o] < 30 ? s[o] + 1 : s[o];
        bias2[o] = bias[o] == INT32_MIN ? INT32_MAX : -bias[o];
    }
    d.shift = s2;
    assert_int_equal(cbr_golden_layer(&d, 1, xq, y), 0);
    res->shift_mutant_caught += count_outside(y, ref, bound, ny, s_y, y_zp, NULL);
    d.shift = s;
    d.bias = bias2;
    assert_int_equal(cbr_golden_layer(&d, 1, xq, y), 0);
    res->bias_mutant_caught += count_outside(y, ref, bound, ny, s_y, y_zp, NULL);

    free(W);
    free(xq);
    free(ref);
    free(pre);
    free(taps);
    free(mag);
    free(wq);
    free(bound);
    free(y);
}

static void check_fold_end_to_end(bool leaky)
{
    struct fold_result r = {0};
    for (int iter = 0; iter < 60; iter++)
        fold_case(leaky, iter, &r);
    print_message("  %zu outputs, %zu busy; worst error %.3f of the bound; broken shift "
                  "caught %zu times, broken bias %zu times\n",
                  r.outputs, r.busy, r.worst, r.shift_mutant_caught, r.bias_mutant_caught);
    assert_int_equal(r.violations, 0);
    assert_true(r.busy > r.outputs / 10); /* the comparison is not between zeros */
    assert_true(r.shift_mutant_caught > 0);
    assert_true(r.bias_mutant_caught > 0);
}

static void test_fold_conv_bn_relu_matches_float_within_quantization_error(void **state)
{
    (void)state;
    seed_rng(__func__);
    check_fold_end_to_end(false);
}

static void test_fold_conv_bn_leaky_matches_float_within_quantization_error(void **state)
{
    (void)state;
    seed_rng(__func__);
    check_fold_end_to_end(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_rounds_half_away_from_zero_and_saturates),
        cmocka_unit_test(test_quantize_bad_input_gives_the_zero_point_and_a_message),
        cmocka_unit_test(test_dequantize_inverts_quantize_within_half_a_step),
        cmocka_unit_test(test_quantize_multiplier_zero_and_tiny_give_zero_pair),
        cmocka_unit_test(test_quantize_multiplier_rounding_up_to_2_31_renormalizes),
        cmocka_unit_test(test_quantize_multiplier_huge_saturates),
        cmocka_unit_test(test_quantize_multiplier_exact_powers_of_two),
        cmocka_unit_test(test_quantize_multiplier_reconstruction_error_is_half_a_unit),
        cmocka_unit_test(test_quantize_multiplier_rejects_negative_and_non_finite),
        cmocka_unit_test(test_relu6_range_is_zero_point_to_six),
        cmocka_unit_test(test_relu6_range_rejects_bad_scale_and_zero_point),
        cmocka_unit_test(test_fold_without_bn_quantizes_weights_per_channel),
        cmocka_unit_test(test_fold_applies_batch_norm),
        cmocka_unit_test(test_fold_bias_saturates_to_int32),
        cmocka_unit_test(test_fold_leaky_pair_is_the_multiplier_times_alpha),
        cmocka_unit_test(test_fold_rejects_non_finite_weight_naming_channel_and_index),
        cmocka_unit_test(test_fold_rejects_non_finite_bias_and_bn_naming_the_channel),
        cmocka_unit_test(test_fold_rejects_var_plus_eps_not_positive),
        cmocka_unit_test(test_fold_rejects_bad_scales),
        cmocka_unit_test(test_fold_rejects_negative_leaky_alpha),
        cmocka_unit_test(test_fold_rejects_missing_arrays_and_sizes),
        cmocka_unit_test(test_fold_conv_bn_relu_matches_float_within_quantization_error),
        cmocka_unit_test(test_fold_conv_bn_leaky_matches_float_within_quantization_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
