"""Render a case's report.json as one self-contained HTML file for the examiner.

Why it is built this way:

* One file, no assets, no network. The page is opened on examination machines, often offline, and must never
  fetch anything: CSS and JS are inline, there are no URLs, fonts or images of any kind (the system never shows
  imagery; the report holds hashes and metadata only). A Content-Security-Policy meta tag with ``default-src 'none'``
  and hashes of our own script and style makes this hold even if something slipped through: nothing else runs and
  nothing is loaded.
* Items are data, not markup. A case may hold 100,000 items, and any file name may be hostile. The report is embedded
  unchanged as JSON in a ``<script type="application/json">`` block and the page renders one page of rows at a time
  with ``textContent`` only. In the JSON every ``<``, ``>``, ``&`` and ``/`` is a ``\\uXXXX`` or ``\\/`` escape and
  everything outside ASCII is escaped too, so no name can close the block, open a comment or break a line of script,
  and the whole output is plain ASCII (writing it cannot fail on an odd name).
* The few server-side parts (case name, sources, summary) go through ``html.escape``. Control, format and bidi
  characters (e.g. U+202E, which makes ``gpj.exe`` look like an image) are shown as visible ``U+XXXX`` markers,
  on both sides, so a name always reads as what it is.
* The default order is the examiner's queue, decided here in Python (testable, and the page just follows it):
  unknown images and videos first, since they may be new material and a child still to be found; then errors, which
  were not checked at all; then unknown files that are neither image nor video (a text file in no hash set is not
  "possibly new material", and on a real device there are thousands of them); then known items with what they
  matched; then ignorable ones.
* Around the items, the page states what the findings rest on: the hash sets and versions used, the custody summary
  (when the scan ran, whether the evidence is unchanged), counts by category with the profile's labels (not codes
  alone) and by media type.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timezone
from typing import Any

from hashwarden.formats.categories import Profile, load_profile, severity_key
from hashwarden.leads.clusters import capture_time, item_device
from hashwarden.report.page import PAGE_HEAD, csp, fill_page, text as _text

STATUS_ORDER: tuple[str, ...] = ("unknown", "error", "known", "ignorable")
"""Statuses in the order the summary lists them."""

NON_MEDIA_UNKNOWN = "unknown-other"
"""Queue group of unknown items that are neither image nor video (media "other")."""

# Queue groups in order. A status outside this list sorts right after "error": unrecognised is not a reason to bury
# it. An unknown item is in "unknown" unless its media is exactly "other": a missing or unrecognised media type stays
# with the images and videos. The page's script has the same ranks (RANK).
_STATUS_RANK = {"unknown": 0, "error": 1, NON_MEDIA_UNKNOWN: 3, "known": 4, "ignorable": 5}
_OTHER_STATUS_RANK = 2
_MEDIA_RANK = {"image": 0, "video": 1, "other": 2}
_MEDIA_ORDER = ("image", "video", "other")

_JSON_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("/", "\\/"))


def _status(item: Mapping[str, Any]) -> str:
    status = item.get("status")
    return "(none)" if status is None else str(status)


def queue_group(item: Mapping[str, Any]) -> str:
    """The item's group in the examiner's queue: its status, except that unknown non-media files are set apart."""
    status = _status(item)
    return NON_MEDIA_UNKNOWN if status == "unknown" and item.get("media") == "other" else status


def queue_order(items: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of `items` in the examiner's default order: queue group, then (unknown images and videos) the
    victim-identification order of `_lead_key`, then image/video/other, then path."""
    newest = _newest_per_group(items)

    def key(i: int) -> tuple[Any, ...]:
        item = items[i]
        group = queue_group(item)
        status = _STATUS_RANK.get(group, _OTHER_STATUS_RANK)
        media = _MEDIA_RANK.get(str(item.get("media")), len(_MEDIA_RANK))
        leads = _lead_key(item, newest) if group == "unknown" else ()
        return status, *leads, media, str(item.get("path") or ""), i

    return sorted(range(len(items)), key=key)


def _lead_group(item: Mapping[str, Any]) -> str:
    """The item's group in the victim-identification queue: its cluster, else its device when another item of
    the case shares it, else none ("")."""
    cluster = item.get("cluster")
    if isinstance(cluster, str) and cluster:
        return "cluster:" + cluster
    leads = item.get("leads") if isinstance(item.get("leads"), list) else []
    device = item_device(item)
    if device and any(isinstance(lead, Mapping) and lead.get("kind") == "device" for lead in leads):
        return "device:" + device[1]
    return ""


