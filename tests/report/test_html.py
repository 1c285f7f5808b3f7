"""Tests for the HTML report: structure, queue order, escaping of hostile names, no images, no network, scale.

All data is synthetic: made-up paths and random hex strings standing in for hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hashwarden.report.html import NON_MEDIA_UNKNOWN, embed_json, queue_group, queue_order, render_html

HOSTILE_NAMES = [
    "</script><script>alert(1)</script>.jpg",
    "</SCRIPT ><!-- x.png",
    "<!--<script>",
    "-->]]><![CDATA[.jpg",
    '"><img src=x onerror=alert(1)>.png',
    "a\u2028b\u2029c.jpg",
    "\u202egpj.exe",
    "C:\\Users\\x\\new\\t\\u003c.jpg",
    "bytes-\udcff\udc80.jpg",
    "\u0000nul\u0007bel\nnewline.jpg",
    "emoji \U0001f600 \u6f22\u5b57 \u00e9.jpg",
    "&amp;&lt;&#x3c;.jpg",
    "https://example.invalid/leak.jpg",
    "data:image/png;base64,AAAA",
]


def _hex(seed: int, n: int) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()[:n]


def _item(i: int, status: str, path: str | None = None, media: str = "image", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "path": path if path is not None else f"dir{i % 7}/file{i:06d}.jpg",
        "source": 0,
        "size": 1000 + i,
        "md5": _hex(i, 32),
        "sha1": _hex(i, 40),
        "sha256": _hex(i, 64),
        "media": media,
        "format": "JPEG" if media == "image" else None,
        "pdq": _hex(i + 1, 64) if media == "image" else None,
        "pdq_quality": 90 if media == "image" else None,
        "status": status,
        "matches": [],
    }
    if status == "known":
        item["matches"] = [
            {"set": "synthetic-set", "kind": "alert", "method": "pdq", "distance": 12, "transform": "rot90",
             "category": "A", "scheme": "testscheme", "entry": i},
            {"set": "synthetic-set", "kind": "alert", "method": "sha256", "category": None, "scheme": None, "entry": i},
        ]
    elif status == "ignorable":
        item["matches"] = [{"set": "benign", "kind": "ignorable", "method": "md5", "category": None, "scheme": None, "entry": 1}]
    elif status == "error":
        item["error"] = "synthetic read error"
        item["sha256"] = None
    item.update(extra)
    return item


def _report(items: list[dict[str, Any]], case: str = "CASE-2024-001", skipped: list[dict[str, str]] | None = None) -> dict[str, Any]:
    statuses = [it["status"] for it in items]
    return {
        "case": case,
        "tool": {"name": "hashwarden", "version": "0.1.0"},
        "sources": [{"path": "/evidence/synthetic-disk", "label": "disk 1"}],
        "summary": {
            "items": len(items),
            **{s: statuses.count(s) for s in ("known", "ignorable", "unknown", "error")},
            "skipped": len(skipped or []),
            "by_category": {"testscheme:A": statuses.count("known"), "uncategorised": 0},
        },
        "items": items,
        "skipped": skipped or [],
    }


def _script_block(page: str, block_id: str) -> str:
    found = re.findall(rf'<script type="application/json" id="{block_id}">(.*?)</script>', page, flags=re.S)
    assert len(found) == 1
    return found[0]


def _small_report() -> dict[str, Any]:
    items = [
        _item(0, "known", "z/known.jpg"),
        _item(1, "ignorable", "a/ignorable.jpg"),
        _item(2, "unknown", "b/other.bin", media="other"),
        _item(3, "error", "c/broken.jpg"),
        _item(4, "unknown", "z/video.mp4", media="video"),
        _item(5, "unknown", "y/unknown.jpg"),
        _item(6, "known", "a/known.jpg"),
    ]
    return _report(items, skipped=[{"path": "x/readme.txt", "reason": "not media"}])


def test_small_report_header_and_queue_order() -> None:
    report = _small_report()
    page = render_html(report)

    assert page.startswith("<!DOCTYPE html>")
    assert "CASE-2024-001" in page
    assert "hashwarden 0.1.0" in page
    assert "&#47;evidence&#47;synthetic-disk" in page  # sources, escaped server-side
    for status in ("unknown", "error", "known", "ignorable", "skipped"):
        assert f">{status}<" in page
    assert "testscheme:A" in page and "uncategorised" in page

    assert json.loads(_script_block(page, "hw-data")) == report
    order = json.loads(_script_block(page, "hw-order"))
    # Unknown images and videos first, then errors, then unknown non-media, then known, then ignorable.
    assert order == [5, 4, 3, 2, 6, 0, 1]
    assert [report["items"][i]["status"] for i in order] == ["unknown"] * 2 + ["error", "unknown", "known", "known", "ignorable"]


def test_unknown_text_file_is_not_possibly_new_material() -> None:
    """An unknown file that is neither image nor video goes after errors, in its own group; missing media stays first."""
    items = [_item(0, "unknown", "notes.txt", media="other"), _item(1, "error", "broken.jpg"),
             _item(2, "unknown", "z.mp4", media="video"), _item(3, "known", "k.jpg"), {"status": "unknown"}]
    assert queue_order(items) == [2, 4, 1, 0, 3]
    assert [queue_group(item) for item in items] == [NON_MEDIA_UNKNOWN, "error", "unknown", "known", "unknown"]


def _custody(unchanged: bool = True) -> dict[str, Any]:
    return {
        "runs": [{"started": "2024-05-01T10:00:00Z", "finished": "2024-05-01T10:05:00Z", "hashed": 7},
                 {"started": "2024-05-01T11:00:00Z", "finished": None, "hashed": 0}],
        "sources": [{"path": "/evidence/synthetic-disk", "unchanged": unchanged, "reread": True}],
        "hash_sets": [{"name": "national-set", "kind": "alert", "source": "local", "version": "2024.05",
                       "category_scheme": "uk-sentencing", "entries": 12345},
                      {"name": "nsrl-known", "kind": "ignorable", "source": "NSRL", "version": None,
                       "category_scheme": None, "entries": 9}],
    }


def _section(page: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, flags=re.S)
    assert found is not None, table_id
    return found.group(1)


def test_hash_sets_and_custody_summary_are_shown() -> None:
    page = render_html(_small_report(), _custody())
    sets = _section(page, "hash-sets")
    assert "national-set" in sets and "2024.05" in sets and "12,345" in sets and "uk-sentencing" in sets
    assert "nsrl-known" in sets and "NSRL" in sets and "(none)" in sets
    runs = _section(page, "custody-runs")
    assert "2024-05-01T10:00:00Z" in runs and "2024-05-01T10:05:00Z" in runs and "not finished" in runs
    unchanged = _section(page, "custody-sources")
    assert "&#47;evidence&#47;synthetic-disk" in unchanged and '<span class="ok">yes</span>' in unchanged
    assert '<span class="err">NO</span>' in _section(render_html(_small_report(), _custody(False)), "custody-sources")
    assert "see custody.json" in _section(render_html(_small_report()), "hash-sets")


def test_categories_are_shown_with_the_profile_labels_and_in_severity_order() -> None:
    report = _small_report()
    report["summary"]["by_category"] = {"uk-sentencing:C": 1, "uncategorised": 4, "uk-sentencing:A": 2,
                                        "vics-us:1": 3, "vics-uk:7": 1}
    report["items"][0]["matches"][0].update(scheme="uk-sentencing", category="A")
    report["items"][6]["matches"][0].update(scheme="vics-us", category="1")
    page = render_html(report)
    rows = re.findall(r"<tr>(.*?)</tr>", _section(page, "summary-category"), flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:]]
    assert [(c[0], c[1], c[3]) for c in cells] == [("uk-sentencing", "A", "2"), ("uk-sentencing", "C", "1"),
                                                   ("vics-uk", "7", "1"), ("vics-us", "1", "3"), ("", "uncategorised", "4")]
    assert cells[0][2] == "Category A" and cells[3][2] == "Child Exploitation (Illegal)"
    assert "no label" in cells[2][2]
    # The labels the item rows show next to their codes (client-side), only for codes the report holds.
    assert json.loads(_script_block(page, "hw-labels")) == {
        "uk-sentencing": {"A": "Category A"}, "vics-us": {"1": "Child Exploitation (Illegal)"}}


def test_counts_by_media_type() -> None:
    rows = re.findall(r"<tr>(.*?)</tr>", _section(render_html(_small_report()), "summary-media"), flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:]]
    # media, items, unknown, error, known, ignorable
    assert cells == [["image", "5", "1", "1", "2", "1"], ["video", "1", "1", "0", "0", "0"],
                     ["other", "1", "1", "0", "0", "0"]]


def test_queue_order_handles_odd_and_missing_fields() -> None:
    items = [{"status": "ignorable"}, {}, {"status": "weird", "path": None}, {"status": "unknown", "media": None}]
    # Unrecognised or missing status sorts after error but before known: never buried at the end.
    assert queue_order(items) == [3, 1, 2, 0]


def test_missing_optional_fields_render() -> None:
    page = render_html({"case": "minimal", "items": [{"path": "only/path.jpg"}, {"status": "unknown"}]})
    assert json.loads(_script_block(page, "hw-data"))["items"][0] == {"path": "only/path.jpg"}
    page = render_html({})
    assert "none listed" in page
    assert json.loads(_script_block(page, "hw-order")) == []


def test_hostile_names_cannot_break_out() -> None:
    items = [_item(i, ("unknown", "known", "error", "ignorable")[i % 4], name) for i, name in enumerate(HOSTILE_NAMES)]
    items[0]["note"] = "</script><!--"
    report = _report(items, case="</title><script>alert('case')</script>", skipped=[{"path": HOSTILE_NAMES[0], "reason": "<b>"}])
    report["sources"].append({"path": "\u202e</td><script>x</script>"})
    page = render_html(report)

    data = _script_block(page, "hw-data")
    assert json.loads(data) == report
    for bad in ("<", ">", "&", "\u2028", "\u2029", "</script", "<!--"):
        assert bad not in data
    assert data.isascii()
    assert page.isascii()  # the whole page: nothing can fail to encode, not even lone surrogates
    # Exactly our four script elements (three of them data), and the only executable one is ours.
    assert page.lower().count("<script") == 4
    assert "<script>alert" not in page.lower()
    # Server-side text is escaped; the bidi override is shown as a visible marker.
    assert '<span class="cc">U+202E</span>' in page
    assert "&lt;&#47;title&gt;&lt;script&gt;" in page


def test_embed_json_round_trips_every_name() -> None:
    for name in HOSTILE_NAMES:
        text = embed_json({"path": name})
        assert json.loads(text) == {"path": name}
        assert not re.search(r"[<>&\u2028\u2029]|(?<!\\)/", text)


def test_no_images_no_network_no_external_assets() -> None:
    report = _small_report()
    report["items"].append(_item(99, "unknown", "https://example.invalid/a.jpg", note="see http://x.invalid/"))
    page = render_html(report)
    lowered = page.lower()
    for forbidden in ("<img", "<svg", "<canvas", "<video", "<audio", "<iframe", "<object", "<embed", "<link",
                      "http://", "https://", "src=", "href=", "url(", "@import", "@font-face", "//cdn"):
        assert forbidden not in lowered, forbidden
    # Clean data: no data: URIs either.
    assert "data:" not in render_html(_small_report()).lower()


def test_csp_allows_only_our_script_and_style() -> None:
    page = render_html(_small_report())
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert f"script-src '{digest(scripts[0])}'" in policy
    assert f"style-src '{digest(styles[0])}'" in policy


def test_static_html_has_no_item_rows() -> None:
    """Items are rendered client-side a page at a time, so the static page does not grow rows with the item count."""
    small = render_html(_report([_item(i, "unknown") for i in range(10)]))
    large = render_html(_report([_item(i, "unknown") for i in range(2000)]))
    assert small.count("<tr") == large.count("<tr")


def test_100k_items_render_with_linear_size() -> None:
    statuses = ("unknown", "known", "ignorable", "error")
    ten_k = render_html(_report([_item(i, statuses[i % 4]) for i in range(10_000)]))
    items = [_item(i, statuses[i % 4]) for i in range(100_000)]
    page = render_html(_report(items))

    assert len(json.loads(_script_block(page, "hw-data"))["items"]) == 100_000
    order = json.loads(_script_block(page, "hw-order"))
    assert sorted(order) == list(range(100_000))
    assert items[order[0]]["status"] == "unknown" and items[order[-1]]["status"] == "ignorable"
    ratio = len(page) / len(ten_k)
    assert 8 < ratio < 11, ratio
    assert len(page) < 100_000 * 1_000  # well under 1 kB per item


def rendered(html_file: Path) -> tuple[str, str]:
    """The page as headless Chromium builds it: its DOM and the items table's body (a missing chromium fails)."""
    if shutil.which("chromium") is None:  # a missing tool fails: it is not a pass
        pytest.fail("chromium missing: make test installs it (Makefile TEST_TOOLS)")
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--virtual-time-budget=5000", "--dump-dom", html_file.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    body = re.search(r'<tbody id="items-body">(.*?)</tbody>', result.stdout, flags=re.S)
    assert body is not None, result.stderr[-2000:]
    return result.stdout, body.group(1)


