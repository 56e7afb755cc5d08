"""Admin rules: publishing permit files, withdrawal, accounts, agencies, and reading the audit log.

Every function takes the session (and the time) explicitly and only flushes;
the caller's unit of work commits. Every change an admin makes appends one
audit entry in that same transaction, so a change and its record commit or
roll back together. Pasted files are checked by the same validator as
`bizportal workflows validate`, and published by the same `load_specs`, so a
file the console accepts is one the command line accepts.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..accounts.models import Role, User
from ..accounts.services import create_user, end_sessions, normalize_email, text_problem
from ..applications.models import STATUS_LABELS as APPLICATION_STATUS_LABELS
from ..audit.models import AuditEntry
from ..audit.services import Verification, record, verify
from ..errors import BizportalError, InvalidTransition, NotFound
from ..permits.models import Agency, PermitType, PermitVersion
from ..permits.services import AGENCIES_SOURCE, LoadReport, load_specs, permit_file_name
from ..workflow.problems import Problem
from ..workflow.spec import IDENTIFIER, AgencyKind
from ..workflow.validation import AGENCIES_FILE, SourceFile, ValidationResult, validate_sources

KEY_LINE = re.compile(r"^key:\s*['\"]?([A-Za-z0-9_]+)['\"]?\s*(?:#.*)?$", re.MULTILINE)
FORM_LINE = re.compile(r"^form:\s*['\"]?([A-Za-z0-9_]+)['\"]?\s*(?:#.*)?$", re.MULTILINE)
FALLBACK_PERMIT_NAME = "workflows/pasted.yaml"
FALLBACK_FORM_NAME = "forms/pasted.yaml"


@dataclass(frozen=True)
class AnnotatedLine:
    """One line of a submitted file, with the problems found on it."""

    number: int
    text: str
    problems: tuple[Problem, ...] = ()


@dataclass
class Submission:
    """A pasted or uploaded permit file and its form, with what the validator found."""

    permit_text: str
    form_text: str
    permit_name: str
    form_name: str
    result: ValidationResult = field(default_factory=ValidationResult)

    @property
    def ok(self) -> bool:
        """True when the validator found no problem and produced the permit's spec."""
        return self.result.ok and bool(self.result.specs)

    def problems_in(self, name: str) -> list[Problem]:
        """The problems of the file called `name`."""
        return [problem for problem in self.result.problems if problem.file == name]

    @property
    def other_problems(self) -> list[Problem]:
        """Problems in files other than the two submitted (the agencies file)."""
        return [problem for problem in self.result.problems
                if problem.file not in (self.permit_name, self.form_name)]

    def annotated(self, name: str) -> list[AnnotatedLine]:
        """The lines of the file `name`, each with its problems (problems past the end go on the last line)."""
        text = self.permit_text if name == self.permit_name else self.form_text
        lines = text.splitlines() or [""]
        by_line: dict[int, list[Problem]] = {}
        for problem in self.problems_in(name):
            by_line.setdefault(min(max(problem.line, 1), len(lines)), []).append(problem)
        return [AnnotatedLine(number, line, tuple(by_line.get(number, ())))
                for number, line in enumerate(lines, start=1)]


def _declared(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1) if found else None


def check_submission(session: Session, permit_text: str, form_text: str, agencies_text: str,
                     template_names: set[str]) -> Submission:
    """Validate a permit file and its form as the command line does.

    The files are named by the keys they declare (`workflows/<key>.yaml`,
    `forms/<form>.yaml`), so the validator's file-name checks apply. Without a
    form text, the form of the permit type's current version is used.
    """
    permit_key = _declared(KEY_LINE, permit_text)
    form_key = _declared(FORM_LINE, permit_text)
    if not form_text.strip() and permit_key is not None:
        current = session.scalar(select(PermitVersion).join(
            PermitType, PermitType.current_version_id == PermitVersion.id).where(PermitType.key == permit_key))
        if current is not None:
            form_text = current.form_source
    form_key = _declared(KEY_LINE, form_text) or form_key
    submission = Submission(
        permit_text=permit_text, form_text=form_text,
        permit_name=permit_file_name(permit_key) if permit_key else FALLBACK_PERMIT_NAME,
        form_name=f"forms/{form_key}.yaml" if form_key else FALLBACK_FORM_NAME)
    submission.result = validate_sources(
        agencies=[SourceFile(f"workflows/{AGENCIES_FILE}", agencies_text)],
        permits=[SourceFile(submission.permit_name, permit_text)],
        forms=[SourceFile(submission.form_name, form_text)] if form_text.strip() else [],
        template_names=template_names)
    return submission


