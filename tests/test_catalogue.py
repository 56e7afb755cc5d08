"""The public catalogue and permit pages, in Thai first and in English."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.permits.models import PermitType
from bizportal.permits.services import LoadReport

from .factories import FIXTURE_TREE, SEED_KEYS, load, validate

KEY = "fixture_signboard"


def page_text(html: str) -> str:
    """The visible text of a page, one space between words."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    for entity, character in (("&#34;", '"'), ("&#39;", "'"), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&"),
                              ("&quot;", '"')):
        text = text.replace(entity, character)
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture
def fixture_permit(db_session: Session) -> LoadReport:
    return load(db_session, FIXTURE_TREE / "workflows", FIXTURE_TREE / "forms")


def test_catalogue_lists_the_seed_permits_in_thai(client: FlaskClient,
                                                  load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    seeds = validate(BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(html)
    assert '<html lang="th">' in html
    assert "ใบอนุญาตประกอบธุรกิจ" in text
    for key in SEED_KEYS:
        permit = seeds.specs[key].permit
        assert f'href="/permits/{key}"' in html
        assert permit.title.th in text
        assert permit.title.en not in text
        assert seeds.agencies[permit.issuing_agency].name.th in text
        assert f"{permit.time_limit_days} วันทำการ" in text
    assert "อาหารและร้านอาหาร" in text
    assert "สุราและยาสูบ" in text
    assert "บาท" in text
    assert 'href="/?lang=en"' in html


def test_catalogue_in_english(client: FlaskClient, load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    seeds = validate(BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
    html = client.get("/?lang=en").get_data(as_text=True)
    text = page_text(html)
    assert '<html lang="en">' in html
    assert "Permits and licences" in text
    for key in SEED_KEYS:
        permit = seeds.specs[key].permit
        assert permit.title.en in text
        assert seeds.agencies[permit.issuing_agency].name.en in text
        assert f"{permit.time_limit_days} working day" in text
    assert "Food and restaurants" in text
    assert "THB " in text
    assert 'href="/?lang=th"' in html


def test_empty_catalogue_says_so(client: FlaskClient) -> None:
    assert "ยังไม่มีการเผยแพร่ใบอนุญาต" in page_text(client.get("/").get_data(as_text=True))


def test_permit_page_in_thai(client: FlaskClient, fixture_permit: LoadReport) -> None:
    response = client.get(f"/permits/{KEY}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(html)
    assert "<h1>ขออนุญาตติดตั้งป้ายทดสอบ</h1>" in html
    assert "ใบอนุญาตสมมุติสำหรับการทดสอบ" in text
    # who issues it, legal basis
    assert "หน่วยงานที่ออกใบอนุญาต เทศบาลตำบลทดสอบ" in text
    assert 'href="https://law.example.org/fixture-act"' in html
    assert "มาตรา 3, 4" in text
    # the route: stages with agencies and time limits, the parallel block, conditions
    assert "ตรวจรับคำขอ เทศบาลตำบลทดสอบ ภายใน 3 วันทำการ" in text
    assert "หน่วยงานเหล่านี้พิจารณาพร้อมกัน" in text
    assert "ตรวจโครงสร้างป้าย กองช่าง เทศบาลตำบลทดสอบ ภายใน 7 วันทำการ" in text
    assert "เฉพาะเมื่อ “พื้นที่ป้าย (ตารางเมตร)” มากกว่า 50 เงื่อนไข: sign_area_m2 > 50.0" in text
    assert "เฉพาะเมื่อ ตอบ “ใช่” ในข้อ “ป้ายมีไฟส่องสว่าง”" in text
    assert text.index("ตรวจรับคำขอ") < text.index("ตรวจโครงสร้างป้าย") < text.index("การอนุญาต")
    # one of two routes, by the answers
    assert "ใช้เพียงเส้นทางเดียว ขึ้นอยู่กับข้อมูลที่ท่านกรอก" in text
    assert ("ป้ายขนาดใหญ่ เฉพาะเมื่อ “พื้นที่ป้าย (ตารางเมตร)” มากกว่า 50 เงื่อนไข: sign_area_m2 > 50.0 "
            "นายกเทศมนตรีพิจารณาอนุญาต เทศบาลตำบลทดสอบ ภายใน 2 วันทำการ") in text
    assert "ป้ายทั่วไป ในกรณีอื่นทั้งหมด พิจารณาอนุญาต เทศบาลตำบลทดสอบ ภายใน 2 วันทำการ" in text
    # documents with conditions
    assert "สำเนาบัตรประจำตัวประชาชน จำเป็น เฉพาะเมื่อ “ประเภทผู้ขอ” เป็น “บุคคลธรรมดา”" in text
    assert "หนังสือยินยอมของเจ้าของอาคาร ไม่บังคับ" in text
    assert "ชนิดไฟล์: PDF ขนาดไม่เกิน 20 MB" in text
    # fees: label, formula explained, when, source
    assert "ค่าธรรมเนียมใบอนุญาตป้าย" in text
    assert "ถ้า “พื้นที่ป้าย (ตารางเมตร)” มากกว่า 50: 500 บาท" in text
    assert "กรณีอื่น: 200 บาท" in text
    assert "ค่าตรวจระบบไฟฟ้า เฉพาะเมื่อ ตอบ “ใช่” ในข้อ “ป้ายมีไฟส่องสว่าง”" in text
    assert "ชำระเมื่อยื่นคำขอ" in text
    assert "ที่มา: Fixture Act s. 3" in text
    # the published time limit and the form
    assert "หน่วยงานต้องพิจารณาให้แล้วเสร็จภายใน 15 วันทำการ" in text
    assert "แบบคำขอออนไลน์มี 3 ขั้นตอน" in text
    assert "ป้ายขนาดใหญ่" in text
    assert "มีอายุ 1 ปี นับจากวันที่ออก" in text
    # the version, with a Buddhist-Era date
    assert "หลักเกณฑ์ฉบับที่ 1 ประกาศเมื่อ 24 พฤศจิกายน 2569" in text
    assert f'href="/permits/{KEY}?lang=en"' in html


def test_permit_page_in_english(client: FlaskClient, fixture_permit: LoadReport) -> None:
    html = client.get(f"/permits/{KEY}?lang=en").get_data(as_text=True)
    text = page_text(html)
    assert '<html lang="en">' in html
    assert "<h1>Fixture signboard permit</h1>" in html
    assert "Check the application Fixture Town Municipality within 3 working days" in text
    assert "Only when “Sign area (m²)” is more than 50" in text
    assert "Only when the answer to “The sign is lit” is “yes”" in text
    assert "Only one of these routes applies, depending on your answers." in text
    assert "Other signs In all other cases Decision Fixture Town Municipality within 2 working days" in text
    assert "Copy of the ID card Required Only when “Applicant is” is “A person”" in text
    assert "If “Sign area (m²)” is more than 50: THB 500" in text
    assert "Otherwise: THB 200" in text
    assert "The agencies must decide within 15 working days of receiving a complete application." in text
    assert "Rules version 1, published 24 November 2026." in text


def test_seed_permit_pages(client: FlaskClient, load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    specs = validate(BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms").specs
    for key in SEED_KEYS:
        permit = specs[key].permit
        text = page_text(client.get(f"/permits/{key}").get_data(as_text=True))
        assert permit.title.th in text
        assert f"ภายใน {permit.time_limit_days} วันทำการ" in text
        for fee in permit.fees:
            assert fee.label.th in text
        for document in specs[key].form.documents:
            assert document.title.th in text
    food = page_text(client.get("/permits/food_premises").get_data(as_text=True))
    assert "หน่วยงานเหล่านี้พิจารณาพร้อมกัน" in food
    assert "เฉพาะเมื่อ “พื้นที่ประกอบการ (ตารางเมตร)” มากกว่า 200" in food


def test_unknown_permit_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/permits/no_such_permit")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    text = page_text(html)
    assert '<html lang="th">' in html
    assert "ไม่พบหน้าที่ต้องการ" in text
    assert "ไม่พบใบอนุญาต “no_such_permit”" in text
    assert "กลับไปที่รายการใบอนุญาต" in text
    assert 'href="/permits/no_such_permit?lang=en"' in html
    assert "Traceback" not in html

    english = client.get("/permits/no_such_permit?lang=en")
    assert english.status_code == 404
    assert "There is no permit type “no_such_permit”." in page_text(english.get_data(as_text=True))

    nowhere = client.get("/no/such/page?lang=en")
    assert nowhere.status_code == 404
    assert "We could not find this page." in page_text(nowhere.get_data(as_text=True))


def test_withdrawn_permit_is_hidden(client: FlaskClient, db_session: Session,
                                    fixture_permit: LoadReport) -> None:
    assert f'href="/permits/{KEY}"' in client.get("/").get_data(as_text=True)
    with unit_of_work(db_session):
        permit_type = db_session.scalars(select(PermitType).where(PermitType.key == KEY)).one()
        permit_type.withdrawn = True
    assert f'href="/permits/{KEY}"' not in client.get("/").get_data(as_text=True)
    assert client.get(f"/permits/{KEY}").status_code == 404


def test_stylesheet_is_served_locally(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'href="/static/css/bizportal.css"' in html
    assert "//cdn" not in html and "https://fonts." not in html
    response = client.get("/static/css/bizportal.css")
    assert response.status_code == 200
    assert "font-family" in response.get_data(as_text=True)
    response.close()


def test_an_unsafe_link_never_reaches_the_public_page(fixture_tree: Path) -> None:
    tree = fixture_tree
    permit_file = tree / "workflows" / f"{KEY}.yaml"
    permit_file.write_text(permit_file.read_text(encoding="utf-8").replace(
        "https://law.example.org/fixture-act", "javascript:alert(1)"), encoding="utf-8")
    result = validate(tree / "workflows", tree / "forms")
    assert KEY not in result.specs
    assert any("url" in problem.message and problem.file.endswith(f"{KEY}.yaml") for problem in result.problems)
