"""Server-side sessions: a new id at sign-in, timeouts, and sign-out that really ends them."""

import time

from portal.auth.sessions import AUTH_AT, SEEN_AT
from portal.config import TestConfig
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
