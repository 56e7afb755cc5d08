"""Jobs without Redis (the demo: run in-process after the commit, through the same `perform`), the outbox
rules, retries, `bizportal jobs`, and the admin page of failed jobs with its Retry button.

The same jobs with a real Redis and real worker processes, under faults, are in test_jobs_faults.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role
from bizportal.audit.models import AuditEntry
from bizportal.database import unit_of_work
from bizportal.jobs import services
from bizportal.jobs.models import Job, JobStatus, rq_job_id
from bizportal.jobs.queries import PAGE_SIZE
from bizportal.ops.logs import RequestIdFilter, bound_request_id

from .factories import make_quick_user
from .web_forms import log_in, submit

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def app_context(app: Flask, db_session: Session) -> Iterator[None]:
    """Services read the app's settings (`REDIS_URL`), as in a command or a job: push its context."""
    with app.app_context():
        yield


def later(minutes: int) -> dt.datetime:
    """`minutes` from now on the real clock (`perform` dates retries by it)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


def selftest(app: Flask, session: Session, marker: str, **payload: Any) -> int:
    """Commit a self-test job (run in-process after the commit, since the tests' app has no REDIS_URL)."""
    with app.app_context(), unit_of_work(session):
        job = services.schedule(session, "jobs.selftest", {"marker": marker, **payload}, NOW)
    return job.id


def effects(session: Session, marker: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "job_selftest", AuditEntry.subject_id == marker)) or 0


def fresh(session: Session, job_id: int) -> Job:
    session.expire_all()
    return session.get_one(Job, job_id)


def fail_for_good(app: Flask, session: Session, marker: str) -> int:
    """A self-test job that failed all its 3 attempts (the retries run by `reconcile`, as cron would)."""
    job_id = selftest(app, session, marker, fail=True)
    with app.app_context():
        for minutes in (1, 2):
            services.reconcile(session, later(minutes))
    assert fresh(session, job_id).status is JobStatus.FAILED
    return job_id


# --------------------------------------------------------------------------- in-process, the demo's path

def test_a_job_runs_after_its_transaction_commits(app: Flask, db_session: Session) -> None:
    job_id = selftest(app, db_session, "committed")
    job = fresh(db_session, job_id)
    assert (job.status, job.attempts, job.last_error) == (JobStatus.DONE, 1, None)
    assert job.finished_at is not None
    assert effects(db_session, "committed") == 1


def test_a_job_of_a_transaction_that_rolls_back_never_exists(db_session: Session) -> None:
    with pytest.raises(RuntimeError), unit_of_work(db_session):
        services.schedule(db_session, "jobs.selftest", {"marker": "rolled-back"}, NOW)
        raise RuntimeError("the decision failed")
    assert db_session.scalar(select(func.count()).select_from(Job)) == 0
    assert effects(db_session, "rolled-back") == 0


def test_performing_a_job_again_changes_nothing(app: Flask, db_session: Session) -> None:
    job_id = selftest(app, db_session, "twice")
    with app.app_context():
        assert services.perform(job_id).result == "already done"
        assert services.perform(10**9).result == "missing"
    assert effects(db_session, "twice") == 1
    assert fresh(db_session, job_id).attempts == 1


@pytest.mark.usefixtures("app_context")
def test_the_same_dedupe_key_gives_the_same_job(db_session: Session) -> None:
    with unit_of_work(db_session):
        first = services.schedule(db_session, "jobs.ping", {}, NOW, dedupe_key="ping:1")
        second = services.schedule(db_session, "jobs.ping", {}, NOW, dedupe_key="ping:1")
    assert first.id == second.id
    assert db_session.scalar(select(func.count()).select_from(Job)) == 1


def test_an_unknown_kind_is_refused_before_anything_is_written(db_session: Session) -> None:
    with pytest.raises(KeyError, match="jobs.nonexistent"), unit_of_work(db_session):
        services.schedule(db_session, "jobs.nonexistent", {}, NOW)


@pytest.mark.usefixtures("app_context")
def test_a_failing_job_waits_with_backoff_then_fails_with_its_error(app: Flask, db_session: Session) -> None:
    job_id = selftest(app, db_session, "failing", fail=True)
    job = fresh(db_session, job_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)
    assert job.run_after > dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)  # 1 s of backoff, on the real clock
    assert job.last_error == "bizportal.jobs.builtin.SelftestFailure: self-test failing failed as asked"
    assert services.reconcile(db_session, NOW).due == 0  # not due yet

    report = services.reconcile(db_session, later(1))
    assert (report.due, report.dispatched) == (1, 1)
    assert (fresh(db_session, job_id).status, fresh(db_session, job_id).attempts) == (JobStatus.PENDING, 2)
    services.reconcile(db_session, later(2))
    job = fresh(db_session, job_id)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.FAILED, 3, 3)
    assert job.finished_at is not None and "failed as asked" in (job.last_error or "")
    assert services.reconcile(db_session, later(60 * 24)).due == 0  # failed jobs wait for an admin
    assert effects(db_session, "failing") == 0


