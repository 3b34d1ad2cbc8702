"""A folder of real PNG/JPEG files with planted problems: each is handled as specified."""

from __future__ import annotations

import io
import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import neurallab as nl
from neurallab.datasets import images as images_mod
from neurallab.datasets import load_image_folder, prepare_dataset
from neurallab.errors import InputError, InputTypeError

CLASSES = ["Pullover", "T-shirt-top", "Trouser"]  # sorted; sample labels 2, 0, 1
SAMPLE_LABEL = {"Pullover": 2, "T-shirt-top": 0, "Trouser": 1}
PER_CLASS = 30
N_DUP = 6


def _png_bomb(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def build_planted(root: Path) -> dict:
    """Real images from the packaged sample, plus one of every problem.

    Returns the expected facts: PNG pixels by path, and the planted duplicate pairs.
    """
    s = nl.datasets.fashion_mnist_sample()
    expected = {"png": {}, "exact": [], "near": []}
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        idx = np.flatnonzero(s.y_train == SAMPLE_LABEL[cls])[:PER_CLASS]
        for n, i in enumerate(idx):
            if n % 2 == 0:
                rel = f"{cls}/{n:03d}.png"
                Image.fromarray(s.X_train[i]).save(root / rel)
                expected["png"][rel] = s.X_train[i]
            else:
                Image.fromarray(s.X_train[i]).save(root / f"{cls}/{n:03d}.jpg", quality=95)
    # exact copies (same bytes) and near copies (brighter by 12) of PNGs of two classes
    for k in range(N_DUP):
        src = f"Pullover/{2 * k:03d}.png"
        shutil.copyfile(root / src, root / f"Pullover/dup{k}.png")
        expected["exact"].append((src, f"Pullover/dup{k}.png"))
        src = f"T-shirt-top/{2 * k:03d}.png"
        brighter = np.clip(expected["png"][src].astype(int) + 12, 0, 255).astype(np.uint8)
        Image.fromarray(brighter).save(root / f"T-shirt-top/near{k}.png")
        expected["near"].append((src, f"T-shirt-top/near{k}.png"))
    bad = root / "Trouser"
    (bad / "zero.png").write_bytes(b"")
    png = (root / "Trouser/000.png").read_bytes()
    (bad / "truncated.png").write_bytes(png[: len(png) // 2])
    (bad / "text.png").write_text("a text file, named like a picture")
    Image.fromarray(np.full((30, 40), 200, np.uint8)).save(bad / "wrong-size.png")
    (bad / "bomb.png").write_bytes(_png_bomb(9000, 9000))
    (bad / "readme.txt").write_text("notes")
    (bad / ".hidden.png").write_bytes(png)
    (root / "stray.png").write_bytes(png)
    (root / "Pullover" / "more").mkdir()
    shutil.copyfile(root / "Trouser/000.png", root / "Pullover/more/nested.png")
    return expected


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    return root, build_planted(root)


@pytest.fixture(scope="module")
def loaded(planted):
    root, _ = planted
    return load_image_folder(root)


def test_classes_labels_and_stable_order(loaded):
    X, y, names, report = loaded
    assert names == CLASSES
    # 30 real images each; + 6 copies and the nested file; + 6 near copies; + wrong size
    assert report.class_counts == {"Pullover": 37, "T-shirt-top": 36, "Trouser": 31}
    assert X.shape == (len(y), 28, 28) and X.dtype == np.uint8 and y.dtype == np.int64
    assert report.paths == sorted(report.paths)
    assert np.all(np.diff(y) >= 0)  # class by class
    assert X.base is None and X.nbytes == len(y) * 784  # exactly the data, no spare rows


def test_png_pixels_are_exact_and_jpeg_close(loaded, planted):
    X, y, names, report = loaded
    _, expected = planted
    where = {p: i for i, p in enumerate(report.paths)}
    for rel, pixels in expected["png"].items():
        np.testing.assert_array_equal(X[where[rel]], pixels)
        assert names[y[where[rel]]] == rel.split("/")[0]
    jpgs = [i for p, i in where.items() if p.endswith(".jpg")]
    assert len(jpgs) == 3 * PER_CLASS // 2


def test_every_planted_problem_is_skipped_and_reported(loaded):
    report = loaded.report
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {
        "Trouser/zero.png": "empty file (0 bytes)",
        "Trouser/truncated.png": "is truncated or corrupt: image file is truncated",
        "Trouser/text.png": "not an image (Pillow cannot identify it as PNG, JPEG, BMP, GIF, "
                            "TIFF, WEBP)",
        "Trouser/bomb.png": "declares 9000×9000 = 81,000,000 pixels, more than "
                            "max_pixels=40,000,000; it was refused without decoding (a "
                            "decompression bomb, or a photo to shrink first; pass a larger "
                            "max_pixels if you trust it)",
        "Trouser/readme.txt": "not an image file name (extension .txt)",
        "stray.png": "not inside a class folder",
    }
    assert ".hidden.png" not in str(report)
    assert "Pullover/more/nested.png" in report.paths
    assert report.resized == 1 and "Trouser/wrong-size.png" in report.paths
    assert "6 skipped" in str(report) and "skipped Trouser/zero.png: empty" in str(report)


def test_wrong_size_is_padded_or_refused(planted, loaded):
    root, _ = planted
    i = loaded.report.paths.index("Trouser/wrong-size.png")
    # 40×30 of grey 200 scaled to 28×21 and padded with its own border colour: all 200
    assert (loaded.images[i] == 200).all()
    strict = load_image_folder(root, exact_size=True)
    reasons = {s.path: s.reason for s in strict.report.skipped}
    assert reasons["Trouser/wrong-size.png"] == ("is 40×30 pixels (width×height), expected "
                                                 "28×28 (exact_size=True); resize it or "
                                                 "allow resizing")
    assert strict.report.resized == 0 and len(strict.labels) == len(loaded.labels) - 1


def test_duplicates_across_splits_are_found_and_removed(planted, loaded):
    _, expected = planted
    X, y, names, report = loaded
    ds = prepare_dataset(X, y, names, valid=0.2, test=0.2, seed=0, paths=report.paths)
    leaks = ds.find_leaks()
    where = {str(p): (s, i) for s in ("train", "valid", "test")
             for i, p in enumerate(ds.paths[s])}
    order = {"train": 0, "valid": 1, "test": 2}
    across = {"exact": 0, "near": 0}
    for kind in ("exact", "near"):
        found = leaks.exact_across if kind == "exact" else leaks.near_across
        for a_path, b_path in expected[kind]:
            (sa, ia), (sb, ib) = where[a_path], where[b_path]
            if sa == sb:  # same split: a repeat (exact) or not reported (near)
                if kind == "exact":
                    assert [min(ia, ib), max(ia, ib)] in leaks.exact_within[sa].tolist()
                continue
            across[kind] += 1
            (s1, i1), (s2, i2) = sorted([(sa, ia), (sb, ib)], key=lambda t: order[t[0]])
            assert [i1, i2] in found[(s1, s2)].tolist()
    assert across["exact"] >= 1 and across["near"] >= 1  # seed 0 puts some across
    # nothing else is reported: every pair found is a planted one (or the nested copy)
    planted_paths = {p for pair in expected["exact"] + expected["near"] for p in pair}
    planted_paths |= {"Trouser/000.png", "Pullover/more/nested.png"}
    for (a, b), pairs in list(leaks.exact_across.items()) + list(leaks.near_across.items()):
        for i, j in pairs:
            assert ds.paths[a][i] in planted_paths and ds.paths[b][j] in planted_paths
    clean = ds.sanitized(leaks)
    again = clean.find_leaks()
    assert all(v == 0 for v in again.counts()["exact_across"].values())
    assert all(v == 0 for v in again.counts()["near_across"].values())
    assert all(v == 0 for v in again.counts()["exact_within"].values())


def test_bombs_beyond_pillows_own_limit_are_reported_in_the_same_words(tmp_path):
    # 20000×20000 is beyond twice Image.MAX_IMAGE_PIXELS: Pillow itself refuses it while
    # reading the header; the report says so as for any other bomb
    (tmp_path / "a").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "a" / "ok.png")
    (tmp_path / "a" / "huge.png").write_bytes(_png_bomb(20_000, 20_000))
    (tmp_path / "a" / "big.png").write_bytes(_png_bomb(10_000, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no DecompressionBombWarning on the way
        report = load_image_folder(tmp_path).report
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {
        os.path.join("a", "huge.png"): "declares 400,000,000 pixels, more than "
                                       "max_pixels=40,000,000; it was refused without "
                                       "decoding (a decompression bomb, or a photo to "
                                       "shrink first)",
        os.path.join("a", "big.png"): "declares 10000×10000 = 100,000,000 pixels, more than "
                                      "max_pixels=40,000,000; it was refused without "
                                      "decoding (a decompression bomb, or a photo to "
                                      "shrink first; pass a larger max_pixels if you "
                                      "trust it)",
    }
    assert report.paths == [os.path.join("a", "ok.png")]


def test_min_per_class(planted):
    root, _ = planted
    with pytest.raises(InputError, match="1 class\\(es\\) have fewer than min_per_class=32 "
                                         "usable images: 'Trouser' has 31 .*Add images, "
                                         "remove the class folder, or lower min_per_class"):
        load_image_folder(root, min_per_class=32)


def test_empty_class_folder_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "a" / "x.png")
    with pytest.raises(InputError, match="'b' has 0"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, min_per_class=0).report.class_counts == {"a": 1, "b": 0}


def test_root_errors(tmp_path):
    with pytest.raises(InputError, match="is not a folder"):
        load_image_folder(tmp_path / "absent")
    with pytest.raises(InputTypeError, match=r"root must be a path \(a str or pathlib\.Path\), "
                                             r"got None"):
        load_image_folder(None)
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(InputError, match="has no sub-folders; put the images of each class"):
        load_image_folder(tmp_path)
    with pytest.raises(InputError, match="workers must be >= 1"):
        (tmp_path / "c").mkdir()
        load_image_folder(tmp_path, workers=0)
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(InputError, match=f"min_per_class must be a whole number >= 0, "
                                             f"got {bad!r}"):
            load_image_folder(tmp_path, min_per_class=bad)


def test_rgb_and_normalised_loading(planted, loaded):
    root, _ = planted
    rgb = load_image_folder(root, color_mode="rgb", image_size=(16, 16))
    assert rgb.images.shape == (len(loaded.labels), 16, 16, 3)
    unit = load_image_folder(root, normalization="unit")
    assert unit.images.dtype == np.float32
    np.testing.assert_array_equal(unit.images, loaded.images / np.float32(255))


def test_parallel_decoding_equals_serial_and_shows_progress(tmp_path, capsys, monkeypatch):
    s = nl.datasets.fashion_mnist_sample()
    for c in range(2):
        (tmp_path / f"c{c}").mkdir()
    monkeypatch.setattr(images_mod, "_PARALLEL_MIN_FILES", 100)  # processes from 100 files
    monkeypatch.setattr(images_mod, "_CHUNK_FILES", 64)          # in several chunks
    for i in range(600):
        Image.fromarray(s.X_train[i]).save(tmp_path / f"c{i % 2}" / f"{i:04d}.png")
    (tmp_path / "c1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    calls = []
    original = images_mod._mp_context
    monkeypatch.setattr(images_mod, "_mp_context", lambda: calls.append(1) or original())
    par = load_image_folder(tmp_path, workers=2, progress=True)
    assert calls == [1]  # worker processes were used
    ser = load_image_folder(tmp_path, workers=1, progress=False)
    np.testing.assert_array_equal(par.images, ser.images)
    np.testing.assert_array_equal(par.labels, ser.labels)
    assert par.report.paths == ser.report.paths and len(par.labels) == 600
    assert [s.path for s in par.report.skipped] == [os.path.join("c1", "broken.png")]
    assert "loading images" in capsys.readouterr().err
    np.testing.assert_array_equal(par.images[0], s.X_train[0])


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt",
                    reason="symbolic links need POSIX")
def test_symbolic_links_are_followed_or_listed(tmp_path):
    png = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png, "PNG")
    root = tmp_path / "root"
    for cls in ("cat", "dog"):
        (root / cls / "sub").mkdir(parents=True)
        (root / cls / "a.png").write_bytes(png.getvalue())
        (root / cls / "sub" / "b.png").write_bytes(png.getvalue())
    outside = tmp_path / "elsewhere" / "bird"
    outside.mkdir(parents=True)
    (outside / "c.png").write_bytes(png.getvalue())
    os.symlink(root / "cat", root / "kitten")              # another class folder
    os.symlink(root / "dog" / "sub", root / "puppy")       # inside a class folder
    os.symlink(root, root / "everything")                  # holds every class folder
    os.symlink(outside, root / "bird")                     # elsewhere: a class of its own
    os.symlink("..", root / "cat" / "up")                  # a loop inside a class folder
    os.symlink(root / "dog", root / "cat" / "dogs")        # a class inside another
    os.symlink("a.png", root / "dog" / "again.png")        # a file link: read as a file
    os.symlink(tmp_path / "missing", root / "gone")        # broken
    folder = load_image_folder(root)
    assert folder.class_names == ["bird", "cat", "dog"]
    assert folder.report.paths == ["bird/c.png", "cat/a.png", "cat/sub/b.png",
                                   "dog/a.png", "dog/again.png", "dog/sub/b.png"]
    reasons = {s.path: s.reason for s in folder.report.skipped}
    assert set(reasons) == {"kitten", "puppy", "everything", "cat/up", "cat/dogs", "gone"}
    assert reasons["kitten"].startswith("class folder is a symbolic link to class folder "
                                        "'cat'")
    assert "a folder inside class folder 'dog'" in reasons["puppy"]
    assert "a folder holding class folder" in reasons["everything"]
    for link in ("cat/up", "cat/dogs"):
        assert reasons[link].startswith("symbolic link to a folder inside a class folder: "
                                        "not followed")
    assert "broken symbolic link" in reasons["gone"]
