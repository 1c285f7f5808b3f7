"""Header detection: the data-model key (looked for in the first 64 KiB, then at the end of the file) and the keys
of the first record, which tell the shape when the key does not."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import BinaryIO

import ijson
from ijson.utils import sendable_list

from hashwarden.errors import FormatError
from hashwarden.formats import _jsonstream as js
from hashwarden.formats.vics.model import MODEL_KEYS

_TAIL_RE = re.compile(
    rb'"(odata\.metadata|@odata\.context)"\s*:\s*"((?:[^"\\]|\\.)*)"'
    rb'(?:\s*,\s*"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[-+.\w]+))*\s*\}\s*\Z'
)
_HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass
class Head:
    start: int  # offset of the JSON text (after a BOM)
    model_key: str | None = None
    model: str | None = None
    value_seen: bool = False
    item_keys: set[str] = field(default_factory=set)


def sniff(fp: BinaryIO, path: str) -> Head:
    origin = fp.tell()
    data = fp.read(_HEAD_BYTES)
    head = Head(origin)
    if data.startswith(_BOM):
        data = data[3:]
        head.start += 3
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FormatError("UTF-16 text: VICS files are UTF-8", path, offset=origin)
    if not data.strip():
        raise FormatError("empty file: no VICS document", path, offset=head.start)
    try:
        js.DepthGuard().feed(data)
    except js.TooDeep as exc:
        raise FormatError(exc.message(), path, offset=head.start + exc.offset) from None
    sink = sendable_list()
    coro = ijson.parse_coro(sink, use_float=True)
    try:
        coro.send(data)
    except ijson.JSONError:
        pass  # the main pass reports it, with its exact offset
    top_key = None
    item = 0  # 0: before the first value item, 1: inside it, 2: after it
    for index, (prefix, event, value) in enumerate(sink):
        if index == 0:
            if event != "start_map":
                what = "an array" if event == "start_array" else f"a {event}"
                raise FormatError(f"not a VICS document: the top level is {what}, not an object", path,
                                  offset=head.start)
            continue
        if prefix == "" and event == "map_key":
            top_key = value
        elif event == "string" and prefix == top_key and prefix.lower() in MODEL_KEYS and head.model is None:
            head.model_key, head.model = prefix, value
        elif prefix == "value" and event == "start_array":
            head.value_seen = True
        elif prefix == "value.item" and item < 2:
            if event == "start_map":
                item = 1
            elif event == "map_key":
                head.item_keys.add(value)
            elif event == "end_map":
                item = 2
    if head.model is None:
        fp.seek(0, os.SEEK_END)
        size = fp.tell()
        if size - head.start > len(data):
            fp.seek(max(head.start, size - _HEAD_BYTES))
            found = _TAIL_RE.search(fp.read())
            if found:
                head.model_key = found.group(1).decode()
                head.model = json.loads(b'"' + found.group(2) + b'"')
    fp.seek(head.start)
    return head
