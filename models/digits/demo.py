#!/usr/bin/python3
"""`make demo`: the trained digits CNN (models/digits/digits.onnx) on the simulated board.

Runs, with the real `cbr` CLI:

    cbr run -d sim digits.onnx --input heldout_x.npy --calibrate calib_x.npy --stats --output Q
    cbr run -d sim digits.onnx --input heldout_x.npy --float --output F

(the first quantizes the float model to int8 with ranges calibrated on 200 training digits,
folds its BatchNorms, and runs every conv and the FC layer on the Verilator model of the RTL;
the second runs the float model on the host), then prints a few held-out digits drawn as text
with their label and both predictions, the held-out accuracy of int8-on-sim and of the float
model, and cbr's per-layer cycles and utilization. Exits 1 when the two accuracies differ by
more than 1 percentage point (or any run fails).

    CBR=build/bin/cbr /usr/bin/python3 models/digits/demo.py [--device sim] [--show 6]
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHADES = " .:-=+*#%@"   # pixel 0 .. 1 (the model's input scaling: the data set's 0..16 / 16)


def run(cbr, argv):
    cmd = [cbr] + argv
    print("$ " + shlex.join(cmd))
    sys.stdout.flush()
    p = subprocess.run(cmd, stdout=subprocess.PIPE)   # stderr: cbr's progress bar and errors
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        sys.stdout.write(out)
        sys.exit("demo: `%s` failed (exit %d)" % (shlex.join(cmd), p.returncode))
    return out


def draw(images, captions):
    """The 8x8 images side by side, two characters per pixel, caption lines under each."""
    lines = []
    for row in range(8):
        lines.append("   ".join("".join(SHADES[min(9, int(v * 9.999))] * 2 for v in img[0, row])
                                for img in images))
    for k in range(len(captions[0])):
        lines.append("   ".join("%-16s" % c[k][:16] for c in captions))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="sim", help="device for the int8 run (sim)")
    ap.add_argument("--show", type=int, default=6, help="digits to draw (6)")
    ap.add_argument("--cbr", default=os.environ.get("CBR", "build/bin/cbr"))
    args = ap.parse_args()

    model = os.path.join(HERE, "digits.onnx")
    xp, calib = os.path.join(HERE, "heldout_x.npy"), os.path.join(HERE, "calib_x.npy")
    x = np.load(xp, allow_pickle=False)
    y = np.load(os.path.join(HERE, "heldout_y.npy"), allow_pickle=False)
    print("digits demo: a LeNet-shaped CNN (conv+BN+ReLU+maxpool twice, then FC) trained on "
          "scikit-learn's digits;\n%d held-out 8x8 digits, int8 on %s against the float "
          "model\n" % (len(y), args.device))

    with tempfile.TemporaryDirectory(prefix="cbr_demo_") as tmp:
        qp, fp = os.path.join(tmp, "int8.npy"), os.path.join(tmp, "float.npy")
        stats = run(args.cbr, ["run", "-d", args.device, model, "--input", xp, "--calibrate",
                               calib, "--stats", "--output", qp])
        run(args.cbr, ["run", "-d", args.device, model, "--input", xp, "--float",
                       "--output", fp])
        q, f = np.load(qp, allow_pickle=False), np.load(fp, allow_pickle=False)
    if q.shape != (len(y), 10) or f.shape != (len(y), 10):
        sys.exit("demo: logits of shape %s (int8) and %s (float), want (%d, 10)" %
                 (q.shape, f.shape, len(y)))
    pq, pf = q.argmax(1), f.argmax(1)

    # A few digits: the first ones, and any the int8 model gets wrong among the first 100.
    show = list(range(args.show))
    wrong = [i for i in range(min(100, len(y))) if pq[i] != y[i] and i not in show]
    show = (show[:max(0, args.show - len(wrong[:2]))] + wrong[:2])[:args.show]
    print()
    print(draw([x[i] for i in show],
               [("#%d: label %d" % (i, y[i]),
                 "int8 %d float %d" % (pq[i], pf[i]),
                 "" if pq[i] == y[i] else "(int8 wrong)") for i in show]))

    acc_q, acc_f = float(np.mean(pq == y)), float(np.mean(pf == y))
    print("\nper-layer figures (cbr run --stats on %s):" % args.device)
    sys.stdout.write(stats if stats.endswith("\n") or not stats else stats + "\n")
    print("\nheld-out accuracy: int8 on %s %.2f%% (%d/%d), float %.2f%% (%d/%d); "
          "predictions agree on %d/%d" % (args.device, 100 * acc_q, int(np.sum(pq == y)), len(y),
                                          100 * acc_f, int(np.sum(pf == y)), len(y),
                                          int(np.sum(pq == pf)), len(y)))
    if abs(acc_q - acc_f) > 0.01:
        sys.exit("demo: FAILED: int8 accuracy is %.2f points from the float model's (at most 1)"
                 % (100 * abs(acc_q - acc_f)))
    print("demo: OK (int8 within 1 percentage point of float)")


if __name__ == "__main__":
    main()
