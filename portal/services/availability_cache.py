"""The availability cache: free slots per (doctor, local day), invalidated exactly.

Every entry's key carries two versions: a per-doctor generation (bumped by changes to weekly
rules, time off or the doctor's account) and a per-(doctor, day) version (bumped by a booking,
cancellation or reschedule on that day). Invalidation is one INCR, O(1), and touches nothing
else; old entries are simply never read again and expire. Versions are read before the
database, so an entry computed while a booking commits lands under the old version and is
never served.

Entries hold the day's free slots before the "not in the past, not inside the lead time"
filter, which is applied on every read. Redis down or slow: the cache steps aside, reads go to
the database, and the outage is logged once, not per request. Redis full (maxmemory under
noeviction, when the cache shares the session Redis instead of an evicting one of its own):
reads would still answer but invalidations are refused, so the cache steps aside the same way
(logged once, tried again every FULL_RETRY_SECONDS), and a refused day invalidation deletes
that day's entry instead (DEL frees memory and is allowed on a full Redis).

Whole search result lists (search_results.py) are keyed by the versions of their *area*: the
doctors of one specialization in one city, or in one clinic. A doctor belongs to one area of
each kind, so every invalidation also bumps, in the same MULTI, the area-day version (a
booking) or the area generation (rules, time off, a doctor deactivated) of both of the
doctor's areas: still O(1), and it touches exactly the lists that show that doctor-day. (A
doctor just added has no rules, so no slots and no place in a list, until add_rule
invalidates them.) A
search then checks its list against 1 + days versions (8 for a week) instead of every matching
doctor's (280 for 35 doctors), and a hit reads neither the doctors nor their days.
"""

import logging
import time
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app
from redis.exceptions import OutOfMemoryError, RedisError
from sqlalchemy.orm import joinedload

from portal.extensions import cache, db
from portal.metrics import count_search_cache
from portal.models import Doctor
from portal.replica import replica_safe_timeout
from portal.services.slots import Slot

log = logging.getLogger(__name__)

ENTRY_TTL = 2 * 24 * 3600  # entries are cheap to rebuild; versions live longer
VERSION_TTL = 120 * 24 * 3600
FULL_RETRY_SECONDS = 30
_outage = {"since": None}
_full = {"since": None, "retry_at": 0.0}


def _generation_key(doctor_id: int) -> str:
    return f"avail:gen:{doctor_id}"


def _day_version_key(doctor_id: int, day: date) -> str:
    return _version_key(doctor_id, day.isoformat())


def _version_key(doctor_id: int, isoday: str) -> str:
    return f"avail:ver:{doctor_id}:{isoday}"


def _entry_key(doctor_id: int, day: date, generation: int, version: int) -> str:
    return f"avail:slots:{doctor_id}:{day.isoformat()}:{generation}:{version}"


def search_area(specialization: str, city: str | None, clinic_id: int | None) -> str:
    """The area whose versions cover a search: its clinic when it names one (the narrower),
    else its city."""
    where = f"clinic={clinic_id}" if clinic_id is not None else f"city={city}"
    return f"{where}\x1f{specialization}"


def _area_generation_key(area: str) -> str:
    return f"avail:areagen:{area}"


def _area_version_key(area: str, isoday: str) -> str:
    return f"avail:areaver:{area}:{isoday}"


def _areas(doctor_id: int) -> list[str]:
    """Both areas a doctor's availability shows in (none for a doctor that does not exist).

    Invalidations follow a commit that has usually loaded the doctor and their clinic (a
    booking reads the clinic's timezone): the session's identity map answers then, no query.
    """
    doctor = db.session.get(Doctor, doctor_id, options=[joinedload(Doctor.clinic)])
    if doctor is None:
        return []
    return [
        search_area(doctor.specialization, doctor.clinic.city, None),
        search_area(doctor.specialization, None, doctor.clinic_id),
    ]


def _healthy() -> None:
    if _outage["since"] is not None:
        log.warning("availability cache is back after %.0f s", time.monotonic() - _outage["since"])
        _outage["since"] = None


