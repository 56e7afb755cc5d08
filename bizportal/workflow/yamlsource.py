"""Read permit-type YAML defensively, keeping the line and column of every node.

PyYAML's safe loader builds the node tree; we then construct plain values
ourselves so that we can reject duplicate keys, refuse tags other than the
standard scalar ones, bound the work aliases can cause (an "alias bomb" is
rejected after a fixed budget instead of being expanded), bound nesting (a file of
`[[[[…` must not exhaust the interpreter's stack), and remember where each value
came from so that later checks can point at `file:line:column`.

Nothing here raises on bad input: every failure becomes a `Problem`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from .problems import Problem

MAX_FILE_BYTES = 512 * 1024
MAX_ALIASES = 100
MAX_NODES = 50_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]
T = TypeVar("T")

_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"


def line_column(text: str, index: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of character `index` in `text`."""
    index = max(0, min(index, len(text)))
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


@dataclass
class SourceDocument:
    """A parsed YAML document: its data and the position of each path in it."""

    file: str
    data: Any
    text: str = ""
    nodes: dict[Path, yaml.Node] = field(default_factory=dict)
    key_nodes: dict[Path, yaml.Node] = field(default_factory=dict)
    rejected: set[Path] = field(default_factory=set)
    # A file read by the quick builder keeps only its root node: `nodes` and `key_nodes`
    # are filled from it the first time something needs more than one position.
    pending_root: yaml.Node | None = field(default=None, repr=False)
    pending_resolve: bool = field(default=False, repr=False)
    _tables: tuple[dict[Path, tuple[int, int]], dict[Path, tuple[int, int]], dict[Path, str | None],
                   dict[Path, tuple[int, int]]] | None = field(default=None, repr=False)

    def _build_tables(self) -> tuple[dict[Path, tuple[int, int]], dict[Path, tuple[int, int]],
                                     dict[Path, str | None], dict[Path, tuple[int, int]]]:
        # Positions are worked out only when a problem needs one: reading a valid file
        # keeps just the nodes, which is what makes validating thousands of files fast.
        if self._tables is None:
            self._record()
            self._tables = (
                {path: _mark(node) for path, node in self.nodes.items()},
                {path: _mark(node) for path, node in self.key_nodes.items()},
                {path: node.style for path, node in self.nodes.items() if isinstance(node, yaml.ScalarNode)},
                {path: (node.start_mark.index, node.end_mark.index) for path, node in self.nodes.items()
                 if isinstance(node, yaml.ScalarNode)},
            )
        return self._tables

    def _record(self) -> None:
        """Fill `nodes` and `key_nodes` for a file read by the quick builder, as the careful reader does."""
        root = self.pending_root
        if root is None:
            return
        self.pending_root = None
        shadow = SourceDocument(file=self.file, data=None, text=self.text)
        budget = _Budget(None)
        budget.plain_needs_resolving = self.pending_resolve
        budget.tracks_aliases = False
        _construct(root, (), shadow, [], yaml.SafeLoader(""), budget)
        self.nodes.update(shadow.nodes)
        self.key_nodes.update(shadow.key_nodes)

    def _walk(self, root: yaml.Node, path: Path, key: bool) -> tuple[int, int]:
        """`position` for a file read by the quick builder: its keys are unique text, so walk the nodes."""
        node, key_node, whole = root, None, True
        for part in path:
            if node.__class__ is yaml.MappingNode:
                for candidate, value in node.value:
                    if candidate.value == part and isinstance(part, str):
                        node, key_node = value, candidate
                        break
                else:
                    whole = False
                    break
            elif node.__class__ is yaml.SequenceNode and isinstance(part, int) and 0 <= part < len(node.value):
                node, key_node = node.value[part], None
            else:
                whole = False
                break
        if key and whole and key_node is not None:
            return _mark(key_node)
        return _mark(node)

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        """(line, column) of the value at each path."""
        return self._build_tables()[0]

    @property
    def key_positions(self) -> dict[Path, tuple[int, int]]:
        """(line, column) of the key of each mapping entry."""
        return self._build_tables()[1]

    @property
    def scalar_styles(self) -> dict[Path, str | None]:
        """YAML style of each scalar: None (plain), quotes, `|` or `>`."""
        return self._build_tables()[2]

    @property
    def scalar_spans(self) -> dict[Path, tuple[int, int]]:
        """Start and end offsets in the text of each scalar."""
        return self._build_tables()[3]

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Return (line, column) of the deepest known node on `path`."""
        if self.pending_root is not None:
            return self._walk(self.pending_root, path, key)
        if self._tables is None:  # no key renamed yet: the nodes answer without building every table
            if key and path in self.key_nodes:
                return _mark(self.key_nodes[path])
            probe = tuple(path)
            while probe and probe not in self.nodes:
                probe = probe[:-1]
            node = self.nodes.get(probe)
            return _mark(node) if node is not None else (1, 1)
        table = self.key_positions if key else self.positions
        if key and path in table:
            return table[path]
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def position_in_text(self, path: Path, expression: str, offset: int) -> tuple[int, int]:
        """Return (line, column) in the file of character `offset` of the text value at `path`.

        `expression` is the value as the models hold it (whitespace stripped). Quotes,
        escapes, block-scalar indentation and folded lines are skipped by walking the
        raw text alongside the value, so a mistake inside a condition is shown where it
        is written, on whichever line of the file that is.
        """
        span = self.scalar_spans.get(path)
        value = self.value(path)
        if span is None or not isinstance(value, str):
            return self.position(path)
        lead = value.find(expression) if expression and value.strip() == expression else 0
        target = max(0, lead) + offset
        start, end = span
        raw = self.text[start:end]
        style = self.scalar_styles.get(path)
        cursor = 0
        if style in ("'", '"'):
            cursor = 1
        elif style in ("|", ">"):
            newline = raw.find("\n")
            cursor = len(raw) if newline < 0 else newline + 1
        for character in value[:target]:
            found = raw.find(character, cursor)
            cursor = cursor + 1 if found < 0 else found + 1
        if target < len(value):
            found = raw.find(value[target], cursor)
            if found >= 0:
                cursor = found
        return line_column(self.text, start + min(cursor, len(raw)))

    def value(self, path: Path) -> Any:
        """The value at `path`, or None when the data has no such place."""
        node = self.data
        for part in path:
            if isinstance(node, list):
                if not isinstance(part, int) or not 0 <= part < len(node):
                    return None
                node = node[part]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None
        return node

    def rename_key(self, path: Path, new_key: str | None) -> None:
        """Rename the mapping key at `path` (or drop it when `new_key` is None), keeping its positions.

        The validator uses this to read on past a misspelt key, so that one typo does
        not hide the file's other mistakes.
        """
        parent = self.value(path[:-1])
        old_key = path[-1]
        if not isinstance(parent, dict) or old_key not in parent:
            return
        if new_key is None:
            del parent[old_key]
            return
        items = [(new_key if key == old_key else key, value) for key, value in parent.items()]
        parent.clear()
        parent.update(items)
        new_path = (*path[:-1], new_key)
        _move(self.positions, path, new_path)
        _move(self.key_positions, path, new_path)
        _move(self.scalar_styles, path, new_path)
        _move(self.scalar_spans, path, new_path)

    def problem(self, path: Path, message: str, hint: str = "", code: str = "invalid",
                *, key: bool = False) -> Problem:
        """Build a Problem located at `path` in this document."""
        line, column = self.position(path, key=key)
        return Problem(self.file, line, column, message, hint, code)


def _move(table: dict[Path, T], old: Path, new: Path) -> None:
    for path in [path for path in table if path[:len(old)] == old]:
        table[(*new, *path[len(old):])] = table[path]


class _Budget:
    def __init__(self, first_alias: tuple[int, int] | None) -> None:
        self.first_alias = first_alias
        self.nodes = 0
        self.alias_uses = 0
        self.built: set[int] = set()
        self.open: set[int] = set()
        self.plain_needs_resolving = False
        self.tracks_aliases = True


class _LoadError(Exception):
    def __init__(self, line: int, column: int, message: str, hint: str, code: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message, self.hint, self.code = line, column, message, hint, code


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tag_name(tag: str) -> str:
    """Show a tag as it is written in the file (`!!python/object`, `!custom`)."""
    return "!!" + tag.removeprefix(_STANDARD_TAG_PREFIX) if tag.startswith(_STANDARD_TAG_PREFIX) else tag


# libyaml without implicit tag resolution: plain scalars come back as text and are resolved in
# `_resolve_plain` only when they could be a number, boolean, null or date (their first
# character says so), which skips most of the cost of reading a file of Thai and English text.
_FAST = hasattr(yaml, "CBaseLoader")
_FAST_LOADER: Any = yaml.SafeLoader  # PyYAML built without libyaml: the pure-Python composer
if _FAST:
    class _PlainLoader(yaml.CBaseLoader):
        """libyaml's composer with the resolver hooks it calls for every node made trivial."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return _STR_TAG if kind is yaml.ScalarNode else _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    _FAST_LOADER = _PlainLoader


