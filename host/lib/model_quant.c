/*
 * model_quant.c - the int8 run of a model: lowering the float graph to device layers and
 * host steps, then running them over the batch.
 *
 * Lowering (docs/models.md):
 *  - Conv [+ BatchNormalization] [+ Relu | Clip | LeakyRelu] [+ MaxPool | AveragePool |
 *    GlobalAveragePool] becomes one device layer: BN folded into the float weights and bias,
 *    then per-channel symmetric int8 weights (cbr_fold_conv_bn). A pooling the device
 *    refuses runs on the host with the golden model's pooling (the same bits).
 *  - Gemm / MatMul [+ a constant Add as the bias] [+ activation] is a 1x1 conv over a 1x1
 *    plane whose channels are the features (FC as conv); Flatten / Reshape before it cost
 *    nothing, since NCHW order is the flattened order.
 *  - Add of two activations runs on the host as TFLite's int8 Add (both inputs rescaled to
 *    twice the larger input scale with a 20-bit left shift, summed, requantized), with a
 *    following Relu fused into its clamp. The same code runs for every device, so every
 *    device gives the same bits.
 *  - Pooling that follows anything but a conv runs on the host on int8 (golden pooling), and
 *    so does an AveragePool with count_include_pad and padding, which the device cannot do.
 *  - Quantized graphs: QLinearConv, and Conv with DequantizeLinear weights, become device
 *    layers with the graph's integer weights, bias and scales where they fit the device
 *    (exact_conv); QuantizeLinear / DequantizeLinear of activations are host steps on int8.
 *  - Everything else the float executor knows (Softmax, Sigmoid, a lone BatchNormalization,
 *    an Add of a constant, ...) runs in float on the dequantized input, and is quantized
 *    again with its own calibrated range where an int8 step consumes it.
 * Every activation is int8 with asymmetric (scale, zero point) from its calibrated range, as
 * TFLite's ChooseQuantizationParams picks them; a fused layer's output carries the range of
 * its activation (before pooling, which keeps scale and zero point).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "errors.h"
#include "golden.h"
#include "model.h"

#define CHUNK 64 /* images per pass through the steps */

typedef enum { ST_DEV, ST_ADD, ST_POOL, ST_ALIAS, ST_QUANT, ST_FLOAT } st_kind;

typedef struct step {
    st_kind kind;
    int node;                  /* the first node */
    int in, in2, out;          /* tensors */
    char ops[96];
    /* ST_DEV */
    cbr_layer_desc d;
    int8_t *w;
    int32_t *bias, *mult, *shift, *nmult, *nshift;
    bool host_pool;            /* the device refused the fused pooling */
    bool incl_pad;             /* ST_POOL: AveragePool with count_include_pad */
    cbr_pool pool;
    uint32_t conv_oh, conv_ow;
    cbr_layer *layer;
    /* ST_ADD: TFLite's int8 Add */
    int32_t m1, s1, m2, s2, mo, so, act_min, act_max;
} step;

typedef struct plan {
    cbr_model *m;
    step *steps;
    uint32_t n_steps;
    float *scale;              /* per tensor, for int8 tensors */
    int32_t *zp;
    bool *qp_set;
    int *consumer;             /* the only consumer node of a tensor, or -1 */
    bool *used;                /* nodes already in a step */
    bool missing_range;        /* a tensor had no scale (qp() failed) */
} plan;

#define NODE_FAIL(m, n, code, fmt, ...)                                                       \
    cbr_fail(code, "%s: node '%s' (%s): " fmt, (m)->name, (n)->name, m_op_names[(n)->op],   \
             __VA_ARGS__)

/* TFLite's ChooseQuantizationParams for int8 over [min(lo, 0), max(hi, 0)]. */
static void choose_qp(float lo, float hi, float *scale, int32_t *zp)
{
    double rmin = lo < 0 ? lo : 0, rmax = hi > 0 ? hi : 0;
    if (rmax - rmin <= 0) {
        *scale = 1.0f;
        *zp = -128;
        return;
    }
    const double qmin = -128, qmax = 127;
    double s = (rmax - rmin) / (qmax - qmin);
    double zmin = qmin - rmin / s, zmax = qmax - rmax / s;
    double emin = fabs(qmin) + fabs(rmin / s), emax = fabs(qmax) + fabs(rmax / s);
    double z = emin < emax ? zmin : zmax;
    *zp = z < qmin ? -128 : z > qmax ? 127 : (int32_t)cbr_round_half_away(z);
    *scale = (float)s;
}

/* The int8 parameters of tensor t: set by the plan, from the graph, or from its range. */
static int qp(plan *p, int t)
{
    if (p->qp_set[t])
        return 0;
    const m_tensor *x = &p->m->t[t];
    if (x->has_qp) {
        p->scale[t] = x->q_scale;
        p->zp[t] = x->q_zp;
    } else if (x->has_range) {
        choose_qp(x->lo, x->hi, &p->scale[t], &p->zp[t]);
    } else {
        p->missing_range = true;
        return cbr_fail(CBR_EINVAL, "%s: tensor '%s' has no activation range: calibrate the "
                        "float model (cbr run --calibrate S.npy, optionally --save Q.cbrq to "
                        "keep the ranges)", p->m->name, x->name);
    }
    p->qp_set[t] = true;
    return 0;
}

