"""The outbox: status notifications written in the same transaction as the change they announce.

`add_status_notifications` only adds rows to the caller's session. A relay listens to the
session: after a commit it enqueues one job to send the rows that transaction added; after a
rollback it forgets them. So a booking that hits the exclusion constraint (23P01) and rolls
back sends nothing, and a committed one is sent without the request waiting on a provider.
If enqueueing fails (Redis down), the rows stay pending and the every-minute sweep sends them.
"""

import logging
import random
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import (
    BigInteger,
    any_,
    bindparam,
    event,
    inspect,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from portal.extensions import db
from portal.metrics import NOTIFICATIONS
from portal.models import Appointment, Notification, Patient, User, idempotency_key, utcnow
from portal.models.types import UTCDateTime

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


# The state machine of a row (docs/jobs.md):
#
#   pending --claim--> sending --provider said yes--> sent
#      ^                  |----job failed before the call--> pending (release)
#      ^                  |----refused for good----> failed (reason)
#      |                  |----throttled / down----> pending, next_attempt_at = now + backoff
#      |                  |                          (failed after OUTBOX_MAX_ATTEMPTS)
#      |                  |----answer unknown------> failed ("delivery unknown: ...")
#      |                  `----claim abandoned-----> failed ("delivery unknown: ...") by the sweep
#      `------------- retry_failed (an operator's decision) ------------------'
#
# A row is only ever sent by whoever moved it from pending to sending, and nothing moves a
# row from sending back to pending: so no row is sent twice, whatever is killed when.

_table = Notification.__table__


def id_in(column, ids: list[int]):
    """`column = ANY(:ids)` on PostgreSQL (one array parameter), `column IN (...)` elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _id_in(ids: list[int]):
    return id_in(_table.c.id, ids)


def claim(ids: list[int], now: datetime) -> dict[int, int]:
    """Move these rows from pending to sending; return {id: attempts} of the ones we got.

    One UPDATE ... WHERE status = 'pending' RETURNING: two workers given the same ids get
    disjoint rows, and a row already sent or claimed is left alone. Commits, so the claim is
    on record before any provider is called.
    """
    if not ids:
        return {}
    claimed = db.session.execute(
        update(_table)
        .where(_id_in(ids), _table.c.status == "pending")
        .values(status="sending", claimed_at=now, attempts=_table.c.attempts + 1)
        .returning(_table.c.id, _table.c.attempts)
    ).all()
    db.session.commit()
    return {row.id: row.attempts for row in claimed}


_MARK_SENT_PG = text(
    "UPDATE notifications AS n SET status = 'sent', provider_message_id = v.mid, "
    "sent_at = :now, error = NULL "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:mids AS text[])) AS v(id, mid) "
    "WHERE n.id = v.id AND n.status = 'sending'"
).bindparams(bindparam("now", type_=UTCDateTime()))


def mark_sent(sent: list[tuple[int, str]], now: datetime) -> None:
    """sending -> sent, with the provider's message id (one statement for a whole chunk)."""
    NOTIFICATIONS.labels(outcome="sent").inc(len(sent))
    if sent and db.session.get_bind().dialect.name == "postgresql":
        ids, message_ids = zip(*sent, strict=True)
        db.session.execute(_MARK_SENT_PG, {"now": now, "ids": list(ids), "mids": list(message_ids)})
    elif sent:
        db.session.execute(
            update(_table)
            .where(_table.c.id == bindparam("nid"), _table.c.status == "sending")
            .values(status="sent", provider_message_id=bindparam("mid"), sent_at=now, error=None),
            [{"nid": nid, "mid": message_id} for nid, message_id in sent],
        )


def mark_failed(failed: list[tuple[int, str]], statuses=("sending", "pending")) -> None:
    """-> failed, with the reason; nothing will send these rows unless an operator retries."""
    NOTIFICATIONS.labels(outcome="failed").inc(len(failed))
    if failed:
        db.session.execute(
            update(_table)
            .where(
                _table.c.id == bindparam("nid"),
                or_(*(_table.c.status == status for status in statuses)),
            )
            .values(status="failed", error=bindparam("reason")),
            [{"nid": nid, "reason": reason[:2000]} for nid, reason in failed],
        )


def release(ids: list[int]) -> None:
    """sending -> pending, at once: for rows claimed by a job that failed before calling out."""
    if ids:
        db.session.execute(
            update(_table)
            .where(_id_in(ids), _table.c.status == "sending")
            .values(status="pending", claimed_at=None)
        )
        db.session.commit()


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with a little jitter: base, 2x base, 4x base... capped at an hour."""
    base = current_app.config["OUTBOX_BACKOFF_SECONDS"] * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(base, 3600) * random.uniform(1.0, 1.2))


def mark_deferred(deferred: list[tuple[int, int, str]], now: datetime) -> list[int]:
    """sending -> pending again, later; -> failed once attempts are used up.

    `deferred` holds (id, attempts, error). Returns the ids that will be tried again.
    """
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    again = [(nid, attempts, error) for nid, attempts, error in deferred if attempts < max_attempts]
    given_up = [
        (nid, f"gave up after {attempts} attempts: {error}")
        for nid, attempts, error in deferred
        if attempts >= max_attempts
    ]
    if again:
        db.session.execute(
            update(_table)
            .where(_table.c.id == bindparam("nid"), _table.c.status == "sending")
            .values(
                status="pending", next_attempt_at=bindparam("later"), error=bindparam("reason")
            ),
            [
                {"nid": nid, "later": now + backoff(attempts), "reason": error[:2000]}
                for nid, attempts, error in again
            ],
        )
    mark_failed(given_up)
    return [nid for nid, _, _ in again]


def recover_stale(now: datetime | None = None) -> int:
    """Settle claims older than OUTBOX_STALE_SECONDS: their job died during the send.

    Such a row was claimed and then either sent or not; neither SES nor Twilio can be asked
    which. Sending it again could send it twice, so it becomes 'failed' with the reason
    "delivery unknown", listed by `flask jobs notifications` for an operator to decide.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=current_app.config["OUTBOX_STALE_SECONDS"])
    result = db.session.execute(
        update(_table)
        .where(_table.c.status == "sending", _table.c.claimed_at < cutoff)
        .values(
            status="failed",
            error=literal("delivery unknown: the job stopped during the provider call"),
        )
    )
    db.session.commit()
    return result.rowcount or 0


