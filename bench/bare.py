"""The bare stack the web benchmark compares bizportal with: Flask + Flask-SQLAlchemy, one insert.

`gunicorn -w 2 'bench.bare:create_app()'` with `BARE_DATABASE_URL` set (SQLite file or
PostgreSQL, as for bizportal). `POST /rows` inserts one row in its own transaction and
answers 201; `GET /ping` answers 200 without touching the database (readiness). The table
is created at start when missing. SQLite gets the same connection settings as bizportal's
engine (foreign keys, 5 s busy timeout, `BEGIN IMMEDIATE` for writes), so both pay the same
locking; nothing else is added: no sessions, CSRF, templates, logging or audit.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Row(db.Model):  # type: ignore[name-defined,misc]
    """One inserted row per request."""

    __tablename__ = "bare_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_app() -> Flask:
    """The bare app on `BARE_DATABASE_URL`."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BARE_DATABASE_URL"]
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_connect)
            event.listen(db.engine, "begin", _sqlite_begin)
        db.create_all()

    @app.post("/rows")
    def insert() -> tuple[str, int]:
        db.session.add(Row(note="bench", created_at=dt.datetime.now(dt.UTC)))
        db.session.commit()
        return "", 201

    @app.get("/ping")
    def ping() -> str:
        return "ok"

    return app
