"""Optimizers: every one trains the tutorial network; single steps equal hand-worked updates."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import neurallab as nl
from neurallab.errors import InputError, InputTypeError, JacobianTooLargeError
from neurallab.optim import (
    BFGS,
    CG,
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adam,
    GradientDescent,
    LevenbergMarquardt,
    NewtonCG,
    get_optimizer,
)


# ----------------------------------------------------------------------------- they all train
@pytest.mark.parametrize("optimizer, kwargs, target", [
    ("gd", {"lr": 3.0}, 0.01),
    (SGD(lr=1.0, momentum=0.9), {"batch_size": 1}, 0.01),
    (SGD(lr=1.0, momentum=0.9, nesterov=True), {"batch_size": 1}, 0.01),
    (SGD(lr=1.0), {"batch_size": 2}, 0.03),
    ("adam", {"lr": 0.1}, 0.01),
    ("bfgs", {}, 1e-4),
    ("lbfgs", {}, 1e-4),
    ("cg", {}, 1e-4),
    ("newton-cg", {}, 1e-4),
    ("lm", {}, 1e-8),
])
def test_every_optimizer_reduces_the_tutorial_cost(tutorial_net, sleep_scaled, optimizer,
                                                   kwargs, target):
    X, y = sleep_scaled
    net = tutorial_net(0)
    J0 = net.cost(X, y)
    assert J0 > 0.05
    history = net.fit(X, y, optimizer=optimizer, epochs=50, verbose=0, seed=0, **kwargs)
    assert net.cost(X, y) < target < J0
    assert history.optimizer == get_optimizer(optimizer).name
    losses = history.history["loss"]
    assert 1 <= len(losses) <= 50 and all(map(math.isfinite, losses))


@pytest.mark.parametrize("name", ["bfgs", "lbfgs", "cg", "newton-cg", "lm"])
def test_full_batch_history_ends_at_the_final_weights(tutorial_net, sleep_scaled, name):
    """For full-batch optimizers, each entry is J at that iteration's θ; the last is the
    network's cost as it stands — and the costs never go up."""
    X, y = sleep_scaled
    net = tutorial_net(1)
    h = net.fit(X, y, optimizer=name, epochs=30, verbose=0, l2=1e-3, normalize=True)
    assert h.final_loss == pytest.approx(net.cost(X, y, l2=1e-3, normalize=True), rel=1e-12)
    losses = np.array(h.history["loss"])
    assert (np.diff(losses) <= 1e-15).all()
    assert h.n_evaluations >= len(losses)


def test_max_iter_of_a_scipy_optimizer(tutorial_net, sleep_scaled):
    h = tutorial_net(0).fit(*sleep_scaled, optimizer=BFGS(max_iter=5), epochs=200, verbose=0)
    assert len(h.history["loss"]) == 5
    assert "Maximum number of iterations" in h.message
    h = tutorial_net(0).fit(*sleep_scaled, optimizer="bfgs", epochs=7, verbose=0)
    assert len(h.history["loss"]) == 7


def test_optimizers_work_on_a_classifier(blobs):
    X, labels = blobs
    for opt in ("lbfgs", "adam"):
        net = nl.Network([2, 8, 3], activation="tanh", output_activation="softmax", seed=0)
        extra = {"lr": 0.05, "batch_size": 16} if opt == "adam" else {}
        h = net.fit(X, labels, loss="categorical_crossentropy", optimizer=opt, epochs=60,
                    verbose=0, seed=0, **extra)
        assert h.history["accuracy"][-1] > 0.95
        assert (net.predict(X) == labels).mean() > 0.95


