"""First-order optimizers: gradient descent, SGD with (Nesterov) momentum, Adam.

Each keeps its state in arrays shaped like the flat parameter vector and updates
*every* weight of the network in one vectorised operation per step::

    gd / sgd:   θ ← θ − η·g
    momentum:   v ← μ·v − η·g;            θ ← θ + v
    nesterov:   v ← μ·v − η·g;            θ ← θ + μ·v − η·g
    adam:       m ← β₁m + (1−β₁)g;  s ← β₂s + (1−β₂)g²
                θ ← θ − η·(m / (1−β₁ᵗ)) / (sqrt(s / (1−β₂ᵗ)) + ε)

A learning-rate schedule multiplies η by a factor that depends on the epoch:
``"cosine"`` anneals to 0 over the run, ``"step"`` halves every ``step_size``
epochs (``step_gamma``), or pass any ``callable(epoch, epochs) -> factor``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import _kernels
from ..errors import InputError
from .base import Optimizer, check_number

__all__ = ["FirstOrderOptimizer", "SGD", "GradientDescent", "Adam"]

SCHEDULES = ("constant", "cosine", "step")


class FirstOrderOptimizer(Optimizer):
    """Base class: ``step(params, grad)`` updates ``params`` in place."""

    def __init__(self, lr: float, schedule: str | Callable | None = None,
                 step_size: int = 10, step_gamma: float = 0.5):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise InputError(f"lr (the learning rate) must be a positive number, got {lr!r}")
        if schedule is not None and not callable(schedule) and schedule not in SCHEDULES:
            raise InputError(
                f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)} "
                "or pass a callable(epoch, epochs) -> factor"
            )
        self.lr = float(lr)
        self.schedule = schedule
        self.step_size = int(step_size)
        self.step_gamma = float(step_gamma)
        self._factor = 1.0
        self._t = 0

    def reset(self, n_params: int, dtype) -> None:
        """Forget all state (new training run)."""
        self._t = 0
        self._factor = 1.0
        self._allocate(n_params, dtype)

    def _allocate(self, n_params: int, dtype) -> None:
        """Fresh state arrays for ``n_params`` parameters (none here). Called by
        :meth:`reset`, and by the first :meth:`step` of an optimizer used on its own —
        which must keep a schedule already set with :meth:`set_epoch`."""

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Apply the schedule for ``epoch`` (0-based) of ``epochs``."""
        s = self.schedule
        if s is None or s == "constant":
            self._factor = 1.0
        elif s == "cosine":
            self._factor = 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))
        elif s == "step":
            self._factor = self.step_gamma ** (epoch // max(self.step_size, 1))
        else:
            self._factor = float(s(epoch, epochs))

    @property
    def current_lr(self) -> float:
        return self.lr * self._factor

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """One update of ``params`` (in place) from the gradient ``grad``."""
        self._begin_step(params)
        self._update(params, grad, slice(None))

    def _begin_step(self, params: np.ndarray) -> None:
        """Start update number ``t + 1``: state allocated if needed, counter advanced.

        A step is split in two so that the element-wise update itself
        (:meth:`_update`) can run on disjoint parts of the vector at once — two
        threads, one half each — while the per-step scalars are computed once.
        """
        self._t += 1

    def _update(self, params: np.ndarray, grad: np.ndarray, part: slice) -> None:
        """Apply the current step to ``params[part]`` (element-wise)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def config(self) -> dict:
        d = super().config()
        if callable(d.get("schedule")):
            d["schedule"] = "callable"
        return d


class SGD(FirstOrderOptimizer):
    """(Mini-batch) stochastic gradient descent, optionally with momentum.

    Parameters
    ----------
    lr : float
        Learning rate η.
    momentum : float
        μ in [0, 1); 0 is plain gradient descent.
    nesterov : bool
        Nesterov's look-ahead form of momentum.

    Notes
    -----
    The velocity form ``v ← μv − η·g; θ ← θ + v`` equals ``torch.optim.SGD`` (which
    keeps ``b ← μb + g`` and steps ``−η·b``) while η is constant. Under a learning-rate
    schedule they differ: PyTorch applies the new η to the whole accumulated ``b``;
    here each past step keeps the η it was taken with.
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs):
        super().__init__(lr, **kwargs)
        if not 0.0 <= check_number(momentum, "momentum") < 1.0:
            raise InputError(f"momentum must lie in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise InputError("nesterov=True needs a momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._v: np.ndarray | None = None
        self._lr_now = self.lr

    def _allocate(self, n_params, dtype):
        self._v = np.zeros(n_params, dtype=dtype) if self.momentum else None

    def _begin_step(self, params):
        if self.momentum and (self._v is None or self._v.shape != params.shape):
            self._allocate(params.size, params.dtype)
        super()._begin_step(params)
        self._lr_now = self.current_lr

    def _update(self, params, grad, part):
        lr, p, g = self._lr_now, params[part], grad[part]
        if not self.momentum:
            p -= lr * g
            return
        v = self._v[part]
        v *= self.momentum
        v -= lr * g
        if self.nesterov:
            p += self.momentum * v - lr * g
        else:
            p += v


class GradientDescent(SGD):
    """Full-batch gradient descent (``"gd"``): SGD on the whole training set."""

    name = "gd"
    #: refuses mini-batches: ``batch_size`` must be None (the whole training set)
    full_batch_only = True


class Adam(FirstOrderOptimizer):
    """Adam (Kingma & Ba): per-parameter steps from running moments of the gradient."""

    name = "adam"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        for nm, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= check_number(b, nm) < 1.0:
                raise InputError(f"{nm} must lie in [0, 1), got {b}")
        if not check_number(eps, "eps") > 0:
            raise InputError(f"eps must be > 0 (it keeps the step finite), got {eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._m = self._s = self._tmp = None
        self._root_c2 = self._lr_c1 = 1.0

    def _allocate(self, n_params, dtype):
        self._m = np.zeros(n_params, dtype=dtype)
        self._s = np.zeros(n_params, dtype=dtype)
        self._tmp = np.empty(n_params, dtype=dtype)

    def _begin_step(self, params):
        if self._m is None or self._m.shape != params.shape:
            self._allocate(params.size, params.dtype)
            self._t = 0    # new moments: the bias correction starts again
        super()._begin_step(params)
        t = self._t
        self._root_c2 = 1.0 / math.sqrt(1.0 - self.beta2 ** t)   # bias corrections
        self._lr_c1 = self.current_lr / (1.0 - self.beta1 ** t)

    def _update(self, params, grad, part):
        b1, b2 = self.beta1, self.beta2
        m, s, tmp = self._m[part], self._s[part], self._tmp[part]
        g, p = grad[part], params[part]
        if _kernels.use_kernel(p.size, p, g, m, s):
            # one compiled pass: the same operations as below, in the same order
            f = p.dtype.type
            _kernels.adam_kernel()(p, g, m, s, f(b1), f(1.0 - b1), f(b2), f(1.0 - b2),
                                   f(self._root_c2), f(self.eps), f(self._lr_c1),
                                   np.finfo(p.dtype).tiny)
            return
        # m ← β₁m + (1−β₁)g ; s ← β₂s + (1−β₂)g²   (in place, no temporaries)
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        # a parameter whose gradient stays 0 (a unit that stopped firing) has its m
        # decay by β₁ every step, through the subnormal numbers below the smallest
        # normal float; arithmetic on those is many times slower on x86 CPUs (one
        # in twenty such entries made the whole update four times slower). Such an
        # m is set to 0: a step of under 1e-30, which no weight would feel anyway.
        np.copyto(m, 0, where=np.abs(m, out=tmp) < np.finfo(m.dtype).tiny)
        s *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        s += tmp
        # θ ← θ − η/(1−β₁ᵗ) · m / (sqrt(s)/sqrt(1−β₂ᵗ) + ε)
        np.sqrt(s, out=tmp)
        tmp *= self._root_c2
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self._lr_c1
        p -= tmp
