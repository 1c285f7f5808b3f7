"""A report.json body split as it streams in: its header (every top-level key but `items`) and its items, one by one.

Why: a national case has millions of items; parsed whole (FastAPI's JSON body, then pydantic) a 13 MB report of 1M
tiny items took 47 s and 872 MiB, so anything of real size had to be refused. Here the bytes are fed to two of
ijson's C (yajl2) coroutines as they arrive: `items_coro` builds each item of `items` in C, and `parse_coro`'s
events build the header (Python sees the items' events only to skip them). Memory holds the header (bounded by
`max_header_bytes`, else 413), yajl's buffer, one item (`max_item_bytes`, else 413) and the items completed in the
last chunk; what the caller does with
the items (service/cases.py validates and writes them in batches) is its own.

This module only splits: the rules of a report (its keys, types, no imagery) are service/cases.py's models.
"""

from __future__ import annotations

from typing import Any

import ijson
from ijson.common import ObjectBuilder
from ijson.utils import sendable_list
from starlette.exceptions import HTTPException

ITEMS = "items"
_ITEM_PREFIX = "items.item"
_ITEM_PREFIX_DOT = _ITEM_PREFIX + "."
_SLICE = 64 << 10  # bytes fed to yajl at once: a client's chunk can be megabytes, its events are kept until read


class ReportSplitter:
    """Feed it the body's chunks (`feed` answers the items completed by each); `close` at the end, then `header`.

    `header` is the top-level object less `items` (a body that is not an object: that value, for the model to
    refuse); `has_items` says whether the `items` key came.
    """

    def __init__(self, max_header_bytes: int, max_item_bytes: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_item_bytes = max_item_bytes
        self.has_items = False
        self._in_items = False
        self._since_item = 0  # bytes read inside `items` since an item last completed
        self._header_bytes = 0
        self._builder = ObjectBuilder()
        self._items: Any = sendable_list()
        self._events: Any = sendable_list()
        self._item_parser = ijson.items_coro(self._items, _ITEM_PREFIX, use_float=True)
        self._event_parser = ijson.parse_coro(self._events, use_float=True)

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The items completed in `chunk` (as parsed: dicts unless a client sent otherwise).

        Raises:
            HTTPException: 413 the header passes its bound; 422 not JSON, or `items` not an array or sent twice.
        """
        for start in range(0, len(chunk), _SLICE):  # bounded events per send; none for b"" (yajl's end)
            done = len(self._items)
            self._send(chunk[start:start + _SLICE])
            self._since_item = 0 if len(self._items) > done else self._since_item + min(_SLICE, len(chunk) - start)
            if self._in_items and self._since_item > self.max_item_bytes:
                raise HTTPException(413, f"items.{len(self._items)}: an item above {self.max_item_bytes} bytes "
                                         "(counted from the end of the one before it)")
        items = list(self._items)
        del self._items[:]
        return items

    def close(self) -> list[dict[str, Any]]:
        """The end of the body: the last items (none in valid JSON: `]` completes the last) and the checks of a
        complete document.

        Raises:
            HTTPException: 422 the JSON is truncated or malformed.
        """
        try:
            self._event_parser.close()
            self._item_parser.close()
        except ijson.JSONError as exc:
            raise _not_json(exc) from None
        self._take_events()
        return list(self._items)

    @property
    def header(self) -> Any:
        return self._builder.value

    def _send(self, chunk: bytes) -> None:
        try:
            self._event_parser.send(chunk)
            self._item_parser.send(chunk)
        except ijson.JSONError as exc:
            raise _not_json(exc) from None
        self._take_events()

    def _take_events(self) -> None:
        """Build the header from the events outside `items`; skip the items' own (items_coro builds them)."""
        for prefix, event, value in self._events:
            if prefix == _ITEM_PREFIX or prefix.startswith(_ITEM_PREFIX_DOT):
                continue
            if prefix == ITEMS:
                if event not in ("start_array", "end_array"):
                    raise HTTPException(422, "items: the report's items must be an array")
                self._in_items = event == "start_array"
                continue
            if prefix == "" and event == "map_key" and value == ITEMS:
                if self.has_items:
                    raise HTTPException(422, "items: the report has two `items` keys")
                self.has_items = True
                continue
            self._header_bytes += len(value) + 8 if isinstance(value, str) else 8
            if self._header_bytes > self.max_header_bytes:
                raise HTTPException(413, f"the report's header (all but its items) above {self.max_header_bytes} "
                                         "bytes")
            self._builder.event(event, value)
        del self._events[:]


def _not_json(exc: Exception) -> HTTPException:
    """422 without yajl's words, which quote the body around the error (a refusal never echoes what was sent)."""
    kind = "ends before the document does" if isinstance(exc, ijson.IncompleteJSONError) and "premature" in str(
        exc).lower() else "is malformed"
    return HTTPException(422, f"the body is not valid JSON (it {kind})")
