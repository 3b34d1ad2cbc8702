"""Figures with matplotlib, drawn off-screen (Agg) and written atomically as PNG.

Why not ``matplotlib.pyplot``: pyplot keeps global state (a current figure, a
backend chosen at import time, figures that live until closed). Everything here
builds a plain :class:`matplotlib.figure.Figure`, which renders with the Agg
backend when saved, needs no display and is garbage-collected like any object —
so the tutorial, the command line and the web app can draw figures in any
process, thread or headless machine.

Helpers come in two layers:

* ``new_figure`` / ``save_figure``: a figure with a sensible size and layout, and
  writing it (temporary file + rename, so a report never holds half a PNG);
* drawing helpers that take an ``Axes`` and label it: ``plot_curves`` (cost per
  iteration), ``plot_bars`` (grouped bars), ``plot_contour`` and ``plot_surface``
  (a function of two inputs), ``image_grid`` and ``confusion_matrix`` (images and
  classifiers).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .io import atomic_write_bytes

if TYPE_CHECKING:  # matplotlib loads in ~0.25 s: only when a figure is drawn
    from matplotlib.figure import Figure

__all__ = [
    "new_figure",
    "save_figure",
    "plot_curves",
    "plot_bars",
    "plot_contour",
    "plot_surface",
    "nice_levels",
    "image_grid",
    "confusion_matrix",
]

#: resolution of saved figures; 110 dpi keeps a 6.4-inch figure sharp and small
DPI = 110


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None,
               height: float | None = None, projection: str | Sequence[str | None] | None = None
               ) -> tuple[Figure, list]:
    """A figure with ``nrows × ncols`` axes in constrained layout.

    Parameters
    ----------
    ncols, nrows : int
        Grid of axes.
    width, height : float, optional
        Size in inches (default 5.2 per column, 3.8 per row).
    projection : str or sequence, optional
        ``"3d"`` for surface plots; one entry per axes to mix 2-D and 3-D.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : list of Axes, row by row
    """
    n = ncols * nrows
    if isinstance(projection, str) or projection is None:
        projection = [projection] * n
    if len(projection) != n:
        raise InputError(f"projection needs {n} entries (one per axes), got {len(projection)}")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width or 5.2 * ncols, height or 3.8 * nrows), layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1, projection=p)
            for i, p in enumerate(projection)]
    return fig, axes


def save_figure(fig: Figure, path, dpi: int = DPI) -> Path:
    """Render ``fig`` as PNG to ``path`` atomically; returns the path."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _label(ax, title: str | None, xlabel: str | None, ylabel: str | None) -> None:
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)


def plot_curves(ax, curves: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
                *, title: str | None = None, xlabel: str = "iteration", ylabel: str = "cost J",
                logy: bool = False, styles: Mapping[str, dict] | None = None) -> None:
    """One line per entry of ``curves`` (label → ``y`` or ``(x, y)``), with a legend.

    With ``logy`` the y axis is logarithmic, which is how cost curves should be
    read: a straight line is a constant rate of improvement, and values from 1e-1
    to 1e-10 stay visible at once. Non-positive values cannot be drawn on a log
    scale and are masked.
    """
    styles = styles or {}
    for label, data in curves.items():
        if isinstance(data, tuple):
            x, y = np.asarray(data[0], float), np.asarray(data[1], float)
        else:
            y = np.asarray(data, float)
            x = np.arange(y.size)
        if logy:
            y = np.where(y > 0, y, np.nan)
        ax.plot(x, y, label=label, **styles.get(label, {}))
    if logy:
        ax.set_yscale("log")
    _label(ax, title, xlabel, ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if len(curves) > 1 or any(curves):
        ax.legend(fontsize="small")


def plot_bars(ax, groups: Sequence[str], series: Mapping[str, Sequence[float]], *,
              title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
              value_fmt: str | None = "{:.3g}", logy: bool = False) -> None:
    """Grouped bars: one group per entry of ``groups``, one bar per series.

    ``value_fmt`` writes each bar's value above it (``None``: no labels), so the
    figure can be read without a ruler. A NaN value leaves its slot empty.
    """
    k = len(series)
    width = 0.8 / max(k, 1)
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, float)
        if values.shape != (len(groups),):
            raise InputError(f"series {label!r} has {values.size} values for "
                             f"{len(groups)} groups")
        bars = ax.bar(x + (i - (k - 1) / 2) * width, values, width, label=label)
        if value_fmt:
            ax.bar_label(bars, labels=[value_fmt.format(v) if np.isfinite(v) else ""
                                       for v in values],
                         fontsize="x-small", padding=2)
    ax.set_xticks(x, list(groups))
    if logy:
        ax.set_yscale("log")
    _label(ax, title, xlabel, ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    # headroom above the tallest bar, so labels and the legend stay clear of the bars
    if logy:
        ax.margins(y=0.25)
    else:
        top = max((np.nanmax(np.asarray(v, float)) for v in series.values()), default=1.0)
        ax.set_ylim(top=top * 1.3 if top > 0 else None)
    if k > 1:
        ax.legend(fontsize="small", loc="upper left", ncols=k)


def plot_contour(ax, x: np.ndarray, y: np.ndarray, Z: np.ndarray, *, title: str | None = None,
                 xlabel: str | None = None, ylabel: str | None = None,
                 colorbar_label: str | None = None, levels: int | Sequence[float] = 12,
                 fmt: str = "%.0f", cmap: str = "viridis", log: bool = False) -> None:
    """Filled contours of ``Z`` (shape ``(len(y), len(x))``) with labelled lines.

    The labelled lines let a reader find a value without matching colours. With
    ``log`` (positive ``Z`` only) the levels are spaced geometrically, so a valley
    near zero is resolved as finely as the slopes around it — how cost surfaces
    should be drawn.
    """
    from matplotlib.colors import LogNorm

    x, y, Z = np.asarray(x), np.asarray(y), np.asarray(Z)
    if Z.shape != (y.size, x.size):
        raise InputError(f"Z must have shape (len(y), len(x)) = ({y.size}, {x.size}), "
                         f"got {Z.shape}")
    norm = None
    if log:
        if not (Z > 0).all():
            raise InputError("log=True needs every value of Z to be positive")
        if isinstance(levels, int):
            levels = np.geomspace(Z.min(), Z.max(), levels + 1)
        norm = LogNorm(vmin=Z.min(), vmax=Z.max())
    filled = ax.contourf(x, y, Z, levels=levels, cmap=cmap, norm=norm)
    lines = ax.contour(x, y, Z, levels=filled.levels, colors="k", linewidths=0.5, alpha=0.6)
    ax.clabel(lines, inline=True, fontsize="x-small", fmt=fmt)
    cb = ax.figure.colorbar(filled, ax=ax)
    if log:  # label every other level with the same format as the lines
        ticks = filled.levels[::2]
        cb.set_ticks(ticks, labels=[fmt % t for t in ticks])
        cb.minorticks_off()
    if colorbar_label:
        cb.set_label(colorbar_label)
    _label(ax, title, xlabel, ylabel)


def nice_levels(lo: float, hi: float, target: int = 12) -> np.ndarray:
    """Contour levels at round numbers (steps of 1, 2, 2.5 or 5 × 10ᵏ) covering [lo, hi]."""
    if not hi > lo:
        return np.array([lo - 0.5, lo + 0.5])
    raw = (hi - lo) / target
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10)
    return np.arange(np.floor(lo / step) * step, hi + step, step)


