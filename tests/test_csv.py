"""CSV reading: where the header is, what the separator is, and errors that say where."""

from __future__ import annotations

import csv
import io
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import neurallab as nl
from neurallab import cli
from neurallab.datasets.csv import (
    _MAX_SHARED,
    BLOCK_BYTES,
    _read,
    read_csv,
    read_header,
    write_csv,
)
from neurallab.errors import InputError


def _write(tmp_path, text: str):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["\n\na;b\n1;2\n3;4\n", "\n \t\na;b\n1;2\n3;4\n",
                                  ";;\na;b\n1;2\n3;4\n", "\n\na\tb\n1\t2\n3\t4\n"])
def test_leading_blank_lines_do_not_decide_the_separator(tmp_path, text):
    table = read_csv(_write(tmp_path, text))
    assert table.columns == ["a", "b"]
    assert table.numeric().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    header_line = text[:text.index("a")].count("\n") + 1
    assert table.lines == [header_line + 1, header_line + 2]


@pytest.mark.parametrize("text, message", [
    ("\n\na,a\n1,2\n", "line 3: column name 'a' appears twice"),
    ("\n\n\na,,c\n1,2,3\n", "line 4: column 2 has no name"),
    ("a,a\n1,2\n", "line 1: column name 'a' appears twice"),
])
def test_header_errors_give_the_headers_own_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_csv(_write(tmp_path, text))


def test_decimal_comma_gets_a_hint(tmp_path):
    table = read_csv(_write(tmp_path, "a;b\n1,5;2\n"))
    with pytest.raises(InputError, match=r"line 2, column 'a': '1,5' is not a number \(a "
                                         r"decimal comma\? write 1\.5 with a decimal point\)"):
        table.numeric(["a"])
    table = read_csv(_write(tmp_path, "a;b\nx,y;2\n"))
    with pytest.raises(InputError, match=r"'x,y' is not a number; fix"):
        table.numeric(["a"])


@pytest.mark.parametrize("text, line", [
    ('a,b\n"1,2\n3,4\n', 2),            # would be one cell: wrong cell count
    ('a,b\n1,2\n3,"4\n5,6\n\n', 3),     # right cell count, but the cell ate the rest
    ('a,b\n1,2\n3,"4', 3),
])
def test_unclosed_quote_is_reported_as_such(tmp_path, text, line):
    with pytest.raises(InputError, match=f"line {line}: a quoted cell opened on this line is "
                                         "never closed"):
        read_csv(_write(tmp_path, text))


def test_well_formed_quotes_still_read(tmp_path):
    table = read_csv(_write(tmp_path, 'a,b\n"1,5","x\ny"\n3,"4"\n'))
    assert table.column("a") == ["1,5", "3"] and table.column("b") == ["x\ny", "4"]
    assert table.lines == [2, 4]
    table = read_csv(_write(tmp_path, 'a,b\n1,"x"'))
    assert table.column("a") == ["1"] and table.column("b") == ["x"]


# ---------------------------------------------------------------------------- the three ways
# A table is read by one np.loadtxt over the file, by np.loadtxt on blocks of lines, or
# row by row with the csv module (see neurallab.datasets.csv); whichever way a file
# goes, the table and every message must be the same.
def _outcome(path, **ways):
    """Everything a table tells, or the error reading it gave."""
    try:
        table = _read(path, None, None, **ways)
    except InputError as exc:
        return str(exc)
    cells = {}
    for name in table.columns:
        try:
            cells[name] = table.numeric([name]).ravel().tolist()
        except InputError as exc:
            cells[name] = (str(exc), table.column(name))
        assert table.is_numeric(name) == isinstance(cells[name], list)
    return table.columns, table.n_rows, table.lines, cells


_WAYS = [dict(block_bytes=5), dict(whole=False, block_bytes=9),
         dict(whole=False, block_bytes=64), dict(whole=False, blocks=False, block_bytes=3)]


def _same_every_way(path):
    reference = _outcome(path, whole=False, blocks=False)
    for ways in _WAYS:
        assert _outcome(path, **ways) == reference, ways
    return reference


_CELLS = st.sampled_from(["1", "-2.5", " 3 ", "1e3", "0.1", "7", "1_0", "", " ", "nan", "inf",
                          "abc", "1,5", "x y", 'say "hi"', "two\nlines", "cat", "1.50"])


@given(k=st.integers(1, 3), delimiter=st.sampled_from([",", ";", "\t"]),
       rows=st.lists(st.lists(_CELLS, min_size=3, max_size=3), min_size=0, max_size=12),
       blank=st.lists(st.sampled_from(["", "  ", ",,", ";"]), max_size=3),
       ending=st.sampled_from(["\n", "\r\n", "\r"]), last_newline=st.booleans(),
       bom=st.booleans())
