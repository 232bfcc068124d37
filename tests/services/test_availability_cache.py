"""The availability cache: exact invalidation, warm-up, fallback, and equality with the database."""

import json
import logging
import random
import socket
import threading
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import current_app
from sqlalchemy import event

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, Clinic, User
from portal.services.availability import free_slots, local_dates
from portal.services.availability_cache import CachedDays
from portal.services.booking import (
    BookingError,
    BookingRequest,
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
)
from portal.services.rules import (
    CollisionsToDecide,
    RuleInput,
    ScheduleInvalid,
    add_rule,
    add_time_off,
    colliding_appointments,
    delete_rule,
    doctor_rules,
)
from portal.services.search import SearchCriteria, cities, forget_catalogue, specializations
from portal.services.search_results import cached_search
from portal.services.warmup import warm_availability
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_schedule,
)

NOW = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
DAYS = [date(2030, 6, 3), date(2030, 6, 4), date(2030, 6, 5)]


def make_doctor(timezone="UTC"):
    doctor = gen_doctor(gen_clinic(timezone=timezone))
    gen_schedule(doctor, start=time(9), end=time(12), slot=30)
    return doctor


def cached_and_uncached(doctors, not_before=NOW):
    cached = free_slots(doctors, DAYS[0], DAYS[-1], not_before)
    uncached = free_slots(doctors, DAYS[0], DAYS[-1], not_before, use_cache=False)
    return cached, uncached


def test_a_booking_invalidates_exactly_its_doctor_and_day(app_ctx):
    first, second = make_doctor(), make_doctor()
    free_slots([first, second], DAYS[0], DAYS[-1], NOW)  # warm
    assert CachedDays([first.id, second.id], DAYS).misses() == []
    book_appointment(
        BookingRequest(gen_patient().id, first.id, datetime(2030, 6, 4, 10, 0, tzinfo=UTC)), NOW
    )
    assert CachedDays([first.id, second.id], DAYS).misses() == [(first.id, DAYS[1])]


def test_the_day_is_the_clinic_local_day(app_ctx):
    doctor = gen_doctor(gen_clinic(timezone="Asia/Kolkata"))
    gen_schedule(doctor, start=time(0), end=time(6), slot=30)
    free_slots([doctor], DAYS[0], DAYS[-1], NOW)
    # 04:00 local on June 4th is 22:30 UTC on June 3rd.
    book_appointment(
        BookingRequest(gen_patient().id, doctor.id, datetime(2030, 6, 3, 22, 30, tzinfo=UTC)), NOW
    )
    assert CachedDays([doctor.id], DAYS).misses() == [(doctor.id, DAYS[1])]


def test_cancel_and_reschedule_keep_the_cache_equal_to_the_database(app_ctx):
    doctor = make_doctor()
    patient = gen_patient()
    user = db.session.get(User, patient.user_id)
    appointment = book_appointment(
        BookingRequest(patient.id, doctor.id, datetime(2030, 6, 3, 9, 0, tzinfo=UTC)), NOW
    )
    cached, uncached = cached_and_uncached([doctor])
    assert cached == uncached
    moved = reschedule_appointment(
        appointment.id, user, datetime(2030, 6, 5, 11, 0, tzinfo=UTC), NOW
    )
    cached, uncached = cached_and_uncached([doctor])
    assert cached == uncached
    cancel_appointment(moved.id, user, NOW)
    cached, uncached = cached_and_uncached([doctor])
    assert cached == uncached
    assert len(cached[doctor.id][DAYS[2]]) == 6


def test_a_stale_entry_can_show_a_taken_slot_but_never_book_it(app_ctx):
    doctor = make_doctor()
    slot = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)
    free_slots([doctor], DAYS[0], DAYS[-1], NOW)
    gen_appointment(gen_patient(), doctor, slot)  # written behind the cache's back
    shown = free_slots([doctor], DAYS[0], DAYS[-1], NOW)[doctor.id][DAYS[0]]
    assert shown[0].starts_at == slot  # stale: still offered
    with pytest.raises(BookingError) as taken:
        book_appointment(BookingRequest(gen_patient().id, doctor.id, slot), NOW)
    assert taken.value.code == "slot_taken"
    assert db.session.query(Appointment).count() == 1


