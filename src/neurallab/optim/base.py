"""What every optimizer sees: a problem on one flat parameter vector.

First-order optimizers (:class:`FirstOrderOptimizer`) update ``params`` in place
from a gradient, one mini-batch at a time; the training loop drives them.
Full-batch optimizers (:class:`FullBatchOptimizer`: SciPy's and
Levenberg–Marquardt) run their own iterations on a :class:`Problem` and call
back after each one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputTypeError


def check_number(value, name: str) -> float:
    """``value`` as a float, or an :class:`InputTypeError` naming the setting."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise InputTypeError(f"{name} must be a number, got {value!r}")
    return float(value)


class Problem(Protocol):
    """The training objective as a function of θ (the network's flat ``params``)."""

    #: the network's parameter buffer; optimizers may read it as the start point
    x0: np.ndarray

    def loss_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``J(θ)`` and ``∇J(θ)``; also leaves θ in the network."""

    def loss(self, theta: np.ndarray) -> float:
        """``J(θ)`` only."""

    def residuals_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals ``r = ŷ − y`` (flattened) and their Jacobian ``∂r/∂θ``."""


#: called after every iteration with (θ, J); returning True stops the optimizer
IterationCallback = Callable[[np.ndarray, float], bool]


@dataclass
class OptimizeResult:
    """What a full-batch optimizer reports when it stops."""

    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    message: str
    success: bool


class Optimizer:
    """Base class; ``name`` is the registry key."""

    name = "optimizer"
    full_batch = False

    def config(self) -> dict:
        """Plain-JSON description of the settings."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class FullBatchOptimizer(Optimizer):
    full_batch = True

    def run(self, problem: Problem, max_iter: int,
            callback: IterationCallback) -> OptimizeResult:  # pragma: no cover - abstract
        raise NotImplementedError
