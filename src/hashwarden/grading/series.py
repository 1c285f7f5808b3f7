"""Series and victims linked to media named by hashes, and the flags those links give entries (issue 18).

The records and links are the store's (store/series.py, where the model and how links meet entries are told);
this module checks the hashes a link names, as a vote's are checked (grading/votes.py `check_hashes`).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from hashwarden.grading.votes import check_hashes
from hashwarden.store import series as store

__all__ = ["link_series", "link_victim"]


def link_series(conn: Connection, code: str, hashes: dict[str, str | None],
                set_name: str | None = None) -> list[tuple[str, bool]]:
    """Link the media named by `hashes` to series `code`, or with `set_name` the entries of that set sharing one of
    `hashes` (every entry of it without hashes), each by all its hashes (audited per link): (media key, whether
    the link is new) per media linked.

    Raises:
        GradingError: no hash (and no set) or a malformed one; SeriesError: no such series or set, or no entry of
            the set with those hashes.
    """
    given = any(value is not None for value in hashes.values())
    if set_name is not None:
        return store.link_set_entries(conn, code, set_name, check_hashes(hashes, "a link") if given else None)
    return [store.link_series_media(conn, code, check_hashes(hashes, "a link"))]


def link_victim(conn: Connection, code: str, series_code: str | None,
                hashes: dict[str, str | None]) -> tuple[str, bool]:
    """Link victim `code` to series `series_code` or to the media named by `hashes` (audited): (the series code or
    media key, whether the link is new).

    Raises:
        SeriesError: no such victim or series, both or neither given. GradingError: a malformed hash.
    """
    checked = check_hashes(hashes, "a link") if any(value is not None for value in hashes.values()) else None
    return store.link_victim(conn, code, series_code, checked)

