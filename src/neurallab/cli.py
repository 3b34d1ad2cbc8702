"""The ``neurallab`` command (also ``python -m neurallab``).

Each sub-command lives in its own module under :mod:`neurallab.commands` and
registers itself through ``register(subparsers)``; this module only builds the
parser and turns errors into one clear line (a traceback only with ``--debug``)
and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__

#: modules that contribute sub-commands, in the order ``--help`` lists them
COMMAND_MODULES = (
    "neurallab.commands.tutorial",
    "neurallab.commands.train",
    "neurallab.commands.images",
    "neurallab.commands.export",
    "neurallab.commands.serve",
)

EPILOG = """examples:
  neurallab tutorial                       walk through the chapters, write a report
  neurallab train data.csv --target score --out model.safetensors
  neurallab predict model.safetensors --values 8,3
  neurallab gradcheck
"""


class CLIError(Exception):
    """An error to print as one line (exit code 2 unless ``code`` says otherwise)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurallab",
        description="Neural networks from first principles: train, check, explain, serve.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neurallab {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when something fails")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command is not part of this build
                continue
            raise
        module.register(sub)
    _add_debug_and_prog(parser)
    return parser


def _add_debug_and_prog(parser: argparse.ArgumentParser) -> None:
    """Give every command and sub-command (``neurallab images build``) ``--debug``, and
    record its full name (``prog``) for error messages.

    ``--debug`` is then accepted after the command too (``neurallab images build ...
    --debug``); SUPPRESS keeps the top-level value when it is not given there. The
    deepest parser's ``_prog`` default wins, so an error names the whole command.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        seen = set()
        for command in action.choices.values():
            if id(command) in seen:  # an alias of a command already done
                continue
            seen.add(id(command))
            try:
                command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                     help="show the full traceback when something fails")
            except argparse.ArgumentError:  # the command defines its own --debug
                pass
            command.set_defaults(_prog=command.prog)
            _add_debug_and_prog(command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("neurallab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``neurallab predict ... | head``): not an error of ours;
        # point stdout at /dev/null so Python's exit-time flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        code = exc.code if isinstance(exc, CLIError) else 1
        prog = getattr(args, "_prog", None) or f"neurallab {args.command}"
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
