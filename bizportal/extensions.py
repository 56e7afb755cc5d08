"""Flask extensions, created unbound here and bound to an app by `create_app` via `init_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from .database import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
login_manager = LoginManager()
csrf = CSRFProtect()


def upgrade_database() -> None:
    """Bring the schema to the newest revision (`bizportal db upgrade`); needs an app context.

    Tests and the demo build their schema this way too, never with `create_all`,
    so the migrations are exercised on every run.
    """
    from flask_migrate import upgrade

    from .migrations import MIGRATIONS_DIR

    upgrade(directory=str(MIGRATIONS_DIR))
