// tb_core.cpp - cbr_core against the golden model, bit for bit, on random layers.
//
// The bench is the host: it drives the core's register and buffer ports exactly as cbr_cmd
// does (one request per cycle, read data the cycle after), packs the buffers per
// docs/registers.md (as host/lib/accel.c does), writes the registers, starts the tile,
// waits for ap_done with a cycle limit (a hang is a failure), reads the output buffer and
// compares every output byte with cbr_golden_layer(). It also checks the counters (MACS is
// n*OH*OW*O*(C/G)*KH*KW of the tile, BUSY the number of beats, BUSY + stalls <= CYCLES).
//
// Layers are random over every feature: kernels 1..11 (non-square), strides 1..4, dilation,
// asymmetric padding (also wider than the kernel), channel counts that are not multiples
// of the array, saturation both ways, extreme M0 and shifts, zero points -128 and 127, every
// activation, leaky, every pooling mode (with ceil mode), groups (run as one tile per group,
// as the host does), non-zero buffer bases, partial-strobe buffer writes, arguments
// overwritten while a tile runs (the run copy), and RESET in the middle of a tile. Every
// tile also checks that the cumulative TOTAL_* counters moved by exactly its own counters.
//
// Planner jobs (--jobs N): whole layers cut the way the host's tile planner cuts them, run as
// several RUNs and compared with the golden model: the input stored once as a resident
// region with a channel-block pitch (ACT_CB_PITCH), output blocks in groups of at most two,
// input-channel blocks split over a chain of 1..4 RUNs (ACC_KEEP, ACC_LOAD|ACC_KEEP,
// ACC_LOAD: int32 partial sums stay in the accumulator banks between RUNs, pooling on the
// last), and (without pooling) conv rows split into row-subtiles that read the region from
// ACT_BASE at their first row. A third of the jobs queue every RUN while the previous one
// runs (back to back, no host round trip), a third keep two starts queued (the arguments of
// a tile are written while the tile before it is still pending: each start must keep its
// own), a third run them one at a time.
// Directed tests: two tiles queued back to back (both outputs, RUNS, TOTAL_*, the idle gap
// between them printed), a start requested in the very cycle the pending one is taken, a
// start refused by a full queue (STARTS, CTRL bit 4), and TOTAL_* across a RESET.
// The copy port (square shapes, cbr_cmd's BUF_COPY): random words copied between buffers 0,
// 1 and 3 (across the activation banks' boundaries), read back through the buffer port with
// the words around them; and copies from the output buffer into the activation buffer while
// a tile runs, outside what it reads and writes (its outputs still bit-exact).
//
//   Vtb [--seed N] [--layers N] [--jobs N] [--budget CYCLES] [--util-only] [--only K]
//
// --budget bounds the estimated cycles of one random layer (speed of the run, not
// coverage: large kernels come with small planes). The 3x3 64 -> 64 layer on a 16x16 plane
// is always run first and its utilization printed.
#include "Vcbr_core.h"
#include "tb_common.h"

extern "C" {
#include "golden.h"
}

#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#ifndef ROWS
#define ROWS 16
#endif
#ifndef COLS
#define COLS 16
#endif
// cbr_core's defaults (those of cbr_top)
#ifndef ACT_BYTES
#define ACT_BYTES 524288
#endif
#ifndef WGT_BYTES
#define WGT_BYTES 524288
#endif
#ifndef PARAM_ENTRIES
#define PARAM_ENTRIES 2048
#endif
#ifndef OUT_BYTES
#define OUT_BYTES 131072
#endif
#ifndef ACC_PIXELS
#define ACC_PIXELS 1024
#endif

enum {
    REG_CTRL = 0x00, REG_IN_H = 0x10, REG_MODE = 0x48, REG_OUT_C = 0x70, REG_RUNS = 0x74,
    REG_PITCH = 0x78, REG_DONES = 0x7C, REG_COUNTERS = 0x80, REG_STARTS = 0xA8,
    REG_TOTALS = 0xC0,
};
enum { CTRL_START = 1, CTRL_DONE = 2, CTRL_IDLE = 4, CTRL_READY = 8, CTRL_FULL = 16 };
enum { MODE_ACC_LOAD = 1u << 2, MODE_ACC_KEEP = 1u << 3 };
enum { NREGS = 25 };  // argument words 0x10 .. 0x70
enum { CNT_CYCLES, CNT_BUSY, CNT_MACS, CNT_STALL_IN, CNT_STALL_OUT, NCNT };

// ---- the DUT behind the cbr_cmd-style ports ---------------------------------------------
struct Dut {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vcbr_core> m;
    uint64_t cycles = 0;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;  // CBR_TRACE=file.vcd, in a build with --trace
#endif

    explicit Dut(uint64_t seed) {
        ctx = std::make_unique<VerilatedContext>();
        ctx->randReset(2);
        ctx->randSeed((int)(seed & 0x7fffffff));
        m = std::make_unique<Vcbr_core>(ctx.get());
#if VM_TRACE
        if (const char *f = getenv("CBR_TRACE")) {
            ctx->traceEverOn(true);
            vcd = std::make_unique<VerilatedVcdC>();
            m->trace(vcd.get(), 99);
            vcd->open(f);
        }
#endif
        m->clk = 0;
        m->rst = 1;
        m->reg_we = m->reg_re = 0;
        m->buf_we = m->buf_re = 0;
        m->cp_re = m->cp_we = 0;
        m->core_start = m->core_reset = 0;
        for (int i = 0; i < 4; i++)
            tick();
        m->rst = 0;
        tick();
    }
    void tick() {
        m->clk = 0;
        m->eval();
#if VM_TRACE
        if (vcd)
            vcd->dump(2 * cycles);
#endif
        m->clk = 1;
        m->eval();
#if VM_TRACE
        if (vcd)
            vcd->dump(2 * cycles + 1);
#endif
        cycles++;
    }
    ~Dut() {
#if VM_TRACE
        if (vcd)
            vcd->close();
#endif
    }
    void reg_write(uint32_t addr, uint32_t v) {
        m->reg_we = 1;
        m->reg_addr = addr;
        m->reg_wdata = v;
        tick();
        m->reg_we = 0;
    }
    uint32_t reg_read(uint32_t addr) {
        m->reg_re = 1;
        m->reg_addr = addr;
        tick();
        m->reg_re = 0;
        return m->reg_rdata;
    }
    void buf_write_word(int id, uint32_t addr, uint32_t v, uint32_t strb = 0xF) {
        m->buf_we = 1;
        m->buf_wid = id;
        m->buf_waddr = addr;
        m->buf_wdata = v;
        m->buf_wstrb = strb;
        tick();
        m->buf_we = 0;
    }
    uint32_t buf_read_word(int id, uint32_t addr) {
        m->buf_re = 1;
        m->buf_rid = id;
        m->buf_raddr = addr;
        tick();
        m->buf_re = 0;
        return m->buf_rdata;
    }
    // bytes at a word-aligned offset; split_strobes writes each word as several writes of
    // contiguous byte runs (as cbr_cmd's scatter BUF_WRITE does: 0001, 0110, 1000, ...),
    // with garbage in the bytes not enabled
    void buf_write(int id, uint32_t off, const std::vector<uint8_t> &b, bool split_strobes) {
        static const uint8_t splits[5][5] = {
            {0x3, 0xC, 0}, {0x1, 0x6, 0x8, 0}, {0x7, 0x8, 0}, {0x1, 0x2, 0x4, 0x8, 0},
            {0x1, 0xE, 0},
        };
        for (size_t i = 0; i < b.size(); i += 4) {
            uint32_t v = 0;
            for (int k = 0; k < 4 && i + k < b.size(); k++)
                v |= (uint32_t)b[i + k] << (8 * k);
            if (split_strobes) {
                const uint8_t *sp = splits[(i / 4) % 5];
                for (int k = 0; sp[k]; k++) {
                    uint32_t keep = 0;
                    for (int j = 0; j < 4; j++)
                        keep |= (sp[k] >> j & 1u) ? 0xFFu << (8 * j) : 0;
                    buf_write_word(id, off + (uint32_t)i, v ^ (~keep & 0x5AC3A55Au), sp[k]);
                }
            } else {
                buf_write_word(id, off + (uint32_t)i, v);
            }
        }
    }
    std::vector<uint8_t> buf_read(int id, uint32_t off, size_t n) {
        std::vector<uint8_t> b(n);
        for (size_t i = 0; i < n; i += 4) {
            uint32_t v = buf_read_word(id, off + (uint32_t)i);
            for (int k = 0; k < 4 && i + k < n; k++)
                b[i + k] = (uint8_t)(v >> (8 * k));
        }
        return b;
    }
    uint64_t counter(int k) {
        uint64_t lo = reg_read(REG_COUNTERS + 8 * k);
        uint64_t hi = reg_read(REG_COUNTERS + 8 * k + 4);
        return lo | hi << 32;
    }
    // cumulative counter k (TOTAL_*); the high word is read first and again after the low
    // one, so a carry between the two reads is seen
    uint64_t total(int k) {
        for (;;) {
            uint64_t hi = reg_read(REG_TOTALS + 8 * k + 4);
            uint64_t lo = reg_read(REG_TOTALS + 8 * k);
            if (reg_read(REG_TOTALS + 8 * k + 4) == hi)
                return lo | hi << 32;
        }
    }
    void totals(uint64_t *t) {
        for (int k = 0; k < NCNT; k++)
            t[k] = total(k);
    }
    void pulse_reset() {
        m->core_reset = 1;
        tick();
        m->core_reset = 0;
        tick();
    }
    // BUF_COPY as cbr_cmd drives the copy port: n words of ROWS bytes, the read of word k+1
    // in the cycle of word k's write
    void copy(int src, int dst, uint32_t a1, uint32_t a2, uint32_t n) {
        for (uint32_t k = 0; k <= n; k++) {
            m->cp_re = k < n;
            m->cp_rid = src;
            m->cp_raddr = a1 + k * ROWS;
            m->cp_we = k > 0;
            m->cp_wid = dst;
            m->cp_waddr = a2 + (k - 1) * ROWS;
            tick();
        }
        m->cp_re = m->cp_we = 0;
    }
    // RUN as cbr_cmd sends it: a one-cycle core_start pulse
    void pulse_start() {
        m->core_start = 1;
        tick();
        m->core_start = 0;
    }
};

// ---- a random layer ----------------------------------------------------------------------
struct Layer {
    cbr_layer_desc d{};
    std::vector<int8_t> w, x;
    std::vector<int32_t> bias, m0, sh, nm0, nsh;
    uint32_t oh = 0, ow = 0, ph = 0, pw = 0;
    int32_t act_min = 0, act_max = 0;
    bool dw = false;   // run in depthwise mode (MODE bit 1): groups == in_c == out_c, one tile
    std::string name;
};

// Depthwise mode (docs/registers.md): square arrays only; NG = ROWS/4 groups of 4 taps, the
// activation buffer in NG banks of ACT_BYTES/NG bytes, input row y in bank y mod NG.
static const bool DW_OK = ROWS == COLS;
static const uint32_t DW_NG = ROWS / 4;
static const uint32_t DW_BANK = ACT_BYTES / (ROWS == COLS ? ROWS / 4 : 1);

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

struct Tile {  // per-group geometry on this array
    uint32_t cg, og, n_cb, n_ob;
    size_t act_bytes, wgt_bytes, out_bytes;
};

static uint32_t dw_nky(const Layer &L) { return (L.d.kh + DW_NG - 1) / DW_NG; }
static uint32_t dw_nkx(const Layer &L) { return (L.d.kw + 3) / 4; }
// bytes of one channel block of a depthwise tile in each bank: ceil(IN_H/NG) rows
static size_t dw_plane(const Layer &L) {
    return (size_t)div_up(L.d.in_h, DW_NG) * L.d.in_w * ROWS;
}

