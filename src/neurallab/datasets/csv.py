"""Reading and writing CSV tables for the command line (the standard ``csv`` module + NumPy).

A table has a header row naming its columns and one row per sample. Reading
converts the columns as it streams through the file, so a text column (say, a
class name) can sit next to numeric features. Every problem is reported with
where it is — file, line and column name — and what to do, because the person
reading the message is looking at the file in an editor:

    data.csv, line 7, column 'study': 'abc' is not a number; fix the cell or remove the row

Line numbers are those of the file (the header is line 1), as an editor shows them.

Memory
------
A cell kept as a Python ``str`` costs about 60 bytes (a list slot, the object, its
characters): 15–20 times its share of the file. A float64 costs 8. So nothing
keeps the cells: a numeric column (every cell a finite number) is held as float64,
all of them rows of one array; a text column as its cells, repeated values sharing
one string; the line of each row as runs of consecutive lines (one run for a file
without blank lines or multi-line cells). ``read_csv(path, columns=[...])`` reads
only the columns named, and the file is read a block (:data:`BLOCK_BYTES`) at a
time, so reading a numeric table peaks near the size of its float64 array.

Three ways through the file, fastest first; each hands over to the next only where
its assumptions fail, and all three give the same table (``tests/test_csv.py``
checks them against each other):

1. *whole file*: every column read and numeric — one ``np.loadtxt`` over the file
   (NumPy's C parser). A cell that is not a number (a quote, an empty cell, a blank
   line of spaces or separators), or a row of another length, and NumPy refuses:
   the file is read the second way. NumPy skips empty lines, as the csv module
   does; the line numbers are found only when asked for (no cell of such a table
   has an error to report).
2. *blocks*: for a block of lines without quotes whose rows all have the header's
   number of cells, ``np.loadtxt`` on the numeric columns read and the ``csv``
   module for the text ones.
3. *rows*: the ``csv`` module row by row, for blocks with quotes (a quoted cell may
   run over several lines), blank lines, and the cells that are not numbers — the
   reference behaviour, and the source of every message.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import warnings
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from operator import itemgetter, methodcaller
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_write_bytes

__all__ = ["CSVTable", "read_csv", "read_header", "format_csv", "write_csv"]

#: delimiters tried when sniffing a file whose first line has no comma
DELIMITERS = ",;\t"
#: bytes of the file decoded at a time (a block of whole lines); the first read, for
#: the header, is smaller, since the first way through the file does not use it
BLOCK_BYTES = 1 << 18
_FIRST_READ = 1 << 14
#: rows of cells (Python strings, ~15x their bytes in the file) converted at a time
_ROWS_AT_ONCE = 1024
#: line breaks of str.splitlines that are not line ends for the csv module
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: a number written with a decimal comma ("1,5"), for a hint in the error
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
#: the csv module's quote character (its default dialect is used throughout)
_QUOTE = '"'
#: distinct cells of a text column kept (one string each, shared by the rows): past
#: this it is free text rather than labels, and its cells are read again when asked for
_MAX_SHARED = 4096


class CSVTable:
    """A CSV file's header and the columns read from it.

    Numeric columns (every cell a finite number) are held as float64 rows of one
    array ``(n_rows, n_numeric)``; text columns as their cells. A column with a cell
    that is not a finite number remembers the first such cell, for the error that
    :meth:`numeric` raises when asked for it.

    Attributes
    ----------
    path : Path
    columns : list of str
        The header, whitespace stripped.
    delimiter : str
        The cell separator used (given, or sniffed from the header).
    n_rows : int
        Data rows (blank lines are not rows; a multi-line quoted cell is one row).
    """

    def __init__(self, path: Path, columns: list[str], delimiter: str, read: list[str],
                 data: np.ndarray, slots: dict[str, int], text: dict[str, list[str]],
                 problems: dict[str, tuple[int, str]], runs: _LineRuns | int):
        self.path = path
        self.columns = columns
        self.delimiter = delimiter
        self.n_rows = data.shape[0]
        self._read = read            # the columns read, in file order
        self._data = data            # (n_rows, n) float64: the numeric columns
        self._slots = slots          # numeric column -> its column of _data
        self._text = text            # text column -> its cells
        self._problems = problems    # not numeric -> (row, cell) of its first bad cell
        self._runs = runs            # or the header's last line, to find them when asked

    def __repr__(self) -> str:
        return (f"CSVTable({str(self.path)!r}, {self.n_rows} rows, numeric: "
                f"{list(self._slots)}, other: {list(self._problems)})")

    def _line_runs(self) -> _LineRuns:
        if isinstance(self._runs, int):
            self._runs = _LineRuns.of_file(self.path, self._runs, self.n_rows)
        return self._runs

    @property
    def lines(self) -> list[int]:
        """The file line on which each data row starts (a new list)."""
        return self._line_runs().lines(self.n_rows).tolist()

    def line(self, row: int) -> int:
        """The file line on which data row ``row`` (from 0) starts."""
        return self._line_runs().line(row)

    def _where(self, row: int, name: str) -> str:
        return f"{self.path}, line {self.line(row)}, column {name!r}"

    def index(self, name: str) -> int:
        """Position of column ``name``; the error lists the columns there are."""
        try:
            return self.columns.index(name)
        except ValueError:
            raise _no_column(self.path, name, self.columns) from None

    def _check_read(self, name: str) -> None:
        self.index(name)
        if name not in self._slots and name not in self._problems:
            raise InputError(f"column {name!r} of {self.path} was not read: "
                             f"read_csv(columns=...) named only {', '.join(self._read)}; "
                             "name it there too")

    def numeric(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Columns ``names`` (default: all read) as float64 ``(n_rows, len(names))``.

        Columns next to each other in the file, in file order, come as a read-only
        view of the table's array (no copy: a table is often as large as the memory
        at hand); others as a new array.

        Raises
        ------
        InputError
            Naming the first cell, in file order, that is empty, not a number, NaN
            or infinite, with its line and column.
        """
        names = list(self._read if names is None else names)
        for name in names:
            self._check_read(name)
        bad = [(self._problems[n][0], k) for k, n in enumerate(names) if n in self._problems]
        if bad:
            row, k = min(bad)
            raise InputError(_cell_error(self._where(row, names[k]),
                                         self._problems[names[k]][1]))
        cols = [self._slots[n] for n in names]
        if cols and cols == list(range(cols[0], cols[0] + len(cols))):
            view = self._data[:, cols[0]:cols[0] + len(cols)]
            view.flags.writeable = False
            return view
        return self._data[:, cols]

    def is_numeric(self, name: str) -> bool:
        """True when every cell of column ``name`` is a finite number."""
        self._check_read(name)
        return name in self._slots

    def column(self, name: str) -> list[str]:
        """The cells of column ``name`` as text (whitespace stripped).

        A numeric column's text is not kept (:meth:`numeric` has its values), nor
        that of a column whose first non-number comes after the first rows read, nor
        free text (more distinct cells than :data:`_MAX_SHARED`: ~60 bytes a cell);
        for those the file is read again, for this column only.
        """
        self._check_read(name)
        if name in self._text:
            return list(self._text[name])
        again = _read(self.path, self.delimiter, [name], as_text=True)
        if again.n_rows != self.n_rows:
            raise InputError(f"{self.path} changed while it was being read ({self.n_rows} "
                             f"rows, then {again.n_rows}); run the command again")
        return again._text[name]


