"""How every list endpoint pages: `limit` items after a cursor, and `next`, the cursor of the following page.

One shape for all of them, so a client pages cases and sets (and the lists to come) with the same loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

T = TypeVar("T")

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# The `limit` query parameter of a list endpoint.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def page_body(found: Sequence[T], limit: int, field: str, render: Callable[[T], Any],
              cursor: Callable[[T], Any]) -> dict[str, Any]:
    """The answer for the first `limit` of `found` (the items after the request's cursor, in order; at least
    `limit + 1` of them when there are more): `{field: [...], "next": cursor of the last one}`, `next` absent on
    the last page."""
    shown = found[:limit]
    body: dict[str, Any] = {field: [render(item) for item in shown]}
    if len(found) > limit:
        body["next"] = cursor(shown[-1])
    return body
