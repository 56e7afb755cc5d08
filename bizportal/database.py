"""The declarative base, the one place that commits, and database-wide settings.

Services only `flush()`; `unit_of_work()` commits once at the end of a request,
command or job, or rolls everything back. Work that must only happen for data
that was really saved (enqueue a job, send mail) is registered with
`after_commit()` and runs after a successful commit, never after a rollback.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, registry
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AFTER_COMMIT_KEY = "bizportal.after_commit"
WRITING_REQUEST_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_writing: ContextVar[bool] = ContextVar("bizportal_writing", default=False)
"""True inside `unit_of_work`: transactions begun there mean to write."""

P = ParamSpec("P")
R = TypeVar("R")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime stored in UTC; SQLite gives it back aware too.

    Naive datetimes are refused: a time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime in UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")
"""JSON column type: JSONB on PostgreSQL, JSON text elsewhere."""


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names follow `NAMING_CONVENTION`."""

    registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION),
                        type_annotation_map={dt.datetime: UtcDateTime()})


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the current unit of work has committed; dropped on rollback."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit once when the block succeeds, roll back when it raises, then run after-commit hooks.

    A hook that fails is logged and does not undo the commit; the others still run.
    """
    session.info[AFTER_COMMIT_KEY] = []
    writing = _writing.set(True)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(AFTER_COMMIT_KEY, None)
        raise
    finally:
        _writing.reset(writing)
    hooks: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT_KEY, [])
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("after-commit hook failed",
                             extra={"hook": getattr(hook, "__name__", repr(hook))})


def transactional(view: Callable[P, R]) -> Callable[P, R]:
    """Decorate a view that writes: its request is one unit of work on `db.session`."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from .extensions import db  # imported here: models import this module, extensions import models' Base

        with unit_of_work(db.session()):
            return view(*args, **kwargs)

    return wrapper


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _will_write() else "BEGIN")


def _will_write() -> bool:
    """Whether a new SQLite transaction should take the write lock at once.

    A transaction that reads and then writes cannot wait for the lock: SQLite
    refuses the upgrade at once ("database is locked") to avoid a deadlock, even
    with a busy timeout. Taking it at BEGIN makes concurrent writers queue for up
    to the busy timeout instead. Writing requests (POST, ...) begin their first
    transaction before `unit_of_work` (loading the user), so their method counts.
    """
    if _writing.get():
        return True
    from flask import has_request_context, request  # only the web app has requests

    return has_request_context() and request.method in WRITING_REQUEST_METHODS


def configure_engine(engine: Engine) -> None:
    """Make SQLite behave: real transactions (BEGIN when SQLAlchemy begins) and foreign keys on.

    pysqlite otherwise delays BEGIN until the first write and commits on SAVEPOINT
    release, which breaks nested transactions. See SQLAlchemy's SQLite dialect notes.
    """
    if engine.dialect.name != "sqlite" or event.contains(engine, "connect", _sqlite_on_connect):
        return
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
