"""Loss functions, looked up by name.

A loss here is the *data term* of the cost, summed over samples:

* ``sse``  — ``½·Σ(y − ŷ)²``, exactly the tutorial's cost;
* ``mse``  — ``Σ(y − ŷ)² / k`` summed over samples (k outputs), so that with
  ``normalize=True`` it is the usual mean squared error;
* ``binary_crossentropy`` — ``−Σ[y·log ŷ + (1 − y)·log(1 − ŷ)]`` (sigmoid or
  softmax outputs);
* ``categorical_crossentropy`` — ``−Σ y·log ŷ`` (softmax outputs only: the cost
  only rewards the true class's ŷ, so it needs outputs that sum to 1 — with
  independent sigmoids every output would go to 1; use ``binary_crossentropy``
  for those).

The network divides by the number of samples when ``normalize=True`` and adds the
L2 penalty; a loss only knows about one batch of outputs.

Two methods read like the math:

* ``value(y, yhat, z, activation)``: the summed loss. ``z`` (the output
  pre-activation) is passed so cross-entropy can be computed from the logits,
  never taking ``log(0)``;
* ``output_delta(y, yhat, z, activation)``: ``∂J/∂z`` at the output layer. For
  sigmoid + binary cross-entropy and softmax + categorical cross-entropy the
  chain rule collapses to ``ŷ − y`` (the fused gradient — cheaper and exact even
  where ``f'(z)`` underflows); otherwise ``activation.backward(z, ŷ, ∂J/∂ŷ)``.

``residual_scale(k)`` is defined by the squared-error losses, whose cost is
``c·Σ r²`` with ``r = ŷ − y``; Levenberg–Marquardt works on these residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .errors import InputError

__all__ = ["Loss", "LOSSES", "get_loss"]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    # log σ(z) = −softplus(−z) = min(z, 0) − log1p(e^{−|z|})
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


@dataclass(frozen=True)
class Loss:
    """Base class of a loss: ``value`` and ``output_delta`` (see module docs)."""

    name: str = "loss"
    #: output activations this loss accepts (``None``: any)
    requires: tuple[str, ...] | None = None
    #: True for losses whose targets are class probabilities / one-hot rows
    classification: bool = False
    #: why ``requires`` holds, for the error message
    why: str = "outputs must lie in (0, 1)"

    def value(self, y, yhat, z, activation: Activation) -> float:  # pragma: no cover
        raise NotImplementedError

    def residual_scale(self, n_outputs: int) -> float | None:
        """``c`` such that the loss is ``c·Σ r²`` with ``r = ŷ − y``; ``None`` if it is
        not a sum of squares (then Levenberg–Marquardt cannot be used)."""
        return None

    def grad_yhat(self, y, yhat) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def output_delta(self, y, yhat, z, activation: Activation) -> np.ndarray:
        """``∂J/∂z`` at the output layer (the chain rule through the activation)."""
        return activation.backward(z, yhat, self.grad_yhat(y, yhat))

    def value_and_delta(self, y, yhat, z, activation: Activation) -> tuple[float, np.ndarray]:
        """``value(...)`` and ``output_delta(...)`` together (training needs both).

        The squared errors share one residual ``ŷ − y`` between the two; the
        numbers are the same as from the separate calls. The delta is a new array
        the caller may modify in place.
        """
        return self.value(y, yhat, z, activation), self.output_delta(y, yhat, z, activation)

    def check_activation(self, activation: Activation) -> None:
        """Raise ``ValueError`` if this loss cannot be used with ``activation``."""
        if self.requires is not None and activation.name not in self.requires:
            raise InputError(
                f"loss {self.name!r} needs an output activation in "
                f"{', '.join(self.requires)} ({self.why}), got "
                f"{activation.name!r}; change output_activation or the loss"
            )


@dataclass(frozen=True)
class SumSquaredError(Loss):
    """``J = ½·Σ(y − ŷ)²`` — the tutorial's cost."""

    name: str = "sse"

    def residual_scale(self, n_outputs):
        return 0.5

    def value(self, y, yhat, z, activation):
        r = yhat - y
        return 0.5 * float(np.vdot(r, r))

    def grad_yhat(self, y, yhat):
        # ∂J/∂ŷ = −(y − ŷ)
        return yhat - y

    def value_and_delta(self, y, yhat, z, activation):
        r = yhat - y
        return 0.5 * float(np.vdot(r, r)), activation.backward(z, yhat, r, out=r)


