"""Applications from first draft to decision: start, save steps, upload, submit, withdraw, correct.

Every function takes the session, explicit arguments and the time; none reads
the request or commits (views use `@transactional`). Engine events go through
`apply_event`, which stores the new state and writes one timeline row per
effect in the same transaction, so the timeline never disagrees with the state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import Role, User
from ..businesses.models import Business
from ..businesses.services import prefill_answers
from ..errors import InvalidTransition, NotFound
from ..i18n import BUDDHIST_ERA_OFFSET, THAILAND
from ..permits.models import PermitVersion
from ..permits.services import agencies_by_id, agency_ids, public_permit
from ..review.models import ReviewTask
from ..workflow.calendar import WorkingCalendar
from ..workflow.engine import Workflow
from ..workflow.spec import FieldType, FormField, PermitSpec
from ..workflow.state import (
    ApplicationState,
    ApplicationStatus,
)
from . import uploads
from .answers import (
    FormData,
    Message,
    StepAnswers,
    input_of,
    parse_field,
    prefilled,
    read_fields,
)
from .models import Application, ApplicationDocument, ApplicationEvent
from .visibility import FormRules, Shown

logger = logging.getLogger(__name__)

COMPILED_CACHE_SIZE = 64
EDITABLE = frozenset({ApplicationStatus.DRAFT, ApplicationStatus.CORRECTION_REQUESTED,
                      ApplicationStatus.INFORMATION_REQUESTED})


# --------------------------------------------------------------------------- compiled specs

@dataclass(frozen=True)
class Compiled:
    """A published version compiled once: the engine and the form's conditions."""

    spec: PermitSpec
    workflow: Workflow
    rules: FormRules


_compiled: OrderedDict[str, Compiled] = OrderedDict()
_compiled_lock = Lock()


def compiled(version: PermitVersion) -> Compiled:
    """The engine and form rules of `version`, cached by content hash (they are immutable)."""
    with _compiled_lock:
        found = _compiled.get(version.content_hash)
        if found is not None:
            _compiled.move_to_end(version.content_hash)
            return found
    spec = version.permit_spec()
    result = Compiled(spec, Workflow(spec), FormRules(spec))
    with _compiled_lock:
        _compiled[version.content_hash] = result
        while len(_compiled) > COMPILED_CACHE_SIZE:
            _compiled.popitem(last=False)
    return result


def working_calendar(session: Session, spec: PermitSpec) -> WorkingCalendar:
    """Thai working days minus the extra days off of every agency the permit involves (one statement)."""
    days = {dt.date.fromisoformat(day) for agency in agencies_by_id(session, agency_ids(spec)).values()
            for day in agency.extra_holidays}
    return WorkingCalendar(days)


# --------------------------------------------------------------------------- reading

def get_application(session: Session, application_id: int, user: User) -> Application:
    """The application `application_id` if `user` made it; `NotFound` otherwise (never revealing it exists)."""
    application = session.scalars(
        select(Application).where(Application.id == application_id)
        .options(selectinload(Application.documents))).first()
    if application is None or application.applicant_id != user.id:
        raise NotFound()
    return application


def get_viewable_application(session: Session, application_id: int, user: User) -> Application:
    """The application if `user` made it, is an admin, or is an officer of an agency with a review task on it.

    `NotFound` otherwise, never revealing that it exists.
    """
    application = session.scalars(
        select(Application).where(Application.id == application_id)
        .options(selectinload(Application.documents))).first()
    if application is None:
        raise NotFound()
    if application.applicant_id == user.id or user.role is Role.ADMIN:
        return application
    if user.role is Role.OFFICER and user.agency_id is not None and session.scalar(
            select(ReviewTask.id).where(ReviewTask.application_id == application_id,
                                        ReviewTask.agency_id == user.agency_id).limit(1)) is not None:
        return application
    raise NotFound()


def attached(application: Application) -> set[str]:
    """Checklist items of `application` that have a file."""
    return {document.document_id for document in application.documents}


def shown(application: Application) -> Shown:
    """What the application's form shows for its current answers and files."""
    return compiled(application.permit_version).rules.shown(application.answers, attached(application))


