"""Reads that tolerate lag go to a streaming replica (DATABASE_REPLICA_URL); the rest to the primary.

What goes where (docs/scaling.md says why):

- The GET and HEAD requests of the endpoints in READ_ENDPOINTS read from the replica: their
  SELECTs run on the replica engine (the Flask-SQLAlchemy bind "replica"), chosen per statement
  by a `do_orm_execute` hook on `db.session`. Services and views stay as they are.
- Everything else reads and writes on the primary: every other endpoint and method, every
  INSERT, UPDATE and DELETE and every flush, SELECT ... FOR UPDATE, raw `text()` statements, and
  every statement of a session that has written or holds pending changes (a request reads its
  own writes). Medical records stay on the primary: each read writes its audit row in the same
  transaction (DESIGN.md: no audit row, no data), and one transaction cannot span two servers.
- Read your writes: after a POST, PUT, PATCH or DELETE, that user's reads go to the primary for
  REPLICA_STICKY_SECONDS, so a patient who books and opens the history sees the booking. Portal
  users carry the deadline in their server-side session; API clients under a Redis key derived
  from their bearer token.
- A replica that is down, or lags more than REPLICA_MAX_LAG_SECONDS, is skipped: its reads go
  to the primary and the outage is logged once. Each process measures the lag at most every
  REPLICA_CHECK_SECONDS (a replica it could not reach, every REPLICA_RETRY_SECONDS).
- `with replica_reads():` routes one block of reads the same way (for a service or a job);
  `with primary_reads():` keeps a block of a routed request on the primary.

Reads that fill a shared cache (CACHE_FILLING_ENDPOINTS) need one more care: the availability
cache reads its version keys before the database, so a lagging replica's answer could be stored
under the new version. Every store of those caches asks `replica_safe_timeout`, which keeps an
entry filled from the replica only about as long as the replica may lag: a slot just taken can
show for a few seconds at most, and booking it still gets the 409 (the database decides).
"""

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from flask import Flask, current_app, has_request_context, request, session
from redis.exceptions import RedisError
from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session

from portal.database import REPLICA_BIND
from portal.extensions import db

log = logging.getLogger(__name__)

# Lists whose staleness of a few seconds is harmless (names as `flask routes` shows them).
READ_ENDPOINTS = frozenset(
    {
        "history.appointments",  # the patient's visits (portal)
        "patients.home",  # the patient's upcoming visits
        "doctors.patient_history",  # a patient's visits, seen by their doctor
        "api.appointments",  # GET /api/patients/{id}/appointments
        "api.list_clinics",  # GET /api/clinics
    }
)
# Lag-tolerant too; their reads fill shared caches, stored briefly (replica_safe_timeout).
CACHE_FILLING_ENDPOINTS = frozenset(
    {"patients.search", "patients.doctor", "api.search", "api.list_specializations"}
)
READ_ENDPOINTS = READ_ENDPOINTS | CACHE_FILLING_ENDPOINTS
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ROUTE_KEY = "portal.replica.engine"  # session.info: the engine SELECTs go to, if any
WROTE_KEY = "portal.replica.wrote"  # session.info: this session has written
STICKY_SESSION_KEY = "primary_until"  # portal session: read from the primary until then

