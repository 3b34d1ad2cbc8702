"""Compiled kernels (Numba): one pass over memory instead of one per NumPy call.

Adam's update, written with NumPy's in-place operations, is thirteen passes over
the parameter vector (``m *= β₁``, ``tmp = g·(1−β₁)``, ``m += tmp`` and so on) —
for half of a 235,000-parameter network about 170 µs, a sixth of a mini-batch
step. The same arithmetic as one compiled loop reads each array once and writes
it once: about 45 µs. The output layer of a classifier — softmax, cross-entropy,
its gradient and the count of correct rows — is some ten NumPy calls on a small
array (60 µs of call overhead for 128 × 10); one loop does it in a few.

**Same numbers, bit for bit** (Adam). The loop performs exactly the NumPy version's
operations, in the same order and precision (float32 scalars for float32
arrays), and is compiled *without* fast-math: no fused multiply-adds, no
reciprocal approximations, no reordering. So it only changes the speed, and
the NumPy path (used for small vectors, without Numba, or with
``NEURALLAB_NUMBA=0``) gives the same weights.

Numba is imported on first use only, and only for vectors of at least
:data:`MIN_SIZE` elements (smaller updates take microseconds in NumPy, and
importing and compiling would cost more than a small network's whole training).
Compiled code is cached on disk (Numba's cache: next to this file, or in the
user's cache folder when that is read-only).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

#: vectors (or parts of one) shorter than this are updated by NumPy
MIN_SIZE = 1 << 14

_compiled: dict = {}   # name -> compiled kernel
_unavailable = False   # Numba missing, disabled, or failed to compile


def _adam(p, grad, m, s, b1, c1, b2, c2, root_c2, eps, lr_c1,
          tiny):  # pragma: no cover - compiled; tests compare it with NumPy's path
    zero = tiny - tiny                              # (of the arrays' dtype)
    for i in range(p.size):
        g = grad[i]
        mi = m[i] * b1 + g * c1                     # m ← β₁m + (1−β₁)g
        if mi < tiny and mi > -tiny:                # subnormal: to zero (see Adam)
            mi = zero
        si = s[i] * b2 + (g * g) * c2               # s ← β₂s + (1−β₂)g²
        m[i] = mi
        s[i] = si
        d = np.sqrt(si) * root_c2 + eps             # sqrt(ŝ) + ε
        p[i] = p[i] - (mi / d) * lr_c1              # θ ← θ − η̂·m/(…)


def _softmax_xent(z, Y, yhat, delta, scale):  # pragma: no cover - compiled; tested
    value = 0.0                                     # accumulated in float64
    correct = 0
    for i in range(z.shape[0]):
        mx = z[i, 0]
        for j in range(1, z.shape[1]):
            if z[i, j] > mx:
                mx = z[i, j]
        total = z[i, 0] - z[i, 0]                   # 0 in the arrays' dtype
        for j in range(z.shape[1]):
            e = np.exp(z[i, j] - mx)                # shifted: never overflows
            yhat[i, j] = e
            total += e
        log_total = np.log(total)
        y_sum = total - total
        best, y_best = 0, 0
        for j in range(z.shape[1]):
            yhat[i, j] = yhat[i, j] / total
            y = Y[i, j]
            y_sum += y
            value -= y * ((z[i, j] - mx) - log_total)   # −y·log_softmax(z)
            if yhat[i, j] > yhat[i, best]:
                best = j
            if y > Y[i, y_best]:
                y_best = j
        for j in range(z.shape[1]):
            delta[i, j] = (yhat[i, j] * y_sum - Y[i, j]) * scale
        correct += best == y_best
    return value, correct


def _bias_relu(z, b):  # pragma: no cover - compiled; tests compare it with NumPy's path
    finite = True
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[i, j] + b[j]
            if v - v != 0:                          # NaN or ±∞ (before the ReLU hides it)
                finite = False
            if v <= 0:                              # NaN stays, −0 becomes +0: np.maximum's
                z[i, j] = 0
            else:
                z[i, j] = v
    return finite


def _compile(name: str):
    import numba

    options = dict(nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
    func = {"adam": _adam, "softmax_xent": _softmax_xent, "bias_relu": _bias_relu}[name]
    try:
        return numba.njit(cache=True, **options)(func)
    except RuntimeError:   # no writable cache location: compile on each run
        return numba.njit(cache=False, **options)(func)


def kernel(name: str):
    """The compiled kernel ``name``, or ``None`` where Numba cannot be used.

    ``"adam"``: ``(p, g, m, s, β₁, 1−β₁, β₂, 1−β₂, 1/sqrt(1−β₂ᵗ), ε, η/(1−β₁ᵗ),
    tiny)`` with one-dimensional arrays of one dtype and scalars of that dtype:
    ``p``, ``m`` and ``s`` are updated in place (``m`` smaller than ``tiny`` in
    magnitude becomes 0). The four arrays must not overlap (then the loop is
    vectorised; where they might, it is not, and runs eight times slower).

    ``"softmax_xent"``: ``(z, Y, yhat, delta, scale) -> (cost, correct)`` for a
    softmax output layer and the categorical cross-entropy, row by row: ``yhat``
    the softmax of ``z``; the cost ``−Σ Y·log_softmax(z)`` (accumulated in float64);
    ``delta = (yhat·ΣₖYₖ − Y)·scale``; ``correct`` the rows whose largest ``yhat``
    and largest ``Y`` are in the same column (the first, on ties). Some ten NumPy
    calls on a 128 × 10 array cost some 60 µs; this loop, a few.

    ``"bias_relu"``: ``(z, b) -> finite`` for a C-contiguous ``(n, k)`` array ``z``
    and ``b`` of shape ``(k,)``, one dtype: ``z ← max(z + b, 0)`` in place, exactly
    as ``np.maximum(z + b, 0)`` (NaN kept, −0 made +0), and whether every ``z + b``
    was finite. For prediction: one pass where NumPy makes three (bias, ReLU, and
    the NaN scan) — 40 µs against 320 µs for 2,048 × 256.
    """
    global _unavailable
    if _unavailable:
        return None
    if name not in _compiled:
        if os.environ.get("NEURALLAB_NUMBA", "1") == "0":
            _unavailable = True
            return None
        try:
            _compiled[name] = _compile(name)
        except ImportError:
            _unavailable = True
        except Exception as exc:  # pragma: no cover - a broken Numba install
            warnings.warn(f"neurallab: compiled kernels are unavailable ({exc}); using "
                          "NumPy (the same results, slower)", RuntimeWarning, stacklevel=2)
            _unavailable = True
    return _compiled.get(name)


def adam_kernel():
    """The compiled Adam update (see :func:`kernel`), or ``None``."""
    return kernel("adam")


def use_kernel(size: int, *arrays: np.ndarray) -> bool:
    """Whether an update of ``size`` elements of these arrays goes to the Adam kernel."""
    if size < MIN_SIZE or _unavailable:
        return False
    dt = arrays[0].dtype
    return (dt in (np.float32, np.float64)
            and all(a.dtype == dt and a.ndim == 1 and a.flags.c_contiguous
                    and a.flags.writeable for a in arrays)
            and adam_kernel() is not None)
