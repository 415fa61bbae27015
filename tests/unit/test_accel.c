/*
 * test_accel.c - the board driver (accel.c) against a software board behind a fake
 * transport: packing per docs/registers.md, the protocol client, and its error model under
 * injected faults. The software board is a second reading of docs/protocol.md and
 * docs/registers.md; its arithmetic is the golden model's.
 *
 * This is the lowest layer faked: the real sim transport and the RTL are tested in the RTL
 * and sim suites. Here faults can be injected deterministically, per seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "testlayer.h"
#include "testrng.h"
#include "device.h"
#include "golden.h"
#include "proto.h"
#include "transport.h"

static uint64_t seed;

/* ---- the software board ------------------------------------------------------------------ */

enum { MAXP = 1024 };

/* Buffer sizes (activations, weights, parameters, outputs) and accumulator pixels. */
struct board_cfg {
    uint32_t size[4];
    uint32_t acc_pixels;
    bool lag;                  /* tiles run when the host next reads a register, not at RUN:
                                  what the host writes meanwhile over what a started tile
                                  reads changes its result, as on a real core */
    uint32_t txq;              /* INFO word 14: response words queued (0: not reported) */
    bool run_check;            /* FEATURES bit 12: checked RUNs (the host posts them) */
};
/* As the RTL's default build: a response queue of 4 KiB (1024 words) here, where packets
 * carry 1 KiB, so that output reads longer than 3 KiB go paced between the writes; RUNs
 * checked, so posted. */
static const struct board_cfg big = {{524288, 524288, 65536, 131072}, 1024, false, 1024, true};
/* Tiny: most layers need many tiles along every dimension, and input-channel chains; plain
 * RUNs, as the COMPACT builds have. */
static const struct board_cfg tiny = {{2048, 2048, 512, 1024}, 16, false, 0, false};
static const struct board_cfg big_lag = {{524288, 524288, 65536, 131072}, 1024, true, 1024,
                                         true};
static const struct board_cfg tiny_lag = {{2048, 2048, 512, 1024}, 16, true, 0, false};

struct fault_rates { /* per mille */
    unsigned drop_req, corrupt_req, drop_resp, corrupt_resp, dup_resp;
};

struct board {
    struct cbr_transport t;
    uint32_t rows, cols;
    struct cbr_reader rd;
    uint8_t *out;              /* response bytes not yet received by the host */
    size_t out_len, out_cap;
    uint32_t regs[64];
    uint8_t *buf[4];
    struct board_cfg cfg;
    int32_t *bank[2];          /* accumulator banks: acc_pixels x cols */
    uint64_t total[5];         /* TOTAL_* counters */
    unsigned scatters;         /* scatter writes taken */
    unsigned copies;           /* BUF_COPYs done */
    uint8_t last_op;           /* the opcode of the request before */
    bool read_after_write;     /* output reads since the last write, and a write before them */
    unsigned interleaved;      /* output reads between two buffer writes (paced reads) */
    uint64_t act_bytes;        /* payload bytes written to the activation buffer */
    bool done;
    uint32_t starts;
    uint32_t hang_at;          /* the start (from 1) the core takes and never finishes; 0: none */
    bool hung, pending;        /* hung in that tile; a start waits behind it */
    uint32_t started[2][64];   /* cfg.lag: the registers of the tiles started, not run yet */
    uint32_t n_started;
    uint64_t cycles;           /* the clock of board_clocked_ops: only idle advances it */
    uint64_t got, sent;        /* bytes from the host, and to it (board_linked_ops' link) */
    uint32_t act_row;          /* when set: bytes of an input row of one channel block ... */
    unsigned act_pieces;       /* ... and activation writes of a part of a row, */
    unsigned act_pieces_scattered; /* those of every channel block in one scatter write */
    bool dones;                /* the core counts finished tiles (FEATURES bit 9, DONES) */
    bool clock_bytes;          /* the clock also counts the link's bytes, 2 a cycle, one
                                  direction after the other */
    uint32_t out_next;         /* offset where a BUF_READ of the output continues the one before */
    unsigned reads_in_a_row;   /* output reads that start right behind another one */
    unsigned ctrl_reads;       /* REG_READs that include CTRL */
    uint32_t seq_next;         /* cfg.run_check: the sequence number the next packet should
                                  carry, */
    bool gap;                  /* a packet lost since the last plain RUN or RESET, */
    uint32_t runs;             /* RUNs run since RESET (a plain one: its arg0 + 1) */
    unsigned checked_runs, refused; /* checked RUNs taken, and of them refused */
    unsigned lose_write_at;    /* once this many checked RUNs came: lose the next BUF_WRITE */
    unsigned lose_run_answer;  /* lose the answer to this checked RUN (from 1), which runs */
    struct fault_rates f;
    unsigned faults;
    bool closed;
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void emit(struct board *b, const uint8_t *bytes, size_t n)
{
    if (b->out_len + n > b->out_cap) {
        b->out_cap = 2 * (b->out_len + n);
        b->out = realloc(b->out, b->out_cap);
    }
    memcpy(b->out + b->out_len, bytes, n);
    b->out_len += n;
    b->sent += n;
    if (b->clock_bytes)
        b->cycles += n / 2;
}

static void respond(struct board *b, const struct cbr_pkt *req, uint8_t status,
                    const void *payload, uint32_t len)
{
    if (req->opcode == CBR_OP_RUN && (req->arg1 & 1) && status == CBR_ST_OK &&
        b->checked_runs == b->lose_run_answer) {
        b->lose_run_answer = 0;
        b->faults++;
        return;
    }
    if (rnd(1000) < b->f.drop_resp) {
        b->faults++;
        return;
    }
    struct cbr_pkt p = {.opcode = req->opcode, .flags = CBR_PROTO_FLAG_RESPONSE,
                        .status = status, .seq = req->seq, .len = len};
    uint8_t wire[MAXP + 64];
    size_t n = cbr_pkt_encode(&p, payload, wire);
    if (rnd(1000) < b->f.corrupt_resp) {
        wire[rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8));
        b->faults++;
    }
    emit(b, wire, n);
    if (rnd(1000) < b->f.dup_resp) {
        emit(b, wire, n);
        b->faults++;
    }
}

