"""Officer tasks by API: the agency's queue, one task, claim, release, decide.

Thin views over `review.queries` and `review.services`, the functions the
officers' pages call. A task's `ETag` is its version: a decision must name it in
`If-Match` (428 without, 412 when the task has changed since), and it is handed
to `review.services.decide` as the version seen, so a stale client never
overwrites a newer state, even when two decisions race.
"""

from __future__ import annotations

import datetime as dt

from flask import request
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from ..accounts.models import Role
from ..applications.models import Application
from ..applications.services import compiled
from ..database import transactional
from ..errors import NotFound, StaleDecision
from ..extensions import db
from ..i18n import current_locale
from ..licences.models import Licence
from ..permits.services import agencies_by_id
from ..review import queries, services
from ..review.models import ReviewTask, TaskStatus
from ..workflow.calendar import WorkingCalendar, local_date
from ..workflow.spec import Action
from .applications import application_body, load_application, require_role
from .core import (
    ApiProblem,
    Problem,
    blueprint,
    decode_cursor,
    encode_cursor,
    etag_of,
    idempotent,
    json_response,
    require_if_match,
    spec,
)
from .schemas import (
    DecisionAction,
    DecisionRequest,
    DecisionResult,
    TaskList,
    TaskListQuery,
    TaskOut,
    TaskStatusFilter,
    TaskSummary,
)

TAGS = ["tasks"]
OFFICERS = (Role.OFFICER, Role.ADMIN)
ACTIONS = {DecisionAction.APPROVE: Action.APPROVE, DecisionAction.REJECT: Action.REJECT,
           DecisionAction.RETURN: Action.RETURN_FOR_CORRECTION,
           DecisionAction.RETURN_FOR_CORRECTION: Action.RETURN_FOR_CORRECTION,
           DecisionAction.REQUEST_INFORMATION: Action.REQUEST_INFORMATION}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def task_etag(task: ReviewTask) -> str:
    """The task's version as an entity tag: any claim, release, assignment or decision changes it."""
    return etag_of("task", task.id, task.version_id)


def _task_body(session: Session, task: ReviewTask) -> TaskOut:
    locale = current_locale()
    application = load_application(session, task.application_id)
    if application is None:
        raise NotFound()
    route = compiled(application.permit_version).workflow.route
    agency = agencies_by_id(session, {task.agency_id}).get(task.agency_id)
    open_task = task.status is TaskStatus.OPEN
    today = local_date(_now())
    days_left = None
    if open_task:  # counted as the queue counts them: Thai working days less the agency's own days off
        holidays = [dt.date.fromisoformat(day) for day in agency.extra_holidays] if agency else []
        days_left = WorkingCalendar(agency_holidays={task.agency_id: holidays}).working_days_between(
            today, task.due_on, task.agency_id)
    return TaskOut(
        id=task.id, version=task.version_id, application_id=task.application_id, stage_id=task.stage_id,
        stage_title=route.stage(task.stage_id).title.get(locale) if task.stage_id in route.nodes else task.stage_id,
        agency_id=task.agency_id, agency_name=agency.name(locale) if agency else task.agency_id,
        status=task.status.value, status_label=str(task.status_label), due_on=task.due_on, overdue=task.overdue,
        working_days_left=days_left, assignee_id=task.assignee_id,
        assignee_name=task.assignee.name if task.assignee is not None else None, outcome=task.outcome,
        actions=[action.value for action in route.stage(task.stage_id).actions]
        if open_task and task.stage_id in route.nodes else [],
        application=application_body(session, application, locale))


def _task_response(session: Session, task: ReviewTask) -> WerkzeugResponse:
    session.flush()
    return json_response(_task_body(session, task), headers={"ETag": task_etag(task)})


@blueprint.get("/tasks")
@spec.validate(query=TaskListQuery, resp=Response(HTTP_200=TaskList, HTTP_400=Problem, HTTP_403=Problem),
               tags=TAGS)
