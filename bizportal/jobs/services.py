"""Scheduling, running and reconciling jobs.

`schedule` writes the job row in the caller's transaction and, once that commits,
hands the id to RQ (or, with no `REDIS_URL`, runs it in-process through the same
`perform`). `perform` locks the row, runs the handler and marks the row done in one
transaction: a second delivery finds it done (or locked) and does nothing. Anything
Redis lost — it was down, a worker was killed — is still pending in the table, and
`reconcile` enqueues it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.services import record
from ..database import after_commit, unit_of_work
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from ..ops.logs import bound_request_id, current_request_id
from .models import Job, JobStatus, rq_job_id
from .registry import kind

logger = logging.getLogger(__name__)

PERFORM = "bizportal.jobs.services.perform"
"""What RQ runs: a dotted path, so enqueuing needs no import of the handlers."""

RQ_OPTIONS: dict[str, Any] = {"result_ttl": 3600, "failure_ttl": 86400, "job_timeout": 600}
"""RQ keeps results an hour and failures a day; the row is the record that lasts. A job over 10 minutes is
stopped and counts as a failed attempt."""
MAX_ERROR_LENGTH = 4000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


REQUEST_ID_KEY = "_request_id"
"""Payload key holding the scheduling request's id; removed before the handler sees the payload."""


