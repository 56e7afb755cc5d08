"""Licence life cycle: issue on approval, render and store, suspend, revoke, reinstate, expire, renew.

Every function takes the session and explicit values (the time included), flushes
and never commits; every state change is one audit entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from .. import events
from ..accounts.models import Role, User
from ..applications.models import Application, ApplicationEvent
from ..applications.services import carry_documents, compiled, get_viewable_application, start_application
from ..audit.services import record
from ..errors import BizportalError, InvalidTransition, NotFound, PermissionDenied
from ..i18n import BUDDHIST_ERA_OFFSET, current_locale, format_date
from ..jobs.services import schedule
from ..permits.models import Agency, PermitType, PermitVersion
from ..workflow.calendar import local_date
from ..workflow.spec import FieldType
from .document import ADDRESS_FIELD, Bilingual, Officer, address_line, build_document, valid_until
from .models import STATUS_LABELS, Licence, LicenceRenewal, LicenceStatus
from .numbering import format_number, next_sequence
from .signing import SigningKey

if TYPE_CHECKING:  # WeasyPrint is for workers: a web process never imports it (about 20 MB per process)
    from .rendering import Renders

logger = logging.getLogger(__name__)

RENDER_JOB = "licences.render"
OFFICER_POSITION = Bilingual("เจ้าหน้าที่ผู้มีอำนาจออกใบอนุญาต", "Authorised issuing officer")
MAX_REASON_CHARS = 2000


class ReasonRequired(BizportalError):
    """A suspension or revocation without a reason."""

    status = 400


# --------------------------------------------------------------------------- issuing

def issue_on_approval(session: Session, application: Application, actor_id: int | None,
                      now: dt.datetime) -> Licence:
    """Write the licence of a just-approved application and schedule its rendering, in the caller's transaction.

    The number is taken from the (permit type, Buddhist-Era year) counter, locked
    until the commit. A renewal's licence starts the day after the licence it
    continues ends, when that one is still valid. Idempotent per application.
    """
    existing = session.scalars(select(Licence).where(Licence.application_id == application.id)).first()
    if existing is not None:
        return existing
    version = application.permit_version
    spec = compiled(version).spec
    licence_spec = spec.permit.licence
    agency = session.get(Agency, spec.permit.issuing_agency)
    if agency is None:
        raise NotFound()
    issued_on = local_date(now)
    previous = _renewed_licence(session, application.id)
    valid_from = issued_on
    if previous is not None and previous.valid_until is not None and previous.valid_until >= issued_on:
        valid_from = previous.valid_until + dt.timedelta(days=1)
    year_be = issued_on.year + BUDDHIST_ERA_OFFSET
    sequence = next_sequence(session, version.permit_type_id, year_be)
    number = format_number(licence_spec.number_format, seq=sequence, year_be=year_be, year=issued_on.year,
                           permit_code=spec.permit.code, agency_code=agency.code)
    answers = application.answers
    business = application.business
    holder = str(answers.get("applicant_name") or business.name_th)[:200]
    business_name_th = str(answers.get("business_name") or answers.get("premises_name") or business.name_th)[:200]
    address = answers.get(ADDRESS_FIELD)
    licence = Licence(
        number=number, application=application, permit_type_id=version.permit_type_id,
        permit_version_id=version.id, agency_id=agency.id, holder_id=application.applicant_id, holder_name=holder,
        business_name_th=business_name_th,
        business_name_en=business.name_en if business_name_th == business.name_th else None,
        premises_address=address_line(address, "th") if isinstance(address, dict) else None,
        year_be=year_be, sequence=sequence, valid_from=valid_from,
        valid_until=valid_until(valid_from, licence_spec.validity), status=LicenceStatus.PENDING,
        approved_at=now, issued_by_id=actor_id, created_at=now,
        renews_licence_id=previous.id if previous is not None and previous.renewed_by is None else None)
    session.add(licence)
    session.flush()
    record(session, at=now, actor_id=actor_id, action="licence_created", subject_type="licence",
           subject_id=licence.id, to_state=LicenceStatus.PENDING.value,
           data={"number": number, "application_id": application.id, "renews_licence_id": licence.renews_licence_id})
    schedule(session, RENDER_JOB, {"licence_id": licence.id}, now, dedupe_key=f"licence:{licence.id}")
    logger.info("licence numbered", extra={"application_id": application.id, "licence_id": licence.id})
    return licence


def _renewed_licence(session: Session, application_id: int) -> Licence | None:
    renewal = session.scalars(select(LicenceRenewal).where(LicenceRenewal.application_id == application_id)).first()
    return session.get(Licence, renewal.licence_id) if renewal is not None else None


def file_name(licence: Licence) -> str:
    """`<year_be>/<id>-<number with only safe characters>.pdf`, relative to the licences folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", licence.number).strip("._") or "licence"
    return f"{licence.year_be}/{licence.id:06d}-{safe}.pdf"


