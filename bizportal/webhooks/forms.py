"""The subscription form; the URL's target check and the other rules are the service's."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from .. import events

EVENT_LABELS = {
    "application_submitted": _l("Application submitted (or sent again after a correction)"),
    "stage_decided": _l("Stage decided (approved, rejected, returned or information requested)"),
    "returned_for_correction": _l("Returned for correction or more information"),
    "licence_issued": _l("Licence issued"),
    "licence_suspended": _l("Licence suspended"),
    "licence_revoked": _l("Licence revoked"),
    "licence_reinstated": _l("Licence reinstated"),
}


class SubscriptionForm(FlaskForm):
    """Where to send which events, for all agencies or one."""

    url = StringField(_l("URL that receives the events"),
                      description=_l("https:// and a public address. Each delivery is a signed JSON POST."))
    description = StringField(_l("Description"), validators=[Length(max=200, message=_l(
        "Use at most 200 characters."))])
    events = SelectMultipleField(_l("Events"), choices=[], validate_choice=True, widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())
    agency_id = SelectField(_l("Only events concerning this agency"), choices=[], validate_choice=True)
    active = BooleanField(_l("Active (deliveries are sent)"), default=True)
    allow_private_target = BooleanField(
        _l("Allow a private or local address (and plain http)"),
        description=_l("Only for receivers inside your own network that you trust: the portal will call them."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events.choices = [(name, str(EVENT_LABELS[name])) for name in events.EVENT_TYPES]


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
