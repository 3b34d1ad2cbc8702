"""The exceptions neurallab raises.

Every error about the caller's input is a ``ValueError`` or ``TypeError`` subclass
whose message names the argument, what is wrong with it, and what to do.
"""

from __future__ import annotations

__all__ = [
    "NeuralLabError",
    "InputError",
    "InputTypeError",
    "ModelFileError",
    "TrainingDivergedError",
    "JacobianTooLargeError",
    "ImageError",
    "DatasetFileError",
    "DatasetNotFoundError",
]


class NeuralLabError(Exception):
    """Base class of every neurallab error."""


class InputError(NeuralLabError, ValueError):
    """An argument has the wrong shape, size or values (NaN, inf, empty, out of range)."""


class InputTypeError(NeuralLabError, TypeError):
    """An argument has the wrong type or dtype (strings, objects, ...)."""


class ModelFileError(NeuralLabError, ValueError):
    """A model or dataset file is missing, truncated, foreign, tampered or too new, or
    cannot be written (folder missing or not writable, disk full)."""


class TrainingDivergedError(NeuralLabError, FloatingPointError):
    """The cost became NaN or infinite; the network keeps its last finite weights.

    Attributes
    ----------
    iteration : int
        The iteration (or epoch) at which the cost stopped being finite.
    history : neurallab.History
        What was recorded up to that point.
    """

    def __init__(self, message: str, iteration: int, history=None):
        super().__init__(message)
        self.iteration = iteration
        self.history = history


class JacobianTooLargeError(NeuralLabError, ValueError):
    """Levenberg–Marquardt would need a Jacobian larger than its memory limit."""


class ImageError(InputError):
    """A file or upload is not a readable image: empty, truncated, foreign or too large."""


class DatasetFileError(ModelFileError):
    """A data file (IDX, prepared ``.npz``) is truncated, foreign or inconsistent."""


class DatasetNotFoundError(NeuralLabError, FileNotFoundError):
    """A data set's files are in none of the places searched; the message says how to get them.

    ``download_helps`` is false when the fix is to correct a folder the caller named (it
    does not exist, or holds only some of the files): a download would not be used.
    """

    def __init__(self, message: str, *, download_helps: bool = True):
        super().__init__(message)
        self.download_helps = download_helps
