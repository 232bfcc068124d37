"""Booking, cancelling and rescheduling: the database decides, and nothing half-happens."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, User
from portal.services.authz import NotAllowed
from portal.services.booking import (
    BookingRequest,
    CannotCancel,
    InvalidBooking,
    PatientBusy,
    SlotNotOffered,
    SlotTaken,
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
)
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient, gen_schedule

NOW = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
SLOT = datetime(2030, 6, 3, 9, 30, tzinfo=UTC)  # a Monday, on a 30-minute grid from 09:00


@pytest.fixture
def doctor(app_ctx):
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(doctor, start=time(9), end=time(12), slot=30)
    return doctor


def book(patient, doctor, starts_at=SLOT, **fields):
    return book_appointment(BookingRequest(patient.id, doctor.id, starts_at, **fields), now=NOW)


def user_of(row) -> User:
    return db.session.get(User, row.user_id)


def test_booking_a_free_slot_creates_a_scheduled_appointment(doctor):
    appointment = book(gen_patient(), doctor, kind="video", reason="  Checkup  ")
    assert appointment.status == "scheduled"
    assert appointment.ends_at - appointment.starts_at == timedelta(minutes=30)
    assert appointment.reason == "Checkup"
    assert appointment.kind == "video"


def test_second_booking_of_a_slot_gets_slot_taken(doctor):
    book(gen_patient(), doctor)
    with pytest.raises(SlotTaken):
        book(gen_patient(), doctor)
    assert db.session.query(Appointment).count() == 1


def test_fifty_concurrent_bookings_of_one_slot_exactly_one_wins(app, doctor):
    class WidePool(TestConfig):
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 50, "max_overflow": 5}

    racing_app = create_app(WidePool)
    patients = [gen_patient() for _ in range(50)]
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient_id: int):
        with racing_app.app_context():
            barrier.wait()
            try:
                book_appointment(BookingRequest(patient_id, doctor.id, SLOT), now=NOW)
                outcome = "booked"
            except SlotTaken:
                outcome = "taken"
            except Exception as error:  # anything else is a bug the test must show
                outcome = repr(error)
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(p.id,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with racing_app.app_context():
        db.engine.dispose()

    assert sorted(set(outcomes)) == ["booked", "taken"], outcomes
    assert outcomes.count("booked") == 1
    assert db.session.query(Appointment).filter_by(status="scheduled").count() == 1


@pytest.mark.parametrize(
    "starts_at",
    [
        SLOT + timedelta(minutes=10),  # off the grid
        datetime(2030, 6, 3, 13, 0, tzinfo=UTC),  # after hours
        NOW - timedelta(days=1),  # in the past
        NOW + timedelta(minutes=30),  # inside the lead time (not on a working day anyway)
    ],
)
def test_a_time_that_is_not_a_free_slot_is_refused(doctor, starts_at):
    with pytest.raises(SlotNotOffered):
        book(gen_patient(), doctor, starts_at)
    assert db.session.query(Appointment).count() == 0


def test_a_patient_cannot_hold_two_overlapping_visits(doctor):
    other = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(other, start=time(9), end=time(12), slot=30)
    patient = gen_patient()
    book(patient, doctor)
    with pytest.raises(PatientBusy):
        book(patient, other)
    assert db.session.query(Appointment).count() == 1


@pytest.mark.parametrize(("field", "value"), [("kind", "teleport"), ("reason", "x" * 1001)])
def test_invalid_booking_details_are_refused(doctor, field, value):
    with pytest.raises(InvalidBooking):
        book(gen_patient(), doctor, **{field: value})


def test_cancelling_frees_the_slot(doctor):
    patient = gen_patient()
    appointment = book(patient, doctor)
    cancel_appointment(appointment.id, user_of(patient), NOW)
    assert db.session.get(Appointment, appointment.id).status == "cancelled"
    assert book(gen_patient(), doctor).status == "scheduled"


def test_a_patient_cannot_cancel_inside_the_cutoff_but_the_doctor_can(doctor):
    patient = gen_patient()
    appointment = book(patient, doctor)
    late = SLOT - timedelta(minutes=90)
    with pytest.raises(CannotCancel):
        cancel_appointment(appointment.id, user_of(patient), late)
    cancel_appointment(appointment.id, user_of(doctor), late)
    assert db.session.get(Appointment, appointment.id).status == "cancelled"


def test_nobody_else_can_cancel(doctor):
    appointment = book(gen_patient(), doctor)
    stranger = gen_patient()
    with pytest.raises(NotAllowed):
        cancel_appointment(appointment.id, user_of(stranger), NOW)
    db.session.rollback()
    assert db.session.get(Appointment, appointment.id).status == "scheduled"


def test_a_cancelled_visit_cannot_be_cancelled_again(doctor):
    patient = gen_patient()
    appointment = book(patient, doctor)
    cancel_appointment(appointment.id, user_of(patient), NOW)
    with pytest.raises(CannotCancel):
        cancel_appointment(appointment.id, user_of(patient), NOW)


@pytest.mark.parametrize("minutes_in", [0, 10, 45])
def test_nobody_cancels_or_moves_a_visit_that_has_started(doctor, minutes_in):
    """Staff mark a visit that began completed or a no-show; cancelling it would free a slot
    already spent and tell the patient it is off."""
    patient = gen_patient()
    appointment = book(patient, doctor)
    started = SLOT + timedelta(minutes=minutes_in)
    with pytest.raises(CannotCancel, match="already started"):
        cancel_appointment(appointment.id, user_of(doctor), started)
    with pytest.raises(CannotCancel, match="already started"):
        reschedule_appointment(appointment.id, user_of(doctor), SLOT + timedelta(days=7), started)
    db.session.expire_all()
    assert db.session.get(Appointment, appointment.id).status == "scheduled"
    assert db.session.query(Appointment).count() == 1


def test_rescheduling_moves_the_visit_in_one_step(doctor):
    patient = gen_patient()
    old = book(patient, doctor, reason="Back pain")
    new = reschedule_appointment(old.id, user_of(patient), SLOT + timedelta(hours=1), NOW)
    db.session.expire_all()
    assert db.session.get(Appointment, old.id).status == "cancelled"
    assert new.status == "scheduled" and new.reason == "Back pain"
    assert new.starts_at == SLOT + timedelta(hours=1)


def test_rescheduling_to_a_taken_slot_changes_nothing(doctor):
    patient = gen_patient()
    old = book(patient, doctor)
    gen_appointment(gen_patient(), doctor, SLOT + timedelta(hours=1))
    with pytest.raises(SlotTaken):
        reschedule_appointment(old.id, user_of(patient), SLOT + timedelta(hours=1), NOW)
    db.session.expire_all()
    rows = db.session.scalars(select(Appointment).order_by(Appointment.id)).all()
    assert [(r.id, r.status) for r in rows] == [(old.id, "scheduled"), (2, "scheduled")]


def test_rescheduling_off_the_grid_changes_nothing(doctor):
    patient = gen_patient()
    old = book(patient, doctor)
    with pytest.raises(SlotNotOffered):
        reschedule_appointment(old.id, user_of(patient), SLOT + timedelta(minutes=7), NOW)
    db.session.expire_all()
    assert db.session.get(Appointment, old.id).status == "scheduled"
    assert db.session.query(Appointment).count() == 1
