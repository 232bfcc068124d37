"""The audit trail of clinical reads and writes. Append-only: a trigger refuses UPDATE and DELETE."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.types import BigId, JsonDocument, UTCDateTime, utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (
        # "Who read this patient's records?", newest first.
        Index("ix_audit_log_patient_at", "patient_id", text("at DESC")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    record_ids: Mapped[list | None] = mapped_column(JsonDocument)
    action: Mapped[str] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
