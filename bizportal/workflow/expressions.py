"""Conditions and fee formulas in CEL, the Common Expression Language.

We use Google's C++ implementation through `cel-expr-python`: it type-checks an
expression against declared variable types before anything runs, and reports the
position of a mistake. Each form field becomes a typed CEL variable (see
`CEL_TYPES`), expressions are compiled once per published version and evaluated
many times. There is no Python `eval` anywhere. docs/expressions.md explains the
choice and the measurements behind it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

from .spec import FieldType, FormField

ADDRESS_KEYS = ("house_no", "building", "moo", "village", "soi", "road", "subdistrict", "district",
                "province", "province_code", "postcode")

_MAP = cel.Type.Map(cel.Type.STRING, cel.Type.STRING)

CEL_TYPES: dict[FieldType, Any] = {
    FieldType.TEXT: cel.Type.STRING,
    FieldType.TEXTAREA: cel.Type.STRING,
    FieldType.NUMBER: cel.Type.DOUBLE,
    FieldType.MONEY: cel.Type.DOUBLE,
    FieldType.AREA_M2: cel.Type.DOUBLE,
    FieldType.INTEGER: cel.Type.INT,
    FieldType.DATE: cel.Type.TIMESTAMP,
    FieldType.CHOICE: cel.Type.STRING,
    FieldType.MULTI_CHOICE: cel.Type.List(cel.Type.STRING),
    FieldType.YES_NO: cel.Type.BOOL,
    FieldType.DECLARATION: cel.Type.BOOL,
    FieldType.FILE: cel.Type.BOOL,
    FieldType.CITIZEN_ID: cel.Type.STRING,
    FieldType.JURISTIC_ID: cel.Type.STRING,
    FieldType.PHONE: cel.Type.STRING,
    FieldType.EMAIL: cel.Type.STRING,
    FieldType.THAI_ADDRESS: _MAP,
}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_ZERO: dict[FieldType, Any] = {
    FieldType.NUMBER: 0.0, FieldType.MONEY: 0.0, FieldType.AREA_M2: 0.0, FieldType.INTEGER: 0,
    FieldType.DATE: _EPOCH, FieldType.MULTI_CHOICE: [], FieldType.YES_NO: False,
    FieldType.DECLARATION: False, FieldType.FILE: False,
    FieldType.THAI_ADDRESS: {key: "" for key in ADDRESS_KEYS},
}

_STRING_LITERAL = re.compile(r'''(?x)
    [rRbB]{0,2}(?:"""(?:.|\n)*?"""|\'\'\'(?:.|\n)*?\'\'\'|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')''')
_IDENTIFIER = re.compile(r"(?<![.\w])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
             "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
             "void", "while", "int", "uint", "double", "string", "bool", "bytes", "list", "map",
             "type", "null_type", "dyn", "timestamp", "duration"}
_CEL_ERROR = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")


class ExpressionError(Exception):
    """An expression that does not parse or type-check; `line`/`column` are inside the expression."""

    def __init__(self, message: str, line: int = 1, column: int = 1, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.line, self.column, self.hint = message, line, column, hint


def referenced_names(source: str) -> set[str]:
    """Return the top-level variable names an expression reads (string literals ignored).

    Used to check that a condition only reads answers asked *before* it, and to
    pass an expression only the answers it needs.
    """
    stripped = _STRING_LITERAL.sub('""', source)
    names = set(_IDENTIFIER.findall(stripped))
    # Comprehension variables (`list.exists(x, x > 1)`) are not answers.
    for macro_var in re.findall(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,",
                                stripped):
        names.discard(macro_var)
    return names - _RESERVED


def first_reference(source: str, name: str) -> int:
    """Offset in `source` of the first place it reads `name` (string literals ignored), else 0."""
    blanked = _STRING_LITERAL.sub(lambda match: " " * len(match[0]), source)
    match = re.search(rf"(?<![.\w]){re.escape(name)}\b(?!\s*\()", blanked)
    return match.start() if match else 0


_OVERLOAD = re.compile(r"found no matching overload for '([^']*)' applied to '\((.*)\)'")
_OPERATORS = {"_>_": ">", "_<_": "<", "_>=_": ">=", "_<=_": "<=", "_==_": "==", "_!=_": "!=",
              "_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "@in": "in",
              "_&&_": "&&", "_||_": "||", "!_": "!", "-_": "-"}
_TYPE_WORDS = {"double": "a decimal number", "int": "a whole number", "uint": "a whole number",
               "string": "text", "bool": "true/false", "timestamp": "a date",
               "list(string)": "a list of text",
               "list(int)": "a list of whole numbers", "list(double)": "a list of decimal numbers",
               "map(string, string)": "an address", "null_type": "null"}


def _split_types(types: str) -> list[str]:
    """Split CEL's `double, list(int), map(string, string)` at top-level commas."""
    parts, depth, current = [], 0, ""
    for character in types:
        if character == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(character, 0)
        current += character
    return [*parts, current.strip()] if current.strip() else parts


