// tb_pool.cpp - cbr_pool against a plain C++ pooling loop (cross-checked with golden.c).
//
// Random configurations: kind none / max / average / global average, windows 1..KMAX per
// axis, strides 1..4, top/left/bottom/right padding below the window, ceil mode; the pooled
// size comes from golden.c's cbr_pool_out_size (the host computes it the same way). Each
// configuration runs 1..3 planes back to back, with random input gaps and output
// back-pressure; values are random, or all at one extreme (saturating sums, -128 means), or
// tiny (to hit rounding ties). Every output byte and the out_last flag are compared. Build
// with -DLANES= -DKMAX= -DWMAX= -DDIM_W= matching the Verilog parameters.
#include "Vcbr_pool.h"
#include "tb_common.h"

extern "C" {
#include "golden.h"
}

#include <deque>
#include <memory>
#include <vector>

#ifndef LANES
#error "define LANES, KMAX, WMAX, DIM_W"
#endif

struct Cfg {
    int kind, h, w, kh, kw, sh, sw, pt, pl, pb, pr, ph, pw;
    bool ceil;
};

// Reference for one lane plane (h x w int8, row-major): windows clipped to the plane, padded
// positions neither win a max nor count in an average; mean rounded half away from zero.
static std::vector<int8_t> ref_pool(const Cfg &c, const std::vector<int8_t> &x) {
    std::vector<int8_t> out;
    if (c.kind == CBR_POOL_NONE)
        return x;
    if (c.kind == CBR_POOL_GAVG) {
        int64_t s = 0;
        for (int8_t v : x)
            s += v;
        int64_t n = (int64_t)x.size(), m = s < 0 ? -s : s, q = (m + n / 2) / n;
        out.push_back((int8_t)(s < 0 ? -q : q));
        return out;
    }
    for (int ph = 0; ph < c.ph; ph++)
        for (int pw = 0; pw < c.pw; pw++) {
            int r0 = ph * c.sh - c.pt, c0 = pw * c.sw - c.pl;
            int mx = -128;
            int64_t s = 0, n = 0;
            for (int r = r0; r < r0 + c.kh; r++)
                for (int col = c0; col < c0 + c.kw; col++) {
                    if (r < 0 || r >= c.h || col < 0 || col >= c.w)
                        continue;
                    int v = x[(size_t)r * c.w + col];
                    mx = v > mx ? v : mx;
                    s += v;
                    n++;
                }
            if (c.kind == CBR_POOL_MAX) {
                out.push_back((int8_t)mx);
            } else {
                int64_t m = s < 0 ? -s : s, q = (m + n / 2) / n;
                out.push_back((int8_t)(s < 0 ? -q : q));
            }
        }
    return out;
}

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_pool LANES=%d KMAX=%d WMAX=%d seed=%" PRIu64 "\n", LANES, KMAX, WMAX, seed);
    tb::Rng rng(seed);
    tb::Score score("tb_pool");

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->randReset(2);
    ctx->randSeed((int)(seed & 0x7fffffff));
    auto top = std::make_unique<Vcbr_pool>(ctx.get());
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    };
    top->in_valid = 0;
    top->out_ready = 0;
    top->cfg_kind = 0;
    top->cfg_h = top->cfg_w = top->cfg_ph = top->cfg_pw = 1;
    top->cfg_kh = top->cfg_kw = top->cfg_sh = top->cfg_sw = 1;
    top->cfg_pt = top->cfg_pl = 0;
    top->rst = 1;
    for (int i = 0; i < 3; i++)
        tick();
    top->rst = 0;

    const int n_cfg = quick ? 150 : 600;
    uint64_t planes = 0, outs = 0, golden_checked = 0;
    int made = 0;
    for (int attempt = 0; made < n_cfg && attempt < n_cfg * 20; attempt++) {
        Cfg c{};
        c.kind = (int)rng.range(0, 3);
        const int wmax_in = WMAX - KMAX + 1; // so that the pooled width always fits WMAX
        c.h = (int)(rng.chance(0.2) ? rng.range(1, 4) : rng.range(1, 40));
        c.w = (int)(rng.chance(0.2) ? rng.range(1, 4) : rng.range(1, wmax_in));
        if (c.kind == CBR_POOL_GAVG && rng.chance(0.1)) {
            c.h = (int)rng.range(100, (1 << DIM_W) - 1); // a big plane: wide sums and counts
            c.w = (int)rng.range(100, (1 << DIM_W) - 1);
        }
        c.kh = (int)rng.range(1, KMAX);
        c.kw = (int)rng.range(1, KMAX);
        c.sh = (int)rng.range(1, 4);
        c.sw = (int)rng.range(1, 4);
        c.pt = (int)rng.range(0, c.kh - 1);
        c.pb = (int)rng.range(0, c.kh - 1);
        c.pl = (int)rng.range(0, c.kw - 1);
        c.pr = (int)rng.range(0, c.kw - 1);
        c.ceil = rng.chance(0.4);
        cbr_pool gp{};
        gp.kind = (cbr_pool_kind)c.kind;
        gp.kh = (uint32_t)c.kh;
        gp.kw = (uint32_t)c.kw;
        gp.stride_h = (uint32_t)c.sh;
        gp.stride_w = (uint32_t)c.sw;
        gp.pad_top = (uint32_t)c.pt;
        gp.pad_left = (uint32_t)c.pl;
        gp.pad_bottom = (uint32_t)c.pb;
        gp.pad_right = (uint32_t)c.pr;
        gp.ceil_mode = c.ceil;
        uint32_t oph, opw;
        cbr_pool_out_size(&gp, (uint32_t)c.h, (uint32_t)c.w, &oph, &opw);
        if (oph < 1 || opw < 1 || opw > WMAX)
            continue;
        c.ph = (int)oph;
        c.pw = (int)opw;
        made++;

        top->cfg_kind = (uint8_t)c.kind;
        top->cfg_h = (uint32_t)c.h;
        top->cfg_w = (uint32_t)c.w;
        top->cfg_kh = (uint8_t)c.kh;
        top->cfg_kw = (uint8_t)c.kw;
        top->cfg_sh = (uint8_t)c.sh;
        top->cfg_sw = (uint8_t)c.sw;
        top->cfg_pt = (uint8_t)c.pt;
        top->cfg_pl = (uint8_t)c.pl;
        top->cfg_ph = (uint32_t)c.ph;
        top->cfg_pw = (uint32_t)c.pw;

        // Planes for this configuration, and what must come out.
        const int np = (int)rng.range(1, 3);
        const size_t hw = (size_t)c.h * c.w;
        std::vector<std::vector<uint8_t>> beats; // input beats, all planes
        struct Out {
            std::vector<int8_t> v;
            bool last;
        };
        std::deque<Out> expect;
        for (int p = 0; p < np; p++) {
            const int style = (int)rng.range(0, 5);
            const int8_t fixed = rng.chance(0.5) ? -128 : 127;
            std::vector<std::vector<int8_t>> lane(LANES, std::vector<int8_t>(hw));
            for (int l = 0; l < LANES; l++)
                for (size_t i = 0; i < hw; i++)
                    lane[l][i] = style == 0 ? fixed
                                 : style == 1 ? (int8_t)rng.range(-2, 2)
                                              : (int8_t)rng.range(-128, 127);
            std::vector<std::vector<int8_t>> r(LANES);
            for (int l = 0; l < LANES; l++) {
                r[l] = ref_pool(c, lane[l]);
                if (l == 0 && hw <= 4096) { // the golden model must agree with this reference
                    std::vector<int8_t> g(r[l].size());
                    cbr_golden_pool(&gp, 1, 1, (uint32_t)c.h, (uint32_t)c.w, lane[l].data(),
                                    g.data());
                    score.check(g == r[l], "golden.c and the C++ reference disagree (kind %d)",
                                c.kind);
                    golden_checked++;
                }
            }
            for (size_t i = 0; i < hw; i++) {
                std::vector<uint8_t> b(LANES);
                for (int l = 0; l < LANES; l++)
                    b[l] = (uint8_t)lane[l][i];
                beats.push_back(b);
            }
            for (size_t i = 0; i < r[0].size(); i++) {
                Out o;
                o.v.resize(LANES);
                for (int l = 0; l < LANES; l++)
                    o.v[l] = r[l][i];
                o.last = i + 1 == r[0].size();
                expect.push_back(o);
            }
            planes++;
        }

        const double p_in = rng.chance(0.5) ? 1.0 : 0.6;
        const double p_out = rng.chance(0.5) ? 1.0 : (rng.chance(0.5) ? 0.7 : 0.25);
        size_t sent = 0, got = 0;
        const size_t want = expect.size();
        bool holding = false;
        uint64_t cyc = 0;
        const uint64_t limit = (beats.size() + want) * 30 + 2000;
        while ((got < want || sent < beats.size()) && cyc < limit) {
            if (!holding && sent < beats.size() && rng.chance(p_in)) {
                for (int l = 0; l < LANES; l++)
                    tb::set_bits(top->in_data, 8 * l, 8, beats[sent][l]);
                holding = true;
            }
            top->in_valid = holding;
            top->out_ready = rng.chance(p_out);
            top->clk = 0;
            top->eval();
            if (top->out_valid && top->out_ready) {
                if (expect.empty()) {
                    score.check(false, "cfg %d: output beyond the expected %zu", made, want);
                } else {
                    const Out &o = expect.front();
                    int bad = -1;
                    for (int l = 0; l < LANES; l++)
                        if ((int8_t)tb::get_bits(top->out_data, 8 * l, 8) != o.v[l])
                            bad = bad < 0 ? l : bad;
                    bool last = top->out_last;
                    score.check(bad < 0 && last == o.last,
                                "cfg %d kind %d %dx%d k %dx%d s %dx%d pad t%d l%d b%d r%d ceil %d "
                                "-> %dx%d: output %zu lane %d: rtl %d want %d, last %d want %d",
                                made, c.kind, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.pt, c.pl, c.pb,
                                c.pr, c.ceil, c.ph, c.pw, got, bad < 0 ? 0 : bad,
                                bad < 0 ? 0 : (int8_t)tb::get_bits(top->out_data, 8 * bad, 8),
                                bad < 0 ? 0 : o.v[bad], last, o.last);
                    expect.pop_front();
                }
                got++;
            }
            if (holding && top->in_ready) {
                holding = false;
                sent++;
            }
            top->clk = 1;
            top->eval();
            cyc++;
        }
        score.check(got == want && sent == beats.size(),
                    "cfg %d kind %d %dx%d k %dx%d s %dx%d: %zu/%zu inputs taken, %zu/%zu outputs",
                    made, c.kind, c.h, c.w, c.kh, c.kw, c.sh, c.sw, sent, beats.size(), got, want);
        outs += got;
        // Let the pipeline settle before the configuration changes (the module's contract).
        top->in_valid = 0;
        top->out_ready = 1;
        bool stray = false;
        for (int i = 0; i < 16; i++) {
            top->clk = 0;
            top->eval();
            stray |= top->out_valid;
            top->clk = 1;
            top->eval();
        }
        score.check(!stray, "cfg %d: stray output after the plane", made);
    }
    printf("tb_pool: %d configurations, %" PRIu64 " planes, %" PRIu64 " output beats, golden "
           "cross-checked on %" PRIu64 " planes\n",
           made, planes, outs, golden_checked);
    top->final();
    return score.finish();
}
