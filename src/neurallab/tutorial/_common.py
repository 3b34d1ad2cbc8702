"""Pieces chapters 1–7 share: the tutorial's network and its data in network units."""

from __future__ import annotations

import numpy as np

from .. import datasets
from ..network import Network
from ..preprocessing import MaxAbsScaler

#: the question of chapter 1: 8 hours of sleep, 3 hours of study
QUESTION = np.array([[8.0, 3.0]])
SLEEP_RANGE = (0.0, 10.0)
STUDY_RANGE = (0.0, 5.0)
#: step sizes η for chapter 4 (and plain gradient descent in chapter 6), chosen once by
#: trying: small enough to crawl, a working one, and one so large it overshoots
LR_SMALL, LR_GOOD, LR_LARGE = 0.5, 20.0, 500.0


def tutorial_network(seed: int) -> Network:
    """The 2-3-1 sigmoid network without biases, inputs ÷ column maximum, scores ÷ 100."""
    return Network([2, 3, 1], bias=False, seed=seed, input_scaler="max",
                   output_scaler=MaxAbsScaler(datasets.SCORE_SCALE))


def tutorial_setup(seed: int):
    """Chapter 1's data and a fresh tutorial network with its scalers fitted on it.

    Returns
    -------
    net : Network
    X : ndarray, shape (3, 2)
        Hours of sleep and study.
    y : ndarray, shape (3, 1)
        Scores in points.
    Xs, ys : ndarray
        The same in the network's units (÷ column maxima, ÷ 100).
    """
    X, y = datasets.sleep_study()
    net = tutorial_network(seed)
    Xs, ys = scaled_data(net, X, y)
    return net, X, y, Xs, ys


def scaled_data(net: Network, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` in the network's units, fitting its scalers on them if needed."""
    if not net.input_scaler.fitted:
        net.input_scaler.fit(X)
    if not net.output_scaler.fitted:
        net.output_scaler.fit(y)
    return net.input_scaler.transform(X), net.output_scaler.transform(y)


def score_grid(net: Network, n_sleep: int = 101, n_study: int = 51,
               study_max: float = STUDY_RANGE[1]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted score over sleep 0–10 h × study 0–``study_max`` h (5 by default).

    Returns
    -------
    sleep : ndarray, shape (n_sleep,)
    study : ndarray, shape (n_study,)
    scores : ndarray, shape (n_study, n_sleep)
        ``scores[i, j]`` is the prediction for ``(sleep[j], study[i])``, in points.
    """
    sleep = np.linspace(*SLEEP_RANGE, n_sleep)
    study = np.linspace(STUDY_RANGE[0], study_max, n_study)
    S, T = np.meshgrid(sleep, study)
    scores = net.predict(np.column_stack([S.ravel(), T.ravel()])).reshape(S.shape)
    return sleep, study, scores


def student_labels(X: np.ndarray) -> list[str]:
    """``"3 h / 5 h"`` for each row (sleep / study), for axis ticks and table rows."""
    return [f"{s:g} h / {t:g} h" for s, t in X]
