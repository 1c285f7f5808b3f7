"""`formats.FORMATS`, the one table of formats: every name it holds resolves, and the CLI offers exactly its formats."""

from __future__ import annotations

import inspect

import pytest

from hashwarden import formats
from hashwarden.cli.common import export_app, import_app


@pytest.mark.parametrize("name", sorted(formats.FORMATS))
def test_every_function_the_table_names_exists(name: str) -> None:
    """A module moved or a function renamed without the table following would otherwise surface only at import
    time, or, for `read_rows`, never: the import would quietly fall back to the record path."""
    entry = formats.FORMATS[name]
    read = formats.reader(name)
    assert callable(read) and read.__name__ == "read"
    assert list(inspect.signature(read).parameters)[:3] == ["fp", "path", "report"]
    rows = formats.row_reader(name)
    assert (rows is None) == (entry.read_rows is None)
    if rows is not None:
        assert rows.__name__ == "read_rows"
    if entry.write is None:
        with pytest.raises(KeyError, match="has no writer"):
            formats.writer(name)
    else:
        assert formats.writer(name).__name__ == "write"


def test_bulk_row_readers_are_those_of_the_big_lists() -> None:
    assert {name for name, entry in formats.FORMATS.items() if entry.read_rows} == {"md5sum", "nsrl"}


def test_cli_import_and_export_commands_are_the_table_s_formats() -> None:
    from hashwarden.cli import lists, url_list  # noqa: F401 - importing them adds their commands

    imports = {command.name for command in import_app.registered_commands}
    exports = {command.name for command in export_app.registered_commands}
    assert imports == set(formats.FORMATS)
    # `export rpz` writes the URL list's domain entries as a DNS zone (urllist/rpz.py): not a hash-list format
    assert exports - {"rpz"} == {name for name, entry in formats.FORMATS.items() if entry.write}


def test_unknown_format_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        formats.reader("nope")
