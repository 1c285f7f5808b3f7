"""`POST /v1/lookup`: are these hashes known? Answered exactly as `hashwarden match` answers a hash list.

The items go through `checked_item` and `Matcher.match_many`, the functions `hashwarden match` uses, on a Matcher
built by `matcher_for` with the same settings, so the same thresholds, quality rule and PDQ batch join decide.
A PDQ item is matched as given (`"transform": "orig"`); with `pdq_dihedral`, the 8 forms `hashwarden hash
--dihedral` writes, a rotated or mirrored copy is found too, with the form that matched, as a scan finds it.
A video's `vpdq` frames (as `hashwarden hash` writes them; bounded per item and per request) are matched against
the known videos by the same rule as `hashwarden match` (`method: "vpdq"`).

Each match says the set, its kind, how it matched, the distance and form for PDQ, the category when the entry has
one, and the entry id: never provenance, series or case data (a `matcher` role sees no more than that).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hashwarden.config import (INLINE_LOOKUP_ITEMS, MAX_LOOKUP_ITEMS, MAX_LOOKUP_REQUEST_VPDQ_FRAMES,
                               MAX_LOOKUP_VPDQ_FRAMES)
from hashwarden.scan.match_hashes import checked_item
from hashwarden.service.schema import ERROR_RESPONSES, Closed, ErrorBody, Md5, Pdq, Sha1, Sha256
from hashwarden.service.index_refresh import serving_matcher
from hashwarden.service.auth import LOOKUP_ROLES, Caller, requires
from hashwarden.signals.pdq import DIHEDRAL_NAMES

router = APIRouter(responses=ERROR_RESPONSES)

_HASH_FIELDS = ("md5", "sha1", "sha256", "pdq")


def _present(name: str, kind: str = "string") -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": kind}}}


# `_has_a_hash` in the schema, so that it describes exactly the items accepted: a PDQ hash, or a digest or vPDQ
# frames and then neither `quality` nor `pdq_dihedral`.
_ONE_HASH_SCHEMA = [_present("pdq"), {"anyOf": [*(_present(name) for name in _HASH_FIELDS if name != "pdq"),
                                                _present("vpdq", "array")],
                                      "properties": {"quality": {"type": "null"}, "pdq_dihedral": {"type": "null"}}}]


class LookupFrame(Closed):
    """One vPDQ frame, as `hashwarden hash` writes it (checked again by `checked_item`, as a line's frames are)."""

    frame: Annotated[int, Field(ge=0)]
    quality: Annotated[int, Field(ge=0, le=100)]
    pdq: Pdq
    timestamp: float = 0.0


class LookupItem(Closed):
    """One item: any of its digests and/or a PDQ hash (with its quality, and optionally its 8 dihedral forms),
    and/or a video's vPDQ frames."""

    model_config = ConfigDict(json_schema_extra={"anyOf": _ONE_HASH_SCHEMA})
    md5: Md5 | None = None
    sha1: Sha1 | None = None
    sha256: Sha256 | None = None
    pdq: Pdq | None = None
    quality: Annotated[int | None, Field(ge=0, le=100)] = None
    pdq_dihedral: Annotated[list[Pdq] | None,
                            Field(min_length=len(DIHEDRAL_NAMES), max_length=len(DIHEDRAL_NAMES))] = None
    vpdq: Annotated[list[LookupFrame] | None, Field(min_length=1, max_length=MAX_LOOKUP_VPDQ_FRAMES)] = None

    @model_validator(mode="after")
    def _has_a_hash(self) -> "LookupItem":
        if self.md5 is None and self.sha1 is None and self.sha256 is None and self.pdq is None and self.vpdq is None:
            raise ValueError(f"an item needs one of {', '.join(_HASH_FIELDS)}, vpdq")
        if self.pdq is None and (self.quality is not None or self.pdq_dihedral is not None):
            raise ValueError("quality and pdq_dihedral go with a pdq")
        return self


class LookupRequest(Closed):
    items: Annotated[list[LookupItem], Field(max_length=MAX_LOOKUP_ITEMS)]

    @model_validator(mode="after")
    def _frames_bounded(self) -> "LookupRequest":
        frames = sum(len(item.vpdq) for item in self.items if item.vpdq is not None)
        if frames > MAX_LOOKUP_REQUEST_VPDQ_FRAMES:
            raise ValueError(f"{frames:,} vpdq frames in one request; at most {MAX_LOOKUP_REQUEST_VPDQ_FRAMES:,}")
        return self


class Match(BaseModel):
    set: str
    kind: str
    method: str
    distance: int | None = None
    transform: str | None = None
    category: str | None = None
    entry: int


class ItemResult(BaseModel):
    index: int
    matches: list[Match]


class LookupResponse(BaseModel):
    results: list[ItemResult]


@router.post("/v1/lookup", response_model=LookupResponse, response_model_exclude_none=True,
             responses={503: {"model": ErrorBody, "description": "The store holds no alert entry (emptied while "
                              "serving): every item would be reported unknown, so nothing is answered"}})
async def lookup(body: LookupRequest, request: Request, caller: Caller = requires(*LOOKUP_ROLES)) -> JSONResponse:
    """Every item's matches, in request order (at most MAX_LOOKUP_ITEMS items; a malformed hash: 422).

    On SQLite (`local_reads`: what matched is described by a local read) at most INLINE_LOOKUP_ITEMS items are
    matched on the event loop: for a single item the hand-off to a worker thread and back cost more CPU than the
    match (bench/service.py); a larger batch, or any on PostgreSQL, goes to a worker thread.

    The answer is built here in the schema's shape (`public_match`) and sent as is: FastAPI would otherwise validate
    it again against `LookupResponse` (which stays the documented schema; tests/service/test_lookup.py holds every
    answer to it), a large share of the CPU of a 1,000-item lookup (bench/service.py)."""
    matcher = serving_matcher(request.app.state)
    inline = request.app.state.local_reads and len(body.items) <= INLINE_LOOKUP_ITEMS
    answer, matched = (_answer(body.items, matcher) if inline
                       else await run_in_threadpool(_answer, body.items, matcher))
    caller.counts.update(items=len(body.items), matches=matched)
    return answer


def _answer(listed: list[LookupItem], matcher: Any) -> tuple[JSONResponse, int]:
    return answer_lines([_as_hash_line(item) for item in listed], matcher)


def answer_lines(lines: list[dict[str, Any]], matcher: Any) -> tuple[JSONResponse, int]:
    """The answer to a lookup's items as lines of `hashwarden hash` output (encoded here, so in the worker thread
    for a large one), and its count of matches: the route's and the lean path's one answer (service/fast_lookup.py).

    Raises:
        FormatError: a malformed hash (the app answers 422 naming the item).
    """
    items = [checked_item(line, "items", index) for index, line in enumerate(lines)]
    found = matcher.match_many(items)
    return (JSONResponse({"results": [{"index": index, "matches": [public_match(m) for m in matches]}
                                      for index, matches in enumerate(found)]}), sum(map(len, found)))


def _as_hash_line(item: LookupItem) -> dict[str, Any]:
    """The item as a line of `hashwarden hash` output (what the matcher reads): `quality` is `pdq_quality`."""
    line: dict[str, Any] = {name: getattr(item, name) for name in _HASH_FIELDS if getattr(item, name) is not None}
    if item.quality is not None:
        line["pdq_quality"] = item.quality
    if item.pdq_dihedral is not None:
        line["pdq_dihedral"] = item.pdq_dihedral
    if item.vpdq is not None:
        line["vpdq"] = [frame.model_dump() for frame in item.vpdq]
    return line


def public_match(match: dict[str, Any]) -> dict[str, Any]:
    """What the API says of a match (the contract's fields): the matcher's other fields (series, identification,
    the category's scheme) stay inside."""
    shown = {"set": match["set"], "kind": match["kind"], "method": match["method"], "entry": match["entry"]}
    distance, transform, category = match.get("distance"), match.get("transform"), match.get("category")
    if distance is not None:  # spelled out, not a loop over the names: it runs for every match of a batch
        shown["distance"] = distance
    if transform is not None:
        shown["transform"] = transform
    if category is not None:
        shown["category"] = category
    return shown
