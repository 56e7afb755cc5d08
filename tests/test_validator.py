"""The permit-language validator, one class of mistake at a time.

Each test copies the valid tree in tests/fixtures/valid_tree, breaks one thing by
replacing text, runs the validator and checks what an admin would see: the file,
the 1-based line and column of the mistake, and a message (and hint) that says
what is wrong. Positions are computed from the broken file's text, so a test names
the exact characters the validator must point at.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizportal.workflow.problems import Problem
from bizportal.workflow.spec import Parallel
from bizportal.workflow.validation import (
    SourceFile,
    ValidationResult,
    validate_paths,
    validate_sources,
    validate_tree,
)
from bizportal.workflow.yamlsource import MAX_ALIASES, MAX_DEPTH, MAX_FILE_BYTES

VALID_TREE = Path(__file__).resolve().parent / "fixtures" / "valid_tree"
PERMIT = "workflows/food_shop.yaml"
FORM = "forms/food_shop.yaml"
AGENCIES = "workflows/agencies.yaml"


@dataclass
class Tree:
    """A writable copy of the valid tree, with helpers to break it and to find text in it."""

    root: Path

    def text(self, file: str) -> str:
        return (self.root / file).read_text(encoding="utf-8")

    def replace(self, file: str, old: str, new: str) -> None:
        """Replace the one occurrence of `old` in `file`."""
        text = self.text(file)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
        (self.root / file).write_text(text.replace(old, new), encoding="utf-8")

    def write(self, file: str, content: str | bytes) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (self.root / file).write_bytes(data)

    def at(self, file: str, needle: str, offset: int = 0, occurrence: int = 1) -> tuple[int, int]:
        """1-based (line, column) of `needle`'s `occurrence`, moved right by `offset` characters."""
        text = self.text(file)
        index = -1
        for _ in range(occurrence):
            index = text.index(needle, index + 1)
        index += offset
        line_start = text.rfind("\n", 0, index) + 1
        return text.count("\n", 0, index) + 1, index - line_start + 1

    def validate(self) -> ValidationResult:
        return validate_tree(self.root)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    target = tmp_path / "tree"
    shutil.copytree(VALID_TREE, target)
    return Tree(target)


def formatted(problems: list[Problem]) -> str:
    return "\n".join(problem.format() for problem in problems)


def only_problem(result: ValidationResult) -> Problem:
    assert len(result.problems) == 1, formatted(result.problems)
    return result.problems[0]


def assert_at(problem: Problem, tree: Tree, file: str, position: tuple[int, int]) -> None:
    assert Path(problem.file) == tree.root / file, problem.format()
    assert (problem.line, problem.column) == position, problem.format()


# --------------------------------------------------------------------------- the valid tree

def test_valid_tree_has_no_problems_and_builds_its_spec() -> None:
    result = validate_tree(VALID_TREE)

    assert result.problems == [], formatted(result.problems)
    assert list(result.specs) == ["food_shop"]
    spec = result.specs["food_shop"]
    assert isinstance(spec.permit.route[1], Parallel)
    assert set(spec.fields()) == {"area_m2", "seats", "kind", "cooking", "floor_plan", "confirm"}
    assert set(result.agencies) == {"town", "health"}


def test_validating_one_permit_file_pulls_in_its_form_agencies_and_templates() -> None:
    result = validate_paths([VALID_TREE / PERMIT])

    assert result.problems == [], formatted(result.problems)
    assert list(result.specs) == ["food_shop"]


def test_a_file_with_any_problem_is_not_published(tree: Tree) -> None:
    tree.replace(PERMIT, "    time_limit_days: 3\n", "    time_limit_days: 3\n    time_limit_days: 4\n")

    result = tree.validate()

    assert [problem.code for problem in result.problems] == ["duplicate-key"]
    assert result.specs == {}


# --------------------------------------------------------------------------- pass 1: YAML

def test_yaml_syntax_error_points_at_the_problem_and_where_it_began(tree: Tree) -> None:
    tree.replace(PERMIT, "category: food", "category: [food")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "legal_basis:", offset=len("legal_basis")))
    assert problem.message.startswith("YAML syntax error") and "expected ',' or ']'" in problem.message
    line, column = tree.at(PERMIT, "[food")
    assert f"began at line {line}, column {column}" in problem.hint
    assert problem.code == "yaml-syntax"


