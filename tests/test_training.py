"""The fit loop: History, callbacks, progress output, divergence, Ctrl-C, reproducibility."""

from __future__ import annotations

import io
import json
import re
import warnings

import numpy as np
import pytest

import neurallab as nl
from neurallab.errors import InputError, TrainingDivergedError
from neurallab.optim import SGD, Adam


@pytest.fixture
def chapter7():
    """Chapter 7's data, scaled by the training set's maxima (inputs) and 100 (scores)."""
    X_train, y_train, X_test, y_test = nl.datasets.sleep_study_extended()
    m = X_train.max(axis=0)
    return X_train / m, y_train / 100, X_test / m, y_test / 100


class Recorder(nl.Callback):
    """Keeps a copy of the parameters and the logs after every epoch."""

    def __init__(self):
        self.params, self.logs, self.events = [], [], []

    def on_train_begin(self, logs=None):
        self.events.append("begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.params.append(self.model.get_params())
        self.logs.append(dict(logs))
        self.events.append(f"epoch_end {epoch}")

    def on_train_end(self, logs=None):
        self.events.append("end")


# ----------------------------------------------------------------------------- History
def test_history_for_a_regressor(tutorial_net, sleep_scaled):
    X, y = sleep_scaled
    h = tutorial_net(0).fit(X, y, optimizer="bfgs", epochs=20, verbose=0)
    assert isinstance(h, nl.History)
    assert set(h.history) == {"loss"}
    assert h.epoch == list(range(len(h.history["loss"])))
    assert h.wall_time > 0 and h.optimizer == "bfgs"
    assert h.message and not h.interrupted
    assert json.loads(json.dumps(h.to_dict()))["history"]["loss"] == h.history["loss"]
    assert re.fullmatch(r"History\(20 epochs, final loss [0-9.e-]+, [0-9.]+ s, '.*'\)", repr(h))


def test_history_with_validation_data(tutorial_net, chapter7):
    Xtr, ytr, Xte, yte = chapter7
    net = tutorial_net(0)
    h = net.fit(Xtr, ytr, optimizer="bfgs", epochs=15, verbose=0, l2=1e-3, normalize=True,
                validation_data=(Xte, yte))
    assert set(h.history) == {"loss", "val_loss"}
    assert len(h.history["val_loss"]) == len(h.history["loss"])
    # val_loss is the data term only (no penalty), on the final weights for the last entry
    assert h.history["val_loss"][-1] == pytest.approx(net.cost(Xte, yte, normalize=True),
                                                      rel=1e-12)


def test_history_for_a_classifier(blobs):
    X, labels = blobs
    net = nl.Network([2, 6, 3], activation="tanh", output_activation="softmax", seed=0)
    h = net.fit(X[:45], labels[:45], loss="categorical_crossentropy", optimizer="lbfgs",
                epochs=30, verbose=0, validation_data=(X[45:], labels[45:]))
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.history["accuracy"][-1] == (net.predict(X[:45]) == labels[:45]).mean()
    assert h.history["val_accuracy"][-1] == (net.predict(X[45:]) == labels[45:]).mean()
    assert net.is_classifier and net.loss == "categorical_crossentropy"


def test_loss_is_a_mean_for_every_loss_but_sse(blobs):
    """normalize defaults to False for the tutorial's sse, True for every other loss."""
    X, labels = blobs
    y = (labels == 1).astype(float)[:, None]
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    theta = net.get_params()
    h = net.fit(X, y, loss="mse", optimizer="gd", lr=1e-3, epochs=1, verbose=0)
    net.set_params(theta)
    assert h.history["loss"][0] == pytest.approx(np.mean((net.forward(X) - y) ** 2))
    h = net.fit(X, y, loss="sse", optimizer="gd", lr=1e-3, epochs=1, verbose=0)
    net.set_params(theta)
    assert h.history["loss"][0] == pytest.approx(0.5 * np.sum((net.forward(X) - y) ** 2))


def test_callback_order_and_logs(tutorial_net, sleep_scaled):
    rec = Recorder()
    seen = []
    lam = nl.LambdaCallback(on_train_begin=lambda logs=None: seen.append("begin"),
                            on_epoch_end=lambda e, logs: seen.append((e, sorted(logs))),
                            on_train_end=lambda logs=None: seen.append("end"))
    tutorial_net(0).fit(*sleep_scaled, optimizer="adam", epochs=3, verbose=0,
                        callbacks=[rec, lam])
    assert rec.events == ["begin", "epoch_begin 0", "epoch_end 0", "epoch_begin 1",
                          "epoch_end 1", "epoch_begin 2", "epoch_end 2", "end"]
    assert seen == ["begin", (0, ["loss"]), (1, ["loss"]), (2, ["loss"]), "end"]
    assert rec.model is not None


def test_a_callback_can_stop_training(tutorial_net, sleep_scaled):
    class Stop(nl.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 3:
                self.model.stop_training = True

    net = tutorial_net(0)
    h = net.fit(*sleep_scaled, optimizer="sgd", lr=0.5, epochs=50, verbose=0,
                callbacks=[Stop()])
    assert len(h.history["loss"]) == 4
    assert h.message == "stopped early at epoch 4"
    assert net.stop_training is False  # reset for the next fit


# ----------------------------------------------------------------------------- EarlyStopping
def overfitting_run(tutorial_net, chapter7, callbacks, epochs=200):
    """Chapter 7 without regularisation: the test cost turns up while training goes on."""
    Xtr, ytr, Xte, yte = chapter7
    net = tutorial_net(0)
    rec = Recorder()
    h = net.fit(Xtr, ytr, optimizer="bfgs", epochs=epochs, verbose=0, normalize=True,
                validation_data=(Xte, yte), callbacks=[rec, *callbacks])
    return net, h, rec


def test_early_stopping_restores_the_best_weights(tutorial_net, chapter7):
    es = nl.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    net, h, rec = overfitting_run(tutorial_net, chapter7, [es])
    val = h.history["val_loss"]
    best = int(np.argmin(val))
    assert es.best_epoch == best and es.best == val[best]
    assert es.stopped_epoch == best + 5 == len(val) - 1  # stopped after `patience` epochs
    assert h.message == f"stopped early at iteration {len(val)}"
    np.testing.assert_array_equal(net.params, rec.params[best])
    assert not np.array_equal(net.params, rec.params[-1])
    assert net.cost(chapter7[2], chapter7[3], normalize=True) == pytest.approx(val[best])


def test_early_stopping_without_restoring(tutorial_net, chapter7):
    es = nl.EarlyStopping(patience=5, restore_best_weights=False)
    net, h, rec = overfitting_run(tutorial_net, chapter7, [es])
    np.testing.assert_array_equal(net.params, rec.params[-1])


def test_early_stopping_on_first_order_training(tutorial_net, sleep_scaled):
    es = nl.EarlyStopping(monitor="loss", patience=2, min_delta=1.0)  # never improves by 1
    h = tutorial_net(0).fit(*sleep_scaled, optimizer="gd", lr=1.0, epochs=50, verbose=0,
                            callbacks=[es])
    assert len(h.history["loss"]) == 3
    assert h.message == "stopped early at epoch 3"


def test_early_stopping_needs_what_it_monitors(tutorial_net, sleep_scaled):
    with pytest.raises(InputError, match=re.escape(
            "EarlyStopping monitors 'val_loss', which training does not report (it reports "
            "loss); pass validation_data for 'val_loss'")):
        tutorial_net(0).fit(*sleep_scaled, epochs=5, verbose=0,
                            callbacks=[nl.EarlyStopping()])


def test_early_stopping_settings():
    assert nl.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert nl.EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(InputError, match=r"mode must be 'min', 'max' or 'auto', got 'up'"):
        nl.EarlyStopping(mode="up")
    with pytest.raises(InputError, match=r"patience must be an integer >= 0, got -1"):
        nl.EarlyStopping(patience=-1)


# ----------------------------------------------------------------------------- checkpoints
def test_model_checkpoint_keeps_the_best(tutorial_net, chapter7, tmp_path):
    path = tmp_path / "best.safetensors"
    ck = nl.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    net, h, rec = overfitting_run(tutorial_net, chapter7, [ck], epochs=60)
    best = int(np.argmin(h.history["val_loss"]))
    assert best < len(h.history["val_loss"]) - 1  # the run went past its best
    saved = nl.load(path)
    np.testing.assert_array_equal(saved.params, rec.params[best])
    assert ck.best == h.history["val_loss"][best]
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]  # no temp files


def test_model_checkpoint_every_epoch(tutorial_net, sleep_scaled, tmp_path):
    path = tmp_path / "last.safetensors"
    net = tutorial_net(0)
    net.fit(*sleep_scaled, optimizer="bfgs", epochs=4, verbose=0,
            callbacks=[nl.ModelCheckpoint(path, save_best_only=False)])
    np.testing.assert_array_equal(nl.load(path).params, net.params)


# ----------------------------------------------------------------------------- progress
@pytest.mark.parametrize("verbose", [0, 1])
def test_quiet_when_verbose_0_or_not_a_terminal(tutorial_net, sleep_scaled, capsys, verbose):
    tutorial_net(0).fit(*sleep_scaled, optimizer="adam", epochs=5, verbose=verbose)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


@pytest.mark.parametrize("optimizer, unit", [("adam", "epoch"), ("bfgs", "iteration")])
def test_verbose_2_prints_one_line_per_epoch(tutorial_net, sleep_scaled, capsys, optimizer,
                                             unit):
    h = tutorial_net(0).fit(*sleep_scaled, optimizer=optimizer, epochs=5, verbose=2)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(h.epoch) == 5
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"{unit} {i + 1}/5: loss=[0-9.e+-]+", line), line


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_shows_the_cost():
    stream = FakeTerminal()
    bar = nl.ProgressBar(3, verbose=1, stream=stream)
    bar.on_train_begin()
    for e in range(3):
        bar.on_epoch_end(e, {"loss": 0.125, "val_loss": 0.5})
    bar.on_train_end()
    text = stream.getvalue()
    assert "3/3" in text and "loss=0.125 val_loss=0.5" in text
    # not a terminal: nothing at all
    quiet = io.StringIO()
    bar = nl.ProgressBar(3, verbose=1, stream=quiet)
    bar.on_train_begin()
    bar.on_epoch_end(0, {"loss": 1.0})
    bar.on_train_end()
    assert quiet.getvalue() == ""


