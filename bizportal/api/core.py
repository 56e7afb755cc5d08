"""The API's contract: blueprint, OpenAPI, bearer tokens, problems, idempotency, ETags, cursors, rate limits.

Resource modules (permits, applications, tasks, licences, businesses) add routes
to `blueprint` and describe them with `@spec.validate(...)`; everything that is
the same for every route lives here, so each resource view stays a thin call to
a service. docs/api.md explains the behaviour to integrators.

OpenAPI component names are the pydantic class names, so every model of the API
needs a name of its own (tests/test_api_core.py checks).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar, cast

import sqlalchemy.exc
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field, ValidationError
from spectree import SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin
from sqlalchemy import delete, select
from werkzeug.routing import Rule

from ..accounts.models import User
from ..errors import problem_response
from ..extensions import csrf, db, login_manager
from .models import ApiToken, IdempotencyKey
from .tokens import needs_last_used_update, token_for_secret, touch_statement

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

API_PREFIX = "/api/v1"
DEFAULT_RATE_LIMIT = "600/minute"
IDEMPOTENCY_KEY_LIFETIME = dt.timedelta(hours=24)
IDEMPOTENCY_KEY_MAX_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")
"""Headers of a first answer that a replay repeats."""

blueprint = Blueprint("api", __name__, url_prefix=API_PREFIX)


# --------------------------------------------------------------------------- problems (RFC 9457)

class ProblemError(BaseModel):
    """One field at fault: a JSON Pointer into the part of the request named by `location`."""

    path: str = Field(description="JSON Pointer (RFC 6901) to the value at fault, e.g. /answers/name")
    message: str = Field(description="What is wrong, in the requested language")
    location: str | None = Field(default=None, description="body, query, form or header (body when absent)")


class Problem(BaseModel):
    """An error answer, `application/problem+json` (RFC 9457)."""

    type: str = Field(description="A stable URI naming the kind of problem: <portal>/api/v1/problems/<slug>")
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


class ApiProblem(Exception):
    """Raise from an API view to answer with a problem: `slug` names its type (`/api/v1/problems/<slug>`)."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail if detail is not None else title
        self.errors = errors
        self.headers = headers or {}
        super().__init__(f"{status} {slug}: {self.detail}")


def handle_api_problem(problem: ApiProblem) -> Response:
    """Render an `ApiProblem`; a server-side one also rolls the request's changes back."""
    if problem.status >= 500:
        db.session.rollback()
    return problem_response(problem.status, problem.title, problem.detail, slug=problem.slug,
                            errors=problem.errors, headers=problem.headers)


# --------------------------------------------------------------------------- validation messages

