"""Bearer-token authentication: HS256 JWTs signed with EVPM_JWT_SECRET."""

from __future__ import annotations

import datetime as dt

import jwt

ALGORITHM = "HS256"


def mint_token(secret: str, subject: str = "integrator", days: float = 30.0) -> str:
    """A signed token for `subject`, valid for `days`."""
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
        jwt.decode(token.strip(), secret, algorithms=[ALGORITHM],
                   options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        return "token expired; mint a new one with `evpm api token`"
    except jwt.InvalidTokenError as exc:
        return f"invalid token: {exc}"
    return None
