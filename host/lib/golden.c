/*
 * golden.c - the golden model: docs/numerics.md in plain C.
 *
 * Every device is held to this file bit for bit, so it is written to be read next to
 * NUMERICS.md: one function per formula, one loop nest per stage, nothing clever. All
 * arithmetic is defined behaviour in C11 (no signed overflow, no shifts of negative values,
 * no out-of-range conversions), so it means the same on every compiler and under UBSan.
 */
#include "golden.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "errors.h"

/* ---- fixed-point primitives ------------------------------------------------------------- */

/* x / 2^e rounded toward minus infinity: the arithmetic shift x >> e of NUMERICS.md, written
 * as a division because >> of a negative value is implementation-defined in C. */
static int64_t floor_div_pot(int64_t x, int e)
{
    int64_t d = INT64_C(1) << e;
    int64_t q = x / d; /* truncates toward zero */
    if (x % d != 0 && x < 0)
        q -= 1;
    return q;
}

static int32_t saturate_int32(int64_t v)
{
    if (v > INT32_MAX)
        return INT32_MAX;
    if (v < INT32_MIN)
        return INT32_MIN;
    return (int32_t)v;
}

int32_t cbr_srdhm(int32_t a, int32_t b)
{
    /* The one product whose rounded high half does not fit: (-2^31)^2 / 2^31 = 2^31. */
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * b;
    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30);
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* C division truncates */
}

int32_t cbr_rdbypot(int32_t x, int e)
{
    assert(e >= 0 && e <= 31);
    int64_t mask = (INT64_C(1) << e) - 1;
    int64_t floor_q = floor_div_pot(x, e);                 /* x >> e */
    int64_t remainder = (int64_t)x - floor_q * (mask + 1); /* x & mask, in [0, mask] */
    int64_t threshold = mask / 2 + (x < 0 ? 1 : 0);        /* mask >> 1, as mask >= 0 */
    return (int32_t)(floor_q + (remainder > threshold ? 1 : 0));
}

int32_t cbr_mbqm(int32_t x, int32_t m0, int32_t shift)
{
    assert(shift >= -31 && shift <= 30);
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t a = saturate_int32((int64_t)x * (INT64_C(1) << left));
    return cbr_rdbypot(cbr_srdhm(a, m0), right);
}

double cbr_round_half_away(double v)
{
    return round(v); /* C's round() rounds halfway cases away from zero */
}

int8_t cbr_requant(int32_t acc, int32_t m0, int32_t shift, bool leaky, int32_t neg_m0,
                   int32_t neg_shift, int32_t y_zp, int32_t act_min, int32_t act_max)
{
    assert(-128 <= act_min && act_min <= act_max && act_max <= 127);
    bool neg = leaky && acc < 0;
    int32_t scaled = cbr_mbqm(acc, neg ? neg_m0 : m0, neg ? neg_shift : shift);
    int64_t y = (int64_t)scaled + y_zp; /* scaled may be near INT32_MAX */
    if (y < act_min)
        y = act_min;
    if (y > act_max)
        y = act_max;
    return (int8_t)y;
}

/* ---- shapes and ranges ------------------------------------------------------------------ */

static const char *act_name(cbr_act act)
{
    switch (act) {
    case CBR_ACT_NONE: return "none";
    case CBR_ACT_RELU: return "relu";
    case CBR_ACT_RELU6: return "relu6";
    case CBR_ACT_LEAKY: return "leaky relu";
    }
    return "?";
}

