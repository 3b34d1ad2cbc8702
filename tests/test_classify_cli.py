"""``neurallab images train / evaluate / predict`` end to end, on the shipped sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab.classify import images_to_inputs
from neurallab.cli import main
from neurallab.datasets.prepare import prepare_dataset

QUICK = ["--hidden", "32", "--epochs", "2", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "sample.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK, "--out", str(path)]) == 0
    return path


def test_train_writes_a_model_with_its_preprocessing(model, capsys):
    net = nl.load(model)
    assert net.layer_sizes == [784, 32, 10]
    assert net.meta["preprocessing"]["image_size"] == [28, 28]
    assert net.meta["training"]["epochs"] == 2
    assert net.meta["test_accuracy"] > 0.6
    assert net.class_names[0] == "T-shirt/top"


def test_train_prints_the_result(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK, "--val-split", "0.2",
                 "--dropout", "0.1", "--schedule", "cosine", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Network 784-32-10" in text
    assert "validation accuracy" in text and "test accuracy" in text
    assert f"saved {out}" in text
    assert nl.load(out).dropout == [0.1]


def test_train_counts_the_images_it_trains_on_not_those_held_out(tmp_path, capsys):
    """--val-split 0.2 of the sample's 3,000 images: 2,400 trained on, 600 held out."""
    out = tmp_path / "m.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK[:-1], "--val-split", "0.2",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == ("training on 2,400 images of fashion-mnist-sample "
                                   "(10 classes); validation: 600 more held out")
    assert nl.load(out).meta["training_data"] == "fashion-mnist-sample: 2,400 training images"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK[:-1], "--out",
                 str(out)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "training on 3,000 images of fashion-mnist-sample (10 classes)")


def test_an_explicit_epochs_beats_the_presets_min_updates(tmp_path, capsys):
    from neurallab import classify

    out = tmp_path / "b.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", "--preset", "baseline",
                 "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert "trained 1 epochs" in capsys.readouterr().out
    assert nl.load(out).meta["training"]["epochs"] == 1
    # without --epochs the preset's min_updates raises the count (3,000 images, batch 128:
    # 24 updates per epoch, 1,000 updates → 42 epochs), as the help says
    assert main(["images", "train", "fashion-mnist-sample", "--preset", "baseline",
                 "--quiet", "--out", str(out)]) == 0
    assert "trained 42 epochs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["images", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert classify.BASELINE.min_updates == 1000 and classify.BASELINE.epochs == 20
    assert "baseline: softmax regression, no hidden layer, 20 epochs but at least 1,000 " \
        "updates" in text
    assert "without it, --preset baseline runs at least 1,000 mini-batch updates, e.g. 42 " \
        "epochs on fashion-mnist-sample" in text


