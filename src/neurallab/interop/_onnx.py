"""ONNX: ``to_onnx`` writes a standard graph; ``run_onnx`` runs one in onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._validation import as_float_array
from ..errors import InputError, ModelFileError
from ..io import atomic_write_bytes
from ._common import check_network, export_dtype, layer_activations, layer_slopes
from ._deps import import_onnx, import_onnxruntime

__all__ = ["to_onnx", "run_onnx", "from_onnx", "DEFAULT_OPSET"]

#: opset 17: every op used here exists in it unchanged (Softmax's per-axis form since 13),
#: and onnxruntime releases from 1.14 (2023) on run it, in float32 and float64.
DEFAULT_OPSET = 17
#: neurallab activation -> (ONNX op, attributes); identity adds no node
_ONNX_ACTIVATIONS = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "softmax": ("Softmax", {"axis": -1}),
    "identity": (None, {}),
}


def to_onnx(net, path=None, *, dtype=None, opset: int = DEFAULT_OPSET,
            include_scalers: bool = True):
    """Write the network as a standard ONNX graph and return the ``onnx.ModelProto``.

    The graph, with input ``"X"`` of shape ``(batch, n_inputs)`` (batch dynamic) and
    output ``"Y"`` of shape ``(batch, n_outputs)``::

        [Sub(X, input_offset), Div(·, input_scale)]        input scaler, if any
        z_l = Gemm(a, W_l, b_l)   (MatMul(a, W_l) without biases)
        a_l = Sigmoid | Tanh | Relu | LeakyRelu(alpha=0.01) | Softmax(axis=-1) (z_l)
              (float64 leaky_relu: Max(z_l, Mul(z_l, alpha_l)) — an attribute is float32)
        [Mul(·, output_scale), Add(·, output_offset)]      output scaler, if any

    Initializers ``W{l}`` hold ``W[l]`` as is (shape ``(n_in, n_out)``) and
    ``b{l}`` the biases; the network's configuration is in the model's metadata
    (``neurallab_config``). The model passes ``onnx.checker.check_model(full_check=True)``
    before it is written. onnxruntime runs every op here in float64 as well as
    float32, so no casts are needed; the one float32 attribute, LeakyRelu's alpha,
    is replaced by a float64 constant in float64 graphs.

    Parameters
    ----------
    net : Network
    path : str or Path, optional
        Where to write the ``.onnx`` file (atomically); ``None`` only returns the model.
    dtype : {"float32", "float64"}, optional
        Tensor type of the graph; defaults to the network's dtype.
    opset : int
        ONNX opset: 13 up to the newest the installed ``onnx`` knows.
    include_scalers : bool
        Put the fitted scalers in the graph so it takes and returns raw units like
        :meth:`~neurallab.Network.predict_raw` (default); ``False`` gives the bare
        network, like ``forward``.

    Returns
    -------
    onnx.ModelProto
    """
    onnx = import_onnx("to_onnx")
    from onnx import helper, numpy_helper

    from .. import __version__

    check_network(net, "to_onnx")
    dt = export_dtype(net, dtype)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= newest:
        raise InputError(f"opset must be an integer from 13 (Softmax over the last axis) to "
                         f"{newest} (the newest this onnx package knows), got {opset!r}")
    elem = helper.np_dtype_to_tensor_dtype(dt)
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dt), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    h = "X"
    scalers = ((net.input_scaler if include_scalers else None),
               (net.output_scaler if include_scalers else None))
    if scalers[0] is not None and scalers[0].fitted:
        h = node("Sub", [h, const("input_offset", scalers[0].offset_)], "x_centred")
        h = node("Div", [h, const("input_scale", scalers[0].scale_)], "x_scaled")
    for l, (W, b, act, alpha) in enumerate(zip(net.W, net.b, layer_activations(net),
                                               layer_slopes(net), strict=True)):
        ins = [h, const(f"W{l}", W)] + ([] if b is None else [const(f"b{l}", b)])
        h = node("Gemm" if b is not None else "MatMul", ins, f"z{l}")
        op, attrs = _ONNX_ACTIVATIONS[act]
        if act == "leaky_relu" and dt == np.float64:
            # LeakyRelu's alpha is a float32 attribute: in float64 it would be off by
            # 2e-10, so build max(z, α·z) (0 < α < 1) from a float64 constant instead
            h = node("Max", [h, node("Mul", [h, const(f"alpha{l}", alpha)], f"az{l}")],
                     f"a{l}")
        elif op is not None:
            h = node(op, [h], f"a{l}", **(attrs if act != "leaky_relu" else {"alpha": alpha}))
    if scalers[1] is not None and scalers[1].fitted:
        h = node("Mul", [h, const("output_scale", scalers[1].scale_)], "y_scaled")
        h = node("Add", [h, const("output_offset", scalers[1].offset_)], "y_raw")
    node("Identity", [h], "Y")  # a fixed output name whatever the last op is
    graph = helper.make_graph(
        nodes, "neurallab_network",
        [helper.make_tensor_value_info("X", elem, ["batch", net.n_inputs])],
        [helper.make_tensor_value_info("Y", elem, ["batch", net.n_outputs])],
        inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="neurallab",
                              producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.doc_string = net.summary()
    helper.set_model_props(model, {"neurallab_config": json.dumps(net.config())})
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        atomic_write_bytes(Path(path), model.SerializeToString())
    return model


def run_onnx(model, X) -> np.ndarray:
    """Run an ONNX model written by :func:`to_onnx` in onnxruntime (CPU).

    Parameters
    ----------
    model : str, Path or onnx.ModelProto
    X : array-like, shape (n_samples, n_inputs)
        Cast to the graph's input type.

    Returns
    -------
    ndarray, shape (n_samples, n_outputs)
    """
    ort = import_onnxruntime("run_onnx")
    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ModelFileError(f"ONNX file {model} does not exist")
        source = str(model)
    else:
        source = model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes about graph rewrites
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (non-standard) error classes
        where = source if isinstance(source, str) else "the model"
        raise ModelFileError(f"{where} is not a readable ONNX model ({exc}); write one "
                             "with neurallab.interop.to_onnx") from exc
    inp = session.get_inputs()[0]
    dt = np.float64 if inp.type == "tensor(double)" else np.float32
    X = as_float_array(X, "X", dt)
    width = inp.shape[-1] if inp.shape else None
    if isinstance(width, int) and X.shape[1] != width:
        raise InputError(f"X has {X.shape[1]} columns but the ONNX model takes {width} "
                         f"inputs; pass data of shape (n_samples, {width})")
    return session.run(None, {inp.name: X})[0]


#: ONNX activation op -> neurallab name (LeakyRelu: its alpha must be 0.01, or the
#: network gets a LeakyReLU of that slope)
_FROM_ONNX = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "LeakyRelu": "leaky_relu",
              "Softmax": "softmax"}
_SUPPORTED_ONNX = ("Gemm, MatMul (+ Add), Sigmoid, Tanh, Relu, LeakyRelu, Softmax over the "
                   "last axis, Identity, Dropout; Sub/Div first and Mul/Add last as scaling")


def from_onnx(model):
    """A :class:`~neurallab.Network` with the weights of an ONNX graph.

    The graph must be a chain from its one input to its one output, as
    :func:`to_onnx` writes it or ``torch.onnx.export`` writes an ``nn.Sequential``:
    per layer a ``Gemm`` (``transB`` either way) or a ``MatMul`` with an optional
    ``Add`` of the bias, then at most one activation (``Sigmoid``, ``Tanh``, ``Relu``,
    ``LeakyRelu``, ``Softmax`` over the last axis, or ``to_onnx``'s float64 leaky ReLU
    ``Max(z, Mul(z, α))``); ``Identity`` and ``Dropout`` nodes pass through. A
    ``Sub``/``Div`` pair before the first layer and a ``Mul``/``Add`` pair after the
    last become the input and output scalers (``include_scalers=True`` of
    :func:`to_onnx`). Anything else is refused with an error naming the node.

    Parameters
    ----------
    model : str, Path or onnx.ModelProto

    Returns
    -------
    Network
        Same weights, bit for bit, in the graph's dtype (float32 or float64).
    """
    from ..errors import InputTypeError
    from ..preprocessing import StandardScaler
    from ._common import LayerSpec, add_activation, apply_slopes, assemble

    onnx = import_onnx("from_onnx")
    from onnx import numpy_helper

    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ModelFileError(f"ONNX file {model} does not exist")
        try:
            model = onnx.load(str(model))
        except Exception as exc:  # protobuf's DecodeError and friends
            raise ModelFileError(f"{model} is not a readable ONNX model ({exc})") from exc
    elif not isinstance(model, onnx.ModelProto):
        raise InputTypeError(f"from_onnx takes an ONNX file or onnx.ModelProto, got "
                             f"{type(model).__name__}")
    graph = model.graph
    source = f"the ONNX graph {graph.name!r}"
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        else:
            nodes.append(node)
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise InputError(f"{source} has {len(inputs)} inputs and {len(graph.output)} outputs; "
                         "a network has one of each")

    def const(node, name: str, what: str) -> np.ndarray:
        if name not in consts:
            raise InputError(f"{source}: node {node.name!r} ({node.op_type}) takes {what} "
                             f"from {name!r}, which is not a constant")
        return np.asarray(consts[name])

    layers: list[LayerSpec] = []
    scale = {"in_offset": None, "in_scale": None, "out_scale": None, "out_offset": None}
    current, i = inputs[0], 0
    while i < len(nodes):
        node = nodes[i]
        op, label = node.op_type, f"{node.name!r} ({node.op_type})"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if current not in node.input:
            raise InputError(f"{source}: node {label} does not take the previous node's "
                             "output; the graph must be one chain of layers")
        others = [x for x in node.input if x != current]
        last_is_bare = bool(layers) and layers[-1].activation is None and not layers[-1].dropout
        if op == "Gemm":
            if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 \
                    or attrs.get("beta", 1.0) != 1.0 or node.input[0] != current:
                raise InputError(f"{source}: node {label} is not a plain x·W + b (transA, "
                                 "alpha or beta set)")
            W = const(node, node.input[1], "weights")
            W = W.T if attrs.get("transB", 0) else W
            b = const(node, node.input[2], "a bias") if len(node.input) > 2 else None
            layers.append(LayerSpec(W.copy(), None if b is None else b.copy(), None, label))
        elif op == "MatMul" and node.input[0] == current:
            layers.append(LayerSpec(const(node, others[0], "weights").copy(), None, None,
                                    label))
        elif op == "Add" and last_is_bare and layers[-1].b is None \
                and scale["out_scale"] is None:
            layers[-1].b = const(node, others[0], "a bias").reshape(-1).copy()
        elif op == "Sub" and not layers and scale["in_offset"] is None:
            scale["in_offset"] = const(node, others[0], "an input offset")
        elif op == "Div" and not layers and scale["in_scale"] is None:
            scale["in_scale"] = const(node, others[0], "an input scale")
        elif op == "Mul" and i + 1 < len(nodes) and nodes[i + 1].op_type == "Max" \
                and set(nodes[i + 1].input) == {current, node.output[0]}:
            alpha = float(const(node, others[0], "a slope"))   # Max(z, Mul(z, α))
            add_activation(layers, "leaky_relu", label, source, "Gemm", _SUPPORTED_ONNX)
            layers[-1].slope = alpha
            current, i = nodes[i + 1].output[0], i + 2
            continue
        elif op == "Mul" and layers and scale["out_scale"] is None:
            scale["out_scale"] = const(node, others[0], "an output scale")
        elif op == "Add" and scale["out_scale"] is not None and scale["out_offset"] is None:
            scale["out_offset"] = const(node, others[0], "an output offset")
        elif op in _FROM_ONNX:
            if op == "Softmax" and attrs.get("axis", -1) not in (-1, 1):
                raise InputError(f"{source}: node {label} is a softmax over axis "
                                 f"{attrs['axis']}; neurallab's is over the last axis")
            add_activation(layers, _FROM_ONNX[op], label, source, "Gemm", _SUPPORTED_ONNX)
            if op == "LeakyRelu":
                layers[-1].slope = float(attrs.get("alpha", 0.01))
        elif op in ("Identity", "Dropout"):
            pass  # inference: both pass their input through
        else:
            raise InputError(f"{source} contains node {label}, which neurallab does not "
                             f"support here; supported: {_SUPPORTED_ONNX}")
        current = node.output[0]
        i += 1
    if current != graph.output[0].name:
        raise InputError(f"{source}: the chain of nodes ends at {current!r}, not at the "
                         f"graph's output {graph.output[0].name!r}")

    def scaler(offset, factor, n: int):
        if offset is None and factor is None:
            return None
        offset = np.zeros(n) if offset is None else offset
        factor = np.ones(n) if factor is None else factor
        return StandardScaler(scale=np.broadcast_to(np.asarray(factor, np.float64), (n,)).copy(),
                              offset=np.broadcast_to(np.asarray(offset, np.float64), (n,)).copy())

    n_in = layers[0].W.shape[0] if layers else 0
    n_out = layers[-1].W.shape[1] if layers else 0
    net = assemble(layers, source, dense="Gemm",
                   input_scaler=scaler(scale["in_offset"], scale["in_scale"], n_in),
                   output_scaler=scaler(scale["out_offset"], scale["out_scale"], n_out))
    return apply_slopes(net, layers, source)
