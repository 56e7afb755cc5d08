"""Language choice and the formatters every page uses.

Thai comes first: it is the default, and a visitor switches with `?lang=en`
(remembered in the session cookie). Dates go through one formatter: Buddhist
Era in Thai (2026 → 2569) with Thai month names, Common Era in English. Times
are shown in Thailand's time (UTC+7, no daylight saving).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import flask_babel
from flask import Flask, current_app, has_app_context, has_request_context, request, session
from flask_babel import get_locale

from .extensions import babel

SUPPORTED_LOCALES = ("th", "en")
DEFAULT_LOCALE = "th"
LOCALE_NAMES = {"th": "ไทย", "en": "English"}
SESSION_KEY = "lang"
BUDDHIST_ERA_OFFSET = 543
THAILAND = dt.timezone(dt.timedelta(hours=7), "ICT")

THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม",
               "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.",
                     "พ.ย.", "ธ.ค.")
ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")


def gettext(message: str, **variables: Any) -> str:
    """Translate `message` into the page's language (Flask-Babel's gettext, typed)."""
    return str(flask_babel.gettext(message, **variables))


def ngettext(singular: str, plural: str, number: int, **variables: Any) -> str:
    """Translate a message that depends on a count; `%(num)d` is the count."""
    return str(flask_babel.ngettext(singular, plural, number, **variables))


def _default_locale() -> str:
    if has_app_context():
        return str(current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE))
    return DEFAULT_LOCALE


def select_locale() -> str:
    """The request's language: `?lang=`, else (API) `Accept-Language` or (pages) the session's, else Thai."""
    if not has_request_context():
        return _default_locale()
    requested = request.args.get("lang")
    if requested in SUPPORTED_LOCALES:
        return requested
    if request.path.startswith("/api/"):  # API clients say their language in Accept-Language; no session there
        return request.accept_languages.best_match(SUPPORTED_LOCALES) or _default_locale()
    stored = session.get(SESSION_KEY)
    if stored in SUPPORTED_LOCALES:
        return str(stored)
    return _default_locale()


def current_locale() -> str:
    """The language of the current page ("th" or "en")."""
    locale = get_locale() if has_app_context() else None
    return locale.language if locale is not None else _default_locale()


def remember_requested_locale() -> None:
    """Keep a `?lang=` choice in the session so that later pages stay in that language."""
    requested = request.args.get("lang")
    if request.path.startswith("/api/"):
        return
    if requested in SUPPORTED_LOCALES and session.get(SESSION_KEY) != requested:
        session[SESSION_KEY] = requested


def _thai_time(value: dt.date | dt.datetime) -> dt.date | dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dates are formatted from aware datetimes")
        return value.astimezone(THAILAND)
    return value


def format_date(value: dt.date | dt.datetime, locale: str, *, short: bool = False) -> str:
    """`24 พฤศจิกายน 2569` in Thai (Buddhist Era), `24 November 2026` in English.

    Aware datetimes are first converted to Thailand's time, so the day is the one
    shown on a Bangkok calendar.
    """
    day = _thai_time(value)
    if locale == "en":
        month = ENGLISH_MONTHS[day.month - 1]
        return f"{day.day} {month[:3] if short else month} {day.year}"
    months = THAI_MONTHS_SHORT if short else THAI_MONTHS
    return f"{day.day} {months[day.month - 1]} {day.year + BUDDHIST_ERA_OFFSET}"


def format_datetime(value: dt.datetime, locale: str) -> str:
    """`24 พฤศจิกายน 2569 เวลา 14:05 น.` in Thai, `24 November 2026, 14:05` in English (Thailand's time)."""
    moment = _thai_time(value)
    assert isinstance(moment, dt.datetime)
    if locale == "en":
        return f"{format_date(moment, locale)}, {moment:%H:%M}"
    return f"{format_date(moment, locale)} เวลา {moment:%H:%M} น."


def format_number(value: int | float | Decimal, locale: str = DEFAULT_LOCALE) -> str:
    """Group thousands with commas (both languages); decimals only as far as they matter (2.5, 0.25)."""
    amount = Decimal(str(value))
    if amount == amount.to_integral_value():
        return f"{int(amount):,}"
    return f"{amount.normalize():,f}"


def format_baht(value: int | float | Decimal, locale: str) -> str:
    """`5,500 บาท` in Thai, `THB 5,500` in English; satang as two decimals (`1,234.50 บาท`)."""
    amount = Decimal(str(value))
    number = format_number(amount) if amount == amount.to_integral_value() \
        else f"{amount.quantize(Decimal('0.01')):,}"
    return f"THB {number}" if locale == "en" else f"{number} บาท"


def switch_language_url(locale: str) -> str:
    """The current page's address in `locale` (other query parameters kept)."""
    arguments = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    arguments.append(("lang", locale))
    return f"{request.path}?{urlencode(arguments)}"


def init_app(app: Flask) -> None:
    """Bind Flask-Babel, remember `?lang=` choices and register the Jinja filters."""
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(remember_requested_locale)
    app.jinja_env.filters["date"] = lambda value, short=False: format_date(value, current_locale(),
                                                                           short=short)
    app.jinja_env.filters["datetime"] = lambda value: format_datetime(value, current_locale())
    app.jinja_env.filters["number"] = lambda value: format_number(value, current_locale())
    app.jinja_env.filters["baht"] = lambda value: format_baht(value, current_locale())
    app.jinja_env.globals["switch_language_url"] = switch_language_url

    @app.context_processor
    def _language() -> dict[str, object]:
        locale = current_locale()
        return {"locale": locale, "other_locale": "en" if locale == "th" else "th",
                "locale_names": LOCALE_NAMES}
