"""Webhooks: domain events become signed POSTs to a real local HTTP receiver, through the jobs outbox, with
retries after a failing receiver, one request per delivery however often its job runs, target checks against
internal addresses (on save and again at delivery), agency scoping, and the admin pages.

Real services, real database (SQLite or PostgreSQL), real HTTP on 127.0.0.1; jobs run in-process after the
commit (the tests' app has no REDIS_URL) and their retries are driven by `reconcile`, as cron would. The tests'
app runs them in the thread that committed (`JOBS_IN_BACKGROUND` off: each test's rows live in one transaction
on one connection); the demo's background thread is tested on an app of its own, with real commits.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts.models import Role, User
from bizportal.applications.models import Application
from bizportal.audit.models import AuditEntry
from bizportal.businesses.models import Business
from bizportal.database import unit_of_work
from bizportal.jobs import services as jobs
from bizportal.jobs.models import Job, JobStatus
from bizportal.permits.services import LoadReport
from bizportal.webhooks import services, signing, targets
from bizportal.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

from .factories import make_business, make_quick_user
from .test_review import submitted
from .web_forms import log_in, submit

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next scripted status.

    `gate`, when a test sets it, holds every answer until the test opens it; `arrived` is set by each POST."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bizportal?source=test"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  # the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
                receiver.arrived.set()
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = json.dumps({"answered": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    assert server.server is not None
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def applicant(db_session: Session, load_seeds: Callable[[], LoadReport]) -> User:
    load_seeds()
    return make_quick_user(db_session, email="owner@example.com")


@pytest.fixture
def business(db_session: Session, applicant: User) -> Business:
    return make_business(db_session, owner=applicant)


@pytest.fixture
def admin(db_session: Session) -> User:
    return make_quick_user(db_session, role=Role.ADMIN, email="admin@example.go.th")


def subscribe(app: Flask, session: Session, admin: User, url: str, *, events: tuple[str, ...] = (
        "application_submitted",), agency_id: str | None = None, allow_private: bool = True) -> tuple[int, str]:
    with app.app_context(), unit_of_work(session):
        subscription, secret = services.create_subscription(session, admin, services.SubscriptionInput(
            url=url, description="test receiver", events=events, agency_id=agency_id, active=True,
            allow_private_target=allow_private), NOW)
    return subscription.id, secret


def submit_food(app: Flask, session: Session, applicant: User, business: Business) -> Application:
    with app.app_context():
        return submitted(session, applicant, business, app)


def deliveries_of(session: Session, subscription_id: int) -> list[WebhookDelivery]:
    session.expire_all()
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                                .order_by(WebhookDelivery.id)))


def later(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


# --------------------------------------------------------------------------- delivery

def test_submission_is_posted_signed_to_the_receiver(app: Flask, db_session: Session, admin: User,
                                                     applicant: User, business: Business,
                                                     receiver: Receiver) -> None:
    subscription_id, secret = subscribe(app, db_session, admin, receiver.url)
    application = submit_food(app, db_session, applicant, business)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/bizportal?source=test"
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["host"] == receiver.url.split("/")[2]
    assert signing.verify(secret, headers["bizportal-signature"], request.body, int(time.time()))
    assert not signing.verify(secret, headers["bizportal-signature"], request.body + b" ", int(time.time()))
    assert not signing.verify("whsec_other", headers["bizportal-signature"], request.body, int(time.time()))
    body = json.loads(request.body)
    [delivery] = deliveries_of(db_session, subscription_id)
    assert body["id"] == delivery.event_id == headers["bizportal-event-id"]
    assert body["type"] == "application_submitted" == headers["bizportal-event-type"]
    assert body["data"]["application_id"] == application.id
    assert body["data"]["reference"] == application.reference
    assert body["data"]["permit_type"] == "food_premises"
    assert "demo_health" in body["data"]["agency_ids"]
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and '"answered": 200' in (delivery.last_response_excerpt or "")


def test_the_verification_recipe_of_the_docs_works(app: Flask, db_session: Session, admin: User,
                                                   applicant: User, business: Business, receiver: Receiver) -> None:
    """The snippet in docs/webhooks.md, run as written, accepts a real delivery and refuses a tampered one."""
    from bizportal.config import BIZPORTAL_ROOT

    text = (BIZPORTAL_ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/webhooks.md", "exec"), namespace)  # noqa: S102  # our own documentation
    _, secret = subscribe(app, db_session, admin, receiver.url)
    submit_food(app, db_session, applicant, business)
    request = receiver.requests[0]
    header = {key.lower(): value for key, value in request.headers.items()}["bizportal-signature"]
    assert namespace["verify"](secret, header, request.body)
    assert not namespace["verify"](secret, header, request.body.replace(b"food_premises", b"liquor_sales"))


def test_a_failing_receiver_gets_the_delivery_on_the_third_attempt(app: Flask, db_session: Session, admin: User,
                                                                   applicant: User, business: Business,
                                                                   receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 200]
    subscription_id, secret = subscribe(app, db_session, admin, receiver.url)
    submit_food(app, db_session, applicant, business)

    [delivery] = deliveries_of(db_session, subscription_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert delivery.next_attempt_at is not None and delivery.last_error == "HTTP 500"
    job = db_session.get_one(Job, delivery.job_id)
    assert job.status is JobStatus.PENDING and job.attempts == 1
    with app.app_context():
        jobs.reconcile(db_session, later(1))  # the second attempt, due after the backoff
        assert deliveries_of(db_session, subscription_id)[0].attempts == 2
        jobs.reconcile(db_session, later(5))

    [delivery] = deliveries_of(db_session, subscription_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 3, 200)
    assert delivery.last_error is None and delivery.delivered_at is not None
    assert len(receiver.requests) == 3
    assert len({request.body for request in receiver.requests}) == 1  # the same event each time
    last = receiver.requests[-1]
    header = {key.lower(): value for key, value in last.headers.items()}["bizportal-signature"]
    assert signing.verify(secret, header, last.body, int(time.time()))
    db_session.expire_all()
    assert db_session.get_one(Job, delivery.job_id).status is JobStatus.DONE


def test_a_delivery_is_sent_once_however_often_its_job_runs(app: Flask, db_session: Session, admin: User,
                                                            applicant: User, business: Business,
                                                            receiver: Receiver) -> None:
    subscription_id, _ = subscribe(app, db_session, admin, receiver.url)
    submit_food(app, db_session, applicant, business)
    [delivery] = deliveries_of(db_session, subscription_id)
    assert len(receiver.requests) == 1
    with app.app_context():
        assert jobs.perform(delivery.job_id or 0).result == "already done"
        with unit_of_work(db_session):  # a second job for the same delivery (a duplicate, a bug elsewhere)
            second = jobs.schedule(db_session, services.DELIVER_JOB, {"delivery_id": delivery.id}, NOW)
    assert len(receiver.requests) == 1
    db_session.expire_all()
    assert db_session.get_one(Job, second.id).status is JobStatus.DONE
    assert deliveries_of(db_session, subscription_id)[0].attempts == 1


def test_failed_for_good_is_visible_and_an_admin_retry_delivers(app: Flask, client: FlaskClient,
                                                                db_session: Session, admin: User, applicant: User,
                                                                business: Business, receiver: Receiver) -> None:
    receiver.statuses = [503] * 20
    subscription_id, _ = subscribe(app, db_session, admin, receiver.url)
    submit_food(app, db_session, applicant, business)
    with app.app_context():
        for hour in range(1, 30):
            jobs.reconcile(db_session, later(60 * hour))
    [delivery] = deliveries_of(db_session, subscription_id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.last_status_code == 503
    assert delivery.attempts == db_session.get_one(Job, delivery.job_id).max_attempts == len(receiver.requests)

    log_in(client, admin.email)
    page = client.get(f"/admin/webhooks/edit?id={subscription_id}").get_data(as_text=True)
    assert f'id="delivery-{delivery.id}"' in page and "HTTP 503" in page and "answered" in page
    receiver.statuses = []
    response = submit(client, "/admin/webhooks/retry", {"delivery_id": str(delivery.id),
                                                        "subscription_id": str(subscription_id)},
                      form_page=f"/admin/webhooks/edit?id={subscription_id}")
    assert response.status_code == 302
    [delivery] = deliveries_of(db_session, subscription_id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.last_status_code == 200
    assert db_session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "webhook_delivery_retried")) == 1
    page = client.get(f"/admin/webhooks/edit?id={subscription_id}").get_data(as_text=True)
    assert "HTTP 200" in page


def test_the_target_is_checked_again_at_delivery(app: Flask, db_session: Session, admin: User, applicant: User,
                                                 business: Business, receiver: Receiver) -> None:
    """An admin withdraws the private-address allowance: the next delivery does not reach 127.0.0.1."""
    subscription_id, _ = subscribe(app, db_session, admin, receiver.url)
    with unit_of_work(db_session):
        db_session.get_one(WebhookSubscription, subscription_id).allow_private_target = False
    submit_food(app, db_session, applicant, business)
    assert receiver.requests == []
    [delivery] = deliveries_of(db_session, subscription_id)
    # Jobs run outside any request, so the stored reason is in the portal's default language (Thai).
    assert delivery.status is DeliveryStatus.PENDING and "target refused" in (delivery.last_error or "")
    assert "(127.0.0.1)" in (delivery.last_error or "")


def test_agency_scoped_subscriptions_receive_only_their_agencys_events(app: Flask, db_session: Session,
                                                                        admin: User, applicant: User,
                                                                        business: Business,
                                                                        receiver: Receiver) -> None:
    health, _ = subscribe(app, db_session, admin, receiver.url, agency_id="demo_health")
    excise, _ = subscribe(app, db_session, admin, receiver.url, agency_id="excise_demo_area")
    everyone, _ = subscribe(app, db_session, admin, receiver.url)
    licences_only, _ = subscribe(app, db_session, admin, receiver.url, events=("licence_issued",))
    submit_food(app, db_session, applicant, business)
    assert [len(deliveries_of(db_session, subscription)) for subscription in (health, excise, everyone,
                                                                               licences_only)] == [1, 0, 1, 0]
    assert len(receiver.requests) == 2
    assert len({json.loads(request.body)["id"] for request in receiver.requests}) == 1  # one event, one id


def test_stage_decisions_and_returns_are_events(app: Flask, client: FlaskClient, db_session: Session, admin: User,
                                                applicant: User, business: Business, receiver: Receiver) -> None:
    from bizportal.review import services as review
    from bizportal.workflow.spec import Action

    from .test_review import officer, tasks_of

    subscription_id, _ = subscribe(app, db_session, admin, receiver.url,
                                   events=("stage_decided", "returned_for_correction"), agency_id="demo_health")
    application = submit_food(app, db_session, applicant, business)
    task = tasks_of(db_session, application.id)["intake"]
    with app.app_context(), unit_of_work(db_session):
        review.decide(db_session, task.id, officer(db_session, "demo_health"), Action.RETURN_FOR_CORRECTION,
                      task.version_id, NOW, note="แนบแผนที่ใหม่", documents=["site_map"])
    types = [json.loads(request.body)["type"] for request in receiver.requests]
    assert sorted(types) == ["returned_for_correction", "stage_decided"]
    data = json.loads(receiver.requests[0].body)["data"]
    assert data["stage_id"] == "intake" and data["decision"] == "return_for_correction"
    assert data["agency_id"] == "demo_health" and data["application_id"] == application.id


def test_a_rolled_back_change_sends_nothing(app: Flask, db_session: Session, admin: User, applicant: User,
                                            business: Business, receiver: Receiver) -> None:
    from bizportal.applications import decisions

    from .test_applications import complete_food

    subscription_id, _ = subscribe(app, db_session, admin, receiver.url)
    application = complete_food(db_session, applicant, business, app, area_m2=150.0)
    with app.app_context(), pytest.raises(RuntimeError), unit_of_work(db_session):
        decisions.submit(db_session, application, NOW)
        raise RuntimeError("the request failed after the submission")
    assert receiver.requests == [] and deliveries_of(db_session, subscription_id) == []


# --------------------------------------------------------------------------- target checks

def _loopback_name() -> str:
    """A host name other than "localhost" that resolves to a loopback address here (the machine's own name)."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if not any(ipaddress.ip_address(address).is_loopback for address in addresses):
        pytest.skip(f"{name} does not resolve to a loopback address on this machine")
    return name


REFUSED = [
    ("http://127.0.0.1:9/hook", "private or local address"),
    ("https://127.0.0.1/hook", "private or local address"),
    ("https://10.0.0.1/hook", "private or local address"),
    ("https://192.168.1.20/hook", "private or local address"),
    ("https://169.254.169.254/latest/meta-data/", "private or local address"),
    ("https://100.64.0.1/hook", "private or local address"),
    ("https://[::1]/hook", "private or local address"),
    ("https://[::ffff:127.0.0.1]/hook", "private or local address"),
    ("https://[fd00::1]/hook", "private or local address"),
    ("https://[fe80::1]/hook", "private or local address"),
    ("https://0.0.0.0/hook", "private or local address"),
    ("https://224.0.0.1/hook", "private or local address"),
    ("http://localhost/hook", "private or local address"),
    ("https://LOOPBACK-NAME/hook", "private or local address"),
    ("ftp://example.com/file", "Only http:// and https://"),
    ("file:///etc/passwd", "Only http:// and https://"),
    ("https://user:secret@example.com/hook", "user name or password"),
    ("http://93.184.216.34/hook", "Use an https:// URL"),
    ("https://no-such-host.invalid/hook", "cannot be found"),
    ("not a url", "too long or contains spaces"),
    ("https://example.com:99999/hook", "not a valid URL"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[url for url, _ in REFUSED])
def test_internal_and_odd_targets_are_refused_in_the_form(app: Flask, client: FlaskClient, db_session: Session,
                                                          admin: User, url: str, reason: str) -> None:
    url = url.replace("LOOPBACK-NAME", _loopback_name()) if "LOOPBACK-NAME" in url else url
    log_in(client, admin.email)
    client.get("/?lang=en")  # the reasons are checked in English
    response = submit(client, "/admin/webhooks/new", {"url": url, "events": "application_submitted",
                                                      "agency_id": "", "active": "y"})
    assert response.status_code == 422
    assert reason in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "https://10.0.0.1/hook", "https://169.254.169.254/",
                                 "http://[::1]:8080/hook", "http://localhost/hook", "http://LOOPBACK-NAME/"])
