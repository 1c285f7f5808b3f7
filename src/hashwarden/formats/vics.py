"""VICS (Project VIC) JSON: read hash sets and case exports of data model 1.x and 2.0; write 2.0 or 1.3.

A VICS file is one OData JSON object. Its data-model key (`odata.metadata` in 1.x, `@odata.context` in 2.0) names
the version, the region (2.0 only: Default, US, UK, CUSTOM) and the shape: `#Media` is a flat `value` array of
Media (how national hash sets ship), `#Cases` is a `value` array of Cases, each with a `Media` array (how tools
exchange case exports). The normative `$metadata` is not public, so this module follows the files and tools that
exist (see the research brief §1) and is lenient where they disagree, strict where a mistake would change meaning.

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
* Limits: a record over 32 MiB (`MAX_RECORD_BYTES`) is refused before it is held in memory, and a text field
  (Comments, Series, Tags, PhotoDNA) over 1 MiB is refused, each naming the record and the field. JSON nested
  more than 64 levels (`MAX_DEPTH`), at any place in the file, is refused with its byte offset before the parser
  sees it: ijson's memory grows with the square of the depth.
* A broken file (truncated, or not JSON) is a FormatError with the exact byte where it broke, the field being read,
  and how many records before it were complete (with the byte where the last one ended).

Every other field (MediaFiles, Exifs, MediaMetadata, RelativeFilePath, MimeType, IsPrecategorized, OData links, ...)
is kept in `EntryRecord.attributes` and written back on export, so import -> export -> import is lossless. In a
`#Cases` file each record also carries its case's own fields (all but `Media`) as `attributes["_case"]`: one dict
shared by the records of that case, which the writer uses to rebuild the cases. Treat it as read-only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import ijson
from ijson.common import ObjectBuilder
from ijson.utils import sendable_list

from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats import ReadReport
from hashwarden.formats import _jsonstream as js
from hashwarden.formats.categories import Profile, Scheme, load_profile
from hashwarden.signals import MD5, PDQ, SHA1, SHA256
from hashwarden.store.records import EntryRecord

__all__ = ["CASE_KEY", "MAX_DEPTH", "MAX_RECORD_BYTES", "MAX_TEXT_CHARS", "case_records", "read", "write"]

MAX_RECORD_BYTES = js.MAX_RECORD_BYTES
MAX_DEPTH = js.MAX_DEPTH
MAX_TEXT_CHARS = 1024 * 1024  # Comments, Series, Tags, PhotoDNA: an analyst's note is never a megabyte
CASE_KEY = "_case"  # attributes key holding a #Cases record's case fields
IMAGERY_FIELDS = frozenset({"miniature", "thumbnail"})  # lower-case: never stored, never exported

MODEL_KEYS = ("@odata.context", "odata.metadata")  # 2.0, 1.x
WRITE_VERSIONS = ("2.0", "1.3")
WRITE_REGIONS = ("Default", "US", "UK", "CUSTOM")
SHAPES = ("media", "cases")
_MODEL_URI = {
    "1.3": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#{fragment}",
    "2.0": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{region}/$metadata#{fragment}",
}
_MODEL_RE = re.compile(
    r"/DataModels/(?P<version>\d+(?:\.\d+)*)\.xml(?:/(?P<region>[^/#$]+))?(?:/\$metadata)?(?:#(?P<fragment>\w+))?",
    re.IGNORECASE,
)
_TAIL_RE = re.compile(
    rb'"(odata\.metadata|@odata\.context)"\s*:\s*"((?:[^"\\]|\\.)*)"'
    rb'(?:\s*,\s*"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[-+.\w]+))*\s*\}\s*\Z'
)
_HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"

# Media fields mapped onto EntryRecord columns; everything else goes to attributes.
_MAPPED = (
    "MediaID", "Category", "MD5", "SHA1", "SHA256", "PDQ", "PDQQuality", "PhotoDNA", "MediaSize", "DateUpdated",
    "VictimIdentified", "OffenderIdentified", "IsDistributed", "Series", "Tags", "Comments",
)
_LOWER = {name.lower(): name for name in _MAPPED}
# Keys needing no per-key check (mapped, or plain scalars seen in real files): the rest are checked for case
# variants of mapped names and for nested imagery.
_PLAIN = frozenset(_MAPPED) | {
    "MimeType", "IsPrecategorized", "IsSuspected", "PrecategorizationSource", "RelativeFilePath", "odata.id",
    "odata.editLink", "Name", "FileName", "MediaFiles@odata.navigationLinkUrl", "Exifs@odata.navigationLinkUrl",
    "AlternativeHashes@odata.navigationLinkUrl",
}
_MEDIA_KINDS = ("image", "video")


class _Bad(Exception):
    """A field of one record is invalid (turned into a FormatError with file and record number)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


