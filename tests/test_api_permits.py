"""Permit types by API, and each seed form as JSON Schema (draft 2020-12): a valid schema, that a complete
answer set accepted by the portal's own rules validates against, and that wrong answers do not."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.orm import Session

from bizportal.accounts.models import User
from bizportal.api.jsonschema import _TYPES, form_schema
from bizportal.api.tokens import create_token
from bizportal.applications import services
from bizportal.applications.models import Application
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.permits.services import LoadReport
from bizportal.workflow.spec import FieldType, FormField, FormFile

from .factories import SEED_KEYS, make_application, make_business, make_quick_user, validate
from .test_applications import ADDRESS

API = "/api/v1"
FORMS = BIZPORTAL_ROOT / "forms"


def token(db_session: Session, user: User | None = None) -> dict[str, str]:
    user = user or make_quick_user(db_session)
    with unit_of_work(db_session):
        secret = create_token(db_session, user, "t", None, dt.datetime.now(dt.UTC)).secret
    return {"Authorization": f"Bearer {secret}"}


# --------------------------------------------------------------------------- the catalogue

def test_permit_types_are_listed_a_page_at_a_time(client: FlaskClient, db_session: Session,
                                                  load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    headers = token(db_session)
    whole = client.get(f"{API}/permit-types", headers=headers)
    assert whole.status_code == 200
    body = whole.get_json()
    assert [item["key"] for item in body["items"]] == sorted(SEED_KEYS) and body["next_cursor"] is None
    food = next(item for item in body["items"] if item["key"] == "food_premises")
    assert food["title"] == food["title_th"] != food["title_en"] and food["version"] == 1
    assert food["issuing_agency"]["id"] and food["time_limit_days"] > 0

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        page = client.get(f"{API}/permit-types", query_string={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers={**headers, "Accept-Language": "en"}).get_json()
        seen += [item["key"] for item in page["items"]]
        assert all(item["title"] == item["title_en"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(SEED_KEYS)


def test_one_permit_type_with_its_form_schema(client: FlaskClient, db_session: Session,
                                              load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    headers = token(db_session)
    thai = client.get(f"{API}/permit-types/food_premises", headers=headers)
    english = client.get(f"{API}/permit-types/food_premises", headers={**headers, "Accept-Language": "en"})
    assert thai.status_code == english.status_code == 200
    body, body_en = thai.get_json(), english.get_json()
    assert body["key"] == "food_premises" and body["version"] == 1 and len(body["content_hash"]) == 64
    assert body["stages"] and all(stage["agency"]["id"] for stage in body["stages"])
    assert body["documents"] and {"site_map"} <= {document["id"] for document in body["documents"]}
    assert body["form_schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["form_schema"]["properties"]["premises"]["title"] != body_en["form_schema"]["properties"][
        "premises"]["title"]
    assert english.headers["Content-Language"] == "en"
    assert thai.headers["ETag"] != english.headers["ETag"]
    cached = client.get(f"{API}/permit-types/food_premises", headers={**headers, "If-None-Match": thai.headers["ETag"]})
    assert cached.status_code == 304 and not cached.get_data()

    missing = client.get(f"{API}/permit-types/no_such_permit", headers=headers)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.get(f"{API}/permit-types/food_premises").status_code == 401


# --------------------------------------------------------------------------- the form as JSON Schema

def test_every_field_kind_has_a_schema() -> None:
    assert set(_TYPES) == set(FieldType)
    used = {item.type for key in SEED_KEYS for step in form_of(key).steps for item in step.fields}
    assert used <= set(_TYPES)


def form_of(key: str) -> FormFile:
    return validate(BIZPORTAL_ROOT / "workflows", FORMS).specs[key].form


OVERRIDES: dict[str, dict[str, Any]] = {
    "food_premises": {"applicant_type": "person", "business_name": "ครัวป้าแดง", "premises_kind": "storage",
                      "area_m2": 150.0, "owns_premises": True, "food_handler_count": 2, "opening_date": "2027-01-15"},
    "liquor_sales": {"applicant_type": "person", "licence_types": ["type2"], "business_kind": "restaurant",
                     "vat_registered": False, "start_date": "2027-02-01", "premises_name": "ร้านลาบเป็ด",
                     "owns_premises": True, "filed_by_agent": False},
    "water_meter": {"applicant_type": "person", "occupancy": "owner", "usage_class": "other",
                    "install_type": "permanent", "meter_size": "0.75"},
}


def generic_answer(item: FormField) -> Any:
    """A plausible answer for a required field the overrides do not cover."""
    if item.type in {FieldType.CHOICE}:
        return item.options[0].value
    if item.type is FieldType.MULTI_CHOICE:
        return [item.options[0].value]
    if item.type in {FieldType.YES_NO, FieldType.DECLARATION}:
        return True
    if item.type is FieldType.THAI_ADDRESS:
        return dict(ADDRESS)
    if item.type is FieldType.DATE:
        return "2027-01-15"
    if item.type in {FieldType.NUMBER, FieldType.MONEY, FieldType.AREA_M2}:
        return float(item.min if item.min is not None else 10)
    if item.type is FieldType.INTEGER:
        return int(item.min if item.min is not None else 2)
    if item.type is FieldType.EMAIL:
        return "owner@example.com"
    if item.type is FieldType.PHONE:
        return "0812345678"
    return "ข้อความทดสอบ"


def complete_application(db_session: Session, key: str) -> Application:
    """A draft from the factories, answered until the portal's own completeness check finds no field missing."""
    applicant = make_quick_user(db_session)
    business = make_business(db_session, owner=applicant)
    application = make_application(db_session, applicant=applicant, business=business, permit_key=key,
                                   answers=OVERRIDES[key])
    for _ in range(5):  # answering may show more fields; fill them too
        current = services.shown(application)
        added = {item.id: generic_answer(item) for step in current.steps for item in current.fields[step.id]
                 if item.required and item.type is not FieldType.FILE and item.id not in application.answers}
        if not added:
            break
        with unit_of_work(db_session):
            application.answers = {**application.answers, **added}
    problems = [problem for problem in services.completeness(application)
                if problem.field_id is not None and problem.document_id is None
                and services.compiled(application.permit_version).spec.fields()[problem.field_id].type
                is not FieldType.FILE]
    assert problems == [], [(problem.field_id, str(problem.message)) for problem in problems]
    return application


