/*
 * accel.c - the board backend: drives the cbr RTL over any transport (sim, usb, pcie) with
 * the packet protocol of docs/protocol.md, and lays layers out in the device's buffers as
 * docs/registers.md says.
 *
 * Layers: a layer's weights and parameters are packed into the device layout once, at
 * layer_prepare. A run writes each image's input tile, the weights and parameters, the
 * registers, starts the core, waits for ap_done, and reads the output back. Grouped
 * convolutions run one group at a time on the dense array. A layer must fit the buffers the
 * device reports (the tile planner lifts that); otherwise it is refused with the limit named.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "golden.h"
#include "proto.h"
#include "transport.h"

#define REQ_TIMEOUT_MS 5000   /* a command's response, unless $CBR_TIMEOUT_MS says otherwise */
#define RUN_TIMEOUT_MS 600000 /* one tile on the simulator can take long */
#define RETRIES 3

enum {
    REG_CTRL = 0x00, REG_IN_H = 0x10, REG_IN_W = 0x14, REG_N_CB = 0x18, REG_N_OB = 0x1C,
    REG_KH = 0x20, REG_KW = 0x24, REG_STRIDE = 0x28, REG_DILATION = 0x2C, REG_PAD = 0x30,
    REG_OUT_H = 0x34, REG_OUT_W = 0x38, REG_X_ZP = 0x3C, REG_Y_ZP = 0x40, REG_ACT_RANGE = 0x44,
    REG_MODE = 0x48, REG_POOL_K = 0x4C, REG_POOL_S = 0x50, REG_POOL_PAD = 0x54,
    REG_POOL_OUT = 0x58, REG_ACT_BASE = 0x5C, REG_WGT_BASE = 0x60, REG_OUT_BASE = 0x64,
    REG_PARAM_BASE = 0x68, REG_IN_C = 0x6C, REG_OUT_C = 0x70, REG_RUNS = 0x74,
    REG_COUNTERS = 0x80,
};
enum { BUF_ACT = 0, BUF_WGT = 1, BUF_PARAM = 2, BUF_OUT = 3 };
enum { CTRL_START = 1, CTRL_DONE = 2, CTRL_IDLE = 4 };
#define PARAM_BYTES 32 /* per output channel */
#define N_COUNTERS 5   /* cycles, busy, macs, stall_in, stall_out: 64 bits each */

struct accel {
    struct cbr_transport *tr;
    struct cbr_reader rd;
    uint32_t seq;
    uint32_t max_payload;
    uint32_t acc_pixels;
    int timeout_ms;          /* for one command's response */
    uint8_t *wire;           /* one encoded request */
    uint8_t *rx;             /* receive chunk */
    char scratch[CBR_ERRMSG_MAX];
};

/* One group's share of a layer, packed in the device layout. */
struct group_plan {
    uint8_t *wgt;
    size_t wgt_bytes;
    uint8_t *param;
    size_t param_bytes;
};

struct plan {
    uint32_t cg, og;         /* channels per group in and out */
    uint32_t n_cb, n_ob;
    size_t act_bytes, out_bytes;
    struct group_plan *groups;
};

static int fail(char *err, size_t len, int code, const char *fmt, ...) CBR_PRINTF(4, 5);

