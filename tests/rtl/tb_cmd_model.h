// tb_cmd_model.h - the reference of tb_cmd.cpp: what the command block must answer to one
// request, and what that request does to the register space and the buffers.
//
// Written from docs/protocol.md and docs/cmd.md, not from the RTL, and kept in plain C++ so
// a reader can check it against the documents line by line. Range checks use 64-bit sums.
#ifndef CBR_TB_CMD_MODEL_H
#define CBR_TB_CMD_MODEL_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "cbr.h"
#include "proto.h"
}

#ifndef TB_MAX_PAYLOAD
#define TB_MAX_PAYLOAD 1024
#endif
#ifndef TB_REG_BYTES
#define TB_REG_BYTES 256
#endif
#ifndef TB_BUF0_BYTES
#define TB_BUF0_BYTES 65536
#endif
#ifndef TB_BUF1_BYTES
#define TB_BUF1_BYTES 65536
#endif
#ifndef TB_BUF2_BYTES
#define TB_BUF2_BYTES 8192
#endif
#ifndef TB_BUF3_BYTES
#define TB_BUF3_BYTES 65536
#endif
#ifndef TB_RX_TIMEOUT
#define TB_RX_TIMEOUT 65536
#endif
#ifndef TB_INFO_ROWS
#define TB_INFO_ROWS 16
#endif
#ifndef TB_INFO_COLS
#define TB_INFO_COLS 16
#endif
#ifndef TB_INFO_PARAM_ENTRIES
#define TB_INFO_PARAM_ENTRIES 512
#endif
#ifndef TB_INFO_MAX_KERNEL
#define TB_INFO_MAX_KERNEL 11
#endif
#ifndef TB_INFO_MAX_STRIDE
#define TB_INFO_MAX_STRIDE 4
#endif
#ifndef TB_INFO_MAX_DILATION
#define TB_INFO_MAX_DILATION 8
#endif
#ifndef TB_INFO_FEATURES
#define TB_INFO_FEATURES 0
#endif
#ifndef TB_INFO_CLOCK_KHZ
#define TB_INFO_CLOCK_KHZ 200000
#endif
#ifndef TB_INFO_ACC_PIXELS
#define TB_INFO_ACC_PIXELS 1024
#endif
#ifndef TB_COMPACT
#define TB_COMPACT 0
#endif
#ifndef TB_TX_DEPTH
#define TB_TX_DEPTH 4
#endif
#ifndef TB_COPY_BYTES
#define TB_COPY_BYTES 0
#endif
#ifndef TB_COPY_BUFS
#define TB_COPY_BUFS 0
#endif

