"""The README's report.json contract names exactly the metadata fields and lead kinds the code writes, and the
burst window it states is the configured one."""

from __future__ import annotations

import re
from pathlib import Path

from hashwarden.config import BURST_SECONDS, PDQ_MATCH_THRESHOLD
from hashwarden.leads.metadata import FIELDS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_contract_lists_the_metadata_fields_and_lead_kinds() -> None:
    section = README.split("## report.json", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    metadata = re.search(r'"metadata"\?: \{(.*?)\}', block, flags=re.S).group(1)
    assert re.findall(r'"(\w+)"\?', metadata) == list(FIELDS)
    assert '"cluster"?' in block and '"kind": "cluster"|"device"' in block
    assert f"PDQ ≤ {PDQ_MATCH_THRESHOLD}" in section and f"≤ {BURST_SECONDS:g} s apart" in section
