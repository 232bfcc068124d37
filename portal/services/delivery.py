"""Sending outbox rows: claim a chunk, call the provider, record what it said.

Email goes out in SES bulk calls of up to 50 destinations of one template; SMS one at a time
at SMS_RATE_PER_SECOND across all workers (a moving window in Redis), each with a validity
period that ends before the visit. Each chunk is claimed (and the claim committed) right
before its call and marked right after it, so a job killed mid-batch leaves at most one
chunk in doubt; see outbox.py for the states and docs/jobs.md for the recovery.
"""

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfoNotFoundError

from flask import current_app
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select

from portal.extensions import db
from portal.models import Appointment, Clinic, Doctor, Notification, Patient, utcnow
from portal.providers import Permanent, ProviderError, Retryable, get_provider
from portal.providers.email import Email, Outcome
from portal.providers.sms import MAX_VALIDITY_SECONDS, is_phone_number
from portal.services import messages, outbox

log = logging.getLogger(__name__)

UNKNOWN = "delivery unknown: "
SMS_CHUNK = 20  # SMS rows claimed per transaction: at most this many in doubt after a kill


@dataclass
class DeliveryReport:
    """What one delivery run did; `deferred` rows will be tried again later."""

    sent: int = 0
    failed: int = 0
    deferred: list[int] = field(default_factory=list)
    provider_calls: int = 0
    last_error: str | None = None

    def summary(self) -> str:
        return (
            f"sent={self.sent} failed={self.failed} deferred={len(self.deferred)} "
            f"calls={self.provider_calls}"
        )

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "deferred": len(self.deferred),
            "provider_calls": self.provider_calls,
        }


def deliver(ids: list[int], now=utcnow) -> DeliveryReport:
    """Send the pending rows among `ids`: emails in bulk by kind, then SMS; record each outcome."""
    report = DeliveryReport()
    rows = _load(ids)
    emails = sorted((r for r in rows if r.channel == "email"), key=lambda r: (r.kind, r.id))
    for kind, group in groupby(emails, key=lambda r: r.kind):
        group = list(group)
        size = get_provider("email").max_destinations
        for start in range(0, len(group), size):
            _send_emails(kind, group[start : start + size], report, now)
    sms = [r for r in rows if r.channel == "sms"]
    for start in range(0, len(sms), SMS_CHUNK):
        _send_sms(sms[start : start + SMS_CHUNK], report, now)
    return report


def _load(ids: list[int]) -> list:
    """The pending rows among `ids`, with what their messages say, in one query."""
    if not ids:
        return []
    return db.session.execute(
        select(
            Notification.id,
            Notification.channel,
            Notification.kind,
            Notification.recipient,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.status.label("appointment_status"),
            Appointment.kind.label("visit_kind"),
            Patient.full_name.label("patient_name"),
            Patient.phone.label("patient_phone"),
            Doctor.full_name.label("doctor_name"),
            Clinic.name.label("clinic_name"),
            Clinic.timezone,
        )
        .join(Appointment, Appointment.id == Notification.appointment_id)
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .join(Clinic, Clinic.id == Doctor.clinic_id)
        .where(Notification.id.in_(ids), Notification.status == "pending")
        .order_by(Notification.id)
    ).all()


def _problem(row) -> str | None:
    """Why this row cannot be sent at all (recorded as its failure), or None."""
    if row.kind == "reminder" and row.appointment_status != "scheduled":
        return f"skipped: the appointment is {row.appointment_status}"
    return None


def _template_data(row) -> dict:
    """Placeholders of the message; raises for a clinic with an unknown timezone."""
    return {
        "patient_name": row.patient_name,
        "doctor_name": row.doctor_name,
        "clinic_name": row.clinic_name,
        "when": messages.local_when(row.starts_at, row.timezone),
        "visit": "video visit" if row.visit_kind == "video" else "visit",
        "patient_phone": row.patient_phone or "the number on file",
    }


def _prepare(row) -> tuple[dict | None, str | None]:
    """(template data, None) for a row that can be sent, or (None, reason) for one that cannot."""
    problem = _problem(row)
    if problem:
        return None, problem
    try:
        return _template_data(row), None
    except (ZoneInfoNotFoundError, ValueError):
        return None, f"clinic timezone {row.timezone!r} is not a valid IANA zone"


# One local part, one domain with a dot, no spaces: enough to keep a malformed address out
# of a bulk call (SES would refuse the whole call). Addresses were validated in full when
# they were entered; email_validator here cost half a millisecond a row.
PLAUSIBLE_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def _valid_email(address: str | None) -> str | None:
    if not address or len(address) > 254 or not PLAUSIBLE_EMAIL.fullmatch(address):
        return None
    return address


def _send_emails(kind: str, rows: list, report: DeliveryReport, now) -> None:
    """Claim one chunk (at most one bulk call's worth), send it, record every destination."""
    attempts = outbox.claim([r.id for r in rows], now())
    wanted = messages.placeholders(kind)
    with _claimed(attempts) as chunk:
        for row in rows:
            if row.id not in attempts:
                continue  # sent or claimed by someone else meanwhile
            data, reason = _prepare(row)
            address = _valid_email(row.recipient)
            if reason is None and address is None:
                reason = f"no valid email address ({row.recipient!r})"
            if reason:
                chunk.failed.append((row.id, reason))
            else:
                used = {k: v for k, v in data.items() if k in wanted}
                chunk.ready.append((row, Email(to=address, data=used)))
        outcomes = []
        if chunk.ready:
            template = messages.email_template(kind)
            emails = [email for _, email in chunk.ready]
            chunk.calling(row.id for row, _ in chunk.ready)
            report.provider_calls += 1
            try:
                outcomes = get_provider("email").send_bulk(template, emails)
            except ProviderError as error:
                outcomes = [_outcome_of(error)] * len(emails)
                report.last_error = error.message
        for (row, _), outcome in zip(chunk.ready, outcomes, strict=True):
            if outcome.sent:
                chunk.sent.append((row.id, outcome.message_id))
            elif outcome.retryable:
                chunk.deferred.append((row.id, attempts[row.id], outcome.error))
            else:
                chunk.failed.append((row.id, outcome.error))
    _record(chunk, report, now())


