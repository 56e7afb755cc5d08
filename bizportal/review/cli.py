"""`bizportal deadlines check`: mark overdue review tasks (from cron or the job queue)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from ..database import unit_of_work
from ..extensions import db
from . import services

deadlines = AppGroup("deadlines", help="Time limits of review tasks.")


@deadlines.command("check")
def check_command() -> None:
    """Run the engine's deadline check on every application in review; print what changed."""
    with unit_of_work(db.session()) as session:
        report = services.check_deadlines(session, dt.datetime.now(dt.UTC))
    click.echo(f"{report.applications} applications checked, {report.tasks_marked_overdue} tasks marked overdue")
