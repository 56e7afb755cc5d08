"""Job kinds and their handlers: `@handler("licences.render", queue="licences")`.

A handler gets the session and the job's payload and runs inside the job's unit of
work: whatever it writes commits together with the job's "done" mark, or not at all.
It must be idempotent with respect to anything outside the database (write files
atomically, under names derived from the payload).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

QUEUES = ("licences", "notifications", "default")
"""The named RQ queues, most urgent first; `bizportal worker` listens on all of them by default."""

Handler = Callable[[Session, dict[str, Any]], None]
FailureHook = Callable[[Session, dict[str, Any], Exception, dt.datetime | None], None]
"""Called in the transaction that records a failed attempt: (session, payload, error, next attempt's time or None
when it was the last). Lets a domain keep its own record of attempts, which the handler's rollback would undo."""


@dataclass(frozen=True)
class Kind:
    """A registered job kind."""

    name: str
    queue: str
    run: Handler
    max_attempts: int
    backoff: tuple[int, ...]
    """Seconds to wait before the 2nd, 3rd, ... attempt; the last figure repeats."""
    on_failure: FailureHook | None = None


_KINDS: dict[str, Kind] = {}
_PRELOADS: list[Callable[[], None]] = []


DEFAULT_BACKOFF = (10, 60, 300, 1800, 7200)
"""Wait in seconds before the 2nd, 3rd, ... attempt of a failing job."""


def handler(name: str, *, queue: str = "default", max_attempts: int = 5,
            backoff: tuple[int, ...] = DEFAULT_BACKOFF,
            on_failure: FailureHook | None = None) -> Callable[[Handler], Handler]:
    """Register `function` as the handler of job kind `name`."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: use one of {', '.join(QUEUES)}")
    if max_attempts < 1 or not backoff or min(backoff) < 0:
        raise ValueError(f"job kind {name!r}: max_attempts must be at least 1 and backoff non-empty, not negative")

    def register(function: Handler) -> Handler:
        _KINDS[name] = Kind(name, queue, function, max_attempts, tuple(backoff), on_failure)
        return function

    return register


def preload(function: Callable[[], None]) -> Callable[[], None]:
    """Register work a worker does once at start (e.g. building the PDF renderer) instead of per job."""
    _PRELOADS.append(function)
    return function


def kind(name: str) -> Kind:
    """The registered kind `name`; `KeyError` names it when nothing registered it."""
    _import_handlers()
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"no job handler registered for {name!r}") from None


def run_preloads() -> None:
    """Do every registered preload (the worker calls this once before taking jobs)."""
    _import_handlers()
    for function in _PRELOADS:
        function()


def kinds() -> list[Kind]:
    """Every registered kind, by name (the admin page's filter)."""
    _import_handlers()
    return sorted(_KINDS.values(), key=lambda registered: registered.name)


def _import_handlers() -> None:
    """Import the modules that register handlers, so a bare worker process knows every kind."""
    from . import handlers  # noqa: F401