def test_private_targets_are_accepted_when_an_admin_allows_them(client: FlaskClient, db_session: Session,
                                                                admin: User, url: str) -> None:
    url = url.replace("LOOPBACK-NAME", _loopback_name()) if "LOOPBACK-NAME" in url else url
    log_in(client, admin.email)
    client.get("/?lang=en")  # the reasons are checked in English
    response = submit(client, "/admin/webhooks/new", {"url": url, "events": "application_submitted",
                                                      "agency_id": "", "active": "y", "allow_private_target": "y"})
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    assert db_session.scalar(select(WebhookSubscription.url)) == url


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x"])
def test_scheme_and_credentials_are_refused_even_when_private_targets_are_allowed(app: Flask, url: str) -> None:
    with app.test_request_context(), pytest.raises(targets.TargetRefused):
        targets.check(url, allow_private=True)


def test_public_addresses_pass_and_disguised_private_ones_do_not() -> None:
    public = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"]
    private = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
               "224.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fe80::1", "::ffff:10.0.0.1",
               "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "ff02::1"]
    assert [address for address in public if not targets.is_public(ipaddress.ip_address(address))] == []
    assert [address for address in private if targets.is_public(ipaddress.ip_address(address))] == []


# --------------------------------------------------------------------------- admin pages

def test_admin_creates_sees_the_secret_once_and_rotates_it(client: FlaskClient, db_session: Session, admin: User,
                                                           receiver: Receiver,
                                                           load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()  # the agencies
    log_in(client, admin.email)
    response = submit(client, "/admin/webhooks/new", {
        "url": receiver.url, "description": "ระบบของหน่วยงาน",
        "events": ["application_submitted", "licence_issued"],  # type: ignore[dict-item]  # a multi-valued field
        "agency_id": "", "active": "y", "allow_private_target": "y"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    subscription = db_session.scalars(select(WebhookSubscription)).one()
    assert subscription.secret.startswith("whsec_") and len(subscription.secret) > 40
    assert subscription.secret in response.get_data(as_text=True)
    assert subscription.events == ["application_submitted", "licence_issued"]
    for path in ("/admin/webhooks/", f"/admin/webhooks/edit?id={subscription.id}"):
        page = client.get(path)
        assert page.status_code == 200 and subscription.secret not in page.get_data(as_text=True)

    old = subscription.secret
    response = submit(client, "/admin/webhooks/rotate", {"subscription_id": str(subscription.id)},
                      form_page=f"/admin/webhooks/edit?id={subscription.id}")
    db_session.expire_all()
    new = db_session.get_one(WebhookSubscription, subscription.id).secret
    assert new != old and new in response.get_data(as_text=True)

    response = submit(client, f"/admin/webhooks/edit?id={subscription.id}", {
        "url": receiver.url, "description": "", "events": "licence_revoked", "agency_id": "demo_health",
        "allow_private_target": "y"})
    assert response.status_code == 302
    db_session.expire_all()
    changed = db_session.get_one(WebhookSubscription, subscription.id)
    assert (changed.events, changed.agency_id, changed.active) == (["licence_revoked"], "demo_health", False)
    actions = db_session.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "webhook")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["webhook_created", "webhook_secret_rotated", "webhook_updated"]
    assert all(old not in json.dumps(entry.data) and new not in json.dumps(entry.data)
               for entry in db_session.scalars(select(AuditEntry).where(AuditEntry.subject_type == "webhook")))


def test_bad_ids_and_events_give_a_clear_answer_not_a_500(client: FlaskClient, db_session: Session,
                                                          admin: User) -> None:
    log_in(client, admin.email)
    client.get("/?lang=en")
    for query in ("", "?id=abc", "?id=99999999999", "?id=123456"):
        response = client.get(f"/admin/webhooks/edit{query}", follow_redirects=True)
        assert response.status_code == 200 and "That webhook does not exist." in response.get_data(as_text=True)
    response = submit(client, "/admin/webhooks/rotate", {"subscription_id": "123456"}, form_page="/admin/webhooks/new")
    assert response.status_code == 302
    response = submit(client, "/admin/webhooks/new", {"url": "https://93.184.216.34/hook", "events": "nonsense",
                                                      "agency_id": "no_such_agency"})
    assert response.status_code == 422
    response = submit(client, "/admin/webhooks/new", {"url": "https://93.184.216.34/hook", "agency_id": ""})
    assert response.status_code == 422 and "Choose at least one event" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.OFFICER])
