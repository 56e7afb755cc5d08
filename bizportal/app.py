"""The application factory: settings, extensions, listed blueprints, error pages and CLI."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from werkzeug.routing import IntegerConverter, Map

from . import errors, i18n
from .config import BIZPORTAL_ROOT, Settings, load_settings
from .database import configure_engine
from .extensions import csrf, db, migrate
from .migrations import MIGRATIONS_DIR

SETTINGS_KEYS = ("BIZPORTAL_ENV", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BIZPORTAL_WORKFLOWS_DIR",
                 "BIZPORTAL_FORMS_DIR", "BABEL_DEFAULT_LOCALE", "MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME",
                 "MAIL_PASSWORD", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_DEFAULT_SENDER", "BIZPORTAL_PROXY_HOPS",
                 "BIZPORTAL_API_RATE_LIMIT")
"""Keys of `config` that stand in for environment variables and are checked like them."""

TEMPLATES_DIR = BIZPORTAL_ROOT / "templates"
STATIC_DIR = BIZPORTAL_ROOT / "static"
LICENCE_TEMPLATES_DIR = TEMPLATES_DIR / "licences"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the bizportal Flask application.

    Settings come from the environment (see `config.py`). `config` overrides them:
    keys in `SETTINGS_KEYS` are read as if they were environment variables, and
    `INSTANCE_PATH` moves the instance folder; other keys go to `app.config` as-is.
    Raises `ConfigError` naming the variable when a setting is invalid.
    """
    overrides = dict(config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", BIZPORTAL_ROOT / "instance")).resolve()
    environ = dict(os.environ)
    for key in SETTINGS_KEYS:
        if key in overrides:
            value = overrides.pop(key)
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = str(value)
    settings = load_settings(environ, instance_path)
    with contextlib.suppress(OSError):  # a read-only instance folder is fine when the database is elsewhere
        instance_path.mkdir(parents=True, exist_ok=True)

    app = Flask("bizportal", template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR),
                instance_path=str(instance_path), instance_relative_config=False)
    app.config.update(settings.flask_config())
    app.config.update(overrides)
    app.extensions["bizportal.settings"] = settings
    app.url_map.converters["int"] = DatabaseIdConverter

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    i18n.init_app(app)
    csrf.init_app(app)
    _init_login(app)
    errors.register(app)
    _init_observability(app)
    app.jinja_env.globals["current_app"] = current_app  # base.html links to pages only when their blueprint exists
    _register_blueprints(app)
    _register_commands(app)
    return app


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in routes: at most 2**31 - 1, the largest PostgreSQL `integer`; a larger number gives 404.

    Without the cap, `/businesses/99999999999999999999` would reach the database and fail with a 500.
    """

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def settings_of(app: Flask) -> Settings:
    """The typed settings `app` was built with."""
    settings: Settings = app.extensions["bizportal.settings"]
    return settings


def _init_login(app: Flask) -> None:
    from .accounts.views import init_app

    init_app(app)


def _init_observability(app: Flask) -> None:
    from .ops import headers, logs, metrics

    logs.init_app(app, production=settings_of(app).production)
    metrics.init_app(app)
    headers.init_app(app, proxy_hops=settings_of(app).proxy_hops)


def _register_blueprints(app: Flask) -> None:
    from .accounts.views import blueprint as accounts
    from .accounts.views import dev_blueprint as development
    from .admin.views import blueprint as admin
    from .applications.views import blueprint as applications
    from .businesses.views import blueprint as businesses
    from .jobs.views import blueprint as admin_jobs
    from .licences.views import blueprint as licences
    from .ops.views import blueprint as ops
    from .permits.views import blueprint as permits
    from .review.views import blueprint as review
    from .webhooks.views import blueprint as admin_webhooks

    app.register_blueprint(ops)
    app.register_blueprint(permits)
    app.register_blueprint(accounts)
    app.register_blueprint(businesses)
    app.register_blueprint(applications)
    app.register_blueprint(review)
    app.register_blueprint(admin)
    app.register_blueprint(admin_jobs, name_prefix="admin", url_prefix="/admin/jobs")  # endpoints admin.jobs.*
    app.register_blueprint(admin_webhooks, name_prefix="admin", url_prefix="/admin/webhooks")  # admin.webhooks.*
    app.register_blueprint(admin_webhooks, name_prefix="review", url_prefix="/review/webhooks")  # an agency's own
    app.register_blueprint(licences)
    if not settings_of(app).production:
        app.register_blueprint(development)
    from . import api

    api.init_app(app)  # the JSON API under /api/v1, its token loading, problems and rate limits


def _register_commands(app: Flask) -> None:
    from .accounts.cli import users
    from .audit.cli import audit
    from .jobs.cli import jobs
    from .jobs.worker import worker_command
    from .permits.cli import workflows
    from .review.cli import deadlines

    app.cli.add_command(workflows)
    app.cli.add_command(jobs)
    app.cli.add_command(worker_command)
    app.cli.add_command(users)
    app.cli.add_command(audit)
    app.cli.add_command(deadlines)
    from .api.cli import tokens

    app.cli.add_command(tokens)
