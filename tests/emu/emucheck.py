"""What the emulator tests share: the start of their main() (seed, built binaries, temporary
folder, replay line), a thread-safe pass/fail tally and a runner that kills a command's whole
process group when it outlives its timeout (cbr-emu starts children)."""

import concurrent.futures
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

_lock = threading.Lock()
passed = 0
failed = 0


def start(args, cbr, emu, script, prefix):
    """The start of an emulator test's main(): the seed (args.seed, else CBR_SEED, else the
    clock), printed with how to replay it; the check that cbr and cbr-emu (the paths cbr and
    emu) are built; a fresh temporary folder whose name starts with prefix; and the replay
    string fault_runs wants (the test script's command line up to --seed and --shape).
    Returns (seed, root, replay), or None, having printed a FAIL line, when a binary is not
    built."""
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("CBR_SEED") or (time.time_ns() % 2**31))
    print("seed %d (replay: --seed %d)" % (seed, seed))
    sys.stdout.flush()
    for p in (cbr, emu):
        if not os.access(p, os.X_OK):
            print("FAIL: %s is not built" % p)
            return None
    root = tempfile.mkdtemp(prefix=prefix)
    replay = "CBR=%s CBR_EMU=%s %s %s --seed %d --shape %s" % (
        cbr, emu, sys.executable, os.path.abspath(script), seed, args.shape)
    return seed, root, replay


def cleanup(root, keep):
    """The temporary folder goes unless --keep was given or a check failed: then its files
    (the layers, outputs and logs of the replay line) stay and the folder is named."""
    if not keep and failed == 0:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("files kept in %s" % root)


def summary():
    """Prints the totals; the exit status of the test."""
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


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


def run(argv, timeout, env=None):
    """Runs argv in its own process group; on timeout kills the group. Returns (rc, out, err)
    with rc "timeout" when it had to be killed."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return "timeout", out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class FaultTally:
    """The fault runs' summary: faults injected by kind, outcomes (each with its first
    message as an example) and the slowest run."""

    def __init__(self, kinds):
        self.kinds = kinds
        self.totals = dict.fromkeys(["total"] + list(kinds), 0)
        self.outcomes = {}
        self.examples = {}
        self.slowest = 0.0
        self.runs = 0

    def add(self, counts, outcome, example, secs):
        self.runs += 1
        self.slowest = max(self.slowest, secs)
        for k in self.totals:
            self.totals[k] += counts[k] if counts else 0
        if outcome:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if example:
                self.examples.setdefault(outcome, example)

    def report(self, title, labels, min_faults):
        """Prints the summary (labels: the kinds' names, in order) and records whether at
        least min_faults were injected."""
        if not self.runs:
            return
        print("%s: %d; faults injected: %d (%s)" % (
            title, self.runs, self.totals["total"],
            ", ".join("%s %d" % (lab, self.totals[k]) for k, lab in zip(self.kinds, labels))))
        print("outcomes: " + ", ".join("%s %d" % kv for kv in sorted(self.outcomes.items())) +
              "; slowest run %.1f s" % self.slowest)
        for k, v in sorted(self.examples.items()):
            print("  e.g. %s: %s" % (k, v))
        record(self.totals["total"] >= min_faults, "at least %d faults injected" % min_faults,
               ["only %d were" % self.totals["total"]])


def fault_runs(fault_run, args, seed, root, kinds, title, labels, timeout_ms, replay):
    """Runs fault_run(seed, i, args.shape, root, args.timeout) for each run of args.run (or
    range(args.fault_runs)) on args.jobs threads; records each run's verdict with the command
    and the test invocation that replay it (replay: the test's command line up to --seed and
    --shape), removes the run's folder when it passed (unless args.keep), and reports the
    tally (kinds and their labels, at least args.min_faults). fault_run returns
    (i, layer, argv, faults, counts, outcome, message, seconds, folder, problems)."""
    import layergen  # tests/cli, on the path of every emulator test
    tally = FaultTally(kinds)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(fault_run, seed, i, args.shape, root, args.timeout)
                for i in (args.run or range(args.fault_runs))]
        for fut in futs:
            i, L, argv, faults, counts, outcome, msg, secs, d, problems = fut.result()
            tally.add(counts, outcome, msg, secs)
            record(not problems, "fault run %d (%s) %s" % (i, " ".join(faults),
                                                           layergen.describe(L)),
                   problems + ["command: CBR_TIMEOUT_MS=%d %s" % (timeout_ms, shlex.join(argv)),
                               "replay:  %s --layers 0 --run %d --keep" % (replay, i)])
            if not problems and not args.keep:
                shutil.rmtree(d, ignore_errors=True)
    tally.report(title, labels, args.min_faults)


def compare_with_cpu(cmd, out, d, L):
    """The problems of a device's output file `out` of `cbr conv` command cmd (its layer L):
    it must equal, byte for byte, what the same command writes with -d cpu, and match the
    NumPy model."""
    import numpy as np
    import layergen
    problems = []
    cpu_out = os.path.join(d, "out_cpu.npy")
    cpu_cmd = [a.replace(out, cpu_out) for a in cmd]
    cpu_cmd[cpu_cmd.index("-d") + 1] = "cpu"
    rc2, _, se2 = run(cpu_cmd, 60)
    if rc2 != 0:
        problems.append("-d cpu: exit %s, stderr: %s" % (rc2, se2.strip()[-300:]))
    else:
        with open(out, "rb") as f1, open(cpu_out, "rb") as f2:
            if f1.read() != f2.read():
                problems.append("the output file differs from -d cpu's")
    want = layergen.expected(L)
    got = np.load(out, allow_pickle=False)
    if got.shape != want.shape or not np.array_equal(got, want):
        problems.append("output differs from the NumPy model")
    return problems


def judge_fault_run(rc, se, out, L, timeout, counts, clear, classify):
    """A fault run of `cbr conv` ends identical to the NumPy model with exit 0, or with exit 1,
    no output file and a clear last message (clear: its pattern; classify(msg): its outcome
    label); never a hang, a crash or a wrong output. Returns (problems, outcome, message)."""
    import numpy as np
    import layergen
    problems, outcome, msg = [], None, ""
    if rc == "timeout":
        problems.append("hung: killed after %d s" % timeout)
    elif counts is None:
        problems.append("cbr-emu printed no fault summary (exit %s): %s" % (rc, se[-400:]))
    elif rc == 0:
        want = layergen.expected(L)
        try:
            got = np.load(out, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - an unreadable output after exit 0 is the bug
            got = None
            problems.append("exit 0 but the output is unreadable: %s" % e)
        if got is not None and (got.shape != want.shape or not np.array_equal(got, want)):
            problems.append("WRONG OUTPUT WITH EXIT 0 (%d of %d bytes differ)" %
                            (int(np.sum(got != want)) if got.shape == want.shape else -1,
                             want.size))
        outcome = "identical"
    elif rc == 1:
        if os.path.exists(out):
            problems.append("exit 1 but an output file was written")
        lines = [ln for ln in se.splitlines() if ln.startswith("cbr conv:")]
        if not lines or not clear.search(lines[-1]):
            problems.append("no clear error message: %s" % se.strip()[-400:])
        else:
            msg = lines[-1]
            outcome = classify(msg)
    else:
        problems.append("exit %s (a crash or a usage error): %s" % (rc, se.strip()[-600:]))
    return problems, outcome, msg
