"""Account forms; every one carries a CSRF token (Flask-WTF), every message is translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from .models import EMAIL_MAX_LENGTH
from .services import MAX_PASSWORD_LENGTH, email_problem, password_problem, text_problem


def _valid_email(form: FlaskForm, field: Field) -> None:
    problem = email_problem(field.data or "")
    if problem is not None:
        raise ValidationError(problem)


def _plain_text(form: FlaskForm, field: Field) -> None:
    problem = text_problem(field.data or "")
    if problem is not None:
        raise ValidationError(problem)


def _usable_password(form: FlaskForm, field: Field) -> None:
    problem = password_problem(field.data or "")
    if problem is not None:
        raise ValidationError(problem)


class RegisterForm(FlaskForm):
    """A new entrepreneur's account."""

    name = StringField(_l("Full name"), validators=[DataRequired(_l("Enter your name.")), _plain_text,
                                                    Length(max=200, message=_l("Use at most 200 characters."))])
    email = EmailField(_l("E-mail"), validators=[_valid_email])
    password = PasswordField(_l("Password"), description=_l("At least 8 characters."),
                             validators=[_usable_password])
    confirm = PasswordField(_l("Repeat the password"),
                            validators=[EqualTo("password", _l("The two passwords are not the same."))])


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[
        DataRequired(_l("Enter your e-mail address.")),
        Length(max=EMAIL_MAX_LENGTH, message=_l("Enter an e-mail address like name@example.com."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")),
        Length(max=MAX_PASSWORD_LENGTH, message=_l("The e-mail address or password is not correct."))])


class LogoutForm(FlaskForm):
    """Nothing but the CSRF token: logging out is a POST."""


class ChangePasswordForm(FlaskForm):
    """The current password, and the new one twice."""

    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password."))])
    new_password = PasswordField(_l("New password"), description=_l("At least 8 characters."),
                                 validators=[_usable_password])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[EqualTo("new_password", _l("The two passwords are not the same."))])


class ResetRequestForm(FlaskForm):
    """The e-mail address to send a reset link to."""

    email = EmailField(_l("E-mail"), validators=[_valid_email])


class ResetPasswordForm(FlaskForm):
    """The new password, twice."""

    new_password = PasswordField(_l("New password"), description=_l("At least 8 characters."),
                                 validators=[_usable_password])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[EqualTo("new_password", _l("The two passwords are not the same."))])