# How far behind the replica is, in seconds. Caught up (everything received is replayed and
# the WAL receiver runs) counts as 0; otherwise the age of the last replayed commit. That age
# overstates the lag of a primary that has not committed for a while (a checkpoint record
# arriving then reads as minutes of lag, and the replica is skipped until the next check):
# harmless, it errs toward the primary, and HEARTBEAT_SQL below keeps it from happening.
# Not in recovery (promoted, or the primary itself): 0.
LAG_SQL = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0
        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9)
    END::float AS lag
    """
)

# An empty transaction that still commits (it takes a transaction id): a heartbeat on the
# primary keeps the replica's last replayed commit recent, so the age of that commit measures
# lag and not a quiet primary. `flask db heartbeat` runs it every second.
HEARTBEAT_SQL = text("SELECT pg_current_xact_id()")


class ReplicaHealth:
    """One process's view of the replica: usable or not, measured at most every few seconds."""

    def __init__(self, config):
        self.max_lag = float(config["REPLICA_MAX_LAG_SECONDS"])
        self.check_every = float(config["REPLICA_CHECK_SECONDS"])
        self.retry_every = max(float(config["REPLICA_RETRY_SECONDS"]), self.check_every)
        self.sticky_seconds = int(config["REPLICA_STICKY_SECONDS"])
        self.endpoints = frozenset(config.get("REPLICA_READ_ENDPOINTS") or READ_ENDPOINTS)
        self.usable = False
        self.lag: float | None = None
        self.skipped_because: str | None = None
        self._next_check = -math.inf
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return db.engines[REPLICA_BIND]

    def usable_engine(self) -> Engine | None:
        """The replica engine if it answered and was close enough behind at the last check."""
        if time.monotonic() >= self._next_check and self._lock.acquire(blocking=False):
            try:  # one thread measures; the others go by the last measurement meanwhile
                self._check()
            finally:
                self._lock.release()
        return self.engine if self.usable else None

    def _check(self) -> None:
        try:
            with self.engine.connect() as conn:
                lag = float(conn.execute(LAG_SQL).scalar_one())
                conn.commit()  # not a rollback: psycopg would drop the connection's prepared statements
        except SQLAlchemyError as error:
            self.mark_down(error)
            return
        self.lag = lag
        self._next_check = time.monotonic() + self.check_every
        if lag > self.max_lag:
            self._skip(f"it lags {lag:.1f} s, more than {self.max_lag:g} s")
        else:
            self._use()

    def mark_down(self, error: Exception) -> None:
        """The replica did not answer: skip it until the next retry."""
        self._next_check = time.monotonic() + self.retry_every
        self._skip(f"it does not answer ({type(error).__name__}: {str(error).strip()[:200]})")

    def _skip(self, reason: str) -> None:
        if self.usable or self.skipped_because is None:  # once per outage
            log.warning("read replica skipped, reads go to the primary: %s", reason)
        self.usable = False
        self.skipped_because = reason

    def _use(self) -> None:
        if not self.usable and self.skipped_because is not None:
            log.warning(
                "read replica back (lag %.1f s): lag-tolerant reads go to it again", self.lag
            )
        self.usable = True
        self.skipped_because = None


def init_replica(app: Flask) -> None:
    """Route lag-tolerant reads to DATABASE_REPLICA_URL, when it is set (after db.init_app)."""
    if not app.config.get("DATABASE_REPLICA_URL"):
        app.extensions["replica"] = None
        return
    app.extensions["replica"] = ReplicaHealth(app.config)
    app.before_request(_route_request)
    app.after_request(_note_write)
    app.teardown_request(_forget_route)
    _listen_once()


def _health() -> ReplicaHealth | None:
    return current_app.extensions.get("replica")


def serving_replica() -> bool:
    """True while db.session's SELECTs go to the replica."""
    return db.session.info.get(ROUTE_KEY) is not None


def replica_safe_timeout(seconds: int) -> int:
    """How long a cache may keep what was just read: short when it came from the replica.

    A replica's answer can be up to REPLICA_MAX_LAG_SECONDS old (plus one check interval), so
    it may predate an invalidation that already happened; stored that briefly, it cannot outlive
    the lag by much. Use it as `cache.set(key, value, timeout=replica_safe_timeout(TTL))`.
    """
    health = _health()
    if health is None or not serving_replica():
        return seconds
    return min(seconds, max(1, math.ceil(health.max_lag + health.check_every)))


@contextmanager
def replica_reads() -> Iterator[bool]:
    """Within the block, SELECTs of db.session go to the replica if it is usable (yields whether).

    The primary when no replica is configured, it is down or lagging, the user wrote a moment
    ago, or the session has written or holds pending changes.
    """
    info = db.session.info
    previous = info.get(ROUTE_KEY)
    health = _health()
    if previous is not None:
        routed = True  # already routed (a registered endpoint)
    elif health is None or (has_request_context() and _recently_wrote(health)):
        routed = False
    else:
        routed = _attach(health)
    try:
        yield routed
    finally:
        info[ROUTE_KEY] = previous


@contextmanager
def primary_reads() -> Iterator[None]:
    """Within the block, every statement goes to the primary, even in a routed request."""
    info = db.session.info
    previous = info.pop(ROUTE_KEY, None)
    try:
        yield
    finally:
        info[ROUTE_KEY] = previous


def _route_request() -> None:
    """before_request: a GET of a lag-tolerant endpoint reads from the replica when it can."""
    health = _health()
    if request.method not in SAFE_METHODS or request.endpoint not in health.endpoints:
        return
    if not _recently_wrote(health):
        _attach(health)


