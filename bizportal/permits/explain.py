"""Conditions and fee formulas of a permit spec, explained in plain language.

Public pages show "only when the area of the premises is more than 200" next to
the condition itself. This module reads the small part of CEL that permit files
use (comparisons, `in`, `&&`, `||`, `!`, `? :`, arithmetic, `field.part`) into a
tree and words it with the form's field labels and option labels. Anything it
does not understand gives `None`, and the page shows only the expression.
It never evaluates anything; the engine does that with the real CEL library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Union

from ..i18n import format_baht, format_number
from ..i18n import gettext as _
from ..workflow.spec import FieldType, FormField

# --------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class Name:
    """A field, or a part of one (`premises_address.province_code`)."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Constant:
    value: str | float | int | bool


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    operator: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Choose:
    """`condition ? then : otherwise`."""

    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Node, ...]


Node = Union[Name, Constant, ListOf, Unary, Binary, Choose, Call]  # noqa: UP007 (used at runtime)


class NotExplainable(Exception):
    """The expression uses something this reader does not word."""


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>\d+\.\d*|\.\d+|\d+)(?P<unsigned>u)?
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<operator>&&|\|\||==|!=|<=|>=|[<>!+\-*/%?:()\[\],.])
    )""", re.VERBOSE)

_BINARY_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "in": 3,
                      "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    source = source.strip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise NotExplainable(source[position:])
        position = match.end()
        if match["number"] is not None:
            tokens.append(("number", match["number"]))
        elif match["string"] is not None:
            tokens.append(("string", match["string"]))
        elif match["name"] is not None:
            name = match["name"]
            tokens.append(("operator", name) if name == "in" else ("name", name))
        else:
            tokens.append(("operator", match["operator"]))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (text is not None and token[1] != text):
            raise NotExplainable(f"expected {text}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.expression()
        if self.peek() is not None:
            raise NotExplainable("trailing input")
        return node

    def expression(self) -> Node:
        condition = self.binary(1)
        token = self.peek()
        if token is not None and token[1] == "?":
            self.take("?")
            then = self.expression()
            self.take(":")
            return Choose(condition, then, self.expression())
        return condition

    def binary(self, minimum: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            if token is None or token[0] != "operator" or token[1] not in _BINARY_PRECEDENCE:
                return left
            precedence = _BINARY_PRECEDENCE[token[1]]
            if precedence < minimum:
                return left
            self.take()
            left = Binary(token[1], left, self.binary(precedence + 1))

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token[1] in ("!", "-"):
            self.take()
            return Unary(token[1], self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        node: Node
        if kind == "number":
            node = Constant(float(text) if "." in text else int(text))
        elif kind == "string":
            node = Constant(_unquote(text))
        elif kind == "name" and text in ("true", "false"):
            node = Constant(text == "true")
        elif kind == "name":
            following = self.peek()
            if following is not None and following[1] == "(":
                node = Call(text, self._arguments(")"))
            else:
                path = [text]
                while (following := self.peek()) is not None and following[1] == ".":
                    self.take(".")
                    part = self.take()
                    if part[0] != "name" or ((after := self.peek()) is not None and after[1] == "("):
                        raise NotExplainable("method call")
                    path.append(part[1])
                node = Name(tuple(path))
        elif text == "(":
            node = self.expression()
            self.take(")")
        elif text == "[":
            self.position -= 1
            node = ListOf(self._arguments("]", opening="["))
        else:
            raise NotExplainable(text)
        return node

    def _arguments(self, closing: str, opening: str = "(") -> tuple[Node, ...]:
        self.take(opening)
        items: list[Node] = []
        while (token := self.peek()) is not None and token[1] != closing:
            items.append(self.expression())
            if (token := self.peek()) is not None and token[1] == ",":
                self.take(",")
        self.take(closing)
        return tuple(items)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _unquote(literal: str) -> str:
    """The text of a CEL string literal (quotes removed, simple escapes resolved)."""
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match[1], match[0]), literal[1:-1])


def _is_number(node: Node) -> bool:
    return isinstance(node, Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def parse(source: str) -> Node:
    """Read `source` into a tree; raises `NotExplainable` for anything outside the subset."""
    try:
        return _Parser(source).parse()
    except RecursionError:
        raise NotExplainable("nested too deeply") from None


# --------------------------------------------------------------------------- fee ranges

def amount_range(node: Node) -> tuple[float, float] | None:
    """Lowest and highest amount a formula can give, when it only chooses between constants."""
    if _is_number(node):
        assert isinstance(node, Constant) and not isinstance(node.value, str)
        return float(node.value), float(node.value)
    if isinstance(node, Choose):
        then, otherwise = amount_range(node.then), amount_range(node.otherwise)
        if then is None or otherwise is None:
            return None
        return min(then[0], otherwise[0]), max(then[1], otherwise[1])
    return None


# --------------------------------------------------------------------------- wording

def _address_part(part: str) -> str:
    labels = {
        "house_no": _("house number"), "building": _("building"), "moo": _("village number (moo)"),
        "village": _("village"), "soi": _("soi"), "road": _("road"), "subdistrict": _("subdistrict"),
        "district": _("district"), "province": _("province"), "province_code": _("province code"),
        "postcode": _("postcode"),
    }
    return labels.get(part, part)


@dataclass(frozen=True)
class FormulaCase:
    """One case of a fee formula: `when` (None for "otherwise") and what is charged."""

    when: str | None
    amount: Formula


@dataclass(frozen=True)
class Formula:
    """A fee formula explained: a single amount text, or cases to choose from."""

    text: str | None = None
    cases: tuple[FormulaCase, ...] = field(default_factory=tuple)


class Explainer:
    """Words expressions of one form in the current language."""

    def __init__(self, fields: Mapping[str, FormField], locale: str) -> None:
        self.fields = fields
        self.locale = locale

    # public

    def condition(self, source: str) -> str | None:
        """Plain-language wording of a condition, or None when it cannot be worded."""
        try:
            return self._condition(parse(source))
        except (NotExplainable, RecursionError):
            return None

    def formula(self, source: str) -> Formula | None:
        """A fee formula as an amount or as cases, or None when it cannot be worded."""
        try:
            return self._formula(parse(source))
        except (NotExplainable, RecursionError):
            return None

    # conditions

    def _label(self, node: Node) -> str:
        if not isinstance(node, Name):
            raise NotExplainable("not a field")
        form_field = self.fields.get(node.path[0])
        if form_field is None or len(node.path) > 2:
            raise NotExplainable("unknown field")
        label = f"“{form_field.label.get(self.locale)}”"
        if len(node.path) == 2:
            if form_field.type is not FieldType.THAI_ADDRESS:
                raise NotExplainable("member of a non-address field")
            label = _("%(part)s of %(field)s", part=_address_part(node.path[1]), field=label)
        return label

    def _field(self, node: Node) -> FormField | None:
        return self.fields.get(node.path[0]) if isinstance(node, Name) and len(node.path) == 1 else None

    def _literal(self, node: Node, form_field: FormField | None) -> str:
        if isinstance(node, Constant):
            if isinstance(node.value, bool):
                return _("yes") if node.value else _("no")
            if isinstance(node.value, (int, float)):
                return format_number(node.value, self.locale)
            if form_field is not None:
                for option in form_field.options:
                    if option.value == node.value:
                        return f"“{option.label.get(self.locale)}”"
            return f"“{node.value}”"
        if isinstance(node, ListOf):
            return ", ".join(self._literal(item, form_field) for item in node.items)
        return self._value(node)

    def _condition(self, node: Node, negated: bool = False) -> str:
        if isinstance(node, Unary) and node.operator == "!":
            return self._condition(node.operand, not negated)
        if isinstance(node, Name):
            form_field = self._field(node)
            if form_field is None or form_field.type not in (FieldType.YES_NO, FieldType.DECLARATION,
                                                             FieldType.FILE):
                raise NotExplainable("bare non-boolean")
            if form_field.type is FieldType.FILE:
                text = _("%(field)s is not attached") if negated else _("%(field)s is attached")
                return text % {"field": self._label(node)}
            text = _("the answer to %(field)s is “no”") if negated else _("the answer to %(field)s is “yes”")
            return text % {"field": self._label(node)}
        if isinstance(node, Binary) and node.operator in ("&&", "||"):
            if negated:
                return _("it is not the case that %(condition)s", condition=self._condition(node))
            joiner = _("%(left)s and %(right)s") if node.operator == "&&" else _("%(left)s or %(right)s")
            return joiner % {"left": self._condition(node.left), "right": self._condition(node.right)}
        if isinstance(node, Binary) and node.operator == "in":
            return self._membership(node, negated)
        if isinstance(node, Binary) and node.operator in ("==", "!=", "<", "<=", ">", ">="):
            return self._comparison(node, negated)
        if isinstance(node, Constant) and isinstance(node.value, bool):
            return _("always") if node.value != negated else _("never")
        raise NotExplainable("condition")

    def _membership(self, node: Binary, negated: bool) -> str:
        if isinstance(node.right, ListOf):
            text = _("%(field)s is not one of %(values)s") if negated else _("%(field)s is one of %(values)s")
            return text % {"field": self._label(node.left),
                           "values": self._literal(node.right, self._field(node.left))}
        if isinstance(node.left, Constant):
            text = _("%(field)s does not include %(value)s") if negated else _("%(field)s includes %(value)s")
            return text % {"field": self._label(node.right), "value": self._literal(node.left,
                                                                                      self._field(node.right))}
        raise NotExplainable("membership")

    def _comparison(self, node: Binary, negated: bool) -> str:
        left, right, operator = node.left, node.right, node.operator
        if isinstance(left, Constant) and not isinstance(right, Constant):
            left, right = right, left
            operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(operator, operator)
        if negated:
            operator = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[operator]
        words: dict[str, Callable[[], str]] = {
            "==": lambda: _("%(field)s is %(value)s"),
            "!=": lambda: _("%(field)s is not %(value)s"),
            "<": lambda: _("%(field)s is less than %(value)s"),
            "<=": lambda: _("%(field)s is at most %(value)s"),
            ">": lambda: _("%(field)s is more than %(value)s"),
            ">=": lambda: _("%(field)s is at least %(value)s"),
        }
        subject = self._label(left) if isinstance(left, Name) else self._value(left)
        return words[operator]() % {"field": subject, "value": self._literal(right, self._field(left))}

    # amounts

    def _value(self, node: Node) -> str:
        if isinstance(node, Constant) and not isinstance(node.value, (bool, str)):
            return format_number(node.value, self.locale)
        if isinstance(node, Name):
            return self._label(node)
        if isinstance(node, Binary) and node.operator in ("+", "-", "*", "/", "%"):
            symbol = {"*": "×", "/": "÷", "%": "mod"}.get(node.operator, node.operator)
            return f"({self._value(node.left)} {symbol} {self._value(node.right)})"
        if isinstance(node, Call) and node.function in ("double", "int") and len(node.arguments) == 1:
            return self._value(node.arguments[0])
        raise NotExplainable("value")

    def _formula(self, node: Node) -> Formula:
        if isinstance(node, Choose):
            cases: list[FormulaCase] = []
            current: Node = node
            while isinstance(current, Choose):
                cases.append(FormulaCase(self._condition(current.condition), self._formula(current.then)))
                current = current.otherwise
            cases.append(FormulaCase(None, self._formula(current)))
            return Formula(cases=tuple(cases))
        if _is_number(node):
            assert isinstance(node, Constant) and not isinstance(node.value, str)
            return Formula(text=format_baht(node.value, self.locale))
        value = self._value(node)
        if value.startswith("(") and value.endswith(")"):
            value = value[1:-1]
        return Formula(text=_("%(amount)s baht", amount=value))
