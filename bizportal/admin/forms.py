"""Admin forms; every one carries a CSRF token (Flask-WTF), every label is translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..accounts.models import EMAIL_MAX_LENGTH

MAX_SOURCE_BYTES = 1_000_000
"""The largest file accepted in the console; the validator caps each file further."""


class PublishForm(FlaskForm):
    """A permit file and its form, pasted or uploaded (an upload wins over pasted text)."""

    permit_text = TextAreaField(_l("Permit file (YAML)"))
    permit_file = FileField(_l("…or upload the permit file"))
    form_text = TextAreaField(_l("Form file (YAML)"),
                              description=_l("Leave empty to keep the form of the current version."))
    form_file = FileField(_l("…or upload the form file"))


class OfficerForm(FlaskForm):
    """A new officer of one agency."""

    name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter the name.")),
                                                     Length(max=200, message=_l("Use at most 200 characters."))])
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter the e-mail address.")),
                                                  Length(max=EMAIL_MAX_LENGTH)])
    password = PasswordField(_l("First password"), description=_l("At least 8 characters."),
                             validators=[DataRequired(_l("Enter a password."))])
    agency = SelectField(_l("Agency"), choices=[], validate_choice=True)


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
