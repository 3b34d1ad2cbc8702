"""The buffer-reusing fast paths give the same numbers as the plain ones, bit for bit.

Training loops pass ``out=`` buffers to the activations and a preallocated
workspace to the network so that nothing large is allocated per call; these tests
pin that the results do not change by a single bit when they do.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurallab.activations import ACTIVATIONS, sigmoid

DTYPES = [np.float64, np.float32]


def _inputs(rows: int, cols: int, dtype, seed: int):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((rows, cols)) * 4).astype(dtype)
    z.flat[0] = 0.0
    if z.size > 1:
        z.flat[1] = -0.0
    g = rng.standard_normal((rows, cols)).astype(dtype)
    return z, g


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_activation_out_matches_plain(name, dtype, rows, cols, seed):
    act = ACTIVATIONS[name]
    z, g = _inputs(rows, cols, dtype, seed)
    a = act.forward(z)
    out = np.full_like(z, np.nan)
    a2 = act.forward(z, out=out)
    assert a2 is out
    np.testing.assert_array_equal(a2, a)
    assert a.dtype == z.dtype

    d = act.backward(z, a, g)
    assert d.dtype == z.dtype
    out = np.full_like(z, np.nan)
    d2 = act.backward(z, a, g, out=out)
    np.testing.assert_array_equal(d2, d)
    # the gradient buffer itself may receive the result
    g_copy = g.copy()
    d3 = act.backward(z, a, g_copy, out=g_copy)
    np.testing.assert_array_equal(d3, d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes_exact(dtype):
    z = np.array([-1000.0, -745.0, -40.0, -0.0, 0.0, 40.0, 1000.0, np.inf, -np.inf],
                 dtype=dtype)
    with np.errstate(over="ignore"):
        s = sigmoid(z)
    assert s.dtype == dtype
    # for z < 0 the result is e^z / (1 + e^z): tiny values keep their relative precision
    assert s[2] == pytest.approx(np.exp(-40.0) / (1 + np.exp(-40.0)), rel=1e-6)
    np.testing.assert_array_equal(s[[3, 4]], [0.5, 0.5])
    np.testing.assert_array_equal(s[[0, 8]], [0.0, 0.0])
    np.testing.assert_array_equal(s[[6, 7]], [1.0, 1.0])
    assert np.isnan(sigmoid(np.array([np.nan], dtype=dtype)))[0]


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("output, loss", [("identity", "sse"), ("sigmoid", "mse"),
                                          ("softmax", "categorical_crossentropy"),
                                          ("sigmoid", "binary_crossentropy")])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_workspace_gives_the_same_cost_and_gradient(hidden, output, loss, dtype):
    from neurallab import Network
    from neurallab.losses import get_loss
    from neurallab.network import _Workspace

    rng = np.random.default_rng(7)
    X = rng.standard_normal((23, 4)).astype(dtype)
    n_out = 1 if output == "identity" else 3
    if loss == "categorical_crossentropy":
        Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 23)]
    else:
        Y = rng.random((23, n_out)).astype(dtype)
    net = Network([4, 6, 5, n_out], activation=hidden, output_activation=output, bias=True,
                  dtype=dtype, seed=1)
    ws = _Workspace(net, 23)
    loss_obj = get_loss(loss)
    for trial in range(2):  # the second call reuses the buffers the first one filled
        net.params[...] = net.params * 0.9 + 0.01 * trial
        J, g = net.loss_and_grad(X, Y, loss=loss, l2=0.01, normalize=True)
        J_ws, g_ws, cache = net._loss_and_grad(X, Y, loss_obj, 0.01, True, ws=ws)
        assert J_ws == J
        np.testing.assert_array_equal(g_ws, g)
        assert g_ws is ws.grad and cache.yhat is ws.a[-1]
        np.testing.assert_array_equal(cache.yhat, net.forward(X))


def test_full_batch_fit_unchanged_by_buffer_reuse():
    """BFGS through fit (one reused workspace) equals a hand-driven SciPy run, bit for bit."""
    from scipy.optimize import minimize

    from neurallab import Network

    X = np.array([[0.3, 1.0], [0.5, 0.2], [1.0, 0.4]])
    y = np.array([[0.75], [0.82], [0.93]])
    net = Network([2, 3, 1], bias=False, seed=0)
    theta0 = net.get_params()

    def f(theta):
        probe = Network([2, 3, 1], bias=False, seed=0)
        probe.set_params(theta)
        return probe.loss_and_grad(X, y)

    expected = minimize(f, theta0, jac=True, method="BFGS", options={"maxiter": 200})
    net.fit(X, y, optimizer="bfgs", epochs=200, verbose=0)
    np.testing.assert_array_equal(net.params, expected.x)


def test_lbfgs_memory_reaches_scipy_as_maxcor():
    from neurallab.errors import InputError
    from neurallab.optim import LBFGS

    assert LBFGS()._options(50)["maxcor"] == 10           # SciPy's own default
    assert LBFGS(memory=50)._options(50)["maxcor"] == 50
    assert LBFGS(memory=50, options={"maxcor": 7})._options(50)["maxcor"] == 7
    assert LBFGS(memory=20).config()["memory"] == 20
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(InputError, match="memory must be a positive integer"):
            LBFGS(memory=bad)


def test_lbfgs_memory_changes_the_path_not_the_problem():
    """More memory: the same first step (steepest descent), a lower loss after 150 here."""
    from neurallab import Network
    from neurallab.optim import LBFGS

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 3))
    y = np.sin(2 * X[:, :1]) * X[:, 1:2] + X[:, 2:3] ** 2
    runs = {}
    for m in (3, 30):
        net = Network([3, 8, 1], activation="tanh", output_activation="identity",
                      init="xavier", seed=0)
        h = net.fit(X, y, loss="mse", optimizer=LBFGS(memory=m), epochs=150, verbose=0)
        runs[m] = h.history["loss"]
    assert runs[30][0] == runs[3][0]
    assert runs[30][-1] <= runs[3][-1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_small_and_large_paths_agree(dtype):
    """Small arrays take another sequence of NumPy calls; every element comes out the same."""
    from neurallab.activations import _SMALL

    rng = np.random.default_rng(3)
    z = (rng.standard_normal(4 * _SMALL) * 30).astype(dtype)
    z[:6] = [0.0, -0.0, np.inf, -np.inf, -745.0, 745.0]
    with np.errstate(over="ignore"):
        whole = sigmoid(z)                                    # the large-array path
        pieces = np.concatenate([sigmoid(c) for c in np.array_split(z, 16)])   # small
    assert z.size > _SMALL >= z.size // 16
    np.testing.assert_array_equal(pieces, whole)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 3000), cols=st.integers(1, 70), seed=st.integers(0, 2**16))
def test_bias_gradient_column_sums_match_numpy_sum(dtype, rows, cols, seed):
    """The bias gradient's faster column sums add in np.sum's order: identical numbers."""
    from neurallab.network import _column_sums

    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((rows, cols)) * 10.0 ** rng.uniform(-4, 4, (rows, cols)))
    a = a.astype(dtype)
    out = np.empty(cols, dtype=dtype)
    np.testing.assert_array_equal(_column_sums(a, out), np.sum(a, axis=0))
    assert out.dtype == dtype


def _regression_problem(rows=1200, seed=0):
    from neurallab import Network
    from neurallab.losses import get_loss
    from neurallab.training import _NetworkProblem

    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (rows, 6))
    Y = np.sin(X[:, :1] * X[:, 1:2]) + X[:, 2:3] ** 2
    net = Network([6, 30, 30, 1], activation="tanh", output_activation="identity",
                  init="xavier", seed=seed)
    return net, X, Y, _NetworkProblem(net, X, Y, get_loss("mse"), 1e-3, True)


def test_large_full_batch_problem_is_split_into_halves_with_the_same_result():
    net, X, Y, prob = _regression_problem()
    assert prob.split                      # 1200 rows x 1171 parameters: two halves
    theta = net.get_params()
    J_ref, g_ref = net.loss_and_grad(X, Y, loss="mse", l2=1e-3, normalize=True)
    J_inline, g_inline = prob.loss_and_grad(theta)            # halves one after the other
    with prob.threads():
        runs = [prob.loss_and_grad(theta) for _ in range(12)]  # timed choice of threads
    assert J_inline == pytest.approx(J_ref, rel=1e-13)
    np.testing.assert_allclose(g_inline, g_ref, rtol=1e-11, atol=1e-15)
    for J, g in runs:                      # threads or not: the same numbers, bit for bit
        assert J == J_inline
        np.testing.assert_array_equal(g, g_inline)
    assert runs[0][1] is not runs[1][1]   # each gradient is a new array (SciPy keeps them)


def test_split_fit_does_not_depend_on_the_number_of_cores(monkeypatch):
    import neurallab.training as training

    results = []
    for cores in (1, 2):
        monkeypatch.setattr(training, "usable_cores", lambda c=cores: c)
        net, X, Y, _ = _regression_problem(seed=1)
        h = net.fit(X, Y, loss="mse", optimizer="lbfgs", epochs=15, l2=1e-3, verbose=0)
        results.append((net.get_params(), h.history["loss"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
