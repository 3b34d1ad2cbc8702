"""Shared pieces of the benchmarks: machine description, BLAS threads, tables.

Every benchmark runs its peers in the same process, interleaved, and reports
medians and ratios; absolute times on a shared machine move with its load, the
ratios much less.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
from collections.abc import Sequence


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_description() -> str:
    """The BLAS libraries loaded so far, with their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    parts = [f"{i.get('internal_api')} {i.get('version')} (threads: {i.get('num_threads')})"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(dict.fromkeys(parts)) or "none loaded"


def machine_info(extra: Sequence[str] = ()) -> str:
    """A few lines saying where and with what the numbers were measured."""
    import numpy
    import scipy

    versions = [f"Python {platform.python_version()}", f"NumPy {numpy.__version__}",
                f"SciPy {scipy.__version__}"]
    for mod in ("sklearn", "torch"):
        if mod in sys.modules:
            versions.append(f"{'scikit-learn' if mod == 'sklearn' else mod} "
                            f"{sys.modules[mod].__version__}")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        f"- machine: {cpu_model()}, {usable} usable cores, load average {load}",
        f"- software: {', '.join(versions)}",
        f"- BLAS: {blas_description()}",
        *[f"- {e}" for e in extra],
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit BLAS to ``n`` threads inside the block (``None`` or 0: leave as is)."""
    if not n:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def add_common_arguments(ap) -> None:
    """``--threads`` (BLAS threads for every peer) and ``--check`` (missed target: exit 1)."""
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for every peer (default 1; 0 leaves the default)")
    ap.add_argument("--check", action="store_true",
                    help="exit with status 1 if a target is missed")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), sep, *(fmt(r) for r in cells[1:])])


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def fmt_time(seconds: float) -> str:
    """Seconds as ms or s with three significant digits."""
    if seconds != seconds or seconds == float("inf"):
        return "—"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"
