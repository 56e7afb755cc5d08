"""Fixed forms of the application pages (CSRF-protected by Flask-WTF).

The questions of a permit's form are not WTForms classes: they come from the
permit's YAML and are read by `answers.py`. These forms carry the rest.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class StartForm(FlaskForm):
    """Which of my businesses applies."""

    business_id = SelectField(_l("Business applying"), coerce=int,
                              validators=[DataRequired(_l("Choose the business that applies."))])


class WithdrawForm(FlaskForm):
    """Withdrawing an application, with an optional reason."""

    reason = TextAreaField(_l("Reason (optional)"), validators=[
        Optional(), Length(max=2000, message=_l("Use at most 2,000 characters."))])


class ConfirmForm(FlaskForm):
    """A button that changes something (submit, resubmit): only the CSRF token."""
