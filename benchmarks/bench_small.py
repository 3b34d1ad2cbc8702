"""Mini-batch training of small networks: neurallab vs PyTorch (CPU) vs scikit-learn.

The same network, loss, optimizer, hyper-parameters, number of epochs and dtype in
every library, the training set shuffled every epoch; the time is one whole fit
(network and optimizer construction, input checks, every epoch). Cases:

1. ``adam64`` / ``adam32`` — the regression problem of ``bench_regression.py``
   (its ``make_data``: 4,000 samples, 8 inputs, one smooth target), network
   8-32-32-1, tanh hidden layers, identity output (1,377 parameters), mean squared
   error, Adam (lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-8), mini-batches of 32 (125 per
   epoch), 20 epochs; float64 and float32.
2. ``sgd64`` — the same network and batches, SGD with momentum 0.9 (not Nesterov's),
   lr 0.01, 20 epochs, float64.
3. ``digits`` — scikit-learn's bundled digits (1,797 8×8 images, grey levels
   divided by 16), a fixed stratified split (``train_test_split(test_size=0.2,
   random_state=0)``: 1,437 training, 360 test), network 64-32-10, ReLU, softmax
   cross-entropy, Adam (as above), batch 32 (45 per epoch, the last of 29), 30
   epochs, float32. The test accuracy is printed as information, not as a target.

Peers and their settings:

* neurallab: ``Network(layers, activation, output_activation="identity"|"softmax",
  init="xavier", dtype, seed)``, ``fit(loss="mse"|"categorical_crossentropy",
  optimizer=Adam(lr=1e-3) | SGD(lr=0.01, momentum=0.9), batch_size=32, epochs,
  seed, verbose=0)``.
* PyTorch: a plain training loop — ``nn.Sequential`` of ``nn.Linear`` and
  ``nn.Tanh``/``nn.ReLU``, ``nn.MSELoss``/``nn.CrossEntropyLoss`` (mean over the
  batch), ``torch.optim.Adam(lr=1e-3)`` or ``torch.optim.SGD(lr=0.01,
  momentum=0.9)`` with their other defaults, ``torch.randperm`` every epoch,
  index the batch, ``zero_grad``/``backward``/``step``. Two rows:
  ``torch.set_num_threads(1)`` and PyTorch's default thread count (what a user
  gets; printed). The layers start from neurallab's initial weights of the same
  seed (copied in inside the timed fit), so the two start at the same point.
* scikit-learn: ``MLPRegressor``/``MLPClassifier(hidden_layer_sizes, activation,
  solver="adam"|"sgd", batch_size=32, max_iter=epochs, shuffle=True, alpha=0,
  tol=0, n_iter_no_change=10**9, early_stopping=False, learning_rate="constant",
  random_state=seed)``, with ``momentum=0.9, nesterovs_momentum=False`` for SGD; its
  ConvergenceWarning (it "did not converge" in ``max_iter`` epochs) is silenced. It
  starts from its own Glorot-uniform weights (the distribution of neurallab's
  ``init="xavier"``) with uniform biases where neurallab's are zero.

How the learning problems match. The MSE, cross-entropy and Adam of neurallab and
PyTorch are the same formulas, and so is SGD's momentum (``v ← μv − ηg; θ ← θ + v``
equals PyTorch's ``b ← μb + g; θ ← θ − ηb`` at a constant η). scikit-learn's
regression loss is *half* the MSE, so its gradients are half as large. For SGD,
where that would halve the step, it runs with ``learning_rate_init=0.02``: then its
update ``v ← 0.9v − 0.02·½∇MSE`` is ours exactly. Adam's step does not depend on
the gradient's scale except through ε, so scikit-learn's regressions run with
``epsilon=5e-9`` (ε halved with the gradient). One difference remains in Adam:
scikit-learn adds ε to ``sqrt(v)`` before the bias correction, PyTorch and
neurallab after it, i.e. scikit-learn's ε is theirs times ``1/sqrt(1 − β₂ᵗ)``
(31.6 at the first step, 1.04 at the 2,500th): 3e-7 at most, which changes a step
only where ``sqrt(v̂)`` — the size of a weight's recent gradients — is itself that
small. Checked from the same weights, three full-batch steps on 500 rows: SGD
(lr 0.02 for scikit-learn) and Adam with ε 1e-30 in both give neurallab's weights
to 6e-17; with ε 1e-8, Adam's differ by up to 1.6e-4 in weights whose gradients are
that small. scikit-learn's classifier loss is the mean cross-entropy, as ours (ε
1e-8). Batches:
all three take every epoch in a fresh random order, 32 rows a batch, the last batch
the remainder.

To show that the three did comparable work, the training loss *after* the fit is
computed on the whole training set from each library's trained model, in the same
units (the plain MSE for the regressions — not scikit-learn's half — and the mean
cross-entropy for digits), outside the timing; the table prints its median over
rounds.

Timing. Everything runs in this one process (the arrays are tiny: no allocator
effects as in ``bench_regression.py``). For each case, one untimed warm-up fit of
each peer, then ``--rounds`` rounds; in round r every peer fits once with seed r, in
an order that rotates from round to round, so that a busy moment of the shared
machine falls on all of them alike. Reported: the median seconds per whole fit and
the ratio neurallab / peer (of the medians; the per-round ratios' range too). BLAS
runs one thread (``--threads``) for NumPy (neurallab, scikit-learn); PyTorch's own
MKL/OpenMP threads are set by ``torch.set_num_threads`` per row. **Target:
neurallab ≤ 1.0× every peer in every case**; ``--check`` exits with status 1 when one
is missed.

PyTorch with its default threads (two on the two-core machine of the README's
numbers, shared with other processes: load average 2–3) took from about as long
as with one thread to 25× as long, from one fit to the next — its steps wait for
a second thread whenever another process holds the other core (the single small
operations are no slower with two threads). So that row runs in the first
``--default-threads-rounds`` rounds only (default 2), and any PyTorch fit stops at
the end of the epoch in which it passes ``--budget`` seconds (default 4): its time
is then a lower bound, printed ``≥``, the ratio an upper bound (``≤``), and its
loss is not shown. The warm-up fits stop after 1 s in the same way.

Usage::

    python benchmarks/bench_small.py                      # 4 cases, 5 rounds (~1.5 min)
    python benchmarks/bench_small.py --default-threads-rounds 0   # no such row (~1 min)
    python benchmarks/bench_small.py --rounds 9 --check
    python benchmarks/bench_small.py --cases digits sgd64
    python benchmarks/bench_small.py --profile adam64     # where neurallab's fit spends time
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    add_common_arguments,
    blas_threads,
    fmt_time,
    machine_info,
    markdown_table,
    median,
)
from bench_regression import make_data  # noqa: E402

import neurallab as nl  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One learning problem and its training settings (the same for every peer)."""

    title: str
    data: str           # "regression" or "digits"
    hidden: tuple[int, ...]
    activation: str     # hidden layers: "tanh" or "relu"
    optimizer: str      # "adam" or "sgd"
    lr: float
    epochs: int
    dtype: str
    batch: int = 32
    momentum: float = 0.9   # SGD only (never Nesterov's)

    @property
    def classifier(self) -> bool:
        return self.data == "digits"

    def settings(self) -> str:
        opt = (f"Adam lr {self.lr:g} (β₁ 0.9, β₂ 0.999, ε 1e-8)" if self.optimizer == "adam"
               else f"SGD lr {self.lr:g}, momentum {self.momentum:g} (not Nesterov)")
        loss = "softmax cross-entropy" if self.classifier else "MSE"
        return (f"{self.activation}, {loss}, {opt}, batch {self.batch}, {self.epochs} "
                f"epochs shuffled every epoch, {self.dtype}")


