"""Submitting an application through gunicorn against a bare Flask + SQLAlchemy insert; memory of the processes.

`python -m bench web [--database-url URL] [--seconds N] [--concurrency C]` runs, on SQLite and
(unless `--sqlite-only`) on PostgreSQL:

- **bizportal**: `gunicorn -w 2 'bizportal.app:create_app()'` (the image's command) with
  `BIZPORTAL_ENV=production`, a `SECRET_KEY`, a generated Ed25519 `LICENCE_SIGNING_KEY` and
  `REDIS_URL` on a free Redis database index (claimed like the tests do; jobs are enqueued there
  and nobody takes them: the web process only enqueues). The database is prepared in process
  first: migrations, the seed permits, C entrepreneurs (one per client), each with a business and
  one complete food-premises draft made through the real services (answers, a PDF attached), which
  is then copied row by row (application and document rows) so every submit has a fresh draft;
- **bare**: `gunicorn -w 2 'bench.bare:create_app()'`: `POST /rows` inserts one row (201).

The load comes from a separate process with C threads, each a keep-alive `http.client`
connection (gunicorn's sync workers close it after each response; the client reconnects). A
bizportal client logs in through the real login form, reads the CSRF token from its first draft's
review page, then POSTs `/applications/<id>/submit` (the real form: CSRF token and session
cookie) once per draft and expects the 302 to the application page. The login cookie is sent
unchanged on every request (the flash message each submit adds to its cookie is not sent back,
as a browser would after reading the next page). The two stacks are measured in alternating
rounds (`--rounds`, default 2) so a change of the shared machine's load weighs on both; the
first second of each round is not counted. Reported: requests/s, p50/p95 latency, the load
generator's CPU (so it is seen not to be the bottleneck), the web workers' CPU, the ratio
submit/bare (target >= 50 %), SQL statements per submit (counted in process on the same code),
and each stack's worker memory (VmRSS/VmHWM of the gunicorn workers, not the arbiter).

`python -m bench rss` measures a licence worker: `bizportal worker` (RQ SimpleWorker, preloaded
renderer) on a fresh PostgreSQL schema, after rendering `--count` licences (default 10).
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import http.client
import io
import multiprocessing
import os
import pstats
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import Table, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = RESULTS / "web"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_web"
GUNICORN = Path(sys.executable).with_name("gunicorn")
TARGET_RATIO = 0.50
TARGET_WEB_RSS_MB = 150
TARGET_WORKER_RSS_MB = 200
PASSWORD = "bench entrepreneur password 2026"
SECRET_KEY = "bench-web-secret-key-not-for-production-0123456789"
WARMUP_SECONDS = 1.0
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
EXPECTED_RATE = 150.0
"""Submits per second to prepare drafts for (with a margin); a client that runs out stops and says so."""


# --------------------------------------------------------------------------- databases


def _thai_id(number: int) -> str:
    digits = [int(c) for c in f"1{number:011d}"]
    check = (11 - sum(d * (13 - i) for i, d in enumerate(digits)) % 11) % 10
    return "".join(map(str, digits)) + str(check)


def postgres_schema(database_url: str, schema: str) -> str:
    """A fresh `schema` in `database_url` (database created if missing); its URL on the search path."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}):
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def database_urls(kind: str, database_url: str) -> tuple[str, str]:
    """(bizportal URL, bare URL), both fresh, for `kind` "sqlite" or "postgresql"."""
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        paths = [WORK / "bizportal.sqlite3", WORK / "bare.sqlite3"]
        for path in paths:
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
        return f"sqlite:///{paths[0]}", f"sqlite:///{paths[1]}"
    return postgres_schema(database_url, "web_bizportal"), postgres_schema(database_url, "web_bare")


@dataclass
class Account:
    """One client's entrepreneur and the drafts it will submit."""

    email: str
    drafts: list[int] = field(default_factory=list)


def _prepare_app(url: str, instance: Path) -> Any:
    from bizportal.app import create_app

    return create_app({"BIZPORTAL_ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
                       "INSTANCE_PATH": instance, "BIZPORTAL_WORKFLOWS_DIR": ROOT / "workflows",
                       "BIZPORTAL_FORMS_DIR": ROOT / "forms", "REDIS_URL": None, "BABEL_DEFAULT_LOCALE": None})


