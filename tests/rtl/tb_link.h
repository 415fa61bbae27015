// tb_link.h - what the board-shell benches (tb_fx3.cpp, tb_xdma.cpp) share: the host's side
// of a link to a shell top (cbr_fx3_top, cbr_xdma_top) built around cbr_top, and the tests
// run over it.
//
// A bench derives from Link and models the link's far end cycle by cycle (the FX3 and the
// USB host, or the XDMA IP and its DMA engine). The host sees byte transfers: send() queues
// one transfer (a bulk OUT transfer, an H2C write), and bytes arrive in d2h as the model
// hands them over (bulk IN packets, C2H reads). Requests are built with the host's encoder
// (host/lib/proto.c) and responses parsed with its reader; expected values come from the
// requests themselves and from cbr_top's INFO parameters, and a whole layer runs through
// libcbr's real protocol client (cbr_device_open_transport) over a transport that clocks
// the model, checked byte for byte against the cpu device (the golden model).
#ifndef CBR_TB_LINK_H
#define CBR_TB_LINK_H

#include "tb_common.h"

#include <deque>
#include <vector>

extern "C" {
#include "cbr.h"
#include "proto.h"
#include "transport.h"
int cbr_device_open_transport(cbr_device **dev, struct cbr_transport *tr, const char *uri);
}

namespace tb {

struct Link {
    Rng &rng;
    Score &sc;
    uint64_t cycles = 0;
    std::deque<std::vector<uint8_t>> h2d; // transfers the host queued, not yet taken
    std::vector<uint8_t> d2h;             // bytes that reached the host, not yet read
    uint64_t bytes_out = 0, bytes_in = 0;
    bool broken = false;                  // a protocol violation was seen: stop early

    Link(Rng &r, Score &s) : rng(r), sc(s) {}
    virtual ~Link() {}
    // One clock cycle of the shell and the model of its far end.
    virtual void cycle() = 0;
    // Change the far end's behaviour (back-pressure, rates) at random, between tests.
    virtual void shuffle() = 0;
    virtual const char *name() const = 0;

