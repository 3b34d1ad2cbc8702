"""Bad input at the public boundary: every case raises a clear, specific error.

Each test matches the message, because the message is the product here: it must
name the argument, what is wrong with it, and what to do.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import neurallab as nl
from neurallab.errors import InputError, InputTypeError


@pytest.fixture
def net():
    return nl.Network([2, 3, 1], bias=False, seed=0)


@pytest.fixture
def clf():
    return nl.Network([2, 4, 3], activation="tanh", output_activation="softmax", seed=0)


def test_error_classes_are_value_and_type_errors():
    assert issubclass(InputError, ValueError)
    assert issubclass(InputTypeError, TypeError)
    assert issubclass(nl.ModelFileError, ValueError)
    assert issubclass(nl.JacobianTooLargeError, ValueError)


# ----------------------------------------------------------------------------- rows
@pytest.mark.parametrize("call", ["fit", "loss_and_grad", "cost"])
def test_x_and_y_with_different_numbers_of_rows(net, sleep, call):
    X, y = sleep
    kwargs = {"verbose": 0, "epochs": 2} if call == "fit" else {}
    with pytest.raises(InputError, match=r"X has 3 rows but y has 2; they must describe "
                                         r"the same samples"):
        getattr(net, call)(X, y[:2], **kwargs)


def test_validation_data_with_different_numbers_of_rows(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=r"X_val has 3 rows but y_val has 1"):
        net.fit(X, y, epochs=2, verbose=0, validation_data=(X, y[:1]))


# ----------------------------------------------------------------------------- columns
@pytest.mark.parametrize("call", ["predict", "forward", "fit", "residual_jacobian"])
def test_wrong_number_of_input_columns(net, call):
    X = np.ones((4, 3))
    args = (X, np.ones((4, 1))) if call == "fit" else (X,)
    kwargs = {"verbose": 0} if call == "fit" else {}
    with pytest.raises(InputError, match=re.escape(
            "X has 3 columns but the network takes 2 inputs; pass data of shape "
            "(n_samples, 2)")):
        getattr(net, call)(*args, **kwargs)


def test_wrong_number_of_validation_columns(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=r"X_val has 1 columns but the network takes 2"):
        net.fit(X, y, epochs=2, verbose=0, validation_data=(X[:, :1], y))


def test_wrong_number_of_target_columns(net, sleep):
    X, _ = sleep
    with pytest.raises(InputError, match=re.escape(
            "y has 2 columns but the network has 1 outputs; pass targets of shape "
            "(n_samples, 1)")):
        net.loss_and_grad(X, np.ones((3, 2)))


def test_one_hot_with_wrong_number_of_classes(clf, blobs):
    X, labels = blobs
    with pytest.raises(InputError, match=r"y has 4 columns but the network has 3 outputs.*"
                                         r"or integer labels of shape \(n_samples,\)"):
        clf.loss_and_grad(X, np.eye(4)[labels], loss="categorical_crossentropy")


# ----------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y", "X_val", "y_val"])
def test_nan_or_inf_anywhere_in_the_data(net, sleep, bad, where):
    X, y = sleep
    data = {"X": X.copy(), "y": y.copy(), "X_val": X.copy(), "y_val": y.copy()}
    data[where][1, 0] = bad
    with pytest.raises(InputError, match=rf"{where} contains NaN or infinite values \(first "
                                         r"at index \(1, 0\)\); remove or impute them"):
        net.fit(data["X"], data["y"], validation_data=(data["X_val"], data["y_val"]),
                epochs=2, verbose=0)


@pytest.mark.parametrize("call", ["predict", "forward", "loss_and_grad"])
def test_nan_in_inputs_of_every_entry_point(net, sleep, call):
    X, y = sleep
    X = X.copy()
    X[2, 1] = np.nan
    args = (X, y) if call == "loss_and_grad" else (X,)
    with pytest.raises(InputError, match=r"X contains NaN or infinite values \(first at "
                                         r"index \(2, 1\)\)"):
        getattr(net, call)(*args)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_set_params(net, bad):
    theta = net.get_params()
    theta[4] = bad
    before = net.get_params()
    with pytest.raises(InputError, match=r"theta contains NaN or infinite values"):
        net.set_params(theta)
    np.testing.assert_array_equal(net.params, before)  # nothing half-written


def test_nan_in_integer_style_float_labels(clf, blobs):
    X, labels = blobs
    y = labels.astype(float)
    y[3] = np.nan
    with pytest.raises(InputError, match=r"y is 1-D, so it must hold integer class labels "
                                         r"0\.\.2; found non-integer values"):
        clf.loss_and_grad(X, y, loss="categorical_crossentropy")


# ----------------------------------------------------------------------------- empty
def test_empty_X(net):
    with pytest.raises(InputError, match=re.escape(
            "X is empty (shape (0, 2)); pass at least one sample")):
        net.predict(np.empty((0, 2)))


def test_empty_training_set(net):
    with pytest.raises(InputError, match=r"X is empty"):
        net.fit(np.empty((0, 2)), np.empty((0, 1)), verbose=0)


def test_empty_targets(net, sleep):
    X, _ = sleep
    with pytest.raises(InputError, match=r"y is empty"):
        net.loss_and_grad(X, np.empty((0, 1)))


def test_empty_list(net):
    with pytest.raises(InputError, match=r"X must be 2-D, got shape \(0,\)"):
        net.predict([])


# ----------------------------------------------------------------------------- types
def test_strings_in_X(net):
    with pytest.raises(InputTypeError, match=r"X must hold numbers, got dtype <U3 "
                                             r"\(strings or objects\?\); convert it"):
        net.predict([["3.0", "5.0"], ["abc", "1"]])


def test_objects_in_X(net):
    X = np.array([[1.0, None], [2.0, 3.0]], dtype=object)
    with pytest.raises(InputTypeError, match=r"X must hold numbers, got dtype object"):
        net.predict(X)


def test_a_string_as_X(net):
    with pytest.raises(InputTypeError, match=r"X must be a numeric array, got a string "
                                             r"'data.csv'"):
        net.predict("data.csv")


def test_strings_as_targets(net, sleep):
    X, _ = sleep
    with pytest.raises(InputTypeError, match=r"y must hold numbers, got dtype <U"):
        net.fit(X, ["good", "bad", "ok"], verbose=0)


def test_string_class_labels(clf, blobs):
    X, _ = blobs
    with pytest.raises(InputTypeError, match=r"y must hold integer class labels, got dtype"):
        clf.fit(X, np.array(["cat"] * 60), loss="categorical_crossentropy", verbose=0)


def test_complex_numbers(net):
    with pytest.raises(InputTypeError, match=r"X must hold numbers, got dtype complex128"):
        net.predict(np.ones((2, 2), dtype=complex))


def test_ragged_list(net):
    with pytest.raises(InputError, match=r"X could not be read as an array .*rectangular "
                                         r"list"):
        net.predict([[1.0, 2.0], [3.0]])


def test_set_params_wrong_shape_and_dtype(net):
    with pytest.raises(InputError, match=re.escape(
            "theta must have shape (9,) — this network has 9 parameters — got (8,)")):
        net.set_params(np.zeros(8))
    with pytest.raises(InputTypeError, match=r"theta must be numeric, got dtype <U1"):
        net.set_params(np.array(list("abcdefghi")))


# ----------------------------------------------------------------------------- 1-D X
@pytest.mark.parametrize("call", ["predict", "forward"])
def test_one_dimensional_X(net, call):
    with pytest.raises(InputError, match=re.escape(
            "X must be 2-D, got shape (2,) — for one feature use X.reshape(-1, 1), "
            "for one sample X.reshape(1, -1)")):
        getattr(net, call)(np.array([8.0, 3.0]))


def test_one_dimensional_X_in_fit(net):
    with pytest.raises(InputError, match=r"X must be 2-D, got shape \(3,\)"):
        net.fit(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), verbose=0)


def test_one_dimensional_targets_for_several_outputs():
    net = nl.Network([2, 3, 2], output_activation="identity", seed=0)
    with pytest.raises(InputError, match=re.escape(
            "y has shape (3,), one value per sample, but the network has 2 outputs; pass "
            "targets of shape (n_samples, 2)")):
        net.loss_and_grad(np.ones((3, 2)), np.ones(3))


def test_the_reshape_hint_names_the_argument(net):
    with pytest.raises(InputError, match=re.escape(
            "X_val must be 2-D, got shape (3,) — for one feature use X_val.reshape(-1, 1)")):
        net.fit(np.ones((3, 2)), np.ones(3), verbose=0, validation_data=(np.ones(3), [1]))


def test_one_dimensional_targets_are_fine_for_one_output(net, sleep):
    X, y = sleep
    J1, g1 = net.loss_and_grad(X, y)
    J2, g2 = net.loss_and_grad(X, y.ravel())
    assert J1 == J2
    np.testing.assert_array_equal(g1, g2)


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize("labels, lo, hi", [
    ([0, 1, 3], 0, 3), ([-1, 0, 2], -1, 2),
    (np.array([0.0, 1e20, 2.0]), 0, "1e+20"),                       # beyond int64: not wrapped
    (np.array([0, 2**63 + 5, 1], dtype=np.uint64), 0, 2**63 + 5),   # not shown negative
])
def test_class_labels_outside_the_output_size(clf, labels, lo, hi):
    X = np.zeros((3, 2))
    with pytest.raises(InputError, match=re.escape(
            f"y holds class labels from {lo} to {hi}, but the network has 3 outputs, so "
            "labels must lie in 0..2; build the network with as many outputs as classes")):
        clf.loss_and_grad(X, np.array(labels), loss="categorical_crossentropy")


@pytest.mark.parametrize("values", [[[1e39, 1.0]], np.array([[1.0, -1e39]])])
def test_finite_values_beyond_float32_are_not_called_nan(values):
    net = nl.Network([2, 3, 1], dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"X holds (1e\+39|-1e\+39) at index \(0, \d\), "
                           r"beyond the range of float32 \(±3\.4e\+38\); scale the data "
                           r"down, or use a float64 network"):
            net.predict(values)


def test_class_labels_outside_the_output_size_in_fit(clf, blobs):
    X, labels = blobs
    with pytest.raises(InputError, match=r"labels must lie in 0\.\.2"):
        clf.fit(X, labels + 1, loss="categorical_crossentropy", verbose=0)
    with pytest.raises(InputError, match=r"y_val holds class labels from 5 to 5"):
        clf.fit(X, labels, loss="categorical_crossentropy", verbose=0,
                validation_data=(X, np.full(60, 5)))


@pytest.mark.parametrize("y", [[0, 1, 2], [[0.0], [1.0], [-1.0]], [0, 1, 1.5]])
def test_binary_targets_outside_zero_one(y):
    net = nl.Network([2, 3, 1], seed=0)
    with pytest.raises(InputError, match=r"y holds values from .* but cross-entropy "
                                         r"targets must lie in \[0, 1\]"):
        net.loss_and_grad(np.ones((3, 2)), y, loss="binary_crossentropy")


def test_one_hot_targets_outside_zero_one(clf):
    with pytest.raises(InputError, match=r"y holds values from 0 to 2, but cross-entropy"):
        clf.loss_and_grad(np.ones((2, 2)), [[0, 2, 0], [1, 0, 0]],
                          loss="categorical_crossentropy")


def test_non_integer_labels(clf):
    with pytest.raises(InputError, match=r"found non-integer values"):
        clf.loss_and_grad(np.ones((2, 2)), np.array([0.0, 1.5]),
                          loss="categorical_crossentropy")


# ----------------------------------------------------------------------------- layer sizes
@pytest.mark.parametrize("sizes, message", [
    ([2, 0, 1], "layer_sizes[1] is 0; every layer needs at least one unit"),
    ([2, -3, 1], "layer_sizes[1] is -3; every layer needs at least one unit"),
    ([0, 3, 1], "layer_sizes[0] is 0; every layer needs at least one unit"),
    ([2, 3, -1], "layer_sizes[2] is -1; every layer needs at least one unit"),
    ([2], "layer_sizes needs at least an input and an output size, got [2]; e.g. [2, 3, 1]"),
    ([], "layer_sizes needs at least an input and an output size, got []"),
])
def test_bad_layer_sizes(sizes, message):
    with pytest.raises(InputError, match=re.escape(message)):
        nl.Network(sizes)


@pytest.mark.parametrize("sizes, message", [
    ([2, 3.5, 1], "layer_sizes[1] must be an integer, got 3.5"),
    ([2, True, 1], "layer_sizes[1] must be an integer, got True"),
    ([2, "3", 1], "layer_sizes[1] must be an integer, got '3'"),
    ("2-3-1", "layer_sizes must be a list of positive integers like [2, 3, 1], got '2-3-1'"),
    (5, "layer_sizes must be a list of positive integers like [2, 3, 1], got 5"),
    ({2: 1, 3: 1}, "layer_sizes must be a list of positive integers like [2, 3, 1], got {2: 1"),
    ({2, 3}, "layer_sizes must be a list of positive integers like [2, 3, 1], got {2, 3}"),
])
def test_layer_sizes_of_the_wrong_type(sizes, message):
    with pytest.raises(InputTypeError, match=re.escape(message)):
        nl.Network(sizes)


def test_dropout_as_a_zero_dimensional_array_is_its_number():
    net = nl.Network([2, 3, 3, 1], dropout=np.array(0.2))
    assert net.dropout == [0.2, 0.2]


@pytest.mark.parametrize("call", ["cost", "loss_and_grad", "fit", "check_gradients"])
def test_normalize_must_be_a_bool(net, sleep, call):
    """normalize="no" is a truthy string: taken silently it would mean yes."""
    X, y = sleep
    with pytest.raises(InputTypeError, match=re.escape(
            "normalize must be True or False, got 'no'")):
        if call == "check_gradients":
            nl.check_gradients(net, X, y, normalize="no")
        else:
            getattr(net, call)(X, y, normalize="no", **({"verbose": 0} if call == "fit" else {}))


def test_arguments_of_the_wrong_kind_get_a_neurallab_error(net, sleep):
    X, y = sleep
    with pytest.raises(InputTypeError, match=r"net must be a neurallab Network, got str"):
        nl.check_gradients("net", X, y)
    with pytest.raises(InputTypeError, match=r"cache must be the Cache from forward\(X, "
                                             r"return_cache=True\), got str"):
        net.backward("cache", y)
    with pytest.raises(InputError, match=r"rng must be a non-negative integer or None, got -1"):
        net.forward(X, training=True, rng=-1)
    with pytest.raises(InputTypeError, match=r"scale must be a number or a 1-D list of "
                                             r"numbers, got True"):
        nl.preprocessing.MaxAbsScaler(True)


def test_an_integer_rng_seeds_the_dropout_masks():
    net = nl.Network([2, 8, 1], dropout=0.5, seed=0)
    X = np.ones((4, 2))
    a = net.forward(X, training=True, rng=7)
    b = net.forward(X, training=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert net.loss_and_grad(X, np.ones((4, 1)), rng=7)[0] == \
        net.loss_and_grad(X, np.ones((4, 1)), rng=np.random.default_rng(7))[0]


def test_numpy_integer_layer_sizes_are_fine():
    net = nl.Network(np.array([2, 3, 1]), seed=0)
    assert net.layer_sizes == [2, 3, 1]
    assert all(type(s) is int for s in net.layer_sizes)


# ----------------------------------------------------------------------------- names
ACTS = "sigmoid, tanh, relu, leaky_relu, identity, softmax"


@pytest.mark.parametrize("kwargs", [{"activation": "sigmod"},
                                    {"output_activation": "Softmax"},
                                    {"activation": None}])
def test_unknown_activation_lists_the_valid_ones(kwargs):
    with pytest.raises(InputError, match=re.escape(f"; choose one of {ACTS}")):
        nl.Network([2, 3, 1], **kwargs)


def test_softmax_on_a_hidden_layer():
    with pytest.raises(InputError, match=re.escape(
            "activation 'softmax' can only be used on the output layer; for hidden layers "
            "choose one of sigmoid, tanh, relu, leaky_relu, identity")):
        nl.Network([2, 3, 1], activation="softmax", output_activation="sigmoid")


def test_softmax_over_one_output():
    with pytest.raises(InputError, match=re.escape(
            "a softmax over a single output is always 1; use output_activation='sigmoid' "
            "for one output (two classes), or one output per class")):
        nl.Network([2, 3, 1], output_activation="softmax")


def test_unknown_loss_lists_the_valid_ones(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=re.escape(
            "unknown loss 'l2'; choose one of sse, mse, binary_crossentropy, "
            "categorical_crossentropy")):
        net.loss_and_grad(X, y, loss="l2")
    with pytest.raises(InputError, match=r"unknown loss 'hinge'"):
        net.fit(X, y, loss="hinge", verbose=0)


def test_unknown_optimizer_lists_the_valid_ones(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=re.escape(
            "unknown optimizer 'rmsprop'; choose one of gd, sgd, adam, bfgs, lbfgs, cg, "
            "newton-cg, lm or pass an object from neurallab.optim")):
        net.fit(X, y, optimizer="rmsprop", verbose=0)


def test_unknown_init_dtype_and_scaler():
    with pytest.raises(InputError, match=r"unknown init 'glorot'; choose one of normal, "
                                         r"xavier, he"):
        nl.Network([2, 3, 1], init="glorot")
    for dtype in ("float16", "int32", "bogus"):
        with pytest.raises(InputError, match=r"unsupported dtype .*; choose one of float64, "
                                             r"float32"):
            nl.Network([2, 3, 1], dtype=dtype)
    with pytest.raises(InputError, match=r"unknown scaler 'zscore'; choose one of max, "
                                         r"minmax, standard or None"):
        nl.Network([2, 3, 1], input_scaler="zscore")


def test_optimizer_names_are_forgiving_about_case_and_separators():
    assert nl.optim.get_optimizer("Newton_CG").name == "newton-cg"
    assert nl.optim.get_optimizer("newtoncg").name == "newton-cg"
    assert nl.optim.get_optimizer("LBFGS").name == "lbfgs"


def test_incompatible_loss_and_output_activation(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=re.escape(
            "loss 'categorical_crossentropy' needs an output activation in softmax "
            "(outputs that sum to 1: −Σ y·log ŷ only pushes the true class up, so independent "
            "sigmoid outputs would all go to 1; for those use binary_crossentropy), got "
            "'identity'; change output_activation or the loss")):
        nl.Network([2, 3, 1], output_activation="identity").fit(
            X, y, loss="categorical_crossentropy", verbose=0)


# ----------------------------------------------------------------------------- other args
@pytest.mark.parametrize("seed, cls, message", [
    ("abc", InputTypeError, "seed must be a non-negative integer or None, got 'abc'"),
    (1.5, InputTypeError, "seed must be a non-negative integer or None, got 1.5"),
    (True, InputTypeError, "seed must be a non-negative integer or None, got True"),
    (-1, InputError, "seed must be a non-negative integer or None, got -1"),
])
def test_bad_seeds(net, sleep, seed, cls, message):
    with pytest.raises(cls, match=re.escape(message)):
        nl.Network([2, 3, 1], seed=seed)
    with pytest.raises(cls, match=re.escape(message)):
        net.fit(*sleep, verbose=0, seed=seed)
    with pytest.raises(cls, match=re.escape(message)):
        net.initialize(seed)


def test_numpy_integer_seed_is_stored_as_int_and_saves(tmp_path):
    net = nl.Network([2, 3, 1], seed=np.int64(3))
    assert type(net.seed) is int
    np.testing.assert_array_equal(net.params, nl.Network([2, 3, 1], seed=3).params)
    net.save(tmp_path / "m.safetensors")  # the config is plain JSON
    assert nl.load(tmp_path / "m.safetensors").seed == 3


def test_bias_must_be_a_bool():
    with pytest.raises(InputTypeError, match=r"bias must be True or False, got 'no'"):
        nl.Network([2, 3, 1], bias="no")


@pytest.mark.parametrize("dropout, message", [
    (1.0, "dropout rates must lie in [0, 1), got 1.0"),
    (-0.1, "dropout rates must lie in [0, 1), got -0.1"),
    ([0.1, 0.2], "dropout has 2 rates but the network has 1 hidden layers"),
])
def test_bad_dropout(dropout, message):
    with pytest.raises(InputError, match=re.escape(message)):
        nl.Network([2, 3, 1], dropout=dropout)


@pytest.mark.parametrize("dropout", ["0.5", None, [0.1, "x"]])
def test_dropout_of_the_wrong_type(dropout):
    with pytest.raises(InputTypeError, match=re.escape(
            f"dropout must be a number in [0, 1) or one such number per hidden layer, got "
            f"{dropout!r}")):
        nl.Network([2, 3, 3, 1], dropout=dropout)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
    ({"l2": -1.0}, "l2 must be a non-negative number, got -1.0"),
    ({"l2": float("nan")}, "l2 must be a non-negative number, got nan"),
    ({"verbose": 3}, "verbose must be 0, 1 or 2, got 3"),
    ({"optimizer": "sgd", "batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"optimizer": "sgd", "lr": -0.1}, "lr (the learning rate) must be a positive number"),
    ({"validation_split": 1.5}, "validation_split must lie in (0, 1), got 1.5"),
    ({"validation_split": 0.1}, "validation_split=0.1 leaves 0 validation samples out of 3"),
    ({"validation_data": ([[1, 2]],)}, "validation_data must be a pair (X_val, y_val)"),
    ({"optimizer": nl.optim.Adam(), "lr": 0.1},
     "optimizer settings go into the optimizer object, not fit()"),
])
def test_bad_fit_arguments(net, sleep, kwargs, message):
    X, y = sleep
    with pytest.raises(InputError, match=re.escape(message)):
        net.fit(X, y, **{"epochs": 2, "verbose": 0, **kwargs})


@pytest.mark.parametrize("kwargs, cls, message", [
    ({"epochs": True}, InputError, "epochs must be a positive integer, got True"),
    ({"optimizer": "sgd", "batch_size": "2"}, InputError,
     "batch_size must be a positive integer, got '2'"),
    ({"validation_split": "0.2"}, InputTypeError,
     "validation_split must be a number in (0, 1), got '0.2'"),
    ({"l2": "0.1"}, InputTypeError, "l2 must be a non-negative number, got '0.1'"),
    ({"callbacks": "early"}, InputTypeError,
     "callbacks must be a list of Callback objects, got 'early'"),
    ({"callbacks": [print]}, InputTypeError,
     "callbacks[0] is a builtin_function_or_method, not a neurallab Callback; subclass "
     "neurallab.Callback or wrap functions in LambdaCallback"),
])
def test_fit_arguments_of_the_wrong_type(net, sleep, kwargs, cls, message):
    X, y = sleep
    before = net.get_params()
    with pytest.raises(cls, match=re.escape(message)):
        net.fit(X, y, **{"epochs": 2, "verbose": 0, **kwargs})
    np.testing.assert_array_equal(net.params, before)


def test_a_single_callback_needs_no_list(net, sleep):
    seen = []
    net.fit(*sleep, epochs=2, verbose=0, optimizer="gd",
            callbacks=nl.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)))
    assert seen == [0, 1]


@pytest.mark.parametrize("l2, cls, message", [
    (-1e-4, InputError, "l2 must be a non-negative number, got -0.0001"),
    (float("nan"), InputError, "l2 must be a non-negative number, got nan"),
    (float("inf"), InputError, "l2 must be a non-negative number, got inf"),
    ("a", InputTypeError, "l2 must be a non-negative number, got 'a'"),
    (None, InputTypeError, "l2 must be a non-negative number, got None"),
])
@pytest.mark.parametrize("call", ["loss_and_grad", "cost", "backward", "check_gradients"])
def test_bad_l2_at_every_entry_point(net, sleep_scaled, call, l2, cls, message):
    X, y = sleep_scaled
    with pytest.raises(cls, match=re.escape(message)):
        if call == "backward":
            net.backward(net.forward(X, return_cache=True)[1], y, l2=l2)
        elif call == "check_gradients":
            nl.check_gradients(net, X, y, l2=l2)
        else:
            getattr(net, call)(X, y, l2=l2)


def test_validation_data_and_split_together(net, sleep):
    X, y = sleep
    with pytest.raises(InputError, match=r"pass either validation_data or validation_split"):
        net.fit(X, y, verbose=0, validation_data=(X, y), validation_split=0.5)


def test_predict_proba_needs_a_probabilistic_output(sleep):
    net = nl.Network([2, 3, 1], output_activation="identity")
    with pytest.raises(InputError, match=r"predict_proba needs a softmax or sigmoid output "
                                         r"layer; this network's output activation is "
                                         r"'identity'; use predict\(\)"):
        net.predict_proba(sleep[0])


def test_bad_input_leaves_the_network_untouched(net, sleep):
    X, y = sleep
    before = net.get_params()
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError):
        net.fit(bad, y, verbose=0)
    np.testing.assert_array_equal(net.params, before)
    assert net.loss is None
