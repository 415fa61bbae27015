/*
 * test_tiny_cycles.c - the tiny core's cycle-counters-only build (COUNTERS=2, the iCEBreaker
 * image's, docs/tiny.md) against its full-counter build (COUNTERS=1, sim:ice).
 *
 * usage: test_tiny_cycles [--layers N] [--seed S] DIR1 DIR2
 *
 * DIR1 and DIR2 each hold a libcbrsim_ice.so: DIR1 built with COUNTERS=1, DIR2 with
 * COUNTERS=2. Both boards are opened (CBR_SIM_PATH set to each in turn) and run the same
 * random layers, every other one planned for tiny buffers (many tiles, input-channel chains,
 * pooling across tiles, queued tiles); each output must equal the cpu device's. INFO FEATURES
 * must have bit 5 and not bit 8 on DIR1, bit 8 and not bit 5 on DIR2. After each layer all
 * 20 counter words (0x80..0xA4, 0xC0..0xE4) are read from both boards with raw REG_READs:
 * DIR2's CYCLES and TOTAL_CYCLES words must equal DIR1's (the host drives both boards with
 * the same packets, so the tiles take the same cycles), every other word of DIR2 must read 0,
 * and libcbr's core_cycles (the TOTAL_CYCLES difference over the layer, the only counter it
 * reads on DIR2) must equal DIR1's and the TOTAL_CYCLES difference read raw.
 * Prints its seed; ends with "N passed, M failed"; exits non-zero on any failure.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "device.h"
#include "errors.h"
#include "proto.h"
#include "testlayer.h"
#include "testrng.h"
#include "transport.h"

#define N_WORDS 20        /* 0x80..0xA4 and 0xC0..0xE4: 5 per-tile, 5 total, _LO and _HI */
#define RAW_SEQ 0xC7C00000u /* our own requests' sequence numbers, far from libcbr's */

/* A board: the device libcbr drives and, between its (synchronous) runs, its transport, on
 * which the test sends its own REG_READs; the driver has no request in flight then. */
struct board {
    const char *dir;
    cbr_device *dev;
    struct cbr_transport *tr;
    struct cbr_reader rd;
    uint32_t seq;
};

static int open_board(struct board *b, const char *dir)
{
    char err[CBR_ERRMSG_MAX];
    memset(b, 0, sizeof *b);
    b->dir = dir;
    b->seq = RAW_SEQ;
    setenv("CBR_SIM_PATH", dir, 1);
    if (cbr_transport_sim_open(&b->tr, "ice", err, sizeof err) < 0) {
        printf("FAIL %s: sim:ice: %s\n", dir, err);
        return -1;
    }
    if (cbr_device_open_transport(&b->dev, b->tr, "sim:ice") < 0) {
        printf("FAIL %s: sim:ice: %s\n", dir, cbr_errmsg(NULL));
        return -1;
    }
    return cbr_reader_init(&b->rd, 4096);
}

/* Read n words from addr with one REG_READ on the raw transport. */
static int raw_read(struct board *b, uint32_t addr, uint32_t *v, uint32_t n)
{
    char err[CBR_ERRMSG_MAX];
    uint8_t wire[CBR_PROTO_HDR + CBR_PROTO_TRAILER];
    struct cbr_pkt p = {.opcode = CBR_OP_REG_READ, .seq = ++b->seq, .arg0 = addr, .arg1 = n};
    size_t len = cbr_pkt_encode(&p, NULL, wire);
    if (b->tr->ops->send(b->tr, wire, len, 5000, err, sizeof err) < 0) {
        printf("FAIL %s: REG_READ 0x%x: send: %s\n", b->dir, addr, err);
        return -1;
    }
    double deadline = cbr_now_ms() + 10000;
    for (;;) {
        struct cbr_pkt r;
        const uint8_t *pl;
        enum cbr_read_result res = cbr_reader_next(&b->rd, &r, &pl);
        if (res == CBR_READ_PACKET && (r.flags & CBR_PROTO_FLAG_RESPONSE) && r.seq == p.seq) {
            if (r.status != CBR_ST_OK || r.len != 4 * n) {
                printf("FAIL %s: REG_READ 0x%x x %u: status %s, %u bytes\n", b->dir, addr, n,
                       cbr_status_name(r.status), r.len);
                return -1;
            }
            for (uint32_t i = 0; i < n; i++)
                v[i] = (uint32_t)pl[4 * i] | (uint32_t)pl[4 * i + 1] << 8 |
                       (uint32_t)pl[4 * i + 2] << 16 | (uint32_t)pl[4 * i + 3] << 24;
            return 0;
        }
        if (res != CBR_READ_NEED_MORE) {
            printf("FAIL %s: REG_READ 0x%x: an unexpected packet (seq 0x%x)\n", b->dir, addr,
                   r.seq);
            return -1;
        }
        if (cbr_now_ms() > deadline) {
            printf("FAIL %s: REG_READ 0x%x: no answer within 10 s\n", b->dir, addr);
            return -1;
        }
        uint8_t buf[512];
        size_t got = 0;
        if (b->tr->ops->recv(b->tr, buf, sizeof buf, &got, 100, err, sizeof err) < 0) {
            printf("FAIL %s: REG_READ 0x%x: recv: %s\n", b->dir, addr, err);
            return -1;
        }
        for (size_t off = 0; off < got;)
            off += cbr_reader_feed(&b->rd, buf + off, got - off);
    }
}

