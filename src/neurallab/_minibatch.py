"""One mini-batch step on two cores: the network cut in two along its first layer.

A step of a 784-256-128-10 classifier on 128 rows is some 130 million
multiply-adds in eight matrix products, most of them in the first layer. Two
cores share it out by *units* (:class:`_Side`): side 0 computes the first 128
units of the first hidden layer, side 1 the other 128, each with its own half of
``W₁`` and the matching rows of ``W₂``; they swap one 128×128 partial product
(``z₂ = a₁[:, :128]·W₂[:128] + a₁[:, 128:]·W₂[128:]``), and both then compute the
small layers after it alike. Each side owns its weights, gradient and optimizer
state and updates them itself.

Why not split the *batch* — each core the whole network on half the rows, the
gradients summed? Then both cores read all the weights, and each core writes
half of them (or of the gradient) every step. On this kind of machine a core
that writes a cache line the other core has read must first have the other's
copy dropped: measured, that made the update three to four times slower and the
products behind it slower too (1.07 ms per step, against 0.93 ms cut by units).
Cut by units, only the partial product (64 KB) and the next batch cross between
the cores.

Why not let BLAS spread each product over both cores? A step is eight *small*
products. A multi-threaded BLAS wakes and synchronises its threads inside every
one, and when the other core is busy — another process, a web server — each
product waits for a thread that is not running: on a loaded two-core machine such
a step took 5–10× longer than with one BLAS thread. Here BLAS runs one thread per
call, and a step synchronises once.

Timing never changes the numbers. The cut depends on the network alone, and the
two sides run the same operations whether one after the other (inline), on two
threads, or side 1 in a worker process (:class:`_SideWorker`, a forked process
with an interpreter lock of its own: two threads wait for each other's lock at
every NumPy call). :class:`ModeChooser` picks whichever mode is fastest *right
now* (it re-times them every few hundred steps, as the machine's load changes);
the same seed gives the same weights, bit for bit, on a quiet machine, a busy
one, or a single core. The worker starts only after :data:`PROCESS_START_STEP`
steps, so that short runs pay nothing for it, and only where ``fork`` exists.

During a step the sides also fetch the *next* batch's rows from the training set
(each half of them) into a buffer both read, so a step rarely waits for memory.
"""

from __future__ import annotations

import copy
import mmap
import multiprocessing
import os
import signal
import threading
import time
import warnings
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import numpy as np

from . import _kernels
from .losses import Loss
from .network import _dropout_mask

#: split a batch only when rows × parameters reaches this (smaller steps are
#: dominated by Python overhead, which two threads do not shorten)
SPLIT_MIN_WORK = 1 << 20
#: ... and each half has at least this many rows
SPLIT_MIN_ROWS = 8
#: steps with rows × parameters below this keep BLAS as it is (setting the thread
#: count costs about a millisecond, more than such a whole training run may take)
ONE_THREAD_MIN_WORK = 1 << 14
#: the worker process is started at this step of a run (shorter runs never start it)
PROCESS_START_STEP = 64
#: a waiting side polls this long before it sleeps on the semaphore: waking a
#: sleeping process costs tens of microseconds, twice per step
SPIN_SECONDS = 2e-4
#: next-batch buffers used in turn, at least 3 (one is read this step, one filled
#: for the next, one may still be read by the slower side's previous step) and up
#: to 16, as many as fit in PREFETCH_BYTES. Why more than 3: a side writes its half
#: of a buffer that the other side read a few steps before, and while that copy is
#: still in the other core's cache every line written waits for it to be dropped —
#: measured, fetching 64 rows took 125 µs with 3 buffers and 55 µs with 12 to 24.
PREFETCH_SLOTS = (3, 16)
PREFETCH_BYTES = 8 << 20
#: the worker process and the next-batch buffers are used only for batches whose
#: inputs and targets take at most this many bytes (larger ones: threads or inline)
PROCESS_MAX_BATCH_BYTES = 16 << 20
#: the mode names a step can run in (``ModeChooser`` for mini-batches)
INLINE, THREADS, PROCESS = False, True, "process"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def step_l2(l2: float, normalize: bool, m: int, n: int) -> float:
    """The λ whose ``λ·W`` one mini-batch step of ``m`` of the ``n`` rows adds.

    Why not always λ: with a summed data term (``normalize=False``) a batch's gradient
    is the gradient of its ``m`` rows' share of the data term, so it must carry the
    same share, ``m/n``, of the penalty; the ``n/m`` steps of a pass then add up to
    the gradient of the one cost ``J = data + (λ/2)·ΣW²`` that every optimizer (and
    ``History``'s ``loss``) uses. With a mean data term each batch estimates the whole
    mean, and the whole λ goes with it.
    """
    return l2 if normalize or not l2 or m >= n else l2 * m / n


def should_split(batch_size: int, n_params: int) -> bool:
    """Whether mini-batches of ``batch_size`` rows are computed as two halves."""
    return batch_size >= 2 * SPLIT_MIN_ROWS and batch_size * n_params >= SPLIT_MIN_WORK


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread per call inside the block (threads are ours)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


