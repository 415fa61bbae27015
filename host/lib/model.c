/*
 * model.c - models: shape inference and checks, the float executor (the reference that
 * calibration and `cbr run --float` use), calibration, quantization files, and the public
 * cbr_model_* calls. The int8 lowering is in model_quant.c, the ONNX loader in onnx.c.
 *
 * The float executor is plain loops in the graph's order, in double where it sums, written to
 * define the float semantics (ONNX's), not for speed.
 */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "golden.h"
#include "model.h"

#define NODE_FAIL(m, n, code, fmt, ...)                                                       \
    cbr_fail(code, "%s: node '%s' (%s): " fmt, (m)->name, (n)->name, m_op_names[(n)->op],   \
             __VA_ARGS__)

/* ---- shapes ----------------------------------------------------------------------------- */

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pa, int64_t pb)
{
    int64_t span = in + pa + pb - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* auto_pad SAME_*: the total padding so that out = ceil(in / s). */
static void same_pads(int64_t in, int64_t k, int64_t s, int64_t d, bool lower, int64_t *pa,
                      int64_t *pb)
{
    int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0)
        total = 0;
    *pa = lower ? total - total / 2 : total / 2;
    *pb = total - *pa;
}

/* Padding of a conv or pool node, in ONNX's meaning of auto_pad; kernel in k[2]. */
static void node_pads(const cbr_model *m, const m_node *n, const int64_t k[2], int64_t p[4])
{
    const m_tensor *x = &m->t[n->in[0]];
    memcpy(p, n->pads, sizeof n->pads);
    if (n->auto_pad == PAD_VALID) {
        p[0] = p[1] = p[2] = p[3] = 0;
    } else if (n->auto_pad == PAD_SAME_UPPER || n->auto_pad == PAD_SAME_LOWER) {
        bool lower = n->auto_pad == PAD_SAME_LOWER;
        same_pads(x->dims[1], k[0], n->strides[0], n->dilations[0], lower, &p[0], &p[2]);
        same_pads(x->dims[2], k[1], n->strides[1], n->dilations[1], lower, &p[1], &p[3]);
    }
}

void m_conv_pads(const cbr_model *m, const m_node *n, uint32_t pads[4])
{
    const m_tensor *w = &m->t[m_conv_w(n)];
    int64_t k[2] = {w->dims[2], w->dims[3]}, p[4];
    node_pads(m, n, k, p);
    for (int i = 0; i < 4; i++)
        pads[i] = (uint32_t)p[i];
}

void m_pool_params(const cbr_model *m, const m_node *n, cbr_pool *pool)
{
    memset(pool, 0, sizeof *pool);
    if (n->op == OP_GAP) {
        pool->kind = CBR_POOL_GAVG;
        return;
    }
    int64_t p[4];
    node_pads(m, n, n->kernel, p);
    pool->kind = n->op == OP_MAXPOOL ? CBR_POOL_MAX : CBR_POOL_AVG;
    pool->kh = (uint32_t)n->kernel[0];
    pool->kw = (uint32_t)n->kernel[1];
    pool->stride_h = (uint32_t)n->strides[0];
    pool->stride_w = (uint32_t)n->strides[1];
    pool->pad_top = (uint32_t)p[0];
    pool->pad_left = (uint32_t)p[1];
    pool->pad_bottom = (uint32_t)p[2];
    pool->pad_right = (uint32_t)p[3];
    /* With auto_pad SAME the output size is fixed by the padding; ceil_mode does not apply. */
    pool->ceil_mode = n->ceil_mode && (n->auto_pad == PAD_NOTSET || n->auto_pad == PAD_VALID);
}

uint32_t m_pool_count_incl(const cbr_pool *p, uint32_t h, uint32_t w, uint32_t oh,
                           uint32_t ow)
{
    /* The window's positions inside the padded input: the pads count, an overhang past
     * them (ceil_mode) does not. */
    int64_t r0 = (int64_t)oh * p->stride_h - p->pad_top, c0 = (int64_t)ow * p->stride_w -
                                                                p->pad_left;
    int64_t r1 = r0 + p->kh, c1 = c0 + p->kw;
    int64_t rl = -(int64_t)p->pad_top, rh = (int64_t)h + p->pad_bottom;
    int64_t cl = -(int64_t)p->pad_left, ch = (int64_t)w + p->pad_right;
    r0 = r0 < rl ? rl : r0;
    c0 = c0 < cl ? cl : c0;
    r1 = r1 > rh ? rh : r1;
    c1 = c1 > ch ? ch : c1;
    return r1 > r0 && c1 > c0 ? (uint32_t)((r1 - r0) * (c1 - c0)) : 0;
}

static void set_shape(m_tensor *t, uint32_t ndim, const uint32_t *dims)
{
    t->dtype = M_FLOAT;
    t->ndim = ndim;
    t->count = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        t->count *= dims[i];
    }
}

static bool same_shape(const m_tensor *a, const m_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (uint32_t i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

static const char *shape_str(const m_tensor *t, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "(");
    for (uint32_t i = 0; i < t->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%u", i ? "," : "", t->dims[i]);
    if (o < len)
        snprintf(buf + o, len - o, ")");
    return buf;
}

/* Input k of node n: an activation (want_const false) or a constant. */
static int need(const cbr_model *m, const m_node *n, uint32_t k, bool want_const,
                const char *what)
{
    if (k >= n->n_in || n->in[k] < 0)
        return NODE_FAIL(m, n, CBR_EBADMSG, "input %u (%s) is missing", k, what);
    const m_tensor *t = &m->t[n->in[k]];
    if (want_const && !t->is_const)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "input %u (%s, '%s') must be a constant "
                         "(an initializer)", k, what, t->name);
    if (!want_const && t->is_const)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "input %u (%s, '%s') must be computed from the "
                         "graph input, not a constant", k, what, t->name);
    if (want_const && t->dtype != M_FLOAT && strcmp(what, "shape") != 0 &&
        n->op != OP_QLINEARCONV)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "input %u (%s, '%s') must be float", k, what,
                         t->name);
    return 0;
}

static int need_count(const cbr_model *m, const m_node *n, uint32_t k, uint64_t count,
                      const char *what)
{
    const m_tensor *t = &m->t[n->in[k]];
    if (t->count != count)
        return NODE_FAIL(m, n, CBR_EINVAL, "%s '%s' has %llu values; %llu expected", what,
                         t->name, (unsigned long long)t->count, (unsigned long long)count);
    return 0;
}