def _failed(error: Exception) -> None:
    if isinstance(error, OutOfMemoryError):
        _refused(error)
        return
    if _outage["since"] is None:
        _outage["since"] = time.monotonic()
        log.error("availability cache unavailable, reading from the database: %s", error)


def cache_is_down() -> bool:
    """True while the last cache call failed (for metrics and tests)."""
    return _outage["since"] is not None


def _refused(error: OutOfMemoryError) -> None:
    if _full["since"] is None:
        _full["since"] = time.monotonic()
        log.error(
            "availability cache is full and refuses writes, reading from the database: %s", error
        )
    _full["retry_at"] = time.monotonic() + FULL_RETRY_SECONDS


def _accepted() -> None:
    if _full["since"] is not None:
        log.warning(
            "availability cache takes writes again after %.0f s", time.monotonic() - _full["since"]
        )
        _full["since"] = None


def cache_is_full() -> bool:
    """True while the cache steps aside because its Redis refused a write (OOM)."""
    return _full["since"] is not None and time.monotonic() < _full["retry_at"]


def _bump(*keys: str) -> Exception | None:
    """INCR these versions together; the error if that failed."""
    try:
        redis = current_app.extensions["cache_redis"]
        if redis is None:  # the in-process cache of the embedded default: one process, no race
            for key in keys:
                cache.set(key, int(cache.get(key) or 0) + 1, timeout=VERSION_TTL)
        else:  # one MULTI: a reader sees all of them bumped or none; EXPIRE so that versions
            # of past days do not pile up
            pipeline = redis.pipeline()
            for key in keys:
                full_key = current_app.config["CACHE_KEY_PREFIX"] + key
                pipeline.incr(full_key).expire(full_key, VERSION_TTL)
            pipeline.execute()
        _healthy()
        _accepted()
        return None
    except (RedisError, OSError) as error:
        # The entries under the old version may outlive the outage for at most ENTRY_TTL; a
        # stale slot can be shown, never booked (the database decides).
        _failed(error)
        return error


def _drop_entry(doctor_id: int, day: date) -> None:
    """Delete the day's current entry, where its version could not be bumped (Redis full)."""
    try:
        generation, version = cache.get_many(
            _generation_key(doctor_id), _day_version_key(doctor_id, day)
        )
        cache.delete(_entry_key(doctor_id, day, int(generation or 0), int(version or 0)))
    except (RedisError, OSError) as error:
        log.debug("could not drop the entry of doctor %s on %s: %s", doctor_id, day, error)


def invalidate_days(doctor_id: int, days: list[date]) -> None:
    """Bookings, cancellations or status changes on these local days of this doctor."""
    areas = _areas(doctor_id)
    keys = [_day_version_key(doctor_id, day) for day in days]
    keys += [_area_version_key(area, day.isoformat()) for area in areas for day in days]
    if isinstance(_bump(*keys), OutOfMemoryError):
        for day in days:
            _drop_entry(doctor_id, day)


def invalidate_day(doctor_id: int, day: date) -> None:
    """A booking, cancellation or status change on this doctor's local day."""
    invalidate_days(doctor_id, [day])


def invalidate_doctor(doctor_id: int) -> None:
    """Weekly rules, time off or the doctor's account changed: every day of theirs, and every
    list of their areas (who is listed, and what a card shows)."""
    areas = _areas(doctor_id)
    _bump(_generation_key(doctor_id), *(_area_generation_key(area) for area in areas))


def appointment_changed(doctor_id: int, starts_at: datetime, timezone: str) -> None:
    """Invalidate the local day of the clinic on which this appointment starts."""
    invalidate_day(doctor_id, starts_at.astimezone(ZoneInfo(timezone)).date())


def _encode(slots: list[Slot]) -> list[tuple[int, int]]:
    return [(int(s.starts_at.timestamp()), int(s.ends_at.timestamp())) for s in slots]


@lru_cache(maxsize=65536)
def _instant(timestamp: int) -> datetime:
    """The UTC datetime of a slot boundary; doctors share their grids, so most are repeats."""
    return datetime.fromtimestamp(timestamp, UTC)