def publish(session: Session, submission: Submission, admin: User, now: dt.datetime) -> LoadReport:
    """Store a problem-free submission as a new immutable version (nothing new for the same content).

    Each new version is audited (`permit_published`, from the previous current
    number to the new one); the same content again stores and records nothing.
    Raises `VersionConflict` (nothing stored) for new content under a used or older version number.
    """
    previous = {permit_type.key: permit_type.current_version.number
                for permit_type in session.scalars(
                    select(PermitType).where(PermitType.key.in_(list(submission.result.specs)))
                    .options(joinedload(PermitType.current_version)))
                if permit_type.current_version is not None}
    report = load_specs(session, submission.result, now, published_by=admin.email, actor_id=admin.id)
    for outcome in report.permits:
        if outcome.outcome == "unchanged":
            continue
        before = previous.get(outcome.key)
        record(session, at=now, actor_id=admin.id, action="permit_published", subject_type="permit_type",
               subject_id=outcome.key, from_state=str(before) if before is not None else None,
               to_state=str(outcome.number),
               data={"key": outcome.key, "version": outcome.number, "content_hash": outcome.content_hash})
    return report


def list_agencies(session: Session) -> list[Agency]:
    """Every stored agency, by id."""
    return list(session.scalars(select(Agency).order_by(Agency.id)))


# --------------------------------------------------------------------------- agencies

AGENCY_CODE_MAX_LENGTH = 20
AGENCY_NAME_MAX_LENGTH = 500
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LAST_COMMON_ERA_YEAR = 2400
"""A year above this is a Buddhist-Era year typed by mistake (2569 is 2026)."""


class AgencyInvalid(BizportalError):
    """A new or edited agency that breaks a rule; `problems` pairs each form field with its message."""

    status = 422
    title = _l("The agency was not saved")

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _field, message in problems))


@dataclass(frozen=True)
class AgencyInput:
    """What an admin may set on an agency in the console, as typed (holidays one per line)."""

    name_th: str
    name_en: str
    short_name_th: str = ""
    short_name_en: str = ""
    parent_id: str = ""
    extra_holidays: str = ""


def declared_agency_ids(agencies_text: str) -> set[str]:
    """The ids `workflows/agencies.yaml` declares: a load overwrites these agencies with the file's values."""
    result = validate_sources(agencies=[SourceFile(f"workflows/{AGENCIES_FILE}", agencies_text)], permits=[],
                              forms=[], template_names=None)
    return set(result.agencies)


def parse_holidays(text: str) -> tuple[list[dt.date], list[str]]:
    """Dates typed one per line (or between commas) as YYYY-MM-DD: sorted, without repeats, and the problems."""
    days: set[dt.date] = set()
    problems: list[str] = []
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        try:
            day = dt.date.fromisoformat(item) if ISO_DATE.match(item) else None
        except ValueError:
            day = None
        if day is None:
            problems.append(str(_l("“%(value)s” is not a date. Write each date as YYYY-MM-DD, e.g. 2026-12-07.",
                                   value=item)))
        elif day.year > LAST_COMMON_ERA_YEAR:
            problems.append(str(_l("%(value)s has a Buddhist-Era year. Write the Common Era year (2026, not "
                                   "2569).", value=item)))
        else:
            days.add(day)
    return sorted(days), problems


