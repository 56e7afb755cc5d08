"""The `bizportal` command: Flask's commands (run, shell, routes, db) plus ours.

Domains add their groups from their own cli.py (`bizportal workflows ...`);
`bizportal demo` prepares a fresh database and serves the portal.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from werkzeug.serving import run_simple

from .app import create_app
from .config import ConfigError
from .extensions import upgrade_database
from .licences.cli import licences


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(f"configuration error: {error}") from None


cli = FlaskGroup(name="bizportal", create_app=_create_app,
                 help="bizportal: the one-stop business licence portal.")
cli.add_command(licences)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5000, show_default=True, type=int, help="port to listen on")
@click.option("--no-serve", is_flag=True, help="prepare the database and stop")
@with_appcontext
def demo(host: str, port: int, no_serve: bool) -> None:
    """Upgrade the database, load the seed permits and demo accounts, and serve the portal."""
    from .accounts.cli import create_demo_users
    from .permits.cli import validate_and_load

    upgrade_database()
    click.echo("database is up to date")
    if not validate_and_load([], published_by="demo"):
        raise SystemExit(1)
    create_demo_users()
    if no_serve:
        return
    click.echo(f"serving the portal on http://{host}:{port}/ (press Ctrl+C to stop)")
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # proxy to the real app
    run_simple(host, port, app, threaded=True,
               use_reloader=False, use_debugger=False)


def main() -> None:
    """Entry point of the `bizportal` console script."""
    cli.main(prog_name="bizportal")
