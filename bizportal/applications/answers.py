"""Answers to a permit form: what is shown for the answers so far, and reading what an applicant typed.

Everything here is pure (no database, no request): the views hand in the posted
form data, the services store what comes out. Conditions are the spec's CEL
`when`s, evaluated on the server, so a page shows the right questions without
JavaScript. User input never raises: each field gives a value or a message in
the user's language (lazy strings, rendered in the page's locale), and the raw
input of a field that failed is kept so that nothing typed is lost.

Stored answer values (JSON): text-like types as `str`; `number`, `money` and
`area_m2` as `float`; `integer` as `int`; `date` as an ISO date string;
`multi_choice` as a list of option values in option order; `yes_no` and
`declaration` as `bool`; `thai_address` as a dict of the eleven address parts.
`file` fields are not stored: they are true when their checklist item has a file.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import geothai
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.th import moa, pin

from ..businesses import addresses
from ..i18n import BUDDHIST_ERA_OFFSET
from ..workflow.expressions import ADDRESS_KEYS
from ..workflow.spec import FieldType, FormField

logger = logging.getLogger(__name__)

Message: TypeAlias = LazyString | str
RawInput: TypeAlias = dict[str, list[str]]
"""What the applicant typed for one field: input name → the values posted under it."""

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
TEXT_LIMIT = 1_000
"""Characters a `text` answer may have when its field sets no `max_length`."""
TEXTAREA_LIMIT = 10_000
RAW_LIMIT = 2 * TEXTAREA_LIMIT
"""Characters kept of one raw input: enough to show any too-long answer again, not a way to store megabytes."""
BE_YEAR_FROM = 2400
"""A year from 2400 on is a Buddhist-Era year (2569 → 2026); no plausible Common-Era date is that late."""
YEARS = (1900, 2200)
ADDRESS_REQUIRED = ("house_no", "subdistrict", "district", "province_code", "postcode")
ADDRESS_LIMIT = 200

_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)$")
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f\"<>(),;:\\]{1,64}"
                    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PHONE_JUNK = re.compile(r"[\s\-().]")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_THAI_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_POSTCODE = re.compile(r"^[1-9]\d{4}$")
YES_VALUES = frozenset({"yes", "true", "on", "1"})
NO_VALUES = frozenset({"no", "false", "off", "0"})


class FormData(Protocol):
    """Posted form data: Werkzeug's MultiDict, or a plain mapping of lists in tests."""

    def getlist(self, key: str) -> list[Any]:
        """Every value posted under `key`."""
        ...


class ListData:
    """A `FormData` made from a plain dict, for prefills, stored raw input and tests."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def getlist(self, key: str) -> list[Any]:
        """The values under `key`, a single value becoming a one-item list."""
        value = self.data.get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]


# --------------------------------------------------------------------------- reading input

@dataclass(frozen=True)
class Parsed:
    """One field read: its value (None when left empty) or the message saying what is wrong."""

    value: Any = None
    error: Message | None = None


@dataclass
class StepAnswers:
    """The fields of one step read from posted data."""

    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, RawInput] = field(default_factory=dict)
    errors: dict[str, Message] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every field was valid."""
        return not self.errors


def input_names(item: FormField) -> tuple[str, ...]:
    """The form input names a field posts under."""
    if item.type is FieldType.DATE:
        return (item.id, f"{item.id}.day", f"{item.id}.month", f"{item.id}.year")
    if item.type is FieldType.THAI_ADDRESS:
        return tuple(f"{item.id}.{part}" for part in ADDRESS_KEYS)
    return (item.id,)


def raw_input(item: FormField, data: FormData) -> RawInput:
    """Take the field's inputs out of posted data, as strings, for keeping and for parsing."""
    # NUL can be stored in neither PostgreSQL text nor JSONB; an input longer than any answer is cut.
    return {name: [value.replace("\x00", "")[:RAW_LIMIT] for value in data.getlist(name) if isinstance(value, str)]
            for name in input_names(item)}


def read_fields(fields: Iterable[FormField], data: FormData) -> StepAnswers:
    """Read and check `fields` from posted `data`; never raises for what a user can type."""
    result = StepAnswers()
    for item in fields:
        if item.type is FieldType.FILE:
            continue  # uploads are read by `uploads.py`
        raw = raw_input(item, data)
        parsed = parse_field(item, raw)
        if parsed.error is not None:
            result.errors[item.id] = parsed.error
            result.raw[item.id] = raw
        else:
            result.values[item.id] = parsed.value
    return result