CASES = {
    "adam64": Case("8-32-32-1 regression, Adam, float64", "regression", (32, 32), "tanh",
                   "adam", 1e-3, 20, "float64"),
    "adam32": Case("8-32-32-1 regression, Adam, float32", "regression", (32, 32), "tanh",
                   "adam", 1e-3, 20, "float32"),
    "sgd64": Case("8-32-32-1 regression, SGD + momentum, float64", "regression", (32, 32),
                  "tanh", "sgd", 0.01, 20, "float64"),
    "digits": Case("digits 64-32-10 classifier, Adam, float32", "digits", (32,), "relu",
                   "adam", 1e-3, 30, "float32"),
}


class Data(NamedTuple):
    X: np.ndarray           # (n, n_inputs), the case's dtype
    y: np.ndarray           # (n,) targets (case dtype) or int64 labels
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    n_outputs: int


def load(case: Case) -> Data:
    """The case's training (and, for digits, test) data in its dtype."""
    if case.data == "regression":
        X, y = make_data()
        return Data(X.astype(case.dtype), y.astype(case.dtype), None, None, 1)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(case.dtype)
    Xtr, Xte, ytr, yte = train_test_split(X, y.astype(np.int64), test_size=0.2,
                                          random_state=0, stratify=y)
    return Data(np.ascontiguousarray(Xtr), ytr, np.ascontiguousarray(Xte), yte, 10)


