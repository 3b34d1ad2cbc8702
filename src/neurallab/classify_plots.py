"""Figures of chapter 9: confusion matrix, misclassified images, learning curve.

Thin layers over :mod:`neurallab.plots` (which draws, off-screen, with Agg): they
know what a :class:`~neurallab.classify.ClassificationReport` and a
:class:`~neurallab.classify.LearningCurve` hold and how to caption them.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from . import plots
from .classify import ClassificationReport, LearningCurve
from .errors import InputError

__all__ = ["confusion_figure", "misclassified_figure", "learning_curve_figure"]


def confusion_figure(report: ClassificationReport, *, normalize: bool = False,
                     title: str | None = None) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells.

    With ``normalize`` each row is divided by its total: the diagonal then reads as
    each class's recall.
    """
    k = len(report.class_names)
    size = max(5.0, 0.55 * k + 2.5)
    fig, (ax,) = plots.new_figure(width=size + 0.8, height=size)
    if title is None:
        title = (f"confusion matrix — accuracy {report.accuracy:.2%} on "
                 f"{report.n:,} images")
    plots.confusion_matrix(ax, report.confusion, report.class_names, title=title,
                           normalize=normalize)
    return fig


def misclassified_figure(images, report: ClassificationReport, *, n: int = 24,
                         ncols: int = 8, title: str | None = None) -> Figure:
    """A grid of the ``n`` most confident mistakes, captioned "true" over "→ predicted (p)".

    Parameters
    ----------
    images : array, shape (n_images, height, width[, 3]) or (n_images, height·width)
        The evaluated images, in the report's order. Flat rows are shown as squares.
    report : ClassificationReport
    n : int
        At most this many images (fewer if there are fewer mistakes).
    """
    images = np.asarray(images)
    if images.shape[0] != report.y_true.size:
        raise InputError(f"got {images.shape[0]} images for a report on "
                         f"{report.y_true.size}; pass the images that were evaluated")
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise InputError(f"flat images of {images.shape[1]} pixels are not square; pass "
                             "them as (n, height, width)")
        images = images.reshape(-1, side, side)
    wrong = report.misclassified()[:n]
    names = report.class_names
    if wrong.size == 0:
        fig, (ax,) = plots.new_figure(width=5, height=1.2)
        ax.axis("off")
        ax.text(0.5, 0.5, f"no misclassified images among {report.n:,}", ha="center",
                va="center")
        return fig
    # true and predicted class on lines of their own: two long names side by side
    # ("Ankle boot → Sneaker") are wider than an image and run into the next caption
    labels = [f"{names[report.y_true[i]]}\n→ {names[report.y_pred[i]]} "
              f"({report.proba[i, report.y_pred[i]]:.1%})" for i in wrong]
    if title is None:
        title = (f"the {wrong.size} most confident mistakes "
                 f"(of {int(report.n - np.trace(report.confusion)):,}): true → predicted")
    return plots.image_grid(images[wrong], labels, ncols=ncols, title=title,
                            label_colors=["firebrick"] * wrong.size)


def learning_curve_figure(curve: LearningCurve, *, title: str | None = None) -> Figure:
    """Test accuracy against the number of training images, baseline and network."""
    fig, (ax,) = plots.new_figure(width=6.4, height=4.2)
    hidden = "-".join(str(h) for h in curve.network.get("hidden", []))
    base_line, = ax.plot(curve.sizes, curve.baseline_accuracy, "o-",
                         label="softmax regression (linear)")
    net_line, = ax.plot(curve.sizes, curve.network_accuracy, "s-",
                        label=f"neural network ({hidden} ReLU)" if hidden else "neural network")
    for x, b, n in zip(curve.sizes, curve.baseline_accuracy, curve.network_accuracy,
                       strict=True):
        # each value on the side away from the other line, in its line's colour; a
        # rising curve leaves the upper left and the lower right of a point free, and
        # a pale backing keeps a label readable where a line still crosses it
        up = n >= b
        for y, line, above in ((b, base_line, not up), (n, net_line, up)):
            ax.annotate(f"{y:.1%}", (x, y), textcoords="offset points",
                        xytext=(-4, 6) if above else (4, -13),
                        ha="right" if above else "left", fontsize="x-small",
                        color=line.get_color(),
                        bbox=dict(boxstyle="square,pad=0.1", facecolor="white",
                                  edgecolor="none", alpha=0.8))
    ax.set_xscale("log")
    ax.margins(x=0.1, y=0.12)   # room for the value labels beside the points
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel(f"test accuracy ({curve.n_test:,} images)")
    ax.set_title(title or "learning curve")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return fig
