#!/usr/bin/python3
"""Link benchmark: the host stack's sustained bytes/s and host CPU time per MB moved, over
each link the board emulator presents, against the simulated board in-process (-d sim).

The workload moves many bytes per MAC: a 1x1 conv of a large input to few channels. Each
link runs the same layer (`cbr conv`, output checked against -d cpu) REPEAT times; the
figures are the medians. Over the emulator the Verilator model sets the pace (its CPU time
is the "board CPU" column), so bytes/s is the emulated board's, not the link's; the host
CPU per MB is the host stack's own cost, and its inverse bounds what it could sustain.

  bytes/s     bytes over the link both ways (cbr-emu's counters) / the command's wall time
  host CPU    user + system CPU time of the cbr process (the host stack: protocol, transport,
              syscalls), per MB moved; the board's simulation runs in cbr-emu and is
              reported separately ("board CPU")

For -d sim the board runs inside cbr, so its host CPU includes the simulation; it is the
yardstick of what the emulated links add. This is a benchmark, not a test: it reports
figures and fails only if a run fails or an output differs.

    CBR=build/bin/cbr CBR_EMU=build/bin/cbr-emu /usr/bin/python3 tests/emu/bench_links.py
        [--shape RxC] [--batch N] [--repeat N] [--links pcie,usb]
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CBR = os.path.abspath(os.environ.get("CBR", "build/bin/cbr"))
EMU = os.path.abspath(os.environ.get("CBR_EMU", "build/bin/cbr-emu"))


def make_layer(d, batch, seed):
    rng = np.random.default_rng(seed)
    c, h, w, o = 64, 64, 64, 4
    files = {
        "input": rng.integers(-128, 128, (batch, c, h, w), dtype=np.int8),
        "weights": rng.integers(-127, 128, (o, c, 1, 1), dtype=np.int8),
        "bias": rng.integers(-1000, 1000, o, dtype=np.int32),
        "multiplier": np.full(o, 1 << 30, dtype=np.int32),
        "shift": np.full(o, -6, dtype=np.int32),
    }
    argv = ["conv"]
    for k, v in files.items():
        p = os.path.join(d, k + ".npy")
        np.save(p, v)
        argv += ["--" + k, p]
    return argv + ["--act", "relu", "--input-zp", "0", "--output-zp", "0"]


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_sim(argv, out, shape):
    t0, c0 = time.time(), child_cpu()
    p = subprocess.run([CBR] + argv + ["-d", "sim:" + shape, "--output", out],
                       capture_output=True, text=True, timeout=1200)
    wall, cpu = time.time() - t0, child_cpu() - c0
    if p.returncode != 0:
        raise RuntimeError("-d sim: " + p.stderr.strip())
    return wall, cpu, None, None


SUMMARY = re.compile(r"host->device \d+ transfers, (\d+) bytes; device->host \d+ transfers, "
                     r"(\d+) bytes")
TIMES = re.compile(r"wall ([\d.]+) s; CPU of the command ([\d.]+) s user \+ ([\d.]+) s "
                   r"system, of the emulator ([\d.]+) s user \+ ([\d.]+) s system")


def run_emu(link, argv, out, shape, root):
    if link == "pcie":
        xdir = os.path.join(root, "xdma")
        pre = [EMU, "pcie", xdir, "--array", shape, "--seed", "1", "--"]
        dev = "pcie:%s/xdma0" % xdir
    else:
        pre = [EMU, "usb", "--array", shape, "--seed", "1", "--"]
        dev = "usb"
    p = subprocess.run(pre + [CBR] + argv + ["-d", dev, "--output", out],
                       capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (link, p.returncode, p.stderr.strip()[-500:]))
    s, t = SUMMARY.search(p.stderr), TIMES.search(p.stderr)
    if not s or not t:
        raise RuntimeError("%s: no cbr-emu summary: %s" % (link, p.stderr[-300:]))
    nbytes = int(s.group(1)) + int(s.group(2))
    return (float(t.group(1)), float(t.group(2)) + float(t.group(3)), nbytes,
            float(t.group(4)) + float(t.group(5)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="16x16")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--links", default="pcie,usb")
    args = ap.parse_args()
    # The emulated links run the board's link at its full width, as -d sim does by default.
    os.environ.pop("CBR_SIM_LINK", None)
    root = tempfile.mkdtemp(prefix="cbr-bench-links-")
    ok = True
    try:
        argv = make_layer(root, args.batch, 1)
        ref = os.path.join(root, "ref.npy")
        p = subprocess.run([CBR] + argv + ["-d", "cpu", "--output", ref], capture_output=True,
                           text=True, timeout=600)
        if p.returncode != 0:
            print("FAIL: -d cpu: " + p.stderr.strip())
            return 1
        with open(ref, "rb") as f:
            want = f.read()
        print("layer: 1x1 conv, %dx64x64x64 int8 in, 4 channels out, on a %s board; "
              "median of %d runs" % (args.batch, args.shape, args.repeat))
        print("%-6s %10s %10s %12s %14s %14s" % ("link", "wall s", "MB moved", "MB/s",
                                                  "host CPU s/MB", "board CPU s/MB"))
        sim_bytes = None
        for link in [k for k in args.links.split(",") if k] + ["sim"]:
            rows = []
            try:
                for _ in range(args.repeat):
                    out = os.path.join(root, "out_%s.npy" % link)
                    if link == "sim":
                        wall, cpu, nbytes, board = run_sim(argv, out, args.shape)
                    else:
                        wall, cpu, nbytes, board = run_emu(link, argv, out, args.shape, root)
                    with open(out, "rb") as f:
                        if f.read() != want:
                            raise RuntimeError("%s: the output differs from -d cpu's" % link)
                    rows.append((wall, cpu, nbytes, board))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print("FAIL: %s" % e)
                ok = False
                continue
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            nbytes = rows[0][2]
            if nbytes is None:  # -d sim: the same protocol bytes as the emulated links
                nbytes = sim_bytes
            else:
                sim_bytes = sim_bytes or nbytes
            mb = nbytes / 1e6 if nbytes else float("nan")
            board = statistics.median(r[3] for r in rows) if rows[0][3] is not None else None
            print("%-6s %10.3f %10.3f %12.2f %14.4f %14s" % (
                link, wall, mb, mb / wall, cpu / mb,
                "%.4f" % (board / mb) if board is not None else "(in host)"))
        print("(sim: the board runs inside the cbr process, so its host CPU includes the "
              "simulation; MB for sim are the emulated links' count of the same protocol)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