static void copy_qp(plan *p, int dst, int src)
{
    p->scale[dst] = p->scale[src];
    p->zp[dst] = p->zp[src];
    p->qp_set[dst] = true;
}

static void add_op(step *s, const m_node *n)
{
    size_t l = strlen(s->ops);
    snprintf(s->ops + l, sizeof s->ops - l, "%s%s", l ? "+" : "", m_op_names[n->op]);
}

/* The node that is the only consumer of t (t not a graph output), if it has op `op`. */
static const m_node *next_if(const plan *p, int t, m_op op)
{
    int c = p->consumer[t];
    if (c < 0 || p->used[c] || p->m->nodes[c].op != op || p->m->nodes[c].in[0] != t)
        return NULL;
    return &p->m->nodes[c];
}

static const m_node *next_act(const plan *p, int t)
{
    const m_node *a;
    if ((a = next_if(p, t, OP_RELU)) || (a = next_if(p, t, OP_CLIP)))
        return a;
    a = next_if(p, t, OP_LEAKY);
    return a && a->alpha >= 0 ? a : NULL;
}

static void use(plan *p, step *s, const m_node *n)
{
    p->used[n - p->m->nodes] = true;
    add_op(s, n);
}

/* Clamp of an activation node on the int8 output (scale, zp). */
static void act_clamp(const m_node *a, float scale, int32_t zp, cbr_layer_desc *d)
{
    if (a->op == OP_RELU) {
        d->act = CBR_ACT_RELU;
        return;
    }
    if (a->op == OP_LEAKY) {
        d->act = CBR_ACT_LEAKY;
        return;
    }
    /* Clip(lo, hi): relu when lo == 0, and the explicit clamp of both ends */
    d->act = a->clip_min == 0 ? CBR_ACT_RELU : CBR_ACT_NONE;
    d->has_clamp = true;
    d->clamp_min = a->clip_min == -INFINITY ? -128 : cbr_quantize(a->clip_min, scale, zp);
    d->clamp_max = a->clip_max == INFINITY ? 127 : cbr_quantize(a->clip_max, scale, zp);
}

/* An AveragePool that counts the padding: the device cannot (it averages over the valid
 * positions), so it runs on the host. */
static bool avg_incl_pad(const cbr_model *m, const m_node *n)
{
    if (n->op != OP_AVGPOOL || !n->count_include_pad)
        return false;
    cbr_pool pl;
    m_pool_params(m, n, &pl);
    return (pl.pad_top | pl.pad_left | pl.pad_bottom | pl.pad_right) != 0;
}

static int32_t int8_zp(const m_tensor *z)
{
    return (int32_t)(z->dtype == M_UINT8 ? z->i64[0] - 128 : z->i64[0]);
}

/* The constant folded from a DequantizeLinear of integers of type dtype (0: uint8 or
 * int8), or NULL. */
static const m_node *dq_source(const cbr_model *m, int t, int dtype)
{
    const m_tensor *x = &m->t[t];
    if (!x->is_const || x->producer < 0 || !m->nodes[x->producer].folded)
        return NULL;
    const m_node *dq = &m->nodes[x->producer];
    int dt = m->t[dq->in[0]].dtype;
    return (dtype ? dt == dtype : dt == M_UINT8 || dt == M_INT8) ? dq : NULL;
}

/* Integer weights and bias straight from the graph (QLinearConv, or a Conv whose weights are
 * a DequantizeLinear of int8 / uint8): exact when every q - w_zp is in [-127, 127], the
 * scales are per tensor or per output channel, and no BatchNormalization follows. Fills s's
 * arrays and returns true; false when the graph's integers do not fit the device's scheme
 * (then the float weights are quantized again). */
