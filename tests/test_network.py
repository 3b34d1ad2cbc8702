"""The Network: hand-worked forward/backward, the flat-vector contract, prediction."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neurallab as nl
import neurallab.network as network_module
from neurallab.network import Cache

# A fixed weight set for the tutorial's 2-3-1 network (no biases).
W1 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
W2 = np.array([[1.0], [-2.0], [0.5]])
# ŷ and J for the scaled sleep-study data with these weights, worked out with
# 30-digit arithmetic (mpmath) straight from z2 = X·W1, a2 = f(z2), z3 = a2·W2, ŷ = f(z3).
YHAT_BY_HAND = [0.52377478786837436, 0.55124385107705429, 0.64449470850007249]
J_BY_HAND = 0.10246049283117509


def f(z):
    return 1.0 / (1.0 + math.exp(-z))


@pytest.fixture
def fixed_net(tutorial_net):
    net = tutorial_net()
    net.set_params(np.concatenate([W1.ravel(), W2.ravel()]))
    return net


# ----------------------------------------------------------------------------- chapter 2-4
def test_tutorial_forward_with_fixed_weights(fixed_net, sleep_scaled):
    X, y = sleep_scaled
    np.testing.assert_array_equal(X, [[0.3, 1.0], [0.5, 0.2], [1.0, 0.4]])
    yhat = fixed_net.forward(X)
    assert yhat.shape == (3, 1)
    np.testing.assert_allclose(yhat[:, 0], YHAT_BY_HAND, rtol=1e-15)
    # the same, one multiply-add at a time
    for i in range(3):
        a2 = [f(X[i, 0] * W1[0, j] + X[i, 1] * W1[1, j]) for j in range(3)]
        assert yhat[i, 0] == pytest.approx(f(sum(a2[j] * W2[j, 0] for j in range(3))),
                                           rel=1e-15)
    assert fixed_net.cost(X, y) == pytest.approx(J_BY_HAND, rel=1e-14)


def test_tutorial_forward_cache_names(fixed_net, sleep_scaled):
    X, _ = sleep_scaled
    yhat, cache = fixed_net.forward(X, return_cache=True)
    assert isinstance(cache, Cache)
    z2 = X @ W1
    a2 = 1 / (1 + np.exp(-z2))
    z3 = a2 @ W2
    np.testing.assert_array_equal(cache.inputs[0], X)
    np.testing.assert_allclose(cache.z[0], z2, rtol=1e-15)
    np.testing.assert_allclose(cache.a[0], a2, rtol=1e-15)
    np.testing.assert_allclose(cache.inputs[1], a2, rtol=1e-15)
    np.testing.assert_allclose(cache.z[1], z3, rtol=1e-15)
    assert cache.yhat is cache.a[-1] and yhat is cache.yhat


def test_tutorial_backprop_equations(fixed_net, sleep_scaled):
    """Chapter 4: δ3 = −(y − ŷ)⊙f'(z3), ∂J/∂W2 = a2ᵀδ3, δ2 = (δ3·W2ᵀ)⊙f'(z2), ∂J/∂W1 = Xᵀδ2."""
    X, y = sleep_scaled

    def f_prime(z):
        return np.exp(-z) / (1 + np.exp(-z)) ** 2

    z2 = X @ W1
    a2 = 1 / (1 + np.exp(-z2))
    z3 = a2 @ W2
    yhat = 1 / (1 + np.exp(-z3))
    delta3 = -(y - yhat) * f_prime(z3)
    dJdW2 = a2.T @ delta3
    delta2 = (delta3 @ W2.T) * f_prime(z2)
    dJdW1 = X.T @ delta2
    J, grad = fixed_net.loss_and_grad(X, y)
    assert J == pytest.approx(0.5 * np.sum((y - yhat) ** 2), rel=1e-15)
    np.testing.assert_allclose(grad, np.concatenate([dJdW1.ravel(), dJdW2.ravel()]),
                               rtol=1e-13)
    # backward() on a cache gives the same vector
    _, cache = fixed_net.forward(X, return_cache=True)
    np.testing.assert_array_equal(fixed_net.backward(cache, y), grad)


def test_untrained_zero_weights_predict_one_half(tutorial_net, sleep_scaled):
    net = tutorial_net()
    net.params[...] = 0.0
    np.testing.assert_array_equal(net.forward(sleep_scaled[0]), 0.5)


# ----------------------------------------------------------------------------- flat vector
def test_layout_and_n_params():
    net = nl.Network([3, 4, 2], seed=0)
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2 == 26
    assert net.offsets == [(0, 12), (16, 24)]
    assert [W.shape for W in net.W] == [(3, 4), (4, 2)]
    assert [b.shape for b in net.b] == [(4,), (2,)]
    theta = np.arange(26.0)
    net.set_params(theta)
    np.testing.assert_array_equal(net.W[0], theta[:12].reshape(3, 4))  # row-major
    np.testing.assert_array_equal(net.b[0], theta[12:16])
    np.testing.assert_array_equal(net.W[1], theta[16:24].reshape(4, 2))
    np.testing.assert_array_equal(net.b[1], theta[24:])
    nobias = nl.Network([2, 3, 1], bias=False)
    assert nobias.n_params == 9 and nobias.b == [None, None]
    assert nobias.offsets == [(0, None), (6, None)]
    assert (nl.Network([5, 1]).n_layers, nl.Network([5, 1]).n_params) == (1, 6)


def test_W_and_b_are_views_into_params():
    net = nl.Network([3, 4, 2], seed=0)
    assert net.params.ndim == 1 and net.params.flags.c_contiguous
    for arr in [*net.W, *net.b]:
        assert np.shares_memory(arr, net.params)
    net.params[0] = 42.0
    assert net.W[0][0, 0] == 42.0
    net.W[1][3, 1] = -7.0
    assert net.params[23] == -7.0
    net.b[0][2] = 5.0
    assert net.params[14] == 5.0
    net.params *= 0  # in place, as an optimizer would
    assert all((W == 0).all() for W in net.W)


def test_set_params_copies_and_keeps_views_valid():
    net = nl.Network([3, 4, 2], seed=0)
    W0, buf = net.W[0], net.params
    theta = np.linspace(-1, 1, net.n_params)
    net.set_params(theta)
    assert net.params is buf and net.W[0] is W0  # nothing rebound
    np.testing.assert_array_equal(W0, theta[:12].reshape(3, 4))
    theta[:] = 99.0  # the network holds a copy, not theta itself
    assert not (net.params == 99.0).any()
    net.set_params([float(i) for i in range(net.n_params)])  # lists work
    assert net.W[0][0, 1] == 1.0
    net.set_params(np.arange(net.n_params))  # integers are cast
    assert net.params.dtype == np.float64


def test_get_params_is_a_copy():
    net = nl.Network([2, 3, 1], seed=0)
    p = net.get_params()
    p[:] = 0
    assert (net.params != 0).any()


def test_gradient_has_the_same_layout():
    net = nl.Network([3, 4, 2], activation="tanh", output_activation="identity", seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    y = np.random.default_rng(1).normal(size=(5, 2))
    _, grad = net.loss_and_grad(X, y)
    _, cache = net.forward(X, return_cache=True)
    dW = net.weights_view(grad)
    delta2 = net.forward(X) - y
    np.testing.assert_allclose(dW[1], cache.inputs[1].T @ delta2, rtol=1e-13)
    np.testing.assert_allclose(grad[24:], delta2.sum(axis=0), rtol=1e-13)


# ----------------------------------------------------------------------------- seeds, init
def test_same_seed_same_weights_different_seed_different():
    a, b = nl.Network([4, 8, 3], seed=5), nl.Network([4, 8, 3], seed=5)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, nl.Network([4, 8, 3], seed=6).params)
    assert not np.array_equal(nl.Network([4, 8, 3]).params, nl.Network([4, 8, 3]).params)
    a.params[...] = 0
    a.initialize(5)
    np.testing.assert_array_equal(a.params, b.params)


def test_tutorial_init_is_standard_normal_from_the_seed(tutorial_net):
    net = tutorial_net(3)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(net.W[0], rng.standard_normal((2, 3)))
    np.testing.assert_array_equal(net.W[1], rng.standard_normal((3, 1)))


def test_float32_starts_from_the_same_numbers():
    a = nl.Network([4, 8, 3], seed=2)
    b = nl.Network([4, 8, 3], seed=2, dtype="float32")
    assert b.params.dtype == np.float32 and b.dtype == np.dtype("float32")
    np.testing.assert_array_equal(b.params, a.params.astype(np.float32))
    assert b.forward(np.ones((2, 4))).dtype == np.float32
    assert nl.Network([2, 1], dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("init", ["normal", "xavier", "he"])
def test_initialisers(init):
    n_in, n_out = 400, 300
    net = nl.Network([n_in, n_out, 1], init=init, seed=0)
    W = net.W[0]
    assert (net.b[0] == 0).all() and (net.b[1] == 0).all()
    if init == "normal":
        assert abs(W.std() - 1.0) < 0.01
    elif init == "xavier":
        lim = np.sqrt(6 / (n_in + n_out))
        assert np.abs(W).max() <= lim and np.abs(W).max() > 0.99 * lim
        assert abs(W.std() - lim / np.sqrt(3)) < 0.01 * lim
    else:
        assert abs(W.std() - np.sqrt(2 / n_in)) < 0.01 * np.sqrt(2 / n_in)
    assert abs(W.mean()) < 0.02 * W.std()  # 120,000 draws: the mean is ~0.003·std


# ----------------------------------------------------------------------------- Jacobian
@pytest.mark.parametrize("sizes, hidden, output, bias", [
    ([2, 3, 1], "sigmoid", "sigmoid", False),
    ([3, 4, 2], "tanh", "identity", True),
    ([2, 5, 4, 3], "leaky_relu", "softmax", True),
])
def test_residual_jacobian_equals_finite_differences(sizes, hidden, output, bias):
    net = nl.Network(sizes, activation=hidden, output_activation=output, bias=bias,
                     init="xavier", seed=0)
    X = np.random.default_rng(0).uniform(0.1, 1, size=(5, sizes[0]))
    J = net.residual_jacobian(X)
    n, k = X.shape[0], sizes[-1]
    assert J.shape == (n * k, net.n_params)
    theta = net.params
    num = np.empty_like(J)
    eps = 1e-6
    for p in range(net.n_params):
        old = theta[p]
        theta[p] = old + eps
        up = net.forward(X).ravel()  # row i·k + j is ŷ[i, j]
        theta[p] = old - eps
        down = net.forward(X).ravel()
        theta[p] = old
        num[:, p] = (up - down) / (2 * eps)
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-9)


def test_residual_jacobian_gives_the_sse_gradient(fixed_net, sleep_scaled):
    """For J = ½‖r‖², ∇J = Jrᵀ·r: the Jacobian and backprop agree."""
    X, y = sleep_scaled
    r = (fixed_net.forward(X) - y).ravel()
    _, grad = fixed_net.loss_and_grad(X, y)
    np.testing.assert_allclose(fixed_net.residual_jacobian(X).T @ r, grad, rtol=1e-13)


# ----------------------------------------------------------------------------- prediction
@given(n=st.integers(1, 40), sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       seed=st.integers(0, 1000))
def test_predict_shapes_regression(n, sizes, seed):
    net = nl.Network(sizes, activation="tanh", output_activation="identity", seed=seed)
    X = np.random.default_rng(seed).normal(size=(n, sizes[0]))
    out = net.predict(X)
    assert out.shape == (n, sizes[-1]) and out.dtype == np.float64
    np.testing.assert_array_equal(out, net.forward(X))
    # each row depends on its own input only
    np.testing.assert_allclose(net.predict(X[:1]), out[:1], rtol=1e-12)


@given(n=st.integers(1, 30), k=st.integers(2, 6), seed=st.integers(0, 1000))
def test_predict_shapes_classifier(n, k, seed):
    rng = np.random.default_rng(seed)
    net = nl.Network([3, 4, k], activation="relu", output_activation="softmax", seed=seed)
    net.loss = "categorical_crossentropy"  # as fit would set it
    X = rng.normal(size=(n, 3))
    labels = net.predict(X)
    proba = net.predict_proba(X)
    assert labels.shape == (n,) and labels.dtype.kind == "i"
    assert proba.shape == (n, k)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    assert net.is_classifier


def test_predict_single_sigmoid_classifier():
    net = nl.Network([2, 3, 1], seed=0)
    X = np.array([[0.0, 0.0], [5.0, -5.0], [-5.0, 5.0]])
    assert not net.is_classifier
    np.testing.assert_array_equal(net.predict(X), net.forward(X))  # regressor: values
    net.loss = "binary_crossentropy"
    p = net.forward(X)[:, 0]
    np.testing.assert_array_equal(net.predict(X), (p > 0.5).astype(int))
    np.testing.assert_allclose(net.predict_proba(X), np.column_stack([1 - p, p]))
    multi = nl.Network([2, 3, 3], seed=0)
    multi.loss = "binary_crossentropy"  # independent sigmoid outputs: a 0/1 matrix
    np.testing.assert_array_equal(multi.predict(X), (multi.forward(X) > 0.5).astype(int))


def test_chunked_prediction_equals_one_pass(monkeypatch):
    net = nl.Network([3, 5, 2], activation="tanh", seed=0)
    X = np.random.default_rng(0).normal(size=(103, 3))
    whole = net.predict(X)
    monkeypatch.setattr(network_module, "PREDICT_CHUNK", 10)
    np.testing.assert_allclose(net.predict(X), whole, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax", "tanh"])
@pytest.mark.parametrize("hidden", sorted(nl.activations.ACTIVATIONS.keys() - {"softmax"}))
def test_prediction_path_equals_forward_for_every_activation(hidden, output, dtype, monkeypatch):
    # prediction keeps no cache and applies activations in place where they allow it
    net = nl.Network([4, 6, 5, 3], activation=hidden, output_activation=output, dtype=dtype,
                     seed=1)
    X = np.random.default_rng(2).normal(size=(37, 4)).astype(dtype)
    expected = net.forward(X)
    monkeypatch.setattr(network_module, "PREDICT_CHUNK", 8)  # chunks, the last one short
    got = net._forward_chunked(X)
    assert got.dtype == np.dtype(dtype) and got.shape == (37, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == "float32" else 1e-14)
    np.testing.assert_array_equal(X, np.random.default_rng(2).normal(size=(37, 4)).astype(dtype))


def test_predict_in_raw_units_with_scalers(sleep):
    X, y = sleep
    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler="max",
                     output_scaler=nl.preprocessing.MaxAbsScaler(100))
    net.fit(X, y, verbose=0)
    Xs = X / X.max(axis=0)
    np.testing.assert_allclose(net.predict(X), 100 * net.forward(Xs), rtol=1e-14)
    np.testing.assert_allclose(net.predict(X), y, atol=0.5)
    # integer input is fine
    np.testing.assert_allclose(net.predict([[8, 3]]), net.predict(np.array([[8.0, 3.0]])))


def test_prediction_does_not_apply_dropout():
    net = nl.Network([3, 50, 2], activation="relu", dropout=0.5, seed=0)
    X = np.ones((4, 3))
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    np.testing.assert_array_equal(net.forward(X), net._forward(X).yhat)


# ----------------------------------------------------------------------------- config
def test_config_round_trip_and_copy():
    net = nl.Network([3, 4, 2], activation="leaky_relu", output_activation="softmax",
                     bias=True, init="he", dtype="float32", seed=4, dropout=0.2,
                     input_scaler="standard")
    net.class_names = ["a", "b"]
    net.meta = {"image_size": [28, 28]}
    cfg = net.config()
    assert json.loads(json.dumps(cfg)) == cfg  # plain JSON
    assert cfg["layer_sizes"] == [3, 4, 2] and cfg["dropout"] == [0.2]
    twin = nl.Network.from_config(cfg)
    assert twin.config() == cfg
    c = net.copy()
    np.testing.assert_array_equal(c.params, net.params)
    assert c.config() == cfg
    c.params[0] += 1
    assert c.params[0] != net.params[0]  # independent
    assert c.W[0].base is not None and np.shares_memory(c.W[0], c.params)


def test_summary_and_repr():
    net = nl.Network([2, 3, 1], bias=False, seed=0)
    text = net.summary()
    assert text.splitlines()[0] == "Network 2-3-1  (9 parameters, float64)"
    assert "layer 1: 2 -> 3  sigmoid  (6 weights, 0 biases)" in text
    assert repr(net) == ("Network([2, 3, 1], activation='sigmoid', "
                         "output_activation='sigmoid', bias=False, dtype='float64')")
    assert "dropout 0.5" in nl.Network([2, 3, 1], dropout=0.5).summary()
    # one of a kind is singular: a regression network's output layer
    assert "layer 2: 3 -> 1  sigmoid  (3 weights, 1 bias)" in nl.Network([2, 3, 1]).summary()
    assert "layer 1: 1 -> 1  sigmoid  (1 weight, 1 bias)" in nl.Network([1, 1]).summary()


@pytest.mark.parametrize("dtype, value, limit", [("float32", 1e39, "±3.4e+38"),
                                                 ("float64", 1e308, "±1.8e+308")])
def test_predict_refuses_finite_inputs_the_scaling_takes_out_of_range(dtype, value, limit):
    """A finite raw value can leave the network's float range once scaled, (x − offset) /
    scale: a clear error naming the value, not a silent prediction with overflow warnings."""
    import warnings

    rng = np.random.default_rng(0)
    X, y = 1e-3 * rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", dtype=dtype,
                     input_scaler="standard", seed=0)
    net.fit(X, y, loss="mse", optimizer="lbfgs", epochs=5, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(nl.InputError) as err:
            net.predict([[0.0, 0.0], [value, 1.0]])
        msg = str(err.value)
        assert msg.startswith(f"X holds {value:.3g} at index (1, 0), which the input scaling "
                              "(x − offset) / scale takes to ")
        assert f"beyond the range of {dtype} ({limit}); pass values of the size" in msg
        assert np.isfinite(net.predict([[1e-3, 2e-3]])).all()


BAD_SPOTS = [((0, 0), [np.nan]), ((4500, 3), [np.nan]), ((2048, 0), [-np.inf]),
             ((2, 700), [np.inf, -np.inf]),   # +∞ and −∞ in one row: their sum is NaN
             ((1, 5), [np.inf])]              # a column whose weights are all zero: ∞·0 = NaN


@pytest.mark.parametrize("rows, where, values", [   # below and above Z_CHECK_MIN_ROWS
    (rows, where, values) for rows in (3, 5000) for where, values in BAD_SPOTS
    if where[0] < rows])
def test_predict_names_the_first_nan_or_infinity_wherever_it_is(rows, where, values):
    """Large batches are scanned through the first layer's output instead of the input:
    the same error, naming the same first bad value, and no NumPy warnings before it."""
    import warnings

    net = nl.Network([784, 32, 10], activation="relu", output_activation="softmax",
                     dtype="float32", seed=0)
    net.W[0][5, :] = 0
    X = np.random.default_rng(0).random((rows, 784)).astype(np.float32)
    clean = net.predict_proba(X)
    for k, v in enumerate(values):
        X[where[0], where[1] + k] = v
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in (net.predict_proba, net.predict):
            with pytest.raises(nl.InputError) as err:
                method(X)
            assert str(err.value) == (
                f"X contains NaN or infinite values (first at index {where}); remove or "
                "impute them before training or predicting")
    X[where[0], where[1]:where[1] + len(values)] = 0.5
    ok = net.predict_proba(X)
    assert np.array_equal(np.delete(ok, where[0], 0), np.delete(clean, where[0], 0))


def test_predict_on_a_large_batch_names_a_value_beyond_float32():
    net = nl.Network([20, 8, 3], activation="relu", output_activation="softmax",
                     dtype="float32", seed=0)
    X = np.random.default_rng(1).random((1000, 20))
    X[700, 4] = 1e39
    with pytest.raises(nl.InputError, match=r"X holds 1e\+39 at index \(700, 4\), beyond the "
                                            r"range of float32"):
        net.predict(X)