def read_csv(path, delimiter: str | None = None,
             columns: Sequence[str] | None = None) -> CSVTable:
    """Read a CSV file with a header row.

    Parameters
    ----------
    path : path
    delimiter : str, optional
        Cell separator; by default a comma, or ``;`` / tab when the header (the first
        non-blank line) has no comma.
    columns : sequence of str, optional
        The columns to keep (default: all). The others are checked (every row needs
        one cell per column) but not kept, so they cost no memory.

    Raises
    ------
    InputError
        The file is missing, not UTF-8 text, empty, has no data rows, a blank or
        repeated column name (the message gives the header's own line), no column
        of a name in ``columns``, a row with the wrong number of cells, or a quoted
        cell that is never closed.
    """
    return _read(_check_file(path), delimiter, columns)


def read_header(path, delimiter: str | None = None) -> list[str]:
    """The column names of a CSV file, reading no further than its header row.

    For checking the columns a file has before reading it (see :func:`read_csv`
    for ``delimiter`` and the errors about the file and its header).
    """
    path = _check_file(path)
    with _Lines(path) as src:
        return _read_header(src, path, delimiter)[1]


def _check_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} does not exist; check the path")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    return path


def _no_column(path: Path, name: str, columns: list[str]) -> InputError:
    return InputError(f"{path} has no column {name!r}; its columns are: {', '.join(columns)}")