int cbr_act_range(const cbr_layer_desc *d, int32_t *act_min, int32_t *act_max)
{
    int32_t lo, hi = 127;
    switch (d->act) {
    case CBR_ACT_NONE:
    case CBR_ACT_LEAKY:
        lo = -128;
        break;
    case CBR_ACT_RELU:
    case CBR_ACT_RELU6:
        lo = d->output_zp > -128 ? d->output_zp : -128;
        break;
    default:
        return cbr_fail(CBR_EINVAL, "act = %d is not a valid cbr_act (0..3)", (int)d->act);
    }
    int32_t act_lo = lo, act_hi = hi;
    if (d->has_clamp) {
        if (d->clamp_min > lo)
            lo = d->clamp_min;
        if (d->clamp_max < hi)
            hi = d->clamp_max;
    }
    if (lo > hi)
        return cbr_fail(CBR_EINVAL,
                        "the activation range is empty: %s with output_zp = %d gives [%d, %d] "
                        "and the clamp [clamp_min, clamp_max] = [%d, %d] leaves nothing",
                        act_name(d->act), (int)d->output_zp, (int)act_lo, (int)act_hi,
                        (int)d->clamp_min, (int)d->clamp_max);
    *act_min = lo;
    *act_max = hi;
    return 0;
}

/* floor((in + pa + pb - dil*(k-1) - 1) / s) + 1, or 0 if the dilated kernel does not fit.
 * Computed in 64 bits so that no field value, however large, can overflow. */
static uint32_t conv_dim(uint32_t in, uint32_t pa, uint32_t pb, uint32_t k, uint32_t s,
                         uint32_t dil)
{
    if (k == 0 || s == 0)
        return 0;
    uint64_t total = (uint64_t)in + pa + pb;
    uint64_t span = (uint64_t)dil * (k - 1) + 1; /* the dilated kernel */
    if (total < span)
        return 0;
    uint64_t out = (total - span) / s + 1;
    return out > UINT32_MAX ? UINT32_MAX : (uint32_t)out;
}

void cbr_conv_out_size(const cbr_layer_desc *d, uint32_t *oh, uint32_t *ow)
{
    *oh = conv_dim(d->in_h, d->pad_top, d->pad_bottom, d->kh, d->stride_h, d->dilation_h);
    *ow = conv_dim(d->in_w, d->pad_left, d->pad_right, d->kw, d->stride_w, d->dilation_w);
}

/* A zero pool stride means the window (cbr.h), also for a desc that was not normalized. */
static uint32_t pool_stride(uint32_t stride, uint32_t window)
{
    return stride ? stride : window;
}

/* One pooled dimension, as PyTorch and ONNX compute it: floor or ceil of
 * (in + pa + pb - k) / s, plus 1; in ceil mode the last window is dropped when it would start
 * at or beyond in + pa (entirely in the end padding). 0 when there is no valid output. */
static uint32_t pool_dim(uint32_t in, uint32_t pa, uint32_t pb, uint32_t k, uint32_t s,
                         bool ceil_mode)
{
    if (k == 0 || s == 0 || in == 0)
        return 0;
    uint64_t total = (uint64_t)in + pa + pb;
    if (total < k)
        return 0;
    uint64_t span = total - k;
    uint64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= (uint64_t)in + pa)
        out--;
    return out > UINT32_MAX ? UINT32_MAX : (uint32_t)out;
}

void cbr_pool_out_size(const cbr_pool *p, uint32_t h, uint32_t w, uint32_t *ph, uint32_t *pw)
{
    switch (p->kind) {
    case CBR_POOL_MAX:
    case CBR_POOL_AVG:
        *ph = pool_dim(h, p->pad_top, p->pad_bottom, p->kh, pool_stride(p->stride_h, p->kh),
                       p->ceil_mode);
        *pw = pool_dim(w, p->pad_left, p->pad_right, p->kw, pool_stride(p->stride_w, p->kw),
                       p->ceil_mode);
        return;
    case CBR_POOL_GAVG:
        *ph = h ? 1 : 0;
        *pw = w ? 1 : 0;
        return;
    case CBR_POOL_NONE:
    default:
        *ph = h;
        *pw = w;
        return;
    }
}

/* ---- layer description ------------------------------------------------------------------ */

