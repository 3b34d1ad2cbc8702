"""The tutorial's network: neurallab against the plain NumPy code and scikit-learn.

Two comparisons, every peer in this process, interleaved seed by seed so that they
share the machine's load, repeated, medians reported:

1. **Generality must cost nothing.** The 2-3-1 sigmoid network without biases on
   the scaled chapter-1 data, trained by SciPy's BFGS (at most 200 iterations, the
   cost recorded after every iteration), started from the same weights
   (``default_rng(seed).standard_normal``, seeds 0..19): ``neurallab``'s
   ``Network.fit(optimizer="bfgs")`` against ``reference_tutorial.py``, the tutorial's
   own code. Times are per full training — building the network, ``fit`` with its
   validation, History and callbacks, and SciPy — and include the reference's
   constructor too. Both follow the same iterates (the script checks the iteration
   counts and final costs). Target: ratio ≤ 1.0. The reference in its lean form
   (one forward pass per evaluation) is shown as well.
2. **Our fastest method vs scikit-learn.** Levenberg–Marquardt, L-BFGS and BFGS
   against ``MLPRegressor(hidden_layer_sizes=(3,), activation="logistic",
   solver="lbfgs")`` (its default ``max_iter=200``) on the same data, each to its own
   stopping rule. The architectures differ where scikit-learn cannot follow the
   tutorial: its output layer is the identity and every layer has biases (13
   parameters against our 9). Target: our fastest ≤ 1.0× scikit-learn's time.

Usage::

    python benchmarks/bench_tutorial.py              # 20 seeds, 15 repeats
    python benchmarks/bench_tutorial.py --repeats 5 --check
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from pathlib import Path

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
from reference_tutorial import LeanTrainer, NeuralNetwork, Trainer, scaled_data  # noqa: E402

import neurallab as nl  # noqa: E402

MAX_ITER = 200


# ---------------------------------------------------------------------------- trainers
def reference(seed, X, y, trainer=Trainer):
    """The tutorial's code: returns (iterations, final cost)."""
    T = trainer(NeuralNetwork(seed))
    res = T.train(X, y, maxiter=MAX_ITER)
    return len(T.J), float(res.fun)


def reference_lean(seed, X, y):
    return reference(seed, X, y, LeanTrainer)


def neurallab_fit(optimizer):
    def train(seed, X, y):
        net = nl.Network([2, 3, 1], activation="sigmoid", bias=False, init="normal", seed=seed)
        history = net.fit(X, y, loss="sse", optimizer=optimizer, epochs=MAX_ITER, verbose=0)
        return len(history.epoch), history.final_loss
    return train


def sklearn_lbfgs(seed, X, y):
    from sklearn.neural_network import MLPRegressor

    m = MLPRegressor(hidden_layer_sizes=(3,), activation="logistic", solver="lbfgs",
                     max_iter=MAX_ITER, random_state=seed)
    m.fit(X, y.ravel())
    # the same cost as ours, ½·Σ(y − ŷ)², for the table (not timed)
    return m.n_iter_, m


# ---------------------------------------------------------------------------- timing
def interleaved(candidates: dict, seeds, repeats: int, X, y):
    """Median (over repeats) of the mean time per training, and each run's result.

    Within a repeat every seed is trained by every candidate in turn (the order
    rotating between repeats), so slow and quiet moments of a shared machine fall
    on all of them alike.
    """
    names = list(candidates)
    per_rep = {k: [] for k in names}
    results = {k: {} for k in names}
    for k in names:                                   # warm-up: imports, caches
        candidates[k](seeds[0], X, y)
    for rep in range(repeats):
        gc.collect()
        totals = dict.fromkeys(names, 0.0)
        order = names[rep % len(names):] + names[:rep % len(names)]
        for seed in seeds:
            for k in order:
                t0 = time.perf_counter()
                out = candidates[k](seed, X, y)
                totals[k] += time.perf_counter() - t0
                results[k][seed] = out
        for k in names:
            per_rep[k].append(totals[k] / len(seeds))
    return {k: median(v) for k, v in per_rep.items()}, results


