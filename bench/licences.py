"""Licences per minute: 2 `bizportal worker` processes against a plain loop calling WeasyPrint.

On a fresh PostgreSQL schema, `count` food-premises applications are approved while Redis is unreachable,
so each leaves a pending licence and its `licences.render` job in the outbox and nothing is rendered yet.
Then, in the same run:

- the plain loop: fresh (spawned) processes holding only a `LicenceRenderer`, rendering the same
  licences' documents to PDF bytes, in 1 process and in 2 (as many as workers), each taking the next
  document as a worker takes the next job, nothing else;
- the workers: 2 worker processes are started and preloaded; for each round's licences `reconcile`
  enqueues their jobs; the clock runs from the first job's arrival in Redis to the moment the last job's
  `perform` returned, both as RQ recorded them (PDF written, licence issued, audit entry, event, job
  marked done, committed).

Both sides are warmed alike: each plain-loop process renders one licence before its clock starts, and
each worker runs one job in an uncounted warm-up round; both hide what they built at start from the
garbage collector (`gc.freeze()`, which `bizportal worker` does after its preload). The 2-process loop
and the workers alternate in rounds (default 5) over the same licences, so a change of load on a shared
machine hits both alike.

Target: 2 workers reach at least 90 % of the 2-process plain loop. Also reported: where a worker's CPU
goes (its render thread, the rest, and of the rest what RQ alone costs per job) and each worker's
resident memory after the run.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.90
WORKER_CONNECTION = "bizportal-bench-worker"
"""`application_name` of the workers' database connections, to find their PostgreSQL processes."""


@contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A new schema in `database_url` (the database is created if missing), dropped afterwards."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": url.database}).first():
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    schema = f"bench_licences_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _app(database_url: str, instance: Path, redis_url: str) -> Any:
    from bizportal.app import create_app

    return create_app({"BIZPORTAL_ENV": "testing", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                       "SECRET_KEY": "bench-only-secret-key-not-for-production", "INSTANCE_PATH": instance,
                       "BIZPORTAL_WORKFLOWS_DIR": ROOT / "workflows", "BIZPORTAL_FORMS_DIR": ROOT / "forms"})


def _approve(app: Any, count: int) -> list[int]:
    """`count` approved food-premises applications; returns their licence ids (pending, jobs not enqueued)."""
    from bizportal.extensions import upgrade_database
    from tests.test_jobs_faults import approve_application

    with app.app_context():
        upgrade_database()
    return [approve_application(app) for _ in range(count)]


def _documents(app: Any, licence_ids: list[int]) -> list[Any]:
    """The documents the render job would build for these licences (what the plain loop renders)."""
    from bizportal.applications.services import compiled
    from bizportal.extensions import db
    from bizportal.licences.cli import configured_signing_key
    from bizportal.licences.document import Bilingual, Officer, build_document
    from bizportal.licences.models import Licence
    from bizportal.licences.services import OFFICER_POSITION
    from bizportal.permits.models import Agency
    from bizportal.workflow.calendar import local_date

    documents = []
    with app.app_context():
        key = configured_signing_key(app)
        for licence_id in licence_ids:
            licence = db.session.get_one(Licence, licence_id)
            spec = compiled(licence.application.permit_version).spec
            agency = db.session.get_one(Agency, licence.agency_id)
            documents.append(build_document(
                permit_key=spec.permit.key, licence=spec.permit.licence, form=spec.form,
                answers=licence.application.answers, number=licence.number, agency_id=agency.id,
                agency_name=Bilingual(agency.name_th, agency.name_en), issued_on=local_date(licence.approved_at),
                valid_from=licence.valid_from, officer=Officer(agency.name_th, OFFICER_POSITION), signing_key=key,
                verify_base_url=str(app.config["PUBLIC_BASE_URL"])))
    return documents


def _render_share(documents: list[Any], next_index: Any, barrier: Any, results: Any) -> None:
    """One plain-loop process: a fresh interpreter that imports only the renderer (and WeasyPrint), builds
    it, hides what it built from the garbage collector as a worker does after its preload, warms it with
    one render as a worker's warm-up job does, then renders the next document not yet taken, as a worker
    takes the next job, until none is left."""
    import gc
    import resource

    from bizportal.licences.rendering import LicenceRenderer

    renderer = LicenceRenderer()
    gc.collect()
    gc.freeze()  # as `bizportal worker` does after preloading
    renderer.render(documents[0])
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    while True:
        with next_index.get_lock():
            index = next_index.value
            next_index.value += 1
        if index >= len(documents):
            break
        renderer.render(documents[index])
    results.put((started, time.perf_counter(), time.process_time() - cpu,
                 resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))
    renderer.close()


