"""The device that made a file, as leads compare it: a case's items among themselves (`leads.clusters`) and with
other cases' items in the store (`store.cases` keeps each item's `device_digest`, `leads.across` searches it).

Here, below both, so that the scan's leads and the stored column cannot disagree on what one device is. Standard
library only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def device_key(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """What identifies the device that made a file: ("serial", make/serial) when a body serial is known, else
    ("make_model_software", make/model/software) when all three are; None otherwise (make and model alone are
    shared by millions of phones, no lead)."""
    serial = metadata.get("serial")
    if serial:
        return "serial", f"{metadata.get('make') or ''}/{serial}"
    if all(metadata.get(name) for name in ("make", "model", "software")):
        return "make_model_software", f"{metadata['make']}/{metadata['model']}/{metadata['software']}"
    return None


def device_digest(key: tuple[str, str]) -> str:
    """A device key as 64 hex digits (SHA-256 of its kind and text): what `case_item.device` holds and is indexed
    by, whatever the length of the serial a report carries."""
    kind, text = key
    return hashlib.sha256(f"{kind}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


def item_device_digest(item: Mapping[str, Any]) -> str | None:
    """`device_digest` of a report item's `metadata`, None when it names no device."""
    metadata = item.get("metadata")
    key = device_key(metadata) if isinstance(metadata, Mapping) else None
    return device_digest(key) if key else None
