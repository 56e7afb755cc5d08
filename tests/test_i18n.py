"""Language choice, Buddhist-Era dates, baht, and the Thai translation catalogue."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from bizportal.config import BIZPORTAL_ROOT
from bizportal.i18n import format_baht, format_date, format_datetime, format_number

TRANSLATIONS = BIZPORTAL_ROOT / "bizportal" / "translations"
THAI_PO = TRANSLATIONS / "th" / "LC_MESSAGES" / "messages.po"
THAI_MO = TRANSLATIONS / "th" / "LC_MESSAGES" / "messages.mo"


@pytest.mark.parametrize(("day", "thai", "english"), [
    (dt.date(2026, 11, 24), "24 พฤศจิกายน 2569", "24 November 2026"),
    (dt.date(2027, 1, 1), "1 มกราคม 2570", "1 January 2027"),
    (dt.date(2024, 2, 29), "29 กุมภาพันธ์ 2567", "29 February 2024"),
])
def test_dates_are_buddhist_era_in_thai(day: dt.date, thai: str, english: str) -> None:
    assert format_date(day, "th") == thai
    assert format_date(day, "en") == english


def test_short_dates() -> None:
    assert format_date(dt.date(2026, 11, 24), "th", short=True) == "24 พ.ย. 2569"
    assert format_date(dt.date(2026, 11, 24), "en", short=True) == "24 Nov 2026"


def test_datetimes_use_thailand_time() -> None:
    late_evening_utc = dt.datetime(2026, 12, 31, 18, 30, tzinfo=dt.UTC)
    assert format_date(late_evening_utc, "th") == "1 มกราคม 2570"
    assert format_datetime(late_evening_utc, "th") == "1 มกราคม 2570 เวลา 01:30 น."
    assert format_datetime(late_evening_utc, "en") == "1 January 2027, 01:30"
    with pytest.raises(ValueError, match="naive"):
        format_date(dt.datetime(2026, 1, 1, 12, 0), "th")


def test_baht_and_numbers() -> None:
    assert format_baht(5500, "th") == "5,500 บาท"
    assert format_baht(5500.0, "en") == "THB 5,500"
    assert format_baht(1234.5, "th") == "1,234.50 บาท"
    assert format_number(1000000) == "1,000,000"
    assert format_number(0.1) == "0.1"
    assert format_number(12345.25) == "12,345.25"


def test_locale_defaults_to_thai_and_follows_lang(client: FlaskClient) -> None:
    assert '<html lang="th">' in client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in client.get("/?lang=en").get_data(as_text=True)
    # the choice is remembered in the session
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    assert '<html lang="th">' in client.get("/?lang=th").get_data(as_text=True)
    # anything else is ignored
    assert '<html lang="th">' in client.get("/?lang=fr").get_data(as_text=True)


def test_jinja_filters_follow_the_page_language(app: Flask) -> None:
    moment = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
    template = "{{ moment | date }} / {{ moment | datetime }} / {{ 5500 | baht }} / {{ 1234567 | number }}"
    with app.test_request_context("/?lang=th"):
        assert render_template_string(template, moment=moment) == \
            "24 พฤศจิกายน 2569 / 24 พฤศจิกายน 2569 เวลา 10:00 น. / 5,500 บาท / 1,234,567"
    with app.test_request_context("/?lang=en"):
        assert render_template_string(template, moment=moment) == \
            "24 November 2026 / 24 November 2026, 10:00 / THB 5,500 / 1,234,567"


def test_compiled_catalogue_matches_the_po_file() -> None:
    with THAI_PO.open("rb") as file:
        catalog = read_po(file)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert compiled.getvalue() == THAI_MO.read_bytes(), \
        "messages.mo is stale: run `pybabel compile -d bizportal/translations`"


def _source_messages() -> set[str]:
    method_map = [("bizportal/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found: set[str] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
            str(BIZPORTAL_ROOT), method_map, keywords=keywords):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_ui_string_has_a_thai_translation() -> None:
    with THAI_PO.open("rb") as file:
        catalog = read_po(file)
    translated = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        text = message.string[0] if isinstance(message.string, tuple) else message.string
        translated[key] = text
    messages = _source_messages()
    assert len(messages) > 50
    missing = sorted(message for message in messages if not translated.get(message))
    assert missing == [], "add Thai translations to messages.po: " + "; ".join(missing)

