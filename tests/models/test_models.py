#!/usr/bin/python3
"""End-to-end tests of `cbr run` on ONNX models generated here (tests/models/modelgen.py).

For every generated model (padding modes, strides, dilations, groups and depthwise, BN,
Relu/Clip/LeakyRelu, the pools with ceil_mode and pads, Gemm/MatMul, residual Add, Softmax,
QLinearConv, Q/DQ), on random inputs from the printed seed:

  - `cbr run --float` (the float model on the host) agrees with onnxref.py, an independent
    NumPy evaluator written from the ONNX specification (Debian's python3-onnx 1.12 has no
    onnx.reference), to float32 rounding;
  - the int8 output (`--int8`) and the dequantized float output are byte-identical between
    -d cpu and every other device given (--devices; make test-models gives
    cpu,sim:16x16,sim:4x8);
  - the dequantized output is within the quantization error of the float model (the bound is
    derived from the output's quantization step, see within_quant_error());
  - quantized graphs (QLinearConv, Q/DQ) need no calibration and agree with onnxref's
    integer semantics: one output step for one layer (the device rounds in fixed point,
    ONNX in float: NUMERICS.md), two more for each further layer (a step of difference in
    its input moves the output by up to a step or so);
  - ranges saved once give the same bytes as calibrating again;
  - the digits demo model (models/digits): cpu and sim byte-identical on the held-out set,
    int8 accuracy within 1 percentage point of the float model's; a progress bar on a
    terminal and a silent stderr otherwise; --stats names cycles and utilization;
  - the error bound itself: each of a list of importer mistakes (MUTATIONS: SAME_UPPER read
    as SAME_LOWER, pads, count_include_pad, LeakyRelu as Relu, an unfolded BN, a dropped
    Add, ...) applied to the float model must fall outside it.

And bad inputs: broken models (unsupported operators, truncated, empty, not a protobuf,
raw_data of the wrong length, external data outside the model's folder (relative, absolute,
through a symlink), float64 weights, an undefined tensor), a float model without calibration,
inputs of the wrong shape or dtype: each must exit non-zero (not crash), print an error
naming the problem and the file, and leave no output file (an existing one untouched).
External data inside the folder must work and give the inline model's output.

    CBR=build/bin/cbr /usr/bin/python3 tests/models/test_models.py [--seed S]
        [--devices cpu,sim] [--case NAME] [--jobs J] [--keep]

The seed comes from --seed, else $CBR_SEED, else the clock, and is printed first. Exits
non-zero on any failure; the last line is "N passed, M failed".
"""

import argparse
import concurrent.futures
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx  # noqa: E402
import modelgen  # noqa: E402
import onnxref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
DIGITS = os.path.join(ROOT, "models", "digits")
CBR = os.environ.get("CBR", "build/bin/cbr")
TIMEOUT = 300
BATCH = 3            # samples run through each generated model
CALIB_EXTRA = 29     # calibration samples besides the test inputs

_lock = threading.Lock()
passed = 0
failed = 0


def record(ok, what, details=()):
    global passed, failed
    with _lock:
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL: " + what)
            for line in details:
                print("    " + str(line))
        sys.stdout.flush()
    return ok


