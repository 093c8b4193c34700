"""Service token and reader JWTs: what is accepted, and why everything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commentfeed.events import Author
from producers.auth import (
    AuthError,
    Reader,
    TokenPolicy,
    bearer_token,
    check_service_token,
    demo_user_id,
    mint_reader_token,
    new_demo_nonce,
    verify_reader_token,
)

SECRET = "unit-test-secret-long-enough-for-hs256-signing"


def sign(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def future() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


DEFAULT = TokenPolicy()


def code_of(token: str, secret: str = SECRET, policy: TokenPolicy = DEFAULT) -> str:
    with pytest.raises(AuthError) as caught:
        verify_reader_token(token, secret, leeway_s=0, policy=policy)
    return caught.value.code


def test_a_minted_token_round_trips() -> None:
    reader = Reader("u-ann", "Ann", "moderator", site="metro")
    token = mint_reader_token(reader, SECRET, ttl=timedelta(minutes=1))
    assert verify_reader_token(token, SECRET) == reader


def test_name_defaults_to_the_subject_and_role_to_reader() -> None:
    assert verify_reader_token(sign({"sub": "u-1", "exp": future()}), SECRET) == Reader(
        "u-1", "u-1", "reader")


def test_expired_forged_and_incomplete_tokens_are_refused() -> None:
    past = datetime.now(UTC) - timedelta(seconds=30)
    assert code_of(sign({"sub": "u-1", "exp": past})) == "expired_token"
    assert code_of(sign({"sub": "u-1", "exp": future()}, secret="another-secret-also-long"
                        "-enough-for-hs256")) == "invalid_token"
    assert code_of(sign({"sub": "u-1"})) == "invalid_token"  # no exp
    assert code_of(sign({"exp": future()})) == "invalid_token"  # no sub
    assert code_of("not.a.token") == "invalid_token"


def test_alg_none_and_other_algorithms_are_refused() -> None:
    unsigned = jwt.encode({"sub": "u-1", "exp": future()}, key=None, algorithm="none")
    assert code_of(unsigned) == "invalid_token"
    # Correctly signed with the right key, but not HS256.
    hs512 = sign({"sub": "u-1", "exp": future()}, secret=SECRET * 2, alg="HS512")
    assert code_of(hs512, secret=SECRET * 2) == "invalid_token"


def test_bad_claims_are_refused() -> None:
    assert code_of(sign({"sub": "has space", "exp": future()})) == "invalid_token"
    assert code_of(sign({"sub": "u-1", "exp": future(), "role": "admin"})) == "invalid_token"
    assert code_of(sign({"sub": "u-1", "exp": future(), "name": "x" * 81})) == "invalid_token"
    assert code_of(sign({"sub": "u-1", "exp": future(), "name": 7})) == "invalid_token"


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    for header in (None, "", "Basic abc", "Bearer", "Bearer   "):
        with pytest.raises(AuthError) as caught:
            bearer_token(header)
        assert caught.value.code == "missing_token"


def test_service_token_comparison() -> None:
    check_service_token("svc-token", "svc-token")
    for wrong in ("svc-toke", "svc-token2", "", "SVC-TOKEN"):
        with pytest.raises(AuthError):
            check_service_token(wrong, "svc-token")


def test_each_demo_login_is_a_new_user_with_a_valid_id() -> None:
    assert demo_user_id("Dora", new_demo_nonce()) != demo_user_id("Dora", new_demo_nonce())
    assert demo_user_id(" Dora Explorer ", "abc").startswith("u-dora-explorer-")
    assert demo_user_id("Ünïcødé ☃", new_demo_nonce()).startswith("u-")
    assert len(demo_user_id("x" * 80, new_demo_nonce())) <= 64


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "u-1", "exp": future(), **extra}


def test_claims_that_would_make_invalid_events_are_refused() -> None:
    # Each of these once verified and then failed the event model: a 500, not a 401.
    for bad in ({"sub": "alice\n"}, {"sub": "alice\r"}, {"name": "A\ud800"},
                {"name": "Ann\x00"}, {"name": "\u200b\u200f"}, {"name": "Ann\nEve"},
                {"sub": ["u-1"]}, {"role": ["moderator"]}, {"site": "a b"},
                {"demo": "yes"}):
        assert code_of(sign(claims(**bad))) == "invalid_token", bad


def test_a_moderator_is_a_moderator_of_one_site() -> None:
    assert code_of(sign(claims(role="moderator"))) == "invalid_token"
    mod = verify_reader_token(sign(claims(role="moderator", site="metro")), SECRET)
    assert mod.moderates("metro")
    assert not mod.moderates("sport")
    reader = verify_reader_token(sign(claims(site="metro")), SECRET)
    assert not reader.moderates("metro")
    assert reader.may_act_on("metro")
    assert not reader.may_act_on("sport")
    assert verify_reader_token(sign(claims()), SECRET).may_act_on("sport")


def test_issuer_and_audience_are_checked_when_configured() -> None:
    policy = TokenPolicy(issuer="https://site.example", audience="commentfeed")
    good = sign(claims(iss="https://site.example", aud="commentfeed"))
    assert verify_reader_token(good, SECRET, policy=policy).id == "u-1"
    assert code_of(sign(claims(aud="commentfeed")), policy=policy) == "invalid_token"
    assert code_of(sign(claims(iss="https://site.example")), policy=policy) == "invalid_token"
    assert code_of(sign(claims(iss="https://evil.example", aud="commentfeed")),
                   policy=policy) == "invalid_token"
    assert code_of(sign(claims(iss="https://site.example", aud="other")),
                   policy=policy) == "invalid_token"
    # Unconfigured, the claims are the site's business.
    assert verify_reader_token(good, SECRET).id == "u-1"


def test_a_token_may_not_live_longer_than_the_maximum() -> None:
    now = datetime.now(UTC)
    decades = now + timedelta(days=365 * 30)
    policy = TokenPolicy(max_lifetime_s=3600)
    assert code_of(sign(claims(exp=decades)), policy=policy) == "invalid_token"
    assert code_of(sign(claims(exp=decades, iat=now)), policy=policy) == "invalid_token"
    assert code_of(sign(claims(exp=now + timedelta(hours=2))), policy=policy) == "invalid_token"
    ok = sign(claims(exp=now + timedelta(minutes=50), iat=now))
    assert verify_reader_token(ok, SECRET, policy=policy).id == "u-1"
    assert code_of(sign(claims(iat="yesterday")), policy=policy) == "invalid_token"
    assert code_of(sign(claims(iat=now + timedelta(hours=1))), policy=policy) == "invalid_token"


def test_demo_tokens_are_marked_and_accepted_in_demo_mode_only() -> None:
    token = mint_reader_token(Reader("u-d", "Dora", "reader", demo=True), SECRET,
                              ttl=timedelta(minutes=5))
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["demo"] is True
    assert code_of(token) == "invalid_token"
    assert verify_reader_token(token, SECRET, policy=TokenPolicy(accept_demo=True)).demo


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@given(
    sub=_JSON | st.text(), name=_JSON | st.text(), role=st.sampled_from(["reader", "moderator"])
    | _JSON, site=_JSON | st.from_regex(r"[a-z]{1,5}", fullmatch=True),
    lifetime_s=st.integers(-100, 10**9), iat=st.booleans(), demo=_JSON,
)
def test_any_signed_claims_give_a_reader_fit_for_events_or_a_401(
    sub: Any, name: Any, role: Any, site: Any, lifetime_s: int, iat: bool, demo: Any,
) -> None:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {"sub": sub, "name": name, "role": role, "site": site,
                               "demo": demo, "exp": now + timedelta(seconds=lifetime_s)}
    if iat:
        payload["iat"] = now
    try:
        token = sign(payload)
    except (TypeError, ValueError):
        return  # not even encodable: no site can send it
    code = None
    try:
        reader = verify_reader_token(token, SECRET, policy=TokenPolicy(accept_demo=True))
    except AuthError as exc:
        code = exc.code
    if code is not None:
        assert code in ("invalid_token", "expired_token")
        return
    # What the rules put into events from a token must pass the event models.
    assert Author(id=reader.id, name=reader.name).id == reader.id