def _describe_type(cel_type: str) -> str:
    return f"{_TYPE_WORDS[cel_type]} ({cel_type})" if cel_type in _TYPE_WORDS else cel_type


def _friendly_message(message: str) -> str:
    """Say in plain words what CEL's checker or parser reports."""
    overload = _OVERLOAD.search(message)
    if overload:
        function, types = overload[1], _split_types(overload[2])
        if function == "_?_:_" and len(types) == 3:
            if types[0] != "bool":
                return f"the condition before `?` must be true or false, not {_describe_type(types[0])}"
            return (f"the two results of `? :` must have the same type, not {_describe_type(types[1])} "
                    f"and {_describe_type(types[2])}")
        operator = _OPERATORS.get(function, function)
        described = [_describe_type(item) for item in types]
        joined = described[0] if len(described) == 1 else f"{', '.join(described[:-1])} and {described[-1]}"
        return f"cannot use {operator!r} with {joined}"
    if message.startswith("Syntax error: mismatched input '<EOF>'") or "at '<EOF>'" in message:
        return "Syntax error: the expression ends too early" + (
            f" ({message.removeprefix('Syntax error: ')})" if "missing" in message else "")
    expecting = re.match(r"Syntax error: (?:extraneous|mismatched) input '(.*)' expecting", message)
    if expecting:
        return f"Syntax error: unexpected {expecting[1]!r}"
    return message


def _overload_hint(function: str, types: list[str]) -> str:
    if function == "_?_:_" and len(types) == 3:
        if types[0] != "bool":
            return "start with a comparison: area_m2 > 200.0 ? 2000 : 500"
        if {types[1], types[2]} == {"int", "double"}:
            return "write both results alike: 2000.0 : 500.0, or 2000 : 500"
        return "both results must be numbers, or both text"
    words = {word for item in types for word in re.findall(r"\w+", item)}
    if {"int", "double"} <= words:
        return ("CEL does not mix whole numbers and decimals: number, money and area_m2 answers are "
                "decimals, so write 200.0, not 200; integer answers are whole numbers, so write 10, "
                "not 10.0; "
                "or convert with double(...) or int(...)")
    if function in {"_==_", "_!=_"} and any(item.startswith("list(") for item in types):
        return 'a multi_choice answer is a list: write "value" in field_id'
    if len(types) == 1:
        return f"{_OPERATORS.get(function, function)!r} does not work on {_describe_type(types[0])}"
    return "both sides of a comparison or calculation must have the same type; text values need double quotes"


def _hint_for(message: str, source: str) -> str:
    overload = _OVERLOAD.search(message)
    if overload:
        return _overload_hint(overload[1], _split_types(overload[2]))
    if "undeclared reference" in message:
        return "use the `id` of a form field; text values need double quotes"
    if "Syntax error" in message:
        if "'and'" in message or "'or'" in message:
            return "write && for and, || for or, ! for not"
        if "'= '" in message or "'='" in message:
            return "compare with ==; a single = is not allowed"
        return "CEL uses && || ! == != < <= > >= in, cond ? a : b, and \"double quotes\" for text"
    return ""


def _is_call(source: str, line: int, column: int, name: str) -> bool:
    """True when the name CEL points at is followed by `(`: a function, not a field."""
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return False
    text = lines[line - 1]
    start = text.rfind(name, 0, column - 1 + len(name))
    return start >= 0 and text[start + len(name):].lstrip().startswith("(")


# Field types by the CEL type they declare: `text` and `choice` answers are both strings.
_CEL_KIND: dict[FieldType, FieldType] = {
    kind: next(other for other in FieldType if CEL_TYPES[other] is CEL_TYPES[kind]) for kind in FieldType}


@lru_cache(maxsize=4096)
def _names(source: str) -> frozenset[str]:
    return frozenset(referenced_names(source))


@lru_cache(maxsize=1024)
def _signature_env(signature: tuple[tuple[str, FieldType], ...]) -> Any:
    """A CEL environment declaring just the variables of `signature`."""
    return cel.NewEnv(variables={name: CEL_TYPES[kind] for name, kind in signature})


@lru_cache(maxsize=16384)
def _compile_for(source: str, signature: tuple[tuple[str, FieldType], ...]) -> Any:
    """Compile `source` against the variables it reads: the same expression over the same types is checked once."""
    return _signature_env(signature).compile(source)


