"""The Safe Browsing vectors of ../shared/conformance/urls/ as Python values (its README gives the formats); read by
the tests and by bench/urls.py, which counts how many of them each library passes."""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path

INVALID = "!INVALID"


@dataclass(frozen=True)
class CanonCase:
    """One row of canonicalization.tsv: the input's exact bytes and the expected canonical URL (or INVALID)."""

    id: str
    input: bytes
    expected: str


@dataclass
class Block:
    """One `[expr N]` or `[hash N]` block of expressions.txt: its kind, number, and each key's values in order."""

    kind: str
    number: str
    values: dict[str, list[str]] = field(default_factory=dict)

    def one(self, key: str) -> str:
        return self.values[key][0]


def _decode(text: str) -> bytes:
    """A TSV field as its exact bytes: `\\xHH`, `\\t`, `\\r`, `\\n`, `\\\\` escapes (the README's decoding)."""
    return codecs.escape_decode(text.encode("ascii"))[0]


def canon_cases(conformance: Path) -> list[CanonCase]:
    with open(conformance / "urls" / "canonicalization.tsv", newline="", encoding="ascii") as fp:
        rows = list(csv.DictReader(fp, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [CanonCase(row["id"], _decode(row["input"]), _decode(row["expected"]).decode("ascii")) for row in rows]


def blocks(conformance: Path) -> list[Block]:
    found: list[Block] = []
    for line in (conformance / "urls" / "expressions.txt").read_text(encoding="ascii").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            kind, number = line.strip("[]").split()
            found.append(Block(kind, number))
            continue
        key, _, value = line.partition("=")
        found[-1].values.setdefault(key.strip(), []).append(value.strip())
    return found


def hash_input(block: Block) -> bytes:
    """The exact bytes a `[hash N]` block hashes: `input`, or `input_repeat = <char>*<count>`."""
    if "input" in block.values:
        return block.one("input").encode("ascii")
    char, _, count = block.one("input_repeat").rpartition("*")
    return char.encode("ascii") * int(count)
