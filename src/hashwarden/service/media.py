"""`POST /v1/media`: the hashes and matches of one uploaded image or video, computed in memory only.

The file (form field `file`) is read into memory by `upload.read_file_field` (never a temporary file), hashed by
`hashwarden.api.hash_bytes` (the record `hashwarden hash` gives for the same bytes in a file: digests, PDQ with
its 8 dihedral forms, vPDQ for a video, within the image limits that guard against decompression bombs) and
matched by the app's Matcher as `/v1/lookup` would match those hashes, so a rotated or mirrored copy is found as
a scan finds it. Nothing of the upload is written anywhere: the audit row holds counts, never a hash.

At most MEDIA_UPLOADS_PER_PROCESS uploads are read and hashed at once in one process (more: 503 with Retry-After),
so a burst of 200 MB uploads cannot take the process's memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from hashwarden.api import hash_bytes
from hashwarden.config import MEDIA_FORM_OVERHEAD_BYTES, MEDIA_UPLOADS_PER_PROCESS
from hashwarden.scan.match_hashes import checked_item
from hashwarden.service.index_refresh import serving_matcher
from hashwarden.service.auth import LOOKUP_ROLES, Caller, requires
from hashwarden.service.lookup import Match, public_match
from hashwarden.service.upload import read_file_field

PATH = "/v1/media"
FIELD = "file"

router = APIRouter()

# What the matcher reads of a record (the fields a `hashwarden hash` line gives `hashwarden match`).
_MATCHED = ("md5", "sha1", "sha256", "pdq", "pdq_quality", "pdq_dihedral", "vpdq")


class VpdqFrame(BaseModel):
    frame: int
    quality: int
    pdq: str
    timestamp: float


class MediaResponse(BaseModel):
    md5: str
    sha1: str
    sha256: str
    media: str
    pdq: str | None
    pdq_quality: int | None
    vpdq: list[VpdqFrame] | None = None  # videos only
    matches: list[Match]


_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FIELD],
    "properties": {FIELD: {"type": "string", "format": "binary", "description": "The image or video."}}}}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The file is above the service's upload limit."},
    415: {"description": "The body is not a multipart/form-data form."},
    422: {"description": "No single `file` field, or a file that is not an image or video that can be hashed."},
    503: {"description": "Too many uploads in progress (retry after Retry-After seconds), or the store holds no "
                         "alert entry (emptied while serving)."},
}


def body_limit(max_media_bytes: int) -> dict[str, int]:
    """The media route's body cap for `BodyLimit`: the file's limit and the form's own bytes around it."""
    return {PATH: max_media_bytes + MEDIA_FORM_OVERHEAD_BYTES}


def upload_slots() -> asyncio.Semaphore:
    """The per-process count of uploads in progress (`app.state.media_uploads`)."""
    return asyncio.Semaphore(MEDIA_UPLOADS_PER_PROCESS)


@router.post(PATH, response_model=MediaResponse, response_model_exclude_unset=True, openapi_extra=_FORM,
             responses=_ERRORS)
async def media(request: Request, caller: Caller = requires(*LOOKUP_ROLES)) -> dict[str, Any]:
    """Hash one uploaded image or video in memory (never written to disk) and match it as /v1/lookup would."""
    slots: asyncio.Semaphore = request.app.state.media_uploads
    if slots.locked():  # checked and taken with no await between: one event loop, no race
        raise HTTPException(503, f"{MEDIA_UPLOADS_PER_PROCESS} uploads in progress; retry in 1 s",
                            headers={"Retry-After": "1"})
    async with slots:
        data = await read_file_field(request, FIELD, request.app.state.limits.max_media_bytes)
        record, matches = await run_in_threadpool(_hash_and_match, serving_matcher(request.app.state), data)
        del data
    caller.counts.update(items=1, matches=len(matches), bytes=record["size"], media=record["media"])
    answer = {name: record[name] for name in ("md5", "sha1", "sha256", "media", "pdq", "pdq_quality")}
    if record.get("vpdq") is not None:
        answer["vpdq"] = record["vpdq"]
    answer["matches"] = [public_match(match) for match in matches]
    return answer


def _hash_and_match(matcher: Any, data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The upload's record and matches (CPU work: run in a worker thread, off the event loop).

    Raises:
        HTTPException: 422 when the content is not an image or video, or cannot be decoded.
    """
    record = hash_bytes(data, "upload")
    if record.get("error"):
        raise HTTPException(422, f"the file cannot be hashed: {record['error']}")
    if record["media"] not in ("image", "video"):
        raise HTTPException(422, "the file is not an image or video this service can hash (its content is "
                                 "sniffed, not its name)")
    item = checked_item({name: record[name] for name in _MATCHED if record.get(name) is not None}, "upload", 1)
    return record, matcher.match_many([item])[0]
