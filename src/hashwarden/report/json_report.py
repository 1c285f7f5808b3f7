"""report.json: the scan's findings in a fixed, deterministic shape (no timestamps: those live in custody.json).

Being deterministic is what lets a resumed scan be checked against an uninterrupted one byte for byte, and lets
custody.json pin the report by its SHA-256.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hashwarden import __version__
from hashwarden.formats.categories import Profile, load_profile, severity_key
from hashwarden.leads.clusters import add_leads

STATUSES = ("known", "ignorable", "unknown", "error")
_ITEM_FIELDS = ("path", "source", "size", "md5", "sha1", "sha256", "media", "format", "pdq", "pdq_quality", "status")


_MATCH_OPTIONAL = ("distance", "transform", "query_percent", "compared_percent", "category", "scheme", "series",
                   "victim_identified")
UNCATEGORISED = "uncategorised"


def item_categories(matches: Iterable[dict[str, Any]], profile: Profile | None = None) -> list[str]:
    """The `by_category` keys one known item counts under: per scheme, the most serious category among its alert
    matches in that scheme (`scheme:code`), or `uncategorised` when no alert match has a category.

    Why per scheme and by seriousness: an item often matches several sets (a national set with categories, another
    lab's set without), and which one comes first is an accident of set names. Counting the first alert let an
    uncategorised set hide a Category A match. Schemes are not comparable (VICS `1` is not UK `A`), so each scheme
    counts the item once and `by_category` can add up to more than `known`.
    """
    profile = profile or load_profile()
    worst: dict[str, str] = {}
    for match in matches:
        code = match.get("category")
        if match.get("kind") != "alert" or code is None:
            continue
        scheme, code = match.get("scheme") or "unknown-scheme", str(code)
        if scheme not in worst or severity_key(scheme, code, profile) < severity_key(scheme, worst[scheme], profile):
            worst[scheme] = code
    return [f"{scheme}:{code}" for scheme, code in sorted(worst.items())] or [UNCATEGORISED]


def build_report(
    case: str, sources: list[str], items: Iterable[dict[str, Any]], skipped: list[dict[str, Any]],
    profile: Profile | None = None,
) -> dict[str, Any]:
    """The report.json document from recorded items (sorted by source and path bytes by the caller).

    `profile` orders categories by seriousness for `summary.by_category` (the packaged profile by default).
    Unknown items gain `cluster` and `leads` (`leads.clusters.add_leads`); `metadata` comes with the items.
    """
    profile = profile or load_profile()
    out_items = []
    status_counts: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    media: Counter[str] = Counter()
    total_bytes = 0
    for row in items:
        item = {name: row.get(name) for name in _ITEM_FIELDS}
        if row.get("error"):
            item["error"] = row["error"]
        if row.get("note"):
            item["note"] = row["note"]
        item.update(row.get("extra") or {})  # container chain, and later deleted/carved/offset/length
        matches = []
        for match in row["matches"]:
            entry = {k: match[k] for k in ("set", "kind", "method", "entry")}
            for optional in _MATCH_OPTIONAL:
                if match.get(optional) is not None:
                    entry[optional] = match[optional]
            matches.append(entry)
        item["matches"] = matches
        out_items.append(item)
        status_counts[item["status"]] += 1
        media[item["media"]] += 1
        total_bytes += item["size"] or 0
        if item["status"] == "known":
            categories.update(item_categories(row["matches"], profile))
    add_leads(out_items)
    summary = {
        "items": len(out_items),
        **{status: status_counts.get(status, 0) for status in STATUSES},
        "skipped": len(skipped),
        "bytes": total_bytes,
        "by_category": dict(sorted(categories.items())),
        "by_media": dict(sorted(media.items())),
    }
    return {
        "case": case,
        "tool": {"name": "hashwarden", "version": __version__},
        "sources": [{"index": i, "path": p} for i, p in enumerate(sources)],
        "summary": summary,
        "items": out_items,
        "skipped": skipped,
    }


def write_reports(out_dir: Path, report: dict[str, Any], custody: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write report.json and report.html into `out_dir`; return their paths by file name.

    `custody`: the custody summary report.html shows (`scan.custody.custody_summary`); report.json never holds it.
    """
    from hashwarden.report.html import render_html

    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(report, custody), encoding="utf-8")
    return {"report.json": json_path, "report.html": html_path}
