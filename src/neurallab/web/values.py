"""From JSON rows of input values to predictions in raw units: the values app's model.

A model trained on a table (``neurallab train scores.csv --target score``) takes a
few named numbers — hours of sleep and study — and answers a number, or a class with
probabilities. :class:`ValuesModel` checks a request's rows against the model's own
feature names (``net.meta["csv"]``) and hands them to the very function
``neurallab predict`` writes its CSV with
(:func:`neurallab.tables.prediction_table`): the scalers stored in the model
are applied inside :meth:`~neurallab.Network.predict`, so the web answer is the
command's answer, digit for digit.

Every way a request can be wrong is named in its error, with the row and the feature
(``rows[2].sleep``), so a person can fix the one value at fault.

Thread safety: :meth:`ValuesModel.answer` only reads the network's parameters, so
requests may call it at once from worker threads.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..network import Network
from ..tables import feature_names, prediction_table, target_name
from .inference import architecture
from .uploads import UploadError

__all__ = ["ValuesModel", "DEFAULT_MAX_ROWS", "is_image_model"]

#: rows one request may carry: a spreadsheet's worth, answered in milliseconds
DEFAULT_MAX_ROWS = 10_000
_LARGEST = float(np.finfo(np.float64).max)


def is_image_model(net: Network) -> bool:
    """Whether ``net`` records image preprocessing: served by the image app, else by this one."""
    return "preprocessing" in net.meta


class _Constant(str):
    """A JSON ``NaN``, ``Infinity`` or ``-Infinity`` literal, kept as its text so the
    error can name it (Python's json reads them as floats, which JSON does not have)."""


def _integer(text: str) -> int | float:
    """A JSON integer: ``int(text)``, or ``±inf`` for one of more than 400 characters.

    Such an integer lies far beyond float64 (whose largest has 309 digits), and
    ``int()`` refuses a text of more than ``sys.get_int_max_str_digits()`` (4,300)
    digits with a ValueError; as ``inf`` it is refused as too large, naming its row.
    """
    return int(text) if len(text) <= 400 else float(text)


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object as a dict, refusing a name given twice (JSON would keep the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [k for k, _ in pairs]
        name = next(k for i, k in enumerate(names) if k in names[:i])
        raise UploadError(422, "repeated_name",
                          f"{name!r} appears twice in one JSON object; give each name once.")
    return obj


def _refuse(code: str, message: str, status: int = 422) -> UploadError:
    return UploadError(status, code, message)


def _describe(value: Any) -> str:
    """How a JSON value that is not a number reads in an error message."""
    if isinstance(value, _Constant):
        return str(value)
    if isinstance(value, bool):
        return f"{json.dumps(value)}, a boolean"
    if isinstance(value, str):
        return f"{json.dumps(value)[:40]}, a string"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return f"a{'n object' if isinstance(value, dict) else ' list'}"
    return repr(value)


class ValuesModel:
    """A model of table values (regressor or classifier) and the checks its rows need.

    Parameters
    ----------
    net : Network
        A model without image preprocessing: ``neurallab train``'s, whose
        ``meta["csv"]`` names its features, target and task (a model without one is
        served with features ``x1, x2, ...``, as ``neurallab predict`` names them).
    source : str
        Where the model came from, for the model card.
    max_rows : int
        The most rows one request may carry (more: 413).
    """

    def __init__(self, net: Network, source: str = "", max_rows: int = DEFAULT_MAX_ROWS):
        if not isinstance(net, Network):
            raise InputError(f"model must be a neurallab Network, got {type(net).__name__}")
        if is_image_model(net):
            raise InputError("this model is an image classifier (it records image "
                             "preprocessing); serve it with neurallab.web.create_app")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise InputError(f"max_rows must be a positive integer, got {max_rows!r}")
        meta = net.meta.get("csv") or {}
        self.net = net
        self.source = source
        self.max_rows = max_rows
        self.features = feature_names(net)
        self.target = target_name(net)
        self.task = "classification" if net.is_classifier else "regression"
        self.class_names = None
        if net.is_classifier:
            names = [str(n) for n in net.class_names or range(max(net.n_outputs, 2))]
            if len(names) != max(net.n_outputs, 2) or len(set(names)) != len(names):
                raise InputError(f"the model has {max(net.n_outputs, 2)} classes but its "
                                 f"class names are {names}; give one distinct name per class")
            self.class_names = names
        units = meta.get("units")
        self.units = units if isinstance(units, dict) else {}
        self._index = {name: i for i, name in enumerate(self.features)}

    # ------------------------------------------------------------------ model card
    def _scaling(self, scaler, columns: list[str]) -> dict | None:
        if scaler is None or not scaler.fitted:
            return None
        scale = np.broadcast_to(scaler.scale_, (len(columns),))
        offset = np.broadcast_to(scaler.offset_, (len(columns),))
        return {"kind": scaler.kind, "formula": "(x − offset) / scale",
                "columns": [{"name": c, "offset": float(o), "scale": float(s)}
                            for c, o, s in zip(columns, offset, scale, strict=True)]}

    def card(self) -> dict:
        """The model card: architecture, features, target, task, training rows, scaling."""
        net, meta = self.net, self.net.meta
        csv_meta = meta.get("csv") or {}
        outputs = self.outputs()
        return {
            "kind": "values",
            "name": meta.get("name") or f"{self.target} {self.task} model",
            "source": self.source,
            "task": self.task,
            "features": [{"name": f, "units": self.units.get(f)} for f in self.features],
            "target": {"name": self.target, "units": self.units.get(self.target)},
            "outputs": outputs,
            "class_names": self.class_names,
            "architecture": architecture(net),
            "training_rows": csv_meta.get("n_train"),
            "training_data": meta.get("training_data"),
            "scaling": {
                "inputs": self._scaling(net.input_scaler, self.features),
                "target": (None if net.is_classifier
                           else self._scaling(net.output_scaler, outputs)),
            },
        }

    def outputs(self) -> list[str]:
        """The names of a regressor's outputs, as ``neurallab predict`` heads its columns."""
        if self.net.is_classifier or self.net.n_outputs == 1:
            return [self.target]
        return [f"{self.target}_{j + 1}" for j in range(self.net.n_outputs)]

    # ------------------------------------------------------------------ rows
    def parse(self, body: bytes | bytearray) -> np.ndarray:
        """The rows of a request body as an array ``(n_rows, n_features)``, float64.

        Raises
        ------
        UploadError
            400 for a body that is not JSON; 413 for more than ``max_rows`` rows; 422
            for anything else wrong, naming the row and the feature.
        """
        try:
            data = json.loads(body, parse_constant=_Constant, parse_int=_integer,
                              object_pairs_hook=_no_repeats)
        except UnicodeDecodeError:
            raise _refuse("bad_json", "The body is not UTF-8 text; send JSON encoded as "
                          "UTF-8.", 400) from None
        except json.JSONDecodeError as exc:
            raise _refuse("bad_json", f"The body is not valid JSON ({exc.msg} at line "
                          f"{exc.lineno}, column {exc.colno}); send an object like "
                          f"{self.example()}.", 400) from None
        except RecursionError:   # lists inside lists thousands deep: the decoder gives up
            raise _refuse("bad_json", "The body nests lists or objects too deeply to read; "
                          f"a row is one list or object of numbers, like {self.example()}.",
                          400) from None
        if not isinstance(data, dict) or "rows" not in data:
            raise _refuse("no_rows", f"The body must be a JSON object with a list of rows, "
                          f"like {self.example()}.")
        extra = sorted(set(data) - {"rows"})
        if extra:
            raise _refuse("unknown_field", f"The body has {', '.join(map(repr, extra))} "
                          "besides 'rows'; send only 'rows'.")
        rows = data["rows"]
        if not isinstance(rows, list):
            raise _refuse("no_rows", f"'rows' must be a list of rows, got "
                          f"{_describe(rows)}; send e.g. {self.example()}.")
        if not rows:
            raise _refuse("empty_rows", f"'rows' is empty; send at least one row, e.g. "
                          f"{self.example()}.")
        if len(rows) > self.max_rows:
            raise _refuse("too_many_rows", f"{len(rows):,} rows in one request, more than "
                          f"the limit of {self.max_rows:,}; send the rest in another "
                          "request.", 413)
        X = self._fast_rows(rows)
        if X is None:
            self._first_fault(rows)  # raises; the fast path failed for a reason
            raise AssertionError("unreachable: a row the fast path refused passed the "
                                 "checks")  # pragma: no cover
        return X

    def _fast_rows(self, rows: list) -> np.ndarray | None:
        """The rows as an array when every row is right, else ``None`` (no messages).

        Whole-request checks run at C speed (``map`` over the rows); only a request
        with a fault goes through :meth:`_first_fault`, row by row, to name it.
        """
        k, features = len(self.features), self.features
        kinds = set(map(type, rows))
        if not kinds <= {list, dict}:
            return None
        if list in kinds and {len(r) for r in rows if type(r) is list} != {k}:
            return None
        if dict in kinds and {frozenset(r) for r in rows if type(r) is dict} != \
                {frozenset(features)}:
            return None
        values = rows if kinds == {list} else \
            [r if type(r) is list else [r[f] for f in features] for r in rows]
        if not set(map(type, itertools.chain.from_iterable(values))) <= {int, float}:
            return None
        try:
            X = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64
            return None
        return X if np.isfinite(X).all() else None

    def _first_fault(self, rows: list) -> None:
        """Raise the error for the first row that is wrong."""
        k = len(self.features)
        for i, row in enumerate(rows):
            where = f"rows[{i}]"
            if isinstance(row, dict):
                unknown = [n for n in row if n not in self._index]
                if unknown:
                    near = difflib.get_close_matches(unknown[0], self.features, n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    raise _refuse("unknown_feature", f"{where} has {unknown[0]!r}{hint}, "
                                  f"which the model does not take; its inputs are "
                                  f"{self._names()}.")
                missing = [n for n in self.features if n not in row]
                if missing:
                    raise _refuse("missing_feature", f"{where} lacks "
                                  f"{', '.join(map(repr, missing))}; the model needs "
                                  f"{self._names()}.")
                cells = [(f"{where}.{n}", row[n]) for n in self.features]
            elif isinstance(row, list):
                if len(row) != k:
                    raise _refuse("wrong_count", f"{where} has {len(row)} value"
                                  f"{'' if len(row) == 1 else 's'} but the model takes {k} "
                                  f"({self._names()}, in that order).")
                cells = [(f"{where}[{j}] ({n})", v)
                         for j, (n, v) in enumerate(zip(self.features, row, strict=True))]
            else:
                raise _refuse("bad_row", f"{where} is {_describe(row)}; each row is an "
                              f"object like {json.dumps(self._example_row())} or a list "
                              f"like {json.dumps(list(self._example_row().values()))}.")
            for name, value in cells:
                self._check_number(name, value)

    def _check_number(self, name: str, value: Any) -> None:
        if isinstance(value, _Constant):
            raise _refuse("not_finite", f"{name} is {value}, which is not a number JSON "
                          "allows, nor one the model can use; send a finite number.")
        if type(value) not in (int, float):
            raise _refuse("not_a_number", f"{name} is {_describe(value)}, not a number; "
                          "send a plain number without quotes, e.g. 8 or 7.5.")
        if abs(value) > _LARGEST or (isinstance(value, float) and not math.isfinite(value)):
            raise _refuse("not_finite", f"{name} is too large for a 64-bit float (beyond "
                          f"±{_LARGEST:.3g}); send a finite number.")

    def _names(self) -> str:
        return ", ".join(self.features)

    def _example_row(self) -> dict:
        return dict.fromkeys(self.features, 1)

    def example(self) -> str:
        """A request body this model takes, for error messages and the schema."""
        return json.dumps({"rows": [self._example_row()]})

    # ------------------------------------------------------------------ answers
    def predict(self, X: np.ndarray) -> list:
        """One prediction per row of ``X``, in raw units, exactly as ``neurallab predict``.

        A regressor answers a number per row (a list of numbers with several outputs);
        a classifier ``{"label": ..., "probabilities": {class: p, ...}}`` in the
        model's class order.

        Raises
        ------
        UploadError
            422 when a row's answer is not finite: its values lie so far outside the
            training data that the network's arithmetic overflows.
        """
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                _, table = prediction_table(self.net, X)
        except InputError as exc:  # e.g. beyond float32 for a float32 model
            raise _refuse("bad_values", f"{exc}; send values of the size the model was "
                          "trained on.") from None
        k = len(self.features)
        if self.class_names is None:
            answers = [row[k] for row in table] if self.net.n_outputs == 1 else \
                [row[k:] for row in table]
            numbers = np.array(answers, dtype=np.float64)
        else:
            answers = [{"label": row[k], "probabilities": dict(zip(self.class_names, row[k + 1:],
                                                                  strict=True))}
                       for row in table]
            numbers = np.array([row[k + 1:] for row in table], dtype=np.float64)
        bad = ~np.isfinite(numbers.reshape(len(table), -1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _refuse("overflow", f"rows[{i}]: the model's answer is not a finite number: "
                          "its values lie so far outside those it was trained on that the "
                          "network's arithmetic overflows; send values of the size the model "
                          "was trained on.")
        return answers

    def answer(self, body: bytes | bytearray) -> dict:
        """Parse a request body and predict (blocking; CPU work): the JSON answer."""
        return {"target": self.target, "predictions": self.predict(self.parse(body))}
