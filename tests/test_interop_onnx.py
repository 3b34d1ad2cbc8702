"""ONNX export: a standard graph that onnxruntime runs with our outputs."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import onnx
import pytest

import neurallab as nl
from neurallab.errors import InputError, InputTypeError, ModelFileError
from neurallab.interop import (
    DEFAULT_OPSET,
    MissingExtraError,
    compare_outputs,
    from_onnx,
    run_onnx,
    to_onnx,
)

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUT = HIDDEN + ("softmax",)
CASES = list(itertools.product(HIDDEN, OUTPUT, (True, False)))


def _net(hidden, out, bias, dtype, seed=0):
    net = nl.Network([4, 6, 5, 3], activation=hidden, output_activation=out, bias=bias,
                     init="xavier", dtype=dtype, seed=seed)
    if bias:
        rng = np.random.default_rng(seed)
        for b in net.b:
            b[...] = rng.normal(scale=0.5, size=b.shape)
    return net


def _rel_err(a, b) -> float:
    """max |a − b| relative to max |b| (0 when both are all zeros, e.g. dead ReLUs)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize(("hidden", "out", "bias"), CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
def test_onnxruntime_matches_forward_float32_and_float64(hidden, out, bias):
    X = np.random.default_rng(1).normal(size=(9, 4))
    for dtype, tol in (("float32", 1e-5), ("float64", 1e-12)):
        net = _net(hidden, out, bias, dtype)
        model = to_onnx(net)
        Y = run_onnx(model, X)
        assert Y.dtype == np.dtype(dtype) and Y.shape == (9, 3)
        assert _rel_err(Y, net.forward(X.astype(dtype))) <= tol


def test_graph_is_standard_and_holds_our_weights(tmp_path):
    net = _net("leaky_relu", "softmax", True, "float32")
    path = tmp_path / "net.onnx"
    to_onnx(net, path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == [
        "Gemm", "LeakyRelu", "Gemm", "LeakyRelu", "Gemm", "Softmax", "Identity"]
    assert model.opset_import[0].version == DEFAULT_OPSET
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    for l in range(3):
        assert np.array_equal(inits[f"W{l}"], net.W[l])
        assert np.array_equal(inits[f"b{l}"], net.b[l])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("batch", 4)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["neurallab_config"])["layer_sizes"] == [4, 6, 5, 3]
    leaky = model.graph.node[1].attribute[0]
    assert (leaky.name, round(leaky.f, 6)) == ("alpha", 0.01)


def test_float64_leaky_relu_uses_an_exact_float64_slope():
    model = to_onnx(_net("leaky_relu", "identity", False, "float64"))
    assert [n.op_type for n in model.graph.node][:3] == ["MatMul", "Mul", "Max"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert inits["alpha0"].dtype == np.float64 and inits["alpha0"] == 0.01


def test_network_without_biases_uses_matmul():
    model = to_onnx(_net("sigmoid", "identity", False, "float64"))
    assert [n.op_type for n in model.graph.node] == [
        "MatMul", "Sigmoid", "MatMul", "Sigmoid", "MatMul", "Identity"]


def test_scalers_are_in_the_graph_so_it_takes_raw_units(tmp_path):
    X, y = nl.datasets.sleep_study()
    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler="max",
                     output_scaler=nl.preprocessing.MaxAbsScaler(100))
    net.fit(X, y, optimizer="bfgs", epochs=50, verbose=0)
    to_onnx(net, tmp_path / "raw.onnx")
    queries = np.array([[8.0, 3.0], [3.0, 5.0], [0.0, 0.0]])
    got = run_onnx(tmp_path / "raw.onnx", queries)
    assert _rel_err(got, net.predict_raw(queries)) <= 1e-12
    bare = run_onnx(to_onnx(net, include_scalers=False), net.input_scaler.transform(queries))
    assert _rel_err(bare, net.forward(net.input_scaler.transform(queries))) <= 1e-12


@pytest.mark.parametrize("n", [1, 2, 1000])
def test_any_batch_size(n):
    net = _net("relu", "softmax", True, "float32")
    X = np.random.default_rng(n).normal(size=(n, 4))
    assert _rel_err(run_onnx(to_onnx(net), X), net.forward(X.astype(np.float32))) <= 1e-5


def test_float64_network_exported_as_float32():
    net = _net("tanh", "sigmoid", True, "float64")
    model = to_onnx(net, dtype="float32")
    X = np.random.default_rng(3).normal(size=(5, 4))
    Y = run_onnx(model, X)
    assert Y.dtype == np.float32 and _rel_err(Y, net.forward(X)) <= 1e-5


def test_bad_arguments_get_clear_errors(tmp_path):
    net = _net("relu", "relu", True, "float32")
    for opset in (11, 99, True, "17"):
        with pytest.raises(InputError, match=r"opset must be an integer from 13 \(Softmax "
                                             r"over the last axis\) to \d+"):
            to_onnx(net, opset=opset)
    with pytest.raises(InputError, match="X has 3 columns but the ONNX model takes 4 inputs"):
        run_onnx(to_onnx(net), np.ones((2, 3)))
    with pytest.raises(InputError, match="X must be 2-D"):
        run_onnx(to_onnx(net), np.ones(4))
    bad = net.copy()
    bad.params[0] = np.nan
    with pytest.raises(InputError, match=r"to_onnx: the network's parameters hold NaN"):
        to_onnx(bad, tmp_path / "nan.onnx")
    assert not (tmp_path / "nan.onnx").exists()
    with pytest.raises(InputError, match="dtype must be 'float32' or 'float64'"):
        to_onnx(net, dtype="float16")
    with pytest.raises(InputTypeError, match="to_onnx takes a neurallab Network"):
        to_onnx("model.safetensors")
    with pytest.raises(ModelFileError, match="does not exist"):
        to_onnx(net, tmp_path / "missing-folder" / "net.onnx")


def test_run_onnx_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="ONNX file .* does not exist"):
        run_onnx(tmp_path / "nope.onnx", np.zeros((1, 4)))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelFileError, match="is not a readable ONNX model"):
        run_onnx(junk, np.zeros((1, 4)))


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r'pip install "neurallab\[onnx\]"'):
        to_onnx(nl.Network([2, 1]))