def test_the_three_ways_read_tables_alike(tmp_path_factory, k, delimiter, rows, blank, ending,
                                          last_newline, bom):
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=ending)
    writer.writerow(["a", "b", "c"][:k])
    for row in rows:
        writer.writerow(row[:k])
    lines = buf.getvalue().split(ending)[:-1]
    for i, b in enumerate(blank):               # blank lines anywhere, header included
        lines.insert((7 * i) % (len(lines) + 1), b)
    text = ending.join(lines) + (ending if last_newline else "")
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    _same_every_way(path)


@given(st.text(alphabet='01.,;\t "\n\rae-x', max_size=60), st.booleans())
def test_the_three_ways_agree_on_any_text(tmp_path_factory, text, header):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_text(("a,b\n" if header else "") + text, encoding="utf-8", newline="")
    _same_every_way(path)


# characters the three ways could treat apart: whitespace that str.strip and NumPy's
# number parser remove but the csv module keeps (\x0b \x0c \x1c \x85 \u2028 \xa0), line
# breaks of str.splitlines that are not the csv module's, a BOM inside the file, "_"
# (float() reads 1_0, NumPy does not), "#" (not a comment here); other separators and a
# header with a BOM and a lone CR
@given(st.text(alphabet='01.,;\t "\n\r-e_x#\x0b\x0c\x1c\x85\u2028\xa0\ufeff', max_size=50),
       st.sampled_from(["a,b\n", "a;b\n", "a\tb\n", "a\n", "\ufeffa,b\r", ""]))
def test_the_three_ways_agree_on_whitespace_and_breaks_of_every_kind(tmp_path_factory, text,
                                                                     header):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes((header + text).encode("utf-8"))
    _same_every_way(path)


def test_a_table_of_numbers_goes_the_first_way_and_finds_its_lines_when_asked(tmp_path):
    path = _write(tmp_path, "\nx,y\n1,2\n\n3,4\n5,6\n\n\n")
    table = read_csv(path)
    assert isinstance(table._runs, int)            # read by one np.loadtxt
    assert table.numeric().tolist() == [[1, 2], [3, 4], [5, 6]]
    assert table.lines == [3, 5, 6] and table.line(2) == 6


def test_rows_after_the_first_block_keep_their_lines_and_messages(tmp_path):
    rows = [f"{i},{i % 3}" for i in range(3000)]
    rows[2500] = '2500,"4\n2"'                     # a quoted cell over two lines
    rows[2800] = "2800,1,5"                         # a cell too many
    path = _write(tmp_path, "x,y\n" + "\n".join(rows[:1000]) + "\n\n" + "\n".join(rows[1000:])
                  + "\n")
    with pytest.raises(InputError, match="line 2804: 3 cells, but the header has 2"):
        _read(path, None, None, block_bytes=4096)
    rows[2800] = "2800,abc"
    path = _write(tmp_path, "x,y\n" + "\n".join(rows[:1000]) + "\n\n" + "\n".join(rows[1000:])
                  + "\n")
    table = _read(path, None, None, block_bytes=4096)
    assert table.n_rows == 3000 and table.is_numeric("x") and not table.is_numeric("y")
    assert table.line(999) == 1001 and table.line(1000) == 1003   # after the blank line
    assert table.line(2501) == 2505                # after the two-line row
    with pytest.raises(InputError, match=r"line 2503, column 'y': '4\\n2' is not a number"):
        table.numeric()
    # y's text was not kept (its first non-number came late): read again, exactly
    cells = table.column("y")
    assert cells[2500] == "4\n2" and cells[2800] == "abc" and cells[:4] == ["0", "1", "2", "0"]


def test_a_bad_byte_is_reported_at_its_place_in_the_file(tmp_path):
    path = tmp_path / "b.csv"
    head = b"\xef\xbb\xbfx,y\n" + b"1,2\n" * 5000
    path.write_bytes(head + b"3,\xff\n")
    for ways in ({}, dict(whole=False, block_bytes=1000)):
        with pytest.raises(InputError, match=f"byte {len(head) + 2} cannot be decoded"):
            _read(path, None, None, **ways)
    path.write_bytes(b"x,y\n" + b"1,2\n" * 5000 + b"3,\x00\n")
    with pytest.raises(InputError, match="contains NUL bytes"):
        read_csv(path)


# ---------------------------------------------------------------------------- columns
def test_only_the_columns_asked_for_are_read(tmp_path):
    path = _write(tmp_path, "name,x,y,z\ncat,1,2,3\ndog,4,5,6\n")
    table = read_csv(path, columns=["z", "x", "x"])
    assert table.numeric(["x", "z"]).tolist() == [[1, 3], [4, 6]]
    with pytest.raises(InputError, match=r"column 'y' of .* was not read: read_csv\(columns="
                                         r"\.\.\.\) named only x, z; name it there too"):
        table.numeric(["y"])
    with pytest.raises(InputError, match=r"has no column 'w'; its columns are: name, x, y, z"):
        read_csv(path, columns=["x", "w"])
    # a column not read is still checked: every row needs one cell per column
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x\ncat,1\ndog\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3: 1 cells, but the header has 2 columns"):
        read_csv(bad, columns=["x"])
    assert read_header(path) == ["name", "x", "y", "z"]


