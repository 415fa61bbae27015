// tb_cmd_fuzz.cpp - random and corrupted packets into the command block (rtl/cbr_cmd.v), for
// a bounded time (--seconds N, default 40; CBR_SEED / --seed replays).
//
// Each round sends a random mix into rx, with random rx gaps (shorter than RX_TIMEOUT) and
// tx back-pressure: good requests (NOP, INFO, REG_WRITE/READ, BUF_WRITE/READ incl. scatter,
// BUF_COPY (BAD_OPCODE when built without it), RESET, RUN, bad opcodes and addresses), random words, truncated packets, packets with a
// flipped bit in the header, payload or CRC, headers with a recomputed hcrc but a wrong
// length (longer, shorter, above MAX_PAYLOAD, huge), wrong versions and response flags. Then
// the line goes idle for RX_TIMEOUT cycles and a probe NOP is sent. Checked:
//   - never stuck: the probe is answered within a bound;
//   - tx never emits a malformed packet: the host's reader, fed everything tx sends, finds
//     only good packets and skips no byte; tx_valid/tx_data hold until taken;
//   - every response carries the seq of a request that was sent, none is answered twice,
//     the good requests sent after the previous probe with nothing corrupted before them in
//     the round are all answered, in order, with the expected status and payload (NOP echo,
//     INFO, register and buffer read-back against a shadow model);
//   - no register or buffer write from a corrupted packet: the payload bytes of every
//     corrupted write are >= 0x80 and those of good writes < 0x80, so any written byte
//     >= 0x80 fails; every buffer/register access lies inside its buffer / register space,
//     and every write matches the shadow of the good write it belongs to; the copy port
//     reads and writes whole words inside the copyable buffers, each write the word read
//     the cycle before, never while the buffer port is busy.
#include "Vcbr_cmd.h"
#include "tb_common.h"

#include <deque>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "proto.h"
}

#ifndef TB_MAX_PAYLOAD
#error "built by mk/shells.mk with -DTB_* parameters"
#endif
#ifndef TB_COPY_BYTES
#define TB_COPY_BYTES 0
#endif
#ifndef TB_COPY_BUFS
#define TB_COPY_BUFS 0
#endif
#ifndef TB_COMPACT
#define TB_COMPACT 0
#endif

