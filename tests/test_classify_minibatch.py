"""The two-core mini-batch step: same gradient as one pass, same weights in any mode."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal

import numpy as np
import pytest

import neurallab as nl
from neurallab import _minibatch as mb
from neurallab.losses import get_loss


def _data(n=96, d=40, k=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, k, size=n)
    return X, y


def _onehot(y, k, dtype):
    Y = np.zeros((y.size, k), dtype=dtype)
    Y[np.arange(y.size), y] = 1
    return Y


def _one_step(net, X, Y, loss, l2, normalize, opt, accuracy_count=None):
    """One SplitStepper step on (X, Y); returns (data cost, correct, penalty)."""
    opt.reset(net.n_params, net.dtype)
    step = mb.SplitStepper(net, opt, get_loss(loss), l2, normalize, None, None,
                           accuracy_count)
    step.begin_epoch()
    out = step.step(X, Y)
    step.end_epoch()
    step.close()
    return out


NETWORKS = {
    "relu-softmax": dict(layer_sizes=[40, 16, 5], activation="relu",
                         output_activation="softmax"),
    "deep-tanh": dict(layer_sizes=[40, 9, 7, 6, 5], activation="tanh",
                      output_activation="softmax"),
    "sigmoid-no-bias": dict(layer_sizes=[40, 6, 5], activation="sigmoid",
                            output_activation="sigmoid", bias=False),
}


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("kind", list(NETWORKS))
def test_the_two_sides_make_the_step_of_the_whole_network(kind, normalize, l2):
    """Cut along the first hidden layer, the two sides' step is gradient descent on
    the whole network: the same cost, penalty and update as one piece."""
    X, y = _data()
    net = nl.Network(**NETWORKS[kind], seed=1)
    loss = "binary_crossentropy" if kind == "sigmoid-no-bias" else "categorical_crossentropy"
    Y = _onehot(y, 5, np.float64)
    J, g = net.loss_and_grad(X, Y, loss=loss, l2=l2, normalize=normalize)
    before = net.get_params()
    data, _, pen = _one_step(net, X, Y, loss, l2, normalize, nl.optim.SGD(lr=0.1))
    # the penalty at the weights before the step
    assert pen == pytest.approx(nl.Network(**NETWORKS[kind], seed=1).penalty(l2), rel=1e-12)
    np.testing.assert_allclose(data + pen, J, rtol=1e-12)
    np.testing.assert_allclose(net.params, before - 0.1 * g, rtol=1e-12, atol=1e-14)


def test_a_regression_network_uses_the_general_output_path():
    """Identity output and squared error: not the fused softmax loop."""
    X, _ = _data()
    Y = np.random.default_rng(4).normal(size=(X.shape[0], 2))
    net = nl.Network([40, 10, 2], activation="leaky_relu", output_activation="identity",
                     seed=3)
    J, g = net.loss_and_grad(X, Y, loss="mse", normalize=True)
    before = net.get_params()
    data, _, _ = _one_step(net, X, Y, "mse", 0.0, True, nl.optim.SGD(lr=0.05))
    assert data == pytest.approx(J, rel=1e-12)
    np.testing.assert_allclose(net.params, before - 0.05 * g, rtol=1e-12, atol=1e-14)


def test_correct_count_comes_from_the_step():
    X, y = _data(n=50)
    net = nl.Network([40, 8, 5], activation="relu", output_activation="softmax", seed=2)
    Y = _onehot(y, 5, np.float64)
    expected = int((net.forward(X).argmax(1) == y).sum())
    _, correct, _ = _one_step(net, X, Y, "cce", 0.0, True, nl.optim.Adam(),
                              accuracy_count=lambda yhat, Yb: int(
                                  (yhat.argmax(1) == Yb.argmax(1)).sum()))
    assert correct == expected


def test_a_network_without_a_hidden_layer_is_not_cut():
    assert not mb.can_split_model(nl.Network([784, 10], output_activation="softmax"))
    assert not mb.can_split_model(nl.Network([5, 1, 3]))
    assert mb.can_split_model(nl.Network([784, 256, 128, 10]))
    with pytest.raises(ValueError, match="hidden layer of two or more units"):
        mb.SplitStepper(nl.Network([4, 3]), nl.optim.SGD(), get_loss("sse"), 0.0, False,
                        None, None)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "momentum", "nesterov"])
def test_an_update_in_two_parts_equals_one_update_bit_for_bit(optimizer):
    rng = np.random.default_rng(3)
    theta = rng.normal(size=1001).astype(np.float32)
    grads = [rng.normal(size=1001).astype(np.float32) for _ in range(3)]

    def make():
        if optimizer == "adam":
            return nl.optim.Adam(lr=0.01, schedule="cosine")
        return nl.optim.SGD(lr=0.05, momentum=0.0 if optimizer == "sgd" else 0.9,
                            nesterov=optimizer == "nesterov")

    whole, parts = theta.copy(), theta.copy()
    a, b = make(), make()
    for o in (a, b):
        o.reset(theta.size, theta.dtype)
        o.set_epoch(1, 4)
    for g in grads:
        a.step(whole, g)
        b._begin_step(parts)
        b._update(parts, g, slice(500, None))
        b._update(parts, g, slice(0, 500))
    assert np.array_equal(whole, parts)


def _fit_weights(monkeypatch, mode, dropout=0.0, split=True, callbacks=None):
    # a small network, split as if it were big (or never split); the worker process
    # may start at the third step
    monkeypatch.setattr(mb, "SPLIT_MIN_WORK", 1 if split else 1 << 40)
    monkeypatch.setattr(mb, "PROCESS_START_STEP", 2)
    if callable(mode):
        monkeypatch.setattr(mb.ModeChooser, "next_mode", mode)
    elif mode is not None:
        monkeypatch.setattr(mb.ModeChooser, "next_mode", lambda self: mode)
    X, y = _data(n=300, d=60, k=4, seed=5, dtype=np.float32)
    net = nl.Network([60, 64, 32, 4], activation="relu", output_activation="softmax",
                     init="he", dtype="float32", seed=0, dropout=dropout)
    assert mb.should_split(64, net.n_params) == split
    own = net.params
    h = net.fit(X, y, loss="categorical_crossentropy", optimizer="adam", epochs=3,
                batch_size=64, verbose=0, seed=7, callbacks=callbacks)
    monkeypatch.undo()
    assert net.params is own                      # back from shared memory
    assert multiprocessing.active_children() == []  # the worker has ended
    return net.params.copy(), h.history


def _every_mode_in_turn():
    modes = itertools.cycle([mb.PROCESS, mb.INLINE, mb.PROCESS, mb.THREADS])
    return lambda self: next(modes)


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_threads_or_not_the_weights_are_the_same_bit_for_bit(monkeypatch, dropout):
    inline, h1 = _fit_weights(monkeypatch, False, dropout)
    threaded, h2 = _fit_weights(monkeypatch, True, dropout)
    chosen, h3 = _fit_weights(monkeypatch, None, dropout)
    assert np.array_equal(inline, threaded)
    assert np.array_equal(inline, chosen)
    assert h1 == h2 == h3


needs_fork = pytest.mark.skipif(not mb.process_mode_available(), reason="no fork here")


@needs_fork
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_a_worker_process_gives_the_same_weights_bit_for_bit(monkeypatch, dropout):
    """The second half in another process — always, or mode changing at every step
    (the dropout stream of the second half moves between the processes)."""
    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    inline, h1 = _fit_weights(monkeypatch, False, dropout)
    process, h2 = _fit_weights(monkeypatch, mb.PROCESS, dropout)
    mixed, h3 = _fit_weights(monkeypatch, _every_mode_in_turn(), dropout)
    assert np.array_equal(inline, process)
    assert np.array_equal(inline, mixed)
    assert h1 == h2 == h3


@needs_fork
def test_the_step_timer_takes_the_worker_process_in_after_some_steps(monkeypatch):
    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    seen = []
    original = mb.ModeChooser.next_mode

    def spy(self):
        seen.append(original(self))
        return seen[-1]

    inline, _ = _fit_weights(monkeypatch, False)
    chosen, _ = _fit_weights(monkeypatch, spy)
    assert mb.PROCESS not in seen[:3] and mb.PROCESS in seen   # from step 3 on
    assert np.array_equal(inline, chosen)


@needs_fork
def test_the_worker_ends_when_training_is_stopped_by_an_exception(monkeypatch):
    class Boom(nl.training.Callback):
        def on_epoch_end(self, epoch, logs):
            raise KeyboardInterrupt   # Ctrl-C between epochs: fit keeps the best weights

    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    params, history = _fit_weights(monkeypatch, mb.PROCESS, callbacks=[Boom()])
    assert np.isfinite(params).all() and len(history["loss"]) == 1


@needs_fork
def test_a_failing_worker_is_a_clear_error_and_leaves_no_process(monkeypatch):
    def fail(self):
        raise MemoryError

    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    monkeypatch.setattr(mb.SplitStepper, "_remote_phase1", fail)  # inherited by the fork
    with pytest.raises(RuntimeError, match="worker process failed or ended unexpectedly"):
        _fit_weights(monkeypatch, mb.PROCESS)
    assert multiprocessing.active_children() == []


def test_without_a_worker_process_training_falls_back_to_threads(monkeypatch):
    def cannot_start(stepper):
        raise OSError("no fork")

    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    inline, h1 = _fit_weights(monkeypatch, False)
    monkeypatch.setattr(mb, "_SideWorker", cannot_start)
    fallback, h2 = _fit_weights(monkeypatch, mb.PROCESS)
    assert np.array_equal(inline, fallback) and h1 == h2


def test_a_dropout_stream_survives_the_trip_through_shared_memory():
    rng, twin = np.random.default_rng(11), np.random.default_rng(11)
    rng.random(3, dtype=np.float32)
    twin.random(3, dtype=np.float32)
    rng.integers(0, 2**31, dtype=np.uint32)   # leaves half a 64-bit word buffered
    twin.integers(0, 2**31, dtype=np.uint32)
    state = mb._PCG64State()
    state.save(rng)
    copy = np.random.default_rng(0)
    state.load(copy)
    np.testing.assert_array_equal(copy.integers(0, 2**31, 5, dtype=np.uint32),
                                  twin.integers(0, 2**31, 5, dtype=np.uint32))


def test_split_training_matches_unsplit_training(monkeypatch):
    """Splitting only reorders float sums: the run stays the same up to rounding."""
    split, hs = _fit_weights(monkeypatch, None)
    whole, hw = _fit_weights(monkeypatch, None, split=False)
    np.testing.assert_allclose(split, whole, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(hs["loss"], hw["loss"], rtol=1e-4)


def test_mode_chooser_keeps_the_faster_mode():
    ch = mb.ModeChooser(probe=3, exploit=5, clear_win=None)
    modes = []
    for _ in range(2 * (2 * 3 + 1 + 5)):
        p = ch.next_mode()
        modes.append(p)
        ch.record(p, 1.0 if p else 2.0)        # threads twice as fast
    warm_probe = [False, True, False, True, False, True, False]
    assert modes[:7] == warm_probe
    assert modes[7:12] == [True] * 5
    assert modes[12:19] == warm_probe             # probes again
    ch2 = mb.ModeChooser(probe=2, exploit=3, clear_win=None)
    for _ in range(8):
        p = ch2.next_mode()
        ch2.record(p, 2.0 if p else 1.0)          # threads slower: stay inline
    assert ch2.parallel is False


def test_a_clear_winner_is_kept_longer_before_the_next_probe():
    ch = mb.ModeChooser(probe=2, exploit=3, clear_win=1.25, long_factor=4)
    modes = []
    for _ in range(2 * 2 + 1 + 12 + 5):
        mode = ch.next_mode()
        modes.append(mode)
        ch.record(mode, {False: 2.0, True: 1.0}[mode])   # threads twice as fast
    assert modes[5:17] == [True] * 12                    # 4 × 3 steps, not 3
    assert modes[17:22] == [False, True, False, True, False]   # then probes again
    close = mb.ModeChooser(probe=2, exploit=3, clear_win=1.25, long_factor=4)
    modes = []
    for _ in range(2 * 2 + 1 + 3 + 1):
        mode = close.next_mode()
        modes.append(mode)
        close.record(mode, {False: 1.1, True: 1.0}[mode])   # only 10 % apart
    assert modes[5:8] == [True] * 3 and modes[8] is False


def test_mode_chooser_probes_an_added_mode_and_keeps_the_fastest():
    ch = mb.ModeChooser(probe=2, exploit=4, clear_win=None)
    for _ in range(3):
        ch.record(ch.next_mode(), 1.0)
    ch.add_mode("process")
    modes = []
    for _ in range(3 * 2 + 1 + 4):
        mode = ch.next_mode()
        modes.append(mode)
        ch.record(mode, {False: 3.0, True: 2.0, "process": 1.0}[mode])
    assert modes[:7] == [False, True, "process", False, True, "process", False]
    assert modes[7:] == ["process"] * 4


def test_small_problems_are_not_split():
    assert not mb.should_split(3, 9)              # the tutorial's network
    assert not mb.should_split(8, 10**7)          # too few rows for two halves
    assert mb.should_split(128, 235_146)          # 784-256-128-10, batch 128


def test_blas_is_single_threaded_only_inside_the_block():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with mb.single_threaded_blas():
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(n == 1 for n in inside)
    assert after == before


def test_float32_stays_float32_through_a_step():
    """No silent float64: activations, deltas, gradients and optimizer state."""
    X, y = _data(n=64, d=30, k=4, dtype=np.float32)
    net = nl.Network([30, 16, 8, 4], activation="relu", output_activation="softmax",
                     dtype="float32", seed=0, dropout=0.3)
    Y = _onehot(y, 4, np.float32)
    opt = nl.optim.Adam()
    opt.reset(net.n_params, net.dtype)
    step = mb.SplitStepper(net, opt, get_loss("cce"), 1e-3, True, np.random.default_rng(0),
                           None)
    step.begin_epoch()
    step.step(X, Y)
    step.end_epoch()
    arrays = [opt._m, opt._s, net.params]
    for side in step.sides:
        arrays += [side.p, side.g, *side.state.values(), *side.first[:2], *side.batch]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


def _interrupted_fit(monkeypatch, mode, interrupt):
    """Fit that meets ``interrupt()`` in side 0's phase 1 of the fifth step."""
    calls = []
    original = mb._Side.phase1

    def phase1(self, *args):
        calls.append(1)
        if len(calls) == 9:   # side 0 of step 5 (two sides per step)
            interrupt()
        return original(self, *args)

    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    monkeypatch.setattr(mb, "SPLIT_MIN_WORK", 1)
    monkeypatch.setattr(mb, "PROCESS_START_STEP", 0)
    monkeypatch.setattr(mb.ModeChooser, "next_mode", lambda self: mode)
    monkeypatch.setattr(mb._Side, "phase1", phase1)
    X, y = _data(n=640, d=20, k=3, dtype=np.float32)
    net = nl.Network([20, 16, 3], activation="relu", output_activation="softmax",
                     dtype="float32", seed=0)
    start = net.get_params()
    h = net.fit(X, y, loss="categorical_crossentropy", optimizer="adam", epochs=2,
                batch_size=64, verbose=0, seed=1)
    assert h.interrupted and h.epoch == []
    assert np.isfinite(net.params).all()
    assert multiprocessing.active_children() == []
    return net, start


