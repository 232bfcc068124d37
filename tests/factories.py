"""gen_* factories: the smallest valid rows, committed, with overrides for what a test cares about."""

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from itertools import count

from flask import Flask, has_app_context

from portal.config import TestConfig
from portal.extensions import db
from portal.models import (
    Appointment,
    Clinic,
    Doctor,
    DoctorSchedule,
    MedicalRecord,
    Patient,
    ScheduleException,
    User,
)
from portal.services.passwords import hash_password

_serial = count(1)
_app: Flask | None = None


def bind(app: Flask) -> None:
    """The app whose database the factories write to."""
    global _app
    _app = app


@contextmanager
def _context():
    """Use the current app context, or a short one of our own.

    Tests that drive the test client must not hold an app context open: requests would share
    its `g`, and with it Flask-Login's cached user.
    """
    if has_app_context():
        yield
    else:
        with _app.app_context():
            yield


def _save(*rows):
    with _context():
        db.session.add_all(rows)
        db.session.commit()
    return rows[0] if len(rows) == 1 else rows


@cache
def password_hash() -> str:
    """One argon2id hash of the demo password, computed once for the whole run."""
    return hash_password(TestConfig.DEMO_PASSWORD)


def gen_clinic(**fields) -> Clinic:
    n = next(_serial)
    clinic = Clinic(
        **{"name": f"Clinic {n}", "city": "New York", "timezone": "America/New_York", **fields}
    )
    return _save(clinic)


def gen_user(role: str, **fields) -> User:
    n = next(_serial)
    user = User(
        **{
            "email": f"{role}{n}@example.com",
            "password_hash": password_hash(),
            "role": role,
            **fields,
        }
    )
    return _save(user)


def gen_patient(email: str | None = None, **fields) -> Patient:
    user = gen_user("patient", **({"email": email} if email else {}))
    patient = Patient(
        user=user, **{"full_name": f"Patient {user.id}", "phone": "+15550000000", **fields}
    )
    return _save(patient)


def gen_doctor(clinic: Clinic | None = None, email: str | None = None, **fields) -> Doctor:
    clinic = clinic or gen_clinic()
    user = gen_user("doctor", **({"email": email} if email else {}))
    doctor = Doctor(
        user=user,
        clinic=clinic,
        **{
            "full_name": f"Dr. Doctor {user.id}",
            "specialization": "Cardiology",
            "consultation_fee": Decimal("90.00"),
            **fields,
        },
    )
    return _save(doctor)


def gen_admin(clinic: Clinic, email: str | None = None) -> User:
    return gen_user("clinic_admin", clinic=clinic, **({"email": email} if email else {}))


def gen_schedule(doctor: Doctor, weekdays=range(7), start=time(9), end=time(17), slot=30, **fields):
    rules = [
        DoctorSchedule(
            doctor_id=doctor.id,
            weekday=weekday,
            start_time=start,
            end_time=end,
            slot_minutes=slot,
            valid_from=fields.get("valid_from", date(2020, 1, 1)),
            valid_to=fields.get("valid_to"),
        )
        for weekday in weekdays
    ]
    _save(*rules)
    return rules


def gen_time_off(doctor: Doctor, starts_at: datetime, ends_at: datetime) -> ScheduleException:
    off = ScheduleException(doctor_id=doctor.id, starts_at=starts_at, ends_at=ends_at)
    return _save(off)


def gen_appointment(patient: Patient, doctor: Doctor, starts_at: datetime, minutes=30, **fields):
    appointment = Appointment(
        patient_id=patient.id,
        doctor_id=doctor.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        **{"status": "scheduled", "kind": "in_person", "reason": "Check-up", **fields},
    )
    return _save(appointment)


def gen_record(appointment: Appointment, **fields) -> MedicalRecord:
    record = MedicalRecord(
        patient_id=appointment.patient_id,
        doctor_id=appointment.doctor_id,
        appointment_id=appointment.id,
        **{
            "record_type": "consultation",
            "diagnosis": "Healthy.",
            "prescription": "None",
            "data": {"pulse": 70},
            "created_at": appointment.ends_at,
            **fields,
        },
    )
    return _save(record)


# Set-based factories for tests that need thousands of rows (query plans at a realistic shape):
# one INSERT ... SELECT generate_series each, no ORM objects.


