"""Chapter 10 of the tutorial: the frameworks agree with us, and the report shows it."""

from __future__ import annotations

import sys

import pytest

from neurallab import tutorial


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("ch10")
    run = tutorial.run_tutorial(out, seed=1, chapters="10")
    return run, out


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_chapter_10_numbers(chapter):
    run, _ = chapter
    assert run.results[0].skipped is None
    n = run.numbers
    # float64: PyTorch and ONNX Runtime to rounding (points on a 0-100 scale)
    assert n["ch10.tutorial_diff_torch"] < 1e-11
    assert n["ch10.tutorial_diff_onnx"] < 1e-11
    # Keras 3 multiplies float64 in float32 on the torch backend
    assert 0 < n["ch10.tutorial_diff_keras"] < 1e-3
    # backpropagation against autograd, and 100 gradient-descent steps
    assert n["ch10.grad_max_abs_diff"] < 1e-15
    assert n["ch10.grad_relative_error"] < 1e-13
    assert n["ch10.train_max_weight_diff"] < 1e-9
    # the float32 classifier: probabilities to float32 precision, the same classes
    assert n["ch10.classifier_accuracy"] > 0.7
    for fw in ("torch", "keras", "onnx"):
        assert n[f"ch10.classifier_diff_{fw}"] < 1e-5
        assert n[f"ch10.classifier_same_class_{fw}"] >= 0.999
        # out to the framework and back: the same parameters, so the same outputs
        assert n[f"ch10.round_trip_{fw}_max_diff"] == 0.0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_chapter_10_report(chapter):
    run, out = chapter
    result = run.results[0]
    assert result.figures == ["figures/ch10_frameworks.png"]
    assert (out / "figures" / "ch10_frameworks.png").stat().st_size > 10_000
    html = run.report.read_text()
    assert "Deep learning III" in html and "PyTorch autograd" in html
    assert "W2[2,0]" in html  # the gradient table, entry by entry


def test_chapter_10_is_skipped_with_the_pip_command_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    run = tutorial.run_tutorial(tmp_path, seed=1, chapters="10")
    assert 'pip install "neurallab[torch]"' in run.results[0].skipped


def test_a_missing_framework_fills_its_table_row_with_the_pip_command():
    """Keras or ONNX missing (PyTorch present): the row has as many cells as the header."""
    from neurallab.interop.compare import Comparison
    from neurallab.tutorial.ch10_frameworks import _comparison_rows

    results = {
        "torch": Comparison("torch", [[90.5]], 4e-14, "float64", "to_torch: Sequential"),
        "keras": Comparison("keras", None, float("nan"), "",
                            'chapter 10 needs Keras 3; install it with: pip install '
                            '"neurallab[keras]"'),
    }
    rows = _comparison_rows(results, lambda c: c.outputs[0][0])
    assert rows == [("PyTorch", "to_torch: Sequential", "float64", "90.500000", "4.00e-14"),
                    ("Keras 3", 'install it with: pip install "neurallab[keras]"',
                     "—", "—", "—")]
