"""The whole life of an application through the JSON API only: tokens for an entrepreneur and officers of two
agencies, a draft answered step by step, a document uploaded, submitted, decided by both agencies with If-Match,
the licence issued, its PDF downloaded and parsed, and the number verified without a token.

Real database (SQLite or PostgreSQL), real licence rendering (the in-process job path, as tests/test_licences.py
uses), real PDF parsing; nothing of ours is mocked."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from bizportal.accounts.models import Role, User
from bizportal.businesses.models import Business
from bizportal.permits.services import LoadReport

from .application_pages import PDF
from .factories import make_business, make_quick_user
from .test_applications import ADDRESS

API = "/api/v1"

FOOD_ANSWERS: dict[str, dict[str, Any]] = {
    # `applicant` is sent with PATCH: the citizen id, name, address, phone and e-mail are prefilled.
    "applicant": {"applicant_type": "person", "filed_by_agent": False},
    "premises": {"business_name": "ครัวป้าแดง", "premises_kind": "storage", "premises_address": ADDRESS,
                 "area_m2": 150, "owns_premises": True, "opening_date": "2027-01-15"},
    "food_handlers": {"food_handler_count": 2, "manager_name": "นางแดง ใจดี", "handlers_trained": False},
    "attachments": {"notes": "เปิดทุกวัน"},
    "declarations": {"declare_not_market": True, "declare_hygiene": True, "declare_true": True},
}


# --------------------------------------------------------------------------- helpers shared by the API tests

def token_for(app: Flask, user: User) -> str:
    """A bearer token for `user`, made by the `bizportal tokens create` command as an integrator would."""
    result = app.test_cli_runner().invoke(args=["tokens", "create", user.email])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1].split()[-1]
    return secret


class Api:
    """A JSON client for one token (None: no token)."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return {**headers, **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(API + path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.client.post(API + path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.client.patch(API + path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.client.put(API + path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def upload(self, path: str, content: bytes, filename: str) -> TestResponse:
        return self.client.post(API + path, data={"file": (io.BytesIO(content), filename)},
                                content_type="multipart/form-data", headers=self.headers())


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": uuid.uuid4().hex}


def ok(response: TestResponse, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:2000])
    return response.get_json()


def answer_all_steps(api: Api, application_id: int) -> None:
    """Answer every step of a food-premises draft in order, uploading the site map before its step."""
    step: str | None = ok(api.get(f"/applications/{application_id}"))["steps"][0]
    visited = []
    while step is not None:
        visited.append(step)
        if step == "attachments":
            ok(api.upload(f"/applications/{application_id}/documents/site_map", PDF, "map.pdf"), 201)
        method = api.patch if step == "applicant" else api.put
        result = ok(method(f"/applications/{application_id}/steps/{step}", {"answers": FOOD_ANSWERS[step]}))
        assert result["appeared"] == []
        step = result["next_step"]
    assert visited == list(FOOD_ANSWERS)


def draft(api: Api, business_id: int) -> int:
    body = ok(api.post("/applications", {"permit_type": "food_premises", "business_id": business_id},
                       headers=key()), 201)
    return int(body["id"])


def submitted_by_api(api: Api, business_id: int) -> int:
    application_id = draft(api, business_id)
    answer_all_steps(api, application_id)
    body = ok(api.post(f"/applications/{application_id}/submit", headers=key()))
    assert body["status"] == "in_review"
    return application_id


