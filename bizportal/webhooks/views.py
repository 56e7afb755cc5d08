"""Webhook pages: subscriptions, their secrets and their delivery log.

The blueprint is registered twice: for admins as `admin.webhooks.*` at /admin/webhooks (every agency, and
private targets may be allowed), and for agencies as `review.webhooks.*` at /review/webhooks, where an
officer sees the subscriptions scoped to their own agency and its lead creates and changes them (never a
private target). Both are in the authorization matrix. Ids travel in the query string or the form.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..admin.services import agency_choices, list_agencies
from ..database import transactional
from ..errors import InvalidTransition, NotFound, PermissionDenied
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


@dataclass(frozen=True)
class Scope:
    """What the user may do through the blueprint the request came in by."""

    agency_id: str | None
    """None: every agency (the admin console); else only subscriptions scoped to this agency."""
    may_change: bool
    may_allow_private: bool


def _scope() -> Scope:
    """Admins in the console; on the agency pages, officers of the agency (changes by its lead only)."""
    user = current_user()
    if (request.blueprint or "").startswith("admin."):
        if not user.has_role(Role.ADMIN):
            raise PermissionDenied()
        return Scope(None, True, True)
    if user.agency_id is None:
        raise PermissionDenied()
    return Scope(user.agency_id, user.is_agency_lead, False)


def _agency_view(view: Callable[[Scope], ResponseReturnValue]) -> Callable[[], ResponseReturnValue]:
    """Admins opening the agency pages are sent to the console, which shows every agency."""

    @functools.wraps(view)
    def wrapper() -> ResponseReturnValue:
        if not (request.blueprint or "").startswith("admin.") and current_user().has_role(Role.ADMIN):
            return redirect(url_for("admin.webhooks.index"))
        return view(_scope())

    return wrapper


def _require_change(scope: Scope) -> None:
    if not scope.may_change:
        raise PermissionDenied(_l("Only your agency's lead can change its webhooks."))


def _subscription_in_scope(scope: Scope, subscription_id: int | None) -> WebhookSubscription:
    subscription = services.get_subscription(db.session(), subscription_id)
    if scope.agency_id is not None and subscription.agency_id != scope.agency_id:
        raise NotFound()
    return subscription


def _not_found() -> Response:
    flash(gettext("That webhook does not exist."), "error")
    return redirect(url_for(f"{request.blueprint}.index"))


def _form(scope: Scope, subscription: WebhookSubscription | None = None) -> SubscriptionForm:
    data = None
    if subscription is not None:
        data = {"url": subscription.url, "description": subscription.description, "events": subscription.events,
                "agency_id": subscription.agency_id or "", "active": subscription.active,
                "allow_private_target": subscription.allow_private_target}
    form = SubscriptionForm(data=data) if request.method == "GET" else SubscriptionForm()
    choices = agency_choices(list_agencies(db.session()), current_locale())
    if scope.agency_id is None:
        form.agency_id.choices = [("", gettext("All agencies")), *choices]
    else:
        form.agency_id.choices = [choice for choice in choices if choice[0] == scope.agency_id]
        if request.method == "GET":
            form.agency_id.data = scope.agency_id
    return form


def _input(form: SubscriptionForm, scope: Scope,
           subscription: WebhookSubscription | None = None) -> services.SubscriptionInput:
    if scope.may_allow_private:
        allow_private = bool(form.allow_private_target.data)
    else:  # an agency lead keeps what an admin decided, and cannot grant it
        allow_private = subscription.allow_private_target if subscription is not None else False
    return services.SubscriptionInput(url=form.url.data or "", description=form.description.data or "",
                                      events=tuple(form.events.data or ()),
                                      agency_id=scope.agency_id or form.agency_id.data or None,
                                      active=bool(form.active.data), allow_private_target=allow_private)


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
@role_required(Role.ADMIN, Role.OFFICER)
@_agency_view
def index(scope: Scope) -> str:
    """Every subscription (of the agency) with its events, scope and state."""
    return render_template("admin/webhooks.html", subscriptions=services.list_subscriptions(db.session(),
                                                                                        scope.agency_id),
                           event_labels=EVENT_LABELS, may_change=scope.may_change)


@blueprint.route("/new", methods=["GET", "POST"])
@role_required(Role.ADMIN, Role.OFFICER)
@_agency_view
@transactional
def new(scope: Scope) -> Response | tuple[str, int]:
    """Create a subscription; its secret is shown on the page that answers, once."""
    if request.method == "GET" and not scope.may_change:
        flash(gettext("Only your agency's lead can change its webhooks."), "error")
        return redirect(url_for(f"{request.blueprint}.index"))
    _require_change(scope)
    form = _form(scope)
    if form.validate_on_submit():
        try:
            subscription, secret = services.create_subscription(db.session(), current_user(), _input(form, scope),
                                                                 _now())
        except services.SubscriptionInvalid as invalid:
            _show_problems(form, invalid)
        else:
            return _secret_page(subscription, secret, created=True)
    return render_template("admin/webhooks_form.html", form=form, subscription=None, deliveries=[],
                           action_form=ActionForm(), may_change=True, may_allow_private=scope.may_allow_private), \
        422 if request.method == "POST" else 200


@blueprint.route("/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN, Role.OFFICER)
@_agency_view
@transactional
def edit(scope: Scope) -> str | tuple[str, int] | Response:
    """Change a subscription; below, its latest deliveries with their answers and a Retry button."""
    session = db.session()
    try:
        subscription = _subscription_in_scope(scope, _id(request.args.get("id")))
    except NotFound:
        return _not_found()
    if request.method == "POST":
        _require_change(scope)
    form = _form(scope, subscription)
    if form.validate_on_submit():
        try:
            services.update_subscription(session, current_user(), subscription.id, _input(form, scope, subscription),
                                         _now())
        except services.SubscriptionInvalid as invalid:  # checked before anything changed
            _show_problems(form, invalid)
        else:
            flash(gettext("Webhook saved."), "success")
            return redirect(url_for(f"{request.blueprint}.edit", id=subscription.id))
    return render_template("admin/webhooks_form.html", form=form, subscription=subscription,
                           deliveries=services.recent_deliveries(session, subscription.id),
                           event_labels=EVENT_LABELS, action_form=ActionForm(), may_change=scope.may_change,
                           may_allow_private=scope.may_allow_private), \
        422 if request.method == "POST" else 200


@blueprint.post("/rotate")
@role_required(Role.ADMIN, Role.OFFICER)
@_agency_view
@transactional
def rotate(scope: Scope) -> Response:
    """Give the subscription a new secret, shown once; the old one stops working at once."""
    _require_change(scope)
    form = ActionForm()
    subscription_id = _id(request.form.get("subscription_id"))
    if subscription_id is None:
        return _not_found()
    if not form.validate_on_submit():
        return redirect(url_for(f"{request.blueprint}.edit", id=subscription_id))
    session = db.session()
    try:
        _subscription_in_scope(scope, subscription_id)
        secret = services.rotate_secret(session, current_user(), subscription_id, _now())
    except NotFound:
        return _not_found()
    return _secret_page(services.get_subscription(session, subscription_id), secret, created=False)


@blueprint.post("/retry")
@role_required(Role.ADMIN, Role.OFFICER)
@_agency_view
@transactional
def retry(scope: Scope) -> Response:
    """Send a failed delivery again, then show its subscription."""
    _require_change(scope)
    form = ActionForm()
    delivery_id = _id(request.form.get("delivery_id"))
    subscription_id = _id(request.form.get("subscription_id"))
    if subscription_id is None:
        return _not_found()
    try:
        _subscription_in_scope(scope, subscription_id)
    except NotFound:
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
    return redirect(url_for(f"{request.blueprint}.edit", id=subscription_id))