def _cell_error(where: str, text: str) -> str:
    """The message for a cell that is empty, not a number, or not finite."""
    if text == "":
        return f"{where}: the cell is empty; fill it in or remove the row"
    try:
        float(text)
    except ValueError:
        hint = ""
        if _DECIMAL_COMMA.fullmatch(text):
            hint = f" (a decimal comma? write {text.replace(',', '.')} with a decimal point)"
        return f"{where}: {text[:40]!r} is not a number{hint}; fix the cell or remove the row"
    return f"{where}: {text!r} is not a finite number; replace it or remove the row"


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


# ---------------------------------------------------------------------------- the file
class _Lines:
    """The file's lines, decoded a block of whole lines at a time.

    An iterator of lines for the ``csv`` module, and the current block's lines for
    the NumPy paths; ``consumed`` counts the lines handed out (the file line of the
    last one). Lines split as ``io.StringIO(text, newline="")`` splits them (at
    ``\\n``, ``\\r\\n`` and ``\\r``), which is what the csv module expects.
    """

    def __init__(self, path: Path, block_bytes: int = BLOCK_BYTES):
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 (closed by __exit__)
        self._block_bytes = block_bytes
        self._read_size = min(block_bytes, _FIRST_READ)
        self._carry = b""        # bytes read after the last line end
        self.bytes_done = 0      # bytes decoded so far
        self._lines: list[str] = []
        self._pos = 0
        self.quoted = False      # a quote somewhere in the lines buffered
        self.consumed = 0
        self.hit_end = False     # set when asked for a line past the last
        self.record: list[str] = []   # the lines handed out since it was last emptied

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def _fill(self) -> bool:
        """Decode the next block of whole lines into the buffer; False at the end."""
        parts = [self._carry]
        while True:
            chunk = self._file.read(self._read_size)
            self._read_size = self._block_bytes
            parts.append(chunk)
            if not chunk:
                raw = b"".join(parts)
                cut = len(raw)
                break
            # a line ends at \n, or at a \r not followed by \n (so never between them)
            if b"\n" in chunk or b"\r" in chunk[:-1]:
                raw = b"".join(parts)
                cut = raw.rfind(b"\n") + 1 or raw.rfind(b"\r", 0, len(raw) - 1) + 1
                break
        if not raw:
            return False
        start, self.bytes_done = self.bytes_done, self.bytes_done + cut
        bom = 3 if start == 0 and raw.startswith(codecs.BOM_UTF8) else 0
        try:
            with memoryview(raw) as view:
                text = str(view[bom:cut], "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path} is not a UTF-8 text file (byte "
                             f"{start + bom + exc.start} cannot be decoded); save it as CSV "
                             "(UTF-8)") from None
        self._carry = raw[cut:]
        del raw
        if "\x00" in text:
            raise InputError(f"{self.path} contains NUL bytes, so it is not a CSV text file")
        left = self._lines[self._pos:]
        self.quoted = (self.quoted and bool(left)) or _QUOTE in text
        # splitlines splits where StringIO(newline="") does, unless the text has other
        # breaks; StringIO holds 4 bytes a character while it splits
        lines = (io.StringIO(text, newline="").readlines()
                 if any(c in text for c in _OTHER_BREAKS) else text.splitlines(True))
        self._lines = left + lines if left else lines
        self._pos = 0
        return True

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._pos >= len(self._lines):
            if not self._fill():
                self.hit_end = True
                raise StopIteration
        line = self._lines[self._pos]
        self._pos += 1
        self.consumed += 1
        self.record.append(line)
        return line

    def bytes_used(self) -> int:
        """Bytes of the file up to the last line handed out (characters, past ASCII)."""
        return self.bytes_done - sum(map(len, self._lines[self._pos:]))

    def block(self) -> list[str]:
        """The lines not yet handed out of the current block (the next one if none)."""
        if self._pos >= len(self._lines) and not self._fill():
            return []
        return self._lines[self._pos:] if self._pos else self._lines

    def skip(self, n: int) -> None:
        self._pos += n
        self.consumed += n

    def peek(self) -> Iterator[str]:
        """The lines from the start, without handing them out (before the first is)."""
        i = 0
        while i < len(self._lines) or self._fill():
            yield from self._lines[i:]
            i = len(self._lines)


