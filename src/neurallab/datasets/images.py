"""Image files in: one image for a trained network, or a folder of labelled images.

Every image, whether it is one upload classified by the web app or one of 10,000
training files, goes through the same steps, so that a network sees a photo exactly
as it saw its training data:

1. **Open safely.** Pillow, restricted to PNG, JPEG, BMP, GIF, TIFF and WebP (no
   other parser ever touches the bytes). The image's declared size is read from
   its header and an image with more than ``max_pixels`` pixels is refused *before*
   it is decoded, so a decompression bomb (a small file declaring enormous
   dimensions) costs nothing. JPEGs are decoded at a reduced scale when they are
   much larger than needed (Pillow's ``draft``); EXIF orientation is applied.
2. **One colour model.** Transparent pixels are composited over black (the
   background of MNIST-style data); 16-bit images (and 32-bit integer ones, taken
   to hold 16-bit values) are scaled to 8 bits by ``p / 257`` and 32-bit float
   ones, taken to hold values in [0, 1], by ``p · 255`` — by the mode alone, never
   by the pixels; then the image is converted to ``L``
   (``color_mode="grayscale"``) or ``RGB``.
3. **One size.** An image of another size is scaled to fit inside ``image_size``
   keeping its aspect ratio (Lanczos) and centred, the rest padded with the median
   colour of the image's border, so a white-background photo gets white bars, not
   black ones. With ``exact_size=True`` such an image is refused instead.
4. **Optional inversion** (``255 − p``), for dark-on-light pictures given to a
   network trained on light-on-dark data like Fashion-MNIST.
5. **Normalisation**: ``"unit"`` ``x = p / 255 ∈ [0, 1]``, ``"centered"``
   ``x = p / 255 − 0.5 ∈ [−0.5, 0.5]``, ``"none"`` (pixels as they are).

The dict :func:`preprocessing_config` returns names exactly these choices; a
classifier stores it as ``net.meta["preprocessing"]`` and
``preprocess_image(source, **config)`` reproduces them.

:func:`load_image_folder` decodes a folder tree in worker processes (tiny PNGs
are decoded in a few tens of microseconds each, mostly Python work under the GIL,
so threads would not help) straight into one preallocated array.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import sys
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .._validation import check_path
from ..errors import ImageError, InputError, InputTypeError
from .prepare import NORMALIZATIONS, normalize

__all__ = [
    "IMAGE_FORMATS", "IMAGE_EXTENSIONS", "COLOR_MODES", "NORMALIZATIONS",
    "DEFAULT_MAX_PIXELS", "preprocessing_config", "preprocess_image", "decode_image",
    "load_image_folder", "ImageFolder", "FolderReport", "SkippedFile",
]

#: the Pillow formats accepted; no other decoder is ever tried
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
#: file name endings taken as images in a folder (case-insensitive)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib",
                              ".gif", ".tif", ".tiff", ".webp"})
COLOR_MODES = ("grayscale", "rgb")
#: images declaring more pixels than this are refused unread (a 40-megapixel photo
#: is 120 MB decoded as RGB); raise it per call with ``max_pixels`` if you trust the data
DEFAULT_MAX_PIXELS = 40_000_000
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
#: files per task sent to a worker process, and the smallest folder worth the processes
_CHUNK_FILES = 256
_PARALLEL_MIN_FILES = 1024


# ------------------------------------------------------------------ configuration
def _check_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    try:
        if isinstance(image_size, (str, bytes)):
            raise TypeError
        h, w = (int(s) for s in image_size)
        ok = all(float(s) == int(s) for s in image_size)
    except (TypeError, ValueError):
        ok = False
    if not ok or not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise InputError(
            f"image_size must be (height, width) with whole numbers from 1 to 4096, or "
            f"one such number for a square, got {image_size!r}"
        )
    return h, w


def _check_choice(value, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def preprocessing_config(image_size=(28, 28), color_mode: str = "grayscale",
                         normalization: str = "unit", invert: bool = False) -> dict:
    """Describe a preprocessing as plain JSON (for ``net.meta["preprocessing"]``).

    Parameters
    ----------
    image_size : int or (height, width)
    color_mode : {"grayscale", "rgb"}
    normalization : {"unit", "centered", "none"}
    invert : bool

    Returns
    -------
    dict
        ``{"image_size": [h, w], "color_mode": ..., "normalization": ...,
        "invert": ...}``; ``preprocess_image(source, **config)`` applies it.
    """
    h, w = _check_size(image_size)
    if not isinstance(invert, (bool, np.bool_)):
        raise InputTypeError(f"invert must be True or False, got {invert!r}")
    return {"image_size": [h, w],
            "color_mode": _check_choice(color_mode, "color_mode", COLOR_MODES),
            "normalization": _check_choice(normalization, "normalization", NORMALIZATIONS),
            "invert": bool(invert)}


# ------------------------------------------------------------------ one image
def _bomb_error(name: str, exc: Exception, max_pixels: int) -> ImageError:
    """Pillow's own refusal (beyond ``2 × Image.MAX_IMAGE_PIXELS``) in our words."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    declared = f"{int(found[1]):,} pixels" if found else "too many pixels"
    limit = (f"max_pixels={max_pixels:,}" if max_pixels < 2 * Image.MAX_IMAGE_PIXELS
             else f"Pillow's limit of {2 * Image.MAX_IMAGE_PIXELS:,}")
    return ImageError(f"{name} declares {declared}, more than {limit}; it was refused "
                      "without decoding (a decompression bomb, or a photo to shrink first)")