VALIDATION_MESSAGES: dict[str, Any] = {
    "missing": _l("This field is required."),
    "extra_forbidden": _l("This field is not expected."),
    "string_type": _l("Must be text."),
    "string_too_short": _l("Must have at least %(min_length)s characters."),
    "string_too_long": _l("Must have at most %(max_length)s characters."),
    "string_pattern_mismatch": _l("This is not in the expected format."),
    "too_short": _l("Must have at least %(min_length)s items."),
    "too_long": _l("Must have at most %(max_length)s items."),
    "greater_than": _l("Must be greater than %(gt)s."),
    "greater_than_equal": _l("Must be at least %(ge)s."),
    "less_than": _l("Must be less than %(lt)s."),
    "less_than_equal": _l("Must be at most %(le)s."),
    "int_type": _l("Must be a whole number."),
    "int_parsing": _l("Must be a whole number."),
    "int_from_float": _l("Must be a whole number."),
    "float_type": _l("Must be a number."),
    "float_parsing": _l("Must be a number."),
    "bool_type": _l("Must be true or false."),
    "bool_parsing": _l("Must be true or false."),
    "enum": _l("Must be one of: %(expected)s."),
    "literal_error": _l("Must be one of: %(expected)s."),
    "date_type": _l("Must be a date (YYYY-MM-DD)."),
    "date_parsing": _l("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": _l("Must be a date (YYYY-MM-DD)."),
    "datetime_type": _l("Must be a date and time (ISO 8601)."),
    "datetime_parsing": _l("Must be a date and time (ISO 8601)."),
    "datetime_from_date_parsing": _l("Must be a date and time (ISO 8601)."),
    "list_type": _l("Must be a list."),
    "dict_type": _l("Must be an object."),
    "model_type": _l("Must be an object."),
    "model_attributes_type": _l("Must be an object."),
    "json_invalid": _l("This is not valid JSON."),
}
DEFAULT_VALIDATION_MESSAGE = _l("This value is not valid.")


def json_pointer(location: tuple[int | str, ...]) -> str:
    """A JSON Pointer (RFC 6901) to `location`: `("answers", "name")` -> `/answers/name`."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def validation_errors(error: ValidationError, part: str) -> list[dict[str, Any]]:
    """Pydantic's errors as `{path, message, location}` in the request's language."""
    found: list[dict[str, Any]] = []
    for item in error.errors():
        context = {key: (", ".join(map(str, value)) if isinstance(value, list | tuple) else value)
                   for key, value in (item.get("ctx") or {}).items()}
        template = VALIDATION_MESSAGES.get(item["type"])
        try:
            message = str(template) % context if template is not None else str(DEFAULT_VALIDATION_MESSAGE)
        except (KeyError, TypeError, ValueError):
            message = str(DEFAULT_VALIDATION_MESSAGE)
        found.append({"path": json_pointer(tuple(item["loc"])), "message": message, "location": part})
    return found


def invalid_request(errors: list[dict[str, Any]]) -> ApiProblem:
    """The 422 problem for a request whose fields are wrong."""
    return ApiProblem(422, "validation", str(_l("The request has invalid fields")),
                      str(_l("Correct the fields listed in errors and send the request again.")), errors=errors)


# --------------------------------------------------------------------------- OpenAPI (spectree)

class _ApiPlugin(FlaskPlugin):
    """Spectree's Flask plugin, fitted to one blueprint under /api/v1.

    We serve the document ourselves (per app, see `openapi_document`), list only
    the blueprint's routes, and remember which part of a request failed so each
    error names its location.
    """

    def register_route(self, app: Any) -> None:
        """Nothing: `/api/v1/openapi.json` and `/api/v1/docs` are our own routes, without CDN pages."""

    def find_routes(self) -> Iterator[Rule]:
        for rule in current_app.url_map.iter_rules():
            if rule.endpoint.startswith("api.") and rule.endpoint not in UNDOCUMENTED_ENDPOINTS:
                yield rule

    def request_validation(self, request: Any, query: Any, json: Any, form: Any, headers: Any,
                           cookies: Any) -> None:
        has_body = request.method not in ("GET", "DELETE", "HEAD")
        use_form = form is not None and has_body and request.mimetype in self.FORM_MIMETYPE
        body: Any = None
        if json is not None and has_body and not use_form:
            raw = request.get_data(cache=True)
            if raw.strip():
                if not request.is_json:
                    raise ApiProblem(415, "unsupported-media-type", str(_l("Unsupported media type")),
                                     str(_l("Send the request body as JSON (Content-Type: application/json).")))
                body = request.get_json(silent=True)
                if body is None:
                    raise ApiProblem(400, "invalid-json", str(_l("The body is not valid JSON")),
                                     str(_l("Send a JSON object as the request body.")))
            else:
                body = {}
        parts: dict[str, Any] = {}
        for name, model, data in (("query", query, lambda: self._query(request, query)),
                                  ("body", json if body is not None else None, lambda: body),
                                  ("form", form if use_form else None, lambda: self.fill_form(request)),
                                  ("header", headers, lambda: dict(iter(request.headers)))):
            if model is None:
                parts[name] = None
                continue
            try:
                parts[name] = self.model_adapter.validate_obj(model, data())
            except ValidationError:
                g.api_invalid_part = name
                raise
        from spectree.plugins.base import Context

        request.context = Context(parts["query"], parts["body"], parts["form"], parts["header"], None)

    @staticmethod
    def _query(request: Any, model: Any) -> dict[str, Any]:
        from spectree.utils import get_multidict_items

        return cast(dict[str, Any], get_multidict_items(request.args, model))


def _before_view(req: Any, resp: Any, req_validation_error: Exception | None, instance: Any,
                 model_adapter: Any) -> None:
    """A request that fails its model becomes a 422 problem listing every field at fault."""
    if isinstance(req_validation_error, ValidationError):
        raise invalid_request(validation_errors(req_validation_error, g.pop("api_invalid_part", "body")))


class ResponseContractBroken(Exception):
    """A view answered with a body its declared response model refuses: our bug, logged and answered 500."""


def _after_view(req: Any, resp: Any, resp_validation_error: Exception | None, instance: Any,
                model_adapter: Any) -> None:
    if resp_validation_error is not None:
        raise ResponseContractBroken(str(resp_validation_error))


spec = SpecTree(
    "flask", backend=_ApiPlugin, title="bizportal API", version="v1", path="api/v1",
    description="The JSON API of the business licence portal. See /api/v1/docs and docs/api.md.",
    page_templates={}, before=_before_view, after=_after_view, validation_error_status=422,
    validation_error_model=Problem, annotations=False,
    naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda _parent, child: child,
)

UNDOCUMENTED_ENDPOINTS = frozenset({"api.openapi", "api.docs", "api.problem_type"})
"""Routes of the blueprint that are pages about the API rather than operations of it."""


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s API routes, generated once per app from the code.

    Spectree writes the operations and schemas; we add the bearer scheme, mark
    public operations, and say that problems are `application/problem+json`.
    """
    cached = app.extensions.get("bizportal.api.openapi")
    if cached is not None:
        return cast(dict[str, Any], cached)
    saved_models = copy.deepcopy(spec.models)  # generating moves nested $defs out of spec.models: keep them
    try:
        with app.app_context():
            generated = spec._generate_spec()  # noqa: SLF001  per app, unlike spec.spec (first app's, cached)
    finally:
        spec.models = saved_models
    document = cast(dict[str, Any], json.loads(json.dumps(generated, default=str)))
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "bzp_ token",
                   "description": "A personal API token: `bizportal tokens create` or the account settings page."}}
    document["security"] = [{"bearer": []}]
    public_paths = _public_operations(app)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if (path, method) in public_paths:
                operation["security"] = []
            else:
                responses.setdefault("401", _problem_reference("Missing, unknown, revoked or expired token"))
            responses.setdefault("429", _problem_reference("Too many requests for this token"))
            for status, answer in responses.items():
                content = answer.get("content", {})
                if "application/json" in content and content["application/json"].get("schema", {}).get(
                        "$ref", "").endswith("/Problem"):
                    content["application/problem+json"] = content.pop("application/json")
                    answer["description"] = answer.get("description") or f"{status} problem"
    app.extensions["bizportal.api.openapi"] = document
    return document


