"""What the public catalogue and permit pages show, built from a stored spec.

Templates get plain values in the visitor's language, never ORM rows or spec
models, so a page cannot trigger a query or show an untranslated field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from ..i18n import format_baht, ngettext
from ..i18n import gettext as _
from ..workflow.spec import Choose, Fee, Licence, Parallel, PermitSpec, Stage
from .diagram import DiagramLabels, route_svg
from .explain import Explainer, Formula, NotExplainable, amount_range, parse
from .models import Agency
from .services import CatalogueEntry, PublicPermit

CATEGORY_LABELS = {
    "food": _l("Food and restaurants"),
    "alcohol": _l("Alcohol and tobacco"),
    "utilities": _l("Water, electricity and utilities"),
    "building": _l("Buildings and signs"),
    "health": _l("Health and hygiene"),
    "commerce": _l("Trade and commerce"),
    "tourism": _l("Tourism and hotels"),
}

PAYABLE_LABELS = {
    "on_submission": _l("Paid when you submit the application"),
    "before_issue": _l("Paid before the licence is issued"),
    "set_by_agency": _l("The agency sets the final amount"),
}


def safe_url(url: str | None) -> str | None:
    """Keep only http(s) links from permit files, so a file cannot plant a `javascript:` link."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def category_label(category: str) -> str:
    """A category's name in the current language; unknown ones are shown from their id."""
    label = CATEGORY_LABELS.get(category)
    return str(label) if label is not None else category.replace("_", " ").capitalize()


@dataclass(frozen=True)
class AgencyView:
    id: str
    name: str
    website: str | None = None


def _agency(agencies: Mapping[str, Agency], agency_id: str, locale: str) -> AgencyView:
    agency = agencies.get(agency_id)
    if agency is None:
        return AgencyView(agency_id, agency_id)
    return AgencyView(agency.id, agency.name(locale), safe_url(agency.website))


@dataclass(frozen=True)
class ConditionView:
    """A `when:` condition: the expression and, when it can be worded, plain language."""

    source: str
    plain: str | None


# --------------------------------------------------------------------------- catalogue

@dataclass(frozen=True)
class CatalogueItem:
    key: str
    code: str
    title: str
    description: str
    agency: str
    time_limit_days: int
    fee_summary: str


@dataclass(frozen=True)
class CatalogueGroup:
    category: str
    label: str
    items: list[CatalogueItem]


def fee_summary(fees: Sequence[Fee], locale: str) -> str:
    """One line about what a permit costs: a fixed amount, a range, or "depends on your answers"."""
    if not fees:
        return _("No fee")
    low = high = 0.0
    for fee in fees:
        try:
            bounds = amount_range(parse(fee.amount))
        except (NotExplainable, RecursionError):
            bounds = None
        if bounds is None:
            return _("Depends on your answers")
        low += 0.0 if fee.when else bounds[0]
        high += bounds[1]
    if all(fee.payable == "set_by_agency" for fee in fees):
        return _("Set by the agency after review")
    if low == high:
        text = format_baht(low, locale) if high else _("No fee")
    elif low == 0:
        text = _("Up to %(amount)s", amount=format_baht(high, locale))
    else:
        text = _("%(low)s to %(high)s", low=format_baht(low, locale), high=format_baht(high, locale))
    if any(fee.payable == "set_by_agency" for fee in fees):
        return _("%(amount)s, plus amounts set by the agency", amount=text)
    return text


def build_catalogue(entries: Iterable[CatalogueEntry], locale: str) -> list[CatalogueGroup]:
    """Catalogue entries grouped by category, groups and items sorted by their shown names."""
    groups: dict[str, list[CatalogueItem]] = {}
    for entry in entries:
        permit = entry.spec.permit
        groups.setdefault(permit.category, []).append(CatalogueItem(
            key=entry.permit_type.key, code=permit.code, title=permit.title.get(locale),
            description=permit.description.get(locale),
            agency=entry.issuing_agency.name(locale) if entry.issuing_agency else permit.issuing_agency,
            time_limit_days=permit.time_limit_days, fee_summary=fee_summary(permit.fees, locale)))
    result = [CatalogueGroup(category, category_label(category), sorted(items, key=lambda item: item.title))
              for category, items in groups.items()]
    return sorted(result, key=lambda group: group.label)


