"""Reading answers and showing the right questions: pure functions, no database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from bizportal.applications.answers import ListData, input_of, parse_field, prefilled, read_fields
from bizportal.applications.visibility import FormRules
from bizportal.config import BIZPORTAL_ROOT
from bizportal.workflow.spec import FieldType, FormField, PermitSpec

from .factories import validate

BANGKOK = {"house_no": "99/1", "road": "ราชดำเนินใน", "subdistrict": "พระบรมมหาราชวัง", "district": "เขตพระนคร",
           "province_code": "10", "postcode": "10200"}


@pytest.fixture(scope="module")
def seeds() -> dict[str, PermitSpec]:
    result = validate(BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
    assert result.ok
    return dict(result.specs)


@pytest.fixture(autouse=True)
def thai_request(app: Flask) -> Iterator[None]:
    with app.test_request_context("/?lang=en"):
        yield


def make_field(kind: str, **extra: Any) -> FormField:
    return FormField.model_validate({"id": "answer", "type": kind, "label": {"th": "คำตอบ", "en": "Answer"},
                                     **extra})


def parse(item: FormField, value: Any) -> tuple[Any, str | None]:
    raw: dict[str, list[str]] = {"answer": []}
    if isinstance(value, dict):
        raw = {f"answer.{key}": [str(part)] for key, part in value.items()}
    elif isinstance(value, list):
        raw = {"answer": value}
    elif value is not None:
        raw = {"answer": [value]}
    parsed = parse_field(item, raw)
    return parsed.value, (str(parsed.error) if parsed.error is not None else None)


# --------------------------------------------------------------------------- per type

def test_text_limits_and_pattern() -> None:
    item = make_field("text", required=True, min_length=2, max_length=5, pattern="^[0-9]+$")
    assert parse(item, "  123 ") == ("123", None)
    assert parse(item, "๑๒๓") == ("123", None)  # Thai digits fit a digit pattern
    assert parse(item, "")[1] == "Enter an answer."
    assert parse(item, "1")[1] == "Use at least 2 characters."
    assert parse(item, "123456")[1] == "Use at most 5 characters (you used 6)."
    assert parse(item, "12a")[1] == "This answer is not in the expected form. Read the help above."
    assert parse(item, "1\x002")[1] == "Remove the special characters from this answer."
    assert parse(make_field("text"), "") == (None, None)
    assert parse(make_field("text"), "x" * 1001)[1] is not None  # a default cap without max_length
    assert parse(make_field("textarea"), "line 1\r\nline 2") == ("line 1\nline 2", None)


@pytest.mark.parametrize(("typed", "value"), [
    ("1,250.5", 1250.5), ("๑,๒๕๐.๕", 1250.5), ("1250", 1250.0), (" 12 000 ", 12000.0), ("0.25", 0.25)])
def test_numbers_accept_thai_digits_and_separators(typed: str, value: float) -> None:
    assert parse(make_field("area_m2"), typed) == (value, None)


@pytest.mark.parametrize("typed", ["12,34", "1.2.3", "abc", "1e5", "nan", "inf", "--1"])
def test_numbers_refuse_what_is_not_a_number(typed: str) -> None:
    assert parse(make_field("number"), typed)[1] == "Enter a number, like 1,250.5."


def test_number_bounds_integer_and_money() -> None:
    area = make_field("area_m2", min=1, max=1000000)
    assert parse(area, "0")[1] == "Enter a number of at least 1."
    assert parse(area, "1,000,001")[1] == "Enter a number of at most 1,000,000."
    assert parse(make_field("integer"), "๑๒") == (12, None)
    assert parse(make_field("integer"), "1.5")[1] == "Enter a whole number, like 12."
    assert parse(make_field("money"), "99.999")[1] == "Enter an amount in baht with at most two decimals (satang)."
    assert parse(make_field("money"), "1,234.50") == (1234.5, None)
    assert parse(make_field("number", required=True), "")[1] == "Enter a number."


def test_dates_take_buddhist_era_years() -> None:
    item = make_field("date", required=True)
    assert parse(item, {"day": "1", "month": "12", "year": "2569"}) == ("2026-12-01", None)
    assert parse(item, {"day": "๑", "month": "12", "year": "๒๕๖๙"}) == ("2026-12-01", None)
    assert parse(item, {"day": "1", "month": "12", "year": "2026"}) == ("2026-12-01", None)
    assert parse(item, "2026-12-01") == ("2026-12-01", None)
    assert parse(item, "1/12/2569") == ("2026-12-01", None)
    assert parse(item, {"day": "31", "month": "2", "year": "2569"})[1] == "Enter a real date."
    assert parse(item, {"day": "1", "month": "2", "year": "69"})[1] == \
        "Enter the year in full, like 2569 (B.E.) or 2026."
    assert parse(item, {"day": "x", "month": "2", "year": "2569"})[1] == \
        "Enter the day, the month and the year, in numbers."
    assert parse(item, {"day": "", "month": "", "year": ""})[1] == "Enter a date."
    assert parse(item, "tomorrow")[1] == "Enter the date as day, month and year, like 31/12/2569."


def test_a_stored_date_shows_the_buddhist_year_in_thai() -> None:
    item = make_field("date")
    assert input_of(item, "2026-12-01", "th")["answer.year"] == ["2569"]
    assert input_of(item, "2026-12-01", "en")["answer.year"] == ["2026"]


def test_choices() -> None:
    options = [{"value": "a", "label": {"th": "ก", "en": "A"}}, {"value": "b", "label": {"th": "ข", "en": "B"}}]
    choice = make_field("choice", options=options, required=True)
    assert parse(choice, "b") == ("b", None)
    assert parse(choice, "z")[1] == "Choose one of the options shown."
    assert parse(choice, "")[1] == "Choose an option."
    many = make_field("multi_choice", options=options, required=True)
    assert parse(many, ["b", "a", "a"]) == (["a", "b"], None)
    assert parse(many, ["a", "evil"])[1] == "Choose among the options shown."
    assert parse(many, [])[1] == "Choose at least one option."


def test_yes_no_and_declaration() -> None:
    assert parse(make_field("yes_no"), "yes") == (True, None)
    assert parse(make_field("yes_no"), "no") == (False, None)
    assert parse(make_field("yes_no"), "") == (None, None)
    assert parse(make_field("yes_no", required=True), "")[1] == "Choose yes or no."
    assert parse(make_field("yes_no"), "maybe")[1] == "Choose yes or no."
    declaration = make_field("declaration", required=True)
    assert parse(declaration, "yes") == (True, None)
    assert parse(declaration, None)[1] == "Tick the box to confirm this statement."
    assert parse(make_field("declaration"), None) == (False, None)


def test_citizen_and_juristic_ids_are_checked() -> None:
    citizen = make_field("citizen_id", required=True)
    assert parse(citizen, "3-1006-00445-63-5") == ("3100600445635", None)
    assert parse(citizen, "๓๑๐๐๖๐๐๔๔๕๖๓๕") == ("3100600445635", None)
    assert parse(citizen, "3100600445636")[1] == \
        "This number is not valid: check the digits (the last one is a check digit)."
    assert parse(citizen, "12345")[1] == "Enter 13 digits."
    assert parse(citizen, "0105536112014")[1] == "A national ID number does not start with 0 or 9."
    juristic = make_field("juristic_id")
    assert parse(juristic, "0-10-5-536-11201-4") == ("0105536112014", None)
    assert parse(juristic, "3100600445635")[1] == "A juristic-person registration number starts with 0."
    assert parse(juristic, "0105536112015")[1] == \
        "This number is not valid: check the digits (the last one is a check digit)."


@pytest.mark.parametrize(("typed", "stored"), [
    ("081 234 5678", "0812345678"), ("+66 81 234 5678", "0812345678"), ("02-123-4567", "021234567"),
    ("๐๘๑๒๓๔๕๖๗๘", "0812345678")])
def test_thai_phone_numbers(typed: str, stored: str) -> None:
    assert parse(make_field("phone"), typed) == (stored, None)


@pytest.mark.parametrize("typed", ["12345", "0112345678", "+1 202 555 0100", "08123456789"])
def test_phone_numbers_that_are_not_thai(typed: str) -> None:
    assert parse(make_field("phone"), typed)[1] == "Enter a Thai phone number, like 081 234 5678 or 02 123 4567."


def test_email() -> None:
    assert parse(make_field("email"), "Shop@Example.COM") == ("Shop@example.com", None)
    for bad in ("shop", "shop@", "shop@example", "a b@example.com", "x" * 250 + "@example.com"):
        assert parse(make_field("email"), bad)[1] == "Enter an e-mail address like name@example.com."


def test_thai_address_is_checked_against_the_official_lists() -> None:
    item = make_field("thai_address", required=True)
    value, error = parse(item, {**BANGKOK, "district": "พระนคร", "subdistrict": "แขวงพระบรมมหาราชวัง"})
    assert error is None
    assert value["province"] == "กรุงเทพมหานคร" and value["province_code"] == "10"
    assert value["district"] == "เขตพระนคร" and value["subdistrict"] == "พระบรมมหาราชวัง"
    english, error = parse(item, {**BANGKOK, "district": "Phra Nakhon", "subdistrict": "Phra Borom Maha Ratchawang"})
    assert error is None and english["district"] == "เขตพระนคร"
    assert parse(item, {**BANGKOK, "province_code": "99"})[1] == "Choose the province from the list."
    assert parse(item, {**BANGKOK, "district": "บางรัก๙"})[1] == \
        "The district was not found in กรุงเทพมหานคร. Check its spelling."
    assert parse(item, {**BANGKOK, "subdistrict": "ไม่มี"})[1] == \
        "The subdistrict was not found in เขตพระนคร. Check its spelling."
    assert parse(item, {**BANGKOK, "postcode": "10500"})[1] == "The postcode of พระบรมมหาราชวัง is 10200."
    assert parse(item, {**BANGKOK, "house_no": ""})[1] == \
        "Enter the house number, subdistrict, district, province and postcode."
    assert parse(item, {})[1] == "Enter the address."
    assert parse(make_field("thai_address"), {}) == (None, None)


def test_read_fields_collects_every_error_and_keeps_the_raw_input(seeds: dict[str, PermitSpec]) -> None:
    step = seeds["food_premises"].form.steps[0]
    data = ListData({"applicant_type": "person", "citizen_id": "1234", "applicant_name": "ร้านป้าแดง",
                     "phone": "hello", "filed_by_agent": "no"})
    result = read_fields(step.fields, data)
    assert set(result.errors) == {"citizen_id", "juristic_id", "applicant_address", "phone"}
    assert result.raw["citizen_id"] == {"citizen_id": ["1234"]}
    assert result.values["applicant_type"] == "person" and result.values["filed_by_agent"] is False


def test_prefill_takes_only_values_that_fit(seeds: dict[str, PermitSpec]) -> None:
    profile = {"business.name": "ร้านป้าแดง", "business.address": {**BANGKOK, "province": "กรุงเทพมหานคร"},
               "business.phone": "0812345678", "business.email": "bad", "business.tax_id": "",
               "business.citizen_id": "3100600445635"}
    answers = prefilled(seeds["food_premises"].fields().values(), profile)
    assert answers["applicant_name"] == "ร้านป้าแดง" and answers["citizen_id"] == "3100600445635"
    assert answers["applicant_address"]["district"] == "เขตพระนคร"
    assert "email" not in answers and "juristic_id" not in answers


# --------------------------------------------------------------------------- conditions per seed permit

def shown_ids(spec: PermitSpec, answers: dict[str, Any], attached: tuple[str, ...] = ()) -> tuple[set[str], ...]:
    shown = FormRules(spec).shown(answers, attached)
    return set(shown.step_ids()), shown.field_ids(), {document.id for document in shown.uploads}


def test_food_premises_conditions(seeds: dict[str, PermitSpec]) -> None:
    spec = seeds["food_premises"]
    steps, fields, uploads = shown_ids(spec, {"applicant_type": "person", "area_m2": 150.0, "owns_premises": True,
                                              "premises_kind": "storage"})
    assert "representative" not in steps
    assert "citizen_id" in fields and "juristic_id" not in fields and "service_modes" not in fields
    assert "building_permit_file" not in fields and "lease_file" not in fields
    assert uploads == {"site_map"}
    steps, fields, uploads = shown_ids(spec, {"applicant_type": "juristic", "area_m2": 350.0, "owns_premises": False,
                                              "premises_kind": "sale", "filed_by_agent": True,
                                              "handlers_trained": True})
    assert "representative" in steps
    assert {"juristic_id", "service_modes", "building_permit_file", "lease_file", "power_of_attorney_file",
            "training_certificate_file"} <= fields
    assert uploads == {"site_map", "lease_or_consent", "power_of_attorney", "food_safety_training",
                       "building_use_permit"}


def test_hidden_answers_read_as_unanswered(seeds: dict[str, PermitSpec]) -> None:
    spec = seeds["food_premises"]
    # a company's representative answered, then the applicant became a person: the answer no longer counts
    shown = FormRules(spec).shown({"applicant_type": "person", "representative_name": "นาย ก"})
    assert "representative_name" not in shown.answers


def test_file_fields_read_as_attached(seeds: dict[str, PermitSpec]) -> None:
    spec = seeds["food_premises"]
    rules = FormRules(spec)
    assert rules.shown({}, ()).answers["site_map_file"] is False
    assert rules.shown({}, ("site_map",)).answers["site_map_file"] is True


def test_water_meter_conditions(seeds: dict[str, PermitSpec]) -> None:
    spec = seeds["water_meter"]
    bangkok = {"province_code": "10"}
    steps, fields, uploads = shown_ids(spec, {"premises_address": bangkok, "occupancy": "tenant",
                                              "install_type": "permanent", "applicant_type": "person"})
    assert "pwa_details" not in steps and "temporary_until" not in fields
    assert uploads == {"lease_or_purchase"}
    steps, fields, uploads = shown_ids(spec, {"premises_address": {"province_code": "50"}, "occupancy": "tenant",
                                              "install_type": "temporary", "applicant_type": "juristic"})
    assert "pwa_details" in steps and {"temporary_until", "branch_no", "owner_consent_file"} <= fields
    assert uploads == {"lease_or_purchase", "owner_consent"}


def test_liquor_sales_conditions(seeds: dict[str, PermitSpec]) -> None:
    spec = seeds["liquor_sales"]
    steps, fields, _ = shown_ids(spec, {"licence_types": ["type2"], "vat_registered": False})
    assert "eligibility_type2" in steps and "eligibility_type1" not in steps and "vat_number" not in fields
    steps, fields, _ = shown_ids(spec, {"licence_types": ["type1", "type2"], "vat_registered": True})
    assert {"eligibility_type1", "eligibility_type2"} <= steps and "vat_number" in fields


def test_every_seed_field_type_can_be_shown_again(seeds: dict[str, PermitSpec]) -> None:
    samples: dict[FieldType, Any] = {FieldType.DATE: "2026-12-01", FieldType.AREA_M2: 150.5,
                                     FieldType.INTEGER: 3, FieldType.YES_NO: True,
                                     FieldType.THAI_ADDRESS: {**BANGKOK, "province": "กรุงเทพมหานคร"}}
    for spec in seeds.values():
        for item in spec.fields().values():
            if item.type in samples:
                assert parse_field(item, input_of(item, samples[item.type], "th")).value == samples[item.type] \
                    or item.type is FieldType.THAI_ADDRESS
