"""Applications by API: create a draft, answer its steps, upload, submit, read, withdraw, resubmit.

Thin views over `applications.services` and `applications.decisions`, the same
functions the wizard pages call, so the rules (what a step accepts, what a file
must be, when an application may be submitted) are the pages' rules. Only the
applicant reaches their applications; anyone else gets 404, as on the pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as WerkzeugResponse

from ..accounts.models import Role, User
from ..applications import decisions, pages, services
from ..applications.answers import ListData, Message
from ..applications.models import Application, ApplicationDocument
from ..database import transactional
from ..errors import InvalidTransition, NotFound
from ..extensions import db
from ..i18n import current_locale
from ..licences.models import Licence
from ..permits.models import PermitVersion
from ..permits.services import agencies_by_id
from ..review.models import ReviewTask
from ..workflow.expressions import ADDRESS_KEYS
from ..workflow.spec import FieldType, FormField
from ..workflow.state import ApplicationStatus
from .core import (
    ApiProblem,
    Problem,
    api_user,
    blueprint,
    decode_cursor,
    encode_cursor,
    etag_of,
    idempotent,
    json_response,
    spec,
)
from .schemas import (
    ApplicationCreate,
    ApplicationList,
    ApplicationListQuery,
    ApplicationOut,
    ApplicationSummary,
    CorrectionOut,
    DocumentOut,
    FeeOut,
    MissingItem,
    StageOut,
    StepAnswers,
    StepResult,
    TimelineEntryOut,
    UploadForm,
    WithdrawRequest,
)

TAGS = ["applications"]
WRONG_TYPE = _l("This answer has the wrong type for this question.")
NOT_ON_STEP = _l("This step has no such question.")
NOT_IN_CORRECTION = _l("This answer is not part of the correction asked for.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _uploads_root() -> Path:
    return Path(current_app.instance_path) / "uploads"


def require_role(*roles: Role) -> User:
    """The token's user when it has one of `roles`; a 403 problem otherwise."""
    user = api_user()
    if user.role not in roles:
        raise ApiProblem(403, "forbidden", str(_l("You are not allowed to do this")),
                         str(_l("This operation is not open to your role.")))
    return user


# --------------------------------------------------------------------------- building the bodies

def _summary_values(application: Application, locale: str) -> dict[str, Any]:
    bundle = services.compiled(application.permit_version)
    return {
        "id": application.id, "reference": application.reference, "status": application.status.value,
        "status_label": str(application.status_label), "permit_type": application.permit_version.permit_type.key,
        "permit_version": application.permit_version.number, "permit_title": bundle.spec.permit.title.get(locale),
        "business_id": application.business_id, "business_name": application.business.name(locale),
        "current_step": application.current_step, "created_at": application.created_at,
        "updated_at": application.updated_at, "submitted_at": application.submitted_at,
        "expected_decision_on": application.expected_decision_on,
    }


def missing_items(problems: list[services.Problem]) -> list[MissingItem]:
    """Completeness problems as JSON pointers into the answers and the documents."""
    return [MissingItem(path=f"/answers/{problem.field_id}" if problem.field_id
                        else f"/documents/{problem.document_id}", message=str(problem.message),
                        step_id=problem.step_id) for problem in problems]


def load_application(session: Session, application_id: int) -> Application | None:
    """The application with what its body needs, in a fixed number of statements."""
    return session.scalars(
        select(Application).where(Application.id == application_id)
        .options(joinedload(Application.permit_version).joinedload(PermitVersion.permit_type),
                 joinedload(Application.business), selectinload(Application.documents),
                 selectinload(Application.events))).first()


