"""Activations: values against their formulas, derivatives against finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import neurallab as nl
from neurallab.activations import (
    ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    get_activation,
    sigmoid,
    sigmoid_prime,
)
from neurallab.errors import InputError

FORMULAS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
}

moderate = arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)),
                  elements=st.floats(-8, 8))


# ----------------------------------------------------------------------------- the sigmoid
def test_sigmoid_on_scalar_vector_and_matrix():
    """Chapter 2: one function for a number, a vector and a matrix."""
    assert sigmoid(0) == 0.5
    assert isinstance(sigmoid(1.0), float | np.floating)
    np.testing.assert_allclose(sigmoid(np.array([-1.0, 0.0, 1.0])),
                               [1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-1))], rtol=1e-15)
    m = np.arange(6.0).reshape(2, 3) - 2
    assert sigmoid(m).shape == (2, 3)
    np.testing.assert_allclose(sigmoid(m), 1 / (1 + np.exp(-m)), rtol=1e-15)
    assert sigmoid(np.array([1, 2])).dtype == np.float64  # integers become floats


def test_sigmoid_prime_is_the_tutorials_formula():
    z = np.linspace(-6, 6, 25)
    np.testing.assert_allclose(sigmoid_prime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2,
                               rtol=1e-12)
    assert sigmoid_prime(0.0) == 0.25


def test_sigmoid_never_overflows():
    z = np.array([-1e4, -800.0, -40.0, 40.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning
        s = sigmoid(z)
        a = ACTIVATIONS["sigmoid"].forward(z)
    np.testing.assert_array_equal(s, a)
    assert s[0] == 0.0 and s[-1] == 1.0
    assert 0 < s[2] < 1e-17 and s[3] == 1.0  # 1 − 4e-18 rounds to 1 in float64
    # symmetric: σ(−z) = 1 − σ(z) where both are representable
    zz = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(sigmoid(-zz), 1 - sigmoid(zz), atol=1e-16)


def test_sigmoid_keeps_float32():
    z = np.linspace(-3, 3, 7, dtype=np.float32)
    assert sigmoid(z).dtype == np.float32
    assert ACTIVATIONS["sigmoid"].forward(z).dtype == np.float32


# ----------------------------------------------------------------------------- all of them
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_matches_formula(name):
    z = np.linspace(-4, 4, 12).reshape(3, 4) + 0.05
    np.testing.assert_allclose(ACTIVATIONS[name].forward(z), FORMULAS[name](z), rtol=1e-14)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_keeps_dtype_and_does_not_modify_input(name):
    for dtype in (np.float32, np.float64):
        z = np.linspace(-2, 2, 6, dtype=dtype).reshape(2, 3)
        before = z.copy()
        a = ACTIVATIONS[name].forward(z)
        assert a.dtype == dtype
        np.testing.assert_array_equal(z, before)
        a[...] = 7  # the result never aliases the input
        np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(z=moderate, seed=st.integers(0, 1000))
def test_backward_is_the_vector_jacobian_product(name, z, seed):
    """``backward(z, a, g)`` = Jᵀg with J = ∂a/∂z, checked by central differences."""
    act = ACTIVATIONS[name]
    if name in ("relu", "leaky_relu"):
        z = np.where(np.abs(z) < 1e-3, 0.5, z)  # central differences are wrong at a kink
    g = np.random.default_rng(seed).normal(size=z.shape)
    # J(z)ᵀg is the gradient of the scalar g·f(z) by z
    flat = z.ravel().copy()
    num = nl.numerical_gradient(lambda t: np.vdot(g, act.forward(t.reshape(z.shape))),
                                flat, eps=1e-6).reshape(z.shape)
    got = act.backward(z, act.forward(z), g)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_relu_and_leaky_relu_derivatives():
    z = np.array([[-2.0, -0.5, 0.5, 3.0]])
    g = np.ones_like(z)
    relu, leaky = ACTIVATIONS["relu"], ACTIVATIONS["leaky_relu"]
    np.testing.assert_array_equal(relu.backward(z, relu.forward(z), g), [[0, 0, 1, 1]])
    np.testing.assert_array_equal(leaky.backward(z, leaky.forward(z), g),
                                  [[0.01, 0.01, 1, 1]])


def test_softmax_rows_are_probabilities_and_stable():
    sm = ACTIVATIONS["softmax"]
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0], [-800.0, -801.0, -802.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = sm.forward(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(a[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(a[2], sm.forward(z[2:] + 802.0)[0], rtol=1e-14)
    # shift invariance
    np.testing.assert_allclose(sm.forward(z[:1] + 50.0), a[:1], rtol=1e-14)


def test_softmax_backward_equals_the_explicit_jacobian():
    sm = ACTIVATIONS["softmax"]
    z = np.array([[0.3, -1.2, 2.0, 0.1]])
    a = sm.forward(z)[0]
    jac = np.diag(a) - np.outer(a, a)  # ∂a_i/∂z_j
    g = np.array([[1.0, -2.0, 0.5, 3.0]])
    np.testing.assert_allclose(sm.backward(z, a[None], g)[0], jac.T @ g[0], rtol=1e-14)


def test_registry():
    assert list(ACTIVATIONS) == ["sigmoid", "tanh", "relu", "leaky_relu", "identity",
                                 "softmax"]
    assert HIDDEN_ACTIVATIONS == ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
    assert get_activation("tanh") is ACTIVATIONS["tanh"]
    assert get_activation(ACTIVATIONS["relu"], hidden=True) is ACTIVATIONS["relu"]
    assert ACTIVATIONS["softmax"].coupled and not ACTIVATIONS["sigmoid"].coupled
    assert {n for n, a in ACTIVATIONS.items() if a.probabilistic} == {"sigmoid", "softmax"}


def test_registry_errors():
    with pytest.raises(InputError, match=r"unknown activation 'swish'; choose one of "
                                         r"sigmoid, tanh, relu, leaky_relu, identity, softmax"):
        get_activation("swish")
    with pytest.raises(InputError, match=r"unknown activation 3"):
        get_activation(3)
    with pytest.raises(InputError, match=r"'softmax' can only be used on the output layer"):
        get_activation("softmax", hidden=True)
    with pytest.raises(ValueError):  # InputError is a ValueError
        nl.Network([2, 2, 2], activation="softmax")