static int prep_conv(cbr_model *m, m_node *n, uint32_t *od)
{
    int rc;
    char b1[64], b2[64];
    const bool ql = n->op == OP_QLINEARCONV;
    const uint32_t wk = ql ? 3 : 1, bk = ql ? 8 : 2;
    if ((rc = need(m, n, 0, false, "X")) < 0 || (rc = need(m, n, wk, true, "W")) < 0)
        return rc;
    const m_tensor *x = &m->t[n->in[0]], *w = &m->t[n->in[wk]];
    if (ql && w->dtype != M_INT8 && w->dtype != M_UINT8)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "W '%s' is %s; int8 or uint8 expected", w->name,
                         w->dtype == M_FLOAT ? "float" : "an integer type");
    if (x->ndim != 3 || w->ndim != 4)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "only 2-D convolution is supported: X %s (per "
                         "sample), W %s", shape_str(x, b1, sizeof b1), shape_str(w, b2,
                                                                                sizeof b2));
    int64_t g = n->group, c = x->dims[0], o = w->dims[0];
    if (c % g || o % g || w->dims[1] != c / g)
        return NODE_FAIL(m, n, CBR_EINVAL, "W %s does not fit %lld input channels in %lld "
                         "groups", shape_str(w, b2, sizeof b2), (long long)c, (long long)g);
    if (n->n_kernel && (n->kernel[0] != w->dims[2] || n->kernel[1] != w->dims[3]))
        return NODE_FAIL(m, n, CBR_EINVAL, "kernel_shape %lldx%lld differs from W %s",
                         (long long)n->kernel[0], (long long)n->kernel[1],
                         shape_str(w, b2, sizeof b2));
    if (n->n_in > bk && n->in[bk] >= 0) {
        if ((rc = need(m, n, bk, true, "B")) < 0 || (rc = need_count(m, n, bk, (uint64_t)o,
                                                                      "bias")) < 0)
            return rc;
        if (ql && m->t[n->in[bk]].dtype != M_INT32)
            return NODE_FAIL(m, n, CBR_ENOTSUP, "B '%s' must be int32", m->t[n->in[bk]].name);
    }
    uint32_t p[4];
    m_conv_pads(m, n, p);
    int64_t oh = conv_out(x->dims[1], w->dims[2], n->strides[0], n->dilations[0], p[0], p[2]);
    int64_t ow = conv_out(x->dims[2], w->dims[3], n->strides[1], n->dilations[1], p[1], p[3]);
    if (oh < 1 || ow < 1)
        return NODE_FAIL(m, n, CBR_EINVAL, "the output plane is empty (input %s, kernel "
                         "%ux%u)", shape_str(x, b1, sizeof b1), w->dims[2], w->dims[3]);
    od[0] = (uint32_t)o;
    od[1] = (uint32_t)oh;
    od[2] = (uint32_t)ow;
    return 0;
}

static uint32_t pool_dim(uint32_t in, uint32_t pa, uint32_t pb, uint32_t k, uint32_t s,
                         bool ceil_mode)
{
    uint64_t total = (uint64_t)in + pa + pb;
    if (total < k)
        return 0;
    uint64_t span = total - k;
    uint64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= (uint64_t)in + pa)
        out--;
    return (uint32_t)out;
}

static int prep_pool(cbr_model *m, m_node *n, uint32_t *od)
{
    int rc;
    char b1[64];
    if ((rc = need(m, n, 0, false, "X")) < 0)
        return rc;
    const m_tensor *x = &m->t[n->in[0]];
    if (x->ndim != 3)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "only 2-D pooling is supported: X %s per sample",
                         shape_str(x, b1, sizeof b1));
    od[0] = x->dims[0];
    if (n->op == OP_GAP) {
        od[1] = od[2] = 1;
        return 0;
    }
    if (n->n_kernel != 2)
        return NODE_FAIL(m, n, CBR_EBADMSG, "%s", "kernel_shape (2 ints) is required");
    if (n->dilations[0] != 1 || n->dilations[1] != 1)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "%s", "dilated pooling is not supported");
    cbr_pool p;
    m_pool_params(m, n, &p);
    if (p.pad_top >= p.kh || p.pad_bottom >= p.kh || p.pad_left >= p.kw ||
        p.pad_right >= p.kw)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "padding %u,%u,%u,%u must be smaller than the "
                         "window %ux%u", p.pad_top, p.pad_left, p.pad_bottom, p.pad_right,
                         p.kh, p.kw);
    od[1] = pool_dim(x->dims[1], p.pad_top, p.pad_bottom, p.kh, p.stride_h, p.ceil_mode);
    od[2] = pool_dim(x->dims[2], p.pad_left, p.pad_right, p.kw, p.stride_w, p.ceil_mode);
    if (od[1] < 1 || od[2] < 1)
        return NODE_FAIL(m, n, CBR_EINVAL, "the window %ux%u does not fit the input %s", p.kh,
                         p.kw, shape_str(x, b1, sizeof b1));
    return 0;
}

/* Reshape's per-sample output from its constant shape. */
static int prep_reshape(cbr_model *m, m_node *n, uint32_t *ond, uint32_t *od)
{
    int rc;
    if ((rc = need(m, n, 0, false, "data")) < 0 || (rc = need(m, n, 1, true, "shape")) < 0)
        return rc;
    const m_tensor *x = &m->t[n->in[0]], *s = &m->t[n->in[1]];
    if (s->dtype != M_INT64 || s->ndim != 1 || s->count < 2 || s->count > M_MAX_DIMS + 1)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "shape '%s' must be int64 with 2 to %d values, the "
                         "first for the batch", s->name, M_MAX_DIMS + 1);
    if (s->i64[0] < -1)
        return NODE_FAIL(m, n, CBR_EINVAL, "shape[0] = %lld", (long long)s->i64[0]);
    uint32_t nd = (uint32_t)s->count - 1;
    int infer = -1;
    uint64_t prod = 1;
    for (uint32_t i = 0; i < nd; i++) {
        int64_t v = s->i64[i + 1];
        if (v == -1) {
            if (infer >= 0 || s->i64[0] == -1)
                return NODE_FAIL(m, n, CBR_EINVAL, "shape '%s' has more than one -1", s->name);
            infer = (int)i;
            continue;
        }
        if (v == 0) {
            if (i >= x->ndim)
                return NODE_FAIL(m, n, CBR_EINVAL, "shape[%u] = 0 copies a dimension the "
                                 "input does not have", i + 1);
            v = x->dims[i];
        }
        if (v < 1 || v > (int64_t)M_MAX_ELEMS)
            return NODE_FAIL(m, n, CBR_EINVAL, "shape[%u] = %lld", i + 1, (long long)v);
        od[i] = (uint32_t)v;
        prod *= (uint64_t)v;
        if (prod > M_MAX_ELEMS)
            return NODE_FAIL(m, n, CBR_EINVAL, "shape '%s' is too large", s->name);
    }
    if (infer >= 0) {
        if (x->count % prod)
            return NODE_FAIL(m, n, CBR_EINVAL, "cannot reshape %llu values per sample with "
                             "'%s'", (unsigned long long)x->count, s->name);
        od[infer] = (uint32_t)(x->count / prod);
        prod *= od[infer];
    }
    if (prod != x->count)
        return NODE_FAIL(m, n, CBR_EINVAL, "shape '%s' gives %llu values per sample; the "
                         "input has %llu (the first entry is the batch)", s->name,
                         (unsigned long long)prod, (unsigned long long)x->count);
    *ond = nd;
    return 0;
}

/* Add's constant operand must broadcast onto the activation's batched shape. */
static int check_broadcast(const cbr_model *m, const m_node *n, const m_tensor *x,
                           const m_tensor *c)
{
    uint32_t full = x->ndim + 1;
    bool ok = c->ndim <= full;
    for (uint32_t i = 0; ok && i < c->ndim; i++) {
        uint32_t cd = c->dims[c->ndim - 1 - i];
        uint32_t xi = full - 1 - i; /* 0 is the batch */
        uint32_t xd = xi == 0 ? 1 : x->dims[xi - 1];
        ok = cd == 1 || cd == xd;
    }
    char b1[64], b2[64];
    if (!ok)
        return NODE_FAIL(m, n, CBR_EINVAL, "constant '%s' %s does not broadcast onto (N)+%s",
                         c->name, shape_str(c, b1, sizeof b1), shape_str(x, b2, sizeof b2));
    return 0;
}

/* Input k of n, a constant quantization parameter: a scale (float, finite, > 0) or a zero
 * point (of type dtype, or uint8/int8 when dtype is 0), with 1 value or, when per > 0, 1 or
 * per values. *idx: the tensor's index, -1 for an optional one that is absent. */