def test_yaml_bad_indentation_is_explained(tree: Tree) -> None:
    tree.replace(PERMIT, "    documents: [id_card]\n", "    documents: [id_card]\n   oops: 1\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "oops"))
    assert "indented differently from the lines above" in problem.message


def test_duplicate_key_names_the_first_one(tree: Tree) -> None:
    tree.replace(PERMIT, "    time_limit_days: 3\n", "    time_limit_days: 3\n    time_limit_days: 4\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "time_limit_days: 4"))
    assert problem.message == "duplicate key 'time_limit_days'"
    first_line, _ = tree.at(PERMIT, "time_limit_days: 3\n")
    assert f"already set at line {first_line}" in problem.hint


@pytest.mark.security
def test_python_tag_is_rejected_without_being_executed(tree: Tree, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    tree.replace(PERMIT, "category: food", f"category: !!python/object/apply:os.system ['touch {marker}']")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "!!python"))
    assert problem.message == "YAML tag '!!python/object/apply:os.system' is not allowed"
    assert "remove the tag" in problem.hint
    assert not marker.exists()


def billion_laughs() -> str:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        aliases = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.security
def test_alias_bomb_is_rejected_quickly_at_the_first_alias(tree: Tree) -> None:
    tree.write(PERMIT, "language: bizportal/permit/v1\n" + billion_laughs())

    started = time.perf_counter()
    result = tree.validate()
    elapsed = time.perf_counter() - started

    problem = only_problem(result)
    assert elapsed < 0.5
    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "*lol0"))
    assert "YAML aliases expand this file to more than" in problem.message
    assert "alias bomb" in problem.message
    assert "aliases" in problem.hint


@pytest.mark.security
def test_too_many_aliases_are_rejected_at_the_one_over_the_limit(tree: Tree) -> None:
    aliases = "\n".join("  - *tag" for _ in range(MAX_ALIASES + 1))
    tree.write(PERMIT, f"language: bizportal/permit/v1\nkey: &tag food_shop\nextra:\n{aliases}\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "*tag", occurrence=MAX_ALIASES + 1))
    assert problem.message == f"too many YAML aliases (more than {MAX_ALIASES})"


@pytest.mark.security
def test_an_alias_inside_its_own_anchor_is_rejected(tree: Tree) -> None:
    tree.replace(PERMIT, "printed_fields: [area_m2, kind]", "printed_fields: &loop [area_m2, *loop]")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "&loop"))
    assert problem.message == "a YAML alias refers to the value that contains it"


def test_deep_nesting_is_rejected_instead_of_exhausting_the_stack(tree: Tree) -> None:
    depth = 5_000
    tree.replace(PERMIT, "category: food", "category: " + "[" * depth + "]" * depth)

    problem = only_problem(tree.validate())

    line, column = tree.at(PERMIT, "category: [", offset=len("category: ") + MAX_DEPTH - 1)
    assert_at(problem, tree, PERMIT, (line, column))
    assert problem.message == f"values are nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize(("value", "message"), [
    ("2026-13-45", "cannot read the value '2026-13-45': month must be in 1..12"),
    ("1" + "0" * 5000, "cannot read the value '1000000000"),
])
def test_values_python_cannot_hold_are_problems_not_crashes(tree: Tree, value: str, message: str) -> None:
    tree.replace(PERMIT, "category: food", f"category: {value}")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, value[:10]))
    assert problem.message.startswith(message)
    assert "quotes" in problem.hint


def test_file_over_the_size_limit(tree: Tree) -> None:
    padding = "# " + "x" * 98 + "\n"
    tree.write(PERMIT, tree.text(PERMIT) + padding * (MAX_FILE_BYTES // len(padding) + 1))

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, (1, 1))
    assert problem.message.startswith("file is too large (")
    assert f"the limit is {MAX_FILE_BYTES} bytes" in problem.message
    assert problem.code == "file-too-large"


def test_thai_text_saved_as_tis_620_points_at_the_first_thai_character(tree: Tree) -> None:
    position = tree.at(FORM, "สถานที่ประกอบการ")
    tree.write(FORM, tree.text(FORM).encode("tis-620"))

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, position)
    assert problem.message.startswith("file is not UTF-8 text")
    assert "save the file as UTF-8" in problem.hint


def test_binary_file_is_reported_as_binary(tree: Tree) -> None:
    tree.write(PERMIT, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, (1, 1))
    assert problem.message == "file is binary, not YAML text"


def test_control_character_in_text_is_a_problem_not_a_crash(tree: Tree) -> None:
    tree.replace(PERMIT, "category: food", "category: fo\x00od")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "\x00"))
    assert problem.message == "file contains the control character U+0000, which YAML does not allow"


