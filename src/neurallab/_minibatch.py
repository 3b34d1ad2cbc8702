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
"""

from __future__ import annotations

import os
import time
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
    """Run steps inline or on two threads, whichever is measured faster.

    Probes ``probe`` steps in each mode (alternating, after one warm-up step), keeps
    the mode with the lower median step time for ``exploit`` steps, then probes again.
    """

    def __init__(self, probe: int = 4, exploit: int = 256):
        self.probe, self.exploit = probe, exploit
        self._step = 0
        self._times: dict[bool, list[float]] = {False: [], True: []}
        self.parallel = False

    def next_mode(self) -> bool:
        """True: run the next step on two threads."""
        cycle = 2 * self.probe + 1 + self.exploit
        k = self._step % cycle
        if k == 0:
            self._times = {False: [], True: []}
        if k <= 2 * self.probe:  # warm-up, then alternate
            self.parallel = bool(k % 2)
        elif k == 2 * self.probe + 1:
            self.parallel = bool(np.median(self._times[True]) < np.median(self._times[False]))
        return self.parallel

    def record(self, parallel: bool, seconds: float) -> None:
        k = self._step % (2 * self.probe + 1 + self.exploit)
        if 1 <= k <= 2 * self.probe:
            self._times[parallel].append(seconds)
        self._step += 1


class SplitStepper:
    """Gradient and optimizer update of one mini-batch, computed as two halves.

    Use :meth:`compute` (forward and backward; returns the data cost and the
    number of correct predictions), check the cost, then :meth:`apply` (the
    optimizer's update). Buffers for the two partial gradients are allocated
    once and reused for every batch.
    """

    def __init__(self, net, opt, loss: Loss, l2: float, normalize: bool,
                 rng: np.random.Generator | None, pool: Executor | None,
                 accuracy_count=None):
        self.net, self.opt, self.loss = net, opt, loss
        self.l2, self.normalize = l2, normalize
        self.pool = pool
        self.accuracy_count = accuracy_count
        # one dropout stream per half, derived from the training seed
        self.rngs = [None, None] if rng is None else \
            [np.random.default_rng(s) for s in rng.integers(0, 2**63, size=2)]
        self.grads = [np.empty(net.n_params, dtype=net.dtype) for _ in range(2)]
        half = net.n_params // 2
        self.parts = (slice(0, half), slice(half, net.n_params))
        self.chooser = ModeChooser() if pool is not None else None
        self._parallel = False
        self._t0 = 0.0

    def _half(self, k: int, X: np.ndarray, Y: np.ndarray, m: int):
        net = self.net
        cache = net._forward(X, self.rngs[k])
        value = self.loss.value(Y, cache.yhat, cache.z[-1], net.output_activation)
        # the penalty's gradient λ·W is added once, by the first half
        net._backward(cache, Y, self.loss, self.l2 if k == 0 else 0.0, self.normalize,
                      out=self.grads[k], n_norm=m)
        correct = self.accuracy_count(cache.yhat, Y) if self.accuracy_count else 0
        return value, correct

    def compute(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, int]:
        """Forward and backward on both halves; returns (data cost, correct count).

        The data cost is the batch's summed loss, divided by its rows when
        ``normalize`` — the same number the unsplit step computes.
        """
        self._t0 = time.perf_counter()
        self._parallel = self.chooser.next_mode() if self.chooser else False
        m = X.shape[0]
        h = m // 2
        if self._parallel:
            future = self.pool.submit(self._half, 1, X[h:], Y[h:], m)
            v0, c0 = self._half(0, X[:h], Y[:h], m)
            v1, c1 = future.result()
        else:
            v0, c0 = self._half(0, X[:h], Y[:h], m)
            v1, c1 = self._half(1, X[h:], Y[h:], m)
        value = v0 + v1
        return (value / m if self.normalize else value), c0 + c1

    def _apply_part(self, part: slice) -> None:
        g0, g1 = self.grads
        np.add(g0[part], g1[part], out=g0[part])
        self.opt._update(self.net.params, g0, part)

    def apply(self) -> None:
        """The optimizer's step with the summed gradient, on two threads or one."""
        self.opt._begin_step(self.net.params)
        if self._parallel:
            future = self.pool.submit(self._apply_part, self.parts[1])
            self._apply_part(self.parts[0])
            future.result()
        else:
            self._apply_part(self.parts[0])
            self._apply_part(self.parts[1])
        if self.chooser:
            self.chooser.record(self._parallel, time.perf_counter() - self._t0)


@contextmanager
def split_stepper(net, opt, loss: Loss, l2: float, normalize: bool, rng, batch_size: int,
                  accuracy_count=None):
    """A :class:`SplitStepper` for this training run, or ``None`` when not worth it.

    Inside the block BLAS is single-threaded (also when steps are not split: a
    mini-batch's products are too small to share out) and, with two or more cores,
    one worker thread takes the second half of each step; both end with the block.
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
        yield SplitStepper(net, opt, loss, l2, normalize, rng, pool, accuracy_count)