static int need_qparam(const cbr_model *m, const m_node *n, uint32_t k, const char *what,
                       bool scale, int dtype, uint64_t per, bool optional, int *idx)
{
    *idx = -1;
    if (k >= n->n_in || n->in[k] < 0) {
        if (optional)
            return 0;
        return NODE_FAIL(m, n, CBR_EBADMSG, "input %u (%s) is missing", k, what);
    }
    const m_tensor *t = &m->t[n->in[k]];
    if (!t->is_const)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "input %u (%s, '%s') must be a constant", k, what,
                         t->name);
    if (scale ? t->dtype != M_FLOAT
              : dtype ? t->dtype != dtype : t->dtype != M_UINT8 && t->dtype != M_INT8)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "%s '%s' has the wrong type (%s expected)", what,
                         t->name, scale ? "float" : dtype == M_INT32 ? "int32"
                                      : dtype == M_INT8 ? "int8" : dtype ? "uint8"
                                                                          : "uint8 or int8");
    if (t->count != 1 && (per == 0 || t->count != per))
        return NODE_FAIL(m, n, CBR_ENOTSUP, "%s '%s' has %llu values; %s expected%s", what,
                         t->name, (unsigned long long)t->count, per ? "1 or one per channel"
                                                                    : "1",
                         per ? "" : " (activations are quantized per tensor)");
    for (uint64_t i = 0; scale && i < t->count; i++)
        if (!(isfinite(t->f[i]) && t->f[i] > 0))
            return NODE_FAIL(m, n, CBR_EINVAL, "%s '%s' holds %g; a finite scale > 0 is "
                             "expected", what, t->name, (double)t->f[i]);
    *idx = n->in[k];
    return 0;
}

/* The int8 zero point of an integer tensor's zero point value v of type dtype. */
static int32_t zp8(int64_t v, int dtype)
{
    return (int32_t)(dtype == M_UINT8 ? v - 128 : v);
}

/* DequantizeLinear of a constant: the output becomes a float constant. */
static int fold_dq(cbr_model *m, m_node *n)
{
    const m_tensor *x = &m->t[n->in[0]];
    m_tensor *y = &m->t[n->out];
    if (x->dtype != M_UINT8 && x->dtype != M_INT8 && x->dtype != M_INT32)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "x '%s' must be uint8, int8 or int32", x->name);
    int64_t a = n->has_axis ? n->axis : x->ndim == 1 ? 0 : 1;
    if (a < 0)
        a += x->ndim;
    const m_tensor *st = n->n_in > 1 && n->in[1] >= 0 ? &m->t[n->in[1]] : NULL;
    uint64_t per = st && st->count > 1 && a >= 0 && a < (int64_t)x->ndim ? x->dims[a] : 0;
    if (st && st->count > 1 && per == 0)
        return NODE_FAIL(m, n, CBR_EINVAL, "axis %lld is outside x '%s'", (long long)n->axis,
                         x->name);
    int si, zi, rc;
    if ((rc = need_qparam(m, n, 1, "x_scale", true, 0, per, false, &si)) < 0 ||
        (rc = need_qparam(m, n, 2, "x_zero_point", false, x->dtype, per, true, &zi)) < 0)
        return rc;
    const m_tensor *s = &m->t[si], *z = zi >= 0 ? &m->t[zi] : NULL;
    if (z && z->count != s->count)
        return NODE_FAIL(m, n, CBR_EINVAL, "x_zero_point '%s' and x_scale '%s' differ in "
                         "length", z->name, s->name);
    if (y->is_output)
        return NODE_FAIL(m, n, CBR_ENOTSUP, "output '%s' is a constant", y->name);
    uint64_t inner = 1;
    for (int64_t d = a + 1; per && d < (int64_t)x->ndim; d++)
        inner *= x->dims[d];
    if (!(y->f = malloc((x->count ? x->count : 1) * sizeof *y->f)))
        return NODE_FAIL(m, n, CBR_ENOMEM, "%s", "out of memory");
    for (uint64_t i = 0; i < x->count; i++) {
        uint64_t c = per ? i / inner % per : 0;
        double zv = z ? (double)z->i64[c] : 0.0;
        y->f[i] = (float)(((double)x->i64[i] - zv) * s->f[c]);
    }
    y->is_const = true;
    y->dtype = M_FLOAT;
    y->ndim = x->ndim;
    memcpy(y->dims, x->dims, sizeof y->dims);
    y->count = x->count;
    n->folded = true;
    return 0;
}

