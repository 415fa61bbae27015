#!/usr/bin/python3
"""The host stack over the serial (UART) transport, under the board emulator, cbr-emu.

Everything runs for real through `cbr-emu serial LINK -- cbr ... -d serial:LINK`: a
pseudo-terminal behind a model of the iCEBreaker's UART bridge (3 Mbaud pacing, the 2 KiB RX
FIFO that drops words when full, the partial-word drop after a pause; docs/links.md).

1. `cbr info` over the link (through the LINK symlink and through $CBR_EMU_TTY).
2. End to end: random layers (tests/cli/layergen.py); each output file must be byte-identical
   to `-d cpu`'s and equal to the NumPy model, and the emulator must report no word dropped on
   a full RX FIFO (the client kept its bytes in flight within the FIFO).
3. Bad inputs: URIs that name no port, a file that is not a tty, bad baud text, a rate out of
   range, a rate the board's end does not run at, a port another program holds, a rate a real
   driver refuses (/dev/ttyS0, when this machine has one), bad cbr-emu arguments, a board
   unplugged at byte 0: each a non-zero exit, a message naming the problem, no output file.
4. Fault runs: short layers with random per-byte faults (corrupt, drop, noise, pause) and
   unplugs; every run must end with exit 0 and the right output, or with exit 1, a clear
   error and no output file; never a wrong output with exit 0, a crash, or a hang.
5. The real UART bridge, when $CBR_UART_RTL (cbr-uart-rtl) and $SERIAL_RTL_CHECK are built:
   cbr info and packet round trips through the iCEBreaker top's RTL at the bit level.
6. The accelerator image, when $CBR_UART_RTL_CORE (cbr-uart-rtl-core) is built: real conv
   layers (3x3, 1x1, pooling, leaky, several tiles) through the whole iCEBreaker top with
   CORE=1 (UART bridge, compact command block, tiny core), each output byte-identical to
   `-d cpu`'s and equal to the NumPy model; prints MACs, board cycles, bytes and wall time;
   then --core-random random layers (tests/cli/layergen.py) the same way.

    CBR=build/bin/cbr CBR_EMU=build/bin/cbr-emu /usr/bin/python3 tests/emu/test_serial.py
        [--seed S] [--shape RxC] [--layers N] [--fault-runs N] [--min-faults N] [--run I]

The seed comes from --seed, else $CBR_SEED, else the clock, and is printed first; run I of a
seed is always the same layer and faults, so `--seed S --run I --keep` replays one.
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import sys
import threading
import time

import numpy as np

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import layergen  # noqa: E402
import test_cli  # noqa: E402

from emucheck import record, run  # noqa: E402
import emucheck  # noqa: E402

CBR = os.path.abspath(os.environ.get("CBR", "build/bin/cbr"))
EMU = os.path.abspath(os.environ.get("CBR_EMU", "build/bin/cbr-emu"))
TIMEOUT_MS = 200          # CBR_TIMEOUT_MS for the fault runs (the client stretches it to the link)

_argv_lock = threading.Lock()


def layer_cmd(L, d, device):
    with _argv_lock:  # test_cli.layer_argv reads the module's DEVICE
        test_cli.DEVICE = device
        argv, out = test_cli.layer_argv(L, d)
    return [CBR] + argv, out


def emu_argv(link, shape, seed, faults, cmd, extra=()):
    argv = [EMU, "serial", link, "--array", shape, "--seed", str(seed)] + list(extra)
    for f in faults:
        argv += ["--fault", f]
    return argv + ["--"] + cmd


def uart_counts(stderr):
    m = re.search(r"UART: (\d+) words dropped on a full RX FIFO \(peak (\d+) of \d+ bytes\), "
                  r"(\d+) partial words dropped after a pause, (\d+) bytes garbled", stderr)
    return tuple(int(g) for g in m.groups()) if m else None


def faults_injected(stderr):
    m = re.search(r"faults injected: (\d+) \(corrupted bytes (\d+), dropped (\d+), "
                  r"stalled (\d+), timed out (\d+), unplugged (yes|no)\)", stderr)
    if not m:
        return None
    return {"total": int(m.group(1)), "corrupt": int(m.group(2)), "drop": int(m.group(3)),
            "noise": int(m.group(4)), "pause": int(m.group(5)),
            "unplug": 1 if m.group(6) == "yes" else 0}


# ---- 1 and 2: info, end to end --------------------------------------------------------------

def check_info(root, shape):
    results = []
    link = os.path.join(root, "tty-info")
    rc, so, se = run(emu_argv(link, shape, 1, [], [CBR, "info", "-d", "serial:" + link]), 60)
    rows, cols = shape.split("x")
    problems = []
    if rc != 0:
        problems.append("exit %s: %s" % (rc, se.strip()[-400:]))
    elif "%s PEs" % shape not in so or "serial:%s@3000000" % link not in so:
        problems.append("info does not show the board: %s" % so)
    if os.path.lexists(link):
        problems.append("cbr-emu left its link %s behind" % link)
    results.append(("cbr info -d serial:LINK", problems))
    # Through $CBR_EMU_TTY (the pty itself), at an explicit rate.
    rc, so, se = run([EMU, "serial", "--array", shape, "--seed", "1", "--", "sh", "-c",
                      '"$0" info -d "serial:$CBR_EMU_TTY@3000000"', CBR], 60)
    problems = []
    if rc != 0 or "/dev/pts/" not in so:
        problems.append("exit %s: %s %s" % (rc, so.strip(), se.strip()[-400:]))
    results.append(("cbr info -d serial:$CBR_EMU_TTY@3000000", problems))
    return results


def check_e2e(seed, index, shape, root):
    L = layergen.gen_layer(seed, index)
    d = os.path.join(root, "e2e%04d" % index)
    os.makedirs(d)
    link = os.path.join(d, "tty")
    cmd, out = layer_cmd(L, d, "serial:" + link)
    problems = []
    rc, _, se = run(emu_argv(link, shape, seed, [], cmd), 300)
    counts = uart_counts(se)
    if rc != 0:
        problems.append("exit %s, stderr: %s" % (rc, se.strip()[-600:]))
    elif counts is None or counts[0] != 0:
        problems.append("the RX FIFO overflowed (the in-flight cap failed): %s" %
                        se.strip()[-600:])
    else:
        problems += emucheck.compare_with_cpu(cmd, out, d, L)
    return L, cmd, problems


# ---- 3. bad inputs --------------------------------------------------------------------------

def expect(what, rc, se, want_rc, words, out=None):
    problems = []
    if rc not in want_rc:
        problems.append("exit %s, want %s" % (rc, " or ".join(map(str, want_rc))))
    for w in words:
        if w.lower() not in se.lower():
            problems.append("stderr lacks %r: %s" % (w, se.strip()[-400:]))
    if out and os.path.exists(out):
        problems.append("an output file was written")
    return what, problems


def bad_cases(root, shape):
    d = os.path.join(root, "bad")
    os.makedirs(d)
    a_file = os.path.join(d, "a_file")
    with open(a_file, "w") as f:
        f.write("x")
    results = []
    host = [
        ("serial", ["missing the port"]),
        ("serial:/nonexistent/ttyUSB9", ["/nonexistent/ttyUSB9", "No such file"]),
        ("serial:/dev/null", ["/dev/null", "not a serial port"]),
        ("serial:" + a_file, [a_file, "not a serial port", "regular file"]),
        ("serial:" + d, [d, "not a serial port", "directory"]),
        ("serial:/dev/ttyUSB1@fast", ["baud rate 'fast'", "not a number"]),
        ("serial:/dev/ttyUSB1@3e6", ["baud rate '3e6'"]),
        ("serial:/dev/ttyUSB1@", ["baud rate ''"]),
        ("serial:/dev/ttyUSB1@20000000", ["20000000", "out of range"]),
        ("serial:@115200", ["missing the port"]),
    ]
    for uri, words in host:
        rc, _, se = run([CBR, "info", "-d", uri], 30)
        results.append(expect("cbr info -d " + uri, rc, se, (1,), words))
    # A real driver that cannot make 3 Mbaud (a legacy 8250 UART tops out at 115200).
    if os.path.exists("/dev/ttyS0") and os.access("/dev/ttyS0", os.R_OK | os.W_OK):
        rc, _, se = run([CBR, "info", "-d", "serial:/dev/ttyS0@3000000"], 30)
        if "driver set" in se or "refuses" in se:
            results.append(expect("a rate the driver refuses (/dev/ttyS0)", rc, se, (1,),
                                  ["/dev/ttyS0", "3000000"]))
        else:
            print("note: /dev/ttyS0 took 3000000 baud or did not open (%s); not a refusal "
                  "case here" % se.strip()[-200:])
    # The emulator's end runs at 3 Mbaud; a host at 1 Mbaud sends garbage: no answer.
    link = os.path.join(d, "tty-rate")
    env = dict(os.environ, CBR_TIMEOUT_MS="300")
    rc, _, se = run(emu_argv(link, shape, 1, [], [CBR, "info", "-d", "serial:%s@1000000" % link]),
                    60, env)
    results.append(expect("host at 1 Mbaud, board at 3 Mbaud", rc, se, (1,),
                          ["does not answer INFO", "no response"]))
    c = uart_counts(se)
    if not c or c[3] == 0:
        results.append(("the rate mismatch garbled the bytes", ["no garbled bytes counted"]))
    # A port another program holds (flock, as a second cbr would).
    link = os.path.join(d, "tty-busy")
    rc, _, se = run(emu_argv(link, shape, 1, [], ["flock", link, CBR, "info", "-d",
                                                  "serial:" + link]), 60)
    results.append(expect("a port held by another program", rc, se, (1,),
                          ["in use by another program", link]))
    # cbr-emu's serial arguments.
    for argv, words in [
        (["serial", "--baud", "fast", "--", "true"], ["--baud", "fast"]),
        (["serial", "--baud", "100", "--", "true"], ["--baud", "100"]),
        (["serial", "--baud"], ["--baud", "missing"]),
        (["serial", a_file, "--array", shape, "--", "true"], ["cannot make the link", a_file]),
    ]:
        rc, _, se = run([EMU] + argv, 30)
        results.append(expect("cbr-emu " + shlex.join(argv), rc, se, (1, 2), words))
    with open(a_file) as f:
        results.append(("an existing file is not replaced by the link",
                        [] if f.read() == "x" else ["cbr-emu changed " + a_file]))
    # Unplugged at byte 0, and part way through a layer: gone, no output file, no hang.
    L = layergen.gen_layer(1, 3)
    for at in (0, 3000):
        ld = os.path.join(d, "unplug%d" % at)
        os.makedirs(ld)
        link = os.path.join(ld, "tty")
        cmd, out = layer_cmd(L, ld, "serial:" + link)
        t0 = time.time()
        rc, _, se = run(emu_argv(link, shape, 1, ["unplug:%d" % at], cmd), 60)
        what, problems = expect("conv on a board unplugged at byte %d" % at, rc, se, (1,),
                                ["gone"], out)
        if time.time() - t0 > 10:
            problems.append("took %.1f s to notice" % (time.time() - t0))
        results.append((what, problems))
    return results


# ---- 4. fault runs --------------------------------------------------------------------------

CLEAR = re.compile(r"cbr conv: .*(BAD_CRC|timed out|no response|gone|does not answer|"
                   r"failed|CRC|answer|sequence|protocol)", re.I)


def pick_faults(rng):
    kinds = ["corrupt", "drop", "stall", "timeout", "unplug"]
    chosen = [k for k in kinds if rng.random() < 0.4] or [kinds[int(rng.integers(0, 5))]]
    faults = []
    for k in chosen:
        if k == "unplug":
            faults.append("unplug:%d" % int(rng.integers(0, 20000)))
        else:  # per byte on this link
            faults.append("%s:%g" % (k, float(rng.choice([3e-5, 1e-4, 3e-4, 1e-3]))))
    return faults


def classify(msg):
    return ("error: gone" if "gone" in msg else
            "error: timeout" if "timed out" in msg or "no response" in msg else
            "error: bad CRC" if "CRC" in msg else "error: other")


def fault_run(seed, index, shape, root, timeout):
    rng = np.random.default_rng([seed, index, 11])
    L = layergen.gen_layer(seed, 200000 + index)
    faults = pick_faults(rng)
    emu_seed = int(rng.integers(0, 2**63))
    d = os.path.join(root, "fault%05d" % index)
    os.makedirs(d)
    link = os.path.join(d, "tty")
    cmd, out = layer_cmd(L, d, "serial:" + link)
    env = dict(os.environ, CBR_TIMEOUT_MS=str(TIMEOUT_MS))
    argv = emu_argv(link, shape, emu_seed, faults, cmd)
    t0 = time.time()
    rc, _, se = run(argv, timeout, env)
    secs = time.time() - t0
    counts = faults_injected(se)
    problems, outcome, msg = emucheck.judge_fault_run(rc, se, out, L, timeout, counts, CLEAR,
                                                      classify)
    return index, L, argv, faults, counts, outcome, msg, secs, d, problems


# ---- 5. the real UART bridge ---------------------------------------------------------------

def rtl_info(rtl, link, buf):
    """cbr info -d serial:LINK through a board top in Verilator (rtl, behind the pty link):
    it must answer as a 4x4 board with buf (its activation buffer) in the listing. Returns
    the problems and the simulator's stderr."""
    rc, so, se = run([rtl, link, "--", CBR, "info", "-d", "serial:" + link], 120)
    problems = []
    if rc != 0 or "4x4 PEs" not in so or buf not in so:
        problems.append("exit %s: %s %s" % (rc, so.strip(), se.strip()[-400:]))
    return problems, se


