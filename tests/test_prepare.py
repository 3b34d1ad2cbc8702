"""Preparing a data set: normalisation, balance, stratified splits, leaks, the .npz file."""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import neurallab as nl
from neurallab.datasets import prepare
from neurallab.datasets.prepare import (
    aligned_similarity,
    class_balance,
    content_hashes,
    find_leaks,
    flatten,
    load_dataset,
    normalize,
    one_hot,
    prepare_dataset,
    stratified_split,
)
from neurallab.errors import DatasetFileError, InputError, InputTypeError, ModelFileError


@pytest.fixture(scope="module")
def sample():
    return nl.datasets.fashion_mnist_sample()


# ---------------------------------------------------------------------- arrays
def test_normalize_by_hand():
    p = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(normalize(p), [[0.0, 0.2, 1.0]], rtol=0, atol=1e-7)
    np.testing.assert_allclose(normalize(p, "centered"), [[-0.5, -0.3, 0.5]], atol=1e-7)
    np.testing.assert_array_equal(normalize(p, "none"), [[0, 51, 255]])
    assert normalize(p).dtype == np.float32
    np.testing.assert_allclose(normalize(np.array([51.0])), [0.2], atol=1e-7)


@pytest.mark.parametrize("bad, err, msg", [
    (np.array([256]), InputError, "values from 256 to 256"),
    (np.array([-1.0, 3.0]), InputError, "values from -1.0 to 3.0"),
    (np.array([np.nan, 3.0]), InputError, "NaN/inf"),
    (np.array(["a"]), InputTypeError, "pixel numbers"),
])
def test_normalize_refuses_what_is_not_pixels(bad, err, msg):
    with pytest.raises(err, match=msg):
        normalize(bad)
    with pytest.raises(InputError, match="normalization must be one of 'unit'"):
        normalize(np.zeros(2, np.uint8), "zscore")


