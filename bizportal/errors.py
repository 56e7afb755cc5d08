"""The BizportalError hierarchy and the one place that maps errors to HTTP.

Services raise these with a status and a translatable message; `register()`
turns them, and HTTP errors such as 404, into a page in the user's language or,
under `/api/`, an `application/problem+json` body. No traceback reaches a user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class BizportalError(Exception):
    """Base of every domain error: an HTTP status and a message the user can read."""

    status = 400
    title: LazyString | str = _l("The request could not be completed")

    def __init__(self, message: LazyString | str | None = None, **details: Any) -> None:
        self.message = message if message is not None else self.title
        self.details = details
        super().__init__(str(self.message))


class NotFound(BizportalError):
    """The thing asked for does not exist (or is not public)."""

    status = 404
    title = _l("Page not found")


class PermissionDenied(BizportalError):
    """The user may not do this."""

    status = 403
    title = _l("You are not allowed to do this")


class InvalidTransition(BizportalError):
    """The action does not fit the current state (e.g. approving a closed task)."""

    status = 409
    title = _l("This action is not possible now")


class Conflict(BizportalError):
    """The change clashes with data already stored."""

    status = 409
    title = _l("This conflicts with data already stored")


class StaleDecision(Conflict):
    """The task changed after the officer opened it (someone else decided, claimed or it was returned)."""

    title = _l("Someone else changed this task")


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/")


PROBLEM_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 409: "conflict", 412: "precondition-failed", 413: "too-large",
                 415: "unsupported-media-type", 422: "validation", 428: "precondition-required",
                 429: "rate-limited", 500: "internal", 503: "unavailable"}
"""The problem type of each HTTP status when nothing more precise is known (docs/api.md lists them)."""


def problem_type(slug: str) -> str:
    """The stable URI of a problem type under /api/v1: `<PUBLIC_BASE_URL>/api/v1/problems/<slug>` (docs/api.md).

    Elsewhere (no versioned API documents the types) it is RFC 9457's `about:blank`.
    """
    if not request.path.startswith("/api/v1/"):
        return "about:blank"
    base = str(current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    return f"{base}/api/v1/problems/{slug}"


def problem_response(status: int, title: str, detail: str, *, slug: str | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     headers: Mapping[str, str] | None = None) -> Response:
    """An RFC 9457 `application/problem+json` answer; `errors` lists the fields at fault (JSON Pointers)."""
    body: dict[str, Any] = {"type": problem_type(slug or PROBLEM_SLUGS.get(status, "error")), "title": title,
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _problem(status: int, title: str, detail: str, slug: str | None = None) -> Response:
    return problem_response(status, title, detail, slug=slug)


def _slug_of(error: BizportalError) -> str:
    """A problem slug from the error's class: `StaleDecision` -> `stale-decision`."""
    if type(error) is BizportalError:
        return PROBLEM_SLUGS.get(error.status, "bad-request")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()


def _page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, title=title, message=message), status


def handle_bizportal_error(error: BizportalError) -> Response | tuple[str, int]:
    """Answer a domain error in the user's language."""
    if error.status >= 500:
        _rollback()
    if _wants_problem_json():
        return _problem(error.status, str(error.title), str(error.message), _slug_of(error))
    return _page(error.status, str(error.title), str(error.message))


def handle_http_error(error: HTTPException) -> Response | tuple[str, int]:
    """Answer 404, 405 and friends with our own page instead of Werkzeug's."""
    status = error.code or 500
    titles = {
        404: (_l("Page not found"), _l("We could not find this page. It may have moved, or the address "
                                      "may be mistyped.")),
        405: (_l("Not allowed"), _l("This page cannot be used this way.")),
        413: (_l("The file is too large"), _l("What you sent is larger than the portal accepts. Make the file "
                                             "smaller and try again.")),
        415: (_l("Unsupported media type"), _l("Send the request body as JSON (Content-Type: application/json).")),
        429: (_l("Too many requests"), _l("You have sent too many requests. Wait a moment and try again.")),
    }
    title, message = titles.get(status, (_l("The request could not be completed"),
                                         _l("Please check the address and try again.")))
    if isinstance(error, CSRFError):
        title, message = _l("The form has expired"), _l("For your safety, forms only work for a while and only "
                                                        "from this site. Go back, reload the page and send it "
                                                        "again.")
    if status >= 500:
        return handle_unexpected_error(error)
    if _wants_problem_json():
        response = _problem(status, str(title), str(message))
        if isinstance(error, CSRFError):
            response = _problem(status, str(title), str(message), "csrf")
        for name in ("Retry-After", "Allow", "WWW-Authenticate"):
            value = _header_of(error, name)
            if value:
                response.headers[name] = value
        return response
    response_body, code = _page(status, str(title), str(message))
    return response_body, code


def _header_of(error: HTTPException, name: str) -> str | None:
    """A header the HTTP error carries (405's `Allow`, 429's `Retry-After`), kept on the problem answer."""
    for key, value in error.get_headers():
        if key.lower() == name.lower():
            return value
    if error.response is not None:
        return error.response.headers.get(name)
    return None


def handle_unexpected_error(error: Exception) -> Response | tuple[str, int]:
    """Log the failure, undo the request's changes and show a calm page; never a traceback."""
    original = getattr(error, "original_exception", None) or error
    logger.error("unhandled error", exc_info=original, extra={"path": request.path})
    _rollback()
    title = str(_l("Something went wrong"))
    message = str(_l("Sorry, an unexpected error occurred. Nothing was saved. Please try again later."))
    if _wants_problem_json():
        return _problem(500, title, message)
    try:
        return _page(500, title, message)
    except Exception:
        logger.exception("error page failed")
        return f"<!doctype html><title>500</title><p>{escape(title)}</p>", 500


def handle_database_unavailable(error: Exception) -> Response | tuple[str, int]:
    """The database went away or is busy (a dropped connection, a restart, a failover): 503, try again.

    The pool discards the broken connection (SQLAlchemy invalidates it, and `pool_pre_ping`
    checks the others), so the next request reconnects without a restart of the process.
    """
    logger.error("database unavailable", exc_info=error, extra={"path": request.path})
    _rollback()
    title = str(_l("The service is busy"))
    message = str(_l("The portal cannot reach its database for a moment. Nothing was saved. Please try again "
                     "in a minute."))
    response: Response | tuple[str, int]
    if _wants_problem_json():
        response = _problem(503, title, message)
    else:
        body, status = _page(503, title, message)
        response = Response(body, status=status, mimetype="text/html")
    if isinstance(response, Response):
        response.headers["Retry-After"] = "30"
    return response


def _rollback() -> None:
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:
        logger.exception("rollback after error failed")


def register(app: Flask) -> None:
    """Install the handlers on `app`."""
    app.register_error_handler(BizportalError, handle_bizportal_error)
    app.register_error_handler(HTTPException, handle_http_error)
    for unavailable in (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
        app.register_error_handler(unavailable, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)

