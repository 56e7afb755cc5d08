"""An entrepreneur's whole journey in a real Chromium, once in Thai and once in English.

Register, add a business, apply for the food-premises licence with a document,
save a draft, log out, log back in, finish, submit, and see the application
with its expected decision date. Screenshots of the main pages are kept in
`test-artifacts/screenshots/`.
"""

from __future__ import annotations

import datetime as dt
import gc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bizportal.config import BIZPORTAL_ROOT
from bizportal.extensions import db
from bizportal.i18n import format_date
from bizportal.workflow.calendar import WorkingCalendar, local_date

from .application_pages import PDF
from .browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, served
from .factories import load, migrated_app

SCREENSHOTS = BIZPORTAL_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app, with the seed permits committed, served on a free local port in a background thread."""
    with migrated_app(tmp_path_factory.mktemp("journey")) as app:
        with app.app_context():
            load(db.session(), BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
        with served(app) as url:
            yield url


def shot(page: Any, locale: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{locale}-{name}.png"), full_page=True)


def next_button(page: Any) -> Any:
    return page.locator('button[name="action"][value="next"]')


@pytest.mark.parametrize("locale", ["th", "en"])
def test_apply_for_food_premises_licence(live_server: str, tmp_path: Path, locale: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    email = f"journey-{locale}-{uuid.uuid4().hex[:8]}@example.com"
    site_map = tmp_path / "site-map.pdf"
    site_map.write_bytes(PDF)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{live_server}/?lang={locale}")
            expect(page.locator("html")).to_have_attribute("lang", locale)

            # register
            page.goto(f"{live_server}/accounts/register")
            page.fill('input[name="name"]', "สมหญิง ใจดี")
            page.fill('input[name="email"]', email)
            page.fill('input[name="password"]', PASSWORD)
            page.fill('input[name="confirm"]', PASSWORD)
            page.locator('form button[type="submit"]').last.click()
            expect(page.locator('.account-name')).to_be_visible()

            # add a business, the address from the official lists
            page.goto(f"{live_server}/businesses/new")
            page.check('input[name="kind"][value="individual"]')
            page.fill('input[name="tax_id"]', "3100600445635")
            page.fill('input[name="name_th"]', "ครัวป้าสมหญิง")
            page.fill('input[name="house_no"]', "99/1")
            page.select_option('select[name="province"]', "10")
            expect(page.locator('select[name="district"] option[value="1001"]')).to_have_count(1)
            page.select_option('select[name="district"]', "1001")
            expect(page.locator('select[name="subdistrict"] option[value="100101"]')).to_have_count(1)
            page.select_option('select[name="subdistrict"]', "100101")
            expect(page.locator('select[name="postcode"] option[value="10200"]')).to_have_count(1)
            page.select_option('select[name="postcode"]', "10200")
            page.fill('input[name="phone"]', "0812345678")
            page.locator('.business-form button[type="submit"], .business-form input[type="submit"]').last.click()
            expect(page.get_by_text("ครัวป้าสมหญิง").first).to_be_visible()

            # apply from the permit's public page
            page.goto(f"{live_server}/permits/food_premises")
            page.locator(".apply a").click()
            page.locator('button[type="submit"]').last.click()
            expect(page.locator('input[name="applicant_name"]')).to_have_value("ครัวป้าสมหญิง")
            page.check('input[name="applicant_type"][value="person"]')
            page.check('input[name="filed_by_agent"][value="no"]')
            next_button(page).click()
            expect(page.locator('input[name="citizen_id"]')).to_have_value("3100600445635")
            shot(page, locale, "wizard-applicant")
            next_button(page).click()

            # premises, with a mistake first: the error summary and the message by the field
            page.fill('input[name="business_name"]', "ครัวป้าสมหญิง สาขาท่าช้าง")
            page.check('input[name="premises_kind"][value="storage"]')
            page.fill('input[name="premises_address.house_no"]', "12")
            page.fill('input[name="premises_address.subdistrict"]', "พระบรมมหาราชวัง")
            page.fill('input[name="premises_address.district"]', "พระนคร")
            page.select_option('select[name="premises_address.province_code"]', "10")
            page.fill('input[name="premises_address.postcode"]', "10200")
            page.fill('input[name="area_m2"]', "ร้อยห้าสิบ")
            page.check('input[name="owns_premises"][value="yes"]')
            page.fill('input[name="opening_date.day"]', "1")
            page.select_option('select[name="opening_date.month"]', "2")
            page.fill('input[name="opening_date.year"]', "2570" if locale == "th" else "2027")
            next_button(page).click()
            expect(page.locator(".error-summary")).to_be_visible()
            expect(page.locator("#field-area_m2 .error-message")).to_be_visible()
            expect(page.locator('input[name="area_m2"]')).to_have_value("ร้อยห้าสิบ")
            shot(page, locale, "wizard-error")
            page.fill('input[name="area_m2"]', "๑๕๐")
            next_button(page).click()

            # food handlers, then save the draft and log out
            page.fill('input[name="food_handler_count"]', "3")
            page.check('input[name="handlers_trained"][value="no"]')
            page.locator('button[name="action"][value="save"]').click()
            expect(page).to_have_url(f"{live_server}/applications/")
            shot(page, locale, "dashboard-draft")
            page.locator(".account-nav form button").click()
            expect(page.locator('.account-name')).to_have_count(0)

            # log back in and continue where the draft was left
            page.goto(f"{live_server}/accounts/login")
            page.fill('input[name="email"]', email)
            page.fill('input[name="password"]', PASSWORD)
            page.locator('main form button[type="submit"]').click()
            page.goto(f"{live_server}/applications/")
            page.locator("table.applications a[href$='/continue']").click()
            expect(page.locator('input[name="food_handler_count"]')).to_have_value("3")
            next_button(page).click()

            # the document, then the declarations
            page.set_input_files('input[name="site_map_file"]', str(site_map))
            next_button(page).click()
            for name in ("declare_not_market", "declare_hygiene", "declare_true"):
                page.check(f'input[name="{name}"]')
            next_button(page).click()
            expect(page.get_by_text("site-map.pdf").first).to_be_visible()
            shot(page, locale, "documents")
            page.locator(".actions a.button").first.click()

            # review: fee and expected date, then submit
            expected = WorkingCalendar().add_working_days(local_date(dt.datetime.now(dt.UTC)), 30)
            expect(page.locator("#fees")).to_contain_text("100 บาท" if locale == "th" else "THB 100")
            expect(page.locator("#expected-date")).to_contain_text(format_date(expected, locale))
            shot(page, locale, "review")
            page.locator('form.actions button[type="submit"]').click()

            expect(page.locator("#status")).to_contain_text("อยู่ระหว่างพิจารณา" if locale == "th" else "In review")
            expect(page.locator("#expected-date")).to_have_text(format_date(expected, locale))
            expect(page.locator(".timeline")).to_contain_text(
                "ตรวจสอบคำขอและเอกสาร" if locale == "th" else "Check the application and documents")
            shot(page, locale, "application")
            page.goto(f"{live_server}/applications/")
            expect(page.locator("table.applications")).to_contain_text(format_date(expected, locale))
            shot(page, locale, "dashboard-submitted")
        finally:
            browser.close()
            gc.collect()


def test_screenshots_folder_is_ignored_by_git() -> None:
    assert "test-artifacts/" in (BIZPORTAL_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


