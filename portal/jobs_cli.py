"""`flask jobs ...`: every periodic job by hand, and the outbox of a clinic.

    flask jobs reminders [--date YYYY-MM-DD]     plan and queue the reminders of a day
    flask jobs video-rooms                       make the rooms of visits starting soon
    flask jobs warm-cache [--days 7]             fill the availability cache
    flask jobs send-due                          settle stale claims, queue overdue rows
    flask jobs notifications --clinic ID [--status queued|failed|sent] [--retry-failed]

The jobs run in this process; what they queue goes to the workers (or runs inline without
Redis).
"""

from datetime import datetime

import click
from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Run background jobs by hand; inspect and retry notifications.")


def _echo_result(name: str, result: dict | None) -> None:
    details = ", ".join(f"{k}={v}" for k, v in (result or {}).items())
    click.echo(f"{name}: {details or 'done'}")


@jobs_cli.command("reminders")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The visits' local day (default: each clinic's tomorrow).",
)
def reminders_command(day: datetime | None) -> None:
    """Plan the reminders of a day into the outbox and queue their sending."""
    from jobs.reminders import send_reminders

    _echo_result("reminders", send_reminders(day.date().isoformat() if day else None))


@jobs_cli.command("video-rooms")
def video_rooms_command() -> None:
    """Make the rooms of the video visits starting within VIDEO_ROOM_LEAD_MINUTES."""
    from jobs.video_rooms import prepare_video_rooms

    _echo_result("video rooms", prepare_video_rooms())


@jobs_cli.command("warm-cache")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 31))
def warm_cache_command(days: int) -> None:
    """Fill the availability cache for the next days of every active doctor."""
    from jobs.cache_warmup import warm_cache

    _echo_result("warm-up", warm_cache(days))


@jobs_cli.command("send-due")
def send_due_command() -> None:
    """Settle claims left by killed jobs and queue pending rows that are overdue."""
    from jobs.notifications import send_due

    _echo_result("sweep", send_due())


@jobs_cli.command("notifications")
@click.option("--clinic", "clinic_id", required=True, type=int, help="The clinic's id.")
@click.option(
    "--status",
    "view",
    type=click.Choice(["queued", "failed", "sent"]),
    default="failed",
    show_default=True,
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", "before_id", type=int, default=None, help="Older than this id.")
@click.option("--retry-failed", is_flag=True, help="Send the clinic's failed rows again.")
@click.option(
    "--include-unknown",
    is_flag=True,
    help="With --retry-failed: also rows whose delivery is unknown (may send twice).",
)
def notifications_command(
    clinic_id: int,
    view: str,
    limit: int,
    before_id: int | None,
    retry_failed: bool,
    include_unknown: bool,
) -> None:
    """List a clinic's queued, failed or sent notifications; optionally retry the failed."""
    from jobs.app import enqueue_job
    from jobs.notifications import send_notifications
    from portal.services import notifications_ops

    if retry_failed:
        ids = notifications_ops.retry_failed_for_clinic(clinic_id, include_unknown)
        for start in range(0, len(ids), 500):
            enqueue_job(send_notifications, ids[start : start + 500], retry=True)
        click.echo(f"retrying {len(ids)} failed notifications of clinic {clinic_id}")
        return
    counts = notifications_ops.clinic_counts(clinic_id)
    click.echo(" ".join(f"{view_}={count}" for view_, count in counts.items()))
    lines = notifications_ops.clinic_notifications(clinic_id, view, limit, before_id)
    for line in lines:
        click.echo(
            f"{line.id:>8} {line.created_at:%Y-%m-%d %H:%M} {line.kind:<14} {line.channel:<5} "
            f"{line.status:<7} tries={line.attempts} visit={line.starts_at:%Y-%m-%d %H:%M}Z "
            f"to={line.recipient or '-'}" + (f" | {line.error}" if line.error else "")
        )
    if len(lines) == limit:
        click.echo(f"more: --before {lines[-1].id}")


def register_jobs_cli(app) -> None:
    """Add `flask jobs` to the app's commands."""
    app.cli.add_command(jobs_cli)


__all__ = ["jobs_cli", "register_jobs_cli"]
