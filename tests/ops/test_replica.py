"""A real streaming replica: lag-tolerant reads are served there, bookings and the reads right
after them by the primary, and a replica that lags or is down is skipped.

The test runs a primary of its own (initdb) and a hot standby made from it with
`pg_basebackup -R`, both on free ports. Which server answered is read from the servers
themselves: pg_stat_statements on each counts the SELECTs on appointments it ran.
"""

import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import event

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import User
from portal.replica import HEARTBEAT_SQL, LAG_SQL
from portal.services.tokens import issue_access_token
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient, gen_schedule
from tests.ops.conftest import PG_BIN, as_postgres
from tests.ops.redis_servers import free_port

NEW_YORK = ZoneInfo("America/New_York")
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c shared_preload_libraries=pg_stat_statements"
)
APPOINTMENT_READS = """
    SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
    WHERE query ILIKE 'SELECT%FROM appointments%' AND query NOT ILIKE '%pg_stat_statements%'
"""


@dataclass
class Server:
    """One PostgreSQL server of this test, run as the postgres user."""

    data: Path
    port: int
    sockets: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            f"-p {self.port} -k {self.sockets} {SERVER_OPTIONS}",
            "-w",
            "-t",
            "30",
            "-l",
            f"{self.data}.log",
            *args,
        )

    def query(self, sql: str, *params):
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql, params or None).fetchone()[0]

    def appointment_reads(self) -> int:
        return int(self.query(APPOINTMENT_READS))


@dataclass
class Replication:
    primary: Server
    standby: Server
    patient_id: int
    patient_user_id: int
    doctor_id: int


def wait_for(condition, what: str, seconds: float = 20.0):
    """Poll `condition` until it is truthy, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")


def seed(primary_url: str) -> tuple[int, int, int]:
    """Migrate the primary and give it a patient with two past visits and a doctor with slots."""

    class Primary(TestConfig):
        SQLALCHEMY_DATABASE_URI = primary_url

    app = create_app(Primary)
    with app.app_context():
        upgrade()
        clinic = gen_clinic(city="Springfield", timezone="America/New_York")
        doctor = gen_doctor(clinic)
        gen_schedule(doctor, start=clock(9), end=clock(17), slot=30)
        patient = gen_patient(email="p@example.com")
        for days in (30, 60):
            at = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
            gen_appointment(patient, doctor, at - timedelta(days=days), reason=f"Seeded {days}")
        ids = (patient.id, patient.user_id, doctor.id)
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return ids


def beat(url: str, stop: threading.Event) -> None:
    """Commit an empty transaction on the primary every 0.2 s until `stop` (HEARTBEAT_SQL)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(0.2):
            conn.execute(HEARTBEAT_SQL.text)


@pytest.fixture(scope="module")
def replication():
    """A primary, migrated and seeded, and a hot standby streaming from it."""
    assert (PG_BIN / "pg_basebackup").exists(), "PostgreSQL 15 server binaries are missing"
    root = Path(tempfile.mkdtemp(prefix="portal-replica-"))
    shutil.chown(root, "postgres", "postgres")
    primary = Server(root / "primary", free_port(), root)
    standby = Server(root / "standby", free_port(), root)
    started: list[Server] = []
    stop = threading.Event()
    try:
        as_postgres(
            str(PG_BIN / "initdb"), "-D", str(primary.data), "-A", "trust", "-U", "postgres"
        )
        # initdb's pg_hba.conf already trusts local replication connections; PostgreSQL 15's
        # defaults (wal_level=replica, max_wal_senders=10, hot_standby=on) do the rest.
        primary.pg_ctl("start")
        started.append(primary)
        patient_id, user_id, doctor_id = seed(primary.url)
        as_postgres(
            str(PG_BIN / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(standby.data),
            "-R",  # standby.signal and primary_conninfo: start as a streaming standby
            "-X",
            "stream",
            "-c",
            "fast",
        )
        standby.pg_ctl("start")
        started.append(standby)
        assert standby.query("SELECT pg_is_in_recovery()") is True
        # A primary in production commits all the time; this one would sit idle between the
        # test's writes, and the age of its last commit would read as lag. `flask db heartbeat`
        # commits an empty transaction every second for that; here a thread does, more often.
        threading.Thread(target=beat, args=(primary.url, stop), daemon=True).start()
        wait_for(
            lambda: (
                standby.query("SELECT pg_last_xact_replay_timestamp() IS NOT NULL")
                and standby.query(LAG_SQL.text) < 0.5
            ),
            "the standby to replay a heartbeat and catch up",
        )
        yield Replication(primary, standby, patient_id, user_id, doctor_id)
    finally:
        stop.set()
        for server in reversed(started):
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(server.data),
                    "stop",
                    "-m",
                    "immediate",
                ],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def served(replication):
    """The app on the primary with the standby as DATABASE_REPLICA_URL, checking on every request."""

    class WithReplica(TestConfig):
        SQLALCHEMY_DATABASE_URI = replication.primary.url
        DATABASE_REPLICA_URL = replication.standby.url
        REPLICA_MAX_LAG_SECONDS = 1.0
        REPLICA_CHECK_SECONDS = 0  # measure the lag on every request, for a deterministic test
        REPLICA_RETRY_SECONDS = 0
        REPLICA_STICKY_SECONDS = 1

    app = create_app(WithReplica)
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def bearer(app, user_id: int) -> dict:
    with app.app_context():
        return {"Authorization": f"Bearer {issue_access_token(db.session.get(User, user_id))}"}


