"""Admin console pages for webhooks (admins only): subscriptions, their secrets and their delivery log.

Registered under the admin blueprint's name (`admin.webhooks.*`, at /admin/webhooks), so the authorization
matrix covers it with the rest of the console. Ids travel in the query string or the form, not the path.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..admin.services import agency_choices, list_agencies
from ..database import transactional
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from ..i18n import current_locale, gettext
from . import services
from .forms import EVENT_LABELS, ActionForm, SubscriptionForm
from .models import WebhookSubscription

blueprint = Blueprint("webhooks", __name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _id(value: str | None) -> int | None:
    """A positive database id from the query or form, else None (the view says so; never a 500)."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def _not_found() -> Response:
    flash(gettext("That webhook does not exist."), "error")
    return redirect(url_for("admin.webhooks.index"))


def _form(subscription: WebhookSubscription | None = None) -> SubscriptionForm:
    data = None
    if subscription is not None:
        data = {"url": subscription.url, "description": subscription.description, "events": subscription.events,
                "agency_id": subscription.agency_id or "", "active": subscription.active,
                "allow_private_target": subscription.allow_private_target}
    form = SubscriptionForm(data=data) if request.method == "GET" else SubscriptionForm()
    form.agency_id.choices = [("", gettext("All agencies")),
                              *agency_choices(list_agencies(db.session()), current_locale())]
    return form


def _input(form: SubscriptionForm) -> services.SubscriptionInput:
    return services.SubscriptionInput(url=form.url.data or "", description=form.description.data or "",
                                      events=tuple(form.events.data or ()), agency_id=form.agency_id.data or None,
                                      active=bool(form.active.data),
                                      allow_private_target=bool(form.allow_private_target.data))


def _show_problems(form: SubscriptionForm, invalid: services.SubscriptionInvalid) -> None:
    for name, message in invalid.problems:
        field = form[name]
        field.errors = [*field.errors, message]


def _secret_page(subscription: WebhookSubscription, secret: str, *, created: bool) -> Response:
    """The page that shows a secret once; never stored by a browser or proxy cache."""
    response = make_response(render_template("admin/webhooks_secret.html", subscription=subscription, secret=secret,
                                             created=created))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/")
@role_required(Role.ADMIN)
def index() -> str:
    """Every subscription with its events, scope and state."""
    return render_template("admin/webhooks.html", subscriptions=services.list_subscriptions(db.session()),
                           event_labels=EVENT_LABELS)


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@transactional
def new() -> Response | tuple[str, int]:
    """Create a subscription; its secret is shown on the page that answers, once."""
    form = _form()
    if form.validate_on_submit():
        try:
            subscription, secret = services.create_subscription(db.session(), current_user(), _input(form), _now())
        except services.SubscriptionInvalid as invalid:
            _show_problems(form, invalid)
        else:
            return _secret_page(subscription, secret, created=True)
    return render_template("admin/webhooks_form.html", form=form, subscription=None, deliveries=[],
                           action_form=ActionForm()), 422 if request.method == "POST" else 200


@blueprint.route("/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@transactional
def edit() -> str | tuple[str, int] | Response:
    """Change a subscription; below, its latest deliveries with their answers and a Retry button."""
    session = db.session()
    try:
        subscription = services.get_subscription(session, _id(request.args.get("id")))
    except NotFound:
        return _not_found()
    form = _form(subscription)
    if form.validate_on_submit():
        try:
            services.update_subscription(session, current_user(), subscription.id, _input(form), _now())
        except services.SubscriptionInvalid as invalid:  # checked before anything changed
            _show_problems(form, invalid)
        else:
            flash(gettext("Webhook saved."), "success")
            return redirect(url_for("admin.webhooks.edit", id=subscription.id))
    return render_template("admin/webhooks_form.html", form=form, subscription=subscription,
                           deliveries=services.recent_deliveries(session, subscription.id),
                           event_labels=EVENT_LABELS, action_form=ActionForm()), \
        422 if request.method == "POST" else 200


@blueprint.post("/rotate")
@role_required(Role.ADMIN)
@transactional
def rotate() -> Response:
    """Give the subscription a new secret, shown once; the old one stops working at once."""
    form = ActionForm()
    subscription_id = _id(request.form.get("subscription_id"))
    if subscription_id is None:
        return _not_found()
    if not form.validate_on_submit():
        return redirect(url_for("admin.webhooks.edit", id=subscription_id))
    session = db.session()
    try:
        secret = services.rotate_secret(session, current_user(), subscription_id, _now())
    except NotFound:
        return _not_found()
    return _secret_page(services.get_subscription(session, subscription_id), secret, created=False)


@blueprint.post("/retry")
@role_required(Role.ADMIN)
@transactional
def retry() -> Response:
    """Send a failed delivery again, then show its subscription."""
    form = ActionForm()
    delivery_id = _id(request.form.get("delivery_id"))
    subscription_id = _id(request.form.get("subscription_id"))
    if subscription_id is None:
        return _not_found()
    if delivery_id is None:
        flash(gettext("That delivery is not waiting for a retry."), "error")
    elif form.validate_on_submit():
        try:
            services.retry_delivery(db.session(), current_user(), delivery_id, _now())
        except (NotFound, InvalidTransition):
            flash(gettext("That delivery is not waiting for a retry."), "error")
        else:
            flash(gettext("Delivery %(id)s will be sent again.", id=delivery_id), "success")
    return redirect(url_for("admin.webhooks.edit", id=subscription_id))