static Tile tile_of(const Layer &L) {
    Tile t;
    if (L.dw) {
        t.cg = t.og = L.d.in_c;
        t.n_cb = t.n_ob = div_up(L.d.in_c, COLS);
        t.act_bytes = (size_t)t.n_cb * dw_plane(L);   // per bank
        t.wgt_bytes = (size_t)t.n_ob * dw_nky(L) * dw_nkx(L) * ROWS * COLS;
        t.out_bytes = (size_t)t.n_ob * L.ph * L.pw * COLS;
        return t;
    }
    t.cg = L.d.in_c / L.d.groups;
    t.og = L.d.out_c / L.d.groups;
    t.n_cb = div_up(t.cg, ROWS);
    t.n_ob = div_up(t.og, COLS);
    t.act_bytes = (size_t)t.n_cb * L.d.in_h * L.d.in_w * ROWS;
    t.wgt_bytes = (size_t)t.n_ob * t.n_cb * L.d.kh * L.d.kw * ROWS * COLS;
    t.out_bytes = (size_t)t.n_ob * L.ph * L.pw * COLS;
    return t;
}

// Estimated cycles of one tile (for the budget and the hang limit).
static uint64_t estimate(const Layer &L) {
    Tile t = tile_of(L);
    uint64_t P = (uint64_t)L.oh * L.ow;
    uint64_t passes = (uint64_t)t.n_ob * t.n_cb * L.d.kh * L.d.kw;
    uint64_t per_pass = std::max<uint64_t>(P, COLS + 2) + (ROWS > COLS + 2 ? ROWS : 0);
    if (L.dw) {
        passes = (uint64_t)t.n_ob * dw_nky(L) * dw_nkx(L);
        per_pass = std::max<uint64_t>((uint64_t)L.oh * (L.d.stride_w * (L.ow - 1) + 4),
                                      COLS + 2) + 4 * ROWS;
    }
    uint64_t pool = L.d.pool.kind == CBR_POOL_NONE ? 0
                    : (uint64_t)L.ph * L.pw * L.d.pool.kh * L.d.pool.kw + P;
    return passes * per_pass + t.n_ob * (2 * P + pool + 6 * COLS + 64) + ROWS + COLS + 200;
}

static int32_t rnd_zp(tb::Rng &r) {
    int k = (int)r.range(0, 5);
    return k == 0 ? -128 : k == 1 ? 127 : k == 2 ? 0 : (int32_t)r.range(-128, 127);
}

static int32_t rnd_m0(tb::Rng &r) {
    switch (r.range(0, 7)) {
    case 0: return 0;
    case 1: return 1 << 30;
    case 2: return INT32_MAX;
    default: return (int32_t)r.range(1 << 30, INT32_MAX);
    }
}

static int32_t rnd_shift(tb::Rng &r) {
    switch (r.range(0, 5)) {
    case 0: return -31;
    case 1: return 30;
    case 2: return (int32_t)r.range(-31, 30);
    default: return (int32_t)r.range(-14, 2); // the range real layers use
    }
}

// Restrictions for the planner jobs.
struct LayerOpts {
    bool dense = false;               // groups = 1
    bool no_pool = false;
    uint32_t cg_min = 0, cg_max = 0;  // input channels, when cg_max != 0
    uint32_t og_max = 0;              // output channels at most, when != 0
    bool dw = false;                  // a depthwise-mode layer (groups = in_c = out_c)
};

static bool make_layer(tb::Rng &r, uint64_t budget, Layer &L, const LayerOpts &lo = LayerOpts{}) {
    cbr_layer_desc &d = L.d;
    d = cbr_layer_desc{};
    d.kh = (uint32_t)r.range(1, 11);
    d.kw = r.chance(0.5) ? d.kh : (uint32_t)r.range(1, 11);
    if (r.chance(0.3)) {
        d.kh = (uint32_t)r.range(1, 3);
        d.kw = (uint32_t)r.range(1, 3);
    }
    d.stride_h = (uint32_t)r.range(1, 4);
    d.stride_w = r.chance(0.6) ? d.stride_h : (uint32_t)r.range(1, 4);
    d.dilation_h = r.chance(0.7) ? 1 : (uint32_t)r.range(2, 4);
    d.dilation_w = r.chance(0.7) ? 1 : (uint32_t)r.range(2, 4);
    if (r.chance(0.03)) {  // a large dilation: the kernel reaches far into the padding
        d.kh = 2;
        d.dilation_h = (uint32_t)r.range(100, 255);
    }
    if (lo.dw)
        d.dilation_h = d.dilation_w = 1;
    uint32_t ekh = d.dilation_h * (d.kh - 1) + 1, ekw = d.dilation_w * (d.kw - 1) + 1;
    auto pad = [&](uint32_t ek) -> uint32_t {
        if (r.chance(0.3))
            return 0;
        if (r.chance(0.1))
            return (uint32_t)r.range(0, ek + 3); // padding beyond the kernel
        return (uint32_t)r.range(0, ek - 1);
    };
    d.pad_top = pad(ekh);
    d.pad_bottom = pad(ekh);
    d.pad_left = pad(ekw);
    d.pad_right = pad(ekw);
    int64_t min_h = std::max<int64_t>(1, (int64_t)ekh - d.pad_top - d.pad_bottom);
    int64_t min_w = std::max<int64_t>(1, (int64_t)ekw - d.pad_left - d.pad_right);
    d.in_h = (uint32_t)(min_h + r.range(0, r.chance(0.5) ? 4 : 20));
    d.in_w = (uint32_t)(min_w + r.range(0, r.chance(0.5) ? 4 : 24));
    d.groups = 1;
    uint32_t cg = (uint32_t)(r.chance(0.3) ? r.range(1, ROWS) : r.range(1, 3 * ROWS + 2));
    uint32_t og = (uint32_t)(r.chance(0.3) ? r.range(1, COLS) : r.range(1, 3 * COLS + 2));
    L.dw = lo.dw;
    if (lo.dw) {
        d.groups = (uint32_t)(r.chance(0.3) ? r.range(1, COLS) : r.range(1, 3 * COLS + 2));
        cg = og = 1;
    } else if (lo.cg_max) {
        cg = (uint32_t)r.range(lo.cg_min, lo.cg_max);
        if (lo.og_max)
            og = (uint32_t)r.range(1, lo.og_max);
    } else if (!lo.dense && r.chance(0.12)) {
        d.groups = (uint32_t)r.range(2, 3);
        if (r.chance(0.4)) { // depthwise
            cg = 1;
            og = (uint32_t)r.range(1, 2);
        } else {
            cg = (uint32_t)r.range(1, ROWS + 3);
            og = (uint32_t)r.range(1, COLS + 3);
        }
    }
    d.in_c = cg * d.groups;
    d.out_c = og * d.groups;
    d.input_zp = rnd_zp(r);
    d.output_zp = rnd_zp(r);
    d.act = (cbr_act)r.range(0, 3);
    if (r.chance(0.3)) {
        d.has_clamp = true;
        d.clamp_min = (int32_t)r.range(-128, 60);
        d.clamp_max = (int32_t)r.range(d.clamp_min, 127);
        if (d.act == CBR_ACT_RELU6) // relu6 is a clamp above the zero point
            d.clamp_max = std::min<int32_t>(127, std::max(d.output_zp, -128) +
                                                     (int32_t)r.range(0, 60));
    }
    d.pool.kind = lo.no_pool ? CBR_POOL_NONE : (cbr_pool_kind)r.range(0, 3);
    if (d.pool.kind == CBR_POOL_MAX || d.pool.kind == CBR_POOL_AVG) {
        d.pool.kh = (uint32_t)r.range(1, 4);
        d.pool.kw = r.chance(0.6) ? d.pool.kh : (uint32_t)r.range(1, 4);
        if (r.chance(0.05)) {
            d.pool.kh = (uint32_t)r.range(5, 12);
            d.pool.kw = (uint32_t)r.range(5, 12);
        }
        d.pool.stride_h = r.chance(0.3) ? 0 : (uint32_t)r.range(1, 3);
        d.pool.stride_w = r.chance(0.3) ? 0 : (uint32_t)r.range(1, 3);
        d.pool.pad_top = (uint32_t)r.range(0, d.pool.kh - 1);
        d.pool.pad_bottom = (uint32_t)r.range(0, d.pool.kh - 1);
        d.pool.pad_left = (uint32_t)r.range(0, d.pool.kw - 1);
        d.pool.pad_right = (uint32_t)r.range(0, d.pool.kw - 1);
        d.pool.ceil_mode = r.chance(0.4);
    }
    cbr_layer_normalize(&d);

    cbr_conv_out_size(&d, &L.oh, &L.ow);
    if (L.oh < 1 || L.ow < 1 || (uint64_t)L.oh * L.ow > ACC_PIXELS)
        return false;
    cbr_pool_out_size(&d.pool, L.oh, L.ow, &L.ph, &L.pw);
    if (L.ph < 1 || L.pw < 1)
        return false;
    Tile t = tile_of(L);
    if (t.act_bytes > (L.dw ? DW_BANK : ACT_BYTES) || t.wgt_bytes > WGT_BYTES ||
        t.og > PARAM_ENTRIES || t.out_bytes > OUT_BYTES)
        return false;
    if (estimate(L) * (L.dw ? 1 : d.groups) > budget)
        return false;

    // parameters
    const uint32_t O = d.out_c;
    const size_t nw = (size_t)O * cg * d.kh * d.kw;
    L.w.resize(nw);
    int wmode = (int)r.range(0, 4);
    for (auto &v : L.w)
        v = (int8_t)(wmode == 0 ? (r.chance(0.5) ? 127 : -127)
                                : wmode == 1 ? r.range(-3, 3) : r.range(-127, 127));
    L.bias.resize(O);
    L.m0.resize(O);
    L.sh.resize(O);
    L.nm0.resize(O);
    L.nsh.resize(O);
    for (uint32_t o = 0; o < O; o++) {
        int bm = (int)r.range(0, 9);
        L.bias[o] = bm == 0 ? INT32_MAX : bm == 1 ? INT32_MIN
                  : bm < 5 ? (int32_t)r.range(-100000, 100000) : (int32_t)r.u32();
        L.m0[o] = rnd_m0(r);
        L.sh[o] = rnd_shift(r);
        L.nm0[o] = rnd_m0(r);
        L.nsh[o] = rnd_shift(r);
    }
    d.weights = L.w.data();
    d.bias = L.bias.data();
    d.multiplier = L.m0.data();
    d.shift = L.sh.data();
    if (d.act == CBR_ACT_LEAKY) {
        d.neg_multiplier = L.nm0.data();
        d.neg_shift = L.nsh.data();
    }
    if (cbr_layer_check(&d) < 0)
        return false;
    if (cbr_act_range(&d, &L.act_min, &L.act_max) < 0)
        return false;

    L.x.resize((size_t)d.in_c * d.in_h * d.in_w);
    int xmode = (int)r.range(0, 4);
    for (auto &v : L.x)
        v = (int8_t)(xmode == 0 ? (r.chance(0.5) ? 127 : -128) : r.range(-128, 127));
    char buf[256];
    snprintf(buf, sizeof buf,
             "C%u->O%u G%u in %ux%u k %ux%u s %ux%u d %ux%u pad t%u b%u l%u r%u zp %d/%d "
             "act %d clamp %d pool %d k%ux%u s%ux%u p%u,%u%s -> %ux%u/%ux%u%s",
             d.in_c, d.out_c, d.groups, d.in_h, d.in_w, d.kh, d.kw, d.stride_h, d.stride_w,
             d.dilation_h, d.dilation_w, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right,
             d.input_zp, d.output_zp, (int)d.act, (int)d.has_clamp, (int)d.pool.kind,
             d.pool.kh, d.pool.kw, d.pool.stride_h, d.pool.stride_w, d.pool.pad_top,
             d.pool.pad_left, d.pool.ceil_mode ? " ceil" : "", L.oh, L.ow, L.ph, L.pw,
             L.dw ? " DWMODE" : "");
    L.name = buf;
    return true;
}

