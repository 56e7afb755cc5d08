"""E-mail: written to `outbox_emails` in the caller's transaction, sent by a job after commit.

`queue_email` stores the message and schedules a `mail.send` job in the same
transaction, so nothing is sent for a transaction that rolled back, and a message
is not lost when the SMTP server is down: the job retries with backoff, and one that
keeps failing shows in the admin's Background jobs with its error, to be retried
there. The job is an exchange (`jobs.registry.Exchange`): the SMTP conversation
holds no database lock; without Redis it runs on a background thread, so the
request that caused it does not wait for the mail server.

With `MAIL_SERVER` set, delivery goes through that SMTP server; without it (the
demo), the message is written to the log and shown on the development inbox page.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import MailSettings
from ..jobs import services as jobs
from ..jobs.registry import register_exchange
from .models import OutboxEmail

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 15
MAIL_JOB = "mail.send"
MAIL_BACKOFF = (30, 120, 600, 1800, 3600)
"""30 s, 2 min, 10 min, 30 min, then hourly, 6 attempts (about 2.5 hours): a mail server restarting or
greylisting is waited out; one down for longer is an admin's matter (Background jobs)."""


def queue_email(session: Session, recipient: str, subject: str, body: str, now: dt.datetime) -> OutboxEmail:
    """Store an e-mail and schedule its `mail.send` job, both in the current unit of work."""
    email = OutboxEmail(recipient=recipient, subject=subject, body=body, created_at=now)
    session.add(email)
    session.flush()
    jobs.schedule(session, MAIL_JOB, {"email_id": email.id}, now)
    return email


@dataclass(frozen=True)
class OutgoingMail:
    """One e-mail, read from its outbox row, with the settings of the app that sends it."""

    email_id: int
    message: EmailMessage
    settings: MailSettings
    log_content: bool


class MailExchange:
    """The `mail.send` job (an exchange): read the outbox row, talk SMTP with no transaction open; the job's
    `done` mark records that it was sent."""

    def prepare(self, session: Session, payload: dict[str, Any]) -> OutgoingMail | None:
        """The message of outbox row `payload["email_id"]`; None when the row is gone (nothing to send)."""
        email = session.get(OutboxEmail, int(payload["email_id"]))
        if email is None:
            return None
        app_settings = current_app.extensions["bizportal.settings"]
        settings: MailSettings = app_settings.mail
        # A reset link in a production log would be a secret leaked: the text is logged only outside production.
        return OutgoingMail(email.id, _message(settings, email.recipient, email.subject, email.body), settings,
                            log_content=not app_settings.production)

    def send(self, outgoing: OutgoingMail) -> None:
        """Send it (`smtplib` errors and `OSError` fail the attempt, which is retried)."""
        deliver(outgoing.settings, outgoing.message, outgoing.email_id, log_content=outgoing.log_content)

    def record(self, session: Session, payload: dict[str, Any], sent: None) -> None:
        """Nothing beyond the job's `done` mark: the outbox row keeps the message, the job row when it went."""


register_exchange(MAIL_JOB, MailExchange(), queue="notifications", max_attempts=6, backoff=MAIL_BACKOFF)


def _message(settings: MailSettings, recipient: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.default_sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    return message


def deliver(settings: MailSettings, message: EmailMessage, email_id: int, *, log_content: bool) -> None:
    """Send `message` by SMTP, or write it to the log when no server is configured.

    The recipient and text are logged only when `log_content` (outside production).
    """
    if not settings.configured:
        logger.warning("e-mail not sent: no MAIL_SERVER is configured", extra={"email_id": email_id})
        if log_content:
            logger.info("e-mail %s to %s: %s\n%s", email_id, message["To"], message["Subject"],
                        message.get_content())
        return
    assert settings.server is not None
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.use_ssl:
        smtp = smtplib.SMTP_SSL(settings.server, settings.port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(settings.server, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if settings.use_tls and not settings.use_ssl:
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)
    logger.info("e-mail sent", extra={"email_id": email_id})


def recent_emails(session: Session, limit: int = 50) -> list[OutboxEmail]:
    """The newest e-mails first, for the development inbox."""
    return list(session.scalars(select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(limit)))
