"""Series and victims as rows: codes and flags only, and their links to each other and to media (issue 18).

A **series** is a set of images of the same abuse known to investigators by a code (a name, the agency that keeps
it, notes); a **victim** is a code with a flag, identified or not, and for an identified victim the identifying
agency and the date. Neither holds personal data: there is no field for a victim's name, date of birth or any other
particular, and none should be put in `notes` (hashwarden does not try to tell a particular from a remark: it
stores what it is given).

A link joins two of a series, a victim and a media item: media to a series (`series link`, by hashes, or the
entries of a set by theirs), a victim to a series or to media (`victim link`). Media is named by its hashes and
keyed as votes key it (store/votes.py `media_key`), so media graded by sha256 and linked by its md5 is one media.
Every create and link is an audit row, in the same transaction (`series.create`, `victim.create`, `series.link`,
`victim.link`), which `audit verify` checks the rows against (store/audit.py `_verify_series`).

How links meet the entries of sets. Entries keep what their list said (`entry.series`, the free text of a VICS or
ICSE import, several names joined; `entry.victim_identified`); links are not copied into them but **resolved when
an entry is read** for a match (store/hashsets.py `describe_entries` with flags), an export or a publication
(`LinkIndex`): an entry sharing a hash with linked media (any digest both have, equal) is in the media's series,
the series' victims and the media's victims are its victims. So an entry imported after the link is linked too,
and a link never rewrites an imported list. `LinkIndex.resolve` gives the flags the entry then carries.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hashwarden.errors import SeriesError
from hashwarden.store import audit, live
from hashwarden.store.db import utc_now
from hashwarden.store.records import VOTE_DIGESTS, EntryRecord
from hashwarden.store.schema import MAX_ACTOR, entry, hash_set, series, series_link, victim, vote
from hashwarden.store.votes import media_key

__all__ = ["LinkIndex", "Series", "SeriesMember", "Victim", "create_series", "create_victim", "link_series_media",
           "link_set_entries", "link_victim", "linked_media", "list_series", "list_victims", "series_members",
           "with_links"]

# A code is what analysts write and systems exchange: letters, digits and . _ / -, starting with a letter or digit.
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
MAX_NOTES = 4096
SEPARATOR = ", "  # between series names in an entry's `series` text (as VICS lists join them)


@dataclass(frozen=True)
class Series:
    code: str
    name: str | None = None
    agency: str | None = None
    notes: str | None = None
    created_at: str | None = None
    media: int = 0  # links to media
    victims: list[str] = field(default_factory=list)  # codes of the victims linked to the series

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "agency": self.agency, "notes": self.notes,
                "created": self.created_at, "media": self.media, "victims": self.victims}


@dataclass(frozen=True)
class Victim:
    code: str
    identified: bool = False
    agency: str | None = None  # the identifying agency
    identified_on: str | None = None  # YYYY-MM-DD
    created_at: str | None = None
    series: list[str] = field(default_factory=list)  # codes of the series the victim is linked to
    media: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "identified": self.identified, "agency": self.agency,
                "date": self.identified_on, "created": self.created_at, "series": self.series,
                "media": self.media}


def check_code(code: str, what: str) -> str:
    """`code` if it is one (see CODE).

    Raises:
        SeriesError: it is not.
    """
    if not CODE.fullmatch(code):
        raise SeriesError(f"{what} code {code!r} is not 1-64 letters, digits or . _ / - (starting with a letter or "
                          "digit)", field="code")
    return code


def create_series(conn: Connection, code: str, name: str | None = None, agency: str | None = None,
                  notes: str | None = None) -> Series:
    """Record a series (audited).

    Raises:
        SeriesError: a malformed code, a field too long, or a series with that code exists.
    """
    check_code(code, "series")
    _check_length("name", name, MAX_ACTOR)
    _check_length("agency", agency, MAX_ACTOR)
    _check_length("notes", notes, MAX_NOTES)
    now = utc_now()
    try:
        with conn.begin_nested():
            conn.execute(insert(series).values(code=code, name=name, agency=agency, notes=notes, created_at=now))
    except IntegrityError:
        raise SeriesError(f"a series with code {code!r} exists (see `hashwarden series list`)", field="code",
                          kind=SeriesError.EXISTS) from None
    audit.append(conn, "series.create", {"code": code, "name": name, "agency": agency})
    return Series(code, name, agency, notes, now)


def create_victim(conn: Connection, code: str, identified: bool = False, agency: str | None = None,
                  identified_on: str | None = None) -> Victim:
    """Record a victim by code and flag (audited); `agency` and `identified_on` (YYYY-MM-DD, not in the future)
    say who identified the victim and when, so they need `identified`.

    Raises:
        SeriesError: a malformed code or date, a date or agency without `identified`, or the code exists.
    """
    check_code(code, "victim")
    _check_length("agency", agency, MAX_ACTOR)
    if identified_on is not None:
        identified_on = _check_date(identified_on)
    if not identified and (identified_on is not None or agency):
        raise SeriesError("an identifying agency or date is for an identified victim: give --identified",
                          field="identified")
    now = utc_now()
    try:
        with conn.begin_nested():
            conn.execute(insert(victim).values(code=code, identified=identified, agency=agency,
                                               identified_on=identified_on, created_at=now))
    except IntegrityError:
        raise SeriesError(f"a victim with code {code!r} exists (see `hashwarden victim list`)", field="code",
                          kind=SeriesError.EXISTS) from None
    audit.append(conn, "victim.create", {"code": code, "identified": identified, "agency": agency,
                                         "date": identified_on})
    return Victim(code, identified, agency, identified_on, now)


def link_series_media(conn: Connection, code: str, hashes: dict[str, str]) -> tuple[str, bool]:
    """Link the media named by `hashes` (digest: lowercase hex) to series `code` (audited); return the media's key
    and whether the link is new (linking twice is no error and writes nothing).

    Raises:
        SeriesError: no series of that code. GradingError: the hashes name no media or two (store/votes.py).
    """
    series_id = _series_id(conn, code)
    return _link(conn, "series.link", {"series_id": series_id}, {"series": code}, hashes)


def link_set_entries(conn: Connection, code: str, set_name: str,
                     hashes: dict[str, str] | None = None) -> list[tuple[str, bool]]:
    """Link entries of the hash set `set_name` to series `code`, each by all the hashes the entry has (audited per
    link): the entries sharing a hash with `hashes`, or with none given every entry of the set (a list of the
    series' material, imported, linked at once). Return (media key, whether new) per entry linked.

    Raises:
        SeriesError: no such series or set, or no entry of the set has any of `hashes`.
    """
    series_id = _series_id(conn, code)
    set_id = conn.execute(select(hash_set.c.id).where(hash_set.c.name == set_name)).scalar()
    if set_id is None:
        raise SeriesError(f"no hash set named {set_name!r} (see `hashwarden set list`)", field="set",
                          kind=SeriesError.UNKNOWN)
    query = select(*(entry.c[name] for name in VOTE_DIGESTS)).where(entry.c.set_id == set_id).order_by(entry.c.id)
    if hashes:
        query = query.where(or_(*(entry.c[name] == bytes.fromhex(value) for name, value in hashes.items())))
    found = [{name: bytes(value).hex() for name, value in row._mapping.items() if value is not None}
             for row in live.rows(conn, query)]
    found = [entry_hashes for entry_hashes in found if entry_hashes]  # a frames-only video has none of the four
    if hashes and not found:
        shown = ", ".join(f"{name} {value}" for name, value in hashes.items())
        raise SeriesError(f"set {set_name!r} has no entry with {shown}", field="hash")
    return [_link(conn, "series.link", {"series_id": series_id}, {"series": code, "set": set_name}, entry_hashes)
            for entry_hashes in found]


def link_victim(conn: Connection, code: str, series_code: str | None = None,
                hashes: dict[str, str] | None = None) -> tuple[str, bool]:
    """Link victim `code` to a series or to the media named by `hashes` (one of them; audited); return what was
    linked (the series code or the media key) and whether the link is new.

    Raises:
        SeriesError: no such victim or series, or not exactly one of a series and hashes.
    """
    if (series_code is None) == (not hashes):
        raise SeriesError("link a victim to a series (--series) or to media (its hashes), one of them",
                          field="series")
    victim_id = _id_of(conn, victim, code, "victim")
    if series_code is not None:
        series_id = _series_id(conn, series_code)
        try:
            with conn.begin_nested():
                conn.execute(insert(series_link).values(victim_id=victim_id, series_id=series_id,
                                                        linked_at=utc_now()))
        except IntegrityError:
            return series_code, False
        audit.append(conn, "victim.link", {"victim": code, "series": series_code})
        return series_code, True
    return _link(conn, "victim.link", {"victim_id": victim_id}, {"victim": code}, hashes or {})


def list_series(conn: Connection) -> list[Series]:
    """Every series by code, with how many media and which victims are linked to it."""
    media = _counts(conn, series_link.c.series_id, series_link.c.media.is_not(None))
    victims: dict[int, list[str]] = {}
    for series_id, victim_code in conn.execute(
            select(series_link.c.series_id, victim.c.code).join(victim, victim.c.id == series_link.c.victim_id)
            .where(series_link.c.series_id.is_not(None)).order_by(victim.c.code)):
        victims.setdefault(series_id, []).append(victim_code)
    return [Series(row.code, row.name, row.agency, row.notes, row.created_at, media.get(row.id, 0),
                   victims.get(row.id, [])) for row in conn.execute(select(series).order_by(series.c.code))]


def list_victims(conn: Connection) -> list[Victim]:
    """Every victim by code, with the series it is linked to and how many media."""
    media = _counts(conn, series_link.c.victim_id, series_link.c.media.is_not(None))
    linked: dict[int, list[str]] = {}
    for victim_id, series_code in conn.execute(
            select(series_link.c.victim_id, series.c.code).join(series, series.c.id == series_link.c.series_id)
            .where(series_link.c.victim_id.is_not(None)).order_by(series.c.code)):
        linked.setdefault(victim_id, []).append(series_code)
    return [Victim(row.code, bool(row.identified), row.agency, row.identified_on, row.created_at,
                   linked.get(row.id, []), media.get(row.id, 0))
            for row in conn.execute(select(victim).order_by(victim.c.code))]


@dataclass(frozen=True)
class SeriesMember:
    """Media linked to a series, as a lead compares new material with it: its hashes as linked, its PDQ from the
    link or, when the link named none, from a vote on the same media (`media_key`)."""

    code: str
    name: str | None
    media: str
    hashes: dict[str, bytes]


def series_members(conn: Connection) -> list[SeriesMember]:
    """Every media linked to a series (links are made by people, or a set's entries at once: `series link --set`)."""
    voted_pdq: dict[str, bytes] = {}
    for media, pdq in conn.execute(
            select(vote.c.media, vote.c.pdq).where(
                vote.c.pdq.is_not(None),
                vote.c.media.in_(select(series_link.c.media).where(series_link.c.series_id.is_not(None),
                                                                   series_link.c.pdq.is_(None))))
            .order_by(vote.c.id)):
        voted_pdq.setdefault(media, pdq)  # the first vote's: votes on one media carry its one PDQ
    members = []
    for row in conn.execute(select(series.c.code, series.c.name, series_link).join(
            series, series.c.id == series_link.c.series_id).where(series_link.c.media.is_not(None))
            .order_by(series.c.code, series_link.c.id)):
        hashes = {name: bytes(row._mapping[name]) for name in VOTE_DIGESTS if row._mapping[name] is not None}
        if "pdq" not in hashes and row.media in voted_pdq:
            hashes["pdq"] = bytes(voted_pdq[row.media])
        members.append(SeriesMember(row.code, row.name, row.media, hashes))
    return members


def linked_media(conn: Connection, series_code: str | None = None,
                 victim_code: str | None = None) -> list[dict[str, str]]:
    """The media linked to the series `series_code` or the victim `victim_code` (one of them), by media key: each
    as `{"media": key, <digest>: hex ...}` (the hashes the link named, strongest first). No such code: none."""
    if (series_code is None) == (victim_code is None):
        raise ValueError("one of series_code and victim_code")
    table, column, code = ((series, series_link.c.series_id, series_code) if series_code is not None
                           else (victim, series_link.c.victim_id, victim_code))
    query = (select(series_link.c.media, *(series_link.c[name] for name in VOTE_DIGESTS))
             .join(table, table.c.id == column).where(table.c.code == code, series_link.c.media.is_not(None))
             .order_by(series_link.c.media))
    return [{"media": row.media, **{name: bytes(row._mapping[name]).hex() for name in VOTE_DIGESTS
                                    if row._mapping[name] is not None}} for row in conn.execute(query)]


class LinkIndex:
    """The links of some media, in memory, to give entries their series and victim flags (`resolve`).

    `load` reads the links of media sharing a hash with the given digests (a match's few entries), or every link
    (an export or a publication: links are made by people, a few thousand at most)."""

    def __init__(self) -> None:
        self._by_digest: dict[tuple[str, bytes], list[tuple[int | None, int | None]]] = {}
        self._series_victims: dict[int, set[int]] = {}
        self._series_code: dict[int, str] = {}
        self._victim_identified: dict[int, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    @classmethod
    def load(cls, conn: Connection, digests: dict[str, Iterable[bytes]] | None = None) -> LinkIndex:
        index = cls()
        query = select(series_link.c.series_id, series_link.c.victim_id,
                       *(series_link.c[name] for name in VOTE_DIGESTS)).where(series_link.c.media.is_not(None))
        if digests is not None:
            wanted = [series_link.c[name].in_(list(values)) for name, values in digests.items() if values]
            if not wanted:
                return index
            query = query.where(or_(*wanted))
        series_ids: set[int] = set()
        for row in conn.execute(query):
            ends = (row.series_id, row.victim_id)
            if row.series_id is not None:
                series_ids.add(row.series_id)
            for name in VOTE_DIGESTS:
                value = row._mapping[name]
                if value is not None:
                    index._by_digest.setdefault((name, bytes(value)), []).append(ends)
        if not index._by_digest:
            return index
        for series_id, victim_id in conn.execute(select(series_link.c.series_id, series_link.c.victim_id).where(
                series_link.c.media.is_(None), series_link.c.series_id.in_(sorted(series_ids)))):
            index._series_victims.setdefault(series_id, set()).add(victim_id)
        for series_id, code in conn.execute(select(series.c.id, series.c.code).where(
                series.c.id.in_(sorted(series_ids)))):
            index._series_code[series_id] = code
        victim_ids = {v for ends in index._by_digest.values() for _, v in ends if v is not None}
        victim_ids.update(v for linked in index._series_victims.values() for v in linked)
        for victim_id, identified in conn.execute(select(victim.c.id, victim.c.identified).where(
                victim.c.id.in_(sorted(victim_ids)))):
            index._victim_identified[victim_id] = bool(identified)
        return index

    def resolve(self, hashes: dict[str, bytes | None], series_text: str | None,
                identified: bool | None) -> tuple[str | None, bool | None]:
        """The (`series`, `victim_identified`) an entry with these hashes carries, given its own.

        `series`: the entry's text, then the codes of its linked series not already among its comma-separated
        names. `victim_identified`: with linked victims (of its media, or of its series), true only when every one
        is identified and the entry's list does not say otherwise; an unidentified victim is a child still to be
        found, so one such victim keeps the media on the identification team's queue. Without, the entry's own
        flag."""
        series_ids: set[int] = set()
        victim_ids: set[int] = set()
        for name, value in hashes.items():
            for series_id, victim_id in self._by_digest.get((name, bytes(value)), ()) if value else ():
                if series_id is not None:
                    series_ids.add(series_id)
                    victim_ids.update(self._series_victims.get(series_id, ()))
                if victim_id is not None:
                    victim_ids.add(victim_id)
        names = [name.strip() for name in series_text.split(",")] if series_text else []
        codes = [code for code in sorted(self._series_code[i] for i in series_ids) if code not in names]
        if codes:
            series_text = SEPARATOR.join([series_text, *codes] if series_text else codes)
        if victim_ids:  # `identified` may be a driver's 0/1
            identified = (identified is None or bool(identified)) and all(
                self._victim_identified.get(i, False) for i in victim_ids)
        return series_text, identified


def with_links(conn: Connection, records: Iterable[EntryRecord]) -> Iterator[EntryRecord]:
    """`records` with the series and victim flags their media's links give them (store/series.py `LinkIndex`);
    unchanged when there are no links."""
    links = LinkIndex.load(conn)
    if not links:
        yield from records
        return
    for record in records:
        hashes = {name: bytes.fromhex(value) for name in ("md5", "sha1", "sha256", "pdq")
                  if (value := getattr(record, name))}
        record.series, record.victim_identified = links.resolve(hashes, record.series, record.victim_identified)
        yield record


def _link(conn: Connection, action: str, end: dict[str, int], shown: dict[str, str],
          hashes: dict[str, str]) -> tuple[str, bool]:
    ordered = {name: hashes[name] for name in VOTE_DIGESTS if hashes.get(name)}
    media = media_key(conn, ordered)
    digests = {name: bytes.fromhex(value) for name, value in ordered.items()}
    try:
        with conn.begin_nested():
            conn.execute(insert(series_link).values(**end, media=media, **digests, linked_at=utc_now()))
    except IntegrityError:
        return media, False
    audit.append(conn, action, {**shown, "media": media})
    return media, True


def _series_id(conn: Connection, code: str) -> int:
    return _id_of(conn, series, code, "series")


def _id_of(conn: Connection, table: Any, code: str, what: str) -> int:
    found = conn.execute(select(table.c.id).where(table.c.code == code)).scalar()
    if found is None:
        raise SeriesError(f"no {what} with code {code!r} (see `hashwarden {what} list`)", field=what,
                          kind=SeriesError.UNKNOWN)
    return found


def _counts(conn: Connection, column: Any, condition: Any) -> dict[int, int]:
    query = select(column, func.count()).where(column.is_not(None), condition).group_by(column)
    return {key: count for key, count in conn.execute(query)}


def _check_length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise SeriesError(f"longer than {limit} characters", field=name)


def _check_date(text: str) -> str:
    try:
        day = datetime.date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise SeriesError(f"{text!r} is not a date YYYY-MM-DD", field="date")
    if day > datetime.datetime.now(datetime.timezone.utc).date():
        raise SeriesError(f"{text} is in the future", field="date")
    return day.isoformat()
