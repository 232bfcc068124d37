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

from sqlalchemy import func, select, text

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


# -- the benchmark -------------------------------------------------------------------------

ZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo")
QUEUE = "bench-reminders"
SENDER = "reminders@portal.example"
FAKE_TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "bench-auth-token",
    "TWILIO_API_KEY": "SK" + "2" * 32,
    "TWILIO_API_SECRET": "bench-api-secret-that-is-long-enough-to-sign",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "3" * 32,
}
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def parse_args():
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/portal_bench_jobs"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--appointments", type=int, default=50_000)
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sms-percent", type=int, default=0, help="patients who want SMS too")
    parser.add_argument("--sms-rate", type=int, default=1000, help="SMS per second (the fake)")
    parser.add_argument("--batch-size", type=int, default=1000, help="REMINDER_BATCH_SIZE")
    parser.add_argument("--timeout", type=int, default=900)
    return parser.parse_args()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(bin_dir):
    """A moto server process (moto answers on one core: one per worker, as SES scales out)."""
    import subprocess
    import time
    import urllib.request

    import boto3

    port = free_port()
    process = subprocess.Popen(
        [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json").close()  # noqa: S310
            break
        except OSError:
            time.sleep(0.1)
    client = boto3.client(
        "ses",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )
    client.verify_email_identity(EmailAddress=SENDER)
    return process, url


def bulk_calls(url: str) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/moto-api/data.json") as answer:  # noqa: S310
        return json.load(answer)["ses"]["BulkTemplateMessage"]


def load(app, args) -> date:
    """Clinics over four zones and one local day of appointments; returns the day."""
    from flask_migrate import upgrade

    from portal.extensions import db

    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            clinics = conn.execute(
                text(
                    "INSERT INTO clinics (name, city, timezone) SELECT 'Clinic ' || g, 'City', "
                    "(CAST(:zones AS text[]))[1 + g % :n] FROM generate_series(1, :clinics) g "
                    "RETURNING id, timezone"
                ),
                {"zones": list(ZONES), "n": len(ZONES), "clinics": args.clinics},
            ).all()
            day = tomorrow("UTC", datetime.now(ZoneInfo("UTC"))) + timedelta(days=1)
            insert_reminder_day(
                conn, [tuple(c) for c in clinics], day, args.appointments, args.sms_percent
            )
            conn.execute(text("ANALYZE"))
    return day


def cpu_seconds(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds a live process has used so far (utime + stime from /proc)."""
    import os

    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import os
    import resource
    import subprocess
    import sys
    import time
    from pathlib import Path

    from redis import Redis
    from rq import Queue

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from jobs.reminders import send_reminders
    from portal import create_app
    from portal.extensions import db
    from portal.models import Notification
    from tests.conftest import recreate_database
    from tests.fakes.twilio import FakeTwilio

    args = parse_args()
    bin_dir = Path(sys.executable).parent
    recreate_database(args.database_url)
    Redis.from_url(args.redis_url).flushdb()
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "REDIS_URL": args.redis_url})
    began = time.perf_counter()
    day = load(app, args)
    print(f"loaded {args.appointments:,} appointments in {time.perf_counter() - began:.1f}s")

    motos = [start_moto(bin_dir) for _ in range(args.workers)]
    twilio = FakeTwilio().start()
    env = {
        **os.environ,
        **AWS,
        **FAKE_TWILIO,
        "PORTAL_ENV": "development",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "RQ_QUEUE": QUEUE,
        "EMAIL_PROVIDER": "ses",
        "SES_SENDER": SENDER,
        "SMS_PROVIDER": "twilio",
        "TWILIO_BASE_URL": twilio.url,
        "SMS_RATE_PER_SECOND": str(args.sms_rate),
        "REMINDER_BATCH_SIZE": str(args.batch_size),
    }
    command = [str(bin_dir / "rq"), "worker", "--worker-class", "jobs.app.AppWorker", "-q"]
    workers = [
        subprocess.Popen(
            [*command, "--url", args.redis_url, QUEUE],
            cwd=root,
            env={**env, "SES_ENDPOINT_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _, url in motos
    ]
    time.sleep(8)  # the workers import the portal and build the app before the clock starts

    queue = Queue(QUEUE, connection=Redis.from_url(args.redis_url))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    startup_cpu = sum(process_cpu(worker.pid) for worker in workers)  # imports, not work
    planning = queue.enqueue(send_reminders, day.isoformat(), job_timeout=900)
    planned_in = None
    try:
        with app.app_context():
            while True:
                time.sleep(0.25)
                if planned_in is None and planning.get_status(refresh=True) == "finished":
                    planned_in = time.perf_counter() - started
                unsettled = db.session.scalar(
                    select(func.count()).where(Notification.status.in_(("pending", "sending")))
                )
                db.session.rollback()
                if planned_in is not None and unsettled == 0:
                    break
                if time.perf_counter() - started > args.timeout:
                    raise SystemExit(f"timed out with {unsettled} rows unsettled")
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        calls = [call for _, url in motos for call in bulk_calls(url)]
    finally:
        for worker in workers:
            worker.terminate()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for worker in workers:
            worker.wait(30)
        middle = resource.getrusage(resource.RUSAGE_CHILDREN)
        for process, _ in motos:
            process.terminate()
            process.wait(10)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        twilio.stop()
    worker_cpu = cpu_seconds(middle) - cpu_seconds(before) - startup_cpu
    moto_cpu = cpu_seconds(after) - cpu_seconds(middle)

    addresses = [d["Destination"]["ToAddresses"][0] for c in calls for d in c["destinations"]]
    with app.app_context():
        outbox = {
            f"{channel} {status}": n
            for channel, status, n in db.session.execute(
                select(Notification.channel, Notification.status, func.count()).group_by(
                    Notification.channel, Notification.status
                )
            )
        }
    sent = outbox.get("email sent", 0) + outbox.get("sms sent", 0)
    print(
        f"\ncommand: .venv/bin/python -m bench.reminders --appointments {args.appointments} "
        f"--workers {args.workers} --batch-size {args.batch_size} "
        f"--sms-percent {args.sms_percent} --sms-rate {args.sms_rate}\n"
    )
    rows = [
        ("appointments (one local day, 4 zones)", f"{args.appointments:,}"),
        ("RQ workers (and moto servers)", args.workers),
        ("end to end: job enqueued until every outbox row is settled", f"{elapsed:.1f} s"),
        ("  of which planning (keyset batches, outbox rows, jobs queued)", f"{planned_in:.1f} s"),
        ("SES calls (moto's record)", f"{len(calls):,}"),
        ("SES destinations / distinct addresses", f"{len(addresses):,} / {len(set(addresses)):,}"),
        ("Twilio message calls (the fake's record)", f"{len(twilio.messages):,}"),
        ("outbox", ", ".join(f"{k}: {v:,}" for k, v in sorted(outbox.items()))),
        ("messages sent per second", f"{sent / elapsed:,.0f}"),
        (
            "CPU seconds: workers (with their work-horses) / moto",
            f"{worker_cpu:.1f} / {moto_cpu:.1f}",
        ),
        ("load average (1 min) before / after, 2 cores", f"{load_before:.1f} / {load_after:.1f}"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