// A dense layer with fixed geometry (for the utilization figure).
static void make_fixed(tb::Rng &r, Layer &L, uint32_t C, uint32_t O, uint32_t H, uint32_t W,
                       uint32_t k, uint32_t pad, bool dw = false, uint32_t stride = 1) {
    cbr_layer_desc &d = L.d;
    d = cbr_layer_desc{};
    d.in_c = C;
    d.out_c = O;
    d.in_h = H;
    d.in_w = W;
    d.kh = d.kw = k;
    d.groups = dw ? C : 1;
    d.stride_h = d.stride_w = stride;
    L.dw = dw;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = pad;
    d.input_zp = -3;
    d.output_zp = 5;
    d.act = CBR_ACT_RELU;
    cbr_layer_normalize(&d);
    cbr_conv_out_size(&d, &L.oh, &L.ow);
    cbr_pool_out_size(&d.pool, L.oh, L.ow, &L.ph, &L.pw);
    L.w.resize((size_t)O * (C / d.groups) * k * k);
    for (auto &v : L.w)
        v = (int8_t)r.range(-127, 127);
    L.bias.assign(O, 0);
    L.m0.assign(O, 0);
    L.sh.assign(O, 0);
    for (uint32_t o = 0; o < O; o++) {
        L.bias[o] = (int32_t)r.range(-5000, 5000);
        L.m0[o] = (int32_t)r.range(1 << 30, INT32_MAX);
        L.sh[o] = -14;
    }
    d.weights = L.w.data();
    d.bias = L.bias.data();
    d.multiplier = L.m0.data();
    d.shift = L.sh.data();
    cbr_act_range(&d, &L.act_min, &L.act_max);
    L.x.resize((size_t)C * H * W);
    for (auto &v : L.x)
        v = (int8_t)r.range(-128, 127);
    char buf[128];
    snprintf(buf, sizeof buf, "fixed %ux%u%s s%u %u->%u in %ux%u pad %u", k, k,
             dw ? " depthwise" : "", stride, C, O, H, W, pad);
    L.name = buf;
}

static void put32(std::vector<uint8_t> &b, size_t at, uint32_t v) {
    for (int k = 0; k < 4; k++)
        b[at + k] = (uint8_t)(v >> (8 * k));
}

struct RunOpts {
    bool split_strobes = false;   // partial-strobe writes of the activations
    bool clobber_args = false;    // overwrite the arguments while the tile runs
    bool readback = false;        // read the weight buffer back and compare
    bool run_pulse = false;       // start with core_start (RUN) instead of a CTRL write
    uint32_t act_base = 0, wgt_base = 0, out_base = 0, param_base = 0;
    uint32_t cb_pitch = 0;        // ACT_CB_PITCH; 0: the blocks follow each other
    std::function<void()> during; // called once the tile is started
};

// Bytes of the activation region of a tile of n_cb blocks with this ACT_CB_PITCH.
static size_t act_span(const Layer &L, uint32_t n_cb, uint32_t cb_pitch) {
    size_t plane = L.dw ? dw_plane(L) : (size_t)L.d.in_h * L.d.in_w * ROWS;
    return (size_t)(n_cb - 1) * (cb_pitch ? cb_pitch : plane) + plane;
}

struct RunResult {
    bool finished = false;
    uint64_t cycles = 0, busy = 0, macs = 0, stall_in = 0, stall_out = 0;
    std::vector<int8_t> out; // NCHW, this group's og channels
};

// One tile: group g of layer L. Returns the group's outputs (og x PH x PW).
static RunResult run_group(Dut &dut, tb::Score &score, const Layer &L, uint32_t g,
                           const RunOpts &o) {
    const cbr_layer_desc &d = L.d;
    const Tile t = tile_of(L);
    const uint32_t R = ROWS, C = COLS;
    RunResult res;

    // activations: channel-blocked NHWC, zero past the group's channels, channel block cb
    // at cb * pitch
    std::vector<uint8_t> act(act_span(L, t.n_cb, o.cb_pitch), 0);
    const size_t plane = (size_t)d.in_h * d.in_w;
    std::vector<std::vector<uint8_t>> dw_act;  // depthwise: one image per bank
    if (L.dw) {
        // bank y mod NG, bank-local byte ACT_BASE + b*PITCH + ((y div NG)*IN_W + x)*R + j
        const size_t pitch = o.cb_pitch ? o.cb_pitch : dw_plane(L);
        dw_act.assign(DW_NG, std::vector<uint8_t>(act_span(L, t.n_cb, o.cb_pitch), 0));
        for (uint32_t c = 0; c < t.cg; c++)
            for (uint32_t y = 0; y < d.in_h; y++)
                for (uint32_t x = 0; x < d.in_w; x++)
                    dw_act[y % DW_NG][(size_t)(c / R) * pitch +
                                      ((size_t)(y / DW_NG) * d.in_w + x) * R + c % R] =
                        (uint8_t)L.x[(size_t)c * plane + (size_t)y * d.in_w + x];
    } else {
        const size_t pitch = o.cb_pitch ? o.cb_pitch : plane * R;
        for (uint32_t c = 0; c < t.cg; c++)
            for (size_t px = 0; px < plane; px++)
                act[(size_t)(c / R) * pitch + px * R + c % R] =
                    (uint8_t)L.x[(size_t)(g * t.cg + c) * plane + px];
    }
    // weights and parameters
    std::vector<uint8_t> wgt(t.wgt_bytes, 0), par((size_t)t.og * 32, 0);
    for (uint32_t oo = 0; oo < t.og; oo++) {
        uint32_t oc = g * t.og + oo, ob = oo / C, j = oo % C;
        if (L.dw) {
            // pass (ob, kyc, kxc), row r = gr*4 + k: w[oc][kyc*NG + gr][kxc*4 + k]
            const uint32_t nky = dw_nky(L), nkx = dw_nkx(L);
            for (uint32_t ky = 0; ky < d.kh; ky++)
                for (uint32_t kx = 0; kx < d.kw; kx++) {
                    uint32_t r = (ky % DW_NG) * 4 + kx % 4;
                    size_t at = ((((size_t)ob * nky + ky / DW_NG) * nkx + kx / 4) * R + r) * C + j;
                    wgt[at] = (uint8_t)d.weights[((size_t)oc * d.kh + ky) * d.kw + kx];
                }
        }
        for (uint32_t c = 0; c < (L.dw ? 0 : t.cg); c++) {
            uint32_t cb = c / R, r = c % R;
            for (uint32_t ky = 0; ky < d.kh; ky++)
                for (uint32_t kx = 0; kx < d.kw; kx++) {
                    size_t at = (((((size_t)ob * t.n_cb + cb) * d.kh + ky) * d.kw + kx) * R + r) *
                                    C + j;
                    wgt[at] = (uint8_t)d.weights[(((size_t)oc * t.cg + c) * d.kh + ky) * d.kw +
                                                 kx];
                }
        }
        put32(par, (size_t)oo * 32 + 0, (uint32_t)d.bias[oc]);
        put32(par, (size_t)oo * 32 + 4, (uint32_t)d.multiplier[oc]);
        put32(par, (size_t)oo * 32 + 8, (uint32_t)d.shift[oc]);
        put32(par, (size_t)oo * 32 + 12, d.neg_multiplier ? (uint32_t)d.neg_multiplier[oc] : 0);
        put32(par, (size_t)oo * 32 + 16, d.neg_shift ? (uint32_t)d.neg_shift[oc] : 0);
    }
    if (L.dw) {
        for (uint32_t k = 0; k < DW_NG; k++)
            dut.buf_write(0, k * DW_BANK + o.act_base, dw_act[k], o.split_strobes);
    } else {
        dut.buf_write(0, o.act_base, act, o.split_strobes);
    }
    dut.buf_write(1, o.wgt_base, wgt, false);
    dut.buf_write(2, o.param_base, par, false);
    if (o.readback) {
        std::vector<uint8_t> back = dut.buf_read(1, o.wgt_base, wgt.size());
        score.check(back == wgt, "%s: weight buffer read back differs", L.name.c_str());
        if (L.dw) {
            for (uint32_t k = 0; k < DW_NG; k++) {
                back = dut.buf_read(0, k * DW_BANK + o.act_base, dw_act[k].size());
                score.check(back == dw_act[k], "%s: activation bank %u read back differs",
                            L.name.c_str(), k);
            }
        } else {
            back = dut.buf_read(0, o.act_base, act.size());
            score.check(back == act, "%s: activation buffer read back differs",
                        L.name.c_str());
        }
    }

    // registers, as host/lib/accel.c's tile_regs()
    const cbr_pool &pl = d.pool;
    uint32_t mode = (d.act == CBR_ACT_LEAKY ? 1u : 0u) | (uint32_t)pl.kind << 4 |
                    (L.dw ? 2u : 0u);
    uint32_t pk = 0, ps = 0, pp = 0;
    if (pl.kind == CBR_POOL_MAX || pl.kind == CBR_POOL_AVG) {
        pk = pl.kh | pl.kw << 8;
        ps = pl.stride_h | pl.stride_w << 8;
        pp = pl.pad_top | pl.pad_left << 8;
    } else if (pl.kind == CBR_POOL_GAVG) {
        pk = (L.oh & 0xFF) | (L.ow & 0xFF) << 8;
    }
    const uint32_t regs[] = {
        d.in_h, d.in_w, t.n_cb, t.n_ob, d.kh, d.kw,
        d.stride_h | d.stride_w << 8, d.dilation_h | d.dilation_w << 8,
        d.pad_top | d.pad_left << 16, L.oh, L.ow,
        (uint32_t)d.input_zp, (uint32_t)d.output_zp,
        ((uint32_t)L.act_min & 0xFF) | ((uint32_t)L.act_max & 0xFF) << 8, mode, pk, ps, pp,
        L.ph | L.pw << 16, o.act_base, o.wgt_base, o.out_base, o.param_base, t.cg, t.og,
    };
    const int nregs = (int)(sizeof regs / sizeof regs[0]);
    static_assert(sizeof regs / sizeof regs[0] == NREGS, "argument words");
    for (int i = 0; i < nregs; i++)
        dut.reg_write(REG_IN_H + 4 * i, regs[i]);
    dut.reg_write(REG_PITCH, o.cb_pitch);
    bool rb_ok = true;
    for (int i = 0; i < nregs; i++)
        rb_ok &= dut.reg_read(REG_IN_H + 4 * i) == regs[i];
    rb_ok &= dut.reg_read(REG_PITCH) == o.cb_pitch;
    score.check(rb_ok, "%s: registers do not read back", L.name.c_str());

    uint32_t ctrl = dut.reg_read(REG_CTRL);
    score.check((ctrl & (CTRL_IDLE | CTRL_START)) == CTRL_IDLE,
                "%s: CTRL = 0x%x before start, expected idle", L.name.c_str(), ctrl);
    const uint32_t runs_before = dut.reg_read(REG_RUNS);
    uint64_t tot0[NCNT], tot1[NCNT];
    dut.totals(tot0);
    if (o.run_pulse)
        dut.pulse_start();
    else
        dut.reg_write(REG_CTRL, CTRL_START);
    if (o.clobber_args) {
        for (int i = 0; i < nregs; i++)
            dut.reg_write(REG_IN_H + 4 * i, (uint32_t)(0x5A5A5A5Au * (i + 1)));
        dut.reg_write(REG_PITCH, 0xA5A5A5A5u);
    }
    if (o.during)
        o.during();
    const uint64_t limit = 4 * estimate(L) + 20000;
    const uint64_t start = dut.cycles;
    for (;;) {
        for (int i = 0; i < 15; i++)
            dut.tick();
        ctrl = dut.reg_read(REG_CTRL);
        if (ctrl & CTRL_DONE) {
            res.finished = true;
            break;
        }
        if (dut.cycles - start > limit)
            break;
    }
    if (!score.check(res.finished, "%s: no ap_done within %" PRIu64 " cycles (CTRL = 0x%x)",
                     L.name.c_str(), limit, ctrl)) {
        dut.pulse_reset();
        return res;
    }
    /* ap_done stays until the next start (reads are idempotent); RUNS counted this start. */
    ctrl = dut.reg_read(REG_CTRL);
    score.check((ctrl & (CTRL_DONE | CTRL_IDLE)) == (CTRL_DONE | CTRL_IDLE),
                "%s: CTRL = 0x%x on a second read after ap_done", L.name.c_str(), ctrl);
    score.check(dut.reg_read(REG_RUNS) == runs_before + 1, "%s: RUNS did not count the start",
                L.name.c_str());
    res.cycles = dut.counter(0);
    res.busy = dut.counter(1);
    res.macs = dut.counter(2);
    res.stall_in = dut.counter(3);
    res.stall_out = dut.counter(4);
    dut.totals(tot1);
    const uint64_t tile_cnt[NCNT] = {res.cycles, res.busy, res.macs, res.stall_in, res.stall_out};
    bool tot_ok = true;
    for (int k = 0; k < NCNT; k++)
        tot_ok &= tot1[k] - tot0[k] == tile_cnt[k];
    score.check(tot_ok, "%s: TOTAL_* moved by %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
                "/%" PRIu64 ", the tile's counters are %" PRIu64 "/%" PRIu64 "/%" PRIu64
                "/%" PRIu64 "/%" PRIu64, L.name.c_str(), tot1[0] - tot0[0], tot1[1] - tot0[1],
                tot1[2] - tot0[2], tot1[3] - tot0[3], tot1[4] - tot0[4], tile_cnt[0],
                tile_cnt[1], tile_cnt[2], tile_cnt[3], tile_cnt[4]);

    std::vector<uint8_t> out = dut.buf_read(3, o.out_base, t.out_bytes);
    const size_t oplane = (size_t)L.ph * L.pw;
    res.out.resize((size_t)t.og * oplane);
    for (uint32_t oo = 0; oo < t.og; oo++)
        for (size_t px = 0; px < oplane; px++)
            res.out[oo * oplane + px] = (int8_t)out[((size_t)(oo / C) * oplane + px) * C + oo % C];

    // counters
    uint64_t beats = (uint64_t)t.n_ob * t.n_cb * d.kh * d.kw * L.oh * L.ow;
    uint64_t macs = (uint64_t)L.oh * L.ow * t.og * t.cg * d.kh * d.kw;
    if (L.dw) {  // a beat per output pixel of every pass; MACS the useful ones exactly
        beats = (uint64_t)t.n_ob * dw_nky(L) * dw_nkx(L) * L.oh * L.ow;
        macs = (uint64_t)L.oh * L.ow * t.og * d.kh * d.kw;
    }
    score.check(res.macs == macs, "%s: MACS %" PRIu64 ", expected %" PRIu64, L.name.c_str(),
                res.macs, macs);
    score.check(res.busy == beats, "%s: BUSY %" PRIu64 ", expected %" PRIu64 " beats",
                L.name.c_str(), res.busy, beats);
    score.check(res.busy + res.stall_in + res.stall_out <= res.cycles && res.cycles > 0,
                "%s: BUSY %" PRIu64 " + STALL_IN %" PRIu64 " + STALL_OUT %" PRIu64
                " > CYCLES %" PRIu64, L.name.c_str(), res.busy, res.stall_in, res.stall_out,
                res.cycles);
    return res;
}