def parse_field(item: FormField, raw: RawInput) -> Parsed:
    """Read one field from its raw input: a value (None if empty and allowed) or a message."""
    parser = _PARSERS[item.type]
    try:
        parsed: Parsed = parser(item, raw)
        return parsed
    except (ValueError, OverflowError, ArithmeticError):  # belt and braces: a bad value is a message
        return Parsed(error=_l("This answer could not be read. Check it and try again."))


def _first(raw: RawInput, name: str) -> str:
    values = raw.get(name) or []
    return values[0].strip() if values else ""


def _required(item: FormField, message: Message) -> Parsed:
    return Parsed(error=message) if item.required else Parsed()


def _digits(value: str) -> str:
    return value.translate(THAI_DIGITS)


def _text(item: FormField, raw: RawInput) -> Parsed:
    value = _first(raw, item.id).replace("\r\n", "\n")
    if item.type is FieldType.TEXT:
        value = " ".join(value.split())
    if not value:
        return _required(item, _l("Enter an answer."))
    if _CONTROL.search(value):
        return Parsed(error=_l("Remove the special characters from this answer."))
    limit = item.max_length or (TEXT_LIMIT if item.type is FieldType.TEXT else TEXTAREA_LIMIT)
    if len(value) > limit:
        return Parsed(error=_l("Use at most %(count)s characters (you used %(used)s).", count=limit,
                               used=len(value)))
    if item.min_length is not None and len(value) < item.min_length:
        return Parsed(error=_l("Use at least %(count)s characters.", count=item.min_length))
    if item.pattern is not None and not re.search(item.pattern, value):
        converted = _digits(value)
        if not re.search(item.pattern, converted):
            return Parsed(error=_l("This answer is not in the expected form. Read the help above."))
        value = converted
    return Parsed(value)


def _clean_number(value: str) -> str:
    return _digits(value).replace(" ", "").replace("\u00a0", "").replace("\u202f", "")


def _number(item: FormField, raw: RawInput) -> Parsed:
    text = _clean_number(_first(raw, item.id))
    if not text:
        return _required(item, _l("Enter a number."))
    if item.type is FieldType.INTEGER:
        if not _INTEGER.match(text):
            return Parsed(error=_l("Enter a whole number, like 12."))
        value: float | int = int(text.replace(",", ""))
    else:
        if not _NUMBER.match(text):
            return Parsed(error=_l("Enter a number, like 1,250.5."))
        value = float(text.replace(",", ""))
        if item.type is FieldType.MONEY and "." in text and len(text.rsplit(".", 1)[1]) > 2:
            return Parsed(error=_l("Enter an amount in baht with at most two decimals (satang)."))
    if item.min is not None and value < item.min:
        return Parsed(error=_l("Enter a number of at least %(min)s.", min=_plain(item.min)))
    if item.max is not None and value > item.max:
        return Parsed(error=_l("Enter a number of at most %(max)s.", max=_plain(item.max)))
    if abs(value) > 1e15:
        return Parsed(error=_l("This number is too large."))
    return Parsed(value)


