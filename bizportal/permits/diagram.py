"""The route of a permit version drawn as SVG, on the server, from its spec alone.

`route_svg(spec, ...)` is a pure function: the same spec, locale and labels give
the same SVG text. It is built with `xml.etree.ElementTree`, which escapes every
text and attribute, so a title like `<script>` stays text. Stages are boxes with
their agency and time limit; a parallel block puts its branches side by side
between a split and a join bar; a choose block puts its options side by side
under their conditions; a stage or block with `when` is drawn dashed with its
condition. Thai text is measured without its combining marks (they take no
width) and wrapped by characters, since Thai has no spaces between words.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..workflow.spec import Choose, Parallel, PermitSpec, RouteNode, Stage, Text

FONT_FAMILY = "Sarabun, 'Noto Sans Thai', Tahoma, sans-serif"
FONT_SIZE = 13
LINE_HEIGHT = 17
CHARACTER_WIDTH = 7.2
STAGE_WIDTH = 250
PADDING = 8
GAP = 28
BRANCH_GAP = 20
MARKER_HEIGHT = 6
LABEL_CHARACTERS = int((STAGE_WIDTH - 2 * PADDING) / CHARACTER_WIDTH)

STROKE = "#33475b"
STAGE_FILL = "#f3f7fb"
CONDITION_COLOUR = "#8a4b00"
BLOCK_COLOUR = "#5a6b7b"

Draw = Callable[[ET.Element, float, float], None]


@dataclass(frozen=True)
class DiagramLabels:
    """The words around the spec's own text, in the page's language (the caller translates them).

    `days` and `when` are templates with `{days}` and `{condition}`; the others are plain.
    """

    days: str = "within {days} working days"
    when: str = "only when: {condition}"
    otherwise: str = "in all other cases"
    parallel: str = "at the same time; all must approve"
    choose: str = "only one of these routes"
    then: str = "then: {step}"
    decided: str = "the application is decided"
    start: str = "Submitted"
    end: str = "Decision"


@dataclass(frozen=True)
class _Layout:
    width: float
    height: float
    draw: Draw


def text_width(text: str) -> float:
    """Roughly how wide `text` is drawn, in pixels: combining marks (Thai vowels above and below) take none."""
    return sum(0 if _is_mark(character) else CHARACTER_WIDTH for character in text)


def wrap(text: str, limit: int = LABEL_CHARACTERS) -> list[str]:
    """Split `text` into lines of at most `limit` spacing characters, at spaces where there are any."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if _spacing_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for character in word:
            if _spacing_length(current + character) > limit and _may_break(current, character):
                lines.append(current)
                current = ""
            current += character
    if current or not lines:
        lines.append(current)
    return lines


def _is_mark(character: str) -> bool:
    """Marks drawn above or below the letter before them (Thai vowels and tones): no width of their own."""
    return unicodedata.category(character) == "Mn"


THAI_NO_LINE_START = frozenset("ะาำๅๆฯ")
THAI_NO_LINE_END = frozenset("เแโใไ")


def _may_break(before: str, character: str) -> bool:
    """A line may end before `character`: not inside a Thai syllable's marks or vowels."""
    return bool(before) and not _is_mark(character) and character not in THAI_NO_LINE_START \
        and before[-1] not in THAI_NO_LINE_END


def _spacing_length(text: str) -> int:
    return sum(0 if _is_mark(character) else 1 for character in text)


def route_svg(spec: PermitSpec, locale: str, agency_names: Mapping[str, str] | None = None,
              labels: DiagramLabels | None = None) -> str:
    """The route of `spec` as an SVG document (text), titles in `locale` ("th" or "en").

    `agency_names` maps agency ids to the names to show (ids are shown for the
    others); `labels` gives the surrounding words in the page's language.
    """
    words = labels or DiagramLabels()
    names = agency_names or {}
    body = _sequence(spec.permit.route, locale, names, words)
    start = _terminal(words.start)
    end = _terminal(words.end)
    width = max(body.width, start.width, end.width) + 2 * GAP
    height = start.height + GAP + body.height + GAP + end.height + 2 * PADDING
    svg = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "version": "1.1", "class": "route-diagram",
        "width": _number(width), "height": _number(height), "viewBox": f"0 0 {_number(width)} {_number(height)}",
        "font-family": FONT_FAMILY, "font-size": str(FONT_SIZE), "role": "img",
    })
    title = ET.SubElement(svg, "title")
    title.text = _text(spec.permit.title, locale)
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(defs, "marker", {"id": "arrow", "viewBox": "0 0 10 10", "refX": "9", "refY": "5",
                                            "markerWidth": "7", "markerHeight": "7", "orient": "auto"})
    ET.SubElement(marker, "path", {"d": "M0,0 L10,5 L0,10 z", "fill": STROKE})
    centre = width / 2
    y: float = PADDING
    start.draw(svg, centre - start.width / 2, y)
    y += start.height
    _arrow(svg, centre, y, y + GAP)
    y += GAP
    body.draw(svg, centre - body.width / 2, y)
    y += body.height
    _arrow(svg, centre, y, y + GAP)
    y += GAP
    end.draw(svg, centre - end.width / 2, y)
    return ET.tostring(svg, encoding="unicode")


