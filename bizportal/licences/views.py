"""Licence pages: the licence page and its PDF, status changes by the issuing agency, renewal; and the public
`/verify/<number>` page with the agency's public keys.

Thin views: read the request, call one service, render or redirect.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..accounts.access import current_user, login_required, role_required
from ..accounts.models import Role
from ..applications.services import compiled
from ..database import transactional, unit_of_work
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from ..i18n import current_locale, gettext
from ..permits.models import Agency
from ..workflow.calendar import local_date
from . import models, services
from .cli import configured_signing_key
from .forms import ReasonForm, RenewForm
from .jobs import licences_folder
from .signing import public_key_jwk, public_key_pem

blueprint = Blueprint("licences", __name__)

# `models` is imported with the blueprint, so the app (and Alembic's comparison) knows the licence tables.


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@blueprint.get("/licences/")
@role_required(Role.OFFICER, Role.ADMIN)
def index() -> str:
    """The newest licences of the officer's agency (all for an admin), searchable by number."""
    number = request.args.get("number", "")
    licences = services.agency_licences(db.session(), current_user(), number)
    today = local_date(_now())
    return render_template("licences/pages/index.html", licences=licences, number=number[:80], today=today,
                           status_labels=models.STATUS_LABELS, limit=services.LIST_LIMIT)


@blueprint.get("/licences/<int:licence_id>")
@login_required
def show(licence_id: int) -> str:
    """The licence: number, status, validity, the PDF, renewal, and the issuing agency's actions."""
    session = db.session()
    user = current_user()
    licence = services.get_viewable_licence(session, licence_id, user)
    today = local_date(_now())
    window = services.renewal_window(session, licence)
    renewal = services.open_renewal(session, licence.id) if licence.holder_id == user.id else None
    spec = compiled(licence.application.permit_version).spec
    agency = session.get(Agency, licence.agency_id)
    return render_template(
        "licences/pages/show.html", licence=licence, status=licence.public_status(today),
        title=spec.permit.licence.title.get(current_locale()), status_labels=models.STATUS_LABELS,
        agency_name=agency.name(current_locale()) if agency else "",
        window=window, today=today, renewal=renewal, is_holder=licence.holder_id == user.id,
        may_change=services.may_change_status(licence, user), reason_form=ReasonForm(), renew_form=RenewForm())


@blueprint.get("/licences/<int:licence_id>/licence.pdf")
@login_required
def download(licence_id: int) -> Response:
    """The licence PDF, to its holder, an admin, or an officer of the issuing agency or one on its application."""
    licence = services.get_viewable_licence(db.session(), licence_id, current_user())
    if licence.file_path is None:
        raise NotFound(gettext("The licence is still being issued. Try again in a minute."))
    path = licences_folder(current_app.instance_path) / licence.file_path
    if not path.is_file():
        raise NotFound()
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=Path(licence.file_path).name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _change(licence_id: int, kind: str, done: str) -> BaseResponse:
    form = ReasonForm()
    if not form.validate_on_submit():
        raise InvalidTransition(gettext("The form was incomplete. Open the licence and try again."))
    services.change_status(db.session(), licence_id, current_user(), kind, form.reason.data or "", _now())
    flash(done, "success")
    return redirect(url_for(".show", licence_id=licence_id))


@blueprint.post("/licences/<int:licence_id>/suspend")
@login_required
@transactional
def suspend(licence_id: int) -> BaseResponse:
    """Suspend the licence, with a reason (an officer of the issuing agency)."""
    return _change(licence_id, "suspend", gettext("The licence is suspended."))


@blueprint.post("/licences/<int:licence_id>/revoke")
@login_required
@transactional
def revoke(licence_id: int) -> BaseResponse:
    """Revoke the licence, with a reason (an officer of the issuing agency)."""
    return _change(licence_id, "revoke", gettext("The licence is revoked."))


@blueprint.post("/licences/<int:licence_id>/reinstate")
@login_required
@transactional
def reinstate(licence_id: int) -> BaseResponse:
    """Lift a suspension, with a reason (an officer of the issuing agency)."""
    return _change(licence_id, "reinstate", gettext("The suspension is lifted; the licence is valid again."))


@blueprint.post("/licences/<int:licence_id>/renew")
@role_required(Role.ENTREPRENEUR)
def renew(licence_id: int) -> BaseResponse:
    """Start the renewal (the holder, inside the renewal window): a draft pre-filled from the last application."""
    if not RenewForm().validate_on_submit():
        raise InvalidTransition(gettext("The form was incomplete. Open the licence and try again."))
    try:
        with unit_of_work(db.session()):
            application = services.start_renewal(db.session(), licence_id, current_user(), _now())
            target = url_for("applications.resume", application_id=application.id)
    except InvalidTransition as refusal:
        flash(str(refusal.message), "error")
        return redirect(url_for(".show", licence_id=licence_id))
    flash(gettext("The renewal is started with the answers of your last application. Check them, then submit."),
          "success")
    return redirect(target)


# --------------------------------------------------------------------------- public verification

@blueprint.get("/verify/keys")
def keys() -> Response:
    """The agency's licence-signing public key as a JWK set, to check QR codes offline."""
    key = configured_signing_key(current_app._get_current_object())  # type: ignore[attr-defined]
    response = Response(json.dumps({"keys": [public_key_jwk(key.public_key)]}, indent=2),
                        mimetype="application/jwk-set+json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/verify/keys.pem")
def keys_pem() -> Response:
    """The same public key as PEM."""
    key = configured_signing_key(current_app._get_current_object())  # type: ignore[attr-defined]
    response = Response(public_key_pem(key.public_key), mimetype="application/x-pem-file")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/verify/<path:number>")
def verify(number: str) -> str | tuple[str, int]:
    """Public: is this licence valid, expired, suspended or revoked; its permit type, business and dates only."""
    session = db.session()
    try:
        licence = services.public_licence(session, number)
    except NotFound:
        return render_template("verify/not_found.html", number=number[:80]), 404
    spec = compiled(licence.application.permit_version).spec
    locale = current_locale()
    business = licence.business_name_en if locale == "en" and licence.business_name_en else licence.business_name_th
    return render_template("verify/show.html", licence=licence, status=licence.public_status(local_date(_now())),
                           status_labels=models.STATUS_LABELS, permit_title=spec.permit.licence.title.get(locale),
                           business=business)
