"""Engine settings that depend on the backend."""

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine


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
