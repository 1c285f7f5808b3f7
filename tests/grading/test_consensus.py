"""The consensus rule on tables of cases: confirmed, disputed, indicative; ties, unknowns, distinct reviewers,
schemes apart, superseded votes left out."""

from __future__ import annotations

import pytest

from hashwarden.grading.consensus import (CONFIRMED, DISPUTED, INDICATIVE, RULE, ConsensusRule, grade, grades,
                                          grades_of, reconcile)
from hashwarden.grading.votes import cast_votes
from hashwarden.store.votes import Vote

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def votes(*spec: str, field: str = "category") -> list[Vote]:
    """'reviewer=value' (or 'agency/reviewer=value') per vote."""
    made = []
    for number, item in enumerate(spec):
        who, value = item.split("=")
        agency, _, reviewer = who.rpartition("/")
        made.append(Vote(scheme="uk-sentencing", category=value if field == "category" else "A", reviewer=reviewer,
                         agency=agency, md5=MD5, id=number + 1, **({} if field == "category" else {field: value})))
    return made


@pytest.mark.parametrize(("spec", "state", "value"), [
    ((), INDICATIVE, None),  # no votes at all: nothing to agree on
    (("a=A",), INDICATIVE, "A"),
    (("a=A", "b=A"), INDICATIVE, "A"),
    (("a=A", "b=A", "c=A"), CONFIRMED, "A"),
    (("a=B", "b=B", "c=B", "d=B"), CONFIRMED, "B"),
    (("a=A", "b=B"), DISPUTED, None),  # a tie
    (("a=A", "b=A", "c=A", "d=B"), DISPUTED, None),  # one dissent blocks confirmation
    (("a=A", "b=B", "c=C"), DISPUTED, None),
    (("x/a=A", "y/a=A", "z/a=A"), CONFIRMED, "A"),  # same name in three agencies: three reviewers
    (("x/a=A", "x/b=A"), INDICATIVE, "A"),
])
def test_category(spec: tuple[str, ...], state: str, value: str | None) -> None:
    found = reconcile(votes(*spec), "category", abstain=None)
    assert (found.state, found.value) == (state, value if spec else None)


def test_the_same_reviewer_counted_once() -> None:
    """Current votes are one per reviewer by construction; the rule still counts reviewers, not votes."""
    same = votes("a=A", "a=A", "a=A")
    assert reconcile(same, "category", abstain=None).state == INDICATIVE
    assert reconcile(same, "category", ConsensusRule(min_reviewers=1), abstain=None).state == CONFIRMED


@pytest.mark.parametrize(("spec", "state", "value"), [
    (("a=unknown", "b=unknown", "c=unknown"), INDICATIVE, "unknown"),  # nobody knows
    (("a=14-15", "b=unknown", "c=unknown"), INDICATIVE, "14-15"),  # unknown abstains: no dispute ...
    (("a=14-15", "b=14-15", "c=unknown"), INDICATIVE, "14-15"),  # ... and no agreement either
    (("a=14-15", "b=14-15", "c=14-15", "d=unknown"), CONFIRMED, "14-15"),
    (("a=14-15", "b=16-17", "c=unknown"), DISPUTED, None),  # neighbouring bands are a dispute
])
def test_attributes_with_unknown_abstaining(spec: tuple[str, ...], state: str, value: str | None) -> None:
    found = reconcile(votes(*spec, field="age_band"), "age_band")
    assert (found.state, found.value) == (state, value)


def test_each_attribute_reconciles_on_its_own() -> None:
    given = [Vote(scheme="uk-sentencing", category="A", reviewer=r, md5=MD5, sex="female", age_band=band,
                  self_generated=selfie) for r, band, selfie in
             (("a", "11-13", "yes"), ("b", "14-15", "yes"), ("c", "11-13", "unknown"))]
    graded = grade("md5:" + MD5, {"md5": MD5}, "uk-sentencing", given)
    assert graded.state == CONFIRMED and graded.category.value == "A"
    assert graded.attributes["sex"].state == CONFIRMED
    assert graded.attributes["age_band"].state == DISPUTED
    assert graded.attributes["self_generated"].state == INDICATIVE
    assert graded.attributes["self_generated"].value == "yes"
    assert graded.as_json()["attributes"]["age_band"]["sides"]["11-13"][0]["reviewer"] == "a"


def test_disputed_lists_each_sides_votes() -> None:
    graded = grade("md5:" + MD5, {"md5": MD5}, "uk-sentencing", votes("a=A", "b=A", "c=B"))
    document = graded.as_json()
    assert document["state"] == DISPUTED and document["category"] is None
    assert {value: [v["reviewer"] for v in side] for value, side in document["sides"].items()} == \
        {"A": ["a", "b"], "B": ["c"]}
    assert document["rule"] == RULE.id == "three-undisputed/1"


def test_grades_from_the_store_use_current_votes_per_scheme(store_engine) -> None:
    base = Vote(scheme="uk-sentencing", category="A", reviewer="a", md5=MD5)
    with store_engine.begin() as conn:
        cast_votes(conn, [base, Vote(scheme="uk-sentencing", category="A", reviewer="b", md5=MD5),
                          Vote(scheme="uk-sentencing", category="B", reviewer="c", md5=MD5),
                          Vote(scheme="vics-us", category="1", reviewer="d", md5=MD5, age_band="7-10")])
    with store_engine.connect() as conn:
        assert [(g.scheme, g.state) for g in grades(conn)] == [("uk-sentencing", DISPUTED), ("vics-us", INDICATIVE)]
    with store_engine.begin() as conn:  # c changes their mind: the superseded B no longer counts
        cast_votes(conn, [Vote(scheme="uk-sentencing", category="A", reviewer="c", md5=MD5)])
    with store_engine.connect() as conn:
        found = list(grades(conn))
    assert [(g.scheme, g.state, g.category.value, len(g.votes)) for g in found] == [
        ("uk-sentencing", CONFIRMED, "A", 3), ("vics-us", INDICATIVE, "1", 1)]
    assert grades_of(found[0].media, []) == []
    # attributes are the media's, whatever the scheme: d's age band stands in both grades
    assert found[0].attributes["age_band"].value == found[1].attributes["age_band"].value == "7-10"


def test_a_reviewers_vote_under_another_scheme_replaces_their_last(store_engine) -> None:
    """One current vote per reviewer per media: a reviewer who now grades under vics-us no longer counts under
    uk-sentencing."""
    with store_engine.begin() as conn:
        cast_votes(conn, [Vote(scheme="uk-sentencing", category="A", reviewer=r, md5=MD5) for r in "abc"])
        cast_votes(conn, [Vote(scheme="vics-us", category="1", reviewer="a", md5=MD5)])
    with store_engine.connect() as conn:
        found = [(g.scheme, g.state, len(g.votes)) for g in grades(conn)]
    assert found == [("uk-sentencing", INDICATIVE, 2), ("vics-us", INDICATIVE, 1)]
