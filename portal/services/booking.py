"""Booking, cancelling and rescheduling appointments.

The database decides who gets a slot: the exclusion constraint on PostgreSQL (SQLSTATE 23P01),
a partial unique index on SQLite. This code checks only what the database cannot know: that
the slot is on the doctor's grid, free of time off, not in the past, and that the patient is
not elsewhere at that time.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from portal.extensions import db
from portal.metrics import BOOKING_CONFLICTS
from portal.models import KINDS, Appointment, Doctor, Patient
from portal.services import availability_cache, outbox
from portal.services.authz import Actor, NotAllowed, can_cancel_appointment, require
from portal.services.availability import Slot, offered_slot
from portal.services.search import earliest_bookable

MAX_REASON_LENGTH = 1000


class BookingError(Exception):
    """A booking that cannot be made; `code` is stable for the API, `message` for people."""

    code = "booking_error"
    status = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SlotTaken(BookingError):
    code = "slot_taken"


class SlotNotOffered(BookingError):
    code = "slot_not_offered"


class PatientBusy(BookingError):
    code = "patient_busy"


class InvalidBooking(BookingError):
    code = "invalid"
    status = 422


class CannotCancel(BookingError):
    code = "cannot_cancel"


# A visit that has begun is recorded as it went (completed or no-show), never cancelled or moved:
# a cancellation would free a slot already spent and tell the patient their visit is off. Staff
# read this; a patient is already past the cancellation cutoff and is told that instead.
STARTED = "This visit has already started: mark it completed or as a no-show instead."


@dataclass(frozen=True)
class BookingRequest:
    patient_id: int
    doctor_id: int
    starts_at: datetime
    kind: str = "in_person"
    reason: str | None = None


def _is_slot_conflict(error: DBAPIError) -> bool:
    """True when the database refused the slot: the exclusion constraint (23P01), or the
    deadlock PostgreSQL reports when two overlapping inserts check that constraint at the
    same moment and it aborts one of them (40P01); on SQLite the partial unique index."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    text = str(error.orig)
    return (
        sqlstate in ("23P01", "40P01")
        or "ux_appointments_doctor_slot" in text
        or ("UNIQUE constraint failed: appointments.doctor_id" in text)
    )


def _load_doctor(doctor_id: int) -> Doctor:
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None or not doctor.user.active:
        raise SlotNotOffered("This doctor does not take bookings.")
    return doctor


def _lock_patient(patient_id: int) -> Patient:
    """Lock the patient's row so two bookings of one patient are decided one after the other."""
    patient = db.session.scalar(select(Patient).where(Patient.id == patient_id).with_for_update())
    if patient is None:
        raise InvalidBooking("There is no such patient.")
    return patient


def _patient_is_busy(patient_id: int, slot: Slot, ignore_id: int | None = None) -> bool:
    query = select(Appointment.id).where(
        Appointment.patient_id == patient_id,
        Appointment.status == "scheduled",
        Appointment.starts_at < slot.ends_at,
        Appointment.ends_at > slot.starts_at,
    )
    if ignore_id is not None:
        query = query.where(Appointment.id != ignore_id)
    return db.session.scalar(query.limit(1)) is not None


def _validate(request: BookingRequest) -> None:
    if request.kind not in KINDS:
        raise InvalidBooking("Choose in person or video.")
    if request.reason is not None and len(request.reason) > MAX_REASON_LENGTH:
        raise InvalidBooking(f"Keep the reason under {MAX_REASON_LENGTH} characters.")
    if request.starts_at.tzinfo is None:
        raise InvalidBooking("The start time needs a timezone.")


def _take_slot(request: BookingRequest, now: datetime, ignore_id: int | None = None) -> Appointment:
    """Insert the appointment in the current transaction; the database refuses a taken slot."""
    doctor = _load_doctor(request.doctor_id)
    slot = offered_slot(doctor, request.starts_at, earliest_bookable(now))
    if slot is None:
        raise SlotNotOffered("That time is not a free slot of this doctor.")
    _lock_patient(request.patient_id)
    if _patient_is_busy(request.patient_id, slot, ignore_id):
        raise PatientBusy("You already have a visit at that time.")
    appointment = Appointment(
        patient_id=request.patient_id,
        doctor_id=doctor.id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status="scheduled",
        kind=request.kind,
        reason=(request.reason or "").strip() or None,
    )
    db.session.add(appointment)
    db.session.flush()  # the constraint speaks here
    return appointment


