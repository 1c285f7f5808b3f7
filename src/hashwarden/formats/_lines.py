"""Line iteration shared by the text formats: decoding, BOM, blank and comment lines, line numbers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from hashwarden.errors import FormatError


def text_lines(fp: BinaryIO, path: str, comment: str | None = "#") -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) for each non-blank, non-comment line of a UTF-8 file.

    Raises:
        FormatError: a line is not valid UTF-8.
    """
    for number, raw in enumerate(fp, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise FormatError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path, number) from exc
        if not text or (comment and text.startswith(comment)):
            continue
        yield number, text