static int prep_node(cbr_model *m, m_node *n)
{
    uint32_t od[M_MAX_DIMS] = {0}, ond = 0;
    int rc;
    char b1[64], b2[64];
    const m_tensor *x = n->in[0] >= 0 ? &m->t[n->in[0]] : NULL;
    int out_dt = M_FLOAT; /* with out_qp: the output's type and its scale, zero point */
    bool out_qp = false;
    float oq_scale = 0;
    int32_t oq_zp = 0;
    for (uint32_t k = 0; k < n->n_in; k++) {
        const m_tensor *t = n->in[k] >= 0 ? &m->t[n->in[k]] : NULL;
        if (t && !t->is_const && m_is_int(t) &&
            !(k == 0 && (n->op == OP_DEQUANTIZE || n->op == OP_QLINEARCONV)))
            return NODE_FAIL(m, n, CBR_ENOTSUP, "input %u ('%s') is %s: only "
                             "DequantizeLinear and QLinearConv take quantized tensors", k,
                             t->name, t->dtype == M_UINT8 ? "uint8" : "int8");
    }
    switch (n->op) {
    case OP_CONV:
        if ((rc = prep_conv(m, n, od)) < 0)
            return rc;
        ond = 3;
        break;
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GAP:
        if ((rc = prep_pool(m, n, od)) < 0)
            return rc;
        ond = 3;
        break;
    case OP_BN: {
        if ((rc = need(m, n, 0, false, "X")) < 0)
            return rc;
        if (x->ndim < 1)
            return NODE_FAIL(m, n, CBR_EINVAL, "%s", "X has no channel dimension");
        static const char *const what[] = {"", "scale", "B", "mean", "var"};
        for (uint32_t k = 1; k < 5; k++)
            if ((rc = need(m, n, k, true, what[k])) < 0 ||
                (rc = need_count(m, n, k, x->dims[0], what[k])) < 0)
                return rc;
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    }
    case OP_CLIP:
        for (uint32_t k = 1; k < 3 && k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            if ((rc = need(m, n, k, true, k == 1 ? "min" : "max")) < 0 ||
                (rc = need_count(m, n, k, 1, k == 1 ? "min" : "max")) < 0)
                return rc;
            float v = m->t[n->in[k]].f[0];
            if (!isfinite(v))
                return NODE_FAIL(m, n, CBR_EINVAL, "%s is not finite", k == 1 ? "min" : "max");
            if (k == 1)
                n->clip_min = v;
            else
                n->clip_max = v;
        }
        if (n->clip_min > n->clip_max)
            return NODE_FAIL(m, n, CBR_EINVAL, "min %g > max %g", (double)n->clip_min,
                             (double)n->clip_max);
        /* fall through */
    case OP_RELU:
    case OP_LEAKY:
    case OP_SIGMOID:
    case OP_IDENTITY:
    case OP_DROPOUT:
        if ((rc = need(m, n, 0, false, "X")) < 0)
            return rc;
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    case OP_SOFTMAX:
    case OP_LOGSOFTMAX: {
        if ((rc = need(m, n, 0, false, "X")) < 0)
            return rc;
        int64_t full = x->ndim + 1;
        int64_t a = n->has_axis ? n->axis : m->opset >= 13 ? -1 : 1;
        if (a < 0)
            a += full;
        if (a < 1 || a >= full || (m->opset >= 13 && a != full - 1))
            return NODE_FAIL(m, n, CBR_ENOTSUP, "axis %lld: only the last axis (or, before "
                             "opset 13, any axis but the batch) is supported", (long long)a);
        n->axis = a; /* normalised: the softmax runs over the dims from a on, together */
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    }
    case OP_FLATTEN: {
        if ((rc = need(m, n, 0, false, "X")) < 0)
            return rc;
        int64_t a = n->axis < 0 ? n->axis + x->ndim + 1 : n->axis;
        if (a != 1)
            return NODE_FAIL(m, n, CBR_ENOTSUP, "axis %lld: only axis 1 (keep the batch) is "
                             "supported", (long long)n->axis);
        ond = 1;
        od[0] = (uint32_t)x->count;
        break;
    }
    case OP_RESHAPE:
        if ((rc = prep_reshape(m, n, &ond, od)) < 0)
            return rc;
        break;
    case OP_GEMM:
    case OP_MATMUL: {
        if ((rc = need(m, n, 0, false, "A")) < 0 || (rc = need(m, n, 1, true, "B")) < 0)
            return rc;
        const m_tensor *b = &m->t[n->in[1]];
        if (x->ndim != 1 || b->ndim != 2)
            return NODE_FAIL(m, n, CBR_ENOTSUP, "A must be (N, K) and B 2-D; they are (N)+%s "
                             "and %s (Flatten first)", shape_str(x, b1, sizeof b1),
                             shape_str(b, b2, sizeof b2));
        if (n->trans_a)
            return NODE_FAIL(m, n, CBR_ENOTSUP, "%s", "transA = 1 is not supported");
        bool tb = n->op == OP_GEMM && n->trans_b;
        uint32_t k = tb ? b->dims[1] : b->dims[0], mo = tb ? b->dims[0] : b->dims[1];
        if (k != x->dims[0])
            return NODE_FAIL(m, n, CBR_EINVAL, "A has %u features, B %s wants %u", x->dims[0],
                             shape_str(b, b2, sizeof b2), k);
        if (n->op == OP_GEMM && n->n_in > 2 && n->in[2] >= 0) {
            if ((rc = need(m, n, 2, true, "C")) < 0)
                return rc;
            const m_tensor *c = &m->t[n->in[2]];
            if (c->count != 1 && c->count != mo)
                return NODE_FAIL(m, n, CBR_EINVAL, "C '%s' has %llu values; 1 or %u expected",
                                 c->name, (unsigned long long)c->count, mo);
        }
        ond = 1;
        od[0] = mo;
        break;
    }
    case OP_ADD: {
        if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0)
            return NODE_FAIL(m, n, CBR_EBADMSG, "%s", "needs two inputs");
        const m_tensor *a = &m->t[n->in[0]], *b = &m->t[n->in[1]];
        if (a->is_const && b->is_const)
            return NODE_FAIL(m, n, CBR_ENOTSUP, "%s", "both inputs are constants");
        if (!a->is_const && !b->is_const) {
            if (!same_shape(a, b))
                return NODE_FAIL(m, n, CBR_ENOTSUP, "the inputs' shapes %s and %s differ "
                                 "(broadcasting is supported for constants only)",
                                 shape_str(a, b1, sizeof b1), shape_str(b, b2, sizeof b2));
        } else {
            const m_tensor *act = a->is_const ? b : a, *c = a->is_const ? a : b;
            if (c->dtype != M_FLOAT)
                return NODE_FAIL(m, n, CBR_ENOTSUP, "constant '%s' must be float", c->name);
            if ((rc = check_broadcast(m, n, act, c)) < 0)
                return rc;
            x = act;
        }
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    }
    case OP_QUANTIZE: {
        if ((rc = need(m, n, 0, false, "x")) < 0)
            return rc;
        int si, zi;
        if ((rc = need_qparam(m, n, 1, "y_scale", true, 0, 0, false, &si)) < 0 ||
            (rc = need_qparam(m, n, 2, "y_zero_point", false, 0, 0, true, &zi)) < 0)
            return rc;
        out_dt = zi >= 0 ? m->t[zi].dtype : M_UINT8;
        out_qp = true;
        oq_scale = m->t[si].f[0];
        oq_zp = zp8(zi >= 0 ? m->t[zi].i64[0] : 0, out_dt);
        /* The int8 run quantizes x with these parameters where it makes x in int8. */
        m_tensor *xm = &m->t[n->in[0]];
        if (!xm->has_qp) {
            xm->has_qp = true;
            xm->q_scale = oq_scale;
            xm->q_zp = oq_zp;
        }
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    }
    case OP_DEQUANTIZE: {
        if (n->n_in < 1 || n->in[0] < 0)
            return NODE_FAIL(m, n, CBR_EBADMSG, "%s", "input 0 (x) is missing");
        if (x->is_const)
            return fold_dq(m, n);
        if (!m_is_int(x))
            return NODE_FAIL(m, n, CBR_ENOTSUP, "x '%s' must be uint8 or int8 (the output of "
                             "a QuantizeLinear or QLinearConv)", x->name);
        int si, zi;
        if ((rc = need_qparam(m, n, 1, "x_scale", true, 0, 0, false, &si)) < 0 ||
            (rc = need_qparam(m, n, 2, "x_zero_point", false, x->dtype, 0, true, &zi)) < 0)
            return rc;
        out_qp = true;
        oq_scale = m->t[si].f[0];
        oq_zp = zp8(zi >= 0 ? m->t[zi].i64[0] : 0, x->dtype);
        ond = x->ndim;
        memcpy(od, x->dims, sizeof od);
        break;
    }
    case OP_QLINEARCONV: {
        if ((rc = need(m, n, 0, false, "x")) < 0)
            return rc;
        if (!m_is_int(x))
            return NODE_FAIL(m, n, CBR_ENOTSUP, "x '%s' must be uint8 or int8 (the output of "
                             "a QuantizeLinear)", x->name);
        if ((rc = prep_conv(m, n, od)) < 0)
            return rc;
        const m_tensor *w = &m->t[n->in[3]];
        int k;
        if ((rc = need_qparam(m, n, 1, "x_scale", true, 0, 0, false, &k)) < 0 ||
            (rc = need_qparam(m, n, 2, "x_zero_point", false, x->dtype, 0, false, &k)) < 0 ||
            (rc = need_qparam(m, n, 4, "w_scale", true, 0, w->dims[0], false, &k)) < 0 ||
            (rc = need_qparam(m, n, 5, "w_zero_point", false, w->dtype, w->dims[0], false,
                              &k)) < 0 ||
            (rc = need_qparam(m, n, 6, "y_scale", true, 0, 0, false, &k)) < 0 ||
            (rc = need_qparam(m, n, 7, "y_zero_point", false, 0, 0, false, &k)) < 0)
            return rc;
        const int zi = k;
        out_dt = m->t[zi].dtype;
        out_qp = true;
        oq_scale = m->t[n->in[6]].f[0];
        oq_zp = zp8(m->t[zi].i64[0], out_dt);
        ond = 3;
        break;
    }
    default: /* the loader accepts only the operators above */
        return cbr_fail(CBR_ENOTSUP, "%s: node '%s': operator not supported", m->name,
                        n->name);
    }
    m_tensor *y = &m->t[n->out];
    uint64_t count = 1;
    for (uint32_t i = 0; i < ond; i++) {
        count *= od[i];
        if (od[i] == 0 || count > M_MAX_ELEMS)
            return NODE_FAIL(m, n, CBR_ERANGE, "output '%s' is empty or has more than %llu "
                             "values per sample", y->name, (unsigned long long)M_MAX_ELEMS);
    }
    set_shape(y, ond, od);
    y->dtype = out_dt;
    if (out_qp) {
        y->has_qp = true;
        y->q_scale = oq_scale;
        y->q_zp = oq_zp;
    }
    return 0;
}

