// tb_common.h - shared helpers of the RTL module test benches (tests/rtl/).
//
// Every bench: takes its seed from --seed N or CBR_SEED (else the clock), prints it first so
// a failure can be replayed, counts checks, prints at most a few mismatches in detail, and
// ends with the plain "N passed, M failed" line; the exit status is non-zero on any failure.
#ifndef CBR_TB_COMMON_H
#define CBR_TB_COMMON_H

#include <verilated.h>

#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace tb {

// splitmix64: small, fast, and the same sequence on every platform for a given seed.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t u32() { return (uint32_t)next(); }
    // uniform in [lo, hi], inclusive
    int64_t range(int64_t lo, int64_t hi) {
        return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
    }
    bool chance(double p) { return (double)(next() >> 11) * (1.0 / 9007199254740992.0) < p; }
};

inline uint64_t seed_from_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--seed"))
            return strtoull(argv[i + 1], nullptr, 0);
    const char *e = getenv("CBR_SEED");
    if (e && *e)
        return strtoull(e, nullptr, 0);
    return (uint64_t)std::chrono::high_resolution_clock::now().time_since_epoch().count();
}

// How much work: --quick halves the random sample counts (never the edge cases).
inline bool quick_from_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quick"))
            return true;
    return false;
}

struct Score {
    const char *name;
    uint64_t passed = 0, failed = 0;
    unsigned shown = 0;
    explicit Score(const char *n) : name(n) {}
    // Records one check; prints the first 20 failures.
    bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4))) {
        if (ok) {
            passed++;
            return true;
        }
        failed++;
        if (shown++ < 20) {
            va_list ap;
            va_start(ap, fmt);
            fprintf(stderr, "%s: MISMATCH: ", name);
            vfprintf(stderr, fmt, ap);
            fputc('\n', stderr);
            va_end(ap);
        }
        return false;
    }
    int finish() const {
        printf("%s: %" PRIu64 " passed, %" PRIu64 " failed\n", name, passed, failed);
        printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
        return failed || !passed ? 1 : 0;
    }
};

// Bit-field access that works on Verilator's narrow (CData..QData) and wide (VlWide) ports.
template <typename T>
inline typename std::enable_if<std::is_integral<T>::value>::type set_bits(T &sig, int lsb,
                                                                           int w, uint64_t v) {
    uint64_t m = (w >= 64 ? ~0ull : ((1ull << w) - 1)) << lsb;
    sig = (T)(((uint64_t)sig & ~m) | ((v << lsb) & m));
}
template <typename T>
inline typename std::enable_if<std::is_integral<T>::value, uint64_t>::type get_bits(const T &sig,
                                                                                   int lsb,
                                                                                   int w) {
    uint64_t m = w >= 64 ? ~0ull : ((1ull << w) - 1);
    return ((uint64_t)sig >> lsb) & m;
}
template <std::size_t N>
inline void set_bits(VlWide<N> &sig, int lsb, int w, uint64_t v) {
    for (int i = 0; i < w; i++) {
        int b = lsb + i;
        uint32_t bit = (uint32_t)((v >> i) & 1u);
        sig[b / 32] = (sig[b / 32] & ~(1u << (b % 32))) | (bit << (b % 32));
    }
}
template <std::size_t N>
inline uint64_t get_bits(const VlWide<N> &sig, int lsb, int w) {
    uint64_t v = 0;
    for (int i = 0; i < w; i++) {
        int b = lsb + i;
        v |= (uint64_t)((sig[b / 32] >> (b % 32)) & 1u) << i;
    }
    return v;
}

inline int64_t sext(uint64_t v, int w) {
    if (w >= 64)
        return (int64_t)v;
    uint64_t m = 1ull << (w - 1);
    v &= (1ull << w) - 1;
    return (int64_t)((v ^ m) - m);
}

} // namespace tb

#endif
