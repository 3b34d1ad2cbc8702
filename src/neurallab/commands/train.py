"""``neurallab train``, ``predict``, ``gradcheck`` and ``info``: models from CSV files.

A model trained here is an ordinary neurallab model file: its scalers, class names
and the names of the CSV columns it was trained on travel inside it
(``net.meta["csv"]``), so ``predict`` needs nothing but the model and new rows,
and the Python API (``nl.load(path).predict(X)``) gives the same numbers.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np

from ..cli import CLIError
from ..datasets.csv import CSVTable, format_csv, read_csv, read_header, write_csv
from ..errors import InputError, TrainingDivergedError
from ..gradcheck import _float64_copy
from ..tables import prediction_table
from ._options import (
    check_output,
    count,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

#: an integer target with at most this many distinct values (and at most half as many
#: as rows) is taken as class labels
MAX_AUTO_CLASSES = 10
SCALERS = ("standard", "minmax", "max", "none")


def _parser(sub, name: str, help: str, description: str, examples: str):
    return sub.add_parser(name, help=help, description=textwrap.fill(description, 79),
                          epilog="examples:\n" + examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def register(sub) -> None:
    p = _parser(sub, "train", "train a network on a CSV file",
                "Train a regressor or classifier on a CSV file with a header row. Every "
                "column except the target is an input unless --features says otherwise. "
                "The task is regression when the target is numeric, classification when it "
                f"is text or integers with few distinct values (at most {MAX_AUTO_CLASSES}, "
                "and at most half the number of rows); --task overrides. Inputs (and "
                "regression targets) are scaled with statistics of the training rows, and "
                "the scaling is stored in the model.",
                "  neurallab train scores.csv --target score --out scores.safetensors\n"
                "  neurallab train iris.csv --target species --hidden 8 --epochs 300 "
                "--out iris.safetensors\n"
                "  neurallab train data.csv --target y --hidden 16,8 --activation tanh "
                "--optimizer adam --lr 0.01 --batch-size 32 --l2 1e-4 --out m.safetensors\n")
    p.add_argument("data", type=Path, help="CSV file with a header row")
    p.add_argument("--target", required=True, help="name of the column to predict")
    p.add_argument("--out", type=Path, required=True, help="model file to write "
                   "(.safetensors)")
    p.add_argument("--features", help="comma-separated input columns (default: all but the "
                   "target)")
    p.add_argument("--units", metavar="COLUMN=UNIT,...",
                   help="units of the columns, stored in the model and shown by info and the "
                        "web page, e.g. sleep=hours,study=hours,score=points")
    p.add_argument("--task", choices=("auto", "regression", "classification"), default="auto",
                   help="default: auto (from the target column)")
    p.add_argument("--hidden", default="3", help="hidden layer sizes, e.g. 3 or 16,8; 0 for "
                   "none (default: 3)")
    p.add_argument("--activation", default="sigmoid",
                   help="hidden activation: sigmoid, tanh, relu, leaky_relu (default: sigmoid)")
    p.add_argument("--output-activation", choices=("identity", "sigmoid"), default="identity",
                   help="regression output (default: identity; classification always uses "
                   "softmax)")
    p.add_argument("--optimizer", default="bfgs",
                   help="bfgs, lbfgs, cg, lm, gd, sgd or adam (default: bfgs)")
    p.add_argument("--lr", type=positive_float, help="learning rate for gd, sgd and adam")
    p.add_argument("--batch-size", type=positive_int, help="mini-batch size for sgd and adam")
    p.add_argument("--l2", type=non_negative_float, default=0.0,
                   help="L2 penalty λ on the weights (default: 0)")
    p.add_argument("--epochs", type=positive_int, default=200,
                   help="epochs, or iterations for bfgs/lbfgs/cg/lm (default: 200)")
    p.add_argument("--val-split", type=float, default=0.2,
                   help="fraction of rows held out for validation, 0 for none (default: 0.2)")
    p.add_argument("--scaler", choices=SCALERS, default="standard",
                   help="input scaling, fitted on the training rows (default: standard)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the weights and the split (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = _parser(sub, "predict", "predict with a saved model",
                "Predict with a saved model, in raw units (the model undoes its own scaling). "
                "Rows come from a CSV file (the model's input columns are picked by name; "
                "other columns are ignored) or from --values. Writes CSV to standard output "
                "or --out: the inputs, then the prediction (for classifiers, the class and "
                "one probability column per class).",
                "  neurallab predict scores.safetensors --values 8,3\n"
                "  neurallab predict scores.safetensors --values 8,3 --values 5,1\n"
                "  neurallab predict iris.safetensors new.csv --out predictions.csv\n")
    p.add_argument("model", type=Path, help="model file (.safetensors)")
    p.add_argument("data", type=Path, nargs="?", help="CSV file with the input columns")
    p.add_argument("--values", action="append", metavar="A,B,...",
                   help="one row of input values, comma-separated (repeatable)")
    p.add_argument("--out", type=Path, help="write the CSV here instead of standard output")
    p.set_defaults(func=cmd_predict)

    p = _parser(sub, "gradcheck", "check backpropagation against numerical differences",
                "Compare the gradient from backpropagation with central differences "
                "(ε = 1e-4) and print the relative error ‖g − g_num‖ / ‖g + g_num‖. Without "
                "--model it checks the tutorial's 2-3-1 network on the sleep/study data. "
                "Exit status 1 when the error is above the threshold.",
                "  neurallab gradcheck\n"
                "  neurallab gradcheck --model scores.safetensors --data scores.csv\n"
                "  neurallab gradcheck --model m.safetensors --data d.csv --target y "
                "--rows 50\n")
    p.add_argument("--model", type=Path, help="model file to check (default: the tutorial "
                   "network)")
    p.add_argument("--data", type=Path, help="CSV file to check the model on")
    p.add_argument("--target", help="target column (default: the one the model was trained "
                   "on)")
    p.add_argument("--rows", type=positive_int, default=None,
                   help="with --data, use its first N rows (each parameter costs two passes; "
                   "default: 20)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="seed of the tutorial network's weights, or of --reinit's "
                   "(default: the tutorial's)")
    p.add_argument("--reinit", action="store_true",
                   help="check the model's architecture at freshly drawn weights instead of "
                   "the trained ones (at a trained minimum the gradient is nearly zero and "
                   "rounding dominates the relative error)")
    p.add_argument("--eps", type=positive_float, default=1e-4,
                   help="finite-difference step (default: 1e-4)")
    p.add_argument("--threshold", type=positive_float, default=1e-7,
                   help="largest relative error accepted (default: 1e-7)")
    p.set_defaults(func=cmd_gradcheck)

    p = _parser(sub, "info", "describe a saved model",
                "Show what a model file holds: layers, activations, loss, scaling, class "
                "names, the CSV columns it was trained on and its file format.",
                "  neurallab info scores.safetensors\n")
    p.add_argument("model", type=Path, help="model file (.safetensors)")
    p.set_defaults(func=cmd_info)


# ---------------------------------------------------------------------------- train
def _parse_hidden(text: str) -> list[int]:
    text = text.strip()
    if text in ("0", "", "none"):
        return []
    try:
        sizes = [int(t) for t in text.split(",")]
    except ValueError:
        raise CLIError(f"--hidden {text!r}: give layer sizes as integers, e.g. 3 or 16,8") \
            from None
    if any(s < 1 for s in sizes):
        raise CLIError(f"--hidden {text!r}: every hidden layer needs at least one unit")
    return sizes


def infer_task(table: CSVTable, target: str) -> tuple[str, str]:
    """``("regression" | "classification", reason)`` from the target column's cells."""
    if table.is_numeric(target):
        y = table.numeric([target])[:, 0]
    else:
        cells = [c for c in table.column(target) if c]   # an empty cell is an error later
        try:
            y = np.array(cells, dtype=np.float64)
        except ValueError:
            return "classification", f"column {target!r} holds text"
    distinct = np.unique(y)
    if np.all(y == np.round(y)) and distinct.size <= min(MAX_AUTO_CLASSES, y.size // 2):
        return "classification", (f"column {target!r} holds {distinct.size} distinct "
                                  "integers")
    return "regression", f"column {target!r} holds numbers"


def _class_name(value: float) -> str:
    """A numeric class's name: ``{:g}`` (``3``, ``0.5``), with more digits where six do
    not tell the value apart (``{:g}`` names the classes 1234567 and 1234568 alike)."""
    for digits in range(6, 17):
        name = f"{value:.{digits}g}"
        if float(name) == value:
            return name
    return f"{value:.17g}"


def _class_labels(table: CSVTable, target: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels ``(n,)`` and class names; numeric classes sorted by value."""
    if table.is_numeric(target):
        values = table.numeric([target])[:, 0]
        distinct = np.unique(values)
        names = [_class_name(v) for v in distinct]
        return np.searchsorted(distinct, values), names
    cells = table.column(target)
    for i, c in enumerate(cells):
        if c == "":
            raise InputError(f"{table.path}, line {table.line(i)}, column {target!r}: the "
                             "class is empty; fill it in or remove the row")
    names = sorted(set(cells))
    index = {n: k for k, n in enumerate(names)}
    return np.array([index[c] for c in cells]), names


def _split(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled training and validation row indices (validation: the last ``val_split``)."""
    if val_split == 0:
        return np.arange(n), np.arange(0)
    if not 0 < val_split < 1:
        raise CLIError(f"--val-split must lie in [0, 1), got {val_split:g}")
    n_val = int(round(n * val_split))
    if n_val < 1 or n - n_val < 1:
        raise CLIError(f"--val-split {val_split:g} leaves {n_val} of {n} rows for validation "
                       "and needs at least one on each side; use --val-split 0 for tiny data")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:-n_val], perm[-n_val:]


def _check_optimizer_options(args) -> None:
    """The options that only some optimizers use, refused where they would be ignored."""
    from ..optim import get_optimizer

    opt = get_optimizer(args.optimizer)
    if args.lr is not None and opt.full_batch:
        raise CLIError(f"--lr is for gd, sgd and adam; --optimizer {opt.name} chooses its own "
                       "step lengths, so leave --lr out")
    if args.batch_size is not None and (opt.full_batch or getattr(opt, "full_batch_only",
                                                                   False)):
        raise CLIError(f"--batch-size is for sgd and adam; --optimizer {opt.name} uses all "
                       "training rows at every step, so leave --batch-size out (or use "
                       "--optimizer sgd or adam)")


def cmd_train(args) -> int:
    import neurallab as nl

    check_output(args.out, "--out", (".safetensors",), inputs=(args.data,))
    _check_optimizer_options(args)
    features = ([f.strip() for f in args.features.split(",") if f.strip()] if args.features
                else None)
    # only the columns used are read (the target first, so a missing one is named first)
    table = read_csv(args.data, columns=None if features is None else [args.target, *features])
    table.index(args.target)
    if features is None:
        features = [c for c in table.columns if c != args.target]
    if args.target in features:
        raise CLIError(f"--features includes the target column {args.target!r}")
    repeated = sorted({f for f in features if features.count(f) > 1})
    if repeated:
        raise CLIError(f"--features names {', '.join(repeated)} more than once; give each "
                       "column once")
    if not features:
        raise CLIError(f"{args.data} has no input columns besides the target {args.target!r}")
    units = _parse_units(args.units, [*features, args.target])
    X = table.numeric(features)
    task, reason = (args.task, "--task") if args.task != "auto" else \
        infer_task(table, args.target)
    hidden = _parse_hidden(args.hidden)
    scaler = None if args.scaler == "none" else args.scaler
    if task == "classification":
        y, class_names = _class_labels(table, args.target)
        if len(class_names) < 2:
            raise CLIError(f"column {args.target!r} has only one class ({class_names[0]}); "
                           "a classifier needs at least two")
        if len(class_names) > max(2, len(y) // 2):
            raise CLIError(f"column {args.target!r} has {len(class_names)} distinct values in "
                           f"{len(y)} rows: as classes, most would have a single example; "
                           "for a numeric target use --task regression")
        net = nl.Network([X.shape[1], *hidden, len(class_names)], activation=args.activation,
                         output_activation="softmax", seed=args.seed, input_scaler=scaler)
        net.class_names = class_names
        loss = "categorical_crossentropy"
    else:
        y = table.numeric([args.target])
        class_names = None
        out_scaler = "minmax" if args.output_activation == "sigmoid" else "standard"
        net = nl.Network([X.shape[1], *hidden, 1], activation=args.activation,
                         output_activation=args.output_activation, seed=args.seed,
                         input_scaler=scaler, output_scaler=out_scaler)
        loss = "mse"
    train_idx, val_idx = _split(X.shape[0], args.val_split, args.seed)
    net.meta["csv"] = {"features": features, "target": args.target, "task": task,
                       "n_train": int(train_idx.size), **({"units": units} if units else {})}
    validation = (X[val_idx], y[val_idx]) if val_idx.size else None
    print(f"{task} ({reason}): {count(len(features), 'input')} ({', '.join(features)}) -> "
          f"{args.target}; {count(train_idx.size, 'training row')}, "
          f"{count(val_idx.size, 'validation row')}", file=sys.stderr)
    try:
        history = net.fit(X[train_idx], y[train_idx], loss=loss, optimizer=args.optimizer,
                          l2=args.l2, epochs=args.epochs, batch_size=args.batch_size,
                          validation_data=validation, verbose=0 if args.quiet else 1,
                          seed=args.seed, lr=args.lr)
    except TrainingDivergedError as exc:
        raise CLIError(f"training diverged: the cost stopped being finite at "
                       f"{'iteration' if args.optimizer in _FULL else 'epoch'} "
                       f"{exc.iteration}, so nothing was saved; lower --lr, or add --l2 "
                       "(e.g. --l2 1e-3)" + (", or scale the inputs (--scaler standard)"
                                             if scaler is None else "")) from None
    net.save(args.out)
    print(_summary(net, history, X, y, train_idx, val_idx, args, class_names))
    return 0


def _summary(net, history, X, y, train_idx, val_idx, args, class_names) -> str:
    arch = "-".join(map(str, net.layer_sizes))
    lines = [f"trained {arch} network ({net.n_params} parameters) with {history.optimizer}: "
             f"{count(len(history.epoch), 'iteration' if history.optimizer in _FULL else 'epoch')}"
             f" in {history.wall_time:.2f} s ({history.message})"]
    for name, idx in (("training", train_idx), ("validation", val_idx)):
        if not idx.size:
            continue
        pred = net.predict(X[idx])
        if class_names is not None:
            lines.append(f"  {name} accuracy: {np.mean(pred == y[idx]):.1%} "
                         f"({count(idx.size, 'row')})")
        else:
            err = pred[:, 0] - y[idx, 0]
            lines.append(f"  {name} RMSE: {np.sqrt(np.mean(err ** 2)):.4g}, "
                         f"MAE: {np.mean(np.abs(err)):.4g} "
                         f"({args.target}, {count(idx.size, 'row')})")
    lines.append(f"saved {args.out}")
    return "\n".join(lines)


_FULL = ("bfgs", "lbfgs", "cg", "newton-cg", "lm")


# ---------------------------------------------------------------------------- predict
def _parse_units(text: str | None, columns: list[str]) -> dict[str, str]:
    """``--units sleep=hours,score=points`` as ``{column: unit}``, for columns the model uses."""
    units: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, eq, unit = (part.strip() for part in item.partition("="))
        if not eq or not name or not unit:
            raise CLIError(f"--units needs COLUMN=UNIT pairs separated by commas, e.g. "
                           f"{columns[0]}=hours; got {item.strip()!r}")
        if name not in columns:
            raise CLIError(f"--units names {name!r}, which the model does not use; its "
                           f"columns are {', '.join(columns)}")
        if name in units:
            raise CLIError(f"--units gives {name!r} twice; give each column once")
        units[name] = unit
    return units


def _values_rows(values: list[str], n_inputs: int) -> np.ndarray:
    rows = []
    for text in values:
        try:
            row = [float(v) for v in text.replace(" ", "").split(",")]
        except ValueError:
            raise CLIError(f"--values {text!r}: give numbers separated by commas, e.g. 8,3") \
                from None
        if len(row) != n_inputs:
            raise CLIError(f"--values {text!r} has {len(row)} numbers but the model takes "
                           f"{n_inputs} inputs")
        if not np.isfinite(row).all():
            raise CLIError(f"--values {text!r}: every value must be a finite number")
        rows.append(row)
    return np.array(rows)


def cmd_predict(args) -> int:
    import neurallab as nl

    if (args.data is None) == (not args.values):
        raise CLIError("give either a CSV file or --values (e.g. --values 8,3), not both "
                       "and not neither")
    if args.out is not None:
        check_output(args.out, "--out", (), inputs=(args.model, args.data))
    net = nl.load(args.model)
    if args.values:
        X = _values_rows(args.values, net.n_inputs)
    else:
        names = (net.meta.get("csv") or {}).get("features")
        if names:
            header = read_header(args.data)
            missing = [n for n in names if n not in header]
            if missing:
                raise InputError(
                    f"{args.data} lacks the model's input column(s) {', '.join(missing)}; "
                    f"the model needs {', '.join(names)} and the file has "
                    f"{', '.join(header)}"
                )
            X = read_csv(args.data, columns=names).numeric(names)
        else:
            table = read_csv(args.data)
            if len(table.columns) != net.n_inputs:
                raise InputError(f"{args.data} has {len(table.columns)} columns but the model "
                                 f"takes {net.n_inputs} inputs (and stores no column names)")
            X = table.numeric()
    header, rows = prediction_table(net, X)
    if args.out:
        write_csv(args.out, header, rows)
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(format_csv(header, rows))
    return 0


# ---------------------------------------------------------------------------- gradcheck
def _gradcheck_problem(args):
    """The network, scaled inputs and targets, loss and normalize flag to check."""
    import neurallab as nl

    from ..tutorial import DEFAULT_SEED
    from ..tutorial._common import tutorial_setup

    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.model is None:
        if args.data is not None or args.target is not None or args.rows is not None:
            raise CLIError("--data, --target and --rows need --model (the model to check "
                           "on them); without it the tutorial network is checked on its "
                           "own three rows")
        net, _, _, X, y = tutorial_setup(seed)
        return net, X, y, "sse", False, f"the tutorial network (seed {seed})"
    if args.data is None:
        raise CLIError("--model needs --data: a CSV file to compute the gradient on")
    rows = 20 if args.rows is None else args.rows
    # in float64, so the check measures the math, not float32's rounding
    net = _float64_copy(nl.load(args.model))
    if args.reinit:
        net.initialize(seed)
    meta = net.meta.get("csv") or {}
    target = args.target or meta.get("target")
    features = meta.get("features")
    table = read_csv(args.data, columns=[*features, target] if target and features else None)
    if not target:
        raise CLIError(f"{args.model} does not record its target column; pass --target")
    features = features or [c for c in table.columns if c != target]
    n = min(rows, table.n_rows)
    X = table.numeric(features)[:n]
    if X.shape[1] != net.n_inputs:
        raise InputError(f"{args.data} gives {X.shape[1]} input columns but the model takes "
                         f"{net.n_inputs}")
    if net.input_scaler is not None and net.input_scaler.fitted:
        X = net.input_scaler.transform(X)
    loss = net.loss or "sse"
    if net.is_classifier:
        names = net.class_names or []
        index = {c: k for k, c in enumerate(names)}
        if table.is_numeric(target):
            cells = [_class_name(v) for v in table.numeric([target])[:n, 0]]
        else:
            cells = table.column(target)[:n]
        unknown = sorted({c for c in cells if c not in index})
        if unknown:
            raise InputError(f"{args.data}, column {target!r}: class(es) {', '.join(unknown)} "
                             f"are not among the model's classes ({', '.join(names)})")
        y = np.array([index[c] for c in cells])
    else:
        y = table.numeric([target])[:n]
        if net.output_scaler is not None and net.output_scaler.fitted:
            y = net.output_scaler.transform(y)
    weights = f"fresh weights, seed {seed}" if args.reinit else "its trained weights"
    return net, X, y, loss, loss != "sse", f"{args.model} ({weights}) on {n} rows of {args.data}"


#: a gradient whose largest entry is below this is "small": the central differences'
#: own error (rounding, about 1e-12·J, and truncation, about ε² = 1e-8 times the third
#: derivative) can be a large part of it, so the relative error reads high for a
#: correct gradient
SMALL_GRADIENT = 1e-3


def cmd_gradcheck(args) -> int:
    import neurallab as nl

    net, X, y, loss, normalize, what = _gradcheck_problem(args)
    report = nl.check_gradients(net, X, y, loss=loss, eps=args.eps, normalize=normalize)
    ok = report.relative_error < args.threshold
    print(f"gradient check of {what}: {net.n_params} parameters, loss {loss}")
    print(f"  relative error ‖g − g_num‖ / ‖g + g_num‖ = {report.relative_error:.3e}  "
          f"({'OK' if ok else 'FAILED'}: threshold {args.threshold:g})")
    print(f"  largest difference: parameter {report.worst_index}, "
          f"|g − g_num| = {report.worst_abs_error:.3e}")
    small = float(np.abs(report.analytic).max(initial=0.0)) < SMALL_GRADIENT
    if not ok and small and not args.reinit:
        print("  the gradient is small here (trained weights), so the finite differences' "
              "own error is a large part of it and the relative error reads high; check "
              "the same architecture at fresh weights with --reinit")
    return 0 if ok else 1


# ---------------------------------------------------------------------------- info
def cmd_info(args) -> int:
    import neurallab as nl

    net = nl.load(args.model)
    from safetensors import safe_open

    with safe_open(str(args.model), framework="numpy") as f:
        meta = f.metadata() or {}
    print(f"{args.model}: neurallab model, format version {meta.get('format_version', '?')}, "
          f"{args.model.stat().st_size:,} bytes")
    print(net.summary())
    csv_meta = net.meta.get("csv") or {}
    if csv_meta:
        trained_on = (f"; trained on {count(csv_meta['n_train'], 'row')}"
                      if isinstance(csv_meta.get("n_train"), int) else "")
        units = csv_meta.get("units") if isinstance(csv_meta.get("units"), dict) else {}

        def named(col):
            return f"{col} ({units[col]})" if col in units else col

        print(f"  task: {csv_meta.get('task')}; inputs: "
              f"{', '.join(map(named, csv_meta['features']))}; "
              f"target: {named(csv_meta.get('target'))}{trained_on}")
    if net.class_names:
        print(f"  classes ({len(net.class_names)}): {', '.join(net.class_names)}")
    for name, s in (("input scaling", net.input_scaler), ("output scaling", net.output_scaler)):
        if s is not None:
            detail = "not fitted" if not s.fitted else (
                f"scale {np.round(s.scale_, 6).tolist()}, offset {np.round(s.offset_, 6).tolist()}")
            print(f"  {name}: {s.kind} ({detail})")
    other = {k: v for k, v in net.meta.items() if k != "csv"}
    if other:
        print(f"  metadata: {other}")
    return 0
