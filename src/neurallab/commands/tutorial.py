"""``neurallab tutorial``: run the chapters, print the key numbers, write the report."""

from __future__ import annotations

import argparse
import textwrap
import webbrowser
from pathlib import Path

from ..tutorial import DEFAULT_SEED, available_chapters, run_tutorial
from ..tutorial.core import ChapterResult
from ._options import count, non_negative_int

EXAMPLES = """examples:
  neurallab tutorial                         all chapters into ./neurallab-report/
  neurallab tutorial --out report --open     and open the page in a browser
  neurallab tutorial --chapters 3-5          only chapters 3, 4 and 5
  neurallab tutorial --seed 7                other initial weights, same lessons
  neurallab tutorial --chapters 8-9 --full   image chapters on all of Fashion-MNIST
"""


def register(sub) -> None:
    chapters = available_chapters()
    p = sub.add_parser(
        "tutorial", help="walk through the tutorial and write an illustrated report",
        description=textwrap.fill(
            "Run the tutorial's chapters on the built-in data: each computes, explains and "
            "draws one idea, from the data and forward propagation to backpropagation, "
            "gradient checking, BFGS and regularisation, then images: getting a folder of "
            "them into clean arrays, classifying Fashion-MNIST, and the same network in "
            "PyTorch, Keras and ONNX. Prints the key numbers of each chapter and writes a "
            "report folder: index.html, figures/*.png and numbers.json.",
            79),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("neurallab-report"),
                   help="report folder (default: ./neurallab-report)")
    p.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED,
                   help="seed of the initial weights, of chapter 8's splits and of chapter "
                        f"9's training (default: {DEFAULT_SEED})")
    p.add_argument("--chapters", default=None,
                   help="which chapters, e.g. 1-7, 2,5 or all (default: every chapter "
                        f"available; here {', '.join(map(str, chapters)) or 'none'})")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.add_argument("--full", action="store_true", help="chapters 8-9 on all of Fashion-MNIST "
                   "(70,000 images, minutes) instead of the shipped sample")
    p.set_defaults(func=cmd_tutorial)


def _print_chapter(res: ChapterResult) -> None:
    print(f"Chapter {res.number}. {res.title}  ({res.seconds:.1f} s)", flush=True)
    if res.skipped:
        print(f"    skipped: {res.skipped}", flush=True)
    for n in res.key_numbers:
        print(f"    {n.label}: {n.text}", flush=True)


def cmd_tutorial(args) -> int:
    run = run_tutorial(args.out, seed=args.seed, chapters=args.chapters,
                       on_chapter=_print_chapter, full=args.full)
    n_figures = sum(len(r.figures) for r in run.results)
    report = run.report.resolve()
    print(f"\nReport: {report}  ({count(len(run.results), 'chapter')}, "
          f"{count(n_figures, 'figure')}, "
          f"{run.seconds:.1f} s)")
    print(f"Numbers: {run.numbers_file.resolve()}")
    if args.open and not webbrowser.open(report.as_uri()):
        print("(no web browser found; open the file above by hand)")
    return 0
