"""Scalers: their statistics, round trips, and that fit() learns them from training data only."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import neurallab as nl
from neurallab.errors import InputError, InputTypeError
from neurallab.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    Scaler,
    StandardScaler,
    get_scaler,
)

SCALERS = [MaxAbsScaler, MinMaxScaler, StandardScaler]
data = arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 4)),
              elements=st.floats(-1e3, 1e3))


def test_max_abs_scaler_is_the_tutorials_scaling(sleep):
    X, y = sleep
    s = MaxAbsScaler().fit(X)
    np.testing.assert_array_equal(s.scale_, [10.0, 5.0])
    np.testing.assert_array_equal(s.offset_, [0.0, 0.0])
    np.testing.assert_array_equal(s.transform(X), X / [10.0, 5.0])
    scores = MaxAbsScaler(100)
    assert scores.fitted
    scores.fit(y)  # a fixed scale is not re-fitted: scores are out of 100, whatever was seen
    np.testing.assert_array_equal(scores.transform(y), y / 100)
    assert scores.transform(y).max() == 0.93


def test_min_max_and_standard_statistics():
    X = np.array([[1.0, -2.0], [3.0, 2.0], [5.0, 0.0]])
    mm = MinMaxScaler().fit(X)
    np.testing.assert_array_equal(mm.transform(X), [[0, 0], [0.5, 1], [1, 0.5]])
    st_ = StandardScaler().fit(X)
    Z = st_.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-15)


@pytest.mark.parametrize("cls", SCALERS)
def test_a_constant_column_is_left_unscaled(cls):
    X = np.array([[2.0, 1.0], [2.0, 3.0]])
    if cls is MaxAbsScaler:
        X[:, 0] = 0.0  # max |x| = 0 is MaxAbs's constant case
    s = cls().fit(X)
    assert s.scale_[0] == 1.0
    assert np.isfinite(s.transform(X)).all()


@pytest.mark.parametrize("cls", SCALERS)
@given(X=data)
def test_transform_round_trip(cls, X):
    s = cls().fit(X)
    back = s.inverse_transform(s.transform(X))
    np.testing.assert_allclose(back, X, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("cls", SCALERS)
@given(X=data)
def test_to_dict_from_dict_round_trip(cls, X):
    s = cls().fit(X)
    d = json.loads(json.dumps(s.to_dict()))  # plain JSON
    t = Scaler.from_dict(d)
    assert type(t) is cls and t.fitted
    np.testing.assert_array_equal(t.transform(X), s.transform(X))
    assert t.to_dict() == d


def test_fixed_scaler_dict_round_trip():
    s = MaxAbsScaler(scale=[100.0])
    t = Scaler.from_dict(s.to_dict())
    assert t.to_dict() == {"kind": "max", "scale": [100.0], "offset": [0.0], "fixed": True}
    t.fit(np.array([[5.0]]))
    assert t.scale_.tolist() == [100.0]
    unfitted = Scaler.from_dict(MinMaxScaler().to_dict())
    assert not unfitted.fitted


def test_float32_stays_float32():
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    s = StandardScaler().fit(X)
    assert s.transform(X).dtype == np.float32
    assert s.inverse_transform(s.transform(X)).dtype == np.float32


@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
@pytest.mark.parametrize("X, error, message", [
    ([[np.nan, 1.0]], InputError, r"X contains NaN or infinite values \(first at index \(0, 0\)\)"),
    (np.arange(5.0), InputError, r"fitted on 2 columns, got 1"),   # 1-D is one column, as in fit
    (np.array([1.0, 2.0]), InputError, r"fitted on 2 columns, got 1"),
    (np.ones((2, 2, 2)), InputError, r"X must be 2-D, got shape \(2, 2, 2\)"),
    (np.ones((0, 2)), InputError, r"X is empty"),
    ([["a", "b"]], InputTypeError, r"X must hold numbers"),
])
def test_transform_checks_its_input_as_fit_does(method, X, error, message):
    s = StandardScaler().fit(np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]]))
    with pytest.raises(error, match=message):
        getattr(s, method)(X)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_statistics_that_overflow_are_refused(cls):
    X = np.array([[1.0, 1.7e308], [2.0, -1.7e308], [3.0, 5.0]])
    with pytest.raises(InputError, match=re.escape(
            "X's column 1 is too large to scale: its statistics overflow float64 (values up "
            "to 1.7e+308); rescale it first")):
        cls().fit(X)


def test_one_column_scalers_answer_1d_input_in_1d():
    s = MaxAbsScaler(100).fit(np.array([50.0, 100.0]))
    np.testing.assert_array_equal(s.transform(np.array([50.0, 25.0])), [0.5, 0.25])
    np.testing.assert_array_equal(s.inverse_transform([0.5]), [50.0])
    assert s.transform(np.array([[50.0]])).shape == (1, 1)


def test_scaler_errors():
    with pytest.raises(InputError, match=re.escape(
            "this MinMaxScaler is not fitted; call fit(X_train) first")):
        MinMaxScaler().transform(np.ones((2, 2)))
    s = MaxAbsScaler().fit(np.ones((2, 3)))
    with pytest.raises(InputError, match=r"the scaler was fitted on 3 columns, got 2"):
        s.transform(np.ones((4, 2)))
    for bad in (0, np.inf, [1.0, 0.0]):
        with pytest.raises(InputError, match=r"scale must be finite and non-zero"):
            MaxAbsScaler(scale=bad)
    with pytest.raises(InputError, match=r"unknown scaler kind 'log'"):
        Scaler.from_dict({"kind": "log"})
    with pytest.raises(InputError, match=r"X contains NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))


@pytest.mark.parametrize("kwargs, cls, message", [
    ({"scale": "a"}, InputTypeError, "scale must be a number or a 1-D list of numbers, got 'a'"),
    ({"scale": [[1.0, 2.0]]}, InputTypeError, "scale must be a number or a 1-D list"),
    ({"scale": 2.0, "offset": "b"}, InputTypeError,
     "offset must be a number or a 1-D list of numbers, got 'b'"),
    ({"scale": 2.0, "offset": np.nan}, InputError, "offset must be finite"),
    ({"scale": [1.0, 2.0], "offset": [0.0, 1.0, 2.0]}, InputError,
     "scale has 2 values but offset has 3; give one per column (or one for all)"),
    ({"offset": 1.0}, InputError, "offset needs a scale too"),
])
def test_fixed_scaler_settings_are_checked(kwargs, cls, message):
    with pytest.raises(cls, match=re.escape(message)):
        StandardScaler(**kwargs)


def test_transform_refuses_text():
    s = MaxAbsScaler().fit(np.ones((2, 2)))
    for call in (s.transform, s.inverse_transform):
        with pytest.raises(InputTypeError, match=r"X must hold numbers, got dtype <U1"):
            call(np.array([["a", "b"]]))


def test_get_scaler():
    assert get_scaler(None) is None
    s = StandardScaler()
    assert get_scaler(s) is s
    assert [type(get_scaler(n)) for n in ("max", "minmax", "standard")] == SCALERS
    assert repr(MaxAbsScaler()) == "MaxAbsScaler(unfitted)"
    assert repr(MaxAbsScaler(100)) == "MaxAbsScaler(scale=[100.0])"


# ----------------------------------------------------------------------------- inside fit()
def tutorial_model(seed=0):
    return nl.Network([2, 3, 1], bias=False, seed=seed, input_scaler="max",
                      output_scaler=MaxAbsScaler(100))


def test_fit_learns_scalers_from_training_data_only():
    """Chapter 7's trap: the test set must be scaled with the *training* maxima."""
    X_train, y_train, X_test, y_test = nl.datasets.sleep_study_extended()
    net = tutorial_model()
    # a validation set with much larger values: if it leaked into the scaler, we'd see it
    X_val = X_test * 10
    h = net.fit(X_train, y_train, epochs=10, verbose=0, normalize=True,
                validation_data=(X_val, y_test))
    np.testing.assert_array_equal(net.input_scaler.scale_, X_train.max(axis=0))
    assert net.output_scaler.scale_.tolist() == [100.0]
    m = X_train.max(axis=0)
    assert h.history["val_loss"][-1] == pytest.approx(
        net.cost(X_val / m, y_test / 100, normalize=True), rel=1e-12)


