"""docker-compose.yml and the CI script, checked as far as a machine without Docker can."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_names_kafka_and_every_service() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "topics", "worker", "gateway", "ingest"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_services_run_the_commentfeed_subcommands_with_kafka_settings() -> None:
    services = _compose()["services"]
    for name in ("worker", "gateway", "ingest"):
        assert services[name]["command"] == [name]
        env = services[name]["environment"]
        assert env["COMMENTFEED_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["COMMENTFEED_IDEMPOTENT_PRODUCER"] == "true"
        assert services[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully")
    assert services["topics"]["command"] == ["topics"]
    assert "kafka-data:/var/lib/kafka/data" in services["kafka"]["volumes"]


def test_every_phony_make_target_has_a_rule() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (phony,) = re.findall(r"^\.PHONY:(.*)$", makefile, flags=re.MULTILINE)
    rules = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    assert sorted(set(phony.split()) - rules) == []


def test_the_readme_says_what_make_test_needs_beyond_python() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`npm`" in readme
    assert "root or sudo" in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme
    assert "make up" in readme
