"""Self-reports reviewed: an analyst's confirmation is a grading vote, and confirmed reports are published as their
own alert set (issue 20).

A young person's report (web/selfhash/, `POST /v1/self-reports`) is a claim: someone might report an unrelated
picture, by mistake or to have it blocked. So nothing reaches subscribers until an analyst has looked at the
material the hashes point to (in their own approved viewer: hashwarden never holds it) and confirmed it with a
vote, which is an ordinary grading vote (grading/votes.py: the category under a scheme, the attributes; `source`
"self-report") and so also counts toward the media's grade. The vote names the media by md5 and sha256 only: PDQ
hashes of different files can be equal, and a vote's hashes must name one media.

Confirmed reports are published into the alert set `SELF_REPORT_SET` (source "self-report", made when missing),
each an entry with the file's md5, sha256 and PDQ (or a video's vPDQ frames), the confirming vote's category, the tag
`self-report` and a provenance naming the report and the vote (never the reporter's reference code, which is the
reporter's alone). Each review makes the set follow (store/revision.py `follow`): a new version when it changed,
nothing written when not. A report rejected after its confirmation leaves the set at its next version.
`hashwarden publish --set self-reports` then ships it to subscribers like any set.
"""

from __future__ import annotations

from dataclasses import dataclass

from hashwarden.config import DEFAULT_GRADING_SCHEME, SELF_REPORT_SET
from hashwarden.errors import GradingError, StoreError
from hashwarden.formats.categories import Profile
from hashwarden.grading.votes import YES_NO, cast_votes
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store.hashsets import create_set, get_set
from hashwarden.store.records import EntryRecord, HashSet, Vote
from hashwarden.store.revision import Revised, follow
from hashwarden.store.self_reports import (CONFIRMED, REJECTED, SelfReport, confirmed_reports, get_report,
                                           lock_reports, review_report)

__all__ = ["AGE_BANDS", "BEING_SHARED", "SOURCE", "Review", "confirm", "publish_self_reports", "reject"]

SOURCE = "self-report"  # the set's source and the confirmation votes' source
# The reporter's own age band at the time, as the page offers it (a young person's words, not a reviewer's bands).
AGE_BANDS = ("under-13", "13-15", "16-17", "18-or-over", "not-said")
BEING_SHARED = YES_NO  # "is it being shared?": yes, no, unknown (don't know / not said)


@dataclass(frozen=True)
class Review:
    """A review done: the report as it now stands, the confirmation vote (None for a rejection), and what the
    self-report set became."""

    report: SelfReport
    vote: Vote | None
    set: str
    revised: Revised


def confirm(conn, reference: str, *, reviewer: str, agency: str, category: str,  # noqa: ANN001
            scheme: str = DEFAULT_GRADING_SCHEME, attributes: dict[str, str] | None = None, note: str | None = None,
            set_name: str = SELF_REPORT_SET, profile: Profile | None = None) -> Review:
    """Confirm the report `reference` by the reviewer's vote (`category` under `scheme`, `attributes` of the vote:
    age_band, sex, self_generated, capture_device, redistributed), audited, and publish the set, all in the caller's
    transaction (which must not have read anything yet: the reviews' lock is taken first).

    Raises:
        StoreError: no report has that reference.
        GradingError: the vote is refused (its field named), or the set is not the self-report set of `scheme`.
    """
    lock_reports(conn)
    report = get_report(conn, reference)
    given = Vote(scheme=scheme, category=category, reviewer=reviewer, agency=agency, md5=report.md5,
                 sha256=report.sha256, source=SOURCE, note=note, **(attributes or {}))
    vote, = cast_votes(conn, [given], profile)
    report = review_report(conn, report, CONFIRMED, reviewer, vote.id, note)
    return Review(report, vote, set_name, publish_self_reports(conn, set_name, scheme))


def reject(conn, reference: str, *, reviewer: str, note: str | None = None,  # noqa: ANN001
           set_name: str = SELF_REPORT_SET) -> Review:
    """Reject the report `reference` (not what it claims, or not material the lists are for), audited; a report
    confirmed before leaves the set.

    Raises:
        StoreError: no report has that reference.
    """
    lock_reports(conn)
    report = review_report(conn, get_report(conn, reference), REJECTED, reviewer, None, note)
    try:
        scheme = get_set(conn, set_name).category_scheme or DEFAULT_GRADING_SCHEME
    except StoreError:
        return Review(report, None, set_name, Revised(None, 0, 0, 0))
    return Review(report, None, set_name, publish_self_reports(conn, set_name, scheme))


def publish_self_reports(conn, set_name: str = SELF_REPORT_SET, scheme: str = DEFAULT_GRADING_SCHEME  # noqa: ANN001
                         ) -> Revised:
    """Make the alert set `set_name` (source "self-report", category scheme `scheme`; made when missing) hold
    exactly the confirmed reports, in the caller's transaction.

    Raises:
        GradingError: a set of that name exists but is not a self-report set of `scheme`, or a confirmation vote
            was cast under another scheme.
    """
    wanted = {}
    for report, vote in confirmed_reports(conn):
        if vote.scheme != scheme:
            raise GradingError(f"self-report {report.reference} was confirmed under {vote.scheme}, the set "
                               f"{set_name!r} grades under {scheme}: confirm it again under {scheme}", field="scheme")
        record = _record(report, vote)
        wanted[(record.md5, None, record.sha256, record.pdq)] = record
    target = _target(conn, set_name, scheme, bool(wanted))
    if target is None:
        return Revised(None, 0, 0, 0)
    return follow(conn, target, wanted, fmt=SOURCE, file="confirmed self-reports", details={"scheme": scheme})


def _target(conn, set_name: str, scheme: str, needed: bool) -> HashSet | None:  # noqa: ANN001
    try:
        target = get_set(conn, set_name)
    except StoreError:
        if not needed:
            return None
        return create_set(conn, set_name, "alert", source=SOURCE, category_scheme=scheme,
                          description="hashes young people reported of pictures of themselves, each confirmed by "
                                      "an analyst's vote")
    if (target.kind, target.source, target.category_scheme) != ("alert", SOURCE, scheme):
        raise GradingError(f"set {set_name!r} ({target.kind}, source {target.source}, scheme "
                           f"{target.category_scheme}) is not the self-report set graded under {scheme}", field="set")
    return target


def _record(report: SelfReport, vote: Vote) -> EntryRecord:
    frames = [VpdqFrame(int(f["frame"]), int(f["quality"]), f["pdq"], float(f["timestamp"]))
              for f in report.vpdq or []]
    media = report.media_type.split("/")[0]
    return EntryRecord(md5=report.md5, sha256=report.sha256, pdq=report.pdq, pdq_quality=report.pdq_quality,
                       media=media if media in ("image", "video") else None, category=vote.category,
                       tags=[SOURCE], vpdq=frames or None, line=report.id,
                       provenance=f"self-report {report.id} confirmed by vote {vote.id}")