@pytest.mark.parametrize("content", ["", "# nothing yet\n", "---\n"])
def test_empty_file(tree: Tree, content: str) -> None:
    tree.write(FORM, content)

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, (1, 1))
    assert problem.message == "file is empty"
    assert "language:" in problem.hint


# --------------------------------------------------------------------------- pass 2: shape

def test_unknown_key_suggests_the_key_meant(tree: Tree) -> None:
    tree.replace(PERMIT, "    amount: '", "    amout: '")

    problem = only_problem(tree.validate())  # the "missing amount" it causes is the same mistake

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "amout"))
    assert problem.message == "unknown key 'amout' in fees[0] (did you mean 'amount'?)"
    assert problem.hint == "keys allowed in fees[0]: amount, id, label, payable, source, when"
    assert problem.code == "unknown-key"


def test_misspelt_parallel_is_not_reported_as_a_stage_missing_four_keys(tree: Tree) -> None:
    tree.replace(PERMIT, "    parallel:\n", "    paralel:\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "paralel"))
    assert problem.message == "unknown key 'paralel' in route[1] (did you mean 'parallel'?)"
    assert problem.hint == "without `parallel:` this item is read as a stage"


def test_wrong_type_names_the_value_and_the_place(tree: Tree) -> None:
    tree.replace(PERMIT, "time_limit_days: 10", 'time_limit_days: "ten"')

    problem = only_problem(tree.validate())  # no echo of "branch list too short"

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, '"ten"'))
    assert problem.message.startswith("route[1].parallel[0].steps[0].time_limit_days: Input should be a "
                                      "valid integer")
    assert "(found 'ten')" in problem.message
    assert "whole number" in problem.hint


def test_yaml_boolean_where_a_condition_is_expected(tree: Tree) -> None:
    tree.replace(PERMIT, "            when: area_m2 > 200.0\n", "            when: false\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "false"))
    assert problem.message == ("route[1].parallel[1].steps[0].when: expected text, but YAML reads 'false' "
                               "as true/false")
    assert problem.hint == 'conditions and formulas are text: write when: "false"'


def test_missing_required_key(tree: Tree) -> None:
    tree.replace(PERMIT, "    source: Municipal ordinance B.E. 2562\n", "")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "id: licence_fee"))
    assert problem.message == "missing required key 'source' in fees[0]"
    assert problem.code == "missing-key"


@pytest.mark.parametrize(("file", "header", "wrong", "right"), [
    (PERMIT, "language: bizportal/permit/v1", "bizportal/permit/v2", "bizportal/permit/v1"),
    (FORM, "language: bizportal/form/v1", "bizportal/permit/v1", "bizportal/form/v1"),
    (AGENCIES, "language: bizportal/agencies/v1", "agencies", "bizportal/agencies/v1"),
])
def test_bad_language_header(tree: Tree, file: str, header: str, wrong: str, right: str) -> None:
    tree.replace(file, header, f"language: {wrong}")

    problem = only_problem(tree.validate())  # a broken form does not also make its permit's form "unknown"

    assert_at(problem, tree, file, tree.at(file, wrong))
    assert problem.message == f"unknown language version {wrong!r}"
    assert problem.hint == f"this kind of file starts with `language: {right}`"


def test_missing_language_header(tree: Tree) -> None:
    tree.replace(PERMIT, "language: bizportal/permit/v1\n", "")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, (1, 1))
    assert problem.message == "missing required key 'language' in file"


# --------------------------------------------------------------------------- pass 3: references

def test_unknown_agency(tree: Tree) -> None:
    tree.replace(PERMIT, "            agency: health", "            agency: heath")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "heath"))
    assert problem.message == "unknown agency 'heath'"
    assert problem.hint == "did you mean 'health'?"


def test_unknown_issuing_agency_lists_the_known_ones(tree: Tree) -> None:
    tree.replace(PERMIT, "issuing_agency: town", "issuing_agency: city_hall")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "city_hall"))
    assert problem.message == "unknown agency 'city_hall'"
    assert problem.hint == "known: health, town"


def test_unknown_stage_in_next(tree: Tree) -> None:
    tree.replace(PERMIT, "    documents: [id_card]\n", "    documents: [id_card]\n    next: decison\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "decison"))
    assert problem.message == "unknown stage 'decison' in `next` of 'intake'"
    assert problem.hint.startswith("did you mean 'decision'?")


def test_next_into_a_parallel_branch(tree: Tree) -> None:
    tree.replace(PERMIT, "    documents: [id_card]\n", "    documents: [id_card]\n    next: building\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "next: building", offset=len("next: ")))
    assert problem.message == "`next: building` jumps into parallel block 'checks'"
    assert "`next: checks`" in problem.hint


def test_unknown_licence_template(tree: Tree) -> None:
    tree.replace(PERMIT, "template: food_shop.html", "template: food_shops.html")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "food_shops.html"))
    assert problem.message == "unknown template 'food_shops.html'"
    assert "did you mean 'food_shop.html'?" in problem.hint
    assert "templates/licences/" in problem.hint