def application_body(session: Session, application: Application, locale: str) -> ApplicationOut:
    """Everything about one application: answers, documents, stages, timeline; five statements at most."""
    bundle = services.compiled(application.permit_version)
    route = bundle.workflow.route
    tasks = list(session.scalars(select(ReviewTask).where(ReviewTask.application_id == application.id)
                                 .order_by(ReviewTask.opened_at, ReviewTask.id)))
    wanted = {task.agency_id for task in tasks} | {event.agency_id for event in application.events
                                                    if event.agency_id}
    agencies = agencies_by_id(session, wanted)
    current = services.shown(application)
    editable = application.status in services.EDITABLE
    fee_labels = {fee.id: fee.label.get(locale) for fee in bundle.spec.permit.fees}
    correction = application.correction
    licence_id = session.scalar(select(Licence.id).where(Licence.application_id == application.id))

    def agency_name(agency_id: str) -> str:
        agency = agencies.get(agency_id)
        return agency.name(locale) if agency else agency_id

    documents = [DocumentOut(
        document_id=line.document.id, title=line.title, required=line.required,
        fetched_by_office=line.fetched_by_office, accepts=line.accepts, max_size_mb=line.max_size_mb,
        uploaded=line.file is not None, filename=line.file.filename if line.file else None,
        content_type=line.file.content_type if line.file else None, size=line.file.size if line.file else None,
        sha256=line.file.sha256 if line.file else None, uploaded_at=line.file.uploaded_at if line.file else None)
        for line in pages.document_lines(application, current, locale)]
    stages = [StageOut(
        task_id=task.id, stage_id=task.stage_id,
        title=route.stage(task.stage_id).title.get(locale) if task.stage_id in route.nodes else task.stage_id,
        agency_id=task.agency_id, agency_name=agency_name(task.agency_id), status=task.status.value,
        status_label=str(task.status_label), due_on=task.due_on, overdue=task.overdue, outcome=task.outcome,
        closed_at=task.closed_at) for task in tasks]
    timeline = [TimelineEntryOut(at=entry.at, kind=entry.kind, text=entry.text, note=entry.note,
                                 details=entry.details)
                for entry in pages.timeline(application, agencies, locale)]
    return ApplicationOut(
        **_summary_values(application, locale),
        steps=current.step_ids(), answers=dict(application.answers),
        pending_fields=sorted(application.pending_input),
        missing=missing_items(services.completeness(application, current)) if editable else [],
        documents=documents, stages=stages, timeline=timeline,
        fees=[FeeOut(fee_id=item["fee_id"], label=fee_labels.get(item["fee_id"], item["fee_id"]),
                     amount=float(item["amount"]), payable=str(item["payable"])) for item in application.fees],
        correction=CorrectionOut(kind=str(correction.get("kind", "")), agency_id=correction.get("agency_id"),
                                 note=correction.get("note"), fields=list(correction.get("fields") or []),
                                 documents=list(correction.get("documents") or []))
        if correction else None,
        licence_id=licence_id)


def application_etag(application: Application) -> str:
    """Changes whenever the application does (any save moves `updated_at` on)."""
    return etag_of("application", application.id, application.status.value, application.updated_at.isoformat())


def _own(session: Session, application_id: int, user: User) -> Application:
    """The applicant's own application, loaded for its body; 404 for anyone else's, as on the pages."""
    application = load_application(session, application_id)
    if application is None or application.applicant_id != user.id:
        raise NotFound()
    return application


def _application_response(session: Session, application: Application, status: int = 200,
                          headers: Mapping[str, str] | None = None) -> WerkzeugResponse:
    session.flush()
    body = application_body(session, application, current_locale())
    return json_response(body, status=status, headers={"ETag": application_etag(application), **(headers or {})})


# --------------------------------------------------------------------------- answers as form input

