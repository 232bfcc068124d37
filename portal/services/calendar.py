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
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import Appointment, Clinic, Doctor, Patient, User
from portal.services.availability import DoctorCalendar, grid_slots, load_calendars, local_dates
from portal.services.schedule import local_day_bounds


@dataclass(frozen=True)
class CalendarVisit:
    """One visit as the calendar shows it."""

    id: int
    doctor_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    patient_name: str

    @property
    def holds_slot(self) -> bool:
        return self.status != "cancelled"


@dataclass
class DoctorDayCell:
    """One doctor on one day: the visits and the minutes behind the utilization."""

    day: date
    appointments: list[CalendarVisit] = field(default_factory=list)
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


def _week_visits(doctor_ids: list[int], start: datetime, end: datetime) -> list[CalendarVisit]:
    """The week's visits as plain rows: a busy clinic has a thousand, ORM objects cost more."""
    query = (
        select(
            Appointment.id,
            Appointment.doctor_id,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.status,
            Patient.full_name,
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            Appointment.doctor_id.in_(doctor_ids),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return [CalendarVisit(*row) for row in db.session.execute(query)]


def _clocks_change(day: date, zone: ZoneInfo) -> bool:
    """True on a day whose UTC offset changes (a DST transition)."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.utcoffset() != end.utcoffset()


def _scheduled_minutes(
    calendar: DoctorCalendar,
    day: date,
    bounds: tuple[datetime, datetime],
    holding: list[tuple[datetime, datetime]],
    clocks_change: bool,
) -> int:
    """Minutes of the day's slots not inside time off (a slot whose visit was kept counts).

    On an ordinary day without time off this is arithmetic on the rules; on a DST day, with
    time off, or with overlapping rules, the slots are laid out one by one as availability does.
    """
    rules = sorted(
        (rule for rule in calendar.rules if rule.applies_on(day)), key=lambda r: r.start_time
    )
    if not rules:
        return 0
    day_off = [(s, e) for s, e in calendar.time_off if s < bounds[1] and bounds[0] < e]
    rules_overlap = any(b.start_time < a.end_time for a, b in pairwise(rules))
    if not (clocks_change or day_off or rules_overlap):
        total = 0
        for rule in rules:
            period = _minutes(
                datetime.combine(day, rule.start_time), datetime.combine(day, rule.end_time)
            )
            total += period // rule.slot_minutes * rule.slot_minutes
        return total
    return sum(
        _minutes(slot.starts_at, slot.ends_at)
        for slot in grid_slots(rules, day, calendar.timezone)
        if not _overlaps(slot.starts_at, slot.ends_at, day_off)
        or _overlaps(slot.starts_at, slot.ends_at, holding)
    )


def clinic_week(clinic: Clinic, monday: date) -> ClinicWeek:
    """The week from `monday` for every doctor of the clinic, in five queries."""
    days = local_dates(monday, monday + timedelta(days=6))
    doctors = _clinic_doctors(clinic.id)
    rows = [DoctorWeekRow(doctor, [DoctorDayCell(day) for day in days]) for doctor in doctors]
    if not doctors:
        return ClinicWeek(clinic, monday, days, rows)
    calendars = load_calendars(doctors, days[0], days[-1])
    zone = clinic.zone
    bounds = {day: local_day_bounds(day, clinic.timezone) for day in days}
    clocks_change = {day: _clocks_change(day, zone) for day in days}
    by_doctor_day: dict[tuple[int, date], list[CalendarVisit]] = {}
    visits = _week_visits([d.id for d in doctors], bounds[days[0]][0], bounds[days[-1]][1])
    for visit in visits:
        day = visit.starts_at.astimezone(zone).date()
        by_doctor_day.setdefault((visit.doctor_id, day), []).append(visit)
    for row in rows:
        calendar = calendars[row.doctor.id]
        for cell in row.cells:
            cell.appointments = by_doctor_day.get((row.doctor.id, cell.day), [])
            holding = [(v.starts_at, v.ends_at) for v in cell.appointments if v.holds_slot]
            cell.booked_minutes = sum(_minutes(s, e) for s, e in holding)
            cell.scheduled_minutes = _scheduled_minutes(
                calendar, cell.day, bounds[cell.day], holding, clocks_change[cell.day]
            )
    return ClinicWeek(clinic, monday, days, rows)