def test_licence_template_may_come_from_an_extra_template_folder(tree: Tree, tmp_path: Path) -> None:
    shared = tmp_path / "shared_templates"
    shared.mkdir()
    (tree.root / "templates/licences/food_shop.html").rename(shared / "food_shop.html")

    assert only_problem(tree.validate()).message == "unknown template 'food_shop.html'"
    assert validate_tree(tree.root, template_dirs=[shared]).problems == []


def test_unknown_document_in_stage(tree: Tree) -> None:
    tree.replace(PERMIT, "documents: [id_card]", "documents: [id_crad]")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "id_crad"))
    assert problem.message == "unknown document 'id_crad'"
    assert problem.hint == "did you mean 'id_card'?"


def test_unknown_document_in_file_field(tree: Tree) -> None:
    tree.replace(FORM, "document: plan", "document: floor_plans")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "floor_plans"))
    assert problem.message == "unknown document 'floor_plans'"
    assert problem.hint == "known: id_card, plan"


def test_unknown_form(tree: Tree) -> None:
    tree.replace(PERMIT, "form: food_shop", "form: food_shops")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "food_shops"))
    assert problem.message == "unknown form 'food_shops'"
    assert problem.hint == "did you mean 'food_shop'?; each form lives in forms/<key>.yaml"


@pytest.mark.parametrize(("file", "old", "new", "kind"), [
    (PERMIT, "  - id: decision", "  - id: intake", "route"),
    (FORM, "      - id: seats", "      - id: kind", "field"),
    (FORM, "  - id: declaration", "  - id: premises", "step"),
    (AGENCIES, "  - id: health", "  - id: town", "agency"),
])
def test_duplicate_ids_name_the_first_use(tree: Tree, file: str, old: str, new: str, kind: str) -> None:
    name = new.split("id: ")[1]
    tree.replace(file, old, new)
    first_line = tree.at(file, f"id: {name}")[0]

    problems = tree.validate().problems

    # Renaming an agency also leaves its stage without an agency; only the duplicate is checked here.
    duplicates = [problem for problem in problems if problem.code == "duplicate-id"]
    assert len(duplicates) == 1, formatted(problems)
    assert_at(duplicates[0], tree, file, tree.at(file, f"id: {name}", offset=len("id: "), occurrence=2))
    assert duplicates[0].message == f"duplicate {kind} id {name!r}"
    assert f"line {first_line}" in duplicates[0].hint


def test_duplicate_document_id(tree: Tree) -> None:
    tree.replace(FORM, "  - id: id_card", "  - id: plan")
    tree.replace(PERMIT, "documents: [id_card]", "documents: [plan]")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "  - id: plan", offset=len("  - id: "), occurrence=2))
    assert problem.message == "duplicate document id 'plan'"
    assert f"line {tree.at(FORM, '  - id: plan')[0]}" in problem.hint


# --------------------------------------------------------------------------- pass 4: expressions

def test_unknown_field_in_a_fee_formula(tree: Tree) -> None:
    tree.replace(PERMIT, "'area_m2 > 200.0 ? 2000 : 500'", "'floor_area > 200.0 ? 2000 : 500'")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "floor_area"))
    assert problem.message == "expression: unknown field 'floor_area'"
    assert "`id` of a form field" in problem.hint


def test_expression_that_does_not_parse(tree: Tree) -> None:
    tree.replace(PERMIT, "'area_m2 > 200.0 ? 2000 : 500'", "'area_m2 > 200.0 ? 2000 500'")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "2000 500", offset=len("2000 ")))
    assert problem.message == "expression: Syntax error: missing ':' at '500'"
    assert "cond ? a : b" in problem.hint


def test_python_style_and_gets_a_cel_hint(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', 'when: kind == "sale" and seats > 2')

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "and seats"))
    assert problem.message == "expression: Syntax error: unexpected 'and'"
    assert problem.hint == "write && for and, || for or, ! for not"


def test_comparing_a_number_with_text(tree: Tree) -> None:
    tree.replace(PERMIT, "'area_m2 > 200.0 ? 2000 : 500'", "'area_m2 > \"big\" ? 2000 : 500'")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, '> "big"'))
    assert problem.message == "expression: cannot use '>' with a decimal number (double) and text (string)"
    assert "same type" in problem.hint


