"""`hashwarden url add|remove|appeal|check|list|import|export|squid-helper|block-page` and `export rpz`: the URL
list (urllist/, store/urls.py), blocking at a forward proxy (urllist/squid.py, urllist/block_page.py) and at a
resolver (urllist/rpz.py).

`url check --json` prints one JSON object per URL, `{"input", "listed": bool, "entry"?: opaque id, "error"?}`;
its exit status is 1 when any URL is listed, else 2 when any was refused (not a URL the list can hold), else 0.
An empty list is refused (exit 1, nothing printed): "not listed" from an empty list would look like a clean answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from hashwarden.cli.common import DbOption, ExitCode, engine_for, err, export_app, out, url_app
from hashwarden.config import SQUID_HELPER_REFRESH_SECONDS
from hashwarden.errors import BlockPageError, UrlListError

KindOption = Annotated[str, typer.Option("--kind", help="domain (the host and its subdomains), path (a directory "
                                                        "and all under it), page or image (that URL exactly).")]
Urls = Annotated[list[str], typer.Argument(help="URLs (- : one per line on stdin, as raw bytes).")]


def _say(text: str) -> None:
    err.print(text, markup=False, highlight=False, soft_wrap=True)


@url_app.command("add")
def url_add(
    url: Annotated[str, typer.Argument(help="The URL (canonicalized as every lookup is).")],
    kind: KindOption,
    category: Annotated[Optional[str], typer.Option("--category", help="The category (e.g. A, B, C).")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Where the report came from.")] = None,
    reporter: Annotated[Optional[str], typer.Option("--reporter", help="The reporting agency.")] = None,
    evidence: Annotated[Optional[str], typer.Option("--evidence", help="SHA-256 of the media seen there.")] = None,
    db: DbOption = None,
) -> None:
    """List a URL (audited; a new version of the list). Prints the entry's id; warnings on stderr.

    Example: hashwarden url add 'http://example.org/gallery/' --kind path --category A
    """
    from hashwarden.store.urls import add_entries
    from hashwarden.urllist.entries import derive_entry

    derived = derive_entry(url, kind, category=category, source=source, reporter=reporter, evidence_sha256=evidence)
    for warning in derived.warnings:
        _say(f"warning: {warning}")
    with engine_for(db).begin() as conn:
        version, ((public_id, added),) = add_entries(conn, [derived.entry])
    if not added:
        _say(f"already listed as {derived.entry.expression} (entry {public_id})")
    out.print(f"{public_id} {escape(derived.entry.expression)} (version {version})", highlight=False)


@url_app.command("remove")
def url_remove(
    urls: Urls,
    kind: KindOption = "page",
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why (kept with the entry's history).")] = None,
    db: DbOption = None,
) -> None:
    """Remove URLs' entries of a kind (audited, history kept; one new version). Not listed: said on stderr.

    Example: hashwarden url remove 'http://example.org/gallery/' --kind path --reason "taken down"
    """
    from hashwarden.store.urls import remove_entries
    from hashwarden.urllist.entries import derive_entry

    entries = [derive_entry(url, kind).entry for url in _read_urls(urls)]
    with engine_for(db, create=False).begin() as conn:
        version, removed = remove_entries(conn, [entry.sha256 for entry in entries], reason)
    if len(removed) < len(entries):
        _say(f"{len(entries) - len(removed)} of {len(entries)} not listed as {kind} entries")
    out.print(f"removed {len(removed)} (version {version})", highlight=False)


@url_app.command("appeal")
def url_appeal(
    url: Annotated[str, typer.Argument(help="The listed URL.")],
    state: Annotated[str, typer.Option("--state", help="open, upheld or overturned (none: cleared).")],
    kind: KindOption = "page",
    db: DbOption = None,
) -> None:
    """Record a site owner's appeal against an entry (audited). An overturned entry stays listed until removed
    (`url remove --reason`), so the decision and the removal are both on record.

    Example: hashwarden url appeal 'http://example.org/gallery/' --kind path --state open
    """
    from hashwarden.store.urls import APPEALS, set_appeal
    from hashwarden.urllist.entries import derive_entry

    if state not in APPEALS:
        raise UrlListError(f"unknown appeal state {state!r} (one of {', '.join(APPEALS)})")
    entry = derive_entry(url, kind).entry
    with engine_for(db, create=False).begin() as conn:
        public_id = set_appeal(conn, entry.sha256, state)
    if public_id is None:
        raise UrlListError(f"{url!r} is not listed as a {kind} entry ({entry.expression})")
    out.print(f"{public_id} appeal {state}", highlight=False)


@url_app.command("check")
def url_check(
    urls: Urls,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per URL.")] = False,
    db: DbOption = None,
) -> None:
    """Check URLs against the list: exit 1 when any is listed, 0 when none (2 when some were refused).

    Example: hashwarden url check 'http://example.org/gallery/1.jpg'
    """
    from hashwarden.urllist.checker import UrlChecker

    with engine_for(db, create=False).connect() as conn:
        checker = UrlChecker.from_store(conn)
    if not len(checker):
        raise UrlListError("the URL list is empty: nothing to check against (`url add`, `url import`)")
    listed = refused = False
    for raw in _read_urls(urls):
        verdict = checker.check(raw)
        shown = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        listed |= verdict.listed
        refused |= verdict.error is not None
        if as_json:
            line = {"input": shown, "listed": verdict.listed}
            if verdict.entry:
                line["entry"] = verdict.entry
            if verdict.error:
                line["error"] = verdict.error
            out.print(json.dumps(line, ensure_ascii=False), markup=False, highlight=False, soft_wrap=True)
        elif verdict.error:
            _say(f"{shown}: refused: {verdict.error}")
        else:
            out.print(f"{'listed' if verdict.listed else 'not listed'} {escape(shown)}"
                      + (f" (entry {verdict.entry})" if verdict.entry else ""), highlight=False, soft_wrap=True)
    raise typer.Exit(1 if listed else ExitCode.USAGE if refused else 0)


@url_app.command("list")
def url_list(
    removed: Annotated[bool, typer.Option("--removed", help="Removed entries too (with when and why).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
    db: DbOption = None,
) -> None:
    """The listed entries (expression, kind, category, when added)."""
    from hashwarden.store.urls import iter_entries

    with engine_for(db, create=False).connect() as conn:
        for entry in iter_entries(conn, removed=removed):
            if as_json:
                out.print(json.dumps(entry.as_json(), ensure_ascii=False), markup=False, highlight=False,
                          soft_wrap=True)
            else:
                state = f" removed {entry.removed_at}" if entry.removed_at else ""
                out.print(f"{entry.public_id} {entry.kind:6} {escape(entry.expression)} {entry.category or '-'} "
                          f"added {entry.added_at}{state}", highlight=False, soft_wrap=True)


@url_app.command("import")
def url_import(
    path: Annotated[Path, typer.Argument(help="CSV (header: url,kind[,category,source,reporter,evidence_sha256,"
                                               "appeal]) or JSON lines with those keys.")],
    db: DbOption = None,
) -> None:
    """Add a file of URLs as one version, all or nothing (a refused row names its line)."""
    from hashwarden.store.urls import add_entries
    from hashwarden.urllist.files import read_entries

    rows = read_entries(path)
    for line, derived in rows:
        for warning in derived.warnings:
            _say(f"{path}:{line}: warning: {warning}")
    with engine_for(db).begin() as conn:
        version, answers = add_entries(conn, [derived.entry for _, derived in rows])
    added = sum(1 for _, new in answers if new)
    out.print(f"added {added}, already listed {len(answers) - added} (version {version})", highlight=False)


@url_app.command("export")
def url_export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl, expressions (plaintext) or sha256 (one "
                                                      "expression hash per line, for subscribers).")] = "csv",
    removed: Annotated[bool, typer.Option("--removed", help="Removed entries too (csv and jsonl).")] = False,
    db: DbOption = None,
) -> None:
    """Export the list (written to a temporary file renamed into place; `-` standard output). Audited with the
    count and the file's SHA-256: the list is confidential.

    Example: hashwarden url export -o urls.sha256 --format sha256
    """
    from hashwarden.formats.exchange import shown_in_audit, write_atomically
    from hashwarden.store import audit
    from hashwarden.store.urls import iter_entries, list_version
    from hashwarden.urllist.files import EXPORT_FORMATS, write_entries

    if fmt not in EXPORT_FORMATS:
        raise UrlListError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")

    def write(fp: Any) -> int:
        return write_entries(iter_entries(conn, removed=removed and fmt in ("csv", "jsonl")), _Utf8(fp), fmt)

    with engine_for(db, create=False).begin() as conn:
        count, sha256 = write_atomically(output, write)
        audit.append(conn, "url.export", {"version": list_version(conn), "entries": count, "format": fmt,
                                          "out": shown_in_audit(output), "sha256": sha256})
    _say(f"{count} entries written to {output}")


def _read_urls(urls: list[str]) -> list[str | bytes]:
    """The URLs given, or with `-` those on stdin, one per line as raw bytes (the line ending taken off)."""
    if urls != ["-"]:
        return list(urls)
    return [line.rstrip(b"\n").rstrip(b"\r") for line in sys.stdin.buffer if line.strip(b"\r\n")]


@export_app.command("rpz")
def export_rpz(
    zone: Annotated[str, typer.Option("--zone", help="The policy zone's name, e.g. rpz.hotline.example.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The zone file to write (- : standard output).")],
    block_host: Annotated[Optional[str], typer.Option(
        "--block-host", help="Answer listed names with a CNAME to this host (the block page's) instead of "
                             "NXDOMAIN.")] = None,
    ttl: Annotated[int, typer.Option("--ttl", min=0, max=86400, help="TTL of the zone's records, seconds.")] = 300,
    db: DbOption = None,
) -> None:
    """The URL list's domain entries as a DNS Response Policy Zone (page and path entries never widen to their
    host). Audited like `url export`.

    Example: hashwarden export rpz --zone rpz.hotline.example -o hw.rpz
    """
    from hashwarden.formats.exchange import shown_in_audit, write_atomically
    from hashwarden.store import audit
    from hashwarden.store.urls import iter_entries, list_version
    from hashwarden.urllist.rpz import write_rpz

    with engine_for(db, create=False).begin() as conn:
        version = list_version(conn)
        result = None

        def write(fp: Any) -> int:
            nonlocal result
            result = write_rpz(iter_entries(conn), _Utf8(fp), zone, version,
                               "cname" if block_host else "nxdomain", block_host, ttl)
            return result.written

        count, sha256 = write_atomically(output, write)
        audit.append(conn, "url.export", {"version": version, "entries": count, "format": "rpz",
                                          "out": shown_in_audit(output), "sha256": sha256})
    _say(f"{count} domain entries written to {output}"
         + (f"; {result.skipped} skipped (not a DNS name: an IP address or a malformed host)"
            if result and result.skipped else ""))


class _Utf8:
    """Text to a byte stream (the atomic writer's, which hashes what it writes)."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp

    def write(self, text: str) -> int:
        return self._fp.write(text.encode("utf-8"))


@url_app.command("squid-helper")
def url_squid_helper(
    db: DbOption = None,
    channels: Annotated[bool, typer.Option("--channels/--no-channels", help="Request lines start with squid's "
                                           "channel id (external_acl_type ... concurrency=N, N > 0).")] = True,
    refresh: Annotated[float, typer.Option("--refresh", min=0.001, help="Seconds between checks for a new "
                                           "version of the list.")] = SQUID_HELPER_REFRESH_SECONDS,
) -> None:
    """Squid's external ACL helper: answers `<channel-id> <URL>` lines on stdin with `<channel-id> OK` (listed) or
    `ERR` (not listed), `BH` for a line it cannot answer; ends at the end of input. While the list cannot be used
    (no database, unreadable, empty) every URL is refused as `OK tag=hw_unavailable` (see the squid.conf lines).

    Example (squid.conf):
        external_acl_type hw concurrency=50 ttl=0 %URI /usr/bin/hashwarden url squid-helper --db /srv/hw.db
        acl hw_listed external hw
        acl hw_unavailable tag hw_unavailable
        http_access deny hw_listed hw_unavailable
        http_access deny hw_listed
        deny_info 503:ERR_HW_UNAVAILABLE hw_unavailable
        deny_info 403:ERR_HW_BLOCKED hw_listed
    """
    from hashwarden.urllist.checker import UrlListCache
    from hashwarden.urllist.squid import OpenedLater, SquidHelper, run

    engine = OpenedLater(lambda: engine_for(db, create=False), refresh)
    helper = SquidHelper(engine, UrlListCache(refresh), channels=channels)  # type: ignore[arg-type]
    try:
        run(helper, sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):  # squid went away or stops its helpers: nothing left to answer
        pass


@url_app.command("block-page")
def url_block_page(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the page here (- : stdout).")
                      ] = None,
    squid_dir: Annotated[Optional[Path], typer.Option("--squid-dir", help="Write squid's ERR_HW_BLOCKED here, "
                                                      "with squid's own pages (for error_directory).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON: status, operator, hotline, appeal, blocked_by, "
                                                   "helpline_name, helpline_url, template.")] = None,
    template: Annotated[Optional[Path], typer.Option("--template", help="An HTML template with @@NAME@@ "
                                                     "placeholders (instead of the packaged one).")] = None,
    status: Annotated[Optional[int], typer.Option("--status", help="403 (default) or 451 (RFC 7725).")] = None,
) -> None:
    """Render the block page shown for a listed URL: HTTP 403 (or 451), why, who to contact, a help line; never
    the URL or the entry.

    Example: hashwarden url block-page --config block.json --squid-dir /etc/squid/hashwarden-errors
    """
    from dataclasses import replace

    from hashwarden.urllist.block_page import BlockPage, write_squid_pages

    page = BlockPage.from_file(config) if config is not None else BlockPage()
    if template is not None:
        page = page.with_template_file(template)
    if status is not None:
        page = replace(page, status=status)
    if squid_dir is None and output is None:
        output = Path("-")
    if output is not None:
        if str(output) == "-":
            sys.stdout.write(page.render())
        else:
            try:
                output.write_text(page.render(), encoding="ascii")
            except OSError as exc:
                raise BlockPageError(f"cannot write {output}: {exc.strerror or exc}") from exc
    if squid_dir is not None:
        written = write_squid_pages(page, squid_dir)
        _say(f"{squid_dir / 'ERR_HW_BLOCKED'} and ERR_HW_UNAVAILABLE written ({len(written) - 2} of squid's own "
             f"pages copied); squid.conf: error_directory {squid_dir}, deny_info {page.status}:ERR_HW_BLOCKED "
             "hw_listed and deny_info 503:ERR_HW_UNAVAILABLE hw_unavailable")
