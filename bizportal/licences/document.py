"""Everything a licence prints, as one frozen value built from plain inputs.

`build_document()` takes the permit's licence section and form (pydantic models
from `workflow/`), the stored answers and the issuing facts, and returns a
`LicenceDocument`: bilingual text ready for the template, the validity dates, and
the QR text whose signed claims are made from the very values printed, so the
paper and its QR code can never disagree. No Flask, no database: a job loads
rows, calls this, then hands the result to `LicenceRenderer`.

Limits are enforced here, before any rendering: each printed value, the number
of printed fields and conditions. A value that breaks them raises
`LicenceContentError` instead of being cut, because a legal document must not
silently drop part of a name or address.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..businesses import addresses
from ..i18n import format_baht, format_date, format_number
from ..workflow.spec import FieldType, FormField, FormFile, Licence, Validity
from .qr import verification_url
from .signing import LicenceClaims, SigningKey, sign_claims

HOLDER_FIELD = "applicant_name"
BUSINESS_FIELDS = ("business_name", "premises_name")
ADDRESS_FIELD = "premises_address"
MAX_VALUE_CHARS = 400
"""Longest printed value (a name, an address, a list of choices); form fields allow at most 200 typed characters."""
MAX_FIELDS = 12
MAX_CONDITIONS = 12
MAX_CONDITION_CHARS = 600
MAX_NAME_CHARS = 200
"""Longest holder or business name: it goes into the QR code too, and a long one makes the code hard to scan."""
NOT_ANSWERED = "-"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


class LicenceContentError(ValueError):
    """A value is missing or too large to print; the message names it."""


@dataclass(frozen=True)
class Bilingual:
    """The same text in Thai and in English (equal when it is a name the applicant typed)."""

    th: str
    en: str


@dataclass(frozen=True)
class PrintedField:
    """One answer the permit's YAML asks to print: its label and its value in both languages."""

    field_id: str
    label: Bilingual
    value: Bilingual


@dataclass(frozen=True)
class Officer:
    """The officer who signs the licence, as printed under the signature line."""

    name: str
    position: Bilingual


@dataclass(frozen=True)
class LicenceDocument:
    """A licence ready to render. Dates are dates; the renderer formats them (Buddhist Era in Thai)."""

    template: str
    permit_key: str
    number: str
    title: Bilingual
    agency_id: str
    agency_name: Bilingual
    holder: str
    business_name: str | None
    premises_address: Bilingual | None
    fields: tuple[PrintedField, ...]
    conditions: tuple[Bilingual, ...]
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    officer: Officer
    claims: LicenceClaims
    qr_text: str


def build_document(*, permit_key: str, licence: Licence, form: FormFile, answers: Mapping[str, Any],
                   number: str, agency_id: str, agency_name: Bilingual, issued_on: dt.date, officer: Officer,
                   signing_key: SigningKey, verify_base_url: str, valid_from: dt.date | None = None) -> LicenceDocument:
    """The licence of one approved application, signed with the agency's key.

    The holder is the `applicant_name` answer; the business is `business_name` or
    `premises_name` and the premises `premises_address` when the YAML prints them.
    The other printed fields follow in the YAML's order. Raises `LicenceContentError`
    when the holder is missing or a limit is broken. `valid_from` (default: the issue
    date) lets a renewal start the day after the licence it continues ends.
    """
    if len(licence.printed_fields) > MAX_FIELDS:
        raise LicenceContentError(f"the licence prints {len(licence.printed_fields)} fields; at most {MAX_FIELDS}")
    if len(licence.conditions) > MAX_CONDITIONS:
        raise LicenceContentError(f"the licence has {len(licence.conditions)} conditions; at most {MAX_CONDITIONS}")
    form_fields = {item.id: item for step in form.steps for item in step.fields}
    holder = _name(answers.get(HOLDER_FIELD), HOLDER_FIELD)
    business_id = next((key for key in BUSINESS_FIELDS if key in licence.printed_fields), None)
    business_name = _name(answers.get(business_id), business_id) if business_id else None
    address = None
    if ADDRESS_FIELD in licence.printed_fields and ADDRESS_FIELD in form_fields:
        address = printed_value(form_fields[ADDRESS_FIELD], answers.get(ADDRESS_FIELD))
    shown_apart = {HOLDER_FIELD, ADDRESS_FIELD, *BUSINESS_FIELDS}
    fields = tuple(PrintedField(field_id, Bilingual(item.label.th, item.label.en),
                                printed_value(item, answers.get(field_id)))
                   for field_id in licence.printed_fields if field_id not in shown_apart
                   for item in [form_fields.get(field_id)] if item is not None)
    conditions = tuple(Bilingual(_clean(condition.th, "condition", MAX_CONDITION_CHARS),
                                 _clean(condition.en, "condition", MAX_CONDITION_CHARS))
                       for condition in licence.conditions)
    officer = Officer(_clean(officer.name, "officer", MAX_NAME_CHARS),
                      Bilingual(_clean(officer.position.th, "officer position", MAX_NAME_CHARS),
                                _clean(officer.position.en, "officer position", MAX_NAME_CHARS)))
    agency_name = Bilingual(_clean(agency_name.th, "agency", MAX_VALUE_CHARS),
                            _clean(agency_name.en, "agency", MAX_VALUE_CHARS))
    claims = LicenceClaims(number=_clean(number, "number", 80), holder=holder, permit_key=permit_key,
                           agency_id=agency_id, valid_from=valid_from or issued_on,
                           valid_until=valid_until(valid_from or issued_on, licence.validity))
    return LicenceDocument(
        template=licence.template, permit_key=permit_key, number=claims.number,
        title=Bilingual(licence.title.th, licence.title.en), agency_id=agency_id, agency_name=agency_name,
        holder=holder, business_name=business_name, premises_address=address, fields=fields,
        conditions=conditions, issued_on=issued_on, valid_from=claims.valid_from, valid_until=claims.valid_until,
        officer=officer, claims=claims,
        qr_text=verification_url(verify_base_url, claims.number, sign_claims(claims, signing_key)))


