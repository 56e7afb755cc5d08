"""The fixed forms of the review pages (CSRF-protected by Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from ..workflow.spec import Action

ACTION_LABELS = {
    Action.APPROVE.value: _l("Approve"),
    Action.REJECT.value: _l("Reject"),
    Action.RETURN_FOR_CORRECTION.value: _l("Return for correction"),
    Action.REQUEST_INFORMATION.value: _l("Request information"),
}


ACTIVITY_LABELS = {
    **ACTION_LABELS,
    "submit": _l("Application submitted"),
    "resubmit": _l("Corrected application sent again"),
    "withdraw": _l("Application withdrawn"),
    "deadline_passed": _l("Deadline check"),
    "claim": _l("Task claimed"),
    "release": _l("Task released"),
    "assign": _l("Task assigned"),
}
"""Names of audit actions on an application and its tasks, for the activity log of the task page."""


class TaskActionForm(FlaskForm):
    """Claim or release: only the CSRF token."""


class AssignForm(FlaskForm):
    """Hand a task to a colleague: the choices are the agency's active officers."""

    assignee_id = SelectField(_l("Assign to"), coerce=int, validators=[DataRequired(_l("Choose an officer."))])


class DecisionForm(FlaskForm):
    """One decision on a task, carrying the task version the officer saw.

    The fields and documents to correct are read as lists from the posted form: they are the form's own ids.
    """

    action = StringField(_l("Decision"), validators=[
        DataRequired(_l("Choose a decision.")), AnyOf(list(ACTION_LABELS), message=_l("Choose a decision."))])
    version_id = IntegerField(validators=[DataRequired()])
    note = TextAreaField(_l("Reason or note"), validators=[
        Optional(), Length(max=5000, message=_l("Use at most 5,000 characters."))])
