"""A full Redis under noeviction (maxmemory reached): clear 503s for what must write, no lost
booking, and an availability cache that steps aside quietly.

The test's own redis-server runs deploy/redis.conf with a tiny maxmemory, and the app keeps
its sessions, throttling, queue and cache there (no CACHE_REDIS_URL), so every Redis write
of the app meets "OOM command not allowed when used memory > 'maxmemory'".
"""

import logging
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from redis import Redis
from redis.exceptions import OutOfMemoryError

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, Notification
from portal.services import availability_cache
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import gen_clinic, gen_doctor, gen_patient, gen_schedule
from tests.ops.redis_servers import RedisProcesses, free_port

EMAIL = "full@example.com"


@pytest.fixture
def full_redis_port(tmp_path):
    """A redis-server with deploy/redis.conf (noeviction) and maxmemory 2 MB, not yet full."""
    servers = RedisProcesses(tmp_path)
    port = free_port()
    try:
        servers.server(port, "--maxmemory", "2mb", "--appendonly", "no", "--save", "")
        assert Redis(port=port).config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        yield port
    finally:
        servers.stop_all()
        # The cache steps aside for FULL_RETRY_SECONDS in this process: not into the next test.
        availability_cache._full.update(since=None, retry_at=0.0)


def fill(redis: Redis) -> None:
    """Write 4 KB values until Redis refuses one, then pin maxmemory a little below what is used.

    At the limit, Redis goes back under it as soon as a client's buffers are freed (the
    refused write's own, a connection closing), and the next write fits: the 256 KB margin
    keeps it full for the whole test, as a Redis that has really run out would stay.
    """
    for n in range(5000):
        try:
            redis.set(f"filler:{n}", b"x" * 4096)
        except OutOfMemoryError:
            break
    else:
        raise AssertionError("Redis never refused a write")
    redis.config_set("maxmemory", redis.info("memory")["used_memory"] - 256 * 1024)
    with pytest.raises(OutOfMemoryError):
        redis.set("probe", "x", ex=60)


def test_a_full_redis_answers_503_for_writes_and_loses_no_booking(app, full_redis_port, caplog):
    class FullRedis(TestConfig):
        PROPAGATE_EXCEPTIONS = False  # the error handlers answer, as in production
        REDIS_URL = f"redis://127.0.0.1:{full_redis_port}/0"

    portal = create_app(FullRedis)
    gen_patient(email=EMAIL)
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(doctor, start=clock(9), end=clock(17), slot=30)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    on_page, on_api = (datetime.combine(day, clock(9, m), tzinfo=UTC) for m in (0, 30))

    # Before Redis fills up: a signed-in browser with a booking form, an API token, a warm cache.
    browser = portal.test_client()
    assert AuthActions(browser).login(EMAIL).status_code == 303
    form = browser.get(
        "/patient/book", query_string={"doctor_id": doctor.id, "starts_at": on_page.isoformat()}
    )
    csrf = csrf_token_from(form.get_data(as_text=True))
    api = portal.test_client()
    token = api.post("/api/auth/login", json={"email": EMAIL, "password": TestConfig.DEMO_PASSWORD})
    bearer = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    search = {
        "specialization": "Cardiology",
        "city": "New York",
        "date_from": day.isoformat(),
        "date_to": day.isoformat(),
    }

    def offered() -> set[str]:
        response = api.get("/api/appointments/search", query_string=search, headers=bearer)
        assert response.status_code == 200
        return {s["starts_at"] for item in response.get_json()["items"] for s in item["slots"]}

    assert {on_page.isoformat(), on_api.isoformat()} <= {
        datetime.fromisoformat(s).isoformat() for s in offered()
    }

    fill(Redis(port=full_redis_port))
    caplog.set_level(logging.ERROR)

    # What must write to Redis answers a clear 503: a new visitor's session (the CSRF token)...
    page = portal.test_client().get("/login")
    assert page.status_code == 503
    assert "cannot save sign-ins" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    # ...and the sign-in throttle, in the API's error shape.
    refused = portal.test_client().post("/api/auth/login", json={"email": EMAIL, "password": "x"})
    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "unavailable" and "cannot save sign-ins" in error["message"]
    assert any("Redis is full" in r.getMessage() for r in caplog.records)

    # Pages that only read a signed-in session go on.
    assert browser.get("/patient/").status_code == 200

    # A booking from the portal commits in PostgreSQL; only saving the session afterwards (the
    # flash message) fails, and the 503 says the visit may already be booked.
    booked_page = browser.post(
        "/patient/book",
        data={
            "doctor_id": str(doctor.id),
            "starts_at": on_page.isoformat(),
            "kind": "in_person",
            "reason": "Full Redis",
            "csrf_token": csrf,
        },
    )
    assert booked_page.status_code == 503
    assert "check your visits" in booked_page.get_data(as_text=True)
    # The API needs no session: the booking answers 201.
    booked_api = api.post(
        "/api/appointments",
        json={"doctor_id": doctor.id, "starts_at": on_api.isoformat(), "kind": "in_person"},
        headers=bearer,
    )
    assert booked_api.status_code == 201
    with app.app_context():
        starts = set(db.session.scalars(db.select(Appointment.starts_at)))
        assert starts == {on_page, on_api}  # both kept
        # Their notifications could not be queued (RQ is on the full Redis): they wait as
        # pending rows in the outbox, for the every-minute sweep.
        pending = db.session.scalars(db.select(Notification.status)).all()
        assert pending and set(pending) == {"pending"}

    # Search: the cache's invalidations were refused, so it steps aside and the database
    # answers; both booked slots are gone from the offer, and the cache said so once.
    for _ in range(3):
        taken = {on_page.isoformat(), on_api.isoformat()}
        assert not taken & {datetime.fromisoformat(s).isoformat() for s in offered()}
    full_lines = [r for r in caplog.records if "availability cache is full" in r.getMessage()]
    assert len(full_lines) == 1
