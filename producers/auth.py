"""Who is calling over HTTP: the CMS's service token and the ``Authorization: Bearer`` header.

Reader tokens themselves (claims, roles, policy, verification) are :mod:`commentfeed.tokens`,
shared with the gateway; their names are re-exported here for the ingest API's modules. Nothing
here trusts ids or names sent in a request body: a comment's author always comes from the token.
"""

from __future__ import annotations

import re
import secrets

from commentfeed.tokens import (
    ROLES,
    AuthError,
    Reader,
    Role,
    TokenPolicy,
    mint_reader_token,
    policy_from_settings,
    verify_reader_token,
)

__all__ = [
    "ROLES", "AuthError", "Reader", "Role", "TokenPolicy", "bearer_token", "check_service_token",
    "demo_user_id", "mint_reader_token", "new_demo_nonce", "policy_from_settings",
    "verify_reader_token",
]


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        raise AuthError("missing_token", "an Authorization: Bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing_token", "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def check_service_token(token: str, expected: str) -> None:
    """Constant-time comparison, so response timing does not leak the token."""
    if not secrets.compare_digest(token.encode(), expected.encode()):
        raise AuthError("invalid_token", "not the service token")


def demo_user_id(name: str, nonce: str) -> str:
    """A fresh id per demo login: two people who type the same name are two users."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:40] or "user"
    return f"u-{slug}-{nonce}"


def new_demo_nonce() -> str:
    return secrets.token_hex(6)