# ----------------------------------------------------------------------------- divergence
def test_divergence_names_the_iteration_and_keeps_finite_weights(sleep_scaled):
    X, y = sleep_scaled
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    rec = Recorder()
    with np.errstate(all="ignore"), pytest.raises(TrainingDivergedError) as info:
        net.fit(X, y, optimizer="gd", lr=1e3, epochs=200, verbose=0, callbacks=[rec])
    err = info.value
    assert isinstance(err, FloatingPointError)
    n_done = len(rec.params)
    assert err.iteration == n_done + 1
    assert re.match(rf"training diverged: the cost became (NaN|infinite) at epoch/iteration "
                    rf"{err.iteration}; the network keeps its last weights with a finite cost. "
                    r"Lower the learning rate, scale the inputs, or add l2", str(err))
    assert err.history.history["loss"] == [r["loss"] for r in rec.logs]
    assert err.history.message.startswith("stopped: the cost became")
    # The weights kept are the last ones whose cost was finite: those the last completed
    # epoch started from (the weights it ended with already cost inf at the next epoch).
    assert np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, rec.params[-2])
    assert net.cost(X, y) == pytest.approx(err.history.history["loss"][-1], rel=1e-12)
    assert np.isfinite(net.cost(X, y))


@pytest.mark.parametrize("optimizer, extra", [("gd", {}), ("sgd", {"batch_size": 2})])
def test_divergence_is_one_error_without_numpy_warnings_before_it(optimizer, extra):
    """The error says what happened and what to do; the overflow warnings on the way
    there (from inside the library) would only bury it."""
    X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0], [6.0, 4.0]])
    y = np.array([[75.0], [82.0], [93.0], [80.0]])
    net = nl.Network([2, 3, 1], activation="relu", output_activation="identity", seed=0,
                     input_scaler="standard", output_scaler="standard")
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # any warning fails the test
        with pytest.raises(TrainingDivergedError):
            net.fit(X, y, loss="mse", optimizer=optimizer, lr=1e10, epochs=200, verbose=0,
                    seed=0, **extra)


