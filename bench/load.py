"""The review's load tests (issue 9, item 5), each against its own gunicorn on this machine.

Full size (on a quiet machine; each prints markdown tables, --json also writes the figures):

    .venv/bin/python bench/load.py users --users 1000 --duration 60 --json /tmp/load-users.json
    .venv/bin/python bench/load.py video --visits 50 --json /tmp/load-video.json
    .venv/bin/python bench/load.py deep --json /tmp/load-deep.json
    .venv/bin/python bench/load.py soak --minutes 30 --json /tmp/load-soak.json

and, beside the closed loop, 1,000 users who read for 15 s between searches (about 67 a second):

    .venv/bin/python bench/load.py users --users 1000 --think 15 --duration 120 \
        --json /tmp/load-users-think.json

Dry runs (a minute or two each):

    .venv/bin/python bench/load.py users --users 50 --duration 10
    .venv/bin/python bench/load.py video --visits 10 --rounds 2
    .venv/bin/python bench/load.py deep --repeat 1
    .venv/bin/python bench/load.py soak --minutes 1 --warmup-minutes 0.5

Sub-commands:

users  1,000 patients (patient1..patient1000@scale.example.com) sign in through the portal form,
       a few at a time (each sign-in is an argon2 hash; the time is reported), then wrk holds
       1,000 connections (-t 4 -c 1000) for --duration seconds, every request a search page
       from a Zipf-like mix of (specialization, city) pairs (bench/run.py's search_paths) with
       one of the 1,000 session cookies: each wrk thread owns a quarter of the cookies and
       rotates through them request by request (bench/load_requests.lua). Sync workers serve
       one request each at a time and close the connection after it, so all but --workers of
       the 1,000 connections wait in the listen backlog (--backlog 2048): the latency is
       mostly that queue (Little's law: connections / throughput). wrk's --timeout is long
       (30 s) so slow answers land in the percentiles instead of vanishing into a count;
       latency samples above 0.2/0.5/1/2/5/10 s are counted separately (wrk's histogram, which
       also holds its coordinated-omission corrections, so it may outnumber the answers).
       --think S runs asyncio users instead: each searches, reads for S seconds (exponential),
       searches again, holding no connection while reading. The error rate is
       (non-2xx answers + socket errors) / (answers + connect/read/write errors).
video  --visits (50) upcoming visits of as many patients become video visits with a room
       'ready' (video_rooms rows, as bench/run.py's ready_video_visit and the room job make
       them), the patients sign in through the API, and 50 threads behind a barrier POST
       /api/appointments/{id}/video-token at the same instant, --rounds times. The app runs
       with VIDEO_PROVIDER=twilio and TWILIO_BASE_URL pointing at a local listener that counts
       what reaches it: the count must stay 0 (tokens are signed locally). Each answer must be
       200 with a JWT for that visit's room and that user. Afterwards the visits and rooms are
       put back as they were (--keep leaves them).
deep   the heaviest of patients 1-50 (or --patient) is paged to the end: the API
       (GET /api/patients/{id}/appointments following next_cursor, limit=100 and the default
       20) and the portal (/patient/history, its infinite scroll over the last 6 months, then
       "Show older visits" page by page: /patient/history?section=older&cursor=..., as htmx
       fragments, with limit=100 and the default 20). Per walk: pages, rows (checked against
       the database), latency p50/p95/max per page, the first page against the last, after
       --warmup (1) unmeasured walk of each kind (fresh workers import and connect lazily).
soak   --connections (8) wrk connections for --minutes (30) over a mix of search, history
       (portal, first page and older pages), API history/search/records pages and the portal
       records page, in --interval (30 s) runs of wrk; after each, every gunicorn worker's
       VmRSS is read from /proc (the master's children). Gunicorn runs WITHOUT max_requests
       (production recycles workers: deploy/gunicorn.conf.py), so growth would show. Reports
       throughput, latency and errors per interval, RSS per worker at start, after warm-up, at
       the end and its maximum, and a verdict: every worker's growth after --warmup-minutes
       under --max-growth (10 %), no worker replaced, no errors. Records pages are 5 % of the
       mix, and each read writes an audit_log row. Metrics stay per process (no
       PROMETHEUS_MULTIPROC_DIR: see cmd_soak). wrk2 is not installed, so the load is
       a closed loop of a few connections rather than a fixed rate (a think time through wrk's
       delay() would hold idle connections open, and a sync worker blocks on those).

Needs `flask seed scale` data in --database-url, Redis (database 7 by default; it is FLUSHDB'd
at the start of each sub-command) and wrk. Sign-in throttling is raised through
LOGIN_LIMIT_PER_ADDRESS and LOGIN_LIMIT_PER_ACCOUNT, since every session comes from 127.0.0.1.
"""

import argparse
import asyncio
import base64
import html
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import api_login, gunicorn_server, portal_login, request
from bench.run import SECRET, search_paths

LUA = Path(__file__).resolve().parent / "load_requests.lua"
EMAIL = "patient{}@scale.example.com"


# Plumbing ---------------------------------------------------------------------------------


