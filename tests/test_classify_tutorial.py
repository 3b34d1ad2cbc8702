"""Tutorial chapters 8 and 9 on the shipped sample (and --full, pointed at the sample)."""

from __future__ import annotations

import json

import pytest

import neurallab as nl
from neurallab.tutorial import Context, load_chapter, run_tutorial


def test_chapter_8_loads_checks_splits_and_stores(tmp_path):
    res = load_chapter(8).run(Context(tmp_path, seed=1))
    n = res.numbers
    assert n["ch8.folder_skipped"].value == 3       # empty, truncated, text-as-PNG
    assert n["ch8.folder_loaded"].value == 10 * 12 + 1   # 12 per class + the resized one
    assert n["ch8.balance_ratio"].value == 1.0        # the sample is stratified
    assert 0.2 < n["ch8.mean_unit"].value < 0.4
    # seed 1 puts one near copy (train/test similarity 0.99) across the split, and it
    # is found and drawn
    assert n["ch8.leaked_test"].value == 1
    assert res.figures == ["figures/ch08_samples.png", "figures/ch08_balance.png",
                           "figures/ch08_duplicates.png"]
    for f in res.figures:
        assert (tmp_path / f).stat().st_size > 5000
    text = " ".join(res.paragraphs)
    assert "read back identical" in text


def test_full_flag_reaches_the_chapters(tmp_path, monkeypatch):
    calls = []

    def fake_full():
        calls.append(1)
        return nl.datasets.fashion_mnist_sample()

    monkeypatch.setattr(nl.datasets, "load_fashion_mnist", fake_full)
    run = run_tutorial(tmp_path, chapters="8", full=True)
    assert calls == [1]
    assert "all of Fashion-MNIST" in " ".join(run.results[0].paragraphs)


def test_chapter_9_data_missing_skips_with_the_reason(tmp_path, monkeypatch):
    from neurallab.errors import DatasetNotFoundError

    def missing():
        raise DatasetNotFoundError("Fashion-MNIST not found; apt install dataset-fashion-mnist")

    monkeypatch.setattr(nl.datasets, "load_fashion_mnist", missing)
    run = run_tutorial(tmp_path, chapters="9", full=True)
    assert "apt install dataset-fashion-mnist" in run.results[0].skipped


@pytest.mark.slow
def test_chapter_9_network_beats_the_baseline_on_the_sample(tmp_path):
    run = run_tutorial(tmp_path, chapters="9", seed=1)
    numbers = json.loads(run.numbers_file.read_text())["numbers"]
    assert numbers["ch9.network_accuracy_3000"] > numbers["ch9.baseline_accuracy_3000"]
    assert numbers["ch9.baseline_accuracy_50"] > 0.3          # chance is 0.1
    assert numbers["ch9.test_accuracy"] > 0.78
    figures = run.results[0].figures
    assert figures == ["figures/ch09_learning_curve.png", "figures/ch09_training.png",
                       "figures/ch09_confusion.png", "figures/ch09_misclassified.png"]
    assert all((tmp_path / f).exists() for f in figures)
    html = run.report.read_text()
    assert "Deep learning II" in html and "softmax regression" in html