@pytest.mark.parametrize("optimizer", ["bfgs", "lbfgs", "cg", "newton-cg", "lm"])
def test_full_batch_optimizers_refuse_a_batch_size_they_would_ignore(sleep_scaled, optimizer):
    X, y = sleep_scaled
    net = nl.Network([2, 3, 1], seed=0)
    with pytest.raises(InputError, match=re.escape(
            f"optimizer '{optimizer}' uses the whole training set at every iteration, so "
            "batch_size=2 would be ignored; use optimizer='sgd' or 'adam' for mini-batches, "
            "or leave batch_size=None")):
        net.fit(X, y, optimizer=optimizer, batch_size=2, verbose=0)
    net.fit(X, y, optimizer=optimizer, batch_size=3, epochs=2, verbose=0)  # = n: all rows


def test_divergence_with_mini_batches(sleep_scaled):
    X, y = sleep_scaled
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    with np.errstate(all="ignore"), \
            pytest.raises(TrainingDivergedError, match=r"at epoch/iteration \d+"):
        net.fit(X, y, optimizer=SGD(lr=1e3), batch_size=1, epochs=500, verbose=0, seed=0)
    assert np.isfinite(net.params).all() and np.isfinite(net.cost(X, y))


@pytest.mark.parametrize("optimizer", ["gd", "adam", "bfgs", "lbfgs", "cg", "newton-cg", "lm"])
def test_a_non_finite_cost_at_the_start_is_an_error(optimizer):
    """No optimizer may 'finish' from weights whose cost is already infinite."""
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[1.0], [2.0]])
    net = nl.Network([2, 3, 1], activation="identity", seed=0)
    net.params[...] = 1e120  # the outputs overflow: J = inf
    before = net.get_params()
    with np.errstate(all="ignore"), pytest.raises(TrainingDivergedError, match=re.escape(
            "training cannot start: the cost is ")) as info:
        net.fit(X, y, optimizer=optimizer, epochs=5, verbose=0)
    assert re.search(r"is (infinite|NaN) at the initial weights, before any update; "
                     r"re-initialise the network", str(info.value))
    assert info.value.iteration == 0
    np.testing.assert_array_equal(net.params, before)


