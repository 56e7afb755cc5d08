"""What the admin jobs page reads: jobs of one status, newest first, a page at a time (keyset, never OFFSET)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from .models import Job, JobStatus

PAGE_SIZE = 50
PAYLOAD_SUMMARY_CHARS = 120


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the `(run_after, id)` of its last job; the next page starts after it."""

    run_after: dt.datetime
    job_id: int

    def token(self) -> str:
        """`<microseconds since the epoch>-<id>`, for the page's "older jobs" link."""
        return f"{int(self.run_after.timestamp() * 1_000_000)}-{self.job_id}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """The cursor of `token`, or None for the first page (an unreadable token also gives the first page)."""
        if not token:
            return None
        micros, _, job_id = token.partition("-")
        try:
            moment = dt.datetime.fromtimestamp(int(micros) / 1_000_000, dt.UTC)
            return cls(moment, int(job_id))
        except (ValueError, OverflowError, OSError):
            return None


@dataclass(frozen=True)
class JobsPage:
    """One page of jobs and the cursor of the next one, if there is one."""

    jobs: list[Job]
    next_cursor: Cursor | None


def jobs_page(session: Session, status: JobStatus, after: Cursor | None, size: int = PAGE_SIZE) -> JobsPage:
    """Jobs with `status`, latest `run_after` first, after `after`; one statement on the (status, run_after, id)
    index."""
    query = select(Job).where(Job.status == status)
    if after is not None:
        # A row-value comparison: PostgreSQL reads it as a range of the index (an OR of the parts it cannot).
        query = query.where(tuple_(Job.run_after, Job.id) < (after.run_after, after.job_id))
    jobs = list(session.scalars(query.order_by(Job.run_after.desc(), Job.id.desc()).limit(size + 1)))
    next_cursor = Cursor(jobs[size - 1].run_after, jobs[size - 1].id) if len(jobs) > size else None
    return JobsPage(jobs[:size], next_cursor)


def status_counts(session: Session) -> dict[JobStatus, int]:
    """How many jobs are pending and failed (done jobs are not counted: there are many and nobody waits on them)."""
    counted = {JobStatus.PENDING: 0, JobStatus.FAILED: 0}
    rows = session.execute(select(Job.status, func.count()).where(Job.status.in_(list(counted)))
                           .group_by(Job.status))
    for status, count in rows:
        counted[status] = count
    return counted


def payload_summary(job: Job) -> str:
    """The payload as compact JSON, cut to `PAYLOAD_SUMMARY_CHARS` (payloads hold ids, not personal data)."""
    text = json.dumps(job.payload, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= PAYLOAD_SUMMARY_CHARS else text[:PAYLOAD_SUMMARY_CHARS - 1] + "…"
