#!/usr/bin/python3
"""Tests of `cbr bench` and tools/roofline.py (standard library only).

On the cpu device (always there): the JSON file's schema and keys, MACs against the formula
and the networks' real shapes, traffic numbers, the replayable seed, the --list shapes of
every suite; bad options and paths (exit 2 or 1, a message naming the problem, no JSON file
left); roofline.py on a good and on bad files; the link floor's closed form against a brute
force search, and tools/schedule_model.py never below that floor. If the program's sim board is built (build/sim/libcbrsim_16x16.so), also LeNet
and one strided 1x1 ResNet-18 layer on it: cycles, utilization, verified, and each layer's
floor against this file's own computation and core_cycles <= floor_cycles <= cycles. Run
from the repo root:

    CBR=build/bin/cbr /usr/bin/python3 tests/cli/test_bench.py
    CBR=build/bin/cbr /usr/bin/python3 tests/cli/test_bench.py --cycles-only-sim DIR

The second form only runs `cbr bench` on sim:ice from DIR, a build of the tiny core with the
cycle counters alone (FEATURES bit 8): cycles, core cycles and the floor must be there.

Exits non-zero on any failure; the last line is "N passed, M failed".
"""

import bisect
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True

TIMEOUT = 120
CBR = os.environ.get("CBR", "build/bin/cbr")
PYTHON = sys.executable or "/usr/bin/python3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOFLINE = os.path.join(ROOT, "tools", "roofline.py")

passed = 0
failed = 0


def check(ok, what, details=()):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
        for line in details:
            print("    " + str(line))
        sys.stdout.flush()
    return ok


def run(argv, prog=None, env=None):
    cmd = (prog or [CBR]) + argv
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                           env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""
    except OSError as e:
        return "exec failed: %s" % e, "", ""


def cmdline(argv, prog=None):
    return shlex.join((prog or [CBR]) + argv)


# The networks' conv layers: (name, in (C,H,W), out (O,OH,OW), kernel, stride, pad, groups).
LENET = [
    ("lenet.conv1 5x5", (1, 32, 32), (6, 28, 28), 5, 1, 0, 1),
    ("lenet.conv2 5x5", (6, 14, 14), (16, 10, 10), 5, 1, 0, 1),
    ("lenet.conv3 5x5", (16, 5, 5), (120, 1, 1), 5, 1, 0, 1),
]
# Conv MACs at batch 1 of the reference models (torchvision / the papers).
SUITE_MACS = {"lenet": (3, 405600), "resnet18": (20, 1813561344),
              "vgg16": (13, 15346630656), "mobilenetv1": (27, 567716352)}

LAYER_KEYS = ["suite", "name", "kind", "kernel", "stride", "pad", "groups", "in_shape",
              "out_shape", "status", "error", "macs", "cycles", "core_cycles", "utilization",
              "compute_utilization", "floor_cycles", "floor_utilization", "bytes_to_device",
              "bytes_from_device", "bytes_compulsory", "traffic_ratio", "link_stall_cycles",
              "time_us", "bound", "verified", "chain", "resident_input", "resident_output",
              "bytes_ahead", "host_seconds", "model_seconds"]
