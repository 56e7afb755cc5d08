"""The route of a permit type compiled into a graph, and the checks made on it.

A route is a list of nodes; each node is a *stage* (decided by one agency), a
*parallel* block whose branches are decided at the same time and joined when all
have approved, or a *choose* block that takes exactly one of its options. By
default a node continues with the next one in its list, and the last node of a
branch or option with what follows its block; `next:` jumps to a sibling in the
same list or to `end`. Compiling turns this into a flat table of targets that the
engine follows and the validator analyses.

Targets are strings: a node id, `END`, or `join:<parallel id>`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .spec import Action, Branch, Choose, Parallel, PermitFile, RouteOption, Stage

RouteNodeSpec = Stage | Parallel | Choose

END = "$end"
JOIN = "$join:"

Path = tuple[str | int, ...]


def join_target(parallel_id: str) -> str:
    """Name of the point where the branches of `parallel_id` meet."""
    return JOIN + parallel_id


@dataclass(frozen=True)
class RouteProblem:
    """A problem with the route; `path` points into the permit file's data."""

    path: Path
    message: str
    hint: str = ""
    code: str = "route"
    key: bool = False
    first_use: Path | None = None


@dataclass
class CompiledNode:
    """One node with its target. `parallel_id`/`branch_id` name the innermost parallel branch it is in
    (also from inside a choose option there), `block_id` the innermost block of either kind, and
    `branch_starts` the first node of each branch (parallel) or option (choose)."""

    node: RouteNodeSpec
    path: Path
    next: str
    parallel_id: str | None = None
    branch_id: str | None = None
    branch_starts: tuple[str, ...] = ()
    block_id: str | None = None


@dataclass
class CompiledRoute:
    """Flat view of a route: where each node leads, and where the route starts."""

    start: str
    nodes: dict[str, CompiledNode] = field(default_factory=dict)
    problems: list[RouteProblem] = field(default_factory=list)
    places: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def stage(self, stage_id: str) -> Stage:
        """Return the stage with `stage_id`."""
        node = self.nodes[stage_id].node
        assert isinstance(node, Stage)
        return node

    def stages(self) -> Iterator[Stage]:
        """Every stage of the route in file order."""
        for compiled in self.nodes.values():
            if isinstance(compiled.node, Stage):
                yield compiled.node

    def successors(self, target: str) -> list[str]:
        """Targets reachable in one move from `target` (conditions may go either way)."""
        if target == END:
            return []
        if target.startswith(JOIN):
            return [self.nodes[target[len(JOIN):]].next]
        compiled = self.nodes[target]
        if isinstance(compiled.node, Parallel):
            return [*compiled.branch_starts, *([compiled.next] if compiled.node.when else [])]
        if isinstance(compiled.node, Choose):
            # Without an option lacking `when`, no option may apply and the block is passed over.
            otherwise = any(option.when is None for option in compiled.node.choose)
            return [*compiled.branch_starts, *([] if otherwise else [compiled.next])]
        return [compiled.next]


def compile_route(permit: PermitFile) -> CompiledRoute:
    """Compile the route of `permit`; structural problems are collected, not raised."""
    route = CompiledRoute(start=permit.route[0].id)
    _collect_places(route, permit.route, ())
    _compile_sequence(route, permit.route, ("route",), after=END, parallel_id=None, branch_id=None,
                      block_id=None)
    return route


def _collect_places(route: CompiledRoute, nodes: Sequence[RouteNodeSpec], where: tuple[str, ...]) -> None:
    """Remember, for every node id, the branches and options it sits in (`parallel:block/branch`)."""
    for node in nodes:
        route.places.setdefault(node.id, where)
        if isinstance(node, Parallel):
            for branch in node.parallel:
                _collect_places(route, branch.steps, (*where, f"parallel:{node.id}/{branch.id}"))
        elif isinstance(node, Choose):
            for option in node.choose:
                _collect_places(route, option.steps, (*where, f"choose:{node.id}/{option.id}"))


