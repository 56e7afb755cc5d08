"""Typed settings read from environment variables, checked once at startup.

This is the only module that reads the environment. Nothing set gives a working
demo: a SQLite file in the instance folder, jobs run in-process, Thai pages. A
bad value raises `ConfigError` naming the variable, so a deployment typo stops
the process at once instead of failing later.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

BIZPORTAL_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: parent of the package, holding templates/, static/, workflows/ and forms/."""

Environment = Literal["development", "production", "testing"]
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production", "testing")
LOCALES = ("th", "en")
SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32
T = TypeVar("T", bound=str)
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"
"""Where the portal is reached; printed in every licence's QR code, so a deployment must set its own."""
MAX_REQUEST_BYTES = 51 * 1024 * 1024
"""Largest request accepted (413 otherwise): one upload of the largest size a checklist item allows, 50 MB."""


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class MailSettings:
    """Where e-mail goes: an SMTP server, or (no `MAIL_SERVER`) the log and the development inbox."""

    server: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    use_tls: bool = True
    use_ssl: bool = False
    default_sender: str = "bizportal <no-reply@localhost>"

    @property
    def configured(self) -> bool:
        """True when mail is really sent by SMTP."""
        return self.server is not None


@dataclass(frozen=True)
class Settings:
    """Every setting the application reads, with its type."""

    environment: Environment
    instance_path: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    workflows_dir: Path
    forms_dir: Path
    default_locale: str
    mail: MailSettings = field(default_factory=MailSettings)
    licence_signing_key: Path | None = None
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    proxy_hops: int = 0
    api_rate_limit: str = "600/minute"

    @property
    def production(self) -> bool:
        """True when running as a deployment, where stricter rules apply."""
        return self.environment == "production"

    def flask_config(self) -> dict[str, object]:
        """The Flask and extension configuration keys derived from these settings."""
        return {
            "ENV_NAME": self.environment,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "REDIS_URL": self.redis_url,
            "BIZPORTAL_WORKFLOWS_DIR": self.workflows_dir,
            "BIZPORTAL_FORMS_DIR": self.forms_dir,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_DEFAULT_TIMEZONE": "Asia/Bangkok",
            "MAX_CONTENT_LENGTH": MAX_REQUEST_BYTES,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.production,
            "TESTING": self.environment == "testing",
            "LICENCE_SIGNING_KEY": str(self.licence_signing_key) if self.licence_signing_key else None,
            "PUBLIC_BASE_URL": self.public_base_url,
            "BIZPORTAL_API_RATE_LIMIT": self.api_rate_limit,
        }


def load_settings(environ: Mapping[str, str], instance_path: Path) -> Settings:
    """Build `Settings` from `environ` (normally `os.environ`).

    Raises `ConfigError` for the first variable with a bad value.
    """
    environment = _choice(environ, "BIZPORTAL_ENV", ENVIRONMENTS, "development")
    return Settings(
        environment=environment,
        instance_path=instance_path,
        database_url=_database_url(environ, instance_path),
        redis_url=_redis_url(environ),
        secret_key=_secret_key(environ, environment, instance_path),
        workflows_dir=_directory(environ, "BIZPORTAL_WORKFLOWS_DIR", BIZPORTAL_ROOT / "workflows"),
        forms_dir=_directory(environ, "BIZPORTAL_FORMS_DIR", BIZPORTAL_ROOT / "forms"),
        default_locale=_choice(environ, "BABEL_DEFAULT_LOCALE", LOCALES, "th"),
        mail=_mail(environ),
        licence_signing_key=_signing_key_file(environ),
        public_base_url=_public_base_url(environ),
        proxy_hops=_integer(environ, "BIZPORTAL_PROXY_HOPS", 0, 0, 5),
        api_rate_limit=_rate_limit(environ),
    )


def _value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[T, ...], default: T) -> T:
    value = _value(environ, name)
    if value is None:
        return default
    for candidate in allowed:
        if value == candidate:
            return candidate
    raise ConfigError(name, f"{value!r} is not allowed; use one of {', '.join(allowed)}")


def _database_url(environ: Mapping[str, str], instance_path: Path) -> str:
    value = _value(environ, "DATABASE_URL")
    if value is None:
        return f"sqlite:///{instance_path / 'bizportal.sqlite3'}"
    if value.startswith("postgres://"):
        raise ConfigError("DATABASE_URL", "use the postgresql+psycopg:// scheme, not postgres://")
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("DATABASE_URL", "is not a database URL (e.g. postgresql+psycopg://user@host/db)") \
            from None
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError("DATABASE_URL", f"database {url.get_backend_name()!r} is not supported; "
                          "use postgresql+psycopg:// or sqlite:///")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ConfigError("DATABASE_URL", "use the psycopg driver: postgresql+psycopg://...")
    return value