class FormEnvironment:
    """The CEL environment of one form: one typed variable per field.

    Checking an expression depends only on its text and the types of the fields it
    reads, so it is compiled against an environment of just those (shared between
    forms, and cached); the environment of every field is built only for an
    expression that fails, so that CEL words the mistake exactly as before.
    """

    __slots__ = ("fields", "_env")

    def __init__(self, fields: Mapping[str, FormField], env: Any = None) -> None:
        self.fields: Mapping[str, FormField] = fields
        self._env = env

    @classmethod
    def for_fields(cls, fields: Mapping[str, FormField]) -> FormEnvironment:
        """Declare every field of the form as a typed CEL variable."""
        return cls(fields=dict(fields))

    @property
    def env(self) -> Any:
        """The CEL environment with every field declared."""
        if self._env is None:
            self._env = cel.NewEnv(variables={name: CEL_TYPES[field.type] for name, field in self.fields.items()})
        return self._env

    def compile(self, source: str, expected: str) -> CompiledExpression:
        """Parse and type-check `source`; `expected` is "bool" or "number"."""
        fields = self.fields
        names = frozenset(name for name in _names(source) if name in fields)
        signature = tuple(sorted((name, _CEL_KIND[fields[name].type]) for name in names))
        try:
            try:
                compiled = _compile_for(source, signature)
            except RuntimeError:
                # Word the mistake exactly as before: ask again with every field declared.
                compiled = self.env.compile(source)
        except RuntimeError as error:
            text = str(error)
            match = _CEL_ERROR.search(text)
            if match:
                line, column, message = int(match[1]), int(match[2]), match[3].strip()
            else:
                line, column, message = 1, 1, text.splitlines()[0] if text else "invalid expression"
            message = message.replace(" (in container '')", "")
            hint = _hint_for(message, source)
            if message.startswith("undeclared reference to"):
                name = message.split("'")[1] if "'" in message else ""
                if name and _is_call(source, line, column, name):
                    message, hint = f"unknown function {name!r}", "see docs/expressions.md for the functions"
                else:
                    message = f"unknown field {name!r}" if name else message
            raise ExpressionError(_friendly_message(message), line, column, hint) from None
        result_type = compiled.return_type().name().lower()
        if expected == "bool" and result_type != "bool":
            raise ExpressionError(f"a condition must be true or false, but this gives {result_type}",
                                  hint="compare the answer, e.g. area_m2 > 200.0")
        if expected == "number" and result_type not in {"int", "double"}:
            raise ExpressionError(f"a fee must be a number of baht, but this gives {result_type}",
                                  hint="e.g. licence_type == \"retail\" ? 330 : 5500")
        return CompiledExpression(source=source, compiled=compiled, names=names,
                                  fields={name: self.fields[name] for name in names})


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression with the field ids it reads."""

    source: str
    compiled: Any
    names: frozenset[str]
    fields: Mapping[str, FormField]

    def evaluate(self, answers: Mapping[str, Any]) -> Any:
        """Evaluate with `answers`; an unanswered field counts as its type's zero value."""
        data = {name: to_cel_value(field, answers.get(name)) for name, field in self.fields.items()}
        result = self.compiled.eval(data=data)
        if result.type().name().lower() == "error":
            raise ExpressionError(f"evaluation failed: {result.value()}")
        return result.value()


def to_cel_value(field: FormField, value: Any) -> Any:
    """Convert a stored answer to the CEL value of its field type."""
    if value is None or value == "":
        return _ZERO.get(field.type, "")
    kind = field.type
    if kind in {FieldType.NUMBER, FieldType.MONEY, FieldType.AREA_M2}:
        return float(value)
    if kind is FieldType.INTEGER:
        return int(value)
    if kind in {FieldType.YES_NO, FieldType.DECLARATION, FieldType.FILE}:
        return bool(value)
    if kind is FieldType.DATE:
        day = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    if kind is FieldType.MULTI_CHOICE:
        return [str(item) for item in value]
    if kind is FieldType.THAI_ADDRESS:
        return {key: str(value.get(key) or "") for key in ADDRESS_KEYS}
    return str(value)


@lru_cache(maxsize=1)
def _constant_env() -> Any:
    return cel.NewEnv(variables={})


def constant_value(source: str, names: Iterable[str]) -> Any | None:
    """Return the value of an expression that reads no answer (e.g. `false`), else None."""
    if set(names):
        return None
    try:
        result = _constant_env().compile(source).eval(data={})
    except RuntimeError:
        return None
    return None if result.type().name().lower() == "error" else result.value()
