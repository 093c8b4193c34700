"""Who is calling: the CMS's service token and readers' HS256 JWTs (pure, no I/O).

Reader tokens are signed by the site with the shared ``COMMENTFEED_JWT_SECRET``. They must
carry ``exp`` and ``sub``; ``sub`` is the user id, ``name`` the display name (``sub`` if
absent), ``role`` is ``reader`` (default) or ``moderator``, ``site`` the site the token is
good for (required for moderators: a moderator moderates one site). Only HS256 is accepted, so
neither ``alg: none`` nor an algorithm swap gets through. Optional ``iss``/``aud`` checks and a
maximum lifetime come from :class:`TokenPolicy`. Tokens minted by the demo login carry
``demo: true`` and are refused unless the policy accepts them (demo mode).

Every claim that reaches an event is checked with the event contract's own field types, so a
token that verifies can never make an invalid event: every defect is an :class:`AuthError`
(a 401), never a server error. Nothing here trusts ids or names sent in a request body: a
comment's author always comes from the token.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from pydantic import TypeAdapter, ValidationError

from commentfeed.errors import CommentfeedError
from commentfeed.events import Id, Name

Role = Literal["reader", "moderator"]
ROLES: tuple[Role, ...] = ("reader", "moderator")
_ID: TypeAdapter[str] = TypeAdapter(Id)
_NAME: TypeAdapter[str] = TypeAdapter(Name)


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
    #: The site the token is good for; None means any site (readers only).
    site: str | None = None
    #: Minted by the demo login.
    demo: bool = False

    @property
    def is_moderator(self) -> bool:
        return self.role == "moderator"

    def may_act_on(self, site: str) -> bool:
        return self.site is None or self.site == site

    def moderates(self, site: str) -> bool:
        return self.is_moderator and self.site == site


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What a reader token must satisfy beyond its signature."""

    leeway_s: float = 5.0
    issuer: str | None = None
    audience: str | None = None
    #: Longest allowed ``exp`` - ``iat`` (``exp`` - now without ``iat``); None: no limit.
    max_lifetime_s: float | None = 86_400.0
    accept_demo: bool = False


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


def _invalid(why: str) -> AuthError:
    return AuthError("invalid_token", f"the token is not valid: {why}")


def _checked(adapter: TypeAdapter[str], value: Any, claim: str) -> str:
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError:
        raise _invalid(f"its {claim} claim is not acceptable") from None


def verify_reader_token(
    token: str, secret: str, *, leeway_s: float | None = None,
    policy: TokenPolicy = TokenPolicy(), now: datetime | None = None,
) -> Reader:
    """Check signature, expiry and claims of a reader JWT; every defect is an AuthError."""
    leeway = policy.leeway_s if leeway_s is None else leeway_s
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=leeway,
            issuer=policy.issuer, audience=policy.audience,
            options={
                "require": ["exp", "sub", *(["iss"] if policy.issuer else []),
                            *(["aud"] if policy.audience else [])],
                # Without a configured audience a token's ``aud`` is the site's business.
                "verify_aud": policy.audience is not None,
            },
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("expired_token", "the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise _invalid(str(exc)) from None
    except Exception:  # a library bug must still be a 401, never a 500
        raise _invalid("it could not be decoded") from None
    if not isinstance(claims, dict):
        raise _invalid("its payload is not an object")
    sub = _checked(_ID, claims.get("sub"), "sub")
    name = _checked(_NAME, claims.get("name", sub), "name")
    role = claims.get("role", "reader")
    if not isinstance(role, str) or role not in ROLES:
        raise _invalid("its role must be 'reader' or 'moderator'")
    site = claims.get("site")
    site = None if site is None else _checked(_ID, site, "site")
    if role == "moderator" and site is None:
        raise _invalid("a moderator token must name its site (the site claim)")
    demo = claims.get("demo", False)
    if demo is not False and demo is not True:
        raise _invalid("its demo claim must be a boolean")
    if demo and not policy.accept_demo:
        raise _invalid("demo tokens are accepted in demo mode only")
    if policy.max_lifetime_s is not None:
        start = claims.get("iat")
        if start is None:
            start = (now or datetime.now(UTC)).timestamp()
        # jwt.decode checked that exp (and iat, if present) are numbers.
        if float(claims["exp"]) - float(start) > policy.max_lifetime_s + leeway:
            raise _invalid(f"it lives longer than {policy.max_lifetime_s:.0f} s")
    return Reader(id=sub, name=name, role="moderator" if role == "moderator" else "reader",
                  site=site, demo=demo)


def mint_reader_token(
    reader: Reader, secret: str, *, ttl: timedelta, now: datetime | None = None,
    issuer: str | None = None, audience: str | None = None,
) -> str:
    """A token like a site would issue (the demo login and tests use it)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": reader.id, "name": reader.name, "role": reader.role,
        "iat": issued, "exp": issued + ttl,
    }
    if reader.site is not None:
        claims["site"] = reader.site
    if reader.demo:
        claims["demo"] = True
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def demo_user_id(name: str, nonce: str) -> str:
    """A fresh id per demo login: two people who type the same name are two users."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:40] or "user"
    return f"u-{slug}-{nonce}"


def new_demo_nonce() -> str:
    return secrets.token_hex(6)
