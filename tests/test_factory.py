"""The application factory and its settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from bizportal.app import create_app
from bizportal.config import BIZPORTAL_ROOT, ConfigError, load_settings
from bizportal.errors import NotFound

BIZPORTAL_COMMAND = Path(sys.executable).with_name("bizportal")


def test_defaults_need_nothing(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path / "instance")
    assert settings.environment == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'bizportal.sqlite3'}"
    assert settings.redis_url is None
    assert settings.default_locale == "th"
    assert settings.workflows_dir == BIZPORTAL_ROOT / "workflows"
    assert settings.forms_dir == BIZPORTAL_ROOT / "forms"


def test_development_secret_key_is_random_and_kept_in_the_instance_folder(tmp_path: Path) -> None:
    first = load_settings({}, tmp_path / "one").secret_key
    again = load_settings({}, tmp_path / "one").secret_key
    other = load_settings({}, tmp_path / "two").secret_key
    assert first == again
    assert first != other
    assert len(first) >= 32
    key_file = tmp_path / "one" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_production_requires_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"BIZPORTAL_ENV": "production"}, tmp_path)
    assert error.value.variable == "SECRET_KEY"
    assert "SECRET_KEY" in str(error.value)
    assert not (tmp_path / "secret_key").exists()


def test_production_accepts_a_long_secret_key(tmp_path: Path) -> None:
    settings = load_settings({"BIZPORTAL_ENV": "production", "SECRET_KEY": "k" * 40}, tmp_path)
    assert settings.production
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(("variable", "value"), [
    ("BIZPORTAL_ENV", "staging"),
    ("DATABASE_URL", "not a database url"),
    ("DATABASE_URL", "mysql://user@host/db"),
    ("DATABASE_URL", "postgres://user@host/db"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("BIZPORTAL_WORKFLOWS_DIR", "/no/such/folder"),
    ("BIZPORTAL_FORMS_DIR", "/no/such/folder"),
    ("BABEL_DEFAULT_LOCALE", "fr"),
])
def test_bad_value_names_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value}, tmp_path)
    assert error.value.variable == variable
    assert str(error.value).startswith(f"{variable}: ")


def test_create_app_applies_overrides(tmp_path: Path) -> None:
    app = create_app({"BIZPORTAL_ENV": "testing", "INSTANCE_PATH": tmp_path,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "EXTRA": 1})
    assert isinstance(app, Flask)
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.sqlite3")
    assert app.config["EXTRA"] == 1
    assert Path(app.template_folder or "") == BIZPORTAL_ROOT / "templates"
    assert app.instance_path == str(tmp_path.resolve())


def test_create_app_stops_on_a_bad_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        create_app({"INSTANCE_PATH": tmp_path, "REDIS_URL": "localhost:6379"})


def _run_command(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"BIZPORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    env.update(environment)
    return subprocess.run([str(BIZPORTAL_COMMAND), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_command_stops_on_missing_production_secret_without_traceback(tmp_path: Path) -> None:
    result = _run_command("workflows", "validate", BIZPORTAL_ENV="production",
                          DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.returncode == 1
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_command_names_a_bad_database_url(tmp_path: Path) -> None:
    result = _run_command("workflows", "list", DATABASE_URL="nonsense://")
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def failing_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app with routes that fail, to see what users get."""
    directory = tmp_path_factory.mktemp("failing")
    app = create_app({"BIZPORTAL_ENV": "testing", "INSTANCE_PATH": directory,
                      "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}"})

    @app.get("/boom")
    @app.get("/api/boom")
    def boom() -> str:
        raise RuntimeError("secret internals: do not show")

    @app.get("/api/permits/missing")
    def missing() -> str:
        raise NotFound("There is no permit type “missing”.")

    return app


def test_unexpected_error_shows_a_friendly_page_without_traceback(failing_app: Flask) -> None:
    response = failing_app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "เกิดข้อผิดพลาด" in body
    assert "secret internals" not in body
    assert "Traceback" not in body
    english = failing_app.test_client().get("/boom?lang=en").get_data(as_text=True)
    assert "Something went wrong" in english


def test_api_errors_are_problem_json(failing_app: Flask) -> None:
    client = failing_app.test_client()
    response = client.get("/api/boom?lang=en")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["title"] == "Something went wrong"
    assert "secret internals" not in response.get_data(as_text=True)

    missing = client.get("/api/permits/missing?lang=en")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert missing.get_json() == {"type": "about:blank", "title": "Page not found", "status": 404,
                                  "detail": "There is no permit type “missing”."}

    unknown = client.get("/api/nothing-here")
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
