"""Operator commands: `flask db top` lists the statements that cost the most time."""

import click
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from portal.extensions import db

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