def test_non_admins_get_403(client: FlaskClient, db_session: Session, role: Role) -> None:
    user = make_quick_user(db_session, role=role, agency_id="demo_health" if role is Role.OFFICER else None)
    log_in(client, user.email)
    assert client.get("/admin/webhooks/").status_code == 403
    assert client.get("/admin/webhooks/new").status_code == 403
    token = client.get("/").get_data(as_text=True)
    assert client.post("/admin/webhooks/new", data={"url": "http://127.0.0.1/", "events": "licence_issued",
                                                     "allow_private_target": "y"}).status_code in (400, 403)
    assert token is not None
    assert db_session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_licence_issued_and_revoked_are_delivered(app: Flask, client: FlaskClient, db_session: Session,
                                                  admin: User, applicant: User, business: Business,
                                                  receiver: Receiver) -> None:
    """The licence is issued by the render job (itself a job): its event's delivery is a job scheduled there."""
    from .test_licences import as_user, change, issued
    from .test_review import officer

    subscription_id, secret = subscribe(app, db_session, admin, receiver.url,
                                        events=("licence_issued", "licence_revoked"), agency_id="demo_municipality")
    officers = {"health": officer(db_session, "demo_health"),
                "municipality": officer(db_session, "demo_municipality")}
    licence = issued(client, db_session, app, applicant, business, officers)
    assert [json.loads(request.body)["type"] for request in receiver.requests] == ["licence_issued"]
    as_user(client, officers["municipality"].email)
    assert change(client, licence, "revoke", "ใบอนุญาตออกโดยผิดพลาด").status_code == 302
    bodies = [json.loads(request.body) for request in receiver.requests]
    assert [body["type"] for body in bodies] == ["licence_issued", "licence_revoked"]
    assert all(body["data"]["number"] == licence.number and body["data"]["licence_id"] == licence.id
               for body in bodies)
    assert bodies[1]["data"]["status"] == "revoked"
    assert all(signing.verify(secret, {key.lower(): value for key, value in request.headers.items()}[
        "bizportal-signature"], request.body, int(time.time())) for request in receiver.requests)
    assert [delivery.status for delivery in deliveries_of(db_session, subscription_id)] == [
        DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED]


