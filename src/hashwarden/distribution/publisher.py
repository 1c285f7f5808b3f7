"""`hashwarden publish`: a set's entries as a new version in a static TUF repository, signed.

Each publish of a set whose lines changed since its last published version writes the new full snapshot and the
delta from the previous version (`lists.py`), lists both (hashes and lengths) in a new targets metadata version,
then signs snapshot and timestamp; a publish with nothing new re-signs the timestamp (and snapshot or targets when
they would expire within a timestamp period), which is what a daily job runs so subscribers never see it expire.
Files are written in the order a subscriber reads the other way round: targets, targets metadata, snapshot, and
timestamp.json (renamed into place) last, so a subscriber reading during a publish sees the old state or the new,
never a mix. Every publish of a changed set is an audit row (`publish`) in the store it was read from. The URL list
(`urls=True`) is published the same way beside the sets (`url_lists.py`, under `urls/` with its own index), in the
same targets metadata and the same audit row.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hashwarden.config import TUF_KEPT_DELTAS, Expiries
from hashwarden.distribution import layout
from hashwarden.distribution.keys import ROLES, load_signer, replace_key
from hashwarden.distribution.lists import WrittenList, dump_json, line_digests, write_delta, write_list
from hashwarden.distribution.url_lists import PLAIN_FORMATS as PLAIN_URL_FORMATS
from hashwarden.distribution.url_lists import PLAINTEXT, write_url_list
from hashwarden.errors import DistributionError, FormatError
from hashwarden.formats import md5sum, pdqlist
from hashwarden.formats.exchange import vics_region, with_set_scheme
from hashwarden.formats.vics.writer import VicsWriter
from hashwarden.store import audit
from hashwarden.store.hashsets import get_set, iter_entries
from hashwarden.store.series import with_links
from hashwarden.store.urls import iter_entries as iter_url_entries


# The plain lists beside each full snapshot (`layout.plain_path`), by the formats' own writers; and `vics.json`,
# the set as a VICS 2.0 #Media document (`plain_writers`).
PLAIN_WRITERS = {"md5": md5sum.write, "pdq": pdqlist.write}
VICS_SUFFIX = "vics.json"


class VicsPlainList:
    """A set's VICS 2.0 #Media document, written a chunk at a time beside the other lists (`lists.write_lines`):
    what a viewer tool (Griffeye and others reading Project VIC's format) imports, with the category in the set's
    own scheme's region, series and victim flags from the links, and never imagery (the VICS writer's rule).

    A set VICS cannot carry (graded under a scheme no VICS region has, such as uk-sentencing's letters, or an
    ungraded set holding a category that is no VICS code) gets no VICS list: `refused` says why, and the publish
    goes on with the other lists rather than writing categories that would mean something else."""

    def __init__(self, category_scheme: str | None) -> None:
        self._scheme = category_scheme
        self._region = vics_region(category_scheme)
        self._document: VicsWriter | None = None
        self.refused: str | None = None if self._region is not None else (
            f"category scheme {category_scheme!r} is carried by no VICS 2.0 region")

    def __call__(self, records: list[Any], fp: Any) -> None:
        if self.refused is not None:
            return
        try:
            if self._document is None:
                self._document = VicsWriter(fp, version="2.0", region=self._region or "Default")
            self._document.add(with_set_scheme(iter(records), self._scheme))
        except FormatError as exc:
            self.refused = str(exc)

    def finish(self, fp: Any) -> None:
        if self.refused is None:
            if self._document is None:
                self._document = VicsWriter(fp, version="2.0", region=self._region or "Default")
            self._document.close()


def plain_writers(category_scheme: str | None) -> dict[str, Any]:
    """The plain lists of a set graded under `category_scheme`: md5sum and PDQ lines, and a VICS document."""
    return {**PLAIN_WRITERS, VICS_SUFFIX: VicsPlainList(category_scheme)}


@dataclass(frozen=True)
class PublishedSet:
    """One set (or the URL list, named "urls") given a new version: its entries, and what the delta from the
    previous version removes and adds."""

    name: str
    version: int
    entries: int
    removed: int = 0
    added: int = 0


@dataclass
class PublishResult:
    """What a publish wrote: the sets given new versions, and the versions of the signed metadata."""

    repo: str
    sets: list[PublishedSet] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    urls: PublishedSet | None = None  # the URL list's new version (with `urls`); None: not asked, or unchanged
    urls_unchanged: bool = False
    versions: dict[str, int] = field(default_factory=dict)


def publish(engine: Any, repo_dir: str | os.PathLike[str], keys_dir: str | os.PathLike[str], set_names: list[str],
            expiries: Expiries = Expiries(), now: datetime | None = None, urls: bool = False,
            urls_plaintext: bool = False) -> PublishResult:
    """Publish the current entries of `set_names` (and with `urls` the URL list: its SHA-256 list always, its
    plaintext expressions with `urls_plaintext`, which the list's licence may forbid) into the repository at
    `repo_dir` (created, with root version 1, on first use), signed with the keys in `keys_dir`.

    Raises:
        DistributionError: keys missing, not the ones the repository's root trusts, kept inside the repository, or
            a set name unfit for publishing.
        StoreError: no such set (nothing is written).
    """
    with _locked(repo_dir):
        return _publish(engine, _Repository.open(repo_dir, keys_dir, expiries, now), set_names,
                        urls or urls_plaintext, urls_plaintext)


def _publish(engine: Any, repo: _Repository, set_names: list[str], urls: bool, plaintext: bool) -> PublishResult:
    result = PublishResult(str(repo.path))
    with tempfile.TemporaryDirectory(dir=repo.path, prefix=".publishing-") as staging, engine.begin() as conn:
        for name in dict.fromkeys(set_names):
            published = repo.add_set(conn, name, Path(staging))
            if published is None:
                result.unchanged.append(name)
            else:
                result.sets.append(published)
        if urls:
            result.urls = repo.add_urls(conn, Path(staging), plaintext)
            result.urls_unchanged = result.urls is None
        if result.sets:
            repo.write_index()
        if result.urls:
            repo.write_url_index()
        if result.sets or result.urls:
            details: dict[str, Any] = {"repository": str(repo.path), "sets": [
                {"set": s.name, "version": s.version, "entries": s.entries, "removed": s.removed, "added": s.added}
                for s in result.sets], "targets_version": repo.next_targets_version()}
            if result.urls:
                details["urls"] = {"version": result.urls.version, "entries": result.urls.entries,
                                   "removed": result.urls.removed, "added": result.urls.added,
                                   "plaintext": plaintext}
            audit.append(conn, "publish", details)
        repo.sign(targets=bool(result.sets or result.urls))
    result.versions = repo.versions()
    return result


def rotate_key(repo_dir: str | os.PathLike[str], keys_dir: str | os.PathLike[str], role: str,
               expiries: Expiries = Expiries(), now: datetime | None = None) -> dict[str, int]:
    """Replace `role`'s key: a new key in `keys_dir` (the old one kept beside it as `<role>.pem.<n>.old`), a new
    root version trusting it instead of the old (signed by the root key, and for root by the old and the new), then
    targets, snapshot and timestamp signed anew. A subscriber holding an older root follows: ngclient walks the
    root versions one by one, each signed by its predecessor's keys. Returns the new metadata versions.

    Raises:
        DistributionError: an unknown role, no repository at `repo_dir`, or keys that are not its keys.
    """
    if role not in ROLES:
        raise DistributionError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    with _locked(repo_dir):
        return _rotate(_Repository.open(repo_dir, keys_dir, expiries, now, must_exist=True), keys_dir, role)


def _rotate(repo: _Repository, keys_dir: str | os.PathLike[str], role: str) -> dict[str, int]:
    old_id = repo.signers[role].public_key.keyid
    replace_key(keys_dir, role)
    new = load_signer(keys_dir, role)
    root = repo.root.signed
    root.revoke_key(old_id, role)
    root.add_key(new.public_key, role)
    old_root = repo.signers["root"]
    repo.signers[role] = new
    repo.write_root(extra_signer=old_root if role == "root" else None)
    repo.sign(targets=True)
    return repo.versions()


@contextlib.contextmanager
def _locked(repo_dir: str | os.PathLike[str]) -> Iterator[None]:
    """One publisher at a time per repository (`<repo>/.lock`, an advisory lock): two publishes at once would
    both sign version N+1 of different content."""
    Path(repo_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(repo_dir) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class _Repository:
    """The repository's current metadata and the keys that sign it, loaded from disk, written back in order."""

    def __init__(self, path: Path, signers: dict[str, Any], expiries: Expiries, now: datetime) -> None:
        self.path = path
        self.signers = signers
        self.expiries = expiries
        self.now = now
        self.root: Any = None
        self.targets: Any = None
        self.snapshot: Any = None
        self.timestamp: Any = None
        self.new_targets = False  # a new repository: targets version 1 not written yet
        self.index: dict[str, Any] = {"format": layout.INDEX_FORMAT, "sets": {}}
        self.url_index: dict[str, Any] | None = None  # the URL list's, once published

    @classmethod
    def open(cls, repo_dir: str | os.PathLike[str], keys_dir: str | os.PathLike[str], expiries: Expiries,
             now: datetime | None, must_exist: bool = False) -> _Repository:
        path, keys = Path(repo_dir).resolve(), Path(keys_dir).resolve()
        if keys == path or path in keys.parents:
            raise DistributionError(f"the key directory {keys} is inside the repository {path}: private keys must "
                                    "never be published; keep them elsewhere")
        if must_exist and not (path / layout.METADATA_DIR / "timestamp.json").is_file():
            raise DistributionError(f"no TUF repository at {path} (publish a set first)")
        repo = cls(path, {role: load_signer(keys, role) for role in ROLES}, expiries,
                   now or datetime.now(timezone.utc))
        (path / layout.METADATA_DIR).mkdir(parents=True, exist_ok=True)
        (path / layout.TARGETS_DIR).mkdir(parents=True, exist_ok=True)
        repo._load()
        return repo

    # --- reading what is there ------------------------------------------------------------------------------

    def _load(self) -> None:
        """Root (made, version 1, on first use), then timestamp -> snapshot -> targets as they name each other. A
        repository whose first publish failed has its root and nothing else: it is still new."""
        from tuf.api.metadata import Metadata, Root, Targets

        metadata = self.path / layout.METADATA_DIR
        if not (metadata / "root.json").is_file():
            self.root = Metadata(Root(version=1, consistent_snapshot=True))
            for role in ROLES:
                self.root.signed.add_key(self.signers[role].public_key, role)
            self.write_root(bump=False)
        else:
            self.root = self._read("root.json")
            trusted = self.root.signed.roles
            for role in ROLES:
                if self.signers[role].public_key.keyid not in trusted[role].keyids:
                    raise DistributionError(f"the {role} key in the key directory is not one root version "
                                            f"{self.root.signed.version} of {self.path} trusts (another "
                                            "repository's keys, or keys from before a rotation)")
        if not (metadata / "timestamp.json").is_file():
            self.targets, self.new_targets = Metadata(Targets()), True
            return
        self.timestamp = self._read("timestamp.json")
        self.snapshot = self._read(f"{self.timestamp.signed.snapshot_meta.version}.snapshot.json")
        self.targets = self._read(f"{self.snapshot.signed.meta['targets.json'].version}.targets.json")
        index = self.targets.signed.targets.get(layout.SETS_INDEX)
        if index is not None:
            self.index = json.loads(self._target_file(index).read_bytes())
        url_index = self.targets.signed.targets.get(layout.URLS_INDEX)
        if url_index is not None:
            self.url_index = json.loads(self._target_file(url_index).read_bytes())

    def _read(self, name: str) -> Any:
        from tuf.api.metadata import Metadata

        try:
            return Metadata.from_file(str(self.path / layout.METADATA_DIR / name))
        except Exception as exc:  # any deserialisation failure of our own files: name it
            raise DistributionError(f"cannot read {self.path / layout.METADATA_DIR / name}: {exc}") from exc

    def _target_file(self, target: Any) -> Path:
        return self.path / layout.TARGETS_DIR / layout.stored_name(target.path, target.hashes["sha256"])

    # --- adding a set's new version -------------------------------------------------------------------------

    def add_set(self, conn: Any, name: str, staging: Path) -> PublishedSet | None:
        """Write `name`'s current entries as its next version (with the delta from the previous one), or None
        when its lines and description are those of the version published last."""
        if not layout.SET_NAME.match(name):
            raise DistributionError(f"hash set name {name!r} cannot be published: letters, digits, '.', '_' and "
                                    "'-' only, starting with a letter or digit (rename it with `set rename`)")
        found = get_set(conn, name)
        new_file = staging / f"{name}.new"
        writers = plain_writers(found.category_scheme)
        plain = {staging / f"{name}.{suffix}": write for suffix, write in writers.items()}
        written = write_list(with_links(conn, iter_entries(conn, found.id, frames=True)), new_file, plain)
        refused = {suffix: write.refused for suffix, write in writers.items() if getattr(write, "refused", None)}
        for suffix in refused:
            del writers[suffix]
            (staging / f"{name}.{suffix}").unlink(missing_ok=True)
        description = {"kind": found.kind, "source": found.source, "category_scheme": found.category_scheme,
                       "description": found.description}
        previous = self.index["sets"].get(name)
        if previous is not None and previous["sha256"] == written.content_sha256 and \
                all(previous.get(key) == value for key, value in description.items()) and \
                sorted(previous.get("plain", {})) == sorted(writers):  # a new plain list is a new version
            return None
        version = previous["version"] + 1 if previous else 1
        plain_files = {suffix: (layout.plain_path(name, version, suffix), staging / f"{name}.{suffix}")
                       for suffix in writers}
        entry, removed, added = self._new_version(
            previous, written, new_file, layout.full_path(name, version), plain_files,
            lambda old: layout.delta_path(name, old, version), staging / f"{name}.delta")
        self.index["sets"][name] = {**description, **entry, **({"plain_refused": refused} if refused else {})}
        return PublishedSet(name, version, written.entries, removed, added)

    def add_urls(self, conn: Any, staging: Path, plaintext: bool) -> PublishedSet | None:
        """Write the URL list's current entries as its next published version (with the delta from the previous
        one, the SHA-256 list, and with `plaintext` the expressions too), or None when its lines and plain lists
        are those of the version published last."""
        suffixes = [suffix for suffix in PLAIN_URL_FORMATS if plaintext or suffix != PLAINTEXT]
        new_file = staging / "urls.new"
        written = write_url_list(iter_url_entries(conn), new_file,
                                 {suffix: staging / f"urls.{suffix}" for suffix in suffixes})
        previous = self.url_index
        if previous is not None and previous["sha256"] == written.content_sha256 and \
                sorted(previous["plain"]) == sorted(suffixes):
            return None
        version = previous["version"] + 1 if previous else 1
        plain_files = {suffix: (layout.url_plain_path(version, suffix), staging / f"urls.{suffix}")
                       for suffix in suffixes}
        entry, removed, added = self._new_version(
            previous, written, new_file, layout.url_full_path(version), plain_files,
            lambda old: layout.url_delta_path(old, version), staging / "urls.delta")
        self.url_index = {"format": layout.INDEX_FORMAT, **entry}
        return PublishedSet("urls", version, written.entries, removed, added)

    def _new_version(self, previous: dict[str, Any] | None, written: WrittenList, new_file: Path, full: str,
                     plain: dict[str, tuple[str, Path]], delta_path: Callable[[int], str], delta_file: Path
                     ) -> tuple[dict[str, Any], int, int]:
        """List a set's (or the URL list's) next version: its full list and plain lists as targets, the delta from
        `previous` (the index entry of the version published last), the previous version's files unlisted and
        deltas beyond `TUF_KEPT_DELTAS` pruned. Returns its index entry and the delta's (removed, added)."""
        targets = self.targets.signed.targets
        version = previous["version"] + 1 if previous else 1
        entry = {"version": version, "entries": written.entries, "sha256": written.content_sha256, "full": full,
                 "deltas": list(previous["deltas"]) if previous else [],
                 "plain": {suffix: path for suffix, (path, _local) in plain.items()}}
        removed = added = 0
        if previous is not None:
            old_file = self._target_file(targets[previous["full"]])
            removed, added = write_delta(old_file, line_digests(old_file), new_file, written.digests, delta_file)
            path = delta_path(previous["version"])
            self._add_target(path, delta_file)
            entry["deltas"].append({"from": previous["version"], "to": version, "path": path})
            del targets[previous["full"]]
            for old_plain in previous.get("plain", {}).values():
                targets.pop(old_plain, None)
            for dropped in entry["deltas"][:-TUF_KEPT_DELTAS]:
                targets.pop(dropped["path"], None)
            entry["deltas"] = entry["deltas"][-TUF_KEPT_DELTAS:]
        self._add_target(full, new_file)
        for path, local in plain.values():
            self._add_target(path, local)
        return entry, removed, added

    def _add_target(self, path: str, local: Path) -> None:
        """List `local` as target `path` and move it to its stored name (its SHA-256 as a prefix)."""
        from tuf.api.metadata import TargetFile

        target = TargetFile.from_file(path, str(local), ["sha256"])
        stored = self._target_file(target)
        stored.parent.mkdir(parents=True, exist_ok=True)
        os.replace(local, stored)
        self.targets.signed.targets[path] = target

    def write_index(self) -> None:
        """The sets' index as a target of its own (what a subscriber reads first)."""
        self._write_json_target(layout.SETS_INDEX, self.index)

    def write_url_index(self) -> None:
        """The URL list's index as a target of its own."""
        self._write_json_target(layout.URLS_INDEX, self.url_index)

    def _write_json_target(self, path: str, value: Any) -> None:
        with tempfile.NamedTemporaryFile(dir=self.path, prefix=".index-", delete=False) as fp:
            fp.write(dump_json(value))
        self._add_target(path, Path(fp.name))

    # --- signing ---------------------------------------------------------------------------------------------

    def write_root(self, extra_signer: Any = None, bump: bool = True) -> None:
        """The next root version (`bump`; else the first), signed by the root key (and `extra_signer`: the old root
        key of a rotation)."""
        root = self.root.signed
        root.version += 1 if bump else 0
        root.expires = self._expiry(self.expiries.root_days)
        self.root.signatures.clear()
        if extra_signer is not None:
            self.root.sign(extra_signer, append=True)
        self.root.sign(self.signers["root"], append=True)
        data = self.root.to_bytes()
        self._write(f"{root.version}.root.json", data)
        self._write("root.json", data)

    def sign(self, targets: bool) -> None:
        """Sign what changed: targets (when `targets`, or near expiry), snapshot, timestamp (always)."""
        from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp

        soon = self.now + timedelta(days=self.expiries.timestamp_days)
        if self.new_targets or targets or self.targets.signed.expires <= soon:
            self._write_targets(first=self.new_targets)
            self.new_targets, targets = False, True
        new_snapshot = self.snapshot is None
        if new_snapshot:
            self.snapshot = Metadata(Snapshot())
        if new_snapshot or targets or self.snapshot.signed.expires <= soon:
            self.snapshot.signed.meta["targets.json"] = MetaFile.from_data(
                self.targets.signed.version, (self.path / layout.METADATA_DIR /
                                              f"{self.targets.signed.version}.targets.json").read_bytes(), ["sha256"])
            self._bump(self.snapshot, "snapshot", self.expiries.snapshot_days, first=new_snapshot)
            self._write(f"{self.snapshot.signed.version}.snapshot.json", self.snapshot.to_bytes())
        new_timestamp = self.timestamp is None
        if new_timestamp:
            self.timestamp = Metadata(Timestamp())
        snapshot_bytes = (self.path / layout.METADATA_DIR /
                          f"{self.snapshot.signed.version}.snapshot.json").read_bytes()
        self.timestamp.signed.snapshot_meta = MetaFile.from_data(self.snapshot.signed.version, snapshot_bytes,
                                                                 ["sha256"])
        self._bump(self.timestamp, "timestamp", self.expiries.timestamp_days, first=new_timestamp)
        self._write("timestamp.json", self.timestamp.to_bytes())

    def _write_targets(self, first: bool) -> None:
        self._bump(self.targets, "targets", self.expiries.targets_days, first=first)
        self._write(f"{self.targets.signed.version}.targets.json", self.targets.to_bytes())

    def _bump(self, metadata: Any, role: str, days: float, first: bool = False) -> None:
        """Next version (or the first, 1), new expiry, signed by `role`'s key alone."""
        metadata.signed.version += 0 if first else 1
        metadata.signed.expires = self._expiry(days)
        metadata.signatures.clear()
        metadata.sign(self.signers[role])

    def _expiry(self, days: float) -> datetime:
        return (self.now + timedelta(days=days)).replace(microsecond=0)

    def _write(self, name: str, data: bytes) -> None:
        """Write a metadata file whole or not at all (renamed into place)."""
        final = self.path / layout.METADATA_DIR / name
        with tempfile.NamedTemporaryFile(dir=final.parent, prefix=f".{name}-", delete=False) as fp:
            fp.write(data)
        os.replace(fp.name, final)

    def next_targets_version(self) -> int:
        return 1 if self.new_targets else self.targets.signed.version + 1

    def versions(self) -> dict[str, int]:
        return {"root": self.root.signed.version, "targets": self.targets.signed.version,
                "snapshot": self.snapshot.signed.version, "timestamp": self.timestamp.signed.version}
