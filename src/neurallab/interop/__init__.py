"""The same network in PyTorch, Keras and ONNX — out and back without losing a digit.

The big frameworks do what neurallab does by hand: a graph of layers, automatic
differentiation instead of hand-written backpropagation, a ``Sequential``/``fit``
API. These functions carry a :class:`~neurallab.Network` across in either
direction, with the same weights bit for bit, so our math can be checked against
theirs and a model can move on when it outgrows us.

======================  =============================  ==============================
neurallab               PyTorch (``to_torch``)         Keras 3 (``to_keras``)
======================  =============================  ==============================
layer ``l``, ``W[l]``   ``module[2l]`` ``nn.Linear``;  ``Dense`` ``"dense_{l}"``;
(n_in, n_out)           ``"{2l}.weight"`` = ``W[l].T`` kernel = ``W[l]``
``b[l]`` (n_out,)       ``"{2l}.bias"``                bias
activation of layer l   ``module[2l+1]``               ``activation=`` of the Dense
``sigmoid``             ``nn.Sigmoid``                 ``"sigmoid"``
``tanh``                ``nn.Tanh``                    ``"tanh"``
``relu``                ``nn.ReLU``                    ``"relu"``
``leaky_relu`` (0.01)   ``nn.LeakyReLU(0.01)``         ``LeakyReLU(negative_slope=0.01)``
                                                       layer after a linear Dense
``identity``            ``nn.Identity``                ``"linear"``
``softmax`` (output)    ``nn.Softmax(dim=-1)``         ``"softmax"``
======================  =============================  ==============================

ONNX (``to_onnx``): initializers ``W{l}`` = ``W[l]`` and ``b{l}``; nodes ``Gemm``
(``MatMul`` without biases), then ``Sigmoid``/``Tanh``/``Relu``/
``LeakyRelu(alpha=0.01)``/``Softmax(axis=-1)``; input ``"X"``, output ``"Y"``.
``from_onnx`` reads such a graph back (and the one ``torch.onnx.export`` writes for an
``nn.Sequential``).

**The model file is a PyTorch state_dict.** A ``.safetensors`` file written by
:meth:`Network.save` stores ``W[l].T`` under ``"{2l}.weight"`` and ``b[l]`` under
``"{2l}.bias"`` — the names above — so, with nothing from neurallab but the module::

    from safetensors.torch import load_file
    module = to_torch(net)                     # or the same nn.Sequential written by hand
    module.load_state_dict(load_file("model.safetensors"))

Units: ``to_torch``/``to_keras`` give the bare network, in its own (scaled) units
like :meth:`Network.forward`; ``to_onnx``, :func:`export_torch` and
:func:`export_keras` (the ``neurallab export`` command) include the fitted scalers by
default, so the exported file takes and returns raw units like
:meth:`Network.predict_raw`. Dropout is a training device and is not exported
(``from_torch``/``from_keras`` read a ``Dropout`` layer's rate back into the network).

Optional dependencies: each framework is an extra, imported only when a function
needs it; without it the call raises :class:`MissingExtraError` naming the command,
e.g. ``pip install "neurallab[torch]"`` (also ``[keras]``, ``[onnx]``). Keras 3
chooses its backend at its first import: unless ``KERAS_BACKEND`` is already set (or
Keras already imported) neurallab sets ``KERAS_BACKEND=torch``, the backend its
``keras`` extra installs — no TensorFlow needed. Set the variable yourself before the
first import to use another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, ModelFileError
from ._deps import MissingExtraError, import_keras, import_torch
from ._keras import export_keras, from_keras, to_keras
from ._onnx import DEFAULT_OPSET, from_onnx, run_onnx, to_onnx
from ._torch import export_torch, from_torch, to_torch
from .compare import Comparison, compare_outputs, torch_gradient_descent, torch_loss_and_grad

__all__ = [
    "to_torch", "from_torch", "to_keras", "from_keras", "to_onnx", "from_onnx", "run_onnx",
    "export_torch", "export_keras", "export", "run_exported", "format_of", "FORMATS",
    "MissingExtraError", "DEFAULT_OPSET", "compare_outputs", "Comparison",
    "torch_loss_and_grad", "torch_gradient_descent",
]

#: export format -> file suffix
FORMATS = {"onnx": ".onnx", "torch": ".pt2", "keras": ".keras"}


def format_of(path, format: str | None = None) -> str:
    """The export format: ``format`` if given (checked against ``path``), else from
    the suffix of ``path`` (``.onnx``, ``.pt2``, ``.keras``)."""
    path = Path(path)
    by_suffix = {suffix: name for name, suffix in FORMATS.items()}
    if format is None:
        if path.suffix not in by_suffix:
            raise InputError(
                f"cannot tell the export format from {path.name!r}; end the file name in "
                f"{', '.join(by_suffix)} or name the format ({', '.join(FORMATS)})"
            )
        return by_suffix[path.suffix]
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of "
                         f"{', '.join(FORMATS)}")
    if path.suffix != FORMATS[format]:
        raise InputError(f"the {format} format needs a file name ending in "
                         f"{FORMATS[format]}, got {path.name!r}; use "
                         f"{path.with_suffix(FORMATS[format]).name!r}")
    return format


def export(net, path, format: str | None = None, *, dtype=None,
           include_scalers: bool = True) -> Path:
    """Write ``net`` for another framework: ``onnx`` (``.onnx``), ``torch`` (``.pt2``,
    a ``torch.export`` program) or ``keras`` (``.keras``).

    Parameters
    ----------
    net : Network
    path : str or Path
        Its suffix names the format when ``format`` is ``None`` and must match it
        otherwise.
    format : {"onnx", "torch", "keras"}, optional
    dtype : {"float32", "float64"}, optional
        Defaults to the network's dtype.
    include_scalers : bool
        The file takes and returns raw units like :meth:`Network.predict_raw`
        (default); ``False``: the bare network, like ``forward``.

    Returns
    -------
    Path
    """
    path = Path(path)
    format = format_of(path, format)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    if format == "onnx":
        to_onnx(net, path, dtype=dtype, include_scalers=include_scalers)
    elif format == "torch":
        export_torch(net, path, dtype=dtype, include_scalers=include_scalers)
    else:
        export_keras(net, path, dtype=dtype, include_scalers=include_scalers)
    return path


def run_exported(path, X, format: str | None = None) -> np.ndarray:
    """Run a file written by :func:`export` in its own framework (not in neurallab).

    Parameters
    ----------
    path : str or Path
    X : array-like, shape (n_samples, n_inputs)
        Cast to the file's dtype.
    format : {"onnx", "torch", "keras"}, optional
        Defaults to the one the suffix names.

    Returns
    -------
    ndarray, shape (n_samples, n_outputs)
    """
    path = Path(path)
    format = format_of(path, format)
    if not path.is_file():
        raise ModelFileError(f"exported model {path} does not exist")
    if format == "onnx":
        return run_onnx(path, X)
    unreadable = (f"{path} is not a readable {format} export ({{}}); write one with "
                  "neurallab.interop.export")
    if format == "torch":
        torch = import_torch("run_exported")
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # zip, pickle and torch errors alike
            raise ModelFileError(unreadable.format(f"{type(exc).__name__}: {exc}")) from exc
        dt = next(iter(program.state_dict.values())).dtype
        example = program.example_inputs[0][0] if program.example_inputs else None
        Xa = _inputs(X, None if example is None else int(example.shape[1]), path)
        with torch.no_grad():
            out = program.module()(torch.as_tensor(Xa, dtype=dt))
        return out.numpy()
    keras = import_keras("run_exported")
    try:
        model = keras.models.load_model(path)
    except Exception as exc:  # Keras reports a damaged archive in several ways
        raise ModelFileError(unreadable.format(f"{type(exc).__name__}: {exc}")) from exc
    dt = model.layers[0].dtype
    Xa = _inputs(X, model.input_shape[-1], path)
    return np.asarray(keras.ops.convert_to_numpy(model(Xa.astype(dt, copy=False))))


def _inputs(X, n_inputs: int | None, path) -> np.ndarray:
    """``X`` checked as for ``Network.predict`` (2-D, numeric, finite) and against the
    exported model's number of inputs."""
    from .._validation import as_float_array

    Xa = as_float_array(X, "X", np.float64)
    if n_inputs is not None and Xa.shape[1] != n_inputs:
        raise InputError(f"X has {Xa.shape[1]} columns but {path} takes {n_inputs} inputs; "
                         f"pass data of shape (n_samples, {n_inputs})")
    return Xa
