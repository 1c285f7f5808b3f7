"""`hashwarden subscribe`: bring the local database up to a publisher's signed repository.

`tuf.ngclient.Updater` makes every trust decision (root rotation, signatures and thresholds, expiry, rollback and
freeze, snapshot/targets consistency, each file's length and hashes); its metadata cache is kept beside the
database (`<db>.tuf/<root fingerprint>/`), so rollback protection holds across runs and across copies of the
repository wherever they are mounted. Everything needed is downloaded and verified first; only then are the sets
changed, all in one transaction (every set or none), each change an import recorded in the audit log with the
set's new content digest (`store.revision.revise_set`), plus one `subscribe` row. Any refusal leaves the database
as it was and names what failed.

Per set: one it does not hold yet comes as its full snapshot; one it holds at an older version follows the chain of
deltas from there, or the full snapshot when the chain is broken (pruned) or clearly larger. Subscribed sets are
ordinary sets: scan, match and the service use them like any other.

The URL list, when the repository publishes one (and `urls` is not turned off: `--no-urls`), comes the same way
(its full list, or its deltas) in the same transaction, after the sets, applied through `store.urls`
(`url_apply.py`); the published version and the local version subscribe left it at are kept (`url_subscription`).
A local URL list that is not a subscription, follows another repository or was changed here after subscribing is
refused (nothing changed): its entries would be neither the publisher's nor the operator's.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hashwarden.config import SUBSCRIBE_CACHE_KIB
from hashwarden.distribution import layout
from hashwarden.distribution.fetch import locations
from hashwarden.distribution.lists import read_delta, read_list
from hashwarden.distribution.url_apply import apply_delta, apply_full
from hashwarden.distribution.url_lists import read_url_ops
from hashwarden.errors import DistributionError, StoreError
from hashwarden.scan.known_files import cache_directory
from hashwarden.store import audit, live
from hashwarden.store.db import page_cache
from hashwarden.store.hashsets import create_set, get_set
from hashwarden.store.revision import entries_of, revise_set
from hashwarden.store.schema import entry
from hashwarden.store.subscriptions import (UrlSubscription, held_url_version, held_versions, record_url_version,
                                            record_version)
from hashwarden.store.urls import list_version, lists_any

_MAX_INDEX_BYTES = 16 << 20  # the index lists sets, not entries
# A chain of deltas is taken unless it is larger than the full snapshot by more than this: each delta carries a
# gzip header and trailer, so for small sets a chain of a few lines is "larger" than the whole set, yet cheaper to
# apply (the entries kept stay as they are, with their provenance).
_DELTA_SLACK_BYTES = 64 << 10


@dataclass(frozen=True)
class SetUpdate:
    """One set brought up to date: from which version (None: new here) to which, and how."""

    name: str
    old: int | None
    new: int
    how: str  # "full" or "deltas"
    removed: int = 0
    added: int = 0


@dataclass
class SubscribeResult:
    """The sets changed and the ones already current; the URL list's update (None: not published, not asked for
    or current, which `urls_current` says)."""

    repository: str
    updated: list[SetUpdate] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    urls: SetUpdate | None = None
    urls_current: bool = False


@dataclass
class _Step:
    """One downloaded target to apply: a full snapshot, or a delta from `old` to `new`."""

    path: str
    file: Path
    old: int | None
    new: int
    full: bool


def subscribe(engine: Any, repository: str, root_file: str | os.PathLike[str],
              metadata_dir: str | os.PathLike[str] | None = None, urls: bool = True) -> SubscribeResult:
    """Update the sets `repository` (an http(s) URL or a directory) publishes, and the URL list when it publishes
    one (unless `urls` is False), trusting `root_file` (the root.json the publisher handed over out of band) on
    first use and the root versions it verified since.

    Raises:
        DistributionError: the repository's metadata or a file did not verify (expired, rollback, bad signature,
            hash or length mismatch), it cannot be reached, or a local set cannot follow it; nothing is changed.
    """
    try:
        root = Path(root_file).read_bytes()
    except OSError as exc:
        raise DistributionError(f"cannot read the root metadata {root_file} ({exc.strerror or exc})") from exc
    fingerprint = hashlib.sha256(root).hexdigest()
    cache = Path(metadata_dir) if metadata_dir else cache_directory(engine, "tuf") / fingerprint[:16]
    cache.mkdir(parents=True, exist_ok=True)
    result = SubscribeResult(repository)
    with engine.connect() as conn:
        held = held_versions(conn)
        url_state = _url_state(conn)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as downloads:
        with _refusals(repository):
            updater = _updater(repository, cache, Path(downloads), None if (cache / "root.json").is_file() else root)
            updater.refresh()
            index = _read_index(updater, Path(downloads), repository)
            plans = _plan(updater, index, held, fingerprint, Path(downloads), result)
            url_index = _read_url_index(updater, Path(downloads), repository) if urls else None
            url_steps = _plan_urls(updater, url_index, url_state, fingerprint, Path(downloads), result)
        with engine.begin() as conn:
            if held_versions(conn) != held or _url_state(conn) != url_state:
                raise DistributionError("the database's subscriptions changed while downloading (another "
                                        "subscribe?): run subscribe again")
            with page_cache(conn, SUBSCRIBE_CACHE_KIB):
                for name, steps in sorted(plans.items()):
                    result.updated.append(_apply(conn, name, index["sets"][name], steps, held.get(name),
                                                 repository))
                    record_version(conn, get_set(conn, name).id, fingerprint, index["sets"][name]["version"])
                if url_steps and url_index is not None:
                    result.urls = _apply_urls(conn, url_index, url_steps, url_state[0], repository)
                    record_url_version(conn, UrlSubscription(fingerprint, url_index["version"],
                                                             list_version(conn)))
            if result.updated or result.urls:
                details: dict[str, Any] = {"repository": repository, "root_sha256": fingerprint, "sets": [
                    {"set": u.name, "from": u.old, "to": u.new, "how": u.how, "removed": u.removed,
                     "added": u.added} for u in result.updated]}
                if result.urls:
                    done = result.urls
                    details["urls"] = {"from": done.old, "to": done.new, "how": done.how, "removed": done.removed,
                                       "added": done.added}
                audit.append(conn, "subscribe", details)
    return result


def _updater(repository: str, cache: Path, downloads: Path, bootstrap: bytes | None) -> Any:
    from tuf.ngclient import Updater

    metadata_url, targets_url, fetcher = locations(repository)
    return Updater(str(cache), metadata_url, str(downloads), targets_url, fetcher, bootstrap=bootstrap)


def _download(updater: Any, path: str, downloads: Path) -> tuple[Path, Any]:
    """A target verified (length and hashes, by ngclient) into `downloads`; (file, its TargetFile)."""
    info = updater.get_targetinfo(path)
    if info is None:
        raise DistributionError(f"the repository's index names {path}, which its signed targets metadata does not "
                                "list")
    from tuf.api.exceptions import RepositoryError

    local = downloads / path.replace("/", "__")
    try:
        updater.download_target(info, str(local))
    except RepositoryError as exc:  # the same refusal, naming the file
        raise type(exc)(f"{path}: {exc}") from exc
    return local, info


def _read_index(updater: Any, downloads: Path, repository: str) -> dict[str, Any]:
    if updater.get_targetinfo(layout.SETS_INDEX) is None:
        return {"format": layout.INDEX_FORMAT, "sets": {}}  # a repository with no set published yet
    local, info = _download(updater, layout.SETS_INDEX, downloads)
    if info.length > _MAX_INDEX_BYTES:
        raise DistributionError(f"{repository}: its set index is {info.length} bytes, more than any index of sets")
    try:
        index = json.loads(local.read_bytes())
        sets = index["sets"]
        if index.get("format") != layout.INDEX_FORMAT or not isinstance(sets, dict):
            raise ValueError(f"format {index.get('format')!r}")
        for name, published in sets.items():
            _check_entry(name, published)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DistributionError(f"{repository}: its set index is not one this hashwarden reads ({exc})") from exc
    return index


def _check_entry(name: str, published: dict[str, Any]) -> None:
    """One set of the index as this hashwarden reads it (the index is signed, yet a publisher's bug must end in a
    message, never a traceback or a loop): a name, a kind, and `_check_versions`.

    Raises:
        ValueError: naming the set and what is wrong.
    """
    if not layout.SET_NAME.match(name) or not isinstance(published.get("kind"), str):
        raise ValueError(f"set {name!r}: no valid name or kind")
    _check_versions(f"set {name!r}", published)


def _check_versions(label: str, published: dict[str, Any]) -> None:
    """A published list's version (positive), full list and deltas (each going forwards) as this hashwarden reads
    them."""
    version = published.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{label}: no valid version")
    if not isinstance(published.get("full"), str):
        raise ValueError(f"{label}: no full list")
    deltas = published.get("deltas", [])
    if not isinstance(deltas, list):
        raise ValueError(f"{label}: deltas are not a list")
    for step in deltas:
        if not (isinstance(step, dict) and isinstance(step.get("path"), str)
                and all(isinstance(step.get(key), int) for key in ("from", "to"))
                and 1 <= step["from"] < step["to"] <= version):
            raise ValueError(f"{label}: a delta that is not from one version to a later one")


def _read_url_index(updater: Any, downloads: Path, repository: str) -> dict[str, Any] | None:
    """The URL list's index, None when the repository publishes no URL list."""
    if updater.get_targetinfo(layout.URLS_INDEX) is None:
        return None
    local, info = _download(updater, layout.URLS_INDEX, downloads)
    if info.length > _MAX_INDEX_BYTES:
        raise DistributionError(f"{repository}: its URL list index is {info.length} bytes, more than any index")
    try:
        index = json.loads(local.read_bytes())
        if not isinstance(index, dict) or index.get("format") != layout.INDEX_FORMAT:
            raise ValueError(f"format {index.get('format') if isinstance(index, dict) else index!r}")
        _check_versions("the URL list", index)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DistributionError(f"{repository}: its URL list index is not one this hashwarden reads ({exc})") from exc
    return index


