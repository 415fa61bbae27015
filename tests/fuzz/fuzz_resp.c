/*
 * fuzz_resp.c - libFuzzer target for the host's response handling: the real protocol client
 * (host/lib/accel.c: cbr_board_open through cbr_device_open_transport, then a small layer
 * run) over a fake transport, the lowest layer, whose device answers from the fuzz input.
 *
 * The fake device parses each request the client sends and takes one directive byte (plus
 * operands) from the input to decide its answer: a good response (INFO from a plausible
 * template, optionally disturbed; REG_READ / BUF_READ payloads from the input), an error
 * status, silence (the client times out), a stale sequence number, one flipped bit, raw
 * input bytes, a truncated packet, a wrong opcode / flags / payload length, or several of
 * these in a row. recv hands out what is queued in chunks the input chooses. When the input
 * is used up the device is "unplugged": send and recv return CBR_ENODEV.
 *
 * Checked: no crash, leak or sanitizer report (the build has ASan + UBSan), no hang (every
 * answer costs input bytes; silence costs one CBR_TIMEOUT_MS), and no accepted bad response:
 * when the open succeeds, the device's INFO fields must be those of a well-formed INFO
 * response (found by an independent scan of every byte the device sent, at every offset:
 * magic, header CRC, payload CRC, response flag) carrying the sequence number of an INFO
 * request the client sent.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "device.h"
#include "proto.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum { MAX_REQ_PAYLOAD = 65536, MAX_SEQS = 4096, MAX_RESP = 70000 };

struct fake {
    const uint8_t *in;       /* the fuzz input not used yet */
    size_t left;
    bool unplugged;
    struct cbr_reader req;   /* requests as the device sees them */
    uint8_t *out;            /* bytes queued to the host */
    size_t out_len, out_cap, out_pos;
    uint8_t *sent;           /* every byte ever queued, for the oracle */
    size_t sent_len, sent_cap;
    uint32_t info_seq[MAX_SEQS]; /* sequence numbers of the INFO requests */
    size_t n_info;
    uint32_t last_seq;
};

static bool take(struct fake *f, void *dst, size_t n)
{
    if (n == 0)
        return true;
    if (f->left < n) {
        f->left = 0;
        f->unplugged = true;
        return false;
    }
    memcpy(dst, f->in, n);
    f->in += n;
    f->left -= n;
    return true;
}

static uint8_t take8(struct fake *f)
{
    uint8_t v = 0;
    take(f, &v, 1);
    return v;
}

static uint32_t take32(struct fake *f)
{
    uint8_t b[4] = {0};
    take(f, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p)
        return false;
    *buf = p;
    *cap = c;
    return true;
}

