"""Account pages: register, log in and out, change and reset the password; staff lists; the dev inbox."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user as _current_user
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from ..database import transactional
from ..extensions import db, login_manager
from ..i18n import current_locale, gettext
from . import mail, services
from .access import current_user, login_required, role_required
from .forms import ChangePasswordForm, LoginForm, LogoutForm, RegisterForm, ResetPasswordForm, ResetRequestForm
from .models import Role, User

blueprint = Blueprint("accounts", __name__, url_prefix="/accounts")
dev_blueprint = Blueprint("dev", __name__, url_prefix="/dev")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _safe_next(target: str | None) -> str | None:
    """A `next` address that stays on this site (a path, not `//elsewhere` or `https://...`)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _after_login() -> Response:
    target = _safe_next(request.args.get("next"))
    return redirect(target or url_for("businesses.index"))


@blueprint.route("/register", methods=["GET", "POST"])
@transactional
def register() -> str | Response:
    """Create an entrepreneur's account, then log in."""
    if _current_user.is_authenticated:
        return redirect(url_for("businesses.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register(db.session(), email=form.email.data or "", password=form.password.data or "",
                                     name=form.name.data or "", locale=current_locale(), now=_now())
        except services.EmailTaken as error:
            form.email.errors.append(str(error.message))
        except services.InvalidAccount as error:
            form.email.errors.append(str(error.message))
        else:
            login_user(user)
            flash(gettext("Welcome, %(name)s. Your account is ready.", name=user.name), "success")
            return _after_login()
    return render_template("accounts/register.html", form=form)


@blueprint.route("/login", methods=["GET", "POST"])
@transactional
def login() -> tuple[str, int] | Response:
    """Log in with e-mail and password; failures are counted and, past a limit, refused for a while."""
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = services.authenticate(db.session(), email=form.email.data or "", password=form.password.data or "",
                                       ip_address=request.remote_addr or "unknown", locale=current_locale(),
                                       now=_now())
        if result.user is not None:
            login_user(result.user)
            return _after_login()
        if result.throttled:
            status = 429
            problem = gettext("Too many failed attempts. For your safety, please wait %(minutes)d minutes and "
                              "try again, or reset your password.", minutes=result.retry_after_minutes)
        else:
            problem = gettext("The e-mail address or password is not correct.")
        form.password.errors = [problem]
    return render_template("accounts/login.html", form=form), status


@blueprint.post("/logout")
@login_required
@transactional
def logout() -> Response:
    """End this session and every other session of the user (copied cookies included)."""
    form = LogoutForm()
    if not form.validate_on_submit():
        abort(400)
    services.end_sessions(db.session(), current_user())
    logout_user()
    flash(gettext("You have logged out."), "success")
    return redirect(url_for("permits.catalogue"))


@blueprint.route("/password", methods=["GET", "POST"])
@login_required
@transactional
def change_password() -> str | Response:
    """Change the password; every other session of the user ends, this one goes on."""
    form = ChangePasswordForm()
    user = current_user()
    if form.validate_on_submit():
        try:
            services.change_password(db.session(), user, current_password=form.current_password.data or "",
                                     new_password=form.new_password.data or "")
        except services.WrongPassword as error:
            form.current_password.errors = [str(error.message)]
        except services.InvalidAccount as error:
            form.new_password.errors = [str(error.message)]
        else:
            login_user(user)
            flash(gettext("Your password has been changed. Other devices have been logged out."), "success")
            return redirect(url_for("accounts.change_password"))
    return render_template("accounts/change_password.html", form=form, user=user)


@blueprint.route("/password-reset", methods=["GET", "POST"])
@transactional
def request_reset() -> str | Response:
    """Ask for a reset link by e-mail; the answer is the same whether or not the account exists."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(
            db.session(), email=form.email.data or "", secret_key=str(current_app.secret_key),
            reset_url=lambda token: url_for("accounts.reset_password", token=token, _external=True), now=_now())
        flash(gettext("If an account uses this address, we have sent it a link to choose a new password. "
                      "The link works for one hour."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/request_reset.html", form=form)


@blueprint.route("/password-reset/<token>", methods=["GET", "POST"])
@transactional
def reset_password(token: str) -> str | Response:
    """Choose a new password from a reset link; the link works once, for one hour."""
    session = db.session()
    services.user_for_reset_token(session, token, str(current_app.secret_key), _now())
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(session, token=token, new_password=form.new_password.data or "",
                                    secret_key=str(current_app.secret_key), now=_now())
        except services.InvalidAccount as error:
            form.new_password.errors = [str(error.message)]
        else:
            logout_user()
            flash(gettext("Your password has been changed. Please log in with the new password."), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@blueprint.get("/users")
@role_required(Role.ADMIN)
def users() -> str:
    """Every account with its role and agency (admins only)."""
    return render_template("accounts/users.html", users=services.list_users(db.session()))


@blueprint.get("/agency")
@role_required(Role.OFFICER)
def agency() -> str:
    """The officer's agency and its officers."""
    session, user = db.session(), current_user()
    agency = services.agency_of(session, user)
    officers = services.agency_officers(session, agency.id) if agency is not None else []
    return render_template("accounts/agency.html", agency=agency, officers=officers)


@dev_blueprint.get("/inbox")
def inbox() -> str:
    """The e-mails the portal would have sent (development and testing only; never registered in production)."""
    return render_template("accounts/inbox.html", emails=mail.recent_emails(db.session()))


def _load_user(identity: str) -> User | None:
    return services.load_user(db.session(), identity)


def init_app(app: Flask) -> None:
    """Set up Flask-Login: who is logged in comes from the session identity, checked on every request."""
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.localize_callback = str  # translates the lazy message when it is flashed
    login_manager.login_message_category = "info"

