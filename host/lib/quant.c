/*
 * quant.c - float to the int8 contract on the host: docs/numerics.md "Host-side quantization".
 *
 * Everything is computed in double, so the only rounding that matters is the one the contract
 * names (round half away from zero, C's round()). Bad input (NaN, infinities, non-positive
 * scales) is rejected with a message naming the channel and the field, never folded into a
 * silently wrong layer.
 */
#include <float.h>
#include <math.h>

#include "errors.h"
#include "golden.h"

static int8_t clamp_int8(double v)
{
    if (v <= -128.0)
        return -128;
    if (v >= 127.0)
        return 127;
    return (int8_t)v;
}

int8_t cbr_quantize(float v, float scale, int32_t zp)
{
    /* The signature has no error return: bad input gives the zero point (the real value 0)
     * and leaves a message in cbr_errmsg(NULL). */
    if (!(isfinite(scale) && scale > 0)) {
        cbr_fail(CBR_EINVAL, "cbr_quantize: scale = %g must be finite and > 0", (double)scale);
        return clamp_int8(zp);
    }
    if (isnan(v)) {
        cbr_fail(CBR_EINVAL, "cbr_quantize: v is NaN");
        return clamp_int8(zp);
    }
    /* |v / scale| < 2^280 in double: no overflow; an infinite v saturates below. */
    return clamp_int8(cbr_round_half_away((double)v / scale) + zp);
}

float cbr_dequantize(int8_t q, float scale, int32_t zp)
{
    return (float)((double)scale * ((double)q - zp));
}

int cbr_quantize_multiplier(double m, int32_t *m0, int32_t *shift)
{
    if (!m0 || !shift)
        return cbr_fail(CBR_EINVAL, "cbr_quantize_multiplier: m0 or shift is NULL");
    if (!isfinite(m) || m < 0)
        return cbr_fail(CBR_EINVAL, "cbr_quantize_multiplier: m = %g must be finite and >= 0",
                        m);
    *m0 = 0;
    *shift = 0;
    if (m == 0)
        return 0;

    int e;
    double q = frexp(m, &e); /* m = q * 2^e, q in [0.5, 1) */
    int64_t q_fixed = (int64_t)cbr_round_half_away(ldexp(q, 31)); /* in [2^30, 2^31] */
    if (q_fixed == (INT64_C(1) << 31)) {
        q_fixed /= 2;
        e += 1;
    }
    if (e < -31)
        return 0; /* too small: (0, 0) */
    if (e > 30) {
        *m0 = INT32_MAX;
        *shift = 30;
        return 0;
    }
    *m0 = (int32_t)q_fixed;
    *shift = e;
    return 0;
}

int cbr_relu6_range(float y_scale, int32_t y_zp, int32_t *act_min, int32_t *act_max)
{
    if (!act_min || !act_max)
        return cbr_fail(CBR_EINVAL, "cbr_relu6_range: act_min or act_max is NULL");
    if (!(isfinite(y_scale) && y_scale > 0))
        return cbr_fail(CBR_EINVAL, "cbr_relu6_range: y_scale = %g must be finite and > 0",
                        (double)y_scale);
    if (y_zp < -128 || y_zp > 127)
        return cbr_fail(CBR_EINVAL, "cbr_relu6_range: y_zp = %d is outside [-128, 127]",
                        (int)y_zp);
    double hi = y_zp + cbr_round_half_away(6.0 / y_scale); /* >= y_zp; may be huge */
    *act_min = y_zp; /* max(y_zp, -128), and y_zp >= -128 */
    *act_max = hi < 127.0 ? (int32_t)hi : 127;
    return 0;
}

/* ---- BN folding ------------------------------------------------------------------------- */

static int check_finite(const char *field, uint32_t o, float v)
{
    if (!isfinite(v))
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: channel %u: %s[%u] = %g is not finite",
                        o, field, o, (double)v);
    return 0;
}

/* BN's per-channel factor gamma / sqrt(var + eps) (1 without BN), and the shift it applies
 * to the bias: b' = (b - mean) * inv + beta. */
static void bn_factors(const cbr_fold_args *a, uint32_t o, double *inv, double *bias)
{
    double b = a->conv_bias ? a->conv_bias[o] : 0.0;
    if (!a->bn_gamma) {
        *inv = 1.0;
        *bias = b;
        return;
    }
    *inv = a->bn_gamma[o] / sqrt((double)a->bn_var[o] + (double)a->bn_eps);
    *bias = (b - a->bn_mean[o]) * *inv + a->bn_beta[o];
}

/* w_scale[o] = max |W'[o]| / 127, or 1 for an all-zero channel. */
static double weight_scale(const cbr_fold_args *a, uint32_t o, size_t per_channel, double inv)
{
    double max = 0.0;
    for (size_t k = 0; k < per_channel; k++) {
        double v = fabs(a->weight[(size_t)o * per_channel + k] * inv);
        if (v > max)
            max = v;
    }
    return max > 0.0 ? max / 127.0 : 1.0;
}

