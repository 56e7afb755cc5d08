"""Shared fixtures: a real app on a real database built by the migrations.

The database is a temporary SQLite file, or PostgreSQL when
BIZPORTAL_TEST_DATABASE_URL is set; there each app gets its own schema, created
for the session and dropped afterwards, so parallel runs never meet. Each test
runs inside a transaction that is rolled back (`db_session`), so tests do not
see each other's rows.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from bizportal.config import BIZPORTAL_ROOT
from bizportal.extensions import db
from bizportal.permits.services import LoadReport

from .factories import FIXTURE_TREE, load, migrated_app


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The application, on a database migrated once per test session."""
    # Jobs run in the committing thread: a test's rows live in one transaction on one connection (`db_session`).
    with migrated_app(tmp_path_factory.mktemp("app"), JOBS_IN_BACKGROUND=False) as application:
        yield application


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back after the test.

    `db.session` (used by views and commands) is bound to the same connection for
    the test, so requests and CLI commands see the test's rows and are undone too.
    No app context stays pushed: each request gets its own, as in production.
    """
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    original = db.session
    # Flask-SQLAlchemy types its session as its own subclass; a plain one on the connection will do.
    db.session = scoped_session(factory, scopefunc=original.registry.scopefunc)  # type: ignore[arg-type]
    session = factory()
    try:
        yield session
    finally:
        session.close()  # request and command sessions were closed when their app contexts ended
        db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db_session: Session) -> FlaskClient:
    """A test client whose requests run in the test's transaction."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask, db_session: Session) -> FlaskCliRunner:
    """A CLI runner whose commands run in the test's transaction."""
    return app.test_cli_runner()


@pytest.fixture
def load_seeds(db_session: Session) -> Callable[[], LoadReport]:
    """Load the real seed permits from workflows/ and forms/."""
    return lambda: load(db_session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")


@pytest.fixture
def fixture_tree(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/tree (workflows/, forms/, templates/licences/)."""
    target = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, target)
    return target


@pytest.fixture
def count_statements(db_session: Session) -> Callable[[], Any]:
    """Count SQL statements run on the test's connection inside a `with` block."""

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []
        connection = db_session.connection()

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(connection, "before_cursor_execute", record)

    return counting
