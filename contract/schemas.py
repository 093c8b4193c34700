"""JSON Schema for every contract model, generated from the pydantic models.

``python -m contract.schemas`` rewrites docs/schemas/; a test fails when the committed files
differ from what the models say.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter

from commentfeed import events

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"

#: file stem -> model; one file per event type, plus the unions a consumer validates against.
MODELS: dict[str, type[BaseModel]] = {
    "article.published": events.ArticlePublished,
    "article.updated": events.ArticleUpdated,
    "article.closed": events.ArticleClosed,
    "article.deleted": events.ArticleDeleted,
    "comment.posted": events.CommentPosted,
    "comment.edited": events.CommentEdited,
    "comment.deleted": events.CommentDeleted,
    "comment.moderated": events.CommentModerated,
    "comment.voted": events.CommentVoted,
    "comment.reported": events.CommentReported,
    "user.banned": events.UserBanned,
    "feed.update": events.FeedUpdate,
    "feed.count": events.FeedCount,
    "gateway.presence": events.GatewayPresence,
    "dead-letter": events.DeadLetter,
}
UNIONS: dict[str, Any] = {
    "articles-topic": events.ArticleEvent,
    "comments-topic": events.CommentEvent,
    "moderation-events": events.ModerationEvent,
}


def generate() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document (draft 2020-12, as pydantic emits it)."""
    out: dict[str, dict[str, Any]] = {}
    for stem, model in MODELS.items():
        out[f"{stem}.json"] = model.model_json_schema(mode="serialization")
    for stem, union in UNIONS.items():
        out[f"{stem}.json"] = TypeAdapter(union).json_schema(mode="serialization")
    return out


def render(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in generate().items():
        path = directory / name
        path.write_bytes(render(doc))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(path)