def _bulk(sql: str, **params) -> list[int]:
    from sqlalchemy import text

    with _context():
        ids = list(db.session.execute(text(sql), params).scalars())
        db.session.commit()
    return ids


def gen_bulk_patients(count: int) -> list[int]:
    """`count` patients with their sign-ins; their patient ids."""
    return _bulk(
        """
        WITH new_users AS (
            INSERT INTO users (email, password_hash, role, active, created_at, password_changed_at)
            SELECT 'bulk-patient-' || :tag || '-' || n || '@example.com', :hash, 'patient', true,
                   now(), now()
            FROM generate_series(1, :count) AS n
            RETURNING id)
        INSERT INTO patients (user_id, full_name, phone, notify_email, notify_sms)
        SELECT id, 'Bulk Patient ' || id, '+15550000000', true, true FROM new_users
        RETURNING id
        """,
        tag=next(_serial),
        hash=password_hash(),
        count=count,
    )


def gen_bulk_doctors(clinic: Clinic, count: int) -> list[int]:
    """`count` doctors of one clinic with their sign-ins; their doctor ids."""
    return _bulk(
        """
        WITH new_users AS (
            INSERT INTO users (email, password_hash, role, active, created_at, password_changed_at)
            SELECT 'bulk-doctor-' || :tag || '-' || n || '@example.com', :hash, 'doctor', true,
                   now(), now()
            FROM generate_series(1, :count) AS n
            RETURNING id)
        INSERT INTO doctors (user_id, clinic_id, full_name, specialization, consultation_fee)
        SELECT id, :clinic_id, 'Dr. Bulk ' || id, 'Cardiology', 90 FROM new_users
        RETURNING id
        """,
        tag=next(_serial),
        hash=password_hash(),
        count=count,
        clinic_id=clinic.id,
    )


def gen_bulk_appointments(
    patient_ids: list[int], doctor_ids: list[int], count: int, latest: datetime, step_minutes=47
) -> list[int]:
    """`count` 30-minute appointments going back from `latest` every `step_minutes`, patients
    and doctors taken in turn, statuses in turn (no doctor's visits overlap if step >= 30)."""
    return _bulk(
        """
        INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status, kind, reason,
                                  created_at, updated_at)
        SELECT (CAST(:patients AS bigint[]))[1 + mod(n, :patient_count)],
               (CAST(:doctors AS bigint[]))[1 + mod(n, :doctor_count)],
               CAST(:latest AS timestamptz) - n * make_interval(mins => :step),
               CAST(:latest AS timestamptz) - n * make_interval(mins => :step)
                   + interval '30 minutes',
               (ARRAY['completed', 'completed', 'cancelled', 'no_show'])[1 + mod(n, 4)],
               'in_person', 'Bulk visit ' || n, now(), now()
        FROM generate_series(0, :count - 1) AS n
        RETURNING id
        """,
        patients=patient_ids,
        patient_count=len(patient_ids),
        doctors=doctor_ids,
        doctor_count=len(doctor_ids),
        latest=latest,
        step=step_minutes,
        count=count,
    )


def gen_bulk_records(
    patient_ids: list[int], doctor_ids: list[int], count: int, latest: datetime, step_minutes=53
) -> list[int]:
    """`count` medical records going back from `latest`, patients, doctors and types in turn,
    each with about 700 bytes of text and a small jsonb document."""
    return _bulk(
        """
        INSERT INTO medical_records (patient_id, doctor_id, created_at, record_type, diagnosis,
                                     prescription, data)
        SELECT (CAST(:patients AS bigint[]))[1 + mod(n, :patient_count)],
               (CAST(:doctors AS bigint[]))[1 + mod(n, :doctor_count)],
               CAST(:latest AS timestamptz) - n * make_interval(mins => :step),
               (ARRAY['consultation', 'diagnosis', 'prescription', 'lab_result', 'imaging',
                      'referral'])[1 + mod(n, 6)],
               'Bulk diagnosis ' || n || ' ' || repeat('x', 700), 'Bulk prescription ' || n,
               jsonb_build_object('n', n, 'pulse', 60 + mod(n, 40))
        FROM generate_series(0, :count - 1) AS n
        RETURNING id
        """,
        patients=patient_ids,
        patient_count=len(patient_ids),
        doctors=doctor_ids,
        doctor_count=len(doctor_ids),
        latest=latest,
        step=step_minutes,
        count=count,
    )