def _plan(updater: Any, index: dict[str, Any], held: dict[str, tuple[str, int]], fingerprint: str,
          downloads: Path, result: SubscribeResult) -> dict[str, list[_Step]]:
    """Which targets each set needs, downloaded and verified."""
    plans: dict[str, list[_Step]] = {}
    for name, published in sorted(index["sets"].items()):
        version = published["version"]
        repository, have = held.get(name, (fingerprint, None))
        if repository != fingerprint:
            raise DistributionError(f"hash set {name!r} here follows another repository (root {repository[:16]}); "
                                    "rename or delete it to subscribe to this one")
        if have == version:
            result.current.append(name)
            continue
        if have is not None and have > version:
            raise DistributionError(f"hash set {name!r} here is at published version {have}, the repository "
                                    f"publishes version {version}: refusing to go back")
        plans[name] = _steps(updater, published, have, downloads)
    return plans


def _steps(updater: Any, published: dict[str, Any], have: int | None, downloads: Path) -> list[_Step]:
    """The downloaded (verified) targets that bring a list held at version `have` (None: not held) to the published
    one: its chain of deltas, or its full list when the chain is broken or clearly larger."""
    version = published["version"]
    chain = _delta_chain(published, have)
    full = updater.get_targetinfo(published["full"])
    if full is None:
        raise DistributionError(f"the repository's index names {published['full']}, which its signed "
                                "targets metadata does not list")
    infos = [updater.get_targetinfo(step["path"]) for step in chain or []]
    if chain and all(infos) and sum(info.length for info in infos) <= full.length + _DELTA_SLACK_BYTES:
        return [_Step(step["path"], _download(updater, step["path"], downloads)[0], step["from"], step["to"],
                      full=False) for step in chain]
    return [_Step(published["full"], _download(updater, published["full"], downloads)[0], have, version,
                  full=True)]


