"""The officer queue and decisions: agency scoping, filters, keyset pages, claims, parallel stages, corrections,
stale and concurrent decisions, and the deadline check. Real database, real engine, real pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications import decisions
from bizportal.applications.models import Application, ApplicationEvent
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.permits.services import LoadReport
from bizportal.review import services as review_services
from bizportal.review.models import ReviewTask, TaskStatus
from bizportal.workflow.spec import Action
from bizportal.workflow.state import ApplicationStatus

from .factories import make_business, make_user
from .test_applications import complete_food
from .web_forms import log_in, log_out, submit


@pytest.fixture
def seeds(load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()


@pytest.fixture
def applicant(db_session: Session, seeds: None) -> User:
    return make_user(db_session, email="owner@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


def officer(db_session: Session, agency: str, name: str = "เจ้าหน้าที่") -> User:
    return make_user(db_session, role=Role.OFFICER, agency_id=agency, name=name,
                     email=f"{agency}-{name.replace(' ', '-')}@example.go.th")


def submitted(db_session: Session, applicant: User, business: Business, app: Flask, *, area: float = 150.0,
              now: dt.datetime | None = None) -> Application:
    application = complete_food(db_session, applicant, business, app, area_m2=area)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, now or dt.datetime.now(dt.UTC))
    return application


def tasks_of(db_session: Session, application_id: int) -> dict[str, ReviewTask]:
    db_session.expire_all()
    return {task.stage_id: task for task in db_session.scalars(
        select(ReviewTask).where(ReviewTask.application_id == application_id).order_by(ReviewTask.id))}


def decide(client: FlaskClient, task: ReviewTask, action: str, *, version: int | None = None,
           **extra: Any) -> Any:
    return submit(client, f"/review/tasks/{task.id}/decide",
                  {"action": action, "version_id": str(task.version_id if version is None else version), **extra},
                  form_page=f"/review/tasks/{task.id}")


def as_officer(client: FlaskClient, user: User) -> FlaskClient:
    log_out(client)
    log_in(client, user.email)
    return client


def test_queue_shows_only_the_officers_agency_and_filters(client: FlaskClient, db_session: Session, app: Flask,
                                                          applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    health = officer(db_session, "demo_health")
    building = officer(db_session, "demo_building")
    task = tasks_of(db_session, application.id)["intake"]

    log_in(client, health.email)
    page = client.get("/review/").get_data(as_text=True)
    assert f'id="task-{task.id}"' in page and (application.reference or "") in page and "ร้านอาหารทดสอบ" in page
    assert "?permit=water_meter" not in page
    assert f'id="task-{task.id}"' not in client.get("/review/?permit=water_meter").get_data(as_text=True)
    assert f'id="task-{task.id}"' in client.get("/review/?unassigned=1").get_data(as_text=True)
    assert f'id="task-{task.id}"' not in client.get("/review/?mine=1").get_data(as_text=True)
    assert f'id="task-{task.id}"' not in client.get("/review/?overdue=1").get_data(as_text=True)
    assert submit(client, f"/review/tasks/{task.id}/claim", {}, form_page=f"/review/tasks/{task.id}").status_code \
        == 302
    assert f'id="task-{task.id}"' in client.get("/review/?mine=1").get_data(as_text=True)
    assert f'id="task-{task.id}"' not in client.get("/review/?unassigned=1").get_data(as_text=True)

    as_officer(client, building)
    assert f'id="task-{task.id}"' not in client.get("/review/").get_data(as_text=True)
    assert client.get(f"/review/tasks/{task.id}").status_code == 404
    log_out(client)
    admin = make_user(db_session, role=Role.ADMIN, email="admin@example.go.th")
    log_in(client, admin.email)
    assert f'id="task-{task.id}"' in client.get("/review/").get_data(as_text=True)
    log_out(client)
    log_in(client, applicant.email)
    assert client.get("/review/").status_code == 403
    assert client.get(f"/review/tasks/{task.id}").status_code == 403


def test_queue_pages_by_keyset_in_constant_statements(client: FlaskClient, db_session: Session, app: Flask,
                                                      applicant: User, business: Business,
                                                      count_statements: Callable[[], Any]) -> None:
    application = submitted(db_session, applicant, business, app)
    health = officer(db_session, "demo_health")
    start = dt.date(2026, 12, 1)

    def add_tasks(count: int, offset: int) -> None:
        with unit_of_work(db_session):
            for number in range(offset, offset + count):
                db_session.add(ReviewTask(application_id=application.id, stage_id="intake", agency_id="demo_health",
                                          permit_type_id=application.permit_version.permit_type_id,
                                          status=TaskStatus.OPEN, due_on=start + dt.timedelta(days=number % 7),
                                          overdue=False, opened_at=dt.datetime.now(dt.UTC)))

    add_tasks(9, 0)  # with the submitted application's own task: 10
    log_in(client, health.email)
    with count_statements() as few:
        assert client.get("/review/").status_code == 200
    add_tasks(90, 9)
    with count_statements() as many:
        first = client.get("/review/").get_data(as_text=True)
    assert len(many) == len(few), many
    cursor = re.search(r'rel="next" href="([^"]+)"', first)
    assert cursor is not None
    with count_statements() as second_page:
        client.get(cursor.group(1).replace("&amp;", "&"))
    assert len(second_page) == len(few)
    # keyset, not OFFSET: a row-value comparison that enters the index at the cursor
    assert any("(review_tasks.due_on, review_tasks.id) >" in statement for statement in second_page)

    seen: list[int] = []
    path: str | None = "/review/"
    while path:
        html = client.get(path).get_data(as_text=True)
        seen += [int(number) for number in re.findall(r'id="task-(\d+)"', html)]
        found = re.search(r'rel="next" href="([^"]+)"', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    expected = list(db_session.scalars(select(ReviewTask.id).where(ReviewTask.agency_id == "demo_health")
                                       .order_by(ReviewTask.due_on, ReviewTask.id)))
    assert seen == expected and len(seen) == 100
    assert f'id="task-{expected[0]}"' in first


def test_claim_shows_who_and_release_frees_it(client: FlaskClient, db_session: Session, app: Flask,
                                              applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    first = officer(db_session, "demo_health", "สมหญิง ใจดี")
    second = officer(db_session, "demo_health", "สมศักดิ์ รักงาน")
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, first.email)
    submit(client, f"/review/tasks/{task.id}/claim", {}, form_page=f"/review/tasks/{task.id}")
    as_officer(client, second)
    page = client.get(f"/review/tasks/{task.id}").get_data(as_text=True)
    assert "สมหญิง ใจดี" in page and f"/review/tasks/{task.id}/claim" not in page
    refused = submit(client, f"/review/tasks/{task.id}/claim", {}, form_page="/review/")
    assert refused.status_code == 409 and "สมหญิง ใจดี" in refused.get_data(as_text=True)
    assert "สมหญิง ใจดี" in client.get("/review/").get_data(as_text=True)
    as_officer(client, first)
    submit(client, f"/review/tasks/{task.id}/release", {}, form_page=f"/review/tasks/{task.id}")
    assert tasks_of(db_session, application.id)["intake"].assignee_id is None


def test_parallel_stages_of_two_agencies_until_approved(client: FlaskClient, db_session: Session, app: Flask,
                                                        applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app, area=250.0)
    health = officer(db_session, "demo_health")
    building = officer(db_session, "demo_building")
    municipality = officer(db_session, "demo_municipality")
    log_in(client, health.email)
    page = client.get(f"/review/tasks/{tasks_of(db_session, application.id)['intake'].id}").get_data(as_text=True)
    assert "map.pdf" in page and "ครัวป้าแดง" in page  # documents and answers
    document = client.get(f"/applications/{application.id}/documents/site_map/file?inline=1")
    document.close()
    assert document.status_code == 200 and document.headers["Content-Disposition"].startswith("inline")
    assert decide(client, tasks_of(db_session, application.id)["intake"], "approve").status_code == 302

    tasks = tasks_of(db_session, application.id)
    assert tasks["intake"].status is TaskStatus.DONE and tasks["intake"].outcome == "approved"
    assert tasks["health_inspection"].status is TaskStatus.OPEN
    assert tasks["building_use_check"].status is TaskStatus.OPEN
    assert decide(client, tasks["health_inspection"], "approve").status_code == 302
    assert "decision" not in tasks_of(db_session, application.id)  # the join waits for the building check

    as_officer(client, building)
    document = client.get(f"/applications/{application.id}/documents/site_map/file")
    document.close()
    assert document.status_code == 200
    assert decide(client, tasks_of(db_session, application.id)["building_use_check"], "approve").status_code == 302
    as_officer(client, municipality)
    final = tasks_of(db_session, application.id)["decision"]
    assert f'id="task-{final.id}"' in client.get("/review/").get_data(as_text=True)
    page = client.get(f"/review/tasks/{final.id}").get_data(as_text=True)
    assert "return_for_correction" not in page  # the decision stage allows approve and reject only
    assert decide(client, final, "approve").status_code == 302
    db_session.expire_all()
    assert db_session.get(Application, application.id).status is ApplicationStatus.APPROVED  # type: ignore[union-attr]
    log_out(client)
    log_in(client, applicant.email)
    assert "อนุมัติ" in client.get(f"/applications/{application.id}").get_data(as_text=True)


def test_a_rejection_needs_a_reason_and_closes_the_other_tasks(client: FlaskClient, db_session: Session,
                                                                app: Flask, applicant: User,
                                                                business: Business) -> None:
    application = submitted(db_session, applicant, business, app, area=250.0)
    with unit_of_work(db_session):
        review_services.decide(db_session, tasks_of(db_session, application.id)["intake"].id,
                               officer(db_session, "demo_health"), Action.APPROVE,
                               tasks_of(db_session, application.id)["intake"].version_id, dt.datetime.now(dt.UTC))
    building = officer(db_session, "demo_building")
    log_in(client, building.email)
    task = tasks_of(db_session, application.id)["building_use_check"]
    assert decide(client, task, "reject", note="").status_code == 409
    assert tasks_of(db_session, application.id)["building_use_check"].status is TaskStatus.OPEN
    assert decide(client, task, "reject", note="อาคารไม่ได้รับอนุญาตให้ใช้เป็นร้านอาหาร").status_code == 302
    tasks = tasks_of(db_session, application.id)
    assert tasks["building_use_check"].outcome == "rejected"
    assert tasks["health_inspection"].status is TaskStatus.CANCELLED
    assert db_session.get(Application, application.id).status is ApplicationStatus.REJECTED  # type: ignore[union-attr]
    log_out(client)
    log_in(client, applicant.email)
    assert "อาคารไม่ได้รับอนุญาตให้ใช้เป็นร้านอาหาร" in client.get(f"/applications/{application.id}").get_data(
        as_text=True)


def test_return_for_correction_then_resubmission_reopens_the_task(client: FlaskClient, db_session: Session,
                                                                  app: Flask, applicant: User,
                                                                  business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    health = officer(db_session, "demo_health")
    log_in(client, health.email)
    task = tasks_of(db_session, application.id)["intake"]
    response = decide(client, task, "return_for_correction", note="แผนที่ไม่ชัด", fields="area_m2",
                      documents="site_map")
    assert response.status_code == 302
    task = tasks_of(db_session, application.id)["intake"]
    assert task.status is TaskStatus.PAUSED
    assert f'id="task-{task.id}"' not in client.get("/review/").get_data(as_text=True)
    assert f'id="task-{task.id}"' in client.get("/review/?status=paused").get_data(as_text=True)
    application = db_session.get(Application, application.id)  # type: ignore[assignment]
    assert application.correction is not None and application.correction["fields"] == ["area_m2"]
    with unit_of_work(db_session):
        decisions.resubmit(db_session, application, dt.datetime.now(dt.UTC))
    reopened = tasks_of(db_session, application.id)["intake"]
    assert reopened.id == task.id and reopened.status is TaskStatus.OPEN and reopened.outcome is None
    assert f'id="task-{task.id}"' in client.get("/review/").get_data(as_text=True)


def test_a_stale_version_gets_409_and_records_nothing(client: FlaskClient, db_session: Session, app: Flask,
                                                      applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    health = officer(db_session, "demo_health")
    log_in(client, health.email)
    task = tasks_of(db_session, application.id)["intake"]
    seen = task.version_id
    submit(client, f"/review/tasks/{task.id}/claim", {}, form_page=f"/review/tasks/{task.id}")  # moves the version
    response = decide(client, task, "approve", version=seen)
    assert response.status_code == 409
    assert "someone else" in response.get_data(as_text=True).lower() or "ผู้อื่น" in response.get_data(as_text=True)
    assert tasks_of(db_session, application.id)["intake"].status is TaskStatus.OPEN
    assert db_session.scalar(select(func.count()).select_from(ApplicationEvent).where(
        ApplicationEvent.application_id == application.id, ApplicationEvent.kind == "stage_approved")) == 0


def test_deadline_check_marks_overdue_tasks(runner: Any, client: FlaskClient, db_session: Session, app: Flask,
                                            applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app, now=dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC))
    result = runner.invoke(args=["deadlines", "check"])
    assert result.exit_code == 0, result.output
    assert "1 tasks marked overdue" in result.output
    task = tasks_of(db_session, application.id)["intake"]
    assert task.overdue
    log_in(client, officer(db_session, "demo_health").email)
    assert f'id="task-{task.id}"' in client.get("/review/?overdue=1").get_data(as_text=True)
    assert "0 tasks marked overdue" in runner.invoke(args=["deadlines", "check"]).output  # once each
