// tb_xdma.cpp - Verilator bench of cbr_xdma_top (cbr_xdma_bridge + cbr_top) against a model
// of the Xilinx XDMA IP (PG195, AXI4-Stream mode, 64-bit) and the host's DMA calls.
//
// The model, cycle by cycle:
//   - H2C: each host write() is one transfer, cut into 8-byte beats (tkeep partial only on
//     the last one, tlast on it); tvalid comes and goes at random but, once up, holds with
//     its data until tready.
//   - C2H: the host posts read()s of random sizes; tready is high only while one is posted
//     (and then at random). A read completes when its size is reached or a beat with tlast
//     arrives, and only then do its bytes reach the host, as with the XDMA driver. Checked:
//     tvalid/tdata/tkeep/tlast hold until taken, tkeep is 8'hFF or (with tlast) 8'h0F, and
//     tlast falls exactly on the end of every response packet (a byte-level parser follows
//     the stream).
//   - AXI4-Lite (user BAR): random reads of the registers all through the run with random
//     ready/valid delays: ID, VERSION, STATUS.LINK_UP and H2C_BYTES exact, C2H_BYTES within
//     the one beat the bridge may hold; then LINK_RESET (CONTROL), H2C_ERR from a transfer
//     that splits a word, and the link still working after both.
// Requests, responses and layers: tb_link.h.
#include "Vtb.h"
#include "tb_link.h"

#ifndef C2H_IDLE
#define C2H_IDLE 32
#endif

namespace {

struct AxilOp {
    bool write;
    uint32_t addr, data;
};

struct Xdma : tb::Link {
    Vtb *top;
    // H2C
    bool h_valid = false;
    uint64_t h_data = 0;
    uint8_t h_keep = 0;
    bool h_last = false;
    size_t h_pos = 0;
    uint64_t h2c_count = 0; // bytes the bridge took
    double h2c_rate = 1.0;
    // C2H
    size_t rd_want = 0;
    std::vector<uint8_t> rd_buf;
    double c2h_rate = 1.0;
    uint64_t c2h_count = 0;
    bool prev_tvalid = false, prev_taken = false;
    uint64_t prev_tdata = 0;
    uint8_t prev_tkeep = 0;
    bool prev_tlast = false;
    // byte-level packet parser of the C2H stream: bytes of the current packet so far
    std::vector<uint8_t> pk;
    uint64_t packets = 0, tlasts = 0, reads_done = 0;
    // AXI4-Lite master
    std::deque<AxilOp> ops;
    int ax_state = 0; // 0 idle, 1 address/data out, 2 waiting for the answer
    AxilOp cur{};
    bool aw_done = false, w_done = false;
    uint64_t ar_h2c = 0, ar_c2h = 0;
    std::vector<uint32_t> reads; // answers of reads, for the directed tests
    bool auto_reads = true;
    uint64_t reg_checks = 0;

    Xdma(Vtb *t, tb::Rng &r, tb::Score &s) : Link(r, s), top(t) {}
    const char *name() const override { return "xdma"; }

    void shuffle() override {
        static const double rates[] = {1.0, 0.7, 0.2, 0.03};
        h2c_rate = rates[rng.range(0, 3)];
        c2h_rate = rates[rng.range(0, 3)];
    }

    bool fail(bool ok, const char *what, uint64_t a = 0, uint64_t b = 0) {
        if (!ok && !broken) {
            sc.check(false, "xdma: cycle %" PRIu64 ": %s (0x%" PRIx64 ", 0x%" PRIx64 ")", cycles,
                     what, a, b);
            broken = true;
        }
        return ok;
    }

    // A C2H byte reached the host side of the stream: follow the packets.
    // Returns true when it was the last byte of a packet.
    bool parse_byte(uint8_t b) {
        pk.push_back(b);
        if (pk.size() < 32)
            return false;
        uint32_t len = tb::get32le(&pk[24]);
        if (pk.size() == 32)
            fail(tb::get32le(&pk[0]) == CBR_PROTO_MAGIC && len <= 65536,
                 "C2H stream: not a packet header", tb::get32le(&pk[0]), len);
        if (pk.size() == cbr_pkt_wire_size(len)) {
            pk.clear();
            packets++;
            return true;
        }
        return false;
    }

    void drive_axil() {
        top->s_axil_awvalid = 0;
        top->s_axil_wvalid = 0;
        top->s_axil_arvalid = 0;
        top->s_axil_bready = rng.chance(0.6);
        top->s_axil_rready = rng.chance(0.6);
        if (ax_state == 0) {
            if (ops.empty() && auto_reads && rng.chance(0.01))
                ops.push_back({false, (uint32_t)rng.range(0, 7) * 4, 0});
            if (!ops.empty() && rng.chance(0.5)) {
                cur = ops.front();
                ops.pop_front();
                ax_state = 1;
                aw_done = w_done = false;
            }
        }
        if (ax_state == 1) {
            if (cur.write) {
                if (!aw_done) {
                    top->s_axil_awvalid = 1;
                    top->s_axil_awaddr = cur.addr;
                }
                if (!w_done) {
                    top->s_axil_wvalid = 1;
                    top->s_axil_wdata = cur.data;
                    top->s_axil_wstrb = 0xF;
                }
            } else {
                top->s_axil_arvalid = 1;
                top->s_axil_araddr = cur.addr;
            }
        }
    }