/* RUN: the tile of docs/registers.md (registers r), computed by the golden model. */
static void run_tile(struct board *b, const uint32_t *r)
{
    const uint32_t R = b->rows, C = b->cols;
    /* the fields as wide as the core keeps them (rtl/cbr_core_regs.v): a plan that needs
     * more bits goes wrong here as it would on the RTL */
    uint32_t in_h = r[0x10 / 4] & 0xFFFF, in_w = r[0x14 / 4] & 0xFFFF;
    uint32_t n_cb = r[0x18 / 4] & 0xFFFF, n_ob = r[0x1C / 4] & 0xFFFF;
    uint32_t oh = r[0x34 / 4], ow = r[0x38 / 4];
    uint32_t in_c = r[0x6C / 4] & 0xFFFF, out_c = r[0x70 / 4] & 0xFFFF;
    uint32_t mode = r[0x48 / 4], pool_out = r[0x58 / 4];
    uint32_t ph = pool_out & 0xFFFF, pw = pool_out >> 16;
    cbr_layer_desc d = {
        .in_c = in_c, .in_h = in_h, .in_w = in_w, .out_c = out_c,
        .kh = r[0x20 / 4] & 0xF, .kw = r[0x24 / 4] & 0xF,
        .stride_h = r[0x28 / 4] & 0xFF, .stride_w = r[0x28 / 4] >> 8 & 0xFF,
        .dilation_h = r[0x2C / 4] & 0xFF, .dilation_w = r[0x2C / 4] >> 8 & 0xFF,
        .pad_top = r[0x30 / 4] & 0xFFFF, .pad_left = r[0x30 / 4] >> 16,
        .groups = 1, .input_zp = (int32_t)r[0x3C / 4], .output_zp = (int32_t)r[0x40 / 4],
        .act = (mode & 1) ? CBR_ACT_LEAKY : CBR_ACT_NONE, .has_clamp = true,
        .clamp_min = (int8_t)(r[0x44 / 4] & 0xFF), .clamp_max = (int8_t)(r[0x44 / 4] >> 8),
    };
    /* Taps past the stored tile are padding: pad the bottom/right far enough, then crop. */
    uint32_t eh = d.dilation_h * (d.kh - 1) + 1, ew = d.dilation_w * (d.kw - 1) + 1;
    uint32_t need_h = (oh - 1) * d.stride_h + eh, need_w = (ow - 1) * d.stride_w + ew;
    d.pad_bottom = need_h > in_h + d.pad_top ? need_h - in_h - d.pad_top : 0;
    d.pad_right = need_w > in_w + d.pad_left ? need_w - in_w - d.pad_left : 0;

    size_t plane = (size_t)in_h * in_w;
    int8_t *x = malloc((size_t)in_c * plane), *w = malloc((size_t)out_c * in_c * d.kh * d.kw);
    int32_t *bias = malloc(out_c * 4), *m = malloc(out_c * 4), *s = malloc(out_c * 4);
    int32_t *mn = malloc(out_c * 4), *sn = malloc(out_c * 4);
    const uint8_t *act = b->buf[0] + r[0x5C / 4], *wgt = b->buf[1] + r[0x60 / 4];
    const uint8_t *prm = b->buf[2] + r[0x68 / 4];
    size_t pitch = r[0x78 / 4] ? r[0x78 / 4] : plane * R;
    for (uint32_t c = 0; c < in_c; c++)
        for (size_t px = 0; px < plane; px++)
            x[c * plane + px] = (int8_t)act[(c / R) * pitch + px * R + c % R];
    for (uint32_t o = 0; o < out_c; o++) {
        for (uint32_t c = 0; c < in_c; c++)
            for (uint32_t ky = 0; ky < d.kh; ky++)
                for (uint32_t kx = 0; kx < d.kw; kx++)
                    w[((o * in_c + c) * d.kh + ky) * d.kw + kx] = (int8_t)wgt
                        [(((((size_t)(o / C) * n_cb + c / R) * d.kh + ky) * d.kw + kx) * R +
                          c % R) * C + o % C];
        bias[o] = (int32_t)rd32(prm + o * 32);
        m[o] = (int32_t)rd32(prm + o * 32 + 4);
        s[o] = (int32_t)rd32(prm + o * 32 + 8);
        mn[o] = (int32_t)rd32(prm + o * 32 + 12);
        sn[o] = (int32_t)rd32(prm + o * 32 + 16);
    }
    d.weights = w;
    d.bias = bias;
    d.multiplier = m;
    d.shift = s;
    d.neg_multiplier = mn;
    d.neg_shift = sn;
    uint32_t goh, gow;
    cbr_conv_out_size(&d, &goh, &gow);
    int32_t *acc = malloc((size_t)out_c * goh * gow * 4);
    int8_t *yc = malloc((size_t)out_c * oh * ow);
    /* The conv sums without the bias; then bias or the bank's partial sums (ACC_LOAD), and
     * either keep them in the bank (ACC_KEEP) or requantize. Block ob uses bank ob % 2. */
    int32_t *zero = calloc(out_c, 4);
    d.bias = zero;
    cbr_golden_conv_acc(&d, 1, x, acc);
    d.bias = bias;
    free(zero);
    for (uint32_t o = 0; o < out_c; o++) /* crop to OUT_H x OUT_W */
        for (uint32_t yy = 0; yy < oh; yy++)
            for (uint32_t xx = 0; xx < ow; xx++) {
                int32_t v = acc[((size_t)o * goh + yy) * gow + xx];
                int32_t *bank = &b->bank[(o / C) % 2][((size_t)yy * ow + xx) * C + o % C];
                uint32_t sum = (uint32_t)v + (uint32_t)((mode & 4) ? *bank : bias[o]);
                if (mode & 8)
                    *bank = (int32_t)sum;
                else
                    yc[((size_t)o * oh + yy) * ow + xx] = cbr_requant(
                        (int32_t)sum, m[o], s[o], mode & 1, mn[o], sn[o], d.output_zp,
                        d.clamp_min, d.clamp_max);
            }
    cbr_pool pool = {.kind = (cbr_pool_kind)(mode >> 4 & 3)};
    int8_t *pooled = yc;
    if (pool.kind == CBR_POOL_MAX || pool.kind == CBR_POOL_AVG) {
        pool.kh = r[0x4C / 4] & 0xFF;
        pool.kw = r[0x4C / 4] >> 8 & 0xFF;
        pool.stride_h = r[0x50 / 4] & 0xFF;
        pool.stride_w = r[0x50 / 4] >> 8 & 0xFF;
        pool.pad_top = r[0x54 / 4] & 0xFF;
        pool.pad_left = r[0x54 / 4] >> 8 & 0xFF;
        /* Windows are clipped at the plane: enough bottom/right padding, then crop. */
        uint32_t nh = (ph - 1) * pool.stride_h + pool.kh, nw = (pw - 1) * pool.stride_w + pool.kw;
        pool.pad_bottom = nh > oh + pool.pad_top ? nh - oh - pool.pad_top : 0;
        pool.pad_right = nw > ow + pool.pad_left ? nw - ow - pool.pad_left : 0;
    }
    if (pool.kind != CBR_POOL_NONE) {
        uint32_t gph = 1, gpw = 1;
        if (pool.kind != CBR_POOL_GAVG)
            cbr_pool_out_size(&pool, oh, ow, &gph, &gpw);
        int8_t *full = malloc((size_t)out_c * gph * gpw);
        cbr_golden_pool(&pool, 1, out_c, oh, ow, yc, full);
        pooled = malloc((size_t)out_c * ph * pw);
        for (uint32_t o = 0; o < out_c; o++)
            for (uint32_t yy = 0; yy < ph; yy++)
                memcpy(pooled + ((size_t)o * ph + yy) * pw, full + ((size_t)o * gph + yy) * gpw,
                       pw);
        free(full);
    }
    uint8_t *out = b->buf[3] + r[0x64 / 4];
    for (uint32_t o = 0; o < out_c && !(mode & 8); o++)
        for (size_t px = 0; px < (size_t)ph * pw; px++)
            out[((o / C) * (size_t)ph * pw + px) * C + o % C] = (uint8_t)pooled[o * (size_t)ph * pw + px];
    /* Counters: cycles as if one beat per cycle; MACs as the device counts them. */
    uint64_t macs = (uint64_t)oh * ow * d.kh * d.kw * in_c * out_c;
    uint64_t beats = (uint64_t)oh * ow * d.kh * d.kw * n_cb * n_ob;
    uint64_t ctr[5] = {beats + 100, beats, macs, 0, 0};
    for (int i = 0; i < 5; i++) {
        b->regs[0x80 / 4 + 2 * i] = (uint32_t)ctr[i];
        b->regs[0x80 / 4 + 2 * i + 1] = (uint32_t)(ctr[i] >> 32);
        b->total[i] += ctr[i];
        b->regs[0xC0 / 4 + 2 * i] = (uint32_t)b->total[i];
        b->regs[0xC0 / 4 + 2 * i + 1] = (uint32_t)(b->total[i] >> 32);
    }
    if (pooled != yc)
        free(pooled);
    free(x), free(w), free(bias), free(m), free(s), free(mn), free(sn);
    free(acc), free(yc);
    b->done = true;
}

/* cfg.lag: the tiles started so far end now, on what the buffers hold now. */
static void run_started(struct board *b)
{
    for (uint32_t i = 0; i < b->n_started; i++)
        run_tile(b, b->started[i]);
    b->n_started = 0;
}