class ModeChooser:
    """Run steps in whichever of several modes is measured fastest.

    ``modes`` defaults to ``(False, True)``: inline or on two threads. Probes
    ``probe`` steps in each mode (round robin, after one warm-up step in the first
    mode), keeps the mode with the lowest median step time for ``exploit`` steps,
    then probes again. A *clear* winner — faster than every other mode by the
    factor ``clear_win`` — is kept ``long_factor`` times as long: the probes of
    the slower modes cost time (about 3 % of an epoch for a 784-256-128-10 network,
    when the worker process is twice as fast as inline), and a clear lead is
    unlikely to turn before the next probe. :meth:`add_mode` adds a mode and starts
    a new probe.
    """

    def __init__(self, probe: int = 4, exploit: int = 256, modes: tuple = (False, True),
                 clear_win: float | None = 1.25, long_factor: int = 4):
        self.probe, self.exploit = probe, exploit
        self.clear_win, self.long_factor = clear_win, long_factor
        self.modes = tuple(modes)
        self._step = 0
        self._exploit_now = exploit
        self._times: dict = {mode: [] for mode in self.modes}
        self.parallel = self.modes[0]

    def add_mode(self, mode) -> None:
        """Take ``mode`` into the choice; the next step begins a new probe."""
        if mode not in self.modes:
            self.modes = (*self.modes, mode)
        self._step = 0

    def next_mode(self):
        """The mode of the next step (``True``: two threads, for the default modes)."""
        last_probe = len(self.modes) * self.probe
        if self._step >= last_probe + 1 + self._exploit_now:   # the cycle is over
            self._step = 0
        k = self._step
        if k == 0:
            self._times = {mode: [] for mode in self.modes}
            self._exploit_now = self.exploit
        if k <= last_probe:  # warm-up, then round robin
            self.parallel = self.modes[k % len(self.modes)]
        elif k == last_probe + 1:  # the fastest; the first listed on a tie
            median = {mode: float(np.median(self._times[mode])) for mode in self.modes}
            self.parallel = best = min(self.modes, key=median.get)
            others = [t for mode, t in median.items() if mode != best]
            if self.clear_win and others and min(others) >= self.clear_win * median[best]:
                self._exploit_now = self.exploit * self.long_factor
        return self.parallel

    def record(self, mode, seconds: float) -> None:
        k = self._step
        if 1 <= k <= len(self.modes) * self.probe and mode in self._times:
            self._times[mode].append(seconds)
        self._step += 1


def _shared_empty(shape, dtype) -> np.ndarray:
    """An uninitialised array in anonymous shared memory.

    Mapped before the worker is forked, the pages are the same in both processes;
    nothing is named (no ``/dev/shm`` entry to leak), and the memory goes back to
    the system when the last process drops it.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = mmap.mmap(-1, max(size, 1))   # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))
                         ).reshape(shape)


def process_mode_available() -> bool:
    """Whether a worker process can be forked here (Linux and other POSIX systems)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _wait(sem, alive=None) -> bool:
    """Acquire ``sem``: poll for :data:`SPIN_SECONDS`, then sleep on it.

    While sleeping, ``alive()`` is asked every half second; False (the other
    process has gone) ends the wait unsuccessfully.
    """
    end = time.perf_counter() + SPIN_SECONDS
    while time.perf_counter() < end:
        if sem.acquire(False):
            return True
    while not sem.acquire(timeout=0.5):
        if alive is not None and not alive():
            return False
    return True


class _PCG64State:
    """A PCG64 generator's state as six unsigned 64-bit words in shared memory."""

    def __init__(self):
        self.words = _shared_empty(6, np.uint64)

    def save(self, rng: np.random.Generator) -> None:
        st = rng.bit_generator.state
        mask = (1 << 64) - 1
        s, inc = st["state"]["state"], st["state"]["inc"]
        self.words[:] = (s & mask, s >> 64, inc & mask, inc >> 64,
                         st["has_uint32"], st["uinteger"])

    def load(self, rng: np.random.Generator) -> None:
        w = [int(v) for v in self.words]
        rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": w[0] | (w[1] << 64), "inc": w[2] | (w[3] << 64)},
            "has_uint32": w[4], "uinteger": w[5]}


_STOP, _STEP, _SYNC = 0, 1, 2
# the control block's slots
(_CMD, _FAILED, _ROWS, _SOURCE, _PARITY, _LOAD_RNG, _SQ, _NORM, _SLOT, _NEXT,
 _ABORT) = range(11)
#: where the optimizer's scalars begin in the control block
_SCALARS = 11
#: where a side's batch comes from: the whole training set, rows it gathers itself,
#: or the rows both sides gathered into a shared buffer during the previous step
_WHOLE, _GATHER, _PREFETCHED = 0, 1, 2


def can_split_model(net) -> bool:
    """Whether ``net`` can be cut in two for :class:`SplitStepper` (a hidden layer
    of two or more units: the first layer's units are shared out)."""
    return net.n_layers >= 2 and net.layer_sizes[1] >= 2


