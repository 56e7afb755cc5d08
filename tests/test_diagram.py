"""The route diagram: well-formed SVG showing every stage, agency, branch, option and condition, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping

import pytest
from flask.testing import FlaskClient

from bizportal.config import BIZPORTAL_ROOT
from bizportal.permits.diagram import route_svg, wrap
from bizportal.permits.services import LoadReport
from bizportal.workflow.spec import Choose, Parallel, PermitSpec, RouteNode, Stage

from .factories import SEED_KEYS, validate

SVG = "{http://www.w3.org/2000/svg}"


def seed_specs() -> Mapping[str, PermitSpec]:
    result = validate(BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
    assert result.ok
    return result.specs


def walk(nodes: tuple[RouteNode, ...]) -> Iterator[RouteNode]:
    for node in nodes:
        yield node
        if isinstance(node, Parallel):
            for branch in node.parallel:
                yield from walk(branch.steps)
        elif isinstance(node, Choose):
            for option in node.choose:
                yield from walk(option.steps)


def texts(root: ET.Element, css_class: str | None = None) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")
            if css_class is None or css_class in (element.get("class") or "").split()]


def joined(root: ET.Element, group_id: str, css_class: str) -> str:
    group = next(element for element in root.iter(f"{SVG}g") if element.get("id") == group_id)
    return "".join(texts(group, css_class)).replace(" ", "")


@pytest.mark.parametrize("key", SEED_KEYS)
@pytest.mark.parametrize("locale", ["th", "en"])
def test_each_seed_route_is_drawn_completely(key: str, locale: str) -> None:
    spec = seed_specs()[key]
    names = {"demo_health": "Health office" if locale == "en" else "สำนักงานสาธารณสุข"}
    root = ET.fromstring(route_svg(spec, locale, names))
    assert root.tag == f"{SVG}svg"
    for node in walk(spec.permit.route):
        if isinstance(node, Stage):
            title = node.title.en if locale == "en" else node.title.th
            assert joined(root, f"diagram-stage-{node.id}", "stage-title") == title.replace(" ", "")
            agency = joined(root, f"diagram-stage-{node.id}", "stage-agency")
            assert agency == names.get(node.agency, node.agency).replace(" ", "")
            if node.when:
                assert node.when.replace(" ", "") in joined(root, f"diagram-stage-{node.id}", "stage-when")
        elif isinstance(node, Parallel):
            branches = [g.get("id") for g in root.iter(f"{SVG}g") if g.get("class") == "branch"]
            for branch in node.parallel:
                assert f"diagram-parallel-{node.id}-{branch.id}" in branches
        elif isinstance(node, Choose):
            options = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "option"}
            for option in node.choose:
                group = options[f"diagram-choose-{node.id}-{option.id}"]
                label = "".join(texts(group, "branch-label")).replace(" ", "")
                assert (option.when or "in all other cases").replace(" ", "") in label


def test_seeds_have_parallel_and_choose_blocks() -> None:
    drawn = " ".join(route_svg(spec, "en") for spec in seed_specs().values())
    assert 'class="block parallel"' in drawn and 'class="block choose"' in drawn
    assert 'class="stage conditional"' in drawn


def test_user_text_is_escaped() -> None:
    spec = seed_specs()["food_premises"]  # its route starts with a stage
    data = spec.model_dump(mode="json")
    data["permit"]["route"][0]["title"] = {"th": "<script>alert(1)</script>", "en": "a & b \"quoted\""}
    hostile = PermitSpec.model_validate(data)
    svg = route_svg(hostile, "th", {data["permit"]["route"][0]["agency"]: "<b>agency</b>"})
    assert "<script>" not in svg and "<b>" not in svg
    root = ET.fromstring(svg)
    assert "<script>alert(1)</script>" in "".join(texts(root, "stage-title"))
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert "a & b \"quoted\"" in "".join(texts(ET.fromstring(route_svg(hostile, "en")), "stage-title"))


def test_thai_is_wrapped_by_spacing_characters() -> None:
    line = "ตรวจสอบคำขอและเอกสาร" * 3
    lines = wrap(line, 20)
    assert "".join(lines) == line
    assert all(sum(1 for character in part if character not in "ิีึืุู่้๊๋็ั์ํ") <= 20 for part in lines)


def test_diagram_is_on_the_public_page(client: FlaskClient, load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    page = client.get("/permits/food_premises?lang=th").get_data(as_text=True)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert "ตรวจสอบคำขอและเอกสาร" in page.split("<svg", 1)[1]


def test_thai_lines_never_start_with_a_following_vowel() -> None:
    for limit in range(3, 12):
        for line in wrap("ติดตั้งมาตรวัดน้ำและขึ้นทะเบียนผู้ใช้น้ำ เปิดใช้บริการ", limit)[1:]:
            assert line and line[0] not in "ะาำๅๆฯ่้๊๋ิีึืุูั็์", (limit, line)
