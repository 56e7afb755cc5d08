"""Public catalogue pages: the list of permit types and one page per permit type."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..extensions import db
from ..i18n import current_locale
from . import services
from .pages import build_catalogue, build_permit_page, route_diagram

blueprint = Blueprint("permits", __name__)


@blueprint.get("/")
def catalogue() -> str:
    """Every permit type open to applications, grouped by category."""
    groups = build_catalogue(services.list_catalogue(db.session()), current_locale())
    return render_template("permits/catalogue.html", groups=groups)


@blueprint.get("/permits/<key>")
def permit(key: str) -> str:
    """What a permit is, who issues it, the route, documents, fees and time limit."""
    public, locale = services.public_permit(db.session(), key), current_locale()
    return render_template("permits/permit.html", page=build_permit_page(public, locale),
                           diagram=route_diagram(public.spec, public.agencies, locale))
