"""Figures with long class names and odd sizes: nothing cut off, nothing run together,
and the right class marked."""

from __future__ import annotations

import numpy as np
import pytest
from figure_checks import overlapping_titles, texts_cut_off

from neurallab import classify as C
from neurallab import classify_plots, imageplots
from neurallab.datasets.prepare import class_balance

LONG = ["T-shirt or top (short sleeves)", "Trouser", "Pullover knit", "Dress", "Coat",
        "Sandal", "Shirt with collar", "Sneaker", "Handbag and shoulder bag", "Ankle boot"]
SHORT = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"]


def report(names, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    k = len(names)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.8, y, rng.integers(0, k, n))
    proba = np.full((n, k), 0.004 / (k - 1))
    proba[np.arange(n), p] = 0.996
    cm = C.confusion_matrix(y, p, k)
    ones = np.ones(k)
    return C.ClassificationReport(accuracy=float((y == p).mean()), confusion=cm,
                                  precision=ones, recall=ones, f1=ones,
                                  support=np.bincount(y, minlength=k), class_names=names,
                                  y_true=y, y_pred=p, proba=proba)


@pytest.mark.parametrize("names", [SHORT, LONG])
@pytest.mark.parametrize("n", [500, 10_000])   # four-digit counts on the colour bar
def test_confusion_matrix_figure_keeps_every_label(names, n):
    assert texts_cut_off(classify_plots.confusion_figure(report(names, n))) == []


@pytest.mark.parametrize("names", [SHORT, LONG])
def test_misclassified_captions_neither_overlap_nor_leave_the_figure(names):
    r = report(names)
    images = np.random.default_rng(1).integers(0, 256, (r.n, 28, 28), dtype=np.uint8)
    fig = classify_plots.misclassified_figure(images, r)
    assert texts_cut_off(fig) == [] and overlapping_titles(fig) == []
    # a 99.6 % mistake reads 99.6 %, not a rounded "100%"
    assert all("(99.6%)" in ax.get_title() for ax in fig.axes if ax.get_title())


@pytest.mark.parametrize("names", [SHORT, LONG, ["A", "B"]])
@pytest.mark.parametrize("per_class", [1, 4, 12])
def test_class_sample_grid_keeps_its_labels_and_title(names, per_class):
    k = len(names)
    images = np.random.default_rng(0).integers(0, 256, (20 * k, 28, 28), dtype=np.uint8)
    fig = imageplots.plot_class_samples(images, np.arange(20 * k) % k, names,
                                        per_class=per_class)
    assert texts_cut_off(fig) == []


def test_the_balance_figure_marks_the_flagged_class_itself():
    counts = [61] * 10
    counts[2] = 16                                  # Pullover: far below the rest
    labels = np.repeat(np.arange(10), counts)
    rep = class_balance({"train": labels}, SHORT)
    assert list(rep.flagged) == [2]
    fig = imageplots.plot_class_balance(rep)
    red = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_color() == "red"]
    assert red == ["Pullover"]
