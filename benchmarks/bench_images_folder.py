"""Loading a folder of 10,000 28×28 PNGs: ``load_image_folder`` vs a plain Pillow loop.

The peer is the loop most people write (sorted class folders, sorted files,
``Image.open(path).convert("L")`` into a preallocated array). neurallab does more
per file (size check before decoding, format allow-list, empty/truncated files
reported, aspect-keeping resize when needed) and decodes in worker processes on
every usable core. Target: ratio at most 1.0.

    python benchmarks/bench_images_folder.py [--n 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_time, machine_info, markdown_table, median  # noqa: E402

import neurallab as nl  # noqa: E402


def make_folder(root: Path, n: int) -> None:
    """``n`` PNGs of real Fashion-MNIST images, one sub-folder per class."""
    try:
        data = nl.datasets.load_fashion_mnist(download=False)
        X, y, names = data.X_train, data.y_train, data.class_names
    except nl.errors.DatasetNotFoundError:
        data = nl.datasets.fashion_mnist_sample()
        X, y, names = data.X_train, data.y_train, data.class_names
    for name in names:
        (root / name.replace("/", "-")).mkdir()
    for i in range(n):
        j = i % len(X)
        Image.fromarray(X[j]).save(root / names[y[j]].replace("/", "-") / f"{i:06d}.png")


def plain_pillow_loop(root: Path):
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files = [(root / c / f, k) for k, c in enumerate(classes)
             for f in sorted(os.listdir(root / c))]
    images = np.empty((len(files), 28, 28), np.uint8)
    labels = np.empty(len(files), np.int64)
    for i, (path, k) in enumerate(files):
        with Image.open(path) as im:
            images[i] = np.asarray(im.convert("L"))
        labels[i] = k
    return images, labels, classes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root, args.n)
        runs = {
            "plain Pillow loop": lambda: plain_pillow_loop(root),
            "load_image_folder (all cores)": lambda: nl.datasets.load_image_folder(
                root, progress=False),
            "load_image_folder(workers=1)": lambda: nl.datasets.load_image_folder(
                root, workers=1, progress=False),
        }
        ref = plain_pillow_loop(root)
        got = nl.datasets.load_image_folder(root, progress=False)
        assert np.array_equal(ref[0], got.images) and np.array_equal(ref[1], got.labels)
        times = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    peer = median(times["plain Pillow loop"])
    rows = [[name, fmt_time(median(t)), fmt_time(min(t)), f"{median(t) / peer:.2f}",
             f"{args.n / median(t):,.0f}"] for name, t in times.items()]
    ratio = median(times["load_image_folder (all cores)"]) / peer
    print(f"## Loading a folder of {args.n:,} 28×28 PNGs\n")
    print(machine_info([f"{args.repeats} interleaved repeats, files in the system temp "
                        "folder (page cache warm)"]))
    print()
    print(markdown_table(["loader", "median", "best", "ratio to the plain loop",
                          "images/s"], rows))
    print(f"\nratio {ratio:.2f} (target <= 1.0): {'met' if ratio <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
