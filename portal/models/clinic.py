"""Clinics: where doctors work, and whose timezone every schedule is written in."""

from zoneinfo import ZoneInfo

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class Clinic(db.Model):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120), index=True)
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. Europe/Berlin

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:
        return f"<Clinic {self.id} {self.name}>"