def test_flatten_is_a_view_and_one_hot_by_hand():
    X = np.zeros((4, 2, 3), np.uint8)
    F = flatten(X)
    assert F.shape == (4, 6) and np.shares_memory(F, X)
    np.testing.assert_array_equal(one_hot([2, 0, 1], 4),
                                  [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert one_hot([1, 0]).shape == (2, 2)
    with pytest.raises(InputError, match="labels go up to 4 but n_classes=3"):
        one_hot([4], 3)
    with pytest.raises(InputError, match="must be >= 0"):
        one_hot([-1, 2])
    with pytest.raises(InputError, match="1-D array"):
        one_hot([[1]])
    with pytest.raises(InputError, match="at least 2 dimensions"):
        flatten(np.zeros(3))


# ---------------------------------------------------------------------- balance
def test_balance_by_hand():
    labels = [0] * 10 + [1] * 10 + [2] * 4  # mean 8; ±20% = 6.4..9.6
    rep = class_balance(labels, ["a", "b", "c"])
    assert rep.totals.tolist() == [10, 10, 4]
    np.testing.assert_allclose(rep.fractions, [10 / 24, 10 / 24, 4 / 24])
    assert rep.flagged == [0, 1, 2] and rep.ratio == 2.5 and not rep.balanced
    text = str(rep)
    assert "c" in text and "16.7%" in text and "3 class(es) out of balance" in text
    assert class_balance(labels, ["a", "b", "c"], tolerance=0.3).flagged == [2]
    assert class_balance([0, 1, 1, 0]).balanced
    by_split = class_balance({"train": [0, 0, 1], "test": [1]}, ["x", "y"])
    assert by_split.counts.tolist() == [[2, 0], [1, 1]] and by_split.balanced
    assert json.loads(json.dumps(by_split.to_dict()))["counts"] == [[2, 0], [1, 1]]
    assert class_balance([0, 0], ["a", "b"]).ratio == float("inf")
    with pytest.raises(InputError, match="labels go up to 2 but there are 2 class names"):
        class_balance([0, 2], ["a", "b"])


# ---------------------------------------------------------------------- split
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       valid=st.one_of(st.floats(0, 0.4), st.integers(0, 5)),
       test=st.one_of(st.floats(0, 0.4), st.integers(0, 5)),
       seed=st.integers(0, 2**31))
def test_split_sizes_strata_and_seed(counts, valid, test, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    n = len(y)
    n_valid = round(valid * n) if isinstance(valid, float) else valid
    n_test = round(test * n) if isinstance(test, float) else test
    if n_valid > n or n_test > n or n_valid + n_test > n:
        with pytest.raises(InputError):  # more images asked for than there are
            stratified_split(y, valid=valid, test=test, seed=seed)
        return
    sp = stratified_split(y, valid=valid, test=test, seed=seed)
    assert (len(sp.valid), len(sp.test), len(sp.train)) == (n_valid, n_test,
                                                             n - n_valid - n_test)
    allidx = np.concatenate(sp)
    assert sorted(allidx.tolist()) == list(range(n))  # disjoint, complete
    for part, size in ((sp.valid, n_valid), (sp.test, n_test)):
        got = np.bincount(y[part], minlength=len(counts))
        quota = size * np.array(counts) / n
        assert np.all(np.abs(got - quota) < 1 + 1e-9) or np.any(got == counts)
    again = stratified_split(y, valid=valid, test=test, seed=seed)
    assert all(np.array_equal(a, b) for a, b in zip(sp, again, strict=True))


def test_split_exact_proportions_and_seed_changes():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    sp = stratified_split(y, valid=0.1, test=200, seed=1)
    assert np.bincount(y[sp.valid]).tolist() == [50, 30, 20]
    assert np.bincount(y[sp.test]).tolist() == [100, 60, 40]
    assert np.bincount(y[sp.train]).tolist() == [350, 210, 140]
    other = stratified_split(y, valid=0.1, test=200, seed=2)
    assert not np.array_equal(sp.test, other.test)
    part = stratified_split(y, valid=0, test=0, train=100, seed=0)
    assert len(part.train) == 100 and np.bincount(y[part.train]).tolist() == [50, 30, 20]


@pytest.mark.parametrize("kwargs, err, msg", [
    ({"valid": 0.6, "test": 0.6}, InputError, "are more than the 10 there are"),
    ({"valid": -0.1}, InputError, "fraction in \\[0, 1\\) or a whole count"),
    ({"valid": 1.5}, InputError, "valid=1.5"),
    ({"test": 11}, InputError, "test=11"),
    ({"valid": "0.1"}, InputTypeError, "valid must be a fraction"),
    ({"valid": True}, InputTypeError, "valid must be a fraction"),
])
def test_split_refuses_bad_sizes(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        stratified_split(np.arange(10) % 2, **kwargs)


def test_split_refuses_bad_labels():
    with pytest.raises(InputError, match="labels is empty"):
        stratified_split([])
    with pytest.raises(InputError, match="whole class numbers"):
        stratified_split([0.5, 1.0])


# ---------------------------------------------------------------------- leaks
def test_content_hashes_equal_only_for_equal_images(sample):
    X = sample.X_train[:500]
    h = content_hashes(X)
    assert len(np.unique(h)) == len(np.unique(X.reshape(500, -1), axis=0))
    assert content_hashes(X[:3].copy())[0] == h[0]
    odd = np.zeros((2, 3, 5), np.uint8)  # 15 bytes: padded to 16
    odd[1, 2, 4] = 1
    assert content_hashes(odd)[0] != content_hashes(odd)[1]


def test_exact_duplicates_within_and_across(sample):
    tr = sample.X_train[:300].copy()
    te = sample.X_test[:100].copy()
    tr[10] = tr[3]            # repeat inside train
    tr[11] = tr[3]            # and again
    te[5] = tr[7]             # test image also in train
    te[6] = te[5]             # ... twice
    rep = find_leaks({"train": tr, "test": te}, near=False)
    assert rep.exact_within["train"].tolist() == [[3, 10], [3, 11]]
    assert rep.exact_within["test"].tolist() == [[5, 6]]
    assert rep.exact_across[("train", "test")].tolist() == [[7, 5], [7, 6]]
    assert rep.counts()["exact_across"] == {"train/test": 2}
    assert rep.leaked("test").tolist() == [5, 6] and rep.repeated("train").tolist() == [10, 11]
    assert "2 of 100 images also in train (exact)" in str(rep)


def test_hash_collisions_never_make_false_duplicates(sample, monkeypatch):
    monkeypatch.setattr(prepare, "content_hashes", lambda X: np.zeros(len(X), np.uint64))
    tr = sample.X_train[:50].copy()
    te = sample.X_test[:20].copy()
    te[4] = tr[9]
    rep = find_leaks({"train": tr, "test": te}, near=False)
    assert rep.exact_across[("train", "test")].tolist() == [[9, 4]]
    assert all(len(p) == 0 for p in rep.exact_within.values())


def test_aligned_similarity_by_hand():
    rng = np.random.default_rng(0)
    a = np.zeros((1, 12, 12), np.float32)
    a[0, 3:8, 4:9] = rng.uniform(50, 250, (5, 5))
    shifted = np.roll(a, 1, axis=2)           # content stays inside: an exact 1-px shift
    np.testing.assert_allclose(aligned_similarity(a, shifted), [1.0], atol=1e-5)
    np.testing.assert_allclose(aligned_similarity(a, a * 0.5 + 30), [1.0], atol=1e-5)
    np.testing.assert_allclose(aligned_similarity(a, 255 - a, shift=0), [-1.0], atol=1e-5)
    assert aligned_similarity(a, np.roll(a, 3, axis=2))[0] < 0.9


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def test_near_duplicates_what_is_caught(sample):
    """Measured on the sample: each change of 40 test images, searched among 3,000."""
    rng = np.random.default_rng(1)
    ref = sample.X_train
    pick = rng.choice(len(ref), 40, replace=False)
    base = ref[pick].astype(np.int16)
    changes = {
        "brightness +20": np.clip(base + 20, 0, 255),
        "contrast x0.8": np.rint(base * 0.8),
        "noise sd 5": np.clip(base + rng.normal(0, 5, base.shape), 0, 255),
        "jpeg q90": np.stack([_jpeg(x, 90) for x in ref[pick]]),
        "1-px shift": np.roll(base, 1, axis=2),
    }
    caught = {}
    for name, changed in changes.items():
        rep = find_leaks({"train": ref, "test": changed.astype(np.uint8)})
        pairs = rep.near_across[("train", "test")]
        assert len(rep.exact_across[("train", "test")]) == 0
        assert np.all(pick[pairs[:, 1]] == pairs[:, 0])  # each found partner is the source
        caught[name] = len(pairs) / len(pick)
    assert caught["brightness +20"] == 1.0 and caught["contrast x0.8"] == 1.0
    assert caught["noise sd 5"] >= 0.95 and caught["jpeg q90"] >= 0.95
    assert caught["1-px shift"] >= 0.8


def test_distinct_images_are_not_near_duplicates(sample):
    """The sample's own 1,000 test images against its 3,000 training images: the few
    pairs found are above the threshold by measurement, and the same garments."""
    rep = find_leaks({"train": sample.X_train, "test": sample.X_test})
    pairs = rep.near_across[("train", "test")]
    assert len(pairs) <= 5
    assert np.all(rep.near_similarity[("train", "test")] >= 0.99)
    assert np.all(sample.y_train[pairs[:, 0]] == sample.y_test[pairs[:, 1]])


def test_near_within_a_split(sample):
    X = sample.X_train[:400].copy()
    X[300] = np.clip(X[20].astype(int) + 15, 0, 255)
    X[301] = X[21]  # exact: reported as such, not as near
    rep = find_leaks({"train": X}, near_within=True)
    assert [20, 300] in rep.near_within["train"].tolist()
    assert [21, 301] not in rep.near_within["train"].tolist()
    assert rep.exact_within["train"].tolist() == [[21, 301]]


def test_find_leaks_refuses_mixed_shapes():
    with pytest.raises(InputError, match="one shape"):
        find_leaks({"a": np.zeros((2, 4, 4), np.uint8), "b": np.zeros((2, 5, 5), np.uint8)})
    with pytest.raises(InputError, match="threshold must be"):
        find_leaks({"a": np.zeros((2, 4, 4), np.uint8)}, threshold=2)


def test_empty_splits_are_searched_sanitized_saved_and_loaded(sample, tmp_path):
    # valid=0 / test=0 are legitimate: the leak search, sanitizing and the file cope
    assert content_hashes(np.zeros((0, 28, 28), np.uint8)).shape == (0,)
    ds = prepare_dataset(sample.X_train[:60], sample.y_train[:60], sample.class_names,
                         valid=0, test=0.1, seed=0)
    assert ds.sizes == {"train": 54, "valid": 0, "test": 6}
    leaks = ds.find_leaks(near_within=True)
    assert leaks.counts()["sizes"] == {"train": 54, "valid": 0, "test": 6}
    assert leaks.counts()["exact_across"] == {"train/valid": 0, "train/test": 0,
                                              "valid/test": 0}
    assert "valid: 0 of 0 images also in train" in str(leaks)
    clean = ds.sanitized(leaks)
    clean.save(tmp_path / "e.npz")
    back = load_dataset(tmp_path / "e.npz")
    assert back.sizes == {"train": 54, "valid": 0, "test": 6}
    assert back.X_valid.shape == (0, 28, 28) and back.X_valid.dtype == np.uint8
    # only a training split at all
    only = find_leaks({"train": sample.X_train[:5], "valid": sample.X_train[:0],
                       "test": sample.X_train[:0]})
    assert only.sizes == {"train": 5, "valid": 0, "test": 0}


# ---------------------------------------------------------------------- dataset file
@pytest.fixture
def prepared(sample):
    paths = [f"c{y}/{i}.png" for i, y in enumerate(sample.y_train)]
    return prepare_dataset(sample.X_train, sample.y_train, sample.class_names, valid=0.1,
                           test=300, seed=3, paths=paths, info={"source": "sample"})


def test_prepare_dataset_splits(prepared, sample):
    assert prepared.sizes == {"train": 2400, "valid": 300, "test": 300}
    assert prepared.balance().counts.tolist() == [[240, 30, 30]] * 10
    assert prepared.preprocessing == {"image_size": [28, 28], "color_mode": "grayscale",
                                      "normalization": "unit", "invert": False}
    # each image keeps its path
    i = int(prepared.paths["test"][0].split("/")[1].split(".")[0])
    np.testing.assert_array_equal(prepared.X_test[0], sample.X_train[i])
    X = prepared.inputs("valid")
    assert X.shape == (300, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, prepared.X_valid.reshape(300, -1) / np.float32(255))


def test_save_load_round_trip(prepared, tmp_path):
    path = tmp_path / "d.npz"
    prepared.save(path)
    back = load_dataset(path)
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(back.split(s)[0], prepared.split(s)[0])
        np.testing.assert_array_equal(back.split(s)[1], prepared.split(s)[1])
        assert back.paths[s].tolist() == prepared.paths[s].tolist()
    assert back.class_names == list(prepared.class_names)
    assert back.preprocessing == prepared.preprocessing
    assert back.info == {"source": "sample", "seed": 3}
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("X_train.npy").compress_type == zipfile.ZIP_DEFLATED


def test_sanitized_drops_leaks_from_later_splits_only(prepared):
    ds = prepared
    ds.X_test[4] = ds.X_train[9]
    ds.X_valid[2] = np.clip(ds.X_train[5].astype(int) + 10, 0, 255)
    ds.X_train[100] = ds.X_train[101]
    rep = ds.find_leaks()
    clean = ds.sanitized(rep)
    assert clean.info["removed"] == {"train": 1, "valid": 1, "test": 1}
    assert clean.sizes == {"train": 2399, "valid": 299, "test": 299}
    again = clean.find_leaks()
    assert again.counts()["exact_across"] == {"train/valid": 0, "train/test": 0,
                                              "valid/test": 0}
    assert again.counts()["exact_within"]["train"] == 0
    assert ds.paths["test"][4] not in clean.paths["test"].tolist()
    only_exact = ds.sanitized(rep, near=False, within=False)
    assert only_exact.info["removed"] == {"train": 0, "valid": 0, "test": 1}


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def test_load_refuses_bad_files(prepared, tmp_path):
    good = tmp_path / "good.npz"
    prepared.save(good)
    arrays = dict(np.load(good, allow_pickle=False))
    meta = json.loads(str(arrays["meta"]))

    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetFileError, match="is not a prepared data set"):
        load_dataset(tmp_path / "text.npz")
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:5000])
    with pytest.raises(DatasetFileError, match=re.escape(
            f"{tmp_path / 'cut.npz'} is truncated or corrupt, or not a .npz made by 'neurallab "
            "images build' (File is not a zip file); rebuild it with 'neurallab images build "
            f"<folder> --out {tmp_path / 'cut.npz'}'")):
        load_dataset(tmp_path / "cut.npz")
    # damaged inside a compressed member: a CRC or a zlib error, said the same way
    raw = bytearray(good.read_bytes())
    for pos in (len(raw) // 3, len(raw) // 2):
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        bad[pos + 1] ^= 0x55
        (tmp_path / "flip.npz").write_bytes(bytes(bad))
        with pytest.raises(DatasetFileError, match="is truncated or corrupt"):
            load_dataset(tmp_path / "flip.npz")
    (tmp_path / "letters").mkdir()
    with pytest.raises(DatasetFileError, match=re.escape(
            "letters is a folder, not a prepared data set (.npz); a folder with one sub-folder "
            "of images per class must be built into one first: neurallab images build "
            f"{tmp_path / 'letters'} --out letters.npz")):
        load_dataset(tmp_path / "letters")
    with pytest.raises(DatasetFileError, match="pickled Python objects"):
        load_dataset(_write_npz(tmp_path / "p.npz", meta=arrays["meta"],
                                X_train=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(DatasetFileError, match="no 'meta'"):
        load_dataset(_write_npz(tmp_path / "f.npz", x=np.zeros(3)))
    bad = dict(arrays, meta=np.asarray(json.dumps(dict(meta, format_version=99))))
    with pytest.raises(DatasetFileError, match="format version 99, newer"):
        load_dataset(_write_npz(tmp_path / "v.npz", **bad))
    bad = dict(arrays, meta=np.asarray(json.dumps(dict(meta, format="other"))))
    with pytest.raises(DatasetFileError, match="format 'other'"):
        load_dataset(_write_npz(tmp_path / "o.npz", **bad))
    bad = {k: v for k, v in arrays.items() if k != "y_test"}
    with pytest.raises(DatasetFileError, match="lacks y_test"):
        load_dataset(_write_npz(tmp_path / "m.npz", **bad))
    bad = dict(arrays, y_valid=arrays["y_valid"] + 10)
    with pytest.raises(DatasetFileError, match="y_valid has labels outside 0..9"):
        load_dataset(_write_npz(tmp_path / "l.npz", **bad))
    bad = dict(arrays, X_test=arrays["X_test"][:, :, :20])
    with pytest.raises(DatasetFileError, match="X_test is uint8 \\(300, 28, 20\\)"):
        load_dataset(_write_npz(tmp_path / "s.npz", **bad))
    bad = dict(arrays, y_test=arrays["y_test"][:5])
    with pytest.raises(DatasetFileError, match="expected 300 integer labels"):
        load_dataset(_write_npz(tmp_path / "n.npz", **bad))
    for change, message in (({"image_size": [32, 32]}, "image_size \\[32, 32\\], but its "
                                                     "images are 28×28"),
                            ({"color_mode": "rgb"}, "color_mode 'rgb', but its images "
                                                    "have shape \\(28, 28\\)"),
                            ({"normalization": "zscore"}, "unknown normalization 'zscore'")):
        bad = dict(arrays, meta=np.asarray(json.dumps(
            dict(meta, preprocessing={**meta["preprocessing"], **change}))))
        with pytest.raises(DatasetFileError, match=message):
            load_dataset(_write_npz(tmp_path / "pp.npz", **bad))
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="folder .*no does not exist"):
        prepared.save(tmp_path / "no" / "dir.npz")


def test_prepare_dataset_refuses_mismatches(sample):
    with pytest.raises(InputError, match="images has 10 rows but labels has 9"):
        prepare_dataset(sample.X_train[:10], sample.y_train[:9], sample.class_names)
    with pytest.raises(InputError, match="labels go up to 9 but there are 2 class names"):
        prepare_dataset(sample.X_train[:10], sample.y_train[:10], ["a", "b"])
    with pytest.raises(InputError, match="shape \\(n, height, width\\)"):
        prepare_dataset(sample.X_train[:10].reshape(10, -1), sample.y_train[:10], "ab")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_prepare_dataset_refuses_nan_pixels(sample, bad):
    images = sample.X_train[:10] / np.float32(255)
    images[3, 4, 5] = bad
    with pytest.raises(InputError, match=re.escape(
            "images contains NaN or infinite pixels (first at index (3, 4, 5)); fix or drop "
            "those images first")):
        prepare_dataset(images, sample.y_train[:10], sample.class_names)


# ---------------------------------------------------------------- every stored field checked
@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """A small valid prepared file and its arrays and meta, to damage one field at a time."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)
    y = np.repeat(np.arange(3), 20)
    ds = prepare_dataset(X, y, ["a", "b", "c"], valid=0.2, test=0.2,
                         paths=[f"p{i}.png" for i in range(60)], info={"source": "x"})
    path = tmp_path_factory.mktemp("small") / "good.npz"
    ds.save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    return path, arrays, json.loads(str(arrays["meta"]))


def _with_meta(arrays, meta, **changes):
    m = json.loads(json.dumps(meta))
    for key, value in changes.items():
        if key in ("image_size", "color_mode", "normalization", "invert"):
            m["preprocessing"][key] = value
        else:
            m[key] = value
    return dict(arrays, meta=np.asarray(json.dumps(m)))


@pytest.mark.parametrize("changes, message", [
    ({"info": [1, 2]}, "its meta 'info' is [1, 2], not a mapping"),
    ({"info": "ab"}, "its meta 'info' is 'ab', not a mapping"),
    ({"image_size": 8}, "image_size 8, not [height, width]"),
    ({"image_size": None}, "image_size None, not [height, width]"),
    ({"image_size": [8, True]}, "image_size [8, True], not [height, width]"),
    ({"invert": "yes"}, "invert 'yes', not true or false"),
    ({"format_version": True}, "format_version is True, not a whole number >= 1"),
    ({"format_version": 0}, "format_version is 0, not a whole number >= 1"),
    ({"format_version": -5}, "format_version is -5, not a whole number >= 1"),
    ({"format_version": 1.0}, "format_version is 1.0, not a whole number >= 1"),
    ({"format_version": "1"}, "format_version is '1', not a whole number >= 1"),
    ({"normalization": ["unit"]}, "unknown normalization ['unit']"),
    ({"color_mode": "cmyk"}, "color_mode 'cmyk', but its images have shape (8, 8)"),
])
def test_load_refuses_bad_meta(small_file, tmp_path, changes, message):
    _, arrays, meta = small_file
    path = _write_npz(tmp_path / "meta.npz", **_with_meta(arrays, meta, **changes))
    with pytest.raises(DatasetFileError) as err:
        load_dataset(path)
    assert message in str(err.value)
    assert "neurallab images build" in str(err.value)


def _float_images(arrays, scale=1 / 255):
    return {k: (v.astype(np.float32) * np.float32(scale) if k.startswith("X_") else v)
            for k, v in arrays.items()}


@pytest.mark.parametrize("damage, message", [
    (lambda a: dict(a, paths_train=a["paths_train"][:3]),
     "paths_train has 3 entries, but X_train has 36 images"),
    (lambda a: dict(a, paths_train=np.arange(36)),
     "paths_train is a int64 array of shape (36,), not a list of file names"),
    (lambda a: {k: v for k, v in a.items() if k != "paths_test"},
     "it has paths_train, paths_valid but not paths_test"),
    (lambda a: dict(a, class_names=np.array(["a", "a", "c"])),
     "class name 'a' appears more than once in class_names"),
    (lambda a: dict(a, class_names=np.array([["a", "b", "c"]])),
     "class_names is a <U1 array of shape (1, 3), not a list of class names"),
    (lambda a: dict(a, class_names=np.array([1, 2, 3])),
     "class_names is a int64 array of shape (3,), not a list of class names"),
    (lambda a: {k: (np.repeat(v[..., None], 7, axis=3) if k.startswith("X_") else v)
                for k, v in a.items()},
     "X_train has shape (36, 8, 8, 7): 7 colour channels"),
    (lambda a: {k: (np.repeat(v[..., None], 3, axis=3) if k.startswith("X_") else v)
                for k, v in a.items()},
     "color_mode 'grayscale', but its images have shape (8, 8, 3)"),
    (lambda a: dict(_float_images(a), X_valid=np.full((12, 8, 8), np.nan, np.float32)),
     "X_valid holds NaN or infinite pixels (first at index (0, 0, 0))"),
    (lambda a: _float_images(a, 1000.0),
     "X_train holds float values from 0 to 255000, but its normalization 'unit' gives "
     "values from 0 to 1"),
])
def test_load_refuses_inconsistent_arrays(small_file, tmp_path, damage, message):
    _, arrays, _ = small_file
    path = _write_npz(tmp_path / "bad.npz", **damage(arrays))
    with pytest.raises(DatasetFileError) as err:
        load_dataset(path)
    assert message in str(err.value)
    assert "neurallab images build" in str(err.value)


def test_load_accepts_normalised_float_images(small_file, tmp_path):
    _, arrays, _ = small_file
    back = load_dataset(_write_npz(tmp_path / "f.npz", **_float_images(arrays)))
    assert back.X_train.dtype == np.float32 and back.X_train.max() <= 1


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_load_refuses_foreign_members(small_file, tmp_path):
    _, arrays, _ = small_file
    members = {f"{k}.npy": _npy(v) for k, v in arrays.items()}
    raw = dict(members)
    raw["X_train"] = raw.pop("X_train.npy")
    with pytest.raises(DatasetFileError, match="member 'X_train' is not a .npy array"):
        load_dataset(_zip(tmp_path / "raw.npz", raw))
    with pytest.raises(DatasetFileError, match="uses compression method 12, which neurallab "
                                               "never writes"):
        load_dataset(_zip(tmp_path / "bz.npz", members, zipfile.ZIP_BZIP2))


def _header(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_load_refuses_a_header_declaring_more_than_the_member_holds(small_file, tmp_path):
    _, arrays, _ = small_file
    members = {f"{k}.npy": _npy(v) for k, v in arrays.items()}
    members["X_train.npy"] = _header((2**40, 8, 8)) + bytes(100)
    with pytest.raises(DatasetFileError, match=re.escape(
            "member 'X_train.npy' declares shape (1099511627776, 8, 8) of uint8 = "
            "70,368,744,177,664 bytes, but holds 100")):
        load_dataset(_zip(tmp_path / "huge.npz", members))


def test_load_allocates_nothing_for_a_zip_bomb(small_file, tmp_path):
    # a member whose zip sizes and .npy header agree on 3 GiB, in a few hundred
    # compressed bytes: refused before allocating, not after
    _, arrays, _ = small_file
    members = {f"{k}.npy": _npy(v) for k, v in arrays.items()}
    head = _header((3 << 30,))
    members["X_train.npy"] = head + bytes(1000)
    path = _zip(tmp_path / "bomb.npz", members)
    raw = bytearray(path.read_bytes())
    lie = len(head) + (3 << 30)
    with zipfile.ZipFile(path) as z:
        local = z.getinfo("X_train.npy").header_offset
    struct.pack_into("<I", raw, local + 22, lie)
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + n] == b"X_train.npy":
            struct.pack_into("<I", raw, pos + 24, lie)
        pos = raw.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFileError, match="more than its .* compressed bytes can "
                                                   "hold"):
            load_dataset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak:,} bytes"


# ---------------------------------------------------------------- what save writes, load reads
def _pixels():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (40, 6, 6), dtype=np.uint8), np.repeat(np.arange(2), 20)


@pytest.mark.parametrize("convert, dtype", [
    (lambda X: X.astype(np.float64), np.uint8),      # whole numbers 0-255: pixels
    (lambda X: X.astype(np.int64), np.uint8),
    (lambda X: X.astype(np.uint16), np.uint8),
    (lambda X: X.astype(np.float64) / 255, np.float32),  # normalised inputs ('unit')
    (lambda X: (X > 127).astype(np.float64), np.float32),  # 0/1 floats stay inputs
])
def test_save_writes_only_what_load_reads(tmp_path, convert, dtype):
    X, y = _pixels()
    ds = prepare_dataset(convert(X), y, ["a", "b"], valid=0.25, test=0.25)
    ds.save(tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    assert back.X_train.dtype == dtype
    np.testing.assert_allclose(back.inputs("train"), ds.inputs("train"), atol=1e-6)
    np.testing.assert_allclose(back.inputs("test"), ds.inputs("test"), atol=1e-6)


def test_save_refuses_what_load_would_refuse(tmp_path):
    X, y = _pixels()
    ds = prepare_dataset(X, y, ["a", "b"])
    half = prepare.PreparedDataset(
        X[:20] + 0.5, y[:20], X[20:30] + 0.5, y[20:30], X[30:] + 0.5, y[30:], ["a", "b"],
        dict(ds.preprocessing))
    with pytest.raises(InputError, match=r"X_train holds float64 values from 0\.5 to 255\.5: "
                                         "neither pixels"):
        half.save(tmp_path / "h.npz")
    wide = prepare.PreparedDataset(
        X[:20].astype(np.int64) * 2, y[:20], X[20:30], y[20:30], X[30:], y[30:], ["a", "b"],
        dict(ds.preprocessing))
    with pytest.raises(InputError, match="X_train holds int64 whole numbers from 0 to 5"):
        wide.save(tmp_path / "w.npz")
    for change, message in (({"image_size": [8, 8]}, "image_size [8, 8], but its images are "
                                                     "6×6"),
                            ({"color_mode": "rgb"}, "color_mode 'rgb', but its images have"),
                            ({"invert": "no"}, "invert 'no', not true or false")):
        bad = prepare.PreparedDataset(ds.X_train, ds.y_train, ds.X_valid, ds.y_valid,
                                      ds.X_test, ds.y_test, ["a", "b"],
                                      {**ds.preprocessing, **change})
        with pytest.raises(InputError, match=re.escape(message)) as err:
            bad.save(tmp_path / "p.npz")
        assert "nothing was written" in str(err.value)
    twice = prepare.PreparedDataset(ds.X_train, ds.y_train, ds.X_valid, ds.y_valid,
                                    ds.X_test, ds.y_test, ["a", "a"], ds.preprocessing)
    with pytest.raises(InputError, match="class name 'a' appears more than once"):
        twice.save(tmp_path / "t.npz")
    assert not list(tmp_path.iterdir())


def test_save_stores_numpy_scalars_in_info(tmp_path):
    X, y = _pixels()
    prepare_dataset(X, y, ["a", "b"], seed=np.int64(3),
                    info={"n": np.float32(0.5)}).save(tmp_path / "s.npz")
    assert load_dataset(tmp_path / "s.npz").info == {"n": 0.5, "seed": 3}


def test_one_channel_images_are_grayscale(tmp_path):
    X, y = _pixels()
    ds = prepare_dataset(X[..., None], y, ["a", "b"])
    assert ds.preprocessing["color_mode"] == "grayscale"
    ds.save(tmp_path / "g.npz")
    back = load_dataset(tmp_path / "g.npz")
    assert back.X_train.shape[1:] == (6, 6, 1)
    assert back.preprocessing["color_mode"] == "grayscale"
    assert prepare_dataset(np.repeat(X[..., None], 3, axis=3), y,
                           ["a", "b"]).preprocessing["color_mode"] == "rgb"


def test_find_leaks_compares_mixed_dtypes_by_value():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 256, (30, 12, 12), dtype=np.uint8)
    B = rng.integers(0, 256, (10, 12, 12), dtype=np.uint8)
    B[3] = A[7]
    for other in (B.astype(np.float32), B.astype(np.int64), B.astype(np.float64)):
        r = find_leaks({"train": A, "test": other})
        assert r.exact_across[("train", "test")].tolist() == [[7, 3]]
        assert r.near_across[("train", "test")].tolist() == []
    # -0.0 and 0.0 are the same pixel value
    z = np.zeros((2, 4, 4), np.float32)
    z[1] = -0.0
    assert find_leaks({"a": z}, near=False).exact_within["a"].tolist() == [[0, 1]]


def test_sanitized_refuses_a_report_of_other_images():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)
    y = np.repeat(np.arange(3), 20)
    ds = prepare_dataset(X, y, ["a", "b", "c"], valid=0.2, test=0.2)
    bigger = prepare_dataset(np.concatenate([X, X]), np.concatenate([y, y]), ["a", "b", "c"])
    with pytest.raises(InputError, match=re.escape(
            "the leak report is for splits of sizes {'train': 96, 'valid': 12, 'test': 12}, "
            "but this data set has {'train': 36, 'valid': 12, 'test': 12}")):
        ds.sanitized(bigger.find_leaks(near=False))
    # same sizes, other images: the fingerprints differ
    other = prepare_dataset(255 - X, y, ["a", "b", "c"], valid=0.2, test=0.2)
    with pytest.raises(InputError, match="does not describe this data set's images "
                                         r"\(different images in train, valid, test"):
        ds.sanitized(other.find_leaks(near=False))
    # images changed after the search
    report = ds.find_leaks(near=False)
    ds.X_test[0] = ds.X_train[0]
    with pytest.raises(InputError, match="different images in test"):
        ds.sanitized(report)
    fresh = ds.find_leaks(near=False)
    assert ds.sanitized(fresh).sizes["test"] == 11
    with pytest.raises(InputTypeError, match="report must be a LeakReport"):
        ds.sanitized(fresh.counts())
