"""JSON lines as written by `hashwarden hash`, with optional `category`, `series`, `tags`, `comments` keys.

Read by `hashwarden import hashes`, written by `hashwarden export hashes`: the one list format that carries a video's
vPDQ frames, so a set with videos can be handed to another store (another force, a subscriber) and match there as
it matches here. What the writer writes is exactly what the reader reads back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, BinaryIO

from hashwarden.config import MAX_JSON_DEPTH
from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats._jsonstream import TooDeep, check_depth
from hashwarden.formats._lines import text_lines, write_lines
from hashwarden.signals import MD5, PDQ, SHA1, SHA256
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store.records import EntryRecord

HASH_FIELDS = {"md5": MD5, "sha1": SHA1, "sha256": SHA256, "pdq": PDQ}


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: a line is not a JSON object, holds an invalid hash or no hash at all.
    """
    for number, obj in object_lines(fp, path):
        yield record_of(obj, path, number)


def record_of(obj: dict[str, Any], path: str, number: int) -> EntryRecord:
    """The record of one line's object (unknown keys ignored), provenance `path:number`: what `read` yields, for
    readers of files built of these lines (distribution/ deltas).

    Raises:
        FormatError: an invalid hash or no hash at all (file and line named).
    """
    try:
        return _record(obj, f"{path}:{number}", number)
    except (InvalidSignal, TypeError, ValueError) as exc:
        raise FormatError(str(exc), path, number) from exc