@pytest.mark.parametrize("optimizer", ["bfgs", "lbfgs", "cg", "lm"])
def test_float32_networks_train_with_full_batch_optimizers(optimizer):
    """SciPy gets float64 vectors even for a float32 network, so its line searches work
    (CG used to try steps that overflowed float32)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.tanh(X[:, :1] * X[:, 1:])
    costs = {}
    for dtype in ("float64", "float32"):
        net = nl.Network([2, 8, 1], activation="tanh", output_activation="identity",
                         dtype=dtype, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            h = net.fit(X, y, loss="mse", optimizer=optimizer, epochs=60, verbose=0)
        assert net.params.dtype == dtype
        costs[dtype] = h.final_loss
    assert costs["float32"] < 2 * costs["float64"] + 1e-4, costs


def test_newton_cg_refuses_float32():
    net = nl.Network([2, 3, 1], dtype="float32", seed=0)
    with pytest.raises(InputError, match=re.escape(
            "optimizer 'newton-cg' estimates Hessian-vector products from gradient "
            "differences, which a float32 network cannot resolve; use dtype='float64' or "
            "optimizer='lbfgs'")):
        net.fit(np.ones((3, 2)), np.ones((3, 1)) / 2, optimizer="newton-cg", verbose=0)


# ----------------------------------------------------------------------------- hand steps
def test_sgd_single_step():
    opt = SGD(lr=0.1)
    opt.reset(3, np.float64)
    theta = np.array([1.0, -2.0, 0.5])
    g = np.array([0.5, 1.0, -4.0])
    opt.step(theta, g)
    np.testing.assert_array_equal(theta, [1.0 - 0.05, -2.0 - 0.1, 0.5 + 0.4])


def test_momentum_two_steps():
    mu, eta = 0.9, 0.1
    opt = SGD(lr=eta, momentum=mu)
    opt.reset(2, np.float64)
    theta = np.array([1.0, 1.0])
    g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    opt.step(theta, g1)
    v1 = -eta * g1
    np.testing.assert_allclose(theta, [1.0, 1.0] + v1, rtol=1e-15)
    opt.step(theta, g2)
    v2 = mu * v1 - eta * g2
    np.testing.assert_allclose(theta, [1.0, 1.0] + v1 + v2, rtol=1e-15)


def test_nesterov_two_steps():
    mu, eta = 0.5, 0.2
    opt = SGD(lr=eta, momentum=mu, nesterov=True)
    opt.reset(1, np.float64)
    theta = np.array([2.0])
    opt.step(theta, np.array([1.0]))
    v1 = -0.2
    assert theta[0] == pytest.approx(2.0 + mu * v1 - eta * 1.0, rel=1e-15)  # 1.7
    opt.step(theta, np.array([-1.0]))
    v2 = mu * v1 + eta
    assert theta[0] == pytest.approx(1.7 + mu * v2 + eta, rel=1e-15)


def test_adam_first_steps_by_hand():
    eta, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = Adam(lr=eta, beta1=b1, beta2=b2, eps=eps)
    opt.reset(2, np.float64)
    theta = np.array([0.5, -0.5])
    g1 = np.array([2.0, -0.001])
    opt.step(theta, g1)
    # t = 1: m̂ = g, ŝ = g², so the step is η·g/(|g| + ε) ≈ η·sign(g)
    np.testing.assert_allclose(theta, [0.5, -0.5] - eta * g1 / (np.abs(g1) + eps), rtol=1e-14)
    before = theta.copy()
    g2 = np.array([-1.0, 3.0])
    opt.step(theta, g2)
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2
    s = b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2
    m_hat, s_hat = m / (1 - b1 ** 2), s / (1 - b2 ** 2)
    np.testing.assert_allclose(theta, before - eta * m_hat / (np.sqrt(s_hat) + eps),
                               rtol=1e-13)


def test_one_epoch_of_gd_in_fit_is_one_gradient_step(tutorial_net, sleep_scaled):
    X, y = sleep_scaled
    net = tutorial_net(0)
    _, g = net.loss_and_grad(X, y)
    expected = net.params - 0.5 * g
    net.fit(X, y, optimizer="gd", lr=0.5, epochs=1, verbose=0)
    np.testing.assert_allclose(net.params, expected, rtol=1e-15)
    # sgd over the whole set (batch_size=None) is the same thing
    net2 = tutorial_net(0)
    net2.fit(X, y, optimizer=SGD(lr=0.5), epochs=1, verbose=0)
    np.testing.assert_array_equal(net2.params, net.params)


def test_adam_in_fit_equals_hand_update(tutorial_net, sleep_scaled):
    X, y = sleep_scaled
    net = tutorial_net(0)
    _, g = net.loss_and_grad(X, y)
    expected = net.params - 0.05 * g / (np.abs(g) + 1e-8)
    net.fit(X, y, optimizer=Adam(lr=0.05), epochs=1, verbose=0)
    np.testing.assert_allclose(net.params, expected, rtol=1e-14)


def test_learning_rate_schedules():
    opt = SGD(lr=1.0, schedule="cosine")
    opt.set_epoch(0, 10)
    assert opt.current_lr == 1.0
    opt.set_epoch(5, 10)
    assert opt.current_lr == pytest.approx(0.5)
    step = SGD(lr=0.8, schedule="step", step_size=2, step_gamma=0.5)
    lrs = []
    for e in range(5):
        step.set_epoch(e, 5)
        lrs.append(step.current_lr)
    assert lrs == [0.8, 0.8, 0.4, 0.4, 0.2]
    custom = Adam(lr=0.1, schedule=lambda e, n: 1 / (1 + e))
    custom.set_epoch(3, 10)
    assert custom.current_lr == pytest.approx(0.025)
    assert custom.config()["schedule"] == "callable"
    with pytest.raises(InputError, match=r"unknown schedule 'linear'; choose one of constant, "
                                         r"cosine, step or pass a callable"):
        SGD(schedule="linear")


@pytest.mark.parametrize("make", [lambda: nl.optim.SGD(lr=0.1, momentum=0.9, schedule="step",
                                                       step_size=1),
                                  lambda: nl.optim.Adam(lr=0.1, schedule="step", step_size=1)])
def test_a_fresh_optimizer_keeps_the_schedule_set_before_its_first_step(make):
    """Used on its own (not by fit), the first step allocates the state: it must not
    also reset the schedule's factor (it did: a step of 0.1 instead of 0.025)."""
    opt = make()
    opt.set_epoch(2, 10)                       # step schedule, halved twice: 0.025
    params = np.zeros(3)
    opt.step(params, np.ones(3))
    assert opt.current_lr == pytest.approx(0.025)
    np.testing.assert_allclose(params, -0.025)   # momentum's and Adam's first step: η·g


