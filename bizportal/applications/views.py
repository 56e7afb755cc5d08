"""Application pages: start, the wizard, documents, review and submit, dashboard, one application, correction.

Thin views: read the request, call one service, render or redirect. Every page
is plain HTML forms (no JavaScript needed); every object route loads through a
service that answers 404 for another user's application.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..database import transactional
from ..errors import NotFound
from ..extensions import db
from ..i18n import current_locale, gettext
from ..permits.services import public_permit
from ..workflow.state import ApplicationStatus
from . import decisions, pages, services, uploads
from .answers import parse_field
from .forms import ConfirmForm, StartForm, WithdrawForm
from .models import Application, ApplicationDocument

blueprint = Blueprint("applications", __name__)
applicant_only = role_required(Role.ENTREPRENEUR)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _uploads_root() -> Path:
    return Path(current_app.instance_path) / "uploads"


@blueprint.route("/permits/<key>/apply", methods=["GET", "POST"])
@applicant_only
@transactional
def start(key: str) -> str | Response:
    """Choose one of my businesses and open a draft for the permit."""
    session = db.session()
    permit = public_permit(session, key)
    businesses = services.my_businesses(session, current_user())
    form = StartForm()
    form.business_id.choices = [(business.id, business.name(current_locale())) for business in businesses]
    if businesses and form.validate_on_submit():
        application = services.start_application(session, current_user(), key, form.business_id.data, _now())
        return redirect(url_for(".step", application_id=application.id, step_id=application.current_step))
    title = permit.spec.permit.title.get(current_locale())
    return render_template("applications/start.html", form=form, permit=permit, title=title,
                           businesses=businesses)


@blueprint.get("/applications/")
@applicant_only
def dashboard() -> str:
    """My applications: status, current stages and agencies, expected dates, what waits on me."""
    summaries = pages.dashboard(db.session(), current_user(), current_locale())
    return render_template("applications/dashboard.html", summaries=summaries)


@blueprint.get("/applications/<int:application_id>")
@applicant_only
def show(application_id: int) -> str:
    """One application with its timeline."""
    from ..licences.services import licence_of_application  # licences builds on applications, not the reverse

    page = pages.application_page(db.session(), application_id, current_user(), current_locale())
    return render_template("applications/show.html", page=page, withdraw_form=WithdrawForm(),
                           licence=licence_of_application(db.session(), application_id))


@blueprint.get("/applications/<int:application_id>/continue")
@applicant_only
def resume(application_id: int) -> Response:
    """Go back to where the draft was left, or to the correction page."""
    application = services.get_application(db.session(), application_id, current_user())
    _, kind = pages.waiting_on_applicant(application)
    if kind == "correction":
        return redirect(url_for(".correction", application_id=application_id))
    if kind != "draft":
        return redirect(url_for(".show", application_id=application_id))
    steps = services.shown(application).step_ids()
    step_id = application.current_step if application.current_step in steps else steps[0]
    return redirect(url_for(".step", application_id=application_id, step_id=step_id))


def _render_step(application: Application, step_id: str, errors: dict[str, object] | None = None,
                 appeared: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    locale = current_locale()
    current = services.shown(application)
    if step_id not in current.fields:
        raise NotFound()
    step = current.steps[current.step_ids().index(step_id)]
    fields = pages.field_views(application, current.fields[step_id], locale, errors)
    spec = services.compiled(application.permit_version).spec
    return render_template(
        "applications/step.html", application=application, spec=spec, step=step, fields=fields,
        steps=current.steps, errors=[view for view in fields if view.error], appeared=appeared or [],
        months=pages.month_names(locale), provinces=pages.province_choices(locale),
        position=current.step_ids().index(step_id) + 1, title=spec.permit.title.get(locale)), status


@blueprint.get("/applications/<int:application_id>/steps/<step_id>")
@applicant_only
def step(application_id: int, step_id: str) -> str | tuple[str, int] | Response:
    """One page of the form, filled in with what was saved (and what was typed but not accepted)."""
    application = services.get_application(db.session(), application_id, current_user())
    if application.status is not ApplicationStatus.DRAFT:
        return redirect(url_for(".resume", application_id=application_id))
    return _render_step(application, step_id, errors=_pending_errors(application, step_id))


def _pending_errors(application: Application, step_id: str) -> dict[str, object]:
    """Messages for the fields whose kept input is still not accepted, so a resumed draft shows them."""
    current = services.shown(application)
    return {item.id: error for item in current.fields.get(step_id, ())
            if item.id in application.pending_input
            and (error := parse_field(item, application.pending_input[item.id]).error) is not None}


@blueprint.post("/applications/<int:application_id>/steps/<step_id>")
@applicant_only
@transactional
def save_step(application_id: int, step_id: str) -> str | tuple[str, int] | Response:
    """Save the page, then go on, back, or to the dashboard; errors and new questions show the page again."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    action = request.form.get("action", "next")
    outcome = services.save_step(session, application, step_id, request.form.getlist("shown"), request.form,
                                 request.files, _uploads_root(), _now(), moving_on=action == "next")
    if action == "save":
        flash(gettext("Your draft is saved. You can continue it later from “My applications”."), "success")
        return redirect(url_for(".dashboard"))
    if action == "back":
        previous = services.next_step(application, step_id, -1)
        if previous is None:
            return redirect(url_for(".show", application_id=application_id))
        return redirect(url_for(".step", application_id=application_id, step_id=previous))
    if not outcome.ok:
        return _render_step(application, step_id, outcome.errors, outcome.appeared,
                            status=422 if outcome.errors else 200)
    following = services.next_step(application, step_id, 1)
    if following is None:
        application.current_step = "documents"
        return redirect(url_for(".documents", application_id=application_id))
    application.current_step = following
    return redirect(url_for(".step", application_id=application_id, step_id=following))