static bool exact_conv(const plan *p, step *s, const m_node *n, double xs, double ys,
                       double alpha, uint32_t O, size_t per_o)
{
    const cbr_model *m = p->m;
    const m_tensor *wi, *ws, *wz = NULL, *bi = NULL;
    const m_tensor *bs = NULL, *bz = NULL;
    if (n->op == OP_QLINEARCONV) {
        wi = &m->t[n->in[3]];
        ws = &m->t[n->in[4]];
        wz = &m->t[n->in[5]];
        bi = n->n_in > 8 && n->in[8] >= 0 ? &m->t[n->in[8]] : NULL;
    } else {
        const m_node *dq = dq_source(m, n->in[1], 0);
        if (!dq)
            return false;
        int64_t a = dq->has_axis ? dq->axis : 1;
        wi = &m->t[dq->in[0]];
        ws = &m->t[dq->in[1]];
        wz = dq->n_in > 2 && dq->in[2] >= 0 ? &m->t[dq->in[2]] : NULL;
        if (ws->count > 1 && a != 0 && a != -4)
            return false;
        if (n->n_in > 2 && n->in[2] >= 0) {
            const m_node *bq = dq_source(m, n->in[2], M_INT32);
            if (!bq)
                return false;
            bi = &m->t[bq->in[0]];
            bs = &m->t[bq->in[1]];
            bz = bq->n_in > 2 && bq->in[2] >= 0 ? &m->t[bq->in[2]] : NULL;
            if (bs->count != O && bs->count != 1)
                return false;
        }
    }
    for (uint32_t o = 0; o < O; o++) {
        const float w_s = ws->f[ws->count == 1 ? 0 : o];
        const int64_t w_z = wz ? wz->i64[wz->count == 1 ? 0 : o] : 0;
        for (size_t k = 0; k < per_o; k++) {
            int64_t v = wi->i64[o * per_o + k] - w_z;
            if (v < -127 || v > 127)
                return false;
            s->w[o * per_o + k] = (int8_t)v;
        }
        if (bi && bs) {
            /* DequantizeLinear(B): exact when its scale is x_scale * w_scale as float32 */
            if ((bz && bz->i64[bz->count == 1 ? 0 : o] != 0) ||
                bs->f[bs->count == 1 ? 0 : o] != (float)((float)xs * w_s))
                return false;
        }
        s->bias[o] = bi ? (int32_t)bi->i64[o] : 0;
        double real = xs * w_s / ys;
        cbr_quantize_multiplier(real, &s->mult[o], &s->shift[o]);
        if (s->nmult)
            cbr_quantize_multiplier(real * alpha, &s->nmult[o], &s->nshift[o]);
    }
    return true;
}

