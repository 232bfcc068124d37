"""The outbox: status notifications written in the same transaction as the change they announce.

`add_status_notifications` only adds rows to the caller's session. A relay listens to the
session: after a commit it enqueues one job to send the rows that transaction added; after a
rollback it forgets them. So a booking that hits the exclusion constraint (23P01) and rolls
back sends nothing, and a committed one is sent without the request waiting on a provider.
If enqueueing fails (Redis down), the rows stay pending and the every-minute sweep sends them.
"""

import logging

from sqlalchemy import event, inspect, select

from portal.extensions import db
from portal.models import Appointment, Notification, Patient, User, idempotency_key

log = logging.getLogger(__name__)

STATUS_KINDS = ("booked", "cancelled", "rescheduled", "fallback_phone")

# session.info key: the Notification objects added in the session's current transaction.
_ADDED = "outbox_added"


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
    add_to_outbox(notifications)
    return notifications


def add_to_outbox(notifications: list[Notification]) -> None:
    """Add rows to the current session and have the relay send them once it commits."""
    db.session.add_all(notifications)
    db.session.info.setdefault(_ADDED, []).extend(notifications)


def committed_ids(notifications: list[Notification]) -> list[int]:
    """Ids of the rows that really reached the database (a rolled-back savepoint drops some)."""
    ids = []
    for row in notifications:
        state = inspect(row)
        if state.persistent and state.identity is not None:
            ids.append(state.identity[0])
    return ids


@event.listens_for(db.session, "after_commit")
def _relay_after_commit(session) -> None:
    """After a commit: enqueue one job that sends the rows this transaction added."""
    added = session.info.pop(_ADDED, None)
    if not added:
        return
    ids = committed_ids(added)
    if ids:
        relay(ids)


@event.listens_for(db.session, "after_rollback")
def _forget_after_rollback(session) -> None:
    """After a rollback: the rows never existed, so there is nothing to send."""
    session.info.pop(_ADDED, None)


def relay(ids: list[int]) -> None:
    """Enqueue the sending job; never fail the caller's (already committed) transaction.

    Without Redis the job runs inline, in an app context of its own (and so a session of its
    own: this runs inside the caller's after_commit hook, where its session cannot query).
    """
    try:
        from jobs.app import enqueue_job
        from jobs.notifications import send_notifications

        enqueue_job(send_notifications, ids, retry=True)
    except Exception:
        # The rows are committed and pending: the sweep (jobs.notifications.send_due) sends them.
        log.exception("could not enqueue notifications %s; the sweep will send them", ids)
