/*
 * bench_host.c - how fast libcbr's host side handles the bytes of a link: the per-byte work
 * every transfer to and from a board goes through, measured on this machine (part of
 * `make bench`: build/bench_host.txt). On a real board this is what the host pays for each
 * byte the link carries; the cycle figures of `cbr bench` assume it keeps up.
 *
 *   crc32      cbr_crc32 over 1 MiB
 *   encode     cbr_pkt_encode of BUF_WRITE packets of 4 KiB payload (the driver's write
 *              packets: header, payload copy, both CRCs)
 *   decode     cbr_reader_feed + cbr_reader_next over a stream of 16 KiB BUF_READ answers
 *              fed in 16 KiB pieces (a USB bulk transfer's worth): both CRCs, the copy
 *
 * Each runs for at least 0.3 s of CPU time (CLOCK_PROCESS_CPUTIME_ID) and reports MB/s of
 * payload, and the share of one core that a link of LINK MB/s each way (default 400, USB 3)
 * would take for encode + decode.
 *
 * usage: bench_host [--link MBPS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbr.h"
#include "proto.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define MIN_SECONDS 0.3

/* MB/s of `bytes` per call of fn, run until MIN_SECONDS of CPU have passed. */
static double rate(void (*fn)(void *), void *ctx, size_t bytes)
{
    fn(ctx); /* warm: tables, pages */
    uint64_t calls = 0;
    const double t0 = cpu_s();
    double t;
    do {
        for (int i = 0; i < 16; i++)
            fn(ctx);
        calls += 16;
    } while ((t = cpu_s() - t0) < MIN_SECONDS);
    return (double)calls * (double)bytes / t / 1e6;
}

static volatile uint32_t sink;

struct crc_ctx {
    const uint8_t *buf;
    size_t n;
};

static void do_crc(void *p)
{
    const struct crc_ctx *c = p;
    sink ^= cbr_crc32(0, c->buf, c->n);
}

struct enc_ctx {
    const uint8_t *payload;
    uint8_t *wire;
    uint32_t len, seq;
};

static void do_encode(void *p)
{
    struct enc_ctx *c = p;
    struct cbr_pkt k = {.opcode = CBR_OP_BUF_WRITE, .seq = c->seq++, .len = c->len};
    sink ^= (uint32_t)cbr_pkt_encode(&k, c->payload, c->wire);
}

struct dec_ctx {
    struct cbr_reader r;
    const uint8_t *stream;
    size_t n, piece;
    uint32_t packets;
};

static void do_decode(void *p)
{
    struct dec_ctx *c = p;
    uint32_t got = 0;
    for (size_t at = 0; at < c->n;) {
        size_t take = c->n - at < c->piece ? c->n - at : c->piece;
        at += cbr_reader_feed(&c->r, c->stream + at, take);
        struct cbr_pkt k;
        const uint8_t *pl;
        while (cbr_reader_next(&c->r, &k, &pl) == CBR_READ_PACKET) {
            sink ^= pl[k.len - 1];
            got++;
        }
    }
    if (got != c->packets) {
        fprintf(stderr, "bench_host: decoded %u of %u packets\n", got, c->packets);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    double link = 400;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc && atof(argv[i + 1]) > 0) {
            link = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_host [--link MBPS]\n");
            return 2;
        }
    }
    enum { MB = 1 << 20, WRITE = 4096, READ = 16384, PACKETS = 64 };
    uint8_t *buf = malloc(MB);
    uint8_t *wire = malloc(cbr_pkt_wire_size(READ) * PACKETS);
    if (!buf || !wire)
        return 1;
    for (size_t i = 0; i < MB; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 24);

    struct crc_ctx cc = {buf, MB};
    const double crc = rate(do_crc, &cc, MB);

    struct enc_ctx ec = {buf, wire, WRITE, 0};
    const double enc = rate(do_encode, &ec, WRITE);

    struct dec_ctx dc = {.piece = 16384, .packets = PACKETS};
    size_t n = 0;
    for (uint32_t i = 0; i < PACKETS; i++) {
        struct cbr_pkt k = {.opcode = CBR_OP_BUF_READ, .flags = CBR_PROTO_FLAG_RESPONSE,
                            .seq = i, .len = READ};
        n += cbr_pkt_encode(&k, buf + (size_t)i * READ % (MB - READ), wire + n);
    }
    dc.stream = wire;
    dc.n = n;
    if (cbr_reader_init(&dc.r, READ) != 0)
        return 1;
    const double dec = rate(do_decode, &dc, (size_t)PACKETS * READ);
    cbr_reader_free(&dc.r);

    printf("libcbr host side, per byte of payload (one core of this machine)\n");
    printf("  crc32                          %8.0f MB/s\n", crc);
    printf("  encode BUF_WRITE, 4 KiB        %8.0f MB/s\n", enc);
    printf("  decode BUF_READ answers, 16 KiB %7.0f MB/s\n", dec);
    printf("a link of %.0f MB/s each way takes %.0f%% of a core for encode + decode\n", link,
           100.0 * (link / enc + link / dec));
    free(buf);
    free(wire);
    return 0;
}
