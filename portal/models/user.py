"""Users: one sign-in each, with one role."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import UTCDateTime, utcnow

ROLES = ("patient", "doctor", "clinic_admin")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('patient', 'doctor', 'clinic_admin')", name="role"),
        CheckConstraint("role <> 'clinic_admin' OR clinic_id IS NOT NULL", name="admin_has_clinic"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clinic = relationship("Clinic", lazy="joined")
    patient = relationship("Patient", back_populates="user", uselist=False, lazy="joined")
    doctor = relationship("Doctor", back_populates="user", uselist=False, lazy="joined")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def patient_id(self) -> int | None:
        return self.patient.id if self.patient is not None else None

    @property
    def doctor_id(self) -> int | None:
        return self.doctor.id if self.doctor is not None else None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
