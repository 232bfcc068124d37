"""The load benchmark: our endpoints through HTTP under gunicorn, and beside each, on the same
data in the same run, the pattern the review warned about, measured directly against the
database (so each naive-to-ours ratio compares like with like).

    .venv/bin/python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/portal_scale

Needs `flask seed scale` data in that database and wrk (apt-get install -y wrk). Starts its own
gunicorn (one worker per core, as deploy/gunicorn.conf.py) and uses Redis database 9 for sessions
and cache. The "ceiling" group serves bench/ceiling_app.py instead: bare Flask, one keyset query,
no portal, to show what the web layer itself reaches on this machine today. Bounded: every load run
lasts --duration seconds.
"""

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import naive
from bench.harness import (
    Ratio,
    Result,
    api_login,
    gunicorn,
    gunicorn_server,
    portal_login,
    ratio_table,
    request,
    summarize,
    table,
    time_calls,
    wrk,
)

PASSWORD_ENV = "DEMO_PASSWORD"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/portal_scale"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--password", default="demo-password-2026")
    parser.add_argument("--only", default="", help="comma-separated scenario groups")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args()


def pick_subjects(conn) -> dict:
    """A heavy patient, a busy (specialization, city), a doctor: read from the data itself."""
    heavy = conn.execute(
        "SELECT p.id, u.email FROM patients p JOIN users u ON u.id = p.user_id "
        "WHERE p.id = (SELECT patient_id FROM appointments WHERE patient_id IN "
        "(SELECT id FROM patients ORDER BY id LIMIT 2000) GROUP BY patient_id "
        "ORDER BY count(*) DESC LIMIT 1)"
    ).fetchone()
    count = conn.execute(
        "SELECT count(*) FROM appointments WHERE patient_id = %s", (heavy[0],)
    ).fetchone()[0]
    pairs = conn.execute(
        "SELECT d.specialization, c.city, count(*) FROM doctors d JOIN clinics c ON c.id = d.clinic_id "
        "GROUP BY 1, 2 ORDER BY 3 DESC"
    ).fetchall()
    return {
        "patient_id": heavy[0],
        "patient_email": heavy[1],
        "patient_rows": count,
        "pairs": pairs,
    }


