"""Make the Fashion-MNIST sample that ships inside the package.

    python scripts/make_fashion_sample.py [--data-dir DIR]

Draws 300 training images per class from Fashion-MNIST's training set and 100 test
images per class from its test set (seed 0), keeps them in their original order,
and writes ``src/neurallab/datasets/data/fashion_mnist_sample.npz`` (compressed, no
pickle) with the positions of the chosen images in the full sets. Run once; the
result is committed.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from neurallab.datasets import load_fashion_mnist
from neurallab.io import atomic_write_bytes

OUT = Path(__file__).resolve().parents[1] / "src/neurallab/datasets/data/fashion_mnist_sample.npz"
PER_CLASS = {"train": 300, "test": 100}
SEED = 0


def stratified_indices(labels: np.ndarray, per_class: int, rng) -> np.ndarray:
    """``per_class`` positions of each class, drawn without replacement, sorted."""
    chosen = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
              for k in range(int(labels.max()) + 1)]
    return np.sort(np.concatenate(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST files")
    args = parser.parse_args()
    data = load_fashion_mnist(args.data_dir, download=False, verify=True)
    rng = np.random.default_rng(SEED)
    i_train = stratified_indices(data.y_train, PER_CLASS["train"], rng)
    i_test = stratified_indices(data.y_test, PER_CLASS["test"], rng)
    buf = io.BytesIO()
    np.savez_compressed(
        buf, X_train=data.X_train[i_train], y_train=data.y_train[i_train].astype(np.uint8),
        X_test=data.X_test[i_test], y_test=data.y_test[i_test].astype(np.uint8),
        class_names=np.array(data.class_names), index_train=i_train.astype(np.int32),
        index_test=i_test.astype(np.int32),
    )
    atomic_write_bytes(OUT, buf.getvalue())
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {len(i_train)} train, "
          f"{len(i_test)} test images from {data.source}")


if __name__ == "__main__":
    main()
