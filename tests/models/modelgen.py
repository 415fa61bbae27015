"""Small, varied ONNX models for the `cbr run` tests, built with onnx.helper and NumPy.

Every case is a function of a numpy Generator: shapes are fixed per case (so each case
always covers the same feature), weights, biases and BatchNorm statistics are random from the
seed. CASES lists (name, builder, what it covers); build(name, seed) gives the model and its
input and output shapes. QUANT names the quantized cases (QLinearConv, Q/DQ: scales in the
graph, no calibration). bad_models() writes broken models into a folder, each with the words
its error message must contain.

    /usr/bin/python3 tests/models/modelgen.py OUTDIR [--seed S]    writes every case as .onnx
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OPSET = 13
F = TensorProto.FLOAT


class G:
    """A graph under construction: nodes, initializers, fresh names."""

    def __init__(self, rng, in_shape):
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.n = 0
        self.in_shape = list(in_shape)

    def name(self, base):
        self.n += 1
        return "%s_%d" % (base, self.n)

    def const(self, base, arr):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def node(self, op, inputs, n_out=1, **kw):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op), **kw))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k, group=1, bias=True, **kw):
        fan_in = cin // group * k * k
        w = self.rng.normal(0, 1.0 / np.sqrt(fan_in), (cout, cin // group, k, k))
        ins = [x, self.const("w", w.astype(np.float32))]
        if bias:
            ins.append(self.const("b", self.rng.normal(0, 0.2, cout).astype(np.float32)))
        return self.node("Conv", ins, kernel_shape=[k, k], group=group, **kw)

    def bn(self, x, c):
        r = self.rng
        ins = [x, self.const("gamma", r.uniform(0.5, 1.5, c).astype(np.float32)),
               self.const("beta", r.normal(0, 0.3, c).astype(np.float32)),
               self.const("mean", r.normal(0, 0.3, c).astype(np.float32)),
               self.const("var", r.uniform(0.5, 2.0, c).astype(np.float32))]
        return self.node("BatchNormalization", ins, epsilon=1e-5)

    def relu6(self, x):
        return self.node("Clip", [x, self.const("lo", np.float32(0)),
                                  self.const("hi", np.float32(6))])

    def fc_gemm(self, x, fin, fout):
        w = self.rng.normal(0, 1.0 / np.sqrt(fin), (fout, fin)).astype(np.float32)
        b = self.rng.normal(0, 0.2, fout).astype(np.float32)
        return self.node("Gemm", [x, self.const("fcw", w), self.const("fcb", b)], transB=1)

    def model(self, y, out_shape, in_type=F, out_type=F, check=True):
        graph = helper.make_graph(
            self.nodes, "cbr_test",
            [helper.make_tensor_value_info("input", in_type, ["N"] + self.in_shape[1:])],
            [helper.make_tensor_value_info(y, out_type, ["N"] + list(out_shape[1:]))],
            self.inits)
        m = helper.make_model(graph, producer_name="cbr-tests",
                              opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 7
        if check:
            onnx.checker.check_model(m)
        return m


# ---- float models (calibrated by cbr) --------------------------------------------------------
# Each builder returns (graph, output tensor name); build() makes the model.

def m_pads_asym(r):
    g = G(r, [1, 3, 9, 10])
    y = g.node("Relu", [g.conv("input", 3, 8, 3, pads=[0, 1, 2, 1])])
    return g, y


def m_same_upper(r):
    g = G(r, [1, 4, 9, 9])
    y = g.node("Relu", [g.bn(g.conv("input", 4, 8, 4, strides=[2, 2], auto_pad="SAME_UPPER",
                                    bias=False), 8)])
    return g, y


def m_same_lower(r):
    g = G(r, [1, 4, 9, 9])
    y = g.node("Relu", [g.bn(g.conv("input", 4, 8, 4, strides=[2, 2], auto_pad="SAME_LOWER",
                                    bias=False), 8)])
    return g, y


def m_valid_dilated_relu6(r):
    g = G(r, [1, 3, 12, 11])
    y = g.relu6(g.conv("input", 3, 6, 3, dilations=[2, 2], auto_pad="VALID"))
    return g, y


def m_strided_1x1_none(r):
    g = G(r, [1, 5, 7, 8])
    y = g.conv("input", 5, 7, 1, strides=[2, 3])   # no activation: signed output
    return g, y


def m_groups_leaky(r):
    g = G(r, [1, 8, 8, 8])
    y = g.node("LeakyRelu", [g.conv("input", 8, 12, 3, group=4, pads=[1, 1, 1, 1])],
               alpha=0.1)
    return g, y


def m_depthwise_bn_relu6(r):
    g = G(r, [1, 6, 10, 10])
    y = g.conv("input", 6, 6, 3, group=6, strides=[2, 2], pads=[1, 1, 1, 1])
    y = g.relu6(g.bn(y, 6))
    y = g.node("Relu", [g.bn(g.conv(y, 6, 10, 1, bias=False), 10)])   # pointwise after it
    return g, y


def m_maxpool_pad(r):
    g = G(r, [1, 3, 11, 11])
    y = g.node("Relu", [g.bn(g.conv("input", 3, 8, 3, pads=[1, 1, 1, 1]), 8)])
    y = g.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    return g, y


def m_maxpool_ceil(r):
    g = G(r, [1, 2, 9, 9])
    y = g.node("Relu", [g.conv("input", 2, 5, 3, pads=[1, 1, 1, 1])])
    y = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    return g, y


def m_avgpool_ceil(r):
    g = G(r, [1, 3, 10, 10])
    y = g.node("Relu", [g.conv("input", 3, 6, 3)])
    y = g.node("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    return g, y


def m_avgpool_pads_include(r):
    g = G(r, [1, 3, 8, 8])
    y = g.node("Relu", [g.conv("input", 3, 6, 3, pads=[1, 1, 1, 1])])
    y = g.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
               count_include_pad=1)
    return g, y


def m_gap_gemm(r):
    g = G(r, [1, 3, 8, 8])
    y = g.node("Relu", [g.bn(g.conv("input", 3, 16, 3, pads=[1, 1, 1, 1]), 16)])
    y = g.node("GlobalAveragePool", [y])
    y = g.fc_gemm(g.node("Flatten", [y], axis=1), 16, 10)
    return g, y


def m_reshape_matmul(r):
    g = G(r, [1, 2, 6, 6])
    y = g.node("Relu", [g.conv("input", 2, 4, 3, strides=[2, 2], pads=[1, 1, 1, 1])])
    y = g.node("Reshape", [y, g.const("shape", np.array([0, -1], np.int64))])
    w = r.normal(0, 1 / np.sqrt(36), (36, 7)).astype(np.float32)
    y = g.node("MatMul", [y, g.const("mmw", w)])
    return g, y


def m_residual(r):
    g = G(r, [1, 8, 8, 8])
    a = g.node("Relu", [g.bn(g.conv("input", 8, 8, 3, pads=[1, 1, 1, 1], bias=False), 8)])
    b = g.bn(g.conv(a, 8, 8, 3, pads=[1, 1, 1, 1], bias=False), 8)
    y = g.node("Relu", [g.node("Add", [a, b])])
    return g, y


def m_softmax_tail(r):
    g = G(r, [1, 1, 8, 8])
    y = g.node("Relu", [g.bn(g.conv("input", 1, 6, 3, pads=[1, 1, 1, 1]), 6)])
    y = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = g.fc_gemm(g.node("Flatten", [y]), 96, 10)
    y = g.node("Softmax", [y], axis=1)
    return g, y


def m_lenet_chain(r):
    g = G(r, [1, 1, 14, 14])
    y = g.node("Relu", [g.bn(g.conv("input", 1, 6, 5, pads=[2, 2, 2, 2]), 6)])
    y = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = g.node("Relu", [g.bn(g.conv(y, 6, 12, 3), 12)])
    y = g.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = g.node("Relu", [g.fc_gemm(g.node("Flatten", [y]), 12 * 2 * 2, 20)])
    y = g.fc_gemm(y, 20, 10)
    return g, y


# ---- quantized models (scales and zero points in the graph) ---------------------------------

def _qparams(r, lo, hi, dtype):
    """Scale and zero point (TFLite style, 0 representable) of the real range [lo, hi]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    info = np.iinfo(dtype)
    scale = (hi - lo) / (info.max - info.min)
    zp = int(np.clip(round(info.min - lo / scale), info.min, info.max))
    return np.float32(scale), dtype(zp)


