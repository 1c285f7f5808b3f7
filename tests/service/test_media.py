"""`POST /v1/media` in process, on both backends: the contract's fields equal `hash_file` of the same file, the
matches equal /v1/lookup's for the same hashes (a rotated copy found through the dihedral forms, a known video
through vPDQ), the size limits (413 before and while the body streams), refusals of what cannot be hashed (422,
never 5xx; a decompression bomb within the image limits), the audit row (counts, no hash), and no file opened
for writing or temporary file made while an upload is read and hashed (`sys.addaudithook`)."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hashwarden.api import hash_file
from hashwarden.config import (
    MAX_IMAGE_PIXELS, MEDIA_FORM_OVERHEAD_BYTES, MEDIA_UPLOADS_PER_PROCESS, ScanSettings, ServiceLimits,
)
from hashwarden.service.app import create_app
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.schema import audit
from tests.service.conftest import Service, add_users, fill

CONTRACT = {"md5", "sha1", "sha256", "media", "pdq", "pdq_quality", "matches"}
VIDEO = "pattern-sd-grey-bar.mp4"  # 1 MB, 7 sampled frames of quality 100


@pytest.fixture
def video(conformance: Path) -> Path:
    return conformance / "threatexchange" / "tmk" / "sample-videos" / VIDEO


@pytest.fixture
def media_service(store_engine: Any, images: dict[str, dict[str, Any]], video: Path) -> Iterator[Service]:
    """The service tests' store, plus the conformance video as a vPDQ-only entry (found only by its frames) in a
    set of its own."""
    fill(store_engine, images["known"])
    frames = [VpdqFrame(**frame) for frame in hash_file(video)["vpdq"]]
    with store_engine.begin() as conn:
        create_set(conn, "videos", "alert")
    assert import_entries(store_engine, "videos", [EntryRecord(vpdq=frames, category="C", line=1)], {}) == 1
    keys, revoked = add_users(store_engine)
    with TestClient(create_app(store_engine), raise_server_exceptions=False) as client:
        yield Service(store_engine, client, keys, revoked, images["known"], images["turned"], images["other"])


def upload(service: Service, content: bytes, role: str = "matcher", field: str = "file") -> Any:
    return service.client.post("/v1/media", files={field: ("upload.bin", content)},
                               headers={"Authorization": f"Bearer {service.keys[role]}"})


def lookup_matches(service: Service, record: dict[str, Any]) -> list[dict[str, Any]]:
    item = {"md5": record["md5"], "sha1": record["sha1"], "sha256": record["sha256"], "pdq": record["pdq"],
            "quality": record["pdq_quality"], "pdq_dihedral": record["pdq_dihedral"]}
    response = service.post("/v1/lookup", {"items": [item]})
    assert response.status_code == 200
    return response.json()["results"][0]["matches"]


@pytest.mark.parametrize("name", ["known", "turned", "other"])
def test_an_image_gets_the_hashes_of_hash_file_and_the_matches_of_lookup(
        media_service: Service, tmp_path: Path, name: str) -> None:
    path = tmp_path / "img" / f"{name}.jpg"
    expected = hash_file(path)
    response = upload(media_service, path.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == CONTRACT  # no vpdq for an image
    assert {key: body[key] for key in CONTRACT - {"matches"}} == {key: expected[key] for key in CONTRACT - {"matches"}}
    assert body["matches"] == lookup_matches(media_service, expected)
    methods = {match["method"] for match in body["matches"]}
    assert methods == {"known": {"sha256"}, "turned": {"pdq"}, "other": set()}[name]  # the strongest per entry
    if name == "turned":  # found only through a dihedral form, as a scan finds it
        assert body["matches"][0]["transform"] != "orig"


def test_a_video_gets_its_vpdq_and_is_matched_by_its_frames(media_service: Service, video: Path) -> None:
    expected = hash_file(video)
    response = upload(media_service, video.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == CONTRACT | {"vpdq"}
    assert body["media"] == "video" and body["pdq"] is None and body["pdq_quality"] is None
    assert body["md5"] == expected["md5"] and body["sha256"] == expected["sha256"]
    assert body["vpdq"] == expected["vpdq"] and len(body["vpdq"]) > 1
    assert [(m["set"], m["method"], m.get("category")) for m in body["matches"]] == [("videos", "vpdq", "C")]


def test_the_audit_row_has_counts_and_no_hash(media_service: Service, tmp_path: Path) -> None:
    data = (tmp_path / "img" / "known.jpg").read_bytes()
    assert upload(media_service, data).status_code == 200
    with media_service.engine.connect() as conn:
        rows = conn.execute(select(audit.c.actor, audit.c.details).where(audit.c.action == "service.request")).all()
    assert len(rows) == 1 and rows[0].actor == "matcher-user"
    details = json.loads(rows[0].details)
    assert details["endpoint"] == "POST /v1/media" and details["outcome"] == "ok"
    assert (details["items"], details["matches"], details["bytes"], details["media"]) == (1, 1, len(data), "image")
    for value in (media_service.known["md5"], media_service.known["sha256"], media_service.known["pdq"]):
        assert value not in rows[0].details


def limited(service: Service, max_media_bytes: int) -> TestClient:
    return TestClient(create_app(service.engine, ScanSettings(), ServiceLimits(max_media_bytes=max_media_bytes)),
                      raise_server_exceptions=False)


def test_a_file_over_the_limit_is_refused_with_413(media_service: Service, tmp_path: Path) -> None:
    data = (tmp_path / "img" / "known.jpg").read_bytes()
    headers = {"Authorization": f"Bearer {media_service.keys['matcher']}"}
    with limited(media_service, len(data)) as client:  # exactly the limit: accepted
        assert client.post("/v1/media", files={"file": data}, headers=headers).status_code == 200
    with limited(media_service, len(data) - 1) as client:  # one byte more than the limit, in the form's overhead
        response = client.post("/v1/media", files={"file": data}, headers=headers)
        assert response.status_code == 413 and "above" in response.json()["error"]
        # A Content-Length above the route's cap: refused before a byte is read.
        response = client.post("/v1/media", content=b"", headers={
            **headers, "Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(10**9)})
        assert response.status_code == 413
        # Chunked (no Content-Length): counted as it streams, the body by BodyLimit, the file by the form reader.
        multipart = {**headers, "Content-Type": "multipart/form-data; boundary=x"}
        body_cap = len(data) - 1 + MEDIA_FORM_OVERHEAD_BYTES
        for field, padding, error in (
                ("other", 2 * MEDIA_FORM_OVERHEAD_BYTES, f"request body above {body_cap} bytes"),
                ("file", 1000, f"uploaded file above {len(data) - 1} bytes")):  # the body within its cap
            body = f'--x\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'.encode() \
                + data + b"\0" * padding + b"\r\n--x--\r\n"
            response = client.post("/v1/media", content=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                                   headers=multipart)
            assert response.status_code == 413 and response.json() == {"error": error}


def test_other_routes_keep_the_16_mib_cap(media_service: Service) -> None:
    with limited(media_service, 100 << 20) as client:
        response = client.post("/v1/lookup", content=b"{" + b" " * (17 << 20) + b"}", headers={
            "Authorization": f"Bearer {media_service.keys['matcher']}", "Content-Type": "application/json"})
        assert response.status_code == 413


@pytest.mark.parametrize("content, error", [
    (b"plain text, not media", "not an image or video"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 2000, "cannot be hashed"),  # a JPEG's magic, no image
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000, "cannot be hashed"),  # an MP4's magic, no video
    (b"", "not an image or video"),
])
def test_what_cannot_be_hashed_is_422(media_service: Service, content: bytes, error: str) -> None:
    response = upload(media_service, content)
    assert response.status_code == 422 and error in response.json()["error"]


def test_a_malformed_form_is_4xx(media_service: Service) -> None:
    headers = {"Authorization": f"Bearer {media_service.keys['matcher']}"}
    assert upload(media_service, b"x", field="image").status_code == 422  # no `file` field
    two = media_service.client.post("/v1/media", files=[("file", b"a"), ("file", b"b")], headers=headers)
    assert two.status_code == 422 and "exactly one" in two.json()["error"]
    assert media_service.client.post("/v1/media", json={"file": "x"}, headers=headers).status_code == 415
    cut = media_service.client.post("/v1/media", content=b"--x\r\nContent-Disposition: form-data; name=\"file\""
                                    b"\r\n\r\nabc", headers={**headers, "Content-Type": "multipart/form-data; "
                                                                                        "boundary=x"})
    assert cut.status_code == 422 and "closing boundary" in cut.json()["error"]


def test_uploads_beyond_the_process_slots_get_503(media_service: Service, tmp_path: Path) -> None:
    data = (tmp_path / "img" / "known.jpg").read_bytes()
    slots = media_service.client.app.state.media_uploads
    for taken in range(MEDIA_UPLOADS_PER_PROCESS):  # as if that many uploads were in progress
        assert upload(media_service, data).status_code == 200, taken
        asyncio.run(slots.acquire())
    response = upload(media_service, data)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    slots.release()
    assert upload(media_service, data).status_code == 200


def test_the_default_limit_is_200_mb(media_service: Service) -> None:
    response = media_service.client.post("/v1/media", content=b"", headers={
        "Authorization": f"Bearer {media_service.keys['matcher']}", "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(200_000_000 + MEDIA_FORM_OVERHEAD_BYTES + 1)})
    assert response.status_code == 413 and str(200_000_000 + MEDIA_FORM_OVERHEAD_BYTES) in response.json()["error"]


class _Writes:
    """An audit hook (it cannot be removed, so it records only while `armed`): files opened for writing or
    creation, and temporary files or folders made. One per test process, added on first use."""

    _hook: _Writes | None = None

    def __init__(self) -> None:
        self.armed = False
        self.seen: list[tuple[str, Any]] = []

    @classmethod
    def hook(cls) -> _Writes:
        if cls._hook is None:
            cls._hook = cls()
            sys.addaudithook(cls._hook)
        return cls._hook

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed:
            return
        if event == "open" and _writes(args):
            self.seen.append((event, args[0]))
        elif event in ("tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir", "os.rename", "shutil.copyfile"):
            self.seen.append((event, args[0] if args else None))


def _writes(args: tuple[Any, ...]) -> bool:
    _path, mode, flags = args
    if isinstance(mode, str) and any(letter in mode for letter in "wax+"):
        return True
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))



def test_an_upload_is_never_written_to_a_file(media_service: Service, tmp_path: Path, video: Path) -> None:
    large = (tmp_path / "img" / "known.jpg").read_bytes() + os.urandom(20 << 20)  # 20 MB: past Starlette's spool
    assert hash_file(tmp_path / "img" / "known.jpg")["pdq"] == media_service.known["pdq"]
    hook = _Writes.hook()
    hook.armed = True
    try:
        with tempfile.TemporaryFile():  # the hook sees what a spooled upload would do (the check can fail)
            pass
        assert hook.seen
        hook.seen.clear()
        answers = [upload(media_service, content) for content in (large, video.read_bytes())]
        seen = list(hook.seen)
    finally:
        hook.armed = False
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json()["pdq"] == media_service.known["pdq"]  # the JPEG before the padding is hashed
    assert seen == []


def test_a_decompression_bomb_is_refused_before_decoding(media_service: Service) -> None:
    """A 1 kB PNG declaring 60,000 x 60,000 pixels (3.6 G, ~11 GB decoded): the image limit refuses it (422)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\0" * 60001 * 100)) + chunk(b"IEND", b"")
    response = upload(media_service, bomb)
    assert response.status_code == 422 and f"{MAX_IMAGE_PIXELS:,}" in response.json()["error"]


_PIECES = [b"--x", b"\r\n", b"\r\n\r\n", b'Content-Disposition: form-data; name="file"', b"name=file; filename=\"a\"",
           b"Content-Type: image/jpeg", b"\xff\xd8\xff\xe0", b"--x--", b"--", b"x", b"\x00" * 10, b":", b"; "]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(st.sampled_from(_PIECES) | st.binary(max_size=40), max_size=16).map(b"".join),
       content_type=st.sampled_from(["multipart/form-data; boundary=x", "multipart/form-data; boundary=",
                                     'multipart/form-data; boundary="x"', "multipart/form-data; boundary=" + "x" * 90,
                                     "multipart/form-data", "text/plain"]))
def test_any_body_is_answered_4xx_in_json_never_5xx(media_service: Service, body: bytes, content_type: str) -> None:
    response = media_service.client.post("/v1/media", content=body, headers={
        "Authorization": f"Bearer {media_service.keys['examiner']}", "Content-Type": content_type})
    assert 400 <= response.status_code < 500 and set(response.json()) == {"error"}
