"""docs/asyncapi.yaml validates against the official AsyncAPI 3.0.0 JSON Schema.

The schema comes from the npm package @asyncapi/specs, pinned in tools/asyncapi and installed by
`make test` (`npm ci --prefix tools/asyncapi`). Its definitions are bundled by ``$id``; the only
other reference is the JSON Schema draft-07 meta-schema, which jsonschema ships. So every
reference resolves offline from a registry built here, and nothing is fetched at test time.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing import Registry
from referencing.jsonschema import DRAFT7

from contract import asyncapi

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "asyncapi"
SPEC = TOOLS / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"


def _installed_spec() -> dict[str, Any]:
    if not SPEC.exists():
        # `make test` installs it first; a bare `pytest` does the same install step here.
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: install Node.js, then `npm ci --prefix tools/asyncapi`")
        subprocess.run(
            [npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error"],
            check=True, capture_output=True, timeout=240,
        )
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    assert isinstance(spec, dict)
    return spec


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    spec = _installed_spec()
    assert spec["$schema"].startswith("http://json-schema.org/draft-07/schema")
    bundled = [
        (definition["$id"], DRAFT7.create_resource(definition))
        for definition in spec["definitions"].values()
    ]
    registry: Registry[Any] = META_SCHEMAS.with_resources(bundled)
    return Draft7Validator(spec, registry=registry)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc = yaml.safe_load(asyncapi.DOC_PATH.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _errors(validator: Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(document)
    ]


def test_spec_package_is_the_pinned_version() -> None:
    _installed_spec()
    lock = json.loads((TOOLS / "package-lock.json").read_text(encoding="utf-8"))
    installed = json.loads((SPEC.parents[1] / "package.json").read_text(encoding="utf-8"))
    assert installed["version"] == lock["packages"]["node_modules/@asyncapi/specs"]["version"]


def test_document_is_valid_asyncapi_3(
    validator: Draft7Validator, document: dict[str, Any],
) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert _errors(validator, document) == []


def test_the_official_schema_rejects_a_broken_document(
    validator: Draft7Validator, document: dict[str, Any],
) -> None:
    # The same validator must bite, down to bindings and payload schemas, or the test above
    # proves nothing.
    broken = copy.deepcopy(document)
    broken["channels"]["feed.counts"]["bindings"]["kafka"]["partitions"] = 0
    broken["operations"]["sendUpdate"]["action"] = "publish"
    broken["components"]["schemas"]["Update"]["discriminator"] = {"propertyName": "type"}
    del broken["info"]["version"]

    paths = {e.split(":")[0] for e in _errors(validator, broken)}

    assert paths == {
        "channels/feed.counts", "operations/sendUpdate",
        "components/schemas/Update/discriminator", "info",
    }