def layers(case: Case, data: Data) -> list[int]:
    return [data.X.shape[1], *case.hidden, data.n_outputs]


def network(case: Case, data: Data, seed: int) -> nl.Network:
    return nl.Network(layers(case, data), activation=case.activation,
                      output_activation="softmax" if case.classifier else "identity",
                      init="xavier", dtype=case.dtype, seed=seed)


class Fit(NamedTuple):
    seconds: float
    predict: object      # X -> (n, outputs): predictions, or class probabilities
    dtype: str           # of the trained weights, as the library holds them
    epochs: int          # epochs done: fewer than the case's when a budget stopped it


# ---------------------------------------------------------------------------- peers
def fit_neurallab(case: Case, data: Data, seed: int, budget: float | None = None) -> Fit:
    t0 = time.perf_counter()
    net = network(case, data, seed)
    opt = nl.optim.Adam(lr=case.lr) if case.optimizer == "adam" else \
        nl.optim.SGD(lr=case.lr, momentum=case.momentum)
    net.fit(data.X, data.y, loss="categorical_crossentropy" if case.classifier else "mse",
            optimizer=opt, epochs=case.epochs, batch_size=case.batch, seed=seed, verbose=0)
    seconds = time.perf_counter() - t0
    return Fit(seconds, net.predict_raw, net.dtype.name, case.epochs)


def fit_torch(case: Case, data: Data, seed: int, threads: int,
              budget: float | None = None) -> Fit:
    """The usual PyTorch loop, from neurallab's initial weights for ``seed``.

    With ``budget`` (seconds), the loop stops after the first epoch that ends past
    it: the time is then a lower bound on the whole fit's.
    """
    import torch
    from torch import nn

    init = network(case, data, seed)       # only its initial weights (untimed)
    torch.set_num_threads(threads)
    dtype = getattr(torch, case.dtype)
    t0 = time.perf_counter()
    X = torch.from_numpy(data.X)
    y = torch.from_numpy(data.y if case.classifier else data.y.reshape(-1, 1))
    sizes = layers(case, data)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        mods.append(nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2:
            mods.append(nn.Tanh() if case.activation == "tanh" else nn.ReLU())
    model = nn.Sequential(*mods)
    with torch.no_grad():
        for lin, W, b in zip(mods[::2], init.W, init.b, strict=True):
            lin.weight.copy_(torch.from_numpy(W.T))
            lin.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.Adam(model.parameters(), lr=case.lr) if case.optimizer == "adam" \
        else torch.optim.SGD(model.parameters(), lr=case.lr, momentum=case.momentum)
    loss_fn = nn.CrossEntropyLoss() if case.classifier else nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    done = 0
    while done < case.epochs:
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, case.batch):
            idx = perm[s:s + case.batch]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
        done += 1
        if budget is not None and time.perf_counter() - t0 > budget:
            break
    seconds = time.perf_counter() - t0

    def predict(Xp):
        with torch.no_grad():
            out = model(torch.from_numpy(Xp))
            return (torch.softmax(out, 1) if case.classifier else out).numpy()

    return Fit(seconds, predict, str(model[0].weight.dtype).removeprefix("torch."), done)


