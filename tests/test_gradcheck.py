"""Backpropagation against central differences, for every pairing the library allows.

The threshold is the tutorial's: a correct float64 gradient gives a relative error
``‖g − g_num‖ / ‖g + g_num‖`` of about 1e-8 or less with ε = 1e-4. What is left is
the central difference's own O(ε²) truncation error, which grows with the curvature
of the cost, so the networks here work on data on the tutorial's scale (inputs in
[−1, 1], targets in [0, 1], Xavier weights). ReLU's kink is the one place central
differences are wrong by construction — a pre-activation within ε of 0 switches side
between J(θ + ε) and J(θ − ε) — so samples that close to a kink are left out, and
the test says so.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neurallab as nl
from neurallab.activations import HIDDEN_ACTIVATIONS
from neurallab.errors import InputError, InputTypeError

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
OUTPUT = HIDDEN + ["softmax"]
LOSSES = ["sse", "mse", "binary_crossentropy", "categorical_crossentropy"]
#: the output activations each cross-entropy accepts (the squared errors take any)
CROSS_ENTROPY = {"binary_crossentropy": ("sigmoid", "softmax"),
                 "categorical_crossentropy": ("softmax",)}

COMPATIBLE = [(h, o, loss) for h, o, loss in itertools.product(HIDDEN, OUTPUT, LOSSES)
              if o in CROSS_ENTROPY.get(loss, OUTPUT)]
INCOMPATIBLE = [(o, loss) for o, loss in itertools.product(OUTPUT, CROSS_ENTROPY)
                if o not in CROSS_ENTROPY[loss]]

#: how close (in z) to ReLU's kink a sample may come; ε·|input| is at most ~1e-4
KINK_MARGIN = 1e-3


def test_the_grid_covers_every_activation():
    assert sorted(HIDDEN) == sorted(HIDDEN_ACTIVATIONS)
    assert sorted(OUTPUT) == sorted(nl.activations.ACTIVATIONS)
    assert sorted(LOSSES) == sorted(nl.losses.LOSSES)
    assert len(COMPATIBLE) == 5 * 6 * 2 + 5 * 2 + 5 * 1


def make_net(sizes, hidden, output, bias=True, seed=1, dtype="float64", dropout=0.0):
    """A Xavier-initialised network whose biases are small and non-zero (so their
    gradients are exercised too)."""
    net = nl.Network(sizes, activation=hidden, output_activation=output, bias=bias,
                     init="xavier", seed=seed, dtype=dtype, dropout=dropout)
    rng = np.random.default_rng(seed + 1000)
    for b in net.b:
        if b is not None:
            b[...] = rng.normal(scale=0.1, size=b.shape)
    return net


def away_from_kinks(net, X, margin=KINK_MARGIN):
    """Rows of ``X`` whose pre-activations all lie at least ``margin`` from 0."""
    _, cache = net.forward(X, return_cache=True)
    keep = np.ones(X.shape[0], dtype=bool)
    for z in cache.z:
        keep &= (np.abs(z) > margin).all(axis=1)
    return X[keep], keep


def problem(hidden, output, loss, bias, seed=1, n=8, sizes=(3, 4, 5, 3)):
    """Network, inputs and targets (integer labels for cross-entropy) for one pairing."""
    net = make_net(list(sizes), hidden, output, bias, seed)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, sizes[0]))
    if loss in CROSS_ENTROPY:
        y = rng.integers(0, sizes[-1], size=n)
    else:
        y = rng.uniform(0, 1, size=(n, sizes[-1]))
    if "relu" in (hidden, output) or "leaky_relu" in (hidden, output):
        X, keep = away_from_kinks(net, X)
        y = y[keep]
        assert X.shape[0] >= n // 2, "the fixed data should mostly avoid the kink"
    return net, X, y


@pytest.mark.parametrize("hidden, output, loss", COMPATIBLE)
def test_gradient_every_pairing(hidden, output, loss):
    """Every hidden × output × loss, with and without bias, λ = 0 and 0.3, sum and mean."""
    worst = []
    for bias, l2, normalize in itertools.product((True, False), (0.0, 0.3), (False, True)):
        net, X, y = problem(hidden, output, loss, bias)
        before = net.get_params()
        report = nl.check_gradients(net, X, y, loss=loss, l2=l2, normalize=normalize)
        np.testing.assert_array_equal(net.params, before)  # θ restored exactly
        assert np.linalg.norm(report.analytic) > 1e-3  # not a vacuous comparison
        worst.append((report.relative_error, bias, l2, normalize))
    assert max(worst)[0] < 1e-8, max(worst)


@pytest.mark.parametrize("output, loss", INCOMPATIBLE)
def test_incompatible_loss_and_output_are_refused(output, loss):
    net, X, _ = problem("tanh", output, "sse", True)
    y = np.zeros(X.shape[0], dtype=int)
    msg = (rf"loss '{loss}' needs an output activation in .*softmax.* \((outputs must lie "
           rf"in \(0, 1\)|outputs that sum to 1: .* use binary_crossentropy)\), "
           rf"got '{output}'; change output_activation or the loss")
    with pytest.raises(InputError, match=msg):
        nl.check_gradients(net, X, y, loss=loss)
    with pytest.raises(InputError, match=msg):
        net.loss_and_grad(X, y, loss=loss)
    with pytest.raises(InputError, match=msg):
        net.fit(X, y, loss=loss, verbose=0, epochs=1)


@pytest.mark.parametrize("output, loss", [("softmax", "categorical_crossentropy"),
                                          ("softmax", "binary_crossentropy"),
                                          ("sigmoid", "binary_crossentropy")])
def test_integer_labels_and_one_hot_give_the_same_cost_and_gradient(output, loss):
    net, X, labels = problem("tanh", output, loss, True)
    J1, g1 = net.loss_and_grad(X, labels, loss=loss)
    J2, g2 = net.loss_and_grad(X, np.eye(3)[labels], loss=loss)
    assert J1 == J2
    np.testing.assert_array_equal(g1, g2)
    assert nl.check_gradients(net, X, np.eye(3)[labels], loss=loss).relative_error < 1e-8


@pytest.mark.parametrize("hidden", HIDDEN)
def test_single_sigmoid_output_with_binary_labels(hidden):
    net, X, _ = problem(hidden, "sigmoid", "sse", True, sizes=(3, 4, 1))
    labels = (X[:, 0] > 0).astype(int)
    for l2 in (0.0, 0.1):
        r = nl.check_gradients(net, X, labels, loss="binary_crossentropy", l2=l2,
                               normalize=True)
        assert r.relative_error < 1e-8


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", [("sigmoid", "sse"), ("identity", "mse"),
                                          ("softmax", "categorical_crossentropy")])
def test_gradient_with_dropout(hidden, output, loss):
    """With the same masks in every evaluation, dropout's gradient is exact too."""
    net = make_net([3, 6, 5, 3], hidden, output, dropout=[0.3, 0.5])
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, size=(8, 3))
    y = rng.integers(0, 3, 8) if loss in CROSS_ENTROPY else rng.uniform(0, 1, (8, 3))
    if hidden in ("relu", "leaky_relu"):
        X, keep = away_from_kinks(net, X)
        y = y[keep]
    r = nl.check_gradients(net, X, y, loss=loss, l2=0.01, dropout_seed=3)
    assert r.relative_error < 1e-8
    # the masks really were applied: the gradient differs from the one without dropout
    _, g_plain = net.loss_and_grad(X, y, loss=loss, l2=0.01)
    assert not np.allclose(r.analytic, g_plain)


