"""Patient forms: booking, cancelling, rescheduling."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class BookingForm(FlaskForm):
    doctor_id = HiddenField(validators=[DataRequired()])
    starts_at = HiddenField(validators=[DataRequired()])
    kind = RadioField(
        "How would you like to meet?",
        choices=[("in_person", "In person at the clinic"), ("video", "Video call")],
        default="in_person",
        validators=[DataRequired(message="Choose in person or video.")],
    )
    reason = TextAreaField(
        "Reason for the visit (optional)",
        validators=[Optional(), Length(max=1000, message="Keep it under 1,000 characters.")],
    )


class CancelForm(FlaskForm):
    """Only the CSRF token: cancelling needs no input."""


class RescheduleForm(FlaskForm):
    starts_at = HiddenField(validators=[DataRequired(message="Choose a new time.")])
