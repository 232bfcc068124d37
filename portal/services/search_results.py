"""Whole search result lists, cached with exactly what they are made of.

A list (a page of the portal's results, the cards an infinite-scroll request adds, or the JSON
of an API search page) is kept under a key of what renders it (`kind`, with a version of the
markup), the search and its cursor and limit, and the minute that the lead time starts at
(slots start on whole minutes, so the slots shown change only when that minute does); beside
it is kept what it was made from: the versions of the search's area over its days
(availability_cache: any booking, cancellation, rule, time off or doctor deactivated among the
area's doctors on those days changes one of them). A kept list is served only while those are
the current versions, and a hit reads both in one round trip: the versions and the list in one
MGET, nothing else (not the matching doctors, not their days). A stale list cannot be served;
time-to-live only reclaims memory. A list holds nothing of the user's, so it is shared by every
patient.

The versions are read before a list is made, so a list made while a booking commits is kept
with the old versions and never served; a list made again replaces the one it supersedes.
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
from portal.services.search import (
    CATALOGUE_KEYS,
    SearchCriteria,
    check_known,
    earliest_bookable,
    remember_catalogue,
    search_availability,
)

log = logging.getLogger(__name__)

RESULTS_TTL = 120  # a list's key changes every minute anyway


def results_key(kind: str, scope: str, cursor: str | None, limit: int, not_before: datetime) -> str:
    """Where a list of this search is kept (with the versions it was made from)."""
    # Slots start on whole minutes: "at or after not_before" is "at or after its next minute".
    minute = not_before.replace(second=0, microsecond=0)
    if minute < not_before:
        minute += timedelta(minutes=1)
    parts = [kind, scope, cursor or "", str(limit), minute.isoformat()]
    return "frag:results:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def versions_and_kept(criteria: SearchCriteria, key: str) -> tuple[str | None, object]:
    """The versions a list of this search must have been made from, and what is kept under
    `key`, in one round trip that also reads the search form's catalogue; (None, None) when
    the cache cannot vouch for the slots (availability cache off or unavailable)."""
    if not current_app.config["AVAILABILITY_CACHE_ENABLED"]:
        return None, None
    area = search_area(criteria.specialization, criteria.city, criteria.clinic_id)
    days = local_dates(criteria.date_from, criteria.date_to)
    versions, (*catalogue, kept) = area_fingerprint(area, days, *CATALOGUE_KEYS, key)
    if versions is not None:
        remember_catalogue(catalogue)
    return versions, kept


def keep_results(key: str, versions: str, value) -> None:
    """Keep a list with the versions it was made from."""
    try:
        cache.set(key, (versions, value), timeout=replica_safe_timeout(RESULTS_TTL))
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
    same list is kept there, made from the current versions; made and kept otherwise. An empty
    list is not kept: what a page shows when nothing is free ("next available") looks past the
    days the key covers.

    `criteria` come from parse_criteria: SearchError for a specialization, city or clinic that
    does not exist (check_known, against the catalogue read with the versions). On a miss only,
    what search_availability raises (BadCursor, ...): a kept list was made from a cursor that
    decoded.
    """
    key = results_key(kind, criteria.scope, cursor, limit, earliest_bookable(now))
    versions, kept = versions_and_kept(criteria, key)
    check_known(criteria)
    if versions is not None:
        hit = isinstance(kept, tuple) and len(kept) == 2 and kept[0] == versions
        count_search_cache("list", hits=int(hit), misses=int(not hit))
        if hit:
            return kept[1]
    page = search_availability(criteria, limit=limit, cursor=cursor, now=now)
    value = make(page)
    if page.items and versions is not None:
        keep_results(key, versions, value)
    return value
