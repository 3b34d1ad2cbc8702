"""From uploaded bytes to an answer: identify, preprocess, classify, explain.

:class:`ImageClassifier` wraps a trained :class:`~neurallab.Network` together with the
image preprocessing it was trained with (``net.meta["preprocessing"]``), so that an
upload goes through exactly the steps the training images went through. It also turns
the network's input back into a small PNG, so that a person can *see* the 28×28 grey
square the network receives instead of their photo.

Thread safety: :meth:`ImageClassifier.classify` only reads the network's parameters
(``Network.predict_proba`` allocates all its intermediates per call), so any number
of requests may call it at once from worker threads.
"""

from __future__ import annotations

import base64
import io
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..classify import model_preprocessing
from ..datasets.prepare import NORMALIZATION_RANGES
from ..errors import InputError
from ..network import Network

__all__ = ["ImageClassifier", "FileResult", "ACCEPTED_FORMATS", "DEFAULT_MAX_PIXELS"]

#: Pillow format names the server accepts, and how they are called in messages
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "BMP": "BMP", "WEBP": "WebP"}
#: what Pillow may call an accepted file: many phone and camera JPEGs open as MPO
#: (a JPEG with further pictures appended), which is read as the JPEG it starts with
_FORMAT_NAMES = {**ACCEPTED_FORMATS, "MPO": "JPEG"}
#: the most pixels an upload may declare: a 12-megapixel phone photo fits, and the
#: largest image allowed takes about 250 MB while it is decoded (RGBA and the copies
#: that flatten its transparency), far less than the 40 megapixels the folder loader
#: allows a trusted data set
DEFAULT_MAX_PIXELS = 16_000_000
#: EXIF orientations that turn the picture a quarter: width and height swap
_QUARTER_TURNS = {5, 6, 7, 8}
_log = logging.getLogger("neurallab.web")
_FORMAT_LIST = ", ".join(list(ACCEPTED_FORMATS.values())[:-1]) + " or WebP"


@dataclass
class FileResult:
    """The outcome for one uploaded file: ``payload`` is its JSON entry."""

    ok: bool
    status: int
    payload: dict


def _error(filename: str, status: int, code: str, message: str) -> FileResult:
    return FileResult(False, status, {"filename": filename, "ok": False, "status": status,
                                      "code": code, "error": message})


def _quarter_turned(im: Image.Image) -> bool:
    """Whether the image's EXIF orientation turns it a quarter (width and height swap).

    Read from the header; a missing or unreadable EXIF block means no turn.
    """
    try:
        return im.getexif().get(0x0112) in _QUARTER_TURNS
    except Exception:  # noqa: BLE001 - EXIF is optional, and Pillow's errors vary
        return False


def architecture(net: Network) -> dict:
    """The model card's ``architecture``: layers, activations, parameters, dtype, loss."""
    return {
        "layer_sizes": list(net.layer_sizes),
        "activation": net.activation.name,
        "output_activation": net.output_activation.name,
        "n_params": int(net.n_params),
        "dtype": net.dtype.name,
        "loss": net.loss,
        "summary": net.summary(),
    }