def form_input(item: FormField, value: Any) -> dict[str, Any] | Message:
    """A JSON answer as the inputs the wizard page would post for it, or a message when its type is wrong.

    The page's parser then checks it, so a JSON client gets the same rules and
    messages as a person typing in the form.
    """
    if value is None:
        return {}
    if item.type is FieldType.THAI_ADDRESS:
        if not isinstance(value, dict) or not all(isinstance(part, str | int) for part in value.values()):
            return WRONG_TYPE
        return {f"{item.id}.{key}": str(value[key]) for key in ADDRESS_KEYS if value.get(key) is not None}
    if item.type is FieldType.MULTI_CHOICE:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
            return WRONG_TYPE
        return {item.id: list(value)}
    if isinstance(value, bool):
        if item.type not in {FieldType.YES_NO, FieldType.DECLARATION}:
            return WRONG_TYPE
        return {item.id: "yes" if value else "no"}
    if isinstance(value, int | float):
        if item.type in {FieldType.YES_NO, FieldType.DECLARATION}:
            return WRONG_TYPE
        return {item.id: str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))}
    if isinstance(value, str):
        return {item.id: value}
    return WRONG_TYPE


def _error(path: str, message: Message, location: str = "body") -> dict[str, str]:
    """One field at fault, as the problem's `errors` list it (see `core.ProblemError`)."""
    return {"path": path, "message": str(message), "location": location}


def _problem_422(slug: str, title: Message, detail: Message, errors: list[dict[str, str]]) -> ApiProblem:
    return ApiProblem(422, slug, str(title), str(detail), errors=errors)


# --------------------------------------------------------------------------- routes

@blueprint.post("/applications")
@spec.validate(json=ApplicationCreate, resp=Response(HTTP_201=ApplicationOut, HTTP_403=Problem, HTTP_404=Problem,
                                                     HTTP_422=Problem), tags=TAGS)
@idempotent
@transactional
def create_application() -> WerkzeugResponse:
    """Open a draft for a permit type's current version and one of my businesses (answers prefilled)."""
    user = require_role(Role.ENTREPRENEUR)
    body: ApplicationCreate = request.context.json  # type: ignore[attr-defined]
    session = db.session()
    created = services.start_application(session, user, body.permit_type, body.business_id, _now())
    application = _own(session, created.id, user)
    return _application_response(session, application, 201,
                                 {"Location": f"/api/v1/applications/{application.id}"})


@blueprint.get("/applications")
@spec.validate(query=ApplicationListQuery, resp=Response(HTTP_200=ApplicationList, HTTP_400=Problem,
                                                         HTTP_403=Problem), tags=TAGS)
def list_applications() -> WerkzeugResponse:
    """My applications, newest first, a keyset page at a time (`next_cursor`); one statement per page."""
    user = require_role(Role.ENTREPRENEUR)
    query: ApplicationListQuery = request.context.query  # type: ignore[attr-defined]
    statement = (select(Application).where(Application.applicant_id == user.id)
                 .options(joinedload(Application.permit_version).joinedload(PermitVersion.permit_type),
                          joinedload(Application.business))
                 .order_by(Application.id.desc()).limit(query.limit + 1))
    position = decode_cursor(query.cursor, 1)  # signed: a client cannot forge one, a bad one is a 400
    if position is not None:
        statement = statement.where(Application.id < int(position[0]))
    rows = list(db.session().scalars(statement).unique())
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    locale = current_locale()
    return json_response(ApplicationList(
        items=[ApplicationSummary(**_summary_values(row, locale)) for row in rows],
        next_cursor=encode_cursor((rows[-1].id,)) if more and rows else None))


@blueprint.get("/applications/<int:application_id>")
@spec.validate(resp=Response(HTTP_200=ApplicationOut, HTTP_403=Problem, HTTP_404=Problem), tags=TAGS)
def get_application(application_id: int) -> WerkzeugResponse:
    """One of my applications: status, answers, documents, stages and timeline; `ETag` changes with it."""
    user = require_role(Role.ENTREPRENEUR)
    session = db.session()
    return _application_response(session, _own(session, application_id, user))