def app_env(args, **extra: str) -> dict[str, str]:
    """The app's environment: the scale database, Redis db 7, sign-in throttling raised."""
    return {
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": SECRET,
        "DEMO_PASSWORD": args.password,
        "LOGIN_LIMIT_PER_ADDRESS": "1000000 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT": "1000000 per minute",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def flush_redis(url: str) -> None:
    redis = Redis.from_url(url)
    if redis.connection_pool.connection_kwargs.get("db", 0) == 0:
        raise SystemExit("refusing to FLUSHDB Redis database 0: give --redis-url .../7")
    redis.flushdb()


def stats(samples: list[float]) -> dict:
    """p50/p95/p99/max/mean of milliseconds (nearest rank)."""
    if not samples:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def md_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def timed_request(port: int, method: str, path: str, headers=None, body=None):
    """One request on a new connection; returns (status, body text, milliseconds)."""
    start = time.perf_counter()
    status, _, text = request(port, method, path, body=body, headers=headers)
    return status, text, (time.perf_counter() - start) * 1000


def sign_in_all(port: int, emails: list[str], password: str, how, workers: int):
    """Sign everyone in, `workers` at a time; returns (credentials, seconds)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(lambda email: how(port, email, password), emails))
    return found, time.perf_counter() - start


def search_pairs(database_url: str) -> list[tuple]:
    """(specialization, city, doctors), the biggest first (as bench/run.py's pick_subjects)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT d.specialization, c.city, count(*) FROM doctors d"
            " JOIN clinics c ON c.id = d.clinic_id GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
        ).fetchall()


def run_wrk(
    port: int,
    requests_file: Path,
    *,
    cookies_file: Path | None = None,
    threads: int,
    connections: int,
    duration: float,
    timeout: int,
) -> dict:
    """wrk with bench/load_requests.lua; its figures plus requests/s and the error rate."""
    threads = max(1, min(threads, connections))
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(requests_file),
        "BENCH_COOKIES": str(cookies_file or ""),
        "BENCH_THREADS": str(threads),
    }
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        f"{timeout}s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + timeout + 120
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(line[6:])
    statuses = {int(k): v for k, v in data["statuses"].items()}
    data["statuses"] = statuses
    data["non2xx"] = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    data["socket_errors"] = data["connect"] + data["read"] + data["write"] + data["timeout"]
    attempts = data["requests"] + data["connect"] + data["read"] + data["write"]
    data["error_rate"] = (data["non2xx"] + data["socket_errors"]) / max(1, attempts)
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["connections"] = connections
    data["threads"] = threads
    return data


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def save_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str))
        print(f"\nwrote {path}")


def common_args(parser: argparse.ArgumentParser, workers: int = 5) -> None:
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/portal_scale"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--password", default="demo-password-2026")
    parser.add_argument("--workers", type=int, default=workers, help="gunicorn sync workers")
    parser.add_argument("--json", help="also write the figures here")


# users: 1,000 concurrent users searching ---------------------------------------------------


def sessions_touched(redis_url: str, within_s: float) -> str:
    """How many server-side sessions Redis saw read within the last `within_s` seconds."""
    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(match="portal:session:*", count=1000))
    try:
        recent = sum(redis.object("idletime", key) <= within_s for key in keys)
    except Exception as error:  # an LFU maxmemory-policy has no idle time
        return f"unknown ({error})"
    return f"{recent}/{len(keys)}"