class _LineRuns:
    """The file line of each data row, as runs of rows on consecutive lines."""

    def __init__(self):
        self._rows = array("q")     # first row of each run
        self._lines = array("q")    # its line

    def add(self, row: int, line: int) -> None:
        """Row ``row`` starts on line ``line`` (rows are added in order)."""
        if not self._rows or line - self._lines[-1] != row - self._rows[-1]:
            self._rows.append(row)
            self._lines.append(line)

    @classmethod
    def of_file(cls, path: Path, skip: int, n_rows: int) -> _LineRuns:
        """The runs of a table read the first way: every line after the first ``skip``
        is a row but the empty ones (which ``np.loadtxt`` skips)."""
        runs, row = cls(), 0
        with _Lines(path) as src:
            for line in src:
                if src.consumed > skip and line.strip("\r\n"):
                    runs.add(row, src.consumed)
                    row += 1
        if row != n_rows:
            raise InputError(f"{path} changed while it was being read ({n_rows} rows, then "
                             f"{row}); run the command again")
        return runs

    def line(self, row: int) -> int:
        run = bisect_right(self._rows, row) - 1
        return self._lines[run] + row - self._rows[run]

    def lines(self, n_rows: int) -> np.ndarray:
        starts = np.asarray(self._rows, dtype=np.int64)
        lengths = np.diff(np.append(starts, n_rows))
        return np.repeat(np.asarray(self._lines, dtype=np.int64) - starts, lengths) \
            + np.arange(n_rows)


def _sniff_delimiter(lines: Iterable[str]) -> str:
    """``,`` if the first non-blank line has a comma, else ``;`` or tab if it has some.

    Blank lines (nothing but spaces and separators) are skipped, as the reader
    skips them: a leading blank line must not decide the separator.
    """
    first = next((line for line in lines if line.strip(" \t\r\n" + DELIMITERS)), "")
    if "," in first:
        return ","
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _next_record(src: _Lines, reader, path: Path) -> tuple[int, list[str]] | None:
    """(line it starts on, stripped cells) of the next record; None at the end."""
    line = src.consumed + 1
    src.hit_end = False
    src.record.clear()
    try:
        cells = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputError(f"{path}, line {src.consumed}: not valid CSV ({exc})") from None
    return line, [c.strip() for c in cells]


def _read_header(src: _Lines, path: Path, delimiter: str | None):
    """(delimiter, header, csv reader positioned after the header)."""
    if delimiter is None:
        delimiter = _sniff_delimiter(src.peek())
    reader = csv.reader(src, delimiter=delimiter)
    while (record := _next_record(src, reader, path)) is not None:
        line, cells = record
        if any(cells):
            _check_header(path, cells, line)
            return delimiter, cells, reader
    raise InputError(f"{path} is empty; it needs a header row and at least one data row")


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


def _check_quotes(path: Path, lines: list[str], first: int, delimiter: str) -> None:
    """Refuse a last row whose quoted cell is never closed (it swallowed the file's end).

    The lenient reader ends such a cell at the end of the file; parsing that row's
    lines again strictly tells that case apart from other malformed rows.
    """
    try:
        list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                f"{path}, line {first}: a quoted cell opened on this line is never closed "
                "(no closing \" before the end of the file), so everything after it was "
                "read as one cell; add the closing quote") from None


# ---------------------------------------------------------------------------- reading
def _read(path: Path, delimiter: str | None, columns: Sequence[str] | None, *,
          as_text: bool = False, whole: bool = True, blocks: bool = True,
          block_bytes: int = BLOCK_BYTES) -> CSVTable:
    """Read ``columns`` of ``path`` (see the module docstring for the three ways).

    ``as_text`` keeps the columns' cells as text, numbers or not; ``whole`` and
    ``blocks`` allow the first two ways (the tests turn them off to compare).
    """
    with _Lines(path, block_bytes) as src:
        delimiter, header, reader = _read_header(src, path, delimiter)
        read = list(range(len(header)))
        if columns is not None:
            for name in columns:
                if name not in header:
                    raise _no_column(path, name, header)
            read = sorted({header.index(n) for n in columns})
        numpy_ok = delimiter not in '\r\n"'
        if whole and numpy_ok and not as_text and len(read) == len(header):
            data = _read_whole(path, delimiter, len(header), src.consumed)
            if data is not None:
                return CSVTable(path, header, delimiter, header, data,
                                {name: j for j, name in enumerate(header)}, {}, {},
                                src.consumed)
        table = _Builder(path, header, read, as_text, path.stat().st_size)
        rows = _Rows(src, reader, path, delimiter, header, table)
        while lines := src.block():
            if not (blocks and numpy_ok and rows.block(lines)):
                rows.rows(len(lines))
    if table.n == 0:
        raise InputError(f"{path} has a header ({', '.join(header)}) but no data rows")
    return table.finish(delimiter)


