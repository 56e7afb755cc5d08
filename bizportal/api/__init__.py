"""The JSON API under /api/v1 (issue 7): bearer tokens, OpenAPI 3.1, problems, idempotency, ETags, cursors.

`core` holds the contract every resource module uses; the resource modules
below add their routes to `core.blueprint` when imported. Import them here,
explicitly, so a missing module fails at startup rather than hiding routes.
"""

from __future__ import annotations

from flask import Flask

from . import applications, businesses, core, docs, licences, permits, tasks  # noqa: F401  (routes)


def init_app(app: Flask) -> None:
    """Register the API blueprint, its problem answers, token loading and rate limits on `app`."""
    core.init_app(app)
