"""The resource endpoints' guarantees: Idempotency-Key, If-Match (412/428), who may see and do what (another
user's application and another agency's task answer 404), validation errors with JSON-pointer field paths, bad
uploads, withdraw and resubmit, keyset pages without duplicates or gaps while rows are added, and a constant
number of SQL statements per queue page. Real database, real services; nothing of ours is mocked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications.models import Application
from bizportal.audit.models import AuditEntry
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.licences.models import Licence, LicenceStatus
from bizportal.permits.services import LoadReport
from bizportal.review.models import ReviewTask, TaskStatus

from .application_pages import JPEG, PDF
from .factories import make_business, make_quick_user
from .test_api_journey import (
    Api,
    decide,
    draft,
    key,
    make_apis,
    make_people,
    ok,
    queue,
    submitted_by_api,
    token_for,
)
from .test_review import submitted


@pytest.fixture
def people(db_session: Session, load_seeds: Callable[[], LoadReport]) -> dict[str, User]:
    return make_people(db_session, load_seeds)


@pytest.fixture
def shop(db_session: Session, people: dict[str, User]) -> Business:
    return make_business(db_session, owner=people["owner"])


@pytest.fixture
def apis(app: Flask, client: FlaskClient, people: dict[str, User]) -> dict[str, Api]:
    return make_apis(app, people)


def count(db_session: Session, model: Any, *conditions: Any) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def pointers(response: Any) -> set[str]:
    body = response.get_json()
    assert response.mimetype == "application/problem+json", body
    return {error["path"] for error in body.get("errors") or []}


def task_row(db_session: Session, task_id: int) -> ReviewTask:
    db_session.expire_all()
    task = db_session.get(ReviewTask, task_id)
    assert task is not None
    return task


# --------------------------------------------------------------------------- idempotency

def test_the_same_idempotency_key_twice_makes_one_application(apis: dict[str, Api], db_session: Session,
                                                              shop: Business, people: dict[str, User]) -> None:
    owner = apis["owner"]
    headers = key()
    body = {"permit_type": "food_premises", "business_id": shop.id}
    first = owner.post("/applications", body, headers=headers)
    second = owner.post("/applications", body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] == second.get_json()["id"]
    assert count(db_session, Application, Application.applicant_id == people["owner"].id) == 1
    owner.post("/applications", body, headers=key())
    assert count(db_session, Application, Application.applicant_id == people["owner"].id) == 2


def test_the_same_idempotency_key_twice_records_one_decision(apis: dict[str, Api], db_session: Session,
                                                             shop: Business) -> None:
    health = apis["health"]
    application_id = submitted_by_api(apis["owner"], shop.id)
    task_id = queue(health)[0]["id"]
    etag = health.get(f"/tasks/{task_id}").headers["ETag"]
    headers = {"If-Match": etag, **key()}
    first = health.post(f"/tasks/{task_id}/decision", {"action": "approve"}, headers=headers)
    second = health.post(f"/tasks/{task_id}/decision", {"action": "approve"}, headers=headers)
    assert first.status_code == second.status_code == 200 and first.get_json() == second.get_json()
    decided = AuditEntry.subject_type == "application", AuditEntry.subject_id == str(application_id), \
        AuditEntry.action == "approve"
    assert count(db_session, AuditEntry, *decided) == 1
    assert [row["stage_id"] for row in queue(health)] == ["health_inspection"]
    # without the key, the same stale request is refused rather than counted again
    assert health.post(f"/tasks/{task_id}/decision", {"action": "approve"},
                       headers={"If-Match": etag}).status_code in {409, 412}
    assert count(db_session, AuditEntry, *decided) == 1


# --------------------------------------------------------------------------- If-Match

def test_a_decision_needs_if_match_and_a_stale_one_gets_412(apis: dict[str, Api], db_session: Session,
                                                           shop: Business, people: dict[str, User],
                                                           app: Flask) -> None:
    health = apis["health"]
    submitted_by_api(apis["owner"], shop.id)
    task_id = queue(health)[0]["id"]
    seen = health.get(f"/tasks/{task_id}")
    assert seen.headers["ETag"] and ok(seen)["version"] == task_row(db_session, task_id).version_id

    missing = health.post(f"/tasks/{task_id}/decision", {"action": "approve"}, headers=key())
    assert missing.status_code == 428 and missing.mimetype == "application/problem+json"

    colleague = Api(app.test_client(), token_for(app, make_quick_user(db_session, role=Role.OFFICER,
                                                                      agency_id="demo_health")))
    ok(colleague.post(f"/tasks/{task_id}/claim"))  # the task moves on after this officer looked at it
    stale = health.post(f"/tasks/{task_id}/decision", {"action": "reject", "reason": "ไม่ผ่าน"},
                        headers={"If-Match": seen.headers["ETag"], **key()})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    task = task_row(db_session, task_id)
    assert task.status is TaskStatus.OPEN and task.outcome is None

    fresh = ok(decide(colleague, task_id, "reject", "สถานที่ไม่ถูกสุขลักษณะ"))
    assert fresh["application_status"] == "rejected"


def test_a_rejection_without_reason_is_refused(apis: dict[str, Api], db_session: Session, shop: Business) -> None:
    health = apis["health"]
    submitted_by_api(apis["owner"], shop.id)
    task_id = queue(health)[0]["id"]
    refused = decide(health, task_id, "reject", "")
    assert refused.status_code in {409, 422} and refused.mimetype == "application/problem+json"
    assert task_row(db_session, task_id).status is TaskStatus.OPEN


# --------------------------------------------------------------------------- permissions

def test_another_entrepreneurs_application_is_not_found(app: Flask, apis: dict[str, Api], db_session: Session,
                                                        shop: Business) -> None:
    owner = apis["owner"]
    application_id = draft(owner, shop.id)
    stranger_user = make_quick_user(db_session)
    stranger_shop = make_business(db_session, owner=stranger_user)
    stranger = Api(app.test_client(), token_for(app, stranger_user))
    assert stranger.get(f"/applications/{application_id}").status_code == 404
    assert stranger.patch(f"/applications/{application_id}/steps/applicant",
                          {"answers": {"applicant_type": "juristic"}}).status_code == 404
    assert stranger.upload(f"/applications/{application_id}/documents/site_map", PDF, "x.pdf").status_code == 404
    assert stranger.post(f"/applications/{application_id}/submit", headers=key()).status_code == 404
    assert stranger.post(f"/applications/{application_id}/withdraw", {"reason": "x"}).status_code == 404
    assert ok(stranger.get("/applications"))["items"] == []
    assert [item["id"] for item in ok(stranger.get("/businesses"))["items"]] == [stranger_shop.id]
    # nor may one apply for someone else's business
    assert stranger.post("/applications", {"permit_type": "food_premises", "business_id": shop.id},
                         headers=key()).status_code == 404
    assert ok(owner.get(f"/applications/{application_id}"))["answers"].get("applicant_type") is None


def test_an_officer_sees_and_decides_only_the_own_agencys_tasks(apis: dict[str, Api], db_session: Session,
                                                                shop: Business) -> None:
    health, municipality, owner = apis["health"], apis["municipality"], apis["owner"]
    application_id = submitted_by_api(owner, shop.id)
    task_id = queue(health)[0]["id"]
    assert queue(municipality) == []
    assert municipality.get(f"/tasks/{task_id}").status_code == 404
    assert municipality.post(f"/tasks/{task_id}/claim").status_code == 404
    etag = health.get(f"/tasks/{task_id}").headers["ETag"]
    refused = municipality.post(f"/tasks/{task_id}/decision", {"action": "approve"},
                                headers={"If-Match": etag, **key()})
    assert refused.status_code in {403, 404}
    assert task_row(db_session, task_id).status is TaskStatus.OPEN
    # an entrepreneur has no queue, an officer no applications of their own
    assert owner.get("/tasks").status_code == 403
    assert owner.get(f"/tasks/{task_id}").status_code == 403
    assert health.get("/applications").status_code == 403
    assert health.get(f"/applications/{application_id}").status_code == 403


# --------------------------------------------------------------------------- validation

def test_step_answers_are_checked_like_the_page_with_field_paths(apis: dict[str, Api], db_session: Session,
                                                                 shop: Business) -> None:
    owner = apis["owner"]
    application_id = draft(owner, shop.id)
    path = f"/applications/{application_id}/steps/premises"

    unknown = owner.patch(path, {"answers": {"no_such_field": 1, "owns_premises": "perhaps?", "area_m2": [1]}})
    assert unknown.status_code == 422
    assert pointers(unknown) == {"/answers/no_such_field", "/answers/area_m2"}  # "perhaps?" is checked below

    refused = owner.patch(path, {"answers": {"business_name": "ร้านใหม่", "area_m2": -5, "premises_kind": "castle",
                                             "opening_date": "31/02/2569"}})
    assert refused.status_code == 422
    assert pointers(refused) == {"/answers/area_m2", "/answers/premises_kind", "/answers/opening_date"}
    body = ok(owner.get(f"/applications/{application_id}"))
    assert body["answers"]["business_name"] == "ร้านใหม่"  # the valid answer was kept
    assert {"area_m2", "premises_kind", "opening_date"} <= set(body["pending_fields"])

    schema_error = owner.patch(path, {"answers": "not an object"})
    assert schema_error.status_code == 422 and schema_error.mimetype == "application/problem+json"
    assert owner.patch(f"/applications/{application_id}/steps/no_such_step", {"answers": {}}).status_code == 404

    # a yes/no answer brings its question onto the same step: the client is told to answer it
    result = ok(owner.patch(f"/applications/{application_id}/steps/food_handlers",
                            {"answers": {"food_handler_count": 3, "handlers_trained": True}}))
    assert result["appeared"] == ["training_certificate_file"] and result["next_step"] == "food_handlers"


def test_submitting_an_incomplete_draft_lists_what_is_missing(apis: dict[str, Api], shop: Business) -> None:
    owner = apis["owner"]
    application_id = draft(owner, shop.id)
    response = owner.post(f"/applications/{application_id}/submit", headers=key())
    assert response.status_code == 422
    assert {"/answers/business_name", "/answers/premises_kind", "/answers/site_map_file",
            "/answers/declare_true"} <= pointers(response)
    assert ok(owner.get(f"/applications/{application_id}"))["status"] == "draft"


def test_bad_uploads_are_refused_with_a_problem(apis: dict[str, Api], shop: Business) -> None:
    owner = apis["owner"]
    application_id = draft(owner, shop.id)
    path = f"/applications/{application_id}/documents/site_map"
    for content, name in ((b"hello, not a pdf", "map.pdf"), (b"", "empty.pdf")):
        response = owner.upload(path, content, name)
        assert response.status_code == 422 and pointers(response) == {"/file"}, response.get_json()
    no_file = owner.post(path, {"file": "map.pdf"})
    assert no_file.status_code in {415, 422} and no_file.mimetype == "application/problem+json"
    broken = owner.client.post("/api/v1" + path, data=b"--x\r\nContent-Disposition: form-data; name=\"file\"",
                               content_type="multipart/form-data; boundary=x", headers=owner.headers())
    assert broken.status_code in {400, 415, 422} and broken.mimetype == "application/problem+json"
    assert owner.upload(f"/applications/{application_id}/documents/no_such_document", PDF, "x.pdf") \
        .status_code == 404
    accepted = ok(owner.upload(path, JPEG, "map.jpg"), 201)  # the site map may be a photo
    assert accepted["content_type"] == "image/jpeg" and accepted["filename"] == "map.jpg"
    assert next(item for item in ok(owner.get(f"/applications/{application_id}"))["documents"]
                if item["document_id"] == "site_map")["uploaded"] is True


# --------------------------------------------------------------------------- withdraw and resubmit

def test_withdraw_cancels_the_open_tasks(apis: dict[str, Api], db_session: Session, shop: Business) -> None:
    owner, health = apis["owner"], apis["health"]
    application_id = submitted_by_api(owner, shop.id)
    task_id = queue(health)[0]["id"]
    body = ok(owner.post(f"/applications/{application_id}/withdraw", {"reason": "ย้ายร้าน"}))
    assert body["status"] == "withdrawn"
    assert task_row(db_session, task_id).status is TaskStatus.CANCELLED
    assert queue(health) == []
    again = owner.post(f"/applications/{application_id}/withdraw", {"reason": ""})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"


def test_a_return_for_correction_is_corrected_and_resubmitted(apis: dict[str, Api], db_session: Session,
                                                              shop: Business) -> None:
    owner, health = apis["owner"], apis["health"]
    application_id = submitted_by_api(owner, shop.id)
    task_id = queue(health)[0]["id"]
    assert owner.post(f"/applications/{application_id}/resubmit", headers=key()).status_code == 409
    ok(decide(health, task_id, "return", "ชื่อสถานที่ไม่ตรงกับป้าย", fields=["business_name"]))
    body = ok(owner.get(f"/applications/{application_id}"))
    assert body["status"] == "correction_requested"
    assert body["correction"]["fields"] == ["business_name"] and body["correction"]["note"]
    assert task_row(db_session, task_id).status is TaskStatus.PAUSED

    path = f"/applications/{application_id}/steps/premises"
    outside = owner.patch(path, {"answers": {"area_m2": 120}})
    assert outside.status_code == 422 and pointers(outside) == {"/answers/area_m2"}
    ok(owner.patch(path, {"answers": {"business_name": "ครัวป้าแดง สาขา 2"}}))
    body = ok(owner.post(f"/applications/{application_id}/resubmit", headers=key()))
    assert body["status"] == "in_review" and body["answers"]["business_name"] == "ครัวป้าแดง สาขา 2"
    assert body["answers"]["area_m2"] == 150.0
    assert task_row(db_session, task_id).status is TaskStatus.OPEN


# --------------------------------------------------------------------------- pagination

def test_application_pages_have_no_duplicates_or_gaps_while_rows_are_added(
        apis: dict[str, Api], shop: Business, count_statements: Callable[[], Any]) -> None:
    owner = apis["owner"]
    existing = [draft(owner, shop.id) for _ in range(7)]
    with count_statements() as few:
        assert len(ok(owner.get("/applications", query_string={"limit": 1}))["items"]) == 1
    with count_statements() as many:
        assert len(ok(owner.get("/applications", query_string={"limit": 7}))["items"]) == 7
    assert len(many) == len(few), many
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = ok(owner.get("/applications", query_string=query))
        seen += [item["id"] for item in page["items"]]
        draft(owner, shop.id)  # a new application between pages
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(existing, reverse=True) and pages == 3
    assert owner.get("/applications", query_string={"cursor": "garbage"}).status_code == 400


def test_task_pages_are_stable_and_run_the_same_statements(app: Flask, apis: dict[str, Api], db_session: Session,
                                                           people: dict[str, User], shop: Business,
                                                           count_statements: Callable[[], Any]) -> None:
    health = apis["health"]
    application = submitted(db_session, people["owner"], shop, app)
    start = dt.date(2026, 12, 1)

    def add_tasks(number: int, offset: int, *, days: int | None = None) -> None:
        with unit_of_work(db_session):
            for index in range(offset, offset + number):
                due_on = start + dt.timedelta(days=index % 5 if days is None else days)
                db_session.add(ReviewTask(application_id=application.id, stage_id="intake", agency_id="demo_health",
                                          permit_type_id=application.permit_version.permit_type_id,
                                          status=TaskStatus.OPEN, due_on=due_on, overdue=False,
                                          opened_at=dt.datetime.now(dt.UTC)))

    add_tasks(1, 0)
    queue(health)  # the token's first use is recorded once; the pages after it are what is counted
    with count_statements() as few:
        assert len(queue(health, limit=2)) == 2
    add_tasks(40, 1)
    with count_statements() as many:
        first = ok(health.get("/tasks", query_string={"limit": 20}))
    assert len(first["items"]) == 20 and len(many) == len(few), "\n\n".join(few + ["====="] + many)
    with count_statements() as second:
        ok(health.get("/tasks", query_string={"limit": 20, "cursor": first["next_cursor"]}))
    assert len(second) == len(few)
    assert any("(review_tasks.due_on, review_tasks.id) >" in statement for statement in second)  # keyset

    expected = list(db_session.scalars(select(ReviewTask.id).where(ReviewTask.agency_id == "demo_health")
                                       .order_by(ReviewTask.due_on, ReviewTask.id)))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = ok(health.get("/tasks", query_string=query))
        seen += [item["id"] for item in page["items"]]
        add_tasks(1, 100, days=365)  # due later than any seen so far: appears at the end, never as a duplicate
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen[:len(expected)] == expected
    assert health.get("/tasks", query_string={"cursor": "garbage"}).status_code == 400
    assert health.get("/tasks", query_string={"limit": 0}).status_code == 422


# --------------------------------------------------------------------------- licences

def test_a_licence_is_read_by_its_holder_and_agencies_only_and_its_pdf_waits_for_rendering(
        app: Flask, apis: dict[str, Api], db_session: Session, shop: Business) -> None:
    owner, health, municipality = apis["owner"], apis["health"], apis["municipality"]
    application_id = submitted_by_api(owner, shop.id)
    for officer in (health, health, municipality):
        result = ok(decide(officer, queue(officer)[0]["id"]))
    licence_id = result["licence_id"]
    assert licence_id is not None and ok(owner.get(f"/applications/{application_id}"))["licence_id"] == licence_id
    assert ok(health.get(f"/licences/{licence_id}"))["id"] == licence_id  # an agency with a task on it

    stranger = Api(app.test_client(), token_for(app, make_quick_user(db_session)))
    building = Api(app.test_client(), token_for(app, make_quick_user(db_session, role=Role.OFFICER,
                                                                     agency_id="demo_building")))
    for outsider in (stranger, building):
        assert outsider.get(f"/licences/{licence_id}").status_code == 404
        assert outsider.get(f"/licences/{licence_id}/pdf").status_code == 404

    with unit_of_work(db_session):  # as just after the approval, before the render job has run
        licence = db_session.get(Licence, licence_id)
        assert licence is not None
        licence.file_path, licence.status = None, LicenceStatus.PENDING
    waiting = owner.get(f"/licences/{licence_id}/pdf")
    assert waiting.status_code == 409 and waiting.mimetype == "application/problem+json"
    assert waiting.get_json()["type"].endswith("/problems/licence-not-rendered")
    assert ok(owner.get(f"/licences/{licence_id}"))["pdf_ready"] is False
    # a licence still being issued is not public yet
    number = ok(owner.get(f"/licences/{licence_id}"))["number"]
    assert Api(app.test_client(), None).get(f"/licences/verify/{number}").status_code == 404
