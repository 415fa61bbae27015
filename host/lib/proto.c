/*
 * proto.c - encode packets and read them back out of an untrusted byte stream
 * (docs/protocol.md). No I/O: transports move the bytes, this only shapes and checks them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cbr.h"
#include "proto.h"

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) by slicing-by-8 (Kounavis and
 * Berry's): crc_table[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes go
 * in one step of eight independent lookups instead of eight dependent ones. About 4.9 times
 * the one-table loop (tools/bench_host.c: 455 -> 2221 MB/s on the machine of docs/bench.md),
 * which at 400 MB/s each way over USB 3 took more than a core for the CRCs alone. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xFF] ^ (crc_table[k - 1][i] >> 8);
}

uint32_t cbr_crc32(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    for (; len >= 8; len -= 8, p += 8) {
        /* the next 8 bytes, little-endian whatever the host's order */
        const uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        const uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                            (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][lo >> 8 & 0xFF] ^
              crc_table[5][lo >> 16 & 0xFF] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xFF] ^ crc_table[2][hi >> 8 & 0xFF] ^
              crc_table[1][hi >> 16 & 0xFF] ^ crc_table[0][hi >> 24];
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

int cbr_op_idempotent(uint8_t opcode)
{
    return opcode != CBR_OP_RUN;
}

const char *cbr_op_name(uint8_t opcode)
{
    switch (opcode) {
    case CBR_OP_NOP: return "NOP";
    case CBR_OP_INFO: return "INFO";
    case CBR_OP_RESET: return "RESET";
    case CBR_OP_REG_WRITE: return "REG_WRITE";
    case CBR_OP_REG_READ: return "REG_READ";
    case CBR_OP_BUF_WRITE: return "BUF_WRITE";
    case CBR_OP_BUF_READ: return "BUF_READ";
    case CBR_OP_RUN: return "RUN";
    default: return "?";
    }
}

const char *cbr_status_name(uint8_t status)
{
    switch (status) {
    case CBR_ST_OK: return "OK";
    case CBR_ST_BAD_CRC: return "BAD_CRC";
    case CBR_ST_BAD_LENGTH: return "BAD_LENGTH";
    case CBR_ST_BAD_OPCODE: return "BAD_OPCODE";
    case CBR_ST_BAD_ADDRESS: return "BAD_ADDRESS";
    case CBR_ST_BAD_VERSION: return "BAD_VERSION";
    case CBR_ST_BUSY: return "BUSY";
    case CBR_ST_REFUSED: return "REFUSED";
    default: return "?";
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t padded(uint32_t len)
{
    return ((size_t)len + 3) & ~(size_t)3;
}

size_t cbr_pkt_wire_size(uint32_t len)
{
    return CBR_PROTO_HDR + padded(len) + CBR_PROTO_TRAILER;
}

size_t cbr_pkt_encode(const struct cbr_pkt *p, const void *payload, uint8_t *out)
{
    put32(out, CBR_PROTO_MAGIC);
    out[4] = CBR_PROTO_VERSION;
    out[5] = p->opcode;
    out[6] = p->flags;
    out[7] = p->status;
    put32(out + 8, p->seq);
    put32(out + 12, p->arg0);
    put32(out + 16, p->arg1);
    put32(out + 20, p->arg2);
    put32(out + 24, p->len);
    put32(out + 28, cbr_crc32(0, out, 28));
    size_t body = CBR_PROTO_HDR + padded(p->len);
    if (p->len)
        memcpy(out + CBR_PROTO_HDR, payload, p->len);
    memset(out + CBR_PROTO_HDR + p->len, 0, body - CBR_PROTO_HDR - p->len);
    put32(out + body, cbr_crc32(0, out, body));
    return body + CBR_PROTO_TRAILER;
}

int cbr_reader_init(struct cbr_reader *r, uint32_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max_payload = max_payload;
    r->cap = cbr_pkt_wire_size(max_payload);
    r->buf = malloc(r->cap);
    return r->buf ? 0 : CBR_ENOMEM;
}

void cbr_reader_free(struct cbr_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

void cbr_reader_reset(struct cbr_reader *r)
{
    r->len = r->start = 0;
}

static void compact(struct cbr_reader *r)
{
    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
}

size_t cbr_reader_feed(struct cbr_reader *r, const void *bytes, size_t n)
{
    if (r->len + n > r->cap)
        compact(r);
    size_t take = r->cap - r->len < n ? r->cap - r->len : n;
    memcpy(r->buf + r->len, bytes, take);
    r->len += take;
    return take;
}

enum cbr_read_result cbr_reader_next(struct cbr_reader *r, struct cbr_pkt *p,
                                     const uint8_t **payload)
{
    for (;;) {
        size_t avail = r->len - r->start;
        while (avail >= 4 && get32(r->buf + r->start) != CBR_PROTO_MAGIC) {
            r->start++;
            r->skipped++;
            avail--;
        }
        if (avail < CBR_PROTO_HDR) {
            compact(r);
            return CBR_READ_NEED_MORE;
        }
        const uint8_t *h = r->buf + r->start;
        if (cbr_crc32(0, h, 28) != get32(h + 28)) {
            r->start++; /* a magic inside garbage, or a corrupt header: scan on */
            r->skipped++;
            continue;
        }
        p->version = h[4];
        p->opcode = h[5];
        p->flags = h[6];
        p->status = h[7];
        p->seq = get32(h + 8);
        p->arg0 = get32(h + 12);
        p->arg1 = get32(h + 16);
        p->arg2 = get32(h + 20);
        p->len = get32(h + 24);
        if (p->version != CBR_PROTO_VERSION) {
            r->start += CBR_PROTO_HDR;
            return CBR_READ_BAD_VERSION;
        }
        if (p->len > r->max_payload) {
            r->start += CBR_PROTO_HDR;
            return CBR_READ_BAD_LENGTH;
        }
        size_t need = cbr_pkt_wire_size(p->len);
        if (avail < need) {
            compact(r);
            return CBR_READ_NEED_MORE;
        }
        h = r->buf + r->start;
        r->start += need;
        size_t body = CBR_PROTO_HDR + padded(p->len);
        if (cbr_crc32(0, h, body) != get32(h + body))
            return CBR_READ_BAD_CRC;
        for (size_t k = CBR_PROTO_HDR + p->len; k < body; k++)
            if (h[k])
                return CBR_READ_BAD_CRC;
        *payload = h + CBR_PROTO_HDR;
        return CBR_READ_PACKET;
    }
}
