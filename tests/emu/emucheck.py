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
