"""``neurallab images build`` and ``show``, the figures, and the sub-command extension hook."""

from __future__ import annotations

import shutil
import sys
import types

import numpy as np
import pytest
from figure_checks import texts_cut_off
from PIL import Image

import neurallab as nl
from neurallab import cli
from neurallab.commands import images as images_cmd
from neurallab.imageplots import (
    mosaic,
    plot_class_balance,
    plot_class_samples,
    plot_duplicate_pairs,
)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three classes of 20 PNGs from the sample, one copy in another file, one broken file."""
    root = tmp_path_factory.mktemp("cli-images")
    s = nl.datasets.fashion_mnist_sample()
    for c, name in enumerate(["shirt", "trouser", "bag"]):
        (root / name).mkdir()
        for n, i in enumerate(np.flatnonzero(s.y_train == [0, 1, 8][c])[:20]):
            Image.fromarray(s.X_train[i]).save(root / name / f"{n:02d}.png")
    for k in range(5):
        shutil.copyfile(root / "bag" / f"{k:02d}.png", root / "bag" / f"copy{k}.png")
    (root / "bag" / "broken.png").write_text("not a png")
    return root


def test_build_prints_reports_and_writes_a_loadable_file(capsys, folder, tmp_path):
    out_path = tmp_path / "d.npz"
    code, out, err = run(capsys, "images", "build", folder, "--out", out_path,
                         "--valid", "0.2", "--test", "10", "--figures", tmp_path / "figs")
    assert code == 0, err
    assert "loaded 65 images in 3 classes" in out and "(1 skipped, 0 resized to 28x28)" in out
    assert "skipped bag/broken.png: not an image" in out
    assert "class balance:" in out and "bag" in out and "out of balance" not in out
    assert "duplicates (leaks):" in out and "also in train (exact)" in out
    assert f"wrote {out_path}: train 42, valid 13, test 10" in out
    ds = nl.datasets.load_dataset(out_path)
    assert ds.class_names == ["bag", "shirt", "trouser"]
    assert ds.sizes == {"train": 42, "valid": 13, "test": 10}
    assert ds.preprocessing == {"image_size": [28, 28], "color_mode": "grayscale",
                                "normalization": "unit", "invert": False}
    assert ds.info["leaks"]["sizes"] == {"train": 42, "valid": 13, "test": 10}
    assert set(ds.info["balance"]["class_names"]) == {"bag", "shirt", "trouser"}
    for name in ("samples.png", "balance.png"):
        with Image.open(tmp_path / "figs" / name) as im:
            assert im.format == "PNG" and im.size[0] > 300
    # one duplicates figure for each pair of splits that shares images, and only those
    leaks = ds.info["leaks"]
    shared = [key for key, n in leaks["exact_across"].items()
              if n + leaks["near_across"].get(key, 0)]
    assert shared, "the five copies should cross splits somewhere"
    drawn = sorted(p.name for p in (tmp_path / "figs").glob("duplicates*.png"))
    assert drawn == sorted(f"duplicates-{k.replace('/', '-')}.png" for k in shared)


def test_build_dedupe_removes_the_copies(capsys, folder, tmp_path):
    code, out, _ = run(capsys, "images", "build", folder, "--out", tmp_path / "d.npz",
                       "--dedupe", "--seed", "1")
    assert code == 0
    ds = nl.datasets.load_dataset(tmp_path / "d.npz")
    assert sum(ds.info["removed"].values()) == 5  # the five copies, wherever they landed
    assert sum(ds.sizes.values()) == 60
    assert f"dedupe: removed {ds.info['removed']['train']} from train" in out
    again = ds.find_leaks()
    assert sum(again.counts()["exact_across"].values()) == 0


def test_build_rgb_size_and_builtin_sample(capsys, folder, tmp_path):
    code, out, _ = run(capsys, "images", "build", folder, "--out", tmp_path / "c.npz",
                       "--size", "16x12", "--rgb", "--no-near")
    assert code == 0 and "0 resized" not in out
    assert nl.datasets.load_dataset(tmp_path / "c.npz").X_train.shape[1:] == (16, 12, 3)
    code, out, _ = run(capsys, "images", "build", "fashion-mnist-sample", "--out",
                       tmp_path / "s.npz", "--valid", "500")
    assert code == 0 and "its own test set kept" in out
    ds = nl.datasets.load_dataset(tmp_path / "s.npz")
    assert ds.sizes == {"train": 2500, "valid": 500, "test": 1000}
    assert ds.balance().counts[:, 1].tolist() == [50] * 10


@pytest.mark.parametrize("argv, msg", [
    (["--out", "x.txt"], "--out x.txt: the file written is .npz; give a name ending in .npz"),
    (["--out", "x.npz", "--size", "big"], "--size 'big': give N (square) or HxW"),
    (["--out", "x.npz", "--threshold", "2"], "give a similarity between 0 and 1"),
    (["--out", "x.npz", "--valid", "0.7", "--test", "0.7"],
     "--valid 0.7 (46 images) and --test 0.7 (46 images) leave no training images of the 65"),
    (["--out", "x.npz", "--valid", "30", "--test", "35"],
     "--valid 30 (30 images) and --test 35 (35 images) leave no training images of the 65"),
    (["--out", "x.npz", "--valid", "66"], "--valid 66: there are only 65 images"),
])
def test_build_errors_are_one_line(capsys, folder, tmp_path, argv, msg, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "images", "build", folder, *argv)
    assert code == 2 and msg in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("value", ["-1", "1.5", "-0.1"])
def test_build_refuses_negative_or_fractional_counts(capsys, folder, tmp_path, value):
    with pytest.raises(SystemExit) as exc:
        cli.main(["images", "build", str(folder), "--out", str(tmp_path / "x.npz"), "--test",
                  value])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"argument --test: {value!r}: give a fraction in [0, 1) or a whole count" in err
    assert not (tmp_path / "x.npz").exists()


def test_build_with_an_empty_validation_split(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "images", "build", "fashion-mnist-sample", "--out", "y.npz",
                         "--valid", "0", "--figures", "figs")
    assert code == 0, err
    assert "valid: 0 of 0 images also in train (exact)" in out
    assert "wrote y.npz: train 3000, valid 0, test 1000" in out
    assert "note:" not in err  # asked for none: nothing to say
    assert (tmp_path / "figs" / "samples.png").is_file()
    assert nl.datasets.load_dataset("y.npz").sizes == {"train": 3000, "valid": 0, "test": 1000}
    # show says so, and draws the other splits
    code, _, err = run(capsys, "images", "show", "y.npz", "--split", "valid", "--grid", "v.png")
    assert code == 0 and "the valid split is empty; no grid written" in err
    assert not (tmp_path / "v.png").exists()
    code, _, _ = run(capsys, "images", "show", "y.npz", "--grid", "t.png")
    assert code == 0 and (tmp_path / "t.png").is_file()
    # training on it works, without validation
    code, out, err = run(capsys, "images", "train", "y.npz", "--hidden", "8", "--epochs", "1",
                         "--quiet", "--out", "m.safetensors")
    assert code == 0, err
    assert "validation accuracy" not in out and "test accuracy" in out


def test_build_a_tiny_folder_whose_fractions_round_to_no_image(capsys, tmp_path):
    s = nl.datasets.fashion_mnist_sample()
    root = tmp_path / "tiny"
    for c in range(2):
        (root / f"c{c}").mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(s.y_train == c)[:2]):
            Image.fromarray(s.X_train[i]).save(root / f"c{c}" / f"{k}.png")
    code, out, err = run(capsys, "images", "build", root, "--out", tmp_path / "t.npz",
                         "--figures", tmp_path / "figs")
    assert code == 0, err
    assert ("note: --valid 0.1 of 4 images rounds to 0, so the valid split is empty; give "
            "a count (--valid 1) to have one, or --valid 0 to say none") in err
    assert "note: --test 0.1 of 4 images rounds to 0, so the test split is empty" in err
    assert f"wrote {tmp_path / 't.npz'}: train 4, valid 0, test 0" in out
    assert (tmp_path / "figs" / "balance.png").is_file()
    assert nl.datasets.load_dataset(tmp_path / "t.npz").sizes == {"train": 4, "valid": 0,
                                                                   "test": 0}
    # counts make the splits
    code, out, err = run(capsys, "images", "build", root, "--out", tmp_path / "u.npz",
                         "--valid", "1", "--test", "0")
    assert code == 0 and "note:" not in err
    assert f"wrote {tmp_path / 'u.npz'}: train 3, valid 1, test 0" in out
    # ... but never all of them
    code, _, err = run(capsys, "images", "build", root, "--out", tmp_path / "v.npz",
                       "--valid", "2", "--test", "2")
    assert code == 2 and "leave no training images of the 4" in err
    assert not (tmp_path / "v.npz").exists()


def test_build_names_empty_or_small_classes_in_command_line_words(capsys, tmp_path):
    s = nl.datasets.fashion_mnist_sample()
    root = tmp_path / "root"
    for name, n in (("a", 3), ("b", 0), ("c", 2)):
        (root / name).mkdir(parents=True)
        for k in range(n):
            Image.fromarray(s.X_train[k]).save(root / name / f"{k}.png")
    (root / "d").mkdir()
    (root / "d" / "x.png").write_text("not a png")
    out = tmp_path / "x.npz"
    code, stdout, err = run(capsys, "images", "build", root, "--out", out)
    assert code == 2 and "skipped d/x.png: not an image" in stdout
    assert err == ("neurallab images build: error: class folder 'b' is empty: put its images "
                   "in it, or remove it; class folder 'd' has no usable image (its 1 file was "
                   "skipped, why is listed above): fix it, or remove the folder\n")
    (root / "b").rmdir()
    shutil.rmtree(root / "d")
    code, _, err = run(capsys, "images", "build", root, "--out", out, "--min-per-class", "3")
    assert code == 2 and err == (
        "neurallab images build: error: class 'c' has 2 images, fewer than --min-per-class 3: "
        "add images, remove the folder, or lower --min-per-class\n")
    assert "min_per_class" not in err
    # --exact-size: the reason a file was skipped names the option
    code, stdout, err = run(capsys, "images", "build", root, "--out", out, "--exact-size",
                            "--size", "20")
    assert code == 2
    assert "expected 20×20 (--exact-size); resize it or drop --exact-size" in stdout
    assert "exact_size" not in stdout + err
    assert not out.exists()


def test_build_missing_folder(capsys, tmp_path):
    code, _, err = run(capsys, "images", "build", tmp_path / "nope", "--out", tmp_path / "x.npz")
    assert code == 1 and "is not a folder" in err and "Traceback" not in err
    code, _, err = run(capsys, "images", "build", "fashion-mnist-sample", "--rgb", "--out",
                       tmp_path / "x.npz")
    assert code == 2 and "is 28x28 grayscale" in err
    code, _, err = run(capsys, "images", "build", "fashion-mnist-sample", "--valid", "3000",
                       "--out", tmp_path / "x.npz")
    assert code == 2 and "--valid 3000 (3000 images) leaves no training images of the 3000" \
        in err
    assert not (tmp_path / "x.npz").exists()


def test_build_checks_its_outputs_before_loading(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for argv, msg in [
        (["--out", "y.npz", "--figures", "notes.txt"],
         "--figures notes.txt: that is a file, not a folder; give a folder for the figures "
         "(it is created if missing)"),
        (["--out", "y.npz", "--figures", "notes.txt/figs"],
         "--figures notes.txt/figs: notes.txt is a file, not a folder"),
        (["--out", "no/such/dir/y.npz"],
         "--out no/such/dir/y.npz: folder no/such/dir does not exist; create it first"),
        (["--out", "notes.txt/y.npz"], "--out notes.txt/y.npz: notes.txt is a file, not a folder"),
    ]:
        code, out, err = run(capsys, "images", "build", "fashion-mnist-sample", *argv)
        assert code == 2 and err == f"neurallab images build: error: {msg}\n", err
        assert out == ""  # nothing loaded, nothing searched
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_show_checks_its_grid_before_loading(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ds = nl.datasets.prepare_dataset(*_tiny_arrays(), ["a", "b"], valid=0, test=0)
    ds.save("d.npz")
    before = (tmp_path / "d.npz").read_bytes()
    for grid, msg in [("d.npz", "--grid d.npz: the file written is .png; give a name ending "
                                "in .png, e.g. d.png"),
                      ("no/dir/g.png", "--grid no/dir/g.png: folder no/dir does not exist; "
                                       "create it first")]:
        code, out, err = run(capsys, "images", "show", "d.npz", "--grid", grid)
        assert code == 2 and err == f"neurallab images show: error: {msg}\n"
        assert out == ""
    assert (tmp_path / "d.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_show_prints_summary_and_writes_grid(capsys, folder, tmp_path, monkeypatch):
    run(capsys, "images", "build", folder, "--out", tmp_path / "d.npz", "--dedupe")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "images", "show", tmp_path / "d.npz")
    assert code == 0, err
    assert "train" in out and "3 classes" in out and "'normalization': 'unit'" in out
    assert "leak report when built" in out and "removed by --dedupe" in out
    with Image.open(tmp_path / "d-samples.png") as im:
        assert im.format == "PNG"
    code, out, _ = run(capsys, "images", "show", tmp_path / "d.npz", "--split", "test",
                       "--grid", tmp_path / "t.png", "--per-class", "3")
    assert code == 0 and (tmp_path / "t.png").is_file()


@pytest.mark.parametrize("command, option, value, want", [
    ("show", "--per-class", "0", "a whole number from 1 to 100"),
    ("show", "--per-class", "-2", "a whole number from 1 to 100"),
    ("show", "--per-class", "101", "a whole number from 1 to 100"),
    ("show", "--seed", "-1", "a non-negative integer"),
    ("build", "--seed", "-1", "a non-negative integer"),
    ("build", "--min-per-class", "0", "a positive integer"),
    ("build", "--workers", "0", "a positive integer"),
])
def test_numbers_out_of_range_are_refused_naming_the_option(capsys, tmp_path, command,
                                                            option, value, want):
    data = tmp_path / "d.npz"
    if command == "show":
        ds = nl.datasets.prepare_dataset(*_tiny_arrays(), ["a", "b"], valid=0, test=0)
        ds.save(data)
        argv = ["images", "show", str(data), "--grid", str(tmp_path / "g.png")]
    else:
        argv = ["images", "build", "fashion-mnist-sample", "--out", str(data)]
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"neurallab images {command}: error: argument {option}: must be {want}, " \
        f"got {value!r}" in err
    assert not (tmp_path / "g.png").exists()
    assert (command == "show") == data.exists()


def _tiny_arrays():
    s = nl.datasets.fashion_mnist_sample()
    return s.X_train[:6], np.array([0, 1, 0, 1, 0, 1])


def test_show_refuses_foreign_files(capsys, tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    code, _, err = run(capsys, "images", "show", tmp_path / "x.npz")
    assert code == 1 and "is not a prepared data set" in err


@pytest.mark.parametrize("argv", [
    ["build", "{tmp}/nope", "--out", "{tmp}/x.npz"],
    ["show", "{tmp}/nope.npz"],
    ["train", "mnist-digits", "--out", "{tmp}/x.safetensors"],
    ["evaluate", "{tmp}/nope.safetensors", "fashion-mnist-sample", "--no-figures"],
    ["predict", "{tmp}/nope.safetensors", "{tmp}/x.png"],
])
def test_debug_after_a_subcommand_and_errors_name_the_whole_command(capsys, tmp_path, argv):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, "images", *argv)
    assert code != 0 and "Traceback" not in err
    assert err.startswith(f"neurallab images {argv[0]}: error: "), err
    for where in (["images", *argv, "--debug"], ["images", "--debug", *argv],
                  ["--debug", "images", *argv]):
        with pytest.raises(Exception) as exc:  # --debug: the exception itself
            cli.main(where)
        assert not isinstance(exc.value, SystemExit), where
    assert not list(tmp_path.iterdir())


def test_help_shows_examples(capsys):
    for argv in (["images", "--help"], ["images", "build", "--help"],
                 ["images", "show", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "examples:" in text and "--debug" in text
        description = text.split("\n\n")[1]   # after the usage lines: kept within 79
        assert max(len(line) for line in description.splitlines()) <= 79, argv
        if argv[1] == "build":  # what happens to a split that rounds to no image
            assert "one that rounds to 0 (0.1 of 4 images) leaves the split empty, with a " \
                "note. With --test it must leave at least one training image" in \
                " ".join(text.split())
    assert cli.main(["images"]) == 2  # no sub-command: the group's help


def test_other_modules_can_add_images_subcommands(monkeypatch, capsys):
    mod = types.ModuleType("neurallab_test_images_ext")

    def register(images_sub):
        p = images_cmd.add_images_command(images_sub, "hello", "say hello",
                                          "Say hello.", "neurallab images hello")
        p.set_defaults(func=lambda args: print("hello from an extension") or 0)

    mod.register = register
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(images_cmd, "EXTENSIONS", (mod.__name__, "neurallab.absent_module"))
    assert cli.main(["images", "hello"]) == 0
    assert "hello from an extension" in capsys.readouterr().out


# ---------------------------------------------------------------------- figures
def test_mosaic_by_hand():
    tiles = np.arange(4, dtype=np.uint8).reshape(2, 2, 1, 1)
    assert mosaic(tiles, fill=9).tolist() == [[0, 9, 9, 1], [9, 9, 9, 9], [9, 9, 9, 9],
                                              [2, 9, 9, 3]]


@pytest.mark.parametrize("n_pairs", [1, 2, 5])
def test_duplicate_pairs_title_fits_whatever_the_number_of_pairs(n_pairs):
    s = nl.datasets.fashion_mnist_sample()
    pairs = np.stack([np.arange(n_pairs), np.arange(n_pairs)], axis=1)
    fig = plot_duplicate_pairs(s.X_train, s.X_test, pairs, similarity=np.ones(n_pairs))
    title = {1: "1 duplicate pair", 2: "2 duplicate pairs", 5: "5 duplicate pairs"}[n_pairs]
    assert fig.get_suptitle() == f"{title} (train left, test right)"
    assert texts_cut_off(fig) == []
    few = plot_duplicate_pairs(s.X_train, s.X_test, pairs, max_pairs=1, names=("a", "b"))
    if n_pairs > 1:
        assert few.get_suptitle() == f"1 of {n_pairs} duplicate pairs (a left, b right)"
    assert texts_cut_off(few) == []


def test_figures_render(tmp_path):
    from neurallab.plots import save_figure

    s = nl.datasets.fashion_mnist_sample()
    save_figure(plot_class_samples(s.X_test, s.y_test, s.class_names, per_class=5),
                tmp_path / "a.png")
    rep = nl.datasets.class_balance({"train": s.y_train, "test": s.y_test[:700]},
                                    s.class_names)
    save_figure(plot_class_balance(rep), tmp_path / "b.png")
    save_figure(plot_duplicate_pairs(s.X_train, s.X_test, [[0, 1], [2, 3]],
                                     similarity=[0.995, 1.0]), tmp_path / "c.png")
    save_figure(plot_duplicate_pairs(s.X_train, s.X_test, np.zeros((0, 2))), tmp_path / "d.png")
    # normalised floats are shown at their grey levels too
    save_figure(plot_class_samples(s.X_test / np.float32(255) - 0.5, s.y_test, s.class_names),
                tmp_path / "e.png")
    for name in "abcde":
        with Image.open(tmp_path / f"{name}.png") as im:
            assert im.format == "PNG"


def test_build_fashion_mnist_downloads_only_when_asked(capsys, tmp_path, monkeypatch):
    from neurallab import datasets
    from neurallab.errors import DatasetNotFoundError

    asked = []

    def not_here(download=False, **kwargs):
        asked.append(download)
        raise DatasetNotFoundError("Fashion-MNIST is in none of the places searched")

    monkeypatch.setattr(datasets, "load_fashion_mnist", not_here)
    out = tmp_path / "f.npz"
    code, _, err = run(capsys, "images", "build", "fashion-mnist", "--out", out)
    assert code == 2 and asked == [False] and not out.exists()
    assert err.strip() == ("neurallab images build: error: Fashion-MNIST is in none of the "
                           "places searched (on the command line: add --download)")
    code, _, err = run(capsys, "images", "build", "fashion-mnist", "--out", out, "--download")
    assert asked == [False, True]
    # --download was given: not told to add it again
    assert err.strip() == ("neurallab images build: error: Fashion-MNIST is in none of the "
                           "places searched")
    code, _, err = run(capsys, "images", "build", "fashion-mnist-sample", "--out", out,
                       "--download")
    assert code == 2 and "--download is for fashion-mnist" in err


def test_build_fashion_mnist_does_not_suggest_a_download_that_would_not_help(
        capsys, tmp_path, monkeypatch):
    """NEURALLAB_DATA naming a folder that does not exist: the error names it, and
    adding --download would change nothing, so it is not suggested."""
    monkeypatch.setenv("NEURALLAB_DATA", str(tmp_path / "no-such-folder"))
    out = tmp_path / "f.npz"
    code, _, err = run(capsys, "images", "build", "fashion-mnist", "--out", out)
    assert code == 2 and not out.exists()
    assert "no-such-folder (given as NEURALLAB_DATA) does not exist" in err
    assert "--download" not in err
