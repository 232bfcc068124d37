"""A doctor's weekly rules and time off, as clinic admins keep them.

Every write checks what the database cannot say in a sentence (overlapping rules, a slot
length that does not divide the period, dates far out of range) and refuses it with a message
for the form, changing nothing. Every committed change then invalidates exactly the
availability it affects: a rule, every day of that doctor (the per-doctor generation); time
off, the local days it covers (or the doctor's generation for a long absence).

Writes lock the doctor's row first, so two admins adding overlapping rules at the same moment
are decided one after the other instead of both passing the overlap check.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import SLOT_LENGTHS, Appointment, Doctor, DoctorSchedule, ScheduleException
from portal.services import availability_cache
from portal.services.authz import Actor, can_administer_doctor, require
from portal.services.availability import local_dates
from portal.services.booking import CannotCancel, cancel_appointment

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_TIME_OFF = timedelta(days=366)
MAX_DAYS_INVALIDATED_ONE_BY_ONE = 31
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ScheduleInvalid(Exception):
    """A rule or time off that is refused; `field` names the input at fault (or "form")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RuleInput:
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int
    valid_from: date
    valid_to: date | None = None


def _lock_doctor(doctor_id: int) -> Doctor:
    """Lock the doctor's row (not their clinic's) until the transaction ends."""
    locked = db.session.scalar(select(Doctor.id).where(Doctor.id == doctor_id).with_for_update())
    if locked is None:
        raise LookupError(doctor_id)
    return db.session.get(Doctor, doctor_id)


def doctor_rules(doctor_id: int) -> list[DoctorSchedule]:
    """A doctor's weekly rules, by weekday and start (a doctor has a handful)."""
    query = (
        select(DoctorSchedule)
        .where(DoctorSchedule.doctor_id == doctor_id)
        .order_by(DoctorSchedule.weekday, DoctorSchedule.start_time, DoctorSchedule.valid_from)
    )
    return list(db.session.scalars(query))


def check_rule(rule: RuleInput) -> None:
    """ScheduleInvalid for the first problem of a rule taken on its own."""
    if rule.weekday not in range(7):
        raise ScheduleInvalid("weekday", "Choose a day of the week.")
    if rule.end_time <= rule.start_time:
        raise ScheduleInvalid("end_time", "The end must be after the start.")
    if rule.slot_minutes not in SLOT_LENGTHS:
        lengths = ", ".join(str(n) for n in SLOT_LENGTHS)
        raise ScheduleInvalid("slot_minutes", f"Slots last {lengths} minutes.")
    period = (
        datetime.combine(date.min, rule.end_time) - datetime.combine(date.min, rule.start_time)
    ) // timedelta(minutes=1)
    if period % rule.slot_minutes:
        raise ScheduleInvalid(
            "slot_minutes",
            f"{rule.slot_minutes}-minute slots do not fill {period} minutes evenly: "
            "change the slot length or the end time.",
        )
    for field, value in (("valid_from", rule.valid_from), ("valid_to", rule.valid_to)):
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ScheduleInvalid(field, f"Dates lie between {FIRST_YEAR} and {LAST_YEAR}.")
    if rule.valid_to is not None and rule.valid_to < rule.valid_from:
        raise ScheduleInvalid("valid_to", "The rule must end on or after the day it starts.")


def overlapping_rule(
    doctor_id: int, rule: RuleInput, ignore_id: int | None = None
) -> DoctorSchedule | None:
    """A rule of the same doctor and weekday whose hours and validity overlap this one."""
    query = select(DoctorSchedule).where(
        DoctorSchedule.doctor_id == doctor_id,
        DoctorSchedule.weekday == rule.weekday,
        DoctorSchedule.start_time < rule.end_time,
        DoctorSchedule.end_time > rule.start_time,
        or_(DoctorSchedule.valid_to.is_(None), DoctorSchedule.valid_to >= rule.valid_from),
    )
    if rule.valid_to is not None:
        query = query.where(DoctorSchedule.valid_from <= rule.valid_to)
    if ignore_id is not None:
        query = query.where(DoctorSchedule.id != ignore_id)
    return db.session.scalars(query.limit(1)).first()