// The whole layer, one tile per group; compares every output with the golden model.
static bool run_layer(Dut &dut, tb::Score &score, const Layer &L, const RunOpts &o,
                      RunResult *first = nullptr) {
    const cbr_layer_desc &d = L.d;
    const Tile t = tile_of(L);
    const size_t oplane = (size_t)L.ph * L.pw;
    std::vector<int8_t> gold((size_t)d.out_c * oplane);
    if (cbr_golden_layer(&d, 1, L.x.data(), gold.data()) < 0) {
        score.check(false, "%s: golden model failed", L.name.c_str());
        return false;
    }
    bool ok = true;
    for (uint32_t g = 0; g < (L.dw ? 1 : d.groups); g++) {
        RunResult res = run_group(dut, score, L, g, o);
        if (first && g == 0)
            *first = res;
        if (!res.finished)
            return false;
        unsigned bad = 0;
        for (uint32_t oo = 0; oo < t.og; oo++)
            for (size_t px = 0; px < oplane; px++) {
                int8_t want = gold[(size_t)(g * t.og + oo) * oplane + px];
                int8_t got = res.out[oo * oplane + px];
                if (want != got && bad++ < 4)
                    fprintf(stderr, "  %s: o=%u y=%zu x=%zu: got %d, golden %d\n",
                            L.name.c_str(), g * t.og + oo, px / L.pw, px % L.pw, got, want);
            }
        ok &= score.check(bad == 0, "%s: %u of %zu outputs differ (group %u)", L.name.c_str(),
                          bad, (size_t)t.og * oplane, g);
    }
    return ok;
}

// ---- RUN lists: back to back or one at a time ---------------------------------------------
struct TileRun {
    uint32_t regs[NREGS];
    uint32_t pitch;           // ACT_CB_PITCH
    uint64_t beats, macs;     // expected BUSY and MACS
    bool pulse;               // start with core_start (RUN) instead of a CTRL write
};

struct QueueStats {
    // idle cycles of the array between the last beat of a tile and the first of the next,
    // measured when the next tile was queued before that last beat; [1]: after ACC_KEEP
    uint64_t gap_n[2] = {0, 0}, gap_min[2] = {UINT64_MAX, UINT64_MAX}, gap_max[2] = {0, 0};
    // one at a time: cycles from taking ap_start to the first beat
    uint64_t start_n = 0, start_min = UINT64_MAX, start_max = 0;
    void gap(int k, uint64_t g) {
        gap_n[k]++;
        gap_min[k] = std::min(gap_min[k], g);
        gap_max[k] = std::max(gap_max[k], g);
    }
    void startup(uint64_t s) {
        start_n++;
        start_min = std::min(start_min, s);
        start_max = std::max(start_max, s);
    }
};

static void write_tile(Dut &dut, const TileRun &t) {
    for (int i = 0; i < NREGS; i++)
        dut.reg_write(REG_IN_H + 4 * i, t.regs[i]);
    dut.reg_write(REG_PITCH, t.pitch);
}

static void start_tile(Dut &dut, const TileRun &t) {
    if (t.pulse)
        dut.pulse_start();
    else
        dut.reg_write(REG_CTRL, CTRL_START);
}

// TOTAL_BUSY_LO relative to base (the tiles here issue far fewer than 2^32 beats).
static uint32_t busy_since(Dut &dut, uint32_t base, uint64_t *cycle) {
    *cycle = dut.cycles;  // the cycle of the read: it sees the beats issued before it
    return dut.reg_read(REG_TOTALS + 8 * CNT_BUSY) - base;
}

// Runs the tiles in order; queued (1 or 2): each tile's arguments and start are written as
// soon as the tile `queued` before it was taken, while that runs (2: while the tile between
// them is still pending). Checks the counters; outputs are the caller's.
static bool run_tiles(Dut &dut, tb::Score &score, const char *name,
                      const std::vector<TileRun> &tiles, int queued, uint64_t limit,
                      QueueStats &qs) {
    const uint32_t runs0 = dut.reg_read(REG_RUNS), dones0 = dut.reg_read(REG_DONES);
    const uint32_t starts0 = dut.reg_read(REG_STARTS);
    uint64_t tot0[NCNT], tot1[NCNT];
    dut.totals(tot0);
    const uint32_t busy0 = (uint32_t)tot0[CNT_BUSY];
    const uint64_t t_begin = dut.cycles;
    uint64_t beats = 0, macs = 0;
    for (const TileRun &t : tiles) {
        beats += t.beats;
        macs += t.macs;
    }
    auto timed_out = [&]() { return dut.cycles - t_begin > limit; };
    uint64_t c;

    if (!queued) {
        for (size_t i = 0; i < tiles.size(); i++) {
            const TileRun &t = tiles[i];
            write_tile(dut, t);
            uint32_t ctrl = dut.reg_read(REG_CTRL);
            score.check((ctrl & (CTRL_IDLE | CTRL_START)) == CTRL_IDLE,
                        "%s: CTRL = 0x%x before tile %zu", name, ctrl, i);
            uint64_t pre[NCNT];
            dut.totals(pre);
            const uint64_t c_w = dut.cycles;  // ap_start set here, taken in the next cycle
            start_tile(dut, t);
            const uint32_t b0 = (uint32_t)pre[CNT_BUSY];
            while (busy_since(dut, b0, &c) == 0 && !timed_out()) {
            }
            qs.startup(c - c_w - 2);
            for (;;) {
                for (int k = 0; k < 15; k++)
                    dut.tick();
                ctrl = dut.reg_read(REG_CTRL);
                if ((ctrl & (CTRL_DONE | CTRL_START)) == CTRL_DONE || timed_out())
                    break;
            }
            if (!score.check((ctrl & (CTRL_DONE | CTRL_START)) == CTRL_DONE,
                             "%s: tile %zu of %zu: no ap_done within %" PRIu64 " cycles", name,
                             i, tiles.size(), limit)) {
                dut.pulse_reset();
                return false;
            }
            uint64_t cnt[NCNT], post[NCNT];
            for (int k = 0; k < NCNT; k++)
                cnt[k] = dut.counter(k);
            dut.totals(post);
            bool tot_ok = true;
            for (int k = 0; k < NCNT; k++)
                tot_ok &= post[k] - pre[k] == cnt[k];
            score.check(cnt[CNT_BUSY] == t.beats && cnt[CNT_MACS] == t.macs,
                        "%s: tile %zu: BUSY %" PRIu64 " MACS %" PRIu64 ", expected %" PRIu64
                        " %" PRIu64, name, i, cnt[CNT_BUSY], cnt[CNT_MACS], t.beats, t.macs);
            score.check(cnt[CNT_BUSY] + cnt[CNT_STALL_IN] + cnt[CNT_STALL_OUT] <=
                            cnt[CNT_CYCLES], "%s: tile %zu: BUSY + stalls > CYCLES", name, i);
            score.check(tot_ok, "%s: tile %zu: TOTAL_* did not move by the tile's counters",
                        name, i);
        }
    } else {
        // the first `queued` tiles at once (with two: tile 1's arguments while tile 0 may
        // still be pending)
        size_t issued = 0;
        for (; issued < tiles.size() && issued < (size_t)queued; issued++) {
            write_tile(dut, tiles[issued]);
            start_tile(dut, tiles[issued]);
        }
        uint64_t cum = 0;  // beats of the tiles before tile i
        for (size_t i = 0; i < tiles.size(); i++) {
            // wait for tile i's first beat (it was taken), noting when tile i-1's last went
            uint32_t first = busy_since(dut, busy0, &c), v = first;
            uint64_t c_eq = 0;
            bool seen_eq = false;
            for (;;) {
                if (v == cum && !seen_eq) {
                    seen_eq = true;
                    c_eq = c;
                }
                if (v > cum || timed_out())
                    break;
                v = busy_since(dut, busy0, &c);
            }
            if (!score.check(v > cum, "%s: tile %zu of %zu (queued) did not start within %"
                             PRIu64 " cycles (RUNS %u, expected %zu)", name, i, tiles.size(),
                             limit, dut.reg_read(REG_RUNS) - runs0, i + 1)) {
                dut.pulse_reset();
                return false;
            }
            if (i > 0 && seen_eq && first < cum)
                qs.gap((tiles[i - 1].regs[REG_MODE / 4 - 4] & MODE_ACC_KEEP) ? 1 : 0,
                       c - c_eq - 1);
            cum += tiles[i].beats;
            for (; issued < tiles.size() && issued <= i + (size_t)queued; issued++) {
                write_tile(dut, tiles[issued]);
                start_tile(dut, tiles[issued]);
                // tile i still runs: the start is held pending (behind tile i+1, with two)
                if (tiles[i].beats > 200 && (queued == 1 || tiles[i + 1].beats > 200)) {
                    uint32_t ctrl = dut.reg_read(REG_CTRL);
                    uint32_t runs = dut.reg_read(REG_RUNS);
                    uint32_t full = issued == i + 2 ? CTRL_FULL : 0;
                    score.check((ctrl & (CTRL_START | CTRL_IDLE | CTRL_FULL)) ==
                                        (CTRL_START | full) &&
                                    runs - runs0 == i + 1,
                                "%s: tile %zu queued while %zu runs: CTRL 0x%x, RUNS +%u",
                                name, issued, i, ctrl, runs - runs0);
                }
            }
        }
        uint32_t ctrl = 0;
        for (;;) {
            for (int k = 0; k < 15; k++)
                dut.tick();
            ctrl = dut.reg_read(REG_CTRL);
            if ((ctrl & (CTRL_DONE | CTRL_START | CTRL_IDLE)) == (CTRL_DONE | CTRL_IDLE) ||
                timed_out())
                break;
        }
        if (!score.check((ctrl & (CTRL_DONE | CTRL_START | CTRL_IDLE)) ==
                             (CTRL_DONE | CTRL_IDLE),
                         "%s: queued tiles not done within %" PRIu64 " cycles", name, limit)) {
            dut.pulse_reset();
            return false;
        }
    }
    dut.totals(tot1);
    const uint32_t runs = dut.reg_read(REG_RUNS) - runs0;
    const uint32_t dones = dut.reg_read(REG_DONES) - dones0;
    const uint32_t starts = dut.reg_read(REG_STARTS) - starts0;
    score.check(runs == tiles.size() && dones == tiles.size() && starts == tiles.size(),
                "%s: RUNS counted %u, DONES %u, STARTS %u of %zu tiles", name, runs, dones,
                starts, tiles.size());
    score.check(tot1[CNT_BUSY] - tot0[CNT_BUSY] == beats &&
                    tot1[CNT_MACS] - tot0[CNT_MACS] == macs,
                "%s: TOTAL_BUSY +%" PRIu64 " TOTAL_MACS +%" PRIu64 ", expected %" PRIu64
                " %" PRIu64, name, tot1[CNT_BUSY] - tot0[CNT_BUSY],
                tot1[CNT_MACS] - tot0[CNT_MACS], beats, macs);
    const uint64_t tc = tot1[CNT_CYCLES] - tot0[CNT_CYCLES];
    score.check(tot1[CNT_BUSY] - tot0[CNT_BUSY] + tot1[CNT_STALL_IN] - tot0[CNT_STALL_IN] +
                    tot1[CNT_STALL_OUT] - tot0[CNT_STALL_OUT] <= tc &&
                    tc <= dut.cycles - t_begin,
                "%s: TOTAL_CYCLES +%" PRIu64 " out of bounds", name, tc);
    return true;
}

