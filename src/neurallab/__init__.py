"""neurallab: a small, transparent, fast neural-network library.

>>> import neurallab as nl
>>> X, y = nl.datasets.sleep_study()
>>> net = nl.Network([2, 3, 1], bias=False, seed=0,
...                  input_scaler="max", output_scaler=nl.preprocessing.MaxAbsScaler(100))
>>> history = net.fit(X, y, optimizer="bfgs", verbose=0)
"""

from __future__ import annotations

from . import activations, datasets, losses, optim, preprocessing
from .errors import (
    InputError,
    InputTypeError,
    JacobianTooLargeError,
    ModelFileError,
    NeuralLabError,
    TrainingDivergedError,
)
from .gradcheck import GradientReport, check_gradients, numerical_gradient
from .io import load
from .network import Network
from .training import (
    Callback,
    EarlyStopping,
    History,
    LambdaCallback,
    ModelCheckpoint,
    ProgressBar,
)

__version__ = "0.1.0"

__all__ = [
    "Network", "History", "Callback", "EarlyStopping", "ModelCheckpoint", "LambdaCallback",
    "ProgressBar", "check_gradients", "numerical_gradient", "GradientReport", "load",
    "activations", "losses", "optim", "preprocessing", "datasets",
    "NeuralLabError", "InputError", "InputTypeError", "ModelFileError",
    "TrainingDivergedError", "JacobianTooLargeError", "__version__",
]
