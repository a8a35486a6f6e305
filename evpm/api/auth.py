"""Bearer-token authentication: HS256 JWTs signed with EVPM_JWT_SECRET; `@public` views.

Closed by default: with a secret set, every view of the API needs a valid token unless it is
marked `@public` (the inverse of a per-view login_required), so a new view cannot be left
open by forgetting a list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import jwt

from evpm.errors import EvpmError

ALGORITHM = "HS256"
MAX_TOKEN_DAYS = 365  # a token that never expires is a key that can never be taken back
_LEEWAY = dt.timedelta(minutes=5)  # clocks of the minting and the checking machine differ
_PUBLIC = "evpm_public"  # the attribute `public` sets on a view function

View = TypeVar("View", bound=Callable)


def public(view: View) -> View:
    """Mark a view as open without a token (health checks, metrics, the API's contract)."""
    setattr(view, _PUBLIC, True)
    return view


def is_public(view: Callable) -> bool:
    """True for a view marked `@public`."""
    return getattr(view, _PUBLIC, False)


def mint_token(secret: str, subject: str = "integrator", days: float = 30.0) -> str:
    """A signed token for `subject`, valid for `days` (at most MAX_TOKEN_DAYS)."""
    if not subject.strip():
        raise EvpmError("a token needs a subject: who it is for")
    if not 0 < days <= MAX_TOKEN_DAYS:
        raise EvpmError(f"days must be more than 0 and at most {MAX_TOKEN_DAYS}")
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": subject, "iat": now, "exp": now + dt.timedelta(days=days)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def check_header(header: str | None, secret: str) -> str | None:
    """None if the Authorization header carries a valid token, else the reason it does not."""
    if not header:
        return "missing Authorization header; send 'Authorization: Bearer <token>'"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization header must be 'Bearer <token>'"
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        return "token expired; mint a new one with `evpm api token`"
    except jwt.InvalidTokenError as exc:
        return f"invalid token: {exc}"
    if not isinstance(claims["sub"], str) or not claims["sub"].strip():
        return "invalid token: empty subject (sub)"
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(days=MAX_TOKEN_DAYS) + _LEEWAY
    if claims["exp"] > latest.timestamp():
        return f"invalid token: expires more than {MAX_TOKEN_DAYS} days ahead; mint one " \
               "with `evpm api token`"
    return None
