"""Reminders: each clinic's next-day appointments, planned into the outbox and queued in batches.

Planning is idempotent. For each clinic the day is its own (midnight to midnight in its
timezone); appointments are read in keyset batches (id > last id, REMINDER_BATCH_SIZE at a
time), each batch writes its outbox rows with INSERT ... ON CONFLICT (idempotency_key) DO
NOTHING and commits. The pending ids, carried across clinics and zones, are queued in jobs of
REMINDER_BATCH_SIZE (a multiple of 50), so every SES call but the very last carries 50
destinations. Running it again (a retried or killed job, or by hand) adds nothing twice, and
the claim in the sending job makes a second job for the same rows harmless.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import String, cast, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db
from portal.models import (
    Appointment,
    Clinic,
    Doctor,
    Notification,
    Patient,
    User,
    utcnow,
)
from portal.models.types import UTCDateTime
from portal.services.outbox import id_in

log = logging.getLogger(__name__)

KIND = "reminder"


@dataclass(frozen=True)
class Window:
    """The UTC span of one local day for the clinics that share a timezone."""

    timezone: str
    clinic_ids: tuple[int, ...]
    day: date
    starts: datetime
    ends: datetime
    broken: bool = False  # the zone name is not a valid IANA zone


@dataclass
class ReminderRun:
    appointments: int = 0
    rows_created: int = 0
    queued: int = 0
    jobs: int = 0
    failed: int = 0
    windows: list[Window] = field(default_factory=list)


def local_day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) of `day` in `zone`, in UTC (23 or 25 h on DST days)."""
    starts = datetime.combine(day, time(0), zone).astimezone(UTC)
    ends = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return starts, ends


def reminder_windows(
    day: date | None, now: datetime, local_hour: int | None = None
) -> list[Window]:
    """One window per timezone in use: `day`, or each zone's own tomorrow at `now`.

    With `local_hour`, only the zones where it is now that hour (the hourly cron sends each
    clinic's reminders at the same local time). A clinic whose zone name is broken gets a
    window over the UTC day, marked broken: its sends are recorded as failed, with the reason.
    """
    zones: dict[str, list[int]] = {}
    for clinic_id, timezone in db.session.execute(select(Clinic.id, Clinic.timezone)):
        zones.setdefault(timezone, []).append(clinic_id)
    windows = []
    for timezone, clinic_ids in sorted(zones.items()):
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            if local_hour is not None and now.hour != local_hour:
                continue
            target = day or now.date() + timedelta(days=1)
            starts, ends = local_day_window(target, ZoneInfo("UTC"))
            windows.append(Window(timezone, tuple(clinic_ids), target, starts, ends, broken=True))
            continue
        local_now = now.astimezone(zone)
        if local_hour is not None and local_now.hour != local_hour:
            continue
        target = day or local_now.date() + timedelta(days=1)
        starts, ends = local_day_window(target, zone)
        windows.append(Window(timezone, tuple(clinic_ids), target, starts, ends))
    return windows


def _batches(window: Window, size: int):
    """Keyset batches (id > the last one seen) of the ids of the window's appointments.

    The window is read through the clinics' doctors and (doctor_id, starts_at), materialized
    first: ordered by id with a LIMIT, PostgreSQL could otherwise walk the primary key of all
    25 million appointments looking for tomorrow's, which are scattered across it.
    """
    in_window = (
        select(Appointment.id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .where(
            Doctor.clinic_id.in_(window.clinic_ids),
            Appointment.starts_at >= window.starts,
            Appointment.starts_at < window.ends,
            Appointment.status == "scheduled",
        )
        .cte("in_window")
        .prefix_with("MATERIALIZED")
    )
    after = 0
    while True:
        ids = db.session.scalars(
            select(in_window.c.id)
            .where(in_window.c.id > after)
            .order_by(in_window.c.id)
            .limit(size)
        ).all()
        if not ids:
            return
        yield ids
        after = ids[-1]


def _insert_new(window: Window, ids: list[int], now: datetime) -> int:
    """One set-based INSERT ... SELECT of the batch's rows, ON CONFLICT (idempotency_key) DO
    NOTHING: a row per channel the patient wants. Returns how many were really added.

    A broken zone writes each row as a recorded failure. The key is built in SQL exactly as
    models.idempotency_key builds it (a test holds the two together).
    """
    status, error = "pending", None
    if window.broken:
        status = "failed"
        error = f"clinic timezone {window.timezone!r} is not a valid IANA zone"
    table = Notification.__table__
    columns = ["appointment_id", "channel", "kind", "idempotency_key", "recipient", "status"]
    columns += ["error", "attempts", "created_at", "next_attempt_at"]
    selects = []
    for channel, wanted, recipient in (
        ("email", Patient.notify_email, User.email),
        ("sms", Patient.notify_sms, Patient.phone),
    ):
        selects.append(
            select(
                Appointment.id,
                literal(channel),
                literal(KIND),
                cast(Appointment.id, String) + literal(f":{KIND}:{channel}"),
                recipient,
                literal(status),
                literal(error, String),
                literal(0),
                literal(now, UTCDateTime()),
                literal(now, UTCDateTime()),
            )
            .select_from(Appointment)
            .join(Doctor, Doctor.id == Appointment.doctor_id)
            .join(Patient, Patient.id == Appointment.patient_id)
            .join(User, User.id == Patient.user_id)
            .where(id_in(Appointment.id, ids), Appointment.status == "scheduled", wanted.is_(True))
        )
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    added = db.session.execute(
        insert(table)
        .from_select(columns, union_all(*selects))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id)
    ).all()
    return len(added)


def _pending(ids: list[int]) -> list[tuple[int, str]]:
    """The batch's reminder rows still to send (this run's and any earlier run's)."""
    return db.session.execute(
        select(Notification.id, Notification.channel)
        .where(
            id_in(Notification.appointment_id, ids),
            Notification.kind == KIND,
            Notification.status == "pending",
        )
        .order_by(Notification.id)
    ).all()


def plan_reminders(
    queue_batch: Callable[[list[int], str], object],
    day: date | None = None,
    now: datetime | None = None,
    local_hour: int | None = None,
) -> ReminderRun:
    """Write the outbox rows of the next day's reminders and hand their ids to `queue_batch`.

    `queue_batch(ids, channel)` gets ids of one channel, REMINDER_BATCH_SIZE of them except in
    the last call for each channel (the job enqueues a sending job with them).
    """
    now = now or utcnow()
    size = current_app.config["REMINDER_BATCH_SIZE"]
    run = ReminderRun(windows=reminder_windows(day, now, local_hour))
    waiting: dict[str, list[int]] = {"email": [], "sms": []}

    def flush(channel: str, everything: bool = False) -> None:
        ids = waiting[channel]
        while len(ids) >= size or (everything and ids):
            chunk, ids[:] = ids[:size], ids[size:]
            queue_batch(chunk, channel)
            run.jobs += 1
            run.queued += len(chunk)

    for window in run.windows:
        for ids in _batches(window, size):
            run.appointments += len(ids)
            added = _insert_new(window, ids, now)
            run.rows_created += added
            if window.broken:
                run.failed += added
                db.session.commit()
                continue
            pending = _pending(ids)
            db.session.commit()
            for nid, channel in pending:
                waiting[channel].append(nid)
            flush("email")
            flush("sms")
    flush("email", everything=True)
    flush("sms", everything=True)
    log.info(
        "reminders: %d appointments, %d new rows, %d queued in %d jobs, %d failed",
        run.appointments,
        run.rows_created,
        run.queued,
        run.jobs,
        run.failed,
    )
    return run
