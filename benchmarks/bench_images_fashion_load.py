"""Fashion-MNIST load time: ``nl.datasets.load_fashion_mnist`` vs a bare gzip read.

The peer is the least a loader can do: read each of the four ``.gz`` files,
decompress them, ``np.frombuffer`` the bytes past the header (two spellings:
``gzip.open(...).read()`` and ``gzip.decompress(f.read())``; the ratio is taken
against the faster). neurallab also validates each IDX header, checks the shapes
and the label range, and returns writeable arrays. Target: ratio at most 1.2.

    python benchmarks/bench_images_fashion_load.py [--repeats 7] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_time, machine_info, markdown_table, median  # noqa: E402

import neurallab as nl  # noqa: E402

FILES = [("train-images-idx3-ubyte.gz", 16, (60000, 28, 28)),
         ("train-labels-idx1-ubyte.gz", 8, (60000,)),
         ("t10k-images-idx3-ubyte.gz", 16, (10000, 28, 28)),
         ("t10k-labels-idx1-ubyte.gz", 8, (10000,))]


def bare_gzip_open(folder: Path):
    out = []
    for name, offset, shape in FILES:
        with gzip.open(folder / name, "rb") as f:
            out.append(np.frombuffer(f.read(), np.uint8, offset=offset).reshape(shape))
    return out


def bare_gzip_decompress(folder: Path):
    out = []
    for name, offset, shape in FILES:
        data = gzip.decompress((folder / name).read_bytes())
        out.append(np.frombuffer(data, np.uint8, offset=offset).reshape(shape))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    if not (args.data_dir / FILES[0][0]).is_file():
        print(f"skipped: no Fashion-MNIST .gz files in {args.data_dir} "
              "(apt-get install dataset-fashion-mnist)")
        return 0
    runs = {
        "bare: gzip.open().read() + np.frombuffer": lambda: bare_gzip_open(args.data_dir),
        "bare: gzip.decompress() + np.frombuffer": lambda: bare_gzip_decompress(args.data_dir),
        "neurallab.datasets.load_fashion_mnist": lambda: nl.datasets.load_fashion_mnist(
            args.data_dir, download=False),
    }
    ref = nl.datasets.load_fashion_mnist(args.data_dir, download=False)
    bare = bare_gzip_decompress(args.data_dir)
    assert np.array_equal(ref.X_train, bare[0]) and np.array_equal(ref.y_test, bare[3])
    times = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved, so load changes hit every peer alike
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    peer = min(median(times[k]) for k in list(runs)[:2])
    rows = [[name, fmt_time(median(t)), fmt_time(min(t)), f"{median(t) / peer:.2f}"]
            for name, t in times.items()]
    ratio = median(times["neurallab.datasets.load_fashion_mnist"]) / peer
    print("## Fashion-MNIST load (4 files, 70,000 images)\n")
    print(machine_info([f"{args.repeats} interleaved repeats; data from {args.data_dir}"]))
    print()
    print(markdown_table(["reader", "median", "best", "ratio to the faster bare read"], rows))
    print(f"\nratio {ratio:.2f} (target <= 1.2): {'met' if ratio <= 1.2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