def queue(api: Api, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(api.get("/tasks", query_string=query))["items"]
    return items


def decide(api: Api, task_id: int, action: str = "approve", reason: str = "", **extra: Any) -> TestResponse:
    """Read the task for its ETag, then decide on that version."""
    etag = api.get(f"/tasks/{task_id}").headers["ETag"]
    return api.post(f"/tasks/{task_id}/decision", {"action": action, "reason": reason, **extra},
                    headers={"If-Match": etag, **key()})


def make_people(db_session: Session, load_seeds: Callable[[], LoadReport]) -> dict[str, User]:
    """The seed permits, an entrepreneur, and an officer of the health office and one of the municipality."""
    load_seeds()
    return {"owner": make_quick_user(db_session, name="นางแดง ใจดี"),
            "health": make_quick_user(db_session, role=Role.OFFICER, agency_id="demo_health"),
            "municipality": make_quick_user(db_session, role=Role.OFFICER, agency_id="demo_municipality")}


def make_apis(app: Flask, people: dict[str, User]) -> dict[str, Api]:
    """One API client per person, each with a token of its own."""
    return {name: Api(app.test_client(), token_for(app, user)) for name, user in people.items()}


@pytest.fixture
def people(db_session: Session, load_seeds: Callable[[], LoadReport]) -> dict[str, User]:
    return make_people(db_session, load_seeds)


@pytest.fixture
def shop(db_session: Session, people: dict[str, User]) -> Business:
    return make_business(db_session, owner=people["owner"])


@pytest.fixture
def apis(app: Flask, client: FlaskClient, people: dict[str, User]) -> dict[str, Api]:
    return make_apis(app, people)


# --------------------------------------------------------------------------- the journey

def test_the_whole_life_of_an_application_by_api_only(app: Flask, client: FlaskClient, apis: dict[str, Api],
                                                      shop: Business) -> None:
    owner, health, municipality = apis["owner"], apis["health"], apis["municipality"]
    businesses = ok(owner.get("/businesses"))["items"]
    assert [business["id"] for business in businesses] == [shop.id]

    application_id = draft(owner, shop.id)
    body = ok(owner.get(f"/applications/{application_id}"))
    assert body["status"] == "draft" and body["reference"].startswith("BP-")
    assert body["permit_type"] == "food_premises" and body["permit_version"] == 1
    assert body["answers"]["citizen_id"] == shop.tax_id  # prefilled from the business
    assert {item["path"] for item in body["missing"]} >= {"/answers/business_name", "/answers/site_map_file"}

    answer_all_steps(owner, application_id)
    body = ok(owner.get(f"/applications/{application_id}"))
    assert body["missing"] == []
    assert body["answers"]["area_m2"] == 150.0 and body["answers"]["premises_address"]["postcode"] == "10200"
    assert next(item for item in body["documents"] if item["document_id"] == "site_map")["filename"] == "map.pdf"

    body = ok(owner.post(f"/applications/{application_id}/submit", headers=key()))
    assert body["status"] == "in_review" and body["submitted_at"] is not None
    assert [stage["stage_id"] for stage in body["stages"]] == ["intake"]
    assert body["stages"][0]["agency_id"] == "demo_health" and body["stages"][0]["due_on"]

    # The health office: intake, then the hygiene inspection, each claimed then decided on the claimed version.
    assert queue(municipality) == []
    for stage in ("intake", "health_inspection"):
        rows = queue(health)
        assert [(row["application_id"], row["stage_id"]) for row in rows] == [(application_id, stage)]
        task_id = rows[0]["id"]
        before = health.get(f"/tasks/{task_id}")
        task = ok(before)
        assert task["stage_id"] == stage and "approve" in task["actions"] and task["working_days_left"] > 0
        assert task["application"]["answers"]["business_name"] == "ครัวป้าแดง"
        claimed = health.post(f"/tasks/{task_id}/claim")
        assert ok(claimed)["assignee_name"] is not None and claimed.headers["ETag"] != before.headers["ETag"]
        result = ok(health.post(f"/tasks/{task_id}/decision", {"action": "approve"},
                                headers={"If-Match": claimed.headers["ETag"], **key()}))
        assert result["task_status"] == "done" and result["outcome"] == "approved"

    # The municipality decides: the licence is issued (rendered in-process after the commit).
    rows = queue(municipality)
    assert [row["stage_id"] for row in rows] == ["decision"]
    result = ok(decide(municipality, rows[0]["id"]))
    assert result["application_status"] == "approved" and result["licence_id"] is not None

    body = ok(owner.get(f"/applications/{application_id}"))
    assert body["status"] == "approved" and body["licence_id"] == result["licence_id"]
    assert {"submitted", "stage_approved", "approved"} <= {entry["kind"] for entry in body["timeline"]}
    assert all(stage["status"] == "done" for stage in body["stages"])

    licence = ok(owner.get(f"/licences/{result['licence_id']}"))
    assert licence["status"] == "issued" and licence["pdf_ready"] is True
    assert licence["business_name_th"] == "ครัวป้าแดง"
    assert ok(municipality.get(f"/licences/{result['licence_id']}"))["number"] == licence["number"]

    pdf = owner.get(f"/licences/{licence['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.get_data())).pages)
    pdf.close()
    assert licence["number"] in text

    anonymous = Api(app.test_client(), None)
    verified = ok(anonymous.get(f"/licences/verify/{licence['number']}"))
    assert verified == {"number": licence["number"], "status": "issued", "status_label": verified["status_label"],
                        "permit_title": licence["permit_title"], "business_name": "ครัวป้าแดง",
                        "valid_from": licence["valid_from"], "valid_until": licence["valid_until"]}
    assert ok(anonymous.get("/licences/verify/NO-SUCH-1/2569"), 404) is not None
    assert anonymous.get(f"/licences/{licence['id']}").status_code == 401