def _pillow_open(fp, name: str, max_pixels: int) -> Image.Image:
    """``Image.open`` limited to :data:`IMAGE_FORMATS`, bombs refused in our words.

    Pillow's own ``DecompressionBombWarning`` (an image above ``Image.MAX_IMAGE_PIXELS``)
    is silenced: the declared size is checked against ``max_pixels`` right after
    opening, and a refusal is an :class:`ImageError`, not a line on standard error.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:  # beyond twice Pillow's limit
        raise _bomb_error(name, exc, max_pixels) from None


def _open(source, max_pixels: int) -> tuple[Image.Image, str]:
    """An opened (not yet decoded) image and a name for messages."""
    if isinstance(source, Image.Image):
        return source, "image"
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if os.path.isfile(name) and os.path.getsize(name) == 0:
            raise ImageError(f"{name} is empty (0 bytes); it is not an image")
        fp = name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("the image data is empty (0 bytes)")
        fp, name = io.BytesIO(source), "image data"
    elif hasattr(source, "read"):
        fp, name = source, getattr(source, "name", None) or "image file"
        name = str(name)
    else:
        raise InputTypeError(
            f"source must be a path, bytes, a binary file object or a PIL.Image, got "
            f"{type(source).__name__}"
        )
    try:
        return _pillow_open(fp, name, max_pixels), name
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image Pillow can identify as one of "
            f"{', '.join(IMAGE_FORMATS)} (wrong or corrupt file)"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ImageError(f"{name} cannot be opened as an image: {exc}") from None


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images → 8-bit ``L``, by their mode alone.

    ``convert`` would clip, not scale. The scale depends only on the mode, never
    on the pixels, so two images that differ in one pixel are scaled alike:

    * ``I;16*`` (16-bit PNG and TIFF) and ``I`` (32-bit integers, taken to hold
      16-bit values): ``p / 257``, so 0–65535 → 0–255 (beyond that range clipped);
    * ``F`` (32-bit float TIFF), taken to hold values in [0, 1]: ``p · 255``,
      clipped to 0–255 (NaN → 0).
    """
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im).astype(np.float64)
        return Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
    if im.mode == "F":
        a = np.nan_to_num(np.asarray(im).astype(np.float64), nan=0.0)
        return Image.fromarray(np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8))
    return im


def _border_fill(im: Image.Image) -> int | tuple:
    """The median colour of the image's outermost rows and columns (padding colour)."""
    a = np.asarray(im)
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    med = np.median(border, axis=0)
    return int(med) if np.ndim(med) == 0 else tuple(int(v) for v in med)


