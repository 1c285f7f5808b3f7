"""Where a subscriber reads a repository from: a web server (ngclient's own urllib3 fetcher) or a directory (a copy
on removable media for an offline station, or a mounted share), read by `DirectoryFetcher`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface

from hashwarden.distribution import layout
from hashwarden.errors import DistributionError

_CHUNK = 1 << 20


def locations(repository: str) -> tuple[str, str, object | None]:
    """(metadata base URL, targets base URL, fetcher; None = ngclient's default, for http and https).

    Raises:
        DistributionError: neither an http(s) URL nor an existing directory.
    """
    scheme = urlparse(repository).scheme if "://" in repository else ""
    if scheme in ("http", "https"):
        base = repository.rstrip("/") + "/"
        return base + f"{layout.METADATA_DIR}/", base + f"{layout.TARGETS_DIR}/", None
    path = Path(unquote(urlparse(repository).path)) if scheme == "file" else Path(repository)
    if scheme not in ("", "file") or not path.is_dir():
        raise DistributionError(f"repository {repository!r} is neither an http(s) URL nor a directory")
    base = path.resolve().as_uri() + "/"
    return base + f"{layout.METADATA_DIR}/", base + f"{layout.TARGETS_DIR}/", DirectoryFetcher()


class DirectoryFetcher(FetcherInterface):
    """ngclient's fetcher for file:// URLs: a missing file is a 404, as a web server would say (ngclient stops
    looking for newer root versions at the first one missing)."""

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = unquote(urlparse(url).path)
        try:
            fp = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise DownloadHTTPError(f"{path} not found", 404) from None
        return _chunks(fp)


def _chunks(fp: object) -> Iterator[bytes]:
    with fp:  # type: ignore[attr-defined]
        while chunk := fp.read(_CHUNK):  # type: ignore[attr-defined]
            yield chunk