def _refuse_overlap(doctor_id: int, rule: RuleInput, ignore_id: int | None = None) -> None:
    other = overlapping_rule(doctor_id, rule, ignore_id)
    if other is not None:
        until = f"until {other.valid_to.isoformat()}" if other.valid_to else "with no end date"
        db.session.rollback()
        raise ScheduleInvalid(
            "form",
            f"This overlaps the rule {WEEKDAYS[other.weekday]} "
            f"{other.start_time:%H:%M}-{other.end_time:%H:%M}, valid from "
            f"{other.valid_from.isoformat()} {until}. Change the hours or the dates.",
        )


def _apply(row: DoctorSchedule, rule: RuleInput) -> None:
    row.weekday = rule.weekday
    row.start_time = rule.start_time
    row.end_time = rule.end_time
    row.slot_minutes = rule.slot_minutes
    row.valid_from = rule.valid_from
    row.valid_to = rule.valid_to


def add_rule(actor: Actor, doctor_id: int, rule: RuleInput) -> DoctorSchedule:
    """Add a weekly rule to a doctor of the admin's clinic, refusing overlaps."""
    require(can_administer_doctor(actor, doctor_id))
    check_rule(rule)
    _lock_doctor(doctor_id)
    _refuse_overlap(doctor_id, rule)
    row = DoctorSchedule(doctor_id=doctor_id)
    _apply(row, rule)
    db.session.add(row)
    db.session.commit()
    availability_cache.invalidate_doctor(doctor_id)
    return row


def get_rule(rule_id: int) -> DoctorSchedule | None:
    """One weekly rule by id."""
    return db.session.get(DoctorSchedule, rule_id)


def update_rule(actor: Actor, rule_id: int, rule: RuleInput) -> DoctorSchedule:
    """Change a weekly rule in place; booked visits stay booked whatever the new hours."""
    row = get_rule(rule_id)
    if row is None:
        raise LookupError(rule_id)
    require(can_administer_doctor(actor, row.doctor_id))
    check_rule(rule)
    _lock_doctor(row.doctor_id)
    _refuse_overlap(row.doctor_id, rule, ignore_id=row.id)
    _apply(row, rule)
    db.session.commit()
    availability_cache.invalidate_doctor(row.doctor_id)
    return row


def delete_rule(actor: Actor, rule_id: int) -> int:
    """Remove a weekly rule; returns its doctor's id. Booked visits stay booked."""
    row = get_rule(rule_id)
    if row is None:
        raise LookupError(rule_id)
    require(can_administer_doctor(actor, row.doctor_id))
    doctor_id = row.doctor_id
    db.session.delete(row)
    db.session.commit()
    availability_cache.invalidate_doctor(doctor_id)
    return doctor_id


# --- Time off -------------------------------------------------------------------------------