def _save_step(application_id: int, step_id: str, *, replace: bool) -> WerkzeugResponse:
    user = require_role(Role.ENTREPRENEUR)
    body: StepAnswers = request.context.json  # type: ignore[attr-defined]
    session = db.session()
    application = _own(session, application_id, user)
    if application.status not in services.EDITABLE:
        raise InvalidTransition(_l("This application can no longer be changed."))
    current = services.shown(application)
    if step_id not in current.fields:
        raise NotFound()
    step = services.compiled(application.permit_version).rules.steps[step_id]
    by_id = {item.id: item for item in step.fields}
    errors: list[dict[str, str]] = []
    data: dict[str, Any] = {}
    for field_id, value in body.answers.items():
        item = by_id.get(field_id)
        if item is None or item.type is FieldType.FILE:
            errors.append(_error(f"/answers/{field_id}", NOT_ON_STEP))
            continue
        converted = form_input(item, value)
        if not isinstance(converted, dict):
            errors.append(_error(f"/answers/{field_id}", converted))
            continue
        data.update(converted)
    correcting = application.status is not ApplicationStatus.DRAFT
    if correcting:
        allowed = {item.id for item in services.correction_fields(application)}
        errors.extend(_error(f"/answers/{field_id}", NOT_IN_CORRECTION)
                      for field_id in body.answers if field_id in by_id and field_id not in allowed)
    if errors:
        raise _problem_422("validation", _l("Some answers could not be read"),
                           _l("Nothing was saved. Correct the answers named in errors."), errors)
    sent = [field_id for field_id in body.answers]
    outcome: services.StepOutcome | None = None
    if correcting:
        fields = [item for item in services.correction_fields(application) if item.id in set(sent)]
        if fields:
            outcome = services.save_fields(session, application, fields, ListData(data), {}, _uploads_root(),
                                           _now())
    elif sent or replace:
        shown_on_page = sent if not replace else [*{item.id for item in current.fields[step_id]}, *sent]
        outcome = services.save_step(session, application, step_id, shown_on_page, ListData(data), {},
                                     _uploads_root(), _now(), moving_on=True)
    if outcome is not None and outcome.errors:
        session.commit()  # valid answers are kept and refused input is kept as typed: nothing is lost
        raise _problem_422("validation", _l("Some answers need correcting"),
                           _l("The other answers were saved. Correct the answers named in errors."),
                           [_error(f"/answers/{field_id}", message) for field_id, message in outcome.errors.items()])
    # Unanswered questions the saved answers brought onto this step (the page would show itself again for them).
    before = {item.id for item in current.fields[step_id]} | set(sent)
    files = services.attached(application)
    appeared = [item.id for item in services.shown(application).fields.get(step_id, ())
                if item.id not in before and (item.document not in files if item.type is FieldType.FILE
                                              else item.id not in application.answers)]
    following: str | None = step_id if appeared else services.next_step(application, step_id, 1)
    if not correcting:
        application.current_step = following or "documents"
    session.flush()
    return json_response(StepResult(
        application_id=application.id, step_id=step_id, saved=sent, appeared=appeared, next_step=following,
        missing=missing_items(services.completeness(application))))


@blueprint.patch("/applications/<int:application_id>/steps/<step_id>")
@spec.validate(json=StepAnswers, resp=Response(HTTP_200=StepResult, HTTP_403=Problem, HTTP_404=Problem,
                                               HTTP_409=Problem, HTTP_422=Problem), tags=TAGS)
@transactional
def patch_step(application_id: int, step_id: str) -> WerkzeugResponse:
    """Change only the answers sent, checked as the wizard page checks them; returns the next step."""
    return _save_step(application_id, step_id, replace=False)


@blueprint.put("/applications/<int:application_id>/steps/<step_id>")
@spec.validate(json=StepAnswers, resp=Response(HTTP_200=StepResult, HTTP_403=Problem, HTTP_404=Problem,
                                               HTTP_409=Problem, HTTP_422=Problem), tags=TAGS)
@transactional
def put_step(application_id: int, step_id: str) -> WerkzeugResponse:
    """Replace the step's answers: questions shown on it and not sent are cleared, as an empty page input is."""
    return _save_step(application_id, step_id, replace=True)


@blueprint.post("/applications/<int:application_id>/documents/<document_id>")
@spec.validate(form=UploadForm, resp=Response(HTTP_201=DocumentOut, HTTP_403=Problem, HTTP_404=Problem,
                                              HTTP_409=Problem, HTTP_422=Problem), tags=TAGS)