def test_past_slots_are_filtered_on_every_read_of_a_warm_entry(app_ctx):
    doctor = make_doctor()
    free_slots([doctor], DAYS[0], DAYS[-1], NOW)
    later = datetime(2030, 6, 3, 10, 45, tzinfo=UTC)
    cached, uncached = cached_and_uncached([doctor], not_before=later)
    assert cached == uncached
    assert cached[doctor.id][DAYS[0]][0].starts_at == datetime(2030, 6, 3, 11, 0, tzinfo=UTC)


def test_warm_up_fills_every_active_doctor_once(app_ctx):
    doctors = [make_doctor() for _ in range(3)]
    first = warm_availability(DAYS[0], days=3, batch_size=2)
    assert (first.doctors, first.entries_filled) == (3, 9)
    second = warm_availability(DAYS[0], days=3, batch_size=2)
    assert (second.entries_filled, second.entries_already_warm) == (0, 9)
    assert CachedDays([d.id for d in doctors], DAYS).misses() == []


def test_with_redis_down_search_reads_the_database_and_logs_once(app, caplog):
    class CacheDown(TestConfig):
        REDIS_URL = "redis://127.0.0.1:1/0"
        REDIS_SOCKET_TIMEOUT = 0.2

    with app.app_context():
        doctor = make_doctor()
        expected = free_slots([doctor], DAYS[0], DAYS[-1], NOW, use_cache=False)
    down = create_app(CacheDown)
    caplog.set_level(logging.ERROR, logger="portal.services.availability_cache")
    with down.app_context():
        doctor = db.session.merge(doctor)
        for _ in range(3):
            assert free_slots([doctor], DAYS[0], DAYS[-1], NOW) == expected
    outage_lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_lines) == 1
    with app.app_context():  # back: the next call logs the recovery and uses the cache
        free_slots([doctor], DAYS[0], DAYS[-1], NOW)
        assert CachedDays([doctor.id], DAYS).misses() == []


def search_pages(criteria: SearchCriteria) -> list[str]:
    """Every page of a search (two doctors a page), as cached_search gives them."""
    pages, cursor = [], None
    while True:
        page = cached_search(
            criteria, kind="test", limit=2, cursor=cursor, now=NOW, make=describe_page
        )
        pages.append(page)
        cursor = json.loads(page)["next"]
        if cursor is None:
            return pages


def describe_page(page) -> str:
    items = [
        [
            r.doctor.id,
            {d.isoformat(): [s.starts_at.isoformat() for s in v] for d, v in r.days.items()},
        ]
        for r in page.items
    ]
    return json.dumps({"items": items, "next": page.next_cursor})


def uncached_search_pages(criteria: SearchCriteria) -> list[str]:
    current_app.config["AVAILABILITY_CACHE_ENABLED"] = False
    try:
        return search_pages(criteria)
    finally:
        current_app.config["AVAILABILITY_CACHE_ENABLED"] = True


def random_change(rng, doctors, patients, users, admins, cached) -> str | None:
    """One booking, cancellation, reschedule, weekly-rule change or time off, through the
    services (which invalidate as they do in production); what it did, if anything."""
    doctor = rng.choice(doctors)
    free = [s for day in cached[doctor.id].values() for s in day]
    scheduled = db.session.query(Appointment).filter_by(status="scheduled").all()
    action = rng.choice(["book", "book", "cancel", "reschedule", "rule", "time_off"])
    admin = admins[doctor.id]
    if action == "book" and free:
        patient = rng.choice(patients)
        book_appointment(BookingRequest(patient.id, doctor.id, rng.choice(free).starts_at), NOW)
        return action
    if action == "cancel" and scheduled:
        victim = rng.choice(scheduled)
        cancel_appointment(victim.id, users[victim.patient_id], NOW)
        return action
    if action == "reschedule" and scheduled:
        victim = rng.choice(scheduled)
        targets = [s for day in cached[victim.doctor_id].values() for s in day]
        if targets:
            reschedule_appointment(
                victim.id, users[victim.patient_id], rng.choice(targets).starts_at, NOW
            )
            return action
    if action == "rule":
        rules = doctor_rules(doctor.id)
        if rules and rng.random() < 0.5:
            delete_rule(admin, rng.choice(rules).id)
            return "delete rule"
        start = rng.choice([time(7), time(12), time(13), time(15)])
        rule = RuleInput(rng.choice(DAYS).weekday(), start, time(start.hour + 2), 30, DAYS[0])
        add_rule(admin, doctor.id, rule)
        return action
    if action == "time_off":
        starts_at = datetime.combine(rng.choice(DAYS), time(rng.randrange(0, 22)), UTC)
        ends_at = starts_at + timedelta(hours=rng.choice([1, 2, 30]))
        inside = colliding_appointments(doctor.id, starts_at, ends_at)
        add_time_off(
            admin,
            doctor.id,
            starts_at,
            ends_at,
            "random",
            NOW,
            decision=rng.choice(["keep", "cancel"]),
            seen_ids=frozenset(a.id for a in inside),
        )
        return action
    return None


