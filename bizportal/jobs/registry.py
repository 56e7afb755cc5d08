"""Job kinds and their handlers: `@handler("licences.render", queue="licences")`.

A handler gets the session and the job's payload and runs inside the job's unit of
work: whatever it writes commits together with the job's "done" mark, or not at all.
It must be idempotent with respect to anything outside the database (write files
atomically, under names derived from the payload).

A job that waits on another system (a webhook POST) registers an `Exchange` instead,
so that no transaction, row lock or SQLite write lock is held while it waits:
`prepare` reads what to send in a short transaction, `send` talks to the other system
with no transaction open, and `record` writes the answer in the transaction that marks
the job done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

QUEUES = ("licences", "notifications", "default")
"""The named RQ queues, most urgent first; `bizportal worker` listens on all of them by default."""

Handler = Callable[[Session, dict[str, Any]], None]
FailureHook = Callable[[Session, dict[str, Any], Exception, dt.datetime | None], None]
"""Called in the transaction that records a failed attempt: (session, payload, error, next attempt's time or None
when it was the last). Lets a domain keep its own record of attempts, which the handler's rollback would undo."""


class Exchange(Protocol):
    """A job in three steps, so that waiting on another system holds nothing in the database."""

    def prepare(self, session: Session, payload: dict[str, Any]) -> Any | None:
        """In a short transaction of its own: what `send` needs, or None when there is nothing to send (the job
        is then done, with whatever `prepare` wrote)."""

    def send(self, prepared: Any) -> Any:
        """With no transaction open: talk to the other system; raise to fail the attempt (it is retried)."""

    def record(self, session: Session, payload: dict[str, Any], sent: Any) -> None:
        """In the transaction that marks the job done: keep what `send` returned."""


class _HandlerExchange:
    """A plain handler as an exchange: all its work in `prepare`, inside the job's transaction; nothing to send."""

    def __init__(self, function: Handler) -> None:
        self.function = function

    def prepare(self, session: Session, payload: dict[str, Any]) -> None:
        self.function(session, payload)

    def send(self, prepared: Any) -> None:
        raise AssertionError("a plain handler has nothing to send")

    def record(self, session: Session, payload: dict[str, Any], sent: Any) -> None:
        raise AssertionError("a plain handler has nothing to record")


@dataclass(frozen=True)
class Kind:
    """A registered job kind; a plain handler is registered as an exchange that sends nothing."""

    name: str
    queue: str
    exchange: Exchange
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
    _check_options(name, queue, max_attempts, backoff)

    def register(function: Handler) -> Handler:
        _KINDS[name] = Kind(name, queue, _HandlerExchange(function), max_attempts, tuple(backoff), on_failure)
        return function

    return register


def register_exchange(name: str, exchange: Exchange, *, queue: str = "default", max_attempts: int = 5,
                      backoff: tuple[int, ...] = DEFAULT_BACKOFF, on_failure: FailureHook | None = None) -> None:
    """Register `exchange` as job kind `name` (see `Exchange`)."""
    _check_options(name, queue, max_attempts, backoff)
    _KINDS[name] = Kind(name, queue, exchange, max_attempts, tuple(backoff), on_failure)


def _check_options(name: str, queue: str, max_attempts: int, backoff: tuple[int, ...]) -> None:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: use one of {', '.join(QUEUES)}")
    if max_attempts < 1 or not backoff or min(backoff) < 0:
        raise ValueError(f"job kind {name!r}: max_attempts must be at least 1 and backoff non-empty, not negative")


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
