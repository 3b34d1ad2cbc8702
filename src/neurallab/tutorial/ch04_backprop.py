"""Chapter 4: backpropagation and gradient descent — step sizes, batch and stochastic."""

from __future__ import annotations

import numpy as np

from .. import optim, plots
from ..training import LambdaCallback
from ._common import LR_GOOD, LR_LARGE, LR_SMALL, tutorial_network, tutorial_setup
from .core import ChapterResult, Context, fmt_number

TITLE = "Backpropagation and gradient descent"

EPOCHS = 300


def _train_gd(X, y, Xs, ys, seed: int, lr: float, epochs: int,
              batch_size: int | None = None):
    """Train a fresh tutorial network with (stochastic) gradient descent.

    Returns the network, the cost J on all three students (scaled ``Xs``, ``ys``) and
    ``‖θ‖``, each at the start and after every epoch (``epochs + 1`` values: entry k is
    after k epochs). The History's ``loss`` is not used for this: it is the cost met
    *during* each epoch, before its steps — Keras's convention — one step behind.
    """
    net = tutorial_network(seed)
    costs = [net.cost(Xs, ys, loss="sse")]
    norms = [float(np.linalg.norm(net.params))]

    def track(epoch, logs):
        costs.append(net.cost(Xs, ys, loss="sse"))
        norms.append(float(np.linalg.norm(net.params)))

    opt = optim.GradientDescent(lr=lr) if batch_size is None else optim.SGD(lr=lr)
    net.fit(X, y, optimizer=opt, epochs=epochs, batch_size=batch_size, verbose=0,
            seed=seed, callbacks=[LambdaCallback(on_epoch_end=track)])
    return net, np.array(costs), np.array(norms)