static void execute(struct board *b, const struct cbr_pkt *p, const uint8_t *pl)
{
    const uint32_t *buf_size = b->cfg.size;
    /* BUF_COPY (FEATURES bit 11, INFO word 15) on square arrays, as cbr_top has it */
    const uint32_t cw = b->rows == b->cols ? b->cols : 0;
    uint32_t info[16] = {1, b->rows, b->cols, buf_size[0], buf_size[1], buf_size[3],
                         buf_size[2] / 32, MAXP, 11, 4, 8,
                         (cw ? 0x87Fu : 0x7Fu) | (b->dones ? 0x200u : 0) |
                             (b->cfg.run_check ? CBR_FEAT_RUN_CHECK : 0),
                         200000, b->cfg.acc_pixels, b->cfg.txq, cw};
    /* every packet that arrived whole counts for the checked RUN (protocol.md, "RUN") */
    const bool gap = b->gap || p->seq != b->seq_next;
    b->seq_next = p->seq + 1;
    b->gap = gap;
    if (p->opcode == CBR_OP_BUF_READ && p->arg0 == 3) {
        b->reads_in_a_row += b->last_op == CBR_OP_BUF_READ && p->arg1 != b->out_next;
        b->out_next = p->arg1 + p->arg2;
    }
    uint8_t resp[MAXP];
    if (p->opcode == CBR_OP_BUF_WRITE) {
        b->interleaved += b->last_op == CBR_OP_BUF_READ && b->read_after_write;
        b->read_after_write = false;
    } else if (p->opcode == CBR_OP_BUF_READ && p->arg0 == 3) {
        b->read_after_write = b->last_op == CBR_OP_BUF_WRITE ||
                              (b->last_op == CBR_OP_BUF_READ && b->read_after_write);
    } else {
        b->read_after_write = false;
    }
    b->last_op = p->opcode;
    switch (p->opcode) {
    case CBR_OP_NOP: respond(b, p, 0, pl, p->len); return;
    case CBR_OP_INFO:
        for (int i = 0; i < 16; i++)
            memcpy(resp + 4 * i, &info[i], 4);
        respond(b, p, 0, resp, 64);
        return;
    case CBR_OP_RESET: /* aborts a hung tile, as the core's RESET does */
        b->done = b->hung = b->pending = false;
        b->n_started = 0;
        b->gap = false;
        b->runs = 0;
        respond(b, p, 0, NULL, 0);
        return;
    case CBR_OP_RUN:
        if (b->cfg.run_check && (p->arg1 & 1)) {
            b->checked_runs++;
            if (gap || p->arg0 != b->runs) {
                b->refused++;
                respond(b, p, CBR_ST_REFUSED, NULL, 0);
                return;
            }
        }
        if (b->cfg.run_check) {
            b->runs = p->arg0 + 1;
            if (!(p->arg1 & 1))
                b->gap = false;
        }
        if (b->hung)
            b->pending = true; /* held for the end of a tile that never comes */
        else if (++b->starts == b->hang_at)
            b->hung = true, b->done = false;
        else if (!b->cfg.lag)
            run_tile(b, b->regs);
        else { /* the core holds a start behind the running tile; a third waits for it */
            if (b->n_started == 2) {
                run_tile(b, b->started[0]);
                memcpy(b->started[0], b->started[1], sizeof b->started[1]);
                b->n_started = 1;
            }
            memcpy(b->started[b->n_started++], b->regs, sizeof b->regs);
            b->done = false;
        }
        respond(b, p, 0, NULL, 0);
        return;
    case CBR_OP_REG_WRITE:
        if (p->len == 0 || p->len % 4 || p->arg0 % 4 || (uint64_t)p->arg0 + p->len > 256)
            break;
        memcpy((uint8_t *)b->regs + p->arg0, pl, p->len);
        respond(b, p, 0, NULL, 0);
        return;
    case CBR_OP_REG_READ:
        if (p->arg0 % 4 || (uint64_t)p->arg0 + 4ull * p->arg1 > 256 || 4ull * p->arg1 > MAXP)
            break;
        run_started(b);
        b->ctrl_reads += p->arg0 == 0;
        /* CTRL: idle, done until the next start; hung: busy, maybe a start pending */
        b->regs[0] = b->hung ? (b->pending ? 1u : 0u) : 4u | (b->done ? 2u : 0u);
        b->regs[0x74 / 4] = b->starts;
        b->regs[0x7C / 4] = b->starts - b->n_started - (b->hung ? 1 : 0); /* DONES */
        respond(b, p, 0, (uint8_t *)b->regs + p->arg0, 4 * p->arg1);
        return;
    case CBR_OP_BUF_WRITE:
        if (p->arg2) { /* scatter: byte k to arg1 + (k / chunk) * pitch + k % chunk */
            uint32_t chunk = p->arg2 & 0xFFFF, pitch = p->arg2 >> 16;
            if (p->arg0 > 3 || !chunk || chunk > pitch || !p->len ||
                p->arg1 + (uint64_t)(p->len - 1) / chunk * pitch + (p->len - 1) % chunk >=
                    buf_size[p->arg0])
                break;
            for (uint32_t k = 0; k < p->len; k++)
                b->buf[p->arg0][p->arg1 + (k / chunk) * pitch + k % chunk] = pl[k];
            b->act_pieces_scattered += p->arg0 == 0 && b->act_row && chunk % b->act_row;
            b->scatters++;
            b->act_bytes += p->arg0 == 0 ? p->len : 0;
            respond(b, p, 0, NULL, 0);
            return;
        }
        if (p->arg0 > 3 || p->arg1 % 4 || (uint64_t)p->arg1 + p->len > buf_size[p->arg0])
            break;
        memcpy(b->buf[p->arg0] + p->arg1, pl, p->len);
        b->act_bytes += p->arg0 == 0 ? p->len : 0;
        b->act_pieces += p->arg0 == 0 && b->act_row && p->len % b->act_row;
        respond(b, p, 0, NULL, 0);
        return;
    case CBR_OP_BUF_READ:
        if (p->arg0 > 3 || p->arg1 % 4 || p->arg2 > MAXP ||
            (uint64_t)p->arg1 + p->arg2 > buf_size[p->arg0])
            break;
        respond(b, p, 0, b->buf[p->arg0] + p->arg1, p->arg2);
        return;
    case CBR_OP_BUF_COPY: {
        /* arg0: source [1:0], destination [3:2], words of cw bytes [31:8] */
        uint32_t src = p->arg0 & 3, dst = p->arg0 >> 2 & 3;
        uint64_t n = (uint64_t)(p->arg0 >> 8) * cw;
        if (!cw) {
            respond(b, p, CBR_ST_BAD_OPCODE, NULL, 0);
            return;
        }
        if (p->len) {
            respond(b, p, CBR_ST_BAD_LENGTH, NULL, 0);
            return;
        }
        if (p->arg0 & 0xF0 || src == dst || src == 2 || dst == 2 || p->arg1 % cw ||
            p->arg2 % cw || p->arg1 + n > buf_size[src] || p->arg2 + n > buf_size[dst]) {
            respond(b, p, CBR_ST_BAD_ADDRESS, NULL, 0);
            return;
        }
        memcpy(b->buf[dst] + p->arg2, b->buf[src] + p->arg1, n);
        b->copies++;
        respond(b, p, 0, NULL, 0);
        return;
    }
    default: respond(b, p, CBR_ST_BAD_OPCODE, NULL, 0); return;
    }
    respond(b, p, CBR_ST_BAD_ADDRESS, NULL, 0);
}

static int board_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                      char *err, size_t len)
{
    (void)timeout_ms, (void)err, (void)len;
    struct board *b = (struct board *)t;
    b->got += n;
    if (b->clock_bytes)
        b->cycles += n / 2; /* the link's 2 bytes a cycle */
    uint8_t *copy = malloc(n);
    memcpy(copy, buf, n);
    if (b->lose_write_at && b->checked_runs >= b->lose_write_at && n > 5 &&
        copy[5] == CBR_OP_BUF_WRITE) { /* header byte 5: the opcode */
        b->lose_write_at = 0;
        b->faults++;
        free(copy);
        return 0;
    }
    if (rnd(1000) < b->f.drop_req) {
        b->faults++;
        free(copy);
        return 0;
    }
    if (rnd(1000) < b->f.corrupt_req) {
        copy[rnd((uint32_t)n)] ^= (uint8_t)(1u << rnd(8));
        b->faults++;
    }
    for (size_t off = 0; off < n;) {
        off += cbr_reader_feed(&b->rd, copy + off, n - off);
        struct cbr_pkt p;
        const uint8_t *pl;
        enum cbr_read_result r;
        while ((r = cbr_reader_next(&b->rd, &p, &pl)) != CBR_READ_NEED_MORE) {
            if (r == CBR_READ_PACKET)
                execute(b, &p, pl);
            else if (r == CBR_READ_BAD_CRC)
                respond(b, &p, CBR_ST_BAD_CRC, NULL, 0);
            else if (r == CBR_READ_BAD_LENGTH)
                respond(b, &p, CBR_ST_BAD_LENGTH, NULL, 0);
        }
    }
    free(copy);
    return 0;
}

static int board_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got,
                      int timeout_ms, char *err, size_t len)
{
    (void)timeout_ms, (void)err, (void)len;
    struct board *b = (struct board *)t;
    size_t n = b->out_len < cap ? b->out_len : cap;
    *got = n;
    if (n == 0)
        return 0;
    memcpy(buf, b->out, n);
    memmove(b->out, b->out + n, b->out_len - n);
    b->out_len -= n;
    return 0;
}

static void board_close(struct cbr_transport *t)
{
    struct board *b = (struct board *)t;
    b->closed = true; /* freed by the test, which still reads its counters */
}

static const struct cbr_transport_ops board_ops = {
    .name = "software board", .send = board_send, .recv = board_recv, .close = board_close,
};

/* A device clock the driver reads as the sim transport's (stats and idle): time passes only
 * when the driver lets it (tiles take no time), enough for its hang deadline. */
static void board_stats(struct cbr_transport *t, struct cbr_link_stats *st)
{
    memset(st, 0, sizeof *st);
    st->cycles = ((struct board *)t)->cycles;
}

static void board_idle(struct cbr_transport *t, uint64_t cycles)
{
    ((struct board *)t)->cycles += cycles;
}

static const struct cbr_transport_ops board_clocked_ops = {
    .name = "software board with a clock", .send = board_send, .recv = board_recv,
    .stats = board_stats, .idle = board_idle, .close = board_close,
};

/* That clock, and a link the driver reads as 2 bytes a cycle each way: the driver then writes
 * ahead as far as its estimates of the tiles say the link carries (ahead_budget), as it does
 * on the sim. The link itself carries everything at once. */
static void board_link_stats(struct cbr_transport *t, struct cbr_link_stats *st)
{
    const struct board *b = (const struct board *)t;
    board_stats(t, st);
    st->h2d_bytes_per_cycle = st->d2h_bytes_per_cycle = 2;
    st->bytes_out = b->got;
    st->bytes_in = b->sent;
}

static const struct cbr_transport_ops board_linked_ops = {
    .name = "software board with a clock and a link", .send = board_send, .recv = board_recv,
    .stats = board_link_stats, .idle = board_idle, .close = board_close,
};

