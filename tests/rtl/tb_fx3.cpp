// tb_fx3.cpp - Verilator bench of cbr_fx3_top (cbr_fx3_bridge + cbr_top) against a model of
// a Cypress FX3 in synchronous slave FIFO mode (AN65974) and the USB host behind it.
//
// The model, cycle by cycle (cycle e ends with rising edge e; the FX3 samples the FPGA's
// registered outputs at the edge):
//   - U2P socket (address ADDR_OUT): the host's bulk OUT transfers arrive as USB packets of
//     at most 1024 bytes, one per DMA buffer, into OUT_BUFS buffers; after a buffer is drained
//     the socket switches to the next after a random 0..3 edges. SLRD# sampled at edge k
//     takes the next word if the current buffer holds one (else junk, nothing consumed); the
//     word is on DQ in cycle k+2 if SLOE# is low then (junk if it is not).
//   - P2U socket (ADDR_IN): IN_BUFS DMA buffers of IN_BUF_WORDS words; SLWR# at edge k stores
//     DQ in the current buffer; a full buffer is committed, PKTEND# commits a partial one
//     (a short packet). Committed buffers go to the host when its random polling takes them.
//     A write with no buffer ready is a lost word: an error.
//   - FLAGA (P2U ready) and FLAGB (U2P ready) in cycle e describe the sockets after edge e-3.
//   - Checked on every edge: SLCS# low for any strobe, the right address for each strobe,
//     never SLRD# with SLWR#, SLOE# low under reads, the FPGA never drives DQ in a cycle
//     next to one in which the FX3 drives it (turnaround), no write lost, no zero-length
//     packet, and every response reaches the host within a bounded time (so the IN
//     direction must end each response with PKTEND#).
// Back-pressure is random on both sides and changes between test rounds.
#include "Vtb.h"
#include "tb_link.h"

#ifndef ADDR_OUT
#define ADDR_OUT 3
#endif
#ifndef ADDR_IN
#define ADDR_IN 0
#endif
#ifndef IN_BUF_WORDS
#define IN_BUF_WORDS 1024
#endif
#ifndef PKTEND_IDLE
#define PKTEND_IDLE 16
#endif

namespace {

struct Fx3 : tb::Link {
    Vtb *top;
    // U2P
    std::deque<std::vector<uint32_t>> out_bufs; // full buffers, front is the current one
    size_t out_pos = 0;
    int out_switch = 0;                          // edges until the next buffer is current
    std::vector<uint8_t> out_partial;            // bytes of the host transfer being packetised
    // P2U
    std::vector<uint32_t> in_cur;
    bool in_have = true;                         // a current buffer exists
    int in_switch = 0;
    std::deque<std::vector<uint32_t>> in_done;   // committed, waiting for the host
    // flags, by edge
    std::deque<uint8_t> flag_hist;               // bit 0 FLAGA, bit 1 FLAGB after edge e
    // read data, by the cycle it is on DQ
    std::deque<std::pair<bool, uint32_t>> rd_pipe; // [0]: cycle e+1, [1]: cycle e+2
    bool fx3_drove = false, fpga_drove = false;
    // knobs
    int out_bufs_max = 2, in_bufs_max = 2;
    double host_out_rate = 1.0, host_in_rate = 1.0;
    // counts
    uint64_t reads = 0, junk_reads = 0, writes = 0, full_commits = 0, short_commits = 0;
    uint64_t errors = 0;

    Fx3(Vtb *t, tb::Rng &r, tb::Score &s) : Link(r, s), top(t) {
        for (int i = 0; i < 3; i++)
            flag_hist.push_back(0);
        rd_pipe.assign(2, {false, 0});
    }
    const char *name() const override { return "fx3"; }

    void shuffle() override {
        out_bufs_max = (int)rng.range(1, 4);
        in_bufs_max = (int)rng.range(1, 4);
        static const double rates[] = {1.0, 0.5, 0.1, 0.02};
        host_out_rate = rates[rng.range(0, 3)];
        host_in_rate = rates[rng.range(0, 3)];
    }

    bool fail(bool ok, const char *what) {
        if (!ok && !broken) {
            sc.check(false, "fx3: cycle %" PRIu64 ": %s", cycles, what);
            errors++;
            broken = true;
        }
        return ok;
    }

    bool out_ready() const {
        return !out_bufs.empty() && out_switch == 0 && out_pos < out_bufs.front().size();
    }
    bool in_ready() const {
        return in_have && in_switch == 0 && in_cur.size() < (size_t)IN_BUF_WORDS;
    }

    void commit_in(bool short_pkt) {
        in_done.push_back(in_cur);
        in_cur.clear();
        (short_pkt ? short_commits : full_commits)++;
        in_have = false;
    }

