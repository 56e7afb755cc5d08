"""Issue 6 in a real Chromium: the entrepreneur sees the application approved, downloads the licence and opens
the public verification page; the issuing officer suspends the licence and the verify page says so at once.

The application is submitted and approved through the services (the review pages have their own browser test);
the approval issues the licence and the in-process job renders it, as in the demo. Screenshots in Thai and
English go to `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf
import pytest
from flask import Flask
from sqlalchemy import select

from bizportal.accounts.models import Role
from bizportal.config import BIZPORTAL_ROOT
from bizportal.database import unit_of_work
from bizportal.extensions import db
from bizportal.licences.models import Licence, LicenceStatus
from bizportal.review import services as review_services
from bizportal.workflow.spec import Action

from .browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, log_in_page, served, switch_language
from .factories import TEST_PASSWORD, load, make_business, make_user, migrated_app
from .test_review import submitted, tasks_of

SCREENSHOTS = BIZPORTAL_ROOT / "test-artifacts" / "screenshots"
BUSINESS_TH = "ครัวป้าแดง"

pytestmark = BROWSER_MARKS


@dataclass(frozen=True)
class Site:
    app: Flask
    url: str
    owner: str
    municipality: str
    application_id: int
    licence_id: int
    number: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An approved food-premises application whose licence the in-process job has issued, served."""
    with migrated_app(tmp_path_factory.mktemp("licences-browser")) as app:
        with app.app_context():
            session = db.session()
            load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
            owner = make_user(session, email="daeng@example.com", name="แดง ใจดี")
            business = make_business(session, owner=owner, name_th="ร้านป้าแดง", name_en="Auntie Daeng's")
            health = make_user(session, role=Role.OFFICER, agency_id="demo_health", name="สุดา สาธารณสุข",
                               email="suda@health.example.go.th")
            town = make_user(session, role=Role.OFFICER, agency_id="demo_municipality", name="มานพ เทศบาล",
                             email="manop@town.example.go.th")
            application = submitted(session, owner, business, app)
            for stage, officer in (("intake", health), ("health_inspection", health), ("decision", town)):
                with unit_of_work(session):
                    task = tasks_of(session, application.id)[stage]
                    review_services.decide(session, task.id, officer, Action.APPROVE, task.version_id,
                                           dt.datetime.now(dt.UTC))
            licence = session.scalars(select(Licence).where(Licence.application_id == application.id)).one()
            assert licence.status is LicenceStatus.ISSUED
            made = Site(app, "", owner.email, town.email, application.id, licence.id, licence.number)
            db.session.remove()
        with served(app) as url:
            yield Site(app, url, made.owner, made.municipality, made.application_id, made.licence_id, made.number)


def shot(page: Any, locale: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{locale}-{name}.png"), full_page=True)


def test_the_entrepreneur_downloads_the_licence_and_checks_it_on_the_verify_page(site: Site,
                                                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            owner = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True).new_page()
            log_in_page(owner, site.url, site.owner, TEST_PASSWORD)
            owner.goto(f"{site.url}/applications/{site.application_id}")
            expect(owner.locator("#status")).to_have_text("อนุมัติแล้ว")
            expect(owner.locator("#licence-number")).to_have_text(site.number)
            shot(owner, "th", "licence-application-approved")

            with owner.expect_download() as download_info:
                owner.locator("#download-licence").click()
            download = download_info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            pdf = saved.read_bytes()
            assert pdf[:5] == b"%PDF-" and saved.suffix == ".pdf"
            text = unicodedata.normalize("NFKC", "\n".join(page.extract_text()
                                                           for page in pypdf.PdfReader(io.BytesIO(pdf)).pages))
            assert site.number in text and BUSINESS_TH in text

            owner.locator('a[href*="/licences/"]').filter(has_not=owner.locator("#download-licence")).last.click()
            expect(owner.locator("#licence-number")).to_have_text(site.number)
            owner.locator('a[href*="/verify/"]').click()
            expect(owner.locator("h1")).to_have_text(site.number)
            expect(owner.locator("section.verify")).to_have_class("verify verify-issued")
            expect(owner.locator("#verify-business")).to_have_text(BUSINESS_TH)
            expect(owner.locator("main")).not_to_contain_text("แดง ใจดี")  # the holder's own name is not public
            shot(owner, "th", "licence-verify-valid")
            switch_language(owner, "en")
            expect(owner.locator("#verify-status")).to_have_text("Valid")
            shot(owner, "en", "licence-verify-valid")
            owner.goto(f"{site.url}/applications/{site.application_id}")
            expect(owner.locator("#status")).to_have_text("Approved")
            shot(owner, "en", "licence-application-approved")

            # the issuing officer suspends it, with a reason; the public page says so at once
            officer = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
            log_in_page(officer, site.url, site.municipality, TEST_PASSWORD)
            officer.goto(f"{site.url}/licences/{site.licence_id}")
            shot(officer, "th", "licence-officer-page")
            officer.fill("#reason", "พบการฝ่าฝืนสุขลักษณะ รอการแก้ไข")
            officer.locator(f'button[formaction$="/licences/{site.licence_id}/suspend"]').click()
            expect(officer.locator(".flash-success")).to_be_visible()
            expect(officer.locator("#status-reason")).to_have_text("พบการฝ่าฝืนสุขลักษณะ รอการแก้ไข")
            owner.goto(f"{site.url}/verify/{site.number}")
            expect(owner.locator("#verify-status")).to_have_text("Suspended")
            expect(owner.locator("main")).not_to_contain_text("ฝ่าฝืน")
            shot(owner, "en", "licence-verify-suspended")
            switch_language(owner, "th")
            shot(owner, "th", "licence-verify-suspended")
            owner.goto(f"{site.url}/verify/FOOD-99999/2500")
            expect(owner.locator("section.verify-unknown")).to_be_visible()
            shot(owner, "th", "licence-verify-unknown")
        finally:
            browser.close()
            gc.collect()