static struct board *board_new(uint32_t rows, uint32_t cols, struct fault_rates f,
                               const struct board_cfg *cfg)
{
    struct board *b = calloc(1, sizeof *b);
    b->t.ops = &board_ops;
    b->rows = rows;
    b->cols = cols;
    b->f = f;
    b->cfg = *cfg;
    b->gap = true; /* until the host's RESET */
    cbr_reader_init(&b->rd, MAXP);
    for (int i = 0; i < 4; i++)
        b->buf[i] = calloc(1, cfg->size[i]);
    for (int i = 0; i < 2; i++)
        b->bank[i] = calloc((size_t)cfg->acc_pixels * cols, sizeof(int32_t));
    return b;
}

static void board_free(struct board *b)
{
    cbr_reader_free(&b->rd);
    for (int i = 0; i < 4; i++)
        free(b->buf[i]);
    free(b->bank[0]);
    free(b->bank[1]);
    free(b->out);
    free(b);
}

/* ---- tests ------------------------------------------------------------------------------- */

struct rand_layer {
    cbr_layer_desc d;
    struct test_params p;
};

static uint32_t layer_scale = 1; /* planes and channels up to this many times larger */
static unsigned checked_total, refused_total; /* checked RUNs the boards took, and refused */

/* After a board's runs: without faults, a board with checked RUNs took them (the host
 * posted every RUN) and refused none; with plain RUNs it saw no checked one. */
static void count_runs(const struct board *b, struct fault_rates f)
{
    checked_total += b->checked_runs;
    refused_total += b->refused;
    if (!f.drop_req && !f.corrupt_req && !f.drop_resp && !f.corrupt_resp) {
        assert_int_equal(b->refused, 0);
        assert_true(b->cfg.run_check ? b->checked_runs > 0 : b->checked_runs == 0);
    }
}

static void make_layer(struct rand_layer *r)
{
    memset(r, 0, sizeof *r);
    cbr_layer_desc *d = &r->d;
    const uint32_t k = layer_scale;
    d->groups = rnd(4) == 0 ? 1 + rnd(3) : 1;
    d->in_c = d->groups * (1 + rnd(9 * k));
    d->out_c = d->groups * (1 + rnd(9 * k));
    d->kh = 1 + rnd(5);
    d->kw = 1 + rnd(5);
    d->dilation_h = 1 + rnd(2);
    d->dilation_w = 1 + rnd(2);
    d->in_h = d->dilation_h * (d->kh - 1) + 1 + rnd(8 * k);
    d->in_w = d->dilation_w * (d->kw - 1) + 1 + rnd(8 * k);
    d->stride_h = 1 + rnd(3);
    d->stride_w = 1 + rnd(3);
    d->pad_top = rnd(3);
    d->pad_left = rnd(3);
    d->pad_bottom = rnd(3);
    d->pad_right = rnd(3);
    d->input_zp = (int32_t)rnd(256) - 128;
    d->output_zp = (int32_t)rnd(256) - 128;
    d->act = rnd(2) ? CBR_ACT_LEAKY : CBR_ACT_RELU;
    if (d->act == CBR_ACT_RELU)
        d->output_zp = (int32_t)rnd(100) - 128;
    switch (rnd(4)) {
    case 0: d->pool.kind = CBR_POOL_GAVG; break;
    case 1:
        d->pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d->pool.kh = d->pool.kw = 2;
        d->pool.stride_h = d->pool.stride_w = 1 + rnd(2);
        d->pool.ceil_mode = rnd(2);
        break;
    default: break;
    }
    test_params_fill(&r->p, d, 20000);
}

static void free_layer(struct rand_layer *r)
{
    test_params_free(&r->p);
}

/* A random layer the API accepts (some draws leave no pooled output: draw again). */
static void make_valid_layer(struct rand_layer *r)
{
    for (;;) {
        make_layer(r);
        cbr_layer_desc d = r->d;
        cbr_layer_normalize(&d);
        if (cbr_layer_check(&d) == 0)
            return;
        free_layer(r);
    }
}

/* Runs random layers on the board and on cpu: identical outputs, or (with faults) a clean
 * error. Returns the number of runs that failed cleanly. */
static int compare_layers(uint32_t rows, uint32_t cols, struct fault_rates f, int layers,
                          unsigned *faults, const struct board_cfg *cfg)
{
    struct board *b = board_new(rows, cols, f, cfg);
    uint32_t most_tiles = 0;
    cbr_device *dev, *cpu;
    int failed = 0;
    if (cbr_device_open_transport(&dev, &b->t, "board:test") < 0) {
        /* Opening itself may meet a fault; that must be a clean error too. */
        assert_true(f.drop_resp || f.corrupt_resp || f.drop_req || f.corrupt_req);
        assert_true(strlen(cbr_errmsg(NULL)) > 0);
        board_free(b);
        return 1;
    }
    assert_int_equal(cbr_device_open(&cpu, "cpu"), 0);
    cbr_device_info info;
    cbr_device_get_info(dev, &info);
    assert_int_equal(info.rows, rows);
    assert_int_equal(info.cols, cols);
    assert_true(info.features & CBR_FEAT_COUNTERS);
    for (int i = 0; i < layers; i++) {
        struct rand_layer r;
        make_valid_layer(&r);
        uint32_t n = 1 + rnd(2);
        cbr_layer *ld, *lc;
        assert_int_equal(cbr_layer_create(cpu, &r.d, &lc), 0);
        int rc = cbr_layer_create(dev, &r.d, &ld);
        if (rc < 0)
            fail_msg("seed %llu layer %d: %s", (unsigned long long)seed, i, cbr_errmsg(dev));
        cbr_shape s;
        cbr_layer_output_shape(lc, n, &s);
        size_t ni = (size_t)n * r.d.in_c * r.d.in_h * r.d.in_w, no = (size_t)s.n * s.c * s.h * s.w;
        int8_t *x = malloc(ni), *yd = malloc(no), *yc = malloc(no);
        for (size_t k = 0; k < ni; k++)
            x[k] = (int8_t)rnd(256);
        cbr_stats sd, sc;
        assert_int_equal(cbr_layer_run(lc, n, x, yc, &sc), 0);
        rc = cbr_layer_run(ld, n, x, yd, &sd);
        if (rc == 0) {
            if (memcmp(yd, yc, no) != 0)
                fail_msg("seed %llu layer %d: board output differs from the golden model",
                         (unsigned long long)seed, i);
            assert_int_equal(sd.macs, sc.macs);
            assert_true(sd.bytes_compulsory == sc.bytes_compulsory);
            assert_true(sd.tiles >= 1); /* groups may be packed, images stacked, into one */
            most_tiles = sd.tiles > most_tiles ? sd.tiles : most_tiles;
        } else {
            assert_true(f.drop_resp || f.corrupt_resp || f.drop_req || f.corrupt_req);
            assert_true(strlen(cbr_errmsg(dev)) > 0);
            if (getenv("CBR_VERBOSE"))
                printf("  clean error: %s\n", cbr_errmsg(dev));
            failed++;
        }
        free(x), free(yd), free(yc);
        cbr_layer_destroy(ld);
        cbr_layer_destroy(lc);
        free_layer(&r);
    }
    *faults = b->faults;
    count_runs(b, f);
    if (!f.drop_req && layers >= 30)
        assert_true(b->scatters > 0); /* partial channel blocks were sent without padding */
    if (cfg == &tiny && !f.drop_req)
        printf("test_accel: %dx%d tiny board: up to %u tiles per layer\n", rows, cols,
               most_tiles);
    cbr_device_close(dev);
    cbr_device_close(cpu);
    assert_true(b->closed);
    board_free(b);
    return failed;
}

static void test_board_layers_match_golden_model(void **state)
{
    (void)state;
    rng = seed;
    struct fault_rates none = {0};
    unsigned faults;
    assert_int_equal(compare_layers(4, 4, none, 60, &faults, &big), 0);
    assert_int_equal(compare_layers(4, 8, none, 60, &faults, &big), 0);
    assert_int_equal(compare_layers(8, 4, none, 30, &faults, &big), 0);
}

/* The planner on a board with tiny buffers: many tiles along every dimension, halos,
 * pooling across tile borders, input-channel chains, pooling on the host. */
static void test_tiled_layers_match_golden_model(void **state)
{
    (void)state;
    rng = seed + 3;
    struct fault_rates none = {0};
    unsigned faults;
    layer_scale = 3;
    assert_int_equal(compare_layers(4, 4, none, 150, &faults, &tiny), 0);
    assert_int_equal(compare_layers(4, 8, none, 100, &faults, &tiny), 0);
    assert_int_equal(compare_layers(8, 4, none, 100, &faults, &tiny), 0);
    layer_scale = 1;
}