static int build_dev(plan *p, step *s, const m_node *n)
{
    cbr_model *m = p->m;
    int rc;
    s->kind = ST_DEV;
    s->in = n->in[0];
    use(p, s, n);
    int cur = n->out;
    const m_node *bn = NULL, *bias_add = NULL, *act = NULL;
    const bool ql = n->op == OP_QLINEARCONV; /* its output is an integer tensor: no fusing */
    const bool fc = n->op == OP_GEMM || n->op == OP_MATMUL;
    if (!fc && !ql && (bn = next_if(p, cur, OP_BN))) {
        use(p, s, bn);
        cur = bn->out;
    }
    if (n->op == OP_MATMUL && (bias_add = next_if(p, cur, OP_ADD))) {
        const m_tensor *c = &m->t[bias_add->in[1]];
        if (c->is_const && (c->count == 1 || c->count == m->t[cur].count)) {
            use(p, s, bias_add);
            cur = bias_add->out;
        } else {
            bias_add = NULL;
        }
    }
    if (!ql && (act = next_act(p, cur))) {
        use(p, s, act);
        cur = act->out;
    }
    const int act_t = cur;
    const m_node *pool = NULL;
    if (!fc && !ql && ((pool = next_if(p, cur, OP_MAXPOOL)) ||
                       (pool = next_if(p, cur, OP_AVGPOOL)) || (pool = next_if(p, cur, OP_GAP)))) {
        if (avg_incl_pad(m, pool)) {
            pool = NULL;
        } else {
            use(p, s, pool);
            cur = pool->out;
        }
    }
    s->out = cur;
    /* A scale the graph gives after the pooling (a QuantizeLinear) is the activation's. */
    if (s->out != act_t && m->t[s->out].has_qp && !p->qp_set[act_t]) {
        p->scale[act_t] = m->t[s->out].q_scale;
        p->zp[act_t] = m->t[s->out].q_zp;
        p->qp_set[act_t] = true;
    }
    if ((rc = qp(p, s->in)) < 0 || (rc = qp(p, act_t)) < 0)
        return rc;
    copy_qp(p, s->out, act_t);
    /* The input's scale and zero point: QLinearConv's own, else the input tensor's. */
    float xs = p->scale[s->in];
    int32_t xzp = p->zp[s->in];
    if (ql) {
        xs = m->t[n->in[1]].f[0];
        xzp = int8_zp(&m->t[n->in[2]]);
    }

    const m_tensor *x = &m->t[s->in], *w = &m->t[m_conv_w(n)];
    cbr_layer_desc *d = &s->d;
    uint32_t O, cpg, KH = 1, KW = 1;
    float *wf = NULL, *bf = NULL;
    if (fc) {
        bool tb = n->op == OP_GEMM && n->trans_b;
        uint32_t K = x->dims[0];
        O = m->t[n->out].dims[0];
        cpg = K;
        wf = malloc((size_t)O * K * sizeof *wf);
        bf = calloc(O, sizeof *bf);
        if (!wf || !bf) {
            free(wf);
            free(bf);
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        }
        double alpha = n->op == OP_GEMM ? n->alpha : 1.0;
        for (uint32_t o = 0; o < O; o++)
            for (uint32_t k = 0; k < K; k++)
                wf[(size_t)o * K + k] =
                    (float)(alpha * w->f[tb ? (size_t)o * K + k : (size_t)k * O + o]);
        const m_tensor *c = n->op == OP_GEMM && n->n_in > 2 && n->in[2] >= 0 ? &m->t[n->in[2]]
                            : bias_add ? &m->t[bias_add->in[1]] : NULL;
        double beta = n->op == OP_GEMM ? n->beta : 1.0;
        for (uint32_t o = 0; c && o < O; o++)
            bf[o] = (float)(beta * c->f[c->count == 1 ? 0 : o]);
        d->in_c = K;
        d->in_h = d->in_w = 1;
    } else {
        O = w->dims[0];
        cpg = w->dims[1];
        KH = w->dims[2];
        KW = w->dims[3];
        uint32_t pads[4];
        m_conv_pads(m, n, pads);
        d->in_c = x->dims[0];
        d->in_h = x->dims[1];
        d->in_w = x->dims[2];
        d->stride_h = (uint32_t)n->strides[0];
        d->stride_w = (uint32_t)n->strides[1];
        d->dilation_h = (uint32_t)n->dilations[0];
        d->dilation_w = (uint32_t)n->dilations[1];
        d->pad_top = pads[0];
        d->pad_left = pads[1];
        d->pad_bottom = pads[2];
        d->pad_right = pads[3];
        d->groups = (uint32_t)n->group;
        if (ql) {
            /* the float weights and bias the integers stand for */
            const m_tensor *ws = &m->t[n->in[4]], *wz = &m->t[n->in[5]];
            const m_tensor *b = n->n_in > 8 && n->in[8] >= 0 ? &m->t[n->in[8]] : NULL;
            size_t per_o = (size_t)cpg * KH * KW;
            wf = malloc((size_t)O * per_o * sizeof *wf);
            bf = calloc(O, sizeof *bf);
            if (!wf || !bf) {
                free(wf);
                free(bf);
                return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
            }
            for (uint32_t o = 0; o < O; o++) {
                double sc = ws->f[ws->count == 1 ? 0 : o];
                double z = (double)wz->i64[wz->count == 1 ? 0 : o];
                for (size_t k = 0; k < per_o; k++)
                    wf[o * per_o + k] = (float)(((double)w->i64[o * per_o + k] - z) * sc);
                if (b)
                    bf[o] = (float)((double)b->i64[o] * xs * sc);
            }
        }
    }
    d->out_c = O;
    d->kh = KH;
    d->kw = KW;
    d->input_zp = xzp;
    d->output_zp = p->zp[act_t];
    if (act)
        act_clamp(act, p->scale[act_t], p->zp[act_t], d);
    if (pool)
        m_pool_params(m, pool, &d->pool);
    s->pool = d->pool;

    size_t nw = (size_t)O * cpg * KH * KW;
    s->w = malloc(nw);
    s->bias = malloc(O * sizeof(int32_t));
    s->mult = malloc(O * sizeof(int32_t));
    s->shift = malloc(O * sizeof(int32_t));
    bool leaky = d->act == CBR_ACT_LEAKY;
    if (leaky) {
        s->nmult = malloc(O * sizeof(int32_t));
        s->nshift = malloc(O * sizeof(int32_t));
    }
    if (!s->w || !s->bias || !s->mult || !s->shift || (leaky && (!s->nmult || !s->nshift))) {
        free(wf);
        free(bf);
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    }
    cbr_fold_args fa = {
        .out_c = O, .in_c_per_group = cpg, .kh = KH, .kw = KW,
        .weight = wf ? wf : w->f,
        .conv_bias = bf ? bf : n->n_in > 2 && n->in[2] >= 0 ? m->t[n->in[2]].f : NULL,
        .input_scale = xs, .output_scale = p->scale[act_t],
        .leaky_alpha = act && act->op == OP_LEAKY ? act->alpha : 0,
    };
    if (bn) {
        fa.bn_gamma = m->t[bn->in[1]].f;
        fa.bn_beta = m->t[bn->in[2]].f;
        fa.bn_mean = m->t[bn->in[3]].f;
        fa.bn_var = m->t[bn->in[4]].f;
        fa.bn_eps = bn->eps;
    }
    cbr_fold_out fo = {.weights = s->w, .bias = s->bias, .multiplier = s->mult,
                       .shift = s->shift, .neg_multiplier = s->nmult, .neg_shift = s->nshift};
    /* Quantized graphs: the graph's integers when they fit, else quantize the float
     * weights they stand for again. */
    if (!fc && !bn && (ql || dq_source(m, n->in[1], 0)) &&
        exact_conv(p, s, n, xs, p->scale[act_t], fa.leaky_alpha, O, nw / O))
        rc = 0;
    else
        rc = cbr_fold_conv_bn(&fa, &fo);
    free(wf);
    free(bf);
    if (rc < 0)
        return NODE_FAIL(m, n, rc, "%s", cbr_errmsg(NULL));
    d->weights = s->w;
    d->bias = s->bias;
    d->multiplier = s->mult;
    d->shift = s->shift;
    d->neg_multiplier = s->nmult;
    d->neg_shift = s->nshift;
    return 0;
}

