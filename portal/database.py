"""Engine settings that depend on the backend, and how a request's transaction ends."""

import logging
import re

from flask import Flask, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

# Statements that change nothing: a transaction made only of these may end with COMMIT.
_READ_ONLY_STATEMENT = re.compile(r"\s*(SELECT|SHOW)\b", re.IGNORECASE)


def configure_engine_options(app: Flask) -> None:
    """Pool and timeout settings for PostgreSQL; a busy timeout for SQLite."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options = {"connect_args": {"timeout": 15}}
    else:
        timeout = int(app.config.get("DB_STATEMENT_TIMEOUT_MS") or 0)
        if timeout:
            options.setdefault("connect_args", {})["options"] = f"-c statement_timeout={timeout}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


REPLICA_BIND = "replica"


def configure_replica_bind(app: Flask) -> None:
    """DATABASE_REPLICA_URL as the Flask-SQLAlchemy bind "replica" (portal/replica.py routes to it).

    Flask-SQLAlchemy gives a bind none of SQLALCHEMY_ENGINE_OPTIONS, so the pool and the
    statement timeout are copied here. Unlike the primary, the replica's pool pings a
    connection before lending it: that is how a request notices a dead replica before its
    first query and reads from the primary instead of failing (one round trip per request).
    """
    url = app.config.get("DATABASE_REPLICA_URL")
    if not url:
        return
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        raise RuntimeError("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL.")
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "url": url, "pool_pre_ping": True}
    connect_args = dict(options.get("connect_args") or {})
    connect_args["connect_timeout"] = int(app.config.get("REPLICA_CONNECT_TIMEOUT") or 2)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_BINDS"] = {
        **(app.config.get("SQLALCHEMY_BINDS") or {}),
        REPLICA_BIND: options,
    }


def is_postgres(engine_or_conn) -> bool:
    """True when the bind is PostgreSQL (the production backend)."""
    return engine_or_conn.dialect.name == "postgresql"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, WAL so readers do not block the writer, and let
    SQLAlchemy (not the driver) begin transactions, so that they can begin IMMEDIATE."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    """SQLite: every transaction takes the write lock up front, so a booking's checks and its
    insert cannot interleave with another writer's (DESIGN.md: one immediate transaction)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, cursor, statement, parameters, context, executemany):
    """Remember, for the app context, that something other than a read was sent."""
    if not _READ_ONLY_STATEMENT.match(statement) and has_app_context():
        g.db_wrote = True


def end_read_only_transactions(app: Flask) -> None:
    """End a request whose transaction only read with COMMIT rather than ROLLBACK.

    For a transaction that only read, the two are the same to PostgreSQL; but psycopg forgets
    every prepared statement of the connection on ROLLBACK, so a web app whose requests all end
    in one never prepares a statement and has each query parsed and planned again. Anything
    else (a write sent and not committed, pending ORM changes, an error, a failed transaction)
    still ends in the usual rollback. Registered after Flask-SQLAlchemy, this teardown runs
    before the one that closes the session.
    """
    from portal.extensions import db

    @app.teardown_appcontext
    def commit_if_read_only(error: BaseException | None) -> None:
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        transaction = session.get_transaction()
        if (
            transaction is None
            or not transaction.is_active
            or g.pop("db_wrote", False)
            or session.new
            or session.dirty
            or session.deleted
        ):
            return
        try:
            session.commit()
        except SQLAlchemyError:  # the connection went away: the rollback that follows is moot
            log.warning("ending a read-only transaction failed", exc_info=True)
