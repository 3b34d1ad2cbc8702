"""The tutorial's own data (chapters 1 and 7), in raw units: hours and points."""

from __future__ import annotations

import numpy as np

__all__ = ["sleep_study", "sleep_study_extended", "SCORE_SCALE"]

#: scores are divided by the maximum possible score, 100, not by the largest score seen
SCORE_SCALE = 100.0


def sleep_study() -> tuple[np.ndarray, np.ndarray]:
    """Hours of (sleep, study) and test scores of three students (chapter 1).

    Returns
    -------
    X : ndarray, shape (3, 2)
        Hours of sleep, hours of study.
    y : ndarray, shape (3, 1)
        Test scores in points (0–100).
    """
    X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]])
    y = np.array([[75.0], [82.0], [93.0]])
    return X, y


def sleep_study_extended() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chapter 7's data: four training students and a separate test set of four.

    Returns
    -------
    X_train : ndarray, shape (4, 2)
    y_train : ndarray, shape (4, 1)
    X_test : ndarray, shape (4, 2)
    y_test : ndarray, shape (4, 1)
    """
    X_train = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0], [6.0, 1.5]])
    y_train = np.array([[75.0], [82.0], [93.0], [70.0]])
    X_test = np.array([[4.0, 5.5], [4.5, 1.0], [9.0, 2.5], [6.0, 2.0]])
    y_test = np.array([[70.0], [89.0], [85.0], [75.0]])
    return X_train, y_train, X_test, y_test
