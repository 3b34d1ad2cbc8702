"""``neurallab images train``, ``evaluate`` and ``predict``: image classifiers (chapter 9).

Added to the ``neurallab images`` group by :mod:`neurallab.commands.images`, which
calls :func:`register` with its sub-parsers. A model trained here carries its
class names and its image preprocessing (``net.meta["preprocessing"]``), so
``predict`` turns any image file into exactly the inputs the network was trained
on, and the web app can serve it as it is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..cli import CLIError
from ..errors import InputError
from ._options import (
    check_output,
    check_output_folder,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .images import cli_words, fraction
from .train import _parser

PRESETS = ("mlp", "best", "baseline")
DATA_HELP = ("fashion-mnist (the full set), fashion-mnist-sample (3,000 + 1,000 images "
             "shipped with neurallab) or a prepared .npz from 'neurallab images build'")


def register(sub) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the ``images`` sub-parsers."""
    p = _parser(
        sub, "train", "train an image classifier (softmax network)",
        "Train a classifier on labelled images: ReLU hidden layers, a softmax output and "
        "cross-entropy, mini-batch Adam or SGD, float32. --preset picks a whole recipe "
        "(mlp: 784-256-128-10, Adam 1e-3, batch 128, 20 epochs; best: the configuration "
        "selected on a validation split for the highest accuracy; baseline: softmax "
        "regression, no hidden layer, 20 epochs but at least 1,000 updates, so more epochs "
        "on a small training set); any option given overrides it, and --epochs is then the "
        "number of epochs. With a validation "
        "split every epoch is scored on it, and --patience stops early and keeps the best "
        "epoch. The test images, if the data has them, are scored once at the end.",
        "  neurallab images train fashion-mnist-sample --epochs 10 --out sample.safetensors\n"
        "  neurallab images train fashion-mnist --out fashion.safetensors\n"
        "  neurallab images train fashion-mnist --preset best --out best.safetensors\n"
        "  neurallab images train data.npz --hidden 512,256 --dropout 0.2 --schedule cosine "
        "--val-split 0.1 --patience 5 --out m.safetensors\n")
    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--out", type=Path, required=True, help="model file to write, ending in "
                   ".safetensors (never the DATA file)")
    p.add_argument("--preset", choices=PRESETS, default="mlp", help="the recipe to start "
                   "from (default: mlp)")
    p.add_argument("--hidden", help="hidden layer widths, e.g. 256,128; 0 for none")
    p.add_argument("--epochs", type=positive_int, help="passes over the training images (each "
                   "option's default comes from --preset). Given, it is the number of "
                   "epochs (fewer only if --patience stops early); without it, --preset "
                   "baseline runs at least 1,000 mini-batch updates, e.g. 42 epochs on "
                   "fashion-mnist-sample")
    p.add_argument("--batch-size", type=positive_int, help="images per update, 1 or more")
    p.add_argument("--optimizer", choices=("adam", "sgd", "momentum", "nesterov"),
                   help="momentum and nesterov are SGD with --momentum")
    p.add_argument("--lr", type=positive_float, help="learning rate, > 0")
    p.add_argument("--momentum", type=fraction, help="momentum in [0, 1), only with "
                   "--optimizer momentum or nesterov (default 0.9)")
    p.add_argument("--dropout", type=fraction, help="inverted-dropout rate on hidden layers, "
                   "in [0, 1)")
    p.add_argument("--l2", type=non_negative_float, help="L2 penalty λ on the weights, >= 0")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"),
                   help="learning-rate schedule over the epochs")
    p.add_argument("--step-size", type=positive_int, help="epochs per halving, only with "
                   "--schedule step (default 10)")
    p.add_argument("--val-split", type=fraction, help="fraction in [0, 1) of the training "
                   "images held out for validation (a prepared data set's own validation "
                   "split is used when this is not given)")
    p.add_argument("--patience", type=positive_int, help="early stopping: epochs without a "
                   "better validation loss before stopping, 1 or more")
    p.add_argument("--seed", type=non_negative_int, help="seeds weights, split, shuffling and "
                   "dropout, 0 or more")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_train)

    p = _parser(
        sub, "evaluate", "score an image classifier on labelled images",
        "Accuracy, per-class precision, recall and F1, and the confusion matrix of a "
        "trained classifier on a data set's test split (or --split), as text and as two "
        "figures: the confusion matrix and a grid of the most confident mistakes.",
        "  neurallab images evaluate fashion.safetensors fashion-mnist\n"
        "  neurallab images evaluate m.safetensors data.npz --split valid --out-dir eval\n")
    p.add_argument("model", type=Path, help="a model from 'neurallab images train'")
    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--split", choices=("test", "valid", "train"), default="test",
                   help="which images to score (default: test)")
    p.add_argument("--out-dir", type=Path, default=Path("."),
                   help="folder for confusion_matrix.png and misclassified.png (default: .)")
    p.add_argument("--no-figures", action="store_true", help="print only, write no PNG")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = _parser(
        sub, "predict", "classify image files with a trained model",
        "Classify image files (PNG, JPEG, BMP, GIF, TIFF, WebP; any size, colour or "
        "grayscale): each is converted, resized and normalised exactly as the model's "
        "training images were (the preprocessing stored in the model), and the most "
        "probable classes are printed with their probabilities.",
        "  neurallab images predict fashion.safetensors shoe.jpg\n"
        "  neurallab images predict fashion.safetensors photos/*.png --top 1\n")
    p.add_argument("model", type=Path, help="a model from 'neurallab images train'")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument("--top", type=int, default=3, help="classes to show per image (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert the images' grey levels before classifying them (for dark "
                   "objects on a light background, when the model learnt light objects on "
                   "black, like Fashion-MNIST's; a note suggests it when a file's "
                   "background is the other one)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_predict)


# ---------------------------------------------------------------------------- train
def _hidden(text: str) -> tuple[int, ...]:
    text = text.strip()
    if text in ("", "0", "none"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise InputError(f"--hidden must be comma-separated layer widths like 256,128, "
                         f"got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise InputError(f"--hidden widths must be positive, got {text!r}")
    return sizes


def recipe_from_args(args):
    """The preset's recipe with every option the user gave."""
    from .. import classify

    base = {"mlp": classify.MLP, "best": classify.BEST, "baseline": classify.BASELINE}
    changes = {}
    for opt in ("epochs", "batch_size", "optimizer", "lr", "momentum", "dropout", "l2",
                "schedule", "step_size", "val_split", "patience", "seed"):
        value = getattr(args, opt)
        if value is not None:
            changes[opt] = value
    if args.hidden is not None:
        changes["hidden"] = _hidden(args.hidden)
    if args.epochs is not None:  # the user's count, not raised to the preset's min_updates
        changes["min_updates"] = 0
    return base[args.preset].replace(**changes)


def cmd_train(args) -> int:
    from .. import classify

    recipe = recipe_from_args(args)
    # options the recipe would silently ignore
    if args.momentum is not None and recipe.optimizer not in ("momentum", "nesterov"):
        raise CLIError(f"--momentum {args.momentum} is used only by --optimizer momentum or "
                       f"nesterov (this run uses {recipe.optimizer}); add --optimizer "
                       "momentum, or drop --momentum")
    if args.step_size is not None and recipe.schedule != "step":
        raise CLIError(f"--step-size {args.step_size} is used only with --schedule step (this "
                       f"run's schedule is {recipe.schedule}); add --schedule step, or drop "
                       "--step-size")
    check_output(args.out, "--out", (".safetensors",), inputs=(args.data,))
    data = classify.load_classification_data(args.data)
    validation = None
    if args.val_split is None and data.X_valid is not None and len(data.X_valid):
        validation = (data.X_valid, data.y_valid)
        recipe = recipe.replace(val_split=0.0)
    if recipe.patience is not None and validation is None and recipe.val_split == 0:
        raise InputError(f"--patience {recipe.patience} needs validation images: add "
                         "--val-split 0.1, or train on a prepared .npz with a validation "
                         "split")
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    # the rows --val-split holds out are not trained on (the same count as fit's split)
    n_held = 0 if validation is not None else int(round(len(data.y_train) * recipe.val_split))
    n_fit = len(data.y_train) - n_held
    if validation is not None:
        held = f"; validation: the data set's {len(validation[1]):,} validation images"
    else:
        held = f"; validation: {n_held:,} more held out" if n_held else ""
    say(f"training on {n_fit:,} images of {data.source} "
        f"({len(data.class_names)} classes){held}")
    t0 = time.perf_counter()
    net, history = classify.train_classifier(
        data.X_train, data.y_train, recipe, class_names=data.class_names,
        preprocessing=data.preprocessing, validation_data=validation,
        verbose=0 if args.quiet else 1)
    seconds = time.perf_counter() - t0
    epochs = len(history.epoch)
    net.meta["name"] = f"{'-'.join(map(str, net.layer_sizes))} classifier"
    net.meta["training_data"] = f"{data.source}: {n_fit:,} training images"
    net.meta["training_seconds"] = seconds
    lines = [f"{net.summary().splitlines()[0]}",
             f"trained {epochs} epochs in {seconds:.1f} s ({seconds / max(epochs, 1):.2f} s "
             f"per epoch); {history.message}"]
    if "validation" in net.meta:
        v = net.meta["validation"]
        lines.append(f"validation accuracy {v['val_accuracy']:.2%} (best epoch {v['epoch']} "
                     f"of {v['epochs_run']})")
    if data.X_test is not None and len(data.X_test):
        report = classify.evaluate(net, data.X_test, data.y_test)
        net.meta["test_accuracy"] = report.accuracy
        net.meta["n_test"] = report.n
        lines.append(f"test accuracy {report.accuracy:.2%} on {report.n:,} images")
    net.save(args.out)
    lines.append(f"saved {args.out}")
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------------- evaluate
def _load_classifier(path: Path):
    from .. import classify
    from ..io import load

    net = load(path)
    if net.output_activation.name != "softmax":
        raise InputError(f"{path} is not a softmax classifier (its output activation is "
                         f"{net.output_activation.name!r}); train one with "
                         "'neurallab images train'")
    classify.model_preprocessing(net)
    return net


def cmd_evaluate(args) -> int:
    import json

    from .. import classify, classify_plots, plots

    if not args.no_figures:  # before the model and the data are loaded and scored
        check_output_folder(args.out_dir, "--out-dir", "confusion_matrix.png and "
                            "misclassified.png")
    net = _load_classifier(args.model)
    data = classify.load_classification_data(args.data)
    X, y = data.split(args.split)
    n_features = int(np.prod(X.shape[1:]))
    if n_features != net.n_inputs:
        raise InputError(f"{args.data} has images of {n_features} values but the model "
                         f"takes {net.n_inputs} inputs; evaluate it on data of the kind it "
                         "was trained on")
    if net.class_names and list(net.class_names) != list(data.class_names):
        print(f"note: the model's classes ({', '.join(net.class_names)}) differ from the "
              f"data's ({', '.join(data.class_names)}); labels are compared by number",
              file=sys.stderr)
    report = classify.evaluate(net, X, y)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{args.model} on the {args.split} images of {data.source}:")
        print(report.table())
        print("confusion matrix (rows: true class, columns: predicted class, numbered as "
              "the rows):")
        k = len(report.class_names)
        nw = min(max(len(n) for n in report.class_names), 30)
        w = max(5, len(str(int(report.confusion.max()))) + 1, len(str(k - 1)) + 1)
        print(" " * (nw + 6) + "".join(f"{j:>{w}}" for j in range(k)))
        for i, (name, row) in enumerate(zip(report.class_names, report.confusion,
                                            strict=True)):
            print(f"  {i:>2} {name[:nw]:<{nw}} " + "".join(f"{int(c):>{w}}" for c in row))
    if not args.no_figures:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        cm = plots.save_figure(classify_plots.confusion_figure(report),
                               args.out_dir / "confusion_matrix.png")
        images = X if X.ndim >= 3 else X.reshape(len(X), -1)
        grid = plots.save_figure(classify_plots.misclassified_figure(images, report),
                                 args.out_dir / "misclassified.png")
        print(f"wrote {cm} and {grid}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- predict
def cmd_predict(args) -> int:
    import json

    from .. import classify
    from ..errors import ImageError

    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    net = _load_classifier(args.model)
    prep = classify.model_preprocessing(net)
    if args.invert:
        prep = {**prep, "invert": not prep["invert"]}
    names = net.class_names or [str(i) for i in range(net.n_outputs)]
    top = min(args.top, net.n_outputs)
    results, failed = [], 0
    for path in args.images:
        try:
            x = classify.image_file_inputs([path], prep)
        except (ImageError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            failed += 1
            msg = cli_words(str(exc)) if isinstance(exc, ImageError) else \
                f"{path}: {exc.strerror or exc}"
            results.append({"file": str(path), "error": msg})
            if not args.json:
                print(f"neurallab images predict: error: {msg}", file=sys.stderr)
            continue
        p = net.predict_proba(x)[0]
        best = np.argsort(-p, kind="stable")[:top]
        mismatch = classify.background_mismatch(net, x[0], prep)
        if mismatch and not args.json:
            seen, trained_on = mismatch
            print(f"note: {path} has a {seen} background, the images this model learnt "
                  f"from a {trained_on} one; if the answer looks wrong, try "
                  + ("without --invert" if args.invert else "--invert"), file=sys.stderr)
        results.append({"file": str(path), "class": names[best[0]],
                        "top": [{"class": names[k], "probability": float(p[k])}
                                for k in best]})
        if not args.json:
            shown = ", ".join(f"{names[k]} {p[k]:.1%}" for k in best)
            print(f"{path}: {names[best[0]]}  ({shown})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0
