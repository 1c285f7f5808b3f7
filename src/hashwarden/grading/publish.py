"""Grades published as an alert set: the media whose grade under a scheme has the state asked for, each an entry
with its category, the consensus state as a tag and the rule and votes as provenance (issue 18).

A publication is the set's next version (`hash_set.version` "1", "2", ...) and one recorded change of it
(store/revision.py: an `import_run` of format "grading" and its audit row): entries of media newly graded are
added, those whose grade changed (category, state, votes) replaced, those no longer published (now disputed, or
below the state asked for) removed. A publication that would change nothing adds no version and writes nothing.
Entries carry the series and victim flags their media's links give (store/series.py); a link made later is
resolved when the entry is matched or exported, so it needs no new version. Only a set grading made (source
"grading") is published into: an imported list is its source's, and mixing graded
entries into it would blur where each came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashwarden.errors import FormatError, GradingError, StoreError
from hashwarden.formats.categories import Profile, load_profile
from hashwarden.grading.consensus import CONFIRMED, INDICATIVE, RULE, ConsensusRule, Grade, grades
from hashwarden.store.hashsets import create_set, get_set
from hashwarden.store.records import EntryRecord
from hashwarden.store.series import LinkIndex
from hashwarden.store.revision import follow

__all__ = ["SOURCE", "STATUSES", "Publication", "publish"]

SOURCE = "grading"
# --status: the least state published; disputed grades never are.
STATUSES = {CONFIRMED: (CONFIRMED,), INDICATIVE: (CONFIRMED, INDICATIVE)}


@dataclass(frozen=True)
class Publication:
    """What a publication did: the set's version after it, entries added and removed, entries it holds."""

    set: str
    version: str | None
    added: int
    removed: int
    entries: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def publish(conn, set_name: str, scheme: str, status: str = CONFIRMED, rule: ConsensusRule = RULE,  # noqa: ANN001
            profile: Profile | None = None) -> Publication:
    """Publish the grades under `scheme` whose state is `status` or better into the alert set `set_name` (made
    when missing), in the caller's transaction.

    Raises:
        GradingError: unknown scheme or status, or the set is not one grading made or has another scheme.
    """
    profile = profile or load_profile()
    try:
        profile.scheme(scheme)
    except FormatError:
        raise GradingError(f"unknown category scheme {scheme!r}", field="scheme") from None
    if status not in STATUSES:
        raise GradingError(f"{status!r} is not one of {', '.join(STATUSES)}", field="status")
    links = LinkIndex.load(conn)
    wanted = {_key(g): _record(g, rule, links) for g in grades(conn, rule) if g.scheme == scheme and g.state in
              STATUSES[status]}
    try:
        target = get_set(conn, set_name)
    except StoreError:
        if not wanted:
            return Publication(set_name, None, 0, 0, 0)
        target = create_set(conn, set_name, "alert", source=SOURCE, category_scheme=scheme,
                            description=f"grades under {scheme} by consensus rule {rule.id}")
    if target.source != SOURCE or target.kind != "alert" or target.category_scheme != scheme:
        raise GradingError(f"set {set_name!r} ({target.kind}, source {target.source}, scheme "
                           f"{target.category_scheme}) is not an alert set graded under {scheme}: publish into a "
                           "new set", field="set")
    revised = follow(conn, target, wanted, fmt="grading", file=f"votes ({rule.id})",
                     details={"scheme": scheme, "status": status, "rule": rule.id})
    return Publication(set_name, revised.version, revised.added, revised.removed, revised.entries)


def _key(graded: Grade) -> tuple[str | None, ...]:
    return tuple(graded.hashes.get(name) for name in ("md5", "sha1", "sha256", "pdq"))


def _record(graded: Grade, rule: ConsensusRule, links: LinkIndex) -> EntryRecord:
    votes = ",".join(str(v.id) for v in graded.votes)
    series, identified = links.resolve({name: bytes.fromhex(value) for name, value in graded.hashes.items()},
                                       None, None)
    return EntryRecord(**graded.hashes, category=graded.category.value, tags=[f"consensus:{graded.state}"],
                       series=series, victim_identified=identified,
                       provenance=f"grading {rule.id} {graded.state}: {graded.media} votes {votes}")
