"""The model the web app serves when it is given none.

So that ``neurallab serve`` works on a fresh machine with nothing else, the default
model is trained from the Fashion-MNIST sample shipped inside the package — a few
seconds on one core — the first time it is needed, and cached in the user's cache
folder (``$NEURALLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/neurallab``, else
``~/.cache/neurallab``). The file name carries a digest of the recipe (defaults of
the training settings included) and the package version, so a changed recipe is
retrained rather than loaded stale; the file
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

from .. import __version__
from ..errors import ModelFileError
from ..io import load
from ..network import Network

__all__ = ["default_model", "default_model_path", "default_model_source", "cache_dir",
           "train_default", "RECIPE"]

#: how the default model is built and trained (its digest names the cached file):
#: ``training`` is a :class:`neurallab.classify.TrainingRecipe` as a dict: two hidden
#: ReLU layers, Adam with a cosine schedule, dropout and light L2 against the small
#: sample's overfitting — about 83% on the sample's test images, in a few seconds
RECIPE = {
    "data": "fashion_mnist_sample",
    "training": {"hidden": [256, 128], "activation": "relu", "optimizer": "adam",
                 "lr": 1e-3, "schedule": "cosine", "batch_size": 64, "epochs": 30,
                 "l2": 1e-4, "dropout": 0.2, "seed": 0},
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
    """12 hex digits of SHA-256 over the recipe, its training settings resolved.

    The settings :data:`RECIPE` leaves out take :class:`~neurallab.classify.TrainingRecipe`'s
    defaults; digesting them too means a changed default (say, the initial weights)
    names another file, instead of serving a model trained the old way.
    """
    from ..classify import TrainingRecipe

    training = TrainingRecipe.from_dict(RECIPE["training"]).to_dict()
    text = json.dumps({"recipe": {**RECIPE, "training": training}, "version": __version__},
                      sort_keys=True)
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
    from ..classify import TrainingRecipe, evaluate, train_classifier
    from ..datasets import fashion_mnist_sample

    r = RECIPE if recipe is None else recipe
    data = fashion_mnist_sample()
    training = TrainingRecipe.from_dict(r["training"])
    n_train, n_test = len(data.X_train), len(data.X_test)
    if log:
        log(f"training the default model on the Fashion-MNIST sample "
            f"({n_train:,} images, {training.epochs} epochs)...")
    net, _ = train_classifier(data.X_train, data.y_train, training,
                              class_names=list(data.class_names),
                              preprocessing=dict(r["preprocessing"]))
    accuracy = evaluate(net, data.X_test, data.y_test).accuracy
    net.meta.update({
        "name": "Fashion-MNIST sample MLP",
        "training_data": (f"the Fashion-MNIST sample shipped with neurallab: "
                          f"{n_train:,} training images, {n_test:,} test images, "
                          f"{len(net.class_names)} classes"),
        "test_accuracy": accuracy,
        "n_test": n_test,
        "data": r["data"],
    })
    if log:
        log(f"default model trained: test accuracy {accuracy:.1%}")
    return net


def default_model_source(directory: str | os.PathLike | None = None) -> str:
    """Where the default model comes from, for its model card."""
    try:
        path = default_model_path(directory)
    except OSError:
        path = None
    if path is not None and path.exists():
        return f"default model, cached at {path}"
    return "default model, trained at start-up (the cache could not be written)"


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
        A 784-256-128-10 softmax classifier of 28×28 grayscale images in [0, 1], with
        ``class_names`` and ``meta`` (preprocessing, training data, test accuracy).
        If the cache cannot be written (a read-only home), the model is trained and
        served all the same, and a warning says so.
    """
    try:
        path = default_model_path(directory)
    except OSError as exc:  # the cache folder cannot be created
        path = None
        warning = f"no cache folder ({exc})"
    if path is not None and path.exists():
        try:
            return load(path)
        except ModelFileError as exc:
            if log:
                log(f"cached model {path} is unusable ({exc}); training it again")
    net = train_default(log=log)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            net.save(path)
            return net
        except (OSError, ModelFileError) as exc:
            warning = f"{path}: {exc}"
    print(f"neurallab: the default model could not be cached, so the next start trains it "
          f"again; {warning}", file=sys.stderr)
    return net
