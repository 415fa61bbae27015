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
// overwritten while a tile runs (the run copy), and RESET in the middle of a tile.
//
//   Vtb [--seed N] [--layers N] [--budget CYCLES] [--util-only]
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
#include <memory>
#include <string>
#include <vector>

#ifndef ROWS
#define ROWS 16
#endif
#ifndef COLS
#define COLS 16
#endif
#ifndef ACT_BYTES
#define ACT_BYTES 65536
#endif
#ifndef WGT_BYTES
#define WGT_BYTES 65536
#endif
#ifndef PARAM_ENTRIES
#define PARAM_ENTRIES 512
#endif
#ifndef OUT_BYTES
#define OUT_BYTES 65536
#endif
#ifndef ACC_PIXELS
#define ACC_PIXELS 1024
#endif

enum {
    REG_CTRL = 0x00, REG_IN_H = 0x10, REG_OUT_C = 0x70, REG_RUNS = 0x74, REG_COUNTERS = 0x80,
};
enum { CTRL_START = 1, CTRL_DONE = 2, CTRL_IDLE = 4, CTRL_READY = 8 };

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
        m->buf_id = id;
        m->buf_addr = addr;
        m->buf_wdata = v;
        m->buf_wstrb = strb;
        tick();
        m->buf_we = 0;
    }
    uint32_t buf_read_word(int id, uint32_t addr) {
        m->buf_re = 1;
        m->buf_id = id;
        m->buf_addr = addr;
        tick();
        m->buf_re = 0;
        return m->buf_rdata;
    }
    // bytes at a word-aligned offset; split_strobes writes each word as two half-word writes
    void buf_write(int id, uint32_t off, const std::vector<uint8_t> &b, bool split_strobes) {
        for (size_t i = 0; i < b.size(); i += 4) {
            uint32_t v = 0;
            for (int k = 0; k < 4 && i + k < b.size(); k++)
                v |= (uint32_t)b[i + k] << (8 * k);
            if (split_strobes) {
                buf_write_word(id, off + (uint32_t)i, v, 0x3);
                buf_write_word(id, off + (uint32_t)i, v ^ 0x0000FFFFu, 0xC); // low half kept
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
};

// ---- a random layer ----------------------------------------------------------------------
struct Layer {
    cbr_layer_desc d{};
    std::vector<int8_t> w, x;
    std::vector<int32_t> bias, m0, sh, nm0, nsh;
    uint32_t oh = 0, ow = 0, ph = 0, pw = 0;
    int32_t act_min = 0, act_max = 0;
    std::string name;
};

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

struct Tile {  // per-group geometry on this array
    uint32_t cg, og, n_cb, n_ob;
    size_t act_bytes, wgt_bytes, out_bytes;
};

static Tile tile_of(const Layer &L) {
    Tile t;
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

static bool make_layer(tb::Rng &r, uint64_t budget, Layer &L) {
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
    if (r.chance(0.12)) {
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
    d.pool.kind = (cbr_pool_kind)r.range(0, 3);
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
    if (t.act_bytes > ACT_BYTES || t.wgt_bytes > WGT_BYTES || t.og > PARAM_ENTRIES ||
        t.out_bytes > OUT_BYTES)
        return false;
    if (estimate(L) * d.groups > budget)
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
             "act %d clamp %d pool %d k%ux%u s%ux%u p%u,%u%s -> %ux%u/%ux%u",
             d.in_c, d.out_c, d.groups, d.in_h, d.in_w, d.kh, d.kw, d.stride_h, d.stride_w,
             d.dilation_h, d.dilation_w, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right,
             d.input_zp, d.output_zp, (int)d.act, (int)d.has_clamp, (int)d.pool.kind,
             d.pool.kh, d.pool.kw, d.pool.stride_h, d.pool.stride_w, d.pool.pad_top,
             d.pool.pad_left, d.pool.ceil_mode ? " ceil" : "", L.oh, L.ow, L.ph, L.pw);
    L.name = buf;
    return true;
}

// A dense layer with fixed geometry (for the utilization figure).
static void make_fixed(tb::Rng &r, Layer &L, uint32_t C, uint32_t O, uint32_t H, uint32_t W,
                       uint32_t k, uint32_t pad) {
    cbr_layer_desc &d = L.d;
    d = cbr_layer_desc{};
    d.in_c = C;
    d.out_c = O;
    d.in_h = H;
    d.in_w = W;
    d.kh = d.kw = k;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = pad;
    d.input_zp = -3;
    d.output_zp = 5;
    d.act = CBR_ACT_RELU;
    cbr_layer_normalize(&d);
    cbr_conv_out_size(&d, &L.oh, &L.ow);
    cbr_pool_out_size(&d.pool, L.oh, L.ow, &L.ph, &L.pw);
    L.w.resize((size_t)O * C * k * k);
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
    snprintf(buf, sizeof buf, "fixed %ux%u %u->%u in %ux%u pad %u", k, k, C, O, H, W, pad);
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
    uint32_t act_base = 0, wgt_base = 0, out_base = 0, param_base = 0;
};

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

    // activations: channel-blocked NHWC, zero past the group's channels
    std::vector<uint8_t> act(t.act_bytes, 0);
    const size_t plane = (size_t)d.in_h * d.in_w;
    for (uint32_t c = 0; c < t.cg; c++)
        for (size_t px = 0; px < plane; px++)
            act[((size_t)(c / R) * plane + px) * R + c % R] =
                (uint8_t)L.x[(size_t)(g * t.cg + c) * plane + px];
    // weights and parameters
    std::vector<uint8_t> wgt(t.wgt_bytes, 0), par((size_t)t.og * 32, 0);
    for (uint32_t oo = 0; oo < t.og; oo++) {
        uint32_t oc = g * t.og + oo, ob = oo / C, j = oo % C;
        for (uint32_t c = 0; c < t.cg; c++) {
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
    dut.buf_write(0, o.act_base, act, o.split_strobes);
    dut.buf_write(1, o.wgt_base, wgt, false);
    dut.buf_write(2, o.param_base, par, false);
    if (o.readback) {
        std::vector<uint8_t> back = dut.buf_read(1, o.wgt_base, wgt.size());
        score.check(back == wgt, "%s: weight buffer read back differs", L.name.c_str());
        back = dut.buf_read(0, o.act_base, act.size());
        score.check(back == act, "%s: activation buffer read back differs", L.name.c_str());
    }

    // registers, as host/lib/accel.c's tile_regs()
    const cbr_pool &pl = d.pool;
    uint32_t mode = (d.act == CBR_ACT_LEAKY ? 1u : 0u) | (uint32_t)pl.kind << 4;
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
    for (int i = 0; i < nregs; i++)
        dut.reg_write(REG_IN_H + 4 * i, regs[i]);
    bool rb_ok = true;
    for (int i = 0; i < nregs; i++)
        rb_ok &= dut.reg_read(REG_IN_H + 4 * i) == regs[i];
    score.check(rb_ok, "%s: registers do not read back", L.name.c_str());

    uint32_t ctrl = dut.reg_read(REG_CTRL);
    score.check((ctrl & (CTRL_IDLE | CTRL_START)) == CTRL_IDLE,
                "%s: CTRL = 0x%x before start, expected idle", L.name.c_str(), ctrl);
    const uint32_t runs_before = dut.reg_read(REG_RUNS);
    dut.reg_write(REG_CTRL, CTRL_START);
    if (o.clobber_args) {
        for (int i = 0; i < nregs; i++)
            dut.reg_write(REG_IN_H + 4 * i, (uint32_t)(0x5A5A5A5Au * (i + 1)));
    }
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
        dut.m->core_reset = 1;
        dut.tick();
        dut.m->core_reset = 0;
        dut.tick();
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

    std::vector<uint8_t> out = dut.buf_read(3, o.out_base, t.out_bytes);
    const size_t oplane = (size_t)L.ph * L.pw;
    res.out.resize((size_t)t.og * oplane);
    for (uint32_t oo = 0; oo < t.og; oo++)
        for (size_t px = 0; px < oplane; px++)
            res.out[oo * oplane + px] = (int8_t)out[((size_t)(oo / C) * oplane + px) * C + oo % C];

    // counters
    uint64_t beats = (uint64_t)t.n_ob * t.n_cb * d.kh * d.kw * L.oh * L.ow;
    uint64_t macs = (uint64_t)L.oh * L.ow * t.og * t.cg * d.kh * d.kw;
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
    for (uint32_t g = 0; g < d.groups; g++) {
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

int main(int argc, char **argv) {
    const uint64_t seed = tb::seed_from_args(argc, argv);
    int n_layers = 200;
    uint64_t budget = 30000;
    bool util_only = false;
    int only = 0;  // run only the random layer of this number (1-based), for replays
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            n_layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = strtoull(argv[++i], nullptr, 0);
        else if (!strcmp(argv[i], "--util-only"))
            util_only = true;
    }
    printf("tb_core ROWS=%d COLS=%d ACC_PIXELS=%d seed=%" PRIu64 " layers=%d budget=%" PRIu64
           "\n", ROWS, COLS, ACC_PIXELS, seed, n_layers, budget);
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
        bool ok = only ? true : run_layer(dut, score, L, RunOpts{}, &r);
        double util = r.cycles ? (double)r.macs / ((double)ROWS * COLS * (double)r.cycles) : 0;
        printf("utilization %s on %dx%d: %" PRIu64 " MACs in %" PRIu64 " cycles = %.2f%% "
               "(busy %" PRIu64 ", stall in %" PRIu64 ", stall out %" PRIu64 ")%s\n",
               L.name.c_str(), ROWS, COLS, r.macs, r.cycles, 100 * util, r.busy, r.stall_in,
               r.stall_out, ok ? "" : " [MISMATCH]");
        if (ROWS == 16 && COLS == 16 && !only)
            score.check(util >= 0.90, "utilization %.2f%% of the 3x3 64->64 16x16 layer is "
                        "below 90%%", 100 * util);
    }
    if (util_only)
        return score.finish();

    // ---- RESET in the middle of a tile, then a tile that must be exact ------------------
    {
        Layer L;
        make_fixed(rng, L, 2 * ROWS, 2 * COLS, 10, 10, 3, 1);
        RunOpts o;
        if (only)
            goto random_layers;
        // start the previous tile again, reset after a while, check idle
        dut.reg_write(REG_CTRL, CTRL_START);
        for (int i = 0; i < 300; i++)
            dut.tick();
        dut.m->core_reset = 1;
        dut.tick();
        dut.m->core_reset = 0;
        dut.tick();
        uint32_t ctrl = dut.reg_read(REG_CTRL);
        score.check(ctrl == (CTRL_IDLE | CTRL_READY), "CTRL = 0x%x after RESET mid-tile", ctrl);
        run_layer(dut, score, L, o);
    }

    // ---- random layers ----------------------------------------------------------------
random_layers:
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
        Tile t = tile_of(L);
        if (rng.chance(0.5)) {
            // bases: aligned to the word, anywhere the data still fits
            o.act_base = (uint32_t)rng.range(0, (ACT_BYTES - t.act_bytes) / ROWS) * ROWS;
            o.wgt_base = (uint32_t)rng.range(0, (WGT_BYTES - t.wgt_bytes) / COLS) * COLS;
            o.out_base = (uint32_t)rng.range(0, (OUT_BYTES - t.out_bytes) / COLS) * COLS;
            o.param_base = (uint32_t)rng.range(0, (PARAM_ENTRIES - t.og) * 8) * 4;
        }
        if (only && made != only)
            continue;
        {
            const cbr_layer_desc &d = L.d;
            Tile t = tile_of(L);
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
    (void)only;
    return score.finish();
}
