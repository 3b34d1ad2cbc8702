"""The tutorial, chapter by chapter: every step computed, explained and drawn.

``neurallab tutorial`` (or :func:`run_tutorial`) runs the chapters on the built-in
data and writes a report folder: ``index.html`` (one self-contained page: text,
tables, equations), ``figures/*.png`` beside it and ``numbers.json`` (every number
the chapters computed, by key). Nothing in the report is typed in by hand: each
number is computed by the library during the run, so the report is also a test of
the library.

Adding a chapter
----------------
Chapters are found by file name; no list needs editing. To add chapter 11:

1. create ``neurallab/tutorial/ch11_<topic>.py`` (two digits, then a name);
2. give it ``TITLE = "..."`` and a function ``run(ctx) -> ChapterResult``::

       from .core import ChapterResult, ChapterSkipped, Context

       TITLE = "Convolutions: one weight, many places"

       def run(ctx: Context) -> ChapterResult:
           res = ChapterResult(11, TITLE)
           X, y = ...                      # compute with the library
           acc = res.add_number("accuracy", acc, "test accuracy", show=True)
           res.add_text(f"The network gets {acc:.1%} of the test images right ...")
           fig, (ax,) = plots.new_figure()
           ...
           res.add_figure(ctx.save_figure(fig, "ch11_filters"), "Learnt filters ...")
           return res

3. optionally ``DEFAULT = False`` to leave it out of a plain ``neurallab tutorial``
   (it still runs with ``--chapters 11``), and raise :class:`ChapterSkipped` with a
   one-line reason when its data is missing — the report says so and goes on.

Keep a chapter fast (the whole tutorial should take well under a minute on two
cores), seed every random choice from ``ctx.seed`` (``ctx.rng()``), name figures
``chNN_<what>`` and numbers ``<name>`` (stored as ``"chN.<name>"``), and draw with
:mod:`neurallab.plots` (Agg only). ``ctx.shared`` passes results between chapters,
but each chapter must also run on its own.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import InputError
from ..io import atomic_write_bytes
from .core import ChapterResult, ChapterSkipped, Context

__all__ = [
    "DEFAULT_SEED", "TutorialRun", "available_chapters", "default_chapters", "load_chapter",
    "parse_chapters", "run_tutorial", "ChapterResult", "ChapterSkipped", "Context",
]

#: the seed of a plain ``neurallab tutorial`` (any seed works; this one shows
#: overfitting in chapter 7 clearly)
DEFAULT_SEED = 1

_CHAPTER_FILE = re.compile(r"ch(\d{2})_\w+$")


def available_chapters() -> dict[int, str]:
    """Chapter number → module name, for every ``chNN_*.py`` in this package."""
    found: dict[int, str] = {}
    for info in pkgutil.iter_modules(__path__):
        m = _CHAPTER_FILE.fullmatch(info.name)
        if m:
            n = int(m.group(1))
            if n in found:
                raise RuntimeError(f"two modules claim chapter {n}: {found[n]} and {info.name}")
            found[n] = f"{__name__}.{info.name}"
    return dict(sorted(found.items()))


def load_chapter(number: int) -> ModuleType:
    """Import chapter ``number``'s module."""
    chapters = available_chapters()
    if number not in chapters:
        raise InputError(f"there is no chapter {number}; available: "
                         f"{', '.join(map(str, chapters))}")
    return importlib.import_module(chapters[number])


def default_chapters() -> list[int]:
    """The chapters a plain ``neurallab tutorial`` runs (those without ``DEFAULT = False``)."""
    return [n for n in available_chapters() if getattr(load_chapter(n), "DEFAULT", True)]


def parse_chapters(spec: str | None) -> list[int]:
    """``"1-7"``, ``"2,5"``, ``"1-3,6"`` or ``"all"`` → sorted chapter numbers.

    ``None`` means :func:`default_chapters`. Unknown chapters are an error that lists
    the ones available.
    """
    available = available_chapters()
    if spec is None:
        return default_chapters()
    spec = spec.strip().lower()
    if spec == "all":
        return list(available)
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise InputError(f"cannot read chapters {spec!r}: {part!r} is not a number or a "
                             "range; write e.g. 1-7 or 2,5 or all")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo:
            raise InputError(f"chapter range {part!r} runs backwards; write {hi}-{lo}")
        chosen.update(range(lo, hi + 1))
    missing = sorted(chosen - set(available))
    if missing:
        raise InputError(
            f"no chapter {', '.join(map(str, missing))} in this version; available: "
            f"{', '.join(map(str, available))}"
        )
    return sorted(chosen)


@dataclass
class TutorialRun:
    """The outcome of :func:`run_tutorial`."""

    results: list[ChapterResult]
    report: Path
    numbers_file: Path
    seed: int
    seconds: float

    @property
    def numbers(self) -> dict[str, float]:
        return {k: n.value for r in self.results for k, n in r.numbers.items()}


def run_tutorial(out_dir, seed: int = DEFAULT_SEED, chapters: Iterable[int] | str | None = None,
                 on_chapter: Callable[[ChapterResult], None] | None = None,
                 full: bool = False) -> TutorialRun:
    """Run the chapters and write the report into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Created if needed; ``index.html``, ``numbers.json`` and ``figures/`` are
        (over)written, nothing else is touched.
    seed : int
        Seed of every random choice.
    chapters : iterable of int or str, optional
        Which chapters (``"1-7"``); default: :func:`default_chapters`.
    on_chapter : callable, optional
        Called with each :class:`ChapterResult` as soon as it is done (for progress).
    full : bool
        Chapters 8–9 on all of Fashion-MNIST instead of the shipped sample.

    Returns
    -------
    TutorialRun
    """
    from .report import write_report

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    numbers = parse_chapters(chapters) if chapters is None or isinstance(chapters, str) \
        else parse_chapters(",".join(map(str, chapters)))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; give a folder for the report")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the report folder {out_dir} ({exc.strerror or exc}); "
                         "give --out a folder you can write to") from None
    ctx = Context(out_dir, seed, full=bool(full))
    t0 = time.perf_counter()
    results = []
    for n in numbers:
        module = load_chapter(n)
        t = time.perf_counter()
        try:
            result = module.run(ctx)
        except ChapterSkipped as exc:
            result = ChapterResult(n, getattr(module, "TITLE", f"Chapter {n}"), skipped=str(exc))
        result.seconds = time.perf_counter() - t
        results.append(result)
        if on_chapter is not None:
            on_chapter(result)
    seconds = time.perf_counter() - t0
    report = write_report(out_dir, results, seed=seed, seconds=seconds)
    numbers_file = out_dir / "numbers.json"
    every = [n for r in results for n in r.numbers.values()]
    # the same seed gives the same "numbers"; measured times are kept apart
    payload = {"seed": seed,
               "numbers": {n.key: n.value for n in every if not n.timing},
               "timings": {n.key: n.value for n in every if n.timing}}
    atomic_write_bytes(numbers_file, json.dumps(payload, indent=1).encode())
    return TutorialRun(results, report, numbers_file, seed, seconds)
