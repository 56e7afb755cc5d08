"""The audit log: one chained entry per state change, in the change's transaction; tampering is found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications import decisions
from bizportal.audit.models import GENESIS_HASH, AuditEntry
from bizportal.audit.services import verify
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.permits.services import LoadReport
from bizportal.review import services as review_services
from bizportal.review.models import ReviewTask
from bizportal.workflow.spec import Action

from .factories import make_business, make_user
from .test_applications import complete_food


@pytest.fixture
def applicant(db_session: Session, load_seeds: Callable[[], LoadReport]) -> User:
    load_seeds()
    return make_user(db_session, email="owner@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


def entries(db_session: Session) -> list[AuditEntry]:
    db_session.expire_all()
    return list(db_session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def intake(db_session: Session, application_id: int) -> ReviewTask:
    db_session.expire_all()
    return db_session.scalars(select(ReviewTask).where(ReviewTask.application_id == application_id,
                                                       ReviewTask.stage_id == "intake")).one()


def test_each_state_change_is_chained_in_its_transaction(db_session: Session, app: Flask, applicant: User,
                                                         business: Business) -> None:
    application = complete_food(db_session, applicant, business, app)
    health = make_user(db_session, role=Role.OFFICER, agency_id="demo_health")
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, now)
    with unit_of_work(db_session):
        review_services.claim(db_session, intake(db_session, application.id).id, health, now)
    task = intake(db_session, application.id)
    with unit_of_work(db_session):
        review_services.decide(db_session, task.id, health, Action.RETURN_FOR_CORRECTION, task.version_id, now,
                               note="แผนที่ไม่ชัด", documents=["site_map"])
    with unit_of_work(db_session):
        decisions.resubmit(db_session, application, now)
    with unit_of_work(db_session):
        decisions.withdraw(db_session, application, "เปลี่ยนใจ", now)

    log = entries(db_session)
    assert [(entry.action, entry.from_state, entry.to_state) for entry in log] == [
        ("submit", "draft", "in_review"), ("claim", None, None),
        ("return_for_correction", "in_review", "correction_requested"),
        ("resubmit", "correction_requested", "in_review"), ("withdraw", "in_review", "withdrawn")]
    assert log[0].actor_id == applicant.id and log[1].actor_id == health.id and log[2].actor_id == health.id
    assert log[2].reason == "แผนที่ไม่ชัด" and log[2].data["documents"] == ["site_map"]
    assert log[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(log, log[1:], strict=False))
    assert verify(db_session).ok and verify(db_session).checked == 5


def test_a_rolled_back_decision_leaves_no_entry(db_session: Session, app: Flask, applicant: User,
                                                business: Business) -> None:
    application = complete_food(db_session, applicant, business, app)
    health = make_user(db_session, role=Role.OFFICER, agency_id="demo_health")
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    before = entries(db_session)
    task = intake(db_session, application.id)
    with pytest.raises(RuntimeError), unit_of_work(db_session):
        review_services.decide(db_session, task.id, health, Action.APPROVE, task.version_id, dt.datetime.now(dt.UTC))
        raise RuntimeError("the request failed after the decision")
    assert [entry.id for entry in entries(db_session)] == [entry.id for entry in before]
    assert intake(db_session, application.id).outcome is None
    assert verify(db_session).ok


def test_verify_names_the_first_tampered_entry(runner: Any, db_session: Session, app: Flask, applicant: User,
                                               business: Business) -> None:
    application = complete_food(db_session, applicant, business, app)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    with unit_of_work(db_session):
        decisions.withdraw(db_session, application, "เปลี่ยนใจ", dt.datetime.now(dt.UTC))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "OK: 2 entries" in result.output

    first = entries(db_session)[0]
    with unit_of_work(db_session):
        db_session.execute(text("UPDATE audit_entries SET to_state = 'approved' WHERE id = :id"), {"id": first.id})
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit entry {first.id}" in result.output
