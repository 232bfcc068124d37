"""Engine settings that depend on the backend, and how a request's transaction ends."""

import logging
import re
import weakref
from collections.abc import Callable

from flask import Flask, g, has_app_context, request
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
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
        # Sessions in UTC: psycopg then hands timestamps back with datetime.UTC itself, which
        # UTCDateTime passes through as they are (any other zone, Etc/UTC included, it converts).
        settings = ["-c TimeZone=UTC"]
        timeout = int(app.config.get("DB_STATEMENT_TIMEOUT_MS") or 0)
        if timeout:
            settings.append(f"-c statement_timeout={timeout}")
        options.setdefault("connect_args", {})["options"] = " ".join(settings)
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


def forget_inherited_connections(app: Flask) -> None:
    """After a fork: drop, without closing, any pooled connection the parent made, so that two
    processes never share one socket (gunicorn's post_fork under preload_app calls this; the
    parent makes none while loading, this keeps it so if that changes). Redis clients check
    their pid themselves."""
    from portal.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


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
    """Remember, for the app context, that something other than a read was sent; refuse to
    send it at all on a read-only request's connection (it would commit on its own)."""
    if _READ_ONLY_STATEMENT.match(statement):
        return
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        raise WriteInReadOnlyRequest(statement.split(None, 1)[0] if statement.strip() else "")
    if has_app_context():
        g.db_wrote = True


# Requests that only read ----------------------------------------------------------------------
#
# A transaction costs a PostgreSQL request two round trips of its own, BEGIN before the first
# query and COMMIT after the last, and on this kind of machine a round trip costs about as much
# CPU as a keyset query. A view that only reads (a history page, a search, a video token) needs
# no transaction: each of its statements sees a consistent snapshot of its own. Such a view is
# marked @read_only; its request's session then takes its connections in autocommit, and any
# statement other than SELECT or SHOW sent on them is refused (WriteInReadOnlyRequest), so a
# write can never slip out of a transaction unnoticed.

READ_ONLY_KEY = "portal.read_only"  # session.info: this session's request only reads
READ_ONLY_OPTION = "portal_read_only"  # execution option of the autocommit engines below
_read_only_engines: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()


class WriteInReadOnlyRequest(RuntimeError):
    """A view marked @read_only sent a statement that changes data: a programming error."""

    def __init__(self, verb: str):
        super().__init__(f"{verb} sent by a request marked read-only")


def read_only(view: Callable) -> Callable:
    """Mark a view that only reads: its SELECTs run in autocommit, without BEGIN and COMMIT."""
    view.read_only = True
    return view


def _read_only_engine(engine: Engine) -> Engine:
    """The engine's autocommit twin (same pool), one per engine."""
    if engine.get_execution_options().get(READ_ONLY_OPTION):
        return engine
    twin = _read_only_engines.get(engine)
    if twin is None:
        twin = engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY_OPTION: True})
        _read_only_engines[engine] = twin
    return twin


class PortalSession(FlaskSQLAlchemySession):
    """Flask-SQLAlchemy's session, whose engines are the autocommit twins in a read-only request."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        chosen = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if self.info.get(READ_ONLY_KEY) and isinstance(chosen, Engine) and is_postgres(chosen):
            return _read_only_engine(chosen)
        return chosen


def init_read_only_requests(app: Flask) -> None:
    """Before anything else touches the database, a @read_only view's session reads only.

    PostgreSQL only: SQLite's transactions are begun by our own "begin" hook (BEGIN IMMEDIATE),
    which autocommit would leave open.
    """
    from portal.extensions import db

    @app.before_request
    def start_read_only_request() -> None:
        view = app.view_functions.get(request.endpoint or "")
        if getattr(view, "read_only", False):
            session = db.session()
            if not session.in_transaction():
                session.info[READ_ONLY_KEY] = True


def end_read_only_transactions(app: Flask) -> None:
    """End a request whose transaction only read with COMMIT rather than ROLLBACK.

    For a transaction that only read, the two are the same to PostgreSQL; but psycopg forgets
    every prepared statement of the connection on ROLLBACK, so a web app whose requests all end
    in one never prepares a statement and has each query parsed and planned again. Anything
    else (a write sent and not committed, pending ORM changes, an error, a failed transaction)
    still ends in the usual rollback. A @read_only request's session is left alone: in
    autocommit there is no transaction, and psycopg sends no ROLLBACK outside one (the
    session's commit would only have cost its bookkeeping, about 40 us). Registered after
    Flask-SQLAlchemy, this teardown runs before the one that closes the session.
    """
    from portal.extensions import db

    @app.teardown_appcontext
    def commit_if_read_only(error: BaseException | None) -> None:
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        if session.info.get(READ_ONLY_KEY):
            return
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
