"""The audit log: append-only entries, each carrying the hash of the one before it.

`AuditChainHead` is a single row (id 1) holding the last entry's id and hash; an
append locks it, so two transactions never chain onto the same predecessor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..database import Base, JsonDocument

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first entry."""


class AuditEntry(Base):
    """Who did what to which subject, from which state to which, and why; never updated or deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_subject", "subject_type", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(63))
    subject_type: Mapped[str] = mapped_column(String(63))
    subject_id: Mapped[str] = mapped_column(String(63))
    from_state: Mapped[str | None] = mapped_column(String(63))
    to_state: Mapped[str | None] = mapped_column(String(63))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The end of the chain (one row, id 1): locked by every append."""

    __tablename__ = "audit_chain_heads"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_entry_id: Mapped[int | None]
    last_hash: Mapped[str] = mapped_column(String(64))
