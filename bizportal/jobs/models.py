"""The jobs outbox: one row per piece of background work, written in the transaction that caused it.

Redis only carries job ids. A job is done when its row says so, and its handler's
writes commit in the same transaction as that mark, so running a job twice
changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..accounts.models import enum_column_type
from ..database import Base, JsonDocument


class JobStatus(StrEnum):
    """Pending (waiting or being retried), done, or failed for good (an admin may retry it)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """A unit of background work: its kind (the handler), its payload, and how its attempts went."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    queue: Mapped[str] = mapped_column(String(31))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[JobStatus] = mapped_column(enum_column_type(JobStatus), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    run_after: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    @property
    def rq_id(self) -> str:
        """The id of the RQ job carrying its next attempt (see `rq_job_id`)."""
        return rq_job_id(self.id, self.attempts)


def rq_job_id(job_id: int, attempt: int) -> str:
    """`bizportal-job-<row id>-<attempts made before>`: one RQ job per attempt.

    Delivering the same attempt twice reuses the id, so Redis holds one copy; a retry
    gets a new id, so it never overwrites the RQ job that is still finishing the
    attempt that failed. `attempts` only grows (an admin's retry raises
    `max_attempts` instead of resetting it), so an id is never reused.
    """
    return f"bizportal-job-{job_id}-{attempt}"
