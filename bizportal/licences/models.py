"""Licences: one row per issued licence, the per-type yearly counters that number them, and renewals.

A licence row is written in the transaction that approves its application (status
`pending`); the render job stores the PDF and marks it `issued`. Numbers come from
`LicenceCounter`, locked and incremented in that same transaction, so a number is
never used twice and a rolled-back approval leaves no gap.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import enum_column_type
from ..applications.models import Application
from ..database import Base


class LicenceStatus(StrEnum):
    """Pending (row written, PDF not yet rendered), issued, suspended, revoked or expired."""

    PENDING = "pending"
    ISSUED = "issued"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


STATUS_LABELS: dict[LicenceStatus, LazyString] = {
    LicenceStatus.PENDING: _l("Being issued"),
    LicenceStatus.ISSUED: _l("Valid"),
    LicenceStatus.SUSPENDED: _l("Suspended"),
    LicenceStatus.REVOKED: _l("Revoked"),
    LicenceStatus.EXPIRED: _l("Expired"),
}


class Licence(Base):
    """A licence issued on one approved application."""

    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(80), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    permit_type_id: Mapped[int] = mapped_column(ForeignKey("permit_types.id"), index=True)
    permit_version_id: Mapped[int] = mapped_column(ForeignKey("permit_versions.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    business_name_th: Mapped[str] = mapped_column(String(200))
    business_name_en: Mapped[str | None] = mapped_column(String(200))
    premises_address: Mapped[str | None] = mapped_column(Text)
    year_be: Mapped[int]
    sequence: Mapped[int]
    valid_from: Mapped[dt.date]
    valid_until: Mapped[dt.date | None] = mapped_column(index=True)
    status: Mapped[LicenceStatus] = mapped_column(enum_column_type(LicenceStatus), index=True,
                                                  default=LicenceStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None]
    approved_at: Mapped[dt.datetime]
    issued_at: Mapped[dt.datetime | None]
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    file_path: Mapped[str | None] = mapped_column(String(300))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_token: Mapped[str | None] = mapped_column(Text)
    renews_licence_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id"), unique=True)
    created_at: Mapped[dt.datetime]

    application: Mapped[Application] = relationship()
    renews: Mapped[Licence | None] = relationship(remote_side=[id], foreign_keys=[renews_licence_id],
                                                  back_populates="renewed_by")
    renewed_by: Mapped[Licence | None] = relationship(foreign_keys=[renews_licence_id], back_populates="renews",
                                                      uselist=False)

    @property
    def status_label(self) -> LazyString:
        """The status in the page's language."""
        return STATUS_LABELS[self.status]

    def public_status(self, today: dt.date) -> LicenceStatus:
        """What a third party is told: an issued licence past its last day reads as expired at once."""
        if self.status is LicenceStatus.ISSUED and self.valid_until is not None and self.valid_until < today:
            return LicenceStatus.EXPIRED
        return self.status


class LicenceCounter(Base):
    """The last sequence number used for one permit type in one Buddhist-Era year."""

    __tablename__ = "licence_counters"
    __table_args__ = (UniqueConstraint("permit_type_id", "year_be"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_type_id: Mapped[int] = mapped_column(ForeignKey("permit_types.id"))
    year_be: Mapped[int]
    last_seq: Mapped[int] = mapped_column(default=0)


class LicenceRenewal(Base):
    """A draft application started as the renewal of a licence; its licence continues that one."""

    __tablename__ = "licence_renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), unique=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"), index=True)
    started_at: Mapped[dt.datetime]
