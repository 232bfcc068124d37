"""Free slots: weekly rules in the clinic's zone, minus time off and bookings, correct across DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.services.availability import free_slots, offered_slot
from tests.factories import (
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_schedule,
    gen_time_off,
)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def local_times(slots, timezone):
    return [s.starts_at.astimezone(ZoneInfo(timezone)).strftime("%H:%M") for s in slots]


def day_slots(doctor, day, not_before=LONG_AGO):
    return free_slots([doctor], day, day, not_before, use_cache=False)[doctor.id].get(day, [])


def doctor_in(timezone, start=time(0), end=time(6), slot=30):
    doctor = gen_doctor(gen_clinic(timezone=timezone))
    gen_schedule(doctor, start=start, end=end, slot=slot)
    return doctor


def assert_no_duplicates_and_ordered(slots):
    starts = [s.starts_at for s in slots]
    assert starts == sorted(set(starts))
    for s in slots:
        assert s.ends_at - s.starts_at == timedelta(minutes=30)


def test_new_york_spring_forward_has_no_slot_in_the_missing_hour(app_ctx):
    doctor = doctor_in("America/New_York")
    slots = day_slots(doctor, date(2026, 3, 8))
    times = local_times(slots, "America/New_York")
    assert "02:00" not in times and "02:30" not in times
    assert times == [
        "00:00",
        "00:30",
        "01:00",
        "01:30",
        "03:00",
        "03:30",
        "04:00",
        "04:30",
        "05:00",
        "05:30",
    ]
    assert_no_duplicates_and_ordered(slots)
    # 01:30 EST is 06:30 UTC; the next slot, 03:00 EDT, is 07:00 UTC.
    assert slots[3].starts_at == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert slots[4].starts_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_new_york_fall_back_produces_the_repeated_hour_once(app_ctx):
    doctor = doctor_in("America/New_York", end=time(4))
    slots = day_slots(doctor, date(2026, 11, 1))
    times = local_times(slots, "America/New_York")
    assert times == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    assert_no_duplicates_and_ordered(slots)
    assert slots[2].starts_at == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT, first pass
    assert slots[4].starts_at == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 02:00 EST


def test_berlin_spring_forward_and_fall_back(app_ctx):
    doctor = doctor_in("Europe/Berlin", start=time(1), end=time(5))
    spring = local_times(day_slots(doctor, date(2026, 3, 29)), "Europe/Berlin")
    assert "02:00" not in spring and "02:30" not in spring
    assert spring == ["01:00", "01:30", "03:00", "03:30", "04:00", "04:30"]
    autumn = day_slots(doctor, date(2026, 10, 25))
    assert local_times(autumn, "Europe/Berlin") == [
        "01:00",
        "01:30",
        "02:00",
        "02:30",
        "03:00",
        "03:30",
        "04:00",
        "04:30",
    ]
    assert_no_duplicates_and_ordered(autumn)


def test_a_half_hour_offset_zone(app_ctx):
    doctor = doctor_in("Asia/Kolkata", start=time(9), end=time(10))
    slots = day_slots(doctor, date(2026, 12, 7))
    assert [s.starts_at for s in slots] == [
        datetime(2026, 12, 7, 3, 30, tzinfo=UTC),
        datetime(2026, 12, 7, 4, 0, tzinfo=UTC),
    ]


def test_time_off_and_active_bookings_remove_slots_but_cancelled_ones_do_not(app_ctx):
    doctor = doctor_in("UTC", start=time(9), end=time(12))
    day = date(2030, 6, 3)
    at = lambda h, m=0: datetime(2030, 6, 3, h, m, tzinfo=UTC)  # noqa: E731
    gen_time_off(doctor, at(9), at(10))
    gen_appointment(gen_patient(), doctor, at(10, 30))
    gen_appointment(gen_patient(), doctor, at(11), status="cancelled")
    assert local_times(day_slots(doctor, day), "UTC") == ["10:00", "11:00", "11:30"]


def test_rules_apply_only_on_their_weekdays_and_validity(app_ctx):
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(
        doctor,
        weekdays=[0],
        start=time(9),
        end=time(10),
        valid_from=date(2030, 6, 3),
        valid_to=date(2030, 6, 10),
    )
    monday, tuesday, later_monday = date(2030, 6, 3), date(2030, 6, 4), date(2030, 6, 17)
    assert len(day_slots(doctor, monday)) == 2
    assert day_slots(doctor, tuesday) == []
    assert day_slots(doctor, later_monday) == []


def test_slots_before_now_plus_lead_time_are_not_offered(app_ctx):
    doctor = doctor_in("UTC", start=time(9), end=time(12))
    not_before = datetime(2030, 6, 3, 10, 15, tzinfo=UTC)
    assert local_times(day_slots(doctor, date(2030, 6, 3), not_before), "UTC") == [
        "10:30",
        "11:00",
        "11:30",
    ]


@pytest.mark.parametrize(
    ("starts_at", "offered"),
    [
        (datetime(2030, 6, 3, 9, 30, tzinfo=UTC), True),
        (datetime(2030, 6, 3, 9, 40, tzinfo=UTC), False),  # off the grid
        (datetime(2030, 6, 3, 12, 0, tzinfo=UTC), False),  # after hours
        (datetime(2030, 6, 3, 8, 0, tzinfo=UTC), False),  # before hours
    ],
)
def test_offered_slot_accepts_only_the_grid(app_ctx, starts_at, offered):
    doctor = doctor_in("UTC", start=time(9), end=time(12))
    assert (offered_slot(doctor, starts_at, LONG_AGO) is not None) is offered


def test_offered_slot_refuses_the_past_and_time_off(app_ctx):
    doctor = doctor_in("UTC", start=time(9), end=time(12))
    slot = datetime(2030, 6, 3, 9, 30, tzinfo=UTC)
    assert offered_slot(doctor, slot, slot + timedelta(minutes=1)) is None
    gen_time_off(doctor, slot, slot + timedelta(hours=1))
    assert offered_slot(doctor, slot, LONG_AGO) is None


# The day's grid is arithmetic on a fixed offset and its free slots one sweep over merged busy
# intervals; here against the obvious definitions, on random days and rules.


def _obvious_free_slots(calendar, day):
    """Every wall-clock step of every rule converted on its own, minus anything busy."""
    from portal.services.availability import local_instant
    from portal.services.slots import Slot

    grid = set()
    for rule in calendar.rules:
        step = timedelta(minutes=rule.slot_minutes)
        wall = datetime.combine(day, rule.start_time)
        while wall <= datetime.combine(day, rule.end_time) - step:
            starts = local_instant(day, wall.time(), ZoneInfo(calendar.timezone))
            if starts is not None:
                grid.add(Slot(starts, starts + step))
            wall += step
    return [
        slot
        for slot in sorted(grid)
        if not any(s < slot.ends_at and slot.starts_at < e for s, e in calendar.busy)
    ]


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", date(2026, 3, 8)),  # spring forward
        ("America/New_York", date(2026, 11, 1)),  # fall back
        ("Europe/Berlin", date(2026, 6, 10)),
        ("Asia/Kolkata", date(2026, 6, 10)),
    ],
)
def test_the_sweep_finds_exactly_the_slots_no_busy_interval_touches(zone, day):
    import random

    from portal.services.availability import DoctorCalendar, day_free_slots
    from portal.services.slots import Rule

    rng = random.Random(f"{zone}{day}")
    for _ in range(200):
        rules = [
            Rule(
                day.weekday(),
                time(rng.randrange(0, 12), rng.choice((0, 15, 30))),
                time(rng.randrange(12, 24), rng.choice((0, 30))),
                rng.choice((10, 15, 20, 30, 45)),
                day - timedelta(days=1),
                None,
            )
            for _ in range(rng.choice((1, 1, 2, 3)))
        ]
        midnight = datetime.combine(day, time.min, ZoneInfo(zone)).astimezone(UTC)
        busy = []
        for _ in range(rng.randrange(0, 25)):
            start = midnight + timedelta(minutes=rng.randrange(-120, 26 * 60))
            busy.append((start, start + timedelta(minutes=rng.randrange(1, 240))))
        half = len(busy) // 2
        calendar = DoctorCalendar(zone, rules, time_off=busy[:half], booked=busy[half:])
        assert day_free_slots(calendar, day) == _obvious_free_slots(calendar, day)