class _Chunk:
    """A claimed chunk's outcomes, and the claimed rows no provider has been asked about."""

    def __init__(self, claimed):
        self.untouched = set(claimed)
        self.ready: list = []
        self.sent: list = []
        self.failed: list = []
        self.deferred: list = []

    def calling(self, ids) -> None:
        self.untouched.difference_update(ids)


@contextmanager
def _claimed(attempts: dict[int, int]):
    """If the code between claim and record fails, record what is known and hand back the rest.

    Rows no provider was asked about go back to pending at once (sending them later cannot
    send twice); rows whose call was made keep their claim and its recorded outcome.
    """
    chunk = _Chunk(attempts)
    try:
        yield chunk
    except Exception:
        db.session.rollback()
        chunk.failed = [(nid, reason) for nid, reason in chunk.failed if nid not in chunk.untouched]
        _record(chunk, DeliveryReport(), utcnow())
        outbox.release(sorted(chunk.untouched))
        raise


def _outcome_of(error: ProviderError) -> Outcome:
    """The same outcome for every destination of a call that failed as a whole."""
    if isinstance(error, Retryable):
        return Outcome(error=error.message, retryable=True)
    if isinstance(error, Permanent):
        return Outcome(error=error.message)
    return Outcome(error=UNKNOWN + error.message)


def _sms_validity(row, now: datetime) -> int:
    """Seconds Twilio may hold the message: a reminder must land well before the visit."""
    if row.kind == "reminder":
        margin = timedelta(minutes=current_app.config["SMS_EXPIRES_BEFORE_VISIT_MINUTES"])
        expires = row.starts_at - margin
    else:
        expires = row.ends_at
    return min(int((expires - now).total_seconds()), MAX_VALIDITY_SECONDS)


def _send_sms(rows: list, report: DeliveryReport, now) -> None:
    """Claim a few SMS rows, send each at the shared rate, record each outcome."""
    provider = get_provider("sms")  # before the claim: a misconfigured provider claims nothing
    attempts = outbox.claim([r.id for r in rows], now())
    with _claimed(attempts) as chunk:
        for row in rows:
            if row.id not in attempts:
                continue
            data, reason = _prepare(row)
            validity = _sms_validity(row, now())
            if reason is None and not is_phone_number(row.recipient):
                reason = f"no valid phone number ({row.recipient!r})"
            if reason is None and validity < 60:
                reason = f"too late to text: the visit starts {row.starts_at:%Y-%m-%d %H:%M} UTC"
            if reason:
                chunk.failed.append((row.id, reason))
                continue
            body = messages.sms_text(row.kind, data)
            _wait_for_sms_slot()
            chunk.calling([row.id])
            report.provider_calls += 1
            try:
                chunk.sent.append((row.id, provider.send(row.recipient, body, validity)))
            except ProviderError as error:
                report.last_error = error.message
                outcome = _outcome_of(error)
                if outcome.retryable:
                    chunk.deferred.append((row.id, attempts[row.id], outcome.error))
                else:
                    chunk.failed.append((row.id, outcome.error))
    _record(chunk, report, now())


def _record(chunk: _Chunk, report: DeliveryReport, now: datetime) -> None:
    """Write a chunk's outcomes in one transaction."""
    outbox.mark_sent(chunk.sent, now)
    outbox.mark_failed(chunk.failed, statuses=("sending",))
    again = outbox.mark_deferred(chunk.deferred, now)
    db.session.commit()
    report.sent += len(chunk.sent)
    report.failed += len(chunk.failed) + len(chunk.deferred) - len(again)
    report.deferred.extend(again)
    for nid, reason in chunk.failed:
        log.warning("notification %s failed: %s", nid, reason)


def _sms_limiter() -> tuple[MovingWindowRateLimiter, RateLimitItemPerSecond]:
    """One moving window per second shared by every worker (Redis), or per process."""
    cached = current_app.extensions.get("portal_sms_limiter")
    if cached is None:
        redis = current_app.extensions["redis"]  # Sentinel-aware (portal.redis_client)
        storage = (
            RedisStorage(
                "redis://", connection_pool=redis.connection_pool, key_prefix="portal:sms-rate"
            )
            if redis is not None
            else MemoryStorage()
        )
        item = RateLimitItemPerSecond(current_app.config["SMS_RATE_PER_SECOND"])
        cached = current_app.extensions["portal_sms_limiter"] = (
            MovingWindowRateLimiter(storage),
            item,
        )
    return cached


def _wait_for_sms_slot() -> None:
    """Block until one more SMS fits in this second's budget."""
    limiter, item = _sms_limiter()
    while not limiter.hit(item, "sms"):
        reset = limiter.get_window_stats(item, "sms").reset_time
        time.sleep(min(max(reset - time.time(), 0.005), 1.0))
