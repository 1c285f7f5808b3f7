"""`checked_item`, the check of each line of `hashwarden match` and each item of `POST /v1/lookup`: what it accepts
(made lower-case hex), what it refuses and the message that names the field."""

from __future__ import annotations

from typing import Any

import pytest

from hashwarden.errors import FormatError
from hashwarden.scan.match_hashes import checked_item

MD5, SHA1, SHA256 = "a" * 32, "b" * 40, "c" * 64


@pytest.mark.parametrize("item, checked", [
    ({"md5": f" {MD5.upper()}\n", "path": "x"}, {"md5": MD5, "path": "x"}),
    ({"sha1": SHA1.upper(), "sha256": SHA256, "md5": None}, {"sha1": SHA1, "sha256": SHA256, "md5": None}),
    ({"pdq": SHA256.upper(), "pdq_quality": 0, "pdq_dihedral": [SHA256.upper()] * 8},
     {"pdq": SHA256, "pdq_quality": 0, "pdq_dihedral": [SHA256] * 8}),
    ({"vpdq": [{"frame": 0, "quality": 90, "pdq": SHA256.upper()}]},
     {"vpdq": [{"frame": 0, "quality": 90, "pdq": SHA256, "timestamp": 0.0}]}),
    ({"size": 3}, {"size": 3}),
])
def test_hashes_are_accepted_as_lower_case_hex(item: dict[str, Any], checked: dict[str, Any]) -> None:
    assert checked_item(item, "list", 1) == checked


@pytest.mark.parametrize("item, message", [
    ({"md5": 5}, "field md5: expected a string, not int"),
    ({"md5": MD5[:-1]}, f"field md5: not a md5 digest (32 hex characters): '{MD5[:-1]}'"),
    ({"sha1": "g" * 40}, f"field sha1: not a sha1 digest (40 hex characters): '{'g' * 40}'"),
    ({"sha256": "c" * 31 + " " + "c" * 32}, "field sha256: not a sha256 digest (64 hex characters)"),
    ({"sha256": "\u0660" * 64}, "field sha256: not a sha256 digest"),  # Arabic-Indic digits are not hex
    ({"pdq": ["c" * 64]}, "field pdq: expected a string, not list"),
    ({"pdq": "c" * 65}, "field pdq: not a PDQ hash (64 hex characters)"),
    ({"pdq": SHA256, "pdq_dihedral": SHA256}, "field pdq_dihedral: expected a list of PDQ hashes"),
    ({"pdq": SHA256, "pdq_quality": True}, "field pdq_quality: quality must be an integer from 0 to 100"),
    ({"pdq": SHA256, "pdq_quality": 101}, "field pdq_quality: quality must be an integer from 0 to 100"),
    ({"vpdq": [{"frame": 0, "pdq": SHA256}]}, "field vpdq: vpdq frame 0 is not"),
    ({"pdq": "x", "md5": "y"}, "field md5: not a md5 digest"),  # the first field in md5, sha1, sha256, pdq order
    ({"pdq_quality": -1, "sha1": 1}, "field sha1: expected a string, not int"),
])
def test_a_malformed_hash_is_refused_naming_the_field_and_the_line(item: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError) as raised:
        checked_item(item, "list", 7)
    assert str(raised.value).startswith(f"list:7: {message}")