static void test_board_faults_give_right_results_or_clean_errors(void **state)
{
    (void)state;
    rng = seed + 1;
    /* Lost and garbled packets both ways, duplicates: retries must recover most runs, and
     * whatever they cannot recover must be an error, never a wrong output. */
    struct fault_rates f = {.drop_req = 10, .corrupt_req = 10, .drop_resp = 10,
                            .corrupt_resp = 10, .dup_resp = 20};
    unsigned faults = 0, total = 0;
    int failed = 0;
    checked_total = refused_total = 0;
    for (int round = 0; round < 6; round++) {
        failed += compare_layers(4, 4, f, 15, &faults, round % 2 ? &tiny : &big);
        total += faults;
    }
    printf("test_accel: %u faults injected, %d of 90 runs ended in a clean error; %u posted "
           "RUNs, %u refused (a loss before them, or sent again)\n", total, failed,
           checked_total, refused_total);
    assert_true(total >= 20); /* the faults really happened */
    assert_true(failed < 45); /* retries recover most */
    /* the big board's RUNs were posted, and losses before them were caught */
    assert_true(checked_total > 0 && refused_total > 0);
}

/* Random chains of layers as networks on a board and on cpu: the device's output (its
 * intermediates kept in the activation buffer where they fit, then all on the host) must
 * equal the golden model's, or (with faults) be a clean error. Returns the clean errors;
 * *kept and *bounds count the intermediates kept and the boundaries, *ahead the layers whose
 * first weights went while the layer before them ran (cbr_stats.bytes_ahead). */
static int compare_chains(uint32_t rows, uint32_t cols, struct fault_rates f, int chains,
                          const struct board_cfg *cfg, unsigned *kept, unsigned *bounds,
                          unsigned *copies, unsigned *ahead)
{
    struct board *b = board_new(rows, cols, f, cfg);
    cbr_device *dev, *cpu;
    int failed = 0;
    if (cbr_device_open_transport(&dev, &b->t, "board:test") < 0) {
        assert_true(f.drop_resp || f.corrupt_resp || f.drop_req || f.corrupt_req);
        board_free(b);
        return 1;
    }
    assert_int_equal(cbr_device_open(&cpu, "cpu"), 0);
    for (int i = 0; i < chains; i++) {
        enum { MAXL = 5 };
        struct rand_layer r[MAXL];
        cbr_layer *ld[MAXL], *lc[MAXL];
        const uint32_t k = 2 + rnd(MAXL - 1), n = 1 + rnd(2);
        /* now and then a layer in the middle on cpu: the network splits around it */
        const uint32_t on_cpu = k > 2 && rnd(3) == 0 ? 1 + rnd(k - 2) : MAXL;
        uint32_t c = 1 + rnd(20), h = 3 + rnd(20), w = 3 + rnd(20);
        int32_t zp = (int32_t)rnd(256) - 128;
        for (uint32_t q = 0; q < k; q++) {
            /* a layer of make_layer's kinds on the tensor so far, that keeps a plane */
            for (;;) {
                make_layer(&r[q]);
                cbr_layer_desc *d = &r[q].d;
                test_params_free(&r[q].p);
                d->groups = 1, d->in_c = c, d->in_h = h, d->in_w = w, d->input_zp = zp;
                d->out_c = 1 + rnd(20);
                d->stride_h = d->stride_w = 1;
                d->pad_top = d->pad_bottom = d->kh / 2;
                d->pad_left = d->pad_right = d->kw / 2;
                d->dilation_h = d->dilation_w = 1;
                if (d->pool.kind == CBR_POOL_GAVG)
                    d->pool.kind = CBR_POOL_NONE;
                test_params_fill(&r[q].p, d, 20000);
                cbr_layer_desc t = *d;
                cbr_layer_normalize(&t);
                if (cbr_layer_check(&t) == 0)
                    break;
                free_layer(&r[q]);
            }
            assert_int_equal(cbr_layer_create(cpu, &r[q].d, &lc[q]), 0);
            if (cbr_layer_create(q == on_cpu ? cpu : dev, &r[q].d, &ld[q]) < 0)
                fail_msg("seed %llu chain %d layer %u: %s", (unsigned long long)seed, i, q,
                         cbr_errmsg(dev));
            cbr_shape os;
            cbr_layer_output_shape(lc[q], 1, &os);
            c = os.c, h = os.h, w = os.w, zp = r[q].d.output_zp;
        }
        cbr_network *nd, *nc;
        assert_int_equal(cbr_network_create(lc, k, &nc), 0);
        assert_int_equal(cbr_network_create(ld, k, &nd), 0);
        size_t ni = (size_t)n * r[0].d.in_c * r[0].d.in_h * r[0].d.in_w;
        size_t no = (size_t)n * c * h * w;
        int8_t *x = malloc(ni), *yd = malloc(no), *yc = malloc(no);
        for (size_t j = 0; j < ni; j++)
            x[j] = (int8_t)rnd(256);
        cbr_stats per[MAXL];
        assert_int_equal(cbr_network_run(nc, n, x, yc, NULL, NULL), 0);
        for (int keep = 1; keep >= 0; keep--) {
            assert_int_equal(cbr_network_keep_on_device(nd, keep), 0);
            if (cbr_network_run(nd, n, x, yd, NULL, per) < 0) {
                assert_true(f.drop_resp || f.corrupt_resp || f.drop_req || f.corrupt_req);
                assert_true(strstr(cbr_errmsg(NULL), "layer ") != NULL);
                failed++;
                continue;
            }
            if (memcmp(yd, yc, no) != 0)
                fail_msg("seed %llu chain %d (%u layers, n %u, keep %d): output differs from "
                         "the golden model", (unsigned long long)seed, i, k, n, keep);
            for (uint32_t q = 0; q + 1 < k; q++) {
                bool out = per[q].resident & CBR_RESIDENT_OUTPUT;
                assert_int_equal(out, (per[q + 1].resident & CBR_RESIDENT_INPUT) != 0);
                assert_true(keep || !out);
                *kept += out;
                *bounds += keep;
            }
            /* the compulsory bytes leave out a kept tensor, which never crosses the link;
             * weights written ahead are of a layer after another on the board, and part of
             * its bytes to the device */
            for (uint32_t q = 0; q < k; q++) {
                const bool after = q > 0 && q != on_cpu && q - 1 != on_cpu;
                if (per[q].bytes_ahead > per[q].bytes_to_device ||
                    (!after && per[q].bytes_ahead))
                    fail_msg("seed %llu chain %d layer %u: %llu bytes ahead of %llu to the "
                             "device", (unsigned long long)seed, i, q,
                             (unsigned long long)per[q].bytes_ahead,
                             (unsigned long long)per[q].bytes_to_device);
                *ahead += per[q].bytes_ahead > 0;
                cbr_shape os;
                cbr_layer_output_shape(lc[q], n, &os);
                uint64_t want = cbr_layer_compulsory_bytes(lc[q], n);
                if (per[q].resident & CBR_RESIDENT_INPUT)
                    want -= (uint64_t)n * r[q].d.in_c * r[q].d.in_h * r[q].d.in_w;
                if (per[q].resident & CBR_RESIDENT_OUTPUT)
                    want -= (uint64_t)os.n * os.c * os.h * os.w;
                assert_int_equal(per[q].bytes_compulsory, want);
            }
        }
        free(x), free(yd), free(yc);
        cbr_network_destroy(nd);
        cbr_network_destroy(nc);
        for (uint32_t q = 0; q < k; q++) {
            cbr_layer_destroy(ld[q]);
            cbr_layer_destroy(lc[q]);
            free_layer(&r[q]);
        }
    }
    *copies += b->copies;
    count_runs(b, f);
    cbr_device_close(dev);
    cbr_device_close(cpu);
    board_free(b);
    return failed;
}

/* Networks keep intermediates on the device (BUF_COPY from the output buffer into the next
 * layer's input) where they fit, bit-exact; a board without BUF_COPY (4x8) keeps none; lost
 * and garbled packets give right results or clean errors (a copy sent again is the same
 * copy). */