/* The 20 counter words: w[0..9] the per-tile ones, w[10..19] the totals. */
static int read_counters(struct board *b, uint32_t w[N_WORDS])
{
    return raw_read(b, 0x80, w, 10) < 0 || raw_read(b, 0xC0, w + 10, 10) < 0 ? -1 : 0;
}

static uint64_t word64(const uint32_t *w, int k)
{
    return (uint64_t)w[k] | (uint64_t)w[k + 1] << 32;
}

struct layer {
    cbr_layer_desc d;
    struct test_params p;
    uint32_t n;
};

/* A random dense or grouped layer with any activation and pooling, small enough for the
 * tiny core's buffers (test_sim covers the numerics; this test is about the counters). */
static void make_layer(struct layer *l)
{
    memset(l, 0, sizeof *l);
    cbr_layer_desc *d = &l->d;
    d->kh = 1 + rnd(5);
    d->kw = rnd(3) ? d->kh : 1 + rnd(5);
    d->groups = rnd(4) ? 1 : 1 + rnd(3);
    d->in_c = d->groups * (1 + rnd(8));
    d->out_c = d->groups * (1 + rnd(8));
    d->stride_h = 1 + rnd(2);
    d->stride_w = 1 + rnd(2);
    d->dilation_h = d->dilation_w = 1 + (rnd(5) == 0);
    d->pad_top = rnd(3), d->pad_left = rnd(3), d->pad_bottom = rnd(3), d->pad_right = rnd(3);
    d->in_h = d->dilation_h * (d->kh - 1) + 1 + rnd(14);
    d->in_w = d->dilation_w * (d->kw - 1) + 1 + rnd(14);
    d->input_zp = (int32_t)rnd(256) - 128;
    d->output_zp = (int32_t)rnd(256) - 128;
    d->act = (cbr_act)rnd(4);
    switch (rnd(5)) {
    case 0: d->pool.kind = CBR_POOL_GAVG; break;
    case 1:
        d->pool.kind = rnd(2) ? CBR_POOL_MAX : CBR_POOL_AVG;
        d->pool.kh = d->pool.kw = d->pool.stride_h = d->pool.stride_w = 2;
        break;
    default: break;
    }
    l->n = 1 + (rnd(4) == 0);
    test_params_fill(&l->p, d, 10000);
}

static void free_layer(struct layer *l)
{
    test_params_free(&l->p);
}