def document_row(application: Application, document_id: str) -> ApplicationDocument | None:
    """The file of checklist item `document_id`, if one was uploaded."""
    return next((row for row in application.documents if row.document_id == document_id), None)


def carry_documents(application: Application, previous: Application) -> list[str]:
    """Give `application` the files of `previous` that its form still asks for and still accepts (kind and
    size); returns the checklist items carried.

    For a renewal: the applicant finds the earlier files on the documents step and replaces any that must be
    new. A carried file keeps its upload date, so officers see how old it is, and shares the stored file
    (files are stored once, under their SHA-256).
    """
    checklist = {document.id: document for document in shown(application).uploads}
    carried = []
    for row in sorted(previous.documents, key=lambda row: row.document_id):
        document = checklist.get(row.document_id)
        if document is None or document_row(application, row.document_id) is not None \
                or row.content_type not in {uploads.CONTENT_TYPES[kind] for kind in document.accept} \
                or row.size > uploads.max_bytes(document):
            continue
        application.documents.append(ApplicationDocument(
            document_id=row.document_id, filename=row.filename, content_type=row.content_type, size=row.size,
            sha256=row.sha256, storage_path=row.storage_path, uploaded_at=row.uploaded_at))
        carried.append(row.document_id)
    return carried


# --------------------------------------------------------------------------- starting

def my_businesses(session: Session, user: User) -> list[Business]:
    """The businesses `user` may apply for, by name."""
    return list(session.scalars(select(Business).where(Business.owner_id == user.id)
                                .order_by(Business.name_th, Business.id)))


def start_application(session: Session, user: User, permit_key: str, business_id: int,
                      now: dt.datetime) -> Application:
    """Open a draft for the permit's current version, answers prefilled from the business profile.

    Raises `NotFound` for an unknown or withdrawn permit, or a business that is not the user's.
    """
    permit = public_permit(session, permit_key)
    business = session.get(Business, business_id)
    if business is None or business.owner_id != user.id:
        raise NotFound()
    spec = compiled(permit.version).spec
    answers = prefilled(spec.fields().values(), prefill_answers(business))
    application = Application(
        applicant=user, business=business, permit_version=permit.version, status=ApplicationStatus.DRAFT,
        engine_state=ApplicationState().to_json(), answers=answers, pending_input={}, fees=[],
        current_step=spec.form.steps[0].id, created_at=now, updated_at=now)
    session.add(application)
    session.flush()
    application.reference = reference_number(application.id, now)
    session.add(ApplicationEvent(application=application, at=now, kind="created", actor_id=user.id, data={}))
    session.flush()
    logger.info("application started", extra={"application_id": application.id, "permit_key": permit_key})
    return application


def reference_number(application_id: int, now: dt.datetime) -> str:
    """`BP-2569-000123`: the Buddhist-Era year it was started and its number."""
    year = now.astimezone(THAILAND).year + BUDDHIST_ERA_OFFSET
    return f"BP-{year}-{application_id:06d}"


# --------------------------------------------------------------------------- editing

