"""A PostgreSQL restart under a running app: a clean 503, then recovery without restarting the app.

The test runs its own PostgreSQL server (initdb in a temporary directory, as the postgres
user), so restarting it disturbs nothing else.
"""

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from flask_migrate import upgrade

from portal import create_app
from portal.config import TestConfig
from tests.conftest import AuthActions

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


@pytest.fixture
def own_postgres():
    assert (PG_BIN / "initdb").exists(), "PostgreSQL 15 server binaries are missing"
    data = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    shutil.chown(data, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    # -l keeps the server's output off our pipes (or capture would wait for it forever).
    pg_ctl = [
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data / "db"),
        "-o",
        options,
        "-w",
        "-l",
        str(data / "log"),
    ]
    as_postgres(*pg_ctl, "start")
    try:
        yield port, pg_ctl
    finally:
        as_postgres(*pg_ctl, "stop", "-m", "immediate")
        shutil.rmtree(data, ignore_errors=True)


def test_requests_fail_cleanly_during_a_restart_and_then_recover(app, own_postgres):
    port, pg_ctl = own_postgres

    class OwnDatabase(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        TESTING = False  # answer errors as production does

    served = create_app(OwnDatabase)
    with served.app_context():
        upgrade()
        from tests.factories import gen_patient

        gen_patient(email="p@example.com")
    client = served.test_client()
    assert AuthActions(client).login("p@example.com").status_code == 303
    assert client.get("/patient/").status_code == 200

    as_postgres(*pg_ctl, "restart", "-m", "fast")

    during = client.get("/patient/")  # the pooled connection died with the old server
    assert during.status_code == 503
    assert "Temporarily unavailable" in during.get_data(as_text=True)
    after = client.get("/patient/")
    assert after.status_code == 200  # the pool reconnected by itself