static int build_add(plan *p, step *s, const m_node *n)
{
    int rc;
    s->kind = ST_ADD;
    s->in = n->in[0];
    s->in2 = n->in[1];
    use(p, s, n);
    int cur = n->out;
    const m_node *act = next_if(p, cur, OP_RELU);
    if (!act)
        act = next_if(p, cur, OP_CLIP);
    if (act) {
        use(p, s, act);
        cur = act->out;
    }
    s->out = cur;
    if ((rc = qp(p, s->in)) < 0 || (rc = qp(p, s->in2)) < 0 || (rc = qp(p, s->out)) < 0)
        return rc;
    const double s1 = p->scale[s->in], s2 = p->scale[s->in2], so = p->scale[s->out];
    const double twice_max = 2 * (s1 > s2 ? s1 : s2);
    cbr_quantize_multiplier(s1 / twice_max, &s->m1, &s->s1);
    cbr_quantize_multiplier(s2 / twice_max, &s->m2, &s->s2);
    cbr_quantize_multiplier(twice_max / ((double)(1 << 20) * so), &s->mo, &s->so);
    cbr_layer_desc d = {.output_zp = p->zp[s->out], .act = CBR_ACT_NONE};
    if (act)
        act_clamp(act, (float)so, p->zp[s->out], &d);
    s->act_min = d.act == CBR_ACT_RELU ? p->zp[s->out] : -128;
    s->act_max = 127;
    if (d.has_clamp) {
        s->act_min = d.clamp_min > s->act_min ? d.clamp_min : s->act_min;
        s->act_max = d.clamp_max;
    }
    return 0;
}

static void plan_free(plan *p)
{
    for (uint32_t i = 0; i < p->n_steps; i++) {
        step *s = &p->steps[i];
        cbr_layer_destroy(s->layer);
        free(s->w);
        free(s->bias);
        free(s->mult);
        free(s->shift);
        free(s->nmult);
        free(s->nshift);
    }
    free(p->steps);
    free(p->scale);
    free(p->zp);
    free(p->qp_set);
    free(p->consumer);
    free(p->used);
}

static int plan_build(plan *p, cbr_model *m, cbr_device *dev)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->steps = calloc(m->n_nodes, sizeof *p->steps);
    p->scale = calloc(m->n_t, sizeof *p->scale);
    p->zp = calloc(m->n_t, sizeof *p->zp);
    p->qp_set = calloc(m->n_t, sizeof *p->qp_set);
    p->consumer = malloc(m->n_t * sizeof *p->consumer);
    p->used = calloc(m->n_nodes, sizeof *p->used);
    if (!p->steps || !p->scale || !p->zp || !p->qp_set || !p->consumer || !p->used)
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    for (uint32_t t = 0; t < m->n_t; t++)
        p->consumer[t] = -1;
    for (uint32_t i = 0; i < m->n_nodes; i++)
        for (uint32_t k = 0; k < m->nodes[i].n_in; k++) {
            int t = m->nodes[i].in[k];
            if (t >= 0 && m->t[t].n_consumers == 1 && !m->t[t].is_output)
                p->consumer[t] = (int)i;
        }
    int rc = 0;
    for (uint32_t i = 0; i < m->n_nodes && rc == 0; i++) {
        if (p->used[i])
            continue;
        const m_node *n = &m->nodes[i];
        step *s = &p->steps[p->n_steps++];
        s->node = (int)i;
        s->in2 = -1;
        switch (n->op) {
        case OP_CONV:
        case OP_QLINEARCONV:
        case OP_GEMM:
        case OP_MATMUL:
            if ((rc = build_dev(p, s, n)) < 0 || !dev)
                break;
            rc = cbr_layer_create(dev, &s->d, &s->layer);
            if (rc < 0 && s->d.pool.kind != CBR_POOL_NONE) {
                /* The device cannot pool this: pool on the host, same bits. */
                s->d.pool.kind = CBR_POOL_NONE;
                s->host_pool = true;
                rc = cbr_layer_create(dev, &s->d, &s->layer);
            }
            if (rc < 0)
                rc = NODE_FAIL(m, n, rc, "%s", cbr_errmsg(dev));
            else
                cbr_layer_conv_shape(s->layer, &s->conv_oh, &s->conv_ow);
            break;
        case OP_ADD:
            if (!m->t[n->in[0]].is_const && !m->t[n->in[1]].is_const) {
                rc = build_add(p, s, n);
                break;
            }
            /* an Add of a constant is a float step */
            /* fall through */
        default:
            s->in = n->in[0];
            s->out = n->out;
            use(p, s, n);
            s->kind = ST_FLOAT;
            break;
        case OP_QUANTIZE:
            s->in = n->in[0];
            s->out = n->out;
            use(p, s, n);
            s->kind = ST_QUANT;
            rc = qp(p, s->out);
            break;
        case OP_DEQUANTIZE:
            if (n->folded) { /* a DequantizeLinear of a constant: nothing to run */
                p->used[i] = true;
                p->n_steps--;
                break;
            }
            /* the int8 values stay; the output's scale and zero point are the node's */
            s->in = n->in[0];
            s->out = n->out;
            use(p, s, n);
            s->kind = ST_ALIAS;
            if ((rc = qp(p, s->in)) == 0)
                rc = qp(p, s->out);
            break;
        case OP_MAXPOOL:
        case OP_AVGPOOL:
        case OP_GAP:
        case OP_FLATTEN:
        case OP_RESHAPE:
        case OP_IDENTITY:
        case OP_DROPOUT:
            s->in = n->in[0];
            s->out = n->out;
            use(p, s, n);
            s->kind = n->op == OP_MAXPOOL || n->op == OP_AVGPOOL || n->op == OP_GAP ? ST_POOL
                                                                                    : ST_ALIAS;
            if ((rc = qp(p, s->in)) == 0)
                copy_qp(p, s->out, s->in);
            if (s->kind == ST_POOL) {
                m_pool_params(m, n, &s->pool);
                s->incl_pad = avg_incl_pad(m, n);
            }
            break;
        }
    }
    if (rc == 0 && !p->qp_set[m->output])
        rc = qp(p, m->output);
    return rc;
}

