"""My businesses: list, create, show, edit; and the address lists as JSON for the form's script."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..database import transactional
from ..extensions import db
from ..i18n import current_locale, gettext
from . import addresses, services
from .forms import BusinessForm
from .models import Business

blueprint = Blueprint("businesses", __name__, url_prefix="/businesses")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@blueprint.get("/")
@role_required(Role.ENTREPRENEUR)
def index() -> str:
    """The entrepreneur's businesses."""
    businesses = services.list_businesses(db.session(), current_user())
    return render_template("businesses/index.html", businesses=businesses, format_area=addresses.format_area)


@blueprint.get("/<int:business_id>")
@role_required(Role.ENTREPRENEUR)
def show(business_id: int) -> str:
    """One business with all its details (404 for another user's)."""
    business = services.get_business(db.session(), business_id, current_user())
    return render_template("businesses/show.html", business=business, format_area=addresses.format_area)


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.ENTREPRENEUR)
@transactional
def create() -> str | BaseResponse:
    """Enter a new business; the address is chosen from the official lists."""
    form = BusinessForm()
    if form.validate_on_submit() and form.save.data:
        try:
            business = services.create_business(db.session(), current_user(), form.data_for_service(), _now())
        except services.InvalidBusiness as error:
            _show_problems(form, error.errors)
        else:
            flash(gettext("The business %(name)s has been saved.", name=business.name_th), "success")
            return redirect(url_for("businesses.show", business_id=business.id))
    return _form_page(form, None)


@blueprint.route("/<int:business_id>/edit", methods=["GET", "POST"])
@role_required(Role.ENTREPRENEUR)
@transactional
def edit(business_id: int) -> str | BaseResponse:
    """Change a business's details (404 for another user's)."""
    session = db.session()
    business = services.get_business(session, business_id, current_user())
    form = BusinessForm()
    if request.method == "GET":
        form.fill_from(services.data_of(business))
    elif form.validate_on_submit() and form.save.data:
        try:
            services.update_business(session, business, form.data_for_service(), _now())
        except services.InvalidBusiness as error:
            _show_problems(form, error.errors)
        else:
            flash(gettext("The changes have been saved."), "success")
            return redirect(url_for("businesses.show", business_id=business.id))
    return _form_page(form, business)


def _show_problems(form: BusinessForm, problems: dict[str, str]) -> None:
    for name, message in problems.items():
        form[name].errors = [message]


def _form_page(form: BusinessForm, business: Business | None) -> str:
    """Fill the address lists from the choices made so far, clearing choices that no longer fit."""
    locale = current_locale()
    provinces = addresses.provinces(locale)
    if form.province.data not in {place.code for place in provinces}:
        form.province.data = ""
    districts = addresses.districts(form.province.data or "", locale) if form.province.data else []
    if form.district.data not in {place.code for place in districts}:
        form.district.data = ""
    subdistricts = addresses.subdistricts(form.district.data or "", locale) if form.district.data else []
    if form.subdistrict.data not in {place.code for place in subdistricts}:
        form.subdistrict.data = ""
    postcodes = addresses.postcodes(form.subdistrict.data or "") if form.subdistrict.data else []
    if form.postcode.data not in postcodes:
        form.postcode.data = postcodes[0] if len(postcodes) == 1 else ""
    form.set_choices(provinces, districts, subdistricts, postcodes)
    return render_template("businesses/form.html", form=form, business=business)


@blueprint.get("/places")
def places() -> Response:
    """The address list under one choice, as JSON `[{"code": ..., "name": ...}]`, for the form's script.

    `?province=10` gives its districts, `?district=1001` its subdistricts,
    `?subdistrict=100101` its postcodes; names in the page's language.
    """
    locale = current_locale()
    if "province" in request.args:
        items = addresses.districts(request.args["province"], locale)
    elif "district" in request.args:
        items = addresses.subdistricts(request.args["district"], locale)
    elif "subdistrict" in request.args:
        items = [addresses.Place(code, code) for code in addresses.postcodes(request.args["subdistrict"])]
    else:
        items = []
    response = jsonify([{"code": item.code, "name": item.name} for item in items])
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