def _loadtxt(source, delimiter: str, **kwargs) -> np.ndarray:
    """``np.loadtxt`` as every path here uses it: float64, no comments, no quotes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # "input contained no data"
        return np.loadtxt(source, dtype=np.float64, delimiter=delimiter, comments=None,
                          quotechar=None, ndmin=2, **kwargs)


def _read_whole(path: Path, delimiter: str, n_columns: int, skip: int) -> np.ndarray | None:
    """Every line after the first ``skip`` as a row of finite numbers, or None.

    ``np.loadtxt`` refuses a cell that is not a number (a quote makes one) and rows
    of different lengths. It skips empty lines, as the csv module does, so the rows
    are right; only the line numbers then differ from one per line, and as no cell
    of an all-numeric table can be reported, they are found when first asked for.
    """
    try:
        data = _loadtxt(path, delimiter, skiprows=skip, encoding="utf-8")
    except (ValueError, TypeError):
        return None
    if data.shape[1] != n_columns or not data.shape[0]:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        total = data.sum()      # finite when every value is (or, rarely, overflows)
    return data if np.isfinite(total) else None


class _Rows:
    """The second and third ways through a file: NumPy on whole blocks, csv by rows."""

    def __init__(self, src: _Lines, reader, path: Path, delimiter: str, header: list[str],
                 table: _Builder):
        self.src, self.reader, self.path = src, reader, path
        self.delimiter, self.header, self.table = delimiter, header, table

    def block(self, lines: list[str]) -> bool:
        """Read a block of lines without quotes, all rows, with NumPy; False if it cannot."""
        table, d, k = self.table, self.delimiter, len(self.header)
        if not table.numeric or self.src.quoted:
            return False
        if set(map(str.count, lines, repeat(d))) != {k - 1}:
            return False    # a row of another length, or an empty line
        try:
            values = _loadtxt(lines, d, usecols=table.numeric)
        except (ValueError, TypeError):
            return False
        # an empty line is skipped by NumPy; one that is not a number is refused above
        if values.shape[0] != len(lines) or not np.isfinite(values).all():
            return False
        text = {j: list(map(str.strip, _cells(lines, j, k, d))) for j in table.text}
        first = self.src.consumed + 1
        self.src.skip(len(lines))
        table.add(values, text, [first], self.src.bytes_used)
        return True

    def rows(self, n_lines: int) -> None:
        """Read the records that start in the next ``n_lines`` lines, with the csv module."""
        src, k = self.src, len(self.header)
        end = src.consumed + n_lines
        rows, lines = [], []
        while src.consumed < end:
            record = _next_record(src, self.reader, self.path)
            if record is None:
                break
            line, cells = record
            if not any(cells):
                continue                    # blank line
            if src.hit_end:
                _check_quotes(self.path, src.record, line, self.delimiter)
            if len(cells) != k:
                raise InputError(
                    f"{self.path}, line {line}: {len(cells)} cells, but the header has "
                    f"{k} columns ({', '.join(self.header)}); every row needs one "
                    "cell per column"
                )
            rows.append(cells)
            lines.append(line)
            if len(rows) == _ROWS_AT_ONCE:
                self.table.add_rows(rows, lines, src.bytes_used)
                rows, lines = [], []
        if rows:
            self.table.add_rows(rows, lines, src.bytes_used)


def _cells(lines: list[str], j: int, k: int, d: str) -> Iterator[str]:
    """Cell ``j`` of each line that has ``k`` cells and no quotes (split from the nearer
    end, so the cells past it are not made)."""
    if j < k // 2 or j == 0:
        return map(itemgetter(j), map(methodcaller("split", d, j + 1), lines))
    return map(itemgetter(1), map(methodcaller("rsplit", d, k - j), lines))


class _Builder:
    """The columns being read: float64 rows for the numeric ones, cells for the text ones.

    Every column read starts numeric; one found to hold a cell that is not a finite
    number remembers that cell, and keeps its cells as text if it was found in the
    first rows and has few distinct cells (a label column). The float64 array grows
    in place (``ndarray.resize``, a ``realloc``) to a size extrapolated from the bytes
    read so far, so it is not held twice while growing.
    """

    def __init__(self, path: Path, header: list[str], read: list[int], as_text: bool,
                 file_bytes: int):
        self.path, self.header, self.read = path, header, read
        self.numeric = [] if as_text else list(read)   # header positions still numeric
        self.text: dict[int, list[str]] = {j: [] for j in read} if as_text else {}
        self.problems: dict[int, tuple[int, str]] = {}
        self.slots: dict[int, int] = {}
        self.data: np.ndarray | None = None
        self.n = 0
        self.runs = _LineRuns()
        self._file_bytes = file_bytes
        self._keep_all_text = as_text
        self._shared: dict[int, dict[str, str]] = {}    # column -> its distinct cells

    def add_rows(self, rows: list[list[str]], lines: list[int],
                 bytes_used: Callable[[], int]) -> None:
        """Rows of cells from the csv module: convert the numeric columns, or demote them."""
        columns = list(zip(*rows, strict=True))
        values = {}
        for j in list(self.numeric):
            try:
                v = np.fromiter(map(float, columns[j]), np.float64, len(rows))
            except ValueError:
                v = None
            if v is not None and np.isfinite(v).all():
                values[j] = v
                continue
            bad = next(i for i, c in enumerate(columns[j]) if not _is_finite_number(c))
            self.problems[j] = (self.n + bad, columns[j][bad])
            self.numeric.remove(j)
            if self.n == 0:
                self.text[j] = []       # not a number from the first rows: keep its text
        block = np.empty((len(rows), len(self.numeric)))
        for c, j in enumerate(self.numeric):
            block[:, c] = values[j]
        self.add(block, {j: columns[j] for j in self.text}, lines, bytes_used)

    def add(self, values: np.ndarray, text: dict[int, Sequence[str]], lines: list[int],
            bytes_used: Callable[[], int]) -> None:
        """Append rows: ``values`` ``(b, len(numeric))``, ``text`` {column: b cells}, and
        their lines (only the first if they are consecutive). ``bytes_used()``: the
        bytes of the file read up to these rows, to extrapolate the number of rows."""
        b = values.shape[0]
        if self.data is None:
            self.slots = {j: c for c, j in enumerate(self.numeric)}
            self.data = np.empty((0, len(self.numeric)))
        if self.n + b > self.data.shape[0]:
            guess = int((self.n + b) * self._file_bytes / max(bytes_used(), 1) * 1.02) + 64
            grown = max(self.n + b, guess, self.data.shape[0] * 5 // 4)
            self.data.resize((grown, self.data.shape[1]), refcheck=False)
        cols = [self.slots[j] for j in self.numeric]
        if cols == list(range(self.data.shape[1])):
            self.data[self.n:self.n + b] = values
        else:
            self.data[self.n:self.n + b, cols] = values
        for j, cells in text.items():
            shared = self._shared.setdefault(j, {})
            share = shared.setdefault if len(shared) <= _MAX_SHARED else shared.get
            self.text[j].extend(map(share, cells, cells))
            if len(shared) > _MAX_SHARED and not self._keep_all_text:
                del self.text[j], self._shared[j]   # free text: read again if asked for
        for i, line in enumerate(lines):
            self.runs.add(self.n + i, line)
        self.n += b

    def finish(self, delimiter: str) -> CSVTable:
        self.data.resize((self.n, self.data.shape[1]), refcheck=False)
        name = self.header.__getitem__
        return CSVTable(
            self.path, self.header, delimiter, [name(j) for j in self.read], self.data,
            {name(j): c for j, c in self.slots.items() if j in self.numeric},
            {name(j): cells for j, cells in self.text.items()},
            {name(j): p for j, p in self.problems.items()}, self.runs)


# ---------------------------------------------------------------------------- writing
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
