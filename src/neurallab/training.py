"""The fit loop: batches, callbacks, History, early stopping, checkpoints, progress.

Two kinds of optimizer, one loop:

* **first-order** (``gd``, ``sgd``, ``adam``): for each epoch, one shuffled index
  (never a copy of the data set), mini-batches gathered into a reused buffer, one
  ``loss_and_grad`` and one in-place ``step`` per batch;
* **full batch** (``bfgs``, ``lbfgs``, ``cg``, ``newton-cg``, ``lm``): the
  optimizer runs its own iterations on the whole training set and calls back
  after each one, which counts as one "epoch" of the History.

Callbacks follow Keras: ``on_train_begin``, ``on_epoch_end(epoch, logs)``,
``on_train_end``; a callback stops training by setting ``model.stop_training``.

Safety: a NaN or infinite cost stops training with a
:class:`~neurallab.errors.TrainingDivergedError` naming the epoch, after putting
back the last weights whose cost was finite; Ctrl-C (``KeyboardInterrupt``) stops
cleanly, keeping the best weights seen so far, and ``fit`` returns normally.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np

from ._minibatch import (
    ONE_THREAD_MIN_WORK,
    ModeChooser,
    should_split,
    single_threaded_blas,
    split_stepper,
    step_l2,
    usable_cores,
)
from ._validation import (
    as_float_array,
    as_targets,
    check_flag,
    check_l2,
    check_n_features,
    check_same_rows,
    check_seed,
)
from .errors import InputError, InputTypeError, TrainingDivergedError
from .losses import Loss
from .network import _Workspace
from .optim import FirstOrderOptimizer, FullBatchOptimizer, LevenbergMarquardt, get_optimizer

__all__ = [
    "Callback", "History", "EarlyStopping", "ModelCheckpoint", "LambdaCallback",
    "ProgressBar", "fit",
]

#: rows per forward pass when evaluating a large validation set
EVAL_CHUNK = 16384
#: Levenberg–Marquardt keeps BLAS's own threads only from this much work per iteration
#: (residuals × parameters², the ``JᵀJ`` product): below it one product takes well under
#: a millisecond, and a multi-threaded BLAS mostly waits for its threads — on a busy
#: two-core machine a 193-parameter network's 200 iterations took 9 s instead of 0.2 s
LM_THREADS_MIN_WORK = 1 << 27


# ---------------------------------------------------------------------------- callbacks
class Callback:
    """Base class; override any of the hooks. ``self.model`` is the network."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...


class History(Callback):
    """What happened during training (the object ``fit`` returns).

    Attributes
    ----------
    history : dict of str to list of float
        One entry per epoch (first-order optimizers) or iteration (full batch):
        ``"loss"`` always, ``"val_loss"`` with validation data, ``"accuracy"`` and
        ``"val_accuracy"`` for classifiers — the Keras convention.
    epoch : list of int
    wall_time : float
        Seconds spent in ``fit``.
    message : str
        Why training stopped (the optimizer's message, early stopping, Ctrl-C).
    optimizer : str
    interrupted : bool
        True when Ctrl-C ended the run.
    """

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.wall_time = 0.0
        self.message = ""
        self.optimizer = ""
        self.interrupted = False
        self.n_evaluations = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))

    @property
    def final_loss(self) -> float:
        return self.history["loss"][-1] if self.history.get("loss") else float("nan")

    def to_dict(self) -> dict:
        return {"history": self.history, "epoch": self.epoch, "wall_time": self.wall_time,
                "message": self.message, "optimizer": self.optimizer,
                "interrupted": self.interrupted}

    def __repr__(self) -> str:
        return (f"History({len(self.epoch)} epochs, final loss {self.final_loss:.6g}, "
                f"{self.wall_time:.3f} s, {self.message!r})")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the network ends with the weights of its best
    epoch, not its last.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        if (isinstance(patience, (bool, np.bool_)) or not isinstance(patience, (int, np.integer))
                or patience < 0):
            raise InputError(f"patience must be an integer >= 0, got {patience!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise InputError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_params: np.ndarray | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.stopped_epoch, self.best_params = -1, 0, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise InputError(
                f"EarlyStopping monitors {self.monitor!r}, which training does not report "
                f"(it reports {', '.join(logs)}); pass validation_data for 'val_loss'"
            )
        value = logs[self.monitor]
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_params = self.model.get_params()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_params is not None:
            self.model.set_params(self.best_params)


