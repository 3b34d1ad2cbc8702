"""Checking our math against the frameworks: outputs, gradients, a training run.

Chapter 10 of the tutorial and the tests use these to put numbers on "the same":

* :func:`compare_outputs` runs one network in neurallab and, converted, in
  PyTorch, Keras and onnxruntime, and reports the largest difference;
* :func:`torch_loss_and_grad` computes the cost of :meth:`Network.loss_and_grad`
  written directly in PyTorch and differentiates it with ``torch.autograd`` —
  no backpropagation code of ours involved — returning the gradient in our
  flat layout, so the two can be subtracted;
* :func:`torch_gradient_descent` trains a copy of the network with
  ``torch.optim.SGD``, for comparison with ``net.fit(optimizer="gd")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_l2
from ..errors import InputError
from ._common import check_network
from ._deps import MissingExtraError, import_torch

__all__ = ["Comparison", "compare_outputs", "torch_loss_and_grad", "torch_gradient_descent",
           "FRAMEWORKS"]

FRAMEWORKS = ("torch", "keras", "onnx")


@dataclass
class Comparison:
    """One framework's outputs next to neurallab's.

    Attributes
    ----------
    framework : str
        ``"torch"``, ``"keras"`` or ``"onnx"``.
    outputs : ndarray or None
        The framework's outputs (``None`` if it is not installed).
    max_abs_diff : float
        ``max |framework − neurallab|`` over all outputs (NaN if not run).
    dtype : str
        The dtype the framework computed in.
    note : str
        How the network was carried over, or why it was not run.
    """

    framework: str
    outputs: np.ndarray | None
    max_abs_diff: float
    dtype: str
    note: str

    @property
    def ran(self) -> bool:
        return self.outputs is not None


def _run_torch(net, X):
    from ._torch import _raw_units_module

    torch = import_torch("compare_outputs")
    module = _raw_units_module(net, None)
    with torch.no_grad():
        out = module(torch.as_tensor(np.asarray(X), dtype=getattr(torch, net.dtype.name)))
    return out.numpy(), net.dtype.name, "to_torch: nn.Sequential of Linear + activations"


def _run_keras(net, X):
    from ._deps import import_keras
    from ._keras import to_keras

    keras = import_keras("compare_outputs")
    model = to_keras(net, include_scalers=True)
    out = keras.ops.convert_to_numpy(model(np.asarray(X, dtype=net.dtype)))
    # Keras 3 on torch/jax multiplies float64 in float32 (keras-team/keras#23704): its
    # float64 layers hold float64 values but compute their products in float32
    computes = "float64 values, float32 products" if str(out.dtype) == "float64" \
        else str(out.dtype)
    return (np.asarray(out), computes,
            f"to_keras: Sequential of Dense layers ({keras.backend.backend()} backend)")


def _run_onnx(net, X):
    from ._onnx import DEFAULT_OPSET, run_onnx, to_onnx

    return (run_onnx(to_onnx(net), X), net.dtype.name,
            f"to_onnx: opset {DEFAULT_OPSET} graph run in onnxruntime")


_RUNNERS = {"torch": _run_torch, "keras": _run_keras, "onnx": _run_onnx}


def compare_outputs(net, X, frameworks=FRAMEWORKS) -> dict[str, Comparison]:
    """Run ``net`` in each framework on raw-unit inputs ``X`` and compare with neurallab.

    Scalers are carried along, so every framework sees the same raw inputs and
    answers in the same units as :meth:`Network.predict_raw`. A framework that is
    not installed is reported (with the pip command), not fatal.

    Parameters
    ----------
    net : Network
    X : array-like, shape (n_samples, n_inputs)
    frameworks : iterable of {"torch", "keras", "onnx"}

    Returns
    -------
    dict of str to Comparison
    """
    check_network(net, "compare_outputs")
    ours = net.predict_raw(X)
    results = {}
    for name in frameworks:
        if name not in _RUNNERS:
            raise InputError(f"unknown framework {name!r}; choose from {', '.join(FRAMEWORKS)}")
        try:
            out, dtype, note = _RUNNERS[name](net, X)
        except MissingExtraError as exc:
            results[name] = Comparison(name, None, float("nan"), "", str(exc))
            continue
        diff = float(np.abs(np.asarray(out, np.float64) - ours).max())
        results[name] = Comparison(name, out, diff, dtype, note)
    return results


def _torch_cost(torch, module, Xt, Yt, loss: str, out: str, l2: float, normalize: bool):
    """The cost of :meth:`Network.loss_and_grad`, written in PyTorch operations."""
    F = torch.nn.functional
    z = module[:-1](Xt)                    # output pre-activation (logits)
    yhat = module[-1](z)
    n, k = Yt.shape
    if loss == "sse":
        data = 0.5 * ((Yt - yhat) ** 2).sum()
    elif loss == "mse":
        data = ((Yt - yhat) ** 2).sum() / k
    elif loss == "binary_crossentropy":
        data = (F.binary_cross_entropy_with_logits(z, Yt, reduction="sum") if out == "sigmoid"
                else -(Yt * torch.log(yhat) + (1 - Yt) * torch.log(1 - yhat)).sum())
    else:                                  # categorical cross-entropy (softmax) from the logits
        data = -(Yt * F.log_softmax(z, dim=-1)).sum()
    if normalize:
        data = data / n
    weights = [m.weight for m in module if isinstance(m, torch.nn.Linear)]
    return data + 0.5 * l2 * sum((w ** 2).sum() for w in weights)


def _flat_grad(torch, module) -> np.ndarray:
    """The module's ``.grad`` in neurallab's layout: ``W[l]`` (= weight.T), then ``b[l]``."""
    parts = []
    for m in module:
        if isinstance(m, torch.nn.Linear):
            parts.append(m.weight.grad.T.reshape(-1))
            if m.bias is not None:
                parts.append(m.bias.grad)
    return torch.cat(parts).detach().numpy()


def torch_loss_and_grad(net, X, y, loss: str = "sse", l2: float = 0.0,
                        normalize: bool = False) -> tuple[float, np.ndarray]:
    """``J`` and ``∂J/∂θ`` by PyTorch's automatic differentiation.

    The same cost as :meth:`Network.loss_and_grad` (same arguments, same units,
    same layout of the gradient), computed on ``to_torch(net)``: squared errors
    directly, cross-entropies from the logits (``log_softmax``,
    ``binary_cross_entropy_with_logits``), plus ``(λ/2)·Σ‖W‖²``.

    Returns
    -------
    J : float
    grad : ndarray, shape (n_params,)
    """
    torch = import_torch("torch_loss_and_grad")
    check_network(net, "torch_loss_and_grad")
    from ._torch import to_torch

    X, Y, loss_obj = net._prepare(X, y, loss)
    l2 = check_l2(l2)
    module = to_torch(net)
    J = _torch_cost(torch, module, torch.from_numpy(X), torch.from_numpy(Y), loss_obj.name,
                    net.output_activation.name, l2, normalize)
    J.backward()
    return float(J.item()), _flat_grad(torch, module)


def torch_gradient_descent(net, X, y, lr: float, steps: int, loss: str = "sse",
                           l2: float = 0.0, normalize: bool = False):
    """Train a copy of ``net`` with ``torch.optim.SGD`` (full batch, no momentum).

    ``X`` and ``y`` are in the network's units (as for ``loss_and_grad``).

    Returns
    -------
    trained : Network
        A new network with the weights PyTorch arrived at.
    costs : list of float
        ``J`` before each step (as ``History.history["loss"]`` records it).
    """
    torch = import_torch("torch_gradient_descent")
    check_network(net, "torch_gradient_descent")
    from ._torch import to_torch

    X, Y, loss_obj = net._prepare(X, y, loss)
    l2 = check_l2(l2)
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(lr) and lr > 0):
        raise InputError(f"lr (the learning rate) must be a positive number, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    module = to_torch(net)
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    costs = []
    for _ in range(int(steps)):
        opt.zero_grad()
        J = _torch_cost(torch, module, Xt, Yt, loss_obj.name, net.output_activation.name,
                        l2, normalize)
        J.backward()
        opt.step()
        costs.append(float(J.item()))
    trained = net.copy()
    for l, m in enumerate(layer for layer in module if isinstance(layer, torch.nn.Linear)):
        trained.W[l][...] = m.weight.detach().numpy().T
        if m.bias is not None:
            trained.b[l][...] = m.bias.detach().numpy()
    return trained, costs
