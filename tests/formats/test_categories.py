"""The category profile's severity order: how the report picks an item's most serious category per scheme."""

from __future__ import annotations

import pytest

from hashwarden.errors import FormatError
from hashwarden.formats.categories import load_profile, parse_profile, severity_key


def _ranked(scheme: str, codes: list[str]) -> list[str]:
    return sorted(codes, key=lambda code: severity_key(scheme, code))


def test_packaged_profile_orders_its_schemes() -> None:
    profile = load_profile()
    assert profile.scheme("uk-sentencing").severity == ("A", "B", "C")
    assert profile.scheme("vics-us").severity == ("1", "2", "3", "0", "4", "5")
    assert profile.scheme("vics-default").severity == profile.scheme("vics-us").severity  # codes_from
    assert _ranked("uk-sentencing", ["C", "A", "B"]) == ["A", "B", "C"]
    assert _ranked("vics-us", ["5", "0", "4", "3", "1", "2"]) == ["1", "2", "3", "0", "4", "5"]
    # An open scheme without an order, and a scheme the profile lacks: numbers numerically, then text.
    assert _ranked("vics-uk", ["10", "x", "2"]) == ["2", "10", "x"]
    assert _ranked("nobody-knows", ["b", "11", "3"]) == ["3", "11", "b"]


def test_open_scheme_ranks_unlisted_codes_after_listed_ones() -> None:
    profile = parse_profile({"version": 9, "schemes": {"s": {"closed": False, "codes": {
        "7": {"label": "seven"}, "9": {"label": "nine"}}, "severity": ["9"]}}}, "p.json")
    assert sorted(["1", "7", "9"], key=lambda c: severity_key("s", c, profile)) == ["9", "1", "7"]


@pytest.mark.parametrize("severity", [["A", "B"], ["A", "B", "C", "D"], ["A", "A", "B", "C"], "ABC", [1, 2, 3]])
def test_bad_severity_is_refused(severity) -> None:
    codes = {code: {"label": code} for code in "ABC"}
    with pytest.raises(FormatError, match="severity"):
        parse_profile({"version": 9, "schemes": {"s": {"codes": codes, "severity": severity}}}, "p.json")
