"""Whole search result lists from the cache: served again while nothing they show changed,
never after a booking, a cancellation or a change of weekly rules touches them."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis import Redis

from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, Doctor, User
from portal.services.availability_cache import appointment_changed, invalidate_doctor
from portal.services.staff import deactivate_doctor
from tests.factories import gen_admin, gen_appointment, gen_patient
from tests.patients.test_search_and_booking_pages import (
    count_statements,
    make_doctors,
    search,
    tomorrow,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def patient_client(client, auth):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    return client


def fragment_keys(kind: str = "results") -> list[bytes]:
    """The cache's keys of kept result lists, or of kept cards (kind "card")."""
    return Redis.from_url(TestConfig.REDIS_URL).keys(f"{TestConfig.CACHE_KEY_PREFIX}frag:{kind}:*")


def slot_links(html: str) -> list[str]:
    return re.findall(r'href="(/patient/book\?[^"]+)"', html)


def free_times(client) -> int:
    """Free times tomorrow as the one card shows them: the links plus its "+N more"."""
    html = search(client, date_from=tomorrow(), date_to=tomorrow()).get_data(as_text=True)
    more = re.search(r"\+(\d+) more", html)
    return len(slot_links(html)) + (int(more.group(1)) if more else 0)


def first_slot_tomorrow() -> datetime:
    day = datetime.fromisoformat(tomorrow()).date()
    return datetime.combine(day, time(9), NEW_YORK).astimezone(UTC)


def test_a_repeated_search_is_served_from_the_results_cache(patient_client):
    make_doctors(3)
    first = search(patient_client).get_data(as_text=True)
    assert len(fragment_keys()) == 1
    second = search(patient_client).get_data(as_text=True)
    # The page around the list carries a fresh form token; the list is the same.
    assert second.split('id="results"')[1] == first.split('id="results"')[1]
    assert len(fragment_keys()) == 1  # the same list, the same key: nothing rendered again


def test_a_booking_changes_the_list_at_once(patient_client, app):
    (doctor,) = make_doctors(1)
    taken = first_slot_tomorrow()
    shown = search(patient_client, date_from=tomorrow(), date_to=tomorrow()).get_data(as_text=True)
    assert any(taken.isoformat().replace("+", "%2B") in link for link in slot_links(shown))
    before = free_times(patient_client)
    with app.app_context():
        patient = gen_patient()
        gen_appointment(patient, doctor, taken)
        appointment_changed(doctor.id, taken, "America/New_York")  # what booking does on commit
    assert free_times(patient_client) == before - 1
    shown = search(patient_client, date_from=tomorrow(), date_to=tomorrow()).get_data(as_text=True)
    assert not any(taken.isoformat().replace("+", "%2B") in link for link in slot_links(shown))


def test_a_cancellation_brings_the_slot_back(patient_client, app):
    (doctor,) = make_doctors(1)
    taken = first_slot_tomorrow()
    appointment = gen_appointment(gen_patient(), doctor, taken)
    before = free_times(patient_client)
    with app.app_context():
        db.session.get(Appointment, appointment.id).status = "cancelled"
        db.session.commit()
        appointment_changed(doctor.id, taken, "America/New_York")
    assert free_times(patient_client) == before + 1


def test_new_weekly_rules_change_the_list(patient_client, app):
    (doctor,) = make_doctors(1)
    before = free_times(patient_client)
    with app.app_context():
        db.session.execute(
            db.text("UPDATE doctor_schedules SET end_time = '12:00' WHERE doctor_id = :id"),
            {"id": doctor.id},
        )
        db.session.commit()
        invalidate_doctor(doctor.id)  # what the rules service does on commit
    assert free_times(patient_client) < before


