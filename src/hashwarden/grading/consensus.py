"""The consensus rule: the current votes on a media item reconciled into a grade that published output can cite.

The rule (`RULE`, "three-undisputed" version 1), modelled on the UK database's, which counts an image as graded when
three independent votes agree and none disputes them:

- **confirmed**: at least 3 current votes from at least 3 distinct reviewers (a reviewer is agency and name) agree
  on the category, and no current vote disagrees;
- **disputed**: the current votes do not all agree; each side's votes are listed for review (`Reconciled.sides`);
- **indicative**: otherwise, i.e. the votes agree but are too few (the agreed category is given).

Only current votes count: a reviewer's newer vote replaces their older one (store/votes.py), also one under another
scheme. Categories are reconciled per scheme: codes of two schemes cannot be compared, so a media graded under
`uk-sentencing` by some reviewers and `vics-us` by others has a grade in each. Age band, sex, self-generated,
capture device and redistributed describe the media whatever the scheme: each is reconciled the same way, on its
own, over all the media's current votes; for them "unknown" abstains: it neither agrees nor disagrees, and a value
nobody knows is "unknown", indicative. A category code is always an opinion (vics-us `0`, "Uncategorized",
included). Age bands are compared as they are: "14-15" against "16-17" is a dispute, not a near agreement.

A changed rule is a new `ConsensusRule` (a new name or version), so a published grade always says which rule made it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from hashwarden.store.votes import ATTRIBUTES, Vote, iter_votes

__all__ = ["CONFIRMED", "DISPUTED", "INDICATIVE", "RULE", "ConsensusRule", "Grade", "Reconciled", "grades",
           "grades_of", "reconcile"]

CONFIRMED, DISPUTED, INDICATIVE = "confirmed", "disputed", "indicative"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConsensusRule:
    """A versioned consensus rule; `id` is what published output cites."""

    name: str = "three-undisputed"
    version: int = 1
    min_votes: int = 3
    min_reviewers: int = 3

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}"


RULE = ConsensusRule()


@dataclass(frozen=True)
class Reconciled:
    """One field reconciled: its state, the agreed value (None when disputed; "unknown" when nobody knows an
    attribute) and the votes behind each value given (abstentions left out)."""

    state: str
    value: str | None
    sides: dict[str, list[Vote]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "value": self.value}
        if self.state == DISPUTED:
            out["sides"] = _sides_json(self.sides)
        return out


@dataclass(frozen=True)
class Grade:
    """A media item's grade under one scheme: the category and each attribute reconciled from its current votes."""

    media: str
    hashes: dict[str, str]
    scheme: str
    category: Reconciled
    attributes: dict[str, Reconciled]
    votes: list[Vote]
    rule: ConsensusRule

    @property
    def state(self) -> str:
        return self.category.state

    def as_json(self) -> dict[str, Any]:
        """`grading status --json`'s object: the media's hashes, then state, category, scheme, the number of
        current votes, the rule; a disputed category's sides; each attribute's value and state."""
        out: dict[str, Any] = dict(self.hashes)
        out.update({"media": self.media, "state": self.state, "category": self.category.value,
                    "scheme": self.scheme, "votes": len(self.votes), "reviewers": _reviewers(self.votes),
                    "rule": self.rule.id})
        if self.category.state == DISPUTED:
            out["sides"] = _sides_json(self.category.sides)
        out["attributes"] = {name: value.as_json() for name, value in self.attributes.items()}
        return out


def reconcile(votes: list[Vote], name: str, rule: ConsensusRule = RULE, abstain: str | None = UNKNOWN) -> Reconciled:
    """The field `name` of `votes` (current votes on one media, one scheme) reconciled by `rule`; votes whose value
    is `abstain` are left out."""
    sides: dict[str, list[Vote]] = {}
    for given in votes:
        value = getattr(given, name)
        if value != abstain:
            sides.setdefault(value, []).append(given)
    if len(sides) > 1:
        return Reconciled(DISPUTED, None, sides)
    if not sides:
        return Reconciled(INDICATIVE, abstain, sides)
    (value, agreeing), = sides.items()
    if len(agreeing) >= rule.min_votes and _reviewers(agreeing) >= rule.min_reviewers:
        return Reconciled(CONFIRMED, value, sides)
    return Reconciled(INDICATIVE, value, sides)


def grade(media: str, hashes: dict[str, str], scheme: str, votes: list[Vote], rule: ConsensusRule = RULE,
          attributes: dict[str, Reconciled] | None = None) -> Grade:
    """The grade of one media under one scheme from its current votes in that scheme; `attributes` reconciled
    from all its current votes (any scheme), else from `votes`."""
    if attributes is None:
        attributes = {name: reconcile(votes, name, rule) for name in ATTRIBUTES}
    return Grade(media, hashes, scheme, reconcile(votes, "category", rule, abstain=None), attributes, votes, rule)


def grades(conn, rule: ConsensusRule = RULE) -> Iterator[Grade]:  # noqa: ANN001 - a store connection
    """Every graded media's grade per scheme, in media key order: its hashes are all those any of its votes named
    (superseded votes too), its grade from its current votes."""
    for media, votes in groupby(iter_votes(conn), key=lambda v: v.media):
        yield from grades_of(media, list(votes), rule)


def grades_of(media: str, history: list[Vote], rule: ConsensusRule = RULE) -> list[Grade]:
    """The grades of one media, one per scheme, from all its votes (`store.votes.media_votes`)."""
    hashes = _hashes(history)
    current = [v for v in history if v.superseded_at is None]
    attributes = {name: reconcile(current, name, rule) for name in ATTRIBUTES}
    return [grade(media, hashes, scheme, [v for v in current if v.scheme == scheme], rule, attributes)
            for scheme in sorted({v.scheme for v in current})]


def _hashes(votes: Iterable[Vote]) -> dict[str, str]:
    found: dict[str, str] = {}
    for given in votes:
        for name, value in given.hashes().items():
            found.setdefault(name, value)
    return {name: found[name] for name in ("md5", "sha1", "sha256", "pdq") if name in found}


def _reviewers(votes: Iterable[Vote]) -> int:
    return len({(v.agency, v.reviewer) for v in votes})


def _sides_json(sides: dict[str, list[Vote]]) -> dict[str, list[dict[str, Any]]]:
    return {value: [{"vote": v.id, "reviewer": v.reviewer, "agency": v.agency, "voted_at": v.voted_at}
                    for v in votes] for value, votes in sorted(sides.items())}
