"""Officers' decisions: many at once record exactly one; a request for information pauses the task until the
applicant answers; the deadline clock stops while the application waits on the applicant; refused decisions
say why. Real database (SQLite or PostgreSQL), real engine, real pages."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications import decisions
from bizportal.applications.models import Application, ApplicationEvent
from bizportal.applications.services import compiled, working_calendar
from bizportal.audit.models import AuditEntry
from bizportal.businesses.models import Business
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.errors import BizportalError, StaleDecision
from bizportal.extensions import db
from bizportal.permits.services import LoadReport
from bizportal.review import services as review_services
from bizportal.review.models import ReviewTask, TaskStatus
from bizportal.workflow.calendar import local_date
from bizportal.workflow.spec import Action
from bizportal.workflow.state import ApplicationState, ApplicationStatus

from .application_pages import post_step
from .factories import load, make_business, make_officers, make_user, migrated_app
from .test_applications import application_row
from .test_review import decide, officer, submitted, tasks_of
from .web_forms import log_in, log_out

DECISION_EVENTS = {Action.APPROVE: "stage_approved", Action.REJECT: "stage_rejected",
                   Action.RETURN_FOR_CORRECTION: "returned_for_correction",
                   Action.REQUEST_INFORMATION: "information_requested"}
"""The timeline row each decision on the intake stage writes (the audit entry's action is the action itself)."""
STATUS_AFTER = {Action.APPROVE: ApplicationStatus.IN_REVIEW, Action.REJECT: ApplicationStatus.REJECTED,
                Action.RETURN_FOR_CORRECTION: ApplicationStatus.CORRECTION_REQUESTED,
                Action.REQUEST_INFORMATION: ApplicationStatus.INFORMATION_REQUESTED}
CONCURRENT_OFFICERS = 50


@pytest.fixture
def applicant(db_session: Session, load_seeds: Callable[[], LoadReport]) -> User:
    load_seeds()
    return make_user(db_session, email="owner@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


def _audit_count(session: Session, *actions: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.in_(actions))) or 0


def _event_count(session: Session, application_id: int, *kinds: str) -> int:
    return session.scalar(select(func.count()).select_from(ApplicationEvent).where(
        ApplicationEvent.application_id == application_id, ApplicationEvent.kind.in_(kinds))) or 0


# --------------------------------------------------------------------------- concurrency

@pytest.mark.parametrize("kinds", [
    (Action.APPROVE,),
    (Action.APPROVE, Action.REJECT, Action.RETURN_FOR_CORRECTION, Action.REQUEST_INFORMATION),
], ids=["all-approve", "mixed-kinds"])
def test_concurrent_decisions_record_exactly_one(tmp_path: Path, kinds: tuple[Action, ...]) -> None:
    """50 officers of the agency decide the same task at the same moment, each in its own connection and
    transaction: one decision is recorded, every other one is refused with a 409 and leaves no trace."""
    pool = {"pool_pre_ping": True, "pool_size": CONCURRENT_OFFICERS + 5, "max_overflow": 5, "pool_timeout": 60}
    with migrated_app(tmp_path, SQLALCHEMY_ENGINE_OPTIONS=pool) as application_app, application_app.app_context():
        session = db.session()
        load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
        owner = make_user(session, email="owner@example.com")
        health = make_officers(session, "demo_health", CONCURRENT_OFFICERS)
        application = submitted(session, owner, make_business(session, owner=owner), application_app)
        task = session.scalars(select(ReviewTask).where(ReviewTask.application_id == application.id)).one()
        task_id, version, application_id = task.id, task.version_id, application.id
        officer_ids = [user.id for user in health]
        audit_before = _audit_count(session, *(action.value for action in Action))
        db.session.remove()

        barrier = threading.Barrier(len(officer_ids))
        outcomes: list[tuple[str, Action, int | None]] = []
        lock = threading.Lock()

        def act(number: int, officer_id: int) -> None:
            action = kinds[number % len(kinds)]
            outcome: tuple[str, Action, int | None]
            with application_app.app_context():
                own = db.session()
                try:
                    user = own.get(User, officer_id)
                    assert user is not None
                    barrier.wait(timeout=120)
                    with unit_of_work(own):
                        decided = review_services.decide(
                            own, task_id, user, action, version, dt.datetime.now(dt.UTC),
                            note=f"เหตุผลของเจ้าหน้าที่ {number}", fields=["area_m2"])
                        own.flush()
                        outcome = ("recorded", action, decided.version_id)
                except StaleDecision:
                    outcome = ("stale", action, None)
                except BizportalError as error:  # a clear refusal, e.g. "not waiting for a decision"
                    outcome = (f"refused {error.status}: {error.message}", action, None)
                except Exception as error:  # noqa: BLE001  (reported below, so the test says what went wrong)
                    outcome = (f"error: {error!r}", action, None)
                finally:
                    db.session.remove()
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=act, args=(number, officer_id))
                   for number, officer_id in enumerate(officer_ids)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a decision never finished"

        assert len(outcomes) == CONCURRENT_OFFICERS
        recorded = [outcome for outcome in outcomes if outcome[0] == "recorded"]
        refused = [outcome[0] for outcome in outcomes if outcome[0] != "recorded"]
        assert len(recorded) == 1, outcomes
        assert all(kind == "stale" or kind.startswith("refused 409") for kind in refused), refused
        _, winner, winning_version = recorded[0]

        session = db.session()
        stored = session.get(ReviewTask, task_id)
        assert stored is not None
        assert stored.version_id == winning_version  # nobody moved the task after the winner
        assert winning_version is not None and winning_version > version
        assert stored.assignee_id is not None and stored.assignee_id in officer_ids
        assert _event_count(session, application_id, *DECISION_EVENTS.values()) == 1
        assert _event_count(session, application_id, DECISION_EVENTS[winner]) == 1
        assert _audit_count(session, *(action.value for action in Action)) - audit_before == 1
        assert _audit_count(session, winner.value) == 1
        stored_application = session.get(Application, application_id)
        assert stored_application is not None and stored_application.status is STATUS_AFTER[winner]
        opened = session.scalar(select(func.count()).select_from(ReviewTask)
                                .where(ReviewTask.application_id == application_id))
        assert opened == (2 if winner is Action.APPROVE else 1)  # approving opened the next stage, once
        db.session.remove()


