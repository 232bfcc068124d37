"""The clinic's week: every doctor by seven local days, their visits and their utilization.

Utilization of a doctor on a day = booked minutes / scheduled minutes, where scheduled minutes
are the slots the weekly rules put on that day minus those inside time off (a visit kept
inside time off still counts as scheduled, since it takes place), and booked minutes are the
visits that hold a slot (scheduled, completed, no-show).

The whole week costs a fixed number of queries whatever the number of doctors: the doctors,
then their rules, time off and booked intervals (availability.load_calendars, three queries),
then the week's visits with their patients.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import Appointment, Clinic, Doctor, User
from portal.services.availability import grid_slots, load_calendars, local_dates
from portal.services.schedule import local_day_bounds


@dataclass
class DoctorDayCell:
    """One doctor on one day: the visits and the minutes behind the utilization."""

    day: date
    appointments: list[Appointment] = field(default_factory=list)
    scheduled_minutes: int = 0
    booked_minutes: int = 0

    @property
    def utilization(self) -> float | None:
        """Booked / scheduled minutes, or None on a day without scheduled hours."""
        if not self.scheduled_minutes:
            return None
        return self.booked_minutes / self.scheduled_minutes

    @property
    def percent(self) -> int | None:
        """The utilization in whole percent, halves rounded up (12.5 % shows as 13 %)."""
        if not self.scheduled_minutes:
            return None
        return (200 * self.booked_minutes + self.scheduled_minutes) // (2 * self.scheduled_minutes)


@dataclass
class DoctorWeekRow:
    doctor: Doctor
    cells: list[DoctorDayCell]


@dataclass
class ClinicWeek:
    clinic: Clinic
    monday: date
    days: list[date]
    rows: list[DoctorWeekRow]

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)


def week_start(day: date) -> date:
    """The Monday of the week a day falls in."""
    return day - timedelta(days=day.weekday())


def _minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def _overlaps(start: datetime, end: datetime, intervals: list[tuple[datetime, datetime]]) -> bool:
    return any(s < end and start < e for s, e in intervals)


def _clinic_doctors(clinic_id: int) -> list[Doctor]:
    query = (
        select(Doctor)
        .join(Doctor.user)
        .join(Doctor.clinic)
        .options(contains_eager(Doctor.user), contains_eager(Doctor.clinic))
        .where(Doctor.clinic_id == clinic_id)
        .order_by(User.active.desc(), Doctor.full_name, Doctor.id)
    )
    return list(db.session.scalars(query).unique())


def _week_appointments(doctor_ids: list[int], start: datetime, end: datetime) -> list[Appointment]:
    query = (
        select(Appointment)
        .join(Appointment.patient)
        .options(contains_eager(Appointment.patient))
        .where(
            Appointment.doctor_id.in_(doctor_ids),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return list(db.session.scalars(query))


def clinic_week(clinic: Clinic, monday: date) -> ClinicWeek:
    """The week from `monday` for every doctor of the clinic, in five queries."""
    days = local_dates(monday, monday + timedelta(days=6))
    doctors = _clinic_doctors(clinic.id)
    rows = [DoctorWeekRow(doctor, [DoctorDayCell(day) for day in days]) for doctor in doctors]
    if not doctors:
        return ClinicWeek(clinic, monday, days, rows)
    calendars = load_calendars(doctors, days[0], days[-1])
    week_from, _ = local_day_bounds(days[0], clinic.timezone)
    _, week_to = local_day_bounds(days[-1], clinic.timezone)
    by_doctor_day: dict[tuple[int, date], list[Appointment]] = {}
    for appointment in _week_appointments([d.id for d in doctors], week_from, week_to):
        day = appointment.starts_at.astimezone(clinic.zone).date()
        by_doctor_day.setdefault((appointment.doctor_id, day), []).append(appointment)
    for row in rows:
        calendar = calendars[row.doctor.id]
        for cell in row.cells:
            visits = by_doctor_day.get((row.doctor.id, cell.day), [])
            cell.appointments = visits
            holding = [(a.starts_at, a.ends_at) for a in visits if a.status != "cancelled"]
            cell.booked_minutes = sum(_minutes(s, e) for s, e in holding)
            cell.scheduled_minutes = sum(
                _minutes(slot.starts_at, slot.ends_at)
                for slot in grid_slots(calendar.rules, cell.day, calendar.timezone)
                if not _overlaps(slot.starts_at, slot.ends_at, calendar.time_off)
                or _overlaps(slot.starts_at, slot.ends_at, holding)
            )
    return ClinicWeek(clinic, monday, days, rows)
