"""The scan pipeline: enumerate -> hash -> match -> record -> verify -> report.

`run_scan` and `ScanResult` are imported on first use: `hashwarden hash` uses the scan's workers
(`scan.hash_files`), and loading the pipeline (the store, SQLAlchemy, the index, the report) would cost it most of
its start-up.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ScanResult", "run_scan"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hashwarden.scan import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'hashwarden.scan' has no attribute {name!r}")