int m_prepare(cbr_model *m)
{
    for (uint32_t t = 0; t < m->n_t; t++) {
        const m_tensor *x = &m->t[t];
        if (x->producer >= 0 && m->nodes[x->producer].out != (int)t &&
            (x->n_consumers || x->is_output))
            return cbr_fail(CBR_ENOTSUP, "%s: node '%s' (%s): its second output '%s' is used; "
                            "only the first output is supported", m->name,
                            m->nodes[x->producer].name, m_op_names[m->nodes[x->producer].op],
                            x->name);
    }
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        int rc = prep_node(m, &m->nodes[i]);
        if (rc < 0)
            return rc;
    }
    const m_tensor *out = &m->t[m->output];
    if (m_is_int(out))
        return cbr_fail(CBR_ENOTSUP, "%s: the graph output '%s' is %s: end the graph with a "
                        "DequantizeLinear", m->name, out->name,
                        out->dtype == M_UINT8 ? "uint8" : "int8");
    return 0;
}

/* ---- the float executor ----------------------------------------------------------------- */

/* Conv, and QLinearConv as ONNX defines it: the integer sums of (x - x_zp) (w - w_zp) + B,
 * times x_scale w_scale / y_scale, rounded half to even, plus y_zp, saturated. */
static void conv_f(const cbr_model *m, const m_node *nd, uint32_t n, const float *x, float *y)
{
    const bool ql = nd->op == OP_QLINEARCONV;
    const m_tensor *xt = &m->t[nd->in[0]], *w = &m->t[m_conv_w(nd)], *yt = &m->t[nd->out];
    const uint32_t bk = ql ? 8 : 2;
    const m_tensor *bt = nd->n_in > bk && nd->in[bk] >= 0 ? &m->t[nd->in[bk]] : NULL;
    double xz = 0, xs = 1, ys = 1, yz = 0, qmin = 0, qmax = 0;
    const m_tensor *ws = NULL, *wz = NULL;
    if (ql) {
        xs = m->t[nd->in[1]].f[0];
        xz = m->t[nd->in[2]].f[0];
        ws = &m->t[nd->in[4]];
        wz = &m->t[nd->in[5]];
        ys = m->t[nd->in[6]].f[0];
        yz = m->t[nd->in[7]].f[0];
        qmin = yt->dtype == M_UINT8 ? 0 : -128;
        qmax = yt->dtype == M_UINT8 ? 255 : 127;
    }
    uint32_t p[4];
    m_conv_pads(m, nd, p);
    const uint32_t C = xt->dims[0], H = xt->dims[1], W = xt->dims[2];
    const uint32_t O = yt->dims[0], OH = yt->dims[1], OW = yt->dims[2];
    const uint32_t KH = w->dims[2], KW = w->dims[3], G = (uint32_t)nd->group;
    const uint32_t cg = C / G, og = O / G;
    const int64_t sh = nd->strides[0], sw = nd->strides[1];
    const int64_t dh = nd->dilations[0], dw = nd->dilations[1];
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t o = 0; o < O; o++) {
            uint32_t g = o / og;
            for (uint32_t oh = 0; oh < OH; oh++)
                for (uint32_t ow = 0; ow < OW; ow++) {
                    double acc = !bt ? 0.0 : ql ? (double)bt->i64[o] : bt->f[o];
                    const double wzo = ql ? wz->f[wz->count == 1 ? 0 : o] : 0.0;
                    for (uint32_t c = 0; c < cg; c++)
                        for (uint32_t kh = 0; kh < KH; kh++) {
                            int64_t ih = oh * sh - p[0] + kh * dh;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (uint32_t kw = 0; kw < KW; kw++) {
                                int64_t iw = ow * sw - p[1] + kw * dw;
                                if (iw < 0 || iw >= W)
                                    continue;
                                acc += ((double)x[(((size_t)i * C + g * cg + c) * H + ih) * W +
                                                  iw] - xz) *
                                       (w->f[(((size_t)o * cg + c) * KH + kh) * KW + kw] - wzo);
                            }
                        }
                    if (ql) {
                        double v = rint(acc * (xs * ws->f[ws->count == 1 ? 0 : o] / ys)) + yz;
                        acc = v < qmin ? qmin : v > qmax ? qmax : v;
                    }
                    y[(((size_t)i * O + o) * OH + oh) * OW + ow] = (float)acc;
                }
        }
}

static void pool_f(const cbr_model *m, const m_node *nd, uint32_t n, const float *x, float *y)
{
    const m_tensor *xt = &m->t[nd->in[0]], *yt = &m->t[nd->out];
    const uint32_t C = xt->dims[0], H = xt->dims[1], W = xt->dims[2];
    const uint32_t OH = yt->dims[1], OW = yt->dims[2];
    cbr_pool p;
    m_pool_params(m, nd, &p);
    if (p.kind == CBR_POOL_GAVG) {
        p.kh = H;
        p.kw = W;
        p.stride_h = p.stride_w = 1;
    }
    for (size_t pl = 0; pl < (size_t)n * C; pl++)
        for (uint32_t oh = 0; oh < OH; oh++)
            for (uint32_t ow = 0; ow < OW; ow++) {
                double acc = p.kind == CBR_POOL_MAX ? -INFINITY : 0.0;
                uint32_t cnt = 0;
                for (uint32_t kh = 0; kh < p.kh; kh++) {
                    int64_t ih = (int64_t)oh * p.stride_h - p.pad_top + kh;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (uint32_t kw = 0; kw < p.kw; kw++) {
                        int64_t iw = (int64_t)ow * p.stride_w - p.pad_left + kw;
                        if (iw < 0 || iw >= W)
                            continue;
                        double v = x[(pl * H + ih) * W + iw];
                        if (p.kind == CBR_POOL_MAX)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                        cnt++;
                    }
                }
                if (p.kind == CBR_POOL_AVG && nd->count_include_pad)
                    cnt = m_pool_count_incl(&p, H, W, oh, ow);
                if (p.kind != CBR_POOL_MAX)
                    acc = cnt ? acc / cnt : 0.0;
                y[(pl * OH + oh) * OW + ow] = (float)acc;
            }
}

static void fc_f(const cbr_model *m, const m_node *nd, uint32_t n, const float *x, float *y)
{
    const m_tensor *b = &m->t[nd->in[1]];
    const uint32_t K = m->t[nd->in[0]].dims[0], M = m->t[nd->out].dims[0];
    const bool tb = nd->op == OP_GEMM && nd->trans_b;
    const m_tensor *c = nd->op == OP_GEMM && nd->n_in > 2 && nd->in[2] >= 0 ? &m->t[nd->in[2]]
                                                                              : NULL;
    const double alpha = nd->op == OP_GEMM ? nd->alpha : 1.0;
    const double beta = nd->op == OP_GEMM ? nd->beta : 1.0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < M; j++) {
            double acc = 0;
            for (uint32_t k = 0; k < K; k++)
                acc += (double)x[(size_t)i * K + k] *
                       b->f[tb ? (size_t)j * K + k : (size_t)k * M + j];
            acc *= alpha;
            if (c)
                acc += beta * c->f[c->count == 1 ? 0 : j];
            y[(size_t)i * M + j] = (float)acc;
        }
}

