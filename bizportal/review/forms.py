"""The fixed forms of the review pages (CSRF-protected by Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from ..workflow.spec import Action

ACTION_LABELS = {
    Action.APPROVE.value: _l("Approve"),
    Action.REJECT.value: _l("Reject"),
    Action.RETURN_FOR_CORRECTION.value: _l("Return for correction"),
    Action.REQUEST_INFORMATION.value: _l("Request information"),
}


class TaskActionForm(FlaskForm):
    """Claim or release: only the CSRF token."""


class DecisionForm(FlaskForm):
    """One decision on a task, carrying the task version the officer saw.

    The fields and documents to correct are read as lists from the posted form: they are the form's own ids.
    """

    action = StringField(_l("Decision"), validators=[
        DataRequired(_l("Choose a decision.")), AnyOf(list(ACTION_LABELS), message=_l("Choose a decision."))])
    version_id = IntegerField(validators=[DataRequired()])
    note = TextAreaField(_l("Reason or note"), validators=[
        Optional(), Length(max=5000, message=_l("Use at most 5,000 characters."))])
