"""The compiled kernels against the NumPy code they stand in for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurallab import _kernels
from neurallab.activations import get_activation
from neurallab.losses import get_loss
from neurallab.optim import Adam

pytest.importorskip("numba")


@pytest.fixture
def numpy_only(monkeypatch):
    """Run with the compiled kernels switched off (as without Numba)."""
    def off():
        monkeypatch.setattr(_kernels, "_unavailable", True)
    return off


def _adam_run(dtype, steps, n=40_001, seed=1):
    rng = np.random.default_rng(seed)
    opt = Adam(lr=1e-3, schedule="cosine")
    opt.reset(n, dtype)
    opt.set_epoch(1, 5)
    p = rng.standard_normal(n).astype(dtype)
    for t in range(steps):
        g = rng.standard_normal(n).astype(dtype)
        g[: n // 3] = 0.0 if t > 2 else g[: n // 3]     # units that stopped firing
        if t == 4:   # first moments about to become subnormal
            opt._m[:500] = np.finfo(dtype).tiny * 1.05
        opt.step(p, g)
    return p, opt._m, opt._s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_adam_gives_the_numpy_numbers_bit_for_bit(dtype, numpy_only):
    assert _kernels.use_kernel(40_001, *[np.zeros(40_001, dtype)] * 4)
    compiled = _adam_run(dtype, 12)
    numpy_only()
    assert not _kernels.use_kernel(40_001, *[np.zeros(40_001, dtype)] * 4)
    reference = _adam_run(dtype, 12)
    for a, b in zip(compiled, reference, strict=True):
        assert a.tobytes() == b.tobytes()


def test_subnormal_first_moments_become_zero():
    _, m, _ = _adam_run(np.float32, 6)
    tiny = np.finfo(np.float32).tiny
    assert not np.any((m != 0) & (np.abs(m) < tiny))
    assert np.all(m[:500] == 0)            # 1.05·tiny·β₁ fell below tiny: flushed


def test_small_vectors_and_other_dtypes_stay_with_numpy():
    assert not _kernels.use_kernel(100, *[np.zeros(100)] * 4)
    big = np.zeros(1 << 15, np.float16)
    assert not _kernels.use_kernel(big.size, big, big, big, big)
    strided = np.zeros(1 << 16)[::2]
    assert not _kernels.use_kernel(strided.size, strided, strided, strided, strided)


def test_numba_can_be_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(_kernels, "_compiled", {})
    monkeypatch.setattr(_kernels, "_unavailable", False)
    monkeypatch.setenv("NEURALLAB_NUMBA", "0")
    assert _kernels.kernel("adam") is None and _kernels.kernel("softmax_xent") is None


def _softmax_xent_numpy(z, Y, scale):
    softmax = get_activation("softmax")
    loss = get_loss("categorical_crossentropy")
    yhat = softmax.forward(z)
    value, delta = loss.value_and_delta(Y, yhat, z, softmax)
    correct = int((yhat.argmax(1) == Y.argmax(1)).sum())
    return yhat, value, delta * scale, correct


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), classes=st.integers(2, 12), spread=st.floats(0.1, 80),
       soft=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**31))
def test_the_fused_softmax_cross_entropy_matches_numpy(rows, classes, spread, soft, dtype,
                                                       seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((rows, classes)) * spread).astype(dtype)
    if soft:   # label smoothing: rows of Y need not be one-hot (nor sum to 1)
        Y = rng.random((rows, classes)).astype(dtype)
    else:
        Y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, rows)]
    scale = 1.0 / rows
    yhat, delta = np.empty_like(z), np.empty_like(z)
    value, correct = _kernels.kernel("softmax_xent")(z, Y, yhat, delta, dtype(scale))
    ref_yhat, ref_value, ref_delta, ref_correct = _softmax_xent_numpy(z, Y, scale)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(yhat, ref_yhat, rtol=rtol, atol=1e-30)
    assert value == pytest.approx(ref_value, rel=rtol, abs=1e-6)
    np.testing.assert_allclose(delta, ref_delta, rtol=rtol, atol=10 * rtol * scale)
    assert correct == ref_correct
    assert np.isfinite(value) and np.all(np.isfinite(delta))


def test_the_fused_loss_is_finite_for_huge_logits():
    z = np.array([[1e30, -1e30, 0.0], [-5e4, 5e4, 1.0]], np.float32)
    Y = np.eye(3, dtype=np.float32)[[1, 1]]
    yhat, delta = np.empty_like(z), np.empty_like(z)
    value, correct = _kernels.kernel("softmax_xent")(z, Y, yhat, delta, np.float32(1))
    assert value == pytest.approx(2e30, rel=1e-6)     # −log_softmax of the wrong class
    assert correct == 1
    np.testing.assert_array_equal(yhat, [[1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_bias_relu_is_numpys_bias_then_maximum_bit_for_bit(dtype):
    """z ← max(z + b, 0) in one pass: the same bits as ``np.maximum(z + b, 0)`` — NaN
    kept, −0 made +0, −∞ made 0 — and the flag says whether every z + b was finite."""
    bias_relu = _kernels.kernel("bias_relu")
    rng = np.random.default_rng(3)
    z = rng.standard_normal((300, 70)).astype(dtype)
    b = rng.standard_normal(70).astype(dtype)
    z[0, :4] = [-0.0, 0.0, 1.5, -1.5]
    b[:4] = [-0.0, -0.0, -1.5, 1.5]          # −0 + −0 = −0; 1.5 − 1.5 = +0
    expected = np.maximum(z + b, 0, dtype=dtype)
    got = z.copy()
    assert bias_relu(got, b) is True
    assert got.tobytes() == expected.tobytes()
    for bad in (np.nan, np.inf, -np.inf):
        zb = z.copy()
        zb[200, 9] = bad
        expected = np.maximum(zb + b, 0, dtype=dtype)
        assert bias_relu(zb, b) is False
        assert zb.tobytes() == expected.tobytes()


def test_prediction_with_the_fused_layers_equals_numpys_bit_for_bit(numpy_only):
    """A 784-256-128-10 ReLU classifier on 5,000 rows (three chunks): the compiled
    bias + ReLU gives the same probabilities, bit for bit, as NumPy's path."""
    import neurallab as nl

    net = nl.Network([784, 256, 128, 10], activation="relu", output_activation="softmax",
                     dtype="float32", init="xavier", seed=0)
    net.b[0][...] = np.linspace(-0.5, 0.5, 256)
    X = np.random.default_rng(0).random((5000, 784)).astype(np.float32)
    fused = net.predict_proba(X)
    numpy_only()
    assert net.predict_proba(X).tobytes() == fused.tobytes()
