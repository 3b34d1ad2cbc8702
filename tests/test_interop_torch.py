"""neurallab and PyTorch: same outputs, same gradients, same training run, same files."""

from __future__ import annotations

import itertools
import re
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import neurallab as nl
from neurallab.errors import InputError, InputTypeError
from neurallab.interop import (
    MissingExtraError,
    from_torch,
    to_torch,
    torch_gradient_descent,
    torch_loss_and_grad,
)

nn = torch.nn
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUT = HIDDEN + ("softmax",)
LOSSES = ("sse", "mse", "binary_crossentropy", "categorical_crossentropy")
PENALTIES = ((0.0, False), (0.05, False), (0.05, True))  # (λ, normalize)


def _valid(out: str, loss: str) -> bool:
    accepts = nl.losses.LOSSES[loss].requires  # the pairings neurallab accepts
    return accepts is None or out in accepts


CASES = [c for c in itertools.product(HIDDEN, OUTPUT, LOSSES, (True, False), PENALTIES)
         if _valid(c[1], c[2])]


def _targets(rng, loss: str, out: str, n: int, k: int) -> np.ndarray:
    if loss in ("sse", "mse"):
        return rng.normal(size=(n, k))
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    return np.eye(k)[rng.integers(0, k, size=n)]


def _close(actual, expected, rel: float) -> None:
    """Agreement relative to the size of the result: |a − e| ≤ rel·max|e| elementwise."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(float(np.abs(expected).max()), np.finfo(float).tiny)
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale)


def _compare(hidden, out, loss, bias, l2, normalize, dtype, rel_out, rel_grad, seed):
    rng = np.random.default_rng(seed)
    net = nl.Network([4, 5, 6, 3], activation=hidden, output_activation=out, bias=bias,
                     init="xavier", dtype=dtype, seed=seed)
    if bias:  # non-zero biases, so they take part
        for b in net.b:
            b[...] = rng.normal(scale=0.5, size=b.shape)
    X = rng.normal(size=(7, 4)).astype(dtype)
    Y = _targets(rng, loss, out, 7, 3).astype(dtype)
    module = to_torch(net)
    _close(module(torch.from_numpy(X)).detach().numpy(), net.forward(X), rel_out)

    J, grad = net.loss_and_grad(X, Y, loss=loss, l2=l2, normalize=normalize)
    Jt, grad_t = torch_loss_and_grad(net, X, Y, loss=loss, l2=l2, normalize=normalize)
    _close(J, Jt, rel_grad)
    _close(grad, grad_t, rel_grad)


@pytest.mark.parametrize(("hidden", "out", "loss", "bias", "penalty"), CASES,
                         ids=["-".join(map(str, c)) for c in CASES])
def test_float64_forward_and_gradient_match_autograd(hidden, out, loss, bias, penalty):
    l2, normalize = penalty
    _compare(hidden, out, loss, bias, l2, normalize, "float64", 1e-12, 1e-10,
             seed=CASES.index((hidden, out, loss, bias, penalty)))


F32_CASES = [c for c in itertools.product(HIDDEN, OUTPUT, LOSSES) if _valid(c[1], c[2])]


@pytest.mark.parametrize(("hidden", "out", "loss"), F32_CASES,
                         ids=["-".join(c) for c in F32_CASES])
def test_float32_forward_and_gradient_match_autograd(hidden, out, loss):
    _compare(hidden, out, loss, True, 0.05, True, "float32", 1e-5, 1e-5,
             seed=F32_CASES.index((hidden, out, loss)))


@pytest.mark.parametrize(("loss", "out", "expected"), [
    ("sse", "identity", lambda yhat, y: 0.5 * ((y - yhat) ** 2).sum()),
    ("mse", "identity", lambda yhat, y: ((y - yhat) ** 2).mean(axis=1).sum()),
    ("binary_crossentropy", "sigmoid",
     lambda p, y: -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum()),
    ("categorical_crossentropy", "softmax", lambda p, y: -(y * np.log(p)).sum()),
])
def test_torch_cost_is_the_textbook_formula(loss, out, expected):
    """The autograd side computes the textbook cost (checked here against NumPy)."""
    rng = np.random.default_rng(5)
    net = nl.Network([3, 4, 2], activation="tanh", output_activation=out, seed=5)
    X = rng.normal(size=(6, 3))
    Y = (np.eye(2)[rng.integers(0, 2, 6)] if "entropy" in loss else rng.normal(size=(6, 2)))
    yhat = to_torch(net)(torch.from_numpy(X)).detach().numpy()
    l2 = 0.3
    penalty = 0.5 * l2 * sum((W ** 2).sum() for W in net.W)
    J, _ = torch_loss_and_grad(net, X, Y, loss=loss, l2=l2, normalize=True)
    assert J == pytest.approx(expected(yhat, Y) / 6 + penalty, rel=1e-13)


def test_parity_cases_cover_every_activation_loss_bias_and_penalty():
    assert {c[0] for c in CASES} == set(HIDDEN)
    assert {c[1] for c in CASES} == set(OUTPUT)
    assert {c[2] for c in CASES} == set(LOSSES)
    assert {(c[3], c[4]) for c in CASES} == set(itertools.product((True, False), PENALTIES))


# ---------------------------------------------------------------- training run
def test_same_gradient_descent_run_ends_at_the_same_weights():
    """Tutorial 2-3-1 network, scaled sleep data, η = 2, 100 full-batch steps on both sides."""
    X, y = nl.datasets.sleep_study()
    Xs, ys = X / X.max(axis=0), y / 100.0
    net = nl.Network([2, 3, 1], activation="sigmoid", bias=False, seed=0)
    module = to_torch(net)
    start = net.get_params()

    history = net.fit(Xs, ys, loss="sse", optimizer=nl.optim.GradientDescent(lr=2.0),
                      epochs=100, verbose=0)

    opt = torch.optim.SGD(module.parameters(), lr=2.0)
    Xt, Yt = torch.from_numpy(Xs), torch.from_numpy(ys)
    costs = []
    for _ in range(100):
        opt.zero_grad()
        J = 0.5 * ((Yt - module(Xt)) ** 2).sum()
        J.backward()
        opt.step()
        costs.append(J.item())

    theirs = from_torch(module).params
    assert np.abs(net.params - start).max() > 0.1          # the weights did move
    np.testing.assert_allclose(net.params, theirs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(history.history["loss"], costs, rtol=1e-12)
    assert costs[-1] < 0.5 * costs[0]


def test_torch_gradient_descent_matches_fit_with_biases_and_penalty():
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    net = nl.Network([3, 5, 2], activation="tanh", output_activation="identity", seed=8)
    trained, costs = torch_gradient_descent(net, X, Y, lr=0.05, steps=30, loss="mse",
                                            l2=0.01, normalize=True)
    history = net.fit(X, Y, loss="mse", optimizer=nl.optim.GradientDescent(lr=0.05), l2=0.01,
                      epochs=30, verbose=0)
    np.testing.assert_allclose(trained.params, net.params, rtol=0, atol=1e-12)
    assert costs[-1] < costs[0] and len(costs) == len(history.history["loss"]) == 30


@pytest.mark.parametrize("cut", [False, True])
def test_mini_batch_adam_matches_torch_step_for_step(monkeypatch, cut):
    """Adam on mini-batches of a softmax classifier, from the same weights and batches:
    ``fit`` (whole network, or cut in two along its first hidden layer as for large
    networks) against ``torch.optim.Adam`` with ``CrossEntropyLoss``, in float64."""
    from neurallab import _minibatch

    monkeypatch.setattr(_minibatch, "SPLIT_MIN_WORK", 1 if cut else 1 << 60)
    rng = np.random.default_rng(4)
    X, labels = rng.normal(size=(300, 12)), rng.integers(0, 4, 300)
    net = nl.Network([12, 16, 8, 4], activation="relu", output_activation="softmax",
                     init="xavier", seed=3)
    module = to_torch(net)
    logits = module[:-1]   # without the softmax: CrossEntropyLoss takes logits
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    loss = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)
    for _ in range(3):
        for s in range(0, 300, 32):   # the last batch has 12 rows
            opt.zero_grad()
            loss(logits(Xt[s:s + 32]), yt[s:s + 32]).backward()
            opt.step()
    start = net.get_params()
    net.fit(X, labels, loss="categorical_crossentropy", optimizer="adam", lr=0.01,
            batch_size=32, epochs=3, shuffle=False, verbose=0)
    assert np.abs(net.params - start).max() > 0.05
    np.testing.assert_allclose(net.params, from_torch(module).params, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- files and round trips
@pytest.mark.parametrize("bias", [True, False])
def test_model_file_loads_into_the_torch_module_state_dict(tmp_path, bias):
    net = nl.Network([3, 4, 2], activation="relu", output_activation="softmax", bias=bias,
                     seed=1)
    if bias:
        net.b[0][...] = [0.1, -0.2, 0.3, -0.4]
    path = tmp_path / "model.safetensors"
    net.save(path)
    state = load_file(str(path))
    module = to_torch(nl.Network([3, 4, 2], activation="relu", output_activation="softmax",
                                 bias=bias, seed=99))           # different weights
    assert set(state) == set(module.state_dict())
    module.load_state_dict(state, strict=True)
    assert np.array_equal(from_torch(module).params, net.params)
    X = np.random.default_rng(0).normal(size=(5, 3))
    _close(module(torch.from_numpy(X)).detach().numpy(), net.forward(X), 1e-12)


def test_module_layout_is_linear_then_activation_per_layer():
    net = nl.Network([2, 3, 3, 1], activation="leaky_relu", output_activation="identity",
                     seed=0)
    module = to_torch(net)
    kinds = [type(m).__name__ for m in module]
    assert kinds == ["Linear", "LeakyReLU", "Linear", "LeakyReLU", "Linear", "Identity"]
    assert module[1].negative_slope == 0.01
    assert module[2].weight.shape == (3, 3) and module[4].weight.shape == (1, 3)
    assert torch.equal(module[0].weight, torch.from_numpy(net.W[0].T.copy()))


@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
       hidden=st.sampled_from(HIDDEN), out=st.sampled_from(OUTPUT), bias=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_round_trip_gives_identical_parameters(sizes, hidden, out, bias, dtype, seed):
    assume(not (out == "softmax" and sizes[-1] == 1))  # refused by Network itself
    net = nl.Network(sizes, activation=hidden, output_activation=out, bias=bias,
                     dtype=dtype, seed=seed)
    if bias:
        net.b[-1][...] = np.linspace(-1, 1, sizes[-1])
    back = from_torch(to_torch(net))
    assert back.dtype == net.dtype and back.layer_sizes == net.layer_sizes
    assert back.bias == bias and back.output_activation.name == out
    if len(sizes) > 2:
        assert back.activation.name == hidden
    assert np.array_equal(back.params, net.params)


def test_to_torch_copies_and_can_change_dtype():
    net = nl.Network([2, 2, 1], seed=0)
    module = to_torch(net, dtype="float32")
    assert module[0].weight.dtype == torch.float32
    np.testing.assert_allclose(module[0].weight.detach().numpy(), net.W[0].T, rtol=1e-7)
    with torch.no_grad():
        module[0].weight.zero_()
    assert np.abs(net.W[0]).sum() > 0  # the module holds copies


def test_from_torch_reads_a_hand_written_pytorch_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 8),
                          nn.ReLU(inplace=True), nn.Dropout(0.25), nn.Linear(8, 3),
                          nn.Softmax(dim=1)).double().eval()
    net = from_torch(model)
    assert net.layer_sizes == [4, 8, 8, 3] and net.dropout == [0.25, 0.25]
    assert (net.activation.name, net.output_activation.name) == ("relu", "softmax")
    X = np.random.default_rng(1).normal(size=(6, 4))
    _close(net.forward(X), model(torch.from_numpy(X)).detach().numpy(), 1e-12)


def test_from_torch_linear_without_activation_is_identity_output():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    net = from_torch(model)
    assert net.output_activation.name == "identity" and net.dtype == np.float32


def test_from_torch_single_layer_softmax_classifier():
    net = from_torch(nn.Sequential(nn.Linear(5, 4, dtype=torch.float64), nn.Softmax(-1)))
    assert net.layer_sizes == [5, 4] and net.output_activation.name == "softmax"


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize(("model", "message"), [
    (nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)),
     "contains layer [1] GELU, which neurallab does not support"),
    (nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 3), nn.LeakyReLU(0.3),
                   nn.Linear(3, 1)),
     "hidden leaky ReLUs have different slopes (0.2, 0.3)"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)),
     "layer [1] Softmax is Softmax(dim=0)"),
    (nn.Sequential(nn.Sigmoid(), nn.Linear(2, 3)),
     "starts with activation [0] Sigmoid"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Tanh()),
     "activation [2] Tanh follows another activation"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1, bias=False)),
     "layer [0] Linear has a bias but layer [2] Linear has none"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)),
     "hidden layer [0] Linear is followed by sigmoid but hidden layer [2] Linear by tanh"),
    (nn.Sequential(nn.Linear(2, 3), nn.Softmax(-1), nn.Linear(3, 1)),
     "softmax after hidden layer [0] Linear"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(4, 1)),
     "layer [2] Linear takes 4 inputs but layer [0] Linear gives 3 outputs"),
    (nn.Sequential(nn.Linear(2, 3).half()),
     "has parameters of dtype float16"),
    (nn.Sequential(nn.Linear(2, 3).to(torch.bfloat16)),      # NumPy has no bfloat16
     "has parameters of dtype bfloat16 (layer [0] Linear)"),
    (nn.Sequential(nn.Linear(2, 3, device="meta")),
     "layer [0] Linear is on the 'meta' device: it has shapes but no weights"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1).double()),
     "has parameters of dtype float32, float64"),
    (nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5)),
     "dropout after the output layer [0] Linear is not supported"),
    (nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 3)),
     "dropout layer [0] Dropout must follow a Linear layer"),
    (nn.Sequential(), "has no Linear layer"),
    (nn.Sequential(nn.Sequential(nn.Linear(2, 3))),
     "contains layer [0] Sequential, which neurallab does not support"),
])
def test_from_torch_refuses_what_it_cannot_represent(model, message):
    with pytest.raises(InputError) as err:
        from_torch(model)
    assert message in str(err.value)


@pytest.mark.parametrize("where", ["hidden", "output", "both"])
def test_a_leaky_relu_slope_of_its_own_is_exported_layer_by_layer(where, tmp_path):
    """LeakyReLU(alpha=...) objects may differ between hidden and output layers; every
    export used the hidden slope (or 0.01) for all, and save dropped it."""
    from neurallab.activations import LeakyReLU
    from neurallab.interop import to_onnx

    hidden = LeakyReLU(alpha=0.2) if where != "output" else "leaky_relu"
    output = LeakyReLU(alpha=0.3) if where != "hidden" else "leaky_relu"
    net = nl.Network([4, 5, 3], activation=hidden, output_activation=output, seed=1)
    X = np.random.default_rng(0).normal(size=(7, 4))
    Y = net.forward(X)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(net)(torch.from_numpy(X)).numpy(), Y, rtol=1e-12)
    pytest.importorskip("onnxruntime")
    from neurallab.interop import run_onnx

    np.testing.assert_allclose(run_onnx(to_onnx(net), X), Y, rtol=1e-12)
    net.save(tmp_path / "leaky.safetensors")
    np.testing.assert_array_equal(nl.load(tmp_path / "leaky.safetensors").forward(X), Y)


def test_from_torch_keeps_a_leaky_slope_of_its_own():
    model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 2),
                          nn.LeakyReLU(0.3)).double()
    net = from_torch(model)
    assert (net.activation.alpha, net.output_activation.alpha) == (0.2, 0.3)
    X = np.random.default_rng(0).normal(size=(5, 3))
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(X), model(torch.from_numpy(X)).numpy(),
                                   rtol=1e-12)
    back = to_torch(net)
    assert (back[1].negative_slope, back[3].negative_slope) == (0.2, 0.3)


def test_the_exported_program_gives_plain_tensors(tmp_path):
    """Frozen parameters: `torch.export.load(...).module()(x).numpy()` works as shown."""
    from neurallab.interop import export_torch

    net = nl.Network([2, 3, 1], seed=0)
    export_torch(net, tmp_path / "m.pt2")
    out = torch.export.load(str(tmp_path / "m.pt2")).module()(
        torch.tensor([[0.8, 0.3]], dtype=torch.float64))
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), net.forward([[0.8, 0.3]]), rtol=1e-12)


def test_run_exported_refuses_damaged_files_and_wrong_inputs(tmp_path):
    from neurallab.errors import ModelFileError
    from neurallab.interop import export_torch, run_exported

    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a torch program")
    with pytest.raises(ModelFileError, match=r"junk.pt2 is not a readable torch export"):
        run_exported(junk, np.ones((1, 2)))
    export_torch(nl.Network([2, 3, 1], seed=0), tmp_path / "m.pt2")
    with pytest.raises(InputError, match=r"X has 3 columns but .*m.pt2 takes 2 inputs"):
        run_exported(tmp_path / "m.pt2", np.ones((4, 3)))


def test_from_torch_refuses_nan_weights():
    model = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(InputError, match="holds NaN or infinite parameters"):
        from_torch(model)


def test_from_torch_needs_a_sequential():
    with pytest.raises(InputTypeError, match="takes a torch.nn.Sequential .* got Linear"):
        from_torch(nn.Linear(2, 3))


def test_to_torch_needs_a_network_and_a_float_dtype():
    with pytest.raises(InputTypeError, match="to_torch takes a neurallab Network, got dict"):
        to_torch({"W": [1]})
    with pytest.raises(InputError, match="dtype must be 'float32' or 'float64', got 'int8'"):
        to_torch(nl.Network([2, 1]), dtype="int8")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": -0.1}, "lr (the learning rate) must be a positive number, got -0.1"),
    ({"lr": "0.1"}, "lr (the learning rate) must be a positive number, got '0.1'"),
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"steps": 2.5}, "steps must be a positive integer, got 2.5"),
    ({"l2": -1.0}, "l2 must be a non-negative number, got -1.0"),
])
def test_torch_helpers_refuse_bad_settings(kwargs, message):
    net = nl.Network([2, 3, 1], seed=0)
    X, y = np.ones((4, 2)), np.ones((4, 1))
    with pytest.raises(InputError, match=re.escape(message)):
        torch_gradient_descent(net, X, y, **{"lr": 0.1, "steps": 3, **kwargs})
    if "l2" in kwargs:
        with pytest.raises(InputError, match=re.escape(message)):
            torch_loss_and_grad(net, X, y, l2=kwargs["l2"])


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(MissingExtraError) as err:
        to_torch(nl.Network([2, 1]))
    assert 'pip install "neurallab[torch]"' in str(err.value)
    assert isinstance(err.value, ImportError)
