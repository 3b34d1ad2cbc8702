"""Optimizers, by name or as objects.

========== ================================================ =============
name       class                                            kind
========== ================================================ =============
``gd``     :class:`GradientDescent` (full-batch)            first order
``sgd``    :class:`SGD` (momentum, Nesterov)                first order
``adam``   :class:`Adam`                                    first order
``bfgs``   :class:`BFGS` (SciPy)                            full batch
``lbfgs``  :class:`LBFGS` (SciPy L-BFGS-B)                  full batch
``cg``     :class:`CG` (SciPy)                              full batch
``newton-cg`` :class:`NewtonCG` (SciPy)                     full batch
``lm``     :class:`LevenbergMarquardt`                      full batch
========== ================================================ =============
"""

from __future__ import annotations

from ..errors import InputError
from .base import FullBatchOptimizer, Optimizer, OptimizeResult
from .first_order import SGD, Adam, FirstOrderOptimizer, GradientDescent
from .lm import LevenbergMarquardt
from .scipy_opt import BFGS, CG, LBFGS, NewtonCG, ScipyOptimizer

__all__ = [
    "Optimizer", "FirstOrderOptimizer", "FullBatchOptimizer", "OptimizeResult",
    "SGD", "GradientDescent", "Adam", "ScipyOptimizer", "BFGS", "LBFGS", "CG", "NewtonCG",
    "LevenbergMarquardt", "OPTIMIZERS", "get_optimizer",
]

OPTIMIZERS = {
    "gd": GradientDescent,
    "sgd": SGD,
    "adam": Adam,
    "bfgs": BFGS,
    "lbfgs": LBFGS,
    "cg": CG,
    "newton-cg": NewtonCG,
    "lm": LevenbergMarquardt,
}


def get_optimizer(spec, **kwargs) -> Optimizer:
    """An optimizer object from a name (``kwargs`` go to its constructor) or as is."""
    if isinstance(spec, Optimizer):
        if kwargs:
            raise InputError("optimizer settings go into the optimizer object, not fit()")
        return spec
    key = spec.lower().replace("_", "-") if isinstance(spec, str) else spec
    if key == "newtoncg":
        key = "newton-cg"
    if key not in OPTIMIZERS:
        raise InputError(
            f"unknown optimizer {spec!r}; choose one of {', '.join(OPTIMIZERS)} "
            "or pass an object from neurallab.optim"
        )
    cls = OPTIMIZERS[key]
    if "lr" in kwargs and not issubclass(cls, FirstOrderOptimizer):
        raise InputError(
            f"a learning rate (lr) is for gd, sgd and adam; optimizer {key!r} chooses its own "
            "step lengths, so leave lr out"
        )
    return cls(**kwargs)
