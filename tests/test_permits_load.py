"""Publishing permit files: validation from the CLI, idempotent loads, immutable versions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.database import unit_of_work
from bizportal.permits.models import Agency, PermitType, PermitVersion
from bizportal.permits.services import (
    LoadReport,
    VersionConflict,
    get_permit_version,
    list_catalogue,
    list_permit_types,
    load_specs,
)
from bizportal.workflow.validation import ValidationResult, spec_hash

from .factories import FIXTURE_TREE, NOW, SEED_KEYS, load, validate

KEY = "fixture_signboard"


def _tree_paths(tree: Path) -> tuple[Path, Path]:
    return tree / "workflows", tree / "forms"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_loading_twice_stores_nothing_new(db_session: Session, fixture_tree: Path) -> None:
    first = load(db_session, *_tree_paths(fixture_tree))
    assert [(item.key, item.outcome, item.number) for item in first.permits] == [(KEY, "created", 1)]
    assert sorted(first.agencies_created) == ["fixture_town", "fixture_works"]
    versions, agencies = _count(db_session, PermitVersion), _count(db_session, Agency)

    second = load(db_session, *_tree_paths(fixture_tree), now=NOW + dt.timedelta(days=1))
    assert [(item.key, item.outcome) for item in second.permits] == [(KEY, "unchanged")]
    assert sorted(second.agencies_unchanged) == ["fixture_town", "fixture_works"]
    assert not second.changed
    assert (_count(db_session, PermitVersion), _count(db_session, Agency)) == (versions, agencies)
    version = get_permit_version(db_session, KEY)
    assert version.published_at == NOW
    assert version.published_by == "test"


def test_stored_version_keeps_spec_sources_and_hash(db_session: Session, fixture_tree: Path) -> None:
    result = validate(*_tree_paths(fixture_tree))
    load(db_session, *_tree_paths(fixture_tree))
    version = get_permit_version(db_session, KEY)
    assert version.content_hash == spec_hash(result.specs[KEY])
    assert len(version.content_hash) == 64
    assert version.permit_spec() == result.specs[KEY]
    assert version.permit_source == (fixture_tree / "workflows" / f"{KEY}.yaml").read_text(encoding="utf-8")
    assert version.form_source == (fixture_tree / "forms" / f"{KEY}.yaml").read_text(encoding="utf-8")
    assert version.published_at.tzinfo is not None
    agency = db_session.get(Agency, "fixture_works")
    assert agency is not None
    assert (agency.name_en, agency.parent_id, agency.extra_holidays) == (
        "Public Works Division, Fixture Town", "fixture_town", ["2026-12-07"])


def test_changed_content_under_the_same_version_is_refused(db_session: Session, fixture_tree: Path) -> None:
    load(db_session, *_tree_paths(fixture_tree))
    _edit(fixture_tree / "workflows" / f"{KEY}.yaml", "en: Fixture signboard permit", "en: Renamed permit")
    _edit(fixture_tree / "workflows" / "agencies.yaml", "en: Fixture Town Municipality", "en: Renamed Town")
    result = validate(*_tree_paths(fixture_tree))
    assert result.ok
    with pytest.raises(VersionConflict) as conflict, unit_of_work(db_session):
        load_specs(db_session, result, NOW, published_by="test")
    assert str(conflict.value) == (f"workflows/{KEY}.yaml: version 1 is already published with different "
                                   "content; raise `version:` to 2")
    # nothing was touched: not the permit, not the agencies
    assert get_permit_version(db_session, KEY).permit_spec().permit.title.en == "Fixture signboard permit"
    assert _count(db_session, PermitVersion) == 1
    town = db_session.get(Agency, "fixture_town")
    assert town is not None and town.name_en == "Fixture Town Municipality"


def test_new_version_becomes_current_and_old_one_is_kept(db_session: Session, fixture_tree: Path) -> None:
    load(db_session, *_tree_paths(fixture_tree))
    first_hash = get_permit_version(db_session, KEY).content_hash
    permit_file = fixture_tree / "workflows" / f"{KEY}.yaml"
    _edit(permit_file, "version: 1", "version: 2")
    _edit(permit_file, "time_limit_days: 15", "time_limit_days: 20")
    later = NOW + dt.timedelta(days=3)
    report = load(db_session, *_tree_paths(fixture_tree), now=later)
    assert [(item.outcome, item.number) for item in report.permits] == [("new_version", 2)]

    current = get_permit_version(db_session, KEY)
    assert current.number == 2
    assert current.published_at == later
    assert current.permit_spec().permit.time_limit_days == 20
    old = get_permit_version(db_session, KEY, 1)
    assert old.content_hash == first_hash
    assert old.permit_spec().permit.time_limit_days == 15
    (permit_type,) = list_permit_types(db_session)
    assert [version.number for version in permit_type.versions] == [1, 2]

    # going back to the old file changes nothing: that content is already version 1
    _edit(permit_file, "version: 2", "version: 1")
    _edit(permit_file, "time_limit_days: 20", "time_limit_days: 15")
    again = load(db_session, *_tree_paths(fixture_tree))
    outcomes = [(item.outcome, item.number, item.current_number) for item in again.permits]
    assert outcomes == [("unchanged", 1, 2)]
    assert get_permit_version(db_session, KEY).number == 2


def test_an_older_version_number_is_refused(db_session: Session, fixture_tree: Path) -> None:
    permit_file = fixture_tree / "workflows" / f"{KEY}.yaml"
    _edit(permit_file, "version: 1", "version: 3")
    load(db_session, *_tree_paths(fixture_tree))
    _edit(permit_file, "version: 3", "version: 2")
    _edit(permit_file, "time_limit_days: 15", "time_limit_days: 14")
    with pytest.raises(VersionConflict, match=r"version 2 is older than the published version 3; raise "
                                              r"`version:` to 4"), unit_of_work(db_session):
        load_specs(db_session, validate(*_tree_paths(fixture_tree)), NOW)


def test_seed_permits_load(db_session: Session, load_seeds: Callable[[], LoadReport]) -> None:
    report = load_seeds()
    assert {item.key for item in report.permits} >= set(SEED_KEYS)
    assert all(item.outcome == "created" for item in report.permits)
    assert {entry.permit_type.key for entry in list_catalogue(db_session)} >= set(SEED_KEYS)
    assert not load_seeds().changed


# --------------------------------------------------------------------------- CLI

def test_validate_command_on_the_seed_files(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["workflows", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")
    for key in SEED_KEYS:
        assert key in result.output


def test_validate_command_reports_problems_with_position(runner: FlaskCliRunner, fixture_tree: Path) -> None:
    _edit(fixture_tree / "workflows" / f"{KEY}.yaml", "time_limit_source:", "time_limit_sorce:")
    result = runner.invoke(args=["workflows", "validate", *map(str, _tree_paths(fixture_tree))])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    problem = next(line for line in lines if "unknown key 'time_limit_sorce'" in line)
    assert problem.startswith(f"{fixture_tree / 'workflows' / KEY}.yaml:20:1: ")
    assert "did you mean 'time_limit_source'?" in result.output
    assert "    hint: " in result.output
    assert lines[-1] == "1 problem found in 3 files checked"


def test_validate_command_json(runner: FlaskCliRunner, fixture_tree: Path) -> None:
    arguments = ["workflows", "validate", "--format", "json", *map(str, _tree_paths(fixture_tree))]
    good = runner.invoke(args=arguments)
    assert good.exit_code == 0
    assert json.loads(good.output) == {"ok": True, "files_checked": 3, "permits": [KEY], "problems": []}

    _edit(fixture_tree / "forms" / f"{KEY}.yaml", "type: area_m2", "type: area")
    bad = runner.invoke(args=arguments)
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["ok"] is False
    assert report["permits"] == []
    (problem,) = [item for item in report["problems"] if item["file"].endswith(f"forms/{KEY}.yaml")]
    assert set(problem) == {"file", "line", "column", "message", "hint", "code"}
    assert problem["line"] == 24


def test_validate_command_survives_missing_paths_and_garbage(runner: FlaskCliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(args=["workflows", "validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert f"{tmp_path / 'nope.yaml'}:1:1: no such file or folder" in missing.output

    garbage = tmp_path / "workflows" / "garbage.yaml"
    garbage.parent.mkdir()
    garbage.write_bytes(bytes(range(256)) * 8)
    result = runner.invoke(args=["workflows", "validate", str(garbage)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{garbage}:1:1:" in result.output
    assert "Traceback" not in result.output

    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    json_result = runner.invoke(args=["workflows", "validate", "--format", "json", str(empty_folder),
                                      str(garbage)])
    assert json_result.exit_code == 1
    assert json.loads(json_result.output)["ok"] is False


def test_load_command_then_list_and_show(runner: FlaskCliRunner, fixture_tree: Path) -> None:
    paths = [str(path) for path in _tree_paths(fixture_tree)]
    loaded = runner.invoke(args=["workflows", "load", *paths])
    assert loaded.exit_code == 0, loaded.output
    assert f"created      {KEY} version 1 sha256:" in loaded.output
    assert "agencies: 2 created, 0 updated, 0 unchanged" in loaded.output

    again = runner.invoke(args=["workflows", "load", *paths])
    assert again.exit_code == 0
    assert f"unchanged    {KEY} version 1" in again.output
    assert "agencies: 0 created, 0 updated, 2 unchanged" in again.output

    listing = runner.invoke(args=["workflows", "list"])
    assert listing.exit_code == 0
    row = next(line for line in listing.output.splitlines() if line.startswith(KEY))
    assert row.split()[:4] == [KEY, "1", "1", "open"]
    assert "ขออนุญาตติดตั้งป้ายทดสอบ" in row

    shown = runner.invoke(args=["workflows", "show", KEY])
    assert shown.exit_code == 0
    text = shown.output
    assert text.startswith(f"{KEY} (SIGN), version 1 (current)")
    assert "time limit:     15 working days" in text
    assert "hash: sha256:" in text and len(text.split("hash: sha256:")[1].split()[0]) == 64
    assert "1. intake: Check the application [fixture_town, 3 working days]" in text
    assert "2. reviews: in parallel" in text
    assert "structure_review: Review the sign structure [fixture_works, 7 working days]  when: " \
           "sign_area_m2 > 50.0" in text
    assert "3. approval: one of" in text
    assert "option large_sign: when sign_area_m2 > 50.0" in text
    assert "- mayor_decision: Decision by the mayor [fixture_town, 2 working days]" in text
    assert "option small_sign: otherwise" in text
    assert "- decision: Decision [fixture_town, 2 working days]" in text
    assert "permit_fee: sign_area_m2 > 50.0 ? 500.0 : 200.0  (before_issue)" in text


def test_load_command_refuses_changed_content_and_show_finds_versions(
        runner: FlaskCliRunner, fixture_tree: Path) -> None:
    paths = [str(path) for path in _tree_paths(fixture_tree)]
    assert runner.invoke(args=["workflows", "load", *paths]).exit_code == 0
    permit_file = fixture_tree / "workflows" / f"{KEY}.yaml"
    _edit(permit_file, "th: ขออนุญาตติดตั้งป้ายทดสอบ", "th: ขออนุญาตติดตั้งป้าย (แก้ไข)")
    refused = runner.invoke(args=["workflows", "load", *paths])
    assert refused.exit_code == 1
    assert (f"workflows/{KEY}.yaml: version 1 is already published with different content; "
            "raise `version:` to 2") in refused.output
    assert "nothing was loaded" in refused.output

    _edit(permit_file, "version: 1", "version: 2")
    accepted = runner.invoke(args=["workflows", "load", *paths])
    assert accepted.exit_code == 0
    assert f"new version  {KEY} version 2" in accepted.output

    current = runner.invoke(args=["workflows", "show", KEY])
    assert "version 2 (current)" in current.output.splitlines()[0]
    assert "ขออนุญาตติดตั้งป้าย (แก้ไข)" in current.output
    old = runner.invoke(args=["workflows", "show", KEY, "--version", "1"])
    assert old.exit_code == 0
    assert old.output.splitlines()[0] == f"{KEY} (SIGN), version 1"
    assert "ขออนุญาตติดตั้งป้ายทดสอบ" in old.output
    versions = [line for line in old.output.splitlines() if "published" in line]
    assert len(versions) == 2 and versions[1].lstrip().startswith("* ")

    missing = runner.invoke(args=["workflows", "show", KEY, "--version", "9"])
    assert missing.exit_code == 1
    assert f"'{KEY}' has no version 9" in missing.output
    unknown = runner.invoke(args=["workflows", "show", "no_such_permit"])
    assert unknown.exit_code == 1
    assert "no permit type 'no_such_permit'" in unknown.output


def test_load_command_with_problems_loads_nothing(runner: FlaskCliRunner, db_session: Session,
                                                   fixture_tree: Path) -> None:
    _edit(fixture_tree / "workflows" / f"{KEY}.yaml", "agency: fixture_works", "agency: fixture_wroks")
    result = runner.invoke(args=["workflows", "load", *map(str, _tree_paths(fixture_tree))])
    assert result.exit_code == 1
    assert "unknown agency 'fixture_wroks'" in result.output
    assert "did you mean 'fixture_works'?" in result.output
    assert "nothing was loaded" in result.output
    assert _count(db_session, PermitType) == 0
    assert _count(db_session, Agency) == 0


def test_list_command_when_empty(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["workflows", "list"])
    assert result.exit_code == 0
    assert "no permit types loaded" in result.output


def test_load_command_default_paths_are_the_seeds(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["workflows", "load"])
    assert result.exit_code == 0, result.output
    for key in SEED_KEYS:
        assert f"created      {key} version" in result.output


# --------------------------------------------------------------------------- constant queries

def _many(count: int) -> ValidationResult:
    base = validate(FIXTURE_TREE / "workflows", FIXTURE_TREE / "forms")
    spec = base.specs[KEY]
    result = ValidationResult(agencies=base.agencies)
    for index in range(count):
        key = f"permit_{index:03d}"
        permit = spec.permit.model_copy(update={"key": key})
        result.specs[key] = spec.model_copy(update={"permit": permit})
        result.sources[key] = base.sources[KEY]
    return result


@pytest.mark.parametrize("count", [10, 100])
def test_catalogue_reads_use_a_constant_number_of_statements(
        db_session: Session, count_statements: Callable[[], Any], count: int) -> None:
    with unit_of_work(db_session):
        load_specs(db_session, _many(count), NOW)
    db_session.expire_all()
    with count_statements() as statements:
        entries = list_catalogue(db_session)
        titles = [entry.spec.permit.title.en for entry in entries]
        agencies = {entry.issuing_agency.name_en for entry in entries if entry.issuing_agency}
    assert len(titles) == count
    assert agencies == {"Fixture Town Municipality"}
    assert len(statements) == 2

    db_session.expire_all()
    with count_statements() as statements:
        permit_types = list_permit_types(db_session)
        numbers = [(permit_type.current_version.number if permit_type.current_version else None,
                    len(permit_type.versions)) for permit_type in permit_types]
    assert numbers == [(1, 1)] * count
    assert len(statements) == 2

