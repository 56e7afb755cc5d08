"""Who may open a page: `login_required` (Flask-Login), `role_required`, and ownership checks.

    @blueprint.get("/queue")
    @role_required(Role.OFFICER, Role.ADMIN)
    def queue() -> str: ...

    business = owned_or_404(db.session.get(Business, business_id), current_user())
    ensure_owner(application.applicant_id, current_user())

Another user's object gives 404, never 403, so its existence is not revealed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

import flask_login
from flask import current_app
from flask_login import current_user as _current_user

from ..errors import PermissionDenied
from .models import Role, User
from .services import ensure_owner, owned_or_404

__all__ = ["current_user", "ensure_owner", "login_required", "owned_or_404", "role_required"]

P = ParamSpec("P")
R = TypeVar("R")


def current_user() -> User:
    """The logged-in user; only for views already behind `login_required` or `role_required`."""
    user = _current_user._get_current_object()  # the real object, so mypy and SQLAlchemy see a User
    if not isinstance(user, User):
        raise PermissionDenied()
    return user


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Flask-Login's `login_required`, typed: anonymous visitors are sent to the login page."""
    return cast(Callable[P, R], flask_login.login_required(view))


def role_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Let only logged-in users with one of `roles` in; others go to the login page or get a 403 page."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _current_user.is_authenticated:
                response: R = current_app.login_manager.unauthorized()  # type: ignore[attr-defined]  # set by init_app
                return response
            if _current_user.role not in roles:
                raise PermissionDenied()
            return view(*args, **kwargs)

        return wrapper

    return decorate
