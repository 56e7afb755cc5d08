"""Webhook subscriptions and deliveries: the rules, free of Flask requests.

On each domain event (bizportal/events.py) `enqueue_deliveries` writes, in the
event's transaction, one delivery row per matching active subscription and a
`webhooks.deliver` job; the job POSTs after the commit (docs/webhooks.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import events
from ..accounts.models import User
from ..audit.services import record
from ..errors import BizportalError, InvalidTransition, NotFound
from ..jobs import services as jobs
from ..jobs.models import Job, JobStatus
from ..permits.models import Agency
from . import signing, targets
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

DELIVER_JOB = "webhooks.deliver"
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
EXCERPT_BYTES = 1024
"""How much of a receiver's answer is read and kept; the rest is never read."""
MAX_ERROR_CHARS = 1000
DELIVERIES_SHOWN = 50
USER_AGENT = "Bizportal-Webhooks/1"


class SubscriptionInvalid(BizportalError):
    """The subscription's fields break a rule; `problems` pairs each field name with its message."""

    status = 422

    def __init__(self, problems: list[tuple[str, Any]]) -> None:
        super().__init__(problems[0][1])
        self.problems = problems


@dataclass(frozen=True)
class SubscriptionInput:
    """What an admin types for a subscription."""

    url: str
    description: str
    events: tuple[str, ...]
    agency_id: str | None
    active: bool
    allow_private_target: bool


def _validate(session: Session, data: SubscriptionInput) -> None:
    problems: list[tuple[str, Any]] = []
    try:
        targets.check(data.url, allow_private=data.allow_private_target)
    except targets.TargetRefused as refused:
        problems.append(("url", refused.message))
    if not data.events or set(data.events) - set(events.EVENT_TYPES):
        problems.append(("events", _l("Choose at least one event.")))
    if data.agency_id and session.get(Agency, data.agency_id) is None:
        problems.append(("agency_id", _l("Choose an agency from the list.")))
    if len(data.description) > 200:
        problems.append(("description", _l("Use at most 200 characters.")))
    if problems:
        raise SubscriptionInvalid(problems)


def _state(subscription: WebhookSubscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription (never the secret)."""
    return {"url": subscription.url, "description": subscription.description, "events": list(subscription.events),
            "agency_id": subscription.agency_id, "active": subscription.active,
            "allow_private_target": subscription.allow_private_target}


def create_subscription(session: Session, actor: User, data: SubscriptionInput,
                        now: dt.datetime) -> tuple[WebhookSubscription, str]:
    """Create a subscription with a new secret; returns it and the secret (shown once). Audited."""
    _validate(session, data)
    secret = signing.new_secret()
    subscription = WebhookSubscription(url=data.url.strip(), description=data.description.strip(),
                                       events=list(data.events), agency_id=data.agency_id or None, secret=secret,
                                       active=data.active, allow_private_target=data.allow_private_target,
                                       created_by_id=actor.id, created_at=now, updated_at=now)
    session.add(subscription)
    session.flush()
    record(session, at=now, actor_id=actor.id, action="webhook_created", subject_type="webhook",
           subject_id=subscription.id, data={"after": _state(subscription)})
    return subscription, secret


def get_subscription(session: Session, subscription_id: int | None) -> WebhookSubscription:
    """The subscription, or `NotFound`."""
    subscription = session.get(WebhookSubscription, subscription_id) if subscription_id else None
    if subscription is None:
        raise NotFound()
    return subscription


def update_subscription(session: Session, actor: User, subscription_id: int, data: SubscriptionInput,
                        now: dt.datetime) -> WebhookSubscription:
    """Change a subscription's URL, events, scope, active and private-target flags. Audited with before/after."""
    subscription = get_subscription(session, subscription_id)
    _validate(session, data)
    before = _state(subscription)
    subscription.url, subscription.description = data.url.strip(), data.description.strip()
    subscription.events, subscription.agency_id = list(data.events), data.agency_id or None
    subscription.active, subscription.allow_private_target = data.active, data.allow_private_target
    after = _state(subscription)
    if after != before:
        subscription.updated_at = now
        session.flush()
        record(session, at=now, actor_id=actor.id, action="webhook_updated", subject_type="webhook",
               subject_id=subscription.id, data={"before": before, "after": after})
    return subscription


def rotate_secret(session: Session, actor: User, subscription_id: int, now: dt.datetime) -> str:
    """Replace the subscription's secret; the new one is returned to be shown once. Audited (not the secret)."""
    subscription = get_subscription(session, subscription_id)
    subscription.secret = signing.new_secret()
    subscription.updated_at = now
    session.flush()
    record(session, at=now, actor_id=actor.id, action="webhook_secret_rotated", subject_type="webhook",
           subject_id=subscription.id)
    return subscription.secret


def list_subscriptions(session: Session, agency_id: str | None = None) -> list[WebhookSubscription]:
    """Every subscription (or those scoped to `agency_id`), newest first."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.id.desc())
    if agency_id is not None:
        query = query.where(WebhookSubscription.agency_id == agency_id)
    return list(session.scalars(query))


def recent_deliveries(session: Session, subscription_id: int, limit: int = DELIVERIES_SHOWN) -> list[WebhookDelivery]:
    """The subscription's latest deliveries, newest first (one statement)."""
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


def retry_delivery(session: Session, actor: User, delivery_id: int, now: dt.datetime) -> WebhookDelivery:
    """Send a failed delivery again with a fresh set of attempts (through its job). Audited."""
    delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                               .with_for_update()).first()
    if delivery is None:
        raise NotFound()
    if delivery.status is not DeliveryStatus.FAILED:
        raise InvalidTransition(_l("Only a failed delivery can be sent again."))
    job = session.get(Job, delivery.job_id) if delivery.job_id else None
    if job is not None and job.status is JobStatus.FAILED:
        jobs.retry(session, job.id, now, actor_id=actor.id)
    else:  # the job finished without sending (subscription paused): a new one
        delivery.job_id = jobs.schedule(session, DELIVER_JOB, {"delivery_id": delivery.id}, now).id
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now
    session.flush()
    record(session, at=now, actor_id=actor.id, action="webhook_delivery_retried", subject_type="webhook",
           subject_id=delivery.subscription_id, data={"delivery_id": delivery.id, "event_id": delivery.event_id,
                                                      "attempts": delivery.attempts})
    return delivery