def test_each_attempt_has_its_own_rq_id(app: Flask, db_session: Session) -> None:
    job_id = selftest(app, db_session, "ids", fail=True)
    job = fresh(db_session, job_id)
    assert job.rq_id == rq_job_id(job_id, 1) == f"bizportal-job-{job_id}-1"
    assert services.Delivery.of(job).rq_id == job.rq_id


@pytest.mark.usefixtures("app_context")
def test_retry_gives_a_failed_job_new_attempts_and_is_audited(app: Flask, db_session: Session) -> None:
    job_id = fail_for_good(app, db_session, "retried")
    admin = make_quick_user(db_session, role=Role.ADMIN)
    with unit_of_work(db_session):
        services.retry(db_session, job_id, NOW, actor_id=admin.id)
    job = fresh(db_session, job_id)  # run again at once, in-process, and failed again: attempt 4 of 6
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.PENDING, 4, 6)
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "job_retried")).one()
    assert (entry.actor_id, entry.subject_id, entry.from_state, entry.to_state) == \
        (admin.id, str(job_id), "failed", "pending")


# --------------------------------------------------------------------------- bizportal jobs ...

def test_the_reconcile_command_runs_due_jobs_without_redis(app: Flask, runner: FlaskCliRunner,
                                                           db_session: Session) -> None:
    job_id = selftest(app, db_session, "cron", fail=True)
    result = runner.invoke(args=["jobs", "reconcile"])  # the real clock: the 1 s backoff has not passed
    assert result.exit_code == 0 and result.output.startswith("0 due"), result.output
    job = fresh(db_session, job_id)
    job.run_after = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    job.payload = {"marker": "cron"}  # the cause is fixed
    db_session.commit()
    result = runner.invoke(args=["jobs", "reconcile"])
    assert result.output == "1 due, 1 handed on, 0 already queued\n"
    assert fresh(db_session, job_id).status is JobStatus.DONE
    assert effects(db_session, "cron") == 1


def test_the_retry_command_says_why_it_cannot(app: Flask, runner: FlaskCliRunner, db_session: Session) -> None:
    job_id = selftest(app, db_session, "done")
    result = runner.invoke(args=["jobs", "retry", str(job_id)])
    assert result.exit_code == 1 and "Only a failed job can be retried" in result.output
    result = runner.invoke(args=["jobs", "retry", "999999"])
    assert result.exit_code == 1 and "there is no job 999999" in result.output


def test_the_ping_command_schedules_a_job(runner: FlaskCliRunner, db_session: Session) -> None:
    result = runner.invoke(args=["jobs", "ping"])
    assert result.exit_code == 0 and result.output.startswith("scheduled job "), result.output
    job = db_session.scalars(select(Job).where(Job.kind == "jobs.ping")).one()
    assert job.status is JobStatus.DONE


