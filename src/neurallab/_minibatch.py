"""One mini-batch step on two cores: a batch's gradient is the sum of its halves'.

For a loss summed (or averaged) over samples, with ``m`` rows split as A + B::

    ∇J(batch) = Σ_A ∇Jᵢ / m + Σ_B ∇Jᵢ / m  (+ λ·W once)

so the two halves can be propagated forward and backward at the same time, and the
optimizer's element-wise update can then run on the two halves of the parameter
vector at the same time. NumPy releases the GIL inside matrix products and large
element-wise loops, so two Python threads do run on two cores.

Why not let BLAS spread each matrix product over both cores instead? A mini-batch
step is about eight *small* products (128×784 by 784×256 and smaller). A
multi-threaded BLAS wakes and synchronises its threads inside every one of them,
and when the other core is busy — another process, a web server — each product
waits for a thread that is not running: on a loaded two-core machine such a step
took 5–10× longer than with one BLAS thread. Here BLAS runs one thread per call,
and a step synchronises only twice, on threads that block instead of spin.

Timing never changes the numbers. A batch is always split the same way (from its
size alone), whether the halves then run concurrently or one after the other;
:class:`ModeChooser` picks whichever of the two is faster *right now* (it re-times
both every few hundred steps, as the machine's load changes), and that choice
affects only the speed. The same seed gives the same weights, bit for bit, on a
quiet machine, a busy one, or a single core.

A third mode runs the second half in a *worker process* (:class:`_HalfWorker`). Two
threads share one interpreter lock, and a step is some forty NumPy calls, each of
which takes and hands back that lock: on two cores the threads wait for each other
at every call (measured: 1.45 ms per 784-256-128-10 step of 128 rows on two threads,
2.1 ms inline). A forked process has a lock of its own; it shares the parameters,
the optimizer's state, the gradient halves and its half of the batch with the
training process through memory mapped into both, and the two meet only twice per
step, on a pair of semaphores (about 1.1 ms per step). The worker starts only after
:data:`PROCESS_START_STEP` steps, so that short runs pay nothing for it, and only
where ``fork`` exists; the same split and the same arithmetic run in it, so the
numbers are again the same bit for bit, and the step-timer decides between all
three modes.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import signal
import time
import warnings
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import numpy as np

from .losses import Loss

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
#: ... and only for batches whose second half (inputs and targets) fits in this many
#: bytes: it is copied to the worker every step, and large batches keep each NumPy
#: call long enough for two threads to share the interpreter lock well
PROCESS_MAX_HALF_BYTES = 16 << 20
#: the mode names a step can run in (``ModeChooser`` for mini-batches)
INLINE, THREADS, PROCESS = False, True, "process"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
    then probes again. :meth:`add_mode` adds a mode and starts a new probe.
    """

    def __init__(self, probe: int = 4, exploit: int = 256, modes: tuple = (False, True)):
        self.probe, self.exploit = probe, exploit
        self.modes = tuple(modes)
        self._step = 0
        self._times: dict = {mode: [] for mode in self.modes}
        self.parallel = self.modes[0]

    def add_mode(self, mode) -> None:
        """Take ``mode`` into the choice; the next step begins a new probe."""
        if mode not in self.modes:
            self.modes = (*self.modes, mode)
        self._step = 0

    def _cycle(self) -> int:
        return len(self.modes) * self.probe + 1 + self.exploit

    def next_mode(self):
        """The mode of the next step (``True``: two threads, for the default modes)."""
        k = self._step % self._cycle()
        last_probe = len(self.modes) * self.probe
        if k == 0:
            self._times = {mode: [] for mode in self.modes}
        if k <= last_probe:  # warm-up, then round robin
            self.parallel = self.modes[k % len(self.modes)]
        elif k == last_probe + 1:  # the fastest; the first listed on a tie
            self.parallel = min(self.modes, key=lambda mode: np.median(self._times[mode]))
        return self.parallel

    def record(self, mode, seconds: float) -> None:
        k = self._step % self._cycle()
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


