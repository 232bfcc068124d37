"""Server-side sessions: a new id at sign-in, timeouts, and sign-out that really ends them."""

import time

from flask import session
from sqlalchemy import update

from portal.auth.sessions import AUTH_AT, SEEN_AT, start_session
from portal.config import TestConfig
from portal.extensions import db
from portal.models import User
from tests.factories import gen_patient


def session_id(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def stored(redis_conn, sid: str) -> bool:
    return redis_conn.exists(TestConfig.SESSION_KEY_PREFIX + sid) == 1


def test_sign_in_issues_a_new_session_id(client, auth, app, redis_conn):
    gen_patient(email="p@example.com")
    client.get("/login")
    before = session_id(client)
    assert before and stored(redis_conn, before)
    auth.login("p@example.com")
    after = session_id(client)
    assert after and after != before
    assert not stored(redis_conn, before)
    assert stored(redis_conn, after)


def test_sign_out_destroys_the_server_side_session(client, auth, app, redis_conn):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    sid = session_id(client)
    assert client.get("/patient/").status_code == 200
    response = auth.logout()
    assert response.status_code == 303
    assert not stored(redis_conn, sid)
    # Replaying the old cookie does not bring the session back.
    client.set_cookie("session", sid)
    assert client.get("/patient/").status_code == 302


def test_an_idle_session_expires_after_30_minutes(client, auth, app):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    with client.session_transaction() as session:
        session[SEEN_AT] = int(time.time()) - 31 * 60
    response = client.get("/patient/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.get("/patient/").status_code == 302


def test_activity_keeps_a_session_alive_but_not_past_12_hours(client, auth, app):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    with client.session_transaction() as session:
        session[SEEN_AT] = int(time.time()) - 29 * 60
    assert client.get("/patient/").status_code == 200
    with client.session_transaction() as session:
        session[AUTH_AT] = int(time.time()) - 12 * 3600 - 1
    assert client.get("/patient/").status_code == 302


def test_the_session_store_expires_idle_sessions_too(client, auth, app, redis_conn):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    ttl = redis_conn.ttl(TestConfig.SESSION_KEY_PREFIX + session_id(client))
    assert 29 * 60 < ttl <= 30 * 60


def set_active(app, user_id: int, active: bool) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(active=active))
        db.session.commit()


def test_an_account_deactivated_before_its_session_starts_is_not_signed_in(app):
    # An admin may deactivate the account between the password check and the session.
    user_id = gen_patient(email="p@example.com").user_id
    set_active(app, user_id, False)
    with app.test_request_context("/login", method="POST"):
        assert start_session(user_id) is False
        assert "_user_id" not in session and AUTH_AT not in session
    set_active(app, user_id, True)
    with app.test_request_context("/login", method="POST"):
        assert start_session(user_id) is True
        assert session["_user_id"] == str(user_id)