def test_numeric_gives_adjacent_columns_without_a_copy(tmp_path):
    path = _write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    table = read_csv(path)
    ab = table.numeric(["a", "b"])
    assert np.shares_memory(ab, table.numeric()) and not ab.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ab[0, 0] = 9
    ca = table.numeric(["c", "a"])                 # not in file order: a new array
    assert ca.tolist() == [[3, 1], [6, 4]] and ca.flags.writeable
    assert not np.shares_memory(ca, ab)


def test_column_gives_the_text_as_written(tmp_path):
    path = _write(tmp_path, "x,label\n1.50,cat\n1e3,dog\n2,cat\n")
    table = read_csv(path)
    assert table.numeric(["x"]).ravel().tolist() == [1.5, 1000, 2]
    assert table.column("x") == ["1.50", "1e3", "2"]       # read again, as text
    assert table.column("label") == ["cat", "dog", "cat"]
    labels = table.column("label")
    assert labels[0] is labels[2]                   # one string for a repeated value
    # free text (many distinct cells) is not kept but read again when asked for
    names = [f"name {i}" for i in range(3 * _MAX_SHARED)]
    path = _write(tmp_path, "x,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))
    table = read_csv(path)
    assert "name" not in table._text and table.column("name") == names
    with pytest.raises(InputError, match="line 2, column 'name': 'name 0' is not a number"):
        table.numeric()


@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False, width=64),
                          st.floats(allow_nan=False, allow_infinity=False, width=32),
                          st.sampled_from(["setosa", "versi color", "a,b", 'x"y', "ünï"])),
                min_size=1, max_size=30),
       st.sampled_from([None, ["y"], ["label", "x"]]))
def test_write_csv_then_read_csv_round_trip(tmp_path_factory, rows, columns):
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    write_csv(path, ["x", "y", "label"], rows)
    table = read_csv(path, columns=columns)
    names = columns or ["x", "y", "label"]
    for j, name in enumerate(["x", "y", "label"]):
        if name not in names:
            continue
        values = [r[j] for r in rows]
        if name == "label":
            assert table.column(name) == values and not table.is_numeric(name)
        else:
            assert table.numeric([name]).ravel().tolist() == [float(v) for v in values]


# ---------------------------------------------------------------------------- memory
def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_a_table_needs_little_more_than_its_float64_array(tmp_path):
    """Each cell kept as text would take ~15x the file; the floats take ~0.4x of it."""
    X = np.random.default_rng(0).standard_normal((30000, 8))
    path = tmp_path / "m.csv"
    write_csv(path, [f"x{j}" for j in range(8)], X.tolist())
    size = path.stat().st_size                      # 4.7 MB; X is 1.9 MB
    whole = _peak(lambda: read_csv(path).numeric())
    assert whole < 1.4 * X.nbytes, whole
    for ways in (dict(whole=False), dict(whole=False, blocks=False)):
        peak = _peak(lambda ways=ways: _read(path, None, None, **ways).numeric())
        assert peak < 1.2 * X.nbytes + 6 * BLOCK_BYTES and peak < 0.8 * size, (ways, peak)
    # with a text column: the labels cost a list slot each
    labelled = tmp_path / "l.csv"
    write_csv(labelled, [*(f"x{j}" for j in range(8)), "label"],
              [[*r, "abc"[i % 3]] for i, r in enumerate(X.tolist())])
    peak = _peak(lambda: read_csv(labelled).column("label"))
    assert peak < 1.2 * X.nbytes + 2 * 8 * len(X) + 6 * BLOCK_BYTES, peak
    assert np.array_equal(read_csv(labelled).numeric([f"x{j}" for j in range(8)]), X)


# ---------------------------------------------------------------------------- the command line
def test_train_reports_a_bad_cell_far_down_the_file(capsys, tmp_path):
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3}" for i in range(5000))
    path = _write(tmp_path, "a,b,y\n" + rows + "\n1,x,2\n")
    code = cli.main(["train", str(path), "--target", "y", "--out", str(tmp_path / "m.safetensors"),
                     "--quiet"])
    assert code != 0
    assert capsys.readouterr().err.strip().endswith(
        f"{path}, line 5002, column 'b': 'x' is not a number; fix the cell or remove the row")


def test_train_reads_only_the_features_and_target_asked_for(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    species = np.where(X[:, 0] + X[:, 1] > 0, "big", "small")
    path = tmp_path / "d.csv"
    write_csv(path, ["x1", "note", "x2", "species"],
              [[a, f"free text {i}", b, s]
               for i, (a, b, s) in enumerate(zip(X[:, 0], X[:, 1], species, strict=True))])
    out = tmp_path / "m.safetensors"
    code = cli.main(["train", str(path), "--target", "species", "--features", "x1,x2", "--out",
                     str(out), "--quiet", "--epochs", "5", "--val-split", "0"])
    assert code == 0, capsys.readouterr().err
    net = nl.load(out)
    assert net.class_names == ["big", "small"] and net.meta["csv"]["features"] == ["x1", "x2"]
