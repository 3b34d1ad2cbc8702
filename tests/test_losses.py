"""Losses: hand-worked values, stability at extreme logits, fused gradients, the cost's terms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neurallab as nl
from neurallab.activations import ACTIVATIONS
from neurallab.errors import InputError
from neurallab.losses import LOSSES, Loss, get_loss

SIG, SOFT, IDENT = ACTIVATIONS["sigmoid"], ACTIVATIONS["softmax"], ACTIVATIONS["identity"]


def value(name, y, z, act):
    y, z = np.asarray(y, float), np.asarray(z, float)
    return LOSSES[name].value(y, act.forward(z), z, act)


# ----------------------------------------------------------------------------- values
def test_sse_is_exactly_half_the_sum_of_squares():
    y = np.array([[1.0], [2.0], [0.5]])
    yhat = np.array([[1.5], [1.0], [0.5]])
    assert LOSSES["sse"].value(y, yhat, yhat, IDENT) == 0.5 * (0.25 + 1.0 + 0.0) == 0.625


def test_mse_averages_over_outputs_and_sums_over_samples():
    y = np.array([[0.0, 1.0], [2.0, 2.0]])
    yhat = np.array([[1.0, 1.0], [0.0, 3.0]])
    # per sample: (1 + 0)/2 and (4 + 1)/2
    assert LOSSES["mse"].value(y, yhat, yhat, IDENT) == 0.5 + 2.5


def test_binary_crossentropy_hand_value():
    z = np.array([[0.0], [np.log(3.0)]])  # σ = 0.5 and 0.75
    y = np.array([[1.0], [0.0]])
    assert value("binary_crossentropy", y, z, SIG) == pytest.approx(
        -np.log(0.5) - np.log(0.25), rel=1e-14)


def test_categorical_crossentropy_hand_value():
    z = np.log(np.array([[1.0, 2.0, 1.0], [1.0, 1.0, 2.0]]))  # softmax = [¼ ½ ¼], [¼ ¼ ½]
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert value("categorical_crossentropy", y, z, SOFT) == pytest.approx(
        -np.log(0.5) - np.log(0.25), rel=1e-14)


def test_categorical_crossentropy_refuses_sigmoid_outputs():
    """−Σ y·log ŷ is smallest when every sigmoid output is 1: a fit would "succeed"
    (loss near 0) with a model that says yes to every class. Refused up front."""
    with pytest.raises(InputError, match=r"outputs that sum to 1: .*use binary_crossentropy"):
        LOSSES["categorical_crossentropy"].check_activation(SIG)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    net = nl.Network([4, 5, 3], activation="tanh", output_activation="sigmoid", seed=0)
    before = net.get_params()
    with pytest.raises(InputError, match=r"needs an output activation in softmax \("):
        net.fit(X, labels, loss="cce", optimizer="lbfgs", epochs=5, verbose=0)
    np.testing.assert_array_equal(net.params, before)


def test_binary_crossentropy_with_softmax_outputs():
    z = np.log(np.array([[1.0, 3.0]]))  # softmax = [¼, ¾]
    y = np.array([[0.0, 1.0]])
    expected = -(np.log(0.75) + np.log(0.75))
    assert value("binary_crossentropy", y, z, SOFT) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name, act", [("binary_crossentropy", SIG),
                                       ("categorical_crossentropy", SOFT)])
def test_cross_entropy_at_extreme_logits_is_finite_and_right(name, act):
    """From the logits, never log(0): a confident wrong answer costs |z|, not inf."""
    z = np.array([[800.0, -800.0], [-800.0, 800.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = value(name, y, z, act)
        d = LOSSES[name].output_delta(y, act.forward(z), z, act)
    assert np.isfinite(v) and np.isfinite(d).all()
    if act is SOFT:
        assert v == pytest.approx(1600.0)  # row 1: −log softmax = 1600, row 2: 0
    else:
        assert v == pytest.approx(2 * 800.0)  # both units of row 1 wrong, row 2 right


@given(st.integers(0, 10_000), st.sampled_from([1, 2, 4]))
def test_cross_entropy_from_logits_equals_naive_formula(seed, k):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3, size=(5, k))
    y = rng.uniform(size=(5, k))
    p = 1 / (1 + np.exp(-z))
    naive = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum()
    assert value("binary_crossentropy", y, z, SIG) == pytest.approx(naive, rel=1e-10)
    if k > 1:
        q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        assert value("categorical_crossentropy", y, z, SOFT) == pytest.approx(
            -(y * np.log(q)).sum(), rel=1e-10)


# ----------------------------------------------------------------------------- deltas
@pytest.mark.parametrize("name, act", [("binary_crossentropy", SIG),
                                       ("binary_crossentropy", SOFT),
                                       ("categorical_crossentropy", SOFT),
                                       ("sse", SOFT), ("mse", SIG)])
@given(seed=st.integers(0, 10_000), rows_sum_to_one=st.booleans())
def test_output_delta_equals_the_chain_rule(name, act, seed, rows_sum_to_one):
    """The fused deltas (ŷ − y and friends) equal f'ᵀ·∂J/∂ŷ — also for soft targets
    whose rows do not sum to 1 (multi-label or smoothed)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2, size=(4, 3))
    y = rng.uniform(size=(4, 3))
    if rows_sum_to_one:
        y /= y.sum(axis=1, keepdims=True)
    loss = LOSSES[name]
    yhat = act.forward(z)
    fused = loss.output_delta(y, yhat, z, act)
    chain = act.backward(z, yhat, loss.grad_yhat(y, yhat))
    np.testing.assert_allclose(fused, chain, rtol=1e-10, atol=1e-12)
    # and both are the derivative of value() by z
    def J(t):
        zt = t.reshape(z.shape)
        return loss.value(y, act.forward(zt), zt, act)

    num = nl.numerical_gradient(J, z.ravel().copy(), eps=1e-6).reshape(z.shape)
    np.testing.assert_allclose(fused, num, rtol=1e-6, atol=1e-8)