def _decode(raw: list[tuple[int, int]]) -> list[Slot]:
    return [Slot(_instant(a), _instant(b)) for a, b in raw]


def area_fingerprint(area: str, days: list[date], *also: str) -> tuple[str | None, list]:
    """The versions of an area over these days, in order: they change with any change to a
    doctor-day that a search of this area over these days shows. None while the cache is
    unavailable, or full (it may have missed an invalidation).

    With it, read in the same round trip, the cache's values of the keys `also` (each None
    when absent, or when the versions are None)."""
    nothing = [None] * len(also)
    if cache_is_full() or not days:
        return None, nothing
    keys = [_area_generation_key(area)] + [_area_version_key(area, d.isoformat()) for d in days]
    try:
        values = cache.get_many(*keys, *also)
        _healthy()
    except (RedisError, OSError) as error:
        _failed(error)
        return None, nothing
    versions = ",".join(str(int(v or 0)) for v in values[: len(keys)])
    return f"{area}|{days[0]}..{days[-1]}|{versions}", values[len(keys) :]


class CachedDays:
    """The cache's view of a set of (doctor, day) pairs: their versioned keys, then the hits,
    and the keys to fill misses.

    The versions are read first (one MGET, on creation) and the entries only when asked
    (`load`).
    """

    def __init__(self, doctor_ids: list[int], days: list[date]):
        self._hits: dict[tuple[int, date], list[Slot]] = {}
        self._doctor_ids = doctor_ids
        self._days = days
        self.keys: dict[tuple[int, date], str] = {}  # the versioned entry key of each pair
        self.available = not cache_is_full()  # its entries may miss refused invalidations
        self._loaded = False
        if self.available:
            self._guarded(self._read_versions)

    def _guarded(self, read, *args) -> None:
        try:
            read(*args)
            _healthy()
        except (RedisError, OSError) as error:
            _failed(error)
            self.available = False
            self._hits.clear()
            self.keys = {}

    def _read_versions(self) -> None:
        """One MGET of every doctor's generation and every (doctor, day) version; the keys."""
        isodays = [day.isoformat() for day in self._days]
        version_keys = [_generation_key(d) for d in self._doctor_ids] + [
            _version_key(d, isoday) for d in self._doctor_ids for isoday in isodays
        ]
        versions = cache.get_many(*version_keys) if version_keys else []
        count = len(self._doctor_ids)
        day_versions = iter(versions[count:])
        for doctor_id, generation in zip(self._doctor_ids, versions[:count], strict=True):
            for day in self._days:
                version = int(next(day_versions) or 0)
                self.keys[(doctor_id, day)] = _entry_key(
                    doctor_id, day, int(generation or 0), version
                )

    @property
    def hits(self) -> dict[tuple[int, date], list[Slot]]:
        """The days the cache has, read on first use."""
        self.load()
        return self._hits

    def load(self) -> "CachedDays":
        """Read the entries themselves (once)."""
        if self.available and not self._loaded:
            self._loaded = True
            self._guarded(self._read_entries)
        return self

    def _read_entries(self) -> None:
        pairs = list(self.keys)
        entries = cache.get_many(*(self.keys[p] for p in pairs)) if pairs else []
        for pair, entry in zip(pairs, entries, strict=True):
            if entry is not None:
                self._hits[pair] = _decode(entry)
        count_search_cache("day", len(self._hits), len(pairs) - len(self._hits))

    def misses(self) -> list[tuple[int, date]]:
        """The (doctor, day) pairs the database must compute."""
        self.load()
        return [pair for pair in self.keys if pair not in self._hits] if self.available else []

    def store(self, computed: dict[tuple[int, date], list[Slot]]) -> None:
        """Keep freshly computed days under the versions read before the database."""
        if not self.available or not computed:
            return
        try:
            cache.set_many(
                {self.keys[pair]: _encode(slots) for pair, slots in computed.items()},
                timeout=replica_safe_timeout(ENTRY_TTL),
            )
            _healthy()
            _accepted()
        except (RedisError, OSError) as error:
            _failed(error)
