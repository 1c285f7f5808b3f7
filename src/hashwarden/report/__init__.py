"""Case reports: report.json (the contract), report.html (the examiner's view). Hashes and metadata only."""

from hashwarden.report.json_report import build_report, write_reports

__all__ = ["build_report", "write_reports"]
