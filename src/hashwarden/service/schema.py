"""What the API's OpenAPI document shares between routers: the hash types and the error body of every refusal.

A hash field is hex of its length, declared as a pattern, so that the schema says what the server accepts (a
client generator or schemathesis builds valid requests from it) and pydantic refuses the rest before any route
code runs. Every refusal is `{"error": message}`; every router of keyed routes declares that body for the statuses
the gatekeeper, the limits and the routes can answer (`ERROR_RESPONSES`), so /openapi.json lists what a caller can
get (the schemathesis test fails on an undeclared status).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

Md5 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")]
Sha1 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{40}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
Pdq = Sha256  # 256 bits, as hex
# A row id sent by a client (a path parameter, a page cursor): the store's ids are INTEGER columns, 32-bit on
# PostgreSQL, which answers a larger one with an error (a 500 before this bound; schemathesis found it).
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
RowCursor = Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)]
# A name looked up in the store (a path parameter): as long as a stored name may be, and without NUL, which
# PostgreSQL refuses in a query (a 500 before this; no stored name holds one).
StoredName = Annotated[str, Path(max_length=200, pattern=r"^[^\x00]*$")]

# What a keyed route can answer besides its own success: a body that is not JSON (400), no or a bad key (401),
# the role (403), no such thing (404), a body too slow (408) or too large (413), invalid (422), a rate limit (429).
ERROR_STATUSES = {400: "Malformed request body", 401: "No valid API key", 403: "The role may not use this endpoint",
                  404: "Not found (or another agency's)", 408: "Request body not received in time",
                  413: "Request body too large", 422: "Invalid request", 429: "Rate limit reached"}


class Closed(BaseModel):
    """A request model that takes its own fields only. Unknown keys are refused as one problem naming a few of
    them: pydantic's `extra="forbid"` makes one error per key, and a 16 MiB body of a million keys took a minute
    and a gigabyte to report (each error a dict carrying its input)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, document: Any) -> Any:
        if isinstance(document, dict):
            known = _FIELD_NAMES.get(cls)
            if known is None:
                known = _FIELD_NAMES[cls] = frozenset(cls.model_fields)
            if known.issuperset(document):  # in C: a 1,000-item lookup runs this for each item
                return document
            unknown = [key for key in document if key not in known]
            if unknown:
                named = ", ".join(repr(str(key)[:40]) for key in unknown[:3])
                more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
                raise ValueError(f"unknown field(s): {named}{more}")
        return document


_FIELD_NAMES: dict[type, frozenset[str]] = {}  # each Closed model's field names (`model_fields` is slow to ask)


class ErrorBody(BaseModel):
    """Every error of the API."""

    error: str


# The `responses` of every router of keyed routes: `APIRouter(responses=ERROR_RESPONSES)`.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description} for status, description in ERROR_STATUSES.items()}