void cbr_layer_normalize(cbr_layer_desc *d)
{
    if (d->stride_h == 0)
        d->stride_h = 1;
    if (d->stride_w == 0)
        d->stride_w = 1;
    if (d->dilation_h == 0)
        d->dilation_h = 1;
    if (d->dilation_w == 0)
        d->dilation_w = 1;
    if (d->groups == 0)
        d->groups = 1;
    if (d->pool.kind == CBR_POOL_MAX || d->pool.kind == CBR_POOL_AVG) {
        if (d->pool.stride_h == 0)
            d->pool.stride_h = d->pool.kh;
        if (d->pool.stride_w == 0)
            d->pool.stride_w = d->pool.kw;
    }
}

/* A size that must be in 1..CBR_MAX_DIM (channels, plane). */
static int check_dim(const char *name, uint32_t v)
{
    if (v == 0)
        return cbr_fail(CBR_EINVAL, "%s = 0; it must be at least 1", name);
    if (v > CBR_MAX_DIM)
        return cbr_fail(CBR_ERANGE, "%s = %u exceeds the largest dimension, %d", name, v,
                        CBR_MAX_DIM);
    return 0;
}

/* A stride, dilation or group count: 0 is only valid before cbr_layer_normalize(). */
static int check_positive(const char *name, uint32_t v)
{
    if (v == 0)
        return cbr_fail(CBR_EINVAL,
                        "%s = 0; it must be at least 1 (cbr_layer_normalize turns 0 into "
                        "the default)",
                        name);
    return 0;
}

static int check_kernel(const char *name, uint32_t v)
{
    if (v == 0)
        return cbr_fail(CBR_EINVAL, "%s = 0; the kernel must be at least 1", name);
    if (v > CBR_MAX_KERNEL)
        return cbr_fail(CBR_ERANGE, "%s = %u exceeds the largest kernel, %d", name, v,
                        CBR_MAX_KERNEL);
    return 0;
}

static int check_at_most(const char *name, uint32_t v, uint32_t max)
{
    if (v > max)
        return cbr_fail(CBR_ERANGE, "%s = %u exceeds the limit, %u", name, v, max);
    return 0;
}

static int check_int8(const char *name, int32_t v)
{
    if (v < -128 || v > 127)
        return cbr_fail(CBR_EINVAL, "%s = %d is outside [-128, 127]", name, (int)v);
    return 0;
}

/* One (multiplier, shift) array pair: M0 is 0 or in [2^30, 2^31 - 1], shift in [-31, 30]. */
static int check_requant_pair(const char *m_name, const int32_t *m, const char *s_name,
                              const int32_t *s, uint32_t out_c, const char *why)
{
    if (!m)
        return cbr_fail(CBR_EINVAL, "%s is NULL%s", m_name, why);
    if (!s)
        return cbr_fail(CBR_EINVAL, "%s is NULL%s", s_name, why);
    for (uint32_t o = 0; o < out_c; o++) {
        if (m[o] != 0 && m[o] < (INT32_C(1) << 30))
            return cbr_fail(CBR_EINVAL,
                            "%s[%u] = %d must be 0 or in [2^30, 2^31-1] = [1073741824, "
                            "2147483647] (see cbr_quantize_multiplier)",
                            m_name, o, (int)m[o]);
        if (s[o] < -31 || s[o] > 30)
            return cbr_fail(CBR_EINVAL, "%s[%u] = %d is outside [-31, 30]", s_name, o,
                            (int)s[o]);
    }
    return 0;
}

