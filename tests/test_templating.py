"""Template filters that build markup themselves give what the template expressions they
replace gave."""

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template_string, url_for

from portal.services.slots import Slot
from portal.templating import in_zone, slot_items, time_tag, wall_time

SPELLED_OUT = (
    '<time datetime="{{ value.isoformat() }}" title="{{ zone }}">'
    "{{ value | local_time(zone) }}</time>"
)


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Etc/GMT+5", "UTC"]
)
@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # New York's clocks go forward that morning
        datetime(2026, 10, 25, 0, 59, 59, 123456, tzinfo=UTC),  # Berlin's last summer second
        datetime(2026, 11, 29, 14, 0, tzinfo=UTC),
    ],
)
def test_a_time_tag_is_the_markup_it_replaces(app, zone, value):
    with app.test_request_context():
        assert str(time_tag(value, zone)) == render_template_string(
            SPELLED_OUT, value=value, zone=zone
        )


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Sao_Paulo", "UTC"]
)
def test_slot_items_spell_times_and_links_as_wall_time_and_url_for_do(app, zone):
    # A seeded spread of instants over two years, DST changes included, to the microsecond.
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    slots = [
        Slot(moment, moment + timedelta(minutes=30))
        for moment in sorted(
            start
            + timedelta(seconds=rng.randrange(2 * 365 * 86400), microseconds=rng.randrange(10**6))
            for _ in range(300)
        )
    ]
    with app.test_request_context():
        html = str(slot_items(slots, url_for("patients.book"), 7, "Dr. O'Brien & Sons", zone))
        expected = [
            (
                url_for("patients.book", doctor_id=7, starts_at=slot.starts_at.isoformat()),
                f"Book {wall_time(in_zone(slot.starts_at, zone))} with Dr. O&#39;Brien &amp; Sons",
                in_zone(slot.starts_at, zone).strftime("%H:%M"),
            )
            for slot in slots
        ]
    links = re.findall(r'href="([^"]+)" aria-label="([^"]+)">([^<]+)</a>', html)
    assert [(href.replace("&amp;", "&"), label, text) for href, label, text in links] == expected