/* Every input of channel o is usable: finite, var + eps > 0, a w_scale a float can hold. */
static int check_channel(const cbr_fold_args *a, uint32_t o, size_t per_channel)
{
    int rc;
    for (size_t k = 0; k < per_channel; k++) {
        float v = a->weight[(size_t)o * per_channel + k];
        if (!isfinite(v)) {
            size_t kw = k % a->kw, kh = k / a->kw % a->kh, c = k / a->kw / a->kh;
            return cbr_fail(CBR_EINVAL,
                            "cbr_fold_conv_bn: channel %u: weight[o=%u, c=%zu, kh=%zu, kw=%zu] "
                            "= %g is not finite",
                            o, o, c, kh, kw, (double)v);
        }
    }
    if (a->conv_bias && (rc = check_finite("conv_bias", o, a->conv_bias[o])) < 0)
        return rc;
    if (a->bn_gamma) {
        if ((rc = check_finite("bn_gamma", o, a->bn_gamma[o])) < 0 ||
            (rc = check_finite("bn_beta", o, a->bn_beta[o])) < 0 ||
            (rc = check_finite("bn_mean", o, a->bn_mean[o])) < 0 ||
            (rc = check_finite("bn_var", o, a->bn_var[o])) < 0)
            return rc;
        double den = (double)a->bn_var[o] + (double)a->bn_eps;
        if (!(den > 0))
            return cbr_fail(CBR_EINVAL,
                            "cbr_fold_conv_bn: channel %u: bn_var[%u] + bn_eps = %g + %g = %g "
                            "must be > 0",
                            o, o, (double)a->bn_var[o], (double)a->bn_eps, den);
    }
    double inv, bias;
    bn_factors(a, o, &inv, &bias);
    if (weight_scale(a, o, per_channel, inv) > FLT_MAX)
        return cbr_fail(CBR_ERANGE,
                        "cbr_fold_conv_bn: channel %u: the folded weights are too large for a "
                        "float weight_scale (bn_gamma[%u] / sqrt(bn_var[%u] + bn_eps) = %g)",
                        o, o, o, inv);
    return 0;
}

static int check_fold_args(const cbr_fold_args *a, const cbr_fold_out *out)
{
    if (!a || !out)
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: args or out is NULL");
    if (!a->weight)
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: weight is NULL");
    if (a->bn_gamma && (!a->bn_beta || !a->bn_mean || !a->bn_var))
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: bn_gamma is set but bn_beta, bn_mean "
                        "or bn_var is NULL");
    if (!out->weights || !out->bias || !out->multiplier || !out->shift)
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: out.weights, out.bias, out.multiplier "
                        "and out.shift must all be set");
    if (!out->neg_multiplier != !out->neg_shift)
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: out.neg_multiplier and out.neg_shift "
                        "must be set together (the leaky pair)");

    const struct {
        const char *name;
        uint32_t v, max;
    } sizes[] = {
        {"out_c", a->out_c, CBR_MAX_DIM},
        {"in_c_per_group", a->in_c_per_group, CBR_MAX_DIM},
        {"kh", a->kh, CBR_MAX_KERNEL},
        {"kw", a->kw, CBR_MAX_KERNEL},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i].v == 0)
            return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: %s = 0; it must be at least 1",
                            sizes[i].name);
        if (sizes[i].v > sizes[i].max)
            return cbr_fail(CBR_ERANGE, "cbr_fold_conv_bn: %s = %u exceeds the limit, %u",
                            sizes[i].name, sizes[i].v, sizes[i].max);
    }

    if (!(isfinite(a->input_scale) && a->input_scale > 0))
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: input_scale = %g must be finite and > 0",
                        (double)a->input_scale);
    if (!(isfinite(a->output_scale) && a->output_scale > 0))
        return cbr_fail(CBR_EINVAL,
                        "cbr_fold_conv_bn: output_scale = %g must be finite and > 0",
                        (double)a->output_scale);
    if (a->bn_gamma && !isfinite(a->bn_eps))
        return cbr_fail(CBR_EINVAL, "cbr_fold_conv_bn: bn_eps = %g is not finite",
                        (double)a->bn_eps);
    if (out->neg_multiplier && !(isfinite(a->leaky_alpha) && a->leaky_alpha >= 0))
        return cbr_fail(CBR_EINVAL,
                        "cbr_fold_conv_bn: leaky_alpha = %g must be finite and >= 0",
                        (double)a->leaky_alpha);

    size_t per_channel = (size_t)a->in_c_per_group * a->kh * a->kw;
    for (uint32_t o = 0; o < a->out_c; o++) {
        int rc = check_channel(a, o, per_channel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int32_t saturate_to_int32(double v)
{
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    return (int32_t)v;
}

int cbr_fold_conv_bn(const cbr_fold_args *a, const cbr_fold_out *out)
{
    /* Everything is checked first, so that a failure leaves the outputs untouched. */
    int rc = check_fold_args(a, out);
    if (rc < 0)
        return rc;

    const size_t per_channel = (size_t)a->in_c_per_group * a->kh * a->kw;
    const double s_x = a->input_scale, s_y = a->output_scale;
    for (uint32_t o = 0; o < a->out_c; o++) {
        double inv, bias;
        bn_factors(a, o, &inv, &bias);
        double w_scale = weight_scale(a, o, per_channel, inv);

        for (size_t k = 0; k < per_channel; k++) {
            size_t i = (size_t)o * per_channel + k;
            double q = cbr_round_half_away(a->weight[i] * inv / w_scale);
            out->weights[i] = q < -127.0 ? -127 : q > 127.0 ? 127 : (int8_t)q;
        }
        out->bias[o] = saturate_to_int32(cbr_round_half_away(bias / (s_x * w_scale)));
        /* Cannot fail: the argument is finite and positive. */
        cbr_quantize_multiplier(s_x * w_scale / s_y, &out->multiplier[o], &out->shift[o]);
        if (out->neg_multiplier)
            cbr_quantize_multiplier(s_x * w_scale * a->leaky_alpha / s_y,
                                    &out->neg_multiplier[o], &out->neg_shift[o]);
        if (out->weight_scale)
            out->weight_scale[o] = (float)w_scale;
    }
    return 0;
}
