"""What a doctor does with a visit: check-in, completed or no-show, and its medical records.

Only changes that make sense are made; anything else (completing a cancelled visit, checking
in a completed one, a no-show before the visit started) is refused with a sentence and
changes nothing. None of these frees a slot: completed and no-show visits keep holding theirs
(the exclusion constraint and availability count every visit that is not cancelled), so the
availability cache is left alone; cancelling goes through booking.cancel_appointment, which
invalidates the day.

Records are written, never edited: a record is a new row tied to the visit and its patient, an
amendment a new row that supersedes the old one. Every write and every read here adds its
audit row to the same transaction (services.audit): no audit row, no record.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import RECORD_TYPES, Appointment, MedicalRecord, utcnow
from portal.services.audit import AMEND, audit_record_read, audit_record_write, commit_with_audit
from portal.services.authz import (
    Actor,
    can_amend_record,
    can_change_visit_status,
    can_write_record,
    require,
)

ACTIONS = ("check_in", "complete", "no_show")


class VisitStatusError(Exception):
    """A status change that makes no sense for this visit, in words for the doctor."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Allowed:
    check_in: bool
    complete: bool
    no_show: bool


def _problem(appointment: Appointment, action: str, now: datetime) -> str | None:
    """Why this action cannot be taken now, or None when it can."""
    status = appointment.status
    if action not in ACTIONS:
        return "Choose check-in, completed or no-show."
    if status != "scheduled":
        word = {"completed": "completed", "cancelled": "cancelled", "no_show": "a no-show"}[status]
        verb = {"check_in": "checked in", "complete": "completed", "no_show": "a no-show"}[action]
        return f"This visit is already {word}; it cannot be {verb}."
    zone = ZoneInfo(appointment.doctor.clinic.timezone)
    if action == "check_in":
        if appointment.checked_in_at is not None:
            return "The patient is already checked in."
        if now.astimezone(zone).date() < appointment.starts_at.astimezone(zone).date():
            return "Patients check in on the day of their visit."
        return None
    if now < appointment.starts_at:
        what = "completed" if action == "complete" else "a no-show"
        return f"The visit has not started yet; it cannot be {what}."
    if action == "no_show" and appointment.checked_in_at is not None:
        return "The patient checked in, so this is not a no-show."
    return None


def allowed_actions(appointment: Appointment, now: datetime) -> Allowed:
    """Which buttons make sense on this visit's row right now."""
    return Allowed(
        *(
            _problem(appointment, action, now) is None
            for action in ("check_in", "complete", "no_show")
        )
    )


def change_status(appointment_id: int, actor: Actor, action: str, now: datetime) -> Appointment:
    """Check in, complete or mark a no-show, under a row lock; VisitStatusError if senseless."""
    appointment = db.session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if appointment is None:
        raise LookupError(appointment_id)
    require(can_change_visit_status(actor, appointment))
    problem = _problem(appointment, action, now)
    if problem:
        db.session.rollback()
        raise VisitStatusError(problem)
    if action == "check_in":
        appointment.checked_in_at = now
    elif action == "complete":
        appointment.status = "completed"
    else:
        appointment.status = "no_show"
    db.session.commit()
    return appointment


# --- Medical records of a visit --------------------------------------------------------------

MAX_TEXT = 5000
# The structured data a doctor may note, with the range a real measurement falls in.
VITALS = {
    "pulse_bpm": (20, 250),
    "temperature_c": (30, 45),
    "weight_kg": (0.5, 400),
    "systolic_mmhg": (50, 260),
    "diastolic_mmhg": (30, 160),
}