class _CountingComposer(yaml.SafeLoader):
    """SafeLoader that counts alias uses and nesting depth while composing."""

    alias_count = 0
    depth = 0
    first_alias: tuple[int, int] | None = None

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.first_alias is None:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in stubs
                self.first_alias = (mark.line + 1, mark.column + 1)
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in stubs
                raise _LoadError(
                    mark.line + 1, mark.column + 1,
                    f"too many YAML aliases (more than {MAX_ALIASES})",
                    "write the values out; aliases are limited to keep loading safe",
                    "yaml-aliases",
                )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in stubs
                raise _LoadError(mark.line + 1, mark.column + 1,
                                 f"values are nested more than {MAX_DEPTH} levels deep",
                                 "a permit file needs only a few levels; look for unclosed [ or {",
                                 "yaml-depth")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _decoding_problem(raw: bytes, file: str, error: UnicodeDecodeError) -> Problem:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(file, 1, 1, "file is UTF-16 text, not UTF-8",
                       "save the file as UTF-8 (in most editors: Save with Encoding → UTF-8)", "encoding")
    if b"\x00" in raw[:8192]:
        return Problem(file, 1, 1, "file is binary, not YAML text",
                       "upload the permit's .yaml file, not a document or image", "encoding")
    # Text in another encoding (TIS-620, Windows-874) often decodes as UTF-8 for a byte or two before
    # failing: point at the start of the run of non-ASCII bytes, where the foreign text begins.
    start = error.start
    line_start = raw.rfind(b"\n", 0, start) + 1
    while start > line_start and raw[start - 1] >= 0x80:
        start -= 1
    line = raw.count(b"\n", 0, start) + 1
    column = len(raw[line_start:start].decode("utf-8", errors="replace")) + 1
    return Problem(file, line, column,
                   f"file is not UTF-8 text (byte 0x{raw[error.start]:02x} at byte {error.start}: "
                   f"{error.reason})", "save the file as UTF-8; Thai text in TIS-620 or Windows-874 "
                   "must be converted", "encoding")


