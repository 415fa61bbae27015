// tb_cmd.cpp - Verilator bench of rtl/cbr_cmd.v, the packet command block.
//
// Requests are encoded, and responses decoded, by the host's own host/lib/proto.c
// (cbr_pkt_encode, cbr_reader), so device and host agree by construction. The register space
// and the four buffers live here as byte arrays behind the ports; any access outside them
// stops the run at once. Each test resets the device, sends a word stream (good packets, bad
// ones of every kind, garbage, truncations, random bit flips; random rx gaps and tx
// back-pressure), then checks every response in order against tb_cmd_model.h, and the memory,
// write count and core pulses against the model - which only ever sees the intact packets.
//
// Seed: --seed N or CBR_SEED, else the clock; printed first. Last line "N passed, M failed"
// (N, M count checks); exit status non-zero on any failure.
#include "Vcbr_cmd.h"
#include "tb_cmd_model.h"
#include "tb_common.h"

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

using namespace cmdtb;

static uint64_t g_seed;
static tb::Score g_score("tb_cmd");

[[noreturn]] __attribute__((format(printf, 1, 2))) static void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tb_cmd: FATAL: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntb_cmd: seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 ")\n", g_seed,
            g_seed);
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", g_score.passed, g_score.failed + 1);
    exit(2);
}

#define CHECK(ok, ...) g_score.check((ok), __VA_ARGS__)

struct Resp {
    cbr_pkt p;
    std::vector<uint8_t> payload;
};

// One word of the host -> device stream; gap: cycles rx_valid stays low before it.
struct RxWord {
    uint32_t w;
    uint32_t gap;
};

// Cycles without output after which traffic is over. (COMPACT: checking a scatter write walks
// its addresses first, up to MAX_PAYLOAD cycles without a write or a response word.)
static const uint64_t QUIET = COMPACT ? 800 + 2 * (uint64_t)MAXP : 800;

// ---- the device and everything behind its ports ---------------------------------------------
struct Bench {
    Vcbr_cmd *m;
    tb::Rng &rng;
    uint64_t cyc = 0;

    std::deque<RxWord> rxq;
    uint64_t rx_words = 0;               // words accepted since construction
    std::vector<uint64_t> *acc = nullptr; // when set: the cycle of each accepted word
    std::vector<uint64_t> *txc = nullptr; // when set: the cycle of each sent word
    std::vector<uint64_t> *wrc = nullptr; // when set: the cycle of each buffer write
    std::vector<uint64_t> *rdc = nullptr; // when set: the cycle of each buffer read
    std::vector<uint64_t> *cpc = nullptr; // when set: the cycle of each copy-port write
    // the copy port: the word read in the previous cycle (cp_re), which cp_we writes now
    bool cp_read = false;
    std::vector<uint8_t> cp_word;
    // traffic shaping: a gap / back-pressure burst starts with probability p, lasts 1..max
    double gap_p = 0, bp_p = 0;
    uint32_t gap_max = 1, bp_max = 1, gap_left = 0, bp_left = 0;
    bool gap_ended = false;

    Mem mem;
    Counts cnt;
    bool prev_start = false, prev_reset = false;
    bool prev_tx_stall = false;
    uint32_t prev_tx_data = 0;

    cbr_reader rd;
    std::vector<Resp> resp;

    Bench(Vcbr_cmd *d, tb::Rng &r) : m(d), rng(r) {
        if (cbr_reader_init(&rd, MAXP))
            fatal("out of memory");
        for (auto &b : mem.reg)
            b = (uint8_t)rng.u32();
        for (int i = 0; i < 4; i++)
            for (auto &b : mem.buf[i])
                b = (uint8_t)rng.u32();
        m->clk = 0;
        m->rst = 1;
        m->rx_valid = 0;
        m->tx_ready = 0;
        m->eval();
    }
    ~Bench() { cbr_reader_free(&rd); }

    void drain_reader() {
        for (;;) {
            cbr_pkt p;
            const uint8_t *pl = nullptr;
            enum cbr_read_result r = cbr_reader_next(&rd, &p, &pl);
            if (r == CBR_READ_NEED_MORE)
                break;
            if (!CHECK(r == CBR_READ_PACKET, "device sent a malformed response (reader: %d)", r))
                continue;
            Resp x;
            x.p = p;
            x.payload.assign(pl, pl + p.len);
            resp.push_back(x);
        }
        if (rd.skipped)
            CHECK(false, "device sent %" PRIu64 " bytes of non-packet data", rd.skipped);
        rd.skipped = 0;
    }

    void cycle() {
        // Outputs of this cycle, as the clock edge will see them.
        if (m->rst)
            prev_tx_stall = false;
        const bool rx_fire = m->rx_valid && m->rx_ready;
        const bool tx_fire = m->tx_valid && m->tx_ready;
        const uint32_t txw = m->tx_data;

        // Stream rules on tx: valid holds, and data holds, while the host stalls it.
        if (prev_tx_stall && !(m->tx_valid && m->tx_data == prev_tx_data))
            CHECK(false, "tx_valid/tx_data changed while stalled at cycle %" PRIu64, cyc);
        prev_tx_stall = m->tx_valid && !m->tx_ready;
        prev_tx_data = m->tx_data;

        if (m->reg_we) {
            uint32_t a = m->reg_addr;
            if (a % 4 || a + 4 > REG_BYTES)
                fatal("reg write outside the register space: addr 0x%x at cycle %" PRIu64, a,
                      cyc);
            wr32(&mem.reg[a], m->reg_wdata);
            cnt.writes++;
        }
        const bool rr = m->reg_re;
        uint32_t rrv = 0;
        if (rr) {
            uint32_t a = m->reg_addr;
            if (a % 4 || a + 4 > REG_BYTES)
                fatal("reg read outside the register space: addr 0x%x", a);
            rrv = rd32(&mem.reg[a]);
            cnt.reads++;
        }
        if (m->buf_we) {
            uint32_t id = m->buf_wid, a = m->buf_waddr;
            if (a % 4 || (uint64_t)a + 4 > BUF_BYTES[id])
                fatal("buffer %u write outside the buffer: addr 0x%x at cycle %" PRIu64, id, a,
                      cyc);
            if (m->buf_wstrb == 0)
                CHECK(false, "buffer write with no byte enabled at cycle %" PRIu64, cyc);
            for (int b = 0; b < 4; b++)
                if (m->buf_wstrb >> b & 1)
                    mem.buf[id][a + b] = (uint8_t)(m->buf_wdata >> (8 * b));
            cnt.writes++;
            if (wrc)
                wrc->push_back(cyc);
        }
        const bool br = m->buf_re;
        uint32_t brv = 0;
        if (br) {
            uint32_t id = m->buf_rid, a = m->buf_raddr;
            if (a % 4 || (uint64_t)a + 4 > BUF_BYTES[id])
                fatal("buffer %u read outside the buffer: addr 0x%x", id, a);
            brv = rd32(&mem.buf[id][a]);
            cnt.reads++;
            if (rdc)
                rdc->push_back(cyc);
        }
        // one access a cycle, except a buffer read beside a write to another buffer (a read
        // drains while the next write commits; not COMPACT)
        if (m->buf_we && m->buf_re) {
            cnt.both++;
            if (COMPACT || m->buf_wid == m->buf_rid)
                CHECK(false, "buf_we with buf_re (buffer %u, %u) in cycle %" PRIu64,
                      (unsigned)m->buf_wid, (unsigned)m->buf_rid, cyc);
        }
        if ((int)m->reg_we + m->reg_re + (m->buf_we || m->buf_re) > 1)
            CHECK(false, "more than one of reg_we/reg_re/buffer access in cycle %" PRIu64, cyc);
        // The copy port: the write of the word read in the previous cycle, then this cycle's
        // read (a RAM read returns the word as it was at the edge). The buffer port is idle.
        if (m->cp_we) {
            uint32_t id = m->cp_wid, a = m->cp_waddr;
            if (!COPY_BYTES || !(COPY_BUFS >> id & 1) || a % COPY_BYTES
                || (uint64_t)a + COPY_BYTES > BUF_BYTES[id])
                fatal("copy write to buffer %u at 0x%x at cycle %" PRIu64, id, a, cyc);
            if (!CHECK(cp_read, "cp_we without a cp_re the cycle before, cycle %" PRIu64, cyc))
                cp_word.assign(COPY_BYTES, 0);
            std::copy(cp_word.begin(), cp_word.end(), mem.buf[id].begin() + a);
            cnt.copies++;
            if (cpc)
                cpc->push_back(cyc);
        }
        cp_read = m->cp_re;
        if (m->cp_re) {
            uint32_t id = m->cp_rid, a = m->cp_raddr;
            if (!COPY_BYTES || !(COPY_BUFS >> id & 1) || a % COPY_BYTES
                || (uint64_t)a + COPY_BYTES > BUF_BYTES[id])
                fatal("copy read of buffer %u at 0x%x at cycle %" PRIu64, id, a, cyc);
            if (m->cp_we && m->cp_wid == id)
                CHECK(false, "copy reads and writes buffer %u in cycle %" PRIu64, id, cyc);
            cp_word.assign(mem.buf[id].begin() + a, mem.buf[id].begin() + a + COPY_BYTES);
        }
        if ((m->cp_re || m->cp_we) && (m->buf_we || m->buf_re || m->reg_we || m->reg_re))
            CHECK(false, "buffer/register port busy during a copy, cycle %" PRIu64, cyc);
        if (m->core_start) {
            if (prev_start)
                CHECK(false, "core_start high two cycles in a row at %" PRIu64, cyc);
            cnt.starts++;
        }
        if (m->core_reset) {
            if (prev_reset)
                CHECK(false, "core_reset high two cycles in a row at %" PRIu64, cyc);
            cnt.resets++;
        }
        prev_start = m->core_start;
        prev_reset = m->core_reset;

        m->clk = 1;
        m->eval();
        cyc++;

        if (rx_fire) {
            rxq.pop_front();
            rx_words++;
            if (acc)
                acc->push_back(cyc);
        }
        if (tx_fire) {
            if (txc)
                txc->push_back(cyc);
            uint8_t b[4];
            wr32(b, txw);
            if (cbr_reader_feed(&rd, b, 4) != 4)
                fatal("response reader overflow");
            drain_reader();
        }

        // Inputs of the next cycle. Read data only in the cycle after a read, else noise.
        m->reg_rdata = rr ? rrv : rng.u32();
        m->buf_rdata = br ? brv : rng.u32();
        if (!(m->rx_valid && !rx_fire)) { // rx_valid may change only when not waiting
            bool send = !rxq.empty();
            if (send && rxq.front().gap) {
                // Only cycles with rx_ready high count towards RX_TIMEOUT, and rx_ready is low
                // now and then (COMPACT: for a while after a word, the CRC, the header
                // read-out; else the cycle after a header, or while the staging bank a payload
                // goes to is still read by a job); a gap counts those cycles, so it means the
                // same idle time to both variants whatever the device was doing.
                if (m->rx_ready)
                    rxq.front().gap--;
                send = false;
            } else if (send && gap_left) {
                gap_left--;
                send = false;
            } else if (send && !gap_ended && gap_p > 0 && rng.chance(gap_p)) {
                gap_left = (uint32_t)rng.range(1, gap_max) - 1;
                send = false;
            }
            // A word goes out between two random gaps, so no gap is longer than gap_max.
            gap_ended = !send && !rxq.empty();
            m->rx_valid = send;
            m->rx_data = send ? rxq.front().w : rng.u32();
        }
        if (bp_left) {
            bp_left--;
            m->tx_ready = 0;
        } else if (bp_p > 0 && rng.chance(bp_p)) {
            bp_left = (uint32_t)rng.range(1, bp_max) - 1;
            m->tx_ready = 0;
        } else {
            m->tx_ready = 1;
        }
        m->clk = 0;
        m->eval();
    }

