// tb_crc32.cpp - cbr_crc32 against zlib's crc32() and a bitwise software CRC.
//
// The check value ("123456789" -> 0xCBF43926), then random messages of random length (0 and 1
// included, up to a few KiB), fed in random chunks of 1..BYTES bytes with random idle cycles,
// cleared between messages; every message's CRC is compared with both references. Build with
// -DBYTES= matching the Verilog parameter.
#include "Vcbr_crc32.h"
#include "tb_common.h"

#include <zlib.h>

#include <memory>
#include <vector>

#ifndef BYTES
#error "define BYTES"
#endif

// Textbook reflected CRC-32, bit at a time: a second, independent model.
static uint32_t crc_bitwise(const std::vector<uint8_t> &m) {
    uint32_t c = 0xFFFFFFFFu;
    for (uint8_t b : m) {
        c ^= b;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    const bool quick = tb::quick_from_args(argc, argv);
    printf("tb_crc32 BYTES=%d seed=%" PRIu64 "\n", BYTES, seed);
    tb::Rng rng(seed);
    tb::Score score("tb_crc32");

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->randReset(2);
    ctx->randSeed((int)(seed & 0x7fffffff));
    auto top = std::make_unique<Vcbr_crc32>(ctx.get());
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    };
    top->in_valid = 0;
    top->in_clear = 0;
    top->in_keep = 0;
    top->rst = 1;
    tick();
    top->rst = 0;

    auto run = [&](const std::vector<uint8_t> &m) -> uint32_t {
        top->in_clear = 1;
        top->in_valid = rng.chance(0.5); // clear wins over valid
        tick();
        top->in_clear = 0;
        size_t i = 0;
        while (i < m.size()) {
            if (rng.chance(0.2)) { // idle cycle, with junk on the data lines
                top->in_valid = 0;
                tb::set_bits(top->in_data, 0, 8 * BYTES > 64 ? 64 : 8 * BYTES, rng.next());
                top->in_keep = (uint32_t)rng.next() & ((1u << BYTES) - 1);
                tick();
                continue;
            }
            size_t n = (size_t)rng.range(1, BYTES);
            if (n > m.size() - i)
                n = m.size() - i;
            for (int b = 0; b < BYTES; b++)
                tb::set_bits(top->in_data, 8 * b, 8,
                             b < (int)n ? m[i + b] : (uint8_t)rng.next()); // junk above keep
            top->in_keep = (1u << n) - 1;
            top->in_valid = 1;
            tick();
            i += n;
        }
        top->in_valid = 0;
        top->clk = 0;
        top->eval();
        return top->crc;
    };

    const char *check = "123456789";
    std::vector<uint8_t> cv(check, check + 9);
    uint32_t c = run(cv);
    score.check(c == 0xCBF43926u, "check value: rtl %08x, want cbf43926", c);

    const int n_msgs = quick ? 1000 : 4000;
    uint64_t bytes = 0;
    for (int t = 0; t < n_msgs; t++) {
        size_t len = t < 2 ? (size_t)t : (size_t)(rng.chance(0.5) ? rng.range(0, 16)
                                                                   : rng.range(0, 4096));
        std::vector<uint8_t> m(len);
        for (auto &b : m)
            b = (uint8_t)rng.next();
        uint32_t have = run(m);
        uint32_t z = (uint32_t)crc32(0L, m.data(), (uInt)m.size());
        uint32_t w = crc_bitwise(m);
        score.check(z == w, "references disagree on %zu bytes: zlib %08x bitwise %08x", len, z,
                    w);
        score.check(have == z, "message %d, %zu bytes: rtl %08x, zlib %08x", t, len, have, z);
        bytes += len;
    }
    printf("tb_crc32: %d messages, %" PRIu64 " bytes\n", n_msgs, bytes);
    top->final();
    return score.finish();
}
