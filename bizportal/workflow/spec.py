"""The permit-type language, version 1, as typed and immutable models.

Three kinds of file make up the language (see docs/workflows.md):

* `workflows/agencies.yaml`   agencies, defined once and referenced by id, plus calendar days off;
* `workflows/<key>.yaml`      one permit type: header, fees, route across agencies, licence;
* `forms/<form>.yaml`         the application form: steps, fields, documents checklist.

Models forbid unknown keys (a typo is an error, never ignored) and are frozen,
because a published version must not change under an application.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

AGENCIES_LANGUAGE = "bizportal/agencies/v1"
PERMIT_LANGUAGE = "bizportal/permit/v1"
FORM_LANGUAGE = "bizportal/form/v1"

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
Expression = Annotated[str, Field(min_length=1, max_length=2000)]
WebAddress = Annotated[str, Field(pattern=r"^https?://[^\s<>\"']+$", max_length=2000)]
"""A link shown to the public: http or https only (never `javascript:` or `file:`)."""


class Strict(BaseModel):
    """Base for every model of the language: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Text(Strict):
    """A text in Thai and in English; Thai is shown first."""

    th: Annotated[str, Field(min_length=1, max_length=4000)]
    en: Annotated[str, Field(min_length=1, max_length=4000)]

    def get(self, locale: str) -> str:
        """Return the text in `locale`, falling back to Thai."""
        return self.en if locale == "en" else self.th


# --------------------------------------------------------------------------- agencies

class AgencyKind(StrEnum):
    LOCAL_ADMINISTRATION = "local_administration"
    DEPARTMENT = "department"
    STATE_ENTERPRISE = "state_enterprise"
    PROVINCIAL_OFFICE = "provincial_office"


class Agency(Strict):
    id: Identifier
    code: Annotated[str, Field(min_length=1, max_length=20)]
    kind: AgencyKind
    name: Text
    short_name: Text | None = None
    parent: Identifier | None = None
    website: WebAddress | None = None
    phone: str | None = None
    extra_holidays: tuple[dt.date, ...] = ()


class AgencyFile(Strict):
    language: Literal["bizportal/agencies/v1"]
    extra_holidays: tuple[dt.date, ...] = ()
    agencies: Annotated[tuple[Agency, ...], Field(min_length=1)]


# --------------------------------------------------------------------------- forms

class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    INTEGER = "integer"
    MONEY = "money"
    AREA_M2 = "area_m2"
    DATE = "date"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    YES_NO = "yes_no"
    FILE = "file"
    CITIZEN_ID = "citizen_id"
    JURISTIC_ID = "juristic_id"
    THAI_ADDRESS = "thai_address"
    PHONE = "phone"
    EMAIL = "email"
    DECLARATION = "declaration"


NUMERIC_TYPES = {FieldType.NUMBER, FieldType.INTEGER, FieldType.MONEY, FieldType.AREA_M2}
TEXT_TYPES = {FieldType.TEXT, FieldType.TEXTAREA}


class Option(Strict):
    value: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-.]{1,64}$")]
    label: Text


class FormField(Strict):
    id: Identifier
    type: FieldType
    label: Text
    help: Text | None = None
    required: bool = False
    when: Expression | None = None
    min: float | None = None
    max: float | None = None
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: str | None = None
    options: tuple[Option, ...] = ()
    document: Identifier | None = None
    prefill: Literal["business.name", "business.address", "business.phone", "business.email",
                     "business.tax_id", "business.citizen_id"] | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"pattern is not a valid regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> FormField:
        choice = self.type in {FieldType.CHOICE, FieldType.MULTI_CHOICE}
        if choice and not self.options:
            raise ValueError(f"a {self.type.value} field needs `options`")
        if self.options and not choice:
            raise ValueError("`options` is only for choice and multi_choice fields")
        if self.type is FieldType.FILE and self.document is None:
            raise ValueError("a file field names the checklist item it fills: add `document: <id>`")
        if self.document is not None and self.type is not FieldType.FILE:
            raise ValueError("`document` is only for file fields")
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError("`min` and `max` are only for number, integer, money and area_m2 fields")
        if (self.min_length is not None or self.max_length is not None or self.pattern is not None) \
                and self.type not in TEXT_TYPES:
            raise ValueError("`min_length`, `max_length` and `pattern` are only for text and textarea fields")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        values = [option.value for option in self.options]
        if len(set(values)) != len(values):  # counted only then: `count` per value is quadratic in long lists
            duplicates = sorted({value for value in values if values.count(value) > 1})
            raise ValueError(f"duplicate option values: {', '.join(duplicates)}")
        return self


