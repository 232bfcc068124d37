"""How the settings choose a Redis client: a URL, or the Sentinels' master (no server needed)."""

import time

import pytest
from redis.sentinel import SentinelConnectionPool

from portal.redis_client import (
    Breaker,
    SkippedWhileDown,
    make_cache_redis,
    make_redis,
    parse_sentinels,
    redis_configured,
    rq_settings,
    sentinel_connection_settings,
)

SENTINELS = "10.0.0.11:26379, 10.0.0.12:26380,[::1]:26381,sentinel-4"


def test_sentinel_addresses_are_host_port_pairs_with_a_default_port():
    assert parse_sentinels(SENTINELS) == [
        ("10.0.0.11", 26379),
        ("10.0.0.12", 26380),
        ("::1", 26381),
        ("sentinel-4", 26379),
    ]
    with pytest.raises(ValueError):
        parse_sentinels(" , ")


def test_neither_a_url_nor_sentinels_is_the_embedded_default():
    assert not redis_configured({"REDIS_URL": None, "REDIS_SENTINELS": None})
    assert redis_configured({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert redis_configured({"REDIS_SENTINELS": SENTINELS})


def test_with_sentinels_the_client_is_the_masters_with_database_and_password_from_the_url():
    config = {
        "REDIS_SENTINELS": SENTINELS,
        "REDIS_SENTINEL_SERVICE": "portal-sessions",
        "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
        "REDIS_URL": "redis://:master-secret@ignored:1/4",
        "REDIS_SOCKET_TIMEOUT": 0.3,
    }
    client = make_redis(config)  # connects to nothing until used
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "portal-sessions" and pool.is_master
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (4, "master-secret", 0.3)
    sentinel = sentinel_connection_settings(config)["sentinel_kwargs"]
    assert (sentinel["password"], sentinel["socket_timeout"]) == ("sentinel-secret", 0.3)


def test_with_sentinels_and_no_url_the_database_is_redis_db():
    settings = sentinel_connection_settings({"REDIS_SENTINELS": SENTINELS, "REDIS_DB": 2})
    assert settings["master"] == {"db": 2}
    assert settings["service"] == "portal"


def test_a_url_of_its_own_wins_over_the_sentinels():
    """The cache's CACHE_REDIS_URL names a Redis of its own, Sentinels or not."""
    client = make_cache_redis({"REDIS_SENTINELS": SENTINELS}, "redis://127.0.0.1:6380/1")
    assert not isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.connection_kwargs["port"] == 6380


def test_rq_gets_the_same_choice():
    assert rq_settings({"REDIS_URL": "redis://h:1/3"}) == {"REDIS_URL": "redis://h:1/3"}
    sentinel = rq_settings({"REDIS_SENTINELS": SENTINELS, "REDIS_URL": "redis://:pw@-/5"})
    assert sentinel["SENTINEL"]["INSTANCES"] == parse_sentinels(SENTINELS)
    assert (sentinel["SENTINEL"]["MASTER_NAME"], sentinel["SENTINEL"]["DB"]) == ("portal", 5)
    assert sentinel["SENTINEL"]["PASSWORD"] == "pw"


def test_a_tripped_breaker_refuses_at_once_then_lets_one_call_look_again():
    breaker = Breaker(0.2)
    breaker.check()  # closed: the call goes ahead
    breaker.trip()
    with pytest.raises(SkippedWhileDown):
        breaker.check()
    time.sleep(0.3)
    breaker.check()


def test_only_a_cache_redis_of_its_own_sits_behind_a_breaker():
    config = {"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_SOCKET_TIMEOUT": 0.3}
    cache = make_cache_redis(config, "redis://127.0.0.1:6380/2")
    kwargs = cache.connection_pool.connection_kwargs
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (6380, 2, 0.3)
    assert isinstance(kwargs["breaker"], Breaker)
    assert "breaker" not in make_redis(config).connection_pool.connection_kwargs
