"""Review tasks: one row per stage of an application that waits on an agency.

Rows follow the engine's task effects (opened, paused, resumed, overdue, closed) in
the transaction that applied them. `version_id` is SQLAlchemy's optimistic lock: a
decision made on a version someone else has since changed fails instead of counting twice.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User, enum_column_type
from ..applications.models import Application
from ..database import Base


class TaskStatus(StrEnum):
    """Where a review task stands: waiting on the agency, on the applicant, or finished."""

    OPEN = "open"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


TASK_STATUS_LABELS: dict[TaskStatus, LazyString] = {
    TaskStatus.OPEN: _l("Open"),
    TaskStatus.PAUSED: _l("Waiting on the applicant"),
    TaskStatus.DONE: _l("Done"),
    TaskStatus.CANCELLED: _l("Cancelled"),
}


class ReviewTask(Base):
    """A stage of one application for one agency: who has it, when it is due, how it ended."""

    __tablename__ = "review_tasks"
    __table_args__ = (Index("ix_review_tasks_queue", "agency_id", "status", "due_on", "id"),
                      Index("ix_review_tasks_queue_permit", "agency_id", "status", "permit_type_id", "due_on", "id"),
                      Index("ix_review_tasks_assignee", "assignee_id", "status", "due_on", "id"),
                      Index("ix_review_tasks_due", "due_on", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    permit_type_id: Mapped[int] = mapped_column(ForeignKey("permit_types.id"))
    """Copied from the application's permit version: the queue filters by it without joining."""
    stage_id: Mapped[str] = mapped_column(String(63))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    status: Mapped[TaskStatus] = mapped_column(enum_column_type(TaskStatus), default=TaskStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[dt.date]
    overdue: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    version_id: Mapped[int] = mapped_column()

    application: Mapped[Application] = relationship()
    assignee: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version_id}

    @property
    def status_label(self) -> LazyString:
        """The status in the page's language."""
        return TASK_STATUS_LABELS[self.status]

    @property
    def is_active(self) -> bool:
        """Open or paused: not finished."""
        return self.status in (TaskStatus.OPEN, TaskStatus.PAUSED)
