"""Who is calling: the CMS's service token and readers' HS256 JWTs (pure, no I/O).

Reader tokens are signed by the site with the shared ``COMMENTFEED_JWT_SECRET``. They must
carry ``exp`` and ``sub``; ``sub`` is the user id, ``name`` the display name (``sub`` if
absent), ``role`` is ``reader`` (default) or ``moderator``. Only HS256 is accepted, so neither
``alg: none`` nor an algorithm swap gets through. Nothing here trusts ids or names sent in a
request body: a comment's author always comes from the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from commentfeed.channels import is_id
from commentfeed.errors import CommentfeedError

Role = Literal["reader", "moderator"]
ROLES: tuple[Role, ...] = ("reader", "moderator")
_MAX_NAME = 80


class AuthError(CommentfeedError):
    """A credential that proves nothing: missing, malformed, expired or forged.

    ``code`` is ``missing_token``, ``expired_token`` or ``invalid_token``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Reader:
    """A logged-in reader, as the site's token describes them."""

    id: str
    name: str
    role: Role

    @property
    def is_moderator(self) -> bool:
        return self.role == "moderator"


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


def verify_reader_token(token: str, secret: str, *, leeway_s: float = 5.0) -> Reader:
    """Check signature, expiry and claims of a reader JWT."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=leeway_s,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("expired_token", "the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid_token", f"the token is not valid: {exc}") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not is_id(sub):
        raise AuthError("invalid_token", "the token's sub is not a valid user id")
    name = claims.get("name", sub)
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > _MAX_NAME:
        raise AuthError("invalid_token", "the token's name claim must be 1-80 characters")
    role = claims.get("role", "reader")
    if role not in ROLES:
        raise AuthError("invalid_token", "the token's role must be 'reader' or 'moderator'")
    return Reader(id=sub, name=name.strip(), role=role)


def mint_reader_token(
    reader: Reader, secret: str, *, ttl: timedelta, now: datetime | None = None
) -> str:
    """A token like a site would issue (the demo login and tests use it)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": reader.id, "name": reader.name, "role": reader.role,
        "iat": issued, "exp": issued + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def demo_user_id(name: str) -> str:
    """A stable id for a demo display name: the same name logs in as the same user."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:40] or "user"
    digest = hashlib.sha256(name.strip().encode()).hexdigest()[:8]
    return f"u-{slug}-{digest}"
