"""Scalers: put inputs and targets on a common scale, fitted on training data only.

Why scale at all: the tutorial's inputs are hours (0–10) and its outputs are
points (0–100), while a sigmoid output lives in (0, 1). Dividing by a fixed
maximum brings both into [0, 1]. The scale must come from the *training* data
alone and be reused unchanged for validation, test and new data — computing it
again on the test set is a classic leak (and a classic bug of chapter 7).

Every scaler is ``x_scaled = (x − offset) / scale`` per column, so one pair of
arrays describes it; ``to_dict``/``from_dict`` make it plain JSON for the model
file.
"""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array
from .errors import InputError, InputTypeError

__all__ = ["Scaler", "MaxAbsScaler", "MinMaxScaler", "StandardScaler", "get_scaler"]


class Scaler:
    """``x_scaled = (x − offset) / scale``, column by column.

    Parameters
    ----------
    scale, offset : float or array-like, optional
        Fix the scale (and offset) instead of fitting them; e.g. the tutorial divides
        scores by 100, the maximum possible score: ``MaxAbsScaler(scale=100)``.
    """

    kind = "scaler"

    def __init__(self, scale=None, offset=None):
        if offset is not None and scale is None:
            raise InputError("offset needs a scale too: pass scale=... with offset=..., or "
                             "neither and fit the scaler")
        self.scale_ = None if scale is None else _numbers(scale, "scale")
        self.offset_ = None if offset is None else _numbers(offset, "offset")
        self._fixed = scale is not None
        if self.scale_ is not None and self.offset_ is None:
            self.offset_ = np.zeros_like(self.scale_)
        if self.scale_ is not None and (~np.isfinite(self.scale_) | (self.scale_ == 0)).any():
            raise InputError("scale must be finite and non-zero")
        if self.offset_ is not None:
            if not np.isfinite(self.offset_).all():
                raise InputError("offset must be finite")
            if self.offset_.size != self.scale_.size and 1 not in (self.offset_.size,
                                                                     self.scale_.size):
                raise InputError(f"scale has {self.scale_.size} values but offset has "
                                 f"{self.offset_.size}; give one per column (or one for all)")

    @property
    def fitted(self) -> bool:
        return self.scale_ is not None

    def _fit_stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError  # pragma: no cover - abstract

    def fit(self, X) -> Scaler:
        """Learn the scale from training data ``X`` (n_samples, n_features)."""
        if self._fixed:
            return self
        X = as_float_array(X, "X", np.float64, allow_1d=True)
        with np.errstate(over="ignore", invalid="ignore"):
            scale, offset = self._fit_stats(X)
        if not (np.isfinite(scale).all() and np.isfinite(offset).all()):
            col = int(np.flatnonzero(~(np.isfinite(scale) & np.isfinite(offset)))[0])
            raise InputError(
                f"X's column {col} is too large to scale: its statistics overflow float64 "
                f"(values up to {np.abs(X[:, col]).max():.3g}); rescale it first, e.g. "
                "divide by a power of ten"
            )
        # a constant column: leave it unscaled rather than divide by zero
        scale = np.where(scale == 0, 1.0, scale)
        self.scale_, self.offset_ = scale.astype(float), offset.astype(float)
        return self

    def _check(self, X) -> tuple[np.ndarray, tuple[int, ...]]:
        """``X`` as a finite 2-D float array (float32 kept) and the shape to answer in.

        The same checks as :meth:`fit`: 1-D input is one column (as in ``fit``), so
        its answer is 1-D again.
        """
        if not self.fitted:
            raise InputError(f"this {type(self).__name__} is not fitted; call fit(X_train) first")
        dtype = getattr(X, "dtype", None)
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
        arr = as_float_array(X, "X", dtype, allow_1d=True)
        self._check_columns(arr.shape[1])
        return arr, np.shape(X) if np.ndim(X) == 1 else arr.shape

    def _check_columns(self, n_columns: int) -> None:
        if self.scale_.size not in (1, n_columns):
            raise InputError(f"the scaler was fitted on {self.scale_.size} columns, got "
                             f"{n_columns}; pass data with the columns it was fitted on")

    def transform(self, X) -> np.ndarray:
        """Scale ``X``; keeps a float32 input float32."""
        X, shape = self._check(X)
        return self._apply(X).reshape(shape)

    def inverse_transform(self, X) -> np.ndarray:
        """Map scaled values back to raw units."""
        X, shape = self._check(X)
        return self._unapply(X).reshape(shape)

    # the arithmetic alone, for arrays the library has already checked as 2-D and
    # finite (a second NaN scan of a large X on every predict would be work done
    # twice); the caller checks the columns with _check_columns
    def _apply(self, X: np.ndarray) -> np.ndarray:
        dt = X.dtype
        return (X - self.offset_.astype(dt)) / self.scale_.astype(dt)

    def _unapply(self, X: np.ndarray) -> np.ndarray:
        dt = X.dtype
        return X * self.scale_.astype(dt) + self.offset_.astype(dt)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict:
        """Plain-JSON description (kind, scale, offset)."""
        return {
            "kind": self.kind,
            "scale": None if self.scale_ is None else self.scale_.tolist(),
            "offset": None if self.offset_ is None else self.offset_.tolist(),
            "fixed": self._fixed,
        }

    @staticmethod
    def from_dict(d: dict) -> Scaler:
        cls = _SCALERS.get(d.get("kind"))
        if cls is None:
            raise InputError(f"unknown scaler kind {d.get('kind')!r}")
        s = cls()
        if d.get("scale") is not None:
            s.scale_ = np.asarray(d["scale"], float)
            s.offset_ = np.asarray(d["offset"], float)
        s._fixed = bool(d.get("fixed", False))
        return s

    def __repr__(self) -> str:
        state = "unfitted" if not self.fitted else f"scale={np.round(self.scale_, 6).tolist()}"
        return f"{type(self).__name__}({state})"


class MaxAbsScaler(Scaler):
    """Divide each column by its largest absolute value (the tutorial's scaling)."""

    kind = "max"

    def _fit_stats(self, X):
        return np.abs(X).max(axis=0), np.zeros(X.shape[1])


class MinMaxScaler(Scaler):
    """Map each column's training range onto [0, 1]."""

    kind = "minmax"

    def _fit_stats(self, X):
        lo = X.min(axis=0)
        return X.max(axis=0) - lo, lo


class StandardScaler(Scaler):
    """Zero mean, unit variance per column."""

    kind = "standard"

    def _fit_stats(self, X):
        return X.std(axis=0), X.mean(axis=0)


def _numbers(value, name: str) -> np.ndarray:
    """A fixed scale or offset as a 1-D float array, or a clear error."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind not in "iuf" or arr.ndim != 1:  # not bool: True is no scale
        raise InputTypeError(f"{name} must be a number or a 1-D list of numbers, got "
                             f"{value!r}")
    return arr.astype(float)


_SCALERS = {c.kind: c for c in (MaxAbsScaler, MinMaxScaler, StandardScaler)}


def get_scaler(spec) -> Scaler | None:
    """``None``, a :class:`Scaler`, or a name: ``"max"``, ``"minmax"``, ``"standard"``."""
    if spec is None or isinstance(spec, Scaler):
        return spec
    if isinstance(spec, str) and spec in _SCALERS:
        return _SCALERS[spec]()
    raise InputError(f"unknown scaler {spec!r}; choose one of {', '.join(_SCALERS)} or None")
