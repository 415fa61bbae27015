// tb_array.cpp - cbr_array (and so cbr_pe) against a plain C++ matrix loop.
//
// Random phases, each with a random mode (normal or depthwise), input zero point and bubble
// rate; each phase runs a chain of passes back to back with random lengths >= COLS + 1, the
// next pass's weights written one row per cycle in the window the array's contract allows,
// so every pass after the first starts with no bubble. Every beat's COLS outputs are compared
// with sum_r W[r][j] * (x_r - x_zp) (normal) or with the depthwise group-bus formula of
// cbr_array.v. Build with -DROWS= -DCOLS= -DDW_RB= matching the Verilog parameters.
#include "Vcbr_array.h"
#include "tb_common.h"

#include <deque>
#include <memory>
#include <vector>

#ifndef ROWS
#error "define ROWS, COLS, DW_RB"
#endif

static const int NG = ROWS / DW_RB;
static const int LAT = ROWS + COLS - 1;
#ifndef USER_W
#define USER_W 16
#endif

struct Cycle {
    bool valid = false, sw = false;
    int8_t x[ROWS] = {};
    int8_t dw[NG][COLS] = {};
    bool wl = false;
    int wl_row = 0;
    int8_t wl_data[COLS] = {};
    int pass = -1; // pass of the beat
};

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_array %dx%d DW_RB=%d seed=%" PRIu64 "\n", ROWS, COLS, DW_RB, seed);
    tb::Rng rng(seed);
    tb::Score score("tb_array");

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->randReset(2); // registers start random: a missing reset shows up
    ctx->randSeed((int)(seed & 0x7fffffff));
    auto top = std::make_unique<Vcbr_array>(ctx.get());

    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    };

    top->rst = 1;
    top->in_valid = 0;
    top->wl_valid = 0;
    for (int i = 0; i < 3; i++)
        tick();
    top->rst = 0;

    const int phases = quick ? 40 : 200;
    uint64_t beats_total = 0, cycles_total = 0;
    for (int ph = 0; ph < phases; ph++) {
        const bool dw = rng.chance(0.4);
        const int zp = (int)rng.range(-128, 127);
        const double p_valid = ph % 3 == 0 ? 1.0 : (ph % 3 == 1 ? 0.85 : 0.4);
        const int npass = (int)rng.range(2, 8);

        // Plan the phase cycle by cycle.
        std::vector<std::vector<int8_t>> W(npass, std::vector<int8_t>(ROWS * COLS));
        for (auto &w : W)
            for (auto &v : w)
                v = (int8_t)rng.range(-128, 127);
        std::vector<int> S(npass + 1), Lc(npass);
        S[0] = ROWS + (int)rng.range(0, 3); // first pass's weights go in at cycles 0..ROWS-1
        for (int k = 0; k < npass; k++) {
            Lc[k] = COLS + 1 + (int)(rng.chance(0.3) ? 0 : rng.range(0, 3 * COLS + 40));
            S[k + 1] = S[k] + Lc[k];
        }
        const int ncyc = S[npass] + LAT + 2;
        std::vector<Cycle> plan(ncyc + ROWS + 1);
        for (auto &c : plan)
            for (int g = 0; g < NG; g++)
                for (int j = 0; j < COLS; j++)
                    c.dw[g][j] = (int8_t)rng.range(-128, 127);
        auto put_weights = [&](int k, int c0) {
            for (int r = 0; r < ROWS; r++) {
                Cycle &c = plan[c0 + r];
                c.wl = true;
                c.wl_row = r;
                for (int j = 0; j < COLS; j++)
                    c.wl_data[j] = W[k][r * COLS + j];
            }
        };
        put_weights(0, 0);
        for (int k = 0; k < npass; k++) {
            if (k + 1 < npass) {
                int delta = (int)rng.range(0, Lc[k] - COLS - 1);
                put_weights(k + 1, S[k] + COLS + delta);
            }
            for (int c = S[k]; c < S[k + 1]; c++) {
                Cycle &cy = plan[c];
                cy.valid = c == S[k] || rng.chance(p_valid);
                cy.sw = c == S[k];
                cy.pass = k;
                for (int r = 0; r < ROWS; r++)
                    cy.x[r] = (int8_t)rng.range(-128, 127);
            }
        }

        // Expected results, in beat order.
        std::deque<std::vector<int32_t>> expect;
        for (int c = 0; c < S[npass]; c++) {
            const Cycle &cy = plan[c];
            if (!cy.valid)
                continue;
            std::vector<int32_t> y(COLS, 0);
            for (int j = 0; j < COLS; j++) {
                int64_t s = 0;
                for (int r = 0; r < ROWS; r++) {
                    int a = dw ? plan[c + r].dw[r / DW_RB][j] - zp : cy.x[r] - zp;
                    s += (int64_t)a * W[cy.pass][r * COLS + j];
                }
                y[j] = (int32_t)s;
            }
            expect.push_back(y);
        }
        const size_t nexp = expect.size();

        top->cfg_dw = dw;
        top->cfg_x_zp = (uint8_t)zp;
        uint16_t user_in = 0, user_out = 0;
        size_t got = 0;
        for (int c = 0; c < ncyc; c++) {
            const Cycle &cy = plan[c];
            top->in_valid = cy.valid;
            top->in_sw = cy.sw;
            for (int r = 0; r < ROWS; r++)
                tb::set_bits(top->in_x, 8 * r, 8, (uint8_t)cy.x[r]);
            for (int g = 0; g < NG; g++)
                for (int j = 0; j < COLS; j++)
                    tb::set_bits(top->dw_x, 8 * (g * COLS + j), 8, (uint8_t)cy.dw[g][j]);
            tb::set_bits(top->in_user, 0, USER_W, user_in);
            if (cy.valid)
                user_in++;
            top->wl_valid = cy.wl;
            top->wl_row = cy.wl_row;
            for (int j = 0; j < COLS; j++)
                tb::set_bits(top->wl_data, 8 * j, 8, (uint8_t)cy.wl_data[j]);
            top->clk = 0;
            top->eval();
            // Outputs are registered: sample them before the edge.
            if (top->out_valid) {
                if (expect.empty()) {
                    score.check(false, "phase %d cycle %d: unexpected output beat", ph, c);
                } else {
                    const std::vector<int32_t> &y = expect.front();
                    bool ok = true;
                    int bad = -1;
                    for (int j = 0; j < COLS; j++) {
                        int32_t v = (int32_t)tb::get_bits(top->out_data, 32 * j, 32);
                        if (v != y[j]) {
                            ok = false;
                            bad = j;
                            break;
                        }
                    }
                    uint16_t u = (uint16_t)tb::get_bits(top->out_user, 0, USER_W);
                    if (bad >= 0)
                        score.check(false, "phase %d (dw=%d zp=%d) beat %zu col %d: got %d want %d",
                                    ph, dw, zp, got, bad,
                                    (int32_t)tb::get_bits(top->out_data, 32 * bad, 32), y[bad]);
                    else
                        score.check(ok && u == user_out, "phase %d beat %zu: user %u want %u", ph,
                                    got, u, user_out);
                    expect.pop_front();
                    user_out++;
                    got++;
                }
            }
            top->clk = 1;
            top->eval();
        }
        score.check(got == nexp, "phase %d: %zu output beats, want %zu", ph, got, nexp);
        beats_total += nexp;
        cycles_total += (uint64_t)S[npass] - (uint64_t)S[0];
        if (rng.chance(0.3)) { // a reset between phases must leave no stray beat behind
            top->rst = 1;
            top->in_valid = 0;
            top->wl_valid = 0;
            tick();
            top->rst = 0;
        }
    }
    printf("tb_array: %" PRIu64 " beats in %" PRIu64 " pass cycles\n", beats_total, cycles_total);
    top->final();
    return score.finish();
}