def _slot_taken(error: DBAPIError) -> SlotTaken:
    BOOKING_CONFLICTS.inc()
    return SlotTaken("This slot was just taken. Please choose another one.")


def _commit_or_slot_taken() -> None:
    try:
        db.session.commit()
    except DBAPIError as error:
        db.session.rollback()
        if _is_slot_conflict(error):
            raise _slot_taken(error) from error
        raise


def book_appointment(request: BookingRequest, now: datetime) -> Appointment:
    """Book a free slot for a patient: one transaction, and the database has the last word."""
    _validate(request)
    try:
        appointment = _take_slot(request, now)
        outbox.add_status_notifications(appointment, "booked")
    except DBAPIError as error:
        db.session.rollback()
        if _is_slot_conflict(error):
            raise _slot_taken(error) from error
        raise
    except BookingError:
        db.session.rollback()
        raise
    _commit_or_slot_taken()
    availability_cache.appointment_changed(
        appointment.doctor_id, appointment.starts_at, appointment.doctor.clinic.timezone
    )
    return appointment


def cancel_appointment(
    appointment_id: int, actor: Actor, now: datetime, notify: bool = True
) -> Appointment:
    """Cancel a scheduled appointment before it starts; patients only until the cutoff."""
    appointment = db.session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if appointment is None:
        raise LookupError(appointment_id)
    require(can_cancel_appointment(actor, appointment))
    if appointment.status != "scheduled":
        db.session.rollback()
        raise CannotCancel(f"This visit is {appointment.status.replace('_', ' ')}, not scheduled.")
    cutoff = current_app.config["CANCEL_CUTOFF"]
    if actor.role == "patient" and appointment.starts_at - now < cutoff:
        db.session.rollback()
        hours = int(cutoff.total_seconds() // 3600)
        raise CannotCancel(f"Visits can be cancelled up to {hours} hours before they start.")
    if appointment.starts_at <= now:
        db.session.rollback()
        raise CannotCancel(STARTED)
    appointment.status = "cancelled"
    if notify:
        outbox.add_status_notifications(appointment, "cancelled")
    db.session.commit()
    availability_cache.appointment_changed(
        appointment.doctor_id, appointment.starts_at, appointment.doctor.clinic.timezone
    )
    return appointment


def reschedule_appointment(
    appointment_id: int, actor: Actor, new_starts_at: datetime, now: datetime
) -> Appointment:
    """Move a visit to another slot of the same doctor, atomically: both changes or neither."""
    old = db.session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if old is None:
        raise LookupError(appointment_id)
    require(can_cancel_appointment(actor, old))
    if old.status != "scheduled" or (
        actor.role == "patient" and old.starts_at - now < current_app.config["CANCEL_CUTOFF"]
    ):
        db.session.rollback()
        raise CannotCancel("This visit can no longer be moved.")
    if old.starts_at <= now:
        db.session.rollback()
        raise CannotCancel(STARTED)
    request = BookingRequest(old.patient_id, old.doctor_id, new_starts_at, old.kind, old.reason)
    old.status = "cancelled"
    try:
        db.session.flush()  # release the old slot inside this transaction
        new = _take_slot(request, now, ignore_id=old.id)
        outbox.add_status_notifications(new, "rescheduled")
    except DBAPIError as error:
        db.session.rollback()
        if _is_slot_conflict(error):
            raise _slot_taken(error) from error
        raise
    except BookingError:
        db.session.rollback()
        raise
    _commit_or_slot_taken()
    timezone = new.doctor.clinic.timezone
    availability_cache.appointment_changed(old.doctor_id, old.starts_at, timezone)
    availability_cache.appointment_changed(new.doctor_id, new.starts_at, timezone)
    return new


__all__ = [
    "BookingError",
    "BookingRequest",
    "CannotCancel",
    "InvalidBooking",
    "NotAllowed",
    "PatientBusy",
    "SlotNotOffered",
    "SlotTaken",
    "book_appointment",
    "cancel_appointment",
    "reschedule_appointment",
]