TOTAL_KEYS = ["suite", "subset", "name", "layers", "layers_failed", "macs", "cycles",
              "core_cycles", "utilization", "compute_utilization", "floor_cycles",
              "floor_utilization", "bytes_to_device", "bytes_from_device", "bytes_compulsory",
              "traffic_ratio", "link_stall_cycles", "time_us", "bound", "host_seconds",
              "model_seconds"]


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def conv_macs(cin, out, k, groups):
    c, _, _ = cin
    o, oh, ow = out
    return oh * ow * o * (c // groups) * k * k


def load_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        check(False, what + ": JSON unreadable", [e])
        return None


def check_schema(d, what, device):
    problems = []
    for key in ("layers", "totals", "device", "clock_mhz", "link_mbps", "seed", "network",
                "peak_rss_bytes"):
        if key not in d:
            problems.append("top level lacks '%s'" % key)
    if problems:
        return check(False, what + ": schema", problems)
    if not isinstance(d["layers"], list) or not isinstance(d["totals"], list):
        problems.append("layers/totals are not lists")
    if not isinstance(d["device"], dict) or d["device"].get("uri") != device:
        problems.append("device is %r, want uri %r" % (d["device"], device))
    if not is_int(d["peak_rss_bytes"]) or d["peak_rss_bytes"] <= 0:
        problems.append("peak_rss_bytes = %r" % d["peak_rss_bytes"])
    sim = device.startswith("sim")
    for i, L in enumerate(d["layers"]):
        missing = [k for k in LAYER_KEYS if k not in L]
        if missing:
            problems.append("layer %d lacks %s" % (i, missing))
            continue
        for k in ("macs", "cycles", "core_cycles", "bytes_to_device", "bytes_from_device",
                  "bytes_compulsory", "link_stall_cycles"):
            v = L[k]
            if v is not None and (not is_int(v) or v < 0):
                problems.append("layer %s: %s = %r is not a non-negative integer or null" %
                                (L["name"], k, v))
        for k in ("utilization", "compute_utilization", "floor_cycles", "floor_utilization",
                  "traffic_ratio", "time_us"):
            v = L[k]
            if v is not None and (not isinstance(v, (int, float)) or v < 0):
                problems.append("layer %s: %s = %r" % (L["name"], k, v))
        for k in ("utilization", "compute_utilization", "floor_utilization"):
            if L[k] is not None and L[k] > 1.0:
                problems.append("layer %s: %s = %r > 1" % (L["name"], k, L[k]))
        if L["bound"] not in (None, "link", "compute"):
            problems.append("layer %s: bound %r" % (L["name"], L["bound"]))
        if L["verified"] not in (None, True, False):
            problems.append("layer %s: verified %r" % (L["name"], L["verified"]))
        if L["status"] not in ("ok", "refused", "failed"):
            problems.append("layer %s: status %r" % (L["name"], L["status"]))
        if L["status"] == "ok" and L["error"] is not None:
            problems.append("layer %s: ok with an error %r" % (L["name"], L["error"]))
        if not (L["chain"] is None or is_int(L["chain"])) or \
                not isinstance(L["resident_input"], bool) or \
                not isinstance(L["resident_output"], bool) or \
                (L["chain"] is None and (L["resident_input"] or L["resident_output"])):
            problems.append("layer %s: chain %r, resident %r/%r" % (
                L["name"], L["chain"], L["resident_input"], L["resident_output"]))
        # libcbr's CPU time, and a simulated board's (none on other devices)
        if L["status"] == "ok":
            h, m = L["host_seconds"], L["model_seconds"]
            if not isinstance(h, (int, float)) or h < 0 or not isinstance(m, (int, float)) \
                    or (m <= 0 if sim else m != 0):
                problems.append("layer %s: host_seconds %r, model_seconds %r on %s" %
                                (L["name"], h, m, device))
        if L["kernel"] not in L["name"]:
            problems.append("layer %s: the name lacks the kernel %s" % (L["name"], L["kernel"]))
    for i, t in enumerate(d["totals"]):
        missing = [k for k in TOTAL_KEYS if k not in t]
        if missing:
            problems.append("total %d lacks %s" % (i, missing))
    return check(not problems, what + ": schema", problems)


# ---- the link floor (docs/bench.md, "The floor") ----------------------------------------

# Per output channel the layer also sends a bias, a multiplier and a shift, an int32 each
# (cbr_layer_desc): the compulsory bytes beyond input, weights and output.
PARAM_BYTES = 3 * 4


def shape_bytes(L):
    """(input, weights, output) bytes once, from a JSON layer's shapes; a tensor kept on the
    device (--network) does not cross the link: 0."""
    _, c, h, w = L["in_shape"]
    _, o, oh, ow = L["out_shape"]
    k = int(L["kernel"].split("x")[0])
    return (0 if L.get("resident_input") else c * h * w), o * (c // L["groups"]) * k * k, \
        (0 if L.get("resident_output") else o * oh * ow)


def read_rows(n, out, k, stride, pad):
    """How many of n input rows some output row's window reads."""
    return len({i for o in range(out) for i in range(o * stride - pad, o * stride - pad + k)
                if 0 <= i < n})


def g_closed(s, i, w):
    """The largest a * b with a * i + b * w <= s, 0 <= a, b <= 1 (the brief's closed form)."""
    if i <= 0 and w <= 0:
        return 1.0
    if i <= 0:
        return min(1.0, s / w)
    if w <= 0:
        return min(1.0, s / i)
    a, b = s / (2 * i), s / (2 * w)
    if a > 1:
        a, b = 1.0, min(1.0, (s - i) / w)
    elif b > 1:
        a, b = min(1.0, (s - w) / i), 1.0
    return a * b


def excess(i, w, t, steps=4000):
    """max over s in [0, i + w] of s - t * g(s): a scan, plus the points where the maximum can
    sit between scan points: the top of the unclamped piece, s = 2 i w / t, and the clamps."""
    span = i + w
    ss = [span * q / steps for q in range(steps + 1)] + [2 * min(i, w)]
    if t > 0 and 2 * i * w / t <= 2 * min(i, w):
        ss.append(2 * i * w / t)
    return max(s - t * g_closed(s, i, w) for s in ss)


def excess_brute(i, w, t, n=300, steps=2000):
    """The same maximum by another method: g(s) from a 2-D grid of (a, b), the best a * b of
    the grid points the link has delivered by s. Below the true g by at most 2 / n, so the
    result is above the true maximum by at most 2 t / n (less the s scan's step)."""
    pts = sorted((a / n * i + b / n * w, a * b / (n * n)) for a in range(n + 1)
                 for b in range(n + 1))
    best, run_max, costs = [], 0.0, []
    for cost, ab in pts:
        run_max = max(run_max, ab)
        costs.append(cost)
        best.append(run_max)
    out = 0.0
    for q in range(steps + 1):
        s = (i + w) * q / steps
        k = bisect.bisect_right(costs, s * (1 + 1e-12)) - 1
        out = max(out, s - t * (best[k] if k >= 0 else 0.0))
    return out


def floor_cycles(L, bpc, latency=0):
    """The floor of a JSON layer, from its shapes and core_cycles, computed here; a link
    latency (cycles each way) adds the first input's and the last output's crossings."""
    _, c, h, w = L["in_shape"]
    _, o, oh, ow = L["out_shape"]
    k = int(L["kernel"].split("x")[0])
    s, p = L["stride"], L["pad"]
    _, wt, out = shape_bytes(L)
    inp = 0 if L.get("resident_input") else c * read_rows(h, oh, k, s, p) * read_rows(w, ow, k, s, p)
    i, wc, lout, t = inp / bpc, wt / bpc, out / bpc, L["core_cycles"]
    return max(t + excess(i, wc, t), i + wc, lout) + 2 * latency


def test_floor_brute():
    """The closed form of the link excess against the brute-force grid, on synthetic cases
    where the maximum sits at each kind of point."""
    cases = [  # (input cycles, weight cycles, core cycles)
        (50176, 147456, 228000),   # ResNet-18 layer3.0.conv1 at 2 B/cycle: the saddle
        (147456, 50176, 228000),   # the same, input and weights swapped
        (1000, 100000, 50000),     # link bound: the weights' tail after the compute
        (3000, 5000, 20000),       # compute bound, the saddle
        (5000, 10000, 9000),       # the top beyond the unclamped piece: the end wins
        (0, 5000, 2000),           # no input bytes
        (7000, 0, 9000),           # no weights
    ]
    for i, w, t in cases:
        f, fb = excess(i, w, t), excess_brute(i, w, t)
        step = (i + w) / 2000 * (1 + t / max(i, w))
        ok = f - step - 1e-6 <= fb <= f + 2 * t / 300 + 1e-6
        check(ok, "floor: closed form %.1f vs brute force %.1f (I %d, W %d, T %d)" % (
            f, fb, i, w, t), ["allowed: [%.1f, %.1f]" % (f - step, f + 2 * t / 300)])
    # The worked example of docs/bench.md: F about I * W / T, floor utilization about 87%.
    f = excess(50176, 147456, 228000)
    check(abs(f - 50176 * 147456 / 228000) < 1, "floor: the saddle value is I * W / T",
          ["F = %.1f" % f])


def check_floor(d, what):
    """Each layer's floor against this file's own computation; the run never beats it."""
    problems = []
    bpc = d["link_bytes_per_cycle"]
    latency = d.get("link_latency_cycles", 0)
    pes = d["device"]["rows"] * d["device"]["cols"]
    counted = d["device"]["counters"]
    for L in d["layers"]:
        name = L["name"]
        inp, wt, out = shape_bytes(L)
        if L["bytes_compulsory"] is not None and \
                L["bytes_compulsory"] != inp + wt + out + PARAM_BYTES * L["out_shape"][1]:
            problems.append("%s: input %d + weights %d + output %d + params %d != compulsory "
                            "%r" % (name, inp, wt, out, PARAM_BYTES * L["out_shape"][1],
                                    L["bytes_compulsory"]))
        if L["status"] != "ok" or not counted or L["core_cycles"] is None:
            if L["floor_cycles"] is not None or L["floor_utilization"] is not None:
                problems.append("%s: a floor %r without core cycles" % (
                    name, L["floor_cycles"]))
            continue
        fc = L["floor_cycles"]
        if not isinstance(fc, (int, float)):
            problems.append("%s: floor_cycles %r" % (name, fc))
            continue
        want = floor_cycles(L, bpc, latency)
        if abs(fc - want) > 1e-6 * want + 0.01:
            problems.append("%s: floor_cycles %r, computed here %r" % (name, fc, want))
        if not L["core_cycles"] <= fc <= L["cycles"]:
            problems.append("%s: want core_cycles %d <= floor_cycles %r <= cycles %d" % (
                name, L["core_cycles"], fc, L["cycles"]))
        fu = L["macs"] / (pes * fc)
        if L["floor_utilization"] is None or abs(L["floor_utilization"] - fu) > 1e-6 * fu:
            problems.append("%s: floor_utilization %r, want macs / (%d floor) = %r" % (
                name, L["floor_utilization"], pes, fu))
    for t in d["totals"]:
        mine = [L for L in d["layers"] if L["status"] == "ok" and
                (t["suite"] == "all" or L["suite"] == t["suite"]) and t["subset"] == "all"]
        if t["subset"] != "all":
            continue
        fl = [L["floor_cycles"] for L in mine]
        if not fl or None in fl:
            if t["floor_cycles"] is not None:
                problems.append("%s: floor_cycles %r, some layer has none" % (
                    t["name"], t["floor_cycles"]))
            continue
        total = sum(fl)
        macs = sum(L["macs"] for L in mine)
        if t["floor_cycles"] is None or abs(t["floor_cycles"] - total) > 1e-6 * total or \
                abs(t["floor_utilization"] - macs / (pes * total)) > 1e-6:
            problems.append("%s: floor %r / %r, want the layers' sum %r / %r" % (
                t["name"], t["floor_cycles"], t["floor_utilization"], total,
                macs / (pes * total)))
    return check(not problems, what + ": floor", problems)


# ---- cpu --------------------------------------------------------------------------------

def test_schedule_model():
    """tools/schedule_model.py (docs/tiling.md, "Streaming") models schedules the floor
    bounds: on each shape, tile height and block count, its cycles are at least its own
    compute plus the link excess of its input and weights, and at least their link time."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "schedule_model", os.path.join(ROOT, "tools", "schedule_model.py"))
    sm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sm)
    problems = []
    for cin, h, cout, stride in ((128, 28, 256, 2), (64, 56, 128, 2), (64, 56, 64, 1),
                                 (3, 32, 32, 1)):
        for pth in (1, 3, 5):
            for k_run in (1, 2, 4):
                t, u, comp = sm.model(cin, h, cout, stride, pth, k_run, 2.0, 16, 16)
                i, w = cin * h * h / 2.0, cout * cin * 9 / 2.0
                low = max(comp + excess(i, w, comp), i + w)
                if not (t >= low - 1e-6 and 0 < u <= 1):
                    problems.append("%d->%d on %dx%d stride %d, %d rows x %d blocks: %.0f "
                                    "cycles (%.3f), below the floor %.0f" % (
                                        cin, cout, h, h, stride, pth, k_run, t, u, low))
    check(not problems, "schedule_model.py: never below the floor", problems)
    out = subprocess.run([PYTHON, os.path.join(ROOT, "tools", "schedule_model.py"), "128",
                          "28", "256", "--stride", "2", "--top", "1"], capture_output=True,
                         text=True, timeout=TIMEOUT)
    best = out.stdout.split("\n")[1].split() if out.stdout.count("\n") >= 2 else []
    ok = out.returncode == 0 and len(best) == 4 and best[0].endswith("%")
    ok = ok and 0 < float(best[0][:-1]) <= 100 and int(best[3]) in (1, 2, 4)
    check(ok, "schedule_model.py: prints its best schedule", [out.stdout, out.stderr])


def test_help():
    rc, so, se = run(["bench", "--help"])
    want = ["-d", "--suite", "lenet", "resnet18", "vgg16", "mobilenetv1", "all", "--clock",
            "--link", "--latency", "CBR_SIM_LATENCY", "--json", "--seed", "--no-verify", "--list",
            "CBR_SIM_LINK", "util", "floor", "bound", "Exit status"]
    missing = [w for w in want if w not in so]
    check(rc == 0 and not missing and not se, "cbr bench --help",
          ["exit %s" % rc, "missing: %s" % missing, "stderr: %s" % se.strip()])
    rc, so, _ = run(["--help"])
    check(rc == 0 and "bench" in so, "cbr --help lists bench", ["exit %s" % rc])


def test_list():
    rc, so, se = run(["bench", "--list"])
    if not check(rc == 0, "bench --list", ["exit %s, stderr %s" % (rc, se.strip())]):
        return
    for suite, (n, macs) in SUITE_MACS.items():
        line = [ln for ln in so.splitlines() if ln.startswith(suite + " (")]
        want = "%d conv layers, %d MACs" % (n, macs)
        check(len(line) == 1 and want in line[0], "--list %s: %s" % (suite, want),
              ["got %r" % line])
        rows = [ln.split() for ln in so.splitlines() if ln.startswith(suite + ".")]
        total = sum(int(r[-1]) for r in rows)
        check(len(rows) == n and total == macs, "--list %s: rows sum to the total" % suite,
              ["%d rows, %d MACs" % (len(rows), total)])
    dw = [ln for ln in so.splitlines() if ln.startswith("mobilenetv1.") and " depthwise " in ln]
    check(len(dw) == 13, "--list mobilenetv1: 13 depthwise layers", ["got %d" % len(dw)])
    ds = [ln for ln in so.splitlines() if ln.startswith("resnet18.") and "downsample" in ln]
    check(len(ds) == 3 and all(" 1x1 " in ln for ln in ds),
          "--list resnet18: 3 1x1 downsample convs", ds)
    # chained: the input is the previous layer's output, so the shapes must agree
    for suite, want in (("lenet", 0), ("resnet18", 8), ("vgg16", 8), ("mobilenetv1", 26)):
        rows = [ln.split() for ln in so.splitlines() if ln.startswith(suite + ".")]
        chained = [i for i, r in enumerate(rows) if r[-2] == "yes"]
        # from the end: in out stride pad groups chained MACs (names have spaces)
        bad = [rows[i][0] for i in chained if i == 0 or rows[i][-7] != rows[i - 1][-6]]
        check(len(chained) == want and not bad and all(r[-2] in ("yes", "-") for r in rows),
              "--list %s: %d chained layers, each taking the shape before it" % (suite, want),
              ["chained %d, shapes that disagree: %s" % (len(chained), bad)])


def test_cpu_lenet(tmp):
    path = os.path.join(tmp, "lenet.json")
    argv = ["bench", "-d", "cpu", "--suite", "lenet", "--json", path, "--seed", "7"]
    rc, so, se = run(argv)
    if not check(rc == 0, "cpu lenet: exit 0", ["exit %s" % rc, "stderr: %s" % se.strip(),
                                                "command: " + cmdline(argv)]):
        return None
    d = load_json(path, "cpu lenet")
    if d is None or not check_schema(d, "cpu lenet", "cpu"):
        return None
    check_floor(d, "cpu lenet")
    problems = []
    if d["seed"] != 7 or d["clock_mhz"] != 200 or d["link_mbps"] != 400:
        problems.append("seed/clock/link = %r/%r/%r" % (d["seed"], d["clock_mhz"],
                                                         d["link_mbps"]))
    if "seed 7" not in so or "--seed 7" not in so:
        problems.append("the seed is not printed: %r" % so[:300])
    if [L["name"] for L in d["layers"]] != [x[0] for x in LENET]:
        problems.append("layers %r" % [L["name"] for L in d["layers"]])
    for L, (name, cin, out, k, s, p, g) in zip(d["layers"], LENET):
        if L["in_shape"] != [1] + list(cin) or L["out_shape"] != [1] + list(out):
            problems.append("%s: shapes %r -> %r" % (name, L["in_shape"], L["out_shape"]))
        if (L["kernel"], L["stride"], L["pad"], L["groups"]) != ("%dx%d" % (k, k), s, p, g):
            problems.append("%s: kernel/stride/pad/groups %r" % (
                name, (L["kernel"], L["stride"], L["pad"], L["groups"])))
        if L["macs"] != conv_macs(cin, out, k, g):
            problems.append("%s: macs %r, want %d" % (name, L["macs"], conv_macs(cin, out, k, g)))
        c, h, w = cin
        o, oh, ow = out
        if not is_int(L["bytes_compulsory"]) or \
                L["bytes_compulsory"] < c * h * w + o * c * k * k + o * oh * ow:
            problems.append("%s: bytes_compulsory %r below input + weights + output" % (
                name, L["bytes_compulsory"]))
        if L["status"] != "ok" or L["cycles"] is not None or L["utilization"] is not None:
            problems.append("%s: on cpu want status ok, cycles and utilization null: %r" % (
                name, {k2: L[k2] for k2 in ("status", "cycles", "utilization")}))
        z, sat = L.get("outputs_at_zero_point"), L.get("outputs_saturated")
        if not (isinstance(z, (int, float)) and 0.2 < z < 0.9 and
                isinstance(sat, (int, float)) and sat < 0.1):
            problems.append("%s: outputs at the zero point %r, saturated %r: requant params "
                            "are not realistic" % (name, z, sat))
        if name not in so:
            problems.append("%s: not in the table" % name)
    tots = [t for t in d["totals"] if t["suite"] == "lenet" and t["subset"] == "all"]
    if len(tots) != 1 or tots[0]["macs"] != 405600 or tots[0]["layers"] != 3:
        problems.append("lenet total %r" % tots)
    if sorted(os.listdir(tmp)) != ["lenet.json"]:
        problems.append("files beside the JSON: %r" % os.listdir(tmp))
    check(not problems, "cpu lenet: values", problems)

    # The same seed replays the same data; another seed gives other data.
    path2 = os.path.join(tmp, "lenet2.json")
    rc, _, se = run(["bench", "-d", "cpu", "--suite=lenet", "--json=" + path2, "--seed=7"])
    d2 = load_json(path2, "cpu lenet replay") if rc == 0 else None
    key = lambda dd: [(L["outputs_at_zero_point"], L["outputs_saturated"]) for L in dd["layers"]]  # noqa: E731
    check(d2 is not None and key(d2) == key(d), "--seed replays the same data",
          ["exit %s %s" % (rc, se.strip())])
    rc, _, se = run(["bench", "-d", "cpu", "--suite", "lenet", "--json", path2, "--seed", "8"])
    d3 = load_json(path2, "cpu lenet seed 8") if rc == 0 else None
    check(d3 is not None and key(d3) != key(d), "another --seed gives other data",
          ["exit %s %s" % (rc, se.strip())])
    os.unlink(path2)
    return d


def test_layer_filter(tmp):
    path = os.path.join(tmp, "one.json")
    argv = ["bench", "-d", "cpu", "--suite", "lenet", "--layer", "conv2", "--json", path,
            "--seed", "3"]
    rc, so, se = run(argv)
    d = load_json(path, "--layer") if rc == 0 else None
    names = [r["name"] for r in d["layers"]] if d else []
    check(rc == 0 and len(names) == 1 and "conv2" in names[0], "--layer conv2 runs that layer",
          ["exit %s" % rc, "stderr: %s" % se.strip(), "layers: %s" % names])


def test_bad(tmp):
    """(argv, exit, words that must all appear in stderr)."""
    j = os.path.join(tmp, "bad.json")
    base = ["-d", "cpu", "--json", j]
    cases = [
        (base + ["--suite", "alexnet"], 2, ["--suite", "alexnet"]),
        (base, 2, ["--suite"]),
        (base + ["--suite"], 2, ["--suite", "value"]),
        (base + ["--suite", "lenet", "--clock", "0"], 2, ["--clock", "0"]),
        (base + ["--suite", "lenet", "--clock", "abc"], 2, ["--clock", "abc"]),
        (base + ["--suite", "lenet", "--clock", "-200"], 2, ["--clock"]),
        (base + ["--suite", "lenet", "--clock", "nan"], 2, ["--clock"]),
        (base + ["--suite", "lenet", "--clock", "200MHz"], 2, ["--clock", "200MHz"]),
        (base + ["--suite", "lenet", "--clock"], 2, ["--clock", "value"]),
        (base + ["--suite", "lenet", "--link", "0"], 2, ["--link"]),
        (base + ["--suite", "lenet", "--link", ""], 2, ["--link"]),
        (base + ["--suite", "lenet", "--latency", "-1"], 2, ["--latency", "-1"]),
        (base + ["--suite", "lenet", "--latency", "abc"], 2, ["--latency", "abc"]),
        (base + ["--suite", "lenet", "--latency", ""], 2, ["--latency"]),
        (base + ["--suite", "lenet", "--latency", "inf"], 2, ["--latency", "inf"]),
        # 6000 us at 200 MHz: 1.2 M cycles, above the sim link's 1 M
        (base + ["--suite", "lenet", "--latency", "6000"], 2, ["--latency", "1200000", "cycles"]),
        (base + ["--suite", "lenet", "--seed", "-1"], 2, ["--seed"]),
        (base + ["--suite", "lenet", "--seed", "x"], 2, ["--seed"]),
        (base + ["--suite", "lenet", "--frobnicate"], 2, ["--frobnicate"]),
        (base + ["--suite", "lenet", "extra"], 2, ["extra"]),
        (base + ["--suite", "lenet", "--layer", "conv9"], 2, ["--layer", "conv9", "lenet"]),
        (base + ["--suite", "lenet", "--layer"], 2, ["--layer"]),
        (["--json", j, "--suite", "lenet", "-d", "nosuchdevice"], 1, ["-d", "nosuchdevice"]),
    ]
    for argv, want_rc, words in cases:
        full = ["bench"] + argv
        rc, so, se = run(full)
        missing = [w for w in words if w not in se]
        left = sorted(os.listdir(tmp))
        check(rc == want_rc and not missing and not left and se.startswith("cbr bench: "),
              "bad: %s" % cmdline(full),
              ["exit %s (want %d)" % (rc, want_rc), "stderr: %s" % se.strip(),
               "missing in stderr: %s" % missing, "files left: %s" % left])

    for path, words in [(os.path.join(tmp, "nosuchdir", "x.json"), ["nosuchdir"]),
                        (tmp, [tmp, "directory"])]:
        argv = ["bench", "-d", "cpu", "--suite", "lenet", "--json", path]
        rc, so, se = run(argv)
        missing = [w for w in words if w not in se]
        left = sorted(os.listdir(tmp))
        check(rc == 1 and not missing and not left and "--json" in se,
              "unwritable JSON path: %s" % cmdline(argv),
              ["exit %s (want 1)" % rc, "stderr: %s" % se.strip(),
               "missing in stderr: %s" % missing, "files left: %s" % left])
    if os.geteuid() != 0:
        ro = os.path.join(tmp, "ro")
        os.mkdir(ro, 0o555)
        rc, _, se = run(["bench", "-d", "cpu", "--suite", "lenet", "--json",
                         os.path.join(ro, "x.json")])
        check(rc == 1 and not os.listdir(ro) and "--json" in se, "read-only JSON directory",
              ["exit %s, stderr %s" % (rc, se.strip())])
        os.rmdir(ro)


# ---- roofline.py ------------------------------------------------------------------------

def synthetic(tmp):
    """A bench.json as a 16x16 sim board would write it, with every kind of layer."""
    layers = []
    for i, (kind, kernel, macs, cyc, to, frm) in enumerate([
            ("stem", "7x7", 118013952, 2000000, 3000000, 900000),
            ("3x3", "3x3", 115605504, 600000, 400000, 250000),
            ("1x1", "1x1", 6422528, 90000, 150000, 100000),
            ("depthwise", "3x3", 903168, 300000, 500000, 200000),
            ("5x5", "5x5", 240000, 11000, 13000, 5000)]):
        layers.append({"suite": "demo", "name": "demo.l%d %s" % (i, kernel), "kind": kind,
                       "kernel": kernel, "status": "ok", "macs": macs, "cycles": cyc,
                       "bytes_to_device": to, "bytes_from_device": frm})
    layers.append({"suite": "demo", "name": "demo.refused 3x3", "kind": "3x3",
                   "kernel": "3x3", "status": "refused", "macs": 5, "cycles": None,
                   "bytes_to_device": None, "bytes_from_device": None})
    layers.append({"suite": "other", "name": "other.a 1x1", "kind": "1x1", "kernel": "1x1",
                   "status": "ok", "macs": 1000, "cycles": 100, "bytes_to_device": 300,
                   "bytes_from_device": 100})
    return {"layers": layers, "totals": [], "device": {"uri": "sim:16x16", "rows": 16,
                                                       "cols": 16},
            "clock_mhz": 200, "link_mbps": 400, "link_bytes_per_cycle": 2, "seed": 1}


def test_roofline(tmp, cpu_json):
    py = [PYTHON, ROOFLINE]
    good = os.path.join(tmp, "good.json")
    with open(good, "w") as f:
        json.dump(synthetic(tmp), f)
    rc, so, se = run([good, tmp], prog=py)
    ok = check(rc == 0, "roofline.py on a good file", ["exit %s" % rc, se.strip()])
    for suite, points in (("demo", 5), ("other", 1)):
        svg = os.path.join(tmp, "roofline_%s.svg" % suite)
        if not ok or not check(os.path.isfile(svg), "roofline_%s.svg written" % suite):
            continue
        try:
            tree = ET.parse(svg)
        except ET.ParseError as e:
            check(False, "roofline_%s.svg is well-formed XML" % suite, [e])
            continue
        ns = "{http://www.w3.org/2000/svg}"
        circles = [c for c in tree.iter(ns + "circle") if c.find(ns + "title") is not None]
        text = " ".join("".join(t.itertext()) for t in tree.iter(ns + "text"))
        fills = {c.get("fill") for c in circles}
        want_kinds = ["stem", "3x3", "1x1", "depthwise", "peak 16 x 16 = 256"]
        check(tree.getroot().tag == ns + "svg" and len(circles) == points and
              all(w in text for w in want_kinds) and (suite != "demo" or len(fills) == 5),
              "roofline_%s.svg: %d labelled points, the roofs, the legend" % (suite, points),
              ["%d points, fills %s" % (len(circles), fills), text[:300]])
    rc, so, se = run([good, tmp, "--suite", "other"], prog=py)
    check(rc == 0 and "roofline_other.svg" in so and "demo" not in so, "roofline.py --suite",
          ["exit %s" % rc, so, se])
    rc, so, se = run([good, tmp, "--suite", "nosuch"], prog=py)
    check(rc == 1 and "nosuch" in se, "roofline.py --suite unknown", ["exit %s" % rc, se])

    bad_dir = os.path.join(tmp, "bad")
    os.mkdir(bad_dir)
    d = synthetic(tmp)
    del d["layers"][1]["macs"]
    no_macs = json.dumps(d)
    d = synthetic(tmp)
    d["layers"][0]["cycles"] = -5
    neg = json.dumps(d)
    for name, content, words in [
            ("missing.json", None, ["missing.json", "no such file"]),
            ("truncated.json", json.dumps(synthetic(tmp))[:-20], ["truncated.json", "JSON"]),
            ("empty.json", "", ["empty.json", "JSON"]),
            ("list.json", "[1, 2]", ["list.json", "object"]),
            ("nolayers.json", '{"device": {"rows": 16, "cols": 16}, "clock_mhz": 200, '
             '"link_mbps": 400}', ["nolayers.json", "layers"]),
            ("nomacs.json", no_macs, ["nomacs.json", "macs"]),
            ("negative.json", neg, ["negative.json", "cycles", "negative"]),
            ("binary.json", b"\xff\xfe\x00garbage", ["binary.json"])]:
        p = os.path.join(bad_dir, name)
        if content is not None:
            with open(p, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        rc, so, se = run([p, bad_dir], prog=py)
        missing = [w for w in words if w not in se]
        svgs = [f for f in os.listdir(bad_dir) if not f.endswith(".json")]
        check(rc == 1 and not missing and not svgs and "Traceback" not in se,
              "roofline.py rejects %s" % name,
              ["exit %s" % rc, "stderr: %s" % se.strip()[-400:], "missing: %s" % missing,
               "files: %s" % svgs])
    if cpu_json:
        p = os.path.join(bad_dir, "cpu.json")
        with open(p, "w") as f:
            json.dump(cpu_json, f)
        rc, so, se = run([p, bad_dir], prog=py)
        svgs = [f for f in os.listdir(bad_dir) if f.endswith(".svg")]
        check(rc == 0 and "cpu" in se and "nothing to plot" in se and not svgs,
              "roofline.py on a cpu bench (no array) says there is nothing to plot",
              ["exit %s" % rc, se.strip(), "files: %s" % svgs])


# ---- sim, when built --------------------------------------------------------------------

def test_sim(tmp):
    lib = os.path.join(os.path.dirname(os.path.abspath(CBR)), "..", "sim", "libcbrsim_16x16.so")
    if not os.path.isfile(lib):
        print("skipped: LeNet on sim:16x16 (no %s; `make sim-default` builds it)" %
              os.path.normpath(lib))
        return
    path = os.path.join(tmp, "sim.json")
    argv = ["bench", "-d", "sim:16x16", "--suite", "lenet", "--json", path, "--link", "800"]
    rc, so, se = run(argv)
    d = load_json(path, "sim lenet") if os.path.exists(path) else None
    if not check(rc == 0 and d is not None, "sim lenet: exit 0",
                 ["exit %s" % rc, "stderr: %s" % se.strip(), "command: " + cmdline(argv)]):
        return
    if not check_schema(d, "sim lenet", "sim:16x16"):
        return
    problems = []
    if d["link_bytes_per_cycle"] != 4:
        problems.append("link_bytes_per_cycle %r, want 800 / 200 = 4" % d["link_bytes_per_cycle"])
    for L, (name, cin, out, k, s, p, g) in zip(d["layers"], LENET):
        if L["verified"] is not True:
            problems.append("%s: verified %r" % (name, L["verified"]))
        if L["macs"] != conv_macs(cin, out, k, g):
            problems.append("%s: macs %r" % (name, L["macs"]))
        if not (is_int(L["cycles"]) and L["cycles"] > 0 and 0 < L["utilization"] <= 1):
            problems.append("%s: cycles %r utilization %r" % (name, L["cycles"],
                                                              L["utilization"]))
        want_util = L["macs"] / (256 * L["cycles"])
        if abs(L["utilization"] - want_util) > 1e-6 * max(1, want_util):
            problems.append("%s: utilization %r, want macs / (256 cycles) = %r" % (
                name, L["utilization"], want_util))
        if not (L["bytes_to_device"] > 0 and L["bytes_from_device"] > 0):
            problems.append("%s: no traffic counted" % name)
        ratio = (L["bytes_to_device"] + L["bytes_from_device"]) / L["bytes_compulsory"]
        if abs(L["traffic_ratio"] - ratio) > 1e-6 * ratio:
            problems.append("%s: traffic_ratio %r, want %r" % (name, L["traffic_ratio"], ratio))
        if abs(L["time_us"] - L["cycles"] / 200) > 1e-3:
            problems.append("%s: time_us %r, want cycles / 200" % (name, L["time_us"]))
        if L["core_cycles"] is not None:
            link = max(L["bytes_to_device"], L["bytes_from_device"]) / 4
            want = "link" if link > L["core_cycles"] else "compute"
            if L["bound"] != want:
                problems.append("%s: bound %r, want %r" % (name, L["bound"], want))
    check(not problems, "sim lenet: values", problems)
    check_floor(d, "sim lenet")
    rows = {L["name"]: ln for L in d["layers"] for ln in so.splitlines()
            if ln.startswith(L["name"] + " ")}
    header = [ln for ln in so.splitlines() if ln.startswith("layer ")]
    cells = [L["name"] for L in d["layers"] if L["floor_utilization"] is None or
             " %.1f%% " % (100 * L["floor_utilization"]) not in rows.get(L["name"], "")]
    check(len(header) == 1 and " core  floor " in header[0] and not cells,
          "sim lenet: the table's floor column", ["header %r" % header,
                                                  "rows without their floor: %s" % cells])
    rc, so, se = run([path, tmp], prog=[PYTHON, ROOFLINE])
    check(rc == 0 and os.path.isfile(os.path.join(tmp, "roofline_lenet.svg")),
          "roofline.py on the sim lenet bench", ["exit %s" % rc, se.strip()])

    # A 1x1 stride-2 layer reads a quarter of its input: the floor counts only that.
    path = os.path.join(tmp, "ds.json")
    argv = ["bench", "-d", "sim:16x16", "--suite", "resnet18", "--layer", "layer3.0.downsample",
            "--seed", "5", "--json", path]
    rc, so, se = run(argv)
    d = load_json(path, "sim downsample") if os.path.exists(path) else None
    if check(rc == 0 and d is not None and len(d["layers"]) == 1, "sim downsample: exit 0",
             ["exit %s" % rc, "stderr: %s" % se.strip(), "command: " + cmdline(argv)]):
        check_floor(d, "sim resnet18 layer3.0.downsample")


def test_network_cpu(tmp):
    """--network on the cpu device: consecutive chained layers form one chain, layers that
    do not follow one another their own; the data flows through the chain (realistic
    spreads), nothing is kept (the cpu has no device memory)."""
    path = os.path.join(tmp, "net.json")
    argv = ["bench", "-d", "cpu", "--suite", "resnet18", "--layer", "layer4.", "--network",
            "--seed", "2", "--json", path]
    rc, so, se = run(argv)
    d = load_json(path, "cpu --network") if rc == 0 else None
    if not check(d is not None, "cpu --network: exit 0",
                 ["exit %s" % rc, "stderr: %s" % se.strip(), "command: " + cmdline(argv)]):
        return
    if not check_schema(d, "cpu --network", "cpu"):
        return
    got = [(L["name"].split()[0], L["chain"]) for L in d["layers"]]
    want = [("resnet18.layer4.0.conv1", 0), ("resnet18.layer4.0.conv2", 0),
            ("resnet18.layer4.0.downsample", 1), ("resnet18.layer4.1.conv1", 2),
            ("resnet18.layer4.1.conv2", 2)]
    problems = []
    if d["network"] is not True or got != want:
        problems.append("network %r, chains %r, want %r" % (d["network"], got, want))
    for L in d["layers"]:
        z = L["outputs_at_zero_point"]
        if L["resident_input"] or L["resident_output"] or L["status"] != "ok" or \
                not (isinstance(z, (int, float)) and 0.2 < z < 0.9):
            problems.append("%s: resident %r/%r, status %r, outputs at the zero point %r" % (
                L["name"], L["resident_input"], L["resident_output"], L["status"], z))
    header = [ln for ln in so.splitlines() if ln.startswith("layer ")]
    if len(header) != 1 or not header[0].rstrip().endswith(" check   kept"):
        problems.append("header %r lacks the kept column" % header)
    if "--network" not in so:
        problems.append("the table does not say --network")
    check(not problems, "cpu --network: chains, data, table", problems)
    check_floor(d, "cpu --network")

    # Without --network: no chains, and the first layer of a chain gets the same data.
    path2 = os.path.join(tmp, "layers.json")
    rc, so, se = run(["bench", "-d", "cpu", "--suite", "resnet18", "--layer", "layer4.0.conv1",
                      "--seed", "2", "--json", path2])
    d2 = load_json(path2, "cpu per layer") if rc == 0 else None
    check(d2 is not None and d2["network"] is False and d2["layers"][0]["chain"] is None and
          d2["layers"][0]["outputs_at_zero_point"] == d["layers"][0]["outputs_at_zero_point"] and
          " kept" not in so, "cpu: without --network no chains, the same first layer",
          ["exit %s %s" % (rc, se.strip())])


def test_network_sim(tmp):
    """--network on sim:16x16: conv13.dw's output stays on the board for conv13.pw (BUF_COPY),
    the chain's output equals the golden model's, and fewer bytes cross than layer by
    layer; the compulsory bytes and the floor leave the kept tensor out."""
    lib = os.path.join(os.path.dirname(os.path.abspath(CBR)), "..", "sim", "libcbrsim_16x16.so")
    if not os.path.isfile(lib):
        print("skipped: --network on sim:16x16 (no %s)" % os.path.normpath(lib))
        return
    runs = {}
    for mode in ("network", "layers"):
        path = os.path.join(tmp, mode + ".json")
        argv = ["bench", "-d", "sim:16x16", "--suite", "mobilenetv1", "--layer", "conv13",
                "--seed", "4", "--json", path] + (["--network"] if mode == "network" else [])
        rc, so, se = run(argv)
        d = load_json(path, "sim " + mode) if os.path.exists(path) else None
        if not check(rc == 0 and d is not None and check_schema(d, "sim " + mode, "sim:16x16"),
                     "sim mobilenetv1 conv13 (%s): exit 0" % mode,
                     ["exit %s" % rc, "stderr: %s" % se.strip(), "command: " + cmdline(argv)]):
            return
        runs[mode] = (d, so)
    d, so = runs["network"]
    dw, pw = d["layers"]
    problems = []
    if [dw["chain"], pw["chain"]] != [0, 0] or not dw["resident_output"] or \
            dw["resident_input"] or not pw["resident_input"] or pw["resident_output"]:
        problems.append("chain %r/%r, resident dw %r/%r pw %r/%r" % (
            dw["chain"], pw["chain"], dw["resident_input"], dw["resident_output"],
            pw["resident_input"], pw["resident_output"]))
    if dw["verified"] is not True or pw["verified"] is not True:
        problems.append("verified %r/%r" % (dw["verified"], pw["verified"]))
    # weights written ahead are of a layer after another in its chain, part of its bytes
    for L in d["layers"] + runs["layers"][0]["layers"]:
        first = L["chain"] is None or L is dw
        if not is_int(L["bytes_ahead"]) or L["bytes_ahead"] > L["bytes_to_device"] or \
                (first and L["bytes_ahead"]):
            problems.append("%s: bytes_ahead %r of %r to the device" % (
                L["name"], L["bytes_ahead"], L["bytes_to_device"]))
    out = dw["out_shape"][1] * dw["out_shape"][2] * dw["out_shape"][3]
    if dw["bytes_from_device"] >= out // 4:
        problems.append("conv13.dw brought %d bytes back for a kept output of %d" % (
            dw["bytes_from_device"], out))
    rows = [ln.split() for ln in so.splitlines() if ln.startswith("mobilenetv1.conv13.")]
    if [r[-1] for r in rows] != ["out", "in"]:
        problems.append("kept column %r" % [r[-1] for r in rows])
    moved = {m: sum(L["bytes_to_device"] + L["bytes_from_device"] for L in runs[m][0]["layers"])
             for m in runs}
    if not moved["network"] + out <= moved["layers"]:
        problems.append("bytes moved: %r; the network should save at least the kept %d" % (
            moved, out))
    check(not problems, "sim --network: conv13.dw's output kept, verified, fewer bytes",
          problems)
    check_floor(d, "sim --network")
    rc, so, se = run([os.path.join(tmp, "network.json"), tmp], prog=[PYTHON, ROOFLINE])
    svg = os.path.join(tmp, "roofline_mobilenetv1_network.svg")
    text = open(svg).read() if os.path.isfile(svg) else ""
    check(rc == 0 and "mobilenetv1 as a network" in text and
          not os.path.exists(os.path.join(tmp, "roofline_mobilenetv1.svg")),
          "roofline.py on a --network bench: roofline_mobilenetv1_network.svg",
          ["exit %s" % rc, se.strip(), "files: %s" % sorted(os.listdir(tmp))])


def test_latency(tmp):
    """--latency: the sim link delays every crossing, so each tile's RUN (whose answer the
    driver awaits before it goes on) costs a round trip; the floor adds two crossings; the
    results stay exact; a bad CBR_SIM_LATENCY is refused by name."""
    lib = os.path.join(os.path.dirname(os.path.abspath(CBR)), "..", "sim", "libcbrsim_16x16.so")
    if not os.path.isfile(lib):
        print("skipped: --latency on sim:16x16 (no %s)" % os.path.normpath(lib))
        return
    lat_us, clock = 10, 200
    lat = lat_us * clock
    runs = {}
    for us in (0, lat_us):
        path = os.path.join(tmp, "lat%d.json" % us)
        argv = ["bench", "-d", "sim:16x16", "--suite", "lenet", "--seed", "3", "--latency",
                str(us), "--json", path]
        rc, so, se = run(argv)
        d = load_json(path, "sim lenet --latency %d" % us) if os.path.exists(path) else None
        if not check(rc == 0 and d is not None, "sim lenet --latency %d: exit 0" % us,
                     ["exit %s" % rc, "stderr: %s" % se.strip(), "command: " + cmdline(argv)]):
            return
        runs[us] = (d, so)
    d, so = runs[lat_us]
    d0 = runs[0][0]
    problems = []
    if d["link_latency_cycles"] != lat or d["link_latency_us"] != lat_us or \
            d0["link_latency_cycles"] != 0:
        problems.append("link_latency_cycles %r / us %r (want %d / %d), without: %r" % (
            d["link_latency_cycles"], d["link_latency_us"], lat, lat_us,
            d0["link_latency_cycles"]))
    if "and %d us latency (%d cycles)" % (lat_us, lat) not in so:
        problems.append("the header does not give the latency")
    for L, L0 in zip(d["layers"], d0["layers"]):
        if L["verified"] is not True:
            problems.append("%s: verified %r" % (L["name"], L["verified"]))
        if not L["cycles"] >= L["tiles"] * 2 * lat:
            problems.append("%s: %d cycles for %d tiles, want a round trip of %d a tile" % (
                L["name"], L["cycles"], L["tiles"], 2 * lat))
        if not L["cycles"] >= L0["cycles"] + 2 * lat:
            problems.append("%s: %d cycles, without the latency %d" % (
                L["name"], L["cycles"], L0["cycles"]))
    check(not problems, "sim lenet --latency %d: every tile pays a round trip" % lat_us,
          problems)
    check_floor(d, "sim lenet --latency %d" % lat_us)
    for bad in ("abc", "-5", "1000001", "3.5"):
        env = dict(os.environ, CBR_SIM_LATENCY=bad)
        rc, so, se = run(["info", "-d", "sim:16x16"], env=env)
        check(rc == 1 and "CBR_SIM_LATENCY='%s'" % bad in se and "Traceback" not in se,
              "CBR_SIM_LATENCY=%s refused" % bad, ["exit %s" % rc, "stderr: %s" % se.strip()])
    # CBR_LINK_LATENCY_US is what the planner assumes, whatever the transport reports: as
    # much as the 10 us link above gives lenet.conv1 fewer tiles on a link without latency,
    # and 0 plans the 10 us link as one without
    tiles = {}
    for env_us, sim_us in ((lat_us, 0), (0, lat_us)):
        path = os.path.join(tmp, "plan%d_%d.json" % (env_us, sim_us))
        argv = ["bench", "-d", "sim:16x16", "--suite", "lenet", "--layer", "conv1", "--seed",
                "3", "--latency", str(sim_us), "--json", path]
        env = dict(os.environ, CBR_LINK_LATENCY_US=str(env_us))
        rc, so, se = run(argv, env=env)
        dp = load_json(path, "CBR_LINK_LATENCY_US=%d" % env_us) if os.path.exists(path) else None
        if not check(rc == 0 and dp is not None and dp["layers"][0]["verified"] is True,
                     "CBR_LINK_LATENCY_US=%d, --latency %d: exit 0, verified" % (env_us, sim_us),
                     ["exit %s" % rc, "stderr: %s" % se.strip(),
                      "command: CBR_LINK_LATENCY_US=%d %s" % (env_us, cmdline(argv))]):
            return
        tiles[env_us] = dp["layers"][0]["tiles"]
    t0 = [L["tiles"] for L in d0["layers"] if L["name"].startswith("lenet.conv1")][0]
    tl = [L["tiles"] for L in d["layers"] if L["name"].startswith("lenet.conv1")][0]
    check(tl < t0 and tiles[lat_us] == tl and tiles[0] == t0,
          "CBR_LINK_LATENCY_US sets the planner's latency",
          ["lenet.conv1 tiles: %d without latency, %d at %d us; %d with CBR_LINK_LATENCY_US=%d "
           "on a link without, %d with CBR_LINK_LATENCY_US=0 at %d us" % (
               t0, tl, lat_us, tiles[lat_us], lat_us, tiles[0], lat_us)])
    for bad in ("abc", "-1", "100001", "nan", "5us"):
        env = dict(os.environ, CBR_LINK_LATENCY_US=bad)
        rc, so, se = run(["info", "-d", "sim:16x16"], env=env)
        check(rc == 1 and "CBR_LINK_LATENCY_US='%s'" % bad in se and "Traceback" not in se,
              "CBR_LINK_LATENCY_US=%s refused" % bad, ["exit %s" % rc, "stderr: %s" % se.strip()])
    # the request timeout is read the same way: a malformed one is refused, not ignored
    for bad in ("abc", "0", "-5", "600001", "20ms"):
        env = dict(os.environ, CBR_TIMEOUT_MS=bad)
        rc, so, se = run(["info", "-d", "sim:16x16"], env=env)
        check(rc == 1 and "CBR_TIMEOUT_MS='%s'" % bad in se and "Traceback" not in se,
              "CBR_TIMEOUT_MS=%s refused" % bad, ["exit %s" % rc, "stderr: %s" % se.strip()])


def test_cycles_only(tmp, simdir):
    """A board with the cycle counters alone (FEATURES bit 8, COUNTERS=2: the iCEBreaker
    image's core, built as sim:ice in simdir) still gets cycles, core and floor."""
    path = os.path.join(tmp, "c2.json")
    argv = ["bench", "-d", "sim:ice", "--suite", "lenet", "--seed", "3", "--json", path]
    env = dict(os.environ, CBR_SIM_PATH=simdir)
    # the board found must be that build (CBR_SIM_PATH falls back to the default boards)
    rc, so, se = run(["info", "-d", "sim:ice"], env=env)
    feats = [ln.split(":", 1)[1].split() for ln in so.splitlines() if ln.startswith("features:")]
    if not check(rc == 0 and len(feats) == 1 and "cycle-counters" in feats[0] and
                 "counters" not in feats[0], "cycles-only sim:ice: cbr info shows the cycle "
                 "counters alone", ["exit %s" % rc, "stdout: %s" % so.strip(),
                                    "stderr: %s" % se.strip(), "CBR_SIM_PATH=%s" % simdir]):
        return
    rc, so, se = run(argv, env=env)
    d = load_json(path, "cycles-only lenet") if os.path.exists(path) else None
    if not check(rc == 0 and d is not None, "cycles-only sim:ice lenet: exit 0",
                 ["exit %s" % rc, "stderr: %s" % se.strip(),
                  "command: CBR_SIM_PATH=%s %s" % (simdir, cmdline(argv))]):
        return
    problems = []
    if d["device"]["counters"] is not True:
        problems.append("device.counters %r" % d["device"]["counters"])
    for L in d["layers"]:
        if not (is_int(L["cycles"]) and is_int(L["core_cycles"]) and
                0 < L["core_cycles"] <= L["cycles"] and L["bound"] in ("link", "compute") and
                L["verified"] is True):
            problems.append("%s: cycles %r core_cycles %r bound %r verified %r" % (
                L["name"], L["cycles"], L["core_cycles"], L["bound"], L["verified"]))
    check(not problems, "cycles-only sim:ice lenet: cycles, core cycles, bound", problems)
    check_floor(d, "cycles-only sim:ice lenet")


def main():
    t0 = time.time()
    print("cbr: %s" % CBR, flush=True)
    if not os.path.isfile(CBR) or not os.access(CBR, os.X_OK):
        check(False, "no executable at CBR=%s" % CBR)
        print("%d passed, %d failed" % (passed, failed))
        return 1
    root = tempfile.mkdtemp(prefix="cbr-bench-test-")
    if len(sys.argv) == 3 and sys.argv[1] == "--cycles-only-sim":
        # make test-rtl-tiny: the COUNTERS=2 build of the tiny core (mk/tiny.mk)
        test_cycles_only(root, sys.argv[2])
        if not failed:
            shutil.rmtree(root, ignore_errors=True)
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    dirs = {}
    for name in ("cpu", "bad", "roofline", "sim", "layer", "latency", "netcpu", "netsim"):
        dirs[name] = os.path.join(root, name)
        os.mkdir(dirs[name])
    test_help()
    test_list()
    test_floor_brute()
    test_schedule_model()
    cpu = test_cpu_lenet(dirs["cpu"])
    test_bad(dirs["bad"])
    test_layer_filter(dirs["layer"])
    test_roofline(dirs["roofline"], cpu)
    test_sim(dirs["sim"])
    test_latency(dirs["latency"])
    test_network_cpu(dirs["netcpu"])
    test_network_sim(dirs["netsim"])
    if failed:
        print("files kept in %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print("(%.1fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
