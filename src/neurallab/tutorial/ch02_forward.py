"""Chapter 2: forward propagation — the sigmoid, the 2-3-1 network, untrained predictions."""

from __future__ import annotations

import numpy as np

from .. import plots
from ..activations import sigmoid, sigmoid_prime
from ._common import student_labels, tutorial_setup
from .core import ChapterResult, Context

TITLE = "Forward propagation"


def _fmt_array(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=4, suppress_small=True, separator=", ")


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(2, TITLE)
    net, X, y, Xs, ys = tutorial_setup(ctx.seed)
    W1, W2 = net.W

    res.add_text(
        "The network has 2 inputs, one hidden layer of 3 neurons and 1 output, with no bias "
        "terms. Each neuron adds up its weighted inputs and passes the sum through the "
        "sigmoid f(z) = 1 / (1 + e^(−z)). With one row per student, a whole layer is one "
        "matrix product, so the forward pass for all students at once reads:",
    )
    res.add_equation("z2 = X · W1        (3×2 · 2×3 → 3×3: one row per student, one column "
                     "per hidden neuron)",
                     "a2 = f(z2)",
                     "z3 = a2 · W2       (3×3 · 3×1 → 3×1)",
                     "ŷ  = f(z3)")
    res.add_text(
        "Because f is applied element by element, the same function works on a scalar, a "
        "vector and a matrix — NumPy broadcasts it. Here it is on all three:",
    )
    z_scalar = 1.0
    z_vector = np.array([-1.0, 0.0, 1.0])
    z_matrix = np.array([[-2.0, 0.5], [3.0, -0.5]])
    s_scalar = float(sigmoid(z_scalar))
    res.add_number("sigmoid_of_1", s_scalar, "f(1)")
    res.add_table(("input z", "f(z)"),
                  [(f"scalar {z_scalar:g}", f"{s_scalar:.4f}"),
                   (f"vector {_fmt_array(z_vector)}", _fmt_array(sigmoid(z_vector))),
                   (f"matrix {_fmt_array(z_matrix)}", _fmt_array(sigmoid(z_matrix)))],
                  caption="The sigmoid of a scalar, a vector and a matrix.")

    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    z = np.linspace(-6, 6, 241)
    ax.plot(z, sigmoid(z), label="f(z) = 1 / (1 + e^(−z))")
    ax.plot(z, sigmoid_prime(z), "--", label="f′(z) = e^(−z) / (1 + e^(−z))²")
    ax.plot(z_vector, sigmoid(z_vector), "o", label="f of the vector [−1, 0, 1]")
    ax.plot(z_matrix.ravel(), sigmoid(z_matrix).ravel(), "s", mfc="none",
            label="f of the matrix's entries")
    ax.set_xlabel("z")
    ax.set_ylabel("f(z), f′(z)")
    ax.set_title("the sigmoid and its derivative")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    res.add_figure(ctx.save_figure(fig, "ch02_sigmoid"),
                   "The sigmoid squeezes any number into (0, 1); its derivative (dashed), "
                   "used in chapter 4, peaks at z = 0 and vanishes for large |z|.")

    res.add_text(
        f"The weights start as standard-normal random numbers (seed {ctx.seed}). W1 has "
        f"{W1.size} of them and W2 has {W2.size}, {net.n_params} in all:",
    )
    res.add_table(("", "hidden 1", "hidden 2", "hidden 3"),
                  [("W1 from sleep", *W1[0]), ("W1 from study", *W1[1]),
                   ("W2 to output", *W2[:, 0])],
                  caption="The untrained weights (W2 written as a row).")

    yhat_s, cache = net.forward(Xs, return_cache=True)
    yhat = net.predict(X)
    err = np.abs(yhat - y)[:, 0]
    mae = res.add_number("untrained_mae", err.mean(), "untrained mean absolute error",
                         "points", show=True)
    rows = []
    for i in range(X.shape[0]):
        rows.append((str(i + 1), *X[i], *cache.z[0][i], yhat_s[i, 0], yhat[i, 0], y[i, 0]))
        res.add_number(f"untrained_prediction_{i + 1}", yhat[i, 0],
                       f"untrained prediction, student {i + 1}", "points")
    res.add_table(("student", "sleep", "study", "z2 (1)", "z2 (2)", "z2 (3)", "ŷ",
                   "ŷ (points)", "target (points)"),
                  rows, caption="One forward pass: hidden pre-activations z2, output ŷ in "
                                "network units and in points, and the targets.")
    res.add_text(
        f"Untrained, the network is guessing: its predictions are off by {mae:.1f} points on "
        "average. Training (chapters 3–6) means changing the nine weights until ŷ matches y.",
    )
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    plots.plot_bars(ax, student_labels(X), {"target": y[:, 0], "untrained network": yhat[:, 0]},
                    title="untrained predictions vs targets", xlabel="student (sleep / study)",
                    ylabel="score (points)", value_fmt="{:.1f}")
    res.add_figure(ctx.save_figure(fig, "ch02_untrained"),
                   f"Before training: predictions from random weights (seed {ctx.seed}) next "
                   "to the true scores.")
    return res
