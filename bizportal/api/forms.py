"""Forms of the API tokens page; each carries a CSRF token (Flask-WTF), every message is translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from .tokens import NAME_MAX_LENGTH

LIFETIMES = (("90d", _l("90 days")), ("30d", _l("30 days")), ("365d", _l("1 year")), ("", _l("No expiry")))
"""Lifetimes offered on the page (value for `parse_expiry`, label)."""


class TokenForm(FlaskForm):
    """A new token: what it is for, and how long it lasts."""

    name = StringField(_l("What the token is for"), description=_l("For example: the agency's case system."),
                       validators=[DataRequired(_l("Give the token a name.")),
                                   Length(max=NAME_MAX_LENGTH, message=_l("Use at most 100 characters."))])
    expires = SelectField(_l("Valid for"), choices=[SelectChoice(value, label) for value, label in LIFETIMES],
                          default="90d")


class RevokeForm(FlaskForm):
    """Revoke one token (the CSRF token is the only field)."""
