"""Reading a CSV table: ``neurallab.datasets.csv.read_csv`` vs ``np.loadtxt`` and a csv-module loop.

Writes two tables into a temporary folder — numbers only (default 200,000 rows ×
10 columns of ``repr``-written standard normal floats, about 39 MB) and the same
with a text column of class names — and reads each, in the same run, with:

- neurallab: ``read_csv(path)`` then ``.numeric(features)`` (and ``.column("label")``),
  as ``neurallab train`` reads a file;
- ``np.loadtxt(path, delimiter=",", skiprows=1)`` (for the labelled table, a second
  call with ``usecols`` and ``dtype=str`` for the labels): NumPy's C parser, no
  per-cell checks;
- a plain ``csv.reader`` loop with ``float()`` per cell into a list of lists, then
  ``np.array`` (the labels as a list of str): what one writes without NumPy's parser.

Time: median and best of ``--repeats`` interleaved runs, the order rotating (no
memory tracing).
Memory: the ``tracemalloc`` peak of one read in this process, and the rise of the
peak resident set over one read in a fresh process per reader, after its imports
(Linux: ``VmHWM`` in ``/proc/self/status``, reset through ``/proc/self/clear_refs``
just before the read). Ratios are to ``np.loadtxt``. Targets (numeric table): time ≤ 1.0×
and memory ≤ 1.5× ``np.loadtxt``; ``--check`` turns a missed one into exit status 1.

    python benchmarks/bench_csv.py [--rows 200000] [--cols 10] [--repeats 5] [--check]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_time, machine_info, markdown_table, median  # noqa: E402

from neurallab.datasets.csv import read_csv  # noqa: E402

LABELS = ("setosa", "versicolor", "virginica")


def neurallab_reader(path: Path, labelled: bool):
    table = read_csv(path)
    if not labelled:
        return table.numeric()
    return table.numeric([c for c in table.columns if c != "label"]), table.column("label")


def loadtxt_reader(path: Path, labelled: bool):
    if not labelled:
        return np.loadtxt(path, delimiter=",", skiprows=1)
    with open(path, encoding="utf-8") as f:
        k = f.readline().count(",")
    X = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(k))
    return X, np.loadtxt(path, delimiter=",", skiprows=1, usecols=k, dtype=str).tolist()


def csv_reader(path: Path, labelled: bool):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        if not labelled:
            return np.array([[float(c) for c in row] for row in reader])
        rows, labels = [], []
        for row in reader:
            rows.append([float(c) for c in row[:-1]])
            labels.append(row[-1])
        return np.array(rows), labels


READERS = {"neurallab read_csv": neurallab_reader, "np.loadtxt": loadtxt_reader,
           "csv + float()": csv_reader}
PEER = "np.loadtxt"


def write_tables(folder: Path, rows: int, cols: int) -> tuple[Path, Path, np.ndarray]:
    X = np.random.default_rng(0).standard_normal((rows, cols))
    header = ",".join(f"x{j}" for j in range(cols))
    numeric, labelled = folder / "numeric.csv", folder / "labelled.csv"
    lines = [",".join(map(repr, r)) for r in X.tolist()]
    numeric.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    labelled.write_text(header + ",label\n" + "\n".join(
        f"{line},{LABELS[i % 3]}" for i, line in enumerate(lines)) + "\n", encoding="utf-8")
    return numeric, labelled, X


def tracemalloc_peak(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rss_rise(reader: str, path: Path, labelled: bool) -> int:
    """Bytes the peak resident set grows by over one read, in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path),
                          str(int(labelled))], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["rise_kb"] * 1024


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def child(reader: str, path: str, labelled: str) -> None:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                         # the peak resident set starts again from here
    before = _status_kb("VmRSS")
    READERS[reader](Path(path), bool(int(labelled)))
    print(json.dumps({"rise_kb": _status_kb("VmHWM") - before}))


def measure(path: Path, labelled: bool, repeats: int, expect: np.ndarray) -> dict:
    for name, fn in READERS.items():             # same numbers (and labels) from each
        got = fn(path, labelled)
        X = got[0] if labelled else got
        assert np.array_equal(X, expect), name
        if labelled:
            assert got[1] == [LABELS[i % 3] for i in range(len(expect))], name
    times = {name: [] for name in READERS}
    order = list(READERS.items())
    for r in range(repeats):            # each reader first, second, third in turn
        for name, fn in order[r % len(order):] + order[:r % len(order)]:
            gc.collect()
            t0 = time.perf_counter()
            fn(path, labelled)
            times[name].append(time.perf_counter() - t0)
    return {name: {"median": median(times[name]), "best": min(times[name]),
                   "peak": tracemalloc_peak(lambda fn=fn: fn(path, labelled)),
                   "rss": rss_rise(name, path, labelled)}
            for name, fn in READERS.items()}


def report(title: str, path: Path, result_bytes: int, res: dict) -> tuple[float, float, float]:
    peer = res[PEER]
    mb = 1e6
    rows = [[name, fmt_time(r["median"]), fmt_time(r["best"]),
             f"{r['median'] / peer['median']:.2f}",
             f"{r['peak'] / mb:.1f}", f"{r['peak'] / peer['peak']:.2f}",
             f"{r['peak'] / path.stat().st_size:.2f}",
             f"{r['rss'] / mb:.1f}", f"{r['rss'] / max(peer['rss'], 1):.2f}"]
            for name, r in res.items()]
    print(f"### {title}: {path.stat().st_size / mb:.1f} MB file, float64 result "
          f"{result_bytes / mb:.1f} MB\n")
    print(markdown_table(["reader", "median", "best", "time ratio", "tracemalloc peak MB",
                          "ratio", "peak / file", "peak RSS rise MB", "ratio"], rows))
    print()
    ours = res["neurallab read_csv"]
    return (ours["median"] / peer["median"], ours["peak"] / peer["peak"],
            ours["rss"] / max(peer["rss"], 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--check", action="store_true",
                    help="exit with status 1 if a target is missed")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        numeric, labelled, X = write_tables(Path(tmp), args.rows, args.cols)
        print(f"## Reading a CSV table ({args.rows:,} rows × {args.cols} numeric columns)\n")
        print(machine_info([f"{args.repeats} interleaved repeats; memory from one read "
                            "each (tracemalloc here, VmHWM in a fresh process)"]))
        print()
        t, m, r = report("numbers only", numeric, X.nbytes,
                         measure(numeric, False, args.repeats, X))
        report("numbers and a text column (labels)", labelled, X.nbytes,
               measure(labelled, True, args.repeats, X))
    ok_time, ok_mem = t <= 1.0, m <= 1.5 and r <= 1.5
    print(f"numbers only, neurallab vs np.loadtxt: time {t:.3f}x (target <= 1.0): "
          f"{'met' if ok_time else 'NOT met'}; memory {m:.3f}x tracemalloc, {r:.3f}x RSS "
          f"(target <= 1.5): {'met' if ok_mem else 'NOT met'}")
    return 1 if args.check and not (ok_time and ok_mem) else 0


if __name__ == "__main__":
    sys.exit(main())