    void reset() {
        rxq.clear();
        gap_p = bp_p = 0;
        gap_left = bp_left = 0;
        m->rst = 1;
        m->rx_valid = 0;
        for (int i = 0; i < 4; i++)
            cycle();
        m->rst = 0;
        m->eval();
        gap_left = bp_left = 0;
        prev_tx_stall = false;
        cbr_reader_reset(&rd);
        resp.clear();
    }

    void push(const std::vector<uint32_t> &w, uint32_t first_gap = 0) {
        for (size_t i = 0; i < w.size(); i++)
            rxq.push_back({w[i], i == 0 ? first_gap : 0});
    }

    // Until everything is sent and nothing has moved out (tx, or a write: a long commit
    // sends nothing) for `quiet` cycles.
    void run_quiet(uint64_t quiet = QUIET) {
        uint64_t idle = 0, start = cyc;
        while (idle < quiet) {
            cycle();
            idle = (!rxq.empty() || m->tx_valid || m->buf_we || m->reg_we || m->cp_we) ? 0
                                                                                : idle + 1;
            if (cyc - start > 50000000ull)
                fatal("no end of traffic after %" PRIu64 " cycles", cyc - start);
        }
    }
    void run(uint64_t n) {
        for (uint64_t i = 0; i < n; i++)
            cycle();
    }
};

// ---- building requests ------------------------------------------------------------------------
static uint32_t g_seq = 1;
// The most register bytes one packet moves: the whole space, or what a payload holds.
static const uint32_t REG_CHUNK = std::min(REG_BYTES, MAXP & ~3u);
static uint64_t g_packets = 0;

static std::vector<uint32_t> to_words(const std::vector<uint8_t> &b) {
    std::vector<uint32_t> w(b.size() / 4);
    for (size_t i = 0; i < w.size(); i++)
        w[i] = rd32(&b[4 * i]);
    return w;
}

static void fix_crcs(std::vector<uint8_t> &b, size_t body) {
    wr32(&b[28], cbr_crc32(0, b.data(), 28));
    wr32(&b[body], cbr_crc32(0, b.data(), body));
}

// The wire bytes of q (see Req in tb_cmd_model.h).
static std::vector<uint8_t> build_bytes(const Req &q, tb::Rng &rng) {
    std::vector<uint8_t> b;
    if (q.h.len > MAXP) {
        cbr_pkt h = q.h;
        h.len = 0;
        b.resize(cbr_pkt_wire_size(0));
        cbr_pkt_encode(&h, nullptr, b.data());
        wr32(&b[24], q.h.len);
        b[4] = q.version;
        wr32(&b[28], cbr_crc32(0, b.data(), 28));
        b.resize(CBR_PROTO_HDR);
        for (uint32_t i = 0; i < q.tail_words; i++) {
            uint32_t g = rng.u32();
            if (g == CBR_PROTO_MAGIC)
                g ^= 1;
            b.resize(b.size() + 4);
            wr32(&b[b.size() - 4], g);
        }
    } else {
        cbr_pkt h = q.h;
        h.len = (uint32_t)q.payload.size();
        b.resize(cbr_pkt_wire_size(h.len));
        cbr_pkt_encode(&h, q.payload.data(), b.data());
        size_t body = b.size() - 4;
        b[4] = q.version;
        if (q.bad_pad >= 0) {
            if (h.len % 4 == 0 || (int)(h.len % 4) + q.bad_pad >= 4)
                fatal("bench bug: bad_pad %d with length %u", q.bad_pad, h.len);
            b[CBR_PROTO_HDR + h.len + q.bad_pad] = (uint8_t)rng.range(1, 255);
        }
        fix_crcs(b, body);
        if (q.bad_crc) {
            size_t bit = (size_t)rng.range(CBR_PROTO_HDR * 8, b.size() * 8 - 1);
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    if (q.bad_hcrc) {
        size_t bit = (size_t)rng.range(4 * 8, CBR_PROTO_HDR * 8 - 1);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return b;
}

static Req req(uint8_t op, uint32_t a0 = 0, uint32_t a1 = 0, uint32_t a2 = 0,
               std::vector<uint8_t> payload = {}) {
    Req q;
    q.h.opcode = op;
    q.h.seq = g_seq++;
    q.h.arg0 = a0;
    q.h.arg1 = a1;
    q.h.arg2 = a2;
    q.payload = payload;
    q.h.len = (uint32_t)q.payload.size();
    return q;
}

// Random bytes; with no_magic, no aligned word equals the magic (a payload that a
// resynchronising receiver could mistake for a header once its own header is corrupted).
static std::vector<uint8_t> rand_bytes(tb::Rng &rng, size_t n, bool no_magic = true) {
    std::vector<uint8_t> v(n);
    for (auto &b : v)
        b = (uint8_t)rng.u32();
    if (no_magic)
        for (size_t i = 0; i + 4 <= n; i += 4)
            if (rd32(&v[i]) == CBR_PROTO_MAGIC)
                v[i] ^= 1;
    return v;
}

static uint32_t rand_garbage_word(tb::Rng &rng) {
    uint32_t g = rng.u32();
    return g == CBR_PROTO_MAGIC ? g ^ 0x80 : g;
}

// ---- a test: reset, traffic, then check responses, memory and counts --------------------------
struct Test {
    Bench &b;
    std::string name;
    Mem model;
    Counts mc;          // model counts
    Counts base;        // device counts at the start
    std::vector<Expect> ex;
    uint64_t failed_at_start;

    Test(Bench &bench, const std::string &n, bool do_reset = true) : b(bench), name(n) {
        if (do_reset)
            b.reset();
        b.gap_p = b.bp_p = 0;
        b.gap_max = b.bp_max = 1;
        model = b.mem;
        base = b.cnt;
        failed_at_start = g_score.failed;
    }

    // Queue q; `corrupt` flips 1..3 random bits anywhere in its wire form.
    void send(const Req &q, Kind force = EXACT, uint32_t first_gap = 0, int flips = 0) {
        std::vector<uint8_t> w = build_bytes(q, b.rng);
        static const char *trace = getenv("CBR_TB_TRACE_SEQ");
        const bool tr = trace && strtoul(trace, nullptr, 0) == q.h.seq;
        std::vector<size_t> bits; // distinct: two flips of one bit would cancel
        while ((int)bits.size() < flips) {
            size_t bit = (size_t)b.rng.range(0, w.size() * 8 - 1);
            if (std::find(bits.begin(), bits.end(), bit) != bits.end())
                continue;
            bits.push_back(bit);
            w[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (tr)
                printf("  seq %u: flipped bit %zu (word %zu)\n", q.h.seq, bit, bit / 32);
        }
        if (tr) {
            printf("  seq %u: %s len %u, %zu words, rx word index %" PRIu64 ":", q.h.seq,
                   cbr_op_name(q.h.opcode), q.h.len, w.size() / 4, b.rx_words + b.rxq.size());
            for (size_t i = 0; i < w.size() / 4 && i < 16; i++)
                printf(" %08x", rd32(&w[4 * i]));
            printf("\n");
        }
        if (flips || force == NONE_OR_BAD || force == ANY) {
            Expect e;
            e.seq = q.h.seq;
            e.op = q.h.opcode;
            e.kind = force == EXACT ? NONE_OR_BAD : force;
            ex.push_back(e);
        } else {
            ex.push_back(predict(q, model, mc));
        }
        ex.back().what = std::string(cbr_op_name(q.h.opcode));
        b.push(to_words(w), first_gap);
        g_packets++;
    }
    void garbage(const std::vector<uint32_t> &w, uint32_t first_gap = 0) { b.push(w, first_gap); }

    // Checks the responses so far against ex, in order; clears both.
    void check_responses() {
        size_t ei = 0;
        for (const Resp &r : b.resp) {
            size_t j = ei;
            while (j < ex.size() && !(ex[j].seq == r.p.seq && ex[j].kind != NONE))
                j++;
            if (!CHECK(j < ex.size(), "%s: response with unexpected seq %u (%s, %s)",
                       name.c_str(), r.p.seq, cbr_op_name(r.p.opcode),
                       cbr_status_name(r.p.status)))
                continue;
            for (size_t k = ei; k < j; k++)
                CHECK(ex[k].kind != EXACT, "%s: no response to seq %u (%s)", name.c_str(),
                      ex[k].seq, ex[k].what.c_str());
            ei = j + 1;
            const Expect &e = ex[j];
            CHECK(r.p.flags == CBR_PROTO_FLAG_RESPONSE && r.p.version == 1 && r.p.opcode == e.op
                      && r.p.arg0 == 0 && r.p.arg1 == 0 && r.p.arg2 == 0,
                  "%s: seq %u: header flags %u version %u opcode 0x%02x (want 0x%02x) args %x %x %x",
                  name.c_str(), e.seq, r.p.flags, r.p.version, r.p.opcode, e.op, r.p.arg0,
                  r.p.arg1, r.p.arg2);
            if (e.kind == EXACT) {
                CHECK(r.p.status == e.status, "%s: seq %u (%s): status %s, want %s",
                      name.c_str(), e.seq, e.what.c_str(), cbr_status_name(r.p.status),
                      cbr_status_name(e.status));
                if (CHECK(r.payload.size() == e.payload.size(),
                          "%s: seq %u (%s): payload %zu bytes, want %zu", name.c_str(), e.seq,
                          e.what.c_str(), r.payload.size(), e.payload.size())) {
                    size_t d = 0;
                    while (d < e.payload.size() && r.payload[d] == e.payload[d])
                        d++;
                    CHECK(d == e.payload.size(), "%s: seq %u (%s): payload differs at byte %zu",
                          name.c_str(), e.seq, e.what.c_str(), d);
                }
            } else if (e.kind == NONE_OR_BAD) {
                CHECK(r.p.status != CBR_ST_OK && r.payload.empty(),
                      "%s: seq %u: a corrupted request was answered %s", name.c_str(), e.seq,
                      cbr_status_name(r.p.status));
            }
        }
        for (size_t k = ei; k < ex.size(); k++)
            CHECK(ex[k].kind != EXACT, "%s: no response to seq %u (%s)", name.c_str(),
                  ex[k].seq, ex[k].what.c_str());
        b.resp.clear();
        ex.clear();
    }

    // Everything: run out the traffic, then responses, memory, counts.
    void finish(uint64_t quiet = QUIET) {
        b.run_quiet(quiet);
        check_responses();
        CHECK(b.mem == model, "%s: buffers/registers differ from the model", name.c_str());
        Counts d;
        d.starts = b.cnt.starts - base.starts;
        d.resets = b.cnt.resets - base.resets;
        d.writes = b.cnt.writes - base.writes;
        d.reads = b.cnt.reads - base.reads;
        d.copies = b.cnt.copies - base.copies;
        CHECK(d == mc,
              "%s: starts %" PRIu64 "/%" PRIu64 " resets %" PRIu64 "/%" PRIu64
              " writes %" PRIu64 "/%" PRIu64 " reads %" PRIu64 "/%" PRIu64 " copies %" PRIu64
              "/%" PRIu64 " (device/model)",
              name.c_str(), d.starts, mc.starts, d.resets, mc.resets, d.writes, mc.writes,
              d.reads, mc.reads, d.copies, mc.copies);
        printf("%-44s %s\n", name.c_str(), g_score.failed == failed_at_start ? "ok" : "FAILED");
        fflush(stdout);
    }
};

// ---- directed tests ---------------------------------------------------------------------------
static void test_idle(Bench &b) {
    Test t(b, "idle: no output without input");
    b.run(2000);
    CHECK(b.resp.empty(), "idle device sent something");
    t.finish();
}

static void test_nop(Bench &b) {
    Test t(b, "NOP echo, lengths 0..12 and around max");
    for (uint32_t n = 0; n <= 12; n++)
        t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, n)));
    for (uint32_t n = MAXP - 5; n <= MAXP; n++)
        t.send(req(CBR_OP_NOP, 1, 2, 3, rand_bytes(b.rng, n)));
    // Magic words and a whole packet inside a payload are payload, not headers.
    std::vector<uint8_t> inner(cbr_pkt_wire_size(8));
    Req in = req(CBR_OP_BUF_WRITE, 0, 0, 0, std::vector<uint8_t>(8, 0x55));
    cbr_pkt_encode(&in.h, in.payload.data(), inner.data());
    std::vector<uint8_t> pl = inner;
    for (int i = 0; i < 8; i++)
        pl.insert(pl.end(), {0x43, 0x42, 0x52, 0x50});
    t.send(req(CBR_OP_NOP, 0, 0, 0, pl));
    t.finish();
}

static void test_info(Bench &b) {
    Test t(b, "INFO block");
    t.send(req(CBR_OP_INFO));
    t.send(req(CBR_OP_INFO, 7, 8, 9));
    t.finish();
}

static void test_reset_run(Bench &b) {
    Test t(b, "RESET and RUN pulse once each");
    t.send(req(CBR_OP_RESET));
    t.send(req(CBR_OP_RUN));
    t.send(req(CBR_OP_RUN));
    t.send(req(CBR_OP_RESET, 1, 2, 3));
    t.finish();
}

// A checked RUN (arg1 bit 0, docs/protocol.md "RUN"): runs once per count, never behind a
// lost packet until a plain RUN or RESET; COMPACT runs every one (it does not set the
// feature bit). The model's status and start count for each, and the device's, must agree.
static void test_checked_run(Bench &b) {
    Test t(b, "checked RUN: once, and not behind a loss");
    t.send(req(CBR_OP_RUN, 0, 1));          // after reset, before any RESET: refused
    t.send(req(CBR_OP_RESET));
    t.send(req(CBR_OP_RUN, 0, 1));          // start 0: runs
    t.send(req(CBR_OP_RUN, 0, 1));          // the same again (a replay): refused
    t.send(req(CBR_OP_RUN, 1, 1));          // start 1: runs
    t.send(req(CBR_OP_RUN, 7, 1));          // a count the device is not at: refused
    t.send(req(CBR_OP_BUF_WRITE, 1, 64, 0, rand_bytes(b.rng, 32)));
    t.send(req(CBR_OP_RUN, 2, 1));          // runs
    Req lost = req(CBR_OP_BUF_WRITE, 1, 0, 0, rand_bytes(b.rng, 40));
    lost.bad_crc = true;                    // answered BAD_CRC: lost on the way
    t.send(lost);
    t.send(req(CBR_OP_REG_WRITE, 0, 0, 0, rand_bytes(b.rng, 8)));
    t.send(req(CBR_OP_RUN, 3, 1));          // behind the loss: refused
    t.send(req(CBR_OP_RUN, 3, 1));          // and still
    t.send(req(CBR_OP_RUN, 3, 0));          // a plain RUN: runs, ends the gap, count 4
    t.send(req(CBR_OP_RUN, 4, 1));          // runs
    Req skip = req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, 4));
    skip.h.seq += 1000;                     // a packet the device never saw before it
    g_seq = skip.h.seq + 1;
    t.send(skip);
    t.send(req(CBR_OP_RUN, 5, 1));          // refused
    t.send(req(CBR_OP_RESET));
    t.send(req(CBR_OP_RUN, 0, 1));          // runs
    Req hdr = req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, 8));
    hdr.bad_hcrc = true;                    // dropped without an answer
    t.send(hdr);
    t.send(req(CBR_OP_RUN, 1, 1));          // refused
    t.finish();
    CHECK(t.mc.starts == (COMPACT ? 13u : 6u), "checked RUN: the model ran %" PRIu64 " RUNs",
          t.mc.starts);
}

