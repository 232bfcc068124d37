"""A real Sentinel failover under a running app: one master, one replica, three Sentinels.

The app is built with REDIS_SENTINELS only (no REDIS_URL), so sessions, throttling, the queue
and the cache all reach Redis through the Sentinels. A patient signs in; WAIT makes sure the
replica has the session; then the master crashes (SIGKILL: connections are refused at once)
or freezes (SIGSTOP: it accepts connections and never answers, as a partitioned host does).
Until the Sentinels have promoted the replica, requests answer a clean 503 within two socket
timeouts (a page, JSON for /api, and /readyz), and a booking sent then writes nothing.
Afterwards the same app, not restarted, serves the same signed-in session from the new
master, and the booking goes through.
"""

import re
import signal
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cli.helpers import get_redis_from_config
from rq.job import Job

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment
from portal.redis_client import rq_settings
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import gen_clinic, gen_doctor, gen_patient, gen_schedule
from tests.ops.redis_servers import RedisProcesses, free_port, wait_until

SERVICE = "portal-failover-test"
SOCKET_TIMEOUT = 0.5
# The slowest a request may take while the master is gone: it fails on its first Redis call
# (opening the session), which gives up after two attempts of SOCKET_TIMEOUT each
# (portal.redis_client); the rest is slack for a busy machine. A hang would blow past it.
REQUEST_BOUND = 2 * SOCKET_TIMEOUT + 1.5


@pytest.fixture
def sentinel_group(tmp_path):
    """A master, its replica and three Sentinels that already know each other."""
    servers = RedisProcesses(tmp_path)
    master_port, replica_port = free_port(), free_port()
    sentinel_ports = [free_port() for _ in range(3)]
    try:
        master = servers.server(master_port, "--appendonly", "no")
        servers.server(
            replica_port, "--appendonly", "no", "--replicaof", "127.0.0.1", str(master_port)
        )
        replica = Redis(port=replica_port, socket_timeout=1)
        wait_until(
            lambda: replica.info("replication")["master_link_status"] == "up", 10, "replication"
        )
        for port in sentinel_ports:
            servers.sentinel(
                port,
                SERVICE,
                master_port,
                down_after_milliseconds=1000,
                failover_timeout=4000,
                parallel_syncs=1,
            )

        def ready(port: int) -> bool:
            state = Redis(port=port, socket_timeout=1).sentinel_master(SERVICE)
            return state["num-other-sentinels"] == 2 and state["num-slaves"] == 1

        for port in sentinel_ports:  # they find each other through the master's hello channel
            wait_until(lambda port=port: ready(port), 15, f"sentinel {port} to know its peers")
        yield {
            "master": master,
            "master_port": master_port,
            "replica_port": replica_port,
            "sentinels": ",".join(f"127.0.0.1:{port}" for port in sentinel_ports),
            "sentinel_ports": sentinel_ports,
        }
    finally:
        servers.stop_all()


def app_under_sentinel(sentinels: str):
    class UnderSentinel(TestConfig):
        PROPAGATE_EXCEPTIONS = False  # the error handlers answer, as in production
        REDIS_URL = None
        REDIS_SENTINELS = sentinels
        REDIS_SENTINEL_SERVICE = SERVICE
        REDIS_DB = 0
        REDIS_SOCKET_TIMEOUT = SOCKET_TIMEOUT

    return create_app(UnderSentinel)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def a_free_slot():
    """A doctor with a weekly grid in UTC, and a slot of theirs two days ahead."""
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(doctor, start=clock(9), end=clock(17), slot=30)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    return doctor, datetime.combine(day, clock(10), tzinfo=UTC)