    void sample_axil() {
        if (ax_state == 1) {
            if (cur.write) {
                aw_done |= top->s_axil_awready && top->s_axil_awvalid;
                w_done |= top->s_axil_wready && top->s_axil_wvalid;
                if (aw_done && w_done)
                    ax_state = 2;
            } else if (top->s_axil_arready) {
                ar_h2c = h2c_count;
                ar_c2h = c2h_count;
                ax_state = 2;
            }
        } else if (ax_state == 2) {
            if (cur.write && top->s_axil_bvalid && top->s_axil_bready) {
                fail(top->s_axil_bresp == 0, "AXI-Lite write answered an error");
                ax_state = 0;
            } else if (!cur.write && top->s_axil_rvalid && top->s_axil_rready) {
                uint32_t v = top->s_axil_rdata;
                fail(top->s_axil_rresp == 0, "AXI-Lite read answered an error");
                reads.push_back(v);
                reg_checks++;
                switch (cur.addr) {
                case 0x00: fail(v == 0x58524243u, "ID", v); break;
                case 0x04: fail(v == 0x00010001u, "VERSION", v); break;
                case 0x08: if (auto_reads) fail((v & 1) && !(v & ~1u), "STATUS", v); break;
                case 0x10: fail(v == (uint32_t)ar_h2c, "H2C_BYTES", v, ar_h2c); break;
                case 0x14: fail(v - (uint32_t)ar_c2h <= 8, "C2H_BYTES", v, ar_c2h); break;
                case 0x18: case 0x1C: fail(v == 0, "an unlisted register is not 0", v); break;
                default: break;
                }
                ax_state = 0;
            }
        }
    }

    void cycle() override {
        // H2C beat for this cycle
        if (!h_valid && !h2d.empty() && rng.chance(h2c_rate)) {
            std::vector<uint8_t> &t = h2d.front();
            size_t n = std::min<size_t>(8, t.size() - h_pos);
            h_data = 0;
            h_keep = 0;
            for (size_t i = 0; i < n; i++) {
                h_data |= (uint64_t)t[h_pos + i] << (8 * i);
                h_keep |= (uint8_t)(1u << i);
            }
            h_pos += n;
            h_last = h_pos == t.size();
            h_valid = true;
            if (h_last) {
                h2d.pop_front();
                h_pos = 0;
            }
        }
        top->s_axis_h2c_tvalid = h_valid;
        top->s_axis_h2c_tdata = h_valid ? h_data : rng.next();
        top->s_axis_h2c_tkeep = h_keep;
        top->s_axis_h2c_tlast = h_last;
        if (rd_want == 0 && rng.chance(0.3)) {
            static const size_t sizes[] = {64, 256, 1024, 4096, 65536};
            rd_want = sizes[rng.range(0, 4)];
        }
        top->m_axis_c2h_tready = rd_want && rng.chance(c2h_rate);
        top->user_lnk_up = 1;
        drive_axil();
        top->eval();

        // AXI4-Stream rules on C2H: what waited must still be there, unchanged.
        bool tv = top->m_axis_c2h_tvalid;
        if (prev_tvalid && !prev_taken)
            fail(tv && top->m_axis_c2h_tdata == prev_tdata && top->m_axis_c2h_tkeep == prev_tkeep &&
                     top->m_axis_c2h_tlast == prev_tlast,
                 "C2H beat changed or vanished before it was taken");
        bool taken = tv && top->m_axis_c2h_tready;
        prev_tvalid = tv;
        prev_taken = taken;
        prev_tdata = top->m_axis_c2h_tdata;
        prev_tkeep = top->m_axis_c2h_tkeep;
        prev_tlast = top->m_axis_c2h_tlast;

        // Edge: handshakes (the register block samples the counts before this edge's beats).
        sample_axil();
        if (h_valid && top->s_axis_h2c_tready) {
            for (int i = 0; i < 8; i++)
                h2c_count += (h_keep >> i) & 1;
            h_valid = false;
        }
        if (taken) {
            uint8_t k = top->m_axis_c2h_tkeep;
            bool last = top->m_axis_c2h_tlast;
            fail(k == 0xFF || (k == 0x0F && last), "C2H tkeep", k, last);
            bool end = false;
            for (int i = 0; i < 8; i++) {
                if (!((k >> i) & 1))
                    continue;
                uint8_t b = (uint8_t)(top->m_axis_c2h_tdata >> (8 * i));
                rd_buf.push_back(b);
                c2h_count++;
                end = parse_byte(b);
                fail(!end || i >= (k == 0xFF ? 7 : 3), "a packet ends inside a beat");
            }
            fail(end == last, "tlast not exactly at the end of a response packet", end, last);
            tlasts += last;
            if (last || rd_buf.size() >= rd_want) {
                d2h.insert(d2h.end(), rd_buf.begin(), rd_buf.end());
                rd_buf.clear();
                rd_want = 0;
                reads_done++;
            }
        }

        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        cycles++;
    }

