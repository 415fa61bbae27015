/*
 * accel.c - the board backend: drives the cbr RTL over any transport (sim, usb, pcie) with
 * the packet protocol of docs/protocol.md, and lays layers out in the device's buffers as
 * docs/registers.md says.
 *
 * Layers: layer_prepare plans the tiles (plan.c, docs/tiling.md) for the buffers the device
 * reports in INFO and packs each weight set into the device layout once. A run walks the
 * plan pipelined: while the core computes tile k, the host reads tile k-1's output, writes
 * tile k+1's input window and weights into the buffer halves tile k does not read, writes
 * its registers and queues its start, which the core takes the cycle tile k finishes.
 * Grouped convolutions run one group at a time on the dense array.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "golden.h"
#include "plan.h"
#include "proto.h"
#include "transport.h"

#define LINK_LATENCY_MAX_US 100000 /* CBR_LINK_LATENCY_US: 0.1 s each way at most */
#define REQ_TIMEOUT_MS 5000   /* a command's response, unless $CBR_TIMEOUT_MS says otherwise */
#define RUN_TIMEOUT_MS 600000 /* one tile on the simulator can take long: the last resort,
                                 where the transport cannot count device cycles */
#define HANG_SLACK 16384      /* device cycles past a tile's bound (and the host's buffer
                                 traffic, hang_margin) before the core is taken as hung */
#define RETRIES 3
#define READ_EARLY_SLACK 2048 /* cycles: an output read goes before the next start only if it
                                 is back this long before the running tile ends, about */
#define WRITE_AHEAD_MARGIN 8192 /* cycles: the last write's commit, the poll, the output read and
                                  the next tile's registers and RUN */
#define WRITE_AHEAD_MARGIN_DUPLEX 2048 /* the same where the output read drains while the
                                  writes run (INFO word 14): it no longer holds up the link */
#define WRITE_PACKET 4096       /* payload bytes per buffer write: the device commits a packet
                                  after it has all of it, and RUN waits for the last one */

enum {
    REG_CTRL = 0x00, REG_IN_H = 0x10, REG_IN_W = 0x14, REG_N_CB = 0x18, REG_N_OB = 0x1C,
    REG_KH = 0x20, REG_KW = 0x24, REG_STRIDE = 0x28, REG_DILATION = 0x2C, REG_PAD = 0x30,
    REG_OUT_H = 0x34, REG_OUT_W = 0x38, REG_X_ZP = 0x3C, REG_Y_ZP = 0x40, REG_ACT_RANGE = 0x44,
    REG_MODE = 0x48, REG_POOL_K = 0x4C, REG_POOL_S = 0x50, REG_POOL_PAD = 0x54,
    REG_POOL_OUT = 0x58, REG_ACT_BASE = 0x5C, REG_WGT_BASE = 0x60, REG_OUT_BASE = 0x64,
    REG_PARAM_BASE = 0x68, REG_IN_C = 0x6C, REG_OUT_C = 0x70, REG_RUNS = 0x74,
    REG_ACT_CB_PITCH = 0x78, REG_DONES = 0x7C, REG_COUNTERS = 0x80, REG_TOTALS = 0xC0,
};
enum { BUF_ACT = 0, BUF_WGT = 1, BUF_PARAM = 2, BUF_OUT = 3 };
enum { CTRL_START = 1, CTRL_DONE = 2, CTRL_IDLE = 4 };
#define PARAM_BYTES 32 /* per output channel */
#define STACK_WASTE 64 /* beats an image may add by image stacking ($CBR_STACK_WASTE) */
#define N_COUNTERS 5   /* cycles, busy, macs, stall_in, stall_out: 64 bits each */

#define WINDOW 16 /* posted requests in flight */

/* An output read not yet posted whole (read_paced): its chunks go between the writes that
 * follow it, as the device's response queue drains. */
struct paced {
    uint32_t id, off, n, done; /* the read; bytes posted so far */
    uint8_t *dst;
    uint64_t wrote;            /* request bytes posted behind it */
    double ratio;              /* device -> host bytes a byte host -> device */
};

/* A request posted and not yet answered (see "the protocol client"). */
struct posted {
    uint8_t op;
    uint32_t arg0, arg1, arg2, len;
    uint32_t seq;            /* of its latest sending */
    int tries;               /* times it was sent again */
    uint8_t *data;           /* its payload (max_payload bytes of room) */
    uint8_t *dst;            /* a BUF_READ's destination */
    uint32_t runs_before;    /* a checked RUN: the core's RUNS before it (start_core) */
};

struct accel {
    struct cbr_transport *tr;
    struct cbr_reader rd;
    uint32_t seq;
    uint32_t max_payload;
    uint32_t acc_pixels;
    uint32_t copy_bytes;     /* INFO word 15: BUF_COPY's word (0: the device has none) */
    bool duplex;             /* INFO word 14: the device queues a whole BUF_READ answer, so
                                the requests behind it run while it drains */
    uint32_t txq;            /* INFO word 14 in bytes: the answers the device queues */
    bool run_check;          /* CBR_FEAT_RUN_CHECK: RUN is posted, checked (start_core) */
    uint32_t runs;           /* RUNs the device ran since the RESET, as it counts them: a
                                checked RUN's arg0 */
    uint32_t run_posted;     /* checked RUNs posted and not answered (0 or 1) */
    bool run_refused;        /* one was answered REFUSED: run_again before anything else */
    uint32_t refused_count, refused_before; /* its arg0 and the core's RUNS before it */
    struct paced rp;         /* an output read paced with the writes behind it */
    int timeout_ms;          /* for one command's response */
    uint8_t *wire;           /* one encoded request */
    uint8_t *rx;             /* receive chunk */
    struct posted win[WINDOW];
    uint32_t win_head, win_n;
    uint64_t resent;         /* posted requests sent again */
    uint64_t sent;           /* bytes handed to the transport */
    uint64_t owed;           /* bytes of the answers to what was sent (all of them, since the
                                last flush that found the window empty: then what the device
                                had sent) */
    bool resend;             /* a posted request did not go out: send the window again */
    uint32_t max_in_flight;  /* posted request bytes the link may hold at once (0: any) */
    double link_rate;        /* bytes to the device a device cycle, for estimates (want_fold,
                                the planner's first tiles): the simulator's, a serial
                                line's at INFO's clock, else 2 */
    double link_latency;     /* device cycles a crossing takes each way, for the planner: the
                                simulator's (CBR_SIM_LATENCY); 0 where the transport cannot
                                tell */
    char scratch[CBR_ERRMSG_MAX];
};

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

/* ---- the protocol client ------------------------------------------------------------- */

/*
 * Requests are pipelined: idempotent ones (buffer and register writes, buffer reads) are
 * posted into a window of up to WINDOW packets and sent at once, without waiting for their
 * answers, so that the link carries the next request while the device commits the last one
 * and output reads stream back while input writes go out. The device executes and answers
 * in order. The oldest posted request is completed when its answer comes; an answer to a
 * later one, a timeout, or BAD_CRC means the oldest was lost or garbled on the way, and the
 * whole window is sent again from it, in order, with new sequence numbers (go-back-N: every
 * request in it is idempotent, and replaying them in order leaves the buffers as the first
 * pass would have). Answers to the old numbers are dropped as stale. Anything that needs an
 * answer before going on (a register read, RUN) first completes the window.
 */

/* Next valid response from the link, or CBR_ETIMEDOUT after timeout_ms, or a transport
 * error. Packets that are not responses are skipped. */
static int next_response(struct accel *a, double deadline, struct cbr_pkt *resp,
                         const uint8_t **payload, char *err, size_t len)
{
    for (;;) {
        enum cbr_read_result r = cbr_reader_next(&a->rd, resp, payload);
        if (r == CBR_READ_PACKET && (resp->flags & CBR_PROTO_FLAG_RESPONSE))
            return 0;
        if (r != CBR_READ_NEED_MORE)
            continue; /* a bad packet: skip it */
        double left = deadline - cbr_now_ms();
        if (left <= 0)
            return CBR_ETIMEDOUT;
        size_t got;
        int rc = a->tr->ops->recv(a->tr, a->rx, a->rd.cap, &got, (int)left + 1, err, len);
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

/*
 * Wait for the response to request seq. Responses to other sequence numbers (late answers
 * to abandoned requests, duplicates) are dropped. Returns 0 with *resp and *payload set
 * (payload valid until the next call), CBR_ETIMEDOUT, or a transport error.
 */
static int await(struct accel *a, uint8_t op, uint32_t seq, int timeout_ms,
                 struct cbr_pkt *resp, const uint8_t **payload, char *err, size_t len)
{
    double deadline = cbr_now_ms() + timeout_ms;
    for (;;) {
        int rc = next_response(a, deadline, resp, payload, err, len);
        if (rc == CBR_ETIMEDOUT)
            return cbr_errf(err, len, CBR_ETIMEDOUT, "no response to %s (seq %u) within %d ms",
                        cbr_op_name(op), seq, timeout_ms);
        if (rc < 0)
            return rc;
        if (resp->seq == seq)
            return 0;
    }
}

/* A response that came to request op (seq): 0 if it is a good one. */
static int check_response(const struct cbr_pkt *resp, uint8_t op, uint32_t seq, char *err,
                          size_t len)
{
    if (resp->opcode != op)
        return cbr_errf(err, len, CBR_EPROTO, "response to %s %u carries opcode %s",
                    cbr_op_name(op), seq, cbr_op_name(resp->opcode));
    if (resp->status != CBR_ST_OK)
        return cbr_errf(err, len, resp->status == CBR_ST_BAD_CRC ? CBR_EBADMSG : CBR_EDEVICE,
                    "%s (seq %u) answered %s", cbr_op_name(op), seq,
                    cbr_status_name(resp->status));
    return 0;
}

/* Bytes of the answer a request gets on the wire (of the payloads, a BUF_READ's and a
 * REG_READ's; others carry none the driver waits on). */
static size_t answer_size(uint8_t op, uint32_t arg1, uint32_t arg2)
{
    return cbr_pkt_wire_size(op == CBR_OP_BUF_READ ? arg2 : op == CBR_OP_REG_READ ? 4 * arg1 : 0);
}

/* Send one request; returns 0 with its response, or an error. No retry here. */
static int request_once(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1,
                        uint32_t arg2, const void *payload, uint32_t plen, int timeout_ms,
                        struct cbr_pkt *resp, const uint8_t **rpayload, char *err, size_t len)
{
    struct cbr_pkt p = {.opcode = op, .seq = ++a->seq, .arg0 = arg0, .arg1 = arg1,
                        .arg2 = arg2, .len = plen};
    size_t n = cbr_pkt_encode(&p, payload, a->wire);
    a->sent += n;
    a->owed += answer_size(op, arg1, arg2);
    int rc = a->tr->ops->send(a->tr, a->wire, n, timeout_ms, err, len);
    if (rc < 0)
        return rc;
    rc = await(a, op, p.seq, timeout_ms, resp, rpayload, err, len);
    if (rc < 0)
        return rc;
    return check_response(resp, op, p.seq, err, len);
}

/* (Re)send posted request i of the window with a fresh sequence number. */
static int send_posted(struct accel *a, struct posted *q, char *err, size_t len)
{
    struct cbr_pkt p = {.opcode = q->op, .seq = ++a->seq, .arg0 = q->arg0, .arg1 = q->arg1,
                        .arg2 = q->arg2, .len = q->len};
    q->seq = p.seq;
    size_t n = cbr_pkt_encode(&p, q->data, a->wire);
    a->sent += n;
    a->owed += answer_size(q->op, q->arg1, q->arg2);
    return a->tr->ops->send(a->tr, a->wire, n, a->timeout_ms, err, len);
}

static struct posted *oldest(struct accel *a)
{
    return &a->win[a->win_head];
}

/* Drop the window (after an error the caller resets the board). */
static void forget_window(struct accel *a)
{
    a->rp.n = a->rp.done = 0;
    a->win_head = a->win_n = 0;
    a->resend = false;
    a->run_posted = 0;
    a->run_refused = false;
}

/* A posted request the transport could not send (a stalled endpoint, cleared; a timeout)
 * is lost like one dropped on the way: note it, and the window goes again from the oldest.
 * Other errors (the device is gone) end the layer. */
static bool posted_lost(struct accel *a, int rc, const char *err)
{
    if (rc != CBR_EIO && rc != CBR_ETIMEDOUT)
        return false;
    snprintf(a->scratch, sizeof a->scratch, "%s", err);
    a->resend = true;
    return true;
}

/* Complete the oldest posted request: wait for its answer, going back and sending the window
 * again from it when it was lost or garbled. */
static int complete_oldest(struct accel *a, char *err, size_t len)
{
    for (;;) {
        struct posted *q = oldest(a);
        struct cbr_pkt resp;
        const uint8_t *pl;
        int rc = a->resend ? cbr_errf(err, len, CBR_EIO, "%s", a->scratch)
                           : next_response(a, cbr_now_ms() + a->timeout_ms, &resp, &pl, err, len);
        a->resend = false;
        bool lost = rc == CBR_ETIMEDOUT || rc == CBR_EIO;
        if (rc < 0 && !lost) {
            forget_window(a);
            return rc;
        }
        if (rc == 0 && resp.seq != q->seq) {
            /* An answer to a later posted request means the oldest's is not coming. */
            for (uint32_t i = 1; i < a->win_n && !lost; i++)
                lost = a->win[(a->win_head + i) % WINDOW].seq == resp.seq;
            if (!lost)
                continue; /* stale: an answer to a request sent again since */
        }
        /* A checked RUN refused: a request before it was lost, or it ran before and this is
         * a replay. What it did is found out and put right (run_again) before anything else
         * is sent that it could miss, while the registers still hold its tile's arguments. */
        bool refused = rc == 0 && !lost && q->op == CBR_OP_RUN &&
                       resp.status == CBR_ST_REFUSED;
        if (refused)
            resp.status = CBR_ST_OK;
        if (rc == 0 && !lost) {
            rc = check_response(&resp, q->op, q->seq, err, len);
            if (rc == 0 && q->op == CBR_OP_BUF_READ && resp.len != q->arg2)
                rc = cbr_errf(err, len, CBR_EPROTO, "BUF_READ of %u bytes returned %u", q->arg2,
                          resp.len);
            if (rc == CBR_EBADMSG) {
                lost = true; /* the device got it garbled and did nothing: send it again */
            } else if (rc < 0) {
                forget_window(a);
                return rc;
            } else {
                if (q->dst)
                    memcpy(q->dst, pl, resp.len);
                if (q->op == CBR_OP_RUN)
                    a->run_posted--;
                if (refused) {
                    a->run_refused = true;
                    a->refused_count = q->arg0;
                    a->refused_before = q->runs_before;
                }
                a->win_head = (a->win_head + 1) % WINDOW;
                a->win_n--;
                return 0;
            }
        }
        /* Go back: the window again from the oldest, in order. */
        if (++q->tries > RETRIES) {
            char why[CBR_ERRMSG_MAX];
            if (rc == CBR_ETIMEDOUT)
                snprintf(why, sizeof why, "no response within %d ms", a->timeout_ms);
            else if (rc == 0 && resp.seq != q->seq)
                snprintf(why, sizeof why, "its response was lost");
            else
                snprintf(why, sizeof why, "%s", err);
            forget_window(a);
            return cbr_errf(err, len, rc == CBR_ETIMEDOUT ? CBR_ETIMEDOUT : CBR_EIO,
                        "%s at offset %u failed %d times: %s", cbr_op_name(q->op), q->arg1,
                        RETRIES + 1, why);
        }
        a->resent += a->win_n;
        for (uint32_t i = 0; i < a->win_n && !a->resend; i++) {
            int src = send_posted(a, &a->win[(a->win_head + i) % WINDOW], err, len);
            if (src < 0 && !posted_lost(a, src, err)) {
                forget_window(a);
                return src;
            }
        }
    }
}

static int pace_reads(struct accel *a, bool all, char *err, size_t len);
static int run_again(struct accel *a, char *err, size_t len);

/* Complete every posted request (and put right a checked RUN refused among them). */
static int flush(struct accel *a, char *err, size_t len)
{
    int rc = pace_reads(a, true, err, len); /* a paced read goes whole first */
    while (rc == 0 && a->win_n)
        rc = complete_oldest(a, err, len);
    if (rc == 0 && a->tr->ops->stats) {
        /* every answer is in: count from here (answers lost or sent twice do not add up) */
        struct cbr_link_stats st;
        a->tr->ops->stats(a->tr, &st);
        a->owed = st.bytes_in;
    }
    if (rc == 0 && a->run_refused)
        rc = run_again(a, err, len);
    return rc;
}

/* Complete the posted checked RUN, if any, and put it right if it was refused: before a
 * register write (the next tile's arguments) or another RUN goes out. */
static int settle_run(struct accel *a, char *err, size_t len)
{
    int rc = 0;
    while (rc == 0 && a->run_posted)
        rc = complete_oldest(a, err, len);
    if (rc == 0 && a->run_refused)
        rc = run_again(a, err, len);
    return rc;
}

/* Would posting plen more payload bytes exceed what a link without flow control (a UART
 * into a 2 KiB FIFO) can hold unanswered? One request alone always goes: the device is then
 * idle and takes it as it comes. */
static bool over_budget(const struct accel *a, uint32_t plen)
{
    if (!a->max_in_flight || !a->win_n)
        return false;
    size_t bytes = cbr_pkt_wire_size(plen);
    for (uint32_t i = 0; i < a->win_n; i++)
        bytes += cbr_pkt_wire_size(a->win[(a->win_head + i) % WINDOW].len);
    return bytes > a->max_in_flight;
}

static int post_now(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1, uint32_t arg2,
                    const void *payload, uint32_t plen, uint8_t *dst, char *err, size_t len);

/* Post an idempotent request (payload copied; a BUF_READ's answer goes to dst when it
 * comes), after what it may of a paced read (all of it, unless the request is a buffer
 * write). Completes the oldest first when the window is full. */
static int post(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1, uint32_t arg2,
                const void *payload, uint32_t plen, uint8_t *dst, char *err, size_t len)
{
    int rc = op == CBR_OP_REG_WRITE || op == CBR_OP_RUN ? settle_run(a, err, len) : 0;
    if (rc == 0)
        rc = pace_reads(a, op != CBR_OP_BUF_WRITE, err, len);
    if (rc == 0)
        rc = post_now(a, op, arg0, arg1, arg2, payload, plen, dst, err, len);
    if (rc == 0 && op == CBR_OP_BUF_WRITE && a->rp.done < a->rp.n)
        a->rp.wrote += cbr_pkt_wire_size(plen);
    return rc;
}

#define PACE_MARGIN 1024 /* bytes of the device's response queue left for the writes' answers */

/* Post the paced read's next chunks: all of them, or as many as find room in the device's
 * response queue when the device reaches them, about: what was read so far less what the
 * link to the host carried while the writes posted behind it came in. Chunks of half the
 * queue: the device reads a chunk out while it commits the writes behind it (docs/cmd.md,
 * "Reads beside writes"), so fewer, larger chunks cost no write a wait (MobileNetV1 on
 * sim:16x16: 6.058 M cycles, against 6.069 M with quarters). */
static int pace_reads(struct accel *a, bool all, char *err, size_t len)
{
    struct paced *p = &a->rp;
    const uint32_t most = a->txq / 2 < a->max_payload ? a->txq / 2 : a->max_payload;
    while (p->done < p->n) {
        uint32_t chunk = p->n - p->done < most ? p->n - p->done : most;
        double drained = (double)p->wrote * p->ratio;
        double backlog = p->done > drained ? p->done - drained : 0;
        if (!all && backlog + chunk + PACE_MARGIN > a->txq)
            return 0;
        int rc = post_now(a, CBR_OP_BUF_READ, p->id, p->off + p->done, chunk, NULL, 0,
                          p->dst + p->done, err, len);
        if (rc < 0)
            return rc;
        p->done += chunk;
    }
    return 0;
}

/* post, without the paced read */
static int post_now(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1, uint32_t arg2,
                    const void *payload, uint32_t plen, uint8_t *dst, char *err, size_t len)
{
    while (a->win_n == WINDOW || over_budget(a, plen)) {
        int rc = complete_oldest(a, err, len);
        if (rc < 0)
            return rc;
    }
    struct posted *q = &a->win[(a->win_head + a->win_n) % WINDOW];
    *q = (struct posted){.op = op, .arg0 = arg0, .arg1 = arg1, .arg2 = arg2, .len = plen,
                         .data = q->data, .dst = dst};
    if (plen)
        memcpy(q->data, payload, plen);
    a->win_n++;
    if (a->resend)
        return 0; /* it goes with the window, when that is sent again */
    int rc = send_posted(a, q, err, len);
    if (rc < 0 && !posted_lost(a, rc, err)) {
        forget_window(a);
        return rc;
    }
    return 0;
}

/* Put the board in a known state: RESET (aborts a running tile), then drop what is buffered.
 * Used at open and after a failed layer; retries do not reset, or a lost status poll would
 * abort the tile it polls. */
static void reset_board(struct accel *a)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    char ignore[CBR_ERRMSG_MAX];
    forget_window(a);
    cbr_reader_reset(&a->rd);
    request_once(a, CBR_OP_RESET, 0, 0, 0, NULL, 0, a->timeout_ms, &resp, &pl, ignore,
                 sizeof ignore);
    a->runs = 0; /* the device's count of RUNs (a lost RESET: the next plain RUN sets it) */
}

/*
 * A request that needs its answer now, with the error model of docs/protocol.md: posted
 * requests are completed first; an idempotent command whose response was lost or garbled,
 * or which the board received garbled (BAD_CRC), is sent again with a new sequence number
 * (stale answers to the old one are dropped by sequence); device errors (a bad address, say)
 * and non-idempotent commands are not retried.
 */
static int request(struct accel *a, uint8_t op, uint32_t arg0, uint32_t arg1, uint32_t arg2,
                   const void *payload, uint32_t plen, struct cbr_pkt *resp,
                   const uint8_t **rpayload, char *err, size_t len)
{
    int rc = flush(a, err, len);
    for (int attempt = 0; rc == 0 && attempt <= RETRIES; attempt++) {
        rc = request_once(a, op, arg0, arg1, arg2, payload, plen, a->timeout_ms, resp,
                          rpayload, err, len);
        bool transient = rc == CBR_ETIMEDOUT || rc == CBR_EBADMSG || rc == CBR_EIO;
        if (rc == 0 || !transient || !cbr_op_idempotent(op))
            break;
        if (attempt < RETRIES)
            rc = 0;
    }
    return rc;
}

static int reg_write(struct accel *a, uint32_t addr, const uint32_t *v, uint32_t n, char *err,
                     size_t len)
{
    uint8_t buf[64 * 4];
    for (uint32_t i = 0; i < n; i++)
        put32(buf + 4 * i, v[i]);
    return post(a, CBR_OP_REG_WRITE, addr, 0, 0, buf, 4 * n, NULL, err, len);
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
        return cbr_errf(err, len, CBR_EPROTO, "REG_READ of %u words returned %u bytes", n,
                    resp.len);
    for (uint32_t i = 0; i < n; i++)
        v[i] = get32(pl + 4 * i);
    return 0;
}

/* Payload bytes per buffer write. Not the largest packet the device takes: the device
 * commits a write once all of it is in, so the RUN after it (which waits for every write's
 * answer, or a lost one would go unnoticed) waits for the commit of the last one; a 16 KiB
 * packet takes 4096 cycles to commit on a 32-bit buffer port, a 4 KiB one 1024. The header
 * costs 36 bytes each way per packet, under 1 % of 4 KiB. A posted RUN (CBR_FEAT_RUN_CHECK)
 * waits for nothing, but the answers behind a long packet still come later, and 4 KiB is
 * still the best measured (MobileNetV1 conv3.pw on sim:16x16: 289.8 k cycles, 292.0 k with
 * 8 KiB, 341.2 k with 16 KiB). */
static uint32_t write_packet(const struct accel *a)
{
    return a->max_payload < WRITE_PACKET ? a->max_payload : WRITE_PACKET;
}

static int buf_write(struct accel *a, uint32_t id, uint32_t off, const uint8_t *data,
                     size_t n, char *err, size_t len)
{
    const uint32_t maxp = write_packet(a);
    for (size_t done = 0; done < n;) {
        uint32_t chunk = n - done < maxp ? (uint32_t)(n - done) : maxp;
        int rc = post(a, CBR_OP_BUF_WRITE, id, off + (uint32_t)done, 0, data + done, chunk,
                      NULL, err, len);
        if (rc < 0)
            return rc;
        done += chunk;
    }
    return 0;
}

/* Scatter write (protocol.md): payload byte k to off + (k / chunk) * pitch + k % chunk,
 * split at chunk boundaries into packets of at most max_payload bytes. */
static int buf_scatter(struct accel *a, uint32_t id, uint32_t off, const uint8_t *data,
                       size_t n, uint32_t chunk, uint32_t pitch, char *err, size_t len)
{
    size_t per = (write_packet(a) / chunk) * chunk;
    if (!per)
        per = chunk; /* one chunk a packet (it fits max_payload: the callers see to it) */
    for (size_t done = 0; done < n;) {
        uint32_t part = n - done < per ? (uint32_t)(n - done) : (uint32_t)per;
        uint32_t at = off + (uint32_t)(done / chunk) * pitch;
        int rc = post(a, CBR_OP_BUF_WRITE, id, at, CBR_BUF_SCATTER(chunk, pitch),
                      data + done, part, NULL, err, len);
        if (rc < 0)
            return rc;
        done += part;
    }
    return 0;
}

/* Post the reads of n bytes into data; they are there once the window is flushed. */
static int buf_read(struct accel *a, uint32_t id, uint32_t off, uint8_t *data, size_t n,
                    char *err, size_t len)
{
    for (size_t done = 0; done < n;) {
        uint32_t chunk = n - done < a->max_payload ? (uint32_t)(n - done) : a->max_payload;
        int rc = post(a, CBR_OP_BUF_READ, id, off + (uint32_t)done, chunk, NULL, 0,
                      data + done, err, len);
        if (rc < 0)
            return rc;
        done += chunk;
    }
    return 0;
}

/* Read n bytes into data as buf_read does, but post them only as far as the device's response
 * queue holds them when it reaches them: the rest goes between the writes posted next, so
 * that the device never waits for the link to the host with the writes behind the read
 * (INFO word 14, docs/cmd.md) and both directions of the link stay busy. Without such a
 * queue, buf_read. */
static int read_paced(struct accel *a, uint32_t id, uint32_t off, uint8_t *data, size_t n,
                      char *err, size_t len)
{
    int rc = pace_reads(a, true, err, len);
    if (rc < 0 || !a->duplex || a->txq < 4 * PACE_MARGIN)
        return rc < 0 ? rc : buf_read(a, id, off, data, n, err, len);
    struct cbr_link_stats st = {0};
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &st);
    a->rp = (struct paced){.id = id, .off = off, .n = (uint32_t)n, .dst = data,
                           .ratio = st.h2d_bytes_per_cycle > 0 && st.d2h_bytes_per_cycle > 0
                                    ? st.d2h_bytes_per_cycle / st.h2d_bytes_per_cycle : 1};
    return pace_reads(a, false, err, len);
}

