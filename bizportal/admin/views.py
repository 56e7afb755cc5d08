"""Admin console pages (admins only): agencies, users, publishing permit types, history, diagrams."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..app import LICENCE_TEMPLATES_DIR, settings_of
from ..database import transactional
from ..errors import BizportalError
from ..extensions import db
from ..i18n import current_locale, gettext
from ..permits.pages import route_diagram
from ..permits.services import VersionConflict, agencies_by_id, agency_ids, list_permit_types
from ..workflow.validation import AGENCIES_FILE
from . import services
from .forms import MAX_SOURCE_BYTES, ActionForm, OfficerForm, PublishForm

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@blueprint.get("/")
@role_required(Role.ADMIN)
def index() -> str:
    """Permit types with their current version, and links to the other admin pages."""
    return render_template("admin/index.html", permit_types=list_permit_types(db.session()),
                           action_form=ActionForm())


@blueprint.get("/agencies")
@role_required(Role.ADMIN)
def agencies() -> str:
    """Every stored agency."""
    return render_template("admin/agencies.html", agencies=services.list_agencies(db.session()))


def _officer_form() -> OfficerForm:
    form = OfficerForm()
    form.agency.choices = services.agency_choices(services.list_agencies(db.session()), current_locale())
    return form


@blueprint.get("/users")
@role_required(Role.ADMIN)
def users() -> str:
    """Every account, with buttons to deactivate or reactivate it, and the new-officer form."""
    return _users_page(_officer_form())


def _users_page(form: OfficerForm, status: int = 200) -> str:
    return render_template("admin/users.html", users=services.list_accounts(db.session()), form=form,
                           action_form=ActionForm(), me=current_user())


@blueprint.post("/users")
@role_required(Role.ADMIN)
@transactional
def create_officer() -> str | tuple[str, int] | Response:
    """Create an officer of the chosen agency."""
    form = _officer_form()
    if form.validate_on_submit():
        try:
            user = services.create_officer(db.session(), email=form.email.data or "", name=form.name.data or "",
                                           password=form.password.data or "", agency_id=form.agency.data or "",
                                           now=_now())
        except BizportalError as error:
            form.email.errors = [*form.email.errors, str(error.message)]
        else:
            flash(gettext("Officer %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return _users_page(form), 422


@blueprint.post("/users/<int:user_id>/active")
@role_required(Role.ADMIN)
@transactional
def set_active(user_id: int) -> Response:
    """Deactivate (ending every session) or reactivate an account."""
    if ActionForm().validate_on_submit():
        active = request.form.get("active") == "1"
        user = services.set_active(db.session(), current_user(), user_id, active)
        flash(gettext("%(email)s can log in again.", email=user.email) if active
              else gettext("%(email)s can no longer log in.", email=user.email), "success")
    return redirect(url_for("admin.users"))


def _source(upload: FileStorage | None, pasted: str | None) -> str:
    if upload is not None and upload.filename:
        return upload.stream.read(MAX_SOURCE_BYTES + 1).decode("utf-8", errors="replace")
    return (pasted or "").replace("\r\n", "\n")


@blueprint.route("/permits/publish", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@transactional
def publish() -> str | tuple[str, int] | Response:
    """Paste or upload a permit file (and its form): show every problem beside its line, or publish it."""
    form = PublishForm()
    if not form.validate_on_submit():
        return render_template("admin/publish.html", form=form, submission=None, conflict=None)
    permit_text = _source(form.permit_file.data, form.permit_text.data)
    form_text = _source(form.form_file.data, form.form_text.data)
    session = db.session()
    agencies_text = (settings_of(current_app).workflows_dir / AGENCIES_FILE).read_text(encoding="utf-8")
    templates = {path.name for path in LICENCE_TEMPLATES_DIR.glob("*.html")}
    submission = services.check_submission(session, permit_text, form_text, agencies_text, templates)
    form.permit_text.data, form.form_text.data = submission.permit_text, submission.form_text
    if not submission.ok:
        return render_template("admin/publish.html", form=form, submission=submission, conflict=None), 422
    try:
        report = services.publish(session, submission, current_user().email, _now())
    except VersionConflict as conflict:
        return render_template("admin/publish.html", form=form, submission=submission,
                               conflict=conflict.conflicts), 409
    outcome = report.permits[0]
    if outcome.outcome == "unchanged":
        flash(gettext("Nothing new: this content is already published as version %(number)s.",
                      number=outcome.number), "info")
    else:
        flash(gettext("Version %(number)s of %(key)s is published.", number=outcome.number, key=outcome.key),
              "success")
    return redirect(url_for("admin.history", key=outcome.key))


@blueprint.get("/permits/<key>")
@role_required(Role.ADMIN)
def history(key: str) -> str:
    """Every version of a permit type: who published it and when, its hash; a diff of two chosen versions."""
    permit_type = services.permit_type_with_versions(db.session(), key)
    numbers = [version.number for version in permit_type.versions]
    older_number = request.args.get("from", type=int)
    newer_number = request.args.get("to", type=int)
    diff: list[str] | None = None
    if older_number is not None and newer_number is not None:
        diff = services.version_diff(services.version_of(permit_type, older_number),
                                     services.version_of(permit_type, newer_number))
    elif len(numbers) >= 2:
        older_number, newer_number = numbers[-2], numbers[-1]
    return render_template("admin/history.html", permit_type=permit_type, diff=diff, older=older_number,
                           newer=newer_number, action_form=ActionForm())


@blueprint.get("/permits/<key>/versions/<int:number>")
@role_required(Role.ADMIN)
def version(key: str, number: int) -> str:
    """One version: its route diagram and its files."""
    session = db.session()
    permit_type = services.permit_type_with_versions(session, key)
    chosen = services.version_of(permit_type, number)
    spec = chosen.permit_spec()
    diagram = route_diagram(spec, agencies_by_id(session, agency_ids(spec)), current_locale())
    return render_template("admin/version.html", permit_type=permit_type, version=chosen, diagram=diagram)


@blueprint.post("/permits/<key>/withdrawn")
@role_required(Role.ADMIN)
@transactional
def set_withdrawn(key: str) -> Response:
    """Withdraw a permit type from the catalogue or put it back; applications are not touched."""
    if ActionForm().validate_on_submit():
        withdrawn = request.form.get("withdrawn") == "1"
        services.set_withdrawn(db.session(), key, withdrawn)
        flash(gettext("%(key)s is withdrawn from the catalogue.", key=key) if withdrawn
              else gettext("%(key)s is back in the catalogue.", key=key), "success")
    return redirect(url_for("admin.index"))