static int fail(char *err, size_t len, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return code;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the protocol client ------------------------------------------------------------- */

/*
 * Wait for the response to request seq. Responses to other sequence numbers (late answers
 * to abandoned requests, duplicates) are dropped. Returns 0 with *resp and *payload set
 * (payload valid until the next call), CBR_ETIMEDOUT, or a transport error.
 */
static int await(struct accel *a, uint8_t op, uint32_t seq, int timeout_ms,
                 struct cbr_pkt *resp, const uint8_t **payload, char *err, size_t len)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        enum cbr_read_result r = cbr_reader_next(&a->rd, resp, payload);
        if (r == CBR_READ_PACKET && (resp->flags & CBR_PROTO_FLAG_RESPONSE) && resp->seq == seq)
            return 0;
        if (r != CBR_READ_NEED_MORE)
            continue; /* a bad or stale packet: skip it */
        double left = deadline - now_ms();
        if (left <= 0)
            return fail(err, len, CBR_ETIMEDOUT, "no response to %s (seq %u) within %d ms",
                        cbr_op_name(op), seq, timeout_ms);
        size_t got;
        int rc = a->tr->ops->recv(a->tr, a->rx, a->rd.cap, &got, (int)left, err, len);
        if (rc < 0)
            return rc;
        size_t off = 0;
        while (off < got) {
            size_t took = cbr_reader_feed(&a->rd, a->rx + off, got - off);
            off += took;
            if (took == 0) {
                /* The reader is full of an incomplete packet that cannot be one of ours. */
                cbr_reader_reset(&a->rd);
            }
        }
    }
}

/* Send one request; returns 0 with its response, or an error. No retry here. */
static int request_once(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1,
                        uint32_t arg2, const void *payload, uint32_t plen, int timeout_ms,
                        struct cbr_pkt *resp, const uint8_t **rpayload, char *err, size_t len)
{
    struct cbr_pkt p = {.opcode = op, .seq = ++a->seq, .arg0 = arg0, .arg1 = arg1,
                        .arg2 = arg2, .len = plen};
    size_t n = cbr_pkt_encode(&p, payload, a->wire);
    int rc = a->tr->ops->send(a->tr, a->wire, n, timeout_ms, err, len);
    if (rc < 0)
        return rc;
    rc = await(a, op, p.seq, timeout_ms, resp, rpayload, err, len);
    if (rc < 0)
        return rc;
    if (resp->opcode != op)
        return fail(err, len, CBR_EPROTO, "response to %s %u carries opcode %s",
                    cbr_op_name(op), p.seq, cbr_op_name(resp->opcode));
    if (resp->status != CBR_ST_OK)
        return fail(err, len, resp->status == CBR_ST_BAD_CRC ? CBR_EBADMSG : CBR_EDEVICE,
                    "%s (seq %u) answered %s", cbr_op_name(op), p.seq,
                    cbr_status_name(resp->status));
    return 0;
}

/* Put the board in a known state: RESET (aborts a running tile), then drop what is buffered.
 * Used at open; retries do not reset, or a lost status poll would abort the tile it polls. */
static void reset_board(struct accel *a)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    char ignore[CBR_ERRMSG_MAX];
    cbr_reader_reset(&a->rd);
    request_once(a, CBR_OP_RESET, 0, 0, 0, NULL, 0, a->timeout_ms, &resp, &pl, ignore,
                 sizeof ignore);
}

/*
 * A request with the error model of docs/protocol.md: an idempotent command whose response
 * was lost or garbled, or which the board received garbled (BAD_CRC), is sent again with a
 * new sequence number (stale answers to the old one are dropped by sequence); device errors
 * (a bad address, say) and non-idempotent commands are not retried.
 */
static int request(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1, uint32_t arg2,
                   const void *payload, uint32_t plen, struct cbr_pkt *resp,
                   const uint8_t **rpayload, char *err, size_t len)
{
    int rc = 0;
    for (int attempt = 0; attempt <= RETRIES; attempt++) {
        rc = request_once(a, op, arg0, arg1, arg2, payload, plen, a->timeout_ms, resp,
                          rpayload, err, len);
        bool transient = rc == CBR_ETIMEDOUT || rc == CBR_EBADMSG;
        if (rc == 0 || !transient || !cbr_op_idempotent(op))
            break;
    }
    return rc;
}

static int reg_write(struct accel *a, uint32_t addr, const uint32_t *v, uint32_t n, char *err,
                     size_t len)
{
    uint8_t buf[64 * 4];
    struct cbr_pkt resp;
    const uint8_t *pl;
    for (uint32_t i = 0; i < n; i++)
        put32(buf + 4 * i, v[i]);
    return request(a, CBR_OP_REG_WRITE, addr, 0, 0, buf, 4 * n, &resp, &pl, err, len);
}

