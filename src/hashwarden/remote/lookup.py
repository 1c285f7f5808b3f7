"""Hash lists looked up on a service, and scan reports submitted to it.

`lookup_lines` is `hashwarden match`'s `match_lines` with a `RemoteMatcher`: the same reading and checking of the
lines, the same `status` rule (`item_status`) and the same output, one request per batch of lines, each batch
written before the next is sent (a refusal half-way keeps what was answered). The service answers with the
contract's fields of a match (set, kind, method, distance, transform, category, entry), not the entry's series or
identification, which a lookup key may not see.

A video's vPDQ frames are sent with its line and matched by the service as `hashwarden match` matches them. The
service bounds them (MAX_LOOKUP_VPDQ_FRAMES per item, MAX_LOOKUP_REQUEST_VPDQ_FRAMES per request): a batch whose
frames pass the request's bound goes in more than one request, and a video with more frames than an item may
carry is looked up by its digests alone and counted in `RemoteMatcher.videos_without_vpdq`, so the caller can
say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from hashwarden.config import (MAX_LOOKUP_ITEMS, MAX_LOOKUP_REQUEST_VPDQ_FRAMES, MAX_LOOKUP_VPDQ_FRAMES,
                               REMOTE_UPLOAD_BLOCK)
from hashwarden.errors import RemoteError
from hashwarden.remote.client import RemoteClient
from hashwarden.scan.match_hashes import match_lines

_SENT = ("md5", "sha1", "sha256", "pdq")


class RemoteMatcher:
    """`match_many` answered by `POST /v1/lookup` (any number of items: one request for all of them, unless their
    vPDQ frames need more)."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self.videos_without_vpdq = 0

    def match_many(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Each item's matches, in order; an item without a digest, PDQ or vPDQ (a file that could not be read) has
        none and is not sent.

        Raises:
            RemoteError: the service refused the request or answered with another number of results.
        """
        found: list[list[dict[str, Any]]] = [[] for _ in items]
        sent = [(index, body) for index, body in enumerate(map(self._request_item, items)) if body]
        for part in _requests(sent):
            answer = self.client.post("/v1/lookup", json={"items": [body for _, body in part]})
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(part):
                raise RemoteError(f"{self.client.server}: /v1/lookup answered {len(part)} items with "
                                  f"{len(results) if isinstance(results, list) else 'no'} results")
            for (index, _), result in zip(part, sorted(results, key=lambda r: r["index"])):
                found[index] = result["matches"]
        return found

    def _request_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item as /v1/lookup takes it: its hashes; `pdq_quality` is `quality`, and goes with a PDQ only."""
        body = {name: item[name] for name in _SENT if item.get(name) is not None}
        if "pdq" in body:
            if item.get("pdq_quality") is not None:
                body["quality"] = item["pdq_quality"]
            if item.get("pdq_dihedral") is not None:
                body["pdq_dihedral"] = item["pdq_dihedral"]
        if item.get("vpdq"):
            if len(item["vpdq"]) <= MAX_LOOKUP_VPDQ_FRAMES:
                body["vpdq"] = item["vpdq"]
            else:
                self.videos_without_vpdq += 1
        return body


def _requests(sent: list[tuple[int, dict[str, Any]]]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """The items in order, cut into requests of at most MAX_LOOKUP_REQUEST_VPDQ_FRAMES frames (one request when
    the frames fit, as they do unless a batch holds hours of video)."""
    part: list[tuple[int, dict[str, Any]]] = []
    frames = 0
    for index, body in sent:
        count = len(body.get("vpdq", ()))
        if part and frames + count > MAX_LOOKUP_REQUEST_VPDQ_FRAMES:
            yield part
            part, frames = [], 0
        part.append((index, body))
        frames += count
    if part:
        yield part


def lookup_lines(client: RemoteClient, fp: BinaryIO, path: str, out: TextIO, batch: int,
                 advance: Callable[[int], None] | None = None) -> tuple[dict[str, int], RemoteMatcher]:
    """`match_lines` against the service: `batch` lines per request (more when their vPDQ frames pass the
    service's bound); the count per status and the matcher (how many video lines went without their vPDQ).

    Raises:
        FormatError: a malformed line (lines before its batch have been written).
        RemoteError: the service refused a batch (lines of the batches before it have been written).
    """
    if not 1 <= batch <= MAX_LOOKUP_ITEMS:
        raise RemoteError(f"a batch is 1 to {MAX_LOOKUP_ITEMS:,} items (the service's limit), not {batch}")
    matcher = RemoteMatcher(client)
    return match_lines(matcher, fp, path, out, advance, batch_lines=batch), matcher


def submit_case(client: RemoteClient, case_dir: Path) -> dict[str, Any]:
    """POST the case's report.json, as written, to /v1/cases, streamed from disk a block at a time (a national
    case's report is gigabytes); the service's answer (`{"id": …}`).

    Raises:
        RemoteError: no readable report.json in `case_dir`, or the service refused it.
    """
    report = case_dir / "report.json"
    try:
        size = report.stat().st_size
        with open(report, "rb"):
            pass
    except OSError as exc:
        raise RemoteError(f"cannot read {report}: {exc.strerror or exc} (a case directory of `hashwarden scan`)"
                          ) from exc
    return client.post("/v1/cases", body=lambda: _blocks(report), headers={
        "Content-Type": "application/json", "Content-Length": str(size)})


def case_leads(client: RemoteClient, case_id: int, page: int = 1000) -> Iterator[dict[str, Any]]:
    """The lead list of a case the caller's agency submitted (`GET /v1/cases/{id}/leads`), item by item, a page
    at a time: its unknown items with their leads as the service computes them now.

    Raises:
        RemoteError: the service refused (404: no such case of the caller's agency).
    """
    after: int | None = None
    while True:
        answer = client.get(f"/v1/cases/{case_id}/leads",
                            params={"limit": page, **({} if after is None else {"after": after})})
        yield from answer.get("items", [])
        if "next" not in answer:
            return
        after = answer["next"]


def _blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes, REMOTE_UPLOAD_BLOCK at a time.

    Raises:
        RemoteError: the file cannot be read (while it is sent).
    """
    try:
        with open(path, "rb") as fp:
            while block := fp.read(REMOTE_UPLOAD_BLOCK):
                yield block
    except OSError as exc:
        raise RemoteError(f"cannot read {path}: {exc.strerror or exc}") from exc
