"""Licences by API: read one, download its PDF, and the public check by number.

Thin views over `licences.services`: who may read a licence is what the licence
page allows (its holder, an admin, an officer of the issuing agency or of one with
a task on its application); the check by number tells anyone exactly what the
public /verify page tells, nothing more.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Response as FlaskResponse
from flask import current_app
from flask_babel import lazy_gettext as _l
from spectree import Response
from werkzeug.wrappers import Response as WerkzeugResponse

from ..applications.services import compiled
from ..errors import NotFound
from ..extensions import db
from ..i18n import current_locale
from ..licences import services
from ..licences.jobs import licences_folder
from ..licences.models import STATUS_LABELS, Licence
from ..workflow.calendar import local_date
from .core import ApiProblem, Problem, api_user, blueprint, json_response, public, spec
from .schemas import LicenceOut, LicenceVerification

TAGS = ["licences"]


def _today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def licence_body(licence: Licence, locale: str) -> LicenceOut:
    """The licence as its holder and the agencies read it."""
    version = licence.application.permit_version
    status = licence.public_status(_today())
    return LicenceOut(
        id=licence.id, number=licence.number, status=status.value, status_label=str(STATUS_LABELS[status]),
        permit_type=version.permit_type.key, permit_title=compiled(version).spec.permit.licence.title.get(locale),
        application_id=licence.application_id, agency_id=licence.agency_id, holder_name=licence.holder_name,
        business_name_th=licence.business_name_th, business_name_en=licence.business_name_en,
        premises_address=licence.premises_address, valid_from=licence.valid_from, valid_until=licence.valid_until,
        issued_at=licence.issued_at, pdf_ready=licence.file_path is not None)


@blueprint.get("/licences/<int:licence_id>")
@spec.validate(resp=Response(HTTP_200=LicenceOut, HTTP_404=Problem), tags=TAGS)
def get_licence(licence_id: int) -> WerkzeugResponse:
    """A licence I hold, or one my agency issued or reviewed."""
    licence = services.get_viewable_licence(db.session(), licence_id, api_user())
    return json_response(licence_body(licence, current_locale()))


@blueprint.get("/licences/<int:licence_id>/pdf")
@spec.validate(resp=Response("HTTP_200", HTTP_404=Problem, HTTP_409=Problem), tags=TAGS)
def licence_pdf(licence_id: int) -> WerkzeugResponse:
    """The signed licence PDF (`application/pdf`); 409 while it is still being rendered."""
    licence = services.get_viewable_licence(db.session(), licence_id, api_user())
    if licence.file_path is None:
        raise ApiProblem(409, "licence-not-rendered", str(_l("The licence is still being issued")),
                         str(_l("The licence is still being issued. Try again in a minute.")))
    path = licences_folder(current_app.instance_path) / licence.file_path
    if not path.is_file():
        raise NotFound()
    # Read whole (a licence is a few hundred kB) rather than streamed, so the response can be checked and logged.
    response = FlaskResponse(path.read_bytes(), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{Path(licence.file_path).name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.get("/licences/verify/<path:number>")
@public
@spec.validate(resp=Response(HTTP_200=LicenceVerification, HTTP_404=Problem), tags=TAGS)
def verify_licence(number: str) -> WerkzeugResponse:
    """Public, no token: is this licence valid, with its permit type, business name and validity only."""
    licence = services.public_licence(db.session(), number)
    locale = current_locale()
    status = licence.public_status(_today())
    business = licence.business_name_en if locale == "en" and licence.business_name_en else licence.business_name_th
    return json_response(LicenceVerification(
        number=licence.number, status=status.value, status_label=str(STATUS_LABELS[status]),
        permit_title=compiled(licence.application.permit_version).spec.permit.licence.title.get(locale),
        business_name=business, valid_from=licence.valid_from, valid_until=licence.valid_until))