_STOP, _COMPUTE, _APPLY = 0, 1, 2
#: the control block's slot for the step parity (which parameter buffer is current)
_PARITY = 8
#: where the optimizer's scalars begin in the control block
_SCALARS = 9


class _HalfWorker:
    """A forked process that computes the second half of every step.

    Shares with the training process (all created by :class:`SplitStepper` before
    the fork): the parameters, the optimizer's state, both gradient halves, the
    second half of the batch and a small control block. Per step the training
    process posts ``go`` twice — compute the half's gradient, then apply the
    optimizer to the second half of the parameter vector — and waits for ``done``
    after each. The worker ignores Ctrl-C (the training process stops it), and it
    leaves by itself when the training process is gone.
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
        self.post(-1)   # a first round trip, no work: it runs and answers
        if not self.result():
            self.close()
            raise OSError("the worker process did not answer")

    # ---- in the training process
    def post(self, cmd: int) -> None:
        self.stepper.ctrl[0] = cmd
        self.stepper.ctrl[1] = 0
        self.go.release()

    def result(self) -> bool:
        """Wait for the posted command; False if the worker failed or ended."""
        return _wait(self.done, self.proc.is_alive) and self.stepper.ctrl[1] == 0

    def close(self) -> None:
        """Stop the worker and reap it (also after a failure or an interrupt)."""
        if self.proc.is_alive():
            self.stepper.ctrl[0] = _STOP
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
        alive = lambda: os.getppid() == parent  # noqa: E731
        while _wait(self.go, alive):
            cmd = int(st.ctrl[0])
            if cmd == _STOP:
                return
            try:
                if cmd == _COMPUTE:
                    st._remote_compute()
                elif cmd == _APPLY:
                    st._remote_apply()
                st.ctrl[1] = 0
            except BaseException:  # the training process reports it
                st.ctrl[1] = 1
            self.done.release()


class SplitStepper:
    """Gradient and optimizer update of one mini-batch, computed as two halves.

    Use :meth:`compute` (forward and backward; returns the data cost and the
    number of correct predictions), check the cost, then :meth:`apply` (the
    optimizer's update). Buffers for the two partial gradients are allocated
    once and reused for every batch.

    With ``processes=True`` (needs ``pool``) the parameters, the optimizer's state
    and the gradients are moved into shared memory for the run (``net.params`` and
    the optimizer's arrays are rebound to it; :meth:`close` moves them back), and a
    worker process may take the second half (:class:`_HalfWorker`).
    """

    def __init__(self, net, opt, loss: Loss, l2: float, normalize: bool,
                 rng: np.random.Generator | None, pool: Executor | None,
                 accuracy_count=None, processes: bool = False, batch_size: int = 0,
                 data: tuple[np.ndarray, np.ndarray] | None = None):
        self.net, self.opt, self.loss = net, opt, loss
        #: the training set (inputs, targets) that ``compute(..., rows=)`` gathers from;
        #: a worker process forked later reads its own (copy-on-write) view of it
        self.data = data
        self.l2, self.normalize = l2, normalize
        self.pool = pool
        self.accuracy_count = accuracy_count
        # one dropout stream per half, derived from the training seed
        self.rngs = [None, None] if rng is None else \
            [np.random.default_rng(s) for s in rng.integers(0, 2**63, size=2)]
        half = net.n_params // 2
        self.parts = (slice(0, half), slice(half, net.n_params))
        self.chooser = ModeChooser() if pool is not None else None
        self._mode = INLINE
        self._t0 = 0.0
        self._steps = 0
        self.worker: _HalfWorker | None = None
        self.rng_state: _PCG64State | None = None
        self._rng_remote = False   # the second half's dropout stream is in the worker
        rows = batch_size - batch_size // 2
        half_bytes = rows * (net.n_inputs + net.n_outputs) * np.dtype(net.dtype).itemsize
        self._shared = bool(processes and pool is not None and batch_size >= 2
                            and half_bytes <= PROCESS_MAX_HALF_BYTES
                            and process_mode_available()
                            and (rng is None
                                 or isinstance(self.rngs[1].bit_generator, np.random.PCG64)))
        #: each half's batch rows, gathered from ``data`` (allocated when first needed)
        self._bufs: list = [None, None]
        n, dt = net.n_params, net.dtype
        alloc = _shared_empty if self._shared else np.empty
        # Two parameter vectors and two pairs of gradient halves, used in turn: step t
        # reads parameters from one vector and writes the updated ones into the other.
        # Why: both cores read all the weights, each writes half of them. Writing a
        # cache line that the other core has just read makes that core drop its copy
        # first — measured: an Adam update of 117,000 weights the other core had
        # read took 140 µs instead of 36. A line of the other vector was last read
        # a whole step ago, and has mostly left the other core's cache since. The
        # numbers are the same (the same operations, only the output goes elsewhere).
        self._gbufs = [[alloc(n, dtype=dt) for _ in range(2)] for _ in range(2)]
        self._own_params = net.params
        first = net.params
        if self._shared:   # the run's arrays move into shared memory (close() moves back)
            first = _shared_empty(n, dt)
            first[...] = net.params
        self._pbufs = [first, alloc(n, dtype=dt)]
        self._cur = -1
        self._set_parity(0)
        if not self._shared:
            return
        self.X1 = _shared_empty((rows, net.n_inputs), net.dtype)
        self.Y1 = _shared_empty((rows, net.n_outputs), net.dtype)
        #: the second half's row numbers in the training data (the worker gathers them)
        self.I1 = _shared_empty(rows, np.intp)
        self._bufs[1] = (self.X1, self.Y1)
        #: [command, failed, rows of the second half, of the first, load the dropout
        #: state, cost, correct count, gather the rows itself, the optimizer's
        #: scalars (step count, rates)...]
        self._scalars = [k for k, v in vars(opt).items() if type(v) in (int, float, bool)]
        self.ctrl = _shared_empty(_SCALARS + len(self._scalars), np.float64)
        self.rng_state = _PCG64State() if rng is not None else None
        self._opt_arrays = {}
        for k, v in vars(opt).items():
            if isinstance(v, np.ndarray) and v.shape == (net.n_params,):
                a = _shared_empty(v.shape, v.dtype)
                a[...] = v
                setattr(opt, k, a)
                self._opt_arrays[k] = a

    @property
    def grads(self) -> list[np.ndarray]:
        """This step's two gradient halves (flat vectors like ``params``)."""
        return self._gbufs[self._cur]

    def _set_parity(self, cur: int) -> None:
        """Make parameter vector ``cur`` the network's (its ``W``, ``b`` views)."""
        if cur != self._cur:
            self._cur = cur
            net = self.net
            net.params = self._pbufs[cur]
            net.W, net.b = net._views(net.params)

    # ---- one half
    def _gather(self, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Half ``k``'s batch: ``data``'s ``rows`` copied into that half's buffers."""
        X, Y = self.data
        r = rows.size
        if self._bufs[k] is None or self._bufs[k][0].shape[0] < r:
            self._bufs[k] = (np.empty((r, X.shape[1]), dtype=X.dtype),
                             np.empty((r, Y.shape[1]), dtype=Y.dtype))
        bx, by = self._bufs[k]
        return (np.take(X, rows, axis=0, out=bx[:r]), np.take(Y, rows, axis=0, out=by[:r]))

    def _half(self, k: int, X: np.ndarray | None, Y: np.ndarray | None, m: int,
              rows: np.ndarray | None = None):
        if rows is not None:
            X, Y = self._gather(k, rows)
        net = self.net
        cache = net._forward(X, self.rngs[k])
        value = self.loss.value(Y, cache.yhat, cache.z[-1], net.output_activation)
        # the penalty's gradient λ·W is added once, by the first half
        net._backward(cache, Y, self.loss, self.l2 if k == 0 else 0.0, self.normalize,
                      out=self.grads[k], n_norm=m)
        correct = self.accuracy_count(cache.yhat, Y) if self.accuracy_count else 0
        return value, correct

    def _remote_compute(self) -> None:
        """In the worker: the second half of the batch now in ``X1``/``Y1``."""
        ctrl = self.ctrl
        self._set_parity(int(ctrl[_PARITY]))
        rows, h = int(ctrl[2]), int(ctrl[3])
        if ctrl[4]:
            self.rng_state.load(self.rngs[1])
        if ctrl[7]:   # gather the rows from the training data inherited at the fork
            ctrl[5], ctrl[6] = self._half(1, None, None, h + rows, rows=self.I1[:rows])
        else:
            ctrl[5], ctrl[6] = self._half(1, self.X1[:rows], self.Y1[:rows], h + rows)
        if self.rngs[1] is not None:
            self.rng_state.save(self.rngs[1])

    def _remote_apply(self) -> None:
        """In the worker: the optimizer's step on the second part of the parameters."""
        for i, k in enumerate(self._scalars):
            setattr(self.opt, k, type(getattr(self.opt, k))(self.ctrl[_SCALARS + i]))
        self._set_parity(int(self.ctrl[_PARITY]))
        self._apply_part(self.parts[1])

    def _fetch_rng(self) -> None:
        """The second half's dropout stream back from the worker (mode change)."""
        if self._rng_remote:
            self.rng_state.load(self.rngs[1])
            self._rng_remote = False

    def _start_worker(self) -> bool:
        try:
            self.worker = _HalfWorker(self)
        except (OSError, RuntimeError, ValueError):
            self.worker = None
            self._shared = False   # cannot start here: threads and inline remain
            return False
        return True

    # ---- a step
    def compute(self, X: np.ndarray | None, Y: np.ndarray | None,
                rows: np.ndarray | None = None) -> tuple[float, int]:
        """Forward and backward on both halves; returns (data cost, correct count).

        The batch is ``X``, ``Y``; or, with ``rows`` (and ``X = Y = None``), the
        rows of the training set given as ``data``: each half then copies its own
        rows into its own buffer — on its own core, the worker process included.
        The data cost is the batch's summed loss, divided by its rows when
        ``normalize`` — the same number the unsplit step computes.
        """
        self._t0 = time.perf_counter()
        if self._shared and self.worker is None and self._steps == PROCESS_START_STEP \
                and self._start_worker():
            self.chooser.add_mode(PROCESS)
        self._steps += 1
        mode = self.chooser.next_mode() if self.chooser else INLINE
        if mode == PROCESS and self.worker is None and not (
                self._shared and self._start_worker()):
            mode = THREADS
        if rows is not None:
            X = Y = None
            m = rows.size
        else:
            m = X.shape[0]
        h = m // 2
        if mode == PROCESS and not (m - h <= self.X1.shape[0] and (rows is not None or (
                X.dtype == self.X1.dtype and Y.shape[1:] == self.Y1.shape[1:]
                and Y.dtype == self.Y1.dtype))):
            mode = THREADS   # not the shapes it was made for (not expected)
        self._mode = mode
        if rows is not None:
            first, second = (None, None, m, rows[:h]), (None, None, m, rows[h:])
        else:
            first, second = (X[:h], Y[:h], m), (X[h:], Y[h:], m)
        if mode == PROCESS:
            collect = self._post_compute(second, h)
            v0, c0 = self._half(0, *first)
            v1, c1 = collect()
        else:
            self._fetch_rng()
            if mode == THREADS:
                future = self.pool.submit(self._half, 1, *second)
                v0, c0 = self._half(0, *first)
                v1, c1 = future.result()
            else:
                v0, c0 = self._half(0, *first)
                v1, c1 = self._half(1, *second)
        value = v0 + v1
        return (value / m if self.normalize else value), c0 + c1

    def _post_compute(self, second: tuple, h: int):
        """Hand the second half to the worker; returns the call that collects it.

        ``second``: ``(X, Y, m)`` — the half's rows are copied into shared memory —
        or ``(None, None, m, rows)``: only the row numbers are, and the worker
        gathers the rows from its own view of ``data``.
        """
        ctrl = self.ctrl
        if len(second) == 4:
            rows = second[3].size
            self.I1[:rows] = second[3]
            ctrl[7] = 1.0
        else:
            X1, Y1 = second[0], second[1]
            rows = X1.shape[0]
            self.X1[:rows] = X1
            self.Y1[:rows] = Y1
            ctrl[7] = 0.0
        ctrl[2], ctrl[3], ctrl[4] = rows, h, 0.0
        ctrl[_PARITY] = self._cur
        if self.rng_state is not None and not self._rng_remote:
            self.rng_state.save(self.rngs[1])
            ctrl[4] = 1.0
            self._rng_remote = True
        self.worker.post(_COMPUTE)

        def collect():
            if not self.worker.result():
                raise RuntimeError(
                    "the training worker process failed or ended unexpectedly; train "
                    "again (set NEURALLAB_STEP_PROCESS=0 to train without it)")
            c = float(ctrl[6])
            return float(ctrl[5]), (int(c) if c.is_integer() else c)
        return collect

    def _apply_part(self, part: slice) -> None:
        """The update of ``params[part]``, written into the other parameter vector."""
        g0, g1 = self.grads
        self.opt._update_sum(self.net.params, g0, g1, part, out=self._pbufs[1 - self._cur])

    def apply(self) -> None:
        """The optimizer's step with the summed gradient, on two cores or one."""
        self.opt._begin_step(self.net.params)
        if self._mode == PROCESS:
            for i, k in enumerate(self._scalars):
                self.ctrl[_SCALARS + i] = getattr(self.opt, k)
            self.ctrl[_PARITY] = self._cur
            self.worker.post(_APPLY)
            self._apply_part(self.parts[0])
            if not self.worker.result():
                raise RuntimeError(
                    "the training worker process failed or ended unexpectedly during an "
                    "update; train again (set NEURALLAB_STEP_PROCESS=0 to train without it)")
        elif self._mode == THREADS:
            future = self.pool.submit(self._apply_part, self.parts[1])
            self._apply_part(self.parts[0])
            future.result()
        else:
            self._apply_part(self.parts[0])
            self._apply_part(self.parts[1])
        self._set_parity(1 - self._cur)   # the updated weights are now the network's
        if self.chooser:
            self.chooser.record(self._mode, time.perf_counter() - self._t0)

    def close(self) -> None:
        """Stop the worker; the parameters and optimizer state back in private memory."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        if not hasattr(self, "_own_params"):
            return
        if self.rng_state is not None:
            self._fetch_rng()
        net = self.net
        if net.params is not self._own_params:
            self._own_params[...] = net.params
            net.params = self._own_params
            net.W, net.b = net._views(net.params)
        for k, a in getattr(self, "_opt_arrays", {}).items():
            if getattr(self.opt, k) is a:
                setattr(self.opt, k, a.copy())
        del self._own_params


@contextmanager
def split_stepper(net, opt, loss: Loss, l2: float, normalize: bool, rng, batch_size: int,
                  accuracy_count=None, data: tuple[np.ndarray, np.ndarray] | None = None):
    """A :class:`SplitStepper` for this training run, or ``None`` when not worth it.

    Inside the block BLAS is single-threaded (also when steps are not split: a
    mini-batch's products are too small to share out) and, with two or more cores,
    one worker thread — and, after :data:`PROCESS_START_STEP` steps, one worker
    process — may take the second half of each step; all end with the block.
    ``net.params`` may be a different (shared) array inside the block: read it
    after entering.
    """
    split = should_split(batch_size, net.n_params)
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
        try:
            yield stepper
        finally:
            stepper.close()
