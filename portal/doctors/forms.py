"""Doctor forms: a status action (CSRF only) and a medical record."""

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.models import RECORD_TYPES
from portal.services.visits import MAX_TEXT


class ActionForm(FlaskForm):
    """Only the CSRF token: check-in, completed and no-show need no input."""


class RecordForm(FlaskForm):
    record_type = SelectField(
        "Record type",
        choices=[
            SelectChoice(value, value.replace("_", " ").capitalize()) for value in RECORD_TYPES
        ],
        validators=[DataRequired(message="Choose a record type.")],
        validate_choice=False,  # the service refuses unknown types with a sentence
    )
    diagnosis = TextAreaField(
        "Diagnosis", validators=[Optional(), Length(max=MAX_TEXT)], render_kw={"rows": 4}
    )
    prescription = TextAreaField(
        "Prescription", validators=[Optional(), Length(max=MAX_TEXT)], render_kw={"rows": 3}
    )
    systolic_mmhg = IntegerField("Blood pressure, systolic (mmHg)", validators=[Optional()])
    diastolic_mmhg = IntegerField("Blood pressure, diastolic (mmHg)", validators=[Optional()])
    pulse_bpm = IntegerField("Pulse (beats per minute)", validators=[Optional()])
    temperature_c = DecimalField("Temperature (°C)", places=1, validators=[Optional()])
    weight_kg = DecimalField("Weight (kg)", places=1, validators=[Optional()])

    VITAL_FIELDS = ("systolic_mmhg", "diastolic_mmhg", "pulse_bpm", "temperature_c", "weight_kg")

    def vitals(self) -> dict[str, float | None]:
        """The measurements typed, as numbers (None when left empty)."""
        values = {}
        for name in self.VITAL_FIELDS:
            value = getattr(self, name).data
            values[name] = float(value) if value is not None else None
        return values

    def fill_from(self, record) -> None:
        """Start an amendment from the record it replaces."""
        self.record_type.data = record.record_type
        self.diagnosis.data = record.diagnosis
        self.prescription.data = record.prescription
        data = record.data if isinstance(record.data, dict) else {}
        for name in ("pulse_bpm", "temperature_c", "weight_kg"):
            if isinstance(data.get(name), int | float):
                getattr(self, name).data = data[name]
        pressure = str(data.get("blood_pressure") or "")
        if pressure.count("/") == 1 and all(p.isdigit() for p in pressure.split("/")):
            systolic, diastolic = pressure.split("/")
            self.systolic_mmhg.data, self.diastolic_mmhg.data = int(systolic), int(diastolic)
