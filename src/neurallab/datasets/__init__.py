"""Data sets: the tutorial's, and (chapter 8) images."""

from __future__ import annotations

from .fashion import (
    FASHION_MNIST_CLASSES,
    ImageDataset,
    fashion_mnist_sample,
    load_fashion_mnist,
)
from .idx import read_idx, write_idx
from .images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    IMAGE_FORMATS,
    FolderReport,
    ImageFolder,
    SkippedFile,
    decode_image,
    load_image_folder,
    preprocess_image,
    preprocessing_config,
)
from .prepare import (
    BalanceReport,
    LeakReport,
    PreparedDataset,
    Split,
    class_balance,
    find_leaks,
    flatten,
    image_fingerprints,
    load_dataset,
    normalize,
    one_hot,
    prepare_dataset,
    save_dataset,
    stratified_split,
)
from .tutorial import SCORE_SCALE, sleep_study, sleep_study_extended

__all__ = [
    "sleep_study", "sleep_study_extended", "SCORE_SCALE",
    "read_idx", "write_idx",
    "load_fashion_mnist", "fashion_mnist_sample", "ImageDataset", "FASHION_MNIST_CLASSES",
    "load_image_folder", "ImageFolder", "FolderReport", "SkippedFile", "preprocess_image",
    "preprocessing_config", "decode_image", "IMAGE_FORMATS", "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "normalize", "flatten", "one_hot", "class_balance", "BalanceReport", "stratified_split",
    "Split", "find_leaks", "LeakReport", "image_fingerprints", "PreparedDataset",
    "prepare_dataset", "save_dataset", "load_dataset",
]
