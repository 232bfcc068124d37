"""Slow clients against gunicorn's sync workers, without and with deploy/nginx.conf in front.

A gunicorn of the test's own (2 sync workers, a 5 s timeout) and an nginx running
deploy/nginx.conf in front of it (its ports, files and certificate swapped for the test's):

- straight at gunicorn, two clients sending their header a byte a second take both workers: a
  normal request waits until gunicorn's timeout kills them, then the portal recovers by itself
  (why production puts nginx in front);
- through nginx, twenty such clients change nothing for everyone else, and nginx cuts them
  after client_header_timeout; a client that asks for a large page and reads nothing holds no
  worker either (proxy buffering);
- with gunicorn down, nginx answers a plain 502 at once, and still serves the static files;
- the API's JSON is gzipped, the portal's pages are not (BREACH).
"""

import gzip
import json
import os
import re
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal.config import TestConfig
from tests.factories import gen_appointment, gen_doctor, gen_patient, gen_record
from tests.ops.proxy_servers import (
    NGINX_CONF,
    Gunicorn,
    Nginx,
    Slowloris,
    connect,
    fetch,
    free_port,
    get,
    gunicorn,
    nginx,
    nginx_binary,
    sign_in,
    wait_until,
)

WORKERS = 2
TIMEOUT = 5  # gunicorn's --timeout for this test (production: 30)
SLOW_CLIENTS = 20


def nginx_seconds(directive: str) -> int:
    """A timeout of deploy/nginx.conf, in seconds ("client_header_timeout 10s;")."""
    match = re.search(rf"^\s*{directive} (\d+)s;", NGINX_CONF.read_text(), re.MULTILINE)
    assert match, f"{directive} is not set in seconds in deploy/nginx.conf"
    return int(match.group(1))


HEADER_TIMEOUT = nginx_seconds("client_header_timeout")


pytestmark = pytest.mark.skipif(
    nginx_binary() is None,
    reason="the nginx binary is missing (apt-get install nginx)",
)


@dataclass
class Stack:
    gunicorn: Gunicorn
    nginx: Nginx


@pytest.fixture(scope="module")
def stack(app, database_url, tmp_path_factory):
    """gunicorn on the test database and Redis, and deploy/nginx.conf in front of it."""
    directory = tmp_path_factory.mktemp("slow-client")
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "TEST_DATABASE_URL": database_url,
        "TEST_REDIS_URL": TestConfig.REDIS_URL,
    }
    with (
        gunicorn(env, directory, workers=WORKERS, timeout=TIMEOUT) as server,
        nginx(directory / "nginx", server.port) as web,
    ):
        yield Stack(server, web)


def wait_until_prompt(port: int, **kwargs) -> None:
    """/healthz answers within a second: every worker is free (after an earlier test)."""
    wait_until(
        lambda: get(port, "/healthz", timeout=1, **kwargs).status == 200,
        3 * TIMEOUT,
        f"/healthz on {port} to answer within a second",
    )


def report(line: str) -> None:
    print(f"\n[slow client] {line}")  # shown with -s; the numbers the README quotes


def test_straight_at_gunicorn_two_slow_clients_hold_both_workers_until_the_timeout(stack):
    server = stack.gunicorn
    wait_until_prompt(server.port)
    killed_before = server.worker_timeouts()

    with Slowloris(server.port, WORKERS) as slow:
        time.sleep(0.5)  # each sync worker has accepted one and blocks reading its header
        waited = get(server.port, "/healthz", timeout=TIMEOUT + 20)
        cut = slow.wait_all_cut(TIMEOUT + 10)

    report(
        f"gunicorn alone, {WORKERS} slow clients: /healthz took {waited.seconds:.1f} s "
        f"(timeout {TIMEOUT} s); slow clients cut after "
        f"{', '.join(f'{c.cut_after:.1f} s' for c in cut)} ({cut[0].answer[:30]!r})"
    )
    # It hung: no worker read it until the arbiter killed the ones stuck on the slow clients
    # (heartbeat older than `timeout`) and started new ones.
    assert waited.status == 200
    assert waited.seconds >= TIMEOUT - 1, f"answered in {waited.seconds:.1f} s: no worker was held"
    # ...but for a bounded time: the timeout, the arbiter's 1 s tick, a new worker's start
    # (seconds on a loaded machine: importing the app).
    assert waited.seconds < TIMEOUT + 15
    assert server.worker_timeouts() >= killed_before + WORKERS
    for conn in cut:
        assert TIMEOUT - 1 <= conn.cut_after < TIMEOUT + 10, conn

    # It recovers by itself: same master, new workers, prompt answers.
    assert server.process.poll() is None
    after = get(server.port, "/healthz", timeout=5)
    assert after.status == 200 and after.seconds < 1, after


