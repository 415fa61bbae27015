/*
 * emu_board.c - the emulated board and its fault injector, shared by both links.
 *
 * The board is libcbr's own sim transport (the Verilator model behind its modelled link),
 * linked from libcbr.a, so CBR_SIM_PATH, CBR_SIM_LINK and CBR_TRACE work as for `-d sim`.
 * The link code (emu_pcie.c, emu_usb.c) asks emu_board_fault for the fate of each transfer
 * before delivering it; the injector's random numbers come from one seed so a run replays.
 *
 * hang:N makes the core hang after N tiles: from the (N+1)th RUN on, the board gets a NOP
 * with the same sequence number instead, and its answer goes back to the host as RUN's. The
 * host sees what a stuck core shows: the RUN answered, every poll answered, RUNS stuck and
 * the start never taken. It needs the packets whole, so with it on both streams go through
 * a reader and are encoded again (a packet that fails its CRC on the way is lost).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "emu.h"
#include "proto.h"
#include "transport.h"

#define HANG_PAYLOAD 65536 /* the most a packet carries (libcbr's BOOT_PAYLOAD) */
#define HANG_SEQS 64       /* RUNs turned into NOPs whose answers are still due (libcbr
                              queues at most two starts before it waits, so never full) */

struct emu_board {
    struct cbr_transport *tr;
    struct emu_faults f;
    struct emu_stats st;
    uint64_t rng;
    uint64_t next_corrupt;   /* bytes to pass before the next corrupted one */
    /* hang:N */
    struct cbr_reader h2d_rd, d2h_rd;
    uint32_t runs;           /* RUNs seen */
    uint32_t held[HANG_SEQS]; /* their sequence numbers, while the NOP's answer is due */
    uint32_t n_held;
    uint8_t *pkt;            /* one host packet encoded again */
    uint8_t *raw;            /* device -> host bytes before the reader */
    uint8_t *outq;           /* device -> host packets ready for the host */
    size_t outq_len, outq_at;
};