/* Index into constant c broadcast onto the batched shape of x, for flat sample index e. */
static size_t bcast_index(const m_tensor *x, const m_tensor *c, uint64_t e)
{
    size_t idx = 0, stride = 1;
    for (uint32_t i = 0; i < c->ndim && i < x->ndim; i++) {
        uint32_t xd = x->dims[x->ndim - 1 - i], cd = c->dims[c->ndim - 1 - i];
        uint64_t coord = e % xd;
        e /= xd;
        if (cd != 1)
            idx += (size_t)coord * stride;
        stride *= cd;
    }
    return idx;
}

int m_exec_float_node(cbr_model *m, const m_node *nd, uint32_t n, float **vals)
{
    if (nd->folded)
        return 0;
    const m_tensor *yt = &m->t[nd->out];
    const uint64_t S = yt->count;
    float *y = malloc((size_t)n * S * sizeof *y);
    if (!y)
        return NODE_FAIL(m, nd, CBR_ENOMEM, "%s", "out of memory");
    const float *x = vals[nd->in[0]];
    const m_tensor *xt = &m->t[nd->in[0]];
    switch (nd->op) {
    case OP_CONV:
    case OP_QLINEARCONV:
        conv_f(m, nd, n, x, y);
        break;
    case OP_QUANTIZE: {
        const double s = m->t[nd->in[1]].f[0];
        const bool has_z = nd->n_in > 2 && nd->in[2] >= 0;
        const double z = has_z ? m->t[nd->in[2]].f[0] : 0.0;
        const double lo = yt->dtype == M_UINT8 ? 0 : -128, hi = yt->dtype == M_UINT8 ? 255 : 127;
        for (uint64_t i = 0; i < n * S; i++) {
            double v = rint((double)x[i] / s) + z;
            y[i] = (float)(v < lo ? lo : v > hi ? hi : v);
        }
        break;
    }
    case OP_DEQUANTIZE: {
        const double s = m->t[nd->in[1]].f[0];
        const double z = nd->n_in > 2 && nd->in[2] >= 0 ? m->t[nd->in[2]].f[0] : 0.0;
        for (uint64_t i = 0; i < n * S; i++)
            y[i] = (float)(((double)x[i] - z) * s);
        break;
    }
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GAP:
        pool_f(m, nd, n, x, y);
        break;
    case OP_GEMM:
    case OP_MATMUL:
        fc_f(m, nd, n, x, y);
        break;
    case OP_BN: {
        const float *g = m->t[nd->in[1]].f, *b = m->t[nd->in[2]].f;
        const float *mu = m->t[nd->in[3]].f, *var = m->t[nd->in[4]].f;
        uint64_t plane = S / xt->dims[0];
        for (uint64_t i = 0; i < n * S; i++) {
            uint32_t c = (uint32_t)(i % S / plane);
            double inv = g[c] / sqrt((double)var[c] + nd->eps);
            y[i] = (float)((x[i] - mu[c]) * inv + b[c]);
        }
        break;
    }
    case OP_RELU:
        for (uint64_t i = 0; i < n * S; i++)
            y[i] = x[i] > 0 ? x[i] : 0.0f;
        break;
    case OP_CLIP:
        for (uint64_t i = 0; i < n * S; i++)
            y[i] = x[i] < nd->clip_min ? nd->clip_min : x[i] > nd->clip_max ? nd->clip_max
                                                                              : x[i];
        break;
    case OP_LEAKY:
        for (uint64_t i = 0; i < n * S; i++)
            y[i] = x[i] >= 0 ? x[i] : (float)((double)x[i] * nd->alpha);
        break;
    case OP_SIGMOID:
        for (uint64_t i = 0; i < n * S; i++)
            y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        break;
    case OP_SOFTMAX:
    case OP_LOGSOFTMAX: {
        uint64_t inner = 1;
        for (uint32_t d = (uint32_t)nd->axis - 1; d < yt->ndim; d++)
            inner *= yt->dims[d];
        for (uint64_t r = 0; r < n * S / inner; r++) {
            const float *xr = x + r * inner;
            float *yr = y + r * inner;
            double mx = -INFINITY, sum = 0;
            for (uint64_t k = 0; k < inner; k++)
                mx = xr[k] > mx ? xr[k] : mx;
            for (uint64_t k = 0; k < inner; k++)
                sum += exp(xr[k] - mx);
            for (uint64_t k = 0; k < inner; k++)
                yr[k] = (float)(nd->op == OP_SOFTMAX ? exp(xr[k] - mx) / sum
                                                     : xr[k] - mx - log(sum));
        }
        break;
    }
    case OP_ADD: {
        const m_tensor *a = &m->t[nd->in[0]], *b = &m->t[nd->in[1]];
        if (!a->is_const && !b->is_const) {
            const float *xb = vals[nd->in[1]];
            for (uint64_t i = 0; i < n * S; i++)
                y[i] = x[i] + xb[i];
        } else {
            const m_tensor *act = a->is_const ? b : a, *c = a->is_const ? a : b;
            const float *xa = vals[act == a ? nd->in[0] : nd->in[1]];
            for (uint64_t i = 0; i < n * S; i++)
                y[i] = xa[i] + c->f[bcast_index(act, c, i % S)];
        }
        break;
    }
    default: /* Flatten, Reshape, Identity, Dropout: the same values */
        memcpy(y, x, (size_t)n * S * sizeof *y);
        break;
    }
    free(vals[nd->out]);
    vals[nd->out] = y;
    return 0;
}

void m_free_vals(const cbr_model *m, float **vals)
{
    for (uint32_t i = 0; i < m->n_t; i++) {
        free(vals[i]);
        vals[i] = NULL;
    }
}

