"""Alembic environment for Flask-Migrate: runs inside the app context, on the app's engine."""

from __future__ import annotations

import logging
from typing import Any

from alembic import context
from flask import current_app

logger = logging.getLogger("alembic.env")
config = context.config
target_db = current_app.extensions["migrate"].db


def _engine() -> Any:
    return target_db.engine


def run_migrations_offline() -> None:
    """Emit SQL to standard output instead of running it (`bizportal db upgrade --sql`)."""
    url = _engine().url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection from the app's engine."""

    def skip_empty_revision(migration_context: Any, revision: Any, directives: list[Any]) -> None:
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    arguments = dict(current_app.extensions["migrate"].configure_args)
    arguments.setdefault("process_revision_directives", skip_empty_revision)
    with _engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **arguments)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
