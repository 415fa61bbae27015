// cbr_sim.cpp - the simulated board: Verilator model of cbr_top, a modelled link, waveforms.
//
// The link is a pair of byte queues with a rate each way. Every cycle each direction earns
// bytes_per_cycle of credit (capped at one 32-bit word plus a fraction, so idle time does not
// bank up bursts); a word moves when the credit covers it and both sides are ready. The
// model sees exactly the stream a board's USB or PCIe bridge would present.
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "Vcbr_top.h"
#include "verilated.h"
#include "verilated_fst_c.h"

#include "cbr_sim.h"

#ifndef CBR_SIM_ROWS
#error "build with -DCBR_SIM_ROWS=R -DCBR_SIM_COLS=C matching the Verilated parameters"
#endif

#define CBR_SIM_EXPORT extern "C" __attribute__((visibility("default")))

struct cbr_sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vcbr_top> top;
    std::unique_ptr<VerilatedFstC> fst;
    uint64_t time = 0;               // half-cycles, for the waveform
    double h2d_rate = 4, d2h_rate = 4;
    double h2d_credit = 0, d2h_credit = 0;
    std::deque<uint8_t> h2d;         // bytes the host sent, not yet in the device
    std::deque<uint8_t> d2h;         // bytes the device sent, not yet read by the host
    struct cbr_sim_counters cnt = {};
};

static void half_cycle(cbr_sim *s, int clk)
{
    s->top->clk = clk;
    s->top->eval();
    if (s->fst)
        s->fst->dump(s->time);
    s->time++;
}

// One clock cycle: drive the inputs for this cycle, sample the handshakes at the rising edge.
static void cycle(cbr_sim *s)
{
    Vcbr_top *t = s->top.get();
    s->h2d_credit += s->h2d_rate;
    if (s->h2d_credit > 4 + s->h2d_rate)
        s->h2d_credit = 4 + s->h2d_rate;
    s->d2h_credit += s->d2h_rate;
    if (s->d2h_credit > 4 + s->d2h_rate)
        s->d2h_credit = 4 + s->d2h_rate;

    bool have_word = s->h2d.size() >= 4;
    bool rx_can = have_word && s->h2d_credit >= 4;
    uint32_t w = 0;
    if (rx_can)
        for (int i = 0; i < 4; i++)
            w |= (uint32_t)s->h2d[i] << (8 * i);
    t->rx_valid = rx_can;
    t->rx_data = w;
    t->tx_ready = s->d2h_credit >= 4;
    t->clk = 0;
    t->eval(); // settle combinational paths from the new inputs

    bool rx_fire = t->rx_valid && t->rx_ready;
    bool tx_fire = t->tx_valid && t->tx_ready;
    if (t->rx_ready && have_word && !rx_can)
        s->cnt.rx_wait_cycles++;
    if (t->tx_valid && !t->tx_ready)
        s->cnt.tx_wait_cycles++;
    uint32_t tx = t->tx_data;

    if (s->fst)
        s->fst->dump(s->time);
    s->time++;
    half_cycle(s, 1);

    if (rx_fire) {
        for (int i = 0; i < 4; i++)
            s->h2d.pop_front();
        s->h2d_credit -= 4;
        s->cnt.h2d_bytes += 4;
    }
    if (tx_fire) {
        for (int i = 0; i < 4; i++)
            s->d2h.push_back((uint8_t)(tx >> (8 * i)));
        s->d2h_credit -= 4;
        s->cnt.d2h_bytes += 4;
    }
    s->cnt.cycles++;
}

CBR_SIM_EXPORT unsigned cbr_sim_abi_version(void)
{
    return CBR_SIM_ABI_VERSION;
}

CBR_SIM_EXPORT void cbr_sim_shape(unsigned *rows, unsigned *cols)
{
    *rows = CBR_SIM_ROWS;
    *cols = CBR_SIM_COLS;
}

CBR_SIM_EXPORT void cbr_sim_reset(cbr_sim *s)
{
    s->h2d.clear();
    s->d2h.clear();
    s->top->rx_valid = 0;
    s->top->tx_ready = 0;
    s->top->rst = 1;
    for (int i = 0; i < 8; i++) {
        half_cycle(s, 0);
        half_cycle(s, 1);
        s->cnt.cycles++;
    }
    s->top->rst = 0;
}

CBR_SIM_EXPORT cbr_sim *cbr_sim_create(const cbr_sim_config *cfg, char *err, size_t len)
{
    cbr_sim *s = new (std::nothrow) cbr_sim;
    if (!s) {
        snprintf(err, len, "out of memory");
        return nullptr;
    }
    s->ctx.reset(new VerilatedContext);
    s->ctx->traceEverOn(cfg && cfg->trace_path);
    s->top.reset(new Vcbr_top{s->ctx.get(), "cbr_top"});
    if (cfg && cfg->h2d_bytes_per_cycle > 0)
        s->h2d_rate = cfg->h2d_bytes_per_cycle < 4 ? cfg->h2d_bytes_per_cycle : 4;
    if (cfg && cfg->d2h_bytes_per_cycle > 0)
        s->d2h_rate = cfg->d2h_bytes_per_cycle < 4 ? cfg->d2h_bytes_per_cycle : 4;
    if (cfg && cfg->trace_path) {
        s->fst.reset(new VerilatedFstC);
        s->top->trace(s->fst.get(), 99);
        s->fst->open(cfg->trace_path);
        if (!s->fst->isOpen()) {
            snprintf(err, len, "cannot write the waveform %s", cfg->trace_path);
            delete s;
            return nullptr;
        }
    }
    cbr_sim_reset(s);
    return s;
}

CBR_SIM_EXPORT void cbr_sim_destroy(cbr_sim *s)
{
    if (!s)
        return;
    if (s->fst)
        s->fst->close();
    s->top->final();
    delete s;
}

CBR_SIM_EXPORT void cbr_sim_send(cbr_sim *s, const void *bytes, size_t n)
{
    const uint8_t *p = static_cast<const uint8_t *>(bytes);
    s->h2d.insert(s->h2d.end(), p, p + n);
}

CBR_SIM_EXPORT size_t cbr_sim_run(cbr_sim *s, void *buf, size_t cap, uint64_t max_cycles)
{
    for (uint64_t i = 0; i < max_cycles && s->d2h.empty(); i++)
        cycle(s);
    size_t n = s->d2h.size() < cap ? s->d2h.size() : cap;
    uint8_t *out = static_cast<uint8_t *>(buf);
    for (size_t i = 0; i < n; i++) {
        out[i] = s->d2h.front();
        s->d2h.pop_front();
    }
    return n;
}

CBR_SIM_EXPORT void cbr_sim_get_counters(const cbr_sim *s, struct cbr_sim_counters *c)
{
    *c = s->cnt;
}