def served_by(replication: Replication, request) -> tuple[str, object]:
    """Which server ran the request's reads of appointments, by their statement counters."""
    primary, standby = (
        replication.primary.appointment_reads(),
        replication.standby.appointment_reads(),
    )
    response = request()
    primary_delta = replication.primary.appointment_reads() - primary
    standby_delta = replication.standby.appointment_reads() - standby
    assert (primary_delta > 0) != (standby_delta > 0), (primary_delta, standby_delta)
    return ("primary" if primary_delta else "replica"), response


def slot_on(days_ahead: int, hour: int) -> datetime:
    day = (datetime.now(NEW_YORK) + timedelta(days=days_ahead)).date()
    return datetime.combine(day, clock(hour), NEW_YORK).astimezone(UTC)


def wait_until_replayed(replication: Replication, reason: str) -> None:
    wait_for(
        lambda: replication.standby.query(
            "SELECT count(*) FROM appointments WHERE reason = %s", reason
        ),
        f"the standby to replay {reason!r}",
    )


def test_history_reads_are_served_by_the_replica(replication, served):
    client = served.test_client()
    headers = bearer(served, replication.patient_user_id)
    history = f"/api/patients/{replication.patient_id}/appointments"
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert (where, response.status_code) == ("replica", 200)
    assert {item["reason"] for item in response.get_json()["items"]} == {"Seeded 30", "Seeded 60"}

    assert AuthActions(client).login("p@example.com").status_code == 303
    where, page = served_by(replication, lambda: client.get("/patient/history"))
    assert (where, page.status_code) == ("primary", 200)  # signing in is a write: sticky
    time.sleep(1.2)  # REPLICA_STICKY_SECONDS
    where, page = served_by(replication, lambda: client.get("/patient/history"))
    assert (where, page.status_code) == ("replica", 200)
    assert "Seeded 30" in page.get_data(as_text=True)


def test_a_booking_goes_to_the_primary_and_so_do_the_next_reads_of_its_user(replication, served):
    client = served.test_client()
    assert AuthActions(client).login("p@example.com").status_code == 303
    form = client.get("/patient/").get_data(as_text=True)
    starts_at = slot_on(3, 10)
    booked = client.post(
        "/patient/book",
        data={
            "doctor_id": replication.doctor_id,
            "starts_at": starts_at.isoformat(),
            "kind": "in_person",
            "reason": "Booked in the portal",
            "csrf_token": csrf_token_from(form),
        },
    )
    assert booked.status_code == 303  # the standby refuses writes: this ran on the primary
    assert replication.primary.query(
        "SELECT count(*) FROM appointments WHERE reason = 'Booked in the portal'"
    )
    # Read your writes: the redirect's page and the history come from the primary.
    where, home = served_by(replication, lambda: client.get("/patient/"))
    assert where == "primary" and "Dr. Doctor" in home.get_data(as_text=True)
    where, page = served_by(replication, lambda: client.get("/patient/history"))
    assert where == "primary" and "Booked in the portal" in page.get_data(as_text=True)

    # The API: the sticky deadline follows the bearer token.
    headers = bearer(served, replication.patient_user_id)
    response = client.post(
        "/api/appointments",
        json={
            "doctor_id": replication.doctor_id,
            "starts_at": slot_on(3, 11).isoformat(),
            "reason": "Booked through the API",
        },
        headers=headers,
    )
    assert response.status_code == 201
    history = f"/api/patients/{replication.patient_id}/appointments"
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert where == "primary"
    assert "Booked through the API" in {item["reason"] for item in response.get_json()["items"]}

    time.sleep(1.2)  # REPLICA_STICKY_SECONDS
    wait_until_replayed(replication, "Booked through the API")
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert where == "replica"
    assert {"Booked in the portal", "Booked through the API"} <= {
        item["reason"] for item in response.get_json()["items"]
    }


