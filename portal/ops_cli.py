"""Operator commands: `flask db top` lists the statements that cost the most time;
`flask db heartbeat` keeps a read replica's lag measurable; `flask db partition-appointments`
and `flask db add-appointment-partitions` partition appointments by month (docs/scaling.md)."""

import logging
import time
from datetime import date

import click
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from portal.extensions import db
from portal.replica import HEARTBEAT_SQL

log = logging.getLogger(__name__)

ENABLE_HINT = (
    "pg_stat_statements is not active on this server. Enable it with\n"
    "  ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';\n"
    "then restart PostgreSQL and run `flask db upgrade` (which creates the extension)."
)

TOP_SQL = text(
    """
    SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
           round(mean_exec_time::numeric, 3) AS mean_ms, rows,
           left(regexp_replace(query, '\\s+', ' ', 'g'), :width) AS query
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_exec_time DESC
    LIMIT :limit
    """
)


@db_group.command("top")
@click.option("--limit", default=15, show_default=True, type=click.IntRange(1, 200))
@click.option("--width", default=100, show_default=True, type=click.IntRange(20, 2000))
@click.option("--reset", is_flag=True, help="Start counting afresh afterwards.")
@with_appcontext
def db_top(limit: int, width: int, reset: bool) -> None:
    """The slowest statements by total time (pg_stat_statements)."""
    if db.engine.dialect.name != "postgresql":
        raise click.ClickException("flask db top needs PostgreSQL.")
    try:
        rows = db.session.execute(TOP_SQL, {"limit": limit, "width": width}).all()
    except DBAPIError as error:
        db.session.rollback()
        raise click.ClickException(ENABLE_HINT) from error
    click.echo(f"{'calls':>9} {'total ms':>12} {'mean ms':>10} {'rows':>10}  query")
    for row in rows:
        click.echo(
            f"{row.calls:>9} {row.total_ms:>12} {row.mean_ms:>10} {row.rows:>10}  {row.query}"
        )
    if reset:
        db.session.execute(text("SELECT pg_stat_statements_reset()"))
        db.session.commit()


@db_group.command("heartbeat")
@click.option("--every", default=1.0, show_default=True, type=click.FloatRange(0.05, 60))
@click.option("--count", default=0, type=click.IntRange(0), help="Stop after N beats (0: never).")
@with_appcontext
def db_heartbeat(every: float, count: int) -> None:
    """Commit an empty transaction on the primary every second (one process per deployment).

    Replicas measure their lag as the age of the last commit they replayed (portal/replica.py);
    on a quiet primary that age grows without any lag, and the replica would be skipped.
    """
    if db.engine.dialect.name != "postgresql":
        raise click.ClickException("flask db heartbeat needs PostgreSQL.")
    beats = 0
    while not count or beats < count:
        try:
            with db.engine.connect() as conn:
                conn.execute(HEARTBEAT_SQL)
                conn.commit()
        except SQLAlchemyError as error:  # the primary is away: beat again when it is back
            log.warning("heartbeat failed: %s", error)
        beats += 1
        if not count or beats < count:
            time.sleep(every)


def _postgres_only(command: str) -> None:
    if db.engine.dialect.name != "postgresql":
        raise click.ClickException(f"flask db {command} needs PostgreSQL.")


@db_group.command("partition-appointments")
@click.option("--months-ahead", default=12, show_default=True, type=click.IntRange(1, 120))
@click.option("--sql", "print_sql", is_flag=True, help="Print the statements; change nothing.")
@click.option("--yes", is_flag=True, help="Do it (the table is locked while rows are copied).")
@with_appcontext
def db_partition_appointments(months_ahead: int, print_sql: bool, yes: bool) -> None:
    """Partition appointments by month (portal/partitioning.py; not done by `db upgrade`)."""
    from portal.partitioning import conversion_sql, data_months, is_partitioned

    _postgres_only("partition-appointments")
    with db.engine.connect() as conn:
        if is_partitioned(conn):
            raise click.ClickException("appointments is partitioned already.")
        first, last = data_months(conn, months_ahead, date.today())
    statements = conversion_sql(first, last)
    if print_sql:
        click.echo("BEGIN;")
        for statement in statements:
            click.echo(statement.strip() + ";")
        click.echo("COMMIT;")
        return
    if not yes:
        raise click.ClickException("This locks appointments while it copies them: add --yes.")
    started = time.monotonic()
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    click.echo(
        f"appointments: monthly partitions {first:%Y-%m} to {last:%Y-%m} "
        f"in {time.monotonic() - started:.1f} s; run `flask db add-appointment-partitions` monthly."
    )


@db_group.command("add-appointment-partitions")
@click.option("--months-ahead", default=12, show_default=True, type=click.IntRange(1, 120))
@with_appcontext
def db_add_appointment_partitions(months_ahead: int) -> None:
    """Make the monthly partitions of appointments up to N months ahead (run it monthly)."""
    from portal.partitioning import (
        add_months,
        is_partitioned,
        missing_partitions,
        month_start,
        partition_ddl,
    )

    _postgres_only("add-appointment-partitions")
    today = date.today()
    with db.engine.begin() as conn:
        if not is_partitioned(conn):
            raise click.ClickException("appointments is not partitioned.")
        made = missing_partitions(conn, add_months(month_start(today), months_ahead), today)
        for month in made:
            for statement in partition_ddl(month):
                conn.execute(text(statement))
    click.echo(
        f"{len(made)} partition(s) made"
        + (f": {made[0]:%Y-%m} to {made[-1]:%Y-%m}" if made else ".")
    )
