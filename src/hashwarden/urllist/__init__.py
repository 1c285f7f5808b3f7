"""The URL list (issue 19): entries derived from URLs by kind, checking URLs against the list, its exports."""