static void test_network_keeps_intermediates_on_the_board(void **state)
{
    (void)state;
    rng = seed + 7;
    struct fault_rates none = {0};
    unsigned kept = 0, bounds = 0, copies = 0, ahead = 0;
    assert_int_equal(compare_chains(4, 4, none, 25, &big, &kept, &bounds, &copies, &ahead), 0);
    printf("test_accel: 4x4 board: %u of %u intermediates kept, %u copies; %u layers' weights "
           "written ahead\n", kept, bounds, copies, ahead);
    /* a layer after another on the board gets its first weights during that one's last tile
     * (this board's link cannot say how fast it is: all of them then), unless it is run as
     * stacked images: most of the 2 x (1..4) such layers a run */
    assert_true(kept * 3 > bounds && copies > 0 && ahead * 2 > bounds);
    unsigned tkept = 0, tbounds = 0, tahead = 0;
    assert_int_equal(compare_chains(4, 4, none, 25, &tiny, &tkept, &tbounds, &copies, &tahead),
                     0);
    printf("test_accel: 4x4 tiny board: %u of %u intermediates kept; %u layers' weights written "
           "ahead\n", tkept, tbounds, tahead);
    assert_true(tkept > 0 && tkept < tbounds && tahead * 2 > tbounds);
    /* boards whose tiles run until the next poll: whatever the driver writes while a tile
     * runs (the next tiles' data, the next layer's weights) must miss what it reads */
    unsigned lkept = 0, lbounds = 0, lahead = 0;
    assert_int_equal(compare_chains(4, 4, none, 30, &big_lag, &lkept, &lbounds, &copies, &lahead),
                     0);
    assert_int_equal(compare_chains(4, 4, none, 30, &tiny_lag, &lkept, &lbounds, &copies,
                                    &lahead), 0);
    printf("test_accel: 4x4 boards whose tiles run until polled: %u of %u intermediates kept; "
           "%u layers' weights written ahead\n", lkept, lbounds, lahead);
    assert_true(lkept > 0 && lahead * 2 > lbounds);
    unsigned wkept = 0, wbounds = 0, wcopies = 0;
    assert_int_equal(compare_chains(4, 8, none, 10, &big, &wkept, &wbounds, &wcopies, &ahead),
                     0);
    assert_true(wkept == 0 && wcopies == 0 && wbounds > 0);
    struct fault_rates f = {.drop_req = 10, .corrupt_req = 10, .drop_resp = 10,
                            .corrupt_resp = 10, .dup_resp = 20};
    int failed = 0;
    for (int round = 0; round < 4; round++)
        failed += compare_chains(4, 4, f, 6, round % 2 ? &tiny : &big, &kept, &bounds, &copies,
                                 &ahead);
    /* a run is 2..5 layers, each of which a fault may end: fewer recover than of layers */
    printf("test_accel: with faults, %d of 48 network runs ended in a clean error\n", failed);
    assert_true(failed < 40);
}

static void test_layer_beyond_any_tiling_is_refused_naming_the_limit(void **state)
{
    (void)state;
    struct fault_rates none = {0};
    struct board *b = board_new(8, 4, none, &tiny);
    cbr_device *dev;
    assert_int_equal(cbr_device_open_transport(&dev, &b->t, "board:test"), 0);
    struct rand_layer r;
    rng = seed + 2;
    make_valid_layer(&r);
    r.d.kh = r.d.kw = 11; /* 121 taps x 8 x 4 bytes > the 2 KiB weight buffer */
    r.d.groups = 1;
    r.d.in_c = 8;         /* folding the kernel's columns would not pay: no fold */
    r.d.dilation_h = r.d.dilation_w = 1;
    r.d.in_h = r.d.in_w = 40;
    r.d.pool.kind = CBR_POOL_NONE;
    test_params_free(&r.p);
    test_params_fill(&r.p, &r.d, 20000);
    cbr_layer *l;
    assert_int_equal(cbr_layer_create(dev, &r.d, &l), CBR_ERANGE);
    assert_non_null(strstr(cbr_errmsg(dev), "weight buffer"));
    free_layer(&r);
    cbr_device_close(dev);
    board_free(b);
}

/* A dense layer of random data and parameters (the random stream at seed + salt): c_in ->
 * c_out channels, a k x k kernel on hw x hw, stride and dilation 1, no padding, no pooling;
 * created on dev (failing the test with the device's message) and on cpu. */
static const cbr_layer_desc *strided_layer(struct rand_layer *r, uint64_t salt, uint32_t c_in,
                                           uint32_t c_out, uint32_t k, uint32_t hw,
                                           uint32_t stride, cbr_device *dev, cbr_device *cpu,
                                           cbr_layer **ld, cbr_layer **lc);

static const cbr_layer_desc *plain_layer(struct rand_layer *r, uint64_t salt, uint32_t c_in,
                                         uint32_t c_out, uint32_t k, uint32_t hw,
                                         cbr_device *dev, cbr_device *cpu, cbr_layer **ld,
                                         cbr_layer **lc)
{
    return strided_layer(r, salt, c_in, c_out, k, hw, 1, dev, cpu, ld, lc);
}

/* plain_layer with a stride. */
static const cbr_layer_desc *strided_layer(struct rand_layer *r, uint64_t salt, uint32_t c_in,
                                           uint32_t c_out, uint32_t k, uint32_t hw,
                                           uint32_t stride, cbr_device *dev, cbr_device *cpu,
                                           cbr_layer **ld, cbr_layer **lc)
{
    rng = seed + salt;
    make_valid_layer(r);
    cbr_layer_desc *d = &r->d;
    d->groups = 1;
    d->in_c = c_in;
    d->out_c = c_out;
    d->kh = d->kw = k;
    d->stride_h = d->stride_w = stride;
    d->dilation_h = d->dilation_w = 1;
    d->in_h = d->in_w = hw;
    d->pad_top = d->pad_left = d->pad_bottom = d->pad_right = 0;
    d->pool.kind = CBR_POOL_NONE;
    test_params_free(&r->p);
    test_params_fill(&r->p, d, 20000);
    assert_int_equal(cbr_layer_create(cpu, d, lc), 0);
    if (cbr_layer_create(dev, d, ld) < 0)
        fail_msg("seed %llu: %s", (unsigned long long)seed, cbr_errmsg(dev));
    return d;
}

/* A fault-free 4x4 software board as dev (with a device clock when clocked), and the cpu
 * device. */
/* dev on board b (from board_new, with its options set: the driver reads INFO now), and
 * cpu. */
static void open_on(struct board *b, const char *uri, cbr_device **dev, cbr_device **cpu)
{
    assert_int_equal(cbr_device_open_transport(dev, &b->t, uri), 0);
    assert_int_equal(cbr_device_open(cpu, "cpu"), 0);
}

static struct board *open_pair(const struct board_cfg *cfg, bool clocked, cbr_device **dev,
                               cbr_device **cpu)
{
    struct fault_rates none = {0};
    struct board *b = board_new(4, 4, none, cfg);
    if (clocked)
        b->t.ops = &board_clocked_ops;
    open_on(b, clocked ? "board:clocked" : "board:test", dev, cpu);
    return b;
}

static void close_pair(struct board *b, cbr_device *dev, cbr_device *cpu)
{
    cbr_device_close(dev);
    cbr_device_close(cpu);
    board_free(b);
}

/* Run n random images through ld (on dev) and lc (cpu): the outputs must be equal. */
static void run_against_cpu(cbr_device *dev, const cbr_layer_desc *d, cbr_layer *ld,
                            cbr_layer *lc, uint32_t n, cbr_stats *st)
{
    cbr_shape os;
    cbr_layer_output_shape(lc, n, &os);
    size_t ni = (size_t)n * d->in_c * d->in_h * d->in_w, no = (size_t)os.n * os.c * os.h * os.w;
    int8_t *x = malloc(ni), *yd = malloc(no), *yc = malloc(no);
    for (size_t k = 0; k < ni; k++)
        x[k] = (int8_t)rnd(256);
    assert_int_equal(cbr_layer_run(lc, n, x, yc, NULL), 0);
    if (cbr_layer_run(ld, n, x, yd, st) < 0)
        fail_msg("seed %llu: %s", (unsigned long long)seed, cbr_errmsg(dev));
    assert_memory_equal(yd, yc, no);
    free(x), free(yd), free(yc);
}

/* plain_layer(salt, c_in, c_out, k, hw) on dev and on cpu, one image: the outputs must be
 * equal. The layers are freed. */
static void run_plain(cbr_device *dev, cbr_device *cpu, uint64_t salt, uint32_t c_in,
                      uint32_t c_out, uint32_t k, uint32_t hw, cbr_stats *st)
{
    struct rand_layer r;
    cbr_layer *ld, *lc;
    const cbr_layer_desc *d = plain_layer(&r, salt, c_in, c_out, k, hw, dev, cpu, &ld, &lc);
    run_against_cpu(dev, d, ld, lc, 1, st);
    cbr_layer_destroy(ld);
    cbr_layer_destroy(lc);
    free_layer(&r);
}

/* A reduction at the API's limit runs, chained over many runs, and is right. */
static void test_reduction_at_the_limit_runs_chained(void **state)
{
    (void)state;
    cbr_device *dev, *cpu;
    struct board *b = open_pair(&tiny, false, &dev, &cpu);
    struct rand_layer r;
    cbr_layer *ld, *lc;
    /* in_c x 2 x 2 taps = the limit */
    const cbr_layer_desc *d = plain_layer(&r, 4, CBR_MAX_REDUCTION / 4, 5, 2, 3, dev, cpu,
                                          &ld, &lc);
    cbr_stats st;
    run_against_cpu(dev, d, ld, lc, 1, &st);
    printf("test_accel: reduction of %u ran as %u chained tiles\n", d->in_c * 4, st.tiles);
    assert_true(st.tiles > 100);
    cbr_layer_destroy(ld);
    cbr_layer_destroy(lc);
    free_layer(&r);
    close_pair(b, dev, cpu);
}

/* Two rewrites of docs/tiling.md that must move less, and stay right: a 1x1 stride-2 layer
 * sends only the input pixels it reads (stride skipping), and a batch of small images shares
 * tiles (image stacking). */
