"""`flask seed scale` at a tiny fraction: the shape of the full-size data, on the real PostgreSQL.

The load runs once for the module (through the CLI, as an operator runs it) and every test reads
what it left. It starts from a database in the state an interrupted load leaves behind (the
exclusion constraint and an index missing), so the tests also show that a rerun repairs it.
"""

from statistics import median

import pytest
from redis import Redis
from sqlalchemy import text

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db, limiter
from portal.models import RECORD_TYPES
from portal.seed.text import SPECIALIZATIONS
from tests.conftest import TABLES

FRACTION = 0.0005  # 8 doctors, 4 clinics, 250 patients, ~12,500 appointments, ~2,500 records

SCHEMA = """
SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint ' || conname, pg_get_constraintdef(oid) || ' valid=' || convalidated
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
"""


def query(app, sql: str, **params) -> list:
    """All rows of a query, in a short app context of its own."""
    with app.app_context():
        return db.session.execute(text(sql), params).all()


def scalar(app, sql: str, **params):
    return query(app, sql, **params)[0][0]


@pytest.fixture(scope="module")
def loaded(app):
    """The schema as migrated, and the output of one load at FRACTION."""
    with app.app_context():
        migrated = dict(db.session.execute(text(SCHEMA)).all())
        db.session.execute(
            text("ALTER TABLE appointments DROP CONSTRAINT ex_appointments_doctor_no_overlap")
        )
        db.session.execute(text("DROP INDEX ix_appointments_patient_starts"))
        db.session.commit()
    redis = Redis.from_url(TestConfig.REDIS_URL)
    redis.set(TestConfig.CACHE_KEY_PREFIX + "avail:ver:1:2030-06-03", 7)  # the old data's
    redis.set("rq:queue:default:left-alone", 1)  # not the cache's
    result = app.test_cli_runner().invoke(
        args=["seed", "scale", "--yes", "--fraction", str(FRACTION)]
    )
    assert result.exit_code == 0, result.output
    redis_keys = {key.decode() for key in redis.keys("*")}
    yield {"migrated": migrated, "output": result.output, "redis_keys": redis_keys}
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    Redis.from_url(TestConfig.REDIS_URL).flushdb()


@pytest.fixture(autouse=True)
def _clean_state(app):
    """Replaces the per-test cleanup of tests/conftest.py: the data here is shared read-only
    and cleared once, when the module is done."""
    yield
    limiter.init_app(app)


def test_counts_are_proportional_to_the_fraction(app, loaded):
    counts = dict(
        query(
            app,
            "SELECT 'clinics', count(*) FROM clinics UNION ALL "
            "SELECT 'doctors', count(*) FROM doctors UNION ALL "
            "SELECT 'patients', count(*) FROM patients UNION ALL "
            "SELECT 'users', count(*) FROM users UNION ALL "
            "SELECT 'appointments', count(*) FROM appointments UNION ALL "
            "SELECT 'records', count(*) FROM medical_records UNION ALL "
            "SELECT 'rules', count(*) FROM doctor_schedules UNION ALL "
            "SELECT 'time off', count(*) FROM schedule_exceptions",
        )
    )
    assert counts["clinics"] == 4 and counts["doctors"] == 8  # the smallest copy
    assert counts["patients"] == round(500_000 * FRACTION)
    assert counts["users"] == counts["clinics"] + counts["doctors"] + counts["patients"]
    assert abs(counts["appointments"] - 25_000_000 * FRACTION) < 0.1 * 25_000_000 * FRACTION
    assert abs(counts["records"] - 5_000_000 * FRACTION) < 0.1 * 5_000_000 * FRACTION
    assert counts["rules"] == 10 * counts["doctors"]  # weekdays, morning and afternoon
    assert counts["time off"] > 0
    specializations = {row[0] for row in query(app, "SELECT specialization FROM doctors")}
    assert specializations == set(SPECIALIZATIONS)


def test_indexes_and_constraints_are_back_with_the_migrations_definitions(app, loaded):
    after = dict(query(app, SCHEMA))
    assert after == loaded["migrated"]
    assert "index ix_appointments_patient_starts" in after
    assert "EXCLUDE USING gist" in after["constraint ex_appointments_doctor_no_overlap"]


def test_no_active_appointments_of_a_doctor_overlap(app, loaded):
    overlaps = scalar(
        app,
        "SELECT count(*) FROM appointments a JOIN appointments b "
        "ON a.doctor_id = b.doctor_id AND a.id < b.id "
        "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
        "WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'",
    )
    assert overlaps == 0


def test_no_patient_holds_two_overlapping_active_visits(app, loaded):
    overlaps = scalar(
        app,
        "SELECT count(*) FROM appointments a JOIN appointments b "
        "ON a.patient_id = b.patient_id AND a.id < b.id "
        "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
        "WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'",
    )
    assert overlaps == 0


def test_every_appointment_lies_on_its_doctors_grid_in_clinic_local_time(app, loaded):
    off_grid = scalar(
        app,
        """
        SELECT count(*)
        FROM appointments a
        JOIN doctors d ON d.id = a.doctor_id
        JOIN clinics c ON c.id = d.clinic_id
        CROSS JOIN LATERAL (SELECT a.starts_at AT TIME ZONE c.timezone AS local_start,
                                   a.ends_at AT TIME ZONE c.timezone AS local_end) l
        WHERE NOT EXISTS (
            SELECT 1 FROM doctor_schedules r
            WHERE r.doctor_id = a.doctor_id
              AND r.weekday = extract(isodow FROM l.local_start) - 1
              AND l.local_start::date >= r.valid_from
              AND (r.valid_to IS NULL OR l.local_start::date <= r.valid_to)
              AND l.local_start::time >= r.start_time
              AND l.local_end::time <= r.end_time
              AND l.local_end - l.local_start = make_interval(mins => r.slot_minutes)
              AND extract(epoch FROM l.local_start::time - r.start_time)::int
                  % (r.slot_minutes * 60) = 0)
        """,
    )
    assert off_grid == 0
    during_time_off = scalar(
        app,
        "SELECT count(*) FROM appointments a JOIN schedule_exceptions e "
        "ON e.doctor_id = a.doctor_id AND a.starts_at < e.ends_at AND e.starts_at < a.ends_at",
    )
    assert during_time_off == 0


