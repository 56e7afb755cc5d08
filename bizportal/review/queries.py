"""The officer queue: one page of tasks in a fixed number of statements, by keyset on (due_on, id).

Pages never use OFFSET: the next page starts after the last row's `(due_on, id)`,
which `ix_review_tasks_queue` / `ix_review_tasks_due` serve directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session, aliased, joinedload

from ..accounts.models import Role, User
from ..applications.models import Application, status_label
from ..applications.pages import ApplicationPage, viewed_application_page
from ..applications.services import compiled, shown
from ..audit.models import AuditEntry
from ..businesses.models import Business
from ..errors import NotFound
from ..licences.models import Licence
from ..permits.models import Agency, PermitType, PermitVersion
from ..permits.services import agencies_by_id
from ..workflow.calendar import WorkingCalendar
from ..workflow.state import ApplicationStatus
from .models import TASK_STATUS_LABELS, ReviewTask, TaskStatus
from .services import colleagues, may_assign, may_see

PAGE_SIZE = 25


@dataclass(frozen=True)
class QueueFilters:
    """What the officer narrowed the queue to; the default is the open tasks."""

    permit_key: str | None = None
    status: TaskStatus | None = TaskStatus.OPEN
    mine: bool = False
    unassigned: bool = False
    overdue: bool = False


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue, as plain values."""

    task_id: int
    application_id: int
    reference: str
    permit_key: str
    permit_title: str
    business_name: str
    stage_id: str
    stage_title: str
    agency_id: str
    submitted_at: dt.datetime | None
    due_on: dt.date
    working_days_left: int | None
    """None unless the task is open: a paused task's clock is stopped, a finished one has none."""
    overdue: bool
    status: str
    status_label: str
    assignee_name: str | None
    mine: bool


@dataclass(frozen=True)
class QueuePage:
    """A page of the queue and the cursor of the next one (None on the last page)."""

    rows: list[QueueRow]
    next_cursor: str | None


def encode_cursor(due_on: dt.date, task_id: int) -> str:
    """The keyset position after a row, for the `after` query parameter."""
    return f"{due_on.isoformat()}_{task_id}"


def decode_cursor(cursor: str | None) -> tuple[dt.date, int] | None:
    """The position in a cursor, or None when it is missing or malformed (the first page then)."""
    if not cursor:
        return None
    day, _, number = cursor.partition("_")
    try:
        return dt.date.fromisoformat(day), int(number)
    except ValueError:
        return None