def test_comparing_a_decimal_answer_with_a_whole_number(tree: Tree) -> None:
    tree.replace(PERMIT, "            when: area_m2 > 200.0\n", "            when: area_m2 > 200\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "> 200\n"))
    assert problem.message == ("expression: cannot use '>' with a decimal number (double) and a whole "
                               "number (int)")
    assert "write 200.0, not 200" in problem.hint


def test_comparing_an_integer_answer_with_a_decimal(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', "when: seats > 2.5")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "> 2.5"))
    assert "a whole number (int) and a decimal number (double)" in problem.message
    assert "write 10, not 10.0" in problem.hint


def test_fee_results_of_different_number_kinds(tree: Tree) -> None:
    tree.replace(PERMIT, "'area_m2 > 200.0 ? 2000 : 500'", "'area_m2 > 200.0 ? 2000 : 500.5'")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "? 2000"))
    assert problem.message == ("expression: the two results of `? :` must have the same type, not a whole "
                               "number (int) and a decimal number (double)")
    assert problem.hint == "write both results alike: 2000.0 : 500.0, or 2000 : 500"


def test_condition_that_is_not_true_or_false(tree: Tree) -> None:
    tree.replace(PERMIT, "            when: area_m2 > 200.0\n", "            when: area_m2 * 2.0\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "area_m2 * 2.0"))
    assert problem.message == "expression: a condition must be true or false, but this gives double"
    assert "area_m2 > 200.0" in problem.hint


def test_fee_that_is_not_a_number(tree: Tree) -> None:
    tree.replace(PERMIT, "'area_m2 > 200.0 ? 2000 : 500'", "'area_m2 > 200.0'")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "area_m2 > 200.0'"))
    assert problem.message == "expression: a fee must be a number of baht, but this gives bool"


def test_field_condition_reading_a_field_asked_later(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', 'when: kind == "sale" && confirm')

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "confirm\n"))
    assert problem.message == "field 'cooking' reads 'confirm', which is not asked before it"
    assert "earlier fields and steps" in problem.hint


def test_choice_compared_with_a_value_that_is_not_an_option(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', 'when: kind == "sales"')

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, '"sales"'))
    assert problem.message == "expression: 'sales' is not an option of 'kind'"
    assert problem.hint == "did you mean 'sale'? options: sale, storage"


def test_choice_in_a_list_with_a_misspelt_option(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', "when: kind in ['sale', 'stroage']")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "'stroage'"))
    assert problem.message == "expression: 'stroage' is not an option of 'kind'"


def test_position_inside_a_double_quoted_condition_with_escapes(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', 'when: "kind == \\"sale\\" && seats > 2.5"')

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "> 2.5"))


def test_position_inside_thai_text_counts_characters(tree: Tree) -> None:
    tree.replace(FORM, 'when: kind == "sale"', 'when: kind == "sale" || "ร้านค้า" == "x" && seats > 2.5')

    problem = only_problem(tree.validate())

    assert_at(problem, tree, FORM, tree.at(FORM, "> 2.5"))


