"""The workflow engine: a pure function from (spec, state, event) to (state, effects).

`Workflow` compiles a published `PermitSpec` once (route graph and CEL
expressions); `Workflow.decide(state, event, calendar)` returns a `Decision` and
touches nothing else: no database, no clock (the time is in the event), no
Flask. Services persist the new state and turn effects into rows, notices and
jobs. Route semantics are documented in docs/workflows.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .calendar import WorkingCalendar, local_date
from .expressions import CompiledExpression, FormEnvironment
from .routes import END, JOIN, CompiledRoute, compile_route
from .spec import Action, Choose, Parallel, PermitSpec, Stage
from .state import (
    ApplicationState,
    ApplicationStatus,
    DeadlinePassed,
    DeadlineSet,
    Decision,
    Effect,
    Event,
    FeeItem,
    FeesAssessed,
    IssueLicence,
    Notice,
    Outcome,
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
    TaskState,
    TaskStatus,
    Withdraw,
)

_MAX_MOVES = 10_000


class InvalidTransition(Exception):
    """The event is not allowed in the application's current state."""

    def __init__(self, message: str, code: str = "invalid-transition") -> None:
        super().__init__(message)
        self.code = code


class Workflow:
    """A published permit type, compiled for running applications."""

    def __init__(self, spec: PermitSpec) -> None:
        self.spec = spec
        self.route: CompiledRoute = compile_route(spec.permit)
        if self.route.problems:
            # Validated specs never get here; this guards specs built by hand.
            raise ValueError("route has problems: " + "; ".join(p.message for p in self.route.problems))
        env = FormEnvironment.for_fields(spec.fields())
        self.conditions: dict[str, CompiledExpression] = {
            node_id: env.compile(compiled.node.when, "bool")
            for node_id, compiled in self.route.nodes.items()
            if not isinstance(compiled.node, Choose) and compiled.node.when
        }
        self.options: dict[str, list[tuple[str, CompiledExpression | None]]] = {
            node_id: [(option.id, env.compile(option.when, "bool") if option.when else None)
                      for option in compiled.node.choose]
            for node_id, compiled in self.route.nodes.items() if isinstance(compiled.node, Choose)
        }
        self.fees: list[tuple[Any, CompiledExpression, CompiledExpression | None]] = [
            (fee, env.compile(fee.amount, "number"), env.compile(fee.when, "bool") if fee.when else None)
            for fee in spec.permit.fees
        ]

    # ------------------------------------------------------------------ queries

    def skipped_nodes(self, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """Route nodes whose condition is false for `answers`, and the options not chosen."""
        skipped = [node_id for node_id, condition in self.conditions.items() if not condition.evaluate(answers)]
        for options in self.options.values():
            chosen = next((option_id for option_id, condition in options
                           if condition is None or condition.evaluate(answers)), None)
            skipped.extend(option_id for option_id, _ in options if option_id != chosen)
        return tuple(skipped)

    def assess_fees(self, answers: Mapping[str, Any]) -> tuple[FeeItem, ...]:
        """Fees due for `answers`, in THB, in the order the permit lists them."""
        items = []
        for fee, amount, when in self.fees:
            if when is not None and not when.evaluate(answers):
                continue
            items.append(FeeItem(fee.id, round(float(amount.evaluate(answers)), 2), fee.payable))
        return tuple(items)

    def expected_decision_date(self, submitted_on: dt.date, calendar: WorkingCalendar) -> dt.date:
        """Published total time limit counted in working days from `submitted_on`."""
        return calendar.add_working_days(submitted_on, self.spec.permit.time_limit_days)

    # ------------------------------------------------------------------ decide

    def decide(self, state: ApplicationState, event: Event, calendar: WorkingCalendar) -> Decision:
        """Apply `event` to `state`; raise InvalidTransition if it is not allowed now."""
        run = _Run(self, state, calendar, local_date(event.at))
        if isinstance(event, Submit):
            run.submit(event)
        elif isinstance(event, StageDecision):
            run.stage_decision(event)
        elif isinstance(event, Resubmit):
            run.resubmit(event)
        elif isinstance(event, Withdraw):
            run.withdraw(event)
        elif isinstance(event, DeadlinePassed):
            run.deadline_passed()
        else:
            raise InvalidTransition(f"unknown event {type(event).__name__}")
        return Decision(run.result(), tuple(run.effects))


class _Run:
    """One call of `decide`: a working copy of the state and the effects so far."""

    def __init__(self, workflow: Workflow, state: ApplicationState, calendar: WorkingCalendar,
                 today: dt.date) -> None:
        self.workflow = workflow
        self.route = workflow.route
        self.state = state
        self.tasks = dict(state.tasks)
        self.joins = dict(state.joins)
        self.approved = list(state.approved_stages)
        self.calendar = calendar
        self.today = today
        self.effects: list[Effect] = []
        self.changes: dict[str, Any] = {}
        self.moves = 0

    # ------------------------------------------------------------------ helpers

    def __getattr__(self, name: str) -> Any:
        # Fields of the state as changed so far in this run (e.g. `self.status`, `self.skipped`).
        changes = self.__dict__["changes"]
        return changes[name] if name in changes else getattr(self.__dict__["state"], name)

    def result(self) -> ApplicationState:
        """The new state: built once, at the end, because `replace` is the costliest step."""
        return replace(self.state, tasks=self.tasks, joins=self.joins, approved_stages=tuple(self.approved),
                       **self.changes)

    def _update(self, **changes: Any) -> None:
        self.changes.update(changes)

    def _set_status(self, status: ApplicationStatus, **changes: Any) -> None:
        before = self.status
        self._update(status=status, **changes)
        if before is not status:
            self.effects.append(StatusChanged(before, status))

    def _require(self, *allowed: ApplicationStatus) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"not possible while the application is {self.status.value}",
                                    "wrong-status")

    # ------------------------------------------------------------------ events

    def submit(self, event: Submit) -> None:
        self._require(ApplicationStatus.DRAFT)
        fees = self.workflow.assess_fees(event.answers)
        skipped = self.workflow.skipped_nodes(event.answers)
        due = self.workflow.expected_decision_date(self.today, self.calendar)
        self._update(submitted_on=self.today, due_on=due, skipped=skipped)
        self.effects.append(DeadlineSet(due))
        self.effects.append(FeesAssessed(fees))
        self._set_status(ApplicationStatus.IN_REVIEW)
        self.effects.append(Notice("applicant", "submitted"))
        self._enter(self.route.start, came_from=None)

    def stage_decision(self, event: StageDecision) -> None:
        if self.status.waits_on_applicant:
            raise InvalidTransition("the application is waiting for the applicant; decide after they "
                                    "resubmit", "waiting-on-applicant")
        self._require(ApplicationStatus.IN_REVIEW)
        task = self.tasks.get(event.stage_id)
        if task is None or task.status is not TaskStatus.OPEN:
            raise InvalidTransition(f"stage {event.stage_id!r} has no open task", "no-open-task")
        stage = self.route.stage(event.stage_id)
        if event.action not in stage.actions:
            raise InvalidTransition(f"stage {stage.id!r} does not allow {event.action.value}", "action-not-allowed")
        if event.action is Action.APPROVE:
            self._close(task, Outcome.APPROVED)
            self.approved.append(stage.id)
            self._update()
            self.effects.append(Notice("applicant", "stage_approved", stage.id, stage.agency))
            self._enter(self.route.nodes[stage.id].next, came_from=stage.id)
        elif event.action is Action.REJECT:
            if not event.note.strip():
                raise InvalidTransition("a rejection needs a reason for the applicant", "reason-required")
            self._close(task, Outcome.REJECTED)
            self._close_all(Outcome.CANCELLED)
            self._set_status(ApplicationStatus.REJECTED)
            self.effects.append(Notice("applicant", "rejected", stage.id, stage.agency, event.note))
        else:
            if not event.note.strip() and not event.fields and not event.documents:
                raise InvalidTransition("say what the applicant must correct or provide", "note-required")
            status = (ApplicationStatus.CORRECTION_REQUESTED if event.action is Action.RETURN_FOR_CORRECTION
                      else ApplicationStatus.INFORMATION_REQUESTED)
            self._pause_all()
            days_left = max(0, self.calendar.working_days_between(self.today, self.due_on or self.today))
            self._set_status(status, returned_by=stage.id, days_left=days_left,
                             corrections=self.corrections + 1)
            self.effects.append(Notice("applicant", status.value, stage.id, stage.agency, event.note))

    def resubmit(self, event: Resubmit) -> None:
        self._require(ApplicationStatus.CORRECTION_REQUESTED, ApplicationStatus.INFORMATION_REQUESTED)
        skipped = self.workflow.skipped_nodes(event.answers)
        for task_id, task in list(self.tasks.items()):
            due = self.calendar.add_working_days(self.today, max(task.days_left or 0, 1), task.agency)
            self.tasks[task_id] = replace(task, status=TaskStatus.OPEN, days_left=None, due_on=due,
                                          overdue=False)
            self.effects.append(TaskResumed(task_id, task.agency, due))
        due_on = self.calendar.add_working_days(self.today, max(self.days_left or 0, 1))
        self.effects.append(DeadlineSet(due_on))
        self.effects.append(FeesAssessed(self.workflow.assess_fees(event.answers)))
        returned_by = self.returned_by
        self._set_status(ApplicationStatus.IN_REVIEW, returned_by=None, days_left=None, due_on=due_on,
                         skipped=skipped, overdue=False)
        if returned_by is not None:
            self.effects.append(Notice("agency", "resubmitted", returned_by,
                                       self.route.stage(returned_by).agency))

    def withdraw(self, event: Withdraw) -> None:
        if self.status.is_final:
            raise InvalidTransition(f"the application is already {self.status.value}", "wrong-status")
        self._close_all(Outcome.CANCELLED)
        self._set_status(ApplicationStatus.WITHDRAWN)
        self.effects.append(Notice("applicant", "withdrawn", note=event.reason))

    def deadline_passed(self) -> None:
        if self.status is not ApplicationStatus.IN_REVIEW:
            return
        for task_id, task in list(self.tasks.items()):
            if task.status is TaskStatus.OPEN and not task.overdue and self.today > task.due_on:
                self.tasks[task_id] = replace(task, overdue=True)
                self.effects.append(TaskOverdue(task_id, task.agency, task.due_on))
                self.effects.append(Notice("agency", "task_overdue", task_id, task.agency))
        overdue = self.overdue
        if not overdue and self.due_on is not None and self.today > self.due_on:
            overdue = True
            self.effects.append(Notice("applicant", "decision_delayed"))
        self._update(overdue=overdue)

    # ------------------------------------------------------------------ route moves

    def _enter(self, target: str, came_from: str | None) -> None:
        """Move the application to `target`, skipping nodes whose condition is false."""
        self.moves += 1
        if self.moves > _MAX_MOVES:
            raise InvalidTransition("route does not terminate", "route-loop")
        if target == END:
            self._set_status(ApplicationStatus.APPROVED)
            self.effects.append(IssueLicence())
            self.effects.append(Notice("applicant", "approved"))
            return
        if target.startswith(JOIN):
            parallel_id = target[len(JOIN):]
            assert came_from is not None
            branch = self.route.nodes[came_from].branch_id
            finished = (*self.joins.get(parallel_id, ()), branch or "")
            parallel = self.route.nodes[parallel_id].node
            assert isinstance(parallel, Parallel)
            if len(set(finished)) >= len(parallel.parallel):
                self.joins.pop(parallel_id, None)
                self._update()
                self._enter(self.route.nodes[parallel_id].next, came_from=parallel_id)
            else:
                self.joins[parallel_id] = finished
                self._update()
            return
        compiled = self.route.nodes[target]
        if target in self.skipped:
            self.effects.append(StageSkipped(target))
            self._enter(compiled.next, came_from=target)
            return
        node = compiled.node
        if isinstance(node, Choose):
            taken = next((option for option in node.choose if option.id not in self.skipped), None)
            if taken is None:
                self.effects.append(StageSkipped(target))
                self._enter(compiled.next, came_from=target)
            else:
                self._enter(taken.steps[0].id, came_from=target)
            return
        if isinstance(node, Parallel):
            self.joins[node.id] = ()
            self._update()
            for start in compiled.branch_starts:
                self._enter(start, came_from=node.id)
            return
        self._open(node)

    def _open(self, stage: Stage) -> None:
        due = self.calendar.add_working_days(self.today, stage.time_limit_days, stage.agency)
        self.tasks[stage.id] = TaskState(stage.id, stage.agency, self.today, due)
        self._update()
        self.effects.append(TaskOpened(stage.id, stage.agency, due, stage.actions))
        self.effects.append(Notice("agency", "task_opened", stage.id, stage.agency))

    def _close(self, task: TaskState, outcome: Outcome) -> None:
        self.tasks.pop(task.stage_id, None)
        self._update()
        self.effects.append(TaskClosed(task.stage_id, task.agency, outcome))

    def _close_all(self, outcome: Outcome) -> None:
        for task in list(self.tasks.values()):
            self._close(task, outcome)
        self.joins.clear()
        self._update()

    def _pause_all(self) -> None:
        for task_id, task in list(self.tasks.items()):
            days_left = max(0, self.calendar.working_days_between(self.today, task.due_on, task.agency))
            self.tasks[task_id] = replace(task, status=TaskStatus.PAUSED, days_left=days_left)
            self.effects.append(TaskPaused(task_id, task.agency, days_left))
        self._update()