def decode_image(source, image_size=(28, 28), color_mode: str = "grayscale", *,
                 invert: bool = False, exact_size: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, bool]:
    """Steps 1–4 of the module docstring: one image → uint8 pixels.

    Parameters
    ----------
    source : str, os.PathLike, bytes, binary file object or PIL.Image.Image
    image_size : int or (height, width)
    color_mode : {"grayscale", "rgb"}
    invert : bool
    exact_size : bool
        Refuse an image of another size instead of resizing it.
    max_pixels : int
        Refuse images declaring more pixels than this, before decoding.

    Returns
    -------
    pixels : ndarray, shape (height, width) or (height, width, 3), uint8
    resized : bool
        Whether the image had another size and was scaled and padded (or, for a
        large JPEG, reduced while decoding): judged by the size in the file's
        header, so it is true even when the reduced decode happens to come out
        at exactly ``image_size``.

    Raises
    ------
    ImageError
        Empty, truncated, corrupt or foreign data; too many pixels; a wrong size
        with ``exact_size=True``.
    """
    h, w = _check_size(image_size)
    _check_choice(color_mode, "color_mode", COLOR_MODES)
    im, name = _open(source, max_pixels)
    try:
        return _decode_opened(im, name, h, w, color_mode, invert, exact_size, max_pixels)
    finally:
        if im is not source:
            im.close()


