"""bizportal benchmarks: `python -m bench [validate|engine|queue|licences|web|rss|all] [--count N] [--sizes N,M]`.

Prints a table; docs/benchmarks.md records the figures with the machine they ran on.

- validate: generate N varied permit types (default 3,000, Biz Portal's scale), then
  time `bizportal workflows validate` and `load` into a fresh SQLite database (or a fresh
  schema of `--database-url`), in process, cold (no cache), and `bizportal workflows load`
  end to end in a new process;
- engine: time one engine decision (an officer approves a stage, state read from
  and written back to JSON as the services do), median of many;
- queue: the officer queue page `/review/` on PostgreSQL at each of `--sizes` generated
  applications (default 10,000 and 1,000,000; one schema per size in `--database-url`,
  reused while it matches): p50/p95 and SQL statements per page; target p95 at the
  largest size within 1.5x of p95 at the smallest. Not part of `all` (needs PostgreSQL).
- licences: licences per minute through 2 `bizportal worker` processes (`--count` approved
  applications, default 100; `--fork` for RQ's forking worker) against a plain loop calling
  WeasyPrint on the same licences in 1 and 2 processes; target 2 workers >= 90 % of the
  2-process loop; and each worker's memory. Not part of `all` (needs PostgreSQL and Redis).
- web: the real submit endpoint under `gunicorn -w 2` against a bare Flask + SQLAlchemy insert
  (`bench/web.py`, `bench/bare.py`), on SQLite and PostgreSQL (`--database-url`, default
  .../bench_web): requests/s, p50/p95, ratio (target >= 50 %), statements per submit, and the
  web workers' memory (target <= 150 MB). `queue --gunicorn` serves the queue page the same way.
- rss: a licence worker's memory after rendering `--count` licences (default 10; target <= 200 MB).
  Neither is part of `all` (they need PostgreSQL and Redis).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _row(name: str, value: str, target: str, ok: bool | None) -> tuple[str, str, str, str]:
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    return name, value, target, verdict


def bench_validate(count: int, database_url: str | None = None) -> list[tuple[str, str, str, str]]:
    """Validate and load `count` generated permit types, in process and as `bizportal workflows load`.

    Every load goes into a fresh database: a new SQLite file, or a new schema of
    `database_url` (PostgreSQL), built by the migrations (not timed).
    """
    from bench.generate import generate_tree
    from bizportal.workflow.validation import validate_tree

    tree = RESULTS / f"tree-{count}"
    marker = tree / ".complete"
    if not marker.exists():
        started = time.perf_counter()
        generate_tree(tree, count)
        marker.write_text("ok")
        print(f"generated {count} permit types in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    validate_tree(tree, workers=1)
    serial_seconds = time.perf_counter() - started
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    result = validate_tree(tree, workers=workers)
    validate_seconds = time.perf_counter() - started
    validate_cpu = _cpu_seconds() - cpu_before  # the pool's workers are reaped, so their time is counted
    if result.problems:
        for problem in result.problems[:5]:
            print(problem.format(), file=sys.stderr)
        raise SystemExit(f"generated tree has {len(result.problems)} problems")
    rows = [_row(f"validate {count} permit types, 1 process", f"{serial_seconds:.2f} s", "", None),
            _row(f"validate {count} permit types, {workers} processes", f"{validate_seconds:.2f} s", "< 10 s",
                 validate_seconds < 10),
            _row("  … CPU time, parent and workers", f"{validate_cpu:.2f} s", "", None)]
    database = "PostgreSQL" if database_url else "SQLite"
    cpu_before = _cpu_seconds()
    load_seconds = _load_into_fresh_database(result, database_url)
    load_cpu = _cpu_seconds() - cpu_before  # includes migrating the fresh database (untimed in the wall figure)
    if load_seconds is not None:
        total = validate_seconds + load_seconds
        rows.append(_row(f"load {count} into a fresh {database} database", f"{load_seconds:.2f} s", "", None))
        rows.append(_row("  … CPU time, with the migrations", f"{load_cpu:.2f} s", "", None))
        rows.append(_row(f"validate + load {count}", f"{total:.2f} s", "< 10 s", total < 10))
        command, command_cpu = _cli_load(tree, database_url)
        rows.append(_row(f"`bizportal workflows load` of {count} ({database}, cold process, end to end)",
                         f"{command:.2f} s", "< 10 s", command < 10))
        rows.append(_row("  … CPU time, the command and its workers", f"{command_cpu:.2f} s", "", None))
    return rows


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@contextlib.contextmanager
def _fresh_database(database_url: str | None) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new schema in `database_url`, dropped after."""
    if database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"
        return
    from sqlalchemy import create_engine, text

    from bench.queue import ensure_database, schema_url

    ensure_database(database_url)
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    schema = "bench_validate"
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(database_url, schema)
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def _migrated_app(url: str) -> Any:
    from bizportal.app import create_app
    from bizportal.extensions import upgrade_database

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade_database()
    return app


