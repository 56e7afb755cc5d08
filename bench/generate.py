"""Generate a tree of varied, valid permit types at Biz Portal's scale (about 3,000).

Each permit type gets its own form (2-6 steps, 4-40 fields of every type, some
conditional), a documents checklist with conditions, one to three fees, and a
route of 2-7 nodes with parallel blocks and conditional stages. A fixed seed
keeps runs comparable.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
AGENCY_COUNT = 40
TYPES = ["text", "textarea", "number", "integer", "money", "area_m2", "date", "choice", "multi_choice",
         "yes_no", "citizen_id", "juristic_id", "thai_address", "phone", "email", "declaration"]


def _text(value: str) -> dict[str, str]:
    return {"th": f"ข้อความ {value}", "en": f"Text {value}"}


def _field(rng: random.Random, field_id: str, asked: list[dict[str, Any]]) -> dict[str, Any]:
    kind = rng.choice(TYPES)
    field: dict[str, Any] = {"id": field_id, "type": kind, "label": _text(field_id),
                             "required": rng.random() < 0.6}
    if rng.random() < 0.5:
        field["help"] = _text(f"help {field_id}")
    if kind in ("choice", "multi_choice"):
        field["options"] = [{"value": f"opt{i}", "label": _text(f"option {i}")} for i in range(rng.randint(2, 6))]
    if kind in ("number", "money", "area_m2", "integer") and rng.random() < 0.7:
        field["min"], field["max"] = 0, rng.choice([100, 1000, 100000])
    if kind == "text" and rng.random() < 0.3:
        field["max_length"] = 200
    condition = _condition(rng, asked)
    if condition and rng.random() < 0.25:
        field["when"] = condition
    return field


def _condition(rng: random.Random, fields: list[dict[str, Any]]) -> str | None:
    candidates = [f for f in fields if f["type"] in ("yes_no", "choice", "area_m2", "number", "integer",
                                                     "thai_address", "multi_choice")]
    if not candidates:
        return None
    field = rng.choice(candidates)
    kind, name = field["type"], field["id"]
    if kind == "yes_no":
        return name if rng.random() < 0.5 else f"!{name}"
    if kind == "choice":
        return f'{name} == "{rng.choice(field["options"])["value"]}"'
    if kind == "multi_choice":
        return f'"{field["options"][0]["value"]}" in {name}'
    if kind == "integer":
        return f"{name} >= {rng.randint(1, 50)}"
    if kind == "thai_address":
        return f'{name}.province_code in ["10", "11", "12"]'
    return f"{name} > {rng.randint(1, 500)}.0"


def _fee(rng: random.Random, index: int, fields: list[dict[str, Any]]) -> dict[str, Any]:
    numeric = [f for f in fields if f["type"] in ("area_m2", "number", "money")]
    choices = [f for f in fields if f["type"] == "choice"]
    if numeric and rng.random() < 0.5:
        name = rng.choice(numeric)["id"]
        amount = f"{name} > 200.0 ? 2000.0 : ({name} > 50.0 ? 1000.0 : 100.0)"
    elif choices:
        field = rng.choice(choices)
        amount = f'{field["id"]} == "{field["options"][0]["value"]}" ? 5500 : 330'
    else:
        amount = str(rng.choice([50, 100, 200, 500, 1000]))
    fee: dict[str, Any] = {"id": f"fee_{index}", "label": _text(f"fee {index}"), "amount": amount,
                           "source": "generated for the benchmark"}
    condition = _condition(rng, fields)
    if condition and rng.random() < 0.3:
        fee["when"] = condition
    return fee


def _stage(rng: random.Random, stage_id: str, fields: list[dict[str, Any]], documents: list[str]) -> dict[str, Any]:
    actions = ["approve", "reject"] + rng.sample(["return_for_correction", "request_information"], rng.randint(0, 2))
    stage: dict[str, Any] = {"id": stage_id, "agency": f"agency_{rng.randrange(AGENCY_COUNT)}",
                             "title": _text(stage_id), "actions": actions, "time_limit_days": rng.randint(1, 10)}
    if documents and rng.random() < 0.3:
        stage["documents"] = rng.sample(documents, min(len(documents), 2))
    condition = _condition(rng, fields)
    if condition and rng.random() < 0.2:
        stage["when"] = condition
    return stage


def _route(rng: random.Random, fields: list[dict[str, Any]], documents: list[str]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for index in range(rng.randint(2, 7)):
        if rng.random() < 0.25:
            branches = [{"id": f"p{index}_b{b}",
                         "steps": [_stage(rng, f"p{index}_b{b}_s{s}", fields, documents)
                                   for s in range(rng.randint(1, 2))]}
                        for b in range(rng.randint(2, 3))]
            nodes.append({"id": f"p{index}", "parallel": branches})
        else:
            nodes.append(_stage(rng, f"s{index}", fields, documents))
    return nodes


def permit_files(rng: random.Random, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The permit and form documents of generated permit type `number`."""
    key = f"permit_{number:05d}"
    steps = []
    asked: list[dict[str, Any]] = []
    field_count = 0
    for step_index in range(rng.randint(2, 6)):
        fields = []
        for _ in range(rng.randint(2, 7)):
            field = _field(rng, f"f{field_count}", asked)
            field_count += 1
            fields.append(field)
        step: dict[str, Any] = {"id": f"step_{step_index}", "title": _text(f"step {step_index}"), "fields": fields}
        condition = _condition(rng, asked)
        if step_index > 0 and condition and rng.random() < 0.2:
            step["when"] = condition
        asked.extend(fields)
        steps.append(step)
    documents = []
    for doc_index in range(rng.randint(1, 6)):
        document: dict[str, Any] = {"id": f"doc_{doc_index}", "title": _text(f"document {doc_index}")}
        condition = _condition(rng, asked)
        if condition and rng.random() < 0.4:
            document["when"] = condition
        documents.append(document)
    form = {"language": "bizportal/form/v1", "key": key, "steps": steps, "documents": documents}
    route = _route(rng, asked, [d["id"] for d in documents])
    permit = {
        "language": "bizportal/permit/v1", "key": key, "version": 1, "code": f"G{number:05d}",
        "title": _text(f"permit {number}"), "description": _text(f"description {number}"),
        "category": rng.choice(["food", "utilities", "excise", "building", "health", "commerce"]),
        "legal_basis": [{"title": _text("act"), "sections": "s. 1"}],
        "issuing_agency": f"agency_{rng.randrange(AGENCY_COUNT)}", "form": key,
        "time_limit_days": 200,
        "fees": [_fee(rng, i, asked) for i in range(rng.randint(1, 3))],
        "route": route,
        "licence": {"title": _text("licence"), "template": "generated.html", "number_format": "{seq:05}/{year_be}",
                    "validity": {"years": 1}, "printed_fields": [f["id"] for f in asked[:3]]},
    }
    return permit, form


