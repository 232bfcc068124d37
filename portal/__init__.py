"""The portal: a Flask application for booking medical appointments."""

import os
from pathlib import Path

from flask import Flask

from portal.config import DEFAULT_SECRET_KEY, config_for

ROOT = Path(__file__).resolve().parent.parent


def create_app(config=None) -> Flask:
    """Build the application: settings, then a list of small register_* steps."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_settings(app, config)
    register_proxy_fix(app)
    register_logging(app)
    register_request_context(app)
    register_database(app)
    register_redis(app)
    register_cache(app)
    register_sessions(app)
    register_security(app)
    register_security_headers(app)
    register_login(app)
    register_queue(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_metrics(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def load_settings(app: Flask, config) -> None:
    """Config class from PORTAL_ENV, overridden by a class or mapping given to create_app."""
    app.config.from_object(config_for(os.environ.get("PORTAL_ENV")))
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    if app.config.get("ENV_NAME") == "production" and (
        app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY or len(app.config["SECRET_KEY"]) < 32
    ):
        raise RuntimeError(
            "Refusing to start in production with the default or a short SECRET_KEY: "
            "set SECRET_KEY to at least 32 random characters."
        )


def register_proxy_fix(app: Flask) -> None:
    """Trust the client address and scheme a reverse proxy forwards, as far as configured
    (PROXY_FIX_X_FOR / PROXY_FIX_X_PROTO): throttling per address and the audit trail need
    the client's address, not the proxy's."""
    x_for, x_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if x_for or x_proto:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=x_for, x_proto=x_proto)


def register_request_context(app: Flask) -> None:
    """A request id for every request (X-Request-ID), for logs and the audit trail."""
    from portal.request_context import init_request_context

    init_request_context(app)


def register_logging(app: Flask) -> None:
    """Log lines stamped with the request id and job id; JSON in production."""
    from portal.logging_setup import init_logging

    init_logging(app)


def register_database(app: Flask) -> None:
    """SQLAlchemy and Alembic, and the read replica if one is set; the embedded default is a
    SQLite file under instance/."""
    from portal import models  # noqa: F401  (registers the tables on the metadata)
    from portal.database import (
        configure_engine_options,
        configure_replica_bind,
        end_read_only_transactions,
        init_read_only_requests,
    )
    from portal.extensions import db, migrate
    from portal.replica import init_replica

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'portal.db'}"
    configure_engine_options(app)
    configure_replica_bind(app)
    db.init_app(app)
    init_read_only_requests(app)  # before the replica's routing takes a connection
    end_read_only_transactions(app)
    init_replica(app)  # lag-tolerant reads to DATABASE_REPLICA_URL when it is set
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)


def register_redis(app: Flask) -> None:
    """One Redis client for sessions, throttling and queues (None on the embedded default).

    With REDIS_SENTINELS it is a client of the Sentinels' current master (portal.redis_client).
    """
    from portal.redis_client import make_redis, redis_configured

    app.extensions["redis"] = make_redis(app.config) if redis_configured(app.config) else None


def register_cache(app: Flask) -> None:
    """Flask-Caching: Redis with a key prefix (never FLUSHDB the queues), else in-process.

    The cache's own Redis (CACHE_REDIS_URL, behind a breaker: an outage of it costs pages
    nothing but the cache) if there is one, else the app's Redis, Sentinel included.
    Flask-Caching and the raw client (for the atomic operations Flask-Caching lacks) share one
    client, so they share its timeouts and its master.
    """
    from portal.extensions import cache
    from portal.redis_client import make_cache_redis

    if app.config.get("CACHE_REDIS_URL"):
        cache_redis = make_cache_redis(app.config, app.config["CACHE_REDIS_URL"])
    else:
        cache_redis = app.extensions["redis"]
    app.extensions["cache_redis"] = cache_redis
    if cache_redis is not None:
        # CACHE_REDIS_URL stays out: Flask-Caching merges app.config into this and, given a
        # URL, would build a client of its own, without our timeouts or breaker.
        cache_config = {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_HOST": cache_redis,
            "CACHE_REDIS_URL": None,
        }
    else:
        cache_config = {"CACHE_TYPE": "SimpleCache"}
    cache_config["CACHE_KEY_PREFIX"] = app.config["CACHE_KEY_PREFIX"]
    cache_config["CACHE_DEFAULT_TIMEOUT"] = app.config["CACHE_DEFAULT_TIMEOUT"]
    cache.init_app(app, config=cache_config)


def register_sessions(app: Flask) -> None:
    """Server-side sessions: Redis, or files under instance/ on the embedded default."""
    from cachelib import FileSystemCache

    from portal.extensions import server_session

    if app.extensions["redis"] is not None:
        app.config["SESSION_TYPE"] = "redis"
        app.config["SESSION_REDIS"] = app.extensions["redis"]
    else:
        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = FileSystemCache(
            str(Path(app.instance_path) / "sessions"), threshold=5000
        )
    server_session.init_app(app)


def register_security(app: Flask) -> None:
    """CSRF on every form, and throttling (Redis-backed when Redis is configured)."""
    from portal.extensions import csrf, limiter

    if "RATELIMIT_STORAGE_URI" not in app.config:
        redis = app.extensions["redis"]
        if redis is None:
            app.config["RATELIMIT_STORAGE_URI"] = "memory://"
        else:
            # The app's own client pool (Sentinel-aware, short timeouts), not a second client
            # of limits' making: its "redis+sentinel://" storage would read counts from replicas
            # and need the timeouts, database and passwords repeated in another form.
            app.config["RATELIMIT_STORAGE_URI"] = "redis://"
            app.config["RATELIMIT_STORAGE_OPTIONS"] = {"connection_pool": redis.connection_pool}
    app.config.setdefault("RATELIMIT_KEY_PREFIX", app.config["SESSION_KEY_PREFIX"] + "limits")
    csrf.init_app(app)
    limiter.init_app(app)
    _check_limits_only_where_declared(app, limiter)


# Limits that Flask-Limiter checks before every request, not in a view's own decorator.
_APP_WIDE_LIMITS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def _check_limits_only_where_declared(app: Flask, limiter) -> None:
    """Every limit of ours is declared on its view (sign-in, registration, password change),
    whose decorator checks it when the view runs. Flask-Limiter also checks before every
    request, for default, application and meta limits and limits on a whole blueprint: with
    none of them that finds nothing, at about 70 us of CPU a request (8% of the API's video
    token). Skip it then; the headers and the clean-up after a request stay. (A limit on a
    whole blueprint would need the check back: a test sees that there is none.)"""
    if any(app.config.get(name) for name in _APP_WIDE_LIMITS):
        return
    before = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [f for f in before if f != limiter._check_request_limit]


def register_security_headers(app: Flask) -> None:
    """CSP without inline scripts, nosniff, referrer policy, no framing; HSTS in production."""
    from portal.security_headers import init_security_headers

    init_security_headers(app)


def register_login(app: Flask) -> None:
    """Flask-Login with the session timeouts of DESIGN.md."""
    from portal.auth.sessions import init_login

    init_login(app)


def register_queue(app: Flask) -> None:
    """RQ queue on Redis; without Redis jobs run inline."""
    from portal.queue import init_queue

    init_queue(app)


def register_blueprints(app: Flask) -> None:
    """The portal's blueprints, and the JSON API under /api."""
    from portal.api import bp as api_bp
    from portal.auth.views import bp as auth_bp
    from portal.clinics.views import bp as clinics_bp
    from portal.doctors.views import bp as doctors_bp
    from portal.extensions import csrf
    from portal.health import bp as health_bp
    from portal.main import bp as main_bp
    from portal.patients.history import bp as history_bp
    from portal.patients.views import bp as patients_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(patients_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(doctors_bp)
    app.register_blueprint(clinics_bp)
    app.register_blueprint(api_bp)
    # The API authenticates with Bearer tokens, never cookies: a forged form has nothing to ride on.
    csrf.exempt(api_bp)


def register_error_handlers(app: Flask) -> None:
    """JSON errors for the API, fragments for htmx, pages for the rest."""
    from portal.errors import init_error_handlers

    init_error_handlers(app)


def register_metrics(app: Flask) -> None:
    """Prometheus metrics at /metrics."""
    from portal.metrics import init_metrics

    init_metrics(app)


def register_template_helpers(app: Flask) -> None:
    """Filters for showing times in a clinic's zone, money, and so on."""
    from portal.templating import init_templating

    init_templating(app)


def register_commands(app: Flask) -> None:
    """flask seed demo|scale, flask jobs ..., flask db top."""
    from portal import ops_cli  # noqa: F401  (adds `top` to Flask-Migrate's `db` group)
    from portal.jobs_cli import register_jobs_cli
    from portal.seed.commands import seed_cli

    app.cli.add_command(seed_cli)
    register_jobs_cli(app)
