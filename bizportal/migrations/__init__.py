"""Alembic migrations (Flask-Migrate), shipped inside the package; revisions are date-prefixed."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
