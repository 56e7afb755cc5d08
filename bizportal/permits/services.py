"""Publishing permit specs and reading the catalogue.

`load_specs` turns a validation result into stored versions. It is idempotent:
loading the same files twice stores nothing new. Published versions never
change; different content must come with a higher `version:` number, otherwise
nothing at all is stored and the error says what to do. Catalogue reads use a
fixed number of SQL statements however many permit types exist.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from ..audit.services import record
from ..errors import Conflict, NotFound
from ..workflow.problems import SpecError
from ..workflow.routes import compile_route
from ..workflow.spec import Agency as AgencySpec
from ..workflow.spec import PermitSpec
from ..workflow.validation import ValidationResult, spec_hash
from .models import Agency, PermitType, PermitVersion

logger = logging.getLogger(__name__)

Outcome = Literal["created", "new_version", "unchanged"]

AGENCIES_SOURCE = "workflows/agencies.yaml"
"""Where the agencies a load stores are declared (named in the audit entries of its overwrites)."""


@dataclass(frozen=True)
class PermitOutcome:
    """What loading did to one permit type."""

    key: str
    number: int
    content_hash: str
    outcome: Outcome
    current_number: int


@dataclass
class LoadReport:
    """What `load_specs` stored: per permit type, and agencies by what happened to them."""

    permits: list[PermitOutcome] = field(default_factory=list)
    agencies_created: list[str] = field(default_factory=list)
    agencies_updated: list[str] = field(default_factory=list)
    agencies_unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything new was stored."""
        return bool(self.agencies_created or self.agencies_updated
                    or any(item.outcome != "unchanged" for item in self.permits))


