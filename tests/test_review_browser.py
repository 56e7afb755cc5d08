"""Issue 5 in a real Chromium: an application goes through officers of two agencies in parallel and is approved.

An entrepreneur fills in and submits a food-premises application for 250 m², so the
route opens both branches of the parallel `inspections` stage. Each officer works in
a browser context of their own: the health division approves the intake; then the
health and the building officers each see only their own agency's task, both claim
it, and approve one after the other while the other task is still open; the building
officer's decision is posted from a page loaded before the health approval. The
municipality then takes the final decision, and the entrepreneur sees the
application approved, with both agencies' approvals in the timeline, in Thai and in
English. Screenshots of the queue, the task page and the approved application are
kept in `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bizportal.accounts.models import Role
from bizportal.applications.models import Application
from bizportal.config import BIZPORTAL_ROOT
from bizportal.extensions import db
from bizportal.review.models import ReviewTask, TaskStatus
from bizportal.workflow.state import ApplicationStatus

from .application_pages import PDF
from .browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, log_in_page, served, switch_language
from .factories import TEST_PASSWORD, load, make_business, make_user, migrated_app

SCREENSHOTS = BIZPORTAL_ROOT / "test-artifacts" / "screenshots"

pytestmark = BROWSER_MARKS

# What the pages say, in both languages (from workflows/food_premises.yaml, workflows/agencies.yaml and the
# Thai catalogue).
TEXT = {
    "th": {
        "in_review": "อยู่ระหว่างพิจารณา", "approved": "อนุมัติแล้ว", "open": "รอพิจารณา", "done": "เสร็จสิ้น",
        "nobody": "ยังไม่มีผู้รับงาน", "you": "ท่าน", "claimed": "ท่านรับงานนี้แล้ว",
        "recorded": "บันทึกผลการพิจารณาแล้ว", "no_tasks": "ไม่มีงานที่ตรงกับเงื่อนไข", "queue": "คิวงานพิจารณา",
        "record": "บันทึกผลการพิจารณา", "application_approved": "คำขอได้รับอนุมัติ",
        "licence_issued": "ออกใบอนุญาตเลขที่", "fee": "200 บาท",
    },
    "en": {
        "in_review": "In review", "approved": "Approved", "open": "Open", "done": "Done",
        "nobody": "Nobody yet", "you": "You", "claimed": "You claimed this task.",
        "recorded": "Your decision was recorded.", "no_tasks": "No tasks match.", "queue": "Review queue",
        "record": "Record the decision", "application_approved": "Application approved",
        "licence_issued": "Licence FOOD-", "fee": "THB 200",
    },
}
STAGES = {
    "intake": {"th": "ตรวจสอบคำขอและเอกสาร", "en": "Check the application and documents"},
    "health_inspection": {"th": "ตรวจสุขลักษณะของสถานที่", "en": "Inspect the hygiene of the premises"},
    "building_use_check": {"th": "ตรวจการใช้อาคารและผังเมือง", "en": "Check building use and town planning"},
    "decision": {"th": "เจ้าพนักงานท้องถิ่นพิจารณาอนุญาต", "en": "Decision by the local officer"},
}
AGENCIES = {
    "demo_health": {"th": "กองสาธารณสุขและสิ่งแวดล้อม เทศบาลเมืองตัวอย่าง",
                    "en": "Public Health and Environment Division, Demo Town Municipality"},
    "demo_building": {"th": "กองช่าง (งานควบคุมอาคารและผังเมือง) เทศบาลเมืองตัวอย่าง",
                      "en": "Public Works Division (Building Control and Town Planning), Demo Town Municipality"},
    "demo_municipality": {"th": "เทศบาลเมืองตัวอย่าง", "en": "Demo Town Municipality"},
}
STAGE_AGENCY = {"intake": "demo_health", "health_inspection": "demo_health",
                "building_use_check": "demo_building", "decision": "demo_municipality"}


def approved_line(stage: str, locale: str) -> str:
    """The timeline line for `stage` approved, as the catalogue words it."""
    title, agency = STAGES[stage][locale], AGENCIES[STAGE_AGENCY[stage]][locale]
    return f"{agency} อนุมัติขั้นตอน {title} แล้ว" if locale == "th" else f"{title} approved by {agency}"


@dataclass(frozen=True)
class People:
    owner: str
    health: str
    building: str
    municipality: str


@dataclass(frozen=True)
class Site:
    app: Flask
    url: str
    people: People


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app with the seed permits, an entrepreneur with a business and three agencies' officers, served.

    The rows are committed through the app's own database, which the served app (another thread) reads.
    """
    with migrated_app(tmp_path_factory.mktemp("review-browser")) as app:
        with app.app_context():
            session = db.session()
            load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
            owner = make_user(session, email="somying@example.com", name="สมหญิง ใจดี")
            make_business(session, owner=owner, name_th="ครัวป้าสมหญิง", name_en="Auntie Somying's Kitchen")
            people = People(
                owner=owner.email,
                health=make_user(session, role=Role.OFFICER, agency_id="demo_health", name="สุดา สาธารณสุข",
                                 email="suda@health.example.go.th").email,
                building=make_user(session, role=Role.OFFICER, agency_id="demo_building", name="ชาญ ช่างดี",
                                   email="chan@building.example.go.th").email,
                municipality=make_user(session, role=Role.OFFICER, agency_id="demo_municipality",
                                       name="มานพ เทศบาล", email="manop@town.example.go.th").email)
            db.session.remove()
        with served(app) as url:
            yield Site(app, url, people)


