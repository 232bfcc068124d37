"""Production's process settings: the client address through a reverse proxy, and gunicorn
with deploy/gunicorn.conf.py (several workers, one /metrics for all of them)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from portal import create_app
from portal.config import TestConfig
from portal.services.audit import request_address
from tests.ops.redis_servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _address_app(**settings):
    class Config(TestConfig):
        pass

    for name, value in settings.items():
        setattr(Config, name, value)
    app = create_app(Config)

    @app.get("/_t/address")
    def address():
        return request_address()

    return app.test_client()


def test_forwarded_headers_are_ignored_unless_trusted(app):
    forged = {"X-Forwarded-For": "203.0.113.7"}
    plain = _address_app()
    assert plain.get("/_t/address", headers=forged).get_data(as_text=True) == "127.0.0.1"
    behind = _address_app(PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1)
    assert behind.get("/_t/address", headers=forged).get_data(as_text=True) == "203.0.113.7"
    # One trusted hop: an address the client put in front of the proxy's is not believed.
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert behind.get("/_t/address", headers=chain).get_data(as_text=True) == "203.0.113.7"


def test_gunicorn_with_the_production_config_serves_and_adds_up_metrics(app, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_ENV": "development",  # the tests' own settings turn metrics off
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "DATABASE_URL": TestConfig.SQLALCHEMY_DATABASE_URI,
        "REDIS_URL": TestConfig.REDIS_URL,
        "SECRET_KEY": "a-test-secret-key-of-more-than-32-characters",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import http.client

        def get(path: str) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()

        deadline = time.monotonic() + 30
        while True:
            try:
                if get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, "gunicorn exited: a worker failed to boot"
            assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
            time.sleep(0.2)
        for _ in range(20):
            assert get("/healthz")[0] == 200
        status, body = get("/metrics")
        assert status == 200
        served = [
            line
            for line in body.splitlines()
            if line.startswith("portal_http_request_duration_seconds_count{")
            and 'endpoint="health.healthz"' in line
        ]
        assert served and float(served[0].split()[-1]) >= 21  # every worker's requests
        assert "portal_booking_conflicts_total" in body
    finally:
        process.terminate()
        process.wait(timeout=20)