async def _get(port: int, path: str, cookie: str) -> int:
    """GET on a new connection, read to the end (a sync worker closes it); the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        while await reader.read(65536):
            pass
        return status
    finally:
        writer.close()


async def think_time_users(
    port: int, cookies: list[str], paths: list[str], think: float, duration: float, timeout: int
) -> dict:
    """Each session a user who searches, reads for think seconds (exponential), searches again.

    A user holds no connection while thinking: a sync worker that accepted an idle connection
    would wait on it. Returns the same figures as run_wrk."""
    samples: list[float] = []
    statuses: dict[int, int] = {}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    began = time.monotonic()
    deadline = began + duration

    async def user(number: int, cookie: str) -> None:
        rng = random.Random(number)
        await asyncio.sleep(rng.uniform(0, think))
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(_get(port, rng.choice(paths), cookie), timeout)
            except TimeoutError:
                errors["timeout"] += 1
            except ConnectionRefusedError:
                errors["connect"] += 1
            except (OSError, ValueError, IndexError):
                errors["read"] += 1
            else:
                samples.append((time.perf_counter() - start) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
            await asyncio.sleep(rng.expovariate(1 / think))

    await asyncio.gather(*(user(i, c) for i, c in enumerate(cookies)))
    elapsed = min(time.monotonic(), deadline) - began
    s = stats(samples)
    ordered = sorted(samples)
    non2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    socket_errors = sum(errors.values())
    return {
        **{k: s[k] for k in ("p50", "p95", "p99", "max", "mean")},
        "p90": ordered[int(0.9 * (len(ordered) - 1))] if ordered else 0.0,
        "requests": len(samples),
        "samples": len(samples),
        "duration_us": int(elapsed * 1e6),
        **errors,
        "statuses": statuses,
        "over_ms": {
            str(ms): sum(v > ms for v in samples) for ms in (200, 500, 1000, 2000, 5000, 10000)
        },
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "error_rate": (non2xx + socket_errors) / max(1, len(samples) + socket_errors),
        "rps": len(samples) / elapsed,
        "connections": len(cookies),
        "threads": 1,
        "offered_rps": len(cookies) / think,
    }


def cmd_users(args) -> dict:
    connections = args.connections or args.users
    pairs = search_pairs(args.database_url)
    paths = search_paths(pairs, n=args.searches)
    flush_redis(args.redis_url)
    emails = [EMAIL.format(n) for n in range(args.first_patient, args.first_patient + args.users)]
    extra = ("--backlog", str(args.backlog))
    with (
        gunicorn_server(app_env(args), args.workers, extra) as server,
        tempfile.TemporaryDirectory(prefix="load-users-") as tmp,
    ):
        print(f"gunicorn: {args.workers} sync workers, backlog {args.backlog}, port {server.port}")
        cookies, login_seconds = sign_in_all(
            server.port, emails, args.password, portal_login, args.login_workers
        )
        if len(set(cookies)) != len(cookies) or not all(cookies):
            raise RuntimeError("sign-in did not give one distinct session per patient")
        print(
            f"signed in {len(cookies)} patients through the portal form in {login_seconds:.1f} s "
            f"({len(cookies) / login_seconds:.1f}/s, {args.login_workers} at a time)"
        )
        warm_seconds = 0.0
        if not args.no_warm:
            start = time.perf_counter()
            for path in dict.fromkeys(paths):  # each distinct search once, as traffic would
                status, _, _ = request(server.port, "GET", path, headers={"Cookie": cookies[0]})
                if status != 200:
                    raise RuntimeError(f"search answered {status}: {path}")
            warm_seconds = time.perf_counter() - start
            print(
                f"warmed the cache with {len(set(paths))} distinct searches in {warm_seconds:.1f} s"
            )
        if args.think:
            data = asyncio.run(
                think_time_users(
                    server.port, cookies, paths, args.think, args.duration, args.timeout
                )
            )
        else:
            data = run_wrk(
                server.port,
                write_lines(Path(tmp) / "requests", paths),
                cookies_file=write_lines(Path(tmp) / "cookies", cookies),
                threads=args.threads,
                connections=connections,
                duration=args.duration,
                timeout=args.timeout,
            )
        touched = sessions_touched(args.redis_url, args.duration / 2)
        # Every session still answers after the run (idle timeout 30 min, absolute 12 h).
        alive = sum(
            request(server.port, "GET", "/patient/", headers={"Cookie": c})[0] == 200
            for c in cookies[:: max(1, len(cookies) // 20)]
        )
    sampled = len(cookies[:: max(1, len(cookies) // 20)])
    over = {int(k): v for k, v in data["over_ms"].items()}
    rows = [
        [
            f"search, {args.users:,} sessions, Zipf mix of {len(paths)} searches",
            data["p50"],
            data["p95"],
            data["p99"],
            data["max"],
            round(data["rps"]),
            f"{data['requests']:,}",
            f"{data['non2xx'] + data['socket_errors']:,}",
            f"{data['error_rate']:.2%}",
            (
                f"{args.users} users, think {args.think:g} s (offered {data['offered_rps']:.0f}/s), "
                f"w={args.workers}"
                if args.think
                else f"wrk c={connections}, t={data['threads']}, w={args.workers}"
            ),
        ]
    ]
    print()
    print(
        md_table(
            [
                "what",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "requests/s",
                "answers",
                "errors",
                "error rate",
                "note",
            ],
            rows,
        )
    )
    total = max(1, data["samples"])  # wrk's histogram: answers plus its own corrections
    print()
    print(
        md_table(
            ["slower than", *[f"{ms / 1000:g} s" for ms in sorted(over)]],
            [
                [
                    "latency samples",
                    *[f"{over[ms]:,} ({over[ms] / total:.1%})" for ms in sorted(over)],
                ]
            ],
        )
    )
    if args.think:
        load = (
            f"Each user searches, reads for {args.think:g} s on average, searches again, with no "
            f"connection open while reading (timeout {args.timeout} s)."
        )
    else:
        load = (
            f"wrk --timeout {args.timeout}s; wrk leaves timed-out answers out of the percentiles. "
            f"Little's law: {connections} connections / {data['rps']:.0f} requests/s = "
            f"{connections / max(1.0, data['rps']) * 1000:,.0f} ms expected mean latency "
            f"(measured mean {data['mean']:,.0f} ms)."
        )
    print(
        f"\nstatuses {dict(sorted(data['statuses'].items()))}; socket errors: connect "
        f"{data['connect']}, read {data['read']}, write {data['write']}, timeout "
        f"{data['timeout']}. Sign-in: {len(cookies):,} patients in {login_seconds:.1f} s. "
        f"Sessions alive after the run: {alive}/{sampled} sampled; read by the app in the "
        f"last {args.duration / 2:g} s of the run: {touched}. {load}"
    )
    return {
        "test": "users",
        "users": args.users,
        "connections": 0 if args.think else connections,
        "think_s": args.think,
        "workers": args.workers,
        "backlog": args.backlog,
        "duration_s": args.duration,
        "distinct_searches": len(set(paths)),
        "sign_in_seconds": login_seconds,
        "warm_seconds": warm_seconds,
        "sessions_alive_after": f"{alive}/{sampled}",
        "sessions_read_in_second_half": touched,
        "wrk": data,
    }


# video: 50 video sessions started at once --------------------------------------------------


class _CountingHandler(BaseHTTPRequestHandler):
    def _answer(self):
        self.server.hits.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


class TwilioStandIn:
    """A listener on loopback that stands in for Twilio's API and counts what reaches it."""

    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
        self.server.hits = []
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def hits(self) -> list[str]:
        return self.server.hits


