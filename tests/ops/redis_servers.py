"""Redis servers and Sentinels of a test's own: free ports, a temporary directory, bounded waits.

Every wait has a deadline, so a server that never comes up fails the test instead of hanging
it; every process started here is killed by the caller's `finally` (see `RedisProcesses`).
"""

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_CONF = ROOT / "deploy" / "redis.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval=0.05):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # not up yet: try again until the deadline
            last_error = error
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what} (last error: {last_error})"
    )


class RedisProcesses:
    """The redis-server and Sentinel processes of one test; `stop_all` kills what is left."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.processes: list[subprocess.Popen] = []

    def server(self, port: int, *options: str) -> subprocess.Popen:
        """deploy/redis.conf on `port`, its files in a directory of its own, plus `options`.

        The server runs a copy of the file: a Sentinel that promotes it sends CONFIG REWRITE,
        which would otherwise rewrite deploy/redis.conf itself.
        """
        data = self.directory / f"redis-{port}"
        data.mkdir()
        config = data / "redis.conf"
        shutil.copyfile(REDIS_CONF, config)
        process = self._start(
            [str(config), "--port", str(port), "--dir", str(data), "--daemonize", "no"], *options
        )
        wait_until(lambda: Redis(port=port, socket_timeout=0.5).ping(), 10, f"redis on {port}")
        return process

    def sentinel(self, port: int, service: str, master_port: int, **settings) -> subprocess.Popen:
        """A Sentinel watching 127.0.0.1:master_port as `service` (it rewrites its own file)."""
        config = self.directory / f"sentinel-{port}.conf"
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {self.directory}",
            f"sentinel monitor {service} 127.0.0.1 {master_port} 2",
            *(f"sentinel {name.replace('_', '-')} {service} {v}" for name, v in settings.items()),
        ]
        config.write_text("\n".join(lines) + "\n")
        process = self._start([str(config), "--sentinel"])
        wait_until(lambda: Redis(port=port, socket_timeout=0.5).ping(), 10, f"sentinel {port}")
        return process

    def _start(self, arguments: list[str], *options: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", *arguments, *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)