def fit_sklearn(case: Case, data: Data, seed: int, budget: float | None = None) -> Fit:
    """``MLPRegressor``/``MLPClassifier`` on the same problem (see the module notes on
    its half-MSE loss: lr ×2 for SGD, ε ÷2 for Adam in the regressions)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    half = not case.classifier          # squared_error = ½·MSE
    kw = dict(hidden_layer_sizes=case.hidden, activation=case.activation,
              solver=case.optimizer, batch_size=case.batch, max_iter=case.epochs,
              shuffle=True, alpha=0.0, tol=0.0, n_iter_no_change=10**9,
              early_stopping=False, learning_rate="constant", random_state=seed)
    if case.optimizer == "adam":
        kw.update(learning_rate_init=case.lr, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-8 / 2 if half else 1e-8)
    else:
        kw.update(learning_rate_init=case.lr * 2 if half else case.lr,
                  momentum=case.momentum, nesterovs_momentum=False)
    t0 = time.perf_counter()
    model = (MLPClassifier if case.classifier else MLPRegressor)(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.X, data.y)
    seconds = time.perf_counter() - t0
    predict = model.predict_proba if case.classifier else \
        (lambda Xp: model.predict(Xp).reshape(-1, 1))
    return Fit(seconds, predict, model.coefs_[0].dtype.name, model.n_iter_)


def torch_default_threads() -> int:
    """PyTorch's thread count as a user gets it (read before anything sets it)."""
    import torch

    return torch.get_num_threads()


class Peer(NamedTuple):
    name: str
    fit: object             # (case, data, seed, budget) -> Fit
    rounds: int | None      # in the first this many rounds only (None: all)
    budget: float | None    # seconds after which a fit may stop early (PyTorch only)


def peers(default_threads: int, budget: float, default_rounds: int) -> list[Peer]:
    """neurallab first; PyTorch with 1 and its default threads (unless
    ``default_rounds`` is 0); scikit-learn."""
    peer_list = [
        Peer("neurallab", fit_neurallab, None, None),
        Peer("PyTorch, 1 thread", lambda c, d, s, b: fit_torch(c, d, s, 1, b), None, budget),
        Peer(f"PyTorch, default threads ({default_threads})",
             lambda c, d, s, b: fit_torch(c, d, s, default_threads, b), default_rounds,
             budget),
        Peer("scikit-learn", fit_sklearn, None, None),
    ]
    return [p for p in peer_list if p.rounds != 0]


# ---------------------------------------------------------------------------- scores
def train_loss(case: Case, data: Data, fit: Fit) -> float:
    """MSE (raw, not halved) or mean cross-entropy on the whole training set, float64."""
    out = np.asarray(fit.predict(data.X), dtype=np.float64)
    if case.classifier:
        p = out[np.arange(data.y.size), data.y]
        return float(-np.mean(np.log(np.maximum(p, np.finfo(np.float64).tiny))))
    return float(np.mean((out[:, 0] - data.y) ** 2))


def test_accuracy(data: Data, fit: Fit) -> float:
    return float(np.mean(np.argmax(fit.predict(data.X_test), axis=1) == data.y_test))


# ---------------------------------------------------------------------------- run
#: a warm-up fit (imports, first-call set-ups) may stop after this many seconds
WARMUP_BUDGET = 1.0


def run_case(case: Case, peer_list: list[Peer], rounds: int) -> dict:
    """One warm-up fit per peer, then ``rounds`` interleaved rounds (seed = round).

    Returns, per peer name, the list of its fits' (seconds, epochs done, training
    loss or None when stopped early, test accuracy or None).
    """
    data = load(case)
    for p in peer_list:
        p.fit(case, data, 10_000, WARMUP_BUDGET)
    res: dict[str, list] = {p.name: [] for p in peer_list}
    for r in range(rounds):
        now = [p for p in peer_list if p.rounds is None or r < p.rounds]
        k = r % len(now)
        for p in now[k:] + now[:k]:
            fit = p.fit(case, data, r, p.budget)
            if fit.dtype != case.dtype:
                raise SystemExit(f"{p.name} trained in {fit.dtype}, not {case.dtype}")
            complete = fit.epochs == case.epochs
            if not complete and p.budget is None:
                raise SystemExit(f"{p.name} stopped after {fit.epochs} of {case.epochs} "
                                 "epochs")
            res[p.name].append((
                fit.seconds, fit.epochs,
                train_loss(case, data, fit) if complete else None,
                test_accuracy(data, fit) if complete and case.classifier else None))
    return res


