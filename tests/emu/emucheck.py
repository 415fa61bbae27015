"""What the emulator tests share: a thread-safe pass/fail tally and a runner that kills a
command's whole process group when it outlives its timeout (cbr-emu starts children)."""

import os
import signal
import subprocess
import sys
import threading

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
