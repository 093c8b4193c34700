"""docs/protocol.md's "Gateway settings" table lists every gateway knob with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.settings import GatewaySettings

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")


def documented() -> dict[str, str]:
    table = PROTOCOL.split("## Gateway settings", 1)[1]
    out: dict[str, str] = {}
    for names, defaults in re.findall(r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)?) \| ([^|]+) \|", table,
                                      re.M):
        keys = re.findall(r"`([A-Z_]+)`", names)
        values = [v.strip() for v in defaults.split(" / ")]
        out.update(zip(keys, values if len(values) == len(keys) else values * len(keys),
                       strict=True))
    return out


def shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_every_gateway_setting_is_documented_with_its_default() -> None:
    table = documented()
    defaults = GatewaySettings.of().model_dump()
    assert set(table) == {name.upper() for name in defaults}
    for name, value in defaults.items():
        if name in ("allowed_origins", "compression"):
            continue  # described in words ("any", a quoted value)
        assert table[name.upper()] == shown(value), name