# --------------------------------------------------------------------------- request information

def test_request_information_pauses_the_task_until_the_applicant_answers(
        client: FlaskClient, db_session: Session, app: Flask, applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    health = officer(db_session, "demo_health")
    log_in(client, health.email)
    task = tasks_of(db_session, application.id)["intake"]
    assert 'value="request_information"' in client.get(f"/review/tasks/{task.id}").get_data(as_text=True)

    response = decide(client, task, "request_information", note="ขอทราบจำนวนที่นั่งและพื้นที่ครัวที่แน่นอน",
                      fields="area_m2")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    stored = application_row(db_session, application.id)
    assert stored.status is ApplicationStatus.INFORMATION_REQUESTED
    assert stored.correction is not None and stored.correction["kind"] == "information_requested"
    assert stored.correction["fields"] == ["area_m2"]
    assert [event.kind for event in stored.events].count("information_requested") == 1
    paused = tasks_of(db_session, application.id)["intake"]
    assert paused.status is TaskStatus.PAUSED and paused.id == task.id
    page = client.get(f"/review/tasks/{task.id}?lang=en").get_data(as_text=True)
    assert 'id="task-status">Waiting on the applicant</span>' in page
    assert 'name="action"' not in page  # nothing to decide while the applicant has it
    assert f'id="task-{task.id}"' not in client.get("/review/").get_data(as_text=True)
    assert f'id="task-{task.id}"' in client.get("/review/?status=paused").get_data(as_text=True)
    refused = decide(client, paused, "approve")
    assert refused.status_code == 409
    assert tasks_of(db_session, application.id)["intake"].status is TaskStatus.PAUSED

    log_out(client)
    log_in(client, applicant.email)
    mine = client.get(f"/applications/{application.id}?lang=en").get_data(as_text=True)
    assert "ขอทราบจำนวนที่นั่งและพื้นที่ครัวที่แน่นอน" in mine
    assert "To correct:" in mine and "Area of the premises (m²)" in mine.split("To correct:", 1)[1].split("</p>")[0]
    response = post_step(client, f"/applications/{application.id}/correction", {"area_m2": "180"},
                         action="resubmit")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    stored = application_row(db_session, application.id)
    assert stored.status is ApplicationStatus.IN_REVIEW and stored.answers["area_m2"] == 180.0
    assert stored.correction is None

    reopened = tasks_of(db_session, application.id)["intake"]
    assert reopened.id == task.id and reopened.status is TaskStatus.OPEN and reopened.outcome is None
    log_out(client)
    log_in(client, health.email)
    assert f'id="task-{task.id}"' in client.get("/review/").get_data(as_text=True)
    assert decide(client, reopened, "approve").status_code == 302  # and it can be decided again


# --------------------------------------------------------------------------- the clock stops while paused

SUBMITTED = dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC)  # Monday 2 November 2026, 10:00 in Bangkok
RETURNED = dt.datetime(2026, 11, 3, 3, tzinfo=dt.UTC)  # Tuesday: one working day of the intake's two left
RESUBMITTED = dt.datetime(2026, 11, 10, 3, tzinfo=dt.UTC)  # the Tuesday after: 5 working days later
# November 2026 has no Thai public holiday: the dates below are plain weekdays.


