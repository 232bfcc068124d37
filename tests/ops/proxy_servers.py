"""A gunicorn and an nginx of a test's own (deploy/nginx.conf on free ports), and slow clients.

Every wait has a deadline and every process started here is stopped by its context manager,
so a server that never comes up fails the test instead of hanging it.
"""

import datetime
import getpass
import http.client
import ipaddress
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.ops.redis_servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
GUNICORN = Path(sys.executable).parent / "gunicorn"


# --- gunicorn ---------------------------------------------------------------------------------


@dataclass
class Gunicorn:
    port: int
    process: subprocess.Popen
    access_log: Path
    error_log: Path

    def access_lines(self, needle: str) -> list[str]:
        """Lines of gunicorn's access log (written once a response has been sent) with needle."""
        if not self.access_log.exists():
            return []
        return [line for line in self.access_log.read_text().splitlines() if needle in line]

    def worker_timeouts(self) -> int:
        """How many times the arbiter has killed a worker for going past `timeout`."""
        if not self.error_log.exists():
            return 0
        return self.error_log.read_text().count("WORKER TIMEOUT")


@contextmanager
def gunicorn(env: dict[str, str], directory: Path, *, workers: int, timeout: int):
    """gunicorn wsgi:app with sync workers on a free loopback port, as production runs it
    (deploy/gunicorn.conf.py) but with fewer workers and a shorter timeout."""
    port = free_port()
    access_log, error_log = directory / "gunicorn-access.log", directory / "gunicorn-error.log"
    command = [
        str(GUNICORN),
        "wsgi:app",
        "--worker-class",
        "sync",
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--graceful-timeout",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        '%(h)s "%(r)s" %(s)s %(B)s req=%({x-request-id}o)s',
        "--error-logfile",
        str(error_log),
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers are in its process group: killpg ends them all
    )
    try:
        wait_until(
            lambda: get(port, "/healthz", timeout=2).status == 200,
            60,
            f"gunicorn on {port} (see {error_log})",
            interval=0.2,
        )
        yield Gunicorn(port, process, access_log, error_log)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (a graceful stop), SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- nginx ------------------------------------------------------------------------------------


@dataclass
class Nginx:
    https_port: int
    http_port: int
    directory: Path
    tls: ssl.SSLContext  # trusts the test's own certificate

    def access_lines(self, needle: str) -> list[str]:
        log = self.directory / "access.log"
        return [line for line in log.read_text().splitlines() if needle in line]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def render_nginx_conf(
    directory: Path, *, upstream_port: int, https_port: int, http_port: int, cert: Path, key: Path
) -> str:
    """deploy/nginx.conf with the test's ports, files and certificate; nothing else changes.

    Each production value must appear exactly once, so a change to deploy/nginx.conf that this
    rendering no longer understands fails here, loudly, rather than testing something else.
    """
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    replacements = {
        # nginx's workers as the test's own user: they write the buffered responses under
        # `directory`, inside pytest's temporary directory, which only this user may enter.
        "user www-data;": f"user {getpass.getuser()};",
        "pid /run/nginx.pid;": f"pid {directory / 'nginx.pid'};",
        "error_log /var/log/nginx/error.log warn;": f"error_log {directory / 'error.log'} info;",
        "access_log /var/log/nginx/portal.access.log portal;": (
            f"access_log {directory / 'access.log'} portal;"
        ),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "ssl_certificate /etc/ssl/portal/fullchain.pem;": f"ssl_certificate {cert};",
        "ssl_certificate_key /etc/ssl/portal/privkey.pem;": f"ssl_certificate_key {key};",
        "root /srv/portal;": f"root {ROOT};",
        # nginx's temporary files (a buffered response goes to proxy_temp_path) in the test's
        # directory, not /var/lib/nginx.
        "\nhttp {\n": "\nhttp {\n" + temp_paths,
    }
    text = NGINX_CONF.read_text()
    for old, new in replacements.items():
        count = text.count(old)
        assert count == 1, f"deploy/nginx.conf: expected {old!r} once, found it {count} times"
        text = text.replace(old, new)
    return text