class ModelCheckpoint(Callback):
    """Save the model to ``path`` after each epoch (only improvements if ``save_best_only``)."""

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = True):
        self.path = path
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor, (logs or {}).get("loss"))
        if not self.save_best_only or (value is not None and value < self.best):
            self.best = value if value is not None else self.best
            self.model.save(self.path)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_train_begin=None, on_train_end=None):
        if on_epoch_end:
            self.on_epoch_end = on_epoch_end
        if on_train_begin:
            self.on_train_begin = on_train_begin
        if on_train_end:
            self.on_train_end = on_train_end


class ProgressBar(Callback):
    """A tqdm bar showing the cost; redraws only on a terminal.

    ``verbose=1``: the bar, and only when standard error is a terminal;
    ``verbose=2``: one plain line per epoch (for logs), wherever output goes.
    """

    def __init__(self, epochs: int, verbose: int = 1, unit: str = "epoch", stream=None):
        self.epochs = epochs
        self.verbose = verbose
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self._bar = None

    def on_train_begin(self, logs=None):
        if self.verbose == 1 and _isatty(self.stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.epochs, unit=self.unit, file=self.stream,
                             dynamic_ncols=True, leave=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        text = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(1)
        elif self.verbose >= 2:
            print(f"{self.unit} {epoch + 1}/{self.epochs}: {text}", file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------- problem
class _NetworkProblem:
    """The training objective on the whole (scaled) training set, for full-batch optimizers.

    Every evaluation reuses preallocated buffers (:class:`~neurallab.network._Workspace`,
    and one Jacobian buffer for Levenberg–Marquardt): the optimizer calls it hundreds
    of times on the same rows, and fresh megabyte-sized arrays per call would cost as
    much as the arithmetic. The Jacobian returned by :meth:`residuals_and_jacobian`
    is overwritten by the next such call.

    A large training set (rows × parameters ≥ ``SPLIT_MIN_WORK``, as for mini-batches)
    is evaluated as two halves, ``J = J_A + J_B`` and ``∇J = ∇J_A + ∇J_B``: inside
    :meth:`threads` the halves run on two cores with one BLAS thread each (a
    multi-threaded BLAS on products this small mostly waits for its threads; see
    :mod:`neurallab._minibatch`). The split depends on the sizes alone, so the numbers
    are the same on one core or two, busy or idle.
    """

    def __init__(self, net, X, Y, loss: Loss, l2: float, normalize: bool):
        self.net, self.X, self.Y, self.loss_obj = net, X, Y, loss
        self.l2, self.normalize = l2, normalize
        self.x0 = net.params
        self.n_evaluations = 0
        self.last_J = math.nan
        self._full_ws: _Workspace | None = None
        self._jac: np.ndarray | None = None
        self.split = should_split(X.shape[0], net.n_params)
        self._halves: list | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._chooser: ModeChooser | None = None

    @property
    def _ws(self) -> _Workspace:
        if self._full_ws is None:
            self._full_ws = _Workspace(self.net, self.X.shape[0])
        return self._full_ws

    @contextmanager
    def threads(self):
        """One BLAS thread per call and, on two or more cores, a second thread for
        the second half, while an optimizer calls :meth:`loss_and_grad`."""
        with ExitStack() as stack:
            if self.X.shape[0] * self.net.n_params >= ONE_THREAD_MIN_WORK:
                stack.enter_context(single_threaded_blas())
            if self.split and usable_cores() >= 2:
                self._pool = stack.enter_context(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurallab-eval"))
                # a full-batch run is a few hundred evaluations: re-time both modes
                # every few dozen, as the other core gets busy or free
                self._chooser = ModeChooser(probe=2, exploit=30)
            try:
                yield self
            finally:
                self._pool = self._chooser = None

    def loss_and_grad(self, theta):
        self.net.params[...] = theta
        if self.split:
            J, grad = self._split_loss_and_grad()
        else:
            J, grad, _ = self.net._loss_and_grad(self.X, self.Y, self.loss_obj, self.l2,
                                                 self.normalize, ws=self._ws)
            # a copy: SciPy keeps earlier gradients (BFGS updates from g_k and g_k+1)
            grad = grad.copy()
        self.n_evaluations += 1
        self.last_J = J
        return J, grad

    def _half(self, k: int):
        """Data term and gradient of half ``k``; the penalty's λ·W goes into half 0."""
        X, Y, ws = self._halves[k]
        net, loss = self.net, self.loss_obj
        cache = net._forward(X, None, ws)
        data, delta = loss.value_and_delta(Y, cache.yhat, cache.z[-1], net.output_activation)
        grad = net._backward(cache, Y, loss, self.l2 if k == 0 else 0.0, self.normalize,
                             n_norm=self.X.shape[0], ws=ws, delta=delta)
        return data, grad

    def _split_loss_and_grad(self):
        if self._halves is None:
            n, h = self.X.shape[0], self.X.shape[0] // 2
            self._halves = [(self.X[:h], self.Y[:h], _Workspace(self.net, h)),
                            (self.X[h:], self.Y[h:], _Workspace(self.net, n - h))]
        parallel = self._chooser.next_mode() if self._chooser else False
        t0 = time.perf_counter()
        if parallel:
            future = self._pool.submit(self._half, 1)
            d0, g0 = self._half(0)
            d1, g1 = future.result()
        else:
            d0, g0 = self._half(0)
            d1, g1 = self._half(1)
        if self._chooser:
            self._chooser.record(parallel, time.perf_counter() - t0)
        data = d0 + d1
        if self.normalize:
            data /= self.X.shape[0]
        return data + self.net.penalty(self.l2), g0 + g1   # a new array for SciPy

    def loss(self, theta):
        self.net.params[...] = theta
        self.n_evaluations += 1
        return self.net._cost(self.X, self.Y, self.loss_obj, self.l2, self.normalize,
                              ws=self._ws)

    # Levenberg–Marquardt's view: J = c·Σr² + (λ/2)·‖W‖²
    def lm_terms(self):
        c = self.loss_obj.residual_scale(self.Y.shape[1])
        if self.normalize:
            c /= self.Y.shape[0]
        wmask = np.zeros(self.net.n_params, dtype=self.net.dtype)
        for s in self.net._weight_slices:
            wmask[s] = 1
        return c, self.l2, wmask

    def residuals(self, theta):
        self.net.params[...] = theta
        self.n_evaluations += 1
        return (self.net._forward(self.X, ws=self._ws).yhat - self.Y).ravel()

    def residuals_and_jacobian(self, theta):
        self.net.params[...] = theta
        self.n_evaluations += 1
        cache = self.net._forward(self.X, ws=self._ws)
        self._jac = self.net._jacobian(self.X, cache, self._jac)
        return (cache.yhat - self.Y).ravel(), self._jac


# ---------------------------------------------------------------------------- fit
def _data_cost(net, X, Y, loss: Loss, normalize: bool) -> tuple[float, np.ndarray]:
    """Data term of the cost (no penalty) and ŷ, one forward pass in chunks."""
    yhat = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
    total = 0.0
    for s in range(0, X.shape[0], EVAL_CHUNK):
        sl = slice(s, s + EVAL_CHUNK)
        cache = net._forward(X[sl])
        yhat[sl] = cache.yhat
        total += loss.value(Y[sl], cache.yhat, cache.z[-1], net.output_activation)
    return (total / X.shape[0] if normalize else total), yhat


def _accuracy(yhat: np.ndarray, Y: np.ndarray) -> float:
    if Y.shape[1] == 1:
        return float(((yhat[:, 0] > 0.5) == (Y[:, 0] > 0.5)).mean())
    return float((yhat.argmax(axis=1) == Y.argmax(axis=1)).mean())


def fit(net, X, y, *, loss="sse", optimizer="bfgs", l2: float = 0.0, epochs: int = 200,
        batch_size: int | None = None, validation_data=None, validation_split: float = 0.0,
        callbacks: Sequence[Callback] | None = None, verbose: int = 1, seed: int | None = None,
        normalize: bool | None = None, shuffle: bool = True, lr: float | None = None):
    """Train ``net`` on ``(X, y)``; returns a :class:`History`.

    Parameters
    ----------
    net : Network
    X : array-like, shape (n_samples, n_inputs)
        Raw units; scaled by the network's ``input_scaler`` if it has one (fitted here
        on this training data unless already fitted).
    y : array-like, shape (n_samples, n_outputs), or (n_samples,) integer labels
    loss : str
        ``sse`` (the tutorial's), ``mse``, ``binary_crossentropy``,
        ``categorical_crossentropy``.
    optimizer : str or Optimizer
        ``gd``, ``sgd``, ``adam``, ``bfgs``, ``lbfgs``, ``cg``, ``newton-cg``, ``lm``, or
        an object from :mod:`neurallab.optim`.
    l2 : float
        λ of the L2 penalty ``(λ/2)·ΣW²`` on weights (not biases). Every optimizer
        minimises the same ``J = data + (λ/2)·ΣW²``: a mini-batch step adds λ·W to the
        weights' gradient with a mean loss, and (m/n)·λ·W with a summed loss
        (``normalize=False``), whose batch gradient is that of its m rows' share of
        the data term — so the result does not depend on the batch size. (PyTorch's
        ``weight_decay`` with a summed loss adds the full λ per batch, which is this
        with λ·n/m.)
    epochs : int
        Epochs for first-order optimizers; the iteration cap for full-batch ones.
    batch_size : int, optional
        Mini-batch size for ``sgd``/``adam`` (``None``: the whole set; default 32 for
        ``sgd``/``adam`` is *not* assumed — pass it).
    validation_data : (X_val, y_val), optional
        Scored after every epoch as ``val_loss`` (data term only, no penalty — it
        measures generalisation), in the same units as training.
    validation_split : float
        Alternatively, hold out this fraction of ``(X, y)`` (the last rows after a
        seeded shuffle) as validation data.
    callbacks : list of Callback, or one Callback
    verbose : int
        0 silent, 1 progress bar on a terminal, 2 one line per epoch.
    seed : int, optional
        Seeds shuffling and dropout: the same seed gives the same run, bit for bit.
    normalize : bool, optional
        Divide the data term by n (mean instead of sum). Default: False for ``sse``
        (the tutorial's cost), True for every other loss.
    shuffle : bool
        Shuffle the training set every epoch (first-order optimizers).
    lr : float, optional
        Learning rate, when ``optimizer`` is given by name.
    """
    seed = check_seed(seed)
    # made before the clock starts: a SciPy-based optimizer loads SciPy on first use
    opt = get_optimizer(optimizer, **({} if lr is None else {"lr": lr}))
    t_start = time.perf_counter()
    loss_obj = net._resolve_loss(loss)
    if normalize is None:
        normalize = loss_obj.name != "sse"
    normalize = check_flag(normalize, "normalize")
    l2 = check_l2(l2)
    if (isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, (int, np.integer))
            or epochs < 1):
        raise InputError(f"epochs must be a positive integer, got {epochs!r}")
    if verbose not in (0, 1, 2, True, False):
        raise InputError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if batch_size is not None and (isinstance(batch_size, (bool, np.bool_))
                                   or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(validation_split, (int, float, np.integer, np.floating)) \
            or isinstance(validation_split, (bool, np.bool_)):
        raise InputTypeError(f"validation_split must be a number in (0, 1), got "
                             f"{validation_split!r}")
    callbacks = _check_callbacks(callbacks)

    # ---- data: validate, split, scale (scalers fitted on training data only)
    Xr = as_float_array(X, "X", np.float64 if net.input_scaler else net.dtype)
    check_n_features(Xr, net.n_inputs)
    scale_y = net.output_scaler is not None and not loss_obj.classification
    Yr = as_targets(y, "y", net.n_outputs, np.float64 if scale_y else net.dtype,
                    classification=loss_obj.classification)
    check_same_rows(Xr, Yr)
    if validation_split:
        if validation_data is not None:
            raise InputError("pass either validation_data or validation_split, not both")
        if not 0 < validation_split < 1:
            raise InputError(f"validation_split must lie in (0, 1), got {validation_split}")
        n_val = int(round(Xr.shape[0] * validation_split))
        if n_val < 1 or n_val >= Xr.shape[0]:
            raise InputError(
                f"validation_split={validation_split} leaves {n_val} validation samples out "
                f"of {Xr.shape[0]}; use a larger data set or another fraction"
            )
        perm = np.random.default_rng(seed).permutation(Xr.shape[0])
        validation_data = (Xr[perm[-n_val:]], Yr[perm[-n_val:]])
        Xr, Yr = Xr[perm[:-n_val]], Yr[perm[:-n_val]]
    if isinstance(opt, LevenbergMarquardt):  # refuse before fitting scalers
        if loss_obj.residual_scale(Yr.shape[1]) is None:
            raise InputError(
                f"optimizer 'lm' (Levenberg–Marquardt) needs a squared-error loss "
                f"('sse' or 'mse'), got {loss_obj.name!r}; use 'lbfgs' or 'adam' instead"
            )
        opt.check_size(Yr.size, net.n_params, net.dtype.itemsize)
    if opt.full_batch and batch_size is not None and batch_size < Xr.shape[0]:
        raise InputError(
            f"optimizer {opt.name!r} uses the whole training set at every iteration, so "
            f"batch_size={batch_size} would be ignored; use optimizer='sgd' or 'adam' for "
            "mini-batches, or leave batch_size=None"
        )
    if (getattr(opt, "full_batch_only", False) and batch_size is not None
            and batch_size < Xr.shape[0]):
        raise InputError(
            f"optimizer {opt.name!r} is full-batch gradient descent, but batch_size="
            f"{batch_size} asks for mini-batches; use optimizer='sgd' for mini-batches "
            "or leave batch_size=None"
        )

    if validation_data is not None:  # checked in full before any scaler is fitted
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise InputError("validation_data must be a pair (X_val, y_val)")
        Xv = as_float_array(validation_data[0], "X_val",
                            np.float64 if net.input_scaler else net.dtype)
        check_n_features(Xv, net.n_inputs, "X_val")
        Yv = as_targets(validation_data[1], "y_val", net.n_outputs,
                        np.float64 if scale_y else net.dtype,
                        classification=loss_obj.classification)
        check_same_rows(Xv, Yv, "X_val", "y_val")

    # the network changes from here on, once every argument has been accepted
    if net.input_scaler is not None:
        if not net.input_scaler.fitted:
            net.input_scaler.fit(Xr)
        Xr = net.input_scaler.transform(Xr)
    if scale_y:
        if not net.output_scaler.fitted:
            net.output_scaler.fit(Yr)
        Yr = net.output_scaler.transform(Yr)
    Xt = np.ascontiguousarray(Xr, dtype=net.dtype)
    Yt = np.ascontiguousarray(Yr, dtype=net.dtype)
    val = None
    if validation_data is not None:
        if net.input_scaler is not None:
            Xv = net.input_scaler.transform(Xv)
        if scale_y:
            Yv = net.output_scaler.transform(Yv)
        val = (np.ascontiguousarray(Xv, dtype=net.dtype),
               np.ascontiguousarray(Yv, dtype=net.dtype))

    net.loss = loss_obj.name
    net.stop_training = False
    history = History()
    history.optimizer = opt.name
    cbs: list[Callback] = [history, *callbacks]
    if verbose:
        cbs.append(ProgressBar(epochs, int(verbose),
                               unit="iteration" if opt.full_batch else "epoch"))
    for cb in cbs:
        cb.set_model(net)
    track_acc = loss_obj.classification

    state = _TrainState(net, val, loss_obj, normalize, track_acc)
    for cb in cbs:
        cb.on_train_begin()
    try:
        # a diverging run overflows on its way to an infinite cost, which raises
        # TrainingDivergedError with a message that says what to do; NumPy's
        # overflow warnings before it would only be noise
        with np.errstate(over="ignore", invalid="ignore"):
            if opt.full_batch:
                _fit_full_batch(net, opt, Xt, Yt, loss_obj, l2, normalize, epochs, cbs,
                                state, history)
            else:
                _fit_first_order(net, opt, Xt, Yt, loss_obj, l2, normalize, epochs,
                                 batch_size, cbs, state, history, seed, shuffle)
    except KeyboardInterrupt:
        history.interrupted = True
        best = state.best_epoch
        if state.best_params is not None:
            net.set_params(state.best_params)
        history.message = (f"interrupted (Ctrl-C) after {len(history.epoch)} epochs; "
                           f"kept the best weights (epoch {best + 1})")
    finally:
        history.wall_time = time.perf_counter() - t_start
        for cb in cbs:
            cb.on_train_end()
        net.stop_training = False
    if not history.message:
        history.message = "completed"
    return history


def _check_callbacks(callbacks) -> list[Callback]:
    """``callbacks`` as a list of :class:`Callback` objects (a single one is accepted)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise InputTypeError(f"callbacks must be a list of Callback objects, got {callbacks!r}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise InputTypeError(
                f"callbacks[{i}] is a {type(cb).__name__}, not a neurallab Callback; "
                "subclass neurallab.Callback or wrap functions in LambdaCallback"
            )
    return callbacks


class _TrainState:
    """Bookkeeping shared by both loops: best weights, logs for each epoch."""

    def __init__(self, net, val, loss_obj, normalize, track_acc):
        self.net, self.val, self.loss_obj = net, val, loss_obj
        self.normalize, self.track_acc = normalize, track_acc
        self.best_value = math.inf
        self.best_epoch = -1
        self.best_params: np.ndarray | None = None

    def end_epoch(self, epoch: int, logs: dict, cbs, history) -> bool:
        """Score validation data, keep the best weights, run callbacks. True: stop."""
        if self.val is not None:
            Xv, Yv = self.val
            v, yhat_v = _data_cost(self.net, Xv, Yv, self.loss_obj, self.normalize)
            logs["val_loss"] = v
            if self.track_acc:
                logs["val_accuracy"] = _accuracy(yhat_v, Yv)
        monitored = logs.get("val_loss", logs["loss"])
        if monitored < self.best_value:
            self.best_value, self.best_epoch = monitored, epoch
            if self.best_params is None:
                self.best_params = self.net.get_params()
            else:
                self.best_params[...] = self.net.params
        for cb in cbs:
            cb.on_epoch_end(epoch, logs)
        return bool(self.net.stop_training)


def _diverged(history, epoch: int, what: str, at_start: bool = False) -> TrainingDivergedError:
    if at_start:  # no weights with a finite cost to fall back on
        history.message = f"stopped: the cost is {what} at the initial weights"
        return TrainingDivergedError(
            f"training cannot start: the cost is {what} at the initial weights, before any "
            "update; re-initialise the network (another seed, or init='xavier'), scale the "
            "inputs, or check the targets",
            iteration=0, history=history,
        )
    history.message = f"stopped: the cost became {what} at epoch {epoch + 1}"
    return TrainingDivergedError(
        f"training diverged: the cost became {what} at epoch/iteration {epoch + 1}; "
        "the network keeps its last weights with a finite cost. Lower the learning rate, "
        "scale the inputs, or add l2",
        iteration=epoch + 1, history=history,
    )


def _fit_first_order(net, opt: FirstOrderOptimizer, X, Y, loss_obj, l2, normalize, epochs,
                     batch_size, cbs, state, history, seed, shuffle):
    n = X.shape[0]
    if batch_size is None or batch_size >= n:
        batch_size = n
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    rng = np.random.default_rng(seed)
    drop_rng = rng if any(net.dropout) else None
    opt.reset(net.n_params, net.dtype)
    full = batch_size == n
    # one reusable buffer per batch: the training set is never copied per epoch
    Xb = None if full else np.empty((batch_size, X.shape[1]), dtype=X.dtype)
    Yb = None if full else np.empty((batch_size, Y.shape[1]), dtype=Y.dtype)
    last_good = net.get_params()
    count_correct = (lambda yhat, yb: _accuracy(yhat, yb) * yb.shape[0]) \
        if state.track_acc else None
    # big enough steps run on two cores, the network cut in two (neurallab._minibatch)
    with split_stepper(net, opt, loss_obj, l2, normalize, drop_rng, batch_size,
                       count_correct, data=(X, Y)) as stepper:
        for epoch in range(epochs):
            opt.set_epoch(epoch, epochs)
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            if stepper is not None:   # the weights, as the callbacks left them
                stepper.begin_epoch()
            data_sum = pen_sum = 0.0
            correct = 0
            order = rng.permutation(n) if (shuffle and not full) else None
            for start in range(0, n, batch_size):
                idx = None
                if full:
                    xb, yb = X, Y
                    m = n
                else:
                    idx = order[start:start + batch_size] if order is not None else \
                        np.arange(start, min(start + batch_size, n))
                    m = idx.size
                if stepper is not None:
                    # the whole step (each side gathers the rows itself); the data
                    # term and the penalty at the weights before the update
                    nxt = None
                    if order is not None and start + batch_size < n:
                        nxt = order[start + batch_size:start + 2 * batch_size]
                    J, n_correct, pen = (stepper.step(X, Y) if full
                                         else stepper.step(rows=idx, next_rows=nxt))
                else:
                    if not full:
                        xb = np.take(X, idx, axis=0, out=Xb[:m])
                        yb = np.take(Y, idx, axis=0, out=Yb[:m])
                    l2_step = step_l2(l2, normalize, m, n)
                    J, grad, cache = net._loss_and_grad(xb, yb, loss_obj, l2_step, normalize,
                                                        drop_rng)
                    J -= net.penalty(l2_step)  # the data term
                    pen = net.penalty(l2)  # J's, at the weights the cost was computed on
                if not math.isfinite(J):
                    net.set_params(last_good)
                    raise _diverged(history, epoch, "NaN" if math.isnan(J) else "infinite",
                                    at_start=(epoch == 0 and start == 0))
                if start == 0:
                    # these weights gave a finite cost: keep them (with a stepper,
                    # the network holds the epoch's starting weights until its end)
                    last_good[...] = net.params
                data_sum += J * m if normalize else J
                pen_sum += pen * m
                if stepper is not None:
                    correct += n_correct
                else:
                    if state.track_acc:
                        correct += _accuracy(cache.yhat, yb) * m
                    opt.step(net.params, grad)
                history.n_evaluations += 1
            if stepper is not None:
                stepper.end_epoch()
            if not np.isfinite(net.params).all():
                net.set_params(last_good)
                raise _diverged(history, epoch, "NaN")
            # the epoch's cost: data term over all rows + the batches' mean penalty (for
            # full-batch gd exactly J at the weights before the epoch's step)
            logs = {"loss": (data_sum / n if normalize else data_sum) + pen_sum / n}
            if state.track_acc:
                logs["accuracy"] = correct / n
            if state.end_epoch(epoch, logs, cbs, history):
                history.message = f"stopped early at epoch {epoch + 1}"
                break
        else:
            history.message = f"completed {epochs} epochs"


def _fit_full_batch(net, opt: FullBatchOptimizer, X, Y, loss_obj, l2, normalize, epochs,
                    cbs, state, history):
    problem = _NetworkProblem(net, X, Y, loss_obj, l2, normalize)
    last_good = net.get_params()
    it = 0
    diverged: list[str] = []

    def callback(theta, J):
        nonlocal it
        if not math.isfinite(J):
            diverged.append("NaN" if math.isnan(J) else "infinite")
            return True
        net.params[...] = theta
        last_good[...] = theta
        logs = {"loss": J}
        if state.track_acc:
            logs["accuracy"] = _accuracy(net._forward_chunked(X), Y)
        stop = state.end_epoch(it, logs, cbs, history)
        it += 1
        return stop

    if isinstance(opt, LevenbergMarquardt):   # residuals and Jacobian: BLAS as it is,
        n_res = Y.shape[0] * Y.shape[1]        # but one thread for a small problem
        small = ONE_THREAD_MIN_WORK <= n_res * net.n_params \
            and n_res * net.n_params ** 2 < LM_THREADS_MIN_WORK
        with single_threaded_blas() if small else nullcontext():
            result = opt.run(problem, epochs, callback)
    else:
        with problem.threads():
            result = opt.run(problem, epochs, callback)
    history.n_evaluations = result.nfev or problem.n_evaluations
    if diverged:
        net.set_params(last_good)
        at_start = it == 0 and not math.isfinite(
            net._cost(X, Y, loss_obj, l2, normalize))  # nothing finite to fall back on
        raise _diverged(history, it, diverged[0], at_start=at_start)
    # the optimizer's final point; with StopIteration SciPy returns the last iterate
    if np.isfinite(result.x).all() and math.isfinite(result.fun):
        net.params[...] = result.x
    else:  # it ended on a non-finite cost without ever reporting one (e.g. from the start)
        net.set_params(last_good)
        raise _diverged(history, it, "infinite" if math.isinf(result.fun) else "NaN",
                        at_start=(it == 0))
    stopped_by_cb = bool(net.stop_training)
    history.message = ("stopped early at iteration " + str(it)) if stopped_by_cb \
        else result.message

