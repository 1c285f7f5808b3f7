"""Grading votes checked before they are stored: what a vote may say, and which media it names (issue 18).

A vote is one reviewer's judgement of one media item, recorded as data (hashwarden never shows the item: it is
viewed in the examiner's own approved viewer). Its category is valid only under its scheme, as the category profile
(`formats/categories.json`) lists it: `uk-sentencing` A/B/C, `vics-us` 0-5; an open scheme (`vics-uk`) takes any
code. The attributes come from fixed vocabularies, "unknown" when the reviewer cannot tell (consensus counts an
unknown as no opinion: grading/consensus.py). A refused vote names its field (`GradingError.field`), and a batch
with one refused vote stores none.

The media is named by its hashes; how votes naming different hashes of one media are tied together is the store's
rule (store/votes.py: the key comes from earlier votes sharing a hash, else the strongest hash given).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import ijson

from hashwarden import config
from hashwarden.errors import FormatError, GradingError, InvalidSignal
from hashwarden.formats.categories import Profile, load_profile
from hashwarden.signals import MD5, PDQ, SHA1, SHA256
from hashwarden.store.schema import MAX_ACTOR
from hashwarden.store.votes import Vote, record_votes

__all__ = ["AGE_BANDS", "CAPTURE_DEVICES", "SEXES", "YES_NO", "cast_votes", "check_hashes", "check_vote",
           "default_reviewer", "given_hashes", "hash_kind", "hashes_of_case_item"]

AGE_BANDS = ("0-2", "3-6", "7-10", "11-13", "14-15", "16-17", "18-20", "adult", "unknown")
SEXES = ("female", "male", "both", "unknown")
YES_NO = ("yes", "no", "unknown")
CAPTURE_DEVICES = ("webcam", "phone", "camera", "unknown")
# Each attribute of a vote and the values it may take.
VOCABULARIES = {"age_band": AGE_BANDS, "sex": SEXES, "self_generated": YES_NO, "capture_device": CAPTURE_DEVICES,
                "redistributed": YES_NO}
MAX_NOTE = 4096  # characters: a note is a reviewer's remark, not a document
_SIGNALS = {"md5": MD5, "sha1": SHA1, "sha256": SHA256, "pdq": PDQ}
_KIND_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}


def default_reviewer() -> str:
    """Who votes when no reviewer is named: the configured examiner ($HASHWARDEN_EXAMINER, --examiner), else the
    OS user."""
    name = config.examiner()
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def hash_kind(value: str) -> str:
    """The kind of a hash given without one, by its length: 32 hex md5, 40 sha1, 64 sha256 (a PDQ hash is also 64
    hex characters: it must be given as one, `--pdq`).

    Raises:
        GradingError: not 32, 40 or 64 hex characters.
    """
    kind = _KIND_BY_LENGTH.get(len(value.strip()))
    if kind is None:
        raise GradingError(f"a hash of {len(value.strip())} characters is not md5 (32), sha1 (40) or sha256 (64): "
                           f"{value!r}", field="hash")
    return kind


def given_hashes(hash_value: str | None, **named: str | None) -> dict[str, str]:
    """The hashes a command was given: `named` (md5=, sha1=, sha256=, pdq=; None left out) and a positional
    `hash_value`, its kind told by its length (`hash_kind`). Not yet checked (`check_hashes`).

    Raises:
        GradingError: the positional hash and an option name two values of one kind.
    """
    hashes = {name: value for name, value in named.items() if value is not None}
    if hash_value is not None:
        kind = hash_kind(hash_value)
        if kind in hashes and hashes[kind].strip().lower() != hash_value.strip().lower():
            raise GradingError(f"HASH and --{kind} name two different {kind} values", field=kind)
        hashes[kind] = hash_value
    return hashes


def check_hashes(given: dict[str, str | None], naming: str = "a vote") -> dict[str, str]:
    """The hashes (md5, sha1, sha256, pdq) naming a media item, checked and as lowercase hex; None values left out.

    Raises:
        GradingError: none given, or one malformed (its kind named).
    """
    hashes = {}
    for name, signal in _SIGNALS.items():
        value = given.get(name)
        if value is not None:
            try:
                hashes[name] = signal.validate(value)
            except InvalidSignal as exc:
                raise GradingError(str(exc), field=name) from None
    if not hashes:
        raise GradingError(f"{naming} names its media by at least one hash (md5, sha1, sha256 or pdq)",
                           field="hash")
    return hashes


def check_vote(given: Vote, profile: Profile | None = None) -> Vote:
    """`given` with its hashes as lowercase hex, if every field is one a vote may hold.

    Raises:
        GradingError: the first field at fault, named: no hash or a malformed one, an unknown scheme, a category the
            scheme does not list, an attribute outside its vocabulary, no reviewer, a name or note too long.
    """
    profile = profile or load_profile()
    hashes = check_hashes({name: getattr(given, name) for name in _SIGNALS})
    try:
        scheme = profile.scheme(given.scheme)
    except FormatError:
        raise GradingError(f"unknown category scheme {given.scheme!r} (known: {', '.join(sorted(profile.schemes))})",
                           field="scheme") from None
    category = given.category.strip()
    if not category or len(category) > 32 or not scheme.knows(category):
        listed = ", ".join(scheme.labels) or "none listed"
        raise GradingError(f"{given.category!r} is not a category of scheme {scheme.name} ({listed})",
                           field="category")
    for name, allowed in VOCABULARIES.items():
        if getattr(given, name) not in allowed:
            raise GradingError(f"{getattr(given, name)!r} is not one of {', '.join(allowed)}", field=name)
    for name in ("reviewer", "agency"):
        if len(getattr(given, name)) > MAX_ACTOR:
            raise GradingError(f"longer than {MAX_ACTOR} characters", field=name)
    if not given.reviewer.strip():
        raise GradingError("a vote names its reviewer", field="reviewer")
    if given.note is not None and len(given.note) > MAX_NOTE:
        raise GradingError(f"longer than {MAX_NOTE} characters", field="note")
    return replace(given, category=category, **hashes)


def cast_votes(conn, votes: Iterable[Vote], profile: Profile | None = None) -> list[Vote]:  # noqa: ANN001
    """Check every vote, then record them all in the caller's transaction (audited), each superseding its
    reviewer's current vote on the same media; return them as stored. A vote may name media that no set or case
    holds. Call it first in a transaction (store/votes.py `record_votes`).

    Raises:
        GradingError: a vote refused (its field named); nothing is stored.
    """
    checked = [check_vote(given, profile) for given in votes]
    return record_votes(conn, checked)


def hashes_of_case_item(case_dir: Path, item_path: str) -> dict[str, str]:
    """The hashes (md5, sha1, sha256, pdq) a scan's report.json gives the item at `item_path`, read streamed.

    Raises:
        GradingError: no report.json in `case_dir`, or no item at that path (field `item`).
        FormatError: report.json is not valid JSON.
    """
    report = Path(case_dir) / "report.json"
    try:
        with open(report, "rb") as fp:
            for item in ijson.items(fp, "items.item", use_float=True):
                if isinstance(item, dict) and item.get("path") == item_path:
                    return {name: item[name] for name in _SIGNALS if isinstance(item.get(name), str)}
    except FileNotFoundError:
        raise GradingError(f"no report.json in {case_dir}: not a scan's case directory", field="case") from None
    except ijson.JSONError as exc:
        raise FormatError(f"not valid JSON: {exc}", str(report)) from exc
    raise GradingError(f"{report} has no item with path {item_path!r}", field="item")