// ---- planner jobs ---------------------------------------------------------------------------
// How a job is cut; -1: random.
struct JobSpec {
    int chain = -1;     // RUNs per input-channel chain, 1..4
    int subtiles = -1;  // row-subtiles (1 with pooling)
    int ob_group = -1;  // output blocks per RUN (<= 2 in a chain)
    int queued = -1;    // starts kept queued: 0 (one at a time), 1 or 2
    int pitch_extra = -1;  // ROWS-byte words between the planes of the region
};

struct JobInfo {  // what run_job did, for the coverage line
    int chain = 0, subtiles = 0, ob_group = 0, runs = 0;
    int queued = 0;
    bool pitch = false, pooled = false;
};

// Random cut points: n parts of [0, total), each non-empty.
static std::vector<uint32_t> cuts(tb::Rng &rng, uint32_t total, uint32_t n) {
    std::vector<uint32_t> c{0, total};
    while (c.size() < n + 1) {
        uint32_t p = (uint32_t)rng.range(1, total - 1);
        if (std::find(c.begin(), c.end(), p) == c.end())
            c.push_back(p);
    }
    std::sort(c.begin(), c.end());
    return c;
}

// Layer L (groups = 1) as the tile planner runs it. Returns false if it does not fit (not
// counted) or on a failure (counted in score); *ran says which. dry: only decide whether it
// fits (the same random draws up to that point).
static bool run_job(Dut &dut, tb::Score &score, tb::Rng &rng, const Layer &L, JobSpec sp,
                    QueueStats &qs, JobInfo &ji, bool *ran, bool dry = false) {
    *ran = false;
    const cbr_layer_desc &d = L.d;
    const uint32_t R = ROWS, C = COLS;
    const uint32_t cg = d.in_c, og = d.out_c;
    const uint32_t n_cb = div_up(cg, R), n_ob = div_up(og, C);
    const bool pooled = d.pool.kind != CBR_POOL_NONE;

    int K = sp.chain >= 0 ? sp.chain : (int)rng.range(1, std::min<uint32_t>(4, n_cb));
    int S = sp.subtiles >= 0 ? sp.subtiles
            : (pooled || L.oh < 2 || rng.chance(0.3)) ? 1
                                                     : (int)rng.range(2, std::min<uint32_t>(4, L.oh));
    int G = sp.ob_group >= 0 ? sp.ob_group
            : K > 1 ? (int)rng.range(1, std::min<uint32_t>(2, n_ob))
                    : (rng.chance(0.5) ? (int)n_ob : (int)rng.range(1, n_ob));
    int queued = sp.queued >= 0 ? sp.queued : (int)rng.range(0, 2);
    if ((uint32_t)K > n_cb || (pooled && S > 1) || (uint32_t)S > L.oh || (K > 1 && G > 2))
        return false;
    std::vector<uint32_t> cbc = cuts(rng, n_cb, (uint32_t)K);
    std::vector<uint32_t> yc = cuts(rng, L.oh, (uint32_t)S);

    // the resident region: every channel block of the whole input, pitch apart
    const size_t plane = (size_t)d.in_h * d.in_w * R;
    size_t pitch = plane + (size_t)R * (sp.pitch_extra >= 0 ? (uint32_t)sp.pitch_extra
                                        : rng.chance(0.5) ? 0 : (uint32_t)rng.range(1, 40));
    if ((n_cb - 1) * pitch + plane > ACT_BYTES)
        pitch = plane;
    const size_t region = (n_cb - 1) * pitch + plane;
    const size_t wbytes = (size_t)n_ob * n_cb * d.kh * d.kw * R * C;
    const uint32_t rows_out = pooled ? L.ph : L.oh, cols_out = pooled ? L.pw : L.ow;
    const size_t obytes = (size_t)n_ob * rows_out * cols_out * C;
    if (region > ACT_BYTES || wbytes > WGT_BYTES || obytes > OUT_BYTES || og > PARAM_ENTRIES)
        return false;
    const uint32_t A = (uint32_t)rng.range(0, (ACT_BYTES - region) / R) * R;
    const uint32_t WB = (uint32_t)rng.range(0, (WGT_BYTES - wbytes) / C) * C;
    const uint32_t OB = (uint32_t)rng.range(0, (OUT_BYTES - obytes) / C) * C;
    const uint32_t PB = (uint32_t)rng.range(0, (PARAM_ENTRIES - og) * 8) * 4;
    *ran = true;
    if (dry)
        return true;
    ji = JobInfo{K, S, G, 0, queued, pitch != plane, pooled};

    std::vector<int8_t> gold((size_t)og * rows_out * cols_out);
    if (cbr_golden_layer(&d, 1, L.x.data(), gold.data()) < 0)
        return score.check(false, "%s: golden model failed", L.name.c_str());

    // buffers
    std::vector<uint8_t> act(region, 0), wgt(wbytes, 0), par((size_t)og * 32, 0);
    const size_t hw = (size_t)d.in_h * d.in_w;
    for (uint32_t c = 0; c < cg; c++)
        for (size_t px = 0; px < hw; px++)
            act[(c / R) * pitch + px * R + c % R] = (uint8_t)L.x[c * hw + px];
    for (uint32_t o = 0; o < og; o++) {
        put32(par, (size_t)o * 32 + 0, (uint32_t)d.bias[o]);
        put32(par, (size_t)o * 32 + 4, (uint32_t)d.multiplier[o]);
        put32(par, (size_t)o * 32 + 8, (uint32_t)d.shift[o]);
        put32(par, (size_t)o * 32 + 12, d.neg_multiplier ? (uint32_t)d.neg_multiplier[o] : 0);
        put32(par, (size_t)o * 32 + 16, d.neg_shift ? (uint32_t)d.neg_shift[o] : 0);
    }
    // weights: one block per (output group, chain part), each in the loop-nest layout of
    // its own N_OB x N_CB
    std::vector<uint32_t> woff;
    {
        size_t at = 0;
        for (uint32_t ob0 = 0; ob0 < n_ob; ob0 += (uint32_t)G) {
            uint32_t nob = std::min<uint32_t>((uint32_t)G, n_ob - ob0);
            for (int k = 0; k < K; k++) {
                uint32_t cb0 = cbc[k], nb = cbc[k + 1] - cbc[k];
                woff.push_back((uint32_t)at);
                for (uint32_t obl = 0; obl < nob; obl++)
                    for (uint32_t cbl = 0; cbl < nb; cbl++)
                        for (uint32_t ky = 0; ky < d.kh; ky++)
                            for (uint32_t kx = 0; kx < d.kw; kx++)
                                for (uint32_t r = 0; r < R; r++)
                                    for (uint32_t j = 0; j < C; j++, at++) {
                                        uint32_t oc = (ob0 + obl) * C + j;
                                        uint32_t c = (cb0 + cbl) * R + r;
                                        if (oc < og && c < cg)
                                            wgt[at] = (uint8_t)d.weights[
                                                (((size_t)oc * cg + c) * d.kh + ky) * d.kw + kx];
                                    }
            }
        }
    }
    dut.buf_write(0, A, act, rng.chance(0.1));
    dut.buf_write(1, WB, wgt, false);
    dut.buf_write(2, PB, par, false);

    // the RUNs
    const cbr_pool &pl = d.pool;
    uint32_t pk = 0, ps = 0, pp = 0;
    if (pl.kind == CBR_POOL_MAX || pl.kind == CBR_POOL_AVG) {
        pk = pl.kh | pl.kw << 8;
        ps = pl.stride_h | pl.stride_w << 8;
        pp = pl.pad_top | pl.pad_left << 8;
    } else if (pl.kind == CBR_POOL_GAVG) {
        pk = (L.oh & 0xFF) | (L.ow & 0xFF) << 8;
    }
    struct Out { uint32_t ob0, nob, y0, rows, base; };
    std::vector<Out> outs;
    std::vector<TileRun> tiles;
    uint32_t oat = OB, gi = 0;
    for (uint32_t ob0 = 0; ob0 < n_ob; ob0 += (uint32_t)G, gi++) {
        const uint32_t nob = std::min<uint32_t>((uint32_t)G, n_ob - ob0);
        const uint32_t oc_n = std::min(og, (ob0 + nob) * C) - ob0 * C;
        for (int s = 0; s < S; s++) {
            const uint32_t y0 = yc[s], y1 = yc[s + 1];
            const uint32_t rows = S == 1 ? rows_out : y1 - y0;
            // first input row of the subtile, and the padding rows above it
            int64_t t0 = (int64_t)y0 * d.stride_h - d.pad_top;
            uint32_t r0 = t0 > 0 ? (uint32_t)t0 : 0, pad_s = t0 < 0 ? (uint32_t)-t0 : 0;
            uint32_t ih = r0 < d.in_h ? d.in_h - r0 : 0;  // rows available from r0
            if (ih && rng.chance(0.5)) {  // or only the rows the subtile reads
                int64_t last = (int64_t)(y1 - 1) * d.stride_h - d.pad_top +
                               (int64_t)(d.kh - 1) * d.dilation_h;
                int64_t need = std::min<int64_t>(d.in_h, last + 1) - r0;
                ih = need > 0 ? (uint32_t)need : 0;
            }
            outs.push_back(Out{ob0, nob, S == 1 ? 0 : y0, rows, oat});
            for (int k = 0; k < K; k++) {
                const uint32_t cb0 = cbc[k], nb = cbc[k + 1] - cbc[k];
                const uint32_t ic_n = std::min(cg, (cb0 + nb) * R) - cb0 * R;
                uint32_t mode = (d.act == CBR_ACT_LEAKY ? 1u : 0u) | (uint32_t)pl.kind << 4;
                if (k > 0)
                    mode |= MODE_ACC_LOAD;
                if (k < K - 1)
                    mode |= MODE_ACC_KEEP;
                TileRun t;
                const uint32_t regs[NREGS] = {
                    ih, d.in_w, nb, nob, d.kh, d.kw,
                    d.stride_h | d.stride_w << 8, d.dilation_h | d.dilation_w << 8,
                    pad_s | d.pad_left << 16, y1 - y0, L.ow,
                    (uint32_t)d.input_zp, (uint32_t)d.output_zp,
                    ((uint32_t)L.act_min & 0xFF) | ((uint32_t)L.act_max & 0xFF) << 8, mode,
                    pk, ps, pp, rows | (S == 1 ? cols_out : L.ow) << 16,
                    (uint32_t)(A + cb0 * pitch + (ih ? (size_t)r0 * d.in_w * R : 0)),
                    WB + woff[gi * K + k], oat, PB + ob0 * C * 32, ic_n, oc_n,
                };
                memcpy(t.regs, regs, sizeof regs);
                // 0 is the default pitch only when the tile's plane is the region's
                t.pitch = (r0 == 0 && ih == d.in_h && pitch == plane && rng.chance(0.5))
                              ? 0 : (uint32_t)pitch;
                t.beats = (uint64_t)nob * nb * d.kh * d.kw * (y1 - y0) * L.ow;
                t.macs = (uint64_t)(y1 - y0) * L.ow * oc_n * ic_n * d.kh * d.kw;
                t.pulse = rng.chance(0.5);
                tiles.push_back(t);
            }
            oat += nob * rows * (S == 1 ? cols_out : L.ow) * C;
        }
    }
    ji.runs = (int)tiles.size();
    uint64_t limit = 0;
    {
        Tile tl = tile_of(L);
        limit = 4 * estimate(L) * (uint64_t)(K * S) + 40 * tiles.size() * (NREGS + 10) +
                20000 + (uint64_t)tl.n_ob * 1000;
    }
    char name[512];
    snprintf(name, sizeof name, "%s [job: chain %d, subtiles %d, ob per run %d, %s, pitch %zu]",
             L.name.c_str(), K, S, G,
             queued == 2 ? "two queued" : queued ? "queued" : "one at a time", pitch);
    if (!run_tiles(dut, score, name, tiles, queued, limit, qs))
        return false;

    // outputs of the last RUN of each chain
    unsigned bad = 0;
    size_t total = 0;
    for (const Out &o : outs) {
        const uint32_t cols = S == 1 ? cols_out : L.ow;
        std::vector<uint8_t> out = dut.buf_read(3, o.base, (size_t)o.nob * o.rows * cols * C);
        for (uint32_t obl = 0; obl < o.nob; obl++)
            for (uint32_t j = 0; j < C; j++) {
                uint32_t oc = (o.ob0 + obl) * C + j;
                if (oc >= og)
                    continue;
                for (uint32_t y = 0; y < o.rows; y++)
                    for (uint32_t x = 0; x < cols; x++, total++) {
                        int8_t got = (int8_t)out[(((size_t)obl * o.rows + y) * cols + x) * C + j];
                        int8_t want = gold[((size_t)oc * rows_out + o.y0 + y) * cols_out + x];
                        if (got != want && bad++ < 4)
                            fprintf(stderr, "  %s: o=%u y=%u x=%u: got %d, golden %d\n", name,
                                    oc, o.y0 + y, x, got, want);
                    }
            }
    }
    return score.check(bad == 0 && total == gold.size(), "%s: %u of %zu outputs differ", name,
                       bad, gold.size());
}

