"""What the application pages show, built from rows and specs as plain values in the page's language.

Templates get these dataclasses and lists, never a query to run: every page
reads a fixed number of statements however many applications a user has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..accounts.models import User
from ..businesses import addresses
from ..errors import NotFound
from ..i18n import ENGLISH_MONTHS, THAI_MONTHS, format_baht, format_date, format_number, gettext
from ..permits.models import Agency, PermitVersion
from ..permits.services import agencies_by_id
from ..workflow.routes import CompiledRoute
from ..workflow.spec import Document, FieldType, FormField, PermitSpec, Step
from ..workflow.state import ApplicationState, ApplicationStatus
from . import uploads
from .answers import RawInput, input_of
from .models import Application, ApplicationDocument, ApplicationEvent
from .services import Problem, compiled, completeness, document_row, shown
from .visibility import Shown

TIMELINE_KINDS = frozenset({"created", "submitted", "stage_opened", "stage_approved", "stage_rejected",
                            "returned_for_correction", "information_requested", "resubmitted", "approved",
                            "rejected", "withdrawn", "document_uploaded", "stage_overdue", "licence_issued"})


# --------------------------------------------------------------------------- answers as text

def answer_text(item: FormField, value: Any, locale: str, document: ApplicationDocument | None = None) -> str:
    """An answer as the review page and the application page show it."""
    kind = item.type
    if kind is FieldType.FILE:
        return document.filename if document is not None else gettext("No file")
    if value is None or value == "" or value == []:
        return gettext("Not answered")
    if kind is FieldType.CHOICE:
        return next((option.label.get(locale) for option in item.options if option.value == value), str(value))
    if kind is FieldType.MULTI_CHOICE:
        labels = {option.value: option.label.get(locale) for option in item.options}
        return ", ".join(labels.get(entry, entry) for entry in value)
    if kind is FieldType.YES_NO:
        return gettext("Yes") if value else gettext("No")
    if kind is FieldType.DECLARATION:
        return gettext("Confirmed") if value else gettext("Not confirmed")
    if kind is FieldType.DATE:
        return format_date(dt.date.fromisoformat(str(value)), locale)
    if kind is FieldType.MONEY:
        return format_baht(float(value), locale)
    if kind is FieldType.AREA_M2:
        return gettext("%(area)s m²", area=format_number(float(value), locale))
    if kind in {FieldType.NUMBER, FieldType.INTEGER}:
        return format_number(value, locale)
    if kind is FieldType.THAI_ADDRESS:
        return address_text(value, locale)
    return str(value)


def address_text(address: Mapping[str, str], locale: str) -> str:
    """A Thai address on one line: house number, moo, village, soi, road, then the area."""
    parts = [address.get("house_no", "")]
    labels = (("building", ""), ("moo", gettext("Moo %(value)s")), ("village", ""),
              ("soi", gettext("Soi %(value)s")), ("road", gettext("Road %(value)s")))
    for key, label in labels:
        value = address.get(key, "")
        if value:
            parts.append(label.replace("%(value)s", value) if label else value)
    parts.append(addresses.format_area(dict(address), locale))
    return " ".join(part for part in parts if part)


# --------------------------------------------------------------------------- form inputs

@dataclass(frozen=True)
class FieldView:
    """One question on a wizard page: the spec field, what to show in it and its message."""

    field: FormField
    label: str
    help: str | None
    values: RawInput
    error: str | None
    editable: bool = True
    document: Document | None = None
    file: ApplicationDocument | None = None

    def value(self, name: str | None = None) -> str:
        """The first value posted or stored under input `name` (the field id by default)."""
        values = self.values.get(name or self.field.id) or []
        return values[0] if values else ""

    def chosen(self, option: str, name: str | None = None) -> bool:
        """True when `option` is among the values of input `name`."""
        return option in (self.values.get(name or self.field.id) or [])


def field_views(application: Application, fields: tuple[FormField, ...], locale: str,
                errors: Mapping[str, Any] | None = None, editable: set[str] | None = None) -> list[FieldView]:
    """The questions of a page filled in with the stored answers, or the raw input kept for invalid ones."""
    spec = compiled(application.permit_version).spec
    views = []
    for item in fields:
        raw = application.pending_input.get(item.id)
        values = raw if raw is not None else input_of(item, application.answers.get(item.id), locale)
        document = spec.document(item.document) if item.document else None
        error = (errors or {}).get(item.id)
        views.append(FieldView(item, item.label.get(locale), item.help.get(locale) if item.help else None, values,
                               str(error) if error is not None else None,
                               editable is None or item.id in editable, document,
                               document_row(application, item.document) if item.document else None))
    return views


def month_names(locale: str) -> list[tuple[int, str]]:
    """Months for a date's month list, in the page's language."""
    return list(enumerate(ENGLISH_MONTHS if locale == "en" else THAI_MONTHS, start=1))


def province_choices(locale: str) -> list[addresses.Place]:
    """The 77 provinces for an address's province list."""
    return addresses.provinces(locale)


