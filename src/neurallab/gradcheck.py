"""Numerical gradient checking (chapter 5).

Backpropagation is easy to get subtly wrong, and a wrong gradient still trains —
just badly. So we compare it with central differences on the flat vector θ::

    g_num[i] = (J(θ + ε·eᵢ) − J(θ − ε·eᵢ)) / 2ε,   ε = 1e-4

and report ``‖g − g_num‖ / ‖g + g_num‖``. Central differences are accurate to
O(ε²), so a correct float64 gradient gives about 1e-8 or less; a bug gives
something near 1.

Check at ordinary weights (freshly initialised ones, say), not at a trained
minimum: there the gradient is almost zero, so the finite differences' own
rounding error (about 1e-12 / ε) is a large part of ``‖g + g_num‖`` and the
relative error of a correct gradient can rise to 1e-7–1e-5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validation import check_flag, check_l2
from .errors import InputError, InputTypeError

__all__ = ["GradientReport", "numerical_gradient", "check_gradients"]


@dataclass(frozen=True)
class GradientReport:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    relative_error : float
        ``‖g − g_num‖ / ‖g + g_num‖`` (0 when both are zero).
    analytic, numerical : ndarray, shape (n_params,)
        Backpropagation's and the central-difference gradient.
    worst_index : int
        The parameter where ``|g − g_num|`` is largest.
    worst_abs_error : float
        That largest absolute difference.
    """

    relative_error: float
    analytic: np.ndarray
    numerical: np.ndarray
    worst_index: int
    worst_abs_error: float
    eps: float

    @property
    def ok(self) -> bool:
        """True when the relative error is below 1e-7 (float64) — the gradient is right."""
        return self.relative_error < 1e-7

    @property
    def near_zero(self) -> bool:
        """True when the gradient itself is nearly zero (largest entry below 1e-6).

        There, e.g. at a trained minimum, the relative error compares two roundings
        and can read anything up to 1 for a correct gradient; the absolute
        difference (:attr:`worst_abs_error`) is the figure to read.
        """
        return float(np.abs(self.analytic).max(initial=0.0)) < 1e-6

    def __str__(self) -> str:
        text = (f"relative error {self.relative_error:.3e} "
                f"(worst parameter {self.worst_index}: |g - g_num| = {self.worst_abs_error:.3e})")
        if self.near_zero and not self.ok:
            text += ("; the gradient is nearly zero here (a minimum?), so rounding dominates "
                     "the relative error: check at random weights instead")
        return text


def numerical_gradient(f: Callable[[np.ndarray], float], theta: np.ndarray,
                       eps: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``theta``.

    ``theta`` is perturbed in place one entry at a time and restored afterwards, so
    it must be a float array: in an integer array ``θᵢ + ε`` would round back to
    ``θᵢ`` and every difference would silently come out 0.

    Parameters
    ----------
    f : callable
        ``f(theta) -> float``.
    theta : ndarray of float, any shape (any memory layout)
    eps : float
        The step ε, a finite number > 0.

    Returns
    -------
    g_num : ndarray, same shape as ``theta``, float64
    """
    _check_eps(eps)
    if not isinstance(theta, np.ndarray) or theta.dtype.kind != "f":
        what = f"dtype {theta.dtype}" if isinstance(theta, np.ndarray) else \
            type(theta).__name__
        raise InputTypeError(
            f"theta must be a float NumPy array (it is perturbed in place), got {what}; "
            "pass np.array(theta, dtype=float)"
        )
    g = np.empty(theta.shape, dtype=np.float64)
    for i in np.ndindex(theta.shape):  # one entry at a time, whatever the shape
        old = theta[i]
        theta[i] = old + eps
        jp = f(theta)
        theta[i] = old - eps
        jm = f(theta)
        theta[i] = old
        g[i] = (jp - jm) / (2.0 * eps)
    return g


def _float64_copy(net):
    """``net`` in float64: the same configuration and (widened) parameters."""
    config = net.config()
    config["dtype"] = "float64"
    copy = type(net).from_config(config)
    copy.params[...] = net.params
    return copy


def _check_eps(eps) -> None:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer,
                                                                  np.floating)):
        raise InputTypeError(f"eps must be a positive number, got {eps!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be positive, got {eps}")


def check_gradients(net, X, y, loss: str = "sse", l2: float = 0.0, eps: float = 1e-4,
                    normalize: bool = False, dropout_seed: int | None = None,
                    grad_fn: Callable | None = None) -> GradientReport:
    """Compare backpropagation with central differences on ``net``'s parameters.

    Parameters
    ----------
    net : Network
    X, y, loss, l2, normalize
        As in :meth:`Network.loss_and_grad`.
    eps : float
        The finite-difference step (the tutorial's 1e-4).
    dropout_seed : int, optional
        Check the gradient *with dropout*: every evaluation draws the same masks
        from ``numpy.random.default_rng(dropout_seed)``.
    grad_fn : callable, optional
        ``grad_fn(net, X, y) -> (J, grad)`` to check instead of ``net.loss_and_grad``
        (used to show what a planted bug does).

    Returns
    -------
    GradientReport

    Notes
    -----
    The relative error ``‖g − g_num‖ / ‖g + g_num‖`` is only meaningful where the
    gradient is not near zero. At a trained minimum ``g ≈ 0``: the denominator is
    tiny while the finite differences still carry their rounding (about
    ``ε_machine · J / eps``), so a correct backpropagation can read 1e-1 there
    (:attr:`GradientReport.near_zero` says so). Check at random weights instead
    (``neurallab gradcheck --reinit`` on the command line), as the tutorial does
    before training.

    A float32 network is checked on a float64 copy of itself (same parameters, the
    same backpropagation code): in float32 the differences' rounding, about
    ``1e-7 · J / eps``, would swamp any comparison and fail a correct gradient.
    ``net`` itself is never changed.
    """
    from .network import Network

    if not isinstance(net, Network):
        raise InputTypeError(f"net must be a neurallab Network, got {type(net).__name__}")
    normalize = check_flag(normalize, "normalize")
    if net.dtype == np.float32:
        net = _float64_copy(net)

    def rng():
        return None if dropout_seed is None else np.random.default_rng(dropout_seed)

    _check_eps(eps)
    l2 = check_l2(l2)

    if grad_fn is None:
        _, g = net.loss_and_grad(X, y, loss=loss, l2=l2, normalize=normalize, rng=rng())
    else:
        _, g = grad_fn(net, X, y)
    X, Y, loss_obj = net._prepare(X, y, loss)
    theta = net.params  # perturbed in place, restored by numerical_gradient

    def f(_theta):
        return net._cost(X, Y, loss_obj, float(l2), normalize, rng())

    g_num = numerical_gradient(f, theta, eps)
    g = np.asarray(g, dtype=np.float64)
    denom = np.linalg.norm(g + g_num)
    diff = np.linalg.norm(g - g_num)
    rel = 0.0 if denom == 0 and diff == 0 else float(diff / denom) if denom else float("inf")
    absdiff = np.abs(g - g_num)
    worst = int(absdiff.argmax())
    return GradientReport(rel, g, g_num, worst, float(absdiff[worst]), eps)