static void test_regs(Bench &b) {
    Test t(b, "REG_WRITE/REG_READ good");
    for (uint32_t a = 0; a < REG_BYTES; a += REG_CHUNK) { // all of them, as few packets as fit
        uint32_t n = std::min(REG_CHUNK, REG_BYTES - a);
        t.send(req(CBR_OP_REG_WRITE, a, 0, 0, rand_bytes(b.rng, n)));
        t.send(req(CBR_OP_REG_READ, a, n / 4));
    }
    t.send(req(CBR_OP_REG_WRITE, REG_BYTES - 4, 0, 0, rand_bytes(b.rng, 4)));
    t.send(req(CBR_OP_REG_READ, REG_BYTES - 4, 1));
    t.send(req(CBR_OP_REG_WRITE, 8, 0, 0, rand_bytes(b.rng, 12)));
    t.send(req(CBR_OP_REG_READ, 4, 5));
    t.send(req(CBR_OP_REG_READ, 16, 0)); // zero words: OK, empty
    t.send(req(CBR_OP_REG_READ, REG_BYTES, 0));
    for (int i = 0; i < 40; i++) {
        uint32_t a = 4 * (uint32_t)b.rng.range(0, REG_BYTES / 4 - 1);
        uint32_t n = (uint32_t)b.rng.range(1, std::min(REG_BYTES - a, REG_CHUNK) / 4);
        if (b.rng.chance(0.5))
            t.send(req(CBR_OP_REG_WRITE, a, 0, 0, rand_bytes(b.rng, 4 * n)));
        else
            t.send(req(CBR_OP_REG_READ, a, n));
    }
    t.finish();
}

static void test_regs_bad(Bench &b) {
    Test t(b, "REG_* bad length/address change nothing");
    t.send(req(CBR_OP_REG_WRITE, 0, 0, 0, {}));                         // zero length
    for (uint32_t n : {1u, 2u, 3u, 5u, 6u, 7u})                           // not whole words
        t.send(req(CBR_OP_REG_WRITE, 0, 0, 0, rand_bytes(b.rng, n)));
    t.send(req(CBR_OP_REG_WRITE, 2, 0, 0, rand_bytes(b.rng, 4)));       // unaligned
    t.send(req(CBR_OP_REG_WRITE, 1, 0, 0, rand_bytes(b.rng, 4)));
    t.send(req(CBR_OP_REG_WRITE, REG_BYTES - 4, 0, 0, rand_bytes(b.rng, 8))); // one past
    t.send(req(CBR_OP_REG_WRITE, REG_BYTES, 0, 0, rand_bytes(b.rng, 4)));
    t.send(req(CBR_OP_REG_WRITE, 0xFFFFFFFCu, 0, 0, rand_bytes(b.rng, 8))); // wraps to 4
    t.send(req(CBR_OP_REG_WRITE, 0x80000000u, 0, 0, rand_bytes(b.rng, 4)));
    t.send(req(CBR_OP_REG_WRITE, 0x1000, 0, 0, rand_bytes(b.rng, 4))); // only bit 12: reg_addr wraps
    t.send(req(CBR_OP_REG_READ, 0, MAXP / 4 + 1));                      // response too long
    t.send(req(CBR_OP_REG_READ, 0, 0x40000001u));                       // *4 wraps to 4
    t.send(req(CBR_OP_REG_READ, 0, 0xFFFFFFFFu));
    t.send(req(CBR_OP_REG_READ, 2, 1));
    t.send(req(CBR_OP_REG_READ, REG_BYTES - 4, 2));
    t.send(req(CBR_OP_REG_READ, 0xFFFFFFFCu, 2));
    t.send(req(CBR_OP_REG_READ, 0x1000, 1));
    t.send(req(CBR_OP_REG_READ, 0, 1, 0, rand_bytes(b.rng, 4)));        // a payload it does not take
    for (uint32_t a = 0; a < REG_BYTES; a += REG_CHUNK) // and all registers are as they were
        t.send(req(CBR_OP_REG_READ, a, std::min(REG_CHUNK, REG_BYTES - a) / 4));
    t.finish();
}

static void test_bufs(Bench &b) {
    Test t(b, "BUF_WRITE/BUF_READ good, tails, edges");
    for (uint32_t id = 0; id < 4; id++) {
        const uint32_t sz = BUF_BYTES[id];
        t.send(req(CBR_OP_BUF_WRITE, id, 0, 0, rand_bytes(b.rng, MAXP)));
        t.send(req(CBR_OP_BUF_READ, id, 0, MAXP));
        t.send(req(CBR_OP_BUF_WRITE, id, sz - MAXP, 0, rand_bytes(b.rng, MAXP)));
        t.send(req(CBR_OP_BUF_READ, id, sz - MAXP, MAXP));
        for (uint32_t n = 1; n <= 9; n++) { // tails: only the real bytes change
            uint32_t off = 4 * (uint32_t)b.rng.range(0, (sz - 12) / 4);
            t.send(req(CBR_OP_BUF_WRITE, id, off, 0, rand_bytes(b.rng, n)));
            t.send(req(CBR_OP_BUF_READ, id, off, n));
            t.send(req(CBR_OP_BUF_READ, id, off, 12));
        }
        t.send(req(CBR_OP_BUF_WRITE, id, sz - 3, 0, {}) ); // unaligned: BAD_ADDRESS
        t.send(req(CBR_OP_BUF_WRITE, id, sz - 4, 0, rand_bytes(b.rng, 3)));
        t.send(req(CBR_OP_BUF_READ, id, sz - 4, 4));
        t.send(req(CBR_OP_BUF_WRITE, id, sz, 0, {}));  // empty at the end: OK
        t.send(req(CBR_OP_BUF_READ, id, sz, 0));
        t.send(req(CBR_OP_BUF_READ, id, 0, 0));
    }
    t.finish();
}

