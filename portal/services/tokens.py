"""Tokens of the JSON API: short-lived JWT access tokens and rotating, opaque refresh tokens.

Access tokens are JWTs (HS256) valid ACCESS_TOKEN_TTL (1 hour), carrying the user id and role.
They are signed with a key of their own, derived from SECRET_KEY unless JWT_SECRET_KEY is set,
and carry an audience and type="access", so no other token the app signs (a local video
token, a cursor) is ever taken for one.

Refresh tokens are 256 random bits, handed out once and stored only as their SHA-256. Each
belongs to a family (one sign-in); it is valid REFRESH_TOKEN_TTL (7 days) and never beyond
the family's absolute limit, REFRESH_FAMILY_TTL (30 days). Every use spends it and issues
the next one of the family. The spend is one conditional UPDATE ... RETURNING, so of two
requests presenting the same token exactly one wins: the other finds it spent, which is
what a stolen token looks like, and the whole family is revoked (the winner's new token
included). They live in PostgreSQL, not Redis: a Redis failover could undo a rotation.
"""

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import jwt
from flask import current_app
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import RefreshToken, User, utcnow
from portal.services.authz import Principal, principal_select

ALGORITHM = "HS256"
AUDIENCE = "portal-api"
ISSUER = "portal"
ACCESS_TYPE = "access"
REFRESH_TOKEN_BYTES = 32  # 256 bits

_tokens = RefreshToken.__table__  # Core statements: no ORM bookkeeping on the hot path

# Every API request resolves its token to these columns: one row, no ORM entities, and a
# statement built once (history._history_statement says why).
_PRINCIPAL = principal_select(User.password_changed_at)


class InvalidToken(Exception):
    """A token that grants nothing: `code` is stable for the API, `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user: User


def _signing_key() -> bytes:
    """JWT_SECRET_KEY, or a key derived from SECRET_KEY for access tokens only."""
    return _derived_key(current_app.config.get("JWT_SECRET_KEY"), current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8)
def _derived_key(configured: str | None, secret: str) -> bytes:
    """Derived once per pair of settings, not on every request."""
    if configured:
        return configured.encode()
    return hmac.new(secret.encode(), b"portal api access tokens", hashlib.sha256).digest()


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest stored in place of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access_token(user: User, now: datetime | None = None) -> str:
    """A signed JWT for the user, valid ACCESS_TOKEN_TTL from `now`."""
    now = now or utcnow()
    ttl: timedelta = current_app.config["ACCESS_TOKEN_TTL"]
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user.id),
        "role": user.role,
        "type": ACCESS_TYPE,
        # To the microsecond (RFC 7519 allows a fraction): a token issued in the second of a
        # password change, before it, is refused, and one issued after it is not.
        "iat": now.timestamp(),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM)


@functools.lru_cache(maxsize=2048)
def _verified_claims(token: str, key: bytes) -> MappingProxyType:
    """The claims of a token whose signature, algorithm, audience, issuer and required claims
    check out under this key (PyJWTError otherwise), remembered per token: a mobile app sends
    the same token for up to an hour, and checking it cost 66-69 us of CPU each time here.
    Only what cannot change is remembered: the caller judges expiry on every use, and the
    user's state is read from the database on every request. Refusals are not remembered."""
    claims = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"], "verify_exp": False},
    )
    if not isinstance(claims["exp"], int | float):
        raise jwt.InvalidTokenError("exp is not a number")
    return MappingProxyType(claims)


def principal_for_access_token(token: str) -> Principal:
    """The active user an access token was issued to; InvalidToken for anything else.

    Refused: a bad signature, another algorithm, expiry, a token of another kind, a user
    who is gone or deactivated, and a token issued before the user's last password change.
    """
    try:
        claims = _verified_claims(token, _signing_key())
    except jwt.PyJWTError:
        raise InvalidToken("invalid_token", "The access token is not valid.") from None
    if claims["exp"] <= time.time():  # as jwt.decode judges it, on every use
        raise InvalidToken("token_expired", "The access token has expired.")
    subject = claims["sub"]
    if claims.get("type") != ACCESS_TYPE or not subject.isdigit() or len(subject) > 18:
        raise InvalidToken("invalid_token", "The access token is not valid.")
    row = db.session.connection().execute(_PRINCIPAL, {"user_id": int(subject)}).first()
    if row is None:
        raise InvalidToken("invalid_token", "The access token is not valid.")
    principal = Principal(*row[:6])
    if not principal.active or principal.role != claims.get("role"):
        raise InvalidToken("invalid_token", "The access token is not valid.")
    if claims["iat"] < row.password_changed_at.timestamp():
        raise InvalidToken("invalid_token", "The password has changed; please sign in again.")
    return principal


