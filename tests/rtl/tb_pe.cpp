// tb_pe.cpp - cbr_pe on its own, against a C++ model of one processing element.
//
// Random operands every cycle (full int8 weights incl. -128, full 9-bit activations, random
// partial sums, random swap flags, shadow writes and mode), checking each cycle that the
// registered outputs are p_in + a * w (in P_W bits, wrapping), the activation and swap flag
// one cycle late, and that the weight used switches to the shadow exactly on a swap beat.
#include "Vcbr_pe.h"
#include "tb_common.h"

#include <memory>

#ifndef P_W
#define P_W 21 // as built (-GP_W=21)
#endif

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_pe seed=%" PRIu64 "\n", seed);
    tb::Rng rng(seed);
    tb::Score score("tb_pe");

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->randReset(2);
    ctx->randSeed((int)(seed & 0x7fffffff));
    auto top = std::make_unique<Vcbr_pe>(ctx.get());
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    };
    top->rst = 1;
    top->sw_in = 0;
    top->wl_en = 0;
    tick();
    top->rst = 0;
    score.check(top->sw_out == 0, "sw_out after reset");

    // Known weights: load the shadow and swap it in once.
    int w_act = 0, w_sh = (int)rng.range(-128, 127);
    top->wl_en = 1;
    top->wl_data = (uint8_t)w_sh;
    tick();
    top->wl_en = 0;
    top->sw_in = 1;
    tick();
    w_act = w_sh;

    const int n = quick ? 50000 : 200000;
    for (int i = 0; i < n; i++) {
        const int a = (int)rng.range(-256, 255), adw = (int)rng.range(-256, 255);
        const int64_t p = tb::sext(rng.next(), P_W);
        const bool sw = rng.chance(0.1), wl = rng.chance(0.2), dw = rng.chance(0.3);
        const int wd = (int)rng.range(-128, 127);
        top->a_in = (uint32_t)a & 0x1FF;
        top->a_dw = (uint32_t)adw & 0x1FF;
        top->p_in = (uint32_t)p & ((1u << P_W) - 1);
        top->sw_in = sw;
        top->wl_en = wl;
        top->wl_data = (uint8_t)wd;
        top->cfg_dw = dw;
        tick();
        const int w = sw ? w_sh : w_act;
        w_act = w;
        if (wl)
            w_sh = wd;
        const int64_t want = tb::sext((uint64_t)(p + (int64_t)(dw ? adw : a) * w), P_W);
        const int64_t got = tb::sext(top->p_out, P_W);
        score.check(got == want && tb::sext(top->a_out, 9) == a && top->sw_out == sw,
                    "cycle %d: p_out %" PRId64 " want %" PRId64 " (a=%d adw=%d dw=%d w=%d sw=%d), "
                    "a_out %d want %d",
                    i, got, want, a, adw, dw, w, sw, (int)tb::sext(top->a_out, 9), a);
    }
    top->final();
    return score.finish();
}