static void test_bufs_bad(Bench &b) {
    Test t(b, "BUF_* bad length/address change nothing");
    for (uint32_t id = 0; id < 4; id++) {
        const uint32_t sz = BUF_BYTES[id];
        t.send(req(CBR_OP_BUF_WRITE, id, sz - 4, 0, rand_bytes(b.rng, 5)));  // one byte past
        t.send(req(CBR_OP_BUF_WRITE, id, sz, 0, rand_bytes(b.rng, 1)));
        t.send(req(CBR_OP_BUF_WRITE, id, 0xFFFFFFFCu, 0, rand_bytes(b.rng, 8))); // wraps to 4
        t.send(req(CBR_OP_BUF_WRITE, id, 0xFFFFFC00u, 0, rand_bytes(b.rng, MAXP))); // wraps to 0
        t.send(req(CBR_OP_BUF_WRITE, id, 0x80000000u, 0, rand_bytes(b.rng, 4)));
        t.send(req(CBR_OP_BUF_WRITE, id, 2, 0, rand_bytes(b.rng, 4)));       // unaligned
        t.send(req(CBR_OP_BUF_WRITE, id, 1, 0, rand_bytes(b.rng, 3)));
        t.send(req(CBR_OP_BUF_READ, id, sz - 4, 5));
        t.send(req(CBR_OP_BUF_READ, id, 0xFFFFFFFCu, 8));
        t.send(req(CBR_OP_BUF_READ, id, 0xFFFFFC00u, MAXP));
        t.send(req(CBR_OP_BUF_READ, id, 2, 4));
        t.send(req(CBR_OP_BUF_READ, id, 0, MAXP + 1)); // BAD_LENGTH
        t.send(req(CBR_OP_BUF_READ, id, 0, 0xFFFFFFFFu));
        t.send(req(CBR_OP_BUF_READ, id, 0, 4, rand_bytes(b.rng, 4))); // a payload it does not take
    }
    for (uint32_t id : {4u, 5u, 7u, 0x100u, 0x80000000u, 0xFFFFFFFFu}) { // no such buffer
        t.send(req(CBR_OP_BUF_WRITE, id, 0, 0, rand_bytes(b.rng, 16)));
        t.send(req(CBR_OP_BUF_READ, id, 0, 16));
    }
    t.finish();
}

// ---- BUF_COPY (opcode 0x22) --------------------------------------------------------------------
static uint32_t copy_arg0(uint32_t src, uint32_t dst, uint32_t n) {
    return src | dst << 2 | n << 8;
}
// The buffers BUF_COPY may read and write; with COPY_BYTES = 0 the bench still sends copies
// between 0, 1 and 3 (the model answers BAD_OPCODE).
static std::vector<uint32_t> copy_bufs() {
    std::vector<uint32_t> v;
    for (uint32_t id = 0; id < 4; id++)
        if (COPY_BYTES ? COPY_BUFS >> id & 1 : id != 2)
            v.push_back(id);
    return v;
}
static uint32_t copy_unit() { return COPY_BYTES ? COPY_BYTES : 16; }
// Whole copy words in buffer id.
static uint32_t copy_words(uint32_t id) { return BUF_BYTES[id] / copy_unit(); }

// A good copy of n words at random aligned offsets, then BUF_READs of the destination's first
// and last bytes, sent at once behind it (the read must see the copied data).
static void send_copy(Test &t, uint32_t src, uint32_t dst, uint32_t n, uint32_t a1, uint32_t a2) {
    const uint32_t cb = copy_unit();
    t.send(req(OP_BUF_COPY, copy_arg0(src, dst, n), a1, a2));
    const uint32_t bytes = n * cb, r = std::min(bytes, MAXP & ~3u);
    t.send(req(CBR_OP_BUF_READ, dst, a2, r));
    if (bytes > r)
        t.send(req(CBR_OP_BUF_READ, dst, a2 + bytes - r, r));
}

static void test_copy(Bench &b, bool quick) {
    Test t(b, COPY_BYTES ? "BUF_COPY good: every pair, ends, N = 0" : "BUF_COPY: BAD_OPCODE");
    const std::vector<uint32_t> ids = copy_bufs();
    const uint32_t cb = copy_unit();
    for (uint32_t src : ids)
        for (uint32_t dst : ids) {
            if (src == dst)
                continue;
            const uint32_t ws = copy_words(src), wd = copy_words(dst), wm = std::min(ws, wd);
            // the ends of both buffers, one word and the most that fits; all of the smaller
            send_copy(t, src, dst, 1, 0, 0);
            send_copy(t, src, dst, 1, (ws - 1) * cb, (wd - 1) * cb);
            send_copy(t, src, dst, wm, (ws - wm) * cb, (wd - wm) * cb);
            send_copy(t, src, dst, wm, 0, 0);
            // N = 0: anywhere up to and including the end
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0), ws * cb, wd * cb));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0), 0, 0));
            for (int i = 0; i < (quick ? 6 : 20); i++) {
                uint32_t n = (uint32_t)(b.rng.chance(0.7) ? b.rng.range(0, std::min(wm, 80u))
                                                          : b.rng.range(0, wm));
                uint32_t a1 = cb * (uint32_t)b.rng.range(0, ws - n);
                uint32_t a2 = cb * (uint32_t)b.rng.range(0, wd - n);
                send_copy(t, src, dst, n, a1, a2);
            }
            // a burst of copies and writes back to back, no reads between them
            for (int i = 0; i < 8; i++) {
                uint32_t n = (uint32_t)b.rng.range(1, std::min(wm, 16u));
                t.send(req(OP_BUF_COPY, copy_arg0(src, dst, n),
                           cb * (uint32_t)b.rng.range(0, ws - n),
                           cb * (uint32_t)b.rng.range(0, wd - n)));
                t.send(req(CBR_OP_BUF_WRITE, src, 4 * (uint32_t)b.rng.range(0, ws * cb / 4 - 4),
                           0, rand_bytes(b.rng, 16)));
            }
        }
    if (COPY_BYTES == 0)
        for (const Expect &e : t.ex)
            if (e.op == OP_BUF_COPY && e.status != CBR_ST_BAD_OPCODE)
                fatal("bench bug: a BUF_COPY without COPY_BYTES expected %u", e.status);
    t.finish();
}

// Every reason for BAD_LENGTH / BAD_ADDRESS, each from a good copy changed in one field.
static void test_copy_bad(Bench &b) {
    Test t(b, "BUF_COPY bad length/address change nothing");
    const std::vector<uint32_t> ids = copy_bufs();
    const uint32_t cb = copy_unit();
    for (uint32_t src : ids)
        for (uint32_t dst : ids) {
            if (src == dst)
                continue;
            const uint32_t ws = copy_words(src), wd = copy_words(dst);
            const uint32_t n = (uint32_t)b.rng.range(1, std::min(std::min(ws, wd), 64u));
            const uint32_t a1 = cb * (uint32_t)b.rng.range(0, ws - n);
            const uint32_t a2 = cb * (uint32_t)b.rng.range(0, wd - n);
            const uint32_t g = copy_arg0(src, dst, n);
            // a payload: BAD_LENGTH, also before a bad address
            t.send(req(OP_BUF_COPY, g, a1, a2, rand_bytes(b.rng, (size_t)b.rng.range(1, 9))));
            t.send(req(OP_BUF_COPY, g | 0x10, a1 + 1, a2, rand_bytes(b.rng, 4)));
            for (uint32_t bit = 4; bit < 8; bit++) // arg0[7:4] must be 0
                t.send(req(OP_BUF_COPY, g | 1u << bit, a1, a2));
            t.send(req(OP_BUF_COPY, g | 0xF0, a1, a2));
            for (uint32_t r : {1u, 2u, 4u, cb / 2, cb - 4, cb - 1}) { // unaligned offsets
                if (r == 0 || r >= cb)
                    continue;
                t.send(req(OP_BUF_COPY, g, a1 + r, a2));
                t.send(req(OP_BUF_COPY, g, a1, a2 + r));
                t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0), r, 0));
            }
            // one word past the end; far past; sums that wrap around 2^32 into range
            t.send(req(OP_BUF_COPY, g, (ws - n + 1) * cb, a2));
            t.send(req(OP_BUF_COPY, g, a1, (wd - n + 1) * cb));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, ws + 1), 0, 0));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, wd + 1), 0, 0));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0xFFFFFF), 0, 0));
            t.send(req(OP_BUF_COPY, g, 0u - n * cb, a2));   // a1 + N*CB = 2^32
            t.send(req(OP_BUF_COPY, g, a1, 0u - n * cb));
            t.send(req(OP_BUF_COPY, g, 0u - cb, a2));
            t.send(req(OP_BUF_COPY, g, a1, 0xFFFFFFFFu & ~(cb - 1)));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0x1000000u - 1), a1, a2));
            // N = 0 past the end
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0), (ws + 1) * cb, 0));
            t.send(req(OP_BUF_COPY, copy_arg0(src, dst, 0), 0, (wd + 1) * cb));
        }
    for (const Expect &e : t.ex)
        if (e.status == CBR_ST_OK)
            fatal("bench bug: a bad BUF_COPY (seq %u) expected OK", e.seq);
    for (uint32_t id = 0; id < 4; id++) { // source = destination; a buffer not copyable
        const uint32_t other = id == 0 ? 1 : 0;
        t.send(req(OP_BUF_COPY, copy_arg0(id, id, 1), 0, cb));
        t.send(req(OP_BUF_COPY, copy_arg0(id, id, 0), 0, 0));
        t.send(req(OP_BUF_COPY, copy_arg0(id, other, 1), 0, 0));
        t.send(req(OP_BUF_COPY, copy_arg0(other, id, 1), 0, 0));
        t.send(req(OP_BUF_COPY, copy_arg0(id, other, 0), 0, 0));
    }
    t.finish();
}

// Last request word -> first response word for N = 1, 64, 1024, and the writes: one a cycle.
static void test_copy_rate(Bench &b) {
    if (!COPY_BYTES)
        return;
    Test t(b, "BUF_COPY throughput");
    std::vector<uint64_t> acc, txc, cpc;
    // the pair with the most room
    uint32_t bs = 0, bd = 0, bw = 0;
    for (uint32_t s : copy_bufs())
        for (uint32_t d : copy_bufs())
            if (s != d && std::min(copy_words(s), copy_words(d)) > bw) {
                bw = std::min(copy_words(s), copy_words(d));
                bs = s;
                bd = d;
            }
    for (uint32_t n : {1u, 64u, 1024u}) {
        if (n > bw) {
            printf("  N = %u: no two copyable buffers that large\n", n);
            continue;
        }
        acc.clear();
        txc.clear();
        cpc.clear();
        b.acc = &acc;
        b.txc = &txc;
        b.cpc = &cpc;
        t.send(req(OP_BUF_COPY, copy_arg0(bs, bd, n), 0, 0));
        b.run_quiet();
        b.acc = b.txc = b.cpc = nullptr;
        const uint64_t lat = txc.front() - acc.back();
        const uint64_t span = cpc.back() - cpc.front() + 1;
        printf("  BUF_COPY of %u words (%u bytes): first response word %" PRIu64
               " cycles after the last request word; %zu writes in %" PRIu64 " cycles\n",
               n, n * COPY_BYTES, lat, cpc.size(), span);
        CHECK(cpc.size() == n && span == n, "copy of %u words: %zu writes in %" PRIu64 " cycles",
              n, cpc.size(), span);
        if (!COMPACT)
            CHECK(lat == n + C_COPY_LAT, "copy of %u words: latency %" PRIu64 ", want N + %u",
                  n, lat, C_COPY_LAT);
        t.send(req(CBR_OP_BUF_READ, bd, (n - 1) * COPY_BYTES, COPY_BYTES));
        b.run_quiet();
    }
    t.finish();
}

