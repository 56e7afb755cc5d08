"""Accounts: registering, logging in and out, rate limits, password change and reset, CSRF and roles."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import re
import socketserver
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bizportal.accounts import services
from bizportal.accounts.mail import deliver, queue_email
from bizportal.accounts.models import LoginAttempt, OutboxEmail, Role, User
from bizportal.config import ConfigError, load_settings
from bizportal.database import unit_of_work

from .factories import NOW, TEST_PASSWORD, make_agency, make_user
from .web_forms import csrf_token, log_in, log_out, submit

SESSION_COOKIE = "session"


def _page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]  # a TestResponse


def _copy_session(client: FlaskClient, other: FlaskClient) -> None:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    other.set_cookie(SESSION_COOKIE, cookie.value)


def _is_logged_in(client: FlaskClient) -> bool:
    response = client.get("/businesses/")
    return response.status_code == 200


def test_register_creates_an_entrepreneur_and_logs_in(client: FlaskClient, db_session: Session) -> None:
    response = submit(client, "/accounts/register", {"name": "สมศรี มีกิจการ", "email": "  Somsri@Example.COM ",
                                                     "password": "a long password", "confirm": "a long password"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/businesses/"
    user = db_session.scalar(select(User).where(User.email == "somsri@example.com"))
    assert user is not None and user.role is Role.ENTREPRENEUR
    assert user.password_hash.startswith("$argon2id$") and "a long password" not in user.password_hash
    page = _page(client.get("/businesses/"))
    assert "สมศรี มีกิจการ" in page  # the header shows who is logged in
    assert "ออกจากระบบ" in page


def test_register_shows_every_problem_in_thai(client: FlaskClient, db_session: Session) -> None:
    make_user(db_session, email="taken@example.com")
    response = submit(client, "/accounts/register", {"name": "", "email": "TAKEN@example.com",
                                                     "password": "short", "confirm": "other"})
    page = _page(response)
    assert response.status_code == 200
    assert 'class="error-summary"' in page
    assert "กรุณาแก้ไขรายการต่อไปนี้" in page
    assert "กรุณากรอกชื่อ" in page
    assert "ใช้อย่างน้อย 8 ตัวอักษร" in page
    assert "รหัสผ่านทั้งสองช่องไม่ตรงกัน" in page
    response = submit(client, "/accounts/register", {"name": "คนที่สอง", "email": "TAKEN@example.com",
                                                     "password": "long enough", "confirm": "long enough"})
    assert "มีบัญชีที่ใช้อีเมลนี้อยู่แล้ว" in _page(response)
    assert db_session.scalar(select(func.count()).select_from(User)
                             .where(User.email == "taken@example.com")) == 1


def test_login_and_a_wrong_password_in_the_users_language(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, email="owner@example.com")
    wrong = submit(client, "/accounts/login", {"email": "owner@example.com", "password": "not my password"})
    assert wrong.status_code == 200
    assert "อีเมลหรือรหัสผ่านไม่ถูกต้อง" in _page(wrong)
    client.get("/?lang=en")
    wrong = submit(client, "/accounts/login", {"email": "owner@example.com", "password": "not my password"})
    assert "The e-mail address or password is not correct." in _page(wrong)
    unknown = submit(client, "/accounts/login", {"email": "nobody@example.com", "password": TEST_PASSWORD})
    assert "The e-mail address or password is not correct." in _page(unknown)
    response = log_in(client, "OWNER@example.com")
    assert response.headers["Location"] == "/businesses/"
    assert user.name in _page(client.get("/businesses/"))


def test_login_is_refused_after_five_failures_from_one_address(app: Flask, client: FlaskClient,
                                                               db_session: Session) -> None:
    make_user(db_session, email="target@example.com")
    for _attempt in range(services.MAX_FAILED_LOGINS):
        assert "อีเมลหรือรหัสผ่านไม่ถูกต้อง" in _page(
            submit(client, "/accounts/login", {"email": "target@example.com", "password": "guess"}))
    refused = submit(client, "/accounts/login", {"email": "target@example.com", "password": TEST_PASSWORD})
    assert refused.status_code == 429
    assert "เข้าสู่ระบบไม่สำเร็จหลายครั้งเกินไป" in _page(refused)
    assert "15 นาที" in _page(refused)
    assert not _is_logged_in(client)

    elsewhere = app.test_client()  # another address is not blocked by these failures
    token = csrf_token(elsewhere, "/accounts/login")
    response = elsewhere.post("/accounts/login", data={"email": "target@example.com", "password": TEST_PASSWORD,
                                                       "csrf_token": token},
                              environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 302


def test_the_login_limit_is_kept_in_the_database_and_lifts_after_the_window(db_session: Session) -> None:
    make_user(db_session, email="window@example.com")

    def attempt(password: str, now: dt.datetime) -> services.LoginResult:
        with unit_of_work(db_session):
            return services.authenticate(db_session, email="window@example.com", password=password,
                                         ip_address="198.51.100.1", locale="th", now=now)

    for minute in range(services.MAX_FAILED_LOGINS):
        assert attempt("wrong", NOW + dt.timedelta(minutes=minute)).user is None
    assert db_session.scalar(select(func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.email == "window@example.com")) == services.MAX_FAILED_LOGINS
    blocked = attempt(TEST_PASSWORD, NOW + dt.timedelta(minutes=10))
    assert blocked.throttled and blocked.user is None and blocked.retry_after_minutes == 5
    later = attempt(TEST_PASSWORD, NOW + dt.timedelta(minutes=15, seconds=1))
    assert later.user is not None
    assert db_session.scalar(select(func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.email == "window@example.com")) == 0


@pytest.mark.security
def test_logout_ends_the_session_even_for_a_copied_cookie(app: Flask, client: FlaskClient,
                                                          db_session: Session) -> None:
    make_user(db_session, email="leaving@example.com")
    log_in(client, "leaving@example.com")
    thief = app.test_client()
    _copy_session(client, thief)
    assert _is_logged_in(thief)  # the copy works while the session lives...
    response = log_out(client)
    assert response.status_code == 302
    assert not _is_logged_in(client)
    assert not _is_logged_in(thief)  # ...and not after logout
    assert client.get("/accounts/logout").status_code == 405  # logging out is a POST with a CSRF token


@pytest.mark.security
def test_a_password_change_ends_other_sessions_and_keeps_this_one(app: Flask, client: FlaskClient,
                                                                  db_session: Session) -> None:
    make_user(db_session, email="changer@example.com")
    log_in(client, "changer@example.com")
    other_device = app.test_client()
    _copy_session(client, other_device)
    assert _is_logged_in(other_device)

    wrong = submit(client, "/accounts/password", {"current_password": "nope", "new_password": "brand new secret",
                                                  "confirm": "brand new secret"})
    assert "รหัสผ่านปัจจุบันไม่ถูกต้อง" in _page(wrong)
    assert _is_logged_in(other_device)

    changed = submit(client, "/accounts/password", {"current_password": TEST_PASSWORD,
                                                    "new_password": "brand new secret",
                                                    "confirm": "brand new secret"})
    assert changed.status_code == 302
    assert _is_logged_in(client)
    assert not _is_logged_in(other_device)
    log_out(client)
    old = submit(client, "/accounts/login", {"email": "changer@example.com", "password": TEST_PASSWORD})
    assert old.status_code == 200
    log_in(client, "changer@example.com", "brand new secret")


def _reset_link(client: FlaskClient, email: str) -> str:
    page = _page(client.get("/dev/inbox"))
    links = re.findall(r'href="(http://localhost/accounts/password-reset/[^"]+)"', page)
    assert links, "no reset link in the development inbox"
    assert email in page
    return str(links[0]).removeprefix("http://localhost")


def test_password_reset_by_the_dev_inbox_link_works_once(client: FlaskClient, db_session: Session) -> None:
    make_user(db_session, email="forgetful@example.com")
    response = submit(client, "/accounts/password-reset", {"email": "Forgetful@example.com"},
                      follow_redirects=True)
    assert "หากมีบัญชีที่ใช้อีเมลนี้" in _page(response)
    email = db_session.scalar(select(OutboxEmail).where(OutboxEmail.recipient == "forgetful@example.com"))
    assert email is not None and email.subject == "ตั้งรหัสผ่านใหม่"
    link = _reset_link(client, "forgetful@example.com")

    assert client.get(link).status_code == 200
    done = submit(client, link, {"new_password": "remembered at last", "confirm": "remembered at last"})
    assert done.status_code == 302 and done.headers["Location"] == "/accounts/login"
    log_in(client, "forgetful@example.com", "remembered at last")
    log_out(client)

    again = client.get(link)
    assert again.status_code == 400
    assert "ลิงก์ตั้งรหัสผ่านใหม่นี้ใช้ไม่ได้" in _page(again)
    token = csrf_token(client, "/accounts/login")
    replay = client.post(link, data={"new_password": "someone else's", "confirm": "someone else's",
                                     "csrf_token": token})
    assert replay.status_code == 400
    log_in(client, "forgetful@example.com", "remembered at last")


def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client: FlaskClient,
                                                                         db_session: Session) -> None:
    response = submit(client, "/accounts/password-reset", {"email": "stranger@example.com"},
                      follow_redirects=True)
    assert "หากมีบัญชีที่ใช้อีเมลนี้" in _page(response)
    assert db_session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_a_reset_link_expires_after_an_hour(app: Flask, client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, email="slow@example.com")
    secret = str(app.secret_key)
    fresh = services.make_reset_token(user, secret, NOW)
    assert services.user_for_reset_token(db_session, fresh, secret, NOW + dt.timedelta(minutes=59)).id == user.id
    with pytest.raises(services.InvalidResetLink):
        services.user_for_reset_token(db_session, fresh, secret, NOW + dt.timedelta(minutes=61))
    with pytest.raises(services.InvalidResetLink):
        services.user_for_reset_token(db_session, fresh + "x", secret, NOW)
    stale = services.make_reset_token(user, secret, dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    assert client.get(f"/accounts/password-reset/{stale}").status_code == 400


@pytest.mark.security
def test_forms_without_a_valid_csrf_token_are_refused(client: FlaskClient, db_session: Session) -> None:
    make_user(db_session, email="careful@example.com")
    missing = client.post("/accounts/login", data={"email": "careful@example.com", "password": TEST_PASSWORD})
    assert missing.status_code == 400
    assert "แบบฟอร์มหมดอายุ" in _page(missing)
    forged = client.post("/accounts/login", data={"email": "careful@example.com", "password": TEST_PASSWORD,
                                                  "csrf_token": "forged"})
    assert forged.status_code == 400
    assert not _is_logged_in(client)
    log_in(client, "careful@example.com")
    assert client.post("/accounts/logout").status_code == 400
    assert _is_logged_in(client)


@pytest.mark.parametrize("path", ["/accounts/users", "/accounts/agency"])
def test_staff_pages_are_forbidden_to_entrepreneurs(client: FlaskClient, db_session: Session, path: str) -> None:
    make_user(db_session, email="applicant@example.com")
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/accounts/login?next=")
    log_in(client, "applicant@example.com")
    response = client.get(path)
    assert response.status_code == 403
    assert "ท่านไม่มีสิทธิ์ดำเนินการนี้" in _page(response)


def test_officers_and_admins_reach_their_pages_only(client: FlaskClient, db_session: Session) -> None:
    make_user(db_session, email="officer@example.com", role=Role.OFFICER, agency_id="test_agency",
              name="เจ้าหน้าที่ ทดสอบ")
    make_user(db_session, email="admin@example.com", role=Role.ADMIN)
    log_in(client, "officer@example.com")
    agency = client.get("/accounts/agency")
    assert agency.status_code == 200 and "หน่วยงานทดสอบ" in _page(agency)
    assert client.get("/accounts/users").status_code == 403
    assert client.get("/businesses/").status_code == 403
    log_out(client)
    log_in(client, "admin@example.com")
    users = client.get("/accounts/users")
    assert users.status_code == 200 and "officer@example.com" in _page(users)
    assert client.get("/accounts/agency").status_code == 403


def test_login_only_follows_next_within_the_site(client: FlaskClient, db_session: Session) -> None:
    make_user(db_session, email="visitor@example.com")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        token = csrf_token(client, "/accounts/login")
        response = client.post("/accounts/login", query_string={"next": target},
                               data={"email": "visitor@example.com", "password": TEST_PASSWORD, "csrf_token": token})
        assert response.headers["Location"] == "/businesses/"
        log_out(client)
    token = csrf_token(client, "/accounts/login")
    response = client.post("/accounts/login", query_string={"next": "/businesses/new"},
                           data={"email": "visitor@example.com", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/businesses/new"


@pytest.mark.parametrize("email, password", [
    ("x" * 5000 + "@example.com", "p"), ("ไม่ใช่อีเมล", "รหัส" * 500), ("a@b", "\x00\x01"), ("", ""),
    ("nul\x00@example.com", "a password\x00"), ("\x00", "\x00" * 10),
])
def test_odd_input_never_gives_a_server_error(client: FlaskClient, db_session: Session, email: str,
                                              password: str) -> None:
    for path, data in (("/accounts/login", {"email": email, "password": password}),
                       ("/accounts/register", {"name": email, "email": email, "password": password,
                                               "confirm": password}),
                       ("/accounts/password-reset", {"email": email})):
        response = submit(client, path, data)
        assert response.status_code in {200, 302, 429}, (path, response.status_code)
    assert client.get("/accounts/password-reset/" + "A" * 3000).status_code == 400


def test_users_create_command_makes_officers_of_an_agency(runner: FlaskCliRunner, db_session: Session) -> None:
    make_agency(db_session, "test_agency")
    result = runner.invoke(args=["users", "create", "Officer.Two@Example.com", "--role", "officer", "--agency",
                                 "test_agency", "--password", "officer secret"])
    assert result.exit_code == 0, result.output
    assert "officer.two@example.com (officer, agency test_agency)" in result.output
    user = db_session.scalar(select(User).where(User.email == "officer.two@example.com"))
    assert user is not None and user.role is Role.OFFICER and user.agency_id == "test_agency"

    no_agency = runner.invoke(args=["users", "create", "lost@example.com", "--role", "officer",
                                    "--password", "officer secret"])
    assert no_agency.exit_code == 1
    assert "agency" in no_agency.output
    unknown = runner.invoke(args=["users", "create", "lost@example.com", "--role", "officer", "--agency",
                                  "no_such_agency", "--password", "officer secret"])
    assert unknown.exit_code == 1 and "no_such_agency" in unknown.output


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server to receive one message: the portal's client talks to it for real."""

    received: ClassVar[list[bytes]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ready\r\n")
        for _command in range(20):
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                self.received.append(body)
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_mail_goes_through_the_configured_smtp_server() -> None:
    server = socketserver.TCPServer(("127.0.0.1", 0), _SmtpHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        settings = load_settings({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "MAIL_USE_TLS": "false",
                                  "SECRET_KEY": "x" * 40}, Path("/nonexistent")).mail
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = settings.default_sender, "to@example.com", "ทดสอบ"
        message.set_content("ลิงก์: https://example.com/reset")
        deliver(settings, message, 1, log_content=False)
    finally:
        server.shutdown()
        server.server_close()
    assert len(_SmtpHandler.received) == 1
    assert b"To: to@example.com" in _SmtpHandler.received[0]


def test_a_reset_mail_waits_out_a_mail_server_that_is_down_and_is_sent_once(tmp_path: Path) -> None:
    """The demo's setup with a real SMTP server configured: the reset request is answered while the server is
    down; the mail's job keeps the error and, once the server is up, the reconciler sends it, exactly once."""
    from bizportal.extensions import db
    from bizportal.jobs import services as jobs
    from bizportal.jobs.models import Job, JobStatus

    from .factories import migrated_app
    from .workers import free_port

    port = free_port()
    _SmtpHandler.received.clear()
    with migrated_app(tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(port), MAIL_USE_TLS="false") as app:
        with app.app_context():
            make_user(db.session(), email="forgetful@example.com")
        client = app.test_client()
        response = submit(client, "/accounts/password-reset", {"email": "forgetful@example.com"},
                          follow_redirects=True)
        assert response.status_code == 200 and "หากมีบัญชีที่ใช้อีเมลนี้" in _page(response)
        assert jobs.wait_for_background_jobs(timeout=60)

        def mail_job() -> Job:
            with app.app_context():
                job = db.session.scalars(select(Job).where(Job.kind == "mail.send")).one()
                db.session.expunge(job)
                return job

        failed = mail_job()
        assert (failed.status, failed.attempts) == (JobStatus.PENDING, 1)
        assert "refused" in (failed.last_error or "").lower()
        assert _SmtpHandler.received == []

        server = socketserver.TCPServer(("127.0.0.1", port), _SmtpHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with app.app_context():  # the retry is due after the backoff; reconcile hands it on
                jobs.reconcile(db.session(), dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
            assert jobs.wait_for_background_jobs(timeout=60)
            with app.app_context():
                jobs.reconcile(db.session(), dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
            assert jobs.wait_for_background_jobs(timeout=60)
        finally:
            server.shutdown()
            server.server_close()
        sent = mail_job()
        assert (sent.status, sent.attempts, sent.last_error) == (JobStatus.DONE, 2, None)
        assert len(_SmtpHandler.received) == 1
        message = email.message_from_bytes(_SmtpHandler.received[0], policy=email.policy.default)
        assert message["To"] == "forgetful@example.com" and message["Subject"] == "ตั้งรหัสผ่านใหม่"
        assert "/accounts/password-reset/" in message.get_content()


@pytest.mark.parametrize("variables, name", [
    ({"MAIL_PORT": "smtp"}, "MAIL_PORT"), ({"MAIL_PORT": "70000"}, "MAIL_PORT"),
    ({"MAIL_USE_TLS": "maybe"}, "MAIL_USE_TLS"), ({"MAIL_USE_SSL": "true", "MAIL_USE_TLS": "true"}, "MAIL_USE_TLS"),
])
def test_bad_mail_settings_stop_startup_naming_the_variable(variables: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SECRET_KEY": "x" * 40, **variables}, Path("/nonexistent"))
    assert caught.value.variable == name


def test_no_mail_is_sent_for_work_that_rolled_back(app: Flask, db_session: Session,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with app.test_request_context(), pytest.raises(RuntimeError), unit_of_work(db_session):
        queue_email(db_session, "never@example.com", "ไม่ควรส่ง", "body", NOW)
        raise RuntimeError("the decision failed")
    assert "never@example.com" not in caplog.text
    assert db_session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
    with app.test_request_context(), caplog.at_level(logging.INFO), unit_of_work(db_session):
        queue_email(db_session, "sent@example.com", "ส่งแล้ว", "body", NOW)
    assert "sent@example.com" in caplog.text  # outside production, the log holds the e-mail
