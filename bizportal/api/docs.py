"""Pages about the API, served by the app itself: the OpenAPI document, a readable docs page, problem types.

No CDN and no script: the docs page is plain HTML rendered from the same
OpenAPI document that clients download.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as WerkzeugResponse

from .core import blueprint, openapi_document, public


@blueprint.get("/openapi.json")
@public
def openapi() -> WerkzeugResponse:
    """The OpenAPI 3.1 description of this API, generated from the code."""
    response = jsonify(openapi_document(current_app._get_current_object()))  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/docs")
@public
def docs() -> str:
    """A readable page of every operation, its parameters, answers and schemas."""
    document = openapi_document(current_app._get_current_object())  # type: ignore[attr-defined]
    return render_template("api/docs.html", document=document, operations=operations_of(document),
                           schemas=sorted(document.get("components", {}).get("schemas", {}).items()),
                           problem_types=PROBLEM_TYPES)


@blueprint.get("/problems/<slug>")
@public
def problem_type(slug: str) -> WerkzeugResponse:
    """A problem type's URI leads to its explanation on the docs page."""
    return redirect(url_for("api.docs", _anchor=f"problem-{slug}"))


def operations_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations, by tag then path, as plain values for the template."""
    found: list[dict[str, Any]] = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            found.append({"path": path, "method": method.upper(), "operation": operation,
                          "tag": (operation.get("tags") or ["other"])[0]})
    return sorted(found, key=lambda item: (item["tag"], item["path"], item["method"]))


PROBLEM_TYPES = (
    ("unauthorized", 401, _l("No token, or the token is unknown, revoked, expired or its account inactive.")),
    ("forbidden", 403, _l("The token's user may not do this (role or agency).")),
    ("permission-denied", 403, _l("The token's user may not do this (role or agency).")),
    ("not-found", 404, _l("No such resource, or not one the token's user may see.")),
    ("method-not-allowed", 405, _l("The path exists but not with this method; see the Allow header.")),
    ("conflict", 409, _l("The change clashes with the current state.")),
    ("invalid-transition", 409, _l("The action does not fit the current state.")),
    ("idempotency-key-in-use", 409, _l("A request with this Idempotency-Key is still being processed.")),
    ("precondition-failed", 412, _l("If-Match names an older version: read the resource again.")),
    ("stale-decision", 409, _l("Someone else changed the task meanwhile.")),
    ("unsupported-media-type", 415, _l("The body is not JSON.")),
    ("validation", 422, _l("Fields are wrong; errors lists them with JSON Pointers.")),
    ("incomplete-application", 422, _l("Answers or documents are missing; errors lists them with JSON Pointers.")),
    ("idempotency-key-reused", 422, _l("The Idempotency-Key was used for a different request.")),
    ("licence-not-rendered", 409, _l("The licence is numbered but its PDF is still being made; try again shortly.")),
    ("precondition-required", 428, _l("A decision needs an If-Match header with the ETag last read.")),
    ("rate-limited", 429, _l("Too many requests for this token; wait for Retry-After seconds.")),
    ("invalid-cursor", 400, _l("The cursor was altered or belongs to another list.")),
    ("invalid-json", 400, _l("The body is not valid JSON.")),
    ("invalid-idempotency-key", 400, _l("The Idempotency-Key is empty, too long or not printable.")),
    ("internal", 500, _l("An unexpected error; nothing was saved. It is logged for the operators.")),
    ("unavailable", 503, _l("The database is briefly unavailable; retry after Retry-After seconds.")),
)
"""The problem types a client may meet, listed on the docs page (the slug is the end of the `type` URI)."""