def shot(page: Any, locale: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{locale}-{name}.png"), full_page=True)


def next_button(page: Any) -> Any:
    return page.locator('button[name="action"][value="next"]')


def tasks_of(app: Flask, application_id: int) -> dict[str, tuple[int, TaskStatus]]:
    """The application's review tasks by stage, read fresh from the database the served app writes to."""
    with app.app_context():
        try:
            return {task.stage_id: (task.id, task.status) for task in db.session().scalars(
                select(ReviewTask).where(ReviewTask.application_id == application_id).order_by(ReviewTask.id))}
        finally:
            db.session.remove()


def status_of(app: Flask, application_id: int) -> ApplicationStatus:
    with app.app_context():
        try:
            application = db.session().get(Application, application_id)
            assert application is not None
            return application.status
        finally:
            db.session.remove()


def submit_food_premises(page: Any, url: str, files: Path, *, area: str) -> int:
    """Fill in the food-premises wizard for the logged-in entrepreneur's only business and submit; the new id."""
    from playwright.sync_api import expect

    site_map, building_permit = files / "site-map.pdf", files / "building-permit.pdf"
    site_map.write_bytes(PDF)
    building_permit.write_bytes(PDF)
    page.goto(f"{url}/permits/food_premises")
    page.locator(".apply a").click()
    page.locator('button[type="submit"]').last.click()  # the only business is preselected
    expect(page.locator('input[name="applicant_name"]')).to_have_value("ครัวป้าสมหญิง")
    page.check('input[name="applicant_type"][value="person"]')
    page.check('input[name="filed_by_agent"][value="no"]')
    next_button(page).click()
    expect(page.locator('input[name="citizen_id"]')).to_have_value("3100600445635")
    next_button(page).click()

    page.fill('input[name="business_name"]', "ครัวป้าสมหญิง สาขาท่าช้าง")
    page.check('input[name="premises_kind"][value="storage"]')
    page.fill('input[name="premises_address.house_no"]', "12")
    page.fill('input[name="premises_address.subdistrict"]', "พระบรมมหาราชวัง")
    page.fill('input[name="premises_address.district"]', "พระนคร")
    page.select_option('select[name="premises_address.province_code"]', "10")
    page.fill('input[name="premises_address.postcode"]', "10200")
    page.fill('input[name="area_m2"]', area)
    page.check('input[name="owns_premises"][value="yes"]')
    next_button(page).click()

    page.fill('input[name="food_handler_count"]', "6")
    page.check('input[name="handlers_trained"][value="no"]')
    next_button(page).click()

    # over 200 m² the form asks for the building permit too (optional), for the building-use check
    expect(page.locator('input[name="building_permit_file"]')).to_have_count(1)
    page.set_input_files('input[name="site_map_file"]', str(site_map))
    page.set_input_files('input[name="building_permit_file"]', str(building_permit))
    next_button(page).click()
    for name in ("declare_not_market", "declare_hygiene", "declare_true"):
        page.check(f'input[name="{name}"]')
    next_button(page).click()
    expect(page.get_by_text("site-map.pdf").first).to_be_visible()
    expect(page.get_by_text("building-permit.pdf").first).to_be_visible()
    page.locator(".actions a.button").first.click()

    expect(page.locator("#fees")).to_contain_text(TEXT["th"]["fee"])  # the licence band's fee
    page.locator('form.actions button[type="submit"]').click()
    expect(page.locator("#status")).to_have_text(TEXT["th"]["in_review"])
    found = re.search(r"/applications/(\d+)$", page.url)
    assert found is not None, page.url
    return int(found.group(1))


def open_task(page: Any, url: str, task_id: int, locale: str) -> None:
    """From the queue, follow the task's link; the task page shows it open."""
    from playwright.sync_api import expect

    page.goto(f"{url}/review/")
    page.locator(f"#task-{task_id} a").click()
    expect(page).to_have_url(f"{url}/review/tasks/{task_id}")
    expect(page.locator("#task-status")).to_have_text(TEXT[locale]["open"])


def claim(page: Any, officer_name: str, locale: str) -> None:
    """Claim the task shown on `page`; its page then names the officer."""
    from playwright.sync_api import expect

    expect(page.locator("#claimed-by")).to_have_text(TEXT[locale]["nobody"])
    page.locator('form[action$="/claim"] button').click()
    expect(page.locator(".flash")).to_have_text(TEXT[locale]["claimed"])
    expect(page.locator("#claimed-by")).to_have_text(officer_name)
    expect(page.locator('form[action$="/claim"]')).to_have_count(0)
    expect(page.locator('form[action$="/release"]')).to_have_count(1)


def approve(page: Any, url: str, task_id: int, locale: str, note: str) -> None:
    """Approve the task shown on `page` with the decision form; back on the queue the task is gone."""
    from playwright.sync_api import expect

    page.check('form.decision input[name="action"][value="approve"]')
    page.fill("form.decision textarea[name=note]", note)
    page.locator("form.decision button[type=submit]").click()
    expect(page).to_have_url(f"{url}/review/")
    expect(page.locator(".flash")).to_have_text(TEXT[locale]["recorded"])
    expect(page.locator(f"#task-{task_id}")).to_have_count(0)  # the open queue no longer lists it
    page.goto(f"{url}/review/?status=done")
    expect(page.locator(f"#task-{task_id} .status")).to_have_text(TEXT[locale]["done"])


def logged_in_window(browser: Any, url: str, email: str) -> Any:
    """A page in a browser context of its own (its own cookies), logged in as `email`."""
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    log_in_page(page, url, email, TEST_PASSWORD)
    return page


def test_two_agencies_approve_in_parallel_and_the_entrepreneur_sees_it_approved(site: Site, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, people, app = site.url, site.people, site.app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # 1. the entrepreneur submits an application for 250 m²
            def window(email: str) -> Any:
                return logged_in_window(browser, url, email)

            owner = window(people.owner)
            application_id = submit_food_premises(owner, url, tmp_path, area="250")
            reference = owner.locator(".eyebrow").inner_text().strip()
            assert reference
            tasks = tasks_of(app, application_id)
            assert list(tasks) == ["intake"]
            intake = tasks["intake"][0]

            # 2. the health division checks the application: only its officer sees the intake task
            health = window(people.health)
            building = window(people.building)
            town = window(people.municipality)
            building.goto(f"{url}/review/")
            expect(building.locator(f"#task-{intake}")).to_have_count(0)
            expect(building.locator("main")).to_contain_text(TEXT["th"]["no_tasks"])  # nothing else is in review
            assert building.goto(f"{url}/review/tasks/{intake}").status == 404

            health.goto(f"{url}/review/")
            row = health.locator(f"#task-{intake}")
            expect(row).to_contain_text(reference)
            expect(row).to_contain_text("ครัวป้าสมหญิง")
            expect(row.locator(".status")).to_have_text(TEXT["th"]["open"])
            open_task(health, url, intake, "th")
            expect(health.locator("main")).to_contain_text("site-map.pdf")
            claim(health, "สุดา สาธารณสุข", "th")
            approve(health, url, intake, "th", "เอกสารครบถ้วน")

            # both branches of the parallel stage are open, each in its own agency's queue only
            tasks = tasks_of(app, application_id)
            assert set(tasks) == {"intake", "health_inspection", "building_use_check"}
            hygiene, building_use = tasks["health_inspection"][0], tasks["building_use_check"][0]
            assert tasks["health_inspection"][1] is tasks["building_use_check"][1] is TaskStatus.OPEN
            health.goto(f"{url}/review/")
            expect(health.locator(f"#task-{hygiene}")).to_contain_text(reference)
            expect(health.locator(f"#task-{building_use}")).to_have_count(0)
            assert health.goto(f"{url}/review/tasks/{building_use}").status == 404
            building.goto(f"{url}/review/")
            expect(building.locator(f"#task-{building_use}")).to_contain_text(reference)
            expect(building.locator(f"#task-{hygiene}")).to_have_count(0)
            assert building.goto(f"{url}/review/tasks/{hygiene}").status == 404
            town.goto(f"{url}/review/")
            expect(town.locator("main")).not_to_contain_text(reference)

            owner.reload()
            expect(owner.locator("#status")).to_have_text(TEXT["th"]["in_review"])
            expect(owner.locator(".facts")).to_contain_text(STAGES["health_inspection"]["th"])
            expect(owner.locator(".facts")).to_contain_text(STAGES["building_use_check"]["th"])
            expect(owner.locator(".timeline")).to_contain_text(approved_line("intake", "th"))

            # both officers claim their task: two tasks open and claimed at the same time
            open_task(health, url, hygiene, "th")
            claim(health, "สุดา สาธารณสุข", "th")
            open_task(building, url, building_use, "th")
            claim(building, "ชาญ ช่างดี", "th")
            expect(building.locator('form.decision input[name="action"]')).to_have_count(3)
            expect(building.locator("main")).to_contain_text("building-permit.pdf")
            building.goto(f"{url}/review/?mine=1")
            expect(building.locator(f"#task-{building_use} td").last).to_have_text(TEXT["th"]["you"])
            shot(building, "th", "review-queue")
            switch_language(building, "en")
            expect(building.locator("h1")).to_have_text(TEXT["en"]["queue"])
            expect(building.locator(f"#task-{building_use} td").last).to_have_text(TEXT["en"]["you"])
            shot(building, "en", "review-queue")
            switch_language(building, "th")
            building.locator(f"#task-{building_use} a").click()
            expect(building.locator("form.decision button[type=submit]")).to_have_text(TEXT["th"]["record"])
            shot(building, "th", "review-task")
            switch_language(building, "en")
            expect(building.locator("form.decision button[type=submit]")).to_have_text(TEXT["en"]["record"])
            expect(building.locator("#claimed-by")).to_have_text("ชาญ ช่างดี")
            shot(building, "en", "review-task")
            switch_language(building, "th")  # the decision form stays open on this page meanwhile

            # the health officer approves first: the application waits for the building-use check
            health.reload()
            approve(health, url, hygiene, "th", "สุขลักษณะผ่านเกณฑ์")
            tasks = tasks_of(app, application_id)
            assert tasks["health_inspection"][1] is TaskStatus.DONE
            assert tasks["building_use_check"][1] is TaskStatus.OPEN and "decision" not in tasks
            assert status_of(app, application_id) is ApplicationStatus.IN_REVIEW
            owner.reload()
            expect(owner.locator("#status")).to_have_text(TEXT["th"]["in_review"])
            expect(owner.locator(".timeline")).to_contain_text(approved_line("health_inspection", "th"))
            expect(owner.locator(".facts")).not_to_contain_text(STAGES["health_inspection"]["th"])
            expect(owner.locator(".facts")).to_contain_text(STAGES["building_use_check"]["th"])
            town.goto(f"{url}/review/")
            expect(town.locator("main")).not_to_contain_text(reference)
            other = building.context.new_page()  # a second tab: the building task is still open and claimed
            other.goto(f"{url}/review/")
            expect(other.locator(f"#task-{building_use} .status")).to_have_text(TEXT["th"]["open"])
            other.goto(f"{url}/review/tasks/{building_use}")
            expect(other.locator("table.decisions")).to_contain_text(STAGES["health_inspection"]["th"])
            expect(other.locator("table.decisions")).to_contain_text(TEXT["th"]["done"])
            other.close()

            # then the building officer, from the page opened before the health approval
            approve(building, url, building_use, "th", "อาคารได้รับอนุญาตให้ใช้เป็นร้านอาหาร")
            tasks = tasks_of(app, application_id)
            assert tasks["building_use_check"][1] is TaskStatus.DONE
            assert tasks["decision"][1] is TaskStatus.OPEN
            assert status_of(app, application_id) is ApplicationStatus.IN_REVIEW

            # 3. after the join, the municipality decides
            decision = tasks["decision"][0]
            health.goto(f"{url}/review/")
            expect(health.locator(f"#task-{decision}")).to_have_count(0)
            open_task(town, url, decision, "th")
            expect(town.locator('form.decision input[name="action"]')).to_have_count(2)  # approve or reject
            expect(town.locator('form.decision input[value="return_for_correction"]')).to_have_count(0)
            claim(town, "มานพ เทศบาล", "th")
            approve(town, url, decision, "th", "อนุญาต")
            assert status_of(app, application_id) is ApplicationStatus.APPROVED

            # 4. the entrepreneur sees it approved, with both agencies' approvals, in Thai and in English
            owner.reload()
            for locale in ("th", "en"):
                if locale == "en":
                    switch_language(owner, "en")
                expect(owner.locator("#status")).to_have_text(TEXT[locale]["approved"])
                timeline = owner.locator(".timeline")
                for stage in STAGES:
                    expect(timeline).to_contain_text(approved_line(stage, locale))
                expect(timeline.locator("li").nth(-2)).to_contain_text(TEXT[locale]["application_approved"])
                expect(timeline.locator("li").last).to_contain_text(TEXT[locale]["licence_issued"])
                expect(owner.locator("form.withdraw")).to_have_count(0)
                shot(owner, locale, "application-approved")
        finally:
            browser.close()
            gc.collect()


@dataclass
class Outcome:
    """What one officer's thread saw last: the page's address and text, and the failure if any."""

    url: str = ""
    main: str = ""
    error: BaseException | None = None


def decide_at_the_same_time(url: str, email: str, name: str, task_id: int, hidden_task_id: int,
                            barrier: threading.Barrier, outcome: Outcome) -> None:
    """One officer in a Playwright and a Chromium of this thread's own: log in, claim, approve, all at once."""
    from playwright.sync_api import expect, sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            try:
                log_in_page(page, url, email, TEST_PASSWORD)
                page.goto(f"{url}/review/")
                expect(page.locator(f"#task-{hidden_task_id}")).to_have_count(0)  # the other agency's task
                open_task(page, url, task_id, "th")
                barrier.wait(timeout=60)  # both on their task page: claim together
                claim(page, name, "th")
                page.check('form.decision input[name="action"][value="approve"]')
                page.fill("form.decision textarea[name=note]", "ผ่าน")
                barrier.wait(timeout=60)  # both claimed, both forms filled: post together
                with page.expect_navigation():
                    page.locator("form.decision button[type=submit]").click()
            finally:
                outcome.url, outcome.main = page.url, page.locator("main").inner_text(timeout=5000)
                browser.close()
    except BaseException as error:  # reported by the main thread
        outcome.error = error
        barrier.abort()


def test_both_branches_decided_at_the_same_moment_open_the_decision_once(site: Site, tmp_path: Path) -> None:
    """The two branch officers claim, then approve, at the same moment, each from a browser in a thread of its own.

    Both decisions are recorded (neither is refused as stale: they are different tasks), the join opens the
    decision stage exactly once, and the application goes on to approval.
    """
    from playwright.sync_api import expect, sync_playwright

    url, people, app = site.url, site.people, site.app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            def window(email: str) -> Any:
                return logged_in_window(browser, url, email)

            owner = window(people.owner)
            application_id = submit_food_premises(owner, url, tmp_path, area="480")
            health = window(people.health)
            intake = tasks_of(app, application_id)["intake"][0]
            open_task(health, url, intake, "th")
            approve(health, url, intake, "th", "")
            tasks = tasks_of(app, application_id)
            hygiene, building_use = tasks["health_inspection"][0], tasks["building_use_check"][0]

            barrier = threading.Barrier(2)
            outcomes = {"health": Outcome(), "building": Outcome()}
            threads = [
                threading.Thread(target=decide_at_the_same_time, args=(
                    url, people.health, "สุดา สาธารณสุข", hygiene, building_use, barrier,
                    outcomes["health"])),
                threading.Thread(target=decide_at_the_same_time, args=(
                    url, people.building, "ชาญ ช่างดี", building_use, hygiene, barrier,
                    outcomes["building"])),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(thread.is_alive() for thread in threads)
            refused = [who for who, outcome in outcomes.items()
                       if "ข้อผิดพลาด 409" in outcome.main or "ข้อผิดพลาด 500" in outcome.main]  # the error page
            assert not refused, [outcomes[who].url.removeprefix(url) for who in refused]
            failures = [(who, outcome.error) for who, outcome in outcomes.items() if outcome.error is not None]
            failures.sort(key=lambda failure: isinstance(failure[1], threading.BrokenBarrierError))
            if failures:  # the thread that broke the barrier first, not the one that waited for it
                raise AssertionError(f"the {failures[0][0]} officer's browser failed") from failures[0][1]
            for who, outcome in outcomes.items():
                assert outcome.url == f"{url}/review/", (who, outcome.url, outcome.main[:500])
                assert TEXT["th"]["recorded"] in outcome.main, (who, outcome.main[:500])

            # both approvals count, and the join opened the decision exactly once
            tasks = tasks_of(app, application_id)
            assert tasks["health_inspection"][1] is tasks["building_use_check"][1] is TaskStatus.DONE
            assert tasks["decision"][1] is TaskStatus.OPEN
            owner.reload()
            expect(owner.locator("#status")).to_have_text(TEXT["th"]["in_review"])
            timeline = owner.locator(".timeline li")
            for stage in ("health_inspection", "building_use_check"):
                expect(timeline.filter(has_text=approved_line(stage, "th"))).to_have_count(1)
            expect(timeline.filter(has_text=STAGES["decision"]["th"])).to_have_count(1)  # opened once

            town = window(people.municipality)
            open_task(town, url, tasks["decision"][0], "th")
            approve(town, url, tasks["decision"][0], "th", "อนุญาต")
            owner.reload()
            expect(owner.locator("#status")).to_have_text(TEXT["th"]["approved"])
            assert status_of(app, application_id) is ApplicationStatus.APPROVED
        finally:
            browser.close()
            gc.collect()