def object_lines(fp: BinaryIO, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line, every line a JSON object.

    A line nesting deeper than `MAX_JSON_DEPTH` is refused before `json.loads` sees it (a hash line is 3 levels deep
    with vPDQ frames); past ~1,000 levels `json.loads` would raise RecursionError, which is no message for a user.

    Lines are read `_CHUNK_LINES` at a time: a chunk of flat objects (`_flat_objects`, the usual hash lines) is
    parsed by one `json.loads`, which cost a third of a per-line parse (a 100k-line delta into a 10M set); any
    other chunk, and any chunk that does not parse, goes line by line, which names the line at fault.

    Raises:
        FormatError: a line is not JSON, not an object or nested too deep (file and line named).
    """
    number = 0
    lines = iter(fp)  # once: a wrapper's __iter__ may be a new generator each time (exchange.HashingReader)
    while raws := list(islice(lines, _CHUNK_LINES)):
        flat = _flat_objects(raws, number)
        if flat is not None:
            yield from flat
        else:
            yield from _objects_one_by_one(io.BytesIO(b"".join(raws)), path, number)
        number += len(raws)


_CHUNK_LINES = 4096


def _flat_objects(raws: list[bytes], before: int) -> list[tuple[int, dict[str, Any]]] | None:
    """The chunk's (line number, object) pairs when every non-blank line is one flat object: it starts with `{`,
    ends with `}`, and the chunk holds no `[` and as many `{` as lines, so each line's one `{` is its own start
    (depth 1, nothing spans lines) and the N lines joined by commas parse as exactly N objects. None otherwise
    (arrays, nesting, a `{` in a string, a BOM, invalid UTF-8, anything that fails to parse): the caller then reads
    the chunk line by line, with every check and message."""
    blob = b"".join(raws)
    if b"[" in blob or (before == 0 and blob.startswith(b"\xef\xbb\xbf")):
        return None
    try:
        pieces = blob.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    numbered = [(before + index, text) for index, piece in enumerate(pieces, start=1) if (text := piece.strip())]
    if blob.count(b"{") != len(numbered) or not all(text[0] == "{" and text[-1] == "}" for _n, text in numbered):
        return None
    try:
        objects = json.loads("[" + ",".join(text for _n, text in numbered) + "]")
    except (json.JSONDecodeError, RecursionError):
        return None
    if len(objects) != len(numbered) or not all(type(obj) is dict for obj in objects):
        return None
    return [(line, obj) for (line, _text), obj in zip(numbered, objects)]


def _objects_one_by_one(fp: BinaryIO, path: str, before: int) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in text_lines(fp, path, comment=None, first=before + 1):
        try:
            check_depth(text)
            obj = json.loads(text)
        except TooDeep as exc:
            raise FormatError(f"nested more than {MAX_JSON_DEPTH} levels deep (byte {exc.offset} of the line); a hash "
                              "line is at most 3", path, number) from None
        except json.JSONDecodeError as exc:
            raise FormatError(f"not valid JSON: {exc.msg} at column {exc.colno}", path, number) from exc
        if not isinstance(obj, dict):
            raise FormatError("each line must be a JSON object", path, number)
        yield number, obj


def _record(obj: dict[str, Any], provenance: str, line: int) -> EntryRecord:
    hashes = {}
    for key, signal in HASH_FIELDS.items():
        value = obj.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            hashes[key] = signal.validate(value)
    frames = parse_vpdq(obj.get("vpdq"))
    if not hashes and not frames:
        raise ValueError("no md5, sha1, sha256, pdq or vpdq on this line")
    tags = obj.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    category = obj.get("category")
    quality = obj.get("pdq_quality")
    if quality is not None:
        check_quality(quality, "pdq_quality")
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError("size must be a non-negative integer")
    return EntryRecord(
        **hashes,
        pdq_quality=quality,
        media=obj.get("media"),
        size=size,
        category=None if category is None else str(category),
        series=obj.get("series"),
        tags=tags,
        comments=obj.get("comments"),
        provenance=provenance,
        line=line,
        vpdq=frames,
    )


# What `write` writes of a record, in this order; None and empty values are left out (the reader's defaults).
_WRITTEN = ("md5", "sha1", "sha256", "pdq", "pdq_quality", "media", "size", "category", "series", "tags", "comments")


def write(records: Iterable[EntryRecord], fp: BinaryIO) -> int:
    """One JSON object per record, as `read` reads it; return how many. A video's frames are written as stored
    (`vpdq`: frame, quality, pdq, timestamp), so an export imported elsewhere matches videos exactly as here."""
    return write_lines(fp, (line_of(record) for record in records))


def line_of(record: EntryRecord) -> str:
    """One record's line as `write` writes it (with its newline): the same record always gives the same text."""
    return json.dumps(_line(record), ensure_ascii=False) + "\n"


def _line(record: EntryRecord) -> dict[str, Any]:
    line = {name: value for name in _WRITTEN if (value := getattr(record, name)) is not None and value != []}
    if record.vpdq:
        line["vpdq"] = [{"frame": f.frame, "quality": f.quality, "pdq": f.pdq, "timestamp": f.timestamp}
                        for f in record.vpdq]
    return line


def check_quality(value: Any, name: str = "quality") -> int:
    """A PDQ quality as JSON carries it: an integer from 0 to 100. Not a boolean (Python's `true` is an int 1),
    not a float: a quality written as 80.0 was computed by something else than a PDQ hasher."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ValueError(f"{name} must be an integer from 0 to 100, not {value!r}")
    return value


_FRAME = "{frame, quality 0-100, pdq, timestamp}"


def parse_vpdq(value: Any) -> list[VpdqFrame] | None:
    """`"vpdq": [{"frame", "quality", "pdq", "timestamp"}, ...]` as `hashwarden hash` writes it for a video."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise ValueError(f"vpdq must be a list of {_FRAME} objects")
    frames = []
    for number, frame in enumerate(value):
        try:
            quality, index, seconds = frame["quality"], frame["frame"], frame.get("timestamp", 0.0)
            check_quality(quality)
            if not (isinstance(index, int) and index >= 0 and isinstance(seconds, (int, float))):
                raise ValueError
            frames.append(VpdqFrame(index, quality, PDQ.validate(frame["pdq"]), float(seconds)))
        except KeyError as exc:
            raise ValueError(f"vpdq frame {number} is not {_FRAME}: no {exc.args[0]!r}") from None
        except (TypeError, ValueError, InvalidSignal) as exc:
            raise ValueError(f"vpdq frame {number} is not {_FRAME}{f': {exc}' if str(exc) else ''}") from None
    return frames
