"""neurallab and Keras 3 (PyTorch backend): same weights, same outputs, same files.

Importing Keras takes several seconds, so it happens once for the module (the
``keras`` fixture) and the module is marked slow.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

import neurallab as nl
from neurallab.errors import InputError, InputTypeError
from neurallab.interop import MissingExtraError, export_keras, from_keras, to_keras

pytestmark = [
    pytest.mark.slow,
    # Keras's own torch-backend conversions, not ours
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy"
                               ":DeprecationWarning"),
]

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUT = HIDDEN + ("softmax",)


@pytest.fixture(scope="module")
def keras():
    from neurallab.interop._deps import import_keras

    return import_keras("the tests")


def _net(hidden, out, bias, dtype, seed=0, **kw):
    net = nl.Network([4, 6, 5, 3], activation=hidden, output_activation=out, bias=bias,
                     init="xavier", dtype=dtype, seed=seed, **kw)
    if bias:
        rng = np.random.default_rng(seed)
        for b in net.b:
            b[...] = rng.normal(scale=0.5, size=b.shape)
    return net


def _run(keras, model, X) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(X)), dtype=np.float64)


def _rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def test_keras_runs_on_the_torch_backend(keras):
    assert keras.backend.backend() == "torch"


@pytest.mark.parametrize(("hidden", "out", "bias"),
                         list(itertools.product(HIDDEN, OUTPUT, (True, False))))
def test_outputs_match_and_weights_are_ours(keras, hidden, out, bias):
    X = np.random.default_rng(2).normal(size=(8, 4))
    net32 = _net(hidden, out, bias, "float32")
    model = to_keras(net32)
    assert _rel_err(_run(keras, model, X.astype(np.float32)),
                    net32.forward(X.astype(np.float32))) <= 1e-5
    # float64 layers keep float64 weights exactly; Keras 3 on torch/jax still
    # multiplies in float32 (its type promotion maps float64 to float32), so the
    # outputs agree to float32 precision only
    net64 = _net(hidden, out, bias, "float64")
    model64 = to_keras(net64)
    dense = [layer for layer in model64.layers if type(layer).__name__ == "Dense"]
    for layer, W, b in zip(dense, net64.W, net64.b, strict=True):
        weights = layer.get_weights()
        assert weights[0].dtype == np.float64 and np.array_equal(weights[0], W)
        if bias:
            assert np.array_equal(weights[1], b)
    assert _rel_err(_run(keras, model64, X), net64.forward(X)) <= 1e-5


@pytest.mark.parametrize(("hidden", "out", "bias", "dtype"), [
    ("sigmoid", "sigmoid", False, "float64"), ("relu", "softmax", True, "float32"),
    ("leaky_relu", "identity", True, "float64"), ("tanh", "leaky_relu", False, "float32"),
    ("identity", "softmax", False, "float64"),
])
def test_round_trip_gives_identical_parameters(keras, hidden, out, bias, dtype):
    net = _net(hidden, out, bias, dtype, dropout=0.0)
    back = from_keras(to_keras(net))
    assert (back.activation.name, back.output_activation.name) == (hidden, out)
    assert back.bias == bias and back.dtype == net.dtype
    assert np.array_equal(back.params, net.params)


def test_scalers_travel_as_rescaling_layers(keras):
    X, y = nl.datasets.sleep_study()
    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler="max",
                     output_scaler=nl.preprocessing.MaxAbsScaler(100))
    net.fit(X, y, optimizer="bfgs", epochs=50, verbose=0)
    model = to_keras(net, include_scalers=True)
    names = [layer.name for layer in model.layers]
    assert names == ["input_scaling", "dense_0", "dense_1", "output_scaling"]
    queries = np.array([[8.0, 3.0], [3.0, 5.0]])
    assert _rel_err(_run(keras, model, queries), net.predict_raw(queries)) <= 1e-6
    back = from_keras(model)
    np.testing.assert_allclose(back.input_scaler.scale_, [10.0, 5.0], rtol=1e-15)
    np.testing.assert_array_equal(back.output_scaler.scale_, [100.0])
    np.testing.assert_allclose(back.predict_raw(queries), net.predict_raw(queries),
                               rtol=1e-14)


def test_from_keras_reads_a_hand_written_keras_model(keras):
    L = keras.layers
    model = keras.Sequential([
        keras.Input((4,)), L.Dense(8, activation="relu"), L.Dropout(0.2),
        L.Dense(8), L.ReLU(), L.Dense(3, activation="linear"), L.Activation("softmax"),
    ])
    net = from_keras(model)
    assert net.layer_sizes == [4, 8, 8, 3] and net.dropout == [0.2, 0.0]
    assert (net.activation.name, net.output_activation.name) == ("relu", "softmax")
    X = np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32)
    assert _rel_err(net.forward(X), _run(keras, model, X)) <= 1e-5


@pytest.mark.parametrize("make, slope", [
    (lambda L: [L.Dense(3, activation="leaky_relu")], 0.2),     # Keras's function default
    (lambda L: [L.Dense(3), L.LeakyReLU()], 0.3),                # Keras's layer default
    (lambda L: [L.Dense(3), L.ReLU(negative_slope=0.1)], 0.1),
])
def test_leaky_relu_of_any_slope_comes_in_with_its_slope(keras, make, slope):
    model = keras.Sequential([keras.Input((2,)), *make(keras.layers), keras.layers.Dense(1)])
    net = from_keras(model)
    assert net.activation.name == "leaky_relu" and net.activation.alpha == pytest.approx(slope)
    X = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    assert _rel_err(net.forward(X), _run(keras, model, X)) <= 1e-5


def test_leaky_relu_as_a_layer_with_slope_001(keras):
    L = keras.layers
    for act in (L.LeakyReLU(negative_slope=0.01), L.ReLU(negative_slope=0.01)):
        model = keras.Sequential([keras.Input((2,)), L.Dense(3), act, L.Dense(1)])
        net = from_keras(model)
        assert net.activation.name == "leaky_relu"


@pytest.mark.parametrize(("layers", "message"), [
    (lambda L: [L.Dense(3), L.BatchNormalization(), L.Dense(1)],
     "(BatchNormalization), which neurallab does not support"),
    (lambda L: [L.Dense(3), L.LeakyReLU(0.3), L.Dense(3), L.LeakyReLU(0.2), L.Dense(1)],
     "hidden leaky ReLUs have different slopes (0.2, 0.3)"),
    (lambda L: [L.Dense(3, activation="gelu"), L.Dense(1)],
     "uses activation 'gelu', which neurallab does not support"),
    (lambda L: [L.Dense(3, use_bias=False), L.Dense(1)],
     "has a bias but layer"),
    (lambda L: [L.Dense(3, activation="relu"), L.Activation("tanh"), L.Dense(1)],
     "follows another activation or dropout"),
    (lambda L: [L.Dense(3), L.Rescaling(2.0), L.Dense(1)],
     "is only supported as the first layer"),
    (lambda L: [L.ReLU(), L.Dense(1)],
     "starts with activation"),
    (lambda L: [L.Dense(3), L.Dropout(0.5)],
     "dropout after the output layer"),
])
def test_from_keras_refuses_what_it_cannot_represent(keras, layers, message):
    model = keras.Sequential([keras.Input((2,))] + layers(keras.layers))
    with pytest.raises(InputError) as err:
        from_keras(model)
    assert message in str(err.value)


def test_from_keras_needs_a_built_sequential(keras):
    inp = keras.Input((2,))
    functional = keras.Model(inp, keras.layers.Dense(1)(inp))
    with pytest.raises(InputTypeError, match="from_keras takes a keras.Sequential"):
        from_keras(functional)
    with pytest.raises(InputError, match="is not built, so it has no weights yet"):
        from_keras(keras.Sequential([keras.layers.Dense(1)]))


def test_from_keras_reads_the_kernel_a_lora_layer_computes_with(keras):
    """With LoRA enabled, a Dense computes with its base kernel plus the low-rank
    update; reading the base kernel alone gave outputs 1.5 off, silently."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                              keras.layers.Dense(2)])
    model.layers[0].enable_lora(2)
    model.layers[0].lora_kernel_b.assign(np.ones((2, 3), dtype="float32"))
    X = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    net = from_keras(model)
    assert _rel_err(net.forward(X), _run(keras, model, X)) <= 1e-6