def rtl_cases(root):
    """Through cbr-uart-rtl: the iCEBreaker top (CORE=0) in Verilator, bit-level UART at 4
    clocks per bit behind a pty. cbr info; packet round trips within the 2 KiB rule with the
    red LED (RX FIFO overflow) never lit; then the rule broken on purpose, and it lights."""
    rtl = os.environ.get("CBR_UART_RTL", "")
    check = os.environ.get("SERIAL_RTL_CHECK", "")
    if not (os.access(rtl, os.X_OK) and os.access(check, os.X_OK)):
        print("note: $CBR_UART_RTL / $SERIAL_RTL_CHECK not built: the bridge RTL is not run")
        return []
    results = []
    problems, se = rtl_info(rtl, os.path.join(root, "rtl-tty"), "1024 bytes")
    if "never lit" not in se:
        problems.append("the red LED lit: %s" % se.strip()[-300:])
    results.append(("bridge RTL: cbr info -d serial:LINK", problems))
    for mode, led in (([], "never lit"), (["overrun"], "LIT")):
        rc, so, se = run([rtl, "--", check] + mode, 300)
        problems = []
        if rc != 0:
            problems.append("exit %s: %s %s" % (rc, so.strip()[-800:], se.strip()[-300:]))
        if "red LED (RX FIFO overflow) %s" % led not in se:
            problems.append("want the red LED %s: %s" % (led, se.strip()[-300:]))
        print("  " + "\n  ".join(ln for ln in so.splitlines() if ln.startswith(("ok", "overrun"))))
        results.append(("bridge RTL: round trips%s" % (" and an overrun" if mode else ""),
                        problems))
    return results


