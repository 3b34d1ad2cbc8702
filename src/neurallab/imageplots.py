"""Figures for image data sets: samples per class, class balance, duplicate pairs.

Built on :mod:`neurallab.plots` (plain ``Figure`` objects, Agg, atomic PNG writes).
Image grids are drawn as *one* mosaic array in one axes, not one axes per image:
a 10 × 8 grid renders in a fraction of the time and the pixels are shown at their
true grey level (0 = black, 255 = white, no per-image stretching), which is what
you want to judge a data set by.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextPath

from .datasets.prepare import BalanceReport
from .errors import InputError
from .plots import new_figure

__all__ = ["mosaic", "plot_class_samples", "plot_class_balance", "plot_duplicate_pairs"]

_GAP = 2  # pixels between tiles


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """Images to uint8 for display: uint8 as is, floats in [0, 1] or [−0.5, 0.5] scaled."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32)
    lo = -0.5 if x.size and x.min() < 0 else 0.0
    hi = 255.0 if x.size and x.max() > 1.5 else 1.0 + lo
    return np.clip(np.rint((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


def mosaic(tiles: np.ndarray, fill: int = 255) -> np.ndarray:
    """Tiles (rows, cols, h, w[, 3]) → one image with ``_GAP``-pixel separators."""
    r, c, h, w = tiles.shape[:4]
    extra = tiles.shape[4:]
    out = np.full((r * (h + _GAP) - _GAP, c * (w + _GAP) - _GAP, *extra), fill, np.uint8)
    for i in range(r):
        for j in range(c):
            out[i * (h + _GAP):i * (h + _GAP) + h, j * (w + _GAP):j * (w + _GAP) + w] = \
                tiles[i, j]
    return out


def plot_class_samples(images, labels, class_names: Sequence[str], *, per_class: int = 8,
                       seed: int | None = 0, title: str | None = None) -> Figure:
    """A grid with one row per class and ``per_class`` random images of it.

    Parameters
    ----------
    images : ndarray (n, h, w[, 3]), uint8 (or normalised floats)
    labels : ndarray (n,)
    class_names : sequence of str
    per_class : int
        Columns; a class with fewer images leaves its remaining cells blank.
    seed : int, optional
        Which images are drawn.
    """
    X = _as_uint8(images)
    y = np.asarray(labels)
    if X.ndim not in (3, 4) or len(X) != len(y) or len(X) == 0:
        raise InputError(f"images (n, h, w[, 3]) and labels (n,) must match and be non-empty, "
                         f"got {X.shape} and {y.shape}")
    k = len(class_names)
    rng = np.random.default_rng(seed)
    tiles = np.full((k, per_class, *X.shape[1:]), 255, np.uint8)
    for c in range(k):
        idx = np.flatnonzero(y == c)
        pick = np.sort(rng.choice(idx, min(per_class, len(idx)), replace=False))
        tiles[c, :len(pick)] = X[pick]
    h, w = X.shape[1:3]
    img = mosaic(tiles)
    names = [f"{n} ({int((y == c).sum())})" for c, n in enumerate(class_names)]
    title = title or f"{per_class} random images per class (class size in brackets)"
    # room for the longest row label as drawn (about 0.085 inch per character), and at
    # least the title's width
    name_width = max(len(n) for n in names) * 0.085 + 0.3
    width = max(name_width + 0.55 * per_class * max(w, 16) / 28, 0.085 * len(title) + 0.4)
    fig, (ax,) = new_figure(width=width, height=0.5 + 0.55 * k * max(h, 16) / 28)
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([c * (h + _GAP) + h / 2 for c in range(k)], names)
    ax.set_anchor("E")   # any width the square pixels leave over goes to the labels' side
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    fig.suptitle(title, fontsize="medium")   # centred on the figure, not the narrow axes
    return fig


def plot_class_balance(report: BalanceReport, *, title: str | None = None) -> Figure:
    """Horizontal bars of images per class, stacked by split, flagged classes in red.

    A dashed line marks the mean per class and a shaded band the tolerance
    around it, so an out-of-balance class is visible at a glance.
    """
    k = len(report.class_names)
    fig, (ax,) = new_figure(width=7.5, height=1.3 + 0.32 * k)
    ypos = np.arange(k)[::-1]
    left = np.zeros(k)
    for j, col in enumerate(report.columns):
        vals = report.counts[:, j].astype(float)
        ax.barh(ypos, vals, left=left, label=col, height=0.7)
        left += vals
    totals = report.totals.astype(float)
    for yv, t in zip(ypos, totals, strict=True):
        ax.text(t, yv, f" {int(t)}", va="center", fontsize="x-small")
    mean = totals.mean() if k else 0.0
    ax.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.0f}")
    ax.axvspan(mean * (1 - report.tolerance), mean * (1 + report.tolerance), color="gray",
               alpha=0.15, zorder=0, label=f"mean ±{100 * report.tolerance:.0f}%")
    ax.set_yticks(ypos, report.class_names)
    flagged = set(report.flagged)
    for c, lab in enumerate(ax.get_yticklabels()):  # in class order, as set above
        if c in flagged:
            lab.set_color("red")
    ax.set_xlabel("images")
    ax.set_xlim(0, max(totals.max() if k else 1, 1) * 1.15)
    verdict = "balanced" if report.balanced else f"{len(flagged)} class(es) out of balance"
    ax.set_title(title or f"images per class: {verdict} (largest/smallest "
                 f"{report.ratio:.2f})", fontsize="medium")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_duplicate_pairs(images_a, images_b, pairs, *, similarity=None,
                         names: tuple[str, str] = ("train", "test"), max_pairs: int = 16,
                         ncols: int = 4, title: str | None = None) -> Figure:
    """Duplicate pairs side by side: image ``i`` of ``a`` next to image ``j`` of ``b``.

    Parameters
    ----------
    images_a, images_b : ndarray (n, h, w[, 3])
    pairs : ndarray (m, 2)
        ``(i, j)`` rows, e.g. ``LeakReport.near_across[("train", "test")]``.
    similarity : ndarray (m,), optional
        Shown under each pair; pairs are drawn most similar first.
    names : (str, str)
        The two splits, for the captions.
    """
    A, B = _as_uint8(images_a), _as_uint8(images_b)
    P = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(P) == 0:
        fig, (ax,) = new_figure(width=4, height=1.2)
        ax.axis("off")
        ax.text(0.5, 0.5, "no duplicate pairs", ha="center", va="center")
        return fig
    sims = None if similarity is None else np.asarray(similarity, float)
    order = np.argsort(-sims, kind="stable") if sims is not None else np.arange(len(P))
    order = order[:max_pairs]
    n = len(order)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    if title is None:
        count = f"{n} of {len(P)} duplicate pairs" if n < len(P) else \
            f"{n} duplicate pair{'s' if n > 1 else ''}"
        title = f"{count} ({names[0]} left, {names[1]} right)"
    # one or two pairs are narrower than the title: widen the figure to hold it
    size = FontProperties(size="medium").get_size_in_points()
    title_inches = max(TextPath((0, 0), line, size=size).get_extents().width
                       for line in title.splitlines() or [""]) / 72
    fig = Figure(figsize=(max(2.3 * ncols, title_inches + 0.4), 1.55 * nrows + 0.5),
                 layout="constrained")
    for t, p in enumerate(order):
        i, j = P[p]
        ax = fig.add_subplot(nrows, ncols, t + 1)
        tile = mosaic(np.stack([A[i], B[j]])[None], fill=128)
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        cap = f"{names[0]} {i} | {names[1]} {j}"
        if sims is not None:
            cap += f"\nsimilarity {sims[p]:.4f}"
        ax.set_title(cap, fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    return fig
