"""The admin console: only admins get in; permit files are checked, published, compared and withdrawn;
officers are created and accounts deactivated."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications.decisions import expected_decision_date
from bizportal.applications.models import Application
from bizportal.audit.models import AuditEntry
from bizportal.config import BIZPORTAL_ROOT
from bizportal.permits.models import Agency, PermitType, PermitVersion
from bizportal.permits.services import LoadReport, agency_ids, get_permit_version
from bizportal.workflow.calendar import WorkingCalendar, local_date

from .factories import make_agency, make_application, make_user
from .web_forms import csrf_token, log_in, submit

WATER_METER = (BIZPORTAL_ROOT / "workflows" / "water_meter.yaml").read_text(encoding="utf-8")
WATER_METER_FORM = (BIZPORTAL_ROOT / "forms" / "water_meter.yaml").read_text(encoding="utf-8")
ADMIN_PAGES = ["/admin/", "/admin/agencies", "/admin/users", "/admin/permits/publish",
               "/admin/permits/water_meter", "/admin/permits/water_meter/versions/1", "/admin/agencies/new",
               "/admin/agencies/pwa", "/admin/audit"]


def text_of(page: str) -> str:
    """The visible text of a page, tags removed and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def admin_client(client: FlaskClient, db_session: Session, load_seeds: Callable[[], LoadReport]) -> FlaskClient:
    """A client logged in as an admin, with the seed permits loaded."""
    load_seeds()
    admin = make_user(db_session, role=Role.ADMIN, email="admin@example.com", locale="en")
    log_in(client, admin.email)
    return client


def publish(client: FlaskClient, permit_text: str, form_text: str = "") -> tuple[int, str]:
    response = submit(client, "/admin/permits/publish?lang=en", {"permit_text": permit_text, "form_text": form_text},
                      form_page="/admin/permits/publish?lang=en", follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def versions_of(session: Session, key: str) -> list[PermitVersion]:
    return list(session.scalars(select(PermitVersion).join(PermitVersion.permit_type)
                                .where(PermitType.key == key).order_by(PermitVersion.number)))


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.OFFICER])
def test_only_admins_get_in(client: FlaskClient, db_session: Session, load_seeds: Callable[[], LoadReport],
                            role: Role) -> None:
    load_seeds()
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 302, path  # anonymous: to the login page
    user = make_user(db_session, role=role)
    log_in(client, user.email)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    posts = {"/admin/permits/water_meter/withdrawn": {"withdrawn": "1"}, f"/admin/users/{user.id}/active":
             {"active": "0"}, "/admin/users": {}, "/admin/permits/publish": {"permit_text": WATER_METER},
             "/admin/agencies/new": NEW_AGENCY, "/admin/agencies/pwa": {"name_th": "x", "name_en": "x"},
             "/admin/audit/verify": {}}
    for path, data in posts.items():
        assert submit(client, path, data, form_page="/").status_code == 403, path
    assert "/admin/" not in client.get("/").get_data(as_text=True)


def test_admin_pages_open_for_admins(admin_client: FlaskClient) -> None:
    for path in ADMIN_PAGES:
        assert admin_client.get(path).status_code == 200, path
    assert 'href="/admin/"' in admin_client.get("/").get_data(as_text=True)
    assert admin_client.get("/admin/permits/no_such_permit").status_code == 404
    assert admin_client.get("/admin/permits/water_meter/versions/9").status_code == 404


def test_broken_permit_shows_problems_beside_lines_and_keeps_the_text(admin_client: FlaskClient,
                                                                      db_session: Session) -> None:
    broken = WATER_METER.replace("version: 1", "version: 2\nfee_formla: 12", 1)
    status, page = publish(admin_client, broken)
    assert status == 422
    text = text_of(page)
    assert "Not published" in text
    line = broken.splitlines().index("fee_formla: 12") + 1
    row = re.search(rf'<tr id="workflows-water_meter-yaml-line-{line}" class="problem-line">(.*?)</tr>', page,
                    re.DOTALL)
    assert row is not None, "the problem line is not marked"
    assert "fee_formla" in row.group(1) and "unknown key" in row.group(1)
    assert f"line {line}, column 1" in text_of(row.group(1))
    assert html.escape("fee_formla: 12") in page.split("<textarea", 1)[1]  # the text is kept in the form
    assert [version.number for version in versions_of(db_session, "water_meter")] == [1]