MODES = [mb.INLINE, mb.THREADS, pytest.param(mb.PROCESS, marks=needs_fork)]


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_during_a_step_takes_effect_after_it_and_keeps_the_latest_weights(
        monkeypatch, mode):
    """A real SIGINT in the middle of step 5: the step finishes on both sides, then
    training stops with the weights after step 5 (no finished epoch to fall back on)."""
    net, start = _interrupted_fit(monkeypatch, mode,
                                  lambda: os.kill(os.getpid(), signal.SIGINT))
    assert not np.array_equal(net.params, start)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored


@pytest.mark.parametrize("mode", MODES)
def test_a_step_left_half_way_publishes_nothing(monkeypatch, mode):
    """An exception inside a step (here a second, immediate Ctrl-C): the sides may
    disagree, so the network keeps the weights the epoch started from — and no worker
    process is left waiting."""
    def boom():
        raise KeyboardInterrupt

    net, start = _interrupted_fit(monkeypatch, mode, boom)
    assert np.array_equal(net.params, start)


def test_a_diverging_run_keeps_the_last_finite_weights_not_the_sides(monkeypatch):
    """Epoch 1 ends with a finite cost but weights blown up by a huge batch; epoch 2's
    first cost is NaN: the network goes back to the last weights that gave a finite
    cost (epoch 1's start), not to what the sides hold."""
    monkeypatch.setattr(mb, "SPLIT_MIN_WORK", 1)
    X, y = _data(n=256, d=20, k=3)
    X[200:] *= 1e200
    net = nl.Network([20, 16, 3], activation="relu", output_activation="softmax", seed=0)
    start = net.get_params()
    seen = []
    keep = nl.training.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(net.get_params()))
    with np.errstate(all="ignore"), pytest.raises(nl.TrainingDivergedError) as err:
        net.fit(X, y, loss="categorical_crossentropy", optimizer="sgd", lr=0.1, epochs=3,
                batch_size=64, verbose=0, shuffle=False, callbacks=[keep])
    assert "epoch/iteration 2" in str(err.value) and len(seen) == 1
    assert np.abs(seen[0]).max() > 1e100          # what epoch 2 started from
    assert np.array_equal(net.params, start)