/* Post a device-side copy of n bytes (a multiple of copy_bytes) from buffer src at soff to
 * buffer dst at doff (protocol.md, BUF_COPY): nothing crosses the link but the request. */
static int buf_copy(struct accel *a, uint32_t src, uint32_t soff, uint32_t dst, uint32_t doff,
                    uint32_t n, char *err, size_t len)
{
    const uint32_t most = 0xFFFFFFu; /* words an arg0 holds */
    for (uint32_t done = 0; n - done >= a->copy_bytes;) {
        uint32_t words = (n - done) / a->copy_bytes < most ? (n - done) / a->copy_bytes : most;
        int rc = post(a, CBR_OP_BUF_COPY, src | dst << 2 | words << 8, soff + done, doff + done,
                      NULL, 0, NULL, err, len);
        if (rc < 0)
            return rc;
        done += words * a->copy_bytes;
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
    for (int i = 0; i < WINDOW; i++)
        free(a->win[i].data);
    free(a->rx);
    free(a);
}

/* CBR_LINK_LATENCY_US: the latency each way, in microseconds, that the planner assumes for
 * the link instead of what the transport reports (the simulator's CBR_SIM_LATENCY; 0 where
 * the transport cannot tell: USB, PCIe, serial). Board owners set it to about half of their
 * link's round trip, so that the planner takes tiles long enough for the driver's waits
 * (docs/tiling.md, item 2). */
static int link_latency_env(struct accel *a, uint32_t clock_khz, char *err, size_t len)
{
    const char *env = getenv("CBR_LINK_LATENCY_US");
    if (!env || !*env)
        return 0;
    char *end;
    errno = 0;
    double us = strtod(env, &end);
    if (*end || errno || end == env || !(us >= 0 && us <= LINK_LATENCY_MAX_US))
        return cbr_errf(err, len, CBR_EINVAL, "CBR_LINK_LATENCY_US='%s' is not a latency in "
                        "microseconds (0 to %d)", env, LINK_LATENCY_MAX_US);
    if (us > 0 && !clock_khz)
        return cbr_errf(err, len, CBR_EINVAL, "CBR_LINK_LATENCY_US='%s': the device reports "
                        "no clock (INFO word 12), so microseconds cannot be turned into cycles",
                        env);
    a->link_latency = us * clock_khz / 1e3;
    return 0;
}

/* A link without flow control (a UART) caps the bytes in flight and the packet size; a slow
 * one stretches the timeout: the oldest answer may wait behind a window of full-size answers,
 * so no timeout is shorter than twice the time those take on the line. Also the link's rate
 * in bytes a device cycle, for the planner's estimates. */
static int link_limits(struct accel *a, uint32_t clock_khz, char *err, size_t len)
{
    struct cbr_link_stats ls = {0};
    a->link_rate = 2.0; /* USB 3 (FX3) at 200 MHz, where the transport cannot tell */
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &ls);
    a->max_in_flight = ls.max_in_flight;
    /* Packets of at most half of it: two in flight keep the line busy, and a noisy line
     * loses less with each garbled one. Never below 256 bytes: a scatter write's chunk (up
     * to 255 channels) must fit one packet. */
    while (a->max_in_flight && a->max_payload >= 512 &&
           cbr_pkt_wire_size(a->max_payload) > a->max_in_flight / 2)
        a->max_payload = (a->max_payload / 2) & ~3u;
    double ms = ls.bytes_per_second > 0
                    ? 2e3 * WINDOW * cbr_pkt_wire_size(a->max_payload) / ls.bytes_per_second : 0;
    if (ms > a->timeout_ms)
        a->timeout_ms = ms < 600000 ? (int)ms : 600000;
    a->link_latency = ls.latency_cycles;
    if (ls.h2d_bytes_per_cycle > 0)
        a->link_rate = ls.h2d_bytes_per_cycle;
    else if (ls.bytes_per_second > 0 && clock_khz)
        a->link_rate = ls.bytes_per_second / (clock_khz * 1e3);
    return link_latency_env(a, clock_khz, err, len);
}

/* Until INFO says otherwise, accept responses up to this size. */
#define BOOT_PAYLOAD 65536

