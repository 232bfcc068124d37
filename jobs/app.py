"""What every job runs in: an application context, a session of its own, a job-stamped logger.

A worker builds the app once, before it forks (`AppWorker`), so each job's work-horse starts
with the imports done; the database pool is reset after the fork, never shared. Run inline
(no Redis) or by a SimpleWorker in the same process, a job still pushes an app context of its
own, and so gets a database session of its own (Flask-SQLAlchemy scopes sessions by context).
"""

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context
from rq import Retry, Worker

from portal.queue import enqueue, get_queue

_app: Flask | None = None
_app_pid: int | None = None


def configure_job_logging() -> None:
    """Stamp a worker's log lines with the job id (and the request that queued the job).

    create_app already does this (portal.logging_setup) except under TESTING; a worker built
    from the test configuration gets the same filter and format here, once.
    """
    from portal.logging_setup import TEXT_FORMAT, ContextFilter

    for name in ("portal", "jobs"):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler()
        handler.addFilter(ContextFilter())
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def get_job_logger(name: str) -> logging.Logger:
    """A logger under `jobs.` whose lines carry the job id once configure_job_logging ran."""
    return logging.getLogger(f"jobs.{name}")


def job_app() -> Flask:
    """The app a job runs in: the current one (inline, tests), else one built for the process."""
    global _app, _app_pid
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from portal import create_app

        _app = create_app()
        _app_pid = os.getpid()
        configure_job_logging()
    elif _app_pid != os.getpid():
        # A forked work-horse: drop the parent's pooled connections without closing them.
        from portal.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app


@contextmanager
def job_context() -> Iterator[Flask]:
    """A fresh application context (and so a fresh database session) for one job."""
    app = job_app()
    with app.app_context():
        yield app


def app_job(func: Callable) -> Callable:
    """Run the decorated job function inside job_context(); RQ still finds it by name."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        with job_context():
            return func(*args, **kwargs)

    return run


def retry_policy() -> Retry:
    """Exponential backoff between attempts of a job (JOB_RETRY_INTERVALS, in seconds)."""
    intervals = list(current_app.config["JOB_RETRY_INTERVALS"])
    return Retry(max=len(intervals), interval=intervals)


def enqueue_job(func: Callable, *args, retry: bool = False, timeout: int | None = None):
    """portal.queue.enqueue with RQ's options: inline without Redis, where retries do not apply."""
    queue = get_queue()
    if queue is None:
        # Inline, like a worker: a failing job is logged, it does not fail whoever queued it.
        try:
            return enqueue(func, *args)
        except Exception:
            logging.getLogger("jobs").exception("inline job %s failed", func.__name__)
            return None
    options = {"retry": retry_policy()} if retry else {}
    if timeout:
        options["job_timeout"] = timeout
    return enqueue(func, *args, **options)  # carries the request id in the job's meta


def preload(app: Flask) -> None:
    """Import every job and build the provider clients (boto3, twilio) once, in the parent.

    Each work-horse is a fork: what is loaded here it inherits for free, instead of paying
    for the imports and clients again in every job (most of a job's CPU, measured). No
    connection is opened here, so none is shared across the fork.
    """
    import jobs.cache_warmup
    import jobs.notifications
    import jobs.reminders
    import jobs.video_rooms  # noqa: F401
    from portal.providers import get_provider

    with app.app_context():
        for kind in ("email", "sms", "video"):
            get_provider(kind)


class AppWorker(Worker):
    """RQ's forking worker, with the portal, the jobs and the providers loaded before forking."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        preload(job_app())