@blueprint.get("/applications/<int:application_id>/documents")
@applicant_only
def documents(application_id: int) -> tuple[str, int]:
    """The checklist items the answers call for, with upload and replace."""
    application = services.get_application(db.session(), application_id, current_user())
    return _render_documents(application)


def _render_documents(application: Application, errors: dict[str, object] | None = None,
                      status: int = 200) -> tuple[str, int]:
    locale = current_locale()
    current = services.shown(application)
    spec = services.compiled(application.permit_version).spec
    allowed = services.editable_documents(application, current)
    lines = pages.document_lines(application, current, locale)
    steps = current.step_ids()
    return render_template("applications/documents.html", application=application, lines=lines, errors=errors or {},
                           allowed=allowed, title=spec.permit.title.get(locale), last_step=steps[-1],
                           editable=application.status in services.EDITABLE), status


@blueprint.post("/applications/<int:application_id>/documents/<document_id>")
@applicant_only
@transactional
def upload(application_id: int, document_id: str) -> tuple[str, int] | Response:
    """Upload or replace the file of one checklist item."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    result = services.attach(session, application, document_id, request.files.get("file"),  # type: ignore[arg-type]
                             _uploads_root(), _now())
    if not isinstance(result, ApplicationDocument):
        return _render_documents(application, {document_id: result}, status=422)
    flash(gettext("File uploaded: %(name)s", name=result.filename), "success")
    target = ".correction" if application.status.waits_on_applicant else ".documents"
    return redirect(url_for(target, application_id=application_id))


@blueprint.get("/applications/<int:application_id>/documents/<document_id>/file")
@role_required(Role.ENTREPRENEUR, Role.OFFICER, Role.ADMIN)
def download(application_id: int, document_id: str) -> Response:
    """The uploaded file, to its owner or an officer of an agency with a task on it; `?inline=1` opens it."""
    application = services.get_viewable_application(db.session(), application_id, current_user())
    row = services.document_row(application, document_id)
    if row is None:
        raise NotFound()
    inline = request.args.get("inline") == "1"
    response = send_file(uploads.stored_path(_uploads_root(), row.storage_path), mimetype=row.content_type,
                         as_attachment=not inline, download_name=row.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; object-src 'self'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/applications/<int:application_id>/review")
@applicant_only
def review(application_id: int) -> str | Response:
    """All answers, documents, fees and the expected decision date, before submitting."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    if application.status is not ApplicationStatus.DRAFT:
        return redirect(url_for(".show", application_id=application_id))
    expected = decisions.expected_decision_date(session, application.permit_version, _now())
    spec = services.compiled(application.permit_version).spec
    return render_template("applications/review.html", application=application,
                           review=pages.review(application, expected, current_locale()), form=ConfirmForm(),
                           title=spec.permit.title.get(current_locale()))


