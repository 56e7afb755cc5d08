"""The account's API tokens page (/account/tokens): list my tokens, create one (its secret shown once), revoke.

An ordinary page with cookie login and CSRF-protected POST forms, apart from the
bearer-only API blueprint. The new secret is rendered in the POST's answer and
kept nowhere else (not in the session, not in a flash), so reloading cannot show it again.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ..accounts.access import current_user, login_required
from ..audit.services import record
from ..database import transactional
from ..extensions import db
from .forms import RevokeForm, TokenForm
from .tokens import InvalidToken, create_token, list_tokens, parse_expiry, revoke_token

blueprint = Blueprint("api_tokens", __name__, url_prefix="/account/tokens")

def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@blueprint.route("", methods=["GET", "POST"])
@login_required
@transactional
def index() -> str | Response:
    """My tokens; a valid POST creates one and shows its secret once on the answer page."""
    session, user, now = db.session(), current_user(), _now()
    form = TokenForm()
    secret: str | None = None
    if form.validate_on_submit():
        try:
            created = create_token(session, user, form.name.data or "", parse_expiry(form.expires.data, now), now)
        except InvalidToken as error:
            form.name.errors = [str(error.message)]
        else:
            record(session, at=now, actor_id=user.id, action="api_token_created", subject_type="user",
                   subject_id=user.id, to_state="active", data={"via": "settings", "token_id": created.token.id,
                                                                 "name": created.token.name})
            secret = created.secret
            form = TokenForm(formdata=None)
    status = 422 if form.errors else 200
    page = render_template("api/tokens.html", form=form, revoke_form=RevokeForm(), secret=secret,
                           tokens=list_tokens(session, user), now=now)
    return Response(page, status=status, mimetype="text/html", headers={"Cache-Control": "no-store"})


@blueprint.post("/<int:token_id>/revoke")
@login_required
@transactional
def revoke(token_id: int) -> Response:
    """Revoke one of my tokens (another user's is 'not found'); requests with it are refused at once."""
    form = RevokeForm()
    if form.validate_on_submit():
        session, user, now = db.session(), current_user(), _now()
        token = revoke_token(session, token_id, now, owner=user)
        record(session, at=now, actor_id=user.id, action="api_token_revoked", subject_type="user",
               subject_id=user.id, to_state="revoked", data={"via": "settings", "token_id": token.id})
        flash(gettext("The token “%(name)s” has been revoked.", name=token.name), "success")
    return redirect(url_for("api_tokens.index"))
