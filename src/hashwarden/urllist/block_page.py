"""The block page shown for a listed URL (issue 19): at a forward proxy (squid's `deny_info`, an error page template
`url block-page` writes) and at `GET /blocked` of the service (the block host DNS/RPZ redirection points to).

Why this wording: it follows the IWF's recommended splash text (research/urllist.md §1.4): access was denied
because the page may contain images of child sexual abuse as identified by a hotline, who to contact when the block
is a mistake, and a help line for people worried about their own behaviour. It is honest about what happened: HTTP
403 by default, or 451 (RFC 7725) where blocking is legally mandated, never a fake 404 (Cleanfeed's failure, §4),
and it never names the URL or the entry that matched: the page is the same for every blocked URL, so it cannot
be used to learn what the list holds.

The page is a template (the packaged `block_page.html`, or the operator's own) whose `@@NAME@@` placeholders
(`PLACEHOLDERS`) are filled, escaped, in one pass (`report.page.fill_page`); none of them is the URL. A deployment's
wording is a JSON file (`BlockPage.from_file`: `status`, `operator`, `hotline`, `appeal`, `helpline_name`,
`helpline_url`, `blocked_by`, `template`), what both `url block-page` and `serve --block-page` read. With 451,
RFC 7725 asks the answer to name who blocks in a `Link: <URL>; rel="blocked-by"` header: `blocked_by` is that URL
(`headers`).

A second page, `ERR_HW_UNAVAILABLE` (HTTP 503, `unavailable_page.html`), is what a proxy shows when the list could
not be consulted (urllist/squid.py): failing closed without telling a visitor that an unlisted page "may contain
images of child sexual abuse", which the block page would wrongly say.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path

from hashwarden.config import MAX_BLOCK_PAGE_BYTES
from hashwarden.errors import BlockPageError
from hashwarden.report.page import fill_page, text
from hashwarden.urllist.rpz import is_dns_name

STATUSES = {403: "Forbidden", 451: "Unavailable For Legal Reasons"}
UNAVAILABLE_STATUS = 503  # the list could not be consulted: not a verdict on the page
PLACEHOLDERS = frozenset({"STATUS", "REASON", "OPERATOR", "HOTLINE", "APPEAL", "HELPLINE_NAME", "HELPLINE_URL"})
SQUID_PAGE = "ERR_HW_BLOCKED"  # the error page name `deny_info 403:ERR_HW_BLOCKED <acl>` refers to
SQUID_UNAVAILABLE_PAGE = "ERR_HW_UNAVAILABLE"  # `deny_info 503:ERR_HW_UNAVAILABLE hw_unavailable`
SQUID_TEMPLATES = Path("/usr/share/squid/errors/templates")  # squid's own pages (Debian), copied beside ours
MAX_TEXT = 500  # characters of one wording value
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


def default_template() -> str:
    return resources.files("hashwarden.urllist").joinpath("block_page.html").read_text(encoding="utf-8")


def unavailable_template() -> str:
    return resources.files("hashwarden.urllist").joinpath("unavailable_page.html").read_text(encoding="utf-8")


@dataclass(frozen=True)
class BlockPage:
    """What the block page says and the status it is answered with; `template` None is the packaged one."""

    status: int = 403
    operator: str = "your internet access provider"
    hotline: str = "a child sexual abuse hotline"
    appeal: str = "your internet access provider"
    helpline_name: str = "Stop It Now"
    helpline_url: str = "https://www.stopitnow.org.uk/"
    # who blocks, as RFC 7725 asks a 451 to say (`Link: <blocked_by>; rel="blocked-by"`): the operator's page
    blocked_by: str | None = None
    template: str | None = None
    # Host names the service answers with this page at any path: the block host a response policy zone's CNAME
    # points at (`export rpz --block-host`), whose visitors ask for the blocked URL's own path.
    hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.hosts, (tuple, list)) or not all(
                isinstance(host, str) and is_dns_name(host.rstrip(".")) for host in self.hosts):
            raise BlockPageError("block page hosts: a list of DNS names expected")
        object.__setattr__(self, "hosts", tuple(host.rstrip(".").lower() for host in self.hosts))
        if self.status not in STATUSES:
            raise BlockPageError(f"block page status {self.status!r}: 403 or 451 (never a fake 404)")
        for name in ("operator", "hotline", "appeal", "helpline_name", "helpline_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
                raise BlockPageError(f"block page {name}: text of 1 to {MAX_TEXT} characters expected")
        for name in ("helpline_url", "blocked_by"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and len(value) <= MAX_TEXT
                                          and re.fullmatch(r"https?://[^\s\"'<>,;]+", value)):
                raise BlockPageError(f"block page {name} {str(value)[:100]!r}: an http(s) URL expected")
        if self.template is not None:
            unknown = set(_PLACEHOLDER.findall(self.template)) - PLACEHOLDERS
            if unknown:
                raise BlockPageError(f"block page template: unknown placeholder(s) "
                                     f"{', '.join('@@' + n + '@@' for n in sorted(unknown))} (known: "
                                     f"{', '.join('@@' + n + '@@' for n in sorted(PLACEHOLDERS))})")

    @classmethod
    def from_file(cls, path: Path) -> "BlockPage":
        """The page a JSON file describes (any of the fields; `template` a file path, relative to the JSON file).

        Raises:
            BlockPageError: the file cannot be read, is not a JSON object of known keys, or a value is refused.
        """
        try:
            data = json.loads(_read(path))
        except json.JSONDecodeError as exc:
            raise BlockPageError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from exc
        known = {field.name for field in fields(cls)}
        if not isinstance(data, dict) or set(data) - known:
            raise BlockPageError(f"{path}: a JSON object with some of {', '.join(sorted(known))} expected")
        if "template" in data:
            if not isinstance(data["template"], str):
                raise BlockPageError(f"{path}: template: a file path expected")
            data["template"] = _read(path.parent / data["template"])
        try:
            return cls(**data)
        except BlockPageError as exc:
            raise BlockPageError(f"{path}: {exc}") from exc

    def with_template_file(self, path: Path) -> "BlockPage":
        """This page with the template read from `path`.

        Raises:
            BlockPageError: the file cannot be read, is too large or not UTF-8, or has an unknown placeholder.
        """
        template = _read(path)
        try:
            return replace(self, template=template)
        except BlockPageError as exc:
            raise BlockPageError(f"{path}: {exc}") from exc

    def render(self) -> str:
        """The page as HTML (ASCII, non-ASCII as character references), every value escaped."""
        values = {"STATUS": str(self.status), "REASON": STATUSES[self.status], "OPERATOR": text(self.operator),
                  "HOTLINE": text(self.hotline), "APPEAL": text(self.appeal),
                  "HELPLINE_NAME": text(self.helpline_name), "HELPLINE_URL": text(self.helpline_url)}
        return fill_page(self.template if self.template is not None else default_template(), values)

    def headers(self) -> dict[str, str]:
        """The HTTP headers the page is answered with: never cached, and with 451 the RFC 7725 `Link` naming who
        blocks when `blocked_by` is set."""
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if self.status == 451 and self.blocked_by is not None:
            headers["Link"] = f'<{self.blocked_by}>; rel="blocked-by"'
        return headers

    def render_unavailable(self) -> str:
        """The page shown when the list could not be consulted (HTTP 503): the operator and the appeal contact,
        nothing that says the page is listed."""
        values = {"STATUS": str(UNAVAILABLE_STATUS), "REASON": "Service Unavailable", "OPERATOR": text(self.operator),
                  "APPEAL": text(self.appeal)}
        return fill_page(unavailable_template(), values)


def squid_template(page: str) -> str:
    """A rendered page as a squid error template: every `%` doubled, so squid expands none of its `%` codes (the URL
    among them) and shows the page as rendered."""
    return page.replace("%", "%%")


def write_squid_pages(page: BlockPage, directory: Path, squid_templates: Path | None = SQUID_TEMPLATES
                      ) -> list[Path]:
    """Write `ERR_HW_BLOCKED` and `ERR_HW_UNAVAILABLE` into `directory` (made if missing) for squid's
    `error_directory`, and copy squid's own error pages that are not there yet from `squid_templates` (with
    `error_directory` set, squid takes every page from it). Return the files written.

    Raises:
        BlockPageError: the directory cannot be written.
    """
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if squid_templates is not None and squid_templates.is_dir():
            for source in sorted(squid_templates.iterdir()):
                target = directory / source.name
                if source.is_file() and not target.exists():
                    shutil.copyfile(source, target)
                    written.append(target)
        for name, html in ((SQUID_PAGE, page.render()), (SQUID_UNAVAILABLE_PAGE, page.render_unavailable())):
            target = directory / name
            target.write_text(squid_template(html), encoding="ascii")
            written.append(target)
    except OSError as exc:
        raise BlockPageError(f"cannot write squid's error pages into {directory}: {exc.strerror or exc}") from exc
    return written


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as fp:
            raw = fp.read(MAX_BLOCK_PAGE_BYTES + 1)
    except OSError as exc:
        raise BlockPageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BLOCK_PAGE_BYTES:
        raise BlockPageError(f"{path}: larger than {MAX_BLOCK_PAGE_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BlockPageError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