// ---- the copy port ---------------------------------------------------------------------------
// What the bench wrote into a buffer, byte by byte (known bytes only).
struct Shadow {
    std::vector<uint8_t> v, known;
    explicit Shadow(size_t n) : v(n), known(n) {}
};
static const uint32_t BUF_SZ[4] = {ACT_BYTES, WGT_BYTES, 32 * PARAM_ENTRIES, OUT_BYTES};

// Random bytes into [a, a + n) of buffer id through the buffer port, and into the shadow.
static void fill(Dut &dut, tb::Rng &rng, Shadow &sh, int id, uint32_t a, uint32_t n) {
    std::vector<uint8_t> b(n);
    for (auto &x : b)
        x = (uint8_t)rng.u32();
    dut.buf_write(id, a, b, false);
    for (uint32_t i = 0; i < n; i++) {
        sh.v[a + i] = b[i];
        sh.known[a + i] = 1;
    }
}
// [a, a + n) of buffer id read back through the buffer port against the shadow.
static bool check_back(Dut &dut, tb::Score &score, const Shadow &sh, int id, uint32_t a,
                       uint32_t n, const char *what) {
    std::vector<uint8_t> b = dut.buf_read(id, a, n);
    uint32_t bad = 0, first = 0;
    for (uint32_t i = 0; i < n; i++)
        if (sh.known[a + i] && b[i] != sh.v[a + i] && !bad++)
            first = a + i;
    return score.check(bad == 0, "copy port: %s: %u bytes of buffer %d differ, the first at 0x%x",
                       what, bad, id, first);
}
// The copy in the shadows; a source byte the bench never wrote makes the destination unknown.
static void copy_shadow(std::vector<Shadow> &sh, int s, int d, uint32_t a1, uint32_t a2,
                        uint32_t n) {
    for (uint32_t i = 0; i < n * ROWS; i++) {
        sh[d].v[a2 + i] = sh[s].v[a1 + i];
        sh[d].known[a2 + i] = sh[s].known[a1 + i];
    }
}

