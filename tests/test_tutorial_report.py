"""`neurallab tutorial` end to end, and the pieces of the report machinery.

The end-to-end test runs the real command into a temporary folder once, then checks
that the report and every figure exist and that the numbers it printed agree with
the library, computed again here independently of the tutorial's code.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab import cli, tutorial
from neurallab.activations import sigmoid, sigmoid_prime
from neurallab.errors import InputError
from neurallab.tutorial.core import ChapterResult, ChapterSkipped, fmt_duration, fmt_number
from neurallab.tutorial.report import render_report

SEED = 3


def tutorial_net(seed=SEED):
    return nl.Network([2, 3, 1], bias=False, seed=seed, input_scaler="max",
                      output_scaler=nl.preprocessing.MaxAbsScaler(100))


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run `neurallab tutorial` once; returns (out_dir, printed text, printed numbers)."""
    out = tmp_path_factory.mktemp("report")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        # chapters 1-7 explicitly: later chapters (images, interop) have tests of their own
        rc = cli.main(["tutorial", "--out", str(out), "--seed", str(SEED), "--chapters", "1-7"])
    assert rc == 0
    text = buf.getvalue()
    printed = {}
    for line in text.splitlines():
        m = re.fullmatch(r" {4}(.+): (\S+)(?: (\S+))?", line)
        if m:
            printed[m.group(1)] = float(m.group(2))
    return out, text, printed


@pytest.mark.slow
def test_report_and_every_figure_exist(run):
    out, text, _ = run
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"Report: {(out / 'index.html').resolve()}" in text
    figures = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(figures) == [f"figures/{n}.png" for n in (
        "ch01_data", "ch02_sigmoid", "ch02_untrained", "ch03_one_weight", "ch03_two_weights",
        "ch04_batch_vs_stochastic", "ch04_step_sizes", "ch05_gradient_check", "ch06_optimizers",
        "ch06_predictions", "ch06_score_surface", "ch07_costs", "ch07_surfaces")]
    on_disk = sorted(p.name for p in (out / "figures").iterdir())
    assert on_disk == sorted(f.split("/")[-1] for f in figures)
    for f in figures:
        with Image.open(out / f) as im:
            assert im.format == "PNG"
            assert im.size[0] >= 500 and im.size[1] >= 300
    for n in range(1, 8):
        assert f'<section id="ch{n}">' in page
        assert f"Chapter {n}. " in text
    assert "<script" not in page                       # self-contained, no scripts
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["seed"] == SEED and len(numbers["numbers"]) > 40


