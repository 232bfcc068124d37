"""Search: doctors of a specialization in a city or clinic, ordered by their soonest free slot.

One page costs a fixed number of queries whatever the number of doctors: the matching doctors
with their clinics (one JOIN), then the three availability reads for all of them at once.
"""

import functools
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from flask import current_app, g, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import contains_eager

from portal.extensions import cache, db
from portal.models import Clinic, Doctor, User
from portal.replica import replica_safe_timeout, select_rows
from portal.services.availability import Slot, free_slots
from portal.services.directory import DOCTOR_CARD_COLUMNS, DoctorCard, DoctorCards
from portal.services.pagination import BadCursor, Page, decode_cursor, page_from_rows


class SearchError(ValueError):
    """Search input that cannot be answered; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SearchCriteria:
    specialization: str
    date_from: date
    date_to: date
    city: str | None = None
    clinic_id: int | None = None

    @property
    def scope(self) -> str:
        """The cursor scope: a cursor only continues the search that made it."""
        return (
            f"search:{self.specialization}:{self.city or ''}:{self.clinic_id or ''}:"
            f"{self.date_from.isoformat()}:{self.date_to.isoformat()}"
        )


@dataclass
class DoctorAvailability:
    """One search result: a doctor, their clinic, and their free slots per local day."""

    doctor: Doctor | DoctorCard  # a card in search results, the entity on a doctor's week page
    days: dict[date, list[Slot]]

    @cached_property
    def first_slot(self) -> Slot:
        return min(self.days[min(self.days)])

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.first_slot.starts_at, self.doctor.id)


CATALOGUE_KEYS = ("catalogue:specializations", "catalogue:cities")
CATALOGUE_TTL = 300  # a backstop; changes to doctors and clinics call forget_catalogue()


_CATALOGUE_QUERIES = {
    # Every specialization a doctor practises (an index-only scan), every city with a clinic.
    CATALOGUE_KEYS[0]: select(Doctor.specialization).distinct().order_by(Doctor.specialization),
    CATALOGUE_KEYS[1]: select(Clinic.city).distinct().order_by(Clinic.city),
}


def _catalogue() -> dict[str, list[str]]:
    """The short lists every search form shows, cached; the database when the cache is down.

    Both are read together (one round trip to Redis) and once per request: the search page
    shows them and check_known checks against them. A search reads them in the round trip that
    reads its area's versions and its kept list (search_results.versions_and_kept).
    """
    memo = g.get("catalogue") if has_app_context() else None
    if memo is None:
        memo = _read_catalogue()
        if has_app_context():
            g.catalogue = memo
    return memo


# With the cache down, the catalogue this process last read from the database, and until when
# it stands in for the cache (as long as a cached one would live). forget_catalogue drops it.
_without_cache: dict = {"catalogue": None, "until": 0.0}


def _read_catalogue() -> dict[str, list[str]]:
    try:
        kept = cache.get_many(*CATALOGUE_KEYS)
    except (RedisError, OSError):
        return _catalogue_without_cache()
    return _completed(kept)


def remember_catalogue(kept: list) -> None:
    """This request's catalogue from the values of CATALOGUE_KEYS, read from the cache in a
    round trip that read something else too."""
    if has_app_context() and g.get("catalogue") is None:
        g.catalogue = _completed(kept)


def _completed(kept: list) -> dict[str, list[str]]:
    """The catalogue from the cache's values of its keys, what is missing read and kept."""
    values = dict(zip(CATALOGUE_KEYS, kept, strict=True))
    for key, query in _CATALOGUE_QUERIES.items():
        if values[key] is None:
            values[key] = list(db.session.scalars(query))
            with suppress(RedisError, OSError):
                cache.set(key, values[key], timeout=replica_safe_timeout(CATALOGUE_TTL))
    return values


def _catalogue_without_cache() -> dict[str, list[str]]:
    """The catalogue from the database, kept in this process while the cache is down, so that
    an outage does not add two queries to every search page. Another worker may list a new
    specialization up to CATALOGUE_TTL later, as it would if forget_catalogue had failed."""
    if _without_cache["catalogue"] is None or time.monotonic() >= _without_cache["until"]:
        _without_cache["catalogue"] = {
            key: list(db.session.scalars(query)) for key, query in _CATALOGUE_QUERIES.items()
        }
        _without_cache["until"] = time.monotonic() + replica_safe_timeout(CATALOGUE_TTL)
    return _without_cache["catalogue"]


def specializations() -> list[str]:
    """Every specialization a doctor practises, alphabetically."""
    return _catalogue()[CATALOGUE_KEYS[0]]


def cities() -> list[str]:
    """Every city with a clinic, alphabetically."""
    return _catalogue()[CATALOGUE_KEYS[1]]


def forget_catalogue() -> None:
    """Call after adding or changing doctors or clinics, so search forms list them at once."""
    if has_app_context():
        g.pop("catalogue", None)
    _without_cache["catalogue"] = None
    with suppress(RedisError, OSError):
        cache.delete_many(*CATALOGUE_KEYS)