def sse(yhat, y) -> float:
    r = np.asarray(yhat).reshape(y.shape) - y
    return 0.5 * float(np.vdot(r, r))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats (default 15)")
    add_common_arguments(ap)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning at max_iter
    import sklearn  # noqa: F401  (so machine_info lists its version)

    X, y = scaled_data()
    seeds = list(range(args.seeds))
    ok = True
    with blas_threads(args.threads):
        # ------------------------------------------------------------ 1. reference
        cands = {
            "reference (the tutorial's code)": reference,
            "reference, one forward pass per evaluation": reference_lean,
            'neurallab `fit(optimizer="bfgs")`': neurallab_fit("bfgs"),
        }
        times, results = interleaved(cands, seeds, args.repeats, X, y)
        ref_name, lean_name, ours_name = cands
        same_path = sum(results[ours_name][s][0] == results[ref_name][s][0] for s in seeds)
        worst = max(abs(results[ours_name][s][1] - results[ref_name][s][1]) for s in seeds)
        rows = []
        for k in cands:
            its = sum(results[k][s][0] for s in seeds)
            rows.append([k, fmt_time(times[k]), f"{times[k] / times[ref_name]:.2f}",
                         f"{its / len(seeds):.1f}",
                         f"{median([results[k][s][1] for s in seeds]):.2e}"])
        print(f"## Tutorial network 2-3-1 (sigmoid, no bias), SciPy BFGS ≤ {MAX_ITER} "
              f"iterations, seeds 0..{len(seeds) - 1}\n")
        print(markdown_table(["implementation", "time per training (median)",
                              "ratio to reference", "iterations (mean)",
                              "final cost (median)"], rows))
        ratio = times[ours_name] / times[ref_name]
        print(f"\nneurallab / reference: {ratio:.2f} (target ≤ 1.0: "
              f"{'met' if ratio <= 1.0 else 'MISSED'}); neurallab / lean reference: "
              f"{times[ours_name] / times[lean_name]:.2f}")
        print(f"same iteration count as the reference on {same_path}/{len(seeds)} seeds; "
              f"largest difference in final cost {worst:.1e}")
        ok &= ratio <= 1.0

        # ------------------------------------------------------------ 2. scikit-learn
        cands = {
            'neurallab `fit(optimizer="lm")`': neurallab_fit("lm"),
            'neurallab `fit(optimizer="lbfgs")`': neurallab_fit("lbfgs"),
            'neurallab `fit(optimizer="bfgs")`': neurallab_fit("bfgs"),
            'scikit-learn `MLPRegressor(solver="lbfgs")`': sklearn_lbfgs,
        }
        times, results = interleaved(cands, seeds, args.repeats, X, y)
        sk_name = list(cands)[-1]
        rows = []
        for k in cands:
            its = [results[k][s][0] for s in seeds]
            if k == sk_name:
                costs = [sse(results[k][s][1].predict(X), y) for s in seeds]
                params = "13 (with biases; identity output)"
            else:
                costs = [results[k][s][1] for s in seeds]
                params = "9 (tutorial)"
            rows.append([k, params, fmt_time(times[k]), f"{times[k] / times[sk_name]:.2f}",
                         f"{np.mean(its):.1f}", f"{median(costs):.2e}",
                         f"{sum(c < 1e-6 for c in costs)}/{len(seeds)}"])
        print(f"\n## Our fastest method against scikit-learn, same data, seeds "
              f"0..{len(seeds) - 1}\n")
        print(markdown_table(["implementation", "parameters", "time per training (median)",
                              "ratio to scikit-learn", "iterations (mean)",
                              "final ½·Σ(y − ŷ)² (median)", "cost < 1e-6"], rows))
        fastest = min((k for k in cands if k != sk_name), key=times.get)
        ratio = times[fastest] / times[sk_name]
        print(f"\nfastest: {fastest}, {ratio:.2f}× scikit-learn's time (target ≤ 1.0: "
              f"{'met' if ratio <= 1.0 else 'MISSED'})")
        ok &= ratio <= 1.0
        print("\n" + machine_info([f"BLAS threads during the runs: "
                                   f"{args.threads or 'library default'}",
                                   f"{args.repeats} repeats × {len(seeds)} seeds per peer"]))
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
