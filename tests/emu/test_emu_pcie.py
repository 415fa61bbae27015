#!/usr/bin/python3
"""The host stack over PCIe (XDMA) under the board emulator, cbr-emu.

Three parts, each run for real through `cbr-emu pcie DIR -- cbr ... -d pcie:DIR/xdma0`:

1. End to end: random layers (tests/cli/layergen.py) through the emulated XDMA link; the
   output file must be byte-identical to the cpu device's and equal to the NumPy model.
2. Bad inputs: cbr-emu's arguments, a core that hangs (it must fail the layer within
   seconds), and XDMA paths that are missing, not a cbr board, dead
   (all ones) or link-down; each must give a non-zero exit and a message naming the problem.
3. Fault runs: short layers with random faults (corrupt, drop, stall, timeout, unplug);
   every run must end either with exit 0 and the right output, or with exit 1, a clear
   error and no output file; never a wrong output with exit 0, never a crash, never a hang
   (a run is killed after --timeout seconds and fails). The injected faults are counted
   from cbr-emu's summary; fewer than --min-faults in all fails the test.

    CBR=build/bin/cbr CBR_EMU=build/bin/cbr-emu /usr/bin/python3 tests/emu/test_emu_pcie.py
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
import signal
import subprocess
import sys
import threading
import time

import numpy as np

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import layergen  # noqa: E402
import test_cli  # noqa: E402

CBR = os.path.abspath(os.environ.get("CBR", "build/bin/cbr"))
EMU = os.path.abspath(os.environ.get("CBR_EMU", "build/bin/cbr-emu"))
TIMEOUT_MS = 200          # CBR_TIMEOUT_MS for the fault runs: a lost answer costs this much

from emucheck import record, run  # noqa: E402
import emucheck  # noqa: E402


def emu_argv(d, shape, seed, faults, cmd):
    argv = [EMU, "pcie", d, "--array", shape, "--seed", str(seed)]
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


_argv_lock = threading.Lock()


def layer_cmd(L, d, device):
    with _argv_lock:  # test_cli.layer_argv reads the module's DEVICE
        test_cli.DEVICE = device
        argv, out = test_cli.layer_argv(L, d)
    return [CBR] + argv, out


# ---- 1. end to end -------------------------------------------------------------------------

def check_e2e(seed, index, shape, root):
    L = layergen.gen_layer(seed, index)
    d = os.path.join(root, "e2e%04d" % index)
    os.makedirs(d)
    xdir = os.path.join(d, "xdma")
    cmd, out = layer_cmd(L, d, "pcie:%s/xdma0" % xdir)
    problems = []
    rc, _, se = run(emu_argv(xdir, shape, seed, [], cmd), 300)
    if rc != 0:
        problems.append("exit %s, stderr: %s" % (rc, se.strip()[-600:]))
    else:
        problems += emucheck.compare_with_cpu(cmd, out, d, L)
    if os.path.exists(xdir):
        problems.append("cbr-emu left %s behind: %s" % (xdir, os.listdir(xdir)))
    return L, d, cmd, problems


# ---- 2. bad inputs -------------------------------------------------------------------------

def bad_cases(root, shape):
    cases = []
    d = os.path.join(root, "bad")
    os.makedirs(d)
    a_file = os.path.join(d, "a_file")
    with open(a_file, "w") as f:
        f.write("x")
    taken = os.path.join(d, "taken")
    os.makedirs(taken)
    with open(os.path.join(taken, "xdma0_c2h_0"), "w") as f:
        f.write("keep me")
    fresh = os.path.join(d, "fresh")
    # cbr-emu's own arguments: (argv after cbr-emu, expected exit, words the message needs)
    cases += [
        ([], 2, ["missing the link"]),
        (["floppy"], 2, ["unknown link", "floppy"]),
        (["pcie"], 2, ["missing DIR"]),
        (["pcie", fresh, "--fault", "bogus:1", "--", "true"], 2, ["unknown kind", "bogus"]),
        (["pcie", fresh, "--fault", "corrupt:2", "--", "true"], 2, ["corrupt:2", "0 to 1"]),
        (["pcie", fresh, "--fault", "drop", "--", "true"], 2, ["KIND:VALUE", "drop"]),
        (["pcie", fresh, "--fault", "unplug:-3", "--", "true"], 2, ["unplug:-3"]),
        (["pcie", fresh, "--fault", "hang:x", "--", "true"], 2, ["hang:x", "count of tiles"]),
        (["pcie", fresh, "--fault", "", "--", "true"], 2, ["empty fault spec"]),
        (["pcie", fresh, "--array", "0x4", "--", "true"], 2, ["--array", "0x4"]),
        (["pcie", fresh, "--seed", "-1", "--", "true"], 2, ["--seed", "-1"]),
        (["pcie", fresh, "--seed"], 2, ["--seed", "missing"]),
        (["pcie", fresh, "--frobnicate", "--", "true"], 2, ["unknown option", "--frobnicate"]),
        (["pcie", fresh], 2, ["missing", "COMMAND"]),
        (["pcie", fresh, "--"], 2, ["missing", "COMMAND"]),
        (["pcie", a_file, "--", "true"], 1, ["not a directory", a_file]),
        (["pcie", taken, "--array", shape, "--", "true"], 1,
         [os.path.join(taken, "xdma0_c2h_0"), "exists"]),
        (["pcie", fresh, "--array", "3x5", "--", "true"], 1, ["3x5"]),
        (["pcie", fresh, "--array", shape, "--", "/nonexistent/prog"], 127,
         ["cannot run", "/nonexistent/prog"]),
        (["pcie", fresh, "--array", shape, "--", "sh", "-c", "exit 7"], 7, ["seed"]),
    ]
    results = []
    for argv, want_rc, words in cases:
        rc, so, se = run([EMU] + argv, 60)
        problems = []
        if rc != want_rc:
            problems.append("exit %s, want %s" % (rc, want_rc))
        for w in words:
            if w.lower() not in se.lower():
                problems.append("stderr lacks %r: %s" % (w, se.strip()[-400:]))
        if os.path.exists(fresh):
            problems.append("%s left behind" % fresh)
        results.append(("cbr-emu " + shlex.join(argv), problems))
    with open(os.path.join(taken, "xdma0_c2h_0")) as f:
        if f.read() != "keep me":
            results.append(("existing path untouched", ["cbr-emu changed a file it refused"]))
        else:
            results.append(("existing path untouched", []))

    # The host side, on paths that are not a working board.
    def user_bar(name, words):
        p = os.path.join(d, name)
        os.makedirs(p)
        b = bytearray(4096)
        for off, v in words.items():
            b[off:off + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")
        with open(os.path.join(p, "xdma0_user"), "wb") as f:
            f.write(b)
        return p

    nocard = os.path.join(d, "nocard")
    wrong = user_bar("wrong", {0: 0x12345678, 4: 0x10001, 8: 1})
    dead = user_bar("dead", {0: 0xFFFFFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFF})
    down = user_bar("down", {0: 0x58524243, 4: 0x10001, 8: 0})
    newer = user_bar("newer", {0: 0x58524243, 4: 0x20001, 8: 1})
    nostream = user_bar("nostream", {0: 0x58524243, 4: 0x10001, 8: 1})
    host_cases = [
        (nocard, ["%s/xdma0_user" % nocard, "No such file"]),
        (wrong, ["not a cbr board", "0x12345678"]),
        (dead, ["all ones", "does not respond"]),
        (down, ["link is down"]),
        (newer, ["protocol 2"]),
        (nostream, ["%s/xdma0_h2c_0" % nostream]),
    ]
    for p, words in host_cases:
        rc, so, se = run([CBR, "info", "-d", "pcie:%s/xdma0" % p], 30)
        problems = []
        if rc not in (1, 2) or rc == "timeout":
            problems.append("exit %s, want 1 or 2" % rc)
        for w in words:
            if w.lower() not in se.lower():
                problems.append("stderr lacks %r: %s" % (w, se.strip()[-400:]))
        results.append(("cbr info -d pcie:%s/xdma0" % p, problems))

    # A conv on a board that is gone from the first byte: an error, no output file.
    L = layergen.gen_layer(1, 3)
    ld = os.path.join(d, "unplugged")
    os.makedirs(ld)
    xdir = os.path.join(ld, "xdma")
    cmd, out = layer_cmd(L, ld, "pcie:%s/xdma0" % xdir)
    rc, _, se = run(emu_argv(xdir, shape, 1, ["unplug:0"], cmd), 60)
    problems = []
    if rc != 1:
        problems.append("exit %s, want 1" % rc)
    if os.path.exists(out):
        problems.append("an output file was written")
    if "gone" not in se and "does not respond" not in se:
        problems.append("stderr does not say the board is gone: %s" % se.strip()[-400:])
    results.append(("conv on a board unplugged at byte 0", problems))
    results.append(("conv while the emulator is killed", emulator_killed(d, shape)))
    for after in (0, 2):
        results.append(("conv on a core that hangs after %d tiles" % after,
                        hung_core(d, shape, after)))
    return results


def conv_files(ld):
    """A layer of many tiles (about 10 M cycles on 4x4): its .npy files in ld, and cbr conv's
    arguments but the device."""
    rng = np.random.default_rng(5)
    files = {"input": rng.integers(-128, 128, (1, 64, 64, 64), dtype=np.int8),
             "weights": rng.integers(-127, 128, (64, 64, 3, 3), dtype=np.int8),
             "bias": np.zeros(64, dtype=np.int32),
             "multiplier": np.full(64, 1 << 30, dtype=np.int32),
             "shift": np.full(64, -8, dtype=np.int32)}
    args = ["--input-zp", "0", "--output-zp", "0"]
    for k, v in files.items():
        np.save(os.path.join(ld, k + ".npy"), v)
        args += ["--" + k, os.path.join(ld, k + ".npy")]
    return args


HANG_SECS = 30  # a hung core must fail the layer within this: the wall-clock deadline


def hung_core(d, shape, after):
    """The core takes `after` starts, then never another (cbr-emu --fault hang:N: later RUNs
    are answered, polls too, RUNS stays). The pcie link counts no device cycles, so only the
    wall-clock deadline at INFO's clock can end the wait: cbr must fail within HANG_SECS
    (not RUN_TIMEOUT_MS), name the tile and write no output file."""
    ld = os.path.join(d, "hang%d" % after)
    os.makedirs(ld)
    xdir = os.path.join(ld, "xdma")
    out = os.path.join(ld, "y.npy")
    cmd = [CBR, "conv", "-d", "pcie:%s/xdma0" % xdir] + conv_files(ld) + ["--output", out]
    t0 = time.time()
    rc, _, se = run(emu_argv(xdir, shape, 1, ["hang:%d" % after], cmd), 120)
    secs = time.time() - t0
    problems = []
    if rc != 1:
        problems.append("exit %s, want 1: %s" % (rc, se.strip()[-400:]))
    # start after+1 is never taken: the wait for it (tile `after`) or, with none before, for
    # the first tile's end gives up
    tile = max(after, 1)
    if "did not finish tile %d of the layer" % tile not in se:
        problems.append("stderr does not name tile %d: %s" % (tile, se.strip()[-400:]))
    if "RUNs answered but kept from the core" not in se:
        problems.append("cbr-emu held no RUN: %s" % se.strip()[-400:])
    if secs > HANG_SECS:
        problems.append("took %.1f s, want < %d" % (secs, HANG_SECS))
    if os.path.exists(out):
        problems.append("an output file was written")
    return problems


def emulator_killed(d, shape):
    """The emulator dies (SIGKILL) while a conv runs: its paths stay behind and the BAR still
    looks alive, but the streams have no peer. cbr must fail cleanly, not hang or die of
    SIGPIPE, and write no output file."""
    ld = os.path.join(d, "killed")
    os.makedirs(ld)
    xdir = os.path.join(ld, "xdma")
    # Large enough (about 10 M cycles on 4x4) that no machine finishes it within the second
    # before the kill: a fast one did with 8 output channels.
    out = os.path.join(ld, "y.npy")
    cmd = [CBR, "conv", "-d", "pcie:%s/xdma0" % xdir] + conv_files(ld) + ["--output", out]
    emu = subprocess.Popen(emu_argv(xdir, shape, 1, [], ["sleep", "120"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    problems = []
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(xdir, "xdma0_user")):
                break
            time.sleep(0.05)
        host = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.0)
        os.killpg(emu.pid, signal.SIGKILL)
        emu.wait()
        try:
            _, se = host.communicate(timeout=60)
            se = se.decode("utf-8", "replace")
            if host.returncode != 1:
                problems.append("exit %s, want 1: %s" % (host.returncode, se.strip()[-400:]))
            elif "gone" not in se:
                problems.append("stderr does not say the board is gone: %s" % se.strip()[-400:])
            if os.path.exists(out):
                problems.append("an output file was written")
        except subprocess.TimeoutExpired:
            host.kill()
            host.wait()
            problems.append("cbr hung after the emulator died")
    finally:
        if emu.poll() is None:
            os.killpg(emu.pid, signal.SIGKILL)
            emu.wait()
    return problems


# ---- 3. fault runs -------------------------------------------------------------------------

# What a clear error says: the failure, where, and never just a code.
CLEAR = re.compile(r"cbr conv: .*(BAD_CRC|timed out|no response|gone|does not respond|"
                   r"failed|link|DMA|CRC|answer|not answer|sequence|protocol)", re.I)


def pick_faults(rng):
    faults = []
    kinds = ["corrupt", "drop", "stall", "timeout", "unplug"]
    chosen = [k for k in kinds if rng.random() < 0.5] or [kinds[int(rng.integers(0, 5))]]
    for k in chosen:
        if k == "corrupt":
            faults.append("corrupt:%g" % float(rng.choice([5e-4, 1e-3, 3e-3, 5e-3])))
        elif k == "unplug":
            faults.append("unplug:%d" % int(rng.integers(0, 20000)))
        else:
            faults.append("%s:%g" % (k, float(rng.choice([0.01, 0.03, 0.08, 0.2]))))
    return faults


def classify(msg):
    return ("error: gone" if "gone" in msg or "does not respond" in msg else
            "error: timeout" if "timed out" in msg or "no response" in msg else
            "error: bad CRC" if "CRC" in msg else
            "error: DMA" if "DMA" in msg else "error: other")


def fault_run(seed, index, shape, root, timeout):
    rng = np.random.default_rng([seed, index, 7])
    L = layergen.gen_layer(seed, 100000 + index)
    faults = pick_faults(rng)
    emu_seed = int(rng.integers(0, 2**63))
    d = os.path.join(root, "fault%05d" % index)
    os.makedirs(d)
    xdir = os.path.join(d, "xdma")
    cmd, out = layer_cmd(L, d, "pcie:%s/xdma0" % xdir)
    env = dict(os.environ, CBR_TIMEOUT_MS=str(TIMEOUT_MS))
    argv = emu_argv(xdir, shape, emu_seed, faults, cmd)
    t0 = time.time()
    rc, _, se = run(argv, timeout, env)
    secs = time.time() - t0
    counts = faults_injected(se)
    problems, outcome, msg = emucheck.judge_fault_run(rc, se, out, L, timeout, counts, CLEAR,
                                                      classify)
    if os.path.exists(xdir):
        problems.append("cbr-emu left %s behind" % xdir)
    return index, L, argv, faults, counts, outcome, msg, secs, d, problems


def main():
    global TIMEOUT_MS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--shape", default="4x4")
    ap.add_argument("--layers", type=int, default=12, help="end-to-end layers")
    ap.add_argument("--fault-runs", type=int, default=150)
    ap.add_argument("--min-faults", type=int, default=1000)
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a run is a hang")
    ap.add_argument("--run", type=int, action="append", help="only this fault run (replay)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    started = emucheck.start(args, CBR, EMU, __file__, "cbr-emu-pcie-")
    if started is None:
        return 1
    seed, root, replay = started
    try:
        if not args.run:
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
                futs = [ex.submit(check_e2e, seed, i, args.shape, root)
                        for i in range(args.layers)]
                for fut in futs:
                    L, d, cmd, problems = fut.result()
                    record(not problems, "e2e layer %d: %s" % (L["index"],
                                                               layergen.describe(L)),
                           problems + ["command: " + shlex.join(cmd)])
            print("end to end: %d layers through pcie under cbr-emu" % args.layers)
            for what, problems in bad_cases(root, args.shape):
                record(not problems, "bad input: " + what, problems)
            sys.stdout.flush()

        emucheck.fault_runs(fault_run, args, seed, root,
                            ["corrupt", "drop", "stall", "timeout", "unplug"],
                            "fault runs",
                            ["corrupted bytes", "dropped", "stalled", "timed out", "unplugged"],
                            TIMEOUT_MS, replay)
    finally:
        emucheck.cleanup(root, args.keep)
    return emucheck.summary()


if __name__ == "__main__":
    sys.exit(main())