@pytest.mark.slow
def test_printed_numbers_agree_with_the_library(run):
    out, _, printed = run
    numbers = json.loads((out / "numbers.json").read_text())["numbers"]
    X, y = nl.datasets.sleep_study()

    # chapter 2: the untrained network's mean absolute error, in points
    untrained = tutorial_net()
    untrained.input_scaler.fit(X)                     # as fit() would: training maxima
    mae = np.abs(untrained.predict(X) - y).mean()
    assert printed["untrained mean absolute error"] == pytest.approx(mae, rel=1e-3)

    # chapter 5: relative errors of backpropagation and of a planted bug
    net = tutorial_net()
    Xs, ys = X / X.max(axis=0), y / 100
    rel = nl.check_gradients(net, Xs, ys).relative_error
    assert printed["relative error, library backpropagation"] == pytest.approx(rel, rel=1e-3)

    def forgot_output_derivative(net, X, y):
        W1, W2 = net.W
        z2 = X @ W1
        a2 = sigmoid(z2)
        yhat = sigmoid(a2 @ W2)
        d3 = -(y - yhat)                                   # the bug: no * f'(z3)
        d2 = (d3 @ W2.T) * sigmoid_prime(z2)
        return 0.0, np.concatenate([(X.T @ d2).ravel(), (a2.T @ d3).ravel()])

    bad = nl.check_gradients(net, Xs, ys, grad_fn=forgot_output_derivative).relative_error
    assert bad > 0.01
    assert printed["relative error, planted bug (no f′(z3))"] == pytest.approx(bad, rel=1e-3)
    assert numbers["ch5.relative_error_broken"] == pytest.approx(bad, rel=1e-12)

    # chapter 4: gradient descent with η = 20 for 300 steps; the cost *after* the last
    # step (History's loss is measured before each step, so it is one step behind)
    stepped = tutorial_net()
    gd = stepped.fit(X, y, optimizer=nl.optim.GradientDescent(lr=20.0), epochs=300, verbose=0)
    after = stepped.cost(Xs, ys, loss="sse")
    assert after < gd.final_loss
    assert printed["cost after 300 steps, η = 20"] == pytest.approx(after, rel=1e-3)

    # chapter 6: BFGS, and the answer to the question (8 h sleep, 3 h study)
    net = tutorial_net()
    h = net.fit(X, y, optimizer="bfgs", epochs=200, verbose=0)
    answer = net.predict([[8.0, 3.0]])[0, 0]
    assert printed["predicted score for 8 h sleep, 3 h study"] == pytest.approx(answer,
                                                                                 abs=0.01)
    assert numbers["ch6.prediction_8_3"] == pytest.approx(answer, rel=1e-9)
    assert printed["BFGS: iterations"] == len(h.history["loss"])

    # chapter 7: final test cost without and with λ = 1e-4 (scalers from training data)
    X_tr, y_tr, X_te, y_te = nl.datasets.sleep_study_extended()
    for label, l2 in (("no regularisation", 0.0), ("λ = 0.0001", 1e-4)):
        net = tutorial_net()
        h = net.fit(X_tr, y_tr, optimizer="bfgs", l2=l2, normalize=True, epochs=200,
                    validation_data=(X_te, y_te), verbose=0)
        assert printed[f"{label}: final test cost"] == pytest.approx(h.history["val_loss"][-1],
                                                                      rel=1e-3)
        assert net.input_scaler.scale_.tolist() == [10.0, 5.0]   # training maxima only


@pytest.mark.slow
def test_timing_table_is_extrapolated_from_the_measured_time(run):
    out, _, printed = run
    numbers = json.loads((out / "numbers.json").read_text())["timings"]
    per_eval = numbers["ch3.seconds_per_evaluation"]
    assert per_eval == pytest.approx(numbers["ch3.sweep_1_seconds"] / 1000)
    years = per_eval * 1000.0 ** 9 / (365.25 * 86400)
    assert numbers["ch3.years_for_all_weights"] == pytest.approx(years)
    assert printed["brute force over all 9 weights"] == pytest.approx(years, rel=1e-3)


# ---------------------------------------------------------------------------- pieces
def test_one_chapter_writes_its_own_figure_only(tmp_path):
    run = tutorial.run_tutorial(tmp_path, seed=0, chapters="1")
    assert [r.number for r in run.results] == [1]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["ch01_data.png"]
    page = run.report.read_text(encoding="utf-8")
    assert "ch01_data.png" in page and 'id="ch2"' not in page
    assert run.numbers["ch1.sleep_max"] == 10 and run.numbers["ch1.study_max"] == 5


def test_every_chapter_module_follows_the_contract():
    found = tutorial.available_chapters()
    assert list(found)[:7] == [1, 2, 3, 4, 5, 6, 7]
    for n in found:
        module = tutorial.load_chapter(n)
        assert isinstance(module.TITLE, str) and callable(module.run)


@pytest.mark.parametrize("spec,expected", [("1-3,5", [1, 2, 3, 5]), (" 2 ", [2]),
                                           ("3-3", [3]), ("7,1", [1, 7])])
def test_parse_chapters(spec, expected):
    assert tutorial.parse_chapters(spec) == expected


def test_parse_chapters_all_and_default():
    assert tutorial.parse_chapters("all") == list(tutorial.available_chapters())
    assert tutorial.parse_chapters(None) == tutorial.default_chapters()
    assert {1, 2, 3, 4, 5, 6, 7} <= set(tutorial.default_chapters())