# ----------------------------------------------------------------------------- Ctrl-C
class CtrlCAt(nl.Callback):
    def __init__(self, epoch):
        self.at = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer", ["adam", "bfgs", "lm"])
def test_ctrl_c_returns_and_keeps_the_best_weights(tutorial_net, chapter7, optimizer):
    Xtr, ytr, Xte, yte = chapter7
    net = tutorial_net(0)
    rec = Recorder()
    kwargs = {"lr": 0.05} if optimizer == "adam" else {}
    at = {"adam": 150, "bfgs": 40, "lm": 12}[optimizer]
    h = net.fit(Xtr, ytr, optimizer=optimizer, epochs=400, verbose=0, normalize=True,
                validation_data=(Xte, yte), callbacks=[rec, CtrlCAt(at)], **kwargs)
    assert h.interrupted
    val = h.history["val_loss"]
    assert len(val) == at + 1
    best = int(np.argmin(val))
    assert h.message == (f"interrupted (Ctrl-C) after {at + 1} epochs; kept the best "
                         f"weights (epoch {best + 1})")
    np.testing.assert_array_equal(net.params, rec.params[best])


def test_ctrl_c_without_validation_keeps_lowest_training_cost(tutorial_net, sleep_scaled):
    net = tutorial_net(0)
    rec = Recorder()
    h = net.fit(*sleep_scaled, optimizer="gd", lr=2.0, epochs=100, verbose=0,
                callbacks=[rec, CtrlCAt(10)])
    assert h.interrupted and len(h.epoch) == 11
    best = int(np.argmin(h.history["loss"]))
    np.testing.assert_array_equal(net.params, rec.params[best])


# ----------------------------------------------------------------------------- validation split
def test_validation_split(chapter7):
    Xtr, ytr, Xte, yte = chapter7
    X, y = np.vstack([Xtr, Xte]), np.vstack([ytr, yte])
    net = nl.Network([2, 3, 1], bias=False, seed=0)
    h = net.fit(X, y, optimizer="bfgs", epochs=10, verbose=0, validation_split=0.25, seed=7)
    held = np.random.default_rng(7).permutation(8)[-2:]  # the last 2 of a seeded shuffle
    assert h.history["val_loss"][-1] == pytest.approx(net.cost(X[held], y[held]), rel=1e-12)
    train = np.setdiff1d(np.arange(8), held)
    assert h.history["loss"][-1] == pytest.approx(net.cost(X[train], y[train]), rel=1e-12)