def prepare_bizportal(app: Any, accounts: int, drafts_each: int) -> list[Account]:
    """Schema, seed permits, `accounts` entrepreneurs with `drafts_each` complete drafts each."""
    from werkzeug.datastructures import FileStorage

    from bench.queue import ADDRESS, PDF
    from bizportal.accounts.services import create_user
    from bizportal.applications import services
    from bizportal.applications.models import Application, ApplicationDocument
    from bizportal.businesses.services import BusinessData, create_business
    from bizportal.database import unit_of_work
    from bizportal.extensions import db, upgrade_database
    from bizportal.permits.services import load_specs
    from bizportal.workflow.validation import validate_paths

    now = dt.datetime.now(dt.UTC)
    result = []
    with app.app_context():
        upgrade_database()
        session = db.session()
        specs = validate_paths([ROOT / "workflows", ROOT / "forms"], template_dirs=[ROOT / "templates" / "licences"])
        with unit_of_work(session):
            load_specs(session, specs, now, published_by="bench")
        applications, documents = cast(Table, Application.__table__), cast(Table, ApplicationDocument.__table__)
        for number in range(accounts):
            email = f"web-{number}@bench.example.com"
            with unit_of_work(session):
                user = create_user(session, email=email, password=PASSWORD, name=f"ผู้ประกอบการ {number}", now=now)
            with unit_of_work(session):
                business = create_business(session, user, BusinessData(
                    kind="individual", tax_id=_thai_id(number + 1), name_th=f"ร้านทดสอบ {number}",
                    name_en=f"Bench shop {number}", address={"house_no": "99/1", "road": "ราชดำเนินใน"},
                    province_code="10", district_code="1001", subdistrict_code="100101", postcode="10200",
                    phone="0812345678", email="shop@example.com"), now)
            with unit_of_work(session):
                draft = services.start_application(session, user, "food_premises", business.id, now)
                draft.answers = {**draft.answers, "applicant_type": "person", "business_name": "ครัวป้าแดง",
                                 "premises_kind": "storage", "area_m2": 150.0, "owns_premises": True,
                                 "food_handler_count": 2, "declare_not_market": True, "declare_hygiene": True,
                                 "declare_true": True, "premises_address": ADDRESS}
            with unit_of_work(session):
                services.attach(session, draft, "site_map", FileStorage(io.BytesIO(PDF), "map.pdf"),
                                Path(app.instance_path) / "uploads", now)
            if services.completeness(draft):
                raise SystemExit(f"the bench draft is not complete: {services.completeness(draft)}")
            account = Account(email, [draft.id])
            row = {key: value for key, value in session.execute(
                select(applications).where(applications.c.id == draft.id)).one()._mapping.items() if key != "id"}
            attached = [{key: value for key, value in item._mapping.items() if key not in ("id", "application_id")}
                        for item in session.execute(select(documents).where(documents.c.application_id == draft.id))]
            with unit_of_work(session):
                for _ in range(drafts_each - 1):  # one INSERT ... RETURNING per copy; fast enough at these counts
                    copy_id = session.execute(insert(applications).values(**{**row, "reference": None})
                                              .returning(applications.c.id)).scalar_one()
                    session.execute(update(applications).where(applications.c.id == copy_id)
                                    .values(reference=services.reference_number(copy_id, now)))
                    session.execute(insert(documents), [{**item, "application_id": copy_id} for item in attached])
                    account.drafts.append(int(copy_id))
            result.append(account)
        db.session.remove()
    return result


