"""Lazy imports of the optional frameworks, with the pip extra to install in the error.

PyTorch, Keras and ONNX are optional extras of neurallab: importing
:mod:`neurallab.interop` imports none of them, and each function imports what it
needs on first call. When a framework is missing the caller gets one
:class:`MissingExtraError` naming the command that installs it, instead of a bare
``ModuleNotFoundError`` from deep inside.

Keras 3 picks its backend when it is first imported, from the ``KERAS_BACKEND``
environment variable. neurallab's ``keras`` extra brings PyTorch, not TensorFlow,
so :func:`import_keras` sets ``KERAS_BACKEND=torch`` *if it is not set already and
Keras has not been imported yet*; a backend the user chose (any of them) is kept.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from ..errors import NeuralLabError

__all__ = ["MissingExtraError", "import_torch", "import_keras", "import_onnx",
           "import_onnxruntime"]


class MissingExtraError(NeuralLabError, ImportError):
    """An optional framework needed by an interop function is not installed."""


def _import(module: str, what: str, extra: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs {what}, which is not installed (import {module!r} failed: "
            f"{exc}); install it with: pip install \"neurallab[{extra}]\""
        ) from exc


def import_torch(purpose: str = "this function") -> ModuleType:
    """``torch``, or a :class:`MissingExtraError` naming ``neurallab[torch]``."""
    return _import("torch", "PyTorch", "torch", purpose)


def import_keras(purpose: str = "this function") -> ModuleType:
    """``keras`` (3.x), on the PyTorch backend unless ``KERAS_BACKEND`` says otherwise."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    backend = os.environ.get("KERAS_BACKEND", "torch")
    try:
        keras = importlib.import_module("keras")
    except ImportError as exc:
        if backend != "torch" and importlib.util.find_spec("keras") is not None:
            raise MissingExtraError(
                f"{purpose}: Keras is installed, but the backend KERAS_BACKEND={backend!r} "
                f"asks for is not ({exc}); set KERAS_BACKEND=torch (the backend "
                "neurallab[keras] installs) or unset it"
            ) from exc
        raise MissingExtraError(
            f"{purpose} needs Keras 3, which is not installed (import 'keras' failed: "
            f"{exc}); install it with: pip install \"neurallab[keras]\""
        ) from exc
    major = int(str(getattr(keras, "__version__", "0")).split(".")[0] or 0)
    if major < 3:
        raise MissingExtraError(
            f"{purpose} needs Keras 3, found Keras {keras.__version__}; upgrade with: "
            "pip install \"neurallab[keras]\""
        )
    return keras


def import_onnx(purpose: str = "this function") -> ModuleType:
    """``onnx``, or a :class:`MissingExtraError` naming ``neurallab[onnx]``."""
    return _import("onnx", "the onnx package", "onnx", purpose)


def import_onnxruntime(purpose: str = "this function") -> ModuleType:
    """``onnxruntime``, or a :class:`MissingExtraError` naming ``neurallab[onnx]``."""
    return _import("onnxruntime", "onnxruntime", "onnx", purpose)
