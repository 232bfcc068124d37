"""The database itself refuses double bookings and edits of the audit trail, and speaks UTC."""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal.extensions import db
from portal.models import Appointment, AuditLog
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient

START = datetime(2030, 3, 4, 14, 0, tzinfo=UTC)


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_two_concurrent_overlapping_bookings_exactly_one_commits(app_ctx, database_url):
    doctor = gen_doctor()
    first, second = gen_patient(), gen_patient()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book(patient_id: int, minutes: int):
        with psycopg.connect(_dsn(database_url)) as conn:
            barrier.wait()
            try:
                conn.execute(
                    "INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status,"
                    " kind, created_at, updated_at) VALUES (%s, %s, %s, %s, 'scheduled',"
                    " 'in_person', now(), now())",
                    (patient_id, doctor.id, START, START + timedelta(minutes=minutes)),
                )
                conn.commit()
                outcomes.append("committed")
            except (psycopg.errors.ExclusionViolation, psycopg.errors.DeadlockDetected) as exc:
                # Two overlapping inserts checking the constraint at the same instant may
                # deadlock; PostgreSQL then aborts one of them (40P01). Either way one loses.
                outcomes.append(exc.sqlstate)

    # Different slot lengths that overlap: the constraint is on ranges, not start times.
    threads = [
        threading.Thread(target=book, args=(first.id, 30)),
        threading.Thread(target=book, args=(second.id, 45)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 2 and outcomes.count("committed") == 1
    assert {o for o in outcomes if o != "committed"} <= {"23P01", "40P01"}


def test_a_cancelled_appointment_does_not_block_its_slot(app_ctx):
    doctor = gen_doctor()
    gen_appointment(gen_patient(), doctor, START, status="cancelled")
    rebooked = gen_appointment(gen_patient(), doctor, START)
    assert rebooked.id is not None


def test_back_to_back_appointments_do_not_overlap(app_ctx):
    doctor = gen_doctor()
    patient = gen_patient()
    gen_appointment(patient, doctor, START, minutes=30)
    gen_appointment(gen_patient(), doctor, START + timedelta(minutes=30))


def test_overlapping_active_appointment_is_refused(app_ctx):
    doctor = gen_doctor()
    gen_appointment(gen_patient(), doctor, START, minutes=30)
    with pytest.raises(Exception, match="ex_appointments_doctor_no_overlap"):
        gen_appointment(gen_patient(), doctor, START + timedelta(minutes=15))
    db.session.rollback()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]
)
def test_the_audit_log_refuses_update_and_delete(app_ctx, statement):
    db.session.add(AuditLog(actor_role="doctor", action="records.read"))
    db.session.commit()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(text(statement))
        db.session.commit()
    db.session.rollback()
    assert db.session.query(AuditLog).one().action == "records.read"


def test_sessions_are_in_utc_and_timestamps_come_back_in_utc(app_ctx):
    """The engine sets TimeZone=UTC on every connection, whatever the server's default (here
    Etc/UTC, elsewhere perhaps a local zone), so timestamps arrive with datetime.UTC itself and
    UTCDateTime passes them through; an instant written in another zone reads back the same."""
    assert db.session.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
    patient, doctor = gen_patient(), gen_doctor(gen_clinic())
    berlin = datetime(2030, 6, 3, 11, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    visit = gen_appointment(patient, doctor, berlin)
    db.session.expire_all()
    starts_at = db.session.get(Appointment, visit.id).starts_at
    assert starts_at.tzinfo is UTC and starts_at == berlin
    assert starts_at.isoformat() == "2030-06-03T09:30:00+00:00"
