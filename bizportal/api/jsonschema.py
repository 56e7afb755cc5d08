"""A permit form as JSON Schema (draft 2020-12), so an API client can build the form and check answers itself.

A pure function of the parsed form spec: no database, no request. The schema
describes the answers the API takes, step by step (`{"<step>": {"<field>": value}}`,
the body of `PATCH /applications/{id}/steps/{step}` is one of those objects),
with titles in one language, JSON types, enums for choices, limits and formats.

Conditions are CEL expressions evaluated by the portal; JSON Schema cannot run
them, so a step or field shown only under a condition carries it as
`x-visible-when` and is not listed in `required` (it is required only when
visible: `x-required-when-visible: true`). File fields are uploads, not
answers: they are listed with the checklist under `x-documents`.
"""

from __future__ import annotations

from typing import Any

from ..applications.answers import ADDRESS_LIMIT, ADDRESS_REQUIRED, TEXT_LIMIT, TEXTAREA_LIMIT
from ..workflow.expressions import ADDRESS_KEYS
from ..workflow.spec import Document, FieldType, FormField, FormFile, Step, Text

DIALECT = "https://json-schema.org/draft/2020-12/schema"
THIRTEEN_DIGITS = "^[0-9]{13}$"
JURISTIC_ID_PATTERN = "^0[0-9]{12}$"
PHONE_PATTERN = "^[0-9+() .-]{9,20}$"
POSTCODE_PATTERN = "^[1-9][0-9]{4}$"
EMAIL_MAX_LENGTH = 254
NUMBER_LIMIT = 1e15
"""The largest magnitude a number answer may have (answers.py refuses larger)."""


def form_schema(form: FormFile, locale: str, *, schema_id: str | None = None) -> dict[str, Any]:
    """The JSON Schema of `form`'s answers, with titles and descriptions in `locale` ("th" or "en")."""
    schema: dict[str, Any] = {"$schema": DIALECT}
    if schema_id is not None:
        schema["$id"] = schema_id
    schema.update({
        "title": form.key,
        "type": "object",
        "properties": {step.id: step_schema(step, locale) for step in form.steps},
        "required": [step.id for step in form.steps if step.when is None and _has_required(step)],
        "additionalProperties": False,
        "x-step-order": [step.id for step in form.steps],
        "x-documents": [document_entry(document, form, locale) for document in form.documents],
    })
    return schema


def _has_required(step: Step) -> bool:
    return any(item.required and item.when is None and item.type is not FieldType.FILE for item in step.fields)


def step_schema(step: Step, locale: str) -> dict[str, Any]:
    """One step: an object of its answerable fields."""
    fields = [item for item in step.fields if item.type is not FieldType.FILE]
    schema: dict[str, Any] = {
        "title": step.title.get(locale),
        "type": "object",
        "properties": {item.id: field_schema(item, locale) for item in fields},
        "required": [item.id for item in fields if item.required and item.when is None],
        "additionalProperties": False,
    }
    _describe(schema, step.description, locale)
    if step.when is not None:
        schema["x-visible-when"] = step.when
    uploads = [item.document for item in step.fields if item.type is FieldType.FILE]
    if uploads:
        schema["x-uploads"] = uploads
    return schema


def field_schema(item: FormField, locale: str) -> dict[str, Any]:
    """One field: its JSON type and constraints, the same rules the portal checks (answers.py)."""
    schema: dict[str, Any] = {"title": item.label.get(locale)}
    _describe(schema, item.help, locale)
    schema.update(_TYPES[item.type](item, locale))
    schema["x-field-type"] = item.type.value
    if item.when is not None:
        schema["x-visible-when"] = item.when
        if item.required:
            schema["x-required-when-visible"] = True
    if item.prefill is not None:
        schema["x-prefill"] = item.prefill
    return schema