@dataclass(frozen=True)
class MeanSquaredError(Loss):
    """``J = Σ_samples mean_outputs (y − ŷ)²`` (with ``normalize=True``: the MSE)."""

    name: str = "mse"

    def residual_scale(self, n_outputs):
        return 1.0 / n_outputs

    def value(self, y, yhat, z, activation):
        r = yhat - y
        return float(np.vdot(r, r)) / y.shape[1]

    def grad_yhat(self, y, yhat):
        return (yhat - y) * (2.0 / y.shape[1])

    def value_and_delta(self, y, yhat, z, activation):
        r = yhat - y
        value = float(np.vdot(r, r)) / y.shape[1]
        r *= 2.0 / y.shape[1]
        return value, activation.backward(z, yhat, r, out=r)


@dataclass(frozen=True)
class BinaryCrossEntropy(Loss):
    """``J = −Σ[y·log ŷ + (1 − y)·log(1 − ŷ)]``."""

    name: str = "binary_crossentropy"
    requires: tuple[str, ...] | None = ("sigmoid", "softmax")
    classification: bool = True

    def value(self, y, yhat, z, activation):
        if activation.name == "sigmoid":
            # log ŷ = log σ(z), log(1 − ŷ) = log σ(−z): stable for any z
            return float(-(y * _log_sigmoid(z) + (1 - y) * _log_sigmoid(-z)).sum())
        tiny = np.finfo(yhat.dtype).tiny
        log_p, log_q = np.log(np.maximum(yhat, tiny)), np.log(np.maximum(1 - yhat, tiny))
        return float(-(y * log_p + (1 - y) * log_q).sum())

    def grad_yhat(self, y, yhat):
        # ŷ(1 − ŷ) underflows to 0 where a softmax saturates; keep the quotient finite
        return (yhat - y) / np.maximum(yhat * (1.0 - yhat), np.finfo(yhat.dtype).tiny)

    def output_delta(self, y, yhat, z, activation):
        if activation.name == "sigmoid":
            return yhat - y  # fused: σ'(z)·(ŷ − y)/(ŷ(1 − ŷ)) = ŷ − y
        return super().output_delta(y, yhat, z, activation)


@dataclass(frozen=True)
class CategoricalCrossEntropy(Loss):
    """``J = −Σ y·log ŷ`` over samples and classes."""

    name: str = "categorical_crossentropy"
    requires: tuple[str, ...] | None = ("softmax",)
    classification: bool = True
    why: str = ("outputs that sum to 1: −Σ y·log ŷ only pushes the true class up, so "
                "independent sigmoid outputs would all go to 1; for those use "
                "binary_crossentropy")

    def value(self, y, yhat, z, activation):
        # log ŷ = log softmax(z), from the logits: never log(0)
        return float(-(y * _log_softmax(z)).sum())

    def grad_yhat(self, y, yhat):
        return -y / yhat

    def output_delta(self, y, yhat, z, activation):
        # fused: softmax'ᵀ(−y/ŷ) = ŷ·Σₖyₖ − y, which is ŷ − y when rows of y sum to 1
        s = y.sum(axis=1, keepdims=True)
        return yhat * s - y


LOSSES: dict[str, Loss] = {
    "sse": SumSquaredError(),
    "mse": MeanSquaredError(),
    "binary_crossentropy": BinaryCrossEntropy(),
    "categorical_crossentropy": CategoricalCrossEntropy(),
}
_ALIASES = {
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "cross_entropy": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy",
}


def get_loss(name: str | Loss) -> Loss:
    """Look a loss up by name (``"sse"``, ``"mse"``, ``"binary_crossentropy"``,
    ``"categorical_crossentropy"``; aliases ``"bce"``, ``"cce"``).

    Raises
    ------
    InputError
        (a ``ValueError``) If the name is unknown; the message lists the valid names.
    """
    if isinstance(name, Loss):
        return name
    if isinstance(name, str):
        key = _ALIASES.get(name, name)
        if key in LOSSES:
            return LOSSES[key]
    raise InputError(
        f"unknown loss {name!r}; choose one of {', '.join(LOSSES)} "
        f"(aliases: {', '.join(_ALIASES)})"
    )
