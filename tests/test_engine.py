"""Engine behaviour on hand-written routes: sequence, parallel join, conditions, corrections, deadlines."""

from __future__ import annotations

import datetime as dt

import pytest

from bizportal.workflow.calendar import WorkingCalendar
from bizportal.workflow.engine import InvalidTransition, Workflow
from bizportal.workflow.spec import Action
from bizportal.workflow.state import (
    ApplicationState,
    ApplicationStatus,
    DeadlinePassed,
    FeesAssessed,
    IssueLicence,
    Outcome,
    Resubmit,
    StageDecision,
    Submit,
    TaskClosed,
    TaskOpened,
    TaskStatus,
    Withdraw,
)

from .engine_specs import choose, make_spec, parallel, stage

# Monday 23 November 2026, 12:00 in Bangkok.
MONDAY_NOON = dt.datetime(2026, 11, 23, 5, 0, tzinfo=dt.UTC)
CALENDAR = WorkingCalendar()


def at(days: int) -> dt.datetime:
    return MONDAY_NOON + dt.timedelta(days=days)


def approve(workflow: Workflow, state: ApplicationState, stage_id: str, day: int = 0) -> ApplicationState:
    return workflow.decide(state, StageDecision(at(day), stage_id=stage_id, action=Action.APPROVE),
                           CALENDAR).state


def submitted(workflow: Workflow, answers: dict[str, object] | None = None) -> ApplicationState:
    return workflow.decide(ApplicationState(), Submit(at(0), answers or {}), CALENDAR).state


PARALLEL_ROUTE = [
    stage("intake"),
    parallel("reviews", [[stage("health", agency="agency_b")], [stage("building", agency="agency_c")]]),
    stage("final"),
]


def test_sequence_opens_one_task_at_a_time_and_ends_approved_with_a_licence() -> None:
    workflow = Workflow(make_spec([stage("one"), stage("two")]))
    state = submitted(workflow)
    assert list(state.tasks) == ["one"]
    state = approve(workflow, state, "one")
    assert list(state.tasks) == ["two"]
    decision = workflow.decide(state, StageDecision(at(1), stage_id="two", action=Action.APPROVE), CALENDAR)
    assert decision.state.status is ApplicationStatus.APPROVED
    assert any(isinstance(effect, IssueLicence) for effect in decision.effects)
    assert decision.state.approved_stages == ("one", "two")


def test_parallel_stages_open_together_and_join_only_when_all_approve() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    state = approve(workflow, submitted(workflow), "intake")
    assert set(state.tasks) == {"health", "building"}
    state = approve(workflow, state, "building")
    assert set(state.tasks) == {"health"}, "the join must wait for the health branch"
    state = approve(workflow, state, "health")
    assert set(state.tasks) == {"final"}


def test_a_rejection_in_one_branch_ends_the_application_and_closes_the_other_tasks() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    state = approve(workflow, submitted(workflow), "intake")
    decision = workflow.decide(state, StageDecision(at(1), stage_id="health", action=Action.REJECT,
                                                    note="kitchen fails hygiene rules"), CALENDAR)
    assert decision.state.status is ApplicationStatus.REJECTED
    assert decision.state.tasks == {}
    closed = {effect.stage_id: effect.outcome for effect in decision.effects if isinstance(effect, TaskClosed)}
    assert closed == {"health": Outcome.REJECTED, "building": Outcome.CANCELLED}


def test_reject_needs_a_reason() -> None:
    workflow = Workflow(make_spec([stage("one")]))
    with pytest.raises(InvalidTransition, match="reason"):
        workflow.decide(submitted(workflow), StageDecision(at(0), stage_id="one", action=Action.REJECT),
                        CALENDAR)


def test_conditional_stage_is_skipped_when_its_condition_is_false() -> None:
    workflow = Workflow(make_spec([stage("intake"), stage("big_premises", when="area_m2 > 200.0"),
                                   stage("final")]))
    small = approve(workflow, submitted(workflow, {"area_m2": 120.0}), "intake")
    assert list(small.tasks) == ["final"]
    large = approve(workflow, submitted(workflow, {"area_m2": 250.0}), "intake")
    assert list(large.tasks) == ["big_premises"]


def test_action_not_listed_for_the_stage_is_refused() -> None:
    workflow = Workflow(make_spec([stage("one", actions=("approve", "reject"))]))
    with pytest.raises(InvalidTransition, match="does not allow"):
        workflow.decide(submitted(workflow), StageDecision(
            at(0), stage_id="one", action=Action.RETURN_FOR_CORRECTION, note="x"), CALENDAR)


def test_return_for_correction_pauses_the_clock_and_resubmit_resumes_where_it_was() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    state = approve(workflow, submitted(workflow), "intake")
    health_due = state.tasks["health"].due_on
    state = workflow.decide(state, StageDecision(at(1), stage_id="building",
                                                 action=Action.RETURN_FOR_CORRECTION, note="floor plan"),
                            CALENDAR).state
    assert state.status is ApplicationStatus.CORRECTION_REQUESTED
    assert {task.status for task in state.tasks.values()} == {TaskStatus.PAUSED}
    with pytest.raises(InvalidTransition, match="waiting for the applicant"):
        approve(workflow, state, "health", day=2)
    # The applicant takes two weeks; the agencies' clocks do not run meanwhile.
    state = workflow.decide(state, Resubmit(at(15), {}), CALENDAR).state
    assert state.status is ApplicationStatus.IN_REVIEW
    assert set(state.tasks) == {"health", "building"}
    assert state.approved_stages == ("intake",)
    assert state.tasks["health"].due_on > health_due
    lost = CALENDAR.working_days_between(at(1).date(), health_due)
    assert CALENDAR.working_days_between(at(15).date(), state.tasks["health"].due_on) == lost


