"""Test fixtures: a real PostgreSQL database of our own, the real Redis, and the app.

Each test's data is committed for real and cleared after the test (TRUNCATE), rather than
rolled back: booking races, after-commit hooks and the exclusion constraint are part of what
these tests check, and they only happen on real commits.
"""

import os
import re

import psycopg
import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db, limiter
from tests import factories

TABLES = (
    "audit_log, notifications, video_rooms, medical_records, appointments, schedule_exceptions, "
    "doctor_schedules, refresh_tokens, patients, doctors, users, clinics"
)


def _admin_dsn(url: str) -> str:
    """A psycopg DSN for the maintenance database of the server that holds `url`."""
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    """Drop and create the database named in `url` (never `test` or `postgres`)."""
    name = make_url(url).database
    assert name not in {"postgres", "test", "root", "template1"}, name
    assert re.fullmatch(r"[a-z0-9_]+", name)
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def database_url() -> str:
    return TestConfig.SQLALCHEMY_DATABASE_URI


@pytest.fixture(scope="session")
def app(database_url):
    """The app on a fresh test database, migrated to head."""
    from flask_migrate import upgrade

    recreate_database(database_url)
    app = create_app(TestConfig)
    with app.app_context():
        upgrade()
    factories.bind(app)
    return app


@pytest.fixture(autouse=True)
def _clean_state(app):
    """Empty every table and the test Redis database after each test."""
    yield
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    # Flask-Limiter keeps its storage on the extension object: a test that built another app
    # (Redis down, production settings) moved it, so point it back at this app's Redis.
    limiter.init_app(app)
    Redis.from_url(TestConfig.REDIS_URL).flushdb()


@pytest.fixture
def app_ctx(app):
    """An application context for tests that call services directly."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def redis_conn():
    return Redis.from_url(TestConfig.REDIS_URL)


CSRF_INPUT = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Sign in and out through the real forms, as flaskr's tests do."""

    def __init__(self, client):
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        return csrf_token_from(self.client.get(path, follow_redirects=True).get_data(as_text=True))

    def login(self, email: str, password: str | None = None):
        password = password or TestConfig.DEMO_PASSWORD
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": self.csrf()},
        )

    def logout(self):
        token = self.csrf("/")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return AuthActions(client)


def pytest_configure(config):
    os.environ.setdefault("PORTAL_ENV", "test")
