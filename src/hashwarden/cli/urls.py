"""`hashwarden url canon|expressions`: URLs canonicalized the Safe Browsing way, and their lookup expressions
(urls/). The URL list's own commands (`url add|remove|check|list|import|export`) join the same group, `url_app`.

Contracts scripts rely on:
- `url canon URL...` prints one canonical URL per line; a refused URL prints `UrlError: 'input': reason` on stderr
  and the command exits 1 once every URL was answered.
- `--json` prints one JSON object per URL instead: `{"input", "canonical"}` (canonical null and an `"error"` with
  the reason when refused) for `canon`, `{"input", "expressions"}` (and `"error"`) for `expressions`. Errors are
  then part of the answer and the exit code is 0, so one bad line of a million does not fail a pipeline.
- `-` reads URLs from stdin, one per line, as raw bytes: a line's bytes are the URL, only its ending (`\\n` or
  `\\r\\n`) removed; a line longer than config.MAX_URL_BYTES is answered as refused, with its start as `input`.
- `input` is the URL as UTF-8, each byte that is not UTF-8 written `\\xNN` and a literal backslash doubled (as
  report paths are written), so the JSON is valid and two different inputs never show the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO, Annotated

import typer

from hashwarden.cli.common import ExitCode, url_app
from hashwarden.config import MAX_URL_BYTES
from hashwarden.errors import UrlError

UrlsArgument = Annotated[list[str], typer.Argument(
    metavar="URL", help="URLs to read; - reads one URL per line from stdin (raw bytes).")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per URL; refusals in it, exit 0.")]


@url_app.command("canon")
def canon(urls: UrlsArgument, as_json: JsonOption = False) -> None:
    """Print each URL's canonical form (Safe Browsing v4: unescaped, cleaned, the port dropped, escaped once).

    Example: hashwarden url canon 'HTTP://www.Example.com:80/a/../b#top'; hashwarden url canon --json - < urls.txt
    """
    from hashwarden.urls import canonicalize

    _answer(urls, as_json, "canonical", canonicalize, lambda canonical: canonical, separator="")


@url_app.command("expressions")
def expressions_command(urls: UrlsArgument, as_json: JsonOption = False) -> None:
    """Print each URL's lookup expressions (host suffix + path prefix, at most 30), one per line, an empty line
    between two URLs' expressions.

    Example: hashwarden url expressions 'http://a.b.c/1/2.html?param=1'
    """
    from hashwarden.urls import canonicalize, expressions

    _answer(urls, as_json, "expressions", lambda url: expressions(canonicalize(url)), "\n".join, separator="\n")


def _answer(urls: list[str], as_json: bool, key: str, compute, as_text, separator: str) -> None:  # noqa: ANN001
    """Compute one answer per URL and write it as text (`separator` before each but the first) or JSON; a refusal
    is a stderr line (text) or the record's `error` (JSON). Text mode exits 1 at the end when any was refused."""
    from hashwarden.evidence.folder import display_name

    write = sys.stdout.write
    refused = answered = 0
    for raw in _inputs(urls, sys.stdin.buffer):
        try:
            answer = compute(raw)
        except UrlError as exc:
            refused += 1
            if as_json:
                write(json.dumps({"input": display_name(raw), key: None, "error": exc.reason}) + "\n")
            else:
                sys.stderr.write(f"UrlError: {exc}\n")
            continue
        if as_json:
            write(json.dumps({"input": display_name(raw), key: answer}) + "\n")
        else:
            write((separator if answered else "") + as_text(answer) + "\n")
        answered += 1
    sys.stdout.flush()
    if refused and not as_json:
        raise typer.Exit(ExitCode.FATAL)


def _inputs(urls: list[str], stdin: IO[bytes]) -> Iterator[bytes]:
    """Each URL as bytes: an argument as the bytes it was given (argv's undecodable bytes come back through
    surrogateescape), `-` as stdin's lines."""
    for url in urls:
        if url == "-":
            yield from _lines(stdin)
        else:
            yield url.encode("utf-8", "surrogateescape")


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines without their `\\n` or `\\r\\n`, in bounded memory: a line over the cap is cut to its first
    MAX_URL_BYTES + 1 bytes (which canonicalize refuses as too long) and the rest skipped."""
    limit = MAX_URL_BYTES + 1
    while line := stream.readline(limit):
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        else:
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
        yield line