    void send(const uint8_t *b, size_t n) {
        h2d.emplace_back(b, b + n);
        bytes_out += n;
    }
    void run(uint64_t n) {
        for (uint64_t i = 0; i < n && !broken; i++)
            cycle();
    }
};

inline void put32le(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
inline uint32_t get32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct Resp {
    cbr_pkt p;
    std::vector<uint8_t> pl;
};

// Host side: encode requests, clock the link, read responses.
struct Host {
    Link &l;
    cbr_reader rd;
    uint32_t seq = 1000;
    uint64_t max_wait;  // cycles a response may take at most (generous: back-pressure)

    explicit Host(Link &lk, uint64_t wait = 400000) : l(lk), max_wait(wait) {
        if (cbr_reader_init(&rd, 65536) < 0)
            abort();
    }
    ~Host() { cbr_reader_free(&rd); }

    std::vector<uint8_t> encode(uint8_t op, uint32_t a0, uint32_t a1, uint32_t a2,
                                const std::vector<uint8_t> &pl, uint32_t *seq_out) {
        cbr_pkt p = {};
        p.opcode = op;
        p.seq = ++seq;
        p.arg0 = a0;
        p.arg1 = a1;
        p.arg2 = a2;
        p.len = (uint32_t)pl.size();
        std::vector<uint8_t> w(cbr_pkt_wire_size(p.len));
        cbr_pkt_encode(&p, pl.data(), w.data());
        if (seq_out)
            *seq_out = p.seq;
        return w;
    }

    // Waits for the next good packet; false when max_wait cycles pass without one.
    bool next(Resp &r, uint64_t wait = 0) {
        uint64_t end = l.cycles + (wait ? wait : max_wait);
        for (;;) {
            const uint8_t *pl;
            enum cbr_read_result res = cbr_reader_next(&rd, &r.p, &pl);
            if (res == CBR_READ_PACKET) {
                r.pl.assign(pl, pl + r.p.len);
                return true;
            }
            if (res != CBR_READ_NEED_MORE) {
                l.sc.check(false, "%s: the host read a damaged packet (reader result %d)",
                           l.name(), (int)res);
                continue;
            }
            if (!l.d2h.empty()) {
                size_t took = cbr_reader_feed(&rd, l.d2h.data(), l.d2h.size());
                l.d2h.erase(l.d2h.begin(), l.d2h.begin() + (long)took);
                continue;
            }
            if (l.cycles >= end || l.broken)
                return false;
            l.cycle();
        }
    }

    // One request, its one response: checks the header fields and returns the response.
    bool call(uint8_t op, uint32_t a0, uint32_t a1, uint32_t a2, const std::vector<uint8_t> &pl,
              Resp &r, uint8_t want_status = CBR_ST_OK) {
        uint32_t s;
        std::vector<uint8_t> w = encode(op, a0, a1, a2, pl, &s);
        l.send(w.data(), w.size());
        uint64_t t0 = l.cycles;
        if (!l.sc.check(next(r), "%s: no response to %s seq %u within %" PRIu64 " cycles",
                        l.name(), cbr_op_name(op), s, max_wait))
            return false;
        return l.sc.check(r.p.seq == s && r.p.opcode == op && r.p.flags == 1 &&
                              r.p.status == want_status,
                          "%s: %s seq %u answered seq %u op %s flags %u status %s (want %s) "
                          "after %" PRIu64 " cycles",
                          l.name(), cbr_op_name(op), s, r.p.seq, cbr_op_name(r.p.opcode),
                          r.p.flags, cbr_status_name(r.p.status), cbr_status_name(want_status),
                          l.cycles - t0);
    }

    // No packet may arrive within n cycles.
    void expect_silence(uint64_t n, const char *why) {
        Resp r;
        bool got = next(r, n);
        l.sc.check(!got, "%s: unexpected response (op %s seq %u status %s) %s", l.name(),
                   cbr_op_name(r.p.opcode), r.p.seq, cbr_status_name(r.p.status), why);
    }
};

// cbr_top's build parameters as INFO reports them (rtl/cbr_top.v).
struct TopInfo {
    uint32_t rows, cols;
};

inline std::vector<uint8_t> rand_bytes(Rng &rng, size_t n) {
    std::vector<uint8_t> v(n);
    for (auto &b : v)
        b = (uint8_t)rng.u32();
    return v;
}

inline void test_info(Host &h, const TopInfo &ti) {
    Resp r;
    if (!h.call(CBR_OP_INFO, 0, 0, 0, {}, r))
        return;
    if (!h.l.sc.check(r.pl.size() == 64, "%s: INFO returned %zu bytes", h.l.name(), r.pl.size()))
        return;
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = get32le(&r.pl[4 * i]);
    h.l.sc.check(w[0] == 1 && w[1] == ti.rows && w[2] == ti.cols && w[3] >= 4096 &&
                     w[4] >= 4096 && w[5] >= 4096 && w[7] >= 64 && w[7] % 4 == 0,
                 "%s: INFO words: version %u array %ux%u (want %ux%u) buffers %u/%u/%u "
                 "max payload %u",
                 h.l.name(), w[0], w[1], w[2], ti.rows, ti.cols, w[3], w[4], w[5], w[7]);
}

// NOP echoes of random lengths, some sent back to back in one transfer.
inline void test_nop(Host &h, int n) {
    for (int i = 0; i < n && !h.l.broken; i++) {
        size_t len = h.l.rng.chance(0.2) ? (size_t)h.l.rng.range(0, 8)
                                          : (size_t)h.l.rng.range(0, 3000);
        std::vector<uint8_t> pl = rand_bytes(h.l.rng, len);
        Resp r;
        if (h.call(CBR_OP_NOP, 0, 0, 0, pl, r))
            h.l.sc.check(r.pl == pl, "%s: NOP echo of %zu bytes differs", h.l.name(), len);
    }
}

// Several requests in one transfer, responses in order.
inline void test_pipelined(Host &h, int batches) {
    for (int b = 0; b < batches && !h.l.broken; b++) {
        int k = (int)h.l.rng.range(2, 12);
        std::vector<uint8_t> all;
        std::vector<uint32_t> seqs;
        std::vector<std::vector<uint8_t>> pls;
        for (int i = 0; i < k; i++) {
            std::vector<uint8_t> pl = rand_bytes(h.l.rng, (size_t)h.l.rng.range(0, 400));
            uint32_t s;
            std::vector<uint8_t> w = h.encode(CBR_OP_NOP, 0, 0, 0, pl, &s);
            all.insert(all.end(), w.begin(), w.end());
            seqs.push_back(s);
            pls.push_back(pl);
        }
        // split into random transfers
        size_t at = 0;
        while (at < all.size()) {
            size_t n = std::min(all.size() - at, (size_t)h.l.rng.range(1, 2000) * 4);
            h.l.send(all.data() + at, n);
            at += n;
        }
        for (int i = 0; i < k; i++) {
            Resp r;
            if (!h.l.sc.check(h.next(r), "%s: batch %d: response %d of %d missing", h.l.name(),
                              b, i, k))
                return;
            h.l.sc.check(r.p.seq == seqs[i] && r.pl == pls[i] && r.p.status == 0,
                         "%s: batch %d: response %d seq %u (want %u), %u bytes", h.l.name(), b,
                         i, r.p.seq, seqs[i], r.p.len);
        }
    }
}

// BUF_WRITE then BUF_READ of random ranges of the activation, weight and output buffers.
inline void test_buffers(Host &h, int n, uint32_t max_payload) {
    static const uint32_t ids[3] = {0, 1, 3};
    for (int i = 0; i < n && !h.l.broken; i++) {
        uint32_t id = ids[h.l.rng.range(0, 2)];
        uint32_t len = (uint32_t)h.l.rng.range(1, max_payload < 4096 ? max_payload : 4096);
        uint32_t off = (uint32_t)h.l.rng.range(0, 4095) * 4;
        std::vector<uint8_t> data = rand_bytes(h.l.rng, len);
        Resp r;
        if (!h.call(CBR_OP_BUF_WRITE, id, off, 0, data, r))
            continue;
        if (!h.call(CBR_OP_BUF_READ, id, off, len, {}, r))
            continue;
        h.l.sc.check(r.pl == data, "%s: buffer %u at %u: %u bytes read back differ", h.l.name(),
                     id, off, len);
    }
}

// Garbage, a bad header CRC, a bad payload CRC and a bad address between good requests:
// no answer to the garbage and the bad header, BAD_CRC / BAD_ADDRESS to the others, and
// the next good request is answered.
inline void test_bad(Host &h, int n) {
    for (int i = 0; i < n && !h.l.broken; i++) {
        std::vector<uint8_t> g = rand_bytes(h.l.rng, (size_t)h.l.rng.range(1, 64) * 4);
        h.l.send(g.data(), g.size());
        uint32_t s;
        std::vector<uint8_t> w = h.encode(CBR_OP_NOP, 0, 0, 0, rand_bytes(h.l.rng, 40), &s);
        w[h.l.rng.range(8, 27)] ^= (uint8_t)(1u << h.l.rng.range(0, 7)); // header: no answer
        h.l.send(w.data(), w.size());
        h.expect_silence(3000, "to garbage or a header with a bad CRC");
        w = h.encode(CBR_OP_NOP, 0, 0, 0, rand_bytes(h.l.rng, 40), &s);
        w[h.l.rng.range(32, (long)w.size() - 1)] ^= (uint8_t)(1u << h.l.rng.range(0, 7));
        h.l.send(w.data(), w.size());
        Resp r;
        if (h.l.sc.check(h.next(r), "%s: no answer to a payload with a bad CRC", h.l.name()))
            h.l.sc.check(r.p.seq == s && r.p.status == CBR_ST_BAD_CRC,
                         "%s: bad payload CRC answered seq %u status %s", h.l.name(), r.p.seq,
                         cbr_status_name(r.p.status));
        h.call(CBR_OP_BUF_READ, 7, 0, 4, {}, r, CBR_ST_BAD_ADDRESS);
        h.call(CBR_OP_NOP, 0, 0, 0, {1, 2, 3, 4, 5}, r);
    }
}

// ---- libcbr over the link ------------------------------------------------------------------

struct LinkTransport {
    cbr_transport tr;
    Link *l;
};

inline Link *link_of(cbr_transport *t) { return ((LinkTransport *)t->priv)->l; }

extern "C" {
inline int lt_send(cbr_transport *t, const void *buf, size_t n, int timeout_ms, char *err,
                   size_t errlen) {
    (void)timeout_ms;
    Link *l = link_of(t);
    if (l->broken) {
        snprintf(err, errlen, "%s: the link broke", l->name());
        return CBR_EIO;
    }
    l->send((const uint8_t *)buf, n);
    return 0;
}
inline int lt_recv(cbr_transport *t, void *buf, size_t cap, size_t *got, int timeout_ms,
                   char *err, size_t errlen) {
    (void)timeout_ms;
    Link *l = link_of(t);
    *got = 0;
    for (int i = 0; i < 20000 && l->d2h.empty() && !l->broken; i++)
        l->cycle();
    if (l->broken) {
        snprintf(err, errlen, "%s: the link broke", l->name());
        return CBR_EIO;
    }
    size_t n = std::min(cap, l->d2h.size());
    memcpy(buf, l->d2h.data(), n);
    l->d2h.erase(l->d2h.begin(), l->d2h.begin() + (long)n);
    l->bytes_in += n;
    *got = n;
    return 0;
}
inline void lt_stats(cbr_transport *t, cbr_link_stats *s) {
    Link *l = link_of(t);
    memset(s, 0, sizeof *s);
    s->cycles = l->cycles;
    s->bytes_out = l->bytes_out;
    s->bytes_in = l->bytes_in;
}
inline void lt_idle(cbr_transport *t, uint64_t n) { link_of(t)->run(n); }
inline void lt_close(cbr_transport *t) { (void)t; }
}

static const cbr_transport_ops lt_ops = {"tb-link", lt_send, lt_recv, lt_stats, lt_idle,
                                         lt_close};

// Random small layers through libcbr's board driver over the link, against the cpu device.
inline void test_layers(Link &l, int n) {
    LinkTransport lt;
    lt.l = &l;
    lt.tr.ops = &lt_ops;
    lt.tr.priv = &lt;
    cbr_device *dev = nullptr, *cpu = nullptr;
    if (!l.sc.check(cbr_device_open_transport(&dev, &lt.tr, l.name()) == 0,
                    "%s: cbr_device_open_transport: %s", l.name(), cbr_errmsg(nullptr)))
        return;
    if (cbr_device_open(&cpu, "cpu") < 0)
        abort();
    for (int i = 0; i < n && !l.broken; i++) {
        Rng &g = l.rng;
        cbr_layer_desc d = {};
        d.in_c = (uint32_t)g.range(1, 9);
        d.in_h = (uint32_t)g.range(3, 10);
        d.in_w = (uint32_t)g.range(3, 10);
        d.out_c = (uint32_t)g.range(1, 9);
        d.kh = d.kw = (uint32_t)g.range(1, 3);
        d.stride_h = d.stride_w = (uint32_t)g.range(1, 2);
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = d.kh / 2;
        d.input_zp = (int32_t)g.range(-5, 5);
        d.output_zp = (int32_t)g.range(-10, 10);
        d.act = g.chance(0.5) ? CBR_ACT_RELU : CBR_ACT_NONE;
        if (g.chance(0.3)) {
            d.pool.kind = CBR_POOL_MAX;
            d.pool.kh = d.pool.kw = 2;
        }
        size_t nw = (size_t)d.out_c * d.in_c * d.kh * d.kw;
        std::vector<int8_t> w(nw), x((size_t)d.in_c * d.in_h * d.in_w);
        std::vector<int32_t> bias(d.out_c), m(d.out_c), s(d.out_c);
        for (auto &v : w)
            v = (int8_t)g.range(-127, 127);
        for (auto &v : x)
            v = (int8_t)g.range(-128, 127);
        for (uint32_t o = 0; o < d.out_c; o++) {
            bias[o] = (int32_t)g.range(-2000, 2000);
            m[o] = (int32_t)g.range(1 << 30, 0x7FFFFFFF);
            s[o] = (int32_t)g.range(-9, -4);
        }
        d.weights = w.data();
        d.bias = bias.data();
        d.multiplier = m.data();
        d.shift = s.data();
        cbr_layer *ld = nullptr, *lc = nullptr;
        if (!l.sc.check(cbr_layer_create(dev, &d, &ld) == 0 && cbr_layer_create(cpu, &d, &lc) == 0,
                        "%s: layer %d: create: %s", l.name(), i, cbr_errmsg(dev)))
            break;
        cbr_shape sh;
        cbr_layer_output_shape(ld, 1, &sh);
        std::vector<int8_t> yd((size_t)sh.c * sh.h * sh.w, 0x55), yc(yd.size(), 0x11);
        cbr_stats st;
        uint64_t c0 = l.cycles;
        int rc = cbr_layer_run(ld, 1, x.data(), yd.data(), &st);
        l.sc.check(rc == 0, "%s: layer %d (%ux%ux%u -> %u, k%u s%u): run: %s", l.name(), i,
                   d.in_c, d.in_h, d.in_w, d.out_c, d.kh, d.stride_h, cbr_errmsg(dev));
        if (cbr_layer_run(lc, 1, x.data(), yc.data(), &st) < 0)
            abort();
        if (rc == 0)
            l.sc.check(yd == yc, "%s: layer %d (%ux%ux%u -> %u, k%u s%u): output differs from "
                       "the cpu device", l.name(), i, d.in_c, d.in_h, d.in_w, d.out_c, d.kh,
                       d.stride_h);
        printf("%s: layer %d: %ux%ux%u -> %u k%u s%u%s: %" PRIu64 " cycles\n", l.name(), i,
               d.in_c, d.in_h, d.in_w, d.out_c, d.kh, d.stride_h,
               d.pool.kind ? " maxpool" : "", l.cycles - c0);
        cbr_layer_destroy(ld);
        cbr_layer_destroy(lc);
    }
    cbr_device_close(dev);
    cbr_device_close(cpu);
}

// The whole suite; returns the exit status.
inline void run_link_tests(Link &l, const TopInfo &ti, bool quick) {
    Host h(l);
    const int k = quick ? 1 : 2;
    for (int round = 0; round < 3 * k && !l.broken; round++) {
        l.shuffle();
        test_info(h, ti);
        test_nop(h, 15);
        test_pipelined(h, 4);
        test_buffers(h, 10, 16384);
        test_bad(h, 3);
    }
    printf("%s: protocol tests done at cycle %" PRIu64 "\n", l.name(), l.cycles);
    fflush(stdout);
    test_layers(l, 2 * k);
}

} // namespace tb

#endif