int m_run_float(cbr_model *m, uint32_t n, const float *x, float **vals)
{
    const m_tensor *in = &m->t[m->input];
    if (!(vals[m->input] = malloc((size_t)n * in->count * sizeof(float))))
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    memcpy(vals[m->input], x, (size_t)n * in->count * sizeof(float));
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        int rc = m_exec_float_node(m, &m->nodes[i], n, vals);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- public calls ----------------------------------------------------------------------- */

/* x must be float32 (N, the model's input sample). */
static int check_input(const cbr_model *m, const cbr_tensor *x, const char *what)
{
    const m_tensor *in = &m->t[m->input];
    char b1[64];
    if (!x)
        return cbr_fail(CBR_EINVAL, "%s is NULL", what);
    if (x->dtype != CBR_DTYPE_FLOAT32)
        return cbr_fail(CBR_EINVAL, "%s is %s; the model '%s' takes float32 (N)+%s", what,
                        cbr_dtype_name(x->dtype), m->name, shape_str(in, b1, sizeof b1));
    bool ok = x->ndim == in->ndim + 1 && x->shape[0] >= 1 && x->shape[0] <= UINT32_MAX;
    for (uint32_t i = 0; ok && i < in->ndim; i++)
        ok = x->shape[i + 1] == in->dims[i];
    if (!ok) {
        char got[128];
        size_t o = (size_t)snprintf(got, sizeof got, "(");
        for (uint32_t i = 0; i < x->ndim && o < sizeof got; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%llu", i ? "," : "",
                                  (unsigned long long)x->shape[i]);
        if (o < sizeof got)
            snprintf(got + o, sizeof got - o, ")");
        return cbr_fail(CBR_EINVAL, "%s has shape %s; the model '%s' takes (N)+%s (input "
                        "'%s')", what, got, m->name, shape_str(in, b1, sizeof b1),
                        in->name);
    }
    return 0;
}

int cbr_model_parse(cbr_model **model, const void *bytes, size_t len, const char *name,
                    const char *dir)
{
    return m_onnx_parse(model, bytes, len, name, dir);
}

void cbr_model_free(cbr_model *model)
{
    m_free(model);
}

int cbr_model_input_shape(const cbr_model *m, uint32_t *ndim,
                          uint64_t shape[CBR_TENSOR_MAX_DIMS])
{
    if (!m || !ndim || !shape)
        return cbr_fail(CBR_EINVAL, "cbr_model_input_shape: an argument is NULL");
    const m_tensor *in = &m->t[m->input];
    *ndim = in->ndim;
    for (uint32_t i = 0; i < in->ndim; i++)
        shape[i] = in->dims[i];
    return 0;
}

void cbr_model_set_progress(cbr_model *m, cbr_progress_fn fn, void *user)
{
    if (!m)
        return;
    m->progress = fn;
    m->progress_user = user;
}

#define CHUNK 64 /* images per pass: bounds the memory of intermediates */

int cbr_model_run_float(cbr_model *m, const cbr_tensor *x, cbr_tensor **y)
{
    if (!m || !y)
        return cbr_fail(CBR_EINVAL, "cbr_model_run_float: model or y is NULL");
    *y = NULL;
    int rc = check_input(m, x, "the input");
    if (rc < 0)
        return rc;
    const m_tensor *ot = &m->t[m->output], *in = &m->t[m->input];
    uint64_t shape[CBR_TENSOR_MAX_DIMS + 1];
    shape[0] = x->shape[0];
    for (uint32_t i = 0; i < ot->ndim; i++)
        shape[i + 1] = ot->dims[i];
    if (ot->ndim + 1 > CBR_TENSOR_MAX_DIMS)
        return cbr_fail(CBR_ENOTSUP, "%s: the output has too many dimensions", m->name);
    cbr_tensor *out;
    if ((rc = cbr_tensor_create(&out, CBR_DTYPE_FLOAT32, ot->ndim + 1, shape)) < 0)
        return rc;
    float **vals = calloc(m->n_t, sizeof *vals);
    if (!vals) {
        cbr_tensor_free(out);
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    }
    const uint64_t N = x->shape[0];
    for (uint64_t i = 0; i < N && rc == 0; i += CHUNK) {
        uint32_t b = (uint32_t)(N - i < CHUNK ? N - i : CHUNK);
        rc = m_run_float(m, b, (const float *)x->data + i * in->count, vals);
        if (rc == 0)
            memcpy((float *)out->data + i * ot->count, vals[m->output],
                   (size_t)b * ot->count * sizeof(float));
        m_free_vals(m, vals);
        if (m->progress)
            m->progress(m->progress_user, i + b, N);
    }
    free(vals);
    if (rc < 0) {
        cbr_tensor_free(out);
        return rc;
    }
    *y = out;
    return 0;
}

int cbr_model_calibrate(cbr_model *m, const cbr_tensor *samples)
{
    if (!m)
        return cbr_fail(CBR_EINVAL, "cbr_model_calibrate: model is NULL");
    int rc = check_input(m, samples, "the calibration samples");
    if (rc < 0)
        return rc;
    const m_tensor *in = &m->t[m->input];
    const float *xs = samples->data;
    for (uint64_t i = 0; i < samples->count; i++)
        if (!isfinite(xs[i]))
            return cbr_fail(CBR_EINVAL, "the calibration samples: value %llu is not finite",
                            (unsigned long long)i);
    float *lo = malloc(m->n_t * sizeof *lo), *hi = malloc(m->n_t * sizeof *hi);
    float **vals = calloc(m->n_t, sizeof *vals);
    if (!lo || !hi || !vals) {
        rc = cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        goto out_free;
    }
    for (uint32_t t = 0; t < m->n_t; t++) {
        lo[t] = INFINITY;
        hi[t] = -INFINITY;
    }
    const uint64_t N = samples->shape[0];
    for (uint64_t i = 0; i < N; i += CHUNK) {
        uint32_t b = (uint32_t)(N - i < CHUNK ? N - i : CHUNK);
        rc = m_run_float(m, b, xs + i * in->count, vals);
        for (uint32_t t = 0; rc == 0 && t < m->n_t; t++) {
            if (!vals[t])
                continue;
            for (uint64_t k = 0; k < b * m->t[t].count; k++) {
                float v = vals[t][k];
                if (!isfinite(v)) {
                    rc = cbr_fail(CBR_ERANGE, "%s: calibration: tensor '%s' reaches %g",
                                  m->name, m->t[t].name, (double)v);
                    break;
                }
                lo[t] = v < lo[t] ? v : lo[t];
                hi[t] = v > hi[t] ? v : hi[t];
            }
        }
        m_free_vals(m, vals);
        if (rc < 0)
            goto out_free;
        if (m->progress)
            m->progress(m->progress_user, i + b, N);
    }
    for (uint32_t t = 0; t < m->n_t; t++) {
        if (m->t[t].is_const || !(lo[t] <= hi[t]))
            continue;
        m->t[t].has_range = true;
        m->t[t].lo = lo[t];
        m->t[t].hi = hi[t];
    }
out_free:
    free(vals);
    free(lo);
    free(hi);
    return rc;
}

bool cbr_model_is_quantized(const cbr_model *m)
{
    if (!m)
        return false;
    for (uint32_t t = 0; t < m->n_t; t++)
        if (!m->t[t].is_const && !m->t[t].has_range && !m->t[t].has_qp)
            return m_has_scales(m); /* scales from the graph may be all the run needs */
    return true;
}

/* ---- quantization files ----------------------------------------------------------------- */

#define QFILE_MAGIC "cbr-quant 1"

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cbr_fail(errno == ENOENT ? CBR_ENOENT : CBR_EIO, "%s: %s", path,
                        strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = cbr_fail(CBR_EIO, "%s: not a regular file", path);
        goto out_close;
    }
    if (st.st_size > (off_t)1 << 31) {
        rc = cbr_fail(CBR_ERANGE, "%s: larger than 2 GiB", path);
        goto out_close;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        rc = cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
        goto out_close;
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        rc = cbr_fail(CBR_EIO, "%s: read failed", path);
        goto out_close;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
out_close:
    fclose(f);
    return rc;
}

/* The folder of path ("." when it has none), in a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int load_onnx_file(cbr_model **model, const char *path, const char *data, size_t len)
{
    char *dir = dir_of(path);
    if (!dir)
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
    int rc = m_onnx_parse(model, data, len, path, dir);
    free(dir);
    if (rc == 0 && !((*model)->path = strdup(path))) {
        m_free(*model);
        *model = NULL;
        rc = cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
    }
    return rc;
}

/* A quantization file: the magic line, "model FILE", "fnv1a64 HEX", "range LO HI NAME"... */
static int load_qfile(cbr_model **model, const char *path, char *text)
{
    int rc;
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    unsigned lineno = 1;
    cbr_model *m = NULL;
    char *onnx_path = NULL;
    uint64_t hash = 0;
    bool have_hash = false;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        lineno++;
        if (!strncmp(line, "model ", 6) && !m) {
            char *dir = dir_of(path);
            const char *file = line + 6;
            if (!dir)
                return cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
            size_t l = strlen(dir) + strlen(file) + 2;
            onnx_path = malloc(l);
            if (onnx_path)
                snprintf(onnx_path, l, "%s/%s", dir, file);
            free(dir);
            if (!onnx_path)
                return cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
            char *data;
            size_t len;
            if ((rc = read_file(onnx_path, &data, &len)) < 0) {
                cbr_fail(rc, "%s: line %u: the model it names: %s", path, lineno,
                         cbr_errmsg(NULL));
                goto out_fail;
            }
            rc = load_onnx_file(&m, onnx_path, data, len);
            free(data);
            if (rc < 0)
                goto out_fail;
        } else if (!strncmp(line, "fnv1a64 ", 8)) {
            char *end;
            errno = 0;
            hash = strtoull(line + 8, &end, 16);
            if (errno || *end || end == line + 8) {
                rc = cbr_fail(CBR_EBADMSG, "%s: line %u: bad hash", path, lineno);
                goto out_fail;
            }
            have_hash = true;
        } else if (!strncmp(line, "range ", 6) && m) {
            char *p = line + 6, *end;
            float lo = strtof(p, &end);
            float hi = end != p ? strtof(end, &p) : 0;
            if (end == line + 6 || p == end || *p != ' ' || !isfinite(lo) || !isfinite(hi) ||
                lo > hi) {
                rc = cbr_fail(CBR_EBADMSG, "%s: line %u: expected 'range LO HI NAME' with "
                              "finite LO <= HI", path, lineno);
                goto out_fail;
            }
            int t = m_find_tensor(m, p + 1);
            if (t < 0 || m->t[t].is_const) {
                rc = cbr_fail(CBR_EBADMSG, "%s: line %u: '%s' is not an activation of %s",
                              path, lineno, p + 1, onnx_path);
                goto out_fail;
            }
            m->t[t].has_range = true;
            m->t[t].lo = lo;
            m->t[t].hi = hi;
        } else {
            rc = cbr_fail(CBR_EBADMSG, "%s: line %u: not a line of a quantization file (a "
                          "'model' line, then 'fnv1a64' and 'range' lines)", path, lineno);
            goto out_fail;
        }
    }
    if (!m) {
        rc = cbr_fail(CBR_EBADMSG, "%s: no 'model' line", path);
        goto out_fail;
    }
    if (!have_hash || hash != m->hash) {
        rc = cbr_fail(CBR_EINVAL, "%s: %s has changed since it was calibrated (hash "
                      "mismatch); calibrate again", path, onnx_path);
        goto out_fail;
    }
    free(onnx_path);
    *model = m;
    return 0;
out_fail:
    m_free(m);
    free(onnx_path);
    return rc;
}

