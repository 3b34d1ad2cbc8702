"""Chapter 6: training with BFGS (and Levenberg–Marquardt), then using the network."""

from __future__ import annotations

import numpy as np

from .. import optim, plots
from ._common import (
    LR_GOOD,
    QUESTION,
    score_grid,
    student_labels,
    tutorial_network,
    tutorial_setup,
)
from .core import ChapterResult, Context, fmt_number

TITLE = "Training with BFGS"

MAX_ITER = 200


def _curve(J0: float, losses, recorded_after_step: bool,
           J_end: float) -> tuple[np.ndarray, np.ndarray]:
    """Cost against iteration, from the untrained cost at iteration 0 to the cost after
    the last one.

    Full-batch optimizers record J after each iteration; gradient descent records the
    cost it measured before each step (its first entry is already J0), so the cost
    after its last step, ``J_end``, is appended.
    """
    losses = np.asarray(losses, float)
    losses = (np.concatenate([[J0], losses]) if recorded_after_step
              else np.concatenate([losses, [J_end]]))
    return np.arange(losses.size), losses


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(6, TITLE)
    probe, X, y, Xs, ys = tutorial_setup(ctx.seed)
    J0 = probe.cost(Xs, ys, loss="sse")

    res.add_text(
        "Gradient descent only knows the slope. Quasi-Newton methods also learn the "
        "curvature of J from how the gradient changes between steps, and choose both the "
        "direction and the length of each step themselves — no learning rate to tune. "
        "BFGS is the classic; we hand SciPy's implementation the network's flat weight "
        "vector θ and a function returning J and ∂J/∂θ from backpropagation, at most "
        f"{MAX_ITER} iterations. Next to it, plain gradient descent (η = {LR_GOOD:g}) and "
        "Levenberg–Marquardt, which uses the Jacobian of the residuals y − ŷ and suits "
        "small sum-of-squares problems like this one.",
    )
    nets, hists = {}, {}
    for name, opt in (("BFGS", optim.BFGS(max_iter=MAX_ITER)),
                      ("gradient descent", optim.GradientDescent(lr=LR_GOOD)),
                      ("Levenberg–Marquardt", optim.LevenbergMarquardt())):
        net = tutorial_network(ctx.seed)
        hists[name] = net.fit(X, y, optimizer=opt, epochs=MAX_ITER, verbose=0, seed=ctx.seed)
        nets[name] = net
    net = nets["BFGS"]
    ctx.shared["ch6.network"] = net

    curves = {name: _curve(J0, h.history["loss"], name != "gradient descent",
                           nets[name].cost(Xs, ys, loss="sse"))
              for name, h in hists.items()}
    rows = []
    for name, h in hists.items():
        key = {"BFGS": "bfgs", "gradient descent": "gd", "Levenberg–Marquardt": "lm"}[name]
        its = res.add_number(f"{key}_iterations", len(h.history["loss"]),
                             f"{name}: iterations", show=(key == "bfgs"))
        Jf = res.add_number(f"{key}_final_cost", curves[name][1][-1], f"{name}: final cost J",
                            show=True)
        rows.append((name, str(int(its)), f"{Jf:.3e}", f"{h.wall_time * 1e3:.1f} ms",
                     h.message))
    res.add_table(("optimizer", "iterations", "final J", "time", "stopped because"), rows,
                  caption=f"Training from the same initial weights (J = {fmt_number(J0)}).")
    fig, (ax,) = plots.new_figure(width=6.8, height=4)
    plots.plot_curves(ax, curves, title="cost per iteration", xlabel="iteration",
                      ylabel="cost J (log scale)", logy=True)
    res.add_figure(ctx.save_figure(fig, "ch06_optimizers"),
                   "The same network trained three ways. The log scale shows what a linear "
                   "axis hides: BFGS and Levenberg–Marquardt drive J down by orders of "
                   "magnitude while gradient descent creeps.")
    res.add_text(
        f"BFGS stops after {len(hists['BFGS'].history['loss'])} iterations at "
        f"J = {curves['BFGS'][1][-1]:.1e}; Levenberg–Marquardt needs "
        f"{len(hists['Levenberg–Marquardt'].history['loss'])} iterations to reach "
        f"{curves['Levenberg–Marquardt'][1][-1]:.1e}; gradient descent is still at "
        f"{curves['gradient descent'][1][-1]:.1e} after {MAX_ITER} steps.",
    )

    fitted = net.predict(X)
    res.add_table(("student", "sleep (h)", "study (h)", "target", "BFGS prediction"),
                  [(str(i + 1), *X[i], y[i, 0], f"{fitted[i, 0]:.2f}")
                   for i in range(X.shape[0])],
                  caption="After training, in points.")
    res.add_number("max_fit_error", np.abs(fitted - y).max(),
                   "largest training error after BFGS", "points")
    answer = res.add_number("prediction_8_3", net.predict(QUESTION)[0, 0],
                            f"predicted score for {QUESTION[0, 0]:g} h sleep, "
                            f"{QUESTION[0, 1]:g} h study", "points", show=True)
    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    labels = student_labels(X) + [f"{QUESTION[0, 0]:g} h / {QUESTION[0, 1]:g} h (?)"]
    plots.plot_bars(ax, labels, {"target": [*y[:, 0], np.nan],
                                 "trained network": [*fitted[:, 0], answer]},
                    title="predictions after BFGS", xlabel="student (sleep / study)",
                    ylabel="score (points)", value_fmt="{:.1f}")
    res.add_figure(ctx.save_figure(fig, "ch06_predictions"),
                   "Trained predictions next to the targets, and the answer to the question "
                   "of chapter 1 (no target: that student has not taken the test).")
    res.add_text(
        f"The fitted scores are within {fmt_number(np.abs(fitted - y).max(), 2)} points of "
        "the targets. "
        f"For a student who sleeps {QUESTION[0, 0]:g} hours and studies "
        f"{QUESTION[0, 1]:g}, the network predicts {answer:.1f} points. Because the network is "
        "a function of two inputs we can draw all its answers at once:",
    )

    sleep, study, scores = score_grid(net)
    res.add_number("score_min_on_grid", scores.min(), "lowest predicted score, 0–10 h × 0–5 h",
                   "points")
    res.add_number("score_max_on_grid", scores.max(),
                   "highest predicted score, 0–10 h × 0–5 h", "points")
    fig, axes = plots.new_figure(2, width=12, height=4.6, projection=[None, "3d"])
    plots.plot_contour(axes[0], sleep, study, scores, title="predicted score (points)",
                       xlabel="hours of sleep", ylabel="hours of study",
                       colorbar_label="score (points)",
                       levels=plots.nice_levels(scores.min(), scores.max()))
    axes[0].plot(X[:, 0], X[:, 1], "wo", mec="k", ms=7, label="training students",
                 clip_on=False, zorder=5)
    axes[0].plot(*QUESTION[0], "r*", ms=13, mec="k", label="(8, 3): the question", zorder=5)
    axes[0].legend(fontsize="small", loc="lower right")
    plots.plot_surface(axes[1], sleep, study, scores, title="the same, as a surface",
                       xlabel="hours of sleep", ylabel="hours of study", zlabel="score")
    res.add_figure(ctx.save_figure(fig, "ch06_score_surface"),
                   f"The trained network's score over sleep 0–10 h × study 0–5 h "
                   f"(from {scores.min():.0f} to {scores.max():.0f} points). Three examples "
                   "pin the surface down only near them; elsewhere it is a guess.")
    return res
