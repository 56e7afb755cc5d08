"""Engine events on applications: submit, withdraw, return for correction, resubmit.

Every event goes through `apply_event`: the engine decides, then the new state,
status, expected date and fees are stored and one timeline row is written per
effect, in the caller's transaction, so the timeline never disagrees with the
state. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from .. import events
from ..audit.services import record
from ..errors import InvalidTransition, NotFound
from ..permits.models import PermitVersion
from ..review.task_rows import apply_task_effects
from ..workflow.calendar import local_date
from ..workflow.engine import InvalidTransition as EngineInvalidTransition
from ..workflow.spec import Action
from ..workflow.state import (
    ApplicationState,
    ApplicationStatus,
    DeadlinePassed,
    DeadlineSet,
    Decision,
    Event,
    FeesAssessed,
    IssueLicence,
    Resubmit,
    StageDecision,
    StageSkipped,
    StatusChanged,
    Submit,
    TaskClosed,
    TaskOpened,
    TaskOverdue,
    TaskPaused,
    TaskResumed,
    Withdraw,
)
from .models import Application, ApplicationEvent
from .services import compiled, completeness, shown, working_calendar

logger = logging.getLogger(__name__)


REFUSAL_MESSAGES = {
    "reason-required": _l("Give the reason for the rejection: the applicant will see it."),
    "note-required": _l("Say what the applicant must correct or provide: write a note or choose the answers "
                        "and documents to correct."),
    "default": _l("This action is not possible in the application's current state."),
}
"""What the person is told when the engine refuses an event, by the engine's error code."""


def apply_event(session: Session, application: Application, event: Event, actor_id: int | None) -> Decision:
    """Run `event` through the engine; store the new state, one timeline row per effect, the review
    task rows and an audit entry, all in the caller's transaction.

    Raises the domain `InvalidTransition` (409) when the engine refuses the event.
    """
    bundle = compiled(application.permit_version)
    state = ApplicationState.from_json(application.engine_state)
    try:
        decision = bundle.workflow.decide(state, event, working_calendar(session, bundle.spec))
    except EngineInvalidTransition as error:
        logger.info("event refused", extra={"application_id": application.id, "code": error.code})
        message = REFUSAL_MESSAGES.get(error.code, REFUSAL_MESSAGES["default"])
        raise InvalidTransition(message, code=error.code) from None
    application.engine_state = decision.state.to_json()
    application.status = decision.state.status
    application.expected_decision_on = decision.state.due_on
    application.updated_at = event.at
    stages = bundle.workflow.route
    for effect in decision.effects:
        row = _event_row(effect, event, stages)
        if row is not None:
            row.application = application
            row.at = event.at
            row.actor_id = actor_id
            session.add(row)
        if isinstance(effect, FeesAssessed):
            application.fees = [{"fee_id": item.fee_id, "amount": item.amount, "payable": item.payable}
                                for item in effect.items]
    session.flush()
    apply_task_effects(session, application.id, application.permit_version.permit_type_id, decision.effects,
                       event.at)
    if any(isinstance(effect, IssueLicence) for effect in decision.effects):
        from ..licences.services import issue_on_approval  # licences builds on applications, not the reverse

        issue_on_approval(session, application, actor_id, event.at)
    if decision.effects:
        _audit(session, application, event, state.status, decision, actor_id)
    return decision


def _audit(session: Session, application: Application, event: Event, before: ApplicationStatus,
           decision: Decision, actor_id: int | None) -> None:
    data: dict[str, Any] = {"effects": [type(effect).__name__ for effect in decision.effects]}
    reason: str | None = None
    if isinstance(event, StageDecision):
        action = event.action.value
        data.update(stage_id=event.stage_id, fields=list(event.fields), documents=list(event.documents))
        reason = event.note
    elif isinstance(event, Withdraw):
        action, reason = "withdraw", event.reason
    elif isinstance(event, DeadlinePassed):
        action = "deadline_passed"
    else:
        action = type(event).__name__.lower()
    record(session, at=event.at, actor_id=actor_id, action=action, subject_type="application",
           subject_id=application.id, from_state=before.value, to_state=decision.state.status.value,
           reason=reason, data=data)


def _event_row(effect: Any, event: Event, route: Any) -> ApplicationEvent | None:
    if isinstance(effect, StatusChanged):
        return _status_row(effect, event, route)
    if isinstance(effect, TaskOpened):
        return ApplicationEvent(kind="stage_opened", stage_id=effect.stage_id, agency_id=effect.agency,
                                data={"due_on": effect.due_on.isoformat()})
    if isinstance(effect, TaskClosed):
        return ApplicationEvent(kind=f"stage_{effect.outcome.value}", stage_id=effect.stage_id,
                                agency_id=effect.agency, data={})
    if isinstance(effect, TaskPaused):
        return ApplicationEvent(kind="stage_paused", stage_id=effect.stage_id, agency_id=effect.agency,
                                data={"days_left": effect.days_left})
    if isinstance(effect, TaskResumed):
        return ApplicationEvent(kind="stage_resumed", stage_id=effect.stage_id, agency_id=effect.agency,
                                data={"due_on": effect.due_on.isoformat()})
    if isinstance(effect, TaskOverdue):
        return ApplicationEvent(kind="stage_overdue", stage_id=effect.stage_id, agency_id=effect.agency,
                                data={"due_on": effect.due_on.isoformat()})
    if isinstance(effect, StageSkipped):
        return ApplicationEvent(kind="stage_skipped", stage_id=effect.stage_id, data={})
    if isinstance(effect, DeadlineSet):
        return ApplicationEvent(kind="deadline_set", data={"due_on": effect.due_on.isoformat()})
    if isinstance(effect, FeesAssessed):
        return ApplicationEvent(kind="fees_assessed", data={
            "items": [{"fee_id": item.fee_id, "amount": item.amount, "payable": item.payable}
                      for item in effect.items], "total": effect.total})
    if isinstance(effect, IssueLicence):
        return ApplicationEvent(kind="licence_due", data={})
    return None  # notices are sent by the notifications of a later issue


