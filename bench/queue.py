"""The officer queue page (`/review/`) at several sizes of generated data, on PostgreSQL.

Each size gets its own schema (`queue_<size>`) in a dedicated database (default
`bizportal_bench`), built by the project's Alembic migrations with the seed permits
loaded. A few rows are made through the real services (users, a business, a
food-premises application submitted through the engine, which opens its review
task); the bulk is copied from those rows with set-based SQL (`INSERT ... SELECT
generate_series`), so every generated row has the shape the services write. The
generated liquor-sales and water-meter applications carry the food-premises
application's answers and engine state (the queue page reads neither; their task
pages would not make sense). A schema is reused while its size and migration head match.

The page is requested through the Flask app (`test_client()`), logged in through
the real login form as an officer of `demo_health`; SQL statements are counted
with a `before_cursor_execute` listener on the app's engine. Cases and sizes are
measured in rotation (one request of each case at each size per round), so a
change in the machine's load weighs on every figure alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bizportal_bench"
TARGET_RATIO = 1.5
OFFICER_AGENCY = "demo_health"
OFFICER_EMAIL = "queue-officer@bench.example.go.th"
PASSWORD = "bench officer password 2026"
OFFICERS_PER_AGENCY = 5
APPLICATIONS_PER_APPLICANT = 10
DEEP_PAGES = 40
BUDGET_SECONDS = 60.0
MIN_REQUESTS = 20
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

# Where each generated application's current task stands: (permit key, stage id, agency), chosen by
# the application's number. Food premises (3 in 5) also get their `intake` task, done.
ACTIVE_STAGES = {
    "food_premises": [("health_inspection", "demo_health"), ("building_use_check", "demo_building"),
                      ("decision", "demo_municipality")],
    "liquor_sales": [("excise_review", "excise_demo_area")],
    "water_meter": [("mwa_survey", "mwa_demo_branch"), ("pwa_survey", "pwa_demo_branch")],
}
AGENCIES = sorted({agency for stages in ACTIVE_STAGES.values() for _, agency in stages})

CASES: list[tuple[str, str]] = [
    ("first page", "/review/"),
    (f"page {DEEP_PAGES + 1} (next links)", "deep"),
    ("page at 90 % of the queue", "late"),
    ("?mine=1", "/review/?mine=1"),
    ("?unassigned=1", "/review/?unassigned=1"),
    ("?overdue=1", "/review/?overdue=1"),
    ("?permit=food_premises", "/review/?permit=food_premises"),
    ("?permit=water_meter (none here)", "/review/?permit=water_meter"),
    ("?status=all", "/review/?status=all"),
]
EXECUTION_TIME = re.compile(r"Execution Time: ([0-9.]+) ms")
NEXT_LINK = re.compile(r'rel="next" href="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ADDRESS = {"house_no": "12", "building": "", "moo": "", "village": "", "soi": "", "road": "",
           "subdistrict": "พระบรมมหาราชวัง", "district": "เขตพระนคร", "province": "กรุงเทพมหานคร",
           "province_code": "10", "postcode": "10200"}


# --------------------------------------------------------------------------- the database and its data


def schema_url(database_url: str, schema: str) -> str:
    """`database_url` with `schema` first on the search path (as the tests do for theirs)."""
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def ensure_database(database_url: str) -> None:
    """Create the benchmark database when it does not exist yet."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                       {"name": url.database})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def _head_revision() -> str:
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    from bizportal.migrations import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return str(ScriptDirectory.from_config(config).get_current_head())


def dataset_marker(size: int) -> str:
    """The schema comment of a complete dataset: its size and the migration head it was built with."""
    return f"bizportal queue bench: {size} applications, revision {_head_revision()}"