def _parent_problem(agencies: dict[str, Agency], agency_id: str, parent_id: str | None) -> str | None:
    if parent_id is None:
        return None
    if parent_id not in agencies:
        return str(_l("There is no agency “%(id)s”.", id=parent_id))
    current: str | None = parent_id
    visited: set[str] = set()
    while current is not None and current not in visited:
        if current == agency_id:
            return str(_l("“%(parent)s” cannot be the parent of “%(agency)s”: it is the agency itself or one of "
                          "its sub-agencies.", parent=parent_id, agency=agency_id))
        visited.add(current)
        current = agencies[current].parent_id if current in agencies else None
    return None


def _agency_values(session: Session, agency_id: str, data: AgencyInput,
                   problems: list[tuple[str, str]]) -> dict[str, Any]:
    """The editable column values of `data`, appending each broken rule to `problems`."""
    values: dict[str, Any] = {}
    for name in ("name_th", "name_en", "short_name_th", "short_name_en"):
        text = getattr(data, name).strip()
        problem = text_problem(text)
        if name in ("name_th", "name_en") and not text:
            problem = str(_l("Enter the name."))
        elif len(text) > AGENCY_NAME_MAX_LENGTH:
            problem = str(_l("Use at most %(count)d characters.", count=AGENCY_NAME_MAX_LENGTH))
        if problem:
            problems.append((name, problem))
        values[name] = (text or None) if name.startswith("short_") else text
    agencies = {agency.id: agency for agency in session.scalars(select(Agency))}
    values["parent_id"] = data.parent_id.strip() or None
    parent_problem = _parent_problem(agencies, agency_id, values["parent_id"])
    if parent_problem:
        problems.append(("parent_id", parent_problem))
    days, day_problems = parse_holidays(data.extra_holidays)
    problems.extend(("extra_holidays", problem) for problem in day_problems)
    values["extra_holidays"] = [day.isoformat() for day in days]
    return values


def create_agency(session: Session, admin: User, *, agency_id: str, code: str, kind: str, data: AgencyInput,
                  declared: Iterable[str], now: dt.datetime) -> Agency:
    """A new agency made in the console, audited as `agency_created` with every value it got.

    Raises `AgencyInvalid` with every problem at once (nothing stored): an id in
    use or declared in `workflows/agencies.yaml` (a load would take it over), a
    bad date, an unknown parent. Agencies declared only here are kept by loads.
    """
    agency_id, code = agency_id.strip(), code.strip()
    problems: list[tuple[str, str]] = []
    if not re.match(IDENTIFIER, agency_id):
        problems.append(("agency_id", str(_l("Use lowercase letters, digits and _, starting with a letter "
                                             "(at most 63)."))))
    elif session.get(Agency, agency_id) is not None:
        problems.append(("agency_id", str(_l("An agency with the id “%(id)s” already exists.", id=agency_id))))
    elif agency_id in set(declared):
        problems.append(("agency_id", str(_l("“%(id)s” is declared in %(file)s: store it with “bizportal "
                                             "workflows load” instead.", id=agency_id, file=AGENCIES_SOURCE))))
    if not code or len(code) > AGENCY_CODE_MAX_LENGTH or text_problem(code):
        problems.append(("code", str(_l("Enter a code of at most %(count)d characters.",
                                        count=AGENCY_CODE_MAX_LENGTH))))
    if kind not in {member.value for member in AgencyKind}:
        problems.append(("kind", str(_l("Choose a kind of agency."))))
    values = _agency_values(session, agency_id, data, problems)
    if problems:
        raise AgencyInvalid(problems)
    agency = Agency(id=agency_id, code=code, kind=kind, website=None, phone=None, updated_at=now, **values)
    session.add(agency)
    session.flush()
    record(session, at=now, actor_id=admin.id, action="agency_created", subject_type="agency", subject_id=agency_id,
           data={"via": "console", "values": {"code": code, "kind": kind, **values}})
    return agency


