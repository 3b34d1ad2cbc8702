"""save/load: one .safetensors file; round trips, atomic writes, and every kind of bad file."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file as st_load_file
from safetensors.numpy import save as st_save
from safetensors.numpy import save_file as st_save_file

import neurallab as nl
import neurallab.io as nlio
from neurallab.errors import ModelFileError


@pytest.fixture
def trained(sleep):
    X, y = sleep
    net = nl.Network([2, 3, 1], bias=True, seed=0, input_scaler="max",
                     output_scaler=nl.preprocessing.MaxAbsScaler(100))
    net.fit(X, y, optimizer="lbfgs", epochs=50, verbose=0)
    net.meta = {"note": "sleep study", "image_size": [28, 28]}
    return net


@pytest.fixture
def saved(trained, tmp_path):
    path = tmp_path / "model.safetensors"
    trained.save(path)
    return path


def read_header(path):
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_with_header(path, header, body):
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + body)


def rewrite_metadata(path, *, config=None, redigest=False, **fields):
    """Change metadata fields (and optionally the config) of a saved model in place."""
    header, body = read_header(path)
    meta = header["__metadata__"]
    meta.update(fields)
    if config is not None:
        meta["config"] = json.dumps(config, sort_keys=True)
    if redigest:
        meta["sha256"] = nlio._digest(meta["config"], st_load_file(path))
    write_with_header(path, header, body)


# ----------------------------------------------------------------------------- round trip
def test_round_trip(trained, saved, sleep):
    X, _ = sleep
    loaded = nl.load(saved)
    assert isinstance(loaded, nl.Network)
    assert loaded.params.tobytes() == trained.params.tobytes()
    assert loaded.config() == trained.config()
    np.testing.assert_array_equal(loaded.predict(X), trained.predict(X))
    np.testing.assert_array_equal(loaded.predict([[8, 3]]), trained.predict([[8, 3]]))
    assert loaded.meta == {"note": "sleep study", "image_size": [28, 28]}
    assert loaded.loss == "sse"
    assert loaded.input_scaler.scale_.tolist() == [10.0, 5.0]
    assert loaded.output_scaler.to_dict() == trained.output_scaler.to_dict()
    # the loaded W and b are views into the loaded params, as always
    assert all(np.shares_memory(W, loaded.params) for W in loaded.W)


def test_round_trip_classifier_float32_no_bias(blobs, tmp_path):
    X, labels = blobs
    net = nl.Network([2, 5, 3], activation="relu", output_activation="softmax", bias=False,
                     dtype="float32", dropout=0.1, seed=1, input_scaler="standard")
    net.fit(X, labels, loss="categorical_crossentropy", optimizer="adam", lr=0.05,
            epochs=5, batch_size=20, verbose=0, seed=0)
    net.class_names = ["circle", "square", "triangle"]
    path = tmp_path / "clf.safetensors"
    net.save(path)
    loaded = nl.load(str(path))  # str paths work too
    assert loaded.dtype == np.float32 and loaded.params.dtype == np.float32
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.class_names == ["circle", "square", "triangle"]
    assert loaded.dropout == [0.1] and loaded.b == [None, None]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))


def test_saving_twice_gives_the_same_contents(trained, tmp_path):
    # (safetensors may order the metadata keys differently each time, so compare parsed)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    trained.save(a)
    nlio.save(trained, b)
    (ha, ta), (hb, tb) = read_header(a), read_header(b)
    assert ha == hb and ta == tb


def test_saving_twice_gives_the_same_bytes(trained, tmp_path):
    # the safetensors writer orders metadata by hash; the header is re-sorted
    files = [tmp_path / f"m{i}.safetensors" for i in range(6)]
    for f in files:
        trained.save(f)
    assert len({f.read_bytes() for f in files}) == 1
    header, _ = read_header(files[0])
    assert list(header) == sorted(header)
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])
    assert nl.load(files[0]).params.tobytes() == trained.params.tobytes()
    assert st_load_file(files[0]).keys() == {"0.weight", "0.bias", "2.weight", "2.bias"}


# ----------------------------------------------------------------------------- layout
def test_tensor_names_and_shapes(saved, trained):
    tensors = st_load_file(saved)
    assert {k: v.shape for k, v in tensors.items()} == {
        "0.weight": (3, 2), "0.bias": (3,), "2.weight": (1, 3), "2.bias": (1,)}
    np.testing.assert_array_equal(tensors["0.weight"], trained.W[0].T)  # (n_out, n_in)
    np.testing.assert_array_equal(tensors["2.bias"], trained.b[1])
    assert nlio.tensor_names(0) == ("0.weight", "0.bias")
    assert nlio.tensor_names(3) == ("6.weight", "6.bias")
    header, _ = read_header(saved)
    meta = header["__metadata__"]
    assert meta["format"] == "neurallab" and meta["format_version"] == "1"
    assert json.loads(meta["config"]) == trained.config()


@pytest.mark.parametrize("bias", [True, False])
def test_loads_into_a_torch_sequential(tmp_path, bias):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    net = nl.Network([2, 3, 1], bias=bias, seed=3)
    path = tmp_path / "m.safetensors"
    net.save(path)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=bias), torch.nn.Sigmoid(),
                                torch.nn.Linear(3, 1, bias=bias), torch.nn.Sigmoid()).double()
    if bias:  # make the biases non-zero so that loading them is tested
        net.b[0][...] = [0.1, -0.2, 0.3]
        net.b[1][...] = [0.5]
        net.save(path)
    missing, unexpected = model.load_state_dict(load_file(path), strict=True)
    assert not missing and not unexpected
    X = np.random.default_rng(0).uniform(size=(5, 2))
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-14)


# ----------------------------------------------------------------------------- atomic writes
def test_no_temporary_files_are_left(trained, tmp_path):
    for _ in range(3):
        trained.save(tmp_path / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_a_failed_save_leaves_the_existing_file_untouched(trained, saved, monkeypatch):
    before = saved.read_bytes()
    trained.params[...] += 1.0  # a different model, so a completed save would change bytes

    def fail(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", src)

    monkeypatch.setattr(nlio.os, "replace", fail)
    with pytest.raises(ModelFileError, match=re.escape(
            f"cannot save to {saved}: No space left on device (nothing was written; "
            "model.safetensors is as it was)")):
        trained.save(saved)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model.safetensors"]


def test_save_into_an_unwritable_folder_names_the_file_not_a_temporary(trained, tmp_path,
                                                                       monkeypatch):
    """(root may write anywhere, so the refusal is simulated where the OS gives it)"""
    def refuse(prefix, suffix, dir):
        raise PermissionError(errno.EACCES, "Permission denied",
                              str(Path(dir) / f"{prefix}x1y2{suffix}"))

    monkeypatch.setattr(nlio.tempfile, "mkstemp", refuse)
    path = tmp_path / "m.safetensors"
    with pytest.raises(ModelFileError, match=re.escape(
            f"cannot save to {path}: folder {tmp_path} is not writable (Permission denied); "
            "choose another folder")):
        trained.save(path)
    assert list(tmp_path.iterdir()) == []


def test_an_unsaveable_model_leaves_the_existing_file_untouched(trained, saved):
    before = saved.read_bytes()
    trained.meta = {"callback": object()}  # not JSON
    with pytest.raises(TypeError):
        trained.save(saved)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model.safetensors"]


def test_save_into_a_missing_folder(trained, tmp_path):
    path = tmp_path / "nowhere" / "m.safetensors"
    with pytest.raises(ModelFileError, match=re.escape(
            f"cannot save to {path}: folder {path.parent} does not exist")):
        trained.save(path)


def test_save_in_the_current_folder(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained.save("here.safetensors")
    assert nl.load("here.safetensors").params.tobytes() == trained.params.tobytes()


# ----------------------------------------------------------------------------- bad files
NOT_READABLE = r"is not a readable \.safetensors model \(truncated or a different kind of file"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(ModelFileError, match=re.escape(f"model file {path} does not exist")):
        nl.load(path)
    with pytest.raises(ModelFileError, match=re.escape(
            f"{tmp_path} is a folder, not a model file; give the path of a .safetensors file")):
        nl.load(tmp_path)


def test_save_onto_a_folder(trained, tmp_path):
    with pytest.raises(ModelFileError, match=re.escape(
            f"cannot save to {tmp_path}: it is a folder; give a file name inside it, e.g. "
            f"{tmp_path / 'model.safetensors'}")):
        trained.save(tmp_path)
    assert list(tmp_path.iterdir()) == [] and list(tmp_path.parent.glob(".*.tmp")) == []


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep >= 0 else data[:-3])
    with pytest.raises(ModelFileError, match=NOT_READABLE + r".*save models with "
                                                          r"Network\.save"):
        nl.load(saved)


@pytest.mark.parametrize("content", [
    os.urandom(64) + b"\x00" * 64,
    (2**63).to_bytes(8, "little") + b"{}",  # absurd header length
    b"\x89PNG\r\n\x1a\n" + bytes(100),
    b"not a model at all\n" * 10,
    (2).to_bytes(8, "little") + b"[]",  # JSON, but not a header
])
def test_random_bytes_and_other_files(tmp_path, content):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=NOT_READABLE):
        nl.load(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    st_save_file({"embedding.weight": np.ones((4, 2), np.float32)}, path,
                 metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match=re.escape(
            f"{path} is a safetensors file but not a neurallab model (no 'format: neurallab' "
            "in its metadata); to bring in PyTorch weights use neurallab.interop.from_torch")):
        nl.load(path)
    path.write_bytes(st_save({"x": np.zeros(3)}))  # no metadata at all
    with pytest.raises(ModelFileError, match=r"not a neurallab model"):
        nl.load(path)


TAMPERED = (r"has been modified or corrupted: its contents do not match the checksum stored "
            r"when it was saved; re-save or re-train the model")


def test_tampered_tensor_bytes(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0x01  # flip one bit of the last tensor
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=TAMPERED):
        nl.load(saved)


def test_tampered_metadata(saved, trained):
    config = trained.config()
    config["output_activation"] = "identity"
    rewrite_metadata(saved, config=config)
    with pytest.raises(ModelFileError, match=TAMPERED):
        nl.load(saved)


def test_tampered_checksum(saved):
    rewrite_metadata(saved, sha256="0" * 64)
    with pytest.raises(ModelFileError, match=TAMPERED):
        nl.load(saved)


def test_newer_format_version(saved):
    rewrite_metadata(saved, format_version="2")
    with pytest.raises(ModelFileError, match=re.escape(
            f"{saved} was written by a newer neurallab (format version 2; this version reads "
            "up to 1); upgrade neurallab to load it")):
        nl.load(saved)


def test_unreadable_format_version(saved):
    rewrite_metadata(saved, format_version="one")
    with pytest.raises(ModelFileError, match=r"unreadable format_version 'one'"):
        nl.load(saved)


@pytest.mark.parametrize("version", ["0", "-5"])
def test_format_versions_below_one_are_refused(saved, version):
    rewrite_metadata(saved, format_version=version)
    with pytest.raises(ModelFileError, match=rf"unreadable format_version {version} \(versions "
                                             r"start at 1\)"):
        nl.load(saved)


def test_non_finite_weights_are_neither_saved_nor_loaded(trained, saved, tmp_path):
    before = saved.read_bytes()
    broken = trained.copy()
    broken.params[3] = np.nan
    with pytest.raises(nl.InputError, match=r"parameters hold NaN or infinite values .* it "
                                            r"was not saved"):
        broken.save(saved)
    assert saved.read_bytes() == before
    # a file written by other means (checksum and all) is refused when read
    tensors = st_load_file(saved)
    name = next(iter(tensors))
    tensors[name] = np.full_like(tensors[name], np.inf)
    header, _ = read_header(saved)
    meta = header["__metadata__"]
    meta["sha256"] = nlio._digest(meta["config"], tensors)
    st_save_file(tensors, tmp_path / "inf.safetensors", metadata=meta)
    with pytest.raises(ModelFileError, match=r"holds NaN or infinite weights"):
        nl.load(tmp_path / "inf.safetensors")


@pytest.mark.parametrize("path", [None, 3, ""])
def test_a_path_that_is_not_a_path(trained, path):
    for call in (lambda: nl.load(path), lambda: trained.save(path)):
        with pytest.raises(nl.InputTypeError, match=r"path must be a path \(a str or "
                                                    r"pathlib\.Path\), got"):
            call()


@pytest.mark.parametrize("key, value", [("activation", "swish"), ("loss", "bogus")])
def test_consistent_but_invalid_configuration(saved, trained, key, value):
    """A file whose checksum matches but whose configuration cannot be built (or holds
    a loss this version does not know, which would only fail later, at predict)."""
    config = trained.config()
    config[key] = value
    rewrite_metadata(saved, config=config, redigest=True)
    with pytest.raises(ModelFileError, match=rf"the model configuration is invalid "
                                             rf"\(unknown {key} '{value}'"):
        nl.load(saved)


def test_configuration_that_does_not_match_the_tensors(saved, trained):
    config = trained.config()
    config["layer_sizes"] = [2, 4, 1]
    rewrite_metadata(saved, config=config, redigest=True)
    with pytest.raises(ModelFileError, match=r"tensor 0\.weight is missing or has the wrong "
                                             r"shape"):
        nl.load(saved)
    config = trained.config()
    config["bias"] = False
    rewrite_metadata(saved, config=config, redigest=True)
    nl.load(saved)  # extra bias tensors are ignored; the weights fit
    config["bias"] = True
    config["layer_sizes"] = [2, 3, 1]
    rewrite_metadata(saved, config=config, redigest=True)
    tensors = st_load_file(saved)
    del tensors["2.bias"]
    header, _ = read_header(saved)
    meta = header["__metadata__"]
    meta["sha256"] = nlio._digest(meta["config"], tensors)
    saved.write_bytes(st_save(tensors, metadata=meta))
    with pytest.raises(ModelFileError, match=r"tensor 2\.bias is missing or has the wrong "
                                             r"shape"):
        nl.load(saved)


def test_model_file_error_is_a_value_error(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        nl.load(path)


@given(changes=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                        max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_any_corruption_is_caught(tmp_path_factory, changes, cut):
    """Random byte changes and truncations: either a ModelFileError or exactly the saved
    model (the bytes did not change, or only JSON whitespace did) — never another
    exception, never a different model."""
    folder = tmp_path_factory.mktemp("fuzz")
    net = nl.Network([2, 3, 1], seed=0, input_scaler="max")
    net.input_scaler.fit(np.array([[1.0, 2.0]]))
    path = folder / "m.safetensors"
    net.save(path)
    data = bytearray(path.read_bytes())
    for pos, value in changes:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[:cut % len(data)]
    path.write_bytes(bytes(data))
    try:
        loaded = nl.load(path)
    except ModelFileError:
        return
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.config() == net.config()
