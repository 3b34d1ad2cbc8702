"""Checks on rendered figures: is any text cut off at the edge, or run into another?"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text


def _draw(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


def texts_cut_off(fig: Figure) -> list[str]:
    """Render ``fig``; the texts whose box leaves the figure (cut off in the PNG)."""
    _draw(fig)
    width, height = fig.bbox.width, fig.bbox.height
    out = []
    for t in fig.findobj(Text):
        if t.get_text() and t.get_visible():
            b = t.get_window_extent()
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
