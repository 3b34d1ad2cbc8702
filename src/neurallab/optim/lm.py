"""Levenberg–Marquardt: damped Gauss–Newton for squared-error losses.

For a cost ``J(θ) = c·Σ rᵢ² + (λ/2)·‖W‖²`` with residuals ``r = ŷ − y`` and their
Jacobian ``Jr = ∂r/∂θ`` (from backpropagation, one row per sample and output),
Gauss–Newton approximates the Hessian by ``H = 2c·JrᵀJr + λ·M`` (M: 1 on weights,
0 on biases) and the gradient is ``g = 2c·Jrᵀr + λ·M·θ``. Each iteration solves::

    (H + μ·I)·δ = −g

and accepts ``θ + δ`` if the cost falls (then μ shrinks: more Newton-like) or
rejects it and grows μ (more like a short gradient step). Small networks with a
few hundred parameters converge in a handful of iterations — this is MATLAB's
``trainlm``. SciPy's MINPACK ``lm`` needs at least as many residuals as
parameters, which the tutorial (3 residuals, 9 weights) does not have; the damping
term μ·I makes the system solvable regardless.

Memory is the limit: the Jacobian has ``n_samples · n_outputs × n_params``
entries; ``max_jacobian_bytes`` caps it with a clear error.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, JacobianTooLargeError
from .base import FullBatchOptimizer, IterationCallback, OptimizeResult, check_number

__all__ = ["LevenbergMarquardt"]


def _cholesky():
    """SciPy's ``(cho_factor, cho_solve)``, imported on first use (slow to load)."""
    from scipy.linalg import cho_factor, cho_solve

    return cho_factor, cho_solve


class LevenbergMarquardt(FullBatchOptimizer):
    """Levenberg–Marquardt for ``sse``/``mse`` losses.

    Parameters
    ----------
    mu : float
        Initial damping μ.
    mu_increase, mu_decrease : float
        Factors applied to μ after a rejected / accepted step.
    mu_max : float
        Give up when μ exceeds this (no step reduces the cost any more).
    gtol : float
        Stop when ``max|g|`` falls below this.
    ftol : float
        Stop when an accepted step reduces the cost by less than ``ftol·J``.
    max_jacobian_bytes : int
        Refuse problems whose Jacobian would need more memory (default 1 GiB).
    max_params : int
        Refuse networks with more parameters (the solve costs O(n_params³)).
    """

    name = "lm"

    def __init__(self, mu: float = 1e-3, mu_increase: float = 10.0, mu_decrease: float = 10.0,
                 mu_max: float = 1e10, gtol: float = 1e-10, ftol: float = 1e-15,
                 max_jacobian_bytes: int = 1 << 30, max_params: int = 5000):
        for name, value in (("mu", mu), ("mu_increase", mu_increase),
                            ("mu_decrease", mu_decrease), ("mu_max", mu_max), ("gtol", gtol),
                            ("ftol", ftol), ("max_jacobian_bytes", max_jacobian_bytes),
                            ("max_params", max_params)):
            if not check_number(value, name) >= 0:
                raise InputError(f"{name} must be a number >= 0, got {value}")
        if mu <= 0 or mu_increase <= 1 or mu_decrease <= 1 or mu_max < mu:
            raise InputError("mu must be > 0, mu_max >= mu and mu_increase, mu_decrease > 1")
        self.mu = float(mu)
        self.mu_increase = float(mu_increase)
        self.mu_decrease = float(mu_decrease)
        self.mu_max = float(mu_max)
        self.gtol = float(gtol)
        self.ftol = float(ftol)
        self.max_jacobian_bytes = int(max_jacobian_bytes)
        self.max_params = int(max_params)
        _cholesky()   # SciPy loads here, not inside the first fit's timed run

    def check_size(self, n_residuals: int, n_params: int, itemsize: int = 8) -> None:
        """Raise :class:`JacobianTooLargeError` if the problem is too big for LM."""
        nbytes = n_residuals * n_params * itemsize
        if nbytes > self.max_jacobian_bytes or n_params > self.max_params:
            raise JacobianTooLargeError(
                f"Levenberg–Marquardt needs a {n_residuals} x {n_params} Jacobian "
                f"({_size(nbytes)}; limit {_size(self.max_jacobian_bytes)}) "
                f"and a {n_params} x {n_params} solve (limit {self.max_params} parameters); "
                "use optimizer='lbfgs' or 'adam' for a problem this size, or raise "
                "LevenbergMarquardt(max_jacobian_bytes=..., max_params=...)"
            )

    def run(self, problem, max_iter: int, callback: IterationCallback) -> OptimizeResult:
        cho_factor, cho_solve = _cholesky()
        theta = problem.x0.copy()
        c, l2, wmask = problem.lm_terms()
        n_params = theta.size
        r, Jr = problem.residuals_and_jacobian(theta)
        nfev = 1

        def cost(r, th):
            return c * float(r @ r) + 0.5 * l2 * float(((th * wmask) ** 2).sum())

        J = cost(r, theta)
        mu = self.mu
        message, success = "maximum number of iterations reached", False
        it = 0
        diag = np.diag_indices(n_params)
        damped = np.empty((n_params, n_params), dtype=theta.dtype)  # H + μI, reused
        while it < max_iter:
            g = 2 * c * (Jr.T @ r) + l2 * wmask * theta
            if np.max(np.abs(g)) < self.gtol:
                message, success = "gradient below gtol", True
                break
            H = Jr.T @ Jr            # the expensive part: n_residuals · n_params² products
            H *= 2 * c
            if l2:
                H[diag] += l2 * wmask
            accepted = False
            while mu <= self.mu_max:
                np.copyto(damped, H)
                damped[diag] += mu
                try:
                    delta = -cho_solve(cho_factor(damped, overwrite_a=True, check_finite=False),
                                       g, check_finite=False)
                except np.linalg.LinAlgError:  # scipy.linalg's is this class
                    mu *= self.mu_increase
                    continue
                trial = theta + delta
                r_new = problem.residuals(trial)
                nfev += 1
                J_new = cost(r_new, trial)
                if np.isfinite(J_new) and J_new < J:
                    accepted = True
                    break
                mu *= self.mu_increase
            if not accepted:
                message, success = "no step reduces the cost (damping at its maximum)", True
                break
            it += 1
            mu = max(mu / self.mu_decrease, 1e-20)
            reduction = J - J_new
            theta, J = trial, J_new
            if callback(theta, J):
                message = "stopped by callback"
                break
            if reduction <= self.ftol * max(J, 1e-300):
                message, success = "cost reduction below ftol", True
                break
            # the Jacobian only when another iteration needs it
            r, Jr = problem.residuals_and_jacobian(theta)
        return OptimizeResult(theta, J, it, nfev, message, success)


def _size(nbytes: float) -> str:
    """``nbytes`` for people: ``"312 bytes"``, ``"1.5 MiB"``, ``"2.0 GiB"``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} bytes"
