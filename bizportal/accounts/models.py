"""Users with their role, failed login attempts and the e-mail outbox.

A user's `session_version` is part of the identity kept in the session cookie
(`get_id()` gives `"<id>.<session_version>"`). Logging out, changing or
resetting the password bump it, so a copied cookie stops working at once.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import Enum, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ..database import Base

EMAIL_MAX_LENGTH = 254


class Role(StrEnum):
    """What a user may do: entrepreneurs apply, officers decide for one agency, admins run the portal."""

    ENTREPRENEUR = "entrepreneur"
    OFFICER = "officer"
    ADMIN = "admin"

    @property
    def label(self) -> LazyString:
        """The role's name in the page's language."""
        return ROLE_LABELS[self]


ROLE_LABELS = {Role.ENTREPRENEUR: _l("Entrepreneur"), Role.OFFICER: _l("Officer"), Role.ADMIN: _l("Administrator")}


def enum_column_type(enum: type[StrEnum]) -> Enum:
    """Store a StrEnum by its value as VARCHAR, without a database enum type to migrate."""
    return Enum(enum, native_enum=False, length=max(len(member.value) for member in enum),
                values_callable=lambda members: [member.value for member in members], validate_strings=True)


class User(Base):
    """A person who logs in: an entrepreneur, an officer of one agency, or an admin.

    `email` is stored lowercased and is unique. Flask-Login's protocol is
    implemented here directly (no mixin) so the model needs nothing of Flask.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column_type(Role), default=Role.ENTREPRENEUR)
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5), default="th")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_agency_lead: Mapped[bool] = mapped_column(default=False, server_default=false())
    """An officer who may hand the agency's tasks to a colleague (admins always may)."""
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime]

    @property
    def is_authenticated(self) -> bool:
        """Flask-Login: a stored user is always a logged-in user."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Flask-Login: never anonymous."""
        return False

    def get_id(self) -> str:
        """Flask-Login: the identity kept in the session, bound to the current session version."""
        return f"{self.id}.{self.session_version}"

    def has_role(self, *roles: Role) -> bool:
        """True when the user has one of `roles`."""
        return self.role in roles


class LoginAttempt(Base):
    """A failed login, counted per e-mail and address to slow down password guessing.

    Stored in the database so that every worker process sees the same count.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_ip_address_attempted_at", "email", "ip_address",
                            "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    ip_address: Mapped[str] = mapped_column(String(45))
    attempted_at: Mapped[dt.datetime]


class OutboxEmail(Base):
    """Every e-mail the portal sends, written in the transaction that caused it.

    It is delivered after commit, by SMTP when configured, else to the log; in
    development the inbox page `/dev/inbox` shows these rows.
    """

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), index=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
