"""Reminders through a real RQ worker, moto's SES server and the Twilio fake."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from jobs.reminders import send_reminders
from portal.models import idempotency_key, utcnow
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient
from tests.jobs.data import load_day, outbox_rows, outbox_statuses

DAY = date(2026, 12, 1)


def at(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def test_reminders_for_2000_appointments_take_at_most_40_ses_calls(
    app, providers, rq_queue, run_worker
):
    clinics = [
        gen_clinic(timezone="America/New_York"),
        gen_clinic(timezone="Europe/Berlin"),
        gen_clinic(timezone="Asia/Tokyo"),
    ]
    load_day(app, clinics, DAY, 2000)

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    calls = providers.ses.bulk_calls()
    recipients = providers.ses.recipients()
    assert len(calls) <= 40
    assert all(len(call["destinations"]) <= 50 for call in calls)
    assert len(recipients) == 2000 == len(set(recipients))
    assert outbox_statuses(app, "reminder") == {("email", "sent"): 2000}
    assert all(row.provider_message_id for row in outbox_rows(app, kind="reminder"))


def test_running_reminders_again_sends_nothing_twice(app, providers, rq_queue, run_worker):
    load_day(app, [gen_clinic()], DAY, 120)
    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()
    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    recipients = providers.ses.recipients()
    assert len(recipients) == 120 == len(set(recipients))
    assert len(providers.ses.bulk_calls()) == 3
    # The planner builds keys in SQL: they must be the keys the model defines.
    assert all(
        row.idempotency_key == idempotency_key(row.appointment_id, "reminder", "email")
        for row in outbox_rows(app)
    )


def test_each_clinic_is_reminded_of_its_own_local_day(app, providers, rq_queue, run_worker):
    inside, outside = [], []
    for zone in ("Pacific/Auckland", "America/Los_Angeles"):
        doctor = gen_doctor(gen_clinic(timezone=zone))
        for when, bucket in (
            (at(DAY, 0, 0, zone), inside),
            (at(DAY, 23, 30, zone), inside),
            (at(DAY, 0, 0, zone) - timedelta(minutes=30), outside),
            (at(DAY + timedelta(days=1), 0, 0, zone), outside),
        ):
            patient = gen_patient(notify_sms=False)
            gen_appointment(patient, doctor, when)
            bucket.append(patient.user.email)

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    assert sorted(providers.ses.recipients()) == sorted(inside)


def test_sms_reminder_expires_before_the_visit(app, providers, rq_queue, run_worker):
    starts = utcnow().replace(microsecond=0) + timedelta(hours=5)
    patient = gen_patient(notify_email=False, phone="+15551230001")
    gen_appointment(patient, gen_doctor(gen_clinic(timezone="UTC")), starts)

    rq_queue.enqueue(send_reminders, starts.date().isoformat())
    run_worker()

    [message] = providers.twilio.messages
    assert message["to"] == "+15551230001"
    assert message["messaging_service_sid"] == providers.settings["TWILIO_MESSAGING_SERVICE_SID"]
    # Five hours ahead, an hour of margin: Twilio drops it rather than deliver it late.
    assert 3 * 3600 < message["validity_period"] <= 4 * 3600
    assert outbox_statuses(app) == {("sms", "sent"): 1}


def test_bad_input_fails_that_one_send_and_the_rest_go_out(app, providers, rq_queue, run_worker):
    clinic = gen_clinic(timezone="America/Chicago")
    doctor = gen_doctor(clinic)
    broken_doctor = gen_doctor(gen_clinic(timezone="Mars/Olympus_Mons"))
    starts = at(DAY, 10, 0, "America/Chicago")
    good = gen_patient(phone="+15551230002")
    bad_email = gen_patient(email="nobody@@example", notify_sms=False)
    no_phone = gen_patient(phone=None, notify_email=False)
    bad_phone = gen_patient(phone="555-CALL-ME", notify_email=False)
    elsewhere = gen_patient(notify_sms=False)
    for n, patient in enumerate((good, bad_email, no_phone, bad_phone)):
        gen_appointment(patient, doctor, starts + timedelta(minutes=30 * n))
    gen_appointment(elsewhere, broken_doctor, datetime.combine(DAY, time(12), UTC))

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    assert providers.ses.recipients() == [good.user.email]
    assert [m["to"] for m in providers.twilio.messages] == ["+15551230002"]
    errors = {
        (row.recipient, row.channel): (row.status, row.error)
        for row in outbox_rows(app, kind="reminder")
    }
    assert errors[("nobody@@example", "email")][0] == "failed"
    assert "no valid email address" in errors[("nobody@@example", "email")][1]
    assert errors[(None, "sms")] == ("failed", "no valid phone number (None)")
    assert "no valid phone number" in errors[("555-CALL-ME", "sms")][1]
    assert errors[(elsewhere.user.email, "email")] == (
        "failed",
        "clinic timezone 'Mars/Olympus_Mons' is not a valid IANA zone",
    )
    assert errors[(good.user.email, "email")] == ("sent", None)
    assert errors[("+15551230002", "sms")] == ("sent", None)


def test_throttled_batch_is_retried_with_backoff_and_completes(
    app, providers, ses_proxy, rq_queue, run_worker
):
    providers.point_ses_at(ses_proxy.url)
    ses_proxy.throttle_next(2)
    load_day(app, [gen_clinic()], DAY, 120)

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    recipients = providers.ses.recipients()
    assert len(recipients) == 120 == len(set(recipients))
    assert ses_proxy.bulk_requests == 3 + 2  # three batches of 50, two throttled answers
    assert outbox_statuses(app) == {("email", "sent"): 120}
    assert max(row.attempts for row in outbox_rows(app)) >= 2


def test_unreadable_answer_is_recorded_and_never_sent_again(
    app, providers, ses_proxy, rq_queue, run_worker
):
    providers.point_ses_at(ses_proxy.url)
    ses_proxy.garbage_next(1)
    load_day(app, [gen_clinic()], DAY, 60)

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()
    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    recipients = providers.ses.recipients()
    assert len(recipients) == 60 == len(set(recipients))  # the garbled call did reach SES
    statuses = outbox_statuses(app)
    assert statuses == {("email", "failed"): 50, ("email", "sent"): 10}
    unknown = outbox_rows(app, status="failed")
    assert all(row.error.startswith("delivery unknown: SES answer unknown") for row in unknown)