def test_validation_split_rows_are_not_used_for_the_scaler():
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(10, 2))
    y = rng.uniform(0, 1, size=(10, 1))
    held = np.random.default_rng(5).permutation(10)[-3:]
    X[held] *= 100  # only the held-out rows are large
    net = nl.Network([2, 3, 1], seed=0, input_scaler="minmax", output_scaler="standard")
    net.fit(X, y, epochs=3, verbose=0, validation_split=0.3, seed=5)
    train = np.setdiff1d(np.arange(10), held)
    np.testing.assert_array_equal(net.input_scaler.offset_, X[train].min(axis=0))
    np.testing.assert_array_equal(net.input_scaler.scale_, np.ptp(X[train], axis=0))
    np.testing.assert_allclose(net.output_scaler.offset_, y[train].mean(axis=0), rtol=1e-15)


def test_predict_takes_and_returns_raw_units(sleep):
    X, y = sleep
    net = tutorial_model()
    net.fit(X, y, verbose=0)
    raw = net.predict(X)
    by_hand = 100 * net.forward(X / X.max(axis=0))
    np.testing.assert_allclose(raw, by_hand, rtol=1e-14)
    np.testing.assert_allclose(raw, y, atol=0.5)  # trained: within half a point
    q = net.predict([[8.0, 3.0]])  # the tutorial's question
    assert q.shape == (1, 1) and 0 < q[0, 0] < 100


def test_scalers_are_not_refitted_by_a_second_fit(sleep):
    X, y = sleep
    net = tutorial_model()
    net.fit(X, y, epochs=3, verbose=0)
    net.fit(X * 2, y, epochs=3, verbose=0)
    np.testing.assert_array_equal(net.input_scaler.scale_, [10.0, 5.0])


def test_output_scaler_is_not_applied_to_class_labels(blobs):
    X, labels = blobs
    net = nl.Network([2, 4, 3], output_activation="softmax", seed=0, input_scaler="standard",
                     output_scaler="max")
    net.fit(X, labels, loss="categorical_crossentropy", optimizer="lbfgs", epochs=20,
            verbose=0)
    assert not net.output_scaler.fitted
    assert set(np.unique(net.predict(X))) <= {0, 1, 2}
    np.testing.assert_allclose(net.input_scaler.offset_, X.mean(axis=0), rtol=1e-14)


@given(X=arrays(np.float64, st.tuples(st.integers(2, 10), st.just(2)),
                elements=st.floats(-50, 50)),
       kind=st.sampled_from(["max", "minmax", "standard"]))
def test_prediction_with_any_input_scaler_matches_manual_scaling(X, kind):
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0,
                     input_scaler=kind)
    net.input_scaler.fit(X)
    np.testing.assert_allclose(net.predict(X), net.forward(net.input_scaler.transform(X)),
                               rtol=1e-12)
