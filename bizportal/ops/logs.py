"""Structured logs: one JSON object per line, each carrying the request id that caused it.

The request id comes from the `X-Request-ID` header a proxy set (when it is a sane
token) or is made here; it is sent back in the response, attached to every log line
of the request, and carried into the jobs the request schedules (`bound_request_id`),
so a licence rendered by a worker can be traced to the approval that asked for it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, Response, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
QUIET_LOGGERS = {"weasyprint.progress": logging.WARNING}
"""Libraries whose INFO lines are noise in the portal's logs: WeasyPrint logs seven "Step n" lines per licence."""
_request_id: ContextVar[str | None] = ContextVar("bizportal_request_id", default=None)

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                                           "request_id"}


def current_request_id() -> str | None:
    """The id of the request (or job) being handled, if any."""
    return _request_id.get()


@contextmanager
def bound_request_id(value: str | None) -> Iterator[None]:
    """Make `value` the current request id for the block (a job runs under its request's id)."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, so formatters can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, json_lines: bool, level: int = logging.INFO) -> None:
    """Send the root logger's records to stderr, as JSON lines (production) or readable text (development)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    for existing in [item for item in root.handlers if getattr(item, "bizportal", False)]:
        root.removeHandler(existing)
    handler.bizportal = True  # type: ignore[attr-defined]  # marks our handler so a second call replaces it
    root.addHandler(handler)
    root.setLevel(level)
    quiet_noisy_loggers()


def quiet_noisy_loggers() -> None:
    """Raise the level of `QUIET_LOGGERS`, whoever configured the root logger."""
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)


def init_app(app: Flask, *, production: bool) -> None:
    """Give every request an id (kept from a proxy's header when sane) and log as JSON in production."""
    if not app.testing:
        configure_logging(json_lines=production)

    @app.before_request
    def bind_request_id() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        _request_id.set(offered if _VALID_REQUEST_ID.match(offered) else uuid.uuid4().hex)

    @app.after_request
    def send_request_id(response: Response) -> Response:
        value = _request_id.get()
        if value:
            response.headers[REQUEST_ID_HEADER] = value
        return response
