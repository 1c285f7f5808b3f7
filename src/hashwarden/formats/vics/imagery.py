"""`Miniature` (a thumbnail, that is imagery) and `Thumbnail` are never stored or exported, at any depth."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

IMAGERY_FIELDS = frozenset({"miniature", "thumbnail"})  # lower-case: never stored, never exported


def scrub(value: Any, dropped: Counter[str]) -> None:
    """Remove imagery keys from nested objects, in place (iterative: JSON nesting can be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key in [k for k in item if k.lower() in IMAGERY_FIELDS]:
                del item[key]
                dropped[key] += 1
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))


def has_imagery(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if any(k.lower() in IMAGERY_FIELDS for k in item):
                return True
            stack.extend(v for v in item.values() if type(v) in (dict, list))
        elif type(item) is list:
            stack.extend(v for v in item if type(v) in (dict, list))
    return False


def without_imagery(value: Any) -> Any:
    """`value`, or a scrubbed copy when imagery fields hide inside it (the export never carries them)."""
    if type(value) in (dict, list) and has_imagery(value):
        value = json.loads(json.dumps(value))
        scrub(value, Counter())
    return value
