"""Sign-in and registration forms."""

import re

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from portal.services.passwords import password_problem

PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=256)]
    )
    password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=254), Email(message="Enter a valid email address.")],
    )
    full_name = StringField("Full name", validators=[DataRequired(), Length(min=2, max=200)])
    phone = StringField(
        "Mobile phone (international format, e.g. +14155550123)",
        validators=[Optional(), Length(max=32)],
    )
    password = PasswordField("Password", validators=[DataRequired()])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )

    def validate_phone(self, field):
        value = re.sub(r"[\s().-]", "", field.data or "")
        if value and not PHONE.match(value):
            raise ValidationError("Enter the number in international format, e.g. +14155550123.")
        field.data = value or None

    def validate_password(self, field):
        problem = password_problem(field.data or "", self.email.data or "")
        if problem:
            raise ValidationError(problem)
