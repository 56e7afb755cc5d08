"""Business profiles: checked numbers, addresses from the official lists, ownership, and pre-filled answers."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import User
from bizportal.businesses.addresses import codes_of, format_area
from bizportal.businesses.models import ADDRESS_KEYS, Business, BusinessKind
from bizportal.businesses.services import prefill_answers, tax_id_problem

from .factories import make_business, make_user
from .web_forms import csrf_token, log_in

SURAT_THANI = {"province": "84", "district": "8401", "subdistrict": "840101", "postcode": "84000"}
"""Tambon Talat, Amphoe Mueang Surat Thani, Surat Thani 84000."""
BANGKOK = {"province": "10", "district": "1001", "subdistrict": "100101", "postcode": "10200"}
"""Khwaeng Phra Borom Maha Ratchawang, Khet Phra Nakhon, Bangkok 10200."""


def _page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]  # a TestResponse


def _form(**overrides: str) -> dict[str, str]:
    values = {"kind": "individual", "tax_id": "3100600445635", "name_th": "ร้านข้าวแกงป้าศรี",
              "name_en": "Auntie Sri's Curry Rice", "house_no": "12/3", "building": "", "moo": "4",
              "village": "", "soi": "ลาดพร้าว 1", "road": "ลาดพร้าว", **BANGKOK, "phone": "081 234 5678",
              "email": "Shop@Example.com", "save": "save"}
    values.update(overrides)
    return values


def _owner(client: FlaskClient, db_session: Session, email: str = "owner@example.com") -> User:
    user = make_user(db_session, email=email)
    log_in(client, email)
    return user


def _post(client: FlaskClient, path: str, data: dict[str, str]) -> object:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def _count(db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(Business)) or 0


def _options(page: str, select_id: str) -> dict[str, str]:
    found = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found is not None, f"no select {select_id}"
    return {code: name for code, name in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>',
                                                    found.group(1)) if code}


def _selected(page: str, select_id: str) -> str | None:
    found = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found is not None
    chosen = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', found.group(1))
    return (chosen.group(1) or chosen.group(2)) if chosen else None


@pytest.mark.parametrize("citizen_id", ["3100600445635", "1101700230708", "3-1006-00445-63-5"])
def test_an_individual_with_a_valid_citizen_id_is_saved(client: FlaskClient, db_session: Session,
                                                        citizen_id: str) -> None:
    owner = _owner(client, db_session)
    response = _post(client, "/businesses/new", _form(tax_id=citizen_id))
    assert response.status_code == 302  # type: ignore[attr-defined]
    business = db_session.scalar(select(Business).where(Business.owner_id == owner.id))
    assert business is not None
    assert business.kind is BusinessKind.INDIVIDUAL
    assert business.tax_id == citizen_id.replace("-", "")
    assert business.email == "shop@example.com"
    assert business.address == {"house_no": "12/3", "building": "", "moo": "4", "village": "", "soi": "ลาดพร้าว 1",
                                "road": "ลาดพร้าว", "subdistrict": "พระบรมมหาราชวัง", "district": "เขตพระนคร",
                                "province": "กรุงเทพมหานคร", "province_code": "10", "postcode": "10200"}
    page = _page(client.get(response.headers["Location"]))  # type: ignore[attr-defined]
    assert "แขวงพระบรมมหาราชวัง เขตพระนคร กรุงเทพมหานคร 10200" in page
    assert "บันทึกข้อมูลกิจการ ร้านข้าวแกงป้าศรี แล้ว" in page


@pytest.mark.parametrize("kind, number, message", [
    ("individual", "3100600445636", "เลขประจำตัวประชาชนไม่ถูกต้อง"),
    ("individual", "1101700230709", "เลขประจำตัวประชาชนไม่ถูกต้อง"),
    ("individual", "0105536112014", "เลขประจำตัวประชาชนไม่ขึ้นต้นด้วย 0"),
    ("individual", "31006004456", "กรุณากรอกเลข 13 หลัก"),
    ("juristic", "0105536112015", "เลขทะเบียนนิติบุคคลไม่ถูกต้อง"),
    ("juristic", "3100600445635", "เลขทะเบียนนิติบุคคลขึ้นต้นด้วย 0"),
    ("juristic", "abcdefghijklm", "กรุณากรอกเลข 13 หลัก"),
])
def test_a_wrong_number_is_refused_with_the_reason(client: FlaskClient, db_session: Session, kind: str,
                                                   number: str, message: str) -> None:
    _owner(client, db_session)
    response = _post(client, "/businesses/new", _form(kind=kind, tax_id=number))
    page = _page(response)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert page.count(message) == 2  # in the summary at the top and next to the field
    assert '<a href="#tax_id">' in page
    assert 'aria-invalid="true"' in page
    assert 'value="ร้านข้าวแกงป้าศรี"' in page  # nothing typed is lost
    assert _count(db_session) == 0


def test_a_juristic_person_with_a_valid_registration_number_is_saved(client: FlaskClient,
                                                                    db_session: Session) -> None:
    _owner(client, db_session)
    response = _post(client, "/businesses/new", _form(kind="juristic", tax_id="0105536112014",
                                                      name_th="บริษัท ตัวอย่าง จำกัด", **SURAT_THANI))
    assert response.status_code == 302  # type: ignore[attr-defined]
    business = db_session.scalar(select(Business))
    assert business is not None and business.kind is BusinessKind.JURISTIC
    assert business.address["subdistrict"] == "ตลาด"
    assert business.address["district"] == "เมืองสุราษฎร์ธานี"
    assert business.address["province"] == "สุราษฎร์ธานี"
    assert format_area(business.address, "th") == "ตำบลตลาด อำเภอเมืองสุราษฎร์ธานี จังหวัดสุราษฎร์ธานี 84000"
    assert format_area(business.address, "en") == "Talat, Mueang Surat Thani, Surat Thani 84000"


def test_without_javascript_the_address_lists_fill_in_one_by_one(client: FlaskClient, db_session: Session) -> None:
    _owner(client, db_session)
    blank = _page(client.get("/businesses/new"))
    assert _options(blank, "province")["10"] == "กรุงเทพมหานคร"
    assert len(_options(blank, "province")) == 77
    assert _options(blank, "district") == {}

    step = _form(province="84", district="", subdistrict="", postcode="", update_lists="update")
    del step["save"]
    page = _page(_post(client, "/businesses/new", step))
    assert "กรุณาแก้ไข" not in page  # updating the lists is not a failed save
    assert _options(page, "district")["8401"] == "เมืองสุราษฎร์ธานี"
    assert _options(page, "subdistrict") == {}
    assert _count(db_session) == 0

    page = _page(_post(client, "/businesses/new", {**step, "district": "8401"}))
    assert _options(page, "subdistrict")["840101"] == "ตลาด"
    page = _page(_post(client, "/businesses/new", {**step, "district": "8401", "subdistrict": "840101"}))
    assert _options(page, "postcode") == {"84000": "84000"}
    assert _selected(page, "postcode") == "84000"  # the only postcode is chosen for the user

    page = _page(_post(client, "/businesses/new", {**step, "district": "1002", "subdistrict": "100203"}))
    assert _options(page, "district")["8401"] == "เมืองสุราษฎร์ธานี"  # a district of another province is dropped
    assert _selected(page, "district") is None and _options(page, "subdistrict") == {}


def test_a_subdistrict_with_two_postcodes_needs_a_choice(client: FlaskClient, db_session: Session) -> None:
    _owner(client, db_session)
    chosen = {"province": "10", "district": "1002", "subdistrict": "100203"}
    page = _page(_post(client, "/businesses/new", _form(**chosen, postcode="")))
    assert _options(page, "postcode") == {"10300": "10300", "10303": "10303"}
    assert "โปรดเลือกรหัสไปรษณีย์ของตำบลหรือแขวงที่เลือก" in page
    assert _post(client, "/businesses/new", _form(**chosen, postcode="10303")).status_code == 302  # type: ignore[attr-defined]
    business = db_session.scalar(select(Business))
    assert business is not None and business.address["subdistrict"] == "สวนจิตรลดา"
    assert business.address["postcode"] == "10303"


@pytest.mark.parametrize("area, field, message", [
    ({"province": ""}, "province", "โปรดเลือกจังหวัด"),
    ({"province": "99"}, "province", "โปรดเลือกจังหวัด"),
    ({"district": "8401"}, "district", "โปรดเลือกอำเภอหรือเขตในจังหวัดที่เลือก"),
    ({"subdistrict": "840101"}, "subdistrict", "โปรดเลือกตำบลหรือแขวงในอำเภอหรือเขตที่เลือก"),
    ({"postcode": "84000"}, "postcode", "โปรดเลือกรหัสไปรษณีย์ของตำบลหรือแขวงที่เลือก"),
    ({"subdistrict": "1001011; DROP TABLE businesses"}, "subdistrict", "โปรดเลือกตำบลหรือแขวง"),
])
def test_an_address_that_is_not_in_the_official_lists_is_refused(client: FlaskClient, db_session: Session,
                                                                  area: dict[str, str], field: str,
                                                                  message: str) -> None:
    _owner(client, db_session)
    response = _post(client, "/businesses/new", _form(**area))
    page = _page(response)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert f'<a href="#{field}">{message}' in page
    assert _count(db_session) == 0


def test_missing_and_odd_answers_are_all_reported_and_never_crash(client: FlaskClient, db_session: Session) -> None:
    _owner(client, db_session)
    page = _page(_post(client, "/businesses/new", {"save": "save"}))
    for field in ("tax_id", "name_th", "house_no", "province", "phone"):
        assert f'<a href="#{field}">' in page
    odd = _form(kind="sole trader", tax_id="๓๑๐๐๖๐๐๔๔๕๖๓๕", name_th="ก" * 5000, house_no="\x00", phone="call me",
                email="not an address", province="<script>", district="../..", moo="x" * 500)
    response = _post(client, "/businesses/new", odd)
    assert response.status_code == 200  # type: ignore[attr-defined]
    page = _page(response)
    assert "<script>" not in page.split("<main", 1)[1].split("</main>")[0]
    for field in ("name_th", "road", "name_en"):  # PostgreSQL refuses NUL in text: a message, not a 500
        response = _post(client, "/businesses/new", _form(**{field: "ร้าน\x00ค้า"}))
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert f'<a href="#{field}">กรุณาลบอักขระพิเศษออกจากข้อมูลนี้' in _page(response)
    assert _count(db_session) == 0


def test_another_users_business_is_not_found(client: FlaskClient, db_session: Session) -> None:
    stranger = make_user(db_session, email="stranger@example.com")
    theirs = make_business(db_session, owner=stranger, name_th="กิจการของคนอื่น")
    mine = make_business(db_session, owner=_owner(client, db_session), name_th="กิจการของฉัน")
    assert client.get(f"/businesses/{mine.id}").status_code == 200
    for path in (f"/businesses/{theirs.id}", f"/businesses/{theirs.id}/edit", "/businesses/999999"):
        response = client.get(path)
        assert response.status_code == 404
        assert "กิจการของคนอื่น" not in _page(response)
    token = csrf_token(client, "/businesses/new")
    changed = client.post(f"/businesses/{theirs.id}/edit", data={**_form(name_th="ยึดมาแล้ว"), "csrf_token": token})
    assert changed.status_code == 404
    db_session.refresh(theirs)
    assert theirs.name_th == "กิจการของคนอื่น"
    listing = _page(client.get("/businesses/"))
    assert "กิจการของฉัน" in listing and "กิจการของคนอื่น" not in listing


def test_editing_shows_the_stored_choices_and_saves_changes(client: FlaskClient, db_session: Session) -> None:
    business = make_business(db_session, owner=_owner(client, db_session), kind="juristic", **{
        "province_code": "84", "district_code": "8401", "subdistrict_code": "840101", "postcode": "84000"})
    page = _page(client.get(f"/businesses/{business.id}/edit"))
    assert _selected(page, "province") == "84"
    assert _selected(page, "district") == "8401"
    assert _selected(page, "subdistrict") == "840101"
    assert _selected(page, "postcode") == "84000"
    assert 'value="0105536112014"' in page
    response = _post(client, f"/businesses/{business.id}/edit",
                     _form(kind="juristic", tax_id="0105536112014", name_th="ชื่อใหม่", **BANGKOK))
    assert response.status_code == 302  # type: ignore[attr-defined]
    db_session.refresh(business)
    assert business.name_th == "ชื่อใหม่"
    assert business.address["district"] == "เขตพระนคร"
    assert codes_of(business.address).subdistrict == "100101"


def test_the_address_lists_as_json_for_the_script(client: FlaskClient) -> None:
    districts = client.get("/businesses/places?province=10").get_json()
    assert {"code": "1001", "name": "เขตพระนคร"} in districts
    assert len(districts) == 50
    english = client.get("/businesses/places?province=10&lang=en").get_json()
    assert {"code": "1001", "name": "Phra Nakhon"} in english
    assert {"code": "840101", "name": "ตลาด"} in client.get("/businesses/places?district=8401&lang=th").get_json()
    assert client.get("/businesses/places?subdistrict=100203").get_json() == [
        {"code": "10300", "name": "10300"}, {"code": "10303", "name": "10303"}]
    assert client.get("/businesses/places?province=nonsense").get_json() == []
    assert client.get("/businesses/places").get_json() == []


def test_pages_need_an_entrepreneur(client: FlaskClient) -> None:
    response = client.get("/businesses/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login?next=")


def test_prefill_gives_each_key_for_the_kind_of_business(db_session: Session) -> None:
    owner = make_user(db_session)
    person = make_business(db_session, owner=owner, name_th="นายสมชาย ใจดี", email="")
    answers = prefill_answers(person)
    assert answers["business.name"] == "นายสมชาย ใจดี"
    assert answers["business.citizen_id"] == "3100600445635"
    assert answers["business.tax_id"] == ""
    assert answers["business.phone"] == "0812345678"
    assert answers["business.email"] == ""
    assert set(answers["business.address"]) == set(ADDRESS_KEYS)
    assert answers["business.address"]["postcode"] == "10200"
    assert answers["business.address"]["district"] == "เขตพระนคร"

    company = make_business(db_session, owner=owner, kind="juristic", name_th="บริษัท ตัวอย่าง จำกัด")
    answers = prefill_answers(company)
    assert answers["business.tax_id"] == "0105536112014"
    assert answers["business.citizen_id"] == ""
    assert answers["business.email"] == "shop@example.com"
    assert set(answers) == {"business.name", "business.address", "business.phone", "business.email",
                            "business.tax_id", "business.citizen_id"}


def test_tax_id_rules() -> None:
    assert tax_id_problem("individual", "3100600445635") is None
    assert tax_id_problem("individual", "1101700230708") is None
    assert tax_id_problem("juristic", "0105536112014") is None
    assert tax_id_problem("juristic", "0 10 5 536 11201 4") is None
    assert tax_id_problem("individual", "3100600445636") is not None
    assert tax_id_problem("juristic", "0105536112015") is not None


def test_an_id_beyond_the_database_range_is_not_found(client: FlaskClient, db_session: Session) -> None:
    _owner(client, db_session)
    for path in ("/businesses/99999999999999999999", "/businesses/2147483648/edit"):
        assert client.get(path).status_code == 404
