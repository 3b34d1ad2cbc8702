"""Reading and writing CSV tables for the command line (the standard ``csv`` module + NumPy).

A table has a header row naming its columns and one row per sample. Reading keeps
the cells as text and converts only the columns asked for, so a text column (say,
a class name) can sit next to numeric features. Every problem is reported with
where it is — file, line and column name — and what to do, because the person
reading the message is looking at the file in an editor:

    data.csv, line 7, column 'study': 'abc' is not a number; fix or remove that row

Line numbers are those of the file (the header is line 1), as an editor shows them.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_write_bytes

__all__ = ["CSVTable", "read_csv", "format_csv", "write_csv"]

#: delimiters tried when sniffing a file whose first line has no comma
DELIMITERS = ",;\t"
#: a number written with a decimal comma ("1,5"), for a hint in the error
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


@dataclass
class CSVTable:
    """A CSV file's header and cells (as text).

    Attributes
    ----------
    path : Path
    columns : list of str
        The header, whitespace stripped.
    rows : list of list of str
        One list of cells per data row, whitespace stripped.
    lines : list of int
        The file line on which each data row starts.
    """

    path: Path
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def _where(self, row: int, col: int) -> str:
        return f"{self.path}, line {self.lines[row]}, column {self.columns[col]!r}"

    def index(self, name: str) -> int:
        """Position of column ``name``; the error lists the columns there are."""
        try:
            return self.columns.index(name)
        except ValueError:
            raise InputError(
                f"{self.path} has no column {name!r}; its columns are: "
                f"{', '.join(self.columns)}"
            ) from None

    def column(self, name: str) -> list[str]:
        """The cells of column ``name``, as text."""
        j = self.index(name)
        return [r[j] for r in self.rows]

    def is_numeric(self, name: str) -> bool:
        """True when every cell of column ``name`` is a finite number."""
        try:
            self.numeric([name])
        except InputError:
            return False
        return True

    def numeric(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Columns ``names`` (default: all) as a float64 array ``(n_rows, len(names))``.

        Raises
        ------
        InputError
            Naming the first cell (line and column) that is empty, not a number, NaN
            or infinite.
        """
        names = list(self.columns if names is None else names)
        idx = [self.index(n) for n in names]
        cells = [[r[j] for j in idx] for r in self.rows]
        try:
            out = np.array(cells, dtype=np.float64).reshape(self.n_rows, len(idx))
        except ValueError:
            out = None
        if out is not None and np.isfinite(out).all():
            return out
        # slow path, only to say exactly where the problem is
        for i, row in enumerate(cells):
            for k, text in enumerate(row):
                where = self._where(i, idx[k])
                if text == "":
                    raise InputError(f"{where}: the cell is empty; fill it in or remove the "
                                     "row")
                try:
                    value = float(text)
                except ValueError:
                    hint = ""
                    if _DECIMAL_COMMA.fullmatch(text):
                        hint = (f" (a decimal comma? write {text.replace(',', '.')} with a "
                                "decimal point)")
                    raise InputError(f"{where}: {text[:40]!r} is not a number{hint}; fix the "
                                     "cell or remove the row") from None
                if not math.isfinite(value):
                    raise InputError(f"{where}: {text!r} is not a finite number; replace it "
                                     "or remove the row")
        raise AssertionError("unreachable")  # pragma: no cover


def _sniff_delimiter(text: str) -> str:
    """``,`` if the first non-blank line has a comma, else ``;`` or tab if it has some.

    Blank lines (nothing but spaces and separators) are skipped, as the reader
    skips them: a leading blank line must not decide the separator.
    """
    first = next((line for line in io.StringIO(text, newline="")
                  if line.strip(" \t\r\n" + DELIMITERS)), "")
    if "," in first:
        return ","
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv(path, delimiter: str | None = None) -> CSVTable:
    """Read a CSV file with a header row.

    Parameters
    ----------
    path : path
    delimiter : str, optional
        Cell separator; by default a comma, or ``;`` / tab when the header (the first
        non-blank line) has no comma.

    Raises
    ------
    InputError
        The file is missing, not UTF-8 text, empty, has no data rows, a blank or
        repeated column name (the message gives the header's own line), a row with
        the wrong number of cells, or a quoted cell that is never closed.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} does not exist; check the path")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not a UTF-8 text file (byte {exc.start} cannot be "
                         "decoded); save it as CSV (UTF-8)") from None
    if "\x00" in text:
        raise InputError(f"{path} contains NUL bytes, so it is not a CSV text file")
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    total = sum(1 for _ in io.StringIO(text, newline=""))  # the lines reader.line_num counts
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue                      # blank line
            if header is None:
                header = cells
                _check_header(path, header, line)
                continue
            if reader.line_num == total:
                _check_quotes(path, text, line, delimiter)
            if len(cells) != len(header):
                raise InputError(
                    f"{path}, line {line}: {len(cells)} cells, but the header has "
                    f"{len(header)} columns ({', '.join(header)}); every row needs one "
                    "cell per column"
                )
            rows.append(cells)
            lines.append(line)
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        raise InputError(f"{path} is empty; it needs a header row and at least one data row")
    if not rows:
        raise InputError(f"{path} has a header ({', '.join(header)}) but no data rows")
    return CSVTable(path, header, rows, lines)


def _check_quotes(path: Path, text: str, first: int, delimiter: str) -> None:
    """Refuse a last row whose quoted cell is never closed (it swallowed the file's end).

    The lenient reader ends such a cell at the end of the file; parsing that row's
    lines again strictly tells that case apart from other malformed rows.
    """
    rest = itertools.islice(io.StringIO(text, newline=""), first - 1, None)
    try:
        list(csv.reader(rest, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                f"{path}, line {first}: a quoted cell opened on this line is never closed "
                "(no closing \" before the end of the file), so everything after it was "
                "read as one cell; add the closing quote") from None


def _check_header(path: Path, header: list[str], line: int = 1) -> None:
    for j, name in enumerate(header):
        if not name:
            raise InputError(f"{path}, line {line}: column {j + 1} has no name; every "
                             "column needs a name in the header row")
    seen = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}, line {line}: column name {name!r} appears twice; "
                             "column names must be unique")
        seen.add(name)
    if all(_is_number(h) for h in header):
        raise InputError(f"{path}: the first row ({', '.join(header[:4])}) looks like data, "
                         "not column names; add a header row")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV text; floats written with ``repr`` so reading them back gives the same number."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([repr(float(c)) if isinstance(c, (float, np.floating)) else c
                    for c in row])
    return buf.getvalue()


def write_csv(path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write a CSV file atomically (see :func:`format_csv`)."""
    atomic_write_bytes(path, format_csv(header, rows).encode("utf-8"))