def test_dropout_masks_zero_some_units_and_scale_the_rest():
    net = make_net([3, 200, 1], "tanh", "identity", dropout=0.25)
    X = np.ones((50, 3))
    _, cache = net.forward(X, return_cache=True, training=True,
                           rng=np.random.default_rng(0))
    mask = cache.masks[0]
    assert set(np.unique(mask)) == {0.0, 1 / 0.75}
    assert abs((mask == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(cache.inputs[1], cache.a[0] * mask)
    # prediction (training=False) uses no mask
    _, cache = net.forward(X, return_cache=True)
    assert cache.masks[0] is None


def test_the_tutorial_network_on_the_tutorial_data(tutorial_net, sleep_scaled):
    """Chapter 5 as written: standard-normal weights, no biases, sigmoid, sse."""
    X, y = sleep_scaled
    for seed in range(5):
        r = nl.check_gradients(tutorial_net(seed), X, y)
        assert r.relative_error < 1e-8, (seed, r)
        assert r.ok


@pytest.mark.parametrize("hidden, output, loss", [
    ("sigmoid", "sigmoid", "sse"), ("tanh", "identity", "mse"),
    ("relu", "softmax", "categorical_crossentropy"),
    ("leaky_relu", "sigmoid", "binary_crossentropy"),
])
def test_float32_gradient_matches_float64(hidden, output, loss):
    net64, X, y = problem(hidden, output, loss, True)
    net32 = nl.Network.from_config({**net64.config(), "dtype": "float32"})
    net32.set_params(net64.params)
    assert net32.params.dtype == np.float32
    J64, g64 = net64.loss_and_grad(X, y, loss=loss, l2=0.1)
    J32, g32 = net32.loss_and_grad(X, y, loss=loss, l2=0.1)
    assert g32.dtype == np.float32
    assert abs(J32 - J64) <= 1e-5 * abs(J64)
    assert np.linalg.norm(g32 - g64) <= 1e-4 * np.linalg.norm(g64)


def test_a_planted_bug_is_caught_and_located(tutorial_net, sleep_scaled):
    """Chapter 5's point: a wrong gradient gives a relative error far above 1e-8."""
    X, y = sleep_scaled
    net = tutorial_net(0)

    def buggy(net, X, y):
        J, g = net.loss_and_grad(X, y)
        g = g.copy()
        g[4] *= 2.0  # one wrong entry (in W1)
        return J, g

    r = nl.check_gradients(net, X, y, grad_fn=buggy)
    assert r.relative_error > 1e-3
    assert not r.ok
    assert r.worst_index == 4
    assert "worst parameter 4" in str(r)

    def no_sigmoid_prime(net, X, y):
        # forgetting f'(z3) in δ3 — a classic mistake
        _, cache = net.forward(X, return_cache=True)
        delta3 = -(y - cache.yhat)
        dW2 = cache.inputs[1].T @ delta3
        delta2 = (delta3 @ net.W[1].T) * cache.a[0] * (1 - cache.a[0])
        dW1 = X.T @ delta2
        return 0.0, np.concatenate([dW1.ravel(), dW2.ravel()])

    assert nl.check_gradients(net, X, y, grad_fn=no_sigmoid_prime).relative_error > 0.1


def test_numerical_gradient_of_a_known_function():
    theta = np.array([0.5, -1.0, 2.0])
    before = theta.copy()
    g = nl.numerical_gradient(lambda t: float(np.sum(t ** 3) + t[0] * t[1]), theta)
    exact = 3 * before ** 2 + np.array([before[1], before[0], 0.0])
    # central differences on a cubic are off by exactly ε² (the third derivative / 6 · 2ε²)
    np.testing.assert_allclose(g, exact + 1e-8, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(theta, before)


@pytest.mark.parametrize("theta", [np.full((2, 3), 0.5),               # 2-D
                                   np.full((3, 4), 0.5)[:, ::2],      # not contiguous
                                   np.full((2, 1, 2), 0.5)])
def test_numerical_gradient_of_any_shape(theta):
    view_of = theta.base
    g = nl.numerical_gradient(lambda t: float(np.sum(t ** 2)), theta)
    assert g.shape == theta.shape
    np.testing.assert_allclose(g, 2 * theta, rtol=1e-9)
    assert theta.base is view_of and (theta == 0.5).all()  # perturbed in place, restored


def test_a_float32_network_is_checked_in_float64(sleep_scaled):
    """In float32 the differences' rounding alone reads ~1e-4: a correct gradient
    would be failed. The check runs on a float64 copy; the network is not touched."""
    X, y = sleep_scaled
    net = nl.Network([2, 3, 1], seed=0, dtype="float32")
    before = net.params.copy()
    report = nl.check_gradients(net, X, y)
    assert report.ok and report.relative_error < 1e-8
    assert net.dtype == np.float32 and net.params.dtype == np.float32
    np.testing.assert_array_equal(net.params, before)


def test_eps_must_be_positive(tutorial_net, sleep_scaled):
    with pytest.raises(InputError, match=r"eps must be positive, got 0"):
        nl.check_gradients(tutorial_net(), *sleep_scaled, eps=0)


@pytest.mark.parametrize("eps, cls, message", [
    (float("inf"), InputError, "eps must be positive, got inf"),
    (float("nan"), InputError, "eps must be positive, got nan"),
    (-1e-4, InputError, "eps must be positive, got -0.0001"),
    ("1e-4", InputTypeError, "eps must be a positive number, got '1e-4'"),
])
def test_bad_eps(tutorial_net, sleep_scaled, eps, cls, message):
    with pytest.raises(cls, match=re.escape(message)):
        nl.check_gradients(tutorial_net(), *sleep_scaled, eps=eps)


@pytest.mark.parametrize("theta, what", [(np.array([1, 2]), "dtype int64"),
                                         ([1.0, 2.0], "list")])
def test_numerical_gradient_needs_a_float_array(theta, what):
    # an integer θ would round θᵢ ± ε back to θᵢ: a gradient of zeros, silently
    with pytest.raises(InputTypeError, match=re.escape(
            f"theta must be a float NumPy array (it is perturbed in place), got {what}; "
            "pass np.array(theta, dtype=float)")):
        nl.numerical_gradient(lambda t: float(np.sum(np.square(t))), theta)


def test_report_when_both_gradients_vanish():
    net = nl.Network([2, 2, 1], activation="identity", bias=False, seed=0)
    net.params[...] = 0.0
    # all weights 0 and ŷ = y = 0: the gradient is exactly zero
    r = nl.check_gradients(net, np.ones((3, 2)), np.zeros((3, 1)))
    assert r.relative_error == 0.0
    assert r.ok


def test_at_a_trained_minimum_the_report_explains_a_high_relative_error():
    rng = np.random.default_rng(0)
    X = rng.random((20, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(20)
    net = nl.Network([2, 4, 1], activation="tanh", seed=0)
    fresh = nl.check_gradients(net, X, y)
    assert fresh.ok and not fresh.near_zero and "nearly zero" not in str(fresh)
    net.fit(X, y, optimizer="lm", epochs=500, verbose=0)
    r = nl.check_gradients(net, X, y)
    # backpropagation is right (the absolute difference is rounding), but g ≈ 0
    assert r.worst_abs_error < 1e-10 and r.near_zero
    assert not r.ok and r.relative_error > 1e-4
    assert "the gradient is nearly zero here (a minimum?)" in str(r)
    assert "check at random weights instead" in str(r)


@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       hidden=st.sampled_from(HIDDEN), output=st.sampled_from(OUTPUT),
       loss=st.sampled_from(LOSSES), bias=st.booleans(),
       l2=st.sampled_from([0.0, 1e-3, 0.5]), normalize=st.booleans(),
       seed=st.integers(0, 2**16), n=st.integers(1, 12))
def test_gradient_random_architectures(sizes, hidden, output, loss, bias, l2, normalize,
                                       seed, n):
    if output not in CROSS_ENTROPY.get(loss, OUTPUT):
        loss = "sse"
    if output == "softmax" and sizes[-1] == 1:
        sizes = [*sizes[:-1], 2]  # a one-unit softmax is refused (see test_validation)
    net = make_net(sizes, hidden, output, bias, seed)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, sizes[0]))
    if loss in CROSS_ENTROPY:
        y = rng.integers(0, 2, size=(n, sizes[-1])) if sizes[-1] > 1 else rng.integers(0, 2, n)
    else:
        y = rng.uniform(0, 1, size=(n, sizes[-1]))
    X, keep = away_from_kinks(net, X)
    y = y[keep]
    if X.shape[0] == 0:
        return
    r = nl.check_gradients(net, X, y, loss=loss, l2=l2, normalize=normalize)
    scale = np.linalg.norm(r.analytic) + np.linalg.norm(r.numerical)
    # relative error, or absolute when the gradient itself is (numerically) zero
    assert r.relative_error < 1e-7 or scale < 1e-7, (r, scale)
