"""Template filters that build markup themselves give what the template expressions they
replace gave."""

from datetime import UTC, datetime

import pytest
from flask import render_template_string

from portal.templating import time_tag

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