# ----------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("make_opt", [lambda: SGD(lr=0.3, momentum=0.9, nesterov=True),
                                      lambda: Adam(lr=0.01)])
def test_same_seed_same_run_bit_for_bit(blobs, make_opt):
    X, labels = blobs

    def run(seed):
        net = nl.Network([2, 16, 8, 3], activation="relu", output_activation="softmax",
                         dropout=[0.3, 0.2], init="he", seed=11)
        h = net.fit(X, labels, loss="categorical_crossentropy", optimizer=make_opt(),
                    epochs=8, batch_size=7, verbose=0, seed=seed,
                    validation_split=0.2)
        return net.params.copy(), h.history

    p1, h1 = run(3)
    p2, h2 = run(3)
    p3, h3 = run(4)
    assert p1.tobytes() == p2.tobytes()
    assert h1 == h2
    assert p1.tobytes() != p3.tobytes()


def test_no_shuffle_no_dropout_is_independent_of_the_seed(sleep_scaled):
    runs = []
    for seed in (1, 2):
        net = nl.Network([2, 3, 1], bias=False, seed=0)
        net.fit(*sleep_scaled, optimizer=SGD(lr=0.5), batch_size=2, shuffle=False, epochs=5,
                verbose=0, seed=seed)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(*runs)


def test_full_batch_training_is_deterministic(tutorial_net, sleep_scaled):
    a, b = tutorial_net(5), tutorial_net(5)
    ha = a.fit(*sleep_scaled, optimizer="lbfgs", epochs=50, verbose=0)
    hb = b.fit(*sleep_scaled, optimizer="lbfgs", epochs=50, verbose=0)
    assert a.params.tobytes() == b.params.tobytes() and ha.history == hb.history


@pytest.mark.parametrize("make_opt", [lambda: SGD(lr=0.05, momentum=0.9), lambda: Adam(lr=0.01)])
def test_two_core_mini_batch_steps_equal_one_core_steps(monkeypatch, make_opt):
    """Large mini-batches are computed as two halves on two cores; the numbers must be
    those of the one-piece step (to rounding), and the same seed the same bits."""
    minibatch = pytest.importorskip("neurallab._minibatch")
    if not hasattr(minibatch, "SPLIT_MIN_WORK"):
        pytest.skip("no size threshold to lower")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    labels = rng.integers(0, 3, 64)

    def run(split):
        monkeypatch.setattr(minibatch, "SPLIT_MIN_WORK", 1 if split else 1 << 60)
        net = nl.Network([4, 16, 3], activation="relu", output_activation="softmax",
                         init="he", seed=0)
        h = net.fit(X, labels, loss="categorical_crossentropy", optimizer=make_opt(),
                    l2=1e-3, epochs=3, batch_size=32, verbose=0, seed=1)
        return net.params.copy(), h.history

    one, h_one = run(split=False)
    two, h_two = run(split=True)
    again, h_again = run(split=True)
    np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_two["loss"], h_one["loss"], rtol=1e-12)
    assert h_two["accuracy"] == h_one["accuracy"]
    assert two.tobytes() == again.tobytes()


def test_gd_refuses_mini_batches():
    import neurallab as nl

    X = np.random.default_rng(0).random((10, 2))
    y = X.sum(axis=1, keepdims=True)
    net = nl.Network([2, 3, 1], seed=0)
    with pytest.raises(nl.InputError, match="full-batch gradient descent.*optimizer='sgd'"):
        net.fit(X, y, optimizer="gd", batch_size=4, epochs=2, verbose=0)