static int reg_read(struct accel *a, uint32_t addr, uint32_t *v, uint32_t n, char *err,
                    size_t len)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    int rc = request(a, CBR_OP_REG_READ, addr, n, 0, NULL, 0, &resp, &pl, err, len);
    if (rc < 0)
        return rc;
    if (resp.len != 4 * n)
        return fail(err, len, CBR_EPROTO, "REG_READ of %u words returned %u bytes", n,
                    resp.len);
    for (uint32_t i = 0; i < n; i++)
        v[i] = get32(pl + 4 * i);
    return 0;
}

static int buf_write(struct accel *a, uint32_t id, uint32_t off, const uint8_t *data,
                     size_t n, char *err, size_t len)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    for (size_t done = 0; done < n;) {
        uint32_t chunk = n - done < a->max_payload ? (uint32_t)(n - done) : a->max_payload;
        int rc = request(a, CBR_OP_BUF_WRITE, id, off + (uint32_t)done, 0, data + done, chunk,
                         &resp, &pl, err, len);
        if (rc < 0)
            return rc;
        done += chunk;
    }
    return 0;
}

static int buf_read(struct accel *a, uint32_t id, uint32_t off, uint8_t *data, size_t n,
                    char *err, size_t len)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    for (size_t done = 0; done < n;) {
        uint32_t chunk = n - done < a->max_payload ? (uint32_t)(n - done) : a->max_payload;
        int rc = request(a, CBR_OP_BUF_READ, id, off + (uint32_t)done, chunk, NULL, 0, &resp,
                         &pl, err, len);
        if (rc < 0)
            return rc;
        if (resp.len != chunk)
            return fail(err, len, CBR_EPROTO, "BUF_READ of %u bytes returned %u", chunk,
                        resp.len);
        memcpy(data + done, pl, chunk);
        done += chunk;
    }
    return 0;
}

/* ---- open / close -------------------------------------------------------------------- */

static void accel_close(cbr_device *dev)
{
    struct accel *a = dev->priv;
    if (!a)
        return;
    if (a->tr)
        a->tr->ops->close(a->tr);
    cbr_reader_free(&a->rd);
    free(a->wire);
    free(a->rx);
    free(a);
}

/* Until INFO says otherwise, accept responses up to this size. */
#define BOOT_PAYLOAD 65536

