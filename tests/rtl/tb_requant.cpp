// tb_requant.cpp - cbr_requant against the golden model's cbr_requant (host/lib/golden.c).
//
// Edge cases first (INT32_MIN/MAX and neighbours as accumulators, every shift -31..30,
// M0 = 0, 1, 2^30, 2^31-1 and out-of-contract signs, the INT32_MIN * INT32_MIN product,
// rounding ties of both signs in SaturatingRoundingDoublingHighMul and in RoundingDivideByPOT
// for every exponent, leaky pairs, clamps at both ends), then random samples. Samples are
// streamed with random input gaps and random output back-pressure; each output is matched to
// its sample through the user sideband, so a lost, duplicated or reordered element fails.
#include "Vcbr_requant.h"
#include "tb_common.h"

extern "C" {
#include "golden.h"
}

#include <deque>
#include <memory>
#include <vector>

struct Sample {
    int32_t acc, m0, shift, nm0, nshift, zp, lo, hi;
    bool leaky;
};

static int8_t expected(const Sample &s) {
    return cbr_requant(s.acc, s.m0, s.shift, s.leaky, s.nm0, s.nshift, s.zp, s.lo, s.hi);
}

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_requant seed=%" PRIu64 "\n", seed);
    tb::Rng rng(seed);
    tb::Score score("tb_requant");

    std::vector<Sample> v;
    auto rnd_zp = [&]() -> int32_t {
        int k = (int)rng.range(0, 5);
        return k == 0 ? -128 : k == 1 ? 127 : k == 2 ? 0 : (int32_t)rng.range(-128, 127);
    };
    auto full = [&]() {
        Sample s;
        s.zp = 0;
        s.lo = -128;
        s.hi = 127;
        s.leaky = false;
        s.nm0 = 0;
        s.nshift = 0;
        return s;
    };

    // ---- edge cases ----
    const int32_t accs[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30), -65536 * 255 * 127, -3, -2, -1,
                            0, 1, 2, 3, 65536 * 255 * 127, 1 << 30, INT32_MAX - 1, INT32_MAX};
    const int32_t m0s[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX, INT32_MIN, -1,
                           -(1 << 30)};
    for (int32_t acc : accs)
        for (int32_t m0 : m0s)
            for (int sh = -31; sh <= 30; sh++) {
                Sample s = full();
                s.acc = acc;
                s.m0 = m0;
                s.shift = sh;
                v.push_back(s);
                s.zp = rnd_zp(); // and once with a zero point and a narrow clamp
                s.lo = (int32_t)rng.range(-128, 127);
                s.hi = (int32_t)rng.range(s.lo, 127);
                v.push_back(s);
            }
    // INT32_MIN * INT32_MIN in SRDHM: acc = INT32_MIN with left 0 and M0 = INT32_MIN.
    for (int sh = -31; sh <= 0; sh++) {
        Sample s = full();
        s.acc = INT32_MIN;
        s.m0 = INT32_MIN;
        s.shift = sh;
        v.push_back(s);
    }
    // Saturation of acc * 2^left: big accumulators with every left shift.
    for (int sh = 0; sh <= 30; sh++)
        for (int i = 0; i < 40; i++) {
            Sample s = full();
            s.acc = (int32_t)rng.u32() >> (int)rng.range(0, 31);
            s.m0 = (int32_t)rng.range(1 << 30, INT32_MAX);
            s.shift = sh;
            s.zp = rnd_zp();
            v.push_back(s);
        }
    // SRDHM ties: M0 = 2^30 halves a; odd a is exactly halfway, for both signs.
    for (int i = 0; i < 2000; i++) {
        Sample s = full();
        s.acc = (int32_t)(rng.u32() | 1u);
        s.m0 = 1 << 30;
        s.shift = 0;
        v.push_back(s);
    }
    // RoundingDivideByPOT ties for every exponent e: with M0 = 2^30 and even acc = 2x,
    // SRDHM gives exactly x; choose x = k * 2^e +- 2^(e-1) (and +-1 around it).
    for (int e = 1; e <= 31; e++)
        for (int i = 0; i < 60; i++) {
            int64_t k = (int64_t)rng.range(-(1ll << (30 - (e < 30 ? e : 30))),
                                           (1ll << (30 - (e < 30 ? e : 30))));
            int64_t half = 1ll << (e - 1);
            int64_t x = k * (1ll << e) + (rng.chance(0.5) ? half : -half) + rng.range(-1, 1);
            int64_t a = 2 * x;
            if (a < INT32_MIN || a > INT32_MAX)
                continue;
            Sample s = full();
            s.acc = (int32_t)a;
            s.m0 = 1 << 30;
            s.shift = -e;
            v.push_back(s);
        }
    // Leaky: the second pair is used exactly when acc < 0.
    for (int i = 0; i < 4000; i++) {
        Sample s = full();
        int k = (int)rng.range(0, 4);
        s.acc = k == 0 ? -1 : k == 1 ? 0 : k == 2 ? INT32_MIN : (int32_t)rng.u32();
        s.leaky = true;
        s.m0 = (int32_t)rng.range(1 << 30, INT32_MAX);
        s.shift = (int32_t)rng.range(-31, 30);
        s.nm0 = rng.chance(0.1) ? 0 : (int32_t)rng.range(1 << 30, INT32_MAX);
        s.nshift = (int32_t)rng.range(-31, 30);
        s.zp = rnd_zp();
        v.push_back(s);
    }
    const size_t n_edge = v.size();

    // ---- random samples ----
    const size_t n_rand = quick ? 100000 : 400000;
    for (size_t i = 0; i < n_rand; i++) {
        Sample s;
        int ka = (int)rng.range(0, 3);
        s.acc = ka == 0 ? (int32_t)rng.u32()
                        : (int32_t)rng.u32() >> (int)rng.range(0, 31); // all magnitudes
        s.m0 = rng.chance(0.02) ? 0 : (int32_t)rng.range(1 << 30, INT32_MAX);
        s.shift = (int32_t)rng.range(-31, 30);
        s.leaky = rng.chance(0.3);
        s.nm0 = rng.chance(0.02) ? 0 : (int32_t)rng.range(1 << 30, INT32_MAX);
        s.nshift = (int32_t)rng.range(-31, 30);
        s.zp = rnd_zp();
        s.lo = rng.chance(0.3) ? -128 : (int32_t)rng.range(-128, 127);
        s.hi = rng.chance(0.3) ? 127 : (int32_t)rng.range(s.lo, 127);
        v.push_back(s);
    }
    printf("tb_requant: %zu edge cases, %zu random samples\n", n_edge, n_rand);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->randReset(2);
    ctx->randSeed((int)(seed & 0x7fffffff));
    auto top = std::make_unique<Vcbr_requant>(ctx.get());
    top->in_valid = 0;
    top->out_ready = 0;
    top->rst = 1;
    for (int i = 0; i < 3; i++) {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    }
    top->rst = 0;

    size_t sent = 0, got = 0;
    bool holding = false;
    uint64_t cycles = 0;
    const uint64_t limit = (uint64_t)v.size() * 20 + 1000;
    while (got < v.size() && cycles < limit) {
        // Back-pressure and input gaps come in phases so long bursts are exercised too.
        const uint64_t phase = (cycles / 5000) % 4;
        const double p_in = phase == 0 ? 1.0 : phase == 1 ? 0.7 : phase == 2 ? 1.0 : 0.5;
        const double p_out = phase == 0 ? 1.0 : phase == 1 ? 1.0 : phase == 2 ? 0.6 : 0.3;
        if (!holding && sent < v.size() && rng.chance(p_in)) {
            const Sample &s = v[sent];
            top->in_acc = (uint32_t)s.acc;
            top->in_m0 = (uint32_t)s.m0;
            top->in_shift = (uint8_t)(s.shift & 63);
            top->in_leaky = s.leaky;
            top->in_neg_m0 = (uint32_t)s.nm0;
            top->in_neg_shift = (uint8_t)(s.nshift & 63);
            top->in_y_zp = (uint8_t)s.zp;
            top->in_act_min = (uint8_t)s.lo;
            top->in_act_max = (uint8_t)s.hi;
            top->in_user = (uint32_t)(sent & 0xFFFFF);
            holding = true;
        }
        top->in_valid = holding;
        top->out_ready = rng.chance(p_out);
        top->clk = 0;
        top->eval();
        if (top->out_valid && top->out_ready) {
            const size_t idx = got;
            const Sample &s = v[idx];
            const int8_t want = expected(s);
            const int8_t have = (int8_t)top->out_data;
            const uint32_t u = top->out_user;
            if (u != (idx & 0xFFFFF))
                score.check(false, "output %zu carries user %u: lost or reordered", idx, u);
            else
                score.check(have == want,
                            "#%zu acc=%d m0=%d shift=%d leaky=%d nm0=%d nshift=%d zp=%d "
                            "clamp=[%d,%d]: rtl %d, golden %d",
                            idx, s.acc, s.m0, s.shift, s.leaky, s.nm0, s.nshift, s.zp, s.lo,
                            s.hi, have, want);
            got++;
        }
        if (holding && top->in_ready) {
            holding = false;
            sent++;
        }
        top->clk = 1;
        top->eval();
        cycles++;
    }
    score.check(got == v.size(), "%zu of %zu outputs arrived in %" PRIu64 " cycles", got,
                v.size(), cycles);
    printf("tb_requant: %" PRIu64 " cycles\n", cycles);
    top->final();
    return score.finish();
}
