"""Leads beyond one case: new material near a series' media, or seen in other cases, from the store (issue 18).

Why: a new image is most often found again, in another device of the same case or of another agency's case, long
before anyone can say who the child is. The examiner who holds one copy needs to know that another force holds a
near copy, or a photo made by the same camera, and who to ask; the analyst who linked media to a series needs new
material near it to reach that series' team. These leads are computed against what the store holds when they are
asked for: the media linked to series (`store.series.series_members`) and the items of the cases submitted to the
service (`store.cases`), so a case submitted later shows up in the leads of an earlier one.

Lead shapes (one `series` lead per series and `by`; one `cross_case` lead per `by`, naming the cases):
  {"kind": "series", "series": "S-1", "name": "...", "by": "pdq", "distance": d, "members": n}
  {"kind": "series", "series": "S-1", "name": "...", "by": "serial"|"make_model_software", "device": "Canon/SN1"}
  {"kind": "cross_case", "by": "pdq", "count": n, "cases": [{"case_id", "case", "agency", "items", "distance",
   "paths"?}]}
  {"kind": "cross_case", "by": "serial"|"make_model_software", "device": "Canon/SN1", "count": n,
   "cases": [{"case_id", "case", "agency", "items", "known", "paths"?}]}
`cases` lists the `MAX_LEAD_ITEMS` nearest (or largest) cases, `count` how many there are. Another agency's case
is named by its id, its name (the case reference) and the agency only: `paths` of its items are given for the
viewer's own agency's cases (or to the store's own operator, a local scan), never another's. Only PDQ codes of
quality >= `PDQ_MIN_QUALITY` take part, as in matching. Not compared: an item's dihedral forms (a report keeps the
PDQ as found, not the forms the matcher queried), so a rotated copy is not a cross-case lead.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from hashwarden.config import PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY
from hashwarden.index import HammingIndex
from hashwarden.leads.clusters import MAX_LEAD_ITEMS, append_lead, is_pdq, item_device
from hashwarden.store import cases as stored_cases
from hashwarden.store.devices import device_digest
from hashwarden.store.series import SeriesMember, series_members

STORE_LEAD_KINDS = ("series", "cross_case")
"""The kinds of lead this module gives, from the store (the others are the case's own, `leads.clusters`)."""


@dataclass(frozen=True)
class CaseCodes:
    """The PDQ of every stored case's unknown items in one index (item i: `case_ids[i]`, `positions[i]`), and the
    version of the cases it was read at (`store.cases.cases_version`)."""

    version: tuple[int, int]
    index: HammingIndex | None
    case_ids: np.ndarray
    positions: np.ndarray

    @classmethod
    def load(cls, conn: Connection) -> "CaseCodes":
        version = stored_cases.cases_version(conn)
        codes, case_ids, positions = bytearray(), [], []
        for batch in stored_cases.unknown_codes(conn, PDQ_MIN_QUALITY):
            for case_id, position, code in batch:
                codes += code
                case_ids.append(case_id)
                positions.append(position)
        index = HammingIndex(bytes(codes), np.arange(len(case_ids), dtype=np.int64)) if case_ids else None
        return cls(version, index, np.asarray(case_ids, dtype=np.int64), np.asarray(positions, dtype=np.int64))

    def near(self, codes: Sequence[bytes], radius: int) -> list[list[tuple[int, int, int]]]:
        """For each code, (case id, position, distance) of the stored unknown items within `radius`."""
        if self.index is None:
            return [[] for _ in codes]
        found: list[list[tuple[int, int, int]]] = [[] for _ in codes]
        item, row, distance, _ = self.index.hits_many([[code] for code in codes], radius)
        for i, r, d in zip(item.tolist(), row.tolist(), distance.tolist()):
            found[i].append((int(self.case_ids[r]), int(self.positions[r]), d))
        return found


class CaseCodesCache:
    """One `CaseCodes` per process (the service's), read again only when the stored cases changed: building it reads
    every case's unknown PDQ codes, which a page of leads should not pay each time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: CaseCodes | None = None

    def get(self, conn: Connection) -> CaseCodes:
        with self._lock:
            if self._codes is None or self._codes.version != stored_cases.cases_version(conn):
                self._codes = CaseCodes.load(conn)
            return self._codes


def add_store_leads(conn: Connection, items: Sequence[dict[str, Any]], *, own_case: int | None = None,
                    viewer_agency: int | None = None, codes: CaseCodes | None = None,
                    radius: int = PDQ_MATCH_THRESHOLD) -> None:
    """Add `series` and `cross_case` leads to the unknown items of `items` (report items, in place).

    `own_case`: the stored case these items are (left out of its own leads); `viewer_agency`: the id of the agency
    the leads are for, whose own cases' paths are named (None: the store's own operator, who sees all); `codes`: the
    stored cases' codes already read (the service's cache), else read here.
    """
    unknown = [i for i, item in enumerate(items) if item.get("status") == "unknown" and item.get("media") != "other"]
    if not unknown:
        return
    coded = [(i, bytes.fromhex(items[i]["pdq"])) for i in unknown if is_pdq(items[i].get("pdq"))
             and _quality(items[i]) >= PDQ_MIN_QUALITY]
    devices = {i: key for i in unknown if (key := item_device(items[i])) is not None}
    members = series_members(conn)
    _series_by_pdq(items, coded, members, radius)
    _series_by_device(conn, items, devices, members)
    codes = codes if codes is not None else CaseCodes.load(conn)
    pdq_hits = {i: [hit for hit in hits if hit[0] != own_case]
                for (i, _), hits in zip(coded, codes.near([code for _, code in coded], radius))}
    device_hits = _device_cases(conn, devices, own_case)
    refs = stored_cases.case_refs(conn, sorted({hit[0] for hits in pdq_hits.values() for hit in hits}
                                               | {case for hits in device_hits.values() for case in hits}))
    paths = _Paths(conn, refs, viewer_agency)
    for i, hits in pdq_hits.items():
        by_case: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for case_id, position, distance in hits:
            if case_id in refs:
                by_case[case_id].append((distance, position))
        if by_case:
            order = sorted(by_case, key=lambda case_id: (min(by_case[case_id]), case_id))
            shown = [{**_case(refs[case_id]), "items": len(by_case[case_id]), "distance": min(by_case[case_id])[0],
                      **paths.of(case_id, [position for _, position in sorted(by_case[case_id])])}
                     for case_id in order[:MAX_LEAD_ITEMS]]
            append_lead(items[i], {"kind": "cross_case", "by": "pdq", "count": len(by_case), "cases": shown})
    for i, hits in device_hits.items():
        hits = {case_id: counts for case_id, counts in hits.items() if case_id in refs}
        if hits:
            order = sorted(hits, key=lambda case_id: (-hits[case_id][0], case_id))
            shown = [{**_case(refs[case_id]), "items": hits[case_id][0], "known": hits[case_id][1]}
                     for case_id in order[:MAX_LEAD_ITEMS]]
            by, device = devices[i]
            append_lead(items[i], {"kind": "cross_case", "by": by, "device": device, "count": len(hits), "cases": shown})


def _series_by_pdq(items: Sequence[dict[str, Any]], coded: list[tuple[int, bytes]], members: list[SeriesMember],
                   radius: int) -> None:
    """A `series` lead per series with linked media within `radius` of an unknown item's PDQ."""
    with_pdq = [member for member in members if len(member.hashes.get("pdq", b"")) == 32]
    if not with_pdq or not coded:
        return
    index = HammingIndex.from_pairs((member.hashes["pdq"], n) for n, member in enumerate(with_pdq))
    for (i, _), hits in zip(coded, index.query_many([[code] for _, code in coded], radius)):
        near: dict[str, list[int]] = defaultdict(list)
        for hit in hits:
            near[with_pdq[hit.entry_id].code].append(hit.distance)
        for code in sorted(near, key=lambda c: (min(near[c]), c)):
            member = next(m for m in with_pdq if m.code == code)
            append_lead(items[i], {"kind": "series", "series": code, "name": member.name, "by": "pdq",
                             "distance": min(near[code]), "members": len(near[code])})


