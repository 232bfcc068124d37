"""The clinic directory: clinics by name, optionally in one city, keyset-paginated; and the
read-only cards of a doctor and their clinic that lists show (history, search results)."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, tuple_

from portal.extensions import db
from portal.models import Clinic
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
