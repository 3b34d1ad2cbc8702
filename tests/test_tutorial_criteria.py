"""The tutorial's results, reproduced over seeds 0..19 (chapters 6 and 7).

* Chapter 6: BFGS, at most 200 iterations, reaches a cost below 1e-6 for at least 15
  of 20 seeds, and those networks predict the three training scores within 0.5
  points; Levenberg–Marquardt gets to the same cost in fewer iterations.
* Chapter 7: without regularisation the test cost ends at least 5% above its own
  minimum while the training cost keeps falling (overfitting, at least 15 seeds);
  with λ = 1e-4 the final test cost is lower than without (at least 15 seeds).

Everything in raw units: inputs scaled by the training maxima (``input_scaler="max"``,
fitted on the training set only), scores by 100, the maximum possible score.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurallab as nl

SEEDS = range(20)


def tutorial_model(seed: int) -> nl.Network:
    return nl.Network([2, 3, 1], activation="sigmoid", output_activation="sigmoid",
                      bias=False, init="normal", seed=seed, input_scaler="max",
                      output_scaler=nl.preprocessing.MaxAbsScaler(100))


@pytest.fixture(scope="module")
def chapter6():
    """Per seed: (BFGS history, max |prediction − score| in points, LM history)."""
    X, y = nl.datasets.sleep_study()
    runs = {}
    for seed in SEEDS:
        net = tutorial_model(seed)
        h_bfgs = net.fit(X, y, optimizer="bfgs", epochs=200, verbose=0)
        err = float(np.abs(net.predict(X) - y).max())
        h_lm = tutorial_model(seed).fit(X, y, optimizer="lm", epochs=200, verbose=0)
        runs[seed] = (h_bfgs, err, h_lm)
    return runs


@pytest.fixture(scope="module")
def chapter7():
    """Per seed and λ: (training costs, test costs) at every BFGS iteration."""
    X_train, y_train, X_test, y_test = nl.datasets.sleep_study_extended()
    runs = {}
    for seed in SEEDS:
        for lam in (0.0, 1e-4):
            net = tutorial_model(seed)
            h = net.fit(X_train, y_train, optimizer="bfgs", epochs=200, l2=lam,
                        normalize=True, validation_data=(X_test, y_test), verbose=0)
            # the scaler came from the training inputs, never the test set
            np.testing.assert_array_equal(net.input_scaler.scale_, X_train.max(axis=0))
            runs[seed, lam] = (np.array(h.history["loss"]), np.array(h.history["val_loss"]))
    return runs


def test_bfgs_fits_the_three_students(chapter6):
    converged = [s for s, (h, _, _) in chapter6.items() if h.final_loss < 1e-6]
    assert len(converged) >= 15, {s: h.final_loss for s, (h, _, _) in chapter6.items()}
    for s in converged:
        h, err, _ = chapter6[s]
        assert len(h.history["loss"]) <= 200
        assert err < 0.5, (s, err)


def test_levenberg_marquardt_needs_fewer_iterations(chapter6):
    for s, (h_bfgs, _, h_lm) in chapter6.items():
        bfgs = np.array(h_bfgs.history["loss"])
        lm = np.array(h_lm.history["loss"])
        target = bfgs[-1]  # the cost BFGS ends with
        reached = np.flatnonzero(lm <= target)
        assert reached.size, (s, target, lm[-1])
        assert reached[0] + 1 < bfgs.size, (s, reached[0] + 1, bfgs.size)
        if target < 1e-6:  # and to the criterion's 1e-6, where both get there
            assert np.argmax(lm < 1e-6) < np.argmax(bfgs < 1e-6), s


def test_without_regularisation_the_test_cost_turns_up(chapter7):
    overfit = []
    for s in SEEDS:
        train, test = chapter7[s, 0.0]
        best = int(np.argmin(test))
        if test[-1] >= 1.05 * test[best] and train[-1] < train[best]:
            overfit.append(s)
    assert len(overfit) >= 15, overfit


def test_regularisation_lowers_the_final_test_cost(chapter7):
    better = [s for s in SEEDS if chapter7[s, 1e-4][1][-1] < chapter7[s, 0.0][1][-1]]
    assert len(better) >= 15, better