def test_position_inside_a_block_scalar_fee_on_a_later_line(tree: Tree) -> None:
    tree.replace(PERMIT, "    amount: 'area_m2 > 200.0 ? 2000 : 500'\n",
                 "    amount: |\n      area_m2 > 200.0\n        ? 2000 : \"five hundred\"\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, '? 2000 : "five'))
    assert "the two results of `? :` must have the same type" in problem.message


# --------------------------------------------------------------------------- pass 5: route

def test_stages_after_next_end_are_unreachable(tree: Tree) -> None:
    tree.replace(PERMIT, "    documents: [id_card]\n", "    documents: [id_card]\n    next: end\n")

    problems = tree.validate().problems

    assert len(problems) == 2, formatted(problems)  # the block's own stages are not listed again
    checks, decision = problems
    assert_at(checks, tree, PERMIT, tree.at(PERMIT, "id: checks"))
    assert checks.message == ("parallel block 'checks' can never be reached: no route leads to it "
                              "(look for `next:` jumps or `next: end` before it)")
    assert_at(decision, tree, PERMIT, tree.at(PERMIT, "id: decision"))
    assert decision.message.startswith("stage 'decision' can never be reached")


def test_stage_with_a_condition_that_is_always_false(tree: Tree) -> None:
    tree.replace(PERMIT, "            when: area_m2 > 200.0\n", "            when: 1 > 2\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "1 > 2"))
    assert problem.message == "stage 'building' can never be reached: its condition is always false"
    assert problem.code == "unreachable"


def test_route_loop_points_at_the_jump_back(tree: Tree) -> None:
    tree.replace(PERMIT, "    time_limit_days: 5\n", "    time_limit_days: 5\n    next: intake\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "next: intake", offset=len("next: ")))
    assert problem.message == ("no way to a final decision: the route loops "
                               "intake → checks → inspection → decision → intake")
    assert problem.hint.startswith("`next: intake` jumps back")
    assert problem.code == "route-loop"


def test_stage_that_cannot_approve(tree: Tree) -> None:
    tree.replace(PERMIT, "    actions: [approve, reject]\n    time_limit_days: 5",
                 "    actions: [reject]\n    time_limit_days: 5")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "[reject]"))
    assert problem.message == ("no way to a final decision: stage 'decision' cannot approve, so no "
                               "application can ever pass it")
    assert problem.hint == "add `approve` to its actions"


def test_branch_that_ends_the_route_never_joins(tree: Tree) -> None:
    tree.replace(PERMIT, "            time_limit_days: 10\n",
                 "            time_limit_days: 10\n            next: end\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "next: end", offset=len("next: ")))
    assert problem.message == ("branch never joins: 'inspection' ends the route from inside branch 'hygiene' "
                               "of parallel block 'checks'")
    assert problem.code == "branch-never-joins"


def test_branch_that_jumps_out_of_its_block_never_joins(tree: Tree) -> None:
    tree.replace(PERMIT, "            time_limit_days: 10\n",
                 "            time_limit_days: 10\n            next: decision\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "next: decision", offset=len("next: ")))
    assert problem.message == ("branch never joins: 'inspection' jumps to 'decision', outside branch "
                               "'hygiene' of parallel block 'checks'")
    assert problem.code == "branch-never-joins"


def test_worst_case_time_counts_parallel_branches_at_their_slowest(tree: Tree) -> None:
    # intake 3 + max(inspection 10, building 7) + decision 5 = 18; a sum of all stages would be 25.
    tree.replace(PERMIT, "time_limit_days: 30", "time_limit_days: 17")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "17"))
    assert problem.message == ("worst-case route time is 18 working days (intake + inspection + decision), "
                               "more than the published time_limit_days of 17")
    assert problem.code == "time-limit"


def test_worst_case_time_equal_to_the_limit_is_accepted(tree: Tree) -> None:
    tree.replace(PERMIT, "time_limit_days: 30", "time_limit_days: 18")

    assert tree.validate().problems == []


ZONING = """\
  - id: zoning
    choose:
      - id: large
        when: area_m2 > 500.0
        steps:
          - id: zoning_board
            agency: town
            title: {th: คณะกรรมการผังเมือง, en: Zoning board}
            actions: [approve, reject]
            time_limit_days: 9
      - id: small
        steps:
          - id: zoning_desk
            agency: town
            title: {th: ผังเมือง, en: Zoning desk}
            actions: [approve, reject]
            time_limit_days: 2
"""


def with_zoning(tree: Tree) -> None:
    """Put a choose block (one of two zoning reviews) between the parallel checks and the decision."""
    tree.replace(PERMIT, "  - id: decision\n", ZONING + "  - id: decision\n")


def test_choose_block_counts_its_slowest_option(tree: Tree) -> None:
    with_zoning(tree)
    assert tree.validate().problems == []
    # intake 3 + max(10, 7) + max(zoning_board 9, zoning_desk 2) + decision 5 = 27
    tree.replace(PERMIT, "time_limit_days: 30", "time_limit_days: 26")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "26"))
    assert problem.message.startswith("worst-case route time is 27 working days (intake + inspection + "
                                      "zoning_board + decision)")


def test_choose_option_that_is_never_taken(tree: Tree) -> None:
    with_zoning(tree)
    tree.replace(PERMIT, "when: area_m2 > 500.0", "when: 1 > 2")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "1 > 2"))
    assert problem.message == ("option 'large' of choose block 'zoning' is never taken: its condition is "
                               "always false")


def test_next_out_of_a_choose_option(tree: Tree) -> None:
    with_zoning(tree)
    tree.replace(PERMIT, "            time_limit_days: 9\n",
                 "            time_limit_days: 9\n            next: decision\n")

    problem = only_problem(tree.validate())

    assert_at(problem, tree, PERMIT, tree.at(PERMIT, "next: decision", offset=len("next: ")))
    assert problem.message == ("'zoning_board' jumps to 'decision', outside option 'large' of choose block "
                               "'zoning'")


