"""Fashion-MNIST: the known facts, the search order, downloads, and the packaged sample."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import neurallab as nl
from neurallab.datasets import fashion
from neurallab.errors import DatasetFileError, DatasetNotFoundError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not DEBIAN.is_dir(),
                                  reason="Debian's dataset-fashion-mnist not installed")


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    """Four well-formed files of Fashion-MNIST's shapes (zeros, labels i % 10)."""
    d = tmp_path_factory.mktemp("fake-fashion")
    for key, spec in fashion.FASHION_MNIST_FILES.items():
        n = spec.shape[0]
        arr = (np.arange(n) % 10).astype(np.uint8) if "labels" in key else \
            np.zeros(spec.shape, np.uint8)
        nl.datasets.write_idx(d / spec.name, arr)
    return d


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No files anywhere: empty cache, no NEURALLAB_DATA, no Debian folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NEURALLAB_DATA", raising=False)
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian")
    return tmp_path


@needs_debian
def test_known_facts_of_the_debian_files():
    data = nl.datasets.load_fashion_mnist(DEBIAN, verify=True)
    assert data.X_train.shape == (60000, 28, 28) and data.X_train.dtype == np.uint8
    assert data.X_test.shape == (10000, 28, 28) and data.X_test.dtype == np.uint8
    assert data.y_train.shape == (60000,) and data.y_train.dtype == np.int64
    assert data.y_test.shape == (10000,) and data.y_test.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    # the first training labels, as published: ankle boot, T-shirt, T-shirt, dress, ...
    assert data.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert data.source == str(DEBIAN)
    assert data.X_train.flags.writeable


@needs_debian
def test_default_search_finds_debian(nowhere, monkeypatch):
    monkeypatch.setattr(fashion, "DEBIAN_DIR", DEBIAN)
    assert nl.datasets.load_fashion_mnist(download=False).source == str(DEBIAN)


def test_search_order_data_dir_then_env(fake_dir, nowhere, monkeypatch):
    assert nl.datasets.load_fashion_mnist(fake_dir, download=False).source == str(fake_dir)
    monkeypatch.setenv("NEURALLAB_DATA", str(fake_dir.parent))  # a fashion-mnist sub-folder?
    (fake_dir.parent / "fashion-mnist").mkdir(exist_ok=True)
    with pytest.raises(DatasetNotFoundError):
        nl.datasets.load_fashion_mnist(download=False)
    monkeypatch.setenv("NEURALLAB_DATA", str(fake_dir))
    data = nl.datasets.load_fashion_mnist(download=False)
    assert data.source == str(fake_dir)
    assert data.y_train[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    # a data_dir without the files falls through to the next place in the order
    assert nl.datasets.load_fashion_mnist(nowhere, download=False).source == str(fake_dir)


def test_sub_folder_and_uncompressed_names(fake_dir, nowhere):
    sub = nowhere / "data" / "fashion-mnist"
    sub.mkdir(parents=True)
    for spec in fashion.FASHION_MNIST_FILES.values():
        arr = nl.datasets.read_idx(fake_dir / spec.name)
        nl.datasets.write_idx(sub / spec.name[:-3], arr)  # train-images-idx3-ubyte
    assert nl.datasets.load_fashion_mnist(nowhere / "data", download=False).source == str(sub)


def test_explicit_folder_with_some_files_is_an_error(fake_dir, nowhere, monkeypatch):
    part = nowhere / "part"
    part.mkdir()
    for spec in list(fashion.FASHION_MNIST_FILES.values())[:3]:
        (part / spec.name).write_bytes((fake_dir / spec.name).read_bytes())
    # a complete copy later in the search order must not be loaded instead
    monkeypatch.setattr(fashion, "DEBIAN_DIR", fake_dir)
    with pytest.raises(DatasetNotFoundError, match=r"part \(given as data_dir\) holds "
                                                   r"train-images.* but not "
                                                   r"t10k-labels-idx1-ubyte\.gz") as err:
        nl.datasets.load_fashion_mnist(part)
    assert "t10k-images-idx3-ubyte.gz but not" in str(err.value)
    monkeypatch.setenv("NEURALLAB_DATA", str(part))
    with pytest.raises(DatasetNotFoundError, match="given as NEURALLAB_DATA.* but not "
                                                   "t10k-labels-idx1-ubyte.gz"):
        nl.datasets.load_fashion_mnist()
    # the files in a fashion-mnist sub-folder of the named folder count too
    monkeypatch.delenv("NEURALLAB_DATA")
    sub = nowhere / "top" / "fashion-mnist"
    sub.mkdir(parents=True)
    (sub / "train-labels-idx1-ubyte").write_bytes(
        nl.datasets.read_idx(fake_dir / "train-labels-idx1-ubyte.gz").tobytes())
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist .given as data_dir. holds "
                                                   "train-labels-idx1-ubyte but not "
                                                   "train-images-idx3-ubyte.gz, t10k"):
        nl.datasets.load_fashion_mnist(nowhere / "top")
    # a named folder with none of the files is passed over, as before
    (nowhere / "empty").mkdir()
    assert nl.datasets.load_fashion_mnist(nowhere / "empty").source == str(fake_dir)


