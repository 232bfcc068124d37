"""Changing one's password: every other session and every API token of the user stop working,
this browser stays signed in, and a refused change changes nothing."""

import re

from sqlalchemy import select

from portal.config import TestConfig
from portal.extensions import db
from portal.models import RefreshToken
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import gen_doctor, gen_patient

OLD = TestConfig.DEMO_PASSWORD
NEW = "a-much-better-passphrase"
PAGE = "/account/password"


def change(client, current=OLD, new=NEW, confirm=None):
    token = csrf_token_from(client.get(PAGE).get_data(as_text=True))
    return client.post(
        PAGE,
        data={
            "current_password": current,
            "password": new,
            "confirm": new if confirm is None else confirm,
            "csrf_token": token,
        },
    )


def api_sign_in(app, email, password=OLD):
    return app.test_client().post("/api/auth/login", json={"email": email, "password": password})


def test_a_change_signs_out_every_other_session_and_api_token_and_keeps_this_one(app, client):
    gen_patient(email="p@example.com")
    AuthActions(client).login("p@example.com")
    elsewhere = app.test_client()
    AuthActions(elsewhere).login("p@example.com")
    assert elsewhere.get("/patient/").status_code == 200
    tokens = api_sign_in(app, "p@example.com").get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    visits = f"/api/patients/{tokens['user']['patient_id']}/appointments"
    api = app.test_client()
    assert api.get(visits, headers=bearer).status_code == 200

    response = change(client)

    assert response.status_code == 303
    home = client.get(response.headers["Location"])  # this browser: a fresh session
    assert home.status_code == 200
    assert "Your password is changed" in home.get_data(as_text=True)
    other = elsewhere.get("/patient/")
    assert other.status_code == 302 and "/login" in other.headers["Location"]
    assert api.get(visits, headers=bearer).status_code == 401
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    with app.app_context():
        assert all(row.revoked_at is not None for row in db.session.scalars(select(RefreshToken)))
    assert api_sign_in(app, "p@example.com").status_code == 401
    assert api_sign_in(app, "p@example.com", NEW).status_code == 200
    fresh = app.test_client()
    assert AuthActions(fresh).login("p@example.com", NEW).status_code == 303


def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(app, client):
    gen_doctor(email="d@example.com")
    AuthActions(client).login("d@example.com")
    tokens = api_sign_in(app, "d@example.com").get_json()
    cases = [
        ({"current": "not-the-password"}, "That is not your current password."),
        ({"new": "short"}, "Use at least 10 characters."),
        ({"new": "password1234"}, "This password is too common; choose another."),
        ({"new": OLD}, "Choose a password other than your current one."),
        ({"confirm": "something-else-entirely"}, "The passwords differ."),
    ]
    for fields, message in cases:
        response = change(client, **fields)
        assert response.status_code == 422, fields
        html = response.get_data(as_text=True)
        assert message in html, fields
        assert re.search(r'aria-invalid="true"', html)
    # Nothing changed: the old password and the old refresh token still work.
    assert api_sign_in(app, "d@example.com").status_code == 200
    refreshed = app.test_client().post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert client.get("/doctor/").status_code == 200


def test_the_page_needs_a_signed_in_user_and_a_csrf_token(app, client):
    assert client.get(PAGE).status_code == 302
    gen_patient(email="p@example.com")
    AuthActions(client).login("p@example.com")
    assert client.get(PAGE).status_code == 200
    forged = client.post(PAGE, data={"current_password": OLD, "password": NEW, "confirm": NEW})
    assert forged.status_code == 400
    assert api_sign_in(app, "p@example.com").status_code == 200  # unchanged


def test_failed_attempts_at_the_current_password_are_throttled(app, client):
    gen_patient(email="p@example.com")
    AuthActions(client).login("p@example.com")
    statuses = [change(client, current=f"wrong-guess-{n}").status_code for n in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
    assert api_sign_in(app, "p@example.com").status_code == 200  # unchanged