/* The pooling rules; pool is normalized and kind is MAX or AVG. */
static int check_pool(const cbr_pool *p, uint32_t oh, uint32_t ow)
{
    int rc;
    if (p->kh == 0 || p->kw == 0)
        return cbr_fail(CBR_EINVAL, "pool.%s = 0; the pool window must be at least 1",
                        p->kh == 0 ? "kh" : "kw");
    if ((rc = check_positive("pool.stride_h", p->stride_h)) < 0 ||
        (rc = check_positive("pool.stride_w", p->stride_w)) < 0)
        return rc;
    const struct {
        const char *pad_name, *win_name;
        uint32_t pad, win;
    } pads[] = {
        {"pool.pad_top", "pool.kh", p->pad_top, p->kh},
        {"pool.pad_bottom", "pool.kh", p->pad_bottom, p->kh},
        {"pool.pad_left", "pool.kw", p->pad_left, p->kw},
        {"pool.pad_right", "pool.kw", p->pad_right, p->kw},
    };
    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        if (pads[i].pad >= pads[i].win)
            return cbr_fail(CBR_EINVAL, "%s = %u must be less than the window %s = %u",
                            pads[i].pad_name, pads[i].pad, pads[i].win_name, pads[i].win);
    }
    uint32_t ph, pw;
    cbr_pool_out_size(p, oh, ow, &ph, &pw);
    if (ph < 1)
        return cbr_fail(CBR_EINVAL,
                        "pooled output height is 0: the conv output height %u + pool.pad_top "
                        "%u + pool.pad_bottom %u is smaller than the window pool.kh = %u",
                        oh, p->pad_top, p->pad_bottom, p->kh);
    if (pw < 1)
        return cbr_fail(CBR_EINVAL,
                        "pooled output width is 0: the conv output width %u + pool.pad_left "
                        "%u + pool.pad_right %u is smaller than the window pool.kw = %u",
                        ow, p->pad_left, p->pad_right, p->kw);
    return 0;
}

