"""What the analysts' pages are tested over (tests/service/test_web_pages.py in process, test_web_browser.py in
Chromium): votes (one media confirmed, one disputed, one indicative), series and victims with links, a hostile
note, and a submitted case whose unknown items carry leads of the scan's kinds and of a kind the pages do not know.
Hashes and text only: no imagery anywhere."""

from __future__ import annotations

from typing import Any

from hashwarden.grading.votes import cast_votes
from hashwarden.store.cases import save_case
from hashwarden.store.records import Vote
from hashwarden.store.series import create_series, create_victim, link_series_media, link_victim

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CONFIRMED_SHA256 = "a1" * 32
DISPUTED_SHA256 = "b2" * 32
INDICATIVE_SHA256 = "c3" * 32
VICTIM_MEDIA_MD5 = "d4" * 16
UNKNOWN_MD5 = "e5" * 16
AGENCY = "Hotline A"  # tests/service/conftest.py add_users


def report() -> dict[str, Any]:
    """A report.json (report/json_report.py's shape) of four items: a known one, two unknown images with the
    scan's leads and metadata, one unknown image with a lead of a kind added later (`cross_case`)."""
    def item(n: int, status: str, path: str, **extra: Any) -> dict[str, Any]:
        return {"path": path, "source": 0, "size": 100 + n, "md5": f"{n:02x}" * 16 if n != 1 else UNKNOWN_MD5,
                "sha1": f"{n:02x}" * 20, "sha256": f"{n:02x}" * 32, "media": "image", "format": "jpeg",
                "pdq": None, "pdq_quality": None, "status": status, "matches": [], **extra}

    burst = {"kind": "cluster", "cluster": "c1", "by": ["near_duplicate", "burst"], "items": ["DCIM/b.jpg"],
             "count": 1}
    return {
        "case": "CASE-WEB", "tool": {"name": "hashwarden", "version": "0.1.0"},
        "sources": [{"index": 0, "path": "/evidence/phone.E01"}],
        "summary": {"items": 4, "known": 1, "ignorable": 0, "unknown": 3, "error": 0, "skipped": 0, "bytes": 406,
                    "by_category": {}, "by_media": {"image": 4}},
        "items": [
            item(0, "known", "known.jpg", matches=[{"set": "known", "method": "md5"}]),
            item(1, "unknown", "DCIM/a.jpg", cluster="c1", leads=[burst, {
                "kind": "device", "by": "serial", "device": "Canon/SN123", "items": ["DCIM/b.jpg"], "count": 1,
                "known": 1}], metadata={"make": "Canon", "model": "EOS 5D", "serial": "SN123",
                                        "captured": "2024-05-01T10:00:00+02:00", "gps": {"lat": 51.5, "lon": -0.1}}),
            item(2, "unknown", f"DCIM/{HOSTILE}.jpg", cluster="c1", leads=[{**burst, "items": ["DCIM/a.jpg"]}],
                 metadata={"software": HOSTILE}),
            item(3, "unknown", "Downloads/c.jpg", leads=[{"kind": "future_kind", "case": 77, "items": ["x/c.jpg"],
                                                          "evidence": "same sha256"}]),
        ],
        "skipped": [],
    }


def fill_pages(engine: Any) -> int:
    """Votes, series, victims, links and a case of `AGENCY` (its users must exist: conftest.add_users); the
    case's id."""
    def votes(sha256: str, categories: list[str], note: str | None = None) -> list[Vote]:
        return [Vote(scheme="uk-sentencing", category=category, reviewer=f"reviewer-{n}", agency=AGENCY,
                     sha256=sha256, age_band="14-15", note=note if n == 1 else None)
                for n, category in enumerate(categories)]

    with engine.begin() as conn:
        cast_votes(conn, votes(CONFIRMED_SHA256, ["A", "A", "A"]) + votes(DISPUTED_SHA256, ["A", "B", "B"], HOSTILE)
                   + votes(INDICATIVE_SHA256, ["C"]))
        create_series(conn, "S-1", "Beach series", AGENCY, notes=HOSTILE)
        create_series(conn, "S/2", "Second series", "Force B")
        create_victim(conn, "V-1", identified=True, agency=AGENCY, identified_on="2021-03-04")
        create_victim(conn, "V-2")
        link_series_media(conn, "S-1", {"sha256": DISPUTED_SHA256})
        link_victim(conn, "V-1", series_code="S-1")
        link_victim(conn, "V-2", hashes={"md5": VICTIM_MEDIA_MD5})
        return save_case(conn, AGENCY, "examiner-user", report())
