"""The running state of one application, the events that move it and the effects it produces.

State is plain data that round-trips through JSON, so an application row keeps
it in one column and an application in flight never depends on Python objects.

Application statuses
    draft                   being filled in by the applicant; nobody else acts
    in_review               at least one agency task is open
    correction_requested    an officer returned it; the clock is paused until the applicant resubmits
    information_requested   an officer asked for information; paused likewise
    approved                every stage approved; a licence is to be issued (final)
    rejected                an agency rejected it with a reason (final)
    withdrawn               the applicant withdrew it (final)

Task statuses
    open                    the agency must decide before `due_on`
    paused                  waiting on the applicant; `days_left` working days remain
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .spec import Action


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CORRECTION_REQUESTED = "correction_requested"
    INFORMATION_REQUESTED = "information_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        """True once nothing more can happen to the application."""
        return self in FINAL_STATUSES

    @property
    def waits_on_applicant(self) -> bool:
        """True while the clock is paused for the applicant."""
        return self in {ApplicationStatus.CORRECTION_REQUESTED, ApplicationStatus.INFORMATION_REQUESTED}


FINAL_STATUSES = frozenset({ApplicationStatus.APPROVED, ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN})


class TaskStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"


class Outcome(StrEnum):
    """How a task ended."""

    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TaskState:
    """An open task of one stage, decided by one agency."""

    stage_id: str
    agency: str
    opened_on: dt.date
    due_on: dt.date
    status: TaskStatus = TaskStatus.OPEN
    days_left: int | None = None
    overdue: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"stage_id": self.stage_id, "agency": self.agency, "opened_on": self.opened_on.isoformat(),
                "due_on": self.due_on.isoformat(), "status": self.status.value, "days_left": self.days_left,
                "overdue": self.overdue}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskState:
        """Inverse of `to_json`."""
        return cls(stage_id=data["stage_id"], agency=data["agency"],
                   opened_on=dt.date.fromisoformat(data["opened_on"]),
                   due_on=dt.date.fromisoformat(data["due_on"]), status=TaskStatus(data["status"]),
                   days_left=data.get("days_left"), overdue=bool(data.get("overdue")))


@dataclass(frozen=True)
class ApplicationState:
    """Where an application stands on its route."""

    status: ApplicationStatus = ApplicationStatus.DRAFT
    tasks: dict[str, TaskState] = field(default_factory=dict)
    approved_stages: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    joins: dict[str, tuple[str, ...]] = field(default_factory=dict)
    returned_by: str | None = None
    submitted_on: dt.date | None = None
    due_on: dt.date | None = None
    days_left: int | None = None
    overdue: bool = False
    corrections: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON form, stored with the application."""
        return {
            "status": self.status.value,
            "tasks": {key: task.to_json() for key, task in self.tasks.items()},
            "approved_stages": list(self.approved_stages),
            "skipped": list(self.skipped),
            "joins": {key: list(value) for key, value in self.joins.items()},
            "returned_by": self.returned_by,
            "submitted_on": self.submitted_on.isoformat() if self.submitted_on else None,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "days_left": self.days_left,
            "overdue": self.overdue,
            "corrections": self.corrections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApplicationState:
        """Inverse of `to_json`."""
        return cls(
            status=ApplicationStatus(data["status"]),
            tasks={key: TaskState.from_json(value) for key, value in data.get("tasks", {}).items()},
            approved_stages=tuple(data.get("approved_stages", ())),
            skipped=tuple(data.get("skipped", ())),
            joins={key: tuple(value) for key, value in data.get("joins", {}).items()},
            returned_by=data.get("returned_by"),
            submitted_on=dt.date.fromisoformat(data["submitted_on"]) if data.get("submitted_on") else None,
            due_on=dt.date.fromisoformat(data["due_on"]) if data.get("due_on") else None,
            days_left=data.get("days_left"),
            overdue=bool(data.get("overdue")),
            corrections=int(data.get("corrections", 0)),
        )

    def actionable_tasks(self) -> list[TaskState]:
        """Tasks an officer can decide now."""
        return [task for task in self.tasks.values() if task.status is TaskStatus.OPEN]


# --------------------------------------------------------------------------- events

@dataclass(frozen=True)
class Event:
    """Something that happened to an application at `at` (timezone-aware)."""

    at: dt.datetime


@dataclass(frozen=True)
class Submit(Event):
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resubmit(Event):
    """The applicant answers a correction or information request."""

    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Withdraw(Event):
    reason: str = ""


@dataclass(frozen=True)
class StageDecision(Event):
    """An officer of the stage's agency decides."""

    stage_id: str = ""
    action: Action = Action.APPROVE
    note: str = ""
    fields: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeadlinePassed(Event):
    """A periodic check: mark tasks and the application overdue as of `at`."""


# --------------------------------------------------------------------------- effects

@dataclass(frozen=True)
class Effect:
    """Something the services must carry out (write a row, notify, enqueue a job)."""


@dataclass(frozen=True)
class StatusChanged(Effect):
    before: ApplicationStatus
    after: ApplicationStatus


@dataclass(frozen=True)
class TaskOpened(Effect):
    stage_id: str
    agency: str
    due_on: dt.date
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class TaskClosed(Effect):
    stage_id: str
    agency: str
    outcome: Outcome


@dataclass(frozen=True)
class TaskPaused(Effect):
    stage_id: str
    agency: str
    days_left: int


@dataclass(frozen=True)
class TaskResumed(Effect):
    stage_id: str
    agency: str
    due_on: dt.date


@dataclass(frozen=True)
class StageSkipped(Effect):
    stage_id: str


@dataclass(frozen=True)
class DeadlineSet(Effect):
    due_on: dt.date


@dataclass(frozen=True)
class FeeItem:
    fee_id: str
    amount: float
    payable: str


@dataclass(frozen=True)
class FeesAssessed(Effect):
    items: tuple[FeeItem, ...]

    @property
    def total(self) -> float:
        """Sum in THB."""
        return sum(item.amount for item in self.items)


@dataclass(frozen=True)
class Notice(Effect):
    """A message to send; `recipient` is "applicant" or "agency"."""

    recipient: str
    kind: str
    stage_id: str | None = None
    agency: str | None = None
    note: str = ""


@dataclass(frozen=True)
class TaskOverdue(Effect):
    stage_id: str
    agency: str
    due_on: dt.date


@dataclass(frozen=True)
class IssueLicence(Effect):
    """Every stage approved: issue the licence declared by the permit type."""


@dataclass(frozen=True)
class Decision:
    """What `decide` returns: the new state and the effects to carry out, in order."""

    state: ApplicationState
    effects: tuple[Effect, ...]
