"""API tokens and idempotency keys.

A token's secret is shown once and never stored: the row keeps its SHA-256
(the secret is 256 random bits, so a plain hash cannot be guessed back) and
the first characters, so a user can tell their tokens apart. An idempotency
key remembers the first answer to a creating or deciding POST, so a retry gets
that answer instead of a second application or decision.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..database import Base, JsonDocument


class ApiToken(Base):
    """A bearer token acting as its user, with that user's role; refused once revoked, expired or the user inactive."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the whole secret (`bzp_...`)."""
    prefix: Mapped[str] = mapped_column(String(12))
    """The secret's first characters, shown in lists so a user can recognise a token."""
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    def usable_at(self, now: dt.datetime) -> bool:
        """Neither revoked nor expired at `now`, and its user still active."""
        return (self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
                and self.user.is_active)


class IdempotencyKey(Base):
    """The first answer to a POST sent with `Idempotency-Key`; `status_code` is null while it is being made."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_api_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of the request body (JSON canonicalised, uploads by content)."""
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[dt.datetime]
