"""Independent NumPy model of docs/NUMERICS.md (conv + requantize + activation + pool).

Written from the contract text only, not from host/lib/golden.c, so that the end-to-end CLI
tests compare two implementations rather than one with itself. Every integer step is done in
int64 NumPy arrays, where no intermediate of the contract can overflow; where the contract's
C formulation would wrap (scaled + y_zp near INT32_MAX), the mathematical value is kept.
"""

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

ACTS = ("none", "relu", "relu6", "leaky")


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def saturate_int32(x):
    return np.clip(_i64(x), INT32_MIN, INT32_MAX)


def _trunc_div_pow2(v, e):
    """v / 2^e rounded toward zero (C's integer division), elementwise; |v| < 2^63."""
    v = _i64(v)
    return np.where(v >= 0, v >> e, -((-v) >> e))


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    a, b = np.broadcast_arrays(_i64(a), _i64(b))
    ab = a * b  # |a*b| <= 2^62
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    res = _trunc_div_pow2(ab + nudge, 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), np.int64(INT32_MAX), res)


def rdbpot(x, e):
    """gemmlowp RoundingDivideByPOT: x / 2^e, ties away from zero; e in [0, 31]."""
    x, e = np.broadcast_arrays(_i64(x), _i64(e))
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> e) + (remainder > threshold).astype(np.int64)


def mbqm(x, m, s):
    """MultiplyByQuantizedMultiplier(x, M, s), elementwise with broadcasting."""
    s = _i64(s)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    a = saturate_int32(_i64(x) << left)  # |x| < 2^31, left <= 30: fits int64
    return rdbpot(srdhm(a, m), right)


def conv_out_size(size, pad_a, pad_b, k, stride, dil):
    return (size + pad_a + pad_b - dil * (k - 1) - 1) // stride + 1


def pool_out_size(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def conv_acc(x, x_zp, w, bias, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """int32 accumulators (as int64), NCHW in and out.

    x: (N, C, H, W) int8 values (already mapped from uint8), w: (O, C/G, KH, KW).
    pad: (top, left, bottom, right).
    """
    x = _i64(x)
    w = _i64(w)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    top, left, bottom, right = pad
    assert c == cg * groups and o % groups == 0
    oh = conv_out_size(h, top, bottom, kh, sh, dh)
    ow = conv_out_size(wd, left, right, kw, sw, dw)
    assert oh >= 1 and ow >= 1
    og = o // groups
    # Padding is the real value 0, i.e. x - x_zp == 0.
    xp = np.pad(x - x_zp, ((0, 0), (0, 0), (top, bottom), (left, right)))
    xp = xp.reshape(n, groups, cg, xp.shape[2], xp.shape[3])
    wg = w.reshape(groups, og, cg, kh, kw)
    acc = np.zeros((n, groups, og, oh, ow), dtype=np.int64)
    for i in range(kh):
        r0 = i * dh
        rows = slice(r0, r0 + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            c0 = j * dw
            cols = slice(c0, c0 + (ow - 1) * sw + 1, sw)
            patch = xp[:, :, :, rows, cols]  # (n, g, cg, oh, ow)
            acc += np.einsum("ngchw,goc->ngohw", patch, wg[:, :, :, i, j])
    acc = acc.reshape(n, o, oh, ow) + _i64(bias).reshape(1, o, 1, 1)
    return acc


def act_range(act, y_zp, clamp=None):
    if act in ("relu", "relu6"):
        lo, hi = max(y_zp, -128), 127
    else:
        lo, hi = -128, 127
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    return lo, hi


def requantize(acc, mult, shift, y_zp, act="none", clamp=None, neg_mult=None, neg_shift=None):
    """acc (N, O, H, W) -> int8 values (as int64) after the activation clamp."""
    o = acc.shape[1]
    m = _i64(mult).reshape(1, o, 1, 1)
    s = _i64(shift).reshape(1, o, 1, 1)
    if act == "leaky":
        mn = _i64(neg_mult).reshape(1, o, 1, 1)
        sn = _i64(neg_shift).reshape(1, o, 1, 1)
        neg = acc < 0
        m = np.where(neg, mn, m)
        s = np.where(neg, sn, s)
    scaled = mbqm(acc, m, s)
    lo, hi = act_range(act, y_zp, clamp)
    return np.minimum(np.maximum(scaled + y_zp, lo), hi)


def _div_round_half_away(num, den):
    num = _i64(num)
    den = _i64(den)
    mag = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -mag, mag)


def pool(y, kind, k=1, stride=1, pad=0):
    """Pooling on (N, O, H, W); kind in None, 'max', 'avg', 'gavg'."""
    if kind is None:
        return y
    n, o, h, w = y.shape
    if kind == "gavg":
        return _div_round_half_away(y.sum(axis=(2, 3), keepdims=True), h * w)
    ph = pool_out_size(h, k, stride, pad)
    pw = pool_out_size(w, k, stride, pad)
    assert ph >= 1 and pw >= 1
    valid = np.pad(np.ones((h, w), dtype=np.int64), pad)
    if kind == "max":
        yp = np.pad(y, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-(1 << 40))
        out = np.full((n, o, ph, pw), -(1 << 40), dtype=np.int64)
    else:
        yp = np.pad(y, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = np.zeros((n, o, ph, pw), dtype=np.int64)
        cnt = np.zeros((ph, pw), dtype=np.int64)
    for i in range(k):
        rows = slice(i, i + (ph - 1) * stride + 1, stride)
        for j in range(k):
            cols = slice(j, j + (pw - 1) * stride + 1, stride)
            if kind == "max":
                out = np.maximum(out, yp[:, :, rows, cols])
            else:
                out += yp[:, :, rows, cols]
                cnt += valid[rows, cols]
    if kind == "max":
        assert (out > -(1 << 40)).all(), "a pool window with no valid position"
        return out
    assert (cnt > 0).all(), "a pool window with no valid position"
    return _div_round_half_away(out, cnt)


def layer(x, x_zp, w, bias, mult, shift, y_zp, stride=(1, 1), pad=(0, 0, 0, 0),
          dilation=(1, 1), groups=1, act="none", clamp=None, neg_mult=None, neg_shift=None,
          pool_kind=None, pool_k=1, pool_stride=1, pool_pad=0, layout="nchw"):
    """The whole layer as the CLI defines it; returns the int8 output array.

    x is int8 or uint8 in `layout`; a uint8 input and its zero point are mapped onto int8 by
    subtracting 128 from both, as the host does.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        xi = x.astype(np.int64) - 128
        x_zp = x_zp - 128
    else:
        assert x.dtype == np.int8
        xi = x.astype(np.int64)
    if layout == "nhwc":
        xi = xi.transpose(0, 3, 1, 2)
    acc = conv_acc(xi, x_zp, w, bias, stride, pad, dilation, groups)
    y = requantize(acc, mult, shift, y_zp, act, clamp, neg_mult, neg_shift)
    y = pool(y, pool_kind, pool_k, pool_stride, pool_pad)
    assert y.min() >= -128 and y.max() <= 127
    if layout == "nhwc":
        y = y.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(y.astype(np.int8))


def macs(n, oh, ow, o, cg, kh, kw):
    """Useful MACs of a layer (cbr.h, cbr_stats.macs)."""
    return n * oh * ow * o * cg * kh * kw
