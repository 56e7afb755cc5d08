"""Filling in the application wizard as a browser without JavaScript does: read the page's form, change, post."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


class _FormReader(HTMLParser):
    """The values a browser would post for the first form with `method="post"` and class `wizard`."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self.inside = False
        self.select: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form" and "wizard" in attributes.get("class", ""):
            self.inside = True
        if not self.inside:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind in {"radio", "checkbox"}:
                if "checked" in attributes:
                    self.values.append((name, attributes.get("value", "on")))
            elif kind not in {"file", "submit"}:
                self.values.append((name, attributes.get("value", "")))
        elif tag == "select" and name:
            self.select = name
            self.values.append((name, ""))
        elif tag == "option" and self.select is not None and "selected" in attributes:
            self.values[-1] = (self.select, attributes.get("value", ""))
        elif tag == "textarea" and name:
            self.textarea, self.text = name, ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.values.append((self.textarea, self.text))
            self.textarea = None


def form_values(html: str) -> list[tuple[str, str]]:
    """What the wizard form on `html` would post as it stands."""
    reader = _FormReader()
    reader.feed(html)
    return reader.values


def post_step(client: FlaskClient, path: str, changes: dict[str, Any] | None = None, *, action: str = "next",
              files: dict[str, tuple[bytes, str]] | None = None) -> TestResponse:
    """GET the wizard page at `path`, change some inputs (a list for several values, None to clear), POST it."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    values = form_values(page.get_data(as_text=True))
    names = set(changes or {})
    data: list[tuple[str, Any]] = [(name, value) for name, value in values if name not in names]
    for name, value in (changes or {}).items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            data.append((name, item))
    for name, (content, filename) in (files or {}).items():
        data.append((name, (io.BytesIO(content), filename)))
    data.append(("action", action))
    response = client.post(path, data=_multidict(data), content_type="multipart/form-data")
    response.request.environ["wsgi.input"].close()  # the test client spools a large body to a file it leaves open
    return response


def _multidict(pairs: list[tuple[str, Any]]) -> Any:
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def upload(client: FlaskClient, application_id: int, document_id: str, content: bytes, filename: str,
           page: str | None = None) -> TestResponse:
    """Upload a file for a checklist item through the documents page's form."""
    from .web_forms import csrf_token

    token = csrf_token(client, page or f"/applications/{application_id}/documents")
    return client.post(f"/applications/{application_id}/documents/{document_id}",
                       data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")
