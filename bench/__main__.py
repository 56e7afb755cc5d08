"""bizportal benchmarks: `python -m bench [validate|engine|queue|all] [--count N] [--sizes N,M]`.

Prints a table; docs/benchmarks.md records the figures with the machine they ran on.

- validate: generate N varied permit types (default 3,000, Biz Portal's scale), then
  time `bizportal workflows validate` and `load` into a fresh SQLite database, in
  process, cold (no cache);
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
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _row(name: str, value: str, target: str, ok: bool | None) -> tuple[str, str, str, str]:
    verdict = "" if ok is None else ("met" if ok else "MISSED")
    return name, value, target, verdict


def bench_validate(count: int) -> list[tuple[str, str, str, str]]:
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
    started = time.perf_counter()
    result = validate_tree(tree, workers=workers)
    validate_seconds = time.perf_counter() - started
    if result.problems:
        for problem in result.problems[:5]:
            print(problem.format(), file=sys.stderr)
        raise SystemExit(f"generated tree has {len(result.problems)} problems")
    rows = [_row(f"validate {count} permit types, 1 process", f"{serial_seconds:.2f} s", "", None),
            _row(f"validate {count} permit types, {workers} processes", f"{validate_seconds:.2f} s", "< 10 s",
                 validate_seconds < 10)]
    load_seconds = _load_into_fresh_database(result)
    if load_seconds is not None:
        total = validate_seconds + load_seconds
        rows.append(_row(f"load {count} into fresh SQLite", f"{load_seconds:.2f} s", "", None))
        rows.append(_row(f"validate + load {count}", f"{total:.2f} s", "< 10 s", total < 10))
    return rows


def _load_into_fresh_database(result: object) -> float | None:
    try:
        from bizportal.app import create_app
        from bizportal.database import unit_of_work
        from bizportal.extensions import db
        from bizportal.permits.services import load_specs
    except ImportError:  # the web part is optional for the engine-only benchmark
        return None
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite3", "TESTING": True})
        with app.app_context():
            from flask_migrate import upgrade

            upgrade(directory=str(Path(__import__("bizportal").__file__).parent / "migrations"))
            started = time.perf_counter()
            with unit_of_work(db.session()) as session:
                load_specs(session, result, dt.datetime.now(dt.UTC), "bench")  # type: ignore[arg-type]
            return time.perf_counter() - started


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
    parser.add_argument("which", nargs="?", default="all", choices=["all", "validate", "engine", "queue", "licences"])
    parser.add_argument("--count", type=int, default=3000, help="permit types to generate (default 3000)")
    parser.add_argument("--sizes", default="10000,1000000",
                        help="queue: applications to generate, comma-separated (default 10000,1000000)")
    parser.add_argument("--database-url", default=None,
                        help="queue: PostgreSQL database for the datasets, created if missing "
                             "(default postgresql+psycopg://postgres@127.0.0.1:5432/bizportal_bench)")
    parser.add_argument("--requests", type=int, default=200, help="queue: timed requests per case and size")
    parser.add_argument("--rebuild", action="store_true", help="queue: generate the datasets again")
    parser.add_argument("--fork", action="store_true", help="licences: workers fork a work horse per job")
    parser.add_argument("--workers", type=int, default=2, help="licences: worker processes (default 2)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.which == "queue":
        return _queue(args)
    if args.which == "licences":
        return _licences(args)
    rows: list[tuple[str, str, str, str]] = []
    if args.which in ("all", "engine"):
        rows += bench_engine()
    if args.which in ("all", "validate"):
        rows += bench_validate(args.count)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}, load average {_load_average()}")
    widths = [max(len(row[i]) for row in [("benchmark", "result", "target", ""), *rows]) for i in range(4)]
    for row in [("benchmark", "result", "target", ""), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0 if all(row[3] != "MISSED" for row in rows) else 1


def _queue(args: argparse.Namespace) -> int:
    from bench.queue import DEFAULT_DATABASE_URL, bench_queue, postgres_version

    sizes = sorted({int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()})
    if len(sizes) < 2:
        raise SystemExit("--sizes needs at least two sizes to compare")
    url = args.database_url or DEFAULT_DATABASE_URL
    rows, ok = bench_queue(sizes, url, requests=args.requests, rebuild=args.rebuild)
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
    rows, ok = bench_licences(count, url, fork=args.fork, workers=args.workers)
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
