"""Every RFC the code cites is listed in docs/rfc-status.md (design rule 6)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_cited_rfc_is_in_rfc_status() -> None:
    """A new `# RFC NNNN` citation must come with a line in docs/rfc-status.md."""
    cited = set()
    for path in (ROOT / "src" / "roost").rglob("*.py"):
        cited |= set(re.findall(r"RFC (\d{3,4})", path.read_text(encoding="utf-8")))
    status = (ROOT / "docs" / "rfc-status.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| (\d{3,4}) \|", status, re.MULTILINE))
    assert cited, "no RFC citations found: the scan itself is broken"
    assert sorted(cited - listed) == []
