"""PyTorch: ``to_torch`` / ``from_torch`` and a self-contained ``.pt2`` export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import InputError, InputTypeError
from ..io import atomic_write_bytes
from ._common import (
    LayerSpec,
    add_activation,
    add_dropout,
    apply_slopes,
    assemble,
    check_network,
    export_dtype,
    layer_activations,
    layer_slopes,
)
from ._deps import import_torch

__all__ = ["to_torch", "from_torch", "export_torch"]

#: neurallab activation name -> factory of the torch module (takes the nn namespace)
_TORCH_ACTIVATIONS = {
    "sigmoid": lambda nn, alpha: nn.Sigmoid(),
    "tanh": lambda nn, alpha: nn.Tanh(),
    "relu": lambda nn, alpha: nn.ReLU(),
    "leaky_relu": lambda nn, alpha: nn.LeakyReLU(negative_slope=alpha),
    "identity": lambda nn, alpha: nn.Identity(),
    "softmax": lambda nn, alpha: nn.Softmax(dim=-1),
}

_SUPPORTED = "Linear, Sigmoid, Tanh, ReLU, LeakyReLU, Identity, Softmax(dim=-1), Dropout"


def to_torch(net, *, dtype=None):
    """The network as a ``torch.nn.Sequential`` with identical weights.

    Layer ``l`` of the network becomes module ``2·l`` (``nn.Linear``) and its
    activation module ``2·l + 1`` (``nn.Identity`` for ``identity``), so the
    ``state_dict`` names are exactly those of the ``.safetensors`` model file:
    ``"{2l}.weight"`` = ``W[l].T`` (shape ``(n_out, n_in)``) and ``"{2l}.bias"`` =
    ``b[l]``. ``safetensors.torch.load_file(path)`` therefore loads straight into
    ``to_torch(net).load_state_dict``.

    The module works in the network's own (scaled) units, like
    :meth:`~neurallab.Network.forward`: scalers and dropout are not part of it
    (dropout is a training device; the module is the inference network). Its
    parameters are copies — training one side does not move the other.

    Parameters
    ----------
    net : Network
    dtype : {"float32", "float64"}, optional
        Defaults to the network's dtype.

    Returns
    -------
    torch.nn.Sequential
        ``Linear(n_in, n_out, bias=net.bias)`` and an activation, per layer.
    """
    torch = import_torch("to_torch")
    nn = torch.nn
    check_network(net, "to_torch")
    dt = export_dtype(net, dtype)
    tdt = getattr(torch, dt.name)
    modules = []
    for W, b, act, alpha in zip(net.W, net.b, layer_activations(net), layer_slopes(net),
                                strict=True):
        lin = nn.Linear(W.shape[0], W.shape[1], bias=b is not None, dtype=tdt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T, dtype=dt)))
            if b is not None:
                lin.bias.copy_(torch.from_numpy(np.asarray(b, dtype=dt)))
        modules += [lin, _TORCH_ACTIVATIONS[act](nn, alpha)]
    return nn.Sequential(*modules)


def _torch_activation(module, nn, label: str) -> str | None:
    """neurallab's name for an activation module, or ``None`` if it is not one."""
    simple = ((nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.ReLU, "relu"),
              (nn.Identity, "identity"))
    for cls, name in simple:
        if type(module) is cls:
            return name
    if type(module) is nn.LeakyReLU:   # any slope: from_torch records it
        return "leaky_relu"
    if type(module) is nn.Softmax:
        if module.dim not in (-1, 1):
            raise InputError(
                f"layer {label} is Softmax(dim={module.dim}); neurallab's softmax runs over "
                "the outputs of each sample — use nn.Softmax(dim=-1)"
            )
        return "softmax"
    return None