def n_steps(case: Case) -> int:
    n = load(case).X.shape[0]
    return case.epochs * -(-n // case.batch)


def report(key: str, case: Case, res: dict) -> list[tuple[str, float]]:
    """Print the case's table; returns (peer, ratio neurallab / peer) pairs.

    A peer's fit stopped by its time budget took at least the time it reports, so
    its median is a lower bound and the ratio an upper bound (``≥``, ``≤``).
    """
    steps = n_steps(case)
    ours = [f[0] for f in res["neurallab"]]
    t_ours = median(ours)
    rows, ratios = [], []
    for name, fits in res.items():
        secs = [f[0] for f in fits]
        t = median(secs)
        cut = [f for f in fits if f[1] < case.epochs]
        ge, le = ("≥ ", "≤ ") if cut else ("", "")
        per_round = [a / b for a, b in zip(ours, secs, strict=False)]
        losses = [f[2] for f in fits if f[2] is not None]
        accs = [f[3] for f in fits if f[3] is not None]
        ratio = t_ours / t
        row = [name, f"{len(fits)}" + (f" ({len(cut)} stopped at the budget)" if cut else ""),
               ge + fmt_time(t), "—" if cut else f"{t / steps * 1e6:.0f} µs",
               "—" if name == "neurallab" else f"{le}{ratio:.2f}",
               "—" if name == "neurallab" else f"{min(per_round):.2f}–{max(per_round):.2f}",
               f"{median(losses):.4g}" if losses else "—"]
        if case.classifier:
            row.append(f"{100 * np.mean(accs):.1f} %" if accs else "—")
        rows.append(row)
        if name != "neurallab":
            ratios.append((name, ratio))
    loss_name = "training cross-entropy (median)" if case.classifier else \
        "training MSE (median)"
    headers = ["implementation", "fits", "time per fit (median)", "per step",
               "neurallab / this", "per round", loss_name]
    if case.classifier:
        headers.append("test accuracy (mean)")
    print(f"## `{key}`: {case.title}\n\n{case.settings()}; {steps} steps per fit\n")
    print(markdown_table(headers, rows))
    worst = max(ratios, key=lambda p: p[1])
    print(f"\nslowest against: {worst[0]}, {worst[1]:.2f}× (target ≤ 1.0: "
          f"{'met' if worst[1] <= 1.0 else 'MISSED'})\n")
    return ratios


def profile(case: Case) -> None:
    """cProfile of neurallab's fit on ``case`` (after a warm-up fit)."""
    import cProfile
    import pstats

    data = load(case)
    fit_neurallab(case, data, 0)
    pr = cProfile.Profile()
    pr.enable()
    fit = fit_neurallab(case, data, 0)
    pr.disable()
    print(f"one fit: {fmt_time(fit.seconds)} (under the profiler)")
    pstats.Stats(pr).sort_stats("tottime").print_stats(15)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds per case, seeds 0..N-1 (default 5)")
    ap.add_argument("--default-threads-rounds", type=int, default=2,
                    help="rounds that include PyTorch with its default threads (default 2)")
    ap.add_argument("--budget", type=float, default=4.0,
                    help="seconds after which a PyTorch fit stops at the end of its epoch; "
                         "its time is then a lower bound (default 4)")
    ap.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES),
                    help="which cases (default: all)")
    ap.add_argument("--profile", choices=list(CASES),
                    help="profile neurallab's fit on this case and exit")
    add_common_arguments(ap)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    default_threads = torch_default_threads()
    import sklearn  # noqa: F401  (so machine_info lists its version)

    with blas_threads(args.threads):
        if args.profile:
            profile(CASES[args.profile])
            return 0
        peer_list = peers(default_threads, args.budget, args.default_threads_rounds)
        missed = []
        for key in args.cases:
            case = CASES[key]
            for name, ratio in report(key, case, run_case(case, peer_list, args.rounds)):
                if ratio > 1.0:
                    missed.append(f"{key} vs {name}: {ratio:.2f}")
        print("target neurallab ≤ 1.0× every peer: "
              + ("met in every case" if not missed else "MISSED — " + "; ".join(missed)))
        torch_rows = f"1, and its default {default_threads} in the first " \
            f"{args.default_threads_rounds} rounds" if args.default_threads_rounds else "1"
        extra = [f"BLAS threads for NumPy during the runs: {args.threads or 'library default'}"
                 " (neurallab, scikit-learn)",
                 f"PyTorch threads: {torch_rows}; a PyTorch fit stops at the end of the "
                 f"epoch in which it passes {args.budget:g} s",
                 f"{args.rounds} round{'s' if args.rounds != 1 else ''} per case after one "
                 "warm-up fit per peer, all in "
                 "this process, order rotating"]
        print("\n" + machine_info(extra))
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
