"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Sync workers: each request is short (keyset queries, cached availability), and a sync worker
is the simplest thing that cannot leak state between requests. One per core: a request here is
CPU work between sub-millisecond database and Redis round trips, so a worker rarely waits, and
every idle sync worker wakes for every new connection. Measured on two cores with PostgreSQL
beside it (bench/run.py, WEB_CONCURRENCY=2 vs 4): 1.3-1.9x the requests per second of four
workers on every page, with a lower p95. Set WEB_CONCURRENCY higher where requests wait on
something slower.

A sync worker is held by a slow client for as long as the client takes, so in production they sit
behind a buffering proxy (deploy/nginx.conf): then set GUNICORN_BIND=127.0.0.1:8000 (or a unix
socket) so nothing reaches them around it, and PROXY_FIX_X_FOR=1 PROXY_FIX_X_PROTO=1 so the app
sees the client's address. On a platform that routes to $PORT itself, the default binds there.

preload_app: the master loads the app once (imports, templates compiled, gc.freeze) and each
worker is a fork of it. A worker that max_requests recycles, or one that crashed, is back in a
few milliseconds instead of re-importing everything (~1.6 s of CPU per worker here, taken from
the workers still serving), and the workers share the loaded code's memory. The cost: a HUP
reloads the configuration but not the code; deploy new code with a restart.
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
worker_class = "sync"
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 20000  # recycle workers now and then; jitter keeps them from restarting together
max_requests_jitter = 2000
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms req=%({x-request-id}o)s'

# Prometheus: every worker writes its samples here and /metrics adds them up. The default is
# one any user can make (the Procfile's web process runs with this file); a service manager
# may give it a runtime directory instead (systemd: RuntimeDirectory=portal-metrics).
# preload_app loads the app, and with it the metrics, before on_starting: the directory must
# exist by then.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"portal-metrics-{os.getuid()}")
)
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)


def on_starting(server):
    """Start each deployment with an empty metrics directory: the files of earlier runs go,
    and so do the master's own (it serves nothing; each worker writes files of its own pid)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def post_fork(server, worker):
    """A new worker must not share a database connection with the master or a sibling."""
    from portal.database import forget_inherited_connections

    forget_inherited_connections(worker.app.wsgi())


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