def schedule(session: Session, name: str, payload: dict[str, Any], now: dt.datetime, *,
             dedupe_key: str | None = None) -> Job:
    """Write a job row in the caller's transaction; it is dispatched after the commit.

    With `dedupe_key`, scheduling the same work twice returns the existing row.
    Raises `KeyError` when no handler is registered for `name`.
    """
    job_kind = kind(name)
    if dedupe_key is not None:
        existing = session.scalars(select(Job).where(Job.dedupe_key == dedupe_key)).first()
        if existing is not None:
            return existing
    request_id = current_request_id()
    if request_id is not None:  # the job's log lines will carry the id of the request that asked for it
        payload = {**payload, REQUEST_ID_KEY: request_id}
    job = Job(kind=name, queue=job_kind.queue, payload=payload, dedupe_key=dedupe_key, status=JobStatus.PENDING,
              attempts=0, max_attempts=job_kind.max_attempts, run_after=now, created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    _dispatch_after_commit(session, Delivery(job.id, job.queue, job.attempts))
    return job


@dataclass(frozen=True)
class Delivery:
    """What Redis needs to carry one attempt of a job: its row id, queue and attempt number.

    Taken from the row while it is at hand, so dispatching never reads the database
    (and never leaves a transaction open on the caller's session).
    """

    job_id: int
    queue: str
    attempt: int

    @property
    def rq_id(self) -> str:
        """The RQ job id of this attempt."""
        return rq_job_id(self.job_id, self.attempt)

    @classmethod
    def of(cls, job: Job) -> Delivery:
        """The delivery of `job`'s next attempt."""
        return cls(job.id, job.queue, job.attempts)


def _dispatch_after_commit(session: Session, delivery: Delivery) -> None:
    def hand_on() -> None:
        dispatch(delivery)

    after_commit(session, hand_on)


def redis_connection() -> Any | None:
    """A Redis client when `REDIS_URL` is configured, else None (jobs then run in-process)."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    from redis import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def dispatch(delivery: Delivery, *, delay: dt.timedelta | None = None, connection: Any | None = None) -> str:
    """Hand one attempt of a job to RQ, or run it here when no Redis is configured.

    Returns "enqueued", "ran" or "deferred" (Redis unreachable, or an in-process retry:
    the row stays pending and `reconcile` hands it on). Never raises for Redis trouble:
    the caller's transaction has already committed, and the table remembers the job.
    """
    connection = connection or redis_connection()
    if connection is None:
        if delay is None or delay.total_seconds() <= 0:
            if delivery.queue in BACKGROUND_QUEUES and current_app.config.get("JOBS_IN_BACKGROUND", True):
                _perform_in_background(delivery.job_id)
            else:
                perform(delivery.job_id)
            return "ran"
        return "deferred"  # in-process retries wait for `bizportal jobs reconcile`
    try:
        _enqueue(connection, delivery, delay)
    except Exception as error:  # redis.exceptions.ConnectionError and friends: the reconciler catches up
        logger.warning("job not enqueued, Redis unavailable", extra={"job_id": delivery.job_id, "error": str(error)})
        return "deferred"
    return "enqueued"


BACKGROUND_QUEUES = frozenset({"notifications"})
"""Without Redis, jobs of these queues (they talk to other systems: webhooks, later e-mail) run on a thread of
their own after the commit, so the request that caused them never waits on another system; the others (a licence)
run in the request, so that the demo shows their result at once. `JOBS_IN_BACKGROUND = False` in the app's config
runs them in the request too (the tests, whose rows live in one transaction on one connection)."""
_background_threads: set[threading.Thread] = set()
_background_lock = threading.Lock()


def _perform_in_background(job_id: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app behind the proxy
    request_id = current_request_id()

    def work() -> None:
        try:
            with app.app_context(), bound_request_id(request_id):
                try:
                    perform(job_id)
                finally:
                    db.session.remove()
        finally:
            with _background_lock:
                _background_threads.discard(thread)

    thread = threading.Thread(target=work, name=f"bizportal-job-{job_id}", daemon=True)
    with _background_lock:
        _background_threads.add(thread)
    thread.start()


def wait_for_background_jobs(timeout: float = 30.0) -> bool:
    """Wait for the in-process background jobs started so far (tests; a clean stop); False if some still run."""
    deadline = time.monotonic() + timeout
    while True:
        with _background_lock:
            running = list(_background_threads)
        if not running:
            return True
        for thread in running:
            thread.join(max(deadline - time.monotonic(), 0))
        if time.monotonic() >= deadline:
            with _background_lock:
                return not _background_threads


def _enqueue(connection: Any, delivery: Delivery, delay: dt.timedelta | None) -> None:
    from rq import Queue

    queue = Queue(delivery.queue, connection=connection)
    options = {**RQ_OPTIONS, "job_id": delivery.rq_id, "description": f"job {delivery.job_id}"}
    if delay is not None and delay.total_seconds() > 0:
        queue.enqueue_in(delay, PERFORM, delivery.job_id, **options)
    else:
        queue.enqueue(PERFORM, delivery.job_id, **options)


@dataclass(frozen=True)
class Outcome:
    """What `perform` did with a job."""

    job_id: int
    result: str
    """"done", "already done" (done or failed before), "busy" (another worker holds it), "retry", "failed" or
    "missing"."""


def perform(job_id: int, now_factory: Callable[[], dt.datetime] = _now) -> Outcome:
    """Carry out job `job_id` once: lock its row, run the handler, mark it done, in one transaction.

    Needs an app context (the worker pushes one). On failure the handler's writes roll
    back and the job is either rescheduled with backoff or, after its last attempt,
    marked failed with the error for admins to see. A second delivery of a job that is
    done returns at once; one that arrives while another worker runs it skips the
    locked row (PostgreSQL) or waits for its commit and then finds it done (SQLite).
    An exchange with something to send runs in two transactions with its `send` between
    them, holding no lock while it waits on the other system.
    """
    session = db.session()
    try:
        with unit_of_work(session):
            job = _locked_pending(session, job_id, skip_locked=True)
            if isinstance(job, Outcome):
                return job
            payload = dict(job.payload)
            request_id = payload.pop(REQUEST_ID_KEY, None) or current_request_id()
            job_kind = kind(job.kind)
            with bound_request_id(request_id):
                logger.info("job started", extra={"job_id": job_id, "kind": job.kind, "attempt": job.attempts + 1})
                prepared = job_kind.exchange.prepare(session, payload)  # a plain handler's whole work
            if prepared is None:
                _mark_done(job, now_factory())
        if prepared is not None:
            with bound_request_id(request_id):
                sent = job_kind.exchange.send(prepared)  # no transaction open while the other system answers
            with unit_of_work(session):
                job = _locked_pending(session, job_id, skip_locked=False)
                if isinstance(job, Outcome):
                    return job
                job_kind.exchange.record(session, payload, sent)
                _mark_done(job, now_factory())
        logger.info("job done", extra={"job_id": job_id})
        return Outcome(job_id, "done")
    except Exception as error:
        logger.exception("job failed", extra={"job_id": job_id})
        return _record_failure(job_id, error, now_factory())


def _locked_pending(session: Session, job_id: int, *, skip_locked: bool) -> Job | Outcome:
    """The job's row, locked, when it is still pending; otherwise what `perform` answers."""
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update(skip_locked=skip_locked)
                          .execution_options(populate_existing=True)).first()
    if job is None:
        exists = session.scalar(select(Job.id).where(Job.id == job_id)) is not None
        return Outcome(job_id, "busy" if exists else "missing")
    if job.status is not JobStatus.PENDING:
        return Outcome(job_id, "already done")
    return job