def _compile_sequence(route: CompiledRoute, nodes: Sequence[RouteNodeSpec], path: Path, after: str,
                      parallel_id: str | None, branch_id: str | None, block_id: str | None) -> None:
    siblings = [node.id for node in nodes]
    for index, node in enumerate(nodes):
        node_path = (*path, index)
        if node.id in route.nodes:
            first = route.nodes[node.id]
            route.problems.append(RouteProblem(
                (*node_path, "id"), f"duplicate route id {node.id!r}",
                "every stage, parallel block and choose block needs its own id", "duplicate-id",
                first_use=(*first.path, "id")))
            continue
        default_next = nodes[index + 1].id if index + 1 < len(nodes) else after
        target = default_next
        if node.next is not None:
            target = _resolve_next(route, node, node_path, siblings, parallel_id, branch_id)
        compiled = CompiledNode(node=node, path=node_path, next=target, parallel_id=parallel_id,
                                branch_id=branch_id, block_id=block_id)
        route.nodes[node.id] = compiled
        if isinstance(node, Parallel):
            # Branches run together and meet at the block's join.
            _compile_parts(route, node, "parallel", node.parallel, node_path, compiled, "branch",
                           after=join_target(node.id), parallel_id=node.id, part_as_branch=True)
        elif isinstance(node, Choose):
            # One option runs and continues where the block does; it stays in the enclosing branch.
            _compile_parts(route, node, "choose", node.choose, node_path, compiled, "option",
                           after=target, parallel_id=parallel_id, branch_id=branch_id)
        elif isinstance(node, Choose):
            compiled.branch_starts = tuple(option.steps[0].id for option in node.choose)
            option_ids = [option.id for option in node.choose]
            for option_index, option in enumerate(node.choose):
                if option_ids.index(option.id) != option_index:
                    route.problems.append(RouteProblem(
                        (*node_path, "choose", option_index, "id"), f"duplicate option id {option.id!r}",
                        f"the options of choose block {node.id!r} need different ids", "duplicate-id"))
                _compile_sequence(route, option.steps, (*node_path, "choose", option_index, "steps"),
                                  after=target, parallel_id=parallel_id, branch_id=branch_id,
                                  block_id=node.id)



def _compile_parts(route: CompiledRoute, node: Parallel | Choose, key: str,
                   parts: Sequence[Branch | RouteOption], node_path: Path, compiled: CompiledNode, what: str,
                   after: str, parallel_id: str | None, branch_id: str | None = None,
                   part_as_branch: bool = False) -> None:
    """Compile the branches of a parallel block or the options of a choose block."""
    compiled.branch_starts = tuple(part.steps[0].id for part in parts)
    part_ids = [part.id for part in parts]
    block = "parallel block" if key == "parallel" else "choose block"
    for index, part in enumerate(parts):
        if part_ids.index(part.id) != index:
            route.problems.append(RouteProblem(
                (*node_path, key, index, "id"), f"duplicate {what} id {part.id!r}",
                f"the {what}es of {block} {node.id!r} need different ids" if what == "branch"
                else f"the {what}s of {block} {node.id!r} need different ids", "duplicate-id"))
        _compile_sequence(route, part.steps, (*node_path, key, index, "steps"), after=after,
                          parallel_id=parallel_id, branch_id=part.id if part_as_branch else branch_id,
                          block_id=node.id)

def _resolve_next(route: CompiledRoute, node: RouteNodeSpec, node_path: Path, siblings: list[str],
                  parallel_id: str | None, branch_id: str | None) -> str:
    wanted = node.next or ""
    if wanted == "end":
        if parallel_id is not None:
            route.problems.append(RouteProblem(
                (*node_path, "next"), f"branch never joins: {node.id!r} ends the route from inside "
                f"branch {branch_id!r} of parallel block {parallel_id!r}",
                "a branch must run to the end of its steps so that the parallel block can join; "
                "remove `next: end` or move the node out of the block", "branch-never-joins"))
        return END
    if wanted in siblings:
        return wanted
    here = route.places.get(node.id, ())
    there = route.places.get(wanted)
    if there is None:
        suggestion = difflib.get_close_matches(wanted, [*siblings, "end"], n=1, cutoff=0.6)
        route.problems.append(RouteProblem(
            (*node_path, "next"), f"unknown stage {wanted!r} in `next` of {node.id!r}",
            (f"did you mean {suggestion[0]!r}? " if suggestion else "")
            + "`next` jumps to a stage or block of the same list, or to `end`", "unknown-next"))
        return END
    shared = 0
    while shared < min(len(here), len(there)) and here[shared] == there[shared]:
        shared += 1
    if shared == len(here):
        kind, block = there[shared].split(":", 1)
        block = block.split("/")[0]
        route.problems.append(RouteProblem(
            (*node_path, "next"), f"`next: {wanted}` jumps into {kind} block {block!r}",
            f"jump to the {kind} block itself (`next: {block}`)", "next-into-branch"))
        return END
    left = [place.split(":", 1) for place in here[shared:]]
    parallels = [place for kind, place in left if kind == "parallel"]
    if parallels:
        block, branch = parallels[-1].split("/")
        route.problems.append(RouteProblem(
            (*node_path, "next"), f"branch never joins: {node.id!r} jumps to {wanted!r}, outside branch "
            f"{branch!r} of parallel block {block!r}",
            "inside a branch `next` may only jump within the same branch; the parallel block continues "
            "after all its branches have approved", "branch-never-joins"))
        return END
    block, option = left[-1][1].split("/")
    route.problems.append(RouteProblem(
        (*node_path, "next"), f"{node.id!r} jumps to {wanted!r}, outside option {option!r} of choose block "
        f"{block!r}", "inside an option `next` may only jump within the same option or to `end`; the route "
        "continues after the choose block when the option is done", "next-out-of-option"))
    return END