def test_huge_batches_get_no_worker_process_and_no_shared_buffers():
    """Shared buffers are sized by the batch: beyond PROCESS_MAX_BATCH_BYTES the step
    runs on threads or inline, with nothing mapped for a worker."""
    net = nl.Network([784, 64, 10], activation="relu", output_activation="softmax",
                     dtype="float32")
    opt = nl.optim.Adam()
    opt.reset(net.n_params, net.dtype)
    X = np.zeros((8, 784), np.float32)
    Y = np.zeros((8, 10), np.float32)
    rows = mb.PROCESS_MAX_BATCH_BYTES // (4 * (784 + 10)) + 1
    big = mb.SplitStepper(net, opt, get_loss("cce"), 0.0, True, None, object(),
                          processes=True, batch_size=rows, data=(X, Y))
    small = mb.SplitStepper(net, opt, get_loss("cce"), 0.0, True, None, object(),
                            processes=True, batch_size=rows - 1, data=(X, Y))
    assert not big._shared and big._XB is None and big._P == []   # made per step
    assert small._shared == mb.process_mode_available() and small._XB is not None


@needs_fork
def test_a_slow_worker_gives_the_same_weights(monkeypatch):
    """The training process runs ahead of the worker by up to a step (it does not
    wait for side 1's phase 2); epoch ends, mode changes and the next step must all
    wait for it, and nothing the worker reads may be overwritten meanwhile. A worker
    that wakes late every time must change nothing."""
    import time as _time

    training_process = os.getpid()
    original = mb._wait

    def late(sem, alive=None):
        ok = original(sem, alive)
        if os.getpid() != training_process:
            _time.sleep(0.002)
        return ok

    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    inline, h1 = _fit_weights(monkeypatch, False, 0.4)
    monkeypatch.setattr(mb, "_wait", late)
    process, h2 = _fit_weights(monkeypatch, mb.PROCESS, 0.4)
    monkeypatch.setattr(mb, "_wait", late)
    mixed, h3 = _fit_weights(monkeypatch, _every_mode_in_turn(), 0.4)
    assert np.array_equal(inline, process) and np.array_equal(inline, mixed)
    assert h1 == h2 == h3


