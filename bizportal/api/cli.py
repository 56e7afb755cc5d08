"""`bizportal tokens ...`: create, list and revoke API tokens from the command line."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.services import normalize_email
from ..audit.services import record
from ..database import unit_of_work
from ..errors import BizportalError
from ..extensions import db
from .tokens import create_token, list_tokens, parse_expiry, revoke_token

tokens = AppGroup("tokens", help="Create, list and revoke API tokens.")


def _user(email: str) -> User:
    user = db.session().scalars(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    return user


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option("--expires", default=None, help="an end date (2027-01-31) or a number of days (30d); default never")
def create_command(email: str, name: str, expires: str | None) -> None:
    """Create a token acting as the user with EMAIL; its secret is printed once, on the last line."""
    now = dt.datetime.now(dt.UTC)
    try:
        with unit_of_work(db.session()) as session:
            user = _user(email)
            created = create_token(session, user, name, parse_expiry(expires, now), now)
            record(session, at=now, actor_id=None, action="api_token_created", subject_type="user",
                   subject_id=user.id, to_state="active", data={"via": "cli", "token_id": created.token.id,
                                                                 "name": created.token.name})
            token_id, expires_at = created.token.id, created.token.expires_at
    except BizportalError as error:
        with force_locale("en"):  # operators read the command line in English
            raise click.ClickException(str(error.message)) from None
    click.echo(f"created token {token_id} for {normalize_email(email)}"
               + (f", expires {expires_at.isoformat()}" if expires_at else ", never expires")
               + "; copy the secret now, it is not shown again:")
    click.echo(created.secret)


@tokens.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke the token with TOKEN_ID; requests with it are refused at once."""
    now = dt.datetime.now(dt.UTC)
    try:
        with unit_of_work(db.session()) as session:
            token = revoke_token(session, token_id, now)
            record(session, at=now, actor_id=None, action="api_token_revoked", subject_type="user",
                   subject_id=token.user_id, to_state="revoked", data={"via": "cli", "token_id": token.id})
    except BizportalError as error:
        with force_locale("en"):
            raise click.ClickException(str(error.message)) from None
    click.echo(f"revoked token {token_id}")


@tokens.command("list")
@click.argument("email", required=False)
def list_command(email: str | None) -> None:
    """List tokens (of the user with EMAIL when given): id, user, name, prefix, state, dates."""
    now = dt.datetime.now(dt.UTC)
    user = _user(email) if email else None
    for token in list_tokens(db.session(), user):
        state = ("revoked" if token.revoked_at else "expired" if token.expires_at and token.expires_at <= now
                 else "active")
        click.echo("\t".join([str(token.id), token.user.email, token.name, token.prefix + "…", state,
                              f"created {token.created_at:%Y-%m-%d}",
                              f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry",
                              f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at
                              else "never used"]))
