#!/usr/bin/python3
"""The host stack over USB (libusb) under the board emulator: `cbr-emu usb -- cbr ... -d usb`.

cbr-emu presents the simulated board as a USB device through umockdev, so the whole USB path
runs for real: libusb enumeration, descriptors, the serial number, claiming the interface,
asynchronous bulk transfers, clear_halt, and an unplug. Four parts:

1. End to end: random layers (tests/cli/layergen.py) through `-d usb`; the output file must be
   byte-identical to the cpu device's and equal to the NumPy model. `cbr info -d usb`,
   `cbr devices` (the emulated board listed with its INFO) and the URI forms
   usb, usb:VID:PID, usb:VID:PID:SERIAL and $CBR_USB_ID.
2. Bad inputs: device not found (no board, wrong VID:PID, wrong serial), malformed URIs and
   $CBR_USB_ID: non-zero exit, a message naming the problem, no output file.
3. Unplug in the middle of a run: a clear error at once ("gone"), no output file, no hang.
4. Fault runs: short layers with random USB faults (stall, drop, corrupt, timeout, unplug);
   each must end with exit 0 and the right output, or exit 1, a clear error and no output
   file; never a wrong output with exit 0, never a crash, never a hang (killed after
   --timeout seconds: a failure). Injected faults are counted from cbr-emu's summary.

    CBR=build/bin/cbr CBR_EMU=build/bin/cbr-emu /usr/bin/python3 tests/emu/test_usb.py
        [--seed S] [--shape RxC] [--layers N] [--fault-runs N] [--min-faults N]
        [--jobs J] [--run I] [--keep]

The seed comes from --seed, else $CBR_SEED, else the clock, and is printed first; run I of a
seed is always the same layer and the same faults, so `--seed S --run I --keep` replays one.
Exits non-zero on any failure; the last line is "N passed, M failed".
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import layergen  # noqa: E402
import test_cli  # noqa: E402

CBR = os.path.abspath(os.environ.get("CBR", "build/bin/cbr"))
EMU = os.path.abspath(os.environ.get("CBR_EMU", "build/bin/cbr-emu"))
TIMEOUT_MS = 300          # CBR_TIMEOUT_MS for the fault runs: a lost answer costs this much

from emucheck import record, run  # noqa: E402
import emucheck  # noqa: E402


def emu_argv(shape, seed, faults, cmd, extra=()):
    argv = [EMU, "usb", "--array", shape, "--seed", str(seed)] + list(extra)
    for f in faults:
        argv += ["--fault", f]
    return argv + ["--"] + cmd


def faults_injected(stderr):
    m = re.search(r"faults injected: (\d+) \(corrupted bytes (\d+), dropped (\d+), "
                  r"stalled (\d+), timed out (\d+), unplugged (yes|no)\)", stderr)
    if not m:
        return None
    return {"total": int(m.group(1)), "corrupt": int(m.group(2)), "drop": int(m.group(3)),
            "stall": int(m.group(4)), "timeout": int(m.group(5)),
            "unplug": 1 if m.group(6) == "yes" else 0}


def layer_cmd(L, d, device):
    test_cli.DEVICE = device
    argv, out = test_cli.layer_argv(L, d)
    return [CBR] + argv, out


def check_words(se, words):
    return ["stderr lacks %r: %s" % (w, se.strip()[-400:]) for w in words
            if w.lower() not in se.lower()]


# ---- 1. end to end -------------------------------------------------------------------------

def check_e2e(seed, index, shape, root):
    L = layergen.gen_layer(seed, index)
    d = os.path.join(root, "e2e%04d" % index)
    os.makedirs(d)
    cmd, out = layer_cmd(L, d, "usb")
    problems = []
    rc, _, se = run(emu_argv(shape, seed, [], cmd), 300)
    if rc != 0:
        problems.append("exit %s, stderr: %s" % (rc, se.strip()[-600:]))
    else:
        problems += emucheck.compare_with_cpu(cmd, out, d, L)
    return L, cmd, problems


def info_cases(shape):
    """cbr info / cbr devices through the emulated board, and the URI forms."""
    results = []
    ser = "CBRT%04d" % (os.getpid() % 10000)
    uris = ["usb", "usb:04b4:00f1", "usb:4B4:F1", "usb:04b4:00f1:CBREMU0001"]
    for uri in uris:
        rc, so, se = run(emu_argv(shape, 1, [], [CBR, "info", "-d", uri]), 120)
        problems = [] if rc == 0 else ["exit %s: %s" % (rc, se.strip()[-400:])]
        r, c = shape.split("x")
        for w in ["device:          usb:04b4:00f1:CBREMU0001", "array:           %sx%s PEs"
                  % (r, c), "protocol:        1", "board over USB"]:
            if w not in so:
                problems.append("stdout lacks %r: %s" % (w, so.strip()[-400:]))
        results.append(("cbr info -d %s" % uri, problems))
    # Another VID:PID and serial number, chosen on both sides.
    cmd = [CBR, "info", "-d", "usb:1d50:6018:%s" % ser]
    rc, so, se = run(emu_argv(shape, 1, [], cmd, ["--usb-id", "1d50:6018", "--serial", ser]),
                     120)
    problems = [] if rc == 0 else ["exit %s: %s" % (rc, se.strip()[-400:])]
    if "usb:1d50:6018:%s" % ser not in so:
        problems.append("stdout lacks the URI: %s" % so.strip()[-300:])
    results.append(("cbr info -d usb:1d50:6018:%s (cbr-emu --usb-id --serial)" % ser,
                    problems))
    # $CBR_USB_ID sets the default VID:PID for -d usb and for the listing.
    env = dict(os.environ, CBR_USB_ID="1d50:6018")
    rc, so, se = run(emu_argv(shape, 1, [], [CBR, "devices"], ["--usb-id", "1d50:6018"]),
                     120, env)
    line = [ln for ln in so.splitlines() if ln.startswith("usb:")]
    problems = []
    if rc != 0:
        problems.append("exit %s: %s" % (rc, se.strip()[-400:]))
    if line != ["usb:1d50:6018:CBREMU0001 board over USB, %s array" % shape]:
        problems.append("usb lines of cbr devices: %r" % line)
    results.append(("CBR_USB_ID=1d50:6018 cbr devices", problems))
    # cbr devices: the emulated board listed with what INFO says, and only it.
    rc, so, se = run(emu_argv(shape, 1, [], [CBR, "devices"]), 120)
    line = [ln for ln in so.splitlines() if ln.startswith("usb:")]
    problems = []
    if rc != 0:
        problems.append("exit %s: %s" % (rc, se.strip()[-400:]))
    if line != ["usb:04b4:00f1:CBREMU0001 board over USB, %s array" % shape]:
        problems.append("usb lines of cbr devices: %r" % line)
    results.append(("cbr devices lists the emulated board", problems))
    return results


# ---- 2. bad inputs -------------------------------------------------------------------------

def bad_cases(root, shape):
    results = []
    d = os.path.join(root, "bad")
    os.makedirs(d)
    L = layergen.gen_layer(2, 5)
    # (how the command runs, device URI, extra env, words the message needs)
    cases = [
        ("no emulator", "usb", {}, ["no USB board 04b4:00f1"]),
        ("emulated", "usb:04b4:00f2", {}, ["no USB board 04b4:00f2"]),
        ("emulated", "usb:04b4:00f1:NOSUCH", {}, ["serial number 'NOSUCH'"]),
        ("emulated", "usb:xyz", {}, ["usb:xyz", "usb:VID:PID"]),
        ("emulated", "usb:04b4", {}, ["usb:04b4", "usb:VID:PID"]),
        ("emulated", "usb:04b4:123456", {}, ["usb:04b4:123456", "usb:VID:PID"]),
        ("emulated", "usb:04b4:00f1:", {}, ["serial number", "empty"]),
        ("emulated", "usb", {"CBR_USB_ID": "nope"}, ["CBR_USB_ID='nope'", "VID:PID"]),
        ("emulated", "usbx", {}, ["usbx", "unknown kind of device"]),
    ]
    for i, (how, uri, extra, words) in enumerate(cases):
        ld = os.path.join(d, "case%d" % i)
        os.makedirs(ld)
        cmd, out = layer_cmd(L, ld, uri)
        env = dict(os.environ, **extra)
        argv = cmd if how == "no emulator" else emu_argv(shape, 1, [], cmd)
        rc, _, se = run(argv, 120, env)
        problems = []
        if rc != 1:
            problems.append("exit %s, want 1" % rc)
        if os.path.exists(out):
            problems.append("an output file was written")
        problems += check_words(se, words)
        results.append(("cbr conv -d %s (%s%s)" % (uri, how, "".join(
            ", %s=%s" % kv for kv in extra.items())), problems))
    # cbr-emu's own USB arguments.
    for argv, words in [(["--usb-id", "zz:1"], ["--usb-id", "zz:1"]),
                        (["--usb-id", "04b4"], ["--usb-id", "04b4"]),
                        (["--serial", ""], ["--serial"])]:
        rc, _, se = run([EMU, "usb"] + argv + ["--", "true"], 60)
        problems = [] if rc == 2 else ["exit %s, want 2" % rc]
        results.append(("cbr-emu usb " + shlex.join(argv), problems + check_words(se, words)))
    return results


# ---- 3. unplug mid-run ------------------------------------------------------------------------

def unplug_cases(root, shape):
    results = []
    d = os.path.join(root, "unplug")
    os.makedirs(d)
    L = layergen.gen_layer(3, 9)
    # How many bytes the whole run moves, from a clean run; then unplug at points inside it.
    ld = os.path.join(d, "clean")
    os.makedirs(ld)
    cmd, out = layer_cmd(L, ld, "usb")
    rc, _, se = run(emu_argv(shape, 1, [], cmd), 120)
    m = re.search(r"host->device \d+ transfers, (\d+) bytes; device->host \d+ transfers, "
                  r"(\d+) bytes", se)
    if rc != 0 or not m:
        return [("clean run before the unplug runs", ["exit %s: %s" % (rc, se[-400:])])]
    total = int(m.group(1)) + int(m.group(2))
    for after in (0, 100, total // 3, 2 * total // 3, total - 50):
        ld = os.path.join(d, "after%d" % after)
        os.makedirs(ld)
        cmd, out = layer_cmd(L, ld, "usb")
        t0 = time.time()
        rc, _, se = run(emu_argv(shape, 1, ["unplug:%d" % after], cmd), 60)
        secs = time.time() - t0
        problems = []
        if rc != 1:
            problems.append("exit %s, want 1" % rc)
        if os.path.exists(out):
            problems.append("an output file was written")
        problems += check_words(se, ["gone"])
        if secs > 20:
            problems.append("took %.1f s: not at once" % secs)
        results.append(("conv, board unplugged after %d bytes (%.1f s)" % (after, secs),
                        problems))
    return results


# ---- 4. fault runs -------------------------------------------------------------------------

CLEAR = re.compile(r"cbr conv: .*(BAD_CRC|timed out|no response|gone|stall|"
                   r"failed|CRC|answer|sequence|protocol|USB)", re.I)


def pick_faults(rng):
    faults = []
    kinds = ["corrupt", "drop", "stall", "timeout", "unplug"]
    probs = {"corrupt": 0.4, "drop": 0.4, "stall": 0.6, "timeout": 0.4, "unplug": 0.1}
    chosen = [k for k in kinds if rng.random() < probs[k]] or ["stall"]
    for k in chosen:
        if k == "corrupt":
            faults.append("corrupt:%g" % float(rng.choice([2e-4, 5e-4, 1e-3])))
        elif k == "unplug":
            faults.append("unplug:%d" % int(rng.integers(0, 20000)))
        else:
            faults.append("%s:%g" % (k, float(rng.choice([0.01, 0.03, 0.08, 0.2]))))
    return faults


def classify(msg):
    return ("error: gone" if "gone" in msg else
            "error: stall" if "stall" in msg else
            "error: timeout" if ("timed out" in msg or "no response" in msg or
                               "not taken" in msg) else
            "error: CRC" if "CRC" in msg else "error: other")


def fault_run(seed, index, shape, root, timeout):
    rng = np.random.default_rng([seed, index, 11])
    L = layergen.gen_layer(seed, 200000 + index)
    faults = pick_faults(rng)
    emu_seed = int(rng.integers(0, 2**63))
    d = os.path.join(root, "fault%05d" % index)
    os.makedirs(d)
    cmd, out = layer_cmd(L, d, "usb")
    env = dict(os.environ, CBR_TIMEOUT_MS=str(TIMEOUT_MS))
    argv = emu_argv(shape, emu_seed, faults, cmd)
    t0 = time.time()
    rc, _, se = run(argv, timeout, env)
    secs = time.time() - t0
    counts = faults_injected(se)
    problems, outcome, msg = emucheck.judge_fault_run(rc, se, out, L, timeout, counts, CLEAR,
                                                      classify)
    return index, L, argv, faults, counts, outcome, msg, secs, d, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--shape", default="4x4")
    ap.add_argument("--layers", type=int, default=6, help="end-to-end layers")
    ap.add_argument("--fault-runs", type=int, default=60)
    ap.add_argument("--min-faults", type=int, default=200)
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a run is a hang")
    ap.add_argument("--run", type=int, action="append", help="only this fault run (replay)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    started = emucheck.start(args, CBR, EMU, __file__, "cbr-emu-usb-")
    if started is None:
        return 1
    seed, root, replay = started
    try:
        if not args.run:
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
                futs = [ex.submit(check_e2e, seed, i, args.shape, root)
                        for i in range(args.layers)]
                for fut in futs:
                    L, cmd, problems = fut.result()
                    record(not problems, "e2e layer %d: %s" % (L["index"],
                                                               layergen.describe(L)),
                           problems + ["command: %s" % shlex.join(
                               emu_argv(args.shape, seed, [], cmd))])
            print("end to end: %d layers through usb under cbr-emu" % args.layers)
            for part in (info_cases(args.shape), bad_cases(root, args.shape),
                         unplug_cases(root, args.shape)):
                for what, problems in part:
                    record(not problems, what, problems)
            sys.stdout.flush()

        emucheck.fault_runs(fault_run, args, seed, root,
                            ["corrupt", "drop", "stall", "timeout", "unplug"],
                            "usb fault runs",
                            ["corrupted bytes", "dropped", "stalled", "timed out", "unplugged"],
                            TIMEOUT_MS, replay)
    finally:
        emucheck.cleanup(root, args.keep)
    return emucheck.summary()


if __name__ == "__main__":
    sys.exit(main())
