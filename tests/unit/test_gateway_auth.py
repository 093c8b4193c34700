"""The gateway core's `auth` op and private channels, driven with plain calls: who may read
`moderation:<site>`, what a bad token costs, and how an identity's end ends its subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from commentfeed.channels import ChannelUpdate
from commentfeed.tokens import AuthError, Reader, TokenPolicy, mint_reader_token, verify_session
from gateway.core import Action, Broadcast, Close, Config, Core, FetchSnapshot, Limits, Send
from gateway.exceptions import FrameError
from gateway.frames import Snapshot, parse_request
from gateway.protocol import MAX_TOKEN_CHARS, Auth, CloseCode, ErrorCode

M = "moderation:site-a"
SECRET = "s3cret-for-tests-only-0123456789abcdef"
MOD_A = Reader("m-ines", "Ines", "moderator", "site-a")
MOD_B = Reader("m-bo", "Bo", "moderator", "site-b")
READER = Reader("u-ann", "Ann", "reader", None)


def verifier(token: str) -> tuple[Reader, float]:
    """Tokens are plain user ids here; ``expired`` is a token that fails."""
    users = {"ines": (MOD_A, 600.0), "bo": (MOD_B, 600.0), "ann": (READER, 600.0),
             "short": (MOD_A, 5.0)}
    if token not in users:
        raise AuthError("invalid_token", "the token is not valid: bad signature")
    return users[token]


def core(**overrides: Any) -> Core[str]:
    gw: Core[str] = Core(Config(verifier=verifier, **overrides))
    gw.connect("c", 0.0)
    return gw


def send(gw: Core[str], doc: Any, now: float = 0.0) -> list[Action[str]]:
    return gw.receive("c", orjson.dumps(doc).decode(), now)


def frames(actions: list[Action[str]]) -> list[dict[str, Any]]:
    return [orjson.loads(a.frame) for a in actions
            if isinstance(a, Send) or (isinstance(a, Broadcast) and "c" in a.handles)]


def queue_snapshot(offset: int) -> Snapshot:
    return Snapshot("e1", offset, {"site": "site-a", "queue": []})


def test_auth_answers_authed_with_the_user_the_token_names() -> None:
    gw = core()
    assert frames(send(gw, {"op": "auth", "token": "ines", "id": 3})) == [{
        "op": "authed", "id": 3,
        "user": {"id": "m-ines", "name": "Ines", "roles": ["moderator"], "site": "site-a"}}]
    assert frames(send(gw, {"op": "auth", "token": "ann"}))[0]["user"] == {
        "id": "u-ann", "name": "Ann", "roles": ["reader"], "site": None}


def test_a_bad_token_is_a_bad_token_error_and_leaves_the_connection_anonymous() -> None:
    gw = core()
    send(gw, {"op": "auth", "token": "ines"})
    out = frames(send(gw, {"op": "auth", "token": "forged", "id": 4}))
    assert [(f["op"], f.get("code"), f.get("id")) for f in out] == [("error", "bad_token", 4)]
    refused = frames(send(gw, {"op": "subscribe", "channel": M, "id": 5}))
    assert [(f["op"], f["code"]) for f in refused] == [("error", "forbidden")]


def test_without_a_configured_secret_every_auth_is_refused() -> None:
    gw: Core[str] = Core(Config())
    gw.connect("c", 0.0)
    out = frames(gw.receive("c", '{"op":"auth","token":"ines"}', 0.0))
    assert out[0]["code"] == "bad_token"


@pytest.mark.parametrize("token", [None, 7, "", "x" * (MAX_TOKEN_CHARS + 1)])
def test_a_token_that_is_no_string_or_too_long_is_refused_unparsed(token: object) -> None:
    with pytest.raises(FrameError) as caught:
        parse_request(orjson.dumps({"op": "auth", "token": token, "id": 1}).decode())
    assert caught.value.code == ErrorCode.BAD_TOKEN
    parsed = parse_request('{"op":"auth","token":"abc","id":"x"}')
    assert parsed == Auth(op="auth", token="abc", id="x")


@pytest.mark.parametrize("token", [None, "ann", "bo"])
def test_only_a_moderator_of_the_site_may_subscribe_its_queue(token: str | None) -> None:
    gw = core()
    if token is not None:
        send(gw, {"op": "auth", "token": token})
    out = send(gw, {"op": "subscribe", "channel": M, "id": 9})
    assert [(f["op"], f["code"], f["id"]) for f in frames(out)] == [("error", "forbidden", 9)]
    assert not any(isinstance(a, FetchSnapshot) for a in out)
    assert M not in gw.channels


def test_a_moderator_gets_the_queue_snapshot_and_its_updates() -> None:
    gw = core()
    send(gw, {"op": "auth", "token": "ines"})
    out = send(gw, {"op": "subscribe", "channel": M, "id": 1})
    assert [a for a in out if isinstance(a, FetchSnapshot)] == [FetchSnapshot(M, M)]
    answered = frames(gw.snapshot_fetched(M, queue_snapshot(3), 0.0))
    assert answered == [{"op": "subscribed", "id": 1, "channel": M, "epoch": "e1", "offset": 3,
                         "recovered": False, "snapshot": {"site": "site-a", "queue": []}}]
    item = {"comment_id": "c-1", "article_id": "42", "status": "pending"}
    update = ChannelUpdate(M, "e1", 4, "queue.item", item)
    assert frames(gw.receive_update(update, 0.0))[0]["data"] == item
    removed = {"comment_id": "c-1", "article_id": "42", "status": "visible"}
    assert frames(gw.receive_update(ChannelUpdate(M, "e1", 5, "queue.removed", removed),
                                    0.0))[0]["data"] == removed
    # The queue's order and figures are the streams': the next subscribe fetches it again.
    assert gw.channels[M].state is None
    out = send(gw, {"op": "subscribe", "channel": M, "id": 2})
    assert [a for a in out if isinstance(a, FetchSnapshot)] == [FetchSnapshot(M, M)]


def test_public_channels_stay_open_without_auth() -> None:
    gw = core()
    out = send(gw, {"op": "subscribe", "channel": "article:42", "id": 1})
    assert [a for a in out if isinstance(a, FetchSnapshot)] == [
        FetchSnapshot("article:42", "article:42")]


def test_losing_the_identity_ends_the_private_subscriptions() -> None:
    gw = core()
    send(gw, {"op": "auth", "token": "ines"})
    send(gw, {"op": "subscribe", "channel": M})
    gw.snapshot_fetched(M, queue_snapshot(1), 0.0)
    out = frames(send(gw, {"op": "auth", "token": "ann", "id": 2}))
    assert [f["op"] for f in out] == ["authed", "unsubscribed"]
    assert out[1] == {"op": "unsubscribed", "channel": M}
    assert gw.channels[M].subscribers == set()
    assert gw.subscription_count == 0


def test_an_expired_token_ends_the_private_subscriptions_at_the_next_sweep() -> None:
    gw = core()
    send(gw, {"op": "auth", "token": "short"})
    send(gw, {"op": "subscribe", "channel": M})
    gw.snapshot_fetched(M, queue_snapshot(1), 0.0)
    assert frames(gw.sweep(4.0)) == []
    assert frames(gw.sweep(6.0)) == [{"op": "unsubscribed", "channel": M}]
    refused = frames(send(gw, {"op": "subscribe", "channel": M}, now=6.0))
    assert refused[0]["code"] == "forbidden"


def test_failed_auths_spend_the_error_budget() -> None:
    gw = core(limits=Limits(max_errors=3, error_window_s=10.0))
    out: list[Action[str]] = []
    for i in range(3):
        out = send(gw, {"op": "auth", "token": "nope", "id": i}, now=float(i))
    closes = [a for a in out if isinstance(a, Close)]
    assert [(c.code, c.reason) for c in closes] == [(CloseCode.TOO_MANY_ERRORS,
                                                     "too_many_errors")]


def test_the_shared_verifier_accepts_ingest_tokens_and_reports_their_expiry() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = mint_reader_token(MOD_A, SECRET, ttl=timedelta(minutes=10), now=now)
    reader, expires = verify_session(token, SECRET, policy=TokenPolicy(), now=now)
    assert reader == MOD_A
    assert expires == now + timedelta(minutes=10)