def _when(item: Mapping[str, Any]) -> float | None:
    """Capture time as seconds (a time without a zone counted as UTC: the order needs one scale, not precision)."""
    when = capture_time(item)
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _newest_per_group(items: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    newest: dict[str, float] = {}
    for item in items:
        group, when = _lead_group(item), _when(item)
        if group and when is not None and when > newest.get(group, -math.inf):
            newest[group] = when
    return newest


def _near_known(item: Mapping[str, Any]) -> bool:
    """Whether a lead ties the item to known material: a series, or a device that also made known items (in this
    case or another)."""
    leads = item.get("leads") if isinstance(item.get("leads"), list) else []
    return any(isinstance(lead, Mapping) and (lead.get("kind") == "series" or
                                              (lead.get("kind") == "device" and (_int(lead.get("known")) or 0) > 0)
                                              or (lead.get("kind") == "cross_case" and _known_elsewhere(lead)))
               for lead in leads)


def _known_elsewhere(lead: Mapping[str, Any]) -> bool:
    """A cross-case device lead naming a case where the device also made known material."""
    cases = lead.get("cases") if isinstance(lead.get("cases"), list) else []
    return any(isinstance(case, Mapping) and (_int(case.get("known")) or 0) > 0 for case in cases)


def _lead_key(item: Mapping[str, Any], newest: Mapping[str, float]) -> tuple[Any, ...]:
    """Near nothing known first; then groups (cluster, else device) by their newest capture, newest first, each
    group together; within a group, newest capture first. An item with no group is a group of its own; items and
    groups without a capture time come after those with one."""
    group, own = _lead_group(item), _when(item)
    group_time = newest.get(group) if group else own
    return (_near_known(item), group_time is None, -(group_time or 0.0), group, own is None, -(own or 0.0))


def embed_json(value: Any) -> str:
    """JSON that is safe as the text of a <script type="application/json"> block (ASCII only, no `<`, `>`, `&`, `/`)."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    for char, escape in _JSON_ESCAPES:  # str.replace, not str.translate: many times faster on 50 MB
        text = text.replace(char, escape)
    return text


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _header(report: Mapping[str, Any], items: Sequence[Mapping[str, Any]], profile: Profile) -> dict[str, str]:
    tool = report.get("tool") if isinstance(report.get("tool"), Mapping) else {}
    sources = report.get("sources") if isinstance(report.get("sources"), list) else []
    summary = report.get("summary") if isinstance(report.get("summary"), Mapping) else {}
    skipped = report.get("skipped") if isinstance(report.get("skipped"), list) else []

    source_rows = []
    for i, source in enumerate(sources):
        source = source if isinstance(source, Mapping) else {"path": source}
        extra = ", ".join(f"{_text(k)}: {_text(v)}" for k, v in source.items() if k != "path")
        source_rows.append(
            f'<tr><td class="num">{i}</td><td class="path">{_text(source.get("path"))}</td>'
            f'<td class="muted">{extra}</td></tr>'
        )

    # Counts: trust the summary when it has them, count the items when it does not.
    counted = Counter(_status(item) for item in items)
    statuses = list(STATUS_ORDER) + sorted(s for s in counted if s not in STATUS_ORDER)
    status_rows = []
    for status in statuses:
        n = _int(summary.get(status))
        n = counted.get(status, 0) if n is None else n
        status_rows.append(f'<tr><td><span class="st st-{_css_status(status)}">{_text(status)}</span></td><td class="num">{n:,}</td></tr>')
    n_skipped = _int(summary.get("skipped"))
    n_items = _int(summary.get("items"))
    status_rows.append(f'<tr><td>skipped</td><td class="num">{(len(skipped) if n_skipped is None else n_skipped):,}</td></tr>')
    status_rows.append(f'<tr class="total"><td>items</td><td class="num">{(len(items) if n_items is None else n_items):,}</td></tr>')

    by_category = summary.get("by_category") if isinstance(summary.get("by_category"), Mapping) else {}
    return {
        "CASE": _text(report.get("case")),
        "TOOL": _text(f"{tool.get('name') or 'hashwarden'} {tool.get('version') or ''}".strip()),
        "SOURCES": "".join(source_rows) or '<tr><td class="muted" colspan="3">none listed</td></tr>',
        "STATUS_ROWS": "".join(status_rows),
        "CATEGORY_ROWS": _category_rows(by_category, profile),
        "PROFILE": _text(profile.version),
        "MEDIA_ROWS": _media_rows(items),
    }


def _count(n: Any) -> str:
    return _text(f"{n:,}" if _int(n) is not None else n)


def _category_rows(by_category: Mapping[str, Any], profile: Profile) -> str:
    """Rows of `summary.by_category` (`scheme:code` keys), by scheme then most serious first, with the labels."""

    def key(name: str) -> tuple[int, str, tuple[int, int, str]]:
        scheme, sep, code = name.partition(":")
        if not sep:
            return 1, name, (0, 0, "")  # "uncategorised" (or an unparsed key) after every scheme
        return 0, scheme, severity_key(scheme, code, profile)

    rows = []
    for name in sorted(map(str, by_category), key=key):
        scheme, sep, code = name.partition(":")
        found = profile.schemes.get(scheme) if sep else None
        label = found.label(code) if found else None
        shown = _text(label) if label else '<span class="muted">no label in the profile</span>' if sep else ""
        rows.append(
            f'<tr><td class="mono">{_text(scheme if sep else "")}</td><td class="mono">{_text(code if sep else name)}</td>'
            f'<td>{shown}</td><td class="num">{_count(by_category[name])}</td></tr>'
        )
    return "".join(rows) or '<tr><td class="muted" colspan="4">none</td></tr>'


def _media_rows(items: Sequence[Mapping[str, Any]]) -> str:
    """Items per media type, split by status: how much of the unknown is images and videos."""
    counts: dict[str, Counter[str]] = {}
    for item in items:
        media = item.get("media")
        counts.setdefault("(none)" if media is None else str(media), Counter())[_status(item)] += 1
    names = [m for m in _MEDIA_ORDER if m in counts] + sorted(m for m in counts if m not in _MEDIA_ORDER)
    return "".join(
        f'<tr><td>{_text(name)}</td><td class="num">{sum(counts[name].values()):,}</td>'
        + "".join(f'<td class="num">{counts[name][status]:,}</td>' for status in STATUS_ORDER)
        + "</tr>"
        for name in names
    ) or f'<tr><td class="muted" colspan="{2 + len(STATUS_ORDER)}">none</td></tr>'


def _custody(custody: Mapping[str, Any] | None) -> dict[str, str]:
    """The hash sets used and the custody summary (runs, evidence unchanged per source)."""
    if not isinstance(custody, Mapping):
        missing = '<tr><td class="muted" colspan="{}">not given to this page: see custody.json</td></tr>'
        return {"HASH_SETS": missing.format(6), "RUNS": missing.format(4), "UNCHANGED": missing.format(2)}
    sets = custody.get("hash_sets") if isinstance(custody.get("hash_sets"), list) else []
    set_rows = [
        f'<tr><td class="path">{_text(s.get("name"))}</td><td>{_text(s.get("kind"))}</td>'
        f'<td class="mono">{_text(s.get("version") if s.get("version") is not None else "(none)")}</td>'
        f'<td>{_text(s.get("source"))}</td><td class="mono">{_text(s.get("category_scheme"))}</td>'
        f'<td class="num">{_count(s.get("entries"))}</td></tr>'
        for s in sets if isinstance(s, Mapping)
    ]
    runs = custody.get("runs") if isinstance(custody.get("runs"), list) else []
    run_rows = [
        f'<tr><td class="num">{i}</td><td class="mono">{_text(r.get("started"))}</td>'
        f'<td class="mono">{_text(r.get("finished") or "not finished")}</td><td class="num">{_count(r.get("hashed"))}</td></tr>'
        for i, r in enumerate(runs, 1) if isinstance(r, Mapping)
    ]
    source_rows = []
    for source in custody.get("sources") if isinstance(custody.get("sources"), list) else []:
        if not isinstance(source, Mapping):
            continue
        unchanged = source.get("unchanged")
        verdict = ('<span class="ok">yes</span>' if unchanged is True else
                   '<span class="err">NO</span>' if unchanged is False else '<span class="muted">unknown</span>')
        how = "every file read again after the scan" if source.get("reread") else "metadata only (no second read)"
        source_rows.append(f'<tr><td class="path">{_text(source.get("path"))}</td>'
                           f'<td>{verdict} <span class="muted">{how}</span></td></tr>')
    return {
        "HASH_SETS": "".join(set_rows) or '<tr><td class="muted" colspan="6">no hash set in the store</td></tr>',
        "RUNS": "".join(run_rows) or '<tr><td class="muted" colspan="4">none recorded</td></tr>',
        "UNCHANGED": "".join(source_rows) or '<tr><td class="muted" colspan="2">none recorded</td></tr>',
    }


def _labels(items: Sequence[Mapping[str, Any]], profile: Profile) -> dict[str, dict[str, str]]:
    """{scheme: {code: label}} for the categories the items' matches carry: what the page shows next to a code."""
    labels: dict[str, dict[str, str]] = {}
    for item in items:
        matches = item.get("matches")
        for match in matches if isinstance(matches, list) else []:
            if not isinstance(match, Mapping) or match.get("category") is None:
                continue
            scheme, code = match.get("scheme"), str(match.get("category"))
            found = profile.schemes.get(scheme) if isinstance(scheme, str) else None
            label = found.label(code) if found else None
            if label:
                labels.setdefault(str(scheme), {})[code] = label
    return labels


def _css_status(status: str) -> str:
    return status if status in STATUS_ORDER else "other"


def render_html(report: Mapping[str, Any], custody: Mapping[str, Any] | None = None,
                profile: Profile | None = None) -> str:
    """The whole report page as one ASCII string (write it with any encoding, e.g. UTF-8).

    `custody`: the summary from `scan.custody.custody_summary` (hash sets, runs, evidence unchanged); without it the
    page says to look in custody.json. `profile`: where category labels come from (the packaged one by default).
    """
    profile = profile or load_profile()
    items = report.get("items") if isinstance(report.get("items"), list) else []
    items = [item if isinstance(item, Mapping) else {} for item in items]
    values = _header(report, items, profile)
    values.update(_custody(custody))
    values["DATA"] = embed_json(report)
    values["ORDER"] = embed_json(queue_order(items))
    values["LABELS"] = embed_json(_labels(items, profile))
    values["CSS"] = _CSS
    values["JS"] = _JS
    values["CSP"] = csp(_CSS, _JS)
    values["TITLE"] = f"hashwarden report: {values['CASE']}"
    return fill_page(_PAGE, values)


_CSS = """
:root { color-scheme: light; --line: #d0d4da; --muted: #5f6670; --bg-alt: #f5f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 1.5em 2em; color: #16191d; }
h1 { font-size: 1.4em; margin: .8em 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.muted { color: var(--muted); }
.path, .hash, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.path { word-break: break-all; }
.hash { word-break: break-all; color: #333a42; font-size: 11.5px; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cc { font: 10px/1 ui-monospace, monospace; border: 1px solid #b3261e; color: #b3261e; border-radius: 3px; padding: 0 2px; margin: 0 1px; }
.overview { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
.overview table { margin-top: .3em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
tr.total td { font-weight: 600; }
.st { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.st-unknown { background: #fde7c2; color: #6b3b00; }
.st-error { background: #f9d3d0; color: #7a1610; }
.st-known { background: #dde3f7; color: #1b2f70; }
.st-ignorable { background: #e4e7ea; color: #444b53; }
.st-other { background: #f0d9f5; color: #5c1870; }
.controls { display: flex; flex-wrap: wrap; gap: .6em 1.4em; align-items: center; margin: .6em 0; }
.controls input[type=search] { width: 26em; max-width: 100%; padding: 3px 6px; font: inherit; }
.controls label { white-space: nowrap; }
.pager { display: flex; gap: .4em; align-items: center; margin: .5em 0; }
button { font: inherit; padding: 1px 8px; }
#items { width: 100%; }
#items th button { all: unset; cursor: pointer; }
#items th button:focus-visible { outline: 2px solid #2451c9; }
#items th[aria-sort=ascending] button::after { content: " \\25B2"; font-size: 10px; }
#items th[aria-sort=descending] button::after { content: " \\25BC"; font-size: 10px; }
#items tbody tr:nth-child(even) td { background: #fafbfc; }
#items tr.group td { background: #eef1f5; font-weight: 600; padding-top: 8px; border-bottom: 2px solid var(--line); }
#items tr.group .muted { font-weight: normal; }
.match + .match { margin-top: 2px; }
.kind-alert { color: #7a1610; font-weight: 600; }
.kind-ignorable { color: var(--muted); }
.err { color: #7a1610; }
.ok { color: #1d6b2a; font-weight: 600; }
.overview .note { max-width: 28em; font-size: 12px; margin: .3em 0 0; }
#items { table-layout: fixed; }
#items td { overflow-wrap: anywhere; }
#items th.col-index { width: 4.5em; }
#items th.col-status { width: 7.5em; }
#items th.col-source { width: 3.5em; }
#items th.col-media { width: 6.5em; }
#items th.col-size { width: 7em; }
#items th.col-matches { width: 18%; }
#items th.col-hashes { width: 17em; }
#items th.col-note { width: 10%; }
#items .meta { color: var(--muted); }
#items .lead { color: #4a2a7a; }
"""

_JS = r"""
(function () {
  "use strict";
  var RANK = {unknown: 0, error: 1, "unknown-other": 3, known: 4, ignorable: 5};
  var HELP = {
    unknown: "images and videos in no hash set: the examiner's queue, possibly new material; review first",
    error: "could not be read or hashed, so not checked against any hash set",
    "unknown-other": "neither image nor video, in no hash set: not possibly new material; review after errors",
    known: "matched a hash set of known material",
    ignorable: "matched only ignorable sets"
  };
  var PAGE = 200;
  var report = JSON.parse(document.getElementById("hw-data").textContent) || {};
  var queue = JSON.parse(document.getElementById("hw-order").textContent) || [];
  var labels = JSON.parse(document.getElementById("hw-labels").textContent) || {};
  var items = Array.isArray(report.items) ? report.items : [];
  var has = function (o, k) { return o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k); };
  var get = function (o, k) { return has(o, k) ? o[k] : undefined; };
  var rank = function (s) { return has(RANK, s) ? RANK[s] : 2; };
  var statusOf = function (it) { var s = get(it, "status"); return s === undefined || s === null ? "(none)" : String(s); };
  // The queue group, as queue_group() in html.py: unknown files that are neither image nor video are set apart.
  var groupOf = function (it) { var s = statusOf(it); return s === "unknown" && get(it, "media") === "other" ? "unknown-other" : s; };
  var cssStatus = function (s) { return has(RANK, s) ? s : "other"; };

  // Text goes into the DOM through text nodes only. Control, format, bidi and odd space characters become
  // visible U+XXXX markers so that a name cannot disguise itself.
  var INVISIBLE = /(?! )[\p{Cc}\p{Cf}\p{Cs}\p{Z}]/u;
  var INVISIBLE_ALL = /(?! )[\p{Cc}\p{Cf}\p{Cs}\p{Z}]/gu;
  function put(el, value) {
    if (value === undefined || value === null) return el;
    var s = String(value);
    if (!INVISIBLE.test(s)) { el.appendChild(document.createTextNode(s)); return el; }
    var last = 0, m;
    INVISIBLE_ALL.lastIndex = 0;
    while ((m = INVISIBLE_ALL.exec(s)) !== null) {
      if (m.index > last) el.appendChild(document.createTextNode(s.slice(last, m.index)));
      var cp = m[0].codePointAt(0).toString(16).toUpperCase();
      el.appendChild(mk("span", "cc", "U+" + ("0000" + cp).slice(-Math.max(4, cp.length))));
      last = m.index + m[0].length;
    }
    if (last < s.length) el.appendChild(document.createTextNode(s.slice(last)));
    return el;
  }
  function mk(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    return put(el, text);
  }
  function bytes(n) {
    if (typeof n !== "number") return "";
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  function matchesOf(it) { var m = get(it, "matches"); return Array.isArray(m) ? m : []; }
  function category(m) {
    var c = get(m, "category"), s = get(m, "scheme");
    if (c === undefined || c === null || c === "") return "uncategorised";
    var text = (s === undefined || s === null || s === "") ? String(c) : s + ":" + c;
    var label = get(get(labels, String(s)), String(c));
    return typeof label === "string" ? text + " (" + label + ")" : text;
  }
  function matchText(m) {
    var parts = [String(get(m, "set") === undefined ? "?" : get(m, "set")), String(get(m, "method") === undefined ? "?" : get(m, "method"))];
    if (get(m, "distance") !== undefined && get(m, "distance") !== null) parts.push("d=" + get(m, "distance"));
    if (get(m, "transform")) parts.push(String(get(m, "transform")));
    if (get(m, "query_percent") !== undefined && get(m, "query_percent") !== null)
      parts.push("frames " + get(m, "query_percent") + "% / " + get(m, "compared_percent") + "%");
    parts.push(category(m));
    if (get(m, "series") !== undefined && get(m, "series") !== null && get(m, "series") !== "") parts.push("series " + get(m, "series"));
    if (get(m, "victim_identified") === true) parts.push("victim identified");
    if (get(m, "victim_identified") === false) parts.push("victim not identified");
    if (get(m, "entry") !== undefined && get(m, "entry") !== null) parts.push("entry " + get(m, "entry"));
    return parts.join(" \u00b7 ");
  }
  function mediaText(it) {
    var m = get(it, "media"), f = get(it, "format");
    return [m, f].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).join(" / ");
  }
  function noteText(it) {
    return [get(it, "error"), get(it, "note")].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).join(" | ");
  }
  function str(v) { return v === undefined || v === null ? "" : String(v); }
  // Metadata and leads (leads/): text only, as report.json holds them.
  function metaText(it) {
    var md = get(it, "metadata");
    if (md === null || typeof md !== "object") return "";
    var parts = [[get(md, "make"), get(md, "model")].filter(function (x) { return x; }).map(str).join(" ")];
    if (get(md, "serial")) parts.push("serial " + str(get(md, "serial")));
    if (get(md, "lens_serial")) parts.push("lens serial " + str(get(md, "lens_serial")));
    if (get(md, "software")) parts.push("software " + str(get(md, "software")));
    if (get(md, "captured")) parts.push("captured " + str(get(md, "captured")));
    var gps = get(md, "gps");
    if (gps !== null && typeof gps === "object")
      parts.push(has(gps, "latitude") ? "GPS " + str(get(gps, "latitude")) + ", " + str(get(gps, "longitude"))
                                      : "GPS tags without coordinates");
    if (get(md, "has_thumbnail") === true) parts.push("embedded thumbnail (not shown)");
    return parts.filter(function (x) { return x; }).join(" \u00b7 ");
  }
  function leadText(lead) {
    var kind = str(get(lead, "kind")), n = get(lead, "count"), others = get(lead, "items");
    var text = kind;
    var by = Array.isArray(get(lead, "by")) ? get(lead, "by").map(str).join(", ") : str(get(lead, "by"));
    var distance = get(lead, "distance"), device = get(lead, "device");
    var how = by + (typeof distance === "number" ? " distance " + distance : "") + (device ? " " + str(device) : "");
    if (kind === "cluster") text = "cluster " + str(get(lead, "cluster")) + " (" + by + ")";
    else if (kind === "device") text = "device " + str(device) + " (" + by + ")";
    else if (kind === "series") return "possible series " + str(get(lead, "series")) + " (" + how + ")";
    else if (kind === "cross_case") return crossCaseText(lead, n, how);
    if (typeof n === "number") text += " with " + bytes(n) + " other item" + (n === 1 ? "" : "s");
    var known = get(lead, "known");
    if (typeof known === "number" && known > 0) text += ", " + bytes(known) + " known";
    if (Array.isArray(others) && others.length)
      text += ": " + others.map(str).join(", ") + (typeof n === "number" && n > others.length ? ", \u2026" : "");
    return text;
  }
  function crossCaseText(lead, n, how) {
    var cases = Array.isArray(get(lead, "cases")) ? get(lead, "cases") : [];
    var named = cases.map(function (c) {
      var d = get(c, "distance"), k = get(c, "known"), paths = get(c, "paths");
      return "case " + str(get(c, "case")) + " #" + str(get(c, "case_id")) + " of " + str(get(c, "agency")) +
        " (" + str(get(c, "items")) + " item" + (get(c, "items") === 1 ? "" : "s") +
        (typeof d === "number" ? ", distance " + d : "") + (typeof k === "number" && k > 0 ? ", " + k + " known" : "") +
        (Array.isArray(paths) && paths.length ? ": " + paths.map(str).join(", ") : "") + ")";
    });
    return "seen in " + (typeof n === "number" ? bytes(n) : "?") + " other case" + (n === 1 ? "" : "s") + " (" + how +
      ")" + (named.length ? ": " + named.join("; ") + (typeof n === "number" && n > named.length ? "; \u2026" : "") : "");
  }
  function leadsOf(it) { var l = get(it, "leads"); return Array.isArray(l) ? l : []; }
  function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function cmpNum(a, b) {
    var na = typeof a === "number", nb = typeof b === "number";
    if (!na || !nb) return na === nb ? 0 : (na ? -1 : 1);
    return a - b;
  }

  // Sort keys per column. Ties keep the queue order (the sort is stable and starts from it).
  var COLUMNS = [
    {key: "index", label: "#", cmp: function (a, b) { return a - b; }},
    {key: "status", label: "Status", cmp: function (a, b) { return rank(groupOf(items[a])) - rank(groupOf(items[b])) || cmpStr(statusOf(items[a]), statusOf(items[b])); }},
    {key: "path", label: "Path", cmp: function (a, b) { return cmpStr(str(get(items[a], "path")), str(get(items[b], "path"))); }},
    {key: "source", label: "Src", cmp: function (a, b) { return cmpNum(get(items[a], "source"), get(items[b], "source")); }},
    {key: "media", label: "Media", cmp: function (a, b) { return cmpStr(mediaText(items[a]), mediaText(items[b])); }},
    {key: "size", label: "Bytes", cmp: function (a, b) { return cmpNum(get(items[a], "size"), get(items[b], "size")); }},
    {key: "matches", label: "Matches", cmp: function (a, b) {
      var ma = matchesOf(items[a]), mb = matchesOf(items[b]);
      if (!ma.length || !mb.length) return (mb.length ? 1 : 0) - (ma.length ? 1 : 0);
      return cmpStr(category(ma[0]), category(mb[0])) || cmpStr(str(get(ma[0], "set")), str(get(mb[0], "set")));
    }},
    {key: "hashes", label: "Hashes", cmp: function (a, b) { return cmpStr(str(get(items[a], "sha256")), str(get(items[b], "sha256"))); }},
    {key: "note", label: "Error / note", cmp: function (a, b) { return cmpStr(noteText(items[a]), noteText(items[b])); }}
  ];

  var state = {sort: null, dir: 1, text: "", statuses: {}, media: "", page: 0, allHashes: false};
  var sorted = queue.slice(), shown = sorted, haystack = null;

  var $ = function (id) { return document.getElementById(id); };
  var thead = $("items-head"), tbody = $("items-body");

  // Header with sort buttons.
  var headRow = document.createElement("tr");
  COLUMNS.forEach(function (col) {
    var th = document.createElement("th");
    th.className = "col-" + col.key;
    var b = mk("button", null, col.label);
    b.type = "button";
    b.addEventListener("click", function () {
      if (state.sort === col.key) state.dir = -state.dir; else { state.sort = col.key; state.dir = 1; }
      resort();
    });
    th.appendChild(b);
    headRow.appendChild(th);
  });
  thead.appendChild(headRow);

  // Status checkboxes, built from the statuses present, in queue order.
  var counts = {};
  items.forEach(function (it) { var s = statusOf(it); counts[s] = (counts[s] || 0) + 1; });
  var statusNames = Object.keys(counts).sort(function (a, b) { return rank(a) - rank(b) || cmpStr(a, b); });
  var boxes = $("status-boxes");
  statusNames.forEach(function (s) {
    state.statuses[s] = true;
    var label = document.createElement("label");
    var cb = document.createElement("input");
    cb.type = "checkbox"; cb.checked = true; cb.value = s;
    cb.addEventListener("change", function () { state.statuses[s] = cb.checked; refilter(); });
    label.appendChild(cb);
    label.appendChild(document.createTextNode(" "));
    label.appendChild(mk("span", "st st-" + cssStatus(s), s));
    label.appendChild(document.createTextNode(" " + bytes(counts[s])));
    boxes.appendChild(label);
  });

  var timer = null;
  $("filter").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.text = $("filter").value.trim().toLowerCase(); refilter(); }, 200);
  });
  $("media").addEventListener("change", function () { state.media = $("media").value; refilter(); });
  $("all-hashes").addEventListener("change", function () { state.allHashes = $("all-hashes").checked; draw(); });
  $("queue-order").addEventListener("click", function () { state.sort = null; state.dir = 1; resort(); });
  document.querySelectorAll("button[data-page]").forEach(function (b) {
    b.addEventListener("click", function () {
      var last = Math.max(0, Math.ceil(shown.length / PAGE) - 1), p = b.getAttribute("data-page");
      state.page = p === "first" ? 0 : p === "prev" ? Math.max(0, state.page - 1) : p === "next" ? Math.min(last, state.page + 1) : last;
      draw();
    });
  });

  function searchText(it) {
    var parts = [get(it, "path"), statusOf(it), mediaText(it), get(it, "md5"), get(it, "sha1"), get(it, "sha256"),
                 get(it, "pdq"), noteText(it), metaText(it)];
    leadsOf(it).forEach(function (l) { parts.push(leadText(l)); });
    matchesOf(it).forEach(function (m) { parts.push(matchText(m), get(m, "kind")); });
    return parts.map(str).join("\n").toLowerCase();
  }
  function resort() {
    var col = null;
    COLUMNS.forEach(function (c) { if (c.key === state.sort) col = c; });
    sorted = queue.slice();
    if (col) sorted.sort(function (a, b) { return state.dir * col.cmp(a, b); });
    Array.prototype.forEach.call(headRow.children, function (th, i) {
      if (col && COLUMNS[i] === col) th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    refilter();
  }
  function refilter() {
    var text = state.text;
    if (text && haystack === null) haystack = items.map(searchText);
    shown = sorted.filter(function (i) {
      var it = items[i];
      if (!state.statuses[statusOf(it)]) return false;
      if (state.media && str(get(it, "media")) !== state.media) return false;
      return !text || haystack[i].indexOf(text) !== -1;
    });
    state.page = 0;
    draw();
  }
  function groupRow(group, n) {
    var tr = mk("tr", "group"), td = mk("td"), status = group === "unknown-other" ? "unknown" : group;
    td.colSpan = COLUMNS.length;
    td.appendChild(mk("span", "st st-" + cssStatus(status), status));
    put(td, " " + (group === "unknown-other" ? "not image or video, " : "") + bytes(n) + " item" + (n === 1 ? "" : "s") + " ");
    td.appendChild(mk("span", "muted", has(HELP, group) ? HELP[group] : "unrecognised status"));
    tr.appendChild(td);
    return tr;
  }
  function hashLine(cell, label, value) {
    if (value === undefined || value === null || value === "") return;
    var div = mk("div", "hash");
    div.appendChild(mk("span", "muted", label + " "));
    put(div, value);
    cell.appendChild(div);
  }
  function row(i) {
    var it = items[i], tr = document.createElement("tr"), s = statusOf(it);
    tr.appendChild(mk("td", "num", i));
    var st = mk("td"); st.appendChild(mk("span", "st st-" + cssStatus(s), s)); tr.appendChild(st);
    tr.appendChild(mk("td", "path", get(it, "path")));
    tr.appendChild(mk("td", "num", get(it, "source")));
    tr.appendChild(mk("td", null, mediaText(it)));
    tr.appendChild(mk("td", "num", bytes(get(it, "size"))));
    var mc = mk("td");
    matchesOf(it).forEach(function (m) {
      var div = mk("div", "match");
      var kind = str(get(m, "kind"));
      div.appendChild(mk("span", kind === "alert" ? "kind-alert" : "kind-ignorable", kind || "?"));
      put(div, " " + matchText(m));
      mc.appendChild(div);
    });
    tr.appendChild(mc);
    var hc = mk("td");
    hashLine(hc, "sha256", get(it, "sha256"));
    if (state.allHashes) {
      hashLine(hc, "sha1", get(it, "sha1"));
      hashLine(hc, "md5", get(it, "md5"));
      var q = get(it, "pdq_quality");
      hashLine(hc, "pdq", get(it, "pdq") ? str(get(it, "pdq")) + (q === undefined || q === null ? "" : " (quality " + q + ")") : null);
    }
    tr.appendChild(hc);
    var nc = mk("td");
    if (get(it, "error")) nc.appendChild(mk("div", "err", get(it, "error")));
    if (get(it, "note")) nc.appendChild(mk("div", null, get(it, "note")));
    if (metaText(it)) nc.appendChild(mk("div", "meta", metaText(it)));
    leadsOf(it).forEach(function (l) { nc.appendChild(mk("div", "lead", "lead: " + leadText(l))); });
    tr.appendChild(nc);
    return tr;
  }
  function draw() {
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * PAGE, end = Math.min(shown.length, start + PAGE);
    var grouped = state.sort === null, perStatus = {};
    if (grouped) shown.forEach(function (i) { var s = groupOf(items[i]); perStatus[s] = (perStatus[s] || 0) + 1; });
    var frag = document.createDocumentFragment(), prev = null;
    for (var k = start; k < end; k++) {
      var s = groupOf(items[shown[k]]);
      if (grouped && s !== prev) frag.appendChild(groupRow(s, perStatus[s]));
      prev = s;
      frag.appendChild(row(shown[k]));
    }
    if (end === start) {
      var tr = mk("tr"), td = mk("td", "muted", items.length ? "No item matches the filters." : "The report lists no items.");
      td.colSpan = COLUMNS.length; tr.appendChild(td); frag.appendChild(tr);
    }
    tbody.textContent = "";
    tbody.appendChild(frag);
    var info = shown.length ? "rows " + bytes(start + 1) + "\u2013" + bytes(end) + " of " + bytes(shown.length) : "no rows";
    if (shown.length !== items.length) info += " (filtered from " + bytes(items.length) + ")";
    info += " \u00b7 page " + (state.page + 1) + " of " + pages + (grouped ? " \u00b7 queue order" : "");
    document.querySelectorAll(".page-info").forEach(function (el) { el.textContent = info; });
  }

  // Skipped paths, shown on demand in chunks.
  var skipped = Array.isArray(report.skipped) ? report.skipped : [];
  var skippedShown = 0;
  $("skipped-count").textContent = bytes(skipped.length);
  function moreSkipped() {
    var body = $("skipped-body"), end = Math.min(skipped.length, skippedShown + 500);
    for (; skippedShown < end; skippedShown++) {
      var tr = mk("tr"), sk = skipped[skippedShown];
      tr.appendChild(mk("td", "path", get(sk, "path")));
      tr.appendChild(mk("td", null, get(sk, "reason")));
      body.appendChild(tr);
    }
    $("skipped-more").hidden = skippedShown >= skipped.length;
  }
  $("skipped-more").addEventListener("click", moreSkipped);
  $("skipped").addEventListener("toggle", function () { if ($("skipped").open && skippedShown === 0) moreSkipped(); });

  $("app").hidden = false;
  resort();
})();
"""

_PAGE = PAGE_HEAD + """<body>
<header>
<h1>Case <span class="mono">@@CASE@@</span></h1>
<div class="muted">Generated by @@TOOL@@. Hashes and metadata only: this report never contains imagery.</div>
</header>
<div class="overview">
<section><h2>Sources</h2><table><thead><tr><th>#</th><th>Path</th><th></th></tr></thead><tbody>@@SOURCES@@</tbody></table></section>
<section><h2>Items by status</h2><table id="summary-status"><tbody>@@STATUS_ROWS@@</tbody></table></section>
<section><h2>Known items by category</h2><table id="summary-category"><thead><tr><th>Scheme</th><th>Code</th><th>Label</th><th>Items</th></tr></thead><tbody>@@CATEGORY_ROWS@@</tbody></table>
<p class="note muted">Each known item is counted once per scheme, under its most serious category among all its matches; an item categorised in two schemes is counted in both. Labels and order from category profile version @@PROFILE@@.</p></section>
<section><h2>By media type</h2><table id="summary-media"><thead><tr><th>Media</th><th>Items</th><th>unknown</th><th>error</th><th>known</th><th>ignorable</th></tr></thead><tbody>@@MEDIA_ROWS@@</tbody></table></section>
</div>
<div class="overview">
<section><h2>Hash sets used</h2><table id="hash-sets"><thead><tr><th>Name</th><th>Kind</th><th>Version</th><th>Source</th><th>Category scheme</th><th>Entries</th></tr></thead><tbody>@@HASH_SETS@@</tbody></table></section>
<section><h2>Custody</h2><table id="custody-runs"><thead><tr><th>Run</th><th>Started (UTC)</th><th>Finished (UTC)</th><th>Items hashed</th></tr></thead><tbody>@@RUNS@@</tbody></table>
<table id="custody-sources"><thead><tr><th>Source</th><th>Evidence unchanged</th></tr></thead><tbody>@@UNCHANGED@@</tbody></table>
<p class="note muted">The full record (digests of every file before and after, settings, host, audit head) is custody.json.</p></section>
</div>
<h2>Items</h2>
<noscript><p class="err">The item list needs JavaScript. The full report is embedded in this file as JSON (script element hw-data).</p></noscript>
<div id="app" hidden>
<div class="controls">
<input type="search" id="filter" placeholder="Filter: path, hash, set, category, note" aria-label="Filter items">
<span id="status-boxes"></span>
<label>Media <select id="media"><option value="">all</option><option value="image">image</option><option value="video">video</option><option value="other">other</option></select></label>
<label><input type="checkbox" id="all-hashes"> all hashes</label>
<button type="button" id="queue-order">Queue order</button>
</div>
<div class="pager"><button type="button" data-page="first">&laquo;</button><button type="button" data-page="prev">&lsaquo; Prev</button><button type="button" data-page="next">Next &rsaquo;</button><button type="button" data-page="last">&raquo;</button> <span class="page-info muted"></span></div>
<table id="items"><thead id="items-head"></thead><tbody id="items-body"></tbody></table>
<div class="pager"><button type="button" data-page="first">&laquo;</button><button type="button" data-page="prev">&lsaquo; Prev</button><button type="button" data-page="next">Next &rsaquo;</button><button type="button" data-page="last">&raquo;</button> <span class="page-info muted"></span></div>
<details id="skipped"><summary>Skipped paths (<span id="skipped-count"></span>)</summary>
<table><thead><tr><th>Path</th><th>Reason</th></tr></thead><tbody id="skipped-body"></tbody></table>
<button type="button" id="skipped-more" hidden>Show more</button>
</details>
</div>
<script type="application/json" id="hw-data">@@DATA@@</script>
<script type="application/json" id="hw-order">@@ORDER@@</script>
<script type="application/json" id="hw-labels">@@LABELS@@</script>
<script>@@JS@@</script>
</body>
</html>
"""
