"""Keras 3: ``to_keras`` / ``from_keras`` and a ``.keras`` file export."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError, InputTypeError
from ..io import atomic_write_bytes
from ..preprocessing import StandardScaler
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
from ._deps import import_keras

__all__ = ["to_keras", "from_keras", "export_keras"]

#: neurallab activation -> Keras activation name inside ``Dense`` (leaky_relu: own layer,
#: because Keras's ``leaky_relu`` function defaults to slope 0.2, ours is 0.01)
_KERAS_ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
                      "identity": "linear", "softmax": "softmax", "leaky_relu": None}
#: Keras activation function name -> neurallab's
_FROM_KERAS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "linear": "identity",
               "softmax": "softmax"}

_SUPPORTED = ("Dense, Activation, ReLU, LeakyReLU, Softmax, Dropout, "
              "Rescaling (first/last)")


def _scaler_layer(keras, scaler, dt, invert: bool, name: str):
    """A Keras ``Rescaling`` layer (``x·scale + offset``) doing a scaler's job.

    Input side: ``(x − offset)/scale`` = ``x·(1/scale) + (−offset/scale)``; output
    side (``invert``): ``ŷ·scale + offset``. ``Rescaling`` keeps its factors as
    float64 arrays, also in a saved ``.keras`` file (``Normalization`` would round
    them to float32).
    """
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    offset = np.asarray(scaler.offset_, dtype=np.float64)
    if not invert:
        scale, offset = 1.0 / scale, -offset / scale
    return keras.layers.Rescaling(scale=scale, offset=offset, dtype=dt.name, name=name)


def to_keras(net, *, dtype=None, include_scalers: bool = False):
    """The network as a Keras 3 ``Sequential`` of ``Dense`` layers with identical weights.

    Layer ``l`` becomes ``Dense(n_out, activation=..., use_bias=net.bias)`` named
    ``"dense_{l}"``, whose kernel *is* ``W[l]`` (Keras also computes
    ``x @ kernel + bias``: no transpose). Activations map to Keras names
    (``identity`` → ``"linear"``), except ``leaky_relu``, which becomes a linear
    ``Dense`` followed by a ``LeakyReLU(negative_slope=0.01)`` layer, because the
    Keras function ``leaky_relu`` uses slope 0.2.

    Keras is imported on first use, on the PyTorch backend unless the environment
    variable ``KERAS_BACKEND`` names another (see :mod:`neurallab.interop`).

    float64: the layers hold float64 weights (exactly ours), but Keras 3 on the
    torch and jax backends multiplies float64 tensors in float32 — its type
    promotion maps float64 to float32 (keras-team/keras#23704) — so a float64
    model's outputs agree with ours to float32 precision (≈1e-7 relative), not 1e-15.

    Parameters
    ----------
    net : Network
    dtype : {"float32", "float64"}, optional
        Layer dtype (Keras dtype policy); defaults to the network's.
    include_scalers : bool
        Put the fitted input/output scalers in the model as ``Rescaling`` layers
        (first and last), so the model takes and returns raw units. Off by default:
        like the network's ``forward``, the model then works in scaled units.

    Returns
    -------
    keras.Sequential
    """
    keras = import_keras("to_keras")
    check_network(net, "to_keras")
    dt = export_dtype(net, dtype)
    layers = [keras.Input(shape=(net.n_inputs,), dtype=dt.name, name="x")]
    if include_scalers and net.input_scaler is not None and net.input_scaler.fitted:
        layers.append(_scaler_layer(keras, net.input_scaler, dt, False, "input_scaling"))
    dense = []
    for l, (W, act, alpha) in enumerate(zip(net.W, layer_activations(net), layer_slopes(net),
                                             strict=True)):
        layer = keras.layers.Dense(W.shape[1], activation=_KERAS_ACTIVATIONS[act] or "linear",
                                   use_bias=net.bias, dtype=dt.name, name=f"dense_{l}")
        dense.append(layer)
        layers.append(layer)
        if act == "leaky_relu":
            layers.append(keras.layers.LeakyReLU(negative_slope=alpha, dtype=dt.name,
                                                 name=f"leaky_relu_{l}"))
    if include_scalers and net.output_scaler is not None and net.output_scaler.fitted:
        layers.append(_scaler_layer(keras, net.output_scaler, dt, True, "output_scaling"))
    model = keras.Sequential(layers, name="neurallab_network")
    for layer, W, b in zip(dense, net.W, net.b, strict=True):
        weights = [W.astype(dt)] + ([] if b is None else [b.astype(dt)])
        layer.set_weights(weights)
    return model


def _keras_activation(layer, keras, label: str) -> tuple[str, float | None] | None:
    """neurallab's name for an activation layer and its leaky slope (``None`` unless a
    leaky ReLU), or ``None`` if the layer is not an activation."""
    L = keras.layers
    if type(layer) is L.Activation:
        return _activation_fn(layer.activation, label)
    if type(layer) is L.LeakyReLU:      # any slope: from_keras records it
        return "leaky_relu", float(layer.negative_slope)
    if type(layer) is L.ReLU:
        cfg = layer.get_config()
        if cfg.get("max_value") is None and not cfg.get("threshold"):
            slope = float(cfg.get("negative_slope") or 0.0)
            return ("relu", None) if slope == 0.0 else ("leaky_relu", slope)
        raise InputError(
            f"layer {label} is ReLU with max_value={cfg.get('max_value')}, "
            f"threshold={cfg.get('threshold')}; neurallab supports ReLU without a cap or "
            "threshold (a negative_slope is fine)"
        )
    if type(layer) is L.Softmax:
        axis = layer.axis
        if axis not in (-1, 1, (-1,), [-1], (1,), [1]):
            raise InputError(f"layer {label} is Softmax(axis={axis}); neurallab's softmax "
                             "runs over the outputs of each sample — use axis=-1")
        return "softmax", None
    return None


#: the slope of Keras's own ``leaky_relu`` activation function (its default)
_KERAS_LEAKY_SLOPE = 0.2


def _activation_fn(fn, label: str) -> tuple[str, float | None]:
    name = getattr(fn, "__name__", repr(fn))
    if name in _FROM_KERAS:
        return _FROM_KERAS[name], None
    if name == "leaky_relu":   # activation="leaky_relu": Keras's default slope
        return "leaky_relu", _KERAS_LEAKY_SLOPE
    raise InputError(
        f"layer {label} uses activation {name!r}, which neurallab does not support; "
        "supported: sigmoid, tanh, relu, leaky_relu, linear, softmax, LeakyReLU"
    )


def _rescaling_scaler(layer, n_features: int, invert: bool):
    """The scaler a first (``invert=False``) or last ``Rescaling`` layer stands for."""
    scale = np.broadcast_to(np.asarray(layer.scale, dtype=np.float64), (n_features,))
    offset = np.broadcast_to(np.asarray(layer.offset, dtype=np.float64), (n_features,))
    if not invert:  # x·r + c = (x − offset)/scale with scale = 1/r, offset = −c/r
        scale, offset = 1.0 / scale, -offset / scale
    return StandardScaler(scale=scale.copy(), offset=offset.copy())


def from_keras(model):
    """A :class:`~neurallab.Network` with the weights of a Keras 3 ``Sequential``.

    The model must be a chain of ``Dense`` layers, each with its activation inside
    (``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``linear``, ``softmax``) and/or
    followed by one activation layer (``Activation``, ``ReLU``, ``LeakyReLU`` — any
    slope: one other than 0.01 becomes a ``LeakyReLU(alpha=...)`` of the network —
    ``Softmax(axis=-1)``), optionally a ``Dropout`` after a hidden layer, and
    optionally a ``Rescaling`` first and last (they become the network's input and
    output scalers, as :func:`to_keras` with ``include_scalers=True`` writes them).
    The same rules as :func:`from_torch` apply; anything else is refused with an
    error naming the layer.

    Parameters
    ----------
    model : keras.Sequential
        Built (it starts with ``keras.Input`` or has been called).

    Returns
    -------
    Network
    """
    keras = import_keras("from_keras")
    if not isinstance(model, keras.Sequential):
        raise InputTypeError(
            f"from_keras takes a keras.Sequential of Dense layers, got {type(model).__name__}; "
            "rebuild the model as keras.Sequential([...])"
        )
    source = f"the Keras model {model.name!r}"
    if not model.built:
        raise InputError(f"{source} is not built, so it has no weights yet; start it with "
                         "keras.Input(shape=(n_inputs,)) or call model.build((None, n_inputs))")
    shape = tuple(model.input_shape)
    if len(shape) != 2:
        raise InputError(f"{source} takes inputs of shape {shape}; a neurallab network takes "
                         "rows of numbers, shape (None, n_inputs): flatten the input first "
                         "(keras.Input(shape=(n_inputs,)))")
    L = keras.layers
    layers: list[LayerSpec] = []
    scalers = [None, None]
    n = len(model.layers)
    for i, layer in enumerate(model.layers):
        label = f"{layer.name!r} ({type(layer).__name__})"
        if type(layer) is L.Dense:
            # layer.kernel is the kernel the layer computes with: with LoRA enabled, the
            # base kernel plus its low-rank update (layer.weights[0] is the base alone)
            W = np.array(keras.ops.convert_to_numpy(layer.kernel))
            b = np.array(keras.ops.convert_to_numpy(layer.bias)) if layer.use_bias else None
            act, slope = _activation_fn(layer.activation, label)
            layers.append(LayerSpec(W, b, None if act == "identity" else act, label,
                                    slope=slope))
            continue
        if type(layer) is L.Rescaling:
            if i == 0:
                scalers[0] = _rescaling_scaler(layer, model.input_shape[-1], invert=False)
                continue
            if i == n - 1 and layers:
                scalers[1] = _rescaling_scaler(layer, layers[-1].W.shape[1], invert=True)
                continue
            raise InputError(f"{source}: {label} is only supported as the first layer "
                             "(input scaling) or the last (output scaling)")
        if type(layer) is L.Dropout:
            add_dropout(layers, layer.rate, label, source, "Dense")
        else:
            found = _keras_activation(layer, keras, label)
            add_activation(layers, None if found is None else found[0], label, source,
                           "Dense", _SUPPORTED)
            if found is not None and found[0] == "leaky_relu":
                layers[-1].slope = found[1]
    net = assemble(layers, source, dense="Dense", input_scaler=scalers[0],
                   output_scaler=scalers[1])
    return apply_slopes(net, layers, source)


def export_keras(net, path, *, dtype=None, include_scalers: bool = True) -> Path:
    """Write the network as a Keras ``.keras`` file (``keras.models.load_model`` reads it).

    With ``include_scalers`` (default) the model takes and returns raw units like
    :meth:`~neurallab.Network.predict_raw`. Keras writes the file into a temporary
    folder; its bytes then replace ``path`` atomically (never half-written, with the
    permissions of an ordinary new file).

    Parameters
    ----------
    net : Network
    path : str or Path
        Must end in ``.keras`` (Keras requires it).
    dtype : {"float32", "float64"}, optional
    include_scalers : bool

    Returns
    -------
    Path
    """
    check_network(net, "export_keras")
    path = Path(path)
    if path.suffix != ".keras":
        raise InputError(f"a Keras model file must end in .keras, got {path}; "
                         f"use {path.with_suffix('.keras')}")
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    model = to_keras(net, dtype=dtype, include_scalers=include_scalers)
    with tempfile.TemporaryDirectory(prefix="neurallab-keras-") as tmp:
        staged = Path(tmp) / path.name
        model.save(staged)
        atomic_write_bytes(path, staged.read_bytes())
    return path