def test_a_worker_needs_redis(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 1 and "REDIS_URL is not set" in result.output


# --------------------------------------------------------------------------- the admin page

@pytest.fixture
def admin_client(client: FlaskClient, db_session: Session) -> FlaskClient:
    admin = make_quick_user(db_session, role=Role.ADMIN, locale="en")
    log_in(client, admin.email)
    return client


def test_the_admin_page_shows_a_failed_job_with_its_error_and_retries_it(app: Flask, admin_client: FlaskClient,
                                                                        db_session: Session) -> None:
    job_id = fail_for_good(app, db_session, "shown")
    page = admin_client.get("/admin/jobs/?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = html[html.index(f'id="job-{job_id}"'):]
    row = row[:row.index("</tr>")]
    assert "jobs.selftest" in row and "3 / 3" in row and "self-test shown failed as asked" in row
    assert '"marker": "shown"' in row.replace("&#34;", '"')
    assert f'name="job_id" value="{job_id}"' in row and "Retry" in row
    assert re.search(r'href="/admin/jobs/"[^>]*aria-current="page"', html)  # the admin console's menu

    response = submit(admin_client, "/admin/jobs/retry", {"job_id": str(job_id)}, form_page="/admin/jobs/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/jobs/")
    job = fresh(db_session, job_id)  # tried again at once (in-process) and failed again: 4th of 6 attempts
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.PENDING, 4, 6)
    followed = admin_client.get("/admin/jobs/?status=pending&lang=en").get_data(as_text=True)
    assert f"Job {job_id} will be tried again." in followed and f'id="job-{job_id}"' in followed
    assert "Retry" not in followed.split("<table", 1)[1]  # a pending job has no Retry button


def test_retrying_a_job_that_is_not_failed_changes_nothing(app: Flask, admin_client: FlaskClient,
                                                           db_session: Session) -> None:
    job_id = selftest(app, db_session, "not-failed")
    admin_client.get("/admin/jobs/?lang=en")  # the flash is written in the language the admin chose
    for job_field in (str(job_id), "999999", "not a number", ""):
        response = submit(admin_client, "/admin/jobs/retry", {"job_id": job_field}, form_page="/admin/jobs/")
        assert response.status_code == 302
        assert "That job is not waiting for a retry." in admin_client.get("/admin/jobs/?lang=en").get_data(as_text=True)
    assert fresh(db_session, job_id).status is JobStatus.DONE
    assert effects(db_session, "not-failed") == 1


def test_the_retry_button_needs_the_csrf_token(app: Flask, admin_client: FlaskClient, db_session: Session) -> None:
    job_id = fail_for_good(app, db_session, "csrf")
    response = admin_client.post("/admin/jobs/retry", data={"job_id": str(job_id)})
    assert response.status_code == 400
    assert fresh(db_session, job_id).status is JobStatus.FAILED


def test_the_jobs_page_is_for_admins_only(client: FlaskClient, db_session: Session) -> None:
    assert client.get("/admin/jobs/").status_code == 302  # to the login page
    officer = make_quick_user(db_session, role=Role.OFFICER)
    log_in(client, officer.email)
    assert client.get("/admin/jobs/").status_code == 403


def add_failed_jobs(session: Session, count: int) -> list[int]:
    with unit_of_work(session):
        jobs = [Job(kind="jobs.selftest", queue="default", payload={"marker": f"bulk-{number}"},
                    status=JobStatus.FAILED, attempts=3, max_attempts=3,
                    run_after=NOW - dt.timedelta(seconds=number % 7),
                    last_error=f"error {number}", created_at=NOW, updated_at=NOW, finished_at=NOW)
                for number in range(count)]
        session.add_all(jobs)
    return [job.id for job in jobs]


def test_the_jobs_page_pages_by_keyset_through_every_failed_job(admin_client: FlaskClient,
                                                                db_session: Session) -> None:
    ids = add_failed_jobs(db_session, 2 * PAGE_SIZE + 7)
    seen: list[int] = []
    path: str | None = "/admin/jobs/?status=failed"
    pages = 0
    while path is not None:
        html = admin_client.get(path).get_data(as_text=True)
        seen += [int(found) for found in re.findall(r'<tr id="job-(\d+)">', html)]
        pages += 1
        found = re.search(r'rel="next" href="([^"]+)"', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert f"({len(ids)})" in admin_client.get("/admin/jobs/").get_data(as_text=True)  # the tab's count


def test_the_jobs_page_runs_as_many_statements_for_10_jobs_as_for_100(
        admin_client: FlaskClient, db_session: Session, count_statements: Callable[[], Any]) -> None:
    add_failed_jobs(db_session, 10)
    admin_client.get("/admin/jobs/")  # warm caches (the logged-in user)
    with count_statements() as few:
        assert admin_client.get("/admin/jobs/").status_code == 200
    add_failed_jobs(db_session, 90)
    with count_statements() as many:
        assert admin_client.get("/admin/jobs/").status_code == 200
    assert len(few) == len(many)


def test_a_job_logs_under_the_id_of_the_request_that_scheduled_it(app: Flask, db_session: Session,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="bizportal.jobs.services")
    with bound_request_id("req-approval-42"):
        job_id = selftest(app, db_session, "traced", fail=True)  # attempt 1 runs here, after the commit
    assert fresh(db_session, job_id).payload["_request_id"] == "req-approval-42"
    caplog.clear()
    with app.app_context():
        services.reconcile(db_session, later(1))  # attempt 2, outside any request
    started = [record for record in caplog.records if record.getMessage() == "job started"]
    assert started and all(getattr(record, "request_id", None) == "req-approval-42" for record in started)
