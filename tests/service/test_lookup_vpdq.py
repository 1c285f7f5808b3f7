"""`POST /v1/lookup` with a video's vPDQ frames, on both backends: a conformance video's `hashwarden hash` line
finds the known video by its frames exactly as `hashwarden match` does (whole, trimmed, frames alone, and an
unrelated video not), and the frame limits per item and per request are 422."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from hashwarden.api import hash_file
from hashwarden.config import MAX_LOOKUP_REQUEST_VPDQ_FRAMES, MAX_LOOKUP_VPDQ_FRAMES
from tests.service.conftest import Service
from tests.service.test_lookup import MATCH_FIELDS, as_lookup_item, match_command
from tests.service.test_media import media_service, video  # noqa: F401 - the fixtures, shared


def _frames(count: int, seed: str = "other") -> list[dict[str, Any]]:
    """Frames of a made-up video (random PDQ codes, benign), as `hashwarden hash` writes them."""
    return [{"frame": n, "quality": 90, "pdq": hashlib.sha256(f"{seed}/{n}".encode()).hexdigest(),
             "timestamp": float(n)} for n in range(count)]


def test_a_video_line_is_matched_by_its_frames_as_hashwarden_match_does(media_service: Service, video: Path,
                                                                       tmp_path: Path) -> None:
    line = {key: value for key, value in hash_file(video).items() if key in ("md5", "sha1", "sha256", "vpdq")}
    lines = [line, {"vpdq": line["vpdq"]}, {"md5": line["md5"], "vpdq": line["vpdq"][2:5]},
             {"md5": line["md5"], "vpdq": _frames(7)}]
    expected = match_command(media_service, lines, tmp_path)
    response = media_service.post("/v1/lookup", {"items": [as_lookup_item(item) for item in lines]})
    assert response.status_code == 200, response.text
    results = [result["matches"] for result in response.json()["results"]]
    assert results == [[{k: v for k, v in m.items() if k in MATCH_FIELDS and v is not None} for m in matches]
                       for matches in expected]
    # the known entry has frames only: what matched is the frames (the whole video, frames alone, a trimmed copy)
    assert [[(m["set"], m["method"], m.get("category")) for m in matches] for matches in results] == [
        [("videos", "vpdq", "C")]] * 3 + [[]]


def test_vpdq_frames_are_bounded_per_item_and_per_request(media_service: Service) -> None:
    over_item = media_service.post("/v1/lookup", {"items": [{"vpdq": _frames(MAX_LOOKUP_VPDQ_FRAMES + 1)}]})
    assert over_item.status_code == 422 and "vpdq" in over_item.json()["error"]
    per_item = MAX_LOOKUP_REQUEST_VPDQ_FRAMES // 4
    at_limit = [{"vpdq": _frames(per_item, seed=str(i))} for i in range(4)]
    assert media_service.post("/v1/lookup", {"items": at_limit}).status_code == 200
    over_request = media_service.post("/v1/lookup", {"items": at_limit + [{"vpdq": _frames(1)}]})
    assert over_request.status_code == 422 and "vpdq frames" in over_request.json()["error"]


@pytest.mark.parametrize("frames", [
    [], [{"frame": 0, "quality": 90, "pdq": "z" * 64}], [{"frame": 0, "quality": 90, "pdq": "a" * 63}],
    [{"frame": -1, "quality": 90, "pdq": "a" * 64}], [{"frame": 0, "quality": 101, "pdq": "a" * 64}],
    [{"frame": 0, "pdq": "a" * 64}], [{"frame": 0, "quality": 90, "pdq": "a" * 64, "thumbnail": "x"}],
    "a" * 64,
])
def test_malformed_frames_are_422(media_service: Service, frames: Any) -> None:
    response = media_service.post("/v1/lookup", {"items": [{"md5": "0" * 32, "vpdq": frames}]})
    assert response.status_code == 422 and set(response.json()) == {"error"}, frames