# --------------------------------------------------------------------------------------------------- field parsing


def _type_name(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", int: "a number", float: "a number", str: "a string",
                                         list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


_HEX_FULL = {n: re.compile(f"[0-9a-fA-F]{{{n}}}").fullmatch for n in (32, 40, 64)}
_FLAG_TEXT = {"true": True, "false": False, "": None, "True": True, "False": False, "TRUE": True, "FALSE": False}
_MISSING = object()


def _digest(signal: Any, length: int, value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) == length and _HEX_FULL[length](value):
            return value.lower()  # the common case, without the signal's general (slower) path
        if len(value) > 300:
            raise _Bad(name, f"not a {signal.name} hash: {len(value)} characters")
        try:
            return signal.validate(value)
        except InvalidSignal as exc:
            raise _Bad(name, str(exc)) from None
    raise _Bad(name, f"must be a hex string, not {_type_name(value)}")


def _flag(value: Any, name: str) -> bool | None:
    if value is None or value is True or value is False:
        return value
    if type(value) is str:
        found = _FLAG_TEXT.get(value, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        text = value.strip().lower()
        if text in _FLAG_TEXT:
            return _FLAG_TEXT[text]
    shown = repr(value) if len(repr(value)) < 40 else _type_name(value)
    raise _Bad(name, f"a flag must be true, false or null, not {shown}")


def _count(value: Any, name: str, upper: int | None = None) -> int | None:
    """A non-negative integer given as a JSON number or a digit string ('' and null: unknown)."""
    kind = type(value)
    if value is None:
        return None
    if kind is int:
        number = value
    elif kind is str and (value.strip() == "" or (value.strip().isascii() and value.strip().isdigit())):
        if value.strip() == "":
            return None
        number = int(value.strip())
    elif kind is float and value.is_integer():
        number = int(value)
    else:
        raise _Bad(name, f"must be a non-negative integer, not {_type_name(value)} {str(value)[:40]!r}")
    if number < 0 or (upper is not None and number > upper):
        raise _Bad(name, f"out of range: {number}")
    return number


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) > MAX_TEXT_CHARS:
            raise _Bad(name, f"{len(value)} characters, over the {MAX_TEXT_CHARS}-character limit for a text field")
        return value
    if type(value) in (int, float):
        return str(value)
    raise _Bad(name, f"must be a string, not {_type_name(value)}")


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if type(value) is str:
        if len(value) > MAX_TEXT_CHARS:
            raise _Bad("Tags", f"{len(value)} characters, over the {MAX_TEXT_CHARS}-character limit for a text field")
        return [tag for tag in (part.strip() for part in value.split(",")) if tag]
    if type(value) is list and all(type(tag) is str for tag in value):  # not VICS, but seen; split like the string
        return [tag for tag in (part.strip() for item in value for part in item.split(",")) if tag]
    raise _Bad("Tags", f"must be a comma-delimited string, not {_type_name(value)}")


def _category_code(value: Any) -> str | None:
    kind = type(value)
    if kind is int and value >= 0:
        return str(value)
    if kind is str:
        text = value.strip()
        if text == "":
            return None
        if text.isascii() and text.isdigit():
            return str(int(text))
    if kind is float and value.is_integer() and value >= 0:
        return str(int(value))
    raise _Bad("Category", f"must be a non-negative integer code or null, not {_type_name(value)} {str(value)[:40]!r}")


_UTC = timezone.utc
_CODES = [str(code) for code in range(256)]


@lru_cache(maxsize=4096)
def _normal_date(text: str) -> tuple[str | None, bool]:
    """(UTC ISO 8601 with Z, whether that equals `text`), or (None, False) when `text` is not a date.

    A time without a zone is taken as UTC; `+01:00Z` (an invalid form one X-Ways X-Tension wrote) as `+01:00`.
    """
    value = text.strip()
    if len(value) > 64:
        return None, False
    if len(value) > 7 and value.endswith("Z") and value[-7] in "+-" and value[-4] == ":":
        value = value[:-1]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    moment = moment.astimezone(_UTC).replace(tzinfo=None)
    micro = moment.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    out = moment.isoformat(timespec=spec) + "Z"
    return out, out == text


def _scrub(value: Any, dropped: Counter[str]) -> None:
    """Remove imagery keys from nested objects, in place (iterative: JSON nesting can be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key in [k for k in item if k.lower() in IMAGERY_FIELDS]:
                del item[key]
                dropped[key] += 1
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))


def _has_imagery(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if any(k.lower() in IMAGERY_FIELDS for k in item):
                return True
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))
    return False


# ------------------------------------------------------------------------------------------------- MediaID tracking


class _MediaIds:
    """Seen MediaIDs in little memory: a bitmap for small non-negative integers (the usual 1..N, one bit each), an
    int64 array sorted at the end for other integers (8 bytes each), a set for the first string IDs (rare in
    practice) and, past that, their 64-bit hashes in the array of hashes."""

    SMALL = 1 << 27  # bitmap of at most 16 MiB
    STRINGS = 100_000

    def __init__(self) -> None:
        self.bits = bytearray()
        self.big = array("q")
        self.hashed = array("q")
        self.strings: set[str] = set()
        self.duplicates = 0
        self.examples: list[str] = []

    def add(self, media_id: int | str, number: int) -> None:
        if type(media_id) is int and 0 <= media_id < self.SMALL:
            index, bit = media_id >> 3, 1 << (media_id & 7)
            bits = self.bits
            if index >= len(bits):
                bits.extend(bytes(max(index + 1 - len(bits), len(bits))))
            if bits[index] & bit:
                self._duplicate(f"MediaID {media_id} at record {number}")
            else:
                bits[index] |= bit
        elif type(media_id) is int:
            self.big.append(media_id)
        elif media_id in self.strings:
            self._duplicate(f"MediaID {media_id!r} at record {number}")
        elif len(self.strings) < self.STRINGS:
            self.strings.add(media_id)
        else:
            self.hashed.append(hash(media_id))

    def _duplicate(self, example: str) -> None:
        self.duplicates += 1
        if len(self.examples) < 5:
            self.examples.append(example)

    def finish(self) -> None:
        """Count the duplicates among the integers kept in arrays (sorted in place, no copy)."""
        import numpy as np

        for values, label in ((self.big, "MediaID {}"), (self.hashed, "a string MediaID")):
            if len(values) < 2:
                continue
            ids = np.frombuffer(values, dtype=np.int64)
            ids.sort()
            repeated = ids[1:][ids[1:] == ids[:-1]]
            for value in repeated[: max(0, 5 - len(self.examples))]:
                self.examples.append(label.format(int(value)))
            self.duplicates += len(repeated)
        self.big, self.hashed = array("q"), array("q")


# ---------------------------------------------------------------------------------------------------- the mapping


class _Converter:
    """Maps Media objects onto EntryRecords and keeps the counts the warnings report at the end."""

    def __init__(self, path: str, report: ReadReport, scheme: Scheme | None, no_scheme_reason: str,
                 profile: Profile) -> None:
        self.path = path
        self.report = report
        self.dropped = report.dropped
        self.scheme = scheme
        self.no_scheme_reason = no_scheme_reason
        self.profile = profile
        self.known_codes: set[str] = set(scheme.labels) if scheme else set()
        self.unlabelled: set[str] = set()
        self.ids = _MediaIds()
        self.duplicates = 0
        self.id_examples: list[str] = []
        self.bad_dates = 0
        self.hashless = 0
        self.records = 0

    def new_case(self) -> None:
        """MediaIDs are unique per case in a #Cases file."""
        self._close_ids()
        self.ids = _MediaIds()

    def _close_ids(self) -> None:
        self.ids.finish()
        self.duplicates += self.ids.duplicates
        self.id_examples.extend(self.ids.examples[: max(0, 5 - len(self.id_examples))])

    def record(self, obj: Any, number: int, case: dict[str, Any] | None) -> EntryRecord | None:
        """The EntryRecord for Media `obj` (record `number`), or None when it has no hash we can match on.

        Raises:
            FormatError: an invalid field, naming it and the record.
        """
        if type(obj) is not dict:
            raise FormatError(f"a Media record must be a JSON object, not {_type_name(obj)}", self.path, number)
        media_id: Any = None
        try:
            if not _PLAIN.issuperset(obj):
                self._tidy(obj, obj.keys() - _PLAIN)
            pop = obj.pop
            media_id = pop("MediaID", None)
            if media_id is not None:
                kind = type(media_id)
                if kind is float and media_id.is_integer():
                    media_id = int(media_id)
                elif kind is not int and kind is not str:
                    raise _Bad("MediaID", f"must be an integer or a string, not {_type_name(media_id)}")
                if media_id == "":
                    media_id = None
                else:
                    self.ids.add(media_id, number)
                    media_id = str(media_id)
            # Pop every mapped field first: what stays in `obj` is the attributes. Calls are skipped for absent
            # fields, the usual case for most of them (this loop runs tens of millions of times).
            md5, sha1, sha256, pdq = pop("MD5", None), pop("SHA1", None), pop("SHA256", None), pop("PDQ", None)
            quality, photodna, category = pop("PDQQuality", None), pop("PhotoDNA", None), pop("Category", None)
            date, size = pop("DateUpdated", None), pop("MediaSize", None)
            victim, offender = pop("VictimIdentified", None), pop("OffenderIdentified", None)
            distributed, series = pop("IsDistributed", None), pop("Series", None)
            tags, comments = pop("Tags", None), pop("Comments", None)
            if md5 is not None:
                md5 = _digest(MD5, 32, md5, "MD5")
            if sha1 is not None:
                sha1 = _digest(SHA1, 40, sha1, "SHA1")
            if sha256 is not None:
                sha256 = _digest(SHA256, 64, sha256, "SHA256")
            if pdq is not None:
                pdq = _digest(PDQ, 64, pdq, "PDQ")
            if quality is not None:
                quality = _count(quality, "PDQQuality", 100)
            if photodna is not None:
                photodna = _text(photodna, "PhotoDNA")
            if (photodna is None or pdq is None) and "AlternativeHashes" in obj:
                photodna, pdq = self._alternative_hashes(obj, photodna, pdq)
            if category is not None:
                category = _CODES[category] if type(category) is int and 0 <= category < 256 else \
                    _category_code(category)
                if category is not None and category not in self.known_codes:
                    self._check_code(category)
            if date is not None:
                if date == "":
                    date = None
                else:
                    original = date
                    date, exact = _normal_date(date) if type(date) is str else (None, False)
                    if date is None:
                        self.bad_dates += 1
                    if not exact:
                        obj["DateUpdated"] = original
            if size is not None and type(size) is not int:
                size = _count(size, "MediaSize")
            elif size is not None and size < 0:
                raise _Bad("MediaSize", f"out of range: {size}")
            if victim is not None:
                victim = _flag(victim, "VictimIdentified")
            if offender is not None:
                offender = _flag(offender, "OffenderIdentified")
            if distributed is not None:
                distributed = _flag(distributed, "IsDistributed")
            if series is not None:
                series = _text(series, "Series")
            tags = _tags(tags) if tags is not None else []
            if comments is not None:
                comments = _text(comments, "Comments")
        except _Bad as exc:
            where = f" (MediaID {media_id})" if media_id is not None and exc.field != "MediaID" else ""
            raise FormatError(exc.message + where, self.path, number, field=exc.field) from None
        if md5 is None and sha1 is None and sha256 is None and pdq is None:
            self.hashless += 1
            return None
        mime = obj.get("MimeType")
        media = None
        if type(mime) is str and mime:
            major = mime.split("/", 1)[0].strip().lower()
            media = major if major in _MEDIA_KINDS else "other"
        if case is not None:
            obj[CASE_KEY] = case
        self.records += 1
        return EntryRecord(
            md5=md5, sha1=sha1, sha256=sha256, pdq=pdq, pdq_quality=quality, media=media, size=size,
            category=category, series=series, victim_identified=victim, offender_identified=offender,
            is_distributed=distributed, tags=tags, comments=comments, date_updated=date,
            provenance=f"{self.path}:{number}",
            category_scheme=self.scheme.name if category is not None and self.scheme else None,
            media_id=media_id, photodna=photodna, attributes=obj, line=number,
        )

    def _tidy(self, obj: dict[str, Any], extra: set[str]) -> None:
        """Rename case variants of mapped fields ("md5"), drop imagery at any depth."""
        for key in extra:
            low = key.lower()
            if low in IMAGERY_FIELDS:
                del obj[key]
                self.dropped[key] += 1
                continue
            canonical = _LOWER.get(low)
            if canonical is not None:
                if canonical in obj:
                    raise _Bad(key, f"field given twice, as {canonical!r} and {key!r}")
                obj[canonical] = obj.pop(key)
                continue
            value = obj[key]
            if type(value) is list or type(value) is dict:
                _scrub(value, self.dropped)

    @staticmethod
    def _alternative_hashes(
        obj: dict[str, Any], photodna: str | None, pdq: str | None
    ) -> tuple[str | None, str | None]:
        """Take the first PhotoDNA and PDQ entries of AlternativeHashes (1.3) into their own fields."""
        hashes = obj["AlternativeHashes"]
        if type(hashes) is not list:
            return photodna, pdq
        rest = []
        took = False
        for entry in hashes:
            if type(entry) is dict and type(entry.get("HashName")) is str:
                name = entry["HashName"].strip().lower()
                value = entry.get("HashValue")
                if name == "photodna" and photodna is None and type(value) is str and value:
                    photodna = _text(value, "AlternativeHashes[].HashValue")
                    took = True
                    continue
                if name == "pdq" and pdq is None and value:
                    pdq = _digest(PDQ, 64, value, "AlternativeHashes[].HashValue")
                    took = True
                    continue
            rest.append(entry)
        if took:
            if rest:
                obj["AlternativeHashes"] = rest
            else:
                del obj["AlternativeHashes"]
        return photodna, pdq

    def _check_code(self, code: str) -> None:
        scheme = self.scheme
        if scheme is None:
            names = ", ".join(sorted(self.profile.schemes))
            raise _Bad("Category", f"{self.no_scheme_reason}, so category code {code} cannot be stored with a meaning; "
                                   f"import with an explicit category scheme (one of {names})")
        if scheme.closed:
            others = [name for name in self.profile.schemes_with(code) if name != scheme.name]
            hint = f"; schemes with code {code}: {', '.join(others)}" if others else ""
            raise _Bad("Category", f"code {code} is not in scheme {scheme.name} "
                                   f"(category profile version {self.profile.version}){hint}")
        self.unlabelled.add(code)
        self.known_codes.add(code)  # checked once per code

    def finish(self) -> None:
        """Append the aggregated warnings (one line each, not one per record)."""
        self._close_ids()
        warn = self.report.warnings.append
        if self.duplicates:
            warn(f"{self.duplicates} duplicate MediaIDs ({', '.join(self.id_examples)}): MediaID is only a key inside "
                 "the file, so the entries were kept")
        if self.bad_dates:
            warn(f"{self.bad_dates} DateUpdated values are not ISO 8601 dates; kept as text in the entry attributes")
        if self.hashless:
            warn(f"{self.hashless} records have no MD5, SHA1, SHA256 or PDQ (PhotoDNA only?) and were skipped: "
                 "hashwarden cannot match on them")
        if self.unlabelled and self.scheme is not None:
            codes = ", ".join(sorted(self.unlabelled, key=lambda c: (len(c), c)))
            warn(f"category codes {codes} have no label in scheme {self.scheme.name} (category profile version "
                 f"{self.profile.version}); stored as given")
        self.report.meta["records"] = self.records
        if self.hashless:
            self.report.meta["skipped_without_hash"] = self.hashless


# ---------------------------------------------------------------------------------------------- header detection


@dataclass
class _Head:
    start: int  # offset of the JSON text (after a BOM)
    model_key: str | None = None
    model: str | None = None
    value_seen: bool = False
    item_keys: set[str] = field(default_factory=set)


def _sniff(fp: BinaryIO, path: str) -> _Head:
    origin = fp.tell()
    data = fp.read(_HEAD_BYTES)
    head = _Head(origin)
    if data.startswith(_BOM):
        data = data[3:]
        head.start += 3
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FormatError("UTF-16 text: VICS files are UTF-8", path, offset=origin)
    if not data.strip():
        raise FormatError("empty file: no VICS document", path, offset=head.start)
    try:
        js.DepthGuard().feed(data)
    except js.TooDeep as exc:
        raise FormatError(exc.message(), path, offset=head.start + exc.offset) from None
    sink = sendable_list()
    coro = ijson.parse_coro(sink, use_float=True)
    try:
        coro.send(data)
    except ijson.JSONError:
        pass  # the main pass reports it, with its exact offset
    top_key = None
    item = 0  # 0: before the first value item, 1: inside it, 2: after it
    for index, (prefix, event, value) in enumerate(sink):
        if index == 0:
            if event != "start_map":
                what = "an array" if event == "start_array" else f"a {event}"
                raise FormatError(f"not a VICS document: the top level is {what}, not an object", path,
                                  offset=head.start)
            continue
        if prefix == "" and event == "map_key":
            top_key = value
        elif event == "string" and prefix == top_key and prefix.lower() in MODEL_KEYS and head.model is None:
            head.model_key, head.model = prefix, value
        elif prefix == "value" and event == "start_array":
            head.value_seen = True
        elif prefix == "value.item" and item < 2:
            if event == "start_map":
                item = 1
            elif event == "map_key":
                head.item_keys.add(value)
            elif event == "end_map":
                item = 2
    if head.model is None:
        fp.seek(0, os.SEEK_END)
        size = fp.tell()
        if size - head.start > len(data):
            fp.seek(max(head.start, size - _HEAD_BYTES))
            found = _TAIL_RE.search(fp.read())
            if found:
                head.model_key = found.group(1).decode()
                head.model = json.loads(b'"' + found.group(2) + b'"')
    fp.seek(head.start)
    return head


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


# --------------------------------------------------------------------------------------------------------- reading


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
        head = _sniff(fp, path)
        version = region = fragment = None
        if head.model is None:
            report.warnings.append("no odata.metadata or @odata.context key: VICS version unknown, read leniently")
        else:
            found = _MODEL_RE.search(head.model)
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
        converter = _Converter(path, report, chosen, reason, profile)
        if shape == "cases":
            yield from _read_cases(fp, path, head, converter, report)
        else:
            yield from _read_media(fp, path, head, converter)
        converter.finish()
    finally:
        if spooled:
            fp.close()


def _shape(fragment: str | None, head: _Head, report: ReadReport) -> str:
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


def _located(fp: BinaryIO, path: str, progress: js.Progress, prefix: str,
             exc: js.Broken | js.TooLarge | js.TooDeep) -> FormatError:
    if isinstance(exc, js.TooDeep):  # exact already; a replay would feed the parser the depth it must not see
        return FormatError(exc.message(), path, offset=exc.offset)
    loc = js.locate(fp, progress, prefix, exc)
    offset = loc.offset
    if isinstance(exc, js.TooLarge):
        message = (f"record {loc.records + 1} is over the {MAX_RECORD_BYTES >> 20} MiB limit per record (no hash-list "
                   "entry comes near it); refused before reading it whole")
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


def _read_media(fp: BinaryIO, path: str, head: _Head, converter: _Converter) -> Iterator[EntryRecord]:
    progress = js.Progress(head.start)
    number = 0
    try:
        for obj in js.items(fp, head.start, "value.item", progress, MAX_RECORD_BYTES):
            number += 1
            record = converter.record(obj, number, None)
            if record is not None:
                yield record
    except (js.Broken, js.TooLarge, js.TooDeep) as exc:
        raise _located(fp, path, progress, "value.item", exc) from None
    if number == 0 and not head.value_seen:
        raise FormatError("no 'value' array of Media: not a VICS document", path, field="value")


_MEDIA_ITEM = "value.item.Media.item"
_END_MEDIA_ITEM = (_MEDIA_ITEM, "end_map", None)
_END_MEDIA_ARRAY = ("value.item.Media", "end_array", None)


def _read_cases(fp: BinaryIO, path: str, head: _Head, converter: _Converter,
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
            raise _located(fp, path, ahead, _MEDIA_ITEM, exc) from None
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
                raise _located(fp, path, behind, _MEDIA_ITEM, exc) from None
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
                    continue  # top level: the data model key was read by _sniff
                if kind == "map_key":
                    if value == "Media":
                        expect_media = True
                    else:
                        member, builder, depth = value, ObjectBuilder(), 0
                elif kind == "start_map":
                    header, count = {}, 0
                elif kind == "end_map":
                    _scrub(header, report.dropped)
                    done.append((header, count))
                    header = None
                else:
                    raise FormatError(f"a Case must be a JSON object, not a {kind}", path, offset=base)
        if ends:
            progress.completed(base, end, ends)
        if done:
            last_case_end = end
        elif not ends and end - max(progress.idle, last_case_end) > MAX_RECORD_BYTES:
            raise js.TooLarge(base, end)
        yield from done


# --------------------------------------------------------------------------------------------------------- writing


class _Out:
    """Buffered UTF-8 output: many small JSON pieces, few writes."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.parts: list[str] = []

    def put(self, text: str) -> None:
        self.parts.append(text)
        if len(self.parts) >= 2048:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.fp.write("".join(self.parts).encode("utf-8"))
            self.parts.clear()


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _media_id_out(media_id: str | None, number: int) -> int | str:
    if media_id is None:
        return number
    try:
        as_int = int(media_id)
    except ValueError:
        return media_id
    return as_int if str(as_int) == media_id and -(1 << 63) <= as_int < (1 << 63) else media_id


def _flag_out(value: bool | None) -> str | None:
    return None if value is None else "true" if value else "false"


def write(
    records: Iterable[EntryRecord], fp: BinaryIO, *, version: str = "2.0", region: str = "Default",
    shape: str = "media", scheme: str | None = None, case: Mapping[str, Any] | None = None,
    profile: Profile | None = None,
) -> int:
    """Write `records` as one VICS document (2.0 or 1.3, #Media or #Cases), streamed; return how many were written.

    `region` applies to 2.0 only (1.x has none; pass the default). `scheme` is the category scheme the output's
    codes follow: by default the one `categories.json` gives the version and region; CUSTOM requires it. In
    `#Cases`, consecutive records with the same `attributes["_case"]` form one Case; records without it go in one
    Case made from `case` (default: hashwarden as the source application). MD5/SHA1/SHA256 are written upper-case
    as Project VIC distributes them, PDQ lower-case as ThreatExchange does, flags as "true"/"false" strings as most
    writers do. `Miniature` and `Thumbnail` are never written.

    Raises:
        ValueError: an unknown version, region or shape.
        FormatError: a record whose category is in another scheme than the output's, or not a code of it, or a tag
            containing a comma (VICS Tags is comma-delimited); names the record and the field.
    """
    if version not in WRITE_VERSIONS:
        raise ValueError(f"VICS version must be one of {', '.join(WRITE_VERSIONS)}, not {version!r}")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}")
    if version == "2.0" and region not in WRITE_REGIONS:
        raise ValueError(f"VICS 2.0 region must be one of {', '.join(WRITE_REGIONS)}, not {region!r}")
    profile = profile or load_profile()
    name = scheme or profile.vics_scheme(version, region)[0]
    if name is None:
        raise ValueError(f"VICS {version} region {region} has no category scheme of its own: pass scheme=")
    target = profile.scheme(name)
    fragment = "Media" if shape == "media" else "Cases"
    uri = _MODEL_URI[version].format(region=region, fragment=fragment)
    key = MODEL_KEYS[0] if version.startswith("2") else MODEL_KEYS[1]
    where = getattr(fp, "name", None)
    mapper = _MediaWriter(version.startswith("2"), target, version, region, where if isinstance(where, str) else None)
    out = _Out(fp)
    out.put("{" + _dumps(key) + ":" + _dumps(uri) + ',"value":[')
    number = 0
    if shape == "media":
        for record in records:
            number += 1
            out.put(("," if number > 1 else "") + _dumps(mapper.media(record, number)))
    else:
        default_case = dict(case) if case is not None else {"SourceApplicationName": "hashwarden",
                                                             "SourceApplicationVersion": _version()}
        current: Any = None
        first_in_case = True
        for record in records:
            number += 1
            header = record.attributes.get(CASE_KEY) or default_case
            if number == 1 or (header is not current and header != current):
                if number > 1:
                    out.put("]},")
                fields = _without_imagery({k: v for k, v in header.items() if k != "Media"})
                opened = _dumps(fields)[:-1]
                out.put(opened + ("," if fields else "") + '"Media":[')
                current, first_in_case = header, True
            out.put(("" if first_in_case else ",") + _dumps(mapper.media(record, number)))
            first_in_case = False
        if number:
            out.put("]}")
    out.put("]}\n")
    out.flush()
    return number


def _version() -> str:
    from hashwarden import __version__

    return __version__


def _default_profile_region(version: str, scheme: str | None) -> str | None:
    from hashwarden.formats.categories import load_profile

    return load_profile().vics_region(version, scheme)


class _MediaWriter:
    def __init__(self, v2: bool, target: Scheme, version: str, region: str, where: str | None) -> None:
        self.v2 = v2
        self.version = version
        self.target = target
        self.label = f"VICS {version}" + (f" {region}" if v2 else "")
        self.where = where

    def _fail(self, message: str, number: int, field_name: str) -> FormatError:
        return FormatError(message, self.where, number, field=field_name)

    def media(self, record: EntryRecord, number: int) -> dict[str, Any]:
        out: dict[str, Any] = {"MediaID": _media_id_out(record.media_id, number), "Category": None}
        if record.category is not None:
            out["Category"] = self._category(record, number)
        if record.md5:
            out["MD5"] = record.md5.upper()
        if record.sha1:
            out["SHA1"] = record.sha1.upper()
        if record.sha256:
            out["SHA256"] = record.sha256.upper()
        if record.pdq:
            out["PDQ"] = record.pdq.lower()
        if record.pdq_quality is not None:
            out["PDQQuality"] = record.pdq_quality
        attributes = record.attributes
        alternative = attributes.get("AlternativeHashes")
        if record.photodna is not None:
            if self.v2 or (alternative is not None and type(alternative) is not list):
                out["PhotoDNA"] = record.photodna
            else:
                entry = {"HashName": "PhotoDNA", "HashValue": record.photodna}
                if record.md5:
                    entry["MD5"] = record.md5.upper()
                alternative = [entry, *(alternative or [])]
        if record.size is not None:
            out["MediaSize"] = record.size
        original = attributes.get("DateUpdated")
        if original is not None and (record.date_updated is None
                                     or (type(original) is str and _normal_date(original)[0] == record.date_updated)):
            out["DateUpdated"] = original
        elif record.date_updated is not None:
            out["DateUpdated"] = record.date_updated
        for name, value in (("VictimIdentified", record.victim_identified),
                            ("OffenderIdentified", record.offender_identified),
                            ("IsDistributed", record.is_distributed)):
            if value is not None:
                out[name] = _flag_out(value)
        if record.series is not None:
            out["Series"] = record.series
        if record.tags:
            for tag in record.tags:
                if "," in tag:
                    raise self._fail(f"tag {tag[:80]!r} contains a comma, which VICS Tags (comma-delimited) cannot "
                                     "carry", number, "Tags")
            out["Tags"] = ",".join(record.tags)
        if record.comments is not None:
            out["Comments"] = record.comments
        if "MimeType" not in attributes and record.media in _MEDIA_KINDS:
            out["MimeType"] = record.media
        for name, value in attributes.items():
            if name in out or name == CASE_KEY or name.lower() in _LOWER or name.lower() in IMAGERY_FIELDS:
                continue
            if name == "AlternativeHashes":
                value = alternative
            elif type(value) in (dict, list):
                value = _without_imagery(value)
            out[name] = value
        if alternative is not None and "AlternativeHashes" not in out:
            out["AlternativeHashes"] = alternative
        return out

    def _category(self, record: EntryRecord, number: int) -> int:
        code = record.category
        target = self.target
        if record.category_scheme not in (None, target.name):
            region = _default_profile_region(self.version, record.category_scheme)
            use = f"--region {region}" if region else "no VICS region carries it"
            raise self._fail(f"category {code} is in scheme {record.category_scheme}, which a {self.label} file "
                             f"(scheme {target.name}) cannot carry; export with the region of that scheme ({use})",
                             number, "Category")
        if not (code.isascii() and code.isdigit()):
            raise self._fail(f"category {code!r} is not an integer code, as VICS requires", number, "Category")
        if not target.knows(code):
            raise self._fail(f"category {code} is not a code of scheme {target.name}", number, "Category")
        return int(code)


def _without_imagery(value: Any) -> Any:
    """`value`, or a scrubbed copy when imagery fields hide inside it (the export never carries them)."""
    if type(value) in (dict, list) and _has_imagery(value):
        value = json.loads(json.dumps(value))
        _scrub(value, Counter())
    return value


# ---------------------------------------------------------------------------------------------- scan case export

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
            "SourceApplicationVersion": str(tool.get("version") or _version()),
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
                    if only_media and item.get("media") not in _MEDIA_KINDS and not item.get("matches"):
                        continue
                    md5 = str(item["md5"]).lower()
                    db.execute("INSERT INTO item VALUES (?, ?, ?)", (seq, md5, json.dumps(item)))
                    db.execute("INSERT OR IGNORE INTO first VALUES (?, ?)", (md5, seq))
            except (js.Broken, js.TooLarge, js.TooDeep) as exc:
                raise _located(fp, str(report_path), progress, "items.item", exc) from None
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
            "Deleted": _flag_out(bool(instance.get("deleted")) or carved),
            "Unallocated": _flag_out(carved),
        }
        if sources.get(instance.get("source")):
            entry["SourcePath"] = sources[instance.get("source")]
        files.append(entry)
    media = item.get("media")
    attributes: dict[str, Any] = {}
    mime = _MIME.get(item.get("format") or "") or (media if media in _MEDIA_KINDS else None)
    if mime:
        attributes["MimeType"] = mime
    attributes["IsPrecategorized"] = _flag_out(category is not None)
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