static void test_copy_port(Dut &dut, tb::Score &score, tb::Rng &rng, uint64_t budget) {
    if (ROWS != COLS) {
        printf("copy port: not built on %dx%d (ROWS != COLS), its tests skipped\n", ROWS, COLS);
        return;
    }
    const uint32_t W = ROWS, G = 2 * W;  // word; the guard words each side of a destination
    std::vector<Shadow> sh;
    for (int i = 0; i < 4; i++)
        sh.emplace_back(BUF_SZ[i]);
    const int ids[3] = {0, 1, 3};
    const uint64_t c0 = dut.cycles;
    int copies = 0, across = 0;
    for (int rep = 0; rep < 6; rep++)
        for (int s : ids)
            for (int d : ids) {
                if (s == d)
                    continue;
                const uint32_t ws = BUF_SZ[s] / W, wd = BUF_SZ[d] / W;
                uint32_t n = (uint32_t)(rng.chance(0.8) ? rng.range(1, 40) : rng.range(1, 400));
                // an activation range across a bank boundary (bank k at k * DW_BANK), or
                // anywhere, or at either end of the buffer
                auto place = [&](int id, uint32_t words) {
                    const uint32_t wb = BUF_SZ[id] / W;
                    if (id == 0 && DW_NG > 1 && rng.chance(0.6)) {
                        uint32_t k = (uint32_t)rng.range(1, DW_NG - 1);
                        uint32_t lo = k * (DW_BANK / W) - (uint32_t)rng.range(1, words - 1 + 1);
                        return std::min(lo, wb - words) * W;
                    }
                    switch (rng.range(0, 3)) {
                    case 0: return 0u;
                    case 1: return (wb - words) * W;
                    default: return (uint32_t)rng.range(0, wb - words) * W;
                    }
                };
                n = std::min(n, std::min(ws, wd) - 2 * G / W);
                uint32_t a1 = place(s, n), a2 = place(d, n);
                if (DW_NG > 1) {
                    across += s == 0 && a1 / DW_BANK != (a1 + n * W - 1) / DW_BANK;
                    across += d == 0 && a2 / DW_BANK != (a2 + n * W - 1) / DW_BANK;
                }
                fill(dut, rng, sh[s], s, a1, n * W);
                // the destination and the words around it
                const uint32_t g0 = a2 >= G ? a2 - G : 0;
                const uint32_t g1 = std::min<uint32_t>(a2 + n * W + G, BUF_SZ[d]);
                fill(dut, rng, sh[d], d, g0, g1 - g0);
                dut.copy(s, d, a1, a2, n);
                copy_shadow(sh, s, d, a1, a2, n);
                char what[96];
                snprintf(what, sizeof what, "%u words from %d:0x%x to %d:0x%x", n, s, a1, d, a2);
                check_back(dut, score, sh[d], d, g0, g1 - g0, what);
                check_back(dut, score, sh[s], s, a1, n * W, what);  // the source unchanged
                copies++;
            }
    printf("copy port: %d copies between buffers 0, 1, 3 (%d across activation banks), read "
           "back in %" PRIu64 " cycles\n", copies, across, dut.cycles - c0);

    // while a tile runs: from the output buffer past the tile's outputs into the activation
    // buffer past its inputs
    int ran = 0;
    for (int tries = 0; ran < 4 && tries < 100; tries++) {
        Layer L;
        LayerOpts lo;
        lo.dense = true;
        if (!make_layer(rng, budget, L, lo))
            continue;
        const Tile t = tile_of(L);
        if (estimate(L) < 3000)  // long enough that the copy lies inside the tile
            continue;
        const uint32_t span = (uint32_t)act_span(L, t.n_cb, 0);
        const uint32_t a_lo = (span + W - 1) / W * W, o_lo = (t.out_bytes + W - 1) / W * W;
        if (a_lo + 64 * W > ACT_BYTES || o_lo + 64 * W > OUT_BYTES)
            continue;
        const uint32_t n = (uint32_t)rng.range(1, std::min<uint32_t>(
                               std::min((ACT_BYTES - a_lo) / W, (OUT_BYTES - o_lo) / W), 600));
        const uint32_t a1 = o_lo + (uint32_t)rng.range(0, (OUT_BYTES - o_lo) / W - n) * W;
        uint32_t a2 = a_lo + (uint32_t)rng.range(0, (ACT_BYTES - a_lo) / W - n) * W;
        if (DW_NG > 1 && rng.chance(0.5)) {  // across a bank boundary past the inputs
            uint32_t k = (uint32_t)(a_lo / DW_BANK + 1);
            if (k < DW_NG && k * DW_BANK >= a_lo + W * (n / 2) && k * DW_BANK + n * W <= ACT_BYTES)
                a2 = k * DW_BANK - W * (n / 2);
        }
        fill(dut, rng, sh[3], 3, a1, n * W);
        const uint32_t g0 = std::max(a_lo, a2 >= G ? a2 - G : 0);
        const uint32_t g1 = std::min<uint32_t>(a2 + n * W + G, ACT_BYTES);
        fill(dut, rng, sh[0], 0, g0, g1 - g0);
        const uint32_t wait = (uint32_t)rng.range(0, 300);
        RunOpts o;
        bool inside = false;
        o.during = [&]() {
            for (uint32_t i = 0; i < wait; i++)
                dut.tick();
            dut.copy(3, 0, a1, a2, n);
            inside = !(dut.reg_read(REG_CTRL) & CTRL_IDLE);
        };
        bool ok = run_layer(dut, score, L, o);
        // run_group wrote the inputs, which may lie below g0 only; the guard and the copy
        // are past them
        copy_shadow(sh, 3, 0, a1, a2, n);
        char what[128];
        snprintf(what, sizeof what, "during %s, %u words from 3:0x%x to 0:0x%x", L.name.c_str(),
                 n, a1, a2);
        ok &= check_back(dut, score, sh[0], 0, g0, g1 - g0, what);
        ok &= score.check(inside, "copy port: %s: the tile was over before the copy", what);
        printf("copy port: %u words while %s ran (%u cycles in): %s\n", n, L.name.c_str(), wait,
               ok ? "ok" : "MISMATCH");
        ran++;
    }
    score.check(ran == 4, "copy port: only %d tiles with a copy could be made", ran);
}

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    int n_layers = 200;
    uint64_t budget = 30000;
    bool util_only = false;
    int n_jobs = 100;
    int only = 0;      // run only the random layer of this number (1-based), for replays
    int only_job = 0;  // run only the planner job of this number (1-based)
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only-job") && i + 1 < argc)
            only_job = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            n_jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            n_layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = strtoull(argv[++i], nullptr, 0);
        else if (!strcmp(argv[i], "--util-only"))
            util_only = true;
    }
    printf("tb_core ROWS=%d COLS=%d ACC_PIXELS=%d seed=%" PRIu64 " layers=%d jobs=%d budget=%"
           PRIu64 "\n", ROWS, COLS, ACC_PIXELS, seed, n_layers, n_jobs, budget);
    fflush(stdout);
    tb::Rng rng(seed);
    tb::Score score("tb_core");
    Dut dut(seed);

    // INFO-style facts the host relies on: idle after reset, reserved registers read 0.
    score.check(dut.reg_read(REG_CTRL) == (CTRL_IDLE | CTRL_READY), "CTRL after reset");
    score.check(dut.reg_read(0x04) == 0 && dut.reg_read(0x0C) == 0 && dut.reg_read(0x74) == 0,
                "reserved registers read 0");

    // ---- the utilization figure: 3x3, 64 -> 64, 16x16 output plane ----------------------
    {
        Layer L;
        make_fixed(rng, L, 64, 64, 16, 16, 3, 1);
        RunResult r;
        bool ok = (only || only_job) ? true : run_layer(dut, score, L, RunOpts{}, &r);
        double util = r.cycles ? (double)r.macs / ((double)ROWS * COLS * (double)r.cycles) : 0;
        printf("utilization %s on %dx%d: %" PRIu64 " MACs in %" PRIu64 " cycles = %.2f%% "
               "(busy %" PRIu64 ", stall in %" PRIu64 ", stall out %" PRIu64 ")%s\n",
               L.name.c_str(), ROWS, COLS, r.macs, r.cycles, 100 * util, r.busy, r.stall_in,
               r.stall_out, ok ? "" : " [MISMATCH]");
        if (ROWS == 16 && COLS == 16 && !only && !only_job)
            score.check(util >= 0.90, "utilization %.2f%% of the 3x3 64->64 16x16 layer is "
                        "below 90%%", 100 * util);
    }
    // ---- depthwise mode: MobileNet-like 3x3 layers ----------------------------------------
    if (!DW_OK) {
        printf("depthwise mode: not supported on %dx%d (ROWS != COLS), its tests skipped\n",
               ROWS, COLS);
    } else if (!only && !only_job) {
        struct { uint32_t C, H, W, s; } fx[] = {
            {64, 28, 28, 1}, {64, 56, 56, 2}, {256, 14, 14, 1}, {256, 28, 28, 2},
            {512, 14, 14, 2}, {32, 32, 32, 1}};
        for (auto &f : fx) {
            Layer L;
            make_fixed(rng, L, f.C, f.C, f.H, f.W, 3, 1, true, f.s);
            if ((uint64_t)L.oh * L.ow > ACC_PIXELS || tile_of(L).act_bytes > DW_BANK)
                continue;
            RunResult r;
            bool ok = run_layer(dut, score, L, RunOpts{}, &r);
            double util = r.cycles ? (double)r.macs / ((double)ROWS * COLS * (double)r.cycles) : 0;
            printf("utilization %s on %dx%d: %" PRIu64 " MACs in %" PRIu64 " cycles = %.2f%% "
                   "(busy %" PRIu64 ", stall in %" PRIu64 ", stall out %" PRIu64 ")%s\n",
                   L.name.c_str(), ROWS, COLS, r.macs, r.cycles, 100 * util, r.busy,
                   r.stall_in, r.stall_out, ok ? "" : " [MISMATCH]");
            // stride 1 must reach 25 % (stride 2 streams two input columns per beat: ~25 %,
            // printed, not checked; docs/core.md "Depthwise mode")
            if (ROWS == 16 && COLS == 16 && f.s == 1)
                score.check(util >= 0.25, "depthwise utilization %.2f%% of %s is below 25%%",
                            100 * util, L.name.c_str());
        }
    }
    if (util_only)
        return score.finish();

    // ---- RESET in the middle of a tile, then a tile that must be exact ------------------
    {
        Layer L;
        make_fixed(rng, L, 2 * ROWS, 2 * COLS, 10, 10, 3, 1);
        RunOpts o;
        if (only || only_job)
            goto random_layers;
        // start the previous tile again, reset after a while, check idle; the counters keep
        // the aborted tile's cycles: the take cycle and 300 running ones
        uint64_t tot0[NCNT], tot1[NCNT];
        dut.totals(tot0);
        dut.reg_write(REG_CTRL, CTRL_START);
        for (int i = 0; i < 300; i++)
            dut.tick();
        dut.pulse_reset();
        uint32_t ctrl = dut.reg_read(REG_CTRL);
        score.check(ctrl == (CTRL_IDLE | CTRL_READY), "CTRL = 0x%x after RESET mid-tile", ctrl);
        dut.totals(tot1);
        uint64_t cyc = dut.counter(CNT_CYCLES);
        score.check(tot1[CNT_CYCLES] - tot0[CNT_CYCLES] == 301 && cyc == 301,
                    "RESET mid-tile: TOTAL_CYCLES +%" PRIu64 ", CYCLES %" PRIu64 ", expected 301",
                    tot1[CNT_CYCLES] - tot0[CNT_CYCLES], cyc);
        score.check(tot1[CNT_BUSY] > tot0[CNT_BUSY] &&
                        tot1[CNT_BUSY] - tot0[CNT_BUSY] == dut.counter(CNT_BUSY),
                    "RESET mid-tile: TOTAL_BUSY +%" PRIu64 " is not the tile's BUSY",
                    tot1[CNT_BUSY] - tot0[CNT_BUSY]);
        run_layer(dut, score, L, o);
    }

    // ---- back to back: tiles queued while the previous one runs --------------------------
    {
        // The 3x3 layer of 4 x 4 blocks on a 16x16 plane, cut three ways: two RUNs of two
        // output blocks each, queued (the gap after a tile that writes outputs); the same as
        // chains of two RUNs (the gap after an ACC_KEEP tile); two row-subtiles one at a time
        // (the start-up).
        Layer F;
        make_fixed(rng, F, 4 * ROWS, 4 * COLS, 16, 16, 3, 1);
        QueueStats q;
        JobInfo ji;
        bool ran = false;
        JobSpec a, b, c;
        a.chain = 1, a.subtiles = 1, a.ob_group = 2, a.queued = 1, a.pitch_extra = 0;
        b.chain = 2, b.subtiles = 1, b.ob_group = 2, b.queued = 1, b.pitch_extra = 3;
        c.chain = 1, c.subtiles = 2, c.ob_group = 4, c.queued = 0, c.pitch_extra = 0;
        if (!only && !only_job) {
            tb::Rng jr(rng.next());
            run_job(dut, score, jr, F, a, q, ji, &ran);
            score.check(ran, "back to back: job a did not fit");
            run_job(dut, score, jr, F, b, q, ji, &ran);
            score.check(ran, "back to back: job b did not fit");
            run_job(dut, score, jr, F, c, q, ji, &ran);
            score.check(ran, "back to back: job c did not fit");
            printf("back to back (%s): array idle between the last beat of a tile and the first "
                   "of the queued next: %" PRIu64 " cycles after a tile with outputs (16x16 "
                   "plane), %" PRIu64 "..%" PRIu64 " after an ACC_KEEP tile; start-up (ap_start "
                   "taken to first beat) %" PRIu64 " cycles\n", F.name.c_str(), q.gap_min[0],
                   q.gap_min[1], q.gap_max[1], q.start_min);
            score.check(q.gap_n[0] >= 2 && q.gap_n[1] == 2 && q.start_n == 2,
                        "back to back: gaps measured %" PRIu64 "/%" PRIu64 ", start-ups %" PRIu64,
                        q.gap_n[0], q.gap_n[1], q.start_n);
            score.check(q.start_max <= 6, "start-up %" PRIu64 " cycles", q.start_max);
        }

        // A start requested in the very cycle the pending one is taken is the next tile's:
        // tile A started at cycle w is taken at w+1; a start written then stays pending, and
        // is taken as soon as A's front is done (its last beat accumulated), while A still
        // drains. A probe run finds that cycle (w + d); the run after it writes a third start
        // in exactly that cycle, which must stay pending too. DONES must lag RUNS while A
        // drains (the two tiles overlap) and count all three in the end.
        Layer L;
        make_fixed(rng, L, ROWS + 1, COLS + 1, 6, 7, 3, 1);
        if (!only && !only_job) {
            RunResult r0;
            run_layer(dut, score, L, RunOpts{}, &r0);
            const Tile t = tile_of(L);
            std::vector<uint8_t> out0 = dut.buf_read(3, 0, t.out_bytes);
            auto wait_idle = [&]() {
                uint32_t ctrl = 0;
                for (int i = 0; i < 100000 && (ctrl & (CTRL_START | CTRL_IDLE)) != CTRL_IDLE;
                     i++) {
                    for (int k = 0; k < 15; k++)
                        dut.tick();
                    ctrl = dut.reg_read(REG_CTRL);
                }
                return ctrl;
            };
            // the probe: A, then a start in A's take cycle; RUNS read every cycle
            uint32_t runs0 = dut.reg_read(REG_RUNS);
            uint64_t w = dut.cycles;
            dut.reg_write(REG_CTRL, CTRL_START);  // cycle w
            dut.reg_write(REG_CTRL, CTRL_START);  // w+1: A is taken
            uint64_t d = 0;
            while (dut.cycles < w + r0.cycles + 1000) {
                const uint64_t c = dut.cycles;
                if (dut.reg_read(REG_RUNS) - runs0 == 2) {
                    d = c - 1 - w;  // read in cycle c: taken in cycle c - 1
                    break;
                }
            }
            wait_idle();
            score.check(d > 1 && d < r0.cycles, "start in the take cycle: the probe's second "
                        "tile was taken %" PRIu64 " cycles after A's start (A: %" PRIu64
                        " cycles)", d, r0.cycles);

            runs0 = dut.reg_read(REG_RUNS);
            const uint32_t dones0 = dut.reg_read(REG_DONES);
            uint64_t tot0[NCNT], tot1[NCNT];
            dut.totals(tot0);
            w = dut.cycles;
            dut.reg_write(REG_CTRL, CTRL_START);  // cycle w
            dut.reg_write(REG_CTRL, CTRL_START);  // w+1: A is taken
            while (dut.cycles < w + d - 1)
                dut.tick();
            uint32_t runs_a = dut.reg_read(REG_RUNS) - runs0;  // w + d - 1
            dut.pulse_start();                                   // w + d: the second's take
            uint32_t runs_b = dut.reg_read(REG_RUNS) - runs0;
            uint32_t dones_b = dut.reg_read(REG_DONES) - dones0;
            uint32_t ctrl = dut.reg_read(REG_CTRL);
            score.check(runs_a == 1 && runs_b == 2 && dones_b == 0 &&
                            (ctrl & (CTRL_START | CTRL_IDLE)) == CTRL_START,
                        "start in the take cycle: RUNS +%u then +%u, DONES +%u, CTRL 0x%x",
                        runs_a, runs_b, dones_b, ctrl);
            ctrl = wait_idle();
            dut.totals(tot1);
            const uint32_t runs = dut.reg_read(REG_RUNS) - runs0;
            const uint32_t dones = dut.reg_read(REG_DONES) - dones0;
            const uint64_t tc = tot1[CNT_CYCLES] - tot0[CNT_CYCLES];
            score.check(runs == 3 && dones == 3 && (ctrl & CTRL_DONE) &&
                            tc < 3 * r0.cycles && tc >= 3 * r0.busy &&
                            tot1[CNT_BUSY] - tot0[CNT_BUSY] == 3 * r0.busy,
                        "start in the take cycle: RUNS +%u DONES +%u (3), TOTAL_CYCLES +%"
                        PRIu64 " (< %" PRIu64 ": overlapped), TOTAL_BUSY +%" PRIu64 " (%"
                        PRIu64 ")", runs, dones, tc, 3 * r0.cycles,
                        tot1[CNT_BUSY] - tot0[CNT_BUSY], 3 * r0.busy);
            score.check(dut.buf_read(3, 0, t.out_bytes) == out0,
                        "start in the take cycle: outputs differ");

            // A full queue refuses a start: four starts in four cycles; the first is taken at
            // once, the second and third are queued (CTRL bit 4: full), the fourth is refused,
            // so STARTS and RUNS count three, and three tiles run.
            runs0 = dut.reg_read(REG_RUNS);
            const uint32_t starts0 = dut.reg_read(REG_STARTS), dones1 = dut.reg_read(REG_DONES);
            dut.reg_write(REG_CTRL, CTRL_START);
            dut.pulse_start();
            dut.reg_write(REG_CTRL, CTRL_START);
            dut.pulse_start();
            ctrl = dut.reg_read(REG_CTRL);
            const uint32_t starts_full = dut.reg_read(REG_STARTS) - starts0;
            uint32_t ctrl_end = wait_idle();
            const uint32_t starts = dut.reg_read(REG_STARTS) - starts0;
            score.check((ctrl & (CTRL_START | CTRL_FULL)) == (CTRL_START | CTRL_FULL) &&
                            starts_full == 3 && starts == 3 &&
                            dut.reg_read(REG_RUNS) - runs0 == 3 &&
                            dut.reg_read(REG_DONES) - dones1 == 3 &&
                            (ctrl_end & (CTRL_DONE | CTRL_FULL)) == CTRL_DONE,
                        "full queue: CTRL 0x%x after four starts, STARTS +%u then +%u, RUNS "
                        "+%u, DONES +%u (3 each), CTRL 0x%x at the end", ctrl, starts_full,
                        starts, dut.reg_read(REG_RUNS) - runs0,
                        dut.reg_read(REG_DONES) - dones1, ctrl_end);
            score.check(dut.buf_read(3, 0, t.out_bytes) == out0, "full queue: outputs differ");
        }
    }

    // ---- random layers ----------------------------------------------------------------
