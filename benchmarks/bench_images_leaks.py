"""The leak report of Fashion-MNIST, and what the near-duplicate search catches.

1. Duplicates in Fashion-MNIST itself: exact copies within the training and test
   sets and between them (content hash, then byte comparison), and near copies of
   test images in the training set at two thresholds.
2. Detection rates: ``--per-change`` test images are changed in each of several
   ways (brightness, contrast, noise, JPEG, shifts, a mirror image) and searched
   for among the 60,000 training images *plus the originals*; a change is caught
   when the search pairs the changed image with its original.
3. The time of ``find_leaks`` on the full data.

    python benchmarks/bench_images_leaks.py [--per-change 300] [--figure pairs.png]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt_time, machine_info, markdown_table  # noqa: E402

import neurallab as nl  # noqa: E402


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    out = np.empty_like(images)
    for i, x in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(x).save(buf, "JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buf))
    return out


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the content by (dy, dx) pixels, filling with black (the background)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def changes(X: np.ndarray, rng) -> dict[str, np.ndarray]:
    f = X.astype(np.float32)
    clip = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return {
        "brightness +20": clip(f + 20),
        "brightness -20": clip(f - 20),
        "contrast ×0.8": clip(f * 0.8),
        "contrast ×1.3 (clipped)": clip((f - 128) * 1.3 + 128),
        "Gaussian noise σ=5": clip(f + rng.normal(0, 5, f.shape)),
        "Gaussian noise σ=10": clip(f + rng.normal(0, 10, f.shape)),
        "JPEG quality 90": jpeg(X, 90),
        "JPEG quality 50": jpeg(X, 50),
        "shift 1 px right": shift(X, 0, 1),
        "shift 1 px down": shift(X, 1, 0),
        "shift 1 px diagonal": shift(X, 1, 1),
        "shift 2 px right": shift(X, 0, 2),
        "mirror (left-right)": X[:, :, ::-1].copy(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-change", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, help="write the near pairs found in "
                        "Fashion-MNIST (train/test) to this PNG")
    args = parser.parse_args()
    try:
        data = nl.datasets.load_fashion_mnist(download=False)
    except nl.errors.DatasetNotFoundError as exc:
        print(f"skipped: {exc}")
        return 0
    print("## Duplicates in Fashion-MNIST and what the near-duplicate search catches\n")
    print(machine_info())
    t0 = time.perf_counter()
    rep = nl.datasets.find_leaks({"train": data.X_train, "test": data.X_test},
                                 threshold=0.99)
    elapsed = time.perf_counter() - t0
    c = rep.counts()
    sims = rep.near_similarity[("train", "test")]
    pairs = rep.near_across[("train", "test")]
    same_label = np.mean(data.y_train[pairs[:, 0]] == data.y_test[pairs[:, 1]]) \
        if len(pairs) else float("nan")
    test_within = nl.datasets.find_leaks({"test": data.X_test}, near_within=True)
    print("\n### Fashion-MNIST (60,000 train / 10,000 test)\n")
    rows = [
        ["exact repeats inside train", c["exact_within"]["train"]],
        ["exact repeats inside test", c["exact_within"]["test"]],
        ["test images also in train (exact)", c["exact_across"]["train/test"]],
        ["test images with a near copy in train, similarity ≥ 0.99",
         c["near_across"]["train/test"]],
        ["... of which similarity ≥ 0.995", int((sims >= 0.995).sum())],
        ["... of which the pair has the same label", f"{same_label:.0%}"],
        ["near-duplicate pairs inside test, ≥ 0.99",
         test_within.counts()["near_within"]["test"]],
    ]
    print(markdown_table(["what", "count"], rows))
    print(f"\nfind_leaks(train, test) took {fmt_time(elapsed)}.")
    if args.figure and len(pairs):
        from neurallab.imageplots import plot_duplicate_pairs
        from neurallab.plots import save_figure

        save_figure(plot_duplicate_pairs(data.X_train, data.X_test, pairs, similarity=sims,
                                         max_pairs=16, title="Fashion-MNIST: the 16 most "
                                         "similar near copies (train left, test right)"),
                    args.figure)
        print(f"figure: {args.figure}")

    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(data.X_test), args.per_change, replace=False)
    originals = data.X_test[pick]
    changed = changes(originals, rng)
    names = list(changed)
    queries = np.concatenate([changed[n] for n in names])
    reference = np.concatenate([data.X_train, originals])  # originals at 60000 + k
    t0 = time.perf_counter()
    rep = nl.datasets.find_leaks({"reference": reference, "changed": queries})
    elapsed = time.perf_counter() - t0
    n = args.per_change
    rows = []
    for k, name in enumerate(names):
        lo, hi = k * n, (k + 1) * n
        target = len(data.X_train) + np.arange(n)
        found = {}
        for kind in ("exact", "near"):
            p = (rep.exact_across if kind == "exact" else rep.near_across)[("reference",
                                                                            "changed")]
            sel = (p[:, 1] >= lo) & (p[:, 1] < hi)
            found[kind] = p[sel]
        hit_partner = np.concatenate([found["exact"], found["near"]])
        correct = np.sum(hit_partner[:, 0] == target[hit_partner[:, 1] - lo])
        other = len(hit_partner) - correct
        rows.append([name, f"{correct / n:.0%}", other])
    print(f"\n### Detection: {n} test images per change, searched among the 60,000 "
          "training images plus the originals (threshold 0.99)\n")
    print(markdown_table(["change", "caught (paired with its original)",
                          "paired with another image"], rows))
    print(f"\nfind_leaks on {len(reference):,} + {len(queries):,} images took "
          f"{fmt_time(elapsed)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
