"""Appointments and the video rooms made ahead for them.

Double booking is refused by the database, not by this code: on PostgreSQL an exclusion
constraint over (doctor_id, tstzrange(starts_at, ends_at)) for every appointment that is not
cancelled; on the embedded SQLite default a partial unique index on (doctor_id, starts_at).
Both live in the migration, beside the indexes below.
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import BigId, UTCDateTime, utcnow

STATUSES = ("scheduled", "completed", "cancelled", "no_show")
ACTIVE_STATUSES = ("scheduled", "completed", "no_show")  # they hold their slot
KINDS = ("in_person", "video")


class Appointment(db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        # A patient's history, newest first, keyset over (starts_at, id).
        Index(
            "ix_appointments_patient_starts",
            "patient_id",
            text("starts_at DESC"),
            text("id DESC"),
        ),
        # A doctor's day schedule and availability over a window.
        Index("ix_appointments_doctor_starts", "doctor_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        CheckConstraint(
            "status IN ('scheduled', 'completed', 'cancelled', 'no_show')", name="status"
        ),
        CheckConstraint("kind IN ('in_person', 'video')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    kind: Mapped[str] = mapped_column(String(16), default="in_person")
    reason: Mapped[str | None] = mapped_column(Text)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient = relationship("Patient")
    doctor = relationship("Doctor")

    @property
    def is_active(self) -> bool:
        return self.status != "cancelled"

    def __repr__(self) -> str:
        return f"<Appointment {self.id} {self.status}>"


class VideoRoom(db.Model):
    """The provider's room for a video appointment, made ahead by a job."""

    __tablename__ = "video_rooms"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'failed', 'closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(BigId, ForeignKey("appointments.id"), unique=True)
    room_name: Mapped[str] = mapped_column(String(100), unique=True)
    provider_room_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    appointment = relationship("Appointment")
