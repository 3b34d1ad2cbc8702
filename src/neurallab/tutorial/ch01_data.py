"""Chapter 1: the problem, and the data in raw and scaled units."""

from __future__ import annotations

from .. import plots
from ._common import QUESTION, student_labels, tutorial_setup
from .core import ChapterResult, Context

TITLE = "The problem: predicting a test score"


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(1, TITLE)
    net, X, y, Xs, ys = tutorial_setup(ctx.seed)
    sleep_max, study_max = net.input_scaler.scale_
    score_scale = float(net.output_scaler.scale_[0])

    res.add_number("n_samples", X.shape[0], "training examples", show=True)
    res.add_number("sleep_max", sleep_max, "largest hours of sleep (input scale)", "h")
    res.add_number("study_max", study_max, "largest hours of study (input scale)", "h")
    res.add_number("score_scale", score_scale, "score scale", "points")

    res.add_text(
        f"We have {X.shape[0]} students. For each we know two inputs, hours of sleep and "
        "hours of study the night before a test, and one output, the score they got. The "
        "task is supervised regression: learn from these examples a function that maps "
        "(sleep, study) to a score, then use it on a student we have not seen — "
        f"someone who slept {QUESTION[0, 0]:g} hours and studied {QUESTION[0, 1]:g}.",
    )
    res.add_table(
        ("student", "sleep (h)", "study (h)", "score (points)"),
        [(str(i + 1), *X[i], y[i, 0]) for i in range(X.shape[0])]
        + [("?", *QUESTION[0], "to predict")],
        caption="The training data in raw units.",
    )
    res.add_text(
        "Hours and points live on different scales, and the network's output is a sigmoid, "
        "which can only produce numbers between 0 and 1. So we scale: each input column is "
        f"divided by its largest value in the training data ({sleep_max:g} h of sleep, "
        f"{study_max:g} h of study) and every score by {score_scale:g}, the largest score "
        "possible. Now every number lies in [0, 1]. The scale comes from the training data "
        "only and is stored with the network, so any new input is divided by the same "
        "numbers and every prediction is multiplied back into points.",
    )
    res.add_table(
        ("student", "sleep / max", "study / max", "score / 100"),
        [(str(i + 1), *Xs[i], ys[i, 0]) for i in range(X.shape[0])],
        caption="The same data in the network's units.",
    )

    fig, axes = plots.new_figure(2, width=10.5, height=3.8)
    labels = student_labels(X)
    plots.plot_bars(axes[0], labels, {"sleep (h)": X[:, 0], "study (h)": X[:, 1],
                                      "score (points)": y[:, 0]},
                    title="raw units", xlabel="student (sleep / study)", ylabel="value",
                    value_fmt="{:g}")
    plots.plot_bars(axes[1], labels, {"sleep / max": Xs[:, 0], "study / max": Xs[:, 1],
                                      "score / 100": ys[:, 0]},
                    title="scaled: everything in [0, 1]", xlabel="student (sleep / study)",
                    ylabel="value", value_fmt="{:.2f}")
    res.add_figure(ctx.save_figure(fig, "ch01_data"),
                   "Left: the three students in hours and points — the scores dwarf the "
                   "hours. Right: after scaling, inputs and targets share the range [0, 1].")
    return res
