"""A correct text layer for Thai licences: rebuild the ToUnicode maps WeasyPrint writes.

WeasyPrint gives each glyph the text of the first cluster it is drawn in. Thai
shaping breaks that: HarfBuzz splits SARA AM (ำ) into NIKHAHIT + SARA AA and moves
tone marks, so in `น้ำ` the last glyph (SARA AA) carries the whole cluster's text.
Every later `า` then reads back as `้ำ` (`นาง` became `น้ำง`), and marks first seen
inside such a cluster read back as nothing. Copy, search and screen readers see
wrong words, although the page looks right.

The fix maps each glyph to the character it draws, from the shipped font's own
`cmap`, and GSUB variants (a lowered tone mark, ญ without its tail) to the
character they replace. The page content is untouched; only the ToUnicode maps
change. SARA AM then reads back as its compatibility decomposition NIKHAHIT +
SARA AA (`จำ` → `จํา`, what NFKC gives), in drawing order (`น้ำ` → `นํ้า`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from fontTools.ttLib import TTFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

PRESENTATION_FORMS = ("\ufb00", "\ufb4f")
"""Ligature characters (ﬁ, ﬂ ...): a glyph mapped to one of them reads back as the letters it joins."""
GlyphTexts = Mapping[int, str]
"""Glyph id → the text that glyph stands for."""


def font_glyph_texts(path: Path) -> tuple[str, dict[int, str]]:
    """The PostScript name of a TrueType font and the text each of its glyphs stands for."""
    font = TTFont(io.BytesIO(path.read_bytes()))
    order = font.getGlyphOrder()
    ids = {name: index for index, name in enumerate(order)}
    by_name: dict[str, str] = {}
    for codepoint, name in sorted(font.getBestCmap().items(), reverse=True):
        by_name[name] = chr(codepoint)  # sorted in reverse: the lowest code point wins (space, not no-break space)
    substitutes: dict[str, str] = {}
    ligatures: dict[str, tuple[str, ...]] = {}
    if "GSUB" in font:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for table in lookup.SubTable:
                table = getattr(table, "ExtSubTable", table)
                kind = getattr(table, "LookupType", lookup.LookupType)
                if kind == 1:
                    for source, target in table.mapping.items():
                        substitutes.setdefault(target, source)
                elif kind == 3:
                    for source, targets in table.alternates.items():
                        for target in targets:
                            substitutes.setdefault(target, source)
                elif kind == 4:
                    for first, entries in table.ligatures.items():
                        for ligature in entries:
                            ligatures.setdefault(ligature.LigGlyph, (first, *ligature.Component))
    texts: dict[int, str] = {}
    for name, index in ids.items():
        text = _text_of(name, by_name, substitutes, ligatures, depth=0)
        if text:
            texts[index] = text
    postscript = font["name"].getDebugName(6) or path.stem
    return postscript, texts


def _text_of(name: str, by_name: Mapping[str, str], substitutes: Mapping[str, str],
             ligatures: Mapping[str, tuple[str, ...]], depth: int) -> str | None:
    if depth > 8:
        return None
    character = by_name.get(name)
    if character is not None and not PRESENTATION_FORMS[0] <= character <= PRESENTATION_FORMS[1]:
        return character
    if name in ligatures:  # the "fi" ligature reads as "fi", not as U+FB01
        parts = [_text_of(part, by_name, substitutes, ligatures, depth + 1) for part in ligatures[name]]
        if all(parts):
            return "".join(part for part in parts if part)
    if character is not None:
        return character
    if name in substitutes:
        return _text_of(substitutes[name], by_name, substitutes, ligatures, depth + 1)
    return None


def repair_text_layer(pdf: bytes, fonts: Mapping[str, GlyphTexts]) -> bytes:
    """`pdf` with the ToUnicode map of each embedded font in `fonts` (by PostScript name) rebuilt."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    done: set[int] = set()
    for page in writer.pages:
        resources = page.get("/Resources")
        if resources is None or "/Font" not in resources.get_object():
            continue
        for reference in resources.get_object()["/Font"].get_object().values():
            font = reference.get_object()
            if id(font) in done or "/ToUnicode" not in font or "/DescendantFonts" not in font:
                continue
            done.add(id(font))
            texts = fonts.get(_postscript_name(font) or "")
            if texts is None:
                continue
            stream = font["/ToUnicode"].get_object()
            assert isinstance(stream, StreamObject)
            stream.set_data(_cmap(_rebuilt(stream.get_data(), texts)))
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _postscript_name(font: DictionaryObject) -> str | None:
    descendants = font["/DescendantFonts"].get_object()
    if not isinstance(descendants, ArrayObject) or not descendants:
        return None
    descriptor = descendants[0].get_object()["/FontDescriptor"].get_object()
    if "/FontFile2" not in descriptor:
        return None
    embedded = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data()))
    name: str | None = embedded["name"].getDebugName(6)
    return name


def _rebuilt(cmap: bytes, texts: GlyphTexts) -> dict[int, str]:
    """The glyph → text pairs of a ToUnicode CMap, each replaced by the font's own text where known."""
    mapping: dict[int, str] = {}
    inside = False
    for line in cmap.decode("latin-1").splitlines():
        line = line.strip()
        if line.endswith("beginbfchar"):
            inside = True
        elif line == "endbfchar":
            inside = False
        elif inside and line.startswith("<"):
            glyph, _, rest = line[1:].partition(">")
            value = rest.strip().strip("<>")
            gid = int(glyph, 16)
            original = bytes.fromhex(value).decode("utf-16-be", errors="replace") if value else ""
            mapping[gid] = texts.get(gid, original)
    return mapping


def _cmap(mapping: Mapping[int, str]) -> bytes:
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <ffff>", "endcodespacerange"]
    items = sorted((gid, text) for gid, text in mapping.items() if text)
    for start in range(0, len(items), 100):
        batch = items[start:start + 100]
        lines.append(f"{len(batch)} beginbfchar")
        lines.extend(f"<{gid:04x}> <{text.encode('utf-16-be').hex()}>" for gid, text in batch)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")