namespace cmdtb {

static const uint32_t MAXP = TB_MAX_PAYLOAD;
static const uint32_t REG_BYTES = TB_REG_BYTES;
static const uint32_t BUF_BYTES[4] = {TB_BUF0_BYTES, TB_BUF1_BYTES, TB_BUF2_BYTES, TB_BUF3_BYTES};
static const uint32_t RX_TIMEOUT = TB_RX_TIMEOUT;
// BUF_COPY (docs/protocol.md): the word size (0: no BUF_COPY, 0x22 is unknown) and the
// buffers it may read and write (bit i: buffer i)
static const uint8_t OP_BUF_COPY = 0x22;
static const uint32_t COPY_BYTES = TB_COPY_BYTES;
static const uint32_t COPY_BUFS = TB_COPY_BUFS;
// cbr_cmd COMPACT=1 (docs/cmd.md): the same responses, memory and writes, but several cycles a
// word. Its figures, which the timing tests check instead of the default variant's:
static const bool COMPACT = TB_COMPACT != 0;
static const uint32_t C_PAY_CYCLES = 7;   // cycles per payload word on rx
static const double C_MIN_RATE = 0.075;   // back-to-back BUF_WRITEs: rx words per cycle, at least
static const double C_MIN_RATE_SCATTER = 0.06; // the same, scatter (CHUNK 4 PITCH 16)
// The default variant's BUF_COPY of N words: the first response word N + C_COPY_LAT cycles
// after the last request word (docs/cmd.md); a block-RAM response queue adds 2
static const uint32_t C_COPY_LAT = TB_TX_DEPTH > 4 ? 8 : 6;

static const uint32_t INFO_BLOCK[16] = {
    1, TB_INFO_ROWS, TB_INFO_COLS, TB_BUF0_BYTES, TB_BUF1_BYTES, TB_BUF3_BYTES,
    TB_INFO_PARAM_ENTRIES, TB_MAX_PAYLOAD, TB_INFO_MAX_KERNEL, TB_INFO_MAX_STRIDE,
    // word 11: the checked RUN's bit (CBR_FEAT_RUN_CHECK) is cbr_cmd's own, COMPACT = 0
    TB_INFO_MAX_DILATION, (uint32_t)TB_INFO_FEATURES | (TB_COMPACT ? 0u : CBR_FEAT_RUN_CHECK),
    TB_INFO_CLOCK_KHZ, TB_INFO_ACC_PIXELS, TB_COMPACT ? 1u : (uint32_t)TB_TX_DEPTH,
    TB_COPY_BYTES};

// The register space and the four buffers, as bytes.
struct Mem {
    std::vector<uint8_t> reg;
    std::vector<uint8_t> buf[4];
    Mem() : reg(REG_BYTES) {
        for (int i = 0; i < 4; i++)
            buf[i].resize(BUF_BYTES[i]);
    }
    bool operator==(const Mem &o) const {
        if (reg != o.reg)
            return false;
        for (int i = 0; i < 4; i++)
            if (buf[i] != o.buf[i])
                return false;
        return true;
    }
};

// What the device state is besides memory: pulse and write counts.
struct Counts {
    uint64_t starts = 0, resets = 0;
    uint64_t writes = 0, reads = 0;  // reg_we/buf_we and reg_re/buf_re cycles
    uint64_t copies = 0;             // copy-port writes (words of COPY_BYTES)
    uint64_t both = 0;               // cycles with buf_we and buf_re (timing, not compared)
    // the checked RUN's state (COMPACT = 0; model only, not compared): the sequence number
    // the next good packet should carry, a packet lost since the last plain RUN or RESET,
    // the RUNs run since RESET
    uint32_t seq_next = 0;
    bool gap = true;
    uint32_t runs = 0;
    bool operator==(const Counts &o) const {
        return starts == o.starts && resets == o.resets && writes == o.writes
               && reads == o.reads && copies == o.copies;
    }
};

// A request as the bench sends it: a header for cbr_pkt_encode, its payload, and what to
// do to the wire form afterwards (each turns a good packet into one kind of bad one).
struct Req {
    cbr_pkt h{};
    std::vector<uint8_t> payload;
    uint8_t version = 1;     // written over byte 4, CRCs recomputed: a good header, wrong version
    int bad_pad = -1;        // 0..2: make that pad byte non-zero, CRCs recomputed
    bool bad_crc = false;    // flip one bit after the header (payload, pad or crc)
    bool bad_hcrc = false;   // flip one bit of header bytes 4..31
    uint32_t tail_words = 0; // length > MAXP: header only, then this many non-magic words
};

enum Kind {
    EXACT,       // this exact response
    NONE,        // no response at all
    NONE_OR_BAD, // a corrupted request: no response, or one with a BAD_* status
    ANY,         // a request the bench cannot predict (e.g. swallowed by a truncated one):
                 // no response, or any response with its seq; it must change nothing
};

struct Expect {
    uint32_t seq = 0;
    uint8_t op = 0;
    Kind kind = EXACT;
    uint8_t status = 0;
    std::vector<uint8_t> payload;
    std::string what;
};

inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
inline void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

// A scatter BUF_WRITE's geometry (arg2 != 0, docs/protocol.md "Scatter writes").
struct Scatter {
    uint64_t chunk, pitch;
    explicit Scatter(uint32_t arg2) : chunk(arg2 & 0xFFFFu), pitch(arg2 >> 16) {}
    bool bad() const { return chunk == 0 || chunk > pitch; }
    // buffer offset (from arg1) of payload byte k
    uint64_t at(uint64_t k) const { return k / chunk * pitch + k % chunk; }
    // Buffer-port writes of a good scatter write of len bytes at a1: one per part of a chunk
    // that lies in one 32-bit word (docs/cmd.md).
    uint64_t pieces(uint64_t a1, uint64_t len) const {
        uint64_t n = 0;
        for (uint64_t k = 0; k < len; k += chunk) {
            uint64_t s = a1 + at(k), e = s + std::min(chunk, len - k) - 1;
            n += e / 4 - s / 4 + 1;
        }
        return n;
    }
};

// The execution step (docs/protocol.md step 5, docs/cmd.md "Checks"): status, response
// payload, and the effect on m and c. Only called for a packet that passed steps 1..4.
inline uint8_t execute(const cbr_pkt &h, const std::vector<uint8_t> &pl, Mem &m, Counts &c,
                       std::vector<uint8_t> &out) {
    out.clear();
    const uint64_t len = h.len, a0 = h.arg0, a1 = h.arg1, a2 = h.arg2;
    const bool gap = c.gap || h.seq != c.seq_next; // every good packet counts
    c.seq_next = h.seq + 1;
    c.gap = gap;
    switch (h.opcode) {
    case CBR_OP_NOP:
        out = pl;
        return CBR_ST_OK;
    case CBR_OP_INFO:
        if (len)
            return CBR_ST_BAD_LENGTH;
        out.resize(64);
        for (int i = 0; i < 16; i++)
            wr32(&out[4 * i], INFO_BLOCK[i]);
        return CBR_ST_OK;
    case CBR_OP_RESET:
    case CBR_OP_RUN:
        if (len)
            return CBR_ST_BAD_LENGTH;
        if (h.opcode == CBR_OP_RESET) {
            c.resets++;
            c.gap = false;
            c.runs = 0;
            return CBR_ST_OK;
        }
        // a checked RUN (arg1 bit 0) runs only with nothing lost and the right count
        if (!COMPACT && (a1 & 1) && (gap || a0 != c.runs))
            return CBR_ST_REFUSED;
        c.starts++;
        c.runs = (uint32_t)a0 + 1;
        if (!(a1 & 1))
            c.gap = false;
        return CBR_ST_OK;
    case CBR_OP_REG_WRITE:
        if (len == 0 || len % 4)
            return CBR_ST_BAD_LENGTH;
        if (a0 % 4 || a0 + len > REG_BYTES)
            return CBR_ST_BAD_ADDRESS;
        memcpy(&m.reg[a0], pl.data(), len);
        c.writes += len / 4;
        return CBR_ST_OK;
    case CBR_OP_REG_READ:
        if (len || a1 * 4 > MAXP)
            return CBR_ST_BAD_LENGTH;
        if (a0 % 4 || a0 + a1 * 4 > REG_BYTES)
            return CBR_ST_BAD_ADDRESS;
        out.assign(m.reg.begin() + a0, m.reg.begin() + a0 + a1 * 4);
        c.reads += a1;
        return CBR_ST_OK;
    case CBR_OP_BUF_WRITE:
        if (a0 > 3)
            return CBR_ST_BAD_ADDRESS;
        if (a2) { // scatter: payload byte k to a1 + (k / CHUNK) * PITCH + k % CHUNK
            const Scatter g((uint32_t)a2);
            if (g.bad())
                return CBR_ST_BAD_ADDRESS;
            if (len == 0 ? a1 > BUF_BYTES[a0] : a1 + g.at(len - 1) >= BUF_BYTES[a0])
                return CBR_ST_BAD_ADDRESS;
            for (uint64_t k = 0; k < len; k++)
                m.buf[a0][a1 + g.at(k)] = pl[k];
            c.writes += g.pieces(a1, len);
            return CBR_ST_OK;
        }
        if (a1 % 4 || a1 + len > BUF_BYTES[a0])
            return CBR_ST_BAD_ADDRESS;
        if (len)
            memcpy(&m.buf[a0][a1], pl.data(), len);
        c.writes += (len + 3) / 4;
        return CBR_ST_OK;
    case CBR_OP_BUF_READ:
        if (len || a2 > MAXP)
            return CBR_ST_BAD_LENGTH;
        if (a0 > 3 || a1 % 4 || a1 + a2 > BUF_BYTES[a0])
            return CBR_ST_BAD_ADDRESS;
        out.assign(m.buf[a0].begin() + a1, m.buf[a0].begin() + a1 + a2);
        c.reads += (a2 + 3) / 4;
        return CBR_ST_OK;
    case OP_BUF_COPY: { // arg0: src [1:0], dst [3:2], 0 [7:4], N words [31:8]
        if (COPY_BYTES == 0)
            return CBR_ST_BAD_OPCODE;
        if (len)
            return CBR_ST_BAD_LENGTH;
        const uint32_t src = a0 & 3, dst = a0 >> 2 & 3;
        const uint64_t bytes = (a0 >> 8) * (uint64_t)COPY_BYTES;
        if (a0 >> 4 & 0xF || src == dst || !(COPY_BUFS >> src & 1) || !(COPY_BUFS >> dst & 1)
            || a1 % COPY_BYTES || a2 % COPY_BYTES || a1 + bytes > BUF_BYTES[src]
            || a2 + bytes > BUF_BYTES[dst])
            return CBR_ST_BAD_ADDRESS;
        if (bytes)
            memcpy(&m.buf[dst][a2], &m.buf[src][a1], bytes);
        c.copies += a0 >> 8;
        return CBR_ST_OK;
    }
    default:
        return CBR_ST_BAD_OPCODE;
    }
}

// Steps 1..5 for an uncorrupted Req: the expected answer (and the effect, via execute).
inline Expect predict(const Req &q, Mem &m, Counts &c) {
    Expect e;
    e.seq = q.h.seq;
    e.op = q.h.opcode;
    e.kind = EXACT;
    if (q.bad_hcrc || (q.h.flags & CBR_PROTO_FLAG_RESPONSE)) {
        e.kind = NONE;
    } else if (q.version != 1) {
        e.status = CBR_ST_BAD_VERSION;
    } else if (q.h.len > MAXP) {
        e.status = CBR_ST_BAD_LENGTH;
    } else if (q.bad_crc || q.bad_pad >= 0) {
        e.status = CBR_ST_BAD_CRC;
    } else {
        e.status = execute(q.h, q.payload, m, c, e.payload);
    }
    return e;
}

} // namespace cmdtb

#endif