def test_an_infinite_scroll_request_gets_only_the_new_cards(patient_client):
    make_doctors(3)
    html = search(patient_client, limit=2).get_data(as_text=True)
    more = re.search(r'hx-get="([^"]+cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    rows = patient_client.get(more, headers={"HX-Request": "true"})
    assert rows.status_code == 200
    fragment = rows.get_data(as_text=True)
    assert fragment.count('class="doctor-result"') == 1
    assert "<form" not in fragment  # the rows alone, not the page
    again = patient_client.get(more, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert again == fragment


def test_the_cache_steps_aside_when_the_availability_cache_is_off(patient_client, app):
    make_doctors(2)
    cached_page = search(patient_client).get_data(as_text=True)
    assert len(fragment_keys("card")) == 2
    Redis.from_url(TestConfig.REDIS_URL).delete(*fragment_keys(), *fragment_keys("card"))
    app.config["AVAILABILITY_CACHE_ENABLED"] = False
    try:
        uncached = search(patient_client)
    finally:
        app.config["AVAILABILITY_CACHE_ENABLED"] = True
    assert uncached.status_code == 200
    # Nothing of the search is kept: no list, no card (uncached means uncached through).
    assert fragment_keys() == [] and fragment_keys("card") == []
    assert slot_links(uncached.get_data(as_text=True)) == slot_links(cached_page)
    assert uncached.get_data(as_text=True).count('class="doctor-result"') == 2


def test_slots_inside_the_lead_time_are_not_served_from_an_older_list(patient_client, app):
    make_doctors(1)
    search(patient_client)
    # The key carries the minute the lead time starts at: a later request cannot share it.
    lead = app.config["BOOKING_LEAD_TIME"]
    app.config["BOOKING_LEAD_TIME"] = lead + timedelta(minutes=5)
    try:
        search(patient_client)
    finally:
        app.config["BOOKING_LEAD_TIME"] = lead
    assert len(fragment_keys()) == 2


def test_a_booking_changes_only_the_lists_that_show_its_doctor_day(patient_client, app):
    (doctor,) = make_doctors(1)
    make_doctors(1, city="Shelbyville")
    make_doctors(1, specialization="Dermatology")
    later = (datetime.fromisoformat(tomorrow()) + timedelta(days=3)).date().isoformat()
    searches = [
        {},  # Cardiology in Springfield, tomorrow to next week: shows the booked day
        {"city": "Shelbyville"},
        {"specialization": "Dermatology"},
        {"date_from": later},  # the same area, but not the booked day
    ]
    pages = [search(patient_client, **params).get_data(as_text=True) for params in searches]
    redis = Redis.from_url(TestConfig.REDIS_URL)
    kept = {key: redis.get(key) for key in fragment_keys()}
    assert len(kept) == 4
    with app.app_context():
        gen_appointment(gen_patient(), doctor, first_slot_tomorrow())
        appointment_changed(doctor.id, first_slot_tomorrow(), "America/New_York")
    again = [search(patient_client, **params).get_data(as_text=True) for params in searches]
    # One list made again, in the place of the one it supersedes; three served as they were.
    kept_again = {key: redis.get(key) for key in fragment_keys()}
    assert kept_again.keys() == kept.keys()
    assert sum(kept_again[key] != kept[key] for key in kept) == 1
    lists = [page.split('id="results"')[1] for page in pages]
    assert [page.split('id="results"')[1] for page in again][1:] == lists[1:]
    assert again[0].split('id="results"')[1] != lists[0]


def test_a_repeated_search_reads_neither_the_doctors_nor_their_days(patient_client, app):
    make_doctors(3)
    search(patient_client)
    response, statements = count_statements(app, lambda: search(patient_client))
    assert response.status_code == 200
    assert "Dr. Doctor" in response.get_data(as_text=True)
    assert len(statements) == 1  # the signed-in user, as on every page
    tables = ("doctor_schedules", "schedule_exceptions", "appointments", "consultation_fee")
    assert not any(table in statements[0] for table in tables)


def redis_commands(redis: Redis) -> int:
    """Commands the test Redis server has run, but INFO (nothing else talks to it meanwhile)."""
    stats = redis.info("commandstats")
    return sum(entry["calls"] for name, entry in stats.items() if name != "cmdstat_info")


def test_a_repeated_search_makes_two_round_trips_to_redis_however_many_doctors(
    patient_client,
):
    make_doctors(3, city="Springfield")
    make_doctors(30, city="Shelbyville")
    redis = Redis.from_url(TestConfig.REDIS_URL)  # one connection, opened before counting
    counts = []
    for city in ("Springfield", "Shelbyville"):
        search(patient_client, city=city)
        before = redis_commands(redis)
        assert search(patient_client, city=city).status_code == 200
        counts.append(redis_commands(redis) - before)
    # The session; then the form's catalogue, the area's versions and the list in one MGET.
    # No card, no doctor-day.
    assert counts == [2, 2]


def test_a_deactivated_doctor_leaves_the_list_at_once(patient_client, app):
    kept, gone = make_doctors(2)
    assert gone.full_name in search(patient_client).get_data(as_text=True)
    with app.app_context():
        clinic = db.session.get(Doctor, gone.id).clinic
        deactivate_doctor(db.session.get(User, gen_admin(clinic).id), gone.id)
    html = search(patient_client).get_data(as_text=True)
    assert kept.full_name in html
    assert gone.full_name not in html
