"""Where everything of a published repository goes: one place for the names publisher and subscriber share.

    <repo>/metadata/1.root.json, 2.root.json ...   root versions (root.json: a copy of the newest)
    <repo>/metadata/<n>.targets.json, <n>.snapshot.json, timestamp.json
    <repo>/targets/sets/index.json                  what is published: each set's version, kind, files
    <repo>/targets/sets/<set>/v<n>.jsonl.gz         a set's full snapshot at version n (our JSON lines, gzip)
    <repo>/targets/sets/<set>/delta-<a>-<b>.jsonl.gz  from version a to b: {"op": "remove"|"add", ...line}
    <repo>/targets/sets/<set>/v<n>.md5.gz, v<n>.pdq.gz  the same version as md5sum and ThreatExchange PDQ lines,
                                                    for subscribers without hashwarden (any TUF client verifies them)
    <repo>/targets/sets/<set>/v<n>.vics.json.gz     and as a VICS 2.0 #Media document (Project VIC viewers)
    <repo>/targets/urls/index.json                  the URL list's version, entries and files (`publish --urls`)
    <repo>/targets/urls/v<n>.jsonl.gz               the URL list at version n: one entry a line, with its public id
    <repo>/targets/urls/delta-<a>-<b>.jsonl.gz      from version a to b: {"op": "remove"|"add", ...line}
    <repo>/targets/urls/v<n>.sha256.gz              the expressions' SHA-256, one a line (`url export --format sha256`)
    <repo>/targets/urls/v<n>.txt.gz                 the expressions in plaintext (`--urls-plaintext` only: licence)

Consistent snapshots (TUF's `consistent_snapshot`): metadata files carry their version and target files their
SHA-256 as a name prefix (`<sha256>.v3.jsonl.gz`), so a mirror being updated while a subscriber reads it never
serves a mix. The URL list's files are listed in the same targets metadata as the sets', so one signed state holds
both and a subscriber applies both in one transaction.
"""

from __future__ import annotations

import re

METADATA_DIR = "metadata"
TARGETS_DIR = "targets"
SETS_INDEX = "sets/index.json"
URLS_INDEX = "urls/index.json"
INDEX_FORMAT = 1

# Published set names are path components on every web server and file system a copy lands on: a plain charset.
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")


def full_path(name: str, version: int) -> str:
    """Target path of set `name`'s full snapshot at `version`."""
    return f"sets/{name}/v{version}.jsonl.gz"


def plain_path(name: str, version: int, suffix: str) -> str:
    """Target path of set `name`'s plain `suffix` list (md5sum, PDQ, VICS) at `version`."""
    return f"sets/{name}/v{version}.{suffix}.gz"


def delta_path(name: str, old: int, new: int) -> str:
    """Target path of set `name`'s delta from version `old` to `new`."""
    return f"sets/{name}/delta-{old}-{new}.jsonl.gz"


def stored_name(path: str, sha256: str) -> str:
    """The file a target path is stored as under `targets/` (consistent snapshots: its hash as a prefix)."""
    directory, _, base = path.rpartition("/")
    return f"{directory}/{sha256}.{base}" if directory else f"{sha256}.{base}"


def url_full_path(version: int) -> str:
    """Target path of the URL list's full snapshot at `version`."""
    return f"urls/v{version}.jsonl.gz"


def url_plain_path(version: int, suffix: str) -> str:
    """Target path of the URL list's plain `suffix` list (sha256, txt) at `version`."""
    return f"urls/v{version}.{suffix}.gz"


def url_delta_path(old: int, new: int) -> str:
    """Target path of the URL list's delta from version `old` to `new`."""
    return f"urls/delta-{old}-{new}.jsonl.gz"
