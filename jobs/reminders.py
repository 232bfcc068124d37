"""Reminder jobs: plan the next day's reminders and queue their sending in batches."""

from datetime import date

from flask import current_app

from jobs.app import app_job, enqueue_job, get_job_logger
from jobs.notifications import send_notifications
from portal.services import reminders

log = get_job_logger("reminders")


def _queue_batch(ids: list[int], channel: str) -> None:
    """One sending job per batch; an SMS batch may take a while at the shared rate."""
    timeout = 180
    if channel == "sms":
        timeout = max(timeout, 60 + 4 * len(ids) // current_app.config["SMS_RATE_PER_SECOND"])
    enqueue_job(send_notifications, ids, retry=True, timeout=timeout)


@app_job
def send_reminders(day: str | None = None) -> dict:
    """Every clinic's appointments on `day` (YYYY-MM-DD), or on each clinic's own tomorrow."""
    run = reminders.plan_reminders(_queue_batch, day=date.fromisoformat(day) if day else None)
    log.info("planned %d reminders in %d jobs for %s", run.queued, run.jobs, day or "tomorrow")
    return {"appointments": run.appointments, "queued": run.queued, "jobs": run.jobs}


@app_job
def send_reminders_at_local_hour() -> dict:
    """Hourly: tomorrow's reminders for the clinics where it is now REMINDER_LOCAL_HOUR."""
    hour = current_app.config["REMINDER_LOCAL_HOUR"]
    run = reminders.plan_reminders(_queue_batch, local_hour=hour)
    zones = ", ".join(w.timezone for w in run.windows) or "none"
    log.info(
        "planned %d reminders in %d jobs (zones at %02d:00: %s)", run.queued, run.jobs, hour, zones
    )
    return {"appointments": run.appointments, "queued": run.queued, "jobs": run.jobs}