static void queue(struct fake *f, const uint8_t *b, size_t n)
{
    if (n == 0)
        return;
    if (f->out_pos == f->out_len)
        f->out_pos = f->out_len = 0;
    if (!grow(&f->out, &f->out_cap, f->out_len + n) ||
        !grow(&f->sent, &f->sent_cap, f->sent_len + n))
        abort();
    memcpy(f->out + f->out_len, b, n);
    memcpy(f->sent + f->sent_len, b, n);
    f->out_len += n;
    f->sent_len += n;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A board that fits a tiny layer: 4x4, small buffers (docs/protocol.md, INFO block). */
static void info_template(uint8_t *p)
{
    static const uint32_t w[16] = {1, 4, 4, 4096, 4096, 4096, 64, 256, 11, 4, 8, 0xFF,
                                   100000, 256, 0, 0};
    for (int i = 0; i < 16; i++)
        put32(p + 4 * i, w[i]);
}

/* The payload a correct device gives a request; *n its length (at most MAX_RESP). */
static void good_payload(struct fake *f, const struct cbr_pkt *rq, const uint8_t *rpl,
                         uint8_t *pl, uint32_t *n, bool disturb)
{
    *n = 0;
    switch (rq->opcode) {
    case CBR_OP_NOP:
        *n = rq->len;
        memcpy(pl, rpl, rq->len);
        break;
    case CBR_OP_INFO:
        *n = 64;
        info_template(pl);
        if (disturb) {
            uint8_t k = take8(f);
            pl[k % 64] ^= take8(f);
        }
        break;
    case CBR_OP_REG_READ:
        *n = rq->arg1 <= 1024 ? 4 * rq->arg1 : 0;
        take(f, pl, *n);
        break;
    case CBR_OP_BUF_READ:
        *n = rq->arg2 <= 65536 ? rq->arg2 : 0;
        take(f, pl, *n);
        break;
    default:
        break;
    }
}

/* Answer one request as the next directives say. */
static void answer(struct fake *f, const struct cbr_pkt *rq, const uint8_t *rpl)
{
    static uint8_t pl[MAX_RESP], wire[MAX_RESP + 64];
    if (rq->opcode == CBR_OP_INFO && f->n_info < MAX_SEQS)
        f->info_seq[f->n_info++] = rq->seq;
    f->last_seq = rq->seq;
    for (int more = 1, rounds = 0; more && rounds < 8 && !f->unplugged; rounds++) {
        uint8_t d = take8(f);
        if (f->unplugged)
            return;
        more = d & 0x80;
        struct cbr_pkt rs = {.opcode = rq->opcode, .flags = CBR_PROTO_FLAG_RESPONSE,
                             .seq = rq->seq};
        good_payload(f, rq, rpl, pl, &rs.len, d & 0x40);
        switch (d & 0x0F) {
        case 0: case 1: case 2: case 3: case 4: /* good */
            break;
        case 5: /* an error status */
            rs.status = take8(f);
            rs.len = 0;
            break;
        case 6: /* silence */
            continue;
        case 7: /* a stale or future sequence number */
            rs.seq = rq->seq + (uint32_t)(int8_t)take8(f);
            break;
        case 8: { /* one bit flipped anywhere */
            size_t n = cbr_pkt_encode(&rs, pl, wire);
            uint32_t at = take32(f) % (uint32_t)(8 * n);
            wire[at / 8] ^= (uint8_t)(1u << (at % 8));
            queue(f, wire, n);
            continue;
        }
        case 9: { /* raw bytes from the input */
            size_t n = take8(f);
            n = n < f->left ? n : f->left;
            queue(f, f->in, n);
            f->in += n;
            f->left -= n;
            continue;
        }
        case 10: { /* truncated */
            size_t n = cbr_pkt_encode(&rs, pl, wire);
            queue(f, wire, take32(f) % n);
            continue;
        }
        case 11: /* another opcode */
            rs.opcode = take8(f);
            break;
        case 12: /* flags: not a response, or extra bits */
            rs.flags = take8(f);
            break;
        case 13: /* a payload length the request did not ask for */
            rs.len = take32(f) % 300;
            memset(pl, 0xA5, rs.len);
            break;
        case 14: /* a response to the previous request's sequence number */
            rs.seq = f->last_seq - 1;
            break;
        default: /* a header with a version other than 1 */
        {
            size_t n = cbr_pkt_encode(&rs, pl, wire);
            wire[4] = take8(f);
            uint32_t hc = cbr_crc32(0, wire, 28);
            put32(wire + 28, hc);
            uint32_t c = cbr_crc32(0, wire, n - 4);
            put32(wire + n - 4, c);
            queue(f, wire, n);
            continue;
        }
        }
        size_t n = cbr_pkt_encode(&rs, pl, wire);
        queue(f, wire, n);
    }
}

static int fake_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                     char *err, size_t errlen)
{
    struct fake *f = t->priv;
    (void)timeout_ms;
    if (f->unplugged) {
        snprintf(err, errlen, "fake: unplugged");
        return CBR_ENODEV;
    }
    const uint8_t *b = buf;
    while (n) {
        size_t took = cbr_reader_feed(&f->req, b, n);
        b += took;
        n -= took;
        for (;;) {
            struct cbr_pkt rq;
            const uint8_t *rpl;
            enum cbr_read_result r = cbr_reader_next(&f->req, &rq, &rpl);
            if (r == CBR_READ_NEED_MORE)
                break;
            /* The client's encoder is trusted: it must send only good requests. */
            if (r != CBR_READ_PACKET || (rq.flags & CBR_PROTO_FLAG_RESPONSE))
                abort();
            answer(f, &rq, rpl);
        }
        if (took == 0 && n)
            abort(); /* a request longer than the protocol allows */
    }
    return 0;
}

static int fake_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got,
                     int timeout_ms, char *err, size_t errlen)
{
    struct fake *f = t->priv;
    (void)timeout_ms;
    *got = 0;
    if (f->out_pos == f->out_len) {
        if (f->unplugged) {
            snprintf(err, errlen, "fake: unplugged");
            return CBR_ENODEV;
        }
        return 0; /* nothing to say: the client's timeout runs */
    }
    size_t n = f->out_len - f->out_pos;
    size_t chunk = 1 + (size_t)take8(f) * 16; /* may unplug; what is queued still arrives */
    if (n > chunk)
        n = chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, f->out + f->out_pos, n);
    f->out_pos += n;
    *got = n;
    return 0;
}