int main(int argc, char **argv)
{
    int layers = 40;
    uint64_t seed = test_seed();
    int first = 1;
    while (first + 1 < argc && !strncmp(argv[first], "--", 2)) {
        if (!strcmp(argv[first], "--layers"))
            layers = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--seed"))
            seed = strtoull(argv[first + 1], NULL, 0);
        else
            break;
        first += 2;
    }
    if (argc - first != 2) {
        fprintf(stderr, "usage: test_tiny_cycles [--layers N] [--seed S] DIR_COUNTERS1 "
                "DIR_COUNTERS2\n");
        return 2;
    }
    printf("test_tiny_cycles: seed %" PRIu64 " (replay with --seed %" PRIu64 "), %d layers\n",
           seed, seed, layers);
    struct board full, cyc;
    cbr_device *cpu;
    if (open_board(&full, argv[first]) < 0 || open_board(&cyc, argv[first + 1]) < 0 ||
        cbr_device_open(&cpu, "cpu") < 0) {
        printf("FAIL: cannot open the devices\n");
        return 1;
    }
    int failed = 0, passed = 0;
    cbr_device_info fi, ci;
    cbr_device_get_info(full.dev, &fi);
    cbr_device_get_info(cyc.dev, &ci);
    if (!(fi.features & CBR_FEAT_COUNTERS) || (fi.features & CBR_FEAT_CYCLES) ||
        (ci.features & CBR_FEAT_COUNTERS) || !(ci.features & CBR_FEAT_CYCLES)) {
        printf("FAIL: FEATURES 0x%x (%s) and 0x%x (%s): want bit 5 without bit 8, then bit 8 "
               "without bit 5\n", fi.features, full.dir, ci.features, cyc.dir);
        failed++;
    }
    char caps[160];
    snprintf(caps, sizeof caps, "act=16384,wgt=%u,out=%u,param=%u,acc=16",
             2 * 121 * fi.rows * fi.cols, 2 * 16 * fi.cols, 2 * fi.cols);
    uint32_t prev[N_WORDS] = {0};
    uint64_t cycles = 0, tiles = 0;
    rng = seed;
    for (int i = 0; i < layers && !failed; i++) {
        struct layer l;
        cbr_layer *lc = NULL, *lf = NULL, *ly = NULL;
        make_layer(&l);
        if (cbr_layer_create(cpu, &l.d, &lc) < 0) { /* a draw the API refuses: draw again */
            free_layer(&l);
            i--;
            continue;
        }
        if (i % 2)
            setenv("CBR_PLAN_CAPS", caps, 1);
        int rf = cbr_layer_create(full.dev, &l.d, &lf), ry = cbr_layer_create(cyc.dev, &l.d, &ly);
        unsetenv("CBR_PLAN_CAPS");
        cbr_shape os;
        cbr_layer_output_shape(lc, l.n, &os);
        size_t ni = (size_t)l.n * l.d.in_c * l.d.in_h * l.d.in_w;
        size_t no = (size_t)os.n * os.c * os.h * os.w;
        int8_t *x = malloc(ni), *yc = malloc(no), *yf = malloc(no), *yy = malloc(no);
        for (size_t k = 0; k < ni; k++)
            x[k] = (int8_t)rnd(256);
        cbr_stats sc, sf, sy;
        uint32_t wf[N_WORDS], wy[N_WORDS];
        if (rf < 0 || ry < 0) {
            printf("FAIL layer %d: refused: %s\n", i, cbr_errmsg(rf < 0 ? full.dev : cyc.dev));
            failed++;
        } else if (cbr_layer_run(lc, l.n, x, yc, &sc) < 0 ||
                   cbr_layer_run(lf, l.n, x, yf, &sf) < 0 ||
                   cbr_layer_run(ly, l.n, x, yy, &sy) < 0) {
            printf("FAIL layer %d: run: %s | %s | %s\n", i, cbr_errmsg(cpu),
                   cbr_errmsg(full.dev), cbr_errmsg(cyc.dev));
            failed++;
        } else if (memcmp(yc, yf, no) || memcmp(yc, yy, no)) {
            printf("FAIL layer %d: outputs differ from the cpu device's (%s: %s, %s: %s)\n", i,
                   full.dir, memcmp(yc, yf, no) ? "differ" : "same", cyc.dir,
                   memcmp(yc, yy, no) ? "differ" : "same");
            failed++;
        } else if (read_counters(&full, wf) < 0 || read_counters(&cyc, wy) < 0) {
            failed++;
        } else {
            bool ok = true;
            /* the cycle words: CYCLES_LO/HI (0, 1) and TOTAL_CYCLES_LO/HI (10, 11) */
            for (int k = 0; k < N_WORDS; k++) {
                bool is_cycles = k == 0 || k == 1 || k == 10 || k == 11;
                if (is_cycles ? wy[k] != wf[k] : wy[k] != 0) {
                    printf("FAIL layer %d: counter word 0x%02x reads 0x%08x with COUNTERS=2, "
                           "want 0x%08x\n", i, (k < 10 ? 0x80 : 0x98) + 4 * k, wy[k],
                           is_cycles ? wf[k] : 0);
                    ok = false;
                }
            }
            uint64_t dt = word64(wf, 10) - word64(prev, 10);
            if (sy.core_cycles != sf.core_cycles || sy.core_cycles != dt || !dt ||
                sy.busy_cycles || sy.stall_in_cycles || sy.stall_out_cycles ||
                !sf.busy_cycles || word64(wf, 0) > dt || !word64(wf, 4)) {
                printf("FAIL layer %d: core cycles %" PRIu64 " (COUNTERS=2), %" PRIu64
                       " (COUNTERS=1), TOTAL_CYCLES grew by %" PRIu64 "; last tile %" PRIu64
                       " cycles, busy %" PRIu64 " / %" PRIu64 "\n", i, sy.core_cycles,
                       sf.core_cycles, dt, word64(wf, 0), sy.busy_cycles, sf.busy_cycles);
                ok = false;
            }
            memcpy(prev, wf, sizeof prev);
            if (ok) {
                passed++;
                cycles += dt;
                tiles += sy.tiles;
            } else {
                failed++;
            }
        }
        free(x), free(yc), free(yf), free(yy);
        cbr_layer_destroy(lc);
        cbr_layer_destroy(lf);
        cbr_layer_destroy(ly);
        free_layer(&l);
    }
    printf("COUNTERS=2 vs 1: %d layers with the same core cycles (%" PRIu64 " in %" PRIu64
           " tiles) and the other counters 0\n", passed, cycles, tiles);
    printf("%d passed, %d failed\n", passed, failed);
    cbr_reader_free(&full.rd);
    cbr_reader_free(&cyc.rd);
    cbr_device_close(full.dev);
    cbr_device_close(cyc.dev);
    cbr_device_close(cpu);
    return failed ? 1 : 0;
}
