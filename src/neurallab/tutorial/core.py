"""What a chapter receives (:class:`Context`) and what it hands back (:class:`ChapterResult`).

A chapter is a function ``run(ctx) -> ChapterResult``. It computes everything it
shows: every number in its text is the value of a variable at run time, every
table cell and every figure comes from the library. The result is an ordered list
of *blocks* — paragraphs, equations, tables, figures — plus the chapter's *numbers*
(named values, some marked "key" for the console), so the same result feeds the
HTML report, the console summary and ``numbers.json`` without any re-typing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import plots

__all__ = [
    "Context", "ChapterResult", "ChapterSkipped", "Number", "Paragraph", "Equation",
    "Table", "FigureRef", "Stopwatch", "fmt_number", "fmt_duration",
]


class ChapterSkipped(Exception):
    """Raised by a chapter that cannot run here (e.g. its data set is not installed).

    The message says why and how to make it run; the report shows it in place of
    the chapter and the other chapters go on.
    """


@dataclass
class Context:
    """What every chapter gets.

    Attributes
    ----------
    out_dir : Path
        The report folder; ``index.html`` goes here.
    seed : int
        Seeds every random choice (initial weights, shuffling): same seed, same report.
    figures_dir : Path
        Where figures go (``out_dir / "figures"``).
    shared : dict
        Results one chapter leaves for a later one (e.g. a trained network). A chapter
        must still run on its own when the entry is missing.
    full : bool
        Use the full data sets where a chapter has a small built-in version (chapters
        8–9: all of Fashion-MNIST instead of the shipped sample).
    """

    out_dir: Path
    seed: int = 1
    shared: dict[str, Any] = field(default_factory=dict)
    full: bool = False

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)

    @property
    def figures_dir(self) -> Path:
        return self.out_dir / "figures"

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A fresh generator from ``seed + offset`` (independent streams per use)."""
        return np.random.default_rng(self.seed + offset)

    def save_figure(self, fig, name: str) -> str:
        """Write ``fig`` as ``figures/<name>.png``; returns the path relative to the report."""
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        plots.save_figure(fig, self.figures_dir / f"{name}.png")
        return f"figures/{name}.png"


# ---------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Paragraph:
    """Plain text; ``*word*`` is not interpreted — the report escapes everything."""

    text: str


@dataclass(frozen=True)
class Equation:
    """A line of mathematics, shown in a monospaced block (Unicode, no LaTeX needed)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A small table; cells are strings already formatted by the chapter."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class FigureRef:
    """A figure file (relative to the report folder) and its caption."""

    path: str
    caption: str


@dataclass(frozen=True)
class Number:
    """A named value the chapter computed.

    ``key`` is a stable identifier (``"ch6.prediction_8_3"``) used by tests and
    ``numbers.json``; ``label`` and ``unit`` are for people; ``show`` marks the few
    numbers the console prints; ``timing`` marks a measured time (or a number computed
    from one), which differs from run to run: ``numbers.json`` keeps those apart, so
    its ``numbers`` are the same for the same seed.
    """

    key: str
    value: float
    label: str
    unit: str = ""
    show: bool = False
    timing: bool = False

    @property
    def text(self) -> str:
        return fmt_number(self.value) + (f" {self.unit}" if self.unit else "")


@dataclass
class ChapterResult:
    """What a chapter produced: its blocks in reading order and its numbers.

    Build it with the ``add_*`` methods, which return the value or path they were
    given, so text can be written around them. Numbers are keyed
    ``"ch<N>.<name>"``.
    """

    number: int
    title: str
    blocks: list = field(default_factory=list)
    numbers: dict[str, Number] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None

    def add_text(self, *paragraphs: str) -> None:
        """Append paragraphs of explanation (one string each)."""
        self.blocks.extend(Paragraph(" ".join(p.split())) for p in paragraphs)

    def add_equation(self, *lines: str) -> None:
        """Append lines of mathematics shown together."""
        self.blocks.append(Equation("\n".join(lines)))

    def add_table(self, header, rows, caption: str = "") -> None:
        """Append a table: ``header`` strings and rows of cells (formatted with ``str``)."""
        header = tuple(str(h) for h in header)
        rows = tuple(tuple(c if isinstance(c, str) else fmt_number(c) for c in r)
                     for r in rows)
        for r in rows:
            if len(r) != len(header):
                raise ValueError(f"table row {r} has {len(r)} cells for {len(header)} columns")
        self.blocks.append(Table(header, rows, caption))

    def add_figure(self, path: str, caption: str) -> str:
        """Append a figure saved with :meth:`Context.save_figure`."""
        self.blocks.append(FigureRef(path, caption))
        return path

    def add_number(self, name: str, value, label: str, unit: str = "",
                   show: bool = False, timing: bool = False) -> float:
        """Record a computed number (and return it as a float); ``timing`` for a measured
        time or anything computed from one (see :class:`Number`)."""
        key = f"ch{self.number}.{name}"
        if key in self.numbers:
            raise ValueError(f"number {key} recorded twice")
        value = float(value)
        self.numbers[key] = Number(key, value, label, unit, show, timing)
        return value

    # read-only views, handy for tests and for other front ends
    @property
    def paragraphs(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Paragraph)]

    @property
    def figures(self) -> list[str]:
        return [b.path for b in self.blocks if isinstance(b, FigureRef)]

    @property
    def key_numbers(self) -> list[Number]:
        return [n for n in self.numbers.values() if n.show]


def fmt_number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits; integers as integers; scientific when tiny or huge."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


_UNITS = (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60),
          ("seconds", 1), ("ms", 1e-3), ("µs", 1e-6))


def fmt_duration(seconds: float) -> str:
    """A duration in the largest unit that keeps the number ≥ 1: ``"3.2 hours"``."""
    for name, size in _UNITS:
        if seconds >= size or name == "µs":
            return f"{fmt_number(seconds / size, 3)} {name}"
    raise AssertionError("unreachable")  # pragma: no cover


class Stopwatch:
    """``with Stopwatch() as sw: ...``; then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