int cbr_board_open(cbr_device *dev, struct cbr_transport *tr, const char *uri, char *err,
                   size_t len)
{
    int timeout_ms = REQ_TIMEOUT_MS;
    const char *t = getenv("CBR_TIMEOUT_MS");
    if (t && *t) {
        char *end;
        errno = 0;
        long ms = strtol(t, &end, 10);
        if (*end || errno || end == t || ms < 1 || ms > RUN_TIMEOUT_MS) {
            tr->ops->close(tr);
            return cbr_errf(err, len, CBR_EINVAL, "CBR_TIMEOUT_MS='%s' is not a timeout in "
                            "milliseconds (1 to %d)", t, RUN_TIMEOUT_MS);
        }
        timeout_ms = (int)ms;
    }
    struct accel *a = calloc(1, sizeof *a);
    if (!a) {
        tr->ops->close(tr);
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    }
    dev->priv = a;
    a->tr = tr;
    a->max_payload = 64;
    a->timeout_ms = timeout_ms;
    a->wire = malloc(cbr_pkt_wire_size(BOOT_PAYLOAD));
    a->rx = malloc(cbr_pkt_wire_size(BOOT_PAYLOAD));
    bool ok = a->wire && a->rx;
    for (int i = 0; i < WINDOW; i++)
        ok = ok && (a->win[i].data = malloc(BOOT_PAYLOAD));
    if (!ok || cbr_reader_init(&a->rd, BOOT_PAYLOAD) < 0) {
        accel_close(dev);
        dev->priv = NULL;
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    }
    reset_board(a);
    struct cbr_pkt resp;
    const uint8_t *pl;
    int rc = request(a, CBR_OP_INFO, 0, 0, 0, NULL, 0, &resp, &pl, err, len);
    if (rc == 0 && resp.len < 64)
        rc = cbr_errf(err, len, CBR_EPROTO, "INFO returned %u bytes, expected 64", resp.len);
    if (rc < 0) {
        char why[CBR_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", err);
        cbr_errf(err, len, rc, "the board does not answer INFO: %s", why);
        goto out_close;
    }
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = get32(pl + 4 * i);
    if (w[0] != CBR_PROTO_VERSION) {
        rc = cbr_errf(err, len, CBR_ENOTSUP, "the board speaks protocol version %u; this libcbr "
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
    in->features = w[11];
    in->clock_khz = w[12];
    a->acc_pixels = w[13];
    a->duplex = w[14] >= a->max_payload / 4;
    a->txq = w[14] < UINT32_MAX / 4 ? w[14] * 4 : UINT32_MAX;
    a->copy_bytes = (in->features & CBR_FEAT_COPY) ? w[15] : 0;
    a->run_check = (in->features & CBR_FEAT_RUN_CHECK) != 0;
    if (!in->rows || !in->cols || a->max_payload < 64 || a->max_payload > BOOT_PAYLOAD ||
        !a->acc_pixels) {
        rc = cbr_errf(err, len, CBR_EPROTO, "INFO is implausible: array %ux%u, max payload %u, "
                  "accumulator %u pixels", in->rows, in->cols, w[7], a->acc_pixels);
        goto out_close;
    }
    rc = link_limits(a, in->clock_khz, err, len);
    if (rc < 0)
        goto out_close;
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
    if (*args && !(args[0] >= '0' && args[0] <= '9'))
        snprintf(uri, sizeof uri, "sim:%.59s", args); /* a named board: sim:ice */
    else
        snprintf(uri, sizeof uri, "sim:%ux%u", r, c);
    rc = cbr_board_open(dev, tr, uri, err, len);
    if (rc == 0)
        snprintf(dev->info.name, sizeof dev->info.name, "simulated board (Verilator)");
    return rc;
}

/* ---- layers -------------------------------------------------------------------------- */

/* A plan made for fewer bytes of activation buffer (fit_plan): plan NULL if none serves. */
struct fit_entry {
    struct fit_entry *next;
    struct cbr_plan *plan;
    uint32_t act;  /* the bytes it was made for */
    uint64_t macs; /* device_macs of plan */
};

/* A layer on a board: the tile plan and each group's weight sets in the device layout. */
struct board_layer {
    struct cbr_plan *plan;
    struct cbr_plan *plan_kept; /* the plan for when a chain keeps the input on the device
                                   (kept_plan): same weight sets, the same regions or one,
                                   tiles ordered for weights alone; NULL: the plan serves */
    bool kept_tried;         /* kept_plan ran */
    uint64_t kept_macs;      /* device_macs of plan_kept */
    struct fit_entry *fits;  /* the plans made by fit_plan, one per activation size asked */
    bool fold;               /* the plan is of `folded`, a rewrite of the layer: kernel
                                columns folded into channels, groups packed, or strides
                                skipped */
    bool kw_fold;            /* the input is rearranged too (fold_input) */
    bool skip_h, skip_w;     /* the input is subsampled (skip_input) */
    cbr_layer folded;
    int8_t *fold_w;
    uint32_t groups;
    struct cbr_caps caps;    /* what the plan was made for (CBR_PLAN_CAPS may shrink INFO's) */
    uint8_t **wgt;           /* [g * n_wsets + w]: packed weights */
    uint8_t **param;         /* likewise: packed parameters */
    uint64_t device_macs;    /* what the device counts for one job (tiles may overlap) */
    uint32_t stack_rows;     /* image stacking (below): rows of an image's slot, 0 if the
                                layer is not stacked */
    uint32_t stack_q;        /* output rows of a slot: stack_rows / (stride_h * pool stride) */
    uint32_t stack_k;        /* images a job of `stacked` holds */
    cbr_layer *stacked;      /* the stacked layer, made at the first batch that needs it */
};

static void free_board_layer(struct board_layer *bl);

/* Forget the stacked layer (image stacking, below). */
static void drop_stack(struct board_layer *bl)
{
    if (bl->stacked)
        free_board_layer(bl->stacked->priv);
    free(bl->stacked);
    bl->stacked = NULL;
}

static void free_board_layer(struct board_layer *bl)
{
    if (!bl)
        return;
    cbr_plan_free(bl->plan_kept);
    for (struct fit_entry *f = bl->fits, *next; f; f = next) {
        next = f->next;
        cbr_plan_free(f->plan);
        free(f);
    }
    size_t n = bl->plan ? (size_t)bl->groups * bl->plan->n_wsets : 0;
    for (size_t i = 0; bl->wgt && i < n; i++)
        free(bl->wgt[i]);
    for (size_t i = 0; bl->param && i < n; i++)
        free(bl->param[i]);
    free(bl->wgt);
    free(bl->param);
    free(bl->fold_w);
    cbr_plan_free(bl->plan);
    drop_stack(bl);
    free(bl);
}

/* The rewritten layer the plan is made of: l with the rewritten weights (bl->fold_w); the
 * caller changes the shape fields. */
static cbr_layer *derive(const cbr_layer *l, struct board_layer *bl)
{
    cbr_layer *f = &bl->folded;
    *f = *l;
    f->priv = NULL;
    f->weights = bl->fold_w;
    f->desc.weights = bl->fold_w;
    bl->fold = true;
    return f;
}

/*
 * Kernel-column folding for layers with few input channels (a 7x7 stem on 3 channels uses 3
 * of 16 array rows; a 3x3 on one channel, 1): the KW columns of the kernel become KW x C
 * input channels of a KH x 1 convolution over an input the host rearranges,
 *     x'[kx*C + c][iy][ox] = x[c][iy][ox*stride_w + kx*dilation_w - pad_left]
 * (the input zero point where that is padding), w'[o][kx*C + c][ky][0] = w[o][c][ky][kx].
 * Same sums, same outputs, fewer passes; but the input grows by KW / stride_w. So a layer is
 * folded when that at least halves its passes, and either its kernel is 5 wide or more (the
 * passes shrink by more than the input grows) or, for narrower kernels, the estimate
 * max(compute, link) of the folded layer is under three quarters of the plain one's: beats =
 * pixels x passes x output blocks, and each way of the link its bytes (input and weights,
 * R x C a pass and output block, to the device; output back) over the link's rate (bytes a
 * device cycle: the simulator's, or a serial line's at INFO's clock; 2, USB 3 at 200 MHz,
 * where the transport cannot tell; the same both ways). The margin: where the link is the
 * limit, layers come out well above that estimate (MobileNetV1's 3x3 stem, estimated 10%
 * faster folded, ran 13% slower). On sim:16x16 that folds the digits demo's first layer (3x3
 * on one channel, 8x8: 286 k -> 160 k cycles for 360 images), not the 3-channel 3x3 stems of
 * VGG-16 and MobileNetV1, whose output is most of their link time.
 */
static bool want_fold(const cbr_layer *l, uint32_t R, uint32_t C, double rate)
{
    const cbr_layer_desc *d = &l->desc;
    if (d->groups != 1 || d->kw < 2)
        return false;
    uint64_t passes = (uint64_t)((d->in_c + R - 1) / R) * d->kh * d->kw;
    uint64_t folded = (uint64_t)(((uint64_t)d->in_c * d->kw + R - 1) / R) * d->kh;
    if (folded * 2 > passes)
        return false;
    if (d->kw >= 5)
        return true; /* the kernel's width at least, KW / stride_w, fewer passes */
    const double px = (double)l->conv_oh * l->conv_ow * ((d->out_c + C - 1) / C);
    const double blk = (double)((d->out_c + C - 1) / C) * R * C; /* a pass's weights */
    const double in = (double)d->in_c * d->in_h * d->in_w;
    const double in_f = (double)d->in_c * d->kw * d->in_h * l->conv_ow;
    const double out = (double)d->out_c * l->out_h * l->out_w / rate; /* the other way */
    double plain = px * passes, fold = px * folded;
    plain = plain > out ? plain : out;
    fold = fold > out ? fold : out;
    if ((blk * passes + in) / rate > plain)
        plain = (blk * passes + in) / rate;
    if ((blk * folded + in_f) / rate > fold)
        fold = (blk * folded + in_f) / rate;
    return fold < 0.75 * plain; /* link-bound layers come out above their estimate */
}

static int make_fold(const cbr_layer *l, struct board_layer *bl)
{
    const cbr_layer_desc *d = &l->desc;
    const uint32_t C = d->in_c, KW = d->kw, KH = d->kh;
    bl->fold_w = malloc((size_t)d->out_c * C * KW * KH);
    if (!bl->fold_w)
        return -1;
    for (uint32_t o = 0; o < d->out_c; o++)
        for (uint32_t c = 0; c < C; c++)
            for (uint32_t ky = 0; ky < KH; ky++)
                for (uint32_t kx = 0; kx < KW; kx++)
                    bl->fold_w[((size_t)o * C * KW + kx * C + c) * KH + ky] =
                        d->weights[(((size_t)o * C + c) * KH + ky) * KW + kx];
    cbr_layer *f = derive(l, bl);
    f->desc.in_c = C * KW;
    f->desc.in_w = l->conv_ow;
    f->desc.kw = 1;
    f->desc.stride_w = 1;
    f->desc.dilation_w = 1;
    f->desc.pad_left = f->desc.pad_right = 0;
    bl->kw_fold = true;
    return 0;
}

/*
 * Group packing: a grouped convolution whose groups are narrower than the array (depthwise:
 * one channel each) runs k groups per job as one convolution with block-diagonal weights,
 * k * (C/G) input and k * (O/G) output channels; channel order is unchanged. A depthwise
 * layer on 16x16 then keeps 16 diagonal PEs busy instead of one.
 */
static uint32_t pack_factor(const cbr_layer *l, uint32_t R, uint32_t C)
{
    const cbr_layer_desc *d = &l->desc;
    uint32_t cg = d->in_c / d->groups, og = d->out_c / d->groups, best = 1;
    for (uint32_t k = 2; k <= d->groups; k++)
        if (d->groups % k == 0 && k * cg <= R && k * og <= C)
            best = k;
    return best;
}

static int make_pack(const cbr_layer *l, struct board_layer *bl, uint32_t k)
{
    const cbr_layer_desc *d = &l->desc;
    const uint32_t cg = d->in_c / d->groups, og = d->out_c / d->groups, taps = d->kh * d->kw;
    bl->fold_w = calloc((size_t)d->out_c * k * cg, taps);
    if (!bl->fold_w)
        return -1;
    for (uint32_t o = 0; o < d->out_c; o++) {
        uint32_t i = (o / og) % k; /* o's group within its pack */
        for (uint32_t c = 0; c < cg; c++)
            memcpy(bl->fold_w + ((size_t)o * k * cg + i * cg + c) * taps,
                   d->weights + ((size_t)o * cg + c) * taps, taps);
    }
    derive(l, bl)->desc.groups = d->groups / k;
    return 0;
}

/*
 * Stride skipping: a kernel one tall (wide) with a stride above 1 reads only every stride-th
 * input row (column): row oy*stride_h - pad_top for output row oy. The host sends just those,
 * as the input of the same layer with stride 1 and no padding along that axis (the rows in
 * the padding as the input zero point), so ResNet's 1x1 stride-2 downsamples move a quarter
 * of their input instead of all of it. Not with kernel-column folding, which rearranges the
 * input itself.
 */
static void make_skip(const cbr_layer *l, struct board_layer *bl)
{
    const cbr_layer_desc *d = &l->desc;
    bl->skip_h = d->kh == 1 && d->stride_h > 1;
    bl->skip_w = d->kw == 1 && d->stride_w > 1;
    if (!bl->skip_h && !bl->skip_w)
        return;
    cbr_layer *f = derive(l, bl);
    f->weights = l->weights;
    f->desc.weights = l->desc.weights;
    if (bl->skip_h) {
        f->desc.in_h = l->conv_oh;
        f->desc.stride_h = f->desc.dilation_h = 1;
        f->desc.pad_top = f->desc.pad_bottom = 0;
    }
    if (bl->skip_w) {
        f->desc.in_w = l->conv_ow;
        f->desc.stride_w = f->desc.dilation_w = 1;
        f->desc.pad_left = f->desc.pad_right = 0;
    }
}

/* The rows and columns of n images that a layer with stride skipping reads. */
static int8_t *skip_input(const cbr_layer *l, const struct board_layer *bl, uint32_t n,
                          const int8_t *x)
{
    const cbr_layer_desc *d = &l->desc;
    const uint32_t C = d->in_c, H = bl->skip_h ? l->conv_oh : d->in_h;
    const uint32_t W = bl->skip_w ? l->conv_ow : d->in_w;
    int8_t *f = malloc((size_t)n * C * H * W);
    if (!f)
        return NULL;
    for (size_t bc = 0; bc < (size_t)n * C; bc++)
        for (uint32_t y = 0; y < H; y++) {
            int64_t iy = bl->skip_h ? (int64_t)y * d->stride_h - d->pad_top : y;
            int8_t *dst = f + (bc * H + y) * W;
            if (iy < 0 || iy >= d->in_h) { /* a padding row */
                memset(dst, (int8_t)d->input_zp, W);
                continue;
            }
            const int8_t *src = x + (bc * d->in_h + (size_t)iy) * d->in_w;
            for (uint32_t ox = 0; ox < W; ox++) {
                int64_t ix = bl->skip_w ? (int64_t)ox * d->stride_w - d->pad_left : ox;
                dst[ox] = ix >= 0 && ix < d->in_w ? src[ix] : (int8_t)d->input_zp;
            }
        }
    return f;
}

/* The folded input of n images. */
static int8_t *fold_input(const cbr_layer *l, uint32_t n, const int8_t *x)
{
    const cbr_layer_desc *d = &l->desc;
    const uint32_t C = d->in_c, KW = d->kw, OW = l->conv_ow;
    int8_t *f = malloc((size_t)n * C * KW * d->in_h * OW);
    if (!f)
        return NULL;
    for (uint32_t b = 0; b < n; b++)
        for (uint32_t kx = 0; kx < KW; kx++)
            for (uint32_t c = 0; c < C; c++)
                for (uint32_t y = 0; y < d->in_h; y++) {
                    const int8_t *src = x + (((size_t)b * C + c) * d->in_h + y) * d->in_w;
                    int8_t *dst = f + ((((size_t)b * KW + kx) * C + c) * d->in_h + y) * OW;
                    for (uint32_t ox = 0; ox < OW; ox++) {
                        int64_t ix = (int64_t)ox * d->stride_w + (int64_t)kx * d->dilation_w -
                                     d->pad_left;
                        dst[ox] = ix >= 0 && ix < d->in_w ? src[ix] : (int8_t)d->input_zp;
                    }
                }
    return f;
}

static void accel_layer_release(cbr_device *dev, cbr_layer *l)
{
    (void)dev;
    free_board_layer(l->priv);
    l->priv = NULL;
}

/* The parameter entry of output channel o (registers.md, buffer 2). */
static void put_params(const cbr_layer_desc *d, uint32_t o, uint8_t *pp)
{
    put32(pp, (uint32_t)d->bias[o]);
    put32(pp + 4, (uint32_t)d->multiplier[o]);
    put32(pp + 8, (uint32_t)d->shift[o]);
    put32(pp + 12, d->neg_multiplier ? (uint32_t)d->neg_multiplier[o] : 0);
    put32(pp + 16, d->neg_shift ? (uint32_t)d->neg_shift[o] : 0);
}

/* Pack weight set w of group g per registers.md: (ob, cb, ky, kx, r, j), zero-padded. */
static void pack_wset(const cbr_layer *l, const struct cbr_plan *p, const struct plan_wset *w,
                      uint32_t g, uint32_t R, uint32_t C, uint8_t *wgt, uint8_t *param)
{
    const cbr_layer_desc *d = &l->desc;
    for (uint32_t i = 0; i < w->n_ob; i++) {
        for (uint32_t j = 0; j < C; j++) {
            uint32_t o = (w->ob0 + i) * C + j;
            if (o >= p->cout)
                break;
            uint32_t oc = g * p->cout + o;
            for (uint32_t c = 0; c < w->nc; c++) {
                uint32_t cb = c / R, r = c % R, ci = w->c0 + c;
                for (uint32_t ky = 0; ky < d->kh; ky++)
                    for (uint32_t kx = 0; kx < d->kw; kx++) {
                        size_t at = (((((size_t)i * w->n_cb + cb) * d->kh + ky) * d->kw + kx) *
                                         R + r) * C + j;
                        wgt[at] = (uint8_t)d->weights[(((size_t)oc * p->cin + ci) * d->kh +
                                                       ky) * d->kw + kx];
                    }
            }
            put_params(d, oc, param + ((size_t)i * C + j) * PARAM_BYTES);
        }
    }
}

/*
 * CBR_PLAN_CAPS="act=N,wgt=N,out=N,param=N,acc=N" (any subset) makes the planner use less of
 * the device than INFO reports: buffer bytes, parameter entries, accumulator pixels. Larger
 * values than the device's are ignored. For tests (many tiles on small layers) and for
 * measuring how buffer sizes matter without rebuilding the RTL.
 */
static int limit_caps(struct cbr_caps *k, char *err, size_t len)
{
    const char *env = getenv("CBR_PLAN_CAPS");
    if (!env || !*env)
        return 0;
    const char *p = env;
    while (*p) {
        static const char *const names[] = {"act", "wgt", "out", "param", "acc"};
        uint32_t *fields[] = {&k->act_bytes, &k->wgt_bytes, &k->out_bytes, &k->param_entries,
                              &k->acc_pixels};
        size_t i, n = strcspn(p, "=");
        for (i = 0; i < 5; i++)
            if (strlen(names[i]) == n && !strncmp(p, names[i], n))
                break;
        char *end;
        unsigned long v = i < 5 && p[n] == '=' ? strtoul(p + n + 1, &end, 0) : 0;
        if (i == 5 || p[n] != '=' || end == p + n + 1 || (*end && *end != ',') || v == 0 ||
            v > UINT32_MAX)
            return cbr_errf(err, len, CBR_EINVAL, "CBR_PLAN_CAPS='%s': expected name=N[,...] "
                        "with names act, wgt, out, param, acc and N > 0", env);
        if (v < *fields[i])
            *fields[i] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Depthwise mode (registers.md): per output block, passes (kyc, kxc) of R rows x C lanes;
 * row g*4 + k, lane j: channel ob*C + j at ky = kyc*NG + g, kx = kxc*4 + k. */
static void pack_wset_dw(const cbr_layer *l, const struct cbr_plan *p,
                         const struct plan_wset *w, uint32_t R, uint32_t C, uint8_t *wgt,
                         uint8_t *param)
{
    const cbr_layer_desc *d = &l->desc;
    const uint32_t NG = p->ng, nkx = (d->kw + 3) / 4, nky = (d->kh + NG - 1) / NG;
    for (uint32_t i = 0; i < w->n_ob; i++)
        for (uint32_t j = 0; j < C; j++) {
            uint32_t o = (w->ob0 + i) * C + j;
            if (o >= p->cout)
                break;
            for (uint32_t kyc = 0; kyc < nky; kyc++)
                for (uint32_t kxc = 0; kxc < nkx; kxc++)
                    for (uint32_t g = 0; g < NG; g++)
                        for (uint32_t k = 0; k < 4; k++) {
                            uint32_t ky = kyc * NG + g, kx = kxc * 4 + k;
                            if (ky >= d->kh || kx >= d->kw)
                                continue;
                            size_t at = ((((size_t)i * nky + kyc) * nkx + kxc) * R + g * 4 + k) *
                                            C + j;
                            wgt[at] = (uint8_t)d->weights[((size_t)o * d->kh + ky) * d->kw + kx];
                        }
            put_params(d, o, param + ((size_t)i * C + j) * PARAM_BYTES);
        }
}

static uint32_t stack_rows(const cbr_layer *l, const cbr_layer *f, const struct cbr_plan *p,
                           uint32_t acc_pixels, uint32_t *q);

/* Plan l for caps and pack its weights (l->priv); stackable: may it run stacked. */
/* The MACs the device counts for one job of plan p of l (tiles may overlap). */
static uint64_t plan_macs(const cbr_layer *l, const struct cbr_plan *p, uint32_t cols)
{
    const uint32_t taps = l->desc.kh * l->desc.kw;
    uint64_t macs = 0;
    for (uint32_t ri = 0; ri < p->n_runs; ri++) {
        const struct plan_run *r = &p->runs[ri];
        uint64_t oc = (uint64_t)(r->ob0 + r->n_ob) * cols;
        oc = (oc < p->cout ? oc : p->cout) - (uint64_t)r->ob0 * cols;
        macs += (uint64_t)(r->cy1 - r->cy0) * (r->cx1 - r->cx0) * oc *
                (p->depthwise ? 1 : p->regions[r->region].nc) * taps;
    }
    return macs;
}

static int prepare(cbr_device *dev, cbr_layer *l, const struct cbr_caps *capsp, bool stackable,
                   char *err, size_t len)
{
    const cbr_device_info *in = &dev->info;
    struct cbr_caps caps = *capsp;
    struct board_layer *bl = calloc(1, sizeof *bl);
    if (!bl)
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    bool dw = cbr_plan_dw_eligible(l, &caps);
    uint32_t k = dw ? 1 : pack_factor(l, in->rows, in->cols);
    if ((k > 1 && make_pack(l, bl, k) < 0) ||
        (want_fold(l, in->rows, in->cols, ((struct accel *)dev->priv)->link_rate) &&
         make_fold(l, bl) < 0)) {
        free_board_layer(bl);
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    }
    if (!bl->fold)
        make_skip(l, bl);
    const cbr_layer *orig = l;
    if (bl->fold)
        l = &bl->folded;
    bl->caps = caps;
    int rc = cbr_plan_make(l, &caps, &bl->plan, err, len);
    if (rc < 0) {
        free_board_layer(bl);
        return rc;
    }
    const struct cbr_plan *p = bl->plan;
    bl->groups = p->depthwise ? 1 : l->desc.groups;
    size_t n = (size_t)bl->groups * p->n_wsets;
    bl->wgt = calloc(n, sizeof *bl->wgt);
    bl->param = calloc(n, sizeof *bl->param);
    if (!bl->wgt || !bl->param)
        goto nomem;
    for (uint32_t g = 0; g < bl->groups; g++)
        for (uint32_t w = 0; w < p->n_wsets; w++) {
            const struct plan_wset *ws = &p->wsets[w];
            size_t i = (size_t)g * p->n_wsets + w;
            bl->wgt[i] = calloc(1, ws->bytes);
            bl->param[i] = calloc(1, ws->param_bytes);
            if (!bl->wgt[i] || !bl->param[i])
                goto nomem;
            if (p->depthwise)
                pack_wset_dw(l, p, ws, in->rows, in->cols, bl->wgt[i], bl->param[i]);
            else
                pack_wset(l, p, ws, g, in->rows, in->cols, bl->wgt[i], bl->param[i]);
        }
    bl->device_macs = plan_macs(l, p, in->cols);
    if (stackable)
        bl->stack_rows = stack_rows(orig, l, p, caps.acc_pixels, &bl->stack_q);
    ((cbr_layer *)orig)->priv = bl;
    return 0;
nomem:
    free_board_layer(bl);
    return cbr_errf(err, len, CBR_ENOMEM, "out of memory for the packed weights");
}

static int accel_layer_prepare(cbr_device *dev, cbr_layer *l, char *err, size_t len)
{
    struct accel *a = dev->priv;
    const cbr_device_info *in = &dev->info;
    struct cbr_caps caps = {
        .rows = in->rows, .cols = in->cols, .act_bytes = in->act_buf_bytes,
        .wgt_bytes = in->wgt_buf_bytes, .out_bytes = in->out_buf_bytes,
        .param_entries = in->param_entries, .acc_pixels = a->acc_pixels,
        .dw_mode = (in->features & CBR_FEAT_DWMODE) != 0, .link_bpc = a->link_rate,
        .link_latency = a->link_latency,
    };
    int rc = limit_caps(&caps, err, len);
    return rc < 0 ? rc : prepare(dev, l, &caps, true, err, len);
}

/*
 * Image stacking: a batch of small images runs as a few tall ones. A layer whose every tile
 * covers a whole image would otherwise run a tile per image (per output block group), each
 * paying for its registers, its start, its output read and the core's fill and drain (the
 * digits demo's classifier: 1x1 "images", 68 k cycles for 360 images). Image j of a stack sits
 * at row j*P, and the P - H rows between images hold the input zero point, which is what
 * padding reads: with P >= H + the padding rows a window reaches on either side, P >= OH *
 * stride_h (a 1x1 kernel on padding has output rows of padding alone), P a multiple of
 * stride_h (times the pooling stride), and pooling windows that stay inside the conv plane
 * (no pooling padding along H, no partial window), output row y of image j is row
 * j*P/(stride_h*pool stride) + y of the stack's, computed from exactly the rows of its own
 * image. The conv rows between images (P/stride_h - OH a slot) are computed and dropped, so a
 * layer is stacked only when they cost at most STACK_WASTE beats an image (1x1 layers and
 * unpadded small kernels: none or few), and when two slots fit the accumulator. Returns P
 * (and in *q a slot's output rows), or 0 when the layer is not stacked. l is the layer, f
 * what the plan p was made of (l, or its kernel-column fold, group pack or stride skip).
 */
static uint32_t stack_rows(const cbr_layer *l, const cbr_layer *f, const struct cbr_plan *p,
                           uint32_t acc_pixels, uint32_t *q)
{
    const cbr_layer_desc *d = &l->desc;
    const cbr_pool *pl = &d->pool;
    if (p->chain || p->host_pool || pl->kind == CBR_POOL_GAVG)
        return 0;
    for (uint32_t r = 0; r < p->n_runs; r++)
        if (p->runs[r].py0 || p->runs[r].py1 != p->ph || p->runs[r].px0 || p->runs[r].px1 != p->pw)
            return 0; /* the image takes several tiles already */
    uint32_t ps = 1;
    if (pl->kind != CBR_POOL_NONE) {
        ps = pl->stride_h ? pl->stride_h : pl->kh;
        if (pl->pad_top || pl->pad_bottom || l->conv_oh < pl->kh ||
            l->out_h != (l->conv_oh - pl->kh) / ps + 1)
            return 0;
    }
    const uint64_t sh = d->stride_h, eh = (uint64_t)d->dilation_h * (d->kh - 1) + 1;
    /* the padding rows the last output row's window reaches below the image */
    uint64_t reach = (uint64_t)(l->conv_oh - 1) * sh + eh, below = 0;
    if (reach > (uint64_t)d->pad_top + d->in_h)
        below = reach - d->pad_top - d->in_h;
    uint64_t gap = d->pad_top > below ? d->pad_top : below, m = sh * ps;
    uint64_t rows = d->in_h + gap, own = (uint64_t)l->conv_oh * sh; /* a slot's output rows */
    rows = ((rows > own ? rows : own) + m - 1) / m * m;
    if (rows > CBR_MAX_DIM / 2 || 2 * (rows / sh) * l->conv_ow > acc_pixels)
        return 0;
    uint64_t beats = p->depthwise ? (uint64_t)p->dw_passes * p->n_ob
                                  : (uint64_t)p->n_ob * p->n_cb * f->desc.kh * f->desc.kw *
                                        f->desc.groups;
    const char *env = getenv("CBR_STACK_WASTE"); /* tests: stack whatever can be */
    uint64_t waste = env && *env ? strtoull(env, NULL, 10) : STACK_WASTE;
    if ((rows / sh - l->conv_oh) * l->conv_ow * beats > waste)
        return 0;
    *q = (uint32_t)(rows / m);
    return (uint32_t)rows;
}

/* The layer of k stacked images of l (bl->stack_rows rows each), planned for bl's caps. */
static int make_stack(cbr_device *dev, const cbr_layer *l, struct board_layer *bl, uint32_t k,
                      char *err, size_t len)
{
    drop_stack(bl);
    cbr_layer *s = malloc(sizeof *s);
    if (!s)
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory");
    *s = *l;
    s->priv = NULL;
    s->desc.in_h = (k - 1) * bl->stack_rows + l->desc.in_h;
    cbr_conv_out_size(&s->desc, &s->conv_oh, &s->conv_ow);
    s->out_h = s->conv_oh;
    s->out_w = s->conv_ow;
    if (s->desc.pool.kind != CBR_POOL_NONE)
        cbr_pool_out_size(&s->desc.pool, s->conv_oh, s->conv_ow, &s->out_h, &s->out_w);
    int rc = prepare(dev, s, &bl->caps, false, err, len);
    if (rc < 0) {
        free(s);
        return rc;
    }
    bl->stacked = s;
    bl->stack_k = k;
    return 0;
}

/* Whether the start after `runs_before` reached the core: a start still pending in CTRL, or
 * RUNS moved on. */
static int core_started(struct accel *a, uint32_t runs_before, bool *yes, char *err,
                        size_t len)
{
    uint32_t ctrl, now;
    int rc = reg_read(a, REG_CTRL, &ctrl, 1, err, len);
    if (rc == 0)
        rc = reg_read(a, REG_RUNS, &now, 1, err, len);
    if (rc == 0)
        *yes = (ctrl & CTRL_START) || now != runs_before;
    return rc;
}

/*
 * A plain RUN, the one command never sent twice blindly: every request before it is
 * completed first, so the tile's data and registers are in place. When its answer is lost,
 * CTRL and RUNS say whether it reached the core: a start still pending, or RUNS moved on.
 * Otherwise RUN is sent again. A RUN sent while a tile runs is held by the core and taken
 * when it finishes. count: the device's count of RUNs before it (its arg0, protocol.md).
 */
static int plain_run(struct accel *a, uint32_t count, uint32_t runs_before, char *err,
                     size_t len)
{
    struct cbr_pkt resp;
    const uint8_t *pl;
    int rc = flush(a, err, len);
    for (int attempt = 0; rc == 0 && attempt <= RETRIES; attempt++) {
        rc = request_once(a, CBR_OP_RUN, count, 0, 0, NULL, 0, a->timeout_ms, &resp, &pl, err,
                          len);
        if (rc == 0 || (rc != CBR_ETIMEDOUT && rc != CBR_EBADMSG && rc != CBR_EIO))
            break;
        bool started;
        int rc2 = core_started(a, runs_before, &started, err, len);
        if (rc2 < 0)
            return rc2;
        if (started) {
            rc = 0;
            break;
        }
    }
    if (rc == 0)
        a->runs = count + 1;
    return rc;
}

/* A checked RUN came back REFUSED (complete_oldest): everything before it is completed
 * (requests lost on the way are sent again), then CTRL and RUNS say whether it had run
 * before (a replay is refused too); if not, a plain RUN starts the tile. */
static int run_again(struct accel *a, char *err, size_t len)
{
    a->run_refused = false;
    bool started = false;
    int rc = flush(a, err, len);
    if (rc == 0)
        rc = core_started(a, a->refused_before, &started, err, len);
    if (rc < 0)
        return rc;
    if (started) {
        a->runs = a->refused_count + 1;
        return 0;
    }
    return plain_run(a, a->refused_count, a->refused_before, err, len);
}

/*
 * Start the core on the tile whose data and registers were just sent. Where the device
 * checks RUNs (CBR_FEAT_RUN_CHECK), the RUN is posted like a write, without completing what
 * is before it: the device runs it only if no request was lost before it and it is not a
 * replay (arg0, its count of RUNs, matches), and the host puts a refusal right before the
 * next register write or RUN (settle_run). Otherwise a plain RUN. runs_before: the core's
 * RUNS before this start, to tell after a lost answer whether it started.
 */
static int start_core(struct accel *a, uint32_t runs_before, char *err, size_t len)
{
    if (!a->run_check)
        return plain_run(a, a->runs, runs_before, err, len);
    int rc = post(a, CBR_OP_RUN, a->runs, CBR_RUN_CHECKED, 0, NULL, 0, NULL, err, len);
    if (rc < 0)
        return rc;
    /* post_now put it last in the window */
    a->win[(a->win_head + a->win_n - 1) % WINDOW].runs_before = runs_before;
    a->run_posted++;
    a->runs++;
    return 0;
}

/* What one buffer holds: up to two resident pieces (the halves, or one whole). */
struct slot {
    int64_t id;              /* -1: nothing */
    uint32_t base, bytes;
    uint32_t progress;       /* written so far: pixels of a region (row-major), bytes of a
                                weight set, output blocks of its parameters */
};

struct residency {
    struct slot s[2];
    uint32_t size;
    struct slot retired;     /* a region whose room the next one took while its last tiles
                                were still to run (load_region): found, never written */
};

static struct slot *find(struct residency *rs, int64_t id)
{
    for (int i = 0; i < 2; i++)
        if (rs->s[i].id == id)
            return &rs->s[i];
    return rs->retired.id == id && id >= 0 ? &rs->retired : NULL;
}

static bool overlap(uint32_t b0, uint32_t n0, uint32_t b1, uint32_t n1)
{
    return n0 && n1 && b0 < b1 + n1 && b1 < b0 + n0;
}

/* Pieces that must not be overwritten: those of the running tile and of tiles already
 * prepared after it. At most a few per buffer (halves or the whole). */
struct prot {
    uint32_t n[3];
    uint32_t base[3][6], bytes[3][6];
    /* Of the activation buffer, the rows those tiles read: in each of n channel blocks,
     * `bytes` at base + block * pitch (dense regions; a new region that takes the whole
     * buffer may go beside them, load_region). Where a tile's rows are not here (depthwise,
     * or no room), its whole region stands for them: whole_act. */
    uint32_t n_rows;
    struct prot_rows { uint32_t base, bytes, n, pitch; } rows[12];
    bool whole_act;
};
enum { P_ACT, P_WGT, P_PAR };

static void prot_add(struct prot *p, int buf, uint32_t base, uint32_t bytes)
{
    for (uint32_t i = 0; i < p->n[buf]; i++)
        if (p->base[buf][i] == base && p->bytes[buf][i] == bytes)
            return;
    if (p->n[buf] < 6) {
        p->base[buf][p->n[buf]] = base;
        p->bytes[buf][p->n[buf]++] = bytes;
    }
}

static bool prot_hits(const struct prot *p, int buf, uint32_t base, uint32_t bytes)
{
    for (uint32_t i = 0; p && i < p->n[buf]; i++)
        if (overlap(base, bytes, p->base[buf][i], p->bytes[buf][i]))
            return true;
    return false;
}

/* a / b rounded down, for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Whether `bytes` at base + block * pitch, for n channel blocks, meet range r's rows. With
 * the same pitch (regions that share it), block b meets r's block a only for the few
 * k = a - b where base - r.base - k * pitch lies in (-bytes, r.bytes): a range of k worked
 * out at once, not n x r.n tests. */
static bool rows_meet(const struct prot_rows *r, uint32_t base, uint32_t bytes, uint32_t n,
                      uint32_t pitch)
{
    if (pitch && pitch == r->pitch) {
        const int64_t d = (int64_t)base - r->base, P = pitch;
        int64_t lo = floor_div(d - r->bytes, P) + 1, hi = -floor_div(-(d + bytes), P) - 1;
        lo = lo > 1 - (int64_t)n ? lo : 1 - (int64_t)n;
        hi = hi < (int64_t)r->n - 1 ? hi : (int64_t)r->n - 1;
        return lo <= hi;
    }
    for (uint32_t a = 0; a < r->n; a++)
        for (uint32_t b = 0; b < n; b++)
            if (overlap(base + b * pitch, bytes, r->base + a * r->pitch, r->bytes))
                return true;
    return false;
}

/* Whether `bytes` at base + block * pitch, for n channel blocks, meet a row the protected
 * tiles read (true when those rows are not known one by one: whole_act). */
static bool prot_hits_rows(const struct prot *p, uint32_t base, uint32_t bytes, uint32_t n,
                           uint32_t pitch)
{
    if (!p || !bytes)
        return false;
    if (p->whole_act)
        return true;
    for (uint32_t i = 0; i < p->n_rows; i++)
        if (rows_meet(&p->rows[i], base, bytes, n, pitch))
            return true;
    return false;
}

/*
 * Where to put a piece of `bytes` so that it overwrites nothing protected. Returns false when
 * it cannot (it needs the whole buffer, or both halves are protected): the caller waits.
 */
static bool place(const struct residency *rs, uint32_t bytes, const struct prot *pr, int buf,
                  uint32_t *base)
{
    uint32_t half = rs->size / 2;
    if (bytes > half) {
        *base = 0;
        return !prot_hits(pr, buf, 0, bytes);
    }
    /* Prefer the half that holds nothing, then one not protected. */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t h = 0; h < 2; h++) {
            uint32_t b = h * half;
            if (prot_hits(pr, buf, b, bytes))
                continue;
            bool empty = true;
            for (int i = 0; i < 2; i++)
                if (rs->s[i].id >= 0 && overlap(b, bytes, rs->s[i].base, rs->s[i].bytes))
                    empty = false;
            if (pass == 1 || empty) {
                *base = b;
                return true;
            }
        }
    return false;
}

/* Whether a piece at base meets what slot o holds (an empty piece or slot counts as 1 byte). */
static bool meets(const struct slot *o, uint32_t base, uint32_t bytes)
{
    return o->id >= 0 && overlap(base, bytes ? bytes : 1, o->base, o->bytes ? o->bytes : 1);
}

static struct slot *occupy(struct residency *rs, int64_t id, uint32_t base, uint32_t bytes)
{
    int free_i = -1;
    if (meets(&rs->retired, base, bytes))
        rs->retired.id = -1;
    for (int i = 0; i < 2; i++) {
        if (meets(&rs->s[i], base, bytes))
            rs->s[i].id = -1;
        if (rs->s[i].id < 0 && free_i < 0)
            free_i = i;
    }
    if (free_i < 0)
        free_i = 0;
    rs->s[free_i] = (struct slot){.id = id, .base = base, .bytes = bytes};
    return &rs->s[free_i];
}

/*
 * A tensor a chain keeps in the activation buffer between two layers (run_chain): the
 * consumer's one region of the whole input, in the device layout, one copy per image.
 * Dense: channel block cb of image b at base + b * img + cb * pitch, pixel (y, x) at
 * + (y * w + x) * R. Depthwise (the consumer's NG row banks): row y in bank y % NG at
 * bank * (y % NG) + base + b * img + cb * pitch + (y / NG * w + x) * R.
 */
struct dev_tensor {
    uint32_t base, img;      /* img: bytes of one image (in one bank when depthwise) */
    uint32_t w, pitch;       /* the plane's width; bytes between channel blocks */
    uint32_t ng, bank;       /* depthwise: banks and the device's bank stride; else 1, 0 */
};

/* One RUN of the schedule: job (image b, group g), plan run k, and where its pieces are. */
struct step {
    uint32_t b, g, k;
    uint32_t act_base, wgt_base, par_base, out_base;
};

struct exec {
    struct accel *a;
    const cbr_layer *l;
    const struct board_layer *bl;
    const struct cbr_plan *p;
    uint32_t R, C;
    const int8_t *input;
    int8_t *output;          /* NCHW output, or the conv plane when the host pools */
    uint32_t out_c_total;
    struct residency act, wgt, par;
    bool scatter;            /* the device takes scatter writes */
    uint32_t act_bank;       /* depthwise: bytes per activation bank on the device */
    uint8_t *stage;          /* one region in the device layout */
    uint8_t *outbuf[2];      /* two tiles' output */
    uint32_t out_slot;       /* tiles take the output buffer's PLAN_OUT_SLOTS slots in turn */
    uint32_t runs0;          /* RUNS when the layer started */
    uint32_t started;        /* tiles started by this layer */
    bool ending;             /* the wait for the layer's last tile (wait_runs) */
    bool tile_cycles;        /* the core counts each tile's cycles (FEATURES bit 5) */
    bool dones;              /* the core counts finished tiles (FEATURES bit 9): a tile
                                taken no longer means the one before it is done */
    uint32_t dones0;         /* DONES when the layer started */
    uint64_t last_len;       /* the last started tile's cycles, about (estimate_tile) */
    uint64_t est_prev, est_last; /* device cycle when the last two started tiles end, about */
    uint64_t arr_prev, arr_last; /* the same, counting a posted RUN from when it reaches the
                                    device, behind the data written ahead of it: where the
                                    waits start polling (the write-ahead budget, which counts
                                    from est_last, wrote more ahead and took longer) */
    uint64_t due_take, due_last; /* device cycle by which the start queued last is taken and
                                    that tile ends at the latest, on any core (tile_bound) */
    uint32_t clock_khz;      /* INFO's core clock: tile_bound in wall time where the link
                                cannot count cycles (0: unknown) */
    double due_take_ms, due_last_ms; /* due_take, due_last in cbr_now_ms() time, there */
    /* A chain's intermediates on the device (run_chain): */
    const struct dev_tensor *in_dev;  /* the input is in the activation buffer already */
    const struct dev_tensor *out_dev; /* the output goes there, by BUF_COPY, not to the host */
    struct step out_step[2]; /* the output tiles being read, oldest first: their reads are
                                posted, they are not in place yet (into outbuf[k]) */
    uint32_t out_pending;    /* how many */
    struct exec *ahead;      /* the chain's next layer, whose first weight set this one
                                writes while its own last tiles run (prefetch_next) */
    uint64_t written_ahead;  /* of this (next) layer: bytes the layer before sent for it */
    char *err;
    size_t len;
};

static int64_t region_id(const struct exec *e, uint32_t b, uint32_t g, uint32_t r)
{
    return ((int64_t)b * e->bl->groups + g) * e->p->n_regions + r;
}

static int64_t wset_id(const struct exec *e, uint32_t g, uint32_t w)
{
    return (int64_t)g * e->p->n_wsets + w;
}

/* Pixels [p0, p1) (region-relative, row-major: y * cols + x) of channel block cb of region rg
 * of job (b, g): nch channels, `lanes` bytes per pixel (lanes = R: the device layout,
 * padding lanes zero; lanes = nch: packed for a scatter write). */
static void pack_px(const struct exec *e, uint32_t b, uint32_t g, const struct plan_region *rg,
                    uint32_t cb, uint32_t nch, uint32_t lanes, uint32_t p0, uint32_t p1,
                    uint8_t *dst)
{
    const cbr_layer_desc *d = &e->l->desc;
    const uint32_t cols = rg->ix1 - rg->ix0;
    const size_t plane = (size_t)d->in_h * d->in_w;
    if (lanes != nch)
        memset(dst, 0, (size_t)(p1 - p0) * lanes);
    for (uint32_t c = 0; c < nch; c++) {
        const int8_t *src = e->input + ((size_t)b * d->in_c + (size_t)g * e->p->cin + rg->c0 +
                                         (size_t)cb * e->R + c) * plane;
        for (uint32_t p = p0; p < p1;) {
            const uint32_t y = p / cols, x0 = p % cols;
            const uint32_t n = cols - x0 < p1 - p ? cols - x0 : p1 - p;
            const int8_t *sp = src + (size_t)(rg->iy0 + y) * d->in_w + rg->ix0 + x0;
            uint8_t *t = dst + (size_t)(p - p0) * lanes + c;
            for (uint32_t x = 0; x < n; x++)
                t[(size_t)x * lanes] = (uint8_t)sp[x];
            p += n;
        }
    }
}

/* Depthwise mode: region row y goes to bank y mod NG, bank row y div NG, at the same
 * bank-local offset base in every bank (registers.md). Rows of one bank are contiguous. */
static int write_region_rows_dw(struct exec *e, uint32_t b, uint32_t r, uint32_t base,
                                uint32_t y0, uint32_t y1)
{
    const struct plan_region *rg = &e->p->regions[r];
    const uint32_t R = e->R, NG = e->p->ng, cols = rg->ix1 - rg->ix0;
    /* Banks are the device's (ACT_BYTES / NG, from INFO), whatever CBR_PLAN_CAPS lets the
     * plan use of each. */
    const uint32_t bank = e->act_bank, brows = (rg->iy1 - rg->iy0 + NG - 1) / NG;
    const uint32_t pitch = brows * cols * R;
    /* Per bank, the rows of every channel block in one scatter write when they fit a packet
     * (fewer headers and acknowledgements, as for dense regions). */
    const size_t most = (size_t)((y1 - y0 + NG - 1) / NG) * cols * R;
    if (e->scatter && rg->n_cb > 1 && pitch <= 0xFFFF && most <= e->a->max_payload) {
        for (uint32_t k = 0; k < NG; k++) {
            uint32_t q0 = (y0 + NG - 1 - k) / NG, q1 = (y1 + NG - 1 - k) / NG;
            if (q1 <= q0)
                continue;
            const size_t blk = (size_t)(q1 - q0) * cols * R;
            memset(e->stage, 0, blk * rg->n_cb);
            for (uint32_t cb = 0; cb < rg->n_cb; cb++) {
                uint32_t nch = rg->nc - cb * R < R ? rg->nc - cb * R : R;
                for (uint32_t q = q0; q < q1; q++)
                    pack_px(e, b, 0, rg, cb, nch, R, (q * NG + k) * cols,
                            (q * NG + k + 1) * cols,
                            e->stage + cb * blk + (size_t)(q - q0) * cols * R);
            }
            int rc = buf_scatter(e->a, BUF_ACT, k * bank + base + q0 * cols * R, e->stage,
                                 blk * rg->n_cb, (uint32_t)blk, pitch, e->err, e->len);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    for (uint32_t cb = 0; cb < rg->n_cb; cb++) {
        uint32_t nch = rg->nc - cb * R < R ? rg->nc - cb * R : R;
        for (uint32_t k = 0; k < NG; k++) {
            /* rows y in [y0, y1) with y mod NG == k, as bank rows q0 .. q1-1 */
            uint32_t q0 = (y0 + NG - 1 - k) / NG, q1 = (y1 + NG - 1 - k) / NG;
            if (q1 <= q0)
                continue;
            uint32_t off = k * bank + base + cb * pitch + q0 * cols * R;
            uint8_t *st = e->stage;
            memset(st, 0, (size_t)(q1 - q0) * cols * R);
            for (uint32_t q = q0; q < q1; q++)
                pack_px(e, b, 0, rg, cb, nch, R, (q * NG + k) * cols, (q * NG + k + 1) * cols,
                        st + (size_t)(q - q0) * cols * R);
            int rc = buf_write(e->a, BUF_ACT, off, st, (size_t)(q1 - q0) * cols * R, e->err,
                               e->len);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Write pixels [p0, p1) (row-major; whole rows in depthwise mode) of region r of job (b, g),
 * whose copy starts at base. A partial last channel block goes as a scatter write when the
 * device takes them: its padding lanes never cross the link (their weights are zero, so
 * whatever they hold adds nothing). */
static int write_region_px(struct exec *e, uint32_t b, uint32_t g, uint32_t r,
                           uint32_t base, uint32_t p0, uint32_t p1)
{
    const struct plan_region *rg = &e->p->regions[r];
    const uint32_t R = e->R, cols = rg->ix1 - rg->ix0;
    if (p1 <= p0 || !cols)
        return 0;
    if (e->p->depthwise) /* whole rows (load_region) */
        return write_region_rows_dw(e, b, r, base, p0 / cols, p1 / cols);
    const uint32_t pitch = rg->pitch, px = p1 - p0;
    /* The pixels of every channel block in one scatter write (CHUNK = those of one block,
     * PITCH = the region's block pitch): a few packets instead of one or more per block, so
     * the link carries fewer headers and acknowledgements. Only when every block is full
     * (a partial one goes as its own lane scatter) and the pixels fit a packet. */
    if (e->scatter && rg->n_cb > 1 && rg->nc % R == 0 && pitch <= 0xFFFF &&
        (size_t)px * R <= e->a->max_payload) {
        for (uint32_t cb = 0; cb < rg->n_cb; cb++)
            pack_px(e, b, g, rg, cb, R, R, p0, p1, e->stage + (size_t)cb * px * R);
        return buf_scatter(e->a, BUF_ACT, base + p0 * R, e->stage,
                           (size_t)rg->n_cb * px * R, px * R, pitch, e->err, e->len);
    }
    for (uint32_t cb = 0; cb < rg->n_cb; cb++) {
        uint32_t nch = rg->nc - cb * R < R ? rg->nc - cb * R : R;
        uint32_t off = base + cb * pitch + p0 * R;
        int rc;
        if (nch < R && e->scatter) {
            pack_px(e, b, g, rg, cb, nch, nch, p0, p1, e->stage);
            rc = buf_scatter(e->a, BUF_ACT, off, e->stage, (size_t)px * nch, nch, R, e->err,
                             e->len);
        } else {
            pack_px(e, b, g, rg, cb, nch, R, p0, p1, e->stage);
            rc = buf_write(e->a, BUF_ACT, off, e->stage, (size_t)px * R, e->err, e->len);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * The parameters of n channels (32 bytes each) to offset off. The core reads words 0..2
 * (bias, M0, shift) always, words 3..4 (the negative pair) only for a leaky activation and
 * words 5..7 never (registers.md), so with scatter writes only the words it reads cross
 * the link: 12 or 20 bytes a channel instead of 32.
 */
static int write_params(struct exec *e, uint32_t off, const uint8_t *src, uint32_t n)
{
    const uint32_t used = e->l->desc.act == CBR_ACT_LEAKY ? 20 : 12;
    if (!e->scatter)
        return buf_write(e->a, BUF_PARAM, off, src, (size_t)n * PARAM_BYTES, e->err, e->len);
    uint8_t *packed = malloc((size_t)n * used + 1);
    if (!packed)
        return cbr_errf(e->err, e->len, CBR_ENOMEM, "out of memory for the parameters");
    for (uint32_t i = 0; i < n; i++)
        memcpy(packed + (size_t)i * used, src + (size_t)i * PARAM_BYTES, used);
    int rc = buf_scatter(e->a, BUF_PARAM, off, packed, (size_t)n * used, used, PARAM_BYTES,
                         e->err, e->len);
    free(packed);
    return rc;
}

/* Rows of its region a run reads (region-relative end), and weight-set blocks it needs. */
static uint32_t rows_needed(const struct exec *e, const struct plan_run *run)
{
    const cbr_layer_desc *d = &e->l->desc;
    const struct plan_region *rg = &e->p->regions[run->region];
    int64_t end = (int64_t)(run->cy1 - 1) * d->stride_h - d->pad_top +
                  (int64_t)(d->kh - 1) * d->dilation_h + 1;
    if (end > rg->iy1)
        end = rg->iy1;
    return end > rg->iy0 ? (uint32_t)(end - rg->iy0) : 0;
}

/* The first row of its region a run reads (layer coordinates): its first conv row's top
 * tap, below the padding, within the region. */
static uint32_t first_row(const struct exec *e, const struct plan_run *run)
{
    const struct plan_region *rg = &e->p->regions[run->region];
    int64_t a = (int64_t)run->cy0 * e->l->desc.stride_h - e->l->desc.pad_top;
    uint32_t row = a < 0 ? 0 : (uint32_t)(a < rg->iy1 ? a : rg->iy1);
    return row < rg->iy0 ? rg->iy0 : row;
}

/*
 * Whether step s's region, which takes the whole buffer, may go in now although the region
 * before still has tiles queued or written ahead: only the rows those tiles read are
 * protected (pr's rows, one range a channel block; the regions share their block pitch,
 * plan_dense), and s's first `need` pixels must miss them. Its later rows are checked as
 * they are written (load_region). The region before must have no tile after s (the tiles
 * between are all protected, having been prepared in order); it stays findable for them
 * (*keep: its slot, or -1) until the next region takes its place. VGG-16 conv2_2 on
 * sim:16x16: the core waited about 90 k cycles at each of its three changes of region.
 */
static bool beside(const struct exec *e, const struct step *s, const struct prot *pr,
                   uint32_t need, int *keep)
{
    const struct plan_region *rg = &e->p->regions[e->p->runs[s->k].region];
    const int64_t job = (int64_t)s->b * e->bl->groups + s->g;
    *keep = -1;
    for (int i = 0; i < 2; i++) {
        const struct slot *o = &e->act.s[i];
        if (o->id < 0)
            continue;
        if (o->id / e->p->n_regions == job) {
            const uint32_t r = (uint32_t)(o->id % e->p->n_regions);
            for (uint32_t k = s->k + 1; k < e->p->n_runs; k++)
                if (e->p->runs[k].region == r)
                    return false; /* it is needed again later */
        }
        if (*keep >= 0 && o->id < e->act.s[*keep].id)
            continue; /* of two, the later region keeps its tiles findable */
        *keep = i;
    }
    return !prot_hits_rows(pr, 0, need * e->R, rg->n_cb, rg->pitch);
}

/* Least bytes of a region a write ahead sends as a piece of a row, and rows of no more go
 * whole: smaller pieces would cost more in packet headers and answers than they let the
 * link carry earlier (MobileNetV1 conv0 and conv1.pw, rows of 3.5 KB, lose 0.6-0.9% in
 * pieces). */
#define REGION_PIECE_MIN 4096

/* The region part of load_step: place the step's region, write its rows up to those the
 * step reads (as far as *budget allows, when given: whole rows in depthwise mode, where rows
 * go to banks; else down to pieces of rows, so that the link carries what fits before the
 * next poll instead of holding a row back whole). */
static int load_region(struct exec *e, struct step *s, const struct prot *pr, uint64_t *budget,
                       bool *blocked)
{
    const struct plan_run *run = &e->p->runs[s->k];
    const struct plan_region *rg = &e->p->regions[run->region];
    int64_t rid = region_id(e, s->b, s->g, run->region);
    const uint32_t cols = rg->ix1 - rg->ix0;
    uint32_t need = rows_needed(e, run) * cols; /* pixels, as the slot's progress */
    struct slot *hit = find(&e->act, rid);
    if (hit == &e->act.retired && need > hit->progress)
        hit = NULL; /* never so (its rows were all written before it retired); place it anew */
    if (!hit) {
        uint32_t base;
        int keep = -1; /* a slot whose region still has tiles to run, before this one */
        if (!e->p->depthwise && rg->bytes > e->act.size / 2 &&
            beside(e, s, pr, need, &keep)) {
            struct slot old = keep >= 0 ? e->act.s[keep] : (struct slot){.id = -1};
            hit = occupy(&e->act, rid, 0, rg->bytes);
            e->act.retired = old;
        } else {
            if (!place(&e->act, rg->bytes, pr, P_ACT, &base)) {
                *blocked = true;
                return 0;
            }
            hit = occupy(&e->act, rid, base, rg->bytes);
        }
    }
    s->act_base = hit->base;
    if (budget && need > hit->progress) {
        /* every channel block of a pixel, in the device layout (scatter writes send less) */
        const uint64_t pxb = (uint64_t)rg->n_cb * e->R;
        uint64_t fit = *budget / pxb;
        if (hit->progress + fit < need) {
            if (e->p->depthwise || cols * pxb <= REGION_PIECE_MIN)
                fit -= (hit->progress + fit) % cols; /* whole rows */
            else if (fit * pxb < REGION_PIECE_MIN)
                fit = 0;
            need = hit->progress + (uint32_t)fit;
            *blocked = true;
        }
        *budget -= pxb * (need - hit->progress);
    }
    if (need > hit->progress && e->act.retired.id >= 0 &&
        prot_hits_rows(pr, hit->base + hit->progress * e->R, (need - hit->progress) * e->R,
                       rg->n_cb, rg->pitch)) {
        *blocked = true; /* rows a tile of the region before still reads: after it */
        return 0;
    }
    if (need > hit->progress) {
        int rc = write_region_px(e, s->b, s->g, run->region, hit->base, hit->progress, need);
        if (rc < 0)
            return rc;
        hit->progress = need;
    }
    return 0;
}

/*
 * The weight part of load_step: place weight set w of group g (and its parameters), write its
 * bytes up to those of its first obs output blocks (as far as *budget allows, when given),
 * and the parameters of the blocks whose weights are all there. *wgt_base, *par_base: where
 * they are.
 */
static int load_wset(struct exec *e, uint32_t g, uint32_t w, uint32_t obs, const struct prot *pr,
                     uint64_t *budget, bool *blocked, uint32_t *wgt_base, uint32_t *par_base)
{
    const struct plan_wset *ws = &e->p->wsets[w];
    const int64_t wid = wset_id(e, g, w);
    const size_t wi = (size_t)g * e->p->n_wsets + w;
    const uint32_t wob = ws->n_ob ? ws->bytes / ws->n_ob : 0, pob = e->C * PARAM_BYTES;
    struct slot *hit;
    int rc;
    if (!(hit = find(&e->wgt, wid))) {
        uint32_t base;
        if (!place(&e->wgt, ws->bytes, pr, P_WGT, &base)) {
            *blocked = true;
            return 0;
        }
        hit = occupy(&e->wgt, wid, base, ws->bytes);
    }
    *wgt_base = hit->base;
    /* Weights by the byte (a block of one output channel block can be large); parameters by
     * the output block, for the blocks whose weights are all there. */
    uint32_t want = obs * wob, upto = want;
    if (budget && want > hit->progress) {
        uint64_t room = (*budget - (*budget < pob ? *budget : pob)) & ~(uint64_t)63;
        if (hit->progress + room < want) {
            /* a piece of the block now, but not a sliver: every packet costs a header and
             * an acknowledgement */
            upto = hit->progress + (room >= 4096 ? (uint32_t)room : 0u);
            *blocked = true;
        }
        *budget -= upto - hit->progress;
    }
    if (upto > hit->progress) {
        if ((rc = buf_write(e->a, BUF_WGT, hit->base + hit->progress,
                            e->bl->wgt[wi] + hit->progress, upto - hit->progress, e->err,
                            e->len)) < 0)
            return rc;
        hit->progress = upto;
    }
    uint32_t obs_w = wob ? upto / wob : obs;
    if (!(hit = find(&e->par, wid))) {
        uint32_t base;
        if (!place(&e->par, ws->param_bytes, pr, P_PAR, &base)) {
            *blocked = true;
            return 0;
        }
        hit = occupy(&e->par, wid, base, ws->param_bytes);
    }
    *par_base = hit->base;
    if (obs_w > hit->progress) {
        if ((rc = write_params(e, hit->base + hit->progress * pob,
                               e->bl->param[wi] + (size_t)hit->progress * pob,
                               (obs_w - hit->progress) * e->C)) < 0)
            return rc;
        hit->progress = obs_w;
    }
    return 0;
}

/*
 * Make sure what a step reads is on the device. Regions and weight sets are placed whole
 * (their room is reserved) but written as far as needed: rows up to the step's last input
 * row, output blocks up to its last; the rest follows with later steps, while earlier ones
 * compute. Extending a piece never touches what a running tile reads. A new piece must not
 * overwrite a protected one (pr may be NULL): *blocked says it could not be placed.
 */
static int load_step(struct exec *e, struct step *s, const struct prot *pr, uint64_t *budget,
                     bool *blocked)
{
    const struct plan_run *run = &e->p->runs[s->k];
    const struct plan_wset *ws = &e->p->wsets[run->wset];
    int rc;
    *blocked = false;

    if (e->in_dev) /* the chain's layer before left the whole input there */
        s->act_base = e->in_dev->base + s->b * e->in_dev->img;
    else if ((rc = load_region(e, s, pr, budget, blocked)) < 0)
        return rc;
    if (*blocked)
        return 0;
    return load_wset(e, s->g, run->wset, run->ob0 + run->n_ob - ws->ob0, pr, budget, blocked,
                     &s->wgt_base, &s->par_base);
}

/* Registers of one tile: REG_IN_H .. ACT_CB_PITCH, in one write (RUNS between them). */
#define N_TILE_REGS ((REG_ACT_CB_PITCH - REG_IN_H) / 4 + 1)

static int write_regs(struct exec *e, const struct step *s)
{
    const cbr_layer *l = e->l;
    const cbr_layer_desc *d = &l->desc;
    const struct cbr_plan *p = e->p;
    const struct plan_run *run = &p->runs[s->k];
    const struct plan_region *rg = &p->regions[run->region];
    const struct plan_wset *ws = &p->wsets[run->wset];
    const uint32_t R = e->R, C = e->C, cols = rg->ix1 - rg->ix0;

    /* The tile's first input row and column, relative to the region. */
    int64_t a = (int64_t)run->cy0 * d->stride_h - d->pad_top;
    int64_t bcol = (int64_t)run->cx0 * d->stride_w - d->pad_left;
    uint32_t pad_top = a < 0 ? (uint32_t)-a : 0, pad_left = bcol < 0 ? (uint32_t)-bcol : 0;
    const uint32_t row = first_row(e, run);
    /* Depthwise: region rows are spread over NG banks, so a tile starts at bank row
     * (row - iy0) / NG of the region (the planner aligns it: a multiple of NG), in the
     * region's block of its first channel (a region of every channel, for a kept input,
     * plan.c dw_whole; else the region holds the run's channels alone). */
    const uint32_t dw_pitch = p->depthwise ? (rg->iy1 - rg->iy0 + p->ng - 1) / p->ng * cols * R : 0;
    uint32_t act_base = s->act_base + (row - rg->iy0) / (p->depthwise ? p->ng : 1) * cols * R;
    if (p->depthwise)
        act_base += (run->ob0 * C - rg->c0) / R * dw_pitch;

    uint32_t mode = (d->act == CBR_ACT_LEAKY ? 1u : 0u) | run->acc_mode | p->pool_kind << 4 |
                    (p->depthwise ? 2u : 0u);
    uint32_t pk = 0, ps = 0, pp = 0;
    uint32_t ph = run->py1 - run->py0, pw = run->px1 - run->px0;
    if (p->pool_kind == CBR_POOL_MAX || p->pool_kind == CBR_POOL_AVG) {
        const cbr_pool *pl = &d->pool;
        pk = pl->kh | pl->kw << 8;
        ps = pl->stride_h | pl->stride_w << 8;
        uint32_t ppt = (uint32_t)((int64_t)run->cy0 - ((int64_t)run->py0 * pl->stride_h -
                                                       pl->pad_top));
        uint32_t ppl = (uint32_t)((int64_t)run->cx0 - ((int64_t)run->px0 * pl->stride_w -
                                                       pl->pad_left));
        pp = ppt | ppl << 8;
    }
    uint32_t oc = (run->ob0 + run->n_ob) * C;
    oc = (oc < p->cout ? oc : p->cout) - run->ob0 * C;
    uint32_t wob = p->depthwise ? p->dw_passes * R * C : ws->n_cb * d->kh * d->kw * R * C;
    uint32_t regs[] = {
        rg->iy1 - row, cols, p->depthwise ? run->n_ob : rg->n_cb, run->n_ob, d->kh, d->kw,
        d->stride_h | d->stride_w << 8, d->dilation_h | d->dilation_w << 8,
        pad_top | pad_left << 16, run->cy1 - run->cy0, run->cx1 - run->cx0,
        (uint32_t)d->input_zp, (uint32_t)d->output_zp,
        ((uint32_t)l->act_min & 0xFF) | ((uint32_t)l->act_max & 0xFF) << 8, mode, pk, ps, pp,
        ph | pw << 16, act_base,
        s->wgt_base + (run->ob0 - ws->ob0) * wob, s->out_base,
        s->par_base + (run->ob0 - ws->ob0) * C * PARAM_BYTES, p->depthwise ? oc : rg->nc, oc,
        0, /* RUNS: read-only, the write is ignored; it lets one packet carry the pitch too */
        p->depthwise ? dw_pitch : rg->n_cb > 1 ? rg->pitch : 0,
    };
    _Static_assert(sizeof regs == N_TILE_REGS * sizeof(uint32_t), "one value per register");
    return reg_write(e->a, REG_IN_H, regs, N_TILE_REGS, e->err, e->len);
}

/* Bytes of a step's output tile in the output buffer. */
static uint32_t out_bytes(const struct exec *e, const struct plan_run *run)
{
    return run->n_ob * (run->py1 - run->py0) * (run->px1 - run->px0) * e->C;
}

/* The output tile read last (posted), put in place once its reads are complete. */
static int finish_output(struct exec *e)
{
    if (!e->out_pending)
        return 0;
    int rc = flush(e->a, e->err, e->len);
    if (rc < 0)
        return rc;
    const struct cbr_plan *p = e->p;
    const uint32_t C = e->C;
    for (uint32_t k = 0; k < e->out_pending; k++) {
        const struct step *s = &e->out_step[k];
        const struct plan_run *run = &e->p->runs[s->k];
        const uint32_t th = run->py1 - run->py0, tw = run->px1 - run->px0;
        for (uint32_t i = 0; i < run->n_ob; i++)
            for (uint32_t j = 0; j < C; j++) {
                uint32_t o = (run->ob0 + i) * C + j;
                if (o >= p->cout)
                    break;
                int8_t *dst = e->output + (((size_t)s->b * e->out_c_total +
                                            (size_t)s->g * p->cout + o) * p->ph + run->py0) *
                                              p->pw + run->px0;
                const uint8_t *src = e->outbuf[k] + (size_t)i * th * tw * C + j;
                for (uint32_t y = 0; y < th; y++)
                    for (uint32_t x = 0; x < tw; x++)
                        dst[(size_t)y * p->pw + x] = (int8_t)src[((size_t)y * tw + x) * C];
            }
    }
    e->out_pending = 0;
    return 0;
}

/* Copy a finished step's output tile into the next layer's input on the device (run_chain):
 * output block ob is the next layer's channel block ob (C = R); a tile as wide as the plane
 * is one copy a block, else one a row, and a depthwise consumer's rows go to their banks. */
static int copy_output(struct exec *e, const struct step *s)
{
    const struct plan_run *run = &e->p->runs[s->k];
    const struct dev_tensor *t = e->out_dev;
    const uint32_t C = e->C, th = run->py1 - run->py0, tw = run->px1 - run->px0;
    const bool whole = tw == t->w && t->ng == 1;
    for (uint32_t i = 0; i < run->n_ob; i++) {
        const uint32_t src = s->out_base + i * th * tw * C;
        const uint32_t dst = t->base + s->b * t->img + (run->ob0 + i) * t->pitch;
        for (uint32_t y = 0; y < (whole ? 1 : th); y++) {
            const uint32_t py = run->py0 + y;
            const uint32_t at = (py % t->ng) * t->bank + dst +
                                (py / t->ng * t->w + run->px0) * C;
            int rc = buf_copy(e->a, BUF_OUT, src + y * tw * C, BUF_ACT, at,
                              (whole ? th : 1) * tw * C, e->err, e->len);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Read a finished step's output tile: the reads are posted, so that they stream back while
 * the next tile's writes go out; finish_output puts it in place, when a third is read or at
 * the end (two may be on the way: run_schedule's early read of a tile already done). */
static int read_output(struct exec *e, const struct step *s)
{
    const struct plan_run *run = &e->p->runs[s->k];
    if (run->acc_mode & PLAN_ACC_KEEP)
        return 0; /* partial sums: nothing was written */
    if (e->out_dev)
        return copy_output(e, s);
    int rc = e->out_pending == 2 ? finish_output(e) : 0;
    if (rc < 0)
        return rc;
    const uint32_t k = e->out_pending++;
    e->out_step[k] = *s;
    return read_paced(e->a, BUF_OUT, s->out_base, e->outbuf[k], out_bytes(e, run), e->err,
                      e->len);
}

static bool link_now(const struct exec *e, uint64_t *now);

/* Whether tile s's output can be read before the next start without holding it up: the
 * read is back, about, well before the running tile ends. Then it goes first (reads posted
 * behind the next start and the data written ahead cost polls: measured on VGG-16 conv3_2,
 * traffic ratio 1.16 instead of 1.09); otherwise it goes after the start. */
static bool read_early(const struct exec *e, const struct step *s)
{
    struct cbr_link_stats st;
    uint64_t now;
    if (!link_now(e, &now))
        return false;
    e->a->tr->ops->stats(e->a->tr, &st);
    /* a copy on the device moves copy_bytes a cycle and sends nothing back */
    const double rate = e->out_dev ? (double)e->a->copy_bytes : st.d2h_bytes_per_cycle;
    if (rate <= 0)
        return false;
    uint64_t back = now + (uint64_t)((double)out_bytes(e, &e->p->runs[s->k]) / rate) +
                    READ_EARLY_SLACK;
    return back < e->est_last;
}

/* The device's cycle count, when the transport knows it. */
static bool link_now(const struct exec *e, uint64_t *now)
{
    struct cbr_link_stats st;
    if (!e->a->tr->ops->stats || !e->a->tr->ops->idle)
        return false;
    e->a->tr->ops->stats(e->a->tr, &st);
    *now = st.cycles;
    return true;
}

/* The device cycle by which a link direction of `rate` bytes a cycle will have carried
 * `backlog` bytes more, about (st: the transport's figures now). */
static uint64_t drained_at(const struct cbr_link_stats *st, uint64_t backlog, double rate)
{
    return st->cycles + st->latency_cycles + (uint64_t)((double)backlog / rate);
}

/*
 * How many bytes may be written ahead now: what the host -> device link carries, after what
 * it holds already, until the tile queued last ends or, when later, until the device -> host
 * link has carried the answers owed so far and the rest of a paced read (the next poll is
 * answered after them, whatever goes to the device meanwhile), less a margin for the output
 * read and the next tile's registers. Written-ahead data sits in the link before the next
 * start. False when the transport cannot tell: then the count of steps (LOOKAHEAD) is the
 * only limit.
 */
static bool ahead_budget(const struct exec *e, uint64_t *bytes)
{
    struct cbr_link_stats st;
    const struct accel *a = e->a;
    if (!a->tr->ops->stats || !a->tr->ops->idle)
        return false;
    a->tr->ops->stats(a->tr, &st);
    if (st.h2d_bytes_per_cycle <= 0)
        return false;
    const uint64_t to_dev = a->sent > st.bytes_out ? a->sent - st.bytes_out : 0;
    const uint64_t busy = drained_at(&st, to_dev, st.h2d_bytes_per_cycle) +
                          (a->duplex ? WRITE_AHEAD_MARGIN_DUPLEX : WRITE_AHEAD_MARGIN);
    uint64_t until = e->est_last;
    if (st.d2h_bytes_per_cycle > 0) {
        const uint64_t owed = (a->owed > st.bytes_in ? a->owed - st.bytes_in : 0) +
                              (a->rp.n - a->rp.done);
        const uint64_t back = drained_at(&st, owed, st.d2h_bytes_per_cycle);
        if (back > until)
            until = back;
    }
    *bytes = until > busy ? (uint64_t)((double)(until - busy) * st.h2d_bytes_per_cycle) : 0;
    return true;
}

/*
 * The most cycles a tile may take on any core this driver knows, for the hang deadline
 * (wait_runs). estimate_tile's figure is cbr_core's (a beat a cycle, a drain of a cycle a
 * pixel) and can be far too low elsewhere: INFO does not say how many MACs a cycle the core
 * does, and the tiny core (docs/tiny.md, "Cycles"), which reports itself as a 4x4 array,
 * takes R cycles a beat (one array row a cycle) and drains each pixel of a block one lane at
 * a time: three reads of 2 cycles and a requantization of 1 + left + 1 + 6 + right + 1
 * cycles (shifts up to 30 and 31), at most 78 a lane, then per pooled output and lane the
 * window's positions plus 11. cbr_core, on a tile of few pixels, spends more than its
 * pixels on each pass (one (ob, cb, ky, kx)): the next pass's weights take ROWS cycles to
 * load, COLS + 2 after the pass starts, and a pixel's partial sum comes back through the
 * array (ROWS + COLS - 1) before the next pass may add to it (docs/core.md). So: R cycles a
 * beat, 2 (R + C) + 16 a pass, 128 a lane per pixel of each block, the window plus 16 a
 * lane per pooled output, 64 + R + C to start and drain the array. That is R times
 * estimate_tile's figure or more: the deadline only has to end a hang, never a slow tile.
 */
static uint64_t tile_bound(const struct exec *e, const struct plan_run *run, uint64_t beats,
                           uint64_t px)
{
    const uint64_t R = e->R, C = e->C;
    const uint64_t passes = px ? beats / px : 0;
    uint64_t t = beats * R + passes * (2 * (R + C) + 16) + px * run->n_ob * C * 128 + 64 + R + C;
    const cbr_pool *pl = &e->l->desc.pool;
    if (e->p->pool_kind != CBR_POOL_NONE) { /* CBR_POOL_NONE when the host pools */
        uint64_t pooled = (uint64_t)(run->py1 - run->py0) * (run->px1 - run->px0);
        uint64_t window = e->p->pool_kind == CBR_POOL_GAVG ? px : (uint64_t)pl->kh * pl->kw;
        t += pooled * run->n_ob * C * (window + 16);
    }
    return t;
}

/* A start was queued: when will that tile be done, about? Beats plus the drain and the
 * start-up, from when the one before it is done. */
static void estimate_tile(struct exec *e, const struct step *s)
{
    const struct plan_run *run = &e->p->runs[s->k];
    uint64_t px = (uint64_t)(run->cy1 - run->cy0) * (run->cx1 - run->cx0);
    uint64_t beats = e->p->depthwise
                         ? px * run->n_ob * e->p->dw_passes * e->l->desc.stride_w
                         : px * run->n_ob * e->p->regions[run->region].n_cb * e->l->desc.kh *
                               e->l->desc.kw;
    uint64_t now;
    if (!link_now(e, &now)) {
        /* No cycle clock (usb, pcie, serial): the same chain in wall time, at INFO's clock */
        if (e->clock_khz) {
            double now_ms = cbr_now_ms();
            e->due_take_ms = e->due_last_ms > now_ms ? e->due_last_ms : now_ms;
            e->due_last_ms = e->due_take_ms + (double)tile_bound(e, run, beats, px) /
                                                  e->clock_khz;
        }
        return;
    }
    e->est_prev = e->est_last;
    e->last_len = beats + px + 64;
    e->est_last = (e->est_last > now ? e->est_last : now) + e->last_len;
    uint64_t arrives = now;
    if (e->a->run_check) { /* the RUN was posted: it arrives behind what the link holds */
        struct cbr_link_stats st;
        e->a->tr->ops->stats(e->a->tr, &st);
        if (st.h2d_bytes_per_cycle > 0)
            arrives = drained_at(&st, e->a->sent > st.bytes_out ? e->a->sent - st.bytes_out
                                                                : 0,
                                 st.h2d_bytes_per_cycle);
    }
    e->arr_prev = e->arr_last;
    e->arr_last = (e->arr_last > arrives ? e->arr_last : arrives) + e->last_len;
    /* The start is pending in the core (RUN answered) or on its way (posted: the hang bound
     * then counts from a little early, well inside its margin): it is taken once the tile
     * before has ended. */
    e->due_take = e->due_last > now ? e->due_last : now;
    e->due_last = e->due_take + tile_bound(e, run, beats, px);
}

/*
 * A poll just answered saw the start queued last taken: time the end of its tile from when
 * it was taken, which the same read gives (CYCLES_LO: the cycles since, when the read was
 * done; the answer then crossed the link). Timed from the answer, as before,
 * each end came out late by however long after the take the poll came, the next wait polled
 * that much later, and the lag grew tile by tile until the next start went out too late: on
 * ResNet-18 layer1.0.conv1 (sim:16x16) the host learnt of a take 11 k cycles after it by the
 * last tiles, 92.4% utilization; 94.7% timed from the take, VGG-16 conv1_2 96.5% -> 99.2%.
 * The waits' chain (arr_last) takes the new end; the write-ahead budget's (est_last) only
 * when it is sooner: later, more went ahead of the next poll (sim:16x16 at 5 us: conv7.pw of
 * MobileNetV1 67.2% instead of 69.4%). running: that tile had not finished (a finished
 * tile's CYCLES stopped at its end; it is over by now).
 */
static void anchor_tile(struct exec *e, uint32_t cycles, bool running)
{
    struct cbr_link_stats st;
    e->a->tr->ops->stats(e->a->tr, &st);
    const uint64_t now = st.cycles;
    uint64_t back = st.latency_cycles; /* the answer: a header, 4 words and a CRC */
    if (st.d2h_bytes_per_cycle > 0)
        back += (uint64_t)((CBR_PROTO_HDR + 4 + 16) / st.d2h_bytes_per_cycle);
    uint64_t read_at = now > back ? now - back : 0;
    uint64_t end = now;
    if (running)
        end = (read_at > cycles ? read_at - cycles : 0) + e->last_len;
    end = end > now ? end : now;
    e->arr_last = end;
    if (end < e->est_last)
        e->est_last = end;
}

/* Cycles a wait may go past its bound before the core is taken as hung: the host's buffer
 * accesses delay a core with single-port buffers (the tiny core) a cycle a 32-bit word, and
 * during one wait the host writes ahead and reads back at most what the buffers hold; plus
 * HANG_SLACK for the polls and what the bound leaves out. The tiny core: 47 k cycles, about
 * 11 s of the Icarus board; a 16x16 cbr_core: 330 k. */
static uint64_t hang_margin(const struct exec *e)
{
    const struct cbr_caps *c = &e->bl->caps;
    return ((uint64_t)c->act_bytes + c->wgt_bytes + c->out_bytes +
            (uint64_t)c->param_entries * PARAM_BYTES) / 4 + HANG_SLACK;
}

/*
 * The same in wall time, for links without a cycle clock: ms a wait may go past its bound
 * (due_ms), or past its own start (now_ms) when that is later (the host's writes ahead took
 * longer than the tiles). The bound is at INFO's clock, but the link adds what the cycles
 * leave out: the host's writes ahead and output reads queued before the polls (at most the buffers: a whole 64 KiB buffer over the 3 Mbaud UART is ~0.2 s; a
 * 16x16 board's ~1.3 MB over USB 2 or PCIe, tens of ms), the polls themselves, a busy host
 * and a board clocked slower than it says; so 2x the remaining bound plus HANG_SLACK_MS,
 * and never less than a request's timeout ($CBR_TIMEOUT_MS, or what the link stretched it
 * to: a poll is a request and may take that long). $CBR_TIMEOUT_MS thus only lengthens it.
 */
#define HANG_SLACK_MS 5000.0

static double hang_margin_ms(const struct exec *e, double due_ms, double now_ms)
{
    double m = HANG_SLACK_MS + 2 * (due_ms > now_ms ? due_ms - now_ms : 0);
    return m > e->a->timeout_ms ? m : e->a->timeout_ms;
}

/* Wait until the core has taken `count` starts of this layer and finished the tiles before
 * the last of them (a later start being taken means that on a core without DONES; with it,
 * the tile before may still be draining its outputs, so DONES must count it too), or, with
 * all, until it is idle and done. While the
 * tile should still be running, let the time pass without polling: polls would load the
 * link that the next tile's data needs.
 *
 * A core that hangs (an X in a 4-state simulation, a stuck board) still answers every
 * poll, so no request times out. Where the transport counts device cycles, the wait ends
 * hang_margin cycles after the awaited event's bound (due_take or due_last: tile_bound per
 * tile, chained from when each RUN was answered). Links that cannot count cycles (usb,
 * pcie, serial) run the same chain in wall time at INFO's clock (estimate_tile) and give up
 * hang_margin_ms past it. RUN_TIMEOUT_MS stays as the cap, and the only deadline when INFO
 * gives no clock. */
static int wait_runs(struct exec *e, uint32_t count, bool all)
{
    const double ms0 = cbr_now_ms();
    double deadline = ms0 + RUN_TIMEOUT_MS;
    /* tile (1-based, of this layer) whose end is awaited: start `count` is taken when the
     * one before it ends */
    const uint32_t tile = all ? count : count - 1;
    uint64_t now, t0 = 0, backoff = 32, due = 0, margin = 0;
    const bool clocked = link_now(e, &now);
    const double due_ms = all ? e->due_last_ms : e->due_take_ms;
    double margin_ms = 0;
    if (!clocked && e->clock_khz) {
        /* from the bound, or from now when the host's own writes ahead took past it: the
         * link's time is the host's, not the core's */
        margin_ms = hang_margin_ms(e, due_ms, ms0);
        double at = (due_ms > ms0 ? due_ms : ms0) + margin_ms;
        if (at < deadline)
            deadline = at;
    }
    if (clocked) {
        uint64_t target = all ? e->est_last : e->est_prev;
        const uint64_t arrived = all ? e->arr_last : e->arr_prev;
        target = arrived > target ? arrived : target;
        t0 = now;
        due = all ? e->due_last : e->due_take;
        margin = hang_margin(e);
        /* The link's idle stops at an answer: take those of the posted requests as they
         * come, and idle on to the estimate. Polling there instead (a posted RUN leaves more
         * answers owed here) polled about ten times a tile on VGG-16 conv1_2. */
        while (target > now) {
            e->a->tr->ops->idle(e->a->tr, target - now);
            if (!e->a->win_n || !link_now(e, &now) || now >= target)
                break;
            int rc = complete_oldest(e->a, e->err, e->len);
            if (rc < 0)
                return rc;
            link_now(e, &now);
        }
    }
    /* the poll that sees the queued tile taken also says when (anchor_tile) */
    const bool anchor = clocked && !all && e->dones && e->tile_cycles;
    for (bool first = true;; first = false) {
        if (!first && clocked) {
            e->a->tr->ops->idle(e->a->tr, backoff);
            backoff = backoff < 4096 ? backoff * 2 : backoff;
        }
        /* CTRL only when waiting for the end (RUNS, and DONES, say a tile was taken) */
        uint32_t ctrl = 0, rd[4] = {0, 0, 0, 0};
        int rc = all ? reg_read(e->a, REG_CTRL, &ctrl, 1, e->err, e->len) : 0;
        if (rc == 0) /* RUNS, ACT_CB_PITCH, DONES, CYCLES_LO */
            rc = reg_read(e->a, REG_RUNS, rd, anchor ? 4 : e->dones ? 3 : 1, e->err, e->len);
        if (rc < 0)
            return rc;
        uint32_t took = rd[0] - e->runs0, done = rd[2] - e->dones0;
        if (took >= count && (all ? (ctrl & CTRL_DONE) && !(ctrl & CTRL_START)
                                  : !e->dones || done + 1 >= count)) {
            /* The tile queued last has been taken, so it ends by its take plus its length
             * (anchor_tile), or now plus its length at the latest where the core does not
             * say when it took it: the estimates chain tile after tile from each RUN, and a
             * length estimated long (conv0 of MobileNetV1: 10.1 k cycles for 9.1 k) would
             * otherwise push every later one further out, and the waits, reads and writes
             * ahead timed by them with it (conv0 15.9% -> 16.5% utilization on sim:16x16). */
            if (anchor)
                anchor_tile(e, rd[3], took == count && done < count);
            else if (clocked && !all && link_now(e, &now) && now + e->last_len < e->est_last)
                e->est_last = now + e->last_len;
            return 0;
        }
        if (e->ending && clocked && e->tile_cycles && took >= count) {
            /* The last tile runs, and nothing overlaps its end: ask how far it is (its own
             * CYCLES counter) and wait about the rest, instead of backing off further (up to
             * 4096 cycles late; measured on ResNet-18 layer2.0.conv1: 84.6% utilization
             * instead of 83.8%, and no more polls) */
            uint32_t c[2];
            if ((rc = reg_read(e->a, REG_COUNTERS, c, 2, e->err, e->len)) < 0)
                return rc;
            uint64_t ran = (uint64_t)c[0] | (uint64_t)c[1] << 32;
            backoff = ran + 64 < e->last_len ? e->last_len - ran : 64;
        }
        /* hung: past the deadline in device cycles, or in wall time on a link without them */
        char waited[256] = "";
        double ms = cbr_now_ms();
        if (clocked && link_now(e, &now) && now > due + margin)
            snprintf(waited, sizeof waited, "waited %llu device cycles, to cycle %llu; it "
                     "should have ended by about cycle %llu, by cycle %llu at the latest, "
                     "plus a margin of %llu",
                     (unsigned long long)(now - t0), (unsigned long long)now,
                     (unsigned long long)(all ? e->est_last : e->est_prev),
                     (unsigned long long)due, (unsigned long long)margin);
        else if (ms > deadline && margin_ms > 0)
            snprintf(waited, sizeof waited, "waited %.0f ms; at INFO's clock of %u kHz it "
                     "should have ended %.0f ms into the wait at the latest, plus a margin of "
                     "%.0f ms for the link",
                     ms - ms0, e->clock_khz, due_ms > ms0 ? due_ms - ms0 : 0, margin_ms);
        if (*waited) {
            char ignore[CBR_ERRMSG_MAX];
            if (!all) /* CTRL too, for the message (0 if that read fails) */
                reg_read(e->a, REG_CTRL, &ctrl, 1, ignore, sizeof ignore);
            char fin[32] = ""; /* cores without DONES do not say */
            if (e->dones)
                snprintf(fin, sizeof fin, ", %u finished", done);
            return cbr_errf(e->err, e->len, CBR_ETIMEDOUT, "the core did not finish tile %u "
                            "of the layer: %s (CTRL = 0x%x, RUNS = %u: of the layer's %u "
                            "starts queued, %u taken%s)",
                            tile, waited, ctrl, rd[0], count, took, fin);
        }
        if (ms > deadline)
            return cbr_errf(e->err, e->len, CBR_ETIMEDOUT, "the core did not finish tile %u of "
                        "the layer within %d s (CTRL = 0x%x, %u tiles started)", tile,
                        RUN_TIMEOUT_MS / 1000, ctrl, took);
    }
}

/* The first n TOTAL_* counters (1: TOTAL_CYCLES alone) into t[0..n-1]. */
static int read_totals(struct accel *a, uint64_t t[N_COUNTERS], int n, char *err, size_t len)
{
    uint32_t c[2 * N_COUNTERS];
    int rc = reg_read(a, REG_TOTALS, c, 2 * (uint32_t)n, err, len);
    for (int i = 0; rc == 0 && i < n; i++)
        t[i] = (uint64_t)c[2 * i] | (uint64_t)c[2 * i + 1] << 32;
    return rc;
}

/* Protect the pieces of step t. */
static void prot_step(const struct exec *e, struct prot *p, const struct step *t)
{
    const struct plan_run *run = &e->p->runs[t->k];
    const struct plan_wset *ws = &e->p->wsets[run->wset];
    const struct plan_region *rg = &e->p->regions[run->region];
    prot_add(p, P_ACT, t->act_base, rg->bytes);
    if (e->p->depthwise || e->in_dev || p->n_rows == sizeof p->rows / sizeof p->rows[0]) {
        p->whole_act = true;
    } else {
        const uint32_t row_bytes = (rg->ix1 - rg->ix0) * e->R;
        const uint32_t r0 = first_row(e, run) - rg->iy0, r1 = rows_needed(e, run);
        if (r1 > r0)
            p->rows[p->n_rows++] = (struct prot_rows){t->act_base + r0 * row_bytes,
                                                       (r1 - r0) * row_bytes, rg->n_cb,
                                                       rg->pitch};
    }
    prot_add(p, P_WGT, t->wgt_base, ws->bytes);
    prot_add(p, P_PAR, t->par_base, ws->param_bytes);
}

static struct step step_at(const struct exec *e, uint64_t i)
{
    const uint32_t G = e->bl->groups, nr = e->p->n_runs;
    return (struct step){.b = (uint32_t)(i / ((uint64_t)G * nr)),
                         .g = (uint32_t)(i / nr % G), .k = (uint32_t)(i % nr)};
}

#define LOOKAHEAD 8 /* steps whose data is written ahead while the running tile lasts */

/*
 * Whether step s, the layer's tile `count`, and those before it are done and every start
 * queued is taken, asked right after a start was queued, when the estimates say that s has
 * ended: where the link is the limit, a tile's start waits for the data of the one after it,
 * and the tile is done by the time that start is queued. Then its output goes at once,
 * behind the one before it, instead of after the next poll, which would come behind the data
 * written ahead meanwhile while the link back idles; and the next start needs no poll
 * (sim:16x16, seed 1: MobileNetV1 conv1.dw 275.2 k -> 260.7 k cycles, conv5.dw 158.0 k ->
 * 147.0 k). Only on cores that count finished tiles (DONES), over a link that counts
 * cycles, and for outputs that go to the host.
 */
static int done_by_now(struct exec *e, const struct step *s, uint32_t count, bool *done)
{
    uint64_t now;
    *done = false;
    if (!e->dones || e->out_dev || !link_now(e, &now) || now < e->est_prev)
        return 0;
    /* ... and only where reading the tile takes longer than the tile queued after it: the
     * next start then waits for this read too (a RUN waits for every answer before it),
     * which the core can afford only where the link is the limit (MobileNetV1 conv3.pw,
     * where both take 7 k cycles: 304.8 k -> 313.0 k cycles with the early read) */
    struct cbr_link_stats st;
    e->a->tr->ops->stats(e->a->tr, &st);
    if (st.d2h_bytes_per_cycle <= 0 ||
        (double)out_bytes(e, &e->p->runs[s->k]) / st.d2h_bytes_per_cycle < (double)e->last_len)
        return 0;
    uint32_t rd[3];
    int rc = reg_read(e->a, REG_RUNS, rd, 3, e->err, e->len); /* RUNS, ACT_CB_PITCH, DONES */
    if (rc == 0)
        *done = rd[2] - e->dones0 >= count && rd[0] - e->runs0 >= e->started;
    return rc;
}

/*
 * Write the first weight set of the chain's next layer, and its parameters, into room of the
 * weight and parameter buffers that no remaining tile of this layer reads (pr protects all of
 * them), as far as *budget allows when given (NULL: all). Each call goes on where the one
 * before stopped. The next layer's run finds them in place (chain_io.pre), so its first
 * tiles need not wait for them: a MobileNetV1 depthwise layer's 14 KiB of weights go while
 * the pointwise layer before it computes, which leaves the link half idle (sim:16x16 at
 * 400 MB/s: conv7.dw in 12.3 k cycles instead of 20.0 k). first: only the blocks the next
 * layer's first tile needs, else its whole first weight set.
 */
static int prefetch_next(struct exec *e, const struct prot *pr, uint64_t *budget, bool first)
{
    struct exec *nx = e->ahead;
    if (!nx || (budget && !*budget))
        return 0;
    const struct plan_run *run = &nx->p->runs[0];
    const struct plan_wset *ws = &nx->p->wsets[run->wset];
    const uint64_t sent = e->a->sent;
    bool blocked = false;
    uint32_t wgt_base, par_base;
    int rc = load_wset(nx, 0, run->wset, first ? run->ob0 + run->n_ob - ws->ob0 : ws->n_ob, pr,
                       budget, &blocked, &wgt_base, &par_base);
    nx->written_ahead += e->a->sent - sent;
    return rc;
}

/*
 * The schedule, pipelined. Tile i runs while the host writes tile i+1's data into places
 * tile i does not read, writes its registers and queues its start (the core takes it the
 * cycle tile i is done), reads tile i-1's output (before or after that start), then writes
 * ahead the data of the next few tiles as far as it fits beside the protected pieces.
 * Tiles take the output slots in turn (plan.h): tile i+1 writes a slot that neither tile i
 * nor tile i-1 holds, so the read of tile i-1 is posted after the start of tile i+1 when it
 * would hold that start up (read_early). The start of tile i+2, whose slot is tile i-1's,
 * waits for that read: a RUN waits for everything before it.
 */
static int run_schedule(struct exec *e, uint32_t n)
{
    const uint64_t total = (uint64_t)n * e->bl->groups * e->p->n_runs;
    struct step cur = step_at(e, 0), prev = {0}, next;
    bool have_prev = false, blocked;
    int rc;
    if ((rc = load_step(e, &cur, NULL, NULL, &blocked)) < 0)
        return rc;
    cur.out_base = 0;
    if ((rc = write_regs(e, &cur)) < 0 ||
        (rc = start_core(e->a, e->runs0 + e->started, e->err, e->len)) < 0)
        return rc;
    e->started++;
    estimate_tile(e, &cur);
    for (uint64_t i = 0;; i++) {
        /* cur (tile i) is queued or running; prev (tile i-1), when have_prev, may be running
         * and its output is unread. Tile i+1 may be queued once tile i is taken. */
        if (have_prev && (rc = wait_runs(e, e->started, false)) < 0)
            return rc;
        if (i + 1 == total) {
            /* the last tile runs: tile i-1's output is read meanwhile, then what the next
             * layer's first tile needs of its weights, as far as the link carries before
             * this tile ends; where the transport cannot tell, all of it (only this tile's
             * output waits behind it, and the next layer's first tile needs both) */
            if (have_prev && (rc = read_output(e, &prev)) < 0)
                return rc;
            have_prev = false;
            struct prot last = {0};
            uint64_t budget;
            prot_step(e, &last, &cur);
            if ((rc = prefetch_next(e, &last, ahead_budget(e, &budget) ? &budget : NULL,
                                    true)) < 0)
                return rc;
            break;
        }
        if (have_prev && read_early(e, &prev)) {
            if ((rc = read_output(e, &prev)) < 0)
                return rc;
            have_prev = false;
        }
        bool cur_read = false;
        struct prot pr = {0};
        prot_step(e, &pr, &cur);
        next = step_at(e, i + 1);
        if ((rc = load_step(e, &next, &pr, NULL, &blocked)) < 0)
            return rc;
        if (blocked) {
            /* next needs what cur reads replaced: let cur finish first */
            if ((rc = wait_runs(e, e->started, true)) < 0 ||
                (have_prev && (rc = read_output(e, &prev)) < 0) ||
                (rc = read_output(e, &cur)) < 0 ||
                (rc = load_step(e, &next, NULL, NULL, &blocked)) < 0)
                return rc;
            have_prev = false;
            cur_read = true;
        }
        next.out_base = (uint32_t)((i + 1) % PLAN_OUT_SLOTS) * e->out_slot;
        if ((rc = write_regs(e, &next)) < 0 ||
            (rc = start_core(e->a, e->runs0 + e->started, e->err, e->len)) < 0)
            return rc;
        e->started++;
        estimate_tile(e, &next);
        bool cur_done = false;
        if (!cur_read && (rc = done_by_now(e, &cur, e->started - 1, &cur_done)) < 0)
            return rc;
        if (have_prev && (rc = read_output(e, &prev)) < 0)
            return rc;
        if (cur_done) {
            if ((rc = read_output(e, &cur)) < 0)
                return rc;
            cur_read = true;
        }
        /* write ahead */
        if (!cur_read)
            prot_step(e, &pr, &cur);
        prot_step(e, &pr, &next);
        uint64_t j = i + 2;
        for (; j < total && j <= i + 1 + LOOKAHEAD; j++) {
            /* The step after next goes whole: its start follows its data on the link
             * whatever comes first. Beyond it, only what the link carries before the tile
             * queued last ends, or the start after next would wait for it. */
            uint64_t budget, *bp = j > i + 2 && ahead_budget(e, &budget) ? &budget : NULL;
            if (bp && !budget)
                break; /* more would hold up the start of the tile after next */
            struct step t = step_at(e, j);
            if ((rc = load_step(e, &t, &pr, bp, &blocked)) < 0)
                return rc;
            if (blocked)
                break;
            prot_step(e, &pr, &t);
        }
        /* Everything this layer still reads is placed and protected: the next layer's
         * first weights may go beside it, in what the link carries before the tile queued
         * last ends (where the transport can tell; else with the last tile, above). */
        uint64_t budget;
        if (j >= total && e->ahead && ahead_budget(e, &budget) &&
            (rc = prefetch_next(e, &pr, &budget, false)) < 0)
            return rc;
        prev = cur;
        have_prev = !cur_read;
        cur = next;
    }
    e->ending = true;
    if ((rc = wait_runs(e, e->started, true)) < 0 || (rc = read_output(e, &cur)) < 0)
        return rc;
    if (e->out_dev)
        return flush(e->a, e->err, e->len); /* the copies are done, and went well */
    /* The layer is done: while its last output comes back, more of what the next layer's
     * first tile needs goes the other way, as far as that read lasts (nothing of this layer
     * is in the way now) */
    uint64_t budget;
    struct prot none = {0};
    if (ahead_budget(e, &budget) && (rc = prefetch_next(e, &none, &budget, true)) < 0)
        return rc;
    return finish_output(e);
}

static int run_stacked(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                       int8_t *output, cbr_stats *st, char *err, size_t len);

/* Bytes of the plan's largest region. */
static uint32_t largest_region(const struct cbr_plan *p)
{
    uint32_t most = 0;
    for (uint32_t r = 0; r < p->n_regions; r++)
        most = p->regions[r].bytes > most ? p->regions[r].bytes : most;
    return most;
}

/* Where a layer of a chain finds its input and leaves its output (run_chain); NULL, or
 * zeros: the host's. act_size: the activation buffer the layer's own regions may use (its
 * halves, per bank when depthwise), below a tensor kept for the next layer. */
struct chain_io {
    const struct dev_tensor *in_dev, *out_dev;
    uint32_t act_size;
    const struct cbr_plan *plan; /* the plan to run by (kept_plan), with the MACs the device
                                    counts for it; NULL: the layer's */
    uint64_t macs;
    struct exec *ahead;      /* the next layer, for prefetch_next (NULL: none) */
    const struct exec *pre;  /* this layer, as the layer before left it (its weights written
                                ahead), or NULL */
};

static int run_layer(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                     int8_t *output, const struct chain_io *io, cbr_stats *st, char *err,
                     size_t len);

/* What every run of layer l (as the board runs it: folded when it folds) by plan p starts
 * with: the device, and empty buffers of the sizes the plan assumed. */
static void exec_init(struct exec *e, cbr_device *dev, const cbr_layer *l,
                      const struct cbr_plan *p, char *err, size_t len)
{
    const struct board_layer *bl = l->priv;
    *e = (struct exec){
        .a = dev->priv, .l = bl->fold ? &bl->folded : l, .bl = bl, .p = p,
        .R = dev->info.rows, .C = dev->info.cols, .err = err, .len = len,
        .act = {.size = p->depthwise ? bl->caps.act_bytes / p->ng : bl->caps.act_bytes},
        .wgt = {.size = bl->caps.wgt_bytes},
        .par = {.size = bl->caps.param_entries * PARAM_BYTES},
        .out_slot = cbr_plan_out_slot(&bl->caps),
        .scatter = (dev->info.features & CBR_FEAT_SCATTER) != 0,
        .act_bank = p->depthwise ? dev->info.act_buf_bytes / p->ng : 0,
        .clock_khz = dev->info.clock_khz,
    };
    for (int i = 0; i < 2; i++)
        e->act.s[i].id = e->wgt.s[i].id = e->par.s[i].id = -1;
    e->act.retired.id = e->wgt.retired.id = e->par.retired.id = -1;
}

static int accel_run(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                     int8_t *output, cbr_stats *st, char *err, size_t len)
{
    return run_layer(dev, l, n, input, output, NULL, st, err, len);
}

static int run_layer(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                     int8_t *output, const struct chain_io *io, cbr_stats *st, char *err,
                     size_t len)
{
    struct accel *a = dev->priv;
    const struct board_layer *bl = l->priv;
    const struct chain_io host = {0};
    const struct cbr_host_clock clock0 = cbr_host_clock_now();
    if (!io)
        io = &host;
    if (bl->stack_rows && n > 1 && !io->in_dev && !io->out_dev)
        return run_stacked(dev, l, n, input, output, st, err, len);
    const struct cbr_plan *p = io->plan ? io->plan : bl->plan;
    const uint64_t device_macs = io->plan ? io->macs : bl->device_macs;
    const cbr_layer *orig = l;
    int8_t *folded_in = NULL;
    if (bl->kw_fold || bl->skip_h || bl->skip_w) {
        folded_in = bl->kw_fold ? fold_input(l, n, input) : skip_input(l, bl, n, input);
        if (!folded_in)
            return cbr_errf(err, len, CBR_ENOMEM, "out of memory for the rearranged input");
        input = folded_in;
    }
    if (bl->fold)
        l = &bl->folded;
    const cbr_layer_desc *d = &l->desc;
    struct exec e;
    exec_init(&e, dev, orig, p, err, len);
    e.input = input;
    e.output = output;
    e.out_c_total = d->out_c;
    if (io->act_size)
        e.act.size = io->act_size;
    e.in_dev = io->in_dev;
    e.out_dev = io->out_dev;
    if (io->pre) { /* its first weights, written while the layer before ran */
        e.wgt = io->pre->wgt;
        e.par = io->pre->par;
    }
    e.ahead = io->ahead;
    uint32_t max_region = largest_region(p), max_out = 0;
    for (uint32_t k = 0; k < p->n_runs; k++) {
        uint32_t b = out_bytes(&e, &p->runs[k]);
        max_out = b > max_out ? b : max_out;
    }
    int8_t *conv = NULL;
    if (p->host_pool) {
        conv = malloc((size_t)n * d->out_c * p->oh * p->ow);
        e.output = conv;
    }
    e.stage = malloc(max_region ? max_region : 1);
    e.outbuf[0] = malloc(max_out ? max_out : 1);
    e.outbuf[1] = malloc(max_out ? max_out : 1);
    uint64_t t0[N_COUNTERS], t1[N_COUNTERS];
    struct cbr_link_stats before = {0}, after = {0};
    int rc = 0;
    if (!e.stage || !e.outbuf[0] || !e.outbuf[1] || (p->host_pool && !conv)) {
        rc = cbr_errf(err, len, CBR_ENOMEM, "out of memory");
        goto out_free;
    }
    /* A device without counters (FEATURES bit 5 clear) reads 0 there: its core figures stay 0
     * and its MAC count is not checked. One with the cycle counters only (bit 8, e.g. the
     * iCEBreaker image) has TOTAL_CYCLES: core_cycles is read, the rest stays 0. */
    const bool counted = (dev->info.features & CBR_FEAT_COUNTERS) != 0;
    const int n_totals = counted ? N_COUNTERS : (dev->info.features & CBR_FEAT_CYCLES) ? 1 : 0;
    e.tile_cycles = counted;
    e.dones = (dev->info.features & CBR_FEAT_DONES) != 0;
    uint32_t rd[3] = {0, 0, 0}; /* RUNS, ACT_CB_PITCH, DONES */
    memset(t0, 0, sizeof t0);
    memset(t1, 0, sizeof t1);
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &before);
    const double ms0 = cbr_now_ms();
    if ((n_totals && (rc = read_totals(a, t0, n_totals, err, len)) < 0) ||
        (rc = reg_read(a, REG_RUNS, rd, e.dones ? 3 : 1, err, len)) < 0)
        goto out_free;
    e.runs0 = rd[0];
    e.dones0 = rd[2];
    rc = run_schedule(&e, n);
    if (rc < 0) {
        reset_board(a); /* abort what may still run; the next layer starts clean */
        goto out_free;
    }
    if (n_totals && (rc = read_totals(a, t1, n_totals, err, len)) < 0)
        goto out_free;
    const double ms1 = cbr_now_ms();
    if (a->tr->ops->stats)
        a->tr->ops->stats(a->tr, &after);
    if (p->host_pool)
        cbr_golden_pool(&d->pool, n, d->out_c, p->oh, p->ow, conv, output);
    st->macs = cbr_layer_macs(orig, n);
    st->bytes_compulsory = cbr_layer_compulsory_bytes(orig, n);
    st->cycles = after.cycles - before.cycles;
    /* A real link cannot count device cycles: the wall time in cycles of the device's clock,
     * so utilization and link stalls mean what they mean on the simulator. */
    if (!st->cycles && dev->info.clock_khz && ms1 > ms0)
        st->cycles = (uint64_t)((ms1 - ms0) * dev->info.clock_khz + 0.5);
    st->core_cycles = t1[0] - t0[0];
    st->link_stall_cycles = st->cycles > st->core_cycles ? st->cycles - st->core_cycles : 0;
    st->bytes_to_device = after.bytes_out - before.bytes_out;
    /* the next layer's weights sent during this one count as the next layer's */
    if (io->ahead)
        st->bytes_to_device -= io->ahead->written_ahead < st->bytes_to_device
                               ? io->ahead->written_ahead : st->bytes_to_device;
    if (io->pre) {
        st->bytes_to_device += io->pre->written_ahead;
        st->bytes_ahead = io->pre->written_ahead;
    }
    st->bytes_from_device = after.bytes_in - before.bytes_in;
    st->busy_cycles = t1[1] - t0[1];
    st->stall_in_cycles = t1[3] - t0[3];
    st->stall_out_cycles = t1[4] - t0[4];
    st->array_rows = dev->info.rows;
    st->array_cols = dev->info.cols;
    st->tiles = e.started;
    st->model_seconds = after.model_seconds - before.model_seconds;
    st->host_seconds = cbr_host_seconds_since(clock0, st->model_seconds);
    st->resident = (io->in_dev ? CBR_RESIDENT_INPUT : 0u) | (io->out_dev ? CBR_RESIDENT_OUTPUT : 0u);
    /* A tensor kept on the device need not cross the link. */
    if (io->in_dev)
        st->bytes_compulsory -= (uint64_t)n * orig->desc.in_c * orig->desc.in_h * orig->desc.in_w;
    if (io->out_dev)
        st->bytes_compulsory -= (uint64_t)n * orig->desc.out_c * orig->out_h * orig->out_w;
    if (counted && t1[2] - t0[2] != device_macs * n * bl->groups)
        rc = cbr_errf(err, len, CBR_EPROTO, "the device counted %llu MACs for tiles of %llu",
                  (unsigned long long)(t1[2] - t0[2]),
                  (unsigned long long)(device_macs * n * bl->groups));
out_free:
    a->rp.n = a->rp.done = 0; /* (posted whole by now, or forgotten with the window) */
    free(folded_in);
    free(conv);
    free(e.stage);
    free(e.outbuf[0]);
    free(e.outbuf[1]);
    return rc;
}

/* n images of l as jobs of bl->stack_k stacked ones (image stacking, above). */
static int run_stacked(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *input,
                       int8_t *output, cbr_stats *st, char *err, size_t len)
{
    struct board_layer *bl = l->priv;
    const cbr_layer_desc *d = &l->desc;
    const uint32_t P = bl->stack_rows, H = d->in_h, W = d->in_w, C = d->in_c, O = d->out_c;
    /* the fewest jobs of at most CBR_MAX_DIM rows, as even as can be */
    const uint32_t kmax = (CBR_MAX_DIM - H) / P + 1, jobs = (n + kmax - 1) / kmax;
    const uint32_t k = (n + jobs - 1) / jobs;
    int rc;
    if ((!bl->stacked || bl->stack_k != k) && (rc = make_stack(dev, l, bl, k, err, len)) < 0)
        return rc;
    const cbr_layer *s = bl->stacked;
    const uint32_t q = bl->stack_q;
    const size_t in_img = (size_t)C * H * W, in_job = (size_t)C * s->desc.in_h * W;
    const size_t out_img = (size_t)O * l->out_h * l->out_w;
    const size_t out_job = (size_t)O * s->out_h * s->out_w;
    int8_t *sx = malloc(in_job * jobs), *sy = malloc(out_job * jobs);
    if (!sx || !sy) {
        free(sx);
        free(sy);
        return cbr_errf(err, len, CBR_ENOMEM, "out of memory for the stacked images");
    }
    /* the rows between images, and the slots of the last job no image fills: padding */
    memset(sx, (int8_t)d->input_zp, in_job * jobs);
    for (uint32_t b = 0; b < n; b++)
        for (uint32_t c = 0; c < C; c++)
            memcpy(sx + (b / k) * in_job + ((size_t)c * s->desc.in_h + (size_t)(b % k) * P) * W,
                   input + b * in_img + (size_t)c * H * W, (size_t)H * W);
    rc = accel_run(dev, s, jobs, sx, sy, st, err, len);
    if (rc == 0) {
        for (uint32_t b = 0; b < n; b++)
            for (uint32_t o = 0; o < O; o++)
                memcpy(output + b * out_img + (size_t)o * l->out_h * l->out_w,
                       sy + (b / k) * out_job +
                           ((size_t)o * s->out_h + (size_t)(b % k) * q) * s->out_w,
                       (size_t)l->out_h * l->out_w);
        st->macs = cbr_layer_macs(l, n);
        st->bytes_compulsory = cbr_layer_compulsory_bytes(l, n);
    }
    free(sx);
    free(sy);
    return rc;
}

/* ---- chains: intermediates on the device ------------------------------------------------ */

#define MAX_SPANS 16 /* activation banks a kept tensor may span (NG = ROWS / 4) */

/* Byte ranges [lo, hi) of the activation buffer. */
struct spans {
    uint32_t n;
    uint32_t lo[MAX_SPANS], hi[MAX_SPANS];
};

/* The ranges tensor t takes for n images. */
static void tensor_spans(const struct dev_tensor *t, uint32_t n, struct spans *sp)
{
    sp->n = t->ng;
    for (uint32_t k = 0; k < t->ng; k++) {
        sp->lo[k] = k * t->bank + t->base;
        sp->hi[k] = sp->lo[k] + n * t->img;
    }
}

static bool spans_meet(const struct spans *x, const struct spans *y)
{
    for (uint32_t i = 0; i < x->n; i++)
        for (uint32_t j = 0; j < y->n; j++)
            if (overlap(x->lo[i], x->hi[i] - x->lo[i], y->lo[j], y->hi[j] - y->lo[j]))
                return true;
    return false;
}

/* The largest size s (a multiple of 2 * R, so its halves stay aligned) such that a layer's
 * own regions, in [k * stride, k * stride + s) for each of its ng banks, meet nothing of
 * sp; at most limit. */
static uint32_t free_prefix(const struct spans *sp, uint32_t ng, uint32_t stride,
                            uint32_t limit, uint32_t R)
{
    uint32_t s = limit;
    for (uint32_t k = 0; k < ng; k++)
        for (uint32_t i = 0; i < sp->n; i++) {
            uint32_t at = k * stride;
            if (sp->hi[i] <= at)
                continue;
            s = sp->lo[i] <= at ? 0 : sp->lo[i] - at < s ? sp->lo[i] - at : s;
        }
    return s / (2 * R) * (2 * R);
}

static const struct cbr_plan *kept_plan(const cbr_layer *l, uint64_t *macs);

/*
 * The bytes plan p sends to the device (input regions and weight sets; parameters go with
 * their sets), counted as the driver keeps them: the last two regions and the last two
 * weight sets stay where both fit half their buffer (one larger than half has it alone). An
 * estimate, to compare two plans of one layer by (keep_extra).
 */
static uint64_t plan_sent(const struct cbr_plan *p, const struct cbr_caps *k)
{
    uint64_t sent = 0;
    int64_t reg[2] = {-1, -1}, ws[2] = {-1, -1};
    const uint32_t act = p->depthwise ? k->act_bytes / p->ng : k->act_bytes;
    for (uint32_t i = 0; i < p->n_runs; i++) {
        const struct plan_run *r = &p->runs[i];
        const struct plan_region *rg = &p->regions[r->region];
        const struct plan_wset *w = &p->wsets[r->wset];
        if (reg[0] != r->region && reg[1] != r->region) {
            sent += (uint64_t)rg->bytes * (p->depthwise ? p->ng : 1);
            reg[1] = rg->bytes > act / 2 ||
                     (reg[0] >= 0 && p->regions[reg[0]].bytes > act / 2) ? -1 : reg[0];
            reg[0] = r->region;
        } else if (reg[1] == r->region) {
            reg[1] = reg[0];
            reg[0] = r->region;
        }
        if (ws[0] != r->wset && ws[1] != r->wset) {
            sent += (uint64_t)w->bytes + w->param_bytes;
            ws[1] = w->bytes > k->wgt_bytes / 2 ||
                    (ws[0] >= 0 && p->wsets[ws[0]].bytes > k->wgt_bytes / 2) ? -1 : ws[0];
            ws[0] = r->wset;
        } else if (ws[1] == r->wset) {
            ws[1] = ws[0];
            ws[0] = r->wset;
        }
    }
    return sent;
}

/*
 * The bytes of requests the copies of a kept output (copy_output) send beyond the output
 * reads they replace, an image: a copy a block of each tile (a row of it where the tile is
 * narrower than the plane or the consumer is depthwise) against a read a tile (keep_extra).
 */
static uint64_t copy_extra(const struct cbr_plan *p, const struct dev_tensor *t)
{
    uint64_t packets = 0;
    for (uint32_t k = 0; k < p->n_runs; k++) {
        const struct plan_run *r = &p->runs[k];
        if (r->acc_mode & PLAN_ACC_KEEP)
            continue; /* partial sums: nothing is copied */
        const bool whole = r->px1 - r->px0 == t->w && t->ng == 1;
        packets += (uint64_t)r->n_ob * (whole ? 1 : r->py1 - r->py0) - 1;
    }
    return packets * CBR_PROTO_HDR;
}

/*
 * The bytes keeping layer l's output (tensor t, batch n) sends the device beyond what l
 * sends with its output going to the host: the copies' requests (copy_extra), and unless
 * l's input is itself kept (in_kept: l sends none), what l's plan for the room left beside
 * the tensor (size bytes a bank: fit, or its own plan in smaller halves) sends beyond its
 * plan in the whole buffer (plan_sent). plan_chain keeps the tensor only when that is less
 * than what the next layer would send for it: the tensor, in a packet an image at least
 * (test_models' lenet_chain, a Gemm of 48 -> 20 before another: one copy request more than
 * the read, 32 bytes, for a tensor of 32, stays). Three that were not: VGG-16 conv4_1's
 * output, 401 KB, beside a plan of two regions of 119 KB (instead of one of 196 KB) that
 * sent 450 KB more (the two layers ran 47 k cycles slower, conv4_1's traffic ratio was
 * 1.42); a pooled 2x3 plane of 40 channels, 240 bytes an image, whose copies took 288 bytes
 * of requests more; on tiny buffers, a layer whose two regions, 7.5 and 6.6 KB, no longer
 * stayed side by side in the 14 KB left (39 KB more for a tensor of 2 KB).
 */
static uint64_t keep_extra(const cbr_layer *l, uint32_t n, bool in_kept,
                           const struct cbr_plan *fit, uint32_t size, const struct dev_tensor *t)
{
    const struct board_layer *bl = l->priv;
    uint64_t macs;
    const struct cbr_plan *p = fit ? fit : in_kept ? kept_plan(l, &macs) : bl->plan;
    uint64_t extra = (uint64_t)n * copy_extra(p, t);
    if (!in_kept) {
        struct cbr_caps room = bl->caps;
        room.act_bytes = size * (p->depthwise ? p->ng : 1);
        const uint64_t was = plan_sent(bl->plan, &bl->caps), now = plan_sent(p, &room);
        extra += (now > was ? now - was : 0) * n;
    }
    return extra;
}

/* Whether plan q can run the layer plan p was made for, with p's packed weights: the same
 * weight sets, job and output, whatever its regions and tiles. */
static bool same_job(const struct cbr_plan *q, const struct cbr_plan *p)
{
    return q->n_wsets == p->n_wsets && q->depthwise == p->depthwise && q->ng == p->ng &&
           q->dw_passes == p->dw_passes && q->cout == p->cout && q->chain == p->chain &&
           q->host_pool == p->host_pool && q->pool_kind == p->pool_kind && q->ph == p->ph &&
           q->pw == p->pw && !memcmp(q->wsets, p->wsets, p->n_wsets * sizeof *p->wsets);
}

/*
 * A plan for layer l whose regions fit act bytes of the activation buffer (per bank, for a
 * depthwise layer: act / NG), for a chain that keeps l's output above them (plan_chain)
 * where l's own plan has a larger region: made with that much activation buffer, when it
 * runs the same job (same_job); NULL if none. Each is kept, by size, until the layer is
 * freed: a chain may hold the plans of several sizes for one layer (the same layer twice).
 * plan_chain takes it if it costs the link less than the tensor saves (keep_extra).
 */
static const struct cbr_plan *fit_plan(const cbr_layer *l, uint32_t act, uint64_t *macs)
{
    enum { MOST_FITS = 16 }; /* past that many sizes, no more plans are made (nor kept) */
    struct board_layer *bl = l->priv;
    if (bl->fold)
        return NULL;
    unsigned n = 0;
    for (const struct fit_entry *f = bl->fits; f; f = f->next, n++)
        if (f->act == act) {
            *macs = f->macs;
            return f->plan;
        }
    struct fit_entry *f;
    if (n >= MOST_FITS || !(f = calloc(1, sizeof *f)))
        return NULL;
    f->act = act;
    f->next = bl->fits;
    bl->fits = f;
    struct cbr_caps caps = bl->caps;
    struct cbr_plan *q;
    char ignore[CBR_ERRMSG_MAX];
    caps.act_bytes = act;
    if (cbr_plan_make(l, &caps, &q, ignore, sizeof ignore) != 0)
        return NULL;
    if (!same_job(q, bl->plan) || largest_region(q) > (q->depthwise ? act / q->ng : act)) {
        cbr_plan_free(q);
        return NULL;
    }
    f->plan = q;
    f->macs = plan_macs(l, q, bl->caps.cols);
    *macs = f->macs;
    return q;
}

/*
 * Whether layer l (of a chain, batch n) can take its whole input from the activation buffer,
 * and the layout it wants there (base 0): the plan it runs by with its input kept
 * (kept_plan) has one region, the whole input with every channel, in one job, and nothing
 * rewrites its input on the host (folding, stride skipping, stacking).
 */
static bool wants_kept(const cbr_device *dev, const cbr_layer *l, uint32_t n,
                       struct dev_tensor *t)
{
    const struct board_layer *bl = l->priv;
    uint64_t macs;
    const struct cbr_plan *p = kept_plan(l, &macs);
    const cbr_layer_desc *d = &l->desc;
    if (bl->fold || bl->kw_fold || bl->skip_h || bl->skip_w || (bl->stack_rows && n > 1) ||
        bl->groups != 1 || p->n_regions != 1)
        return false;
    const struct plan_region *rg = &p->regions[0];
    if (rg->iy0 || rg->ix0 || rg->iy1 != d->in_h || rg->ix1 != d->in_w || rg->c0 ||
        rg->nc != d->in_c)
        return false;
    const uint32_t R = dev->info.rows, ng = p->depthwise ? p->ng : 1;
    if (ng > MAX_SPANS)
        return false;
    *t = (struct dev_tensor){
        .img = rg->bytes, .w = d->in_w, .ng = ng,
        .bank = p->depthwise ? dev->info.act_buf_bytes / ng : 0,
        .pitch = (d->in_h + ng - 1) / ng * d->in_w * R,
    };
    return (uint64_t)n * rg->bytes <= (p->depthwise ? bl->caps.act_bytes / ng
                                                    : bl->caps.act_bytes);
}

/* Whether layer l's output can go to the device: the whole output, as the device computes
 * it (no pooling on the host, no rewrite of the layer), in one job. */
static bool can_keep(const cbr_layer *l, uint32_t n)
{
    const struct board_layer *bl = l->priv;
    return !bl->fold && !(bl->stack_rows && n > 1) && bl->groups == 1 && !bl->plan->host_pool;
}

/* One way to keep tensor i of a chain (layer i's output) on the device: its place, the room
 * left below it for layer i's own regions, the plan that fits there, and the bytes to the
 * device it saves. */
struct keep_way {
    uint32_t base, size;
    const struct cbr_plan *fit;
    uint64_t fit_macs;
    int64_t saves;
};

/*
 * Whether tensor t (layer l's output, the next layer's input, laid out by wants_kept) can
 * stay on the device at t->base, with layer l's input either kept as tensor in or (NULL)
 * sent by l's plan: the two must not meet, or l's own regions (its plan's, or a plan made
 * for the room left: fit_plan, MobileNetV1 conv0, conv2.pw and conv3.pw, whose depthwise
 * consumers take their input as one region, plan.c dw_whole) must fit beside t. Then only
 * if it costs the link less than the tensor saves (keep_extra).
 */
static bool keep_way(const cbr_device *dev, const cbr_layer *l, uint32_t n,
                     const struct dev_tensor *in, const struct dev_tensor *t,
                     struct keep_way *w)
{
    struct spans mine;
    *w = (struct keep_way){.base = t->base};
    tensor_spans(t, n, &mine);
    if (in) {
        struct spans sp;
        tensor_spans(in, n, &sp);
        if (spans_meet(&sp, &mine))
            return false;
    } else {
        const struct board_layer *pb = l->priv;
        const struct cbr_plan *p = pb->plan;
        const uint32_t ng = p->depthwise ? p->ng : 1, R = dev->info.rows;
        const uint32_t s = free_prefix(&mine, ng, p->depthwise ?
                                       dev->info.act_buf_bytes / ng : 0,
                                       pb->caps.act_bytes / ng, R);
        const uint32_t most = largest_region(p);
        if (!s || (!(most && most <= s) && !(w->fit = fit_plan(l, s * ng, &w->fit_macs))))
            return false;
        w->size = s;
    }
    const uint64_t extra = keep_extra(l, n, in != NULL, w->fit, w->size, t);
    w->saves = (int64_t)((uint64_t)n * (t->img * t->ng + CBR_PROTO_HDR)) - (int64_t)extra;
    return w->saves > 0;
}

/*
 * Plan which intermediates of a chain stay on the device: kept[i] for the tensor between
 * layers i and i+1, size[i] the activation space layer i's own regions may use (0: all).
 * A kept tensor goes to the top of the buffer (of each bank, for a depthwise consumer) or
 * to its bottom; whether it can depends on where the tensor before it is, if that one is
 * kept too (keep_way). Of all the choices, the one that saves the link the most bytes
 * (dynamic programming over the tensors, with three states each: on the host, at the top,
 * at the bottom). Taking each tensor when it could be, in order, was worse: MobileNetV1's
 * conv4.dw output (100 KB, saving 17 KB once conv4.pw's regions are planned around it)
 * took the place of conv4.pw's (200 KB, in four banks: the two cannot share the buffer).
 */
static void plan_chain(const cbr_device *dev, cbr_layer *const *ls, uint32_t k, uint32_t n,
                       bool *kept, struct dev_tensor *t, uint32_t *size,
                       const struct cbr_plan **fit, uint64_t *fit_macs)
{
    enum { HOST, TOP, BOTTOM, STATES };
    const struct accel *a = dev->priv;
    const uint32_t R = dev->info.rows;
    const bool copy = a->copy_bytes && a->copy_bytes == R && dev->info.cols == R;
    int64_t *best = malloc((size_t)k * STATES * sizeof *best); /* bytes saved; -1: cannot */
    unsigned char *from = malloc((size_t)k * STATES);           /* the state of tensor i-1 */
    struct keep_way (*ways)[STATES] = malloc((size_t)k * sizeof *ways); /* the best way in */
    for (uint32_t i = 0; i < k; i++) {
        kept[i] = false;
        size[i] = 0;
        fit[i] = NULL;
    }
    if (!k || !best || !from || !ways)
        goto out; /* nothing kept: always right */
    for (uint32_t i = 0; i < k; i++) {
        int64_t *b = &best[(size_t)i * STATES];
        unsigned char *f = &from[(size_t)i * STATES];
        for (int st = 0; st < STATES; st++) {
            b[st] = -1;
            f[st] = HOST;
        }
        /* the bytes saved up to tensor i-1 in each of its states (before the first: none) */
        int64_t v[STATES] = {0, -1, -1};
        if (i)
            memcpy(v, &best[(size_t)(i - 1) * STATES], sizeof v);
        /* on the host: whatever tensor i-1 did */
        for (int ps = 0; ps < STATES; ps++) {
            if (v[ps] > b[HOST]) {
                b[HOST] = v[ps];
                f[HOST] = (unsigned char)ps;
            }
        }
        if (i + 1 == k || !copy || !can_keep(ls[i], n) || !wants_kept(dev, ls[i + 1], n, &t[i]))
            continue;
        const struct board_layer *cb = ls[i + 1]->priv;
        const uint32_t room = cb->caps.act_bytes / t[i].ng, need = n * t[i].img;
        const uint32_t bases[STATES] = {0, (room - need) / R * R, 0};
        for (int st = TOP; st < STATES; st++) {
            if (st == BOTTOM && bases[BOTTOM] == bases[TOP])
                continue;
            struct dev_tensor here = t[i];
            here.base = bases[st];
            for (int ps = 0; ps < STATES; ps++) {
                if (v[ps] < 0)
                    continue;
                struct dev_tensor in;
                if (ps != HOST) {
                    in = t[i - 1];
                    in.base = ways[i - 1][ps].base;
                }
                struct keep_way w;
                if (keep_way(dev, ls[i], n, ps != HOST ? &in : NULL, &here, &w) &&
                    v[ps] + w.saves > b[st]) {
                    b[st] = v[ps] + w.saves;
                    f[st] = (unsigned char)ps;
                    ways[i][st] = w;
                }
            }
        }
    }
    /* back from the last layer's output (on the host) along the choices that led there */
    int st = HOST;
    for (uint32_t i = k; i-- > 0;) {
        kept[i] = st != HOST;
        if (kept[i]) {
            const struct keep_way *w = &ways[i][st];
            t[i].base = w->base;
            size[i] = w->size;
            fit[i] = w->fit;
            fit_macs[i] = w->fit_macs;
        }
        st = from[(size_t)i * STATES + st];
    }
out:
    free(best);
    free(from);
    free(ways);
}

/*
 * The plan to run layer l by when a chain keeps its input on the device: one made for the
 * same device with in_resident, whose first tiles are ordered for the weights alone (the
 * input costs the link nothing then: MobileNetV1 conv7.pw on sim:16x16 at 400 MB/s, 90.7%
 * utilization instead of 87.3%), and which takes a depthwise layer's whole input as one
 * region where the plan streams it in several (plan.c, dw_whole), when its weight sets are
 * the plan's (the packed weights are) and its regions too or it has one (wants_kept lays
 * the kept tensor out as that region); else the plan. Made once, at the first chain that
 * asks (plan_chain, through wants_kept).
 */
static const struct cbr_plan *kept_plan(const cbr_layer *l, uint64_t *macs)
{
    struct board_layer *bl = l->priv;
    const struct cbr_plan *p = bl->plan;
    if (!bl->kept_tried && !bl->fold) {
        struct cbr_caps caps = bl->caps;
        struct cbr_plan *q;
        char ignore[CBR_ERRMSG_MAX];
        caps.in_resident = true;
        bl->kept_tried = true;
        if (cbr_plan_make(l, &caps, &q, ignore, sizeof ignore) == 0) {
            const bool same_regions =
                q->n_regions == p->n_regions &&
                !memcmp(q->regions, p->regions, p->n_regions * sizeof *p->regions);
            if ((same_regions || q->n_regions == 1) && same_job(q, p)) {
                bl->plan_kept = q;
                bl->kept_macs = plan_macs(l, q, bl->caps.cols);
            } else {
                cbr_plan_free(q);
            }
        }
    }
    *macs = bl->plan_kept ? bl->kept_macs : bl->device_macs;
    return bl->plan_kept ? bl->plan_kept : p;
}

/* Whether the layer before layer l in a chain may write l's first weights (prefetch_next):
 * unless l runs as stacked images, another layer with its own plan. in_kept, out_kept: l's
 * input, output stay on the device. */
static bool prefetch(const cbr_layer *l, uint32_t n, bool in_kept, bool out_kept)
{
    const struct board_layer *bl = l->priv;
    return !(bl->stack_rows && n > 1 && !in_kept && !out_kept);
}

/*
 * Run layers ls[0..k-1] of a network on this board as one job (nothing else runs on the
 * device in between, so what a layer leaves in its buffers is still there for the next),
 * each layer's output the next one's input, intermediates on the device where they fit
 * (plan_chain) and on the host otherwise. *failed: the layer that failed.
 */
static int accel_run_chain(cbr_device *dev, cbr_layer *const *ls, uint32_t k, uint32_t n,
                           const int8_t *input, int8_t *output, bool keep, cbr_stats *st,
                           uint32_t *failed, char *err, size_t len)
{
    bool *kept = calloc(k, sizeof *kept);
    struct dev_tensor *t = calloc(k, sizeof *t);
    uint32_t *size = calloc(k, sizeof *size);
    const struct cbr_plan **fit = calloc(k, sizeof *fit);
    uint64_t *fit_macs = calloc(k, sizeof *fit_macs);
    size_t most = 0;
    for (uint32_t i = 0; i + 1 < k; i++) {
        size_t plane = (size_t)n * ls[i]->desc.out_c * ls[i]->out_h * ls[i]->out_w;
        most = plane > most ? plane : most;
    }
    int8_t *buf[2] = {malloc(most + 1), malloc(most + 1)};
    int rc = 0;
    *failed = 0;
    if (!kept || !t || !size || !fit || !fit_macs || !buf[0] || !buf[1]) {
        rc = cbr_errf(err, len, CBR_ENOMEM, "out of memory for a chain of %u layers", k);
        goto out;
    }
    if (keep)
        plan_chain(dev, ls, k, n, kept, t, size, fit, fit_macs);
    const int8_t *in = input;
    struct exec ahead[2]; /* layer i + 1, whose first weights layer i writes (prefetch_next) */
    for (uint32_t i = 0; i < k; i++) {
        int8_t *out = i + 1 == k ? output : kept[i] ? NULL : buf[i % 2];
        struct chain_io io = {.in_dev = i && kept[i - 1] ? &t[i - 1] : NULL,
                              .out_dev = kept[i] ? &t[i] : NULL, .act_size = size[i],
                              .pre = i && prefetch(ls[i], n, i && kept[i - 1], kept[i])
                                     ? &ahead[(i - 1) % 2] : NULL};
        if (io.in_dev) {
            io.plan = kept_plan(ls[i], &io.macs);
        } else if (fit[i]) {
            io.plan = fit[i];
            io.macs = fit_macs[i];
        }
        if (i + 1 < k && prefetch(ls[i + 1], n, kept[i], i + 2 < k && kept[i + 1])) {
            const struct board_layer *nb = ls[i + 1]->priv;
            uint64_t macs;
            io.ahead = &ahead[i % 2];
            exec_init(io.ahead, dev, ls[i + 1], kept[i] ? kept_plan(ls[i + 1], &macs)
                                                : fit[i + 1] ? fit[i + 1] : nb->plan, err, len);
        }
        memset(&st[i], 0, sizeof st[i]);
        if ((rc = run_layer(dev, ls[i], n, in, out, &io, &st[i], err, len)) < 0) {
            *failed = i;
            break;
        }
        in = out;
    }
out:
    free(kept);
    free(t);
    free(size);
    free(fit);
    free(fit_macs);
    free(buf[0]);
    free(buf[1]);
    return rc;
}

static int board_open_unused(cbr_device *dev, const char *args, char *err, size_t len)
{
    (void)dev;
    (void)args;
    return cbr_errf(err, len, CBR_EINVAL, "a board over a transport is opened with "
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
    .run_chain = accel_run_chain,
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
    .run_chain = accel_run_chain,
};
