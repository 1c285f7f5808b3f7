"""`POST /v1/votes`: reviewers' grading votes in a batch; `GET /v1/grades`: the grades the consensus rule gives
(issue 18).

A vote cast here is the vote `hashwarden grade` casts: `cast_votes` checks it (scheme, category, the attributes'
vocabularies, the hashes) and records it, audited, superseding the reviewer's current vote on the same media. Who
votes is the key's user and agency, never the body's: the body has no `reviewer` or `agency` field, and a body
naming one is refused (422) like any unknown field, so one key cannot vote as another reviewer. A batch is stored
all or nothing, in one transaction; a refused vote is named by its position and field (`votes.3: field category:
...`), the message `grade` prints.

`GET /v1/grades` answers the objects `hashwarden grading status --json` prints (`Grade.as_json`), from the same
`grades` of grading/consensus.py.

Who: `examiner` and `analyst` vote (the roles that review material); `analyst` reads the grades (the review
queue and what publication will take).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field
from sqlalchemy.engine import Engine

from hashwarden.config import DEFAULT_GRADING_SCHEME
from hashwarden.errors import GradingError
from hashwarden.formats.categories import load_profile
from hashwarden.grading.consensus import CONFIRMED, DISPUTED, INDICATIVE, Grade, grades
from hashwarden.grading.votes import MAX_NOTE, VOCABULARIES, cast_votes
from hashwarden.service.auth import Caller, requires
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.service.schema import ERROR_RESPONSES, Closed, Md5, Pdq, Sha1, Sha256
from hashwarden.store.votes import Vote

router = APIRouter(responses=ERROR_RESPONSES)

VOTE_ROLES = ("examiner", "analyst")
GRADE_ROLES = ("analyst",)
MAX_VOTES = 1000  # a request's votes: a reviewer's session of decisions, not a bulk import
SOURCE = "service"  # the votes' `source`: cast through the API
_State = Literal[CONFIRMED, DISPUTED, INDICATIVE]  # type: ignore[valid-type]  # a grade's state, as `grades` gives it

GradeCursor = Annotated[str | None, Query(max_length=300, pattern=r"^[^\x00]*$")]  # "<media> <scheme>"
_Word = Annotated[str, Field(max_length=32)]  # a scheme or category: checked by `check_vote`


def _attribute(name: str) -> Any:
    """An attribute's field: its vocabulary in the schema, for clients; checked by `check_vote`, whose refusal
    names the field as `hashwarden grade` does."""
    return Annotated[str, Field(max_length=32, json_schema_extra={"enum": list(VOCABULARIES[name])})]


class VoteGrade(Closed):
    """What a vote says of its media: the category under the scheme and the attributes ("unknown" when the reviewer
    cannot tell). One model for every route that takes a vote (`/v1/votes`, a self-report's confirmation), so each
    refuses a bad value the same way: `check_vote`'s 422, naming the field as `hashwarden grade` does."""

    scheme: _Word = DEFAULT_GRADING_SCHEME
    category: _Word
    age_band: _attribute("age_band") = "unknown"  # type: ignore[valid-type]
    sex: _attribute("sex") = "unknown"  # type: ignore[valid-type]
    self_generated: _attribute("self_generated") = "unknown"  # type: ignore[valid-type]
    capture_device: _attribute("capture_device") = "unknown"  # type: ignore[valid-type]
    redistributed: _attribute("redistributed") = "unknown"  # type: ignore[valid-type]

    def attributes(self) -> dict[str, str]:
        """The attributes alone, as `grading` takes them."""
        return self.model_dump(include=set(VOCABULARIES))


class VoteBody(VoteGrade):
    """One vote: the media by its hashes (at least one), its grade (`VoteGrade`) and a note. No reviewer or agency:
    they are the key's."""

    md5: Md5 | None = None
    sha1: Sha1 | None = None
    sha256: Sha256 | None = None
    pdq: Pdq | None = None
    note: Annotated[str | None, Field(max_length=MAX_NOTE)] = None


class VotesBody(Closed):
    """Up to MAX_VOTES (1,000) votes, stored all or none."""

    votes: Annotated[list[VoteBody], Field(min_length=1, max_length=MAX_VOTES)]


@router.post("/v1/votes", status_code=201)
def votes(body: VotesBody, request: Request, caller: Caller = requires(*VOTE_ROLES)) -> dict[str, Any]:
    """Cast the votes as the key's user of its agency (audited, each superseding that reviewer's current vote on
    its media): 201 `{"votes": [{"id", "media"}]}` in the order sent. A vote refused is 422 naming its position
    and field, and none of the batch is kept. (A sync route, in a worker thread: on SQLite the transaction waits
    for the write lock, which the audit group's commits take too.)"""
    identity = caller.identity
    profile = load_profile()
    stored: list[Vote] = []
    with request.app.state.engine.begin() as conn:
        for index, given in enumerate(body.votes):
            vote = Vote(**given.model_dump(), reviewer=identity.user, agency=identity.agency, source=SOURCE)
            try:  # one vote a call, in the batch's transaction, so that a refusal names the vote
                stored += cast_votes(conn, [vote], profile)
            except GradingError as exc:
                raise HTTPException(422, f"votes.{index}: {exc}") from None
    caller.counts.update(votes=len(stored))
    return {"votes": [{"id": done.id, "media": done.media} for done in stored]}


@router.get("/v1/grades")
def grades_page(request: Request, caller: Caller = requires(*GRADE_ROLES),
                state: Annotated[_State | None, Query()] = None,
                disputed: bool = False, limit: Limit = DEFAULT_PAGE,
                after: GradeCursor = None) -> dict[str, Any]:
    """Every graded media's grade per scheme (`grading status --json`'s objects), only those in `state` (or
    `disputed`: the review queue), by media key and scheme, `limit` at a time after the cursor `after` (`next`:
    "<media> <scheme>" of a page's last grade). The page is the `limit` least grades past the cursor, taken in
    Python by code point (PostgreSQL's collation may order keys otherwise), in memory of one page."""
    wanted = DISPUTED if disputed else state
    found = [] if disputed and state not in (None, DISPUTED) else \
        grade_page(request.app.state.engine, wanted, after, limit + 1)
    body = page_body(found, limit, "grades", lambda graded: graded.as_json(), grade_cursor)
    caller.counts.update(items=len(body["grades"]))
    return body


def grade_page(engine: Engine, state: str | None, after: str | None, count: int) -> list[Grade]:
    """The `count` least grades (by media key and scheme, by code point: PostgreSQL's collation may order keys
    otherwise) in `state` (None: any) past the cursor `after` ("<media> <scheme>", `grade_cursor`), in memory of
    one page: `GET /v1/grades` and the disputed-grades page (service/web/pages.py)."""

    def listed(graded: Grade) -> bool:
        return (state is None or graded.state == state) and (after is None or _key(graded) > _cursor_key(after))

    with engine.connect() as conn:
        return _least(filter(listed, grades(conn)), count)


def grade_cursor(graded: Grade) -> str:
    """The page cursor of a grade: "<media> <scheme>"."""
    return f"{graded.media} {graded.scheme}"


def _key(graded: Grade) -> tuple[str, str]:
    return graded.media, graded.scheme


def _cursor_key(after: str) -> tuple[str, str]:
    media, _, scheme = after.partition(" ")
    return media, scheme


def _least(found: Iterable[Grade], count: int) -> list[Grade]:
    return heapq.nsmallest(count, found, key=_key)