def _status_row(effect: StatusChanged, event: Event, route: Any) -> ApplicationEvent:
    after = effect.after
    if after is ApplicationStatus.IN_REVIEW:
        kind = "resubmitted" if effect.before.waits_on_applicant else "submitted"
        return ApplicationEvent(kind=kind, data={})
    if isinstance(event, StageDecision):
        agency = route.stage(event.stage_id).agency
        data = {"fields": list(event.fields), "documents": list(event.documents)} if after.waits_on_applicant \
            else {}
        kind = {ApplicationStatus.CORRECTION_REQUESTED: "returned_for_correction",
                ApplicationStatus.INFORMATION_REQUESTED: "information_requested"}.get(after, after.value)
        return ApplicationEvent(kind=kind, stage_id=event.stage_id, agency_id=agency, note=event.note or None,
                                data=data)
    note = event.reason if isinstance(event, Withdraw) and event.reason else None
    return ApplicationEvent(kind=after.value, note=note, data={})


def submission_answers(application: Application) -> dict[str, Any]:
    """The answers the engine sees: shown fields only, file fields as true/false."""
    return shown(application).answers


def submit(session: Session, application: Application, now: dt.datetime) -> Decision:
    """Submit a complete draft: the engine assesses fees, sets the deadline and opens the first stage(s).

    The version stays the one the draft was started under; answers of hidden fields
    are dropped, so what is stored is what was decided on. Raises `InvalidTransition`
    when the draft is incomplete or not a draft.
    """
    if application.status is not ApplicationStatus.DRAFT:
        raise InvalidTransition(_l("This application has already been submitted."))
    current = shown(application)  # once: the completeness check and the answers read the same visibility
    if completeness(application, current):
        raise InvalidTransition(_l("Some answers or documents are missing. Complete them, then submit."))
    answers = current.answers  # what `submission_answers` gives
    decision = apply_event(session, application, Submit(at=now, answers=answers), application.applicant_id)
    application.answers = {key: value for key, value in answers.items() if key in application.answers}
    application.pending_input = {}
    application.submitted_at = now
    application.current_step = None
    session.flush()
    events.application_submitted.send(session, payload=events.about_application(application, now))
    logger.info("application submitted", extra={"application_id": application.id})
    return decision


def withdraw(session: Session, application: Application, reason: str, now: dt.datetime) -> Decision:
    """Withdraw an application that is not decided yet; its open tasks are cancelled."""
    if application.status.is_final:
        raise InvalidTransition(_l("A decided or withdrawn application cannot be withdrawn."))
    decision = apply_event(session, application, Withdraw(at=now, reason=reason.replace("\x00", "").strip()[:2000]),
                           application.applicant_id)
    application.correction = None
    session.flush()
    return decision


def return_for_correction(session: Session, application_id: int, stage_id: str, note: str,
                          fields: Iterable[str], documents: Iterable[str], now: dt.datetime, *,
                          actor_id: int | None = None,
                          action: Action = Action.RETURN_FOR_CORRECTION) -> Application:
    """An officer of `stage_id` sends the application back with what to fix (the officers' UI calls this).

    `fields` and `documents` must be fields and checklist items of the application's
    form. Raises `NotFound` for an unknown application, `InvalidTransition` when the
    stage has no open task or does not allow the action.
    """
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound()
    spec = compiled(application.permit_version).spec
    field_ids = [field_id for field_id in dict.fromkeys(fields)]
    document_ids = [document_id for document_id in dict.fromkeys(documents)]
    known_documents = {document.id for document in spec.form.documents}
    if set(field_ids) - set(spec.fields()) or set(document_ids) - known_documents:
        raise InvalidTransition(_l("Name only fields and documents of this application's form."))
    event = StageDecision(at=now, stage_id=stage_id, action=action, note=note.strip(), fields=tuple(field_ids),
                          documents=tuple(document_ids))
    decision = apply_event(session, application, event, actor_id)
    agency = compiled(application.permit_version).workflow.route.stage(stage_id).agency
    application.correction = {"stage_id": stage_id, "agency_id": agency, "kind": decision.state.status.value,
                              "note": event.note, "fields": field_ids, "documents": document_ids}
    session.flush()
    events.returned_for_correction.send(session, payload=events.about_application(
        application, now, stage_id=stage_id, decision=action.value))
    return application


def resubmit(session: Session, application: Application, now: dt.datetime) -> Decision:
    """Send a corrected application back: the paused tasks resume with the days they had left."""
    if not application.status.waits_on_applicant:
        raise InvalidTransition(_l("This application is not waiting for a correction."))
    if completeness(application):
        raise InvalidTransition(_l("Some answers or documents are missing. Complete them, then send."))
    answers = submission_answers(application)
    decision = apply_event(session, application, Resubmit(at=now, answers=answers), application.applicant_id)
    application.answers = {key: value for key, value in answers.items() if key in application.answers}
    application.pending_input = {}
    application.correction = None
    session.flush()
    events.application_submitted.send(session, payload=events.about_application(application, now, resubmitted=True))
    return decision


def expected_decision_date(session: Session, version: PermitVersion, now: dt.datetime) -> dt.date:
    """The decision date if submitted at `now`: the published time limit in working days (Thai dates)."""
    bundle = compiled(version)
    return bundle.workflow.expected_decision_date(local_date(now), working_calendar(session, bundle.spec))
