"""Service token and reader JWTs: what is accepted, and why everything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from producers.auth import (
    AuthError,
    Reader,
    bearer_token,
    check_service_token,
    demo_user_id,
    mint_reader_token,
    verify_reader_token,
)

SECRET = "unit-test-secret-long-enough-for-hs256-signing"


def sign(claims: dict[str, object], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def future() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


def code_of(token: str, secret: str = SECRET) -> str:
    with pytest.raises(AuthError) as caught:
        verify_reader_token(token, secret, leeway_s=0)
    return caught.value.code


def test_a_minted_token_round_trips() -> None:
    reader = Reader("u-ann", "Ann", "moderator")
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


def test_demo_user_ids_are_stable_and_valid() -> None:
    assert demo_user_id("Dora Explorer") == demo_user_id(" Dora Explorer ")
    assert demo_user_id("Dora") != demo_user_id("dora")
    assert demo_user_id("Ünïcødé ☃").startswith("u-")
    assert len(demo_user_id("x" * 80)) <= 64
