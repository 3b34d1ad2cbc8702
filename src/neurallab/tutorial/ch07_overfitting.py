"""Chapter 7: overfitting, seen on a test set, and L2 regularisation."""

from __future__ import annotations

import numpy as np

from .. import datasets, plots
from ..training import LambdaCallback
from ._common import QUESTION, score_grid, tutorial_network
from .core import ChapterResult, Context, fmt_number

TITLE = "Overfitting and regularisation"

LAMBDA = 1e-4
MAX_ITER = 200
#: the surfaces reach 6 h of study, so the test student who studied 5.5 h is on them
STUDY_MAX = 6.0


def _train(X, y, X_test, y_test, seed: int, l2: float):
    """BFGS on the normalised cost, recording training and test cost per iteration.

    Both curves are the data term ``½·Σ(y − ŷ)²/N`` (no penalty), so they can be
    compared; each starts at the untrained network (iteration 0).
    """
    net = tutorial_network(seed)
    net.input_scaler.fit(X)                       # the training data's maxima, only
    net.output_scaler.fit(y)
    Xs, ys = net.input_scaler.transform(X), net.output_scaler.transform(y)
    Xts, yts = net.input_scaler.transform(X_test), net.output_scaler.transform(y_test)
    train = [net.cost(Xs, ys, loss="sse", normalize=True)]
    test = [net.cost(Xts, yts, loss="sse", normalize=True)]
    record = LambdaCallback(on_epoch_end=lambda e, logs: train.append(
        net.cost(Xs, ys, loss="sse", normalize=True)))
    h = net.fit(X, y, optimizer="bfgs", l2=l2, normalize=True, epochs=MAX_ITER,
                validation_data=(X_test, y_test), callbacks=[record], verbose=0)
    test.extend(h.history["val_loss"])
    return net, h, np.array(train), np.array(test)


