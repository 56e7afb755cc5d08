"""The schema comes from the migrations, and units of work commit once or not at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from bizportal.database import after_commit, unit_of_work
from bizportal.extensions import db, upgrade_database
from bizportal.migrations import MIGRATIONS_DIR
from bizportal.permits.models import Agency

from .factories import migrated_app

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def _agency(agency_id: str) -> Agency:
    return Agency(id=agency_id, code="X", kind="department", name_th="ทดสอบ", name_en="Example",
                  extra_holidays=[], updated_at=NOW)


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       db.metadata)
    assert differences == [], "the models and the migrations differ: add a migration"


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    with migrated_app(tmp_path) as app, app.app_context():
        assert {"agencies", "permit_types", "permit_versions"} <= set(inspect(db.engine).get_table_names())
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
        assert not {"agencies", "permit_types", "permit_versions"} & set(inspect(db.engine).get_table_names())
        upgrade_database()
        assert {"agencies", "permit_types", "permit_versions"} <= set(inspect(db.engine).get_table_names())


def test_unit_of_work_commits_then_runs_hooks(db_session: Session) -> None:
    ran: list[str] = []
    with unit_of_work(db_session):
        db_session.add(_agency("committed"))
        after_commit(db_session, lambda: ran.append("mail"))
        assert ran == []
    assert ran == ["mail"]
    assert db_session.get(Agency, "committed") is not None


def test_unit_of_work_rolls_back_and_drops_hooks(db_session: Session) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), unit_of_work(db_session):
        db_session.add(_agency("rolled_back"))
        db_session.flush()
        after_commit(db_session, lambda: ran.append("mail"))
        raise RuntimeError("decision failed")
    assert ran == []
    assert db_session.scalars(select(Agency).where(Agency.id == "rolled_back")).first() is None


def test_a_failing_hook_does_not_undo_the_commit(db_session: Session) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise OSError("mail server down")

    with unit_of_work(db_session):
        db_session.add(_agency("kept"))
        after_commit(db_session, broken)
        after_commit(db_session, lambda: ran.append("second"))
    assert ran == ["second"]
    assert db_session.get(Agency, "kept") is not None


def test_datetimes_come_back_aware_in_utc(db_session: Session) -> None:
    with unit_of_work(db_session):
        db_session.add(_agency("timed"))
    db_session.expire_all()
    stored = db_session.get(Agency, "timed")
    assert stored is not None
    assert stored.updated_at == NOW
    assert stored.updated_at.utcoffset() == dt.timedelta(0)
    with pytest.raises(Exception, match="naive datetime"), unit_of_work(db_session):
        db_session.add(Agency(id="naive", code="X", kind="department", name_th="ก", name_en="A",
                              extra_holidays=[], updated_at=dt.datetime(2026, 1, 1)))
