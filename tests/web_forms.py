"""Filling in the portal's forms as a browser does: GET the page, take its CSRF token, POST."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from .factories import TEST_PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on the page at `path` (fails the test if there is none)."""
    page = client.get(path)
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found is not None, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1) or found.group(2)


def submit(client: FlaskClient, path: str, data: dict[str, str], *, form_page: str | None = None,
           follow_redirects: bool = False) -> TestResponse:
    """POST `data` to `path` with the CSRF token of the form shown at `form_page` (default: `path`)."""
    token = csrf_token(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=follow_redirects)


def log_in(client: FlaskClient, email: str, password: str = TEST_PASSWORD) -> TestResponse:
    """Log in through the real login form; asserts that it worked."""
    response = submit(client, "/accounts/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


def log_out(client: FlaskClient) -> TestResponse:
    """Log out with the header's logout button (a POST with the page's CSRF token)."""
    return submit(client, "/accounts/logout", {}, form_page="/")