# --------------------------------------------------------------------------- review

@dataclass(frozen=True)
class AnswerLine:
    """One answer as a label and its text."""

    label: str
    text: str
    field_id: str


@dataclass(frozen=True)
class StepSummary:
    """A shown step with its answers as text."""

    step: Step
    title: str
    lines: list[AnswerLine]


@dataclass(frozen=True)
class DocumentLine:
    """A checklist item and its file, or how it is provided."""

    document: Document
    title: str
    help: str | None
    file: ApplicationDocument | None
    required: bool
    accepts: str
    max_size_mb: float

    @property
    def fetched_by_office(self) -> bool:
        """True for a document a state agency issued, which the office fetches itself."""
        return self.document.issued_by_state


@dataclass(frozen=True)
class FeeLine:
    """A fee as label, amount in baht and when it is paid."""

    label: str
    amount: str
    payable: str


def step_summaries(application: Application, current: Shown, locale: str) -> list[StepSummary]:
    """Every shown step with its answers as text."""
    summaries = []
    for step in current.steps:
        lines = [AnswerLine(item.label.get(locale),
                            answer_text(item, application.answers.get(item.id), locale,
                                        document_row(application, item.document) if item.document else None),
                            item.id)
                 for item in current.fields[step.id]]
        summaries.append(StepSummary(step, step.title.get(locale), lines))
    return summaries


def document_lines(application: Application, current: Shown, locale: str) -> list[DocumentLine]:
    """The checklist items the answers call for."""
    return [DocumentLine(document, document.title.get(locale), document.help.get(locale) if document.help else None,
                         document_row(application, document.id), document.required and not document.issued_by_state,
                         uploads.accepted_kinds(document), document.max_size_mb)
            for document in current.documents]


PAYABLE = {"on_submission": _l("Paid when submitting"), "before_issue": _l("Paid before the licence is issued"),
           "set_by_agency": _l("Amount confirmed by the agency")}


def fee_lines(spec: PermitSpec, items: list[dict[str, Any]], locale: str) -> list[FeeLine]:
    """Fees as label, amount in baht and when they are paid."""
    labels = {fee.id: fee.label.get(locale) for fee in spec.permit.fees}
    return [FeeLine(labels.get(item["fee_id"], item["fee_id"]), format_baht(item["amount"], locale),
                    str(PAYABLE.get(item["payable"], item["payable"]))) for item in items]


@dataclass(frozen=True)
class Review:
    """Everything on the review page."""

    steps: list[StepSummary]
    documents: list[DocumentLine]
    fees: list[FeeLine]
    total: str
    expected_on: dt.date
    problems: list[Problem]
    titles: dict[str, str]