def nested_answers(application: Application) -> dict[str, dict[str, Any]]:
    """The stored answers of the shown fields, step by step, as the API takes them."""
    current = services.shown(application)
    return {step.id: {item.id: application.answers[item.id] for item in current.fields[step.id]
                      if item.type is not FieldType.FILE and item.id in application.answers}
            for step in current.steps}


def _set_answer(answers: dict[str, Any], *, step: str, field: str, value: Any) -> None:
    answers[step][field] = value


def _set_postcode(answers: dict[str, Any], *, step: str, field: str, postcode: str) -> None:
    answers[step][field]["postcode"] = postcode


def errors_of(schema: dict[str, Any], answers: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return ["/" + "/".join(map(str, error.absolute_path)) for error in validator.iter_errors(answers)]


@pytest.mark.parametrize("key", SEED_KEYS)
@pytest.mark.parametrize("locale", ["th", "en"])
def test_seed_form_schema_is_valid_and_accepts_a_complete_answer_set(db_session: Session, key: str, locale: str,
                                                                     load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    application = complete_application(db_session, key)
    form = services.compiled(application.permit_version).spec.form
    schema = form_schema(form, locale)
    Draft202012Validator.check_schema(schema)
    answers = nested_answers(application)
    assert errors_of(schema, answers) == []

    first_step = form.steps[0]
    wrong: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda a: a.pop(first_step.id), "/"),
        (lambda a: a[first_step.id].update(unexpected_field=1), f"/{first_step.id}"),
    ]
    for step in form.steps:
        for item in step.fields:
            if step.id not in answers or item.id not in answers[step.id]:
                continue
            where = f"/{step.id}/{item.id}"
            if item.type is FieldType.CHOICE:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="not-an-option"), where))
            elif item.type is FieldType.THAI_ADDRESS:
                postcode = partial(_set_postcode, step=step.id, field=item.id, postcode="1020")
                wrong.append((postcode, where + "/postcode"))
            elif item.type in {FieldType.NUMBER, FieldType.INTEGER, FieldType.AREA_M2, FieldType.MONEY}:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="150"), where))
            elif item.type is FieldType.DATE:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="31/12/2569"), where))
            elif item.type is FieldType.CITIZEN_ID:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="12345"), where))
            elif item.type is FieldType.YES_NO:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="yes"), where))
            elif item.type is FieldType.EMAIL:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value="not an address"), where))
            elif item.type is FieldType.DECLARATION and item.required and item.when is None:
                wrong.append((partial(_set_answer, step=step.id, field=item.id, value=False), where))
    assert len(wrong) > 5
    for change, path in wrong:
        broken = copy.deepcopy(answers)
        change(broken)
        assert path in errors_of(schema, broken), (key, path)


def test_conditions_are_noted_not_enforced() -> None:
    schema = form_schema(form_of("water_meter"), "en")
    applicant = schema["properties"]["applicant"]
    assert applicant["properties"]["citizen_id"]["x-visible-when"] == 'applicant_type == "person"'
    assert applicant["properties"]["citizen_id"]["x-required-when-visible"] is True
    assert "citizen_id" not in applicant["required"] and "applicant_name" in applicant["required"]
    assert applicant["properties"]["applicant_type"]["x-enum-titles"]["person"] == "A natural person"
    assert applicant["properties"]["applicant_name"]["x-prefill"] == "business.name"
