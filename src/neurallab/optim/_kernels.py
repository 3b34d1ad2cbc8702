"""Compiled element-wise kernels: one pass over memory instead of one per operation.

Adam's update, written with NumPy's in-place operations, is thirteen passes over
the parameter vector (``m *= β₁``, ``tmp = g·(1−β₁)``, ``m += tmp`` and so on) —
for a 235,000-parameter network about 170 µs per half-vector, more than a
quarter of a mini-batch step. The same arithmetic as one compiled loop reads
each array once and writes it once: about 45 µs.

**Same numbers, bit for bit.** The loop performs exactly the NumPy version's
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

_adam = None          # the compiled kernel, once loaded
_unavailable = False  # Numba missing, disabled, or failed to compile


def _compile():
    import numba

    def adam_sum(p, out, g0, g1, m, s, b1, c1, b2, c2, root_c2, eps, lr_c1,
                 tiny):  # pragma: no cover - compiled; tests compare it with NumPy's path
        zero = tiny - tiny                              # (of the arrays' dtype)
        for i in range(p.size):
            g = g0[i] + g1[i]                           # the two halves' gradients
            mi = m[i] * b1 + g * c1                     # m ← β₁m + (1−β₁)g
            if mi < tiny and mi > -tiny:                # subnormal: to zero (see Adam)
                mi = zero
            si = s[i] * b2 + (g * g) * c2               # s ← β₂s + (1−β₂)g²
            m[i] = mi
            s[i] = si
            d = np.sqrt(si) * root_c2 + eps             # sqrt(ŝ) + ε
            out[i] = p[i] - (mi / d) * lr_c1            # θ ← θ − η̂·m/(…)

    options = dict(nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
    try:
        return numba.njit(cache=True, **options)(adam_sum)
    except RuntimeError:   # no writable cache location: compile on each run
        return numba.njit(cache=False, **options)(adam_sum)


def adam_kernel():
    """The compiled fused Adam update, or ``None`` where it cannot be used.

    Signature ``(p, out, g0, g1, m, s, β₁, 1−β₁, β₂, 1−β₂, 1/sqrt(1−β₂ᵗ), ε,
    η/(1−β₁ᵗ), tiny)`` with one-dimensional arrays of one dtype and scalars of
    that dtype: the gradient is ``g0 + g1``, ``m`` and ``s`` are updated in place
    (``m`` smaller than ``tiny`` in magnitude becomes 0), the updated parameters
    are written to ``out`` — another array than ``p``: a loop whose output may
    overlap its inputs is not vectorised (eight times slower).
    """
    global _adam, _unavailable
    if _adam is None and not _unavailable:
        if os.environ.get("NEURALLAB_NUMBA", "1") == "0":
            _unavailable = True
            return None
        try:
            _adam = _compile()
        except ImportError:
            _unavailable = True
        except Exception as exc:  # pragma: no cover - a broken Numba install
            warnings.warn(f"neurallab: the compiled Adam kernel is unavailable ({exc}); "
                          "using NumPy (the same numbers, slower)", RuntimeWarning,
                          stacklevel=2)
            _unavailable = True
    return _adam


def use_kernel(size: int, *arrays: np.ndarray) -> bool:
    """Whether a part of ``size`` elements of these arrays goes to the kernel."""
    if size < MIN_SIZE or _unavailable:
        return False
    dt = arrays[0].dtype
    return (dt in (np.float32, np.float64)
            and all(a.dtype == dt and a.ndim == 1 and a.flags.c_contiguous
                    and a.flags.writeable for a in arrays)
            and adam_kernel() is not None)