def review(application: Application, expected_on: dt.date, locale: str) -> Review:
    """The review page of a draft: answers, documents, fees for these answers, expected decision date."""
    bundle = compiled(application.permit_version)
    current = shown(application)
    items = bundle.workflow.assess_fees(current.answers)
    fees = [{"fee_id": item.fee_id, "amount": item.amount, "payable": item.payable} for item in items]
    titles = {item.id: item.label.get(locale) for item in bundle.spec.fields().values()}
    titles.update({document.id: document.title.get(locale) for document in bundle.spec.form.documents})
    return Review(step_summaries(application, current, locale), document_lines(application, current, locale),
                  fee_lines(bundle.spec, fees, locale), format_baht(sum(item.amount for item in items), locale),
                  expected_on, completeness(application, current), titles)


# --------------------------------------------------------------------------- dashboard and application page

@dataclass(frozen=True)
class StageLine:
    """An open or paused task: the stage, its agency and due date."""

    title: str
    agency: str
    due_on: dt.date
    paused: bool


@dataclass
class ApplicationSummary:
    """One application as the dashboard lists it."""

    application: Application
    title: str
    business: str
    stages: list[StageLine] = field(default_factory=list)
    waiting_on_me: str | None = None
    action_url_kind: str | None = None


def _stage_lines(route: CompiledRoute, state: ApplicationState, agencies: Mapping[str, Agency],
                 locale: str) -> list[StageLine]:
    lines = []
    for task in state.tasks.values():
        stage = route.stage(task.stage_id)
        agency = agencies.get(task.agency)
        lines.append(StageLine(stage.title.get(locale), agency.name(locale) if agency else task.agency,
                               task.due_on, task.status.value == "paused"))
    return lines


def waiting_on_applicant(application: Application) -> tuple[str | None, str | None]:
    """What the applicant must do now, and which page does it ("draft" or "correction")."""
    if application.status is ApplicationStatus.DRAFT:
        return gettext("Finish and submit your draft"), "draft"
    if application.status is ApplicationStatus.CORRECTION_REQUESTED:
        return gettext("Correct the application and send it again"), "correction"
    if application.status is ApplicationStatus.INFORMATION_REQUESTED:
        return gettext("Give the information asked for and send it again"), "correction"
    return None, None


def dashboard(session: Session, user: User, locale: str) -> list[ApplicationSummary]:
    """The user's applications, newest activity first; two statements whatever their number."""
    applications = list(session.scalars(
        select(Application).where(Application.applicant_id == user.id)
        .options(joinedload(Application.permit_version).joinedload(PermitVersion.permit_type),
                 joinedload(Application.business))
        .order_by(Application.updated_at.desc(), Application.id.desc())))
    states = {application.id: ApplicationState.from_json(application.engine_state) for application in applications}
    agencies = agencies_by_id(session, {task.agency for state in states.values() for task in state.tasks.values()})
    summaries = []
    for application in applications:
        bundle = compiled(application.permit_version)
        waiting, kind = waiting_on_applicant(application)
        summaries.append(ApplicationSummary(
            application, bundle.spec.permit.title.get(locale), application.business.name(locale),
            _stage_lines(bundle.workflow.route, states[application.id], agencies, locale), waiting, kind))
    return summaries


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline, in the page's language."""

    at: dt.datetime
    kind: str
    text: str
    note: str | None
    details: list[str]


def _timeline_text(event: ApplicationEvent, route: CompiledRoute, agencies: Mapping[str, Agency],
                   locale: str) -> str:
    stage = route.stage(event.stage_id).title.get(locale) if event.stage_id and event.stage_id in route.nodes \
        else ""
    agency_row = agencies.get(event.agency_id or "")
    agency = agency_row.name(locale) if agency_row else (event.agency_id or "")
    due = event.data.get("due_on")
    due_text = format_date(dt.date.fromisoformat(due), locale) if due else ""
    texts = {
        "created": lambda: gettext("Draft started"),
        "submitted": lambda: gettext("Application submitted"),
        "stage_opened": lambda: gettext("%(stage)s started at %(agency)s (due %(date)s)", stage=stage,
                                        agency=agency, date=due_text),
        "stage_approved": lambda: gettext("%(stage)s approved by %(agency)s", stage=stage, agency=agency),
        "stage_rejected": lambda: gettext("%(stage)s: rejected by %(agency)s", stage=stage, agency=agency),
        "stage_overdue": lambda: gettext("%(stage)s is overdue at %(agency)s", stage=stage, agency=agency),
        "returned_for_correction": lambda: gettext("Returned for correction by %(agency)s", agency=agency),
        "information_requested": lambda: gettext("%(agency)s asked for more information", agency=agency),
        "resubmitted": lambda: gettext("Corrected application sent again"),
        "approved": lambda: gettext("Application approved"),
        "rejected": lambda: gettext("Application rejected by %(agency)s", agency=agency),
        "withdrawn": lambda: gettext("Application withdrawn"),
        "document_uploaded": lambda: gettext("Document uploaded: %(name)s",
                                             name=str(event.data.get("filename", ""))),
        "licence_issued": lambda: gettext("Licence %(number)s issued", number=str(event.data.get("number", ""))),
    }
    return texts[event.kind]()


