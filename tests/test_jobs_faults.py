"""Jobs under faults, with a real Redis and real `bizportal worker` processes on the test database.

Redis down when the work is committed, the same job delivered twice (two workers at once), a worker killed
with SIGKILL in the middle of a job, a warm shutdown, retries until failure: each time the database says
what happened, and the effect of a job (an audit entry, or a licence PDF and its "issued" event) exists
exactly once. Select them with `-m faults`.
"""

from __future__ import annotations

import datetime as dt
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from bizportal.accounts.models import Role
from bizportal.app import create_app
from bizportal.applications import decisions
from bizportal.applications.models import ApplicationEvent
from bizportal.audit.models import AuditEntry
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.extensions import db
from bizportal.jobs import services
from bizportal.jobs.models import Job, JobStatus
from bizportal.licences.models import Licence, LicenceStatus
from bizportal.review import services as review_services
from bizportal.review.models import ReviewTask, TaskStatus
from bizportal.workflow.spec import Action

from .factories import load, make_business, make_quick_user, migrated_app
from .test_applications import complete_food
from .workers import OwnRedis, WorkerProcess, own_redis, redis_database, require_redis, start_worker, wait_for

pytestmark = pytest.mark.faults

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    require_redis()
    with redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def jobs_app(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Flask]:
    """An app with `REDIS_URL` on a database of its own, whose commits the worker processes see."""
    with migrated_app(tmp_path_factory.mktemp("jobs"), REDIS_URL=redis_url) as app:
        yield app