def _plain(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"


def _date(item: FormField, raw: RawInput) -> Parsed:
    whole = _digits(_first(raw, item.id))
    day_text, month_text, year_text = (_digits(_first(raw, f"{item.id}.{part}"))
                                       for part in ("day", "month", "year"))
    if whole and not (day_text or month_text or year_text):
        match = _ISO_DATE.match(whole)
        if match:
            year_text, month_text, day_text = match.groups()
        else:
            match = _THAI_DATE.match(whole)
            if not match:
                return Parsed(error=_l("Enter the date as day, month and year, like 31/12/2569."))
            day_text, month_text, year_text = match.groups()
    if not (day_text or month_text or year_text):
        return _required(item, _l("Enter a date."))
    if not (day_text.isdigit() and month_text.isdigit() and year_text.isdigit()):
        return Parsed(error=_l("Enter the day, the month and the year, in numbers."))
    year = int(year_text)
    if year >= BE_YEAR_FROM:
        year -= BUDDHIST_ERA_OFFSET
    if not YEARS[0] <= year <= YEARS[1]:
        return Parsed(error=_l("Enter the year in full, like 2569 (B.E.) or 2026."))
    try:
        day = dt.date(year, int(month_text), int(day_text))
    except ValueError:
        return Parsed(error=_l("Enter a real date."))
    return Parsed(day.isoformat())


def _choice(item: FormField, raw: RawInput) -> Parsed:
    value = _first(raw, item.id)
    if not value:
        return _required(item, _l("Choose an option."))
    if value not in {option.value for option in item.options}:
        return Parsed(error=_l("Choose one of the options shown."))
    return Parsed(value)


def _multi_choice(item: FormField, raw: RawInput) -> Parsed:
    chosen = {value.strip() for value in raw.get(item.id, []) if value.strip()}
    if not chosen:
        return _required(item, _l("Choose at least one option."))
    allowed = [option.value for option in item.options]
    if chosen - set(allowed):
        return Parsed(error=_l("Choose among the options shown."))
    return Parsed([value for value in allowed if value in chosen])


def _yes_no(item: FormField, raw: RawInput) -> Parsed:
    value = _first(raw, item.id).lower()
    if not value:
        return _required(item, _l("Choose yes or no."))
    if value in YES_VALUES:
        return Parsed(True)
    if value in NO_VALUES:
        return Parsed(False)
    return Parsed(error=_l("Choose yes or no."))


def _declaration(item: FormField, raw: RawInput) -> Parsed:
    ticked = _first(raw, item.id).lower() in YES_VALUES
    if item.required and not ticked:
        return Parsed(error=_l("Tick the box to confirm this statement."))
    return Parsed(ticked)


def _identity(item: FormField, raw: RawInput) -> Parsed:
    text = _digits(_first(raw, item.id))
    if not text:
        return _required(item, _l("Enter the 13-digit number."))
    number = re.sub(r"[\s\-]", "", text)
    if not re.fullmatch(r"\d{13}", number):
        return Parsed(error=_l("Enter 13 digits."))
    module = pin if item.type is FieldType.CITIZEN_ID else moa
    try:
        module.validate(number)
    except InvalidChecksum:
        return Parsed(error=_l("This number is not valid: check the digits (the last one is a check digit)."))
    except InvalidComponent:
        if item.type is FieldType.JURISTIC_ID:
            return Parsed(error=_l("A juristic-person registration number starts with 0."))
        return Parsed(error=_l("A national ID number does not start with 0 or 9."))
    except ValidationError:
        return Parsed(error=_l("Enter 13 digits."))
    return Parsed(number)


def normalise_phone(text: str) -> str | None:
    """A Thai phone number in national form (`0812345678`, `021234567`), or None if it is not one."""
    number = _PHONE_JUNK.sub("", _digits(text))
    if number.startswith("+66"):
        number = "0" + number[3:]
    elif number.startswith("66") and len(number) in {10, 11}:
        number = "0" + number[2:]
    if re.fullmatch(r"0[689]\d{8}", number) or re.fullmatch(r"0[2-7]\d{7}", number):
        return number
    return None


def _phone(item: FormField, raw: RawInput) -> Parsed:
    text = _first(raw, item.id)
    if not text:
        return _required(item, _l("Enter a phone number."))
    number = normalise_phone(text)
    if number is None:
        return Parsed(error=_l("Enter a Thai phone number, like 081 234 5678 or 02 123 4567."))
    return Parsed(number)


def _email(item: FormField, raw: RawInput) -> Parsed:
    text = _first(raw, item.id)
    if not text:
        return _required(item, _l("Enter an e-mail address."))
    if len(text) > 254 or not _EMAIL.match(text):
        return Parsed(error=_l("Enter an e-mail address like name@example.com."))
    local, domain = text.rsplit("@", 1)
    return Parsed(f"{local}@{domain.lower()}")


def _address(item: FormField, raw: RawInput) -> Parsed:
    parts = {key: " ".join(_first(raw, f"{item.id}.{key}").split()) for key in ADDRESS_KEYS}
    parts["postcode"] = _digits(parts["postcode"])
    parts["province_code"] = _digits(parts["province_code"])
    given = {key for key in ADDRESS_KEYS if key != "province" and parts[key]}
    if not given:
        return _required(item, _l("Enter the address."))
    if any(len(value) > ADDRESS_LIMIT or _CONTROL.search(value) for value in parts.values()):
        return Parsed(error=_l("An address part is too long or has special characters."))
    missing = [key for key in ADDRESS_REQUIRED if not parts[key]]
    if missing:
        return Parsed(error=_l("Enter the house number, subdistrict, district, province and postcode."))
    province = geothai.province(parts["province_code"]) if parts["province_code"].isdigit() else None
    if province is None:
        return Parsed(error=_l("Choose the province from the list."))
    district = _find_area(geothai.districts(province.code), parts["district"])
    if district is None:
        return Parsed(error=_l("The district was not found in %(province)s. Check its spelling.",
                               province=province.name_th))
    subdistrict = _find_area(geothai.subdistricts(district.code), parts["subdistrict"])
    if subdistrict is None:
        return Parsed(error=_l("The subdistrict was not found in %(district)s. Check its spelling.",
                               district=district.name_th))
    area = addresses.resolve(province.code, district.code, subdistrict.code, parts["postcode"])
    if area is None:
        return Parsed(error=_l("The postcode of %(subdistrict)s is %(postcodes)s.", subdistrict=subdistrict.name_th,
                               postcodes=", ".join(subdistrict.postal_codes)))
    parts.update(province=area.province, province_code=area.province_code, district=area.district,
                 subdistrict=area.subdistrict, postcode=area.postcode)
    return Parsed(parts)


_AREA_PREFIXES = re.compile(r"^(?:เขต|อำเภอ|อ\.|แขวง|ตำบล|ต\.|khet|amphoe|tambon|khwaeng)\s*", re.IGNORECASE)


def _area_key(name: str) -> str:
    return _AREA_PREFIXES.sub("", " ".join(name.split())).replace(" ", "").casefold()


def _find_area(areas: Iterable[Any], name: str) -> Any | None:
    """The district or subdistrict called `name`, in Thai or English, with or without เขต/อำเภอ/แขวง/ตำบล."""
    wanted = _area_key(name)
    return next((area for area in areas if wanted in {_area_key(area.name_th), _area_key(area.name_en)}), None)


_PARSERS: dict[FieldType, Any] = {
    FieldType.TEXT: _text, FieldType.TEXTAREA: _text,
    FieldType.NUMBER: _number, FieldType.INTEGER: _number, FieldType.MONEY: _number, FieldType.AREA_M2: _number,
    FieldType.DATE: _date, FieldType.CHOICE: _choice, FieldType.MULTI_CHOICE: _multi_choice,
    FieldType.YES_NO: _yes_no, FieldType.DECLARATION: _declaration,
    FieldType.CITIZEN_ID: _identity, FieldType.JURISTIC_ID: _identity,
    FieldType.PHONE: _phone, FieldType.EMAIL: _email, FieldType.THAI_ADDRESS: _address,
    FieldType.FILE: lambda item, raw: Parsed(),
}


# --------------------------------------------------------------------------- stored value → input

def input_of(item: FormField, value: Any, locale: str) -> RawInput:
    """The inputs that show a stored `value` in a form (the inverse of `parse_field`)."""
    if value is None:
        return {name: [] for name in input_names(item)}
    kind = item.type
    if kind is FieldType.DATE:
        day = dt.date.fromisoformat(str(value))
        year = day.year + BUDDHIST_ERA_OFFSET if locale == "th" else day.year
        return {item.id: [], f"{item.id}.day": [str(day.day)], f"{item.id}.month": [str(day.month)],
                f"{item.id}.year": [str(year)]}
    if kind is FieldType.THAI_ADDRESS:
        address = value if isinstance(value, dict) else {}
        return {f"{item.id}.{key}": [str(address.get(key) or "")] for key in ADDRESS_KEYS}
    if kind is FieldType.MULTI_CHOICE:
        return {item.id: [str(entry) for entry in value]}
    if kind in {FieldType.YES_NO, FieldType.DECLARATION}:
        return {item.id: ["yes" if value else "no"]}
    if kind in {FieldType.NUMBER, FieldType.MONEY, FieldType.AREA_M2}:
        number = float(value)
        return {item.id: [str(int(number)) if number.is_integer() else repr(number)]}
    return {item.id: [str(value)]}


def prefilled(fields: Iterable[FormField], profile: Mapping[str, Any]) -> dict[str, Any]:
    """Answers taken from a business profile (`prefill:` keys); values that do not fit are left out."""
    answers: dict[str, Any] = {}
    for item in fields:
        if item.prefill is None or profile.get(item.prefill) in (None, "", {}):
            continue
        parsed = parse_field(item, input_of(item, profile[item.prefill], "en"))
        if parsed.error is None and parsed.value is not None:
            answers[item.id] = parsed.value
    return answers
