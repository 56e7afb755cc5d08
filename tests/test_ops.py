"""Liveness and readiness probes against a real database and a real (or unreachable) Redis."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from bizportal.database import unit_of_work
from bizportal.extensions import db
from bizportal.ops.logs import JsonFormatter, RequestIdFilter, bound_request_id
from bizportal.permits.services import LoadReport
from bizportal.review.models import ReviewTask, TaskStatus

from .factories import make_application, make_user, migrated_app

REDIS_URL = "redis://127.0.0.1:6379/15"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def test_healthz_answers_without_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_migrated_database_and_a_live_redis(tmp_path: Path) -> None:
    with migrated_app(tmp_path, REDIS_URL=REDIS_URL) as app:
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert response.status_code == 200, body
        assert body["status"] == "ready"
        assert {name: check["ok"] for name, check in body["checks"].items()} == {
            "database": True, "migrations": True, "redis": True}


def test_readyz_names_an_unreachable_redis(tmp_path: Path) -> None:
    with migrated_app(tmp_path, REDIS_URL=CLOSED_PORT_URL) as app:
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert response.status_code == 503
        assert body["checks"]["redis"]["ok"] is False and "Redis" in body["checks"]["redis"]["detail"]
        assert body["checks"]["database"]["ok"] is True
        assert "127.0.0.1" not in response.get_data(as_text=True)  # no addresses given away


def test_readyz_says_when_the_schema_is_behind(tmp_path: Path) -> None:
    with migrated_app(tmp_path) as app:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '3f1c2a9b7d10'"))
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert response.status_code == 503
        assert body["checks"]["migrations"]["ok"] is False
        assert "bizportal db upgrade" in body["checks"]["migrations"]["detail"]


def test_metrics_count_requests_by_endpoint_and_show_overdue_tasks(client: FlaskClient, db_session: Session,
                                                                   load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    owner = make_user(db_session, email="owner@example.com")
    application = make_application(db_session, applicant=owner)
    with unit_of_work(db_session):
        db_session.add(ReviewTask(application_id=application.id,
                                  permit_type_id=application.permit_version.permit_type_id, stage_id="intake",
                                  agency_id="demo_health", status=TaskStatus.OPEN, due_on=dt.date(2026, 1, 5),
                                  overdue=True, opened_at=dt.datetime.now(dt.UTC)))
    client.get("/healthz")
    client.get("/healthz")
    text_body = client.get("/metrics").get_data(as_text=True)
    healthz = re.search(r'bizportal_http_requests_total\{endpoint="ops.healthz",method="GET",status="200"\} (\S+)',
                        text_body)
    assert healthz is not None and float(healthz.group(1)) >= 2
    assert 'bizportal_http_request_duration_seconds_bucket{endpoint="ops.healthz"' in text_body
    overdue = re.search(r'bizportal_tasks_overdue\{agency="demo_health"\} (\S+)', text_body)
    assert overdue is not None and float(overdue.group(1)) == 1.0
    assert "bizportal_jobs" in text_body


def test_metrics_are_not_served_to_the_internet(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "1.1.1.1"})
    assert response.status_code == 404 and "bizportal_http" not in response.get_data(as_text=True)


def test_each_request_gets_an_id_and_keeps_a_sane_one_from_the_proxy(client: FlaskClient) -> None:
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["X-Request-ID"] != made
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-2f9c1e77-abc"}).headers["X-Request-ID"]
    assert kept == "lb-2f9c1e77-abc"
    for hostile in ("<script>alert(1)</script>", "a" * 200, "short"):
        replaced = client.get("/healthz", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)


def test_json_log_lines_carry_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("bizportal.test", logging.INFO, __file__, 1, "job %s done", (7,), None)
    record.job_id = 7
    with bound_request_id("req-12345678"):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job 7 done" and line["request_id"] == "req-12345678"
    assert line["job_id"] == 7 and line["level"] == "INFO" and line["time"].endswith("+00:00")
