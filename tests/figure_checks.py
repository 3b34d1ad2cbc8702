"""Checks on rendered figures: is any text cut off at the edge, or run into another?"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text


def _draw(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


def _undrawn_tick_labels(fig: Figure) -> set[int]:
    """Tick labels of ticks outside their axis's range: matplotlib keeps, but does not
    draw, them (a colour bar's "60" above a maximum of 51)."""
    out = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * abs(hi - lo) <= tick.get_loc() <= hi + 1e-9 * abs(hi - lo):
                    out.update({id(tick.label1), id(tick.label2)})
    return out


def texts_cut_off(fig: Figure) -> list[str]:
    """Render ``fig``; the texts whose box leaves the figure (cut off in the PNG)."""
    _draw(fig)
    width, height = fig.bbox.width, fig.bbox.height
    hidden = _undrawn_tick_labels(fig)
    out = []
    for t in fig.findobj(Text):
        if id(t) in hidden:
            continue
        if t.get_text() and t.get_visible():
            b = t.get_window_extent()
            if b.width <= 1 and b.height <= 1:
                continue  # not placed, so not drawn (e.g. a tick beyond the axis range)
            if b.x0 < -0.5 or b.x1 > width + 0.5 or b.y0 < -0.5 or b.y1 > height + 0.5:
                out.append(t.get_text())
    return out


def overlapping_titles(fig: Figure) -> list[tuple[str, str]]:
    """Render ``fig``; the pairs of axes titles whose boxes overlap."""
    _draw(fig)
    boxes = [(ax.title.get_text(), ax.title.get_window_extent()) for ax in fig.axes
             if ax.title.get_text()]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.overlaps(bb)]
