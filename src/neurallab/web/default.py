"""The model the web app serves when it is given none.

So that ``neurallab serve`` works on a fresh machine with nothing else, the default
model is trained from the Fashion-MNIST sample shipped inside the package — a few
seconds on one core — the first time it is needed, and cached in the user's cache
folder (``$NEURALLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/neurallab``, else
``~/.cache/neurallab``). The file name carries a digest of the recipe and the
package version, so a changed recipe is retrained rather than loaded stale; the file
is written atomically (temporary file + rename), so two servers starting at once at
worst both train, and neither can read a half-written model. A cached file that
fails to load (truncated, tampered) is trained again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ModelFileError
from ..io import load
from ..network import Network

__all__ = ["default_model", "default_model_path", "cache_dir", "train_default", "RECIPE"]

#: how the default model is built and trained (its digest names the cached file)
RECIPE = {
    "data": "fashion_mnist_sample",
    "layer_sizes": [784, 128, 10],
    "activation": "relu",
    "output_activation": "softmax",
    "init": "he",
    "dtype": "float32",
    "loss": "categorical_crossentropy",
    "optimizer": "adam",
    "lr": 1e-3,
    "l2": 1e-4,
    "epochs": 12,
    "batch_size": 64,
    "seed": 0,
    "preprocessing": {"image_size": [28, 28], "color_mode": "grayscale",
                      "normalization": "unit", "invert": False},
}


def cache_dir() -> Path:
    """Where neurallab caches things for this user (created if missing)."""
    env = os.environ.get("NEURALLAB_CACHE_DIR")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "neurallab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _digest() -> str:
    text = json.dumps({"recipe": RECIPE, "version": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_model_path(directory: str | os.PathLike | None = None) -> Path:
    """The cached default model's file (which may not exist yet)."""
    directory = cache_dir() if directory is None else Path(directory)
    return directory / f"fashion-mnist-sample-mlp-{_digest()}.safetensors"


def train_default(recipe: dict | None = None, log=None) -> Network:
    """Train a classifier on the shipped Fashion-MNIST sample (a few seconds).

    Parameters
    ----------
    recipe : dict, optional
        :data:`RECIPE` (the default) or a variant of it (tests train a smaller one).
    log : callable, optional
        Called with one line of progress text.

    Returns
    -------
    Network
        With ``class_names`` and ``meta`` filled in (preprocessing, training data,
        test accuracy on the sample's test images).
    """
    from ..datasets import fashion_mnist_sample

    r = RECIPE if recipe is None else recipe
    data = fashion_mnist_sample()
    n_features = int(np.prod(r["preprocessing"]["image_size"]))
    X_train = data.X_train.reshape(len(data.X_train), n_features).astype(np.float32)
    X_test = data.X_test.reshape(len(data.X_test), n_features).astype(np.float32)
    if X_train.max() > 1.0:  # pixel values 0..255 → the "unit" normalization, [0, 1]
        X_train /= 255.0
        X_test /= 255.0
    if log:
        log(f"training the default model on the Fashion-MNIST sample "
            f"({len(X_train)} images, {r['epochs']} epochs)...")
    net = Network(r["layer_sizes"], activation=r["activation"],
                  output_activation=r["output_activation"], init=r["init"],
                  dtype=r["dtype"], seed=r["seed"])
    net.fit(X_train, data.y_train, loss=r["loss"], optimizer=r["optimizer"], lr=r["lr"],
            l2=r["l2"], epochs=r["epochs"], batch_size=r["batch_size"], seed=r["seed"],
            verbose=0)
    accuracy = float(np.mean(net.predict(X_test) == np.asarray(data.y_test)))
    net.class_names = list(data.class_names)
    net.meta = {
        "name": "Fashion-MNIST sample MLP",
        "preprocessing": dict(r["preprocessing"]),
        "training_data": (f"the Fashion-MNIST sample shipped with neurallab: "
                          f"{len(X_train):,} training images, {len(X_test):,} test images, "
                          f"{len(net.class_names)} classes"),
        "test_accuracy": accuracy,
        "n_test": len(X_test),
        "recipe": r,
    }
    if log:
        log(f"default model trained: test accuracy {accuracy:.1%}")
    return net


def default_model(directory: str | os.PathLike | None = None, *, log=None) -> Network:
    """The default model: loaded from the cache, or trained and cached on first use.

    Parameters
    ----------
    directory : path, optional
        The cache folder; default :func:`cache_dir`.
    log : callable, optional
        Called with one line of progress text (e.g. ``print``).

    Returns
    -------
    Network
        A 784-128-10 softmax classifier of 28×28 grayscale images in [0, 1], with
        ``class_names`` and ``meta`` (preprocessing, training data, test accuracy).
    """
    path = default_model_path(directory)
    if path.exists():
        try:
            return load(path)
        except ModelFileError as exc:
            if log:
                log(f"cached model {path} is unusable ({exc}); training it again")
    net = train_default(log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        net.save(path)
    except OSError as exc:  # a read-only cache is no reason not to serve
        print(f"neurallab: could not cache the default model at {path}: {exc}",
              file=sys.stderr)
    return net
