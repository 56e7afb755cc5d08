"""Validate permit-type files and build the specs they describe.

The validator runs in passes and collects every problem before it stops:

1. YAML read safely (syntax, duplicate keys, tags, aliases, size) — `yamlsource`;
2. shape: unknown keys, wrong types, missing keys — the pydantic models in `spec`;
3. references: agencies, forms, fields, documents, templates, unique ids;
4. expressions: parse and type-check each condition and fee formula against the
   form's fields, and check that a `when` only reads answers asked before it;
5. route: unreachable stages, loops and stages that cannot decide, branches that
   never join, choose options never taken, and a worst-case time above the
   published time limit.

A misspelt or unknown key does not stop a file at pass 2: it is reported, then
read as the key it surely meant (or dropped) so that passes 3 to 5 still run. A
file with any problem never yields a spec. Bad input never raises: every failure
is a `Problem` at a 1-based line and column.

It imports nothing of Flask or the database, so the CLI, the admin console and
the tests share it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gc
import hashlib
import json
import multiprocessing
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from . import spec as language
from .expressions import (
    ADDRESS_KEYS,
    CompiledExpression,
    ExpressionError,
    FormEnvironment,
    constant_value,
    first_reference,
    referenced_names,
)
from .problems import Problem
from .routes import (
    CompiledRoute,
    RouteProblem,
    compile_route,
    deciding_problems,
    find_cycle,
    reachable,
    worst_case_days,
)
from .spec import (
    Agency,
    AgencyFile,
    Choose,
    FieldType,
    FormFile,
    Parallel,
    PermitFile,
    PermitSpec,
    Stage,
)
from .yamlsource import Path, SourceDocument, load_yaml

AGENCIES_FILE = "agencies.yaml"
M = TypeVar("M", bound=BaseModel)

_KNOWN_KEYS: set[str] = set()


def _collect_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    _KNOWN_KEYS.update(model.model_fields)
    for candidate in vars(language).values():
        if isinstance(candidate, type) and issubclass(candidate, language.Strict) and candidate not in seen:
            _collect_keys(candidate, seen)


_collect_keys(language.Strict, set())


@dataclass(frozen=True)
class SourceFile:
    """A file to validate: the name to report and its text."""

    name: str
    text: str | bytes


class SpecTable(MutableMapping[str, PermitSpec]):
    """Valid specs by permit key, built from the workers' JSON only when first read.

    `workflows validate` only needs to know which specs are valid; building the
    models of thousands of specs is left to whoever reads them (`workflows load`).
    """

    def __init__(self) -> None:
        self._entries: dict[str, PermitSpec | tuple[str, str]] = {}

    def put_json(self, key: str, permit_json: str, form_json: str) -> None:
        """Store a spec as the JSON of its permit and form files, to be read on demand."""
        self._entries[key] = (permit_json, form_json)

    def __getitem__(self, key: str) -> PermitSpec:
        entry = self._entries[key]
        if isinstance(entry, tuple):
            entry = PermitSpec(permit=PermitFile.model_validate_json(entry[0]),
                               form=FormFile.model_validate_json(entry[1]))
            self._entries[key] = entry
        return entry

    def dump(self, key: str) -> dict[str, Any]:
        """`self[key].model_dump(mode="json")`, without building the model when it is still JSON.

        The models' validators change nothing they accept, so the JSON the workers wrote
        reads back as the very same dict; loading thousands of specs skips building
        models only to dump them again.
        """
        entry = self._entries[key]
        if isinstance(entry, tuple):
            return {"permit": json.loads(entry[0]), "form": json.loads(entry[1])}
        return entry.model_dump(mode="json")

    def __setitem__(self, key: str, spec: PermitSpec) -> None:
        self._entries[key] = spec

    def __delitem__(self, key: str) -> None:
        del self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"SpecTable({sorted(self._entries)})"


@dataclass
class ValidationResult:
    """Everything the validator learned: valid specs by key, agencies, and all problems."""

    specs: SpecTable = field(default_factory=SpecTable)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    agencies: dict[str, Agency] = field(default_factory=dict)
    extra_holidays: tuple[Any, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def spec_hash(spec: PermitSpec | Mapping[str, Any]) -> str:
    """Content hash of a spec (or of its `model_dump(mode="json")`): same meaning, same hash, comments aside."""
    data = spec.model_dump(mode="json") if isinstance(spec, PermitSpec) else spec
    licence = data.get("permit", {}).get("licence", {})
    if isinstance(licence, Mapping) and "renewal_window_days" in licence and licence["renewal_window_days"] is None:
        # a file without the (later) optional key keeps the hash it was published with
        data = {**data, "permit": {**data["permit"], "licence": {key: value for key, value in licence.items()
                                                                 if key != "renewal_window_days"}}}
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- entry points

def validate_tree(root: FsPath, template_dirs: Iterable[FsPath] = (), *, workers: int = 1) -> ValidationResult:
    """Validate `root/workflows` and `root/forms` as a whole."""
    return validate_paths([root / "workflows", root / "forms"], template_dirs=template_dirs, workers=workers)


def validate_paths(paths: Iterable[FsPath], template_dirs: Iterable[FsPath] = (), *,
                   workers: int = 1) -> ValidationResult:
    """Validate files or folders; a permit file pulls in its form and the agencies file.

    Forms are looked up in the `forms/` folder beside the permit's `workflows/`
    folder, agencies in `workflows/agencies.yaml`, and licence templates in
    `templates/licences/` beside them and in `template_dirs`.
    """
    permit_files: dict[FsPath, None] = {}
    form_files: dict[FsPath, None] = {}
    agency_files: dict[FsPath, None] = {}
    roots: dict[FsPath, None] = {}
    missing: list[Problem] = []
    for path in paths:
        path = FsPath(path)
        if not path.exists():
            missing.append(Problem(str(path), 1, 1, "no such file or folder", "check the path", "not-found"))
            continue
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
        for file in files:
            folder = file.parent.name
            if file.name == AGENCIES_FILE:
                agency_files[file] = None
            elif folder == "forms":
                form_files[file] = None
            else:
                permit_files[file] = None
            roots[file.parent.parent] = None
    permit_roots = {permit.parent.parent for permit in permit_files}
    for root in roots:
        agency_files.setdefault(root / "workflows" / AGENCIES_FILE, None)
        if root in permit_roots:
            for candidate in sorted((root / "forms").glob("*.y*ml")):
                form_files.setdefault(candidate, None)
    templates: set[str] = set()
    for directory in [*(root / "templates" / "licences" for root in roots), *map(FsPath, template_dirs)]:
        if directory.is_dir():
            templates.update(p.name for p in directory.glob("*.html"))
    result = validate_sources(
        agencies=_read_all((p for p in agency_files if p.exists()), missing),
        permits=_read_all(permit_files, missing),
        forms=_read_all(form_files, missing),
        template_names=templates,
        workers=workers,
    )
    result.problems = sorted(missing + result.problems)
    return result


def _read(path: FsPath, problems: list[Problem]) -> SourceFile | None:
    try:
        display = str(path.relative_to(FsPath.cwd()))
    except ValueError:
        display = str(path)
    try:
        return SourceFile(display, path.read_bytes())
    except OSError as error:
        problems.append(Problem(display, 1, 1, f"cannot read the file: {error.strerror or error}",
                                "check that it is a readable file", "not-found"))
        return None


def _read_all(paths: Iterable[FsPath], problems: list[Problem]) -> list[SourceFile]:
    return [source for source in (_read(path, problems) for path in paths) if source is not None]


def validate_sources(agencies: list[SourceFile], permits: list[SourceFile], forms: list[SourceFile],
                     template_names: set[str] | None, *, workers: int = 1) -> ValidationResult:
    """Validate file texts (from disk or pasted in the admin console).

    `template_names` are the licence templates that exist; None skips that check.
    A spec is added to `result.specs` only when its permit file, its form and the
    agencies file have no problem at all. With `workers` > 1 the files are checked
    in that many forked processes (for whole trees of thousands of files), one task
    per permit together with the form its `form:` names, each form checked once
    per process; only problems and the models as JSON travel back. Each file is
    checked on its own and the problems are sorted, so results are identical.
    """
    result = ValidationResult(files_checked=len(agencies) + len(permits) + len(forms))
    problems = result.problems

    if not agencies:
        problems.append(Problem("workflows/agencies.yaml", 1, 1, "agencies file is missing",
                                "define every agency once in workflows/agencies.yaml", "not-found"))
    agencies_ok = bool(agencies)
    for source in agencies:
        before = len(problems)
        parsed = _parse(source, AgencyFile, problems)
        if parsed is not None:
            _check_agencies(parsed[0], parsed[1], result)
        agencies_ok = agencies_ok and len(problems) == before

    global _RUN
    _RUN = _Run(permits, forms, result.agencies, template_names)
    try:
        tasks = _pair(permits, forms)
        as_json = workers > 1 and len(tasks) >= _PARALLEL_THRESHOLD
        outcomes: list[tuple[_FormOutcome | None, _PermitOutcome | None]] = []
        for form_outcome, permit_outcome in _map(_run_task_json if as_json else _run_task, tasks, workers):
            # Models come back from workers as JSON; they are read only if a spec is used.
            outcomes.append((form_outcome, permit_outcome))

        form_outcomes: dict[int, _FormOutcome] = {}
        for form_outcome, _ in outcomes:
            if form_outcome is not None:
                form_outcomes.setdefault(form_outcome.index, form_outcome)
        parsed_forms: dict[str, _FormOutcome] = {}
        unreadable_forms: set[str] = set()
        for index in range(len(forms)):
            outcome = form_outcomes[index]
            problems.extend(outcome.problems)
            if outcome.key is None:
                unreadable_forms.add(outcome.stem)
                continue
            first = parsed_forms.get(outcome.key)
            if first is not None:
                problems.append(Problem(outcome.name, *outcome.key_position,
                                        f"form key {outcome.key!r} is used by two files",
                                        f"the other is {first.name}", "duplicate-id"))
                continue
            parsed_forms[outcome.key] = outcome
        _RUN.form_keys = list(parsed_forms)
        _RUN.form_index = {key: outcome.index for key, outcome in parsed_forms.items()}
        _RUN.unreadable_forms = unreadable_forms

        for _, permit_outcome in outcomes:
            if permit_outcome is None:
                continue
            if permit_outcome.permit_form is not None and (
                    parsed_forms.get(permit_outcome.permit_form) is None
                    or parsed_forms[permit_outcome.permit_form].index != permit_outcome.checked_with):
                # Checked against another file than the one that holds the form key (or none):
                # check again here, against the whole tree's forms.
                permit_outcome = _validate_permit(permit_outcome.index, None, second_look=True)
            problems.extend(permit_outcome.problems)
            key = permit_outcome.key
            if key is None:
                continue
            if key in result.specs or key in result.sources:
                problems.append(Problem(permit_outcome.name, *permit_outcome.key_position,
                                        f"permit key {key!r} is used by two files", "", "duplicate-id"))
                continue
            form_outcome = parsed_forms.get(permit_outcome.permit_form or "")
            if not permit_outcome.problems and form_outcome and form_outcome.clean and agencies_ok:
                permit_model, form_model = permit_outcome.permit, form_outcome.form
                assert permit_model is not None and form_model is not None  # clean outcomes keep their model
                if isinstance(permit_model, PermitFile) and isinstance(form_model, FormFile):
                    result.specs[key] = PermitSpec(permit=permit_model, form=form_model)
                else:
                    result.specs.put_json(
                        key, permit_model if isinstance(permit_model, str) else permit_model.model_dump_json(),
                        form_model if isinstance(form_model, str) else form_model.model_dump_json())
                result.sources[key] = (_text(permits[permit_outcome.index]), _text(forms[form_outcome.index]))
    finally:
        _RUN = None
    result.problems = sorted(problems)
    return result


@dataclass
class _FormOutcome:
    """What checking one form file found; small enough to pass between processes.

    `form` is the model, or its JSON when it comes from a worker process (pydantic
    reads JSON several times faster than it unpickles a model); it is kept only for
    a clean form, the one thing a spec is built from.
    """

    index: int
    name: str
    stem: str
    key: str | None
    key_position: tuple[int, int]
    problems: list[Problem]
    clean: bool
    form: FormFile | str | None = None


@dataclass
class _PermitOutcome:
    """What checking one permit file found; `permit` is kept (model or JSON) only when it has no problem."""

    index: int
    name: str
    key: str | None
    permit_form: str | None
    key_position: tuple[int, int]
    problems: list[Problem]
    checked_with: int | None
    permit: PermitFile | str | None = None


@dataclass
class _Run:
    """The files of one run and what every check needs; inherited by forked workers."""

    permits: list[SourceFile]
    forms: list[SourceFile]
    agencies: dict[str, Agency]
    template_names: set[str] | None
    # Known only once every form is read; a permit checked before that is checked against
    # the form file named after its `form:` and checked again when that guess was wrong.
    form_keys: list[str] | None = None
    form_index: dict[str, int] = field(default_factory=dict)
    unreadable_forms: set[str] = field(default_factory=set)
    checked_forms: dict[int, tuple[_FormOutcome, FormFile | None, FormEnvironment | None]] = \
        field(default_factory=dict)

    def form(self, index: int) -> tuple[_FormOutcome, FormFile | None, FormEnvironment | None]:
        """Check form file `index` once per process."""
        if index not in self.checked_forms:
            self.checked_forms[index] = _validate_form(index, self.forms[index])
        return self.checked_forms[index]


# The current run; set by `validate_sources`, inherited by forked workers.
_RUN: _Run | None = None
_PARALLEL_THRESHOLD = 200
_FORM_LINE = re.compile(r"""^form:[ \t]*["']?([^\s"'#]+)""", re.MULTILINE)

_A = TypeVar("_A")
_R = TypeVar("_R")


def _pair(permits: list[SourceFile], forms: list[SourceFile]) -> list[tuple[int | None, int | None]]:
    """One task per permit with the form file its `form:` line names, then one per form left over.

    The pairing is only a guess from the text (the files are not read yet); a permit
    whose guess turns out wrong is checked again once every form is known.
    """
    by_stem: dict[str, int] = {}
    for index, source in enumerate(forms):
        by_stem.setdefault(_stem(source.name), index)
    tasks: list[tuple[int | None, int | None]] = []
    paired: set[int] = set()
    for index, source in enumerate(permits):
        match = _FORM_LINE.search(_text(source))
        form_index = by_stem.get(match[1]) if match else None
        if form_index is not None:
            paired.add(form_index)
        tasks.append((index, form_index))
    tasks.extend((None, index) for index in range(len(forms)) if index not in paired)
    return tasks


def _map(function: Callable[[_A], _R], items: list[_A], workers: int) -> Iterator[_R]:
    """Apply `function` to `items`, yielding in order, in forked processes when it is worth it."""
    if workers <= 1 or len(items) < _PARALLEL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(function, items)
        return
    # Objects that exist before the fork are left out of the workers' garbage collections:
    # scanning them would cost time and copy every page of the parent's heap into each worker.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_collect_rarely) as pool:
            yield from pool.imap(function, items, chunksize=max(1, len(items) // (workers * 16)))
    finally:
        gc.unfreeze()


def _collect_rarely() -> None:
    """In a worker: run the cyclic garbage collector about a hundred times less often.

    Reading YAML makes hundreds of thousands of short-lived nodes, none in a cycle, and
    with the default thresholds the collector scanning them took about a third of the
    workers' time. Cycles are still collected; the worker exits when the run ends.
    """
    gc.set_threshold(100_000, 50, 100)


def _run_task(task: tuple[int | None, int | None]) -> tuple[_FormOutcome | None, _PermitOutcome | None]:
    """Check one permit with its form, or a form no permit names."""
    run = _RUN
    assert run is not None
    permit_index, form_index = task
    form_outcome = run.form(form_index)[0] if form_index is not None else None
    permit_outcome = _validate_permit(permit_index, form_index) if permit_index is not None else None
    return form_outcome, permit_outcome


def _run_task_json(task: tuple[int | None, int | None]) -> tuple[_FormOutcome | None, _PermitOutcome | None]:
    """`_run_task` for a worker process: models travel back as JSON."""
    form_outcome, permit_outcome = _run_task(task)
    if form_outcome is not None and isinstance(form_outcome.form, BaseModel):
        form_outcome = replace(form_outcome, form=form_outcome.form.model_dump_json())
    if permit_outcome is not None and isinstance(permit_outcome.permit, BaseModel):
        permit_outcome = replace(permit_outcome, permit=permit_outcome.permit.model_dump_json())
    return form_outcome, permit_outcome


def _validate_form(index: int, source: SourceFile) -> tuple[_FormOutcome, FormFile | None, FormEnvironment | None]:
    problems: list[Problem] = []
    parsed = _parse(source, FormFile, problems)
    if parsed is None:
        return _FormOutcome(index, source.name, _stem(source.name), None, (1, 1), problems, False), None, None
    document, form = parsed
    _check_file_name(source, form.key, document, problems)
    environment = _check_form(document, form, problems)
    outcome = _FormOutcome(index, source.name, _stem(source.name), form.key, document.position(("key",)),
                           problems, not problems, form if not problems else None)
    return outcome, form, environment


def _validate_permit(index: int, form_index: int | None, *, second_look: bool = False) -> _PermitOutcome:
    """Check permit file `index` against form file `form_index`; on the second look, against the run's forms."""
    run = _RUN
    assert run is not None
    source = run.permits[index]
    problems: list[Problem] = []
    parsed_permit = _parse(source, PermitFile, problems)
    if parsed_permit is None:
        return _PermitOutcome(index, source.name, None, None, (1, 1), problems, None)
    document, permit = parsed_permit
    _check_file_name(source, permit.key, document, problems)
    if not second_look and (form_index is None or run.form(form_index)[0].key != permit.form):
        # Not paired with the form it names: leave the checks to the second look, with every form known.
        return _PermitOutcome(index, source.name, permit.key, permit.form, (1, 1), problems, None)
    if second_look:
        assert run.form_keys is not None
        form_index = run.form_index.get(permit.form)
        form, env = run.form(form_index)[1:] if form_index is not None else (None, None)
        if form is None and permit.form not in run.unreadable_forms:
            problems.append(_unknown(document, ("form",), "form", permit.form, run.form_keys,
                                     extra="each form lives in forms/<key>.yaml"))
    else:
        assert form_index is not None
        form, env = run.form(form_index)[1:]
    _check_permit(document, permit, form, env, run.agencies, run.template_names, problems)
    return _PermitOutcome(index, source.name, permit.key, permit.form, document.position(("key",)), problems,
                          form_index, permit if not problems else None)


def _check_agencies(document: SourceDocument, agency_file: AgencyFile, result: ValidationResult) -> None:
    first_line: dict[str, int] = {}
    for index, agency in enumerate(agency_file.agencies):
        if agency.id in first_line:
            result.problems.append(document.problem(
                ("agencies", index, "id"), f"duplicate agency id {agency.id!r}",
                f"{agency.id!r} is already defined at line {first_line[agency.id]}", "duplicate-id"))
            continue
        first_line[agency.id] = document.position(("agencies", index, "id"))[0]
        result.agencies[agency.id] = agency
    for index, agency in enumerate(agency_file.agencies):
        if agency.parent and agency.parent not in first_line:
            result.problems.append(_unknown(document, ("agencies", index, "parent"), "agency", agency.parent,
                                            first_line))
    result.extra_holidays = agency_file.extra_holidays


def _stem(name: str) -> str:
    return re.sub(r"\.ya?ml$", "", name.replace("\\", "/").rsplit("/", 1)[-1])


def _text(source: SourceFile) -> str:
    return source.text.decode("utf-8", errors="replace") if isinstance(source.text, bytes) else source.text


def _check_file_name(source: SourceFile, key: str, document: SourceDocument, problems: list[Problem]) -> None:
    stem = _stem(source.name)
    if "/" in source.name.replace("\\", "/") and stem != key:
        problems.append(document.problem(("key",), f"key {key!r} does not match the file name {stem!r}",
                                         f"rename the file to {key}.yaml or change the key", "file-name"))


# --------------------------------------------------------------------------- pass 1 + 2

def _parse(source: SourceFile, model: type[M], problems: list[Problem]) -> tuple[SourceDocument, M] | None:
    """Read one file into `model`; problems go to `problems`, and None means it could not be read.

    A file whose YAML had problems that left the data whole (a duplicate key keeps
    its first value) is still returned, so that its references and expressions are
    checked in the same run; the caller does not publish it.
    """
    document, yaml_problems = load_yaml(source.text, source.name)
    problems.extend(yaml_problems)
    if document is None:
        return None
    if document.data is None:
        problems.append(Problem(document.file, 1, 1, "file is empty", "start with the `language:` header",
                                "empty"))
        return None
    if not isinstance(document.data, dict):
        problems.append(document.problem((), "the file must be a mapping of keys to values",
                                         "start with `language:`", "shape"))
        return None
    try:
        parsed = model.model_validate(document.data)
    except ValidationError as error:
        shape_problems, renames = _shape_problems(document, model, error.errors(include_url=False))
        problems.extend(shape_problems)
        return _read_past_unknown_keys(document, model, renames)
    return document, parsed


def _read_past_unknown_keys(document: SourceDocument, model: type[M],
                            renames: dict[Path, str | None]) -> tuple[SourceDocument, M] | None:
    """When unknown keys were the only trouble, rename each to the key it meant (or drop it) and read on.

    The file is already reported, so it is never published; reading on lets the
    later passes report its other mistakes in the same run.
    """
    if not renames:
        return None
    for path in sorted(renames, key=len, reverse=True):
        document.rename_key(path, renames[path])
    try:
        return document, model.model_validate(document.data)
    except ValidationError:
        return None


def _data_path(document: SourceDocument, loc: tuple[Any, ...]) -> Path:
    """Keep the parts of a pydantic location that walk through the YAML data."""
    path: list[str | int] = []
    node = document.data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            path.append(part)
            node = node[part]
    return tuple(path)


def _dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "file"


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, UnionType):
        return [member for member in get_args(annotation) if member is not type(None)]
    return [annotation]


def _tag_of(annotation: Any) -> str | None:
    if get_origin(annotation) is Annotated:
        for extra in get_args(annotation)[1:]:
            if isinstance(extra, Tag):
                return extra.tag
    return None


def _annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The type that pydantic location `loc` points into, following tuples and tagged unions."""
    current: Any = model
    for part in loc:
        options = _members(current)
        tagged = [option for option in options if isinstance(part, str) and _tag_of(option) == part]
        if tagged:
            current = tagged[0]
            continue
        chosen: Any = None
        for option in map(_unwrap, options):
            if isinstance(part, int) and get_origin(option) is tuple:
                chosen = get_args(option)[0]
                break
            if isinstance(part, str) and isinstance(option, type) and issubclass(option, BaseModel) \
                    and part in option.model_fields:
                chosen = option.model_fields[part].annotation
                break
        if chosen is None:
            return None
        current = chosen
    return current


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return [option for option in map(_unwrap, _members(annotation))
            if isinstance(option, type) and issubclass(option, BaseModel)]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    found = _models_in(_annotation_at(model, loc))
    return found[0] if len(found) == 1 else None


def _other_kinds(model: type[BaseModel], loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """When `loc` ends in a union tag (a route node read as a `stage`), the other kinds it could be."""
    if not loc or not isinstance(loc[-1], str):
        return []
    members = _members(_annotation_at(model, loc[:-1]))
    if not any(_tag_of(member) == loc[-1] for member in members):
        return []
    return [found for member in members if _tag_of(member) != loc[-1] for found in _models_in(member)]


def _is_noise(document: SourceDocument, item: Mapping[str, Any]) -> bool:
    """Errors that only repeat another problem: under a rejected YAML value, or a list "too short"
    because one of its items was invalid."""
    path = _data_path(document, tuple(item.get("loc", ())))
    if any(path[:len(rejected)] == rejected for rejected in document.rejected):
        return True
    if item.get("type") == "too_short":
        value = document.value(path)
        return isinstance(value, list) and len(value) >= int(item.get("ctx", {}).get("min_length", 0))
    return False


def _shape_problems(document: SourceDocument, model: type[BaseModel],
                    items: Iterable[Mapping[str, Any]]) -> tuple[list[Problem], dict[Path, str | None]]:
    """Turn pydantic's errors into problems; a misspelt key and the key it misses are one problem.

    Also returns, for each unknown key, the key it surely meant (None when there is
    no such key), so that `_read_past_unknown_keys` can read on.
    """
    relevant = [item for item in items if not _is_noise(document, item)]
    renames: dict[Path, str | None] = {}
    missing = {(tuple(item["loc"][:-1]), str(item["loc"][-1]))
               for item in relevant if item.get("type") == "missing" and item.get("loc")}
    folded: set[tuple[tuple[Any, ...], str]] = set()
    problems: list[Problem] = []
    for item in relevant:
        if item.get("type") != "extra_forbidden":
            continue
        loc = tuple(item["loc"])
        parent_loc, key = loc[:-1], str(loc[-1])
        wanted = [name for place, name in missing if place == parent_loc]
        match = difflib.get_close_matches(key, wanted, n=1, cutoff=0.6)
        if match:
            folded.add((parent_loc, match[0]))
        else:
            # `paralel:` makes a route node read as a stage; say what was meant, not what a stage lacks.
            for other in _other_kinds(model, parent_loc):
                meant = difflib.get_close_matches(key, list(other.model_fields), n=1, cutoff=0.75)
                if meant:
                    match = meant
                    folded.update((parent_loc, name) for name in wanted)
                    break
        problems.append(_unknown_key(document, model, loc, match[0] if match else None))
        renames[(*_data_path(document, parent_loc), key)] = match[0] if match else None
    for item in relevant:
        kind = item.get("type")
        if kind == "extra_forbidden":
            continue
        if kind == "missing" and (tuple(item["loc"][:-1]), str(item["loc"][-1])) in folded:
            continue
        problems.append(_shape_problem(document, item))
    return problems, renames


def _unknown_key(document: SourceDocument, model: type[BaseModel], loc: tuple[Any, ...],
                 suggestion: str | None) -> Problem:
    parent = _data_path(document, loc[:-1])
    key = str(loc[-1])
    where = _dotted(parent)
    block = _model_at(model, loc[:-1])
    allowed = sorted(block.model_fields) if block is not None else []
    if suggestion is None:
        close = difflib.get_close_matches(key, allowed or sorted(_KNOWN_KEYS), n=1,
                                          cutoff=0.6 if allowed else 0.75)
        suggestion = close[0] if close else None
    message = f"unknown key {key!r} in {where}"
    if suggestion:
        message += f" (did you mean {suggestion!r}?)"
    hint = (f"keys allowed in {where}: {', '.join(allowed)}" if allowed
            else "see docs/workflows.md for the keys allowed here")
    if suggestion and allowed and suggestion not in allowed and len(loc) > 1 and isinstance(loc[-2], str):
        hint = f"without `{suggestion}:` this item is read as a {loc[-2]}"
    return document.problem((*parent, key), message, hint, "unknown-key", key=True)


_TYPE_HINTS = {
    "int_parsing": "write a whole number without quotes, e.g. 10",
    "int_type": "write a whole number without quotes, e.g. 10",
    "int_from_float": "write a whole number without quotes, e.g. 10",
    "float_parsing": "write a number without quotes, e.g. 2.5",
    "float_type": "write a number without quotes, e.g. 2.5",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "tuple_type": "write a list: [a, b], or one `- item` per line",
    "list_type": "write a list: [a, b], or one `- item` per line",
    "model_type": "write a mapping of keys and values",
    "model_attributes_type": "write a mapping of keys and values",
    "dict_type": "write a mapping of keys and values",
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD",
    "date_parsing": "write a date as YYYY-MM-DD",
    "date_type": "write a date as YYYY-MM-DD",
}


def _shape_problem(document: SourceDocument, item: Mapping[str, Any]) -> Problem:
    loc = tuple(item.get("loc", ()))
    kind = str(item.get("type", ""))
    ctx = item.get("ctx", {}) or {}
    value = item.get("input")
    message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
    path = _data_path(document, loc)
    if kind == "missing":
        return document.problem(path, f"missing required key {loc[-1]!r} in {_dotted(path)}",
                                "see docs/workflows.md for what this block needs", "missing-key")
    if kind == "literal_error" and loc and loc[-1] == "language":
        expected = str(ctx.get("expected", ""))
        return document.problem(path, f"unknown language version {value!r}",
                                f"this kind of file starts with `language: {expected.strip(chr(39))}`",
                                "language")
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern")) == language.IDENTIFIER:
        return document.problem(path, f"{value!r} is not a valid id",
                                "ids use lowercase letters, digits and _ and start with a letter",
                                "wrong-type")
    if kind == "enum":
        return document.problem(path, f"{_dotted(path)}: {value!r} is not allowed",
                                f"use one of {ctx.get('expected', '')}", "wrong-type")
    if kind == "string_type" and isinstance(value, bool | int | float | dt.date):
        read_as = {bool: "true/false", int: "a number", float: "a number"}.get(type(value), "a date")
        if loc and loc[-1] in {"when", "amount"}:
            hint = f"conditions and formulas are text: write {loc[-1]}: \"{_yaml_text(value)}\""
        else:
            hint = f"put it in quotes: \"{_yaml_text(value)}\""
        return document.problem(path, f"{_dotted(path)}: expected text, but YAML reads "
                                f"{_yaml_text(value)!r} as {read_as}", hint, "wrong-type")
    if isinstance(value, str | int | float) and not isinstance(value, bool) and kind.endswith(
            ("_parsing", "_type", "_from_float", "_mismatch")):
        message += f" (found {value!r})"
    return document.problem(path, f"{_dotted(path)}: {message}", _TYPE_HINTS.get(kind, ""), "wrong-type")


def _yaml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _unknown(document: SourceDocument, path: Path, what: str, name: str, known: Iterable[str],
             extra: str = "") -> Problem:
    choices = sorted(known)
    suggestion = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean {suggestion[0]!r}?" if suggestion else (
        f"known: {', '.join(choices[:12])}" if choices else "")
    if extra:
        hint = f"{hint}; {extra}" if hint else extra
    return document.problem(path, f"unknown {what} {name!r}", hint, f"unknown-{what.replace(' ', '-')}")


# --------------------------------------------------------------------------- pass 3 + 4

def _expression_problem(document: SourceDocument, path: Path, source: str, error: ExpressionError) -> Problem:
    lines = source.split("\n")
    line = min(max(error.line, 1), len(lines))
    offset = sum(len(text) + 1 for text in lines[:line - 1]) + max(error.column, 1) - 1
    line, column = document.position_in_text(path, source, offset)
    return Problem(document.file, line, column, f"expression: {error.message}", error.hint, "expression")


def _check_expression(document: SourceDocument, path: Path, source: str, env: FormEnvironment,
                      expected: str, problems: list[Problem], allowed: set[str] | None = None,
                      what: str = "") -> CompiledExpression | None:
    try:
        compiled = env.compile(source, expected)
    except ExpressionError as error:
        problems.append(_expression_problem(document, path, source, error))
        return None
    if allowed is not None:
        later = sorted(compiled.names - allowed, key=lambda name: first_reference(source, name))
        if later:
            line, column = document.position_in_text(path, source, first_reference(source, later[0]))
            problems.append(Problem(
                document.file, line, column,
                f"{what} reads {', '.join(map(repr, later))}, which is not asked before it",
                "a condition may only read answers from earlier fields and steps; move the field "
                "earlier or the condition later", "expression-order"))
    _check_option_literals(document, path, source, env, problems)
    _check_address_parts(document, path, source, env, problems)
    return compiled


_MEMBER = re.compile(r"(?<![.\w])([a-z]\w*)\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(?:\"([^\"]*)\"|'([^']*)')\s*\])")


def _check_address_parts(document: SourceDocument, path: Path, source: str, env: FormEnvironment,
                         problems: list[Problem]) -> None:
    """Catch `premises_address.provnce_code`: CEL accepts any key of a map, so check the part names."""
    for match in _MEMBER.finditer(source):
        form_field = env.fields.get(match[1])
        if form_field is None or form_field.type is not FieldType.THAI_ADDRESS:
            continue
        part = match[2] or match[3] or match[4] or ""
        if part in ADDRESS_KEYS:
            continue
        suggestion = difflib.get_close_matches(part, ADDRESS_KEYS, n=1, cutoff=0.6)
        line, column = document.position_in_text(path, source, match.start(2) if match[2] else match.start())
        problems.append(Problem(
            document.file, line, column, f"expression: {part!r} is not a part of the address {match[1]!r}",
            (f"did you mean {suggestion[0]!r}? " if suggestion else "") + f"parts: {', '.join(ADDRESS_KEYS)}",
            "expression"))


_LITERAL = r"""(?:"([^"\\\n]*)"|'([^'\\\n]*)')"""
_EQUALS_LITERAL = re.compile(rf"(?<![.\w])([a-z]\w*)\s*(?:==|!=)\s*(?={_LITERAL})")
_LITERAL_EQUALS = re.compile(rf"{_LITERAL}\s*(?:==|!=)\s*([a-z]\w*)\b")
_IN_LIST = re.compile(r"(?<![.\w])([a-z]\w*)\s+in\s+\[([^\]]*)\]")
_LITERAL_IN_FIELD = re.compile(rf"{_LITERAL}\s+in\s+([a-z]\w*)\b")
_ANY_LITERAL = re.compile(_LITERAL)


def _check_option_literals(document: SourceDocument, path: Path, source: str, env: FormEnvironment,
                           problems: list[Problem]) -> None:
    """Catch comparisons of a choice field with a value that is not one of its options."""
    uses: list[tuple[str, str, int]] = []  # field id, literal, offset of the literal's opening quote
    for match in _EQUALS_LITERAL.finditer(source):
        quoted = _ANY_LITERAL.match(source, match.end())
        if quoted:
            uses.append((match[1], quoted[1] if quoted[1] is not None else quoted[2], match.end()))
    for match in _LITERAL_EQUALS.finditer(source):
        uses.append((match[3], match[1] if match[1] is not None else match[2], match.start()))
    for match in _IN_LIST.finditer(source):
        for item in _ANY_LITERAL.finditer(match[2]):
            text = item[1] if item[1] is not None else item[2]
            uses.append((match[1], text, match.start(2) + item.start()))
    for match in _LITERAL_IN_FIELD.finditer(source):
        uses.append((match[3], match[1] if match[1] is not None else match[2], match.start()))
    for name, literal, offset in sorted(uses, key=lambda use: use[2]):
        form_field = env.fields.get(name)
        if form_field is None or form_field.type not in {FieldType.CHOICE, FieldType.MULTI_CHOICE}:
            continue
        values = [option.value for option in form_field.options]
        if literal not in values:
            suggestion = difflib.get_close_matches(literal, values, n=1, cutoff=0.6)
            line, column = document.position_in_text(path, source, offset)
            problems.append(Problem(
                document.file, line, column, f"expression: {literal!r} is not an option of {name!r}",
                (f"did you mean {suggestion[0]!r}? " if suggestion else "") + f"options: {', '.join(values)}",
                "expression"))


def _duplicate(document: SourceDocument, path: Path, what: str, name: str, first: Path,
               hint: str = "") -> Problem:
    line = document.position(first)[0]
    return document.problem(path, f"duplicate {what} id {name!r}",
                            f"{name!r} is already used at line {line}" + (f"; {hint}" if hint else ""),
                            "duplicate-id")


def _check_form(document: SourceDocument, form: FormFile, problems: list[Problem]) -> FormEnvironment:
    fields: dict[str, language.FormField] = {}
    field_paths: dict[str, Path] = {}
    step_paths: dict[str, Path] = {}
    for step_index, step in enumerate(form.steps):
        step_path: Path = ("steps", step_index, "id")
        if step.id in step_paths:
            problems.append(_duplicate(document, step_path, "step", step.id, step_paths[step.id]))
        step_paths.setdefault(step.id, step_path)
        for field_index, form_field in enumerate(step.fields):
            field_path: Path = ("steps", step_index, "fields", field_index, "id")
            if form_field.id in fields:
                problems.append(_duplicate(document, field_path, "field", form_field.id,
                                           field_paths[form_field.id],
                                           "field ids are unique in the whole form"))
                continue
            fields[form_field.id] = form_field
            field_paths[form_field.id] = field_path
    env = FormEnvironment.for_fields(fields)
    document_ids = [item.id for item in form.documents]
    for index, item in enumerate(form.documents):
        first = document_ids.index(item.id)
        if first != index:
            problems.append(_duplicate(document, ("documents", index, "id"), "document", item.id,
                                       ("documents", first, "id")))
        if item.when:
            _check_expression(document, ("documents", index, "when"), item.when, env, "bool", problems)
    asked: set[str] = set()
    for step_index, step in enumerate(form.steps):
        if step.when:
            _check_expression(document, ("steps", step_index, "when"), step.when, env, "bool", problems,
                              allowed=set(asked), what=f"step {step.id!r}")
        for field_index, form_field in enumerate(step.fields):
            field_path = ("steps", step_index, "fields", field_index)
            if form_field.when:
                _check_expression(document, (*field_path, "when"), form_field.when, env, "bool", problems,
                                  allowed=set(asked), what=f"field {form_field.id!r}")
            if form_field.document and form_field.document not in document_ids:
                problems.append(_unknown(document, (*field_path, "document"), "document",
                                         form_field.document, document_ids))
            asked.add(form_field.id)
    return env


def _check_permit(document: SourceDocument, permit: PermitFile, form: FormFile | None,
                  env: FormEnvironment | None, agencies: Mapping[str, Agency],
                  template_names: set[str] | None,
                  problems: list[Problem]) -> None:
    if agencies and permit.issuing_agency not in agencies:
        problems.append(_unknown(document, ("issuing_agency",), "agency", permit.issuing_agency, agencies))
    if template_names is not None and permit.licence.template not in template_names:
        problems.append(_unknown(document, ("licence", "template"), "template", permit.licence.template,
                                 template_names or (), extra="licence templates live in templates/licences/"))
    field_ids = set(env.fields) if env else set()
    document_ids = {item.id for item in form.documents} if form else set()
    if env is not None:
        for index, name in enumerate(permit.licence.printed_fields):
            if name not in field_ids:
                problems.append(_unknown(document, ("licence", "printed_fields", index), "field", name,
                                         field_ids))
        fee_ids: set[str] = set()
        for index, fee in enumerate(permit.fees):
            if fee.id in fee_ids:
                problems.append(document.problem(("fees", index, "id"), f"duplicate fee id {fee.id!r}", "",
                                                 "duplicate-id"))
            fee_ids.add(fee.id)
            _check_expression(document, ("fees", index, "amount"), fee.amount, env, "number", problems)
            if fee.when:
                _check_expression(document, ("fees", index, "when"), fee.when, env, "bool", problems)

    route = compile_route(permit)
    problems.extend(_route_problem(document, problem) for problem in route.problems)
    never_entered: set[str] = set()
    for node_id, compiled in route.nodes.items():
        node = compiled.node
        if isinstance(node, Stage):
            if agencies and node.agency not in agencies:
                problems.append(_unknown(document, (*compiled.path, "agency"), "agency", node.agency,
                                         agencies))
            for index, document_id in enumerate(node.documents):
                if form is not None and document_id not in document_ids:
                    problems.append(_unknown(document, (*compiled.path, "documents", index), "document",
                                             document_id, document_ids))
        if isinstance(node, Choose):
            if env is not None:
                _check_options(document, compiled.path, node, env, problems)
        elif node.when and env is not None:
            compiled_when = _check_expression(document, (*compiled.path, "when"), node.when, env, "bool",
                                              problems)
            if compiled_when is not None and constant_value(node.when, referenced_names(node.when)) is False:
                never_entered.add(node_id)
    problems.extend(_route_problem(document, problem) for problem in deciding_problems(route))
    if route.problems:
        return
    cycle = find_cycle(route)
    if cycle:
        problems.append(_loop_problem(document, route, cycle))
        return
    entered = reachable(route, never_entered)
    for node_id, compiled in route.nodes.items():
        if node_id in entered or (compiled.block_id is not None and compiled.block_id not in entered):
            continue
        what = {Parallel: "parallel block", Choose: "choose block"}.get(type(compiled.node), "stage")
        reason = ("its condition is always false" if node_id in never_entered
                  else "no route leads to it (look for `next:` jumps or `next: end` before it)")
        place = (*compiled.path, "when") if node_id in never_entered else compiled.path
        problems.append(document.problem(place, f"{what} {node_id!r} can never be reached: {reason}",
                                         "remove it or fix the route", "unreachable"))
    days, slowest = worst_case_days(route)
    if days > permit.time_limit_days:
        problems.append(document.problem(
            ("time_limit_days",),
            f"worst-case route time is {days} working days ({' + '.join(slowest)}), more than the published "
            f"time_limit_days of {permit.time_limit_days}",
            "parallel branches and choose options count once, at their slowest; shorten stage time "
            "limits or publish a longer total time limit", "time-limit"))


def _check_options(document: SourceDocument, path: Path, block: Choose, env: FormEnvironment,
                   problems: list[Problem]) -> None:
    """Each option's condition type-checks, and no option is dead: always false, or after one always true."""
    for index, option in enumerate(block.choose):
        if option.when is None:
            continue
        where: Path = (*path, "choose", index, "when")
        if _check_expression(document, where, option.when, env, "bool", problems) is None:
            continue
        value = constant_value(option.when, referenced_names(option.when))
        if value is False:
            problems.append(document.problem(
                where, f"option {option.id!r} of choose block {block.id!r} is never taken: its condition is "
                "always false", "remove the option or fix its condition", "unreachable"))
        elif value is True and index < len(block.choose) - 1:
            problems.append(document.problem(
                where, f"options after {option.id!r} in choose block {block.id!r} are never taken: its "
                "condition is always true", "the first option whose condition holds is taken; remove the "
                "condition to make it the last, default option", "unreachable"))


def _loop_problem(document: SourceDocument, route: CompiledRoute, cycle: list[str]) -> Problem:
    """Point at the `next:` that jumps back, and name the loop in stage ids."""
    nodes = [target for target in cycle[:-1] if target in route.nodes]
    culprit = next((node_id for node_id in nodes if route.nodes[node_id].node.next is not None
                    and _jumps_back(route, node_id)), None)
    if culprit is None:
        culprit = next((node_id for node_id in nodes if route.nodes[node_id].node.next is not None), nodes[0])
    start = nodes.index(route.nodes[culprit].next) if route.nodes[culprit].next in nodes else 0
    loop = [*nodes[start:], *nodes[:start], nodes[start]]
    compiled = route.nodes[culprit]
    path = (*compiled.path, "next") if compiled.node.next is not None else compiled.path
    return document.problem(
        path, f"no way to a final decision: the route loops {' → '.join(loop)}",
        f"`next: {compiled.node.next}` jumps back; `next` must lead forward so that every application "
        "reaches the end" if compiled.node.next else "`next` must lead forward so that every application "
        "reaches the end", "route-loop")


def _jumps_back(route: CompiledRoute, node_id: str) -> bool:
    compiled = route.nodes[node_id]
    target = route.nodes.get(compiled.next)
    if target is None or target.path[:-1] != compiled.path[:-1]:
        return False
    target_index, own_index = target.path[-1], compiled.path[-1]
    return isinstance(target_index, int) and isinstance(own_index, int) and target_index <= own_index


def _route_problem(document: SourceDocument, problem: RouteProblem) -> Problem:
    hint = problem.hint
    if problem.first_use is not None:
        hint += f"; first used at line {document.position(problem.first_use)[0]}"
    return document.problem(problem.path, problem.message, hint, problem.code, key=problem.key)