/* ---- running ---------------------------------------------------------------------------- */

typedef struct bufs {
    float **f;
    int8_t **q;
} bufs;

static int get_q(plan *p, bufs *b, uint32_t n, int t, const int8_t **out)
{
    if (!b->q[t]) {
        const m_tensor *x = &p->m->t[t];
        int rc = qp(p, t);
        if (rc < 0)
            return rc;
        if (!b->f[t])
            return cbr_fail(CBR_EINVAL, "%s: tensor '%s' has no value", p->m->name, x->name);
        size_t cnt = (size_t)n * x->count;
        if (!(b->q[t] = malloc(cnt)))
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", p->m->name);
        for (size_t i = 0; i < cnt; i++)
            b->q[t][i] = cbr_quantize(b->f[t][i], p->scale[t], p->zp[t]);
    }
    *out = b->q[t];
    return 0;
}

static int get_f(plan *p, bufs *b, uint32_t n, int t)
{
    if (b->f[t])
        return 0;
    const m_tensor *x = &p->m->t[t];
    if (!b->q[t])
        return cbr_fail(CBR_EINVAL, "%s: tensor '%s' has no value", p->m->name, x->name);
    size_t cnt = (size_t)n * x->count;
    if (!(b->f[t] = malloc(cnt * sizeof(float))))
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", p->m->name);
    for (size_t i = 0; i < cnt; i++)
        b->f[t][i] = cbr_dequantize(b->q[t][i], p->scale[t], p->zp[t]);
    return 0;
}

static int8_t *new_q(plan *p, bufs *b, uint32_t n, int t)
{
    free(b->q[t]);
    b->q[t] = malloc((size_t)n * p->m->t[t].count);
    if (!b->q[t])
        cbr_fail(CBR_ENOMEM, "%s: out of memory", p->m->name);
    return b->q[t];
}

static int32_t add_one(const step *s, int8_t a, int8_t b, int32_t za, int32_t zb, int32_t zo)
{
    int32_t va = (a - za) * (1 << 20), vb = (b - zb) * (1 << 20);
    int32_t sum = cbr_mbqm(va, s->m1, s->s1) + cbr_mbqm(vb, s->m2, s->s2);
    int32_t r = cbr_mbqm(sum, s->mo, s->so) + zo;
    return r < s->act_min ? s->act_min : r > s->act_max ? s->act_max : r;
}

/* AveragePool with count_include_pad on int8: the padding is the real value 0, the zero
 * point, and counts; the sum divided by the count rounds half away from zero, as the golden
 * model's average does. */
static void pool_incl_pad(const cbr_pool *pl, size_t planes, uint32_t h, uint32_t w,
                          int32_t zp, const int8_t *in, int8_t *out, uint32_t oh_n,
                          uint32_t ow_n)
{
    for (size_t c = 0; c < planes; c++)
        for (uint32_t oh = 0; oh < oh_n; oh++)
            for (uint32_t ow = 0; ow < ow_n; ow++) {
                int64_t sum = 0, valid = 0;
                for (uint32_t kh = 0; kh < pl->kh; kh++) {
                    int64_t ih = (int64_t)oh * pl->stride_h - pl->pad_top + kh;
                    if (ih < 0 || ih >= h)
                        continue;
                    for (uint32_t kw = 0; kw < pl->kw; kw++) {
                        int64_t iw = (int64_t)ow * pl->stride_w - pl->pad_left + kw;
                        if (iw < 0 || iw >= w)
                            continue;
                        sum += in[(c * h + (size_t)ih) * w + (size_t)iw];
                        valid++;
                    }
                }
                int64_t cnt = m_pool_count_incl(pl, h, w, oh, ow);
                sum += (cnt - valid) * zp;
                int64_t mag = sum < 0 ? -sum : sum, q = cnt ? (mag + cnt / 2) / cnt : 0;
                out[(c * oh_n + oh) * ow_n + ow] = (int8_t)(sum < 0 ? -q : q);
            }
}