static void test_strided_1x1_and_batches_of_small_images_move_less(void **state)
{
    (void)state;
    cbr_device *dev, *cpu;
    struct board *b = open_pair(&big, false, &dev, &cpu);
    for (int t = 0; t < 2; t++) {
        struct rand_layer r;
        cbr_layer *ld, *lc;
        /* 8 -> 8 channels on 24x24 with stride 2; 8 -> 4 on 2x2 images, a batch of 50 */
        const cbr_layer_desc *d =
            t == 0 ? strided_layer(&r, 6, 8, 8, 1, 24, 2, dev, cpu, &ld, &lc)
                   : plain_layer(&r, 7, 8, 4, 1, 2, dev, cpu, &ld, &lc);
        uint32_t n = t == 0 ? 1 : 50;
        size_t ni = (size_t)n * d->in_c * d->in_h * d->in_w;
        cbr_stats st;
        b->act_bytes = 0;
        run_against_cpu(dev, d, ld, lc, n, &st);
        printf("test_accel: %s: %llu input bytes written for %zu, %u tiles for %u images\n",
               t == 0 ? "1x1 stride 2" : "1x1 on 2x2 images", (unsigned long long)b->act_bytes,
               ni, st.tiles, n);
        if (t == 0)
            assert_true(b->act_bytes * 4 == ni); /* the pixels it reads, once */
        else
            assert_true(st.tiles < n / 4);
        cbr_layer_destroy(ld);
        cbr_layer_destroy(lc);
        free_layer(&r);
    }
    close_pair(b, dev, cpu);
}

/* Which tensors a chain keeps is chosen over the whole chain: of two that cannot share the
 * activation buffer, the one that saves more link bytes stays, even when the smaller one
 * comes first (plan_chain; taken in order, the first would have stayed and shut the second
 * out). 16 KiB of activations; 1x1 layers on 20x20: 4 -> 16 -> 32 -> 4 channels, so the
 * tensors are 6400 and 12800 bytes (4 channels a block). Bit-exact, and the second tensor's
 * bytes fewer written to the activation buffer than with every tensor on the host. */
static void test_network_keeps_the_tensors_that_save_most(void **state)
{
    (void)state;
    static const struct board_cfg cfg = {{16384, 524288, 65536, 131072}, 1024, false, 1024,
                                         true};
    cbr_device *dev, *cpu;
    struct board *b = open_pair(&cfg, false, &dev, &cpu);
    enum { K = 3, HW = 20 };
    const uint32_t ch[K + 1] = {4, 16, 32, 4};
    struct rand_layer r[K];
    cbr_layer *ld[K], *lc[K];
    int32_t zp = 3;
    for (uint32_t q = 0; q < K; q++) {
        rng = seed + 40 + q;
        make_valid_layer(&r[q]);
        cbr_layer_desc *d = &r[q].d;
        *d = (cbr_layer_desc){.in_c = ch[q], .in_h = HW, .in_w = HW, .out_c = ch[q + 1],
                              .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1,
                              .dilation_h = 1, .dilation_w = 1, .groups = 1,
                              .input_zp = zp, .output_zp = d->output_zp,
                              .act = CBR_ACT_RELU};
        test_params_free(&r[q].p);
        test_params_fill(&r[q].p, d, 20000);
        assert_int_equal(cbr_layer_create(cpu, d, &lc[q]), 0);
        if (cbr_layer_create(dev, d, &ld[q]) < 0)
            fail_msg("seed %llu layer %u: %s", (unsigned long long)seed, q, cbr_errmsg(dev));
        zp = d->output_zp;
    }
    cbr_network *nd, *nc;
    assert_int_equal(cbr_network_create(lc, K, &nc), 0);
    assert_int_equal(cbr_network_create(ld, K, &nd), 0);
    const size_t ni = (size_t)ch[0] * HW * HW, no = (size_t)ch[K] * HW * HW;
    int8_t *x = malloc(ni), *yd = malloc(no), *yc = malloc(no);
    assert_non_null(x), assert_non_null(yd), assert_non_null(yc);
    for (size_t j = 0; j < ni; j++)
        x[j] = (int8_t)rnd(256);
    assert_int_equal(cbr_network_run(nc, 1, x, yc, NULL, NULL), 0);
    uint64_t sent[2] = {0, 0};
    for (int keep = 0; keep < 2; keep++) {
        cbr_stats per[K];
        assert_int_equal(cbr_network_keep_on_device(nd, keep), 0);
        b->act_bytes = 0;
        if (cbr_network_run(nd, 1, x, yd, NULL, per) < 0)
            fail_msg("seed %llu, keep %d: %s", (unsigned long long)seed, keep,
                     cbr_errmsg(NULL));
        assert_memory_equal(yd, yc, no);
        sent[keep] = b->act_bytes;
        if (keep) {
            printf("test_accel: a chain of 6400- and 12800-byte tensors in 16 KiB: kept %s, "
                   "%s; %llu bytes of input written (%llu with both on the host)\n",
                   per[0].resident & CBR_RESIDENT_OUTPUT ? "the first" : "not the first",
                   per[1].resident & CBR_RESIDENT_OUTPUT ? "the second" : "not the second",
                   (unsigned long long)sent[1], (unsigned long long)sent[0]);
            assert_false(per[0].resident & CBR_RESIDENT_OUTPUT);
            assert_true(per[1].resident & CBR_RESIDENT_OUTPUT);
            assert_true(per[2].resident & CBR_RESIDENT_INPUT);
        }
    }
    assert_true(sent[1] + 12800 <= sent[0]); /* the second tensor, not sent */
    free(x), free(yd), free(yc);
    cbr_network_destroy(nd);
    cbr_network_destroy(nc);
    for (uint32_t q = 0; q < K; q++) {
        cbr_layer_destroy(ld[q]);
        cbr_layer_destroy(lc[q]);
        free_layer(&r[q]);
    }
    close_pair(b, dev, cpu);
}

/* An output tile longer than the board's response queue holds is read in pieces between the
 * writes of the next tiles (read_paced), so that the device never stops taking writes while
 * its answers drain; a board that reports no such queue gets each read whole. Both right. */
static void test_output_reads_go_between_writes(void **state)
{
    (void)state;
    /* activations of 16 KiB: the input goes in regions, written while earlier tiles run */
    static const struct board_cfg queue = {{16384, 524288, 65536, 131072}, 1024, false, 1024,
                                           true};
    static const struct board_cfg no_queue = {{16384, 524288, 65536, 131072}, 1024, false, 0,
                                              false};
    const struct board_cfg *cfgs[2] = {&queue, &no_queue};
    for (int t = 0; t < 2; t++) {
        cbr_device *dev, *cpu;
        struct board *b = open_pair(cfgs[t], false, &dev, &cpu);
        /* 8 -> 64 channels on 64x64: tiles of several KiB of output, and input to write
         * between them */
        cbr_stats st;
        run_plain(dev, cpu, 8, 8, 64, 3, 64, &st);
        printf("test_accel: %s: %u tiles, %u output reads between writes\n",
               t == 0 ? "response queue of 4 KiB" : "no response queue", st.tiles,
               b->interleaved);
        assert_true(st.tiles > 2);
        if (t == 0)
            assert_true(b->interleaved >= st.tiles / 2);
        else
            assert_int_equal(b->interleaved, 0);
        close_pair(b, dev, cpu);
    }
}

/* A posted RUN is put right when something goes wrong around it: a write lost before it
 * (the device refuses the RUN; the host sends the write again, then a plain RUN), and an
 * answer to it lost (the host sends it again with the window; the device refuses the replay
 * and the host, seeing RUNS moved on, does not start the tile twice). Bit-exact, and exactly
 * one start a tile. */
static void test_posted_run_put_right(void **state)
{
    (void)state;
    static const struct board_cfg cfg = {{16384, 524288, 65536, 131072}, 1024, false, 1024,
                                         true};
    for (int t = 0; t < 2; t++) {
        cbr_device *dev, *cpu;
        struct board *b = open_pair(&cfg, false, &dev, &cpu);
        if (t == 0)
            b->lose_write_at = 3;
        else
            b->lose_run_answer = 3;
        cbr_stats st;
        run_plain(dev, cpu, 8, 8, 64, 3, 64, &st);
        printf("test_accel: %s: %u tiles, %u starts, %u posted RUNs, %u refused\n",
               t == 0 ? "a write lost after RUN 3" : "the answer to RUN 3 lost", st.tiles,
               b->starts, b->checked_runs, b->refused);
        assert_true(st.tiles > 4);
        assert_int_equal(b->faults, 1);
        assert_true(b->refused >= 1);
        assert_int_equal(b->starts, st.tiles);
        close_pair(b, dev, cpu);
    }
}

/* Where the transport says how fast its link is, the driver writes ahead as much of the input
 * as the link carries before the next poll is answered, down to pieces of rows (at least
 * 4 KiB; rows of 8 KiB here, 128 channels on 64 columns): results stay exact, and without
 * the link's figures rows go whole. */