random_layers:
    // ---- the copy port: buffer to buffer, and while a tile runs ------------------------
    if (!only && !only_job)
        test_copy_port(dut, score, rng, budget);

    int made = 0, failed_layers = 0;
    // coverage: how many layers had each feature
    int cov_k[12] = {0}, cov_s[5] = {0}, cov_pool[4] = {0}, cov_act[4] = {0};
    int cov_nonsq = 0, cov_dil = 0, cov_dil_big = 0, cov_asym = 0, cov_groups = 0, cov_dw = 0;
    int cov_multi_cb = 0, cov_multi_ob = 0, cov_partial = 0, cov_zp_edge = 0, cov_ceil = 0;
    uint64_t sim_cycles0 = dut.cycles;
    for (int attempt = 0; made < n_layers && attempt < n_layers * 200; attempt++) {
        Layer L;
        if (!make_layer(rng, budget, L))
            continue;
        made++;
        RunOpts o;
        o.split_strobes = rng.chance(0.1);
        o.clobber_args = rng.chance(0.2);
        o.readback = rng.chance(0.1);
        o.run_pulse = rng.chance(0.3);
        Tile t = tile_of(L);
        if (rng.chance(0.3)) {  // channel blocks further apart than the plane (or exactly)
            uint32_t p = L.d.in_h * L.d.in_w * ROWS + ROWS * (uint32_t)rng.range(0, 50);
            if (act_span(L, t.n_cb, p) <= ACT_BYTES)
                o.cb_pitch = p;
        }
        if (rng.chance(0.5)) {
            // bases: aligned to the word, anywhere the data still fits
            o.act_base = (uint32_t)rng.range(0, (ACT_BYTES - act_span(L, t.n_cb, o.cb_pitch)) /
                                             ROWS) * ROWS;
            o.wgt_base = (uint32_t)rng.range(0, (WGT_BYTES - t.wgt_bytes) / COLS) * COLS;
            o.out_base = (uint32_t)rng.range(0, (OUT_BYTES - t.out_bytes) / COLS) * COLS;
            o.param_base = (uint32_t)rng.range(0, (PARAM_ENTRIES - t.og) * 8) * 4;
        }
        if ((only && made != only) || only_job)
            continue;
        {
            const cbr_layer_desc &d = L.d;
            cov_k[d.kh]++;
            if (d.kw != d.kh)
                cov_k[d.kw]++;
            cov_s[d.stride_h]++;
            cov_pool[d.pool.kind]++;
            cov_act[d.act]++;
            cov_nonsq += d.kh != d.kw;
            cov_dil += d.dilation_h > 1 || d.dilation_w > 1;
            cov_dil_big += d.dilation_h > 8;
            cov_asym += d.pad_top != d.pad_bottom || d.pad_left != d.pad_right;
            cov_groups += d.groups > 1;
            cov_dw += d.groups > 1 && d.groups == d.in_c;
            cov_multi_cb += t.n_cb > 1;
            cov_multi_ob += t.n_ob > 1;
            cov_partial += t.cg % ROWS != 0 || t.og % COLS != 0;
            cov_zp_edge += d.input_zp == -128 || d.input_zp == 127 || d.output_zp == -128 ||
                           d.output_zp == 127;
            cov_ceil += d.pool.ceil_mode;
        }
        if (!run_layer(dut, score, L, o)) {
            failed_layers++;
            fprintf(stderr, "FAILED layer %d: %s\n", made, L.name.c_str());
            if (L.d.pool.kind != CBR_POOL_NONE) {
                // Diagnosis: the same layer without pooling (not counted).
                Layer U = L;
                U.d.pool = cbr_pool{};
                cbr_pool_out_size(&U.d.pool, U.oh, U.ow, &U.ph, &U.pw);
                tb::Score diag("diagnosis");
                bool ok = run_layer(dut, diag, U, o);
                fprintf(stderr, "  the same layer without pooling %s\n",
                        ok ? "passes: the pooling is wrong" : "fails too");
            }
        }
    }
    printf("%d random layers, %d failed, %" PRIu64 " simulated cycles\n", made, failed_layers,
           dut.cycles - sim_cycles0);

    // ---- random depthwise-mode layers ---------------------------------------------------------
    if (DW_OK && !only_job) {
        int dmade = 0, dfailed = 0, dk[12] = {0}, ds[5] = {0}, dpool[4] = {0}, dasym = 0;
        int dmulti = 0, dpitch = 0;
        const int n_dw = only ? 0 : n_layers / 2;
        uint64_t c0 = dut.cycles;
        for (int attempt = 0; dmade < n_dw && attempt < n_dw * 200; attempt++) {
            Layer L;
            LayerOpts lo;
            lo.dw = true;
            if (!make_layer(rng, budget, L, lo))
                continue;
            dmade++;
            RunOpts o;
            o.split_strobes = rng.chance(0.1);
            o.clobber_args = rng.chance(0.2);
            o.readback = rng.chance(0.1);
            o.run_pulse = rng.chance(0.3);
            Tile t = tile_of(L);
            if (rng.chance(0.3)) {
                uint32_t p = (uint32_t)dw_plane(L) + ROWS * (uint32_t)rng.range(0, 50);
                if (act_span(L, t.n_cb, p) <= DW_BANK)
                    o.cb_pitch = p;
            }
            if (rng.chance(0.5)) {
                o.act_base = (uint32_t)rng.range(0, (DW_BANK - act_span(L, t.n_cb, o.cb_pitch)) /
                                                 ROWS) * ROWS;
                o.wgt_base = (uint32_t)rng.range(0, (WGT_BYTES - t.wgt_bytes) / COLS) * COLS;
                o.out_base = (uint32_t)rng.range(0, (OUT_BYTES - t.out_bytes) / COLS) * COLS;
                o.param_base = (uint32_t)rng.range(0, (PARAM_ENTRIES - t.og) * 8) * 4;
            }
            const cbr_layer_desc &d = L.d;
            dk[d.kh]++;
            if (d.kw != d.kh)
                dk[d.kw]++;
            ds[d.stride_h]++;
            dpool[d.pool.kind]++;
            dasym += d.pad_top != d.pad_bottom || d.pad_left != d.pad_right;
            dmulti += t.n_ob > 1;
            dpitch += o.cb_pitch != 0;
            if (!run_layer(dut, score, L, o)) {
                dfailed++;
                fprintf(stderr, "FAILED depthwise layer %d: %s\n", dmade, L.name.c_str());
            }
        }
        printf("%d random depthwise-mode layers, %d failed, %" PRIu64 " simulated cycles\n",
               dmade, dfailed, dut.cycles - c0);
        printf("depthwise coverage: kernel sides 1..11:");
        for (int k = 1; k <= 11; k++)
            printf(" %d", dk[k]);
        printf("; stride_h 1..4: %d %d %d %d; pool none/max/avg/gavg %d/%d/%d/%d; asymmetric "
               "pad %d; several blocks %d; pitch %d\n", ds[1], ds[2], ds[3], ds[4], dpool[0],
               dpool[1], dpool[2], dpool[3], dasym, dmulti, dpitch);
    }
    printf("coverage: kernel sides 1..11:");
    for (int k = 1; k <= 11; k++)
        printf(" %d", cov_k[k]);
    printf("; non-square %d; stride_h 1..4:", cov_nonsq);
    for (int k = 1; k <= 4; k++)
        printf(" %d", cov_s[k]);
    printf("; dilated %d (> 8: %d); asymmetric pad %d\n", cov_dil, cov_dil_big, cov_asym);
    printf("coverage: pool none/max/avg/gavg %d/%d/%d/%d (ceil %d); act none/relu/relu6/leaky "
           "%d/%d/%d/%d; groups %d (depthwise %d); several cb %d, ob %d; partial blocks %d; "
           "zero point at -128/127 %d\n", cov_pool[0], cov_pool[1], cov_pool[2], cov_pool[3],
           cov_ceil, cov_act[0], cov_act[1], cov_act[2], cov_act[3], cov_groups, cov_dw,
           cov_multi_cb, cov_multi_ob, cov_partial, cov_zp_edge);
    score.check(made == n_layers, "only %d of %d random layers could be made", made, n_layers);

    // ---- planner jobs -------------------------------------------------------------------
    // Each job has its own generator, seeded from this one, so --only-job K replays job K.
    tb::Rng jrng(seed ^ 0x6A6F6273ull);
    int jobs = 0, failed_jobs = 0, job_runs = 0;
    int cov_chain[5] = {0}, cov_sub = 0, cov_q = 0, cov_q2 = 0, cov_pitch = 0, cov_jpool = 0;
    int cov_ob2 = 0;
    QueueStats jq;
    sim_cycles0 = dut.cycles;
    for (int attempt = 0; jobs < n_jobs && attempt < n_jobs * 200; attempt++) {
        tb::Rng r(jrng.next());
        if (only)
            break;
        Layer L;
        LayerOpts lo;
        lo.dense = true;
        lo.no_pool = r.chance(0.5);  // row-subtiles are made only without pooling
        lo.cg_min = 1;
        lo.cg_max = 5 * ROWS;
        lo.og_max = 4 * COLS;
        if (!make_layer(r, budget, L, lo))
            continue;
        JobInfo ji;
        bool ran = false;
        tb::Rng rd = r;
        run_job(dut, score, rd, L, JobSpec{}, jq, ji, &ran, true);
        if (!ran)
            continue;
        jobs++;
        if (only_job && jobs != only_job)
            continue;
        bool ok = run_job(dut, score, r, L, JobSpec{}, jq, ji, &ran);
        job_runs += ji.runs;
        cov_chain[ji.chain]++;
        cov_sub += ji.subtiles > 1;
        cov_q += ji.queued == 1;
        cov_q2 += ji.queued == 2;
        cov_pitch += ji.pitch;
        cov_jpool += ji.pooled;
        cov_ob2 += ji.chain > 1 && ji.ob_group == 2;
        if (!ok) {
            failed_jobs++;
            fprintf(stderr, "FAILED job %d (--only-job %d): %s\n", jobs, jobs, L.name.c_str());
        }
    }
    printf("%d planner jobs (%d RUNs), %d failed, %" PRIu64 " simulated cycles\n", jobs,
           job_runs, failed_jobs, dut.cycles - sim_cycles0);
    printf("coverage: chains of 1/2/3/4 RUNs %d/%d/%d/%d (2 output blocks per RUN %d); "
           "row-subtiles %d; queued %d, two queued %d; pitch > plane %d; pooled %d; gaps after "
           "a tile with outputs %" PRIu64 "..%" PRIu64 ", after ACC_KEEP %" PRIu64 "..%" PRIu64
           "\n",
           cov_chain[1], cov_chain[2], cov_chain[3], cov_chain[4], cov_ob2, cov_sub, cov_q,
           cov_q2, cov_pitch, cov_jpool, jq.gap_n[0] ? jq.gap_min[0] : 0, jq.gap_max[0],
           jq.gap_n[1] ? jq.gap_min[1] : 0, jq.gap_max[1]);
    if (!only && !only_job)
        score.check(jobs == n_jobs, "only %d of %d planner jobs could be made", jobs, n_jobs);
    return score.finish();
}
