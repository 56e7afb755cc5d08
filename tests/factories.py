"""Real rows and real databases for the tests: no mocks of our own code."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.accounts.services import create_user
from bizportal.app import LICENCE_TEMPLATES_DIR, create_app
from bizportal.applications import services as application_services
from bizportal.applications.models import Application
from bizportal.businesses.models import Business
from bizportal.businesses.services import BusinessData, create_business
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.extensions import db, upgrade_database
from bizportal.permits.models import Agency
from bizportal.permits.services import LoadReport, load_specs
from bizportal.workflow.validation import ValidationResult, validate_paths

TEST_DATABASE_URL = os.environ.get("BIZPORTAL_TEST_DATABASE_URL") or None
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_TREE = FIXTURES / "tree"
SEED_KEYS = ("food_premises", "liquor_sales", "water_meter")
NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


@contextmanager
def database_url(directory: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in `directory`, or a new PostgreSQL schema."""
    if TEST_DATABASE_URL is None:
        yield f"sqlite:///{directory / 'test.sqlite3'}"
        return
    schema = f"bizportal_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated_app(directory: Path, **config: Any) -> Iterator[Flask]:
    """An app on a new database whose schema was built by running the migrations."""
    with database_url(directory) as url:
        app = create_app({
            "BIZPORTAL_ENV": "testing",
            "DATABASE_URL": url,
            "SECRET_KEY": "test-only-secret-key-not-for-production",
            "INSTANCE_PATH": directory / "instance",
            "BIZPORTAL_WORKFLOWS_DIR": BIZPORTAL_ROOT / "workflows",
            "BIZPORTAL_FORMS_DIR": BIZPORTAL_ROOT / "forms",
            "BABEL_DEFAULT_LOCALE": None,
            "REDIS_URL": None,
            **config,
        })
        with app.app_context():
            upgrade_database()
        try:
            yield app
        finally:
            from bizportal.jobs.services import wait_for_background_jobs

            wait_for_background_jobs(timeout=30)  # no delivery or e-mail thread outlives its database
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def validate(*paths: Path) -> ValidationResult:
    """Validate files or folders the way `bizportal workflows validate` does."""
    return validate_paths(list(paths), template_dirs=[LICENCE_TEMPLATES_DIR])


def load(session: Session, *paths: Path, now: dt.datetime = NOW) -> LoadReport:
    """Validate and store `paths` in one unit of work; fails the test on any problem."""
    result = validate(*paths)
    assert result.ok, "\n".join(problem.format() for problem in result.problems)
    with unit_of_work(session):
        return load_specs(session, result, now, published_by="test")


TEST_PASSWORD = "correct horse battery"
"""The password of every user made by `make_user` unless another is given."""

BANGKOK_ADDRESS = {"province_code": "10", "district_code": "1001", "subdistrict_code": "100101", "postcode": "10200"}
"""Khwaeng Phra Borom Maha Ratchawang, Khet Phra Nakhon, Bangkok 10200: codes from the official lists."""


def make_agency(session: Session, agency_id: str = "test_agency") -> Agency:
    """An agency row (for officers), created if it does not exist yet."""
    agency = session.get(Agency, agency_id)
    if agency is None:
        with unit_of_work(session):
            agency = Agency(id=agency_id, code="T", kind="department", name_th="หน่วยงานทดสอบ",
                            name_en="Test agency", extra_holidays=[], updated_at=NOW)
            session.add(agency)
    return agency


def make_user(session: Session, *, role: Role = Role.ENTREPRENEUR, agency_id: str | None = None,
              email: str | None = None, password: str = TEST_PASSWORD, name: str = "สมชาย ทดสอบ",
              locale: str = "th") -> User:
    """A committed user; an officer gets the agency `agency_id` (default `test_agency`), created if missing."""
    if role is Role.OFFICER:
        agency_id = make_agency(session, agency_id or "test_agency").id
    with unit_of_work(session):
        user = create_user(session, email=email or f"user-{uuid.uuid4().hex[:10]}@example.com", password=password,
                           name=name, role=role, agency_id=agency_id, locale=locale, now=NOW)
    return user


def make_business(session: Session, *, owner: User, kind: str = "individual", tax_id: str | None = None,
                  name_th: str = "ร้านอาหารทดสอบ", name_en: str = "Test Restaurant", house_no: str = "99/1",
                  phone: str = "0812345678", email: str = "shop@example.com", **area: str) -> Business:
    """A committed business of `owner`, in Bangkok unless `area` gives other codes (see `BANGKOK_ADDRESS`)."""
    codes = {**BANGKOK_ADDRESS, **area}
    data = BusinessData(kind=kind, tax_id=tax_id or ("0105536112014" if kind == "juristic" else "3100600445635"),
                        name_th=name_th, name_en=name_en, address={"house_no": house_no, "road": "ราชดำเนินใน"},
                        phone=phone, email=email, **codes)
    with unit_of_work(session):
        business = create_business(session, owner, data, NOW)
    return business


def make_application(session: Session, *, applicant: User, business: Business | None = None,
                     permit_key: str = "food_premises", answers: dict[str, Any] | None = None,
                     now: dt.datetime = NOW) -> Application:
    """A committed draft of `applicant` for a loaded permit, its answers prefilled and updated with `answers`.

    The permit must be loaded (e.g. with the `load_seeds` fixture). Submit it with
    `bizportal.applications.services.submit` when a test needs it in review.
    """
    business = business or make_business(session, owner=applicant)
    with unit_of_work(session):
        application = application_services.start_application(session, applicant, permit_key, business.id, now)
        if answers:
            application.answers = {**application.answers, **answers}
    return application


_TEST_PASSWORD_HASH: list[str] = []
"""The Argon2 hash of `TEST_PASSWORD`, made once per test session by `make_quick_user`."""


def make_quick_user(session: Session, *, role: Role = Role.ENTREPRENEUR, agency_id: str | None = None,
                    email: str | None = None, name: str = "สมชาย ทดสอบ", locale: str = "th") -> User:
    """A committed user who logs in with `TEST_PASSWORD`, like `make_user`, without hashing it again.

    Argon2 is slow on purpose: tests that make many users (a matrix, 50 concurrent officers) use this. The
    row is the one `create_user` stores, its hash shared with the other quick users.
    """
    from bizportal.accounts.services import hash_password

    if not _TEST_PASSWORD_HASH:
        _TEST_PASSWORD_HASH.append(hash_password(TEST_PASSWORD))
    if role is Role.OFFICER:
        agency_id = make_agency(session, agency_id or "test_agency").id
    with unit_of_work(session):
        user = User(email=email or f"user-{uuid.uuid4().hex[:10]}@example.com", password_hash=_TEST_PASSWORD_HASH[0],
                    role=role, agency_id=agency_id, name=name, locale=locale, is_active=True, session_version=1,
                    created_at=NOW, is_agency_lead=False)
        session.add(user)
    return user


def make_officers(session: Session, agency_id: str, count: int, *, prefix: str = "officer") -> list[User]:
    """`count` committed officers of `agency_id` (created if missing), who log in with `TEST_PASSWORD`."""
    return [make_quick_user(session, role=Role.OFFICER, agency_id=agency_id, email=f"{prefix}-{number}@example.go.th",
                            name=f"{prefix} {number}") for number in range(count)]
