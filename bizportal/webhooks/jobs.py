"""The `webhooks.deliver` job: POST one delivery, retried with backoff by the jobs system."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..jobs.registry import handler
from .services import DELIVER_JOB, deliver, record_failure

BACKOFF = (10, 60, 300, 1800, 7200)
"""10 s, 1 min, 5 min, 30 min, then every 2 h: a receiver down for a deploy catches up, one down for the day
fails and waits for an admin."""


@handler(DELIVER_JOB, queue="notifications", max_attempts=8, backoff=BACKOFF, on_failure=record_failure)
def deliver_job(session: Session, payload: dict[str, Any]) -> None:
    """Send delivery `payload["delivery_id"]`; raises on a failed attempt so that it is retried."""
    deliver(session, int(payload["delivery_id"]))
