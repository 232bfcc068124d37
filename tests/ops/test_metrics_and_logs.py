"""Metrics at /metrics and log lines that carry the request id."""

import json
import logging
import time as time_module
from datetime import UTC, datetime, time

import pytest
from prometheus_client import CollectorRegistry

from portal import create_app
from portal.config import TestConfig
from portal.extensions import cache
from portal.logging_setup import JSON_FIELDS, ContextFilter
from portal.services.booking import BookingRequest, SlotTaken, book_appointment
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient, gen_schedule


def metrics_app():
    class WithMetrics(TestConfig):
        METRICS_ENABLED = True
        METRICS_REGISTRY = CollectorRegistry()

    return create_app(WithMetrics)


def test_metrics_show_request_latency_per_endpoint_conflicts_and_queues(app):
    served = metrics_app()
    client = served.test_client()
    assert client.get("/login").status_code == 200
    doctor = gen_doctor(gen_clinic(timezone="UTC"))
    gen_schedule(doctor, start=time(9), end=time(12))
    slot = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)
    gen_appointment(gen_patient(), doctor, slot)
    with served.app_context(), pytest.raises(SlotTaken):
        book_appointment(
            BookingRequest(gen_patient().id, doctor.id, slot),
            now=datetime(2030, 6, 1, tzinfo=UTC),
        )
    body = client.get("/metrics").get_data(as_text=True)
    assert "portal_http_request_duration_seconds_bucket{" in body
    assert 'endpoint="auth.login"' in body
    assert "portal_booking_conflicts_total" in body
    conflicts = [
        line for line in body.splitlines() if line.startswith("portal_booking_conflicts_total ")
    ]
    assert float(conflicts[0].split()[1]) >= 1
    assert 'portal_queue_jobs{queue="portal-test"}' in body


def _sample(body: str, name: str, **labels) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in body.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.split()[1])
    return 0.0


def test_metrics_count_search_cache_hits_and_misses(app):
    from tests.conftest import AuthActions

    served = metrics_app()
    client = served.test_client()
    doctor = gen_doctor(gen_clinic(city="Springfield", timezone="UTC"))
    gen_schedule(doctor, start=time(9), end=time(17))
    gen_patient(email="m@example.com")
    AuthActions(client).login("m@example.com")
    query = {"specialization": doctor.specialization, "city": "Springfield"}
    name = "portal_search_cache_total"
    cells = [("list", "miss"), ("list", "hit"), ("day", "miss"), ("day", "hit")]

    def counts() -> list[float]:  # the counter is the process's: other tests add to it too
        body = client.get("/metrics").get_data(as_text=True)
        return [_sample(body, name, layer=layer, result=result) for layer, result in cells]

    # A result list's key carries the minute the lead time starts at, so three searches that
    # straddle a minute's turn rightly miss twice: measure within one minute.
    for _attempt in range(3):
        started = time_module.time()
        before = counts()
        for _ in range(3):
            assert client.get("/patient/search", query_string=query).status_code == 200
        added = [after - was for after, was in zip(counts(), before, strict=True)]
        if int(started // 60) == int(time_module.time() // 60):
            break
        with served.app_context():
            cache.clear()  # the next attempt starts from an empty cache again
    # The first search misses the list and its 7 doctor-days; the next two hit the list.
    assert added == [1, 2, 7, 0]


def test_json_log_lines_carry_the_request_id(app, capsys):
    from pythonjsonlogger.json import JsonFormatter

    stream_handler = logging.StreamHandler()
    stream_handler.addFilter(ContextFilter())
    stream_handler.setFormatter(JsonFormatter(JSON_FIELDS))
    logger = logging.getLogger("portal.test-logging")
    logger.addHandler(stream_handler)
    logger.setLevel(logging.INFO)
    try:
        with app.test_request_context("/", headers={"X-Request-ID": "req-abc-123"}):
            logger.info("hello")
    finally:
        logger.removeHandler(stream_handler)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "hello"
    assert line["request_id"] == "req-abc-123"
    assert line["job_id"] == "-"