def generate_tree(target: Path, count: int = 3000, seed: int = 2558) -> Path:
    """Write `count` permit types, their forms and the agencies file under `target`."""
    rng = random.Random(seed)
    if target.exists():
        shutil.rmtree(target)
    (target / "workflows").mkdir(parents=True)
    (target / "forms").mkdir()
    (target / "templates" / "licences").mkdir(parents=True)
    (target / "templates" / "licences" / "generated.html").write_text("<p>{{ licence.number }}</p>\n")
    agencies = {"language": "bizportal/agencies/v1", "agencies": [
        {"id": f"agency_{i}", "code": f"A{i:04d}", "kind": "department", "name": _text(f"agency {i}")}
        for i in range(AGENCY_COUNT)]}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    dump: dict[str, Any] = {"allow_unicode": True, "sort_keys": False, "Dumper": dumper}
    (target / "workflows" / "agencies.yaml").write_text(yaml.dump(agencies, **dump), encoding="utf-8")
    for number in range(count):
        permit, form = permit_files(rng, number)
        (target / "workflows" / f"{permit['key']}.yaml").write_text(yaml.dump(permit, **dump), encoding="utf-8")
        (target / "forms" / f"{form['key']}.yaml").write_text(yaml.dump(form, **dump), encoding="utf-8")
    return target
