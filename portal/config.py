"""Configuration read from the environment, with embedded defaults.

Nothing here touches the network or the disk: `create_app` turns these settings into
connections. With no DATABASE_URL and no REDIS_URL (nor REDIS_SENTINELS) the portal runs on
the embedded default (a SQLite file under instance/, an in-process cache, jobs run inline,
console providers).
"""

import os
from datetime import timedelta

DEFAULT_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 (refused in production)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings for every environment; each reads its environment variable once."""

    ENV_NAME = os.environ.get("PORTAL_ENV", "development")
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")  # "json" in production
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    METRICS_ENABLED = _env_bool("METRICS_ENABLED", True)
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)

    # Database: PostgreSQL in production and tests, a SQLite file when nothing is set.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
    SQLALCHEMY_ENGINE_OPTIONS = {
        # Off by default: a dead connection fails one request with a 503, and SQLAlchemy then
        # drops the whole pool; pre-ping would cost a round trip on every request instead.
        "pool_pre_ping": _env_bool("DB_POOL_PRE_PING", False),
        "pool_size": _env_int("DB_POOL_SIZE", 5),
        "max_overflow": _env_int("DB_MAX_OVERFLOW", 5),
    }
    DB_STATEMENT_TIMEOUT_MS = _env_int("DB_STATEMENT_TIMEOUT_MS", 15000)

    # A streaming replica for reads that tolerate lag (portal/replica.py, docs/scaling.md).
    DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL") or None
    # A replica further behind than this is skipped: its reads go to the primary.
    REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "5"))
    # How often a process measures the lag (at most; only while requests arrive).
    REPLICA_CHECK_SECONDS = float(os.environ.get("REPLICA_CHECK_SECONDS", "2"))
    # A replica that could not be reached is tried again after this long.
    REPLICA_RETRY_SECONDS = float(os.environ.get("REPLICA_RETRY_SECONDS", "15"))
    REPLICA_CONNECT_TIMEOUT = _env_int("REPLICA_CONNECT_TIMEOUT", 2)  # libpq's minimum is 2
    # After a write, that user's reads go to the primary for this long (read your writes).
    REPLICA_STICKY_SECONDS = _env_int("REPLICA_STICKY_SECONDS", 5)
    # Endpoints whose GETs read from the replica, comma-separated; empty: replica.READ_ENDPOINTS.
    REPLICA_READ_ENDPOINTS = tuple(
        name.strip()
        for name in os.environ.get("REPLICA_READ_ENDPOINTS", "").split(",")
        if name.strip()
    )

    # Redis: sessions, cache, queues and throttling. None means the embedded default.
    # Behind a reverse proxy (deploy/nginx.conf): how many proxies' X-Forwarded-For and
    # X-Forwarded-Proto to trust. 0 trusts none: the address is the connection's (never set it
    # above the number of proxies really in front, or clients can forge their address).
    PROXY_FIX_X_FOR = _env_int("PROXY_FIX_X_FOR", 0)
    PROXY_FIX_X_PROTO = _env_int("PROXY_FIX_X_PROTO", 0)

    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Redis under Sentinel (deploy/sentinel.conf): "host:port,host:port" of the Sentinels and
    # the name they monitor the master under. When set, every client asks them for the
    # master; REDIS_URL, if also given, only supplies the database number and the password.
    REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS") or None
    REDIS_SENTINEL_SERVICE = os.environ.get("REDIS_SENTINEL_SERVICE") or "portal"
    REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD") or None
    REDIS_DB = _env_int("REDIS_DB", 0)
    REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.5"))
    CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "portal:cache:")
    # The cache may live on its own Redis (one that may evict); defaults to REDIS_URL.
    CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL") or None
    # After that Redis fails, the cache skips it for this long (redis_client.make_cache_redis).
    CACHE_RETRY_SECONDS = float(os.environ.get("CACHE_RETRY_SECONDS", "5"))
    AVAILABILITY_CACHE_ENABLED = _env_bool("AVAILABILITY_CACHE_ENABLED", True)
    CACHE_DEFAULT_TIMEOUT = _env_int("CACHE_DEFAULT_TIMEOUT", 3600)
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "default")

    # Portal sessions: server-side, idle timeout 30 minutes, absolute limit 12 hours.
    SESSION_IDLE_TIMEOUT = timedelta(minutes=_env_int("SESSION_IDLE_MINUTES", 30))
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=_env_int("SESSION_ABSOLUTE_HOURS", 12))
    PERMANENT_SESSION_LIFETIME = SESSION_IDLE_TIMEOUT
    SESSION_PERMANENT = True
    # The session is saved when it changes; activity is noted at most once a minute
    # (auth/sessions.py), which refreshes the idle TTL without a write per request.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_KEY_PREFIX = "portal:session:"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)

    # Throttling of sign-in and registration (Flask-Limiter strings).
    LOGIN_LIMIT_PER_ADDRESS = os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "20 per 5 minutes")
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes")
    REGISTER_LIMIT_PER_ADDRESS = os.environ.get("REGISTER_LIMIT_PER_ADDRESS", "10 per hour")
    RATELIMIT_HEADERS_ENABLED = True

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Booking rules.
    BOOKING_LEAD_TIME = timedelta(minutes=_env_int("BOOKING_LEAD_MINUTES", 60))
    CANCEL_CUTOFF = timedelta(minutes=_env_int("CANCEL_CUTOFF_MINUTES", 120))
    SEARCH_MAX_DAYS = 14

    # Demo data.
    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-password-2026")

    # Providers: SES for email, Twilio for SMS and video; "console" when not configured.
    EMAIL_PROVIDER = os.environ.get(
        "EMAIL_PROVIDER", "ses" if os.environ.get("SES_SENDER") else "console"
    )
    SMS_PROVIDER = os.environ.get(
        "SMS_PROVIDER", "twilio" if os.environ.get("TWILIO_ACCOUNT_SID") else "console"
    )
    VIDEO_PROVIDER = os.environ.get(
        "VIDEO_PROVIDER", "twilio" if os.environ.get("TWILIO_ACCOUNT_SID") else "local"
    )
    SES_ENDPOINT_URL = os.environ.get("SES_ENDPOINT_URL") or None
    AWS_REGION = os.environ.get("AWS_REGION", "us-east-1")
    SES_SENDER = os.environ.get("SES_SENDER", "reminders@portal.example")
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
    TWILIO_API_KEY = os.environ.get("TWILIO_API_KEY", "")
    TWILIO_API_SECRET = os.environ.get("TWILIO_API_SECRET", "")
    TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
    TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL") or None
    SES_CONFIGURATION_SET = os.environ.get("SES_CONFIGURATION_SET") or None
    PROVIDER_CONNECT_TIMEOUT = float(os.environ.get("PROVIDER_CONNECT_TIMEOUT", "3"))
    PROVIDER_TIMEOUT = float(os.environ.get("PROVIDER_TIMEOUT", "10"))

    # Background jobs (docs/jobs.md). Retries of a job, in seconds between attempts.
    JOB_RETRY_INTERVALS = tuple(
        int(s) for s in os.environ.get("JOB_RETRY_INTERVALS", "30,60,120,240,480").split(",")
    )
    # The outbox: attempts per message, backoff base, and when a claim counts as abandoned.
    OUTBOX_MAX_ATTEMPTS = _env_int("OUTBOX_MAX_ATTEMPTS", 6)
    OUTBOX_BACKOFF_SECONDS = _env_int("OUTBOX_BACKOFF_SECONDS", 30)
    OUTBOX_STALE_SECONDS = _env_int("OUTBOX_STALE_SECONDS", 600)
    # Reminders: appointments read per batch (a multiple of the 50 destinations of one SES
    # call), SMS per second across all workers, and how long before the visit an SMS expires.
    REMINDER_BATCH_SIZE = _env_int("REMINDER_BATCH_SIZE", 1000)
    REMINDER_LOCAL_HOUR = _env_int("REMINDER_LOCAL_HOUR", 17)  # clinic-local hour they go out
    SMS_RATE_PER_SECOND = _env_int("SMS_RATE_PER_SECOND", 10)
    SMS_EXPIRES_BEFORE_VISIT_MINUTES = _env_int("SMS_EXPIRES_BEFORE_VISIT_MINUTES", 60)
    # Video rooms: made this many minutes ahead; a visit whose room still fails this close to
    # its start falls back to phone. Twilio closes a room nobody joined after its unused timeout.
    VIDEO_ROOM_LEAD_MINUTES = _env_int("VIDEO_ROOM_LEAD_MINUTES", 5)
    VIDEO_FALLBACK_MINUTES = _env_int("VIDEO_FALLBACK_MINUTES", 1)
    VIDEO_ROOM_JOIN_GRACE_MINUTES = _env_int("VIDEO_ROOM_JOIN_GRACE_MINUTES", 30)
    VIDEO_ROOM_PREFIX = os.environ.get("VIDEO_ROOM_PREFIX", "portal")
    VIDEO_TOKEN_TTL_SECONDS = _env_int("VIDEO_TOKEN_TTL_SECONDS", 3600)
    # The circuit breaker in front of Twilio Video: opens after this many failures in a row.
    BREAKER_FAIL_MAX = _env_int("BREAKER_FAIL_MAX", 5)
    BREAKER_RESET_SECONDS = _env_int("BREAKER_RESET_SECONDS", 60)

    # Tokens of the JSON API: access tokens 1 hour; refresh tokens 7 days, rotated on every
    # use, and never past 30 days after the sign-in that started their family.
    ACCESS_TOKEN_TTL = timedelta(hours=1)
    REFRESH_TOKEN_TTL = timedelta(days=7)
    REFRESH_FAMILY_TTL = timedelta(days=_env_int("REFRESH_FAMILY_DAYS", 30))
    # Signs access tokens; by default a key derived from SECRET_KEY for this use only.
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY") or None


class ProductionConfig(Config):
    """Production: secure __Host- cookies; create_app refuses the default SECRET_KEY."""

    ENV_NAME = "production"
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"  # Secure, Path=/, no Domain: the browser enforces it


class TestConfig(Config):
    """Tests: the real PostgreSQL and Redis of this machine, a database of our own."""

    TESTING = True
    METRICS_ENABLED = False  # tests build many apps; one metrics test enables its own registry
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/portal_test"
    )
    REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    DATABASE_REPLICA_URL = None  # a replica test starts its own (tests/ops/test_replica.py)
    REDIS_SENTINELS = None  # the Sentinel test starts its own (tests/ops)
    CACHE_KEY_PREFIX = "portal-test:cache:"
    SESSION_KEY_PREFIX = "portal-test:session:"
    RQ_QUEUE = "portal-test"
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-tests"  # noqa: S105
    DEMO_PASSWORD = "demo-password-2026"  # noqa: S105


def config_for(name: str | None):
    """The config class for PORTAL_ENV (development, production or test)."""
    return {"production": ProductionConfig, "test": TestConfig}.get(name or "", Config)