int cbr_layer_check(const cbr_layer_desc *d)
{
    int rc;
    if (!d)
        return cbr_fail(CBR_EINVAL, "the layer description is NULL");

    /* Sizes first: the array checks at the end rely on them. */
    if ((rc = check_dim("in_c", d->in_c)) < 0 || (rc = check_dim("in_h", d->in_h)) < 0 ||
        (rc = check_dim("in_w", d->in_w)) < 0 || (rc = check_dim("out_c", d->out_c)) < 0 ||
        (rc = check_kernel("kh", d->kh)) < 0 || (rc = check_kernel("kw", d->kw)) < 0)
        return rc;
    if ((rc = check_positive("stride_h", d->stride_h)) < 0 ||
        (rc = check_positive("stride_w", d->stride_w)) < 0 ||
        (rc = check_positive("dilation_h", d->dilation_h)) < 0 ||
        (rc = check_positive("dilation_w", d->dilation_w)) < 0 ||
        (rc = check_positive("groups", d->groups)) < 0)
        return rc;
    if ((rc = check_at_most("stride_h", d->stride_h, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("stride_w", d->stride_w, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("dilation_h", d->dilation_h, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("dilation_w", d->dilation_w, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("pad_top", d->pad_top, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("pad_left", d->pad_left, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("pad_bottom", d->pad_bottom, CBR_MAX_DIM)) < 0 ||
        (rc = check_at_most("pad_right", d->pad_right, CBR_MAX_DIM)) < 0)
        return rc;
    if (d->in_c % d->groups != 0)
        return cbr_fail(CBR_EINVAL, "groups = %u does not divide in_c = %u", d->groups,
                        d->in_c);
    if (d->out_c % d->groups != 0)
        return cbr_fail(CBR_EINVAL, "groups = %u does not divide out_c = %u", d->groups,
                        d->out_c);

    uint64_t reduction = (uint64_t)(d->in_c / d->groups) * d->kh * d->kw;
    if (reduction > CBR_MAX_REDUCTION)
        return cbr_fail(CBR_ERANGE,
                        "reduction length (C/G)*KH*KW = (in_c %u / groups %u) * kh %u * kw %u "
                        "= %llu exceeds %d and could overflow int32",
                        d->in_c, d->groups, d->kh, d->kw, (unsigned long long)reduction,
                        CBR_MAX_REDUCTION);

    uint32_t oh, ow;
    cbr_conv_out_size(d, &oh, &ow);
    if (oh < 1)
        return cbr_fail(CBR_EINVAL,
                        "conv output height OH = 0: in_h %u + pad_top %u + pad_bottom %u is "
                        "smaller than the dilated kernel dilation_h*(kh-1)+1 = %llu",
                        d->in_h, d->pad_top, d->pad_bottom,
                        (unsigned long long)d->dilation_h * (d->kh - 1) + 1);
    if (ow < 1)
        return cbr_fail(CBR_EINVAL,
                        "conv output width OW = 0: in_w %u + pad_left %u + pad_right %u is "
                        "smaller than the dilated kernel dilation_w*(kw-1)+1 = %llu",
                        d->in_w, d->pad_left, d->pad_right,
                        (unsigned long long)d->dilation_w * (d->kw - 1) + 1);

    if ((rc = check_int8("input_zp", d->input_zp)) < 0 ||
        (rc = check_int8("output_zp", d->output_zp)) < 0)
        return rc;

    /* Enums are compared as unsigned so that a negative value is out of range too. */
    if ((unsigned)d->act > CBR_ACT_LEAKY)
        return cbr_fail(CBR_EINVAL, "act = %d is not a valid cbr_act (0..3)", (int)d->act);
    if ((unsigned)d->pool.kind > CBR_POOL_GAVG)
        return cbr_fail(CBR_EINVAL, "pool.kind = %d is not a valid cbr_pool_kind (0..3)",
                        (int)d->pool.kind);
    if ((unsigned)d->layout > CBR_LAYOUT_NHWC)
        return cbr_fail(CBR_EINVAL, "layout = %d is not a valid cbr_layout (0..1)",
                        (int)d->layout);

    if (d->has_clamp) {
        if ((rc = check_int8("clamp_min", d->clamp_min)) < 0 ||
            (rc = check_int8("clamp_max", d->clamp_max)) < 0)
            return rc;
        if (d->clamp_min > d->clamp_max)
            return cbr_fail(CBR_EINVAL, "clamp_min = %d is greater than clamp_max = %d",
                            (int)d->clamp_min, (int)d->clamp_max);
    }
    if (d->act == CBR_ACT_RELU6 && !d->has_clamp)
        return cbr_fail(CBR_EINVAL,
                        "relu6 needs an explicit clamp in integer mode: act_max = y_zp + "
                        "round(6 / y_scale); see cbr_relu6_range (set has_clamp, clamp_min "
                        "and clamp_max)");
    int32_t act_min, act_max;
    if ((rc = cbr_act_range(d, &act_min, &act_max)) < 0)
        return rc;

    if (d->pool.kind == CBR_POOL_MAX || d->pool.kind == CBR_POOL_AVG) {
        if ((rc = check_pool(&d->pool, oh, ow)) < 0)
            return rc;
    }

    /* The arrays, now that their sizes are known to be sane. */
    if (!d->weights)
        return cbr_fail(CBR_EINVAL, "weights is NULL");
    uint32_t cg = d->in_c / d->groups;
    const int8_t *w = d->weights;
    for (uint32_t o = 0; o < d->out_c; o++)
        for (uint32_t c = 0; c < cg; c++)
            for (uint32_t i = 0; i < d->kh; i++)
                for (uint32_t j = 0; j < d->kw; j++, w++)
                    if (*w == -128)
                        return cbr_fail(CBR_EINVAL,
                                        "weights[o=%u, c=%u, kh=%u, kw=%u] = -128; weights "
                                        "must be in [-127, 127] (symmetric)",
                                        o, c, i, j);
    if ((rc = check_requant_pair("multiplier", d->multiplier, "shift", d->shift, d->out_c,
                                 "")) < 0)
        return rc;
    if (d->act == CBR_ACT_LEAKY &&
        (rc = check_requant_pair("neg_multiplier", d->neg_multiplier, "neg_shift",
                                 d->neg_shift, d->out_c,
                                 " (leaky relu needs the pair used when acc < 0)")) < 0)
        return rc;
    return 0;
}

/* ---- the layer -------------------------------------------------------------------------- */

/* The low 32 bits of v as a two's-complement int32: what a 32-bit adder gives. Written
 * without the implementation-defined conversion of an out-of-range value to int32_t. */
static int32_t wrap_int32(int64_t v)
{
    uint32_t u = (uint32_t)v; /* modulo 2^32: defined */
    if (u <= INT32_MAX)
        return (int32_t)u;
    return -(int32_t)(~u) - 1; /* u - 2^32, and ~u < 2^31 */
}

void cbr_golden_conv_acc(const cbr_layer_desc *d, uint32_t n, const int8_t *x, int32_t *acc)
{
    uint32_t oh_n, ow_n;
    cbr_conv_out_size(d, &oh_n, &ow_n);
    const uint32_t C = d->in_c, H = d->in_h, W = d->in_w, O = d->out_c;
    const uint32_t cg = C / d->groups, og = O / d->groups;

    for (uint32_t b = 0; b < n; b++)
        for (uint32_t o = 0; o < O; o++) {
            const uint32_t g = o / og;
            for (uint32_t oh = 0; oh < oh_n; oh++)
                for (uint32_t ow = 0; ow < ow_n; ow++) {
                    /* |sum| <= 65536 * 255 * 127 < 2^31, exact in int64 */
                    int64_t sum = 0;
                    for (uint32_t ci = 0; ci < cg; ci++) {
                        const uint32_t c = g * cg + ci;
                        for (uint32_t i = 0; i < d->kh; i++) {
                            int64_t ih = (int64_t)oh * d->stride_h - d->pad_top +
                                         (int64_t)i * d->dilation_h;
                            if (ih < 0 || ih >= H)
                                continue; /* padding is x_zp: contributes 0 */
                            for (uint32_t j = 0; j < d->kw; j++) {
                                int64_t iw = (int64_t)ow * d->stride_w - d->pad_left +
                                             (int64_t)j * d->dilation_w;
                                if (iw < 0 || iw >= W)
                                    continue;
                                size_t xi = (((size_t)b * C + c) * H + (size_t)ih) * W +
                                            (size_t)iw;
                                size_t wi = (((size_t)o * cg + ci) * d->kh + i) * d->kw + j;
                                sum += (int64_t)(x[xi] - d->input_zp) * d->weights[wi];
                            }
                        }
                    }
                    /* The accumulator is int32 and starts at the bias: a bias near the int32
                     * limits wraps, as a 32-bit adder does (the order does not matter). */
                    int64_t bias = d->bias ? d->bias[o] : 0;
                    size_t ai = (((size_t)b * O + o) * oh_n + oh) * ow_n + ow;
                    acc[ai] = wrap_int32(bias + sum);
                }
        }
}

void cbr_golden_requant(const cbr_layer_desc *d, uint32_t n, const int32_t *acc, int8_t *y)
{
    uint32_t oh, ow;
    cbr_conv_out_size(d, &oh, &ow);
    int32_t act_min = -128, act_max = 127;
    int rc = cbr_act_range(d, &act_min, &act_max);
    assert(rc == 0); /* the desc was checked */
    (void)rc;
    const bool leaky = d->act == CBR_ACT_LEAKY;
    const size_t plane = (size_t)oh * ow;

    for (uint32_t b = 0; b < n; b++)
        for (uint32_t o = 0; o < d->out_c; o++) {
            size_t base = ((size_t)b * d->out_c + o) * plane;
            int32_t neg_m0 = leaky ? d->neg_multiplier[o] : 0;
            int32_t neg_shift = leaky ? d->neg_shift[o] : 0;
            for (size_t k = 0; k < plane; k++)
                y[base + k] = cbr_requant(acc[base + k], d->multiplier[o], d->shift[o], leaky,
                                          neg_m0, neg_shift, d->output_zp, act_min, act_max);
        }
}

/* sum / count rounded half away from zero, in integers; count > 0. */
static int8_t average(int64_t sum, int64_t count)
{
    int64_t mag = sum < 0 ? -sum : sum;
    int64_t q = (mag + count / 2) / count;
    return (int8_t)(sum < 0 ? -q : q);
}

/* The valid rows [*lo, *hi) of a window starting at start (possibly negative) of size k, on an
 * input of size in. */
static void window_range(int64_t start, uint32_t k, uint32_t in, int64_t *lo, int64_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + (int64_t)k;
    if (*hi > in)
        *hi = in;
}

void cbr_golden_pool(const cbr_pool *p, uint32_t n, uint32_t c, uint32_t h, uint32_t w,
                     const int8_t *y, int8_t *out)
{
    uint32_t ph_n, pw_n;
    cbr_pool_out_size(p, h, w, &ph_n, &pw_n);
    const uint32_t sh = pool_stride(p->stride_h, p->kh);
    const uint32_t sw = pool_stride(p->stride_w, p->kw);

    for (size_t pl = 0; pl < (size_t)n * c; pl++) {
        const int8_t *in = y + pl * h * w;
        int8_t *o = out + pl * ph_n * pw_n;

        if (p->kind == CBR_POOL_NONE) {
            for (size_t k = 0; k < (size_t)h * w; k++)
                o[k] = in[k];
            continue;
        }
        if (p->kind == CBR_POOL_GAVG) {
            int64_t sum = 0;
            for (size_t k = 0; k < (size_t)h * w; k++)
                sum += in[k];
            o[0] = average(sum, (int64_t)h * w);
            continue;
        }
        for (uint32_t ph = 0; ph < ph_n; ph++)
            for (uint32_t pw = 0; pw < pw_n; pw++) {
                int64_t r0, r1, c0, c1;
                window_range((int64_t)ph * sh - p->pad_top, p->kh, h, &r0, &r1);
                window_range((int64_t)pw * sw - p->pad_left, p->kw, w, &c0, &c1);
                /* Padded positions are skipped: they never win a max and are not counted
                 * in an average. Every window has a valid position (cbr_layer_check). */
                assert(r0 < r1 && c0 < c1);
                int64_t sum = 0;
                int max = -128;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t col = c0; col < c1; col++) {
                        int v = in[(size_t)r * w + (size_t)col];
                        sum += v;
                        if (v > max)
                            max = v;
                    }
                o[(size_t)ph * pw_n + pw] =
                    p->kind == CBR_POOL_MAX ? (int8_t)max : average(sum, (r1 - r0) * (c1 - c0));
            }
    }
}

/* a * b * c * d into *out, or false if it does not fit in size_t. */
static bool size_product(size_t a, size_t b, size_t c, size_t d, size_t *out)
{
    size_t r = a;
    if (b && r > SIZE_MAX / b)
        return false;
    r *= b;
    if (c && r > SIZE_MAX / c)
        return false;
    r *= c;
    if (d && r > SIZE_MAX / d)
        return false;
    *out = r * d;
    return true;
}

int cbr_golden_layer(const cbr_layer_desc *d, uint32_t n, const int8_t *x, int8_t *out)
{
    uint32_t oh, ow;
    cbr_conv_out_size(d, &oh, &ow);
    size_t count;
    if (!size_product(n, d->out_c, oh, ow, &count) || count > SIZE_MAX / sizeof(int32_t))
        return cbr_fail(CBR_ENOMEM, "golden model: %u x %u x %u x %u accumulators do not fit "
                        "in memory", n, d->out_c, oh, ow);
    if (count == 0)
        return 0;

    int rc = 0;
    int8_t *y = NULL; /* the activations before pooling, when there is pooling */
    int32_t *acc = malloc(count * sizeof *acc);
    if (!acc)
        return cbr_fail(CBR_ENOMEM, "golden model: out of memory for %zu accumulators", count);
    if (d->pool.kind != CBR_POOL_NONE) {
        y = malloc(count);
        if (!y) {
            rc = cbr_fail(CBR_ENOMEM, "golden model: out of memory for %zu activations",
                          count);
            goto out_free_acc;
        }
    }

    cbr_golden_conv_acc(d, n, x, acc);
    if (y) {
        cbr_golden_requant(d, n, acc, y);
        cbr_golden_pool(&d->pool, n, d->out_c, oh, ow, y, out);
    } else {
        cbr_golden_requant(d, n, acc, out);
    }

    free(y);
out_free_acc:
    free(acc);
    return rc;
}