// ---- scatter writes (BUF_WRITE with arg2 != 0) ------------------------------------------------
// Bytes from arg1 to one past the last addressed byte.
static uint64_t scatter_extent(uint32_t arg2, uint64_t len) {
    return len ? Scatter(arg2).at(len - 1) + 1 : 0;
}

// A random good geometry (CHUNK, PITCH) with every size class: tiny, around a word, around
// the array's 16-byte pixels, large, up to the 16-bit limits.
static uint32_t rand_geometry(tb::Rng &rng) {
    uint32_t c, p;
    switch (rng.range(0, 5)) {
    case 0: c = (uint32_t)rng.range(1, 5); p = c + (uint32_t)rng.range(0, 6); break;
    case 1: c = (uint32_t)rng.range(1, 16); p = 16 * (uint32_t)rng.range(1, 4); break;
    case 2: c = (uint32_t)rng.range(1, 40); p = c + (uint32_t)rng.range(0, 80); break;
    case 3: c = (uint32_t)rng.range(1, 600); p = c + (uint32_t)rng.range(0, 3000); break;
    case 4: c = (uint32_t)rng.range(1, 65535); p = (uint32_t)rng.range(c, 65535); break;
    default: c = (uint32_t)rng.range(1, 65535); p = c; break; // adjacent chunks
    }
    if (p < c)
        p = c;
    if (p > 65535)
        p = 65535;
    return CBR_BUF_SCATTER(c, p);
}

// A random good scatter write into buffer id: geometry, a length that fits, any offset.
static Req rand_scatter(tb::Rng &rng, uint32_t id, uint32_t len_max) {
    const uint32_t sz = BUF_BYTES[id];
    uint32_t g = rand_geometry(rng);
    uint32_t n = (uint32_t)(rng.chance(0.3) ? len_max : rng.range(0, len_max));
    while (scatter_extent(g, n) > sz)
        n /= 2;
    uint64_t ext = scatter_extent(g, n);
    uint32_t a1 = (uint32_t)rng.range(0, (int64_t)(sz - ext));
    return req(CBR_OP_BUF_WRITE, id, a1, g, rand_bytes(rng, n));
}

// Sends q, then reads back the start and the end of the range it addresses (whole words;
// the model compares the whole memory at the end of the test as well).
static void send_readback(struct Test &t, const Req &q);