def test_the_deadline_clock_stops_while_the_applicant_corrects(db_session: Session, app: Flask, applicant: User,
                                                              business: Business) -> None:
    application = submitted(db_session, applicant, business, app, now=SUBMITTED)
    calendar = working_calendar(db_session, compiled(application.permit_version).spec)
    task = tasks_of(db_session, application.id)["intake"]
    original_due_on = task.due_on
    assert original_due_on == dt.date(2026, 11, 4)  # 2 working days
    original_decision_on = application_row(db_session, application.id).expected_decision_on
    assert original_decision_on == calendar.add_working_days(local_date(SUBMITTED), 30)

    with unit_of_work(db_session):
        review_services.decide(db_session, task.id, officer(db_session, "demo_health"),
                               Action.RETURN_FOR_CORRECTION, task.version_id, RETURNED, note="แผนที่ไม่ชัด",
                               fields=["area_m2"])
    assert tasks_of(db_session, application.id)["intake"].status is TaskStatus.PAUSED

    for day in (dt.datetime(2026, 11, 5, 3, tzinfo=dt.UTC), dt.datetime(2026, 11, 9, 10, tzinfo=dt.UTC)):
        with unit_of_work(db_session):  # past the intake's original due date (4 November)
            report = review_services.check_deadlines(db_session, day)
        assert report.tasks_marked_overdue == 0
        paused = tasks_of(db_session, application.id)["intake"]
        assert paused.status is TaskStatus.PAUSED and not paused.overdue
    assert _event_count(db_session, application.id, "stage_overdue") == 0
    assert not ApplicationState.from_json(application_row(db_session, application.id).engine_state).overdue

    with unit_of_work(db_session):
        decisions.resubmit(db_session, application_row(db_session, application.id), RESUBMITTED)
    waited = calendar.working_days_between(local_date(RETURNED), local_date(RESUBMITTED))
    assert waited == 5
    resumed = tasks_of(db_session, application.id)["intake"]
    assert resumed.status is TaskStatus.OPEN and not resumed.overdue
    assert resumed.due_on == dt.date(2026, 11, 11)
    assert calendar.working_days_between(original_due_on, resumed.due_on, "demo_health") == waited
    stored = application_row(db_session, application.id)
    assert stored.expected_decision_on is not None and original_decision_on is not None
    assert calendar.working_days_between(original_decision_on, stored.expected_decision_on) == waited

    with unit_of_work(db_session):  # the clock runs again from the resubmission
        on_time = review_services.check_deadlines(db_session, dt.datetime(2026, 11, 11, 10, tzinfo=dt.UTC))
    assert on_time.tasks_marked_overdue == 0
    with unit_of_work(db_session):
        late = review_services.check_deadlines(db_session, dt.datetime(2026, 11, 12, 3, tzinfo=dt.UTC))
    assert late.tasks_marked_overdue == 1
    assert tasks_of(db_session, application.id)["intake"].overdue


