"""Chapter 3: the cost function, and why trying every weight cannot work."""

from __future__ import annotations

import numpy as np

from .. import plots
from ._common import tutorial_setup
from .core import ChapterResult, Context, Stopwatch, fmt_duration, fmt_number

TITLE = "Cost, and the curse of dimensionality"

#: values tried per weight, and the range they cover
N_VALUES = 1000
W_RANGE = (-5.0, 5.0)
#: the two-weight surface uses a coarser grid: N_GRID² evaluations
N_GRID = 100
YEAR = 365.25 * 86400
#: age of the universe in years (about 13.8 billion), for scale
UNIVERSE_YEARS = 13.8e9


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(3, TITLE)
    net, X, y, Xs, ys = tutorial_setup(ctx.seed)
    W1, W2 = net.W
    w0 = float(W1[0, 0])

    res.add_text(
        "To train the network we need one number that says how wrong it is. We use the sum "
        "of squared errors over the training examples, halved (the ½ cancels when we "
        "differentiate in chapter 4), computed in the network's units (targets ÷ 100):",
    )
    res.add_equation("J = ½ · Σ (y − ŷ)²")
    J0 = res.add_number("initial_cost", net.cost(Xs, ys, loss="sse"),
                        "cost J of the untrained network")
    res.add_text(
        f"For the untrained network of chapter 2, J = {fmt_number(J0)}. Training means "
        "finding the weights that make J as small as possible. The most obvious way is to "
        "try many values and keep the best. Let us try that for one weight, W1[sleep → "
        f"hidden 1] (now {w0:.3f}), over {N_VALUES:,} values in [{W_RANGE[0]:g}, "
        f"{W_RANGE[1]:g}], keeping the other eight fixed, and time it.",
    )

    values = np.linspace(*W_RANGE, N_VALUES)
    costs = np.empty(N_VALUES)
    with Stopwatch() as sw1:
        for i, w in enumerate(values):   # one forward pass per value, as brute force would
            W1[0, 0] = w
            costs[i] = net.cost(Xs, ys, loss="sse")
    W1[0, 0] = w0
    t1 = res.add_number("sweep_1_seconds", sw1.seconds, f"time for {N_VALUES:,} evaluations",
                        "s", show=True, timing=True)
    per_eval = t1 / N_VALUES
    res.add_number("seconds_per_evaluation", per_eval, "time per cost evaluation", "s",
                   timing=True)
    best = int(np.argmin(costs))
    res.add_number("sweep_1_best_weight", values[best], "best value of the swept weight")
    res.add_number("sweep_1_best_cost", costs[best], "lowest cost along the sweep")

    fig, (ax,) = plots.new_figure(width=6.4, height=3.8)
    ax.plot(values, costs, label="J as W1[sleep → hidden 1] varies")
    ax.plot([w0], [J0], "o", label=f"untrained value {w0:.2f}")
    ax.plot([values[best]], [costs[best]], "v", color="C3",
            label=f"best of the sweep {values[best]:.2f}")
    ax.set_xlabel("weight W1[sleep → hidden 1]")
    ax.set_ylabel("cost J")
    ax.set_title(f"{N_VALUES:,} evaluations in {fmt_duration(t1)}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    res.add_figure(ctx.save_figure(fig, "ch03_one_weight"),
                   "Cost against one weight, the other eight held fixed. Finding the best "
                   "value of one weight by brute force is cheap.")

    res.add_text(
        f"That took {fmt_duration(t1)}, or {fmt_duration(per_eval)} per evaluation. Two "
        f"weights at the same resolution need {N_VALUES:,}² = {N_VALUES ** 2:,} evaluations; "
        f"to keep this fast we draw the surface on a coarser {N_GRID} × {N_GRID} grid, "
        "varying W1[sleep → hidden 1] and W2[hidden 1 → output] together:",
    )
    grid = np.linspace(*W_RANGE, N_GRID)
    v0 = float(W2[0, 0])
    surface = np.empty((N_GRID, N_GRID))   # rows: W2 value, columns: W1 value
    with Stopwatch() as sw2:
        for i, b in enumerate(grid):
            W2[0, 0] = b
            for j, a in enumerate(grid):
                W1[0, 0] = a
                surface[i, j] = net.cost(Xs, ys, loss="sse")
    W1[0, 0], W2[0, 0] = w0, v0
    t2 = res.add_number("sweep_2_seconds", sw2.seconds,
                        f"time for {N_GRID}×{N_GRID} evaluations", "s", timing=True)
    fig, axes = plots.new_figure(2, width=11, height=4.4, projection=[None, "3d"])
    plots.plot_contour(axes[0], grid, grid, surface, title="cost J over two weights",
                       xlabel="W1[sleep → hidden 1]", ylabel="W2[hidden 1 → output]",
                       colorbar_label="cost J (log-spaced levels)", fmt="%.3g",
                       log=True)
    i, j = np.unravel_index(np.argmin(surface), surface.shape)
    axes[0].plot(grid[j], grid[i], "r*", ms=12, label="lowest on the grid")
    axes[0].legend(fontsize="small", loc="lower left")
    plots.plot_surface(axes[1], grid, grid, surface,
                       title="the same surface in 3-D (height: cost J)",
                       xlabel="W1[sleep → h1]", ylabel="W2[h1 → out]")
    res.add_figure(ctx.save_figure(fig, "ch03_two_weights"),
                   f"Cost over two weights on a {N_GRID} × {N_GRID} grid ({N_GRID ** 2:,} "
                   f"evaluations, {fmt_duration(t2)}), the other seven held fixed.")

    res.add_text(
        "Each further weight multiplies the work by a thousand. Our tiny network has "
        f"{net.n_params} weights; the table extrapolates the measured time per evaluation "
        f"({fmt_duration(per_eval)}) to searching 1 to {net.n_params} weights at "
        f"{N_VALUES:,} values each:",
    )
    rows = []
    for k in range(1, net.n_params + 1):
        seconds = per_eval * float(N_VALUES) ** k
        rows.append((str(k), f"{N_VALUES}^{k} = {float(N_VALUES) ** k:.0e}",
                     fmt_number(seconds), fmt_duration(seconds)))
    res.add_table(("weights searched", "evaluations", "seconds", "in words"), rows,
                  caption="Brute force, extrapolated from the measured time per evaluation.")
    years = res.add_number("years_for_all_weights",
                           per_eval * float(N_VALUES) ** net.n_params / YEAR,
                           f"brute force over all {net.n_params} weights", "years", show=True,
                           timing=True)
    res.add_text(
        f"Searching all {net.n_params} weights would take about {fmt_number(years, 2)} "
        f"years — {fmt_number(years / UNIVERSE_YEARS, 2)} times the age of the universe. "
        "This explosion of work with the number of dimensions is the curse of "
        "dimensionality. We need a search that uses the shape of J: which way is downhill. "
        "That is the gradient, next.",
    )
    return res