def test_clinic_local_nine_oclock_moves_in_utc_with_daylight_saving(app, loaded):
    utc_hours = {
        row[0]
        for row in query(
            app,
            "SELECT DISTINCT extract(hour FROM a.starts_at AT TIME ZONE 'UTC')::int "
            "FROM appointments a JOIN doctors d ON d.id = a.doctor_id "
            "JOIN clinics c ON c.id = d.clinic_id "
            "WHERE c.timezone = 'America/New_York' "
            "AND (a.starts_at AT TIME ZONE c.timezone)::time = '09:00'",
        )
    }
    assert utc_hours == {13, 14}  # EDT in summer, EST in winter
    zones = {row[0] for row in query(app, "SELECT DISTINCT timezone FROM clinics")}
    assert {"America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata"} <= zones


def test_past_visits_are_mostly_completed_and_future_ones_scheduled(app, loaded):
    past = dict(
        query(app, "SELECT status, count(*) FROM appointments WHERE starts_at < now() GROUP BY 1")
    )
    future = dict(
        query(app, "SELECT status, count(*) FROM appointments WHERE starts_at >= now() GROUP BY 1")
    )
    assert past["completed"] > 0.75 * sum(past.values())
    assert past["cancelled"] > 0 and past["no_show"] > 0 and "scheduled" not in past
    assert set(future) <= {"scheduled", "cancelled"} and future["scheduled"] > 0
    assert scalar(app, "SELECT max(starts_at) FROM appointments") > scalar(
        app, "SELECT now() + interval '50 days'"
    )


def test_some_patients_are_heavy_and_most_are_not(app, loaded):
    per_patient = dict(query(app, "SELECT patient_id, count(*) FROM appointments GROUP BY 1"))
    assert per_patient[1] > 1_500  # the heaviest history: about 2,050 visits
    assert per_patient[2] >= 500
    ordinary = [n for patient, n in per_patient.items() if patient > 2]
    assert 20 < median(ordinary) < 80


def test_records_belong_to_completed_appointments(app, loaded):
    mismatched = scalar(
        app,
        "SELECT count(*) FROM medical_records r LEFT JOIN appointments a "
        "ON a.id = r.appointment_id AND a.patient_id = r.patient_id "
        "AND a.doctor_id = r.doctor_id AND a.status = 'completed' "
        "AND r.created_at BETWEEN a.ends_at AND a.ends_at + interval '30 minutes' "
        "WHERE a.id IS NULL",
    )
    assert mismatched == 0
    types = {row[0] for row in query(app, "SELECT DISTINCT record_type FROM medical_records")}
    assert types == set(RECORD_TYPES)
    text_bytes, json_bytes, labs = query(
        app,
        "SELECT avg(octet_length(diagnosis) + octet_length(prescription)), "
        "avg(octet_length(data::text)), min(jsonb_array_length(data->'labs')) "
        "FROM medical_records",
    )[0]
    assert 600 < text_bytes < 850 and 1_300 < json_bytes < 1_900 and labs == 8


def test_sequences_continue_past_the_loaded_ids(app, loaded):
    rows = query(
        app,
        "SELECT 'users', nextval(pg_get_serial_sequence('users', 'id')), max(id) FROM users "
        "UNION ALL SELECT 'patients', nextval(pg_get_serial_sequence('patients', 'id')), "
        "max(id) FROM patients "
        "UNION ALL SELECT 'appointments', nextval(pg_get_serial_sequence('appointments', 'id')), "
        "max(id) FROM appointments "
        "UNION ALL SELECT 'medical_records', "
        "nextval(pg_get_serial_sequence('medical_records', 'id')), max(id) FROM medical_records",
    )
    for table, next_id, max_id in rows:
        assert next_id > max_id, table


@pytest.mark.parametrize(
    "email",
    ["patient1@scale.example.com", "doctor8@scale.example.com", "admin4@scale.example.com"],
)
def test_a_scale_user_signs_in_through_the_portal(loaded, auth, email):
    response = auth.login(email)
    assert response.status_code == 303, email


def test_progress_shows_each_step_with_rows_and_seconds(loaded):
    lines = loaded["output"].splitlines()
    appointments = [line for line in lines if line.strip().startswith("appointments ")]
    assert len(appointments) > 2 and all(" rows " in line for line in appointments)
    loaded_rows = sum(
        int(line.split(" rows ")[0].split()[-1].replace(",", "")) for line in appointments
    )
    assert loaded_rows > 0.9 * 25_000_000 * FRACTION
    assert all(line.rstrip().endswith(" s") for line in appointments)
    assert lines[-2].startswith("Done in ")


def test_sqlite_is_refused_with_a_clear_message():
    class Embedded(TestConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    result = create_app(Embedded).test_cli_runner().invoke(args=["seed", "scale", "--yes"])
    assert result.exit_code == 1
    assert "needs PostgreSQL" in result.output


def test_the_cache_of_the_old_data_is_forgotten_and_nothing_else(loaded):
    assert TestConfig.CACHE_KEY_PREFIX + "avail:ver:1:2030-06-03" not in loaded["redis_keys"]
    assert "rq:queue:default:left-alone" in loaded["redis_keys"]