# --------------------------------------------------------------------------- real RQ workers

@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    from .workers import redis_database, require_redis

    require_redis()
    with redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def rq_app(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Flask]:
    """An app with `REDIS_URL` on a database of its own, whose commits the worker process sees."""
    from .factories import migrated_app

    with migrated_app(tmp_path_factory.mktemp("webhooks-rq"), REDIS_URL=redis_url) as application:
        yield application


def subscribed_draft(app: Flask, session: Session, receiver: Receiver) -> tuple[int, str, Application]:
    """On an app of its own: the seed permits, an admin's subscription to `receiver`, and a food-premises draft
    ready to submit. Returns the subscription's id and secret, and the draft."""
    from bizportal.config import BIZPORTAL_ROOT

    from .factories import load
    from .test_applications import complete_food

    load(session, BIZPORTAL_ROOT / "workflows", BIZPORTAL_ROOT / "forms")
    admin = make_quick_user(session, role=Role.ADMIN)
    subscription_id, secret = subscribe(app, session, admin, receiver.url)
    applicant = make_quick_user(session)
    return subscription_id, secret, complete_food(session, applicant, make_business(session, owner=applicant), app)


@pytest.mark.faults
def test_a_real_worker_delivers_and_retries_after_a_failing_receiver(rq_app: Flask, redis_url: str,
                                                                     receiver: Receiver, tmp_path: Path) -> None:
    """The receiver answers 500 first: the worker's attempt fails, its scheduler brings the retry back after the
    backoff (10 s) and the same worker delivers it. The submitting request only wrote rows and enqueued."""
    from bizportal.applications import decisions
    from bizportal.extensions import db

    from .workers import start_worker, wait_for

    receiver.statuses = [500]
    with rq_app.app_context():
        session = db.session()
        subscription_id, secret, application = subscribed_draft(rq_app, session, receiver)
        with unit_of_work(session):
            decisions.submit(session, application, dt.datetime.now(dt.UTC))
        application_id = application.id
        assert receiver.requests == []  # nothing was sent by the request itself: no worker runs yet

    def delivery() -> WebhookDelivery:
        with rq_app.app_context():
            row = db.session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.subscription_id == subscription_id)).one()
            db.session.expunge(row)
            return row

    worker = start_worker(rq_app, redis_url, log_dir=tmp_path)
    try:
        wait_for(lambda: delivery().attempts == 1 or None, timeout=30,
                 message=lambda: f"the first attempt; worker log:\n{worker.log()[-3000:]}")
        first = delivery()
        assert (first.status, first.last_status_code) == (DeliveryStatus.PENDING, 500)
        wait_for(lambda: delivery().status is DeliveryStatus.DELIVERED or None, timeout=60,
                 message=lambda: f"the retry; worker log:\n{worker.log()[-3000:]}")
    finally:
        worker.stop()
    done = delivery()
    assert (done.attempts, done.last_status_code) == (2, 200)
    assert len(receiver.requests) == 2
    last = receiver.requests[-1]
    header = {key.lower(): value for key, value in last.headers.items()}["bizportal-signature"]
    assert signing.verify(secret, header, last.body, int(time.time()))
    assert json.loads(last.body)["data"]["application_id"] == application_id