static void test_scatter(Bench &b, bool quick) {
    {
        Test t(b, "scatter BUF_WRITE: directed CHUNK/PITCH");
        static const uint32_t cp[][2] = {
            {1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {2, 2}, {2, 3}, {2, 4}, {3, 3}, {3, 4},
            {3, 5}, {3, 16}, {4, 4}, {4, 16}, {5, 6}, {5, 8}, {7, 9}, {8, 16}, {15, 16},
            {16, 16}, {16, 17}, {17, 64}, {100, 1000}, {1, 65535}, {65535, 65535}};
        for (auto &g : cp)
            for (int i = 0; i < 6; i++) {
                uint32_t id = (uint32_t)b.rng.range(0, 3), sz = BUF_BYTES[id];
                uint32_t a2 = CBR_BUF_SCATTER(g[0], g[1]);
                uint32_t n = i == 0 ? MAXP : i == 1 ? 1 : (uint32_t)b.rng.range(0, MAXP);
                while (scatter_extent(a2, n) > sz)
                    n /= 2;
                uint64_t ext = scatter_extent(a2, n);
                // offsets at both ends of the buffer and in between, any alignment
                uint32_t a1 = i == 2 ? (uint32_t)(sz - ext)
                              : i == 3 ? (uint32_t)b.rng.range(0, 3) % (sz - ext + 1)
                                       : (uint32_t)b.rng.range(0, (int64_t)(sz - ext));
                send_readback(t, req(CBR_OP_BUF_WRITE, id, a1, a2, rand_bytes(b.rng, n)));
            }
        // A write exactly at the end; zero-length ones anywhere up to the end.
        for (uint32_t id = 0; id < 4; id++) {
            const uint32_t sz = BUF_BYTES[id];
            send_readback(t, req(CBR_OP_BUF_WRITE, id, sz - 1, CBR_BUF_SCATTER(1, 9),
                                 rand_bytes(b.rng, 1)));
            send_readback(t, req(CBR_OP_BUF_WRITE, id, sz - 5, CBR_BUF_SCATTER(3, 4),
                                 rand_bytes(b.rng, 5)));
            t.send(req(CBR_OP_BUF_WRITE, id, sz, CBR_BUF_SCATTER(3, 16), {}));
            t.send(req(CBR_OP_BUF_WRITE, id, sz - 3, CBR_BUF_SCATTER(65535, 65535), {}));
        }
        t.finish();
    }
    {
        const int n = quick ? 150 : 400;
        char name[96];
        snprintf(name, sizeof name, "scatter BUF_WRITE: %d random, gaps+backpressure", n);
        Test t(b, name);
        b.gap_p = 0.05;
        b.bp_p = 0.05;
        b.gap_max = 6;
        b.bp_max = 6;
        for (int i = 0; i < n; i++) {
            uint32_t id = (uint32_t)b.rng.range(0, 3);
            Req q = rand_scatter(b.rng, id, b.rng.chance(0.5) ? 64 : MAXP);
            if (b.rng.chance(0.3))
                send_readback(t, q);
            else
                t.send(q);
            if (b.rng.chance(0.2)) // and plain writes in between
                t.send(req(CBR_OP_BUF_WRITE, id, 4 * (uint32_t)b.rng.range(0, (BUF_BYTES[id] - 64) / 4),
                           0, rand_bytes(b.rng, (size_t)b.rng.range(0, 64))));
        }
        t.finish();
    }
}

static void send_readback(Test &t, const Req &q) {
    t.send(q);
    const uint32_t id = q.h.arg0, sz = BUF_BYTES[id];
    const uint64_t ext = scatter_extent(q.h.arg2, q.payload.size());
    if (!ext)
        return;
    const uint64_t lo = q.h.arg1 & ~3u, hi = std::min<uint64_t>(sz, (q.h.arg1 + ext + 3) & ~3ull);
    const uint64_t w = MAXP & ~3u;
    t.send(req(CBR_OP_BUF_READ, id, (uint32_t)lo, (uint32_t)std::min(w, hi - lo)));
    if (hi - lo > w)
        t.send(req(CBR_OP_BUF_READ, id, (uint32_t)((hi - w) & ~3ull),
                   (uint32_t)(hi - ((hi - w) & ~3ull))));
}

static void test_scatter_bad(Bench &b) {
    Test t(b, "scatter BUF_WRITE bad: BAD_ADDRESS, nothing written");
    for (uint32_t id = 0; id < 4; id++) {
        const uint32_t sz = BUF_BYTES[id];
        // geometry: CHUNK 0, CHUNK > PITCH, PITCH 0; with and without a payload
        for (uint32_t a2 : {CBR_BUF_SCATTER(0, 16), CBR_BUF_SCATTER(0, 65535),
                            CBR_BUF_SCATTER(17, 16), CBR_BUF_SCATTER(2, 1),
                            CBR_BUF_SCATTER(65535, 65534), CBR_BUF_SCATTER(5, 0),
                            CBR_BUF_SCATTER(1, 0), CBR_BUF_SCATTER(65535, 0)}) {
            t.send(req(CBR_OP_BUF_WRITE, id, 0, a2, rand_bytes(b.rng, 8)));
            t.send(req(CBR_OP_BUF_WRITE, id, 4, a2, {}));
        }
        // the last addressed byte one past the end, for several geometries and alignments
        for (int i = 0; i < 12; i++) {
            uint32_t a2 = rand_geometry(b.rng);
            uint32_t n = (uint32_t)b.rng.range(1, MAXP);
            while (n > 1 && scatter_extent(a2, n) > sz)
                n /= 2;
            uint64_t ext = scatter_extent(a2, n);
            if (ext > sz) { // a single chunk byte still does not fit: any offset past
                t.send(req(CBR_OP_BUF_WRITE, id, sz, a2, rand_bytes(b.rng, n)));
                continue;
            }
            t.send(req(CBR_OP_BUF_WRITE, id, (uint32_t)(sz - ext + 1), a2, rand_bytes(b.rng, n)));
            t.send(req(CBR_OP_BUF_WRITE, id, (uint32_t)(sz - ext + (uint32_t)b.rng.range(1, 64)),
                       a2, rand_bytes(b.rng, n)));
        }
        // one byte over the end only because of the pitch: chunk 2 of 2 just outside
        if (sz >= 16) {
            t.send(req(CBR_OP_BUF_WRITE, id, sz - 16, CBR_BUF_SCATTER(3, 14), rand_bytes(b.rng, 6)));
            t.send(req(CBR_OP_BUF_WRITE, id, sz - 16, CBR_BUF_SCATTER(3, 16), rand_bytes(b.rng, 4)));
        }
        // zero length: offset above the size; empty writes are checked too
        t.send(req(CBR_OP_BUF_WRITE, id, sz + 1, CBR_BUF_SCATTER(3, 16), {}));
        t.send(req(CBR_OP_BUF_WRITE, id, 0xFFFFFFFFu, CBR_BUF_SCATTER(1, 1), {}));
        // sums that wrap around 2**32 into range
        t.send(req(CBR_OP_BUF_WRITE, id, 0xFFFFFFFFu, CBR_BUF_SCATTER(1, 1), rand_bytes(b.rng, 2)));
        t.send(req(CBR_OP_BUF_WRITE, id, 0xFFFFFFFDu, CBR_BUF_SCATTER(3, 3), rand_bytes(b.rng, 8)));
        {
            uint32_t a2 = CBR_BUF_SCATTER(1, 65535), n = MAXP;
            uint64_t ext = scatter_extent(a2, n); // ~MAXP * 64 KiB: wraps with this offset
            t.send(req(CBR_OP_BUF_WRITE, id, (uint32_t)(0x100000000ull - ext + 4), a2,
                       rand_bytes(b.rng, n)));
            t.send(req(CBR_OP_BUF_WRITE, id, 0, a2, rand_bytes(b.rng, n)));
        }
        t.send(req(CBR_OP_BUF_WRITE, id, 0x80000000u, CBR_BUF_SCATTER(3, 16), rand_bytes(b.rng, 3)));
        // a good one whose packet CRC is bad: BAD_CRC, nothing written
        Req q = req(CBR_OP_BUF_WRITE, id, 1, CBR_BUF_SCATTER(3, 16), rand_bytes(b.rng, 30));
        q.bad_crc = true;
        t.send(q);
        t.send(req(CBR_OP_BUF_READ, id, 0, std::min(sz, MAXP)));
    }
    // 64 KiB pitch: byte 1 lands 65535 bytes after byte 0
    for (uint32_t id = 0; id < 4; id++) {
        t.send(req(CBR_OP_BUF_WRITE, id, 0, CBR_BUF_SCATTER(1, 65535), rand_bytes(b.rng, 2)));
        t.send(req(CBR_OP_BUF_WRITE, id, 0, CBR_BUF_SCATTER(1, 65535), rand_bytes(b.rng, 3)));
    }
    for (uint32_t id : {4u, 7u, 0xFFFFFFFFu}) // no such buffer
        t.send(req(CBR_OP_BUF_WRITE, id, 0, CBR_BUF_SCATTER(3, 16), rand_bytes(b.rng, 6)));
    t.finish();
}

// The commit rate: buffer writes per cycle of a MAX_PAYLOAD scatter write, and the rate of
// back-to-back scatter writes on rx.
static void test_scatter_rate(Bench &b) {
    Test t(b, "scatter throughput");
    uint32_t id = 0; // the largest buffer
    for (uint32_t i = 1; i < 4; i++)
        if (BUF_BYTES[i] > BUF_BYTES[id])
            id = i;
    std::vector<uint64_t> wrc, acc;
    b.wrc = &wrc;
    struct Case {
        uint32_t chunk, pitch, a1;
        bool chunk_per_cycle; // chunks stay inside words: one chunk a cycle is required
    };
    const Case cases[] = {{3, 16, 0, true},   {3, 16, 1, true},    {4, 16, 0, true},
                          {2, 4, 2, true},    {1, 2, 3, true},     {1, 1, 0, true},
                          {3, 3, 0, false},   {5, 16, 0, false},   {16, 16, 0, false},
                          {16, 64, 4, false}, {65535, 65535, 1, false},
                          {0, 0, 0, false}}; // the last: contiguous (arg2 = 0)
    for (const Case &c : cases) {
        const uint32_t a2 = c.chunk ? CBR_BUF_SCATTER(c.chunk, c.pitch) : 0;
        uint32_t n = MAXP;
        while (scatter_extent(a2 ? a2 : CBR_BUF_SCATTER(1, 1), n) + c.a1 > BUF_BYTES[id])
            n /= 2;
        wrc.clear();
        t.send(req(CBR_OP_BUF_WRITE, id, c.a1, a2, rand_bytes(b.rng, n)));
        b.run_quiet();
        if (!CHECK(!wrc.empty(), "scatter rate: no writes"))
            continue;
        const uint64_t cyc = wrc.back() - wrc.front() + 1;
        if (getenv("CBR_TB_DEBUG_GAPS"))
            for (size_t i = 1; i < wrc.size(); i++)
                if (wrc[i] != wrc[i - 1] + 1)
                    printf("    gap after write %zu: %" PRIu64 " cycles\n", i, wrc[i] - wrc[i - 1] - 1);
        const uint64_t chunks = c.chunk ? (n + c.chunk - 1) / c.chunk : 1;
        printf("  %-26s %4u bytes: %4zu writes in %4" PRIu64 " cycles (%.3f writes/cycle, "
               "%.3f chunks/cycle, %.2f bytes/cycle)\n",
               (c.chunk ? "CHUNK " + std::to_string(c.chunk) + " PITCH " +
                              std::to_string(c.pitch) + " arg1%4=" + std::to_string(c.a1 % 4)
                        : std::string("contiguous (arg2 = 0)"))
                   .c_str(),
               n, wrc.size(), cyc, (double)wrc.size() / (double)cyc,
               c.chunk ? (double)chunks / (double)cyc : 0.0, (double)n / (double)cyc);
        if (COMPACT) {
            // a byte a cycle, plus the cycle of each write; the clock starts at the first
            // write, after the first piece's bytes
            const uint32_t b1 = std::min({4 - c.a1 % 4, c.chunk ? c.chunk : 4u, n});
            CHECK(cyc == n - b1 + wrc.size(), "COMPACT CHUNK %u PITCH %u: %zu writes of %u "
                  "bytes took %" PRIu64 " cycles (a byte a cycle plus one a write expected)",
                  c.chunk, c.pitch, wrc.size(), n, cyc);
            continue;
        }
        CHECK(cyc == wrc.size(), "CHUNK %u PITCH %u: %zu writes took %" PRIu64
              " cycles (one a cycle expected)", c.chunk, c.pitch, wrc.size(), cyc);
        if (c.chunk_per_cycle)
            CHECK(chunks >= cyc, "CHUNK %u PITCH %u: %" PRIu64 " chunks in %" PRIu64
                  " cycles, below one chunk a cycle", c.chunk, c.pitch, chunks, cyc);
        if (!c.chunk)
            CHECK(cyc == (n + 3) / 4, "contiguous commit: %" PRIu64 " cycles for %u words",
                  cyc, (n + 3) / 4);
    }
    b.wrc = nullptr;
    // Back to back, as the host streams an image: rx words per cycle.
    b.acc = &acc;
    for (uint32_t chunk : {4u, 3u}) {
        acc.clear();
        const uint32_t a2 = CBR_BUF_SCATTER(chunk, 16);
        const uint32_t span = (uint32_t)scatter_extent(a2, MAXP);
        const int N = 32;
        for (int i = 0; i < N; i++)
            t.send(req(CBR_OP_BUF_WRITE, id, (uint32_t)(i * 16 * ((MAXP + chunk - 1) / chunk)) %
                                                 (BUF_BYTES[id] - span + 1) & ~15u,
                       a2, rand_bytes(b.rng, MAXP)));
        b.run_quiet();
        uint64_t sp = acc.back() - acc.front() + 1;
        double rate = (double)acc.size() / (double)sp;
        printf("  %d back-to-back scatter writes (CHUNK %u PITCH 16, %u bytes): %.3f rx "
               "words/cycle (%.2f payload bytes/cycle)\n",
               N, chunk, MAXP, rate, (double)N * MAXP / (double)sp);
        if (chunk == 4)
            CHECK(rate > (COMPACT ? C_MIN_RATE_SCATTER : 0.98),
                  "back-to-back CHUNK 4 PITCH 16 writes: %.3f words/cycle", rate);
    }
    // A short BUF_READ after each write, as the host paces an output read between the
    // writes of the next tiles: the read's packet has no payload, and the receiver goes on
    // with the next write while the one before commits (the job queue of cbr_cmd_rx), so rx
    // takes words about as fast as back-to-back writes alone. (COMPACT: one packet at a
    // time, as before.)
    {
        acc.clear();
        const int N = 32;
        for (int i = 0; i < N; i++) {
            t.send(req(CBR_OP_BUF_WRITE, id, (uint32_t)(i * MAXP) % (BUF_BYTES[id] - MAXP + 1) &
                                                 ~15u,
                       0, rand_bytes(b.rng, MAXP)));
            t.send(req(CBR_OP_BUF_READ, id, 0, 16));
        }
        b.run_quiet();
        uint64_t sp = acc.back() - acc.front() + 1;
        double rate = (double)acc.size() / (double)sp;
        printf("  %d writes of %u bytes, each followed by a 16-byte BUF_READ: %.3f rx "
               "words/cycle\n", N, MAXP, rate);
        if (!COMPACT)
            CHECK(rate > 0.9, "writes with reads between them: %.3f rx words/cycle", rate);
    }
    // Latency: last request word taken -> first response word out. The extent division
    // (IW+2 cycles from the header) delays only short scatter writes.
    for (uint32_t n : {0u, 4u, 16u, 64u, MAXP}) {
        std::vector<uint64_t> txc;
        acc.clear();
        b.txc = &txc;
        t.send(req(CBR_OP_BUF_WRITE, id, 1, CBR_BUF_SCATTER(3, 16), rand_bytes(b.rng, n)));
        b.run_quiet();
        b.txc = nullptr;
        printf("  scatter BUF_WRITE (CHUNK 3 PITCH 16) of %u bytes: first response word %" PRIu64
               " cycles after the last request word\n", n, txc.front() - acc.back());
    }
    b.acc = nullptr;
    t.finish();
}

static void test_opcodes(Bench &b) {
    Test t(b, "unknown opcodes, payload on no-payload opcodes");
    for (uint32_t op : {0x00u, 0x04u, 0x0Fu, 0x12u, 0x1Fu, 0x22u, 0x31u, 0x80u, 0xFFu})
        t.send(req((uint8_t)op, 0, 0, 0, rand_bytes(b.rng, (size_t)b.rng.range(0, 9))));
    t.send(req(CBR_OP_INFO, 0, 0, 0, rand_bytes(b.rng, 4)));
    t.send(req(CBR_OP_RESET, 0, 0, 0, rand_bytes(b.rng, 1)));
    t.send(req(CBR_OP_RUN, 0, 0, 0, rand_bytes(b.rng, 8))); // must not start the core
    t.finish();
}

static void test_bad_headers(Bench &b) {
    Test t(b, "bad hcrc / version / length; response flag");
    for (int i = 0; i < 8; i++) { // hcrc: ignored, then the next packet is found
        Req q = req(CBR_OP_BUF_WRITE, 1, 64, 0, rand_bytes(b.rng, 40));
        q.bad_hcrc = true;
        t.send(q);
        t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, 4)));
    }
    for (uint8_t v : {0, 2, 3, 0x81, 0xFF}) { // version: BAD_VERSION, the 32 bytes skipped
        Req q = req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, 24));
        q.version = v;
        t.send(q);
        Req r = req(CBR_OP_REG_WRITE, 0, 0, 0, rand_bytes(b.rng, 0));
        r.version = v;
        t.send(r);
    }
    for (uint32_t len : {MAXP + 1, MAXP + 4, MAXP + 3, 0x10000u, 0x80000000u, 0xFFFFFFFFu}) {
        Req q = req(CBR_OP_BUF_WRITE, 0, 0, 0);
        q.h.len = len;
        q.tail_words = (uint32_t)b.rng.range(0, 12);
        t.send(q);
        t.send(req(CBR_OP_INFO));
    }
    for (int i = 0; i < 6; i++) { // response flag: ignored entirely, whatever it carries
        Req q = req(i % 2 ? CBR_OP_BUF_WRITE : CBR_OP_RUN, 0, 0, 0,
                    rand_bytes(b.rng, i % 2 ? 64 : 0));
        q.h.flags = CBR_PROTO_FLAG_RESPONSE | (i >= 4 ? 0x80 : 0);
        if (i == 2)
            q.version = 9;
        if (i == 3) {
            q.h.len = MAXP + 8;
            q.payload.clear();
        }
        t.send(q);
        t.send(req(CBR_OP_REG_READ, 0, 2));
    }
    t.finish();
}

static void test_bad_crc_pad(Bench &b) {
    Test t(b, "bad CRC and non-zero pad: BAD_CRC, nothing written");
    for (int i = 0; i < 24; i++) {
        uint32_t n = (uint32_t)b.rng.range(0, 64);
        Req q = req(i % 3 == 0 ? CBR_OP_REG_WRITE : i % 3 == 1 ? CBR_OP_BUF_WRITE : CBR_OP_RUN,
                    i % 3 == 1 ? 2u : 0u, 0, 0, rand_bytes(b.rng, i % 3 == 2 ? 0 : n & ~3u));
        q.bad_crc = true;
        t.send(q);
    }
    for (uint32_t n = 1; n <= 11; n++) {
        if (n % 4 == 0)
            continue;
        for (int p = 0; p < (int)(4 - n % 4); p++) {
            Req q = req(CBR_OP_BUF_WRITE, 3, 128, 0, rand_bytes(b.rng, n));
            q.bad_pad = p;
            t.send(q);
            Req r = req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, n));
            r.bad_pad = p;
            t.send(r);
        }
    }
    t.send(req(CBR_OP_BUF_READ, 3, 128, 16));
    t.finish();
}

