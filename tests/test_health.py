"""Liveness and readiness."""

from portal import create_app
from portal.config import TestConfig


def test_healthz_answers_without_touching_anything(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_database_redis_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {
        "database": "ok",
        "migrations": "at head",
        "redis": "ok",
    }


def test_readyz_is_503_when_redis_is_down(app):
    class RedisDown(TestConfig):
        REDIS_URL = "redis://127.0.0.1:1/0"

    response = create_app(RedisDown).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("error")


def test_readyz_is_503_when_the_database_is_unreachable(app):
    class DatabaseDown(TestConfig):
        SQLALCHEMY_DATABASE_URI = "postgresql://postgres@127.0.0.1:1/none"

    response = create_app(DatabaseDown).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("error")
