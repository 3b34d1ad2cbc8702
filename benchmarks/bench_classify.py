"""Fashion-MNIST training speed and accuracy: neurallab vs PyTorch vs scikit-learn.

The same network in all three — 784-256-128-10, ReLU, softmax cross-entropy, Adam
with learning rate 1e-3, mini-batches of 128 shuffled every epoch, float32, no L2 —
trained for ``--epochs`` epochs on the 60,000 training images and scored on the
10,000 test images. The three run *interleaved*: after each neurallab epoch (timed
from its callbacks) PyTorch and scikit-learn each train one epoch, so a change in
the machine's load hits all three alike. This is repeated for ``--seeds`` seeds.

Why ten seeds by default: the test accuracy after the last epoch is one noisy draw.
It moves by some 0.4 points (standard deviation) from run to run, in every library,
while the libraries' means differ by far less; with three seeds per library a
difference of half a point between the means happens by chance alone. Ten seeds
bring the standard error of a difference of means to about 0.2 points, and the
script prints it: the mean difference with its 95 % confidence interval (Welch).
It also prints each library's accuracy averaged over the last five epochs of every
run, which moves about a third as much from run to run as the last epoch alone and
so shows the level each library trains to.

Reported: median seconds per epoch over all runs, the ratios, the mean test accuracy
after the last epoch (and each run's), and how close neurallab comes to the floor
set by the machine's matrix-product speed. Then prediction throughput (images per
second, the whole test set at once and one image at a time), from the last seed's
models. The test set is scored outside the timed epochs.

Settings of the peers:

* PyTorch: ``torch.set_num_threads(2)``; ``nn.Linear`` layers with their default
  initialisation, ``CrossEntropyLoss``, ``optim.Adam(lr=1e-3)``, a ``randperm``
  per epoch and index gathering, exactly the usual training loop.
* scikit-learn: ``MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam",
  alpha=0, batch_size=128, learning_rate_init=1e-3, shuffle=True)``, one epoch per
  ``partial_fit``; BLAS with 2 threads.
* neurallab: ``Network([784, 256, 128, 10], activation="relu",
  output_activation="softmax", init="xavier", dtype="float32")`` (Glorot uniform,
  as scikit-learn; each library starts from its own usual initial weights), ``fit(...,
  optimizer="adam", lr=1e-3, batch_size=128)`` — whatever it does inside (one
  BLAS thread per call, the network cut in two along its first hidden layer, one
  half per core) is part of what is measured.

Run (the README's numbers)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_classify.py

``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, when the environment sets them, can make
OpenBLAS choose slower kernels than it detects itself; they are unset for the
benchmark command only (OpenBLAS reads them when it loads). ``--train N`` and
``--epochs E`` make a quick development run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import blas_threads, machine_info, markdown_table  # noqa: E402

import neurallab as nl  # noqa: E402
from neurallab import classify  # noqa: E402

LAYERS = (784, 256, 128, 10)
BATCH = 128
LR = 1e-3
PEER_THREADS = 2
LAST = 5  # the accuracy level: mean test accuracy after each of the last LAST epochs


def epoch_flops(n: int, layers=LAYERS) -> float:
    """Floating-point operations of one training epoch in the matrix products.

    Per sample and layer ``l`` (``n_in × n_out`` weights): forward ``z = a·W``,
    backward ``∂J/∂W = aᵀ·δ`` and ``δ_prev = δ·Wᵀ`` (not for the first layer), each
    ``2·n_in·n_out`` operations.
    """
    total = 0
    for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        total += 2 * a * b * (3 if i > 0 else 2)
    return float(total * n)


def matmul_gflops(threads: int, size: int = 2048, reps: int = 5) -> float:
    """Measured float32 ``size``² matrix-product speed with ``threads`` BLAS threads."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    with blas_threads(threads):
        a @ b
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def torch_layers(seed: int):
    """PyTorch's default initial ``nn.Linear`` layers for ``LAYERS``, drawn from ``seed``,
    and the generator that then draws the batch orders.

    As in the usual script: ``torch.manual_seed(seed)``, the layers, then one
    ``randperm`` per epoch from the same stream. The stream is continued in a
    generator of the run's own, so two runs in one process (2 threads and 1 thread,
    interleaved) each draw the batch orders of a standalone run with that seed
    instead of taking turns on torch's one global generator.
    """
    import torch

    torch.manual_seed(seed)
    layers = [torch.nn.Linear(a, b) for a, b in zip(LAYERS[:-1], LAYERS[1:], strict=True)]
    generator = torch.Generator()
    generator.set_state(torch.get_rng_state())
    return layers, generator


