"""The authorization matrix of the staff pages: every officer and admin route, GET and POST, for every kind of
user who must not get in, refuses them, shows none of the application's data and changes nothing.

Routes are read from the app's URL map, so a route added later (an assign button, agency editing, ...) is in
the matrix without touching this file, unless it takes a URL argument `URL_ARGUMENTS` does not know: then
`test_every_staff_route_argument_is_known` (and the route's own tests) fail and say what to add.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from bizportal.accounts.models import Role, User
from bizportal.app import create_app
from bizportal.applications import decisions
from bizportal.applications.models import Application
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import Base, unit_of_work
from bizportal.permits.services import LoadReport
from bizportal.review.models import ReviewTask

from .factories import make_business, make_quick_user
from .test_applications import ADDRESS, complete_food
from .web_forms import csrf_token, log_in

pytestmark = pytest.mark.security

STAFF_BLUEPRINTS = ("review.", "admin.")
"""Every endpoint of these blueprints is for officers or admins only."""
STAFF_ENDPOINTS = {"accounts.users": "admin", "accounts.agency": "officer"}
"""Staff-only endpoints of other blueprints, and who they are for."""
SCOPED_ARGUMENTS = {"task_id", "application_id"}
"""URL arguments naming one application's data: only its agency's officers (and admins) may use them."""

WATER_METER = (BIZPORTAL_ROOT / "workflows" / "water_meter.yaml").read_text(encoding="utf-8")
NEW_WATER_METER = WATER_METER.replace("version: 1", "version: 2", 1).replace(
    "time_limit_days: 19", "time_limit_days: 21", 1)

APPLICANT_EMAIL = "wimonrat.secret@example.com"
APPLICANT_NAME = "วิมลรัตน์ ลับเฉพาะ"
BUSINESS_TH = "ร้านก๋วยเตี๋ยวลับเฉพาะ"
BUSINESS_EN = "Hidden Noodle House"
ANSWERED_NAME = "ครัวลุงเอกลับเฉพาะ"
ANSWERED_HOUSE_NO = "4477/139"


def _route_app() -> Flask:
    """An app built only to read its URL map at collection time (it never opens its database)."""
    folder = Path(tempfile.gettempdir()) / "bizportal-authorization-routes"
    return create_app({"BIZPORTAL_ENV": "testing", "DATABASE_URL": f"sqlite:///{folder / 'unused.sqlite3'}",
                       "SECRET_KEY": "test-only-secret-key-not-for-production", "INSTANCE_PATH": folder,
                       "BIZPORTAL_WORKFLOWS_DIR": BIZPORTAL_ROOT / "workflows",
                       "BIZPORTAL_FORMS_DIR": BIZPORTAL_ROOT / "forms", "REDIS_URL": None})


def audience(endpoint: str) -> str | None:
    """Who a staff route is for: "admin", "officer" (officers of the task's agency, and admins), or None."""
    if endpoint in STAFF_ENDPOINTS:
        return STAFF_ENDPOINTS[endpoint]
    if endpoint.startswith("admin."):
        return "admin"
    if endpoint.startswith("review."):
        return "officer"
    return None


def staff_rules(app: Flask) -> list[tuple[Rule, str]]:
    """(rule, method) for every method of every staff-only route."""
    return [(rule, method) for rule in sorted(app.url_map.iter_rules(), key=lambda rule: (rule.endpoint, rule.rule))
            if audience(rule.endpoint) is not None
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]


ROUTES = staff_rules(_route_app())
USERS = ("anonymous", "entrepreneur", "applicant", "other_agency_officer", "agency_officer", "admin")


def expectation(endpoint: str, arguments: set[str], user: str) -> str | None:
    """What `user` must get: "login", "refused", "allowed", "no_leak" (a page of their own), None (not checked)."""
    if user == "anonymous":
        return "login"
    if user in ("entrepreneur", "applicant"):
        return "refused"
    if audience(endpoint) == "admin":
        return "allowed" if user == "admin" else "refused"
    if user == "agency_officer":
        return "allowed"
    if user == "admin":
        return "allowed" if endpoint.startswith("review.") else None  # the officer's own-agency page is not theirs
    return "refused" if arguments & SCOPED_ARGUMENTS else "no_leak"


CASES = [pytest.param(rule.rule, rule.endpoint, method, user, id=f"{method}-{rule.endpoint}-{user}")
         for rule, method in ROUTES for user in USERS
         if expectation(rule.endpoint, set(rule.arguments), user) is not None]


@dataclass
class World:
    """The submitted application of another person, the users of the matrix, and what must never leak."""

    application: Application
    task: ReviewTask
    users: dict[str, User]
    secrets: list[str]

    def user(self, session: Session, kind: str) -> User:
        """The user of kind `kind`, made when first asked for."""
        if kind not in self.users:
            self.users[kind] = make_quick_user(session, **ACTORS[kind])
        return self.users[kind]


ACTORS: dict[str, dict[str, Any]] = {
    "entrepreneur": {"email": "stranger@example.com", "name": "บุคคล ภายนอก"},
    "other_agency_officer": {"role": Role.OFFICER, "agency_id": "demo_building", "email": "building@example.go.th",
                             "name": "เจ้าหน้าที่ อาคาร"},
    "agency_officer": {"role": Role.OFFICER, "agency_id": "demo_health", "email": "health@example.go.th",
                       "name": "เจ้าหน้าที่ สาธารณสุข"},
    "admin": {"role": Role.ADMIN, "email": "root@example.go.th", "name": "ผู้ดูแล ระบบ"},
}


@pytest.fixture
def world(db_session: Session, app: Flask, load_seeds: Callable[[], LoadReport]) -> World:
    load_seeds()
    applicant = make_quick_user(db_session, email=APPLICANT_EMAIL, name=APPLICANT_NAME)
    business = make_business(db_session, owner=applicant, name_th=BUSINESS_TH, name_en=BUSINESS_EN)
    application = complete_food(db_session, applicant, business, app, business_name=ANSWERED_NAME,
                                premises_address={**ADDRESS, "house_no": ANSWERED_HOUSE_NO})
    with unit_of_work(db_session):
        decisions.submit(db_session, application, dt.datetime.now(dt.UTC))
    task = db_session.scalars(select(ReviewTask).where(ReviewTask.application_id == application.id)).one()
    assert task.agency_id == "demo_health" and application.reference
    users = {"applicant": applicant}
    secrets = [application.reference, BUSINESS_TH, BUSINESS_EN, APPLICANT_EMAIL, APPLICANT_NAME, ANSWERED_NAME,
               ANSWERED_HOUSE_NO, "map.pdf"]
    return World(application, task, users, secrets)


def url_arguments(world: World) -> dict[str, Any]:
    """A real value for every URL argument a staff route may take, all pointing at `world`'s data."""
    return {
        "task_id": world.task.id,  # a task of demo_health
        "application_id": world.application.id,
        "user_id": world.users["applicant"].id,  # e.g. the account an admin would deactivate
        "key": "water_meter",
        "number": 1,
        "agency_id": "demo_health",
    }


def dangerous_form(world: World) -> dict[str, str]:
    """What a POST carries: every field that would change something if the request got through."""
    return {
        "action": "approve", "version_id": str(world.task.version_id), "note": "อนุมัติ",
        "fields": "area_m2", "documents": "site_map",
        "active": "0", "withdrawn": "1",
        "email": "intruder-officer@example.go.th", "name": "ผู้บุกรุก", "password": "a long enough password 1",
        "agency": "demo_health", "agency_id": "demo_health",
        "assignee_id": str(world.users["applicant"].id),
        "officer_id": str(world.users["applicant"].id),
        "user_id": str(world.users["applicant"].id),
        "permit_text": NEW_WATER_METER, "form_text": "",
        "name_th": "ถูกแก้ไข", "name_en": "Changed", "phone": "0000000000", "extra_holidays": "2026-12-31",
    }


URL_ARGUMENT_NAMES = ("task_id", "application_id", "user_id", "key", "number", "agency_id")
"""The names `url_arguments` gives a value for (kept in step with it by `test_every_staff_route_argument_is_known`)."""


def build_path(app: Flask, rule_text: str, endpoint: str, world: World) -> tuple[str, set[str]]:
    """The URL of the route, its arguments filled from `url_arguments`; fails saying what to add when one is new."""
    rule = next(rule for rule in app.url_map.iter_rules() if rule.rule == rule_text and rule.endpoint == endpoint)
    known = url_arguments(world)
    assert set(known) == set(URL_ARGUMENT_NAMES), "keep URL_ARGUMENT_NAMES in step with url_arguments"
    missing = sorted(set(rule.arguments) - set(known))
    if missing:
        pytest.fail(f"{endpoint} ({rule.rule}) takes URL arguments {missing} that the authorization matrix does "
                    f"not know: add a real value for each to `url_arguments` in tests/test_authorization.py")
    built = rule.build({name: known[name] for name in rule.arguments}, append_unknown=False)
    assert built is not None
    return built[1], set(rule.arguments)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refused request must leave all of them as they were."""
    session.expire_all()
    return {table.name: [tuple(row) for row in session.execute(
        select(table).order_by(*table.primary_key.columns)).all()] for table in Base.metadata.sorted_tables}


def changes(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    return {name: {"removed": [row for row in rows if row not in after[name]],
                   "added": [row for row in after[name] if row not in rows]}
            for name, rows in before.items() if rows != after[name]}


def leaked(response: TestResponse, secrets: list[str]) -> list[str]:
    shown = response.get_data(as_text=True) + "\n".join(f"{key}: {value}" for key, value in response.headers.items())
    return [secret for secret in secrets if secret in shown]


def test_the_matrix_covers_the_apps_routes(app: Flask) -> None:
    """The routes enumerated at collection time are the session app's, and the matrix is not empty."""
    assert [(rule.rule, method) for rule, method in ROUTES] == [(rule.rule, method) for rule, method in
                                                                staff_rules(app)]
    endpoints = {rule.endpoint for rule, _ in ROUTES}
    assert {"review.queue", "review.task", "review.decide", "admin.index", "admin.set_active",
            "accounts.users"} <= endpoints
    assert any(method == "POST" for _, method in ROUTES)


def test_every_staff_route_argument_is_known(app: Flask) -> None:
    """A route whose URL argument has no value here would escape the matrix: say which to add."""
    known = set(URL_ARGUMENT_NAMES)
    unknown = {f"{rule.endpoint} ({rule.rule}): {sorted(set(rule.arguments) - known)}"
               for rule, _ in staff_rules(app) if set(rule.arguments) - known}
    assert not unknown, ("staff routes take URL arguments the authorization matrix does not know; add a real value "
                         "for each to `url_arguments` in tests/test_authorization.py: " + "; ".join(sorted(unknown)))


@pytest.mark.parametrize(("rule_text", "endpoint", "method", "user"), CASES)
def test_staff_route(app: Flask, client: FlaskClient, db_session: Session, world: World, rule_text: str,
                     endpoint: str, method: str, user: str) -> None:
    path, arguments = build_path(app, rule_text, endpoint, world)
    expected = expectation(endpoint, arguments, user)
    if user != "anonymous":
        log_in(client, world.user(db_session, user).email)
    token = csrf_token(client, "/accounts/login" if user == "anonymous" else "/")
    before = snapshot(db_session)
    if method == "GET":
        response = client.get(path)
    else:
        response = client.open(path, method=method, data={**dangerous_form(world), "csrf_token": token})
    status = response.status_code
    described = f"{method} {path} as {user}: {status}"

    if expected == "allowed":
        if method == "GET":
            assert status in (200, 302), described  # the positive control: the route works for the right user
            if arguments & SCOPED_ARGUMENTS and status == 200:  # and the leak check looks for what is there
                shown = leaked(response, world.secrets)
                assert {world.application.reference, BUSINESS_TH, ANSWERED_NAME, "map.pdf"} <= set(shown), described
        else:
            accepted = {200, 302, 303, 409, 422} | ({403} if user == "agency_officer" else set())
            assert status in accepted, described + " (the form and its CSRF token must be accepted)"
        return

    assert status < 500, described
    if expected == "login":
        if status in (301, 302, 303):
            assert urlsplit(response.headers["Location"]).path == "/accounts/login", described
        else:
            assert status in (401, 403), described
    elif expected == "refused":
        assert status in (403, 404), described
    else:  # a page of the officer's own (e.g. their agency's queue): open, but nothing of another agency's
        assert status in (200, 302, 403, 404), described
    # The applicant may see their own name and e-mail (in the page header): nothing else of the application.
    secrets = [secret for secret in world.secrets
               if user != "applicant" or secret not in (APPLICANT_NAME, APPLICANT_EMAIL)]
    assert not leaked(response, secrets), f"{described} shows {leaked(response, secrets)}"
    assert changes(before, snapshot(db_session)) == {}, described
    if status in (301, 302, 303):
        followed = client.get(response.headers["Location"])
        assert not leaked(followed, secrets), f"{described}, then its redirect, shows {leaked(followed, secrets)}"


@pytest.mark.parametrize(("user", "path"), [
    ("admin", "/admin/users/{applicant}/active"), ("admin", "/admin/permits/publish"),
    ("admin", "/admin/permits/water_meter/withdrawn"), ("agency_officer", "/review/tasks/{task}/decide"),
    ("agency_officer", "/review/tasks/{task}/claim"),
])
def test_the_posted_form_does_change_things_when_allowed(client: FlaskClient, db_session: Session, world: World,
                                                         user: str, path: str) -> None:
    """The control of "a refused POST changed nothing": the same form, posted by the right user, does change
    rows that the snapshot sees (a deactivated user, a published version, a decided or claimed task...)."""
    log_in(client, world.user(db_session, user).email)
    token = csrf_token(client, "/")
    before = snapshot(db_session)
    target = path.format(applicant=world.users["applicant"].id, task=world.task.id)
    response = client.post(target, data={**dangerous_form(world), "csrf_token": token})
    assert response.status_code == 302, target
    changed = changes(before, snapshot(db_session))
    assert "audit_entries" in changed and len(changed) >= 2, sorted(changed)


@pytest.mark.parametrize(("user", "status"), [("anonymous", 302), ("entrepreneur", 404),
                                              ("other_agency_officer", 404), ("agency_officer", 200),
                                              ("admin", 200)])
def test_an_applications_documents_only_for_its_agencies(client: FlaskClient, db_session: Session, world: World,
                                                         user: str, status: int) -> None:
    """Officers open an application's files from the task page: only agencies with a task on it may."""
    if user != "anonymous":
        log_in(client, world.user(db_session, user).email)
    response = client.get(f"/applications/{world.application.id}/documents/site_map/file")
    response.close()
    assert response.status_code == status
    if status != 200:
        assert not leaked(response, world.secrets)
