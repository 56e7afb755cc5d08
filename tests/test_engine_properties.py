"""Property-based tests of the engine over generated routes and event sequences.

Invariants checked after every event:
- a non-final application always has someone who can act (an open task, or the
  applicant when it waits on them);
- a stage opens only when every stage that must precede it is approved or skipped
  (so parallel branches join correctly);
- a correction followed by a resubmission reopens exactly the tasks that were open;
and at the end, driven long enough, every application is approved, rejected or withdrawn.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizportal.workflow.calendar import WorkingCalendar
from bizportal.workflow.engine import Workflow
from bizportal.workflow.spec import Action
from bizportal.workflow.state import (
    ApplicationState,
    ApplicationStatus,
    DeadlinePassed,
    Resubmit,
    StageDecision,
    Submit,
    TaskOpened,
    TaskStatus,
    Withdraw,
)

from .engine_specs import FLAGS, choose, make_spec, parallel, stage

CALENDAR = WorkingCalendar()
START = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
ALL_ACTIONS = ("approve", "reject", "return_for_correction", "request_information")


@st.composite
def routes(draw: st.DrawFn, depth: int = 0, prefix: str = "n") -> list[dict[str, Any]]:
    """A sequence of 1-4 nodes; nodes are stages or (up to depth 2) parallel blocks."""
    nodes = []
    for index in range(draw(st.integers(1, 4 if depth == 0 else 2))):
        node_id = f"{prefix}{index}"
        when = draw(st.one_of(st.none(), st.sampled_from(FLAGS), st.sampled_from([f"!{f}" for f in FLAGS])))
        kind = draw(st.sampled_from(["stage", "stage", "parallel", "choose"])) if depth < 2 else "stage"
        if kind == "parallel":
            branches = [draw(routes(depth + 1, f"{node_id}x{b}")) for b in range(draw(st.integers(2, 3)))]
            nodes.append(parallel(node_id, branches, when=when))
        elif kind == "choose":
            count = draw(st.integers(2, 3))
            conditions: list[str | None] = [draw(st.sampled_from([*FLAGS, *(f"!{f}" for f in FLAGS)]))
                                            for _ in range(count - 1)]
            conditions.append(draw(st.one_of(st.none(), st.sampled_from(FLAGS))))
            nodes.append(choose(node_id, [(condition, draw(routes(depth + 1, f"{node_id}y{o}")))
                                          for o, condition in enumerate(conditions)]))
        else:
            extra = draw(st.lists(st.sampled_from(ALL_ACTIONS[1:]), unique=True))
            nodes.append(stage(node_id, agency=draw(st.sampled_from(["agency_a", "agency_b", "agency_c"])),
                               days=draw(st.integers(1, 10)), when=when, actions=("approve", *extra)))
    return nodes


def predecessors(route: list[dict[str, Any]], before: frozenset[str] = frozenset()) -> dict[str, frozenset[str]]:
    """For each stage, the stages that must be decided (or skipped) before it opens.

    After a `choose` block, the stages of every option count: those not taken are skipped.
    """
    result: dict[str, frozenset[str]] = {}
    seen = set(before)
    for node in route:
        if "choose" in node:
            inner_choice: set[str] = set()
            for option in node["choose"]:
                option_result = predecessors(option["steps"], frozenset(seen))
                result.update(option_result)
                inner_choice.update(option_result)
            seen |= inner_choice
        elif "parallel" in node:
            inner: set[str] = set()
            for branch in node["parallel"]:
                branch_result = predecessors(branch["steps"], frozenset(seen))
                result.update(branch_result)
                inner.update(branch_result)
            seen |= inner
        else:
            result[node["id"]] = frozenset(seen)
            seen.add(node["id"])
    return result


def stage_ids_under(node: dict[str, Any]) -> set[str]:
    parts = node.get("parallel") or node.get("choose")
    if parts is None and "steps" in node:  # a choose option
        parts = [node]
    if parts is None:
        return {node["id"]}
    return {sid for part in parts for child in part["steps"] for sid in stage_ids_under(child)}


def all_nodes(route: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for node in route:
        found.append(node)
        for part in node.get("parallel") or node.get("choose") or []:
            found.append(part)
            found.extend(all_nodes(part["steps"]))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=routes(), answers=st.fixed_dictionaries({flag: st.booleans() for flag in FLAGS}),
       choices=st.lists(st.integers(0, 99), min_size=400, max_size=400))
def test_every_application_reaches_a_final_decision_and_invariants_hold(
        route: list[dict[str, Any]], answers: dict[str, bool], choices: list[int]) -> None:
    workflow = Workflow(make_spec(route))
    must_precede = predecessors(route)
    nodes = all_nodes(route)
    state = ApplicationState()
    decision = workflow.decide(state, Submit(START, answers), CALENDAR)
    skipped_stages: set[str] = set()
    for node_id in decision.state.skipped:
        skipped_stages |= stage_ids_under(next(n for n in nodes if n["id"] == node_id))
    state = decision.state
    check_opened(decision.effects, state, must_precede, skipped_stages)
    moment = START
    for step, choice in enumerate(choices):
        if state.status.is_final:
            break
        moment += dt.timedelta(hours=7)
        assert_someone_can_act(state)
        if state.status.waits_on_applicant:
            before = {task_id for task_id in state.tasks}
            decision = workflow.decide(state, Resubmit(moment, answers), CALENDAR)
            state = decision.state
            assert set(state.tasks) == before, "resubmitting must reopen exactly the paused tasks"
            assert all(task.status is TaskStatus.OPEN for task in state.tasks.values())
            continue
        if choice == 99 and step % 7 == 3:
            state = workflow.decide(state, Withdraw(moment), CALENDAR).state
            continue
        if choice == 98:
            state = workflow.decide(state, DeadlinePassed(moment + dt.timedelta(days=30)), CALENDAR).state
            continue
        task = state.actionable_tasks()[choice % len(state.actionable_tasks())]
        allowed = workflow.route.stage(task.stage_id).actions
        # Mostly approve, so that long routes finish; sometimes any other allowed action.
        action = Action.APPROVE if choice < 80 or len(allowed) == 1 else allowed[choice % len(allowed)]
        decision = workflow.decide(state, StageDecision(moment, stage_id=task.stage_id, action=action,
                                                        note="reason"), CALENDAR)
        approved_before = set(state.approved_stages)
        state = decision.state
        check_opened(decision.effects, state, must_precede, skipped_stages)
        if action is not Action.APPROVE:
            assert set(state.approved_stages) == approved_before
    while not state.status.is_final:  # finish: approve whatever is open, resubmit when asked
        moment += dt.timedelta(hours=7)
        assert_someone_can_act(state)
        if state.status.waits_on_applicant:
            state = workflow.decide(state, Resubmit(moment, answers), CALENDAR).state
            continue
        task = state.actionable_tasks()[0]
        decision = workflow.decide(state, StageDecision(moment, stage_id=task.stage_id, action=Action.APPROVE),
                                   CALENDAR)
        state = decision.state
        check_opened(decision.effects, state, must_precede, skipped_stages)
    assert state.status in {ApplicationStatus.APPROVED, ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN}
    assert state.tasks == {} and state.joins == {}
    if state.status is ApplicationStatus.APPROVED:
        expected = set(must_precede) - skipped_stages
        assert set(state.approved_stages) == expected
    assert ApplicationState.from_json(state.to_json()) == state


def assert_someone_can_act(state: ApplicationState) -> None:
    if state.status.waits_on_applicant:
        assert state.tasks and all(task.status is TaskStatus.PAUSED for task in state.tasks.values())
    else:
        assert state.status is ApplicationStatus.IN_REVIEW
        assert state.actionable_tasks(), f"nobody can act: {state}"


def check_opened(effects: tuple[object, ...], state: ApplicationState, must_precede: dict[str, frozenset[str]],
                 skipped: set[str]) -> None:
    done = set(state.approved_stages) | skipped
    for effect in effects:
        if isinstance(effect, TaskOpened):
            missing = must_precede[effect.stage_id] - done
            assert not missing, f"{effect.stage_id} opened before {missing} were decided"
            assert effect.stage_id not in skipped
