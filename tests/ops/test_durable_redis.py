"""Sessions survive a Redis restart with the production configuration (AOF, everysec)."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from redis import Redis

from portal import create_app
from portal.config import TestConfig
from tests.conftest import AuthActions
from tests.factories import gen_patient

ROOT = Path(__file__).resolve().parents[2]


def start_redis(port: int, data_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            str(ROOT / "deploy" / "redis.conf"),
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    for _ in range(100):
        try:
            if client.ping():
                return process
        except Exception:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def redis_port(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port


def test_a_signed_in_session_survives_a_redis_restart(app, tmp_path, redis_port):
    process = start_redis(redis_port, tmp_path)
    try:

        class OwnRedis(TestConfig):
            REDIS_URL = f"redis://127.0.0.1:{redis_port}/0"

        durable = create_app(OwnRedis)
        client = durable.test_client()
        gen_patient(email="p@example.com")
        assert AuthActions(client).login("p@example.com").status_code == 303
        assert client.get("/patient/").status_code == 200

        Redis(port=redis_port).shutdown()  # a clean restart: the AOF is flushed
        process.wait(timeout=10)
        process = start_redis(redis_port, tmp_path)

        assert (tmp_path / "appendonlydir").exists()
        assert client.get("/patient/").status_code == 200  # still signed in
    finally:
        process.terminate()
        process.wait(timeout=10)