static void rec_add(m_layer_rec *rec, const cbr_stats *st)
{
    cbr_stats_add(&rec->stats, st);
    rec->stats.resident |= st->resident;
}

/*
 * The device steps from steps[i] on that can run as one chain job (cbr_chain_run): each
 * one's output is the next one's input and nothing else's (not the model's output, no other
 * consumer), the device computes it whole (no pooling on the host between), and all are on
 * one device that runs chains. Returns how many (1: run step i alone).
 */
static uint32_t chain_len(const plan *p, uint32_t i)
{
    const step *a = &p->steps[i];
    if (a->kind != ST_DEV || !a->layer || !a->layer->dev->backend->run_chain)
        return 1;
    uint32_t k = 1;
    for (; i + k < p->n_steps; k++) {
        const step *x = &p->steps[i + k - 1], *y = &p->steps[i + k];
        if (y->kind != ST_DEV || !y->layer || y->layer->dev != a->layer->dev ||
            y->in != x->out || x->host_pool || p->consumer[x->out] != y->node)
            break;
    }
    return k;
}

/* Steps i .. i+k-1 (chain_len) as one job: the intermediates stay on the device where they
 * fit (docs/tiling.md, "Networks") and are never stored on the host. */
static int run_chain(plan *p, uint32_t i, uint32_t k, bufs *b, uint32_t n, m_layer_rec *recs)
{
    cbr_model *m = p->m;
    const step *first = &p->steps[i], *last = &p->steps[i + k - 1];
    const int8_t *qin;
    int rc;
    if ((rc = get_q(p, b, n, first->in, &qin)) < 0)
        return rc;
    int8_t *qo = new_q(p, b, n, last->out);
    cbr_layer **layers = malloc(k * sizeof *layers);
    cbr_stats *per = calloc(k, sizeof *per);
    if (!qo || !layers || !per) {
        free(layers);
        free(per);
        return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    }
    for (uint32_t j = 0; j < k; j++)
        layers[j] = p->steps[i + j].layer;
    uint32_t failed = 0;
    rc = cbr_chain_run(layers, k, n, qin, qo, true, per, &failed);
    if (rc < 0) {
        const step *f = &p->steps[i + (failed < k ? failed : 0)];
        rc = NODE_FAIL(m, &m->nodes[f->node], rc, "%s", cbr_errmsg(f->layer->dev));
    } else {
        for (uint32_t j = 0; j < k; j++)
            rec_add(&recs[j], &per[j]);
    }
    free(layers);
    free(per);
    return rc;
}

