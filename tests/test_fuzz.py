"""Property-based fuzzing (hypothesis): generated input on every form, and generated permit YAML, never a 5xx.

The counts add up to the security suite's 10,000 generated inputs (docs/security.md); the API's request
bodies are fuzzed from its OpenAPI document by schemathesis (tests/test_api_contract.py). Runs are
derandomized, so a failure in CI replays the same example here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bizportal.admin import services as admin_services
from bizportal.applications import services
from bizportal.applications.models import Application
from bizportal.config import BIZPORTAL_ROOT
from bizportal.permits.services import LoadReport

from .application_pages import _multidict, form_values
from .factories import make_business, make_quick_user
from .test_applications import NASTY, start, step_path
from .web_forms import csrf_token, log_in

pytestmark = pytest.mark.security

FORM_EXAMPLES = 6_000
YAML_EXAMPLES = 4_000
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

values = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F), max_size=80),  # Thai block
    st.sampled_from(NASTY),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda day: day.isoformat()),
)


@dataclass(frozen=True)
class Target:
    """A form to post to: its path and the field names its page shows (plus a few it does not)."""

    path: str
    names: tuple[str, ...]


def _targets(client: FlaskClient, db_session: Session, business_id: int) -> list[Target]:
    from bizportal.businesses.models import Business

    business = db_session.get(Business, business_id)
    assert business is not None
    targets = []
    for key in ("food_premises", "water_meter", "liquor_sales"):
        application_id = start(client, key, business)
        application = db_session.get(Application, application_id)
        assert application is not None
        for step_id in services.compiled(application.permit_version).rules.steps:
            path = step_path(application_id, step_id)
            page = client.get(path)
            if page.status_code != 200:
                continue
            names = {name for name, _ in form_values(page.get_data(as_text=True))} - {"csrf_token", "shown"}
            targets.append(Target(path, tuple(sorted(names | {"action"}))))
        targets.append(Target(f"/applications/{application_id}/withdraw", ("reason",)))
    targets.append(Target("/businesses/new", ("kind", "tax_id", "name_th", "name_en", "house_no", "road",
                                              "province", "district", "subdistrict", "postcode", "phone", "email")))
    targets.append(Target(f"/businesses/{business_id}/edit", ("name_th", "name_en", "phone", "email", "house_no")))
    targets.append(Target("/accounts/password", ("current_password", "new_password", "confirm")))
    return targets


def test_generated_form_input_never_gives_a_server_error(app: Flask, client: FlaskClient, db_session: Session,
                                                         load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    user = make_quick_user(db_session, email="fuzz@example.com")
    business = make_business(db_session, owner=user)
    log_in(client, user.email)
    targets = _targets(client, db_session, business.id)
    assert len(targets) >= 15
    token = csrf_token(client, "/businesses/new")
    anonymous = app.test_client()
    anonymous_token = csrf_token(anonymous, "/accounts/register")
    public = [Target("/accounts/register", ("name", "email", "password", "confirm", "locale")),
              Target("/accounts/login", ("email", "password")),
              Target("/accounts/password-reset", ("email",))]
    seen: list[int] = []

    @settings(FUZZ, max_examples=FORM_EXAMPLES)
    @given(st.data())
    def post_generated(data: st.DataObject) -> None:
        as_user = data.draw(st.booleans(), label="logged in")
        target = data.draw(st.sampled_from(targets if as_user else public), label="form")
        names = data.draw(st.lists(st.sampled_from(target.names), max_size=len(target.names) + 2), label="fields")
        pairs = [(name, data.draw(values, label=name)) for name in names]
        browser, csrf = (client, token) if as_user else (anonymous, anonymous_token)
        response = browser.post(target.path, data=_multidict([*pairs, ("csrf_token", csrf)]),
                                content_type="multipart/form-data")
        response.request.environ["wsgi.input"].close()
        seen.append(response.status_code)
        assert response.status_code < 500, (target.path, pairs, response.status_code)
        assert "<script>alert(1)</script>" not in response.get_data(as_text=True)

    post_generated()
    assert len(seen) >= FORM_EXAMPLES * 0.9
    assert {200, 302} & set(seen) and {400, 422} & set(seen)  # both accepted and refused input were tried


SEED_PERMIT = (BIZPORTAL_ROOT / "workflows" / "water_meter.yaml").read_text(encoding="utf-8")
SEED_FORM = (BIZPORTAL_ROOT / "forms" / "water_meter.yaml").read_text(encoding="utf-8")

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)), max_leaves=25)


def _mutated(text: str) -> st.SearchStrategy[str]:
    """A real seed file with a line dropped, duplicated, re-indented or a value replaced."""
    lines = text.splitlines()

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        changed = list(lines)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            index = draw(st.integers(min_value=0, max_value=len(changed) - 1))
            kind = draw(st.sampled_from(["drop", "duplicate", "indent", "value", "garbage"]))
            line = changed[index]
            if kind == "drop":
                del changed[index]
            elif kind == "duplicate":
                changed.insert(index, line)
            elif kind == "indent":
                changed[index] = " " * draw(st.integers(min_value=0, max_value=9)) + line.lstrip()
            elif kind == "value" and ":" in line:
                changed[index] = line.split(":", 1)[0] + ": " + draw(st.sampled_from(
                    ["", "[]", "{}", "-1", "9" * 40, "!!binary AAAA", "*alias", "&a x", "'unclosed", "ไทย"]))
            else:
                changed[index] = draw(st.text(max_size=40))
            if not changed:
                changed = [""]
        return "\n".join(changed) + "\n"

    return mutate()


permit_texts = st.one_of(
    _mutated(SEED_PERMIT),
    documents.map(lambda value: yaml.safe_dump(value, allow_unicode=True)),
    st.text(max_size=400),
)


def test_generated_permit_yaml_gets_problems_not_a_crash(app: Flask, db_session: Session,
                                                         load_seeds: Callable[[], LoadReport]) -> None:
    load_seeds()
    agencies = (BIZPORTAL_ROOT / "workflows" / "agencies.yaml").read_text(encoding="utf-8")
    templates = {path.name for path in (BIZPORTAL_ROOT / "templates" / "licences").glob("*.html")}
    outcomes: list[bool] = []

    @settings(FUZZ, max_examples=YAML_EXAMPLES)
    @given(permit_texts, st.one_of(st.just(""), _mutated(SEED_FORM)))
    def check(permit_text: str, form_text: str) -> None:
        submission = admin_services.check_submission(db_session, permit_text, form_text, agencies, templates)
        outcomes.append(submission.ok)
        if not submission.ok:
            assert submission.result.problems, permit_text[:200]

    with app.app_context():
        check()
    assert len(outcomes) >= YAML_EXAMPLES * 0.9
    assert False in outcomes