def plain_loop(documents: list[Any], processes: int) -> tuple[float, float, int]:
    """Licences per minute rendering `documents` in `processes` processes, one renderer each, and the CPU
    seconds and minor page faults of those processes while rendering.

    The processes are spawned, not forked from this one: a plain loop holds WeasyPrint and the renderer,
    not the benchmark's app and session (whose objects a fork would carry and every full garbage
    collection would walk). They share the documents as workers share a queue, each taking the next one,
    so one process slowed by the shared machine does not hold the others back (nor does a worker)."""
    context = multiprocessing.get_context("spawn")
    barrier, results, next_index = context.Barrier(processes), context.Queue(), context.Value("i", 0)
    children = [context.Process(target=_render_share, args=(documents, next_index, barrier, results))
                for _ in range(processes)]
    for child in children:
        child.start()
    spans = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    seconds = max(end for _, end, _, _ in spans) - min(start for start, _, _, _ in spans)
    return len(documents) / seconds * 60, sum(cpu for _, _, cpu, _ in spans), sum(faults for *_, faults in spans)


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of `pid` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _usage(pid: int) -> tuple[float, int]:
    """User + system CPU seconds and minor page faults of process `pid` so far, all threads ((0, 0) once it
    is gone)."""
    return _stat_usage(Path(f"/proc/{pid}/stat"))


def _stat_usage(stat: Path) -> tuple[float, int]:
    """CPU seconds and minor page faults from a `/proc/.../stat` file ((0, 0) once the process or thread
    is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])


def _render_thread_cpu(pid: int) -> float:
    """CPU seconds so far of `pid`'s threads other than its main thread: in a worker, the render thread
    (`RenderThread`); what the main thread spends besides is the job's bookkeeping and RQ's."""
    return sum(_stat_usage(task / "stat")[0] for task in Path(f"/proc/{pid}/task").glob("*")
               if task.name != str(pid))


def _backend_pids(app: Any) -> list[int]:
    """The PostgreSQL server processes serving the workers' connections (named `WORKER_CONNECTION`)."""
    from bizportal.extensions import db

    with app.app_context():
        pids = list(db.session.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                       {"name": WORKER_CONNECTION}))
        db.session.rollback()
    return pids


@dataclass
class Measured:
    """What `with_workers` measured over the counted rounds."""

    worker_rate: float
    plain_rate: float
    plain_cpu: float
    """CPU seconds of the plain-loop processes."""
    plain_faults: int
    """Minor page faults of the plain-loop processes (a page of memory mapped afresh)."""
    worker_faults: int
    worker_cpu: float
    """CPU seconds of the worker processes (their RQ scheduler processes not included)."""
    backend_cpu: float
    """CPU seconds of the PostgreSQL processes serving the workers (Redis's not included: it is shared)."""
    render_cpu: float
    """CPU seconds of the workers' render threads (part of `worker_cpu`)."""
    round_ratios: list[float]
    """Each counted round's workers / plain loop: how far a shared machine's changing speed moves the figure."""
    memory: list[tuple[float, float]]


