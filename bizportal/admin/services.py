"""Admin rules: checking and publishing pasted permit files, version history, withdrawal, accounts.

Every function takes the session (and the time) explicitly and only flushes;
the caller's unit of work commits. Pasted files are checked by the same
validator as `bizportal workflows validate`, and published by the same
`load_specs`, so a file the console accepts is one the command line accepts.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import Role, User
from ..accounts.services import create_user, end_sessions
from ..errors import InvalidTransition, NotFound
from ..permits.models import Agency, PermitType, PermitVersion
from ..permits.services import LoadReport, load_specs, permit_file_name
from ..workflow.problems import Problem
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


def publish(session: Session, submission: Submission, published_by: str, now: dt.datetime) -> LoadReport:
    """Store a problem-free submission as a new immutable version (nothing new for the same content).

    Raises `VersionConflict` (nothing stored) for new content under a used or older version number.
    """
    return load_specs(session, submission.result, now, published_by=published_by)


def list_agencies(session: Session) -> list[Agency]:
    """Every stored agency, by id."""
    return list(session.scalars(select(Agency).order_by(Agency.id)))


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


def set_withdrawn(session: Session, key: str, withdrawn: bool) -> PermitType:
    """Withdraw a permit type from the catalogue, or put it back; its applications are not touched."""
    permit_type = session.scalar(select(PermitType).where(PermitType.key == key))
    if permit_type is None:
        raise NotFound(_l("There is no permit type “%(key)s”.", key=key))
    permit_type.withdrawn = withdrawn
    session.flush()
    return permit_type


def list_accounts(session: Session) -> list[User]:
    """Every user, by role and e-mail address."""
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def create_officer(session: Session, *, email: str, name: str, password: str, agency_id: str,
                   now: dt.datetime) -> User:
    """A new officer of `agency_id` (see `accounts.services.create_user` for the errors)."""
    return create_user(session, email=email, password=password, name=name, now=now, role=Role.OFFICER,
                       agency_id=agency_id)


def set_active(session: Session, admin: User, user_id: int, active: bool) -> User:
    """Deactivate an account (it can no longer log in, and its sessions end) or reactivate it.

    Raises `NotFound` for an unknown user and `InvalidTransition` when an admin would deactivate themselves.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.id == admin.id and not active:
        raise InvalidTransition(_l("You cannot deactivate your own account."))
    if user.is_active != active:
        user.is_active = active
        if not active:
            end_sessions(session, user)
    session.flush()
    return user


def agency_choices(agencies: Iterable[Agency], locale: str) -> list[tuple[str, str]]:
    """(id, label) pairs for a select list of agencies."""
    return [(agency.id, f"{agency.name(locale)} ({agency.id})") for agency in agencies]