def prepare_video_visits(database_url: str, first_patient: int, count: int) -> tuple[list, list]:
    """The next scheduled visit of `count` patients from first_patient on, made a video visit
    with a 'ready' room; returns (visits, what to put back)."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT DISTINCT ON (a.patient_id) a.id, a.patient_id, a.kind, u.id, u.email"
            " FROM appointments a JOIN patients p ON p.id = a.patient_id"
            " JOIN users u ON u.id = p.user_id"
            " WHERE a.patient_id BETWEEN %s AND %s AND a.status = 'scheduled'"
            " AND a.starts_at > now() + interval '1 hour'"
            " ORDER BY a.patient_id, a.starts_at, a.id",
            (first_patient, first_patient + 4 * count),
        ).fetchall()[:count]
        if len(found) < count:
            raise RuntimeError(f"only {len(found)} patients with an upcoming visit")
        ids = [row[0] for row in found]
        rooms_before = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT appointment_id, status FROM video_rooms WHERE appointment_id = ANY(%s)",
                (ids,),
            )
        }
        undo = [(row[0], row[2], rooms_before.get(row[0])) for row in found]
        conn.execute("UPDATE appointments SET kind = 'video' WHERE id = ANY(%s)", (ids,))
        for appointment_id in ids:
            conn.execute(
                "INSERT INTO video_rooms (appointment_id, room_name, provider_room_id, status,"
                " attempts, created_at, updated_at) VALUES (%s, %s, %s, 'ready', 1, now(), now())"
                " ON CONFLICT (appointment_id) DO UPDATE SET status = 'ready'",
                (appointment_id, f"visit-{appointment_id}", f"RMbench{appointment_id}"),
            )
        names = dict(
            conn.execute(
                "SELECT appointment_id, room_name FROM video_rooms WHERE appointment_id = ANY(%s)",
                (ids,),
            ).fetchall()
        )
    visits = [
        {
            "appointment_id": row[0],
            "patient_id": row[1],
            "user_id": row[3],
            "email": row[4],
            "room_name": names[row[0]],
        }
        for row in found
    ]
    return visits, undo


def restore_video_visits(database_url: str, undo: list) -> None:
    with psycopg.connect(database_url) as conn:
        for appointment_id, kind, room in undo:
            conn.execute("UPDATE appointments SET kind = %s WHERE id = %s", (kind, appointment_id))
            if room is None:
                conn.execute("DELETE FROM video_rooms WHERE appointment_id = %s", (appointment_id,))
            else:
                conn.execute(
                    "UPDATE video_rooms SET status = %s WHERE appointment_id = %s",
                    (room[0], appointment_id),
                )


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def fire_at_once(port: int, visits: list[dict]) -> list[dict]:
    """Every visit's token request from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(visits))
    answers: list[dict] = [{} for _ in visits]

    def one(index: int) -> None:
        visit = visits[index]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # connects on request
        barrier.wait()
        start = time.perf_counter()
        try:
            conn.request(
                "POST",
                f"/api/appointments/{visit['appointment_id']}/video-token",
                headers={"Authorization": visit["auth"], "Content-Length": "0"},
            )
            response = conn.getresponse()
            text = response.read().decode()
            status = response.status
        except OSError as error:
            status, text = 0, repr(error)
        finally:
            conn.close()
        elapsed = (time.perf_counter() - start) * 1000
        ok = False
        if status == 200:
            body = json.loads(text)
            claims = jwt_claims(body["token"])
            grants = claims.get("grants", {})
            ok = (
                body["room_name"] == visit["room_name"]
                and grants.get("video", {}).get("room") == visit["room_name"]
                and grants.get("identity") == f"patient-{visit['user_id']}"
            )
        answers[index] = {
            "appointment_id": visit["appointment_id"],
            "status": status,
            "ms": elapsed,
            "token_ok": ok,
            "error": "" if status == 200 else text[:200],
        }

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(visits))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def cmd_video(args) -> dict:
    flush_redis(args.redis_url)
    visits, undo = prepare_video_visits(args.database_url, args.first_patient, args.visits)
    print(
        f"{len(visits)} video visits of patients {visits[0]['patient_id']}..."
        f"{visits[-1]['patient_id']} with rooms 'ready'"
    )
    rounds = []
    try:
        with TwilioStandIn() as twilio:
            env = app_env(
                args,
                VIDEO_PROVIDER="twilio",
                TWILIO_ACCOUNT_SID="AC" + "b" * 32,
                TWILIO_AUTH_TOKEN="bench-auth-token",  # noqa: S106 (a stand-in, not a secret)
                TWILIO_API_KEY="SK" + "b" * 32,
                TWILIO_API_SECRET="bench-api-secret-of-32-bytes-or-more",  # noqa: S106
                TWILIO_BASE_URL=twilio.url,
            )
            with gunicorn_server(env, args.workers) as server:
                auths, login_seconds = sign_in_all(
                    server.port,
                    [v["email"] for v in visits],
                    args.password,
                    api_login,
                    args.login_workers,
                )
                print(f"signed in {len(auths)} patients through the API in {login_seconds:.1f} s")
                for visit, auth in zip(visits, auths, strict=True):
                    visit["auth"] = auth
                for number in range(1, args.rounds + 1):
                    answers = fire_at_once(server.port, visits)
                    rounds.append(answers)
                    if number < args.rounds:
                        time.sleep(args.pause)
            twilio_calls = list(twilio.hits)
    finally:
        if args.keep:
            print("kept the video visits and rooms (--keep)")
        else:
            restore_video_visits(args.database_url, undo)
    rows = []
    for number, answers in enumerate(rounds, 1):
        latencies = [a["ms"] for a in answers]
        s = stats(latencies)
        ok = sum(a["status"] == 200 for a in answers)
        tokens = sum(a["token_ok"] for a in answers)
        label = "round 1 (fresh workers)" if number == 1 else f"round {number}"
        rows.append(
            [
                label,
                len(answers),
                s["p50"],
                s["p95"],
                s["max"],
                s["mean"],
                f"{ok}/{len(answers)}",
                f"{tokens}/{len(answers)}",
            ]
        )
    print()
    print(
        md_table(
            [
                f"{len(visits)} POST video-token at once",
                "requests",
                "p50 ms",
                "p95 ms",
                "max ms",
                "mean ms",
                "200",
                "valid token",
            ],
            rows,
        )
    )
    for number, answers in enumerate(rounds, 1):
        every = ", ".join(f"{a['ms']:.0f}" for a in sorted(answers, key=lambda a: a["ms"]))
        print(f"\nround {number}, every latency in ms, sorted: {every}")
        for a in answers:
            if a["status"] != 200 or not a["token_ok"]:
                print(f"  appointment {a['appointment_id']}: {a['status']} {a['error']}")
    print(
        f"\nTwilio calls: {len(twilio_calls)} (VIDEO_PROVIDER=twilio, TWILIO_BASE_URL at a local "
        f"listener that counts requests){': ' + ', '.join(twilio_calls[:5]) if twilio_calls else ''}"
        f". gunicorn: {args.workers} sync workers."
    )
    all_ok = all(a["status"] == 200 and a["token_ok"] for r in rounds for a in r)
    print("verdict: " + ("all 200 with a valid token" if all_ok else "FAILED: see above"))
    if twilio_calls:
        print("verdict: FAILED: a Twilio call happened")
    return {
        "test": "video",
        "visits": [{k: v for k, v in visit.items() if k != "auth"} for visit in visits],
        "workers": args.workers,
        "sign_in_seconds": login_seconds,
        "rounds": rounds,
        "summary": [
            dict(zip(["round", "n", "p50", "p95", "max", "mean"], r[:6], strict=True)) for r in rows
        ],
        "twilio_calls": twilio_calls,
        "all_ok": all_ok and not twilio_calls,
    }