_FRIENDLY_SYNTAX = (
    ("expected <block end>, but found",
     "this line is indented differently from the lines above it"),
    ("mapping values are not allowed here",
     "a ': ' appears where a value was expected; quote the text if it contains ': '"),
    ("could not find expected ':'", "a key has no ':' after it"),
    ("found character '\\t' that cannot start any token", "tab character; YAML indents with spaces only"),
    ("but found another document", "a second document (`---`) in one file; keep one"),
    ("found undefined alias", "an alias (*name) refers to no anchor (&name)"),
    ("found duplicate anchor", "the same anchor (&name) is defined twice"),
)


def _syntax_problem(file: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    detail = str(error.problem or error.context or "invalid YAML")
    message = f"YAML syntax error: {detail}"
    for needle, friendly in _FRIENDLY_SYNTAX:
        if needle in detail:
            message = f"YAML syntax error: {friendly} ({detail})"
            break
    hint = "check indentation, colons, quotes and brackets around this place"
    context = error.context_mark
    if error.context and context is not None and error.problem_mark is not None \
            and "block" not in str(error.context) \
            and (context.line, context.column) != (error.problem_mark.line, error.problem_mark.column):
        hint = (f"the trouble began at line {context.line + 1}, column {context.column + 1} "
                f"({str(error.context).removeprefix('while ')}); {hint}")
    return Problem(file, line, column, message, hint, "yaml-syntax")


_FAILED = object()
_RESOLVER = yaml.resolver.Resolver()
_TAG_START = re.compile(r"(?:^|[\s\[{,])!", re.MULTILINE)
# Plain scalars that YAML 1.1 may read as something other than text: numbers and dates start
# with a digit, sign or dot; booleans and null are a handful of words; `=` and `<<` are special.
_NUMERIC_FIRST = frozenset("+-.0123456789=<")
_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"})


def _resolve_plain(node: yaml.ScalarNode) -> None:
    """Give a plain scalar read by the base loader the tag the safe loader would have given it."""
    value = node.value
    if not node.style and (not value or value[0] in _NUMERIC_FIRST or value.lower() in _WORDS):
        node.tag = _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]  # untyped in the stubs