# ---- 6. the accelerator image: real layers through the whole board RTL ----------------------

# (name, c, h, w, o, k, stride, pad, act, pool (kind, k, stride) or None, n, groups). Small
# layers that take each path once: the common 3x3, a 1x1, pooling (max, average, global), a
# strided kernel with leaky ReLU, a depthwise layer (the host runs it as per-group tiles), and
# a layer the host must cut into many tiles (more output pixels than the tiny core's 256-pixel
# accumulator, more than 4 output and input channels, two images).
CORE_LAYERS = [
    ("3x3 8->8 on 8x8, pad 1, relu", 8, 8, 8, 8, 3, 1, 1, "relu", None, 1, 1),
    ("1x1 16->8 on 8x8", 16, 8, 8, 8, 1, 1, 0, "none", None, 1, 1),
    ("3x3 4->8 on 12x12, relu, maxpool 2:2", 4, 12, 12, 8, 3, 1, 1, "relu", ("max", 2, 2), 1,
     1),
    ("5x5 3->4 on 11x11, stride 2, leaky, avgpool 2:1", 3, 11, 11, 4, 5, 2, 2, "leaky",
     ("avg", 2, 1), 1, 1),
    ("3x3 depthwise 8 on 16x16, pad 1, relu, global avgpool", 8, 16, 16, 8, 3, 1, 1, "relu",
     ("gavg", 1, 1), 1, 8),
    ("3x3 8->8 on 24x24, pad 1, relu6, 2 images (several tiles)", 8, 24, 24, 8, 3, 1, 1,
     "relu6", None, 2, 1),
]