def due_batches(now: datetime | None = None, batch_size: int | None = None) -> list[list[int]]:
    """Ids of pending rows whose time has come and whose own job has had its chance.

    A row is left alone until OUTBOX_STALE_SECONDS past its next_attempt_at, so the relay's
    job or the RQ retry that owns it normally gets there first; this is the safety net.
    """
    now = now or utcnow()
    batch_size = batch_size or current_app.config["REMINDER_BATCH_SIZE"]
    cutoff = now - timedelta(seconds=current_app.config["OUTBOX_STALE_SECONDS"])
    batches: list[list[int]] = []
    for channel in ("email", "sms"):
        ids = db.session.scalars(
            select(Notification.id)
            .where(
                Notification.status == "pending",
                Notification.channel == channel,
                Notification.next_attempt_at < cutoff,
            )
            .order_by(Notification.next_attempt_at)
            .limit(batch_size * 20)
        ).all()
        batches.extend(ids[i : i + batch_size] for i in range(0, len(ids), batch_size))
    return batches


def retry_failed(ids: list[int]) -> int:
    """failed -> pending, now, attempts reset: an operator's decision to send these again."""
    if not ids:
        return 0
    result = db.session.execute(
        update(_table)
        .where(_id_in(ids), _table.c.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), claimed_at=None)
    )
    return result.rowcount or 0
