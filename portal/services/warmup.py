"""Warm the availability cache: the next days of every active doctor, in batches."""

import time
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import Doctor, User
from portal.services.availability import day_free_slots, load_calendars, local_dates
from portal.services.availability_cache import CachedDays

BATCH_SIZE = 500


@dataclass
class WarmupReport:
    doctors: int = 0
    entries_filled: int = 0
    entries_already_warm: int = 0
    seconds: float = 0.0
    cache_available: bool = True


def _doctor_batches(batch_size: int):
    """Active doctors with their clinics, keyset over id, one query per batch."""
    last_id = 0
    while True:
        batch = list(
            db.session.scalars(
                select(Doctor)
                .join(Doctor.clinic)
                .join(User, User.id == Doctor.user_id)
                .options(contains_eager(Doctor.clinic))
                .where(User.active.is_(True), Doctor.id > last_id)
                .order_by(Doctor.id)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        yield batch
        last_id = batch[-1].id
        db.session.expunge_all()  # keep memory flat over 10,000 doctors


def warm_availability(start: date, days: int = 7, batch_size: int = BATCH_SIZE) -> WarmupReport:
    """Fill the cache for `days` local days from `start` for every active doctor."""
    began = time.monotonic()
    report = WarmupReport()
    dates = local_dates(start, start + timedelta(days=days - 1))
    for batch in _doctor_batches(batch_size):
        report.doctors += len(batch)
        cached = CachedDays([d.id for d in batch], dates)
        if not cached.available:
            report.cache_available = False
            break
        missing = cached.misses()
        report.entries_already_warm += len(cached.hits)
        if not missing:
            continue
        calendars = load_calendars(batch, dates[0], dates[-1])
        computed = {pair: day_free_slots(calendars[pair[0]], pair[1]) for pair in missing}
        cached.store(computed)
        report.entries_filled += len(computed)
    db.session.rollback()
    report.seconds = time.monotonic() - began
    return report
