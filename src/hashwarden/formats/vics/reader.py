"""VICS reading: one `EntryRecord` per Media of a file (1.x or 2.0, #Media or #Cases), streamed.

Reading is streamed in constant memory with ijson's C backend (files reach many GB):

* `#Media`: one pass; the C parser builds each Media, Python only maps it.
* `#Cases`: a case's own fields may follow its (huge) Media array, so a structure pass runs ahead on the same file
  and hands each case's fields and Media count to the record pass. Both are streamed; a non-seekable input is
  first spooled to a temporary file.
* The data-model key may come after `value`: it is looked for in the first 64 KiB, then at the end of the file.

Decisions on ambiguous input (each is tested):

* Unknown data-model version, or none at all: read leniently, with a warning. A shape the structure contradicts
  (`#Media` whose items hold a `Media` array): the structure wins, with a warning.
* Categories: stored as the code (a string) plus its scheme, from the versioned `categories.json` (region US ->
  `vics-us`, Default -> `vics-default`, UK -> `vics-uk`, 1.x -> `vics-us`). Null or absent is uncategorised. A code
  outside a closed scheme is a FormatError naming the record and the schemes that do have the code (a NIST CAID set,
  `Category: 8`, is imported with `scheme="nist-caid"`). A CUSTOM or unknown region declares no scheme we know:
  any non-null Category there is a FormatError naming the field, unless the caller passes `scheme=`; uncategorised
  entries import fine. Codes of an open scheme (`vics-uk`, whose list is not public) are kept, with a warning.
* `Miniature` (a thumbnail, that is imagery) and `Thumbnail` are never stored or exported, at any depth; they are
  counted in `report.dropped` by field name.
* Duplicate MediaIDs: a warning, not an error. A MediaID is only a key inside one file (per case in `#Cases`), and
  hashwarden keys entries by hash, so refusing a 30-million-row national list over one repeated local ID would help
  nobody. Small integer IDs are tracked in a bitmap (an ID per bit), others compactly, so tens of millions fit.
* Records with no MD5, SHA1, SHA256 or PDQ (PhotoDNA-only ones) are skipped, with a count in the warnings:
  hashwarden cannot match on them.
* Flags (`VictimIdentified`, `OffenderIdentified`, `IsDistributed`): JSON booleans or "true"/"false" in any case,
  null or "" for unknown; anything else is an error. `MediaSize`: integer or digit string.
* `DateUpdated`: any ISO 8601 form (also the `+01:00Z` some writers emit) is normalised to UTC `...Z`. When that
  changes the text, or the text is not a date, the original stays in `attributes["DateUpdated"]` and is what
  export writes back.
* PhotoDNA: the 2.0 `PhotoDNA` field or the first `AlternativeHashes` entry named PhotoDNA (1.3); kept opaque and
  written back the same way (field in 2.0, AlternativeHashes in 1.3). PDQ has no VICS field in any public source:
  hashwarden reads `PDQ` (and `PDQQuality`) as direct fields or an `AlternativeHashes` entry named PDQ, and writes
  the direct fields, as it does `SHA256`.
* Limits (config.py): a record over 32 MiB (`MAX_JSON_RECORD_BYTES`) is refused before it is held in memory,
  and a text field (Comments, Series, Tags, PhotoDNA) over 1 MiB (`MAX_VICS_TEXT_CHARS`) is refused, each naming
  the record and the field. JSON nested more than 64 levels (`MAX_JSON_DEPTH`), at any place in the file, is
  refused with its byte offset before the parser sees it: ijson's memory grows with the square of the depth.
* A broken file (truncated, or not JSON) is a FormatError with the exact byte where it broke, the field being read,
  and how many records before it were complete (with the byte where the last one ended).

Every other field (MediaFiles, Exifs, MediaMetadata, RelativeFilePath, MimeType, IsPrecategorized, OData links, ...)
is kept in `EntryRecord.attributes` and written back on export, so import -> export -> import is lossless. In a
`#Cases` file each record also carries its case's own fields (all but `Media`) as `attributes["_case"]`: one dict
shared by the records of that case, which the writer uses to rebuild the cases. Treat it as read-only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from ijson.common import ObjectBuilder

from hashwarden.config import MAX_JSON_RECORD_BYTES
from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats import _jsonstream as js
from hashwarden.formats.categories import Profile, Scheme, load_profile
from hashwarden.formats.vics.converter import Converter
from hashwarden.formats.vics.header import Head, sniff
from hashwarden.formats.vics.imagery import scrub
from hashwarden.formats.vics.model import MODEL_KEYS, MODEL_RE
from hashwarden.store.records import EntryRecord

def _seekable(fp: BinaryIO) -> tuple[BinaryIO, bool]:
    """`fp` itself when it can seek, else a temporary copy (the #Cases reader and error location read twice)."""
    try:
        if fp.seekable():
            return fp, False
    except (AttributeError, OSError):
        pass
    spool = tempfile.TemporaryFile()
    shutil.copyfileobj(fp, spool, 1 << 20)
    spool.seek(0)
    return spool, True


def read(
    fp: BinaryIO, path: str, report: ReadReport | None = None, *, scheme: str | None = None,
    profile: Profile | None = None,
) -> Iterator[EntryRecord]:
    """Yield one EntryRecord per Media of a VICS file (1.x or 2.0, #Media or #Cases), streamed.

    `scheme` overrides the category scheme the file's version and region imply (needed for NIST CAID sets, which
    use the plain 1.2 model with `Category: 8`, and for CUSTOM files). `report` receives the warnings, the dropped
    imagery fields and `meta` (data_model, vics_version, region, shape, category_scheme, category_profile,
    records, cases).

    Raises:
        FormatError: malformed or truncated JSON, an invalid field, a category code the scheme does not have; each
            names the file, the record number or byte offset, and the field.
    """
    report = report if report is not None else ReadReport()
    profile = profile or load_profile()
    fp, spooled = _seekable(fp)
    try:
        head = sniff(fp, path)
        version = region = fragment = None
        if head.model is None:
            report.warnings.append("no odata.metadata or @odata.context key: VICS version unknown, read leniently")
        else:
            found = MODEL_RE.search(head.model)
            if found is None:
                report.warnings.append(f"{head.model_key} {head.model!r} names no VICS data model; read leniently")
            else:
                version, region, fragment = found.group("version", "region", "fragment")
                if version not in profile.vics:
                    known = ", ".join(profile.vics_versions())
                    report.warnings.append(f"VICS data model {version} is not one hashwarden knows ({known}); "
                                           "read leniently")
        shape = _shape(fragment, head, report)
        chosen, reason = _choose_scheme(profile, scheme, version, region)
        report.meta.update({
            "format": "vics", "data_model": head.model, "vics_version": version, "region": region, "shape": shape,
            "category_scheme": chosen.name if chosen else None, "category_profile": profile.version,
        })
        converter = Converter(path, report, chosen, reason, profile)
        if shape == "cases":
            yield from _read_cases(fp, path, head, converter, report)
        else:
            yield from _read_media(fp, path, head, converter)
        converter.finish()
    finally:
        if spooled:
            fp.close()


def _shape(fragment: str | None, head: Head, report: ReadReport) -> str:
    declared = {"media": "media", "cases": "cases"}.get((fragment or "").lower())
    keys = head.item_keys
    seen = "cases" if ("Media" in keys or "CaseID" in keys) else "media" if keys & {"MD5", "SHA1", "MediaID"} else None
    if declared and seen and declared != seen:
        report.warnings.append(f"the data model says #{fragment} but the records are {seen}; read as #{seen.title()}")
        return seen
    if fragment and not declared:
        report.warnings.append(f"unknown VICS shape #{fragment}; read as #{(seen or 'media').title()}")
    return declared or seen or "media"


def _choose_scheme(profile: Profile, scheme: str | None, version: str | None,
                   region: str | None) -> tuple[Scheme | None, str]:
    if scheme is not None:
        return profile.scheme(scheme), ""
    name, _ = profile.vics_scheme(version, region)
    if name is not None:
        return profile.scheme(name), ""
    if version is None:
        return None, f"the file declares no VICS data model ({' or '.join(MODEL_KEYS)})"
    if region:
        return None, (f"VICS {version} region {region} defines its own category codes, unknown to category profile "
                      f"version {profile.version}")
    return None, f"VICS {version} without a region has no category scheme in profile version {profile.version}"


def located_error(fp: BinaryIO, path: str, progress: js.Progress, prefix: str,
             exc: js.Broken | js.TooLarge | js.TooDeep) -> FormatError:
    if isinstance(exc, js.TooDeep):  # exact already; a replay would feed the parser the depth it must not see
        return FormatError(exc.message(), path, offset=exc.offset)
    loc = js.locate(fp, progress, prefix, exc)
    offset = loc.offset
    if isinstance(exc, js.TooLarge):
        message = (f"record {loc.records + 1} is over the {MAX_JSON_RECORD_BYTES >> 20} MiB limit per record "
                   "(no hash-list entry comes near it); refused before reading it whole")
        if loc.last_end is not None:
            offset = loc.last_end  # where the oversized record begins
    elif exc.at_eof:
        message = f"the file ends inside the JSON document: truncated ({loc.reason})"
    else:
        message = f"the JSON is malformed here ({loc.reason})"
    before = "the record before is" if loc.records == 1 else f"the {loc.records} records before are"
    if loc.records and loc.last_end is not None:
        message += f"; {before} complete, the last one ending at byte {loc.last_end}"
    elif loc.records:
        message += f"; {before} complete"
    else:
        message += "; no complete record before it"
    return FormatError(message, path, loc.records + 1, offset=offset, field=loc.field)


def _read_media(fp: BinaryIO, path: str, head: Head, converter: Converter) -> Iterator[EntryRecord]:
    progress = js.Progress(head.start)
    number = 0
    try:
        for obj in js.items(fp, head.start, "value.item", progress, MAX_JSON_RECORD_BYTES):
            number += 1
            record = converter.record(obj, number, None)
            if record is not None:
                yield record
    except (js.Broken, js.TooLarge, js.TooDeep) as exc:
        raise located_error(fp, path, progress, "value.item", exc) from None
    if number == 0 and not head.value_seen:
        raise FormatError("no 'value' array of Media: not a VICS document", path, field="value")


_MEDIA_ITEM = "value.item.Media.item"
_END_MEDIA_ITEM = (_MEDIA_ITEM, "end_map", None)
_END_MEDIA_ARRAY = ("value.item.Media", "end_array", None)


def _read_cases(fp: BinaryIO, path: str, head: Head, converter: Converter,
                report: ReadReport) -> Iterator[EntryRecord]:
    ahead = js.Progress(head.start)  # the structure pass (counts Media as it goes)
    behind = js.Progress(head.start)  # the record pass
    structure = _case_structure(fp, head.start, ahead, path, report)
    media = js.items(fp, head.start, _MEDIA_ITEM, behind, limit=1 << 62)
    number = cases = 0
    while True:
        try:
            case = next(structure, None)
        except (js.Broken, js.TooLarge, js.TooDeep) as exc:
            raise located_error(fp, path, ahead, _MEDIA_ITEM, exc) from None
        if case is None:
            break
        header, count = case
        cases += 1
        converter.new_case()
        for _ in range(count):
            try:
                obj = next(media)
            except StopIteration:
                raise FormatError("the Media of a case could not be read back (did the file change while it was "
                                  "read?)", path, number + 1) from None
            except (js.Broken, js.TooLarge, js.TooDeep) as exc:
                raise located_error(fp, path, behind, _MEDIA_ITEM, exc) from None
            number += 1
            record = converter.record(obj, number, header)
            if record is not None:
                yield record
    if cases == 0 and not head.value_seen:
        raise FormatError("no 'value' array of Cases: not a VICS document", path, field="value")
    report.meta["cases"] = cases


def _case_structure(fp: BinaryIO, start: int, progress: js.Progress, path: str,
                    report: ReadReport) -> Iterator[tuple[dict[str, Any], int]]:
    """Yield (case fields without Media, number of Media) per Case, from parse events, without building any Media.

    Inside a Media array (nearly all events), a chunk's events are counted in C with `list.count`; only case-level
    events are looked at one by one.

    Raises:
        js.Broken, js.TooLarge, js.TooDeep: as `js.items`; FormatError for a Case that is not an object.
    """
    in_media = expect_media = False
    header: dict[str, Any] | None = None
    count = 0
    member: str | None = None
    builder: ObjectBuilder | None = None
    depth = 0
    last_case_end = start
    for base, end, batch in js.events(fp, start, progress):
        done: list[tuple[dict[str, Any], int]] = []
        ends = 0
        if in_media and _END_MEDIA_ARRAY not in batch:
            ends = batch.count(_END_MEDIA_ITEM)
            count += ends
        else:
            for event in batch:
                prefix, kind, value = event
                if in_media:
                    if kind == "end_map" and prefix == _MEDIA_ITEM:
                        count += 1
                        ends += 1
                    elif kind == "end_array" and prefix == "value.item.Media":
                        in_media = False
                    continue
                if member is not None:
                    builder.event(kind, value)
                    if kind in ("start_map", "start_array"):
                        depth += 1
                    elif kind in ("end_map", "end_array"):
                        depth -= 1
                    if depth == 0:
                        header[member] = builder.value
                        member = None
                    continue
                if expect_media:
                    expect_media = False
                    if kind == "start_array" and prefix == "value.item.Media":
                        in_media = True
                        continue
                if prefix != "value.item":
                    continue  # top level: the data model key was read by sniff
                if kind == "map_key":
                    if value == "Media":
                        expect_media = True
                    else:
                        member, builder, depth = value, ObjectBuilder(), 0
                elif kind == "start_map":
                    header, count = {}, 0
                elif kind == "end_map":
                    scrub(header, report.dropped)
                    done.append((header, count))
                    header = None
                else:
                    raise FormatError(f"a Case must be a JSON object, not a {kind}", path, offset=base)
        if ends:
            progress.completed(base, end, ends)
        if done:
            last_case_end = end
        elif not ends and end - max(progress.idle, last_case_end) > MAX_JSON_RECORD_BYTES:
            raise js.TooLarge(base, end)
        yield from done