class _Side:
    """One of the two halves of the network in a split step, with its own weights.

    Side ``k`` owns half of the first hidden layer's units ``cols``: the columns
    ``W₁[:, cols]``, ``b₁[cols]`` and the matching rows ``W₂[cols, :]``. The layers
    after the second — and ``b₂`` — are small, and *both* sides hold, compute and
    update them alike (the same operations on the same numbers give the same bits).
    A step, for a batch ``X`` (every side sees all its rows)::

        phase 1:  a₁ = f(X·W₁[:, cols] + b₁[cols]);   P = a₁·W₂[cols, :]
                  — then the sides swap P: z₂ = P₀ + P₁ + b₂ —
        phase 2:  the rest of the forward pass, the loss and δ₂ (both sides);
                  ∂J/∂W₂[cols, :] = a₁ᵀ·δ₂,  δ₁ = f'(z₁) ⊙ δ₂·W₂[cols, :]ᵀ,
                  ∂J/∂W₁[:, cols] = Xᵀ·δ₁;  then the optimizer's update.

    Only ``P`` (rows × units of the second layer) crosses between the sides. Each
    side's weights, gradient and optimizer state are one flat vector of its own
    (``p``, ``g``, ``state``), laid out block by block; :attr:`index` maps it to
    the network's ``params``.
    """

    def __init__(self, net, k: int, cols: slice, opt, loss, alloc, rngs):
        self.net, self.k, self.cols = net, k, cols
        positions = np.arange(net.n_params)
        Wi, bi = net._views(positions)
        blocks = [Wi[0][:, cols], bi[0][cols] if bi[0] is not None else None,
                  Wi[1][cols, :], bi[1]]
        for W, b in zip(Wi[2:], bi[2:], strict=True):
            blocks += [W, b]
        blocks = [b for b in blocks if b is not None]
        #: positions in the network's ``params`` of this side's vector
        self.index = np.concatenate([b.ravel() for b in blocks])
        size, dt = self.index.size, net.dtype
        self.p, self.g = alloc(size, dtype=dt), alloc(size, dtype=dt)
        self.W, self.b = self._views(self.p, Wi, bi)
        self.dW, self.db = self._views(self.g, Wi, bi)
        #: which of W's blocks are this side's alone (the penalty counts the rest once)
        self.own_weights = 2 if k == 1 else len(self.W)
        # the optimizer: a copy with state vectors of this side's size
        self.state = {name: alloc(size, dtype=v.dtype) for name, v in vars(opt).items()
                      if isinstance(v, np.ndarray) and v.shape == (net.n_params,)}
        self.opt = copy.copy(opt)
        for name, a in self.state.items():
            setattr(self.opt, name, a)
        #: dropout streams: one of its own (first hidden layer), one shared by both
        self.rng_own, self.rng_common = rngs
        self.X = self.Y = None   # this side's copy of the batch (gathered rows)
        self._ones = np.ones(0, dtype=dt)   # a row of ones: Σ over rows as one product
        #: the compiled softmax + cross-entropy output step, where it applies
        self.fused_output = None
        if (net.output_activation.name == "softmax" and net.n_outputs > 1
                and getattr(loss, "name", "") == "categorical_crossentropy"
                and np.dtype(dt) in (np.float32, np.float64)):
            self.fused_output = _kernels.kernel("softmax_xent")

    def _views(self, flat, Wi, bi):
        Ws, bs, at = [], [], 0
        shapes = [(Wi[0].shape[0], self.cols.stop - self.cols.start),
                  (self.cols.stop - self.cols.start, Wi[1].shape[1])] + [W.shape for W in Wi[2:]]
        for l, shape in enumerate(shapes):
            n = shape[0] * shape[1]
            Ws.append(flat[at:at + n].reshape(shape))
            at += n
            if bi[l] is None:
                bs.append(None)
            else:
                bs.append(flat[at:at + shape[1]])
                at += shape[1]
        return Ws, bs

    # ---- moving weights and optimizer state between the network and the side
    def load(self, opt) -> None:
        self.p[...] = self.net.params[self.index]
        for name, a in self.state.items():
            a[...] = getattr(opt, name)[self.index]

    def publish(self, opt) -> None:
        self.net.params[self.index] = self.p
        for name, a in self.state.items():
            getattr(opt, name)[self.index] = a

    # ---- a step
    def set_rows(self, m: int) -> None:
        """Prepare for batches of up to ``m`` rows."""
        if self._ones.size < m:
            self._ones = np.ones(m, dtype=self.p.dtype)

    def gather(self, data, rows: np.ndarray) -> None:
        """This side's own copy of the batch: ``rows`` of ``data``."""
        X, Y = data
        r = rows.size
        if self.X is None or self.X.shape[0] < r:
            self.X = np.empty((r, X.shape[1]), dtype=X.dtype)
            self.Y = np.empty((r, Y.shape[1]), dtype=Y.dtype)
        self.batch = (np.take(X, rows, axis=0, out=self.X[:r]),
                      np.take(Y, rows, axis=0, out=self.Y[:r]))

    def prefetch(self, data, rows: np.ndarray, Xb: np.ndarray, Yb: np.ndarray) -> None:
        """This side's half of the *next* batch into the buffers both sides read.

        The training set's rows come from memory, not cache (some 60 µs for 128
        rows of 784 floats); each side fetching half of them, while the other
        fetches the other half, halves that.
        """
        h = rows.size // 2
        part = slice(0, h) if self.k == 0 else slice(h, rows.size)
        np.take(data[0], rows[part], axis=0, out=Xb[part])
        np.take(data[1], rows[part], axis=0, out=Yb[part])

    def phase1(self, P: np.ndarray, l2: float) -> float:
        """First layer (own units) and its share ``P`` of the second layer's input;
        returns this side's ``Σw²`` of its weights (for the penalty) when ``l2``."""
        net, X = self.net, self.batch[0]
        z = X @ self.W[0]
        if self.b[0] is not None:
            z += self.b[0]
        a = net.activation.forward(z)
        a_in, mask = a, None
        if self.rng_own is not None and net.dropout[0] > 0:
            mask = _dropout_mask(self.rng_own, a.shape, net.dropout[0], net.dtype)
            a_in = a * mask
        self.first = (z, a, mask, a_in)
        np.matmul(a_in, self.W[1], out=P)
        if not l2:
            return 0.0
        return sum(float(np.vdot(W, W)) for W in self.W[:self.own_weights])

    def phase2(self, P0: np.ndarray, P1: np.ndarray, loss, l2: float, normalize: bool,
               accuracy_count):
        """The rest of the step, the gradient into ``g``; returns (cost, correct).

        ``l2`` is the step's λ (:func:`step_l2`), not necessarily the run's."""
        net, (X, Y) = self.net, self.batch
        last = net.n_layers - 1
        z1, a1, mask1, a1_in = self.first
        # layer l's input ins[l] (after dropout), pre-activation zs[l], output outs[l]
        ins, zs, outs, masks = {1: a1_in}, {}, {}, {}
        z = P0 + P1                      # the same order on both sides
        for l in range(1, last + 1):
            if l > 1:
                z = ins[l] @ self.W[l]
            if self.b[l] is not None:
                z += self.b[l]
            zs[l] = z
            f = net.output_activation if l == last else net.activation
            if l == last and self.fused_output is not None:
                outs[l] = a = np.empty_like(z)   # the fused loop below fills it
            else:
                outs[l] = a = f.forward(z)
            if l < last:
                masks[l] = None
                if self.rng_common is not None and net.dropout[l] > 0:
                    masks[l] = _dropout_mask(self.rng_common, a.shape, net.dropout[l],
                                             net.dtype)
                    a = a * masks[l]
                ins[l + 1] = a
        scale = 1.0 / self._norm if normalize else 1.0
        fused, yhat = self.fused_output, outs[last]
        if fused is not None:   # softmax + cross-entropy: one compiled loop
            delta = np.empty_like(yhat)
            value, correct = fused(zs[last], Y, yhat, delta, yhat.dtype.type(scale))
        else:
            value, delta = loss.value_and_delta(Y, yhat, zs[last], net.output_activation)
            if normalize:
                delta *= scale
        for l in range(last, 0, -1):   # the layers both sides hold, down to the second
            np.matmul(ins[l].T, delta, out=self.dW[l])
            if self.db[l] is not None:
                self._row_sums(delta, self.db[l])
            grad_a = delta @ self.W[l].T
            if l > 1:
                if masks[l - 1] is not None:
                    grad_a *= masks[l - 1]
                delta = net.activation.backward(zs[l - 1], outs[l - 1], grad_a, out=grad_a)
        # ... and the first layer: this side's units only
        if mask1 is not None:
            grad_a *= mask1
        delta = net.activation.backward(z1, a1, grad_a, out=grad_a)
        np.matmul(X.T, delta, out=self.dW[0])
        if self.db[0] is not None:
            self._row_sums(delta, self.db[0])
        if l2:
            for W, dW in zip(self.W, self.dW, strict=True):
                dW += l2 * W
        if fused is None:
            correct = accuracy_count(yhat, Y) if accuracy_count else 0
        return value, (correct if accuracy_count else 0)

    def _row_sums(self, delta: np.ndarray, out: np.ndarray) -> None:
        """``Σ`` over the rows of ``delta`` (a bias gradient) as one product with ones."""
        np.dot(self._ones[:delta.shape[0]], delta, out=out)

    def update(self, scalars: dict) -> None:
        """The optimizer's step on this side's vector (scalars: the step's rates)."""
        for name, v in scalars.items():
            setattr(self.opt, name, v)
        self.opt._update(self.p, self.g, slice(None))


