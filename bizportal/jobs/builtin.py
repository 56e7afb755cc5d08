"""Handlers that belong to no domain: a no-op and a self-test that show workers carry out jobs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy.orm import Session

from ..audit.services import record
from .registry import handler

SELFTEST_MAX_SLEEP = 60.0
"""The longest a self-test job may sleep, in seconds."""


class SelftestFailure(RuntimeError):
    """The failure a self-test job was asked to raise (to see retries and the admin page at work)."""


@handler("jobs.ping", queue="default")
def ping(_session: Session, _payload: dict[str, Any]) -> None:
    """Do nothing: `bizportal jobs ping` proves a worker takes jobs from the queues."""


@handler("jobs.selftest", queue="default", max_attempts=3, backoff=(1, 2))
def selftest(session: Session, payload: dict[str, Any]) -> None:
    """Sleep `payload["sleep"]` seconds, then append a `job_selftest` audit entry for `payload["marker"]`.

    A slow job with an effect in the database: the fault tests kill workers in the
    middle of it and count the entries (exactly one per job). With `"fail": true` it
    raises `SelftestFailure` instead, at every attempt.
    """
    time.sleep(min(max(float(payload.get("sleep", 0)), 0.0), SELFTEST_MAX_SLEEP))
    if payload.get("fail"):
        raise SelftestFailure(f"self-test {payload.get('marker', '')} failed as asked")
    record(session, at=dt.datetime.now(dt.UTC), actor_id=None, action="job_selftest", subject_type="job",
           subject_id=str(payload.get("marker", ""))[:60])