@pytest.mark.heavy
def test_headless_chromium_renders_first_page(tmp_path: Path) -> None:
    items = [_item(i, ("unknown", "known", "ignorable", "error")[i % 4]) for i in range(1000)]
    items.append(_item(1000, "unknown", "aaa/" + HOSTILE_NAMES[0]))
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html(_report(items)), encoding="utf-8")
    dom, body = rendered(html_file)
    rows = re.findall(r"<tr>", body)
    assert len(rows) == 200  # one page, not all 1001 items
    assert body.count('<tr class="group">') == 1  # the page starts in the "unknown" section
    # The hostile name is first in the queue (unknown, path "aaa/...") and shows as text.
    assert "aaa/&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in body
    assert "rows 1\u20131,000 of 1,001" not in dom  # page size is 200
    assert "rows 1\u2013200 of 1,001" in dom


@pytest.mark.heavy
def test_headless_chromium_shows_queue_groups_labels_and_flags(tmp_path: Path) -> None:
    known = _item(3, "known", "k.jpg")
    known["matches"] = [{"set": "national", "kind": "alert", "method": "sha256", "category": "A",
                         "scheme": "uk-sentencing", "series": "series-one", "victim_identified": False, "entry": 3}]
    items = [_item(0, "unknown", "notes.txt", media="other"), _item(1, "error", "broken.jpg"),
             _item(2, "unknown", "new.jpg"), known]
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html(_report(items), _custody()), encoding="utf-8")
    _, body = rendered(html_file)
    groups = re.findall(r'<tr class="group">(.*?)</tr>', body, flags=re.S)
    assert len(groups) == 4
    assert "possibly new material" in groups[0] and "error" in groups[1]
    assert "not image or video" in groups[2] and "not possibly new material" in groups[2]
    assert [p for p in re.findall(r'<td class="path">(.*?)</td>', body)] == ["new.jpg", "broken.jpg", "notes.txt", "k.jpg"]
    assert "uk-sentencing:A (Category A)" in body
    assert "series series-one" in body and "victim not identified" in body
