"""docs/operations.md names only settings, metrics and topics that exist."""

from __future__ import annotations

import re
from pathlib import Path

from commentfeed.settings import Settings
from commentfeed.topics import Topic
from gateway.settings import GatewaySettings

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPERATIONS = (DOCS / "operations.md").read_text(encoding="utf-8")


def test_every_setting_named_exists() -> None:
    known = {f"COMMENTFEED_{name.upper()}" for name in Settings.model_fields}
    known |= {f"COMMENTFEED_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    # Whole names only: `COMMENTFEED_GATEWAY_*` stands for a family, not a setting.
    named = set(re.findall(r"COMMENTFEED_(?:[A-Z]+_)*[A-Z]+(?![A-Z_])", OPERATIONS))
    assert len(named) >= 5
    assert named - known == set()
    # Settings named without the prefix in the compose table are real too.
    for row in re.findall(r"^\| `([A-Z_]+)`(?: / `([A-Z_]+)`)? \|", OPERATIONS, re.M):
        for name in filter(None, row):
            assert f"COMMENTFEED_{name}" in known, name


def test_every_gateway_metric_is_the_documented_one() -> None:
    protocol = (DOCS / "protocol.md").read_text(encoding="utf-8")
    listed = protocol.split("Metric names:", 1)[1].split("\n\n", 1)[0]
    documented = {
        name if name.startswith("commentfeed_") else "commentfeed_gateway" + name
        for name in re.findall(r"`(commentfeed_gateway_[a-z_]+|_[a-z_]+)", listed)
    }
    assert len(documented) == 18
    named = set(re.findall(r"commentfeed_gateway_[a-z_]+", OPERATIONS))
    shorthand = {"commentfeed_gateway" + s for s in re.findall(r"`(_[a-z_]+)`", OPERATIONS)}
    assert (named | shorthand) == documented


def test_every_topic_has_its_retention_row() -> None:
    retention = OPERATIONS.split("## Retention and compaction", 1)[1].split("\n## ", 1)[0]
    for topic in Topic:
        assert f"| `{topic.value}` |" in retention, topic
    assert "| `feed.counts` | **compact** |" in retention
