"""Whole search result lists, cached by exactly what they are made of.

A list (a page of the portal's results, the cards an infinite-scroll request adds, or the JSON
of an API search page) is keyed by everything it is made of: what renders it (`kind`, with a
version of the markup), the search and its cursor and limit, every matching doctor's displayed
fields, the versioned cache key of every (doctor, day) of the search — a booking, a
cancellation, a rule or time off changes one of those versions — and the minute that the lead
time starts at (slots start on whole minutes, so the slots shown change only when that minute
does). A stale list cannot be served; time-to-live only reclaims memory. A list holds nothing
of the user's, so it is shared by every patient.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from redis.exceptions import RedisError

from portal.extensions import cache
from portal.metrics import count_search_cache
from portal.replica import replica_safe_timeout
from portal.services.availability import cached_days
from portal.services.search import earliest_bookable, matching_doctors, search_availability

log = logging.getLogger(__name__)

RESULTS_TTL = 120  # a list's key changes every minute anyway


def doctor_fields(doctor) -> list[str]:
    """What a result shows of a doctor and their clinic."""
    clinic = doctor.clinic
    return [
        str(doctor.id),
        doctor.full_name,
        doctor.specialization,
        str(doctor.consultation_fee),
        clinic.name,
        clinic.city,
        clinic.timezone,
    ]


def results_key(
    kind: str,
    scope: str,
    cursor: str | None,
    limit: int,
    doctors: list,
    fingerprint: str | None,
    not_before: datetime,
) -> str | None:
    """The content address of one result list; None when the cache cannot vouch for the slots
    (availability cache off or unavailable)."""
    if fingerprint is None:
        return None
    # Slots start on whole minutes: "at or after not_before" is "at or after its next minute".
    minute = not_before.replace(second=0, microsecond=0)
    if minute < not_before:
        minute += timedelta(minutes=1)
    parts = [kind, scope, cursor or "", str(limit), minute.isoformat(), fingerprint]
    for doctor in doctors:
        parts.extend(doctor_fields(doctor))
    return "frag:results:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def cached_results(key: str | None):
    """A list kept under this key, if the cache has it."""
    if key is None:
        return None
    try:
        value = cache.get(key)
    except (RedisError, OSError):
        return None
    hit = value is not None
    count_search_cache("list", hits=int(hit), misses=int(not hit))
    return value


def keep_results(key: str | None, value) -> None:
    """Keep a list under its content address."""
    if key is None:
        return
    try:
        cache.set(key, value, timeout=replica_safe_timeout(RESULTS_TTL))
    except (RedisError, OSError) as error:
        log.debug("results cache unavailable: %s", error)


def cached_search(
    criteria,
    *,
    kind: str,
    limit: int,
    cursor: str | None,
    now: datetime,
    make: Callable,
):
    """A search's result list as `make(page)` makes it (HTML, JSON), from the cache when the
    same list is there; made and kept otherwise. An empty list is not kept: what a page shows
    when nothing is free ("next available") looks past the days the key covers.

    Raises what search_availability raises (BadCursor, ...), on a miss only: a kept list was
    made from a cursor that decoded.
    """
    doctors = matching_doctors(criteria)
    cached = cached_days(doctors, criteria.date_from, criteria.date_to)
    key = results_key(
        kind,
        criteria.scope,
        cursor,
        limit,
        doctors,
        cached.fingerprint if cached is not None else None,
        earliest_bookable(now),
    )
    value = cached_results(key)
    if value is None:
        page = search_availability(
            criteria, limit=limit, cursor=cursor, now=now, doctors=doctors, cached=cached
        )
        value = make(page)
        if page.items:
            keep_results(key, value)
    return value
