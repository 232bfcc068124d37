"""A patient's appointment history: keyset pages, filters, bounded limits, scoped cursors, plans."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from portal.extensions import db
from portal.models import Appointment
from portal.services.history import (
    InvalidFilter,
    appointment_history,
    history_cursor_after,
    months_before,
    parse_date_filter,
    upcoming_visits,
)
from portal.services.pagination import BadCursor, BadLimit
from tests.factories import (
    gen_appointment,
    gen_bulk_appointments,
    gen_bulk_doctors,
    gen_bulk_patients,
    gen_clinic,
    gen_doctor,
    gen_patient,
)
from tests.query_plans import captured_select, plan_nodes

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def doctors(app_ctx):
    clinic = gen_clinic(timezone="Europe/Berlin")
    return [gen_doctor(clinic) for _ in range(3)]


def expected_order(patient_id: int, **where) -> list[int]:
    """The patient's appointment ids as the history must list them: newest first, then id."""
    query = select(Appointment.id).where(Appointment.patient_id == patient_id)
    for column, value in where.items():
        query = query.where(getattr(Appointment, column) == value)
    return list(
        db.session.scalars(query.order_by(Appointment.starts_at.desc(), Appointment.id.desc()))
    )


def walk(patient_id: int, limit: int, **filters) -> list[list[int]]:
    """Every page of a history, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        page = appointment_history(patient_id, limit=limit, cursor=cursor, **filters)
        pages.append([visit.id for visit in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def gen_history_with_ties(patient, doctors, visits=23, days_back=30):
    """Visits in groups of three, one per doctor, 2 hours apart; every other group shares one
    starts_at (ties the keyset must order by id), the others are 40 minutes apart."""
    start = NOW - timedelta(days=days_back)
    made = []
    for n in range(visits):
        group, member = divmod(n, 3)
        slot = start + timedelta(hours=2 * group, minutes=0 if group % 2 == 0 else 40 * member)
        made.append(gen_appointment(patient, doctors[member], slot, status="completed"))
    return made


def test_pages_walk_the_whole_history_newest_first_with_no_duplicates_and_no_gaps(doctors):
    patient = gen_patient()
    gen_history_with_ties(patient, doctors)
    gen_appointment(gen_patient(), doctors[0], NOW)  # someone else's visit stays out
    tied = db.session.execute(
        text(
            "SELECT count(*) FROM (SELECT starts_at FROM appointments WHERE patient_id = :p "
            "GROUP BY starts_at HAVING count(*) > 1) t"
        ),
        {"p": patient.id},
    ).scalar()
    assert tied > 0  # the walk crosses pages inside groups of equal starts_at
    pages = walk(patient.id, limit=4)
    walked = [visit_id for page in pages for visit_id in page]
    assert walked == expected_order(patient.id)
    assert len(walked) == len(set(walked)) == 23
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]


def test_a_page_holds_doctor_and_clinic_without_further_queries(app, doctors):
    patient = gen_patient()
    gen_history_with_ties(patient, doctors, visits=6)
    page = appointment_history(patient.id, limit=10)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        shown = [
            (v.doctor.full_name, v.doctor.clinic.name, v.doctor.clinic.timezone) for v in page.items
        ]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(shown) == 6 and statements == []


def test_one_page_is_one_query_whatever_the_page_size_or_the_history_length(app, doctors):
    small, large = gen_patient(), gen_patient()
    gen_history_with_ties(small, doctors, visits=5)
    gen_history_with_ties(large, doctors, visits=60, days_back=200)

    def statements_for(patient_id, limit):
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = appointment_history(patient_id, limit=limit)
            upcoming_visits(patient_id, now=NOW - timedelta(days=365), limit=limit)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return page, statements

    small_page, small_statements = statements_for(small.id, 5)
    large_page, large_statements = statements_for(large.id, 50)
    assert len(small_page.items) == 5 and len(large_page.items) == 50
    assert len(small_statements) == len(large_statements) == 2


def test_status_filter_lists_only_that_status_and_walks_it_whole(doctors):
    patient = gen_patient()
    for n in range(12):
        status = "cancelled" if n % 3 == 0 else "completed"
        gen_appointment(patient, doctors[0], NOW - timedelta(days=n + 1), status=status)
    pages = walk(patient.id, limit=2, status="cancelled")
    walked = [visit_id for page in pages for visit_id in page]
    assert walked == expected_order(patient.id, status="cancelled")
    assert len(walked) == 4


def test_date_filter_uses_the_calendar_day_of_each_clinic(app_ctx):
    patient = gen_patient()
    new_york = gen_doctor(gen_clinic(timezone="America/New_York"))
    tokyo = gen_doctor(gen_clinic(timezone="Asia/Tokyo"))
    # 03:30 UTC on 1 March is the evening of 28 February in New York.
    late_in_new_york = gen_appointment(patient, new_york, datetime(2026, 3, 1, 3, 30, tzinfo=UTC))
    # 20:00 UTC on 28 February is the morning of 1 March in Tokyo.
    early_in_tokyo = gen_appointment(patient, tokyo, datetime(2026, 2, 28, 20, 0, tzinfo=UTC))
    march = appointment_history(patient.id, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
    february = appointment_history(
        patient.id, date_from=date(2026, 2, 1), date_to=date(2026, 2, 28)
    )
    assert [v.id for v in march.items] == [early_in_tokyo.id]
    assert [v.id for v in february.items] == [late_in_new_york.id]
    only_to = appointment_history(patient.id, date_to=date(2026, 2, 28))
    only_from = appointment_history(patient.id, date_from=date(2026, 3, 1))
    assert [v.id for v in only_to.items] == [late_in_new_york.id]
    assert [v.id for v in only_from.items] == [early_in_tokyo.id]


def test_a_date_range_is_walked_whole_page_by_page(doctors):
    patient = gen_patient()
    for n in range(40):
        gen_appointment(patient, doctors[n % 3], NOW - timedelta(hours=9 * n), status="completed")
    filters = {"date_from": date(2026, 11, 20), "date_to": date(2026, 11, 25)}
    walked = [visit_id for page in walk(patient.id, limit=3, **filters) for visit_id in page]
    expected = [
        visit.id
        for visit in db.session.scalars(
            select(Appointment)
            .where(Appointment.patient_id == patient.id)
            .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
        )
        if date(2026, 11, 20)
        <= visit.starts_at.astimezone(doctors[0].clinic.zone).date()
        <= date(2026, 11, 25)
    ]
    assert walked == expected and len(walked) > 3


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01", "2026-02-30", "20261129", "2026-W48-1"])
def test_dates_that_do_not_parse_are_refused_with_a_message(raw):
    with pytest.raises(InvalidFilter) as error:
        parse_date_filter(raw, "from")
    assert error.value.field == "from"
    assert "2026-11-29" in error.value.message


def test_an_empty_date_is_no_filter():
    assert parse_date_filter("  ", "to") is None
    assert parse_date_filter("2026-11-29", "to") == date(2026, 11, 29)


def test_an_end_before_the_start_is_refused(app_ctx):
    with pytest.raises(InvalidFilter) as error:
        appointment_history(1, date_from=date(2026, 5, 2), date_to=date(2026, 5, 1))
    assert error.value.field == "to"


def test_dates_far_outside_any_history_are_refused_not_overflowed(app_ctx):
    with pytest.raises(InvalidFilter):
        appointment_history(1, date_to=date(9999, 12, 31))
    with pytest.raises(InvalidFilter):
        appointment_history(1, date_from=date(1, 1, 1))


def test_an_unknown_status_is_refused(app_ctx):
    with pytest.raises(InvalidFilter) as error:
        appointment_history(1, status="deleted")
    assert error.value.field == "status"


@pytest.mark.parametrize("limit", [0, -1, 10**6, "abc", 101, 2.5])
def test_limits_outside_1_to_100_are_refused(app_ctx, limit):
    with pytest.raises(BadLimit):
        appointment_history(1, limit=limit)
    with pytest.raises(BadLimit):
        upcoming_visits(1, now=NOW, limit=limit)


def test_limit_defaults_to_20_and_stops_at_100(doctors):
    patient = gen_patient()
    gen_bulk_appointments([patient.id], [d.id for d in doctors], 120, NOW)
    assert len(appointment_history(patient.id).items) == 20
    assert len(appointment_history(patient.id, limit=100).items) == 100


def test_a_tampered_cursor_is_refused(doctors):
    patient = gen_patient()
    gen_history_with_ties(patient, doctors, visits=6)
    cursor = appointment_history(patient.id, limit=2).next_cursor
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for bad in (tampered, "not-a-cursor", "x" * 600):
        with pytest.raises(BadCursor):
            appointment_history(patient.id, limit=2, cursor=bad)


def test_another_patients_cursor_is_refused(doctors):
    mine, theirs = gen_patient(), gen_patient()
    gen_history_with_ties(mine, doctors, visits=6)
    gen_appointment(theirs, doctors[0], NOW)
    cursor = appointment_history(mine.id, limit=2).next_cursor
    with pytest.raises(BadCursor):
        appointment_history(theirs.id, limit=2, cursor=cursor)


def test_a_cursor_from_another_filter_or_list_is_refused(doctors):
    patient = gen_patient()
    for n in range(6):
        gen_appointment(patient, doctors[0], NOW + timedelta(days=n - 3), status="cancelled")
    unfiltered = appointment_history(patient.id, limit=1).next_cursor
    with pytest.raises(BadCursor):
        appointment_history(patient.id, limit=1, cursor=unfiltered, status="cancelled")
    with pytest.raises(BadCursor):
        appointment_history(patient.id, limit=1, cursor=unfiltered, date_from=date(2026, 1, 1))
    upcoming = upcoming_visits(patient.id, now=NOW, limit=1).next_cursor
    with pytest.raises(BadCursor):
        appointment_history(patient.id, limit=1, cursor=upcoming)
    with pytest.raises(BadCursor):
        upcoming_visits(patient.id, now=NOW, limit=1, cursor=unfiltered)


def test_upcoming_visits_walk_soonest_first_from_now_on(doctors):
    patient = gen_patient()
    past = gen_appointment(patient, doctors[0], NOW - timedelta(hours=1))
    later = [
        gen_appointment(patient, doctors[n % 3], NOW + timedelta(hours=n // 2)) for n in range(7)
    ]
    pages, cursor = [], None
    while True:
        page = upcoming_visits(patient.id, now=NOW, limit=3, cursor=cursor)
        pages.extend(visit.id for visit in page.items)
        if not (cursor := page.next_cursor):
            break
    expected = [v.id for v in sorted(later, key=lambda v: (v.starts_at, v.id))]
    assert pages == expected and past.id not in pages


def test_since_stops_the_recent_walk_and_a_cursor_after_its_last_row_continues_older(doctors):
    patient = gen_patient()
    visits = [
        gen_appointment(patient, doctors[0], NOW - timedelta(days=days))
        for days in range(10, 400, 30)
    ]
    since = months_before(NOW, 6)
    recent = appointment_history(patient.id, limit=100, before=NOW, since=since)
    assert all(visit.starts_at >= since for visit in recent.items)
    assert recent.next_cursor is None
    older_cursor = history_cursor_after(patient.id, recent.items[-1])
    older = appointment_history(patient.id, limit=100, cursor=older_cursor)
    assert all(visit.starts_at < since for visit in older.items)
    shown = [v.id for v in recent.items] + [v.id for v in older.items]
    assert shown == [v.id for v in sorted(visits, key=lambda v: v.starts_at, reverse=True)]


def test_months_before_keeps_the_day_or_takes_the_month_end():
    assert months_before(datetime(2026, 8, 31, 9, tzinfo=UTC), 6) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert months_before(datetime(2026, 3, 15, tzinfo=UTC), 6) == datetime(2025, 9, 15, tzinfo=UTC)
    assert months_before(datetime(2028, 8, 29, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)


# Query plans over a few thousand rows: the history must be an index walk, never a sort.


@pytest.fixture
def thousands_of_appointments(app_ctx):
    """3,000 appointments of one patient among 9,000 of 60 patients, 300 doctors in 30 clinics,
    analyzed. (With a single clinic, a Seq Scan of its one-row table is the right plan.)"""
    doctor_ids = []
    for n in range(30):
        clinic = gen_clinic(timezone="Europe/Berlin" if n % 2 else "America/New_York")
        doctor_ids += gen_bulk_doctors(clinic, 10)
    patient_ids = gen_bulk_patients(60)
    heavy = patient_ids[0]
    latest = NOW + timedelta(days=60)
    # Two halves of the doctors, so the two series never overlap one doctor's visits.
    gen_bulk_appointments([heavy], doctor_ids[:150], 3000, latest)
    gen_bulk_appointments(patient_ids[1:], doctor_ids[150:], 6000, latest, step_minutes=31)
    db.session.execute(text("ANALYZE appointments, doctors, clinics, patients, users"))
    db.session.commit()
    return heavy


def assert_index_walk(nodes: list[dict], index: str, direction: str = "Forward") -> None:
    kinds = [node["Node Type"] for node in nodes]
    walks = [node for node in nodes if node.get("Index Name") == index]
    assert walks and walks[0]["Node Type"] == "Index Scan", kinds
    assert walks[0]["Scan Direction"] == direction
    assert "Seq Scan" not in kinds, kinds
    assert not any("Sort" in kind for kind in kinds), kinds


@pytest.mark.parametrize("status", [None, "cancelled"])
def test_history_pages_are_an_index_walk_with_no_sort_and_no_seq_scan(
    thousands_of_appointments, status
):
    patient_id = thousands_of_appointments
    first = captured_select(lambda: appointment_history(patient_id, limit=20, status=status))
    assert_index_walk(plan_nodes(*first), "ix_appointments_patient_starts")
    cursor = appointment_history(patient_id, limit=20, status=status).next_cursor
    deeper = appointment_history(patient_id, limit=20, cursor=cursor, status=status).next_cursor
    later = captured_select(
        lambda: appointment_history(patient_id, limit=20, cursor=deeper, status=status)
    )
    nodes = plan_nodes(*later)
    assert_index_walk(nodes, "ix_appointments_patient_starts")
    walk_node = next(n for n in nodes if n.get("Index Name") == "ix_appointments_patient_starts")
    # The keyset is one row comparison inside the index condition, not a filter afterwards.
    assert "ROW(starts_at, id) <" in walk_node["Index Cond"]


def test_upcoming_visits_walk_the_same_index_backward(thousands_of_appointments):
    patient_id = thousands_of_appointments
    statement = captured_select(
        lambda: upcoming_visits(patient_id, now=NOW - timedelta(days=60), limit=20)
    )
    assert_index_walk(plan_nodes(*statement), "ix_appointments_patient_starts", "Backward")