# --------------------------------------------------------------------------- all at once

def test_several_shape_and_yaml_errors_in_one_file_are_all_reported(tree: Tree) -> None:
    tree.replace(PERMIT, "    amount: '", "    amout: '")
    tree.replace(PERMIT, "time_limit_days: 10", 'time_limit_days: "ten"')
    tree.replace(PERMIT, "    time_limit_days: 3\n", "    time_limit_days: 3\n    time_limit_days: 4\n")
    tree.replace(PERMIT, "  number_format:", "  number_formt:")

    problems = tree.validate().problems

    assert [(problem.line, problem.code) for problem in problems] == [
        (tree.at(PERMIT, "amout")[0], "unknown-key"),
        (tree.at(PERMIT, "time_limit_days: 4")[0], "duplicate-key"),
        (tree.at(PERMIT, '"ten"')[0], "wrong-type"),
        (tree.at(PERMIT, "number_formt")[0], "unknown-key"),
    ], formatted(problems)


def test_several_reference_expression_and_route_errors_are_all_reported(tree: Tree) -> None:
    tree.replace(PERMIT, "issuing_agency: town", "issuing_agency: city_hall")
    tree.replace(PERMIT, "documents: [id_card]", "documents: [id_crad]")
    tree.replace(PERMIT, "            when: area_m2 > 200.0\n", "            when: area_m2 > 200\n")
    tree.replace(PERMIT, "template: food_shop.html", "template: food_shops.html")
    tree.replace(PERMIT, "time_limit_days: 30", "time_limit_days: 15")
    tree.replace(FORM, 'when: kind == "sale"', 'when: kind == "sales"')

    problems = tree.validate().problems

    assert [(Path(problem.file).name, problem.line, problem.code) for problem in problems] == [
        ("food_shop.yaml", tree.at(FORM, '"sales"')[0], "expression"),
        ("food_shop.yaml", tree.at(PERMIT, "city_hall")[0], "unknown-agency"),
        ("food_shop.yaml", tree.at(PERMIT, "time_limit_days: 15")[0], "time-limit"),
        ("food_shop.yaml", tree.at(PERMIT, "id_crad")[0], "unknown-document"),
        ("food_shop.yaml", tree.at(PERMIT, "area_m2 > 200\n")[0], "expression"),
        ("food_shop.yaml", tree.at(PERMIT, "food_shops.html")[0], "unknown-template"),
    ], formatted(problems)
    assert Path(problems[0].file) == tree.root / FORM


def test_a_misspelt_key_does_not_hide_the_other_mistakes(tree: Tree) -> None:
    tree.replace(PERMIT, "    amount: 'area_m2 > 200.0 ? 2000 : 500'",
                 "    amout: 'area_m2 > 200 ? 2000 : 500'")
    tree.replace(PERMIT, "issuing_agency: town", "issuing_agency: city_hall")
    tree.replace(PERMIT, "    time_limit_days: 3\n", "    time_limit_days: 3\n    colour: red\n")

    problems = tree.validate().problems

    assert [(problem.line, problem.column, problem.code) for problem in problems] == [
        (*tree.at(PERMIT, "city_hall"), "unknown-agency"),
        (*tree.at(PERMIT, "amout"), "unknown-key"),
        (*tree.at(PERMIT, "> 200 ?"), "expression"),  # checked as the `amount` it was meant to be
        (*tree.at(PERMIT, "colour"), "unknown-key"),
    ], formatted(problems)


# --------------------------------------------------------------------------- texts, no files

def fixture_sources(**replacements: str) -> dict[str, SourceFile]:
    sources = {name: SourceFile(name, (VALID_TREE / name).read_text(encoding="utf-8"))
               for name in (AGENCIES, PERMIT, FORM)}
    for name, text in replacements.items():
        sources[name] = SourceFile(name, text)
    return sources


def validate_texts(sources: dict[str, SourceFile], template_names: set[str] | None) -> ValidationResult:
    return validate_sources(agencies=[sources[AGENCIES]], permits=[sources[PERMIT]], forms=[sources[FORM]],
                            template_names=template_names)


def test_validate_sources_accepts_the_valid_texts_and_keeps_them() -> None:
    sources = fixture_sources()

    result = validate_texts(sources, {"food_shop.html"})

    assert result.problems == [], formatted(result.problems)
    assert list(result.specs) == ["food_shop"]
    assert result.sources["food_shop"] == (sources[PERMIT].text, sources[FORM].text)
    assert result.files_checked == 3


