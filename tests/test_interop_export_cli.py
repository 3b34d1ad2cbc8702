"""``neurallab export``: each format written, run in its framework, and compared."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import neurallab as nl
from neurallab.cli import main
from neurallab.interop import run_exported, run_onnx

QUERIES = np.array([[8.0, 3.0], [3.0, 5.0], [10.0, 2.0], [0.5, 4.5]])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The tutorial network trained with BFGS, with its scalers (raw hours in, points out)."""
    X, y = nl.datasets.sleep_study()
    net = nl.Network([2, 3, 1], bias=False, seed=0, input_scaler="max",
                     output_scaler=nl.preprocessing.MaxAbsScaler(100))
    net.fit(X, y, optimizer="bfgs", epochs=100, verbose=0)
    path = tmp_path_factory.mktemp("export") / "tutorial.safetensors"
    net.save(path)
    return path, net


def _rel(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def test_onnx_export_runs_in_onnxruntime_in_raw_units(model, tmp_path, capsys):
    path, net = model
    out = tmp_path / "tutorial.onnx"
    assert main(["export", str(path), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (onnx, float64, raw units in and out)" in printed
    assert "checked: onnx output vs neurallab on 64 random inputs: max |difference|" in printed
    assert _rel(run_onnx(out, QUERIES), net.predict_raw(QUERIES)) <= 1e-12


def test_format_from_suffix_and_default_out_path(model, tmp_path, capsys):
    path, net = model
    local = tmp_path / "m.safetensors"
    local.write_bytes(path.read_bytes())
    assert main(["export", str(local), "--format", "onnx", "--no-check"]) == 0
    assert (tmp_path / "m.onnx").is_file()
    out = tmp_path / "f32.onnx"
    assert main(["export", str(local), "--out", str(out), "--dtype", "float32",
                 "--no-scalers", "--no-check"]) == 0
    Xs = net.input_scaler.transform(QUERIES)
    got = run_exported(out, Xs)
    assert got.dtype == np.float32 and _rel(got, net.forward(Xs)) <= 1e-5
    assert "scaled units (no scalers)" in capsys.readouterr().out


@pytest.mark.slow
def test_torch_export_is_a_self_contained_program(model, tmp_path, capsys):
    import torch

    path, net = model
    out = tmp_path / "tutorial.pt2"
    assert main(["export", str(path), "--format", "torch", "--out", str(out)]) == 0
    assert "checked: torch output" in capsys.readouterr().out
    program = torch.export.load(str(out)).module()
    for X in (QUERIES, QUERIES[:1]):   # the batch size is free
        got = program(torch.from_numpy(X)).detach().numpy()
        assert _rel(got, net.predict_raw(X)) <= 1e-12


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_export_loads_with_load_model(model, tmp_path, capsys):
    path, net = model
    out = tmp_path / "tutorial.keras"
    assert main(["export", str(path), "--format", "keras", "--out", str(out)]) == 0
    assert "checked: keras output" in capsys.readouterr().out
    # Keras multiplies float64 in float32 on the torch backend: float32 agreement
    assert _rel(run_exported(out, QUERIES), net.predict_raw(QUERIES)) <= 1e-6


def test_unknown_format_is_refused_by_the_parser(model, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", str(model[0]), "--format", "tf", "--out", "x.pb"])
    assert exc.value.code == 2
    assert "argument --format: invalid choice: 'tf'" in capsys.readouterr().err


def test_missing_model_is_one_clear_line(tmp_path, capsys):
    missing = tmp_path / "missing.safetensors"
    assert main(["export", str(missing), "--format", "onnx"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"neurallab export: error: model file {missing} does not exist"


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --format (onnx, torch, keras) or --out with a .onnx, .pt2 or .keras suffix"),
    (["--out", "model.h5"], "cannot tell the export format from 'model.h5'"),
    (["--format", "onnx", "--out", "model.pt2"],
     "the onnx format needs a file name ending in .onnx, got 'model.pt2'; use 'model.onnx'"),
])
def test_bad_output_arguments(model, capsys, args, message):
    assert main(["export", str(model[0]), *args]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("out", "message"), [
    ("no/such/folder/m.onnx", "--out no/such/folder/m.onnx: folder no/such/folder does not "
                              "exist; create it first"),
    (".", "--out . is a folder; give a file name inside it"),
    ("MODEL", "is also this command's input; writing it would destroy that input"),
])
def test_output_paths_refused_before_any_work(model, capsys, out, message):
    """(argument errors: exit status 2, and the model file is left as it was)"""
    path = model[0]
    before = path.read_bytes()
    out = str(path) if out == "MODEL" else out
    assert main(["export", str(path), "--format", "onnx", "--out", out]) == 2
    assert message in capsys.readouterr().err
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_model(tmp_path, capsys):
    bogus = tmp_path / "notes.safetensors"
    bogus.write_text("hello")
    assert main(["export", str(bogus), "--format", "onnx"]) == 1
    assert "is not a readable .safetensors model" in capsys.readouterr().err


def test_missing_extra_names_the_pip_command(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(model[0]), "--out", str(tmp_path / "m.onnx")]) == 1
    assert 'pip install "neurallab[onnx]"' in capsys.readouterr().err


def test_the_check_fails_the_command_when_the_file_disagrees(model, tmp_path, capsys,
                                                            monkeypatch):
    from neurallab import interop

    real = interop.run_exported
    monkeypatch.setattr(interop, "run_exported",
                        lambda path, X, fmt: real(path, X, fmt) * (1 + 1e-3))  # a broken file
    out = tmp_path / "m.onnx"
    assert main(["export", str(model[0]), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "(relative 0.001; FAILED: tolerance 1e-10)" in printed and out.exists()


def test_a_check_that_cannot_run_says_the_file_is_written(model, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "m.onnx"
    assert main(["export", str(model[0]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out} is written, but checking it needs its framework" in err
    assert "--no-check" in err and out.exists()


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "neurallab export model.safetensors --format onnx" in out