def _series_by_device(conn: Connection, items: Sequence[dict[str, Any]], devices: Mapping[int, tuple[str, str]],
                      members: list[SeriesMember]) -> None:
    """A `series` lead per series whose linked media a stored case item shows to be made by the item's device."""
    if not devices or not members:
        return
    wanted: dict[str, list[bytes]] = defaultdict(list)
    for member in members:
        for name, value in member.hashes.items():
            wanted[name].append(value)
    made_by = stored_cases.devices_of_items(conn, dict(wanted))
    series_of_device: dict[str, dict[str, str | None]] = defaultdict(dict)
    for member in members:
        for value in member.hashes.values():
            for digest in made_by.get(value, ()):
                series_of_device[digest][member.code] = member.name
    for i, key in devices.items():
        for code, name in sorted(series_of_device.get(device_digest(key), {}).items()):
            append_lead(items[i], {"kind": "series", "series": code, "name": name, "by": key[0], "device": key[1]})


def _device_cases(conn: Connection, devices: Mapping[int, tuple[str, str]], own_case: int | None
                  ) -> dict[int, dict[int, tuple[int, int]]]:
    """For each item with a device: {case id: (items, known items)} of the other stored cases' items made by it."""
    digests = {i: device_digest(key) for i, key in devices.items()}
    per_device: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for digest, case_id, status, count in stored_cases.items_by_device(conn, sorted(set(digests.values()))):
        if case_id != own_case:
            counts = per_device[digest][case_id]
            counts[0] += count
            counts[1] += count if status == "known" else 0
    return {i: {case_id: (c[0], c[1]) for case_id, c in per_device[digest].items()}
            for i, digest in digests.items() if digest in per_device}