# deep: a patient with 500+ appointments paged to the end -----------------------------------


def heaviest_patient(conn, first: int = 1, last: int = 50) -> int:
    return conn.execute(
        "SELECT patient_id FROM appointments WHERE patient_id BETWEEN %s AND %s"
        " GROUP BY patient_id ORDER BY count(*) DESC, patient_id LIMIT 1",
        (first, last),
    ).fetchone()[0]


def api_walk(port: int, auth: str, patient_id: int, limit: int | None, max_pages: int = 0):
    """Follow next_cursor to the end (or max_pages); returns [(path, ms, rows)]."""
    pages = []
    cursor = None
    while True:
        query = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v}
        path = f"/api/patients/{patient_id}/appointments" + (
            "?" + urlencode(query) if query else ""
        )
        status, text, ms = timed_request(port, "GET", path, headers={"Authorization": auth})
        if status != 200:
            raise RuntimeError(f"API history answered {status}: {text[:200]}")
        body = json.loads(text)
        pages.append((path, ms, len(body["items"])))
        cursor = body["next_cursor"]
        if not cursor or (max_pages and len(pages) >= max_pages) or len(pages) > 100_000:
            return pages


_SENTINEL = re.compile(r'<tr class="sentinel" hx-get="([^"]+)"')
_MORE = re.compile(r'<tr class="more">\s*<td[^>]*>\s*<a href="([^"]+)"')


def _history_part(text: str) -> str:
    """The past visits of a history page (after its upcoming list), or a whole fragment."""
    marker = text.find('id="history-rows"')
    return text[marker:] if marker >= 0 else text


def _next_link(part: str) -> str | None:
    links = [m for m in _SENTINEL.findall(part) + _MORE.findall(part) if "upcoming" not in m]
    return html.unescape(links[-1]) if links else None


def portal_walk(port: int, cookie: str, limit: int | None, max_pages: int = 0):
    """The history page, its infinite scroll, then "Show older visits" to the end.

    Returns [(path, ms, rows, section)], section "first", "recent" or "older"."""
    path = "/patient/history" + (f"?limit={limit}" if limit else "")
    pages = []
    headers = {"Cookie": cookie}
    while path:
        section = (
            "first" if not pages else parse_qs(urlsplit(path).query).get("section", ["recent"])[0]
        )
        status, text, ms = timed_request(port, "GET", path, headers=headers)
        if status != 200:
            raise RuntimeError(f"portal history answered {status} for {path}: {text[:200]}")
        part = _history_part(text)
        pages.append((path, ms, part.count('<tr id="visit-'), section))
        path = _next_link(part)
        headers = {"Cookie": cookie, "HX-Request": "true"}  # what htmx sends for the next page
        if (max_pages and len(pages) >= max_pages) or len(pages) > 100_000:
            break
    return pages


