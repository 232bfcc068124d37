"""Operations on the outbox for a clinic: what is queued, failed and sent, and retrying failures.

Used by `flask jobs notifications`. A clinic's rows are found through their appointment's
doctor; lists are newest first, keyset over id, bounded.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Appointment, Doctor, Notification, Patient
from portal.services import outbox

# What an operator sees, and the outbox statuses behind each.
VIEWS = {"queued": ("pending", "sending"), "failed": ("failed",), "sent": ("sent",)}
UNKNOWN_PREFIX = "delivery unknown"
MAX_LIMIT = 500


@dataclass(frozen=True)
class NotificationLine:
    id: int
    appointment_id: int
    starts_at: datetime
    patient: str
    kind: str
    channel: str
    recipient: str | None
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def _of_clinic(clinic_id: int):
    return (
        select(Notification.id)
        .join(Appointment, Appointment.id == Notification.appointment_id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .where(Doctor.clinic_id == clinic_id)
    )


def clinic_counts(clinic_id: int) -> dict[str, int]:
    """How many of the clinic's notifications are queued, failed and sent."""
    counts = dict.fromkeys(VIEWS, 0)
    rows = db.session.execute(
        select(Notification.status, func.count())
        .join(Appointment, Appointment.id == Notification.appointment_id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .where(Doctor.clinic_id == clinic_id)
        .group_by(Notification.status)
    )
    for status, count in rows:
        for view, statuses in VIEWS.items():
            if status in statuses:
                counts[view] += count
    return counts


def clinic_notifications(
    clinic_id: int, view: str, limit: int = 50, before_id: int | None = None
) -> list[NotificationLine]:
    """A page of the clinic's notifications in one view, newest first (keyset: before_id)."""
    query = (
        select(
            Notification.id,
            Notification.appointment_id,
            Appointment.starts_at,
            Patient.full_name.label("patient"),
            Notification.kind,
            Notification.channel,
            Notification.recipient,
            Notification.status,
            Notification.attempts,
            Notification.error,
            Notification.created_at,
            Notification.sent_at,
        )
        .join(Appointment, Appointment.id == Notification.appointment_id)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(Doctor.clinic_id == clinic_id, Notification.status.in_(VIEWS[view]))
        .order_by(Notification.id.desc())
        .limit(max(1, min(limit, MAX_LIMIT)))
    )
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return [NotificationLine(**row._mapping) for row in db.session.execute(query)]


def retry_failed_for_clinic(clinic_id: int, include_unknown: bool = False) -> list[int]:
    """Put the clinic's failed rows back to pending and commit; returns their ids.

    Rows whose delivery is unknown (the job died during the call, or the provider's answer
    was unreadable) may already have reached the patient: they are retried only when asked.
    """
    query = _of_clinic(clinic_id).where(Notification.status == "failed")
    if not include_unknown:
        query = query.where(
            Notification.error.is_(None) | ~Notification.error.startswith(UNKNOWN_PREFIX)
        )
    ids = list(db.session.scalars(query.order_by(Notification.id)))
    outbox.retry_failed(ids)
    db.session.commit()
    return ids