def local_to_utc(value: datetime, timezone: str, field: str) -> datetime:
    """A wall-clock time typed in the clinic's zone as UTC; refused if it does not exist."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ScheduleInvalid(field, f"Dates lie between {FIRST_YEAR} and {LAST_YEAR}.")
    zone = ZoneInfo(timezone)
    aware = value.replace(tzinfo=zone, fold=0)
    as_utc = aware.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != value.replace(tzinfo=None):
        raise ScheduleInvalid(
            field, f"{value:%H:%M} does not exist that day in {timezone}: the clocks change."
        )
    return as_utc


def check_time_off(starts_at: datetime, ends_at: datetime) -> None:
    """ScheduleInvalid for time off that ends before it starts or lasts over a year."""
    if ends_at <= starts_at:
        raise ScheduleInvalid("ends_at", "The time off must end after it starts.")
    if ends_at - starts_at > MAX_TIME_OFF:
        raise ScheduleInvalid("ends_at", "Time off lasts at most a year; add another after it.")


def colliding_appointments(
    doctor_id: int, starts_at: datetime, ends_at: datetime
) -> list[Appointment]:
    """The doctor's scheduled visits that overlap a period, with their patients, by time."""
    query = (
        select(Appointment)
        .join(Appointment.patient)
        .where(
            Appointment.doctor_id == doctor_id,
            Appointment.status == "scheduled",
            Appointment.starts_at < ends_at,
            Appointment.ends_at > starts_at,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return list(db.session.scalars(query))


class CollisionsToDecide(Exception):
    """Booked visits fall inside the time off: the admin must choose to keep or cancel them."""

    def __init__(self, appointments: list[Appointment]):
        super().__init__(f"{len(appointments)} booked visits fall inside this time off")
        self.appointments = appointments


@dataclass(frozen=True)
class TimeOffResult:
    time_off: ScheduleException
    kept: list[Appointment]
    cancelled: list[Appointment]


def _invalidate_span(doctor_id: int, starts_at: datetime, ends_at: datetime, tz: str) -> None:
    """Invalidate the local days a period touches, or every day of a long one at once."""
    zone = ZoneInfo(tz)
    first = starts_at.astimezone(zone).date()
    last = (ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    if (last - first).days >= MAX_DAYS_INVALIDATED_ONE_BY_ONE:
        availability_cache.invalidate_doctor(doctor_id)
        return
    availability_cache.invalidate_days(doctor_id, local_dates(first, last))


def add_time_off(
    actor: Actor,
    doctor_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str | None,
    now: datetime,
    decision: str | None = None,
    seen_ids: frozenset[int] = frozenset(),
) -> TimeOffResult:
    """Add time off; booked visits inside it are kept or cancelled as the admin decided.

    Without a decision, or when the visits inside are not exactly the ones the admin saw
    (a booking landed meanwhile), nothing is written and CollisionsToDecide lists them. With
    "keep", the time off applies around them: their slots stay booked, the rest is blocked.
    With "cancel", the time off is committed first (so no new booking can land inside it),
    then each visit is cancelled through the booking service, which tells its patient.
    """
    require(can_administer_doctor(actor, doctor_id))
    check_time_off(starts_at, ends_at)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > 200:
        raise ScheduleInvalid("reason", "Keep the reason under 200 characters.")
    doctor = _lock_doctor(doctor_id)
    # Visits already over stay as they are; only those still to come need a decision.
    inside = [a for a in colliding_appointments(doctor_id, starts_at, ends_at) if a.ends_at > now]
    if inside and (decision not in ("keep", "cancel") or {a.id for a in inside} != set(seen_ids)):
        db.session.rollback()
        raise CollisionsToDecide(inside)
    time_off = ScheduleException(
        doctor_id=doctor_id, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    db.session.add(time_off)
    db.session.commit()
    timezone = doctor.clinic.timezone
    _invalidate_span(doctor_id, starts_at, ends_at, timezone)
    if not inside or decision == "keep":
        return TimeOffResult(time_off, kept=inside, cancelled=[])
    cancelled, kept = [], []
    for appointment in inside:
        try:
            cancelled.append(cancel_appointment(appointment.id, actor, now, notify=True))
        except CannotCancel:  # completed or cancelled meanwhile: nothing left to cancel
            kept.append(appointment)
    return TimeOffResult(time_off, kept=kept, cancelled=cancelled)


def doctor_time_off(doctor_id: int, since: datetime, limit: int = 100) -> list[ScheduleException]:
    """A doctor's time off that has not ended yet, soonest first (bounded)."""
    query = (
        select(ScheduleException)
        .where(ScheduleException.doctor_id == doctor_id, ScheduleException.ends_at > since)
        .order_by(ScheduleException.starts_at, ScheduleException.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def get_time_off(time_off_id: int) -> ScheduleException | None:
    """One period of time off by id."""
    return db.session.get(ScheduleException, time_off_id)


def remove_time_off(actor: Actor, time_off_id: int) -> int:
    """Remove a period of time off (its slots open again); returns the doctor's id."""
    row = get_time_off(time_off_id)
    if row is None:
        raise LookupError(time_off_id)
    require(can_administer_doctor(actor, row.doctor_id))
    doctor_id, starts_at, ends_at = row.doctor_id, row.starts_at, row.ends_at
    timezone = db.session.get(Doctor, doctor_id).clinic.timezone
    db.session.delete(row)
    db.session.commit()
    _invalidate_span(doctor_id, starts_at, ends_at, timezone)
    return doctor_id
