"""Admin forms; every one carries a CSRF token (Flask-WTF), every label is translated."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..accounts.models import EMAIL_MAX_LENGTH
from ..workflow.spec import AgencyKind

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
    agency_lead = BooleanField(_l("Give an agency lead's rights (may assign the agency's tasks)"))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class AgencyEditForm(FlaskForm):
    """What may change on an agency: names, parent, extra holidays (the service checks the rules)."""

    name_th = StringField(_l("Name in Thai"), validators=[DataRequired(_l("Enter the name."))])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(_l("Enter the name."))])
    short_name_th = StringField(_l("Short name in Thai"), validators=[Optional()])
    short_name_en = StringField(_l("Short name in English"), validators=[Optional()])
    parent_id = SelectField(_l("Parent agency"), choices=[], validate_choice=False)
    extra_holidays = TextAreaField(
        _l("Extra holidays"),
        description=_l("Days this agency does not work besides weekends and public holidays: one date per line, "
                       "YYYY-MM-DD in the Common Era (2026-12-07)."))


AGENCY_KIND_LABELS = {
    AgencyKind.LOCAL_ADMINISTRATION: _l("Local administration"),
    AgencyKind.DEPARTMENT: _l("Government department"),
    AgencyKind.STATE_ENTERPRISE: _l("State enterprise"),
    AgencyKind.PROVINCIAL_OFFICE: _l("Provincial office"),
}


class AgencyForm(AgencyEditForm):
    """A new agency: also its id, code and kind, which never change afterwards."""

    agency_id = StringField(_l("Id"), description=_l("Lowercase letters, digits and _, e.g. demo_district. "
                                                     "It cannot be changed later."),
                            validators=[DataRequired(_l("Enter the id."))])
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code."))])
    kind = SelectField(_l("Kind"), choices=[], validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = [(kind.value, str(label)) for kind, label in AGENCY_KIND_LABELS.items()]

