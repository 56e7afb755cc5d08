"""Prometheus metrics: requests and latencies per endpoint, and the portal's backlog read at scrape time.

Request metrics are counted in the process (with gunicorn, set PROMETHEUS_MULTIPROC_DIR
to a shared empty directory so every worker's counts are summed — see docs/deploy.md).
Backlog gauges (jobs pending and failed, RQ queue lengths, overdue tasks per agency)
are read from the database and Redis when scraped, so they are true whichever process answers.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

REQUESTS = Counter("bizportal_http_requests_total", "HTTP requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("bizportal_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                    ["endpoint", "method"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def init_app(app: Flask) -> None:
    """Time every request and count its answer under its endpoint (not its URL: ids would explode labels)."""

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(endpoint, request.method).observe(time.perf_counter() - started)
        return response


class BacklogCollector(Collector):
    """Gauges read when scraped: jobs by status, RQ queue lengths, overdue open tasks per agency."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from ..extensions import db
        from ..jobs.models import Job
        from ..review.models import ReviewTask, TaskStatus

        session = db.session()
        jobs = GaugeMetricFamily("bizportal_jobs", "Jobs in the outbox by status.", labels=["status"])
        for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
            jobs.add_metric([status.value], count)
        yield jobs
        overdue = GaugeMetricFamily("bizportal_tasks_overdue", "Open or paused review tasks marked overdue, by agency.",
                                    labels=["agency"])
        for agency_id, count in session.execute(
                select(ReviewTask.agency_id, func.count()).where(ReviewTask.overdue.is_(True),
                                                                 ReviewTask.status.in_((TaskStatus.OPEN,
                                                                                        TaskStatus.PAUSED)))
                .group_by(ReviewTask.agency_id)):
            overdue.add_metric([agency_id], count)
        yield overdue
        session.rollback()
        queues = GaugeMetricFamily("bizportal_queue_length", "Jobs waiting in each RQ queue.", labels=["queue"])
        url = current_app.config.get("REDIS_URL")
        if url:
            from redis import Redis
            from rq import Queue

            from ..jobs.registry import QUEUES

            try:
                connection = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
                for name in QUEUES:
                    queues.add_metric([name], Queue(name, connection=connection).count)
            except Exception:  # Redis down: the gauge is absent; /readyz says why
                pass
        yield queues


def exposition() -> bytes:
    """The text exposition of this process's metrics (or every worker's, in multiprocess mode) and the backlog."""
    registry = CollectorRegistry()
    # prometheus_client itself reads this variable in every process; it is not a bizportal setting.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    combined = CollectorRegistry()
    combined.register(_Forward(registry))
    combined.register(BacklogCollector())
    return generate_latest(combined)


class _Forward(Collector):
    """Exposes another registry's metrics inside the combined one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self.registry.collect()


def allowed(remote_address: str | None) -> bool:
    """Scrapes come from inside: loopback or a private network (the load balancer must not route /metrics)."""
    if not remote_address:
        return False
    try:
        address = ipaddress.ip_address(remote_address)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


CONTENT_TYPE = CONTENT_TYPE_LATEST
