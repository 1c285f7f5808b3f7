"""One file field of a multipart form, read into memory as the body streams in: never into a temporary file.

Why not Starlette's `request.form()` / `UploadFile`: they spool a part above 1 MB to a temporary file, and an
upload of suspected abuse material must not reach the server's disk. python-multipart's streaming
`MultipartParser` calls back with each slice of a part as it arrives; the slices of the wanted field go into one
in-memory buffer and are counted, so an upload is refused (413) the moment it passes its limit, whatever its
Content-Length said. The other parts of the form are parsed and dropped. The body as a whole is capped and timed
by `limits.BodyLimit` (the route's own cap: the file's limit plus the form's overhead).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

# A form part's headers: Content-Disposition and Content-Type are all a browser or curl sends.
_MAX_PART_HEADERS = 8
_MAX_PART_HEADER_BYTES = 4096

# The parser logs what it found wrong, bytes of the body included; the caller gets it in the 422, the log nothing.
_SILENT = logging.getLogger(__name__ + ".parser")
_SILENT.propagate = False
_SILENT.addHandler(logging.NullHandler())


@dataclass
class _Field:
    """Parser state: the headers of the part being read, and the wanted field's bytes."""

    name: bytes
    max_bytes: int
    buffer: io.BytesIO = field(default_factory=io.BytesIO)
    found: int = 0  # parts named `name` seen
    capturing: bool = False  # the part being read is the (first) wanted one
    ended: bool = False  # the closing boundary was read
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.capturing = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).strip().lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        kind, params = parse_options_header(self.disposition)
        if kind == b"form-data" and params.get(b"name") == self.name:
            self.found += 1
            self.capturing = self.found == 1

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.capturing:
            return
        if self.buffer.tell() + (end - start) > self.max_bytes:
            raise HTTPException(413, f"uploaded file above {self.max_bytes} bytes")
        self.buffer.write(data[start:end])

    def on_end(self) -> None:
        self.ended = True


async def read_file_field(request: Request, name: str, max_bytes: int) -> bytes:
    """The bytes of the form field `name` of a multipart/form-data body (at most `max_bytes`), held in memory.

    Raises:
        HTTPException: 415 not a multipart form; 422 a malformed form, none or several `name` fields; 413 the
            field passes `max_bytes` (raised as soon as it does, the rest of the body unread).
    """
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise HTTPException(415, f"expected a multipart/form-data body with a {name!r} field")
    wanted = _Field(name.encode(), max_bytes)
    callbacks = {callback: getattr(wanted, callback) for callback in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_end")}
    parser = MultipartParser(boundary, callbacks, max_header_count=_MAX_PART_HEADERS,  # type: ignore[arg-type]
                             max_header_size=_MAX_PART_HEADER_BYTES)
    parser.logger = _SILENT
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise HTTPException(422, f"malformed multipart form: {exc}") from None
    if not wanted.ended:
        raise HTTPException(422, "malformed multipart form: the body ends before its closing boundary")
    if wanted.found != 1:
        raise HTTPException(422, f"the form must hold exactly one {name!r} field, not {wanted.found}")
    return wanted.buffer.getvalue()  # the buffer's own bytes, not a copy
