"""`bizportal workflows ...`: validate, load and inspect permit-type files.

Every outcome is a message and an exit code (0 fine, 1 problems), never a
traceback: a missing path or a binary file is reported like any other problem.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from ..app import LICENCE_TEMPLATES_DIR, settings_of
from ..database import unit_of_work
from ..errors import NotFound
from ..extensions import db
from ..workflow.problems import Problem
from ..workflow.routes import compile_route
from ..workflow.spec import Choose, Parallel, Stage
from ..workflow.validation import ValidationResult, validate_paths
from .models import PermitVersion
from .services import LoadReport, VersionConflict, get_permit_version, list_permit_types, load_specs

logger = logging.getLogger(__name__)

workflows = AppGroup("workflows", help="Validate, load and inspect permit-type files (workflows/, forms/).")

PATHS = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))


def default_paths() -> list[Path]:
    """The configured workflows/ and forms/ folders."""
    settings = settings_of(current_app)
    return [settings.workflows_dir, settings.forms_dir]


def validate(paths: Sequence[Path]) -> ValidationResult:
    """Validate `paths` (or the configured folders) against the licence templates; never raises."""
    chosen = list(paths) or default_paths()
    try:
        # A whole tree of thousands of files is checked on every core; small runs stay in process.
        return validate_paths(chosen, template_dirs=[LICENCE_TEMPLATES_DIR], workers=os.cpu_count() or 1)
    except OSError as error:
        name = getattr(error, "filename", None) or ", ".join(map(str, chosen))
        problem = Problem(str(name), 1, 1, f"cannot read: {error.strerror or error}", "check the path and "
                          "its permissions", "not-readable")
    except Exception as error:  # a validator bug must still not show a traceback to an admin
        logger.exception("validator failed")
        problem = Problem(", ".join(map(str, chosen)), 1, 1, f"the validator failed: {error!r}",
                          "please report this as a bug", "internal")
    return ValidationResult(problems=[problem])


def echo_problems(result: ValidationResult) -> None:
    """Print every problem as `file:line:column: message` and its hint."""
    for problem in result.problems:
        click.echo(problem.format())


def summary(result: ValidationResult) -> str:
    """One line saying how the validation went."""
    if result.problems:
        count = len(result.problems)
        return (f"{count} problem{'s' if count != 1 else ''} found in {result.files_checked} "
                f"file{'s' if result.files_checked != 1 else ''} checked")
    keys = ", ".join(sorted(result.specs)) or "none"
    return (f"ok: {len(result.specs)} permit type{'s' if len(result.specs) != 1 else ''} valid ({keys}); "
            f"{result.files_checked} files checked, no problems")


@workflows.command("validate")
@PATHS
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for tools")
def validate_command(paths: tuple[Path, ...], output_format: str) -> None:
    """Check permit files, forms and agencies; exit 1 if anything is wrong.

    PATHS are files or folders; by default the configured workflows/ and forms/.
    """
    result = validate(paths)
    if output_format == "json":
        click.echo(json.dumps({
            "ok": result.ok,
            "files_checked": result.files_checked,
            "permits": sorted(result.specs),
            "problems": [problem.as_dict() for problem in result.problems],
        }, ensure_ascii=False, indent=2))
    else:
        echo_problems(result)
        click.echo(summary(result))
    if not result.ok:
        raise SystemExit(1)


def require_schema() -> None:
    """Stop with a clear message when the database is unreachable or not migrated."""
    try:
        present = inspect(db.engine).has_table("permit_types")
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot use the database (DATABASE_URL): {error.__class__.__name__}: "
                                   f"{str(error).splitlines()[0]}") from None
    if not present:
        raise click.ClickException("the database has no tables yet; run `bizportal db upgrade` first")


def echo_report(report: LoadReport) -> None:
    """Print what a load created, updated or left unchanged."""
    words = {"created": "created", "new_version": "new version", "unchanged": "unchanged"}
    for item in report.permits:
        note = f" (current is version {item.current_number})" if item.current_number != item.number else ""
        click.echo(f"{words[item.outcome]:<12} {item.key} version {item.number} "
                   f"sha256:{item.content_hash[:12]}{note}")
    click.echo(f"agencies: {len(report.agencies_created)} created, {len(report.agencies_updated)} updated, "
               f"{len(report.agencies_unchanged)} unchanged")


def validate_and_load(paths: Sequence[Path], published_by: str) -> bool:
    """Validate, then store in one transaction; print the outcome. Returns False when nothing was stored."""
    result = validate(paths)
    if not result.ok:
        echo_problems(result)
        click.echo(summary(result))
        click.echo("nothing was loaded", err=True)
        return False
    require_schema()
    try:
        with unit_of_work(db.session()) as session:
            report = load_specs(session, result, dt.datetime.now(dt.UTC), published_by=published_by)
    except VersionConflict as conflict:
        for line in conflict.conflicts:
            click.echo(line, err=True)
        click.echo("nothing was loaded", err=True)
        return False
    echo_report(report)
    return True


@workflows.command("load")
@PATHS
def load_command(paths: tuple[Path, ...]) -> None:
    """Validate permit files, then publish new versions; exit 1 on any problem.

    Loading the same files again changes nothing. Changed content needs a higher
    `version:`. PATHS default to the configured workflows/ and forms/.
    """
    if not validate_and_load(paths, published_by="cli"):
        raise SystemExit(1)


@workflows.command("list")
def list_command() -> None:
    """List stored permit types with their current version."""
    require_schema()
    permit_types = list_permit_types(db.session())
    if not permit_types:
        click.echo("no permit types loaded; run `bizportal workflows load`")
        return
    click.echo(f"{'KEY':<24} {'CURRENT':>7} {'VERSIONS':>8}  {'STATUS':<9} TITLE")
    for permit_type in permit_types:
        current = permit_type.current_version
        title = current.permit_spec().permit.title.th if current else ""
        status = "withdrawn" if permit_type.withdrawn else "open"
        click.echo(f"{permit_type.key:<24} {current.number if current else '-':>7} "
                   f"{len(permit_type.versions):>8}  {status:<9} {title}")


def _route_lines(nodes: Sequence[Stage | Parallel | Choose], indent: str, numbered: bool) -> list[str]:
    lines = []
    for index, node in enumerate(nodes, start=1):
        marker = f"{index}." if numbered else "-"
        when = None if isinstance(node, Choose) else node.when
        condition = f"  when: {when}" if when else ""
        jump = f"  next: {node.next}" if node.next else ""
        if isinstance(node, Stage):
            lines.append(f"{indent}{marker} {node.id}: {node.title.en} [{node.agency}, "
                         f"{node.time_limit_days} working days]{condition}{jump}")
        elif isinstance(node, Choose):
            lines.append(f"{indent}{marker} {node.id}: one of{jump}")
            for option in node.choose:
                lines.append(f"{indent}   option {option.id}: " + (f"when {option.when}" if option.when
                                                                     else "otherwise"))
                lines.extend(_route_lines(option.steps, indent + "     ", numbered=False))
        else:
            lines.append(f"{indent}{marker} {node.id}: in parallel{condition}{jump}")
            for branch in node.parallel:
                lines.append(f"{indent}   branch {branch.id}:")
                lines.extend(_route_lines(branch.steps, indent + "     ", numbered=False))
    return lines


@workflows.command("show")
@click.argument("key")
@click.option("--version", "number", type=int, default=None, help="a published version (default: current)")
def show_command(key: str, number: int | None) -> None:
    """Show a permit type: header, versions, content hash and stages."""
    require_schema()
    session = db.session()
    try:
        version = get_permit_version(session, key, number)
    except NotFound:
        message = f"no permit type {key!r}" if number is None else f"{key!r} has no version {number}"
        raise click.ClickException(message) from None
    permit_type = version.permit_type
    spec = version.permit_spec()
    permit = spec.permit
    current: PermitVersion | None = permit_type.current_version
    click.echo(f"{permit.key} ({permit.code}), version {version.number}"
               + (" (current)" if current is not None and current.id == version.id else ""))
    click.echo(f"  title:          {permit.title.th}")
    click.echo(f"                  {permit.title.en}")
    click.echo(f"  category:       {permit.category}")
    click.echo(f"  issuing agency: {permit.issuing_agency}")
    click.echo(f"  time limit:     {permit.time_limit_days} working days")
    fields = spec.fields()
    click.echo(f"  form:           {spec.form.key} ({len(spec.form.steps)} steps, {len(fields)} fields, "
               f"{len(spec.form.documents)} documents)")
    click.echo(f"  status:         {'withdrawn' if permit_type.withdrawn else 'open'}")
    click.echo("versions:")
    for item in permit_type.versions:
        mark = "*" if current is not None and item.id == current.id else " "
        click.echo(f"  {mark} {item.number:>3}  published {item.published_at:%Y-%m-%d %H:%M} UTC by "
                   f"{item.published_by or 'unknown'}  sha256:{item.content_hash[:12]}")
    click.echo(f"hash: sha256:{version.content_hash}")
    route = compile_route(permit)
    click.echo(f"stages ({sum(1 for _ in route.stages())}):")
    for line in _route_lines(permit.route, "  ", numbered=True):
        click.echo(line)
    if permit.fees:
        click.echo("fees:")
        for fee in permit.fees:
            condition = f"  when: {fee.when}" if fee.when else ""
            click.echo(f"  - {fee.id}: {' '.join(fee.amount.split())}  ({fee.payable}){condition}")
