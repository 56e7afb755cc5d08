"""Permit types by API: the catalogue, and one type's current version with its form as JSON Schema.

Public data (the same as the catalogue pages), still behind a token like every
operation but the document and licence verification. Titles come in the
requested language and in both (`title_th`, `title_en`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response as FlaskResponse
from flask import request
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from ..extensions import db
from ..i18n import current_locale
from ..permits.models import Agency, PermitType, PermitVersion
from ..permits.pages import validity_text
from ..permits.services import agencies_by_id, public_permit
from ..workflow.routes import compile_route
from ..workflow.spec import PermitSpec
from .core import Problem, blueprint, decode_cursor, encode_cursor, etag_of, json_response, spec
from .jsonschema import document_entry, form_schema

TAGS = ["permit types"]


class PermitTypeQuery(BaseModel):
    """A page of the catalogue, by key."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of the previous page")
    limit: int = Field(default=50, ge=1, le=100)


class PermitAgencyOut(BaseModel):
    """An agency, named in the requested language."""

    id: str
    code: str
    name: str
    name_th: str
    name_en: str


class PermitTypeSummary(BaseModel):
    """A permit type open to applications, with its current version."""

    key: str
    version: int
    code: str
    title: str
    title_th: str
    title_en: str
    category: str
    issuing_agency: PermitAgencyOut | None
    time_limit_days: int


class PermitTypeList(BaseModel):
    """A page of permit types and the cursor of the next one (null on the last page)."""

    items: list[PermitTypeSummary]
    next_cursor: str | None


class PermitStageOut(BaseModel):
    """A stage of the route: which agency decides, in how many working days, and under what condition."""

    id: str
    title: str
    agency: PermitAgencyOut | None
    time_limit_days: int
    actions: list[str]
    when: str | None = Field(description="CEL condition on the answers; the stage runs only when it holds")


class PermitFeeOut(BaseModel):
    """A fee, computed from the answers on submission."""

    id: str
    label: str
    amount: str = Field(description="CEL expression of the amount in THB")
    when: str | None
    payable: str


class PermitDocumentOut(BaseModel):
    """A checklist item the applicant uploads."""

    id: str
    title: str
    description: str | None = None
    required: bool
    accept: list[str]
    max_size_mb: float
    issued_by_state: bool
    fields: list[str] = []
    when: str | None = Field(default=None, description="CEL condition on the answers; asked for only when it holds")


class PermitTypeDetail(PermitTypeSummary):
    """A permit type's current version: route, fees, documents, licence and the form as JSON Schema."""

    description: str
    published_at: dt.datetime
    content_hash: str
    stages: list[PermitStageOut]
    fees: list[PermitFeeOut]
    documents: list[PermitDocumentOut]
    licence_title: str
    licence_validity: str
    form_schema: dict[str, Any] = Field(description="The form's answers as JSON Schema (draft 2020-12)")


def _agency(agency: Agency | None, locale: str) -> PermitAgencyOut | None:
    if agency is None:
        return None
    return PermitAgencyOut(id=agency.id, code=agency.code, name=agency.name_en if locale == "en" else agency.name_th,
                     name_th=agency.name_th, name_en=agency.name_en)


def _summary_values(permit_type: PermitType, version: PermitVersion, permit: PermitSpec,
                    agencies: dict[str, Agency], locale: str) -> dict[str, Any]:
    title = permit.permit.title
    return {"key": permit_type.key, "version": version.number, "code": permit.permit.code,
            "title": title.get(locale), "title_th": title.th, "title_en": title.en,
            "category": permit.permit.category,
            "issuing_agency": _agency(agencies.get(permit.permit.issuing_agency), locale),
            "time_limit_days": permit.permit.time_limit_days}


def catalogue_page(session: Session, after: str | None, limit: int) -> list[tuple[PermitType, PermitVersion]]:
    """Up to `limit + 1` open permit types after key `after`, by key: one statement (keyset, no OFFSET)."""
    query = (select(PermitType, PermitVersion)
             .join(PermitVersion, PermitType.current_version_id == PermitVersion.id)
             .where(PermitType.withdrawn.is_(False)).order_by(PermitType.key).limit(limit + 1))
    if after is not None:
        query = query.where(PermitType.key > after)
    return [(permit_type, version) for permit_type, version in session.execute(query)]


@blueprint.get("/permit-types")
@spec.validate(query=PermitTypeQuery, resp=Response(HTTP_200=PermitTypeList, HTTP_400=Problem), tags=TAGS)
def list_permit_types() -> WerkzeugResponse:
    """Permit types open to applications, by key, a page at a time (`next_cursor`)."""
    query: PermitTypeQuery = request.context.query  # type: ignore[attr-defined]
    position = decode_cursor(query.cursor, 1)
    after = str(position[0]) if position is not None else None
    session, locale = db.session(), current_locale()
    rows = catalogue_page(session, after, query.limit)
    more, rows = len(rows) > query.limit, rows[:query.limit]
    specs = [(permit_type, version, version.permit_spec()) for permit_type, version in rows]
    agencies = agencies_by_id(session, (permit.permit.issuing_agency for _, _, permit in specs))
    items = [PermitTypeSummary(**_summary_values(permit_type, version, permit, agencies, locale))
             for permit_type, version, permit in specs]
    return json_response(PermitTypeList(items=items,
                                        next_cursor=encode_cursor((rows[-1][0].key,)) if more and rows else None))


@blueprint.get("/permit-types/<key>")
@spec.validate(resp=Response(HTTP_200=PermitTypeDetail, HTTP_404=Problem), tags=TAGS)
def get_permit_type(key: str) -> WerkzeugResponse:
    """The current version of a permit type: its route, fees, documents, and its form as JSON Schema.

    The `ETag` names the version and language; send it in `If-None-Match` to get 304 when nothing changed.
    """
    locale = current_locale()
    permit = public_permit(db.session(), key)
    etag = etag_of("permit-type", permit.version.content_hash, locale)
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return FlaskResponse(status=304, headers={"ETag": etag})
    body = _detail(permit.permit_type, permit.version, permit.spec, permit.agencies, locale)
    return json_response(body, headers={"ETag": etag, "Content-Language": locale})


def _detail(permit_type: PermitType, version: PermitVersion, permit: PermitSpec, agencies: dict[str, Agency],
            locale: str) -> PermitTypeDetail:
    stages = [PermitStageOut(id=stage.id, title=stage.title.get(locale),
                             agency=_agency(agencies.get(stage.agency), locale), time_limit_days=stage.time_limit_days,
                             actions=[action.value for action in stage.actions], when=stage.when)
              for stage in compile_route(permit.permit).stages()]
    fees = [PermitFeeOut(id=fee.id, label=fee.label.get(locale), amount=fee.amount, when=fee.when,
                         payable=fee.payable) for fee in permit.permit.fees]
    entries = (document_entry(document, permit.form, locale) for document in permit.form.documents)
    documents = [PermitDocumentOut(**{name: value for name, value in entry.items() if name != "x-visible-when"},
                                   when=entry.get("x-visible-when")) for entry in entries]
    return PermitTypeDetail(
        **_summary_values(permit_type, version, permit, agencies, locale),
        description=permit.permit.description.get(locale), published_at=version.published_at,
        content_hash=version.content_hash, stages=stages, fees=fees, documents=documents,
        licence_title=permit.permit.licence.title.get(locale), licence_validity=validity_text(permit.permit.licence),
        form_schema=form_schema(permit.form, locale, schema_id=f"{request.host_url.rstrip('/')}/api/v1/permit-types/"
                                                               f"{permit_type.key}#form"),
    )

