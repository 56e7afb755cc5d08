"""The security suite's own tests (`pytest -m security`; docs/security.md maps them to OWASP ASVS).

Each test attacks the running app through its real pages: forged forms, a planted session cookie,
hostile uploads, hostile permit YAML and markup typed into every field that is shown back.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter, Rule

from bizportal.accounts.models import Role, User
from bizportal.applications import decisions
from bizportal.applications.models import Application, ApplicationDocument
from bizportal.audit.models import AuditEntry
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.permits.services import LoadReport
from bizportal.review.models import ReviewTask

from .application_pages import PDF, PNG, upload
from .factories import make_business, make_quick_user
from .test_applications import complete_food, start
from .web_forms import log_in, submit

pytestmark = pytest.mark.security

NOW = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
SCRIPT = "<script>alert('xss')</script>"
IMAGE = '<img src=x onerror="alert(1)">'
CSRF_EXEMPT_PREFIXES = ("/api/",)
"""The JSON API authenticates by bearer token only (a cookie alone gets 401), so it needs no CSRF token."""


def _dummy_url(rule: Rule) -> str:
    """`rule`'s URL with a plausible value for each argument (the CSRF check runs before the view)."""
    converters = rule._converters  # noqa: SLF001  # werkzeug keeps them there; no public accessor
    values = {name: "1" if isinstance(converters[name], IntegerConverter) else "x" for name in rule.arguments}
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def post_rules(app: Flask) -> list[Rule]:
    return sorted((rule for rule in app.url_map.iter_rules()
                   if {"POST", "PUT", "PATCH", "DELETE"} & (rule.methods or set())
                   and not rule.rule.startswith(CSRF_EXEMPT_PREFIXES)), key=lambda rule: rule.rule)


def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(
        client: FlaskClient, db_session: Session, load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    admin = make_quick_user(db_session, role=Role.ADMIN)
    log_in(client, admin.email)
    entries = db_session.scalar(select(func.count()).select_from(AuditEntry))
    rules = post_rules(client.application)
    assert len(rules) >= 20
    for rule in rules:
        url = _dummy_url(rule)
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(url, data=data)
            assert response.status_code == 400, (rule.rule, response.status_code)
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    page = client.get("/admin/?lang=en")
    assert page.status_code == 200  # still logged in: a refused form does not end the session


def test_a_session_cookie_planted_before_login_is_not_logged_in_afterwards(app: Flask, client: FlaskClient,
                                                                          db_session: Session) -> None:
    """Session fixation: an attacker who gave the victim a cookie cannot ride the victim's login."""
    victim = make_quick_user(db_session, email="fixation.victim@example.com")
    client.get("/accounts/login")  # the login form puts its CSRF secret in the session: a cookie exists
    planted = client.get_cookie("session")
    assert planted is not None
    attacker = app.test_client()
    attacker.set_cookie("session", planted.value)
    log_in(client, victim.email)
    after = client.get_cookie("session")
    assert after is not None and after.value != planted.value
    assert attacker.get("/businesses/").status_code == 302  # sent to the login page: not the victim
    assert client.get("/businesses/").status_code == 200


def test_a_tampered_session_cookie_is_ignored(app: Flask, client: FlaskClient, db_session: Session) -> None:
    user = make_quick_user(db_session, email="tamper@example.com")
    log_in(client, user.email)
    cookie = client.get_cookie("session")
    assert cookie is not None
    forger = app.test_client()
    payload, _, signature = cookie.value.rpartition(".")
    forger.set_cookie("session", payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:])
    assert forger.get("/businesses/").status_code == 302


# --------------------------------------------------------------------------- uploads

@pytest.fixture
def applicant_client(client: FlaskClient, db_session: Session,
                     load_seeds: Callable[[], LoadReport]) -> tuple[FlaskClient, User, Business]:
    load_seeds()
    user = make_quick_user(db_session, email="uploader@example.com")
    business = make_business(db_session, owner=user)
    log_in(client, user.email)
    return client, user, business


def _documents(db_session: Session, application_id: int) -> list[ApplicationDocument]:
    db_session.expire_all()
    return list(db_session.scalars(select(ApplicationDocument)
                                   .where(ApplicationDocument.application_id == application_id)))


