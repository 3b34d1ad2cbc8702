"""``neurallab images``: build a clean image data set and look at it.

Sub-commands here: ``build`` (a folder of class sub-folders, or Fashion-MNIST, into
one ``.npz`` with a balance and leak report) and ``show`` (a summary and a sample
grid of such a file).

Adding sub-commands from another module
---------------------------------------
``images`` is a group that other modules extend without editing this file. A
module listed in :data:`EXTENSIONS` (e.g. ``neurallab/commands/images_classify.py``)
defines, like a top-level command module, ``register`` — but it receives the
sub-parsers of ``neurallab images`` instead of those of ``neurallab``::

    def register(images_sub):
        p = images_sub.add_parser("train", help="...", description="...",
                                  epilog="examples:\\n  neurallab images train data.npz ...",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument(...)
        p.set_defaults(func=cmd_train)

where ``images_sub`` is the ``add_subparsers`` object of ``neurallab images``;
:func:`add_images_command` is a shortcut that makes such a parser with the
house style (help, description, example epilog). A module in the list that does
not exist is skipped, like ``cli.COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np

from ..cli import CLIError
from ..errors import InputError
from ._options import check_output, check_output_folder, non_negative_int, positive_int

#: modules that add sub-commands to ``neurallab images`` via ``register(images_sub)``
EXTENSIONS = ("neurallab.commands.images_classify",)
#: names ``build`` accepts instead of a folder
BUILTIN_SOURCES = ("fashion-mnist", "fashion-mnist-sample")
#: the widest sample grid ``show`` draws (images per class)
MAX_PER_CLASS = 100


def add_images_command(images_sub, name: str, help: str, description: str,
                       examples: str) -> argparse.ArgumentParser:
    """A ``neurallab images NAME`` parser with an example epilog (raw formatting)."""
    return images_sub.add_parser(
        name, help=help, description=textwrap.fill(description, 79),
        epilog="examples:\n" + textwrap.indent(examples.strip("\n"), "  ") + "\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)


def register(sub) -> None:
    group = sub.add_parser(
        "images", help="image data sets and classifiers (chapters 8-9)",
        description="Turn a folder of images, or Fashion-MNIST, into a clean data set\n"
                    "(build, show), and the classifiers that learn from it.",
        epilog="examples:\n  neurallab images build photos/ --out photos.npz --dedupe\n"
               "  neurallab images show photos.npz\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    images_sub = group.add_subparsers(dest="images_command", metavar="SUBCOMMAND")
    group.set_defaults(func=lambda args: group.print_help() or 2)

    p = add_images_command(
        images_sub, "build", "a folder of class folders (or Fashion-MNIST) → one .npz",
        "Load ROOT (one sub-folder of images per class; PNG, JPEG, BMP, GIF, TIFF, WebP), "
        "skipping and reporting unreadable files; split it stratified and seeded into "
        "train / validation / test; report the class balance and duplicate images within "
        "and across the splits; write everything, with the class names and the "
        "preprocessing, to one .npz. ROOT may also be 'fashion-mnist' (the full data set; "
        "its own test set is kept and --test is ignored) or 'fashion-mnist-sample' (the "
        "sample inside neurallab).",
        "neurallab images build letters/ --out letters.npz\n"
        "neurallab images build photos/ --size 32 --rgb --valid 0.15 --test 0.15 --dedupe "
        "--out photos.npz --figures figs/\n"
        "neurallab images build fashion-mnist --valid 5000 --out fashion.npz")
    p.add_argument("root", help="folder with one sub-folder per class, or one of "
                   + ", ".join(BUILTIN_SOURCES))
    p.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    p.add_argument("--size", default="28", help="image size: N or HxW, e.g. 28 or 32x24 "
                   "(default: 28)")
    p.add_argument("--rgb", action="store_true", help="keep colour (default: grayscale)")
    p.add_argument("--exact-size", action="store_true",
                   help="skip images of another size instead of resizing them")
    p.add_argument("--invert", action="store_true", help="store 255 - pixel (dark objects "
                   "on a light background become light on dark)")
    p.add_argument("--normalization", choices=("unit", "centered"), default="unit",
                   help="how a network should scale the pixels, stored in the file "
                   "(default: unit = p/255)")
    p.add_argument("--valid", type=_size_arg, default=0.1,
                   help="validation size: a fraction of the images or a count; 0 for no "
                   "validation split. A fraction is rounded to whole images; one that rounds "
                   "to 0 (0.1 of 4 images) leaves the split empty, with a note. With --test "
                   "it must leave at least one training image (default: 0.1)")
    p.add_argument("--test", type=_size_arg, default=0.1,
                   help="test size: fraction or count, as --valid (default: 0.1)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the split, 0 or more (default: 0)")
    p.add_argument("--min-per-class", type=positive_int, default=1,
                   help="error if a class has fewer images, 1 or more; an empty class "
                   "folder is always an error (default: 1)")
    p.add_argument("--download", action="store_true",
                   help="fashion-mnist: fetch the four files (SHA-256 checked) into the cache "
                   "when they are in none of the places searched; without it nothing is "
                   "downloaded")
    p.add_argument("--dedupe", action="store_true",
                   help="drop repeated images within each split and validation/test images "
                   "that also occur (exactly or nearly) in an earlier split")
    p.add_argument("--no-near", action="store_true", help="look for exact duplicates only")
    p.add_argument("--threshold", type=float, default=0.99,
                   help="similarity from which two images are near duplicates (default: 0.99)")
    p.add_argument("--figures", type=Path, help="folder for samples.png, balance.png and, "
                   "for each pair of splits that shares images, duplicates-A-B.png")
    p.add_argument("--workers", type=positive_int,
                   help="decoding processes, 1 or more (default: all CPUs)")
    p.set_defaults(func=cmd_build)

    p = add_images_command(
        images_sub, "show", "summarise a built .npz and draw sample images",
        "Print what a file made by 'neurallab images build' holds (sizes, image shape, "
        "preprocessing, class balance, the leak report made when it was built) and write "
        "a grid of random images per class.",
        "neurallab images show letters.npz\n"
        "neurallab images show photos.npz --split test --per-class 12 --grid test.png")
    p.add_argument("data", type=Path, help="a .npz written by 'neurallab images build'")
    p.add_argument("--grid", type=Path, help="PNG file to write, ending in .png (default: "
                   "<data name>-samples.png in the current folder)")
    p.add_argument("--split", choices=("train", "valid", "test"), default="train",
                   help="which split to draw (default: train)")
    p.add_argument("--per-class", type=_per_class, default=8,
                   help=f"images per class, 1 to {MAX_PER_CLASS} (default: 8)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="which images are drawn, 0 or more (default: 0)")
    p.set_defaults(func=cmd_show)

    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(images_sub)


def _whole_number(text: str, low: int, high: int | None = None) -> int:
    """argparse type body: an integer in ``low..high``; the message gives the range."""
    want = f"a whole number from {low} to {high}" if high is not None else \
        f"a whole number, {low} or more"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1) (rates, fractions)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 up to (not including) 1, "
                                         f"got {text!r}")
    return value


def _per_class(text: str) -> int:
    return _whole_number(text, 1, MAX_PER_CLASS)


def _size_arg(text: str):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction or a count") from None
    if not (0 <= value < 1 or (value >= 1 and value.is_integer())):
        raise argparse.ArgumentTypeError(f"{text!r}: give a fraction in [0, 1) or a whole "
                                         "count of images, 0 or more")
    return int(value) if value >= 1 else value


def _split_counts(args, n: int, with_test: bool = True) -> tuple[int, int]:
    """Images in the validation and test splits of ``n``, checked, with a note when a
    fraction rounds to no image at all."""
    counts = {}
    for opt in ("valid", "test") if with_test else ("valid",):
        value = getattr(args, opt)
        k = value if isinstance(value, int) else int(round(value * n))
        if k > n:
            raise CLIError(f"--{opt} {value}: there are only {n} images")
        if k == 0 and value:
            print(f"note: --{opt} {value} of {n} images rounds to 0, so the {opt} split "
                  f"is empty; give a count (--{opt} 1) to have one, or --{opt} 0 to say "
                  "none", file=sys.stderr)
        counts[opt] = k
    n_valid, n_test = counts["valid"], counts.get("test", 0)
    if n_valid + n_test >= n:
        asked = f"--valid {args.valid} ({n_valid} images)" + (
            f" and --test {args.test} ({n_test} images)" if with_test else "")
        raise CLIError(f"{asked} {'leave' if with_test else 'leaves'} no training images "
                       f"of the {n}; ask for smaller splits")
    return n_valid, n_test


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 1:
        raise CLIError(f"--size {text!r}: give N (square) or HxW, e.g. 28 or 32x24")
    return nums[0], nums[1]


#: the library's parameter names in messages that reach the command line, and the
#: command line's words for them (one place for the mapping)
_CLI_WORDS = (
    ("(exact_size=True); resize it or allow resizing", "(--exact-size); resize it or drop "
     "--exact-size"),
    ("; pass a larger max_pixels if you trust it", ""),
    ("max_pixels=", "the limit of "),
)


def cli_words(message: str) -> str:
    """A library message with its parameter names replaced by the command line's words."""
    for lib, cli in _CLI_WORDS:
        message = message.replace(lib, cli)
    return message