_UrlState = tuple[UrlSubscription | None, int, bool]


def _url_state(conn: Any) -> _UrlState:
    """The local URL list as subscribe sees it: its subscription, its local version, whether it lists anything."""
    return held_url_version(conn), list_version(conn), lists_any(conn)


def _plan_urls(updater: Any, index: dict[str, Any] | None, state: _UrlState, fingerprint: str, downloads: Path,
               result: SubscribeResult) -> list[_Step]:
    """The URL list's steps (none: not published, not asked for, or current), or a refusal when the local list
    cannot follow: another repository's, a list of this database's own, or changed here since the last subscribe
    (safe default: its entries would be neither the publisher's nor the operator's)."""
    if index is None:
        return []
    held, local_version, listing = state
    if held is None and listing:
        raise DistributionError("the URL list here holds entries of its own and is not a subscription: subscribe "
                                "with --no-urls, or subscribe from a database whose URL list is empty")
    if held is not None and held.repository != fingerprint:
        raise DistributionError(f"the URL list here follows another repository (root {held.repository[:16]}): "
                                "subscribe with --no-urls")
    if held is not None and held.local_version != local_version:
        raise DistributionError(f"the URL list here was changed after subscribing (`url add`/`url remove`: local "
                                f"version {local_version}, subscribe left it at {held.local_version}); its "
                                "entries are no longer the publisher's: subscribe with --no-urls, or undo the "
                                "change from a backup")
    have = held.version if held is not None else None
    if have == index["version"]:
        result.urls_current = True
        return []
    if have is not None and have > index["version"]:
        raise DistributionError(f"the URL list here is at published version {have}, the repository publishes "
                                f"version {index['version']}: refusing to go back")
    return _steps(updater, index, have, downloads)