def test_compare_outputs_reports_a_missing_framework_instead_of_failing(monkeypatch):
    net = _net("tanh", "identity", True, "float64")
    X = np.random.default_rng(6).normal(size=(4, 4))
    ran = compare_outputs(net, X, frameworks=("onnx",))["onnx"]
    assert ran.ran and ran.dtype == "float64" and ran.max_abs_diff < 1e-12
    monkeypatch.setitem(sys.modules, "onnx", None)
    missing = compare_outputs(net, X, frameworks=("onnx",))["onnx"]
    assert not missing.ran and np.isnan(missing.max_abs_diff)
    assert 'pip install "neurallab[onnx]"' in missing.note
    with pytest.raises(InputError, match="unknown framework 'tf'"):
        compare_outputs(net, X, frameworks=("tf",))



# ----------------------------------------------------------------------------- from_onnx
@pytest.mark.parametrize(("hidden", "out", "bias"), CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_onnx_gives_back_the_same_network(hidden, out, bias, dtype):
    net = _net(hidden, out, bias, dtype)
    back = from_onnx(to_onnx(net))
    assert back.params.tobytes() == net.params.tobytes() and back.dtype == net.dtype
    assert (back.layer_sizes, back.activation.name, back.output_activation.name, back.bias) \
        == (net.layer_sizes, net.activation.name, net.output_activation.name, net.bias)


def test_from_onnx_reads_the_scalers_back_as_raw_units(tmp_path):
    rng = np.random.default_rng(1)
    net = nl.Network([3, 4, 2], activation="tanh", seed=0, input_scaler="standard",
                     output_scaler="minmax")
    X = rng.normal(5, 2, size=(30, 3))
    net.fit(X, rng.normal(50, 9, size=(30, 2)), optimizer="lbfgs", epochs=5, verbose=0)
    to_onnx(net, tmp_path / "m.onnx")
    back = from_onnx(tmp_path / "m.onnx")
    assert _rel_err(back.predict_raw(X), net.predict_raw(X)) <= 1e-13


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # the TorchScript exporter
def test_from_onnx_reads_what_torch_onnx_export_writes(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.Softmax(dim=-1))
    try:
        torch.onnx.export(model, (torch.randn(2, 4),), str(tmp_path / "t.onnx"), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}})
    except Exception as exc:  # pragma: no cover - an exporter this torch lacks
        pytest.skip(f"torch.onnx.export is not available here: {exc}")
    net = from_onnx(tmp_path / "t.onnx")
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    with torch.no_grad():
        assert _rel_err(net.forward(X), model(torch.from_numpy(X)).numpy()) <= 1e-6


def test_from_onnx_refuses_what_it_cannot_represent(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    W = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 3])

    def graph(*nodes):
        return helper.make_model(helper.make_graph(list(nodes), "g", [x], [y], [W]))

    with pytest.raises(InputError, match=r"contains node 'e' \(Elu\), which neurallab does "
                                         r"not support here"):
        from_onnx(graph(helper.make_node("MatMul", ["X", "W"], ["z"], name="m"),
                        helper.make_node("Elu", ["z"], ["Y"], name="e")))
    with pytest.raises(InputError, match=r"softmax over axis 0"):
        from_onnx(graph(helper.make_node("MatMul", ["X", "W"], ["z"], name="m"),
                        helper.make_node("Softmax", ["z"], ["Y"], name="s", axis=0)))
    with pytest.raises(InputError, match=r"ends at 'z', not at the graph's output 'Y'"):
        from_onnx(graph(helper.make_node("MatMul", ["X", "W"], ["z"], name="m")))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot protobuf")
    with pytest.raises(ModelFileError, match=r"junk.onnx is not a readable ONNX model"):
        from_onnx(junk)
    with pytest.raises(InputTypeError, match=r"from_onnx takes an ONNX file or "
                                             r"onnx.ModelProto, got int"):
        from_onnx(3)