/* splitmix64: small, and good enough to decide faults. */
static uint64_t rnd(struct emu_board *b)
{
    uint64_t z = (b->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double unif(struct emu_board *b)
{
    return (double)(rnd(b) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(struct emu_board *b, double p)
{
    return p > 0 && unif(b) < p;
}

/* Bytes until the next corrupted one, geometric with rate p per byte. */
static uint64_t gap(struct emu_board *b, double p)
{
    if (p <= 0)
        return UINT64_MAX;
    if (p >= 1)
        return 0;
    double u = 1.0 - unif(b); /* (0, 1] */
    double g = floor(log(u) / log1p(-p));
    return g >= 1.8e19 ? UINT64_MAX : (uint64_t)g;
}

static int rate(const char *kind, const char *val, double *out, char *err, size_t len)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno || !(v >= 0 && v <= 1)) {
        snprintf(err, len, "fault '%s:%s': the rate must be a number from 0 to 1", kind, val);
        return -1;
    }
    *out = v;
    return 0;
}

int emu_faults_parse(const char *spec, struct emu_faults *f, char *err, size_t len)
{
    if (!spec || !*spec) {
        snprintf(err, len, "empty fault spec (want KIND:VALUE[,KIND:VALUE...], KIND one of "
                 "corrupt, drop, stall, timeout, unplug, hang)");
        return -1;
    }
    char *copy = strdup(spec);
    if (!copy) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (!colon || !colon[1]) {
            snprintf(err, len, "fault '%s' in '%s': want KIND:VALUE", item, spec);
            rc = -1;
            break;
        }
        *colon = '\0';
        const char *val = colon + 1;
        if (!strcmp(item, "corrupt"))
            rc = rate(item, val, &f->corrupt, err, len);
        else if (!strcmp(item, "drop"))
            rc = rate(item, val, &f->drop, err, len);
        else if (!strcmp(item, "stall"))
            rc = rate(item, val, &f->stall, err, len);
        else if (!strcmp(item, "timeout"))
            rc = rate(item, val, &f->timeout, err, len);
        else if (!strcmp(item, "unplug")) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(val, &end, 10);
            if (end == val || *end || errno || *val == '-') {
                snprintf(err, len, "fault 'unplug:%s': want a byte count (unplug:N)", val);
                rc = -1;
            } else {
                f->unplug = true;
                f->unplug_after = n;
            }
        } else if (!strcmp(item, "hang")) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(val, &end, 10);
            if (end == val || *end || errno || *val == '-' || n > UINT32_MAX) {
                snprintf(err, len, "fault 'hang:%s': want a count of tiles (hang:N)", val);
                rc = -1;
            } else {
                f->hang = true;
                f->hang_after = (uint32_t)n;
            }
        } else {
            snprintf(err, len, "fault '%s' in '%s': unknown kind (corrupt, drop, stall, "
                     "timeout, unplug, hang)", item, spec);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

struct emu_board *emu_board_open(const char *shape, const struct emu_faults *f, char *err,
                                 size_t len)
{
    struct emu_board *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    if (f)
        b->f = *f;
    b->rng = b->f.seed;
    b->next_corrupt = gap(b, b->f.corrupt);
    if (b->f.hang) {
        size_t wire = cbr_pkt_wire_size(HANG_PAYLOAD);
        b->pkt = malloc(wire);
        b->raw = malloc(HANG_PAYLOAD);
        b->outq = malloc(wire);
        if (!b->pkt || !b->raw || !b->outq || cbr_reader_init(&b->h2d_rd, HANG_PAYLOAD) ||
            cbr_reader_init(&b->d2h_rd, HANG_PAYLOAD)) {
            snprintf(err, len, "out of memory");
            emu_board_close(b);
            return NULL;
        }
    }
    if (cbr_transport_sim_open(&b->tr, shape ? shape : "", err, len) < 0) {
        emu_board_close(b);
        return NULL;
    }
    return b;
}

void emu_board_close(struct emu_board *b)
{
    if (!b)
        return;
    if (b->tr)
        b->tr->ops->close(b->tr);
    cbr_reader_free(&b->h2d_rd);
    cbr_reader_free(&b->d2h_rd);
    free(b->pkt);
    free(b->raw);
    free(b->outq);
    free(b);
}

enum emu_verdict emu_board_fault(struct emu_board *b, enum emu_dir dir, uint8_t *buf,
                                 size_t n)
{
    if (b->st.unplugged)
        return EMU_UNPLUGGED;
    uint64_t crossed = b->st.bytes[0] + b->st.bytes[1];
    if (b->f.unplug && crossed + n > b->f.unplug_after) {
        b->st.unplugged = true;
        return EMU_UNPLUGGED;
    }
    b->st.transfers[dir]++;
    b->st.bytes[dir] += n;
    if (chance(b, b->f.timeout)) {
        b->st.timed_out++;
        return EMU_TIMEOUT;
    }
    if (chance(b, b->f.stall)) {
        b->st.stalled++;
        return EMU_STALL;
    }
    if (chance(b, b->f.drop)) {
        b->st.dropped++;
        return EMU_DROP;
    }
    /* Corruption: the gap counter runs over the bytes delivered, both ways. */
    for (size_t left = n, at = 0; left > 0;) {
        if (b->next_corrupt >= left) {
            if (b->next_corrupt != UINT64_MAX)
                b->next_corrupt -= left;
            break;
        }
        at += b->next_corrupt;
        buf[at] ^= (uint8_t)(1u << (rnd(b) & 7));
        b->st.corrupted++;
        left = n - at - 1;
        at++;
        b->next_corrupt = gap(b, b->f.corrupt);
    }
    return EMU_PASS;
}

void emu_board_h2d(struct emu_board *b, const uint8_t *p, size_t n)
{
    char ignore[256];
    if (!b->f.hang) {
        if (n)
            b->tr->ops->send(b->tr, p, n, 0, ignore, sizeof ignore);
        return;
    }
    while (n) {
        size_t took = cbr_reader_feed(&b->h2d_rd, p, n);
        p += took;
        n -= took;
        struct cbr_pkt k;
        const uint8_t *pl;
        enum cbr_read_result r;
        while ((r = cbr_reader_next(&b->h2d_rd, &k, &pl)) != CBR_READ_NEED_MORE) {
            if (r != CBR_READ_PACKET)
                continue;
            if (k.opcode == CBR_OP_RUN && !(k.flags & CBR_PROTO_FLAG_RESPONSE) &&
                ++b->runs > b->f.hang_after && b->n_held < HANG_SEQS) {
                k.opcode = CBR_OP_NOP;
                b->held[b->n_held++] = k.seq;
                b->st.runs_held++;
            }
            size_t w = cbr_pkt_encode(&k, pl, b->pkt);
            b->tr->ops->send(b->tr, b->pkt, w, 0, ignore, sizeof ignore);
        }
    }
}

/* hang: a NOP answer to a held RUN goes back as RUN's. */
static void hang_d2h_packet(struct emu_board *b, struct cbr_pkt *k)
{
    if (k->opcode != CBR_OP_NOP || !(k->flags & CBR_PROTO_FLAG_RESPONSE))
        return;
    for (uint32_t i = 0; i < b->n_held; i++)
        if (b->held[i] == k->seq) {
            k->opcode = CBR_OP_RUN;
            b->held[i] = b->held[--b->n_held];
            return;
        }
}

/* The sim transport's idle clocks the model until it has bytes for the host or the budget is
 * spent, and its statistics say how many cycles that took: fewer than the budget means bytes
 * are waiting, and recv then takes them without clocking further. Once bytes flow, keep
 * collecting while the stream goes on (gaps of up to GAP_CYCLES), so a response comes out in
 * one piece rather than a word at a time. */
#define GAP_CYCLES 64

static size_t board_d2h(struct emu_board *b, uint8_t *p, size_t cap, uint64_t max_cycles);

size_t emu_board_d2h(struct emu_board *b, uint8_t *p, size_t cap, uint64_t max_cycles)
{
    if (!b->f.hang)
        return board_d2h(b, p, cap, max_cycles);
    /* Whole packets only, each encoded again: hold them until the host has taken them. */
    if (b->outq_at == b->outq_len) {
        b->outq_at = b->outq_len = 0;
        size_t n = board_d2h(b, b->raw, HANG_PAYLOAD, max_cycles);
        const uint8_t *at = b->raw;
        while (n) {
            size_t took = cbr_reader_feed(&b->d2h_rd, at, n);
            at += took;
            n -= took;
            struct cbr_pkt k;
            const uint8_t *pl;
            enum cbr_read_result r;
            while ((r = cbr_reader_next(&b->d2h_rd, &k, &pl)) != CBR_READ_NEED_MORE) {
                if (r != CBR_READ_PACKET)
                    continue;
                hang_d2h_packet(b, &k);
                size_t w = cbr_pkt_wire_size(k.len);
                uint8_t *q = realloc(b->outq, b->outq_len + w);
                if (!q)
                    return 0; /* out of memory: the host sees the answer lost */
                b->outq = q;
                b->outq_len += cbr_pkt_encode(&k, pl, b->outq + b->outq_len);
            }
        }
    }
    size_t give = b->outq_len - b->outq_at < cap ? b->outq_len - b->outq_at : cap;
    memcpy(p, b->outq + b->outq_at, give);
    b->outq_at += give;
    return give;
}

static size_t board_d2h(struct emu_board *b, uint8_t *p, size_t cap, uint64_t max_cycles)
{
    char ignore[256];
    size_t total = 0;
    uint64_t budget = max_cycles;
    while (total < cap && budget > 0) {
        struct cbr_link_stats s0, s1;
        b->tr->ops->stats(b->tr, &s0);
        b->tr->ops->idle(b->tr, budget);
        b->tr->ops->stats(b->tr, &s1);
        if (s1.cycles - s0.cycles >= budget)
            break;
        size_t got = 0;
        if (b->tr->ops->recv(b->tr, p + total, cap - total, &got, 0, ignore, sizeof ignore) < 0
            || got == 0)
            break;
        total += got;
        budget = GAP_CYCLES;
    }
    return total;
}

bool emu_board_unplugged(const struct emu_board *b)
{
    return b->st.unplugged;
}

void emu_board_stats(const struct emu_board *b, struct emu_stats *s)
{
    *s = b->st;
}

void emu_stats_print(FILE *f, const struct emu_stats *s)
{
    fprintf(f, "cbr-emu: host->device %llu transfers, %llu bytes; device->host %llu transfers, "
            "%llu bytes\n", (unsigned long long)s->transfers[EMU_H2D],
            (unsigned long long)s->bytes[EMU_H2D], (unsigned long long)s->transfers[EMU_D2H],
            (unsigned long long)s->bytes[EMU_D2H]);
    unsigned long long total = s->corrupted + s->dropped + s->stalled + s->timed_out +
                               (s->unplugged ? 1 : 0);
    fprintf(f, "cbr-emu: faults injected: %llu (corrupted bytes %llu, dropped %llu, "
            "stalled %llu, timed out %llu, unplugged %s)\n", total,
            (unsigned long long)s->corrupted, (unsigned long long)s->dropped,
            (unsigned long long)s->stalled, (unsigned long long)s->timed_out,
            s->unplugged ? "yes" : "no");
    if (s->runs_held)
        fprintf(f, "cbr-emu: hang: %u RUNs answered but kept from the core\n", s->runs_held);
}