def prepare_bare(url: str) -> None:
    """Create the bare app's table once, before its two workers start."""
    os.environ["BARE_DATABASE_URL"] = url
    from bench.bare import create_app, db

    app = create_app()
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A gunicorn arbiter started by the bench."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def workers(self) -> list[int]:
        """The worker processes' ids (children of the arbiter)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def cpu_seconds(self) -> float:
        """User + system CPU of the workers so far."""
        total = 0.0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def memory(self) -> list[tuple[float, float]]:
        """(VmRSS, VmHWM) in MB of each worker."""
        return [rss_mb(pid) for pid in self.workers()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of `pid` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


@contextmanager
def gunicorn(name: str, app_spec: str, environment: dict[str, str], ready_path: str) -> Iterator[Server]:
    """`gunicorn -w 2 <app_spec>` on a free port, as the image starts it, until `ready_path` answers 200."""
    port = free_port()
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / f"gunicorn-{name}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BIZPORTAL_", "FLASK_"))
           and key not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LICENCE_SIGNING_KEY")}
    env.update(environment)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--graceful-timeout", "30",
             "--access-logfile", "-", app_spec], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = Server(name, process, port, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn {name} stopped: see {log}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", ready_path)
                if connection.getresponse().status == 200 and len(server.workers()) == 2:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn {name} not ready after 120 s: see {log}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def signing_key(path: Path) -> Path:
    """An Ed25519 private key in PEM at `path` (production refuses to start without one)."""
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


# --------------------------------------------------------------------------- the load generator


def _cookie(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header in response.msg.get_all("Set-Cookie") or []:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel.value


def _request(connection: http.client.HTTPConnection, method: str, path: str, jar: dict[str, str],
             body: dict[str, str] | None = None) -> tuple[int, str]:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    page = response.read().decode("utf-8", "replace")
    _cookie(response, jar)
    return response.status, page


def _csrf(page: str) -> str:
    found = CSRF_FIELD.search(page)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1) or found.group(2)


Plan = tuple[str, str, int]
"""(method, path, expected status) of a client that does not log in."""
BARE_PLAN: Plan = ("POST", "/rows", 201)
HEALTHZ_PLAN: Plan = ("GET", "/healthz", 200)


def _client(port: int, account: Account | Plan, barrier: threading.Barrier, window: dict[str, float],
            out: list[Any]) -> None:
    """One client: log in (bizportal), wait for the others, then request until the end of the window."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    jar: dict[str, str] = {}
    csrf = ""
    drafts = list(account.drafts) if isinstance(account, Account) else []
    if isinstance(account, Account):
        _, page = _request(connection, "GET", "/accounts/login", jar)
        status, _ = _request(connection, "POST", "/accounts/login", jar,
                             {"email": account.email, "password": PASSWORD, "csrf_token": _csrf(page)})
        if status != 302:
            raise RuntimeError(f"login of {account.email}: HTTP {status}")
        status, page = _request(connection, "GET", f"/applications/{drafts[0]}/review", jar)
        if status != 200:
            raise RuntimeError(f"review page: HTTP {status}")
        csrf = _csrf(page)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    barrier.wait()
    stop = window["stop"]
    counted_from = window["start"] + WARMUP_SECONDS
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ran_out = False
    while True:
        now = time.perf_counter()
        if now >= stop:
            break
        if not isinstance(account, Account):
            method, path, expected = account
            connection.request(method, path, body=b"" if method == "POST" else None,
                               headers={"Content-Length": "0"} if method == "POST" else {})
        else:
            if not drafts:
                ran_out = True
                break
            draft = drafts.pop(0)
            connection.request("POST", f"/applications/{draft}/submit", body=urlencode({"csrf_token": csrf}),
                               headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            expected = 302
        response = connection.getresponse()
        response.read()
        ended = time.perf_counter()
        if response.status != expected:
            errors[str(response.status)] = errors.get(str(response.status), 0) + 1
        if now >= counted_from and ended <= stop:
            latencies.append((ended - now) * 1000)
    out.append((latencies, errors, ran_out))


def _generate(port: int, accounts: list[Account | Plan], seconds: float, results: Any) -> None:
    """The load generator process: one thread per client; its own CPU time over the counted window."""
    window: dict[str, float] = {}

    def begin() -> None:  # run once, when every client has logged in
        window["start"] = time.perf_counter()
        window["stop"] = window["start"] + WARMUP_SECONDS + seconds

    barrier = threading.Barrier(len(accounts), action=begin)
    out: list[Any] = []

    def run(account: Account | Plan) -> None:
        try:
            _client(port, account, barrier, window, out)
        except Exception as error:  # reported in the table, not hidden
            out.append(([], {f"client error: {error}": 1}, False))
            barrier.abort()

    threads = [threading.Thread(target=run, args=(account,)) for account in accounts]
    for thread in threads:
        thread.start()
    while "start" not in window and any(thread.is_alive() for thread in threads):
        time.sleep(0.01)
    time.sleep(WARMUP_SECONDS)
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    wall_start = time.perf_counter()
    for thread in threads:
        thread.join()
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - wall_start
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    results.put((out, cpu / wall if wall else 0.0))


@dataclass
class Figures:
    """One stack's figures over every round."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    generator_cpu: list[float] = field(default_factory=list)
    worker_cpu: list[float] = field(default_factory=list)
    ran_out: bool = False

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


def drive(server: Server, accounts: list[Account | Plan], seconds: float, figures: Figures) -> None:
    """One round of load on `server` from a separate process."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    cpu_before = server.cpu_seconds()
    process = context.Process(target=_generate, args=(server.port, accounts, seconds, results))
    process.start()
    out, generator_cpu = results.get(timeout=seconds + 600)
    process.join()
    figures.worker_cpu.append((server.cpu_seconds() - cpu_before) / (seconds + WARMUP_SECONDS))
    figures.generator_cpu.append(generator_cpu)
    figures.seconds += seconds
    for latencies, errors, ran_out in out:
        figures.latencies += latencies
        figures.ran_out = figures.ran_out or ran_out
        for key, count in errors.items():
            figures.errors[key] = figures.errors.get(key, 0) + count


# --------------------------------------------------------------------------- in process: statements, profile


def submit_in_process(app: Any, account: Account, profile: Path | None) -> float:
    """SQL statements per submit through the same view, in process (Flask test client); optionally cProfile."""
    from bizportal.extensions import db

    client = app.test_client()
    page = client.get("/accounts/login").get_data(as_text=True)
    response = client.post("/accounts/login", data={"email": account.email, "password": PASSWORD,
                                                    "csrf_token": _csrf(page)})
    if response.status_code != 302:
        raise SystemExit(f"in-process login: HTTP {response.status_code}")
    csrf = _csrf(client.get(f"/applications/{account.drafts[0]}/review").get_data(as_text=True))
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(*args: Any) -> None:
        statements.append(args[2])

    client.post(f"/applications/{account.drafts.pop(0)}/submit", data={"csrf_token": csrf})  # warm
    event.listen(engine, "before_cursor_execute", count)
    profiler = cProfile.Profile() if profile else None
    done = 0
    try:
        if profiler:
            profiler.enable()
        for draft in account.drafts:
            response = client.post(f"/applications/{draft}/submit", data={"csrf_token": csrf})
            if response.status_code != 302:
                raise SystemExit(f"in-process submit: HTTP {response.status_code}")
            done += 1
        if profiler:
            profiler.disable()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    if profiler and profile:
        profiler.dump_stats(profile)
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        print(stream.getvalue(), file=sys.stderr)
        kinds: dict[str, int] = {}
        for statement in statements:
            key = " ".join(statement.split()[:4])[:80]
            kinds[key] = kinds.get(key, 0) + 1
        for key, number in sorted(kinds.items(), key=lambda item: -item[1]):
            print(f"  {number / done:5.1f} per submit  {key}", file=sys.stderr)
    return len(statements) / done


# --------------------------------------------------------------------------- the benchmark


@dataclass
class StackResult:
    kind: str
    submit: Figures
    bare: Figures
    healthz: Figures
    statements: float
    memory: list[tuple[float, float]]
    bare_memory: list[tuple[float, float]]
    redis_url: str


def bench_kind(kind: str, database_url: str, seconds: float, concurrency: int, rounds: int,
               profile: bool) -> StackResult:
    """Both stacks on one kind of database."""
    from tests.workers import redis_database

    real_url, bare_url = database_urls(kind, database_url)
    drafts_each = int(EXPECTED_RATE * (seconds + WARMUP_SECONDS) * rounds * 1.5 / concurrency) + 2
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        started = time.perf_counter()
        app = _prepare_app(real_url, instance)
        accounts = prepare_bizportal(app, concurrency + 1, drafts_each)
        in_process = accounts.pop()  # its drafts: the in-process statement count / profile
        in_process.drafts = in_process.drafts[:21]
        prepare_bare(bare_url)
        print(f"{kind}: {concurrency} clients x {drafts_each} drafts prepared in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        submit, bare, healthz = Figures(), Figures(), Figures()
        with redis_database() as redis_url:
            environment = {"BIZPORTAL_ENV": "production", "DATABASE_URL": real_url, "SECRET_KEY": SECRET_KEY,
                           "REDIS_URL": redis_url, "LICENCE_SIGNING_KEY": str(signing_key(WORK / "signing.pem")),
                           "BIZPORTAL_WORKFLOWS_DIR": str(ROOT / "workflows"),
                           "BIZPORTAL_FORMS_DIR": str(ROOT / "forms"), "PYTHONUNBUFFERED": "1"}
            with gunicorn(f"bizportal-{kind}", "bizportal.app:create_app()", environment, "/healthz") as real, \
                    gunicorn(f"bare-{kind}", "bench.bare:create_app()", {"BARE_DATABASE_URL": bare_url},
                             "/ping") as plain:
                for number in range(rounds):
                    share = [Account(a.email, a.drafts[number::rounds]) for a in accounts]
                    drive(plain, [BARE_PLAN] * concurrency, seconds, bare)
                    drive(real, list(share), seconds, submit)
                    drive(real, [HEALTHZ_PLAN] * concurrency, seconds / 2, healthz)
                    print(f"  round {number + 1}: bare {bare.rate:.0f}/s, submit {submit.rate:.0f}/s so far",
                          file=sys.stderr)
                memory, bare_memory = real.memory(), plain.memory()
        statements = submit_in_process(app, in_process,
                                       RESULTS / f"web-submit-{kind}.prof" if profile else None)
        with app.app_context():
            from bizportal.extensions import db

            db.engine.dispose()
    return StackResult(kind, submit, bare, healthz, statements, memory, bare_memory, redis_url)


def bench_web(database_url: str, seconds: float, concurrency: int, rounds: int = 2, kinds: tuple[str, ...] =
              ("sqlite", "postgresql"), profile: bool = False) -> tuple[list[tuple[str, ...]], bool]:
    """Rows of the result table and whether every target was met."""
    results = [bench_kind(kind, database_url, seconds, concurrency, rounds, profile) for kind in kinds]
    header = ("database", "stack", "requests/s", "p50", "p95", "errors", "load generator CPU",
              "web workers CPU", "worker RSS now / peak (max of 2)", "target", "")
    rows: list[tuple[str, ...]] = [header]
    ok = True
    for result in results:
        for name, figures, memory in (("bare insert", result.bare, result.bare_memory),
                                      ("bizportal GET /healthz (no database)", result.healthz, result.memory),
                                      ("bizportal submit", result.submit, result.memory)):
            rss_now = max(now for now, _ in memory)
            rss_peak = max(peak for _, peak in memory)
            errors = ", ".join(f"{count}x {key}" for key, count in figures.errors.items()) or "0"
            if figures.ran_out:
                errors += " (a client ran out of drafts)"
            # The target is the resident size after the load; the peak (VmHWM) is reported beside it: it is
            # reached while Argon2 hashes a login password (64 MiB each, freed at once), see docs/benchmarks.md.
            met = rss_now <= TARGET_WEB_RSS_MB
            if name == "bizportal submit":
                ok = ok and met and not figures.errors
            rows.append((result.kind, name, f"{figures.rate:.1f}", f"{figures.percentile(0.5):.1f} ms",
                         f"{figures.percentile(0.95):.1f} ms", errors,
                         f"{max(figures.generator_cpu):.0%} of a core",
                         f"{sum(figures.worker_cpu) / len(figures.worker_cpu):.0%} of a core",
                         f"{rss_now:.0f} / {rss_peak:.0f} MB",
                         f"<= {TARGET_WEB_RSS_MB} MB" if name == "bizportal submit" else "",
                         ("met" if met else "MISSED") if name == "bizportal submit" else ""))
        ratio = result.submit.rate / result.bare.rate if result.bare.rate else 0.0
        ok = ok and ratio >= TARGET_RATIO
        rows.append((result.kind, "submit / bare", f"{ratio:.1%}", "", "", "", "", "", "", f">= {TARGET_RATIO:.0%}",
                     "met" if ratio >= TARGET_RATIO else "MISSED"))
        rows.append((result.kind, "SQL statements per submit", f"{result.statements:.1f}", "", "", "", "", "", "",
                     "", ""))
    print(f"redis for the web app: {', '.join(result.redis_url for result in results)} (jobs enqueued, not run)",
          file=sys.stderr)
    return rows, ok


# --------------------------------------------------------------------------- a licence worker's memory


def _worker_main(argv: list[str]) -> None:
    """`python -m bench.web worker <instance>`: `bizportal worker` on an app with that instance folder.

    What the `bizportal` script runs, with the instance folder moved (tests.workers does the same,
    but imports pytest, which would count in the memory).
    """
    from flask.cli import FlaskGroup

    from bizportal.app import create_app

    instance_path = argv[0]
    group = FlaskGroup(name="bizportal", create_app=lambda: create_app({"INSTANCE_PATH": instance_path}),
                       add_default_commands=False, load_dotenv=False)
    group.main(argv[1:], prog_name="bizportal")


def bench_worker_rss(database_url: str, count: int) -> tuple[list[tuple[str, ...]], bool]:
    """RSS of one `bizportal worker` after rendering `count` licences."""
    from sqlalchemy import func

    from bench.licences import _app, _approve, fresh_schema
    from bizportal.extensions import db
    from bizportal.jobs import services
    from bizportal.jobs.models import Job, JobStatus
    from tests.workers import redis_database, wait_for, worker_environment

    with fresh_schema(database_url) as url, tempfile.TemporaryDirectory() as folder, \
            redis_database() as redis_url:
        instance = Path(folder) / "instance"
        unreachable = _app(url, instance, "redis://127.0.0.1:1/0")
        _approve(unreachable, count)
        app = _app(url, instance, redis_url)
        log = Path(folder) / "worker.log"
        with log.open("wb") as output:
            process = subprocess.Popen([sys.executable, "-m", "bench.web", "worker", str(instance), "worker",
                                        "--reconcile-every", "0"], cwd=ROOT,
                                       env=worker_environment(app, redis_url), stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: "Listening on" in log.read_text(errors="replace"), timeout=120,
                     message="the worker to start")
            idle = rss_mb(process.pid)
            started = time.perf_counter()
            with app.app_context():
                services.reconcile(db.session(), dt.datetime.now(dt.UTC))

                def done() -> bool:
                    db.session.rollback()
                    return (db.session.scalar(select(func.count()).select_from(Job).where(
                        Job.kind == "licences.render", Job.status == JobStatus.DONE)) or 0) >= count

                wait_for(done, timeout=600, interval=0.1, message="the licences to render")
            seconds = time.perf_counter() - started
            time.sleep(0.5)
            after = rss_mb(process.pid)
            pdfs = list((instance / "licences").rglob("*.pdf"))
            pdf_kb = sum(path.stat().st_size for path in pdfs) / max(len(pdfs), 1) / 1024
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for disposable in (unreachable, app):
                with disposable.app_context():
                    db.engine.dispose()
    met = after[1] <= TARGET_WORKER_RSS_MB
    rows: list[tuple[str, ...]] = [
        ("benchmark", "result", "target", ""),
        ("licence worker RSS when listening (before any job)", f"{idle[0]:.0f} MB", "", ""),
        (f"licence worker after {count} licences ({seconds:.1f} s): VmRSS / VmHWM",
         f"{after[0]:.0f} / {after[1]:.0f} MB", f"<= {TARGET_WORKER_RSS_MB} MB", "met" if met else "MISSED"),
        ("licence PDF size (mean, for storage sizing)", f"{pdf_kb:.0f} KB ({len(pdfs)} files)", "", ""),
        ("redis for the worker", redis_url, "", ""),
    ]
    return rows, met


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        _worker_main(sys.argv[2:])