_ANCHOR = re.compile(r"(?<![&\w])&[^\s&,\[\]{}]")  # `&name`, not the `&&` of a condition


def _compose_precisely(source: str, file: str) -> tuple[Any, tuple[int, int] | None] | Problem:
    """Compose with the pure-Python loader, counting aliases and depth; return the root or a Problem."""
    loader: _CountingComposer | None = None
    try:
        loader = _CountingComposer(source)
        return loader.get_single_node(), loader.first_alias
    except _LoadError as error:
        return Problem(file, error.line, error.column, error.message, error.hint, error.code)
    except yaml.reader.ReaderError as error:
        line, column = line_column(source, error.position)
        character = error.character if isinstance(error.character, int) else 0
        return Problem(file, line, column,
                       f"file contains the control character U+{character:04X}, which YAML does not allow",
                       "remove it; a binary or corrupted file cannot be read as YAML", "encoding")
    except yaml.MarkedYAMLError as error:
        return _syntax_problem(file, error)
    except yaml.YAMLError as error:
        return Problem(file, 1, 1, f"YAML error: {error}", "", "yaml-syntax")
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(text: str | bytes, file: str) -> tuple[SourceDocument | None, list[Problem]]:
    """Parse one YAML file safely; return the document or the problems that stop it."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(file, 1, 1, f"file is too large ({len(raw)} bytes; the limit is "
                              f"{MAX_FILE_BYTES} bytes)", "split the permit type or shorten texts",
                              "file-too-large")]
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [_decoding_problem(raw, file, error)]
    source = source.removeprefix("\ufeff")
    has_anchor = "&" in source and _ANCHOR.search(source) is not None
    root: Any = None
    first_alias: tuple[int, int] | None = None
    # A `!` that could start a tag (not one inside a condition like `a && !b` in quotes) needs
    # the safe loader's own resolution, so that an explicit `!!str 5` stays text.
    fast = _FAST and not has_anchor and ("!" not in source or _TAG_START.search(source) is None)
    if _FAST and not has_anchor:
        # libyaml composes the tree about 20 times faster than pure Python. Without an anchor
        # (`&`) there can be no alias. On any error we read the file again in pure Python below,
        # whose messages and positions the problems are written for.
        loader = (_FAST_LOADER if fast else yaml.CSafeLoader)(source)
        try:
            root = loader.get_single_node()
        except yaml.YAMLError:
            root = _FAILED
        finally:
            loader.dispose()
    if root is None or root is _FAILED:
        fast = False
        composed = _compose_precisely(source, file)
        if isinstance(composed, Problem):
            return None, [composed]
        root, first_alias = composed
    if root is None:
        return None, [Problem(file, 1, 1, "file is empty", "start with the `language:` header", "empty")]
    document = SourceDocument(file=file, data=None, text=source)
    problems: list[Problem] = []
    constructor = yaml.SafeLoader("")
    if not has_anchor:
        try:
            document.data = _build_plain(root, fast, constructor)
        except _Irregular:
            constructor = yaml.SafeLoader("")
        else:
            document.pending_root, document.pending_resolve = root, fast
            return document, problems
    try:
        if has_anchor:
            _check_expansion(root, first_alias)
        budget = _Budget(first_alias)
        budget.plain_needs_resolving = fast
        budget.tracks_aliases = has_anchor
        document.data = _construct(root, (), document, problems, constructor, budget)
    except _LoadError as error:
        return None, [Problem(file, error.line, error.column, error.message, error.hint, error.code)]
    return document, problems


def _check_expansion(root: yaml.Node, first_alias: tuple[int, int] | None) -> None:
    """Refuse a document whose aliases would expand it past the limits, before building anything.

    Sizes and heights are computed once per distinct node, so an alias bomb is
    measured in microseconds instead of being expanded.
    """
    memo: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            line, column = _mark(node)
            raise _LoadError(line, column, "a YAML alias refers to the value that contains it",
                             "an anchor (&name) cannot be used inside itself", "yaml-aliases")
        if key not in memo:
            if depth > MAX_DEPTH:
                line, column = first_alias or _mark(node)
                raise _LoadError(line, column, f"YAML aliases nest values more than {MAX_DEPTH} levels deep",
                                 "write the values out instead of nesting aliases", "yaml-depth")
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            open_nodes.add(key)
            measured = [measure(child, depth + 1) for child in children]
            open_nodes.discard(key)
            memo[key] = (1 + sum(size for size, _ in measured), 1 + max((height for _, height in measured),
                                                                        default=0))
        size, height = memo[key]
        if depth + height - 1 > MAX_DEPTH:
            line, column = first_alias or _mark(node)
            raise _LoadError(line, column, f"YAML aliases nest values more than {MAX_DEPTH} levels deep",
                             "write the values out instead of nesting aliases", "yaml-depth")
        return size, height

    size, _ = measure(root, 1)
    if size > MAX_NODES:
        if first_alias is not None:
            raise _LoadError(*first_alias, f"YAML aliases expand this file to more than {MAX_NODES} values "
                             f"({size} values: an alias bomb); the first alias is here",
                             "write the values out; aliases that refer to aliases multiply the document",
                             "yaml-aliases")
        line, column = _mark(root)
        raise _LoadError(line, column, f"file has more than {MAX_NODES} values", "split the permit type",
                         "yaml-size")


def _reject_tag(node: yaml.Node, path: Path, document: SourceDocument, problems: list[Problem]) -> None:
    line, column = _mark(node)
    document.rejected.add(path)
    problems.append(Problem(
        document.file, line, column, f"YAML tag {_tag_name(node.tag)!r} is not allowed",
        "remove the tag; only plain text, numbers, true/false, dates, lists and mappings are read",
        "yaml-tag"))


def _scalar(node: yaml.ScalarNode, constructor: yaml.SafeLoader) -> Any:
    """Construct a standard scalar; YAML 1.1 accepts values Python cannot hold (2024-13-45, 10**5000)."""
    try:
        return constructor.construct_object(node)
    except (ValueError, OverflowError, yaml.YAMLError) as error:
        line, column = _mark(node)
        raise _ScalarError(line, column, f"cannot read the value {node.value[:40]!r}: {error}") from None


class _ScalarError(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _construct(node: yaml.Node, path: Path, document: SourceDocument, problems: list[Problem],
               constructor: yaml.SafeLoader, budget: _Budget) -> Any:
    if not budget.tracks_aliases:
        # No anchor in the file, so no alias: every node is met once. The count still bounds the
        # work should an anchor ever slip past `_ANCHOR`. The common case of a text value returns here.
        budget.nodes += 1
        if budget.nodes > MAX_NODES:
            line, column = _mark(node)
            raise _LoadError(line, column, f"file has more than {MAX_NODES} values", "split the permit type",
                             "yaml-size")
        if len(path) > MAX_DEPTH:
            line, column = _mark(node)
            raise _LoadError(line, column, f"values are nested more than {MAX_DEPTH} levels deep",
                             "a permit file needs only a few levels; look for unclosed [ or {", "yaml-depth")
        document.nodes[path] = node
        if node.__class__ is yaml.ScalarNode:
            if budget.plain_needs_resolving:
                _resolve_plain(node)
            if node.tag == _STR_TAG:
                return node.value
        return _construct_node(node, path, document, problems, constructor, budget)
    budget.nodes += 1
    if id(node) in budget.built:
        budget.alias_uses += 1
    if budget.nodes > MAX_NODES:
        line, column = _mark(node)
        if budget.alias_uses and budget.first_alias is not None:
            line, column = budget.first_alias
            raise _LoadError(line, column, f"YAML aliases expand this file to more than {MAX_NODES} values "
                             "(an alias bomb); the first alias is here",
                             "write the values out; aliases that refer to aliases multiply the document",
                             "yaml-aliases")
        raise _LoadError(line, column, f"file has more than {MAX_NODES} values",
                         "split the permit type", "yaml-size")
    if id(node) in budget.open:
        line, column = _mark(node)
        raise _LoadError(line, column, "a YAML alias refers to the value that contains it",
                         "an anchor (&name) cannot be used inside itself", "yaml-aliases")
    if len(path) > MAX_DEPTH:
        line, column = _mark(node)
        raise _LoadError(line, column, f"values are nested more than {MAX_DEPTH} levels deep",
                         "a permit file needs only a few levels; look for unclosed [ or {", "yaml-depth")
    budget.built.add(id(node))
    document.nodes.setdefault(path, node)
    budget.open.add(id(node))
    try:
        return _construct_node(node, path, document, problems, constructor, budget)
    finally:
        budget.open.discard(id(node))


def _construct_node(node: yaml.Node, path: Path, document: SourceDocument, problems: list[Problem],
                    constructor: yaml.SafeLoader, budget: _Budget) -> Any:
    if isinstance(node, yaml.ScalarNode):
        if budget.plain_needs_resolving:
            _resolve_plain(node)
        if node.tag not in _SCALAR_TAGS:
            _reject_tag(node, path, document, problems)
            return None
        if node.tag == _STR_TAG:
            return node.value
        try:
            return _scalar(node, constructor)
        except _ScalarError as error:
            document.rejected.add(path)
            problems.append(Problem(document.file, error.line, error.column, error.message,
                                    "put the value in quotes if it is text", "yaml-value"))
            return None
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode) and \
            node.tag != (_SEQ_TAG if isinstance(node, yaml.SequenceNode) else _MAP_TAG):
        _reject_tag(node, path, document, problems)
        return None
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, index), document, problems, constructor, budget)
                for index, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, path, document, problems, constructor, budget)
    line, column = _mark(node)
    raise _LoadError(line, column, "unsupported YAML node", "", "yaml-node")


def _construct_mapping(node: yaml.MappingNode, path: Path, document: SourceDocument, problems: list[Problem],
                       constructor: yaml.SafeLoader, budget: _Budget) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    first_seen: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        if budget.plain_needs_resolving and isinstance(key_node, yaml.ScalarNode):
            _resolve_plain(key_node)
        if key_node.tag == _STR_TAG and isinstance(key_node, yaml.ScalarNode) and key_node.value not in first_seen:
            key = key_node.value  # the common case, kept short: a plain text key seen once
            first_seen[key] = key_node
            document.key_nodes[(*path, key)] = key_node
            result[key] = _construct(value_node, (*path, key), document, problems, constructor, budget)
            continue
        line, column = _mark(key_node)
        if key_node.tag == "tag:yaml.org,2002:merge":
            problems.append(Problem(document.file, line, column, "YAML merge keys (<<) are not allowed",
                                    "write the keys out", "yaml-merge"))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(document.file, line, column, "mapping keys must be plain text",
                                    "", "yaml-key"))
            continue
        if key_node.tag not in _SCALAR_TAGS:
            _reject_tag(key_node, path, document, problems)
            continue
        try:
            key = key_node.value if key_node.tag == _STR_TAG else _scalar(key_node, constructor)
        except _ScalarError as error:
            problems.append(Problem(document.file, error.line, error.column, error.message,
                                    "put the key in quotes", "yaml-value"))
            continue
        key = key if isinstance(key, str) else str(key_node.value)
        if key in first_seen:
            problems.append(Problem(
                document.file, line, column, f"duplicate key {key!r}",
                f"{key!r} is already set at line {_mark(first_seen[key])[0]}; keep one of them",
                "duplicate-key"))
            continue
        first_seen[key] = key_node
        document.key_nodes[(*path, key)] = key_node
        result[key] = _construct(value_node, (*path, key), document, problems, constructor, budget)
    return result


_INT_TAG = "tag:yaml.org,2002:int"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_BOOLS: dict[str, bool] = dict(yaml.constructor.SafeConstructor.bool_values)


class _Irregular(Exception):
    """The file needs the careful reader: a tag, a key that is not unique text, a bad value, a limit."""


def _build_plain(root: yaml.Node, resolve_plain: bool, constructor: yaml.SafeLoader) -> Any:
    """Build the values of a file without anchors quickly, recording nothing; `_Irregular` for anything unusual.

    Gives exactly what `_construct` gives for such a file, whose problems it leaves to `_construct`.
    """
    count = 0
    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    resolve = _RESOLVER.resolve
    implicit = (True, False)
    numeric_first, words, str_tag = _NUMERIC_FIRST, _WORDS, _STR_TAG

    def scalar(node: Any) -> Any:
        if resolve_plain and not node.style:
            value = node.value
            if not value or value[0] in numeric_first or (len(value) < 6 and value.lower() in words):
                node.tag = resolve(scalar_node, value, implicit)  # type: ignore[no-untyped-call]  # untyped in the stubs
        tag = node.tag
        if tag == str_tag:
            return node.value
        if tag not in _SCALAR_TAGS:
            raise _Irregular
        value = node.value
        if tag == _INT_TAG and len(value) < 19 and value.isascii() and value.isdigit() and (
                value[0] != "0" or value == "0"):
            return int(value)  # what the safe constructor makes of a plain decimal
        if tag == _BOOL_TAG and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        try:
            return constructor.construct_object(node)
        except (ValueError, OverflowError, yaml.YAMLError):
            raise _Irregular from None

    def build(node: Any, depth: int) -> Any:
        # Text values, most of a file, are taken in the loops without a call of their own.
        nonlocal count
        count += 1
        kind = node.__class__
        if kind is scalar_node:
            return scalar(node)
        if count > MAX_NODES or (depth >= MAX_DEPTH and node.value):
            raise _Irregular  # a child would be too deep, or too many values: let the careful reader say so
        if kind is mapping_node:
            if node.tag != _MAP_TAG:
                raise _Irregular
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.__class__ is not scalar_node:
                    raise _Irregular
                key = key_node.value
                if resolve_plain and not key_node.style and (
                        not key or key[0] in numeric_first or (len(key) < 6 and key.lower() in words)):
                    key_node.tag = resolve(scalar_node, key, implicit)  # type: ignore[no-untyped-call]  # untyped in the stubs
                if key_node.tag != str_tag or key in result:
                    raise _Irregular
                if value_node.__class__ is scalar_node:
                    count += 1
                    value = value_node.value
                    if value_node.tag == str_tag and (
                            not resolve_plain or value_node.style
                            or (value and value[0] not in numeric_first
                                and (len(value) >= 6 or value.lower() not in words))):
                        result[key] = value
                    else:
                        result[key] = scalar(value_node)
                else:
                    result[key] = build(value_node, depth + 1)
            return result
        if kind is sequence_node:
            if node.tag != _SEQ_TAG:
                raise _Irregular
            items: list[Any] = []
            for item in node.value:
                if item.__class__ is scalar_node:
                    count += 1
                    value = item.value
                    if item.tag == str_tag and (
                            not resolve_plain or item.style
                            or (value and value[0] not in numeric_first
                                and (len(value) >= 6 or value.lower() not in words))):
                        items.append(value)
                    else:
                        items.append(scalar(item))
                else:
                    items.append(build(item, depth + 1))
            return items
        raise _Irregular

    data = build(root, 0)
    if count > MAX_NODES:
        raise _Irregular
    return data
