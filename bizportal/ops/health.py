"""What `/readyz` checks: the database answers, its schema is at the newest migration, Redis answers.

Plain functions over an engine and a Redis URL, so they can be tested and reused by
the CLI without a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from ..migrations import MIGRATIONS_DIR


@dataclass(frozen=True)
class Check:
    """One dependency's state: ok, or the problem in a sentence an operator can act on."""

    name: str
    ok: bool
    detail: str


def database_check(engine: Engine) -> Check:
    """The database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not ready"; the message says which
        return Check("database", False, f"cannot query the database: {type(error).__name__}")
    return Check("database", True, "answers")


def migrations_check(engine: Engine) -> Check:
    """The schema is at the newest revision shipped with this code (else run `bizportal db upgrade`)."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as error:
        return Check("migrations", False, f"cannot read the schema version: {type(error).__name__}")
    if current != head:
        return Check("migrations", False, f"schema at {current or 'nothing'}, code expects {head}: "
                                          "run `bizportal db upgrade`")
    return Check("migrations", True, f"at {head}")


def redis_check(url: str | None) -> Check:
    """Redis answers PING, or is not configured (jobs then run in-process)."""
    if not url:
        return Check("redis", True, "not configured: jobs run in-process")
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as error:
        return Check("redis", False, f"no answer from Redis: {type(error).__name__}")
    return Check("redis", True, "answers")