def search_paths(pairs, n=40, seed=7) -> list[str]:
    """Searches over (specialization, city) pairs with a Zipf-like skew toward the big ones."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(pairs))]
    today = datetime.now(UTC).date()
    paths = []
    for spec, city, _ in rng.choices(pairs, weights, k=n):
        query = {
            "specialization": spec,
            "city": city,
            "date_from": today.isoformat(),
            "date_to": (today + timedelta(days=6)).isoformat(),
        }
        paths.append("/patient/search?" + urlencode(query))
    return paths


def cache_counts(port: int) -> dict[tuple[str, str], float]:
    """portal_search_cache_total by (layer, result), summed over the workers."""
    status, _, body = request(port, "GET", "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    counts = {}
    for line in body.splitlines():
        if line.startswith("portal_search_cache_total{"):
            labels, value = line.rsplit(" ", 1)
            layer = labels.split('layer="')[1].split('"')[0]
            result = labels.split('result="')[1].split('"')[0]
            counts[(layer, result)] = counts.get((layer, result), 0) + float(value)
    return counts


def hit_ratios(before: dict, after: dict) -> str:
    """The hit ratio of each layer between two scrapes."""
    parts = []
    for layer, name in (("list", "result lists"), ("day", "doctor-days")):
        hits = after.get((layer, "hit"), 0) - before.get((layer, "hit"), 0)
        misses = after.get((layer, "miss"), 0) - before.get((layer, "miss"), 0)
        if hits + misses:
            parts.append(f"{name} {hits / (hits + misses):.1%} hits of {hits + misses:,.0f}")
    return "; ".join(parts)


def run_search(args, subjects, env, results):
    """Search: a Zipf-like mix from an empty cache (with the hit ratio), one search warm,
    uncached (the availability cache off: no slots, lists or cards from Redis), Redis down for
    the cache; N+1 beside it."""
    top_spec, top_city, _ = subjects["pairs"][0]
    one = search_paths([(top_spec, top_city, 1)], n=1)
    mix = search_paths(subjects["pairs"], n=400)
    redis = Redis.from_url(args.redis_url)
    pages = {}
    for label, extra in [
        ("warm cache", {}),
        ("uncached: cache off", {"AVAILABILITY_CACHE_ENABLED": "0"}),
        ("cache Redis down", {"CACHE_REDIS_URL": "redis://127.0.0.1:1/0"}),
    ]:
        redis.flushdb()
        with tempfile.TemporaryDirectory() as metrics_dir:
            metrics_env = {"PROMETHEUS_MULTIPROC_DIR": metrics_dir}
            with gunicorn({**env, **extra, **metrics_env}) as port:
                cookie = portal_login(port, subjects["patient_email"], args.password)
                if label == "warm cache":
                    before = cache_counts(port)
                    zipf = wrk(
                        port,
                        f"search page, Zipf mix of {len(mix)} searches from an empty cache",
                        mix,
                        cookie=cookie,
                        connections=args.connections,
                        duration=args.duration,
                    )
                    zipf.note += "; " + hit_ratios(before, cache_counts(port))
                    results.append(zipf)
                    wrk(port, "fill", one, cookie=cookie, connections=1, duration=1, threads=1)
                pages[label] = wrk(
                    port,
                    f"search page, {label} (one spec+city, 7 days)",
                    one,
                    cookie=cookie,
                    connections=args.connections,
                    duration=args.duration,
                )
                results.append(pages[label])
    with psycopg.connect(args.database_url) as conn:
        n_plus_one = time_calls(
            "naive search: N+1 (a query per doctor), direct",
            lambda: naive.search_n_plus_one(conn, top_spec, top_city),
            repeat=20,
        )
        set_based = time_calls(
            "our search reads: 4 set-based queries, direct",
            lambda: naive.search_set_based(conn, top_spec, top_city),
            repeat=20,
        )
    results.extend((n_plus_one, set_based))
    return [
        Ratio(
            "search page through HTTP: uncached / warm cache",
            pages["uncached: cache off"],
            pages["warm cache"],
        ),
        Ratio("search reads: N+1 / set-based", n_plus_one, set_based),
    ]


def deep_history_cursor(args, env, subjects, depth=1000) -> str:
    """The portal's cursor for the row `depth` deep in the heavy patient's history."""
    from portal import create_app
    from portal.services.history import history_scope
    from portal.services.pagination import encode_cursor

    with psycopg.connect(args.database_url) as conn:
        starts_at, row_id = naive.history_cursor_at(conn, subjects["patient_id"], depth)
    config = {
        "SQLALCHEMY_DATABASE_URI": args.database_url,
        "SECRET_KEY": env["SECRET_KEY"],
        "REDIS_URL": args.redis_url,
        "METRICS_ENABLED": False,
    }
    with create_app(config).app_context():
        return encode_cursor(
            history_scope(subjects["patient_id"], None, None, None), (starts_at, row_id)
        )


def run_history(args, subjects, env, results):
    """History and records pages, portal and API, first and deep; naive patterns beside them."""
    pid = subjects["patient_id"]
    deep = deep_history_cursor(args, env, subjects)
    with gunicorn(env) as port:
        cookie = portal_login(port, subjects["patient_email"], args.password)
        auth = api_login(port, subjects["patient_email"], args.password)
        api_deep = api_cursor_at(port, auth, pid, pages=50)
        runs = [
            ("portal history, first page (default view)", ["/patient/history"], cookie, ""),
            (
                "portal history, page 51 (1,000 rows deep)",
                ["/patient/history?" + urlencode({"section": "older", "cursor": deep})],
                cookie,
                "",
            ),
            ("portal medical records, first page", ["/patient/records"], cookie, ""),
            ("API history, first page", [f"/api/patients/{pid}/appointments"], "", auth),
            (
                "API history, page 51 (1,000 rows deep)",
                [f"/api/patients/{pid}/appointments?" + urlencode({"cursor": api_deep})],
                "",
                auth,
            ),
            ("API medical records, first page", [f"/api/patients/{pid}/medical-records"], "", auth),
        ]
        for name, paths, run_cookie, run_auth in runs:
            results.append(
                wrk(
                    port,
                    name,
                    paths,
                    cookie=run_cookie,
                    auth=run_auth,
                    connections=args.connections,
                    duration=args.duration,
                )
            )
        results.append(
            wrk(
                port,
                "API history, first page, 50 connections",
                [f"/api/patients/{pid}/appointments"],
                auth=auth,
                connections=50,
                duration=args.duration,
            )
        )
        results.append(
            wrk(
                port,
                "portal history page 51, 50 connections",
                ["/patient/history?" + urlencode({"section": "older", "cursor": deep})],
                cookie=cookie,
                connections=50,
                duration=args.duration,
            )
        )
    with psycopg.connect(args.database_url) as conn:
        after = naive.history_cursor_at(conn, pid, 1000)
        unbounded = time_calls(
            "naive: whole history, unbounded, direct",
            lambda: naive.history_unbounded(conn, pid),
            repeat=30,
            note=f"{subjects['patient_rows']} rows",
        )
        offset = time_calls(
            "naive: OFFSET page 51, direct", lambda: naive.history_offset(conn, pid, 50)
        )
        first = time_calls(
            "ours: keyset page 1, direct", lambda: naive.history_keyset(conn, pid, None)
        )
        deep = time_calls(
            "ours: keyset page 51, direct", lambda: naive.history_keyset(conn, pid, after)
        )
        all_records = time_calls(
            "naive: all medical records, unbounded, direct",
            lambda: naive.records_unbounded(conn, pid),
            repeat=30,
        )
        records = time_calls(
            "ours: records keyset page, direct", lambda: naive.records_keyset(conn, pid)
        )
    results.extend((unbounded, offset, first, deep, all_records, records))
    return [
        Ratio("history: unbounded / keyset page 1", unbounded, first),
        Ratio("history page 51: OFFSET / keyset", offset, deep),
        Ratio("medical records: unbounded / keyset page", all_records, records),
    ]


def api_cursor_at(port: int, auth: str, patient_id: int, pages: int) -> str:
    """Walk the API's history `pages` pages deep, following next_cursor as a client would."""
    cursor = None
    for _ in range(pages):
        query = urlencode({"cursor": cursor}) if cursor else ""
        status, _, text = request(
            port,
            "GET",
            f"/api/patients/{patient_id}/appointments?{query}",
            headers={"Authorization": auth},
        )
        if status != 200:
            raise RuntimeError(f"API history answered {status}: {text[:200]}")
        cursor = json.loads(text)["next_cursor"]
    return cursor


