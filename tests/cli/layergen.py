"""Random layers for the CLI tests: small, valid, and biased toward the corners of the
contract (every kernel size, strides, asymmetric padding, dilation, groups, saturation, every
activation and pooling mode, zero points at the ends, uint8 input, NHWC).

A layer is a plain dict; layer i of seed s is always the same (its generator is seeded with
[s, i]), so one failing layer can be replayed alone.
"""

import math

import numpy as np

import refmodel as rm

I32MAX = rm.INT32_MAX


def _pick(rng, items, probs=None):
    return items[int(rng.choice(len(items), p=probs))]


def _zp(rng, lo=-128, hi=127, edge=0.15):
    return int(_pick(rng, [lo, hi, int(rng.integers(lo, hi + 1)), int(rng.integers(-10, 11))
                           + (lo + hi + 1) // 2], [edge, edge, 0.7 - 2 * edge, 0.3]))


def gen_layer(seed, index):
    rng = np.random.default_rng([seed, index])
    L = {"index": index}

    # Shape: groups first, then channels to fit.
    mode = _pick(rng, ["dense", "grouped", "depthwise"], [0.55, 0.2, 0.25])
    if mode == "dense":
        g, cg, og = 1, int(rng.integers(1, 9)), int(rng.integers(1, 9))
    elif mode == "grouped":
        g, cg, og = int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    else:
        g, cg, og = int(rng.integers(1, 9)), 1, int(rng.integers(1, 3))
    c, o = g * cg, g * og
    n = _pick(rng, [1, 2, 3], [0.7, 0.2, 0.1])

    kh = 1 + index % 11
    kw = kh if rng.random() < 0.4 else int(rng.integers(1, 12))
    if rng.random() < 0.5:
        kh, kw = kw, kh
    sh, sw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    if rng.random() < 0.6:
        dh = dw = 1
    else:
        dh = int(rng.integers(1, 1 + max(1, min(3, 24 // max(1, kh - 1)))))
        dw = int(rng.integers(1, 1 + max(1, min(3, 24 // max(1, kw - 1)))))
    r = rng.random()
    if r < 0.35:
        pad = (0, 0, 0, 0)
    elif r < 0.6:
        p = int(rng.integers(0, max(kh, kw) // 2 + 1))
        pad = (p, p, p, p)
    elif r < 0.95:
        pad = tuple(int(v) for v in rng.integers(0, 5, 4))
    else:  # padding wider than the kernel: some outputs see only padding
        pad = tuple(int(v) for v in rng.integers(0, max(kh, kw) + 3, 4))
    if rng.random() < 0.05:  # fully connected: the kernel covers the whole input
        sh = sw = dh = dw = 1
        pad = (0, 0, 0, 0)
        h, w = kh, kw
    else:
        def size(k, s, d, pa, pb):
            want = int(rng.integers(1, 11))
            v = (want - 1) * s + d * (k - 1) + 1 - pa - pb + int(rng.integers(0, s))
            v = max(1, v)
            while rm.conv_out_size(v, pa, pb, k, s, d) < 1:
                v += 1
            return v
        h = size(kh, sh, dh, pad[0], pad[2])
        w = size(kw, sw, dw, pad[1], pad[3])
    oh = rm.conv_out_size(h, pad[0], pad[2], kh, sh, dh)
    ow = rm.conv_out_size(w, pad[1], pad[3], kw, sw, dw)
    red = cg * kh * kw
    L.update(n=n, c=c, h=h, w=w, o=o, groups=g, kh=kh, kw=kw, stride=(sh, sw),
             dilation=(dh, dw), pad=pad, oh=oh, ow=ow, mode=mode)

    # Input.
    uint8 = rng.random() < 0.2
    L["uint8"] = uint8
    lo, hi = (0, 255) if uint8 else (-128, 127)
    x_zp = _zp(rng, lo, hi)
    r = rng.random()
    if r < 0.8:
        x = rng.integers(lo, hi + 1, (n, c, h, w))
    elif r < 0.9:  # only the extremes, to push the accumulator to its bounds
        x = np.where(rng.random((n, c, h, w)) < 0.5, lo, hi)
    else:  # near the zero point: small accumulators, ties in the rounding
        x = np.clip(x_zp + rng.integers(-2, 3, (n, c, h, w)), lo, hi)
    x = x.astype(np.uint8 if uint8 else np.int8)

    # Weights.
    r = rng.random()
    if r < 0.85:
        wt = rng.integers(-127, 128, (o, cg, kh, kw))
    elif r < 0.95:
        wt = np.where(rng.random((o, cg, kh, kw)) < 0.5, -127, 127)
    else:
        wt = rng.integers(-2, 3, (o, cg, kh, kw))
    wt = wt.astype(np.int8)

    # Requantization. The typical accumulator magnitude sets a realistic shift; the extreme
    # regime draws shifts from the whole range to saturate both ends.
    mag = max(1.0, math.sqrt(red) * 74.0 * 73.0)
    base_shift = int(round(math.log2(48.0 / mag)))
    regime = _pick(rng, ["real", "extreme", "mixed"], [0.6, 0.25, 0.15])

    def mult_shift(shift_base):
        m = rng.integers(1 << 30, I32MAX, o, endpoint=True)
        m = np.where(rng.random(o) < 0.1, 1 << 30, m)
        m = np.where(rng.random(o) < 0.1, I32MAX, m)
        m = np.where(rng.random(o) < 0.05, 0, m)
        s_real = np.clip(shift_base + rng.integers(-2, 3, o), -31, 30)
        s_ext = rng.integers(-31, 31, o)
        s_ext = np.where(rng.random(o) < 0.15, -31, s_ext)
        s_ext = np.where(rng.random(o) < 0.15, 30, s_ext)
        if regime == "real":
            s = s_real
        elif regime == "extreme":
            s = s_ext
        else:
            s = np.where(rng.random(o) < 0.5, s_real, s_ext)
        return m.astype(np.int32), s.astype(np.int32)

    mult, shift = mult_shift(base_shift)
    bound = I32MAX - red * 255 * 127  # keeps bias + sum inside int32
    bias = rng.integers(-int(2 * mag), int(2 * mag) + 1, o)
    edge = 0.05 if regime == "extreme" else 0.015
    big = rng.random(o) < (0.5 if regime == "extreme" else 0.04)
    bias = np.where(big, rng.integers(-bound, bound + 1, o), bias)
    bias = np.where(rng.random(o) < edge, bound, bias)
    bias = np.where(rng.random(o) < edge, -bound, bias)
    L.update(x=x, x_zp=x_zp, w=wt, bias=bias.astype(np.int32), mult=mult, shift=shift)

    # Activation.
    act = _pick(rng, ["none", "relu", "relu6", "leaky"], [0.3, 0.25, 0.2, 0.25])
    # A high y_zp leaves relu almost no range, so the top end is drawn less often there.
    y_zp = _zp(rng, edge=0.05) if act in ("relu", "relu6") else _zp(rng)
    clamp = None
    if act == "relu6" or rng.random() < 0.25:
        amin = max(y_zp, -128) if act in ("relu", "relu6") else -128
        if act == "relu6" and rng.random() < 0.6:  # the usual relu6 clamp
            cmin = -128 if rng.random() < 0.5 else amin
            cmax = int(min(127, y_zp + rng.integers(0, 200)))
            cmax = max(cmax, amin, cmin)
        elif rng.random() < 0.7:  # around the zero point, where the outputs are
            cmin = int(rng.integers(-128, y_zp + 1))
            cmax = int(rng.integers(max(cmin, amin, y_zp), 128))
        else:  # anywhere, narrow ones included
            cmin = int(rng.integers(-128, 128))
            cmax = int(rng.integers(max(cmin, amin), 128))
        clamp = (int(cmin), int(cmax))
    neg_mult = neg_shift = None
    if act == "leaky":
        neg_mult, neg_shift = mult_shift(base_shift - int(rng.integers(1, 6)))
    L.update(y_zp=y_zp, act=act, clamp=clamp, neg_mult=neg_mult, neg_shift=neg_shift)

    # Pooling.
    pool = _pick(rng, [None, "max", "avg", "gavg"], [0.45, 0.2, 0.2, 0.15])
    pk, ps, pp = 1, 1, 0
    if pool in ("max", "avg"):
        for _ in range(20):
            pk = int(rng.integers(1, 5))
            ps = int(rng.integers(1, 4))
            pp = int(rng.integers(0, pk)) if rng.random() < 0.5 else 0
            if (rm.pool_out_size(oh, pk, ps, pp) >= 1 and
                    rm.pool_out_size(ow, pk, ps, pp) >= 1):
                break
        else:
            pk, ps, pp = 1, 1, 0
    L.update(pool=pool, pool_k=pk, pool_stride=ps, pool_pad=pp)

    L["layout"] = "nhwc" if rng.random() < 0.3 else "nchw"
    L["stats"] = rng.random() < 0.15
    L["existing_output"] = rng.random() < 0.1
    # Other .npy encodings the reader promises (cbr.h): big-endian int32, format version 2.0.
    L["big_endian_params"] = rng.random() < 0.05
    L["npy_v2"] = rng.random() < 0.05
    L["rng"] = rng  # for the option spellings, drawn when the command is built
    return L


def expected(L):
    x = L["x"] if L["layout"] == "nchw" else np.ascontiguousarray(L["x"].transpose(0, 2, 3, 1))
    return rm.layer(x, L["x_zp"], L["w"], L["bias"], L["mult"], L["shift"], L["y_zp"],
                    stride=L["stride"], pad=L["pad"], dilation=L["dilation"],
                    groups=L["groups"], act=L["act"], clamp=L["clamp"],
                    neg_mult=L["neg_mult"], neg_shift=L["neg_shift"], pool_kind=L["pool"],
                    pool_k=L["pool_k"], pool_stride=L["pool_stride"],
                    pool_pad=L["pool_pad"], layout=L["layout"])


def describe(L):
    return ("x%s%s zp %d w%s g %d stride %s pad %s dil %s bias [%d..%d] shift [%d..%d] "
            "y_zp %d act %s clamp %s pool %s %s%s%s" % (
                tuple(L["x"].shape), " uint8" if L["uint8"] else "", L["x_zp"],
                tuple(L["w"].shape), L["groups"], L["stride"], L["pad"], L["dilation"],
                L["bias"].min(), L["bias"].max(), L["shift"].min(), L["shift"].max(),
                L["y_zp"], L["act"], L["clamp"],
                (L["pool"], L["pool_k"], L["pool_stride"], L["pool_pad"]), L["layout"],
                " big-endian-params" if L["big_endian_params"] else "",
                " npy-v2" if L["npy_v2"] else ""))
