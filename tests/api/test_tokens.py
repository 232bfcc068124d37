"""Access and refresh tokens: lifetimes, forgeries, tokens of the wrong kind, revocation, races."""

import threading
import time
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import RefreshToken, User, utcnow
from portal.providers import get_provider
from portal.services.staff import deactivate_doctor
from portal.services.tokens import (
    InvalidToken,
    hash_refresh_token,
    issue_access_token,
    issue_tokens,
    revoke_all_for_user,
    rotate_refresh_token,
)
from tests.factories import gen_admin, gen_doctor, gen_patient

SEARCH = "/api/appointments/search?specialization=Cardiology&city=New%20York"


def user_row(user_id: int) -> User:
    return db.session.get(User, user_id)


def family_rows(family: str) -> list[RefreshToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(RefreshToken).where(RefreshToken.family == family)))


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# Access tokens.


def test_an_access_token_carries_the_user_id_and_role_for_one_hour(app_ctx):
    patient = gen_patient()
    claims = claims_of(issue_access_token(user_row(patient.user_id)))
    assert claims["sub"] == str(patient.user_id) and claims["role"] == "patient"
    assert claims["type"] == "access" and claims["jti"]
    assert 3599 < claims["exp"] - claims["iat"] <= 3600


def test_an_expired_access_token_gets_401(api):
    patient = gen_patient()
    token = api.token_for(patient.user_id, now=utcnow() - timedelta(hours=1, seconds=1))
    response = api.get(SEARCH, token=token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"


def test_a_token_accepted_before_its_expiry_is_refused_after_it(api, app):
    """A token's checked signature is remembered; its expiry is judged on every use."""
    patient = gen_patient()
    ttl = app.config["ACCESS_TOKEN_TTL"]
    with app.app_context():  # the account's password is older than the token
        user_row(patient.user_id).password_changed_at = utcnow() - 2 * ttl
        db.session.commit()
    token = api.token_for(patient.user_id, now=utcnow() - ttl + timedelta(seconds=3))
    own = f"/api/patients/{patient.id}/appointments"
    assert api.get(own, token=token).status_code == 200
    assert api.get(own, token=token).status_code == 200
    time.sleep(max(0.0, claims_of(token)["exp"] - time.time()) + 0.05)
    response = api.get(own, token=token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"


def test_forged_and_mangled_access_tokens_get_401(api, app, world):
    genuine = api.token_for(world.patient_p.user_id)
    claims = claims_of(genuine)
    forged = [
        jwt.encode(claims, "a-guessed-secret-that-is-long-enough", algorithm="HS256"),
        jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256"),  # not the token key
        jwt.encode(claims, None, algorithm="none"),
        jwt.encode({**claims, "role": "clinic_admin"}, "x" * 32, algorithm="HS256"),
        genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        genuine.replace(".", "", 1),
        "not-a-token",
    ]
    for token in forged:
        response = api.get(SEARCH, token=token)
        assert response.status_code == 401, token
        assert response.get_json()["error"]["code"] == "invalid_token"
    assert api.get(SEARCH, token=genuine).status_code == 200


def test_tokens_of_another_kind_are_not_access_tokens(api, app, world):
    with app.app_context():
        pair = issue_tokens(user_row(world.patient_p.user_id))
        video = get_provider("video").access_token("room", "patient-1", 3600)
    for token in (pair.refresh_token, video):
        assert api.get(SEARCH, token=token).status_code == 401
    # A token with our key, audience and issuer but another type is refused too.
    with app.app_context():
        from portal.services.tokens import _signing_key

        claims = {**claims_of(pair.access_token), "type": "refresh"}
        other_kind = jwt.encode(claims, _signing_key(), algorithm="HS256")
    assert api.get(SEARCH, token=other_kind).status_code == 401


def test_the_authorization_header_must_be_a_bearer_token(api, world):
    token = api.token_for(world.patient_p.user_id)
    for header in (token, f"Basic {token}", "Bearer", "Bearer ", f"Token {token}"):
        response = api.get(SEARCH, headers={"Authorization": header})
        assert response.status_code == 401, header
    assert api.get(SEARCH, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_deactivated_users_access_token_stops_working_at_once(api, app, world):
    token = api.token_for(world.patient_p.user_id)
    with app.app_context():
        user_row(world.patient_p.user_id).active = False
        db.session.commit()
    assert api.get(SEARCH, token=token).status_code == 401


def test_access_tokens_issued_before_a_password_change_stop_working(api, app, world):
    token = api.token_for(world.patient_p.user_id, now=utcnow() - timedelta(minutes=10))
    with app.app_context():
        user_row(world.patient_p.user_id).password_changed_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    assert api.get(SEARCH, token=token).status_code == 401


# Refresh tokens.


def test_a_refresh_token_expires_after_seven_days(app_ctx):
    user = user_row(gen_patient().user_id)
    pair = issue_tokens(user, now=utcnow() - timedelta(days=7, seconds=1))
    with pytest.raises(InvalidToken) as refused:
        rotate_refresh_token(pair.refresh_token)
    assert refused.value.code == "refresh_token_expired"


def test_rotation_never_extends_a_family_past_its_absolute_limit(app_ctx):
    user = user_row(gen_patient().user_id)
    start = utcnow() - timedelta(days=29)
    pair = issue_tokens(user, now=start)
    for day in range(1, 29, 6):  # a refresh every 6 days keeps each token fresh
        pair = rotate_refresh_token(pair.refresh_token, now=start + timedelta(days=day))
    pair = rotate_refresh_token(pair.refresh_token, now=start + timedelta(days=29))
    assert pair.refresh_expires_in == int(timedelta(days=1).total_seconds())
    with pytest.raises(InvalidToken) as refused:
        rotate_refresh_token(pair.refresh_token, now=start + timedelta(days=30, seconds=1))
    assert refused.value.code == "refresh_token_expired"


def test_a_deactivated_user_cannot_refresh(app_ctx):
    user = user_row(gen_patient().user_id)
    pair = issue_tokens(user)
    user.active = False
    db.session.commit()
    with pytest.raises(InvalidToken):
        rotate_refresh_token(pair.refresh_token)


def test_revoke_all_for_user_revokes_every_family_of_that_user_only(app_ctx):
    user = user_row(gen_patient().user_id)
    other = user_row(gen_patient().user_id)
    phone, tablet, others = issue_tokens(user), issue_tokens(user), issue_tokens(other)
    assert revoke_all_for_user(user.id) == 2
    for pair in (phone, tablet):
        with pytest.raises(InvalidToken):
            rotate_refresh_token(pair.refresh_token)
    rotate_refresh_token(others.refresh_token)


def test_deactivating_a_doctor_revokes_their_refresh_tokens(app_ctx):
    doctor = gen_doctor()
    admin = user_row(gen_admin(doctor.clinic).id)
    pair = issue_tokens(user_row(doctor.user_id))
    deactivate_doctor(admin, doctor.id)
    family = db.session.scalar(
        select(RefreshToken.family).where(
            RefreshToken.token_hash == hash_refresh_token(pair.refresh_token)
        )
    )
    assert all(row.revoked_at is not None for row in family_rows(family))


# Two refreshes with one token at the same time.


def _waiting_on_locks(app) -> int:
    with app.app_context():
        return db.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def test_two_simultaneous_refreshes_with_one_token_one_wins_and_the_family_is_revoked(app):
    """Both requests are held on the token's row lock, then let go together: the conditional
    UPDATE lets exactly one spend it; the other finds it spent, which is reuse."""
    with app.app_context():
        pair = issue_tokens(user_row(gen_patient().user_id))
    token_hash = hash_refresh_token(pair.refresh_token)
    results: list = []

    def refresh():
        with app.app_context():
            try:
                results.append(rotate_refresh_token(pair.refresh_token))
            except InvalidToken as error:
                results.append(error)

    with app.app_context():
        holder = db.engine.connect()
        holder_tx = holder.begin()
        holder.execute(
            text("SELECT id FROM refresh_tokens WHERE token_hash = :h FOR UPDATE"),
            {"h": token_hash},
        )
        threads = [threading.Thread(target=refresh) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while _waiting_on_locks(app) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_on_locks(app) == 2, "both refreshes should be waiting on the row"
        holder_tx.rollback()
        holder.close()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive()

    winners = [r for r in results if not isinstance(r, InvalidToken)]
    losers = [r for r in results if isinstance(r, InvalidToken)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "refresh_token_reused"
    with app.app_context():
        family = db.session.scalar(
            select(RefreshToken.family).where(RefreshToken.token_hash == token_hash)
        )
        rows = family_rows(family)
        assert len(rows) == 2  # the spent token and the winner's new one
        assert all(row.revoked_at is not None for row in rows)
        with pytest.raises(InvalidToken):
            rotate_refresh_token(winners[0].refresh_token)


def test_two_simultaneous_refresh_requests_get_one_200_and_one_401(app, api):
    with app.app_context():
        pair = issue_tokens(user_row(gen_patient().user_id))
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def refresh():
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/auth/refresh", json={"refresh_token": pair.refresh_token})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(statuses) == [200, 401]
