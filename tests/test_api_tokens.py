"""API tokens: created and revoked from the command line and from the account page, stored hashed, refused
when revoked, expired or the account is inactive; a cookie session alone never opens /api/v1."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bizportal.accounts.models import User
from bizportal.api.models import ApiToken
from bizportal.database import unit_of_work

from .factories import make_business, make_quick_user
from .web_forms import csrf_token, log_in, submit

API = "/api/v1"
SECRET = re.compile(r"bzp_[A-Za-z0-9_-]{40,}")


def created_secret(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["tokens", "create", *args])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert SECRET.fullmatch(secret), result.output
    return secret


def bearer(secret: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **extra}


def token_row(db_session: Session, token_id: int | None = None) -> ApiToken:
    db_session.expire_all()
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    return db_session.scalars(query).first()  # type: ignore[return-value]


def test_cli_token_acts_as_its_user_and_is_stored_hashed(runner: FlaskCliRunner, client: FlaskClient,
                                                         db_session: Session) -> None:
    user = make_quick_user(db_session)
    business = make_business(db_session, owner=user)
    secret = created_secret(runner, user.email.upper(), "--name", "agency system")

    response = client.get(f"{API}/businesses", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [item["id"] for item in response.get_json()["items"]] == [business.id]

    token = token_row(db_session)
    assert token.user_id == user.id and token.name == "agency system" and token.expires_at is None
    assert token.last_used_at is not None  # the use was recorded
    # the secret itself is nowhere in the database, only its hash and its first characters
    dump = " ".join(str(value) for value in db_session.execute(text("SELECT * FROM api_tokens")).one())
    assert secret not in dump and secret[12:] not in dump
    assert token.prefix == secret[:12]

    listed = runner.invoke(args=["tokens", "list", user.email])
    assert listed.exit_code == 0 and f"{token.id}\t{user.email}\tagency system" in listed.output
    assert "active" in listed.output and secret not in listed.output


def test_revoked_token_is_refused_at_once(runner: FlaskCliRunner, client: FlaskClient, db_session: Session) -> None:
    user = make_quick_user(db_session)
    secret = created_secret(runner, user.email)
    assert client.get(f"{API}/businesses", headers=bearer(secret)).status_code == 200
    token_id = token_row(db_session).id

    result = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    response = client.get(f"{API}/businesses", headers=bearer(secret))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/api/v1/problems/unauthorized")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    assert runner.invoke(args=["tokens", "revoke", "999999"]).exit_code != 0


def test_expiry_and_inactive_accounts(runner: FlaskCliRunner, client: FlaskClient, db_session: Session) -> None:
    user = make_quick_user(db_session)
    secret = created_secret(runner, user.email, "--expires", "30d")
    token = token_row(db_session)
    assert token.expires_at is not None
    assert dt.timedelta(days=29) < token.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    dated = created_secret(runner, user.email, "--expires", "2030-01-31")
    assert token_row(db_session).expires_at == dt.datetime(2030, 1, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert client.get(f"{API}/businesses", headers=bearer(secret)).status_code == 200

    with unit_of_work(db_session):  # a day passes beyond its expiry
        db_session.execute(update(ApiToken).where(ApiToken.id == token.id)
                           .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert client.get(f"{API}/businesses", headers=bearer(secret)).status_code == 401
    assert client.get(f"{API}/businesses", headers=bearer(dated)).status_code == 200

    with unit_of_work(db_session):
        db_session.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert client.get(f"{API}/businesses", headers=bearer(dated)).status_code == 401
    refused = runner.invoke(args=["tokens", "create", user.email])
    assert refused.exit_code != 0 and "not active" in refused.output


def test_cli_refuses_bad_input(runner: FlaskCliRunner, db_session: Session) -> None:
    user = make_quick_user(db_session)
    for expires in ("yesterday", "2001-01-01", "0d", "99999d"):
        result = runner.invoke(args=["tokens", "create", user.email, "--expires", expires])
        assert result.exit_code != 0 and "Traceback" not in result.output, (expires, result.output)
    assert runner.invoke(args=["tokens", "create", "nobody@example.com"]).exit_code != 0
    assert runner.invoke(args=["tokens", "create", user.email, "--name", "x" * 101]).exit_code != 0
    assert token_row(db_session) is None


def test_bad_or_missing_bearer_gives_401_problem(client: FlaskClient, db_session: Session) -> None:
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer bzp_nonsense"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000}):
        response = client.get(f"{API}/businesses", headers=headers)
        assert response.status_code == 401, headers
        body = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert set(body) == {"type", "title", "status", "detail"} and body["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_cookie_session_alone_does_not_open_the_api(client: FlaskClient, db_session: Session) -> None:
    user = make_quick_user(db_session)
    make_business(db_session, owner=user)
    log_in(client, user.email)
    assert client.get("/businesses/").status_code == 200  # the pages know the user...
    response = client.get(f"{API}/businesses")  # ...the API does not
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_settings_page_creates_shows_once_and_revokes(client: FlaskClient, db_session: Session) -> None:
    user = make_quick_user(db_session)
    other = make_quick_user(db_session)
    log_in(client, user.email)
    assert "/account/tokens" in client.get("/accounts/password").get_data(as_text=True)

    without_csrf = client.post("/account/tokens", data={"name": "case system", "expires": "30d"})
    assert without_csrf.status_code == 400 and token_row(db_session) is None

    empty = submit(client, "/account/tokens", {"name": "", "expires": "30d"})
    assert empty.status_code == 422 and token_row(db_session) is None

    page = submit(client, "/account/tokens", {"name": "case system", "expires": "30d"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    secrets = SECRET.findall(page.get_data(as_text=True))
    assert len(secrets) == 1
    secret = secrets[0]
    token = token_row(db_session)
    assert token.user_id == user.id and token.expires_at is not None
    assert client.get(f"{API}/businesses", headers=bearer(secret)).status_code == 200
    again = client.get("/account/tokens").get_data(as_text=True)
    assert secret not in again and token.prefix in again and "case system" in again

    # another user cannot revoke it
    other_token = submit(client, "/account/tokens", {"name": "mine", "expires": ""})
    assert other_token.status_code == 200
    with unit_of_work(db_session):
        db_session.execute(update(ApiToken).where(ApiToken.name == "mine").values(user_id=other.id))
    foreign = token_row(db_session)
    assert foreign.user_id == other.id
    refused = client.post(f"/account/tokens/{foreign.id}/revoke", data={"csrf_token": csrf_token(client,
                                                                                                 "/account/tokens")})
    assert refused.status_code == 404 and token_row(db_session, foreign.id).revoked_at is None

    revoked = submit(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account/tokens")
    assert revoked.status_code == 302
    assert token_row(db_session, token.id).revoked_at is not None
    assert client.get(f"{API}/businesses", headers=bearer(secret)).status_code == 401


def test_settings_page_in_english_and_needs_login(client: FlaskClient, db_session: Session, app: Flask) -> None:
    assert client.get("/account/tokens").status_code == 302
    user = make_quick_user(db_session)
    log_in(client, user.email)
    assert "API tokens" in client.get("/account/tokens?lang=en").get_data(as_text=True)
