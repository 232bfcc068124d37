"""A PostgreSQL server of the test's own (initdb in a temporary directory, as the postgres user),
for tests that restart it or need server settings the shared one does not have."""

import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


@dataclass
class OwnPostgres:
    port: int
    pg_ctl: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def restart(self) -> None:
        as_postgres(*self.pg_ctl, "restart", "-m", "fast")


@pytest.fixture
def own_postgres():
    assert (PG_BIN / "initdb").exists(), "PostgreSQL 15 server binaries are missing"
    data = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    shutil.chown(data, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    options = (
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c shared_preload_libraries=pg_stat_statements"
    )
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
        yield OwnPostgres(port, pg_ctl)
    finally:
        as_postgres(*pg_ctl, "stop", "-m", "immediate")
        shutil.rmtree(data, ignore_errors=True)
