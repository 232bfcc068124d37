"""Rendered search results, cached by exactly what they show: whole result lists, and cards.

A result list (the "results" block of a search, or the rows an infinite-scroll request adds)
is keyed by everything it is made of: the search and its cursor and limit, every matching
doctor's displayed fields, the versioned cache key of every (doctor, day) of the search — a
booking, a cancellation, a rule or time off changes one of those versions — and the minute
that the lead time starts at (slots start on whole minutes, so the slots shown change only
when that minute does). A hit skips the slots and the cards altogether.

A card's key is a hash of the doctor's displayed fields and the slots it lists, so a booking
that changes a doctor's day (and so their slots) changes the key. In both, a stale entry cannot
be served, and time-to-live only reclaims memory. Neither holds anything of the user's (no
form tokens), so they are shared by every patient.
"""

import hashlib
import logging
from datetime import datetime, timedelta

from flask import render_template
from markupsafe import Markup
from redis.exceptions import RedisError

from portal.extensions import cache
from portal.services.search import DoctorAvailability

log = logging.getLogger(__name__)

CARD_TTL = 3600
# Part of every key: change it when the card or list templates change, so a deployment never
# serves HTML rendered by the templates it replaced.
MARKUP_VERSION = "2"
RESULTS_TTL = 120  # a list's key changes every minute anyway


def _doctor_fields(doctor) -> list[str]:
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
    block: str,
    scope: str,
    cursor: str | None,
    limit: int,
    doctors: list,
    fingerprint: str | None,
    not_before: datetime,
) -> str | None:
    """The content address of one rendered result list; None when the cache cannot vouch for
    the slots (availability cache off or unavailable)."""
    if fingerprint is None:
        return None
    # Slots start on whole minutes: "at or after not_before" is "at or after its next minute".
    minute = not_before.replace(second=0, microsecond=0)
    if minute < not_before:
        minute += timedelta(minutes=1)
    parts = [
        MARKUP_VERSION,
        block,
        scope,
        cursor or "",
        str(limit),
        minute.isoformat(),
        fingerprint,
    ]
    for doctor in doctors:
        parts.extend(_doctor_fields(doctor))
    return "frag:results:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def cached_results(key: str | None) -> Markup | None:
    """A rendered result list, if the cache has it."""
    if key is None:
        return None
    try:
        html = cache.get(key)
    except (RedisError, OSError):
        return None
    # Rendered by our autoescaping template; its user text is escaped.
    return Markup(html) if html is not None else None  # noqa: S704


def keep_results(key: str | None, html: str) -> None:
    """Keep a rendered result list under its content address."""
    if key is None:
        return
    try:
        cache.set(key, html, timeout=RESULTS_TTL)
    except (RedisError, OSError) as error:
        log.debug("results cache unavailable: %s", error)


def card_key(result: DoctorAvailability) -> str:
    """The content address of one card."""
    parts = [MARKUP_VERSION, *_doctor_fields(result.doctor)]
    for slots in result.days.values():
        parts.extend(f"{int(s.starts_at.timestamp())}-{int(s.ends_at.timestamp())}" for s in slots)
    return "frag:card:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def render_cards(results: list[DoctorAvailability]) -> list[Markup]:
    """One rendered card per result, from the cache where possible."""
    keys = [card_key(result) for result in results]
    try:
        cached = cache.get_many(*keys) if keys else []
    except (RedisError, OSError):
        cached = [None] * len(keys)
    cards, fresh = [], {}
    for key, result, html in zip(keys, results, cached, strict=True):
        if html is None:
            html = render_template("patients/_doctor_card.html", result=result)
            fresh[key] = html
        # The card was rendered by our autoescaping template; its user text is escaped.
        cards.append(Markup(html))  # noqa: S704
    if fresh:
        try:
            cache.set_many(fresh, timeout=CARD_TTL)
        except (RedisError, OSError) as error:
            log.debug("card cache unavailable: %s", error)
    return cards
