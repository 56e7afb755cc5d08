"""The current user's businesses by API: what a client needs to start an application."""

from __future__ import annotations

from spectree import Response
from werkzeug.wrappers import Response as WerkzeugResponse

from ..businesses.services import list_businesses
from ..extensions import db
from .core import Problem, api_user, blueprint, json_response, spec
from .schemas import BusinessList, BusinessOut


@blueprint.get("/businesses")
@spec.validate(resp=Response(HTTP_200=BusinessList, HTTP_401=Problem), tags=["businesses"])
def my_businesses() -> WerkzeugResponse:
    """My businesses, oldest first (an officer or admin has none)."""
    businesses = list_businesses(db.session(), api_user())
    return json_response(BusinessList(items=[BusinessOut(
        id=business.id, kind=business.kind.value, tax_id=business.tax_id, name_th=business.name_th,
        name_en=business.name_en, address={key: str(value) for key, value in business.address.items()},
        phone=business.phone, email=business.email) for business in businesses]))
