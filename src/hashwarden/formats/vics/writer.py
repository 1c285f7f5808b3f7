"""VICS writing: one streamed document, 2.0 or 1.3, `#Media` or `#Cases`; every field read is written back, so
import -> export -> import is lossless, and imagery is never written."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from hashwarden.errors import FormatError
from hashwarden.formats.categories import Profile, Scheme, load_profile
from hashwarden.formats.vics.fields import normal_date
from hashwarden.formats.vics.imagery import IMAGERY_FIELDS, without_imagery
from hashwarden.formats.vics.model import (
    CASE_KEY, MAPPED_BY_LOWER, MEDIA_KINDS, MODEL_KEYS, MODEL_URI, SHAPES, WRITE_REGIONS, WRITE_VERSIONS,
)
from hashwarden.store.records import EntryRecord

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


def flag_out(value: bool | None) -> str | None:
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
    document = VicsWriter(fp, version=version, region=region, shape=shape, scheme=scheme, case=case,
                          profile=profile)
    document.add(records)
    return document.close()


class VicsWriter:
    """One VICS document written a batch of records at a time (`add`), ended by `close`: what `write` does in one
    call, for a writer fed in chunks beside other lists (distribution's plain lists). Options as `write`'s."""

    def __init__(self, fp: BinaryIO, *, version: str = "2.0", region: str = "Default", shape: str = "media",
                 scheme: str | None = None, case: Mapping[str, Any] | None = None, profile: Profile | None = None
                 ) -> None:
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
        uri = MODEL_URI[version].format(region=region, fragment=fragment)
        key = MODEL_KEYS[0] if version.startswith("2") else MODEL_KEYS[1]
        where = getattr(fp, "name", None)
        self._mapper = _MediaWriter(version.startswith("2"), target, version, region,
                                    where if isinstance(where, str) else None)
        self._cases = shape != "media"
        self._default_case = dict(case) if case is not None else {"SourceApplicationName": "hashwarden",
                                                                  "SourceApplicationVersion": hashwarden_version()}
        self._current: Any = None
        self._first_in_case = True
        self._out = _Out(fp)
        self._out.put("{" + _dumps(key) + ":" + _dumps(uri) + ',"value":[')
        self.number = 0

    def add(self, records: Iterable[EntryRecord]) -> None:
        out, mapper = self._out, self._mapper
        if not self._cases:
            for record in records:
                self.number += 1
                out.put(("," if self.number > 1 else "") + _dumps(mapper.media(record, self.number)))
            return
        for record in records:
            self.number += 1
            header = record.attributes.get(CASE_KEY) or self._default_case
            if self.number == 1 or (header is not self._current and header != self._current):
                if self.number > 1:
                    out.put("]},")
                fields = without_imagery({k: v for k, v in header.items() if k != "Media"})
                opened = _dumps(fields)[:-1]
                out.put(opened + ("," if fields else "") + '"Media":[')
                self._current, self._first_in_case = header, True
            out.put(("" if self._first_in_case else ",") + _dumps(mapper.media(record, self.number)))
            self._first_in_case = False

    def close(self) -> int:
        """End the document; return how many records it holds."""
        if self._cases and self.number:
            self._out.put("]}")
        self._out.put("]}\n")
        self._out.flush()
        return self.number


def hashwarden_version() -> str:
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
                                     or (type(original) is str and normal_date(original)[0] == record.date_updated)):
            out["DateUpdated"] = original
        elif record.date_updated is not None:
            out["DateUpdated"] = record.date_updated
        for name, value in (("VictimIdentified", record.victim_identified),
                            ("OffenderIdentified", record.offender_identified),
                            ("IsDistributed", record.is_distributed)):
            if value is not None:
                out[name] = flag_out(value)
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
        if "MimeType" not in attributes and record.media in MEDIA_KINDS:
            out["MimeType"] = record.media
        for name, value in attributes.items():
            if name in out or name == CASE_KEY or name.lower() in MAPPED_BY_LOWER or name.lower() in IMAGERY_FIELDS:
                continue
            if name == "AlternativeHashes":
                value = alternative
            elif type(value) in (dict, list):
                value = without_imagery(value)
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