def _text(value: Text | None, locale: str) -> str:
    if value is None:
        return ""
    return value.en if locale == "en" else value.th


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _arrow(parent: ET.Element, x: float, top: float, bottom: float) -> None:
    ET.SubElement(parent, "line", {"x1": _number(x), "y1": _number(top), "x2": _number(x),
                                   "y2": _number(bottom - 1), "stroke": STROKE, "stroke-width": "1.5",
                                   "marker-end": "url(#arrow)", "class": "sequence"})


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, colour: str = STROKE) -> None:
    ET.SubElement(parent, "line", {"x1": _number(x1), "y1": _number(y1), "x2": _number(x2), "y2": _number(y2),
                                   "stroke": colour, "stroke-width": "1.5"})


def _write(parent: ET.Element, lines: Sequence[str], x: float, y: float, *, anchor: str = "middle",
           weight: str = "normal", colour: str = "#1b2733", css_class: str = "") -> None:
    for index, line in enumerate(lines):
        attributes = {"x": _number(x), "y": _number(y + (index + 1) * LINE_HEIGHT - 4), "text-anchor": anchor,
                      "font-weight": weight, "fill": colour}
        if css_class:
            attributes["class"] = css_class
        element = ET.SubElement(parent, "text", attributes)
        element.text = line


def _terminal(label: str) -> _Layout:
    lines = wrap(label)
    width = max(text_width(line) for line in lines) + 4 * PADDING
    height = len(lines) * LINE_HEIGHT + PADDING

    def draw(parent: ET.Element, x: float, y: float) -> None:
        ET.SubElement(parent, "rect", {"x": _number(x), "y": _number(y), "width": _number(width),
                                       "height": _number(height), "rx": _number(height / 2), "fill": "#ffffff",
                                       "stroke": STROKE, "stroke-width": "1.5", "class": "terminal"})
        _write(parent, lines, x + width / 2, y + PADDING / 2, weight="bold")

    return _Layout(width, height, draw)


def _sequence(nodes: Sequence[RouteNode], locale: str, names: Mapping[str, str],
              words: DiagramLabels) -> _Layout:
    parts = [_node(node, locale, names, words) for node in nodes]
    width = max(part.width for part in parts)
    height = sum(part.height for part in parts) + GAP * (len(parts) - 1)

    def draw(parent: ET.Element, x: float, y: float) -> None:
        centre = x + width / 2
        for index, part in enumerate(parts):
            if index:
                _arrow(parent, centre, y - GAP, y)
            part.draw(parent, centre - part.width / 2, y)
            y += part.height + GAP

    return _Layout(width, height, draw)


def _node(node: RouteNode, locale: str, names: Mapping[str, str], words: DiagramLabels) -> _Layout:
    if isinstance(node, Stage):
        return _stage(node, locale, names, words)
    if isinstance(node, Parallel):
        return _block(node, [(branch.id, _text(branch.title, locale), None, branch.steps)
                             for branch in node.parallel], locale, names, words)
    assert isinstance(node, Choose)
    return _block(node, [(option.id, _text(option.title, locale), option.when, option.steps)
                         for option in node.choose], locale, names, words)


def _jump_lines(node: RouteNode, words: DiagramLabels) -> list[str]:
    if node.next is None:
        return []
    return wrap(words.decided if node.next == "end" else words.then.format(step=node.next))


def _stage(stage: Stage, locale: str, names: Mapping[str, str], words: DiagramLabels) -> _Layout:
    title = wrap(_text(stage.title, locale))
    agency = wrap(names.get(stage.agency, stage.agency))
    days = wrap(words.days.format(days=stage.time_limit_days))
    condition = wrap(words.when.format(condition=stage.when)) if stage.when else []
    jump = _jump_lines(stage, words)
    rows = len(title) + len(agency) + len(days) + len(condition) + len(jump)
    width = STAGE_WIDTH
    height = rows * LINE_HEIGHT + 2 * PADDING

    def draw(parent: ET.Element, x: float, y: float) -> None:
        group = ET.SubElement(parent, "g", {"class": "stage conditional" if stage.when else "stage",
                                            "id": f"diagram-stage-{stage.id}"})
        rect = {"x": _number(x), "y": _number(y), "width": _number(width), "height": _number(height), "rx": "6",
                "fill": STAGE_FILL, "stroke": STROKE, "stroke-width": "1.5"}
        if stage.when:
            rect.update({"stroke-dasharray": "6 4", "stroke": CONDITION_COLOUR})
        ET.SubElement(group, "rect", rect)
        centre = x + width / 2
        top = y + PADDING
        for lines, options in ((title, {"weight": "bold", "css_class": "stage-title"}),
                               (agency, {"css_class": "stage-agency"}),
                               (days, {"css_class": "stage-days", "colour": BLOCK_COLOUR}),
                               (condition, {"css_class": "stage-when", "colour": CONDITION_COLOUR}),
                               (jump, {"css_class": "stage-next", "colour": BLOCK_COLOUR})):
            _write(group, lines, centre, top, **options)
            top += len(lines) * LINE_HEIGHT

    return _Layout(width, height, draw)