def list_tasks() -> WerkzeugResponse:
    """The agency's queue by due date (all agencies for an admin), with the queue page's filters.

    Keyset pages on (due date, id): rows added while a client pages never make it
    see a row twice or skip one; each page runs the same few statements.
    """
    user = require_role(*OFFICERS)
    query: TaskListQuery = request.context.query  # type: ignore[attr-defined]
    position = decode_cursor(query.cursor, 2)  # signed: a client cannot forge one, a bad one is a 400
    after = (dt.date.fromisoformat(position[0]), int(position[1])) if position is not None else None
    status = None if query.status is TaskStatusFilter.ALL else TaskStatus(query.status.value)
    filters = queries.QueueFilters(permit_key=query.permit_type or None, status=status, mine=query.mine,
                                   unassigned=query.unassigned, overdue=query.overdue)
    page = queries.queue_page(db.session(), user, filters, after, local_date(_now()), current_locale(),
                              limit=query.limit)
    following = queries.decode_cursor(page.next_cursor)
    return json_response(TaskList(
        items=[TaskSummary(
            id=row.task_id, application_id=row.application_id, reference=row.reference, permit_type=row.permit_key,
            permit_title=row.permit_title, business_name=row.business_name, stage_id=row.stage_id,
            stage_title=row.stage_title, agency_id=row.agency_id, submitted_at=row.submitted_at, due_on=row.due_on,
            working_days_left=row.working_days_left, overdue=row.overdue, status=row.status,
            status_label=row.status_label, assignee_name=row.assignee_name, mine=row.mine) for row in page.rows],
        next_cursor=encode_cursor((following[0].isoformat(), following[1])) if following else None))


@blueprint.get("/tasks/<int:task_id>")
@spec.validate(resp=Response(HTTP_200=TaskOut, HTTP_403=Problem, HTTP_404=Problem), tags=TAGS)
def get_task(task_id: int) -> WerkzeugResponse:
    """A task of my agency with its application; `ETag` is the version a decision must match."""
    user = require_role(*OFFICERS)
    session = db.session()
    return _task_response(session, services.get_task(session, task_id, user))


@blueprint.post("/tasks/<int:task_id>/claim")
@spec.validate(resp=Response(HTTP_200=TaskOut, HTTP_403=Problem, HTTP_404=Problem, HTTP_409=Problem), tags=TAGS)
@transactional
def claim_task(task_id: int) -> WerkzeugResponse:
    """Take the task, so colleagues see who works on it (409 when someone else has it)."""
    user = require_role(*OFFICERS)
    session = db.session()
    task = services.claim(session, task_id, user, _now())
    return _task_response(session, task)


@blueprint.post("/tasks/<int:task_id>/release")
@spec.validate(resp=Response(HTTP_200=TaskOut, HTTP_403=Problem, HTTP_404=Problem, HTTP_409=Problem), tags=TAGS)
@transactional
def release_task(task_id: int) -> WerkzeugResponse:
    """Give the task back to the agency's queue."""
    user = require_role(*OFFICERS)
    session = db.session()
    task = services.release(session, task_id, user, _now())
    return _task_response(session, task)


@blueprint.post("/tasks/<int:task_id>/decision")
@spec.validate(json=DecisionRequest, resp=Response(HTTP_200=DecisionResult, HTTP_403=Problem, HTTP_404=Problem,
                                                   HTTP_409=Problem, HTTP_412=Problem, HTTP_422=Problem,
                                                   HTTP_428=Problem), tags=TAGS)
@idempotent
@transactional
def decide_task(task_id: int) -> WerkzeugResponse:
    """Decide the task at the version named by `If-Match` (required); a reason is required to reject."""
    user = require_role(*OFFICERS)
    body: DecisionRequest = request.context.json  # type: ignore[attr-defined]
    session = db.session()
    task = services.get_task(session, task_id, user)
    require_if_match(task_etag(task))
    try:
        services.decide(session, task_id, user, ACTIONS[body.action], task.version_id, _now(), note=body.reason,
                        fields=body.fields, documents=body.documents)
    except StaleDecision as stale:
        raise ApiProblem(412, "precondition-failed", str(stale.title), str(stale.message)) from None
    session.flush()
    application = session.get(Application, task.application_id)
    assert application is not None
    licence_id = session.scalar(select(Licence.id).where(Licence.application_id == task.application_id))
    return json_response(DecisionResult(task_id=task.id, task_status=task.status.value, outcome=task.outcome,
                                        application_id=task.application_id,
                                        application_status=application.status.value, licence_id=licence_id),
                         headers={"ETag": task_etag(task)})
