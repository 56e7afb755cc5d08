"""`bizportal worker`: an RQ worker on the portal's queues, preloaded once, reconciling the outbox as it goes.

The app is created once and its context stays pushed; `registry.run_preloads()`
builds the expensive things (the WeasyPrint renderer, fonts, licence templates)
before the first job; then everything built so far is hidden from the garbage
collector (`gc.freeze()`): a WeasyPrint render allocates enough objects to set off
collections, which would otherwise walk the whole app and renderer again and again
(about 14 ms per licence; docs/benchmarks.md). By default jobs run in the worker
process itself (RQ's `SimpleWorker`): no fork per job, so every job reuses the preloaded renderer at
no cost. `--fork` uses RQ's forking `Worker` instead (a crash in a job then kills
only the work horse); the measurements behind the default are in docs/jobs.md.

A light thread runs `reconcile` every `--reconcile-every` seconds; a Redis lock
lets one worker of a deployment do it per period, so workers need no cron.
Retries wait in RQ's scheduler (`--with-scheduler`, on by default).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import configure_mappers

from ..extensions import db
from ..ops.logs import quiet_noisy_loggers
from . import registry, services

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "bizportal:jobs:reconcile-lock"
"""Redis key held by the worker whose turn it is to reconcile (expires by itself)."""
DEFAULT_RECONCILE_SECONDS = 60


class PeriodicReconciler(threading.Thread):
    """Runs `services.reconcile` every `interval` seconds in its own app context, at most once per period
    across all workers sharing the Redis (a `SET NX EX` lock)."""

    def __init__(self, app: Flask, connection: Any, interval: float) -> None:
        super().__init__(name="bizportal-reconciler", daemon=True)
        self.app, self.connection, self.interval = app, connection, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.reconcile_once()

    def reconcile_once(self, *, always: bool = False) -> services.ReconcileReport | None:
        """Reconcile now unless another worker did in this period (`always`: regardless); never raises, since a
        worker must keep working whatever the database or Redis say."""
        try:
            lock_seconds = max(int(self.interval) - 1, 1)
            if not self.connection.set(RECONCILE_LOCK, os.getpid(), nx=True, ex=lock_seconds) and not always:
                return None
            with self.app.app_context():
                return services.reconcile(db.session(), dt.datetime.now(dt.UTC))
        except Exception:
            logger.exception("periodic reconcile failed")
            return None

    def stop(self) -> None:
        """Stop after the current round."""
        self.stopping.set()


def _dispose_engine_in_child(app: Flask) -> None:
    """A forked process (RQ's work horse or scheduler) must not use its parent's database connections."""
    with app.app_context():
        engine = db.engine

    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


def run_worker(app: Flask, queues: Sequence[str], *, burst: bool = False, with_scheduler: bool = True,
               reconcile_every: float = DEFAULT_RECONCILE_SECONDS, fork: bool = False,
               name: str | None = None) -> bool:
    """Preload, then work on `queues` until stopped (SIGTERM finishes the current job first) or, with `burst`,
    until they are empty. Needs `REDIS_URL`. Returns whether any job was carried out."""
    from rq import SimpleWorker, Worker

    connection = services.redis_connection()
    if connection is None:
        raise click.ClickException("REDIS_URL is not set: without Redis, jobs run in the web process after "
                                   "each commit and no worker is needed")
    registry.run_preloads()
    configure_mappers()  # SQLAlchemy sets up its mappers on the first query otherwise, after the freeze below
    _dispose_engine_in_child(app)
    with app.app_context():
        db.engine.dispose()  # no connection opened while preloading is carried into a fork
    gc.collect()
    gc.freeze()  # the app, the renderer and its fonts live as long as the worker: full collections skip them
    worker_class = Worker if fork else SimpleWorker
    worker = worker_class(list(queues), connection=connection, name=name)
    reconciler = PeriodicReconciler(app, connection, reconcile_every) if reconcile_every > 0 else None
    if reconciler is not None:
        reconciler.reconcile_once(always=True)  # pick up what was lost while no worker ran
        if not burst:
            reconciler.start()
    logger.info("worker ready", extra={"queues": list(queues), "worker_class": worker_class.__name__,
                                       "pid": os.getpid()})
    try:
        return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO")
    finally:
        if reconciler is not None:
            reconciler.stop()


@click.command("worker")
@click.option("--queue", "queues", multiple=True, type=click.Choice(registry.QUEUES),
              help="queue to work on, repeatable (default: licences, notifications, default, in that order)")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@click.option("--with-scheduler/--no-scheduler", default=True, show_default=True,
              help="also move due retries from RQ's schedule into the queues")
@click.option("--reconcile-every", type=click.FloatRange(min=0), default=DEFAULT_RECONCILE_SECONDS,
              show_default=True, help="seconds between reconciles of the outbox with Redis; 0 turns it off")
@click.option("--fork/--no-fork", default=False, show_default=True,
              help="run each job in a forked work horse (RQ's Worker) instead of in the worker (SimpleWorker)")
@click.option("--name", default=None, help="worker name shown by `rq info` (default: RQ's)")
@with_appcontext
def worker_command(queues: tuple[str, ...], burst: bool, with_scheduler: bool, reconcile_every: float,
                   fork: bool, name: str | None) -> None:
    """Work on the portal's job queues (RQ): preload WeasyPrint and the licence templates, then take jobs."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # proxy to the real app
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        quiet_noisy_loggers()
    run_worker(app, queues or registry.QUEUES, burst=burst, with_scheduler=with_scheduler,
               reconcile_every=reconcile_every, fork=fork, name=name)