def run_api(args, subjects, env, results):
    """API search and the video token (no network call: the room was made ahead)."""
    top_spec, top_city, _ = subjects["pairs"][0]
    today = datetime.now(UTC).date()
    search = "/api/appointments/search?" + urlencode(
        {
            "specialization": top_spec,
            "city": top_city,
            "date_from": today.isoformat(),
            "date_to": (today + timedelta(days=6)).isoformat(),
        }
    )
    appointment_id = ready_video_visit(args.database_url, subjects["patient_id"])
    Redis.from_url(args.redis_url).flushdb()
    with gunicorn(env) as port:
        auth = api_login(port, subjects["patient_email"], args.password)
        results.append(
            wrk(
                port,
                "API search, warm cache (one spec+city, 7 days)",
                [search],
                auth=auth,
                connections=args.connections,
                duration=args.duration,
            )
        )
        for connections in (args.connections, 2):
            results.append(
                wrk(
                    port,
                    f"API video token, {connections} clients",
                    [f"/api/appointments/{appointment_id}/video-token"],
                    auth=auth,
                    method="POST",
                    connections=connections,
                    duration=args.duration,
                    threads=min(2, connections),
                )
            )


def ready_video_visit(database_url: str, patient_id: int) -> int:
    """A video visit of the heavy patient with its room made ahead (as the job would)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT a.id FROM appointments a WHERE a.patient_id = %s AND a.status = 'scheduled' "
            "AND a.starts_at > now() ORDER BY a.starts_at LIMIT 1",
            (patient_id,),
        ).fetchone()
        if row is None:
            raise RuntimeError("the heavy patient has no upcoming visit")
        conn.execute("UPDATE appointments SET kind = 'video' WHERE id = %s", (row[0],))
        conn.execute(
            "INSERT INTO video_rooms (appointment_id, room_name, provider_room_id, status, attempts,"
            " created_at, updated_at) VALUES (%s, %s, %s, 'ready', 1, now(), now())"
            " ON CONFLICT (appointment_id) DO UPDATE SET status = 'ready'",
            (row[0], f"visit-{row[0]}", f"RMbench{row[0]}"),
        )
        return row[0]


def run_booking(args, subjects, env, results, bookings=60, warmup=12):
    """Bookings without contention: one client books distinct free slots of one doctor through
    the API, one after another, then cancels them (the data is left as it was)."""
    top_spec, top_city, _ = subjects["pairs"][0]
    email = "patient400000@scale.example.com"  # a light patient: no visits in the way
    today = datetime.now(UTC).date()
    with gunicorn(env) as port:
        auth = api_login(port, email, args.password)
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        slots: list[tuple[int, str]] = []
        for week in range(2, 6):  # past the cancel cutoff, so every booking can be cancelled
            start = today + timedelta(days=7 * week)
            query = urlencode(
                {
                    "specialization": top_spec,
                    "city": top_city,
                    "date_from": start.isoformat(),
                    "date_to": (start + timedelta(days=6)).isoformat(),
                    "limit": 1,
                }
            )
            status, _, text = request(
                port, "GET", f"/api/appointments/search?{query}", None, headers
            )
            for result in json.loads(text)["items"]:
                slots += [(result["doctor"]["id"], slot["starts_at"]) for slot in result["slots"]]
        booked, book_ms, cancel_ms, refused = [], [], [], 0
        # The first bookings warm each worker (its first connection, its first statements) and
        # are not counted.
        for n, (doctor_id, starts_at) in enumerate(slots[: warmup + bookings]):
            body = json.dumps({"doctor_id": doctor_id, "starts_at": starts_at, "kind": "in_person"})
            began = time.perf_counter()
            status, _, text = request(port, "POST", "/api/appointments", body, headers)
            if n >= warmup:
                book_ms.append((time.perf_counter() - began) * 1000)
            if status == 201:
                booked.append(json.loads(text)["id"])
            elif n >= warmup:
                refused += 1
        for n, appointment_id in enumerate(booked):
            began = time.perf_counter()
            status, _, _ = request(
                port, "POST", f"/api/appointments/{appointment_id}/cancel", None, headers
            )
            if n >= warmup:
                cancel_ms.append((time.perf_counter() - began) * 1000)
            if status != 200:
                raise RuntimeError(f"cancelling {appointment_id} answered {status}")
    results.append(
        summarize(
            "API booking, one client, distinct slots",
            book_ms,
            f"{len(book_ms)} timed after {warmup} to warm the workers, {refused} refused",
        )
    )
    results.append(summarize("API cancel, one client", cancel_ms, f"{len(cancel_ms)} timed"))


def run_ceiling(args, subjects, env, results):
    """PERFORMANCE.md's bare ceiling, measured now: bare Flask with one keyset query and with a
    constant body, beside our API history first page, each at 50 and at 16 connections."""
    pid = subjects["patient_id"]
    bare_env = {"CEILING_DATABASE_URL": args.database_url, "CEILING_PATIENT_ID": str(pid)}
    connections = (50, args.connections)
    bare_keyset: dict[int, Result] = {}  # what our API history page is set against
    with gunicorn_server(bare_env, app="bench.ceiling_app:app") as server:
        for count in connections:
            const = wrk(
                server.port,
                "ceiling: bare Flask, constant body",
                ["/const"],
                connections=count,
                duration=args.duration,
            )
            bare_keyset[count] = wrk(
                server.port,
                "ceiling: bare Flask, one keyset query",
                ["/keyset"],
                connections=count,
                duration=args.duration,
            )
            results.extend((const, bare_keyset[count]))
    ratios = []
    with gunicorn(env) as port:
        auth = api_login(port, subjects["patient_email"], args.password)
        for count in connections:
            ours = wrk(
                port,
                "ours: API history, first page",
                [f"/api/patients/{pid}/appointments"],
                auth=auth,
                connections=count,
                duration=args.duration,
            )
            results.append(ours)
            ratios.append(
                Ratio(f"bare keyset / our API history, c={count}", bare_keyset[count], ours)
            )
    return ratios


GROUPS = {
    "ceiling": run_ceiling,
    "search": run_search,
    "history": run_history,
    "api": run_api,
    "booking": run_booking,
}


def main():
    args = parse_args()
    env = {
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": SECRET,
        PASSWORD_ENV: args.password,
        "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute",
        "DB_POOL_SIZE": "5",
    }
    with psycopg.connect(args.database_url) as conn:
        subjects = pick_subjects(conn)
    print(f"heavy patient {subjects['patient_email']} with {subjects['patient_rows']} appointments")
    results: list[Result] = []
    ratios: list[Ratio] = []
    wanted = [g for g in (args.only.split(",") if args.only else GROUPS) if g]
    for group in wanted:
        ratios.extend(GROUPS[group](args, subjects, env, results) or [])
    print(table(results))
    if ratios:
        print()
        print(ratio_table(ratios))
    if args.json:
        report = {
            "results": [r.__dict__ for r in results],
            "ratios": [
                {"what": r.what, "theirs": r.theirs.__dict__, "ours": r.ours.__dict__}
                for r in ratios
            ],
        }
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