def _qweights(r, cout, cin, k):
    w = r.normal(0, 1.0 / np.sqrt(cin * k * k), (cout, cin, k, k))
    ws = (np.abs(w).reshape(cout, -1).max(axis=1) / 127).astype(np.float32)
    wq = np.clip(np.rint(w / ws.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    return wq, ws


def m_qlinearconv(r):
    """QuantizeLinear -> QLinearConv (uint8 activations, per-channel int8 weights, int32 bias)
    -> DequantizeLinear: the shape onnxruntime's static quantizer gives a conv."""
    g = G(r, [1, 3, 8, 8])
    cin, cout, k = 3, 8, 3
    xs, xz = _qparams(r, -1.0, 1.0, np.uint8)
    wq, ws = _qweights(r, cout, cin, k)
    bq = np.rint(r.normal(0, 0.2, cout) / (xs * ws)).astype(np.int32)
    ys, yz = _qparams(r, 0.0, 2.0, np.uint8)
    xq = g.node("QuantizeLinear", ["input", g.const("xs", xs), g.const("xz", xz)])
    y = g.node("QLinearConv", [xq, g.const("xs", xs), g.const("xz", xz), g.const("wq", wq),
                               g.const("ws", ws), g.const("wz", np.zeros(cout, np.int8)),
                               g.const("ys", ys), g.const("yz", yz), g.const("bq", bq)],
               kernel_shape=[k, k], pads=[1, 1, 1, 1], strides=[1, 1])
    y = g.node("DequantizeLinear", [y, g.const("ys", ys), g.const("yz", yz)])
    return g, y


def m_qdq(r):
    """The Q/DQ form: DQ(int8 x), DQ(int8 per-channel weights), DQ(int32 bias) -> Conv ->
    Relu -> Q -> DQ, twice."""
    g = G(r, [1, 4, 7, 7])
    xs, xz = _qparams(r, -1.5, 1.5, np.int8)
    x = g.node("DequantizeLinear", [g.node("QuantizeLinear", ["input", g.const("xs", xs),
                                                               g.const("xz", xz)]),
                                    g.const("xs", xs), g.const("xz", xz)])
    cin = 4
    for cout, lo_hi in ((8, 2.5), (6, 2.0)):
        wq, ws = _qweights(r, cout, cin, 3)
        w = g.node("DequantizeLinear", [g.const("wq", wq), g.const("ws", ws),
                                        g.const("wz", np.zeros(cout, np.int8))], axis=0)
        bq = np.rint(r.normal(0, 0.2, cout) / (xs * ws)).astype(np.int32)
        b = g.node("DequantizeLinear", [g.const("bq", bq), g.const("bs", xs * ws),
                                        g.const("bz", np.zeros(cout, np.int32))], axis=0)
        y = g.node("Relu", [g.node("Conv", [x, w, b], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
        xs, xz = _qparams(r, 0.0, lo_hi, np.int8)
        x = g.node("DequantizeLinear", [g.node("QuantizeLinear", [y, g.const("ys", xs),
                                                                   g.const("yz", xz)]),
                                        g.const("ys", xs), g.const("yz", xz)])
        cin = cout
    return g, x


CASES = [
    ("pads_asym", m_pads_asym, "asymmetric explicit pads, Conv+Relu"),
    ("same_upper", m_same_upper, "auto_pad SAME_UPPER, stride 2, even kernel, Conv+BN+Relu"),
    ("same_lower", m_same_lower, "auto_pad SAME_LOWER, stride 2, even kernel, Conv+BN+Relu"),
    ("valid_dilated_relu6", m_valid_dilated_relu6, "auto_pad VALID, dilation 2, Clip(0,6)"),
    ("strided_1x1", m_strided_1x1_none, "1x1 conv, strides 2x3, no activation"),
    ("groups_leaky", m_groups_leaky, "groups 4, LeakyRelu(0.1)"),
    ("depthwise", m_depthwise_bn_relu6, "depthwise stride 2 + BN + Clip(0,6), pointwise"),
    ("maxpool_pad", m_maxpool_pad, "MaxPool 3x3/2 with pads"),
    ("maxpool_ceil", m_maxpool_ceil, "MaxPool 2x2/2 ceil_mode on an odd size"),
    ("avgpool_ceil", m_avgpool_ceil, "AveragePool 3x3/2 ceil_mode, count_include_pad 0"),
    ("avgpool_include_pad", m_avgpool_pads_include, "AveragePool pads, count_include_pad 1"),
    ("gap_gemm", m_gap_gemm, "GlobalAveragePool, Flatten, Gemm"),
    ("reshape_matmul", m_reshape_matmul, "Reshape(0,-1), MatMul"),
    ("residual", m_residual, "residual Add of two conv branches, Relu after"),
    ("softmax_tail", m_softmax_tail, "Softmax tail on the host"),
    ("lenet_chain", m_lenet_chain, "5 layers: conv, pools, two Gemm"),
    ("qlinearconv", m_qlinearconv, "QuantizeLinear, QLinearConv (uint8/int8), Dequantize"),
    ("qdq", m_qdq, "Q/DQ pairs around two Conv+Relu"),
]
QUANT = {"qlinearconv", "qdq"}


def build(name, seed):
    """(model, input shape (1, C, H, W), output shape (1, ...)) of case NAME with the weights
    of SEED; the output shape comes from the reference evaluator."""
    import onnxref
    for i, (n, fn, _) in enumerate(CASES):
        if n == name:
            g, y = fn(np.random.default_rng([seed, i]))
            probe = g.model(y, [1])
            x = np.zeros(g.in_shape, np.float32)
            shape = next(iter(onnxref.run(probe, {"input": x}).values())).shape
            return g.model(y, shape), list(g.in_shape), list(shape)
    raise KeyError(name)


# ---- broken models ------------------------------------------------------------------------

def _tiny_conv(seed, tail_ops=()):
    g = G(np.random.default_rng(seed), [1, 2, 5, 5])
    y = g.node("Relu", [g.conv("input", 2, 4, 3, pads=[1, 1, 1, 1])])
    for op in tail_ops:
        y = g.node(op, [y])
    return g, y


def bad_models(folder, seed):
    """Writes the broken models into FOLDER; returns [(file, what, words the error names)]."""
    out = []

    def write(fname, data, what, words):
        path = os.path.join(folder, fname)
        with open(path, "wb") as f:
            f.write(data)
        out.append((path, what, words))

    # Two nodes the device cannot run, mid-graph: the error lists each, by name and op.
    g, y = _tiny_conv(seed)
    a = g.node("Sin", [y])
    b = g.conv(a, 4, 4, 1)
    c = g.node("Erf", [b])
    m = g.model(g.node("Relu", [c]), [1, 4, 5, 5])
    sin = [n for n in m.graph.node if n.op_type == "Sin"][0].name
    erf = [n for n in m.graph.node if n.op_type == "Erf"][0].name
    write("unsupported.onnx", m.SerializeToString(), "two unsupported operators",
          ["Sin", sin, "Erf", erf])

    good = g.model(y, [1, 4, 5, 5]).SerializeToString()
    write("truncated.onnx", good[:len(good) * 2 // 3], "a file cut at two thirds", [])
    write("empty.onnx", b"", "an empty file", [])
    write("text.onnx", b"this is not a protobuf\n" * 4, "a text file", [])

    # raw_data one element short of the weight's dims.
    g, y = _tiny_conv(seed)
    m = g.model(y, [1, 4, 5, 5])
    w = m.graph.initializer[0]
    w.raw_data = numpy_helper.to_array(w).tobytes()[:-4]
    write("short_raw.onnx", m.SerializeToString(), "raw_data shorter than the dims", [w.name])

    # External data outside the model's folder, relative and absolute.
    for fname, loc in (("escape_rel.onnx", "../outside.bin"), ("escape_abs.onnx", "/etc/passwd")):
        g, y = _tiny_conv(seed)
        m = g.model(y, [1, 4, 5, 5])
        w = m.graph.initializer[0]
        nbytes = len(numpy_helper.to_array(w).tobytes())
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", str(nbytes))):
            e = w.external_data.add()
            e.key, e.value = k, v
        write(fname, m.SerializeToString(), "external data at %s" % loc, [w.name])
    outside = os.path.join(os.path.dirname(os.path.abspath(folder)), "outside.bin")
    with open(outside, "wb") as f:
        f.write(bytes(4096))
    # A symlink in the folder that leads out of it.
    g, y = _tiny_conv(seed)
    m = g.model(y, [1, 4, 5, 5])
    w = m.graph.initializer[0]
    nbytes = len(numpy_helper.to_array(w).tobytes())
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "link.bin"), ("offset", "0"), ("length", str(nbytes))):
        e = w.external_data.add()
        e.key, e.value = k, v
    os.symlink(outside, os.path.join(folder, "link.bin"))
    write("escape_link.onnx", m.SerializeToString(), "external data via a symlink leading out",
          [w.name])

    # A dtype the loader does not take (float64 weights).
    g, y = _tiny_conv(seed)
    m = g.model(y, [1, 4, 5, 5])
    w = m.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float64), w.name))
    write("float64_weights.onnx", m.SerializeToString(), "float64 weights", [w.name])

    # A node reading a tensor nobody defines.
    g, y = _tiny_conv(seed)
    g.nodes.append(helper.make_node("Relu", ["no_such_tensor"], ["dangling"], name="DanglingRelu"))
    m = g.model(y, [1, 4, 5, 5], check=False)  # the checker refuses it too
    write("undefined_input.onnx", m.SerializeToString(), "a node input nobody produces",
          ["no_such_tensor"])
    return out


def main():
    import argparse
    ap = argparse.ArgumentParser(description="write every test model as OUTDIR/NAME.onnx")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    for name, _, what in CASES:
        m, ishape, oshape = build(name, args.seed)
        onnx.save(m, os.path.join(args.outdir, name + ".onnx"))
        print("%-20s %-16s -> %-16s %s" % (name, ishape, oshape, what))

if __name__ == "__main__":
    main()