@dataclass
class StepOutcome:
    """What saving one page did: messages per field, and whether new questions appeared on it."""

    errors: dict[str, Message] = field(default_factory=dict)
    appeared: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the applicant may move on."""
        return not self.errors and not self.appeared


def editable_fields(application: Application, current: Shown) -> set[str] | None:
    """Field ids the applicant may change now: None for all of them (a draft), else the correction's.

    A correction opens the fields and documents the officer named, plus any shown
    required field that has no answer (e.g. one a corrected answer brought in).
    """
    if application.status is ApplicationStatus.DRAFT:
        return None
    if application.status not in EDITABLE or application.correction is None:
        return set()
    named = set(application.correction.get("fields") or [])
    if not named and not application.correction.get("documents"):
        return None  # a note only: everything may need changing
    missing = {problem.field_id for problem in completeness(application, current) if problem.field_id}
    return named | missing


def editable_documents(application: Application, current: Shown) -> set[str] | None:
    """Checklist items the applicant may upload or replace now: None for all, like `editable_fields`."""
    if application.status is ApplicationStatus.DRAFT:
        return None
    if application.status not in EDITABLE or application.correction is None:
        return set()
    named = set(application.correction.get("documents") or [])
    if not named and not application.correction.get("fields"):
        return None
    missing = {problem.document_id for problem in completeness(application, current) if problem.document_id}
    return named | missing


def _require_editable(application: Application) -> None:
    if application.status not in EDITABLE:
        raise InvalidTransition(_l("This application can no longer be changed."))


def save_fields(session: Session, application: Application, fields: Iterable[FormField], data: FormData,
                files: Mapping[str, uploads.Upload], uploads_root: Path, now: dt.datetime,
                *, check_required_files: bool = True) -> StepOutcome:
    """Store what was posted for `fields` (the ones the page showed), uploads included.

    Valid answers replace the stored ones; a field that fails keeps its raw input in
    `pending_input` (so the page shows it again) and loses its stored answer. Fields
    that the new answers bring onto the same page are reported in `appeared`, so the
    page is shown again before moving on. Never raises for what a user can type.
    """
    _require_editable(application)
    rules = compiled(application.permit_version).rules
    before = rules.shown(application.answers, attached(application))
    allowed = editable_fields(application, before)
    page_fields = [item for item in fields if allowed is None or item.id in allowed]
    read: StepAnswers = read_fields(page_fields, data)
    answers = dict(application.answers)
    pending = dict(application.pending_input)
    for field_id, value in read.values.items():
        pending.pop(field_id, None)
        if value is None:
            answers.pop(field_id, None)
        else:
            answers[field_id] = value
    for field_id, raw in read.raw.items():
        answers.pop(field_id, None)
        if any(value.strip() for values in raw.values() for value in values):
            pending[field_id] = raw
        else:
            pending.pop(field_id, None)
    application.answers = answers
    application.pending_input = pending
    outcome = StepOutcome(errors=dict(read.errors))

    after = rules.shown(answers, attached(application))
    shown_ids = after.field_ids()
    allowed_documents = editable_documents(application, after)
    for item in page_fields:
        if item.type is not FieldType.FILE or item.id not in shown_ids or item.document is None:
            continue
        upload = files.get(item.id)
        if not uploads.has_file(upload) or upload is None:
            continue
        if allowed_documents is not None and item.document not in allowed_documents:
            continue
        result = attach(session, application, item.document, upload, uploads_root, now)
        if not isinstance(result, ApplicationDocument):
            outcome.errors[item.id] = result
    if check_required_files:
        for item in page_fields:
            if (item.type is FieldType.FILE and item.required and item.id in shown_ids
                    and item.document not in attached(application) and item.id not in outcome.errors):
                outcome.errors[item.id] = _l("Attach the file.")
    on_page = {item.id for item in fields}
    step_of = {item.id: step_id for step_id, items in after.fields.items() for item in items}
    page_steps = {step_of[item_id] for item_id in on_page if item_id in step_of}
    outcome.appeared = [item.id for step_id in page_steps for item in after.fields[step_id]
                        if item.id not in on_page and (allowed is None or item.id in allowed)]
    application.updated_at = now
    session.flush()
    return outcome


def save_step(session: Session, application: Application, step_id: str, shown_on_page: Iterable[str],
              data: FormData, files: Mapping[str, uploads.Upload], uploads_root: Path, now: dt.datetime,
              *, moving_on: bool) -> StepOutcome:
    """Save one wizard page of a draft; `shown_on_page` are the field ids the page displayed.

    Raises `NotFound` when the step is not shown for the current answers.
    """
    if application.status is not ApplicationStatus.DRAFT:
        raise InvalidTransition(_l("This application can no longer be changed."))
    current = shown(application)
    if step_id not in current.fields:
        raise NotFound()
    step = compiled(application.permit_version).rules.steps[step_id]
    wanted = set(shown_on_page) or {item.id for item in current.fields[step_id]}
    fields = [item for item in step.fields if item.id in wanted]
    outcome = save_fields(session, application, fields, data, files, uploads_root, now,
                          check_required_files=moving_on)
    application.current_step = step_id
    return outcome


def next_step(application: Application, step_id: str, direction: int) -> str | None:
    """The shown step before (`-1`) or after (`1`) `step_id`, or None at either end."""
    steps = shown(application).step_ids()
    if step_id not in steps:
        return steps[0] if steps else None
    index = steps.index(step_id) + direction
    return steps[index] if 0 <= index < len(steps) else None


def attach(session: Session, application: Application, document_id: str, upload: uploads.Upload,
           uploads_root: Path, now: dt.datetime) -> ApplicationDocument | Message:
    """Store a file for checklist item `document_id`, replacing the one there; a message if refused.

    Raises `NotFound` for an item the form does not show (or one an agency fetches itself),
    `InvalidTransition` when the application cannot be changed or the item is not open to correction.
    """
    _require_editable(application)
    current = shown(application)
    document = next((item for item in current.uploads if item.id == document_id), None)
    if document is None:
        raise NotFound()
    allowed = editable_documents(application, current)
    if allowed is not None and document_id not in allowed:
        raise InvalidTransition(_l("This document is not part of the correction asked for."))
    if not uploads.has_file(upload):
        return _l("Choose a file to upload.")
    stored = uploads.store(upload, document, uploads_root)
    if not isinstance(stored, uploads.StoredFile):
        return stored
    row = document_row(application, document_id)
    replaced = row is not None
    if row is None:
        row = ApplicationDocument(application=application, document_id=document_id, filename=stored.filename,
                                  content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                                  storage_path=stored.storage_path, uploaded_at=now)
        session.add(row)
    else:
        previous = row.sha256
        row.filename, row.content_type, row.size = stored.filename, stored.content_type, stored.size
        row.sha256, row.storage_path, row.uploaded_at = stored.sha256, stored.storage_path, now
    if application.status is not ApplicationStatus.DRAFT:
        data: dict[str, Any] = {"document_id": document_id, "filename": stored.filename, "sha256": stored.sha256}
        if replaced:
            data["previous_sha256"] = previous
        session.add(ApplicationEvent(application=application, at=now, kind="document_uploaded",
                                     actor_id=application.applicant_id, data=data))
    application.updated_at = now
    session.flush()
    return row


# --------------------------------------------------------------------------- checking before submit

@dataclass(frozen=True)
class Problem:
    """Something to put right before submitting: a field (on a step) or a checklist item."""

    message: Message
    step_id: str | None = None
    field_id: str | None = None
    document_id: str | None = None


def completeness(application: Application, current: Shown | None = None) -> list[Problem]:
    """What stops the application from being submitted, in form order (empty when it is complete)."""
    current = current or shown(application)
    problems: list[Problem] = []
    files = attached(application)
    for step in current.steps:
        for item in current.fields[step.id]:
            if item.id in application.pending_input:
                problems.append(Problem(_l("This answer needs correcting."), step.id, item.id))
            elif item.type is FieldType.FILE:
                if item.required and item.document not in files:
                    problems.append(Problem(_l("Attach the file."), step.id, item.id))
            elif item.required and _unanswered(item, application.answers.get(item.id)):
                problems.append(Problem(_l("This question needs an answer."), step.id, item.id))
            elif item.id in application.answers and item.type is not FieldType.DECLARATION:
                parsed = parse_field(item, _as_input(item, application.answers[item.id]))
                if parsed.error is not None:
                    problems.append(Problem(parsed.error, step.id, item.id))
    covered = {item.document for items in current.fields.values() for item in items
               if item.type is FieldType.FILE}
    for document in current.uploads:
        if document.required and document.id not in files and document.id not in covered:
            problems.append(Problem(_l("Upload this document."), document_id=document.id))
    return problems


def _unanswered(item: FormField, value: Any) -> bool:
    if item.type is FieldType.DECLARATION:
        return value is not True
    return value is None or value == "" or value == []


def _as_input(item: FormField, value: Any) -> dict[str, list[str]]:
    return input_of(item, value, "en")


def correction_fields(application: Application) -> list[FormField]:
    """The shown questions open to change in a correction, in form order (uploads are separate)."""
    current = shown(application)
    allowed = editable_fields(application, current)
    return [item for step in current.steps for item in current.fields[step.id]
            if item.type is not FieldType.FILE and (allowed is None or item.id in allowed)]
