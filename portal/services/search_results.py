"""Whole search result lists, cached by exactly what they are made of.

A list (a page of the portal's results, the cards an infinite-scroll request adds, or the JSON
of an API search page) is keyed by everything it is made of: what renders it (`kind`, with a
version of the markup), the search and its cursor and limit, the versions of the search's area
over its days (availability_cache: any booking, cancellation, rule, time off or doctor
deactivated among the area's doctors on those days changes one of them) and the minute that
the lead time starts at (slots start on whole minutes, so the slots shown change only when that
minute does). A stale list cannot be served; time-to-live only reclaims memory. A list holds
nothing of the user's, so it is shared by every patient.

The versions are read before anything else, so a list computed while a booking commits lands
under the old versions and is never served. A hit reads nothing else: not the matching doctors,
not their days.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from portal.extensions import cache
from portal.metrics import count_search_cache
from portal.replica import replica_safe_timeout
from portal.services.availability import local_dates
from portal.services.availability_cache import area_fingerprint, search_area
from portal.services.search import SearchCriteria, earliest_bookable, search_availability

log = logging.getLogger(__name__)

RESULTS_TTL = 120  # a list's key changes every minute anyway


def area_versions(criteria: SearchCriteria) -> str | None:
    """The versions a list of this search is checked against; None when the cache cannot vouch
    for the slots (availability cache off or unavailable)."""
    if not current_app.config["AVAILABILITY_CACHE_ENABLED"]:
        return None
    area = search_area(criteria.specialization, criteria.city, criteria.clinic_id)
    return area_fingerprint(area, local_dates(criteria.date_from, criteria.date_to))


def results_key(
    kind: str,
    scope: str,
    cursor: str | None,
    limit: int,
    versions: str | None,
    not_before: datetime,
) -> str | None:
    """The content address of one result list; None without versions to check it against."""
    if versions is None:
        return None
    # Slots start on whole minutes: "at or after not_before" is "at or after its next minute".
    minute = not_before.replace(second=0, microsecond=0)
    if minute < not_before:
        minute += timedelta(minutes=1)
    parts = [kind, scope, cursor or "", str(limit), minute.isoformat(), versions]
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
    criteria: SearchCriteria,
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
    key = results_key(
        kind, criteria.scope, cursor, limit, area_versions(criteria), earliest_bookable(now)
    )
    value = cached_results(key)
    if value is None:
        page = search_availability(criteria, limit=limit, cursor=cursor, now=now)
        value = make(page)
        if page.items:
            keep_results(key, value)
    return value