def test_an_explicit_folder_that_does_not_exist_is_an_error(nowhere, fake_dir, monkeypatch):
    """A mistyped data_dir or NEURALLAB_DATA is named, not skipped for a copy found later
    (here a complete one in the Debian folder); a download would not help, so none is
    made even with download=True."""
    monkeypatch.setattr(fashion, "DEBIAN_DIR", fake_dir)
    monkeypatch.setattr(fashion, "_download_all", lambda timeout: pytest.fail("downloaded"))
    typo = nowhere / "fasion-mnist"
    with pytest.raises(DatasetNotFoundError) as err:
        nl.datasets.load_fashion_mnist(typo, download=True)
    assert str(err.value).startswith(f"{typo} (given as data_dir) does not exist; point "
                                     "data_dir at the folder that holds the four")
    assert err.value.download_helps is False
    a_file = nowhere / "notes.txt"
    a_file.write_text("x")
    monkeypatch.setenv("NEURALLAB_DATA", str(a_file))
    with pytest.raises(DatasetNotFoundError,
                       match=r"notes\.txt \(given as NEURALLAB_DATA\) is not a folder"):
        nl.datasets.load_fashion_mnist()
    monkeypatch.delenv("NEURALLAB_DATA")
    assert nl.datasets.load_fashion_mnist().source == str(fake_dir)


def test_not_found_says_how_to_get_the_files(nowhere):
    (nowhere / "mine").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        nl.datasets.load_fashion_mnist(nowhere / "mine", download=False)
    msg = str(err.value)
    for part in ("Fashion-MNIST files not found", str(nowhere / "mine"), "no-debian",
                 "apt-get install dataset-fashion-mnist", "train-images-idx3-ubyte.gz",
                 fashion.FASHION_MNIST_URLS[0], "data_dir", "NEURALLAB_DATA",
                 "fashion_mnist_sample()", "download=False"):
        assert part in msg
    assert isinstance(err.value, FileNotFoundError)


def test_default_never_goes_to_the_network(nowhere, monkeypatch):
    calls = []

    def no_network(url, timeout):
        calls.append(url)
        raise AssertionError("load_fashion_mnist() must not download by default")

    monkeypatch.setattr(fashion.urllib.request, "urlopen", no_network)
    with pytest.raises(DatasetNotFoundError) as err:
        nl.datasets.load_fashion_mnist()
    assert calls == []
    msg = str(err.value)
    for part in ("apt-get install dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist/",
                 "data_dir", "NEURALLAB_DATA", "download=True"):
        assert part in msg
    cache = nowhere / "cache" / "neurallab" / "fashion-mnist"
    assert not cache.exists()