def test_through_nginx_slow_clients_wait_in_nginx_and_are_cut_after_the_header_timeout(stack):
    web, server = stack.nginx, stack.gunicorn
    wait_until_prompt(web.https_port, tls=web.tls)
    patient = gen_patient(email="steady@example.com")
    cookie = sign_in(web.https_port, "steady@example.com", TestConfig.DEMO_PASSWORD, tls=web.tls)
    killed_before = server.worker_timeouts()

    seconds = []
    with Slowloris(web.https_port, SLOW_CLIENTS, tls=web.tls) as slow:
        # For as long as the slow clients are connected, everyone else is served at once.
        until = time.monotonic() + HEADER_TIMEOUT - 3
        while time.monotonic() < until:
            health = get(web.https_port, "/healthz", tls=web.tls, timeout=TIMEOUT)
            page = get(web.https_port, "/patient/", tls=web.tls, headers={"Cookie": cookie})
            assert health.status == 200, health
            assert page.status == 200 and patient.full_name in page.text, page.status
            seconds += [health.seconds, page.seconds]
            time.sleep(0.5)
        still_sending = len(slow.open)
        cut = slow.wait_all_cut(HEADER_TIMEOUT + 5)

    report(
        f"through nginx, {SLOW_CLIENTS} slow clients: {len(seconds)} requests, slowest "
        f"{max(seconds) * 1000:.0f} ms; cut after {min(c.cut_after for c in cut):.1f}-"
        f"{max(c.cut_after for c in cut):.1f} s ({sorted({c.how for c in cut})})"
    )
    assert still_sending == SLOW_CLIENTS  # nginx kept them all, and they held nothing
    assert max(seconds) < TIMEOUT / 2, seconds
    for conn in cut:
        # client_header_timeout is a total: a byte a second does not extend it.
        assert HEADER_TIMEOUT - 1 <= conn.cut_after < HEADER_TIMEOUT + 4, conn
        assert conn.how in {"closed", "reset"} or conn.answer.startswith(b"HTTP/1.1 408"), conn
    assert server.worker_timeouts() == killed_before  # no worker was ever stuck
    # nginx logged each of them as a 408 (Request Timeout) that never reached gunicorn.
    wait_until(lambda: len(web.access_lines(" 408 ")) >= SLOW_CLIENTS, 5, "nginx to log the 408s")