def _check_class_sizes(report, min_per_class: int) -> None:
    """Refuse empty class folders and classes under ``--min-per-class``, one line."""
    from pathlib import PurePath

    skipped: dict[str, int] = {}
    for s in report.skipped:
        parts = PurePath(s.path).parts
        if len(parts) > 1:
            skipped[parts[0]] = skipped.get(parts[0], 0) + 1
    problems = []
    for name, n in report.class_counts.items():
        if n == 0 and not skipped.get(name):
            problems.append(f"class folder {name!r} is empty: put its images in it, or "
                            "remove it")
        elif n == 0:
            k = skipped[name]
            problems.append(f"class folder {name!r} has no usable image (its {k} "
                            f"file{'s were' if k > 1 else ' was'} skipped, why is listed "
                            f"above): fix {'them' if k > 1 else 'it'}, or remove the folder")
        elif n < min_per_class:
            problems.append(f"class {name!r} has {n} image{'s' if n > 1 else ''}, fewer "
                            f"than --min-per-class {min_per_class}: add images, remove the "
                            "folder, or lower --min-per-class")
    if problems:
        raise CLIError("; ".join(problems))


def _load_builtin(args):
    from ..datasets import fashion_mnist_sample, load_fashion_mnist, preprocessing_config
    from ..datasets.prepare import PreparedDataset, stratified_split
    from ..errors import DatasetNotFoundError

    if args.rgb or args.invert or _image_size(args.size) != (28, 28) or args.exact_size:
        raise CLIError(f"{args.root} is 28x28 grayscale: drop --rgb, --invert, --size and "
                       "--exact-size")
    if args.download and args.root != "fashion-mnist":
        raise CLIError("--download is for fashion-mnist; the sample ships with neurallab")
    try:
        data = load_fashion_mnist(download=args.download) if args.root == "fashion-mnist" \
            else fashion_mnist_sample()
    except DatasetNotFoundError as exc:  # with --download given, its failure says why
        hint = "" if args.download or not exc.download_helps \
            else " (on the command line: add --download)"
        raise CLIError(f"{exc}{hint}") from None
    n_valid, _ = _split_counts(args, len(data.y_train), with_test=False)
    sp = stratified_split(data.y_train, valid=n_valid, test=0, seed=args.seed)
    prep = preprocessing_config((28, 28), "grayscale", args.normalization, False)
    print(f"loaded {len(data.y_train) + len(data.y_test)} images in "
          f"{len(data.class_names)} classes from {data.source} (its own test set kept)")
    return PreparedDataset(data.X_train[sp.train], data.y_train[sp.train],
                           data.X_train[sp.valid], data.y_train[sp.valid], data.X_test,
                           data.y_test, list(data.class_names), prep, None,
                           {"source": args.root, "seed": args.seed})


