"""URL list entries from URLs by kind (urllist/entries.py): the expression each kind lists, the warnings about
entries that can never match beyond themselves, and the refusals."""

from __future__ import annotations

import pytest

from hashwarden.errors import UrlListError
from hashwarden.urllist.entries import derive_entry
from hashwarden.urls import expressions, canonicalize


@pytest.mark.parametrize(("url", "kind", "expression"), [
    ("HTTP://Example.ORG/%2561.jpg", "image", "example.org/a.jpg"),
    ("http://example.org/a/b.html?x=1#frag", "page", "example.org/a/b.html?x=1"),
    ("http://example.org/gallery/", "path", "example.org/gallery/"),
    ("http://example.org/gallery/index.html?p=2", "path", "example.org/gallery/"),
    ("https://www.example.org:8443/anything", "domain", "www.example.org/"),
    ("http://3279880203/x.jpg", "image", "195.127.0.11/x.jpg"),
])
def test_each_kind_lists_the_expression_a_lookup_generates(url: str, kind: str, expression: str) -> None:
    derived = derive_entry(url, kind)
    assert derived.entry.expression == expression and derived.entry.kind == kind
    # what the entry blocks: the URL itself always generates the entry's expression among its own
    assert expression in expressions(canonicalize(url))


def test_warnings_name_what_can_never_match_beyond_itself() -> None:
    assert derive_entry("http://example.org/", "domain").warnings == []
    assert any("path and query are ignored" in w for w in derive_entry("http://example.org/x", "domain").warnings)
    deep = derive_entry("http://example.org/a/b/c/d/", "path")
    assert any("deeper than 3 directories" in w for w in deep.warnings)
    assert not derive_entry("http://example.org/a/b/c/", "path").warnings
    many = derive_entry("http://a.b.c.d.example.org/", "domain")
    assert any("more than 5 labels" in w for w in many.warnings)
    assert not derive_entry("http://b.c.d.example.org/", "domain").warnings
    # and the warnings are true: a subdomain of a 6-label host does not generate its expression
    assert "a.b.c.d.example.org/" not in expressions(canonicalize("http://x.a.b.c.d.example.org/"))
    assert "example.org/a/b/c/d/" not in expressions(canonicalize("http://example.org/a/b/c/d/e.jpg"))


@pytest.mark.parametrize(("url", "kind", "reason"), [
    ("http://co.uk/", "domain", "co.uk is a public suffix"),
    ("http://github.io/x/", "path", "github.io is a public suffix"),
    ("http://com/", "domain", "com is a public suffix"),
    ("javascript:alert(1)", "page", "not a URL the list can hold"),
    ("data:text/html,hi", "page", "not a URL the list can hold"),
    ("http://example.org/", "host", "unknown kind 'host'"),
])
def test_refusals_name_the_url_and_the_reason(url: str, kind: str, reason: str) -> None:
    with pytest.raises(UrlListError, match=reason):
        derive_entry(url, kind)
    assert derive_entry("http://co.uk/page.html", "page").entry.expression == "co.uk/page.html"  # a page is fine


def test_evidence_and_appeal_are_checked() -> None:
    entry = derive_entry("http://example.org/a.jpg", "image", evidence_sha256="AB" * 32, appeal="open").entry
    assert entry.evidence_sha256 == "ab" * 32 and entry.appeal == "open"
    with pytest.raises(UrlListError, match="evidence must be a SHA-256"):
        derive_entry("http://example.org/a.jpg", "image", evidence_sha256="abc")
    with pytest.raises(UrlListError, match="unknown appeal state"):
        derive_entry("http://example.org/a.jpg", "image", appeal="maybe")
