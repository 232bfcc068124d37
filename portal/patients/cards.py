"""Rendered search-result cards, cached by exactly what they show.

A card's key is a hash of the doctor's displayed fields and the slots it lists, so a booking
that changes a doctor's day (and so their slots) changes the key: a stale card cannot be served,
and time-to-live only reclaims memory. Cards are the same in a full page and in an htmx
fragment, and hold nothing of the user's, so they are shared by every patient. Whole result
lists are cached too (portal/services/search_results.py).
"""

import hashlib
import logging

from flask import current_app, render_template
from markupsafe import Markup
from redis.exceptions import RedisError

from portal.extensions import cache
from portal.services.search import DoctorAvailability

log = logging.getLogger(__name__)

CARD_TTL = 3600
# Part of every key: change it when the card or list templates change, so a deployment never
# serves HTML rendered by the templates it replaced.
MARKUP_VERSION = "4"
# A card lists this many times a day, then "+N more" (a link to the doctor's week).
SLOTS_PER_DAY = 4


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


def card_key(result: DoctorAvailability) -> str:
    """The content address of one card: what it shows, the first times of each day and how
    many more there are."""
    parts = [MARKUP_VERSION, *doctor_fields(result.doctor)]
    for day, slots in result.days.items():
        parts.append(f"{day.isoformat()}+{len(slots)}")
        parts.extend(
            f"{int(s.starts_at.timestamp())}-{int(s.ends_at.timestamp())}"
            for s in slots[:SLOTS_PER_DAY]
        )
    return "frag:card:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def render_cards(results: list[DoctorAvailability]) -> list[Markup]:
    """One rendered card per result, from the cache where possible. With the availability
    cache off, search is uncached through and through: every card is rendered."""
    if current_app.config["AVAILABILITY_CACHE_ENABLED"]:
        cards = _cached_cards(results)
    else:
        cards = [_render_card(result) for result in results]
    # Rendered by our autoescaping template (now or when it was kept); user text is escaped.
    return [Markup(html) for html in cards]  # noqa: S704


def _cached_cards(results: list[DoctorAvailability]) -> list[str]:
    keys = [card_key(result) for result in results]
    try:
        cached = cache.get_many(*keys) if keys else []
    except (RedisError, OSError):
        cached = [None] * len(keys)
    fresh = {}
    for key, result, html in zip(keys, results, cached, strict=True):
        if html is None:
            fresh[key] = _render_card(result)
    if fresh:
        try:
            cache.set_many(fresh, timeout=CARD_TTL)
        except (RedisError, OSError) as error:
            log.debug("card cache unavailable: %s", error)
    return [fresh[key] if html is None else html for key, html in zip(keys, cached, strict=True)]


def _render_card(result: DoctorAvailability) -> str:
    return render_template("patients/_doctor_card.html", result=result, per_day=SLOTS_PER_DAY)
