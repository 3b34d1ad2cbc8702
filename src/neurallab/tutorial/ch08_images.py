"""Chapter 8: getting images in — files to clean, balanced, leak-free arrays."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .. import datasets, imageplots
from ..datasets.images import load_image_folder
from ..datasets.prepare import class_balance, load_dataset, normalize, prepare_dataset
from ..errors import DatasetNotFoundError, InputError
from .core import ChapterResult, ChapterSkipped, Context, fmt_duration

TITLE = "Deep learning I — image recognition: getting images in"

#: images per class written to the demonstration folder
FOLDER_PER_CLASS = 12
#: validation and test shares of the merged, re-split data set
VALID, TEST = 0.1, 0.1


def _data(ctx: Context):
    if ctx.full:
        try:
            return datasets.load_fashion_mnist()
        except DatasetNotFoundError as exc:
            raise ChapterSkipped(str(exc)) from exc
    return datasets.fashion_mnist_sample()


def _folder_demo(res: ChapterResult, data, seed: int) -> None:
    """Write a small class folder with planted bad files and load it back."""
    rng = np.random.default_rng(seed)
    names = list(data.class_names)
    with tempfile.TemporaryDirectory(prefix="neurallab-ch8-") as tmp:
        root = Path(tmp)
        for k, name in enumerate(names):
            folder = root / name.replace("/", "-")
            folder.mkdir()
            picks = rng.choice(np.flatnonzero(data.y_train == k), FOLDER_PER_CLASS,
                               replace=False)
            for i, idx in enumerate(picks):
                fmt = "JPEG" if i == 0 else "PNG"
                Image.fromarray(data.X_train[idx]).save(
                    folder / f"{idx}.{'jpg' if fmt == 'JPEG' else 'png'}", format=fmt)
        first = root / names[0].replace("/", "-")
        (first / "empty.png").write_bytes(b"")
        good = (first / next(p.name for p in first.iterdir() if p.suffix == ".png"))
        (first / "truncated.png").write_bytes(good.read_bytes()[:60])
        (root / names[1] / "notes.png").write_text("this is not an image")
        Image.fromarray(data.X_train[0]).resize((56, 40)).save(root / names[2] / "big.png")
        t = time.perf_counter()
        folder = load_image_folder(root, image_size=(28, 28), progress=False)
        seconds = time.perf_counter() - t
        # a class with too few images is refused, not trained on: ask for one more
        # image per class than the damaged class has left
        counts = folder.report.class_counts
        need = min(counts.values()) + 1
        try:
            load_image_folder(root, image_size=(28, 28), progress=False, min_per_class=need)
            refusal = None
        except InputError as exc:
            refusal = str(exc)
    rep = folder.report
    res.add_text(
        "Images usually arrive as files, one folder per class. To show what a loader must "
        f"survive, we wrote {FOLDER_PER_CLASS} images of each class as PNG files (one as "
        "JPEG) and planted four problems: an empty file, a PNG cut off after 60 bytes, a "
        "text file named .png and an image of another size (56 × 40). Loading the folder "
        f"took {fmt_duration(seconds)}:",
    )
    res.add_table(("file", "what happened"),
                  [(s.path, s.reason) for s in rep.skipped]
                  + [("big.png (and the rest)", f"loaded; {rep.resized} resized to 28 × 28, "
                      "aspect kept, padded with the border colour")],
                  caption=f"{len(folder.labels)} images loaded into one array "
                          f"{folder.images.shape} {folder.images.dtype}; "
                          f"{len(rep.skipped)} files skipped and reported — none stopped "
                          "the load.")
    res.add_text(
        "Too few examples of a class is a problem a loader should catch, too: the smallest "
        f"classes here have {need - 1} usable images. Asking for at least {need} per class "
        f"(min_per_class={need}) refuses the folder "
        + (f"with “{refusal.split(' (')[0]}”" if refusal else
           "— except that it did not: a defect")
        + ", instead of training on classes that are barely there; the message goes on to "
        "list the skipped files.",
    )
    res.add_number("folder_loaded", len(folder.labels), "folder demo: images loaded")
    res.add_number("folder_skipped", len(rep.skipped), "folder demo: files skipped",
                   show=True)


def run(ctx: Context) -> ChapterResult:
    res = ChapterResult(8, TITLE)
    data = _data(ctx)
    names = list(data.class_names)
    what = "all of Fashion-MNIST" if ctx.full else \
        "the Fashion-MNIST sample that ships with neurallab"
    res.add_text(
        "Chapter 9 teaches a network to tell clothes apart. Before any learning the "
        "pictures must become numbers: arrays of one shape, scaled alike, in classes of "
        "similar size, split so that no test image was also seen in training. This chapter "
        f"does each step on {what} "
        f"({len(data.y_train):,} training and {len(data.y_test):,} test images of "
        f"{len(names)} classes, 28 × 28 grey pixels).",
    )
    _folder_demo(res, data, ctx.seed)

    # ------------------------------------------------------------------ normalise
    X_all = np.concatenate([data.X_train, data.X_test])
    y_all = np.concatenate([data.y_train, data.y_test])
    unit = normalize(X_all, "unit")
    centred = normalize(X_all, "centered")
    res.add_text(
        "Pixels are bytes, 0 (black) to 255 (white). Networks learn best from inputs of "
        "order one, so we divide by 255 — [0, 1] — or also subtract 0.5, centring the "
        "range on zero (±0.5). Both are float32: 4 bytes per pixel, enough for 256 levels "
        "and half the memory of float64.",
    )
    res.add_table(("form", "dtype", "min", "max", "mean", "std", "MB"),
                  [(label, str(a.dtype), f"{a.min():.3g}", f"{a.max():.3g}",
                    f"{a.mean():.3f}", f"{a.std():.3f}", f"{a.nbytes / 1e6:.1f}")
                   for label, a in (("pixels", X_all), ("p / 255", unit),
                                    ("p / 255 − 0.5", centred))],
                  caption=f"All {len(y_all):,} images in three forms.")
    res.add_number("mean_unit", unit.mean(), "mean input after p / 255")
    del unit, centred
    res.add_figure(ctx.save_figure(imageplots.plot_class_samples(
        data.X_train, data.y_train, names, per_class=8, seed=ctx.seed,
        title="eight training images of each class"), "ch08_samples"),
        "A look at the data: eight random training images per class.")

    # ------------------------------------------------------------------ balance
    balance = class_balance({"train": data.y_train, "test": data.y_test}, names)
    res.add_text(
        "A class with far fewer examples gets learned less and predicted less. Counting "
        "per class (and flagging any class more than 20 % away from the mean):",
    )
    res.add_figure(ctx.save_figure(imageplots.plot_class_balance(balance),
                                   "ch08_balance"),
                   f"Images per class. Largest / smallest class: {balance.ratio:.2f} — "
                   f"{'balanced' if balance.balanced else 'out of balance'}.")
    res.add_number("balance_ratio", balance.ratio, "largest / smallest class", show=True)

    # ------------------------------------------------------------------ split and leaks
    t = time.perf_counter()
    ds = prepare_dataset(X_all, y_all, names, valid=VALID, test=TEST, seed=ctx.seed)
    report = ds.find_leaks()
    leak_seconds = time.perf_counter() - t
    counts = report.counts()
    res.add_text(
        "Merging both sets and splitting them again, stratified and seeded, gives "
        f"training, validation and test sets of the sizes we choose ({1 - VALID - TEST:.0%} "
        f"/ {VALID:.0%} / {TEST:.0%}), each with every class in proportion. Then the "
        "question that decides whether a test score means anything: does any test or "
        "validation image also occur in training? Exact copies are found by a hash of the "
        "bytes (then compared byte for byte); near copies — the same garment shifted a "
        "pixel, brightened, re-encoded — by comparing small fingerprints, then the "
        "candidates at full size.",
    )
    rows = [(s, f"{ds.sizes[s]:,}", str(counts["exact_within"].get(s, 0)),
             str(sum(v for k, v in counts["exact_across"].items() if k.endswith("/" + s))),
             str(sum(v for k, v in counts["near_across"].items() if k.endswith("/" + s))))
            for s in ("train", "valid", "test")]
    res.add_table(("split", "images", "repeats inside", "exact copy in an earlier split",
                   "near copy in an earlier split"), rows,
                  caption=f"Leak search over {len(y_all):,} images "
                          f"({fmt_duration(leak_seconds)}, near = similarity ≥ "
                          f"{report.threshold}).")
    leaked_test = len(report.leaked("test"))
    res.add_number("leaked_test", leaked_test, "test images with a copy in train/valid",
                   show=True)
    key = ("train", "test")
    pairs = np.concatenate([report.exact_across.get(key, np.zeros((0, 2), np.int64)),
                            report.near_across.get(key, np.zeros((0, 2), np.int64))])
    if len(pairs):
        sims = np.concatenate([np.ones(len(report.exact_across.get(key, []))),
                               report.near_similarity.get(key, np.zeros(0))])
        res.add_figure(ctx.save_figure(imageplots.plot_duplicate_pairs(
            ds.X_train, ds.X_test, pairs, similarity=sims, names=key, max_pairs=12),
            "ch08_duplicates"),
            "Test images with an (almost) identical image in the training set, side by "
            "side with similarity — a model could score these from memory.")
    clean = ds.sanitized(report)
    removed = {s: ds.sizes[s] - clean.sizes[s] for s in ds.sizes}
    res.add_text(
        f"The sanitised split drops them: {removed['valid']} validation and "
        f"{removed['test']} test images with a copy in an earlier split, and "
        f"{removed['train']} repeats inside the training set. What remains can be "
        "trusted to measure generalisation.",
    )

    # ------------------------------------------------------------------ store
    with tempfile.TemporaryDirectory(prefix="neurallab-ch8-") as tmp:
        path = Path(tmp) / "fashion.npz"
        t = time.perf_counter()
        clean.save(path)
        back = load_dataset(path)
        seconds = time.perf_counter() - t
        size = path.stat().st_size
    same = all(np.array_equal(getattr(back, a), getattr(clean, a))
               for a in ("X_train", "y_train", "X_valid", "y_valid", "X_test", "y_test"))
    res.add_text(
        f"Finally the prepared set is stored as one .npz file of {size / 1e6:.1f} MB "
        "(uint8 pixels, labels, class names and the preprocessing as JSON; no pickled "
        "objects, so loading it cannot run code) and read back "
        f"{'identical' if same else 'DIFFERENT'} in {fmt_duration(seconds)}. "
        "'neurallab images build' does all of this for a folder of your own images, and "
        "'neurallab images train data.npz' (chapter 9) trains on the result.",
    )
    res.add_number("stored_mb", size / 1e6, "prepared data set file", "MB")
    return res
