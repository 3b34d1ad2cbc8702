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
