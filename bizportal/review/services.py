"""What officers do with review tasks: claim, release, decide, and the periodic deadline check.

Every function takes the session, the acting user and the time, flushes and never
commits. Decisions carry the task version the officer saw: a different one, or a
concurrent decision that got there first, raises `StaleDecision` (409) and nothing
is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import events
from ..accounts.models import Role, User
from ..applications.decisions import apply_event, return_for_correction
from ..applications.models import Application
from ..audit.services import record
from ..errors import Conflict, InvalidTransition, NotFound, PermissionDenied, StaleDecision
from ..workflow.spec import Action
from ..workflow.state import ApplicationStatus, DeadlinePassed, StageDecision, TaskOverdue
from .models import ReviewTask, TaskStatus

logger = logging.getLogger(__name__)

STALE_MESSAGE = _l("This task was changed by someone else after you opened it (for example another officer "
                   "decided it). Nothing was recorded: look at it again.")


def may_see(user: User, agency_id: str) -> bool:
    """Admins see every agency's tasks; officers their own agency's only."""
    return user.role is Role.ADMIN or (user.role is Role.OFFICER and user.agency_id == agency_id)


def get_task(session: Session, task_id: int, user: User) -> ReviewTask:
    """The task if `user` may see it; `NotFound` otherwise (another agency's task is not revealed)."""
    task = session.get(ReviewTask, task_id)
    if task is None or not may_see(user, task.agency_id):
        raise NotFound()
    return task


def claim(session: Session, task_id: int, officer: User, now: dt.datetime) -> ReviewTask:
    """Take an active task; refused (409) when someone else has it or is claiming it right now."""
    task = session.scalars(select(ReviewTask).where(ReviewTask.id == task_id)
                           .with_for_update(skip_locked=True)).first()
    if task is None:
        get_task(session, task_id, officer)  # 404 when unknown or not theirs
        raise Conflict(_l("Someone else is taking this task right now."))
    if not may_see(officer, task.agency_id):
        raise NotFound()
    if not task.is_active:
        raise InvalidTransition(_l("This task is already finished."))
    if task.assignee_id is not None and task.assignee_id != officer.id:
        assert task.assignee is not None
        raise Conflict(_l("This task is already claimed by %(name)s.", name=task.assignee.name))
    if task.assignee_id != officer.id:
        task.assignee_id = officer.id
        _flush(session)
        record(session, at=now, actor_id=officer.id, action="claim", subject_type="review_task",
               subject_id=task.id, data={"application_id": task.application_id, "stage_id": task.stage_id})
    return task


def release(session: Session, task_id: int, user: User, now: dt.datetime) -> ReviewTask:
    """Give a claimed task back to the agency's queue (its holder, the agency's lead or an admin)."""
    task = get_task(session, task_id, user)
    if task.assignee_id is None:
        return task
    if task.assignee_id != user.id and not may_assign(user, task.agency_id):
        raise PermissionDenied(_l("Only the officer who claimed this task, the agency's lead or an "
                                  "administrator can release it."))
    task.assignee_id = None
    _flush(session)
    record(session, at=now, actor_id=user.id, action="release", subject_type="review_task", subject_id=task.id,
           data={"application_id": task.application_id, "stage_id": task.stage_id})
    return task


def may_assign(user: User, agency_id: str) -> bool:
    """Admins and the agency's leads hand its tasks to a colleague; other officers only claim."""
    return user.role is Role.ADMIN or (user.role is Role.OFFICER and user.is_agency_lead
                                       and user.agency_id == agency_id)


def colleagues(session: Session, agency_id: str) -> list[User]:
    """The agency's active officers, by name: who a task can be assigned to."""
    return list(session.scalars(select(User).where(User.role == Role.OFFICER, User.agency_id == agency_id,
                                                   User.is_active.is_(True)).order_by(User.name, User.id)))


def assign(session: Session, task_id: int, user: User, assignee_id: int, now: dt.datetime) -> ReviewTask:
    """Hand an active task to an active officer of its agency (an admin or the agency's lead does this).

    The task row is locked and its version moves on, so a decision form opened
    before the hand-over is refused as stale rather than recorded under the wrong name.
    """
    task = session.scalars(select(ReviewTask).where(ReviewTask.id == task_id).with_for_update()).first()
    if task is None or not may_see(user, task.agency_id):
        raise NotFound()
    if not may_assign(user, task.agency_id):
        raise PermissionDenied(_l("Only an administrator or the agency's lead can assign tasks."))
    if not task.is_active:
        raise InvalidTransition(_l("This task is already finished."))
    assignee = session.get(User, assignee_id)
    if assignee is None or assignee.role is not Role.OFFICER or assignee.agency_id != task.agency_id \
            or not assignee.is_active:
        raise InvalidTransition(_l("Choose an active officer of this task's agency."))
    if task.assignee_id == assignee.id:
        return task
    previous = task.assignee_id
    task.assignee_id = assignee.id
    _flush(session)
    record(session, at=now, actor_id=user.id, action="assign", subject_type="review_task", subject_id=task.id,
           data={"application_id": task.application_id, "stage_id": task.stage_id, "from_assignee_id": previous,
                 "to_assignee_id": assignee.id})
    return task


def decide(session: Session, task_id: int, officer: User, action: Action, seen_version: int, now: dt.datetime,
           *, note: str = "", fields: Iterable[str] = (), documents: Iterable[str] = ()) -> ReviewTask:
    """Record one decision on an open task, as seen at `seen_version`.

    The task row is updated first, on the version the officer saw: of two concurrent
    decisions only one update matches, the other raises `StaleDecision`. A rejection
    needs a reason; returns and information requests go through
    `applications.decisions.return_for_correction`. The engine closes, pauses or opens
    the other tasks, and their rows follow in the same transaction.
    """
    task = get_task(session, task_id, officer)
    if task.version_id != seen_version:
        raise StaleDecision(STALE_MESSAGE)
    if task.status is not TaskStatus.OPEN:
        raise InvalidTransition(_l("This task is not waiting for a decision."))
    note = note.replace("\x00", "").strip()[:5000]
    if action is Action.REJECT and not note:
        raise InvalidTransition(_l("Give the reason for the rejection: the applicant will see it."))
    if task.assignee_id is None:
        task.assignee_id = officer.id
    task.outcome = action.value  # moves the version on now: the concurrent loser fails here
    _flush(session)
    # Parallel stages of one application may be decided at once: lock it and read its state fresh.
    application = session.scalars(select(Application).where(Application.id == task.application_id)
                                  .with_for_update().execution_options(populate_existing=True)).one()
    if action in (Action.APPROVE, Action.REJECT):
        apply_event(session, application, StageDecision(at=now, stage_id=task.stage_id, action=action, note=note),
                    officer.id)
    else:
        return_for_correction(session, task.application_id, task.stage_id, note, fields, documents, now,
                              actor_id=officer.id, action=action)
    events.stage_decided.send(session, payload=events.about_application(
        application, now, stage_id=task.stage_id, decision=action.value, task_id=task.id))
    logger.info("task decided", extra={"application_id": task.application_id, "task_id": task.id,
                                       "action": action.value})
    return task


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise StaleDecision(STALE_MESSAGE) from None
    except OperationalError as error:  # SQLite: another transaction holds the write lock
        if "locked" not in str(error):
            raise
        raise StaleDecision(STALE_MESSAGE) from None


@dataclass(frozen=True)
class DeadlineReport:
    """What `check_deadlines` did."""

    applications: int
    tasks_marked_overdue: int


def check_deadlines(session: Session, now: dt.datetime) -> DeadlineReport:
    """Run the engine's `DeadlinePassed` on every application in review; task rows follow its effects."""
    applications = session.scalars(select(Application).where(Application.status == ApplicationStatus.IN_REVIEW)
                                   .order_by(Application.id)).all()
    checked = marked = 0
    for application in applications:
        decision = apply_event(session, application, DeadlinePassed(at=now), None)
        checked += 1
        marked += sum(1 for effect in decision.effects if isinstance(effect, TaskOverdue))
    return DeadlineReport(checked, marked)
