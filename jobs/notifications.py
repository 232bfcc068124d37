"""Jobs that send outbox rows: the relay's job, and the every-minute sweep."""

from jobs.app import app_job, enqueue_job, get_job_logger
from portal.services import delivery, outbox

log = get_job_logger("notifications")


class DeliveryDeferred(Exception):
    """Raised so that RQ retries the job later: the provider deferred some of its rows."""


@app_job
def send_notifications(ids: list[int]) -> dict:
    """Send these outbox rows; rows the provider deferred make RQ retry the job with backoff."""
    report = delivery.deliver(ids)
    log.info("notifications %s", report.summary())
    if report.deferred:
        raise DeliveryDeferred(f"{len(report.deferred)} rows deferred: {report.last_error}")
    return report.as_dict()


@app_job
def send_due() -> dict:
    """Every minute: settle claims left by killed jobs, then queue rows that are due."""
    recovered = outbox.recover_stale()
    queued = 0
    for ids in outbox.due_batches():
        enqueue_job(send_notifications, ids, retry=True)
        queued += len(ids)
    log.info("sweep: %d stale claims settled, %d due rows queued", recovered, queued)
    return {"recovered": recovered, "queued": queued}