def _attach(health: ReplicaHealth) -> bool:
    """Route db.session's SELECTs to the replica, holding one of its connections already.

    The connection is taken now, with a ping, so that a replica that died since the last check
    costs this request nothing but the fallback to the primary.
    """
    session = db.session()
    if _has_written(session):
        return False
    engine = health.usable_engine()
    if engine is None:
        return False
    try:
        session.connection(bind_arguments={"bind": engine})
    except SQLAlchemyError as error:
        health.mark_down(error)
        return False
    session.info[ROUTE_KEY] = engine
    return True


def _forget_route(error=None) -> None:
    """teardown_request: nothing of this request's routing outlives it."""
    if db.session.registry.has():
        info = db.session.info
        info.pop(ROUTE_KEY, None)
        info.pop(WROTE_KEY, None)


# Read your writes across requests: who wrote, until when.


def _sticky_redis_key() -> str | None:
    """The Redis key of an API client's deadline, from its bearer token; None without one."""
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        return None
    digest = hashlib.sha256(authorization.encode()).hexdigest()[:32]
    return f"{current_app.config['SESSION_KEY_PREFIX']}primary-until:{digest}"


def _recently_wrote(health: ReplicaHealth) -> bool:
    """True while this user's reads must see their own recent write."""
    if health.sticky_seconds <= 0:
        return False
    key = _sticky_redis_key()
    if key is None:
        return session.get(STICKY_SESSION_KEY, 0) > time.time()
    redis = current_app.extensions["redis"]
    if redis is None:
        return False
    try:
        return bool(redis.exists(key))
    except (RedisError, OSError):
        return True  # unknown: the primary is never wrong


def _note_write(response):
    """after_request: a POST, PUT, PATCH or DELETE keeps its user on the primary for a while."""
    health = _health()
    if request.method in SAFE_METHODS or health.sticky_seconds <= 0:
        return response
    key = _sticky_redis_key()
    if key is None:
        if "_user_id" in session:  # a signed-in portal user (not a sign-out, not the API)
            session[STICKY_SESSION_KEY] = time.time() + health.sticky_seconds
        return response
    redis = current_app.extensions["redis"]
    if redis is not None:
        # If Redis fails, their next reads may come from the replica: at most the lag behind.
        with suppress(RedisError, OSError):
            redis.set(key, 1, ex=health.sticky_seconds)
    return response


# Statement routing, on db.session.


def _has_written(session: Session) -> bool:
    return bool(session.info.get(WROTE_KEY) or session.new or session.dirty or session.deleted)


def _replica_for(session: Session, select) -> Engine | None:
    """The replica engine a SELECT of this session goes to, or None for the primary."""
    engine = session.info.get(ROUTE_KEY)
    if (
        engine is None
        or getattr(select, "_for_update_arg", None) is not None
        or _has_written(session)
    ):
        return None
    return engine


def _route_statement(state: ORMExecuteState) -> None:
    """do_orm_execute: a plain SELECT of a routed session, with nothing written, to the replica."""
    session = state.session
    if not state.is_select:
        if state.is_insert or state.is_update or state.is_delete:
            session.info[WROTE_KEY] = True
        return
    engine = _replica_for(session, state.statement)
    if engine is not None and "bind" not in state.bind_arguments:
        state.bind_arguments["bind"] = engine


def select_rows(select, params: dict) -> CursorResult:
    """Core rows of a SELECT of columns, on db.session's connection, routed as the ORM's
    statements are (to the replica when this request reads there).

    Lists read this way skip the ORM's execution layer, which rows of columns do not need and
    which costs about 0.1 ms of CPU a query here; take a list's rows with `.all()` (one fetch)
    rather than by iterating (a fetch per row).
    """
    session = db.session()
    engine = _replica_for(session, select)
    bind_arguments = {"bind": engine} if engine is not None else None
    return session.connection(bind_arguments=bind_arguments).execute(select, params)


def _flushed(session: Session, flush_context) -> None:
    session.info[WROTE_KEY] = True


def _listen_once() -> None:
    if not event.contains(db.session, "do_orm_execute", _route_statement):
        event.listen(db.session, "do_orm_execute", _route_statement)
        event.listen(db.session, "after_flush", _flushed)