class VersionConflict(Conflict):
    """Different content under a version number already published (or an older one)."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        super().__init__("\n".join(conflicts))


def permit_file_name(key: str) -> str:
    """Where the permit type `key` is defined, by the file-name convention the validator enforces."""
    return f"workflows/{key}.yaml"


def load_specs(session: Session, result: ValidationResult, now: dt.datetime,
               published_by: str | None = None, actor_id: int | None = None) -> LoadReport:
    """Store the agencies and permit specs of a problem-free `result`.

    Guarantees: the same content (same hash) stores nothing; new content with a
    new, higher version number becomes a new immutable version and the current
    one; new content under a number already used (or lower than the current)
    raises `VersionConflict` before anything is written. Raises `SpecError` if
    `result` has problems. Agencies the files declare are overwritten with the
    files' values; each overwrite is audited with the values it replaced (by
    `actor_id`, None for the command line). Only flushes; the caller commits.
    """
    if result.problems:
        raise SpecError(result.problems)
    with _collector_paused():
        return _load_specs(session, result, now, published_by, actor_id)


def _load_specs(session: Session, result: ValidationResult, now: dt.datetime,
                published_by: str | None, actor_id: int | None) -> LoadReport:
    keys = sorted(result.specs)
    existing = {
        permit_type.key: permit_type
        for permit_type in session.scalars(
            select(PermitType).where(PermitType.key.in_(keys))
            .options(selectinload(PermitType.versions), joinedload(PermitType.current_version))).unique()
    }
    # Read as dicts straight from the validator's JSON (no models built), dumped once: hash and row.
    dumps = {key: result.specs.dump(key) for key in keys}
    hashes = {key: spec_hash(dumps[key]) for key in keys}
    conflicts: list[str] = []
    for key in keys:
        permit_type = existing.get(key)
        if permit_type is None:
            continue
        number = dumps[key]["permit"]["version"]
        if any(version.content_hash == hashes[key] for version in permit_type.versions):
            continue
        numbers = [version.number for version in permit_type.versions]
        if number in numbers:
            conflicts.append(f"{permit_file_name(key)}: version {number} is already published with different "
                             f"content; raise `version:` to {max(numbers) + 1}")
        elif numbers and number < max(numbers):
            conflicts.append(f"{permit_file_name(key)}: version {number} is older than the published version "
                             f"{max(numbers)}; raise `version:` to {max(numbers) + 1}")
    if conflicts:
        raise VersionConflict(conflicts)

    report = LoadReport()
    _upsert_agencies(session, result.agencies.values(), now, report, actor_id, published_by)
    created: list[str] = []
    for key in keys:
        number = dumps[key]["permit"]["version"]
        permit_type = existing.get(key)
        if permit_type is None:
            created.append(key)  # stored below, all at once
            report.permits.append(PermitOutcome(key, number, hashes[key], "created", number))
            logger.info("permit version published", extra={"permit_key": key, "version": number})
            continue
        same = next((v for v in permit_type.versions if v.content_hash == hashes[key]), None)
        if same is not None:
            current = permit_type.current_version
            report.permits.append(PermitOutcome(key, same.number, same.content_hash, "unchanged",
                                                current.number if current else same.number))
            continue
        permit_source, form_source = result.sources[key]
        version = PermitVersion(
            permit_type=permit_type, number=number, content_hash=hashes[key],
            spec=dumps[key], permit_source=permit_source, form_source=form_source,
            published_at=now, published_by=published_by)
        session.add(version)
        permit_type.current_version = version
        report.permits.append(PermitOutcome(key, version.number, version.content_hash, "new_version",
                                            version.number))
        logger.info("permit version published", extra={"permit_key": key, "version": version.number})
    session.flush()
    if created:
        _insert_new_permit_types(session, created, dumps, hashes, result.sources, now, published_by)
    return report


def _insert_new_permit_types(session: Session, keys: list[str], dumps: dict[str, dict[str, Any]],
                             hashes: dict[str, str], sources: dict[str, tuple[str, str]], now: dt.datetime,
                             published_by: str | None) -> None:
    # A first load of thousands of permit types: three bulk statements (types, versions, current
    # versions) instead of the unit of work's per-object bookkeeping. No object enters the session.
    type_ids: dict[str, int] = {key: type_id for key, type_id in session.execute(
        insert(PermitType).returning(PermitType.key, PermitType.id),
        [{"key": key, "withdrawn": False, "created_at": now} for key in keys])}
    version_ids = session.execute(
        insert(PermitVersion).returning(PermitVersion.permit_type_id, PermitVersion.id),
        [{"permit_type_id": type_ids[key], "number": dumps[key]["permit"]["version"], "content_hash": hashes[key],
          "spec": dumps[key], "permit_source": sources[key][0], "form_source": sources[key][1],
          "published_at": now, "published_by": published_by} for key in keys]).all()
    session.execute(update(PermitType), [{"id": type_id, "current_version_id": version_id}
                                         for type_id, version_id in version_ids])


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a load runs.

    Reading thousands of specs makes millions of dicts and lists, none of them in a cycle: the
    collector would scan the growing heap again and again for nothing, and they are freed by
    reference counting when the load returns, before the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _upsert_agencies(session: Session, agencies: Iterable[AgencySpec], now: dt.datetime,
                     report: LoadReport, actor_id: int | None, published_by: str | None) -> None:
    # agencies.yaml is the source of truth for the agencies it declares: an edit made in the admin
    # console is overwritten here, but never silently; the audit entry keeps the values replaced.
    wanted = {agency.id: agency for agency in agencies}
    stored = {agency.id: agency
              for agency in session.scalars(select(Agency).where(Agency.id.in_(list(wanted))))}
    for agency_id, spec in wanted.items():
        values = {
            "code": spec.code,
            "kind": spec.kind.value,
            "name_th": spec.name.th,
            "name_en": spec.name.en,
            "short_name_th": spec.short_name.th if spec.short_name else None,
            "short_name_en": spec.short_name.en if spec.short_name else None,
            "parent_id": spec.parent,
            "website": spec.website,
            "phone": spec.phone,
            "extra_holidays": [day.isoformat() for day in spec.extra_holidays],
        }
        row = stored.get(agency_id)
        if row is None:
            session.add(Agency(id=agency_id, updated_at=now, **values))
            report.agencies_created.append(agency_id)
        elif any(getattr(row, name) != value for name, value in values.items()):
            changes = {name: {"from": getattr(row, name), "to": value}
                       for name, value in values.items() if getattr(row, name) != value}
            record(session, at=now, actor_id=actor_id, action="agency_updated", subject_type="agency",
                   subject_id=agency_id, data={"via": AGENCIES_SOURCE, "published_by": published_by,
                                               "changes": changes})
            logger.warning("agency overwritten by %s", AGENCIES_SOURCE,
                           extra={"agency_id": agency_id, "fields": sorted(changes)})
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            report.agencies_updated.append(agency_id)
        else:
            report.agencies_unchanged.append(agency_id)


# --------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class CatalogueEntry:
    """A permit type as the catalogue shows it: its current version, spec and issuing agency."""

    permit_type: PermitType
    version: PermitVersion
    spec: PermitSpec
    issuing_agency: Agency | None


@dataclass(frozen=True)
class PublicPermit:
    """Everything the public page of a permit type needs."""

    permit_type: PermitType
    version: PermitVersion
    spec: PermitSpec
    agencies: dict[str, Agency]


def agency_ids(spec: PermitSpec) -> set[str]:
    """Agencies a permit type involves: the issuer and every stage's agency."""
    return {spec.permit.issuing_agency, *(stage.agency for stage in compile_route(spec.permit).stages())}