def run(argv):
    try:
        p = subprocess.run([CBR] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    except OSError as e:
        return "exec failed: %s" % e, "", ""


def cmdline(argv):
    return shlex.join([CBR] + argv)


def cbr_ok(argv, what):
    """Runs cbr; a non-zero exit is recorded as a failure. Returns (ok, stdout)."""
    rc, so, se = run(argv)
    ok = rc == 0
    if not ok:
        record(False, what + ": cbr failed",
               ["exit %s" % rc, "stderr: %s" % se.strip()[-2000:], "command: " + cmdline(argv)])
    return ok, so


def load(path):
    return np.load(path, allow_pickle=False)


def save_mode():
    """How this cbr saves calibrated ranges: ("save", "--save") or ("quantize", None)."""
    rc, so, _ = run(["run", "--help"])
    if rc == 0 and "--save" in so:
        return "save"
    rc, _, _ = run(["quantize", "--help"])
    return "quantize" if rc == 0 else None


def save_ranges(model, calib, out, what):
    """Calibrates MODEL on CALIB and saves the ranges to OUT, the way the CLI documents."""
    mode = save_mode()
    if mode is None:
        return record(False, what + ": neither `cbr run --save` nor `cbr quantize` exists")
    if mode == "save":
        argv = ["run", "-d", "cpu", model, "--calibrate", calib, "--save", out]
    else:
        argv = ["quantize", model, "--calibrate", calib, "-o", out]
    ok, _ = cbr_ok(argv, what)
    return ok and record(os.path.isfile(out), what + ": the saved model exists", [out])


# ---- checks ----------------------------------------------------------------------------------

def close_float(got, ref, step=None):
    """cbr's float32 executor against onnxref's float64: float32 rounding over a few layers.
    In a Q/DQ graph (step: its output scale) a QuantizeLinear rounds a value that lies within
    float32's error of half a step to one side in float32 and to the other in float64 (seed
    229: 2 of 882 outputs one step apart), so there under 1% of the outputs may be off by
    one output step; a real mistake moves many more."""
    ref = np.asarray(ref, np.float64)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    if got.shape != ref.shape:
        return False, float("inf"), tol
    e = np.abs(got.astype(np.float64) - ref)
    err = float(e.max()) if e.size else 0.0
    if step is None or err <= tol:
        return err <= tol, err, tol
    off = e > tol
    return bool(np.all(e[off] <= step + tol) and 100 * int(off.sum()) < e.size), err, tol


def quant_step(ref):
    """The quantization step of a tensor with ref's range, as cbr calibrates it (int8,
    asymmetric, 0 included)."""
    lo, hi = min(float(ref.min()), 0.0), max(float(ref.max()), 0.0)
    return (hi - lo) / 255.0 or 1.0


# Operators that pass their input's quantization on (pooling on int8 keeps the scale) or that
# follow the last int8 tensor on the host.
SAME_SCALE = {"MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Softmax",
              "Identity"}


def output_step(model, x):
    """The quantization step of the last int8 tensor before the output: the widest range
    among the output and the tensors it comes from through SAME_SCALE operators."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    producer = {o: n for n in m.graph.node for o in n.output}
    names = [m.graph.output[0].name]
    while names[-1] in producer and producer[names[-1]].op_type in SAME_SCALE:
        names.append(producer[names[-1]].input[0])
    del m.graph.output[:]
    m.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                          for n in names)
    return max(quant_step(v) for v in onnxref.run(m, {"input": x}).values())


def within_quant_error(deq, ref, layers, step):
    """The dequantized int8 output against the float model, in steps of the output's
    quantization (output_step). One int8 layer rounds its input and its output (half a step
    each) and its weights (a 1/254 relative error each), and the rounding of the inputs adds
    up over the reduction; where terms cancel, the weights' error is large against the
    result, and a layer after another multiplies the first one's error by its weights. Over
    1374 seeds of every case the worst were 6.3 steps for one layer (same_lower), 7.9 for
    two (depthwise: a pointwise layer after a depthwise one) and 6.2 for four (lenet_chain);
    the mean error up to 2.0 steps (gap_gemm: 30 outputs, all of an image sharing its pooled
    inputs' rounding). The bound is 3 steps per int8 layer plus 6 (9, 12, 18), and the mean
    error must stay under a quarter of it (a systematic offset fails there). MUTATIONS
    checks that this is tight enough to see a wrong padding, pool, activation or a missing
    BatchNorm or Add: over 500 seeds the least of them was 14.8 steps off (LeakyRelu taken
    for Relu)."""
    bound = (3 * layers + 6) * step
    err = np.abs(deq.astype(np.float64) - ref)
    return (deq.shape == ref.shape and float(err.max()) <= bound
            and float(err.mean()) <= bound / 4), float(err.max()), float(err.mean()), bound


def quantized_layers(model):
    """The number of layers cbr runs in int8: convs, QLinearConvs and fully connected ones."""
    return sum(n.op_type in ("Conv", "QLinearConv", "Gemm", "MatMul") for n in model.graph.node)


def _set_attr(node, name, value):
    from onnx import helper
    for i, at in enumerate(node.attribute):
        if at.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


def _first(model, op):
    return [n for n in model.graph.node if n.op_type == op][0]


def _bn_to_identity(model):
    n = _first(model, "BatchNormalization")
    del n.input[1:]
    n.op_type = "Identity"
    del n.attribute[:]


def _drop_add(model):
    n = _first(model, "Add")
    n.op_type = "Identity"
    del n.input[0]


# Mistakes an importer could make, each as a change to a generated model: the error bound of
# within_quant_error() must see every one (else it is too loose to test what it claims).
MUTATIONS = [
    ("same_upper", "SAME_UPPER read as SAME_LOWER",
     lambda m: _set_attr(_first(m, "Conv"), "auto_pad", "SAME_LOWER")),
    ("same_lower", "SAME_LOWER read as SAME_UPPER",
     lambda m: _set_attr(_first(m, "Conv"), "auto_pad", "SAME_UPPER")),
    ("pads_asym", "asymmetric pads made symmetric",
     lambda m: _set_attr(_first(m, "Conv"), "pads", [1, 1, 1, 1])),
    ("avgpool_include_pad", "count_include_pad ignored",
     lambda m: _set_attr(_first(m, "AveragePool"), "count_include_pad", 0)),
    ("groups_leaky", "LeakyRelu taken for Relu",
     lambda m: _set_attr(_first(m, "LeakyRelu"), "alpha", 0.0)),
    ("depthwise", "a BatchNormalization not folded", _bn_to_identity),
    ("residual", "the residual Add dropped", _drop_add),
    ("maxpool_pad", "MaxPool pads all moved to the end",
     lambda m: _set_attr(_first(m, "MaxPool"), "pads", [0, 0, 2, 2])),
]


def check_bound_sees_mistakes(seed):
    """Self-check of the tolerance: the float output of each mutated model, rounded to the
    output's quantization step, must fail within_quant_error() against the true model."""
    import copy
    for name, what, mutate in MUTATIONS:
        model, in_shape, _ = modelgen.build(name, seed)
        index = [n for n, _, _ in modelgen.CASES].index(name)
        x = np.random.default_rng([seed, index, 7]).uniform(
            -1.0, 1.0, [BATCH] + in_shape[1:]).astype(np.float32)
        ref = next(iter(onnxref.run(model, {"input": x}).values()))
        bad = copy.deepcopy(model)
        mutate(bad)
        wrong = next(iter(onnxref.run(bad, {"input": x}).values()))
        step = output_step(model, x)
        wrong = (np.round(wrong / step) * step).astype(np.float32)
        ok, emax, emean, bound = within_quant_error(wrong, ref, quantized_layers(model), step)
        record(not ok, "the error bound sees a mistake: %s (%s)" % (what, name),
               ["max |error| %.4g, mean %.4g, bound %.4g: the bound is too loose" %
                (emax, emean, bound)])


# ---- generated models ---------------------------------------------------------------------

def check_case(tmp, seed, index, name, devices):
    model, in_shape, _ = modelgen.build(name, seed)
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name + ".onnx")
    onnx.save(model, path)
    r = np.random.default_rng([seed, index, 7])
    x = r.uniform(-1.0, 1.0, [BATCH] + in_shape[1:]).astype(np.float32)
    calib = np.concatenate([x, r.uniform(-1.0, 1.0, [CALIB_EXTRA] + in_shape[1:])
                            .astype(np.float32)])
    xp, cp = os.path.join(d, "x.npy"), os.path.join(d, "calib.npy")
    np.save(xp, x)
    np.save(cp, calib)
    ref = next(iter(onnxref.run(model, {"input": x}).values()))
    quant = name in modelgen.QUANT
    tag = "%s (seed %d)" % (name, seed)

    fp = os.path.join(d, "float.npy")
    ok, _ = cbr_ok(["run", "-d", "cpu", path, "--input", xp, "--float", "--output", fp],
                   tag + " --float")
    if ok:
        got = load(fp)
        good, err, tol = close_float(got, ref, quant_step_from_graph(model) if quant else None)
        record(good and got.dtype == np.float32, tag + ": --float against onnxref",
               ["shape %s dtype %s, want %s float32" % (got.shape, got.dtype, ref.shape),
                "max |error| %.3g > %.3g" % (err, tol)])

    calib_args = [] if quant else ["--calibrate", cp]
    outs = {}
    for dev in devices:
        for kind, extra in (("int8", ["--int8"]), ("deq", [])):
            out = os.path.join(d, "%s_%s.npy" % (kind, dev.replace(":", "_")))
            argv = ["run", "-d", dev, path, "--input", xp, "--output", out] + calib_args + extra
            ok, _ = cbr_ok(argv, "%s -d %s %s" % (tag, dev, kind))
            if ok:
                outs[(dev, kind)] = (load(out), cmdline(argv))
    for kind in ("int8", "deq"):
        base = outs.get((devices[0], kind))
        for dev in devices[1:]:
            other = outs.get((dev, kind))
            if base is None or other is None:
                continue
            same = base[0].dtype == other[0].dtype and base[0].shape == other[0].shape and \
                base[0].tobytes() == other[0].tobytes()
            diff = int(np.sum(base[0] != other[0])) if base[0].shape == other[0].shape else -1
            record(same, "%s: %s output identical on %s and %s" % (tag, kind, devices[0], dev),
                   ["%d elements differ" % diff, base[1], other[1]])
    i8 = outs.get((devices[0], "int8"))
    if i8 is not None:
        record(i8[0].dtype == np.int8 and i8[0].shape == ref.shape,
               tag + ": --int8 writes int8 of the output's shape",
               ["got %s %s, want int8 %s" % (i8[0].dtype, i8[0].shape, ref.shape)])
    deq = outs.get((devices[0], "deq"))
    if deq is not None:
        layers = quantized_layers(model)
        good, emax, emean, bound = within_quant_error(deq[0], ref, layers,
                                                      output_step(model, x))
        if quant:
            # the graph's own scales: one output step for the first layer, two per further one
            bound = (2 * layers - 1) * quant_step_from_graph(model) * 1.0001
            emax = float(np.abs(deq[0] - ref).max())
            good = deq[0].shape == ref.shape and emax <= bound
        record(good and deq[0].dtype == np.float32,
               tag + ": dequantized output within quantization error of the float model",
               ["dtype %s shape %s (want float32 %s)" % (deq[0].dtype, deq[0].shape, ref.shape),
                "max |error| %.4g, mean %.4g, bound %.4g (%d layers)" %
                (emax, emean, bound, layers), deq[1]])
    return name


def quant_step_from_graph(model):
    """The output scale of a quantized graph: the scale of its last DequantizeLinear."""
    inits = {t.name: t for t in model.graph.initializer}
    last = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][-1]
    return float(onnx.numpy_helper.to_array(inits[last.input[1]]))


