"""Fashion-MNIST: find the files, load them fast, or use the sample shipped inside.

Fashion-MNIST (Zalando Research, MIT licence) is 70,000 grayscale 28×28 pictures of
clothing in 10 classes: 60,000 for training (6,000 per class) and 10,000 for testing
(1,000 per class), in the IDX format of MNIST.

:func:`load_fashion_mnist` looks for the four files, in this order, in

1. the ``data_dir`` argument,
2. the folder named by the ``NEURALLAB_DATA`` environment variable,
3. the user cache, ``$XDG_CACHE_HOME/neurallab/fashion-mnist`` (default
   ``~/.cache/neurallab/fashion-mnist``),
4. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``),

accepting in each either the files themselves or a ``fashion-mnist`` sub-folder,
and each file gzip-compressed (``*.gz``) or not. A place without any of the files
is passed over, but one named explicitly (``data_dir`` or ``NEURALLAB_DATA``) that
does not exist, or holds only some of them, is an error naming the folder (and the
missing files): a copy found later would hide the mistake. Nothing is downloaded unless asked
for: if none of these places has the files, the error lists the places searched
and the ways to get them (``apt-get install dataset-fashion-mnist``, ``data_dir`` or
``$NEURALLAB_DATA``, or ``download=True``). With ``download=True`` the files are
downloaded into the user cache, every file's SHA-256 checked against the published
value before it is kept.

:func:`fashion_mnist_sample` needs no files at all: 3,000 training and 1,000 test
images (stratified: 300 and 100 per class) ship inside the package, made by
``scripts/make_fashion_sample.py``.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import math
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetFileError, DatasetNotFoundError
from ..io import atomic_writer
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES", "FASHION_MNIST_URLS", "DEBIAN_DIR",
    "ImageDataset", "load_fashion_mnist", "fashion_mnist_sample", "fashion_mnist_dirs",
]

#: the ten classes, in label order (label 0 is "T-shirt/top")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class _File:
    name: str          # the upstream file name (gzip-compressed)
    gz_sha256: str     # SHA-256 of the upstream .gz file (checked after a download)
    raw_sha256: str    # SHA-256 of the decompressed IDX data (same for every copy)
    shape: tuple       # what the IDX header must declare


#: the four files: upstream ``.gz`` SHA-256 (as published with the data set and
#: used by TensorFlow Datasets) and SHA-256 of the decompressed data (which also
#: identifies copies recompressed by a distribution, such as Debian's)
FASHION_MNIST_FILES = {
    "train_images": _File(
        "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)),
    "train_labels": _File(
        "train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)),
    "test_images": _File(
        "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)),
    "test_labels": _File(
        "t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)),
}
#: where the files can be downloaded from, tried in order (same bytes at both)
FASHION_MNIST_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: where Debian's package puts the files (named in messages even if DEBIAN_DIR is changed)
_DEBIAN_PACKAGE_DIR = DEBIAN_DIR
_SAMPLE = "fashion_mnist_sample.npz"
_DOWNLOAD_TIMEOUT = 30.0


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images and integer labels, split into training and test sets.

    Attributes
    ----------
    X_train : ndarray, shape (n_train, height, width), uint8
    y_train : ndarray, shape (n_train,), int64
    X_test : ndarray, shape (n_test, height, width), uint8
    y_test : ndarray, shape (n_test,), int64
    class_names : tuple of str
        ``class_names[k]`` names label ``k``.
    source : str
        Where the arrays came from (a folder, or the packaged sample).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple = FASHION_MNIST_CLASSES
    source: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"ImageDataset(train={self.X_train.shape}, test={self.X_test.shape}, "
                f"classes={len(self.class_names)}, source={self.source!r})")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neurallab" / "fashion-mnist"


def _roots(data_dir=None) -> list[tuple[Path, str | None]]:
    """The places searched, in order, each with how the caller named it (or ``None``)."""
    roots = []
    if data_dir is not None:
        roots.append((Path(os.fspath(data_dir)).expanduser(), "data_dir"))
    if os.environ.get("NEURALLAB_DATA"):
        roots.append((Path(os.environ["NEURALLAB_DATA"]).expanduser(), "NEURALLAB_DATA"))
    return roots + [(_cache_dir(), None), (DEBIAN_DIR, None)]


def fashion_mnist_dirs(data_dir=None) -> list[Path]:
    """The folders searched for the files, in order (see the module docstring)."""
    out = []
    for d, _ in _roots(data_dir):
        for cand in (d, d / "fashion-mnist"):
            if cand not in out:
                out.append(cand)
    return out


def _present(folder: Path) -> dict[str, Path]:
    """Those of the four files that are in ``folder`` (``.gz`` or decompressed)."""
    found = {}
    for key, spec in FASHION_MNIST_FILES.items():
        for name in (spec.name, spec.name[:-3]):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    return found


def _find_in(folder: Path) -> dict[str, Path] | None:
    """The four files in ``folder`` (``.gz`` or decompressed), or ``None`` if any is missing."""
    found = _present(folder)
    return found if len(found) == len(FASHION_MNIST_FILES) else None


def _search(data_dir) -> dict[str, Path] | None:
    """The four files from the first place that has them all (module docstring).

    A folder named explicitly (``data_dir`` or ``$NEURALLAB_DATA``) that does not
    exist, or holds some of the files but not all, is an error (the second naming the
    missing ones): loading another copy from a later place instead would hide the
    mistake.
    """
    for root, how in _roots(data_dir):
        if how and not root.is_dir():
            raise DatasetNotFoundError(
                f"{root} (given as {how}) "
                f"{'is not a folder' if root.exists() else 'does not exist'}; "
                f"point {how} at the folder that holds the four Fashion-MNIST files, or "
                f"{'unset' if how == 'NEURALLAB_DATA' else 'leave out'} {how} to search "
                "the usual places. Nothing else was searched, so "
                "that a copy found elsewhere does not hide the mistake.",
                download_helps=False)
        partial = []
        for folder in (root, root / "fashion-mnist"):
            found = _present(folder)
            if len(found) == len(FASHION_MNIST_FILES):
                return found
            if found:
                partial.append((folder, found))
        if how and partial:
            folder, found = partial[0]
            missing = [s.name for k, s in FASHION_MNIST_FILES.items() if k not in found]
            has = ", ".join(p.name for p in found.values())
            raise DatasetNotFoundError(
                f"{folder} (given as {how}) holds {has} but not {', '.join(missing)} "
                f"(the .gz file or its decompressed version); Fashion-MNIST needs all four "
                f"files in one folder. Copy the missing file{'s' if len(missing) > 1 else ''}"
                f" there, or point {how} at a folder with all four. Nothing else was "
                "searched, so that a copy found elsewhere does not hide the incomplete one.",
                download_helps=False)
    return None


def _how_to_get(searched: list[Path], download_note: str) -> str:
    names = ", ".join(f.name for f in FASHION_MNIST_FILES.values())
    places = "; ".join(str(p) for p in searched)
    return (
        f"Fashion-MNIST files not found (looked in: {places}). {download_note}Get them in "
        f"one of three ways: (1) on Debian/Ubuntu, 'sudo apt-get install "
        f"dataset-fashion-mnist' (installs them in {_DEBIAN_PACKAGE_DIR}/); (2) put "
        f"{names} in any folder and pass data_dir=that folder or set NEURALLAB_DATA to "
        "it (they are at "
        f"{FASHION_MNIST_URLS[0]}); (3) let neurallab download them once into "
        f"{_cache_dir()}: load_fashion_mnist(download=True). "
        "For a quick start without any files use neurallab.datasets."
        "fashion_mnist_sample()."
    )


class _NetworkError(Exception):
    """A download failed on the network side (not an ``OSError``: see :func:`_download`)."""


def _download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Download ``url`` to ``dest``, keeping it only if its SHA-256 is ``sha256``.

    The URL is opened before the file is, and errors while reading the response
    are raised as :class:`_NetworkError`, so that ``atomic_writer`` (which reports
    an ``OSError`` as "cannot save to ...") never mistakes a network failure for a
    disk one.
    """
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise _NetworkError(f"{url}: {_reason(exc)}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with resp, atomic_writer(dest) as f:
        while True:
            try:
                chunk = resp.read(1 << 20)
            except (OSError, http.client.HTTPException) as exc:
                raise _NetworkError(f"{url}: the connection failed during the download "
                                    f"({_reason(exc)}); nothing was kept") from None
            if not chunk:
                break
            digest.update(chunk)
            f.write(chunk)
        if digest.hexdigest() != sha256:  # raising here discards the temporary file
            raise DatasetFileError(
                f"download of {url} has SHA-256 {digest.hexdigest()}, expected {sha256}; "
                "the file was discarded (a proxy or mirror changed it). Try again, or "
                "install the files another way."
            )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _download_all(timeout: float) -> dict[str, Path]:
    """Download the missing files into the cache, from the first mirror that works.

    Raises ``OSError`` listing what went wrong with each mirror: network failures
    as such, a wrong checksum, or a cache folder that cannot be written.
    """
    target = _cache_dir()
    errors = []
    for base in FASHION_MNIST_URLS:
        try:
            for spec in FASHION_MNIST_FILES.values():
                if not (target / spec.name).is_file():
                    _download(base + spec.name, target / spec.name, spec.gz_sha256, timeout)
            return _find_in(target)
        except _NetworkError as exc:
            errors.append(f"network error: {exc}")
        except (OSError, ValueError) as exc:  # checksum, or the cache cannot be written
            errors.append(f"{base}: {exc}")
    raise OSError("; ".join(errors))


def _check_sha256(path: Path, spec: _File) -> None:
    """Check a file's decompressed (or raw) content against the published data.

    A ``.gz`` file is decompressed in bounded pieces, and no further than the
    published file's size: a truncated, corrupt or oversized file is a
    :class:`DatasetFileError`, never an ``EOFError`` or a large allocation.
    """
    from .idx import _gunzip_pieces

    size = 4 + 4 * len(spec.shape) + math.prod(spec.shape)  # uint8 data after the header
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256()
    if data[:2] == b"\x1f\x8b":
        got_size = 0
        for piece in _gunzip_pieces(path, data):
            got_size += len(piece)
            if got_size > size:
                break
            digest.update(piece)
    else:
        got_size = len(data)
        digest.update(data)
    if got_size != size:
        what = (f"its data is {'more than ' if got_size > size else ''}{got_size:,} bytes, "
                f"the published file's {size:,}")
    elif digest.hexdigest() != spec.raw_sha256:
        what = (f"SHA-256 of its data is {digest.hexdigest()}, expected "
                f"{spec.raw_sha256}")
    else:
        return
    raise DatasetFileError(
        f"{path} is not the published Fashion-MNIST file ({what}); replace it, or load "
        "it with read_idx if it is another data set"
    )


def load_fashion_mnist(data_dir=None, *, download: bool = False,
                       verify: bool = False) -> ImageDataset:
    """Load Fashion-MNIST's 60,000 training and 10,000 test images.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Searched first; see the module docstring for the full search order.
    download : bool
        Default ``False``: never touch the network; if the files are nowhere, raise
        :class:`DatasetNotFoundError` saying how to get them. ``True``: download them
        into the user cache instead (each file's SHA-256 is checked before it is
        kept); without a network connection this fails with the same instructions.
    verify : bool
        Also check the SHA-256 of files found locally (about 0.2 s more); downloads
        are always checked.

    Returns
    -------
    ImageDataset
        ``X_train`` (60000, 28, 28) uint8, ``y_train`` (60000,) int64, ``X_test``
        (10000, 28, 28) uint8, ``y_test`` (10000,) int64, ``class_names`` (10 names),
        ``source`` the folder the files came from.

    Raises
    ------
    DatasetNotFoundError
        The files are nowhere (and ``download`` is false, or the download failed);
        the message lists the folders searched and how to get the files
        (``apt-get install dataset-fashion-mnist``, ``data_dir`` or
        ``$NEURALLAB_DATA``, or ``download=True``).
        Also when ``data_dir`` (or ``$NEURALLAB_DATA``) does not exist, or holds
        some of the four files but not all (the message names the missing ones);
        then ``download_helps`` is false and nothing is downloaded.
    DatasetFileError
        A file is truncated, corrupt, has the wrong shape or labels out of range.
    """
    searched = fashion_mnist_dirs(data_dir)
    files = _search(data_dir)
    if files is None:
        if not download:
            raise DatasetNotFoundError(_how_to_get(
                searched, "Nothing was downloaded (download=False, the default). "))
        try:
            files = _download_all(_DOWNLOAD_TIMEOUT)
        except OSError as exc:
            raise DatasetNotFoundError(
                _how_to_get(searched, f"Downloading failed ({exc}). ")) from None
    if verify:
        for key, path in files.items():
            _check_sha256(path, FASHION_MNIST_FILES[key])
    arrays = {}
    for key, path in files.items():
        arr = read_idx(path)
        want = FASHION_MNIST_FILES[key].shape
        if arr.shape != want or arr.dtype != np.uint8:
            raise DatasetFileError(
                f"{path} holds {arr.dtype} data of shape {arr.shape}, but Fashion-MNIST's "
                f"{FASHION_MNIST_FILES[key].name} is uint8 of shape {want}; replace the file"
            )
        arrays[key] = arr
    for key in ("train_labels", "test_labels"):
        if arrays[key].max() >= len(FASHION_MNIST_CLASSES):
            raise DatasetFileError(
                f"{files[key]} has label {int(arrays[key].max())}; Fashion-MNIST labels are "
                "0-9. Replace the file."
            )
    return ImageDataset(
        X_train=arrays["train_images"], y_train=arrays["train_labels"].astype(np.int64),
        X_test=arrays["test_images"], y_test=arrays["test_labels"].astype(np.int64),
        class_names=FASHION_MNIST_CLASSES, source=str(files["train_images"].parent),
    )


def fashion_mnist_sample() -> ImageDataset:
    """A small stratified sample of Fashion-MNIST that ships inside the package.

    3,000 training images (300 per class) drawn from Fashion-MNIST's training set
    and 1,000 test images (100 per class) from its test set, seeded, so chapters
    8–9 and the web app work with no download. The positions of the chosen images
    in the full sets are in ``extra["index_train"]`` and ``extra["index_test"]``.

    Returns
    -------
    ImageDataset
        ``X_train`` (3000, 28, 28) uint8, ``y_train`` (3000,) int64, ``X_test``
        (1000, 28, 28) uint8, ``y_test`` (1000,) int64; fresh arrays on every call.
    """
    resource = importlib.resources.files("neurallab.datasets").joinpath("data").joinpath(_SAMPLE)
    with importlib.resources.as_file(resource) as path, \
            np.load(path, allow_pickle=False) as z:
        return ImageDataset(
            X_train=z["X_train"], y_train=z["y_train"].astype(np.int64),
            X_test=z["X_test"], y_test=z["y_test"].astype(np.int64),
            class_names=tuple(str(c) for c in z["class_names"]),
            source="neurallab Fashion-MNIST sample (3,000 train / 1,000 test)",
            extra={"index_train": z["index_train"], "index_test": z["index_test"]},
        )