def test_failed_download_is_explained(nowhere, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(fashion.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match="Downloading failed .*network error.*"
                                                   "name resolution.*"
                                                   "apt-get install dataset-fashion-mnist"
                       ) as err:
        nl.datasets.load_fashion_mnist(download=True)
    assert "cannot save" not in str(err.value)  # a network error, not a disk one
    cache = nowhere / "cache" / "neurallab" / "fashion-mnist"
    assert not cache.exists() or not any(cache.iterdir())  # no partial files left


def test_connection_lost_during_download_is_a_network_error(nowhere, monkeypatch):
    class Dropped(io.BytesIO):
        def read(self, n=-1):
            raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(fashion.urllib.request, "urlopen",
                        lambda url, timeout: Dropped(b"x"))
    with pytest.raises(DatasetNotFoundError, match="network error.*during the download.*"
                                                   "Connection reset by peer") as err:
        nl.datasets.load_fashion_mnist(download=True)
    assert "cannot save" not in str(err.value)
    cache = nowhere / "cache" / "neurallab" / "fashion-mnist"
    assert not cache.exists() or not any(cache.iterdir())


def _serve(monkeypatch, files: dict[str, bytes], calls: list):
    def fake_urlopen(url, timeout):
        calls.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(fashion.urllib.request, "urlopen", fake_urlopen)


def test_download_is_checked_and_cached(fake_dir, nowhere, monkeypatch):
    files = {spec.name: (fake_dir / spec.name).read_bytes()
             for spec in fashion.FASHION_MNIST_FILES.values()}
    table = {k: fashion._File(s.name, hashlib.sha256(files[s.name]).hexdigest(), s.raw_sha256,
                              s.shape) for k, s in fashion.FASHION_MNIST_FILES.items()}
    monkeypatch.setattr(fashion, "FASHION_MNIST_FILES", table)
    calls = []
    _serve(monkeypatch, files, calls)
    data = nl.datasets.load_fashion_mnist(download=True)
    cache = nowhere / "cache" / "neurallab" / "fashion-mnist"
    assert data.source == str(cache) and len(calls) == 4
    assert calls[0].startswith(fashion.FASHION_MNIST_URLS[0])
    nl.datasets.load_fashion_mnist()  # now found in the cache: no new download
    assert len(calls) == 4


def test_download_with_wrong_checksum_is_discarded(fake_dir, nowhere, monkeypatch):
    files = {spec.name: (fake_dir / spec.name).read_bytes()
             for spec in fashion.FASHION_MNIST_FILES.values()}
    calls = []
    _serve(monkeypatch, files, calls)  # the real table's hashes do not match these files
    with pytest.raises(DatasetNotFoundError, match="has SHA-256 .* expected 3aede38d"):
        nl.datasets.load_fashion_mnist(download=True)
    assert len(calls) == 2  # the first file, from each mirror
    cache = nowhere / "cache" / "neurallab" / "fashion-mnist"
    assert list(cache.iterdir()) == []


def test_verify_catches_files_that_are_not_fashion_mnist(fake_dir):
    with pytest.raises(DatasetFileError, match="is not the published Fashion-MNIST file"):
        nl.datasets.load_fashion_mnist(fake_dir, download=False, verify=True)


def test_verify_reports_a_truncated_or_oversized_gz_as_a_dataset_error(fake_dir, tmp_path):
    for spec in fashion.FASHION_MNIST_FILES.values():
        (tmp_path / spec.name).write_bytes((fake_dir / spec.name).read_bytes())
    name = "train-images-idx3-ubyte.gz"  # the first file checked
    data = (fake_dir / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="gzip stream ends early"):
        nl.datasets.load_fashion_mnist(tmp_path, verify=True)
    # far more data than the published file: not decompressed to the end
    (tmp_path / name).write_bytes(gzip.compress(bytes(64 << 20)))
    with pytest.raises(DatasetFileError, match="is not the published Fashion-MNIST file "
                                               r"\(its data is more than"):
        nl.datasets.load_fashion_mnist(tmp_path, verify=True)


def test_wrong_shape_and_bad_labels_are_refused(fake_dir, tmp_path, nowhere):
    for spec in fashion.FASHION_MNIST_FILES.values():
        (tmp_path / spec.name).write_bytes((fake_dir / spec.name).read_bytes())
    nl.datasets.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(10000, 10, np.uint8))
    with pytest.raises(DatasetFileError, match="has label 10; Fashion-MNIST labels are 0-9"):
        nl.datasets.load_fashion_mnist(tmp_path, download=False)
    nl.datasets.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(9999, np.uint8))
    with pytest.raises(DatasetFileError, match=r"uint8 data of shape \(9999,\), but "
                                               r"Fashion-MNIST's t10k-labels"):
        nl.datasets.load_fashion_mnist(tmp_path, download=False)


def test_sample_shapes_and_strata():
    s = nl.datasets.fashion_mnist_sample()
    assert s.X_train.shape == (3000, 28, 28) and s.X_test.shape == (1000, 28, 28)
    assert s.X_train.dtype == np.uint8 and s.y_train.dtype == np.int64
    assert np.bincount(s.y_train).tolist() == [300] * 10
    assert np.bincount(s.y_test).tolist() == [100] * 10
    assert s.class_names == nl.datasets.FASHION_MNIST_CLASSES
    assert np.all(np.diff(s.extra["index_train"]) > 0)
    original = int(s.X_train[0, 0, 0])
    s.X_train[0, 0, 0] = original + 1  # fresh arrays: changing one copy changes no other
    assert nl.datasets.fashion_mnist_sample().X_train[0, 0, 0] == original


def test_sample_file_is_small():
    path = Path(fashion.__file__).parent / "data" / "fashion_mnist_sample.npz"
    assert path.stat().st_size < 2_500_000


@needs_debian
def test_sample_is_drawn_from_the_real_data():
    full = nl.datasets.load_fashion_mnist(DEBIAN)
    s = nl.datasets.fashion_mnist_sample()
    np.testing.assert_array_equal(s.X_train, full.X_train[s.extra["index_train"]])
    np.testing.assert_array_equal(s.y_train, full.y_train[s.extra["index_train"]])
    np.testing.assert_array_equal(s.X_test, full.X_test[s.extra["index_test"]])
    np.testing.assert_array_equal(s.y_test, full.y_test[s.extra["index_test"]])
