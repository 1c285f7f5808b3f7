"""VICS import and export: versions, shapes, real-file quirks, categories with their scheme, broken files located
to the byte, limits, and a lossless import -> export -> import round trip.

Every fixture is hand-written JSON built here, with made-up hashes; none describes any real image.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats.vics import media_ids, model, reader, writer
from hashwarden.formats import _jsonstream as js
from hashwarden.formats.categories import label, load_profile, parse_profile
from hashwarden.store.records import EntryRecord

MD5 = "0123456789abcdef0123456789abcdef"
MD5_B = "fedcba9876543210fedcba9876543210"
SHA1 = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
PDQ_HEX = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PHOTODNA = "QUJD" * 48  # 192 base64 characters of made-up bytes

V20 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{region}/$metadata#{fragment}"
V1 = "http://github.com/ICMEC/ProjectVic/DataModels/{version}.xml#{fragment}"


def _context(version: str = "2.0", region: str = "US", fragment: str = "Media") -> tuple[str, str]:
    if version.startswith("1"):
        return "odata.metadata", V1.format(version=version, fragment=fragment)
    return "@odata.context", V20.format(region=region, fragment=fragment).replace("2.0.xml", f"{version}.xml")


def _doc(value: list[Any], version: str = "2.0", region: str = "US", fragment: str = "Media",
         model_last: bool = False, bom: bool = False) -> bytes:
    key, uri = _context(version, region, fragment)
    body = {"value": value, key: uri} if model_last else {key: uri, "value": value}
    return (b"\xef\xbb\xbf" if bom else b"") + json.dumps(body, ensure_ascii=False).encode()


def _media(n: int = 1, **fields: Any) -> dict[str, Any]:
    return {"MediaID": n, "Category": None, "MD5": MD5, **fields}


def _read(data: bytes, report: ReadReport | None = None, **kwargs: Any) -> list[EntryRecord]:
    return list(reader.read(io.BytesIO(data), "set.json", report, **kwargs))


def _write(records: list[EntryRecord], **kwargs: Any) -> bytes:
    out = io.BytesIO()
    assert writer.write(records, out, **kwargs) == len(records)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------- reading


def test_reads_a_2_0_hash_set_with_the_quirks_of_real_files() -> None:
    report = ReadReport()
    records = _read(_doc([
        {"MediaID": 1, "Category": 1, "MD5": MD5.upper(), "SHA1": SHA1.upper(), "MediaSize": "488",
         "DateUpdated": "2023-06-07T02:31:49.8300Z", "VictimIdentified": "True", "OffenderIdentified": False,
         "IsDistributed": None, "IsPrecategorized": "false", "Series": "S1,S2", "Tags": "#a, b,,",
         "Comments": "ünïcode ✓", "MimeType": "image/jpeg", "Miniature": "/9j/AAAA",
         "MediaFiles": [{"MD5": MD5.upper(), "FileName": "a.jpg", "FilePath": "EV1\\a.jpg", "Deleted": "false",
                         "Thumbnail": "AAAA"}],
         "Exifs": [{"MD5": MD5, "PropertyName": "Make", "PropertyValue": "X"}],
         "MediaMetadata": [{"MD5": MD5, "PropertyName": "OCR", "PropertyValue": "text"}]},
        {"MediaID": 2, "Category": None, "MD5": MD5_B, "MediaSize": 7, "DateUpdated": "2026-11-24T20:39:10+01:00Z",
         "VictimIdentified": "false", "IsDistributed": True},
    ], bom=True), report)
    first, second = records
    assert (first.md5, first.sha1, first.size) == (MD5, SHA1, 488)
    assert (first.category, first.category_scheme) == ("1", "vics-us")
    assert (first.victim_identified, first.offender_identified, first.is_distributed) == (True, False, None)
    assert (first.series, first.tags, first.comments, first.media) == ("S1,S2", ["#a", "b"], "ünïcode ✓", "image")
    assert first.date_updated == "2023-06-07T02:31:49.830Z"
    assert first.attributes["DateUpdated"] == "2023-06-07T02:31:49.8300Z"  # normalising changed the text: kept
    assert first.attributes["MediaFiles"] == [
        {"MD5": MD5.upper(), "FileName": "a.jpg", "FilePath": "EV1\\a.jpg", "Deleted": "false"}
    ]
    assert set(first.attributes) == {"IsPrecategorized", "MimeType", "MediaFiles", "Exifs", "MediaMetadata",
                                     "DateUpdated"}
    assert (first.media_id, first.line, first.provenance) == ("1", 1, "set.json:1")
    assert (second.category, second.category_scheme, second.size) == (None, None, 7)
    assert second.date_updated == "2026-11-24T19:39:10Z"
    assert report.dropped == {"Miniature": 1, "Thumbnail": 1}
    assert report.meta == {"format": "vics", "data_model": V20.format(region="US", fragment="Media"),
                           "vics_version": "2.0", "region": "US", "shape": "media",
                           "category_scheme": "vics-us", "category_profile": load_profile().version, "records": 2}
    assert report.warnings == []
    assert b"/9j/AAAA" not in _write(records, region="US") and b"Thumbnail" not in _write(records, region="US")


def test_reads_a_1_2_nist_style_record_with_its_scheme() -> None:
    # The shape of NIST's VICS 1.2 sets (research brief §1.3), with made-up hashes and names.
    record = {
        "odata.id": f'Media("{MD5}")', "MediaFiles@odata.navigationLinkUrl": f"/Media({MD5})/MediaFiles",
        "MediaFiles": [{"Media@odata.navigationLinkUrl": f"/MediaFiles(FileName='x.art',MD5={MD5})", "MD5": MD5,
                        "FileName": "x.art", "FilePath": "Game/data"}],
        "MediaID": 0, "MD5": MD5, "SHA1": SHA1, "Category": 8, "MediaSize": "488",
    }
    data = _doc([record], version="1.2")
    with pytest.raises(FormatError, match="code 8 is not in scheme vics-us.*nist-caid") as info:
        _read(data)
    assert (info.value.line, info.value.field) == (1, "Category")
    (entry,) = _read(data, scheme="nist-caid")
    assert (entry.category, entry.category_scheme, entry.size) == ("8", "nist-caid", 488)
    assert label(entry.category_scheme, entry.category).startswith("Known file")
    assert entry.attributes["odata.id"] == f'Media("{MD5}")'


def test_photodna_and_pdq_in_either_place() -> None:
    alt = [{"HashName": "SHA1", "HashValue": SHA1}, {"HashName": "PhotoDNA", "HashValue": PHOTODNA, "MD5": MD5},
           {"HashName": "PDQ", "HashValue": PDQ_HEX.upper()}]
    (v13,) = _read(_doc([_media(AlternativeHashes=alt)], version="1.3"))
    assert (v13.photodna, v13.pdq) == (PHOTODNA, PDQ_HEX)
    assert v13.attributes["AlternativeHashes"] == [{"HashName": "SHA1", "HashValue": SHA1}]
    (v20,) = _read(_doc([_media(PhotoDNA=PHOTODNA, PDQ=PDQ_HEX, PDQQuality="90", SHA256=SHA256.upper())]))
    assert (v20.photodna, v20.pdq, v20.pdq_quality, v20.sha256) == (PHOTODNA, PDQ_HEX, 90, SHA256)
    assert v20.attributes == {}
    written = json.loads(_write([v13], version="1.3"))["value"][0]
    assert written["AlternativeHashes"][0] == {"HashName": "PhotoDNA", "HashValue": PHOTODNA, "MD5": MD5.upper()}
    assert json.loads(_write([v13], region="US"))["value"][0]["PhotoDNA"] == PHOTODNA


def test_the_data_model_key_may_follow_value() -> None:
    small = _doc([_media(1, Category=2)], region="UK", model_last=True)
    many = _doc([_media(i, Category=1, Comments="x" * 100) for i in range(1, 1001)], region="US", model_last=True)
    assert len(many) > 2 * 64 * 1024  # beyond the head: found at the end of the file
    for data, region, count in ((small, "UK", 1), (many, "US", 1000)):
        report = ReadReport()
        records = _read(data, report)
        assert len(records) == count and report.meta["region"] == region
        assert records[0].category_scheme == {"UK": "vics-uk", "US": "vics-us"}[region]


def test_unknown_or_missing_data_model_is_read_leniently() -> None:
    report = ReadReport()
    (record,) = _read(_doc([_media(Category=1)], version="2.1"), report)
    assert record.category_scheme == "vics-us"
    assert "VICS data model 2.1 is not one hashwarden knows" in report.warnings[0]
    report = ReadReport()
    (record,) = _read(json.dumps({"value": [_media()]}).encode(), report)
    assert record.md5 == MD5 and "VICS version unknown" in report.warnings[0]
    with pytest.raises(FormatError, match="declares no VICS data model.*explicit category scheme") as info:
        _read(json.dumps({"value": [_media(), _media(2, Category=1)]}).encode())
    assert (info.value.line, info.value.field) == (2, "Category")


@pytest.mark.parametrize(
    ("region", "codes", "scheme", "warning"),
    [
        ("Default", [0, 5], "vics-default", None),
        ("UK", [1, 7], "vics-uk", "category codes 1, 7 have no label in scheme vics-uk"),
    ],
)
def test_categories_carry_the_scheme_of_the_region(region, codes, scheme, warning) -> None:
    report = ReadReport()
    records = _read(_doc([_media(i, Category=c) for i, c in enumerate(codes, 1)] + [_media(9)], region=region), report)
    assert [(r.category, r.category_scheme) for r in records] == [(str(c), scheme) for c in codes] + [(None, None)]
    assert report.warnings == ([warning + f" (category profile version {load_profile().version}); stored as given"] if warning else [])


def test_category_zero_is_a_code_and_null_is_uncategorised() -> None:
    """Code 0 has two readings in public tools; hashwarden stores the code and leaves the reading to the profile."""
    zero, null, absent = _read(_doc([_media(1, Category=0), _media(2, Category=None), {"MediaID": 3, "MD5": MD5}]))
    assert (zero.category, null.category, absent.category) == ("0", None, None)
    scheme = load_profile().scheme("vics-us")
    assert scheme.label("0") == "Uncategorized" and "IPED" in scheme.notes["0"] and "Autopsy" in scheme.notes["0"]


def test_custom_region_needs_a_scheme_for_its_codes() -> None:
    data = _doc([_media(1), _media(2, Category=3)], region="CUSTOM")
    with pytest.raises(FormatError, match="region CUSTOM defines its own category codes") as info:
        _read(data)
    assert (info.value.line, info.value.field, info.value.path) == (2, "Category", "set.json")
    assert str(info.value).startswith("set.json:2: field Category:")
    assert [r.category for r in _read(_doc([_media(1)], region="CUSTOM"))] == [None]
    assert [(r.category, r.category_scheme) for r in _read(data, scheme="vics-us")] == [(None, None), ("3", "vics-us")]


def test_case_exports_with_case_fields_before_and_after_media() -> None:
    cases = [
        {"CaseID": "c-1", "CaseNumber": "TEST-1", "Media": [_media(1, Category=1), _media(2, MD5=MD5_B)],
         "SourceApplicationName": "tool", "TotalMediaFiles": "2", "Miniature": "AAAA"},
        {"CaseNumber": "TEST-2", "CaseMetadata": [{"PropertyName": "p", "PropertyValue": "v"}],
         "Media": [_media(1, Category=2)]},
        {"CaseNumber": "EMPTY", "Media": None},
    ]
    report = ReadReport()
    records = _read(_doc(cases, fragment="Cases"), report)
    assert [(r.line, r.category, r.media_id) for r in records] == [(1, "1", "1"), (2, None, "2"), (3, "2", "1")]
    first_case = {"CaseID": "c-1", "CaseNumber": "TEST-1", "SourceApplicationName": "tool", "TotalMediaFiles": "2"}
    assert records[0].attributes["_case"] == records[1].attributes["_case"] == first_case
    assert records[2].attributes["_case"]["CaseMetadata"] == [{"PropertyName": "p", "PropertyValue": "v"}]
    assert report.meta["shape"] == "cases" and report.meta["cases"] == 3 and report.dropped == {"Miniature": 1}
    assert report.warnings == []  # MediaID 1 in each case: IDs are unique per case
    again = _read(_write(records, shape="cases", region="US"))
    assert again == records


def test_a_large_case_streams_across_chunks() -> None:
    media = [_media(i, MD5=f"{i:032x}", MediaFiles=[{"FilePath": f"p{i}" * 20}]) for i in range(1, 3001)]
    data = _doc([{"CaseNumber": "BIG", "Media": media, "After": "fields after 300 KB of Media"}], fragment="Cases")
    assert len(data) > 5 * js.CHUNK

    class Pipe(io.RawIOBase):  # not seekable: the reader spools it
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    records = list(reader.read(Pipe(), "pipe"))
    assert len(records) == 3000 and records[-1].md5 == f"{3000:032x}"
    assert records[0].attributes["_case"] == {"CaseNumber": "BIG", "After": "fields after 300 KB of Media"}


def test_the_shape_follows_the_structure_when_the_fragment_is_wrong() -> None:
    report = ReadReport()
    records = _read(_doc([{"CaseNumber": "X", "Media": [_media()]}], fragment="Media"), report)
    assert len(records) == 1 and report.meta["shape"] == "cases"
    assert "the data model says #Media but the records are cases" in report.warnings[0]


def test_duplicate_media_ids_warn_and_hashless_records_are_skipped() -> None:
    report = ReadReport()
    records = _read(_doc([
        _media(5), _media(5), _media(1 << 40), _media(1 << 40), _media("a"), _media("a"), _media(6),
        {"MediaID": 7, "PhotoDNA": PHOTODNA},
    ]), report)
    assert len(records) == 7
    assert report.warnings[0].startswith("3 duplicate MediaIDs (MediaID 5 at record 2, MediaID 'a' at record 6, ")
    assert "1 records have no MD5, SHA1, SHA256 or PDQ" in report.warnings[1]


def test_media_id_tracker_is_compact() -> None:
    ids = media_ids.MediaIds()
    for number in range(1, 1_000_001):
        ids.add(number, number)
    assert len(ids.bits) < 300_000 and ids.duplicates == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"MD5": MD5[:30]}, "MD5", "32 hex"),
        ({"MD5": "z" * 32}, "MD5", "md5"),
        ({"SHA1": 12}, "SHA1", "hex string"),
        ({"PDQ": PDQ_HEX + "00"}, "PDQ", "PDQ"),
        ({"VictimIdentified": "yes"}, "VictimIdentified", "true, false or null"),
        ({"IsDistributed": 1}, "IsDistributed", "true, false or null"),
        ({"MediaSize": "12 bytes"}, "MediaSize", "non-negative integer"),
        ({"MediaSize": -1}, "MediaSize", "out of range"),
        ({"Category": "one"}, "Category", "integer code"),
        ({"Category": 9}, "Category", "not in scheme vics-us"),
        ({"Tags": {"a": 1}}, "Tags", "comma-delimited"),
        ({"PDQQuality": 101}, "PDQQuality", "out of range"),
        ({"md5": MD5}, "md5", "given twice"),
        ({"MediaID": [1]}, "MediaID", "integer or a string"),
    ],
)
def test_bad_fields_name_file_record_and_field(fields, field, message) -> None:
    data = _doc([_media(1), {**_media(2), **fields}])
    with pytest.raises(FormatError, match=message) as info:
        _read(data)
    assert (info.value.line, info.value.field, info.value.path) == (2, field, "set.json")
    assert str(info.value).startswith(f"set.json:2: field {field}:")


def test_a_record_that_is_not_an_object() -> None:
    with pytest.raises(FormatError, match="must be a JSON object") as info:
        _read(_doc([_media(1), "oops"]))
    assert info.value.line == 2


@pytest.mark.parametrize("records", [3, 2500])  # inside the first chunk, and many chunks in
def test_truncated_file_reports_the_break_and_the_last_complete_record(records: int) -> None:
    data = _doc([_media(i, MD5=f"{i:032x}") for i in range(1, records + 1)])
    last = data.index(f'"{records:032x}"'.encode())
    cut = data[: last + 10]  # inside the last record's MD5
    end_of_previous = data.rindex(b"}", 0, last) + 1
    with pytest.raises(FormatError, match="truncated") as info:
        _read(cut)
    error = info.value
    assert (error.line, error.offset, error.field) == (records, len(cut), "MD5")
    assert f"the {records - 1} records before are complete, the last one ending at byte {end_of_previous}" in str(error)


def test_truncation_after_a_long_record_is_still_exact() -> None:
    """A 2.5 MB record makes the reader grow its chunks; the replay must read the same chunks to stay exact."""
    files = [{"FileName": f"f{i}.jpg", "FilePath": "d" * 200} for i in range(10_000)]
    data = _doc([_media(1), _media(2, MediaFiles=files), _media(3, MD5=MD5_B)])
    cut = data[: data.index(MD5_B.encode()) + 3]
    with pytest.raises(FormatError, match="truncated") as info:
        _read(cut)
    assert (info.value.line, info.value.offset, info.value.field) == (3, len(cut), "MD5")
    assert f"ending at byte {data.rindex(b'}', 0, data.index(MD5_B.encode())) + 1}" in str(info.value)


def test_malformed_json_is_located_to_the_byte() -> None:
    data = bytearray(_doc([_media(i, MD5=f"{i:032x}", Comments="c" * 50) for i in range(1, 3000)]))
    bad = data.index(b'"Comments"', 150_000)
    data[bad] = ord("?")
    with pytest.raises(FormatError, match="malformed") as info:
        _read(bytes(data))
    assert info.value.offset == bad
    assert info.value.field == "MD5"  # the field read last: the broken key comes after it
    assert info.value.line == int(data[data.rindex(b'"MediaID": ', 0, bad) + 11:].split(b",")[0])


def test_truncated_case_export_is_located() -> None:
    data = _doc([{"CaseNumber": "T", "Media": [_media(i, MD5=f"{i:032x}") for i in range(1, 2000)]}],
                fragment="Cases")
    cut = data[: data.index(f"{1500:032x}".encode()) + 5]
    with pytest.raises(FormatError, match="truncated") as info:
        _read(cut)
    assert (info.value.line, info.value.offset, info.value.field) == (1500, len(cut), "MD5")


def test_a_100_mb_value_is_refused_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    head = _doc([_media(1)])[:-2] + b',{"MediaID": 2, "MD5": "' + MD5.encode() + b'", "Comments": "'
    with open(path, "wb") as fp:
        fp.write(head)
        block = b"a" * (1 << 20)
        for _ in range(100):
            fp.write(block)
        fp.write(b'"}]}')
    with open(path, "rb") as fp, pytest.raises(FormatError, match="over the 32 MiB limit") as info:
        list(reader.read(fp, str(path)))
    previous_end = head.rindex(b"}") + 1
    assert (info.value.line, info.value.field, info.value.offset) == (2, "Comments", previous_end)
    assert f"the record before is complete, the last one ending at byte {previous_end}" in str(info.value)
    # Peak memory, measured in a fresh process so that earlier tests do not hide it. VmHWM, not ru_maxrss: Linux
    # carries ru_maxrss over exec, so a child of a big pytest process would report the parent's size.
    probe = (
        "import re, sys\n"
        "from hashwarden.errors import FormatError\n"
        "from hashwarden.formats.vics import reader\n"
        "try:\n"
        "    list(reader.read(open(sys.argv[1], 'rb'), sys.argv[1]))\n"
        "except FormatError:\n"
        "    print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # this process's hashwarden, not the venv's
    peak_mib = int(subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                                  check=True, env=env).stdout)
    assert peak_mib < 250


def test_a_huge_value_in_a_case_export_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_JSON_RECORD_BYTES", 1 << 20)
    huge = {"CaseNumber": "x" * (2 << 20), "Media": [_media(1)]}
    with pytest.raises(FormatError, match="over the 1 MiB limit") as info:
        _read(_doc([{"CaseNumber": "A", "Media": [_media(1), _media(2)]}, huge], fragment="Cases"))
    assert (info.value.line, info.value.field) == (3, "value[].CaseNumber")
    assert "the 2 records before are complete" in str(info.value)


def test_long_text_fields_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hashwarden.formats.vics.fields.MAX_VICS_TEXT_CHARS", 100)
    with pytest.raises(FormatError, match="100-character limit") as info:
        _read(_doc([_media(1, Comments="x" * 101)]))
    assert info.value.field == "Comments"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"[1, 2]", "top level is an array"),
        (b'{"odata.metadata": "x", "items": []}', "no 'value' array"),
        (b'{"value": []} trailing', "malformed"),
        (b"\xff\xfe{\x00", "UTF-16"),
    ],
)
def test_not_vics(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        _read(data)


# ---------------------------------------------------------------------------------------------------- writing


def test_writer_output_is_vics_and_streamed() -> None:
    class Counting(io.BytesIO):
        writes = 0

        def write(self, data: Any) -> int:
            Counting.writes += 1
            return super().write(data)

    records = (EntryRecord(md5=f"{i:032x}", category="1", category_scheme="vics-us", tags=["a", "b"],
                           victim_identified=True, media="image") for i in range(10_000))
    out = Counting()
    assert writer.write(records, out, region="US") == 10_000
    assert Counting.writes > 3  # written as it goes, never as one document
    document = json.loads(out.getvalue())
    assert document["@odata.context"] == V20.format(region="US", fragment="Media")
    assert document["value"][0] == {"MediaID": 1, "Category": 1, "MD5": "0" * 32, "VictimIdentified": "true",
                                    "Tags": "a,b", "MimeType": "image"}
    v13 = json.loads(_write([EntryRecord(md5=MD5)], version="1.3", shape="cases"))
    assert v13["odata.metadata"] == V1.format(version="1.3", fragment="Cases")
    assert v13["value"][0]["SourceApplicationName"] == "hashwarden" and len(v13["value"][0]["Media"]) == 1
    assert json.loads(_write([])) == {"@odata.context": V20.format(region="Default", fragment="Media"), "value": []}


@pytest.mark.parametrize(
    ("record", "kwargs", "field", "message"),
    [
        (EntryRecord(md5=MD5, category="1", category_scheme="vics-uk"), {"region": "US"}, "Category",
         "scheme vics-uk"),
        (EntryRecord(md5=MD5, category="9", category_scheme="vics-us"), {"region": "US"}, "Category",
         "not a code of scheme vics-us"),
        (EntryRecord(md5=MD5, category="A", category_scheme="uk-sentencing"), {"scheme": "uk-sentencing"},
         "Category", "not an integer code"),
        (EntryRecord(md5=MD5, tags=["a,b"]), {}, "Tags", "comma"),
    ],
)
def test_writer_refuses_what_would_change_meaning(record, kwargs, field, message) -> None:
    with pytest.raises(FormatError, match=message) as info:
        _write([EntryRecord(md5=MD5_B), record], **kwargs)
    assert (info.value.line, info.value.field) == (2, field)


@pytest.mark.parametrize(
    "kwargs", [{"version": "1.4"}, {"region": "AU"}, {"shape": "list"}, {"region": "CUSTOM"}]
)
def test_writer_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        _write([], **kwargs)


def test_writer_never_exports_imagery() -> None:
    record = EntryRecord(md5=MD5, attributes={"Miniature": "AAAA", "MediaFiles": [{"FileName": "a", "miniature": "B"}],
                                              "_case": {"CaseNumber": "X", "Thumbnail": "C"}})
    for shape in model.SHAPES:
        text = _write([record], shape=shape)
        assert "AAAA" not in text.decode() and '"B"' not in text.decode() and '"C"' not in text.decode()
    assert record.attributes["MediaFiles"] == [{"FileName": "a", "miniature": "B"}]  # the input is not changed


# ------------------------------------------------------------------------------------------------- round trip

_hex = st.integers(min_value=0, max_value=(1 << 256) - 1)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_word = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=","), min_size=1, max_size=8)
_flag = st.sampled_from([True, False, None, "true", "false", "True", "FALSE", ""])
_date = st.sampled_from([None, "2023-06-07T02:31:49.8300Z", "2026-11-24T20:39:10Z", "2026-11-24T20:39:10+01:00",
                         "2026-11-24T20:39:10+01:00Z", "2023-06-07", "yesterday", "2023-06-07T02:31:49.123456Z"])
_codes = {("2.0", "US"): [0, 1, 2, 3, 4, 5], ("2.0", "Default"): [0, 1, 5], ("2.0", "UK"): [1, 2, 3, 8],
          ("1.3", "Default"): [0, 1, 2, 3, 4, 5]}
_file = st.fixed_dictionaries({"MediaFiles": st.lists(st.fixed_dictionaries({
    "FileName": _text, "FilePath": _text, "Deleted": st.sampled_from(["true", "false"]),
    "SourceID": st.sampled_from(["EV1", "EV2"])}), max_size=2)})


@st.composite
def _media_objects(draw: Any, version: str, region: str) -> dict[str, Any]:
    n = draw(_hex)
    media: dict[str, Any] = {"MediaID": draw(st.one_of(st.integers(0, 1 << 40), st.just("id-x"))),
                             "MD5": draw(st.sampled_from([str.upper, str.lower]))(f"{n % (1 << 128):032x}")}
    if draw(st.booleans()):
        media["SHA1"] = f"{n % (1 << 160):040X}"
    if draw(st.booleans()):
        media["PDQ"] = f"{n:064x}"
        media["PDQQuality"] = draw(st.integers(0, 100))
    media["Category"] = draw(st.one_of(st.none(), st.sampled_from(_codes[version, region])))
    media["MediaSize"] = draw(st.one_of(st.none(), st.integers(0, 1 << 40), st.integers(0, 999).map(str)))
    for name in ("VictimIdentified", "OffenderIdentified", "IsDistributed"):
        media[name] = draw(_flag)
    media["Series"] = draw(st.one_of(st.none(), _word))
    media["Tags"] = ",".join(draw(st.lists(_word, max_size=3)))
    media["Comments"] = draw(st.one_of(st.none(), _text))
    if (date := draw(_date)) is not None:
        media["DateUpdated"] = date
    if draw(st.booleans()):
        if version == "1.3":
            media["AlternativeHashes"] = [{"HashName": "PhotoDNA", "HashValue": PHOTODNA + draw(_word)}]
        else:
            media["PhotoDNA"] = PHOTODNA
    if draw(st.booleans()):
        media.update(draw(_file))
        media["Exifs"] = [{"PropertyName": draw(_word), "PropertyValue": draw(_text)}]
    if draw(st.booleans()):
        media["Miniature"] = "AAAA"
    return media


@pytest.mark.parametrize(("version", "region"), list(_codes))
@pytest.mark.parametrize("shape", model.SHAPES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_import_export_import_is_lossless(version: str, region: str, shape: str, data: Any) -> None:
    media = data.draw(st.lists(_media_objects(version, region), max_size=6))
    if shape == "cases":
        split = data.draw(st.integers(0, len(media)))
        value = [{"CaseNumber": "C1", "Media": media[:split]},
                 {"CaseNumber": data.draw(_text), "ContactName": data.draw(_text), "Media": media[split:]}]
    else:
        value = media
    source = _doc(value, version=version, region=region, fragment="Cases" if shape == "cases" else "Media")
    first = _read(source)
    assert len(first) == len(media)
    second = _read(_write(first, version=version, region=region, shape=shape))
    assert second == first
    if (version, region) == ("2.0", "US"):  # same scheme, other version: still lossless
        assert _read(_write(first, version="1.3", shape=shape)) == first


# ------------------------------------------------------------------------------------------------- categories


def test_category_profile() -> None:
    profile = load_profile()
    assert profile.vics_scheme("2.0", "uk") == ("vics-uk", True)
    assert profile.vics_scheme("1.1", None) == ("vics-us", True)
    assert profile.vics_scheme("2.0", "CUSTOM") == (None, True)
    assert profile.vics_scheme("2.1", "US") == ("vics-us", False)
    assert profile.vics_scheme(None, None) == (None, False)
    assert profile.scheme("vics-default").labels == profile.scheme("vics-us").labels
    assert label("uk-sentencing", "A") == "Category A" and label("vics-uk", "1") is None and label(None, "1") is None
    assert profile.schemes_with("8") == ["nist-caid"]
    with pytest.raises(FormatError, match="unknown category scheme"):
        profile.scheme("nope")
    with pytest.raises(FormatError, match="codes_from"):
        parse_profile({"version": 1, "schemes": {"a": {"codes_from": "b"}}}, "p.json")
    with pytest.raises(FormatError, match="unknown scheme"):
        parse_profile({"version": 1, "schemes": {"a": {"codes": {}}}, "vics": {"2.0": {"US": "b"}}}, "p.json")


# ------------------------------------------------------------------------------- category codes (mutation pins)


@pytest.mark.parametrize(("value", "code"), [
    ("3", "3"), (" 3 ", "3"), ("003", "3"), (3.0, "3"), (0.0, "0"), ("0", "0"), (300, "300"), ("", None), ("  ", None),
])
def test_category_codes_are_normalised_integers(value: Any, code: str | None) -> None:
    (record,) = _read(_doc([_media(1, Category=value)], region="UK"))  # vics-uk: open, any integer code is kept
    assert (record.category, record.category_scheme) == (code, "vics-uk" if code is not None else None)


@pytest.mark.parametrize(("value", "kind"), [
    (-1, "a number"), (-1.0, "a number"), (1.5, "a number"), ("1.5", "a string"), ("\u0663", "a string"),
    (True, "a boolean"), ([1], "an array"), ("9" * 39 + "x" * 10, "a string"),  # quoted up to 40 characters
])
def test_a_category_that_is_not_a_code_is_refused_saying_what_it_was(value: Any, kind: str) -> None:
    with pytest.raises(FormatError) as info:
        _read(_doc([_media(1, Category=value)], region="UK"))
    assert str(info.value) == ("set.json:1: field Category: must be a non-negative integer code or null, "
                               f"not {kind} {str(value)[:40]!r} (MediaID 1)")


def test_a_code_without_a_scheme_names_the_schemes_to_choose_from() -> None:
    with pytest.raises(FormatError) as info:
        _read(_doc([_media(1, Category=3)], region="CUSTOM"))
    names = ", ".join(sorted(load_profile().schemes))
    assert str(info.value).endswith(f"so category code 3 cannot be stored with a meaning; import with an explicit "
                                    f"category scheme (one of {names}) (MediaID 1)")


def test_a_code_outside_a_closed_scheme_names_the_schemes_that_have_it() -> None:
    version = load_profile().version
    with pytest.raises(FormatError) as info:
        _read(_doc([_media(1, Category=250)]))
    assert str(info.value).endswith(f"code 250 is not in scheme vics-us (category profile version {version}) "
                                    "(MediaID 1)")
    profile = parse_profile({"version": 9, "vics": {"2.0": {"US": "closed"}}, "schemes": {
        "closed": {"closed": True, "codes": {"1": {"label": "one"}}},
        "x": {"codes": {"7": {"label": "seven"}}}, "y": {"codes": {"7": {"label": "sieben"}}}}}, "p.json")
    with pytest.raises(FormatError) as info:
        _read(_doc([_media(1, Category=7)]), profile=profile)
    assert str(info.value).endswith("code 7 is not in scheme closed (category profile version 9); schemes with code "
                                    "7: x, y (MediaID 1)")


def test_exporting_a_category_of_another_scheme_names_the_region_to_use() -> None:
    with pytest.raises(FormatError, match=r"category 1 is in scheme vics-uk, which a .* \(scheme vics-us\) cannot "
                                          r"carry; export with the region of that scheme \(--region UK\)"):
        _write([EntryRecord(md5=MD5, category="1", category_scheme="vics-uk")], region="US")
    with pytest.raises(FormatError, match=r"export with the region of that scheme \(no VICS region carries it\)"):
        _write([EntryRecord(md5=MD5, category="8", category_scheme="nist-caid")], region="US")
    document = json.loads(_write([EntryRecord(md5=MD5, category="0", category_scheme=None)], region="US"))
    assert document["value"][0]["Category"] == 0


def test_a_file_without_a_data_model_says_which_keys_it_lacks() -> None:
    with pytest.raises(FormatError) as info:
        _read(json.dumps({"value": [_media(1, Category=1)]}).encode())
    assert "the file declares no VICS data model (@odata.context or odata.metadata), so category code 1" in str(
        info.value)
