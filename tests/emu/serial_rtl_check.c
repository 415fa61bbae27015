/*
 * serial_rtl_check.c - packets through the serial transport to the real UART bridge and
 * command block (cbr-uart-rtl: the iCEBreaker top, CORE=0, in Verilator behind a pty):
 *
 *     cbr-uart-rtl -- serial_rtl_check [overrun]
 *
 * Opens serial:$CBR_EMU_TTY and checks, with random data from a printed seed: INFO as the
 * bring-up image reports it; register and buffer round trips one request at a time; the same
 * pipelined within the 2 KiB rule the client keeps (docs/links.md). With "overrun" it then
 * breaks the rule on purpose (reads whose answers hold the line, then more than the RX FIFO
 * holds of writes) and checks that the bridge did drop something (a write answered BAD_CRC or
 * never answered): the rule is real, not a figure in a document. Exit 0 when every check held.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "errors.h"
#include "proto.h"
#include "testrng.h"
#include "transport.h"

#define PAYLOAD 256
#define BUF_BYTES 1024

static struct cbr_transport *tr;
static struct cbr_reader rd;
static uint32_t last_seq;
static int failures;
static uint8_t wire[CBR_PROTO_HDR + PAYLOAD + CBR_PROTO_TRAILER + 64];

static void check(bool ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

static int send_req(uint8_t op, uint32_t a0, uint32_t a1, uint32_t a2, const void *pl,
                    uint32_t len)
{
    struct cbr_pkt p = {.opcode = op, .seq = ++last_seq, .arg0 = a0, .arg1 = a1, .arg2 = a2,
                        .len = len};
    size_t n = cbr_pkt_encode(&p, pl, wire);
    char err[256];
    if (tr->ops->send(tr, wire, n, 2000, err, sizeof err) < 0) {
        printf("FAIL: send: %s\n", err);
        exit(1);
    }
    return (int)p.seq;
}

/* The next response within ms; false on timeout. payload copied to out (cap bytes). */
static bool next_resp(struct cbr_pkt *p, uint8_t *out, size_t cap, int ms)
{
    double deadline = cbr_now_ms() + ms;
    for (;;) {
        const uint8_t *pl;
        enum cbr_read_result r = cbr_reader_next(&rd, p, &pl);
        if (r == CBR_READ_PACKET && (p->flags & CBR_PROTO_FLAG_RESPONSE)) {
            if (out)
                memcpy(out, pl, p->len < cap ? p->len : cap);
            return true;
        }
        if (r != CBR_READ_NEED_MORE)
            continue;
        double left = deadline - cbr_now_ms();
        if (left <= 0)
            return false;
        uint8_t buf[4096];
        size_t got;
        char err[256];
        if (tr->ops->recv(tr, buf, sizeof buf, &got, (int)left + 1, err, sizeof err) < 0) {
            printf("FAIL: recv: %s\n", err);
            exit(1);
        }
        for (size_t off = 0; off < got;)
            off += cbr_reader_feed(&rd, buf + off, got - off);
    }
}

static bool request(uint8_t op, uint32_t a0, uint32_t a1, uint32_t a2, const void *pl,
                    uint32_t len, struct cbr_pkt *resp, uint8_t *out, size_t cap)
{
    uint32_t s = (uint32_t)send_req(op, a0, a1, a2, pl, len);
    while (next_resp(resp, out, cap, 3000))
        if (resp->seq == s)
            return resp->status == CBR_ST_OK;
    return false;
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_u64();
}