def _block(node: Parallel | Choose, branches: list[tuple[str, str, str | None, Sequence[RouteNode]]],
           locale: str, names: Mapping[str, str], words: DiagramLabels) -> _Layout:
    parallel = isinstance(node, Parallel)
    heading = wrap(_text(node.title, locale) or node.id, LABEL_CHARACTERS + 10)
    note = wrap(words.parallel if parallel else words.choose, LABEL_CHARACTERS + 10)
    condition = wrap(words.when.format(condition=node.when), LABEL_CHARACTERS + 10) \
        if isinstance(node, Parallel) and node.when else []
    header_lines = heading + note + condition
    jump = _jump_lines(node, words)
    columns: list[tuple[list[str], _Layout, str]] = []
    for branch_id, title, when, steps in branches:
        label = [title] if title else []
        if not parallel:
            label.append(words.when.format(condition=when) if when else words.otherwise)
        label_lines = [line for text in label for line in wrap(text)]
        columns.append((label_lines, _sequence(steps, locale, names, words), branch_id))
    label_height = max(len(lines) for lines, _, _ in columns) * LINE_HEIGHT
    inner_width = sum(layout.width for _, layout, _ in columns) + BRANCH_GAP * (len(columns) - 1)
    width = max(inner_width, max(text_width(line) for line in header_lines)) + 2 * PADDING
    body_height = max(layout.height for _, layout, _ in columns)
    header_height = len(header_lines) * LINE_HEIGHT + PADDING
    height = (header_height + MARKER_HEIGHT + GAP + label_height + body_height + GAP + MARKER_HEIGHT
              + len(jump) * LINE_HEIGHT + 2 * PADDING)
    kind = "parallel" if parallel else "choose"

    def draw(parent: ET.Element, x: float, y: float) -> None:
        group = ET.SubElement(parent, "g", {"class": f"block {kind}", "id": f"diagram-{kind}-{node.id}"})
        rect = {"x": _number(x), "y": _number(y), "width": _number(width), "height": _number(height), "rx": "10",
                "fill": "none", "stroke": BLOCK_COLOUR, "stroke-width": "1", "stroke-dasharray": "2 3"}
        if condition:
            rect["stroke"] = CONDITION_COLOUR
        ET.SubElement(group, "rect", rect)
        centre = x + width / 2
        top = y + PADDING
        _write(group, heading, centre, top, weight="bold", css_class="block-title")
        _write(group, note, centre, top + len(heading) * LINE_HEIGHT, colour=BLOCK_COLOUR)
        _write(group, condition, centre, top + (len(heading) + len(note)) * LINE_HEIGHT,
               colour=CONDITION_COLOUR, css_class="block-when")
        split_y = top + header_height
        left = centre - inner_width / 2
        starts = []
        column_x = left
        for _, layout, _ in columns:
            starts.append(column_x + layout.width / 2)
            column_x += layout.width + BRANCH_GAP
        _marker(group, starts, split_y, parallel, "split")
        join_y = split_y + MARKER_HEIGHT + GAP + label_height + body_height + GAP
        column_x = left
        for (label_lines, layout, branch_id), branch_centre in zip(columns, starts, strict=True):
            branch = ET.SubElement(group, "g", {"class": "branch" if parallel else "option",
                                                "id": f"diagram-{kind}-{node.id}-{branch_id}"})
            _arrow(branch, branch_centre, split_y + MARKER_HEIGHT, split_y + MARKER_HEIGHT + GAP)
            _write(branch, label_lines, branch_centre, split_y + MARKER_HEIGHT + GAP - 4,
                   colour=CONDITION_COLOUR if not parallel else BLOCK_COLOUR, css_class="branch-label")
            body_top = split_y + MARKER_HEIGHT + GAP + label_height
            layout.draw(branch, column_x, body_top)
            _line(branch, branch_centre, body_top + layout.height, branch_centre, join_y)
            column_x += layout.width + BRANCH_GAP
        _marker(group, starts, join_y, parallel, "join")
        _write(group, jump, centre, join_y + MARKER_HEIGHT, colour=BLOCK_COLOUR, css_class="block-next")

    return _Layout(width, height, draw)


def _marker(parent: ET.Element, centres: list[float], y: float, parallel: bool, kind: str) -> None:
    """A thick bar (parallel: all branches) or a thin double line (choose: one option) across the columns."""
    left, right = min(centres) - 12, max(centres) + 12
    if parallel:
        ET.SubElement(parent, "rect", {"x": _number(left), "y": _number(y), "width": _number(right - left),
                                       "height": _number(MARKER_HEIGHT), "fill": STROKE, "class": kind})
    else:
        group = ET.SubElement(parent, "g", {"class": kind})
        _line(group, left, y, right, y)
        _line(group, left, y + MARKER_HEIGHT, right, y + MARKER_HEIGHT)