def cmd_build(args) -> int:
    from ..datasets import load_image_folder, preprocessing_config
    from ..datasets.prepare import prepare_dataset

    # every output is checked before the images are loaded and searched
    check_output(args.out, "--out", (".npz",), example="data.npz")
    if args.figures is not None:
        check_output_folder(args.figures, "--figures", "the figures")
    if not 0 <= args.threshold <= 1:
        raise CLIError(f"--threshold {args.threshold}: give a similarity between 0 and 1")
    if args.root in BUILTIN_SOURCES and not Path(args.root).is_dir():
        ds = _load_builtin(args)
    else:
        h, w = _image_size(args.size)
        color = "rgb" if args.rgb else "grayscale"
        prep = preprocessing_config((h, w), color, args.normalization, args.invert)
        # classes too small are refused here, after the skipped files are listed, in
        # the words of the command line (--min-per-class, an empty class folder)
        folder = load_image_folder(args.root, (h, w), color, 0, args.exact_size,
                                   invert=args.invert, workers=args.workers)
        rep = folder.report
        print(f"loaded {len(folder.labels)} images in {len(folder.class_names)} classes from "
              f"{rep.root} ({len(rep.skipped)} skipped, {rep.resized} resized to {h}x{w})")
        for s in rep.skipped:
            print(f"  skipped {s.path}: {cli_words(s.reason)}")
        _check_class_sizes(rep, args.min_per_class)
        n_valid, n_test = _split_counts(args, len(folder.labels))
        try:
            ds = prepare_dataset(folder.images, folder.labels, folder.class_names,
                                 valid=n_valid, test=n_test, seed=args.seed,
                                 preprocessing=prep, paths=rep.paths,
                                 info={"source": rep.root, "skipped": len(rep.skipped)})
        except InputError as exc:
            raise CLIError(f"cannot split: {exc}") from None
    balance = ds.balance()
    print("\nclass balance:")
    print(textwrap.indent(str(balance), "  "))
    leaks = ds.find_leaks(near=not args.no_near, threshold=args.threshold)
    print()
    print(leaks)
    info = {"balance": balance.to_dict(), "leaks": leaks.counts()}
    out = ds
    if args.dedupe:
        out = ds.sanitized(leaks, near=not args.no_near)
        removed = out.info["removed"]
        print("dedupe: removed " + ", ".join(f"{n} from {s}" for s, n in removed.items()))
        info["removed"] = removed
    out.info.update(info)
    out.save(args.out)
    sizes = out.sizes
    print(f"\nwrote {args.out}: train {sizes['train']}, valid {sizes['valid']}, "
          f"test {sizes['test']} images of {out.X_train.shape[1:]} {out.X_train.dtype}")
    if args.figures:
        _figures(args.figures, ds, balance, leaks)
    return 0


