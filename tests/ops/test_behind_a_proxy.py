"""Production's process settings: the client address through a reverse proxy, and gunicorn
with deploy/gunicorn.conf.py (several workers forked from one loaded app, one /metrics for all
of them)."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from portal import create_app
from portal.config import TestConfig
from portal.services.audit import request_address
from tests.ops import proxy_servers
from tests.ops.redis_servers import free_port, wait_until

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


@contextmanager
def production_gunicorn(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Callable]]:
    """gunicorn -c deploy/gunicorn.conf.py with two workers on a free port; yields the master
    and a get(path) -> (status, body)."""
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

    def get(path: str) -> tuple[int, str]:
        answer = proxy_servers.get(port, path, timeout=5)
        return answer.status, answer.text

    def answering() -> bool:
        assert process.poll() is None, "gunicorn exited: a worker failed to boot"
        return get("/healthz")[0] == 200

    try:
        wait_until(answering, 30, "gunicorn to answer /healthz", interval=0.2)
        yield process, get
    finally:
        process.terminate()
        process.wait(timeout=20)


def _workers(master: int) -> set[int]:
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def _anonymous_memory(pid: int) -> tuple[int, int]:
    """(Anonymous, Pss_Anon) in kB: the process's private-heap pages, and its proportional
    share of them. Pages still shared with the master after fork count a third each."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    )
    return int(fields["Anonymous"].split()[0]), int(fields["Pss_Anon"].split()[0])


def test_gunicorn_with_the_production_config_serves_and_adds_up_metrics(app, tmp_path):
    with production_gunicorn(tmp_path) as (_, get):
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


def test_workers_are_forks_of_the_loaded_app_and_a_killed_one_comes_back(app, tmp_path):
    """preload_app: the workers share the app the master loaded (so a recycled or crashed
    worker is a fork, not a fresh import) and each opens database connections of its own."""
    with production_gunicorn(tmp_path) as (master, get):
        # The first worker may answer before the master has forked the second.
        wait_until(lambda: len(_workers(master.pid)) == 2, 30, "gunicorn's two workers")
        workers = _workers(master.pid)
        for pid in workers:
            anonymous, proportional = _anonymous_memory(pid)
            assert proportional < 0.75 * anonymous, "a worker's heap is not shared with the master"
        os.kill(min(workers), signal.SIGKILL)
        (new,) = wait_until(lambda: _workers(master.pid) - workers, 30, "a new worker")
        anonymous, proportional = _anonymous_memory(new)
        assert proportional < 0.75 * anonymous
        answers = [get("/readyz") for _ in range(30)]  # the database and Redis, from both
        assert {status for status, _ in answers} == {200}, answers[:3]
