"""`bizportal jobs ...`: reconcile the outbox with Redis, list and retry jobs."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from ..database import unit_of_work
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from . import services

jobs = AppGroup("jobs", help="Background jobs: reconcile, list, retry.")


@jobs.command("reconcile")
def reconcile_command() -> None:
    """Enqueue again every due job Redis does not hold (run it from cron, e.g. every minute)."""
    try:
        report = services.reconcile(db.session(), dt.datetime.now(dt.UTC))
    except services.RedisUnavailable as error:
        raise click.ClickException(f"Redis does not answer ({error}); nothing was handed on") from None
    click.echo(f"{report.due} due, {report.dispatched} handed on, {report.already_queued} already queued")


@jobs.command("ping")
def ping_command() -> None:
    """Schedule a no-op job (check that a worker takes jobs)."""
    with unit_of_work(db.session()) as session:
        job = services.schedule(session, "jobs.ping", {}, dt.datetime.now(dt.UTC))
        job_id = job.id
    click.echo(f"scheduled job {job_id}")


@jobs.command("retry")
@click.argument("job_id", type=int)
def retry_command(job_id: int) -> None:
    """Give a failed job a fresh set of attempts (as the admin page's Retry button does)."""
    try:
        with unit_of_work(db.session()) as session:
            job = services.retry(session, job_id, dt.datetime.now(dt.UTC))
            status = job.status.value
    except NotFound:
        raise click.ClickException(f"there is no job {job_id}") from None
    except InvalidTransition as error:
        with force_locale("en"):  # operators read the command line in English, like its other messages
            raise click.ClickException(f"job {job_id}: {error.message}") from None
    click.echo(f"job {job_id}: {status}")
