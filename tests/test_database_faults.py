"""The database under faults: a connection dropped in the middle of a request gives a clean 503, and the
next request works without restarting anything.

PostgreSQL only (SQLite has no server connection to lose). The request is held on a table lock taken by the
test, its server process is terminated as an administrator (or a failover) would, then the lock is let go.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text

from bizportal.extensions import db

from .browser import served
from .factories import TEST_DATABASE_URL, load, migrated_app
from .workers import wait_for

pytestmark = [pytest.mark.faults,
              pytest.mark.skipif(TEST_DATABASE_URL is None, reason="needs PostgreSQL "
                                 "(BIZPORTAL_TEST_DATABASE_URL); SQLite has no connection to drop")]


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from bizportal.config import BIZPORTAL_ROOT

    with migrated_app(tmp_path_factory.mktemp("dropped")) as app:
        with app.app_context():
            load(db.session(), BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
            db.session.commit()
        yield app


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.mark.parametrize(("path", "table"), [("/?lang=en", "permit_types"),
                                             ("/verify/BKK-0001-2569?lang=en", "licences"),
                                             ("/api/v1/licences/verify/BKK-0001-2569", "licences")])
def test_a_connection_dropped_mid_request_gives_a_503_then_the_portal_recovers(pg_app: Flask, path: str,
                                                                              table: str) -> None:
    with served(pg_app) as base_url:
        assert fetch(f"{base_url}/?lang=en")[0] == 200  # the pool holds a working connection
        with pg_app.app_context():
            locker = db.engine.connect()
        try:
            transaction = locker.begin()
            locker.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            answer: list[tuple[int, dict[str, str], str]] = []
            request = threading.Thread(target=lambda: answer.append(fetch(base_url + path)))
            request.start()

            def blocked_backend() -> int | None:
                locker.execute(text("SELECT pg_stat_clear_snapshot()"))  # activity is a per-transaction snapshot
                return locker.execute(text("SELECT pid FROM pg_stat_activity "
                                           "WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")).scalar()

            pid = wait_for(blocked_backend, timeout=20, message="the request to wait on the lock")
            assert locker.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
            request.join(timeout=30)
            transaction.rollback()
        finally:
            locker.close()
        [(status, headers, body)] = answer
        assert status == 503, body[:2000]
        assert int(headers.get("Retry-After", "0")) >= 30  # 30 from the page; the API limiter may say more
        assert "Traceback" not in body and "psycopg" not in body
        if path.startswith("/api/"):
            assert headers["Content-Type"].startswith("application/problem+json")
        else:
            assert "cannot reach its database" in body
        # The broken connection was discarded: the next requests are served, with no restart.
        for _ in range(3):
            assert fetch(f"{base_url}/?lang=en")[0] == 200
