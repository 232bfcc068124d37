"""Doctors, their weekly rules and their time off."""

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, SmallInteger, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import UTCDateTime

SLOT_LENGTHS = (10, 15, 20, 30, 45, 60)


class Doctor(db.Model):
    __tablename__ = "doctors"
    __table_args__ = (
        # Search: doctors of one specialization, narrowed by clinic (and so by city).
        Index("ix_doctors_specialization_clinic", "specialization", "clinic_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    specialization: Mapped[str] = mapped_column(String(80))
    consultation_fee: Mapped[Decimal] = mapped_column(Numeric(10, 2))

    user = relationship("User", back_populates="doctor")
    clinic = relationship("Clinic", lazy="joined")

    def __repr__(self) -> str:
        return f"<Doctor {self.id} {self.full_name}>"


class DoctorSchedule(db.Model):
    """A weekly rule in the clinic's local time: on `weekday`, slots from start to end."""

    __tablename__ = "doctor_schedules"
    __table_args__ = (
        # Availability: the rules of a set of doctors for the weekdays of a date range.
        Index("ix_doctor_schedules_doctor_weekday", "doctor_id", "weekday"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("end_time > start_time", name="end_after_start"),
        CheckConstraint("slot_minutes IN (10, 15, 20, 30, 45, 60)", name="slot_minutes"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday, as date.weekday()
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(SmallInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class ScheduleException(db.Model):
    """Time off: no slots are offered between starts_at and ends_at."""

    __tablename__ = "schedule_exceptions"
    __table_args__ = (
        # Availability: a doctor's time off overlapping a window.
        Index("ix_schedule_exceptions_doctor_starts", "doctor_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
