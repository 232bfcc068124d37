"""The outbox: one row per message to send, claimed before the provider call."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import BigId, UTCDateTime, utcnow

CHANNELS = ("email", "sms")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        # The relay and the retry job: unsent rows, oldest first.
        Index(
            "ix_notifications_unsent",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_notifications_appointment", "appointment_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(BigId, ForeignKey("appointments.id"))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))  # reminder, booked, cancelled, rescheduled...
    # Unique on (appointment, kind, channel): a retried job can never send twice.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    recipient: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def idempotency_key(appointment_id: int, kind: str, channel: str) -> str:
    """The key that makes a (appointment, kind, channel) message unique."""
    return f"{appointment_id}:{kind}:{channel}"
