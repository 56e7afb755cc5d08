"""Fixed forms of the licence pages (CSRF-protected by Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, Optional


class ReasonForm(FlaskForm):
    """Suspend, revoke or reinstate a licence: the reason is required by the service, which says so."""

    reason = TextAreaField(_l("Reason"), validators=[
        Optional(), Length(max=2000, message=_l("Use at most 2,000 characters."))])


class RenewForm(FlaskForm):
    """Start a renewal: only the CSRF token."""