class Step(Strict):
    id: Identifier
    title: Text
    description: Text | None = None
    when: Expression | None = None
    fields: Annotated[tuple[FormField, ...], Field(min_length=1)]


class FileKind(StrEnum):
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"


class Document(Strict):
    id: Identifier
    title: Text
    help: Text | None = None
    required: bool = True
    when: Expression | None = None
    accept: tuple[FileKind, ...] = (FileKind.PDF, FileKind.JPEG, FileKind.PNG)
    max_size_mb: Annotated[float, Field(gt=0, le=50)] = 10
    issued_by_state: bool = False


class FormFile(Strict):
    language: Literal["bizportal/form/v1"]
    key: Identifier
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
    documents: tuple[Document, ...] = ()


# --------------------------------------------------------------------------- permits

class Action(StrEnum):
    """What an officer of a stage may do."""

    APPROVE = "approve"
    REJECT = "reject"
    RETURN_FOR_CORRECTION = "return_for_correction"
    REQUEST_INFORMATION = "request_information"


class LegalBasis(Strict):
    title: Text
    sections: str | None = None
    url: WebAddress | None = None


class Stage(Strict):
    """A step of the route decided by the officers of one agency."""

    id: Identifier
    agency: Identifier
    title: Text
    description: Text | None = None
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]
    time_limit_days: Annotated[int, Field(ge=1, le=365)]
    when: Expression | None = None
    documents: tuple[Identifier, ...] = ()
    next: Identifier | None = None
    source: str | None = None


class Branch(Strict):
    """One branch of a parallel block: its own sequence of route nodes."""

    id: Identifier
    title: Text | None = None
    steps: Annotated[tuple[RouteNode, ...], Field(min_length=1)]


class Parallel(Strict):
    """Branches reviewed at the same time; the route goes on when all have approved."""

    id: Identifier
    title: Text | None = None
    when: Expression | None = None
    parallel: Annotated[tuple[Branch, ...], Field(min_length=2)]
    next: Identifier | None = None


class RouteOption(Strict):
    """One way through a `choose` block; an option without `when` is taken otherwise."""

    id: Identifier
    title: Text | None = None
    when: Expression | None = None
    steps: Annotated[tuple[RouteNode, ...], Field(min_length=1)]


class Choose(Strict):
    """Exactly one of several routes: the first option whose `when` holds, else the one without `when`."""

    id: Identifier
    title: Text | None = None
    choose: Annotated[tuple[RouteOption, ...], Field(min_length=2)]
    next: Identifier | None = None

    @model_validator(mode="after")
    def _otherwise_last(self) -> Choose:
        for index, option in enumerate(self.choose):
            if option.when is None and index != len(self.choose) - 1:
                raise ValueError(f"option {option.id!r} has no `when`, so it must be the last option "
                                 "(it is taken when no option before it applies)")
        return self


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "parallel" if "parallel" in value else "choose" if "choose" in value else "stage"
    return "parallel" if isinstance(value, Parallel) else "choose" if isinstance(value, Choose) else "stage"


RouteNode = Annotated[
    Annotated[Stage, Tag("stage")] | Annotated[Parallel, Tag("parallel")] | Annotated[Choose, Tag("choose")],
    Discriminator(_node_kind),
]