def cmd_deep(args) -> dict:
    flush_redis(args.redis_url)
    with psycopg.connect(args.database_url) as conn:
        patient_id = args.patient or heaviest_patient(conn)
        total, past = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE starts_at < now()) FROM appointments"
            " WHERE patient_id = %s",
            (patient_id,),
        ).fetchone()
        email = conn.execute(
            "SELECT u.email FROM patients p JOIN users u ON u.id = p.user_id WHERE p.id = %s",
            (patient_id,),
        ).fetchone()[0]
    print(f"patient {patient_id} ({email}): {total:,} appointments, {past:,} in the past")
    walks: dict[str, list] = {}
    with gunicorn_server(app_env(args), args.workers) as server:
        auth = api_login(server.port, email, args.password)
        cookie = portal_login(server.port, email, args.password)
        for _ in range(args.warmup):  # fresh workers: imports, connections, the page cache
            for limit in (100, None):
                api_walk(server.port, auth, patient_id, limit)
                portal_walk(server.port, cookie, limit)
        for _ in range(args.repeat):
            for limit in (100, None):
                label = f"limit={limit or '20 (default)'}"
                walks.setdefault(f"API, {label}", []).append(
                    [
                        (p, ms, n, "api")
                        for p, ms, n in api_walk(server.port, auth, patient_id, limit)
                    ]
                )
                walks.setdefault(f"portal, {label}", []).append(
                    portal_walk(server.port, cookie, limit)
                )
    rows, report = [], []
    for name, runs in walks.items():
        parts = (
            [("", None)]
            if name.startswith("API")
            else [
                ("recent: page + infinite scroll", ("first", "recent")),
                ("older: Show older visits", ("older",)),
            ]
        )
        for suffix, sections in parts:
            chosen = [[p for p in run if sections is None or p[3] in sections] for run in runs]
            pages = chosen[0]
            latencies = [p[1] for run in chosen for p in run]
            s = stats(latencies)
            first = statistics.median(run[0][1] for run in chosen if run)
            last = statistics.median(run[-1][1] for run in chosen if run)
            head = stats([p[1] for run in chosen for p in run[:5]])["p50"]
            tail = stats([p[1] for run in chosen for p in run[-5:]])["p50"]
            rows_seen = sum(p[2] for p in pages)
            expected = total if name.startswith("API") else None
            label = f"{name}, {suffix}" if suffix else name
            rows.append(
                [
                    label,
                    len(pages),
                    rows_seen,
                    s["p50"],
                    s["p95"],
                    s["max"],
                    first,
                    last,
                    head,
                    tail,
                ]
            )
            report.append(
                {
                    "walk": label,
                    "pages": len(pages),
                    "rows": rows_seen,
                    "expected_rows": expected,
                    "repeats": len(chosen),
                    "latency": s,
                    "first_page_ms": first,
                    "last_page_ms": last,
                    "first5_p50_ms": head,
                    "last5_p50_ms": tail,
                    "per_page_ms": [[round(p[1], 3) for p in run] for run in chosen],
                }
            )
    print()
    print(
        md_table(
            [
                f"patient {patient_id} paged to the end",
                "pages",
                "rows",
                "p50 ms",
                "p95 ms",
                "max ms",
                "first page ms",
                "last page ms",
                "first 5 p50",
                "last 5 p50",
            ],
            rows,
        )
    )
    checks = []
    for name, runs in walks.items():
        seen = sum(p[2] for p in runs[0])
        want = total if name.startswith("API") else past
        checks.append(f"{name}: {seen:,} rows of {want:,} expected")
    print(
        f"\nRows against the database ({args.repeat} walk(s) each; API: every appointment, portal:"
        f" every past one): " + "; ".join(checks) + ". First/last page: the median over the"
        " walks; the portal's first page is the whole page (upcoming list and all), the rest"
        " are htmx fragments."
    )
    return {
        "test": "deep",
        "patient_id": patient_id,
        "appointments": total,
        "past": past,
        "repeat": args.repeat,
        "workers": args.workers,
        "walks": report,
    }


# soak: a steady load, worker memory over time ----------------------------------------------