def from_torch(module):
    """A :class:`~neurallab.Network` with the weights of a ``torch.nn.Sequential``.

    The Sequential must be a chain of ``nn.Linear`` layers, each optionally followed
    by one activation — ``Sigmoid``, ``Tanh``, ``ReLU``, ``LeakyReLU`` (any slope: a
    slope other than 0.01 becomes a ``LeakyReLU(alpha=...)`` of the network),
    ``Identity``, ``Softmax(dim=-1)`` (output only) — and, after a hidden layer's
    activation, optionally an ``nn.Dropout`` (its rate becomes the network's dropout).
    A Linear with no activation after it is ``identity``. All hidden layers must use
    the same activation (and slope), all Linear layers the same bias setting and one dtype
    (float32 or float64). Anything else is refused with an error that names the
    layer, never approximated.

    Parameters
    ----------
    module : torch.nn.Sequential

    Returns
    -------
    Network
        Parameters copied from the module (``W[l] = weight.T``); no scalers.
    """
    torch = import_torch("from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise InputTypeError(
            f"from_torch takes a torch.nn.Sequential of Linear layers and activations, got "
            f"{type(module).__name__}; rebuild the model as nn.Sequential(...)"
        )
    source = "the torch.nn.Sequential"
    layers: list[LayerSpec] = []
    for name, child in module.named_children():
        label = f"[{name}] {type(child).__name__}"
        if type(child) is nn.Linear:
            _check_tensor(child.weight, label, torch)
            W = child.weight.detach().cpu().numpy().T.copy()
            b = None if child.bias is None else child.bias.detach().cpu().numpy().copy()
            layers.append(LayerSpec(W, b, None, label))
            continue
        if type(child) is nn.Dropout:
            add_dropout(layers, child.p, label, source, "Linear")
        else:
            add_activation(layers, _torch_activation(child, nn, label), label, source,
                           "Linear", _SUPPORTED)
            if type(child) is nn.LeakyReLU:
                layers[-1].slope = float(child.negative_slope)
    return apply_slopes(assemble(layers, source, dense="Linear"), layers, source)


def _check_tensor(weight, label: str, torch) -> None:
    """A weight NumPy can read: not bfloat16 (NumPy has no such type; float16 is read,
    then refused with the other dtypes by ``assemble``), and not on the ``meta``
    device, which holds shapes only."""
    if weight.device.type == "meta":
        raise InputError(f"layer {label} is on the 'meta' device: it has shapes but no "
                         "weights; load or initialise the model's weights first")
    if weight.dtype not in (torch.float16, torch.float32, torch.float64):  # NumPy lacks it
        name = str(weight.dtype).removeprefix("torch.")
        raise InputError(f"the torch.nn.Sequential has parameters of dtype {name} (layer "
                         f"{label}); neurallab needs all of them float32 or all float64 — "
                         "convert the model first (e.g. model.double() or model.float())")


def _raw_units_module(net, dtype):
    """``to_torch(net)`` wrapped with the network's scalers: raw units in and out."""
    torch = import_torch("export_torch")
    nn = torch.nn
    body = to_torch(net, dtype=dtype)
    tdt = body[0].weight.dtype

    def _affine(scaler):
        if scaler is None or not scaler.fitted:
            return None
        return (torch.tensor(np.asarray(scaler.offset_, dtype=np.float64), dtype=tdt),
                torch.tensor(np.asarray(scaler.scale_, dtype=np.float64), dtype=tdt))

    class RawUnits(nn.Module):
        """x → (x − in_offset)/in_scale → network → ŷ·out_scale + out_offset."""

        def __init__(self):
            super().__init__()
            self.net = body
            self.has_in, self.has_out = False, False
            for side, scaler in (("in", net.input_scaler), ("out", net.output_scaler)):
                aff = _affine(scaler)
                if aff is not None:
                    setattr(self, f"has_{side}", True)
                    self.register_buffer(f"{side}_offset", aff[0])
                    self.register_buffer(f"{side}_scale", aff[1])

        def forward(self, x):
            if self.has_in:
                x = (x - self.in_offset) / self.in_scale
            y = self.net(x)
            if self.has_out:
                y = y * self.out_scale + self.out_offset
            return y

    return RawUnits().eval()


def export_torch(net, path, *, dtype=None, include_scalers: bool = True) -> Path:
    """Write the network as a self-contained PyTorch program (``.pt2``, ``torch.export``).

    The file needs neither neurallab nor any Python class to run:
    ``torch.export.load(path).module()(x)``. With ``include_scalers`` (default) the
    network's input and output scalers are part of the program, so it takes and
    returns raw units like :meth:`~neurallab.Network.predict_raw`. The batch size is
    dynamic. Written atomically.

    Parameters
    ----------
    net : Network
    path : str or Path
        Should end in ``.pt2``.
    dtype : {"float32", "float64"}, optional
    include_scalers : bool

    Returns
    -------
    Path
    """
    torch = import_torch("export_torch")
    check_network(net, "export_torch")
    module = _raw_units_module(net, dtype) if include_scalers else to_torch(net, dtype=dtype)
    module.eval()
    # frozen: the exported program is for inference; with trainable parameters its
    # outputs would require grad, and .numpy() on them would fail
    module.requires_grad_(False)
    tdt = next(module.parameters()).dtype
    example = torch.zeros((2, net.n_inputs), dtype=tdt)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
