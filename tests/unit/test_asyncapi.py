"""docs/asyncapi.yaml matches the models, is self-contained, and says what the code does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import create_model

from commentfeed import channels, codec, events
from commentfeed.demo_data import demo_events
from commentfeed.settings import Settings
from commentfeed.topics import Topic, topic_specs
from contract import asyncapi, schemas
from gateway import protocol
from gateway.protocol import CloseCode, ErrorCode


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc = yaml.safe_load(asyncapi.DOC_PATH.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external reference {ref!r}"
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _payload_validator(document: dict[str, Any], message: str) -> Draft202012Validator:
    ref = document["components"]["messages"][message]["payload"]["$ref"]
    # A root that holds the components lets "#/components/schemas/..." resolve as in the doc.
    return Draft202012Validator(
        {"$ref": ref, "components": document["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_committed_document_matches_the_models() -> None:
    stale = asyncapi.diff()
    assert stale == "", f"docs/asyncapi.yaml is stale: run `make asyncapi` and commit\n{stale}"


def test_a_model_change_without_regenerating_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changed = create_model(
        "CommentPosted", __base__=events.CommentPosted, moderation_note=(str | None, None))
    monkeypatch.setitem(schemas.MODELS, "comment.posted", changed)

    stale = asyncapi.diff()

    assert "+        moderation_note:" in stale
    assert "docs/asyncapi.yaml (from the models)" in stale


def test_check_command_fails_on_a_stale_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    stale_copy = tmp_path / "asyncapi.yaml"
    stale_copy.write_text(asyncapi.render(asyncapi.build()).replace("Petra S.", "Petra T."))
    monkeypatch.setattr(asyncapi, "DOC_PATH", stale_copy)

    assert asyncapi.main(["--check"]) == 1
    out = capsys.readouterr()
    removed = [line for line in out.out.splitlines() if line.startswith("-")]
    assert any(line.endswith("name: Petra T.") for line in removed)
    assert "run `make asyncapi`" in out.err


def test_generation_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = asyncapi.render(asyncapi.build())
    monkeypatch.setenv("COMMENTFEED_PARTITIONS", "48")
    monkeypatch.setenv("COMMENTFEED_TOPIC_PREFIX", "prod.")
    assert asyncapi.render(asyncapi.build()) == before


def test_document_is_self_contained(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert len(refs) > 100
    for ref in refs:
        _resolve(document, ref)  # raises KeyError when dangling
    assert "$defs" not in str(document)


def test_every_topic_is_a_channel_with_its_specs(document: dict[str, Any]) -> None:
    specs = {s.name: s for s in topic_specs(Settings.explicit())}
    assert {t.value for t in Topic} == set(specs)
    for name, spec in specs.items():
        kafka = document["channels"][name]["bindings"]["kafka"]
        assert document["channels"][name]["address"] == name
        assert kafka["topic"] == name
        assert kafka["partitions"] == spec.partitions
        assert kafka["topicConfiguration"]["cleanup.policy"] == (
            ["compact"] if spec.compacted else ["delete"])
        if spec.retention_ms is not None:
            assert kafka["topicConfiguration"]["retention.ms"] == spec.retention_ms
    assert document["channels"]["feed.counts"]["bindings"]["kafka"]["topicConfiguration"][
        "cleanup.policy"] == ["compact"]
    assert document["channels"]["comments.dlq"]["bindings"]["kafka"]["partitions"] == 1


def test_keyed_topics_name_their_key(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    bindings = document["components"]["messageBindings"]
    for message in ("article.published", "comment.voted", "feed.count"):
        key = _resolve(document, messages[message]["bindings"]["$ref"])["kafka"]["key"]
        assert key["description"] == "article_id"
    channel_key = bindings["channelKey"]["kafka"]["key"]
    assert channel_key["pattern"] == channels.CHANNEL_PATTERN
    assert "co-partitioned" in document["channels"]["articles"]["description"].lower()


def test_input_topics_list_every_event_type(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert set(channels["articles"]["messages"]) == {
        m.model_fields["type"].default for m in events.ARTICLE_EVENT_TYPES}
    assert set(channels["comments"]["messages"]) == {
        m.model_fields["type"].default
        for m in (*events.COMMENT_EVENT_TYPES, *events.MODERATION_EVENT_TYPES)}


def test_message_payloads_are_the_model_schemas(document: dict[str, Any]) -> None:
    posted = document["components"]["schemas"]["CommentPostedData"]
    assert set(posted["properties"]) == set(events.CommentPostedData.model_fields)
    assert posted["properties"]["author"] == {"$ref": "#/components/schemas/Author"}
    subscribe = document["components"]["schemas"]["Subscribe"]
    assert set(subscribe["properties"]) == {"op", "channel", "id", "since"}


@pytest.mark.parametrize("message", sorted(
    yaml.safe_load(asyncapi.DOC_PATH.read_text(encoding="utf-8"))["components"]["messages"]))
def test_every_message_example_validates_against_its_payload_schema(
    document: dict[str, Any], message: str,
) -> None:
    examples = document["components"]["messages"][message]["examples"]
    assert examples
    validator = _payload_validator(document, message)
    for example in examples:
        validator.validate(example["payload"])


def test_real_records_validate_and_bad_ones_do_not(document: dict[str, Any]) -> None:
    for event in demo_events():
        record = codec.loads(codec.encode(event))
        _payload_validator(document, event.type).validate(record)
    posted = codec.loads(codec.encode(next(e for e in demo_events() if e.type == "comment.posted")))
    posted["data"]["status"] = "hidden"  # posted comments are visible or pending, never hidden
    errors = list(_payload_validator(document, "comment.posted").iter_errors(posted))
    assert [list(e.absolute_path)[:2] for e in errors] == [["data", "status"]]


def test_kafka_examples_decode_with_the_codec(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    for name in ("article.published", "article.closed", "comment.posted", "comment.voted"):
        raw = codec.dumps(messages[name]["examples"][0]["payload"])
        assert codec.decode_input(raw).type == name
    count = codec.decode_feed_count(codec.dumps(messages["feed.count"]["examples"][0]["payload"]))
    assert (count.data.count, count.data.offset) == (4, 22)


def test_feed_update_kinds_match_the_websocket_update_types(document: dict[str, Any]) -> None:
    kinds = set(get_args(events.FeedUpdateType))
    frame_types = {protocol.update_type(f) for f in protocol.UPDATE_FRAMES}
    assert frame_types == kinds
    item_kinds = set(get_args(events.FeedUpdateItem.model_fields["kind"].annotation))
    assert item_kinds == kinds
    assert events.FeedUpdate.model_fields["type"].default == "feed.updates"
    description = document["components"]["messages"]["feed.update"]["description"]
    for kind in kinds:
        assert f"| `{kind}` |" in description


def test_websocket_operations_reply_on_the_gateway_channel(document: dict[str, Any]) -> None:
    ops = document["operations"]
    subscribe = ops["receiveSubscribe"]
    assert subscribe["action"] == "receive"
    assert [m["$ref"].rsplit("/", 1)[1] for m in subscribe["reply"]["messages"]] == [
        "subscribed", "error"]
    assert ops["sendUpdate"]["action"] == "send"
    gateway = document["channels"]["gateway"]
    assert gateway["address"] == "/ws"
    assert document["servers"]["gateway"] == {
        **document["servers"]["gateway"], "host": "localhost:8765", "protocol": "ws"}
    assert [c["code"] for c in gateway["x-close-codes"]] == [
        1000, 1001, 1002, 1007, 1009, 1011, 4000, 4001, 4002, 4003, 4004]
    assert {c["code"] for c in gateway["x-close-codes"]} >= {int(c) for c in CloseCode}
    assert set(gateway["x-error-codes"]) == {c.value for c in ErrorCode}
    assert document["components"]["schemas"]["ErrorFrame"]["properties"]["code"] == {
        "$ref": "#/components/schemas/ErrorCode"}
    assert document["components"]["schemas"]["ErrorCode"]["enum"] == [c.value for c in ErrorCode]
    assert [m["$ref"] for m in ops["sendResync"]["messages"]] == [
        "#/channels/gateway/messages/subscribed"]


def test_operation_messages_belong_to_their_channel(document: dict[str, Any]) -> None:
    for name, op in document["operations"].items():
        channel = op["channel"]["$ref"]
        for message in op["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def test_the_documented_worker_group_is_the_streams_app_id(document: dict[str, Any]) -> None:
    from streams.app import build_app, consumer_group

    binding = document["operations"]["receiveComments"]["bindings"]["kafka"]
    assert binding["groupId"]["enum"] == [consumer_group(Settings.explicit())]
    prefixed = Settings.explicit(topic_prefix="prod.")
    assert consumer_group(prefixed) == "prod." + asyncapi.STREAMS_GROUP
    assert build_app(prefixed).conf.id == consumer_group(prefixed)


def test_every_dead_letter_reason_of_the_streams_doc_is_listed(document: dict[str, Any]) -> None:
    streams_api = (asyncapi.DOC_PATH.parent / "streams-api.md").read_text(encoding="utf-8")
    section = streams_api.split("### `comments.dlq` reasons", 1)[1].split("\n### ", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    reasons = {r for cell in first_cells for r in re.findall(r"`([a-z_]+)`", cell)}
    assert len(reasons) >= 12
    description = " ".join(document["channels"]["comments.dlq"]["description"].split())
    assert {r for r in reasons if f"`{r}`" not in description} == set()


def test_the_compose_partition_count_quoted_in_the_docs_is_the_real_one(
    document: dict[str, Any],
) -> None:
    compose = yaml.safe_load((asyncapi.DOC_PATH.parents[1] / "docker-compose.yml").read_text())
    partitions = compose["x-commentfeed"]["environment"]["COMMENTFEED_PARTITIONS"]
    assert f"docker-compose.yml uses {partitions}." in " ".join(
        document["info"]["description"].split())
    operations = (asyncapi.DOC_PATH.parent / "operations.md").read_text(encoding="utf-8")
    assert f"`COMMENTFEED_PARTITIONS={partitions}`" in operations