# --------------------------------------------------------------------------- analysis

def find_cycle(route: CompiledRoute) -> list[str] | None:
    """Return a loop of node ids if the route can go round forever, else None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(target: str) -> list[str] | None:
        state[target] = 1
        stack.append(target)
        for successor in route.successors(target):
            if successor == END:
                continue
            if state.get(successor) == 1:
                return [*stack[stack.index(successor):], successor]
            if successor not in state:
                found = visit(successor)
                if found:
                    return found
        stack.pop()
        state[target] = 2
        return None

    return visit(route.start) if route.start in route.nodes else None


def reachable(route: CompiledRoute, never_entered: set[str]) -> set[str]:
    """Node ids entered on some path from the start; `never_entered` are always skipped."""
    seen: set[str] = set()
    pending = [route.start]
    visited: set[str] = set()
    while pending:
        target = pending.pop()
        if target in visited or target == END:
            continue
        visited.add(target)
        if target.startswith(JOIN):
            pending.extend(route.successors(target))
            continue
        compiled = route.nodes[target]
        if target in never_entered:
            pending.append(compiled.next)
            continue
        seen.add(target)
        pending.extend(route.successors(target))
    return seen


def worst_case_days(route: CompiledRoute) -> tuple[int, list[str]]:
    """Longest time through the route, every condition taken, parallel branches and options at their slowest.

    Returns the working days and the stages on that path. Assumes no loop
    (`find_cycle` is checked first).
    """
    memo: dict[tuple[str, str], tuple[int, list[str]]] = {}

    def longest(target: str, stop: str) -> tuple[int, list[str]]:
        if target in (stop, END) or target.startswith(JOIN):
            return 0, []
        key = (target, stop)
        if key in memo:
            return memo[key]
        compiled = route.nodes[target]
        rest_days, rest_path = longest(compiled.next, stop)
        if isinstance(compiled.node, Stage):
            result = (compiled.node.time_limit_days + rest_days, [compiled.node.id, *rest_path])
        else:
            # Parallel branches run together and a choose takes one option: either way the slowest counts.
            until = join_target(compiled.node.id) if isinstance(compiled.node, Parallel) else compiled.next
            ways = [longest(start, until) for start in compiled.branch_starts]
            days, path = max(ways, key=lambda item: item[0])
            result = (days + rest_days, [*path, *rest_path])
        memo[key] = result
        return result

    return longest(route.start, END)


def deciding_problems(route: CompiledRoute) -> list[RouteProblem]:
    """Stages whose officers cannot move the application to a decision."""
    problems = []
    for compiled in route.nodes.values():
        stage = compiled.node
        if not isinstance(stage, Stage):
            continue
        if Action.APPROVE not in stage.actions:
            problems.append(RouteProblem(
                (*compiled.path, "actions"),
                f"no way to a final decision: stage {stage.id!r} cannot approve, so no application "
                "can ever pass it", "add `approve` to its actions", "no-final-decision"))
        if Action.REJECT not in stage.actions and Action.APPROVE not in stage.actions:
            continue
        if len(set(stage.actions)) != len(stage.actions):
            problems.append(RouteProblem((*compiled.path, "actions"), f"stage {stage.id!r} lists an "
                                         "action twice", "", "duplicate-action"))
    return problems
