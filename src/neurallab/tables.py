"""Models trained on a table: their column names, and predictions as a table.

``neurallab train`` records a CSV model's input columns, target and task in
``net.meta["csv"]``. The command line's ``predict`` and the web app's values page both
answer through :func:`prediction_table`, so the two give the same numbers, digit for
digit, with the same names.
"""

from __future__ import annotations

import numpy as np

from .errors import InputTypeError
from .network import Network

__all__ = ["feature_names", "target_name", "prediction_table"]


def _csv_meta(net: Network) -> dict:
    if not isinstance(net, Network):
        raise InputTypeError(f"net must be a neurallab Network, got {type(net).__name__}; "
                             "load a model file with neurallab.load(path)")
    return net.meta.get("csv") or {}


def feature_names(net: Network) -> list[str]:
    """The model's input columns as ``neurallab train`` recorded them, else ``x1, x2, ...``."""
    names = _csv_meta(net).get("features")
    if names and len(names) == net.n_inputs:
        return list(names)
    return [f"x{i + 1}" for i in range(net.n_inputs)]


def target_name(net: Network) -> str:
    """The model's target column as recorded, else ``prediction``."""
    return _csv_meta(net).get("target") or "prediction"


def prediction_table(net: Network, X: np.ndarray) -> tuple[list[str], list[list]]:
    """Header and rows of ``predict``'s output: inputs, then predictions in raw units."""
    features = feature_names(net)
    target = target_name(net)
    if net.is_classifier:
        names = net.class_names or [str(k) for k in range(max(net.n_outputs, 2))]
        proba = net.predict_proba(X)
        labels = proba.argmax(axis=1)
        header = [*features, target, *(f"p({n})" for n in names)]
        rows = [[*x, names[k], *p] for x, k, p in zip(X, labels, proba, strict=True)]
    else:
        pred = net.predict(X)
        cols = [target] if pred.shape[1] == 1 else [f"{target}_{j + 1}"
                                                   for j in range(pred.shape[1])]
        header = [*features, *cols]
        rows = [[*x, *p] for x, p in zip(X, pred, strict=True)]
    return header, [[float(v) if isinstance(v, (float, np.floating)) else v for v in r]
                    for r in rows]
