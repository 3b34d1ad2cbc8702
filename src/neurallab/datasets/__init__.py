"""Data sets: the tutorial's, and (chapter 8) images."""

from __future__ import annotations

from .fashion import (
    FASHION_MNIST_CLASSES,
    ImageDataset,
    fashion_mnist_sample,
    load_fashion_mnist,
)
from .idx import read_idx, write_idx
from .tutorial import SCORE_SCALE, sleep_study, sleep_study_extended

__all__ = [
    "sleep_study", "sleep_study_extended", "SCORE_SCALE",
    "read_idx", "write_idx",
    "load_fashion_mnist", "fashion_mnist_sample", "ImageDataset", "FASHION_MNIST_CLASSES",
]
