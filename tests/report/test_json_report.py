"""report.json's summary: each known item counted once per scheme under its most serious category; match flags kept.

All data is synthetic: made-up paths, set names and hex strings standing in for hashes.
"""

from __future__ import annotations

from typing import Any

import pytest

from hashwarden.report.json_report import build_report, item_categories


def _alert(set_name: str, category: str | None, scheme: str | None, entry: int, **extra: Any) -> dict[str, Any]:
    return {"set": set_name, "kind": "alert", "method": "sha256", "entry": entry, "category": category,
            "scheme": scheme, **extra}


def _known(path: str, matches: list[dict[str, Any]]) -> dict[str, Any]:
    return {"path": path, "source": 0, "size": 1, "md5": None, "sha1": None, "sha256": "ab" * 32, "media": "image",
            "format": "jpeg", "pdq": None, "pdq_quality": None, "status": "known", "matches": matches}


def _by_category(items: list[dict[str, Any]]) -> dict[str, int]:
    return build_report("C", ["/evidence"], items, [])["summary"]["by_category"]


@pytest.mark.parametrize("reverse", [False, True])
def test_uncategorised_set_never_hides_category_a(reverse: bool) -> None:
    """An item in an uncategorised set and in a Category A set counts under A, whichever match comes first."""
    matches = [_alert("aaa-no-categories", None, None, 1), _alert("mmm", "C", "uk-sentencing", 2),
               _alert("zzz-national", "A", "uk-sentencing", 3)]
    if reverse:
        matches.reverse()
    assert _by_category([_known("a.jpg", matches)]) == {"uk-sentencing:A": 1}


def test_each_scheme_counts_an_item_once_by_its_most_serious_code() -> None:
    items = [
        # vics-us: 1 > 2 > 3 > 0 > 4 > 5 (0 is not a finding that the item is benign, 4 and 5 are)
        _known("a.jpg", [_alert("s1", "5", "vics-us", 1), _alert("s2", "0", "vics-us", 2), _alert("s3", "4", "vics-us", 3)]),
        _known("b.jpg", [_alert("s1", "3", "vics-us", 4), _alert("s2", "2", "vics-us", 5)]),
        # two schemes: counted in both (codes of different schemes are not comparable)
        _known("c.jpg", [_alert("s1", "B", "uk-sentencing", 6), _alert("s2", "1", "vics-us", 7)]),
        # vics-default inherits vics-us's order through codes_from
        _known("d.jpg", [_alert("s1", "5", "vics-default", 8), _alert("s2", "1", "vics-default", 9)]),
        # no category anywhere
        _known("e.jpg", [_alert("s1", None, None, 10), _alert("s2", None, "uk-sentencing", 11)]),
        # a category on an ignorable match is not a finding
        _known("f.jpg", [_alert("s1", None, None, 12), {**_alert("nsrl", "8", "nist-caid", 13), "kind": "ignorable"}]),
        # a scheme the profile does not know: numbers in numeric order, then text
        _known("g.jpg", [_alert("s1", "10", "agency-x", 14), _alert("s2", "9", "agency-x", 15), _alert("s3", "x", "agency-x", 16)]),
    ]
    assert _by_category(items) == {
        "vics-us:0": 1, "vics-us:2": 1, "vics-us:1": 1, "uk-sentencing:B": 1, "vics-default:1": 1,
        "uncategorised": 2, "agency-x:9": 1,
    }
    assert item_categories(items[2]["matches"]) == ["uk-sentencing:B", "vics-us:1"]


def test_series_and_victim_flags_are_kept_on_matches() -> None:
    item = _known("a.jpg", [_alert("s1", "A", "uk-sentencing", 1, series="series-one", victim_identified=False),
                            _alert("s2", "A", "uk-sentencing", 2, series=None, victim_identified=True)])
    (out,) = build_report("C", ["/evidence"], [item], [])["items"]
    assert out["matches"][0]["series"] == "series-one" and out["matches"][0]["victim_identified"] is False
    assert "series" not in out["matches"][1] and out["matches"][1]["victim_identified"] is True
