"""Quasi-Newton and conjugate-gradient training through ``scipy.optimize.minimize``.

The network's parameters are already one flat vector, so SciPy gets them as they
are: ``minimize(problem.loss_and_grad, θ0, jac=True, method=...)``. One cost and
gradient evaluation per call — the function returns both, since backpropagation
computes the cost on its way anyway.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import FullBatchOptimizer, IterationCallback, OptimizeResult, Problem, check_number

__all__ = ["ScipyOptimizer", "BFGS", "LBFGS", "CG", "NewtonCG"]


def _minimize():
    """``scipy.optimize.minimize``, imported on first use: loading it takes ~0.15 s,
    which ``import neurallab`` (and ``neurallab --help``) should not pay."""
    from scipy.optimize import minimize

    return minimize


class ScipyOptimizer(FullBatchOptimizer):
    """Any gradient-based method of ``scipy.optimize.minimize``.

    Parameters
    ----------
    max_iter : int, optional
        Iteration cap (``fit``'s ``epochs`` is used when this is ``None``).
    gtol : float, optional
        Stop when the gradient norm falls below this (SciPy's own default if None).
    options : dict, optional
        Further options passed to SciPy as they are.
    """

    method = "BFGS"

    def __init__(self, max_iter: int | None = None, gtol: float | None = None,
                 options: dict | None = None):
        if max_iter is not None and (not isinstance(max_iter, int) or max_iter < 1):
            raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
        if gtol is not None and not check_number(gtol, "gtol") > 0:
            raise InputError(f"gtol must be a positive number or None, got {gtol}")
        self.max_iter = max_iter
        self.gtol = gtol
        self.options = dict(options or {})
        _minimize()   # SciPy loads here, not inside the first fit's timed run

    def _options(self, max_iter: int) -> dict:
        opts = {"maxiter": self.max_iter or max_iter}
        if self.gtol is not None:
            key = "xtol" if self.method == "Newton-CG" else "gtol"
            opts[key] = self.gtol
        if self.method == "L-BFGS-B":
            opts.setdefault("maxfun", 15000)
        opts.update(self.options)
        return opts

    def run(self, problem: Problem, max_iter: int,
            callback: IterationCallback) -> OptimizeResult:
        n_it = 0

        def cb(intermediate_result):
            nonlocal n_it
            n_it += 1
            if callback(intermediate_result.x, float(intermediate_result.fun)):
                raise StopIteration

        fun = problem.loss_and_grad
        if problem.x0.dtype != np.float64:
            # SciPy's line searches and tolerances assume float64: hand it float64 vectors
            # (the network computes in its own dtype; params[...] = θ casts back)
            def fun(theta):
                J, grad = problem.loss_and_grad(theta)
                return J, grad.astype(np.float64)

        res = _minimize()(fun, problem.x0.astype(np.float64), jac=True,
                       method=self.method, callback=cb, options=self._options(max_iter))
        return OptimizeResult(np.asarray(res.x), float(res.fun), int(res.get("nit", n_it)),
                              int(res.get("nfev", 0)), str(res.message), bool(res.success))


class BFGS(ScipyOptimizer):
    """BFGS: builds an approximate inverse Hessian from successive gradients (chapter 6)."""

    name = "bfgs"
    method = "BFGS"


class LBFGS(ScipyOptimizer):
    """L-BFGS-B: BFGS with a limited memory of past steps; scales to many parameters.

    Parameters
    ----------
    max_iter, gtol, options
        As for :class:`ScipyOptimizer`.
    memory : int
        How many recent steps (SciPy's ``maxcor``) model the curvature; 10 is SciPy's
        and scikit-learn's choice. Each costs ``O(n_params)`` work per iteration,
        small next to a gradient over the training set, and more of them often means
        fewer iterations on a network's ill-conditioned loss (on the 8-32-32-1
        regression of ``benchmarks/bench_regression.py``, 50 instead of 10 reach the
        same error in about a third fewer iterations, seeds 0–4).
    """

    name = "lbfgs"
    method = "L-BFGS-B"

    def __init__(self, max_iter: int | None = None, gtol: float | None = None,
                 options: dict | None = None, *, memory: int = 10):
        super().__init__(max_iter, gtol, options)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
            raise InputError(f"memory must be a positive integer, got {memory!r}")
        self.memory = memory

    def _options(self, max_iter: int) -> dict:
        opts = super()._options(max_iter)
        opts.setdefault("maxcor", self.memory)  # an explicit options["maxcor"] wins
        return opts


class CG(ScipyOptimizer):
    """Nonlinear conjugate gradients (Polak–Ribière)."""

    name = "cg"
    method = "CG"


class NewtonCG(ScipyOptimizer):
    """Truncated Newton; Hessian-vector products by finite differences of the gradient."""

    name = "newton-cg"
    method = "Newton-CG"

    def run(self, problem: Problem, max_iter: int,
            callback: IterationCallback) -> OptimizeResult:
        if problem.x0.dtype != np.float64:
            # its finite-difference step (~1e-8 relative) is below float32's resolution,
            # so every Hessian-vector product would come out as noise or zero
            raise InputError(
                "optimizer 'newton-cg' estimates Hessian-vector products from gradient "
                f"differences, which a {problem.x0.dtype} network cannot resolve; use "
                "dtype='float64' or optimizer='lbfgs'"
            )
        return super().run(problem, max_iter, callback)
