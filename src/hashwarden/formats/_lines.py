"""Line iteration shared by the text formats: decoding, BOM, blank and comment lines, line numbers; batched writing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from hashwarden.errors import FormatError

if TYPE_CHECKING:
    from hashwarden.formats import ReadReport


def text_lines(fp: BinaryIO, path: str, comment: str | None = "#", first: int = 1) -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) for each non-blank, non-comment line of a UTF-8 file (`first`: the number
    of its first line, for a part of a file read on its own).

    Raises:
        FormatError: a line is not valid UTF-8.
    """
    for number, raw in enumerate(fp, start=first):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise FormatError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path, number) from exc
        if not text or (comment and text.startswith(comment)):
            continue
        yield number, text


WINDOWS_1252 = "cp1252"
_LISTED_FALLBACKS = 10  # lines named one by one in the warnings; the rest are counted in report.meta


def decoded_lines(
    lines: Iterable[bytes], path: str, report: ReadReport | None, encoding: str | None = None
) -> Iterator[tuple[int, str]]:
    """Yield (line number, text with its line ending) for every line, blank ones included, BOM stripped.

    Lists exported from Windows tools (ICSE CSV, NSRL text, hashdeep run on Windows) are often Windows-1252 /
    Latin-1 rather than UTF-8. Refusing them would leave the analyst with nothing to import, and decoding them
    silently would put mojibake into names nobody checks. So, by default, a line that is not UTF-8 is decoded as
    Windows-1252 (Latin-1 for the five bytes 1252 leaves unassigned, so every byte decodes) and reported in
    `report`: the first few lines by number and offending byte, then a count in `report.meta["non_utf8_lines"]`.
    Decoding is per line, so a mostly UTF-8 file with a few Latin-1 lines keeps its UTF-8 lines intact. With no
    report to carry the warning, or with an explicit `encoding`, decoding is strict. Hashes are ASCII in every
    supported format, so the fallback can only ever change names and comments, never which hash is imported.

    Raises:
        FormatError: a line does not decode and the fallback is off; names the line, the column and the file offset.
    """
    codec = encoding or "utf-8"
    fallback = report if encoding is None else None  # where the warning goes; None = strict
    fallbacks = 0
    offset = 0  # of the line's first byte in the file, for the error
    for number, raw in enumerate(lines, start=1):
        start = offset
        offset += len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf") and codec.lower().startswith("utf"):
            raw = raw[3:]
            start += 3
        try:
            yield number, raw.decode(codec)
            continue
        except UnicodeDecodeError as exc:
            if fallback is None:
                raise FormatError(
                    f"not valid {codec} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "re-encode the file as UTF-8 or give its encoding",
                    path, number, offset=start + exc.start,
                ) from exc
            bad = raw[exc.start]
            column = exc.start + 1
        try:
            text = raw.decode(WINDOWS_1252)
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        fallbacks += 1
        fallback.meta["non_utf8_lines"] = fallbacks
        fallback.meta["fallback_encoding"] = "windows-1252"
        if fallbacks <= _LISTED_FALLBACKS:
            fallback.warnings.append(
                f"{path}:{number}: not UTF-8 (byte 0x{bad:02x} at column {column}); read as Windows-1252: "
                "check the names on this line"
            )
        yield number, text


def write_lines(fp: BinaryIO, lines: Iterable[str], batch: int = 4096) -> int:
    """Write text lines (each with its newline) to a binary file as UTF-8, in batches; return how many.

    Batching keeps the writers at a few hundred ns a line: one encode and one write call per `batch` lines.
    Names that cannot be encoded (lone surrogates) are written with backslash escapes instead of failing an export
    half-way.
    """
    count = 0
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= batch:
            fp.write("".join(chunk).encode("utf-8", "backslashreplace"))
            count += len(chunk)
            chunk.clear()
    if chunk:
        fp.write("".join(chunk).encode("utf-8", "backslashreplace"))
        count += len(chunk)
    return count
