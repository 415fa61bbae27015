/*
 * proto.h - the packet protocol of docs/protocol.md: encoding, and a resynchronising reader
 * (private). Pure functions over bytes, no I/O, so they are unit-tested and fuzzed alone.
 */
#ifndef CBR_PROTO_H
#define CBR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define CBR_PROTO_MAGIC 0x50524243u
#define CBR_PROTO_VERSION 1
#define CBR_PROTO_HDR 32     /* header bytes, hcrc included */
#define CBR_PROTO_TRAILER 4  /* the crc after the payload */
#define CBR_PROTO_FLAG_RESPONSE 0x01

enum cbr_opcode {
    CBR_OP_NOP = 0x01,
    CBR_OP_INFO = 0x02,
    CBR_OP_RESET = 0x03,
    CBR_OP_REG_WRITE = 0x10,
    CBR_OP_REG_READ = 0x11,
    CBR_OP_BUF_WRITE = 0x20,
    CBR_OP_BUF_READ = 0x21,
    CBR_OP_BUF_COPY = 0x22,
    CBR_OP_RUN = 0x30,
};

/*
 * BUF_WRITE arg2 of a scatter write (docs/protocol.md, "Scatter writes"): payload byte k goes
 * to buffer offset arg1 + (k / chunk) * pitch + k % chunk; 1 <= chunk <= pitch <= 65535.
 * arg2 = 0 is the plain contiguous write.
 */
#define CBR_BUF_SCATTER(chunk, pitch) \
    ((((uint32_t)(pitch) & 0xFFFFu) << 16) | ((uint32_t)(chunk) & 0xFFFFu))

enum cbr_status {
    CBR_ST_OK = 0,
    CBR_ST_BAD_CRC = 1,
    CBR_ST_BAD_LENGTH = 2,
    CBR_ST_BAD_OPCODE = 3,
    CBR_ST_BAD_ADDRESS = 4,
    CBR_ST_BAD_VERSION = 5,
    CBR_ST_BUSY = 6,
    CBR_ST_REFUSED = 7, /* a checked RUN that did not run (protocol.md, "RUN") */
};

/* RUN arg1 bit 0: a checked RUN (CBR_FEAT_RUN_CHECK): arg0 is the number of RUNs the device
 * ran since RESET; it runs only if that matches and no request was lost since the last plain
 * RUN or RESET. */
#define CBR_RUN_CHECKED 1u

struct cbr_pkt {
    uint8_t version, opcode, flags, status;
    uint32_t seq, arg0, arg1, arg2, len;
};

/* zlib's CRC-32; start with crc = 0, chain by passing the previous result. */
uint32_t cbr_crc32(uint32_t crc, const void *buf, size_t len);

/* Whether an opcode may be retried blindly (docs/protocol.md). */
int cbr_op_idempotent(uint8_t opcode);

/* Names for messages: "BUF_WRITE", "BAD_CRC"; "?" for unknown values. */
const char *cbr_op_name(uint8_t opcode);
const char *cbr_status_name(uint8_t status);

/* Bytes a packet with this payload length takes on the wire: header, payload padded to a
 * multiple of 4, crc. Always a multiple of 4. */
size_t cbr_pkt_wire_size(uint32_t len);

/*
 * Encode p (p->len payload bytes from payload; version and CRCs filled in here) into out,
 * which must hold cbr_pkt_wire_size(p->len) bytes. Returns the bytes written.
 */
size_t cbr_pkt_encode(const struct cbr_pkt *p, const void *payload, uint8_t *out);

/* What cbr_reader_next found. */
enum cbr_read_result {
    CBR_READ_NEED_MORE = 0, /* no complete packet yet: feed more bytes */
    CBR_READ_PACKET = 1,    /* a good packet: *p and *payload are set */
    CBR_READ_BAD_VERSION = 2, /* header good, version wrong: *p is set, packet skipped */
    CBR_READ_BAD_LENGTH = 3,  /* header good, length > max_payload: *p set, header skipped */
    CBR_READ_BAD_CRC = 4,     /* header good, payload CRC wrong: *p set, packet dropped */
};

/*
 * A streaming reader: bytes go in as they arrive, packets come out, garbage is skipped.
 * It owns a buffer of up to CBR_PROTO_HDR + max_payload + CBR_PROTO_TRAILER bytes.
 */
struct cbr_reader {
    uint8_t *buf;
    size_t len, cap;
    size_t start;            /* first unconsumed byte */
    uint32_t max_payload;
    uint64_t skipped;        /* bytes discarded while looking for a header */
};

/* Returns 0 or CBR_ENOMEM. */
int cbr_reader_init(struct cbr_reader *r, uint32_t max_payload);
void cbr_reader_free(struct cbr_reader *r);

/* Drop everything buffered (after a RESET, to drain). */
void cbr_reader_reset(struct cbr_reader *r);

/*
 * Append up to n bytes; returns how many were taken (fewer when the buffer is full: call
 * cbr_reader_next to make room, then feed the rest).
 */
size_t cbr_reader_feed(struct cbr_reader *r, const void *bytes, size_t n);

/*
 * Take the next result. For CBR_READ_PACKET, *payload points into the reader's buffer and
 * stays valid until the next feed, next or reset call.
 */
enum cbr_read_result cbr_reader_next(struct cbr_reader *r, struct cbr_pkt *p,
                                     const uint8_t **payload);

#endif