namespace tb {
inline uint32_t get32le_(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
inline void put32le_(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
} // namespace tb

namespace {

const uint32_t MAXP = TB_MAX_PAYLOAD, REG_BYTES = TB_REG_BYTES, RX_TIMEOUT = TB_RX_TIMEOUT;
const uint32_t BUF_SIZE[4] = {TB_BUF0_BYTES, TB_BUF1_BYTES, TB_BUF2_BYTES, TB_BUF3_BYTES};
// BUF_COPY (0x22): arg0 = src | dst << 2 | N << 8 words of COPY_BYTES (0: not built)
const uint8_t OP_BUF_COPY = 0x22;
const uint32_t COPY_BYTES = TB_COPY_BYTES, COPY_BUFS = TB_COPY_BUFS;
const bool COMPACT = TB_COMPACT != 0;

struct Expect {
    uint32_t seq;
    uint8_t op, status;
    bool check_payload;
    std::vector<uint8_t> payload;
};

struct Fuzz {
    Vcbr_cmd *d;
    tb::Rng &rng;
    tb::Score &sc;
    uint64_t cycles = 0;
    uint32_t rx_idle = 0;                 // cycles rx has had words and sent none
    std::deque<uint32_t> rx;              // words to send
    double rx_rate = 1, tx_rate = 1;
    std::vector<uint8_t> bufs[4], regs;   // what the RTL's memories hold
    std::vector<uint8_t> shadow[4], sregs; // what good writes put there
    bool rd_pend = false, rrd_pend = false, cp_pend = false;
    std::vector<uint8_t> cp_word;          // the copy port's word read last cycle
    uint32_t rd_id = 0, rd_addr = 0, rrd_addr = 0;
    cbr_reader rd;
    std::map<uint32_t, int> sent;          // seq -> 0 good, 1 corrupted; answered removes
    std::deque<Expect> expect;             // answers owed, in order
    std::map<uint32_t, std::string> how;   // seq -> how a corrupted packet was made
    uint32_t seq = 1;
    bool prev_tv = false, prev_taken = false;
    uint32_t prev_td = 0;
    uint64_t n_resp = 0, n_writes = 0, n_good = 0, n_bad = 0, n_junk = 0;
    uint64_t n_both = 0;  // cycles with a buffer write and a buffer read (COMPACT = 0)

    Fuzz(Vcbr_cmd *dut, tb::Rng &r, tb::Score &s) : d(dut), rng(r), sc(s) {
        for (int i = 0; i < 4; i++) {
            bufs[i].assign(BUF_SIZE[i], 0);
            shadow[i].assign(BUF_SIZE[i], 0);
        }
        regs.assign(REG_BYTES, 0);
        sregs.assign(REG_BYTES, 0);
        if (cbr_reader_init(&rd, 65536) < 0)
            abort();
    }
    ~Fuzz() { cbr_reader_free(&rd); }

    void cycle() {
        // rx gaps stay under RX_TIMEOUT: a gap that long is the idle line, which drops a
        // partial packet (the idle after each round tests it) and would drop owed requests
        d->rx_valid = !rx.empty() && (rng.chance(rx_rate) || rx_idle >= RX_TIMEOUT / 2);
        rx_idle = d->rx_valid || rx.empty() ? 0 : rx_idle + 1;
        d->rx_data = rx.empty() ? rng.u32() : rx.front();
        d->tx_ready = rng.chance(tx_rate);
        // read data for last cycle's strobes
        if (rd_pend)
            d->buf_rdata = tb::get32le_(&bufs[rd_id][rd_addr]);
        if (rrd_pend)
            d->reg_rdata = tb::get32le_(&regs[rrd_addr]);
        d->eval();
        bool tv = d->tx_valid;
        if (prev_tv && !prev_taken)
            sc.check(tv && d->tx_data == prev_td, "cycle %" PRIu64 ": tx word changed or "
                     "vanished before it was taken", cycles);
        bool taken = tv && d->tx_ready;
        prev_tv = tv;
        prev_taken = taken;
        prev_td = d->tx_data;
        if (taken) {
            uint8_t b[4];
            tb::put32le_(b, d->tx_data);
            cbr_reader_feed(&rd, b, 4);
            drain();
        }
        if (d->rx_valid && d->rx_ready)
            rx.pop_front();
        rd_pend = rrd_pend = false;
        if (d->buf_we && d->buf_re) {
            // a read drains while a write to another buffer commits; never one buffer
            n_both++;
            sc.check(!COMPACT, "cycle %" PRIu64 ": buf_we with buf_re (COMPACT)", cycles);
            sc.check(d->buf_wid != d->buf_rid, "cycle %" PRIu64 ": buf_we and buf_re for "
                     "buffer %u", cycles, (unsigned)d->buf_wid);
        }
        if (d->buf_we) {
            uint32_t id = d->buf_wid, a = d->buf_waddr;
            bool in = id < 4 && a % 4 == 0 && (uint64_t)a + 4 <= BUF_SIZE[id];
            sc.check(in, "cycle %" PRIu64 ": buffer write outside: id %u addr %u", cycles, id, a);
            if (in) {
                n_writes++;
                for (int i = 0; i < 4; i++) {
                    if (!((d->buf_wstrb >> i) & 1))
                        continue;
                    uint8_t v = (uint8_t)(d->buf_wdata >> (8 * i));
                    sc.check(v < 0x80, "cycle %" PRIu64 ": buffer %u byte %u written 0x%02x: "
                             "a corrupted packet's byte", cycles, id, a + i, v);
                    bufs[id][a + i] = v;
                }
            }
        }
        if (d->buf_re) {
            uint32_t id = d->buf_rid, a = d->buf_raddr;
            bool in = id < 4 && a % 4 == 0 && (uint64_t)a + 4 <= BUF_SIZE[id];
            sc.check(in, "cycle %" PRIu64 ": buffer read outside: id %u addr %u", cycles, id, a);
            if (in) {
                rd_pend = true;
                rd_id = id;
                rd_addr = a;
            }
        }
        // the copy port: this cycle's write is the word read last cycle
        if (d->cp_we) {
            uint32_t id = d->cp_wid, a = d->cp_waddr;
            bool in = COPY_BYTES && (COPY_BUFS >> id & 1) && a % COPY_BYTES == 0
                      && (uint64_t)a + COPY_BYTES <= BUF_SIZE[id];
            sc.check(in, "cycle %" PRIu64 ": copy write outside: id %u addr %u", cycles, id, a);
            sc.check(cp_pend, "cycle %" PRIu64 ": cp_we without cp_re the cycle before", cycles);
            if (in && cp_pend) {
                n_writes++;
                memcpy(&bufs[id][a], cp_word.data(), COPY_BYTES);
            }
        }
        cp_pend = false;
        if (d->cp_re) {
            uint32_t id = d->cp_rid, a = d->cp_raddr;
            bool in = COPY_BYTES && (COPY_BUFS >> id & 1) && a % COPY_BYTES == 0
                      && (uint64_t)a + COPY_BYTES <= BUF_SIZE[id];
            sc.check(in, "cycle %" PRIu64 ": copy read outside: id %u addr %u", cycles, id, a);
            if (in) {
                cp_pend = true;
                cp_word.assign(bufs[id].begin() + a, bufs[id].begin() + a + COPY_BYTES);
            }
        }
        if (d->cp_re || d->cp_we)
            sc.check(!d->buf_we && !d->buf_re && !d->reg_we && !d->reg_re,
                     "cycle %" PRIu64 ": buffer/register port busy during a copy", cycles);
        if (d->reg_we || d->reg_re) {
            uint32_t a = d->reg_addr;
            bool in = a % 4 == 0 && a + 4 <= REG_BYTES;
            sc.check(in, "cycle %" PRIu64 ": register access outside: %u", cycles, a);
            if (in && d->reg_we) {
                n_writes++;
                for (int i = 0; i < 4; i++) {
                    uint8_t v = (uint8_t)(d->reg_wdata >> (8 * i));
                    sc.check(v < 0x80, "cycle %" PRIu64 ": register byte %u written 0x%02x: "
                             "a corrupted packet's byte", cycles, a + i, v);
                    regs[a + i] = v;
                }
            }
            if (in && d->reg_re) {
                rrd_pend = true;
                rrd_addr = a;
            }
        }
        d->clk = 1;
        d->eval();
        d->clk = 0;
        d->eval();
        cycles++;
    }

    void drain() {
        for (;;) {
            cbr_pkt p;
            const uint8_t *pl;
            enum cbr_read_result r = cbr_reader_next(&rd, &p, &pl);
            if (r == CBR_READ_NEED_MORE)
                break;
            if (!sc.check(r == CBR_READ_PACKET && rd.skipped == 0 && (p.flags & 1),
                          "cycle %" PRIu64 ": tx sent a malformed packet (reader %d, %" PRIu64
                          " bytes skipped)", cycles, (int)r, rd.skipped))
                continue;
            n_resp++;
            auto it = sent.find(p.seq);
            if (!sc.check(it != sent.end(), "cycle %" PRIu64 ": response to seq %u, never sent "
                          "or answered twice", cycles, p.seq))
                continue;
            bool bad = it->second;
            sent.erase(it);
            if (bad) {
                sc.check(p.status != CBR_ST_OK || p.opcode == CBR_OP_NOP || p.opcode == CBR_OP_INFO ||
                             p.opcode == CBR_OP_BUF_READ || p.opcode == CBR_OP_REG_READ,
                         "cycle %" PRIu64 ": a corrupted %s (seq %u: %s) was answered OK", cycles,
                         cbr_op_name(p.opcode), p.seq, how[p.seq].c_str());
                continue;
            }
            // Good requests after something corrupted may be lost (not owed); owed ones
            // must all come, in order.
            bool owed = false;
            for (const Expect &x : expect)
                owed |= x.seq == p.seq;
            if (!owed)
                continue;
            while (!expect.empty() && expect.front().seq != p.seq) {
                sc.check(false, "cycle %" PRIu64 ": good request seq %u (%s) not answered",
                         cycles, expect.front().seq, cbr_op_name(expect.front().op));
                expect.pop_front();
            }
            Expect e = expect.front();
            expect.pop_front();
            sc.check(p.opcode == e.op && p.status == e.status &&
                         (!e.check_payload || (p.len == e.payload.size() &&
                                               !memcmp(pl, e.payload.data(), p.len))),
                     "cycle %" PRIu64 ": %s seq %u answered %s status %s, %u bytes (want %s, %zu)",
                     cycles, cbr_op_name(e.op), p.seq, cbr_op_name(p.opcode),
                     cbr_status_name(p.status), p.len, cbr_status_name(e.status),
                     e.payload.size());
        }
    }

    void push_words(const std::vector<uint8_t> &w) {
        for (size_t i = 0; i + 4 <= w.size(); i += 4)
            rx.push_back(tb::get32le_(&w[i]));
    }

    std::vector<uint8_t> enc(cbr_pkt &p, const std::vector<uint8_t> &pl) {
        p.seq = seq++;
        p.len = (uint32_t)pl.size();
        std::vector<uint8_t> w(cbr_pkt_wire_size(p.len));
        cbr_pkt_encode(&p, pl.data(), w.data());
        return w;
    }

    std::vector<uint8_t> bytes(size_t n, bool poison) {
        std::vector<uint8_t> v(n);
        for (auto &b : v)
            b = (uint8_t)((rng.u32() & 0x7F) | (poison ? 0x80 : 0));
        return v;
    }

    // A good request, expected answer recorded (owed = it follows nothing corrupted).
    void good(bool owed) {
        cbr_pkt p = {};
        std::vector<uint8_t> pl;
        Expect e = {};
        e.status = CBR_ST_OK;
        int k = (int)rng.range(0, 11);
        if (!owed && (k == 2 || k == 4 || k == 5 || k == 10))
            k = 0; // a write that may be swallowed would leave the shadow wrong
        switch (k) {
        case 0: p.opcode = CBR_OP_NOP; pl = bytes((size_t)rng.range(0, MAXP), false);
            e.check_payload = true; e.payload = pl; break;
        case 1: p.opcode = CBR_OP_INFO; break;
        case 2: { // REG_WRITE in range
            uint32_t n = (uint32_t)rng.range(1, REG_BYTES / 4);
            uint32_t a = 4 * (uint32_t)rng.range(0, REG_BYTES / 4 - n);
            p.opcode = CBR_OP_REG_WRITE; p.arg0 = a; pl = bytes(4 * n, false);
            memcpy(&sregs[a], pl.data(), pl.size());
            break;
        }
        case 3: { // REG_READ
            uint32_t n = (uint32_t)rng.range(0, REG_BYTES / 4);
            uint32_t a = 4 * (uint32_t)rng.range(0, REG_BYTES / 4 - n);
            p.opcode = CBR_OP_REG_READ; p.arg0 = a; p.arg1 = n;
            e.check_payload = true; e.payload.assign(sregs.begin() + a, sregs.begin() + a + 4 * n);
            break;
        }
        case 4: case 5: { // BUF_WRITE contiguous or scatter
            uint32_t id = (uint32_t)rng.range(0, 3), sz = BUF_SIZE[id];
            uint32_t n = (uint32_t)rng.range(0, std::min(MAXP, sz));
            p.opcode = CBR_OP_BUF_WRITE; p.arg0 = id; pl = bytes(n, false);
            if (k == 4) {
                uint32_t off = 4 * (uint32_t)rng.range(0, (sz - n) / 4);
                p.arg1 = off;
                memcpy(&shadow[id][off], pl.data(), n);
            } else {
                uint32_t c = (uint32_t)rng.range(1, 8), pt = c + (uint32_t)rng.range(0, 8);
                uint64_t ext = n ? (uint64_t)((n - 1) / c) * pt + (n - 1) % c + 1 : 0;
                if (ext > sz) { p.arg2 = 0; p.arg1 = 0; pl.resize(std::min(n, sz) & ~3u);
                    memcpy(&shadow[id][0], pl.data(), pl.size()); break; }
                uint32_t off = (uint32_t)rng.range(0, (int64_t)(sz - ext));
                p.arg1 = off; p.arg2 = CBR_BUF_SCATTER(c, pt);
                for (uint32_t i = 0; i < n; i++)
                    shadow[id][off + (i / c) * pt + i % c] = pl[i];
            }
            break;
        }
        case 6: { // BUF_READ
            uint32_t id = (uint32_t)rng.range(0, 3), sz = BUF_SIZE[id];
            uint32_t n = (uint32_t)rng.range(0, std::min(MAXP, sz));
            uint32_t off = 4 * (uint32_t)rng.range(0, (sz - n) / 4);
            p.opcode = CBR_OP_BUF_READ; p.arg0 = id; p.arg1 = off; p.arg2 = n;
            e.check_payload = true;
            e.payload.assign(shadow[id].begin() + off, shadow[id].begin() + off + n);
            break;
        }
        case 7: p.opcode = rng.chance(0.5) ? CBR_OP_RESET : CBR_OP_RUN; break;
        case 8: p.opcode = (uint8_t)rng.range(0x40, 0xFF); e.status = CBR_ST_BAD_OPCODE; break;
        case 10: case 11: { // BUF_COPY: a good one, or one word past the end of a buffer
            static const uint32_t ids[3] = {0, 1, 3}; // cbr_top's copyable buffers
            uint32_t s = ids[rng.range(0, 2)], t = s;
            while (t == s)
                t = ids[rng.range(0, 2)];
            const uint32_t cb = COPY_BYTES ? COPY_BYTES : 16;
            const uint32_t ws = BUF_SIZE[s] / cb, wt = BUF_SIZE[t] / cb;
            uint32_t n = (uint32_t)rng.range(0, std::min(ws, wt));
            uint32_t a1 = cb * (uint32_t)rng.range(0, ws - n);
            uint32_t a2 = cb * (uint32_t)rng.range(0, wt - n);
            if (k == 11 && rng.chance(0.5)) // past the end by 1..4 words
                a1 = cb * (ws - n + (uint32_t)rng.range(1, 4));
            else if (k == 11)
                a2 = cb * (wt - n + (uint32_t)rng.range(1, 4));
            p.opcode = OP_BUF_COPY; p.arg0 = s | t << 2 | n << 8; p.arg1 = a1; p.arg2 = a2;
            bool ok = COPY_BYTES && (COPY_BUFS >> s & 1) && (COPY_BUFS >> t & 1)
                      && a1 % COPY_BYTES == 0 && a2 % COPY_BYTES == 0
                      && (uint64_t)a1 + (uint64_t)n * COPY_BYTES <= BUF_SIZE[s]
                      && (uint64_t)a2 + (uint64_t)n * COPY_BYTES <= BUF_SIZE[t];
            e.status = !COPY_BYTES ? CBR_ST_BAD_OPCODE : ok ? CBR_ST_OK : CBR_ST_BAD_ADDRESS;
            if (e.status == CBR_ST_OK && n && owed)
                memcpy(&shadow[t][a2], &shadow[s][a1], (size_t)n * COPY_BYTES);
            break;
        }
        default: // a bad address
            p.opcode = CBR_OP_BUF_READ; p.arg0 = (uint32_t)rng.range(4, 0xFFFFFFFF); p.arg2 = 4;
            e.status = CBR_ST_BAD_ADDRESS; break;
        }
        std::vector<uint8_t> w = enc(p, pl);
        e.seq = p.seq;
        e.op = p.opcode;
        sent[p.seq] = 0;
        if (owed)
            expect.push_back(e);
        n_good++;
        push_words(w);
    }

    // Something corrupted or garbage.
    void bad() {
        n_bad++;
        int k = (int)rng.range(0, 7);
        if (k == 0) { // random words, sometimes with magics in them
            size_t n = (size_t)rng.range(1, 40);
            for (size_t i = 0; i < n; i++)
                rx.push_back(rng.chance(0.1) ? CBR_PROTO_MAGIC : rng.u32());
            n_junk += n;
            return;
        }
        cbr_pkt p = {};
        static const uint8_t ops[] = {CBR_OP_NOP, CBR_OP_REG_WRITE, CBR_OP_BUF_WRITE,
                                      CBR_OP_BUF_WRITE, CBR_OP_REG_READ, CBR_OP_BUF_READ,
                                      OP_BUF_COPY};
        p.opcode = ops[rng.range(0, 6)];
        p.arg0 = p.opcode == CBR_OP_BUF_WRITE ? (uint32_t)rng.range(0, 3) : 0;
        if (p.opcode == OP_BUF_COPY) // buffer 0 to 1, 1..4 words: good until corrupted
            p.arg0 = 0 | 1 << 2 | (uint32_t)rng.range(1, 4) << 8;
        p.arg1 = p.opcode == CBR_OP_REG_READ ? 1 : 0;
        if (p.opcode == CBR_OP_BUF_WRITE && rng.chance(0.3))
            p.arg2 = CBR_BUF_SCATTER(rng.range(1, 5), rng.range(5, 9));
        std::vector<uint8_t> pl = bytes((size_t)rng.range(p.opcode == CBR_OP_REG_WRITE ? 1 : 0,
                                                          MAXP / 4) * (p.opcode == CBR_OP_REG_WRITE ? 4 : 1),
                                        true);
        if (p.opcode == CBR_OP_REG_READ || p.opcode == CBR_OP_BUF_READ || p.opcode == OP_BUF_COPY)
            pl.clear();
        std::vector<uint8_t> w = enc(p, pl);
        sent[p.seq] = 1;
        char what[160];
        snprintf(what, sizeof what, "kind %d, %s arg0 %u arg1 %u arg2 0x%x len %u", k,
                 cbr_op_name(p.opcode), p.arg0, p.arg1, p.arg2, p.len);
        how[p.seq] = what;
        switch (k) {
        case 1: w.resize(4 * (size_t)rng.range(1, (int64_t)(w.size() / 4) - 1)); break; // truncated
        case 2: w[rng.range(0, 31)] ^= (uint8_t)(1u << rng.range(0, 7)); break;        // header bit
        case 3: if (w.size() > 36) { w[rng.range(32, (int64_t)w.size() - 5)] ^= (uint8_t)(1u << rng.range(0, 7)); break; }
            /* fall through */
        case 4: w[w.size() - 1 - rng.range(0, 3)] ^= (uint8_t)(1u << rng.range(0, 7)); break; // crc
        default: { // a header with a recomputed hcrc: wrong length, version or flags
            int m = (int)rng.range(0, 4);
            uint32_t len = p.len;
            if (m == 0) len = p.len + 4 * (uint32_t)rng.range(1, 8);
            // (a length that only turns zero pad bytes into payload would make a valid
            // packet: with a good hcrc the CRC state after the header is the same for any
            // header, so such a change is not a corruption)
            else if (m == 1) len = p.len >= 4 ? p.len - 4 * (uint32_t)rng.range(1, p.len / 4) : p.len + 4;
            else if (m == 2) len = MAXP + (uint32_t)rng.range(1, 1 << 20);
            else if (m == 3) len = 0xFFFFFFFF - (uint32_t)rng.range(0, 100);
            tb::put32le_(&w[24], len);
            if (m == 4) w[4] = (uint8_t)rng.range(2, 255);
            how[p.seq] += ", header length " + std::to_string(len) + " mode " + std::to_string(m);
            if (rng.chance(0.1)) w[6] |= 1;
            tb::put32le_(&w[28], cbr_crc32(0, w.data(), 28));
            break;
        }
        }
        push_words(w);
    }
};

} // namespace

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    uint64_t seed = tb::seed_from_args(argc, argv);
    double seconds = 40;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
    printf("tb_cmd_fuzz: seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 "), %.0f s, MAX_PAYLOAD %u, "
           "RX_TIMEOUT %u, COPY_BYTES %u\n", seed, seed, seconds, MAXP, RX_TIMEOUT, COPY_BYTES);
    fflush(stdout);
    tb::Rng rng(seed);
    tb::Score sc("tb_cmd_fuzz");
    Vcbr_cmd *d = new Vcbr_cmd;
    uint64_t rounds = 0, probes = 0, worst = 0;
    {
        Fuzz f(d, rng, sc);
        d->rst = 1;
        for (int i = 0; i < 4; i++)
            f.cycle();
        d->rst = 0;
        auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() <
                   seconds && sc.failed == 0) {
            static const double rates[] = {1.0, 0.8, 0.3, 0.05};
            f.rx_rate = rates[rng.range(0, 3)];
            f.tx_rate = rates[rng.range(0, 3)];
            bool clean = true;
            int n = (int)rng.range(1, 12);
            for (int i = 0; i < n; i++) {
                if (rng.chance(0.4)) {
                    f.bad();
                    clean = false;
                } else {
                    f.good(clean);
                }
            }
            while (!f.rx.empty() && f.cycles < (uint64_t)1e12)
                f.cycle();
            // idle: a partial packet times out, every answer drains
            f.rx_rate = 1.0;
            f.tx_rate = 1.0;
            for (uint32_t i = 0; i < RX_TIMEOUT + 2 * MAXP + 200; i++)
                f.cycle();
            // the probe
            f.rx_rate = 1.0;
            f.tx_rate = 1.0;
            size_t owed = f.expect.size();
            cbr_pkt p = {};
            p.opcode = CBR_OP_NOP;
            std::vector<uint8_t> pl = f.bytes(16, false);
            std::vector<uint8_t> w = f.enc(p, pl);
            f.sent[p.seq] = 0;
            f.expect.push_back({p.seq, CBR_OP_NOP, CBR_ST_OK, true, pl});
            f.push_words(w);
            uint64_t c0 = f.cycles;
            (void)owed;
            while (!f.expect.empty() && f.cycles - c0 < 20000)
                f.cycle();
            sc.check(f.expect.empty(), "round %" PRIu64 ": %zu answers owed after the probe NOP "
                     "(seq %u) and %" PRIu64 " cycles: the block is stuck", rounds,
                     f.expect.size(), p.seq, f.cycles - c0);
            worst = std::max(worst, f.cycles - c0);
            f.expect.clear();
            probes++;
            rounds++;
        }
        printf("tb_cmd_fuzz: %" PRIu64 " rounds, %" PRIu64 " cycles, %" PRIu64 " good and %" PRIu64
               " bad items (%" PRIu64 " junk words), %" PRIu64 " responses, %" PRIu64
               " writes checked (%" PRIu64 " cycles also reading), probe answered within %"
               PRIu64 " cycles at worst\n", rounds, f.cycles, f.n_good, f.n_bad, f.n_junk,
               f.n_resp, f.n_writes, f.n_both, worst);
        sc.check(probes > 0, "no round ran");
        // BUF_READs followed by BUF_WRITEs to other buffers come in most runs of a thousand
        // rounds: the reader and the commit then overlap (COMPACT = 0)
        if (!COMPACT && rounds >= 1000)
            sc.check(f.n_both > 0, "%" PRIu64 " rounds and never a buffer write beside a read",
                     rounds);
    }
    d->final();
    delete d;
    int rc = sc.finish();
    if (rc)
        fprintf(stderr, "tb_cmd_fuzz: FAILED with seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64
                ")\n", seed, seed);
    return rc;
}