def check_saved_ranges(tmp, seed, devices):
    """Ranges saved once give the same int8 bytes as calibrating in the run."""
    name = "lenet_chain"
    d = os.path.join(tmp, name)
    path, xp, cp = (os.path.join(d, f) for f in (name + ".onnx", "x.npy", "calib.npy"))
    a = os.path.join(d, "int8_%s.npy" % devices[0].replace(":", "_"))
    if not os.path.isfile(a):
        return record(False, "saved ranges: the %s run left no output to compare" % name)
    q = os.path.join(d, name + ".cbrq")
    if not save_ranges(path, cp, q, "saved ranges"):
        return False
    b = os.path.join(d, "int8_saved.npy")
    ok, _ = cbr_ok(["run", "-d", devices[-1], q, "--input", xp, "--int8", "--output", b],
                   "saved ranges: run without --calibrate")
    if ok:
        record(load(a).tobytes() == load(b).tobytes(),
               "saved ranges: same int8 output as calibrating in the run", [a, b])
    return ok


# ---- the digits demo model ----------------------------------------------------------------

def check_digits(tmp, devices):
    model = os.path.join(DIGITS, "digits.onnx")
    x, y = os.path.join(DIGITS, "heldout_x.npy"), load(os.path.join(DIGITS, "heldout_y.npy"))
    calib = os.path.join(DIGITS, "calib_x.npy")
    fp = os.path.join(tmp, "digits_float.npy")
    ok, _ = cbr_ok(["run", "-d", "cpu", model, "--input", x, "--float", "--output", fp],
                   "digits --float")
    acc_f = None
    if ok:
        f = load(fp)
        ref = onnxref.run(onnx.load(model), {"input": load(x)})["logits"]
        good, err, tol = close_float(f, ref)
        record(good, "digits: --float against onnxref", ["max |error| %.3g > %.3g" % (err, tol)])
        acc_f = float(np.mean(f.argmax(1) == y))
    outs = {}
    for dev in devices:
        out = os.path.join(tmp, "digits_%s.npy" % dev.replace(":", "_"))
        ok, _ = cbr_ok(["run", "-d", dev, model, "--input", x, "--calibrate", calib,
                        "--output", out], "digits -d %s" % dev)
        if ok:
            outs[dev] = load(out)
    for dev in devices[1:]:
        if devices[0] in outs and dev in outs:
            record(outs[dev].tobytes() == outs[devices[0]].tobytes(),
                   "digits: %s and %s outputs identical" % (devices[0], dev))
    if acc_f is not None and devices[0] in outs:
        acc_q = float(np.mean(outs[devices[0]].argmax(1) == y))
        print("digits: held-out accuracy float %.2f%%, int8 %.2f%% (%d samples)" %
              (100 * acc_f, 100 * acc_q, len(y)))
        record(abs(acc_q - acc_f) <= 0.01, "digits: int8 accuracy within 1 point of float",
               ["float %.4f, int8 %.4f" % (acc_f, acc_q)])
        record(acc_f >= 0.9, "digits: the float model is a trained one (>= 90%)",
               ["float accuracy %.4f" % acc_f])


