"""What the real-browser tests share: Debian's Chromium, its flags, and serving an app on a free port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

BROWSER_MARKS = [
    pytest.mark.browser,
    # The development server may leave a static file (a web font) open when Chromium cancels its download on
    # navigation; the garbage collector closes it. That warning says nothing about the page under test.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM} "
                       "(apt-get install chromium fonts-thai-tlwg)"),
]


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve `app` on a free local port in a background thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def log_in_page(page: Any, base_url: str, email: str, password: str) -> None:
    """Log in through the login form in a Playwright `page`; asserts the header then names the user."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/accounts/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.locator('main form button[type="submit"]').click()
    expect(page.locator(".account-name")).to_be_visible()


def switch_language(page: Any, locale: str) -> None:
    """Click the header's language link for `locale` and wait for the page in that language."""
    from playwright.sync_api import expect

    page.locator(f'nav.language a[hreflang="{locale}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", locale)