def _load_into_fresh_database(result: object, database_url: str | None = None) -> float | None:
    try:
        from bizportal.database import unit_of_work
        from bizportal.extensions import db
        from bizportal.permits.services import load_specs
    except ImportError:  # the web part is optional for the engine-only benchmark
        return None
    with _fresh_database(database_url) as url:
        app = _migrated_app(url)
        with app.app_context():
            started = time.perf_counter()
            with unit_of_work(db.session()) as session:
                load_specs(session, result, dt.datetime.now(dt.UTC), "bench")  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            db.engine.dispose()
        return seconds


def _cli_load(tree: Path, database_url: str | None) -> tuple[float, float]:
    """Wall and CPU time of `bizportal workflows load` on `tree` in a new process, into a fresh migrated database."""
    import subprocess

    with _fresh_database(database_url) as url:
        app = _migrated_app(url)
        with app.app_context():
            from bizportal.extensions import db

            db.engine.dispose()
        command = [str(Path(sys.executable).with_name("bizportal")), "workflows", "load",
                   str(tree / "workflows"), str(tree / "forms")]
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        done = subprocess.run(command, env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        if done.returncode != 0:
            raise SystemExit(f"`bizportal workflows load` failed:\n{done.stderr[-2000:]}")
        return seconds, cpu


def bench_engine(repeat: int = 20000) -> list[tuple[str, str, str, str]]:
    from bizportal.workflow.calendar import WorkingCalendar
    from bizportal.workflow.engine import Workflow
    from bizportal.workflow.spec import Action
    from bizportal.workflow.state import ApplicationState, StageDecision, Submit
    from bizportal.workflow.validation import validate_tree

    result = validate_tree(ROOT, template_dirs=[ROOT / "templates" / "licences"])
    spec = result.specs["food_premises"]
    workflow = Workflow(spec)
    calendar = WorkingCalendar()
    moment = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    answers = {field.id: None for field in spec.fields().values()}
    state = workflow.decide(ApplicationState(), Submit(moment, answers), calendar).state
    first_task = next(iter(state.tasks))
    stored = state.to_json()
    event = StageDecision(moment, stage_id=first_task, action=Action.APPROVE)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            workflow.decide(ApplicationState.from_json(stored), event, calendar).state.to_json()
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    with_json = statistics.median(samples)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            workflow.decide(state, event, calendar)
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    bare = statistics.median(samples)
    started = time.perf_counter()
    for _ in range(200):
        Workflow(spec)
    compile_us = (time.perf_counter() - started) / 200 * 1e6
    return [
        _row("engine decision (approve a stage)", f"{bare:.1f} µs", "< 100 µs", bare < 100),
        _row("  … with state from/to JSON", f"{with_json:.1f} µs", "< 100 µs", with_json < 100),
        _row("compile a spec for the engine (once per version)", f"{compile_us:.0f} µs", "", None),
    ]


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages: the figures mean little on a busy machine."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", default="all",
                        choices=["all", "validate", "engine", "queue", "licences", "web", "rss"])
    parser.add_argument("--count", type=int, default=3000, help="permit types to generate (default 3000)")
    parser.add_argument("--sizes", default="10000,1000000",
                        help="queue: applications to generate, comma-separated (default 10000,1000000)")
    parser.add_argument("--database-url", default=None,
                        help="queue: PostgreSQL database for the datasets, created if missing "
                             "(default postgresql+psycopg://postgres@127.0.0.1:5432/bizportal_bench); "
                             "validate: load into a fresh schema of this database instead of SQLite")
    parser.add_argument("--requests", type=int, default=200, help="queue: timed requests per case and size")
    parser.add_argument("--rebuild", action="store_true", help="queue: generate the datasets again")
    parser.add_argument("--gunicorn", action="store_true", help="queue: serve the page through gunicorn, 2 workers")
    parser.add_argument("--fork", action="store_true", help="licences: workers fork a work horse per job")
    parser.add_argument("--workers", type=int, default=2, help="licences: worker processes (default 2)")
    parser.add_argument("--seconds", type=float, default=15, help="web: counted seconds per round and stack")
    parser.add_argument("--concurrency", type=int, default=8, help="web: concurrent clients (default 8)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="web: alternating rounds of bare and submit (default 2); licences: alternating rounds "
                             "of plain loop and workers (default 5)")
    parser.add_argument("--sqlite-only", action="store_true", help="web: skip PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="web: cProfile the submit path in process")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.which in ("web", "rss"):
        return _web(args)
    if args.which == "queue":
        return _queue(args)
    if args.which == "licences":
        return _licences(args)
    rows: list[tuple[str, str, str, str]] = []
    if args.which in ("all", "engine"):
        rows += bench_engine()
    if args.which in ("all", "validate"):
        rows += bench_validate(args.count, args.database_url if args.which == "validate" else None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}, load average {_load_average()}")
    widths = [max(len(row[i]) for row in [("benchmark", "result", "target", ""), *rows]) for i in range(4)]
    for row in [("benchmark", "result", "target", ""), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0 if all(row[3] != "MISSED" for row in rows) else 1


def _queue(args: argparse.Namespace) -> int:
    from bench.queue import DEFAULT_DATABASE_URL, bench_queue, bench_queue_gunicorn, postgres_version

    sizes = sorted({int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()})
    if len(sizes) < 2:
        raise SystemExit("--sizes needs at least two sizes to compare")
    url = args.database_url or DEFAULT_DATABASE_URL
    measure = bench_queue_gunicorn if args.gunicorn else bench_queue
    rows, ok = measure(sizes, url, requests=args.requests, rebuild=args.rebuild)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python "
          f"{platform.python_version()}, PostgreSQL {postgres_version(url)}, load average {_load_average()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0 if ok else 1


def _licences(args: argparse.Namespace) -> int:
    from bench.licences import bench_licences
    from bench.queue import DEFAULT_DATABASE_URL, postgres_version

    url = args.database_url or DEFAULT_DATABASE_URL
    count = args.count if args.count != 3000 else 100  # 3,000 is the validate default
    rows, ok = bench_licences(count, url, fork=args.fork, workers=args.workers, rounds=args.rounds or 5)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python "
          f"{platform.python_version()}, PostgreSQL {postgres_version(url)}, load average {_load_average()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0 if ok else 1


def _web(args: argparse.Namespace) -> int:
    """`web`: bizportal's submit against a bare insert under gunicorn; `rss`: a licence worker's memory."""
    from bench import web
    from bench.queue import ensure_database, postgres_version

    url = args.database_url or web.DEFAULT_DATABASE_URL
    ensure_database(url)
    if args.which == "web":
        kinds = ("sqlite",) if args.sqlite_only else ("sqlite", "postgresql")
        rows, ok = web.bench_web(url, args.seconds, args.concurrency, args.rounds or 2, kinds, args.profile)
    else:
        rows, ok = web.bench_worker_rss(url, args.count if args.count != 3000 else 10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python "
          f"{platform.python_version()}, PostgreSQL {postgres_version(url)}, load average {_load_average()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0 if ok else 1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    raise SystemExit(main())