class _Paths:
    """The paths of stored items a lead may name: those of the viewer's own agency's cases (all, for the store's
    operator), at most MAX_LEAD_ITEMS per case, read once per case."""

    def __init__(self, conn: Connection, refs: Mapping[int, stored_cases.CaseRef], viewer: int | None) -> None:
        self._conn, self._refs, self._viewer = conn, refs, viewer

    def of(self, case_id: int, positions: list[int]) -> dict[str, Any]:
        if self._viewer is not None and self._refs[case_id].agency_id != self._viewer:
            return {}
        return {"paths": stored_cases.item_paths(self._conn, case_id, positions[:MAX_LEAD_ITEMS])}


def _case(ref: stored_cases.CaseRef) -> dict[str, Any]:
    return {"case_id": ref.id, "case": ref.name, "agency": ref.agency}


def _quality(item: Mapping[str, Any]) -> int:
    quality = item.get("pdq_quality")
    return quality if isinstance(quality, int) and not isinstance(quality, bool) else 0


def case_leads(conn: Connection, case_id: int, agency: str, limit: int, after: int = -1,
               codes: CaseCodes | None = None) -> list[dict[str, Any]] | None:
    """A page of the lead list of the case `case_id` of the agency named `agency` (None when that agency has no
    such case: another agency's is not told apart from a missing one): its unknown items after position `after` (at
    most `limit`), each `{"position", "path", "media", <its hashes>, "cluster"?, "metadata"?, "leads"}` with the
    leads its report carried within the case (clusters, devices) and those the store gives now
    (`add_store_leads`; series and cross-case leads the report carried from its scan's store are left out).
    The API (`GET /v1/cases/{id}/leads`) and the analysts' page of a case both read it here."""
    ref = stored_cases.case_refs(conn, [case_id]).get(case_id)
    if ref is None or ref.agency != agency:
        return None
    page = stored_cases.unknown_items(conn, case_id, limit, after)
    items = [item for _, item in page]
    for item in items:  # what the store said when the report was made is replaced by what it says now
        if isinstance(item.get("leads"), list):
            item["leads"] = [lead for lead in item["leads"]
                             if not (isinstance(lead, Mapping) and lead.get("kind") in STORE_LEAD_KINDS)]
    add_store_leads(conn, items, own_case=case_id, viewer_agency=ref.agency_id, codes=codes)
    rows = []
    for (position, item) in page:
        row = {"position": position, "path": item.get("path"), "media": item.get("media"),
               **{name: item[name] for name in stored_cases.HASH_COLUMNS if item.get(name)}}
        for name in ("cluster", "metadata"):
            if item.get(name) is not None:
                row[name] = item[name]
        row["leads"] = item.get("leads") if isinstance(item.get("leads"), list) else []
        rows.append(row)
    return rows
