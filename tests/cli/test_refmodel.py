#!/usr/bin/python3
"""Self-checks of refmodel.py: hand-computed cases from NUMERICS.md, exact-rational checks of
the rounding primitives, and the vectorized layer against a dumb scalar loop on tiny layers.

Usage: test_refmodel.py [--seed S] [--layers N]
"""

import argparse
import os
import random
import sys
import time
from fractions import Fraction

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodel as rm  # noqa: E402

I32MIN, I32MAX = rm.INT32_MIN, rm.INT32_MAX
passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def scalar(f, *args):
    return int(f(*args))


# ---- scalar model: Python ints, written straight from the contract's pseudo-code --------------

def s_sat32(v):
    return max(I32MIN, min(I32MAX, v))


def s_srdhm(a, b):
    if a == I32MIN and b == I32MIN:
        return I32MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    t = ab + nudge
    q = abs(t) // (1 << 31)  # truncation toward zero
    return q if t >= 0 else -q


def s_rdbpot(x, e):
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def s_mbqm(x, m, s):
    left, right = max(s, 0), max(-s, 0)
    return s_rdbpot(s_srdhm(s_sat32(x * (1 << left)), m), right)


def round_half_away(fr):
    mag = abs(fr)
    r = int(mag)
    if mag - r >= Fraction(1, 2):
        r += 1
    return r if fr >= 0 else -r


