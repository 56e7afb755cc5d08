"""`/healthz` (the process serves requests) and `/readyz` (it can do real work), as JSON.

Both are public and say nothing secret: no URLs, hosts or versions of dependencies,
only which one is not ready and what to do about it.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.wrappers import Response

from ..extensions import csrf, db
from .health import Check, database_check, migrations_check, redis_check
from .metrics import CONTENT_TYPE, allowed, exposition

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Alive: answers without touching the database, so a slow database does not get the process restarted."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: database reachable, schema current, Redis reachable when configured; 503 naming what is not."""
    engine = db.engine
    checks = [database_check(engine)]
    checks.append(migrations_check(engine) if checks[0].ok
                  else Check("migrations", False, "not checked: the database does not answer"))
    checks.append(redis_check(current_app.config.get("REDIS_URL")))
    ready = all(check.ok for check in checks)
    response = jsonify(status="ready" if ready else "not ready",
                       checks={check.name: {"ok": check.ok, "detail": check.detail} for check in checks})
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, for scrapers inside the network only (404 from elsewhere, as if absent)."""
    if not allowed(request.remote_addr):
        abort(404)
    return Response(exposition(), mimetype=CONTENT_TYPE)


csrf.exempt(blueprint)
