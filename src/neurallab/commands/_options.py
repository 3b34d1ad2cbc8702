"""Checks shared by the commands' options, worded for the command line.

The library's own checks name Python parameters (``batch_size``, ``seed``); a person at
the command line typed ``--batch-size`` and ``--seed``. So the commands check what
they are given *here*, before any work starts: the number types below make argparse
answer ``argument --batch-size: must be a positive integer, got '0'``, and
:func:`check_output` refuses an output path that is a folder, sits in a missing
folder, has the wrong suffix, or is one of the command's own inputs.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "check_output", "check_output_folder", "count"]


def count(n: int, noun: str) -> str:
    """``n`` with its noun, singular for one: ``1 row``, ``5 rows``, ``0 rows``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _number(text: str, kind, what: str, ok) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    return _number(text, int, "a positive integer", lambda v: v >= 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer ≥ 0 (seeds)."""
    return _number(text, int, "a non-negative integer", lambda v: v >= 0)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, "a positive number", lambda v: math.isfinite(v) and v > 0)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0."""
    return _number(text, float, "a non-negative number", lambda v: math.isfinite(v) and v >= 0)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: Path, option: str, suffixes: tuple[str, ...] = (),
                 inputs: tuple[Path | None, ...] = (), example: str | None = None) -> None:
    """Refuse a file to write before the work that would write it starts.

    Parameters
    ----------
    path : Path
        Where the command will write.
    option : str
        The option that gave it (``--out``), for the message.
    suffixes : tuple of str
        The accepted endings (``(".safetensors",)``), in any case; empty: any.
    inputs : tuple of Path
        The command's input files: writing over one of them would destroy it.
    example : str, optional
        A file name to suggest inside a folder given by mistake (default: ``model``
        with the first suffix).

    Raises
    ------
    CLIError
        A folder, a wrong ending, a folder that does not exist, is a file or is not
        writable, or one of the inputs — with what to give instead.
    """
    from ..cli import CLIError

    if path.is_dir():
        example = example or (f"model{suffixes[0]}" if suffixes else None)
        hint = f", e.g. {path / example}" if example else ""
        raise CLIError(f"{option} {path} is a folder; give a file name inside it{hint}")
    if suffixes and not path.name.lower().endswith(tuple(x.lower() for x in suffixes)):
        raise CLIError(f"{option} {path}: the file written is {' or '.join(suffixes)}; give "
                       f"a name ending in {suffixes[0]}, e.g. {path.with_suffix(suffixes[0])}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise CLIError(f"{option} {path}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise CLIError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path}: folder {folder} is not writable")
    for source in inputs:
        if source is not None and (_same_file(path, Path(source))
                                   or path.resolve() == Path(source).resolve()):
            raise CLIError(f"{option} {path} is also this command's input; writing it would "
                           "destroy that input, so give another file name")


def check_output_folder(path: Path, option: str, what: str) -> None:
    """Refuse a folder to write ``what`` into before the work starts: it is a file, or it
    cannot be created (a file on the way, a folder that is not writable)."""
    from ..cli import CLIError

    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path}: that is a file, not a folder; give a folder for "
                       f"{what} (it is created if missing)")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise CLIError(f"{option} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path}: folder {ancestor} is not writable")
