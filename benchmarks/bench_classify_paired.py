"""neurallab and PyTorch from the same initial weights and the same batches.

``bench_classify.py`` lets each library draw its own initial weights and its own
batch order, as a user would, and the test accuracy after 20 epochs then moves by
some 0.3–0.5 points with the seed. This script takes those draws out of the
comparison, to show whether the *training* differs:

1. **float64, step for step**: the 784-256-128-10 network, Glorot weights drawn by
   neurallab and copied into ``torch.nn.Linear`` layers, ``--steps64`` Adam steps
   (lr 1e-3, batches of 128 in a fixed order, ``CrossEntropyLoss``) in both; the
   largest difference between the two sets of weights is printed. Equal training
   leaves only rounding (~1e-14).
2. **float32, paired accuracy**: for each seed, both libraries train 20 epochs from
   neurallab's initial weights with neurallab's batch order
   (``default_rng(seed).permutation`` per epoch, what ``fit`` draws), and are scored
   on the 10,000 test images. Rounding makes the two runs drift apart over 9,400
   steps, so single seeds differ; the means should not.

Run::

    python benchmarks/bench_classify_paired.py                  # seeds 0..3 (~3 min)
    python benchmarks/bench_classify_paired.py --seeds 0 --steps64 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, markdown_table  # noqa: E402

import neurallab as nl  # noqa: E402
from neurallab import classify  # noqa: E402

LAYERS = (784, 256, 128, 10)
BATCH = 128
LR = 1e-3


def torch_copy(net, torch):
    """A ``torch.nn.Sequential`` with ``net``'s weights (ReLU hidden layers)."""
    nn = torch.nn
    dtype = getattr(torch, net.dtype.name)
    layers = []
    for i, (W, b) in enumerate(zip(net.W, net.b, strict=True)):
        lin = nn.Linear(*W.shape, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(lin)
        if i < len(net.W) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def torch_train(model, torch, X, y, orders):
    """Adam on ``X``, ``y`` in the batch order given by ``orders`` (one per epoch)."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    for order in orders:
        order = torch.from_numpy(order)
        for s in range(0, order.numel(), BATCH):
            idx = order[s:s + BATCH]
            opt.zero_grad()
            loss(model(Xt[idx]), yt[idx]).backward()
            opt.step()


def step_for_step(torch, X, y, steps: int) -> float:
    """Largest weight difference after ``steps`` float64 Adam steps in both."""
    n = steps * BATCH
    X64, y64 = X[:n].astype(np.float64), y[:n]
    net = nl.Network(list(LAYERS), activation="relu", output_activation="softmax",
                     init="xavier", dtype="float64", seed=0)
    model = torch_copy(net, torch)
    torch_train(model, torch, X64, y64, [np.arange(n)])
    net.fit(X64, y64, loss="categorical_crossentropy", optimizer="adam", lr=LR,
            batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    theirs = [m.weight.detach().numpy().T for m in model if hasattr(m, "weight")]
    return max(float(np.abs(a - b).max()) for a, b in zip(net.W, theirs, strict=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--steps64", type=int, default=236,
                    help="float64 Adam steps compared step for step (0: skip)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    data = nl.datasets.load_fashion_mnist()
    X = classify.images_to_inputs(data.X_train)
    y = data.y_train
    X_test = classify.images_to_inputs(data.X_test)
    y_test = data.y_test

    print("# neurallab and PyTorch from the same initial weights and batches\n")
    print(machine_info())
    if args.steps64:
        diff = step_for_step(torch, X, y, args.steps64)
        print(f"\nfloat64, {args.steps64} Adam steps of {BATCH} rows: largest difference "
              f"between the two networks' weights {diff:.2e}")

    rows, ours, theirs = [], [], []
    for seed in args.seeds:
        net = nl.Network(list(LAYERS), activation="relu", output_activation="softmax",
                         init="xavier", dtype="float32", seed=seed)
        model = torch_copy(net, torch)
        rng = np.random.default_rng(seed)           # fit's batch order, drawn the same way
        torch_train(model, torch, X, y, [rng.permutation(X.shape[0])
                                         for _ in range(args.epochs)])
        with torch.no_grad():
            pred = model(torch.from_numpy(X_test)).argmax(1).numpy()
        theirs.append(float(np.mean(pred == y_test)))
        net.fit(X, y, loss="categorical_crossentropy", optimizer="adam", lr=LR,
                batch_size=BATCH, epochs=args.epochs, verbose=0, seed=seed)
        ours.append(float(np.mean(net.predict(X_test) == y_test)))
        rows.append([seed, f"{ours[-1]:.2%}", f"{theirs[-1]:.2%}"])
        print(f"seed {seed}: neurallab {ours[-1]:.2%}  PyTorch {theirs[-1]:.2%}",
              file=sys.stderr, flush=True)
    rows.append(["mean", f"{statistics.mean(ours):.2%}", f"{statistics.mean(theirs):.2%}"])
    print(f"\nfloat32, {args.epochs} epochs, same initial weights and batch order; test "
          "accuracy:\n")
    print(markdown_table(["seed", "neurallab", "PyTorch"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
