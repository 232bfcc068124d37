"""The clinic directory: clinics by name, optionally in one city, keyset-paginated; and the
read-only cards of a doctor and their clinic that lists show (history, search results)."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, tuple_

from portal.extensions import db
from portal.models import Clinic, Doctor
from portal.services.pagination import (
    DEFAULT_LIMIT,
    BadCursor,
    Page,
    decode_cursor,
    page_from_rows,
    parse_limit,
)


@dataclass(frozen=True, slots=True)
class ClinicCard:
    id: int
    name: str
    city: str
    timezone: str


@dataclass(frozen=True, slots=True)
class DoctorCard:
    id: int
    full_name: str
    specialization: str
    consultation_fee: Decimal
    clinic: ClinicCard


# What a DoctorCard is made of, in the order DoctorCards.card reads them: a list query selects
# these (doctors joined to clinics) and hands each row's slice of them to one DoctorCards.
DOCTOR_CARD_COLUMNS = (
    Doctor.id,
    Doctor.full_name,
    Doctor.specialization,
    Doctor.consultation_fee,
    Clinic.id,
    Clinic.name,
    Clinic.city,
    Clinic.timezone,
)


class DoctorCards:
    """The cards of one page's rows: a doctor or clinic seen twice is one card."""

    def __init__(self):
        self._doctors: dict[int, DoctorCard] = {}
        self._clinics: dict[int, ClinicCard] = {}

    def card(self, values) -> DoctorCard:
        """The card of DOCTOR_CARD_COLUMNS' values, in their order."""
        doctor = self._doctors.get(values[0])
        if doctor is None:
            doctor_id, name, specialization, fee, clinic_id, *clinic = values
            if clinic_id not in self._clinics:
                self._clinics[clinic_id] = ClinicCard(clinic_id, *clinic)
            doctor = DoctorCard(doctor_id, name, specialization, fee, self._clinics[clinic_id])
            self._doctors[doctor_id] = doctor
        return doctor


def clinics_page(
    city: str | None = None, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Clinic]:
    """A page of clinics ordered by (name, id), one query; BadLimit or BadCursor for bad input."""
    limit = parse_limit(limit)
    scope = f"clinics:{city or ''}"
    after = decode_cursor(scope, cursor)
    query = select(Clinic)
    if city:
        query = query.where(Clinic.city == city)
    if after is not None:
        if len(after) != 2 or not isinstance(after[0], str) or not isinstance(after[1], int):
            raise BadCursor("cursor is not valid for this list")
        query = query.where(tuple_(Clinic.name, Clinic.id) > tuple_(*after))
    rows = list(db.session.scalars(query.order_by(Clinic.name, Clinic.id).limit(limit + 1)))
    return page_from_rows(rows, limit, scope, lambda clinic: (clinic.name, clinic.id))
