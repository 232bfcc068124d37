"""Benchmark plumbing: a gunicorn server, sign-in, wrk runs, direct query timings, tables.

Everything here runs against 127.0.0.1 only, with bounded durations.
"""

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = ROOT / "bench" / "wrk_report.lua"
VENV_BIN = Path(sys.executable).parent


@dataclass
class Result:
    name: str
    p50: float
    p95: float
    p99: float
    rps: float | None = None
    note: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The production default of deploy/gunicorn.conf.py: WEB_CONCURRENCY, else one worker per core.
WORKERS = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)


@dataclass
class Server:
    port: int
    pid: int  # the gunicorn master; its children are the workers


@contextmanager
def gunicorn(env: dict[str, str], workers: int = WORKERS, extra_args: tuple[str, ...] = ()):
    """A gunicorn serving wsgi:app on a free loopback port; yields the port."""
    with gunicorn_server(env, workers, extra_args) as server:
        yield server.port


@contextmanager
def gunicorn_server(
    env: dict[str, str],
    workers: int = WORKERS,
    extra_args: tuple[str, ...] = (),
    root: Path = ROOT,
    app: str = "wsgi:app",
):
    """Like gunicorn(), with more command-line options, the checkout to serve (`root`, by
    default this one) and the WSGI app; yields the port and the master's pid."""
    port = free_port()
    command = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *extra_args,
    ]
    process = subprocess.Popen(command, cwd=root, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield Server(port, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)


def request(port, method, path, body=None, headers=None):
    """One HTTP request; returns (status, headers, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, response.getheaders(), text


def _cookie(headers) -> str:
    for name, value in headers:
        if name.lower() == "set-cookie" and value.startswith("session="):
            return value.split(";", 1)[0]
    return ""


def portal_login(port: int, email: str, password: str) -> str:
    """Sign in through the real form; returns the session cookie header value."""
    status, headers, html = request(port, "GET", "/login")
    cookie = _cookie(headers)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    body = urlencode({"email": email, "password": password, "csrf_token": token})
    status, headers, _ = request(
        port,
        "POST",
        "/login",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    if status != 303:
        raise RuntimeError(f"sign-in as {email} answered {status}")
    return _cookie(headers) or cookie


def api_login(port: int, email: str, password: str) -> str:
    """Sign in through the API; returns the Authorization header value."""
    status, _, text = request(
        port,
        "POST",
        "/api/auth/login",
        json.dumps({"email": email, "password": password}),
        {"Content-Type": "application/json"},
    )
    if status != 200:
        raise RuntimeError(f"API sign-in as {email} answered {status}: {text[:200]}")
    return "Bearer " + json.loads(text)["access_token"]


def wrk(
    port: int,
    name: str,
    paths: list[str],
    *,
    cookie="",
    auth="",
    method="GET",
    body="",
    connections=16,
    duration=10,
    threads=2,
) -> Result:
    """Run wrk over the paths; fails loudly if any response was not 2xx."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    env = {
        **os.environ,
        "BENCH_PATHS": "|".join(paths),
        "BENCH_COOKIE": cookie,
        "BENCH_AUTH": auth,
        "BENCH_METHOD": method,
        "BENCH_BODY": body,
    }
    output = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "-s",
            str(WRK_SCRIPT),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    if data["non2xx"]:
        raise RuntimeError(f"{name}: {data['non2xx']} non-2xx answers")
    rps = data["requests"] / (data["duration_us"] / 1e6)
    note = f"c={connections}" + (f", {data['errors']} socket errors" if data["errors"] else "")
    return Result(name, data["p50"], data["p95"], data["p99"], rps, note)


def time_calls(name: str, call, repeat: int = 50, warmup: int = 3, note: str = "") -> Result:
    """p50/p95/p99 in milliseconds of a Python call (a query, a service)."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return summarize(name, samples, note)


def summarize(name: str, samples: list[float], note: str = "") -> Result:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return Result(name, statistics.median(ordered), pick(0.95), pick(0.99), None, note)


def table(results: list[Result]) -> str:
    lines = [
        "| what | p50 ms | p95 ms | p99 ms | requests/s | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rps = f"{r.rps:,.0f}" if r.rps is not None else ""
        lines.append(f"| {r.name} | {r.p50:.2f} | {r.p95:.2f} | {r.p99:.2f} | {rps} | {r.note} |")
    return "\n".join(lines)


@dataclass
class Ratio:
    """One comparison the report prints as a ratio: the review's pattern (or bare Flask) and
    ours, measured the same way on the same data in the same run."""

    what: str
    theirs: Result
    ours: Result


def ratio_table(ratios: list[Ratio]) -> str:
    """Each comparison's latencies side by side and how many times ours is quicker (for the bare
    ceiling, how many times quicker bare Flask is: below 1 means ours is slower)."""
    lines = [
        "| comparison | theirs p50 / p95 ms | ours p50 / p95 ms | ratio at p50 | ratio at p95 "
        "| requests/s, theirs / ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in ratios:
        a, b = r.theirs, r.ours
        rps = f"{a.rps:,.0f} / {b.rps:,.0f}" if a.rps and b.rps else ""
        lines.append(
            f"| {r.what} | {a.p50:.2f} / {a.p95:.2f} | {b.p50:.2f} / {b.p95:.2f} "
            f"| {a.p50 / b.p50:.1f}× | {a.p95 / b.p95:.1f}× | {rps} |"
        )
    return "\n".join(lines)