def _redis_url(environ: Mapping[str, str]) -> str | None:
    value = _value(environ, "REDIS_URL")
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL", "must start with redis://, rediss:// or unix://")
    return value


def _secret_key(environ: Mapping[str, str], environment: Environment, instance_path: Path) -> str:
    value = _value(environ, "SECRET_KEY")
    if value is not None:
        if environment == "production" and len(value) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError("SECRET_KEY", f"is too short; use at least {MIN_SECRET_KEY_LENGTH} random "
                          "characters, e.g. `python -c 'import secrets; print(secrets.token_hex())'`")
        return value
    if environment == "production":
        raise ConfigError("SECRET_KEY", "is required when BIZPORTAL_ENV=production")
    return _instance_secret_key(instance_path)


def _instance_secret_key(instance_path: Path) -> str:
    """A random key kept in the instance folder, so sessions survive a restart of the demo."""
    path = instance_path / SECRET_KEY_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("SECRET_KEY", f"is not set and {path} cannot be read ({error})") from None
    if len(existing) >= MIN_SECRET_KEY_LENGTH:
        return existing
    key = secrets.token_hex(32)
    try:
        instance_path.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key + "\n")
    except OSError as error:
        raise ConfigError("SECRET_KEY", f"is not set and {path} cannot be written ({error})") from None
    return key


def _mail(environ: Mapping[str, str]) -> MailSettings:
    use_ssl = _flag(environ, "MAIL_USE_SSL", False)
    use_tls = _flag(environ, "MAIL_USE_TLS", not use_ssl)
    if use_ssl and use_tls:
        raise ConfigError("MAIL_USE_TLS", "STARTTLS and MAIL_USE_SSL exclude each other; set one of them false")
    return MailSettings(
        server=_value(environ, "MAIL_SERVER"),
        port=_integer(environ, "MAIL_PORT", 465 if use_ssl else 587, 1, 65535),
        username=_value(environ, "MAIL_USERNAME"),
        password=_value(environ, "MAIL_PASSWORD"),
        use_tls=use_tls,
        use_ssl=use_ssl,
        default_sender=_value(environ, "MAIL_DEFAULT_SENDER") or "bizportal <no-reply@localhost>",
    )


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = _value(environ, name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"{value!r} is not a yes/no value; use true or false")


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _value(environ, name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(name, f"{value!r} is not a whole number from {low} to {high}")
    return int(value)


def _directory(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = _value(environ, name)
    if value is None:
        return default
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not path.is_dir():
        raise ConfigError(name, f"{value!r} is not a folder")
    return path


def _signing_key_file(environ: Mapping[str, str]) -> Path | None:
    """`LICENCE_SIGNING_KEY`: path of the Ed25519 PEM private key that signs licence QR codes."""
    value = _value(environ, "LICENCE_SIGNING_KEY")
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not path.is_file():
        raise ConfigError("LICENCE_SIGNING_KEY", f"{value!r} is not a file; create one with "
                          "`openssl genpkey -algorithm ed25519 -out licence-signing.pem`")
    return path


def _rate_limit(environ: Mapping[str, str]) -> str:
    """`BIZPORTAL_API_RATE_LIMIT`: requests per API token, e.g. `600/minute` or `10/second;600/minute`."""
    value = _value(environ, "BIZPORTAL_API_RATE_LIMIT")
    if value is None:
        return "600/minute"
    if not re.fullmatch(r"\s*\d{1,9}\s*(/|per)\s*(\d{1,6}\s*)?(second|minute|hour|day)s?\s*"
                        r"([;,]\s*\d{1,9}\s*(/|per)\s*(\d{1,6}\s*)?(second|minute|hour|day)s?\s*)*", value):
        raise ConfigError("BIZPORTAL_API_RATE_LIMIT", f"{value!r} is not a rate such as 600/minute")
    return value.strip()


def _public_base_url(environ: Mapping[str, str]) -> str:
    """`PUBLIC_BASE_URL`: http(s)://host[:port][/prefix], no query or fragment; kept without a trailing slash."""
    value = _value(environ, "PUBLIC_BASE_URL")
    if value is None:
        return DEFAULT_PUBLIC_BASE_URL
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?", value):
        raise ConfigError("PUBLIC_BASE_URL", f"{value!r} is not an http(s) address such as "
                          "https://bizportal.example.go.th")
    return value.rstrip("/")
