"""`bizportal audit verify`: recompute the hash chain and name the first tampered entry."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..extensions import db
from . import services

audit = AppGroup("audit", help="The audit log.")


@audit.command("verify")
def verify_command() -> None:
    """Check every entry's hash and link; exit 1 at the first tampered entry."""
    result = services.verify(db.session())
    if not result.ok:
        click.echo(f"TAMPERED: audit entry {result.broken_entry_id} ({result.problem}); "
                   f"{result.checked} entries before it are intact", err=True)
        raise SystemExit(1)
    click.echo(f"OK: {result.checked} entries verified")
