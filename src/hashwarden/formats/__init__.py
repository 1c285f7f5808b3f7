"""Hash-list formats: each module reads one format into `EntryRecord`s (and later writes it back).

Every reader is a generator `read(fp, path) -> Iterator[EntryRecord]` that raises `FormatError` naming the file
and line on the first malformed line; `store.import_entries` runs it inside one transaction, so an import is all
or nothing.
"""
