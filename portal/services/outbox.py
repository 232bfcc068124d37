"""The outbox: status notifications written in the same transaction as the change they announce."""

from sqlalchemy import select

from portal.extensions import db
from portal.models import Appointment, Notification, Patient, User, idempotency_key

STATUS_KINDS = ("booked", "cancelled", "rescheduled", "fallback_phone")


def add_status_notifications(appointment: Appointment, kind: str) -> list[Notification]:
    """Add one pending outbox row per channel the patient wants; the caller's commit decides.

    Nothing is committed here: the rows commit or roll back with the booking, cancellation or
    reschedule that made them, so a rolled-back booking never sends anything.
    """
    if kind not in STATUS_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    row = db.session.execute(
        select(Patient.notify_email, Patient.notify_sms, Patient.phone, User.email)
        .join(User, User.id == Patient.user_id)
        .where(Patient.id == appointment.patient_id)
    ).one()
    wanted = []
    if row.notify_email and row.email:
        wanted.append(("email", row.email))
    if row.notify_sms and row.phone:
        wanted.append(("sms", row.phone))
    notifications = [
        Notification(
            appointment_id=appointment.id,
            channel=channel,
            kind=kind,
            idempotency_key=idempotency_key(appointment.id, kind, channel),
            recipient=recipient,
            status="pending",
            attempts=0,
        )
        for channel, recipient in wanted
    ]
    db.session.add_all(notifications)
    return notifications