def test_reads_go_to_the_primary_while_the_replica_lags(replication, served, caplog):
    caplog.set_level(logging.WARNING, logger="portal.replica")
    client = served.test_client()
    headers = bearer(served, replication.patient_user_id)
    history = f"/api/patients/{replication.patient_id}/appointments"
    replication.standby.query("SELECT pg_wal_replay_pause()")
    try:
        with psycopg.connect(replication.primary.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status,"
                " kind, reason, created_at, updated_at) VALUES (%s, %s, %s, %s, 'completed',"
                " 'in_person', 'Written while replay is paused', now(), now())",
                (
                    replication.patient_id,
                    replication.doctor_id,
                    slot_on(-5, 9),
                    slot_on(-5, 9) + timedelta(minutes=30),
                ),
            )
        wait_for(
            lambda: replication.standby.query(LAG_SQL.text) > 1.0,
            "the standby's lag to pass REPLICA_MAX_LAG_SECONDS",
        )
        where, response = served_by(replication, lambda: client.get(history, headers=headers))
        assert (where, response.status_code) == ("primary", 200)
        reasons = {item["reason"] for item in response.get_json()["items"]}
        assert "Written while replay is paused" in reasons  # the standby does not have it yet
        assert (
            replication.standby.query(
                "SELECT count(*) FROM appointments WHERE reason = 'Written while replay is paused'"
            )
            == 0
        )
    finally:
        replication.standby.query("SELECT pg_wal_replay_resume()")
    wait_until_replayed(replication, "Written while replay is paused")
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert (where, response.status_code) == ("replica", 200)
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "read replica skipped" in m and "lags" in m]) == 1
    assert len([m for m in messages if "read replica back" in m]) == 1


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(replication, served, caplog):
    caplog.set_level(logging.WARNING, logger="portal.replica")
    client = served.test_client()
    headers = bearer(served, replication.patient_user_id)
    history = f"/api/patients/{replication.patient_id}/appointments"
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert where == "replica"  # its pool now holds a connection that is about to die

    replication.standby.pg_ctl("stop", "-m", "fast")
    try:
        for _ in range(3):
            before = replication.primary.appointment_reads()
            response = client.get(history, headers=headers)
            assert response.status_code == 200
            assert "Seeded 30" in {item["reason"] for item in response.get_json()["items"]}
            assert replication.primary.appointment_reads() > before
        outages = [r for r in caplog.records if "read replica skipped" in r.getMessage()]
        assert len(outages) == 1 and "does not answer" in outages[0].getMessage()
    finally:
        replication.standby.pg_ctl("start")
    wait_for(lambda: replication.standby.query(LAG_SQL.text) <= 1.0, "the standby to stream again")
    where, response = served_by(replication, lambda: client.get(history, headers=headers))
    assert (where, response.status_code) == ("replica", 200)


def test_the_heartbeat_commits_a_transaction_each_beat(app, runner):
    beats = []
    with app.app_context():
        engine = db.engine

    def note(conn, cursor, statement, parameters, context, executemany):
        beats.append(statement)

    def committed(conn):
        beats.append("COMMIT")

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", committed)
    try:
        result = runner.invoke(args=["db", "heartbeat", "--count", "3", "--every", "0.05"])
    finally:
        event.remove(engine, "before_cursor_execute", note)
        event.remove(engine, "commit", committed)
    assert result.exit_code == 0, result.output
    assert beats == [HEARTBEAT_SQL.text, "COMMIT"] * 3


def test_a_block_of_reads_can_be_sent_to_the_replica_or_kept_on_the_primary(replication, served):
    """replica_reads() and primary_reads(), for call sites outside the endpoint registry."""
    from portal.replica import primary_reads, replica_reads, replica_safe_timeout
    from portal.services.history import appointment_history

    def history():
        page = appointment_history(replication.patient_id)
        db.session.commit()  # pg_stat_statements counts a statement when its portal closes
        return page

    with served.app_context():
        assert replica_safe_timeout(3600) == 3600
        with replica_reads() as routed:
            assert routed
            assert replica_safe_timeout(3600) == 1  # REPLICA_MAX_LAG_SECONDS + a check
            where, page = served_by(replication, history)
            assert where == "replica" and len(page.items) >= 2
            with primary_reads():
                assert served_by(replication, history)[0] == "primary"
            assert served_by(replication, history)[0] == "replica"
        assert served_by(replication, history)[0] == "primary"
