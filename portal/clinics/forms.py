"""Clinic admin forms: a new doctor, a weekly rule, time off.

The forms parse what was typed and say so when it does not parse; the rules about what is
acceptable (overlaps, slot lengths, ranges) live in the services, which the API shares.
"""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.models import SLOT_LENGTHS
from portal.services.rules import WEEKDAYS

TIME_FORMATS = ["%H:%M", "%H:%M:%S"]
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class AddDoctorForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("Email (their sign-in)", validators=[DataRequired(), Length(max=254)])
    specialization = StringField(
        "Specialization",
        validators=[DataRequired(), Length(max=80)],
        render_kw={"list": "known-specializations"},
    )
    consultation_fee = StringField(
        "Consultation fee", validators=[DataRequired(message="Enter the fee, e.g. 90.00.")]
    )
    password = PasswordField(
        "Password (leave empty to generate one, shown once)",
        validators=[Optional(), Length(max=256)],
    )


class RuleForm(FlaskForm):
    weekday = SelectField(
        "Day of the week",
        choices=[SelectChoice(str(n), name) for n, name in enumerate(WEEKDAYS)],
        validators=[DataRequired(message="Choose a day of the week.")],
    )
    start_time = TimeField(
        "Start",
        format=TIME_FORMATS,
        invalid_value_message="Times look like 09:00.",
        validators=[DataRequired(message="Times look like 09:00.")],
    )
    end_time = TimeField(
        "End",
        format=TIME_FORMATS,
        invalid_value_message="Times look like 17:00.",
        validators=[DataRequired(message="Times look like 17:00.")],
    )
    slot_minutes = SelectField(
        "Slot length (minutes)",
        choices=[SelectChoice(str(n), f"{n} minutes") for n in SLOT_LENGTHS],
        default="30",
        validate_choice=False,  # the service refuses other lengths with a sentence
    )
    valid_from = DateField(
        "Valid from",
        invalid_value_message="Dates look like 2026-12-01.",
        validators=[DataRequired(message="Dates look like 2026-12-01.")],
    )
    valid_to = DateField(
        "Valid until (optional)",
        invalid_value_message="Dates look like 2027-06-30.",
        validators=[Optional()],
    )


class TimeOffForm(FlaskForm):
    starts_at = DateTimeLocalField(
        "From",
        format=DATETIME_FORMATS,
        invalid_value_message="Enter a date and time such as 2026-12-24 08:00.",
        validators=[DataRequired(message="Enter a date and time such as 2026-12-24 08:00.")],
    )
    ends_at = DateTimeLocalField(
        "Until",
        format=DATETIME_FORMATS,
        invalid_value_message="Enter a date and time such as 2026-12-31 18:00.",
        validators=[DataRequired(message="Enter a date and time such as 2026-12-31 18:00.")],
    )
    reason = StringField("Reason (optional, seen by the clinic only)", validators=[Length(max=200)])
    decision = RadioField(
        "Booked visits inside this time off",
        choices=[
            SelectChoice("keep", "Keep them: the time off applies around them"),
            SelectChoice("cancel", "Cancel them and tell each patient"),
        ],
        validators=[Optional()],
    )
    # The visits the admin was shown, so a booking that lands meanwhile is shown too.
    seen = HiddenField()


class ConfirmForm(FlaskForm):
    """Only the CSRF token: deactivating, deleting and cancelling need no input."""