def get_agency(session: Session, agency_id: str) -> Agency:
    """The agency `agency_id`; raises `NotFound`."""
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(_l("There is no agency “%(id)s”.", id=agency_id))
    return agency


def update_agency(session: Session, admin: User, agency_id: str, data: AgencyInput, now: dt.datetime) -> Agency:
    """Change an agency's names, parent and extra holidays, audited as `agency_updated` with from/to values.

    Raises `NotFound`, or `AgencyInvalid` with every problem (nothing stored). No
    change stores and records nothing. Holidays feed due dates computed from now on.
    """
    agency = get_agency(session, agency_id)
    problems: list[tuple[str, str]] = []
    values = _agency_values(session, agency_id, data, problems)
    if problems:
        raise AgencyInvalid(problems)
    changes = {name: {"from": getattr(agency, name), "to": value}
               for name, value in values.items() if getattr(agency, name) != value}
    if changes:
        record(session, at=now, actor_id=admin.id, action="agency_updated", subject_type="agency",
               subject_id=agency_id, data={"via": "console", "changes": changes})
        for name, value in values.items():
            setattr(agency, name, value)
        agency.updated_at = now
        session.flush()
    return agency


def holiday_dates(agency: Agency) -> list[dt.date]:
    """The agency's extra holidays as dates (they are stored as ISO strings)."""
    return [dt.date.fromisoformat(day) for day in agency.extra_holidays]




# --------------------------------------------------------------------------- the audit log

AUDIT_PAGE_SIZE = 50

ACTION_LABELS: dict[str, LazyString] = {
    "submit": _l("Application submitted"),
    "resubmit": _l("Corrected application sent again"),
    "withdraw": _l("Application withdrawn"),
    "deadline_passed": _l("Time limit passed"),
    "approve": _l("Approved"),
    "reject": _l("Rejected"),
    "return_for_correction": _l("Returned for correction"),
    "request_information": _l("Information requested"),
    "claim": _l("Task claimed"),
    "release": _l("Task released"),
    "assign": _l("Task assigned"),
    "user_created": _l("Account created"),
    "user_deactivated": _l("Account deactivated"),
    "user_reactivated": _l("Account reactivated"),
    "user_lead_granted": _l("Made an agency lead"),
    "user_lead_revoked": _l("No longer an agency lead"),
    "permit_published": _l("Permit version published"),
    "permit_withdrawn": _l("Permit type withdrawn"),
    "permit_reinstated": _l("Permit type back in the catalogue"),
    "agency_created": _l("Agency created"),
    "agency_updated": _l("Agency changed"),
    "job_retried": _l("Background job retried"),
    "job_selftest": _l("Background job self-test"),
    "licence_created": _l("Licence numbered"),
    "licence_issued": _l("Licence issued"),
    "licence_expired": _l("Licence expired"),
    "licence_suspended": _l("Licence suspended"),
    "licence_revoked": _l("Licence revoked"),
    "licence_reinstated": _l("Licence reinstated"),
    "licence_renewal_started": _l("Licence renewal started"),
    "api_token_created": _l("API token created"),
    "api_token_revoked": _l("API token revoked"),
    "webhook_created": _l("Webhook created"),
    "webhook_updated": _l("Webhook changed"),
    "webhook_secret_rotated": _l("Webhook secret replaced"),
    "webhook_delivery_retried": _l("Webhook delivery retried"),
}
"""Each audited action's name for people; an action missing here is shown as stored."""

SUBJECT_LABELS: dict[str, LazyString] = {
    "application": _l("Application"),
    "review_task": _l("Review task"),
    "user": _l("Account"),
    "permit_type": _l("Permit type"),
    "agency": _l("Agency"),
    "job": _l("Background job"),
    "licence": _l("Licence"),
    "webhook": _l("Webhook"),
    "api_token": _l("API token"),
}

