"""Accounts: registration, login with a rate limit, sessions that really end, password reset.

Every function takes the session and the time explicitly and only flushes; the
caller's unit of work commits. Passwords are hashed with Argon2id. A user's
`session_version` is bumped by logout, a password change and a reset, which
ends every session that carried the old value (copied cookies included) and
makes a reset link single-use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import BizportalError, Conflict, NotFound
from ..i18n import gettext
from ..permits.models import Agency
from .mail import queue_email
from .models import EMAIL_MAX_LENGTH, LoginAttempt, Role, User

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
MAX_FAILED_LOGINS = 5
"""Failed logins allowed per e-mail and address within `LOGIN_WINDOW`; the next ones are refused."""
LOGIN_WINDOW = dt.timedelta(minutes=15)
RESET_LINK_LIFETIME = dt.timedelta(hours=1)
RESET_SALT = "bizportal.password-reset"
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters no typed answer contains; PostgreSQL refuses NUL in text outright."""

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("bizportal: no such user")


class EmailTaken(Conflict):
    """Another account already uses this e-mail address."""

    title = _l("An account with this e-mail address already exists.")


class InvalidAccount(BizportalError):
    """The account data breaks a rule (an officer without an agency, a bad e-mail address...)."""


class WrongPassword(BizportalError):
    """The current password given to change it is not the user's password."""

    title = _l("The current password is not correct.")


class InvalidResetLink(BizportalError):
    """A reset link that is forged, expired, or already used."""

    title = _l("This password reset link is invalid, expired or already used. Please ask for a new one.")


def normalize_email(email: str) -> str:
    """The form of an e-mail address we store and compare: trimmed, lowercased, without control characters."""
    return CONTROL_CHARACTERS.sub("", email).strip().lower()


def text_problem(value: str) -> str | None:
    """Why typed text cannot be stored (it holds control characters such as NUL), or None."""
    if CONTROL_CHARACTERS.search(value):
        return gettext("Remove the special characters from this answer.")
    return None


def email_problem(email: str) -> str | None:
    """Why `email` is not a usable address, or None when it is."""
    value = normalize_email(email)
    if not value:
        return gettext("Enter your e-mail address.")
    if len(value) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.match(value):
        return gettext("Enter an e-mail address like name@example.com.")
    return None