def test_deadlines_count_working_days_skipping_thai_public_holidays() -> None:
    # Submitted Friday 4 Dec 2026; 5 Dec (Sat, King Bhumibol's birthday), its substitute Monday 7 Dec
    # and Constitution Day Thursday 10 Dec are not working days.
    workflow = Workflow(make_spec([stage("one", days=3)]))
    friday = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
    decision = workflow.decide(ApplicationState(), Submit(friday, {}), CALENDAR)
    opened = [effect for effect in decision.effects if isinstance(effect, TaskOpened)]
    assert opened[0].due_on == dt.date(2026, 12, 11)


def test_agency_days_off_extend_deadlines() -> None:
    workflow = Workflow(make_spec([stage("one", days=1)]))
    calendar = WorkingCalendar(extra_holidays=[dt.date(2026, 11, 24)])
    state = workflow.decide(ApplicationState(), Submit(at(0), {}), calendar).state
    assert state.tasks["one"].due_on == dt.date(2026, 11, 25)


def test_deadline_passed_marks_overdue_tasks_once() -> None:
    workflow = Workflow(make_spec([stage("one", days=2)]))
    state = submitted(workflow)
    assert workflow.decide(state, DeadlinePassed(at(1)), CALENDAR).effects == ()
    decision = workflow.decide(state, DeadlinePassed(at(10)), CALENDAR)
    assert decision.state.tasks["one"].overdue
    assert workflow.decide(decision.state, DeadlinePassed(at(11)), CALENDAR).effects == ()


def test_withdraw_closes_every_task_and_is_final() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    state = approve(workflow, submitted(workflow), "intake")
    state = workflow.decide(state, Withdraw(at(2)), CALENDAR).state
    assert state.status is ApplicationStatus.WITHDRAWN and state.tasks == {}
    with pytest.raises(InvalidTransition):
        workflow.decide(state, Withdraw(at(3)), CALENDAR)


def test_fees_are_assessed_from_the_answers_at_submission() -> None:
    fees = [{"id": "licence", "label": {"th": "ค่าธรรมเนียม", "en": "Fee"},
             "amount": "area_m2 > 200.0 ? 2000 : 100", "source": "test"},
            {"id": "extra", "label": {"th": "เพิ่ม", "en": "Extra"}, "amount": "double(2) * 165.0",
             "when": "flag_a", "source": "test"}]
    workflow = Workflow(make_spec([stage("one")], fees=fees))
    decision = workflow.decide(ApplicationState(), Submit(at(0), {"area_m2": 250.0, "flag_a": True}), CALENDAR)
    assessed = next(effect for effect in decision.effects if isinstance(effect, FeesAssessed))
    assert [(item.fee_id, item.amount) for item in assessed.items] == [("licence", 2000.0), ("extra", 330.0)]
    assert assessed.total == 2330.0


def test_state_round_trips_through_json() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    state = approve(workflow, submitted(workflow), "intake")
    state = workflow.decide(state, StageDecision(at(1), stage_id="health", action=Action.REQUEST_INFORMATION,
                                                 note="menu"), CALENDAR).state
    assert ApplicationState.from_json(state.to_json()) == state


def test_choose_takes_exactly_one_option_the_first_whose_condition_holds() -> None:
    route = [stage("intake"),
             choose("utility", [('flag_a', [stage("mwa_survey", agency="agency_b"), stage("mwa_install")]),
                                (None, [stage("pwa_survey", agency="agency_c")])]),
             stage("final")]
    workflow = Workflow(make_spec(route))
    metropolitan = approve(workflow, submitted(workflow, {"flag_a": True}), "intake")
    assert list(metropolitan.tasks) == ["mwa_survey"]
    metropolitan = approve(workflow, approve(workflow, metropolitan, "mwa_survey"), "mwa_install")
    assert list(metropolitan.tasks) == ["final"]
    provincial = approve(workflow, submitted(workflow, {"flag_a": False}), "intake")
    assert list(provincial.tasks) == ["pwa_survey"]
    assert list(approve(workflow, provincial, "pwa_survey").tasks) == ["final"]


def test_choose_without_otherwise_is_passed_when_no_option_applies() -> None:
    route = [choose("extra", [("flag_a", [stage("a")]), ("flag_b", [stage("b")])]), stage("final")]
    workflow = Workflow(make_spec(route))
    assert list(submitted(workflow, {}).tasks) == ["final"]
    assert list(submitted(workflow, {"flag_a": True, "flag_b": True}).tasks) == ["a"]


def test_one_agencys_day_off_extends_only_its_own_tasks() -> None:
    workflow = Workflow(make_spec(PARALLEL_ROUTE))
    calendar = WorkingCalendar(agency_holidays={"agency_b": [dt.date(2026, 11, 24)]})
    state = workflow.decide(ApplicationState(), Submit(at(0), {}), calendar).state
    state = workflow.decide(state, StageDecision(at(0), stage_id="intake", action=Action.APPROVE), calendar).state
    assert state.tasks["health"].due_on == CALENDAR.add_working_days(dt.date(2026, 11, 23), 5) + dt.timedelta(days=1)
    assert state.tasks["building"].due_on == CALENDAR.add_working_days(dt.date(2026, 11, 23), 5)