int cbr_board_open(cbr_device *dev, struct cbr_transport *tr, const char *uri, char *err,
                   size_t len)
{
    struct accel *a = calloc(1, sizeof *a);
    if (!a) {
        tr->ops->close(tr);
        return fail(err, len, CBR_ENOMEM, "out of memory");
    }
    dev->priv = a;
    a->tr = tr;
    a->max_payload = 64;
    const char *t = getenv("CBR_TIMEOUT_MS");
    a->timeout_ms = t && atoi(t) > 0 ? atoi(t) : REQ_TIMEOUT_MS;
    a->wire = malloc(cbr_pkt_wire_size(BOOT_PAYLOAD));
    a->rx = malloc(cbr_pkt_wire_size(BOOT_PAYLOAD));
    if (!a->wire || !a->rx || cbr_reader_init(&a->rd, BOOT_PAYLOAD) < 0) {
        accel_close(dev);
        dev->priv = NULL;
        return fail(err, len, CBR_ENOMEM, "out of memory");
    }
    reset_board(a);
    struct cbr_pkt resp;
    const uint8_t *pl;
    int rc = request(a, CBR_OP_INFO, 0, 0, 0, NULL, 0, &resp, &pl, err, len);
    if (rc == 0 && resp.len < 64)
        rc = fail(err, len, CBR_EPROTO, "INFO returned %u bytes, expected 64", resp.len);
    if (rc < 0) {
        char why[CBR_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", err);
        fail(err, len, rc, "the board does not answer INFO: %s", why);
        goto out_close;
    }
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = get32(pl + 4 * i);
    if (w[0] != CBR_PROTO_VERSION) {
        rc = fail(err, len, CBR_ENOTSUP, "the board speaks protocol version %u; this libcbr "
                  "speaks %d", w[0], CBR_PROTO_VERSION);
        goto out_close;
    }
    cbr_device_info *in = &dev->info;
    snprintf(in->uri, sizeof in->uri, "%s", uri);
    in->proto_version = w[0];
    in->rows = w[1];
    in->cols = w[2];
    in->act_buf_bytes = w[3];
    in->wgt_buf_bytes = w[4];
    in->out_buf_bytes = w[5];
    in->param_entries = w[6];
    a->max_payload = w[7] & ~3u;
    in->max_kernel = w[8];
    in->max_stride = w[9];
    in->max_dilation = w[10];
    in->features = w[11] | CBR_FEAT_COUNTERS;
    in->clock_khz = w[12];
    a->acc_pixels = w[13];
    if (!in->rows || !in->cols || a->max_payload < 64 || a->max_payload > BOOT_PAYLOAD ||
        !a->acc_pixels) {
        rc = fail(err, len, CBR_EPROTO, "INFO is implausible: array %ux%u, max payload %u, "
                  "accumulator %u pixels", in->rows, in->cols, w[7], a->acc_pixels);
        goto out_close;
    }
    return 0;

out_close:
    accel_close(dev);
    dev->priv = NULL;
    return rc;
}

static int sim_open(cbr_device *dev, const char *args, char *err, size_t len)
{
    struct cbr_transport *tr;
    int rc = cbr_transport_sim_open(&tr, args, err, len);
    if (rc < 0)
        return rc;
    unsigned r, c;
    cbr_sim_parse_shape(args, &r, &c);
    char uri[64];
    snprintf(uri, sizeof uri, "sim:%ux%u", r, c);
    rc = cbr_board_open(dev, tr, uri, err, len);
    if (rc == 0)
        snprintf(dev->info.name, sizeof dev->info.name, "simulated board (Verilator)");
    return rc;
}

/* ---- layers -------------------------------------------------------------------------- */

static void free_plan(struct plan *p, uint32_t groups)
{
    if (!p)
        return;
    for (uint32_t g = 0; p->groups && g < groups; g++) {
        free(p->groups[g].wgt);
        free(p->groups[g].param);
    }
    free(p->groups);
    free(p);
}

static void accel_layer_release(cbr_device *dev, cbr_layer *l)
{
    (void)dev;
    free_plan(l->priv, l->desc.groups);
    l->priv = NULL;
}

static uint32_t div_up(uint32_t x, uint32_t y)
{
    return (x + y - 1) / y;
}

static int accel_layer_prepare(cbr_device *dev, cbr_layer *l, char *err, size_t len)
{
    struct accel *a = dev->priv;
    const cbr_device_info *in = &dev->info;
    const cbr_layer_desc *d = &l->desc;
    const uint32_t R = in->rows, C = in->cols;
    struct plan *p = calloc(1, sizeof *p);
    if (!p)
        return fail(err, len, CBR_ENOMEM, "out of memory");
    p->cg = d->in_c / d->groups;
    p->og = d->out_c / d->groups;
    p->n_cb = div_up(p->cg, R);
    p->n_ob = div_up(p->og, C);
    p->act_bytes = (size_t)p->n_cb * d->in_h * d->in_w * R;
    p->out_bytes = (size_t)p->n_ob * l->out_h * l->out_w * C;
    size_t wgt_bytes = (size_t)p->n_ob * p->n_cb * d->kh * d->kw * R * C;
    size_t param_bytes = (size_t)p->og * PARAM_BYTES;
    const char *u = in->uri;
    int rc = 0;
    if (p->act_bytes > in->act_buf_bytes)
        rc = fail(err, len, CBR_ERANGE, "in_c/in_h/in_w: the input needs %zu bytes of the "
                  "activation buffer of %s, which has %u (layers larger than the buffers "
                  "need the tile planner)", p->act_bytes, u, in->act_buf_bytes);
    else if (wgt_bytes > in->wgt_buf_bytes)
        rc = fail(err, len, CBR_ERANGE, "weights: need %zu bytes of the weight buffer of %s, "
                  "which has %u", wgt_bytes, u, in->wgt_buf_bytes);
    else if (p->og > in->param_entries)
        rc = fail(err, len, CBR_ERANGE, "out_c: %u output channels per group exceed the %u "
                  "parameter entries of %s", p->og, in->param_entries, u);
    else if (p->out_bytes > in->out_buf_bytes)
        rc = fail(err, len, CBR_ERANGE, "output: needs %zu bytes of the output buffer of %s, "
                  "which has %u", p->out_bytes, u, in->out_buf_bytes);
    else if ((uint64_t)l->conv_oh * l->conv_ow > a->acc_pixels)
        rc = fail(err, len, CBR_ERANGE, "output: the conv output plane %ux%u exceeds the "
                  "accumulator of %s, %u pixels", l->conv_oh, l->conv_ow, u, a->acc_pixels);
    else if (d->pad_top > 0xFFFF || d->pad_left > 0xFFFF)
        rc = fail(err, len, CBR_ERANGE, "pad: padding above 65535 is not supported by %s", u);
    else if (d->pool.kind != CBR_POOL_NONE && d->pool.kind != CBR_POOL_GAVG &&
             (d->pool.kh > 255 || d->pool.kw > 255 || d->pool.stride_h > 255 ||
              d->pool.stride_w > 255 || d->pool.pad_top > 255 || d->pool.pad_left > 255))
        rc = fail(err, len, CBR_ERANGE, "pool: windows, strides and padding above 255 are "
                  "not supported by %s", u);
    if (rc < 0) {
        free(p);
        return rc;
    }

    p->groups = calloc(d->groups, sizeof *p->groups);
    if (!p->groups) {
        free(p);
        return fail(err, len, CBR_ENOMEM, "out of memory");
    }
    for (uint32_t g = 0; g < d->groups; g++) {
        struct group_plan *gp = &p->groups[g];
        gp->wgt_bytes = wgt_bytes;
        gp->param_bytes = param_bytes;
        gp->wgt = calloc(1, wgt_bytes);
        gp->param = calloc(1, param_bytes);
        if (!gp->wgt || !gp->param) {
            free_plan(p, d->groups);
            return fail(err, len, CBR_ENOMEM, "out of memory for %zu bytes of weights",
                        wgt_bytes);
        }
        for (uint32_t o = 0; o < p->og; o++) {
            uint32_t oc = g * p->og + o, ob = o / C, j = o % C;
            for (uint32_t c = 0; c < p->cg; c++) {
                uint32_t cb = c / R, r = c % R;
                for (uint32_t ky = 0; ky < d->kh; ky++)
                    for (uint32_t kx = 0; kx < d->kw; kx++) {
                        size_t at = (((((size_t)ob * p->n_cb + cb) * d->kh + ky) * d->kw + kx) *
                                         R + r) * C + j;
                        gp->wgt[at] = (uint8_t)d->weights[(((size_t)oc * p->cg + c) * d->kh +
                                                           ky) * d->kw + kx];
                    }
            }
            uint8_t *pp = gp->param + (size_t)o * PARAM_BYTES;
            put32(pp, (uint32_t)d->bias[oc]);
            put32(pp + 4, (uint32_t)d->multiplier[oc]);
            put32(pp + 8, (uint32_t)d->shift[oc]);
            put32(pp + 12, d->neg_multiplier ? (uint32_t)d->neg_multiplier[oc] : 0);
            put32(pp + 16, d->neg_shift ? (uint32_t)d->neg_shift[oc] : 0);
        }
    }
    l->priv = p;
    return 0;
}

/* Registers of one tile, from REG_IN_H to REG_OUT_C. */
#define N_TILE_REGS ((REG_OUT_C - REG_IN_H) / 4 + 1)

static void tile_regs(const cbr_layer *l, const struct plan *p, uint32_t *v)
{
    const cbr_layer_desc *d = &l->desc;
    const cbr_pool *pl = &d->pool;
    uint32_t mode = (d->act == CBR_ACT_LEAKY ? 1u : 0u) | (uint32_t)pl->kind << 4;
    uint32_t pk = 0, ps = 0, pp = 0;
    if (pl->kind == CBR_POOL_MAX || pl->kind == CBR_POOL_AVG) {
        pk = pl->kh | pl->kw << 8;
        ps = pl->stride_h | pl->stride_w << 8;
        pp = pl->pad_top | pl->pad_left << 8;
    } else if (pl->kind == CBR_POOL_GAVG) {
        pk = l->conv_oh | l->conv_ow << 8;
    }
    uint32_t regs[] = {
        d->in_h, d->in_w, p->n_cb, p->n_ob, d->kh, d->kw,
        d->stride_h | d->stride_w << 8, d->dilation_h | d->dilation_w << 8,
        d->pad_top | d->pad_left << 16, l->conv_oh, l->conv_ow,
        (uint32_t)d->input_zp, (uint32_t)d->output_zp,
        ((uint32_t)l->act_min & 0xFF) | ((uint32_t)l->act_max & 0xFF) << 8, mode, pk, ps, pp,
        l->out_h | l->out_w << 16, 0, 0, 0, 0, p->cg, p->og,
    };
    _Static_assert(sizeof regs == N_TILE_REGS * sizeof(uint32_t), "one value per register");
    memcpy(v, regs, sizeof regs);
}


/*
 * RUN is the one command never sent twice blindly. When its answer is lost, RUNS says whether
 * the core took it (it counts starts); if it did not, RUN is sent again.
 */
static int start_core(struct accel *a, char *err, size_t len)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    uint32_t before, now;
    int rc = reg_read(a, REG_RUNS, &before, 1, err, len);
    if (rc < 0)
        return rc;
    for (int attempt = 0; attempt <= RETRIES; attempt++) {
        rc = request_once(a, CBR_OP_RUN, 0, 0, 0, NULL, 0, a->timeout_ms, &resp, &pl, err,
                          len);
        if (rc == 0 || (rc != CBR_ETIMEDOUT && rc != CBR_EBADMSG))
            return rc;
        int rc2 = reg_read(a, REG_RUNS, &now, 1, err, len);
        if (rc2 < 0)
            return rc2;
        if (now != before)
            return 0;
    }
    return rc;
}

