"""Leads within one case: clusters of unknown items (near-duplicates, bursts) and items sharing a device.

Why: a case's new material rarely comes one picture at a time. Near-duplicates (PDQ within the match threshold) are
the same scene saved twice, cropped or re-encoded; a burst is a series of shots from one device within seconds, the
same scene too. Grouping them lets the examiner grade one scene once and hands the victim-identification team a set
rather than scattered files. A camera serial number (or make + model + software, together) shared with other items
of the case ties the unknown item to the device that made them, a lead of its own, and a stronger one when some of
those items are known material.

Each lead is a dict with `kind` and its evidence, so kinds added later (`series`, `cross_case`) sit in the same
list:
  {"kind": "cluster", "cluster": "c1", "by": ["near_duplicate", "burst"], "items": [paths], "count": n}
  {"kind": "device", "by": "serial"|"make_model_software", "device": "Canon/SN123", "items": [paths], "count": n,
   "known": k}
`items` lists at most `MAX_LEAD_ITEMS` other paths (in report order); `count` is how many there are in all, and
`known` how many of them matched a hash set. Clusters are numbered c1, c2 ... in the report's item order, so the
same case gives the same ids (report.json is deterministic).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from hashwarden.config import BURST_SECONDS, PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY
from hashwarden.index import HammingIndex
from hashwarden.store.devices import device_key

MAX_LEAD_ITEMS = 20
"""Other items named in one lead; `count` says how many there are (a burst of 2,000 shots names 20)."""


def add_leads(items: Sequence[dict[str, Any]], *, radius: int = PDQ_MATCH_THRESHOLD,
              burst_seconds: float = BURST_SECONDS) -> None:
    """Set `cluster` and `leads` on the unknown items of a case (in place; other items are left as they are)."""
    unknown = [i for i, item in enumerate(items) if item.get("status") == "unknown" and item.get("media") != "other"]
    groups = _UnionFind()
    reasons: dict[int, set[str]] = defaultdict(set)
    for a, b in _near_duplicates(items, unknown, radius):
        groups.union(a, b)
        reasons[a].add("near_duplicate")
        reasons[b].add("near_duplicate")
    for a, b in _bursts(items, unknown, burst_seconds):
        groups.union(a, b)
        reasons[a].add("burst")
        reasons[b].add("burst")
    members: dict[int, list[int]] = defaultdict(list)
    for i in unknown:
        members[groups.find(i)].append(i)
    clusters = [sorted(group) for group in members.values() if len(group) > 1]
    clusters.sort()
    for number, group in enumerate(clusters, start=1):
        cluster_id = f"c{number}"
        by = sorted(set().union(*(reasons[i] for i in group)))
        for i in group:
            items[i]["cluster"] = cluster_id
            append_lead(items[i], {"kind": "cluster", "cluster": cluster_id, "by": by, **_named(items, group, i)})
    _device_leads(items, unknown)


def capture_time(item: Mapping[str, Any]) -> datetime | None:
    """The item's capture time (`metadata.captured`), zone-aware when the file stated its zone, else naive."""
    metadata = item.get("metadata")
    captured = metadata.get("captured") if isinstance(metadata, Mapping) else None
    try:
        return datetime.fromisoformat(captured) if isinstance(captured, str) else None
    except ValueError:
        return None


def item_device(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The device key of an item (`metadata.device_key`) from its report metadata."""
    metadata = item.get("metadata")
    return device_key(metadata) if isinstance(metadata, Mapping) else None


def _near_duplicates(items: Sequence[Mapping[str, Any]], unknown: list[int], radius: int) -> list[tuple[int, int]]:
    """Pairs of unknown images within `radius` of each other's PDQ (the matcher's index, queried with itself).
    Hashes below the matcher's quality floor take no part: flat images are all near one another."""
    coded = [(i, bytes.fromhex(items[i]["pdq"])) for i in unknown if is_pdq(items[i].get("pdq"))
             and (items[i].get("pdq_quality") or 0) >= PDQ_MIN_QUALITY]
    if len(coded) < 2:
        return []
    index = HammingIndex.from_pairs((code, i) for i, code in coded)
    pairs = []
    for (i, _), hits in zip(coded, index.query_many([[code] for _, code in coded], radius)):
        pairs.extend((i, hit.entry_id) for hit in hits if hit.entry_id > i)
    return pairs


def _bursts(items: Sequence[Mapping[str, Any]], unknown: list[int], seconds: float) -> list[tuple[int, int]]:
    """Pairs of unknown items from one device whose capture times follow each other within `seconds`."""
    by_device: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for i in unknown:
        device, when = item_device(items[i]), capture_time(items[i])
        if device is not None and when is not None:
            # naive and zone-aware times are not comparable: naive ones are compared among themselves only
            stamp = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
            by_device[(device[0], device[1] + ("" if when.tzinfo else "\x00naive"))].append((stamp, i))
    pairs = []
    for shots in by_device.values():
        shots.sort()
        pairs.extend((a, b) for (t0, a), (t1, b) in zip(shots, shots[1:]) if t1 - t0 <= seconds)
    return pairs


def _device_leads(items: Sequence[dict[str, Any]], unknown: list[int]) -> None:
    """A `device` lead on each unknown item whose device made other items of the case (any status)."""
    by_device: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        if (device := item_device(item)) is not None:
            by_device[device].append(i)
    known = {device: sum(1 for j in group if items[j].get("status") == "known") for device, group in by_device.items()}
    for i in unknown:
        device = item_device(items[i])
        group = by_device.get(device, []) if device else []
        if len(group) > 1:
            append_lead(items[i], {"kind": "device", "by": device[0], "device": device[1], **_named(items, group, i),
                             "known": known[device]})  # the item itself is unknown, so not counted


def _named(items: Sequence[Mapping[str, Any]], group: list[int], own: int) -> dict[str, Any]:
    """The first MAX_LEAD_ITEMS paths of the group other than `own`'s, and how many others there are (a group of
    thousands costs each member a short slice, not a pass over the group)."""
    others = [j for j in group[:MAX_LEAD_ITEMS + 1] if j != own][:MAX_LEAD_ITEMS]
    return {"items": [items[j].get("path") for j in others], "count": len(group) - 1}


def append_lead(item: dict[str, Any], lead: dict[str, Any]) -> None:
    """Add `lead` to the item's `leads` (made on the first)."""
    item.setdefault("leads", []).append(lead)


_PDQ_HEX = re.compile(r"[0-9a-fA-F]{64}")


def is_pdq(value: Any) -> bool:
    return isinstance(value, str) and _PDQ_HEX.fullmatch(value) is not None


class _UnionFind:
    def __init__(self) -> None:
        self._parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while x != root:
            self._parent[x], x = root, self._parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)
