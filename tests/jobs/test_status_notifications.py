"""Status notifications: written with the change, sent by a job after it commits, never otherwise."""

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, User
from portal.services.booking import (
    BookingRequest,
    SlotTaken,
    book_appointment,
    cancel_appointment,
)
from portal.services.outbox import add_status_notifications
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient, gen_schedule
from tests.jobs.data import outbox_rows, outbox_statuses

NOW = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
SLOT = datetime(2030, 6, 3, 9, 30, tzinfo=UTC)  # a Monday, on the doctor's 30-minute grid


@pytest.fixture
def doctor(app):
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(doctor, start=time(9), end=time(12), slot=30)
    return doctor


def book(app, patient, doctor, starts_at=SLOT) -> Appointment:
    with app.app_context():
        return book_appointment(BookingRequest(patient.id, doctor.id, starts_at), now=NOW)


def test_a_booking_is_confirmed_by_email_and_sms_after_it_commits(
    app, providers, doctor, rq_queue, run_worker
):
    patient = gen_patient(phone="+15551239999")
    book(app, patient, doctor)
    assert rq_queue.count == 1  # queued by the relay; nothing sent inside the request

    run_worker()

    [call] = providers.ses.bulk_calls()
    assert call["template"] == "portal-booked-v1"
    assert providers.ses.recipients() == [patient.user.email]
    assert [m["to"] for m in providers.twilio.messages] == ["+15551239999"]
    assert "is booked for Monday 03 June 2030 at 09:30" in providers.twilio.messages[0]["body"]
    assert outbox_statuses(app, "booked") == {("email", "sent"): 1, ("sms", "sent"): 1}


def test_a_booking_rolled_back_by_the_exclusion_constraint_sends_nothing(
    app, providers, doctor, rq_queue, run_worker
):
    taken = gen_appointment(gen_patient(), doctor, SLOT)
    patient = gen_patient()
    with app.app_context():
        free = Appointment(
            patient_id=patient.id,
            doctor_id=doctor.id,
            starts_at=SLOT + timedelta(hours=1),
            ends_at=SLOT + timedelta(hours=1, minutes=30),
            status="scheduled",
            kind="in_person",
        )
        db.session.add(free)
        db.session.flush()
        assert len(add_status_notifications(free, "booked")) == 2
        clash = Appointment(
            patient_id=patient.id,
            doctor_id=doctor.id,
            starts_at=taken.starts_at,
            ends_at=taken.ends_at,
            status="scheduled",
            kind="in_person",
        )
        db.session.add(clash)
        with pytest.raises(IntegrityError) as refused:
            db.session.commit()
        assert refused.value.orig.sqlstate == "23P01"
        db.session.rollback()

    run_worker()

    assert rq_queue.count == 0
    assert outbox_rows(app) == []
    assert providers.ses.bulk_calls() == []
    assert providers.twilio.messages == []


def test_only_the_winner_of_a_slot_is_told_it_is_booked(
    app, providers, doctor, rq_queue, run_worker
):
    winner, loser = gen_patient(notify_sms=False), gen_patient(notify_sms=False)
    book(app, winner, doctor)
    with pytest.raises(SlotTaken):
        book(app, loser, doctor)

    run_worker()

    assert providers.ses.recipients() == [winner.user.email]


def test_a_patient_gets_only_the_channels_they_chose(app, providers, doctor, run_worker):
    patient = gen_patient(notify_email=False, phone="+15551238888")
    book(app, patient, doctor)
    run_worker()

    assert providers.ses.bulk_calls() == []
    assert [m["to"] for m in providers.twilio.messages] == ["+15551238888"]


def test_a_cancellation_is_announced(app, providers, doctor, run_worker):
    patient = gen_patient(notify_sms=False)
    appointment = book(app, patient, doctor)
    with app.app_context():
        cancel_appointment(appointment.id, db.session.get(User, patient.user_id), now=NOW)
    run_worker()

    templates = sorted(call["template"] for call in providers.ses.bulk_calls())
    assert templates == ["portal-booked-v1", "portal-cancelled-v1"]


def test_an_unusable_address_is_recorded_as_that_sends_failure(app, providers, doctor, run_worker):
    patient = gen_patient(email="no-at-sign.example.com", phone="+15551237777")
    book(app, patient, doctor)
    run_worker()

    assert providers.ses.bulk_calls() == []
    [email] = outbox_rows(app, channel="email")
    assert (email.status, email.error) == (
        "failed",
        "no valid email address ('no-at-sign.example.com')",
    )
    assert outbox_rows(app, channel="sms")[0].status == "sent"


def test_without_redis_the_notifications_are_sent_inline_after_commit(
    app, doctor, tmp_path, monkeypatch
):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    embedded = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": TestConfig.SQLALCHEMY_DATABASE_URI,
            "REDIS_URL": None,
            "EMAIL_PROVIDER": "console",
            "SMS_PROVIDER": "console",
        }
    )
    assert embedded.extensions["rq_queue"] is None
    appointment = gen_appointment(gen_patient(phone="+15551236666"), doctor, SLOT)
    with embedded.app_context():
        appointment = db.session.get(Appointment, appointment.id)
        appointment.status = "cancelled"
        add_status_notifications(appointment, "cancelled")
        db.session.commit()  # the relay runs the job here, in an app context of its own

    rows = outbox_rows(app, kind="cancelled")
    assert [(r.channel, r.status) for r in rows] == [("email", "sent"), ("sms", "sent")]
    assert all(r.provider_message_id.startswith("console-") for r in rows)