class RecordRefused(Exception):
    """A record that is not written; `field` names the input at fault (or "form")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RecordInput:
    record_type: str
    diagnosis: str | None = None
    prescription: str | None = None
    vitals: dict[str, float | None] | None = None


def _clean_text(value: str | None, field: str) -> str | None:
    text = (value or "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise RecordRefused(field, f"Keep it under {MAX_TEXT:,} characters.")
    return text


def record_data(vitals: dict[str, float | None] | None) -> dict | None:
    """The jsonb document of a record: the vitals given, blood pressure as "120/80"."""
    given = {k: v for k, v in (vitals or {}).items() if v is not None}
    for key, value in given.items():
        if key not in VITALS:
            raise RecordRefused("form", f"Unknown measurement {key}.")
        low, high = VITALS[key]
        if not low <= value <= high:
            raise RecordRefused(key, f"A real value lies between {low} and {high}.")
    systolic, diastolic = given.pop("systolic_mmhg", None), given.pop("diastolic_mmhg", None)
    if (systolic is None) != (diastolic is None):
        raise RecordRefused("diastolic_mmhg", "Give both blood pressure values, or neither.")
    data = {key: (int(v) if float(v).is_integer() else v) for key, v in given.items()}
    if systolic is not None:
        if diastolic >= systolic:
            raise RecordRefused("diastolic_mmhg", "Diastolic pressure is below systolic.")
        data["blood_pressure"] = f"{int(systolic)}/{int(diastolic)}"
    return data or None


def _new_record(entry: RecordInput, **fields) -> MedicalRecord:
    """A record row from the doctor's input, or RecordRefused."""
    if entry.record_type not in RECORD_TYPES:
        raise RecordRefused("record_type", "Choose a record type from the list.")
    diagnosis = _clean_text(entry.diagnosis, "diagnosis")
    prescription = _clean_text(entry.prescription, "prescription")
    data = record_data(entry.vitals)
    if diagnosis is None and prescription is None and data is None:
        raise RecordRefused(
            "form",
            "An empty record says nothing: write a diagnosis, a prescription or a measurement.",
        )
    return MedicalRecord(
        record_type=entry.record_type,
        diagnosis=diagnosis,
        prescription=prescription,
        data=data,
        created_at=utcnow(),
        **fields,
    )


def record_problem(appointment: Appointment) -> str | None:
    """Why no record can be written on this visit, or None."""
    if appointment.status == "cancelled":
        return "This visit was cancelled: there is nothing to record."
    if appointment.status == "no_show":
        return "The patient did not come to this visit: there is nothing to record."
    return None


def write_record(actor: Actor, appointment_id: int, entry: RecordInput) -> MedicalRecord:
    """A new medical record on the doctor's own visit, with its audit row, in one transaction."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        raise LookupError(appointment_id)
    require(can_write_record(actor, appointment))
    problem = record_problem(appointment)
    if problem:
        raise RecordRefused("form", problem)
    record = _new_record(
        entry,
        patient_id=appointment.patient_id,
        doctor_id=appointment.doctor_id,
        appointment_id=appointment.id,
    )
    db.session.add(record)
    db.session.flush()
    audit_record_write(actor, appointment.patient_id, [record.id])
    commit_with_audit()
    return record


def visit_records(actor: Actor, appointment: Appointment) -> list[MedicalRecord]:
    """The current (not superseded) records of the doctor's own visit, read and audited."""
    require(can_write_record(actor, appointment))
    newer = aliased(MedicalRecord, name="newer")
    query = (
        select(MedicalRecord)
        .where(
            MedicalRecord.appointment_id == appointment.id,
            ~exists().where(newer.supersedes_id == MedicalRecord.id),
        )
        .order_by(MedicalRecord.created_at, MedicalRecord.id)
    )
    records = list(db.session.scalars(query))
    if records:
        audit_record_read(actor, appointment.patient_id, [r.id for r in records])
        commit_with_audit()
    return records


def record_to_amend(actor: Actor, record_id: int) -> MedicalRecord:
    """A record its author is about to amend, read and audited."""
    record = db.session.get(MedicalRecord, record_id)
    if record is None:
        raise LookupError(record_id)
    require(can_amend_record(actor, record.doctor_id, record.patient_id))
    audit_record_read(actor, record.patient_id, [record.id])
    commit_with_audit()
    return record


def amend_record(actor: Actor, record_id: int, entry: RecordInput) -> MedicalRecord:
    """A new version of a record: a new row that supersedes it; the old row stays as it was."""
    old = db.session.scalar(
        select(MedicalRecord).where(MedicalRecord.id == record_id).with_for_update()
    )
    if old is None:
        raise LookupError(record_id)
    require(can_amend_record(actor, old.doctor_id, old.patient_id))
    if db.session.scalar(select(MedicalRecord.id).where(MedicalRecord.supersedes_id == old.id)):
        db.session.rollback()
        raise RecordRefused("form", "This record was amended already: amend its newest version.")
    new = _new_record(
        entry,
        patient_id=old.patient_id,
        doctor_id=old.doctor_id,
        appointment_id=old.appointment_id,
        supersedes_id=old.id,
    )
    db.session.add(new)
    try:
        db.session.flush()
    except IntegrityError as error:  # a concurrent amendment of the same version won
        db.session.rollback()
        raise RecordRefused(
            "form", "This record was just amended: amend its newest version."
        ) from error
    audit_record_write(actor, old.patient_id, [new.id, old.id], action=AMEND)
    commit_with_audit()
    return new