def _problem_reference(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _public_operations(app: Flask) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if rule.endpoint.startswith("api.") and getattr(view, PUBLIC_ATTRIBUTE, False):
            path, _parameters = spec.backend.parse_path(rule, None)
            found.update((path, method.lower()) for method in rule.methods or ())
    return found


# --------------------------------------------------------------------------- authentication

PUBLIC_ATTRIBUTE = "bizportal_api_public"


def public(view: Callable[P, R]) -> Callable[P, R]:
    """Mark an API view as open without a token (the document, the docs page, licence verification)."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def request_token() -> ApiToken | None:
    """The usable token the request carries (once per request), or None."""
    if "api_token" not in g:
        secret = _bearer_secret()
        g.api_token = token_for_secret(db.session(), secret, _now()) if secret else None
    return cast(ApiToken | None, g.api_token)


def _unauthorized() -> ApiProblem:
    has_header = _bearer_secret() is not None
    detail = (_l("The token is unknown, revoked or expired, or its account is not active.") if has_header
              else _l("Send a token in the Authorization header: Authorization: Bearer bzp_..."))
    return ApiProblem(401, "unauthorized", str(_l("A valid API token is required")), str(detail),
                      headers={"WWW-Authenticate": 'Bearer realm="bizportal"'
                               + (', error="invalid_token"' if has_header else "")})


def api_user() -> User:
    """The user the request's token acts as (with that user's role); 401 problem when there is none."""
    token = request_token()
    if token is None:
        raise _unauthorized()
    return token.user


@blueprint.before_request
def _authenticate() -> None:
    """Every API route needs a bearer token except the public ones; cookies never count here."""
    token = request_token()
    # flask_login's current_user becomes the token's user (or anonymous): the session cookie is ignored
    g._login_user = token.user if token is not None else login_manager.anonymous_user()
    view = current_app.view_functions.get(request.endpoint or "")
    if token is None and not getattr(view, PUBLIC_ATTRIBUTE, False):
        raise _unauthorized()
    if token is not None and needs_last_used_update(token, _now()):
        _touch(token)


def _touch(token: ApiToken) -> None:
    """Record the use in a short transaction of its own; losing one update is harmless, failing the request is not."""
    session = db.session()
    try:
        session.execute(touch_statement(token.id, _now()))
        session.commit()
    except sqlalchemy.exc.OperationalError:  # SQLite: another writer holds the lock; next minute will do
        session.rollback()
        logger.warning("token last use not recorded", extra={"token_id": token.id})


# --------------------------------------------------------------------------- JSON answers

def json_response(model_or_dict: BaseModel | Mapping[str, Any] | list[Any], status: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer from a pydantic model (dumped in JSON mode) or plain data."""
    data = model_or_dict.model_dump(mode="json") if isinstance(model_or_dict, BaseModel) else model_or_dict
    response = jsonify(data)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# --------------------------------------------------------------------------- ETag / If-Match

