"""The admin page of background jobs: failed and pending jobs with their errors, and a Retry button.

Registered under the admin blueprint's name (`admin.jobs.*`, at /admin/jobs), so it is part of the admin
console for the authorization matrix too.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..database import transactional
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from ..i18n import gettext
from . import queries, services
from .models import JobStatus

blueprint = Blueprint("jobs", __name__)

STATUS_LABELS = {JobStatus.FAILED: _l("Failed"), JobStatus.PENDING: _l("Pending"),
                 JobStatus.DONE: _l("Done")}


@blueprint.get("/")
@role_required(Role.ADMIN)
def index() -> str:
    """Jobs of one status (failed by default), latest first, with attempts, error and payload."""
    try:
        status = JobStatus(request.args.get("status", JobStatus.FAILED.value))
    except ValueError:
        status = JobStatus.FAILED
    session = db.session()
    page = queries.jobs_page(session, status, queries.Cursor.parse(request.args.get("after")))
    return render_template("jobs/index.html", page=page, status=status, counts=queries.status_counts(session),
                           status_labels=STATUS_LABELS, payload_summary=queries.payload_summary)


@blueprint.post("/retry")
@role_required(Role.ADMIN)
@transactional
def retry() -> Response:
    """Give the failed job named by the form's `job_id` a fresh set of attempts, then show the failed jobs."""
    job_id = request.form.get("job_id", type=int)
    if job_id is None or not 0 < job_id < 2**31:
        flash(gettext("That job is not waiting for a retry."), "error")
        return redirect(url_for("admin.jobs.index"))
    try:
        services.retry(db.session(), job_id, dt.datetime.now(dt.UTC), actor_id=current_user().id)
    except (NotFound, InvalidTransition):
        flash(gettext("That job is not waiting for a retry."), "error")
    else:
        flash(gettext("Job %(id)s will be tried again.", id=job_id), "success")
    return redirect(url_for("admin.jobs.index"))
