"""`bizportal users ...`: create accounts from the command line (officers and admins too)."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from ..audit.services import record
from ..database import unit_of_work
from ..errors import BizportalError
from ..extensions import db
from .models import Role, User
from .services import create_user, normalize_email

users = AppGroup("users", help="Create and list user accounts.")

DEMO_USERS = (
    ("demo@example.com", "demo-password", "สมชาย ใจดี", Role.ENTREPRENEUR, None),
    ("officer@example.com", "officer-password", "สมหญิง รักงาน", Role.OFFICER, "demo_health"),
    ("admin@example.com", "admin-password", "ผู้ดูแลระบบ", Role.ADMIN, None),
)
"""The demo's accounts (e-mail, password, name, role, agency), listed in the README; never in production."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.ENTREPRENEUR.value,
              show_default=True, help="what the user may do")
@click.option("--agency", "agency_id", default=None, help="the agency id an officer belongs to (agencies.yaml)")
@click.option("--name", default=None, help="the user's name (default: the part of EMAIL before @)")
@click.option("--locale", type=click.Choice(["th", "en"]), default="th", show_default=True,
              help="language of the user's e-mails")
@click.option("--lead", "agency_lead", is_flag=True, help="an officer who may assign the agency's tasks")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="the password (asked for when not given)")
def create_command(email: str, role: str, agency_id: str | None, name: str | None, locale: str,
                   agency_lead: bool, password: str) -> None:
    """Create an account; officers need --agency."""
    try:
        with unit_of_work(db.session()) as session:
            now = dt.datetime.now(dt.UTC)
            user = create_user(session, email=email, password=password, name=name or email.split("@")[0],
                               role=Role(role), agency_id=agency_id, locale=locale, now=now,
                               agency_lead=agency_lead)
            record(session, at=now, actor_id=None, action="user_created", subject_type="user", subject_id=user.id,
                   to_state="active", data={"via": "cli", "email": user.email, "role": user.role.value,
                                            "agency": user.agency_id, "agency_lead": user.is_agency_lead})
            user_id = user.id
    except BizportalError as error:
        with force_locale("en"):  # operators read the command line in English, like its other messages
            raise click.ClickException(str(error.message)) from None
    click.echo(f"created user {user_id}: {normalize_email(email)} ({role}"
               + (f", agency {agency_id}" if agency_id else "") + (", agency lead" if agency_lead else "") + ")")


@users.command("list")
def list_command() -> None:
    """List accounts: id, e-mail, role, agency."""
    for user in db.session().scalars(select(User).order_by(User.id)):
        click.echo(f"{user.id:>5}  {user.email:<40} {user.role.value:<12} {user.agency_id or ''}")


def create_demo_users() -> None:
    """Create the demo accounts that do not exist yet and print their logins (not in production)."""
    if current_app.extensions["bizportal.settings"].production:
        click.echo("demo accounts are not created in production")
        return
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(db.session()) as session:
        for email, password, name, role, agency_id in DEMO_USERS:
            if session.scalar(select(User.id).where(User.email == email)) is None:
                create_user(session, email=email, password=password, name=name, role=role, agency_id=agency_id,
                            now=now)
    for email, password, _name, role, _agency_id in DEMO_USERS:
        click.echo(f"demo {role.value:<12} {email} / {password}")
