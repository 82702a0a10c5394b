"""Formula-leading CSV cells are escaped on write and restored by our readers."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from radgenome.csvcells import FORMULA_START, SafeDictWriter, SafeWriter, escape_cell, is_formula_cell, unescape_cell


def test_formula_starts_are_escaped() -> None:
    for ch in FORMULA_START:
        assert escape_cell(ch + "1+1") == "'" + ch + "1+1"
    assert escape_cell("No pleural effusion.") == "No pleural effusion."
    assert escape_cell(3) == 3
    assert escape_cell("'quoted") == "'quoted"
    assert escape_cell("'=x") == "''=x"
    assert unescape_cell("''=x") == "'=x"


@given(st.text())
def test_round_trip_and_no_formula_cell(text: str) -> None:
    escaped = escape_cell(text)
    assert not is_formula_cell(escaped)
    assert unescape_cell(escaped) == text


def test_writers_escape_every_cell() -> None:
    buf = io.StringIO()
    SafeWriter(buf).writerows([["=cmd|' /C calc'!A0", "-5", "@SUM(A1)", "ok"]])
    w = SafeDictWriter(buf, fieldnames=["a", "b"])
    w.writeheader()
    w.writerow({"a": "+1", "b": "\tx"})
    w.writerows([{"a": "\rx", "b": "y"}])
    for row in csv.reader(io.StringIO(buf.getvalue())):
        for cell in row:
            assert not is_formula_cell(cell), row


@given(st.lists(st.one_of(st.text(), st.integers(), st.none(), st.floats(allow_nan=False))))
def test_escape_row_is_escape_cell_on_every_cell(row: list[object]) -> None:
    from radgenome.csvcells import escape_row

    assert escape_row(row) == [escape_cell(v) for v in row]
