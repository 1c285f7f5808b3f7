"""INTERPOL ICSE hash export: semicolon-separated CSV with a header row, one known item per row.

The export seen in the field (IPED issue 1136, about 3.1 M rows) has the header
`MD5;SHA1;ZZ40;PhotoDNA;Lace;Image ID;Is distributed;Victim identified;Offender identified;Series name;
Investigation name;Agency;Number of submissions;File Available;Media Type;Baseline`. Columns are found by name,
not position (case, spaces and underscores ignored, so IPED's renamed `ImageID;IsDistributed;...` header reads
too), because INTERPOL has changed the column set before and a positional reader would shift every field silently.

Mapping: `MD5`/`SHA1` are checked hex; `PhotoDNA` is kept opaque, exactly as given; `Image ID` is `media_id`;
the `Y`/`N` flags (empty = unknown) are `is_distributed`, `victim_identified`, `offender_identified`;
`Series name` is `series`; `Media Type` `Image`/`Video` is `media`; every other column (`ZZ40`, `Lace`,
`Investigation name`, `Agency`, `Number of submissions`, `File Available`, `Baseline`, and any new one) goes into
`attributes` under its header name, so an export can write it back. Empty cells are left out.

Encoding: Windows-1252 lines are read with a warning in the report (see `_lines.decoded_lines`): an analyst
importing INTERPOL's list gets the hashes, and is told which lines' names were decoded that way.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, BinaryIO

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import hex_digest
from hashwarden.formats._lines import decoded_lines
from hashwarden.store.records import EntryRecord

DELIMITER = ";"

_HASH, _FLAG, _TEXT, _MEDIA, _ATTRIBUTE = range(5)
# normalised header name -> (kind, EntryRecord field)
_COLUMNS: dict[str, tuple[int, str]] = {
    "md5": (_HASH, "md5"),
    "sha1": (_HASH, "sha1"),
    "photodna": (_TEXT, "photodna"),
    "imageid": (_TEXT, "media_id"),
    "isdistributed": (_FLAG, "is_distributed"),
    "victimidentified": (_FLAG, "victim_identified"),
    "offenderidentified": (_FLAG, "offender_identified"),
    "seriesname": (_TEXT, "series"),
    "mediatype": (_MEDIA, "media"),
}
_FLAGS = {"y": True, "yes": True, "true": True, "1": True, "n": False, "no": False, "false": False, "0": False}
_MEDIA_TYPES = {"image": "image", "video": "video"}


def _normalised(name: str) -> str:
    return "".join(name.lower().split()).replace("_", "").replace("-", "")


def read(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, encoding: str | None = None
) -> Iterator[EntryRecord]:
    """Yield one record per row.

    Raises:
        FormatError: no MD5/SHA1 column, a header separated by ',' or tab instead of ';', a row with too few
            fields (truncated) or too many, a bad hash or flag, a row with neither MD5 nor SHA1, or (with no report
            to carry the warning, or an explicit `encoding`) a line that does not decode; each names the file,
            line and field.
    """
    lines = decoded_lines(fp, path, report, encoding)
    rows = csv.reader((text for _, text in lines), delimiter=DELIMITER)
    header = next((r for r in rows if any(cell.strip() for cell in r)), None)
    if header is None:
        raise FormatError("empty file: an ICSE export starts with a header row (MD5;SHA1;...)", path, 1)
    header_line = rows.line_num
    plan = _plan(header, path, header_line)
    width = len(header)
    for row in rows:
        number = rows.line_num
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            _wrong_width(row, header, path, number)
        fields: dict[str, Any] = {}
        attributes: dict[str, str] = {}
        for index, kind, target, label in plan:
            value = row[index].strip()
            if not value:
                continue
            if kind == _HASH:
                fields[target] = hex_digest(value, target, path, number, field=label)
            elif kind == _FLAG:
                flag = _FLAGS.get(value.lower())
                if flag is None:
                    raise FormatError(f"expected Y or N (or empty), not {value[:40]!r}", path, number, field=label)
                fields[target] = flag
            elif kind == _MEDIA and value.lower() in _MEDIA_TYPES:
                fields[target] = _MEDIA_TYPES[value.lower()]
            elif kind == _TEXT:
                fields[target] = value
            else:
                attributes[label] = value
        if "md5" not in fields and "sha1" not in fields:
            raise FormatError("row has neither MD5 nor SHA1", path, number)
        yield EntryRecord(**fields, attributes=attributes, line=number)


def _plan(header: list[str], path: str, line: int) -> list[tuple[int, int, str, str]]:
    """(column index, kind, record field, header label) for each column; checks the header is ICSE's."""
    names = [_normalised(h) for h in header]
    if "md5" not in names and "sha1" not in names:
        joined = DELIMITER.join(header)
        for other, label in ((",", "','"), ("\t", "tab")):
            if len(header) == 1 and other in joined:
                cells = {_normalised(h) for h in joined.split(other)}
                if cells & {"md5", "sha1"}:
                    raise FormatError(
                        f"the header is separated by {label}; an ICSE export is separated by ';' (re-export it, or "
                        "convert the delimiter)", path, line,
                    )
        raise FormatError(f"not an ICSE export: the header has no MD5 or SHA1 column: {joined[:120]!r}", path, line)
    seen: set[str] = set()
    plan = []
    for index, (label, name) in enumerate(zip(header, names)):
        if not name:
            continue  # a trailing ';' makes an empty column
        if name in seen:
            raise FormatError(f"column {label.strip()!r} appears twice in the header", path, line, field=label.strip())
        seen.add(name)
        kind, target = _COLUMNS.get(name, (_ATTRIBUTE, ""))
        plan.append((index, kind, target, label.strip()))
    return plan


def _wrong_width(row: list[str], header: list[str], path: str, number: int) -> None:
    width = len(header)
    if len(row) < width:
        if len(row) == 1 and ("," in row[0] or "\t" in row[0]):
            raise FormatError(f"1 field where the header has {width}: this line is separated by ',' or tab, "
                              "not ';'", path, number)
        raise FormatError(
            f"{len(row)} fields where the header has {width}: truncated line (missing {header[len(row)].strip()!r} "
            "onwards)", path, number, field=header[len(row)].strip(),
        )
    raise FormatError(
        f"{len(row)} fields where the header has {width}: an unquoted ';' inside a value?", path, number,
    )