@pytest.mark.parametrize("bad", [
    dict(validation_data="not a pair"),
    dict(validation_data=(np.ones((3, 1)), np.ones((3, 1)))),      # one column, not two
    dict(validation_data=(np.ones((3, 2)), np.ones((2, 1)))),      # rows differ
    dict(validation_data=(np.full((3, 2), np.nan), np.ones((3, 1)))),
    dict(optimizer="gd", batch_size=2),
])
def test_a_fit_that_refuses_its_arguments_changes_nothing(bad):
    """The scalers are fitted only once every argument is accepted: a refused fit
    must not leave them fitted to that call's data (a later fit on other data would
    then scale it wrongly, silently)."""
    import neurallab as nl

    X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]]) / 10
    y = np.array([[0.75], [0.82], [0.93]])
    net = nl.Network([2, 3, 1], seed=0, input_scaler="max", output_scaler="max")
    before = net.get_params()
    with pytest.raises(nl.InputError):
        net.fit(X, y, verbose=0, epochs=2, **bad)
    assert not net.input_scaler.fitted and not net.output_scaler.fitted
    np.testing.assert_array_equal(net.params, before)
    net.fit(X * 100, y, verbose=0, epochs=2)
    np.testing.assert_allclose(net.input_scaler.scale_, [100.0, 50.0])  # from X·100


def test_forward_training_without_rng_still_drops_units():
    import neurallab as nl

    net = nl.Network([5, 50, 1], activation="relu", output_activation="identity",
                     dropout=0.5, seed=0)
    X = np.ones((4, 5))
    assert not np.allclose(net.forward(X, training=True), net.forward(X))


def test_full_batch_gd_logs_the_cost_at_the_weights_before_each_step():
    import neurallab as nl

    X = np.random.default_rng(1).random((6, 2))
    y = X[:, :1] * 0.5
    net = nl.Network([2, 3, 1], seed=0)
    start = net.get_params()
    h = net.fit(X, y, optimizer=nl.optim.GradientDescent(lr=0.5), l2=0.3, epochs=3,
                verbose=0)
    ref = nl.Network([2, 3, 1], seed=0)
    ref.set_params(start)
    for logged in h.history["loss"]:
        J, g = ref.loss_and_grad(X, y, l2=0.3)
        assert logged == pytest.approx(J, rel=1e-12)
        ref.set_params(ref.params - 0.5 * g)


# ------------------------------------------------ L2 with a summed loss and mini-batches
def test_mini_batch_sgd_with_a_summed_loss_and_l2_finds_the_minimum_bfgs_finds():
    """Every optimizer minimises the one J = ½Σ(y − ŷ)² + (λ/2)·ΣW². For a linear
    network J's minimum is ridge regression, W = (XᵀX + λI)⁻¹Xᵀy: mini-batch SGD
    (batches of 10 of 40 rows, each taking its 10/40 share of the penalty) and BFGS
    both find it, whatever the batch size. (With the whole λ on every batch SGD would
    find (XᵀX + 4λI)⁻¹Xᵀy, 17 % smaller here.)"""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(40, 1))
    lam = 8.0
    ridge = np.linalg.solve(X.T @ X + lam * np.eye(3), X.T @ y)
    four_lam = np.linalg.solve(X.T @ X + 4 * lam * np.eye(3), X.T @ y)
    assert np.abs(ridge - four_lam).max() > 0.2
    found = {}
    for name, kwargs in {"bfgs": dict(optimizer="bfgs", epochs=100),
                         "sgd, batch 10": dict(optimizer=SGD(lr=2e-3), epochs=800,
                                               batch_size=10, seed=0),
                         "sgd, batch 20": dict(optimizer=SGD(lr=1e-3), epochs=800,
                                               batch_size=20, seed=0)}.items():
        net = nl.Network([3, 1], output_activation="identity", bias=False, seed=0)
        net.fit(X, y, loss="sse", l2=lam, verbose=0, **kwargs)
        found[name] = net.W[0].copy()
    for name, W in found.items():
        np.testing.assert_allclose(W, ridge, rtol=0, atol=2e-3, err_msg=name)


def test_history_loss_of_a_summed_loss_with_l2_is_j_at_the_start_of_the_epoch():
    """Full-batch gradient descent through the mini-batch loop: the recorded loss is J
    (data + the whole penalty), the one `cost` reports."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    net = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=1)
    start = nl.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=1)
    h = net.fit(X, y, loss="sse", l2=0.5, optimizer=SGD(lr=0.01), epochs=1, batch_size=12,
                verbose=0)
    assert h.history["loss"][0] == pytest.approx(start.cost(X, y, loss="sse", l2=0.5),
                                                 rel=1e-12)