@transactional
def upload_document(application_id: int, document_id: str) -> WerkzeugResponse:
    """Upload or replace the file of a checklist item (multipart field `file`); checked as on the page."""
    user = require_role(Role.ENTREPRENEUR)
    session = db.session()
    application = _own(session, application_id, user)
    upload = request.files.get("file")
    if not isinstance(upload, FileStorage):
        raise _problem_422("validation", _l("The file could not be read"),
                           _l("Send the file as multipart/form-data in the field “file”."),
                           [_error("/file", _l("Choose a file to upload."), "form")])
    result = services.attach(session, application, document_id, upload, _uploads_root(), _now())
    if not isinstance(result, ApplicationDocument):
        raise _problem_422("validation", _l("The file was refused"), result,
                           [_error("/file", result, "form")])
    current = services.shown(application)
    line = next(line for line in pages.document_lines(application, current, current_locale())
                if line.document.id == document_id)
    return json_response(DocumentOut(
        document_id=document_id, title=line.title, required=line.required, fetched_by_office=line.fetched_by_office,
        accepts=line.accepts, max_size_mb=line.max_size_mb, uploaded=True, filename=result.filename,
        content_type=result.content_type, size=result.size, sha256=result.sha256, uploaded_at=result.uploaded_at),
        status=201)


def _refuse_incomplete(application: Application, detail: Message) -> None:
    problems = services.completeness(application)
    if problems:
        raise _problem_422("incomplete-application", _l("The application is not complete"), detail,
                           [_error(item.path, item.message) for item in missing_items(problems)])


@blueprint.post("/applications/<int:application_id>/submit")
@spec.validate(resp=Response(HTTP_200=ApplicationOut, HTTP_403=Problem, HTTP_404=Problem, HTTP_409=Problem,
                             HTTP_422=Problem), tags=TAGS)
@idempotent
@transactional
def submit_application(application_id: int) -> WerkzeugResponse:
    """Submit the draft to the agencies; 422 lists the missing answers and documents."""
    user = require_role(Role.ENTREPRENEUR)
    session = db.session()
    application = _own(session, application_id, user)
    if application.status is ApplicationStatus.DRAFT:
        _refuse_incomplete(application, _l("Some answers or documents are missing. Complete them, then submit."))
    decisions.submit(session, application, _now())
    return _application_response(session, application)


@blueprint.post("/applications/<int:application_id>/withdraw")
@spec.validate(json=WithdrawRequest, resp=Response(HTTP_200=ApplicationOut, HTTP_403=Problem, HTTP_404=Problem,
                                                   HTTP_409=Problem, HTTP_422=Problem), tags=TAGS)
@idempotent
@transactional
def withdraw_application(application_id: int) -> WerkzeugResponse:
    """Withdraw an application that is not decided yet; its open tasks are cancelled."""
    user = require_role(Role.ENTREPRENEUR)
    body: WithdrawRequest = request.context.json  # type: ignore[attr-defined]
    session = db.session()
    application = _own(session, application_id, user)
    decisions.withdraw(session, application, body.reason, _now())
    return _application_response(session, application)


@blueprint.post("/applications/<int:application_id>/resubmit")
@spec.validate(resp=Response(HTTP_200=ApplicationOut, HTTP_403=Problem, HTTP_404=Problem, HTTP_409=Problem,
                             HTTP_422=Problem), tags=TAGS)
@idempotent
@transactional
def resubmit_application(application_id: int) -> WerkzeugResponse:
    """Send a corrected application back to the agency; the paused stages resume with the days they had left."""
    user = require_role(Role.ENTREPRENEUR)
    session = db.session()
    application = _own(session, application_id, user)
    if application.status.waits_on_applicant:
        _refuse_incomplete(application, _l("Some answers or documents are missing. Complete them, then send."))
    decisions.resubmit(session, application, _now())
    return _application_response(session, application)