static void fake_close(struct cbr_transport *t)
{
    (void)t; /* the fuzzer owns the fake: it checks it after the device is closed */
}

static const struct cbr_transport_ops fake_ops = {
    .name = "fuzz",
    .send = fake_send,
    .recv = fake_recv,
    .close = fake_close,
};

/* Is there a well-formed INFO response with one of the INFO requests' seqs in the bytes sent,
 * whose fields the device took? Scans every offset, independently of the host's reader. */
static bool info_was_sent(const struct fake *f, const cbr_device_info *in)
{
    for (size_t i = 0; i + CBR_PROTO_HDR + CBR_PROTO_TRAILER <= f->sent_len; i++) {
        const uint8_t *h = f->sent + i;
        if (get32(h) != CBR_PROTO_MAGIC || cbr_crc32(0, h, 28) != get32(h + 28))
            continue;
        uint32_t len = get32(h + 24), seq = get32(h + 8);
        size_t wire = cbr_pkt_wire_size(len);
        if (len > MAX_RESP || h[4] != 1 || h[5] != CBR_OP_INFO || !(h[6] & 1) || h[7] != 0 ||
            len < 64 || i + wire > f->sent_len ||
            cbr_crc32(0, h, wire - 4) != get32(h + wire - 4))
            continue;
        bool ours = false;
        for (size_t k = 0; k < f->n_info; k++)
            ours |= f->info_seq[k] == seq;
        const uint8_t *w = h + CBR_PROTO_HDR;
        if (ours && in->proto_version == get32(w) && in->rows == get32(w + 4) &&
            in->cols == get32(w + 8) && in->act_buf_bytes == get32(w + 12) &&
            in->wgt_buf_bytes == get32(w + 16) && in->out_buf_bytes == get32(w + 20) &&
            in->param_entries == get32(w + 24))
            return true;
    }
    return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("CBR_TIMEOUT_MS", "2", 1); /* silence costs 2 ms, not the default 5 s */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake f = {.in = data, .left = size};
    if (cbr_reader_init(&f.req, MAX_REQ_PAYLOAD) < 0)
        return 0;
    struct cbr_transport tr = {.ops = &fake_ops, .priv = &f};
    cbr_device *dev;
    int rc = cbr_device_open_transport(&dev, &tr, "fuzz");
    if (rc == 0) {
        cbr_device_info in;
        if (cbr_device_get_info(dev, &in) < 0 || !info_was_sent(&f, &in)) {
            fprintf(stderr, "fuzz_resp: the device took an INFO block nobody sent: "
                    "%ux%u, buffers %u/%u/%u\n", in.rows, in.cols, in.act_buf_bytes,
                    in.wgt_buf_bytes, in.out_buf_bytes);
            abort();
        }
        /* A 3x3 conv, 2 -> 3 channels on 5x5 with pad 1 and max pooling: every command. */
        static const int8_t w[3 * 2 * 3 * 3] = {1, -2, 3, -4, 5, -6, 7, -8, 9, 1, 2, 3};
        static const int32_t m[3] = {1 << 30, 1 << 30, 1 << 30}, s[3] = {1, 0, -1};
        static const int8_t x[2 * 5 * 5] = {1, 2, 3, -4, 5, 6, -7, 8};
        int8_t y[3 * 2 * 2];
        cbr_layer_desc d = {.in_c = 2, .in_h = 5, .in_w = 5, .out_c = 3, .kh = 3, .kw = 3,
                            .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
                            .act = CBR_ACT_RELU,
                            .pool = {.kind = CBR_POOL_MAX, .kh = 2, .kw = 2},
                            .weights = w, .multiplier = m, .shift = s};
        cbr_layer *l;
        if (cbr_layer_create(dev, &d, &l) == 0) {
            cbr_stats st;
            rc = cbr_layer_run(l, 1, x, y, &st);
            if (rc < 0 && !*cbr_errmsg(dev))
                abort(); /* every failure says why */
            cbr_layer_destroy(l);
        }
        cbr_device_close(dev);
    } else if (!*cbr_errmsg(NULL)) {
        abort();
    }
    cbr_reader_free(&f.req);
    free(f.out);
    free(f.sent);
    return 0;
}