# --------------------------------------------------------------------------- events → deliveries

def matches(subscription: WebhookSubscription, event_type: str, payload: dict[str, Any]) -> bool:
    """Whether the subscription wants this event: its type is chosen and, when scoped, it concerns the agency."""
    if not subscription.active or event_type not in subscription.events:
        return False
    return subscription.agency_id is None or subscription.agency_id in payload.get("agency_ids", ())


def enqueue_deliveries(session: Session, event_type: str, payload: dict[str, Any],
                       now: dt.datetime | None = None) -> list[WebhookDelivery]:
    """One delivery and one job per matching subscription, in the caller's transaction (sent after commit)."""
    now = now or dt.datetime.now(dt.UTC)
    subscriptions = session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
                                    .order_by(WebhookSubscription.id)).all()
    wanted = [subscription for subscription in subscriptions if matches(subscription, event_type, payload)]
    if not wanted:
        return []
    event_id = str(uuid.uuid4())  # one event, one id, whichever subscriptions receive it
    deliveries = []
    for subscription in wanted:
        delivery = WebhookDelivery(subscription_id=subscription.id, event_id=event_id, event_type=event_type,
                                   payload=json.loads(json.dumps(payload, default=str)),
                                   status=DeliveryStatus.PENDING, attempts=0, created_at=now, next_attempt_at=now)
        session.add(delivery)
        session.flush()
        delivery.job_id = jobs.schedule(session, DELIVER_JOB, {"delivery_id": delivery.id}, now,
                                        dedupe_key=f"webhook-delivery:{delivery.id}").id
        deliveries.append(delivery)
    session.flush()
    return deliveries


def _receiver(event_type: str) -> Any:
    def receive(session: Session, payload: dict[str, Any]) -> None:
        enqueue_deliveries(session, event_type, payload)

    receive.__name__ = f"webhooks_on_{event_type}"
    return receive


for _name in events.EVENT_TYPES:
    events.signal(_name).connect(_receiver(_name), weak=False)


# --------------------------------------------------------------------------- sending

