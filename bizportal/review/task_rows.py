"""Turning the engine's task effects into `ReviewTask` rows.

Called by `applications.decisions.apply_event` for every event, so the rows always
agree with the engine state written in the same transaction. Updates go through the
ORM (never a bulk `update()`), so each changed row's `version_id` moves on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..workflow.state import Effect, Outcome, TaskClosed, TaskOpened, TaskOverdue, TaskPaused, TaskResumed
from .models import ReviewTask, TaskStatus

TASK_EFFECTS = (TaskOpened, TaskClosed, TaskPaused, TaskResumed, TaskOverdue)


def apply_task_effects(session: Session, application_id: int, permit_type_id: int, effects: Iterable[Effect],
                       at: dt.datetime) -> None:
    """Create, pause, resume, mark overdue or close the application's task rows as the effects say.

    `permit_type_id` is copied onto new rows so the queue's permit filter is an index range.
    """
    task_effects = [effect for effect in effects if isinstance(effect, TASK_EFFECTS)]
    if not task_effects:
        return
    active = {task.stage_id: task for task in session.scalars(
        select(ReviewTask).where(ReviewTask.application_id == application_id,
                                 ReviewTask.status.in_((TaskStatus.OPEN, TaskStatus.PAUSED))))}
    for effect in task_effects:
        if isinstance(effect, TaskOpened):
            opened = ReviewTask(application_id=application_id, permit_type_id=permit_type_id,
                                stage_id=effect.stage_id, agency_id=effect.agency, status=TaskStatus.OPEN,
                                due_on=effect.due_on, overdue=False, opened_at=at)
            session.add(opened)
            active[effect.stage_id] = opened
            continue
        task = active.get(effect.stage_id)
        if task is None:
            continue
        if isinstance(effect, TaskPaused):
            task.status = TaskStatus.PAUSED
        elif isinstance(effect, TaskResumed):
            task.status = TaskStatus.OPEN
            task.due_on = effect.due_on
            task.overdue = False
            task.outcome = None
        elif isinstance(effect, TaskOverdue):
            task.overdue = True
        elif isinstance(effect, TaskClosed):
            task.status = TaskStatus.CANCELLED if effect.outcome is Outcome.CANCELLED else TaskStatus.DONE
            task.outcome = effect.outcome.value
            task.closed_at = at
            del active[effect.stage_id]
    session.flush()