def etag_of(*parts: object) -> str:
    """A strong, quoted ETag from the parts that change whenever the resource does (id, version, updated_at)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).hexdigest()[:32]
    return f'"{digest}"'


def require_if_match(current_etag: str) -> None:
    """A decision must name the version it was made on: 428 without `If-Match`, 412 when it is stale."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise ApiProblem(428, "precondition-required", str(_l("If-Match is required")),
                         str(_l("Send the ETag you last read in an If-Match header, so that a newer state is "
                                "never overwritten.")))
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in offered or current_etag.removeprefix("W/") in offered:
        return
    raise ApiProblem(412, "precondition-failed", str(_l("The resource has changed")),
                     str(_l("Someone changed it after you read it. Read it again and decide on the new state.")),
                     headers={"ETag": current_etag})


# --------------------------------------------------------------------------- cursors

def _cursor_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.secret_key), salt="bizportal.api.cursor")


def encode_cursor(values: tuple[Any, ...]) -> str:
    """An opaque, signed, URL-safe cursor holding the sort key of the last row (JSON values only)."""
    return str(_cursor_serializer().dumps(list(values)))


def decode_cursor(text: str | None, arity: int) -> tuple[Any, ...] | None:
    """The values of a cursor made by `encode_cursor`; None without one; 400 problem when altered or malformed."""
    if text is None:
        return None
    try:
        values = _cursor_serializer().loads(text)
    except BadSignature:
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise ApiProblem(400, "invalid-cursor", str(_l("The cursor is not valid")),
                         str(_l("Use the next_cursor of a previous page, unchanged.")),
                         errors=[{"path": "/cursor", "message": str(_l("The cursor is not valid")),
                                  "location": "query"}])
    return tuple(values)


# --------------------------------------------------------------------------- idempotency

def request_fingerprint() -> str:
    """SHA-256 of what the request asks: JSON canonicalised, uploads by field names and content."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"form {name}={value}\n".encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            content = upload.stream.read()
            upload.stream.seek(0)
            digest.update(f"file {name} {upload.filename}\n".encode())
            digest.update(hashlib.sha256(content).digest())
    else:
        raw = request.get_data(cache=True)
        parsed = request.get_json(silent=True) if request.is_json else None
        if parsed is not None:
            raw = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        digest.update(raw)
    return digest.hexdigest()


def _replay(stored: IdempotencyKey) -> Response:
    headers = dict(stored.response_headers or {})
    response = Response(stored.response_body or "", status=stored.status_code or 200,
                        mimetype=headers.pop("Content-Type", None) or "application/json")
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _key_in_progress() -> ApiProblem:
    return ApiProblem(409, "idempotency-key-in-use", str(_l("This request is already being processed")),
                      str(_l("A request with the same Idempotency-Key has not finished yet. Retry in a moment.")))


def _key_reused() -> ApiProblem:
    return ApiProblem(422, "idempotency-key-reused", str(_l("This Idempotency-Key was used for another request")),
                      str(_l("Use a new Idempotency-Key for a different request.")),
                      errors=[{"path": "/Idempotency-Key", "message": str(_l("Already used for another request.")),
                               "location": "header"}])


def _answer_to_existing(stored: IdempotencyKey, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint or stored.method != request.method or stored.path != request.path:
        raise _key_reused()
    if stored.status_code is None:
        raise _key_in_progress()
    return _replay(stored)


def idempotent(view: Callable[P, R]) -> Callable[P, R]:
    """Honour `Idempotency-Key` on a POST that creates or decides: a retry gets the first answer, never a second act.

    The key is claimed (a row with no answer yet) and committed before the view
    runs, so of two concurrent requests with one key only one passes the unique
    constraint; the other is told 409 (or gets the replay once the first is done).
    A successful (2xx) answer is stored and replayed for 24 hours; an error
    releases the key so that a corrected retry can use it.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
            raise ApiProblem(400, "invalid-idempotency-key", str(_l("The Idempotency-Key is not valid")),
                             str(_l("Send 1 to 255 printable characters, for example a UUID.")))
        user = api_user()
        user_id = user.id
        fingerprint = request_fingerprint()
        session = db.session()
        now = _now()
        stored = session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                              IdempotencyKey.key == key)).first()
        if stored is not None and stored.created_at < now - IDEMPOTENCY_KEY_LIFETIME:
            session.delete(stored)
            session.flush()
            stored = None
        if stored is not None:
            answer = _answer_to_existing(stored, fingerprint)
            session.rollback()
            return cast(R, answer)
        claim = IdempotencyKey(user_id=user_id, key=key, method=request.method, path=request.path,
                               fingerprint=fingerprint, created_at=now)
        session.add(claim)
        try:
            session.flush()
            claim_id = claim.id  # read before the commit: reading after it would open a transaction (and lock)
            session.commit()
        except sqlalchemy.exc.IntegrityError:
            session.rollback()
            stored = session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                                  IdempotencyKey.key == key)).first()
            if stored is None:
                raise _key_in_progress() from None
            return cast(R, _answer_to_existing(stored, fingerprint))
        try:
            result = view(*args, **kwargs)
        except BaseException:
            _release(claim_id)
            raise
        response = current_app.make_response(result)  # type: ignore[arg-type]
        if 200 <= response.status_code < 300 and not response.direct_passthrough:
            _store(claim_id, response)
        else:
            _release(claim_id)
        return cast(R, response)

    return wrapper


