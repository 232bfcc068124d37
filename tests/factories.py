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