@pytest.mark.parametrize("failure", [signal.SIGKILL, signal.SIGSTOP], ids=["crashed", "frozen"])
def test_a_sentinel_failover_keeps_the_session_and_answers_503_meanwhile(
    app, sentinel_group, failure
):
    group = sentinel_group
    portal = app_under_sentinel(group["sentinels"])
    client = portal.test_client()
    gen_patient(email="failover@example.com")
    doctor, starts_at = a_free_slot()
    assert AuthActions(client).login("failover@example.com").status_code == 303
    assert client.get("/patient/").status_code == 200
    booking_page = client.get(
        "/patient/book", query_string={"doctor_id": doctor.id, "starts_at": starts_at.isoformat()}
    )
    assert booking_page.status_code == 200
    booking = {
        "doctor_id": str(doctor.id),
        "starts_at": starts_at.isoformat(),
        "kind": "in_person",
        "reason": "Failover check",
        "csrf_token": csrf_token_from(booking_page.get_data(as_text=True)),
    }

    master = Redis(port=group["master_port"], socket_timeout=2)
    assert list(master.scan_iter(TestConfig.SESSION_KEY_PREFIX + "*")), "no session on master"
    assert master.wait(1, 2000) == 1  # the replica has every write so far, the session included

    group["master"].send_signal(failure)  # a frozen one is killed by the fixture at the end

    # The failover window: the Sentinels still name the dead master, or none at all.
    page, seconds = timed(lambda: client.get("/patient/"))
    assert page.status_code == 503 and seconds < REQUEST_BOUND, (page.status_code, seconds)
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    api, seconds = timed(
        lambda: client.post(
            "/api/auth/login", json={"email": "failover@example.com", "password": "wrong-one"}
        )
    )
    assert api.status_code == 503 and seconds < REQUEST_BOUND, (api.status_code, seconds)
    assert api.get_json()["error"]["code"] == "unavailable"
    ready, seconds = timed(lambda: client.get("/readyz"))
    assert ready.status_code == 503 and seconds < REQUEST_BOUND
    assert ready.get_json()["checks"]["redis"].startswith("error")
    refused, seconds = timed(lambda: client.post("/patient/book", data=booking))
    assert refused.status_code == 503 and seconds < REQUEST_BOUND
    with app.app_context():  # refused before anything was written
        assert db.session.query(Appointment).count() == 0

    sentinel = Redis(port=group["sentinel_ports"][0], socket_timeout=1)
    statuses = []

    def promoted() -> bool:
        response, seconds = timed(lambda: client.get("/patient/"))
        statuses.append(response.status_code)
        assert seconds < REQUEST_BOUND, seconds
        address = sentinel.sentinel_get_master_addr_by_name(SERVICE)
        return address is not None and int(address[1]) == group["replica_port"]

    wait_until(promoted, 20, "the Sentinels to promote the replica", interval=0.2)
    assert set(statuses) <= {200, 503}, statuses  # never a 500

    # Recovered, with no restart of the app: the same session, now on the promoted replica.
    wait_until(
        lambda: (r := client.get("/patient/")).status_code == 200 and r, 5, "the app to recover"
    )
    assert client.get("/readyz").status_code == 200
    booked = client.post("/patient/book", data=booking)
    assert booked.status_code == 303
    with app.app_context():
        assert db.session.query(Appointment).count() == 1
    new_master = Redis(port=group["replica_port"], socket_timeout=2)
    assert new_master.info("replication")["role"] == "master"
    assert re.search(r"Booked", client.get("/patient/").get_data(as_text=True))

    # The queue too: the web side enqueues through the app's client, and a worker connected
    # the way `rq worker -c jobs.rq_settings` connects (RQ's own Sentinel client) runs it.
    with portal.app_context():
        job = portal.extensions["rq_queue"].enqueue(time.sleep, 0)
    worker_redis = get_redis_from_config(rq_settings(portal.config))
    queue = Queue(TestConfig.RQ_QUEUE, connection=worker_redis)
    SimpleWorker([queue], connection=worker_redis).work(burst=True)
    assert Job.fetch(job.id, connection=new_master).get_status() == "finished"