static void round_trips(void)
{
    struct cbr_pkt r;
    uint8_t info[64];
    bool ok = request(CBR_OP_INFO, 0, 0, 0, NULL, 0, &r, info, sizeof info) && r.len >= 64;
    uint32_t w[8];
    memcpy(w, info, sizeof w); /* little-endian host */
    check(ok && w[0] == 1 && w[1] == 4 && w[2] == 4 && w[3] == BUF_BYTES && w[7] == PAYLOAD,
          "INFO: protocol 1, 4x4, 1 KiB buffers, 256-byte payloads");

    uint8_t regs[256], back[256];
    fill(regs, sizeof regs);
    ok = request(CBR_OP_REG_WRITE, 0, 0, 0, regs, sizeof regs, &r, NULL, 0) &&
         request(CBR_OP_REG_READ, 0, 64, 0, NULL, 0, &r, back, sizeof back) &&
         r.len == sizeof back && !memcmp(regs, back, sizeof regs);
    check(ok, "64 registers written and read back");

    static uint8_t data[4][BUF_BYTES], got[BUF_BYTES];
    ok = true;
    for (uint32_t id = 0; id < 4; id++) {
        fill(data[id], BUF_BYTES);
        for (uint32_t off = 0; off < BUF_BYTES; off += PAYLOAD)
            ok &= request(CBR_OP_BUF_WRITE, id, off, 0, data[id] + off, PAYLOAD, &r, NULL, 0);
    }
    for (uint32_t id = 0; id < 4; id++) {
        for (uint32_t off = 0; off < BUF_BYTES; off += PAYLOAD)
            ok &= request(CBR_OP_BUF_READ, id, off, PAYLOAD, NULL, 0, &r, got + off, PAYLOAD) &&
                  r.len == PAYLOAD;
        ok &= !memcmp(got, data[id], BUF_BYTES);
    }
    check(ok, "4 buffers x 1 KiB written and read back, one request at a time");

    /* Pipelined within the rule: 7 writes of 292 bytes on the wire (2044 <= 2048) at once. */
    uint8_t pipe[7 * PAYLOAD];
    fill(pipe, sizeof pipe);
    uint32_t first = last_seq + 1;
    for (uint32_t k = 0; k < 7; k++)
        send_req(CBR_OP_BUF_WRITE, k / 4, (k % 4) * PAYLOAD, 0, pipe + k * PAYLOAD, PAYLOAD);
    int good = 0;
    while (good < 7 && next_resp(&r, NULL, 0, 3000))
        good += r.seq >= first && r.status == CBR_ST_OK;
    ok = good == 7;
    for (uint32_t k = 0; k < 7 && ok; k++)
        ok = request(CBR_OP_BUF_READ, k / 4, (k % 4) * PAYLOAD, PAYLOAD, NULL, 0, &r, got,
                     PAYLOAD) && !memcmp(got, pipe + k * PAYLOAD, PAYLOAD);
    check(ok, "7 writes pipelined within 2 KiB, all answered OK and read back");
}

/* 16 reads whose answers (4.6 KB, 15 ms of line) hold the transmitter, then 12 writes
 * (3.5 KB) at once: more than the FIFO and the command block's staging can take. */
static void overrun(void)
{
    uint8_t blob[PAYLOAD];
    fill(blob, sizeof blob);
    uint32_t first = last_seq + 1;
    for (int k = 0; k < 16; k++)
        send_req(CBR_OP_BUF_READ, 0, 0, PAYLOAD, NULL, 0);
    uint32_t first_write = last_seq + 1;
    for (uint32_t k = 0; k < 12; k++)
        send_req(CBR_OP_BUF_WRITE, 1, (k % 4) * PAYLOAD, 0, blob, PAYLOAD);
    int reads = 0, writes_ok = 0, bad_crc = 0;
    struct cbr_pkt r;
    while (next_resp(&r, NULL, 0, 1000)) {
        if (r.seq >= first && r.seq < first_write)
            reads++;
        else if (r.seq >= first_write && r.status == CBR_ST_OK)
            writes_ok++;
        else if (r.seq >= first_write)
            bad_crc += r.status == CBR_ST_BAD_CRC;
    }
    printf("overrun: %d of 16 reads answered, %d of 12 writes answered OK, %d BAD_CRC\n",
           reads, writes_ok, bad_crc);
    check(writes_ok < 12, "breaking the 2 KiB rule loses writes in the bridge");
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed();
    rng = seed;
    printf("serial_rtl_check: seed %llu (CBR_SEED=%llu replays)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    const char *tty = getenv("CBR_EMU_TTY");
    if (!tty || !*tty) {
        fprintf(stderr, "serial_rtl_check: $CBR_EMU_TTY is not set (run under cbr-uart-rtl)\n");
        return 2;
    }
    char err[512];
    if (cbr_transport_serial_open(&tr, tty, err, sizeof err) < 0) {
        printf("FAIL: open %s: %s\n", tty, err);
        return 1;
    }
    if (cbr_reader_init(&rd, 65536) < 0)
        return 1;
    round_trips();
    if (argc > 1 && !strcmp(argv[1], "overrun"))
        overrun();
    cbr_reader_free(&rd);
    tr->ops->close(tr);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