def timeline(application: Application, agencies: Mapping[str, Agency], locale: str) -> list[TimelineEntry]:
    """The events the applicant sees, oldest first, with the officer's notes and what to fix."""
    bundle = compiled(application.permit_version)
    titles = {item.id: item.label.get(locale) for item in bundle.spec.fields().values()}
    titles.update({document.id: document.title.get(locale) for document in bundle.spec.form.documents})
    entries = []
    for event in application.events:
        if event.kind not in TIMELINE_KINDS:
            continue
        details = [titles.get(item, item) for item in [*event.data.get("fields", []),
                                                        *event.data.get("documents", [])]]
        entries.append(TimelineEntry(event.at, event.kind, _timeline_text(event, bundle.workflow.route, agencies,
                                                                          locale), event.note, details))
    return entries


@dataclass(frozen=True)
class ApplicationPage:
    """Everything on an application's own page."""

    application: Application
    title: str
    business: str
    stages: list[StageLine]
    timeline: list[TimelineEntry]
    steps: list[StepSummary]
    documents: list[DocumentLine]
    fees: list[FeeLine]
    total: str
    waiting_on_me: str | None
    action_kind: str | None
    correction_items: list[str]


def application_page(session: Session, application_id: int, user: User, locale: str) -> ApplicationPage:
    """The page of one of the user's applications; a fixed number of statements. `NotFound` for others'."""
    return viewed_application_page(session, application_id, lambda application: application.applicant_id == user.id,
                                   locale)


def viewed_application_page(session: Session, application_id: int, may_view: Callable[[Application], bool],
                            locale: str) -> ApplicationPage:
    """The application's page when `may_view` allows it (the officers' task page uses it too); else `NotFound`."""
    application = session.scalars(
        select(Application).where(Application.id == application_id)
        .options(joinedload(Application.permit_version), joinedload(Application.business),
                 selectinload(Application.documents), selectinload(Application.events))).first()
    if application is None or not may_view(application):
        raise NotFound()
    bundle = compiled(application.permit_version)
    state = ApplicationState.from_json(application.engine_state)
    wanted = {task.agency for task in state.tasks.values()}
    wanted |= {event.agency_id for event in application.events if event.agency_id}
    agencies = agencies_by_id(session, wanted)
    current = shown(application)
    total = sum(float(item["amount"]) for item in application.fees)
    waiting, kind = waiting_on_applicant(application)
    titles = {item.id: item.label.get(locale) for item in bundle.spec.fields().values()}
    titles.update({document.id: document.title.get(locale) for document in bundle.spec.form.documents})
    correction = application.correction or {}
    items = [titles.get(item, item) for item in [*correction.get("fields", []), *correction.get("documents", [])]]
    return ApplicationPage(
        application, bundle.spec.permit.title.get(locale), application.business.name(locale),
        _stage_lines(bundle.workflow.route, state, agencies, locale), timeline(application, agencies, locale),
        step_summaries(application, current, locale), document_lines(application, current, locale),
        fee_lines(bundle.spec, application.fees, locale), format_baht(total, locale), waiting, kind, items)