def s_layer(x, x_zp, w, bias, mult, shift, y_zp, stride, pad, dil, groups, act, clamp,
            neg_mult, neg_shift, pool_kind, pk, ps, pp):
    """NCHW int8 in, nested-list int out; no NumPy arithmetic at all."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh_, kw_ = w.shape
    og = o_ // groups
    sh, sw = stride
    dh, dw = dil
    top, left, bottom, right = pad
    oh_ = (h_ + top + bottom - dh * (kh_ - 1) - 1) // sh + 1
    ow_ = (w_ + left + right - dw * (kw_ - 1) - 1) // sw + 1
    xl = x.tolist()
    wl = w.tolist()
    if act in ("relu", "relu6"):
        lo, hi = max(y_zp, -128), 127
    else:
        lo, hi = -128, 127
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    y = [[[[0] * ow_ for _ in range(oh_)] for _ in range(o_)] for _ in range(n_)]
    for n in range(n_):
        for o in range(o_):
            g = o // og
            for oh in range(oh_):
                for ow in range(ow_):
                    acc = int(bias[o])
                    for kh in range(kh_):
                        for kw in range(kw_):
                            ih = oh * sh - top + kh * dh
                            iw = ow * sw - left + kw * dw
                            if not (0 <= ih < h_ and 0 <= iw < w_):
                                continue
                            for cc in range(cg):
                                c = g * cg + cc
                                acc += (xl[n][c][ih][iw] - x_zp) * wl[o][cc][kh][kw]
                    assert I32MIN <= acc <= I32MAX
                    if act == "leaky" and acc < 0:
                        sc = s_mbqm(acc, int(neg_mult[o]), int(neg_shift[o]))
                    else:
                        sc = s_mbqm(acc, int(mult[o]), int(shift[o]))
                    y[n][o][oh][ow] = min(max(sc + y_zp, lo), hi)
    if pool_kind is None:
        return y
    if pool_kind == "gavg":
        return [[[[round_half_away(Fraction(sum(sum(r) for r in y[n][o]), oh_ * ow_))]]
                 for o in range(o_)] for n in range(n_)]
    ph_ = (oh_ + 2 * pp - pk) // ps + 1
    pw_ = (ow_ + 2 * pp - pk) // ps + 1
    out = [[[[0] * pw_ for _ in range(ph_)] for _ in range(o_)] for _ in range(n_)]
    for n in range(n_):
        for o in range(o_):
            for i in range(ph_):
                for j in range(pw_):
                    vals = []
                    for a in range(pk):
                        for b in range(pk):
                            r, c = i * ps - pp + a, j * ps - pp + b
                            if 0 <= r < oh_ and 0 <= c < ow_:
                                vals.append(y[n][o][r][c])
                    if pool_kind == "max":
                        out[n][o][i][j] = max(vals)
                    else:
                        out[n][o][i][j] = round_half_away(Fraction(sum(vals), len(vals)))
    return out


# ---- tests -----------------------------------------------------------------------------------

def test_hand_cases():
    check(scalar(rm.srdhm, I32MIN, I32MIN) == I32MAX, "srdhm(INT32_MIN, INT32_MIN)")
    check(scalar(rm.srdhm, 1 << 30, 1 << 30) == 1 << 29, "srdhm(2^30, 2^30) == 2^29")
    check(scalar(rm.srdhm, I32MAX, I32MAX) == I32MAX - 1, "srdhm(MAX, MAX) == MAX - 1")
    check(scalar(rm.srdhm, I32MIN, I32MAX) == -I32MAX, "srdhm(MIN, MAX) == -MAX")
    check(scalar(rm.srdhm, I32MIN, 1 << 30) == -(1 << 30), "srdhm(MIN, 2^30)")
    # Ties: +0.5 -> 1, -0.5 -> 0 (the nudge 1 - 2^30 rounds negative ties toward zero).
    check(scalar(rm.srdhm, 1, 1 << 30) == 1, "srdhm +0.5 tie")
    check(scalar(rm.srdhm, -1, 1 << 30) == 0, "srdhm -0.5 tie")
    check(scalar(rm.srdhm, -3, 1 << 30) == -1, "srdhm -1.5 tie")
    check(scalar(rm.srdhm, 3, 1 << 30) == 2, "srdhm +1.5 tie")
    check(scalar(rm.srdhm, 5, 0) == 0, "srdhm(x, 0) == 0")
    # RoundingDivideByPOT: ties away from zero.
    for x, e, want in [(5, 1, 3), (-5, 1, -3), (3, 1, 2), (-3, 1, -2), (1, 1, 1), (-1, 1, -1),
                       (4, 2, 1), (6, 2, 2), (-6, 2, -2), (2, 2, 1), (-2, 2, -1), (1, 2, 0),
                       (-1, 2, 0), (5, 2, 1), (-5, 2, -1), (7, 0, 7), (-7, 0, -7),
                       (I32MAX, 31, 1), (I32MIN, 31, -1), (1 << 30, 31, 1),
                       (-(1 << 30), 31, -1), ((1 << 30) - 1, 31, 0), (-(1 << 30) + 1, 31, 0),
                       (I32MAX, 30, 2), (I32MIN, 30, -2), (-1, 31, 0), (0, 31, 0)]:
        check(scalar(rm.rdbpot, x, e) == want, "rdbpot(%d, %d) == %d" % (x, e, want))
    # MultiplyByQuantizedMultiplier.
    for x, m, s, want in [(100, 1 << 30, 0, 50), (101, 1 << 30, 0, 51), (-101, 1 << 30, 0, -50),
                          (-103, 1 << 30, 0, -51), (4, 1 << 30, 30, 1 << 30),
                          (-4, 1 << 30, 30, -(1 << 30)), (3, 1 << 30, 1, 3), (7, 0, 5, 0),
                          (I32MAX, I32MAX, 0, I32MAX - 1), (I32MIN, I32MAX, 0, -I32MAX),
                          (I32MIN, 1 << 30, -31, -1), (I32MIN, I32MAX, -31, -1),
                          (I32MAX, I32MAX, -31, 1), (1000, 1 << 30, -3, 63),
                          (-1000, 1 << 30, -3, -63), (1000, 1 << 30, -4, 31),
                          (-1000, 1 << 30, -4, -31), (1 << 20, 1 << 30, 10, 1 << 29)]:
        check(scalar(rm.mbqm, x, m, s) == want, "mbqm(%d, %d, %d) == %d" % (x, m, s, want))
        check(s_mbqm(x, m, s) == want, "scalar mbqm(%d, %d, %d) == %d" % (x, m, s, want))
    # 1000 * 0.5 = 500 exactly, then 500 / 8 = 62.5 -> 63 (ties away from zero); 4 * 2^30
    # saturates to INT32_MAX before the multiply, and INT32_MAX * 0.5 rounds up to 2^30.
    # Activation ranges.
    check(rm.act_range("none", 50) == (-128, 127), "act none")
    check(rm.act_range("relu", 50) == (50, 127), "act relu")
    check(rm.act_range("relu", -128) == (-128, 127), "act relu zp -128")
    check(rm.act_range("relu6", 10, (-128, 60)) == (10, 60), "act relu6 with clamp")
    check(rm.act_range("leaky", 10, (-20, 30)) == (-20, 30), "act leaky with clamp")
    check(rm.act_range("relu", 10, (0, 127)) == (10, 127), "relu clamp intersection")
    # Average pooling rounding, half away from zero.
    y = np.array([1, 2, -1, -2, 3, 0, -3, 0], dtype=np.int64).reshape(1, 8, 1, 1)
    y = np.concatenate([y, np.array([0, 1, 0, -1, 0, 0, 0, 0]).reshape(1, 8, 1, 1)], axis=3)
    got = rm.pool(y, "gavg").ravel().tolist()
    check(got == [1, 2, -1, -2, 2, 0, -2, 0], "gavg rounding %r" % got)
    y = np.array([[-128, 127, 127], [-128, -128, 5]], dtype=np.int64).reshape(1, 1, 2, 3)
    check(rm.pool(y, "max", 2, 2, 1).ravel().tolist() == [-128, 127, -128, 5], "maxpool pad")
    check(rm.pool(y, "avg", 2, 2, 1).ravel().tolist() == [-128, 127, -128, -62],
          "avgpool pad")
    check(rm.pool(y, "avg", 2, 1, 0).ravel().tolist() == [-64, 33], "avgpool")


def test_rounding_exact(rng):
    """The primitives against exact rationals, on random and boundary values."""
    special = [I32MIN, I32MIN + 1, -(1 << 30), -1, 0, 1, (1 << 30), I32MAX - 1, I32MAX]
    a = np.concatenate([rng.integers(I32MIN, I32MAX, 20000, endpoint=True), special * 20])
    b = np.concatenate([rng.integers(I32MIN, I32MAX, 20000, endpoint=True),
                        np.repeat(special, 9 * 20 // len(special) + 1)[:len(special) * 20]])
    got = rm.srdhm(a, b)
    bad = 0
    for ai, bi, gi in zip(a.tolist(), b.tolist(), got.tolist()):
        if ai == I32MIN and bi == I32MIN:
            want = I32MAX
        else:  # round half toward +inf of a*b / 2^31
            fr = Fraction(ai * bi, 1 << 31) + Fraction(1, 2)
            want = fr.numerator // fr.denominator
        if gi != want or gi != s_srdhm(ai, bi):
            bad += 1
            if bad < 5:
                print("  srdhm(%d, %d) = %d, want %d" % (ai, bi, gi, want))
    check(bad == 0, "srdhm exact on %d pairs (%d bad)" % (len(a), bad))

    x = np.concatenate([rng.integers(I32MIN, I32MAX, 20000, endpoint=True),
                        rng.integers(-300, 300, 5000)])
    e = rng.integers(0, 31, len(x), endpoint=True)
    got = rm.rdbpot(x, e)
    bad = 0
    for xi, ei, gi in zip(x.tolist(), e.tolist(), got.tolist()):
        want = round_half_away(Fraction(xi, 1 << ei))
        if gi != want or gi != s_rdbpot(xi, ei):
            bad += 1
            if bad < 5:
                print("  rdbpot(%d, %d) = %d, want %d" % (xi, ei, gi, want))
    check(bad == 0, "rdbpot exact on %d values (%d bad)" % (len(x), bad))

    m = np.where(rng.random(20000) < 0.1, 0,
                 rng.integers(1 << 30, I32MAX, 20000, endpoint=True))
    s = rng.integers(-31, 30, 20000, endpoint=True)
    x = np.where(rng.random(20000) < 0.5, rng.integers(I32MIN, I32MAX, 20000, endpoint=True),
                 rng.integers(-5000, 5000, 20000))
    got = rm.mbqm(x, m, s)
    bad = sum(1 for xi, mi, si, gi in zip(x.tolist(), m.tolist(), s.tolist(), got.tolist())
              if gi != s_mbqm(xi, mi, si) or not I32MIN <= gi <= I32MAX)
    check(bad == 0, "mbqm vector == scalar on 20000 triples (%d bad)" % bad)


def random_tiny_layer(rng):
    groups = int(rng.choice([1, 1, 2, 3]))
    cg = int(rng.integers(1, 4))
    og = int(rng.integers(1, 4))
    if rng.random() < 0.2:
        cg = 1  # depthwise
    c, o = cg * groups, og * groups
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    pad = tuple(int(v) for v in rng.integers(0, 4, 4))
    h = max(1, dh * (kh - 1) + 1 - pad[0] - pad[2] + int(rng.integers(0, 5)))
    w = max(1, dw * (kw - 1) + 1 - pad[1] - pad[3] + int(rng.integers(0, 5)))
    oh = rm.conv_out_size(h, pad[0], pad[2], kh, sh, dh)
    ow = rm.conv_out_size(w, pad[1], pad[3], kw, sw, dw)
    if oh < 1 or ow < 1:
        return None
    n = int(rng.integers(1, 3))
    x = rng.integers(-128, 127, (n, c, h, w), endpoint=True).astype(np.int8)
    wt = rng.integers(-127, 127, (o, cg, kh, kw), endpoint=True).astype(np.int8)
    x_zp = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    y_zp = int(rng.choice([-128, 127, int(rng.integers(-128, 128))]))
    big = (1 << 31) - 1 - cg * kh * kw * 255 * 127
    bias = np.where(rng.random(o) < 0.2, rng.integers(-big, big, o),
                    rng.integers(-20000, 20000, o))
    mult = np.where(rng.random(o) < 0.1, 0, rng.integers(1 << 30, I32MAX, o, endpoint=True))
    shift = np.where(rng.random(o) < 0.3, rng.integers(-31, 30, o, endpoint=True),
                     rng.integers(-14, -4, o))
    act = str(rng.choice(["none", "relu", "relu6", "leaky"]))
    clamp = None
    if act == "relu6" or rng.random() < 0.3:
        lo = int(rng.integers(-128, 128))
        amin = max(y_zp, -128) if act in ("relu", "relu6") else -128
        clamp = (lo, int(rng.integers(max(lo, amin), 128)))
    nm = rng.integers(1 << 30, I32MAX, o, endpoint=True)
    ns = rng.integers(-20, 0, o)
    pool_kind, pk, ps, pp = None, 1, 1, 0
    r = rng.random()
    if r < 0.5:
        pool_kind = str(rng.choice(["max", "avg", "gavg"]))
        if pool_kind != "gavg":
            pk = int(rng.integers(1, 4))
            pp = int(rng.integers(0, pk))
            ps = int(rng.integers(1, 3))
            if rm.pool_out_size(oh, pk, ps, pp) < 1 or rm.pool_out_size(ow, pk, ps, pp) < 1:
                pool_kind = None
    return dict(x=x, x_zp=x_zp, w=wt, bias=bias, mult=mult, shift=shift, y_zp=y_zp,
                stride=(sh, sw), pad=pad, dil=(dh, dw), groups=groups, act=act, clamp=clamp,
                neg_mult=nm, neg_shift=ns, pool_kind=pool_kind, pk=pk, ps=ps, pp=pp)


def test_layers_vs_scalar(rng, count):
    done = 0
    while done < count:
        L = random_tiny_layer(rng)
        if L is None:
            continue
        done += 1
        want = np.array(s_layer(L["x"], L["x_zp"], L["w"], L["bias"], L["mult"], L["shift"],
                                L["y_zp"], L["stride"], L["pad"], L["dil"], L["groups"],
                                L["act"], L["clamp"], L["neg_mult"], L["neg_shift"],
                                L["pool_kind"], L["pk"], L["ps"], L["pp"]), dtype=np.int64)
        kw = dict(stride=L["stride"], pad=L["pad"], dilation=L["dil"], groups=L["groups"],
                  act=L["act"], clamp=L["clamp"], neg_mult=L["neg_mult"],
                  neg_shift=L["neg_shift"], pool_kind=L["pool_kind"], pool_k=L["pk"],
                  pool_stride=L["ps"], pool_pad=L["pp"])
        got = rm.layer(L["x"], L["x_zp"], L["w"], L["bias"], L["mult"], L["shift"], L["y_zp"],
                       **kw)
        ok = got.shape == want.shape and np.array_equal(got.astype(np.int64), want)
        # The same layer as NHWC, and with a uint8 input carrying the same values.
        got_nhwc = rm.layer(L["x"].transpose(0, 2, 3, 1), L["x_zp"], L["w"], L["bias"],
                            L["mult"], L["shift"], L["y_zp"], layout="nhwc", **kw)
        ok_nhwc = np.array_equal(got_nhwc.transpose(0, 3, 1, 2), got)
        xu = (L["x"].astype(np.int64) + 128).astype(np.uint8)
        got_u8 = rm.layer(xu, L["x_zp"] + 128, L["w"], L["bias"], L["mult"], L["shift"],
                          L["y_zp"], **kw)
        ok_u8 = np.array_equal(got_u8, got)
        desc = "layer %d: x%s w%s stride %s pad %s dil %s g %d act %s clamp %s pool %s" % (
            done, L["x"].shape, L["w"].shape, L["stride"], L["pad"], L["dil"], L["groups"],
            L["act"], L["clamp"], (L["pool_kind"], L["pk"], L["ps"], L["pp"]))
        check(ok, desc + " vs scalar")
        check(ok_nhwc and ok_u8, desc + " nhwc/uint8 consistency")


def test_fully_connected():
    """A conv covering the whole input is a dot product per output feature."""
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (2, 3, 4, 5)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 3, 4, 5)).astype(np.int8)
    bias = rng.integers(-1000, 1000, 6)
    acc = rm.conv_acc(x, 3, w, bias)
    want = (x.astype(np.int64).reshape(2, -1) - 3) @ w.astype(np.int64).reshape(6, -1).T + bias
    check(acc.shape == (2, 6, 1, 1) and np.array_equal(acc.reshape(2, 6), want), "fc layer")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("CBR_SEED", int(time.time()) % 1000000)))
    ap.add_argument("--layers", type=int, default=150)
    args = ap.parse_args()
    print("seed: %d" % args.seed, flush=True)
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    t0 = time.time()
    test_hand_cases()
    test_rounding_exact(rng)
    test_fully_connected()
    test_layers_vs_scalar(rng, args.layers)
    print("(%.1fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