def valid_until(issued_on: dt.date, validity: Validity) -> dt.date | None:
    """The last day a licence is valid, or None when it is permanent.

    "Valid for one year from the date of issue" counts the issue day, so the period
    ends the day before the same date a year later: issued on 26 November 2569,
    valid up to and including 25 November 2570. When that month has no such day
    (29 February), the period ends on the month's last day.
    """
    if validity.permanent:
        return None
    months = issued_on.month - 1 + validity.months + 12 * validity.years
    year, month = issued_on.year + months // 12, months % 12 + 1
    try:
        following = dt.date(year, month, issued_on.day)
    except ValueError:  # no such day in that month: count from the next month's first day
        following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following + dt.timedelta(days=validity.days - 1)


def printed_value(item: FormField, value: Any) -> Bilingual:
    """An answer as the licence prints it, in Thai and in English (choices by their labels)."""
    if value is None or value == "" or value == []:
        return Bilingual(NOT_ANSWERED, NOT_ANSWERED)
    kind = item.type
    if kind is FieldType.CHOICE:
        option = next((option for option in item.options if option.value == value), None)
        text = Bilingual(option.label.th, option.label.en) if option else Bilingual(str(value), str(value))
    elif kind is FieldType.MULTI_CHOICE:
        labels = {option.value: option.label for option in item.options}
        chosen = [labels.get(str(entry)) for entry in value]
        text = Bilingual(", ".join(label.th if label else "?" for label in chosen),
                         ", ".join(label.en if label else "?" for label in chosen))
    elif kind in {FieldType.YES_NO, FieldType.DECLARATION}:
        text = Bilingual("ใช่", "Yes") if value else Bilingual("ไม่ใช่", "No")
    elif kind is FieldType.DATE:
        day = dt.date.fromisoformat(str(value))
        text = Bilingual(format_date(day, "th"), format_date(day, "en"))
    elif kind is FieldType.MONEY:
        text = Bilingual(format_baht(float(value), "th"), format_baht(float(value), "en"))
    elif kind is FieldType.AREA_M2:
        area = format_number(float(value))
        text = Bilingual(f"{area} ตร.ม.", f"{area} m²")
    elif kind in {FieldType.NUMBER, FieldType.INTEGER}:
        text = Bilingual(format_number(value), format_number(value))
    elif kind is FieldType.THAI_ADDRESS:
        text = Bilingual(address_line(value, "th"), address_line(value, "en"))
    else:
        text = Bilingual(str(value), str(value))
    return Bilingual(_clean(text.th, item.id, MAX_VALUE_CHARS), _clean(text.en, item.id, MAX_VALUE_CHARS))


def address_line(address: Mapping[str, str], locale: str) -> str:
    """A stored Thai address on one line, in Thai or with the area names in English.

    The same layout as the application pages' `address_text`, without Flask-Babel,
    because a licence prints both languages at once.
    """
    labels = {"moo": ("หมู่ที่ {}", "Moo {}"), "soi": ("ซอย{}", "Soi {}"), "road": ("ถนน{}", "{} Road")}
    parts = [address.get("house_no", "")]
    for key in ("building", "moo", "village", "soi", "road"):
        value = address.get(key, "")
        if value:
            parts.append(labels[key][locale == "en"].format(value) if key in labels else value)
    parts.append(addresses.format_area(dict(address), locale))
    separator = ", " if locale == "en" else " "
    return separator.join(part for part in parts if part)


def _name(value: Any, field_id: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LicenceContentError(f"the answer {field_id!r} is needed on the licence but is empty")
    return _clean(value, field_id or "name", MAX_NAME_CHARS)


def _clean(text: str, what: str, limit: int) -> str:
    """One line of printable text: control and direction-override characters removed, spaces collapsed."""
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(cleaned) > limit:
        raise LicenceContentError(f"{what!r} has {len(cleaned)} characters; a licence prints at most {limit}")
    return cleaned
