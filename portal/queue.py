"""Background jobs: an RQ queue on Redis, or inline execution on the embedded default."""

import logging

from flask import Flask, current_app
from rq import Queue

log = logging.getLogger(__name__)


def init_queue(app: Flask) -> None:
    """Make the queue (None without Redis: jobs then run inline)."""
    connection = app.extensions["redis"]
    app.extensions["rq_queue"] = (
        Queue(app.config["RQ_QUEUE"], connection=connection) if connection is not None else None
    )


def get_queue() -> Queue | None:
    """The app's RQ queue, or None when jobs run inline."""
    return current_app.extensions["rq_queue"]


def enqueue(func, *args, **kwargs):
    """Queue a job on RQ; without Redis, run it now in this process."""
    queue = get_queue()
    if queue is None:
        log.info("running %s inline", func.__name__)
        return func(*args, **kwargs)
    return queue.enqueue(func, *args, **kwargs)