# ---- bad inputs ----------------------------------------------------------------------------

def expect_error(argv, what, words=()):
    """A failure: non-zero exit (no signal, no timeout), an error on stderr containing
    every word of WORDS, nothing at the --output path."""
    out = argv[argv.index("--output") + 1]
    rc, so, se = run(argv)
    problems = []
    if not isinstance(rc, int) or rc <= 0:
        problems.append("exit %s (want a non-zero exit, not a crash)" % rc)
    if not se.strip():
        problems.append("nothing on stderr")
    low = se.lower()
    missing = [w for w in words if w.lower() not in low]
    if missing:
        problems.append("stderr lacks %s" % missing)
    if os.path.exists(out):
        problems.append("an output file was left at %s" % out)
    record(not problems, "bad input: " + what,
           problems + ["stderr: %s" % se.strip()[:1500], "command: " + cmdline(argv)])


def check_external_ok(tmp, seed, xp):
    """External data inside the model's folder is fine: same output as the inline model."""
    g, y = modelgen._tiny_conv(seed)
    m = g.model(y, [1, 4, 5, 5])
    d = os.path.join(tmp, "external")
    os.makedirs(d)
    inline, ext = os.path.join(d, "inline.onnx"), os.path.join(d, "ext.onnx")
    onnx.save(m, inline)
    onnx.save_model(m, ext, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    if not record(os.path.getsize(os.path.join(d, "weights.bin")) > 0,
                  "external data: onnx wrote weights.bin"):
        return
    outs = []
    for path in (inline, ext):
        out = path + ".npy"
        ok, _ = cbr_ok(["run", "-d", "cpu", path, "--input", xp, "--calibrate", xp,
                        "--int8", "--output", out], "external data: " + os.path.basename(path))
        outs.append(load(out) if ok else None)
    if outs[0] is not None and outs[1] is not None:
        record(outs[0].tobytes() == outs[1].tobytes(),
               "external data in the model's folder: same output as inline")


def check_bad(tmp, seed):
    d = os.path.join(tmp, "bad", "models")
    os.makedirs(d)
    x = np.random.default_rng([seed, 99]).uniform(-1, 1, (2, 2, 5, 5)).astype(np.float32)
    xp = os.path.join(tmp, "bad", "x.npy")
    np.save(xp, x)
    out = os.path.join(tmp, "bad", "out.npy")
    for path, what, words in modelgen.bad_models(d, seed):
        expect_error(["run", "-d", "cpu", path, "--input", xp, "--calibrate", xp,
                      "--output", out], what, [os.path.basename(path)] + list(words))
    check_external_ok(tmp, seed, xp)
    expect_error(["run", "-d", "cpu", os.path.join(d, "missing.onnx"), "--input", xp,
                  "--calibrate", xp, "--output", out], "a model file that does not exist",
                 ["missing.onnx"])

    # A good model, bad uses of it.
    g, y = modelgen._tiny_conv(seed)
    mp = os.path.join(tmp, "bad", "good.onnx")
    onnx.save(g.model(y, [1, 4, 5, 5]), mp)
    expect_error(["run", "-d", "cpu", mp, "--input", xp, "--output", out],
                 "a float model without --calibrate or saved ranges", ["calibrat"])
    for shape, what in (((2, 3, 5, 5), "3 channels for 2"), ((2, 2, 5), "a 3-D input"),
                        ((2, 2, 6, 5), "height 6 for 5")):
        wp = os.path.join(tmp, "bad", "wrong.npy")
        np.save(wp, np.zeros(shape, np.float32))
        expect_error(["run", "-d", "cpu", mp, "--input", wp, "--calibrate", xp, "--output",
                      out], "input of shape %s (%s)" % (shape, what), ["wrong.npy"])
    wp = os.path.join(tmp, "bad", "f64.npy")
    np.save(wp, x.astype(np.float64))
    expect_error(["run", "-d", "cpu", mp, "--input", wp, "--calibrate", xp, "--output", out],
                 "a float64 input", ["f64.npy"])
    expect_error(["run", "-d", "cpu", mp, "--input", os.path.join(tmp, "none.npy"),
                  "--calibrate", xp, "--output", out], "an input file that does not exist",
                 ["none.npy"])
    # An existing output file is left untouched by a failed run.
    with open(out, "wb") as f:
        f.write(b"keep me")
    rc, _, _ = run(["run", "-d", "cpu", os.path.join(d, "truncated.onnx"), "--input", xp,
                    "--calibrate", xp, "--output", out])
    with open(out, "rb") as f:
        kept = f.read()
    record(rc != 0 and kept == b"keep me", "bad input: an existing output survives a failure",
           ["exit %s, output now %r" % (rc, kept[:40])])
    os.remove(out)


def check_help():
    rc, so, se = run(["run", "--help"])
    want = ["-d", "--input", "--calibrate", "--output", "--int8", "--stats", "--float"]
    missing = [w for w in want if w not in so]
    record(rc == 0 and not missing, "cbr run --help documents the contract's options",
           ["exit %s, missing %s, stderr %s" % (rc, missing, se.strip()[:300])])
    rc, so, _ = run(["--help"])
    record(rc == 0 and "run" in so.split(), "cbr --help lists run", ["exit %s" % rc])


def check_stats(tmp, devices):
    """--stats on a device run gives a line per device layer with cycles and utilization."""
    name = "lenet_chain"
    d = os.path.join(tmp, name)
    path, xp, cp = (os.path.join(d, f) for f in (name + ".onnx", "x.npy", "calib.npy"))
    dev = devices[-1]
    argv = ["run", "-d", dev, path, "--input", xp, "--calibrate", cp, "--stats"]
    rc, so, se = run(argv)
    text = (so + se).lower()
    record(rc == 0 and "cycles" in text and "util" in text,
           "--stats on %s reports cycles and utilization" % dev,
           ["exit %s" % rc, "output: %s" % (so + se)[-1500:], "command: " + cmdline(argv)])


def check_chain(tmp, devices):
    """Consecutive device steps run as one job, and a tensor only the next step reads stays
    on the board where it fits: on one image (a batch stacks small layers instead), the
    depthwise case's dw -> pw tensor and lenet_chain's Gemm -> Gemm one are kept on
    sim:16x16 (--stats: out, then in), none on sim:4x8 (no BUF_COPY), and every device's
    int8 output equals the cpu's byte for byte."""
    for name in ("depthwise", "lenet_chain"):
        d = os.path.join(tmp, name)
        path, cp = os.path.join(d, name + ".onnx"), os.path.join(d, "calib.npy")
        x1 = os.path.join(d, "x1.npy")
        np.save(x1, np.load(os.path.join(d, "x.npy"))[:1])
        outs = {}
        for dev in ["cpu"] + [v for v in devices if v != "cpu"]:
            y = os.path.join(d, "y1_%s.npy" % dev.replace(":", "_"))
            argv = ["run", "-d", dev, path, "--input", x1, "--calibrate", cp, "--int8",
                    "--output", y, "--stats"]
            rc, so, se = run(argv)
            if not record(rc == 0 and os.path.isfile(y), "%s one image on %s" % (name, dev),
                          ["exit %s" % rc, se.strip()[-800:], "command: " + cmdline(argv)]):
                continue
            outs[dev] = np.load(y)
            kept = [ln.split()[-1] for ln in so.splitlines()
                    if " device " in ln and ln.split()[-1] in ("-", "in", "out", "in+out")]
            pairs = sum(1 for a, b in zip(kept, kept[1:]) if a in ("out", "in+out") and
                        b in ("in", "in+out"))
            if dev == "sim:16x16":
                record(pairs >= 1, "%s on %s keeps a tensor on the board" % (name, dev),
                       ["kept column %r" % kept, so[-1500:]])
            elif dev in ("cpu", "sim:4x8"):
                record(set(kept) <= {"-"}, "%s on %s keeps nothing (%s)" % (
                    name, dev, "no board" if dev == "cpu" else "no BUF_COPY"),
                    ["kept column %r" % kept])
        for dev, y in outs.items():
            record(y.dtype == outs["cpu"].dtype and np.array_equal(y, outs["cpu"]),
                   "%s one image: %s int8 output equals cpu's" % (name, dev))


def check_progress(tmp):
    """A run of 360 samples draws a progress bar when stderr is a terminal, and writes
    nothing to stderr when it is not."""
    import pty
    model = os.path.join(DIGITS, "digits.onnx")
    argv = ["run", "-d", "cpu", model, "--input", os.path.join(DIGITS, "heldout_x.npy"),
            "--calibrate", os.path.join(DIGITS, "calib_x.npy"),
            "--output", os.path.join(tmp, "progress.npy")]
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([CBR] + argv, stdout=subprocess.DEVNULL, stderr=slave,
                             stdin=subprocess.DEVNULL)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:      # EIO once the child has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        rc = p.wait(timeout=TIMEOUT)
    finally:
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    record(rc == 0 and "\r" in text and "360/360" in text,
           "a progress bar on a terminal for 360 samples",
           ["exit %s, stderr %r" % (rc, text[-300:]), "command: " + cmdline(argv)])
    rc, _, se = run(argv)
    record(rc == 0 and se == "", "no progress bar (nothing on stderr) when it is not a terminal",
           ["exit %s, stderr %r" % (rc, se[-300:])])


def main():
    global CBR
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int)
    ap.add_argument("--devices", default="cpu,sim",
                    help="comma-separated; the first is the reference (cpu,sim)")
    ap.add_argument("--case", action="append", help="only this generated case (repeatable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(os.environ.get("CBR_SEED", 0)) or \
        int(time.time()) % 100000
    print("seed %d (replay: --seed %d)" % (seed, seed))
    sys.stdout.flush()
    if not os.access(CBR, os.X_OK):
        sys.exit("test_models.py: %s is not an executable (set CBR)" % CBR)
    devices = args.devices.split(",")
    names = [n for n, _, _ in modelgen.CASES]
    if args.case:
        unknown = [c for c in args.case if c not in names]
        if unknown:
            sys.exit("test_models.py: unknown case %s; cases: %s" % (unknown, " ".join(names)))
        names = args.case
    tmp = tempfile.mkdtemp(prefix="cbr_models_")
    t0 = time.time()
    try:
        check_help()
        check_bound_sees_mistakes(seed)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            futs = [ex.submit(check_case, tmp, seed, [n for n, _, _ in modelgen.CASES].index(n),
                              n, devices) for n in names]
            for fu in futs:
                try:
                    print("  %s done" % fu.result())
                except Exception as e:  # a bug in the test or the generator is a failure
                    record(False, "a case raised %r" % e)
                sys.stdout.flush()
        if "lenet_chain" in names:
            check_saved_ranges(tmp, seed, devices)
            check_stats(tmp, devices)
        if "lenet_chain" in names and "depthwise" in names:
            check_chain(tmp, devices)
        if not args.case:
            check_digits(tmp, devices)
            check_progress(tmp)
            check_bad(tmp, seed)
    finally:
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%.0f s; %d passed, %d failed" % (time.time() - t0, passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
