"""The authorization matrix of the JSON API: every /api/v1 route and method, read from the URL map, against
someone who must not get in — no token, a revoked token, another entrepreneur, an officer of an agency that has
nothing to do with the application. Each is refused, sees none of the applicant's data and changes nothing.

A route added later is in the matrix without touching this file, unless it takes a URL argument `ARGUMENTS`
does not know: then `test_every_api_route_argument_is_known` fails and says what to add.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from bizportal.accounts.models import Role, User
from bizportal.audit.models import AuditEntry
from bizportal.permits.services import LoadReport

from .application_pages import PDF
from .factories import make_business, make_quick_user
from .test_api_journey import API, Api, decide, key, make_people, ok, queue, submitted_by_api, token_for

pytestmark = pytest.mark.security

PUBLIC = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/problems/<slug>", "/api/v1/licences/verify/<path:number>"}
"""Routes anyone may read: the API's description and documentation, and the public licence check."""
OPEN_TO_EVERY_USER = {"/api/v1/permit-types", "/api/v1/permit-types/<key>"}
"""The catalogue: any token may read it (it is public on the web pages too)."""
ARGUMENTS = {"application_id", "task_id", "licence_id", "step_id", "document_id", "key", "slug", "number"}
SECRET_BUSINESS = "ร้านลับเฉพาะของคุณแดง"
SECRET_ANSWER = "ครัวป้าแดง"  # the business name typed in the answers by the journey's helpers


def api_rules(app: Flask) -> list[tuple[Rule, str]]:
    return sorted(((rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith(API + "/")
                   for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})),
                  key=lambda pair: (pair[0].rule, pair[1]))


def test_every_api_route_argument_is_known(app: Flask) -> None:
    unknown = {(rule.rule, name) for rule, _ in api_rules(app) for name in rule.arguments if name not in ARGUMENTS}
    assert unknown == set(), "add these URL arguments to ARGUMENTS and the victim's values below"


def _victim(app: Flask, db_session: Session, load_seeds: Callable[[], LoadReport]) -> dict[str, Any]:
    """An applicant with a licensed application and a second one waiting at the health office."""
    people = make_people(db_session, load_seeds)
    owner = Api(app.test_client(), token_for(app, people["owner"]))
    health = Api(app.test_client(), token_for(app, people["health"]))
    municipality = Api(app.test_client(), token_for(app, people["municipality"]))
    business = make_business(db_session, owner=people["owner"], name_th=SECRET_BUSINESS)
    licensed = submitted_by_api(owner, business.id)
    for officer in (health, health, municipality):
        ok(decide(officer, queue(officer)[0]["id"]))
    licence_id = ok(owner.get(f"/applications/{licensed}"))["licence_id"]
    assert licence_id is not None
    waiting = submitted_by_api(owner, business.id)
    [task] = queue(health)
    return {"business_id": business.id, "application_id": waiting, "task_id": task["id"],
            "licence_id": licence_id, "etag": health.get(f"/tasks/{task['id']}").headers["ETag"],
            "owner": people["owner"]}


def _url(rule: Rule, victim: dict[str, Any]) -> str:
    values = {"application_id": victim["application_id"], "task_id": victim["task_id"],
              "licence_id": victim["licence_id"], "step_id": "applicant", "document_id": "site_map",
              "key": "food_premises", "slug": "validation", "number": "X"}
    built = rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)
    assert built is not None
    return built[1]


def _body(rule: Rule, victim: dict[str, Any]) -> dict[str, Any]:
    if rule.rule.endswith("/decision"):
        return {"action": "approve", "reason": "taken over"}
    if "/steps/" in rule.rule:
        return {"answers": {"business_name": "stolen"}}
    if rule.rule.endswith("/withdraw"):
        return {"reason": "taken over"}
    if rule.rule == API + "/applications":
        return {"permit_type": "food_premises", "business_id": victim["business_id"]}
    return {}


def _send(client: FlaskClient, token: str | None, method: str, url: str, rule: Rule,
          victim: dict[str, Any]) -> Any:
    headers = {"Accept": "application/json", "If-Match": victim["etag"], **key()}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if "/documents/" in rule.rule:
        return client.open(url, method=method, headers=headers,
                           data={"file": (io.BytesIO(PDF), "map.pdf")}, content_type="multipart/form-data")
    if method in {"GET", "DELETE"}:
        return client.open(url, method=method, headers=headers)
    return client.open(url, method=method, headers=headers, json=_body(rule, victim))


def test_outsiders_are_refused_every_api_route_and_change_nothing(
        app: Flask, client: FlaskClient, db_session: Session, load_seeds: Callable[[], LoadReport]) -> None:
    victim = _victim(app, db_session, load_seeds)
    intruder = make_quick_user(db_session, email="intruder@example.com")
    make_business(db_session, owner=intruder, name_th="ร้านของผู้บุกรุก")
    outsider = make_quick_user(db_session, role=Role.OFFICER, agency_id="outsider_agency",
                               email="outsider.officer@example.com")
    revoked_user: User = make_quick_user(db_session, email="revoked@example.com")
    revoked = token_for(app, revoked_user)
    revoke = app.test_cli_runner().invoke(args=["tokens", "revoke", _token_id(db_session, revoked_user)])
    assert revoke.exit_code == 0, revoke.output
    callers = {"anonymous": None, "revoked token": revoked, "another entrepreneur": token_for(app, intruder),
               "another agency's officer": token_for(app, outsider)}
    audit_before = db_session.scalar(select(func.count()).select_from(AuditEntry))

    rules = api_rules(app)
    assert len(rules) >= 15
    checked = 0
    for rule, method in rules:
        if rule.rule in PUBLIC:
            continue
        url = _url(rule, victim)
        for caller, token in callers.items():
            response = _send(client, token, method, url, rule, victim)
            body = response.get_data(as_text=True)
            where = (caller, method, rule.rule, response.status_code, body[:300])
            assert response.status_code < 500, where
            assert SECRET_BUSINESS not in body and SECRET_ANSWER not in body, where
            if token is None or caller == "revoked token":
                assert response.status_code == 401, where
                assert response.headers["Content-Type"].startswith("application/problem+json"), where
            elif rule.rule in OPEN_TO_EVERY_USER:
                assert response.status_code == 200, where
            elif rule.arguments & {"application_id", "task_id", "licence_id"} or rule.rule == API + "/applications" \
                    and method == "POST":
                assert response.status_code in {403, 404, 422}, where
            else:  # the caller's own lists: allowed, and empty of the victim's data (checked above)
                assert response.status_code in {200, 403}, where
            response.close()
            checked += 1
    assert checked >= 40
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


def _token_id(db_session: Session, user: User) -> str:
    from bizportal.api.models import ApiToken

    return str(db_session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id)).one())