def _decode_opened(im: Image.Image, name: str, h: int, w: int, color_mode: str,
                   invert: bool, exact_size: bool, max_pixels: int) -> tuple[np.ndarray, bool]:
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} declares {width}×{height} = {width * height:,} pixels, more than "
            f"max_pixels={max_pixels:,}; it was refused without decoding (a decompression "
            "bomb, or a photo to shrink first; pass a larger max_pixels if you trust it)"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{name} declares {width}×{height} pixels; it has no pixels")
    try:
        oriented = im.format in ("JPEG", "TIFF", "WEBP", "MPO") or "exif" in im.info
        # the size as displayed (EXIF orientations 5-8 swap width and height), taken
        # from the header *before* draft() may shrink a large JPEG while decoding it
        size = (height, width) if oriented and \
            im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (width, height)
        if exact_size and size != (w, h):
            raise ImageError(
                f"{name} is {size[0]}×{size[1]} pixels (width×height), expected "
                f"{w}×{h} (exact_size=True); resize it or allow resizing"
            )
        if im.format == "JPEG" and (width > 2 * w or height > 2 * h):
            side = max(h, w)
            im.draft("L" if color_mode == "grayscale" else "RGB", (side, side))
        if oriented:
            im = ImageOps.exif_transpose(im)
        im.load()
        im = _to_8bit(im)
        if im.mode in _ALPHA_MODES or "transparency" in im.info:
            rgba = im.convert("RGBA")
            im = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        target = "L" if color_mode == "grayscale" else "RGB"
        if im.mode != target:
            im = im.convert(target)
        resized = size != (w, h) or im.size != (w, h)
        if im.size != (w, h):
            im = ImageOps.pad(im, (w, h), method=Image.Resampling.LANCZOS,
                              color=_border_fill(im))
        pixels = np.asarray(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise _bomb_error(name, exc, max_pixels) from None
    except Exception as exc:  # any decoder failure: truncated, corrupt, unsupported
        reason = str(exc) or type(exc).__name__
        raise ImageError(f"{name} is truncated or corrupt: {reason}") from None
    if invert:
        pixels = 255 - pixels
    elif not pixels.flags.writeable:
        pixels = pixels.copy()
    return pixels, resized


def preprocess_image(source, image_size=(28, 28), color_mode: str = "grayscale",
                     normalization: str = "unit", invert: bool = False, *,
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image → the float32 array a network trained on such images expects.

    ``preprocess_image(source, **net.meta["preprocessing"])`` prepares an image
    exactly as :func:`load_image_folder` + :func:`~neurallab.datasets.normalize` prepared the
    training images (module docstring, steps 1–5).

    Parameters
    ----------
    source : str, os.PathLike, bytes, binary file object or PIL.Image.Image
    image_size : int or (height, width)
    color_mode : {"grayscale", "rgb"}
    normalization : {"unit", "centered", "none"}
    invert : bool
    max_pixels : int
        Images declaring more pixels are refused before decoding.

    Returns
    -------
    ndarray, shape (height, width) or (height, width, 3), float32

    Raises
    ------
    ImageError
        Empty, corrupt, truncated, non-image or too-large input (an
        :class:`~neurallab.errors.InputError`).
    InputTypeError
        ``source`` of an unsupported type.
    """
    _check_choice(normalization, "normalization", NORMALIZATIONS)
    pixels, _ = decode_image(source, image_size, color_mode, invert=invert,
                             max_pixels=max_pixels)
    return normalize(pixels, normalization)


# ------------------------------------------------------------------ a folder
@dataclass(frozen=True)
class SkippedFile:
    """A file :func:`load_image_folder` did not load, and why."""

    path: str
    reason: str


@dataclass
class FolderReport:
    """What :func:`load_image_folder` found.

    Attributes
    ----------
    root : str
    paths : list of str
        The loaded files, relative to ``root``, in the order of the arrays.
    skipped : list of SkippedFile
        Every file not loaded (unreadable, empty, truncated, not an image, wrong
        size, not in a class folder), with the reason; also every symbolic link to
        a folder that was not followed (see :func:`load_image_folder`).
    resized : int
        How many images had another size and were scaled and padded.
    class_counts : dict of str to int
        Images loaded per class.
    """

    root: str
    paths: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    resized: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{sum(self.class_counts.values())} images in {len(self.class_counts)} "
                 f"classes from {self.root}; {self.resized} resized, "
                 f"{len(self.skipped)} skipped"]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)


class ImageFolder(NamedTuple):
    """The result of :func:`load_image_folder`; unpacks as ``X, y, names, report``."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    report: FolderReport


def _scan(root: Path) -> tuple[list[str], list[str], np.ndarray, list[SkippedFile]]:
    """Class names, candidate files (relative), their class ids, and files skipped.

    Symbolic links: a link to a file is read like the file. A class folder that is a
    link is followed, unless it leads to another class folder (or into one, or to a
    folder holding one): that would load the same images again under a second class
    name, so it is skipped and listed. Links to folders *inside* a class folder are
    never followed (they could loop, or reach images twice); each is listed.
    """
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    skipped = []
    candidates = []
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_dir():
            candidates.append(e)
        elif e.is_file():
            skipped.append(SkippedFile(e.name, "not inside a class folder"))
        else:
            skipped.append(SkippedFile(e.name, "neither a file nor a folder (a broken "
                                               "symbolic link?)"))
    # real folders own their place first; linked class folders may not overlap them
    owned: dict[str, str] = {}
    classes = []
    for e in sorted(candidates, key=lambda e: (e.is_symlink(), e.name)):
        real = os.path.realpath(e.path)
        clash = None
        for r, name in owned.items():
            if real == r:
                clash = f"class folder {name!r}"
            elif real.startswith(r + os.sep):
                clash = f"a folder inside class folder {name!r}"
            elif r.startswith(real + os.sep):
                clash = f"a folder holding class folder {name!r}"
            if clash:
                break
        if clash:
            skipped.append(SkippedFile(
                e.name, f"class folder is a symbolic link to {clash} ({os.readlink(e.path)}): "
                        "skipped, so that the same images are not loaded twice under two "
                        "class names"))
            continue
        owned[real] = e.name
        classes.append(e.name)
    classes.sort()
    files, ids = [], []
    for k, cls in enumerate(classes):
        found = []
        for dirpath, dirnames, filenames in os.walk(root / cls):
            rel_dir = os.path.relpath(dirpath, root)
            keep = []
            for d in dirnames:
                if d.startswith("."):
                    continue
                if os.path.islink(os.path.join(dirpath, d)):
                    skipped.append(SkippedFile(
                        os.path.join(rel_dir, d), "symbolic link to a folder inside a class "
                        "folder: not followed (it could loop, or reach the same images "
                        "twice); copy the images there, or link the files one by one"))
                    continue
                keep.append(d)
            dirnames[:] = keep
            for fn in filenames:
                if fn.startswith("."):
                    continue
                rel = os.path.join(rel_dir, fn)
                if os.path.splitext(fn)[1].lower() in IMAGE_EXTENSIONS:
                    found.append(rel)
                else:
                    skipped.append(SkippedFile(rel, "not an image file name (extension "
                                                    f"{os.path.splitext(fn)[1] or 'none'})"))
        found.sort()
        files += found
        ids += [k] * len(found)
    return classes, files, np.asarray(ids, dtype=np.int64), skipped


def _decode_chunk(root: str, rel_paths: list[str], size: tuple[int, int], color_mode: str,
                  invert: bool, exact_size: bool, max_pixels: int):
    """Decode files into one array (loaded ones only); runs in a worker process.

    Returns ``(pixels (k, h, w[, 3]) uint8, ok (n,) bool, reasons [(i, text)], resized)``.
    """
    h, w = size
    shape = (len(rel_paths), h, w) if color_mode == "grayscale" else (len(rel_paths), h, w, 3)
    out = np.empty(shape, dtype=np.uint8)
    ok = np.zeros(len(rel_paths), dtype=bool)
    reasons, resized, k = [], 0, 0
    for i, rel in enumerate(rel_paths):
        path = os.path.join(root, rel)
        try:
            if os.path.getsize(path) == 0:
                raise ImageError("empty file (0 bytes)")
            with _pillow_open(path, rel, max_pixels) as im:
                out[k], was_resized = _decode_opened(im, rel, h, w, color_mode, invert,
                                                     exact_size, max_pixels)
        except UnidentifiedImageError:
            reasons.append((i, "not an image (Pillow cannot identify it as "
                               f"{', '.join(IMAGE_FORMATS)})"))
            continue
        except Exception as exc:  # reported, never fatal: the load goes on
            text = str(exc).replace(f"{rel} ", "", 1) if str(exc) else type(exc).__name__
            reasons.append((i, text))
            continue
        ok[i] = True
        resized += was_resized
        k += 1
    return out[:k], ok, reasons, resized


def _mp_context():
    """``fork`` where it is safe and fast (Linux, one thread), else the platform's best."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threading.active_count() == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_image_folder(root, image_size=(28, 28), color_mode: str = "grayscale",
                      min_per_class: int = 1, exact_size: bool = False, *,
                      normalization: str = "none", invert: bool = False,
                      max_pixels: int = DEFAULT_MAX_PIXELS, workers: int | None = None,
                      progress: bool | None = None) -> ImageFolder:
    """Load a folder with one sub-folder of images per class.

    ``root/cat/1.png, root/cat/2.jpg, root/dog/a.png`` → classes ``["cat", "dog"]``
    (sorted names), labels 0 and 1. Sub-folders inside a class folder are searched
    too; names starting with a dot are ignored. Symbolic links to files are read
    like the files; a class folder that is a symbolic link is followed unless it
    leads to (into, or above) another class folder, which would load the same
    images under two class names: it is skipped and listed in ``report.skipped``,
    as is every symbolic link to a folder inside a class folder (never followed:
    it could loop or reach images twice). Files are decoded as
    :func:`preprocess_image` would (module docstring), in parallel worker processes
    for large folders, straight into one preallocated array; a file that cannot
    be loaded is skipped and reported, never fatal.

    Parameters
    ----------
    root : str or os.PathLike
    image_size : int or (height, width)
    color_mode : {"grayscale", "rgb"}
    min_per_class : int
        A class with fewer loaded images is an error.
    exact_size : bool
        Skip (and report) images of another size instead of resizing them.
    normalization : {"none", "unit", "centered"}
        ``"none"`` returns uint8 pixels (4× smaller; normalise later with
        :func:`~neurallab.datasets.normalize`), the others float32.
    invert : bool
    max_pixels : int
        Files declaring more pixels are skipped unread.
    workers : int, optional
        Worker processes (default: the CPUs this process may use). Folders under
        1,024 files are decoded in this process.
    progress : bool, optional
        Show a tqdm bar (default: only when standard error is a terminal).

    Returns
    -------
    ImageFolder
        ``images`` (n, height, width[, 3]) uint8 (or float32), ``labels`` (n,)
        int64, ``class_names`` list of str, ``report`` :class:`FolderReport`.

    Raises
    ------
    InputError
        ``root`` is not a folder, has no class folders, or a class has fewer than
        ``min_per_class`` images (the message lists them and what was skipped).
    """
    root_path = Path(os.fspath(check_path(root, "root"))).expanduser()
    if not root_path.is_dir():
        raise InputError(f"root {str(root_path)!r} is not a folder; pass a folder with one "
                         "sub-folder of images per class")
    h, w = _check_size(image_size)
    _check_choice(color_mode, "color_mode", COLOR_MODES)
    _check_choice(normalization, "normalization", NORMALIZATIONS)
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, (int, np.integer)) \
            or min_per_class < 0:
        raise InputError(f"min_per_class must be a whole number >= 0, got {min_per_class!r}")
    classes, files, file_class, skipped = _scan(root_path)
    if not classes:
        raise InputError(
            f"root {str(root_path)!r} has no sub-folders; put the images of each class in "
            "their own sub-folder (root/<class name>/<image files>)"
        )
    n_workers = _default_workers() if workers is None else int(workers)
    if n_workers < 1:
        raise InputError(f"workers must be >= 1, got {workers!r}")
    shape = (h, w) if color_mode == "grayscale" else (h, w, 3)
    images = np.empty((len(files), *shape), dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)
    args = (str(root_path), (h, w), color_mode, bool(invert), bool(exact_size), max_pixels)
    chunks = [(s, files[s:s + _CHUNK_FILES]) for s in range(0, len(files), _CHUNK_FILES)]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), unit="img", desc="loading images", file=sys.stderr)
    filled = resized = 0
    try:
        for start, (pix, good, reasons, n_resized) in _run_chunks(chunks, args, n_workers,
                                                                 len(files)):
            images[filled:filled + len(pix)] = pix
            filled += len(pix)
            ok[start:start + len(good)] = good
            resized += n_resized
            skipped += [SkippedFile(files[start + i], r) for i, r in reasons]
            if bar is not None:
                bar.update(len(good))
    finally:
        if bar is not None:
            bar.close()
    try:  # give back the rows of skipped files without copying the others
        images.resize((filled, *shape), refcheck=True)
    except ValueError:
        images = images[:filled].copy()
    labels = file_class[ok]
    counts = np.bincount(labels, minlength=len(classes))
    loaded = [f for f, g in zip(files, ok, strict=True) if g]
    report = FolderReport(root=str(root_path), paths=loaded,
                          skipped=sorted(skipped, key=lambda s: s.path), resized=resized,
                          class_counts={c: int(n) for c, n in zip(classes, counts, strict=True)})
    few = [(c, int(n)) for c, n in zip(classes, counts, strict=True) if n < min_per_class]
    if few:
        listed = ", ".join(f"{c!r} has {n}" for c, n in few)
        raise InputError(
            f"{len(few)} class(es) have fewer than min_per_class={min_per_class} usable "
            f"images: {listed} ({len(report.skipped)} files were skipped in all: "
            f"{'; '.join(f'{s.path}: {s.reason}' for s in report.skipped[:5])}). Add images, "
            "remove the class folder, or lower min_per_class."
        )
    if normalization != "none":
        return ImageFolder(normalize(images, normalization), labels, classes, report)
    return ImageFolder(images, labels, classes, report)


def _run_chunks(chunks, args, n_workers: int, n_files: int):
    """Yield ``(start, chunk result)`` in order: in worker processes, or here."""
    if n_workers == 1 or n_files < _PARALLEL_MIN_FILES:
        for start, paths in chunks:
            yield start, _decode_chunk(args[0], paths, *args[1:])
        return
    try:
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=_mp_context())
    except (OSError, NotImplementedError, ValueError):  # no process support here
        yield from _run_chunks(chunks, args, 1, n_files)
        return
    done = 0
    try:
        window = 4 * n_workers  # bounded: results wait in memory only this far ahead
        futures = [pool.submit(_decode_chunk, args[0], p, *args[1:])
                   for _, p in chunks[:window]]
        for i, (start, _) in enumerate(chunks):
            result = futures[i].result()
            if i + window < len(chunks):
                futures.append(pool.submit(_decode_chunk, args[0], chunks[i + window][1],
                                           *args[1:]))
            futures[i] = None
            yield start, result
            done = i + 1
    except BrokenProcessPool:  # a worker died (e.g. killed): finish here
        for start, paths in chunks[done:]:
            yield start, _decode_chunk(args[0], paths, *args[1:])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
