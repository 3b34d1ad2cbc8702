"""Fashion-MNIST test accuracy over many seeds: neurallab vs PyTorch, epoch by epoch.

``bench_classify.py`` times the libraries and scores each run once, after its last
epoch. That single score is one noisy draw: it moves by some 0.4 points from run to
run, so a handful of seeds cannot say whether two libraries train to the same
accuracy. This script answers that question alone, with as many seeds as asked
for: the same network and settings as ``bench_classify.py`` (784-256-128-10, ReLU,
softmax cross-entropy, Adam lr 1e-3, batches of 128 reshuffled every epoch,
float32, each library with its own usual initial weights and batch order), and
after *every* epoch the test accuracy and the epoch's mean training loss.

Printed: per library the mean test accuracy after the last epoch and averaged over
the last five epochs, each with its standard error; the difference of the final
means with a 95 % confidence interval; and the mean curves (test accuracy and
training loss per epoch). No timings (PyTorch runs on 2 threads, neurallab as
``fit`` chooses).

``--neurallab-init torch`` starts neurallab from PyTorch's initial weights instead
(``nn.Linear``'s default, drawn by ``torch.manual_seed(seed)``), to see whether the
initialisation scheme moves the accuracy; ``--libraries neurallab`` runs one library.

Run (the README's numbers)::

    python benchmarks/bench_classify_seeds.py --seeds 40     # ~30 min
    python benchmarks/bench_classify_seeds.py --seeds 12 --libraries neurallab \
        --neurallab-init torch                              # ~3 min
    python benchmarks/bench_classify_seeds.py --seeds 2 --epochs 3 --train 5000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, markdown_table  # noqa: E402
from bench_classify import BATCH, LAST, LAYERS, LR, describe_difference, torch_layers  # noqa: E402

import neurallab as nl  # noqa: E402
from neurallab import classify  # noqa: E402


def run_neurallab(X, y, X_test, y_test, seed: int, epochs: int, init: str = "xavier"):
    """Test accuracy and mean training loss after each epoch of one neurallab run.

    ``init``: ``"xavier"`` (Glorot uniform, zero biases: what ``bench_classify.py``
    uses) or ``"torch"`` (PyTorch's default initial weights and biases, copied in).
    """
    accs: list[float] = []
    losses: list[float] = []
    net = nl.Network(list(LAYERS), activation="relu", output_activation="softmax",
                     init="xavier", dtype="float32", seed=seed)
    if init == "torch":
        for W, b, layer in zip(net.W, net.b, torch_layers(seed)[0], strict=True):
            W[...] = layer.weight.detach().numpy().T
            b[...] = layer.bias.detach().numpy()

    class Score(nl.Callback):
        def on_epoch_end(self, epoch, logs=None):
            accs.append(float(np.mean(net.predict(X_test) == y_test)))
            losses.append(float(logs["loss"]))

    net.fit(X, y, loss="categorical_crossentropy", optimizer="adam", lr=LR, epochs=epochs,
            batch_size=BATCH, verbose=0, seed=seed, callbacks=[Score()])
    return accs, losses


def run_torch(X, y, X_test, y_test, seed: int, epochs: int):
    """The same for PyTorch: default ``nn.Linear`` initialisation, a ``randperm`` per epoch."""
    import torch

    nn = torch.nn
    (first, second, third), generator = torch_layers(seed)
    model = nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), third)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss = nn.CrossEntropyLoss()
    Xt, yt, Xe = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)), \
        torch.from_numpy(X_test)
    n = X.shape[0]
    accs: list[float] = []
    losses: list[float] = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for s in range(0, n, BATCH):
            idx = perm[s:s + BATCH]
            opt.zero_grad()
            batch_loss = loss(model(Xt[idx]), yt[idx])
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * idx.numel()
        losses.append(total / n)
        model.eval()
        with torch.no_grad():
            accs.append(float(np.mean(model(Xe).argmax(1).numpy() == y_test)))
    return accs, losses


def sem(values) -> float:
    """Standard error of the mean."""
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="runs per library (seeds 0, 1, ...)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train", type=int, default=60000, help="training images (development)")
    ap.add_argument("--libraries", default="neurallab,torch",
                    help="comma-separated: neurallab, torch (default: both)")
    ap.add_argument("--neurallab-init", choices=("xavier", "torch"), default="xavier",
                    help="neurallab's initial weights: Glorot's (default) or PyTorch's")
    ap.add_argument("--json", type=Path, help="also write every run's curves here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    available = {"neurallab": ("neurallab" if args.neurallab_init == "xavier"
                               else "neurallab, PyTorch's initial weights",
                               lambda *a: run_neurallab(*a, init=args.neurallab_init)),
                 "torch": ("PyTorch", run_torch)}
    wanted = [w.strip() for w in args.libraries.split(",") if w.strip()]
    unknown = sorted(set(wanted) - set(available))
    if unknown or not wanted:
        ap.error(f"--libraries: unknown {', '.join(unknown) or '(none given)'}; "
                 f"choose from {', '.join(available)}")
    runners = dict(available[w] for w in wanted)
    import torch

    torch.set_num_threads(2)
    data = nl.datasets.load_fashion_mnist()
    X = classify.images_to_inputs(data.X_train[:args.train])
    y = data.y_train[:args.train]
    X_test = classify.images_to_inputs(data.X_test)
    y_test = data.y_test
    curves: dict[str, list[tuple[list[float], list[float]]]] = {k: [] for k in runners}
    for seed in range(args.seeds):
        for name, run in runners.items():   # interleaved, so load changes hit both
            curves[name].append(run(X, y, X_test, y_test, seed, args.epochs))
        if not args.quiet:
            print(f"seed {seed}: " + "  ".join(f"{k} {v[-1][0][-1]:.2%}"
                                               for k, v in curves.items()),
                  file=sys.stderr, flush=True)

    last_k = min(LAST, args.epochs)
    final = {k: [acc[-1] for acc, _ in v] for k, v in curves.items()}
    level = {k: [statistics.mean(acc[-last_k:]) for acc, _ in v] for k, v in curves.items()}
    print(f"# Fashion-MNIST {'-'.join(map(str, LAYERS))}, Adam {LR:g}, batch {BATCH}, "
          f"float32, {X.shape[0]:,} training images, {args.epochs} epochs, "
          f"{args.seeds} seeds per library\n")
    print(machine_info())
    print()
    print(markdown_table(
        ["", "runs", f"test accuracy after epoch {args.epochs} (mean ± s.e.)",
         f"mean over the last {last_k} epochs (± s.e.)", "training loss, last epoch"],
        [[k, len(final[k]), f"{statistics.mean(final[k]):.2%} ± {sem(final[k]):.2%}",
          f"{statistics.mean(level[k]):.2%} ± {sem(level[k]):.2%}",
          f"{statistics.mean(loss[-1] for _, loss in curves[k]):.4f}"] for k in curves]))
    if len(final) == 2:
        ours, theirs = final
        d = statistics.mean(final[ours]) - statistics.mean(final[theirs])
        print(f"\nAfter the last epoch {ours} − {theirs} = {d:+.2%}"
              f"{describe_difference(final[ours], final[theirs])}.")
    print()
    rows = []
    for e in range(args.epochs):
        rows.append([e + 1] + [f"{statistics.mean(acc[e] for acc, _ in curves[k]):.2%}"
                               for k in curves]
                    + [f"{statistics.mean(loss[e] for _, loss in curves[k]):.4f}"
                       for k in curves])
    print("Mean curves:\n")
    print(markdown_table(["epoch"] + [f"test accuracy, {k}" for k in curves]
                         + [f"training loss, {k}" for k in curves], rows))
    if args.json:
        args.json.write_text(json.dumps({k: [{"accuracy": a, "loss": lo} for a, lo in v]
                                         for k, v in curves.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
