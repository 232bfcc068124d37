"""The Redis client the portal shares for sessions, throttling, queues and the cache.

One factory decides how every part of the app reaches Redis: a plain `REDIS_URL`, or, when
`REDIS_SENTINELS` is set, whichever server the Sentinels currently name as the master of
`REDIS_SENTINEL_SERVICE`. A Sentinel-managed client asks the Sentinels again on every
reconnect, so after a failover the next connection goes to the promoted replica with no
restart of the app. redis-py includes the Sentinel client: no extra dependency.
"""

import time
from collections.abc import Mapping

from redis import ConnectionPool, Redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.connection import Connection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

DEFAULT_SENTINEL_PORT = 26379


def redis_configured(config: Mapping) -> bool:
    """True when the app has a Redis (a URL or Sentinels); False on the embedded default."""
    return bool(config.get("REDIS_SENTINELS") or config.get("REDIS_URL"))


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (IPv6 as `[::1]:26379`; the port defaults to 26379)."""
    sentinels = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, separator, port = item.rpartition(":")
        if not separator or host.endswith(":"):  # no port, or a bare IPv6 address
            host, port = item, str(DEFAULT_SENTINEL_PORT)
        sentinels.append((host.strip("[]"), int(port)))
    if not sentinels:
        raise ValueError(f"REDIS_SENTINELS names no sentinel: {value!r}")
    return sentinels


def _timeouts(config: Mapping) -> dict:
    timeout = config.get("REDIS_SOCKET_TIMEOUT", 0.5)
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def _client_options(config: Mapping) -> dict:
    # One quick retry, not redis-py's default three: it replaces a pooled connection that died
    # (to a master that just failed over, say), and an outage then costs a call at most two
    # socket timeouts before the 503.
    return {
        **_timeouts(config),
        "health_check_interval": 30,
        "retry": Retry(ConstantBackoff(0.05), 1),
    }


def make_redis(config: Mapping) -> Redis:
    """A client with short timeouts, so an outage becomes a quick 503, not a hung worker: to
    the Sentinels' master when `REDIS_SENTINELS` is set, else to `REDIS_URL`. (The cache's own
    Redis, `CACHE_REDIS_URL`, is make_cache_redis's.)"""
    options = _client_options(config)
    if config.get("REDIS_SENTINELS"):
        return sentinel_master(config, **options)
    return Redis.from_url(config["REDIS_URL"], **options)


class SkippedWhileDown(RedisError):
    """A call the breaker refused. Not a ConnectionError, so redis-py does not retry it (after
    a backoff): it is the answer."""


class Breaker:
    """After a connection to a Redis fails or times out, every use of it fails at once, with
    no network, for `seconds`; then one call tries again."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise SkippedWhileDown("skipped: this Redis failed moments ago")

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.seconds


class _BreakerConnection:
    """Mixed into a redis-py connection class: connecting checks the breaker, and a failure to
    connect, send or read trips it."""

    def __init__(self, *args, breaker: Breaker, **kwargs):
        super().__init__(*args, **kwargs)
        self.breaker = breaker

    def connect_check_health(self, *args, **kwargs):
        if not self._sock:
            self.breaker.check()
        return self._tripping(super().connect_check_health, *args, **kwargs)

    def send_packed_command(self, *args, **kwargs):
        return self._tripping(super().send_packed_command, *args, **kwargs)

    def read_response(self, *args, **kwargs):
        return self._tripping(super().read_response, *args, **kwargs)

    def _tripping(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError):
            self.breaker.trip()
            raise


def make_cache_redis(config: Mapping, url: str) -> Redis:
    """The client of a cache's own Redis (CACHE_REDIS_URL): make_redis's, behind a Breaker.

    Each cache read or write that fails costs up to two socket timeouts (a connection and its
    retry), and a search makes several: with that Redis down or hanging, every page would wait
    on each in turn before reading the database. With the breaker, one call finds the outage
    and the cache's calls fail at once for CACHE_RETRY_SECONDS, so pages answer at the speed
    of an uncached search; then one call looks again.
    """
    base = parse_url(url).get("connection_class", Connection)
    connection_class = type(f"Breaker{base.__name__}", (_BreakerConnection, base), {})
    pool = ConnectionPool.from_url(
        url,
        connection_class=connection_class,
        breaker=Breaker(config.get("CACHE_RETRY_SECONDS", 5.0)),
        **_client_options(config),
    )
    return Redis(connection_pool=pool)


def sentinel_connection_settings(config: Mapping) -> dict:
    """What to ask the Sentinels for, and how to talk to the master they name.

    The database number and the master's password come from REDIS_URL when it is given (its
    host and port are then ignored), else from REDIS_DB.
    """
    master: dict = {"db": config.get("REDIS_DB", 0)}
    if config.get("REDIS_URL"):
        from_url = parse_url(config["REDIS_URL"])
        master = {key: from_url[key] for key in ("db", "username", "password") if key in from_url}
        master.setdefault("db", 0)
    # No retry per Sentinel (redis-py's default is ten): the next Sentinel in the list is the
    # retry, and a Sentinel that is down must not hold every request for seconds.
    sentinel_options = {**_timeouts(config), "retry": Retry(NoBackoff(), 0)}
    if config.get("REDIS_SENTINEL_PASSWORD"):
        sentinel_options["password"] = config["REDIS_SENTINEL_PASSWORD"]
    return {
        "sentinels": parse_sentinels(config["REDIS_SENTINELS"]),
        "service": config.get("REDIS_SENTINEL_SERVICE") or "portal",
        "master": master,
        "sentinel_kwargs": sentinel_options,
    }


def sentinel_master(config: Mapping, **options) -> Redis:
    """A client of the current master of the Sentinel service (asked again on reconnect)."""
    settings = sentinel_connection_settings(config)
    sentinel = Sentinel(settings["sentinels"], sentinel_kwargs=settings["sentinel_kwargs"])
    return sentinel.master_for(settings["service"], **settings["master"], **options)


def rq_settings(config: Mapping) -> dict:
    """The connection part of an RQ settings module (`rq worker -c jobs.rq_settings`).

    RQ raises the socket timeout of its own connection above its blocking dequeue.
    """
    if not config.get("REDIS_SENTINELS"):
        return {"REDIS_URL": config.get("REDIS_URL")}
    settings = sentinel_connection_settings(config)
    master = settings["master"]
    return {
        "SENTINEL": {
            "INSTANCES": settings["sentinels"],
            "MASTER_NAME": settings["service"],
            "DB": master["db"],
            "USERNAME": master.get("username"),
            "PASSWORD": master.get("password"),
            "SOCKET_TIMEOUT": config.get("REDIS_SOCKET_TIMEOUT", 0.5),
            "CONNECTION_KWARGS": {
                "socket_connect_timeout": config.get("REDIS_SOCKET_TIMEOUT", 0.5)
            },
            "SENTINEL_KWARGS": settings["sentinel_kwargs"],
        }
    }
