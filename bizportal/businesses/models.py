"""A business profile: who applies, entered once and reused to pre-fill every application."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User, enum_column_type
from ..database import Base, JsonDocument

ADDRESS_KEYS = ("house_no", "building", "moo", "village", "soi", "road", "subdistrict", "district",
                "province", "province_code", "postcode")
"""The keys of `Business.address`, the same as a form's `thai_address` value (docs/expressions.md)."""


class BusinessKind(StrEnum):
    """An individual (Thai citizen ID) or a juristic person (13-digit registration number)."""

    INDIVIDUAL = "individual"
    JURISTIC = "juristic"

    @property
    def label(self) -> LazyString:
        """The kind's name in the page's language."""
        return KIND_LABELS[self]


KIND_LABELS = {BusinessKind.INDIVIDUAL: _l("Individual"), BusinessKind.JURISTIC: _l("Juristic person")}


class Business(Base):
    """One business of an entrepreneur.

    `tax_id` is the citizen ID of an individual or the registration number of a
    juristic person (13 digits, checksum verified); it is personal data and is
    never logged. `address` holds the `ADDRESS_KEYS`, with province, district,
    subdistrict and postcode from the official lists (`businesses/addresses.py`).
    """

    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[BusinessKind] = mapped_column(enum_column_type(BusinessKind))
    tax_id: Mapped[str] = mapped_column(String(13))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    address: Mapped[dict[str, str]] = mapped_column(JsonDocument)
    phone: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    owner: Mapped[User] = relationship()

    def name(self, locale: str) -> str:
        """The business's name in `locale`: English when asked for and given, else Thai."""
        return self.name_en if locale == "en" and self.name_en else self.name_th
