"""A/B: the pages of bench/run.py served by an earlier commit and by this checkout, alternately.

    .venv/bin/python bench/ab.py --base 1610f84 --database-url postgresql://postgres@127.0.0.1:5432/portal_scale

--base-workers serves the earlier commit with another number of gunicorn workers (the default
is what deploy/gunicorn.conf.py would start: WEB_CONCURRENCY, else one per core).

On a noisy machine two runs of the same code can differ by a third; a change is measured by
serving the same page from both versions in turn (each under its own gunicorn, same data, same
Redis), several rounds, and comparing medians. The earlier commit is checked out in a
temporary git worktree and served with this checkout's virtualenv. Prints a table.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, WORKERS, api_login, gunicorn_server, portal_login, wrk
from bench.run import PASSWORD_ENV, SECRET, pick_subjects, ready_video_visit


def pages(subjects, video_visit: int) -> list[tuple[str, str, str, dict, str]]:
    """(name, path, credential kind, extra env, method) of each page compared."""
    pid = subjects["patient_id"]
    spec, city, _ = subjects["pairs"][0]
    today = datetime.now(UTC).date()
    search = urlencode(
        {
            "specialization": spec,
            "city": city,
            "date_from": today.isoformat(),
            "date_to": (today + timedelta(days=6)).isoformat(),
        }
    )
    uncached = {"AVAILABILITY_CACHE_ENABLED": "0"}
    token = f"/api/appointments/{video_visit}/video-token"
    return [
        ("API history, first page", f"/api/patients/{pid}/appointments", "api", {}, "GET"),
        ("portal history, default view", "/patient/history", "portal", {}, "GET"),
        (
            "API medical records, first page",
            f"/api/patients/{pid}/medical-records",
            "api",
            {},
            "GET",
        ),
        ("portal medical records, first page", "/patient/records", "portal", {}, "GET"),
        ("portal search, warm cache", f"/patient/search?{search}", "portal", {}, "GET"),
        ("API search, warm cache", f"/api/appointments/search?{search}", "api", {}, "GET"),
        (
            "portal search, uncached (cache off)",
            f"/patient/search?{search}",
            "portal",
            uncached,
            "GET",
        ),
        ("API video token", token, "api", {}, "POST"),
    ]


def measure(root: Path, env: dict, subjects: dict, page, args, workers: int) -> tuple[float, float]:
    """Pages per second and p95 of one page served from `root`, after a short warm-up."""
    name, path, kind, extra, method = page
    with gunicorn_server({**env, **extra}, workers, root=root) as server:
        password = args.password
        if kind == "api":
            credentials = {"auth": api_login(server.port, subjects["patient_email"], password)}
        else:
            credentials = {"cookie": portal_login(server.port, subjects["patient_email"], password)}
        wrk(
            server.port,
            name,
            [path],
            method=method,
            connections=args.connections,
            duration=2,
            **credentials,
        )
        result = wrk(
            server.port,
            name,
            [path],
            method=method,
            connections=args.connections,
            duration=args.duration,
            **credentials,
        )
    return result.rps, result.p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the earlier commit (any git revision)")
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/portal_scale"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--password", default=os.environ.get(PASSWORD_ENV, "demo-password-2026"))
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers of both")
    parser.add_argument(
        "--base-workers", type=int, help="gunicorn workers of the earlier commit (else --workers)"
    )
    args = parser.parse_args()
    env = {
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": SECRET,
        "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute",
    }
    with psycopg.connect(args.database_url) as conn:
        subjects = pick_subjects(conn)
    compared = pages(subjects, ready_video_visit(args.database_url, subjects["patient_id"]))
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            for _ in range(args.rounds):
                for page in compared:
                    for label, root, workers in (
                        ("before", base, args.base_workers or args.workers),
                        ("after", ROOT, args.workers),
                    ):
                        runs.setdefault((page[0], label), []).append(
                            measure(root, env, subjects, page, args, workers)
                        )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False
            )
    print(
        f"| page, {args.connections} clients | before: pages/s | after: pages/s "
        "| before: p95 ms | after: p95 ms | rounds after ahead |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, *_ in compared:
        before, after = runs[(name, "before")], runs[(name, "after")]
        rps_b = statistics.median(r for r, _ in before)
        rps_a = statistics.median(r for r, _ in after)
        ahead = sum(a[0] > b[0] for a, b in zip(after, before, strict=True))
        print(
            f"| {name} | {rps_b:.0f} | {rps_a:.0f} ({rps_a / rps_b:.2f}×) "
            f"| {statistics.median(p for _, p in before):.0f} "
            f"| {statistics.median(p for _, p in after):.0f} | {ahead} of {len(after)} |"
        )


if __name__ == "__main__":
    main()
