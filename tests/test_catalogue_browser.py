"""The catalogue in a real Chromium: browse, open a permit, switch to English."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from bizportal.config import BIZPORTAL_ROOT
from bizportal.extensions import db

from .browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, served
from .factories import FIXTURE_TREE, load, migrated_app

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app of its own with the seed and fixture permits committed, for a server thread."""
    with migrated_app(tmp_path_factory.mktemp("live")) as app:
        with app.app_context():
            load(db.session(), BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
            load(db.session(), FIXTURE_TREE / "workflows", FIXTURE_TREE / "forms")
        yield app


@pytest.fixture(scope="module")
def live_server(live_app: Flask) -> Iterator[str]:
    """The app served on a free local port in a background thread."""
    with served(live_app) as url:
        yield url


def test_browse_catalogue_open_permit_and_switch_to_english(live_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="th-TH")
            page.goto(live_server + "/")
            expect(page.locator("html")).to_have_attribute("lang", "th")
            expect(page.get_by_role("heading", level=1)).to_have_text("ใบอนุญาตประกอบธุรกิจ")
            expect(page.get_by_role("heading", name="อาหารและร้านอาหาร")).to_be_visible()
            page.screenshot(path=str(tmp_path / "catalogue-th.png"), full_page=True)

            page.get_by_role("link", name="ขออนุญาตติดตั้งป้ายทดสอบ").click()
            expect(page).to_have_url(live_server + "/permits/fixture_signboard")
            expect(page.get_by_role("heading", level=1)).to_have_text("ขออนุญาตติดตั้งป้ายทดสอบ")
            steps = page.locator("#steps")
            expect(steps).to_contain_text("ตรวจรับคำขอ")
            expect(steps).to_contain_text("ภายใน 3 วันทำการ")
            expect(steps).to_contain_text("เฉพาะเมื่อ “พื้นที่ป้าย (ตารางเมตร)” มากกว่า 50")
            expect(page.locator("#fees")).to_contain_text("กรณีอื่น: 200 บาท")
            expect(page.locator("#time-limit")).to_contain_text("15 วันทำการ")
            page.screenshot(path=str(tmp_path / "permit-th.png"), full_page=True)

            page.get_by_role("navigation", name="ภาษา").get_by_role("link", name="English").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_role("heading", level=1)).to_have_text("Fixture signboard permit")
            expect(page.locator("#steps")).to_contain_text("Check the application")
            expect(page.locator("#steps")).to_contain_text("within 3 working days")
            expect(page.locator("#fees")).to_contain_text("Otherwise: THB 200")

            # the choice stays for the next page
            page.get_by_role("link", name="Permits and licences").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Permits and licences")
            expect(page.get_by_role("link", name="Food premises licence or notification certificate",
                                    exact=False)).to_be_visible()
            screenshot = tmp_path / "catalogue-en.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000

            missing = page.goto(live_server + "/permits/nothing_here")
            assert missing is not None and missing.status == 404
            expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
        finally:
            browser.close()