def test_without_compiled_kernels_the_step_is_the_same(monkeypatch):
    """Softmax + cross-entropy through NumPy (no Numba) gives the compiled loop's step."""
    from neurallab import _kernels

    X, y = _data()
    Y = _onehot(y, 5, np.float64)
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(_kernels, "_unavailable", not compiled)
        net = nl.Network(**NETWORKS["relu-softmax"], seed=1)
        count = lambda yhat, Yb: int((yhat.argmax(1) == Yb.argmax(1)).sum())  # noqa: E731
        out = _one_step(net, X, Y, "cce", 0.1, True, nl.optim.Adam(lr=0.01), count)
        results.append((out, net.get_params()))
    (a, pa), (b, pb) = results
    assert a[0] == pytest.approx(b[0], rel=1e-12) and a[1:] == b[1:]
    np.testing.assert_allclose(pa, pb, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("mode", [None, mb.INLINE, mb.THREADS,
                                  pytest.param(mb.PROCESS, marks=needs_fork)])
def test_a_summed_loss_with_l2_gives_each_batch_its_share_of_the_penalty(monkeypatch, mode):
    """sse (summed) with λ: a step of m of the n rows adds (m/n)·λ·W — 16/40 for the
    full batches, 8/40 for the last — whether the step runs whole (``None``) or cut in
    two, inline, on threads or with the worker process. Reference: plain SGD steps
    with ``loss_and_grad(..., l2=λ·m/n)``."""
    monkeypatch.setattr(mb, "usable_cores", lambda: 2)
    monkeypatch.setattr(mb, "SPLIT_MIN_WORK", 1 << 60 if mode is None else 1)
    monkeypatch.setattr(mb, "PROCESS_START_STEP", 0)
    if mode is not None:
        monkeypatch.setattr(mb.ModeChooser, "next_mode", lambda self: mode)
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    lam, lr = 0.8, 0.01
    net = nl.Network([5, 6, 2], activation="tanh", output_activation="identity", seed=2)
    ref = nl.Network([5, 6, 2], activation="tanh", output_activation="identity", seed=2)
    net.fit(X, Y, loss="sse", l2=lam, optimizer=nl.optim.SGD(lr=lr), epochs=2,
            batch_size=16, shuffle=False, verbose=0)
    for _ in range(2):
        for s in range(0, 40, 16):
            xb, yb = X[s:s + 16], Y[s:s + 16]
            _, g = ref.loss_and_grad(xb, yb, loss="sse", l2=lam * xb.shape[0] / 40)
            ref.set_params(ref.params - lr * g)
    np.testing.assert_allclose(net.params, ref.params, rtol=0, atol=1e-12)
    assert mb.step_l2(lam, True, 16, 40) == lam and mb.step_l2(lam, False, 40, 40) == lam