def test_validate_sources_reports_under_the_given_names() -> None:
    permit = (VALID_TREE / PERMIT).read_text(encoding="utf-8").replace("agency: health", "agency: heath")

    result = validate_texts(fixture_sources(**{PERMIT: permit}), None)  # None: templates not checked

    problem = only_problem(result)
    assert (problem.file, problem.line, problem.column) == (PERMIT, 31, 21)
    assert problem.message == "unknown agency 'heath'"
    assert result.specs == {}


def test_validate_sources_checks_templates_only_when_given() -> None:
    sources = fixture_sources()

    assert validate_texts(sources, None).problems == []
    problem = only_problem(validate_texts(sources, {"other.html"}))
    assert (problem.file, problem.line, problem.column) == (PERMIT, 51, 13)
    assert problem.message == "unknown template 'food_shop.html'"


def test_validate_sources_without_agencies_says_so() -> None:
    sources = fixture_sources()

    result = validate_sources(agencies=[], permits=[sources[PERMIT]], forms=[sources[FORM]],
                              template_names=None)

    problem = only_problem(result)
    assert (problem.file, problem.line, problem.column) == ("workflows/agencies.yaml", 1, 1)
    assert problem.message == "agencies file is missing"
    assert result.specs == {}


# --------------------------------------------------------------------------- any edit at all

YAML_PIECES = [" ", ":", ": ", "-", "- ", "[", "]", "{", "}", "#", "&a ", "*a", "!!str ", "!x ", "|", ">",
               "'", '"', "\n", "\n  ", "\t", ",", "?", "<<: ", "~", "null", "true", "no", "1e9", "2026-02-30",
               "ก", "\\", "\x00", "id: x", "next: end", "when: ", "&&", "area_m2", "200"]
EDIT = st.tuples(st.sampled_from([AGENCIES, PERMIT, FORM]), st.floats(0, 1), st.integers(0, 8),
                 st.lists(st.sampled_from(YAML_PIECES), max_size=4).map("".join))


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(EDIT, min_size=1, max_size=3))
def test_any_edit_gives_problems_inside_the_file_and_never_a_traceback(
        edits: list[tuple[str, float, int, str]]) -> None:
    texts = {name: (VALID_TREE / name).read_text(encoding="utf-8") for name in (AGENCIES, PERMIT, FORM)}
    for name, where, cut, insert in edits:
        text = texts[name]
        position = int(where * len(text))
        texts[name] = text[:position] + insert + text[position + cut:]

    sources = {name: SourceFile(name, text) for name, text in texts.items()}
    result = validate_texts(sources, {"food_shop.html"})

    for problem in result.problems:
        lines = texts[problem.file].split("\n")
        assert 1 <= problem.line <= len(lines), problem.format()
        assert 1 <= problem.column <= len(lines[problem.line - 1]) + 1, problem.format()
        assert problem.message
    if result.problems:
        assert result.specs == {}


def test_misspelt_part_of_an_address_is_reported_where_it_is_written(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    for folder in ("workflows", "forms", "templates"):
        shutil.copytree(root / folder, tmp_path / folder)
    permit = tmp_path / "workflows" / "water_meter.yaml"
    text = permit.read_text(encoding="utf-8")
    broken = text.replace("when: premises_address.province_code", "when: premises_address.provnce_code", 1)
    permit.write_text(broken, encoding="utf-8")
    offset = broken.index("provnce_code")
    line = broken.count("\n", 0, offset) + 1
    column = offset - broken.rfind("\n", 0, offset)

    problems = validate_tree(tmp_path).problems

    assert [(p.file.endswith("water_meter.yaml"), p.line, p.column) for p in problems] == [(True, line, column)]
    assert problems[0].message == "expression: 'provnce_code' is not a part of the address 'premises_address'"
    assert problems[0].hint.startswith("did you mean 'province_code'?")


def test_a_link_that_is_not_http_is_refused(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    for folder in ("workflows", "forms", "templates"):
        shutil.copytree(root / folder, tmp_path / folder)
    permit = tmp_path / "workflows" / "water_meter.yaml"
    text = permit.read_text(encoding="utf-8")
    broken = text.replace('url: "https://www.krisdika.go.th/', 'url: "javascript:alert(1)//', 1)
    assert broken != text
    permit.write_text(broken, encoding="utf-8")
    line = broken[:broken.index("javascript:")].count("\n") + 1

    problems = validate_tree(tmp_path).problems

    assert [(p.line, p.code) for p in problems] == [(line, "wrong-type")]
    assert "url" in problems[0].message
