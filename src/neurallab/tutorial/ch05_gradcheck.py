"""Chapter 5: checking the gradient numerically, and catching a planted bug."""

from __future__ import annotations

import numpy as np

from .. import plots
from ..activations import sigmoid, sigmoid_prime
from ..gradcheck import check_gradients
from ._common import tutorial_setup
from .core import ChapterResult, Context, fmt_number

TITLE = "Checking the gradient"

EPS = 1e-4
#: below this relative error a float64 gradient is right (central differences are O(ε²))
THRESHOLD = 1e-7


def tutorial_gradient(net, X, y, *, planted_bug: bool = False):
    """``(J, ∂J/∂θ)`` written out with the tutorial's equations (chapter 4).

    With ``planted_bug`` the output layer's ``⊙ f′(z3)`` is forgotten — the kind of
    slip that still trains, only badly, and that a gradient check exists to catch.
    """
    W1, W2 = net.W
    z2 = X @ W1
    a2 = sigmoid(z2)
    z3 = a2 @ W2
    yhat = sigmoid(z3)
    J = 0.5 * float(np.sum((y - yhat) ** 2))
    delta3 = -(y - yhat) if planted_bug else -(y - yhat) * sigmoid_prime(z3)
    grad = np.empty(net.n_params)
    dJdW1, dJdW2 = net.weights_view(grad)
    dJdW2[...] = a2.T @ delta3
    delta2 = (delta3 @ W2.T) * sigmoid_prime(z2)
    dJdW1[...] = X.T @ delta2
    return J, grad


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(5, TITLE)
    net, X, y, Xs, ys = tutorial_setup(ctx.seed)

    res.add_text(
        "Backpropagation is easy to get subtly wrong, and a wrong gradient does not crash: "
        "training still moves, just in a worse direction. So we compare it with a slow but "
        "simple estimate. Unroll all nine weights into one vector θ and nudge one entry at "
        "a time in both directions:",
    )
    res.add_equation(f"g_num[i] = (J(θ + ε·eᵢ) − J(θ − ε·eᵢ)) / 2ε,   ε = {EPS:g}",
                     "relative error = ‖g − g_num‖ / ‖g + g_num‖")
    res.add_text(
        "The central difference is accurate to order ε², so for a correct gradient in "
        f"double precision the relative error is around 1e-8 or smaller; we call anything "
        f"below {THRESHOLD:g} right. We check three gradients: the library's backpropagation, "
        "the tutorial's four equations written out by hand, and the same equations with a "
        "planted bug — the output layer's ⊙ f′(z3) forgotten.",
    )
    reports = {
        "library backpropagation": check_gradients(net, Xs, ys, loss="sse", eps=EPS),
        "tutorial equations": check_gradients(net, Xs, ys, loss="sse", eps=EPS,
                                              grad_fn=tutorial_gradient),
        "planted bug (no f′(z3))": check_gradients(
            net, Xs, ys, loss="sse", eps=EPS,
            grad_fn=lambda n, a, b: tutorial_gradient(n, a, b, planted_bug=True)),
    }
    keys = ("library", "by_hand", "broken")
    errors = {name: res.add_number(f"relative_error_{key}", r.relative_error,
                                   f"relative error, {name}", show=True)
              for (name, r), key in zip(reports.items(), keys, strict=True)}
    res.add_table(("gradient", "relative error", "largest |g − g_num|", "verdict"),
                  [(name, f"{r.relative_error:.3e}", f"{r.worst_abs_error:.3e}",
                    "right" if r.relative_error < THRESHOLD else "WRONG")
                   for name, r in reports.items()],
                  caption=f"Gradient check of the untrained network (seed {ctx.seed}).")

    bad = reports["planted bug (no f′(z3))"]
    good = reports["library backpropagation"]
    fig, axes = plots.new_figure(2, width=11, height=4)
    plots.plot_bars(axes[0], ["library", "by hand", "planted bug"],
                    {"relative error": list(errors.values())}, logy=True,
                    title="relative error (log scale)", ylabel="‖g − g_num‖ / ‖g + g_num‖",
                    value_fmt="{:.1e}")
    axes[0].axhline(THRESHOLD, color="C3", ls="--", lw=1)
    axes[0].text(-0.4, THRESHOLD * 2, f"threshold {THRESHOLD:g}", color="C3",
                 fontsize="small")
    idx = np.arange(net.n_params)
    axes[1].plot(idx, good.numerical, "ko", ms=9, mfc="none", label="numerical g_num")
    axes[1].plot(idx, good.analytic, "C0x", ms=8, label="backpropagation")
    axes[1].plot(idx, bad.analytic, "C3^", ms=6, label="planted bug")
    axes[1].set_xticks(idx, [f"W1[{i // 3},{i % 3}]" for i in range(6)]
                       + [f"W2[{i},0]" for i in range(3)], rotation=45, ha="right")
    axes[1].set_ylabel("∂J/∂θᵢ")
    axes[1].set_title("the nine partial derivatives")
    axes[1].grid(True, alpha=0.3)
    axes[1].legend(fontsize="small")
    res.add_figure(ctx.save_figure(fig, "ch05_gradient_check"),
                   "Left: relative error of each gradient against central differences. "
                   "Right: the gradient entry by entry — backpropagation sits on the "
                   "numerical estimate, the buggy version does not.")
    ratio = errors["planted bug (no f′(z3))"] / max(errors["library backpropagation"], 1e-300)
    res.add_text(
        f"Backpropagation agrees with the numerical gradient to a relative error of "
        f"{errors['library backpropagation']:.1e}, and so does the hand-written version "
        f"({errors['tutorial equations']:.1e}). The planted bug gives "
        f"{errors['planted bug (no f′(z3))']:.2g}, about {fmt_number(ratio, 2)} times larger "
        "— unmistakable. Every gradient in neurallab is checked this way in its tests; "
        "`neurallab gradcheck` runs the same check on any saved model.",
    )
    return res
