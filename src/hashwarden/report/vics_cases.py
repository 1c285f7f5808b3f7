"""A scan case as VICS `#Cases` records: one Media per distinct MD5 of report.json, one MediaFiles entry per place
it was found (written by `formats.vics.writer`)."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from ijson.common import ObjectBuilder

from hashwarden.errors import FormatError
from hashwarden.formats import _jsonstream as js
from hashwarden.formats.categories import load_profile
from hashwarden.formats.exchange import shown_in_audit, write_atomically
from hashwarden.formats.vics.model import CASE_KEY, MEDIA_KINDS
from hashwarden.formats.vics.reader import located_error
from hashwarden.formats.vics.writer import flag_out, hashwarden_version, write
from hashwarden.store import audit
from hashwarden.store.records import EntryRecord


def export_case(engine: Any, case_dir: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any) -> int:
    """Write a scan case (its report.json) as a VICS `#Cases` export; recorded in the audit log."""
    scheme = load_profile().vics_scheme(options.get("version", "2.0"), options.get("region", "Default"))[0]
    records = case_records(Path(case_dir), scheme=scheme)
    count, digest = write_atomically(out, lambda fp: write(records, fp, **{**options, "shape": "cases"}))
    with engine.begin() as conn:
        audit.append(conn, "export", {"case": os.path.abspath(case_dir), "format": "vics",
                                      "file": shown_in_audit(out), "entries": count, "file_sha256": digest,
                                      **options})
    return count


_MIME = {
    "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "tiff": "image/tiff",
    "bmp": "image/bmp", "heif": "image/heif", "ico": "image/vnd.microsoft.icon", "mp4": "video/mp4",
    "matroska": "video/x-matroska", "avi": "video/x-msvideo", "flv": "video/x-flv", "asf": "video/x-ms-asf",
    "mpeg": "video/mpeg", "mpegts": "video/mp2t",
}


def case_records(case_dir: Path, *, scheme: str | None = None, only_media: bool = True) -> Iterator[EntryRecord]:
    """Records for a VICS `#Cases` export of a scan: one Media per distinct MD5, one MediaFiles entry per instance.

    Reads `case_dir/report.json` streamed. VICS keys Media by content (MD5) and lists each place the content was
    found under MediaFiles, so items are grouped by MD5 through a temporary SQLite file (constant memory on any
    scan), in order of first appearance. The category is that of the first alert match with one (of `scheme`, when
    given: pass the output's scheme so that a match graded under another scheme is exported uncategorised rather
    than refused). `only_media`: only images, videos and items that matched something. All records share one
    `attributes["_case"]` naming the case, with a CaseID derived from the case name and its sources.

    Raises:
        FormatError: report.json is missing, malformed or truncated.
    """
    report_path = Path(case_dir) / "report.json"
    try:
        fp = open(report_path, "rb")
    except OSError as exc:
        raise FormatError(f"cannot read the scan report: {exc.strerror or exc}", str(report_path)) from exc
    with fp, tempfile.TemporaryDirectory(prefix="hashwarden-vics-") as tmp:
        top = _report_header(fp, str(report_path))
        case_name = str(top.get("case") or Path(case_dir).name)
        sources = {s.get("index"): s.get("path") for s in top.get("sources") or [] if isinstance(s, dict)}
        tool = top.get("tool") if isinstance(top.get("tool"), dict) else {}
        seed = json.dumps([case_name, [sources[k] for k in sorted(sources, key=str)]])
        header = {
            "CaseID": str(uuid.uuid5(uuid.NAMESPACE_URL, "hashwarden-case:" + seed)),
            "CaseNumber": case_name,
            "SourceApplicationName": "hashwarden",
            "SourceApplicationVersion": str(tool.get("version") or hashwarden_version()),
        }
        db = sqlite3.connect(os.path.join(tmp, "group.db"))
        try:
            db.execute("CREATE TABLE item (seq INTEGER PRIMARY KEY, md5 TEXT NOT NULL, body TEXT NOT NULL)")
            db.execute("CREATE TABLE first (md5 TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
            fp.seek(0)
            progress = js.Progress(0)
            seq = 0
            try:
                for item in js.items(fp, 0, "items.item", progress):
                    seq += 1
                    if not isinstance(item, dict) or not item.get("md5"):
                        continue
                    if only_media and item.get("media") not in MEDIA_KINDS and not item.get("matches"):
                        continue
                    md5 = str(item["md5"]).lower()
                    db.execute("INSERT INTO item VALUES (?, ?, ?)", (seq, md5, json.dumps(item)))
                    db.execute("INSERT OR IGNORE INTO first VALUES (?, ?)", (md5, seq))
            except (js.Broken, js.TooLarge, js.TooDeep) as exc:
                raise located_error(fp, str(report_path), progress, "items.item", exc) from None
            rows = db.execute("SELECT f.seq, i.body FROM item i JOIN first f ON f.md5 = i.md5 ORDER BY f.seq, i.seq")
            group: list[dict[str, Any]] = []
            group_seq = None
            number = 0
            for first_seq, body in rows:
                if group and first_seq != group_seq:
                    number += 1
                    yield _scan_record(group, number, group_seq, header, sources, scheme, str(report_path))
                    group = []
                group_seq = first_seq
                group.append(json.loads(body))
            if group:
                number += 1
                yield _scan_record(group, number, group_seq, header, sources, scheme, str(report_path))
        finally:
            db.close()


def _report_header(fp: BinaryIO, path: str) -> dict[str, Any]:
    """The report's top-level members before `items` (case, tool, sources), built from parse events."""
    top: dict[str, Any] = {}
    key = None
    builder: ObjectBuilder | None = None
    depth = 0
    try:
        for prefix, kind, value in ijson.parse(js.GuardedReader(fp), use_float=True):
            if builder is not None:
                builder.event(kind, value)
                depth += {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}.get(kind, 0)
                if depth == 0:
                    top[key] = builder.value
                    builder = None
                continue
            if prefix == "" and kind == "map_key":
                if value == "items":
                    break
                if value in ("case", "tool", "sources"):
                    key, builder, depth = value, ObjectBuilder(), 0
            elif prefix == "" and kind not in ("start_map", "end_map"):
                raise FormatError("not a hashwarden report.json: the top level is not an object", path)
    except ijson.JSONError as exc:
        raise FormatError(f"not valid JSON ({js.yajl_reason(exc)})", path) from exc
    except js.TooDeep as exc:
        raise FormatError(exc.message(), path, offset=exc.offset) from None
    return top


