"""CSV reading: where the header is, what the separator is, and errors that say where."""

from __future__ import annotations

import pytest

from neurallab.datasets.csv import read_csv
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
    assert table.rows == [["1,5", "x\ny"], ["3", "4"]] and table.lines == [2, 4]
    table = read_csv(_write(tmp_path, 'a,b\n1,"x"'))
    assert table.rows == [["1", "x"]]