int cbr_model_load(cbr_model **model, const char *path)
{
    if (!model || !path)
        return cbr_fail(CBR_EINVAL, "cbr_model_load: model or path is NULL");
    *model = NULL;
    char *data;
    size_t len;
    int rc = read_file(path, &data, &len);
    if (rc < 0)
        return rc;
    if (len >= strlen(QFILE_MAGIC) && !memcmp(data, QFILE_MAGIC, strlen(QFILE_MAGIC)) &&
        (data[strlen(QFILE_MAGIC)] == '\n' || data[strlen(QFILE_MAGIC)] == '\0')) {
        if (strlen(data) != len)
            rc = cbr_fail(CBR_EBADMSG, "%s: a NUL byte in a quantization file", path);
        else
            rc = load_qfile(model, path, data);
    } else {
        rc = load_onnx_file(model, path, data, len);
    }
    free(data);
    return rc;
}

int cbr_model_save(const cbr_model *m, const char *path)
{
    if (!m || !path)
        return cbr_fail(CBR_EINVAL, "cbr_model_save: model or path is NULL");
    if (!m->path)
        return cbr_fail(CBR_EINVAL, "cbr_model_save: %s was not loaded from a file", m->name);
    char real_model[PATH_MAX], real_dir[PATH_MAX];
    char *dir = dir_of(path);
    if (!dir)
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
    bool ok = realpath(m->path, real_model) && realpath(dir, real_dir);
    free(dir);
    if (!ok)
        return cbr_fail(CBR_ENOENT, "%s: %s", path, strerror(errno));
    /* The model's path relative to the quantization file's folder. */
    char rel[PATH_MAX * 2] = "";
    size_t dl = strlen(real_dir), common = 0;
    if (dl == 1)
        dl = 0; /* the root */
    if (!strncmp(real_model, real_dir, dl) && real_model[dl] == '/') {
        common = dl;
    } else {
        for (size_t i = 0; real_model[i] && real_model[i] == real_dir[i]; i++)
            if (real_model[i] == '/')
                common = i;
    }
    for (const char *p = dl ? real_dir + common : ""; *p; p++)
        if (*p == '/' && strlen(rel) + 4 < sizeof rel)
            strcat(rel, "../");
    strncat(rel, real_model + common + 1, sizeof rel - strlen(rel) - 1);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return cbr_fail(CBR_EIO, "%s: %s", path, strerror(e));
    }
    fprintf(f, "%s\nmodel %s\nfnv1a64 %016llx\n", QFILE_MAGIC, rel,
            (unsigned long long)m->hash);
    for (uint32_t t = 0; t < m->n_t; t++) {
        const m_tensor *x = &m->t[t];
        if (x->has_range && !strchr(x->name, '\n'))
            fprintf(f, "range %.9g %.9g %s\n", (double)x->lo, (double)x->hi, x->name);
    }
    mode_t mask = umask(0);
    umask(mask);
    bool bad = ferror(f) != 0;
    bad |= fchmod(fileno(f), 0666 & ~mask) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return cbr_fail(CBR_EIO, "%s: writing failed: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

uint32_t cbr_model_layer_count(const cbr_model *m)
{
    return m ? m->n_recs : 0;
}

int cbr_model_layer_info(const cbr_model *m, uint32_t i, cbr_model_layer *info)
{
    if (!m || !info)
        return cbr_fail(CBR_EINVAL, "cbr_model_layer_info: model or info is NULL");
    if (i >= m->n_recs)
        return cbr_fail(CBR_EINVAL, "cbr_model_layer_info: step %u of %u", i, m->n_recs);
    info->name = m->recs[i].name;
    info->ops = m->recs[i].ops;
    info->on_device = m->recs[i].on_device;
    info->stats = m->recs[i].stats;
    return 0;
}

int cbr_model_run(cbr_model *m, cbr_device *dev, const cbr_tensor *x, bool int8_out,
                  cbr_tensor **y)
{
    if (!m || !dev || !y)
        return cbr_fail(CBR_EINVAL, "cbr_model_run: model, dev or y is NULL");
    *y = NULL;
    int rc = check_input(m, x, "the input");
    if (rc < 0)
        return rc;
    const m_tensor *ot = &m->t[m->output];
    if (ot->ndim + 1 > CBR_TENSOR_MAX_DIMS)
        return cbr_fail(CBR_ENOTSUP, "%s: the output has too many dimensions", m->name);
    uint64_t shape[CBR_TENSOR_MAX_DIMS];
    shape[0] = x->shape[0];
    for (uint32_t i = 0; i < ot->ndim; i++)
        shape[i + 1] = ot->dims[i];
    cbr_tensor *out;
    if ((rc = cbr_tensor_create(&out, int8_out ? CBR_DTYPE_INT8 : CBR_DTYPE_FLOAT32,
                                ot->ndim + 1, shape)) < 0)
        return rc;
    rc = m_run_int8(m, dev, (uint32_t)x->shape[0], x->data, int8_out, out->data);
    if (rc < 0) {
        cbr_tensor_free(out);
        return rc;
    }
    *y = out;
    return 0;
}
