"""Business profiles: create, change, list, and the values they pre-fill in application forms.

A profile belongs to one entrepreneur; another user's profile answers like a
missing one (`NotFound`). The 13-digit number is checked with its checksum:
a Thai citizen ID (`stdnum.th.pin`) for an individual, a juristic-person
registration number (`stdnum.th.moa`, starts with 0) for a company. These
numbers and addresses are personal data and are never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError as NumberError
from stdnum.th import moa, pin

from ..accounts.models import Role, User
from ..accounts.services import email_problem, owned_or_404, text_problem
from ..errors import BizportalError, PermissionDenied
from ..i18n import gettext
from . import addresses
from .models import ADDRESS_KEYS, Business, BusinessKind

logger = logging.getLogger(__name__)

FREE_TEXT_ADDRESS_KEYS = ("house_no", "building", "moo", "village", "soi", "road")
"""The address parts typed by hand; the others come from the official lists."""
ADDRESS_PART_MAX_LENGTH = 120
PHONE_DIGITS = (9, 10)
"""A Thai number has 9 digits (landline, 0 2xx xxxx) or 10 (mobile, 08x xxx xxxx), with the leading 0."""


class InvalidBusiness(BizportalError):
    """A business profile breaks a rule; `errors` maps each field name to its message."""

    title = _l("Please correct the business details.")

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__()
        self.errors = errors


@dataclass
class BusinessData:
    """What an entrepreneur enters for a business, before it is checked.

    `province_code`, `district_code` and `subdistrict_code` are codes from the
    official lists (`addresses`); `address` holds the parts typed by hand.
    """

    kind: str
    tax_id: str
    name_th: str
    name_en: str = ""
    address: dict[str, str] = field(default_factory=dict)
    province_code: str = ""
    district_code: str = ""
    subdistrict_code: str = ""
    postcode: str = ""
    phone: str = ""
    email: str = ""


def tax_id_problem(kind: str, tax_id: str) -> str | None:
    """Why `tax_id` is not a valid number for a business of `kind`, or None when it is."""
    compact = "".join(tax_id.split()).replace("-", "")
    if len(compact) != 13 or not compact.isdigit():
        return gettext("Enter the 13 digits of the number.")
    if kind == BusinessKind.JURISTIC:
        try:
            moa.validate(compact)
        except NumberError:
            if not compact.startswith("0"):
                return gettext("A juristic-person registration number starts with 0.")
            return gettext("This is not a valid juristic-person registration number: check the digits.")
        return None
    if compact.startswith("0"):
        return gettext("A citizen ID does not start with 0. For a company, choose juristic person.")
    try:
        pin.validate(compact)
    except NumberError:
        return gettext("This is not a valid citizen ID: check the digits (the last one is a check digit).")
    return None


def phone_problem(phone: str) -> str | None:
    """Why `phone` is not a Thai phone number, or None."""
    digits = "".join(character for character in phone if character.isdigit())
    if not phone.strip():
        return gettext("Enter a phone number.")
    if any(not (character.isdigit() or character in " -+()") for character in phone) \
            or not (len(digits) in PHONE_DIGITS and digits.startswith("0")):
        return gettext("Enter a Thai phone number such as 02 123 4567 or 081 234 5678.")
    return None


def _checked(data: BusinessData) -> tuple[dict[str, Any], dict[str, str]]:
    """The column values for `data`, and the problems by field name (empty when all is well)."""
    problems: dict[str, str] = {}
    if data.kind not in {kind.value for kind in BusinessKind}:
        problems["kind"] = gettext("Choose individual or juristic person.")
    else:
        problem = tax_id_problem(data.kind, data.tax_id)
        if problem is not None:
            problems["tax_id"] = problem
    name_th, name_en = data.name_th.strip(), data.name_en.strip()
    if not name_th:
        problems["name_th"] = gettext("Enter the name in Thai.")
    for key, value in (("name_th", name_th), ("name_en", name_en)):
        if len(value) > 200:
            problems[key] = gettext("Use at most %(count)d characters.", count=200)
    address = {key: (data.address.get(key) or "").strip() for key in FREE_TEXT_ADDRESS_KEYS}
    if not address["house_no"]:
        problems["house_no"] = gettext("Enter the house number.")
    for key, value in address.items():
        if len(value) > ADDRESS_PART_MAX_LENGTH:
            problems[key] = gettext("Use at most %(count)d characters.", count=ADDRESS_PART_MAX_LENGTH)
    area = addresses.resolve(data.province_code, data.district_code, data.subdistrict_code, data.postcode)
    if area is None:
        problems.update(_area_problems(data))
    else:
        address.update(province=area.province, province_code=area.province_code, district=area.district,
                       subdistrict=area.subdistrict, postcode=area.postcode)
    for key, value in (("name_th", name_th), ("name_en", name_en), *address.items()):
        special = text_problem(value)
        if special is not None:
            problems[key] = special
    phone_error = phone_problem(data.phone)
    if phone_error is not None:
        problems["phone"] = phone_error
    email = data.email.strip().lower()
    if email:
        email_error = email_problem(email)
        if email_error is not None:
            problems["email"] = email_error
    values = {"kind": data.kind, "tax_id": "".join(data.tax_id.split()).replace("-", ""), "name_th": name_th,
              "name_en": name_en or None, "address": {key: address.get(key, "") for key in ADDRESS_KEYS},
              "phone": data.phone.strip(), "email": email or None}
    return values, problems


def _area_problems(data: BusinessData) -> dict[str, str]:
    """Name the first address list whose choice is missing or does not fit the one above it."""
    if not any(place.code == data.province_code for place in addresses.provinces("th")):
        return {"province": gettext("Choose a province.")}
    if not any(place.code == data.district_code for place in addresses.districts(data.province_code, "th")):
        return {"district": gettext("Choose a district of the chosen province.")}
    if not any(place.code == data.subdistrict_code
               for place in addresses.subdistricts(data.district_code, "th")):
        return {"subdistrict": gettext("Choose a subdistrict of the chosen district.")}
    return {"postcode": gettext("Choose the postcode of the chosen subdistrict.")}


def validate_business(data: BusinessData) -> dict[str, str]:
    """The problems with `data` by field name; empty when it can be saved."""
    return _checked(data)[1]


def create_business(session: Session, owner: User, data: BusinessData, now: dt.datetime) -> Business:
    """Store a new business of `owner` (an entrepreneur); raises `InvalidBusiness` listing every problem."""
    if owner.role is not Role.ENTREPRENEUR:
        raise PermissionDenied(_l("Only entrepreneurs' accounts have businesses."))
    values, problems = _checked(data)
    if problems:
        raise InvalidBusiness(problems)
    business = Business(owner_id=owner.id, created_at=now, updated_at=now, **values)
    session.add(business)
    session.flush()
    logger.info("business created", extra={"business_id": business.id, "user_id": owner.id})
    return business


def update_business(session: Session, business: Business, data: BusinessData, now: dt.datetime) -> Business:
    """Change a business's details; raises `InvalidBusiness` listing every problem."""
    values, problems = _checked(data)
    if problems:
        raise InvalidBusiness(problems)
    for key, value in values.items():
        setattr(business, key, value)
    business.updated_at = now
    session.flush()
    logger.info("business updated", extra={"business_id": business.id})
    return business


