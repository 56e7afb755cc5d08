"""API token services: create (the secret is returned once), revoke, list, and authenticate a bearer secret.

Plain functions with the session and the clock passed in, shared by the CLI,
the settings page and the API's authentication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import Update, select, update
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..errors import BizportalError, NotFound
from .models import ApiToken

SECRET_PREFIX = "bzp_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
"""`last_used_at` is written at most this often per token, so reads stay reads."""
NAME_MAX_LENGTH = 100
MAX_LIFETIME_DAYS = 3650


class InvalidToken(BizportalError):
    """A token request with bad input (name, expiry)."""

    status = 400
    title = _l("The token could not be created")


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its secret; the secret exists only here, never in the database."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a secret: enough for 256 random bits, and cheap on every request."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_expiry(text: str | None, now: dt.datetime) -> dt.datetime | None:
    """`2027-01-31` (end of that day, UTC) or `30d` from `now`; None or empty means never."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    days = re.fullmatch(r"(\d{1,4})d", text)
    if days:
        count = int(days.group(1))
        if not 1 <= count <= MAX_LIFETIME_DAYS:
            raise InvalidToken(_l("A token may last from 1 to %(days)d days.", days=MAX_LIFETIME_DAYS))
        return now + dt.timedelta(days=count)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidToken(_l("Give the expiry as a date (2027-01-31) or a number of days (30d).")) from None
    expires = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
    if expires <= now:
        raise InvalidToken(_l("The expiry date must be in the future."))
    if expires > now + dt.timedelta(days=MAX_LIFETIME_DAYS):
        raise InvalidToken(_l("A token may last from 1 to %(days)d days.", days=MAX_LIFETIME_DAYS))
    return expires


def create_token(session: Session, user: User, name: str, expires_at: dt.datetime | None,
                 now: dt.datetime) -> CreatedToken:
    """A new token for `user` (active users only); the secret is returned once and stored only hashed."""
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidToken(_l("Give the token a name of at most %(count)d characters.", count=NAME_MAX_LENGTH))
    if not user.is_active:
        raise InvalidToken(_l("This account is not active."))
    if expires_at is not None and expires_at <= now:
        raise InvalidToken(_l("The expiry date must be in the future."))
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, user=user, name=name, secret_hash=hash_secret(secret),
                     prefix=secret[:12], created_at=now, expires_at=expires_at)
    session.add(token)
    session.flush()
    return CreatedToken(token, secret)


def revoke_token(session: Session, token_id: int, now: dt.datetime, owner: User | None = None) -> ApiToken:
    """Revoke a token (idempotent); with `owner`, only one of theirs (another user's token is 'not found')."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner is not None and token.user_id != owner.id):
        raise NotFound(_l("There is no such token."))
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
    return token


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """Tokens, newest first; of one user when given."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query).unique())


def token_for_secret(session: Session, secret: str, now: dt.datetime) -> ApiToken | None:
    """The usable token with this secret, or None (unknown, revoked, expired, or its user inactive)."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret))).first()
    if token is None or not token.usable_at(now):
        return None
    return token


def needs_last_used_update(token: ApiToken, now: dt.datetime) -> bool:
    """Whether `last_used_at` is old enough to be written again."""
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION


def touch_statement(token_id: int, now: dt.datetime) -> Update:
    """The UPDATE that records a use; run on its own short transaction so a read request stays a read."""
    return update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)