    // A register access from the test, waited for.
    uint32_t axil(bool write, uint32_t addr, uint32_t data = 0) {
        while (ax_state != 0 || !ops.empty())
            cycle();
        size_t n = reads.size();
        ops.push_back({write, addr, data});
        do
            cycle();
        while ((ax_state != 0 || !ops.empty()) && !broken);
        return reads.size() > n ? reads.back() : 0;
    }
};

// LINK_RESET and H2C_ERR, and the link working after them.
void test_control(Xdma &x, tb::Host &h) {
    x.auto_reads = false;
    tb::Resp r;
    // A transfer that splits a word: H2C_ERR, the bytes of the split word dropped.
    std::vector<uint8_t> odd = tb::rand_bytes(x.rng, 6);
    x.send(odd.data(), odd.size());
    x.run(200);
    uint32_t st = x.axil(false, 0x08);
    x.sc.check((st & 3) == 3, "xdma: STATUS 0x%x after a 6-byte transfer (want LINK_UP|H2C_ERR)",
               st);
    x.axil(true, 0x0C, 1);
    uint32_t ctl = 1;
    for (int i = 0; i < 1000 && (ctl & 1); i++)
        ctl = x.axil(false, 0x0C);
    st = x.axil(false, 0x08);
    x.sc.check(!(ctl & 1) && st == 1, "xdma: after LINK_RESET CONTROL 0x%x STATUS 0x%x", ctl, st);
    // The 4 words taken before the reset form no packet; they only delay the next header's
    // discovery. RESET and NOP are answered.
    h.call(CBR_OP_RESET, 0, 0, 0, {}, r);
    h.call(CBR_OP_NOP, 0, 0, 0, tb::rand_bytes(x.rng, 100), r);
    // LINK_RESET while a long response streams out slowly: what comes after is whole packets.
    x.c2h_rate = 0.05;
    uint32_t s;
    std::vector<uint8_t> w = h.encode(CBR_OP_BUF_READ, 0, 0, 16000, {}, &s);
    x.send(w.data(), w.size());
    x.run(3000);
    x.axil(true, 0x0C, 1);
    for (ctl = 1; ctl & 1;)
        ctl = x.axil(false, 0x0C);
    x.c2h_rate = 1.0;
    x.run(20000);
    // The host drains: the read that was open when the response was cut ends at the
    // driver's timeout with what it had; the model's parser restarts with it.
    x.rd_buf.clear();
    x.rd_want = 0;
    x.d2h.clear();
    cbr_reader_reset(&h.rd);
    x.pk.clear();
    h.call(CBR_OP_NOP, 0, 0, 0, tb::rand_bytes(x.rng, 333), r);
    h.call(CBR_OP_INFO, 0, 0, 0, {}, r);
    x.auto_reads = true;
}

} // namespace

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    uint64_t seed = tb::seed_from_args(argc, argv);
    bool quick = tb::quick_from_args(argc, argv);
    printf("tb_xdma: seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 "), array %dx%d, C2H idle flush "
           "after %d cycles\n", seed, seed, ROWS, COLS, C2H_IDLE);
    fflush(stdout);
    tb::Rng rng(seed);
    tb::Score sc("tb_xdma");
    Vtb *top = new Vtb;
    {
        Xdma x(top, rng, sc);
        top->rst = 1;
        for (int i = 0; i < 8; i++) {
            top->clk = 1;
            top->eval();
            top->clk = 0;
            top->eval();
        }
        top->rst = 0;
        x.run(20);
        tb::run_link_tests(x, {ROWS, COLS}, quick);
        {
            tb::Host h(x);
            if (!x.broken)
                test_control(x, h);
        }
        printf("xdma: %" PRIu64 " cycles, %" PRIu64 " response packets, %" PRIu64 " tlast, %"
               PRIu64 " C2H reads completed, %" PRIu64 " register reads checked, host %" PRIu64
               " bytes out\n", x.cycles, x.packets, x.tlasts, x.reads_done, x.reg_checks,
               x.bytes_out);
    }
    top->final();
    delete top;
    int rc = sc.finish();
    if (rc)
        fprintf(stderr, "tb_xdma: FAILED with seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 ")\n",
                seed, seed);
    return rc;
}