def _release(claim_id: int) -> None:
    """Free a key whose request failed; if even that fails, the key stays claimed (409, never a double act)."""
    session = db.session()
    try:
        session.rollback()
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))
        session.commit()
    except sqlalchemy.exc.SQLAlchemyError:
        session.rollback()
        logger.exception("idempotency key not released", extra={"idempotency_key_id": claim_id})


def _store(claim_id: int, response: Response) -> None:
    session = db.session()
    claim = session.get(IdempotencyKey, claim_id)
    if claim is None:
        return
    claim.status_code = response.status_code
    claim.response_body = response.get_data(as_text=True)
    claim.response_headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
    session.commit()


# --------------------------------------------------------------------------- rate limits

def _rate_limit_key() -> str:
    """Per token (by a piece of its hash, unique across deployments and test apps), else per address."""
    token = request_token() if request.path.startswith(API_PREFIX + "/") else None
    if token is not None:
        return f"token:{token.secret_hash[:20]}"
    return f"address:{request.remote_addr or 'unknown'}"


def _rate_limit() -> str:
    return str(current_app.config.get("BIZPORTAL_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)


def _not_api_request() -> bool:
    return not request.path.startswith(API_PREFIX + "/")


def _retry_after_only_when_refused(response: Response) -> Response:
    """The limiter adds `Retry-After` to every answer; keep it only where it means something (429, 503)."""
    if response.status_code not in (429, 503) and request.path.startswith(API_PREFIX + "/"):
        response.headers.pop("Retry-After", None)
    return response


def _init_rate_limits(app: Flask) -> None:
    """One limiter per app (its own memory when there is no Redis), counting only /api/v1 requests."""
    redis_url = app.config.get("REDIS_URL")
    limiter = Limiter(
        _rate_limit_key, default_limits=[_rate_limit], default_limits_exempt_when=_not_api_request,
        headers_enabled=True, storage_uri=str(redis_url) if redis_url else "memory://",
        strategy="fixed-window", key_prefix="bizportal-api", swallow_errors=True,
        in_memory_fallback_enabled=bool(redis_url),
    )
    limiter.init_app(app)
    app.extensions["bizportal.api.limiter"] = limiter


# --------------------------------------------------------------------------- wiring

def init_app(app: Flask) -> None:
    """Register the blueprint (without CSRF: bearer tokens, no cookies), problems and rate limits on `app`."""
    from .token_pages import blueprint as token_pages

    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)
    app.register_blueprint(token_pages)
    app.register_error_handler(ApiProblem, handle_api_problem)
    app.after_request(_retry_after_only_when_refused)  # registered first, so it runs after the limiter's
    _init_rate_limits(app)