class TorchPeer:
    """The same network and training loop in PyTorch."""

    name = "PyTorch"

    def __init__(self, X, y, seed: int, threads: int = PEER_THREADS):
        import torch

        self.threads = threads
        if threads != PEER_THREADS:
            self.name = f"PyTorch, {threads} thread{'s' if threads > 1 else ''}"
        self.torch = torch
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
        nn = torch.nn
        (first, second, third), self.generator = torch_layers(seed)
        self.model = nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), third)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss = nn.CrossEntropyLoss()

    def epoch(self) -> None:
        torch, n = self.torch, self.X.shape[0]
        torch.set_num_threads(self.threads)
        perm = torch.randperm(n, generator=self.generator)
        self.model.train()
        for s in range(0, n, BATCH):
            idx = perm[s:s + BATCH]
            self.opt.zero_grad()
            self.loss(self.model(self.X[idx]), self.y[idx]).backward()
            self.opt.step()

    def predict(self, X) -> np.ndarray:
        self.torch.set_num_threads(self.threads)
        with self.torch.no_grad():
            self.model.eval()
            return self.model(self.torch.from_numpy(X)).argmax(1).numpy()


class SklearnPeer:
    """The same network in scikit-learn's ``MLPClassifier``, one epoch per ``partial_fit``."""

    name = "scikit-learn"

    def __init__(self, X, y, seed: int):
        from sklearn.neural_network import MLPClassifier

        self.X, self.y = X, y
        self.classes = np.arange(10)
        self.model = MLPClassifier(hidden_layer_sizes=LAYERS[1:-1], activation="relu",
                                   solver="adam", alpha=0.0, batch_size=BATCH,
                                   learning_rate_init=LR, shuffle=True, random_state=seed)

    def epoch(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(self.X, self.y, classes=self.classes)

    def predict(self, X) -> np.ndarray:
        return self.model.predict(X)


class Interleave(nl.Callback):
    """Times neurallab's epochs; after each, one epoch of every peer (timed too).

    After each of the last ``LAST`` of ``epochs`` epochs, every library's network is
    scored on ``test`` (untimed), into ``self.scores``.
    """

    def __init__(self, net, peers, test, epochs: int, progress: bool):
        self.net, self.peers, self.test = net, peers, test
        self.epochs = epochs
        self.times: dict[str, list[float]] = {"neurallab": [], **{p.name: [] for p in peers}}
        self.scores: dict[str, list[float]] = {k: [] for k in self.times}
        self.progress = progress
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times["neurallab"].append(time.perf_counter() - self._t0)
        for peer in self.peers:
            # the peers get their usual threads back (neurallab's fit runs BLAS
            # single-threaded inside)
            with blas_threads(PEER_THREADS):
                t = time.perf_counter()
                peer.epoch()
                self.times[peer.name].append(time.perf_counter() - t)
        if epoch >= self.epochs - LAST:
            X_test, y_test = self.test
            self.scores["neurallab"].append(float(np.mean(self.net.predict(X_test) == y_test)))
            for peer in self.peers:
                with blas_threads(PEER_THREADS):
                    self.scores[peer.name].append(float(np.mean(peer.predict(X_test) == y_test)))
        if self.progress:
            line = "  ".join(f"{k} {v[-1]:.2f} s" for k, v in self.times.items())
            print(f"epoch {epoch + 1}: {line}", file=sys.stderr, flush=True)


def difference_interval(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """95 % confidence interval of ``mean(a) - mean(b)`` (Welch's t), or None.

    The interval that a difference between two libraries' mean accuracies would need
    to leave before it says more than the seeds' luck.
    """
    if min(len(a), len(b)) < 2:
        return None
    from scipy import stats

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = (va + vb) ** 0.5
    if se == 0:
        return None
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, dof) * se
    d = statistics.mean(a) - statistics.mean(b)
    return d - half, d + half


def describe_difference(a: list[float], b: list[float]) -> str:
    """``", 95 % CI [lo, hi]"`` for ``mean(a) - mean(b)``, saying when it holds 0."""
    ci = difference_interval(a, b)
    if ci is None:
        return ""
    lo, hi = ci
    noise = " — within the seeds' noise" if lo <= 0 <= hi else ""
    return f", 95 % CI [{lo:+.2%}, {hi:+.2%}]{noise}"


def throughput(predict, X, single_reps: int = 300) -> tuple[float, float]:
    """Images per second: the whole of ``X`` at once (best of 10), and one at a time.

    It first waits half a second: a library's idle worker threads keep spinning for a
    while after its last call (OpenMP's block time), taking a core from whichever
    library is measured next.
    """
    time.sleep(0.5)
    predict(X[:256])
    best = float("inf")
    for _ in range(10):
        t = time.perf_counter()
        predict(X)
        best = min(best, time.perf_counter() - t)
    one = X[:1]
    for _ in range(10):
        predict(one)
    t = time.perf_counter()
    for i in range(single_reps):
        predict(X[i:i + 1])
    single = (time.perf_counter() - t) / single_reps
    return X.shape[0] / best, 1.0 / single


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train", type=int, default=60000, help="training images (development)")
    ap.add_argument("--peers", default="torch,sklearn,torch1",
                    help="comma-separated: torch (2 threads), sklearn, torch1 (PyTorch on one "
                         "thread, for reference)")
    ap.add_argument("--seed", type=int, default=0, help="the first seed")
    ap.add_argument("--seeds", type=int, default=10,
                    help="training runs per library (seeds SEED, SEED+1, ...): test accuracy "
                         "after a run varies by some 0.4 points with the seed, so a few runs "
                         "cannot tell two libraries apart (default: 10)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    data = nl.datasets.load_fashion_mnist()
    X = classify.images_to_inputs(data.X_train[:args.train])
    y = data.y_train[:args.train]
    X_test = classify.images_to_inputs(data.X_test)
    y_test = data.y_test
    makers = {"torch": TorchPeer, "sklearn": SklearnPeer,
              "torch1": lambda X, y, seed: TorchPeer(X, y, seed, threads=1)}
    gflops = {1: matmul_gflops(1), 2: matmul_gflops(2)}

    times: dict[str, list[float]] = {}
    acc: dict[str, list[float]] = {}
    level: dict[str, list[float]] = {}
    seeds = list(range(args.seed, args.seed + args.seeds))
    for seed in seeds:
        peers = [makers[p](X, y, seed) for p in args.peers.split(",") if p]
        net = nl.Network(list(LAYERS), activation="relu", output_activation="softmax",
                         init="xavier", dtype="float32", seed=seed)
        clock = Interleave(net, peers, (X_test, y_test), args.epochs, progress=not args.quiet)
        net.fit(X, y, loss="categorical_crossentropy", optimizer="adam", lr=LR,
                epochs=args.epochs, batch_size=BATCH, callbacks=[clock], verbose=0, seed=seed)
        for name, ts in clock.times.items():
            times.setdefault(name, []).extend(ts)
            acc.setdefault(name, []).append(clock.scores[name][-1])   # after the last epoch
            level.setdefault(name, []).append(statistics.mean(clock.scores[name]))
        if not args.quiet:
            print(f"seed {seed}: test accuracy " + "  ".join(
                f"{k} {v[-1]:.2%}" for k, v in acc.items()), file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    mean_acc = {k: statistics.mean(v) for k, v in acc.items()}
    flops = epoch_flops(X.shape[0])
    floor = flops / (gflops[2] * 1e9)
    rows = []
    last_k = min(LAST, args.epochs)
    for name, t in med.items():
        spread = f" ± {statistics.stdev(acc[name]):.2%}" if len(seeds) > 1 else ""
        rows.append([name, f"{t:.3f}", f"{min(times[name]):.3f}",
                     "1.00" if name == "neurallab" else f"{med['neurallab'] / t:.2f}",
                     f"{flops / t / 1e9:.0f}", f"{mean_acc[name]:.2%}{spread}",
                     f"{statistics.mean(level[name]):.2%}",
                     " / ".join(f"{a:.2%}" for a in acc[name])])
    print(f"# Fashion-MNIST {'-'.join(map(str, LAYERS))}, Adam {LR:g}, batch {BATCH}, "
          f"float32, {X.shape[0]:,} training images, {args.epochs} epochs, "
          f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))})\n")
    print(machine_info([f"matrix product 2048² float32: {gflops[1]:.0f} GFLOP/s on 1 thread, "
                        f"{gflops[2]:.0f} GFLOP/s on 2"]))
    print()
    print(markdown_table(["", "s/epoch (median)", "s/epoch (best)", "neurallab ÷ this",
                          "GFLOP/s", f"test accuracy after {args.epochs} epochs (mean"
                          + (" ± sd)" if len(seeds) > 1 else ")"),
                          f"mean over the last {last_k} epochs", "per seed"], rows))
    print(f"\nOne epoch is {flops / 1e9:.1f} GFLOP of matrix products: at the measured "
          f"{gflops[2]:.0f} GFLOP/s on 2 threads it cannot take less than {floor:.2f} s; "
          f"neurallab's median epoch is {med['neurallab'] / floor:.2f}× that floor.")
    ours = mean_acc["neurallab"]
    for name, a in mean_acc.items():
        if name != "neurallab":
            verdict = "at least" if ours >= a else "below"
            print(f"Mean test accuracy: neurallab {ours:.2%}, {name} {a:.2%} ({verdict}; "
                  f"difference {ours - a:+.2%}{describe_difference(acc['neurallab'], acc[name])}"
                  f"; over the last {last_k} epochs {statistics.mean(level['neurallab']):.2%} "
                  f"vs {statistics.mean(level[name]):.2%}).")

    ours_tp = throughput(net.predict_proba, X_test)
    tp_rows = [["neurallab", f"{ours_tp[0]:,.0f}", f"{ours_tp[1]:,.0f}"]]
    for p in peers:
        with blas_threads(PEER_THREADS):
            t = throughput(lambda Z, p=p: p.predict(Z), X_test)
        tp_rows.append([p.name, f"{t[0]:,.0f}", f"{t[1]:,.0f}"])
    print("\nPrediction throughput (images per second; class probabilities or labels):\n")
    print(markdown_table(["", f"batch of {len(X_test):,}", "one image at a time"], tp_rows))
    if args.json:
        args.json.write_text(json.dumps({
            "epochs": args.epochs, "n_train": int(X.shape[0]), "seeds": seeds,
            "times": times, "median": med, "accuracy": acc, "mean_accuracy": mean_acc,
            "accuracy_last_epochs": level,
            "gflops": gflops, "epoch_gflop": flops / 1e9,
            "floor_s": floor, "throughput": {r[0]: r[1:] for r in tp_rows},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
