"""Handing a task to a colleague (admins and agency leads) and the activity log read from the audit trail."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.audit.models import AuditEntry
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.i18n import format_date
from bizportal.permits.services import LoadReport

from .factories import make_business, make_user
from .test_review import officer, submitted, tasks_of
from .web_forms import log_in, submit


@pytest.fixture
def applicant(db_session: Session, load_seeds: Callable[[], LoadReport]) -> User:
    load_seeds()
    return make_user(db_session, email="owner@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


def lead(db_session: Session, agency: str, name: str = "หัวหน้างาน") -> User:
    user = officer(db_session, agency, name)
    with unit_of_work(db_session):
        user.is_agency_lead = True
    return user


def assign_entries(db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "assign")) or 0


def test_an_agency_lead_assigns_a_task_to_a_colleague(client: FlaskClient, db_session: Session, app: Flask,
                                                      applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    boss = lead(db_session, "demo_health", "หัวหน้า สุขใจ")
    colleague = officer(db_session, "demo_health", "สมปอง ขยัน")
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, boss.email)
    page = client.get(f"/review/tasks/{task.id}").get_data(as_text=True)
    assert f"/review/tasks/{task.id}/assign" in page and "สมปอง ขยัน" in page
    response = submit(client, f"/review/tasks/{task.id}/assign", {"assignee_id": str(colleague.id)},
                      form_page=f"/review/tasks/{task.id}", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "สมปอง ขยัน" in text
    assert tasks_of(db_session, application.id)["intake"].assignee_id == colleague.id
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "assign")).one()
    assert entry.actor_id == boss.id and entry.subject_id == str(task.id)
    assert entry.data["to_assignee_id"] == colleague.id and entry.data["from_assignee_id"] is None
    # The activity log on the task page is read from the audit trail: who handed it to whom.
    activity = text.split('id="activity"', 1)[1]
    assert "หัวหน้า สุขใจ" in activity and "→ สมปอง ขยัน" in html.unescape(activity)
    # A lead can also take a colleague's claim back to the queue.
    submit(client, f"/review/tasks/{task.id}/release", {}, form_page=f"/review/tasks/{task.id}")
    assert tasks_of(db_session, application.id)["intake"].assignee_id is None


def test_a_plain_officer_cannot_assign(client: FlaskClient, db_session: Session, app: Flask, applicant: User,
                                       business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    plain = officer(db_session, "demo_health", "สมหญิง ใจดี")
    colleague = officer(db_session, "demo_health", "สมปอง ขยัน")
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, plain.email)
    page = client.get(f"/review/tasks/{task.id}").get_data(as_text=True)
    assert f"/review/tasks/{task.id}/assign" not in page
    refused = submit(client, f"/review/tasks/{task.id}/assign", {"assignee_id": str(colleague.id)},
                     form_page=f"/review/tasks/{task.id}")
    assert refused.status_code == 403
    assert tasks_of(db_session, application.id)["intake"].assignee_id is None and assign_entries(db_session) == 0


def test_a_lead_of_another_agency_sees_nothing(client: FlaskClient, db_session: Session, app: Flask,
                                               applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    other = lead(db_session, "demo_building")
    colleague = officer(db_session, "demo_health", "สมปอง ขยัน")
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, other.email)
    refused = submit(client, f"/review/tasks/{task.id}/assign", {"assignee_id": str(colleague.id)},
                     form_page="/review/")
    assert refused.status_code == 404 and "ครัวป้าแดง" not in refused.get_data(as_text=True)
    assert tasks_of(db_session, application.id)["intake"].assignee_id is None and assign_entries(db_session) == 0


def test_only_an_active_officer_of_the_agency_can_be_assigned(client: FlaskClient, db_session: Session, app: Flask,
                                                              applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    admin = officer(db_session, "demo_health", "ผู้ดูแล")
    with unit_of_work(db_session):
        admin.role, admin.agency_id = Role.ADMIN, None
    elsewhere = officer(db_session, "demo_building", "ช่าง ต่างกอง")
    gone = officer(db_session, "demo_health", "ลาออก แล้ว")
    with unit_of_work(db_session):
        gone.is_active = False
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, admin.email)
    page = client.get(f"/review/tasks/{task.id}").get_data(as_text=True)
    assert "ช่าง ต่างกอง" not in page and "ลาออก แล้ว" not in page  # not offered
    for candidate in (elsewhere, gone, applicant):
        refused = submit(client, f"/review/tasks/{task.id}/assign", {"assignee_id": str(candidate.id)},
                         form_page=f"/review/tasks/{task.id}")
        assert refused.status_code == 409
        assert "Choose an active officer" in refused.get_data(as_text=True) \
            or "เลือกเจ้าหน้าที่" in refused.get_data(as_text=True)
    assert tasks_of(db_session, application.id)["intake"].assignee_id is None and assign_entries(db_session) == 0
    colleague = officer(db_session, "demo_health", "สมปอง ขยัน")
    ok = submit(client, f"/review/tasks/{task.id}/assign", {"assignee_id": str(colleague.id)},
                form_page=f"/review/tasks/{task.id}")
    assert ok.status_code == 302 and tasks_of(db_session, application.id)["intake"].assignee_id == colleague.id


def test_the_activity_log_shows_claims_and_decisions_by_name(client: FlaskClient, db_session: Session, app: Flask,
                                                             applicant: User, business: Business) -> None:
    application = submitted(db_session, applicant, business, app)
    worker = officer(db_session, "demo_health", "สมหญิง ใจดี")
    task = tasks_of(db_session, application.id)["intake"]
    log_in(client, worker.email)
    submit(client, f"/review/tasks/{task.id}/claim", {}, form_page=f"/review/tasks/{task.id}")
    task = tasks_of(db_session, application.id)["intake"]
    submit(client, f"/review/tasks/{task.id}/decide", {"action": "approve", "version_id": str(task.version_id),
                                                       "note": "เอกสารครบถ้วน"},
           form_page=f"/review/tasks/{task.id}")
    following = tasks_of(db_session, application.id)["health_inspection"]
    page = client.get(f"/review/tasks/{following.id}").get_data(as_text=True)
    db_session.refresh(application)
    assert application.expected_decision_on is not None
    assert f'id="application-deadline">{format_date(application.expected_decision_on, "th")}' in page
    activity = page.split('id="activity"', 1)[1]
    rows = activity.split("<tr")
    claimed = [row for row in rows if "activity-claim" in row]
    approved = [row for row in rows if "activity-approve" in row]
    assert len(claimed) == 1 and "สมหญิง ใจดี" in claimed[0]
    assert len(approved) == 1 and "สมหญิง ใจดี" in approved[0] and "เอกสารครบถ้วน" in approved[0]
    assert any("activity-submit" in row for row in rows)


def admin_user(db_session: Session) -> User:
    return make_user(db_session, role=Role.ADMIN, email="root@example.go.th", name="ผู้ดูแล ระบบ")


def test_an_admin_makes_an_officer_an_agency_lead_and_back(client: FlaskClient, db_session: Session,
                                                           applicant: User) -> None:
    admin = admin_user(db_session)
    plain = officer(db_session, "demo_health", "สมปอง ขยัน")
    log_in(client, admin.email)
    submit(client, f"/admin/users/{plain.id}/lead", {"lead": "1"}, form_page="/admin/users")
    db_session.refresh(plain)
    assert plain.is_agency_lead
    assert f'id="lead-{plain.id}"' in client.get("/admin/users").get_data(as_text=True)
    submit(client, f"/admin/users/{plain.id}/lead", {"lead": "1"}, form_page="/admin/users")  # no change: no entry
    submit(client, f"/admin/users/{plain.id}/lead", {"lead": "0"}, form_page="/admin/users")
    db_session.refresh(plain)
    assert not plain.is_agency_lead
    entries = list(db_session.scalars(select(AuditEntry).where(AuditEntry.subject_type == "user",
                                                                AuditEntry.subject_id == str(plain.id))
                                      .order_by(AuditEntry.id)))
    assert [(entry.action, entry.actor_id, entry.from_state, entry.to_state) for entry in entries] == [
        ("user_lead_granted", admin.id, "officer", "agency_lead"),
        ("user_lead_revoked", admin.id, "agency_lead", "officer")]
    refused = submit(client, f"/admin/users/{applicant.id}/lead", {"lead": "1"}, form_page="/admin/users")
    assert refused.status_code == 409
    db_session.refresh(applicant)
    assert not applicant.is_agency_lead


def test_an_officer_created_as_lead_in_the_console_or_from_the_command_line(client: FlaskClient, runner: Any,
                                                                              db_session: Session,
                                                                              applicant: User) -> None:
    admin = admin_user(db_session)
    log_in(client, admin.email)
    created = submit(client, "/admin/users", {"name": "หัวหน้า ใหม่", "email": "lead@example.go.th",
                                              "password": "a-good-password", "agency": "demo_health",
                                              "agency_lead": "y"}, form_page="/admin/users")
    assert created.status_code == 302
    lead_user = db_session.scalars(select(User).where(User.email == "lead@example.go.th")).one()
    assert lead_user.is_agency_lead and lead_user.agency_id == "demo_health"
    result = runner.invoke(args=["users", "create", "cli-lead@example.go.th", "--role", "officer", "--agency",
                                 "demo_building", "--lead", "--password", "a-good-password"])
    assert result.exit_code == 0 and "agency lead" in result.output
    assert db_session.scalars(select(User).where(User.email == "cli-lead@example.go.th")).one().is_agency_lead
    refused = runner.invoke(args=["users", "create", "not-lead@example.com", "--lead", "--password",
                                  "a-good-password"])
    assert refused.exit_code != 0 and "Only officers can lead" in refused.output