def password_problem(password: str) -> str | None:
    """Why `password` may not be used as a new password, or None when it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return gettext("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return gettext("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH)
    return None


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def _password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, *, email: str, password: str, name: str, now: dt.datetime,
                role: Role = Role.ENTREPRENEUR, agency_id: str | None = None, locale: str = "th",
                agency_lead: bool = False) -> User:
    """Store a new user with a hashed password.

    Raises `InvalidAccount` for a bad e-mail or password, an officer without an
    existing agency, an agency (or the agency lead flag) given to someone who is not an officer;
    `EmailTaken` when the address is in use (checked case-insensitively).
    """
    email = normalize_email(email)
    problem = email_problem(email) or password_problem(password)
    if problem is not None:
        raise InvalidAccount(problem)
    if not name.strip():
        raise InvalidAccount(_l("Enter your name."))
    name_problem = text_problem(name)
    if name_problem is not None:
        raise InvalidAccount(name_problem)
    if role is Role.OFFICER:
        if agency_id is None:
            raise InvalidAccount(_l("An officer belongs to one agency: give its id."))
        if session.get(Agency, agency_id) is None:
            raise InvalidAccount(_l("There is no agency %(agency)s.", agency=agency_id))
    elif agency_id is not None:
        raise InvalidAccount(_l("Only officers belong to an agency."))
    elif agency_lead:
        raise InvalidAccount(_l("Only officers can lead an agency's work."))
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken()
    user = User(email=email, password_hash=hash_password(password), role=role, agency_id=agency_id,
                name=name.strip(), locale=locale, is_active=True, session_version=1, created_at=now,
                is_agency_lead=agency_lead)
    try:
        with session.begin_nested():  # two registrations racing for one address: the second gets EmailTaken
            session.add(user)
            session.flush()
    except IntegrityError:
        raise EmailTaken() from None
    logger.info("user created", extra={"user_id": user.id, "role": user.role.value})
    return user


def register(session: Session, *, email: str, password: str, name: str, locale: str, now: dt.datetime) -> User:
    """Create an entrepreneur's account (see `create_user` for the errors)."""
    return create_user(session, email=email, password=password, name=name, now=now, locale=locale)


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login: the user, or why not (`throttled` with the minutes to wait)."""

    user: User | None
    throttled: bool = False
    retry_after_minutes: int = 0


def authenticate(session: Session, *, email: str, password: str, ip_address: str, locale: str,
                 now: dt.datetime) -> LoginResult:
    """Check an e-mail and password, at most `MAX_FAILED_LOGINS` failures per address and IP per window.

    A failure is recorded (the caller must commit it, so this never raises for
    bad credentials); a success forgets the failures of that e-mail and address
    and remembers `locale` for the user's e-mails. An unknown e-mail costs the
    same hashing time as a known one, so timing tells nothing.
    """
    email = normalize_email(email)[:EMAIL_MAX_LENGTH]
    ip_address = ip_address[:45]
    since = now - LOGIN_WINDOW
    recent = (LoginAttempt.email == email, LoginAttempt.ip_address == ip_address, LoginAttempt.attempted_at > since)
    failures = session.scalar(select(func.count()).select_from(LoginAttempt).where(*recent)) or 0
    if failures >= MAX_FAILED_LOGINS:
        oldest = session.scalar(select(func.min(LoginAttempt.attempted_at)).where(*recent)) or now
        wait = max(dt.timedelta(minutes=1), oldest + LOGIN_WINDOW - now)
        logger.warning("login throttled", extra={"failures": failures})
        return LoginResult(None, throttled=True, retry_after_minutes=-(-int(wait.total_seconds()) // 60))
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        _password_matches_dummy(password)
    elif _password_matches(user, password) and user.is_active:
        session.execute(delete(LoginAttempt).where(LoginAttempt.email == email,
                                                   LoginAttempt.ip_address == ip_address))
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.locale = locale
        session.flush()
        logger.info("login", extra={"user_id": user.id})
        return LoginResult(user)
    session.add(LoginAttempt(email=email, ip_address=ip_address, attempted_at=now))
    session.flush()
    return LoginResult(None)


def _password_matches_dummy(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, password)


def load_user(session: Session, identity: str) -> User | None:
    """The user of a session identity `"<id>.<session_version>"`, or None when that session has ended.

    A session ends when the user logs out, changes or resets the password, or is deactivated.
    """
    user_id, _, version = identity.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def end_sessions(session: Session, user: User) -> None:
    """End every session of `user`, on every device (logout; copied cookies stop working)."""
    user.session_version += 1
    session.flush()
    logger.info("sessions ended", extra={"user_id": user.id})


def change_password(session: Session, user: User, *, current_password: str, new_password: str) -> None:
    """Replace the password after checking the current one; every other session ends.

    Raises `WrongPassword` or `InvalidAccount` (new password too short or long).
    The caller logs the user in again with the new session version.
    """
    if not _password_matches(user, current_password):
        raise WrongPassword()
    problem = password_problem(new_password)
    if problem is not None:
        raise InvalidAccount(problem)
    user.password_hash = hash_password(new_password)
    end_sessions(session, user)


def _reset_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=RESET_SALT)


def make_reset_token(user: User, secret_key: str, now: dt.datetime) -> str:
    """A signed token naming the user, their session version and the time; valid for `RESET_LINK_LIFETIME`."""
    return str(_reset_serializer(secret_key).dumps({"user": user.id, "version": user.session_version,
                                                     "issued": int(now.timestamp())}))


def request_password_reset(session: Session, *, email: str, secret_key: str, reset_url: Callable[[str], str],
                           now: dt.datetime) -> None:
    """E-mail a reset link to the account with `email`, in the user's language.

    Does the same visible thing whether or not the account exists, so the form
    cannot be used to find out who has an account. `reset_url` turns a token
    into the absolute link put in the e-mail.
    """
    user = session.scalar(select(User).where(User.email == normalize_email(email)[:EMAIL_MAX_LENGTH]))
    if user is None or not user.is_active:
        logger.info("password reset asked for an unknown address")
        return
    link = reset_url(make_reset_token(user, secret_key, now))
    with force_locale(user.locale):
        subject = gettext("Reset your password")
        body = render_template("accounts/email/reset_password.txt", user=user, link=link)
    queue_email(session, user.email, subject, body, now)
    logger.info("password reset link sent", extra={"user_id": user.id})


def user_for_reset_token(session: Session, token: str, secret_key: str, now: dt.datetime) -> User:
    """The user a reset token is for; raises `InvalidResetLink` if forged, expired or already used."""
    try:
        payload = _reset_serializer(secret_key).loads(token)
    except BadSignature:
        raise InvalidResetLink() from None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(key), int)
                                                for key in ("user", "version", "issued")):
        raise InvalidResetLink()
    issued = dt.datetime.fromtimestamp(payload["issued"], dt.UTC)
    if not dt.timedelta(0) <= now - issued <= RESET_LINK_LIFETIME:
        raise InvalidResetLink()
    user = session.get(User, payload["user"])
    if user is None or not user.is_active or user.session_version != payload["version"]:
        raise InvalidResetLink()
    return user


def reset_password(session: Session, *, token: str, new_password: str, secret_key: str,
                   now: dt.datetime) -> User:
    """Set a new password from a reset link; the link then stops working, and so does every session.

    Raises `InvalidResetLink` or `InvalidAccount` (password too short or long).
    """
    user = user_for_reset_token(session, token, secret_key, now)
    problem = password_problem(new_password)
    if problem is not None:
        raise InvalidAccount(problem)
    user.password_hash = hash_password(new_password)
    session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))
    end_sessions(session, user)
    logger.info("password reset", extra={"user_id": user.id})
    return user


def list_users(session: Session) -> list[User]:
    """Every user, officers with their agency, by e-mail address (the admin's user list)."""
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def agency_of(session: Session, user: User) -> Agency | None:
    """The agency an officer belongs to (None for other users)."""
    return session.get(Agency, user.agency_id) if user.agency_id is not None else None


def agency_officers(session: Session, agency_id: str) -> list[User]:
    """The officers of one agency, by name."""
    return list(session.scalars(select(User).where(User.agency_id == agency_id, User.role == Role.OFFICER)
                                .order_by(User.name)))


class Owned(Protocol):
    """Anything with an owner: a business, an application, a document."""

    @property
    def owner_id(self) -> int:
        """The id of the user who owns it."""
        ...


OwnedT = TypeVar("OwnedT", bound=Owned)


def ensure_owner(owner_id: int | None, user: User) -> None:
    """Raise `NotFound` (404) unless `user` is the owner `owner_id` (for rows whose owner column has another name)."""
    if owner_id is None or owner_id != user.id:
        raise NotFound()


def owned_or_404(thing: OwnedT | None, user: User) -> OwnedT:
    """`thing` if `user` owns it; raises `NotFound` (404) when it is missing or someone else's.

    Someone else's object answers exactly like a missing one, so ids cannot be
    probed to learn what exists.
    """
    if thing is None:
        raise NotFound()
    ensure_owner(thing.owner_id, user)
    return thing
