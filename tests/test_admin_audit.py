"""Admin actions are audited in their own transaction, and admins read and verify the log in the console."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.audit.models import AuditEntry
from bizportal.audit.services import record, verify
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.permits.models import PermitType, PermitVersion
from bizportal.permits.services import LoadReport

from .factories import NOW, make_agency, make_user
from .web_forms import log_in, submit

WATER_METER = (BIZPORTAL_ROOT / "workflows" / "water_meter.yaml").read_text(encoding="utf-8")
PASSWORD = "long enough password"


def text_of(page: str) -> str:
    """The visible text of a page, tags removed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def entries(session: Session) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.fixture
def admin(db_session: Session, load_seeds: Callable[[], LoadReport]) -> User:
    load_seeds()
    return make_user(db_session, role=Role.ADMIN, email="admin@example.com", name="Ada Admin", locale="en")


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    log_in(client, admin.email)
    return client


def test_creating_an_officer_records_one_entry_without_the_password(admin_client: FlaskClient, admin: User,
                                                                    db_session: Session) -> None:
    make_agency(db_session, "demo_health")
    before = len(entries(db_session))
    response = submit(admin_client, "/admin/users", {"name": "Officer One", "email": "Officer1@Example.com",
                                                     "password": PASSWORD, "agency": "demo_health"})
    assert response.status_code == 302
    officer = db_session.scalars(select(User).where(User.email == "officer1@example.com")).one()
    log = entries(db_session)[before:]
    assert [(entry.action, entry.actor_id, entry.subject_type, entry.subject_id, entry.to_state)
            for entry in log] == [("user_created", admin.id, "user", str(officer.id), "active")]
    assert log[0].data == {"email": "officer1@example.com", "role": "officer", "agency": "demo_health",
                           "agency_lead": False}
    stored = json.dumps([entry.data for entry in log]) + log[0].hash
    assert PASSWORD not in stored and officer.password_hash not in stored

    again = submit(admin_client, "/admin/users", {"name": "Officer Two", "email": "officer1@example.com",
                                                  "password": PASSWORD, "agency": "demo_health"})
    assert again.status_code == 422  # the e-mail is taken: nothing stored, nothing recorded
    assert len(entries(db_session)) == before + 1
    assert verify(db_session).ok


def test_deactivating_and_reactivating_record_the_states(admin_client: FlaskClient, admin: User,
                                                         db_session: Session) -> None:
    user = make_user(db_session, email="someone@example.com")
    before = len(entries(db_session))
    submit(admin_client, f"/admin/users/{user.id}/active", {"active": "0"}, form_page="/admin/users")
    submit(admin_client, f"/admin/users/{user.id}/active", {"active": "0"}, form_page="/admin/users")  # no change
    submit(admin_client, f"/admin/users/{user.id}/active", {"active": "1"}, form_page="/admin/users")
    log = entries(db_session)[before:]
    assert [(entry.action, entry.actor_id, entry.subject_id, entry.from_state, entry.to_state) for entry in log] == [
        ("user_deactivated", admin.id, str(user.id), "active", "inactive"),
        ("user_reactivated", admin.id, str(user.id), "inactive", "active")]

    refused = submit(admin_client, f"/admin/users/{admin.id}/active", {"active": "0"}, form_page="/admin/users")
    assert refused.status_code == 409  # an admin cannot deactivate themselves: nothing recorded
    assert len(entries(db_session)) == before + 2


def publish(client: FlaskClient, permit_text: str) -> int:
    return submit(client, "/admin/permits/publish", {"permit_text": permit_text, "form_text": ""}).status_code


def test_publishing_records_the_version_and_failures_record_nothing(admin_client: FlaskClient, admin: User,
                                                                    db_session: Session) -> None:
    before = len(entries(db_session))
    assert publish(admin_client, WATER_METER.replace("version: 1", "version: 2\nfee_formla: 12", 1)) == 422
    assert publish(admin_client, "key: water_meter\n  bad: [indentation\n") == 422
    assert publish(admin_client, WATER_METER.replace("time_limit_days: 19", "time_limit_days: 21", 1)) == 409
    assert publish(admin_client, WATER_METER) == 302  # the same content: nothing new, nothing recorded
    assert len(entries(db_session)) == before

    assert publish(admin_client, WATER_METER.replace("version: 1", "version: 2", 1)
                   .replace("time_limit_days: 19", "time_limit_days: 21", 1)) == 302
    version = db_session.scalars(select(PermitVersion).join(PermitVersion.permit_type)
                                 .where(PermitType.key == "water_meter", PermitVersion.number == 2)).one()
    log = entries(db_session)[before:]
    assert [(entry.action, entry.actor_id, entry.subject_type, entry.subject_id, entry.from_state, entry.to_state)
            for entry in log] == [("permit_published", admin.id, "permit_type", "water_meter", "1", "2")]
    assert log[0].data == {"key": "water_meter", "version": 2, "content_hash": version.content_hash}


