"""Log lines that say which request (and which job) wrote them; JSON in production.

Every record gets `request_id` (the X-Request-ID of the request being handled, or of the
request that enqueued the job being run) and `job_id`, so one id follows a booking from the
load balancer through the audit trail to the reminder job it queued.
"""

import logging

from flask import Flask
from pythonjsonlogger.json import JsonFormatter
from rq import get_current_job

from portal.request_context import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s"


class ContextFilter(logging.Filter):
    """Stamp records with the request id and the RQ job id ("-" when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        request_id = current_request_id()
        if request_id is None and job is not None:
            request_id = job.meta.get("request_id")
        record.request_id = request_id or "-"
        record.job_id = job.id if job is not None else "-"
        return True


def init_logging(app: Flask) -> None:
    """One handler on the `portal` and `jobs` loggers; tests keep pytest's own capture."""
    if app.testing:
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for name in ("portal", "jobs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ContextFilter) for h in logger.handlers for f in h.filters):
            logger.addHandler(handler)
            logger.setLevel(app.config["LOG_LEVEL"])
            logger.propagate = False
