"""Applications: the answers, the engine's state, uploaded documents and the timeline.

An application is pinned to the permit version it was started under
(`permit_version_id`), so its form, route and fees never change under it. The
engine's `ApplicationState` is kept as JSON in `engine_state`; `status` repeats
its status in a column so that lists can filter and sort on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User, enum_column_type
from ..businesses.models import Business
from ..database import Base, JsonDocument
from ..permits.models import PermitVersion
from ..workflow.state import ApplicationStatus

STATUS_LABELS: dict[ApplicationStatus, LazyString] = {
    ApplicationStatus.DRAFT: _l("Draft"),
    ApplicationStatus.IN_REVIEW: _l("In review"),
    ApplicationStatus.CORRECTION_REQUESTED: _l("Returned for correction"),
    ApplicationStatus.INFORMATION_REQUESTED: _l("Information requested"),
    ApplicationStatus.APPROVED: _l("Approved"),
    ApplicationStatus.REJECTED: _l("Rejected"),
    ApplicationStatus.WITHDRAWN: _l("Withdrawn"),
}


def status_label(status: ApplicationStatus) -> LazyString:
    """The status's name in the page's language."""
    return STATUS_LABELS[status]


class Application(Base):
    """One application for one permit, by one applicant for one of their businesses."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    permit_version_id: Mapped[int] = mapped_column(ForeignKey("permit_versions.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(enum_column_type(ApplicationStatus), index=True,
                                                      default=ApplicationStatus.DRAFT)
    engine_state: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    answers: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    pending_input: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    """Raw input of fields that failed their checks, by field id: kept so nothing typed is lost."""
    correction: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    """While returned: {"stage_id", "agency_id", "kind", "note", "fields", "documents"}."""
    current_step: Mapped[str | None] = mapped_column(String(63))
    submitted_at: Mapped[dt.datetime | None]
    expected_decision_on: Mapped[dt.date | None]
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    applicant: Mapped[User] = relationship()
    business: Mapped[Business] = relationship()
    permit_version: Mapped[PermitVersion] = relationship()
    documents: Mapped[list[ApplicationDocument]] = relationship(
        back_populates="application", order_by="ApplicationDocument.id", cascade="all, delete-orphan")
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="(ApplicationEvent.at, ApplicationEvent.id)",
        cascade="all, delete-orphan")

    @property
    def status_label(self) -> LazyString:
        """The status's name in the page's language."""
        return STATUS_LABELS[self.status]

    @property
    def owner_id(self) -> int:
        """Who owns the application (for `owned_or_404`): its applicant."""
        return self.applicant_id


class ApplicationDocument(Base):
    """The file uploaded for one checklist item of an application (one per item; replacing overwrites)."""

    __tablename__ = "application_documents"
    __table_args__ = (UniqueConstraint("application_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(String(63))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(300))
    """Relative to the uploads folder: `<sha256[:2]>/<sha256>`."""
    uploaded_at: Mapped[dt.datetime]

    application: Mapped[Application] = relationship(back_populates="documents")


class ApplicationEvent(Base):
    """A line of the application's timeline, written from the engine's effects in the same transaction."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    stage_id: Mapped[str | None] = mapped_column(String(63))
    agency_id: Mapped[str | None] = mapped_column(String(63))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    application: Mapped[Application] = relationship(back_populates="events")