class DeliveryFailed(Exception):
    """One attempt did not get a 2xx answer; carries what the receiver said, for the delivery log."""

    def __init__(self, message: str, status_code: int | None = None, excerpt: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.excerpt = excerpt


@dataclass(frozen=True)
class Response:
    """What a receiver answered: the status code and the first `EXCERPT_BYTES` of the body."""

    status_code: int
    excerpt: str


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON body sent for a delivery: the same bytes at every attempt."""
    envelope = {"id": delivery.event_id, "type": delivery.event_type,
                "created_at": delivery.created_at.isoformat(), "data": delivery.payload}
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address already checked, with the name's certificate check and SNI."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to an address already checked."""

    def __init__(self, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)


def post(target: targets.Target, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` to the checked target's first reachable address; never follows redirects.

    Connecting takes at most `CONNECT_TIMEOUT` seconds per address and the whole
    exchange at most `TOTAL_TIMEOUT` (a timer shuts the socket down); only the first
    `EXCERPT_BYTES` of the answer are read. Raises `OSError` and `http.client` errors.
    """
    deadline = time.monotonic() + TOTAL_TIMEOUT
    last_error: Exception | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(target.host, address, target.port, min(CONNECT_TIMEOUT, remaining))
        else:
            connection = _PinnedHTTPConnection(address, target.port, min(CONNECT_TIMEOUT, remaining))
        try:
            connection.connect()
        except OSError as error:
            last_error = error
            connection.close()
            continue
        return _exchange(connection, target, body, headers, deadline)
    raise last_error or TimeoutError("no address answered in time")


def _exchange(connection: http.client.HTTPConnection, target: targets.Target, body: bytes,
              headers: dict[str, str], deadline: float) -> Response:
    sock = connection.sock
    assert sock is not None
    sock.settimeout(max(deadline - time.monotonic(), 0.01))

    def cut() -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(deadline - time.monotonic(), 0.01), cut)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", target.path, body=body,
                           headers={"Host": target.host_header, "User-Agent": USER_AGENT,
                                    "Content-Length": str(len(body)), **headers})
        answer = connection.getresponse()
        excerpt = answer.read(EXCERPT_BYTES)
        return Response(answer.status, excerpt.decode("utf-8", errors="replace"))
    finally:
        timer.cancel()
        connection.close()


@dataclass(frozen=True)
class Outgoing:
    """One attempt of a delivery, read in the job's first transaction and sent with none open."""

    delivery_id: int
    url: str
    allow_private_target: bool
    secret: str
    event_id: str
    event_type: str
    body: bytes


class DeliveryExchange:
    """The `webhooks.deliver` job as an exchange (`jobs.registry.Exchange`): the POST, which may take up to
    `TOTAL_TIMEOUT` seconds, holds no row lock and no transaction (on SQLite, no write lock on the portal)."""

    def prepare(self, session: Session, payload: dict[str, Any]) -> Outgoing | None:
        """What to send for delivery `payload["delivery_id"]`, or None: missing, already delivered, or its
        subscription is paused (then marked failed without sending)."""
        delivery = _locked_delivery(session, int(payload["delivery_id"]))
        if delivery is None or delivery.status is DeliveryStatus.DELIVERED:
            return None
        subscription = delivery.subscription
        if not subscription.active:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            delivery.last_error = "subscription paused: not sent"
            return None
        return Outgoing(delivery.id, subscription.url, subscription.allow_private_target, subscription.secret,
                        delivery.event_id, delivery.event_type, body_of(delivery))

    def send(self, outgoing: Outgoing) -> Response:
        """Check the target again (its name may point elsewhere now), sign and POST; `DeliveryFailed` unless the
        receiver answers 2xx."""
        try:
            target = targets.check(outgoing.url, allow_private=outgoing.allow_private_target)
        except targets.TargetRefused as refused:
            raise DeliveryFailed(f"target refused: {refused}") from None
        headers = {"Content-Type": "application/json", "Bizportal-Event-Id": outgoing.event_id,
                   "Bizportal-Event-Type": outgoing.event_type,
                   signing.SIGNATURE_HEADER: signing.signature_header(outgoing.secret, int(time.time()), outgoing.body)}
        try:
            response = post(target, outgoing.body, headers)
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}", response.status_code, response.excerpt)
        return response

    def record(self, session: Session, payload: dict[str, Any], response: Response) -> None:
        """Mark the delivery delivered with the receiver's answer."""
        delivery = _locked_delivery(session, int(payload["delivery_id"]))
        if delivery is None or delivery.status is DeliveryStatus.DELIVERED:
            return
        delivery.status, delivery.attempts = DeliveryStatus.DELIVERED, delivery.attempts + 1
        delivery.last_status_code, delivery.last_response_excerpt = response.status_code, response.excerpt
        delivery.last_error, delivery.delivered_at, delivery.next_attempt_at = None, dt.datetime.now(dt.UTC), None
        session.flush()
        logger.info("webhook delivered", extra={"delivery_id": delivery.id, "status_code": response.status_code})


def _locked_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                           .with_for_update()).first()


def record_failure(session: Session, payload: dict[str, Any], error: Exception,
                   next_attempt: dt.datetime | None) -> None:
    """Keep a failed attempt on the delivery row (the job's rollback undid the handler's writes)."""
    delivery = _locked_delivery(session, int(payload["delivery_id"]))
    if delivery is None or delivery.status is DeliveryStatus.DELIVERED:
        return
    delivery.attempts += 1
    delivery.last_error = str(error)[:MAX_ERROR_CHARS]
    if isinstance(error, DeliveryFailed):
        delivery.last_status_code, delivery.last_response_excerpt = error.status_code, error.excerpt
    else:
        delivery.last_status_code, delivery.last_response_excerpt = None, None
    delivery.next_attempt_at = next_attempt
    delivery.status = DeliveryStatus.PENDING if next_attempt is not None else DeliveryStatus.FAILED
    session.flush()
