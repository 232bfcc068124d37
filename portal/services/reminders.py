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
from sqlalchemy import select
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
    idempotency_key,
    utcnow,
)

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
    """The window's scheduled appointments with what the outbox needs, keyset by id."""
    after = 0
    while True:
        batch = db.session.execute(
            select(
                Appointment.id,
                Patient.notify_email,
                Patient.notify_sms,
                Patient.phone,
                User.email,
            )
            .join(Doctor, Doctor.id == Appointment.doctor_id)
            .join(Patient, Patient.id == Appointment.patient_id)
            .join(User, User.id == Patient.user_id)
            .where(
                Doctor.clinic_id.in_(window.clinic_ids),
                Appointment.starts_at >= window.starts,
                Appointment.starts_at < window.ends,
                Appointment.status == "scheduled",
                Appointment.id > after,
            )
            .order_by(Appointment.id)
            .limit(size)
        ).all()
        if not batch:
            return
        yield batch
        after = batch[-1].id


def _outbox_rows(batch, window: Window, now: datetime) -> list[dict]:
    """One row per channel the patient wants; a broken zone makes each a recorded failure."""
    status, error = "pending", None
    if window.broken:
        status = "failed"
        error = f"clinic timezone {window.timezone!r} is not a valid IANA zone"
    rows = []
    for a in batch:
        for channel, wanted, recipient in (
            ("email", a.notify_email, a.email),
            ("sms", a.notify_sms, a.phone),
        ):
            if wanted:
                rows.append(
                    {
                        "appointment_id": a.id,
                        "channel": channel,
                        "kind": KIND,
                        "idempotency_key": idempotency_key(a.id, KIND, channel),
                        "recipient": recipient,
                        "status": status,
                        "error": error,
                        "attempts": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                )
    return rows


def _insert_new(rows: list[dict]) -> int:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING; the number of rows really added."""
    if not rows:
        return 0
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    table = Notification.__table__
    added = db.session.execute(
        insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id)
    ).all()
    return len(added)


def _pending_ids(appointment_ids: list[int]) -> list[tuple[int, str]]:
    return db.session.execute(
        select(Notification.id, Notification.channel)
        .where(
            Notification.appointment_id.in_(appointment_ids),
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
        for batch in _batches(window, size):
            run.appointments += len(batch)
            rows = _outbox_rows(batch, window, now)
            run.rows_created += _insert_new(rows)
            if window.broken:
                run.failed += len(rows)
                db.session.commit()
                continue
            pending = _pending_ids([a.id for a in batch])
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
