"""Category schemes: which codes a scheme has and what they are called, read from the versioned `categories.json`.

A category code is only meaningful with its scheme (VICS region US `1` is not UK `1`, and no public source maps the
UK codes), so the store keeps code and scheme side by side and labels come from this data file, never from code.
The file also says which scheme each VICS data-model version and region uses. Its `version` is recorded with every
import, so an analyst can tell which labels were in force.

A custom profile (for instance one that adds the UK codes obtained under a Project VIC/CAID agreement) is loaded
with `load_profile(path)` and passed to the readers and writers that take a `profile`.

A scheme may also order its codes by seriousness (`severity`, most serious first). The report needs it: a known
item can match several sets, and it is counted once per scheme under its most serious category, so that a match
in an uncategorised set, or a less serious one, never hides a Category A match (`severity_key`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from hashwarden.errors import FormatError

__all__ = ["PROFILE_FILE", "Profile", "Scheme", "label", "load_profile", "parse_profile", "severity_key"]

PROFILE_FILE = "categories.json"


@dataclass(frozen=True)
class Scheme:
    """One category scheme: its codes with their labels. `closed`: a code not listed is an error, not a warning."""

    name: str
    title: str
    closed: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    severity: tuple[str, ...] = ()
    """Codes, most serious first (may be empty: the scheme has no order)."""

    def knows(self, code: str) -> bool:
        """Whether `code` may be stored under this scheme (any code, if the scheme is open)."""
        return code in self.labels or not self.closed

    def label(self, code: str | None) -> str | None:
        """The display label of `code`, or None (uncategorised, or a code the profile has no label for)."""
        return None if code is None else self.labels.get(code)

    def severity_key(self, code: str) -> tuple[int, int, str]:
        """Sort key of `code`, most serious first: codes in `severity` by their place, then the others."""
        try:
            return 0, self.severity.index(code), ""
        except ValueError:
            return _natural_key(code)


@dataclass(frozen=True)
class Profile:
    """The schemes of one `categories.json` and the VICS version/region table that points at them."""

    version: int
    schemes: Mapping[str, Scheme]
    vics: Mapping[str, Mapping[str, str | None]]
    source: str = PROFILE_FILE

    def scheme(self, name: str) -> Scheme:
        """The scheme called `name`.

        Raises:
            FormatError: the profile has no such scheme.
        """
        try:
            return self.schemes[name]
        except KeyError:
            known = ", ".join(sorted(self.schemes))
            raise FormatError(
                f"unknown category scheme {name!r} (profile version {self.version} knows {known})", self.source
            ) from None

    def vics_versions(self) -> list[str]:
        """The VICS data-model versions the profile has a table for, oldest first."""
        return sorted(self.vics, key=_version_key)

    def vics_scheme(self, version: str | None, region: str | None) -> tuple[str | None, bool]:
        """The scheme a VICS file of `version` and `region` uses, and whether that version is a known one.

        An unknown version borrows the table of the newest known version with the same major number (or the newest
        overall): `2.1/US` is read as `2.0/US`, with the caller warning. Region names match case-insensitively;
        1.x tables have only the region "" and ignore the region. None: no scheme can be inferred (`CUSTOM`, a region
        the table lacks, or no version at all).
        """
        if version is None:
            return None, False
        table = self.vics.get(version)
        exact = table is not None
        if table is None:
            major = version.split(".")[0]
            same_major = [v for v in self.vics_versions() if v.split(".")[0] == major]
            candidates = same_major or self.vics_versions()
            if not candidates:
                return None, False
            table = self.vics[candidates[-1]]
        if "" in table:
            return table[""], exact
        wanted = (region or "").lower()
        for name, scheme in table.items():
            if name.lower() == wanted:
                return scheme, exact
        return None, exact

    def vics_region(self, version: str, scheme: str | None) -> str | None:
        """The region of a VICS `version` whose categories are `scheme` (`vics-uk` -> "UK"; "" for 1.x), or None."""
        table = self.vics.get(version, {})
        return next((region for region, name in table.items() if name == scheme), None)

    def schemes_with(self, code: str) -> list[str]:
        """Names of the schemes that list `code`: the hint in an 'unknown code' error."""
        return sorted(name for name, scheme in self.schemes.items() if code in scheme.labels)


def _natural_key(code: str) -> tuple[int, int, str]:
    """Codes no severity order ranks: after the ranked ones, numbers in numeric order, then text."""
    text = code.strip()
    if text.isdigit() and len(text) < 19:
        return 1, int(text), ""
    return 2, 0, code


def severity_key(scheme: str | None, code: str, profile: Profile | None = None) -> tuple[int, int, str]:
    """Sort key of `code` under `scheme`, most serious first, by the scheme's `severity` in the (default) profile.

    A scheme the profile does not know (a store may hold any scheme name) has no order: its codes go numbers first in
    numeric order, then text, which is also where an open scheme's unlisted codes go.
    """
    profile = profile or load_profile()
    found = profile.schemes.get(scheme) if scheme is not None else None
    return found.severity_key(code) if found else _natural_key(code)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


@lru_cache(maxsize=1)
def _default_profile() -> Profile:
    text = resources.files("hashwarden.formats").joinpath(PROFILE_FILE).read_text(encoding="utf-8")
    return parse_profile(json.loads(text), PROFILE_FILE)


def load_profile(path: Path | None = None) -> Profile:
    """The packaged profile (cached), or the one at `path`.

    Raises:
        FormatError: the file is not valid JSON or not a valid profile.
        OSError: `path` cannot be read.
    """
    if path is None:
        return _default_profile()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON: {exc.msg}", str(path), exc.lineno) from exc
    return parse_profile(data, str(path))


def parse_profile(data: Any, source: str) -> Profile:
    """Check and build a Profile from the decoded JSON of a categories file.

    Raises:
        FormatError: a missing or ill-typed member, a `codes_from` or VICS table naming an unknown scheme.
    """
    def fail(message: str, where: str) -> FormatError:
        return FormatError(message, source, field=where)

    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise fail("a profile is an object with an integer 'version'", "version")
    raw_schemes = data.get("schemes")
    if not isinstance(raw_schemes, dict) or not raw_schemes:
        raise fail("'schemes' must be a non-empty object", "schemes")
    schemes: dict[str, Scheme] = {}
    for name, raw in raw_schemes.items():
        if not isinstance(raw, dict):
            raise fail("a scheme is an object", f"schemes.{name}")
        if "codes_from" in raw:
            base = raw_schemes.get(raw["codes_from"])
            if not isinstance(base, dict) or "codes_from" in base:
                raise fail(f"codes_from names no scheme with its own codes: {raw['codes_from']!r}", f"schemes.{name}")
            raw = {**base, **{k: v for k, v in raw.items() if k != "codes_from"}}
        codes = raw.get("codes", {})
        if not isinstance(codes, dict) or not all(isinstance(v, dict) and isinstance(v.get("label"), str)
                                                  for v in codes.values()):
            raise fail("'codes' maps each code to an object with a string 'label'", f"schemes.{name}.codes")
        closed = bool(raw.get("closed", True))
        severity = raw.get("severity", [])
        if not isinstance(severity, list) or not all(isinstance(code, str) and code in codes for code in severity):
            raise fail("'severity' is a list of the scheme's codes, most serious first", f"schemes.{name}.severity")
        if len(set(severity)) != len(severity) or (severity and closed and set(severity) != set(codes)):
            raise fail("'severity' lists each code once, and every code of a closed scheme",
                       f"schemes.{name}.severity")
        schemes[name] = Scheme(
            name=name,
            title=str(raw.get("title", name)),
            closed=closed,
            labels={str(code): entry["label"] for code, entry in codes.items()},
            notes={str(code): entry["note"] for code, entry in codes.items() if "note" in entry},
            severity=tuple(severity),
        )
    vics: dict[str, dict[str, str | None]] = {}
    for version, table in (data.get("vics") or {}).items():
        if version == "about":
            continue
        if not isinstance(table, dict):
            raise fail("a VICS version maps region names to schemes", f"vics.{version}")
        for region, scheme in table.items():
            if scheme is not None and scheme not in schemes:
                raise fail(f"VICS {version} region {region!r} names an unknown scheme {scheme!r}",
                           f"vics.{version}.{region}")
        vics[version] = dict(table)
    return Profile(version=data["version"], schemes=schemes, vics=vics, source=source)


def label(scheme: str | None, code: str | None, profile: Profile | None = None) -> str | None:
    """The label of `code` under `scheme` in the (default) profile, or None when either is unknown."""
    if scheme is None or code is None:
        return None
    profile = profile or load_profile()
    found = profile.schemes.get(scheme)
    return found.label(code) if found else None