def render_and_issue(session: Session, licence_id: int, *, renderer: Renders, signing_key: SigningKey,
                     verify_base_url: str, files_root: Path, now: dt.datetime) -> Licence:
    """Render the licence, store its PDF atomically and mark it issued with one `licence_issued` event.

    Does nothing to a licence that is no longer pending, so running it twice gives one
    file and one event. The file name comes from the licence row, so a retried render
    replaces the same file.
    """
    row = session.execute(_issuing_rows(licence_id)).first()
    if row is None:
        raise NotFound()
    licence, application, version, _permit_type, agency, officer_name = row
    if licence.status is not LicenceStatus.PENDING:
        return licence
    spec = compiled(version).spec
    document = build_document(
        permit_key=spec.permit.key, licence=spec.permit.licence, form=spec.form, answers=application.answers,
        number=licence.number, agency_id=agency.id, agency_name=Bilingual(agency.name_th, agency.name_en),
        issued_on=local_date(licence.approved_at), valid_from=licence.valid_from,
        officer=Officer(officer_name if officer_name is not None else agency.name_th, OFFICER_POSITION),
        signing_key=signing_key, verify_base_url=verify_base_url)
    pdf = renderer.render(document)
    relative = file_name(licence)
    _write_atomically(files_root / relative, pdf)
    licence.file_path = relative
    licence.file_sha256 = hashlib.sha256(pdf).hexdigest()
    licence.signed_token = document.qr_text.rsplit("?t=", 1)[-1]
    licence.status = LicenceStatus.ISSUED
    licence.issued_at = licence.status_changed_at = now
    session.add(ApplicationEvent(application_id=application.id, at=now, kind="licence_issued",
                                 actor_id=licence.issued_by_id, data={"number": licence.number,
                                                                      "licence_id": licence.id}))
    record(session, at=now, actor_id=licence.issued_by_id, action="licence_issued", subject_type="licence",
           subject_id=licence.id, from_state=LicenceStatus.PENDING.value, to_state=LicenceStatus.ISSUED.value,
           data={"number": licence.number, "sha256": licence.file_sha256})
    session.flush()
    events.licence_issued.send(session, payload=events.about_licence(licence, now))
    logger.info("licence issued", extra={"licence_id": licence.id, "application_id": application.id})
    return licence


def _issuing_rows(licence_id: int) -> Select[Licence, Application, PermitVersion, PermitType, Agency, str]:
    """The licence (locked until the commit), its application, permit version and type (which the
    `licence_issued` event names), agency and issuing officer's name (None without one: an outer join), in one
    statement instead of five; the rows land in the session, so following the relationships reads no more."""
    return (select(Licence, Application, PermitVersion, PermitType, Agency, User.name)
            .join(Application, Application.id == Licence.application_id)
            .join(PermitVersion, PermitVersion.id == Application.permit_version_id)
            .join(PermitType, PermitType.id == PermitVersion.permit_type_id)
            .join(Agency, Agency.id == Licence.agency_id)
            .outerjoin(User, User.id == Licence.issued_by_id)
            .where(Licence.id == licence_id)
            .with_for_update(of=Licence)
            .execution_options(populate_existing=True))