def test_a_random_sequence_of_changes_never_lets_the_cache_drift(app_ctx):
    """After every change, the cached days and every cached search page equal the database."""
    rng = random.Random(20261129)
    doctors = [make_doctor(tz) for tz in ("UTC", "America/New_York", "Europe/Berlin")]
    doctors.append(make_doctor("Asia/Kolkata"))
    admins = {d.id: gen_admin(db.session.get(Clinic, d.clinic_id)) for d in doctors}
    patients = [gen_patient() for _ in range(6)]
    users = {p.id: db.session.get(User, p.user_id) for p in patients}
    criteria = SearchCriteria("Cardiology", DAYS[0], DAYS[-1], city="New York")
    done = Counter()
    for step in range(80):
        cached, uncached = cached_and_uncached(doctors)
        assert cached == uncached, f"step {step}"
        assert search_pages(criteria) == uncached_search_pages(criteria), f"step {step}"
        try:
            done[random_change(rng, doctors, patients, users, admins, cached)] += 1
        except (BookingError, ScheduleInvalid, CollisionsToDecide):
            db.session.rollback()  # refused, and nothing changed
    assert db.session.query(Appointment).count() > 10
    kinds = {"book", "cancel", "reschedule", "rule", "delete rule", "time_off"}
    assert kinds <= set(done), done  # every kind of change happened, and was checked after


def test_local_dates_are_inclusive():
    assert local_dates(DAYS[0], DAYS[-1]) == DAYS
    assert local_dates(DAYS[0], DAYS[0] + timedelta(days=0)) == [DAYS[0]]


@contextmanager
def hanging_redis():
    """A TCP port that accepts connections and never answers; yields (url, accepted count)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept():
        with suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0", accepted
    finally:
        server.close()
        for connection in accepted:
            connection.close()


def test_a_hanging_cache_redis_is_tried_once_then_skipped(app):
    """With the cache's own Redis hanging, the first call finds out (a socket timeout) and the
    cache's next calls fail at once: searches answer from the database without waiting."""
    with app.app_context():
        doctor = make_doctor()
        expected = free_slots([doctor], DAYS[0], DAYS[-1], NOW, use_cache=False)
    with hanging_redis() as (url, accepted):

        class CacheHangs(TestConfig):
            CACHE_REDIS_URL = url
            REDIS_SOCKET_TIMEOUT = 0.2
            CACHE_RETRY_SECONDS = 300

        with create_app(CacheHangs).app_context():
            doctor = db.session.merge(doctor)
            for _ in range(3):
                assert free_slots([doctor], DAYS[0], DAYS[-1], NOW) == expected
            criteria = SearchCriteria("Cardiology", DAYS[0], DAYS[-1], city="New York")
            assert search_pages(criteria) == uncached_search_pages(criteria)
        assert len(accepted) == 1  # without the breaker: every read, write and retry


def test_with_the_cache_down_the_catalogue_is_read_once_not_on_every_page(app):
    class CacheDown(TestConfig):
        CACHE_REDIS_URL = "redis://127.0.0.1:1/0"
        REDIS_SOCKET_TIMEOUT = 0.2

    with app.app_context():
        make_doctor()
    down = create_app(CacheDown)
    statements = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with down.app_context():
        forget_catalogue()  # whatever an earlier test left in this process
        event.listen(db.engine, "before_cursor_execute", note)
    try:
        for _ in range(3):  # three pages, each with an app context of its own
            with down.app_context():
                assert specializations() == ["Cardiology"]
                assert cities() == ["New York"]
        assert sum("DISTINCT" in s for s in statements) == 2  # once for both lists
        with down.app_context():
            forget_catalogue()  # a doctor added: this process reads the lists again
            specializations()
        assert sum("DISTINCT" in s for s in statements) == 4
    finally:
        with down.app_context():
            event.remove(db.engine, "before_cursor_execute", note)
            forget_catalogue()
