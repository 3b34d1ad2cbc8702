"""What every framework converter shares: the layer list, checks, and assembly.

A neurallab :class:`~neurallab.Network` is a chain of dense layers
``z = a @ W + b``, ``a = f(z)`` with *one* activation on every hidden layer, one on
the output, biases on every layer or on none, and one dtype. A framework model is
converted in two steps: its layers are read into :class:`LayerSpec` records (one per
dense layer, with the activation that follows it), then :func:`assemble` checks
that the records describe such a chain and builds the network. Keeping the checks
here means PyTorch and Keras models get the same rules and the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ..network import DTYPES, Network

__all__ = ["LayerSpec", "assemble", "check_network", "export_dtype", "layer_activations",
           "add_activation", "add_dropout"]


@dataclass
class LayerSpec:
    """One dense layer read from a framework model.

    Attributes
    ----------
    W : ndarray, shape (n_in, n_out)
        Weights in neurallab's orientation (``z = a @ W + b``).
    b : ndarray, shape (n_out,), or None
    activation : str or None
        neurallab's name of the activation that follows (``None``: none follows,
        i.e. ``identity``).
    label : str
        How the framework names the layer, for error messages (``"[2] Linear"``).
    dropout : float
        Rate of a dropout layer that follows the activation (0: none).
    slope : float or None
        The negative slope of a leaky ReLU that follows (``None``: neurallab's 0.01).
    """

    W: np.ndarray
    b: np.ndarray | None
    activation: str | None
    label: str
    dropout: float = 0.0
    slope: float | None = None


def add_dropout(layers: list[LayerSpec], rate: float, label: str, source: str,
                dense: str) -> None:
    """Record a dropout layer on the dense layer it follows."""
    if not layers or layers[-1].dropout:
        raise InputError(f"{source}: dropout layer {label} must follow a {dense} layer "
                         "(and its activation)")
    layers[-1].dropout = float(rate)


def add_activation(layers: list[LayerSpec], act: str | None, label: str, source: str,
                   dense: str, supported: str) -> None:
    """Record activation ``act`` (neurallab's name; ``None``: not an activation layer).

    An identity layer is a no-op and is skipped; anything that is neither a dense
    layer, dropout nor a supported activation is refused, naming the layer.
    """
    if act is None:
        raise InputError(f"{source} contains layer {label}, which neurallab does not "
                         f"support; supported: {supported}")
    if not layers:
        raise InputError(f"{source} starts with activation {label}; it must start with a "
                         f"{dense} layer")
    if act == "identity":
        return
    if layers[-1].activation is not None or layers[-1].dropout:
        raise InputError(
            f"{source}: activation {label} follows another activation or dropout; each "
            f"{dense} layer may be followed by at most one activation"
        )
    layers[-1].activation = act


def check_network(net, purpose: str) -> Network:
    """Raise a clear error unless ``net`` is a :class:`Network` with finite parameters
    (a NaN weight would be written out and make every output NaN)."""
    if not isinstance(net, Network):
        raise InputTypeError(
            f"{purpose} takes a neurallab Network, got {type(net).__name__}; build one "
            "with neurallab.Network([...]) or load one with neurallab.load(path)"
        )
    if not np.isfinite(net.params).all():
        raise InputError(f"{purpose}: the network's parameters hold NaN or infinite values "
                         "(did its training diverge?); nothing was exported")
    return net


def export_dtype(net: Network, dtype) -> np.dtype:
    """The dtype to export in: ``dtype`` if given (float32/float64), else the network's."""
    if dtype is None:
        return net.dtype
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise InputError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt.name not in DTYPES:
        raise InputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def layer_activations(net: Network) -> list[str]:
    """neurallab's activation name for each weight layer (hidden ones, then output)."""
    return [net.activation.name] * (net.n_layers - 1) + [net.output_activation.name]


def layer_slopes(net: Network) -> list[float]:
    """Each weight layer's leaky-ReLU slope (``alpha``; 0.01 unless the network was
    built with a ``LeakyReLU(alpha=...)`` of its own; unused by other activations).
    The hidden layers' and the output layer's slopes may differ."""
    hidden = float(getattr(net.activation, "alpha", 0.01))
    output = float(getattr(net.output_activation, "alpha", 0.01))
    return [hidden] * (net.n_layers - 1) + [output]


def assemble(layers: list[LayerSpec], source: str, *, dense: str = "Linear",
             input_scaler=None, output_scaler=None) -> Network:
    """Build a :class:`Network` from ``layers`` read out of ``source``, after checking it fits.

    Parameters
    ----------
    layers : list of LayerSpec
    source : str
        What the layers came from, for messages (``"the torch.nn.Sequential"``).
    dense : str
        The framework's name of a dense layer (``"Linear"``, ``"Dense"``).
    input_scaler, output_scaler : Scaler, optional
        Attached to the network (Keras ``Rescaling`` layers at either end).

    Raises
    ------
    InputError
        If there is no dense layer, the layer sizes do not chain, some layers have a
        bias and others not, the hidden layers use different activations, softmax is
        on a hidden layer, dropout follows the output layer, or the dtypes are mixed
        or not float32/float64.
    """
    if not layers:
        raise InputError(f"{source} has no {dense} layer; a network needs at least one")
    for prev, cur in zip(layers[:-1], layers[1:], strict=True):
        if prev.W.shape[1] != cur.W.shape[0]:
            raise InputError(
                f"{source}: layer {cur.label} takes {cur.W.shape[0]} inputs but layer "
                f"{prev.label} gives {prev.W.shape[1]} outputs; the layer sizes must chain"
            )
    with_bias = [spec.b is not None for spec in layers]
    if any(with_bias) and not all(with_bias):
        has = layers[with_bias.index(True)].label
        lacks = layers[with_bias.index(False)].label
        raise InputError(
            f"{source}: layer {has} has a bias but layer {lacks} has none; a neurallab "
            f"network has biases on every layer or on none — give every {dense} the same "
            "bias setting"
        )
    dtypes = {spec.W.dtype.name for spec in layers} | {
        spec.b.dtype.name for spec in layers if spec.b is not None}
    if len(dtypes) > 1 or not dtypes <= set(DTYPES):
        raise InputError(
            f"{source} has parameters of dtype {', '.join(sorted(dtypes))}; neurallab "
            "needs all of them float32 or all float64 — convert the model first "
            "(e.g. model.double() or model.float())"
        )
    acts = [spec.activation or "identity" for spec in layers]
    hidden, output = acts[:-1], acts[-1]
    for spec, act in zip(layers[:-1], hidden, strict=True):
        if act == "softmax":
            raise InputError(
                f"{source}: softmax after hidden layer {spec.label}; neurallab uses softmax "
                "on the output layer only"
            )
        if act != hidden[0]:
            raise InputError(
                f"{source}: hidden layer {layers[0].label} is followed by {hidden[0]} but "
                f"hidden layer {spec.label} by {act}; a neurallab network uses one "
                "activation on every hidden layer"
            )
    if layers[-1].dropout:
        raise InputError(
            f"{source}: dropout after the output layer {layers[-1].label} is not supported; "
            "neurallab applies dropout to hidden layers only — remove it"
        )
    # with no hidden layer the hidden activation is unused; keep the output's when legal
    hidden_act = hidden[0] if hidden else (output if output != "softmax" else "identity")
    net = Network(
        [layers[0].W.shape[0]] + [spec.W.shape[1] for spec in layers],
        activation=hidden_act,
        output_activation=output,
        bias=all(with_bias),
        dtype=dtypes.pop(),
        dropout=[spec.dropout for spec in layers[:-1]],
    )
    for l, spec in enumerate(layers):
        if not (np.isfinite(spec.W).all() and (spec.b is None or np.isfinite(spec.b).all())):
            raise InputError(f"{source}: layer {spec.label} holds NaN or infinite parameters")
        net.W[l][...] = spec.W
        if spec.b is not None:
            net.b[l][...] = spec.b
    net.input_scaler, net.output_scaler = input_scaler, output_scaler
    return net


def apply_slopes(net: Network, layers: list[LayerSpec], source: str) -> Network:
    """Give ``net`` the leaky-ReLU slopes the framework's layers have, where they are
    not neurallab's 0.01: one for all hidden layers (they share one activation), one
    for the output layer."""
    from ..activations import LeakyReLU

    slopes = {i: spec.slope for i, spec in enumerate(layers)
              if spec.activation == "leaky_relu" and spec.slope is not None}
    last = len(layers) - 1
    hidden = {a for i, a in slopes.items() if i < last}
    if len(hidden) > 1:
        raise InputError(f"{source}: its hidden leaky ReLUs have different slopes "
                         f"({', '.join(map(str, sorted(hidden)))}); neurallab's hidden "
                         "layers share one activation")
    if hidden and hidden != {LeakyReLU.alpha}:
        net.activation = LeakyReLU(alpha=hidden.pop())
    if slopes.get(last, LeakyReLU.alpha) != LeakyReLU.alpha:
        net.output_activation = LeakyReLU(alpha=slopes[last])
    return net