static void test_garbage(Bench &b) {
    Test t(b, "garbage and fake headers between packets");
    for (int k = 0; k <= 9; k++) { // a fake magic then k words, then a real packet
        std::vector<uint32_t> g{CBR_PROTO_MAGIC};
        for (int i = 0; i < k; i++)
            g.push_back(b.rng.chance(0.2) ? CBR_PROTO_MAGIC : rand_garbage_word(b.rng));
        t.garbage(g);
        t.send(req(CBR_OP_BUF_WRITE, 1, 4 * (uint32_t)k, 0, rand_bytes(b.rng, 8)));
    }
    for (int i = 0; i < 30; i++) {
        std::vector<uint32_t> g;
        int n = (int)b.rng.range(0, 40);
        for (int j = 0; j < n; j++)
            g.push_back(b.rng.chance(0.1) ? CBR_PROTO_MAGIC : rand_garbage_word(b.rng));
        t.garbage(g);
        t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, (size_t)b.rng.range(0, 40))));
    }
    // A fake header that looks like the start of a real one (version 1, NOP), then a packet.
    t.garbage({CBR_PROTO_MAGIC, 0x00000101u, g_seq, 0, 0, 0, 0});
    t.send(req(CBR_OP_REG_READ, 0, 4));
    t.finish();
}

static void test_timeout(Bench &b) {
    const uint32_t T = RX_TIMEOUT;
    {
        Test t(b, "truncated header/payload + idle: dropped");
        for (uint32_t cut : {1u, 3u, 7u, 8u, 9u, 20u, 40u}) { // words sent of a 41-word packet
            Req q = req(CBR_OP_BUF_WRITE, 0, 256, 0, rand_bytes(b.rng, 128));
            std::vector<uint32_t> w = to_words(build_bytes(q, b.rng));
            w.resize(cut);
            t.garbage(w);
            Expect e;
            e.seq = q.h.seq;
            e.op = q.h.opcode;
            e.kind = NONE;
            e.what = "truncated";
            t.ex.push_back(e);
            t.send(req(CBR_OP_BUF_WRITE, 0, 512, 0, rand_bytes(b.rng, 64)), EXACT, T + 5);
        }
        t.finish();
    }
    {
        Test t(b, "idle gap of RX_TIMEOUT-1 keeps, RX_TIMEOUT drops");
        for (uint32_t at : {1u, 4u, 7u, 8u, 12u, 39u, 40u}) { // gap before word `at` (of 41)
            for (uint32_t drop = 0; drop < 2; drop++) {
                // gaps count the rx_ready-high cycles, as the device does
                const uint32_t gap = drop ? T : T - 1;
                Req q = req(CBR_OP_BUF_WRITE, 2, 4 * at, 0, rand_bytes(b.rng, 128));
                std::vector<uint32_t> w = to_words(build_bytes(q, b.rng));
                if (!drop) {
                    t.ex.push_back(predict(q, t.model, t.mc));
                } else {
                    Expect e;
                    e.seq = q.h.seq;
                    e.op = q.h.opcode;
                    e.kind = NONE;
                    e.what = "timed out";
                    t.ex.push_back(e);
                }
                t.ex.back().what = "gap";
                for (size_t i = 0; i < w.size(); i++)
                    b.rxq.push_back({w[i], i == at ? gap : 0});
                // After a drop the rest of the packet is garbage; the next one is found.
                t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, 8)));
            }
        }
        t.finish();
    }
    {
        Test t(b, "truncated packet followed at once by packets");
        // Header cut short: the next packet's magic is inside the 8-word window.
        for (uint32_t cut : {1u, 2u, 5u, 7u}) {
            Req q = req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, 64));
            std::vector<uint32_t> w = to_words(build_bytes(q, b.rng));
            w.resize(cut);
            t.garbage(w);
            Expect e;
            e.seq = q.h.seq;
            e.op = q.h.opcode;
            e.kind = NONE;
            t.ex.push_back(e);
            t.send(req(CBR_OP_REG_WRITE, 4 * cut, 0, 0, rand_bytes(b.rng, 4)));
        }
        // Payload cut short: the next words complete it (BAD_CRC, or nothing), a long NOP is
        // swallowed (whatever happens to it changes nothing), the packet after is answered.
        for (uint32_t cut : {9u, 10u, 30u, 40u}) { // of 41 words
            Req q = req(CBR_OP_BUF_WRITE, 1, 0, 0, rand_bytes(b.rng, 128));
            std::vector<uint32_t> w = to_words(build_bytes(q, b.rng));
            w.resize(cut);
            t.garbage(w);
            Expect e;
            e.seq = q.h.seq;
            e.op = q.h.opcode;
            e.kind = NONE_OR_BAD;
            t.ex.push_back(e);
            t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, 200)), ANY);
            t.send(req(CBR_OP_BUF_WRITE, 1, 1024, 0, rand_bytes(b.rng, 32)));
        }
        t.finish();
    }
}

static void test_reset_mid_packet(Bench &b) {
    Test t(b, "rst in the middle of a request");
    Req q = req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, 256));
    std::vector<uint32_t> w = to_words(build_bytes(q, b.rng));
    w.resize(30);
    b.push(w);
    b.run(60);
    b.reset();
    t.send(req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, 16)));
    t.send(req(CBR_OP_BUF_READ, 0, 0, 16));
    t.finish();
}

static void test_backpressure(Bench &b) {
    Test t(b, "long tx stall: rx stalls, nothing lost");
    for (int i = 0; i < 40; i++)
        t.send(req(CBR_OP_BUF_READ, (uint32_t)(i & 3), 0, MAXP));
    b.bp_left = 30000; // tx_ready low all that time
    b.run(30000);
    CHECK(b.resp.empty(), "%s: a response went out while tx_ready was low", t.name.c_str());
    CHECK(!b.rxq.empty(), "%s: rx took all %d requests without sending a response",
          t.name.c_str(), 40);
    t.finish();
}

static void test_throughput(Bench &b) {
    Test t(b, "throughput");
    std::vector<uint64_t> acc;
    b.acc = &acc;
    const uint32_t W = MAXP / 4;
    t.send(req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, MAXP)));
    t.send(req(CBR_OP_NOP));
    b.run_quiet();
    // payload words are words 8 .. 8+W-1 of the first packet
    uint64_t pcyc = acc[8 + W - 1] - acc[8] + 1;
    double prate = (double)W / (double)pcyc;
    printf("  BUF_WRITE of %u bytes: %u payload words accepted in %" PRIu64
           " cycles (%.3f words/cycle)\n",
           MAXP, W, pcyc, prate);
    if (COMPACT)
        CHECK(pcyc == C_PAY_CYCLES * (W - 1) + 1, "COMPACT: payload not accepted at one word "
              "per %u cycles (%" PRIu64 " cycles for %u)", C_PAY_CYCLES, pcyc, W);
    else
        CHECK(pcyc == W, "payload not accepted at one word per cycle (%" PRIu64 " cycles for %u)",
              pcyc, W);
    // Latency: last request word taken -> first response word out (cycles between the edges).
    for (uint32_t n : {0u, 4u, MAXP}) {
        std::vector<uint64_t> txc;
        acc.clear();
        b.txc = &txc;
        t.send(req(CBR_OP_NOP, 0, 0, 0, rand_bytes(b.rng, n)));
        b.run_quiet();
        printf("  NOP of %u bytes: first response word %" PRIu64 " cycles after the last request word\n",
               n, txc.front() - acc.back());
        acc.clear();
        txc.clear();
        t.send(req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(b.rng, n)));
        b.run_quiet();
        printf("  BUF_WRITE of %u bytes: first response word %" PRIu64
               " cycles after the last request word\n", n, txc.front() - acc.back());
        b.txc = nullptr;
    }
    acc.clear();
    const int N = 64;
    for (int i = 0; i < N; i++)
        t.send(req(CBR_OP_BUF_WRITE, (uint32_t)(i & 3), 0, 0, rand_bytes(b.rng, MAXP)));
    b.run_quiet();
    uint64_t span = acc.back() - acc.front() + 1;
    double rate = (double)acc.size() / (double)span;
    printf("  %d back-to-back BUF_WRITEs of %u bytes: %zu words in %" PRIu64
           " cycles (%.3f words/cycle, %.3f payload words/cycle)\n",
           N, MAXP, acc.size(), span, rate, (double)N * W / (double)span);
    CHECK(rate > (COMPACT ? C_MIN_RATE : 0.98), "sustained rate %.3f words/cycle", rate);
    b.acc = nullptr;
    t.finish();
}

// A BUF_READ's answer and a BUF_WRITE behind it, to a host that takes a response word about
// one cycle in four. COMPACT = 0: the read's payload is read out while the write, to another
// buffer, is committed (buf_re and buf_we in the same cycles), so the write is done before the
// answer has left, with the 4-word queue as with a block-RAM one (which also queues the answer
// at a word a cycle); a write to the read's own buffer waits for the read, and the answer is
// the data from before it. COMPACT: one packet at a time, the write after the answer. With a
// block-RAM queue two reads go first: the first fills the queue, the second is read out
// beside the write as the queue drains.
static void test_full_duplex(Bench &b) {
    Test t(b, "reads drain while writes run");
    const uint32_t fit = TB_TX_DEPTH > 4 ? 4 * (TB_TX_DEPTH - 12) : MAXP;
    const uint32_t n = fit < MAXP ? fit : MAXP, nr = TB_TX_DEPTH > 4 ? 2 : 1;
    const uint32_t words = nr * (8 + n / 4 + 1);
    for (uint32_t wid : {1u, 0u}) {
        std::vector<uint64_t> wr, tx, rd;
        const uint64_t both0 = b.cnt.both;
        b.wrc = &wr;
        b.txc = &tx;
        b.rdc = &rd;
        b.bp_p = 0.75;  // tx_ready low 3 cycles in 4
        b.bp_max = 1;
        for (uint32_t i = 0; i < nr; i++)
            t.send(req(CBR_OP_BUF_READ, 0, 0, n));
        t.send(req(CBR_OP_BUF_WRITE, wid, 0, 0, rand_bytes(b.rng, n)));
        b.run_quiet();
        b.bp_p = 0;
        b.wrc = nullptr;
        b.txc = nullptr;
        b.rdc = nullptr;
        const uint64_t both = b.cnt.both - both0;
        if (!CHECK(tx.size() >= words && wr.size() == n / 4 && rd.size() == nr * n / 4, "%zu "
                   "response words, %zu buffer writes, %zu reads", tx.size(), wr.size(),
                   rd.size()))
            continue;
        const uint64_t last_rd = tx[words - 1];
        printf("  %u BUF_READ of %u bytes from buffer 0, then BUF_WRITE to buffer %u: the write "
               "committed %s cycle %" PRIu64 ", the answer's last word out at %" PRIu64 ", %"
               PRIu64 " cycles with both\n", nr, n, wid, wr.back() < last_rd ? "by" : "at",
               wr.back() - tx[0], last_rd - tx[0], both);
        if (COMPACT || wid == 0)
            CHECK(both == 0 && wr.front() > rd.back(), "%s: the BUF_WRITE to buffer %u was "
                  "committed while the read's payload was read (first write at %" PRIu64
                  ", last read at %" PRIu64 ")", COMPACT ? "COMPACT" : "same buffer", wid,
                  wr.front(), rd.back());
        else
            CHECK(wr.back() < last_rd && both > 0, "the BUF_WRITE to another buffer waited "
                  "for the read's answer to leave (%" PRIu64 " cycles with both)", both);
    }
    t.finish();
}

