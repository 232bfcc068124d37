"""Free slots: weekly rules in the clinic's local time, minus time off, minus active appointments.

Slots are computed for many doctors at once from three set-based reads (rules, time off,
appointments in the window), so a search page costs the same number of queries for 5 doctors
as for 500. Local wall-clock times are turned into UTC with zoneinfo: a time that does not
exist on a spring-forward day is skipped, and a repeated time on a fall-back day yields one slot
(its first occurrence), so DST days have no phantom and no duplicate slots.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Date, bindparam, or_, select

from portal.models import Appointment, Doctor, DoctorSchedule, ScheduleException
from portal.models.types import UTCDateTime
from portal.replica import select_rows
from portal.services.availability_cache import CachedDays
from portal.services.directory import DoctorCard
from portal.services.slots import Rule, Slot


@dataclass
class DoctorCalendar:
    """What one doctor's availability is computed from, for one window (intervals in UTC)."""

    timezone: str
    rules: list[Rule] = field(default_factory=list)
    time_off: list[tuple[datetime, datetime]] = field(default_factory=list)
    booked: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def busy(self) -> list[tuple[datetime, datetime]]:
        return self.time_off + self.booked

    # Read once the calendar is loaded, by each of its days:

    @cached_property
    def rules_by_weekday(self) -> dict[int, list[Rule]]:
        by_weekday: dict[int, list[Rule]] = {}
        for rule in self.rules:
            by_weekday.setdefault(rule.weekday, []).append(rule)
        return by_weekday

    @cached_property
    def merged_busy(self) -> tuple[list[tuple[datetime, datetime]], list[datetime]]:
        """The busy intervals merged (disjoint, in order), and their ends (in order too)."""
        merged = _merged(self.busy)
        return merged, [end for _, end in merged]


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time, or None if it does not exist that day."""
    naive = datetime.combine(day, wall)
    aware = naive.replace(tzinfo=zone, fold=0)
    as_utc = aware.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != naive:
        return None  # skipped by a spring-forward transition
    return as_utc


def grid_slots(rules: Iterable[Rule], day: date, timezone: str) -> tuple[Slot, ...]:
    """Every slot the weekly rules put on a local day, before time off and bookings.

    A pure function of the rules that apply that day, the day and the zone, and doctors share
    their templates (nine to five in quarter hours...): each distinct grid is made once per
    process and kept, immutable.
    """
    return _grid(tuple(rule for rule in rules if rule.applies_on(day)), day, timezone)


@lru_cache(maxsize=2048)
def _grid(rules: tuple[Rule, ...], day: date, timezone: str) -> tuple[Slot, ...]:
    zone = ZoneInfo(timezone)
    # On a day without a clock change (all but two a year) local time is UTC plus one fixed
    # offset, so slots are plain arithmetic; only a change day converts slot by slot.
    offset = datetime.combine(day, time.min, tzinfo=zone).utcoffset()
    next_offset = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).utcoffset()
    fixed = offset == next_offset
    slots: list[Slot] = []
    for rule in rules:
        step = timedelta(minutes=rule.slot_minutes)
        wall = datetime.combine(day, rule.start_time)
        last = datetime.combine(day, rule.end_time) - step
        if fixed:
            starts = (wall - offset).replace(tzinfo=UTC)
            for _ in range((last - wall) // step + 1 if wall <= last else 0):
                ends = starts + step
                slots.append(Slot(starts, ends))
                starts = ends
            continue
        while wall <= last:
            starts = local_instant(day, wall.time(), zone)
            if starts is not None:
                slots.append(Slot(starts, starts + step))
            wall += step
    # One rule's slots come in order; overlapping rules may repeat a slot.
    return tuple(slots) if len(rules) == 1 and fixed else tuple(sorted(set(slots)))


def _overlaps(slot: Slot, busy: list[tuple[datetime, datetime]]) -> bool:
    return any(start < slot.ends_at and slot.starts_at < end for start, end in busy)


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, overlapping or touching intervals joined: disjoint and in order."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def local_dates(date_from: date, date_to: date) -> list[date]:
    """The calendar dates from date_from to date_to inclusive."""
    return [date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)]


def day_free_slots(calendar: DoctorCalendar, day: date) -> list[Slot]:
    """One doctor's free slots on one local day: the grid minus time off and bookings.

    One sweep over the day's slots and its busy intervals (merged, in order), not every slot
    against every interval: a full day has dozens of each.
    """
    grid = grid_slots(calendar.rules_by_weekday.get(day.weekday(), ()), day, calendar.timezone)
    if not grid:
        return []
    busy, ends = calendar.merged_busy
    index, count = bisect_right(ends, grid[0].starts_at), len(busy)  # the first still open
    if index == count or grid[-1].ends_at <= busy[index][0]:
        return list(grid)
    free = []
    for slot in grid:  # ordered by start, so the first busy interval still open only moves on
        while index < count and busy[index][1] <= slot.starts_at:
            index += 1
        if index == count or slot.ends_at <= busy[index][0]:
            free.append(slot)
    return free


def window_bounds(
    date_from: date, date_to: date, timezones: Iterable[str]
) -> tuple[datetime, datetime]:
    """A UTC window wide enough to hold the local days date_from..date_to in every zone."""
    starts, ends = [], []
    for tz in set(timezones) or {"UTC"}:
        zone = ZoneInfo(tz)
        starts.append(datetime.combine(date_from, time.min, tzinfo=zone).astimezone(UTC))
        ends.append(
            datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
        )
    return min(starts), max(ends)


# The three reads of load_calendars, built once (history._history_statement says why); the
# doctors and weekdays are expanding parameters.
_RULES = select(
    DoctorSchedule.doctor_id,
    DoctorSchedule.weekday,
    DoctorSchedule.start_time,
    DoctorSchedule.end_time,
    DoctorSchedule.slot_minutes,
    DoctorSchedule.valid_from,
    DoctorSchedule.valid_to,
).where(
    DoctorSchedule.doctor_id.in_(bindparam("doctor_ids", expanding=True)),
    DoctorSchedule.weekday.in_(bindparam("weekdays", expanding=True)),
    DoctorSchedule.valid_from <= bindparam("date_to", type_=Date()),
    or_(
        DoctorSchedule.valid_to.is_(None),
        DoctorSchedule.valid_to >= bindparam("date_from", type_=Date()),
    ),
)
_TIME_OFF = select(
    ScheduleException.doctor_id, ScheduleException.starts_at, ScheduleException.ends_at
).where(
    ScheduleException.doctor_id.in_(bindparam("doctor_ids", expanding=True)),
    ScheduleException.starts_at < bindparam("window_end", type_=UTCDateTime()),
    ScheduleException.ends_at > bindparam("window_start", type_=UTCDateTime()),
)
_BOOKED = select(Appointment.doctor_id, Appointment.starts_at, Appointment.ends_at).where(
    Appointment.doctor_id.in_(bindparam("doctor_ids", expanding=True)),
    Appointment.starts_at < bindparam("window_end", type_=UTCDateTime()),
    # No visit is longer than a day: the index range on starts_at stays short.
    Appointment.starts_at >= bindparam("day_before_window", type_=UTCDateTime()),
    Appointment.ends_at > bindparam("window_start", type_=UTCDateTime()),
    Appointment.status != "cancelled",
)


def load_calendars(
    doctors: list[Doctor | DoctorCard], date_from: date, date_to: date
) -> dict[int, DoctorCalendar]:
    """Rules, time off and active appointments of these doctors for the window: three queries."""
    if not doctors:
        return {}
    window_start, window_end = window_bounds(
        date_from, date_to, (d.clinic.timezone for d in doctors)
    )
    calendars = {doctor.id: DoctorCalendar(doctor.clinic.timezone) for doctor in doctors}
    params = {
        "doctor_ids": list(calendars),
        "weekdays": sorted({day.weekday() for day in local_dates(date_from, date_to)}),
        "date_from": date_from,
        "date_to": date_to,
        "window_start": window_start,
        "window_end": window_end,
        "day_before_window": window_start - timedelta(hours=24),
    }
    for doctor_id, *fields in select_rows(_RULES, params).all():
        calendars[doctor_id].rules.append(Rule(*fields))
    for doctor_id, starts_at, ends_at in select_rows(_TIME_OFF, params).all():
        calendars[doctor_id].time_off.append((starts_at, ends_at))
    for doctor_id, starts_at, ends_at in select_rows(_BOOKED, params).all():
        calendars[doctor_id].booked.append((starts_at, ends_at))
    return calendars


def free_slots(
    doctors: list[Doctor | DoctorCard],
    date_from: date,
    date_to: date,
    not_before: datetime,
    use_cache: bool = True,
) -> dict[int, dict[date, list[Slot]]]:
    """Free slots per doctor and local day, from the cache where it has them.

    The (doctor, day) pairs the cache lacks are computed from three set-based reads for all
    of them together, so the number of queries does not grow with the number of doctors.
    """
    days = local_dates(date_from, date_to)
    cached = cached_days(doctors, date_from, date_to) if use_cache else None
    if cached is not None and cached.available:
        missing = cached.misses()
    else:
        missing = [(doctor.id, day) for doctor in doctors for day in days]
    computed: dict[tuple[int, date], list[Slot]] = {}
    if missing:
        wanted = {doctor_id for doctor_id, _ in missing}
        missing_days = sorted({day for _, day in missing})
        calendars = load_calendars(
            [d for d in doctors if d.id in wanted], missing_days[0], missing_days[-1]
        )
        for doctor_id, day in missing:
            computed[(doctor_id, day)] = day_free_slots(calendars[doctor_id], day)
        if cached is not None:
            cached.store(computed)
    result: dict[int, dict[date, list[Slot]]] = {doctor.id: {} for doctor in doctors}
    hits = cached.hits if cached is not None else {}
    for (doctor_id, day), slots in (hits | computed).items():
        free = [slot for slot in slots if slot.starts_at >= not_before]
        if free:
            result[doctor_id][day] = free
    for doctor_id in result:
        result[doctor_id] = dict(sorted(result[doctor_id].items()))
    return result


def cached_days(
    doctors: list[Doctor | DoctorCard], date_from: date, date_to: date
) -> CachedDays | None:
    """The cache's versioned keys for these doctors and days (entries not read yet); None when
    the availability cache is switched off."""
    if not current_app.config["AVAILABILITY_CACHE_ENABLED"]:
        return None
    return CachedDays([d.id for d in doctors], local_dates(date_from, date_to))


def offered_slot(doctor: Doctor, starts_at: datetime, not_before: datetime) -> Slot | None:
    """The slot of this doctor's grid that starts exactly at starts_at, or None.

    Refuses times off the grid, in the past, inside the lead time or in time off. A slot taken
    by another booking is left for the database's exclusion constraint to refuse.
    """
    day = starts_at.astimezone(ZoneInfo(doctor.clinic.timezone)).date()
    calendar = load_calendars([doctor], day, day)[doctor.id]
    for slot in grid_slots(calendar.rules, day, calendar.timezone):
        if slot.starts_at == starts_at:
            if slot.starts_at < not_before or _overlaps(slot, calendar.time_off):
                return None
            return slot
    return None