# --------------------------------------------------------------------------- permit page

@dataclass(frozen=True)
class StageView:
    kind = "stage"
    id: str
    title: str
    description: str | None
    agency: AgencyView
    time_limit_days: int
    condition: ConditionView | None
    documents: list[str]
    ends_route: bool
    jumps_to: str | None


@dataclass(frozen=True)
class BranchView:
    """A branch of a parallel block, or an option of a choice, with its own steps."""

    id: str
    title: str | None
    steps: list[RouteView]
    condition: ConditionView | None = None


@dataclass(frozen=True)
class ParallelView:
    kind = "parallel"
    id: str
    title: str | None
    condition: ConditionView | None
    branches: list[BranchView]
    ends_route: bool
    jumps_to: str | None


@dataclass(frozen=True)
class ChooseView:
    """Exactly one of several routes; an option without a condition is taken otherwise."""

    kind = "choose"
    id: str
    title: str | None
    options: list[BranchView]
    ends_route: bool
    jumps_to: str | None


RouteView = StageView | ParallelView | ChooseView


@dataclass(frozen=True)
class DocumentView:
    id: str
    title: str
    help: str | None
    required: bool
    condition: ConditionView | None
    accept: str
    max_size_mb: float
    issued_by_state: bool


@dataclass(frozen=True)
class FeeView:
    id: str
    label: str
    source: str
    payable: str
    condition: ConditionView | None
    expression: str
    formula: Formula | None


@dataclass(frozen=True)
class FormStepView:
    id: str
    title: str
    description: str | None
    condition: ConditionView | None
    field_labels: list[str]


@dataclass(frozen=True)
class LegalBasisView:
    title: str
    sections: str | None
    url: str | None


@dataclass(frozen=True)
class PermitPage:
    key: str
    code: str
    title: str
    description: str
    category: str
    legal_basis: list[LegalBasisView]
    issuing_agency: AgencyView
    route: list[RouteView]
    documents: list[DocumentView]
    fees: list[FeeView]
    fee_summary: str
    time_limit_days: int
    time_limit_source: str | None
    steps: list[FormStepView]
    licence_title: str
    licence_validity: str
    licence_conditions: list[str]
    version: int
    published_at: dt.datetime
    content_hash: str


def validity_text(licence: Licence) -> str:
    """How long a licence is valid, in words."""
    validity = licence.validity
    if validity.permanent:
        return _("No expiry date")
    parts = []
    if validity.years:
        parts.append(ngettext("%(num)d year", "%(num)d years", validity.years))
    if validity.months:
        parts.append(ngettext("%(num)d month", "%(num)d months", validity.months))
    if validity.days:
        parts.append(ngettext("%(num)d day", "%(num)d days", validity.days))
    return _("Valid for %(duration)s from the date of issue", duration=" ".join(parts))


