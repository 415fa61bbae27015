"""A small, plain NumPy evaluator of the ONNX operators the cbr tests use.

An independent reference for `cbr run --float` (and, for QLinearConv and Q/DQ graphs, for the
int8 result): Debian 12's python3-onnx (1.12) has no onnx.reference. Written from the ONNX
operator specification (https://onnx.ai/onnx/operators/), in float64, loops over the kernel
taps, nothing shared with the C code. Only what the tests generate: an op or attribute value
outside that raises NotImplementedError instead of guessing.

    outputs = run(model, {"input": x})     # {output name: array}
"""

import numpy as np
from onnx import helper, numpy_helper

# ---- attributes and padding -------------------------------------------------------------


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def conv_pads(in_hw, k, strides, dil, pads, auto_pad):
    """(begin_h, begin_w, end_h, end_w) as ONNX defines them for Conv and the pools."""
    auto_pad = _s(auto_pad)
    if auto_pad in ("", "NOTSET"):
        return list(pads) if pads else [0, 0, 0, 0]
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise NotImplementedError("auto_pad %r" % auto_pad)
    begin, end = [], []
    for i in range(2):
        out = -(-in_hw[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 - in_hw[i])
        small = total // 2
        if auto_pad == "SAME_UPPER":
            begin.append(small)
            end.append(total - small)
        else:
            begin.append(total - small)
            end.append(small)
    return begin + end


def _pad(x, p, value):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=value)


# ---- operators --------------------------------------------------------------------------