def parse_criteria(
    specialization: str | None,
    date_from: date | None,
    date_to: date | None,
    today: date,
    city: str | None = None,
    clinic_id: int | None = None,
) -> SearchCriteria:
    """The search as asked, checked in itself (what is required, the dates) but not yet against
    what exists: check_known does that, with the catalogue that search_results reads in the
    round trip that reads the search's versions. SearchError names the first problem."""
    if not specialization:
        raise SearchError("specialization", "Choose a specialization.")
    if not city and clinic_id is None:
        raise SearchError("city", "Choose a city or a clinic.")
    max_days = current_app.config["SEARCH_MAX_DAYS"]
    date_from = date_from or today
    date_to = date_to or date_from + timedelta(days=6)
    if date_to < date_from:
        raise SearchError("date_to", "The end date is before the start date.")
    if (date_to - date_from).days >= max_days:
        raise SearchError("date_to", f"Search at most {max_days} days at a time.")
    if date_to < today:
        raise SearchError("date_from", "Those dates are in the past.")
    if date_from > today + timedelta(days=365):
        raise SearchError("date_from", "Search at most a year ahead.")
    return SearchCriteria(specialization, max(date_from, today), date_to, city or None, clinic_id)


def check_known(criteria: SearchCriteria) -> None:
    """SearchError unless the specialization, the city and the clinic searched exist."""
    if criteria.specialization not in specializations():
        raise SearchError("specialization", "There is no such specialization.")
    if criteria.city and criteria.city not in cities():
        raise SearchError("city", "There is no clinic in that city.")
    if criteria.clinic_id is not None and db.session.get(Clinic, criteria.clinic_id) is None:
        raise SearchError("clinic_id", "There is no such clinic.")


def matching_doctors(criteria: SearchCriteria) -> list[DoctorCard]:
    """Active doctors of the specialization in the city or clinic, with their clinics: one query,
    read into DoctorCards (what results show), not ORM entities."""
    query = _matching_doctors_statement(criteria.clinic_id is not None, bool(criteria.city))
    params = {
        "specialization": criteria.specialization,
        "clinic_id": criteria.clinic_id,
        "city": criteria.city,
    }
    cards = DoctorCards()
    return [cards.card(row) for row in select_rows(query, params).all()]


@functools.cache
def _matching_doctors_statement(clinic: bool, city: bool) -> Select:
    """Built once per shape, then only given parameters (history._history_statement says why)."""
    query = (
        select(*DOCTOR_CARD_COLUMNS)
        .join(Clinic, Clinic.id == Doctor.clinic_id)
        .join(User, User.id == Doctor.user_id)
        .where(Doctor.specialization == bindparam("specialization"), User.active.is_(True))
        .order_by(Doctor.id)
    )
    if clinic:
        query = query.where(Doctor.clinic_id == bindparam("clinic_id"))
    if city:
        query = query.where(Clinic.city == bindparam("city"))
    return query


def bookable_doctor(doctor_id: int) -> Doctor | None:
    """An active doctor (with their clinic) whose free times a patient may look at; else None."""
    if not 0 < doctor_id <= 2**31 - 1:
        return None
    return db.session.scalar(
        select(Doctor)
        .join(Doctor.clinic)
        .join(User, User.id == Doctor.user_id)
        .options(contains_eager(Doctor.clinic))
        .where(Doctor.id == doctor_id, User.active.is_(True))
    )


def earliest_bookable(now: datetime) -> datetime:
    """Slots start no earlier than now plus the booking lead time."""
    return now + current_app.config["BOOKING_LEAD_TIME"]


def search_availability(
    criteria: SearchCriteria,
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> Page[DoctorAvailability]:
    """A page of doctors with free slots, soonest first, keyset over (first slot, doctor id)."""
    after = decode_cursor(criteria.scope, cursor)
    if after is not None:
        try:
            after_key = (datetime.fromisoformat(after[0]), int(after[1]))
        except (TypeError, ValueError, IndexError):
            raise BadCursor("cursor is not valid for this list") from None
    doctors = matching_doctors(criteria)
    slots = free_slots(doctors, criteria.date_from, criteria.date_to, earliest_bookable(now))
    results = sorted(
        (DoctorAvailability(doctor, slots[doctor.id]) for doctor in doctors if slots[doctor.id]),
        key=lambda result: result.sort_key,
    )
    if after is not None:
        results = [result for result in results if result.sort_key > after_key]
    return page_from_rows(results[: limit + 1], limit, criteria.scope, lambda r: r.sort_key)


def next_available(
    specialization: str,
    now: datetime,
    city: str | None = None,
    clinic_id: int | None = None,
    horizon_days: int = 90,
) -> DoctorAvailability | None:
    """The earliest free slot for a specialization in a city, two weeks at a time (not day by day)."""
    today = now.date()
    step = current_app.config["SEARCH_MAX_DAYS"]
    for offset in range(0, horizon_days, step):
        start = today + timedelta(days=offset)
        criteria = SearchCriteria(
            specialization, start, start + timedelta(days=step - 1), city, clinic_id
        )
        page = search_availability(criteria, limit=1, cursor=None, now=now)
        if page.items:
            return page.items[0]
    return None
