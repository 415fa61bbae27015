#!/usr/bin/python3
"""End-to-end tests of `cbr conv` against the independent NumPy model in refmodel.py.

Runs the real CLI on random layers (every output byte compared), on bad inputs (non-zero
exit, a stderr message naming the file or option, no output file left and an existing one
untouched), and checks the help texts. Run from the repo root:

    CBR=build/bin/cbr /usr/bin/python3 tests/cli/test_cli.py [--seed S] [--layers N]
        [--device DEV] [--case I] [--jobs J] [--keep]

The seed comes from --seed, else $CBR_SEED, else the clock, and is printed first; layer I of
a seed is always the same layer, so `--seed S --case I --keep` replays one failure and keeps
its files. Exits non-zero on any failure; the last line is "N passed, M failed".
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layergen  # noqa: E402
import refmodel as rm  # noqa: E402

TIMEOUT = 60
CBR = os.environ.get("CBR", "build/bin/cbr")
DEVICE = "cpu"
COMPARE = None  # --compare-device: a second device whose output file must be byte-identical

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
                print("    " + line)
            sys.stdout.flush()


def run(argv):
    try:
        p = subprocess.run([CBR] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    except OSError as e:
        return "exec failed: %s" % e, "", ""


def cmdline(argv):
    return shlex.join([CBR] + argv)


def save(path, arr, version=None):
    if version is None:
        np.save(path, arr, allow_pickle=False)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, np.asarray(arr), version=version, allow_pickle=False)


def listing(d):
    return sorted(os.listdir(d))


def opt(rng, name, value):
    """One option, spelled `--name value` or `--name=value` at random."""
    if rng is not None and rng.random() < 0.4:
        return ["%s=%s" % (name, value)]
    return [name, str(value)]


# ---- random layers ---------------------------------------------------------------------------

def layer_argv(L, d):
    rng = L["rng"]
    ver = (2, 0) if L["npy_v2"] else None
    pdt = ">i4" if L["big_endian_params"] else "<i4"
    x = L["x"] if L["layout"] == "nchw" else np.ascontiguousarray(L["x"].transpose(0, 2, 3, 1))
    files = {"--input": ("in_x.npy", x), "--weights": ("wts.npy", L["w"]),
             "--bias": ("bias.npy", L["bias"].astype(pdt)),
             "--multiplier": ("mult.npy", L["mult"].astype(pdt)),
             "--shift": ("shift.npy", L["shift"].astype(pdt))}
    if L["act"] == "leaky":
        files["--neg-multiplier"] = ("nmult.npy", L["neg_mult"].astype(pdt))
        files["--neg-shift"] = ("nshift.npy", L["neg_shift"].astype(pdt))
    pairs = []
    for name, (fn, arr) in files.items():
        save(os.path.join(d, fn), arr, ver)
        pairs.append(opt(rng, name, os.path.join(d, fn)))
    pairs.append(opt(rng, "--input-zp", L["x_zp"]))
    pairs.append(opt(rng, "--output-zp", L["y_zp"]))

    def pair_or_one(name, vals, default):
        if vals == default and rng.random() < 0.5:
            return
        if all(v == vals[0] for v in vals) and rng.random() < 0.6:
            pairs.append(opt(rng, name, vals[0]))
        else:
            pairs.append(opt(rng, name, ",".join(str(v) for v in vals)))

    pair_or_one("--stride", L["stride"], (1, 1))
    pair_or_one("--pad", L["pad"], (0, 0, 0, 0))
    pair_or_one("--dilation", L["dilation"], (1, 1))
    if L["groups"] != 1 or rng.random() < 0.3:
        pairs.append(opt(rng, "--groups", L["groups"]))
    if L["act"] != "none" or rng.random() < 0.3:
        pairs.append(opt(rng, "--act", L["act"]))
    if L["clamp"] is not None:
        pairs.append(opt(rng, "--clamp", "%d,%d" % L["clamp"]))
    if L["pool"] == "gavg":
        pairs.append(opt(rng, "--pool", "gavg"))
    elif L["pool"] is not None:
        spec = "%s:%d:%d" % (L["pool"], L["pool_k"], L["pool_stride"])
        if L["pool_pad"] or rng.random() < 0.5:
            spec += ":%d" % L["pool_pad"]
        pairs.append(opt(rng, "--pool", spec))
    if L["layout"] == "nhwc" or rng.random() < 0.3:
        pairs.append(opt(rng, "--layout", L["layout"]))
    if L["stats"]:
        pairs.append(["--stats"])
    out = os.path.join(d, "out_y.npy")
    pairs.append(opt(rng, "--output", out))
    pairs.append(["-d", DEVICE])
    order = rng.permutation(len(pairs))
    argv = ["conv"] + [a for i in order for a in pairs[i]]
    return argv, out


def check_layer(seed, index, root):
    L = layergen.gen_layer(seed, index)
    d = os.path.join(root, "layer%04d" % index)
    os.makedirs(d)
    argv, out = layer_argv(L, d)
    want = layergen.expected(L)
    junk = b"not an npy file, must be replaced\n"
    if L["existing_output"]:
        with open(out, "wb") as f:
            f.write(junk)
    before = set(listing(d))
    rc, so, se = run(argv)
    problems = []
    if rc != 0:
        problems.append("exit %s, stderr: %s" % (rc, se.strip()[:500]))
    else:
        try:
            got = np.load(out, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any unreadable output is the failure
            got = None
            problems.append("output unreadable: %s" % e)
        if got is not None:
            if got.dtype != np.int8:
                problems.append("output dtype %s, want int8" % got.dtype)
            elif got.shape != want.shape:
                problems.append("output shape %s, want %s" % (got.shape, want.shape))
            elif not np.array_equal(got, want):
                diff = np.argwhere(got != want)
                problems.append("%d of %d bytes differ; first at %s: got %d, want %d" % (
                    len(diff), want.size, tuple(diff[0]), got[tuple(diff[0])],
                    want[tuple(diff[0])]))
        if COMPARE:
            out2 = os.path.join(d, "out_compare.npy")
            argv2 = [a.replace(out, out2) for a in argv]
            argv2[argv2.index("-d") + 1] = COMPARE
            rc2, _, se2 = run(argv2)
            if rc2 != 0:
                problems.append("on %s: exit %s, stderr: %s" % (COMPARE, rc2, se2.strip()[:300]))
            else:
                with open(out, "rb") as f1, open(out2, "rb") as f2:
                    if f1.read() != f2.read():
                        problems.append("the output file of -d %s differs from -d %s's" %
                                        (DEVICE, COMPARE))
        extra = set(listing(d)) - before - {"out_y.npy", "out_compare.npy"}
        if extra:
            problems.append("files left behind: %s" % sorted(extra))
        if L["stats"]:
            lines = [ln for ln in so.splitlines() if "MACs" in ln]
            macs = rm.macs(L["n"], L["oh"], L["ow"], L["o"], L["c"] // L["groups"],
                           L["kh"], L["kw"])
            if not lines:
                problems.append("--stats printed no line with 'MACs': %r" % so[:300])
            elif not any(str(macs) in ln.replace(",", "").replace("_", "").replace("'", "")
                         for ln in lines):
                problems.append("--stats MACs line %r lacks the count %d" % (lines[0], macs))
    return L, d, argv, problems


def run_layers(seed, indices, root, jobs, keep):
    feats = {}

    def note(key):
        feats[key] = feats.get(key, 0) + 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(check_layer, seed, i, root) for i in indices]
        for fut in futs:
            L, d, argv, problems = fut.result()
            i = L["index"]
            record(not problems, "layer %d (seed %d): %s" % (i, seed, layergen.describe(L)),
                   problems + ["command: " + cmdline(argv),
                               "replay:  CBR=%s %s tests/cli/test_cli.py --seed %d --case %d --keep%s"
                               % (CBR, sys.executable, seed, i,
                                  "" if DEVICE == "cpu" else " --device " + DEVICE)])
            if not problems and not keep:
                shutil.rmtree(d, ignore_errors=True)
            note("k%d" % L["kh"])
            note("k%d" % L["kw"])
            note("s%d" % L["stride"][0])
            note("s%d" % L["stride"][1])
            for key, cond in [
                    ("nonsquare", L["kh"] != L["kw"]), ("asym-pad", len(set(L["pad"])) > 1),
                    ("dilation", L["dilation"] != (1, 1)), ("grouped", L["mode"] == "grouped"),
                    ("depthwise", L["mode"] == "depthwise" and L["groups"] > 1),
                    ("odd-c", L["c"] % 2 == 1), ("n>1", L["n"] > 1),
                    ("big-bias", np.abs(L["bias"].astype(np.int64)).max() > 1 << 28),
                    ("m0=0", (L["mult"] == 0).any()), ("shift-31", (L["shift"] == -31).any()),
                    ("shift30", (L["shift"] == 30).any()), ("uint8", L["uint8"]),
                    ("nhwc", L["layout"] == "nhwc"), ("xzp-128", L["x_zp"] == -128),
                    ("xzp127", L["x_zp"] == 127), ("yzp-128", L["y_zp"] == -128),
                    ("yzp127", L["y_zp"] == 127), ("clamp", L["clamp"] is not None),
                    ("act-" + L["act"], True), ("pool-" + str(L["pool"]), True),
                    ("stats", L["stats"])]:
                if cond:
                    note(key)
    return feats


# ---- bad inputs ------------------------------------------------------------------------------

def base_files(d, c=3, h=6, w=6, o=4, k=3, x_dtype=np.int8):
    rng = np.random.default_rng(0)
    lo, hi = (0, 255) if x_dtype == np.uint8 else (-128, 127)
    arrs = {
        "in_x.npy": rng.integers(lo, hi + 1, (1, c, h, w)).astype(x_dtype),
        "wts.npy": rng.integers(-127, 128, (o, c, k, k)).astype(np.int8),
        "bias.npy": rng.integers(-100, 100, o).astype(np.int32),
        "mult.npy": np.full(o, 1 << 30, np.int32),
        "shift.npy": np.full(o, -8, np.int32),
        "nmult.npy": np.full(o, 1 << 30, np.int32),
        "nshift.npy": np.full(o, -10, np.int32),
    }
    for fn, a in arrs.items():
        save(os.path.join(d, fn), a)


def base_opts(d):
    p = lambda fn: os.path.join(d, fn)  # noqa: E731
    return {"-d": DEVICE, "--input": p("in_x.npy"), "--weights": p("wts.npy"),
            "--bias": p("bias.npy"), "--multiplier": p("mult.npy"), "--shift": p("shift.npy"),
            "--input-zp": "3", "--output-zp": "-5", "--output": p("out_y.npy")}


def opts_argv(opts, extra=()):
    argv = ["conv"]
    for k, v in opts.items():
        argv += [k] if v is None else [k, v]
    return argv + list(extra)


def bad_cases():
    """(name, keywords, mutate). mutate(d, opts) rewrites files in d and edits opts (a dict
    of option -> value, None for a flag); a list it returns is appended as raw arguments."""
    cases = []

    def case(name, keywords, existing=True):
        def deco(fn):
            cases.append((name, keywords, fn, existing))
            return fn
        return deco

    def resave(fn, arr):
        return lambda d, o: save(os.path.join(d, fn), arr)

    W = ["wts.npy", "weight"]
    X = ["in_x.npy", "input"]
    B = ["bias.npy", "bias"]
    M = ["mult.npy", "multiplier"]
    S = ["shift.npy", "shift"]
    rng = np.random.default_rng(1)
    x_ok = rng.integers(-128, 128, (1, 3, 6, 6)).astype(np.int8)
    w_ok = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)

    case("missing input file", ["nosuch.npy", "input"])(
        lambda d, o: o.update({"--input": os.path.join(d, "nosuch.npy")}))
    case("missing weights file", ["nosuch_w.npy", "weight"])(
        lambda d, o: o.update({"--weights": os.path.join(d, "nosuch_w.npy")}))
    case("weights int32", W)(resave("wts.npy", w_ok.astype(np.int32)))
    case("weights uint8", W)(resave("wts.npy", (w_ok.astype(np.int64) + 128).astype(np.uint8)))
    case("bias int8", B)(resave("bias.npy", np.zeros(4, np.int8)))
    case("bias int64", B)(resave("bias.npy", np.zeros(4, np.int64)))
    case("multiplier int64", M)(resave("mult.npy", np.full(4, 1 << 30, np.int64)))
    case("multiplier float32", M)(resave("mult.npy", np.full(4, 0.5, np.float32)))
    case("shift int8", S)(resave("shift.npy", np.full(4, -8, np.int8)))
    case("shift uint8", S)(resave("shift.npy", np.full(4, 8, np.uint8)))
    case("input int32", X)(resave("in_x.npy", x_ok.astype(np.int32)))
    case("input float64", X)(resave("in_x.npy", x_ok.astype(np.float64)))
    case("weights float64", W)(resave("wts.npy", w_ok.astype(np.float64)))
    case("weights channel mismatch", W + X + ["channel"])(
        resave("wts.npy", rng.integers(-127, 128, (4, 4, 3, 3)).astype(np.int8)))
    case("weights 3-d", W)(resave("wts.npy", w_ok.reshape(4, 9, 3)))
    case("input 3-d", X)(resave("in_x.npy", x_ok.reshape(3, 6, 6)))
    case("bias wrong length", B)(resave("bias.npy", np.zeros(5, np.int32)))
    case("multiplier wrong length", M)(resave("mult.npy", np.full(3, 1 << 30, np.int32)))
    case("shift wrong length", S)(resave("shift.npy", np.full(5, -8, np.int32)))
    case("bias 2-d", B)(resave("bias.npy", np.zeros((4, 1), np.int32)))

    wbad = w_ok.copy()
    wbad[2, 1, 0, 2] = -128
    case("weight -128", W + ["-128"])(resave("wts.npy", wbad))
    for v in [(1 << 30) - 1, 1, -1, -(1 << 31)]:
        m = np.full(4, 1 << 30, np.int32)
        m[3] = v
        case("multiplier %d" % v, M)(resave("mult.npy", m))
    for v in [31, -32, 1000]:
        s = np.full(4, -8, np.int32)
        s[1] = v
        case("shift %d" % v, S)(resave("shift.npy", s))

    ZI = ["input-zp", "zero point", "zero-point", "zp"]
    ZO = ["output-zp", "zero point", "zero-point", "zp"]
    case("input zp 200 for int8", ZI)(lambda d, o: o.update({"--input-zp": "200"}))
    case("input zp -129", ZI)(lambda d, o: o.update({"--input-zp": "-129"}))
    case("output zp 128", ZO)(lambda d, o: o.update({"--output-zp": "128"}))
    case("output zp -129", ZO)(lambda d, o: o.update({"--output-zp": "-129"}))
    case("input zp not a number", ZI)(lambda d, o: o.update({"--input-zp": "abc"}))
    case("input zp trailing junk", ZI)(lambda d, o: o.update({"--input-zp": "3x"}))

    def u8(zp):
        def f(d, o):
            save(os.path.join(d, "in_x.npy"), (x_ok.astype(np.int64) + 128).astype(np.uint8))
            o["--input-zp"] = zp
        return f
    case("uint8 input zp 256", ZI)(u8("256"))
    case("uint8 input zp -1", ZI)(u8("-1"))

    case("unknown --act", ["act", "swish"])(lambda d, o: o.update({"--act": "swish"}))
    case("malformed --pad 1,2,3", ["pad"])(lambda d, o: o.update({"--pad": "1,2,3"}))
    case("negative --pad", ["pad"])(lambda d, o: o.update({"--pad": "-1"}))
    case("--stride 0", ["stride"])(lambda d, o: o.update({"--stride": "0"}))
    case("--stride 1,0", ["stride"])(lambda d, o: o.update({"--stride": "1,0"}))
    case("malformed --stride 1,2,3", ["stride"])(lambda d, o: o.update({"--stride": "1,2,3"}))
    case("--dilation 0", ["dilation"])(lambda d, o: o.update({"--dilation": "0"}))
    case("--groups 0", ["group"])(lambda d, o: o.update({"--groups": "0"}))

    def kernel12(d, o):
        save(os.path.join(d, "in_x.npy"), rng.integers(-128, 128, (1, 3, 14, 14)).astype(np.int8))
        save(os.path.join(d, "wts.npy"), rng.integers(-127, 128, (4, 3, 12, 12)).astype(np.int8))
    case("kernel 12", W + ["kernel"])(kernel12)

    def kernel_1x12(d, o):
        save(os.path.join(d, "in_x.npy"), rng.integers(-128, 128, (1, 3, 14, 14)).astype(np.int8))
        save(os.path.join(d, "wts.npy"), rng.integers(-127, 128, (4, 3, 1, 12)).astype(np.int8))
    case("kernel 1x12", W + ["kernel"])(kernel_1x12)

    def reduction(d, o):  # 545 * 11 * 11 = 65945 > 65536
        save(os.path.join(d, "in_x.npy"), np.zeros((1, 545, 11, 11), np.int8))
        save(os.path.join(d, "wts.npy"), np.ones((4, 545, 11, 11), np.int8))
    case("reduction too large", W + ["reduction", "65536"])(reduction)

    def oh0(d, o):
        save(os.path.join(d, "in_x.npy"), x_ok[:, :, :2, :])
    case("OH < 1", X + W + ["oh", "output", "height", "size", "kernel", "pad"])(oh0)

    def ow0(d, o):
        save(os.path.join(d, "in_x.npy"), np.ascontiguousarray(x_ok[:, :, :, :2]))
        o["--dilation"] = "1,1"
    case("OW < 1", X + W + ["ow", "output", "width", "size", "kernel", "pad"])(ow0)

    def oh0_dilation(d, o):
        o["--dilation"] = "3"
    case("OH < 1 by dilation", X + W + ["oh", "output", "size", "kernel", "dilation"])(
        oh0_dilation)

    def truncated(d, o):
        p = os.path.join(d, "in_x.npy")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:-1])
    case("truncated .npy data", X)(truncated)

    def truncated_header(d, o):
        p = os.path.join(d, "in_x.npy")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:30])
    case("truncated .npy header", X)(truncated_header)

    def trailing(d, o):
        with open(os.path.join(d, "bias.npy"), "ab") as f:
            f.write(b"\0\0\0\0")
    case(".npy with trailing bytes", B)(trailing)

    def empty(d, o):
        open(os.path.join(d, "in_x.npy"), "wb").close()
    case("empty .npy", X)(empty)

    def not_npy(d, o):
        open(os.path.join(d, "wts.npy"), "wb").write(b"hello, this is not a numpy file\n" * 4)
    case("not an .npy file", W)(not_npy)

    case("Fortran-order .npy", W + ["fortran"])(resave("wts.npy", np.asfortranarray(w_ok)))

    case("relu6 without --clamp", ["clamp", "relu6"])(
        lambda d, o: o.update({"--act": "relu6"}))
    case("leaky without the neg pair", ["neg-multiplier", "neg-shift", "neg_", "leaky"])(
        lambda d, o: o.update({"--act": "leaky"}))
    case("leaky without --neg-shift", ["neg-shift", "neg_shift", "leaky"])(
        lambda d, o: o.update({"--act": "leaky",
                               "--neg-multiplier": os.path.join(d, "nmult.npy")}))
    case("neg multiplier out of range", ["nmult.npy", "neg-multiplier", "multiplier"])(
        lambda d, o: (save(os.path.join(d, "nmult.npy"), np.full(4, 5, np.int32)),
                      o.update({"--act": "leaky",
                                "--neg-multiplier": os.path.join(d, "nmult.npy"),
                                "--neg-shift": os.path.join(d, "nshift.npy")})))
    case("neg shift wrong length", ["nshift.npy", "neg-shift", "shift"])(
        lambda d, o: (save(os.path.join(d, "nshift.npy"), np.full(2, -8, np.int32)),
                      o.update({"--act": "leaky",
                                "--neg-multiplier": os.path.join(d, "nmult.npy"),
                                "--neg-shift": os.path.join(d, "nshift.npy")})))
    case("--clamp 5,3", ["clamp"])(lambda d, o: o.update({"--clamp": "5,3"}))
    case("--clamp 5", ["clamp"])(lambda d, o: o.update({"--clamp": "5"}))
    case("--clamp -129,0", ["clamp"])(lambda d, o: o.update({"--clamp": "-129,0"}))
    case("unknown --pool", ["pool"])(lambda d, o: o.update({"--pool": "median:2:2"}))
    case("--pool max:0:1", ["pool"])(lambda d, o: o.update({"--pool": "max:0:1"}))
    case("--pool max:2", ["pool"])(lambda d, o: o.update({"--pool": "max:2"}))
    case("--pool larger than the plane", ["pool"])(
        lambda d, o: o.update({"--pool": "max:7:1"}))
    case("unknown --layout", ["layout"])(lambda d, o: o.update({"--layout": "nchwc"}))
    case("unknown device", ["nosuchdev", "device", "-d"])(
        lambda d, o: o.update({"-d": "nosuchdev"}))
    case("unknown option", ["frobnicate"])(lambda d, o: ["--frobnicate", "3"])
    case("missing --multiplier", ["multiplier"])(lambda d, o: o.pop("--multiplier"))
    case("missing --input-zp", ["input-zp"])(lambda d, o: o.pop("--input-zp"))
    case("missing --output", ["output"], existing=False)(lambda d, o: o.pop("--output"))
    case("option without its value", ["output"], existing=False)(
        lambda d, o: (o.pop("--output"), ["--output"])[1])
    case("output in a nonexistent directory", ["nodir", "output"], existing=False)(
        lambda d, o: o.update({"--output": os.path.join(d, "nodir", "out_y.npy")}))
    case("--groups not dividing C", ["group"])(lambda d, o: o.update({"--groups": "2"}))

    def groups_not_o(d, o):  # C = 3 = G, O = 4
        save(os.path.join(d, "wts.npy"), rng.integers(-127, 128, (4, 1, 3, 3)).astype(np.int8))
        o["--groups"] = "3"
    case("--groups not dividing O", ["group", "wts.npy", "weight"])(groups_not_o)
    return cases


def run_bad_cases(root, keep):
    for ci, (name, keywords, mutate, existing) in enumerate(bad_cases()):
        for variant in (["absent", "existing"] if existing else ["absent"]):
            d = os.path.join(root, "bad%02d-%s" % (ci, variant))
            os.makedirs(d)
            base_files(d)
            opts = base_opts(d)
            extra = mutate(d, opts)
            extra = extra if isinstance(extra, list) else []
            argv = opts_argv(opts, extra)
            out = os.path.join(d, "out_y.npy")
            junk = b"precious existing output, must stay\n"
            if variant == "existing":
                with open(out, "wb") as f:
                    f.write(junk)
            before = listing(d)
            rc, so, se = run(argv)
            problems = []
            if rc == 0:
                problems.append("exit 0, want non-zero")
            elif not isinstance(rc, int) or rc < 0 or rc >= 128:
                problems.append("abnormal exit %s (crash or timeout)" % rc)
            low = se.lower()
            if not se.strip():
                problems.append("nothing on stderr")
            elif not any(k.lower() in low for k in keywords):
                problems.append("stderr names none of %s: %r" % (keywords, se.strip()[:300]))
            after = listing(d)
            if after != before:
                problems.append("directory changed: %s -> %s" % (before, after))
            if variant == "existing":
                if not os.path.exists(out) or open(out, "rb").read() != junk:
                    problems.append("the existing output file was changed")
            record(not problems, "bad input: %s (%s output)" % (name, variant),
                   problems + ["command: " + cmdline(argv)])
            if not problems and not keep:
                shutil.rmtree(d, ignore_errors=True)


def run_help():
    rc, so, se = run(["conv", "--help"])
    text = so + se
    want = ["-d", "--input", "--weights", "--bias", "--multiplier", "--shift", "--input-zp",
            "--output-zp", "--stride", "--pad", "--dilation", "--groups", "--act", "--clamp",
            "--neg-multiplier", "--neg-shift", "--pool", "--layout", "--stats", "--output",
            "none", "relu", "relu6", "leaky", "max", "avg", "gavg", "nchw", "nhwc"]
    missing = [w for w in want if w not in text]
    record(rc == 0 and not missing, "cbr conv --help",
           ["exit %s" % rc, "missing: %s" % missing] if rc != 0 or missing else [])
    rc, so, se = run(["--help"])
    text = so + se
    missing = [w for w in ["devices", "info", "conv"] if w not in text]
    record(rc == 0 and not missing, "cbr --help",
           ["exit %s" % rc, "missing: %s" % missing] if rc != 0 or missing else [])


def main():
    global CBR, DEVICE, COMPARE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--layers", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compare-device", default=None,
                    help="also run each layer on this device: output files must be identical")
    ap.add_argument("--case", type=int, action="append",
                    help="run only this random layer (repeatable); skips the other checks")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1) + 1)
    ap.add_argument("--keep", action="store_true", help="keep every layer's files")
    args = ap.parse_args()
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("CBR_SEED", "") or int(time.time() * 1000) % 1000000000)
    DEVICE = args.device
    COMPARE = args.compare_device
    print("seed: %d (replay with --seed %d or CBR_SEED=%d)" % (seed, seed, seed), flush=True)
    print("cbr: %s, device: %s" % (CBR, DEVICE), flush=True)
    t0 = time.time()
    if not os.path.isfile(CBR) or not os.access(CBR, os.X_OK):
        record(False, "no executable at CBR=%s" % CBR)
        print("%d passed, %d failed" % (passed, failed))
        return 1
    root = tempfile.mkdtemp(prefix="cbr-cli-test-")
    if args.case:
        feats = run_layers(seed, args.case, root, args.jobs, args.keep)
    else:
        run_help()
        run_bad_cases(root, args.keep)
        feats = run_layers(seed, range(args.layers), root, args.jobs, args.keep)
    print("coverage: " + " ".join("%s=%d" % kv for kv in sorted(feats.items())))
    if failed or args.keep:
        print("files kept in %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print("(%.1fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