def _points(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(4, TITLE)
    net, X, y, Xs, ys = tutorial_setup(ctx.seed)

    res.add_text(
        "The gradient ∂J/∂W tells, for every weight at once, how fast the cost rises when "
        "that weight grows. Backpropagation computes it with the chain rule, from the output "
        "back to the inputs, reusing what the forward pass computed:",
    )
    res.add_equation("δ3 = −(y − ŷ) ⊙ f′(z3)            (3×1)",
                     "∂J/∂W2 = a2ᵀ · δ3                  (3×3 · 3×1 → 3×1)",
                     "δ2 = (δ3 · W2ᵀ) ⊙ f′(z2)          (3×1 · 1×3 → 3×3)",
                     "∂J/∂W1 = Xᵀ · δ2                   (2×3 · 3×3 → 2×3)",
                     "f′(z) = e^(−z) / (1 + e^(−z))²")
    J, grad = net.loss_and_grad(Xs, ys, loss="sse")
    dW1, dW2 = net.weights_view(grad)
    res.add_table(("", "hidden 1", "hidden 2", "hidden 3"),
                  [("∂J/∂W1 from sleep", *dW1[0]), ("∂J/∂W1 from study", *dW1[1]),
                   ("∂J/∂W2 to output", *dW2[:, 0])],
                  caption=f"The gradient of the untrained network (J = {fmt_number(J)}).")
    res.add_number("initial_gradient_norm", np.linalg.norm(grad), "‖∂J/∂θ‖ untrained")
    res.add_text(
        "Each term sums over the examples: a matrix product adds up every student's "
        "contribution. Gradient descent then takes a step downhill, W ← W − η · ∂J/∂W, "
        "and repeats. The step size η (the learning rate) decides everything:",
    )

    runs = {}
    for name, lr in (("too small", LR_SMALL), ("good", LR_GOOD), ("too large", LR_LARGE)):
        trained, costs, norms = _train_gd(X, y, Xs, ys, ctx.seed, lr, EPOCHS)
        runs[name] = (lr, costs, norms, trained.predict(X)[:, 0])
    final = {name: res.add_number(f"gd_final_cost_{key}", r[1][-1],
                                  f"cost after {EPOCHS} steps, η = {r[0]:g}", show=True)
             for (name, r), key in zip(runs.items(), ("small", "good", "large"), strict=True)}
    norm_start = float(runs["too large"][2][0])
    norm_large = res.add_number("gd_large_weight_norm", runs["too large"][2][1],
                                f"‖θ‖ after one step with η = {LR_LARGE:g}")
    # the cost of answering 1 (100 points) for everyone: where saturated sigmoids end up
    j_saturated = res.add_number("saturated_cost", 0.5 * np.sum((1.0 - ys) ** 2),
                                 "cost when every prediction is 100 points")

    fig, axes = plots.new_figure(2, width=11, height=4)
    plots.plot_curves(axes[0], {f"η = {r[0]:g} ({name})": r[1] for name, r in runs.items()},
                      title="cost after each step, three step sizes",
                      xlabel="steps taken", ylabel="cost J (log scale)", logy=True)
    plots.plot_curves(axes[1], {f"η = {r[0]:g} ({name})": r[2] for name, r in runs.items()},
                      title="size of the weight vector after each step",
                      xlabel="steps taken", ylabel="‖θ‖ (all 9 weights, log scale)",
                      logy=True)
    res.add_figure(ctx.save_figure(fig, "ch04_step_sizes"),
                   f"Plain gradient descent from the same start with three step sizes. With "
                   f"η = {LR_LARGE:g} the first step throws the weights far away (right), into "
                   "a flat region where every sigmoid is saturated, and the cost stalls.")
    res.add_text(
        f"With η = {LR_SMALL:g} the cost falls, but slowly: after {EPOCHS} steps it is "
        f"{fmt_number(final['too small'])}. With η = {LR_GOOD:g} it reaches "
        f"{fmt_number(final['good'])}. With η = {LR_LARGE:g} the very first step overshoots: "
        f"the weight vector's length jumps from {norm_start:.2f} to {norm_large:.1f}, the "
        "weighted sums become so large that the sigmoids saturate and the network answers "
        f"{_points(runs['too large'][3])} points for the three students. There the slope "
        "f′(z) is nearly zero, so the gradient vanishes and descent never finds its way "
        "back: the cost stays at "
        f"{fmt_number(final['too large'])} (answering 100 for everyone costs "
        f"{fmt_number(j_saturated)}). The step size diverged from the path to the minimum; "
        "a cost bounded by the sigmoid cannot blow up, but it cannot recover either.",
    )

    res.add_text(
        "So far each step used the gradient summed over all students: batch gradient "
        "descent. Stochastic gradient descent instead steps after every single example, in "
        "a shuffled order: three small, noisy steps per pass over the data instead of one "
        "exact step. On big data sets that is what makes training possible; here both take "
        "the same step size η per example:",
    )
    _, cb, _ = _train_gd(X, y, Xs, ys, ctx.seed, LR_GOOD, EPOCHS)
    _, cs, _ = _train_gd(X, y, Xs, ys, ctx.seed, LR_GOOD, EPOCHS, batch_size=1)
    jb = res.add_number("batch_final_cost", cb[-1], f"batch GD, cost after {EPOCHS} epochs")
    js = res.add_number("stochastic_final_cost", cs[-1],
                        f"stochastic GD, cost after {EPOCHS} epochs", show=True)
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    plots.plot_curves(ax, {f"batch (1 step per epoch, η = {LR_GOOD:g})": cb,
                           f"stochastic (3 steps per epoch, η = {LR_GOOD:g})": cs},
                      title="batch vs stochastic gradient descent", xlabel="epochs done",
                      ylabel="cost J (log scale)", logy=True)
    res.add_figure(ctx.save_figure(fig, "ch04_batch_vs_stochastic"),
                   "The cost on all three students after each epoch (one pass over them): "
                   "one step for batch descent, three for stochastic.")
    res.add_text(
        f"After {EPOCHS} epochs batch descent is at J = {fmt_number(jb)} and stochastic "
        f"descent at J = {fmt_number(js)}: {'stochastic' if js < jb else 'batch'} descent "
        "got further per pass over the data"
        + (", since it takes three steps where batch takes one." if js < jb else "."),
    )
    return res
