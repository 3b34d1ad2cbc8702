"""The network: one flat parameter vector, forward and backward propagation.

Why one flat vector: every optimizer, from SciPy's BFGS to Adam, and gradient
checking all think of the network as a function of one vector θ. So ``params`` is
the only storage; each layer's weight matrix ``W[l]`` (n_in, n_out) and bias
``b[l]`` (n_out,) are reshaped *views* into it, and gradients use the same layout.
Nothing is ever copied between "the weights" and "the vector" — there is only one.

Layout, layer by layer: ``W[0]`` row-major, then ``b[0]`` (if ``bias``), then
``W[1]``, ``b[1]``, ... ``offsets`` records where each block starts.

Forward, for layer ``l`` (the tutorial's names: ``z2 = X·W1``, ``a2 = f(z2)``)::

    z[l] = a[l-1] @ W[l] + b[l]
    a[l] = f(z[l])

Backward (chapter 4), with ``delta`` the derivative of the cost by ``z``::

    delta[L] = ∂J/∂z[L]                        (from the loss; ŷ − y when fused)
    ∂J/∂W[l] = a[l-1]ᵀ @ delta[l]
    ∂J/∂b[l] = Σ_samples delta[l]
    delta[l-1] = (delta[l] @ W[l]ᵀ) ⊙ f'(z[l-1])

``forward(..., return_cache=True)`` hands back everything ``backward`` needs; the
network itself keeps no state between the two calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from ._validation import (
    as_float_array,
    as_targets,
    check_flag,
    check_l2,
    check_n_features,
    check_rng,
    check_same_rows,
    check_seed,
)
from .activations import LeakyReLU, ReLU, get_activation
from .errors import InputError, InputTypeError
from .losses import Loss, get_loss
from .preprocessing import Scaler, get_scaler

__all__ = ["Network", "Cache"]

INITIALIZERS = ("normal", "xavier", "he")
DTYPES = ("float64", "float32")
#: rows per chunk when predicting: bounds memory, and a chunk's activations stay in
#: cache between one layer's product and the next (measured on 10,000 Fashion-MNIST
#: images, 784-256-128-10 float32: 27.1 ms in chunks of 2,048 or 4,096 rows, 27.9 ms
#: in one piece)
PREDICT_CHUNK = 2048
#: from this many rows, prediction scans the first layer's output for NaN and infinity
#: instead of the input (see ``Network._forward_chunked``); below it, the input
Z_CHECK_MIN_ROWS = 256


@dataclass
class Cache:
    """What the forward pass computed, kept by the caller for ``backward``.

    ``inputs[l]`` is the input of layer ``l`` (``inputs[0]`` is X; with dropout it is
    the *dropped-out* activation), ``z[l]`` its pre-activation, ``a[l]`` its
    activation (before dropout), ``masks[l]`` the scaled dropout mask applied to
    ``a[l]`` (or ``None``). ``a[-1]`` is ŷ.
    """

    inputs: list[np.ndarray]
    z: list[np.ndarray]
    a: list[np.ndarray]
    masks: list[np.ndarray | None] = field(default_factory=list)

    @property
    def yhat(self) -> np.ndarray:
        return self.a[-1]


class _Workspace:
    """Buffers for repeated forward and backward passes over batches of ``n_rows``.

    Full-batch training evaluates the same training set hundreds of times. Allocating
    every ``z``, ``a`` and ``δ`` afresh costs as much as the arithmetic once they reach
    a megabyte (the allocator hands such blocks back to the operating system and
    takes them again, page by page), so the training objective allocates them once
    and passes this object to :meth:`Network._forward` and :meth:`Network._backward`.
    The numbers are the same as without it, bit for bit. The cache and gradient
    those calls return live in these buffers: the next call overwrites them.
    """

    def __init__(self, net: Network, n_rows: int):
        dt = net.dtype
        units = net.layer_sizes[1:]
        self.n_rows = n_rows
        self.z = [np.empty((n_rows, k), dtype=dt) for k in units]
        self.a = [np.empty((n_rows, k), dtype=dt) for k in units]
        #: ∂J/∂a and ∂J/∂z of the hidden layers
        self.grad_a = [np.empty((n_rows, k), dtype=dt) for k in units[:-1]]
        self.delta = [np.empty((n_rows, k), dtype=dt) for k in units[:-1]]
        self.grad = np.empty(net.n_params, dtype=dt)
        self.dW, self.db = net._views(self.grad)


class Network:
    """A fully connected feed-forward network whose parameters are one flat vector.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, inputs first: ``[2, 3, 1]`` is the tutorial's network.
    activation : str
        Hidden-layer activation: one of ``sigmoid``, ``tanh``, ``relu``,
        ``leaky_relu``, ``identity``.
    output_activation : str, optional
        Output activation (adds ``softmax``); defaults to ``activation``.
    bias : bool
        Whether layers have bias terms. ``bias=False`` reproduces the tutorial.
    init : {"normal", "xavier", "he"}
        ``normal``: standard normal weights, as in the tutorial; ``xavier``: Glorot
        uniform, ``U(±sqrt(6 / (n_in + n_out)))``; ``he``: ``N(0, 2 / n_in)``.
        Biases start at zero.
    dtype : {"float64", "float32"}
        float64 for exactness (tutorial, gradient checks), float32 for image work.
    seed : int, optional
        Seed of the initial weights (``numpy.random.default_rng(seed)``).
    dropout : float or sequence of float
        Inverted-dropout rate on each hidden layer's output during training
        (one number for all hidden layers, or one per hidden layer).
    input_scaler, output_scaler : str or Scaler, optional
        ``"max"``, ``"minmax"``, ``"standard"`` or a :class:`~neurallab.preprocessing.Scaler`.
        Fitted on the training data by ``fit`` and stored with the model, so that
        ``predict`` takes and returns raw units.

    Attributes
    ----------
    params : ndarray, shape (n_params,)
        The flat parameter vector; ``W`` and ``b`` are views into it.
    W : list of ndarray, shapes (n_in, n_out)
    b : list of ndarray or None, shapes (n_out,)
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "sigmoid",
        output_activation: str | None = None,
        bias: bool = True,
        init: str = "normal",
        dtype: str = "float64",
        seed: int | None = None,
        *,
        dropout: float | Sequence[float] = 0.0,
        input_scaler: str | Scaler | None = None,
        output_scaler: str | Scaler | None = None,
    ):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        self.activation = get_activation(activation, hidden=True)
        self.output_activation = get_activation(
            activation if output_activation is None else output_activation
        )
        if self.output_activation.coupled and self.layer_sizes[-1] == 1:
            raise InputError(
                f"a {self.output_activation.name} over a single output is always 1; use "
                "output_activation='sigmoid' for one output (two classes), or one output "
                "per class"
            )
        if not isinstance(bias, (bool, np.bool_)):
            raise InputTypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        if init not in INITIALIZERS:
            raise InputError(f"unknown init {init!r}; choose one of {', '.join(INITIALIZERS)}")
        self.init = init
        if _dtype_name(dtype) not in DTYPES:
            raise InputError(f"unsupported dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
        self.dtype = np.dtype(dtype)
        self.seed = check_seed(seed)
        self.dropout = _check_dropout(dropout, len(self.layer_sizes) - 2)
        self.input_scaler = get_scaler(input_scaler)
        self.output_scaler = get_scaler(output_scaler)
        #: name of the loss the network was trained with (decides what predict returns)
        self.loss: str | None = None
        #: class names for classifiers, in output order
        self.class_names: list[str] | None = None
        #: free-form JSON-able description saved with the model (e.g. image preprocessing)
        self.meta: dict = {}
        #: set to True by a callback to end ``fit`` after the current epoch/iteration
        self.stop_training = False

        self._build_layout()
        self.initialize(self.seed)

    # ------------------------------------------------------------------ layout
    def _build_layout(self) -> None:
        shapes = []
        offset = 0
        self.offsets: list[tuple[int, int | None]] = []
        for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True):
            w_off = offset
            offset += n_in * n_out
            b_off = None
            if self.bias:
                b_off = offset
                offset += n_out
            self.offsets.append((w_off, b_off))
            shapes.append((n_in, n_out))
        self.n_params = offset
        self.params = np.zeros(offset, dtype=self.dtype)
        self.W, self.b = self._views(self.params)
        # where the weight entries (not biases) lie: L2 applies to these only
        self._weight_slices = [slice(w, w + n_in * n_out) for (w, _), (n_in, n_out)
                               in zip(self.offsets, shapes, strict=True)]

    def _views(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Per-layer views of a flat vector laid out like ``params``."""
        Ws, bs = [], []
        for (w_off, b_off), n_in, n_out in zip(
            self.offsets, self.layer_sizes[:-1], self.layer_sizes[1:], strict=True
        ):
            Ws.append(flat[w_off:w_off + n_in * n_out].reshape(n_in, n_out))
            bs.append(None if b_off is None else flat[b_off:b_off + n_out])
        return Ws, bs

    def initialize(self, seed: int | None = None) -> None:
        """(Re)draw the initial weights from ``init`` with ``seed``; biases to zero.

        Weights are drawn in float64 and then cast, so a float32 network starts
        from the same numbers as its float64 twin.
        """
        rng = np.random.default_rng(check_seed(seed))
        for W, b in zip(self.W, self.b, strict=True):
            n_in, n_out = W.shape
            if self.init == "normal":
                w = rng.standard_normal((n_in, n_out))
            elif self.init == "xavier":
                lim = np.sqrt(6.0 / (n_in + n_out))
                w = rng.uniform(-lim, lim, (n_in, n_out))
            else:  # he
                w = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
            W[...] = w
            if b is not None:
                b[...] = 0

    # ------------------------------------------------------------------ params
    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (the tutorial's network has 2)."""
        return len(self.layer_sizes) - 1

    def get_params(self) -> np.ndarray:
        """A copy of the flat parameter vector."""
        return self.params.copy()

    def set_params(self, theta) -> None:
        """Copy ``theta`` into the parameter buffer (the views stay valid)."""
        theta = np.asarray(theta)
        if theta.shape != (self.n_params,):
            raise InputError(
                f"theta must have shape ({self.n_params},) — this network has "
                f"{self.n_params} parameters — got {theta.shape}"
            )
        if theta.dtype.kind not in "biuf":
            raise InputTypeError(f"theta must be numeric, got dtype {theta.dtype}")
        if not np.isfinite(theta).all():
            raise InputError("theta contains NaN or infinite values")
        self.params[...] = theta

    def weights_view(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of the weight matrices inside any vector laid out like ``params``."""
        return self._views(flat)[0]

    def penalty(self, l2: float) -> float:
        """``(λ/2)·Σ‖W‖²`` over the weight matrices (biases are not penalised)."""
        if not l2:
            return 0.0
        return 0.5 * l2 * sum(float(np.vdot(self.params[s], self.params[s]))
                              for s in self._weight_slices)

    # ------------------------------------------------------------------ forward
    def _check_X(self, X, name: str = "X") -> np.ndarray:
        X = as_float_array(X, name, self.dtype)
        check_n_features(X, self.n_inputs, name)
        return X

    def forward(self, X, *, return_cache: bool = False, training: bool = False,
                rng: np.random.Generator | None = None):
        """Propagate ``X`` (n_samples, n_inputs) through the network.

        Works in the network's own (scaled) units; use :meth:`predict` for raw units.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_inputs)
        return_cache : bool
            Also return the :class:`Cache` that :meth:`backward` needs.
        training : bool
            Apply dropout (masks from ``rng``); off by default and at prediction time.
        rng : numpy.random.Generator or int, optional
            Source of the dropout masks, or a seed for one (a fresh unseeded one if
            omitted in training).

        Returns
        -------
        yhat : ndarray, shape (n_samples, n_outputs)
        cache : Cache, only if ``return_cache``
        """
        X = self._check_X(X)
        rng = check_rng(rng)
        if training and rng is None and any(self.dropout):
            rng = np.random.default_rng()  # unseeded masks; pass rng to reproduce them
        cache = self._forward(X, rng if training else None)
        return (cache.yhat, cache) if return_cache else cache.yhat

    def _forward(self, X: np.ndarray, rng: np.random.Generator | None = None,
                 ws: _Workspace | None = None) -> Cache:
        """Forward pass on validated input; dropout when ``rng`` is given.

        With a :class:`_Workspace` (for ``X``'s number of rows) every ``z`` and ``a``
        is written into its buffers instead of new arrays.
        """
        inputs, zs, acts, masks = [X], [], [], []
        a = X
        last = self.n_layers - 1
        for l, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            z = np.matmul(a, W, out=None if ws is None else ws.z[l])
            if b is not None:
                z += b
            f = self.output_activation if l == last else self.activation
            a = f.forward(z, out=None if ws is None else ws.a[l])
            zs.append(z)
            acts.append(a)
            mask = None
            if l != last and rng is not None and self.dropout[l] > 0:
                mask = _dropout_mask(rng, a.shape, self.dropout[l], self.dtype)
                a = a * mask
            masks.append(mask)
            if l != last:
                inputs.append(a)
        return Cache(inputs, zs, acts, masks)

    def _forward_chunked(self, X: np.ndarray, recheck=None) -> np.ndarray:
        """The output ``yhat`` for validated ``X``, shape ``(n_samples, n_outputs)``.

        The prediction path: no cache for a backward pass (each layer's ``z``
        becomes its ``a`` in place where the activation allows it, and only the
        current layer's array is alive), in chunks of :data:`PREDICT_CHUNK` rows.

        ``recheck``: for ``X`` not yet scanned for NaN and infinity, the full check to
        call (it raises, naming the first bad value) when a chunk's first-layer ``z``
        is not finite. Why that is enough: under IEEE arithmetic a NaN or infinity
        in a row of ``X`` leaves its row of ``z = X @ W + b`` non-finite (NaN·0 and
        ∞·0 are NaN), and ``z`` has a third of ``X``'s columns here and is still in
        cache — scanning it costs 0.4 ms on 10,000 images against 2.3 ms for ``X``.
        """
        n = X.shape[0]
        out = None if n <= PREDICT_CHUNK else np.empty((n, self.n_outputs), dtype=self.dtype)
        last = self.n_layers - 1
        # hidden ReLU layers with biases on many rows: bias, ReLU (and the scan) in one
        # compiled pass, the same numbers as NumPy's three (neurallab._kernels)
        fused = (_kernels.kernel("bias_relu")
                 if type(self.activation) is ReLU and self.bias and last > 0
                 and min(n, PREDICT_CHUNK) * min(self.layer_sizes[1:-1]) >= _kernels.MIN_SIZE
                 else None)
        for s in range(0, max(n, 1), PREDICT_CHUNK):
            a = X[s:s + PREDICT_CHUNK]
            for l, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
                check = l == 0 and recheck is not None
                one_pass = fused is not None and l != last
                with np.errstate(invalid="ignore", over="ignore") if check else nullcontext():
                    z = a @ W   # (warnings for a bad X would come before its error)
                    if one_pass:
                        finite = fused(z, b)   # z ← ReLU(z + b) in place
                    else:
                        if b is not None:
                            z += b
                        finite = not check or bool(np.isfinite(z).all())
                if check and not finite:
                    recheck()       # raises if X holds NaN, infinity or out-of-range values;
                    recheck = None  # else finite inputs overflowed: answered as before
                if one_pass:
                    a = z
                else:
                    f = self.output_activation if l == last else self.activation
                    a = f.forward(z, out=z if f.in_place else None)
            if out is None:
                return a
            out[s:s + PREDICT_CHUNK] = a
        return out

    # ------------------------------------------------------------------ backward
    def backward(self, cache: Cache, y, loss: str | Loss = "sse", l2: float = 0.0,
                 normalize: bool = False) -> np.ndarray:
        """Gradient of the cost by backpropagation, as a flat vector like ``params``.

        Parameters
        ----------
        cache : Cache
            From ``forward(X, return_cache=True)``.
        y : array-like, shape (n_samples, n_outputs) or (n_samples,) of labels
        loss, l2, normalize
            As in :meth:`loss_and_grad`.
        """
        if not isinstance(cache, Cache):
            raise InputTypeError(f"cache must be the Cache from forward(X, return_cache=True), "
                                 f"got {type(cache).__name__}")
        loss_obj = self._resolve_loss(loss)
        Y = as_targets(y, "y", self.n_outputs, self.dtype, classification=loss_obj.classification)
        check_same_rows(cache.inputs[0], Y, "X", "y")
        return self._backward(cache, Y, loss_obj, check_l2(l2), check_flag(normalize, "normalize"))

    def _backward(self, cache: Cache, Y: np.ndarray, loss: Loss, l2: float,
                  normalize: bool, out: np.ndarray | None = None,
                  n_norm: int | None = None, *, ws: _Workspace | None = None,
                  delta: np.ndarray | None = None) -> np.ndarray:
        """Backpropagation on validated data, into ``out`` when given.

        ``n_norm`` (with ``normalize``) divides by that many samples instead of the
        rows of ``Y``: the gradient of a batch is the sum of the gradients of its
        parts, each divided by the size of the whole batch (data-parallel training).
        ``delta``: the output layer's ``∂J/∂z`` when the caller already has it (from
        :meth:`Loss.value_and_delta`; it is scaled in place). ``ws``: intermediate
        arrays go into its buffers, and so does the gradient unless ``out`` is given.
        """
        if out is None and ws is not None:
            grad, dW, db = ws.grad, ws.dW, ws.db
        else:
            grad = np.empty(self.n_params, dtype=self.dtype) if out is None else out
            dW, db = self._views(grad)
        last = self.n_layers - 1
        if delta is None:
            delta = loss.output_delta(Y, cache.a[last], cache.z[last], self.output_activation)
        if normalize:
            delta *= 1.0 / (Y.shape[0] if n_norm is None else n_norm)
        for l in range(last, -1, -1):
            np.matmul(cache.inputs[l].T, delta, out=dW[l])   # ∂J/∂W = aᵀ·δ
            if db[l] is not None:
                _column_sums(delta, db[l])                    # ∂J/∂b = Σ δ
            if l > 0:
                # back through the weights: δ·Wᵀ; for a single output unit an outer
                # product, done element-wise (the same products, without a BLAS call)
                W_t = self.W[l].T
                grad_a = None if ws is None else ws.grad_a[l - 1]
                if W_t.shape[0] == 1:
                    grad_a = np.multiply(delta, W_t, out=grad_a)
                else:
                    grad_a = np.matmul(delta, W_t, out=grad_a)
                if cache.masks[l - 1] is not None:
                    grad_a *= cache.masks[l - 1]              # ... and the dropout mask
                delta = self.activation.backward(
                    cache.z[l - 1], cache.a[l - 1], grad_a,
                    out=grad_a if ws is None else ws.delta[l - 1])
        if l2:
            for s in self._weight_slices:                     # + λ·W, weights only
                grad[s] += l2 * self.params[s]
        return grad

    # ------------------------------------------------------------------ cost
    def _resolve_loss(self, loss: str | Loss) -> Loss:
        loss_obj = get_loss(loss)
        loss_obj.check_activation(self.output_activation)
        return loss_obj

    def _prepare(self, X, y, loss: str | Loss) -> tuple[np.ndarray, np.ndarray, Loss]:
        loss_obj = self._resolve_loss(loss)
        X = self._check_X(X)
        Y = as_targets(y, "y", self.n_outputs, self.dtype, classification=loss_obj.classification)
        check_same_rows(X, Y)
        return X, Y, loss_obj

    def cost(self, X, y, loss: str | Loss = "sse", l2: float = 0.0,
             normalize: bool = False) -> float:
        """The cost ``J`` only (one forward pass), in the network's units."""
        X, Y, loss_obj = self._prepare(X, y, loss)
        return self._cost(X, Y, loss_obj, check_l2(l2), check_flag(normalize, "normalize"))

    def _cost(self, X, Y, loss: Loss, l2: float, normalize: bool,
              rng: np.random.Generator | None = None, ws: _Workspace | None = None) -> float:
        cache = self._forward(X, rng, ws)
        data = loss.value(Y, cache.yhat, cache.z[-1], self.output_activation)
        if normalize:
            data /= Y.shape[0]
        return data + self.penalty(l2)

    def loss_and_grad(self, X, y, loss: str | Loss = "sse", l2: float = 0.0,
                      normalize: bool = False, rng: np.random.Generator | None = None
                      ) -> tuple[float, np.ndarray]:
        """Cost and its gradient by backpropagation.

        ``J = data + (λ/2)·Σ‖W‖²``, where ``data`` is the loss summed over samples
        (``sse``: exactly ``½·Σ(y − ŷ)²``), divided by ``n_samples`` when
        ``normalize=True`` (chapter 7's form).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_inputs)
        y : array-like, shape (n_samples, n_outputs), or (n_samples,) integer labels
            for classification losses
        loss : str
            ``sse``, ``mse``, ``binary_crossentropy`` or ``categorical_crossentropy``.
        l2 : float
            λ of the L2 penalty on weights (not biases).
        normalize : bool
            Divide the data term by the number of samples.
        rng : numpy.random.Generator or int, optional
            Apply dropout with masks drawn from ``rng`` (or a generator seeded with it;
            training mode).

        Returns
        -------
        J : float
        grad : ndarray, shape (n_params,)
            ``∂J/∂θ`` laid out like ``params``.
        """
        X, Y, loss_obj = self._prepare(X, y, loss)
        J, grad, _ = self._loss_and_grad(X, Y, loss_obj, check_l2(l2),
                                         check_flag(normalize, "normalize"), check_rng(rng))
        return J, grad

    def _loss_and_grad(self, X, Y, loss: Loss, l2: float, normalize: bool,
                       rng: np.random.Generator | None = None, ws: _Workspace | None = None):
        """Unchecked fast path: returns ``(J, grad, cache)``.

        With ``ws`` (a :class:`_Workspace` for ``X``'s rows) ``grad`` and ``cache`` live
        in its buffers and are overwritten by the next call.
        """
        cache = self._forward(X, rng, ws)
        data, delta = loss.value_and_delta(Y, cache.yhat, cache.z[-1], self.output_activation)
        if normalize:
            data /= Y.shape[0]
        grad = self._backward(cache, Y, loss, l2, normalize, ws=ws, delta=delta)
        return data + self.penalty(l2), grad, cache

    # ------------------------------------------------------------------ Jacobian
    def residual_jacobian(self, X, out: np.ndarray | None = None) -> np.ndarray:
        """Jacobian of the outputs by the parameters, one row per sample and output.

        Row ``i·k + j`` holds ``∂ŷ[i, j]/∂θ`` (k outputs), i.e. the Jacobian of the
        residual vector ``r = (ŷ − y).ravel()``. Computed by backpropagating a unit
        ``δ`` from each output in turn, for all samples at once; each layer's block
        is the per-sample outer product ``a[l-1][i] ⊗ δ[l][i]``.

        Returns
        -------
        J : ndarray, shape (n_samples · n_outputs, n_params)
        """
        X = self._check_X(X)
        return self._jacobian(X, self._forward(X), out)

    def _jacobian(self, X, cache: Cache, out: np.ndarray | None = None) -> np.ndarray:
        n, k = X.shape[0], self.n_outputs
        if out is None:
            out = np.empty((n * k, self.n_params), dtype=self.dtype)
        last = self.n_layers - 1
        for j in range(k):
            rows = out[j::k]
            g = np.zeros((n, k), dtype=self.dtype)
            g[:, j] = 1.0
            delta = self.output_activation.backward(cache.z[last], cache.a[last], g)
            for l in range(last, -1, -1):
                w_off, b_off = self.offsets[l]
                inp = cache.inputs[l]
                n_in, n_out = inp.shape[1], delta.shape[1]
                block = rows[:, w_off:w_off + n_in * n_out].reshape(n, n_in, n_out) \
                    if rows.flags.c_contiguous else None
                if block is not None:
                    np.multiply(inp[:, :, None], delta[:, None, :], out=block)
                else:
                    rows[:, w_off:w_off + n_in * n_out] = (
                        inp[:, :, None] * delta[:, None, :]).reshape(n, -1)
                if b_off is not None:
                    rows[:, b_off:b_off + n_out] = delta
                if l > 0:
                    delta = self.activation.backward(
                        cache.z[l - 1], cache.a[l - 1], delta @ self.W[l].T)
        return out

    # ------------------------------------------------------------------ training
    def fit(self, X, y, loss: str = "sse", optimizer="bfgs", l2: float = 0.0,
            epochs: int = 200, batch_size: int | None = None, validation_data=None,
            callbacks=None, verbose: int = 1, seed: int | None = None, **kwargs):
        """Train the network; returns a :class:`~neurallab.History`.

        ``X`` and ``y`` are in raw units: if the network has scalers, they are fitted
        on this training data (unless already fitted) and applied to it and to
        ``validation_data``. See :func:`neurallab.training.fit` for every option.
        """
        from .training import fit as _fit

        return _fit(self, X, y, loss=loss, optimizer=optimizer, l2=l2, epochs=epochs,
                    batch_size=batch_size, validation_data=validation_data,
                    callbacks=callbacks, verbose=verbose, seed=seed, **kwargs)

    # ------------------------------------------------------------------ prediction
    @property
    def is_classifier(self) -> bool:
        return self.loss is not None and get_loss(self.loss).classification

    def _outputs(self, X) -> np.ndarray:
        """The network's outputs for raw-unit ``X``, before any output scaling.

        Without an input scaler ``X`` is not scanned for NaN and infinity up front:
        :meth:`_forward_chunked` scans the first layer's smaller output instead.
        """
        if self.input_scaler is not None and self.input_scaler.fitted:
            return self._forward_chunked(self._scaled_inputs(X))
        arr = as_float_array(X, "X", self.dtype, allow_1d=False, finite=False)
        check_n_features(arr, self.n_inputs)

        def recheck():   # the full check, which names what is wrong
            as_float_array(X, "X", self.dtype, allow_1d=False)

        if arr.shape[0] < Z_CHECK_MIN_ROWS:   # a few rows: scanning X costs nothing
            if not np.isfinite(arr).all():
                recheck()
            return self._forward_chunked(arr)
        return self._forward_chunked(arr, recheck=recheck)

    def _scaled_inputs(self, X) -> np.ndarray:
        """Raw-unit ``X`` through the fitted input scaler, checked, in the network's dtype."""
        X = as_float_array(X, "X", np.float64, allow_1d=False)
        check_n_features(X, self.n_inputs)
        self.input_scaler._check_columns(X.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):   # reported just below
            scaled = self.input_scaler._apply(X)   # X is checked as finite just above
            out = np.ascontiguousarray(scaled, dtype=self.dtype)
        if not np.isfinite(out).all():
            # finite raw values that the scaling takes beyond the network's float range
            i = tuple(np.argwhere(~np.isfinite(out))[0].tolist())
            raise InputError(
                f"X holds {X[i]:.3g} at index {i}, which the input scaling "
                f"(x − offset) / scale takes to {scaled[i]:.3g}, beyond the range of "
                f"{self.dtype} (±{np.finfo(self.dtype).max:.3g}); pass values of the size "
                "the model was trained on" + (", or use a float64 network"
                                              if self.dtype != np.float64 else ""))
        return out

    def predict_raw(self, X) -> np.ndarray:
        """Network outputs for raw-unit ``X``, with the output scaling undone."""
        yhat = self._outputs(X)
        if self.output_scaler is not None and self.output_scaler.fitted:
            yhat = self.output_scaler.inverse_transform(yhat)
        return yhat

    def predict(self, X) -> np.ndarray:
        """Predictions in raw units.

        Regressors return ``(n_samples, n_outputs)`` values (output scaling undone);
        classifiers (trained with a cross-entropy loss) return integer class labels
        ``(n_samples,)`` — or a 0/1 matrix for several independent sigmoid outputs.
        """
        yhat = self.predict_raw(X)
        if not self.is_classifier:
            return yhat
        if self.output_activation.name == "softmax":
            return yhat.argmax(axis=1)
        if self.n_outputs == 1:
            return (yhat[:, 0] > 0.5).astype(np.int64)
        return (yhat > 0.5).astype(np.int64)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)`` for softmax/sigmoid outputs.

        A single sigmoid output gives two columns, ``[1 − p, p]``.
        """
        if not self.output_activation.probabilistic:
            raise InputError(
                f"predict_proba needs a softmax or sigmoid output layer; this network's "
                f"output activation is {self.output_activation.name!r}; use predict()"
            )
        p = self._outputs(X)
        if self.n_outputs == 1:
            return np.hstack([1 - p, p])
        return p

    # ------------------------------------------------------------------ misc
    def config(self) -> dict:
        """Plain-JSON description of everything but the parameter values.

        An activation is stored by name; a leaky ReLU with a slope of its own
        (``LeakyReLU(alpha=0.2)``) also stores that slope (``activation_alpha``,
        ``output_activation_alpha``), so a saved network computes what it did.
        """
        slopes = {f"{key}_alpha": float(act.alpha)
                  for key, act in (("activation", self.activation),
                                   ("output_activation", self.output_activation))
                  if isinstance(act, LeakyReLU) and act.alpha != LeakyReLU.alpha}
        return {
            **slopes,
            "layer_sizes": list(self.layer_sizes),
            "activation": self.activation.name,
            "output_activation": self.output_activation.name,
            "bias": self.bias,
            "init": self.init,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "dropout": list(self.dropout),
            "loss": self.loss,
            "input_scaler": None if self.input_scaler is None else self.input_scaler.to_dict(),
            "output_scaler": None if self.output_scaler is None else self.output_scaler.to_dict(),
            "class_names": self.class_names,
            "meta": self.meta,
        }

    @classmethod
    def from_config(cls, config: dict) -> Network:
        """Rebuild an (untrained) network from :meth:`config`."""
        def activation(key: str):
            if f"{key}_alpha" in config:  # a leaky ReLU with a slope of its own
                if config[key] != "leaky_relu":
                    raise InputError(f"{key}_alpha is given for {config[key]!r}, which has "
                                     "no slope")
                return LeakyReLU(alpha=float(config[f"{key}_alpha"]))
            return config[key]

        net = cls(
            config["layer_sizes"],
            activation=activation("activation"),
            output_activation=activation("output_activation"),
            bias=config["bias"],
            init=config.get("init", "normal"),
            dtype=config.get("dtype", "float64"),
            seed=config.get("seed"),
            dropout=config.get("dropout", 0.0) or 0.0,
        )
        for key in ("input_scaler", "output_scaler"):
            if config.get(key) is not None:
                setattr(net, key, Scaler.from_dict(config[key]))
        net.loss = config.get("loss")
        net.class_names = config.get("class_names")
        net.meta = dict(config.get("meta") or {})
        return net

    def copy(self) -> Network:
        """An independent copy (same configuration, copied parameters)."""
        net = Network.from_config(json.loads(json.dumps(self.config())))
        net.params[...] = self.params
        return net

    def save(self, path) -> None:
        """Save to one ``.safetensors`` file (atomically). See :func:`neurallab.load`."""
        from .io import save

        save(self, path)

    def summary(self) -> str:
        """A short human-readable description of the architecture."""
        lines = [f"Network {'-'.join(map(str, self.layer_sizes))}  "
                 f"({self.n_params} parameters, {self.dtype.name})"]
        for l, W in enumerate(self.W):
            f = self.output_activation if l == self.n_layers - 1 else self.activation
            nb = 0 if self.b[l] is None else self.b[l].size
            rate = self.dropout[l] if l < len(self.dropout) else 0.0
            drop = f", dropout {rate:g}" if rate else ""
            lines.append(f"  layer {l + 1}: {W.shape[0]} -> {W.shape[1]}  {f.name}"
                         f"  ({W.size} weight{'s' * (W.size != 1)}, "
                         f"{nb} bias{'es' * (nb != 1)}{drop})")
        if self.loss:
            lines.append(f"  trained with loss {self.loss}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Network({self.layer_sizes}, activation={self.activation.name!r}, "
                f"output_activation={self.output_activation.name!r}, bias={self.bias}, "
                f"dtype={self.dtype.name!r})")


def _dropout_mask(rng: np.random.Generator, shape, rate: float, dtype) -> np.ndarray:
    """An inverted-dropout mask: ``1/keep`` where a unit is kept (probability
    ``keep = 1 − rate``), else 0 — kept units are scaled up in training so that
    prediction needs no change."""
    keep = 1.0 - rate
    mask = (rng.random(shape, dtype=dtype) < keep).astype(dtype)
    mask *= 1.0 / keep
    return mask


def _column_sums(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` into ``out``: the bias gradient ``Σᵢ δᵢ``.

    For a C-ordered matrix of two or more columns, ``einsum`` adds the rows one by
    one in the same order as ``np.sum`` — the same numbers, bit for bit — in about
    half the time (4000 × 32: 37 µs against 80 µs). A single column ``np.sum``
    adds pairwise, which ``einsum`` does not, so that case stays with ``np.sum``.
    """
    if a.ndim == 2 and a.shape[1] > 1 and a.flags.c_contiguous and a.dtype == out.dtype:
        return np.einsum("ij->j", a, out=out)
    return np.sum(a, axis=0, out=out)


def _check_layer_sizes(layer_sizes) -> list[int]:
    if not isinstance(layer_sizes, (list, tuple, range, np.ndarray)):  # a dict or set: keys
        raise InputTypeError(
            f"layer_sizes must be a list of positive integers like [2, 3, 1], got {layer_sizes!r}"
        )
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise InputError(
            f"layer_sizes needs at least an input and an output size, got {sizes}; "
            "e.g. [2, 3, 1]"
        )
    for i, s in enumerate(sizes):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise InputTypeError(f"layer_sizes[{i}] must be an integer, got {s!r}")
        if s <= 0:
            raise InputError(
                f"layer_sizes[{i}] is {s}; every layer needs at least one unit"
            )
    return [int(s) for s in sizes]


def _dtype_name(dtype) -> str | None:
    try:
        return np.dtype(dtype).name
    except TypeError:  # not a dtype at all ("bogus", a list, ...)
        return None


def _check_dropout(dropout, n_hidden: int) -> list[float]:
    if isinstance(dropout, np.ndarray) and dropout.ndim == 0:
        dropout = dropout[()]  # np.array(0.2): the number it holds
    values = [dropout] if np.isscalar(dropout) else list(dropout) \
        if hasattr(dropout, "__iter__") else [dropout]
    if any(isinstance(r, (str, bytes, bool, np.bool_))
           or not isinstance(r, (int, float, np.integer, np.floating)) for r in values):
        raise InputTypeError(f"dropout must be a number in [0, 1) or one such number per "
                             f"hidden layer, got {dropout!r}")
    if np.isscalar(dropout):
        rates = [float(dropout)] * n_hidden
    else:
        rates = [float(r) for r in values]
        if len(rates) != n_hidden:
            raise InputError(
                f"dropout has {len(rates)} rates but the network has {n_hidden} hidden "
                "layers; pass one rate per hidden layer or a single number"
            )
    for r in rates:
        if not 0.0 <= r < 1.0:
            raise InputError(f"dropout rates must lie in [0, 1), got {r}")
    return rates

