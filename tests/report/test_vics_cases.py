"""A scan case exported as VICS #Cases: one Media per MD5, each place it was found, categories of one scheme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashwarden.errors import FormatError
from hashwarden.report.vics_cases import case_records
from tests.formats.test_vics import MD5, MD5_B, PDQ_HEX, SHA1, _read, _write


def test_export_of_a_scan_case(tmp_path: Path) -> None:
    alert = {"set": "national", "kind": "alert", "method": "md5", "entry": 4, "category": "1", "scheme": "vics-us"}
    items = [
        {"path": "disk.E01/p1/a.jpg", "source": 0, "size": 3, "md5": MD5, "sha1": SHA1, "sha256": None,
         "media": "image", "format": "jpeg", "pdq": PDQ_HEX, "pdq_quality": 100, "status": "known",
         "matches": [alert]},
        {"path": "disk.E01/p1/notes.txt", "source": 0, "size": 9, "md5": MD5_B, "media": "other", "status": "unknown",
         "matches": []},
        {"path": "disk.E01/p1/broken.jpg", "source": 0, "size": 0, "md5": None, "media": "image", "status": "error",
         "error": "unreadable", "matches": []},
        {"path": "disk.E01/carved/0001.jpg", "source": 0, "size": 3, "md5": MD5, "media": "image", "format": "jpeg",
         "status": "known", "carved": True, "offset": 4096, "matches": [alert]},
    ]
    report = {"case": "OP-1", "tool": {"name": "hashwarden", "version": "0.1.0"},
              "sources": [{"index": 0, "path": "/evidence/disk.E01"}], "summary": {}, "items": items, "skipped": []}
    (tmp_path / "report.json").write_text(json.dumps(report, indent=1))
    data = _write(list(case_records(tmp_path, scheme="vics-us")), shape="cases", region="US")
    (record,) = _read(data)
    assert (record.md5, record.sha1, record.pdq, record.category, record.category_scheme) == (
        MD5, SHA1, PDQ_HEX, "1", "vics-us")
    assert [f["FilePath"] for f in record.attributes["MediaFiles"]] == ["disk.E01/p1/a.jpg", "disk.E01/carved/0001.jpg"]
    assert record.attributes["MediaFiles"][1]["Unallocated"] == "true"
    assert record.attributes["MimeType"] == "image/jpeg" and record.attributes["IsPrecategorized"] == "true"
    case = record.attributes["_case"]
    assert case["CaseNumber"] == "OP-1" and case["SourceApplicationName"] == "hashwarden" and len(case["CaseID"]) == 36
    uncategorised = list(case_records(tmp_path, scheme="vics-uk"))
    assert [r.category for r in uncategorised] == [None]
    with pytest.raises(FormatError, match="report"):
        list(case_records(tmp_path / "missing"))