def test_schedule_is_applied_in_fit(tutorial_net, sleep_scaled):
    """With a schedule that is 0 after the first epoch, only one step is taken."""
    X, y = sleep_scaled
    a, b = tutorial_net(0), tutorial_net(0)
    a.fit(X, y, optimizer="gd", lr=0.5, epochs=1, verbose=0)
    b.fit(X, y, optimizer=SGD(lr=0.5, schedule=lambda e, n: 1.0 if e == 0 else 0.0),
          epochs=5, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)


# ----------------------------------------------------------------------------- LM
def test_lm_refuses_cross_entropy_with_a_clear_message(blobs):
    X, labels = blobs
    net = nl.Network([2, 4, 3], output_activation="softmax", seed=0)
    before = net.get_params()
    with pytest.raises(InputError, match=re.escape(
            "optimizer 'lm' (Levenberg–Marquardt) needs a squared-error loss ('sse' or "
            "'mse'), got 'categorical_crossentropy'; use 'lbfgs' or 'adam' instead")):
        net.fit(X, labels, loss="categorical_crossentropy", optimizer="lm", verbose=0)
    np.testing.assert_array_equal(net.params, before)
    assert net.loss is None


def test_lm_jacobian_limit(sleep_scaled):
    X, y = sleep_scaled
    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler="max")
    with pytest.raises(JacobianTooLargeError, match=re.escape(
            "Levenberg–Marquardt needs a 3 x 9 Jacobian (216 bytes; limit 100 bytes) and a "
            "9 x 9 solve (limit 5000 parameters); use optimizer='lbfgs' or 'adam' for a "
            "problem this size, or raise LevenbergMarquardt(max_jacobian_bytes=..., "
            "max_params=...)")):
        net.fit(X, y, optimizer=LevenbergMarquardt(max_jacobian_bytes=100), verbose=0)
    assert not net.input_scaler.fitted  # refused before anything changed
    with pytest.raises(JacobianTooLargeError, match=r"a 9 x 9 solve \(limit 8 parameters\)"):
        net.fit(X, y, optimizer=LevenbergMarquardt(max_params=8), verbose=0)


def test_lm_default_limit_on_a_big_problem():
    """4,000 samples × 10 outputs × 330,000 parameters would be ~100 GiB."""
    with pytest.raises(JacobianTooLargeError, match=r"40000 x 330000 Jacobian \(98\.3 GiB; "
                                                    r"limit 1\.0 GiB\)"):
        LevenbergMarquardt().check_size(40000, 330000)
    LevenbergMarquardt().check_size(3000, 100)  # small: fine


def test_lm_with_mse_l2_and_biases():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 2))
    y = np.column_stack([np.sin(2 * X[:, 0]) * X[:, 1], X[:, 0] ** 2])
    net = nl.Network([2, 6, 2], activation="tanh", output_activation="identity",
                     init="xavier", seed=0)
    J0 = net.cost(X, y, loss="mse", l2=1e-4, normalize=True)
    h = net.fit(X, y, loss="mse", optimizer="lm", l2=1e-4, epochs=100, verbose=0)
    J = net.cost(X, y, loss="mse", l2=1e-4, normalize=True)
    assert J < 0.02 * J0
    assert h.final_loss == pytest.approx(J, rel=1e-10)  # LM's own cost is the network's


