"""Applying through the web pages: the wizard, drafts, uploads, submit, correction, withdraw, ownership."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from bizportal.accounts.models import User
from bizportal.applications import decisions, services
from bizportal.applications.models import Application, ApplicationDocument
from bizportal.businesses.models import Business
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.permits.models import PermitType
from bizportal.permits.services import LoadReport
from bizportal.workflow.calendar import WorkingCalendar, local_date
from bizportal.workflow.state import ApplicationState, ApplicationStatus

from .application_pages import JPEG, PDF, PNG, form_values, post_step, upload
from .factories import load, make_application, make_business, make_user
from .web_forms import csrf_token, log_in, log_out, submit


@pytest.fixture
def seeds(load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()


@pytest.fixture
def applicant(db_session: Session, seeds: None) -> User:
    return make_user(db_session, email="somchai@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


@pytest.fixture
def logged_in(client: FlaskClient, applicant: User, business: Business) -> FlaskClient:
    log_in(client, applicant.email)
    return client


def start(client: FlaskClient, key: str, business: Business) -> int:
    response = submit(client, f"/permits/{key}/apply", {"business_id": str(business.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    found = re.search(r"/applications/(\d+)/steps/", response.headers["Location"])
    assert found is not None
    return int(found.group(1))


def step_path(application_id: int, step_id: str) -> str:
    return f"/applications/{application_id}/steps/{step_id}"


def next_location(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return str(response.headers["Location"])


def application_row(db_session: Session, application_id: int) -> Application:
    db_session.expire_all()
    application = db_session.get(Application, application_id)
    assert application is not None
    return application


DECLARATIONS = {"declare_not_market": "yes", "declare_hygiene": "yes", "declare_true": "yes"}
BANGKOK_PREMISES = {"premises_address.house_no": "12", "premises_address.subdistrict": "พระบรมมหาราชวัง",
                    "premises_address.district": "พระนคร", "premises_address.province_code": "10",
                    "premises_address.postcode": "10200"}
CHIANG_MAI_PREMISES = {"premises_address.house_no": "5", "premises_address.subdistrict": "ศรีภูมิ",
                       "premises_address.district": "เมืองเชียงใหม่", "premises_address.province_code": "50",
                       "premises_address.postcode": "50200"}


def fill_food(client: FlaskClient, application_id: int, *, large: bool) -> None:
    """Walk the food-premises wizard: a small owned food store by a person, or a large rented restaurant."""
    path = step_path(application_id, "applicant")
    if large:
        response = post_step(client, path, {"applicant_type": "juristic", "filed_by_agent": "yes"})
        # the juristic number appears on the same page: asked again before moving on
        assert response.status_code == 200
        assert "ข้อมูลที่ท่านกรอกทำให้มีคำถามเพิ่มในหน้านี้" in response.get_data(as_text=True)
        assert 'name="juristic_id"' in response.get_data(as_text=True)
        response = post_step(client, path, {"juristic_id": "0105536112014"})
        assert next_location(response).endswith(step_path(application_id, "representative"))
        response = post_step(client, step_path(application_id, "representative"),
                             {"representative_name": "นางสาว ใจดี มีสุข", "representative_citizen_id": "3100600445635"})
        assert next_location(response).endswith(step_path(application_id, "premises"))
    else:
        response = post_step(client, path, {"applicant_type": "person", "filed_by_agent": "no"})
        assert response.status_code == 200  # the citizen ID appears, prefilled from the profile
        assert 'value="3100600445635"' in response.get_data(as_text=True)
        response = post_step(client, path)
        # no representative step for a person
        assert next_location(response).endswith(step_path(application_id, "premises"))
    premises = {"business_name": "ครัวป้าแดง", "area_m2": "350" if large else "๑๕๐",
                "premises_kind": "sale" if large else "storage", "owns_premises": "no" if large else "yes",
                **BANGKOK_PREMISES}
    response = post_step(client, step_path(application_id, "premises"), premises)
    if large:  # how the food is sold is asked only for a food-sale place
        assert response.status_code == 200 and 'name="service_modes"' in response.get_data(as_text=True)
        response = post_step(client, step_path(application_id, "premises"), {"service_modes": ["dine_in", "delivery"]})
    assert next_location(response).endswith(step_path(application_id, "food_handlers"))
    response = post_step(client, step_path(application_id, "food_handlers"),
                         {"food_handler_count": "4", "handlers_trained": "no"})
    assert next_location(response).endswith(step_path(application_id, "attachments"))
    files = {"site_map_file": (PDF, "map.pdf")}
    if large:
        files |= {"lease_file": (JPEG, "lease.jpg"), "power_of_attorney_file": (PNG, "proxy.png")}
    response = post_step(client, step_path(application_id, "attachments"), files=files)
    assert next_location(response).endswith(step_path(application_id, "declarations"))
    response = post_step(client, step_path(application_id, "declarations"), DECLARATIONS)
    assert next_location(response).endswith(f"/applications/{application_id}/documents")


# --------------------------------------------------------------------------- the wizard, per seed permit

@pytest.mark.parametrize("large", [False, True], ids=["small-owned-person", "large-rented-company"])
def test_food_premises_wizard_submit(logged_in: FlaskClient, db_session: Session, business: Business,
                                     large: bool) -> None:
    client = logged_in
    page = client.get("/permits/food_premises/apply")
    assert business.name_th in page.get_data(as_text=True)
    application_id = start(client, "food_premises", business)
    first = client.get(step_path(application_id, "applicant")).get_data(as_text=True)
    assert 'value="ร้านอาหารทดสอบ"' in first and 'value="0812345678"' in first  # prefilled from the profile
    assert 'name="citizen_id"' not in first  # asked once the applicant says they are a person

    fill_food(client, application_id, large=large)
    documents = client.get(f"/applications/{application_id}/documents").get_data(as_text=True)
    assert "map.pdf" in documents
    assert ("Power of attorney" in documents or "หนังสือมอบอำนาจ" in documents) is large

    review = client.get(f"/applications/{application_id}/review").get_data(as_text=True)
    assert "ครัวป้าแดง" in review
    assert ("200 บาท" if large else "100 บาท") in review
    today = local_date(dt.datetime.now(dt.UTC))
    expected = WorkingCalendar().add_working_days(today, 30)
    from bizportal.i18n import format_date

    assert format_date(expected, "th") in review
    assert "disabled" not in review.split("Submit")[0][-300:]

    response = submit(client, f"/applications/{application_id}/submit", {},
                      form_page=f"/applications/{application_id}/review")
    assert next_location(response).endswith(f"/applications/{application_id}")
    application = application_row(db_session, application_id)
    assert application.status is ApplicationStatus.IN_REVIEW
    assert application.expected_decision_on == expected
    assert application.submitted_at is not None
    assert application.fees == [{"fee_id": "annual_fee", "amount": 200.0 if large else 100.0,
                                 "payable": "before_issue"}]
    state = ApplicationState.from_json(application.engine_state)
    assert set(state.tasks) == {"intake"}
    assert ("building_use_check" in state.skipped) is not large
    kinds = [event.kind for event in application.events]
    assert kinds[0] == "created" and {"submitted", "deadline_set", "fees_assessed", "stage_opened"} <= set(kinds)
    if large:
        assert application.answers["service_modes"] == ["dine_in", "delivery"]
    else:
        assert "juristic_id" not in application.answers and application.answers["area_m2"] == 150.0
    shown = client.get(f"/applications/{application_id}").get_data(as_text=True)
    assert format_date(expected, "th") in shown and "ตรวจสอบคำขอและเอกสาร" in shown


@pytest.mark.parametrize("in_bangkok", [True, False], ids=["mwa", "pwa"])
def test_water_meter_wizard(logged_in: FlaskClient, db_session: Session, business: Business,
                            in_bangkok: bool) -> None:
    client = logged_in
    application_id = start(client, "water_meter", business)
    post_step(client, step_path(application_id, "applicant"), {"applicant_type": "person"})
    response = post_step(client, step_path(application_id, "applicant"))
    assert next_location(response).endswith(step_path(application_id, "premises"))
    address = BANGKOK_PREMISES if in_bangkok else CHIANG_MAI_PREMISES
    response = post_step(client, step_path(application_id, "premises"), {**address, "occupancy": "owner"})
    response = post_step(client, step_path(application_id, "connection"),
                         {"usage_class": "other", "install_type": "temporary", "meter_size": "0.75"})
    assert response.status_code == 200  # the end date appears on the same page
    response = post_step(client, step_path(application_id, "connection"),
                         {"temporary_until.day": "31", "temporary_until.month": "12", "temporary_until.year": "2570"})
    location = next_location(response)
    if in_bangkok:
        assert location.endswith(step_path(application_id, "declarations"))
        assert client.get(step_path(application_id, "pwa_details")).status_code == 404
    else:
        assert location.endswith(step_path(application_id, "pwa_details"))
        response = post_step(client, location, {"pwa_branch": "เชียงใหม่", "latitude": "18.79",
                                                "longitude": "98.98"})
        assert next_location(response).endswith(step_path(application_id, "declarations"))
    response = post_step(client, step_path(application_id, "declarations"),
                         {"declare_conditions": "yes", "declare_true": "yes"})
    assert next_location(response).endswith("/documents")
    response = submit(client, f"/applications/{application_id}/submit", {},
                      form_page=f"/applications/{application_id}/review")
    assert response.status_code == 302
    application = application_row(db_session, application_id)
    assert application.answers["temporary_until"] == "2027-12-31"
    state = ApplicationState.from_json(application.engine_state)
    assert ("pwa" in state.skipped) is in_bangkok and ("mwa" in state.skipped) is not in_bangkok


@pytest.mark.parametrize("types", [["type2"], ["type1", "type2"]])
def test_liquor_sales_wizard_asks_the_declarations_of_each_type(logged_in: FlaskClient, db_session: Session,
                                                                business: Business, types: list[str]) -> None:
    client = logged_in
    application_id = start(client, "liquor_sales", business)
    post_step(client, step_path(application_id, "applicant"), {"applicant_type": "person"})
    response = post_step(client, step_path(application_id, "applicant"))
    assert next_location(response).endswith(step_path(application_id, "licence_details"))
    response = post_step(client, step_path(application_id, "licence_details"),
                         {"licence_types": types, "business_kind": "restaurant", "vat_registered": "no",
                          "start_date.day": "1", "start_date.month": "1", "start_date.year": "2570"})
    assert next_location(response).endswith(step_path(application_id, "premises"))
    steps = services.shown(application_row(db_session, application_id)).step_ids()
    assert ("eligibility_type1" in steps) is ("type1" in types)
    assert "eligibility_type2" in steps


# --------------------------------------------------------------------------- validation and drafts

def test_validation_errors_show_a_summary_and_keep_what_was_typed(logged_in: FlaskClient, db_session: Session,
                                                                  business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    post_step(client, step_path(application_id, "applicant"), {"applicant_type": "person"})
    response = post_step(client, step_path(application_id, "applicant"),
                         {"citizen_id": "1234567890123", "phone": "hello",
                          "applicant_name": None})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    summary = html.split('class="error-summary"')[1].split("</div>")[0]
    assert 'href="#field-citizen_id"' in summary and 'href="#field-phone"' in summary
    assert 'href="#field-applicant_name"' in summary
    assert "เลขนี้ไม่ถูกต้อง" in html or "not valid" in html
    # the message sits by the field, and the invalid input is shown again
    citizen = html.split('id="field-citizen_id"')[1].split('id="field-')[0]
    assert 'class="error-message"' in citizen and 'value="1234567890123"' in citizen
    application = application_row(db_session, application_id)
    assert application.pending_input["phone"] == {"phone": ["hello"]}
    assert "citizen_id" not in application.answers
    assert application.answers["applicant_type"] == "person"  # valid answers were saved
    # after leaving and coming back, the same input and message are still there
    again = client.get(step_path(application_id, "applicant")).get_data(as_text=True)
    assert 'value="hello"' in again and 'class="error-message"' in again


def test_draft_is_kept_across_logout(logged_in: FlaskClient, db_session: Session, applicant: User,
                                     business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    post_step(client, step_path(application_id, "applicant"), {"applicant_type": "person"})
    response = post_step(client, step_path(application_id, "premises"),
                         {"business_name": "ครัวป้าแดง", "area_m2": "ร้อยห้าสิบ"}, action="save")
    assert next_location(response).endswith("/applications/")
    log_out(client)
    assert client.get(step_path(application_id, "premises")).status_code == 302  # to the login page
    log_in(client, applicant.email)
    dashboard = client.get("/applications/").get_data(as_text=True)
    assert f"/applications/{application_id}/continue" in dashboard
    resumed = client.get(f"/applications/{application_id}/continue")
    assert next_location(resumed).endswith(step_path(application_id, "premises"))
    html = client.get(step_path(application_id, "premises")).get_data(as_text=True)
    assert 'value="ครัวป้าแดง"' in html and 'value="ร้อยห้าสิบ"' in html


def test_back_saves_without_checking(logged_in: FlaskClient, db_session: Session, business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    post_step(client, step_path(application_id, "applicant"), {"applicant_type": "person"})
    response = post_step(client, step_path(application_id, "premises"), {"business_name": "ร้านใหม่"}, action="back")
    assert next_location(response).endswith(step_path(application_id, "applicant"))
    assert application_row(db_session, application_id).answers["business_name"] == "ร้านใหม่"


def test_review_lists_what_is_missing_and_submit_refuses(logged_in: FlaskClient, db_session: Session,
                                                         business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    review = client.get(f"/applications/{application_id}/review").get_data(as_text=True)
    assert f"/applications/{application_id}/steps/premises#field-area_m2" in review
    response = submit(client, f"/applications/{application_id}/submit", {},
                      form_page=f"/applications/{application_id}/review")
    assert response.status_code == 409
    assert application_row(db_session, application_id).status is ApplicationStatus.DRAFT


# --------------------------------------------------------------------------- uploads

@pytest.mark.security
def test_uploads_are_checked_by_content_size_and_emptiness(logged_in: FlaskClient, db_session: Session,
                                                           business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    text_named_pdf = upload(client, application_id, "site_map", b"just text, not a PDF", "map.pdf")
    assert text_named_pdf.status_code == 422
    assert "PDF, JPEG, PNG" in text_named_pdf.get_data(as_text=True)
    empty = upload(client, application_id, "site_map", b"", "map.pdf")
    assert empty.status_code == 422 and ("ไฟล์ว่าง" in empty.get_data(as_text=True)
                                         or "The file is empty" in empty.get_data(as_text=True))
    too_big = upload(client, application_id, "site_map", PDF + b"0" * (10 * 1024 * 1024), "map.pdf")
    assert too_big.status_code == 422 and "10 MB" in too_big.get_data(as_text=True)
    too_big.request.environ["wsgi.input"].close()  # the test client spools a large body to a file it leaves open
    exe = upload(client, application_id, "site_map", b"MZ\x90\x00" + b"\x00" * 100, "map.png")
    assert exe.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(ApplicationDocument)
                             .where(ApplicationDocument.application_id == application_id)) == 0
    # a document the answers do not call for cannot be uploaded
    assert upload(client, application_id, "building_use_permit", PDF, "permit.pdf").status_code == 404
    # a document the office fetches itself is not uploaded either
    assert upload(client, application_id, "premises_house_registration", PDF, "house.pdf").status_code == 404


def test_a_file_can_be_replaced_before_submitting(logged_in: FlaskClient, db_session: Session, app: Flask,
                                                  business: Business) -> None:
    client = logged_in
    application_id = start(client, "food_premises", business)
    assert upload(client, application_id, "site_map", PDF, "first.pdf").status_code == 302
    assert upload(client, application_id, "site_map", PNG, "../../second map.png").status_code == 302
    rows = list(db_session.scalars(select(ApplicationDocument)
                                   .where(ApplicationDocument.application_id == application_id)))
    assert len(rows) == 1
    row = rows[0]
    assert row.filename == "second map.png" and row.content_type == "image/png" and row.size == len(PNG)
    stored = Path(app.instance_path) / "uploads" / row.sha256[:2] / row.sha256
    assert stored.read_bytes() == PNG
    download = client.get(f"/applications/{application_id}/documents/site_map/file")
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()
    assert client.get(f"/static/../instance/uploads/{row.storage_path}").status_code == 404


# --------------------------------------------------------------------------- submit, correction, withdraw

ADDRESS = {"house_no": "12", "building": "", "moo": "", "village": "", "soi": "", "road": "",
           "subdistrict": "พระบรมมหาราชวัง", "district": "เขตพระนคร", "province": "กรุงเทพมหานคร",
           "province_code": "10", "postcode": "10200"}


def complete_food(db_session: Session, applicant: User, business: Business, app: Flask, **answers: Any) -> Application:
    """A food-premises draft ready to submit: a small owned food store, with its site map uploaded."""
    application = make_application(db_session, applicant=applicant, business=business, answers={
        "applicant_type": "person", "business_name": "ครัวป้าแดง", "premises_kind": "storage", "area_m2": 150.0,
        "owns_premises": True, "food_handler_count": 2, "declare_not_market": True, "declare_hygiene": True,
        "declare_true": True, "premises_address": ADDRESS, **answers})
    with unit_of_work(db_session):
        services.attach(db_session, application, "site_map", FileStorage(io.BytesIO(PDF), "map.pdf"),
                        Path(app.instance_path) / "uploads", dt.datetime.now(dt.UTC))
    return application


def test_submit_pins_the_version(logged_in: FlaskClient, db_session: Session, applicant: User, business: Business,
                                 app: Flask, tmp_path: Path) -> None:
    application = complete_food(db_session, applicant, business, app)
    first_version = application.permit_version_id
    # a new version of the permit is published while the draft is open
    tree = tmp_path / "tree"
    shutil.copytree(BIZPORTAL_ROOT / "workflows", tree / "workflows")
    shutil.copytree(BIZPORTAL_ROOT / "forms", tree / "forms")
    permit = tree / "workflows" / "food_premises.yaml"
    text = permit.read_text(encoding="utf-8").replace("\nversion: 1\n", "\nversion: 2\n", 1)
    permit.write_text(text.replace("time_limit_days: 30", "time_limit_days: 45", 1), encoding="utf-8")
    load(db_session, tree / "workflows", tree / "forms")
    permit_type = db_session.scalars(select(PermitType).where(PermitType.key == "food_premises")).one()
    assert permit_type.current_version_id != first_version

    response = submit(logged_in, f"/applications/{application.id}/submit", {},
                      form_page=f"/applications/{application.id}/review")
    assert response.status_code == 302
    application = application_row(db_session, application.id)
    assert application.permit_version_id == first_version
    today = local_date(dt.datetime.now(dt.UTC))
    assert application.expected_decision_on == WorkingCalendar().add_working_days(today, 30)
    # a new application takes the new version
    newer = make_application(db_session, applicant=applicant, business=business)
    assert newer.permit_version_id == permit_type.current_version_id


def test_resubmission_after_a_return_resumes_the_route(logged_in: FlaskClient, db_session: Session,
                                                       applicant: User, business: Business, app: Flask) -> None:
    client = logged_in
    application = complete_food(db_session, applicant, business, app)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    with unit_of_work(db_session):
        decisions.return_for_correction(db_session, application.id, "intake", "ขนาดพื้นที่ไม่ตรงกับแผนที่",
                                       ["area_m2"], ["site_map"], dt.datetime.now(dt.UTC))
    application = application_row(db_session, application.id)
    assert application.status is ApplicationStatus.CORRECTION_REQUESTED
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "ขนาดพื้นที่ไม่ตรงกับแผนที่" in page
    correction = client.get(f"/applications/{application.id}/correction").get_data(as_text=True)
    inputs = {name for name, _ in form_values(correction)}
    assert inputs == {"csrf_token", "area_m2", "shown"}  # only the field the officer named
    assert f'action="/applications/{application.id}/documents/site_map"' in correction
    assert "/documents/lease_or_consent" not in correction
    assert upload(client, application.id, "site_map", PNG, "better-map.png",
                  page=f"/applications/{application.id}/correction").status_code == 302
    response = post_step(client, f"/applications/{application.id}/correction",
                         {"area_m2": "250", "business_name": "เปลี่ยนชื่อแอบ ๆ"}, action="resubmit")
    assert next_location(response).endswith(f"/applications/{application.id}")
    application = application_row(db_session, application.id)
    assert application.status is ApplicationStatus.IN_REVIEW
    assert application.answers["area_m2"] == 250.0
    assert application.answers["business_name"] == "ครัวป้าแดง"  # not named by the officer: unchanged
    assert application.fees[0]["amount"] == 200.0  # fees assessed again on the new answers
    state = ApplicationState.from_json(application.engine_state)
    assert set(state.tasks) == {"intake"} and state.tasks["intake"].status.value == "open"
    assert "building_use_check" not in state.skipped  # conditions evaluated again
    kinds = [event.kind for event in application.events]
    assert "returned_for_correction" in kinds and "resubmitted" in kinds and "document_uploaded" in kinds
    assert application.correction is None


def test_withdraw(logged_in: FlaskClient, db_session: Session, applicant: User, business: Business,
                  app: Flask) -> None:
    application = complete_food(db_session, applicant, business, app)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    response = submit(logged_in, f"/applications/{application.id}/withdraw", {"reason": "ปิดกิจการ"},
                      form_page=f"/applications/{application.id}")
    assert next_location(response).endswith(f"/applications/{application.id}")
    application = application_row(db_session, application.id)
    assert application.status is ApplicationStatus.WITHDRAWN
    assert ApplicationState.from_json(application.engine_state).tasks == {}
    assert [event.note for event in application.events if event.kind == "withdrawn"] == ["ปิดกิจการ"]
    token = csrf_token(logged_in, "/applications/")
    again = logged_in.post(f"/applications/{application.id}/withdraw", data={"csrf_token": token})
    assert again.status_code == 409


# --------------------------------------------------------------------------- ownership and queries

def test_every_application_route_gives_404_for_another_users_application(
        client: FlaskClient, db_session: Session, applicant: User, business: Business, app: Flask) -> None:
    application = complete_food(db_session, applicant, business, app)
    other = make_user(db_session, email="someone-else@example.com")
    make_business(db_session, owner=other)
    log_in(client, other.email)
    token = csrf_token(client, "/applications/")
    base = f"/applications/{application.id}"
    for path in (base, f"{base}/continue", f"{base}/steps/applicant", f"{base}/documents",
                 f"{base}/documents/site_map/file", f"{base}/review", f"{base}/correction"):
        assert client.get(path).status_code == 404, path
    for path in (f"{base}/steps/applicant", f"{base}/documents/site_map", f"{base}/submit", f"{base}/withdraw",
                 f"{base}/correction"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path
    # and someone else's business cannot be used to start one
    response = client.post("/permits/food_premises/apply", data={"csrf_token": token, "business_id": business.id})
    assert response.status_code in {200, 404}
    assert db_session.scalar(select(func.count()).select_from(Application)
                             .where(Application.business_id == business.id, Application.applicant_id == other.id)) == 0
    assert application_row(db_session, application.id).status is ApplicationStatus.DRAFT


def test_dashboard_runs_a_constant_number_of_statements(logged_in: FlaskClient, db_session: Session,
                                                        applicant: User, business: Business, app: Flask,
                                                        count_statements: Callable[[], Any]) -> None:
    def make(count: int) -> None:
        for index in range(count):
            application = make_application(db_session, applicant=applicant, business=business,
                                           permit_key=("food_premises", "water_meter", "liquor_sales")[index % 3])
            if index % 2:
                with unit_of_work(db_session):
                    decisions.apply_event(db_session, application, _submit_event(application), applicant.id)

    make(3)
    with count_statements() as few:
        page = logged_in.get("/applications/")
    assert page.status_code == 200
    make(27)
    with count_statements() as many:
        page = logged_in.get("/applications/")
    assert page.status_code == 200 and page.get_data(as_text=True).count('id="application-') == 30
    assert len(many) == len(few), many


def _submit_event(application: Application) -> Any:
    from bizportal.workflow.state import Submit

    return Submit(at=dt.datetime.now(dt.UTC), answers={})


def test_dashboard_shows_status_stage_agency_and_date(logged_in: FlaskClient, db_session: Session, applicant: User,
                                                      business: Business, app: Flask) -> None:
    application = complete_food(db_session, applicant, business, app)
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    html = logged_in.get("/applications/?lang=en").get_data(as_text=True)
    row = html.split(f'id="application-{application.id}"')[1].split("</tr>")[0]
    assert "In review" in row and "Check the application" in row
    assert application.expected_decision_on is not None
    from bizportal.i18n import format_date

    assert format_date(application.expected_decision_on, "en") in row


@pytest.mark.security
def test_a_request_larger_than_any_upload_gets_a_413_page(logged_in: FlaskClient, business: Business) -> None:
    application_id = start(logged_in, "food_premises", business)
    token = csrf_token(logged_in, f"/applications/{application_id}/documents")
    response = logged_in.post(f"/applications/{application_id}/documents/site_map", data={"csrf_token": token},
                              environ_overrides={"CONTENT_LENGTH": str(60 * 1024 * 1024)})
    assert response.status_code == 413
    assert "ไฟล์มีขนาดใหญ่เกินไป" in response.get_data(as_text=True)


NASTY = ["<script>alert(1)</script>", "' OR 1=1 --", "\x00\x01", "๑๒๓๔๕๖๗๘๙๐" * 50, "x" * 20_000, "-0", "1e308",
         "9" * 400, "2569-13-45", "\u202e\u0e01\u0e35\u0e48", "../../etc/passwd", "{}", "[]", "null"]


@pytest.mark.security
@pytest.mark.parametrize("key", ["food_premises", "water_meter", "liquor_sales"])
def test_no_typed_input_gives_a_500(logged_in: FlaskClient, db_session: Session, business: Business,
                                    key: str) -> None:
    client = logged_in
    application_id = start(client, key, business)
    for step_id in services.compiled(application_row(db_session, application_id).permit_version).rules.steps:
        path = step_path(application_id, step_id)
        page = client.get(path)
        if page.status_code == 404:  # not shown for these answers
            continue
        names = {name for name, _ in form_values(page.get_data(as_text=True))} - {"csrf_token", "shown"}
        names |= {f"{field_id}.{part}" for field_id in ("premises_address", "applicant_address")
                  for part in ("province_code", "postcode", "district")}
        for nasty in NASTY:
            response = post_step(client, path, {name: [nasty, nasty] for name in names})
            assert response.status_code in {200, 302, 422}, (step_id, nasty[:20], response.status_code)
            assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert client.get(f"/applications/{application_id}/review").status_code == 200
    assert client.get(f"/applications/{application_id}").status_code == 200


def test_a_withdrawal_reason_with_a_nul_character_is_stored(logged_in: FlaskClient, db_session: Session,
                                                            business: Business) -> None:
    application_id = start(logged_in, "food_premises", business)
    response = submit(logged_in, f"/applications/{application_id}/withdraw", {"reason": "ไม่\x00ทำต่อ"},
                      form_page=f"/applications/{application_id}")
    assert response.status_code == 302
    assert [event.note for event in application_row(db_session, application_id).events
            if event.kind == "withdrawn"] == ["ไม่ทำต่อ"]