def _figures(folder: Path, ds, balance, leaks) -> None:
    from ..imageplots import plot_class_balance, plot_class_samples, plot_duplicate_pairs
    from ..plots import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    written = [save_figure(plot_class_samples(ds.X_train, ds.y_train, ds.class_names),
                           folder / "samples.png"),
               save_figure(plot_class_balance(balance), folder / "balance.png")]
    # one figure per pair of splits that shares images, e.g. duplicates-train-test.png
    for key in leaks.exact_across:
        exact = leaks.exact_across[key]
        near = leaks.near_across.get(key, np.zeros((0, 2), np.int64))
        if len(exact) + len(near):
            sims = np.concatenate([np.ones(len(exact)),
                                   leaks.near_similarity.get(key, np.zeros(0))])
            fig = plot_duplicate_pairs(ds.split(key[0])[0], ds.split(key[1])[0],
                                       np.concatenate([exact, near]), similarity=sims,
                                       names=key)
            written.append(save_figure(fig, folder / f"duplicates-{key[0]}-{key[1]}.png"))
    print("figures: " + ", ".join(str(p) for p in written))


def cmd_show(args) -> int:
    from ..datasets.prepare import load_dataset
    from ..imageplots import plot_class_samples
    from ..plots import save_figure

    grid = args.grid or Path(f"{args.data.stem}-samples.png")
    check_output(grid, "--grid", (".png",), inputs=(args.data,), example="samples.png")
    ds = load_dataset(args.data)
    sizes = ds.sizes
    X, y = ds.split(args.split)
    print(f"{args.data}: train {sizes['train']}, valid {sizes['valid']}, test "
          f"{sizes['test']} images of shape {ds.X_train.shape[1:]} {ds.X_train.dtype}, "
          f"{len(ds.class_names)} classes")
    print(f"preprocessing: {ds.preprocessing}")
    if ds.info.get("source"):
        print(f"source: {ds.info['source']}")
    print("\nclass balance:")
    print(textwrap.indent(str(ds.balance()), "  "))
    leaks = ds.info.get("leaks")
    if leaks:
        print("\nleak report when built (images of the later split with a copy in the "
              "earlier one):")
        for key in ("exact_within", "exact_across", "near_across"):
            print(f"  {key.replace('_', ' ')}: " + ", ".join(
                f"{k} {v}" for k, v in leaks.get(key, {}).items()))
    if ds.info.get("removed"):
        print("  removed by --dedupe: " + ", ".join(
            f"{k} {v}" for k, v in ds.info["removed"].items()))
    if len(y) == 0:
        print(f"\nthe {args.split} split is empty; no grid written", file=sys.stderr)
        return 0
    save_figure(plot_class_samples(X, y, ds.class_names, per_class=args.per_class,
                                   seed=args.seed,
                                   title=f"{args.data.name}: {args.split}, "
                                         f"{args.per_class} random images per class"), grid)
    print(f"\nwrote {grid}")
    return 0