# --------------------------------------------------------------------------- the demo: no Redis

@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app as the README's demo runs it (no Redis: jobs in-process, deliveries on a background thread), on a
    database of its own whose commits are real, so the background thread and a second session see them."""
    from .factories import migrated_app

    with migrated_app(tmp_path_factory.mktemp("webhooks-demo")) as application:
        yield application


def test_in_the_demo_a_slow_receiver_holds_up_neither_the_request_nor_the_database(demo_app: Flask,
                                                                                    receiver: Receiver) -> None:
    """The receiver takes its time: submitting returns at once, and while the POST waits no lock is held on the
    delivery's row, nor (SQLite) on the database: another transaction locks that row and writes meanwhile."""
    from sqlalchemy.orm import Session as PlainSession

    from bizportal.applications import decisions
    from bizportal.extensions import db


    receiver.gate = threading.Event()
    with demo_app.app_context():
        session = db.session()
        subscription_id, _, application = subscribed_draft(demo_app, session, receiver)
        try:
            with unit_of_work(session):
                decisions.submit(session, application, dt.datetime.now(dt.UTC))
            assert receiver.arrived.wait(10), "the delivery never reached the receiver"
            assert not receiver.gate.is_set()  # the receiver still holds its answer: the submission did not wait
            session.expire_all()
            waiting = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.subscription_id == subscription_id)).one()
            assert (waiting.status, waiting.attempts) == (DeliveryStatus.PENDING, 0)
            delivery_id = waiting.id
            session.rollback()  # this read's transaction ends: only the delivery job could still hold a lock
            with PlainSession(db.engine) as other, unit_of_work(other):
                other.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                              .with_for_update(nowait=True)).one()
                other.get_one(WebhookSubscription, subscription_id).description = "changed while a POST waits"
        finally:
            receiver.gate.set()
        assert jobs.wait_for_background_jobs(timeout=30)
        session.expire_all()
        delivered = session.get_one(WebhookDelivery, delivery_id)
        assert (delivered.status, delivered.attempts, delivered.last_status_code) == (DeliveryStatus.DELIVERED, 1,
                                                                                      200)
        assert session.get_one(WebhookSubscription, subscription_id).description == "changed while a POST waits"
        assert session.get_one(Job, delivered.job_id).status is JobStatus.DONE
        assert len(receiver.requests) == 1