@pytest.mark.parametrize("spec,message", [
    ("99", "no chapter 99 in this version; available: 1, 2, 3"),
    ("x", "'x' is not a number or a range; write e.g. 1-7"),
    ("5-3", "chapter range '5-3' runs backwards; write 3-5"),
    ("1,,2", "'' is not a number or a range"),
])
def test_parse_chapters_errors(spec, message):
    with pytest.raises(InputError, match=re.escape(message)):
        tutorial.parse_chapters(spec)


def test_run_tutorial_refuses_a_file_as_output_and_a_bad_seed(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="is a file; give a folder"):
        tutorial.run_tutorial(f, chapters="1")
    with pytest.raises(InputError, match="seed must be a non-negative integer"):
        tutorial.run_tutorial(tmp_path, seed=-1, chapters="1")


def test_a_skipped_chapter_is_reported_and_the_others_go_on(tmp_path, monkeypatch):
    class Missing:
        TITLE = "Needs data"

        @staticmethod
        def run(ctx):
            raise ChapterSkipped("the data set is not installed; see the README")

    real = tutorial.load_chapter
    monkeypatch.setattr(tutorial, "load_chapter", lambda n: Missing if n == 2 else real(n))
    run = tutorial.run_tutorial(tmp_path, chapters="1-2")
    assert run.results[1].skipped == "the data set is not installed; see the README"
    page = run.report.read_text(encoding="utf-8")
    assert "This chapter did not run here: the data set is not installed" in page


def test_report_escapes_text_and_numbers_figures():
    res = ChapterResult(9, "A <b>title</b> & more")
    res.add_text("x < y & <script>alert(1)</script>")
    res.add_equation("J = ½·Σ(y − ŷ)²")
    res.add_table(("a", "b"), [("<i>", 1.5)], caption="c & d")
    res.add_figure("figures/ch09_x.png", "first")
    res.add_figure("figures/ch09_y.png", "second")
    res.add_number("value", 0.000123, "a number", "units")
    page = render_report([res], seed=0, seconds=1.0)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &lt;b&gt;title&lt;/b&gt; &amp; more" in page
    assert "<td>&lt;i&gt;</td><td>1.5</td>" in page
    assert "Figure 9.1.</b> first" in page and "Figure 9.2.</b> second" in page
    assert "1.230e-04 units" in page


def test_backticks_in_text_set_code_and_stay_escaped():
    res = ChapterResult(5, "t")
    res.add_text("Run `neurallab gradcheck --rows <n>` on any model; a lone ` stays.")
    page = render_report([res], seed=0, seconds=1.0)
    assert ("Run <code>neurallab gradcheck --rows &lt;n&gt;</code> on any model; a lone ` "
            "stays.") in page


def test_chapter_result_refuses_duplicates_and_ragged_tables():
    res = ChapterResult(1, "t")
    assert res.add_number("a", 2, "a") == 2.0
    with pytest.raises(ValueError, match="ch1.a recorded twice"):
        res.add_number("a", 3, "a")
    with pytest.raises(ValueError, match="has 1 cells for 2 columns"):
        res.add_table(("x", "y"), [("1",)])
    res.add_text("  several\n   spaces  ")
    assert res.paragraphs == ["several spaces"]


@pytest.mark.parametrize("value,text", [(3, "3"), (0.5, "0.5"), (2 / 3, "0.6667"),
                                        (1.23e-5, "1.230e-05"), (999999, "999999"),
                                        (2.5e7, "2.500e+07"), (float("nan"), "nan")])
def test_fmt_number(value, text):
    assert fmt_number(value) == text


@pytest.mark.parametrize("seconds,text", [(2.5e-5, "25 µs"), (0.0264, "26.4 ms"),
                                          (26.4, "26.4 seconds"), (7200, "2 hours"),
                                          (86400 * 3, "3 days"),
                                          (365.25 * 86400 * 836, "836 years"),
                                          (365.25 * 86400 * 8.36e14, "8.36e+14 years")])
def test_fmt_duration(seconds, text):
    assert fmt_duration(seconds) == text