def _delta_chain(published: dict[str, Any], have: int | None) -> list[dict[str, Any]] | None:
    """The deltas from version `have` to the published one, or None (not held, or a link pruned)."""
    if have is None:
        return None
    by_start = {step["from"]: step for step in published.get("deltas", [])}
    chain = []
    while have != published["version"]:
        step = by_start.get(have)
        if step is None:
            return None
        chain.append(step)
        have = step["to"]
    return chain


def _apply(conn: Any, name: str, published: dict[str, Any], steps: list[_Step], held: tuple[str, int] | None,
           repository: str) -> SetUpdate:
    """Apply one set's downloaded steps in the caller's transaction."""
    details = {"repository": repository}
    if held is None:
        try:
            get_set(conn, name)
        except StoreError:
            pass
        else:
            raise DistributionError(f"hash set {name!r} exists here and is not a subscription: rename it (`set "
                                    "rename`) or delete it before subscribing")
        target = create_set(conn, name, published["kind"], published.get("source") or "local",
                            published.get("category_scheme"), None, published.get("description"))
    else:
        target = get_set(conn, name)
    removed = added = 0
    for step in steps:
        shown = f"{repository} {step.path}"
        if step.full:  # the set becomes the snapshot: what it held goes, the snapshot's entries come
            ids = [row.id for row in live.rows(conn, select(entry.c.id).where(entry.c.set_id == target.id))]
            done = revise_set(conn, target, ids, read_list(step.file, shown), fmt="tuf-full", file=shown,
                              version=str(step.new), details=details)
            how = "full"
        else:
            # the additions are read in a thread while the removals are looked up and deleted (GIL released)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="delta-read") as reading:
                gone, new = read_delta(step.file, shown, ahead=reading)
                found, missing = entries_of(conn, target.id, gone)
                if missing:
                    raise DistributionError(f"hash set {name!r}: {shown} removes {len(missing)} entries this "
                                            "database's copy does not hold (the set was changed here outside "
                                            "subscribe): delete it and subscribe again")
                done = revise_set(conn, target, found, new, fmt="tuf-delta", file=shown, version=str(step.new),
                                  details=details, into_overlay=True)
            how = "deltas"
        removed, added = removed + done.deleted, added + done.added
    return SetUpdate(name, held[1] if held else None, published["version"], how, removed, added)


def _apply_urls(conn: Any, index: dict[str, Any], steps: list[_Step], held: UrlSubscription | None,
                repository: str) -> SetUpdate:
    """Apply the URL list's downloaded steps in the caller's transaction (after the sets: all or nothing)."""
    removed = added = 0
    how = "full"
    for step in steps:
        shown = f"{repository} {step.path}"
        gone, new = read_url_ops(step.file, shown, delta=not step.full)
        if step.full:
            done = apply_full(conn, new, shown)
        else:
            done = apply_delta(conn, gone, new, shown)
            how = "deltas"
        removed, added = removed + done.removed, added + done.added
    return SetUpdate("urls", held.version if held else None, index["version"], how, removed, added)


class _refusals:
    """Turn python-tuf's refusals into a DistributionError naming the repository and what failed."""

    def __init__(self, repository: str) -> None:
        self.repository = repository

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, _tb: Any) -> bool:
        from tuf.api import exceptions as tuf

        if exc is None or not isinstance(exc, (tuf.RepositoryError, tuf.DownloadError)):
            return False
        what = next((label for cls, label in _LABELS if isinstance(exc, getattr(tuf, cls))), "refused")
        raise DistributionError(f"{self.repository}: {what}: {exc or type(exc).__name__}; nothing was "
                                "changed") from exc


# python-tuf's refusals in words, most specific first.
_LABELS = (
    ("ExpiredMetadataError", "expired metadata (the publisher has not re-signed it, or this copy is old)"),
    ("EqualVersionNumberError", "metadata replayed under the same version"),
    ("BadVersionNumberError", "rollback (metadata older than what this subscriber has already seen)"),
    ("UnsignedMetadataError", "bad signature (not signed by the keys the trusted root names)"),
    ("LengthOrHashMismatchError", "hash or length mismatch (a file was altered or mixed from another version)"),
    ("DownloadLengthMismatchError", "a file longer than its signed length"),
    ("DownloadHTTPError", "download failed"),
    ("DownloadError", "download failed"),
    ("RepositoryError", "repository metadata refused"),
)
