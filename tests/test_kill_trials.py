"""100 trials of SIGKILL on licence workers in the middle of their work: 0 licences lost, 0 duplicated.

Each round starts two real `bizportal worker` processes on a queue of approved applications, waits until a
render job has started, lets it run for a random moment (before, during or after WeasyPrint and the commit),
then kills both workers with SIGKILL as a crashed machine would, and runs the reconciler as cron does.
When the rounds are over, a last worker drains the queue. Every licence must then be issued exactly once:
one PDF file, one "issued" event, its number unchanged, the numbers gap-free.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from bizportal.applications.models import ApplicationEvent
from bizportal.extensions import db
from bizportal.jobs.models import Job, JobStatus
from bizportal.licences.models import Licence, LicenceStatus

from .factories import migrated_app
from .test_jobs_faults import approve_application, reconcile
from .workers import WorkerProcess, redis_database, require_redis, start_worker, wait_for

pytestmark = pytest.mark.faults

KILLS = 100
ROUNDS = KILLS // 2  # two workers are killed in each round
LICENCES = 40


@pytest.fixture(scope="module")
def trial_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    require_redis()
    with redis_database() as redis_url, migrated_app(tmp_path_factory.mktemp("trials"),
                                                     REDIS_URL=redis_url) as app:
        yield app, redis_url


def _start_message(worker: WorkerProcess) -> str:
    return "a render job to start:\n" + worker.log()[-2000:]


def _started_jobs(redis_url: str) -> int:
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url)
    return sum(Queue(name, connection=connection).started_job_registry.count
               for name in ("licences", "default", "notifications"))


def _pending_jobs(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.PENDING)) or 0


def _pending_details(app: Flask) -> list[tuple[int, int, str, str | None]]:
    with app.app_context():
        return [(job.id, job.attempts, job.run_after.isoformat(), job.last_error) for job in db.session.scalars(
            select(Job).where(Job.status == JobStatus.PENDING))]


def _licences(app: Flask) -> list[tuple[int, str, LicenceStatus, int]]:
    """(id, number, status, "issued" events) of every licence."""
    with app.app_context():
        issued = (select(ApplicationEvent.application_id, func.count().label("events"))
                  .where(ApplicationEvent.kind == "licence_issued").group_by(ApplicationEvent.application_id)
                  .subquery())
        rows = db.session.execute(
            select(Licence.id, Licence.number, Licence.status, func.coalesce(issued.c.events, 0))
            .outerjoin(issued, issued.c.application_id == Licence.application_id).order_by(Licence.id)).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]


def test_100_workers_killed_mid_work_lose_and_duplicate_no_licence(trial_app: tuple[Flask, str],
                                                                   tmp_path: Path) -> None:
    app, redis_url = trial_app
    randomness = random.Random(20261126)
    for _ in range(LICENCES):
        approve_application(app)  # each commit enqueues one render job
    numbers_before = {licence_id: number for licence_id, number, _, _ in _licences(app)}
    assert len(numbers_before) == LICENCES

    kills = mid_job = 0
    for _ in range(ROUNDS):
        if _pending_jobs(app) == 0:
            break
        workers: list[WorkerProcess] = [start_worker(app, redis_url, "--reconcile-every", "0", log_dir=tmp_path)
                                        for _ in range(2)]
        try:
            wait_for(lambda: _started_jobs(redis_url) > 0 or _pending_jobs(app) == 0, timeout=60, interval=0.01,
                     message=partial(_start_message, workers[0]))
            time.sleep(randomness.uniform(0.0, 0.25))
            mid_job += _started_jobs(redis_url) > 0
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.kill()
                    kills += 1
        reconcile(app)

    assert kills >= KILLS * 0.9, f"only {kills} workers were killed: the queue ran dry too early"
    assert mid_job >= ROUNDS * 0.8, f"only {mid_job} of the rounds killed a worker in the middle of a job"

    finisher = start_worker(app, redis_url, "--burst", "--reconcile-every", "0", log_dir=tmp_path)
    assert finisher.wait(timeout=300) == 0
    for _ in range(3):  # jobs whose RQ entry died with a killed worker are handed on again
        if _pending_jobs(app) == 0:
            break
        reconcile(app)
        assert start_worker(app, redis_url, "--burst", "--reconcile-every", "0", log_dir=tmp_path).wait(300) == 0
    assert _pending_jobs(app) == 0, _pending_details(app)

    licences = _licences(app)
    assert [(status, events) for _, _, status, events in licences] == [(LicenceStatus.ISSUED, 1)] * LICENCES
    assert {licence_id: number for licence_id, number, _, _ in licences} == numbers_before
    serials = sorted(int(number.rsplit("/", 1)[0].rsplit("-", 1)[-1]) for number in numbers_before.values())
    assert serials == list(range(serials[0], serials[0] + LICENCES)), "licence numbers have a gap"
    files = sorted((Path(app.instance_path) / "licences").glob("*/*.pdf"))
    assert len(files) == LICENCES, [file.name for file in files]
    assert len({file.name.split("-", 1)[0] for file in files}) == LICENCES
    assert all(file.read_bytes().startswith(b"%PDF-") for file in files)