def test_lm_stops_on_a_callback(tutorial_net, sleep_scaled):
    calls = []
    cb = nl.LambdaCallback(on_epoch_end=lambda e, logs: calls.append(e))

    class StopAt2(nl.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    h = tutorial_net(0).fit(*sleep_scaled, optimizer="lm", verbose=0, callbacks=[cb, StopAt2()])
    assert calls == [0, 1]
    assert h.message == "stopped early at iteration 2"


# ----------------------------------------------------------------------------- objects
def test_registry_and_objects():
    assert list(OPTIMIZERS) == ["gd", "sgd", "adam", "bfgs", "lbfgs", "cg", "newton-cg", "lm"]
    for name, cls in [("gd", GradientDescent), ("sgd", SGD), ("adam", Adam), ("bfgs", BFGS),
                      ("lbfgs", LBFGS), ("cg", CG), ("newton-cg", NewtonCG),
                      ("lm", LevenbergMarquardt)]:
        opt = get_optimizer(name)
        assert type(opt) is cls and opt.name == name
        assert opt.full_batch == (name in ("bfgs", "lbfgs", "cg", "newton-cg", "lm"))
    opt = SGD(lr=0.5, momentum=0.9)
    assert get_optimizer(opt) is opt
    assert get_optimizer("sgd", lr=0.3).lr == 0.3
    assert repr(opt).startswith("SGD(lr=0.5, schedule=None")
    assert opt.config()["momentum"] == 0.9
    assert nl.optim.BFGS(max_iter=3, gtol=1e-9)._options(200) == {"maxiter": 3, "gtol": 1e-9}
    assert nl.optim.NewtonCG(gtol=1e-9)._options(10) == {"maxiter": 10, "xtol": 1e-9}


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(lr=0), "lr (the learning rate) must be a positive number, got 0"),
    (lambda: SGD(lr=float("nan")), "lr (the learning rate) must be a positive number"),
    (lambda: SGD(lr="fast"), "lr (the learning rate) must be a positive number, got 'fast'"),
    (lambda: SGD(momentum=1.0), "momentum must lie in [0, 1), got 1.0"),
    (lambda: SGD(nesterov=True), "nesterov=True needs a momentum > 0"),
    (lambda: Adam(beta1=1.0), "beta1 must lie in [0, 1), got 1.0"),
    (lambda: Adam(beta2=-0.1), "beta2 must lie in [0, 1), got -0.1"),
    (lambda: BFGS(max_iter=0), "max_iter must be a positive integer, got 0"),
    (lambda: LevenbergMarquardt(mu=0),
     "mu must be > 0, mu_max >= mu and mu_increase, mu_decrease > 1"),
    (lambda: LevenbergMarquardt(ftol=float("nan")), "ftol must be a number >= 0, got nan"),
    (lambda: Adam(eps=0), "eps must be > 0 (it keeps the step finite), got 0"),
    (lambda: BFGS(gtol=-1.0), "gtol must be a positive number or None, got -1.0"),
])
def test_bad_optimizer_settings(make, message):
    with pytest.raises(InputError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(lr=0.1, momentum="high"), "momentum must be a number, got 'high'"),
    (lambda: Adam(beta1=None), "beta1 must be a number, got None"),
    (lambda: LevenbergMarquardt(mu="small"), "mu must be a number, got 'small'"),
    (lambda: LevenbergMarquardt(max_jacobian_bytes="1G"),
     "max_jacobian_bytes must be a number, got '1G'"),
    (lambda: BFGS(gtol="tight"), "gtol must be a number, got 'tight'"),
])
def test_optimizer_settings_of_the_wrong_type(make, message):
    with pytest.raises(InputTypeError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("name", ["bfgs", "lbfgs", "cg", "newton-cg", "lm"])
def test_a_learning_rate_for_a_full_batch_optimizer_is_refused(tutorial_net, sleep_scaled,
                                                               name):
    with pytest.raises(InputError, match=re.escape(
            f"a learning rate (lr) is for gd, sgd and adam; optimizer {name!r} chooses its "
            "own step lengths, so leave lr out")):
        tutorial_net().fit(*sleep_scaled, optimizer=name, lr=0.1, verbose=0)


def test_lm_on_a_small_problem_runs_blas_on_one_thread():
    """A multi-threaded BLAS on a 193 × 193 damped solve mostly waits for its threads:
    on a busy two-core machine 200 iterations of this problem took 9 s instead of 0.2 s."""
    from threadpoolctl import threadpool_info

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(160, 2))
    y = X @ [[3.0], [6.0]] + rng.normal(0, 2, size=(160, 1))
    net = nl.Network([2, 16, 8, 1], activation="tanh", seed=0, input_scaler="standard",
                     output_scaler="standard")
    seen = []
    cb = nl.LambdaCallback(on_epoch_end=lambda e, logs: seen.extend(
        i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
    net.fit(X, y, loss="mse", optimizer="lm", epochs=3, verbose=0, callbacks=[cb])
    assert seen and all(n == 1 for n in seen)