def build_permit_page(public: PublicPermit, locale: str) -> PermitPage:
    """The public page of a permit type's current version, in `locale`."""
    spec: PermitSpec = public.spec
    permit, form = spec.permit, spec.form
    explainer = Explainer(spec.fields(), locale)

    def condition(source: str | None) -> ConditionView | None:
        return ConditionView(source, explainer.condition(source)) if source else None

    titles = {document.id: document.title.get(locale) for document in form.documents}
    node_titles: dict[str, str] = {}

    def collect_titles(nodes: Sequence[Stage | Parallel | Choose]) -> None:
        for node in nodes:
            node_titles[node.id] = node.title.get(locale) if node.title else node.id
            if isinstance(node, Parallel):
                for branch in node.parallel:
                    collect_titles(branch.steps)
            elif isinstance(node, Choose):
                for option in node.choose:
                    collect_titles(option.steps)

    collect_titles(permit.route)

    def route(nodes: Sequence[Stage | Parallel | Choose]) -> list[RouteView]:
        views: list[RouteView] = []
        for node in nodes:
            ends = node.next == "end"
            jumps = node_titles.get(node.next) if node.next and not ends else None
            if isinstance(node, Stage):
                views.append(StageView(
                    id=node.id, title=node.title.get(locale),
                    description=node.description.get(locale) if node.description else None,
                    agency=_agency(public.agencies, node.agency, locale),
                    time_limit_days=node.time_limit_days,
                    condition=condition(node.when), documents=[titles.get(d, d) for d in node.documents],
                    ends_route=ends, jumps_to=jumps))
            elif isinstance(node, Choose):
                views.append(ChooseView(
                    id=node.id, title=node.title.get(locale) if node.title else None,
                    options=[BranchView(option.id, option.title.get(locale) if option.title else None,
                                        route(option.steps), condition(option.when))
                             for option in node.choose],
                    ends_route=ends, jumps_to=jumps))
            else:
                views.append(ParallelView(
                    id=node.id, title=node.title.get(locale) if node.title else None,
                    condition=condition(node.when),
                    branches=[BranchView(branch.id, branch.title.get(locale) if branch.title else None,
                                         route(branch.steps)) for branch in node.parallel],
                    ends_route=ends, jumps_to=jumps))
        return views

    documents = [DocumentView(
        id=document.id, title=document.title.get(locale),
        help=document.help.get(locale) if document.help else None, required=document.required,
        condition=condition(document.when), accept=", ".join(kind.value.upper() for kind in document.accept),
        max_size_mb=document.max_size_mb, issued_by_state=document.issued_by_state)
        for document in form.documents]
    fees = [FeeView(
        id=fee.id, label=fee.label.get(locale), source=fee.source, payable=str(PAYABLE_LABELS[fee.payable]),
        condition=condition(fee.when), expression=fee.amount, formula=explainer.formula(fee.amount))
        for fee in permit.fees]
    steps = [FormStepView(
        id=step.id, title=step.title.get(locale),
        description=step.description.get(locale) if step.description else None,
        condition=condition(step.when), field_labels=[item.label.get(locale) for item in step.fields])
        for step in form.steps]
    return PermitPage(
        key=public.permit_type.key, code=permit.code, title=permit.title.get(locale),
        description=permit.description.get(locale), category=category_label(permit.category),
        legal_basis=[LegalBasisView(basis.title.get(locale), basis.sections, safe_url(basis.url))
                     for basis in permit.legal_basis],
        issuing_agency=_agency(public.agencies, permit.issuing_agency, locale),
        route=route(permit.route), documents=documents, fees=fees,
        fee_summary=fee_summary(permit.fees, locale), time_limit_days=permit.time_limit_days,
        time_limit_source=permit.time_limit_source, steps=steps,
        licence_title=permit.licence.title.get(locale), licence_validity=validity_text(permit.licence),
        licence_conditions=[text.get(locale) for text in permit.licence.conditions],
        version=public.version.number, published_at=public.version.published_at,
        content_hash=public.version.content_hash)


def diagram_labels() -> DiagramLabels:
    """The route diagram's own words in the page's language."""
    return DiagramLabels(
        days=_("within %(days)s working days", days="{days}"),
        when=_("only when: %(condition)s", condition="{condition}"),
        otherwise=_("in all other cases"),
        parallel=_("at the same time; all must approve"),
        choose=_("only one of these routes"),
        then=_("then: %(step)s", step="{step}"),
        decided=_("the application is decided"),
        start=_("Application submitted"),
        end=_("Decision"),
    )


def route_diagram(spec: PermitSpec, agencies: Mapping[str, Agency], locale: str) -> Markup:
    """The route of `spec` as inline SVG in `locale`; safe to insert, every text in it is escaped."""
    names = {agency_id: agency.name(locale) for agency_id, agency in agencies.items()}
    return Markup(route_svg(spec, locale, names, diagram_labels()))  # built by ElementTree: every text escaped
