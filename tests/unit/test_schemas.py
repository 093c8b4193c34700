from __future__ import annotations

from contract import schemas


def test_committed_json_schemas_match_the_models() -> None:
    stale = [
        name for name, doc in schemas.generate().items()
        if not (schemas.SCHEMA_DIR / name).exists()
        or (schemas.SCHEMA_DIR / name).read_bytes() != schemas.render(doc)
    ]
    assert stale == [], f"run `make schemas` and commit: {stale}"


def test_comment_posted_schema_requires_the_contract_fields() -> None:
    doc = schemas.generate()["comment.posted.json"]
    data = doc["$defs"]["CommentPostedData"]
    assert {"comment_id", "article_id", "site", "author", "body", "posted_at"} <= set(
        data["required"])
