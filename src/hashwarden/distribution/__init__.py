"""Signed, versioned distribution of hash sets and the URL list to subscribers through The Update Framework
(python-tuf; issue 19).

A publisher writes a static TUF repository (`publisher.publish`): every published set as full snapshots and deltas
between versions, named with their hashes and lengths in signed targets metadata; any web server can host it and
`hashwarden serve --repo` serves it under `/repo/`. A subscriber brings its database up to the published versions
(`subscriber.subscribe`) with `tuf.ngclient.Updater`, which does every trust decision (signatures and thresholds,
expiry, rollback and freeze, mix-and-match, hashes and lengths); hashwarden only applies what verified, in one
transaction. Nothing here signs or checks anything by hand.

Layout: `layout.py` (where each file goes), `keys.py` (the roles' keys), `lists.py` (a set as a published list, the
delta between two), `publisher.py`, `fetch.py` (ngclient reading a local directory), `subscriber.py`; for the URL list `url_lists.py` (its
published lines and plain lists) and `url_apply.py` (a downloaded list or delta applied through `store.urls`).
"""

from __future__ import annotations

import importlib
from typing import Any

# What the package offers, and the module holding each: loaded when first asked for, so that a subscriber (or the
# service's `/repo/`) never loads the publisher's modules and the NumPy its delta comparison and exports use.
_PROVIDERS = {"ROLES": "keys", "keygen": "keys", "PublishResult": "publisher", "publish": "publisher",
              "rotate_key": "publisher", "SubscribeResult": "subscriber", "subscribe": "subscriber"}
__all__ = sorted(_PROVIDERS)


def __getattr__(name: str) -> Any:
    if name not in _PROVIDERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_PROVIDERS[name]}"), name)