def worker_pids(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            found.append(int(entry))
    return sorted(found)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample_rss(master: int) -> dict[int, int]:
    return {pid: kb for pid in worker_pids(master) if (kb := rss_kb(pid)) is not None}


def soak_requests(args, port: int, pairs) -> tuple[list[str], dict]:
    """The soak's request lines (PATH<TAB>header), weighted, and how many of each kind."""
    rng_paths = search_paths(pairs, n=200, seed=11)
    patients = list(range(args.first_patient, args.first_patient + args.patients))
    emails = [EMAIL.format(n) for n in patients]
    cookies, _ = sign_in_all(port, emails, args.password, portal_login, args.login_workers)
    auths, _ = sign_in_all(port, emails, args.password, api_login, args.login_workers)
    with psycopg.connect(args.database_url) as conn:
        ids = dict(
            conn.execute(
                "SELECT u.email, p.id FROM users u JOIN patients p ON p.user_id = u.id"
                " WHERE u.email = ANY(%s)",
                (emails,),
            ).fetchall()
        )
    kinds: dict[str, list[str]] = {k: [] for k in ("search", "history", "api", "records")}
    top = pairs[: min(20, len(pairs))]
    for i, (email, cookie, auth) in enumerate(zip(emails, cookies, auths, strict=True)):
        pid = ids[email]
        c, a = f"Cookie: {cookie}", f"Authorization: {auth}"
        kinds["search"] += [f"{p}\t{c}" for p in rng_paths[i :: len(emails)]]
        for path, *_ in portal_walk(port, cookie, None, max_pages=args.depth):
            kinds["history"].append(f"{path}\t{c}")
        for path, *_ in api_walk(port, auth, pid, None, max_pages=args.depth):
            kinds["api"].append(f"{path}\t{a}")
        spec, city, _ = top[i % len(top)]
        today = time.strftime("%Y-%m-%d", time.gmtime())
        week = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 6 * 86400))
        query = urlencode(
            {"specialization": spec, "city": city, "date_from": today, "date_to": week}
        )
        kinds["api"].append(f"/api/appointments/search?{query}\t{a}")
        kinds["records"] += [f"/patient/records\t{c}", f"/api/patients/{pid}/medical-records\t{a}"]
    # Weights: 40 % search, 30 % portal history, 25 % API, 5 % records (each read is audited).
    weights = {"search": 40, "history": 30, "api": 25, "records": 5}
    lines = []
    for kind, share in weights.items():
        pool = kinds[kind]
        want = max(len(pool), share * 20)
        lines += [pool[j % len(pool)] for j in range(want)]
    random.Random(5).shuffle(lines)
    return lines, {k: len(v) for k, v in kinds.items()}


def cmd_soak(args) -> dict:
    pairs = search_pairs(args.database_url)
    flush_redis(args.redis_url)
    # Metrics per process, as the other benchmarks run: with PROMETHEUS_MULTIPROC_DIR set the
    # workers do not boot at the time of writing (DuplicateTimeseries for
    # portal_booking_conflicts), and that is what deploy/gunicorn.conf.py sets.
    env = app_env(args)
    total_s = args.minutes * 60
    warmup_s = min(args.warmup_minutes * 60, max(args.interval, total_s / 2))
    intervals = []
    with (
        gunicorn_server(env, args.workers, ("--backlog", "2048")) as server,
        tempfile.TemporaryDirectory(prefix="load-soak-") as tmp,
    ):
        master = server.pid
        start_rss = sample_rss(master)
        lines, kinds = soak_requests(args, server.port, pairs)
        requests_file = write_lines(Path(tmp) / "requests", lines)
        print(
            f"gunicorn master {master}, workers {sorted(start_rss)} (no max_requests); "
            f"{len(lines)} request lines ({kinds}); {args.connections} connections, "
            f"{args.minutes} min in {args.interval} s runs, warm-up {warmup_s / 60:g} min"
        )
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < total_s - 1:
            length = min(args.interval, total_s - elapsed)
            data = run_wrk(
                server.port,
                requests_file,
                threads=min(2, args.connections),
                connections=args.connections,
                duration=length,
                timeout=args.timeout,
            )
            rss = sample_rss(master)
            at = time.monotonic() - began
            intervals.append({"t_s": at, "wrk": data, "rss_kb": rss})
            print(
                f"  {at / 60:5.1f} min: {data['rps']:7.0f} req/s p50 {data['p50']:.1f} ms "
                f"p95 {data['p95']:.1f} ms p99 {data['p99']:.1f} ms errors "
                f"{data['non2xx'] + data['socket_errors']}; RSS MB "
                + " ".join(f"{kb / 1024:.0f}" for _, kb in sorted(rss.items())),
                flush=True,
            )
    # Per worker: start, after warm-up, end, max; growth after warm-up.
    pids = sorted({pid for i in intervals for pid in i["rss_kb"]} | set(start_rss))
    replaced = sorted(set(pids) - set(start_rss)) + sorted(
        pid for pid in start_rss if intervals and pid not in intervals[-1]["rss_kb"]
    )
    after_warmup = [i for i in intervals if i["t_s"] >= warmup_s - 1] or intervals[-1:]
    baseline_at = after_warmup[0]["t_s"]
    worker_rows, report = [], []
    verdict_ok = not replaced
    for pid in pids:
        series = [(i["t_s"], i["rss_kb"][pid]) for i in intervals if pid in i["rss_kb"]]
        if not series:
            continue
        base = next((kb for t, kb in series if t >= baseline_at), series[-1][1])
        end = series[-1][1]
        peak = max([kb for _, kb in series] + [start_rss.get(pid, 0)])
        growth = (end - base) / base if base else 0.0
        tail = [(t, kb) for t, kb in series if t >= baseline_at]
        slope = 0.0
        if len(tail) >= 2:
            mean_t = statistics.fmean(t for t, _ in tail)
            mean_kb = statistics.fmean(kb for _, kb in tail)
            var = sum((t - mean_t) ** 2 for t, _ in tail)
            slope = sum((t - mean_t) * (kb - mean_kb) for t, kb in tail) / var if var else 0.0
        verdict_ok &= growth < args.max_growth
        worker_rows.append(
            [
                str(pid),
                start_rss.get(pid, 0) / 1024,
                base / 1024,
                end / 1024,
                peak / 1024,
                f"{growth:+.1%}",
                slope * 3600 / 1024,
            ]
        )
        report.append(
            {
                "pid": pid,
                "start_kb": start_rss.get(pid),
                "after_warmup_kb": base,
                "end_kb": end,
                "max_kb": peak,
                "growth_after_warmup": growth,
                "slope_mb_per_hour": slope * 3600 / 1024,
                "series_kb": series,
            }
        )
    print()
    print(
        md_table(
            [
                "worker pid",
                "RSS start MB",
                f"after warm-up ({baseline_at / 60:.1f} min) MB",
                "end MB",
                "max MB",
                "growth after warm-up",
                "trend after warm-up MB/h",
            ],
            worker_rows,
        )
    )
    print()
    interval_rows = [
        [
            f"{i['t_s'] / 60:.1f}",
            round(i["wrk"]["rps"]),
            i["wrk"]["p50"],
            i["wrk"]["p95"],
            i["wrk"]["p99"],
            i["wrk"]["max"],
            i["wrk"]["requests"],
            i["wrk"]["non2xx"],
            i["wrk"]["socket_errors"],
            sum(i["rss_kb"].values()) / 1024,
        ]
        for i in intervals
    ]
    print(
        md_table(
            [
                "minute",
                "requests/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "answers",
                "non-2xx",
                "socket errors",
                "workers' RSS MB",
            ],
            interval_rows,
        )
    )
    answers = sum(i["wrk"]["requests"] for i in intervals)
    errors = sum(i["wrk"]["non2xx"] + i["wrk"]["socket_errors"] for i in intervals)
    verdict_ok &= errors == 0
    print(
        f"\n{answers:,} answers, {errors:,} errors, over {len(intervals)} runs of wrk "
        f"(c={args.connections}, {args.workers} workers)."
        + (f" Workers replaced: {replaced}." if replaced else " No worker was replaced.")
    )
    print(
        "verdict: "
        + (
            f"bounded: every worker grew less than {args.max_growth:.0%} after warm-up, no errors"
            if verdict_ok
            else f"NOT bounded or not clean: growth >= {args.max_growth:.0%}, a replaced worker"
            " or errors (see above)"
        )
    )
    return {
        "test": "soak",
        "minutes": args.minutes,
        "connections": args.connections,
        "workers": args.workers,
        "warmup_s": warmup_s,
        "request_kinds": kinds,
        "workers_rss": report,
        "intervals": intervals,
        "answers": answers,
        "errors": errors,
        "replaced_workers": replaced,
        "bounded": verdict_ok,
    }


