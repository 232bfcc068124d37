"""Reminders at scale: 50,000 appointments through moto's SES and the Twilio fake, end to end.

    .venv/bin/python -m bench.reminders [--appointments 50000] [--workers 2] [--sms-share 10]

Needs PostgreSQL and Redis (BENCH_DATABASE_URL, default .../portal_bench_jobs, dropped and
made again; BENCH_REDIS_URL, default redis://127.0.0.1:6379/13). It loads one local day of
appointments over clinics in four timezones (set-based SQL), starts moto's SES server and the
Twilio fake in this process, starts `rq worker` processes (AppWorker, burst), then times
`flask jobs reminders --date` from planning until every outbox row is settled, and counts the
calls the fakes received. `insert_reminder_day` is also what the tests load data with.
"""

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

DAY_SQL = text(
    """
WITH d_users AS (
    INSERT INTO users (email, password_hash, role, active, created_at, password_changed_at)
    SELECT format('bulk-%s-doctor-%s@example.com', CAST(:tag AS text), g), :hash, 'doctor', true, now(), now()
    FROM generate_series(1, :doctors) AS g
    RETURNING id
), docs AS (
    INSERT INTO doctors (user_id, clinic_id, full_name, specialization, consultation_fee)
    SELECT id, :clinic_id, 'Dr. Bulk ' || id, 'General practice', 80 FROM d_users
    RETURNING id
), p_users AS (
    INSERT INTO users (email, password_hash, role, active, created_at, password_changed_at)
    SELECT format('bulk-%s-patient-%s@example.com', CAST(:tag AS text), g), :hash, 'patient', true, now(), now()
    FROM generate_series(1, :count) AS g
    RETURNING id
), pats AS (
    INSERT INTO patients (user_id, full_name, phone, notify_email, notify_sms)
    SELECT id, 'Patient ' || id, '+1555' || lpad((id % 10000000)::text, 7, '0'), true,
           (id % 100) < :sms_percent
    FROM p_users
    RETURNING id
), d AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM docs
), p AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM pats
)
INSERT INTO appointments
    (patient_id, doctor_id, starts_at, ends_at, status, kind, reason, created_at, updated_at)
SELECT p.id, d.id,
       CAST(:first_start AS timestamptz) + (p.n % :per_doctor) * interval '10 minutes',
       CAST(:first_start AS timestamptz) + (p.n % :per_doctor + 1) * interval '10 minutes',
       'scheduled', 'in_person', 'Check-up', now(), now()
FROM p JOIN d ON d.n = p.n / :per_doctor
"""
)

PER_DOCTOR = 60  # ten-minute visits from 08:00 to 18:00


def insert_reminder_day(
    connection,
    clinics: list[tuple[int, str]],
    day: date,
    count: int,
    sms_percent: int = 0,
    password_hash: str = "bulk-not-a-real-hash",  # noqa: S107 (no one signs in as these)
    tag: str = "r",
) -> None:
    """`count` appointments on local `day`, spread evenly over `clinics` [(id, timezone)].

    Each appointment has a patient of its own (email always wanted; SMS by `sms_percent` of
    them) and ten-minute visits from 08:00 clinic time; set-based, one statement per clinic.
    """
    share = math.ceil(count / len(clinics))
    for index, (clinic_id, timezone) in enumerate(clinics):
        n = min(share, count - index * share)
        if n <= 0:
            break
        first = datetime.combine(day, time(8), ZoneInfo(timezone))
        connection.execute(
            DAY_SQL,
            {
                "tag": f"{tag}{clinic_id}",
                "hash": password_hash,
                "doctors": math.ceil(n / PER_DOCTOR),
                "clinic_id": clinic_id,
                "count": n,
                "sms_percent": sms_percent,
                "first_start": first,
                "per_doctor": PER_DOCTOR,
            },
        )


def tomorrow(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date() + timedelta(days=1)