# --------------------------------------------------------------------------- an agency's own webhooks

def _officer(db_session: Session, agency_id: str, *, lead: bool, email: str) -> User:
    user = make_quick_user(db_session, role=Role.OFFICER, agency_id=agency_id, email=email)
    with unit_of_work(db_session):
        user.is_agency_lead = lead
    return user


def test_an_agency_lead_manages_the_agencys_webhooks_and_only_those(app: Flask, client: FlaskClient,
                                                                   db_session: Session, admin: User,
                                                                   load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    lead = _officer(db_session, "demo_health", lead=True, email="lead.health@example.go.th")
    colleague = _officer(db_session, "demo_health", lead=False, email="plain.health@example.go.th")
    stranger = _officer(db_session, "demo_building", lead=True, email="lead.building@example.go.th")
    everyone, _ = subscribe(app, db_session, admin, "https://93.184.216.34/all")

    log_in(client, lead.email)
    client.get("/?lang=en")
    assert "Your agency's webhooks" in client.get("/review/").get_data(as_text=True)
    foreign = submit(client, "/review/webhooks/new", {"url": "https://93.184.216.34/health", "events":
                                                      "application_submitted", "agency_id": "demo_building",
                                                      "active": "y"})
    assert foreign.status_code == 422  # another agency is not a choice
    response = submit(client, "/review/webhooks/new", {"url": "https://93.184.216.34/health", "events":
                                                       "application_submitted", "agency_id": "demo_health",
                                                       "active": "y", "allow_private_target": "y"})
    assert response.status_code == 200 and "webhook-secret" in response.get_data(as_text=True)
    created = db_session.scalars(select(WebhookSubscription).where(WebhookSubscription.id != everyone)).one()
    assert (created.agency_id, created.allow_private_target) == ("demo_health", False)  # forced, not taken
    # A private target stays refused: only an admin may allow one.
    refused = submit(client, "/review/webhooks/new", {"url": "http://127.0.0.1:9/hook", "events":
                                                      "application_submitted", "agency_id": "demo_health",
                                                      "active": "y",
                                                      "allow_private_target": "y"})
    assert refused.status_code == 422 and "private or local address" in refused.get_data(as_text=True)
    listed = client.get("/review/webhooks/").get_data(as_text=True)
    assert "93.184.216.34/health" in listed and "93.184.216.34/all" not in listed
    # Another scope's subscription is not found through the agency pages.
    assert client.get(f"/review/webhooks/edit?id={everyone}", follow_redirects=True).get_data(
        as_text=True).count("That webhook does not exist.") == 1

    for other, allowed_to_see in ((colleague, True), (stranger, False)):
        reader = app.test_client()
        log_in(reader, other.email)
        reader.get("/?lang=en")
        page = reader.get("/review/webhooks/").get_data(as_text=True)
        assert ("93.184.216.34/health" in page) is allowed_to_see
        changed = submit(reader, f"/review/webhooks/edit?id={created.id}", {
            "url": "https://93.184.216.34/stolen", "events": "licence_issued", "active": "y"},
            form_page="/review/webhooks/")
        assert changed.status_code in (302, 403)
    db_session.expire_all()
    assert db_session.get_one(WebhookSubscription, created.id).url == "https://93.184.216.34/health"
    # An admin on the agency pages is sent to the console, which shows every agency.
    console = app.test_client()
    log_in(console, admin.email)
    assert console.get("/review/webhooks/").headers["Location"].endswith("/admin/webhooks/")