def test_train_on_a_prepared_npz_uses_its_validation_split(tmp_path, capsys):
    s = nl.datasets.fashion_mnist_sample()
    ds = prepare_dataset(s.X_train[:600], s.y_train[:600], list(s.class_names),
                         valid=0.2, test=0.2, seed=0)
    path = tmp_path / "d.npz"
    ds.save(path)
    out = tmp_path / "m.safetensors"
    assert main(["images", "train", str(path), *QUICK, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "validation accuracy" in text
    assert f"on {ds.sizes['test']:,} images" in text


def test_evaluate_prints_the_table_and_draws_two_figures(model, tmp_path, capsys):
    assert main(["images", "evaluate", str(model), "fashion-mnist-sample",
                 "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "precision  recall" in out and "Ankle boot" in out
    assert ("confusion matrix (rows: true class, columns: predicted class, numbered as the "
            "rows):") in out
    lines = out.splitlines()
    top = lines.index(next(line for line in lines if line.startswith("confusion matrix")))
    assert lines[top + 1].split() == [str(j) for j in range(10)]
    assert lines[top + 2].split()[:2] == ["0", "T-shirt/top"]   # full names, numbered
    assert lines[top + 11].split()[:3] == ["9", "Ankle", "boot"]
    acc = nl.load(model).meta["test_accuracy"]
    assert f"accuracy {acc:.4f}" in out
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_evaluate_checks_its_figure_folder_before_scoring(model, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    for out_dir, msg in [
        ("notes.txt", "--out-dir {d}: that is a file, not a folder; give a folder for "
                      "confusion_matrix.png and misclassified.png (it is created if missing)"),
        ("notes.txt/eval", "--out-dir {d}: {t} is a file, not a folder"),
    ]:
        d = tmp_path / out_dir
        assert main(["images", "evaluate", str(model), "fashion-mnist-sample", "--out-dir",
                     str(d)]) == 2
        out, err = capsys.readouterr()
        assert out == ""  # refused before the results were printed
        assert err == "neurallab images evaluate: error: " + \
            msg.format(d=d, t=tmp_path / "notes.txt") + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    # --no-figures writes nothing, so the folder does not matter
    assert main(["images", "evaluate", str(model), "fashion-mnist-sample", "--no-figures",
                 "--out-dir", str(tmp_path / "notes.txt")]) == 0


def test_evaluate_json(model, capsys):
    assert main(["images", "evaluate", str(model), "fashion-mnist-sample", "--no-figures",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n"] == 1000 and len(d["confusion"]) == 10
    assert sum(map(sum, d["confusion"])) == 1000
    assert d["macro_avg"]["f1"] == pytest.approx(sum(d["f1"]) / 10)   # as the table prints


def test_predict_png_jpeg_and_rgb_of_another_size(model, tmp_path, capsys):
    s = nl.datasets.fashion_mnist_sample()
    net = nl.load(model)
    img = s.X_test[3]
    expected = net.class_names[int(net.predict(images_to_inputs(img[None]))[0])]
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(img).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(img).convert("RGB").resize((100, 100)).save(tmp_path / "big.png")
    paths = [str(tmp_path / n) for n in ("a.png", "a.jpg", "big.png")]
    assert main(["images", "predict", str(model), *paths, "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, p in zip(lines, paths, strict=True):
        assert line.startswith(f"{p}: {expected}  (")
        assert line.count("%") == 2


def test_predict_a_corrupt_image_says_which_and_why(model, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    good = tmp_path / "ok.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(good)
    assert main(["images", "predict", str(model), str(bad), str(good),
                 str(tmp_path / "missing.png")]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 2
    assert "broken.png" in errors[0] and "error" in errors[0]
    assert "missing.png: No such file or directory" in errors[1]
    assert captured.out.startswith(f"{good}: ")


def test_predict_json(model, tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "z.png")
    assert main(["images", "predict", str(model), str(tmp_path / "z.png"), "--json",
                 "--top", "1"]) == 0
    (r,) = json.loads(capsys.readouterr().out)
    assert r["class"] == r["top"][0]["class"] and 0 < r["top"][0]["probability"] <= 1


@pytest.mark.parametrize("argv, message", [
    (["images", "train", "mnist-digits", "--out", "x.safetensors"],
     "no data set 'mnist-digits': give fashion-mnist or fashion-mnist-sample"),
    (["images", "train", "fashion-mnist-sample", "--hidden", "64,x", "--out", "x.safetensors"],
     "--hidden must be comma-separated layer widths like 256,128, got '64,x'"),
    (["images", "train", "fashion-mnist-sample", "--out", "no/such/dir/m.safetensors"],
     "folder no/such/dir does not exist; create it first"),
    (["images", "train", "fashion-mnist-sample", "--out", "."],
     "is a folder; give a file name inside it, e.g. model.safetensors"),
    (["images", "train", "fashion-mnist-sample", "--patience", "3", "--out", "x.safetensors"],
     "--patience 3 needs validation images: add --val-split 0.1, or train on a prepared "
     ".npz with a validation split"),
])
def test_bad_train_arguments_give_one_clear_line(argv, message, capsys, tmp_path,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.safetensors").exists()


def test_train_never_writes_over_its_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = nl.datasets.fashion_mnist_sample()
    prepare_dataset(s.X_train[:100], s.y_train[:100], list(s.class_names), valid=0.2,
                    test=0).save("y5.npz")
    before = (tmp_path / "y5.npz").read_bytes()
    assert main(["images", "train", "y5.npz", *QUICK, "--out", "y5.npz"]) == 2
    assert capsys.readouterr().err == (
        "neurallab images train: error: --out y5.npz: the file written is .safetensors; give a "
        "name ending in .safetensors, e.g. y5.safetensors\n")
    # a data set saved under a model's name is still never overwritten
    (tmp_path / "d.safetensors").write_bytes(before)
    assert main(["images", "train", "d.safetensors", *QUICK, "--out", "./d.safetensors"]) == 2
    assert capsys.readouterr().err == (
        "neurallab images train: error: --out d.safetensors is also this command's input; "
        "writing it would destroy that input, so give another file name\n")
    assert (tmp_path / "y5.npz").read_bytes() == before
    assert (tmp_path / "d.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors", "y5.npz"]


def test_train_on_a_folder_or_a_truncated_file_says_what_to_do(tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "letters" / "a").mkdir(parents=True)
    assert main(["images", "train", "letters", *QUICK, "--out", "m.safetensors"]) == 1
    assert capsys.readouterr().err == (
        "neurallab images train: error: letters is a folder, not a prepared data set (.npz); "
        "a folder with one sub-folder of images per class must be built into one first: "
        "neurallab images build letters --out letters.npz\n")
    s = nl.datasets.fashion_mnist_sample()
    prepare_dataset(s.X_train[:100], s.y_train[:100], list(s.class_names)).save("d.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "d.npz").read_bytes()[:1000])
    assert main(["images", "train", "cut.npz", *QUICK, "--out", "m.safetensors"]) == 1
    assert capsys.readouterr().err == (
        "neurallab images train: error: cut.npz is truncated or corrupt, or not a .npz made by "
        "'neurallab images build' (File is not a zip file); rebuild it with 'neurallab "
        "images build <folder> --out cut.npz'\n")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("option, value, want", [
    ("--epochs", "0", "a positive integer"),
    ("--batch-size", "0", "a positive integer"),
    ("--step-size", "0", "a positive integer"),
    ("--patience", "0", "a positive integer"),
    ("--seed", "-1", "a non-negative integer"),
    ("--lr", "0", "a positive number"),
    ("--lr", "nan", "a positive number"),
    ("--l2", "-1", "a non-negative number"),
    ("--dropout", "1.5", "a number from 0 up to (not including) 1"),
    ("--dropout", "-0.1", "a number from 0 up to (not including) 1"),
    ("--val-split", "1", "a number from 0 up to (not including) 1"),
    ("--momentum", "1.5", "a number from 0 up to (not including) 1"),
])
def test_train_numbers_are_checked_naming_the_option(option, value, want, capsys, tmp_path):
    # the library would say batch_size, val_split, ...: the command line says --batch-size
    out = tmp_path / "x.safetensors"
    with pytest.raises(SystemExit) as exc:
        main(["images", "train", "fashion-mnist-sample", "--optimizer", "momentum",
              "--schedule", "step", "--val-split", "0.1", option, value, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"neurallab images train: error: argument {option}: "
                                    f"must be {want}, got {value!r}")
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--momentum", "0.5"], "--momentum 0.5 is used only by --optimizer momentum or nesterov "
                            "(this run uses adam); add --optimizer momentum, or drop --momentum"),
    (["--momentum", "0.5", "--optimizer", "sgd"], "(this run uses sgd)"),
    (["--step-size", "3"], "--step-size 3 is used only with --schedule step (this run's "
                           "schedule is constant); add --schedule step, or drop --step-size"),
    (["--step-size", "3", "--preset", "best"], "(this run's schedule is cosine)"),
])
def test_train_refuses_options_it_would_ignore(extra, message, capsys, tmp_path):
    out = tmp_path / "x.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK, *extra, "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurallab images train: error: --") and message in err
    assert err.count("\n") == 1 and not out.exists()


def test_train_momentum_and_step_size_where_they_are_used(capsys, tmp_path):
    out = tmp_path / "x.safetensors"
    assert main(["images", "train", "fashion-mnist-sample", *QUICK, "--optimizer", "nesterov",
                 "--momentum", "0.5", "--schedule", "step", "--step-size", "1", "--out",
                 str(out)]) == 0
    training = nl.load(out).meta["training"]
    assert training["momentum"] == 0.5 and training["step_size"] == 1


def test_a_regressor_or_a_model_without_preprocessing_is_refused(tmp_path, capsys, model):
    reg = nl.Network([784, 1], output_activation="identity")
    reg.save(tmp_path / "reg.safetensors")
    assert main(["images", "predict", str(tmp_path / "reg.safetensors"), "x.png"]) != 0
    assert "is not a softmax classifier" in capsys.readouterr().err
    net = nl.load(model)
    net.meta.pop("preprocessing")
    net.save(tmp_path / "bare.safetensors")
    assert main(["images", "evaluate", str(tmp_path / "bare.safetensors"),
                 "fashion-mnist-sample"]) != 0
    assert "no image preprocessing" in capsys.readouterr().err
    assert main(["images", "predict", str(model), "x.png", "--top", "0"]) != 0
    assert "--top must be at least 1" in capsys.readouterr().err


def test_help_shows_examples(capsys):
    for cmd in ("train", "evaluate", "predict"):
        with pytest.raises(SystemExit):
            main(["images", cmd, "--help"])
        assert f"examples:\n  neurallab images {cmd}" in capsys.readouterr().out


def test_predict_notes_a_light_background_and_inverts_on_request(model, tmp_path, capsys):
    """A dark garment photographed on white is not what a Fashion-MNIST model has seen:
    the note says so, and --invert classifies the file as the original image."""
    sample = nl.datasets.fashion_mnist_sample()
    net = nl.load(model)
    assert net.meta["background"] == "dark"
    image = sample.X_test[7]
    expected = net.class_names[int(net.predict(images_to_inputs(image[None]))[0])]
    path = tmp_path / "on_white.png"
    Image.fromarray(255 - image).save(path)            # dark object, white background
    assert main(["images", "predict", str(model), str(path), "--top", "1"]) == 0
    err = capsys.readouterr().err
    assert (f"note: {path} has a light background, the images this model learnt from a "
            "dark one; if the answer looks wrong, try --invert") in err
    assert main(["images", "predict", str(model), str(path), "--top", "1", "--invert"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: {expected}  (") and "note:" not in err


def test_predict_speaks_in_the_command_lines_words(model, tmp_path, capsys):
    """A refused oversized image names the limit, not a parameter predict has no option
    for ("pass a larger max_pixels")."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 9000,
                                                                      8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))
    assert main(["images", "predict", str(model), str(path)]) == 1
    err = capsys.readouterr().err
    assert "more than the limit of 40,000,000" in err and "max_pixels" not in err