static int run_step(plan *p, step *s, bufs *b, uint32_t n, m_layer_rec *rec)
{
    cbr_model *m = p->m;
    const m_node *node = &m->nodes[s->node];
    const int8_t *qin, *qin2;
    int rc;
    switch (s->kind) {
    case ST_DEV: {
        if ((rc = get_q(p, b, n, s->in, &qin)) < 0)
            return rc;
        int8_t *qo = new_q(p, b, n, s->out), *tmp = qo;
        if (!qo)
            return CBR_ENOMEM;
        if (s->host_pool && !(tmp = malloc((size_t)n * s->d.out_c * s->conv_oh * s->conv_ow)))
            return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
        cbr_stats st;
        rc = cbr_layer_run(s->layer, n, qin, tmp, &st);
        if (rc < 0)
            rc = NODE_FAIL(m, node, rc, "%s", cbr_errmsg(s->layer->dev));
        if (rc == 0 && s->host_pool)
            cbr_golden_pool(&s->pool, n, s->d.out_c, s->conv_oh, s->conv_ow, tmp, qo);
        if (tmp != qo)
            free(tmp);
        if (rc < 0)
            return rc;
        rec_add(rec, &st);
        return 0;
    }
    case ST_ADD: {
        if ((rc = get_q(p, b, n, s->in, &qin)) < 0 || (rc = get_q(p, b, n, s->in2, &qin2)) < 0)
            return rc;
        int8_t *qo = new_q(p, b, n, s->out);
        if (!qo)
            return CBR_ENOMEM;
        size_t cnt = (size_t)n * m->t[s->out].count;
        for (size_t i = 0; i < cnt; i++)
            qo[i] = (int8_t)add_one(s, qin[i], qin2[i], p->zp[s->in], p->zp[s->in2],
                                    p->zp[s->out]);
        return 0;
    }
    case ST_POOL: {
        if ((rc = get_q(p, b, n, s->in, &qin)) < 0)
            return rc;
        int8_t *qo = new_q(p, b, n, s->out);
        if (!qo)
            return CBR_ENOMEM;
        const m_tensor *x = &m->t[s->in];
        if (s->incl_pad)
            pool_incl_pad(&s->pool, n * x->dims[0], x->dims[1], x->dims[2], p->zp[s->in],
                          qin, qo, m->t[s->out].dims[1], m->t[s->out].dims[2]);
        else
            cbr_golden_pool(&s->pool, n, x->dims[0], x->dims[1], x->dims[2], qin, qo);
        return 0;
    }
    case ST_QUANT: {
        /* QuantizeLinear: int8 values with the same parameters pass; else as ONNX defines
         * it, from the float values, rounding half to even. */
        const size_t cnt = (size_t)n * m->t[s->out].count;
        const float sc = p->scale[s->out];
        const int32_t zp = p->zp[s->out];
        int8_t *qo;
        if (b->q[s->in] && p->qp_set[s->in] && p->scale[s->in] == sc && p->zp[s->in] == zp) {
            if (!(qo = new_q(p, b, n, s->out)))
                return CBR_ENOMEM;
            memcpy(qo, b->q[s->in], cnt);
            return 0;
        }
        if ((rc = get_f(p, b, n, s->in)) < 0)
            return rc;
        if (!(qo = new_q(p, b, n, s->out)))
            return CBR_ENOMEM;
        const float *f = b->f[s->in];
        for (size_t i = 0; i < cnt; i++) {
            double v = rint((double)f[i] / sc) + zp;
            qo[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
        return 0;
    }
    case ST_ALIAS: {
        size_t cnt = (size_t)n * m->t[s->out].count;
        if (b->q[s->in]) {
            int8_t *qo = new_q(p, b, n, s->out);
            if (!qo)
                return CBR_ENOMEM;
            memcpy(qo, b->q[s->in], cnt);
        }
        if (b->f[s->in]) {
            if (!(b->f[s->out] = malloc(cnt * sizeof(float))))
                return cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
            memcpy(b->f[s->out], b->f[s->in], cnt * sizeof(float));
        }
        return 0;
    }
    case ST_FLOAT:
    default:
        for (uint32_t k = 0; k < node->n_in; k++) {
            int t = node->in[k];
            if (t >= 0 && !m->t[t].is_const && (rc = get_f(p, b, n, t)) < 0)
                return rc;
        }
        return m_exec_float_node(m, node, n, b->f);
    }
}

int m_run_int8(cbr_model *m, cbr_device *dev, uint32_t N, const float *x, bool int8_out,
               void *y)
{
    plan p;
    int rc = plan_build(&p, m, dev);
    bufs b = {calloc(m->n_t, sizeof(float *)), calloc(m->n_t, sizeof(int8_t *))};
    free(m->recs);
    m->n_recs = 0;
    m->recs = calloc(p.n_steps ? p.n_steps : 1, sizeof *m->recs);
    if (rc == 0 && (!b.f || !b.q || !m->recs))
        rc = cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
    for (uint32_t i = 0; rc == 0 && i < p.n_steps; i++) {
        m_layer_rec *r = &m->recs[i];
        snprintf(r->name, sizeof r->name, "%s", m->nodes[p.steps[i].node].name);
        snprintf(r->ops, sizeof r->ops, "%s", p.steps[i].ops);
        r->on_device = p.steps[i].kind == ST_DEV;
    }
    const m_tensor *in = &m->t[m->input], *ot = &m->t[m->output];
    for (uint64_t i = 0; rc == 0 && i < N; i += CHUNK) {
        uint32_t n = (uint32_t)(N - i < CHUNK ? N - i : CHUNK);
        size_t isz = (size_t)n * in->count * sizeof(float);
        if (!(b.f[m->input] = malloc(isz))) {
            rc = cbr_fail(CBR_ENOMEM, "%s: out of memory", m->name);
            break;
        }
        memcpy(b.f[m->input], x + i * in->count, isz);
        for (uint32_t s = 0, k; rc == 0 && s < p.n_steps; s += k) {
            k = chain_len(&p, s);
            rc = k > 1 ? run_chain(&p, s, k, &b, n, &m->recs[s])
                       : run_step(&p, &p.steps[s], &b, n, &m->recs[s]);
        }
        if (rc == 0 && int8_out) {
            const int8_t *q;
            if ((rc = get_q(&p, &b, n, m->output, &q)) == 0)
                memcpy((int8_t *)y + i * ot->count, q, (size_t)n * ot->count);
        } else if (rc == 0 && (rc = get_f(&p, &b, n, m->output)) == 0) {
            memcpy((float *)y + i * ot->count, b.f[m->output],
                   (size_t)n * ot->count * sizeof(float));
        }
        for (uint32_t t = 0; t < m->n_t; t++) {
            free(b.f[t]);
            free(b.q[t]);
            b.f[t] = NULL;
            b.q[t] = NULL;
        }
        if (rc == 0 && m->progress)
            m->progress(m->progress_user, i + n, N);
    }
    if (rc == 0)
        m->n_recs = p.n_steps;
    free(b.f);
    free(b.q);
    plan_free(&p);
    return rc;
}

bool m_has_scales(const cbr_model *cm)
{
    plan p;
    /* The lowering reads the model only; plan_build takes it non-const for the run. */
    cbr_model *m = (cbr_model *)(uintptr_t)cm;
    int rc = plan_build(&p, m, NULL);
    bool ok = rc == 0 || !p.missing_range;
    plan_free(&p);
    return ok;
}