def test_softmax_cross_entropy_delta_is_yhat_minus_y_for_one_hot():
    z = np.array([[0.2, -0.4, 1.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    yhat = SOFT.forward(z)
    np.testing.assert_allclose(LOSSES["categorical_crossentropy"].output_delta(y, yhat, z, SOFT),
                               yhat - y, rtol=1e-15)


# ----------------------------------------------------------------------------- registry
def test_residual_scale():
    assert LOSSES["sse"].residual_scale(3) == 0.5
    assert LOSSES["mse"].residual_scale(4) == 0.25
    assert LOSSES["binary_crossentropy"].residual_scale(1) is None
    assert LOSSES["categorical_crossentropy"].residual_scale(3) is None


def test_get_loss_names_aliases_and_objects():
    assert get_loss("bce") is LOSSES["binary_crossentropy"]
    assert get_loss("cce") is LOSSES["categorical_crossentropy"]
    assert get_loss("cross_entropy") is LOSSES["categorical_crossentropy"]
    assert get_loss(LOSSES["mse"]) is LOSSES["mse"]
    assert isinstance(get_loss("sse"), Loss)
    assert [n for n, v in LOSSES.items() if v.classification] == [
        "binary_crossentropy", "categorical_crossentropy"]
    with pytest.raises(InputError, match=r"unknown loss None; choose one of sse, mse, "
                                         r"binary_crossentropy, categorical_crossentropy "
                                         r"\(aliases: bce, cce"):
        get_loss(None)


# ----------------------------------------------------------------------------- the cost
def test_network_sse_cost_is_half_the_sum_of_squares(tutorial_net, sleep_scaled):
    X, y = sleep_scaled
    net = tutorial_net(3)
    yhat = net.forward(X)
    J, _ = net.loss_and_grad(X, y)
    assert J == 0.5 * np.sum((y - yhat) ** 2)
    assert net.cost(X, y) == J
    Jn, gn = net.loss_and_grad(X, y, normalize=True)
    _, g = net.loss_and_grad(X, y)
    assert Jn == pytest.approx(J / 3, rel=1e-15)
    np.testing.assert_allclose(gn, g / 3, rtol=1e-14)


def test_l2_term_is_on_weights_only_not_biases():
    """(λ/2)·Σ‖W‖² over weight matrices; gradient + λ·W on weights, nothing on biases."""
    net = nl.Network([2, 3, 2], activation="tanh", output_activation="identity", seed=0)
    for b in net.b:
        b[...] = [0.5, -2.0, 1.0][:b.size]  # large biases: would show up if penalised
    X = np.array([[0.1, 0.2], [0.3, -0.4]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    lam = 0.7
    J0, g0 = net.loss_and_grad(X, y)
    J1, g1 = net.loss_and_grad(X, y, l2=lam)
    sum_w2 = sum(float((W ** 2).sum()) for W in net.W)
    assert J1 - J0 == pytest.approx(lam / 2 * sum_w2, rel=1e-13)
    assert net.penalty(lam) == pytest.approx(lam / 2 * sum_w2, rel=1e-15)
    dW0, db0 = net._views(g0)
    dW1, db1 = net._views(g1)
    for l in range(2):
        np.testing.assert_allclose(dW1[l] - dW0[l], lam * net.W[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(db1[l], db0[l])
    # normalize divides the data term only, never the penalty (chapter 7's form)
    Jn, _ = net.loss_and_grad(X, y, l2=lam, normalize=True)
    assert Jn == pytest.approx(J0 / 2 + lam / 2 * sum_w2, rel=1e-13)


def test_mse_with_normalize_is_the_usual_mean_squared_error():
    net = nl.Network([2, 3, 2], activation="tanh", output_activation="identity", seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    J, _ = net.loss_and_grad(X, y, loss="mse", normalize=True)
    assert J == pytest.approx(np.mean((net.forward(X) - y) ** 2), rel=1e-14)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("act_name", list(ACTIVATIONS))
def test_value_and_delta_equals_the_separate_calls(name, act_name):
    loss, act = LOSSES[name], ACTIVATIONS[act_name]
    if loss.requires is not None and act_name not in loss.requires:
        return
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3))
    y = rng.uniform(size=(5, 3))
    yhat = act.forward(z)
    inputs = [y.copy(), yhat.copy(), z.copy()]
    v, d = loss.value_and_delta(y, yhat, z, act)
    for before, now in zip(inputs, [y, yhat, z], strict=True):
        np.testing.assert_array_equal(now, before)  # inputs untouched
    assert v == pytest.approx(loss.value(y, yhat, z, act), rel=1e-14)
    np.testing.assert_allclose(d, loss.output_delta(y, yhat, z, act), rtol=1e-14, atol=1e-16)
    assert not any(np.shares_memory(d, a) for a in (y, yhat, z))  # safe to scale in place