def test_from_keras_refuses_inputs_that_are_not_rows(keras):
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2)])
    with pytest.raises(InputError, match=r"takes inputs of shape \(None, 4, 3\); a neurallab "
                                         r"network takes rows of numbers"):
        from_keras(model)


def test_export_keras_file_loads_in_keras(keras, tmp_path):
    net = _net("tanh", "softmax", True, "float32", input_scaler="standard")
    X = np.random.default_rng(5).normal(loc=3.0, scale=2.0, size=(20, 4))
    net.input_scaler.fit(X)
    path = export_keras(net, tmp_path / "net.keras")
    model = keras.models.load_model(path)
    assert _rel_err(_run(keras, model, X.astype(np.float32)), net.predict_raw(X)) <= 1e-5
    assert not list(tmp_path.glob(".net.*"))  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it
    with pytest.raises(InputError, match=r"must end in \.keras"):
        export_keras(net, tmp_path / "net.h5")


def test_an_unavailable_backend_is_named_as_such(monkeypatch):
    """Keras installed, the backend KERAS_BACKEND names not: say that, not 'install Keras'."""
    from neurallab.interop import _deps

    def fail(name):
        raise ModuleNotFoundError("No module named 'tensorflow'")

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setattr(_deps.importlib, "import_module", fail)
    with pytest.raises(MissingExtraError, match=r"Keras is installed, but the backend "
                                                r"KERAS_BACKEND='tensorflow' asks for is not"):
        _deps.import_keras("to_keras")


def test_missing_keras_names_the_extra(monkeypatch, keras):
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(MissingExtraError, match=r'pip install "neurallab\[keras\]"'):
        to_keras(nl.Network([2, 1]))