@blueprint.post("/applications/<int:application_id>/submit")
@applicant_only
@transactional
def submit(application_id: int) -> Response:
    """Submit the draft to the agencies."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    decisions.submit(session, application, _now())
    flash(gettext("Your application %(reference)s was submitted.", reference=application.reference or ""),
          "success")
    return redirect(url_for(".show", application_id=application_id))


@blueprint.post("/applications/<int:application_id>/withdraw")
@applicant_only
@transactional
def withdraw(application_id: int) -> Response:
    """Withdraw an application that is not decided yet."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    form = WithdrawForm()
    if not form.validate_on_submit():
        flash(gettext("The reason is too long."), "error")
        return redirect(url_for(".show", application_id=application_id))
    decisions.withdraw(session, application, form.reason.data or "", _now())
    flash(gettext("The application was withdrawn."), "success")
    return redirect(url_for(".show", application_id=application_id))


@blueprint.route("/applications/<int:application_id>/correction", methods=["GET", "POST"])
@applicant_only
@transactional
def correction(application_id: int) -> str | tuple[str, int] | Response:
    """Change only what the officer named, then send the application again."""
    session = db.session()
    application = services.get_application(session, application_id, current_user())
    if not application.status.waits_on_applicant:
        return redirect(url_for(".show", application_id=application_id))
    errors: dict[str, object] = {}
    if request.method == "POST":
        fields = services.correction_fields(application)
        outcome = services.save_fields(session, application, fields, request.form, request.files, _uploads_root(),
                                       _now())
        errors = dict(outcome.errors)
        if request.form.get("action") == "resubmit" and outcome.ok and not services.completeness(application):
            decisions.resubmit(session, application, _now())
            flash(gettext("Your corrected application was sent again."), "success")
            return redirect(url_for(".show", application_id=application_id))
        if outcome.ok and request.form.get("action") != "resubmit":
            flash(gettext("Your changes are saved."), "success")
            return redirect(url_for(".correction", application_id=application_id))
    return _render_correction(application, errors, status=422 if errors else 200)


def _render_correction(application: Application, errors: dict[str, object],
                       status: int) -> tuple[str, int]:
    locale = current_locale()
    current = services.shown(application)
    fields = pages.field_views(application, tuple(services.correction_fields(application)), locale,
                               errors or _pending_all(application))
    spec = services.compiled(application.permit_version).spec
    allowed = services.editable_documents(application, current)
    lines = [line for line in pages.document_lines(application, current, locale)
             if not line.fetched_by_office and (allowed is None or line.document.id in allowed)]
    page = pages.application_page(db.session(), application.id, current_user(), locale)
    return render_template("applications/correction.html", application=application, page=page, fields=fields,
                           lines=lines, errors=[view for view in fields if view.error],
                           problems=services.completeness(application, current),
                           months=pages.month_names(locale), provinces=pages.province_choices(locale),
                           title=spec.permit.title.get(locale), form=ConfirmForm()), status


def _pending_all(application: Application) -> dict[str, object]:
    fields = services.compiled(application.permit_version).spec.fields()
    return {field_id: error for field_id, raw in application.pending_input.items() if field_id in fields
            and (error := parse_field(fields[field_id], raw).error) is not None}
