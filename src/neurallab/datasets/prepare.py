"""From images and labels to a clean, balanced, leak-free data set in one file.

Chapter 8's steps after loading, each a small function:

* :func:`normalize` pixels (``unit``: ``p / 255 ∈ [0, 1]``; ``centered``:
  ``p / 255 − 0.5 ∈ [−0.5, 0.5]``), :func:`flatten`, :func:`one_hot`;
* :func:`class_balance`: counts and fractions per class, flagged when a class is
  more than ``tolerance`` away from the mean count;
* :func:`stratified_split`: seeded train / validation / test indices of the sizes
  asked for, every class in each split in proportion to its share of the data;
* :func:`find_leaks`: images that appear twice — exactly (same bytes) within a
  split or across splits, and nearly (see below) across splits;
* :class:`PreparedDataset`: the splits, class names and the preprocessing used, saved
  to and loaded from one ``.npz`` file without pickle; :meth:`PreparedDataset.sanitized`
  drops the duplicates :func:`find_leaks` found.

Exact duplicates are found by a content hash: each image's bytes, read as 64-bit
words ``w``, hash to ``h = Σⱼ wⱼ·kⱼ mod 2⁶⁴`` with fixed random odd keys ``kⱼ`` — one
matrix-vector product for all images, no loop over them. Images with the same hash
are then compared byte for byte, so a hash collision can never report a false
duplicate.

Near duplicates (compared in gray levels; colour images by the mean of their
channels): for every image of a later split, candidates in the earlier split
are the nearest neighbours (by cosine) of two 8×8 *fingerprints* — the image shrunk
to 8×8 by area averaging, minus its mean, divided by its norm (so brightness and
contrast do not matter), once as it is and once shifted so its centre of mass is in
the middle (so a shift of a pixel or two does not matter). Each candidate pair is
then compared at full resolution (shrunk to at most 32×32): the similarity is the
largest cosine between the mean-centred images over shifts of −1, 0, +1 pixel in
each direction, and the pair is a near duplicate when it is at least ``threshold``
(default 0.99). What that catches was measured with
``benchmarks/bench_images_leaks.py`` (300 Fashion-MNIST test images per change,
searched among the 60,000 training images): brightness ±20 and contrast ×0.8
(96–100 %), Gaussian noise σ=5 (99 %), JPEG quality 90 (100 %), a 1-pixel shift
(51–90 %, depending on direction); not a 2-pixel shift or a mirror image. On
Fashion-MNIST itself it pairs 90 test images with a training image: above 0.995
the same garment photographed twice, between 0.99 and 0.995 mostly different plain
trousers that look alike at 28×28 — use ``threshold=0.995`` for only the former.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DatasetFileError, InputError, InputTypeError
from ..io import atomic_writer
from .idx import _MAX_DEFLATE_RATIO  # a .npz member is DEFLATE, like a .gz

__all__ = [
    "NORMALIZATIONS", "NORMALIZATION_RANGES", "SPLITS", "normalize", "flatten", "one_hot",
    "BalanceReport", "class_balance", "Split", "stratified_split", "content_hashes",
    "image_fingerprints", "LeakReport", "find_leaks", "PreparedDataset", "prepare_dataset",
    "save_dataset", "load_dataset",
]

#: ``unit``: p / 255 ∈ [0, 1]; ``centered``: p / 255 − 0.5 ∈ [−0.5, 0.5]; ``none``: p
NORMALIZATIONS = ("unit", "centered", "none")
#: the range of the inputs each normalization makes from pixels 0..255 (black, white)
NORMALIZATION_RANGES = {"unit": (0.0, 1.0), "centered": (-0.5, 0.5), "none": (0.0, 255.0)}
SPLITS = ("train", "valid", "test")
FORMAT = "neurallab-images"
FORMAT_VERSION = 1
_BLOCK = 4096  # images per block in the leak search (bounds its memory)


# ---------------------------------------------------------------------------- arrays
def _images(images, name: str = "images") -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype.kind not in "uif":
        raise InputTypeError(f"{name} must hold pixel numbers, got dtype {arr.dtype}")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in (1, 3)):
        raise InputError(f"{name} must have shape (n, height, width) or (n, height, width, "
                         f"3), got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = tuple(np.argwhere(~np.isfinite(arr))[0].tolist())
        raise InputError(f"{name} contains NaN or infinite pixels (first at index {bad}); "
                         "fix or drop those images first")
    return arr


def normalize(images, normalization: str = "unit") -> np.ndarray:
    """Pixels 0–255 → float32 network inputs.

    Parameters
    ----------
    images : array-like of uint8 (or whole numbers 0–255), any shape
    normalization : {"unit", "centered", "none"}
        ``unit``: ``x = p / 255`` ∈ [0, 1]; ``centered``: ``x = p / 255 − 0.5`` ∈
        [−0.5, 0.5] (mean near 0, as chapter 8 suggests); ``none``: ``x = p``.

    Returns
    -------
    ndarray, same shape, float32
        A new array, computed without a float64 intermediate.

    Raises
    ------
    InputError
        Values outside 0–255, NaN or infinite, or an unknown normalization.
    InputTypeError
        Non-numeric data.
    """
    if normalization not in NORMALIZATIONS:
        raise InputError(f"normalization must be one of {', '.join(map(repr, NORMALIZATIONS))}"
                         f", got {normalization!r}")
    arr = np.asarray(images)
    if arr.dtype.kind not in "uif":
        raise InputTypeError(f"images must hold pixel numbers, got dtype {arr.dtype}")
    if arr.dtype != np.uint8 and arr.size:
        lo, hi = np.nanmin(arr), np.nanmax(arr)
        if not (np.isfinite(arr).all() and lo >= 0 and hi <= 255):
            raise InputError(
                f"images must be pixels from 0 to 255 (uint8), got values from {lo} to {hi}"
                f"{' and NaN/inf' if not np.isfinite(arr).all() else ''}; normalise only "
                "raw pixels, once"
            )
    if normalization == "none":
        return np.array(arr, dtype=np.float32)
    out = np.divide(arr, np.float32(255), dtype=np.float32)
    if normalization == "centered":
        out -= np.float32(0.5)
    return out


def flatten(images) -> np.ndarray:
    """(n, height, width[, channels]) → (n, height·width·channels), a view when possible."""
    arr = np.asarray(images)
    if arr.ndim < 2:
        raise InputError(f"images must have shape (n, ...) with at least 2 dimensions, "
                         f"got {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def _labels(labels, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of class numbers, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise InputError(f"{name} must be whole class numbers, got non-integer values")
    elif y.dtype.kind not in "iub":
        raise InputTypeError(f"{name} must be integer class numbers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise InputError(f"{name} must be >= 0, got {y.min()}")
    return y.astype(np.int64, copy=False)


def one_hot(labels, n_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Class numbers (n,) → one-hot rows (n, n_classes): ``Y[i, labels[i]] = 1``.

    Raises
    ------
    InputError
        A label ``>= n_classes``, a negative label, or a non-1-D array.
    """
    y = _labels(labels)
    k = int(y.max()) + 1 if n_classes is None and y.size else int(n_classes or 0)
    if y.size and y.max() >= k:
        raise InputError(f"labels go up to {y.max()} but n_classes={k}; labels must be "
                         f"0..n_classes-1")
    out = np.zeros((y.size, k), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


# ---------------------------------------------------------------------------- balance
@dataclass
class BalanceReport:
    """Images per class (one column per split), and which classes are out of balance.

    Attributes
    ----------
    class_names : list of str
    columns : list of str
        The split names (``["all"]`` for a single array of labels).
    counts : ndarray, shape (n_classes, n_columns), int64
    tolerance : float
        A class is flagged when its total is more than ``tolerance`` (relative)
        away from the mean total per class.
    """

    class_names: list[str]
    columns: list[str]
    counts: np.ndarray
    tolerance: float = 0.2

    @property
    def totals(self) -> np.ndarray:
        """Images per class over all columns, shape (n_classes,)."""
        return self.counts.sum(axis=1)

    @property
    def fractions(self) -> np.ndarray:
        """Each class's share of all images, shape (n_classes,)."""
        t = self.totals
        return t / max(int(t.sum()), 1)

    @property
    def flagged(self) -> list[int]:
        """Classes whose total differs from the mean by more than ``tolerance``."""
        t = self.totals.astype(float)
        mean = t.mean() if t.size else 0.0
        return [int(k) for k in np.flatnonzero(np.abs(t - mean) > self.tolerance * mean)]

    @property
    def ratio(self) -> float:
        """Largest / smallest class (``inf`` when a class is empty)."""
        t = self.totals
        return float(t.max() / t.min()) if t.size and t.min() > 0 else float("inf")

    @property
    def balanced(self) -> bool:
        return not self.flagged

    def to_dict(self) -> dict:
        return {"class_names": list(self.class_names), "columns": list(self.columns),
                "counts": self.counts.tolist(), "fractions": self.fractions.round(6).tolist(),
                "flagged": [self.class_names[k] for k in self.flagged],
                "ratio": self.ratio, "tolerance": self.tolerance}

    def __str__(self) -> str:
        width = max([5] + [len(c) for c in self.class_names])
        cols = self.columns if len(self.columns) > 1 else []
        head = f"{'class':<{width}}  " + "".join(f"{c:>8}" for c in cols) + \
            f"{'total':>8}{'share':>8}"
        lines = [head]
        flagged = set(self.flagged)
        for k, name in enumerate(self.class_names):
            row = "".join(f"{n:>8}" for n in self.counts[k]) if cols else ""
            mark = "  <- out of balance" if k in flagged else ""
            lines.append(f"{name:<{width}}  {row}{self.totals[k]:>8}"
                         f"{100 * self.fractions[k]:>7.1f}%{mark}")
        t = self.totals.astype(float)
        verdict = "balanced" if self.balanced else f"{len(flagged)} class(es) out of balance"
        lines.append(f"{verdict}: largest/smallest class = {self.ratio:.2f}; a class is "
                     f"flagged beyond ±{100 * self.tolerance:.0f}% of the mean "
                     f"{t.mean() if t.size else 0:.1f}")
        return "\n".join(lines)


def class_balance(labels, class_names: Sequence[str] | None = None,
                  tolerance: float = 0.2) -> BalanceReport:
    """Count images per class.

    Parameters
    ----------
    labels : array-like (n,), or a mapping of split name → labels
    class_names : sequence of str, optional
        Default ``"0", "1", ...``; its length sets the number of classes.
    tolerance : float
        Relative distance from the mean count beyond which a class is flagged.

    Returns
    -------
    BalanceReport
    """
    cols = dict(labels) if isinstance(labels, Mapping) else {"all": labels}
    ys = {name: _labels(y, f"labels[{name!r}]") for name, y in cols.items()}
    top = max([int(y.max()) + 1 for y in ys.values() if y.size] or [0])
    k = len(class_names) if class_names is not None else top
    if top > k:
        raise InputError(f"labels go up to {top - 1} but there are {k} class names")
    if not (0 <= tolerance):
        raise InputError(f"tolerance must be >= 0, got {tolerance}")
    counts = np.stack([np.bincount(y, minlength=k) for y in ys.values()], axis=1) \
        if ys else np.zeros((k, 0), np.int64)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    return BalanceReport(names, list(ys), counts.astype(np.int64), float(tolerance))


# ---------------------------------------------------------------------------- split
class Split(NamedTuple):
    """Index arrays into the data, one per split, each in random order."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def _split_size(value, n: int, name: str) -> int:
    """A split size: a fraction in [0, 1) of ``n``, or a whole count up to ``n``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InputTypeError(f"{name} must be a fraction in [0, 1) or a count, got {value!r}")
    if 0 <= value < 1:
        return int(round(float(value) * n))
    if float(value).is_integer() and 0 <= value <= n:
        return int(value)
    raise InputError(f"{name}={value!r} must be a fraction in [0, 1) or a whole count from 0 "
                     f"to the {n} images")


def _allocate(total: int, shares: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``shares`` (largest remainder).

    Each class gets ``floor(quota)``, then the classes with the largest remainders one
    more each until the total is reached; only where a class has run out of images
    (``available``) do others take more than that.
    """
    quota = total * shares / shares.sum()
    take = np.minimum(np.floor(quota).astype(np.int64), available)
    short = total - int(take.sum())
    order = np.argsort(-(quota - take), kind="stable")
    for k in order:
        if short == 0:
            break
        if take[k] < available[k]:
            take[k] += 1
            short -= 1
    for k in order:  # only when some class ran out of images
        if short == 0:
            break
        add = min(int(available[k] - take[k]), short)
        take[k] += add
        short -= add
    return take


def stratified_split(labels, valid=0.1, test=0.1, train=None, seed: int | None = 0) -> Split:
    """Seeded, stratified train / validation / test indices.

    Parameters
    ----------
    labels : array-like, shape (n,)
    valid, test : float or int
        A fraction of all images (``0.1``) or a count (``5000``).
    train : float or int, optional
        Default: every image not in ``valid`` or ``test``.
    seed : int, optional

    Returns
    -------
    Split
        ``train``, ``valid``, ``test`` index arrays (int64), disjoint, each class
        represented in proportion to its share (largest-remainder rounding, so the
        sizes are exactly those asked for), in random order.

    Raises
    ------
    InputError
        Sizes that are negative, not fractions/counts, or add up to more than n.
    """
    y = _labels(labels)
    n = y.size
    if n == 0:
        raise InputError("labels is empty; there is nothing to split")
    n_valid, n_test = _split_size(valid, n, "valid"), _split_size(test, n, "test")
    n_train = n - n_valid - n_test if train is None else _split_size(train, n, "train")
    if n_train < 0 or n_train + n_valid + n_test > n:
        asked = (f"valid={n_valid} + test={n_test}" if train is None
                 else f"train={n_train} + valid={n_valid} + test={n_test}")
        raise InputError(f"{asked} images are more than the {n} there are; "
                         "ask for smaller splits")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    order = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random inside
    counts = np.bincount(y)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    used = np.zeros_like(counts)
    out = []
    for size in (n_valid, n_test, n_train):
        take = _allocate(size, counts.astype(float), counts - used)
        parts = [order[s + u:s + u + t] for s, u, t in zip(starts, used, take, strict=True) if t]
        used += take
        idx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        out.append(rng.permutation(idx).astype(np.int64))
    return Split(train=out[2], valid=out[0], test=out[1])


# ---------------------------------------------------------------------------- hashing
def content_hashes(images) -> np.ndarray:
    """A 64-bit hash of each image's bytes: ``h = Σⱼ wⱼ·kⱼ mod 2⁶⁴`` over 64-bit words.

    Equal images have equal hashes; :func:`find_leaks` compares the bytes of images
    whose hashes agree, so collisions never produce false duplicates.

    Returns
    -------
    ndarray, shape (n,), uint64
    """
    arr = np.asarray(images)
    n = arr.shape[0]
    if n == 0:  # an empty split (``valid=0``): nothing to hash
        return np.zeros(0, dtype=np.uint64)
    flat = np.ascontiguousarray(arr.reshape(n, -1)).view(np.uint8).reshape(n, -1)
    pad = (-flat.shape[1]) % 8
    keys = None
    out = np.empty(n, dtype=np.uint64)
    for s in range(0, n, _BLOCK):
        block = flat[s:s + _BLOCK]
        if pad:
            block = np.concatenate([block, np.zeros((len(block), pad), np.uint8)], axis=1)
        words = np.ascontiguousarray(block).view("<u8")
        if keys is None:
            keys = np.random.default_rng(0x5EED).integers(
                0, 2**63, size=words.shape[1], dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        with np.errstate(over="ignore"):
            h = (words * keys).sum(axis=1, dtype=np.uint64)
            h ^= h >> np.uint64(29)
        out[s:s + len(block)] = h
    return out


def _gray(images: np.ndarray) -> np.ndarray:
    """(n, h, w[, c]) → (n, h, w) float32 gray levels (channel mean)."""
    x = images.astype(np.float32, copy=False)
    return x.mean(axis=3) if x.ndim == 4 else x


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights averaging each output cell's share of the input cells."""
    edges_out = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges_out[:-1, None], edges_out[1:, None]
    cells = np.arange(n_in)[None, :]
    w = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _shrink(gray: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-average (n, H, W) down to (n, h, w): ``A @ X @ Bᵀ`` for all images at once."""
    H, W = gray.shape[1:]
    if (H, W) == (h, w):
        return gray
    return _area_matrix(H, h) @ gray @ _area_matrix(W, w).T


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows minus their mean, divided by their norm (a constant row stays 0)."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _centre(gray: np.ndarray) -> np.ndarray:
    """Shift each image (by whole pixels, edges repeated) so its centre of mass is central."""
    n, H, W = gray.shape
    mass = gray - gray.reshape(n, -1).min(axis=1)[:, None, None]
    total = mass.sum(axis=(1, 2))
    total[total == 0] = 1
    cy = (mass.sum(axis=2) * np.arange(H)).sum(axis=1) / total
    cx = (mass.sum(axis=1) * np.arange(W)).sum(axis=1) / total
    dy = np.clip(np.rint(cy - (H - 1) / 2), -(H // 4), H // 4).astype(np.int64)
    dx = np.clip(np.rint(cx - (W - 1) / 2), -(W // 4), W // 4).astype(np.int64)
    rows = np.clip(np.arange(H)[None, :] + dy[:, None], 0, H - 1)
    cols = np.clip(np.arange(W)[None, :] + dx[:, None], 0, W - 1)
    out = np.take_along_axis(gray, np.broadcast_to(rows[:, :, None], gray.shape), axis=1)
    return np.take_along_axis(out, np.broadcast_to(cols[:, None, :], gray.shape), axis=2)


def image_fingerprints(images, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The two near-duplicate fingerprints of each image (module docstring).

    Returns
    -------
    plain, centred : ndarray, shape (n, size·size), float32
        Mean-centred, unit-norm ``size×size`` area-averaged thumbnails, of the image
        and of the image shifted so its centre of mass is in the middle.
    """
    arr = _images(images)
    n = arr.shape[0]
    plain = np.empty((n, size * size), np.float32)
    centred = np.empty((n, size * size), np.float32)
    # a few float32 copies of a block are alive at once: keep a block near 64 MB
    block = max(1, min(_BLOCK, (1 << 24) // max(1, int(np.prod(arr.shape[1:])))))
    for s in range(0, n, block):
        g = _gray(arr[s:s + block])
        plain[s:s + len(g)] = _unit_rows(_shrink(g, size, size).reshape(len(g), -1))
        centred[s:s + len(g)] = _unit_rows(_shrink(_centre(g), size, size).reshape(len(g), -1))
    return plain, centred


def _detail(images: np.ndarray, idx: np.ndarray, cap: int = 32) -> np.ndarray:
    """Gray images ``idx`` shrunk to at most ``cap``×``cap`` for the pair comparison."""
    g = _gray(images[idx])
    H, W = g.shape[1:]
    return _shrink(g, min(H, cap), min(W, cap))


def aligned_similarity(a: np.ndarray, b: np.ndarray, shift: int = 1) -> np.ndarray:
    """Pairwise similarity of gray images: max over shifts of the centred cosine.

    Parameters
    ----------
    a, b : ndarray, shape (m, h, w), float
        Pair ``i`` is ``(a[i], b[i])``.
    shift : int
        ``a`` is shifted by −shift..+shift pixels in each direction (edges repeated).

    Returns
    -------
    ndarray, shape (m,), float32, in [−1, 1]
    """
    m, H, W = a.shape
    ub = _unit_rows(b.reshape(m, -1).astype(np.float32))
    padded = np.pad(a.astype(np.float32), ((0, 0), (shift, shift), (shift, shift)), mode="edge")
    best = np.full(m, -1.0, np.float32)
    for dy in range(2 * shift + 1):
        for dx in range(2 * shift + 1):
            ua = _unit_rows(padded[:, dy:dy + H, dx:dx + W].reshape(m, -1))
            np.maximum(best, np.einsum("ij,ij->i", ua, ub), out=best)
    return best


def _top_candidates(query: np.ndarray, ref: np.ndarray, k: int, exclude_self: bool):
    """Indices (n_query, k) of the ``k`` most similar ``ref`` rows to each ``query`` row.

    Blocks of queries keep the similarity matrix near 128 MB; ``k`` passes of
    ``argmax`` beat ``argpartition`` many times over for the small ``k`` used here.
    """
    k = min(k, len(ref) - (1 if exclude_self else 0))
    out = np.empty((len(query), max(k, 0)), np.int64)
    if k <= 0:
        return out
    rows_per_block = max(1, (1 << 25) // max(len(ref), 1))
    for s in range(0, len(query), rows_per_block):
        sim = query[s:s + rows_per_block] @ ref.T
        rows = np.arange(len(sim))
        if exclude_self:
            sim[rows, s + rows] = -np.inf
        for c in range(k):
            best = sim.argmax(axis=1)
            out[s:s + len(sim), c] = best
            sim[rows, best] = -np.inf
    return out


# ---------------------------------------------------------------------------- leaks
@dataclass
class LeakReport:
    """Duplicates found by :func:`find_leaks`.

    Attributes
    ----------
    sizes : dict of str to int
        Images per split.
    exact_within : dict of str to ndarray (m, 2)
        Per split, pairs ``(i, j)`` with ``i < j`` and image ``j`` a byte-for-byte
        copy of image ``i`` (its first occurrence in that split).
    exact_across : dict of (str, str) to ndarray (m, 2)
        For splits ``a`` before ``b``, pairs ``(i in a, j in b)`` of identical images.
    near_across : dict of (str, str) to ndarray (m, 2)
        Pairs of near-duplicates (not exact), one per image ``j`` of ``b``: its most
        similar image ``i`` of ``a``.
    near_similarity : dict of (str, str) to ndarray (m,)
        The similarity of each near pair.
    near_within : dict of str to ndarray (m, 2) or None
        With ``near_within=True``: near pairs ``(i, j)``, ``i < j``, inside a split.
    threshold : float
    fingerprints : dict of str to str, optional
        Per split, a digest of its images' content hashes (their dtype and shape
        included): :meth:`PreparedDataset.sanitized` checks that a report describes
        its images before dropping any by index.
    """

    sizes: dict
    exact_within: dict
    exact_across: dict
    near_across: dict = field(default_factory=dict)
    near_similarity: dict = field(default_factory=dict)
    near_within: dict | None = None
    threshold: float = 0.99
    fingerprints: dict | None = None

    def leaked(self, split: str, near: bool = True) -> np.ndarray:
        """Indices of ``split`` with a copy (or near copy) in an earlier split."""
        idx = [p[:, 1] for (a, b), p in self.exact_across.items() if b == split]
        if near:
            idx += [p[:, 1] for (a, b), p in self.near_across.items() if b == split]
        return np.unique(np.concatenate(idx)) if idx else np.zeros(0, np.int64)

    def repeated(self, split: str) -> np.ndarray:
        """Indices of ``split`` that repeat an earlier image of the same split."""
        p = self.exact_within.get(split)
        return np.unique(p[:, 1]) if p is not None and len(p) else np.zeros(0, np.int64)

    def counts(self) -> dict:
        """Plain-JSON counts: copies within each split, and per pair of splits the images
        of the later split with an exact or near copy in the earlier one."""
        out = {"threshold": self.threshold, "sizes": dict(self.sizes),
               "exact_within": {s: int(len(np.unique(p[:, 1])))
                                for s, p in self.exact_within.items()},
               "exact_across": {f"{a}/{b}": int(len(np.unique(p[:, 1])))
                                for (a, b), p in self.exact_across.items()},
               "near_across": {f"{a}/{b}": int(len(np.unique(p[:, 1])))
                               for (a, b), p in self.near_across.items()}}
        if self.near_within is not None:
            out["near_within"] = {s: int(len(p)) for s, p in self.near_within.items()}
        return out

    def __str__(self) -> str:
        c = self.counts()
        lines = ["duplicates (leaks):"]
        for s, n in c["exact_within"].items():
            lines.append(f"  {s:>5}: {n} of {self.sizes[s]} images repeat an earlier one "
                         "in the same split (exact)")
        for key, n in c["exact_across"].items():
            a, b = key.split("/")
            near = c["near_across"].get(key)
            near_txt = "" if near is None else (f", {near} more are near copies "
                                                f"(similarity >= {self.threshold})")
            lines.append(f"  {b:>5}: {n} of {self.sizes[b]} images also in {a} (exact)"
                         f"{near_txt}")
        if self.near_within is not None:
            for s, n in c["near_within"].items():
                lines.append(f"  {s:>5}: {n} near-duplicate pairs inside the split")
        return "\n".join(lines)


def _split_fingerprint(images: np.ndarray, hashes: np.ndarray) -> str:
    """A digest of one split: its dtype, shape and every image's content hash."""
    digest = hashlib.sha256(f"{images.dtype.str}{images.shape}".encode())
    digest.update(np.ascontiguousarray(hashes, dtype="<u8").tobytes())
    return digest.hexdigest()[:32]


def _exact(arrays: dict[str, np.ndarray], split_hashes: dict[str, np.ndarray]):
    """Exact duplicates within and across splits (hash, then byte comparison)."""
    names = list(arrays)
    hashes = np.concatenate([split_hashes[s] for s in names])
    split_of = np.concatenate([np.full(len(arrays[s]), i) for i, s in enumerate(names)])
    local = np.concatenate([np.arange(len(arrays[s])) for s in names])
    width = int(np.prod(next(iter(arrays.values())).shape[1:]))

    def rows(idx: np.ndarray) -> np.ndarray:
        """The pixels of images ``idx`` (global numbering), one row each."""
        out = np.empty((len(idx), width), next(iter(arrays.values())).dtype)
        for i, s in enumerate(names):
            m = split_of[idx] == i
            out[m] = arrays[s][local[idx[m]]].reshape(int(m.sum()), width)
        return out

    # group = the first image (global order) with the same hash ...
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    group = first[inverse]
    # ... confirmed byte for byte; buckets where a hash collision put different images
    # together are regrouped by their exact bytes
    linked = np.flatnonzero(group != np.arange(len(group)))
    differ = linked[~(rows(linked) == rows(group[linked])).all(axis=1)]
    if len(differ):
        members = np.flatnonzero(np.isin(inverse, inverse[differ]))
        keys = np.ascontiguousarray(rows(members)).view(np.dtype((np.void, width * (
            rows(members[:1]).itemsize)))).ravel()
        _, first_m, inv_m = np.unique(keys, return_index=True, return_inverse=True)
        group[members] = members[first_m[inv_m.ravel()]]
    within, across = {}, {}
    for i, s in enumerate(names):
        mine = np.flatnonzero(split_of == i)
        # pair each repeat with the first occurrence of its group inside this split
        g = group[mine]
        _, first_local, inv = np.unique(g, return_index=True, return_inverse=True)
        firsts = local[mine][first_local[inv]]
        dup = firsts != local[mine]
        pairs = np.stack([firsts[dup], local[mine][dup]], axis=1).astype(np.int64)
        within[s] = pairs
        for j in range(i):
            t = names[j]
            theirs = np.flatnonzero(split_of == j)
            # a representative of each group in split t
            tg, tfirst = np.unique(group[theirs], return_index=True)
            pos = np.searchsorted(tg, g)
            pos = np.minimum(pos, len(tg) - 1) if len(tg) else pos
            hit = (tg[pos] == g) if len(tg) else np.zeros(len(g), bool)
            across[(t, s)] = np.stack([local[theirs][tfirst[pos[hit]]],
                                       local[mine][hit]], axis=1).astype(np.int64) \
                if hit.any() else np.zeros((0, 2), np.int64)
    return within, across


def find_leaks(splits: Mapping[str, np.ndarray], *, near: bool = True,
               threshold: float = 0.99, near_within: bool = False,
               candidates: int = 4) -> LeakReport:
    """Find images that occur twice: within a split, or in two splits.

    Parameters
    ----------
    splits : mapping of str to ndarray (n, h, w[, 3])
        In order: a later split is compared with every earlier one (``train``,
        ``valid``, ``test``), and its images are the ones reported (and dropped by
        :meth:`PreparedDataset.sanitized`). Splits of different dtypes are compared
        by value (uint8 ``7`` equals float32 ``7.0``), not by their bytes.
    near : bool
        Also look for near duplicates across splits (module docstring).
    threshold : float
        Similarity (``-1..1``) from which a pair is a near duplicate.
    near_within : bool
        Also look for near duplicates inside each split (slower: every split
        against itself).
    candidates : int
        Nearest neighbours per fingerprint checked at full resolution.

    Returns
    -------
    LeakReport
    """
    arrays = {s: _images(x, f"splits[{s!r}]") for s, x in splits.items()}
    shapes = {x.shape[1:] for x in arrays.values()}
    if len(shapes) > 1:
        raise InputError(f"all splits must hold images of one shape, got {sorted(shapes)}")
    arrays = _comparable(arrays)
    if not -1 <= threshold <= 1:
        raise InputError(f"threshold must be a similarity between -1 and 1, got {threshold}")
    split_hashes = {s: content_hashes(x) for s, x in arrays.items()}
    within, across = _exact(arrays, split_hashes)
    report = LeakReport(sizes={s: len(x) for s, x in arrays.items()}, exact_within=within,
                        exact_across=across, threshold=float(threshold),
                        fingerprints={s: _split_fingerprint(x, split_hashes[s])
                                      for s, x in arrays.items()})
    if not near:
        return report
    names = list(arrays)
    prints = {s: image_fingerprints(x) for s, x in arrays.items() if len(x)}
    for j, b in enumerate(names):
        for a in names[:j]:
            pairs, sims = _near_pairs(arrays[a], arrays[b], prints.get(a), prints.get(b),
                                      threshold, candidates, exact=across[(a, b)],
                                      same=False)
            report.near_across[(a, b)] = pairs
            report.near_similarity[(a, b)] = sims
    if near_within:
        report.near_within = {}
        for s, x in arrays.items():
            pairs, _ = _near_pairs(x, x, prints.get(s), prints.get(s), threshold, candidates,
                                   exact=within[s], same=True)
            report.near_within[s] = pairs
    return report


def _comparable(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The splits in one representation, so that equal pixels have equal bytes.

    Splits of different dtypes (uint8 training images, float32 test images) are
    converted to the dtype that holds all of them exactly (``np.result_type``),
    and a float ``-0.0`` becomes ``0.0``: the exact search compares bytes.
    """
    common = np.result_type(*[x.dtype for x in arrays.values()]) if arrays else None
    out = {}
    for s, x in arrays.items():
        x = x.astype(common, copy=False)
        if x.dtype.kind == "f":
            negative_zero = (x == 0) & np.signbit(x)
            if negative_zero.any():
                x = np.where(negative_zero, x.dtype.type(0), x)
        out[s] = x
    return out


def _near_pairs(A, B, fa, fb, threshold, k, exact, same):
    """Best near-duplicate partner in ``A`` of each image of ``B`` (not exact copies)."""
    empty = np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    if fa is None or fb is None:
        return empty
    cand = np.concatenate([_top_candidates(fb[0], fa[0], k, same),
                           _top_candidates(fb[1], fa[1], k, same)], axis=1)
    if cand.shape[1] == 0:
        return empty
    j = np.repeat(np.arange(len(B)), cand.shape[1])
    i = cand.reshape(-1)
    keep = i != j if same else np.ones(len(i), bool)
    if same:  # exact repeats are reported as such, not as near ones
        h = content_hashes(A)
        keep &= h[i] != h[j]
    elif len(exact):  # images of B with an exact copy in A are reported as such
        exact_b = np.zeros(len(B), bool)
        exact_b[exact[:, 1]] = True
        keep &= ~exact_b[j]
    pair = np.unique(np.stack([i[keep], j[keep]], axis=1), axis=0)
    if same:
        pair = np.unique(np.sort(pair, axis=1), axis=0)
    sims = np.empty(len(pair), np.float32)
    for s in range(0, len(pair), _BLOCK):
        p = pair[s:s + _BLOCK]
        sims[s:s + len(p)] = aligned_similarity(_detail(A, p[:, 0]), _detail(B, p[:, 1]))
    hit = sims >= threshold
    pair, sims = pair[hit], sims[hit]
    if not same and len(pair):  # keep the best partner of each image of B
        order = np.lexsort((-sims, pair[:, 1]))
        pair, sims = pair[order], sims[order]
        first = np.r_[True, pair[1:, 1] != pair[:-1, 1]]
        pair, sims = pair[first], sims[first]
    return pair.astype(np.int64), sims


# ---------------------------------------------------------------------------- dataset
@dataclass(eq=False)
class PreparedDataset:
    """Train / validation / test images with labels, class names and preprocessing.

    Images stay as the loader made them (uint8 for compactness); :meth:`inputs`
    turns a split into float32 network inputs with the stored normalisation, the
    same arithmetic ``preprocess_image`` applies to a new image.

    Attributes
    ----------
    X_train, X_valid, X_test : ndarray, shape (n, height, width[, 3])
    y_train, y_valid, y_test : ndarray, shape (n,), int64
    class_names : list of str
    preprocessing : dict
        ``{"image_size", "color_mode", "normalization", "invert"}`` (see
        :func:`~neurallab.datasets.preprocessing_config`).
    paths : dict of str to ndarray of str, optional
        Source file of each image per split.
    info : dict
        Plain-JSON facts saved with the data: source, seed, balance, leak counts.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    preprocessing: dict
    paths: dict | None = None
    info: dict = field(default_factory=dict)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in SPLITS:
            raise InputError(f"split must be one of {', '.join(SPLITS)}, got {name!r}")
        return getattr(self, f"X_{name}"), getattr(self, f"y_{name}")

    def inputs(self, name: str, flat: bool = True) -> np.ndarray:
        """A split's images as float32 network inputs, normalised as ``preprocessing`` says."""
        X, _ = self.split(name)
        if X.dtype == np.uint8:
            X = normalize(X, self.preprocessing.get("normalization", "unit"))
        return flatten(X) if flat else X

    @property
    def sizes(self) -> dict:
        return {s: len(self.split(s)[1]) for s in SPLITS}

    def balance(self, tolerance: float = 0.2) -> BalanceReport:
        """Images per class and split (:func:`class_balance`)."""
        return class_balance({s: self.split(s)[1] for s in SPLITS}, self.class_names,
                             tolerance)

    def find_leaks(self, **kwargs) -> LeakReport:
        """:func:`find_leaks` on ``train``, ``valid``, ``test`` (in that order)."""
        return find_leaks({s: self.split(s)[0] for s in SPLITS}, **kwargs)

    def sanitized(self, report: LeakReport, *, near: bool = True,
                  within: bool = True) -> PreparedDataset:
        """A copy without the images ``report`` found leaked.

        Drops every image of ``valid`` and ``test`` that has an exact (and, with
        ``near``, a near) copy in an earlier split; with ``within``, also the
        repeats of an image inside the same split. The training set loses only its
        own repeats, so it keeps every distinct image.

        Raises
        ------
        InputError
            ``report`` was not made from this data set's images (other split names
            or sizes, or, for a report from :func:`find_leaks`, other images):
            dropping by its indices would drop the wrong images.
        InputTypeError
            ``report`` is not a :class:`LeakReport`.
        """
        self._check_report(report)
        parts, removed = {}, {}
        for s in SPLITS:
            X, y = self.split(s)
            drop = _to_drop(report, s, near, within)
            keep = np.ones(len(y), bool)
            keep[drop.astype(np.int64)] = False
            parts[s] = (X[keep], y[keep], None if self.paths is None else self.paths[s][keep])
            removed[s] = int((~keep).sum())
        info = dict(self.info, removed=removed)
        return PreparedDataset(
            parts["train"][0], parts["train"][1], parts["valid"][0], parts["valid"][1],
            parts["test"][0], parts["test"][1], list(self.class_names),
            dict(self.preprocessing),
            None if self.paths is None else {s: parts[s][2] for s in SPLITS}, info)

    def _check_report(self, report) -> None:
        """``report`` must describe these images (see :meth:`sanitized`)."""
        if not isinstance(report, LeakReport):
            raise InputTypeError(f"report must be a LeakReport (from find_leaks()), got "
                                 f"{type(report).__name__}")
        if dict(report.sizes) != self.sizes:
            raise InputError(
                f"the leak report is for splits of sizes {dict(report.sizes)}, but this data "
                f"set has {self.sizes}: it was made from other images; use the report of "
                "this data set's own find_leaks()")
        if report.fingerprints is None:
            return
        arrays = _comparable({s: _images(self.split(s)[0], f"X_{s}") for s in SPLITS})
        differ = [s for s in SPLITS if report.fingerprints.get(s) != _split_fingerprint(
            arrays[s], content_hashes(arrays[s]))]
        if differ:
            raise InputError(
                f"the leak report does not describe this data set's images (different "
                f"images in {', '.join(differ)}: other images, or images changed since "
                "find_leaks() ran); run this data set's find_leaks() again and pass that "
                "report")

    def save(self, path) -> None:
        """Write to ``path`` (see :func:`save_dataset`)."""
        save_dataset(self, path)

    def __repr__(self) -> str:
        shape = self.X_train.shape[1:]
        return (f"PreparedDataset(train={len(self.y_train)}, valid={len(self.y_valid)}, "
                f"test={len(self.y_test)}, image={shape}, classes={len(self.class_names)})")


def _to_drop(report: LeakReport, split: str, near: bool, within: bool) -> np.ndarray:
    """Indices of ``split`` that :meth:`PreparedDataset.sanitized` drops."""
    idx = [report.leaked(split, near)]
    if within:
        idx.append(report.repeated(split))
    return np.unique(np.concatenate(idx)).astype(np.int64)


def prepare_dataset(images, labels, class_names: Sequence[str], *, valid=0.1, test=0.1,
                    seed: int | None = 0, preprocessing: dict | None = None,
                    paths: Sequence[str] | None = None, info: dict | None = None
                    ) -> PreparedDataset:
    """Split images stratified and seeded into a :class:`PreparedDataset`.

    Parameters
    ----------
    images : ndarray (n, h, w[, 1 or 3])
        Pixels (uint8, or whole numbers 0–255 of any dtype: stored as uint8), or
        float inputs already normalised as ``preprocessing`` says (stored as
        float32); see :func:`save_dataset`.
    labels : array-like (n,)
    class_names : sequence of str
    valid, test : float or int
        Fractions or counts (:func:`stratified_split`).
    seed : int, optional
    preprocessing : dict, optional
        What made the images (default: ``unit`` normalisation of their size,
        ``rgb`` for 3 channels, else ``grayscale``, including ``(n, h, w, 1)``).
    paths : sequence of str, optional
        Source file of each image, kept per split.
    info : dict, optional
        Extra JSON facts to store.
    """
    X = _images(images)
    y = _labels(labels)
    if len(y) != len(X):
        raise InputError(f"images has {len(X)} rows but labels has {len(y)}; they must match")
    if y.size and y.max() >= len(class_names):
        raise InputError(f"labels go up to {y.max()} but there are {len(class_names)} "
                         "class names")
    if preprocessing is None:
        preprocessing = {"image_size": list(X.shape[1:3]),
                         "color_mode": "rgb" if X.ndim == 4 and X.shape[3] == 3
                         else "grayscale",
                         "normalization": "unit", "invert": False}
    X = _storable_images(X, preprocessing.get("normalization", "unit")
                         if isinstance(preprocessing, Mapping) else "unit")
    sp = stratified_split(y, valid=valid, test=test, seed=seed)
    p = None if paths is None else np.asarray(list(paths), dtype=str)
    if p is not None and len(p) != len(X):
        raise InputError(f"paths has {len(p)} entries but there are {len(X)} images")
    return PreparedDataset(
        X[sp.train], y[sp.train], X[sp.valid], y[sp.valid], X[sp.test], y[sp.test],
        list(class_names), dict(preprocessing),
        None if p is None else {s: p[getattr(sp, s)] for s in SPLITS},
        dict(info or {}, seed=seed))


# ---------------------------------------------------------------------------- file
def save_dataset(dataset: PreparedDataset, path) -> None:
    """Save a :class:`PreparedDataset` as one compressed ``.npz`` (no pickle), atomically.

    Keys: ``X_<split>``, ``y_<split>``, ``paths_<split>`` (if any), ``class_names``
    (strings) and ``meta`` (a JSON string: format, version, preprocessing, info).

    Images are stored as uint8 or float32, the two dtypes :func:`load_dataset`
    reads: uint8 pixels as they are; whole numbers from 0 to 255 of any other
    dtype as uint8 pixels; other floats as float32 if they lie in the range of the
    preprocessing's normalisation (``unit`` [0, 1], ``centered`` [−0.5, 0.5],
    ``none`` [0, 255]), as already normalised inputs. Everything is then checked
    exactly as :func:`load_dataset` checks a file, so a file that is written can
    always be loaded.

    Raises
    ------
    InputError
        Images that are neither pixels nor normalised inputs, or any other content
        :func:`load_dataset` would refuse (preprocessing that does not describe the
        images, duplicate class names, ...); nothing is written.
    InputTypeError
        ``info`` or ``preprocessing`` holding values JSON cannot store.
    """
    path = Path(os.fspath(path))
    prep = dataset.preprocessing
    normalization = prep.get("normalization", "unit") if isinstance(prep, Mapping) else "unit"
    arrays = {}
    for s in SPLITS:
        X, y = dataset.split(s)
        arrays[f"X_{s}"] = np.ascontiguousarray(
            _storable_images(_images(X, f"X_{s}"), normalization, f"X_{s}"))
        arrays[f"y_{s}"] = np.asarray(y, dtype=np.int64)
        if dataset.paths is not None:
            arrays[f"paths_{s}"] = np.asarray(dataset.paths[s], dtype=str)
    arrays["class_names"] = np.asarray(list(dataset.class_names), dtype=str)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "preprocessing": prep, "info": dataset.info}
    try:
        text = json.dumps(meta, default=_json_value)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(f"cannot save to {path}: the preprocessing or info holds a "
                             f"value JSON cannot store ({exc}); use plain numbers, strings, "
                             "lists and dicts") from None
    arrays["meta"] = np.asarray(text)
    try:  # what load_dataset will check, checked before writing
        _check_contents(arrays, json.loads(text))
    except _Invalid as exc:
        raise InputError(f"cannot save to {path}: {exc}; nothing was written") from None
    with atomic_writer(path) as f:
        np.savez_compressed(f, **arrays)


def _json_value(value):
    """NumPy scalars and arrays in ``info`` as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} {_brief(value)} is not JSON")


def _storable_images(X: np.ndarray, normalization, name: str = "images") -> np.ndarray:
    """``X`` as uint8 pixels or float32 normalised inputs (see :func:`save_dataset`)."""
    if X.dtype == np.uint8 or X.dtype.kind not in "iuf":
        return X
    if X.size == 0:
        return X.astype(np.uint8 if X.dtype.kind in "iu" else np.float32)
    lo, hi = X.min(), X.max()
    pixels = bool(lo >= 0 and hi <= 255) and (X.dtype.kind in "iu"
                                              or bool((X == np.round(X)).all()))
    span = NORMALIZATION_RANGES.get(normalization) if isinstance(normalization, str) else None
    if X.dtype.kind == "f" and span is not None and span[0] <= lo and hi <= span[1] \
            and not (pixels and normalization == "none"):
        return X.astype(np.float32, copy=False)
    if pixels:
        return X.astype(np.uint8)
    kind = "whole numbers" if X.dtype.kind in "iu" else "values"
    want = "" if span is None or X.dtype.kind != "f" else (
        f", nor inputs normalised as {normalization!r} ({span[0]:g} to {span[1]:g})")
    raise InputError(f"{name} holds {X.dtype} {kind} from {lo} to {hi}: neither pixels "
                     f"(whole numbers 0 to 255){want}; rescale them to 0-255, or set the "
                     "preprocessing's normalization to the one that made them")


def load_dataset(path) -> PreparedDataset:
    """Load a :class:`PreparedDataset` saved by :func:`save_dataset`, checking it.

    Every member is read by hand from the zip archive: its ``.npy`` header is read
    first, and the size it declares must agree with the member's size (and with what
    its compressed size can hold) before any memory is allocated; the data is then
    decompressed in bounded pieces, never beyond that size. Pickled objects are
    never loaded.

    Raises
    ------
    DatasetFileError
        A folder, not a ``.npz``, truncated or corrupt, not made by neurallab, a newer
        or invalid format version, a member that is not a ``.npy`` array or declares
        more data than it holds, missing or inconsistent arrays (shapes, dtypes, label
        range, channels, paths), duplicate class names, float images with NaN or
        values outside their normalisation's range, a malformed ``meta`` (info,
        preprocessing), or pickled objects. The message says what is wrong and to
        rebuild the file with ``neurallab images build``.
    FileNotFoundError
        No such file.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        name = path.resolve().name or "data"
        raise DatasetFileError(f"{path} is a folder, not a prepared data set (.npz); a folder "
                               "with one sub-folder of images per class must be built into "
                               f"one first: neurallab images build {path} --out {name}.npz")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise DatasetFileError(f"{path} is not a prepared data set (.npz): it is not a "
                                   "zip archive; make one with 'neurallab images build'")
    try:
        data = _read_npz(path)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        if isinstance(exc, DatasetFileError):
            raise
        raise DatasetFileError(f"{path} is truncated or corrupt, or not a .npz made by "
                               f"'neurallab images build' ({exc}); rebuild it with "
                               f"'neurallab images build <folder> --out {path}'") from None
    if "meta" not in data:
        raise DatasetFileError(f"{path} is not a neurallab prepared data set (no 'meta'); "
                               "make one with 'neurallab images build'")
    meta_arr = data["meta"]
    try:
        if meta_arr.dtype.kind != "U" or meta_arr.size != 1:
            raise ValueError
        meta = json.loads(str(meta_arr.reshape(())))
    except (ValueError, TypeError):
        raise DatasetFileError(f"{path}: its 'meta' is not valid JSON; the file is "
                               "corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DatasetFileError(f"{path} is not a neurallab prepared data set (format "
                               f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) \
            and version > FORMAT_VERSION:
        raise DatasetFileError(f"{path} has format version {version}, newer than this "
                               f"neurallab reads ({FORMAT_VERSION}); upgrade neurallab")
    missing = [k for k in [f"{a}_{s}" for s in SPLITS for a in "Xy"] + ["class_names"]
               if k not in data]
    if missing:
        raise DatasetFileError(f"{path} lacks {', '.join(missing)}; the file is incomplete")
    try:
        names, prep, info, paths = _check_contents(data, meta)
    except _Invalid as exc:
        raise DatasetFileError(f"{path}: {exc}; the file is corrupt or inconsistent: "
                               f"rebuild it with 'neurallab images build <folder> --out "
                               f"{path}'") from None
    return PreparedDataset(
        data["X_train"], data["y_train"].astype(np.int64), data["X_valid"],
        data["y_valid"].astype(np.int64), data["X_test"], data["y_test"].astype(np.int64),
        names, dict(prep), paths, dict(info))


class _Invalid(Exception):
    """What :func:`_check_contents` found wrong (worded for both saving and loading)."""


def _check_contents(data: dict, meta: dict):
    """The checks :func:`load_dataset` makes of a file's arrays and meta.

    :func:`save_dataset` makes them too, before writing, so that it never writes a
    file :func:`load_dataset` refuses. Returns ``(class names, preprocessing, info,
    paths)``; raises :class:`_Invalid`.
    """
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Invalid(f"its format_version is {_brief(version)}, not a whole number >= 1")
    info = meta.get("info")
    if info is None:
        info = {}
    if not isinstance(info, dict):
        raise _Invalid(f"its meta 'info' is {_brief(info)}, not a mapping")
    prep = meta.get("preprocessing")
    if prep is None:
        prep = {}
    names = _stored_class_names(data["class_names"])
    shape = data["X_train"].shape[1:]
    for s in SPLITS:
        X, y = data[f"X_{s}"], data[f"y_{s}"]
        if X.dtype not in (np.uint8, np.float32) or X.ndim not in (3, 4) \
                or X.shape[1:] != shape:
            raise _Invalid(f"X_{s} is {X.dtype} {X.shape}; expected uint8 or float32 images "
                           f"of shape (n, {', '.join(map(str, shape))})")
        if X.ndim == 4 and X.shape[3] not in (1, 3):
            raise _Invalid(f"X_{s} has shape {X.shape}: {X.shape[3]} colour channels, but "
                           "images have 1 (grayscale) or 3 (rgb)")
        if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(X):
            raise _Invalid(f"y_{s} is {y.dtype} {y.shape}; expected {len(X)} integer labels")
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise _Invalid(f"y_{s} has labels outside 0..{len(names) - 1} ({len(names)} "
                           "class names)")
    _check_stored_preprocessing(prep, data["X_train"])
    normalization = prep.get("normalization", "unit")
    for s in SPLITS:
        _check_stored_floats(f"X_{s}", data[f"X_{s}"], normalization)
    return names, prep, info, _stored_paths(data)


#: slack on those ranges for float32 rounding
_FLOAT_SLACK = 1e-5
#: bytes decompressed per read of a member
_READ_PIECE = 1 << 20


def _inconsistent(path: Path, what: str) -> DatasetFileError:
    return DatasetFileError(f"{path}: {what}; the file is corrupt or inconsistent: rebuild "
                            f"it with 'neurallab images build <folder> --out {path}'")


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the archive, each checked before it is allocated.

    Members of other names, or compressed by another method than ``np.savez``
    uses (stored or deflate), are refused; so are object arrays (pickle), and a
    header whose shape needs more bytes than the member holds or than its
    compressed size can hold (a zip bomb): nothing is allocated for those.
    """
    out = {}
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _inconsistent(path, f"member {info.filename!r} is not a .npy array "
                                          "(a prepared data set holds only .npy arrays)")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _inconsistent(path, f"member {info.filename!r} uses compression "
                                          f"method {info.compress_type}, which neurallab "
                                          "never writes")
        for info in infos:
            key = info.filename[:-4]
            with zf.open(info) as f:
                out[key] = _read_member(path, info, f)
    return out


def _read_member(path: Path, info: zipfile.ZipInfo, f) -> np.ndarray:
    name = info.filename
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise _inconsistent(path, f"member {name!r} is .npy format version {version}, "
                                  "which neurallab never writes")
    if dtype.hasobject:
        raise DatasetFileError(f"{path} holds pickled Python objects; it is refused "
                               "(a prepared data set never needs them)")
    header_len = f.tell()
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    held = info.file_size - header_len
    if nbytes != held:
        raise _inconsistent(path, f"member {name!r} declares shape {shape} of {dtype} = "
                                  f"{nbytes:,} bytes, but holds {max(held, 0):,}")
    most = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
        _MAX_DEFLATE_RATIO * info.compress_size + 4096
    if nbytes + header_len > most:
        raise _inconsistent(path, f"member {name!r} declares {nbytes:,} bytes, more than "
                                  f"its {info.compress_size:,} compressed bytes can hold")
    arr = np.empty(count, dtype=dtype)
    view = memoryview(arr).cast("B") if nbytes else memoryview(bytearray())
    filled = 0
    while filled < nbytes:
        piece = f.read(min(_READ_PIECE, nbytes - filled))
        if not piece:
            raise _inconsistent(path, f"member {name!r} ends after {filled:,} of its "
                                      f"{nbytes:,} bytes")
        view[filled:filled + len(piece)] = piece
        filled += len(piece)
    if f.read(1):  # also makes zipfile check the member's CRC-32
        raise _inconsistent(path, f"member {name!r} holds more than the {nbytes:,} bytes "
                                  "its header declares")
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)


def _stored_class_names(arr: np.ndarray) -> list[str]:
    if arr.ndim != 1 or arr.dtype.kind != "U" or len(arr) == 0:
        raise _Invalid(f"class_names is a {arr.dtype} array of shape {arr.shape}, not a "
                       "list of class names (strings)")
    names = [str(c) for c in arr]
    seen, dup = set(), []
    for n in names:
        if n in seen and n not in dup:
            dup.append(n)
        seen.add(n)
    if dup:
        raise _Invalid(f"class name{'s' if len(dup) > 1 else ''} "
                       f"{', '.join(map(repr, dup))} appear{'' if len(dup) > 1 else 's'} "
                       "more than once in class_names")
    return names


def _check_stored_floats(key: str, X: np.ndarray, normalization: str) -> None:
    """Float images are stored normalised: finite, inside the normalisation's range."""
    if X.dtype.kind != "f" or not X.size:
        return
    if not np.isfinite(X).all():
        bad = tuple(np.argwhere(~np.isfinite(X))[0].tolist())
        raise _Invalid(f"{key} holds NaN or infinite pixels (first at index {bad})")
    lo, hi = NORMALIZATION_RANGES[normalization]
    got_lo, got_hi = float(X.min()), float(X.max())
    if got_lo < lo - _FLOAT_SLACK or got_hi > hi + _FLOAT_SLACK:
        raise _Invalid(f"{key} holds float values from {got_lo:g} to {got_hi:g}, but its "
                       f"normalization {normalization!r} gives values from {lo:g} to {hi:g}")


def _stored_paths(data: dict) -> dict | None:
    have = [s for s in SPLITS if f"paths_{s}" in data]
    if not have:
        return None
    if len(have) != len(SPLITS):
        lack = [f"paths_{s}" for s in SPLITS if s not in have]
        raise _Invalid(f"it has {', '.join(f'paths_{s}' for s in have)} but not "
                       f"{', '.join(lack)}")
    out = {}
    for s in SPLITS:
        p, n = data[f"paths_{s}"], len(data[f"y_{s}"])
        if p.ndim != 1 or p.dtype.kind != "U":
            raise _Invalid(f"paths_{s} is a {p.dtype} array of shape {p.shape}, not a list "
                           "of file names (strings)")
        if len(p) != n:
            raise _Invalid(f"paths_{s} has {len(p)} entries, but X_{s} has {n} images")
        out[s] = p
    return out


def _check_stored_preprocessing(prep, X: np.ndarray) -> None:
    """The preprocessing a file claims must describe its images.

    A model trained on the file stores it, and ``predict`` applies it to image files:
    a wrong size or colour mode there would only show after training, as a model
    whose inputs do not match its own preprocessing.
    """
    if not isinstance(prep, dict):
        raise _Invalid(f"its preprocessing is {_brief(prep)}, not a mapping")
    if "image_size" in prep:
        size = prep["image_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise _Invalid(f"its preprocessing has image_size {_brief(size)}, not "
                           "[height, width]")
        if size != list(X.shape[1:3]):
            raise _Invalid(f"its preprocessing says image_size {size}, but its images are "
                           f"{X.shape[1]}×{X.shape[2]}")
    channels = X.shape[3] if X.ndim == 4 else 1
    actual = "rgb" if channels == 3 else "grayscale"
    color = prep.get("color_mode", actual)
    if color not in ("grayscale", "rgb") or color != actual:
        raise _Invalid(f"its preprocessing says color_mode {_brief(color)}, but its images "
                       f"have shape {X.shape[1:]}")
    normalization = prep.get("normalization", "unit")
    if not isinstance(normalization, str) or normalization not in NORMALIZATIONS:
        raise _Invalid(f"unknown normalization {_brief(normalization)} in its preprocessing "
                       f"(known: {', '.join(NORMALIZATIONS)})")
    if "invert" in prep and not isinstance(prep["invert"], bool):
        raise _Invalid(f"its preprocessing has invert {_brief(prep['invert'])}, not true or "
                       "false")