def _mark_done(job: Job, finished: dt.datetime) -> None:
    job.status, job.attempts, job.finished_at, job.updated_at = JobStatus.DONE, job.attempts + 1, finished, finished
    job.last_error = None


def _record_failure(job_id: int, error: Exception, now: dt.datetime) -> Outcome:
    session = db.session()
    with unit_of_work(session):
        job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()
                              .execution_options(populate_existing=True)).first()
        if job is None:
            return Outcome(job_id, "missing")
        if job.status is not JobStatus.PENDING:  # another delivery finished it meanwhile
            return Outcome(job_id, "already done")
        job.attempts += 1
        job.updated_at = now
        job.last_error = "".join(traceback.format_exception_only(type(error), error)).strip()[:MAX_ERROR_LENGTH]
        if job.attempts >= job.max_attempts:
            job.status = JobStatus.FAILED
            job.finished_at = now
            _on_failure(session, job, error, None)
            logger.error("job failed for good", extra={"job_id": job_id, "attempts": job.attempts})
            return Outcome(job_id, "failed")
        backoff = _backoff(job.kind)
        delay = dt.timedelta(seconds=backoff[min(job.attempts - 1, len(backoff) - 1)])
        job.run_after = now + delay
        _on_failure(session, job, error, job.run_after)
        delivery = Delivery.of(job)
    dispatch(delivery, delay=delay)
    return Outcome(job_id, "retry")


def _on_failure(session: Session, job: Job, error: Exception, next_attempt: dt.datetime | None) -> None:
    """Let the kind record the failed attempt in its own rows, in the transaction that records it on the job."""
    try:
        hook = kind(job.kind).on_failure
    except KeyError:
        return
    if hook is not None:
        hook(session, {key: value for key, value in job.payload.items() if key != REQUEST_ID_KEY}, error,
             next_attempt)


def _backoff(name: str) -> tuple[int, ...]:
    try:
        return kind(name).backoff
    except KeyError:  # a kind no longer registered: the next attempt fails the same way, later
        from .registry import DEFAULT_BACKOFF

        return DEFAULT_BACKOFF


class RedisUnavailable(Exception):
    """`reconcile` could not reach Redis: nothing was handed on; run it again when Redis is back."""


@dataclass(frozen=True)
class ReconcileReport:
    """What `reconcile` found: pending jobs due, how many were handed on again, how many were already queued."""

    due: int
    dispatched: int
    already_queued: int


SCHEDULER_GRACE = dt.timedelta(seconds=60)
"""How long after its time a retry may still sit in RQ's schedule before `reconcile` enqueues it itself (no
scheduler running)."""