def test_a_paused_task_is_not_shown_overdue_in_the_queue(client: FlaskClient, db_session: Session, app: Flask,
                                                        applicant: User, business: Business) -> None:
    """Waiting on the applicant, the stage's clock is stopped: the queue must not call it overdue, nor list it
    under "Overdue", even when today is past the due date it had when it was paused."""
    submitted_at = dt.datetime(2025, 11, 3, 3, tzinfo=dt.UTC)  # long ago: the pages use the real today
    application = submitted(db_session, applicant, business, app, now=submitted_at)
    task = tasks_of(db_session, application.id)["intake"]
    with unit_of_work(db_session):
        review_services.decide(db_session, task.id, officer(db_session, "demo_health"),
                               Action.RETURN_FOR_CORRECTION, task.version_id, submitted_at + dt.timedelta(days=1),
                               note="แผนที่ไม่ชัด")
    assert tasks_of(db_session, application.id)["intake"].status is TaskStatus.PAUSED
    assert local_date(dt.datetime.now(dt.UTC)) > task.due_on
    log_in(client, officer(db_session, "demo_health", "อีกคน").email)
    paused_rows = client.get("/review/?status=paused").get_data(as_text=True)
    row = paused_rows.split(f'id="task-{task.id}"', 1)[1].split("</tr>", 1)[0]
    assert "overdue-flag" not in row
    assert f'id="task-{task.id}"' not in client.get("/review/?status=paused&overdue=1").get_data(as_text=True)


# --------------------------------------------------------------------------- refusals say why

def test_refused_decisions_say_why_and_record_nothing(client: FlaskClient, db_session: Session, app: Flask,
                                                      applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    health = make_user(db_session, role=Role.OFFICER, agency_id="demo_health", email="health-en@example.go.th",
                       locale="en")
    log_in(client, health.email)
    client.get("/review/?lang=en")
    task = tasks_of(db_session, application.id)["intake"]
    audit_before = _audit_count(db_session, *(action.value for action in Action))

    rejected = decide(client, task, "reject", note="   ")
    assert rejected.status_code == 409
    assert "Give the reason for the rejection: the applicant will see it." in rejected.get_data(as_text=True)

    returned = decide(client, task, "return_for_correction", note="")  # nothing said of what to correct
    assert returned.status_code == 409

    unknown = decide(client, task, "issue_licence_now")
    assert unknown.status_code == 409
    assert "The decision form was incomplete" in unknown.get_data(as_text=True)

    after = tasks_of(db_session, application.id)["intake"]
    assert after.status is TaskStatus.OPEN and after.version_id == task.version_id and after.outcome is None
    assert after.assignee_id is None
    assert _audit_count(db_session, *(action.value for action in Action)) == audit_before
    assert application_row(db_session, application.id).status is ApplicationStatus.IN_REVIEW

    reason = "ไม่ผ่านเกณฑ์สุขลักษณะ"
    assert decide(client, after, "reject", note=reason).status_code == 302
    stored = application_row(db_session, application.id)
    assert stored.status is ApplicationStatus.REJECTED
    assert [event.note for event in stored.events if event.kind == "rejected"] == [reason]


def test_a_return_that_names_nothing_says_what_is_missing(client: FlaskClient, db_session: Session, app: Flask,
                                                         applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    log_in(client, make_user(db_session, role=Role.OFFICER, agency_id="demo_health", email="health-en@example.go.th",
                             locale="en").email)
    client.get("/review/?lang=en")
    task = tasks_of(db_session, application.id)["intake"]
    for action in ("return_for_correction", "request_information"):
        response = decide(client, task, action, note="")
        text = response.get_data(as_text=True)
        assert response.status_code == 409
        assert "current state" not in text  # the application is in the right state: the officer named nothing
        assert "correct" in text.split("Error 409", 1)[-1].lower() or "provide" in text.lower()
    assert tasks_of(db_session, application.id)["intake"].version_id == task.version_id