def conv(x, w, b, a, x_zp=0.0, w_zp=0.0):
    """Conv (float64) of (x - x_zp) with (w - w_zp) plus b; padding is the real value 0."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    group = a.get("group", 1)
    strides = a.get("strides", [1, 1])
    dil = a.get("dilations", [1, 1])
    if "kernel_shape" in a and list(a["kernel_shape"]) != [kh, kw]:
        raise ValueError("kernel_shape %s disagrees with the weights %s" % (a["kernel_shape"],
                                                                           w.shape))
    if c != cg * group or m % group:
        raise ValueError("channels %d, weights %s, group %d" % (c, w.shape, group))
    p = conv_pads((h, wd), (kh, kw), strides, dil, a.get("pads"), a.get("auto_pad", "NOTSET"))
    xp = _pad(np.asarray(x, np.float64) - x_zp, p, 0.0)
    wf = np.asarray(w, np.float64) - np.asarray(w_zp, np.float64).reshape(-1, 1, 1, 1) \
        if np.ndim(w_zp) else np.asarray(w, np.float64) - w_zp
    oh = (h + p[0] + p[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (wd + p[1] + p[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = wf[g * mg:(g + 1) * mg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dil[0], j * dil[1]
                tap = xs[:, :, r0:r0 + (oh - 1) * strides[0] + 1:strides[0],
                         c0:c0 + (ow - 1) * strides[1] + 1:strides[1]]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", tap, ws[:, :, i, j])
    if b is not None:
        y += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return y


def pool(x, a, kind):
    """MaxPool / AveragePool with pads, auto_pad, strides, dilations (max) and ceil_mode."""
    n, c, h, wd = x.shape
    k = list(a["kernel_shape"])
    strides = a.get("strides", [1, 1])
    dil = a.get("dilations", [1, 1])
    if kind == "avg" and dil != [1, 1]:
        raise NotImplementedError("AveragePool dilations")
    if a.get("storage_order", 0):
        raise NotImplementedError("storage_order")
    p = conv_pads((h, wd), k, strides, dil, a.get("pads"), a.get("auto_pad", "NOTSET"))
    ceil = a.get("ceil_mode", 0)
    out = []
    for i in range(2):
        num = [h, wd][i] + p[i] + p[i + 2] - (k[i] - 1) * dil[i] - 1
        o = (-(-num // strides[i]) if ceil else num // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= [h, wd][i] + p[i]:
            raise NotImplementedError("a ceil_mode window that starts in the end padding")
        out.append(o)
    include_pad = a.get("count_include_pad", 0)
    y = np.zeros((n, c, out[0], out[1]))
    for oi in range(out[0]):
        for oj in range(out[1]):
            rows = [oi * strides[0] - p[0] + t * dil[0] for t in range(k[0])]
            cols = [oj * strides[1] - p[1] + t * dil[1] for t in range(k[1])]
            vr = [r for r in rows if 0 <= r < h]
            vc = [q for q in cols if 0 <= q < wd]
            win = x[:, :, vr][:, :, :, vc].astype(np.float64)
            if kind == "max":
                y[:, :, oi, oj] = win.max(axis=(2, 3))
            else:
                if include_pad:
                    # the pads count, an overhang past them (ceil_mode) does not
                    inr = [r for r in rows if -p[0] <= r < h + p[2]]
                    inc = [q for q in cols if -p[1] <= q < wd + p[3]]
                    count = len(inr) * len(inc)
                else:
                    count = len(vr) * len(vc)
                y[:, :, oi, oj] = win.sum(axis=(2, 3)) / count
    return y


def round_half_even(v):
    return np.rint(v)


def quantize(x, scale, zp, axis=1):
    zp = np.asarray(zp)
    info = np.iinfo(zp.dtype)
    s = np.asarray(scale, np.float64)
    z = zp.astype(np.float64)
    if s.ndim == 1 and s.size > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    q = round_half_even(np.asarray(x, np.float64) / s) + z
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def dequantize(q, scale, zp, axis=1):
    s = np.asarray(scale, np.float64)
    z = np.asarray(zp if zp is not None else 0).astype(np.float64)
    if s.ndim == 1 and s.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        s = s.reshape(shape)
        z = z.reshape(shape) if z.ndim else z
    return (np.asarray(q, np.float64) - z) * s


def run_node(node, ins):
    """The outputs (a list) of one node, given its input arrays (None for an absent one)."""
    a = attrs(node)
    op = node.op_type
    x = ins[0]
    if op == "Conv":
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "BatchNormalization":
        scale, bias, mean, var = (np.asarray(t, np.float64).reshape(1, -1, 1, 1)
                                  for t in ins[1:5])
        return [(x - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * scale + bias]
    if op == "Relu":
        return [np.maximum(x, 0)]
    if op == "LeakyRelu":
        alpha = a.get("alpha", 0.01)
        return [np.where(x >= 0, x, x * alpha)]
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min", -np.inf)
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max", np.inf)
        return [np.clip(x, lo, hi)]
    if op == "MaxPool":
        return [pool(x, a, "max")]
    if op == "AveragePool":
        return [pool(x, a, "avg")]
    if op == "GlobalAveragePool":
        return [x.mean(axis=(2, 3), keepdims=True)]
    if op == "Flatten":
        axis = a.get("axis", 1)
        axis += x.ndim if axis < 0 else 0
        return [x.reshape(int(np.prod(x.shape[:axis])), -1)]
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        if a.get("allowzero", 0):
            raise NotImplementedError("Reshape allowzero")
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Gemm":
        A = x.T if a.get("transA", 0) else x
        B = ins[1].T if a.get("transB", 0) else ins[1]
        y = a.get("alpha", 1.0) * (np.asarray(A, np.float64) @ np.asarray(B, np.float64))
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * np.asarray(ins[2], np.float64)
        return [y]
    if op == "MatMul":
        return [np.asarray(x, np.float64) @ np.asarray(ins[1], np.float64)]
    if op == "Add":
        return [np.asarray(x, np.float64) + np.asarray(ins[1], np.float64)]
    if op == "Softmax":
        axis = a.get("axis", -1)
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return [e / e.sum(axis=axis, keepdims=True)]
    if op == "QuantizeLinear":
        zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.uint8(0)
        return [quantize(x, ins[1], zp, a.get("axis", 1))]
    if op == "DequantizeLinear":
        zp = ins[2] if len(ins) > 2 else None
        return [dequantize(x, ins[1], zp, a.get("axis", 0 if x.ndim == 1 else 1))]
    if op == "QLinearConv":
        x_s, x_zp, w, w_s, w_zp, y_s, y_zp = ins[1:8]
        b = ins[8] if len(ins) > 8 else None
        acc = conv(x, w, b, a, float(x_zp), np.asarray(w_zp, np.float64))
        m = float(x_s) * np.asarray(w_s, np.float64).reshape(1, -1, 1, 1) / float(y_s)
        return [quantize(acc * m, 1.0, y_zp)]
    if op == "Identity":
        return [x]
    raise NotImplementedError("operator %s" % op)


def run(model, feeds):
    """Evaluate the graph in node order; returns {graph output name: array}."""
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for node in model.graph.node:
        ins = [env[i] if i else None for i in node.input]
        outs = run_node(node, ins)
        for name, val in zip(node.output, outs):
            env[name] = val
    return {o.name: env[o.name] for o in model.graph.output}
