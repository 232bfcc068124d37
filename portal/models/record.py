"""Medical records. An amendment is a new row that supersedes the old one, never an edit."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.types import BigId, JsonDocument, UTCDateTime, utcnow

RECORD_TYPES = ("consultation", "diagnosis", "prescription", "lab_result", "imaging", "referral")


class MedicalRecord(db.Model):
    __tablename__ = "medical_records"
    __table_args__ = (
        # A patient's records, newest first, keyset over (created_at, id).
        Index(
            "ix_medical_records_patient_created",
            "patient_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
        # The same, filtered by record type.
        Index(
            "ix_medical_records_patient_type_created",
            "patient_id",
            "record_type",
            text("created_at DESC"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id"))
    appointment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("appointments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    record_type: Mapped[str] = mapped_column(String(32))
    diagnosis: Mapped[str | None] = mapped_column(Text)
    prescription: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JsonDocument)
    # The record this one amends; the amended row stays as it was.
    supersedes_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("medical_records.id"), unique=True
    )

    doctor = relationship("Doctor")

    def __repr__(self) -> str:
        return f"<MedicalRecord {self.id} {self.record_type}>"
