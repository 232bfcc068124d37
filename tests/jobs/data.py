"""Data for the job tests: a day of appointments loaded set-based, and outbox snapshots."""

from collections import Counter
from datetime import date

from sqlalchemy import select

from bench.reminders import insert_reminder_day
from portal.extensions import db
from portal.models import Notification


def load_day(app, clinics, day: date, count: int, sms_percent: int = 0) -> None:
    """`count` appointments on each clinic's local `day`, one patient each (bench's loader)."""
    with app.app_context(), db.engine.begin() as connection:
        insert_reminder_day(
            connection, [(c.id, c.timezone) for c in clinics], day, count, sms_percent
        )


def outbox_statuses(app, kind: str | None = None) -> Counter:
    """How many outbox rows are in each (channel, status)."""
    with app.app_context():
        query = select(Notification.channel, Notification.status)
        if kind:
            query = query.where(Notification.kind == kind)
        return Counter(tuple(row) for row in db.session.execute(query))


def outbox_rows(app, **filters) -> list[Notification]:
    with app.app_context():
        return db.session.scalars(
            select(Notification).filter_by(**filters).order_by(Notification.id)
        ).all()
