"""The Redis client the portal shares for sessions, throttling and queues."""

from redis import Redis


def make_redis(config) -> Redis:
    """A client with short timeouts, so an outage becomes a quick 503, not a hung worker."""
    return Redis.from_url(
        config["REDIS_URL"],
        socket_timeout=config.get("REDIS_SOCKET_TIMEOUT", 0.5),
        socket_connect_timeout=config.get("REDIS_SOCKET_TIMEOUT", 0.5),
        health_check_interval=30,
    )