def test_publish_new_version_then_history_and_diff(admin_client: FlaskClient, db_session: Session) -> None:
    changed = WATER_METER.replace("version: 1", "version: 2", 1).replace(
        "time_limit_days: 19", "time_limit_days: 21", 1)
    status, page = publish(admin_client, changed)
    assert status == 200, text_of(page)[:2000]
    assert "Version 2 of water_meter is published." in text_of(page)
    stored = versions_of(db_session, "water_meter")
    assert [(version.number, version.published_by) for version in stored] == [(1, "test"), (2, "admin@example.com")]
    assert stored[1].form_source == stored[0].form_source  # no form pasted: the current form is kept
    assert db_session.scalar(select(PermitType.current_version_id).where(PermitType.key == "water_meter")) \
        == stored[1].id

    history = text_of(admin_client.get("/admin/permits/water_meter?lang=en").get_data(as_text=True))
    assert "admin@example.com" in history and stored[1].content_hash[:12] in history
    diff = admin_client.get("/admin/permits/water_meter?from=1&to=2&lang=en").get_data(as_text=True)
    assert '<span class="diff-removed">-time_limit_days: 19</span>' in diff
    assert '<span class="diff-added">+time_limit_days: 21</span>' in diff

    again_status, again = publish(admin_client, changed + "\n# only a comment\n", WATER_METER_FORM)
    assert again_status == 200
    assert "Nothing new" in text_of(again)
    assert len(versions_of(db_session, "water_meter")) == 2


def test_conflicting_version_number_is_refused_clearly(admin_client: FlaskClient, db_session: Session) -> None:
    changed = WATER_METER.replace("time_limit_days: 19", "time_limit_days: 21", 1)  # still version 1
    status, page = publish(admin_client, changed)
    assert status == 409
    text = text_of(page)
    assert "this version number is already used" in text
    assert "version 1 is already published with different content; raise `version:` to 2" in text
    assert "time_limit_days: 21" in html.unescape(page.split("<textarea", 1)[1])
    assert len(versions_of(db_session, "water_meter")) == 1


def test_withdraw_hides_from_catalogue_and_keeps_applications(admin_client: FlaskClient,
                                                               db_session: Session) -> None:
    applicant = make_user(db_session)
    application = make_application(db_session, applicant=applicant, permit_key="water_meter")
    version_id = application.permit_version_id
    assert "/permits/water_meter" in admin_client.get("/").get_data(as_text=True)
    response = submit(admin_client, "/admin/permits/water_meter/withdrawn", {"withdrawn": "1"},
                      form_page="/admin/")
    assert response.status_code == 302
    assert "/permits/water_meter" not in admin_client.get("/").get_data(as_text=True)
    assert admin_client.get("/permits/water_meter").status_code == 404
    db_session.expire_all()
    kept = db_session.get(Application, application.id)
    assert kept is not None and kept.permit_version_id == version_id
    submit(admin_client, "/admin/permits/water_meter/withdrawn", {"withdrawn": "0"}, form_page="/admin/")
    assert admin_client.get("/permits/water_meter").status_code == 200


