"""Background jobs: an RQ queue on Redis, or inline execution on the embedded default."""

import logging

from flask import Flask, current_app
from rq import Queue

from portal.request_context import current_request_id

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
    """Queue a job on RQ (carrying the current request id); without Redis, run it now."""
    queue = get_queue()
    if queue is None:
        log.info("running %s inline", func.__name__)
        return func(*args, **kwargs)
    request_id = current_request_id()
    if request_id is not None:
        kwargs["meta"] = {**kwargs.get("meta", {}), "request_id": request_id}
    return queue.enqueue(func, *args, **kwargs)
