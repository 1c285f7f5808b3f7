"""Exports are not spreadsheet formulas (issue 14, point 18): OWASP's CSV-injection treatment on every name a
comma-separated export writes, undone exactly by the import. Names are made up; none is a real file."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from hashwarden.formats import hashdeep
from hashwarden.formats._fields import FORMULA_STARTS, name_from_spreadsheet_safe, spreadsheet_safe_name
from hashwarden.store.records import EntryRecord

MD5 = "900150983cd24fb0d6963f7d28e17f72"
NAMES = ["=1+1", "'=x", "'plain", "-x", "@SUM(A1)", "+33 1 23", "\tx", "plain.jpg", "a,=HYPERLINK(\"x\")",
         "a;-1", 'a, "=x"', '"quoted".txt', '"\'=x"', "'", '"', "", "x - y.txt", "''=x"]


def _export(names: list[str]) -> bytes:
    out = io.BytesIO()
    records = [EntryRecord(md5=MD5, size=3, attributes={"file_name": name} if name else {}) for name in names]
    hashdeep.write(records, out, algorithms=["md5"])
    return out.getvalue()


def _import(data: bytes) -> list[str]:
    return [r.attributes.get("file_name", "") for r in hashdeep.read(io.BytesIO(data), "export.txt")]


def _cells(line: str) -> list[str]:
    """Every cell a spreadsheet could make of the line, split at ',', ';' or tab (per locale), quote-aware."""
    return [cell for delimiter in ",;\t" for cell in next(csv.reader([line], delimiter=delimiter))]


def _formula_cells(data: bytes) -> list[str]:
    rows = [line for line in data.decode().split("\n") if line and not line.startswith(("%%%%", "#"))]
    return [cell for line in rows for cell in _cells(line) if cell.lstrip(" ")[:1] in tuple(FORMULA_STARTS)]


def test_hashdeep_export_has_no_formula_cell_and_imports_back_to_the_same_names() -> None:
    data = _export(NAMES)
    assert _formula_cells(data) == []
    assert _import(data) == NAMES
    rows = data.decode().split("\n")[4:]
    assert rows[:3] == [f"3,{MD5},'=1+1", f"3,{MD5},''=x", f"3,{MD5},'plain"]  # OWASP's prefix; 'plain as it is
    assert rows[9] == f"3,{MD5},a;'-1"


def test_a_name_from_another_tool_is_read_as_it_is() -> None:
    """Only a ' before a formula character at a cell start is the writer's; any other ' belongs to the name."""
    for field in ["'plain", "a'=b", "''x", "it's-1", '"x"', "'"]:
        assert name_from_spreadsheet_safe(field) == field
    assert name_from_spreadsheet_safe("'=x,'@y;\"'-z") == '=x,@y;"-z'


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="=+-@\t'\",; ax\r", max_size=12))
def test_any_name_round_trips_and_makes_no_formula_cell(name: str) -> None:
    wrapped = spreadsheet_safe_name(name)
    assert name_from_spreadsheet_safe(wrapped) == name
    name = name.replace("\r", "\t")  # hashdeep.write turns line breaks into '?'
    data = _export([name])
    assert _formula_cells(data) == [] and _import(data) == [name]