def plot_surface(ax, x: np.ndarray, y: np.ndarray, Z: np.ndarray, *, title: str | None = None,
                 xlabel: str | None = None, ylabel: str | None = None,
                 zlabel: str | None = None, cmap: str = "viridis",
                 elev: float = 28, azim: float = -125) -> None:
    """A 3-D surface of ``Z`` (shape ``(len(y), len(x))``) on a 3-D ``ax``."""
    x, y, Z = np.asarray(x), np.asarray(y), np.asarray(Z)
    if Z.shape != (y.size, x.size):
        raise InputError(f"Z must have shape (len(y), len(x)) = ({y.size}, {x.size}), "
                         f"got {Z.shape}")
    if getattr(ax, "name", "") != "3d":
        raise InputError("plot_surface needs a 3-D axes: new_figure(projection='3d')")
    XX, YY = np.meshgrid(x, y)
    ax.plot_surface(XX, YY, Z, cmap=cmap, linewidth=0, antialiased=True, alpha=0.95)
    ax.view_init(elev=elev, azim=azim)
    _label(ax, title, xlabel, ylabel)
    if zlabel:
        ax.set_zlabel(zlabel)


def image_grid(images: np.ndarray, labels: Sequence[str] | None = None, *, ncols: int = 8,
               title: str | None = None, cmap: str = "gray",
               label_colors: Sequence[str] | None = None) -> Figure:
    """A grid of grayscale images ``(n, h, w)`` (or RGB ``(n, h, w, 3)``) with captions.

    Each image is shown with its own range (``imshow`` normalises), since the point
    is to recognise shapes; ``label_colors`` can mark, say, wrong predictions red.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise InputError(f"images must have shape (n, height, width[, 3]) with n >= 1, "
                         f"got {images.shape}")
    if labels is not None and len(labels) != images.shape[0]:
        raise InputError(f"got {len(labels)} labels for {images.shape[0]} images")
    n = images.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    # each column as wide as its longest caption line needs (about 0.07 inch per
    # character at this size), each row as tall as the most caption lines
    lines = [str(t).split("\n") for t in (labels if labels is not None else [])]
    widest = max((len(line) for ls in lines for line in ls), default=0)
    col_w = max(1.3, 0.072 * widest + 0.15)
    row_h = 1.15 + 0.17 * max((len(ls) for ls in lines), default=1)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(col_w * ncols, row_h * nrows + (0.4 if title else 0)),
                 layout="constrained")
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(images[i], cmap=None if images.ndim == 4 else cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None:
            color = label_colors[i] if label_colors is not None else "black"
            ax.set_title(str(labels[i]), fontsize="small", color=color)
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(ax, cm: np.ndarray, class_names: Sequence[str], *,
                     title: str | None = "confusion matrix", normalize: bool = False) -> None:
    """Draw a confusion matrix (rows: true class, columns: predicted) with counts.

    With ``normalize`` each row is divided by its total, so the diagonal reads as
    per-class recall.
    """
    cm = np.asarray(cm, float)
    k = len(class_names)
    if cm.shape != (k, k):
        raise InputError(f"cm must have shape ({k}, {k}) for {k} classes, got {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    im = ax.imshow(shown, cmap="Blues")
    ax.figure.colorbar(im, ax=ax, shrink=0.8)   # constrained layout leaves room for its ticks
    ticks = np.arange(k)
    ax.set_xticks(ticks, list(class_names), rotation=45, ha="right")
    ax.set_yticks(ticks, list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="white" if shown[i, j] > threshold else "black")
