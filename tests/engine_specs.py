"""Build permit specs in code for engine tests: a small form and a route given as nested tuples."""

from __future__ import annotations

from typing import Any

from bizportal.workflow.spec import PermitSpec

FLAGS = ("flag_a", "flag_b", "flag_c")


def text(value: str) -> dict[str, str]:
    return {"th": value, "en": value}


def stage(stage_id: str, agency: str = "agency_a", days: int = 5, when: str | None = None,
          actions: tuple[str, ...] = ("approve", "reject", "return_for_correction", "request_information"),
          ) -> dict[str, Any]:
    node: dict[str, Any] = {"id": stage_id, "agency": agency, "title": text(stage_id), "actions": list(actions),
                            "time_limit_days": days}
    if when:
        node["when"] = when
    return node


def parallel(parallel_id: str, branches: list[list[dict[str, Any]]], when: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": parallel_id, "parallel": [
        {"id": f"{parallel_id}_b{index}", "steps": steps} for index, steps in enumerate(branches)]}
    if when:
        node["when"] = when
    return node


def choose(choose_id: str, options: list[tuple[str | None, list[dict[str, Any]]]]) -> dict[str, Any]:
    node: dict[str, Any] = {"id": choose_id, "choose": []}
    for index, (when, steps) in enumerate(options):
        option: dict[str, Any] = {"id": f"{choose_id}_o{index}", "steps": steps}
        if when:
            option["when"] = when
        node["choose"].append(option)
    return node


def make_spec(route: list[dict[str, Any]], time_limit_days: int = 365,
              fees: list[dict[str, Any]] | None = None) -> PermitSpec:
    form = {
        "language": "bizportal/form/v1",
        "key": "engine_test",
        "steps": [{"id": "only", "title": text("only"), "fields": [
            *({"id": flag, "type": "yes_no", "label": text(flag)} for flag in FLAGS),
            {"id": "area_m2", "type": "area_m2", "label": text("area")},
        ]}],
    }
    permit = {
        "language": "bizportal/permit/v1", "key": "engine_test", "version": 1, "code": "ET",
        "title": text("t"), "description": text("d"), "category": "test",
        "legal_basis": [{"title": text("law")}], "issuing_agency": "agency_a", "form": "engine_test",
        "time_limit_days": time_limit_days, "fees": fees or [], "route": route,
        "licence": {"title": text("l"), "template": "x.html", "number_format": "{seq}",
                    "validity": {"years": 1}},
    }
    return PermitSpec.model_validate({"permit": permit, "form": form})
