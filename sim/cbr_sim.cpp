// cbr_sim.cpp - the simulated board: Verilator model of cbr_top, a modelled link, waveforms.
//
// The link is a pair of byte queues with a rate each way. Every cycle each direction earns
// bytes_per_cycle of credit (capped at one 32-bit word plus a fraction, so idle time does not
// bank up bursts); a word moves when the credit covers it and both sides are ready. With a
// latency L, bytes the host sends at cycle t may enter the device from cycle t + L on, and a
// word the device sends at cycle t reaches the host at t + L: a request's answer comes 2 L
// after it was sent at the earliest, as over USB or PCIe. The model sees exactly the stream
// a board's USB or PCIe bridge would present.
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
    // The latency: (stream position the bytes up to which arrive, cycle they arrive) per
    // send or word, and how far each stream has arrived, moved or been read (in bytes since
    // the last reset).
    uint64_t lat = 0;
    std::deque<std::pair<uint64_t, uint64_t>> h2d_due, d2h_due;
    uint64_t h2d_queued = 0, h2d_arrived = 0, h2d_moved = 0;
    uint64_t d2h_arrived = 0, d2h_read = 0;
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

// Move what the latency has let through, up to cycle now.
static void arrive(std::deque<std::pair<uint64_t, uint64_t>> &due, uint64_t &arrived,
                   uint64_t now)
{
    while (!due.empty() && due.front().second <= now) {
        arrived = due.front().first;
        due.pop_front();
    }
}

// One clock cycle: drive the inputs for this cycle, sample the handshakes at the rising edge.
static void cycle(cbr_sim *s)
{
    Vcbr_top *t = s->top.get();
    arrive(s->h2d_due, s->h2d_arrived, s->cnt.cycles);
    s->h2d_credit += s->h2d_rate;
    if (s->h2d_credit > 4 + s->h2d_rate)
        s->h2d_credit = 4 + s->h2d_rate;
    s->d2h_credit += s->d2h_rate;
    if (s->d2h_credit > 4 + s->d2h_rate)
        s->d2h_credit = 4 + s->d2h_rate;

    bool have_word = s->h2d_arrived - s->h2d_moved >= 4;
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
        s->h2d_moved += 4;
        s->cnt.h2d_bytes += 4;
    }
    if (tx_fire) {
        for (int i = 0; i < 4; i++)
            s->d2h.push_back((uint8_t)(tx >> (8 * i)));
        s->d2h_credit -= 4;
        s->cnt.d2h_bytes += 4;
        s->d2h_due.emplace_back(s->d2h_read + s->d2h.size(), s->cnt.cycles + 1 + s->lat);
    }
    s->cnt.cycles++;
    arrive(s->d2h_due, s->d2h_arrived, s->cnt.cycles);
}

// Device -> host bytes the host may read now.
static size_t readable(const cbr_sim *s)
{
    return (size_t)(s->d2h_arrived - s->d2h_read);
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
    s->h2d_due.clear();
    s->d2h_due.clear();
    s->h2d_queued = s->h2d_arrived = s->h2d_moved = 0;
    s->d2h_arrived = s->d2h_read = 0;
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
    if (cfg)
        s->lat = cfg->latency_cycles;
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
    s->h2d_queued += n;
    s->h2d_due.emplace_back(s->h2d_queued, s->cnt.cycles + s->lat);
}

CBR_SIM_EXPORT size_t cbr_sim_run(cbr_sim *s, void *buf, size_t cap, uint64_t max_cycles)
{
    for (uint64_t i = 0; i < max_cycles && !readable(s); i++)
        cycle(s);
    size_t n = readable(s) < cap ? readable(s) : cap;
    s->d2h_read += n;
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