def nginx_binary() -> str | None:
    """The nginx executable (in /usr/sbin, which a non-root PATH may lack), or None."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


@contextmanager
def nginx(directory: Path, upstream_port: int):
    """deploy/nginx.conf in front of 127.0.0.1:upstream_port, on free loopback ports."""
    binary = nginx_binary()
    assert binary, "nginx is not installed"
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(directory)
    https_port, http_port = free_port(), free_port()
    conf = directory / "nginx.conf"
    conf.write_text(
        render_nginx_conf(
            directory,
            upstream_port=upstream_port,
            https_port=https_port,
            http_port=http_port,
            cert=cert,
            key=key,
        )
    )
    base = [binary, "-p", f"{directory}/", "-e", str(directory / "error.log"), "-c", str(conf)]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t refused the rendered config:\n{check.stderr}"
    process = subprocess.Popen(
        [*base, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    tls = ssl.create_default_context(cafile=str(cert))
    try:

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                return True

        wait_until(listening, 15, f"nginx on {https_port} (see {directory / 'error.log'})")
        yield Nginx(https_port, http_port, directory, tls)
    finally:
        stop(process)


# --- HTTP clients -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def get(port: int, path: str, **kwargs) -> Answer:
    return fetch(port, "GET", path, **kwargs)


def fetch(
    port: int,
    method: str,
    path: str,
    *,
    tls: ssl.SSLContext | None = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """One request on a connection of its own; every socket operation bounded by `timeout`."""
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    start = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, response.headers, data, time.monotonic() - start)
    finally:
        conn.close()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _session_cookie(answer: Answer, default: str = "") -> str:
    for value in answer.headers.get_all("Set-Cookie") or []:
        if value.startswith("session="):
            return value.split(";", 1)[0]
    return default


def sign_in(port: int, email: str, password: str, *, tls: ssl.SSLContext | None = None) -> str:
    """Sign in through the real form; the session cookie ("session=...") to send afterwards."""
    form = get(port, "/login", tls=tls)
    cookie = _session_cookie(form)
    token = _CSRF.search(form.text).group(1)
    # Over HTTPS, CSRF also wants the Referer of a page of the same origin, as a browser sends.
    origin = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    answer = fetch(
        port,
        "POST",
        "/login",
        tls=tls,
        body=urlencode({"email": email, "password": password, "csrf_token": token}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Referer": f"{origin}/login",
        },
    )
    assert answer.status == 303, f"sign-in answered {answer.status}: {answer.text[:300]}"
    return _session_cookie(answer, cookie)


def connect(port: int, tls: ssl.SSLContext | None = None, *, receive_buffer: int | None = None):
    """A connected (and, with `tls`, handshaken) socket with a 5 s timeout per operation."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connect, so the window is small from the start
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(5)
    raw.connect(("127.0.0.1", port))
    if tls is None:
        return raw
    return tls.wrap_socket(raw, server_hostname="127.0.0.1")


# --- Slow clients -----------------------------------------------------------------------------

# A request header that never ends: a byte at a time, it would take minutes to send.
SLOW_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 4000


@dataclass
class SlowConnection:
    sock: socket.socket
    opened: float
    sent: int = 0
    cut_after: float | None = None  # seconds from opening until the server ended it
    answer: bytes = b""  # what the server sent before ending it (a 408 or 500 status line)
    how: str = ""  # "closed", "reset" or "answered"


@dataclass
class Slowloris:
    """Connections that send their request header one byte a second, from one thread.

    Each second every open connection gets its next byte; in between, the thread watches them
    all and notes when and how the server ends each one. It never reconnects.
    """

    port: int
    count: int
    tls: ssl.SSLContext | None = None
    connections: list[SlowConnection] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Slowloris":
        for _ in range(self.count):
            sock = connect(self.port, self.tls)
            self.connections.append(SlowConnection(sock, time.monotonic()))
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self.connections:
            conn.sock.close()

    @property
    def open(self) -> list[SlowConnection]:
        return [c for c in self.connections if c.cut_after is None]

    def wait_all_cut(self, timeout: float) -> list[SlowConnection]:
        wait_until(
            lambda: not self.open, timeout, f"the server to cut {len(self.open)} slow clients"
        )
        return self.connections

    def _cut(self, conn: SlowConnection, how: str) -> None:
        conn.cut_after = time.monotonic() - conn.opened
        conn.how = how

    def _run(self) -> None:
        next_byte = time.monotonic()
        while not self._stop.is_set() and self.open:
            now = time.monotonic()
            if now >= next_byte:
                for conn in self.open:
                    try:
                        conn.sock.send(SLOW_HEADER[conn.sent : conn.sent + 1])
                        conn.sent += 1
                    except (ConnectionError, ssl.SSLError, OSError):
                        self._cut(conn, "reset")
                next_byte = now + 1
            ready, _, _ = select.select(
                [c.sock for c in self.open], [], [], max(0.0, min(0.2, next_byte - now))
            )
            for conn in self.open:
                if conn.sock in ready:
                    self._read(conn)

    def _read(self, conn: SlowConnection) -> None:
        try:
            data = conn.sock.recv(4096)
        except (ssl.SSLWantReadError, TimeoutError):
            return  # part of a TLS record: not yet a verdict
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self._cut(conn, "answered" if conn.answer else "closed")
            return
        except (ConnectionError, ssl.SSLError, OSError):
            self._cut(conn, "reset")
            return
        if data:
            conn.answer += data
        else:
            self._cut(conn, "answered" if conn.answer else "closed")
