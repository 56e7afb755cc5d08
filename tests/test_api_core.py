"""The API's contract: problems (RFC 9457) in the requested language, bearer-only auth without CSRF,
idempotency keys, If-Match, cursors, rate limits per token, and an OpenAPI document that lists every route.

A second app ("lab") carries a few routes of its own under /api/v1/lab, built with the real decorators
(`spec.validate`, `idempotent`, `transactional`) and writing real audit rows, so each piece is tested on
its own; the resource endpoints get the same pieces in test_api_resources.py and test_api_journey.py.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask, request
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import User
from bizportal.api.core import (
    ApiProblem,
    Problem,
    api_user,
    decode_cursor,
    encode_cursor,
    etag_of,
    idempotent,
    json_response,
    openapi_document,
    require_if_match,
    spec,
)
from bizportal.api.tokens import create_token
from bizportal.audit.models import AuditEntry
from bizportal.audit.services import record
from bizportal.database import transactional, unit_of_work
from bizportal.extensions import db

from .factories import make_quick_user, migrated_app

API = "/api/v1"


# --------------------------------------------------------------------------- the lab app's routes

class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=20)
    size: int = Field(ge=1, le=10)
    hold: bool = False
    fail: bool = False


class ThingOut(BaseModel):
    id: int
    name: str


class Broken(BaseModel):
    number: int


HOLD = threading.Event()


@spec.validate(json=ThingIn, resp=Response(HTTP_201=ThingOut, HTTP_409=Problem), tags=["lab"])
@idempotent
@transactional
def create_thing() -> Any:
    """Create a thing: an audit row, so the test can count how many were made."""
    body: ThingIn = request.context.json  # type: ignore[attr-defined]
    if body.hold:
        HOLD.wait(10)
    user = api_user()
    entry = record(db.session(), at=dt.datetime.now(dt.UTC), actor_id=user.id, action="lab_thing",
                   subject_type="lab", subject_id=body.name, data={"size": body.size})
    if body.fail:
        raise ApiProblem(409, "conflict", "No", "The thing refused.")
    return json_response(ThingOut(id=entry.id, name=body.name), status=201, headers={"Location": f"/x/{entry.id}"})


@spec.validate(resp=Response(HTTP_200=ThingOut, HTTP_412=Problem, HTTP_428=Problem), tags=["lab"])
def decide_thing() -> Any:
    require_if_match(etag_of("thing", 7))
    return json_response(ThingOut(id=7, name="decided"))


@spec.validate(resp=Response(HTTP_200=Broken), tags=["lab"])
def broken_answer() -> Any:
    return json_response({"number": "not a number"})


@spec.validate(tags=["lab"])
def boom() -> Any:
    raise RuntimeError("secret internals /etc/passwd")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with migrated_app(tmp_path_factory.mktemp("lab")) as application:
        # endpoints named api.* belong to the API blueprint: its token check and problem answers apply
        application.add_url_rule(f"{API}/lab/things", "api.lab_create_thing", create_thing, methods=["POST"])
        application.add_url_rule(f"{API}/lab/decision", "api.lab_decide_thing", decide_thing, methods=["POST"])
        application.add_url_rule(f"{API}/lab/broken", "api.lab_broken", broken_answer)
        application.add_url_rule(f"{API}/lab/boom", "api.lab_boom", boom)
        yield application


def new_token(app: Flask) -> tuple[int, str]:
    """A fresh user of `app` and a bearer secret for them."""
    with app.app_context():
        session = db.session()
        user = make_quick_user(session)
        with unit_of_work(session):
            created = create_token(session, user, "test", None, dt.datetime.now(dt.UTC))
        user_id = user.id
        db.session.remove()
    return user_id, created.secret


def audit_count(app: Flask, name: str) -> int:
    with app.app_context():
        count = db.session().scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "lab_thing", AuditEntry.subject_id == name))
        db.session.remove()
    return int(count or 0)


def auth(secret: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **extra}


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:1000])
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["type"].endswith(f"/api/v1/problems/{slug}"), body
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# --------------------------------------------------------------------------- problems and language

def test_http_errors_are_problems_in_the_requested_language(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    thai = assert_problem(client.get(f"{API}/no-such-thing", headers=auth(secret)), 404, "not-found")
    english = assert_problem(client.get(f"{API}/no-such-thing", headers=auth(secret, **{
        "Accept-Language": "en-GB,en;q=0.9"})), 404, "not-found")
    assert english["title"] == "Page not found" and thai["title"] != english["title"]
    assert any("\u0e00" <= char <= "\u0e7f" for char in thai["title"])  # Thai by default
    wrong_method = client.delete(f"{API}/lab/things", headers=auth(secret))
    assert_problem(wrong_method, 405, "method-not-allowed")
    assert "POST" in wrong_method.headers["Allow"]
    # a problem page is never a session: no cookie is set
    assert "Set-Cookie" not in wrong_method.headers


def test_invalid_body_is_422_with_json_pointers(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    response = client.post(f"{API}/lab/things", json={"name": "", "size": 99, "colour": "red"},
                           headers=auth(secret, **{"Accept-Language": "en"}))
    body = assert_problem(response, 422, "validation")
    errors = {error["path"]: error for error in body["errors"]}
    assert set(errors) == {"/name", "/size", "/colour"}
    assert errors["/size"]["message"] == "Must be at most 10." and errors["/size"]["location"] == "body"
    assert errors["/colour"]["message"] == "This field is not expected."
    assert audit_count(lab, "") == 0

    not_json = client.post(f"{API}/lab/things", data="name=x", content_type="text/plain", headers=auth(secret))
    assert_problem(not_json, 415, "unsupported-media-type")
    broken_json = client.post(f"{API}/lab/things", data="{", content_type="application/json", headers=auth(secret))
    assert_problem(broken_json, 400, "invalid-json")


def test_query_errors_name_the_parameter(client: FlaskClient, db_session: Session, app: Flask) -> None:
    user = make_quick_user(db_session)
    with unit_of_work(db_session):
        secret = create_token(db_session, user, "t", None, dt.datetime.now(dt.UTC)).secret
    response = client.get(f"{API}/permit-types?limit=0", headers=auth(secret, **{"Accept-Language": "en"}))
    body = assert_problem(response, 422, "validation")
    assert body["errors"] == [{"path": "/limit", "message": "Must be at least 1.", "location": "query"}]


def test_unexpected_errors_are_a_calm_500_problem(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    for path in ("/lab/boom", "/lab/broken"):
        response = client.get(f"{API}{path}", headers=auth(secret))
        assert_problem(response, 500, "internal")
        assert "passwd" not in response.get_data(as_text=True) and "not a number" not in response.get_data(
            as_text=True)


# --------------------------------------------------------------------------- auth and CSRF

def test_bearer_requests_need_no_csrf_token(lab: Flask) -> None:
    assert lab.config.get("WTF_CSRF_ENABLED", True)
    client = lab.test_client()
    _user, secret = new_token(lab)
    response = client.post(f"{API}/lab/things", json={"name": "nocsrf", "size": 1}, headers=auth(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert client.post(f"{API}/lab/things", json={"name": "anon", "size": 1}).status_code == 401
    assert audit_count(lab, "anon") == 0


# --------------------------------------------------------------------------- idempotency

def test_same_key_same_request_replays_the_first_answer(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(f"{API}/lab/things", json={"name": "once", "size": 2}, headers=auth(secret, **key))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # the same request again, keys reordered and spaced differently: the first answer, no second thing
    again = client.post(f"{API}/lab/things", data='{"size": 2,   "name": "once"}',
                        content_type="application/json", headers=auth(secret, **key))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert audit_count(lab, "once") == 1

    different = client.post(f"{API}/lab/things", json={"name": "once", "size": 3}, headers=auth(secret, **key))
    assert_problem(different, 422, "idempotency-key-reused")
    assert audit_count(lab, "once") == 1

    # keys belong to a user: another user's same key is a new request
    _other, other_secret = new_token(lab)
    theirs = client.post(f"{API}/lab/things", json={"name": "once", "size": 2}, headers=auth(other_secret, **key))
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert audit_count(lab, "once") == 2
    assert_problem(client.post(f"{API}/lab/things", json={"name": "x", "size": 2},
                               headers=auth(secret, **{"Idempotency-Key": "k" * 300})), 400,
                   "invalid-idempotency-key")


def test_a_failed_request_releases_its_key(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    failed = client.post(f"{API}/lab/things", json={"name": "fails", "size": 2, "fail": True},
                         headers=auth(secret, **key))
    assert_problem(failed, 409, "conflict")
    assert audit_count(lab, "fails") == 0  # the view's writes were rolled back
    retried = client.post(f"{API}/lab/things", json={"name": "fails", "size": 2}, headers=auth(secret, **key))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert audit_count(lab, "fails") == 1


def test_a_concurrent_duplicate_is_told_409_then_replayed(lab: Flask) -> None:
    _user, secret = new_token(lab)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "racing", "size": 4, "hold": True}
    answers: list[Any] = []

    def send() -> None:
        answers.append(lab.test_client().post(f"{API}/lab/things", json=body, headers=auth(secret, **key)))

    HOLD.clear()  # whichever claims the key first waits inside the view; the other must not wait for it
    racers = [threading.Thread(target=send) for _ in range(2)]
    for racer in racers:
        racer.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while not answers and dt.datetime.now() < deadline:
            threading.Event().wait(0.02)
        assert answers, "neither request answered while the other held the key"
        assert_problem(answers[0], 409, "idempotency-key-in-use")
    finally:
        HOLD.set()
        for racer in racers:
            racer.join(15)
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    replay = lab.test_client().post(f"{API}/lab/things", json=body, headers=auth(secret, **key))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert audit_count(lab, "racing") == 1


# --------------------------------------------------------------------------- If-Match, cursors

def test_if_match_is_required_and_must_be_current(lab: Flask) -> None:
    client = lab.test_client()
    _user, secret = new_token(lab)
    current = etag_of("thing", 7)
    assert current.startswith('"') and current.endswith('"') and current != etag_of("thing", 8)
    assert_problem(client.post(f"{API}/lab/decision", headers=auth(secret)), 428, "precondition-required")
    stale = client.post(f"{API}/lab/decision", headers=auth(secret, **{"If-Match": etag_of("thing", 6)}))
    assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["ETag"] == current
    assert client.post(f"{API}/lab/decision", headers=auth(secret, **{"If-Match": current})).status_code == 200
    assert client.post(f"{API}/lab/decision", headers=auth(secret, **{
        "If-Match": f'"old", W/{current}'})).status_code == 200


def test_cursors_are_opaque_and_tamper_proof(lab: Flask) -> None:
    with lab.test_request_context():
        cursor = encode_cursor(("2026-11-24", 42))
        assert "42" not in cursor and cursor.isascii() and " " not in cursor
        assert decode_cursor(cursor, 2) == ("2026-11-24", 42)
        assert decode_cursor(None, 2) is None
        for bad in (cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "garbage", "",
                    encode_cursor(("x",))):
            with pytest.raises(ApiProblem) as problem:
                decode_cursor(bad, 2)
            assert problem.value.status == 400 and problem.value.slug == "invalid-cursor"


def test_a_tampered_cursor_is_a_400_problem(client: FlaskClient, db_session: Session) -> None:
    user: User = make_quick_user(db_session)
    with unit_of_work(db_session):
        secret = create_token(db_session, user, "t", None, dt.datetime.now(dt.UTC)).secret
    body = assert_problem(client.get(f"{API}/permit-types?cursor=abc.def", headers=auth(secret)), 400,
                          "invalid-cursor")
    assert body["errors"][0]["path"] == "/cursor"


# --------------------------------------------------------------------------- rate limits

def _limited(tmp_path: Path, **config: Any) -> Iterator[Flask]:
    with migrated_app(tmp_path, BIZPORTAL_API_RATE_LIMIT="3/minute", **config) as application:
        yield application


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_rate_limit_per_token_with_headers(tmp_path: Path, storage: str) -> None:
    config: dict[str, Any] = {}
    if storage == "redis":
        try:
            redis.Redis.from_url("redis://127.0.0.1:6379/14").ping()
        except redis.RedisError:
            pytest.skip("no Redis at 127.0.0.1:6379")
        config["REDIS_URL"] = "redis://127.0.0.1:6379/14"
    for limited in _limited(tmp_path, **config):
        assert limited.config["BIZPORTAL_API_RATE_LIMIT"] == "3/minute"
        client = limited.test_client()
        _first, secret = new_token(limited)
        _second, other = new_token(limited)
        remaining = []
        for _ in range(3):
            response = client.get(f"{API}/permit-types", headers=auth(secret))
            assert response.status_code == 200, response.get_data(as_text=True)
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert "Retry-After" not in response.headers
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == [2, 1, 0]
        refused = client.get(f"{API}/permit-types", headers=auth(secret, **{"Accept-Language": "en"}))
        body = assert_problem(refused, 429, "rate-limited")
        assert body["title"] == "Too many requests"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        # another token has its own budget; the pages are not limited
        assert client.get(f"{API}/permit-types", headers=auth(other)).status_code == 200
        assert all(client.get("/").status_code == 200 for _ in range(5))


def test_rate_limit_setting_is_checked() -> None:
    from bizportal.app import create_app
    from bizportal.config import ConfigError

    with pytest.raises(ConfigError, match="BIZPORTAL_API_RATE_LIMIT"):
        create_app({"BIZPORTAL_ENV": "testing", "BIZPORTAL_API_RATE_LIMIT": "lots"})


# --------------------------------------------------------------------------- OpenAPI and docs

NOT_OPERATIONS = {"api.openapi", "api.docs", "api.problem_type"}
PUBLIC = {("/api/v1/licences/verify/{number}", "get")}


def test_openapi_document_is_valid_and_lists_every_route(app: Flask, client: FlaskClient) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"

    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    expected = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/") or rule.endpoint in NOT_OPERATIONS:
            continue
        path, _parameters = spec.backend.parse_path(rule, None)
        expected |= {(path, method.lower()) for method in rule.methods or () if method not in {"HEAD", "OPTIONS"}}
    assert expected and expected <= documented, sorted(expected - documented)
    assert ("/api/v1/permit-types/{key}", "get") in documented

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = (path, method) in PUBLIC
            assert (operation.get("security") == []) is public, (path, method)
            if not public:
                assert "401" in operation["responses"], (path, method)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert set(answer["content"]) == {"application/problem+json"}, (path, method, status)


def test_public_routes_need_no_token(client: FlaskClient, db_session: Session) -> None:
    assert client.get(f"{API}/openapi.json").status_code == 200
    docs = client.get(f"{API}/docs")
    page = docs.get_data(as_text=True)
    assert docs.status_code == 200 and "/api/v1/permit-types/{key}" in page
    assert "<script" not in page and "cdn" not in page.lower() and 'id="problem-validation"' in page
    verify = client.get(f"{API}/licences/verify/NO-SUCH-1")
    assert verify.status_code != 401 and verify.mimetype == "application/problem+json"
    assert client.get(f"{API}/problems/validation").headers["Location"].endswith("/api/v1/docs#problem-validation")


def test_schema_names_are_unique_across_the_api() -> None:
    """Spectree names components by class name: two models of one name would silently share one schema."""
    import importlib
    import pkgutil

    import bizportal.api

    owners: dict[str, list[str]] = {}
    for module_info in pkgutil.iter_modules(bizportal.api.__path__):
        module = importlib.import_module(f"bizportal.api.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                owners.setdefault(name, []).append(module.__name__)
    assert owners and {name: where for name, where in owners.items() if len(where) > 1} == {}


def test_openapi_document_is_made_per_app(lab: Flask, app: Flask) -> None:
    first, second = openapi_document(app), openapi_document(lab)
    assert "/api/v1/lab/things" in second["paths"] and "/api/v1/lab/things" not in first["paths"]
    for document in (first, second):  # each complete, nested schemas included, whichever app came first
        validate_openapi(document)
        assert "ApplicationSummary" in document["components"]["schemas"]
