#!/usr/bin/python3
"""Throughput of the host stack over USB under cbr-emu: one large layer through
`cbr-emu usb -- cbr conv -d usb`, reporting the bytes moved each way, the sustained bytes/s
(all bytes over the wall time of the run) and the host's CPU time per MB moved (the cbr
process: user + system, from cbr-emu's summary). A benchmark, not a test: it fails only if the
run fails or its output differs from the cpu device's.

    CBR=build/bin/cbr CBR_EMU=build/bin/cbr-emu /usr/bin/python3 tests/emu/bench_usb.py
        [--shape RxC] [--seed S] [--size C,H,W,O]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

CBR = os.path.abspath(os.environ.get("CBR", "build/bin/cbr"))
EMU = os.path.abspath(os.environ.get("CBR_EMU", "build/bin/cbr-emu"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="16x16")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--size", default="32,56,56,64", help="C,H,W,O of a 3x3 conv")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else time.time_ns() % 2**31
    print("seed %d" % seed)
    c, h, w, o = (int(v) for v in args.size.split(","))
    rng = np.random.default_rng(seed)
    d = tempfile.mkdtemp(prefix="cbr-bench-usb-")
    files = {"x": rng.integers(-128, 128, (1, c, h, w), dtype=np.int8),
             "w": rng.integers(-127, 128, (o, c, 3, 3), dtype=np.int8),
             "b": rng.integers(-5000, 5000, o, dtype=np.int32),
             "m": rng.integers(1 << 30, (1 << 31) - 1, o, dtype=np.int32),
             "s": np.full(o, -8, dtype=np.int32)}
    for k, v in files.items():
        np.save(os.path.join(d, k + ".npy"), v)
    conv = ["conv", "--input", d + "/x.npy", "--weights", d + "/w.npy", "--bias", d + "/b.npy",
            "--multiplier", d + "/m.npy", "--shift", d + "/s.npy", "--pad", "1",
            "--act", "relu", "--input-zp", "0", "--output-zp", "-128"]
    argv = [EMU, "usb", "--array", args.shape, "--", CBR] + conv + [
        "-d", "usb", "--output", d + "/y_usb.npy"]
    t0 = time.time()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    wall = time.time() - t0
    if p.returncode != 0:
        print("FAIL: exit %d: %s" % (p.returncode, p.stderr[-800:]))
        return 1
    q = subprocess.run([CBR] + conv + ["-d", "cpu", "--output", d + "/y_cpu.npy"],
                       capture_output=True, text=True, timeout=600)
    with open(d + "/y_usb.npy", "rb") as f1, open(d + "/y_cpu.npy", "rb") as f2:
        if q.returncode != 0 or f1.read() != f2.read():
            print("FAIL: the usb output differs from the cpu device's")
            return 1
    m = re.search(r"host->device (\d+) transfers, (\d+) bytes; device->host (\d+) transfers, "
                  r"(\d+) bytes", p.stderr)
    t = re.search(r"wall ([\d.]+) s; CPU of the command ([\d.]+) s user \+ ([\d.]+) s system, "
                  r"of the emulator ([\d.]+) s user \+ ([\d.]+) s system", p.stderr)
    if not m or not t:
        print("FAIL: no byte counts or times in cbr-emu's summary: %s" % p.stderr[-600:])
        return 1
    h2d, d2h = int(m.group(2)), int(m.group(4))
    mb = (h2d + d2h) / 1e6
    secs = float(t.group(1))
    host_cpu = float(t.group(2)) + float(t.group(3))
    emu_cpu = float(t.group(4)) + float(t.group(5))
    print("usb, layer %dx%dx%d -> %d (3x3, pad 1) on sim:%s" % (c, h, w, o, args.shape))
    print("  bytes: host->device %d in %s transfers, device->host %d in %s transfers" %
          (h2d, m.group(1), d2h, m.group(3)))
    print("  wall %.2f s (the run under cbr-emu; %.2f s with start-up): %.3f MB/s sustained" %
          (secs, wall, mb / secs))
    print("  host CPU (cbr): %.3f s = %.3f s per MB; emulator CPU %.3f s (%.3f s per MB)" %
          (host_cpu, host_cpu / mb, emu_cpu, emu_cpu / mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
