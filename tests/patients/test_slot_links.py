"""The slot lists of search cards, the doctor's week and the booking page: their links are the
ones url_for builds, though they are put together once per list, not once per link."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import render_template_string, url_for

from portal.services.directory import ClinicCard, DoctorCard
from portal.services.slots import Slot

SLOT_DAYS = (
    '{% from "patients/_slots.html" import slot_days %}'
    "{{ slot_days(doctor, days, max_per_day=max_per_day) }}"
)


def render_days(app, timezone: str, max_per_day=None) -> tuple[str, DoctorCard, dict]:
    doctor = DoctorCard(
        7, "Dr. O'Brien & Sons", "Cardiology", Decimal("90.00"), ClinicCard(3, "C", "X", timezone)
    )
    first = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # the eve of Berlin's change of clocks
    days = {}
    for n in range(2):
        day = date(2026, 3, 29) + timedelta(days=n)
        days[day] = [
            Slot(
                first + timedelta(days=n, minutes=30 * i),
                first + timedelta(days=n, minutes=30 * (i + 1)),
            )
            for i in range(6)
        ]
    with app.test_request_context("/patient/search"):
        html = render_template_string(SLOT_DAYS, doctor=doctor, days=days, max_per_day=max_per_day)
        expected = {
            "book": [
                url_for("patients.book", doctor_id=doctor.id, starts_at=s.starts_at.isoformat())
                for slots in days.values()
                for s in (slots[:max_per_day] if max_per_day else slots)
            ],
            "more": [
                url_for("patients.doctor", doctor_id=doctor.id, date_from=day.isoformat())
                for day in days
            ],
        }
    return html, doctor, expected


def hrefs(html: str, css_class: str) -> list[str]:
    """The links of one class, in order, as a browser reads them."""
    links = re.findall(r'class="([^"]*)" href="([^"]+)"', html)
    return [href.replace("&amp;", "&") for classes, href in links if css_class in classes.split()]


def test_booking_links_are_exactly_url_fors(app):
    html, _, expected = render_days(app, "Europe/Berlin")
    assert hrefs(html, "slot") == expected["book"]
    assert all("%2B00:00" in href for href in expected["book"])  # the offset's "+" encoded


def test_more_times_links_are_exactly_url_fors(app):
    html, _, expected = render_days(app, "Europe/Berlin", max_per_day=4)
    assert hrefs(html, "more-times") == expected["more"]
    assert hrefs(html, "slot") == expected["book"]


def test_each_link_names_its_local_time_and_the_doctor_escaped(app):
    html, _, _ = render_days(app, "Europe/Berlin")
    labels = re.findall(r'aria-label="Book ([^"]+)">(\d\d:\d\d)<', html)
    # 23:30 UTC on the 28th is 00:30 CET; 01:30 UTC is 03:30 CEST, after the clocks moved.
    assert labels[0] == ("Sun 29 Mar 2026, 00:30 CET with Dr. O&#39;Brien &amp; Sons", "00:30")
    assert labels[4] == ("Sun 29 Mar 2026, 03:30 CEST with Dr. O&#39;Brien &amp; Sons", "03:30")