class _SideWorker:
    """A forked process that runs side 1 of every step.

    Side 1's weights, gradient and optimizer state live in memory mapped into both
    processes, and so do the exchange buffers ``P`` and a small control block; the
    worker's copy of the training data is the one it inherited at the fork. Per
    step the training process posts ``go``; the worker runs phase 1 and answers
    on ``done``; the training process, with its own phase 1 done, posts ``go``
    again; the worker runs phase 2 and the update and waits for the next step.
    Nothing else is awaited: the training process goes on with its own phase 2.
    The worker ignores Ctrl-C (the training process stops it), and it leaves by
    itself when the training process is gone.
    """

    def __init__(self, stepper: SplitStepper):
        ctx = multiprocessing.get_context("fork")
        self.stepper = stepper
        self.go, self.done = ctx.Semaphore(0), ctx.Semaphore(0)
        self.proc = ctx.Process(target=self._run, args=(os.getpid(),), daemon=True,
                                name="neurallab-step")
        with warnings.catch_warnings():
            # Python >= 3.12 warns on fork in a process with threads (BLAS, our pool):
            # locks held by them stay locked in the child. The child uses none of
            # them — only NumPy on its own arrays and two semaphores made for it.
            warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks",
                                    category=DeprecationWarning)
            self.proc.start()
        if not self.sync():
            self.close()
            raise OSError("the worker process did not answer")

    # ---- in the training process
    def post(self, cmd: int) -> None:
        ctrl = self.stepper.ctrl
        ctrl[_CMD] = cmd
        ctrl[_FAILED] = 0
        self.go.release()

    def result(self) -> bool:
        """Wait for the worker's answer; False if it failed or ended."""
        return _wait(self.done, self.proc.is_alive) and self.stepper.ctrl[_FAILED] == 0

    def sync(self) -> bool:
        """Wait until the worker has finished all it was given (a round trip)."""
        self.post(_SYNC)
        return self.result()

    def close(self, abort: bool = False) -> None:
        """Stop the worker and reap it (also after a failure or an interrupt).

        ``abort``: a step was left half-way; the worker may be waiting for the
        second ``go`` of it, and must leave instead of finishing the step.
        """
        if self.proc.is_alive():
            self.stepper.ctrl[_ABORT] = float(abort)
            self.stepper.ctrl[_CMD] = _STOP
            self.go.release()
            self.proc.join(timeout=5)
            if self.proc.is_alive():  # pragma: no cover - stuck: not expected
                self.proc.terminate()
                self.proc.join(timeout=5)
        else:
            self.proc.join(timeout=5)

    # ---- in the worker process
    def _run(self, parent: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the training process stops us
        st = self.stepper
        ctrl = st.ctrl
        alive = lambda: os.getppid() == parent  # noqa: E731
        while _wait(self.go, alive):
            cmd = int(ctrl[_CMD])
            if cmd == _STOP:
                return
            if cmd != _STEP:        # a round trip
                self.done.release()
                continue
            try:
                P = st._remote_phase1()
            except BaseException:   # reported to the training process; then leave
                ctrl[_FAILED] = 1
                self.done.release()
                return
            self.done.release()
            if not _wait(self.go, alive):
                return
            if ctrl[_ABORT]:        # the training process gave up half-way: leave
                return
            try:
                st._remote_phase2(P)
            except BaseException:
                ctrl[_FAILED] = 1   # seen at the next answer; the process has ended
                return


class SplitStepper:
    """A mini-batch step (forward, backward, update) computed by two sides at once.

    The network is cut in two along its first hidden layer (:class:`_Side`); the
    sides run one after the other, on two threads, or side 1 in a worker process
    (:class:`_SideWorker`) — the same operations in every mode, so the same
    numbers. Use :meth:`begin_epoch` (the sides take the network's weights and the
    optimizer's state), :meth:`step` per batch, and :meth:`end_epoch` (both go
    back to the network and the optimizer); :meth:`close` at the end.
    """

    def __init__(self, net, opt, loss: Loss, l2: float, normalize: bool,
                 rng: np.random.Generator | None, pool: Executor | None,
                 accuracy_count=None, processes: bool = False, batch_size: int = 0,
                 data: tuple[np.ndarray, np.ndarray] | None = None):
        if not can_split_model(net):
            raise ValueError("SplitStepper needs a hidden layer of two or more units")
        self.net, self.opt, self.loss = net, opt, loss
        #: the training set (inputs, targets) that ``step(rows=...)`` gathers from;
        #: fixed for the stepper's life (a worker reads the copy it forked with)
        self.data = data
        self.l2, self.normalize = l2, normalize
        self.pool = pool
        self.accuracy_count = accuracy_count
        self.chooser = ModeChooser() if pool is not None else None
        self._mode = INLINE
        self._steps = 0
        self.worker: _SideWorker | None = None
        self.rng_state: list[_PCG64State] | None = None
        self._rng_remote = False   # side 1's dropout streams are in the worker
        self._dirty = False        # the sides hold updates the network has not seen
        self._worker_busy = False  # the worker may still be running side 1's last step
        self._in_step = False      # a step was left half-way (an exception inside it)
        self._interrupt = False    # Ctrl-C came during a step: raised once it is done
        self._scalars = [k for k, v in vars(opt).items() if type(v) in (int, float, bool)]
        # dropout: an own stream per side, and a common one (same seed) for both
        streams = None
        if rng is not None:
            own0, own1, common = rng.integers(0, 2**63, size=3)
            streams = [(np.random.default_rng(own0), np.random.default_rng(common)),
                       (np.random.default_rng(own1), np.random.default_rng(common))]
        rows = max(int(batch_size), 1)
        small = rows * (net.n_inputs + net.n_outputs) * np.dtype(net.dtype).itemsize \
            <= PROCESS_MAX_BATCH_BYTES
        self._shared = bool(processes and pool is not None and data is not None and small
                            and process_mode_available()
                            and (rng is None or all(isinstance(g.bit_generator, np.random.PCG64)
                                                    for g in streams[1])))
        h = net.layer_sizes[1] // 2
        cols = (slice(0, h), slice(h, net.layer_sizes[1]))
        alloc1 = _shared_empty if self._shared else np.empty
        self.sides = [_Side(net, 0, cols[0], opt, loss, np.empty,
                            streams[0] if streams else (None, None)),
                      _Side(net, 1, cols[1], opt, loss, alloc1,
                            streams[1] if streams else (None, None))]
        # the exchange buffers P: pairs used in turn (a side may still read one step's
        # pair while the other writes the next), as many as fit in 1 MB, up to 16 —
        # for the reason given at PREFETCH_SLOTS
        n2 = net.layer_sizes[2]
        p_slots = max(2, min(16, (1 << 20) // (rows * n2 * np.dtype(net.dtype).itemsize)))
        self._n2 = n2
        self._P = [[alloc1((rows, n2), dtype=net.dtype) for _ in range(2)]
                   for _ in range(p_slots)] if small else []   # (large: made per step)
        self._cur = 0
        # the next batch, fetched during a step (PREFETCH_SLOTS buffers used in turn)
        self._XB = self._YB = None
        self._slots = 1
        if data is not None and small:
            row_bytes = net.n_inputs * data[0].dtype.itemsize \
                + net.n_outputs * data[1].dtype.itemsize
            low, high = PREFETCH_SLOTS
            self._slots = max(low, min(high, PREFETCH_BYTES // (rows * row_bytes)))
            slots = range(self._slots)
            self._XB = [alloc1((rows, net.n_inputs), dtype=data[0].dtype) for _ in slots]
            self._YB = [alloc1((rows, net.n_outputs), dtype=data[1].dtype) for _ in slots]
        self._slot = 0
        self._next: np.ndarray | None = None   # the rows now in buffer _slot
        if self._shared:
            self.I1 = _shared_empty(rows, np.intp)
            self.I1n = _shared_empty(rows, np.intp)
            self.ctrl = _shared_empty(_SCALARS + len(self._scalars), np.float64)
            if rng is not None:
                self.rng_state = [_PCG64State(), _PCG64State()]

    # ---- the epoch's frame
    def begin_epoch(self) -> None:
        """The sides take the network's weights and the optimizer's state."""
        self._sync_worker()
        for side in self.sides:
            side.load(self.opt)
        self._dirty = False

    def end_epoch(self) -> None:
        """The sides' weights and optimizer state back into the network and optimizer."""
        self._sync_worker()
        for side in self.sides:
            side.publish(self.opt)
        self._dirty = False

    def _sync_worker(self) -> None:
        """Wait until the worker has finished its last step (side 1 is free)."""
        if self._worker_busy:
            self._worker_busy = False
            if not self.worker.sync():
                self._worker_failed()

    def _worker_failed(self):
        self._dirty = False   # side 1 may be half-updated: nothing to publish
        raise RuntimeError(
            "the training worker process failed or ended unexpectedly; train again "
            "(set NEURALLAB_STEP_PROCESS=0 to train without it)")

    def _rng_handover(self, side: _Side, how: str) -> None:
        """Side 1's two dropout streams into (``"save"``) or out of (``"load"``) the
        shared memory through which they move between the processes."""
        for state, rng in zip(self.rng_state, (side.rng_own, side.rng_common), strict=True):
            getattr(state, how)(rng)

    def _step_l2(self, m: int) -> float:
        """λ for the gradient of a step of ``m`` rows (see :func:`step_l2`)."""
        n = m if self.data is None else self.data[0].shape[0]
        return step_l2(self.l2, self.normalize, m, n)

    # ---- in the worker process
    def _remote_phase1(self) -> np.ndarray:
        ctrl, side = self.ctrl, self.sides[1]
        if ctrl[_LOAD_RNG]:
            self._rng_handover(side, "load")
        rows, source, slot = int(ctrl[_ROWS]), int(ctrl[_SOURCE]), int(ctrl[_SLOT])
        P = self._P[int(ctrl[_PARITY])]
        if source == _GATHER:
            side.gather(self.data, self.I1[:rows])
        elif source == _PREFETCHED:
            side.batch = (self._XB[slot][:rows], self._YB[slot][:rows])
        else:
            side.batch = self.data
        side._norm = ctrl[_NORM]
        side.set_rows(rows)
        # everything phase 2 needs from the control block is read now: once this
        # phase is answered, the training process may post the next step's values
        self._rates = {k: type(getattr(self.opt, k))(ctrl[_SCALARS + i])
                       for i, k in enumerate(self._scalars)}
        ctrl[_SQ] = side.phase1(P[1][:rows], self.l2)
        n_next = int(ctrl[_NEXT])
        if n_next:
            nslot = (slot + 1) % self._slots
            side.prefetch(self.data, self.I1n[:n_next], self._XB[nslot][:n_next],
                          self._YB[nslot][:n_next])
        return P

    def _remote_phase2(self, P) -> None:
        side = self.sides[1]
        rows = side.batch[0].shape[0]
        side.phase2(P[0][:rows], P[1][:rows], self.loss, self._step_l2(rows), self.normalize,
                    None)
        side.update(self._rates)
        if side.rng_own is not None:
            self._rng_handover(side, "save")

    # ---- in the training process
    def _fetch_rng(self) -> None:
        """Side 1's dropout streams back from the worker (mode change)."""
        if self._rng_remote:
            side = self.sides[1]
            self._rng_handover(side, "load")
            self._rng_remote = False

    def _start_worker(self) -> bool:
        try:
            self.worker = _SideWorker(self)
        except (OSError, RuntimeError, ValueError):
            self.worker = None
            self._shared = False   # cannot start here: threads and inline remain
            return False
        return True

    def step(self, X: np.ndarray | None = None, Y: np.ndarray | None = None,
             rows: np.ndarray | None = None,
             next_rows: np.ndarray | None = None) -> tuple[float, int, float]:
        """Forward, backward and update for one batch; returns (data cost, correct
        count, penalty) — the cost and penalty at the weights before the update.

        The batch is ``rows`` of the training set ``data``, or the whole training
        set (``X``, ``Y`` = ``data``), or any ``X``, ``Y`` (then never in the worker
        process). ``next_rows``, when known, are the next step's ``rows``: the
        sides fetch them during this step. The data cost is the batch's summed
        loss, divided by its rows when ``normalize``.
        """
        t0 = time.perf_counter()
        if self._shared and self.worker is None and self._steps == PROCESS_START_STEP \
                and self._start_worker():
            self.chooser.add_mode(PROCESS)
        self._steps += 1
        mode = self.chooser.next_mode() if self.chooser else INLINE
        whole = rows is None and self.data is not None and X is self.data[0] \
            and Y is self.data[1]
        if mode == PROCESS and (self.worker is None or not (rows is not None or whole)
                                or (rows is not None and rows.size > self.I1.size)):
            mode = THREADS if self.pool is not None else INLINE
        self._mode = mode
        m = rows.size if rows is not None else X.shape[0]
        if self._P and m <= self._P[0][0].shape[0]:
            P = [buf[:m] for buf in self._P[self._cur]]
        else:   # a large batch (never in the worker process)
            P = [np.empty((m, self._n2), dtype=self.net.dtype) for _ in "01"]
        # where the batch comes from, and whether to fetch the next one meanwhile
        slot, nslot = self._slot, (self._slot + 1) % self._slots
        if rows is None:
            source = _WHOLE
        elif self._next is not None and self._next.size == m \
                and np.array_equal(self._next, rows):
            source = _PREFETCHED
        else:
            source = _GATHER
        if not (rows is not None and next_rows is not None and self._XB is not None
                and 2 <= next_rows.size <= self._XB[0].shape[0]):
            next_rows = None
        # the step's rates (learning rate, step count): computed once, used by both
        self.opt._begin_step(self.net.params)
        scalars = {k: getattr(self.opt, k) for k in self._scalars}
        s0, s1 = self.sides
        for side in self.sides:
            side._norm = m
            side.set_rows(m)
        batch = (X, Y) if source == _WHOLE else \
            (self._XB[slot][:m], self._YB[slot][:m]) if source == _PREFETCHED else None
        if batch is None:
            s0.gather(self.data, rows)
        else:
            s0.batch = batch

        def prefetch(side):
            if next_rows is not None:
                n = next_rows.size
                side.prefetch(self.data, next_rows, self._XB[nslot][:n], self._YB[nslot][:n])

        args = (self.loss, self._step_l2(m), self.normalize)
        self._dirty = True
        self._in_step = True   # until both sides have made their update
        if mode == PROCESS:
            ctrl = self.ctrl
            ctrl[_ROWS], ctrl[_PARITY], ctrl[_NORM] = m, self._cur, m
            ctrl[_SOURCE], ctrl[_SLOT] = source, slot
            if source == _GATHER:
                self.I1[:m] = rows
            ctrl[_NEXT] = 0 if next_rows is None else next_rows.size
            if next_rows is not None:
                self.I1n[:next_rows.size] = next_rows
            for i, k in enumerate(self._scalars):
                ctrl[_SCALARS + i] = scalars[k]
            ctrl[_LOAD_RNG] = 0
            if self.rng_state is not None and not self._rng_remote:
                self._rng_handover(s1, "save")
                ctrl[_LOAD_RNG] = 1
                self._rng_remote = True
            self.worker.post(_STEP)
            sq = s0.phase1(P[0], self.l2)
            prefetch(s0)
            if not self.worker.result():
                self._worker_failed()
            sq += ctrl[_SQ]
            self.worker.go.release()           # our P (and half the next batch) is ready
            self._worker_busy = True
            value, correct = s0.phase2(P[0], P[1], *args, self.accuracy_count)
            s0.update(scalars)
        else:
            self._sync_worker()   # side 1 is ours this step
            self._fetch_rng()
            if batch is None:
                s1.gather(self.data, rows)
            else:
                s1.batch = batch
            if mode == THREADS:
                value, correct, sq = self._threaded(P, args, scalars, prefetch)
            else:
                sq = s0.phase1(P[0], self.l2) + s1.phase1(P[1], self.l2)
                prefetch(s0)
                prefetch(s1)
                value, correct = s0.phase2(P[0], P[1], *args, self.accuracy_count)
                s0.update(scalars)
                s1.phase2(P[0], P[1], *args, None)
                s1.update(scalars)
        self._in_step = False
        self._cur = (self._cur + 1) % max(len(self._P), 1)
        if next_rows is not None:
            self._next, self._slot = next_rows.copy(), nslot
        else:
            self._next = None
        if self.chooser:
            self.chooser.record(mode, time.perf_counter() - t0)
        self._check_interrupt()   # a Ctrl-C that came during the step
        if self.normalize:
            value /= m
        return value, correct, 0.5 * self.l2 * sq if self.l2 else 0.0

    def _threaded(self, P, args, scalars, prefetch):
        s0, s1 = self.sides
        meet = threading.Barrier(2)
        sq1 = [0.0]

        def second():
            try:
                sq1[0] = s1.phase1(P[1], self.l2)
                prefetch(s1)
                meet.wait()
            except BaseException:
                meet.abort()
                raise
            s1.phase2(P[0], P[1], *args, None)
            s1.update(scalars)

        future = self.pool.submit(second)
        try:
            sq = s0.phase1(P[0], self.l2)
            prefetch(s0)
            meet.wait()
        except threading.BrokenBarrierError:
            future.result()   # raises the second side's error
            raise
        except BaseException:
            meet.abort()
            raise
        value, correct = s0.phase2(P[0], P[1], *args, self.accuracy_count)
        s0.update(scalars)
        future.result()
        return value, correct, sq + sq1[0]

    def close(self, publish: bool = True) -> None:
        """Stop the worker; with ``publish``, updates not yet in the network go there
        (not when a step was left half-way: the sides may then disagree, and the
        network keeps the weights its epoch started from)."""
        try:
            if publish and self._dirty and not self._in_step:
                self.end_epoch()
        finally:
            if self.worker is not None:
                self.worker.close(abort=self._in_step)
                self.worker = None

    # ---- Ctrl-C between steps, not inside one
    def _on_sigint(self, signum, frame) -> None:
        if self._interrupt:   # a second Ctrl-C: at once
            raise KeyboardInterrupt
        self._interrupt = True
        if not self._in_step:
            self._interrupt = False
            raise KeyboardInterrupt

    def _check_interrupt(self) -> None:
        if self._interrupt:
            self._interrupt = False
            raise KeyboardInterrupt


@contextmanager
def split_stepper(net, opt, loss: Loss, l2: float, normalize: bool, rng, batch_size: int,
                  accuracy_count=None, data: tuple[np.ndarray, np.ndarray] | None = None):
    """A :class:`SplitStepper` for this training run, or ``None`` when not worth it.

    Inside the block BLAS is single-threaded (also when steps are not split: a
    mini-batch's products are too small to share out) and, with two or more cores,
    one worker thread — and, after :data:`PROCESS_START_STEP` steps, one worker
    process — may run side 1 of each step; all end with the block. Between
    ``begin_epoch()`` and ``end_epoch()`` the network's ``params`` are those of
    the epoch's start. Leaving the block by an exception other than Ctrl-C
    publishes nothing.
    """
    split = should_split(batch_size, net.n_params) and can_split_model(net)
    with ExitStack() as stack:
        if batch_size * net.n_params >= ONE_THREAD_MIN_WORK:
            stack.enter_context(single_threaded_blas())
        if not split:
            yield None
            return
        pool = None
        if usable_cores() >= 2:
            pool = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurallab-step"))
        processes = os.environ.get("NEURALLAB_STEP_PROCESS", "1") != "0"
        stepper = SplitStepper(net, opt, loss, l2, normalize, rng, pool, accuracy_count,
                               processes=processes, batch_size=batch_size, data=data)
        # Ctrl-C during a step takes effect when the step is done (both sides updated,
        # the worker process at rest); a second Ctrl-C at once
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, stepper._on_sigint)
            stack.callback(signal.signal, signal.SIGINT, signal.default_int_handler)
        publish = True
        try:
            yield stepper
        except KeyboardInterrupt:
            raise
        except BaseException:
            publish = False
            raise
        finally:
            stepper.close(publish=publish)