def with_workers(app: Any, worker_app: Any, redis_url: str, licence_ids: list[int], documents: list[Any],
                 workers: int, fork: bool, log_dir: Path, rounds: int) -> Measured:
    """Licences per minute through `workers` preloaded worker processes, and through the plain loop in as many
    processes, measured in alternating rounds on the same licences (so a change of load on a shared machine
    hits both alike); the CPU time each side used; and each worker's memory (MB)."""
    from sqlalchemy import update

    from bizportal.extensions import db
    from bizportal.jobs import services
    from bizportal.jobs.models import Job, JobStatus
    from tests.workers import start_worker, wait_for

    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with app.app_context(), db.session.begin():
        db.session.execute(update(Job).where(Job.kind == "licences.render").values(run_after=far))
    job_ids = {licence_id: job_id for licence_id, job_id in _render_jobs(app)}
    processes = [start_worker(worker_app, redis_url, "--reconcile-every", "0", *(["--fork"] if fork else []),
                              log_dir=log_dir) for _ in range(workers)]
    worker_seconds = plain_seconds = plain_cpu = 0.0
    plain_faults = 0
    usage_before: dict[int, tuple[float, int]] = {}
    render_before = 0.0
    round_ratios: list[float] = []
    try:
        for process in processes:
            wait_for(partial(_listening, process), timeout=120,
                     message="the worker to start")
        warm_up, measured = licence_ids[:workers], licence_ids[workers:]
        for index in range(-1, rounds):  # round -1: each worker's first job warms its caches; not counted
            share = warm_up if index < 0 else measured[index::rounds]
            plain_rate, round_cpu, round_faults = plain_loop(
                [documents[licence_ids.index(licence_id)] for licence_id in share], workers)
            ids = [job_ids[licence_id] for licence_id in share]
            with app.app_context():
                with db.session.begin():
                    db.session.execute(update(Job).where(Job.id.in_(ids)).values(run_after=dt.datetime.now(dt.UTC)))
                report = services.reconcile(db.session(), dt.datetime.now(dt.UTC))
                assert report.dispatched == len(ids), report

                def round_done(ids: list[int] = ids) -> bool:
                    db.session.rollback()
                    done = db.session.scalar(select(func.count()).select_from(Job).where(
                        Job.id.in_(ids), Job.status == JobStatus.DONE)) or 0
                    return done >= len(ids)

                # A slow poll, so that watching takes next to no CPU from the workers; the round's end is
                # read afterwards from RQ: when the last job's `perform` returned (its transaction committed).
                wait_for(round_done, timeout=1800, interval=1.0, message="the round's licence jobs to finish")
                if index >= 0:
                    first_enqueued, last_ended = _round_span(redis_url, ids)
                    round_seconds = (last_ended - first_enqueued).total_seconds()
                    worker_seconds += round_seconds
                    round_ratios.append(len(share) / round_seconds * 60 / plain_rate)
                    plain_seconds += len(share) / plain_rate * 60
                    plain_cpu += round_cpu
                    plain_faults += round_faults
            if index < 0:  # after the warm-up round: every worker has its database connection
                usage_before = {pid: _usage(pid) for pid in [process.pid for process in processes]
                                + _backend_pids(app)}
                render_before = sum(_render_thread_cpu(process.pid) for process in processes)
        usage_after = {pid: _usage(pid) for pid in usage_before}
        render_cpu = sum(_render_thread_cpu(process.pid) for process in processes) - render_before
        cpu_used = {pid: usage_after[pid][0] - before[0] for pid, before in usage_before.items()}
        worker_pids = {process.pid for process in processes}
        with app.app_context():
            failed = db.session.scalar(select(func.count()).select_from(Job).where(Job.status != JobStatus.DONE))
            assert not failed, f"{failed} jobs not done"
        memory = [_rss_mb(process.pid) for process in processes]
    finally:
        for process in processes:
            process.stop()
    worker_faults = sum(usage_after[pid][1] - usage_before[pid][1] for pid in worker_pids)
    return Measured(len(measured) / worker_seconds * 60, len(measured) / plain_seconds * 60, plain_cpu,
                    plain_faults, worker_faults,
                    sum(max(used, 0.0) for pid, used in cpu_used.items() if pid in worker_pids),
                    sum(max(used, 0.0) for pid, used in cpu_used.items() if pid not in worker_pids), render_cpu,
                    round_ratios, memory)


def _listening(process: Any) -> bool:
    return "Listening on" in process.log()


def _round_span(redis_url: str, job_ids: list[int]) -> tuple[dt.datetime, dt.datetime]:
    """When the first of these jobs was put in Redis and when the last of their first attempts ended, as RQ
    recorded them: the enqueueing process wrote `enqueued_at`, the worker that ran the job `ended_at` (the time
    `perform` returned, after the job's commit; only RQ's own bookkeeping of that job comes later). The span
    starts when work is there for a worker, as the plain loop's starts when its processes are let go: the
    harness's reconcile reading the outbox before the first job is in Redis (4 ms, once 113 ms) is not the
    workers' time."""
    from redis import Redis
    from rq.job import Job as RqJob

    from bizportal.jobs.models import rq_job_id

    connection = Redis.from_url(redis_url)
    try:
        spans = [(rq_job.enqueued_at, rq_job.ended_at)
                 for rq_job in RqJob.fetch_many([rq_job_id(job_id, 0) for job_id in job_ids], connection=connection)
                 if rq_job is not None and rq_job.enqueued_at is not None and rq_job.ended_at is not None]
    finally:
        connection.close()
    assert len(spans) == len(job_ids), f"RQ knows the start and end of {len(spans)} of {len(job_ids)} jobs"

    def aware(moment: dt.datetime) -> dt.datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    return min(aware(enqueued) for enqueued, _ in spans), max(aware(ended) for _, ended in spans)


def noop_job(index: int) -> None:
    """An RQ job that does nothing: what RQ itself costs a worker per job."""


def rq_cost_per_job(redis_url: str, count: int = 300, rounds: int = 3) -> float:
    """CPU milliseconds of RQ's own work per job (dequeue, heartbeats, registries, result, logging at INFO as
    `bizportal worker` logs), measured on `count` no-op jobs through an in-process `SimpleWorker` on the main
    thread: the part of a licence job's bookkeeping that is RQ's, not the portal's. Best of `rounds`."""
    import logging

    from redis import Redis
    from rq import Queue, SimpleWorker

    connection = Redis.from_url(redis_url)
    queue = Queue("bench-noop", connection=connection)
    best = float("inf")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115  # closed below
    logging.getLogger("rq.worker").addHandler(handler)
    try:
        for _ in range(rounds):
            for index in range(count):
                queue.enqueue(noop_job, index)
            started = time.thread_time()
            SimpleWorker([queue], connection=connection).work(burst=True, with_scheduler=False,
                                                              logging_level="INFO")
            best = min(best, (time.thread_time() - started) / count * 1000)
    finally:
        logging.getLogger("rq.worker").removeHandler(handler)
        handler.close()
        queue.delete(delete_jobs=True)
        connection.close()
    return best


