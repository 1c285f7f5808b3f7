"""INTERPOL ICSE CSV reader: columns by name, Y/N flags, opaque PhotoDNA, bad input named. Made-up values only."""

from __future__ import annotations

import io

import pytest

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport, icse

HEADER = (
    "MD5;SHA1;ZZ40;PhotoDNA;Lace;Image ID;Is distributed;Victim identified;Offender identified;Series name;"
    "Investigation name;Agency;Number of submissions;File Available;Media Type;Baseline"
)
MD5 = "0123456789abcdef0123456789abcdef"
SHA1 = "0123456789abcdef0123456789abcdef01234567"
ZZ40 = "00112233445566778899AABBCCDDEEFF"
PHOTODNA = "AB" * 144  # opaque: 144 bytes as upper-case hex
LACE = "QUJD" * 43  # opaque base64


def row(md5: str = MD5, sha1: str = SHA1, flags: str = "Y;N;", series: str = "Series A", media: str = "Image") -> str:
    return f"{md5};{sha1};{ZZ40};{PHOTODNA};{LACE};4711;{flags};{series};Op Test;Agency X;3;True;{media};No"


def read(data: str | bytes, report: ReadReport | None = None, **options):
    raw = data.encode() if isinstance(data, str) else data
    return list(icse.read(io.BytesIO(raw), "icse.csv", report, **options))


def test_full_header_maps_columns_by_name() -> None:
    (record,) = read(f"\ufeff{HEADER}\r\n{row(md5=MD5.upper())}\r\n")
    assert (record.md5, record.sha1, record.photodna, record.media_id) == (MD5, SHA1, PHOTODNA, "4711")
    assert (record.is_distributed, record.victim_identified, record.offender_identified) == (True, False, None)
    assert (record.series, record.media, record.line) == ("Series A", "image", 2)
    assert record.attributes == {
        "ZZ40": ZZ40, "Lace": LACE, "Investigation name": "Op Test", "Agency": "Agency X",
        "Number of submissions": "3", "File Available": "True", "Baseline": "No",
    }


def test_iped_header_other_order_extra_columns_and_blank_hashes() -> None:
    text = (
        "SHA1;MD5;ImageID;IsDistributed;VictimIdentified;Comment;MediaType\n"
        f"{SHA1};;7;n;yes;seen twice;Video\n"
        f";{MD5};8;;;;Audio\n"
        "\n"
    )
    first, second = read(text)
    assert (first.sha1, first.md5, first.media_id, first.is_distributed, first.victim_identified) == (
        SHA1, None, "7", False, True)
    assert first.media == "video" and first.attributes == {"Comment": "seen twice"}
    assert (second.md5, second.sha1, second.media) == (MD5, None, None)
    assert second.attributes == {"MediaType": "Audio"}  # not image or video: kept as given


def test_comma_separated_file_is_refused_naming_the_delimiter() -> None:
    with pytest.raises(FormatError, match="separated by ','; an ICSE export is separated by ';'") as info:
        read(HEADER.replace(";", ",") + "\n" + row().replace(";", ",") + "\n")
    assert info.value.line == 1
    with pytest.raises(FormatError, match="this line is separated by ',' or tab") as info:
        read(HEADER + "\n" + row() + "\n" + row().replace(";", ",") + "\n")
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (row()[:90], "PhotoDNA", "3 fields where the header has 16: truncated line"),
        (row() + ";extra", None, "17 fields where the header has 16"),
        (row(md5=MD5[:-1]), "MD5", "31 hex characters, expected 32"),
        (row(sha1="x" * 40), "SHA1", "'x' at character 1 is not hex"),
        (row(flags="Y;maybe;N"), "Victim identified", "expected Y or N"),
        (row(md5="", sha1=""), None, "neither MD5 nor SHA1"),
    ],
)
def test_bad_rows_name_line_and_field(line: str, field: str | None, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        read(f"{HEADER}\n{row()}\n{line}\n")
    assert info.value.line == 3 and info.value.field == field and str(info.value).startswith("icse.csv:3:")


def test_not_an_icse_header() -> None:
    with pytest.raises(FormatError, match="no MD5 or SHA1 column"):
        read("Name;Size\nx;1\n")
    with pytest.raises(FormatError, match="empty file"):
        read("\n\n")


def test_latin1_series_names_decoded_with_warning_or_refused() -> None:
    data = f"{HEADER}\n{row()}\n".encode() + row(series="Série été").encode("latin-1") + b"\n"
    report = ReadReport()
    records = read(data, report)
    assert records[1].series == "Série été"
    assert report.meta == {"non_utf8_lines": 1, "fallback_encoding": "windows-1252"}
    assert report.warnings[0].startswith("icse.csv:3: not UTF-8 (byte 0xe9 at column")
    with pytest.raises(FormatError, match="not valid utf-8 \\(byte 0xe9") as info:
        read(data)  # without a report the warning would be lost: refuse instead
    assert info.value.line == 3 and info.value.offset == data.index(b"\xe9")
    assert read(data, ReadReport(), encoding="cp1252")[1].series == "Série été"