def _new_refresh_token(
    user_id: int, family: str, now: datetime, family_expires_at: datetime
) -> tuple[str, RefreshToken]:
    """A fresh token of a family, added to the session (the caller commits)."""
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    expires_at = min(now + current_app.config["REFRESH_TOKEN_TTL"], family_expires_at)
    row = RefreshToken(
        user_id=user_id,
        family=family,
        token_hash=hash_refresh_token(token),
        issued_at=now,
        expires_at=expires_at,
        family_expires_at=family_expires_at,
    )
    db.session.add(row)
    return token, row


def _pair(user: User, token: str, row: RefreshToken, now: datetime) -> TokenPair:
    return TokenPair(
        access_token=issue_access_token(user, now),
        expires_in=int(current_app.config["ACCESS_TOKEN_TTL"].total_seconds()),
        refresh_token=token,
        refresh_expires_in=int((row.expires_at - now).total_seconds()),
        user=user,
    )


def issue_tokens(user: User, now: datetime | None = None) -> TokenPair:
    """Sign-in: an access token and the first refresh token of a new family; commits."""
    now = now or utcnow()
    family_expires_at = now + current_app.config["REFRESH_FAMILY_TTL"]
    token, row = _new_refresh_token(user.id, str(uuid.uuid4()), now, family_expires_at)
    db.session.commit()
    return _pair(user, token, row, now)


def _spend(token_hash: str, now: datetime):
    """UPDATE ... WHERE not spent and not revoked ... RETURNING: of concurrent spends, one wins.

    A second transaction presenting the same token waits on the row lock of the first, then
    re-reads the row, finds it spent and updates nothing (PostgreSQL's READ COMMITTED).
    """
    return db.session.execute(
        update(_tokens)
        .where(
            _tokens.c.token_hash == token_hash,
            _tokens.c.spent_at.is_(None),
            _tokens.c.revoked_at.is_(None),
        )
        .values(spent_at=now)
        .returning(
            _tokens.c.user_id,
            _tokens.c.family,
            _tokens.c.expires_at,
            _tokens.c.family_expires_at,
        )
    ).one_or_none()


def _family_of(token_hash: str) -> str | None:
    return db.session.scalar(select(_tokens.c.family).where(_tokens.c.token_hash == token_hash))


def _revoke_family(family: str, now: datetime) -> int:
    result = db.session.execute(
        update(_tokens)
        .where(_tokens.c.family == family, _tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


def rotate_refresh_token(presented: str, now: datetime | None = None) -> TokenPair:
    """Spend a refresh token and issue the next pair of its family; commits.

    InvalidToken when the token is unknown, expired, or its user is deactivated. A token
    that was already spent or revoked is taken as stolen: its whole family is revoked.
    """
    now = now or utcnow()
    token_hash = hash_refresh_token(presented)
    spent = _spend(token_hash, now)
    if spent is None:
        db.session.rollback()
        raise _unusable(token_hash, now)
    if spent.expires_at <= now or spent.family_expires_at <= now:
        db.session.rollback()  # an expired token stays as it was; it grants nothing
        raise InvalidToken("refresh_token_expired", "The session has expired; please sign in.")
    user = db.session.get(User, spent.user_id)
    if user is None or not user.active:
        _revoke_family(spent.family, now)
        db.session.commit()
        raise InvalidToken("invalid_token", "The refresh token is not valid.")
    token, row = _new_refresh_token(user.id, spent.family, now, spent.family_expires_at)
    db.session.commit()
    return _pair(user, token, row, now)


def _unusable(token_hash: str, now: datetime) -> InvalidToken:
    """Why a token could not be spent: unknown, or reused, which revokes its family (commits)."""
    family = _family_of(token_hash)
    if family is None:
        return InvalidToken("invalid_token", "The refresh token is not valid.")
    _revoke_family(family, now)
    db.session.commit()
    return InvalidToken(
        "refresh_token_reused",
        "This refresh token was used already; every session it belonged to is signed out.",
    )


def revoke_family_of(presented: str, now: datetime | None = None) -> bool:
    """Sign-out: revoke the family of this refresh token, in any state; commits.

    True when the token was ours. Signing out twice, or with a token we never issued,
    changes nothing.
    """
    now = now or utcnow()
    family = _family_of(hash_refresh_token(presented))
    if family is None:
        db.session.rollback()
        return False
    _revoke_family(family, now)
    db.session.commit()
    return True


def revoke_all_for_user(user_id: int, now: datetime | None = None, commit: bool = True) -> int:
    """Revoke every refresh token of a user (deactivation, password change); the count revoked.

    Their access tokens stop working at once as well: each request loads the user and refuses
    an inactive one, or a token issued before the last password change.
    """
    result = db.session.execute(
        update(_tokens)
        .where(_tokens.c.user_id == user_id, _tokens.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    if commit:
        db.session.commit()
    return result.rowcount
