"""Throttling, CSRF, role decorators, and a Redis outage."""

import pytest
from flask import Flask

from portal import _check_limits_only_where_declared, create_app
from portal.config import TestConfig
from portal.extensions import limiter
from tests.factories import gen_admin, gen_clinic, gen_doctor, gen_patient


def test_sign_in_is_throttled_per_account(client, auth, app):
    gen_patient(email="p@example.com")
    for _ in range(5):
        assert auth.login("p@example.com", "wrong password!").status_code == 422
    throttled = auth.login("p@example.com", "wrong password!")
    assert throttled.status_code == 429
    assert "Too many attempts" in throttled.get_data(as_text=True)
    assert int(throttled.headers["Retry-After"]) > 0
    # Even the right password waits: the account is throttled, not the guess.
    assert auth.login("p@example.com").status_code == 429


def test_an_unknown_account_is_throttled_the_same_way(client, auth, app):
    for _ in range(5):
        assert auth.login("ghost@example.com", "wrong password!").status_code == 422
    assert auth.login("ghost@example.com", "wrong password!").status_code == 429


def test_sign_in_is_throttled_per_address(client, auth, app):
    for n in range(20):
        assert auth.login(f"user{n}@example.com", "wrong password!").status_code == 422
    assert auth.login("user99@example.com", "wrong password!").status_code == 429


def test_only_the_views_that_declare_limits_are_checked(app):
    # Our limits live on their views; Flask-Limiter's check before every request is skipped
    # while no app-wide limit is configured (the tests above: the views still throttle).
    assert limiter._check_request_limit not in app.before_request_funcs[None]
    # A limit on a whole blueprint would need that check: there is none.
    with app.test_request_context():
        assert all(not limiter.limit_manager.blueprint_limits(app, name) for name in app.blueprints)


@pytest.mark.parametrize("setting", ["RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION"])
def test_an_app_wide_limit_keeps_the_check_before_every_request(setting):
    # A bare app: the limiter is one object for every app, and an app-wide limit it took from
    # another app's settings would stay with it.
    limited = Flask(__name__)
    limited.config[setting] = "2 per minute"
    limited.before_request(limiter._check_request_limit)
    _check_limits_only_where_declared(limited, limiter)
    assert limiter._check_request_limit in limited.before_request_funcs[None]


def test_a_form_without_its_csrf_token_is_refused(client, app):
    gen_patient(email="p@example.com")
    response = client.post(
        "/login", data={"email": "p@example.com", "password": "demo-password-2026"}
    )
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert client.get("/patient/").status_code == 302


def test_sign_out_needs_the_csrf_token(client, auth, app):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    assert client.post("/logout").status_code == 400
    assert client.get("/patient/").status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("patient", "/patient/"), ("doctor", "/doctor/"), ("clinic_admin", "/clinic/")],
)
def test_each_role_reaches_only_its_own_pages(client, auth, app, role, allowed):
    clinic = gen_clinic()
    emails = {
        "patient": gen_patient().user.email,
        "doctor": gen_doctor(clinic).user.email,
        "clinic_admin": gen_admin(clinic).email,
    }
    auth.login(emails[role])
    for page in ("/patient/", "/doctor/", "/clinic/"):
        expected = 200 if page == allowed else 403
        assert client.get(page).status_code == expected, page


def test_signed_out_visitors_are_sent_to_sign_in(client, app):
    for page in ("/patient/", "/doctor/", "/clinic/"):
        response = client.get(page)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_a_redis_outage_gives_a_clear_503_page(app):
    class RedisDown(TestConfig):
        TESTING = False  # let the error handlers answer, as in production
        REDIS_URL = "redis://127.0.0.1:1/0"

    down = create_app(RedisDown)
    response = down.test_client().get("/login")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "Temporarily unavailable" in body
    assert "Traceback" not in body
    assert response.headers["Retry-After"]