def test_hostile_uploads_are_refused_or_stored_harmlessly(
        applicant_client: tuple[FlaskClient, User, Business], db_session: Session, app: Flask) -> None:
    client, _, business = applicant_client
    application_id = start(client, "food_premises", business)

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("inner.pdf", b"0" * 20_000_000)  # 20 MB of zeros, a few KB compressed
    assert len(archive.getvalue()) < 100_000
    for content, name in ((archive.getvalue(), "map.pdf"), (archive.getvalue(), "map.zip"),
                          (b"<html><script>alert(1)</script></html>", "map.pdf"),
                          (b"#!/bin/sh\nrm -rf /\n", "map.png"), (b"GIF89a<script>alert(1)</script>", "map.gif")):
        response = upload(client, application_id, "site_map", content, name)
        assert response.status_code == 422, name
    assert _documents(db_session, application_id) == []

    # A polyglot that starts as a PNG and carries a script, under a name that climbs out of the folder.
    polyglot = PNG + b"<html><script>alert(document.cookie)</script></html>"
    response = upload(client, application_id, "site_map", polyglot, "../../../../etc/cron.d/evil.html")
    assert response.status_code in (200, 302)
    [document] = _documents(db_session, application_id)
    assert "/" not in document.filename and "\\" not in document.filename and ".." not in document.filename
    assert document.content_type == "image/png"
    uploads_root = (Path(app.instance_path) / "uploads").resolve()
    stored = (uploads_root / document.storage_path).resolve()
    assert stored.is_relative_to(uploads_root) and stored.read_bytes() == polyglot
    served = client.get(f"/applications/{application_id}/documents/{document.document_id}/file")
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "script" not in served.headers.get("Content-Disposition", "")
    served.close()


def test_a_pdf_with_a_traversal_name_is_stored_under_a_generated_path(
        applicant_client: tuple[FlaskClient, User, Business], db_session: Session, app: Flask) -> None:
    client, _, business = applicant_client
    application_id = start(client, "food_premises", business)
    response = upload(client, application_id, "site_map", PDF, "..\\..\\windows\\system32\\map.pdf")
    assert response.status_code in (200, 302)
    [document] = _documents(db_session, application_id)
    assert ".." not in document.storage_path and not document.storage_path.startswith("/")
    assert document.filename.endswith(".pdf") and "\\" not in document.filename


# --------------------------------------------------------------------------- hostile permit YAML

@pytest.fixture
def admin_client(client: FlaskClient, db_session: Session) -> FlaskClient:
    admin = make_quick_user(db_session, role=Role.ADMIN, email="yaml.admin@example.com")
    log_in(client, admin.email)
    return client


@pytest.mark.parametrize(("name", "permit_text", "expected"), [
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "alias"),
    ("python tag", "key: !!python/object/apply:os.system ['touch /tmp/bizportal-pwned']\n", "tag"),
    ("unknown tag", "key: !include /etc/passwd\n", "tag"),
    ("huge", "key: food\nnotes: '" + "ก" * 600_000 + "'\n", "bytes"),
    ("not yaml", "key: [unclosed\n  - : :\n", "line"),
    ("binary", "\x00\x01\x02 key: x", ""),
])
def test_hostile_permit_yaml_gets_a_clear_error_and_nothing_is_stored(admin_client: FlaskClient,
                                                                      db_session: Session, name: str,
                                                                      permit_text: str, expected: str) -> None:
    from bizportal.permits.models import PermitVersion

    versions = db_session.scalar(select(func.count()).select_from(PermitVersion))
    response = submit(admin_client, "/admin/permits/publish?lang=en", {"permit_text": permit_text, "form_text": ""},
                      form_page="/admin/permits/publish?lang=en")
    assert response.status_code in (413, 422), (name, response.status_code)
    page = response.get_data(as_text=True)
    if response.status_code == 422:
        assert expected.lower() in page.lower(), name
    assert "Traceback" not in page
    assert not Path("/tmp/bizportal-pwned").exists()
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(PermitVersion)) == versions


# --------------------------------------------------------------------------- markup typed into fields

def test_markup_typed_by_an_applicant_is_shown_as_text_to_everyone(
        app: Flask, client: FlaskClient, db_session: Session, load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    applicant = make_quick_user(db_session, email="markup@example.com", name=SCRIPT)
    business = make_business(db_session, owner=applicant, name_th=SCRIPT, name_en=IMAGE)
    application = complete_food(db_session, applicant, business, app, business_name=IMAGE,
                                applicant_name=SCRIPT)
    with unit_of_work(db_session):
        decisions.submit(db_session, db_session.get_one(Application, application.id), NOW)
    task = db_session.scalars(select(ReviewTask).where(ReviewTask.application_id == application.id)).first()
    assert task is not None
    officer = make_quick_user(db_session, role=Role.OFFICER, agency_id=task.agency_id, email="officer.x@example.com")
    admin = make_quick_user(db_session, role=Role.ADMIN, email="admin.x@example.com")

    pages = {applicant.email: ["/applications/", f"/applications/{application.id}", "/businesses/",
                               f"/businesses/{business.id}"],
             officer.email: ["/review/", f"/review/tasks/{task.id}"],
             admin.email: ["/admin/users", "/admin/audit", f"/review/tasks/{task.id}"]}
    shown = 0
    for email, paths in pages.items():
        reader = app.test_client()
        log_in(reader, email)
        for path in paths:
            response = reader.get(path)
            assert response.status_code == 200, (email, path, response.status_code)
            html = response.get_data(as_text=True)
            assert SCRIPT not in html and IMAGE not in html, (email, path)
            shown += html.count("&lt;script&gt;alert(") + html.count("&lt;img src=x onerror=")
    assert shown >= 6  # the values are on the pages, as text
