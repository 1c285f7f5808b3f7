"""One Media object -> one `EntryRecord`: fields mapped, imagery dropped, categories checked against the scheme,
and the warnings aggregated over the whole file."""

from __future__ import annotations

from typing import Any

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport
from hashwarden.formats.categories import Profile, Scheme
from hashwarden.formats.vics.fields import (
    BadField, CODE_TEXT, normal_date, parse_category, parse_count, parse_digest, parse_flag, parse_tags, parse_text,
    type_name,
)
from hashwarden.formats.vics.imagery import IMAGERY_FIELDS, scrub
from hashwarden.formats.vics.media_ids import MediaIds
from hashwarden.formats.vics.model import CASE_KEY, MAPPED, MAPPED_BY_LOWER, MEDIA_KINDS
from hashwarden.signals import MD5, PDQ, SHA1, SHA256
from hashwarden.store.records import EntryRecord

# Keys needing no per-key check (mapped, or plain scalars seen in real files): the rest are checked for case
# variants of mapped names and for nested imagery.
_PLAIN = frozenset(MAPPED) | {
    "MimeType", "IsPrecategorized", "IsSuspected", "PrecategorizationSource", "RelativeFilePath", "odata.id",
    "odata.editLink", "Name", "FileName", "MediaFiles@odata.navigationLinkUrl", "Exifs@odata.navigationLinkUrl",
    "AlternativeHashes@odata.navigationLinkUrl",
}


class Converter:
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
        self.ids = MediaIds()
        self.duplicates = 0
        self.id_examples: list[str] = []
        self.bad_dates = 0
        self.hashless = 0
        self.records = 0

    def new_case(self) -> None:
        """MediaIDs are unique per case in a #Cases file."""
        self._close_ids()
        self.ids = MediaIds()

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
            raise FormatError(f"a Media record must be a JSON object, not {type_name(obj)}", self.path, number)
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
                    raise BadField("MediaID", f"must be an integer or a string, not {type_name(media_id)}")
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
                md5 = parse_digest(MD5, 32, md5, "MD5")
            if sha1 is not None:
                sha1 = parse_digest(SHA1, 40, sha1, "SHA1")
            if sha256 is not None:
                sha256 = parse_digest(SHA256, 64, sha256, "SHA256")
            if pdq is not None:
                pdq = parse_digest(PDQ, 64, pdq, "PDQ")
            if quality is not None:
                quality = parse_count(quality, "PDQQuality", 100)
            if photodna is not None:
                photodna = parse_text(photodna, "PhotoDNA")
            if (photodna is None or pdq is None) and "AlternativeHashes" in obj:
                photodna, pdq = self._alternative_hashes(obj, photodna, pdq)
            if category is not None:
                category = CODE_TEXT[category] if type(category) is int and 0 <= category < 256 else \
                    parse_category(category)
                if category is not None and category not in self.known_codes:
                    self._check_code(category)
            if date is not None:
                if date == "":
                    date = None
                else:
                    original = date
                    date, exact = normal_date(date) if type(date) is str else (None, False)
                    if date is None:
                        self.bad_dates += 1
                    if not exact:
                        obj["DateUpdated"] = original
            if size is not None and type(size) is not int:
                size = parse_count(size, "MediaSize")
            elif size is not None and size < 0:
                raise BadField("MediaSize", f"out of range: {size}")
            if victim is not None:
                victim = parse_flag(victim, "VictimIdentified")
            if offender is not None:
                offender = parse_flag(offender, "OffenderIdentified")
            if distributed is not None:
                distributed = parse_flag(distributed, "IsDistributed")
            if series is not None:
                series = parse_text(series, "Series")
            tags = parse_tags(tags) if tags is not None else []
            if comments is not None:
                comments = parse_text(comments, "Comments")
        except BadField as exc:
            where = f" (MediaID {media_id})" if media_id is not None and exc.field != "MediaID" else ""
            raise FormatError(exc.message + where, self.path, number, field=exc.field) from None
        if md5 is None and sha1 is None and sha256 is None and pdq is None:
            self.hashless += 1
            return None
        mime = obj.get("MimeType")
        media = None
        if type(mime) is str and mime:
            major = mime.split("/", 1)[0].strip().lower()
            media = major if major in MEDIA_KINDS else "other"
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
            canonical = MAPPED_BY_LOWER.get(low)
            if canonical is not None:
                if canonical in obj:
                    raise BadField(key, f"field given twice, as {canonical!r} and {key!r}")
                obj[canonical] = obj.pop(key)
                continue
            value = obj[key]
            if type(value) is list or type(value) is dict:
                scrub(value, self.dropped)

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
                    photodna = parse_text(value, "AlternativeHashes[].HashValue")
                    took = True
                    continue
                if name == "pdq" and pdq is None and value:
                    pdq = parse_digest(PDQ, 64, value, "AlternativeHashes[].HashValue")
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
            raise BadField("Category", f"{self.no_scheme_reason}, so category code {code} cannot be stored with a "
                                       f"meaning; import with an explicit category scheme (one of {names})")
        if scheme.closed:
            others = [name for name in self.profile.schemes_with(code) if name != scheme.name]
            hint = f"; schemes with code {code}: {', '.join(others)}" if others else ""
            raise BadField("Category", f"code {code} is not in scheme {scheme.name} "
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