def ensure_dataset(database_url: str, size: int, *, rebuild: bool = False) -> str:
    """The URL of a schema holding `size` generated applications, built unless a matching one exists."""
    schema = f"queue_{size}"
    marker = dataset_marker(size)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            comment = connection.scalar(text(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :schema"),
                {"schema": schema})
            if comment == marker and not rebuild:
                print(f"{schema}: reusing {size} applications", file=sys.stderr)
                return schema_url(database_url, schema)
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()
    url = schema_url(database_url, schema)
    started = time.perf_counter()
    app = bench_app(url)
    with app.app_context():
        from bizportal.extensions import db, upgrade_database

        upgrade_database()
        templates = _real_rows(app)
        db.session.remove()
        with db.engine.begin() as connection:
            _generate(connection, size, templates)
        print(f"{schema}: generated {size} applications in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
            connection.execute(text(f"COMMENT ON SCHEMA \"{schema}\" IS '{marker}'"))
        print(f"{schema}: ready (with VACUUM ANALYZE) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        db.engine.dispose()
    return url


def bench_app(url: str) -> Any:
    """The bizportal app on `url`, as the tests configure it (settings checked the same way)."""
    from bizportal.app import create_app
    from bizportal.config import BIZPORTAL_ROOT

    return create_app({
        "BIZPORTAL_ENV": "testing",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "INSTANCE_PATH": RESULTS / "queue-instance",
        "BIZPORTAL_WORKFLOWS_DIR": BIZPORTAL_ROOT / "workflows",
        "BIZPORTAL_FORMS_DIR": BIZPORTAL_ROOT / "forms",
        "BABEL_DEFAULT_LOCALE": None,
        "REDIS_URL": None,
    })


@dataclass
class Templates:
    """Ids of the rows made through the real services, whose shape the generated rows copy."""

    applicant_id: int
    business_id: int
    application_id: int
    task_id: int
    versions: dict[str, int] = field(default_factory=dict)
    officers: dict[str, list[int]] = field(default_factory=dict)


def _real_rows(app: Any) -> Templates:
    """Seed permits, officers, and one food-premises application submitted through the engine."""
    from sqlalchemy import select
    from werkzeug.datastructures import FileStorage

    from bizportal.accounts.models import Role
    from bizportal.accounts.services import create_user
    from bizportal.app import LICENCE_TEMPLATES_DIR
    from bizportal.applications import decisions, services
    from bizportal.businesses.services import BusinessData, create_business
    from bizportal.config import BIZPORTAL_ROOT
    from bizportal.database import unit_of_work
    from bizportal.extensions import db
    from bizportal.permits.models import PermitType
    from bizportal.permits.services import load_specs
    from bizportal.review.models import ReviewTask
    from bizportal.workflow.validation import validate_paths

    session = db.session()
    result = validate_paths([BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms"],
                            template_dirs=[LICENCE_TEMPLATES_DIR])
    if not result.ok:
        raise SystemExit("\n".join(problem.format() for problem in result.problems))
    with unit_of_work(session):
        load_specs(session, result, NOW, published_by="bench")
    officers: dict[str, list[int]] = {}
    with unit_of_work(session):
        for agency in AGENCIES:
            for number in range(OFFICERS_PER_AGENCY):
                email = OFFICER_EMAIL if agency == OFFICER_AGENCY and number == 0 \
                    else f"{agency}-{number}@bench.example.go.th"
                user = create_user(session, email=email, password=PASSWORD, name=f"เจ้าหน้าที่ {agency} {number}",
                                   role=Role.OFFICER, agency_id=agency, now=NOW)
                officers.setdefault(agency, []).append(user.id)
        applicant = create_user(session, email="applicant-0@bench.example.com", password=PASSWORD,
                                name="ผู้ประกอบการ ทดสอบ", now=NOW)
    with unit_of_work(session):
        business = create_business(session, applicant, BusinessData(
            kind="individual", tax_id="3100600445635", name_th="ร้านอาหารทดสอบ", name_en="Test Restaurant",
            address={"house_no": "99/1", "road": "ราชดำเนินใน"}, province_code="10", district_code="1001",
            subdistrict_code="100101", postcode="10200", phone="0812345678", email="shop@example.com"), NOW)
    with unit_of_work(session):
        application = services.start_application(session, applicant, "food_premises", business.id, NOW)
        application.answers = {**application.answers, "applicant_type": "person", "business_name": "ครัวป้าแดง",
                               "premises_kind": "storage", "area_m2": 150.0, "owns_premises": True,
                               "food_handler_count": 2, "declare_not_market": True, "declare_hygiene": True,
                               "declare_true": True, "premises_address": ADDRESS}
    with unit_of_work(session):
        services.attach(session, application, "site_map", FileStorage(io.BytesIO(PDF), "map.pdf"),
                        Path(app.instance_path) / "uploads", NOW)
    with unit_of_work(session):
        decisions.submit(session, application, NOW)
    task_id = session.scalars(select(ReviewTask.id).where(ReviewTask.application_id == application.id)).one()
    versions = {row.key: row.current_version_id for row in session.execute(
        select(PermitType.key, PermitType.current_version_id))}
    return Templates(applicant.id, business.id, application.id, task_id, versions, officers)


def _columns(connection: Connection, table: str) -> list[str]:
    return list(connection.scalars(text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :table AND column_name <> 'id' ORDER BY ordinal_position"), {"table": table}))


def _copy(connection: Connection, table: str, template_id: int, rows: str, overrides: dict[str, str],
          where: str = "true") -> int:
    """Insert one row per row of `rows` (a FROM clause giving `g` and more), copying the template row
    `template_id` of `table` except for the `overrides` (column: SQL expression)."""
    columns = _columns(connection, table)
    values = [overrides.get(column, f't."{column}"') for column in columns]
    names = ", ".join(f'"{column}"' for column in ["id", *columns])
    statement = (f'INSERT INTO "{table}" ({names}) SELECT {overrides["id"]}, {", ".join(values)} '
                 f'FROM "{table}" AS t, {rows} WHERE t.id = {template_id} AND ({where})')
    count = connection.execute(text(statement)).rowcount
    connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f'(SELECT max(id) FROM "{table}"))'))
    return count


def _generate(connection: Connection, size: int, templates: Templates) -> None:
    """`size` applications in review with their businesses, applicants and review tasks, set-based."""
    started = time.perf_counter()
    connection.execute(text("SET LOCAL synchronous_commit = off"))
    base = {table: connection.scalar(text(f'SELECT max(id) FROM "{table}"'))
            for table in ("users", "businesses", "applications", "review_tasks")}
    applicants = -(-size // APPLICATIONS_PER_APPLICANT)
    today = NOW.date()
    _copy(connection, "users", templates.applicant_id, f"generate_series(1, {applicants}) AS g", {
        "id": f"{base['users']} + g", "email": "'applicant-' || g || '@bench.example.com'",
        "name": "'ผู้ประกอบการ ' || g"})
    _copy(connection, "businesses", templates.business_id, f"generate_series(1, {size}) AS g", {
        "id": f"{base['businesses']} + g",
        "owner_id": f"{base['users']} + 1 + (g - 1) / {APPLICATIONS_PER_APPLICANT}",
        "name_th": "'ร้านทดสอบ ' || g", "name_en": "'Bench shop ' || g"})
    print(f"  users and businesses: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    version = (f"CASE WHEN g % 5 < 3 THEN {templates.versions['food_premises']} "
               f"WHEN g % 5 = 3 THEN {templates.versions['liquor_sales']} ELSE {templates.versions['water_meter']} END")
    # submitted in the last 200 days, at a time of day that varies
    submitted = (f"(TIMESTAMPTZ '{NOW.isoformat()}' - ((g::bigint * 7919) % 200) * INTERVAL '1 day' "
                 "- (g % 600) * INTERVAL '1 minute')")
    _copy(connection, "applications", templates.application_id, f"generate_series(1, {size}) AS g", {
        "id": f"{base['applications']} + g",
        "reference": f"'BP-2569-' || lpad(({base['applications']} + g)::text, 7, '0')",
        "applicant_id": f"{base['users']} + 1 + (g - 1) / {APPLICATIONS_PER_APPLICANT}",
        "business_id": f"{base['businesses']} + g", "permit_version_id": version,
        "submitted_at": submitted, "created_at": f"{submitted} - INTERVAL '1 day'", "updated_at": submitted,
        "expected_decision_on": f"({submitted})::date + 45"})
    print(f"  applications: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # The current task of every application; food premises also have their intake, done.
    stage_rows = []
    for key, stages in ACTIVE_STAGES.items():
        for index, (stage, agency) in enumerate(stages):
            stage_rows.append(f"('{key}', {index}, '{stage}', '{agency}')")
    officer_rows = [f"('{agency}', {index}, {user_id})" for agency, ids in templates.officers.items()
                    for index, user_id in enumerate(ids)]
    permit_key = "CASE WHEN g % 5 < 3 THEN 'food_premises' WHEN g % 5 = 3 THEN 'liquor_sales' ELSE 'water_meter' END"
    rows = (f"generate_series(1, {size}) AS g "
            f"JOIN (VALUES {', '.join(stage_rows)}) AS s(permit_key, number, stage_id, agency_id) "
            f"ON s.permit_key = {permit_key} AND s.number = (g / 5) % "
            f"(CASE WHEN g % 5 < 3 THEN 3 WHEN g % 5 = 3 THEN 1 ELSE 2 END) "
            f"LEFT JOIN (VALUES {', '.join(officer_rows)}) AS o(agency_id, number, user_id) "
            f"ON o.agency_id = s.agency_id AND o.number = (g / 7) % {OFFICERS_PER_AGENCY} AND (g * 13) % 100 < 30 "
            "CROSS JOIN LATERAL (SELECT (g * 37) % 100 AS roll, "
            f"DATE '{today.isoformat()}' + ((g::bigint * 7919) % 120)::int - 60 AS due) AS r")
    status = "CASE WHEN r.roll < 75 THEN 'open' WHEN r.roll < 85 THEN 'paused' ELSE 'done' END"
    _copy(connection, "review_tasks", templates.task_id, rows, {
        "id": f"{base['review_tasks']} + g", "application_id": f"{base['applications']} + g",
        "permit_type_id": f"(SELECT permit_type_id FROM permit_versions WHERE id = {version})",
        "stage_id": "s.stage_id", "agency_id": "s.agency_id", "status": status, "assignee_id": "o.user_id",
        "due_on": "CASE WHEN r.roll >= 85 THEN r.due - 30 ELSE r.due END",
        "overdue": f"r.roll < 85 AND r.due < DATE '{today.isoformat()}'",
        "opened_at": f"TIMESTAMPTZ '{NOW.isoformat()}' - ((g::bigint * 7919) % 120) * INTERVAL '1 day'",
        "closed_at": f"CASE WHEN r.roll >= 85 THEN TIMESTAMPTZ '{NOW.isoformat()}' ELSE NULL END",
        "outcome": "CASE WHEN r.roll >= 85 THEN 'approved' ELSE NULL END", "version_id": "1"})
    _copy(connection, "review_tasks", templates.task_id, f"generate_series(1, {size}) AS g", {
        "id": f"{base['review_tasks']} + {size} + g", "application_id": f"{base['applications']} + g",
        "stage_id": "'intake'", "agency_id": "'demo_health'", "status": "'done'", "assignee_id": "NULL",
        "due_on": f"({submitted})::date + 2", "overdue": "false", "opened_at": submitted,
        "closed_at": f"{submitted} + INTERVAL '1 day'", "outcome": "'approved'", "version_id": "2"},
        where="g % 5 < 3")
    print(f"  review tasks: {time.perf_counter() - started:.0f} s", file=sys.stderr)



# --------------------------------------------------------------------------- measuring the page


@dataclass
class Target:
    """One size's app, logged-in client and statement counter."""

    size: int
    app: Any
    client: Any
    statements: list[tuple[str, Any]] = field(default_factory=list)

    def get(self, path: str) -> tuple[float, str]:
        """Request `path`; the milliseconds it took and the page."""
        self.statements.clear()
        started = time.perf_counter()
        response = self.client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path} at {self.size}: HTTP {response.status_code}")
        return elapsed, response.get_data(as_text=True)


@contextmanager
def logged_in(size: int, url: str) -> Iterator[Target]:
    """The app on `url` with a client logged in through the real login form as the bench officer."""
    from bizportal.extensions import db

    app = bench_app(url)
    target = Target(size, app, app.test_client())
    with app.app_context():
        engine: Engine = db.engine

    def count(_connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
              _executemany: bool) -> None:
        target.statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", count)
    page = target.client.get("/accounts/login").get_data(as_text=True)
    found = CSRF_FIELD.search(page)
    if found is None:
        raise SystemExit("no CSRF token on the login page")
    response = target.client.post("/accounts/login", data={
        "email": OFFICER_EMAIL, "password": PASSWORD, "csrf_token": found.group(1) or found.group(2)})
    if response.status_code != 302:
        raise SystemExit(f"could not log in as {OFFICER_EMAIL}: HTTP {response.status_code}")
    try:
        yield target
    finally:
        event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.session.remove()
            engine.dispose()


def deep_path(target: Target, pages: int = DEEP_PAGES) -> str:
    """The path of page `pages + 1` (or the last page), reached by following the "next" links."""
    path = "/review/"
    for number in range(pages):
        found = NEXT_LINK.search(target.get(path)[1])
        if found is None:
            print(f"  the queue at {target.size} has only {number + 1} pages", file=sys.stderr)
            break
        path = found.group(1).replace("&amp;", "&")
    return path


@dataclass
class Figures:
    """Timings (ms) and statements per page of one case at one size."""

    samples: list[float] = field(default_factory=list)
    statements: int = 0
    rows: int = 0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def late_path(target: Target, share: float = 0.9) -> str:
    """The page after the open task at `share` of the officer's queue: its `after` cursor, as a next link has it.

    Following thousands of next links to get there would take minutes; the cursor is the same.
    """
    from bizportal.extensions import db
    from bizportal.review.queries import encode_cursor

    with target.app.app_context(), db.engine.connect() as connection:
        count = connection.scalar(text("SELECT count(*) FROM review_tasks WHERE agency_id = :agency "
                                       "AND status = 'open'"), {"agency": OFFICER_AGENCY})
        row = connection.execute(text(
            "SELECT due_on, id FROM review_tasks WHERE agency_id = :agency AND status = 'open' "
            "ORDER BY due_on, id OFFSET :skip LIMIT 1"), {"agency": OFFICER_AGENCY, "skip": int(count * share)}).one()
    return f"/review/?after={encode_cursor(row.due_on, row.id)}"


def case_paths(target: Target) -> dict[str, str]:
    """The path of every case at `target`'s size."""
    special = {"deep": deep_path, "late": late_path}
    return {name: special[path](target) if path in special else path for name, path in CASES}


def measure(targets: list[Target], requests: int, warmup: int, budget: float = BUDGET_SECONDS,
            ) -> dict[tuple[str, int], Figures]:
    """Every case at every size in rotation: one request per case and size per round, so that a
    change in the machine's load weighs on every figure alike.

    A case leaves the rotation early, after at least `MIN_REQUESTS`, once its requests have
    taken `budget` seconds: a page that takes seconds has made its point long before 200 requests.
    """
    figures = {(name, target.size): Figures() for name, _ in CASES for target in targets}
    paths = {target.size: case_paths(target) for target in targets}
    for _ in range(warmup):  # every page before any is timed: templates, specs, caches, the pool
        for name, _ in CASES:
            for target in targets:
                target.get(paths[target.size][name])
    active = [name for name, _ in CASES]
    spent = dict.fromkeys(active, 0.0)
    for number in range(requests):
        for name in list(active):
            started = time.perf_counter()
            for target in targets:
                elapsed, page = target.get(paths[target.size][name])
                result = figures[(name, target.size)]
                result.samples.append(elapsed)
                result.statements = len(target.statements)
                result.rows = page.count('id="task-')
            spent[name] += time.perf_counter() - started
            if number + 1 >= MIN_REQUESTS and spent[name] > budget:
                active.remove(name)
        if number % 50 == 49:
            print(f"  round {number + 1}: {len(active)} cases still running", file=sys.stderr)
    for name, _ in CASES:
        print(f"  {name}: " + ", ".join(
            f"{target.size}: {len(figures[(name, target.size)].samples)} requests, "
            f"{figures[(name, target.size)].rows} rows, p50 {figures[(name, target.size)].percentile(0.5):.1f} ms, "
            f"p95 {figures[(name, target.size)].percentile(0.95):.1f} ms" for target in targets), file=sys.stderr)
    return figures


def explain(target: Target, path: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the queue query behind `path`, as the page sent it."""
    from bizportal.extensions import db

    target.get(path)
    queries = [(statement, parameters) for statement, parameters in target.statements
               if "FROM review_tasks" in statement and "ORDER BY review_tasks.due_on" in statement]
    if not queries:
        raise SystemExit(f"no queue query seen for {path}")
    statement, parameters = queries[0]
    with target.app.app_context(), db.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).scalars().all()
    return "\n".join(plan)


def bench_queue(sizes: list[int], database_url: str, requests: int = 200, warmup: int = 5,
                rebuild: bool = False) -> tuple[list[tuple[str, ...]], bool]:
    """Build (or reuse) a dataset per size, measure the page at each, save the query plans.

    Returns the table rows and whether every case met the target at the largest size.
    """
    ensure_database(database_url)
    urls = {size: ensure_dataset(database_url, size, rebuild=rebuild) for size in sizes}
    executions: dict[tuple[str, int], str] = {}
    with _all_logged_in(urls) as targets:
        figures = measure(targets, requests, warmup)
        for target in targets:
            paths = case_paths(target)
            plans = []
            for name, _ in CASES:
                plan = explain(target, paths[name])
                found = EXECUTION_TIME.search(plan)
                executions[(name, target.size)] = f"{float(found.group(1)):.2f}" if found else "?"
                plans.append(f"== {name} at {target.size} applications: {paths[name]}\n{plan}\n")
            output = RESULTS / f"queue-explain-{target.size}.txt"
            output.write_text("\n".join(plans), encoding="utf-8")
    print(plans[0], file=sys.stderr)
    print(f"query plans of every case: {RESULTS}/queue-explain-<size>.txt", file=sys.stderr)
    smallest = min(sizes)
    header = ("case", *(f"{label} {size:,}" for size in sizes for label in ("p50", "p95")), "statements",
              "queue SQL (EXPLAIN ANALYZE)", f"p95 ratio {max(sizes):,}/{smallest:,}", "")
    rows: list[tuple[str, ...]] = [header]
    ok = True
    for name, _ in CASES:
        cells = [name]
        for size in sizes:
            result = figures[(name, size)]
            cells += [f"{result.percentile(0.5):.1f} ms", f"{result.percentile(0.95):.1f} ms"]
        counts = sorted({figures[(name, size)].statements for size in sizes})
        cells.append("/".join(str(count) for count in counts))
        cells.append(" / ".join(f"{executions[(name, size)]} ms" for size in sizes))
        ratio = figures[(name, max(sizes))].percentile(0.95) / figures[(name, smallest)].percentile(0.95)
        met = ratio <= TARGET_RATIO
        ok = ok and met
        cells += [f"{ratio:.2f}", "PASS" if met else "MISS"]
        rows.append(tuple(cells))
    return rows, ok


@contextmanager
def _all_logged_in(urls: dict[int, str]) -> Iterator[list[Target]]:
    targets: list[Target] = []
    managers = []
    try:
        for size, url in sorted(urls.items()):
            manager = logged_in(size, url)
            targets.append(manager.__enter__())
            managers.append(manager)
        yield targets
    finally:
        for manager in reversed(managers):
            manager.__exit__(None, None, None)


def postgres_version(database_url: str) -> str:
    """The server's version line, for the record."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the same page through gunicorn


def _http_login(port: int) -> tuple[Any, dict[str, str]]:
    """A keep-alive connection to gunicorn on `port` and the cookies of the bench officer, logged in
    through the real login form."""
    import http.client

    from bench.web import _csrf, _request

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    jar: dict[str, str] = {}
    _, page = _request(connection, "GET", "/accounts/login", jar)
    status, _ = _request(connection, "POST", "/accounts/login", jar,
                         {"email": OFFICER_EMAIL, "password": PASSWORD, "csrf_token": _csrf(page)})
    if status != 302:
        raise SystemExit(f"could not log in as {OFFICER_EMAIL} through gunicorn: HTTP {status}")
    return connection, jar


def bench_queue_gunicorn(sizes: list[int], database_url: str, requests: int = 200, warmup: int = 5,
                         rebuild: bool = False) -> tuple[list[tuple[str, ...]], bool]:
    """The queue page over HTTP from `gunicorn -w 2 'bizportal.app:create_app()'` (one server per size,
    production settings), one client, cases and sizes in rotation; SQL statements per page counted in
    process on the same paths (gunicorn's workers cannot be counted from outside)."""
    from bench.web import SECRET_KEY, WORK, gunicorn, signing_key

    ensure_database(database_url)
    urls = {size: ensure_dataset(database_url, size, rebuild=rebuild) for size in sizes}
    with _all_logged_in(urls) as targets:  # in process: the case paths and the statements per page
        paths = {target.size: case_paths(target) for target in targets}
        statements = {}
        for target in targets:
            for name, _ in CASES:
                target.get(paths[target.size][name])
                statements[(name, target.size)] = len(target.statements)
    figures = {(name, size): Figures(statements=statements[(name, size)]) for name, _ in CASES for size in sizes}
    with contextlib.ExitStack() as stack:
        connections = {}
        for size in sizes:
            environment = {"BIZPORTAL_ENV": "production", "DATABASE_URL": urls[size], "SECRET_KEY": SECRET_KEY,
                           "LICENCE_SIGNING_KEY": str(signing_key(WORK / "signing.pem")),
                           "BABEL_DEFAULT_LOCALE": "th", "PYTHONUNBUFFERED": "1"}
            server = stack.enter_context(gunicorn(f"queue-{size}", "bizportal.app:create_app()", environment,
                                                  "/healthz"))
            connections[size] = (*_http_login(server.port), server)

        def get(size: int, path: str) -> float:
            from bench.web import _request

            connection, jar, _ = connections[size]
            started = time.perf_counter()
            status, _ = _request(connection, "GET", path, jar)
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                raise SystemExit(f"{path} at {size} through gunicorn: HTTP {status}")
            return elapsed

        for _ in range(warmup):  # both workers of each server: every page, several times
            for name, _ in CASES:
                for size in sizes:
                    get(size, paths[size][name])
        for number in range(requests):
            for name, _ in CASES:
                for size in sizes:
                    figures[(name, size)].samples.append(get(size, paths[size][name]))
            if number % 50 == 49:
                print(f"  round {number + 1}", file=sys.stderr)
        memory = {size: connections[size][2].memory() for size in sizes}
    smallest = min(sizes)
    header = ("case (gunicorn, 2 workers)", *(f"{label} {size:,}" for size in sizes for label in ("p50", "p95")),
              "statements", f"p95 ratio {max(sizes):,}/{smallest:,}", "")
    rows: list[tuple[str, ...]] = [header]
    ok = True
    for name, _ in CASES:
        cells = [name]
        for size in sizes:
            result = figures[(name, size)]
            cells += [f"{result.percentile(0.5):.1f} ms", f"{result.percentile(0.95):.1f} ms"]
        cells.append("/".join(str(count) for count in sorted({figures[(name, size)].statements for size in sizes})))
        ratio = figures[(name, max(sizes))].percentile(0.95) / figures[(name, smallest)].percentile(0.95)
        ok = ok and ratio <= TARGET_RATIO
        cells += [f"{ratio:.2f}", "PASS" if ratio <= TARGET_RATIO else "MISS"]
        rows.append(tuple(cells))
    for size in sizes:
        print(f"gunicorn workers at {size:,}: RSS now / peak " + ", ".join(
            f"{now:.0f} / {peak:.0f} MB" for now, peak in memory[size]), file=sys.stderr)
    return rows, ok
