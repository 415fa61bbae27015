#!/usr/bin/python3
"""Train the digits demo model and export it to ONNX (the files `make demo` runs).

A small CNN in the classic LeNet shape on scikit-learn's digits data set (1797 grey 8x8
images of handwritten digits, pixel values 0..16):

    input  float32 (N, 1, 8, 8), pixels scaled to [0, 1] (the data set's 0..16 divided by 16)
    conv1  1 -> 8,  3x3, pad 1   + BatchNorm + ReLU + MaxPool 2x2   -> (N, 8, 4, 4)
    conv2  8 -> 16, 3x3, pad 1   + BatchNorm + ReLU + MaxPool 2x2   -> (N, 16, 2, 2)
    flatten                                                         -> (N, 64)
    fc     64 -> 10 (Gemm)                                          -> logits (N, 10)

BatchNormalization stays a separate ONNX node (the export preserves the model's eval mode
instead of letting the exporter fuse it), so running the model exercises BN folding.

Writes, beside this script (or in --out):

    digits.onnx       the model: input "input" (N,1,8,8) float32, output "logits" (N,10)
    heldout_x.npy     the held-out 20% (stratified, never seen in training): float32 (N,1,8,8)
    heldout_y.npy     their labels, int64 (N,)
    calib_x.npy       CALIB training samples for int8 calibration: float32 (CALIB,1,8,8)

Deterministic: a fixed seed (--seed, default 0) for the split, the initial weights, the batch
order and the calibration subset; torch runs single-threaded. Needs python3-torch and
python3-sklearn (Debian packages, only for retraining; `make train-digits`), python3-onnx to
check the export. Prints the float accuracy on the held-out set.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PIXEL_MAX = 16.0  # digits' pixels are 0..16; the model sees pixel / 16


def need(module, package):
    try:
        return __import__(module)
    except ImportError:
        sys.exit("train.py: the Python module '%s' is missing; install the Debian package %s "
                 "(apt-get install %s)" % (module, package, package))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of everything random (0)")
    ap.add_argument("--epochs", type=int, default=60, help="training epochs (60)")
    ap.add_argument("--calib", type=int, default=200, help="calibration samples (200)")
    ap.add_argument("--out", default=HERE, help="output folder (this script's)")
    args = ap.parse_args()

    torch = need("torch", "python3-torch")
    need("sklearn", "python3-sklearn")
    onnx = need("onnx", "python3-onnx")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch import nn

    print("seed %d" % args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    digits = load_digits()
    x = (digits.images.astype(np.float32) / PIXEL_MAX).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=args.seed,
                                              stratify=y)
    print("digits: %d training, %d held-out samples" % (len(x_tr), len(x_te)))

    class Digits(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
            self.fc = nn.Linear(16 * 2 * 2, 10)

        def forward(self, t):
            return self.fc(torch.flatten(self.features(t), 1))

    model = Digits()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for epoch in range(args.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xt)))
        total = 0.0
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if (epoch + 1) % 10 == 0:
            print("epoch %3d  loss %.4f" % (epoch + 1, total / len(xt)))

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_te)).numpy()
        train_acc = (model(xt).argmax(1).numpy() == y_tr).mean()
    acc = (logits.argmax(1) == y_te).mean()
    print("float accuracy: training %.2f%%, held-out %.2f%% (%d/%d)" %
          (100 * train_acc, 100 * acc, (logits.argmax(1) == y_te).sum(), len(y_te)))

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "digits.onnx")
    # PRESERVE with the model in eval mode: BatchNormalization is exported in inference form
    # but not fused into the conv (the EVAL mode's peephole pass would fuse it).
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), path, input_names=["input"],
                      output_names=["logits"], opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    print("exported %s (%d bytes): %s" % (path, os.path.getsize(path), " ".join(ops)))
    if ops.count("BatchNormalization") != 2:
        sys.exit("train.py: the export fused BatchNormalization away: %s" % ops)

    calib = x_tr[rng.choice(len(x_tr), size=min(args.calib, len(x_tr)), replace=False)]
    for name, arr in (("heldout_x.npy", x_te), ("heldout_y.npy", y_te),
                      ("calib_x.npy", calib)):
        np.save(os.path.join(args.out, name), np.ascontiguousarray(arr), allow_pickle=False)
        print("wrote %s %s %s" % (name, arr.dtype, arr.shape))


if __name__ == "__main__":
    main()