STATE_LABELS: dict[str, LazyString] = {
    **{status.value: label for status, label in APPLICATION_STATUS_LABELS.items()},
    "active": _l("Active"),
    "inactive": _l("Deactivated"),
    "listed": _l("In the catalogue"),
    "agency_lead": _l("Agency lead"),
    "officer": _l("Officer"),
}


def label_of(labels: dict[str, LazyString], value: str | None) -> str:
    """The translated label of a stored action, subject type or state; the value itself when it has none."""
    if value is None:
        return ""
    label = labels.get(value)
    return str(label) if label is not None else value


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log page is narrowed to; empty strings mean no filter."""

    subject_type: str = ""
    subject_id: str = ""
    actor_email: str = ""
    action: str = ""

    def as_arguments(self) -> dict[str, str]:
        """The filters in use, as query-string arguments (for the next page's link)."""
        return {name: value for name, value in vars(self).items() if value}


@dataclass(frozen=True)
class AuditRow:
    """One entry with its actor (None: the system or the command line)."""

    entry: AuditEntry
    actor: User | None


@dataclass(frozen=True)
class AuditPage:
    """A page of entries, newest first; `older_than` is the id to ask the next page with, if there is one."""

    rows: list[AuditRow]
    older_than: int | None


def audit_page(session: Session, filters: AuditFilters, before: int | None,
               size: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """Entries older than id `before` (newest first), filtered; one statement, keyset on id, never OFFSET."""
    query = select(AuditEntry, User).outerjoin(User, User.id == AuditEntry.actor_id)
    if filters.subject_type:
        query = query.where(AuditEntry.subject_type == filters.subject_type)
    if filters.subject_id:
        query = query.where(AuditEntry.subject_id == filters.subject_id.strip())
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor_email:
        query = query.where(User.email == normalize_email(filters.actor_email))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    found = session.execute(query.order_by(AuditEntry.id.desc()).limit(size + 1)).all()
    rows = [AuditRow(entry, actor) for entry, actor in found[:size]]
    return AuditPage(rows, rows[-1].entry.id if len(found) > size else None)


def agency_history(session: Session, agency_id: str) -> list[AuditRow]:
    """The latest audit entries about one agency with their actors, newest first (one statement)."""
    return audit_page(session, AuditFilters(subject_type="agency", subject_id=agency_id), None).rows


def verify_chain(session: Session) -> Verification:
    """Recompute the whole hash chain (see `audit.services.verify`)."""
    return verify(session)


def permit_type_with_versions(session: Session, key: str) -> PermitType:
    """The permit type `key` with its versions (oldest first); raises `NotFound`."""
    permit_type = session.scalar(select(PermitType).where(PermitType.key == key)
                                 .options(selectinload(PermitType.versions)))
    if permit_type is None:
        raise NotFound(_l("There is no permit type “%(key)s”.", key=key))
    return permit_type


def version_of(permit_type: PermitType, number: int) -> PermitVersion:
    """Version `number` of a permit type loaded with `permit_type_with_versions`; raises `NotFound`."""
    for version in permit_type.versions:
        if version.number == number:
            return version
    raise NotFound(_l("Permit type “%(key)s” has no version %(number)s.", key=permit_type.key, number=number))


def version_diff(older: PermitVersion, newer: PermitVersion) -> list[str]:
    """Unified diff lines from `older` to `newer`, the permit file and then the form file."""
    lines: list[str] = []
    for attribute, name in (("permit_source", permit_file_name(older.permit_type.key)),
                            ("form_source", f"forms/{older.spec['form']['key']}.yaml")):
        lines.extend(difflib.unified_diff(
            getattr(older, attribute).splitlines(), getattr(newer, attribute).splitlines(),
            fromfile=f"{name} (v{older.number})", tofile=f"{name} (v{newer.number})", lineterm=""))
    return lines


def _catalogue_state(withdrawn: bool) -> str:
    return "withdrawn" if withdrawn else "listed"


def set_withdrawn(session: Session, admin: User, key: str, withdrawn: bool, now: dt.datetime) -> PermitType:
    """Withdraw a permit type from the catalogue, or put it back; its applications are not touched.

    A real change is audited (`permit_withdrawn` / `permit_reinstated`); asking for the state it
    already has changes and records nothing.
    """
    permit_type = session.scalar(select(PermitType).where(PermitType.key == key))
    if permit_type is None:
        raise NotFound(_l("There is no permit type “%(key)s”.", key=key))
    if permit_type.withdrawn != withdrawn:
        record(session, at=now, actor_id=admin.id, action="permit_withdrawn" if withdrawn else "permit_reinstated",
               subject_type="permit_type", subject_id=key, from_state=_catalogue_state(permit_type.withdrawn),
               to_state=_catalogue_state(withdrawn), data={"key": key})
        permit_type.withdrawn = withdrawn
    session.flush()
    return permit_type


def list_accounts(session: Session) -> list[User]:
    """Every user, by role and e-mail address."""
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def user_created_data(user: User) -> dict[str, Any]:
    """What the audit log keeps about a new account: never its password or hash."""
    return {"email": user.email, "role": user.role.value, "agency": user.agency_id, "agency_lead": user.is_agency_lead}


def create_officer(session: Session, admin: User, *, email: str, name: str, password: str, agency_id: str,
                   now: dt.datetime, agency_lead: bool = False) -> User:
    """A new officer of `agency_id`, audited as `user_created` (see `accounts.services.create_user` for the errors)."""
    user = create_user(session, email=email, password=password, name=name, now=now, role=Role.OFFICER,
                       agency_id=agency_id, agency_lead=agency_lead)
    record(session, at=now, actor_id=admin.id, action="user_created", subject_type="user", subject_id=user.id,
           to_state=_account_state(True), data=user_created_data(user))
    return user


def _account_state(active: bool) -> str:
    return "active" if active else "inactive"


def set_active(session: Session, admin: User, user_id: int, active: bool, now: dt.datetime) -> User:
    """Deactivate an account (it can no longer log in, and its sessions end) or reactivate it.

    A real change is audited (`user_deactivated` / `user_reactivated`); asking for the state the
    account already has records nothing. Raises `NotFound` for an unknown user and
    `InvalidTransition` when an admin would deactivate themselves.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.id == admin.id and not active:
        raise InvalidTransition(_l("You cannot deactivate your own account."))
    if user.is_active != active:
        record(session, at=now, actor_id=admin.id, action="user_reactivated" if active else "user_deactivated",
               subject_type="user", subject_id=user.id, from_state=_account_state(user.is_active),
               to_state=_account_state(active), data={"email": user.email})
        user.is_active = active
        if not active:
            end_sessions(session, user)
    session.flush()
    return user


def set_agency_lead(session: Session, admin: User, user_id: int, lead: bool, now: dt.datetime) -> User:
    """Give or take an officer's right to assign their agency's tasks; a real change is audited.

    Raises `NotFound` for an unknown user and `InvalidTransition` for someone who is not an officer.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.role is not Role.OFFICER:
        raise InvalidTransition(_l("Only officers can lead an agency's work."))
    if user.is_agency_lead != lead:
        record(session, at=now, actor_id=admin.id, action="user_lead_granted" if lead else "user_lead_revoked",
               subject_type="user", subject_id=user.id, from_state=_lead_state(user.is_agency_lead),
               to_state=_lead_state(lead), data={"email": user.email, "agency": user.agency_id})
        user.is_agency_lead = lead
    session.flush()
    return user


def _lead_state(lead: bool) -> str:
    return "agency_lead" if lead else "officer"


def agency_choices(agencies: Iterable[Agency], locale: str) -> list[tuple[str, str]]:
    """(id, label) pairs for a select list of agencies."""
    return [(agency.id, f"{agency.name(locale)} ({agency.id})") for agency in agencies]