def test_withdrawing_and_reinstating_are_recorded_once_each(admin_client: FlaskClient, admin: User,
                                                            db_session: Session) -> None:
    before = len(entries(db_session))
    for withdrawn in ("1", "1", "0"):
        submit(admin_client, "/admin/permits/water_meter/withdrawn", {"withdrawn": withdrawn}, form_page="/admin/")
    assert submit(admin_client, "/admin/permits/no_such/withdrawn", {"withdrawn": "1"},
                  form_page="/admin/").status_code == 404
    log = entries(db_session)[before:]
    assert [(entry.action, entry.actor_id, entry.subject_id, entry.from_state, entry.to_state) for entry in log] == [
        ("permit_withdrawn", admin.id, "water_meter", "listed", "withdrawn"),
        ("permit_reinstated", admin.id, "water_meter", "withdrawn", "listed")]


def test_cli_user_creation_is_recorded_without_an_actor(runner: FlaskCliRunner, db_session: Session) -> None:
    make_agency(db_session, "demo_health")
    result = runner.invoke(args=["users", "create", "cli-officer@example.com", "--role", "officer", "--agency",
                                 "demo_health", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    user = db_session.scalars(select(User).where(User.email == "cli-officer@example.com")).one()
    log = entries(db_session)
    assert [(entry.action, entry.actor_id, entry.subject_id) for entry in log] == [("user_created", None, str(user.id))]
    assert log[0].data == {"via": "cli", "email": "cli-officer@example.com", "role": "officer",
                           "agency": "demo_health", "agency_lead": False}
    failed = runner.invoke(args=["users", "create", "cli-officer@example.com", "--password", PASSWORD])
    assert failed.exit_code != 0 and len(entries(db_session)) == 1

    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "OK: 1 entries verified" in verified.output


def test_the_chain_verifies_after_every_kind_of_admin_action(admin_client: FlaskClient, runner: FlaskCliRunner,
                                                             db_session: Session) -> None:
    make_agency(db_session, "demo_health")
    user = make_user(db_session)
    submit(admin_client, "/admin/users", {"name": "O", "email": "o@example.com", "password": PASSWORD,
                                          "agency": "demo_health"})
    submit(admin_client, f"/admin/users/{user.id}/active", {"active": "0"}, form_page="/admin/users")
    submit(admin_client, "/admin/permits/water_meter/withdrawn", {"withdrawn": "1"}, form_page="/admin/")
    publish(admin_client, WATER_METER.replace("version: 1", "version: 2", 1).replace("time_limit_days: 19",
                                                                                    "time_limit_days: 21", 1))
    submit(admin_client, "/admin/agencies/new", {"agency_id": "new_office", "code": "N-1", "kind": "department",
                                                 "name_th": "สำนักงานใหม่", "name_en": "New office"})
    submit(admin_client, "/admin/agencies/new_office", {"name_th": "สำนักงานใหม่", "name_en": "Newer office",
                                                        "extra_holidays": "2026-12-07"})
    assert [entry.action for entry in entries(db_session)] == [
        "user_created", "user_deactivated", "permit_withdrawn", "permit_published", "agency_created",
        "agency_updated"]
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "OK: 6 entries verified" in result.output


# --------------------------------------------------------------------------- the audit log page

def fill_log(session: Session, actor: User, count: int, start: int = 0) -> None:
    """`count` entries about applications, alternately by `actor` and by the system."""
    with unit_of_work(session):
        for index in range(start, start + count):
            record(session, at=NOW + dt.timedelta(minutes=index), actor_id=actor.id if index % 2 else None,
                   action="submit", subject_type="application", subject_id=index, from_state="draft",
                   to_state="in_review")


def test_audit_log_page_shows_who_what_when(admin_client: FlaskClient, admin: User, db_session: Session) -> None:
    user = make_user(db_session, email="someone@example.com")
    submit(admin_client, f"/admin/users/{user.id}/active", {"active": "0"}, form_page="/admin/users")
    fill_log(db_session, admin, 1)  # by the system (actor None)

    assert 'href="/admin/audit"' in admin_client.get("/admin/").get_data(as_text=True)
    page = admin_client.get("/admin/audit?lang=en").get_data(as_text=True)
    rows = re.findall(r'<tr id="entry-(\d+)">(.*?)</tr>', page, re.DOTALL)
    assert len(rows) == 2 and int(rows[0][0]) > int(rows[1][0])  # newest first
    system_row, admin_row = text_of(rows[0][1]), text_of(rows[1][1])
    assert "System" in system_row and "Application submitted" in system_row and "Draft → In review" in system_row
    assert "24 November 2026, 10:00" in system_row
    assert 'href="/admin/audit?subject_type=application&amp;subject_id=0"' in rows[0][1]
    assert "Ada Admin" in admin_row and "admin@example.com" in admin_row
    assert "Account deactivated" in admin_row and "Active → Deactivated" in admin_row
    assert f'href="/admin/users#user-{user.id}"' in rows[1][1]

    thai = admin_client.get("/admin/audit?lang=th").get_data(as_text=True)
    assert "24 พฤศจิกายน 2569 เวลา 10:00 น." in thai  # Buddhist Era in Thai


def test_audit_log_filters(admin_client: FlaskClient, admin: User, db_session: Session) -> None:
    fill_log(db_session, admin, 6)
    submit(admin_client, "/admin/permits/water_meter/withdrawn", {"withdrawn": "1"}, form_page="/admin/")

    def ids(query: str) -> list[str]:
        page = admin_client.get(f"/admin/audit?{query}").get_data(as_text=True)
        rows = re.findall(r'<tr id="entry-\d+">(.*?)</tr>', page, re.DOTALL)
        return [text_of(re.findall(r"<td>(.*?)</td>", row, re.DOTALL)[4]).strip() for row in rows]

    assert ids("subject_type=permit_type&lang=en") == ["Permit type water_meter"]
    assert ids("subject_type=application&subject_id=3&lang=en") == ["Application 3"]
    assert ids("actor_email=ADMIN@example.com&subject_type=application&lang=en") == [
        "Application 5", "Application 3", "Application 1"]
    assert ids("action=permit_withdrawn&lang=en") == ["Permit type water_meter"]
    assert "No entry matches." in admin_client.get("/admin/audit?actor_email=nobody@example.com&lang=en") \
        .get_data(as_text=True)


def test_audit_log_pages_by_keyset_with_constant_statements(admin_client: FlaskClient, admin: User,
                                                            db_session: Session,
                                                            count_statements: Callable[[], Any]) -> None:
    fill_log(db_session, admin, 10)
    with count_statements() as few:
        small = admin_client.get("/admin/audit").get_data(as_text=True)
    assert small.count('<tr id="entry-') == 10 and 'rel="next"' not in small
    fill_log(db_session, admin, 90, start=10)
    with count_statements() as many:
        first = admin_client.get("/admin/audit").get_data(as_text=True)
    assert len(many) == len(few), many
    listing = [statement for statement in many if "FROM audit_entries" in statement]
    assert len(listing) == 1 and "ORDER BY audit_entries.id DESC" in listing[0]
    # SQLite's dialect always writes "LIMIT ? OFFSET ?" (offset 0); PostgreSQL's writes no OFFSET at all
    assert db_session.get_bind().dialect.name == "sqlite" or "OFFSET" not in listing[0].upper()

    seen: list[int] = [int(found) for found in re.findall(r'<tr id="entry-(\d+)">', first)]
    page = first
    while (link := re.search(r'href="([^"]+)" rel="next"|rel="next" href="([^"]+)"', page)) is not None:
        with count_statements() as later:
            page = admin_client.get((link.group(1) or link.group(2)).replace("&amp;", "&")).get_data(as_text=True)
        assert len(later) == len(few) and any("audit_entries.id <" in statement for statement in later)
        seen.extend(int(found) for found in re.findall(r'<tr id="entry-(\d+)">', page))
    all_ids = [entry.id for entry in entries(db_session)]
    assert seen == sorted(all_ids, reverse=True)  # every entry once, newest first


def test_verify_chain_button_reports_ok_or_the_broken_entry(admin_client: FlaskClient, admin: User,
                                                            db_session: Session) -> None:
    fill_log(db_session, admin, 3)
    assert admin_client.post("/admin/audit/verify").status_code == 400  # no CSRF token: refused
    ok = submit(admin_client, "/admin/audit/verify?lang=en", {}, form_page="/admin/audit?lang=en")
    assert ok.status_code == 200
    assert "Chain intact: 3 entries verified." in text_of(ok.get_data(as_text=True))

    second = entries(db_session)[1]
    with unit_of_work(db_session):
        db_session.execute(text("UPDATE audit_entries SET to_state = 'approved' WHERE id = :id"), {"id": second.id})
    broken = text_of(submit(admin_client, "/admin/audit/verify?lang=en", {},
                            form_page="/admin/audit?lang=en").get_data(as_text=True))
    assert f"The chain is broken at entry {second.id}" in broken and "1 entry before it is intact." in broken


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.OFFICER])
def test_only_admins_see_the_audit_log(client: FlaskClient, db_session: Session, role: Role) -> None:
    assert client.get("/admin/audit").status_code == 302
    log_in(client, make_user(db_session, role=role).email)
    assert client.get("/admin/audit").status_code == 403
    assert submit(client, "/admin/audit/verify", {}, form_page="/").status_code == 403