def reconcile(session: Session, now: dt.datetime, *, limit: int = 1000) -> ReconcileReport:
    """Enqueue again every pending, due job that Redis does not hold (lost, never enqueued, worker killed).

    Without Redis, runs them here. Safe to run at any time and from several places:
    `perform` runs each job at most once. Raises `RedisUnavailable` when Redis is
    configured but does not answer.
    """
    rows = session.execute(select(Job.id, Job.queue, Job.attempts, Job.run_after)
                           .where(Job.status == JobStatus.PENDING, Job.run_after <= now)
                           .order_by(Job.run_after, Job.id).limit(limit)).all()
    due = [(Delivery(job_id, queue, attempts), run_after) for job_id, queue, attempts, run_after in rows]
    session.rollback()  # release the read before dispatching (in-process runs write)
    connection = redis_connection()
    statuses: dict[str, str] = {}
    if connection is not None and due:
        try:
            statuses = _rq_statuses(connection, [delivery.rq_id for delivery, _ in due])
        except Exception as error:  # redis.exceptions.RedisError: nothing can be enqueued either
            raise RedisUnavailable(str(error)) from error
    dispatched = held = 0
    for delivery, run_after in due:
        if _waiting(statuses.get(delivery.rq_id), run_after, now):
            held += 1
            continue
        if dispatch(delivery, connection=connection) != "deferred":
            dispatched += 1
    if due:
        logger.info("jobs reconciled", extra={"due": len(due), "dispatched": dispatched, "already_queued": held})
    return ReconcileReport(len(due), dispatched, held)


def _rq_statuses(connection: Any, rq_ids: list[str]) -> dict[str, str]:
    """The RQ status of each of `rq_ids` that Redis knows, in two round trips.

    A job RQ calls "queued" but that is in no queue list was popped by a worker that died before
    it marked the job started (RQ pops from several queues without an intermediate list): it is
    reported as "lost", so that `reconcile` hands it on instead of waiting for it forever.
    """
    from rq.job import Job as RqJob
    from rq.queue import Queue

    statuses = {}
    queued = []
    for rq_job in RqJob.fetch_many(rq_ids, connection=connection):
        if rq_job is not None:
            status = rq_job.get_status(refresh=False)
            statuses[rq_job.id] = status.value if status is not None else ""
            if statuses[rq_job.id] == "queued":
                queued.append(rq_job)
    if queued:
        pipeline = connection.pipeline(transaction=False)
        for rq_job in queued:
            pipeline.lpos(Queue(rq_job.origin, connection=connection).key, rq_job.id)
        for rq_job, position in zip(queued, pipeline.execute(), strict=True):
            if position is None:
                statuses[rq_job.id] = "lost"
    return statuses


def _waiting(status: str | None, run_after: dt.datetime, now: dt.datetime) -> bool:
    """Whether RQ will deliver this attempt by itself: queued (or deferred), or scheduled and not overdue.

    A job RQ calls started may belong to a worker that was killed: it is handed on
    again, and `perform`'s row lock keeps a still-running copy from running it twice.
    A retry still in RQ's schedule long after its time means no scheduler runs.
    """
    if status in ("queued", "deferred"):
        return True
    return status == "scheduled" and now - run_after < SCHEDULER_GRACE


def retry(session: Session, job_id: int, now: dt.datetime, *, actor_id: int | None = None) -> Job:
    """Put a failed job back in line with a fresh set of attempts (an admin's action); dispatched after commit.

    `attempts` keeps counting (so each attempt keeps its own RQ id); `max_attempts`
    grows by the kind's allowance. Audited as `job_retried`. Raises `NotFound` for an
    unknown id and `InvalidTransition` for a job that is not failed.
    """
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).first()
    if job is None:
        raise NotFound()
    if job.status is not JobStatus.FAILED:
        raise InvalidTransition(_l("Only a failed job can be retried."))
    try:
        allowance = kind(job.kind).max_attempts
    except KeyError:  # its handler is gone: one more attempt shows the error again
        allowance = 1
    job.status, job.max_attempts, job.run_after, job.updated_at, job.finished_at = \
        JobStatus.PENDING, job.attempts + allowance, now, now, None
    session.flush()
    record(session, at=now, actor_id=actor_id, action="job_retried", subject_type="job", subject_id=job.id,
           from_state=JobStatus.FAILED.value, to_state=JobStatus.PENDING.value,
           data={"kind": job.kind, "attempts": job.attempts, "last_error": (job.last_error or "")[:200]})
    _dispatch_after_commit(session, Delivery.of(job))
    return job