def core_layer(seed, index, spec):
    """A layer dict as layergen makes them (so test_cli.layer_argv and emucheck take it), of a
    fixed shape with random data and a realistic requantization."""
    import math
    _, c, h, w, o, k, s, p, act, pool, n, g = spec
    rng = np.random.default_rng([seed, index, 66])
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    red = c // g * k * k
    mag = max(1.0, math.sqrt(red) * 74.0 * 73.0)
    base = int(round(math.log2(48.0 / mag)))

    def ms():
        m = rng.integers(1 << 30, 2**31 - 1, o, endpoint=True).astype(np.int32)
        return m, (base + rng.integers(-1, 2, o)).astype(np.int32)

    mult, shift = ms()
    nm, ns = ms() if act == "leaky" else (None, None)
    if nm is not None:
        ns = (ns - 3).astype(np.int32)
    y_zp = -128 if act in ("relu", "relu6") else int(rng.integers(-10, 11))
    # "w" is the weights, as in layergen (the width is x's shape)
    L = {"index": index, "n": n, "c": c, "h": h, "o": o, "groups": g, "kh": k,
         "kw": k, "stride": (s, s), "dilation": (1, 1), "pad": (p, p, p, p), "oh": oh,
         "ow": ow, "mode": "dense" if g == 1 else "depthwise" if g == c else "grouped",
         "uint8": False,
         "x": rng.integers(-128, 128, (n, c, h, w)).astype(np.int8),
         "x_zp": int(rng.integers(-20, 21)),
         "w": rng.integers(-127, 128, (o, c // g, k, k)).astype(np.int8),
         "bias": rng.integers(-int(2 * mag), int(2 * mag) + 1, o).astype(np.int32),
         "mult": mult, "shift": shift, "y_zp": y_zp, "act": act,
         "clamp": (-128, -128 + 100) if act == "relu6" else None,
         "neg_mult": nm, "neg_shift": ns,
         "pool": pool[0] if pool else None, "pool_k": pool[1] if pool else 1,
         "pool_stride": pool[2] if pool else 1, "pool_pad": 0, "layout": "nchw",
         "stats": True, "existing_output": False, "big_endian_params": False,
         "npy_v2": False, "rng": rng}
    return L


def rtl_run_summary(stderr):
    m = re.search(r"(\d+) bytes to the board, (\d+) to the host, (\d+) cycles", stderr)
    return tuple(int(g) for g in m.groups()) if m else None


def core_cases(seed, root, n_random):
    """Through cbr-uart-rtl-core: the iCEBreaker top with CORE=1 (UART bridge, compact command
    block, tiny core) in Verilator behind a pty, bit-level UART at 4 clocks a bit. `cbr conv
    -d serial:LINK` runs each of CORE_LAYERS and n_random random layers of layergen (dilation,
    groups, uint8, NHWC, ...); its output file must equal -d cpu's byte for byte and the NumPy
    model, with the red LED (RX FIFO overflow) never lit. Prints per fixed layer the MACs, the
    core and board cycles, the bytes each way and the wall time."""
    rtl = os.environ.get("CBR_UART_RTL_CORE", "")
    if not os.access(rtl, os.X_OK):
        print("note: $CBR_UART_RTL_CORE not built: the accelerator image is not run")
        return []
    results = []
    problems, _ = rtl_info(rtl, os.path.join(root, "core-info-tty"), "65536 bytes")
    results.append(("accelerator RTL: cbr info -d serial:LINK", problems))
    tot = [0, 0, 0, 0, 0.0, 0]
    jobs = [(i, spec) for i, spec in enumerate(CORE_LAYERS)]
    jobs += [(len(CORE_LAYERS) + j, None) for j in range(n_random)]
    for i, spec in jobs:
        L = core_layer(seed, i, spec) if spec else layergen.gen_layer(seed, 300000 + i)
        name = spec[0] if spec else "random layer %d: %s" % (L["index"], layergen.describe(L))
        d = os.path.join(root, "core%02d" % i)
        os.makedirs(d)
        link = os.path.join(d, "tty")
        cmd, out = layer_cmd(L, d, "serial:" + link)
        t0 = time.time()
        rc, so, se = run([rtl, link, "--"] + cmd, 300)
        secs = time.time() - t0
        problems = []
        summ = rtl_run_summary(se)
        if rc != 0:
            problems.append("exit %s, stderr: %s" % (rc, se.strip()[-600:]))
        elif "red LED (RX FIFO overflow) never lit" not in se or summ is None:
            problems.append("the RX FIFO overflowed or no summary: %s" % se.strip()[-400:])
        else:
            problems += emucheck.compare_with_cpu(cmd, out, d, L)
        macs = re.search(r"MACs:\s+(\d+)", so)
        core = re.search(r"core cycles:\s+(\d+)", so)
        if not problems and not spec:
            pass
        elif not problems and macs and (core or "core cycles:       not counted" in so):
            # the board image may be built without counters (FEATURES bit 5 clear)
            mac, (tb, th, cyc) = int(macs.group(1)), summ
            ccyc = int(core.group(1)) if core else 0
            tot = [tot[0] + mac, tot[1] + cyc, tot[2] + tb, tot[3] + th, tot[4] + secs,
                   tot[5] + ccyc]
            corefig = ("core %d cycles (%.2f MAC/cycle)" % (ccyc, mac / max(ccyc, 1))
                       if core else "core cycles not counted")
            print("  core layer %d (%s): %d MACs; %s; board %d "
                  "cycles from open to exit (%.1f ms at 12 MHz, %.2f MAC/cycle with the "
                  "UART), %d + %d bytes; %.1f s wall" % (
                      i, name, mac, corefig, cyc, cyc / 12e3, mac / cyc, tb, th, secs))
        elif not problems:
            problems.append("no MACs or core cycles in --stats: %s" % so.strip()[-300:])
        if problems:
            problems.append("command: %s %s -- %s" % (rtl, link, shlex.join(cmd)))
        results.append(("accelerator RTL: %s" % name, problems))
    if tot[1]:
        corefig = ("core %d cycles (%.2f MAC/cycle)" % (tot[5], tot[0] / tot[5]) if tot[5]
                   else "core cycles not counted")
        print("  accelerator RTL: %d layers, %d MACs; %s; board %d "
              "cycles (%.1f ms of board time, %.2f MAC/cycle with the UART), %d + %d bytes; "
              "%.1f s wall (%.2f M board cycles/s)" % (
                  len(CORE_LAYERS), tot[0], corefig, tot[1],
                  tot[1] / 12e3, tot[0] / tot[1], tot[2], tot[3], tot[4], tot[1] / tot[4] / 1e6))
    return results


# ---- the benchmark ----------------------------------------------------------------------------

def bench(shape, root):
    """One transfer-heavy layer (a 1x1 conv of 1x32x64x64 int8 to 8 channels) over the UART,
    paced at 3 Mbaud and unpaced; prints bytes, MB/s and CPU seconds per MB each side."""
    rng = np.random.default_rng(1)
    d = os.path.join(root, "bench")
    os.makedirs(d)
    files = {"input": rng.integers(-128, 128, (1, 32, 64, 64), dtype=np.int8),
             "weights": rng.integers(-127, 128, (8, 32, 1, 1), dtype=np.int8),
             "bias": np.zeros(8, dtype=np.int32),
             "multiplier": np.full(8, 1 << 30, dtype=np.int32),
             "shift": np.full(8, -8, dtype=np.int32)}
    link = os.path.join(d, "tty")
    cmd = [CBR, "conv", "-d", "serial:" + link, "--input-zp", "0", "--output-zp", "0"]
    for k, v in files.items():
        np.save(os.path.join(d, k + ".npy"), v)
        cmd += ["--" + k, os.path.join(d, k + ".npy")]
    cmd += ["--output", os.path.join(d, "y.npy")]
    summary = re.compile(r"host->device \d+ transfers, (\d+) bytes; device->host \d+ transfers, "
                         r"(\d+) bytes.*wall ([\d.]+) s; CPU of the command ([\d.]+) s user \+ "
                         r"([\d.]+) s system, of the emulator ([\d.]+) s user \+ ([\d.]+) s", re.S)
    for baud in (3000000, 0):
        rc, _, se = run(emu_argv(link, shape, 1, [], cmd, ["--baud", str(baud)]), 600)
        m = summary.search(se)
        record(rc == 0 and m, "bench at --baud %d" % baud, [se.strip()[-600:]])
        if rc != 0 or not m:
            continue
        h2d, d2h, wall, hu, hs, eu, es = (float(g) for g in m.groups())
        mb = (h2d + d2h) / 1e6
        print("bench --baud %-8d %.0f + %.0f bytes in %.2f s: %.3f MB/s (%.0f KB/s to the "
              "device); host CPU %.3f s/MB, emulator CPU %.2f s/MB" % (
                  baud, h2d, d2h, wall, mb / wall, h2d / 1e3 / wall, (hu + hs) / mb,
                  (eu + es) / mb))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--shape", default="4x4")
    ap.add_argument("--layers", type=int, default=6, help="end-to-end layers")
    ap.add_argument("--core-random", type=int, default=12,
                    help="random layers through cbr-uart-rtl-core, after the fixed ones")
    ap.add_argument("--fault-runs", type=int, default=40)
    ap.add_argument("--min-faults", type=int, default=100)
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a run is a hang")
    ap.add_argument("--run", type=int, action="append", help="only this fault run (replay)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--bench", action="store_true", help="only the benchmark")
    args = ap.parse_args()
    started = emucheck.start(args, CBR, EMU, __file__, "cbr-serial-")
    if started is None:
        return 1
    seed, root, replay = started
    try:
        if args.bench:
            bench(args.shape, root)
            args.fault_runs = 0
        elif not args.run:
            for what, problems in check_info(root, args.shape):
                record(not problems, what, problems)
            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
                futs = [ex.submit(check_e2e, seed, i, args.shape, root)
                        for i in range(args.layers)]
                for fut in futs:
                    L, cmd, problems = fut.result()
                    record(not problems, "e2e layer %d: %s" % (L["index"],
                                                               layergen.describe(L)),
                           problems + ["command: " + shlex.join(cmd)])
            print("end to end: %d layers over serial under cbr-emu in %.1f s" %
                  (args.layers, time.time() - t0))
            for what, problems in bad_cases(root, args.shape):
                record(not problems, "bad input: " + what, problems)
            for what, problems in rtl_cases(root):
                record(not problems, what, problems)
            t0 = time.time()
            for what, problems in core_cases(seed, root, args.core_random):
                record(not problems, what, problems)
            print("accelerator RTL: %.1f s" % (time.time() - t0))
            sys.stdout.flush()

        emucheck.fault_runs(fault_run, args, seed, root,
                            ["corrupt", "drop", "noise", "pause", "unplug"],
                            "fault runs",
                            ["corrupted bytes", "dropped bytes", "noise bytes", "pauses",
                             "unplugs"],
                            TIMEOUT_MS, replay)
    finally:
        emucheck.cleanup(root, args.keep)
    return emucheck.summary()


if __name__ == "__main__":
    sys.exit(main())
