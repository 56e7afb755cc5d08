"""Security headers on every page, and pages that keep to the Content-Security-Policy they are sent with.

The policy forbids inline script and style, so a template that adds an `onclick=`, a `<script>` block or a
`style=` attribute would be silently broken in the browser; the page walk below finds it first. Pages are read
from the URL map (every GET route without URL arguments, anonymous and as an admin), so a new page is checked
without touching this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role
from bizportal.ops.headers import CONTENT_SECURITY_POLICY
from bizportal.permits.services import LoadReport

from .browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, log_in_page, served
from .factories import TEST_PASSWORD, make_quick_user, migrated_app
from .web_forms import log_in

pytestmark = pytest.mark.security

SKIPPED_PREFIXES = ("/static/",)
"""Files, served as they are (JSON, probes and the PEM key are walked: they get the headers, and the HTML checks
apply to HTML responses only)."""
SKIPPED_ENDPOINTS = {"accounts.logout"}


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP blocks: inline scripts, event-handler attributes, style attributes and blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> block")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name in {"href", "src", "action"} and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name}= on <{tag}>")


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.found


def plain_pages(app: Flask) -> list[str]:
    """Every GET route without URL arguments that serves a page."""
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.arguments or rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        if rule.rule.startswith(SKIPPED_PREFIXES):
            continue
        paths.add(rule.rule)
    return sorted(paths)


def assert_security_headers(response: Any, path: str) -> None:
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("X-Frame-Options") == "DENY", path
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy or "sandbox" in policy, (path, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (path, policy)
    assert headers.get("Referrer-Policy") == "same-origin", path


def test_the_policy_forbids_inline_script_and_framing() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"


def test_anonymous_pages_send_the_headers_and_keep_to_the_policy(client: FlaskClient,
                                                                 load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    pages = plain_pages(client.application)
    assert "/" in pages and "/accounts/login" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code < 500, path
        assert_security_headers(response, path)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert inline_code(response.get_data(as_text=True)) == [], path


def test_staff_pages_send_the_headers_and_keep_to_the_policy(client: FlaskClient, db_session: Session,
                                                             load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    admin = make_quick_user(db_session, role=Role.ADMIN)
    log_in(client, admin.email)
    checked = 0
    for path in plain_pages(client.application):
        response = client.get(path)
        assert response.status_code < 500, path
        assert_security_headers(response, path)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert inline_code(response.get_data(as_text=True)) == [], path
            checked += 1
    assert checked >= 10
    for path in ("/permits/food_premises", "/metrics", "/healthz", "/verify/keys"):
        assert_security_headers(client.get(path), path)


def test_the_finder_sees_what_the_policy_would_block() -> None:
    page = ('<p style="color:red" onclick="x()">a</p><script>alert(1)</script><style>p{}</style>'
            '<a href="javascript:alert(1)">b</a><script src="/static/js/address.js"></script>')
    assert inline_code(page) == ["style= on <p>", "onclick= on <p>", "<script> without src", "<style> block",
                                 "javascript: URL in href= on <a>"]


def test_hsts_only_over_https(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers
    # Without a trusted proxy, a client cannot claim HTTPS with a forwarded header.
    assert "Strict-Transport-Security" not in client.get("/", headers={"X-Forwarded-Proto": "https"}).headers
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with migrated_app(tmp_path_factory.mktemp("proxied"), BIZPORTAL_PROXY_HOPS="1") as application:
        yield application


def test_behind_one_trusted_proxy_https_and_the_client_address_come_from_its_headers(proxied_app: Flask) -> None:
    client = proxied_app.test_client()
    response = client.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "49.228.10.9"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/").headers
    # /metrics is for private addresses only: the forwarded public client address is refused.
    assert client.get("/metrics", headers={"X-Forwarded-For": "49.228.10.9"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200


def test_a_bad_proxy_hops_setting_is_refused_with_its_name(tmp_path: Path) -> None:
    from bizportal.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="BIZPORTAL_PROXY_HOPS"):
        load_settings({"BIZPORTAL_PROXY_HOPS": "many"}, tmp_path)


def test_a_real_browser_reports_no_policy_violation(app: Flask, db_session: Session,
                                                    load_seeds: Callable[[], LoadReport]) -> None:
    """Chromium enforces the policy; pages that work under it log no violation and still run their script."""
    from playwright.sync_api import sync_playwright

    load_seeds()
    user = make_quick_user(db_session, email="csp.browser@example.com")
    violations: list[str] = []
    with served(app) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: violations.append(message.text)
                    if "Content Security Policy" in message.text else None)
            for path in ("/", "/permits/food_premises", "/permits/water_meter", "/accounts/login"):
                page.goto(f"{base_url}{path}")
            log_in_page(page, base_url, user.email, TEST_PASSWORD)
            page.goto(f"{base_url}/businesses/new")
            # address.js fills the district list when a province is chosen: the external script ran.
            page.select_option('select[name="province"]', label="กรุงเทพมหานคร")
            page.wait_for_function("document.querySelector('select[name=\"district\"]').options.length > 2")
        finally:
            browser.close()
    assert violations == []


for _mark in BROWSER_MARKS:
    test_a_real_browser_reports_no_policy_violation = _mark(test_a_real_browser_reports_no_policy_violation)