class ImageClassifier:
    """A trained image classifier and the preprocessing its inputs need.

    Parameters
    ----------
    net : Network
        A classifier with a softmax (or sigmoid) output, ``net.class_names`` and
        ``net.meta["preprocessing"]`` = ``{"image_size": [h, w], "color_mode":
        "grayscale" | "rgb", "normalization": ..., "invert": bool}``.
    max_pixels : int
        Images with more pixels than this (width × height) are refused unread: a
        small file can declare a huge image (a "decompression bomb").
    top_k : int
        How many classes each answer lists.
    source : str
        Where the model came from, for the model card.
    """

    def __init__(self, net: Network, max_pixels: int = DEFAULT_MAX_PIXELS, top_k: int = 5,
                 source: str = ""):
        if not isinstance(net, Network):
            raise InputError(f"model must be a neurallab Network, got {type(net).__name__}")
        if not net.output_activation.probabilistic:
            raise InputError(
                f"the model's output activation is {net.output_activation.name!r}; the web "
                "app serves classifiers with a softmax output (train one with "
                "'neurallab images train')"
            )
        prep = model_preprocessing(net)  # checked against the model's inputs
        h, w = (int(s) for s in prep["image_size"])
        channels = 3 if prep["color_mode"] == "rgb" else 1
        n_classes = max(net.n_outputs, 2)
        names = net.class_names or [f"class {i}" for i in range(n_classes)]
        if len(names) != n_classes:
            raise InputError(
                f"the model has {n_classes} classes but {len(names)} class names"
            )
        if int(max_pixels) < 1:
            raise InputError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
        self.net = net
        self.preprocessing = dict(prep)
        self.image_size = (h, w)
        self.channels = channels
        self.class_names = [str(n) for n in names]
        self.max_pixels = int(max_pixels)
        self.top_k = max(1, min(int(top_k), n_classes))
        self.source = source

    # ------------------------------------------------------------------ model card
    def card(self) -> dict:
        """The model card: what the network is, what it learnt from, how well it does."""
        net, meta = self.net, self.net.meta
        return {
            "name": meta.get("name") or "image classifier",
            "source": self.source,
            "architecture": architecture(net),
            "class_names": self.class_names,
            "preprocessing": self.preprocessing,
            "training_data": meta.get("training_data"),
            "test_accuracy": meta.get("test_accuracy"),
            "n_test": meta.get("n_test"),
            "top_k": self.top_k,
        }

    # ------------------------------------------------------------------ one file
    def _identify(self, filename: str, data: bytes | bytearray) -> FileResult | dict:
        """Check the bytes are an accepted image of a sane size, from its header only."""
        if not data:
            return _error(filename, 422, "empty_file",
                          f"{filename} is empty (0 bytes). Choose an image file.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as im:
                    fmt, (width, height), mode = im.format, im.size, im.mode
                    turned = _quarter_turned(im)
        except Image.DecompressionBombError:
            return _error(filename, 422, "image_too_large",
                          f"{filename} declares far more pixels than the limit of "
                          f"{self.max_pixels:,}; it is refused without decoding it.")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return _error(filename, 415, "not_an_image",
                          f"{filename} is not an image this server can read. "
                          f"Upload a {_FORMAT_LIST} file.")
        if width * height > self.max_pixels:
            return _error(filename, 422, "image_too_large",
                          f"{filename} is {width}×{height} = {width * height:,} pixels, more "
                          f"than the limit of {self.max_pixels:,}; it is refused without "
                          "decoding it. Make it smaller and try again.")
        if turned:  # the size as shown (and classified): after the EXIF rotation
            width, height = height, width
        return {"format": _FORMAT_NAMES.get(fmt, fmt), "width": width, "height": height,
                "mode": mode}

    def _prepare(self, filename: str, data: bytes | bytearray) -> np.ndarray:
        """The network's input for one image: shape ``(n_inputs,)``, float32.

        :func:`neurallab.datasets.preprocess_image` with the model's own
        preprocessing: the very steps its training images went through.
        """
        from ..datasets import preprocess_image

        source = io.BytesIO(data)
        source.name = filename  # its error messages then name the upload
        p = self.preprocessing
        x = preprocess_image(
            source, image_size=self.image_size, color_mode=p["color_mode"],
            normalization=p["normalization"], invert=bool(p["invert"]),
            max_pixels=self.max_pixels)
        return np.asarray(x, dtype=np.float32).reshape(-1)

    def input_png(self, x: np.ndarray) -> str:
        """The network's input as a PNG (base64), one pixel per input value.

        Each normalization's range maps back onto grey levels 0..255 (``unit``:
        ``round(255·x)``, which gives back the decoded pixels exactly); an unknown
        one is stretched from its minimum to its maximum, which shows the same picture.
        """
        h, w = self.image_size
        img = x.reshape((h, w, 3) if self.channels == 3 else (h, w))
        norm = self.preprocessing["normalization"]
        lo, hi = NORMALIZATION_RANGES.get(norm, (float(img.min()), float(img.max())))
        grey = np.clip((img - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
        buf = io.BytesIO()
        Image.fromarray(np.rint(grey * 255).astype(np.uint8)).save(buf, format="PNG")
        return base64.b64encode(buf.getvalue()).decode("ascii")

    def classify_one(self, filename: str, data: bytes | bytearray) -> FileResult:
        """Identify, preprocess and classify one uploaded file (blocking; CPU work).

        Never raises: whatever goes wrong with this file becomes its error entry, so
        the other files of the same request still get their answers.
        """
        try:
            return self._classify_one(filename, data)
        except Exception as exc:  # a decoder's surprise: this file fails, not the request
            _log.exception("classifying upload %r failed", filename)
            return _error(filename, 500, "internal_error",
                          f"{filename} could not be classified: the server failed on it "
                          f"({type(exc).__name__}). Try saving it as PNG and upload it again.")

    def _classify_one(self, filename: str, data: bytes | bytearray) -> FileResult:
        t0 = time.perf_counter()
        info = self._identify(filename, data)
        if isinstance(info, FileResult):
            return info
        try:
            x = self._prepare(filename, data)
        except InputError as exc:  # ImageError: its message names the file and the fault
            return _error(filename, 422, "unreadable_image", str(exc))
        t1 = time.perf_counter()
        p = self.net.predict_proba(x[None, :])[0]
        t2 = time.perf_counter()
        note = self._background_note(filename, x)
        order = np.argsort(-p, kind="stable")[: self.top_k]
        return FileResult(True, 200, {
            "filename": filename,
            "ok": True,
            "label": self.class_names[order[0]],
            "index": int(order[0]),
            "predictions": [{"label": self.class_names[i], "index": int(i),
                             "probability": float(p[i])} for i in order],
            "input_png": self.input_png(x),
            "input_shape": [*self.image_size] + ([3] if self.channels == 3 else []),
            "image": info,
            "timing_ms": {"preprocess": 1e3 * (t1 - t0), "inference": 1e3 * (t2 - t1),
                          "total": 1e3 * (t2 - t0)},
            **({"note": note} if note else {}),
        })

    def _background_note(self, filename: str, x: np.ndarray) -> str | None:
        """A note when the upload's background is not the kind the model learnt from
        (a dark shoe photographed on white, for a model of light garments on black)."""
        from ..classify import background_mismatch

        mismatch = background_mismatch(self.net, x, self.preprocessing)
        if mismatch is None:
            return None
        seen, trained_on = mismatch
        return (f"{filename} has a {seen} background, but this model learnt from images "
                f"with a {trained_on} one, so its answer may mean little; a photo with a "
                f"{trained_on} background works better.")

    def classify(self, files: list[tuple[str, bytes | bytearray]]) -> list[FileResult]:
        """Classify several uploads; one :class:`FileResult` each, in order."""
        return [self.classify_one(name, data) for name, data in files]