def queue_page(session: Session, user: User, filters: QueueFilters, after: tuple[dt.date, int] | None,
               today: dt.date, locale: str, limit: int = PAGE_SIZE) -> QueuePage:
    """The tasks `user` may see (own agency; all for an admin), by due date: three statements per page."""
    assignee = aliased(User)
    statement = (
        select(ReviewTask.id, ReviewTask.application_id, ReviewTask.stage_id, ReviewTask.agency_id,
               ReviewTask.due_on, ReviewTask.overdue, ReviewTask.status, ReviewTask.assignee_id,
               Application.reference, Application.submitted_at, Application.permit_version_id,
               Business.name_th, Business.name_en, PermitType.key, assignee.name)
        .join(Application, Application.id == ReviewTask.application_id)
        .join(Business, Business.id == Application.business_id)
        .join(PermitVersion, PermitVersion.id == Application.permit_version_id)
        .join(PermitType, PermitType.id == PermitVersion.permit_type_id)
        .outerjoin(assignee, assignee.id == ReviewTask.assignee_id)
    )
    if user.role is not Role.ADMIN:
        statement = statement.where(ReviewTask.agency_id == (user.agency_id or ""))
    if filters.status is not None:
        statement = statement.where(ReviewTask.status == filters.status)
    if filters.permit_key:  # by the task's own column: an index range even for a permit rare in the queue
        statement = statement.where(ReviewTask.permit_type_id == select(PermitType.id).where(
            PermitType.key == filters.permit_key).scalar_subquery())
    if filters.mine:
        statement = statement.where(ReviewTask.assignee_id == user.id)
    if filters.unassigned:
        statement = statement.where(ReviewTask.assignee_id.is_(None))
    if filters.overdue:
        statement = statement.where(or_(ReviewTask.overdue.is_(True),
                                        and_(ReviewTask.status == TaskStatus.OPEN, ReviewTask.due_on < today)))
    if after is not None:
        due_on, task_id = after
        # A row-value comparison, so the index is entered at the cursor instead of scanned up to it.
        statement = statement.where(tuple_(ReviewTask.due_on, ReviewTask.id) > tuple_(due_on, task_id))
    rows = session.execute(statement.order_by(ReviewTask.due_on, ReviewTask.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    titles, stage_titles = _titles(session, {row.permit_version_id for row in rows}, locale)
    calendar = _calendar(session, {row.agency_id for row in rows})
    result = [QueueRow(
        task_id=row.id, application_id=row.application_id, reference=row.reference or "",
        permit_key=row.key, permit_title=titles.get(row.permit_version_id, row.key),
        business_name=(row.name_en if locale == "en" and row.name_en else row.name_th),
        stage_id=row.stage_id, stage_title=stage_titles.get((row.permit_version_id, row.stage_id), row.stage_id),
        agency_id=row.agency_id, submitted_at=row.submitted_at, due_on=row.due_on,
        working_days_left=calendar.working_days_between(today, row.due_on, row.agency_id)
        if row.status is TaskStatus.OPEN else None,
        overdue=row.overdue or (row.status is TaskStatus.OPEN and row.due_on < today), status=row.status.value,
        status_label=str(TASK_STATUS_LABELS[row.status]), assignee_name=row.name,
        mine=row.assignee_id == user.id) for row in rows]
    next_cursor = encode_cursor(rows[-1].due_on, rows[-1].id) if more and rows else None
    return QueuePage(result, next_cursor)


def _titles(session: Session, version_ids: set[int],
            locale: str) -> tuple[dict[int, str], dict[tuple[int, str], str]]:
    """Permit titles by version id, and stage titles by (version id, stage id): one statement."""
    if not version_ids:
        return {}, {}
    permits: dict[int, str] = {}
    stages: dict[tuple[int, str], str] = {}
    for version in session.scalars(select(PermitVersion).where(PermitVersion.id.in_(sorted(version_ids)))):
        spec = version.permit_spec()
        permits[version.id] = spec.permit.title.get(locale)
        for stage in compiled(version).workflow.route.stages():
            stages[(version.id, stage.id)] = stage.title.get(locale)
    return permits, stages


def _calendar(session: Session, agency_ids: set[str]) -> WorkingCalendar:
    if not agency_ids:
        return WorkingCalendar()
    agencies = session.scalars(select(Agency).where(Agency.id.in_(sorted(agency_ids))))
    return WorkingCalendar(agency_holidays={agency.id: [dt.date.fromisoformat(day) for day in agency.extra_holidays]
                                            for agency in agencies})


def permit_keys(session: Session) -> list[str]:
    """Permit type keys, for the queue's filter."""
    return list(session.scalars(select(PermitType.key).order_by(PermitType.key)))


@dataclass(frozen=True)
class OtherTask:
    """A task of another (or the same) agency on the same application, for the decisions list."""

    stage_title: str
    agency_name: str
    status_label: str
    outcome: str | None
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class ActivityLine:
    """One audit entry about the application or one of its tasks, for the officers' activity log."""

    at: dt.datetime
    actor: str | None
    action: str
    stage: str | None
    from_state: str | None
    to_state: str | None
    reason: str | None
    assignee: str | None


def _state_text(value: str | None) -> str | None:
    if value is None:
        return None
    return str(status_label(ApplicationStatus(value))) if value in set(ApplicationStatus) else value


def activity(session: Session, application_id: int, task_ids: list[int],
             stage_title: Callable[[str], str]) -> list[ActivityLine]:
    """The audit log of an application and its review tasks, oldest first: two statements.

    The officers' timeline reads the audit log itself, so it shows exactly what was
    recorded — who claimed, assigned, decided — and nothing written elsewhere.
    """
    subjects = [and_(AuditEntry.subject_type == "application", AuditEntry.subject_id == str(application_id))]
    if task_ids:
        subjects.append(and_(AuditEntry.subject_type == "review_task",
                             AuditEntry.subject_id.in_([str(task_id) for task_id in task_ids])))
    entries = list(session.scalars(select(AuditEntry).where(or_(*subjects)).order_by(AuditEntry.id)))
    people = {entry.actor_id for entry in entries if entry.actor_id is not None}
    people |= {entry.data["to_assignee_id"] for entry in entries if isinstance(entry.data.get("to_assignee_id"), int)}
    names: dict[int, str] = {user_id: name for user_id, name in session.execute(
        select(User.id, User.name).where(User.id.in_(sorted(people))))} if people else {}
    return [ActivityLine(entry.at, names.get(entry.actor_id) if entry.actor_id is not None else None, entry.action,
                         stage_title(entry.data["stage_id"]) if entry.data.get("stage_id") else None,
                         _state_text(entry.from_state), _state_text(entry.to_state), entry.reason,
                         names.get(entry.data.get("to_assignee_id", -1)))
            for entry in entries]


@dataclass(frozen=True)
class TaskPage:
    """Everything on a task's page, as plain values plus the task row."""

    task: ReviewTask
    application: ApplicationPage
    stage_title: str
    agency_name: str
    actions: tuple[str, ...]
    working_days_left: int | None
    other_tasks: list[OtherTask]
    field_choices: list[tuple[str, str]]
    document_choices: list[tuple[str, str]]
    activity: list[ActivityLine]
    colleagues: list[User]
    may_assign: bool
    licence: Licence | None


def task_page(session: Session, task_id: int, user: User, today: dt.date, locale: str) -> TaskPage:
    """The page of a task `user` may see (`NotFound` otherwise); a fixed number of statements."""
    task = session.scalars(select(ReviewTask).where(ReviewTask.id == task_id)
                           .options(joinedload(ReviewTask.assignee))).first()
    if task is None or not may_see(user, task.agency_id):
        raise NotFound()
    page = viewed_application_page(session, task.application_id, lambda _application: True, locale)
    bundle = compiled(page.application.permit_version)
    route = bundle.workflow.route
    siblings = list(session.scalars(select(ReviewTask).where(ReviewTask.application_id == task.application_id)
                                    .order_by(ReviewTask.opened_at, ReviewTask.id)))
    agencies = agencies_by_id(session, {row.agency_id for row in siblings})

    def stage_title(stage_id: str) -> str:
        return route.stage(stage_id).title.get(locale) if stage_id in route.nodes else stage_id

    def agency_name(agency_id: str) -> str:
        agency = agencies.get(agency_id)
        return agency.name(locale) if agency else agency_id

    others = [OtherTask(stage_title(row.stage_id), agency_name(row.agency_id), str(row.status_label), row.outcome,
                        row.closed_at) for row in siblings if row.id != task.id]
    actions = tuple(action.value for action in route.stage(task.stage_id).actions) \
        if task.stage_id in route.nodes and task.status is TaskStatus.OPEN else ()
    calendar = _calendar(session, {task.agency_id})
    current = shown(page.application)  # only what this applicant was asked can be sent back
    return TaskPage(
        task, page, stage_title(task.stage_id), agency_name(task.agency_id), actions,
        calendar.working_days_between(today, task.due_on, task.agency_id) if task.status is TaskStatus.OPEN else None,
        others,
        [(item.id, item.label.get(locale)) for fields in current.fields.values() for item in fields],
        [(document.id, document.title.get(locale)) for document in current.documents],
        activity(session, task.application_id, [row.id for row in siblings], stage_title),
        colleagues(session, task.agency_id) if may_assign(user, task.agency_id) and task.is_active else [],
        may_assign(user, task.agency_id),
        session.scalars(select(Licence).where(Licence.application_id == task.application_id)).first())