static int run_tile(struct accel *a, const cbr_layer *l, const struct plan *p,
                    const struct group_plan *gp, const uint8_t *act, uint8_t *out,
                    uint64_t ctr[N_COUNTERS], char *err, size_t len)
{
    int rc;
    uint32_t regs[N_TILE_REGS];
    tile_regs(l, p, regs);
    if ((rc = buf_write(a, BUF_ACT, 0, act, p->act_bytes, err, len)) < 0 ||
        (rc = buf_write(a, BUF_WGT, 0, gp->wgt, gp->wgt_bytes, err, len)) < 0 ||
        (rc = buf_write(a, BUF_PARAM, 0, gp->param, gp->param_bytes, err, len)) < 0 ||
        (rc = reg_write(a, REG_IN_H, regs, N_TILE_REGS, err, len)) < 0)
        return rc;
    rc = start_core(a, err, len);
    if (rc < 0)
        return rc;
    double deadline = now_ms() + RUN_TIMEOUT_MS;
    for (;;) {
        uint32_t ctrl;
        if ((rc = reg_read(a, REG_CTRL, &ctrl, 1, err, len)) < 0)
            return rc;
        if (ctrl & CTRL_DONE)
            break;
        if (now_ms() > deadline)
            return fail(err, len, CBR_ETIMEDOUT, "the core did not finish a tile within %d s "
                        "(CTRL = 0x%x)", RUN_TIMEOUT_MS / 1000, ctrl);
    }
    uint32_t c[2 * N_COUNTERS];
    if ((rc = reg_read(a, REG_COUNTERS, c, 2 * N_COUNTERS, err, len)) < 0)
        return rc;
    for (int i = 0; i < N_COUNTERS; i++)
        ctr[i] += (uint64_t)c[2 * i] | (uint64_t)c[2 * i + 1] << 32;
    return buf_read(a, BUF_OUT, 0, out, p->out_bytes, err, len);
}