def _study_hurts(scores: np.ndarray) -> float:
    """Share of the grid where one more step of study *lowers* the predicted score.

    ``scores`` has one row per study value (increasing), so a negative difference
    along axis 0 means more study, lower score — implausible for this data.
    """
    return float((np.diff(scores, axis=0) < -1e-9).mean())


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(7, TITLE)
    X, y, X_test, y_test = datasets.sleep_study_extended()
    res.add_text(
        "Three examples and nine weights: the network can fit them exactly, and chapter 6 "
        "did. Whether it has learned anything shows only on students it has not seen. We "
        "add a fourth training student and a separate test set:",
    )
    res.add_table(("set", "sleep (h)", "study (h)", "score"),
                  [("train", *X[i], y[i, 0]) for i in range(X.shape[0])]
                  + [("test", *X_test[i], y_test[i, 0]) for i in range(X_test.shape[0])],
                  caption="Chapter 7's data.")
    res.add_text(
        f"Both sets are scaled with the training set's maxima ({X[:, 0].max():g} h and "
        f"{X[:, 1].max():g} h) — the scale is part of the model, so a test student who "
        f"studied {X_test[:, 1].max():g} h becomes {X_test[:, 1].max() / X[:, 1].max():.2f}, "
        "a little outside [0, 1], exactly as a new student would. We train with BFGS and "
        "measure the training and the test cost after every iteration, both as the mean "
        "½·(y − ŷ)² per student.",
    )

    out = {}
    for key, l2 in (("plain", 0.0), ("l2", LAMBDA)):
        net, h, train, test = _train(X, y, X_test, y_test, ctx.seed, l2)
        sleep, study, scores = score_grid(net, n_study=61, study_max=STUDY_MAX)
        best = int(np.argmin(test))
        out[key] = dict(net=net, h=h, train=train, test=test, scores=scores, best=best)
        label = "no regularisation" if key == "plain" else f"λ = {LAMBDA:g}"
        res.add_number(f"{key}_iterations", len(h.history["loss"]), f"{label}: iterations")
        res.add_number(f"{key}_final_train_cost", train[-1], f"{label}: final training cost",
                       show=True)
        res.add_number(f"{key}_min_test_cost", test[best], f"{label}: lowest test cost")
        res.add_number(f"{key}_min_test_iteration", best,
                       f"{label}: iteration of the lowest test cost")
        res.add_number(f"{key}_final_test_cost", test[-1], f"{label}: final test cost",
                       show=True)
        res.add_number(f"{key}_prediction_8_3", net.predict(QUESTION)[0, 0],
                       f"{label}: prediction for (8, 3)", "points")
        res.add_number(f"{key}_study_hurts", _study_hurts(scores),
                       f"{label}: share of the grid where more study lowers the score")
    p, r = out["plain"], out["l2"]

    fig, axes = plots.new_figure(3, width=15, height=4.2)
    for ax, d, name in ((axes[0], p, "without regularisation"),
                        (axes[1], r, f"with λ = {LAMBDA:g}")):
        plots.plot_curves(ax, {"training cost": d["train"], "test cost": d["test"]},
                          title=name, xlabel="BFGS iteration",
                          ylabel="cost ½·Σ(y − ŷ)²/N (log scale)", logy=True)
        ax.plot([d["best"]], [d["test"][d["best"]]], "v", color="C1", ms=8)
    plots.plot_curves(axes[2], {"test cost without": p["test"],
                                f"test cost with λ = {LAMBDA:g}": r["test"]},
                      title="test cost, both runs", xlabel="BFGS iteration",
                      ylabel="test cost ½·Σ(y − ŷ)²/N",
                      styles={"test cost without": {"color": "C3"},
                              f"test cost with λ = {LAMBDA:g}": {"color": "C2"}})
    axes[2].set_ylim(0, 1.15 * max(p["test"][5:].max(), r["test"][5:].max()))
    res.add_figure(ctx.save_figure(fig, "ch07_costs"),
                   "Training and test cost per iteration, without and with regularisation "
                   "(the triangle marks the lowest test cost), and the two test costs on one "
                   "linear axis (its top cut at the largest value after iteration 5, so the "
                   "untrained start is off the chart).")
    rise_p = p["test"][-1] / p["test"][p["best"]]
    rise_r = r["test"][-1] / r["test"][r["best"]]
    res.add_text(
        f"Without regularisation, the training cost falls to {fmt_number(p['train'][-1])}, "
        f"but the test cost is lowest at iteration {p['best']} "
        f"({fmt_number(p['test'][p['best']])}) and ends {rise_p:.1f} times higher, at "
        f"{fmt_number(p['test'][-1])}: past that point the network is memorising the four "
        "students, noise included, instead of learning the trend. That is overfitting."
        if rise_p > 1.2 else
        f"Without regularisation, the training cost falls to {fmt_number(p['train'][-1])} "
        f"and the test cost ends at {fmt_number(p['test'][-1])}, close to its lowest "
        f"({fmt_number(p['test'][p['best']])}): with this seed the network did not overfit "
        "much in "
        f"{MAX_ITER} iterations. Other seeds show it more strongly.",
    )
    res.add_text(
        "The cure is to make large weights expensive. We add an L2 penalty to the "
        "(normalised) cost; its gradient adds λ·W to every weight's gradient:",
    )
    res.add_equation("J = ½·Σ(y − ŷ)² / N  +  (λ/2)·(ΣW1² + ΣW2²)",
                     "∂J/∂W = (backpropagation) / N  +  λ·W")
    res.add_text(
        f"With λ = {LAMBDA:g} the training cost stays higher ({fmt_number(r['train'][-1])}), "
        f"because the network may no longer bend itself around every point, while the test "
        f"cost ends at {fmt_number(r['test'][-1])} ({rise_r:.1f} times its lowest, against "
        f"{rise_p:.1f} times without)"
        + (": the test cost still turns up after its lowest point, less steeply — with four "
           "training students regularisation tames the overfitting here rather than "
           "removing it; what it does remove shows in the surface below."
           if rise_r > 1.05 else ": the test cost no longer rises.")
        + " The prediction for (8, 3) is "
        f"{res.numbers['ch7.l2_prediction_8_3'].value:.1f} points with λ and "
        f"{res.numbers['ch7.plain_prediction_8_3'].value:.1f} without.",
    )

    levels = plots.nice_levels(min(p["scores"].min(), r["scores"].min()),
                               max(p["scores"].max(), r["scores"].max()), target=20)
    fig, axes = plots.new_figure(2, width=12, height=4.6)
    for ax, d, name in ((axes[0], p, "without regularisation"),
                        (axes[1], r, f"with λ = {LAMBDA:g}")):
        plots.plot_contour(ax, sleep, study, d["scores"], title=name,
                           xlabel="hours of sleep", ylabel="hours of study",
                           colorbar_label="predicted score (points)", levels=levels)
        ax.plot(X[:, 0], X[:, 1], "wo", mec="k", ms=7, label="training", clip_on=False,
                zorder=5)
        ax.plot(X_test[:, 0], X_test[:, 1], "w^", mec="k", ms=7, label="test",
                clip_on=False, zorder=5)
        ax.legend(fontsize="small", loc="lower right")
    res.add_figure(ctx.save_figure(fig, "ch07_surfaces"),
                   f"Predicted score over sleep 0–10 h × study 0–{STUDY_MAX:g} h, on the "
                   "same colour scale. Regularisation trades a perfect fit of four points "
                   "for a smoother surface.")
    hurts_p, hurts_r = _study_hurts(p["scores"]), _study_hurts(r["scores"])
    res.add_text(
        f"Without regularisation, more study lowers the predicted score on {hurts_p:.0%} of "
        "the input grid"
        + (" — a network that believes studying hurts has learned the noise in four "
           "examples, not the trend." if hurts_p > 0.05 else ".")
        + f" With λ = {LAMBDA:g} that share is {hurts_r:.0%}, and the predicted scores span "
        f"{r['scores'].min():.0f}–{r['scores'].max():.0f} points instead of "
        f"{p['scores'].min():.0f}–{p['scores'].max():.0f}.",
    )
    return res
