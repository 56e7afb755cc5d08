"""Conditions and fee formulas worded for the public pages."""

from __future__ import annotations

import contextlib

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from bizportal.permits.explain import Explainer, Formula, NotExplainable, amount_range, parse
from bizportal.workflow.spec import FormField

FIELDS = {
    "area_m2": FormField.model_validate({"id": "area_m2", "type": "area_m2",
                                         "label": {"th": "พื้นที่", "en": "Area"}}),
    "kind": FormField.model_validate({"id": "kind", "type": "choice", "label": {"th": "ประเภท", "en": "Kind"},
                                      "options": [{"value": "shop", "label": {"th": "ร้านค้า", "en": "Shop"}},
                                                  {"value": "bar", "label": {"th": "บาร์", "en": "Bar"}}]}),
    "owner": FormField.model_validate({"id": "owner", "type": "yes_no",
                                       "label": {"th": "เป็นเจ้าของ", "en": "Owns the place"}}),
    "modes": FormField.model_validate({"id": "modes", "type": "multi_choice",
                                       "label": {"th": "วิธีขาย", "en": "Sold by"},
                                       "options": [{"value": "delivery",
                                                    "label": {"th": "ส่งถึงบ้าน", "en": "Delivery"}}]}),
    "address": FormField.model_validate({"id": "address", "type": "thai_address",
                                         "label": {"th": "ที่อยู่", "en": "Address"}}),
}


def test_conditions_in_english() -> None:
    explain = Explainer(FIELDS, "en")
    assert explain.condition("area_m2 > 200.0") == "“Area” is more than 200"
    assert explain.condition("200.0 >= area_m2") == "“Area” is at most 200"
    assert explain.condition('kind == "bar"') == "“Kind” is “Bar”"
    assert explain.condition('kind != "bar" && owner') == "“Kind” is not “Bar” and the answer to " \
                                                          "“Owns the place” is “yes”"
    assert explain.condition("!owner || area_m2 < 10.0") == "the answer to “Owns the place” is “no” or " \
                                                             "“Area” is less than 10"
    assert explain.condition('"delivery" in modes') == "“Sold by” includes “Delivery”"
    assert explain.condition('!(address.province_code in ["10", "11"])') == \
        "province code of “Address” is not one of “10”, “11”"
    assert explain.condition("!(area_m2 > 5.0)") == "“Area” is at most 5"
    assert explain.condition("size(modes) > 1") is None
    assert explain.condition("kind.startsWith('b')") is None


def test_conditions_in_thai(app: Flask) -> None:
    with app.test_request_context("/?lang=th"):
        explain = Explainer(FIELDS, "th")
        assert explain.condition("area_m2 > 200.0") == "“พื้นที่” มากกว่า 200"
        assert explain.condition('kind == "shop" && !owner') == \
            "“ประเภท” เป็น “ร้านค้า” และ ตอบ “ไม่ใช่” ในข้อ “เป็นเจ้าของ”"


def test_fee_formulas() -> None:
    explain = Explainer(FIELDS, "en")
    assert explain.formula("330.0") == Formula(text="THB 330")
    nested = explain.formula('kind == "bar" ? (area_m2 > 100.0 ? 2000.0 : 1000.0) : 500.0')
    assert nested is not None
    assert [case.when for case in nested.cases] == ["“Kind” is “Bar”", None]
    assert [case.when for case in nested.cases[0].amount.cases] == ["“Area” is more than 100", None]
    assert nested.cases[1].amount == Formula(text="THB 500")
    assert explain.formula("area_m2 * 2.5") == Formula(text="“Area” × 2.5 baht")
    assert amount_range(parse('kind == "bar" ? 7700.0 : kind == "shop" ? 330.0 : 0.0')) == (0.0, 7700.0)
    assert amount_range(parse("area_m2 * 2.0")) is None


@given(st.text(max_size=80))
def test_any_text_is_explained_or_refused(source: str) -> None:
    with contextlib.suppress(NotExplainable):
        parse(source)
    explain = Explainer(FIELDS, "en")
    assert explain.condition(source) is None or isinstance(explain.condition(source), str)
    assert explain.formula(source) is None or isinstance(explain.formula(source), Formula)
