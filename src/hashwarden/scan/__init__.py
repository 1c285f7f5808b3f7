"""The scan pipeline: enumerate -> hash -> match -> record -> verify -> report."""

from hashwarden.scan.pipeline import ScanResult, run_scan

__all__ = ["ScanResult", "run_scan"]
