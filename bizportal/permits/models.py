"""Agencies, permit types and their published, immutable versions.

A permit type (`food_premises`) has many versions; each version stores the
validated spec as JSON together with the YAML it came from, and is never changed
after it is published. Applications point at a version, so the rules they were
submitted under stay put when a new version becomes current.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from threading import Lock
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import Base, JsonDocument
from ..workflow.spec import PermitSpec

SPEC_CACHE_SIZE = 256


class Agency(Base):
    """A government agency or state enterprise, as defined in `workflows/agencies.yaml`."""

    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    short_name_th: Mapped[str | None] = mapped_column(Text)
    short_name_en: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String(63))
    website: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    extra_holidays: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    updated_at: Mapped[dt.datetime]

    def name(self, locale: str) -> str:
        """The agency's full name in `locale` (Thai unless English is asked for)."""
        return self.name_en if locale == "en" else self.name_th


class PermitType(Base):
    """A kind of permit, known by its key; `current_version` is what new applications use."""

    __tablename__ = "permit_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(63), unique=True)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("permit_versions.id", use_alter=True, ondelete="SET NULL"))
    withdrawn: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]

    current_version: Mapped[PermitVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True)
    versions: Mapped[list[PermitVersion]] = relationship(
        back_populates="permit_type", foreign_keys="PermitVersion.permit_type_id",
        order_by="PermitVersion.number")


class PermitVersion(Base):
    """One published version of a permit type: immutable, known by number and content hash."""

    __tablename__ = "permit_versions"
    __table_args__ = (
        UniqueConstraint("permit_type_id", "number"),
        UniqueConstraint("permit_type_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_type_id: Mapped[int] = mapped_column(ForeignKey("permit_types.id"), index=True)
    number: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    permit_source: Mapped[str] = mapped_column(Text)
    form_source: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime]
    published_by: Mapped[str | None] = mapped_column(String(200))

    permit_type: Mapped[PermitType] = relationship(back_populates="versions", foreign_keys=[permit_type_id])

    def permit_spec(self) -> PermitSpec:
        """The version's spec as the typed model; parsed once per content hash, then cached."""
        return _parsed_spec(self.content_hash, self.spec)


_spec_cache: OrderedDict[str, PermitSpec] = OrderedDict()
_spec_cache_lock = Lock()


def _parsed_spec(content_hash: str, data: dict[str, Any]) -> PermitSpec:
    # Keyed by content hash, not row id: ids repeat across databases (and after rollbacks), hashes do not.
    with _spec_cache_lock:
        cached = _spec_cache.get(content_hash)
        if cached is not None:
            _spec_cache.move_to_end(content_hash)
            return cached
    spec = PermitSpec.model_validate(data)
    with _spec_cache_lock:
        _spec_cache[content_hash] = spec
        while len(_spec_cache) > SPEC_CACHE_SIZE:
            _spec_cache.popitem(last=False)
    return spec