    void cycle() override {
        // Inputs for cycle e: flags after edge e-3, read data of the read at edge e-2.
        uint8_t f = flag_hist.front();
        top->fx3_flaga = f & 1;
        top->fx3_flagb = (f >> 1) & 1;
        bool fx3_drives = !top->fx3_sloe_n;
        std::pair<bool, uint32_t> d = rd_pipe.front();
        rd_pipe.pop_front();
        top->fx3_dq_i = fx3_drives && d.first ? d.second : rng.u32();
        bool fpga_drives = top->fx3_dq_oe;
        fail(!(fx3_drives && (fpga_drives || fpga_drove)) && !(fpga_drives && fx3_drove),
             "DQ driven by the FX3 and the FPGA in the same or adjacent cycles");
        fx3_drove = fx3_drives;
        fpga_drove = fpga_drives;
        top->eval();

        // Edge e: the FX3 samples the strobes.
        bool cs = !top->fx3_slcs_n, rd = !top->fx3_slrd_n, wr = !top->fx3_slwr_n;
        bool pk = !top->fx3_pktend_n;
        uint8_t a = top->fx3_a;
        std::pair<bool, uint32_t> next = {false, 0};
        if (rd || wr || pk) {
            fail(cs, "a strobe with SLCS# high");
            fail(!(rd && wr), "SLRD# and SLWR# together");
        }
        if (rd && cs) {
            fail(a == ADDR_OUT, "SLRD# with A not the U2P socket");
            fail(!top->fx3_sloe_n, "SLRD# with SLOE# high");
            reads++;
            if (out_ready()) {
                next = {true, out_bufs.front()[out_pos++]};
                if (out_pos == out_bufs.front().size()) {
                    out_bufs.pop_front();
                    out_pos = 0;
                    out_switch = (int)rng.range(0, 3);
                }
            } else {
                junk_reads++;
            }
        }
        if (wr && cs) {
            fail(a == ADDR_IN, "SLWR# with A not the P2U socket");
            fail(top->fx3_dq_oe, "SLWR# while the FPGA does not drive DQ");
            fail(in_ready(), "SLWR# with no P2U buffer ready: word lost");
            if (in_ready()) {
                writes++;
                in_cur.push_back(top->fx3_dq_o);
                if (in_cur.size() == (size_t)IN_BUF_WORDS)
                    commit_in(false);
            }
        }
        if (pk && cs) {
            fail(a == ADDR_IN, "PKTEND# with A not the P2U socket");
            fail(in_have && in_switch == 0, "PKTEND# with no P2U buffer");
            fail(!in_cur.empty() || wr, "PKTEND# on an empty buffer (zero-length packet)");
            if (in_have && !in_cur.empty())
                commit_in(true);
        }
        rd_pipe.push_back(next);

        // USB side.
        if (out_switch > 0)
            out_switch--;
        if (!in_have && (int)in_done.size() < in_bufs_max) {
            in_have = true;
            in_switch = (int)rng.range(0, 3);
        } else if (in_switch > 0) {
            in_switch--;
        }
        if (!h2d.empty() && (int)out_bufs.size() < out_bufs_max && rng.chance(host_out_rate)) {
            // One USB packet: up to 1024 bytes of the current transfer.
            std::vector<uint8_t> &t = h2d.front();
            size_t n = std::min<size_t>(t.size(), 1024);
            fail(n % 4 == 0, "host transfer not a whole number of words");
            std::vector<uint32_t> b(n / 4);
            for (size_t i = 0; i < n / 4; i++)
                b[i] = tb::get32le(&t[4 * i]);
            t.erase(t.begin(), t.begin() + (long)n);
            if (t.empty())
                h2d.pop_front();
            if (!b.empty())
                out_bufs.push_back(b);
        }
        if (!in_done.empty() && rng.chance(host_in_rate)) {
            for (uint32_t w : in_done.front())
                for (int i = 0; i < 4; i++)
                    d2h.push_back((uint8_t)(w >> (8 * i)));
            in_done.pop_front();
        }
        flag_hist.pop_front();
        flag_hist.push_back((uint8_t)((in_ready() ? 1 : 0) | (out_ready() ? 2 : 0)));

        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        cycles++;
    }
};

} // namespace

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    uint64_t seed = tb::seed_from_args(argc, argv);
    bool quick = tb::quick_from_args(argc, argv);
    printf("tb_fx3: seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 "), array %dx%d, P2U buffer "
           "%d words, PKTEND after %d idle cycles\n", seed, seed, ROWS, COLS, IN_BUF_WORDS,
           PKTEND_IDLE);
    fflush(stdout);
    tb::Rng rng(seed);
    tb::Score sc("tb_fx3");
    Vtb *top = new Vtb;
    {
        Fx3 fx(top, rng, sc);
        top->clk = 0;
        top->rst = 1;
        top->fx3_flaga = 0;
        top->fx3_flagb = 0;
        top->fx3_dq_i = 0;
        for (int i = 0; i < 8; i++) {
            top->clk = 1;
            top->eval();
            top->clk = 0;
            top->eval();
        }
        top->rst = 0;
        fx.run(50);
        tb::run_link_tests(fx, {ROWS, COLS}, quick);
        // Quiet now: nothing may remain in the P2U buffer or in flight.
        fx.run(4 * PKTEND_IDLE + 200);
        sc.check(fx.in_cur.empty() && fx.in_done.empty() && fx.d2h.empty(),
                 "fx3: %zu words left in the P2U buffer, %zu committed buffers not taken, %zu "
                 "bytes unread at the end", fx.in_cur.size(), fx.in_done.size(), fx.d2h.size());
        printf("fx3: %" PRIu64 " cycles, %" PRIu64 " reads (%" PRIu64 " of an empty socket), %"
               PRIu64 " writes, %" PRIu64 " full and %" PRIu64 " short packets, host %" PRIu64
               " bytes out, %" PRIu64 " in\n", fx.cycles, fx.reads, fx.junk_reads, fx.writes,
               fx.full_commits, fx.short_commits, fx.bytes_out, fx.bytes_in);
    }
    top->final();
    delete top;
    int rc = sc.finish();
    if (rc)
        fprintf(stderr, "tb_fx3: FAILED with seed %" PRIu64 " (replay: CBR_SEED=%" PRIu64 ")\n",
                seed, seed);
    return rc;
}