def agencies_by_id(session: Session, ids: Iterable[str]) -> dict[str, Agency]:
    """Load the agencies `ids` in one statement."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {agency.id: agency for agency in session.scalars(select(Agency).where(Agency.id.in_(wanted)))}


def list_catalogue(session: Session) -> list[CatalogueEntry]:
    """Permit types open to applications (current version, not withdrawn), by key; two statements."""
    rows = session.execute(
        select(PermitType, PermitVersion)
        .join(PermitVersion, PermitType.current_version_id == PermitVersion.id)
        .where(PermitType.withdrawn.is_(False))
        .order_by(PermitType.key)
    ).all()
    specs = [(permit_type, version, version.permit_spec()) for permit_type, version in rows]
    agencies = agencies_by_id(session, (spec.permit.issuing_agency for _, _, spec in specs))
    return [CatalogueEntry(permit_type, version, spec, agencies.get(spec.permit.issuing_agency))
            for permit_type, version, spec in specs]


def list_permit_types(session: Session) -> list[PermitType]:
    """Every permit type, withdrawn ones too, with versions and current version loaded; two statements."""
    return list(session.scalars(
        select(PermitType)
        .options(selectinload(PermitType.versions), joinedload(PermitType.current_version))
        .order_by(PermitType.key)
    ).unique())


def get_permit_version(session: Session, key: str, number: int | None = None) -> PermitVersion:
    """Version `number` of permit type `key`, or its current version; raises `NotFound`."""
    query = select(PermitVersion).join(PermitVersion.permit_type).where(PermitType.key == key)
    if number is None:
        query = query.where(PermitType.current_version_id == PermitVersion.id)
    else:
        query = query.where(PermitVersion.number == number)
    version = session.scalars(query.options(joinedload(PermitVersion.permit_type))).first()
    if version is None:
        if number is None:
            raise NotFound(_l("There is no permit type “%(key)s”.", key=key))
        raise NotFound(_l("Permit type “%(key)s” has no version %(number)s.", key=key, number=number))
    return version


def public_permit(session: Session, key: str) -> PublicPermit:
    """Return the current version of a permit type open to applications, with its agencies.

    Raises `NotFound` for an unknown or withdrawn permit type.
    """
    version = get_permit_version(session, key)
    if version.permit_type.withdrawn:
        raise NotFound(_l("There is no permit type “%(key)s”.", key=key))
    spec = version.permit_spec()
    return PublicPermit(version.permit_type, version, spec, agencies_by_id(session, agency_ids(spec)))