class Fee(Strict):
    """An amount in THB computed from the answers when the application is submitted."""

    id: Identifier
    label: Text
    amount: Expression
    when: Expression | None = None
    source: Annotated[str, Field(min_length=1)]
    payable: Literal["on_submission", "before_issue", "set_by_agency"] = "before_issue"


class Validity(Strict):
    years: Annotated[int, Field(ge=0, le=100)] = 0
    months: Annotated[int, Field(ge=0, le=1200)] = 0
    days: Annotated[int, Field(ge=0, le=36500)] = 0
    permanent: bool = False

    @model_validator(mode="after")
    def _something(self) -> Validity:
        if self.permanent == bool(self.years or self.months or self.days):
            raise ValueError("give either `permanent: true` or a duration in years, months or days")
        return self


DEFAULT_RENEWAL_WINDOW_DAYS = 90
"""Renewal window when a permit file sets no `renewal_window_days`."""


class Licence(Strict):
    title: Text
    template: Annotated[str, Field(pattern=r"^[a-z0-9_]+\.html$")]
    number_format: Annotated[str, Field(min_length=1, max_length=80)]
    validity: Validity
    printed_fields: tuple[Identifier, ...] = ()
    conditions: tuple[Text, ...] = ()
    renewal_window_days: Annotated[int, Field(ge=1, le=365)] | None = None
    """How many days before expiry a renewal may be started; None means `DEFAULT_RENEWAL_WINDOW_DAYS`."""

    @property
    def renewal_window(self) -> int:
        """The renewal window in days, the default when the file sets none."""
        return self.renewal_window_days if self.renewal_window_days is not None else DEFAULT_RENEWAL_WINDOW_DAYS

    @model_validator(mode="after")
    def _renewal_window(self) -> Licence:
        if self.renewal_window_days is not None and self.validity.permanent:
            raise ValueError("renewal_window_days: a permanent licence is never renewed; remove the key")
        return self

    @field_validator("number_format")
    @classmethod
    def _number_format(cls, value: str) -> str:
        placeholders = re.findall(r"\{([^{}]*)\}", value)
        allowed = re.compile(r"^(seq(:0[1-9])?|year_be|year|agency_code|permit_code)$")
        for placeholder in placeholders:
            if not allowed.match(placeholder):
                raise ValueError(f"unknown placeholder {{{placeholder}}} in number_format; use {{seq}}, "
                                 "{seq:06}, {year_be}, {year}, {agency_code} or {permit_code}")
        if not any(p.startswith("seq") for p in placeholders):
            raise ValueError("number_format must contain {seq} so that numbers are unique")
        return value


class PermitFile(Strict):
    language: Literal["bizportal/permit/v1"]
    key: Identifier
    version: Annotated[int, Field(ge=1)]
    code: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9\-]{0,15}$")]
    title: Text
    description: Text
    category: Identifier
    legal_basis: Annotated[tuple[LegalBasis, ...], Field(min_length=1)]
    issuing_agency: Identifier
    form: Identifier
    time_limit_days: Annotated[int, Field(ge=1, le=730)]
    time_limit_source: str | None = None
    fees: tuple[Fee, ...] = ()
    route: Annotated[tuple[RouteNode, ...], Field(min_length=1)]
    licence: Licence


Branch.model_rebuild()
Parallel.model_rebuild()
RouteOption.model_rebuild()
Choose.model_rebuild()
PermitFile.model_rebuild()


class PermitSpec(Strict):
    """A complete permit type as published: the permit file and its form.

    This is what a stored version holds and what the engine runs. Agencies and
    their days off are configuration, stored apart, so that renaming an agency
    does not create a new version of every permit it issues.
    """

    permit: PermitFile
    form: FormFile

    def fields(self) -> dict[str, FormField]:
        """Every field of the form by id, in form order."""
        return {field.id: field for step in self.form.steps for field in step.fields}

    def document(self, document_id: str) -> Document:
        """Return the checklist item `document_id`."""
        for document in self.form.documents:
            if document.id == document_id:
                return document
        raise KeyError(document_id)