def list_businesses(session: Session, owner: User) -> list[Business]:
    """The businesses of `owner`, oldest first."""
    return list(session.scalars(select(Business).where(Business.owner_id == owner.id).order_by(Business.id)))


def get_business(session: Session, business_id: int, user: User) -> Business:
    """The business `business_id` of `user`; raises `NotFound` for a missing one or another user's."""
    return owned_or_404(session.get(Business, business_id), user)


def data_of(business: Business) -> BusinessData:
    """The form data that shows `business` as it is stored (for the edit page)."""
    codes = addresses.codes_of(business.address)
    return BusinessData(kind=business.kind.value, tax_id=business.tax_id, name_th=business.name_th,
                        name_en=business.name_en or "",
                        address={key: business.address.get(key, "") for key in FREE_TEXT_ADDRESS_KEYS},
                        province_code=codes.province, district_code=codes.district,
                        subdistrict_code=codes.subdistrict, postcode=codes.postcode, phone=business.phone,
                        email=business.email or "")


def prefill_answers(business: Business) -> dict[str, Any]:
    """The values of a form field's `prefill:` keys (docs/workflows.md) for `business`.

    Every key is present. `business.citizen_id` is the number of an individual
    and `business.tax_id` that of a juristic person; the other one is `""`, so a
    field meant for the other kind of applicant starts empty. `business.address`
    is a `thai_address` value: every key of `ADDRESS_KEYS`, as strings.
    """
    individual = business.kind is BusinessKind.INDIVIDUAL
    return {
        "business.name": business.name_th,
        "business.address": {key: str(business.address.get(key) or "") for key in ADDRESS_KEYS},
        "business.phone": business.phone,
        "business.email": business.email or "",
        "business.tax_id": "" if individual else business.tax_id,
        "business.citizen_id": business.tax_id if individual else "",
    }
