"""The API against its own OpenAPI document, with schemathesis: every operation of /api/v1/openapi.json is called
with generated requests on the real app (WSGI, real database, seed permits, a real token), and must never answer
5xx and always answer with a body its documented schema accepts.

Bounded and deterministic: a few examples per operation, derandomized, no example database; it runs in CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bizportal.accounts.models import Role
from bizportal.config import BIZPORTAL_ROOT
from bizportal.extensions import db

from .factories import load, make_business, make_quick_user, migrated_app
from .test_api_journey import Api, submitted_by_api, token_for

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def running_app(tmp_path: Path) -> Iterator[Flask]:
    """An app of its own, committing for real, with a rate limit no generated run reaches."""
    with migrated_app(tmp_path, BIZPORTAL_API_RATE_LIMIT="100000/minute") as app:
        yield app


def contract_check(operation: Any, token: str) -> Any:
    """A bounded, derandomized property test of one operation: no 5xx, bodies as documented."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return call


def test_every_operation_keeps_its_documented_contract(running_app: Flask) -> None:
    app = running_app
    with app.app_context():
        session = db.session()
        load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
        owner = make_quick_user(session)
        officer = make_quick_user(session, role=Role.OFFICER, agency_id="demo_health")
        business_id = make_business(session, owner=owner).id
        tokens = {"owner": token_for(app, owner), "officer": token_for(app, officer)}
        db.session.remove()
    submitted_by_api(Api(app.test_client(), tokens["owner"]), business_id)  # rows for the ids to find

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # Err raises
    assert {operation.path for operation in operations} >= {
        "/api/v1/applications", "/api/v1/applications/{application_id}/steps/{step_id}",
        "/api/v1/applications/{application_id}/documents/{document_id}", "/api/v1/tasks",
        "/api/v1/tasks/{task_id}/decision", "/api/v1/licences/verify/{number}", "/api/v1/businesses"}
    failures: list[str] = []
    for operation in operations:
        call = contract_check(operation, tokens["officer" if operation.path.startswith("/api/v1/tasks") else "owner"])
        try:
            call()
        except Exception as error:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