def _scan_record(group: list[dict[str, Any]], number: int, first_seq: int | None, header: dict[str, Any],
                 sources: dict[Any, Any], scheme: str | None, where: str) -> EntryRecord:
    item = group[0]
    md5 = str(item["md5"]).lower()
    category = category_scheme = set_name = None
    for match in item.get("matches") or []:
        if match.get("kind") == "alert" and match.get("category") is not None:
            if scheme is None or match.get("scheme") == scheme:
                category, category_scheme, set_name = str(match["category"]), match.get("scheme"), match.get("set")
                break
    files = []
    for instance in group:
        item_path = str(instance.get("path") or "")
        carved = bool(instance.get("carved"))
        entry = {
            "MD5": md5.upper(),
            "FileName": item_path.replace("\\", "/").rsplit("/", 1)[-1],
            "FilePath": item_path,
            "SourceID": str(instance.get("source")),
            "Deleted": flag_out(bool(instance.get("deleted")) or carved),
            "Unallocated": flag_out(carved),
        }
        if sources.get(instance.get("source")):
            entry["SourcePath"] = sources[instance.get("source")]
        files.append(entry)
    media = item.get("media")
    attributes: dict[str, Any] = {}
    mime = _MIME.get(item.get("format") or "") or (media if media in MEDIA_KINDS else None)
    if mime:
        attributes["MimeType"] = mime
    attributes["IsPrecategorized"] = flag_out(category is not None)
    if set_name:
        attributes["PrecategorizationSource"] = f"hashwarden set {set_name}"
    attributes["MediaFiles"] = files
    attributes[CASE_KEY] = header
    return EntryRecord(
        md5=md5, sha1=item.get("sha1"), sha256=item.get("sha256"), pdq=item.get("pdq"),
        pdq_quality=item.get("pdq_quality"), media=media, size=item.get("size"), category=category,
        category_scheme=category_scheme, media_id=str(number), provenance=f"{where}:{first_seq}",
        attributes=attributes, line=number,
    )
