"""The command line: train → predict round trips, gradcheck, info, help and every error case."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neurallab as nl
from neurallab import cli
from neurallab.commands.train import infer_task
from neurallab.datasets.csv import format_csv, read_csv
from neurallab.errors import InputError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def table_csv(path, header, rows):
    return write(path, format_csv(header, rows))


def run(capsys, *argv):
    """``neurallab ARGV`` in-process; returns (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def parse(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


@pytest.fixture
def scores(tmp_path):
    """A regression CSV (sleep, study → score) and a second one with new rows."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 10, 60), rng.uniform(0, 5, 60)])
    y = 50 + 3 * X[:, 0] + 6 * X[:, 1] + rng.normal(0, 1, 60)
    train = table_csv(tmp_path / "scores.csv", ["sleep", "study", "score"],
                      [[*x, t] for x, t in zip(X, y, strict=True)])
    X_new = np.column_stack([rng.uniform(0, 10, 7), rng.uniform(0, 5, 7)])
    # a different column order and an extra column: predict picks inputs by name
    new = table_csv(tmp_path / "new.csv", ["study", "name", "sleep"],
                    [[x[1], f"s{i}", x[0]] for i, x in enumerate(X_new)])
    return train, new, X_new


@pytest.fixture
def species(tmp_path):
    rng = np.random.default_rng(1)
    names = ["setosa", "versicolor", "virginica"]
    rows, X = [], []
    for i in range(60):
        k = i % 3
        x = rng.normal([2.0 * k, k], 0.4)
        X.append(x)
        rows.append([*x, names[k]])
    return table_csv(tmp_path / "species.csv", ["x1", "x2", "species"], rows), np.array(X)


def test_train_counts_in_the_singular_for_one(capsys, tmp_path):
    """One input, one validation row, one iteration: no '1 inputs', '1 rows'."""
    data = table_csv(tmp_path / "one.csv", ["a", "y"], [[1, 2], [2, 4], [3, 6], [4, 8]])
    model = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", data, "--target", "y", "--out", model, "--quiet",
                         "--val-split", "0.25", "--epochs", "1")
    assert code == 0, err
    assert "1 input (a) -> y; 3 training rows, 1 validation row" in err
    assert "with bfgs: 1 iteration in" in out
    assert "(y, 3 rows)" in out and "(y, 1 row)" in out


# ---------------------------------------------------------------------------- round trips
def test_regression_round_trip_agrees_with_the_python_api(capsys, scores, tmp_path):
    train, new, X_new = scores
    model = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", train, "--target", "score", "--out", model,
                         "--quiet", "--seed", "0")
    assert code == 0, err
    assert "regression (column 'score' holds numbers)" in err
    assert "48 training rows, 12 validation rows" in err
    assert re.search(r"validation RMSE: [\d.]+", out) and f"saved {model}" in out
    assert nl.load(model).meta["csv"] == {"features": ["sleep", "study"], "target": "score",
                                          "task": "regression", "n_train": 48}

    code, out, err = run(capsys, "predict", model, new)
    assert code == 0, err
    header, rows = parse(out)
    assert header == ["sleep", "study", "score"]
    net = nl.load(model)
    expected = net.predict(X_new)[:, 0]
    got = np.array([float(r[2]) for r in rows])
    np.testing.assert_array_equal(got, expected)              # repr round-trips exactly
    np.testing.assert_array_equal(np.array([[float(r[0]), float(r[1])] for r in rows]), X_new)
    # the scaling travelled in the model: raw units in, raw units out
    assert net.input_scaler.kind == "standard" and net.output_scaler.kind == "standard"
    assert 40 < got.mean() < 110

    printed = out
    target = tmp_path / "pred.csv"
    code, out, err = run(capsys, "predict", model, new, "--out", target)
    assert code == 0 and out == "" and f"wrote 7 predictions to {target}" in err
    assert target.read_text(encoding="utf-8") == printed

    code, out, _ = run(capsys, "predict", model, "--values", "8,3", "--values", "5, 1")
    header, rows = parse(out)
    np.testing.assert_array_equal([float(r[2]) for r in rows],
                                  net.predict([[8, 3], [5, 1]])[:, 0])


def test_classification_round_trip_stores_class_names(capsys, species, tmp_path):
    path, X = species
    model = tmp_path / "c.safetensors"
    code, out, err = run(capsys, "train", path, "--target", "species", "--hidden", "4",
                         "--l2", "1e-3", "--out", model, "--quiet")
    assert code == 0, err
    assert "classification (column 'species' holds text)" in err
    assert re.search(r"validation accuracy: \d+\.\d%", out)
    net = nl.load(model)
    assert net.class_names == ["setosa", "versicolor", "virginica"]
    assert net.layer_sizes == [2, 4, 3] and net.output_activation.name == "softmax"

    code, out, _ = run(capsys, "predict", model, path)
    header, rows = parse(out)
    assert header == ["x1", "x2", "species", "p(setosa)", "p(versicolor)", "p(virginica)"]
    labels = net.predict(X)
    assert [r[2] for r in rows] == [net.class_names[k] for k in labels]
    np.testing.assert_array_equal(np.array([[float(c) for c in r[3:]] for r in rows]),
                                  net.predict_proba(X))
    assert np.mean([r[2] for r in rows] == np.array(["setosa", "versicolor", "virginica"] * 20)
                   ) > 0.9


def test_task_is_inferred_from_the_target_column(tmp_path):
    labels = table_csv(tmp_path / "a.csv", ["x", "y"], [[i, i % 2] for i in range(10)])
    assert infer_task(read_csv(labels), "y")[0] == "classification"
    # the tutorial's scores: three distinct integers in three rows are measurements
    tut = write(tmp_path / "t.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n")
    assert infer_task(read_csv(tut), "score") == ("regression", "column 'score' holds numbers")
    frac = table_csv(tmp_path / "f.csv", ["x", "y"], [[i, i % 2 + 0.5] for i in range(10)])
    assert infer_task(read_csv(frac), "y")[0] == "regression"


def test_integer_classes_and_task_override(capsys, tmp_path):
    rows = [[i / 10, float(i >= 10)] for i in range(20)]
    path = table_csv(tmp_path / "b.csv", ["x", "label"], rows)
    model = tmp_path / "b.safetensors"
    code, _, err = run(capsys, "train", path, "--target", "label", "--out", model, "--quiet")
    assert code == 0 and "2 distinct integers" in err
    assert nl.load(model).class_names == ["0", "1"]
    code, _, err = run(capsys, "train", path, "--target", "label", "--out", model, "--quiet",
                       "--task", "regression", "--val-split", "0")
    assert code == 0 and "regression (--task)" in err and nl.load(model).class_names is None


def test_integer_classes_of_seven_digits_keep_distinct_names(capsys, tmp_path):
    """{:g} wrote both 1234567 and 1234568 as 1.23457e+06: two classes of one name,
    which predict could not tell apart and the web app refused. Each gets its digits."""
    rows = [[i / 10, 1234567 + (i >= 10)] for i in range(20)]
    path = table_csv(tmp_path / "ids.csv", ["x", "id"], rows)
    model = tmp_path / "ids.safetensors"
    code, _, err = run(capsys, "train", path, "--target", "id", "--out", model, "--quiet")
    assert code == 0 and "2 distinct integers" in err
    assert nl.load(model).class_names == ["1234567", "1234568"]
    code, out, _ = run(capsys, "predict", model, "--values", "0")
    assert code == 0 and out.splitlines()[0] == "x,id,p(1234567),p(1234568)"
    code, out, _ = run(capsys, "gradcheck", "--model", model, "--data", path)
    assert code == 0 and "OK" in out


def test_train_options_reach_the_network(capsys, scores, tmp_path):
    train, _, _ = scores
    model = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "train", train, "--target", "score", "--features", "sleep",
                         "--hidden", "5,2", "--activation", "tanh", "--optimizer", "adam",
                         "--lr", "0.01", "--batch-size", "8", "--epochs", "3", "--out", model,
                         "--quiet", "--scaler", "max")
    assert code == 0, err
    net = nl.load(model)
    assert net.layer_sizes == [1, 5, 2, 1] and net.activation.name == "tanh"
    assert net.meta["csv"] == {"features": ["sleep"], "target": "score", "task": "regression",
                                "n_train": 48}
    assert net.input_scaler.kind == "max" and "3 epochs" in out


def test_info_describes_the_model(capsys, scores, tmp_path):
    train, _, _ = scores
    model = tmp_path / "m.safetensors"
    run(capsys, "train", train, "--target", "score", "--out", model, "--quiet")
    code, out, _ = run(capsys, "info", model)
    assert code == 0
    assert "neurallab model, format version 1" in out
    assert "Network 2-3-1  (13 parameters, float64)" in out
    assert "task: regression; inputs: sleep, study; target: score; trained on 48 rows" in out
    assert "input scaling: standard (scale [" in out


def test_units_are_stored_and_shown(capsys, scores, tmp_path):
    train, _, _ = scores
    model = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", train, "--target", "score", "--out", model, "--quiet",
                       "--units", "sleep=hours, score = points")
    assert code == 0, err
    assert nl.load(model).meta["csv"]["units"] == {"sleep": "hours", "score": "points"}
    _, out, _ = run(capsys, "info", model)
    assert "inputs: sleep (hours), study; target: score (points); trained on 48 rows" in out


@pytest.mark.parametrize("units, message", [
    ("sleep", "--units needs COLUMN=UNIT pairs separated by commas, e.g. sleep=hours; "
              "got 'sleep'"),
    ("sleep=", "--units needs COLUMN=UNIT pairs separated by commas, e.g. sleep=hours; "
               "got 'sleep='"),
    ("age=years", "--units names 'age', which the model does not use; its columns are "
                  "sleep, study, score"),
    ("sleep=h,sleep=hours", "--units gives 'sleep' twice; give each column once"),
])
def test_bad_units_are_named_and_nothing_is_trained(capsys, scores, tmp_path, units, message):
    train, _, _ = scores
    model = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", train, "--target", "score", "--out", model, "--quiet",
                       "--units", units)
    assert code == 2 and not model.exists()
    assert err.strip() == f"neurallab train: error: {message}"


# ---------------------------------------------------------------------------- gradcheck
def test_gradcheck_default_is_the_tutorial_network(capsys):
    from neurallab.tutorial import DEFAULT_SEED

    code, out, _ = run(capsys, "gradcheck")
    assert code == 0
    net = nl.Network([2, 3, 1], bias=False, seed=DEFAULT_SEED)
    X, y = nl.datasets.sleep_study()
    rel = nl.check_gradients(net, X / X.max(axis=0), y / 100).relative_error
    assert f"= {rel:.3e}  (OK: threshold 1e-07)" in out
    assert f"the tutorial network (seed {DEFAULT_SEED}): 9 parameters, loss sse" in out


def test_gradcheck_on_a_saved_model(capsys, species, tmp_path):
    path, _ = species
    model = tmp_path / "c.safetensors"
    run(capsys, "train", path, "--target", "species", "--out", model, "--quiet",
        "--epochs", "5")
    code, out, _ = run(capsys, "gradcheck", "--model", model, "--data", path, "--rows", "9")
    assert code == 0, out
    assert "on 9 rows of" in out and "loss categorical_crossentropy" in out
    code, out, _ = run(capsys, "gradcheck", "--model", model, "--data", path, "--reinit",
                       "--seed", "2", "--threshold", "1e-300")
    assert code == 1 and "FAILED: threshold 1e-300" in out and "fresh weights, seed 2" in out
    # without --seed, --reinit draws the tutorial's seed: the same check twice
    from neurallab.tutorial import DEFAULT_SEED

    outs = [run(capsys, "gradcheck", "--model", model, "--data", path, "--reinit")[1]
            for _ in range(2)]
    assert outs[0] == outs[1] and f"fresh weights, seed {DEFAULT_SEED}" in outs[0]


# ---------------------------------------------------------------------------- errors
def assert_one_line_error(code, err, message, command):
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"neurallab {command}: error: ")
    assert message in lines[-1], lines[-1]


def test_missing_csv_file(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path / "nope.csv", "--target", "y", "--out",
                       tmp_path / "m.safetensors")
    assert_one_line_error(code, err, f"file {tmp_path / 'nope.csv'} does not exist; check the "
                          "path", "train")


def test_non_numeric_cell_names_line_and_column(capsys, tmp_path):
    path = write(tmp_path / "bad.csv", "sleep,study,score\n3,5,75\n5,abc,82\n10,2,93\n")
    code, _, err = run(capsys, "train", path, "--target", "score", "--out",
                       tmp_path / "m.safetensors")
    assert_one_line_error(code, err, f"{path}, line 3, column 'study': 'abc' is not a number; "
                          "fix the cell or remove the row", "train")


def test_missing_target_column_lists_the_columns(capsys, tmp_path):
    path = write(tmp_path / "d.csv", "sleep,study,score\n3,5,75\n5,1,82\n")
    code, _, err = run(capsys, "train", path, "--target", "grade", "--out",
                       tmp_path / "m.safetensors")
    assert_one_line_error(code, err, f"{path} has no column 'grade'; its columns are: sleep, "
                          "study, score", "train")


@pytest.mark.parametrize("content", [b"hello, I am text\n", b"\x00" * 16, b""])
def test_a_file_that_is_not_a_model(capsys, tmp_path, content):
    path = tmp_path / "fake.safetensors"
    path.write_bytes(content)
    for command in (["predict", path, "--values", "1,2"], ["info", path]):
        code, _, err = run(capsys, *command)
        assert_one_line_error(code, err, f"{path} is not a readable .safetensors model",
                              command[0])


def test_a_foreign_safetensors_file_is_not_a_model(capsys, tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": np.zeros(3)}, str(path))
    code, _, err = run(capsys, "info", path)
    assert_one_line_error(code, err, "is a safetensors file but not a neurallab model", "info")


def test_missing_model_file(capsys, tmp_path):
    code, _, err = run(capsys, "predict", tmp_path / "none.safetensors", "--values", "1,2")
    assert_one_line_error(code, err, "does not exist", "predict")


@pytest.fixture
def model(capsys, tmp_path):
    path = write(tmp_path / "tut.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n6,1.5,70\n")
    m = tmp_path / "tut.safetensors"
    code, _, err = run(capsys, "train", path, "--target", "score", "--out", m, "--quiet",
                       "--val-split", "0")
    assert code == 0, err
    return m


@pytest.mark.parametrize("argv,message,exit_code", [
    (["--values", "1,2,3"], "--values '1,2,3' has 3 numbers but the model takes 2 inputs", 2),
    (["--values", "1,x"], "--values '1,x': give numbers separated by commas, e.g. 8,3", 2),
    (["--values", "1,nan"], "every value must be a finite number", 2),
    ([], "give either a CSV file or --values", 2),
])
def test_predict_input_errors(capsys, model, argv, message, exit_code):
    code, _, err = run(capsys, "predict", model, *argv)
    assert code == exit_code
    assert_one_line_error(code, err, message, "predict")


def test_predict_csv_without_the_model_columns(capsys, model, tmp_path):
    path = write(tmp_path / "other.csv", "a,b\n1,2\n")
    code, _, err = run(capsys, "predict", model, path)
    assert_one_line_error(code, err, "lacks the model's input column(s) sleep, study; the "
                          "model needs sleep, study and the file has a, b", "predict")


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,2\n3,\n4,5\n", "line 3, column 'b': the cell is empty; fill it in or remove "
     "the row"),
    ("a,b\n1,x\n,y\n", "line 3, column 'a': the cell is empty"),
    ("a,b\n1,x\n2,\n", "line 3, column 'b': the class is empty"),
    ("a,b\n1,2\n3\n", "line 3: 1 cells, but the header has 2 columns (a, b)"),
    ("a,b\n1,inf\n", "line 2, column 'b': 'inf' is not a finite number"),
    ("a,b\n", "has a header (a, b) but no data rows"),
    ("", "is empty; it needs a header row and at least one data row"),
    ("a,a\n1,2\n", "column name 'a' appears twice"),
    ("a,,c\n1,2,3\n", "line 1: column 2 has no name"),
    ("1,2\n3,4\n", "looks like data, not column names; add a header row"),
])
def test_csv_errors_say_where_and_what_to_do(capsys, tmp_path, text, message):
    path = write(tmp_path / "x.csv", text)
    code, _, err = run(capsys, "train", path, "--target", "b", "--out",
                       tmp_path / "m.safetensors")
    assert_one_line_error(code, err, message, "train")


@pytest.mark.parametrize("extra,message", [
    (["--hidden", "3,x"], "--hidden '3,x': give layer sizes as integers"),
    (["--hidden", "0,3"], "every hidden layer needs at least one unit"),
    (["--val-split", "0.9"], "--val-split 0.9 leaves 4 of 4 rows for validation"),
    (["--val-split", "1.5"], "--val-split must lie in [0, 1)"),
    (["--features", "sleep,score"], "--features includes the target column 'score'"),
    (["--optimizer", "nope"], "unknown optimizer 'nope'"),
    (["--activation", "nope"], "nope"),
])
def test_train_option_errors(capsys, tmp_path, extra, message):
    path = write(tmp_path / "tut.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n6,1.5,70\n")
    code, _, err = run(capsys, "train", path, "--target", "score", "--out",
                       tmp_path / "m.safetensors", "--quiet", *extra)
    assert_one_line_error(code, err, message, "train")


def test_train_refuses_a_missing_output_folder_before_training(capsys, tmp_path):
    path = write(tmp_path / "tut.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n")
    out = tmp_path / "no" / "m.safetensors"
    code, _, err = run(capsys, "train", path, "--target", "score", "--out", out)
    assert_one_line_error(code, err, f"folder {out.parent} does not exist; create it first",
                          "train")
    assert "training rows" not in err


def test_train_refuses_a_folder_as_output_before_training(capsys, tmp_path):
    path = write(tmp_path / "tut.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n")
    code, _, err = run(capsys, "train", path, "--target", "score", "--out", tmp_path)
    assert_one_line_error(code, err, f"--out {tmp_path} is a folder; give a file name inside "
                          f"it, e.g. {tmp_path / 'model.safetensors'}", "train")
    assert "training rows" not in err
    code, _, err = run(capsys, "info", tmp_path)
    assert_one_line_error(code, err, f"{tmp_path} is a folder, not a model file", "info")


def test_one_class_is_not_a_classification(capsys, tmp_path):
    path = write(tmp_path / "c.csv", "x,y\n1,a\n2,a\n3,a\n")
    code, _, err = run(capsys, "train", path, "--target", "y", "--out",
                       tmp_path / "m.safetensors", "--val-split", "0")
    assert_one_line_error(code, err, "column 'y' has only one class (a)", "train")


def test_gradcheck_argument_errors(capsys, model):
    code, _, err = run(capsys, "gradcheck", "--model", model)
    assert_one_line_error(code, err, "--model needs --data", "gradcheck")
    code, _, err = run(capsys, "gradcheck", "--data", "x.csv")
    assert_one_line_error(code, err, "--data, --target and --rows need --model", "gradcheck")
    code, _, err = run(capsys, "gradcheck", "--rows", "5")   # it would be ignored
    assert_one_line_error(code, err, "--data, --target and --rows need --model", "gradcheck")


@pytest.mark.parametrize("args, message", [
    (["--rows", "0"], "argument --rows: must be a positive integer, got '0'"),
    (["--threshold", "-1"], "argument --threshold: must be a positive number, got '-1'"),
    (["--threshold", "nan"], "argument --threshold: must be a positive number, got 'nan'"),
    (["--eps", "0"], "argument --eps: must be a positive number, got '0'"),
    (["--seed", "-1"], "argument --seed: must be a non-negative integer, got '-1'"),
])
def test_gradcheck_number_options(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "gradcheck", *args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.strip().splitlines()[-1] == f"neurallab gradcheck: error: {message}"


def test_gradcheck_of_a_trained_model_explains_a_rounding_level_failure(capsys, model, tmp_path):
    data = write(tmp_path / "d.csv", "sleep,study,score\n3,5,75\n5,1,82\n10,2,93\n6,1.5,70\n")
    code, out, _ = run(capsys, "gradcheck", "--model", model, "--data", data,
                       "--threshold", "1e-30")        # a threshold nothing can meet
    assert code == 1 and "FAILED" in out
    assert "the gradient is small here (trained weights)" in out and "--reinit" in out
    code, out, _ = run(capsys, "gradcheck", "--model", model, "--data", data, "--reinit")
    assert code == 0 and "OK" in out    # the same architecture at fresh weights


def test_debug_shows_the_traceback(tmp_path):
    path = write(tmp_path / "bad.csv", "a,b\n1,x\n")
    out = tmp_path / "m.safetensors"
    for argv in (["--debug", "train", path, "--target", "a", "--out", out],
                 ["train", path, "--target", "a", "--out", out, "--debug"]):
        with pytest.raises(InputError, match="'x' is not a number"):
            cli.main([str(a) for a in argv])


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got '0'"),
    (["--seed", "-1"], "argument --seed: must be a non-negative integer, got '-1'"),
    (["--l2", "-1"], "argument --l2: must be a non-negative number, got '-1'"),
    (["--l2", "nan"], "argument --l2: must be a non-negative number, got 'nan'"),
    (["--lr", "0"], "argument --lr: must be a positive number, got '0'"),
    (["--lr", "1e-3"], "--lr is for gd, sgd and adam; --optimizer bfgs chooses its own step "
                       "lengths, so leave --lr out"),
    (["--batch-size", "2"], "--batch-size is for sgd and adam; --optimizer bfgs uses all "
                            "training rows at every step, so leave --batch-size out"),
    (["--optimizer", "gd", "--batch-size", "2"], "--optimizer gd uses all training rows"),
    (["--features", "sleep,sleep"], "--features names sleep more than once"),
])
def test_train_option_errors_name_the_option(capsys, scores, tmp_path, args, message):
    train, _, _ = scores
    out = tmp_path / "m.safetensors"
    try:
        code, _, err = run(capsys, "train", train, "--target", "score", "--out", out,
                           "--quiet", *args)
    except SystemExit as exit_:         # argparse's own refusal of a number
        code, err = exit_.code, capsys.readouterr().err
    assert code == 2 and message in err.strip().splitlines()[-1], err
    assert not out.exists()


@pytest.mark.parametrize("out_name, message", [
    ("scores.csv", "--out {out}: the file written is .safetensors; give a name ending in "
                   ".safetensors"),
    ("model.bin", "--out {out}: the file written is .safetensors"),
])
def test_train_never_writes_over_its_input_or_a_non_model_name(capsys, scores, tmp_path,
                                                              out_name, message):
    train, _, _ = scores
    before = train.read_bytes()
    out = tmp_path / out_name
    code, _, err = run(capsys, "train", train, "--target", "score", "--out", out, "--quiet")
    assert_one_line_error(code, err, message.format(out=out), "train")
    assert train.read_bytes() == before


def test_classification_of_a_continuous_target_is_refused(capsys, scores, tmp_path):
    train, _, _ = scores
    out = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", train, "--target", "score", "--task", "classification",
                       "--out", out, "--quiet")
    assert_one_line_error(code, err, "column 'score' has 60 distinct values in 60 rows: as "
                          "classes, most would have a single example", "train")
    assert not out.exists()


def test_predict_never_writes_over_its_inputs(capsys, model, tmp_path):
    before = model.read_bytes()
    code, _, err = run(capsys, "predict", model, "--values", "8,3", "--out", model)
    assert_one_line_error(code, err, f"--out {model} is also this command's input; writing it "
                          "would destroy that input", "predict")
    assert model.read_bytes() == before
    rows = write(tmp_path / "rows.csv", "sleep,study\n8,3\n")
    code, _, err = run(capsys, "predict", model, rows, "--out", rows)
    assert_one_line_error(code, err, "is also this command's input", "predict")
    assert rows.read_text() == "sleep,study\n8,3\n"


def test_a_diverging_training_is_one_line_that_says_nothing_was_saved(capsys, scores, tmp_path):
    train, _, _ = scores
    out = tmp_path / "m.safetensors"
    code, _, err = run(capsys, "train", train, "--target", "score", "--out", out, "--quiet",
                       "--optimizer", "gd", "--lr", "1e10", "--activation", "relu")
    assert err.count("\n") == 2 and "Warning" not in err   # the task line, then the error
    assert_one_line_error(code, err, "training diverged: the cost stopped being finite at "
                          "epoch ", "train")
    assert "so nothing was saved; lower --lr, or add --l2 (e.g. --l2 1e-3)" in err
    assert not out.exists()


def test_tutorial_report_folder_that_cannot_be_made(capsys, tmp_path):
    blocker = write(tmp_path / "notes.txt", "a file, where a folder would have to be")
    code, _, err = run(capsys, "tutorial", "--out", blocker / "report", "--chapters", "1")
    assert_one_line_error(code, err, f"cannot create the report folder {blocker / 'report'} "
                          "(Not a directory); give --out a folder you can write to", "tutorial")


def test_tutorial_chapter_errors_are_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "tutorial", "--out", tmp_path, "--chapters", "42")
    assert_one_line_error(code, err, "no chapter 42 in this version; available: 1, 2",
                          "tutorial")


# ---------------------------------------------------------------------------- help
def test_every_command_help_shows_an_example(capsys):
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"tutorial", "train", "predict", "gradcheck", "info"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            cli.main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"neurallab {name}" in out.split("examples:")[1], name


def test_python_dash_m_neurallab_help():
    out = subprocess.run([sys.executable, "-m", "neurallab", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    for name in ("tutorial", "train", "predict", "gradcheck", "info", "examples:"):
        assert name in out.stdout


def test_help_and_import_load_no_plotting_or_optimizer_libraries():
    """`neurallab --help` and `import neurallab` stay quick: matplotlib and SciPy's
    optimizers (together ~0.6 s to load) come in only when a figure is drawn or a
    full-batch optimizer runs."""
    code = ("import sys; from neurallab.cli import build_parser; build_parser()\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'torch', 'sklearn', 'fastapi') or m in "
            "('scipy.optimize', 'scipy.linalg'))\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_lazily_loaded_optimizers_and_figures_still_work(tmp_path):
    """The same libraries load on first use: BFGS, LM and a figure in a fresh process."""
    code = ("import sys, numpy as np, neurallab as nl\n"
            "from neurallab import plots\n"
            "nl.optim.BFGS(); nl.optim.LevenbergMarquardt()  # load SciPy: not in fit's clock\n"
            "print('scipy.optimize' in sys.modules and 'scipy.linalg' in sys.modules)\n"
            "X, y = nl.datasets.sleep_study()\n"
            "for opt in ('bfgs', 'lm'):\n"
            "    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler='max',\n"
            "                     output_scaler=nl.preprocessing.MaxAbsScaler(100))\n"
            "    net.fit(X, y, optimizer=opt, verbose=0)\n"
            "    print(opt, round(float(net.loss_and_grad(net.input_scaler.transform(X),\n"
            "          net.output_scaler.transform(y))[0]), 6))\n"
            "fig, _ = plots.new_figure()\n"
            f"print(plots.save_figure(fig, {str(tmp_path / 'f.png')!r}).stat().st_size > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0] == "True"
    assert lines[1] == "bfgs" and float(lines[2]) < 1e-3
    assert lines[3] == "lm" and float(lines[4]) < 1e-3
    assert lines[5] == "True"


# ---------------------------------------------------------------------------- CSV module
@given(st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                         min_size=3, max_size=3), min_size=1, max_size=20))
def test_csv_round_trip_is_exact(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    path.write_text(format_csv(["a", "b c", "d,e"], rows), encoding="utf-8")
    table = read_csv(path)
    assert table.columns == ["a", "b c", "d,e"]
    np.testing.assert_array_equal(table.numeric(), np.array(rows, dtype=float).reshape(-1, 3))


def test_csv_reads_semicolons_bom_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("\ufeffname;x\n\n\"two\nlines\";1.5\nb;2\n".encode())
    table = read_csv(path)
    assert table.columns == ["name", "x"]
    assert table.column("name") == ["two\nlines", "b"]
    assert table.lines == [3, 5]                    # line numbers as an editor shows them
    np.testing.assert_array_equal(table.numeric(["x"]), [[1.5], [2.0]])
    with pytest.raises(InputError, match=r"line 3, column 'name': 'two\\nlines' is not"):
        table.numeric(["name"])


def test_csv_refuses_binary_and_non_utf8(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(InputError, match="is not a UTF-8 text file"):
        read_csv(path)
    with pytest.raises(InputError, match="is not a file"):
        read_csv(tmp_path)


def test_broken_pipe_is_not_an_error(tmp_path):
    """`neurallab predict ... | head` ends quietly when the reader closes the pipe."""
    import subprocess
    import sys

    import neurallab as nl

    X, y = nl.datasets.sleep_study()
    net = nl.Network([2, 3, 1], bias=False, seed=0)
    net.fit(X / X.max(0), y / 100, verbose=0, epochs=5)
    model = tmp_path / "m.safetensors"
    net.save(model)
    rows = "\n".join(f"{i % 10},{i % 5}" for i in range(50000))
    (tmp_path / "big.csv").write_text("sleep,study\n" + rows + "\n")
    cmd = f"{sys.executable} -m neurallab predict {model} {tmp_path / 'big.csv'} | head -1"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert out.stdout.count("\n") == 1
    assert "Broken pipe" not in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("name", ["feature_names", "target_name", "prediction_table"])
def test_the_table_helpers_refuse_what_is_not_a_network(name):
    from neurallab import tables

    args = ("model.safetensors",) + ((np.zeros((1, 2)),) if name == "prediction_table" else ())
    with pytest.raises(nl.InputTypeError, match="net must be a neurallab Network, got str; "
                                                r"load a model file with neurallab.load\(path\)"):
        getattr(tables, name)(*args)