def _render_jobs(app: Any) -> list[tuple[int, int]]:
    from bizportal.extensions import db
    from bizportal.jobs.models import Job

    with app.app_context():
        rows = db.session.scalars(select(Job).where(Job.kind == "licences.render")).all()
        return [(int(job.payload["licence_id"]), job.id) for job in rows]


def bench_licences(count: int, database_url: str, *, fork: bool = False, workers: int = 2,
                   rounds: int = 5) -> tuple[list[tuple[str, str, str, str]], bool]:
    """Rows of the result table, and whether the target was met."""
    from tests.workers import redis_database

    with fresh_schema(database_url) as url, tempfile.TemporaryDirectory() as folder, \
            redis_database() as redis_url:
        instance = Path(folder) / "instance"
        unreachable = _app(url, instance, "redis://127.0.0.1:1/0")  # approvals commit; nothing is enqueued
        started = time.perf_counter()
        licence_ids = _approve(unreachable, count + workers)  # the first `workers`: a warm-up round
        setup_seconds = time.perf_counter() - started
        documents = _documents(unreachable, licence_ids)
        one, _, _ = plain_loop(documents, 1)
        app = _app(url, instance, redis_url)
        named = make_url(url).update_query_dict({"application_name": WORKER_CONNECTION})
        worker_app = _app(named.render_as_string(hide_password=False), instance, redis_url)
        result = with_workers(app, worker_app, redis_url, licence_ids, documents, workers, fork, Path(folder),
                              rounds)
        rq_ms = rq_cost_per_job(redis_url)
        rate, parallel, memory = result.worker_rate, result.plain_rate, result.memory
        files = list((instance / "licences").rglob("*.pdf"))
        assert len(files) == count + workers, f"{len(files)} PDF files for {count + workers} licences"
        for disposable in (unreachable, app, worker_app):
            from bizportal.extensions import db

            with disposable.app_context():
                db.engine.dispose()
    ratio = rate / parallel
    plain_ms, worker_ms, backend_ms, render_ms = (seconds / count * 1000 for seconds in
                                                  (result.plain_cpu, result.worker_cpu, result.backend_cpu,
                                                   result.render_cpu))
    kind = "RQ Worker, fork per job" if fork else "RQ SimpleWorker"
    rows = [
        ("benchmark", "result", "target", ""),
        (f"setup: {count + workers} approvals (licence + job rows)", f"{setup_seconds:.1f} s", "", ""),
        ("plain loop, 1 process", f"{one:.0f} licences/min ({60 / one * 1000:.0f} ms each)", "", ""),
        (f"plain loop, {workers} processes ({rounds} rounds)", f"{parallel:.0f} licences/min", "", ""),
        (f"{workers} workers ({kind}, {rounds} rounds)",
         f"{rate:.0f} licences/min ({60 / rate * workers * 1000:.0f} ms per job per worker)", "", ""),
        (f"{workers} workers / plain loop in {workers} processes", f"{ratio:.1%}", f">= {TARGET:.0%}",
         "met" if ratio >= TARGET else "MISSED"),
        ("  each round: workers / plain loop",
         " ".join(f"{value:.1%}" for value in result.round_ratios)
         + f" (median {statistics.median(result.round_ratios):.1%})", "", ""),
        ("CPU per licence: plain loop", f"{plain_ms:.0f} ms", "", ""),
        ("CPU per licence: worker + its PostgreSQL",
         f"{worker_ms:.0f} + {backend_ms:.0f} ms (plain / this: {plain_ms / (worker_ms + backend_ms):.1%})", "", ""),
        ("CPU per licence in a worker: render thread / the rest",
         f"{render_ms:.0f} / {worker_ms - render_ms:.0f} ms", "", ""),
        ("  of the rest, RQ's own (a no-op job, in process)", f"{rq_ms:.1f} ms", "", ""),
        ("minor page faults per licence: plain loop / worker",
         f"{result.plain_faults / count:.0f} / {result.worker_faults / count:.0f}", "", ""),
        *[(f"worker {index + 1} memory (RSS now / peak)", f"{now:.0f} / {peak:.0f} MB", "", "")
          for index, (now, peak) in enumerate(memory)],
    ]
    return rows, ratio >= TARGET