# -------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    users = sub.add_parser("users", help="1,000 concurrent users searching")
    common_args(users)
    users.add_argument("--users", type=int, default=1000, help="patients signed in")
    users.add_argument("--first-patient", type=int, default=1)
    users.add_argument("--connections", type=int, default=0, help="default: one per user")
    users.add_argument("--threads", type=int, default=4, help="wrk threads")
    users.add_argument("--duration", type=int, default=60, help="seconds of load")
    users.add_argument("--timeout", type=int, default=30, help="wrk --timeout, seconds")
    users.add_argument("--backlog", type=int, default=2048, help="gunicorn --backlog")
    users.add_argument("--searches", type=int, default=200, help="length of the Zipf mix")
    users.add_argument("--login-workers", type=int, default=4, help="sign-ins at a time")
    users.add_argument("--no-warm", action="store_true", help="do not prefill the cache")
    users.add_argument(
        "--think",
        type=float,
        default=0,
        help="seconds a user reads between searches (asyncio users, no idle connections);"
        " 0: wrk, a closed loop, every connection always busy",
    )
    users.set_defaults(run=cmd_users)

    video = sub.add_parser("video", help="50 video sessions started at once")
    common_args(video)
    video.add_argument("--visits", type=int, default=50)
    video.add_argument("--first-patient", type=int, default=1)
    video.add_argument("--rounds", type=int, default=3, help="times the 50 start together")
    video.add_argument("--pause", type=float, default=2.0, help="seconds between rounds")
    video.add_argument("--login-workers", type=int, default=4)
    video.add_argument("--keep", action="store_true", help="leave the video visits and rooms")
    video.set_defaults(run=cmd_video)

    deep = sub.add_parser("deep", help="a patient with 500+ appointments paged to the end")
    common_args(deep)
    deep.add_argument("--patient", type=int, default=0, help="default: heaviest of 1-50")
    deep.add_argument("--repeat", type=int, default=3, help="walks of each kind")
    deep.add_argument("--warmup", type=int, default=1, help="unmeasured walks of each kind first")
    deep.set_defaults(run=cmd_deep)

    soak = sub.add_parser("soak", help="steady load, worker memory over time")
    common_args(soak)
    soak.add_argument("--minutes", type=float, default=30)
    soak.add_argument("--interval", type=int, default=30, help="seconds between RSS samples")
    soak.add_argument("--warmup-minutes", type=float, default=5)
    soak.add_argument("--max-growth", type=float, default=0.10)
    soak.add_argument("--connections", type=int, default=8)
    soak.add_argument("--timeout", type=int, default=10, help="wrk --timeout, seconds")
    soak.add_argument("--patients", type=int, default=10, help="signed-in patients in the mix")
    soak.add_argument("--first-patient", type=int, default=1)
    soak.add_argument("--depth", type=int, default=20, help="history pages per patient in the mix")
    soak.add_argument("--login-workers", type=int, default=4)
    soak.set_defaults(run=cmd_soak)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    result = args.run(args)
    result["command"] = " ".join(sys.argv)
    result["seconds"] = time.time() - started
    save_json(args.json, result)


if __name__ == "__main__":
    main()
