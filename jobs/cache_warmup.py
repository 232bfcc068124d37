"""Cache warm-up job: the next 7 days of availability of every active doctor."""

from jobs.app import app_job, get_job_logger
from portal.models import utcnow
from portal.services.warmup import warm_availability

log = get_job_logger("cache_warmup")


@app_job
def warm_cache(days: int = 7) -> dict:
    """Fill the availability cache from today (UTC) for `days` days; entries already warm stay."""
    report = warm_availability(utcnow().date(), days=days)
    log.info(
        "warm-up: %d doctors, %d entries filled, %d already warm, %.1fs",
        report.doctors,
        report.entries_filled,
        report.entries_already_warm,
        report.seconds,
    )
    return {
        "doctors": report.doctors,
        "filled": report.entries_filled,
        "already_warm": report.entries_already_warm,
        "cache_available": report.cache_available,
    }
