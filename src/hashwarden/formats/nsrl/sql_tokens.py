"""The SQL tokenizer and token cursor the delta parser (`delta`) reads statements with: literals, words,
identifiers and punctuation, nothing else (any other character is refused)."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from hashwarden.errors import FormatError

_TOKEN = re.compile(
    r"""\s*(?:
        '([^']*(?:''[^']*)*)'                           # 1 string literal ('' is a quote)
      | ([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)  # 2 number
      | [xX]'([0-9A-Fa-f]*)'                            # 3 blob literal
      | ([A-Za-z_][A-Za-z0-9_$]*)                       # 4 keyword or bare identifier
      | "([^"]*(?:""[^"]*)*)"                           # 5 "identifier"
      | \[([^\]]*)\]                                    # 6 [identifier]
      | `([^`]*)`                                       # 7 `identifier`
      | ([(),;=*.])                                     # 8 punctuation
      | (--[^\n]*|/\*.*?\*/)                            # 9 comment
      | (\S)                                            # 10 anything else: refused
    )""",
    re.S | re.X,
)


def tokenize(text: str, path: str, line: int) -> list[tuple[str, Any]]:
    """`(kind, value)` tokens, kind "lit" (value decoded), "word" (upper-cased), "ident" or "punct"; no comments."""
    tokens: list[tuple[str, Any]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastindex
        value = match.group(kind or 0)
        if kind == 1:
            tokens.append(("lit", value.replace("''", "'")))
        elif kind == 2:
            tokens.append(("lit", int(value) if value.lstrip("+-").isdigit() else float(value)))
        elif kind == 3:
            tokens.append(("lit", bytes.fromhex(value)))
        elif kind == 4:
            upper = value.upper()
            tokens.append(("lit", None) if upper == "NULL" else ("word", upper))
        elif kind in (5, 6, 7):
            tokens.append(("ident", value.replace('""', '"').upper()))
        elif kind == 8:
            tokens.append(("punct", value))
        elif kind == 10:
            raise FormatError(f"RDS delta: unexpected character {value!r} (an unterminated quote in a truncated "
                              "file, or SQL beyond what a delta uses)", path, line)
    return tokens


class Statement:
    """One statement's tokens and a cursor, for the recursive-descent parser of `delta`."""

    def __init__(self, tokens: list[tuple[str, Any]], path: str, line: int) -> None:
        self.tokens, self.path, self.line, self.at = tokens, path, line, 0

    def fail(self, message: str, field: str | None = None) -> NoReturn:
        raise FormatError(f"RDS delta: {message}", self.path, self.line, field=field)

    def peek(self) -> tuple[str | None, Any]:
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self, what: str) -> tuple[str, Any]:
        if self.at >= len(self.tokens):
            self.fail(f"the statement ends where {what} was expected (truncated?)")
        self.at += 1
        return self.tokens[self.at - 1]

    def accept(self, *values: str) -> str | None:
        """Consume the next token if it is one of these keywords or punctuation marks."""
        kind, value = self.peek()
        if kind in ("word", "punct") and value in values:
            self.at += 1
            return value
        return None

    def expect(self, value: str) -> None:
        if self.accept(value) is None:
            if self.at >= len(self.tokens):
                self.fail(f"the statement ends where {value!r} was expected (truncated?)")
            self.fail(f"expected {value!r}, found {self.shown()}")

    def name(self, what: str) -> str:
        kind, value = self.take(what)
        if kind not in ("word", "ident"):
            self.fail(f"expected {what}, found {value!r}")
        return value

    def literal(self, column: str) -> Any:
        kind, value = self.take(f"a value for {column}")
        if kind != "lit":
            self.fail(f"only literal values are read from a delta, found {value!r}", column)
        if isinstance(value, bytes):  # no RDS column holds a blob
            self.fail(f"a blob literal (X'...') for {column}, which holds text or an integer", column)
        return value

    def end(self) -> None:
        if self.at < len(self.tokens):
            self.fail(f"unexpected {self.shown()} (a delta is read, not run: only literal VALUES and AND-ed "
                      "equalities are understood)")

    def shown(self) -> str:
        kind, value = self.peek()
        return "the end of the statement" if kind is None else repr(value)
