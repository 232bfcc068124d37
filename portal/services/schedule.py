"""Read models for the first page of each role: upcoming visits, a doctor's day, a clinic."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import Appointment, Clinic, Doctor


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants at which a local calendar day starts and ends (DST-aware)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


@dataclass(frozen=True)
class DoctorDay:
    doctor: Doctor
    day: date
    appointments: list[Appointment]


def doctor_day(doctor: Doctor, day: date) -> DoctorDay:
    """A doctor's appointments on one local day of their clinic, with patients, in one query."""
    start, end = local_day_bounds(day, doctor.clinic.timezone)
    query = (
        select(Appointment)
        .join(Appointment.patient)
        .options(contains_eager(Appointment.patient))
        .where(
            Appointment.doctor_id == doctor.id,
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return DoctorDay(doctor=doctor, day=day, appointments=list(db.session.scalars(query)))


def clinic_doctors(clinic_id: int) -> list[Doctor]:
    """The doctors of a clinic with their sign-ins, by name (a clinic has a few dozen)."""
    query = (
        select(Doctor)
        .join(Doctor.user)
        .options(contains_eager(Doctor.user))
        .where(Doctor.clinic_id == clinic_id)
        .order_by(Doctor.full_name, Doctor.id)
    )
    return list(db.session.scalars(query))


def get_clinic(clinic_id: int) -> Clinic | None:
    """One clinic by id."""
    return db.session.get(Clinic, clinic_id)


def today_in(timezone: str, now: datetime) -> date:
    """The local date in a zone at a given instant."""
    return now.astimezone(ZoneInfo(timezone)).date()
