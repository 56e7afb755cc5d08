"""E-mail: written to `outbox_emails` in the caller's transaction, delivered after commit.

With `MAIL_SERVER` set, delivery goes through that SMTP server; without it (the
demo), the message is written to the log and shown on the development inbox
page. Nothing is sent for a transaction that rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import MailSettings
from ..database import after_commit
from .models import OutboxEmail

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 15


def queue_email(session: Session, recipient: str, subject: str, body: str, now: dt.datetime) -> OutboxEmail:
    """Store an e-mail and deliver it once the current unit of work has committed.

    Needs an app context: the mail settings are those of the running app.
    """
    email = OutboxEmail(recipient=recipient, subject=subject, body=body, created_at=now)
    session.add(email)
    session.flush()
    app_settings = current_app.extensions["bizportal.settings"]
    settings: MailSettings = app_settings.mail
    email_id, message = email.id, _message(settings, recipient, subject, body)
    log_content = not app_settings.production  # a reset link in a production log would be a secret leaked
    after_commit(session, lambda: deliver(settings, message, email_id, log_content=log_content))
    return email


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