def document_entry(document: Document, form: FormFile, locale: str) -> dict[str, Any]:
    """A checklist item: what to upload, in which formats, up to what size, and when it is asked for."""
    entry: dict[str, Any] = {"id": document.id, "title": document.title.get(locale), "required": document.required,
                             "accept": [kind.value for kind in document.accept],
                             "max_size_mb": document.max_size_mb, "issued_by_state": document.issued_by_state}
    if document.help is not None:
        entry["description"] = document.help.get(locale)
    if document.when is not None:
        entry["x-visible-when"] = document.when
    fields = [item.id for step in form.steps for item in step.fields if item.document == document.id]
    if fields:
        entry["fields"] = fields
    return entry


def _describe(schema: dict[str, Any], text: Text | None, locale: str) -> None:
    if text is not None:
        schema["description"] = text.get(locale)


def _text(item: FormField, locale: str) -> dict[str, Any]:
    limit = item.max_length or (TEXT_LIMIT if item.type is FieldType.TEXT else TEXTAREA_LIMIT)
    schema: dict[str, Any] = {"type": "string", "minLength": max(item.min_length or 0, 1 if item.required else 0),
                              "maxLength": limit}
    if item.pattern is not None:
        schema["pattern"] = item.pattern
    return schema


def _number(item: FormField, locale: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if item.type is FieldType.INTEGER else "number",
                              "minimum": item.min if item.min is not None else -NUMBER_LIMIT,
                              "maximum": item.max if item.max is not None else NUMBER_LIMIT}
    if item.type is FieldType.INTEGER:
        schema["minimum"], schema["maximum"] = int(schema["minimum"]), int(schema["maximum"])
    if item.type is FieldType.MONEY:
        schema["x-unit"] = "THB"
        schema["x-decimals"] = 2
    if item.type is FieldType.AREA_M2:
        schema["x-unit"] = "m2"
    return schema


def _choice(item: FormField, locale: str) -> dict[str, Any]:
    return {"type": "string", "enum": [option.value for option in item.options],
            "x-enum-titles": {option.value: option.label.get(locale) for option in item.options}}


def _multi_choice(item: FormField, locale: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": _choice(item, locale), "uniqueItems": True}
    if item.required:
        schema["minItems"] = 1
    return schema


def _declaration(item: FormField, locale: str) -> dict[str, Any]:
    return {"type": "boolean", "const": True} if item.required else {"type": "boolean"}


def _address(item: FormField, locale: str) -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": "string", "maxLength": ADDRESS_LIMIT} for key in ADDRESS_KEYS}
    for key in ADDRESS_REQUIRED:
        properties[key]["minLength"] = 1
    properties["postcode"]["pattern"] = POSTCODE_PATTERN
    properties["province_code"]["pattern"] = "^[0-9]{2}$"
    return {"type": "object", "properties": properties, "required": list(ADDRESS_REQUIRED),
            "additionalProperties": False}


_TYPES: dict[FieldType, Any] = {
    FieldType.TEXT: _text,
    FieldType.TEXTAREA: _text,
    FieldType.NUMBER: _number,
    FieldType.INTEGER: _number,
    FieldType.MONEY: _number,
    FieldType.AREA_M2: _number,
    FieldType.DATE: lambda item, locale: {"type": "string", "format": "date"},
    FieldType.CHOICE: _choice,
    FieldType.MULTI_CHOICE: _multi_choice,
    FieldType.YES_NO: lambda item, locale: {"type": "boolean"},
    FieldType.DECLARATION: _declaration,
    FieldType.CITIZEN_ID: lambda item, locale: {"type": "string", "pattern": THIRTEEN_DIGITS},
    FieldType.JURISTIC_ID: lambda item, locale: {"type": "string", "pattern": JURISTIC_ID_PATTERN},
    FieldType.PHONE: lambda item, locale: {"type": "string", "pattern": PHONE_PATTERN},
    FieldType.EMAIL: lambda item, locale: {"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH},
    FieldType.THAI_ADDRESS: _address,
    FieldType.FILE: lambda item, locale: {},
}
"""Every field kind (a new kind without an entry fails at import in the test that walks FieldType)."""
