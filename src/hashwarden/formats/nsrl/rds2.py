"""NSRL RDSv2 `NSRLFile.txt`: quoted CSV, header-driven, with either NIST header (`"SHA-1","MD5","CRC32",
"FileName",...` or the older `"SHA-1","FileName","FileSize","ProductCode","OpSystemCode","MD4","MD5",...`), and the
`SHA-256` column some RDSv3-to-v2 converters add."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats._fields import hex_digest, parse_size
from hashwarden.formats._lines import decoded_lines
from hashwarden.formats.nsrl.rds3_schema import HASH_COLUMNS
from hashwarden.store.records import EntryRecord

# header name, upper-cased → record field, or attribute key
_RDS2_FIELDS = {"SHA-1": "sha1", "SHA1": "sha1", "MD5": "md5", "SHA-256": "sha256", "SHA256": "sha256",
                "FILESIZE": "size"}
_RDS2_ATTRIBUTES = {"FILENAME": "file_name", "PRODUCTCODE": "package_id", "OPSYSTEMCODE": "operating_system_code",
                    "SPECIALCODE": "special_code", "CRC32": "crc32", "MD4": "md4"}


def read_lines(
    lines: Iterable[bytes], path: str, report: ReadReport | None, encoding: str | None
) -> Iterator[EntryRecord]:
    rows = csv.reader(text for _, text in decoded_lines(lines, path, report, encoding))
    header = next(rows, None)
    if not header:
        raise FormatError("an RDSv2 file starts with its header line", path, 1)
    names = [h.strip().upper() for h in header]
    index = {name: i for i, name in enumerate(names)}
    hashes = [(_RDS2_FIELDS[n], i, header[i]) for n, i in index.items() if _RDS2_FIELDS.get(n) in HASH_COLUMNS]
    if not hashes:
        raise FormatError(f"not an NSRL RDSv2 file: the header has no SHA-1, MD5 or SHA-256 column: {header!r}",
                          path, 1)
    size_at = index.get("FILESIZE")
    product_at = index.get("PRODUCTCODE")
    special_at = index.get("SPECIALCODE")
    attributes_at = [
        (_RDS2_ATTRIBUTES.get(n) or header[i].strip(), i)
        for i, n in enumerate(names) if n not in _RDS2_FIELDS and i != product_at
    ]
    width = len(header)
    special_codes: Counter[str] = Counter()
    if report is not None:
        report.meta["nsrl"] = "rdsv2"
    for row in rows:
        number = rows.line_num
        if len(row) != width:
            if not row or row == [""]:
                continue
            raise FormatError(
                f"{len(row)} fields where the header has {width} (truncated line, or a name with an unquoted "
                f"quote or comma?)", path, number, field=header[len(row)] if len(row) < width else None,
            )
        values = {name: hex_digest(row[i], name, path, number, field=label) for name, i, label in hashes}
        if not any(values.values()):
            raise FormatError("row has no SHA-1, MD5 or SHA-256 value", path, number)
        attributes = {key: row[i] for key, i in attributes_at if row[i]}
        if product_at is not None and row[product_at]:
            product = row[product_at]
            attributes["package_id"] = int(product) if product.isdigit() else product
        if special_at is not None and row[special_at]:
            special_codes[row[special_at]] += 1
        size = parse_size(row[size_at], path, number, header[size_at]) if size_at is not None else None
        yield EntryRecord(**values, size=size, attributes=attributes, line=number)
    if report is not None and special_codes:
        report.meta["special_codes"] = dict(special_codes)  # M = malicious, S = special (NIST)