static void test_rows_written_ahead_in_pieces(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        struct fault_rates none = {0};
        struct board *b = board_new(4, 4, none, &big);
        b->t.ops = t == 0 ? &board_linked_ops : &board_clocked_ops;
        b->act_row = 64 * 4; /* a row of one channel block of the 4-row array */
        cbr_device *dev, *cpu;
        open_on(b, "board:linked", &dev, &cpu);
        cbr_stats st;
        run_plain(dev, cpu, 9, 128, 4, 1, 64, &st);
        printf("test_accel: %s: %u tiles, activation writes of part of a row: %u a channel "
               "block at a time, %u of every block in one scatter write\n",
               t == 0 ? "link of 2 bytes a cycle" : "no link figures", st.tiles, b->act_pieces,
               b->act_pieces_scattered);
        assert_true(st.tiles > 2);
        if (t == 0) { /* pieces of over a packet a block, and the short rests of rows */
            assert_true(b->act_pieces > 0);
            assert_true(b->act_pieces_scattered > 0);
        } else {
            assert_int_equal(b->act_pieces + b->act_pieces_scattered, 0);
        }
        close_pair(b, dev, cpu);
    }
}

/* A layer whose input goes in regions that each take the whole activation buffer (16
 * channels of 16x16 on the tiny board: 4 KiB against 2 KiB): the next region's first rows go
 * beside the rows the last tiles of the one before still read, while they run, instead of
 * after the core has gone idle (the regions share their block pitch). On a board whose tiles
 * run late, on what the buffers hold by then, the results stay exact; and the driver waits
 * for the core to go idle (a REG_READ of CTRL) only at the layer's end. */
static void test_next_region_goes_beside_the_last_tiles(void **state)
{
    (void)state;
    cbr_device *dev, *cpu;
    struct board *b = open_pair(&tiny_lag, true, &dev, &cpu);
    cbr_stats st;
    run_plain(dev, cpu, 7, 16, 16, 3, 16, &st);
    printf("test_accel: regions of the whole buffer: %u tiles, %llu activation bytes sent "
           "(the input is 4096), CTRL read %u times\n", st.tiles,
           (unsigned long long)b->act_bytes, b->ctrl_reads);
    assert_true(b->act_bytes > 4096 && b->act_bytes < 2 * 4096); /* regions, halos, once */
    assert_int_equal(b->ctrl_reads, 1);
    close_pair(b, dev, cpu);
}

/* Where reading a tile's output takes longer than the tile after it (4 input channels, 64
 * output: 16 bytes back a beat), the link is the limit, and a tile is done by the time the
 * next start is queued: on a core that counts finished tiles (DONES) the driver then reads
 * it at once, behind the output before it (done_by_now). Results stay exact; without DONES
 * no output read follows another directly. */
static void test_tiles_read_as_soon_as_done(void **state)
{
    (void)state;
    for (int t = 0; t < 2; t++) {
        struct fault_rates none = {0};
        struct board *b = board_new(4, 4, none, &big);
        b->t.ops = &board_linked_ops;
        b->dones = t == 0;
        b->clock_bytes = true;
        cbr_device *dev, *cpu;
        open_on(b, "board:linked", &dev, &cpu);
        cbr_stats st;
        run_plain(dev, cpu, 10, 4, 64, 1, 64, &st);
        printf("test_accel: %s: %u tiles, %u output reads right behind another\n",
               t == 0 ? "DONES" : "no DONES", st.tiles, b->reads_in_a_row);
        assert_true(st.tiles > 2);
        if (t == 0)
            assert_true(b->reads_in_a_row > 0);
        else
            assert_int_equal(b->reads_in_a_row, 0);
        close_pair(b, dev, cpu);
    }
}

/* A core that takes a start and never ends the tile (an X in Icarus, a stuck board) still
 * answers every poll: the driver must give up after the tile's deadline in device cycles,
 * with CBR_ETIMEDOUT naming the tile, not after RUN_TIMEOUT_MS of wall time. The first,
 * a middle and the last tile hang (the last one is awaited with CTRL, the others by RUNS);
 * after each, the next run is right (the driver's RESET aborted the tile). */
static void test_hung_core_fails_the_run_in_device_cycles(void **state)
{
    (void)state;
    cbr_device *dev, *cpu;
    struct board *b = open_pair(&tiny, true, &dev, &cpu);
    struct rand_layer r;
    cbr_layer *ld, *lc;
    /* 8 x 8 outputs of 16 pixels a tile: several tiles */
    const cbr_layer_desc *d = plain_layer(&r, 5, 8, 8, 3, 10, dev, cpu, &ld, &lc);
    size_t ni = (size_t)d->in_c * d->in_h * d->in_w, no = (size_t)d->out_c * 8 * 8;
    int8_t *x = malloc(ni), *yd = malloc(no), *yc = malloc(no);
    for (size_t k = 0; k < ni; k++)
        x[k] = (int8_t)rnd(256);
    assert_int_equal(cbr_layer_run(lc, 1, x, yc, NULL), 0);
    cbr_stats st;
    if (cbr_layer_run(ld, 1, x, yd, &st) < 0) /* healthy with the clock: no deadline trips */
        fail_msg("seed %llu: %s", (unsigned long long)seed, cbr_errmsg(dev));
    assert_memory_equal(yd, yc, no);
    const uint32_t tiles = st.tiles;
    assert_true(tiles >= 4);
    const uint32_t hang[] = {1, tiles / 2, tiles};
    for (int i = 0; i < 3; i++) {
        b->hang_at = b->starts + hang[i];
        const uint64_t c0 = b->cycles;
        const double t0 = cbr_now_ms();
        int rc = cbr_layer_run(ld, 1, x, yd, NULL);
        const double ms = cbr_now_ms() - t0;
        const char *msg = cbr_errmsg(dev);
        char want[64];
        snprintf(want, sizeof want, "did not finish tile %u of the layer:", hang[i]);
        printf("test_accel: tile %u of %u hung: %s after %.0f ms, %llu device cycles: %s\n",
               hang[i], tiles, rc == CBR_ETIMEDOUT ? "CBR_ETIMEDOUT" : "not ETIMEDOUT", ms,
               (unsigned long long)(b->cycles - c0), msg);
        assert_int_equal(rc, CBR_ETIMEDOUT);
        assert_non_null(strstr(msg, want));
        assert_non_null(strstr(msg, "device cycles"));
        assert_true(ms < 10000); /* not RUN_TIMEOUT_MS (600 s) */
        assert_true(b->cycles - c0 < 100000000); /* bounded in device time too */
        assert_false(b->hung); /* the driver reset the board */
        b->hang_at = 0;
        memset(yd, 0, no);
        if (cbr_layer_run(ld, 1, x, yd, NULL) < 0)
            fail_msg("seed %llu: after a hang: %s", (unsigned long long)seed, cbr_errmsg(dev));
        assert_memory_equal(yd, yc, no);
    }
    free(x), free(yd), free(yc);
    cbr_layer_destroy(ld);
    cbr_layer_destroy(lc);
    free_layer(&r);
    close_pair(b, dev, cpu);
}

static void test_board_that_never_answers_fails_open_with_etimedout(void **state)
{
    (void)state;
    struct fault_rates mute = {.drop_resp = 1000};
    struct board *b = board_new(4, 4, mute, &big);
    cbr_device *dev;
    int rc = cbr_device_open_transport(&dev, &b->t, "board:mute");
    assert_int_equal(rc, CBR_ETIMEDOUT);
    assert_null(dev);
    assert_non_null(strstr(cbr_errmsg(NULL), "INFO"));
    assert_true(b->closed);
    board_free(b);
}

int main(void)
{
    seed = test_seed();
    printf("test_accel: seed %llu (replay with CBR_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    setenv("CBR_TIMEOUT_MS", "20", 1); /* the software board answers at once or never */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_board_layers_match_golden_model),
        cmocka_unit_test(test_board_faults_give_right_results_or_clean_errors),
        cmocka_unit_test(test_tiled_layers_match_golden_model),
        cmocka_unit_test(test_network_keeps_intermediates_on_the_board),
        cmocka_unit_test(test_network_keeps_the_tensors_that_save_most),
        cmocka_unit_test(test_layer_beyond_any_tiling_is_refused_naming_the_limit),
        cmocka_unit_test(test_reduction_at_the_limit_runs_chained),
        cmocka_unit_test(test_strided_1x1_and_batches_of_small_images_move_less),
        cmocka_unit_test(test_output_reads_go_between_writes),
        cmocka_unit_test(test_posted_run_put_right),
        cmocka_unit_test(test_rows_written_ahead_in_pieces),
        cmocka_unit_test(test_tiles_read_as_soon_as_done),
        cmocka_unit_test(test_next_region_goes_beside_the_last_tiles),
        cmocka_unit_test(test_hung_core_fails_the_run_in_device_cycles),
        cmocka_unit_test(test_board_that_never_answers_fails_open_with_etimedout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