@pytest.fixture
def workers(jobs_app: Flask, redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start workers on `jobs_app`'s database (and `redis_url` unless told otherwise); all stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(*arguments: str, redis: str | None = None) -> WorkerProcess:
        worker = start_worker(jobs_app, redis or redis_url, *arguments, log_dir=tmp_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@contextmanager
def same_database(app: Flask, redis_url: str | None) -> Iterator[Flask]:
    """Another app on `app`'s database and instance folder, with `redis_url` as its Redis."""
    other = create_app({"BIZPORTAL_ENV": "testing", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                       "SECRET_KEY": app.config["SECRET_KEY"], "INSTANCE_PATH": app.instance_path,
                       "BIZPORTAL_WORKFLOWS_DIR": BIZPORTAL_ROOT / "workflows",
                       "BIZPORTAL_FORMS_DIR": BIZPORTAL_ROOT / "forms", "REDIS_URL": redis_url})
    try:
        yield other
    finally:
        with other.app_context():
            db.engine.dispose()


def schedule_selftest(app: Flask, **payload: Any) -> tuple[int, str]:
    """Commit a `jobs.selftest` job (dispatched after the commit); returns its id and marker."""
    marker = uuid.uuid4().hex[:16]
    with app.app_context(), unit_of_work(db.session()) as session:
        job = services.schedule(session, "jobs.selftest", {"marker": marker, **payload}, dt.datetime.now(dt.UTC))
        job_id = job.id
    return job_id, marker


def job_row(app: Flask, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        db.session.expunge(job)
        return job


def marker_count(app: Flask, marker: str) -> int:
    """How many times the self-test job with `marker` had its effect."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "job_selftest", AuditEntry.subject_id == marker)) or 0


def wait_until_done(app: Flask, job_id: int, worker: WorkerProcess | None = None, timeout: float = 60) -> Job:
    def finished() -> Job | None:
        job = job_row(app, job_id)
        return job if job.status is not JobStatus.PENDING else None

    job: Job = wait_for(finished, timeout=timeout,
                        message=lambda: f"job {job_id} to finish" + (f"; worker log:\n{worker.log()[-3000:]}"
                                                                      if worker else ""))
    return job


def rq_status(redis_url: str, rq_id: str) -> str | None:
    from redis import Redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RqJob

    try:
        status = RqJob.fetch(rq_id, connection=Redis.from_url(redis_url)).get_status(refresh=True)
    except NoSuchJobError:
        return None
    return status.value if status is not None else None


def reconcile(app: Flask) -> str:
    """Run `bizportal jobs reconcile` as cron would; returns its output."""
    result = app.test_cli_runner().invoke(args=["jobs", "reconcile"])
    assert result.exit_code == 0, result.output
    return result.output


# --------------------------------------------------------------------------- the ordinary path

def test_a_committed_job_is_carried_out_by_a_worker(jobs_app: Flask, workers: StartWorker) -> None:
    worker = workers()
    job_id, marker = schedule_selftest(jobs_app)
    job = wait_until_done(jobs_app, job_id, worker)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.DONE, 1, None)
    assert marker_count(jobs_app, marker) == 1
    assert worker.process.poll() is None, "the worker keeps running after its job"


def test_a_warm_shutdown_finishes_the_current_job(jobs_app: Flask, redis_url: str, workers: StartWorker) -> None:
    worker = workers()
    job_id, marker = schedule_selftest(jobs_app, sleep=2)
    wait_for(lambda: rq_status(redis_url, f"bizportal-job-{job_id}-0") == "started", message="the job to start")
    assert worker.terminate(timeout=30) == 0, worker.log()[-3000:]
    assert job_row(jobs_app, job_id).status is JobStatus.DONE
    assert marker_count(jobs_app, marker) == 1


def catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (the `SigCgt` mask of /proc/<pid>/status)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_a_stopped_worker_leaves_no_font_folder_behind(jobs_app: Flask, workers: StartWorker, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint copies the licence fonts into a temporary folder when the worker builds its renderer; a
    worker stopped by SIGTERM removes it (it used to stay behind at every stop)."""
    temporary = tmp_path / "worker-tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # the worker's temporary folder, and only its
    worker = workers()
    # RQ installs its SIGTERM handler after "Listening on" and after starting its scheduler: wait for it.
    wait_for(lambda: catches_sigterm(worker.process.pid), timeout=60, message="the worker to handle SIGTERM")
    assert any(temporary.glob("weasyprint-*")), "the worker built its renderer at start"
    assert worker.terminate(timeout=30) == 0, worker.log()[-3000:]
    assert list(temporary.iterdir()) == [], worker.log()[-3000:]
    assert "Exception ignored" not in worker.log()


def test_a_failing_job_is_retried_with_backoff_then_marked_failed_with_its_error(
        jobs_app: Flask, workers: StartWorker) -> None:
    worker = workers()  # its scheduler moves the retries (1 s, then 2 s later) into the queue
    job_id, marker = schedule_selftest(jobs_app, fail=True)
    job = wait_until_done(jobs_app, job_id, worker, timeout=45)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.FAILED, 3, 3)
    assert job.last_error is not None and "SelftestFailure" in job.last_error and marker in job.last_error
    assert marker_count(jobs_app, marker) == 0

    result = jobs_app.test_cli_runner().invoke(args=["jobs", "retry", str(job_id)])
    assert result.exit_code == 0 and "pending" in result.output, result.output
    job = wait_until_done(jobs_app, job_id, worker, timeout=45)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.FAILED, 6, 6)


# --------------------------------------------------------------------------- Redis down

def test_redis_down_when_the_work_commits_loses_nothing(jobs_app: Flask, workers: StartWorker) -> None:
    with own_redis() as server:
        server.stop()
        with same_database(jobs_app, server.url) as app:
            job_id, marker = schedule_selftest(app)  # the commit succeeds; enqueuing after it fails quietly
            assert job_row(jobs_app, job_id).status is JobStatus.PENDING

            refused = app.test_cli_runner().invoke(args=["jobs", "reconcile"])
            assert refused.exit_code == 1 and "Redis does not answer" in refused.output

            server.start()
            assert "1 handed on" in reconcile(app)
        worker = workers("--burst", redis=server.url)
        assert worker.wait() == 0
        assert job_row(jobs_app, job_id).status is JobStatus.DONE
        assert marker_count(jobs_app, marker) == 1


def test_a_worker_reconciles_on_its_own(jobs_app: Flask, workers: StartWorker) -> None:
    """A job Redis never got is found by a running worker's periodic reconcile, without cron."""
    with same_database(jobs_app, OwnRedis(port=1).url) as lost:  # nothing listens on port 1
        job_id, marker = schedule_selftest(lost)
    assert job_row(jobs_app, job_id).status is JobStatus.PENDING
    worker = workers("--reconcile-every", "1")
    wait_until_done(jobs_app, job_id, worker, timeout=30)
    assert marker_count(jobs_app, marker) == 1


def test_reconcile_enqueues_a_retry_no_scheduler_moved(jobs_app: Flask) -> None:
    """A retry waits in RQ's schedule; if it is still there a minute after its time, no scheduler runs and
    `reconcile` enqueues it itself."""
    with same_database(jobs_app, OwnRedis(port=1).url) as lost:
        job_id, _ = schedule_selftest(lost)
    with jobs_app.app_context():
        delivery = services.Delivery.of(job_row(jobs_app, job_id))
        assert services.dispatch(delivery, delay=dt.timedelta(hours=1)) == "enqueued"
        now = dt.datetime.now(dt.UTC)
        report = services.reconcile(db.session(), now + dt.timedelta(seconds=10))
        assert (report.dispatched, report.already_queued) == (0, 1)  # the scheduler has time yet
        report = services.reconcile(db.session(), now + dt.timedelta(minutes=5))
        assert (report.dispatched, report.already_queued) == (1, 0)


def test_a_job_popped_by_a_worker_that_died_before_starting_it_is_handed_on(jobs_app: Flask, redis_url: str,
                                                                             workers: StartWorker) -> None:
    """RQ pops from several queues at once with no intermediate list: a worker killed right after the pop leaves
    a job RQ still calls "queued" that is in no queue. `reconcile` sees that and hands it on."""
    from redis import Redis

    job_id, marker = schedule_selftest(jobs_app)  # enqueued after the commit, no worker running
    rq_id = f"bizportal-job-{job_id}-0"
    connection = Redis.from_url(redis_url)
    assert connection.lrem("rq:queue:default", 0, rq_id) == 1  # what the dead worker's pop did
    assert rq_status(redis_url, rq_id) == "queued"
    assert "1 handed on" in reconcile(jobs_app)
    assert connection.lpos("rq:queue:default", rq_id) is not None
    assert "0 handed on" in reconcile(jobs_app)  # now it is really queued: not handed on twice
    assert workers("--burst", "--reconcile-every", "0").wait() == 0
    assert (job_row(jobs_app, job_id).status, marker_count(jobs_app, marker)) == (JobStatus.DONE, 1)


# --------------------------------------------------------------------------- delivered twice

def test_the_same_job_delivered_twice_to_two_workers_runs_once(jobs_app: Flask, workers: StartWorker) -> None:
    job_id, marker = schedule_selftest(jobs_app, sleep=1)
    with jobs_app.app_context():
        delivery = services.Delivery.of(job_row(jobs_app, job_id))
        assert services.dispatch(delivery) == "enqueued"  # the id is now twice in the queue
    first, second = workers("--burst", "--reconcile-every", "0"), workers("--burst", "--reconcile-every", "0")
    assert first.wait() == 0 and second.wait() == 0
    with jobs_app.app_context():
        assert services.perform(job_id).result == "already done"  # and a third delivery, here
    job = job_row(jobs_app, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)
    assert marker_count(jobs_app, marker) == 1
    assert "default: job" in first.log() + second.log()


# --------------------------------------------------------------------------- killed in the middle

@pytest.mark.parametrize("fork", [False, True], ids=["simple-worker", "forking-worker"])
def test_a_worker_killed_in_the_middle_of_a_job(jobs_app: Flask, redis_url: str, workers: StartWorker,
                                                fork: bool) -> None:
    worker = workers(*(["--fork"] if fork else []))
    job_id, marker = schedule_selftest(jobs_app, sleep=3)
    wait_for(lambda: rq_status(redis_url, f"bizportal-job-{job_id}-0") == "started", message="the job to start")
    worker.kill()
    job = job_row(jobs_app, job_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert marker_count(jobs_app, marker) == 0

    assert "handed on" in reconcile(jobs_app)
    assert workers("--burst").wait() == 0
    job = job_row(jobs_app, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)
    assert marker_count(jobs_app, marker) == 1


# --------------------------------------------------------------------------- real licences

def approve_application(app: Flask) -> int:
    """Submit a food-premises application and approve every stage; returns the licence id (pending)."""
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        session = db.session()
        if not _seeds_loaded(session):
            load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
        applicant = make_quick_user(session)
        application = complete_food(session, applicant, make_business(session, owner=applicant), app)
        with unit_of_work(session):
            decisions.submit(session, application, now)
        application_id = application.id
        while True:
            task = session.scalars(select(ReviewTask).where(ReviewTask.application_id == application_id,
                                                            ReviewTask.status == TaskStatus.OPEN)).first()
            if task is None:
                break
            officer = make_quick_user(session, role=Role.OFFICER, agency_id=task.agency_id)
            with unit_of_work(session):
                review_services.decide(session, task.id, officer, Action.APPROVE, task.version_id, now)
        licence = session.scalars(select(Licence).where(Licence.application_id == application_id)).one()
        return licence.id


def _seeds_loaded(session: Any) -> bool:
    from bizportal.permits.models import PermitType

    return bool(session.scalar(select(func.count()).select_from(PermitType)))


def licence_state(app: Flask, licence_id: int) -> tuple[LicenceStatus, int, list[Path], int]:
    """The licence's status, its render job's id, the PDF files of the licence on disk, and its "issued" events."""
    with app.app_context():
        session = db.session()
        licence = session.get_one(Licence, licence_id)
        job_id = session.scalars(select(Job.id).where(Job.dedupe_key == f"licence:{licence_id}")).one()
        events = session.scalar(select(func.count()).select_from(ApplicationEvent).where(
            ApplicationEvent.application_id == licence.application_id, ApplicationEvent.kind == "licence_issued"))
        files = sorted((Path(app.instance_path) / "licences").glob(f"*/{licence_id:06d}-*"))
        return licence.status, job_id, files, events or 0


def test_an_approval_gives_one_licence_pdf_from_a_worker(jobs_app: Flask, workers: StartWorker) -> None:
    worker = workers()
    licence_id = approve_application(jobs_app)
    _, job_id, _, _ = licence_state(jobs_app, licence_id)
    wait_until_done(jobs_app, job_id, worker)
    status, _, files, events = licence_state(jobs_app, licence_id)
    assert (status, len(files), events) == (LicenceStatus.ISSUED, 1, 1)
    assert files[0].read_bytes().startswith(b"%PDF-")


def test_a_licence_job_delivered_twice_gives_one_file_and_one_event(jobs_app: Flask,
                                                                    workers: StartWorker) -> None:
    licence_id = approve_application(jobs_app)  # enqueued once after the approval's commit
    _, job_id, _, _ = licence_state(jobs_app, licence_id)
    with jobs_app.app_context():
        assert services.dispatch(services.Delivery.of(job_row(jobs_app, job_id))) == "enqueued"
    first, second = workers("--burst", "--reconcile-every", "0"), workers("--burst", "--reconcile-every", "0")
    assert first.wait() == 0 and second.wait() == 0
    status, _, files, events = licence_state(jobs_app, licence_id)
    assert (status, len(files), events) == (LicenceStatus.ISSUED, 1, 1)
    assert job_row(jobs_app, job_id).attempts == 1


def test_redis_down_at_approval_then_the_licence_is_issued_after_reconcile(jobs_app: Flask,
                                                                           workers: StartWorker) -> None:
    with own_redis() as server:
        server.stop()
        with same_database(jobs_app, server.url) as app:
            licence_id = approve_application(app)  # the approval commits
            status, job_id, files, events = licence_state(jobs_app, licence_id)
            assert (status, files, events) == (LicenceStatus.PENDING, [], 0)
            assert job_row(jobs_app, job_id).status is JobStatus.PENDING
            server.start()
            assert "1 handed on" in reconcile(app)
        assert workers("--burst", redis=server.url).wait() == 0
        status, _, files, events = licence_state(jobs_app, licence_id)
        assert (status, len(files), events) == (LicenceStatus.ISSUED, 1, 1)


def test_a_worker_killed_while_rendering_still_issues_the_licence_once(jobs_app: Flask, redis_url: str,
                                                                       workers: StartWorker) -> None:
    worker = workers()
    wait_for(lambda: "worker ready" in worker.log() or "Listening on" in worker.log(), timeout=60,
             message=lambda: f"the worker to start:\n{worker.log()[-2000:]}")
    licence_id = approve_application(jobs_app)
    _, job_id, _, _ = licence_state(jobs_app, licence_id)
    wait_for(lambda: rq_status(redis_url, f"bizportal-job-{job_id}-0") == "started", interval=0.005,
             message="the render job to start")
    worker.kill()
    status, _, files, events = licence_state(jobs_app, licence_id)
    assert (status, files, events) == (LicenceStatus.PENDING, [], 0), "the kill came after the render committed"

    assert "handed on" in reconcile(jobs_app)
    assert workers("--burst").wait() == 0
    status, _, files, events = licence_state(jobs_app, licence_id)
    assert (status, len(files), events) == (LicenceStatus.ISSUED, 1, 1)
    assert job_row(jobs_app, job_id).attempts == 1
