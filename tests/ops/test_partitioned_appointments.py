"""Appointments partitioned by month (portal/partitioning.py), in a database of their own.

The migration path runs on a migrated database with thousands of appointments; then the
history's keyset queries, exactly as portal/services/history.py sends them, must still be
index walks on every partition they touch, with no Seq Scan and no Sort, and time bounds must
prune partitions. No double booking across a month boundary either.
"""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.partitioning import GUARD, add_months, month_start, months, partition_name
from portal.services.history import appointment_history, months_before, upcoming_visits
from tests.conftest import _admin_dsn, recreate_database
from tests.factories import gen_bulk_appointments, gen_bulk_doctors, gen_bulk_patients, gen_clinic
from tests.query_plans import captured_select, plan_nodes

NOW = datetime.now(UTC).replace(microsecond=0)
HEAVY_ROWS = 3000


@pytest.fixture(scope="module")
def partitioned():
    """A database of our own: migrated, 9,000 appointments over four years, then partitioned."""
    url = make_url(TestConfig.SQLALCHEMY_DATABASE_URI)
    url = url.set(database=f"{url.database}_partitioned").render_as_string(hide_password=False)
    recreate_database(url)

    class Partitioned(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(Partitioned)
    with app.app_context():
        upgrade()
        doctor_ids = []
        for n in range(30):  # several clinics: a Seq Scan of a one-row table would be right
            clinic = gen_clinic(timezone="Europe/Berlin" if n % 2 else "America/New_York")
            doctor_ids += gen_bulk_doctors(clinic, 10)
        patient_ids = gen_bulk_patients(60)
        latest = NOW + timedelta(days=60)
        # The heavy patient: a visit every 12 hours 7 minutes, back about 50 months.
        gen_bulk_appointments([patient_ids[0]], doctor_ids[:150], HEAVY_ROWS, latest, 727)
        gen_bulk_appointments(patient_ids[1:], doctor_ids[150:], 6000, latest, 241)
        before = db.session.scalar(text("SELECT count(*) FROM appointments"))
        db.session.remove()
    result = app.test_cli_runner().invoke(
        args=["db", "partition-appointments", "--yes", "--months-ahead", "6"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM appointments")) == before
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        spare_doctors = gen_bulk_doctors(gen_clinic(), 3)  # for the boundary tests
        db.session.remove()
    yield app, patient_ids[0], spare_doctors
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture
def partitioned_ctx(partitioned):
    app, heavy, doctors = partitioned
    with app.app_context():
        yield heavy, doctors
        db.session.rollback()
        db.session.execute(
            text("DELETE FROM appointments WHERE doctor_id = ANY(:d)"), {"d": doctors}
        )
        db.session.commit()


def partition_scans(nodes: list[dict]) -> list[dict]:
    return [n for n in nodes if n.get("Relation Name", "").startswith("appointments_p")]


def assert_index_walks_only(nodes: list[dict]) -> list[dict]:
    """Each partition touched is read through its copy of ix_appointments_patient_starts;
    nothing is read whole and nothing is sorted. Returns the partition scans."""
    kinds = [node["Node Type"] for node in nodes]
    assert "Seq Scan" not in kinds, kinds
    assert not any("Sort" in kind for kind in kinds), kinds  # an ordered Append, not a sort
    scans = partition_scans(nodes)
    assert scans
    for scan in scans:
        assert scan["Node Type"] == "Index Scan", scan
        assert scan["Index Name"].endswith("_patient_id_starts_at_id_idx"), scan
    return scans


def months_between(start: datetime, end: datetime) -> set[str]:
    return {partition_name(m) for m in months(month_start(start), month_start(end))}


def test_the_conversion_keeps_the_indexes_and_makes_monthly_partitions(partitioned_ctx):
    indexes = set(
        db.session.scalars(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'appointments'")
        )
    )
    assert {"ix_appointments_patient_starts", "ix_appointments_doctor_starts"} <= indexes
    names = set(
        db.session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'appointments'::regclass"
            )
        )
    )
    assert len(names) > 50  # about four years of history, two months ahead, six more
    assert partition_name(month_start(NOW)) in names
    constraints = set(
        db.session.scalars(
            text("SELECT conname FROM pg_constraint WHERE contype = 'x' AND conname LIKE 'ex_%'")
        )
    )
    assert {f"ex_{name}_no_overlap" for name in names} <= constraints


def assert_reading_stops_at_the_page(page, scans: list[dict]) -> None:
    """The ordered Append reads the months newest first and stops once the page is full:
    nothing older than the month of the row after the page is ever executed."""
    read = {s["Relation Name"] for s in scans if s.get("Actual Loops", 0) > 0}
    oldest_shown = month_start(page.items[-1].starts_at)
    assert partition_name(oldest_shown) in read
    assert min(read) >= partition_name(add_months(oldest_shown, -1))
    assert len(read) < len(scans)


def test_the_first_history_page_walks_the_newest_partitions_and_stops(partitioned_ctx):
    heavy, _ = partitioned_ctx
    page = appointment_history(heavy, limit=20)
    nodes = plan_nodes(*captured_select(lambda: appointment_history(heavy, limit=20)), analyze=True)
    # Without a time bound every month is in the plan, each an index walk...
    scans = assert_index_walks_only(nodes)
    assert len(scans) > 50
    # ...but only the newest are read.
    assert_reading_stops_at_the_page(page, scans)


def test_a_time_bound_prunes_partitions(partitioned_ctx):
    heavy, _ = partitioned_ctx
    since = months_before(NOW, 6)
    recent = captured_select(lambda: appointment_history(heavy, limit=20, before=NOW, since=since))
    scans = assert_index_walks_only(plan_nodes(*recent))
    assert {s["Relation Name"] for s in scans} == months_between(since, NOW)

    day = (NOW - timedelta(days=400)).date()
    dated = captured_select(lambda: appointment_history(heavy, date_from=day, date_to=day))
    # A local calendar day, widened to UTC-12..UTC+14: one or two months, never the rest. (How
    # the month is read is the planner's call: here a partition is a few pages, and reading
    # one whole for the two rows of that day is right. At full size it is an index scan.)
    assert len(partition_scans(plan_nodes(*dated))) <= 2


def test_upcoming_visits_read_only_the_months_from_now_on(partitioned_ctx):
    heavy, _ = partitioned_ctx
    upcoming = captured_select(lambda: upcoming_visits(heavy, now=NOW, limit=20))
    scans = assert_index_walks_only(plan_nodes(*upcoming))
    assert all(s["Scan Direction"] == "Backward" for s in scans)
    assert partition_name(add_months(month_start(NOW), -1)) not in {
        s["Relation Name"] for s in scans
    }


def test_a_deep_page_is_an_index_walk_and_reads_no_older_month_than_it_shows(partitioned_ctx):
    heavy, _ = partitioned_ctx
    cursor = appointment_history(heavy, limit=100).next_cursor
    for _ in range(9):  # 1,000 rows deep, about 16 months back
        cursor = appointment_history(heavy, limit=100, cursor=cursor).next_cursor
    page = appointment_history(heavy, limit=20, cursor=cursor)
    nodes = plan_nodes(
        *captured_select(lambda: appointment_history(heavy, limit=20, cursor=cursor)), True
    )
    scans = assert_index_walks_only(nodes)
    assert any("ROW(starts_at, id) <" in s["Index Cond"] for s in scans)
    assert_reading_stops_at_the_page(page, scans)


def test_a_deep_page_prunes_the_months_newer_than_its_cursor(partitioned_ctx):
    heavy, _ = partitioned_ctx
    cursor = appointment_history(heavy, limit=100).next_cursor
    for _ in range(9):
        cursor = appointment_history(heavy, limit=100, cursor=cursor).next_cursor
    page = appointment_history(heavy, limit=20, cursor=cursor)
    scans = partition_scans(
        plan_nodes(*captured_select(lambda: appointment_history(heavy, cursor=cursor)))
    )
    newest_possible = partition_name(month_start(page.items[0].starts_at))
    assert max(s["Relation Name"] for s in scans) <= newest_possible


# No double booking across a month boundary (the guard trigger).


def boundary() -> datetime:
    """Midnight UTC at the start of a month with partitions on both sides and no other rows."""
    month = add_months(month_start(NOW), 5)
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def insert(doctor_id: int, starts_at: datetime, minutes: int = 30, status: str = "scheduled"):
    return db.session.execute(
        text(
            "INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status, kind,"
            " created_at, updated_at) VALUES (1, :doctor, :starts, :ends, :status,"
            " 'in_person', now(), now()) RETURNING id"
        ),
        {
            "doctor": doctor_id,
            "starts": starts_at,
            "ends": starts_at + timedelta(minutes=minutes),
            "status": status,
        },
    ).scalar()


def refused(action) -> str:
    """The SQLSTATE of the error `action` raised (and the transaction rolled back)."""
    with pytest.raises(Exception) as caught:
        action()
        db.session.commit()
    db.session.rollback()
    return getattr(caught.value.orig, "sqlstate", None)


@pytest.mark.parametrize("crossing_first", [True, False])
def test_a_visit_across_the_month_boundary_is_refused_like_any_overlap(
    partitioned_ctx, crossing_first
):
    _, (doctor, other_doctor, _) = partitioned_ctx
    crossing = (boundary() - timedelta(minutes=15), 45)  # 23:45-00:30, New York's 18:45-19:30
    after = (boundary(), 30)  # 00:00-00:30 in the next month's partition
    first, second = (crossing, after) if crossing_first else (after, crossing)
    insert(doctor, *first)
    db.session.commit()
    assert refused(lambda: insert(doctor, *second)) == "23P01"  # the booking service's 409
    insert(other_doctor, *second)  # another doctor's visit is no conflict
    insert(doctor, boundary() + timedelta(minutes=30))  # nor is the next slot
    db.session.commit()


def test_cancelled_visits_and_moves_across_the_boundary_are_judged_too(partitioned_ctx):
    _, (doctor, _, _) = partitioned_ctx
    crossing = insert(doctor, boundary() - timedelta(minutes=15), 45)
    elsewhere = insert(doctor, boundary() - timedelta(days=10))
    db.session.commit()
    move = text(
        "UPDATE appointments SET starts_at = :s, ends_at = :s + interval '30 minutes' WHERE id = :id"
    )
    # A reschedule that moves the row into the next month's partition, onto the crossing visit.
    assert refused(lambda: db.session.execute(move, {"s": boundary(), "id": elsewhere})) == "23P01"
    db.session.execute(
        text("UPDATE appointments SET status = 'cancelled' WHERE id = :id"), {"id": crossing}
    )
    db.session.execute(move, {"s": boundary(), "id": elsewhere})  # the slot is free now
    db.session.commit()


def test_two_conflicting_bookings_on_both_sides_of_the_boundary_commit_one(
    partitioned_ctx, partitioned
):
    app, _, _ = partitioned
    _, (doctor, _, _) = partitioned_ctx
    dsn = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=False)
    sql = (
        "INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status, kind,"
        " created_at, updated_at) VALUES (1, %s, %s, %s, 'scheduled', 'in_person', now(), now())"
    )
    outcome = {}
    with psycopg.connect(dsn) as first, psycopg.connect(dsn, autocommit=True) as watcher:
        first.execute(
            sql, (doctor, boundary() - timedelta(minutes=15), boundary() + timedelta(minutes=30))
        )

        def second_booking():
            with psycopg.connect(dsn) as second:
                try:
                    second.execute(sql, (doctor, boundary(), boundary() + timedelta(minutes=30)))
                    second.commit()
                    outcome["second"] = "committed"
                except psycopg.Error as error:
                    outcome["second"] = error.sqlstate

        thread = threading.Thread(target=second_booking)
        thread.start()
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while not watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()[0]:  # the second waits for the first's lock on (doctor, boundary)
            assert datetime.now(UTC) < deadline, "the second booking never waited"
        first.commit()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert outcome["second"] == "23P01"
    assert (
        db.session.scalar(
            text("SELECT count(*) FROM appointments WHERE doctor_id = :d"), {"d": doctor}
        )
        == 1
    )


def test_the_months_ahead_are_made_by_a_command_that_can_run_again(partitioned):
    app, _, _ = partitioned
    runner = app.test_cli_runner()
    first = runner.invoke(args=["db", "add-appointment-partitions", "--months-ahead", "9"])
    assert first.exit_code == 0, first.output
    assert "0 partition(s) made" not in first.output  # the conversion made 6 past the data
    again = runner.invoke(args=["db", "add-appointment-partitions", "--months-ahead", "9"])
    assert again.exit_code == 0 and "0 partition(s) made" in again.output
    with app.app_context():
        far = partition_name(add_months(month_start(NOW), 9))
        # A new month has its own exclusion constraint and the boundary guard.
        assert (
            db.session.scalar(
                text(
                    "SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass(:t) AND contype = 'x'"
                ),
                {"t": far},
            )
            == 1
        )
        assert (
            db.session.scalar(
                text(
                    "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :g"
                ),
                {"t": far, "g": GUARD},
            )
            == 1
        )


def test_converting_twice_is_refused(partitioned):
    app, _, _ = partitioned
    result = app.test_cli_runner().invoke(args=["db", "partition-appointments", "--yes"])
    assert result.exit_code != 0 and "partitioned already" in result.output