// ---- random streams ---------------------------------------------------------------------------
static Req random_req(tb::Rng &rng) {
    int k = (int)rng.range(0, 99);
    auto addr_in = [&](uint32_t size, uint32_t len) {
        return 4 * (uint32_t)rng.range(0, (size - len) / 4);
    };
    auto len_small = [&]() {
        return (uint32_t)(rng.chance(0.15) ? rng.range(0, MAXP) : rng.range(0, 48));
    };
    if (k < 12)
        return req(CBR_OP_NOP, rng.u32(), rng.u32(), rng.u32(), rand_bytes(rng, len_small()));
    if (k < 15)
        return req(CBR_OP_INFO);
    if (k < 17)
        return req(CBR_OP_RESET);
    if (k < 19)
        return req(CBR_OP_RUN);
    if (k < 29) {
        uint32_t n = 4 * (uint32_t)rng.range(1, REG_CHUNK / 4);
        return req(CBR_OP_REG_WRITE, addr_in(REG_BYTES, n), 0, 0, rand_bytes(rng, n));
    }
    if (k < 37) {
        uint32_t n = (uint32_t)rng.range(0, REG_CHUNK / 4);
        return req(CBR_OP_REG_READ, addr_in(REG_BYTES, 4 * n), n);
    }
    if (k < 48) {
        uint32_t id = (uint32_t)rng.range(0, 3), n = len_small();
        return req(CBR_OP_BUF_WRITE, id, addr_in(BUF_BYTES[id], n), 0, rand_bytes(rng, n));
    }
    if (k < 55)
        return rand_scatter(rng, (uint32_t)rng.range(0, 3), len_small());
    if (k < 66) {
        uint32_t id = (uint32_t)rng.range(0, 3), n = len_small();
        return req(CBR_OP_BUF_READ, id, addr_in(BUF_BYTES[id], n), n);
    }
    if (k < 68) { // BUF_COPY, good where the build has it (BAD_OPCODE where not)
        std::vector<uint32_t> ids = copy_bufs();
        uint32_t s = ids[(size_t)rng.range(0, ids.size() - 1)], d = s;
        while (d == s)
            d = ids[(size_t)rng.range(0, ids.size() - 1)];
        const uint32_t cb = copy_unit();
        uint32_t n = (uint32_t)rng.range(0, std::min(std::min(copy_words(s), copy_words(d)), 64u));
        return req(OP_BUF_COPY, copy_arg0(s, d, n), cb * (uint32_t)rng.range(0, copy_words(s) - n),
                   cb * (uint32_t)rng.range(0, copy_words(d) - n));
    }
    // well-formed packets with a bad request in them
    switch (rng.range(0, 14)) {
    case 0: {
        uint32_t n = 4 * (uint32_t)rng.range(1, 8);
        return req(CBR_OP_REG_WRITE, REG_BYTES - n + 4 * (uint32_t)rng.range(1, 4), 0, 0,
                   rand_bytes(rng, n));
    }
    case 1:
        return req(CBR_OP_REG_WRITE, 4 * (uint32_t)rng.range(0, 4), 0, 0,
                   rand_bytes(rng, (size_t)(rng.range(0, 3) * 4 + rng.range(1, 3))));
    case 2:
        return req(CBR_OP_REG_READ, rng.u32(), (uint32_t)rng.range(1, 8));
    case 3: {
        uint32_t id = (uint32_t)rng.range(0, 3), n = (uint32_t)rng.range(1, 64);
        return req(CBR_OP_BUF_WRITE, id, 0xFFFFFFFCu - 4 * (uint32_t)rng.range(0, 3), 0,
                   rand_bytes(rng, n));
    }
    case 4: {
        uint32_t id = (uint32_t)rng.range(0, 3), n = (uint32_t)rng.range(1, 64);
        return req(CBR_OP_BUF_WRITE, id, BUF_BYTES[id] - (n & ~3u), 0, rand_bytes(rng, n + 4));
    }
    case 5:
        return req(CBR_OP_BUF_WRITE, (uint32_t)rng.range(4, 0xFFFFFFFF), 0, 0,
                   rand_bytes(rng, 8));
    case 6:
        return req(CBR_OP_BUF_READ, (uint32_t)rng.range(0, 3), rng.u32(), rng.u32());
    case 7:
        return req(CBR_OP_BUF_READ, (uint32_t)rng.range(0, 3), 4 * (uint32_t)rng.range(0, 9) + 2,
                   16);
    case 8:
        return req((uint8_t)(0x40 + rng.range(0, 0xBF)), 0, 0, 0, rand_bytes(rng, 5));
    case 9: {
        Req q = req(CBR_OP_BUF_WRITE, 0, 0, 0, rand_bytes(rng, 12));
        q.version = (uint8_t)rng.range(2, 255);
        return q;
    }
    case 10: {
        Req q = req(CBR_OP_NOP);
        q.h.len = (uint32_t)rng.range(MAXP + 1, 0xFFFFFFFF);
        q.tail_words = (uint32_t)rng.range(0, 6);
        return q;
    }
    case 12: { // scatter geometry: CHUNK 0, or CHUNK > PITCH
        uint32_t p = (uint32_t)rng.range(0, 65534);
        uint32_t c = rng.chance(0.3) ? 0 : (uint32_t)rng.range(p + 1, 65535);
        return req(CBR_OP_BUF_WRITE, (uint32_t)rng.range(0, 3), (uint32_t)rng.range(0, 64),
                   CBR_BUF_SCATTER(c, p), rand_bytes(rng, (size_t)rng.range(0, 40)));
    }
    case 13: { // scatter range: the last byte just past the end, or far past
        uint32_t id = (uint32_t)rng.range(0, 3), sz = BUF_BYTES[id];
        uint32_t a2 = rand_geometry(rng), n = (uint32_t)rng.range(1, 64);
        uint64_t ext = scatter_extent(a2, n);
        uint32_t a1 = ext <= sz ? (uint32_t)(sz - ext + (uint32_t)rng.range(1, 8)) : rng.u32();
        return req(CBR_OP_BUF_WRITE, id, a1, a2, rand_bytes(rng, n));
    }
    case 14: { // BUF_COPY: random fields, or a good one one word too long
        if (rng.chance(0.5))
            return req(OP_BUF_COPY, rng.u32() & (rng.chance(0.5) ? 0xFFFFFF0Fu : ~0u), rng.u32(),
                       rng.u32());
        uint32_t s = (uint32_t)rng.range(0, 3), d = (uint32_t)rng.range(0, 3);
        uint32_t n = (uint32_t)rng.range(1, 8), cb = copy_unit();
        return req(OP_BUF_COPY, copy_arg0(s, d, n), BUF_BYTES[s] / cb * cb - (n - 1) * cb,
                   cb * (uint32_t)rng.range(0, 4));
    }
    default: {
        Req q = req(CBR_OP_BUF_WRITE, 1, 0, 0, rand_bytes(rng, 20));
        q.h.flags = CBR_PROTO_FLAG_RESPONSE;
        return q;
    }
    }
}

struct StreamCfg {
    const char *name;
    int packets;
    double corrupt, garbage, gap_p, bp_p;
    uint32_t gap_max, bp_max;
};

static void test_stream(Bench &b, const StreamCfg &c) {
    char name[128];
    snprintf(name, sizeof name, "random: %s (%d packets)", c.name, c.packets);
    Test t(b, name);
    b.gap_p = c.gap_p;
    b.bp_p = c.bp_p;
    b.gap_max = c.gap_max;
    b.bp_max = c.bp_max;
    int corrupted = 0;
    for (int i = 0; i < c.packets; i++) {
        if (b.rng.chance(c.garbage)) {
            std::vector<uint32_t> g;
            int n = (int)b.rng.range(1, 12);
            for (int j = 0; j < n; j++)
                g.push_back(b.rng.chance(0.15) ? CBR_PROTO_MAGIC : rand_garbage_word(b.rng));
            t.garbage(g);
        }
        Req q = random_req(b.rng);
        if (b.rng.chance(c.corrupt)) {
            t.send(q, EXACT, 0, (int)b.rng.range(1, 3));
            corrupted++;
        } else {
            t.send(q);
        }
    }
    b.rxq.push_back({0, 0}); // a last non-magic word so nothing waits in the window
    t.finish();
    printf("  %d corrupted\n", corrupted);
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    g_seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_cmd: seed %" PRIu64 " (MAX_PAYLOAD %u, REG_BYTES %u, RX_TIMEOUT %u, COPY_BYTES %u"
           " COPY_BUFS 0x%x)\n", g_seed, MAXP, REG_BYTES, RX_TIMEOUT, COPY_BYTES, COPY_BUFS);
    fflush(stdout);
    tb::Rng rng(g_seed);
    Vcbr_cmd *dut = new Vcbr_cmd;
    {
        Bench b(dut, rng);
        test_idle(b);
        test_nop(b);
        test_info(b);
        test_reset_run(b);
        test_checked_run(b);
        test_regs(b);
        test_regs_bad(b);
        test_bufs(b);
        test_bufs_bad(b);
        test_scatter(b, quick);
        test_scatter_bad(b);
        test_copy(b, quick);
        test_copy_bad(b);
        test_copy_rate(b);
        test_opcodes(b);
        test_bad_headers(b);
        test_bad_crc_pad(b);
        test_garbage(b);
        test_timeout(b);
        test_reset_mid_packet(b);
        test_backpressure(b);
        test_throughput(b);
        test_full_duplex(b);
        test_scatter_rate(b);
        const int n = quick ? 500 : 2000;
        const StreamCfg cfgs[] = {
            {"clean, no gaps", n, 0.0, 0.0, 0.0, 0.0, 1, 1},
            {"bit flips", n, 0.2, 0.0, 0.0, 0.0, 1, 1},
            {"flips+garbage+gaps+backpressure", n, 0.15, 0.15, 0.2, 0.2, 8, 8},
            {"long gaps, bursty backpressure", n / 2, 0.1, 0.1, 0.01, 0.01, RX_TIMEOUT - 1, 3000},
            {"heavy corruption", n, 0.5, 0.3, 0.05, 0.3, 3, 40},
        };
        for (const StreamCfg &c : cfgs)
            test_stream(b, c);
        printf("tb_cmd: %" PRIu64 " packets, %" PRIu64 " cycles\n", g_packets, b.cyc);
    }
    dut->final();
    delete dut;
    if (g_score.failed)
        fprintf(stderr, "tb_cmd: FAILED with seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 ")\n",
                g_seed, g_seed);
    return g_score.finish();
}
