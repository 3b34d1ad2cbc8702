"""Checks at the public boundary: shapes, dtypes, NaN/inf, empty data, labels.

Each function returns a clean array (C-contiguous, the requested float dtype) or
raises an :class:`~neurallab.errors.InputError` / :class:`InputTypeError` whose
message names the argument, what is wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError, InputTypeError


def as_float_array(
    value, name: str, dtype, *, ndim: int | None = 2, allow_1d: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Convert ``value`` to a finite, non-empty float array of ``dtype``.

    ``finite=False`` leaves out the scan for NaN, infinity and values beyond ``dtype``'s
    range, for a caller that checks the result another way (and calls this again, with
    the scan, to name the problem).
    """
    if isinstance(value, (str, bytes)):
        raise InputTypeError(f"{name} must be a numeric array, got a string {value[:40]!r}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists etc.
        raise InputError(f"{name} could not be read as an array ({exc}); pass a "
                         "rectangular list or a NumPy array of numbers") from exc
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(
            f"{name} must hold numbers, got dtype {arr.dtype} "
            f"(strings or objects?); convert it with np.asarray({name}, dtype=float) "
            "after removing non-numeric entries"
        )
    if allow_1d and arr.ndim == 1 and ndim == 2:
        arr = arr.reshape(-1, 1)
    if ndim is not None and arr.ndim != ndim:
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = (f" — for one feature use {name}.reshape(-1, 1), "
                    f"for one sample {name}.reshape(1, -1)")
        raise InputError(f"{name} must be {ndim}-D, got shape {arr.shape}{hint}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); pass at least one sample")
    source = arr
    with np.errstate(over="ignore"):  # an overflow to float32 is reported just below
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        if source.dtype.kind in "biu" or np.isfinite(source[tuple(bad)]):
            limit = np.finfo(arr.dtype).max
            raise InputError(
                f"{name} holds {source[tuple(bad)]:.3g} at index {tuple(bad.tolist())}, beyond "
                f"the range of {arr.dtype} (±{limit:.3g}); scale the data down, or use a "
                "float64 network"
            )
        raise InputError(
            f"{name} contains NaN or infinite values (first at index {tuple(bad.tolist())}); "
            "remove or impute them before training or predicting"
        )
    return arr


def check_n_features(X: np.ndarray, n_inputs: int, name: str = "X") -> None:
    if X.shape[1] != n_inputs:
        raise InputError(
            f"{name} has {X.shape[1]} columns but the network takes {n_inputs} inputs; "
            f"pass data of shape (n_samples, {n_inputs})"
        )


def check_same_rows(X: np.ndarray, y: np.ndarray, xname: str = "X", yname: str = "y") -> None:
    if X.shape[0] != y.shape[0]:
        raise InputError(
            f"{xname} has {X.shape[0]} rows but {yname} has {y.shape[0]}; "
            "they must describe the same samples, one row each"
        )


def as_targets(y, name: str, n_outputs: int, dtype, *, classification: bool) -> np.ndarray:
    """Targets as a float 2-D array ``(n, n_outputs)``.

    For classification losses integer labels of shape ``(n,)`` are one-hot encoded;
    labels outside ``0 .. n_outputs - 1`` are an error. A 1-D float ``y`` for a
    single-output network is reshaped to ``(n, 1)``.
    """
    arr = np.asarray(y) if not isinstance(y, (str, bytes)) else y
    if isinstance(arr, np.ndarray) and arr.ndim == 1 and classification and arr.size:
        if arr.dtype.kind not in "biuf":
            raise InputTypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
        if n_outputs == 1:
            return _check_probabilities(as_float_array(arr, name, dtype, allow_1d=True), name)
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
                raise InputError(
                    f"{name} is 1-D, so it must hold integer class labels 0..{n_outputs - 1}; "
                    "found non-integer values"
                )
        lo, hi = arr.min().item(), arr.max().item()  # before any cast: exact, any size
        if lo < 0 or hi >= n_outputs:
            lo, hi = (v if isinstance(v, int) else f"{v:g}" for v in (lo, hi))
            raise InputError(
                f"{name} holds class labels from {lo} to {hi}, but the network has "
                f"{n_outputs} outputs, so labels must lie in 0..{n_outputs - 1}; "
                "build the network with as many outputs as classes"
            )
        labels = arr.astype(np.int64)
        onehot = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
        onehot[np.arange(labels.shape[0]), labels] = 1
        return onehot
    if (isinstance(arr, np.ndarray) and arr.ndim == 1 and arr.size and n_outputs > 1
            and arr.dtype.kind in "biuf"):
        raise InputError(
            f"{name} has shape {arr.shape}, one value per sample, but the network has "
            f"{n_outputs} outputs; pass targets of shape (n_samples, {n_outputs})"
        )
    out = as_float_array(arr, name, dtype, allow_1d=(n_outputs == 1))
    if out.shape[1] != n_outputs:
        raise InputError(
            f"{name} has {out.shape[1]} columns but the network has {n_outputs} outputs; "
            f"pass targets of shape (n_samples, {n_outputs})"
            + (" or integer labels of shape (n_samples,)" if classification else "")
        )
    return _check_probabilities(out, name) if classification else out


def _check_probabilities(Y: np.ndarray, name: str) -> np.ndarray:
    """Cross-entropy targets are probabilities: a value outside [0, 1] is a mislabelled set."""
    lo, hi = float(Y.min()), float(Y.max())
    if lo < 0 or hi > 1:
        raise InputError(
            f"{name} holds values from {lo:g} to {hi:g}, but cross-entropy targets must lie "
            "in [0, 1]: class labels 0/1 for a single output, one-hot rows or integer "
            "labels 0..n_classes-1 for several; build the network with as many outputs "
            "as classes"
        )
    return Y


def check_l2(l2) -> float:
    """λ of the L2 penalty as a float: a finite number >= 0.

    A negative λ would reward large weights and NaN would poison every cost, so both
    are refused rather than silently trained with.
    """
    if isinstance(l2, (bool, np.bool_)) or not isinstance(l2, (int, float, np.integer,
                                                                 np.floating)):
        raise InputTypeError(f"l2 must be a non-negative number, got {l2!r}")
    l2 = float(l2)
    if not (np.isfinite(l2) and l2 >= 0):
        raise InputError(f"l2 must be a non-negative number, got {l2}")
    return l2


def check_seed(seed, name: str = "seed") -> int | None:
    """``None`` or a non-negative integer, returned as a plain ``int`` (JSON-able)."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InputTypeError(f"{name} must be a non-negative integer or None, got {seed!r}")
    if seed < 0:
        raise InputError(f"{name} must be a non-negative integer or None, got {seed}")
    return int(seed)


def check_flag(value, name: str) -> bool:
    """A True/False argument as a ``bool``: a string such as ``"no"`` is refused, not
    taken as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(rng, name: str = "rng") -> np.random.Generator | None:
    """``None``, a ``numpy.random.Generator``, or a non-negative integer seed for one."""
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(check_seed(rng, name))


def check_path(path, name: str = "path"):
    """A file path (``str`` or ``os.PathLike``), or a clear error for anything else."""
    import os

    if not isinstance(path, (str, os.PathLike)) or (isinstance(path, str) and not path):
        raise InputTypeError(f"{name} must be a path (a str or pathlib.Path), got "
                             f"{path!r}")
    return path