static int accel_run(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                     int8_t *output, cbr_stats *st, char *err, size_t len)
{
    struct accel *a = dev->priv;
    const struct plan *p = l->priv;
    const cbr_layer_desc *d = &l->desc;
    const uint32_t R = dev->info.rows, C = dev->info.cols;
    uint8_t *act = malloc(p->act_bytes), *out = malloc(p->out_bytes);
    uint64_t ctr[N_COUNTERS] = {0};
    struct cbr_link_stats before = {0}, after = {0};
    int rc = 0;
    if (!act || !out) {
        rc = fail(err, len, CBR_ENOMEM, "out of memory");
        goto out_free;
    }
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &before);
    const size_t plane = (size_t)d->in_h * d->in_w, oplane = (size_t)l->out_h * l->out_w;
    for (uint32_t b = 0; b < n && rc == 0; b++) {
        for (uint32_t g = 0; g < d->groups && rc == 0; g++) {
            memset(act, 0, p->act_bytes);
            for (uint32_t c = 0; c < p->cg; c++) {
                const int8_t *src = input + ((size_t)b * d->in_c + g * p->cg + c) * plane;
                uint8_t *dst = act + (size_t)(c / R) * plane * R + c % R;
                for (size_t px = 0; px < plane; px++)
                    dst[px * R] = (uint8_t)src[px];
            }
            rc = run_tile(a, l, p, &p->groups[g], act, out, ctr, err, len);
            if (rc < 0)
                break;
            for (uint32_t o = 0; o < p->og; o++) {
                int8_t *dst = output + ((size_t)b * d->out_c + g * p->og + o) * oplane;
                const uint8_t *src = out + (size_t)(o / C) * oplane * C + o % C;
                for (size_t px = 0; px < oplane; px++)
                    dst[px] = (int8_t)src[px * C];
            }
        }
    }
    if (rc < 0)
        goto out_free;
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &after);
    st->macs = cbr_layer_macs(l, n);
    st->bytes_compulsory = cbr_layer_compulsory_bytes(l, n);
    st->cycles = after.cycles - before.cycles;
    st->link_stall_cycles = after.link_wait_cycles - before.link_wait_cycles;
    st->bytes_to_device = after.bytes_out - before.bytes_out;
    st->bytes_from_device = after.bytes_in - before.bytes_in;
    st->busy_cycles = ctr[1];
    st->stall_in_cycles = ctr[3];
    st->stall_out_cycles = ctr[4];
    st->array_rows = R;
    st->array_cols = C;
    st->tiles = n * d->groups;
    if (ctr[2] != st->macs)
        rc = fail(err, len, CBR_EPROTO, "the device counted %llu MACs for a layer of %llu",
                  (unsigned long long)ctr[2], (unsigned long long)st->macs);
out_free:
    free(act);
    free(out);
    return rc;
}

static int board_open_unused(cbr_device *dev, const char *args, char *err, size_t len)
{
    (void)dev;
    (void)args;
    return fail(err, len, CBR_EINVAL, "a board over a transport is opened with "
                "cbr_device_open_transport");
}

const struct cbr_backend cbr_backend_board = {
    .scheme = "board",
    .usage = "board",
    .open = board_open_unused,
    .close = accel_close,
    .layer_prepare = accel_layer_prepare,
    .layer_release = accel_layer_release,
    .run = accel_run,
};

const struct cbr_backend cbr_backend_sim = {
    .scheme = "sim",
    .usage = "sim[:RxC]",
    .open = sim_open,
    .list = cbr_sim_list,
    .close = accel_close,
    .layer_prepare = accel_layer_prepare,
    .layer_release = accel_layer_release,
    .run = accel_run,
};