def test_create_officer_and_deactivate_ends_login_and_sessions(admin_client: FlaskClient, app: object,
                                                              db_session: Session) -> None:
    make_agency(db_session, "demo_health")
    response = submit(admin_client, "/admin/users", {"name": "Officer One", "email": "Officer1@Example.com",
                                                     "password": "long enough password", "agency": "demo_health"})
    assert response.status_code == 302
    officer = db_session.scalar(select(User).where(User.email == "officer1@example.com"))
    assert officer is not None and officer.role is Role.OFFICER and officer.agency_id == "demo_health"

    officer_client = admin_client.application.test_client()
    log_in(officer_client, "officer1@example.com", "long enough password")
    assert officer_client.get("/accounts/agency").status_code == 200

    submit(admin_client, f"/admin/users/{officer.id}/active", {"active": "0"}, form_page="/admin/users")
    assert officer_client.get("/accounts/agency").status_code == 302  # the open session has ended
    refused = officer_client.post("/accounts/login", data={
        "email": "officer1@example.com", "password": "long enough password",
        "csrf_token": csrf_token(officer_client, "/accounts/login")})
    assert refused.status_code != 302

    submit(admin_client, f"/admin/users/{officer.id}/active", {"active": "1"}, form_page="/admin/users")
    log_in(officer_client, "officer1@example.com", "long enough password")


def test_officer_form_errors_re_render(admin_client: FlaskClient, db_session: Session) -> None:
    count = db_session.scalar(select(func.count()).select_from(User))
    response = submit(admin_client, "/admin/users?lang=en", {"name": "X", "email": "bad", "password": "short",
                                                             "agency": "no_such_agency"})
    assert response.status_code == 422
    assert "Please correct the following" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(User)) == count


