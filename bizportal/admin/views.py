"""Admin console pages (admins only): agencies, users, publishing permit types, history, diagrams."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..app import LICENCE_TEMPLATES_DIR, settings_of
from ..audit.services import Verification
from ..database import transactional
from ..errors import BizportalError
from ..extensions import db
from ..i18n import current_locale, gettext
from ..permits.pages import route_diagram
from ..permits.services import VersionConflict, agencies_by_id, agency_ids, list_permit_types
from ..workflow.validation import AGENCIES_FILE
from . import services
from .forms import (
    AGENCY_KIND_LABELS,
    MAX_SOURCE_BYTES,
    ActionForm,
    AgencyEditForm,
    AgencyForm,
    OfficerForm,
    PublishForm,
)

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _agencies_text() -> str:
    return (settings_of(current_app).workflows_dir / AGENCIES_FILE).read_text(encoding="utf-8")


@blueprint.get("/")
@role_required(Role.ADMIN)
def index() -> str:
    """Permit types with their current version, and links to the other admin pages."""
    return render_template("admin/index.html", permit_types=list_permit_types(db.session()),
                           action_form=ActionForm())


@blueprint.get("/agencies")
@role_required(Role.ADMIN)
def agencies() -> str:
    """Every stored agency; those declared in agencies.yaml are marked (a load overwrites them)."""
    return render_template("admin/agencies.html", agencies=services.list_agencies(db.session()),
                           declared=services.declared_agency_ids(_agencies_text()),
                           holiday_dates=services.holiday_dates)


def _parent_choices(form: AgencyEditForm, agency_id: str | None) -> None:
    choices = services.agency_choices((agency for agency in services.list_agencies(db.session())
                                       if agency.id != agency_id), current_locale())
    form.parent_id.choices = [("", gettext("(none)")), *choices]


def _agency_input(form: AgencyEditForm) -> services.AgencyInput:
    return services.AgencyInput(name_th=form.name_th.data or "", name_en=form.name_en.data or "",
                                short_name_th=form.short_name_th.data or "",
                                short_name_en=form.short_name_en.data or "",
                                parent_id=form.parent_id.data or "", extra_holidays=form.extra_holidays.data or "")


def _show_problems(form: AgencyEditForm, invalid: services.AgencyInvalid) -> None:
    for name, message in invalid.problems:
        field = form[name]
        field.errors = [*field.errors, message]


@blueprint.route("/agencies/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@transactional
def new_agency() -> str | tuple[str, int] | Response:
    """Create an agency (it is kept by `bizportal workflows load`, which only touches the agencies it declares)."""
    form = AgencyForm()
    _parent_choices(form, None)
    if form.validate_on_submit():
        try:
            agency = services.create_agency(
                db.session(), current_user(), agency_id=form.agency_id.data or "", code=form.code.data or "",
                kind=form.kind.data or "", data=_agency_input(form),
                declared=services.declared_agency_ids(_agencies_text()), now=_now())
        except services.AgencyInvalid as invalid:
            _show_problems(form, invalid)
        else:
            flash(gettext("Agency %(id)s created.", id=agency.id), "success")
            return redirect(url_for("admin.agencies"))
    return render_template("admin/agency_form.html", form=form, agency=None, declared=False,
                           history=[]), 422 if request.method == "POST" else 200


@blueprint.route("/agencies/<agency_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@transactional
def edit_agency(agency_id: str) -> str | tuple[str, int] | Response:
    """Change an agency's names, parent and extra holidays; its audit history is listed below."""
    session = db.session()
    agency = services.get_agency(session, agency_id)
    form = AgencyEditForm(data={"name_th": agency.name_th, "name_en": agency.name_en,
                                "short_name_th": agency.short_name_th or "",
                                "short_name_en": agency.short_name_en or "", "parent_id": agency.parent_id or "",
                                "extra_holidays": "\n".join(agency.extra_holidays)})
    _parent_choices(form, agency_id)
    if form.validate_on_submit():
        try:
            services.update_agency(session, current_user(), agency_id, _agency_input(form), _now())
        except services.AgencyInvalid as invalid:
            _show_problems(form, invalid)
        else:
            flash(gettext("Agency %(id)s saved.", id=agency_id), "success")
            return redirect(url_for("admin.agencies"))
    return render_template("admin/agency_form.html", form=form, agency=agency,
                           declared=agency_id in services.declared_agency_ids(_agencies_text()),
                           history=services.agency_history(session, agency_id),
                           action_labels=services.ACTION_LABELS, label_of=services.label_of,
                           kind_labels=AGENCY_KIND_LABELS), 422 if request.method == "POST" else 200


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
            user = services.create_officer(db.session(), current_user(), email=form.email.data or "",
                                           name=form.name.data or "",
                                           password=form.password.data or "", agency_id=form.agency.data or "",
                                           now=_now(), agency_lead=bool(form.agency_lead.data))
        except BizportalError as error:
            form.email.errors = [*form.email.errors, str(error.message)]
        else:
            flash(gettext("Officer %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return _users_page(form), 422


@blueprint.post("/users/<int:user_id>/lead")
@role_required(Role.ADMIN)
@transactional
def set_lead(user_id: int) -> Response:
    """Give or take an officer's right to assign the agency's tasks to colleagues."""
    if ActionForm().validate_on_submit():
        lead = request.form.get("lead") == "1"
        user = services.set_agency_lead(db.session(), current_user(), user_id, lead, _now())
        flash(gettext("%(email)s can now assign the agency's tasks.", email=user.email) if lead
              else gettext("%(email)s no longer assigns the agency's tasks.", email=user.email), "success")
    return redirect(url_for("admin.users"))


@blueprint.post("/users/<int:user_id>/active")
@role_required(Role.ADMIN)
@transactional
def set_active(user_id: int) -> Response:
    """Deactivate (ending every session) or reactivate an account."""
    if ActionForm().validate_on_submit():
        active = request.form.get("active") == "1"
        user = services.set_active(db.session(), current_user(), user_id, active, _now())
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
    agencies_text = _agencies_text()
    templates = {path.name for path in LICENCE_TEMPLATES_DIR.glob("*.html")}
    submission = services.check_submission(session, permit_text, form_text, agencies_text, templates)
    form.permit_text.data, form.form_text.data = submission.permit_text, submission.form_text
    if not submission.ok:
        return render_template("admin/publish.html", form=form, submission=submission, conflict=None), 422
    try:
        report = services.publish(session, submission, current_user(), _now())
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
        services.set_withdrawn(db.session(), current_user(), key, withdrawn, _now())
        flash(gettext("%(key)s is withdrawn from the catalogue.", key=key) if withdrawn
              else gettext("%(key)s is back in the catalogue.", key=key), "success")
    return redirect(url_for("admin.index"))


def _audit_filters() -> services.AuditFilters:
    return services.AuditFilters(**{name: request.args.get(name, "").strip() for name in
                                    ("subject_type", "subject_id", "actor_email", "action")})


def _audit_page(verification: Verification | None = None) -> str:
    filters = _audit_filters()
    page = services.audit_page(db.session(), filters, request.args.get("before", type=int))
    return render_template("admin/audit.html", page=page, filters=filters, verification=verification,
                           action_labels=services.ACTION_LABELS, subject_labels=services.SUBJECT_LABELS,
                           state_labels=services.STATE_LABELS, label_of=services.label_of,
                           action_form=ActionForm())


@blueprint.get("/audit")
@role_required(Role.ADMIN)
def audit() -> str:
    """The audit log, newest first, one keyset page at a time, with filters."""
    return _audit_page()


@blueprint.post("/audit/verify")
@role_required(Role.ADMIN)
def verify_audit() -> str | Response:
    """Recompute the hash chain and show the outcome above the log."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.audit"))
    return _audit_page(services.verify_chain(db.session()))