def _write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to `path` so that it survives a crash once this returns: the transaction that marks
    the licence issued commits only after it.

    The bytes go to a temporary file that is renamed into place, so no reader ever sees half a file; then
    the file and its folder are flushed to disk (without the folder's flush, a crash could keep the
    committed licence but lose its file's name). Renaming before the flushes lets one journal commit
    carry both on ext4; a crash before the commit leaves the licence pending, and its job writes
    the file again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pdf")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.replace(temporary, path)
            os.fsync(file.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# --------------------------------------------------------------------------- reading

def licence_of_application(session: Session, application_id: int) -> Licence | None:
    """The licence issued on the application, if any."""
    return session.scalars(select(Licence).where(Licence.application_id == application_id)).first()


def get_viewable_licence(session: Session, licence_id: int, user: User) -> Licence:
    """The licence if `user` may see it: its holder, an admin, an officer of the issuing agency or of an agency
    with a task on its application. `NotFound` otherwise, never revealing that it exists."""
    licence = session.get(Licence, licence_id)
    if licence is None:
        raise NotFound()
    if user.role is Role.OFFICER and user.agency_id == licence.agency_id:
        return licence
    get_viewable_application(session, licence.application_id, user)
    return licence


LIST_LIMIT = 50


def agency_licences(session: Session, user: User, number: str = "") -> list[Licence]:
    """The newest licences an officer's agency issued (all agencies for an admin), at most `LIST_LIMIT`;
    `number` keeps those whose number starts with it. One statement."""
    query = select(Licence).order_by(Licence.id.desc()).limit(LIST_LIMIT)
    if user.role is not Role.ADMIN:
        query = query.where(Licence.agency_id == (user.agency_id or ""))
    number = number.strip()[:80]
    if number:
        escaped = number.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Licence.number.like(f"{escaped}%", escape="\\"))
    return list(session.scalars(query))


def public_licence(session: Session, number: str) -> Licence:
    """The licence a third party may check by its number: any but one still being issued."""
    licence = session.scalars(select(Licence).where(Licence.number == number[:80])).first()
    if licence is None or licence.status is LicenceStatus.PENDING:
        raise NotFound(_l("No licence has the number %(number)s.", number=number[:80]))
    return licence


# --------------------------------------------------------------------------- suspend, revoke, reinstate, expire

@dataclass(frozen=True)
class Change:
    """One status change an officer may make: from which statuses, to which, and its audit action."""

    action: str
    allowed_from: tuple[LicenceStatus, ...]
    to: LicenceStatus
    needs_reason: bool


CHANGES = {
    "suspend": Change("licence_suspended", (LicenceStatus.ISSUED,), LicenceStatus.SUSPENDED, True),
    "revoke": Change("licence_revoked", (LicenceStatus.ISSUED, LicenceStatus.SUSPENDED), LicenceStatus.REVOKED, True),
    "reinstate": Change("licence_reinstated", (LicenceStatus.SUSPENDED,), LicenceStatus.ISSUED, True),
}


def may_change_status(licence: Licence, user: User) -> bool:
    """Only an officer of the issuing agency suspends, revokes or reinstates a licence."""
    return user.role is Role.OFFICER and user.agency_id == licence.agency_id and user.is_active


def change_status(session: Session, licence_id: int, officer: User, kind: str, reason: str,
                  now: dt.datetime) -> Licence:
    """Suspend, revoke or reinstate (lift a suspension) with a reason; visible on the verify page at once.

    `NotFound` for a user who may not see the licence, `PermissionDenied` for one who
    may see it but is not an officer of the issuing agency, `ReasonRequired` without a
    reason, `InvalidTransition` from a status the change does not apply to.
    """
    change = CHANGES[kind]
    licence = get_viewable_licence(session, licence_id, officer)
    if not may_change_status(licence, officer):
        raise PermissionDenied(_l("Only an officer of the issuing agency can change this licence."))
    reason = reason.replace("\x00", "").strip()[:MAX_REASON_CHARS]
    if change.needs_reason and not reason:
        raise ReasonRequired(_l("Give the reason: it is recorded and shown to the holder."))
    licence = session.scalars(select(Licence).where(Licence.id == licence_id).with_for_update()
                              .execution_options(populate_existing=True)).one()
    if licence.public_status(local_date(now)) not in change.allowed_from:
        raise InvalidTransition(_l("This licence is %(status)s; that change is not possible.",
                                   status=licence.status_label))
    before = licence.status
    licence.status = change.to
    licence.status_reason = reason
    licence.status_changed_at = now
    record(session, at=now, actor_id=officer.id, action=change.action, subject_type="licence",
           subject_id=licence.id, from_state=before.value, to_state=change.to.value, reason=reason,
           data={"number": licence.number})
    session.flush()
    events.signal(change.action).send(session, payload=events.about_licence(licence, now, reason=reason))
    logger.info("licence status changed", extra={"licence_id": licence.id, "status": change.to.value})
    return licence


def expire(session: Session, now: dt.datetime) -> list[str]:
    """Mark every issued or suspended licence whose last valid day is before today (Thai time) as expired."""
    today = local_date(now)
    licences = session.scalars(select(Licence).where(
        Licence.status.in_((LicenceStatus.ISSUED, LicenceStatus.SUSPENDED)), Licence.valid_until.is_not(None),
        Licence.valid_until < today).order_by(Licence.id).with_for_update()).all()
    for licence in licences:
        before = licence.status
        licence.status = LicenceStatus.EXPIRED
        licence.status_changed_at = now
        record(session, at=now, actor_id=None, action="licence_expired", subject_type="licence",
               subject_id=licence.id, from_state=before.value, to_state=LicenceStatus.EXPIRED.value,
               data={"number": licence.number, "valid_until": licence.valid_until})
    session.flush()
    return [licence.number for licence in licences]


# --------------------------------------------------------------------------- renewal

@dataclass(frozen=True)
class RenewalWindow:
    """When the holder may start a renewal: from `opens_on` to `closes_on` (the last valid day), both included."""

    opens_on: dt.date
    closes_on: dt.date
    days: int

    def contains(self, day: dt.date) -> bool:
        """True when `day` is inside the window."""
        return self.opens_on <= day <= self.closes_on


def renewal_window(session: Session, licence: Licence) -> RenewalWindow | None:
    """The licence's renewal window from the permit version it was issued under; None when it never expires."""
    if licence.valid_until is None:
        return None
    version = licence.application.permit_version
    days = compiled(version).spec.permit.licence.renewal_window
    return RenewalWindow(licence.valid_until - dt.timedelta(days=days), licence.valid_until, days)


def open_renewal(session: Session, licence_id: int) -> Application | None:
    """The renewal application of the licence still in progress (not rejected or withdrawn), if any."""
    for renewal in session.scalars(select(LicenceRenewal).where(LicenceRenewal.licence_id == licence_id)
                                   .order_by(LicenceRenewal.id.desc())):
        application = session.get_one(Application, renewal.application_id)
        if application.status.value not in ("rejected", "withdrawn"):
            return application
    return None


def start_renewal(session: Session, licence_id: int, user: User, now: dt.datetime) -> Application:
    """Start the renewal of one of the user's licences: a draft under the permit's current version, pre-filled
    with the previous application's answers (declarations are asked again) and files (`carry_documents`); its
    licence will continue this one.

    Refused (`InvalidTransition`, with the window's dates) outside the window the permit
    declares, for a licence that is not valid, or one already renewed. A renewal already
    in progress is returned instead of a second one.
    """
    licence = session.get(Licence, licence_id)
    if licence is None or licence.holder_id != user.id:
        raise NotFound()
    today = local_date(now)
    if licence.renewed_by is not None:
        raise InvalidTransition(_l("This licence has already been renewed by %(number)s.",
                                   number=licence.renewed_by.number))
    if licence.public_status(today) is not LicenceStatus.ISSUED:
        raise InvalidTransition(_l("Only a valid licence can be renewed; this one is %(status)s.",
                                   status=str(STATUS_LABELS[licence.public_status(today)])))
    window = renewal_window(session, licence)
    if window is None:
        raise InvalidTransition(_l("This licence does not expire and needs no renewal."))
    if not window.contains(today):
        raise InvalidTransition(_l("A renewal can be started from %(opens)s to %(closes)s (%(days)s days before "
                                   "expiry).", opens=_date(window.opens_on), closes=_date(window.closes_on),
                                   days=window.days))
    existing = open_renewal(session, licence.id)
    if existing is not None:
        return existing
    previous = licence.application
    permit_key = previous.permit_version.permit_type.key
    application = start_application(session, user, permit_key, previous.business_id, now)
    fields = compiled(application.permit_version).spec.fields()
    carried: dict[str, Any] = {key: value for key, value in previous.answers.items()
                               if key in fields and fields[key].type is not FieldType.DECLARATION}
    application.answers = {**application.answers, **carried}
    documents = carry_documents(application, previous)
    session.add(LicenceRenewal(application_id=application.id, licence_id=licence.id, started_at=now))
    record(session, at=now, actor_id=user.id, action="licence_renewal_started", subject_type="licence",
           subject_id=licence.id, data={"number": licence.number, "application_id": application.id,
                                        "documents_carried": documents})
    session.flush()
    return application


def _date(day: dt.date) -> str:
    return format_date(day, current_locale())