def test_uploaded_file_is_checked_and_published(admin_client: FlaskClient, db_session: Session) -> None:
    changed = WATER_METER.replace("version: 1", "version: 3", 1).replace("time_limit_days: 19",
                                                                          "time_limit_days: 20", 1)
    response = admin_client.post("/admin/permits/publish", data={
        "permit_text": "", "form_text": "", "csrf_token": csrf_token(admin_client, "/admin/permits/publish"),
        "permit_file": (io.BytesIO(changed.encode("utf-8")), "water_meter.yaml"),
        "form_file": (io.BytesIO(WATER_METER_FORM.encode("utf-8")), "water_meter_form.yaml"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    assert [version.number for version in versions_of(db_session, "water_meter")] == [1, 3]
    page = admin_client.get("/admin/permits/water_meter/versions/3?lang=en").get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and "time_limit_days: 20" in page


# --------------------------------------------------------------------------- agencies

NEW_AGENCY = {"agency_id": "demo_district", "code": "DST-1", "kind": "local_administration",
              "name_th": "สำนักงานเขตตัวอย่าง", "name_en": "Demo District Office", "short_name_th": "เขตตัวอย่าง",
              "short_name_en": "", "parent_id": "demo_municipality", "extra_holidays": "2026-12-08\n2026-12-07"}


def audit_log(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def agency_values(agency: Agency) -> dict[str, object]:
    return {name: getattr(agency, name) for name in ("code", "kind", "name_th", "name_en", "short_name_th",
                                                     "short_name_en", "parent_id", "extra_holidays")}


def test_create_agency_in_the_console(admin_client: FlaskClient, db_session: Session) -> None:
    admin = db_session.scalars(select(User).where(User.email == "admin@example.com")).one()
    assert admin_client.get("/admin/agencies/new").status_code == 200
    response = submit(admin_client, "/admin/agencies/new", NEW_AGENCY)
    assert response.status_code == 302, text_of(response.get_data(as_text=True))[:2000]
    agency = db_session.get(Agency, "demo_district")
    assert agency is not None
    assert agency_values(agency) == {
        "code": "DST-1", "kind": "local_administration", "name_th": "สำนักงานเขตตัวอย่าง",
        "name_en": "Demo District Office", "short_name_th": "เขตตัวอย่าง", "short_name_en": None,
        "parent_id": "demo_municipality", "extra_holidays": ["2026-12-07", "2026-12-08"]}
    log = audit_log(db_session)
    assert [(entry.action, entry.actor_id, entry.subject_type, entry.subject_id) for entry in log] == [
        ("agency_created", admin.id, "agency", "demo_district")]
    assert log[0].data["values"]["extra_holidays"] == ["2026-12-07", "2026-12-08"]

    listing = admin_client.get("/admin/agencies?lang=en").get_data(as_text=True)
    row = re.search(r'<tr id="agency-demo_district">(.*?)</tr>', listing, re.DOTALL)
    assert row is not None
    assert "admin console" in text_of(row.group(1))
    assert re.findall(r'<time datetime="([\d-]+)">([^<]+)</time>', row.group(1)) == [
        ("2026-12-07", "7 Dec 2026"), ("2026-12-08", "8 Dec 2026")]
    assert 'href="/admin/agencies/demo_district"' in row.group(1)
    declared = re.search(r'<tr id="agency-pwa">(.*?)</tr>', listing, re.DOTALL)
    assert declared is not None and "from workflows/agencies.yaml" in text_of(declared.group(1))
    # an officer can be made for it at once
    assert submit(admin_client, "/admin/users", {"name": "District Officer", "email": "district@example.com",
                                                 "password": "long enough password",
                                                 "agency": "demo_district"}).status_code == 302


@pytest.mark.parametrize(("changes", "message"), [
    ({"agency_id": "demo_health"}, "An agency with the id “demo_health” already exists."),
    ({"agency_id": "Bad-Id"}, "Use lowercase letters, digits and _"),
    ({"extra_holidays": "2026-12-07\n2026-13-01"}, "“2026-13-01” is not a date. Write each date as YYYY-MM-DD"),
    ({"extra_holidays": "07/12/2026"}, "“07/12/2026” is not a date."),
    ({"extra_holidays": "2569-12-07"}, "2569-12-07 has a Buddhist-Era year. Write the Common Era year"),
    ({"parent_id": "no_such_agency"}, "There is no agency “no_such_agency”."),
    ({"kind": "embassy"}, "Choose a kind of agency."),
    ({"name_en": ""}, "Enter the name."),
])
def test_invalid_new_agency_is_refused_and_nothing_is_recorded(admin_client: FlaskClient, db_session: Session,
                                                               changes: dict[str, str], message: str) -> None:
    stored = {agency.id: agency_values(agency) for agency in db_session.scalars(select(Agency))}
    response = submit(admin_client, "/admin/agencies/new?lang=en", {**NEW_AGENCY, **changes},
                      form_page="/admin/agencies/new?lang=en")
    assert response.status_code == 422
    page = text_of(response.get_data(as_text=True))
    assert "Please correct the following" in page and message in page
    db_session.expire_all()
    assert {agency.id: agency_values(agency) for agency in db_session.scalars(select(Agency))} == stored
    assert audit_log(db_session) == []


@pytest.mark.parametrize("parent", ["demo_health", "demo_municipality"])
def test_a_parent_that_makes_a_cycle_is_refused(admin_client: FlaskClient, db_session: Session,
                                                parent: str) -> None:
    # demo_health's parent is demo_municipality: neither it nor the agency itself may become its parent
    response = submit(admin_client, "/admin/agencies/demo_municipality?lang=en", {
        "name_th": "เทศบาลเมืองตัวอย่าง", "name_en": "Demo Town Municipality", "parent_id": parent},
        form_page="/admin/agencies/demo_municipality?lang=en")
    assert response.status_code == 422
    assert f"“{parent}” cannot be the parent of “demo_municipality”" in text_of(response.get_data(as_text=True))
    db_session.expire_all()
    assert db_session.get(Agency, "demo_municipality").parent_id is None  # type: ignore[union-attr]
    assert audit_log(db_session) == []


def edit_pwa(client: FlaskClient, **changes: str) -> int:
    values = {"name_th": "การประปาส่วนภูมิภาค", "name_en": "Provincial Waterworks Authority",
              "short_name_th": "กปภ.", "short_name_en": "PWA", "parent_id": "", "extra_holidays": "", **changes}
    return submit(client, "/admin/agencies/pwa", values).status_code


def test_edit_agency_records_from_and_to(admin_client: FlaskClient, db_session: Session) -> None:
    admin = db_session.scalars(select(User).where(User.email == "admin@example.com")).one()
    page = text_of(admin_client.get("/admin/agencies/pwa?lang=en").get_data(as_text=True))
    assert "This agency is declared in workflows/agencies.yaml" in page  # the load's rule, before any edit
    assert edit_pwa(admin_client) == 302  # nothing changed: nothing recorded
    assert audit_log(db_session) == []

    assert edit_pwa(admin_client, name_en="Provincial Waterworks", extra_holidays="2026-12-07") == 302
    pwa = db_session.get(Agency, "pwa")
    assert pwa is not None and pwa.name_en == "Provincial Waterworks" and pwa.extra_holidays == ["2026-12-07"]
    log = audit_log(db_session)
    assert [(entry.action, entry.actor_id, entry.subject_id) for entry in log] == [
        ("agency_updated", admin.id, "pwa")]
    assert log[0].data == {"via": "console", "changes": {
        "name_en": {"from": "Provincial Waterworks Authority", "to": "Provincial Waterworks"},
        "extra_holidays": {"from": [], "to": ["2026-12-07"]}}}
    history = text_of(admin_client.get("/admin/agencies/pwa?lang=en").get_data(as_text=True))
    assert "Agency changed" in history and "extra_holidays : — → 2026-12-07" in history
    assert admin_client.get("/admin/agencies/no_such_agency").status_code == 404


def test_load_overwrites_declared_agencies_keeps_console_ones_and_records_what_it_replaced(
        admin_client: FlaskClient, runner: FlaskCliRunner, db_session: Session) -> None:
    assert edit_pwa(admin_client, extra_holidays="2026-12-07") == 302
    assert submit(admin_client, "/admin/agencies/new", NEW_AGENCY).status_code == 302
    created = agency_values(db_session.get(Agency, "demo_district"))  # type: ignore[arg-type]

    result = runner.invoke(args=["workflows", "load"])
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output
    db_session.expire_all()
    assert db_session.get(Agency, "pwa").extra_holidays == []  # type: ignore[union-attr]
    assert agency_values(db_session.get(Agency, "demo_district")) == created  # type: ignore[arg-type]
    overwrite = audit_log(db_session)[-1]
    assert (overwrite.action, overwrite.actor_id, overwrite.subject_id) == ("agency_updated", None, "pwa")
    assert overwrite.data == {"via": "workflows/agencies.yaml", "published_by": "cli",
                              "changes": {"extra_holidays": {"from": ["2026-12-07"], "to": []}}}

    # publishing in the console loads the agencies file too: the overwrite is then the admin's
    admin = db_session.scalars(select(User).where(User.email == "admin@example.com")).one()
    assert edit_pwa(admin_client, extra_holidays="2026-12-09") == 302
    status, _page = publish(admin_client, WATER_METER.replace("version: 1", "version: 2", 1)
                            .replace("time_limit_days: 19", "time_limit_days: 21", 1))
    assert status == 200
    log = audit_log(db_session)
    assert [(entry.action, entry.actor_id, entry.subject_id) for entry in log[-2:]] == [
        ("agency_updated", admin.id, "pwa"), ("permit_published", admin.id, "water_meter")]
    assert log[-2].data["changes"] == {"extra_holidays": {"from": ["2026-12-09"], "to": []}}
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_an_edited_holiday_moves_a_newly_computed_due_date(admin_client: FlaskClient, db_session: Session) -> None:
    version = get_permit_version(db_session, "water_meter")
    assert "pwa" in agency_ids(version.permit_spec())
    now = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # a Tuesday
    before = expected_decision_date(db_session, version, now)
    day_off = WorkingCalendar().add_working_days(local_date(now), 1)  # a working day inside the time limit
    assert edit_pwa(admin_client, extra_holidays=day_off.isoformat()) == 302
    db_session.expire_all()
    after = expected_decision_date(db_session, version, now)
    assert after == WorkingCalendar().add_working_days(before, 1) and after > before