def test_through_nginx_a_client_that_reads_nothing_holds_no_worker(stack):
    web, server = stack.nginx, stack.gunicorn
    wait_until_prompt(web.https_port, tls=web.tls)
    # A page far larger than the socket buffers between gunicorn and the client (a few MB on
    # loopback): without buffering, a worker would block writing it to a client that does not
    # read, until gunicorn's timeout killed it.
    long_diagnosis = "A long history, dictated. " * 600_000  # 15.6 MB
    patient = gen_patient(email="reader@example.com")
    visit = gen_appointment(patient, gen_doctor(), datetime.now(UTC) - timedelta(days=3))
    gen_record(visit, diagnosis=long_diagnosis)
    cookie = sign_in(web.https_port, "reader@example.com", TestConfig.DEMO_PASSWORD, tls=web.tls)
    killed_before = server.worker_timeouts()
    served_before = len(server.access_lines("/patient/records"))

    request = (
        f"GET /patient/records HTTP/1.1\r\nHost: 127.0.0.1:{web.https_port}\r\n"
        f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode()
    # More readers than workers, each with a tiny receive window, none of them reading.
    readers = [connect(web.https_port, web.tls, receive_buffer=4096) for _ in range(WORKERS + 1)]
    try:
        start = time.monotonic()
        for reader in readers:
            reader.sendall(request)
        # gunicorn logs a request once it has written all of the response: nginx took all three.
        wait_until(
            lambda: len(server.access_lines("/patient/records")) >= served_before + len(readers),
            3 * TIMEOUT,
            "gunicorn to finish the three large responses",
        )
        handed_over = time.monotonic() - start
        health = get(web.https_port, "/healthz", tls=web.tls, timeout=TIMEOUT)
        report(
            f"through nginx, {len(readers)} clients reading nothing of a "
            f"{len(long_diagnosis) / 1e6:.1f} MB page: gunicorn done with all of them after "
            f"{handed_over:.1f} s; /healthz meanwhile {health.seconds * 1000:.0f} ms"
        )
        assert health.status == 200 and health.seconds < TIMEOUT / 2, health
        assert handed_over < TIMEOUT, "the workers were held until gunicorn's timeout"
        assert server.worker_timeouts() == killed_before

        # nginx still holds each whole page for its reader: one reads it now, all of it.
        received = bytearray()
        readers[0].settimeout(10)
        while chunk := read_some(readers[0]):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200"), bytes(received[:200])
        assert len(received) > len(long_diagnosis)
    finally:
        for reader in readers:
            reader.close()


def test_through_nginx_api_answers_are_compressed_and_pages_are_not(stack):
    """gzip for the API's JSON (bearer tokens: nothing for BREACH to read), never for the
    portal's pages (a CSRF token beside reflected input, sent with the cookie)."""
    web = stack.nginx
    patient = gen_patient(email="mobile@example.com")
    visit = gen_appointment(patient, gen_doctor(), datetime.now(UTC) - timedelta(days=3))
    for number in range(10):
        gen_record(
            visit, diagnosis=f"Finding {number}: " + "stable, reviewed with the patient. " * 8
        )
    login = fetch(
        web.https_port,
        "POST",
        "/api/auth/login",
        tls=web.tls,
        body=json.dumps({"email": "mobile@example.com", "password": TestConfig.DEMO_PASSWORD}),
        headers={"Content-Type": "application/json"},
    )
    assert login.status == 200, login.text
    auth = {"Authorization": "Bearer " + json.loads(login.body)["access_token"]}
    path = f"/api/patients/{patient.id}/medical-records"

    plain = get(web.https_port, path, tls=web.tls, headers=auth)
    zipped = get(web.https_port, path, tls=web.tls, headers={**auth, "Accept-Encoding": "gzip"})
    assert plain.status == zipped.status == 200
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert json.loads(gzip.decompress(zipped.body)) == json.loads(plain.body)
    assert len(zipped.body) < len(plain.body) / 3

    page = get(web.https_port, "/login", tls=web.tls, headers={"Accept-Encoding": "gzip"})
    assert page.status == 200 and "csrf_token" in page.text
    assert "Content-Encoding" not in page.headers


def read_some(sock) -> bytes:
    """The next bytes, or b"" at the end (a TLS close without close_notify counts as the end)."""
    try:
        return sock.recv(1 << 16)
    except ssl.SSLEOFError:
        return b""


def test_with_gunicorn_down_nginx_answers_a_plain_502_and_serves_static_files(tmp_path):
    with nginx(tmp_path / "nginx", upstream_port=free_port()) as web:  # nothing listens there
        page = get(web.https_port, "/patient/", tls=web.tls)
        assert page.status == 502
        assert page.seconds < 1  # a refused connect, not a wait
        assert "Temporarily unavailable" in page.text
        assert "Please try again in a minute" in page.text
        assert page.headers["Retry-After"] == "30"
        request_id = page.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's own
        assert f"Reference: {request_id}" in page.text
        # nginx logs a request after answering it: wait for the line.
        logged = wait_until(lambda: web.access_lines(f"req={request_id}"), 5, "the 502 logged")
        assert '"GET /patient/ HTTP/1.1" 502 ' in logged[0]

        api = get(web.https_port, "/api/specializations", tls=web.tls)
        assert api.status == 502 and api.headers["Content-Type"] == "application/json"
        assert json.loads(api.body)["error"]["code"] == "unavailable"

        # The caller's request id is kept when it looks like one, replaced when it does not.
        kept = get(web.https_port, "/", tls=web.tls, headers={"X-Request-ID": "lb-1234.5"})
        assert kept.headers["X-Request-ID"] == "lb-1234.5"
        odd = get(web.https_port, "/", tls=web.tls, headers={"X-Request-ID": "<b>x</b>"})
        assert "<b>" not in odd.text and re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])

        # Static files need no worker: served from disk, with their cache lifetimes.
        css = get(web.https_port, "/static/app.css", tls=web.tls)
        assert css.status == 200 and css.headers["Cache-Control"] == "public, max-age=3600"
        vendor = sorted((Path(__file__).parents[2] / "static" / "vendor").glob("*.js"))[0]
        js = get(web.https_port, f"/static/vendor/{vendor.name}", tls=web.tls)
        assert js.status == 200 and "immutable" in js.headers["Cache-Control"]
        assert js.headers["X-Content-Type-Options"] == "nosniff"

        # Plain HTTP only sends browsers to HTTPS.
        plain = get(web.http_port, "/patient/")
        assert plain.status == 301
        assert plain.headers["Location"].startswith("https://")
