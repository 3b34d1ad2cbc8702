"""Activation functions and their derivatives, looked up by name.

Each activation is a small object with two methods that read like the math:

* ``forward(z)``  returns ``a = f(z)``;
* ``backward(z, a, grad_a)`` returns ``grad_z = grad_a * f'(z)`` (for softmax,
  the Jacobian-vector product, since its outputs are coupled).

Both take an optional ``out=`` array (same shape and dtype as the result, not
overlapping the inputs; ``backward``'s may be ``grad_a``) so that a training
loop can reuse its buffers: for arrays of a megabyte or more, a fresh
temporary costs as much as the arithmetic (the allocator returns such blocks to
the operating system and takes them back, page by page). The numbers are the
same with or without ``out``, bit for bit.

``backward`` receives both ``z`` and ``a`` because the cheapest form of the
derivative differs per function: the sigmoid's is ``a * (1 - a)``, the tanh's is
``1 - a**2``, ReLU's only needs the sign of ``z``. Nothing is stored between the
two calls: the caller keeps ``z`` and ``a`` (the network's cache).

The module-level functions ``sigmoid`` and ``sigmoid_prime`` are the tutorial's
``f`` and ``f'`` and work on scalars, vectors and matrices alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "get_activation",
    "sigmoid",
    "sigmoid_prime",
]


def sigmoid(z):
    """The logistic function ``1 / (1 + e^{-z})`` on a scalar or array.

    Computed through ``exp(-|z|)``, which lies in (0, 1], so it never overflows
    for large ``|z|`` of either sign.
    """
    z = np.asarray(z)
    out = np.empty_like(z, dtype=np.result_type(z.dtype, np.float32))
    _sigmoid_into(z, out)
    return out[()] if out.ndim == 0 else out


def sigmoid_prime(z):
    """Derivative of the sigmoid, ``e^{-z} / (1 + e^{-z})^2``, on a scalar or array."""
    s = sigmoid(z)
    return s * (1.0 - s)


#: arrays up to this size take the sigmoid's small-array path (same numbers)
_SMALL = 512


def _sigmoid_into(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # exp(-|z|) lies in (0, 1]: no overflow for either sign of z.
    e = np.copysign(z, -1.0, out=np.empty_like(out))    # -|z|
    np.exp(e, out=e)
    np.add(e, 1.0, out=out)
    # 1 / (1 + e^{-|z|}) = sigmoid(|z|), and sigmoid(-|z|) = e^{-|z|} / (1 + e^{-|z|})
    # = e * sigmoid(|z|): multiply by e where z < 0 and by 1 elsewhere. A masked
    # multiply (where=z < 0) runs 5x slower on large arrays; either factor below is
    # exactly e or 1, so both paths give the same numbers, bit for bit.
    if z.size <= _SMALL:  # the tutorial's 3x3: fewer, cheaper NumPy calls
        np.reciprocal(out, out=out)
        factor = np.exp(np.minimum(z, 0.0, out=e), out=e)       # e^{min(z, 0)}
    else:                 # large arrays: one exp, SIMD division
        np.divide(1.0, out, out=out)
        factor = np.maximum(e, z >= 0, out=e)                   # e <= 1
    np.multiply(factor, out, out=out)
    return out


def _copy_into(out: np.ndarray, values: np.ndarray) -> np.ndarray:
    np.copyto(out, values)
    return out


@dataclass(frozen=True)
class Activation:
    """Base class: an element-wise activation ``a = f(z)``."""

    name: str = "activation"

    def forward(self, z: np.ndarray, out: np.ndarray | None = None
                ) -> np.ndarray:  # pragma: no cover - abstract
        """Return ``a = f(z)``, written into ``out`` when given (``out`` may be ``z``
        itself only where :attr:`in_place` is True)."""
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Return ``dJ/dz`` given ``dJ/da`` (element-wise: ``grad_a * f'(z)``).

        Written into ``out`` when given (it may be ``grad_a``, never ``z`` or ``a``);
        the identity returns ``grad_a`` itself.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    #: True when the outputs are coupled (softmax): ``backward`` is not element-wise.
    coupled = False
    #: True when the output lies in (0, 1), so it can feed a cross-entropy.
    probabilistic = False
    #: True when ``forward(z, out=z)`` is safe (nothing of ``z`` is read after ``out``
    #: is written): prediction, which keeps no ``z``, then needs no second array.
    in_place = False


@dataclass(frozen=True)
class Sigmoid(Activation):
    name: str = "sigmoid"
    probabilistic = True

    def forward(self, z, out=None):
        return _sigmoid_into(z, np.empty_like(z) if out is None else out)

    def backward(self, z, a, grad_a, out=None):
        # f'(z) = a (1 - a);  (grad_a * a) * (1 - a)
        out = np.multiply(grad_a, a, out=out)
        out *= 1.0 - a
        return out


@dataclass(frozen=True)
class Tanh(Activation):
    name: str = "tanh"
    in_place = True

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, z, a, grad_a, out=None):
        # f'(z) = 1 - a^2;  grad_a * (1 - a^2), the factor built in place
        if out is None or out is grad_a:
            d = a * a
        else:
            d = np.multiply(a, a, out=out)
        np.subtract(1.0, d, out=d)
        if out is None and d.dtype == np.result_type(grad_a, d):
            out = d
        return np.multiply(grad_a, d, out=out)


@dataclass(frozen=True)
class ReLU(Activation):
    name: str = "relu"
    in_place = True

    def forward(self, z, out=None):
        return np.maximum(z, 0, dtype=z.dtype, out=out)

    def backward(self, z, a, grad_a, out=None):
        # f'(z) = 1 where z > 0, else 0
        return np.multiply(grad_a, z > 0, out=out)


@dataclass(frozen=True)
class LeakyReLU(Activation):
    name: str = "leaky_relu"
    alpha: float = 0.01
    in_place = True  # np.where builds the result before it is copied

    def forward(self, z, out=None):
        a = np.where(z > 0, z, z * self.alpha).astype(z.dtype, copy=False)
        return a if out is None else _copy_into(out, a)

    def backward(self, z, a, grad_a, out=None):
        # f'(z) = 1 where z > 0, else alpha
        return np.multiply(grad_a, np.where(z > 0, 1.0, self.alpha).astype(z.dtype, copy=False),
                           out=out)


@dataclass(frozen=True)
class Identity(Activation):
    name: str = "identity"
    in_place = True

    def forward(self, z, out=None):
        return z.copy() if out is None else _copy_into(out, z)

    def backward(self, z, a, grad_a, out=None):
        return grad_a


@dataclass(frozen=True)
class Softmax(Activation):
    """Row-wise softmax: ``a_ij = e^{z_ij} / sum_k e^{z_ik}`` (output layer only)."""

    name: str = "softmax"
    coupled = True
    probabilistic = True
    in_place = True  # the row maxima are taken before z is overwritten

    def forward(self, z, out=None):
        a = np.subtract(z, z.max(axis=1, keepdims=True), out=out)  # shift: exp never overflows
        np.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)
        return a

    def backward(self, z, a, grad_a, out=None):
        # Jacobian-vector product: dJ/dz_i = a_i (g_i - sum_k g_k a_k)
        out = np.subtract(grad_a, (grad_a * a).sum(axis=1, keepdims=True), out=out)
        return np.multiply(a, out, out=out)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Sigmoid(),
    "tanh": Tanh(),
    "relu": ReLU(),
    "leaky_relu": LeakyReLU(),
    "identity": Identity(),
    "softmax": Softmax(),
}
#: activations that may be used on hidden layers (softmax couples units: output only)
HIDDEN_ACTIVATIONS = tuple(k for k in ACTIVATIONS if k != "softmax")


def get_activation(name: str | Activation, *, hidden: bool = False) -> Activation:
    """Look an activation up by name.

    Raises
    ------
    InputError
        (a ``ValueError``) If the name is unknown (the message lists the valid names), or if
        ``hidden=True`` and the activation can only be used on the output layer.
    """
    if isinstance(name, Activation):
        act = name
    else:
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise InputError(
                f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        act = ACTIVATIONS[name]
    if hidden and act.coupled:
        raise InputError(
            f"activation {act.name!r} can only be used on the output layer; "
            f"for hidden layers choose one of {', '.join(HIDDEN_ACTIVATIONS)}"
        )
    return act
