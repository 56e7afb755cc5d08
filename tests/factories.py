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

from bizportal.app import LICENCE_TEMPLATES_DIR, create_app
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.extensions import db, upgrade_database
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
