"""Sign-up, sign-in, refresh and sign-out through the API, and their throttling."""

import hashlib

from sqlalchemy import func, select

from portal.config import TestConfig
from portal.extensions import db
from portal.models import RefreshToken, User
from portal.services.tokens import issue_tokens, principal_for_access_token
from tests.api.conftest import assert_error_shape
from tests.factories import gen_doctor, gen_patient

PASSWORD = TestConfig.DEMO_PASSWORD
TOKEN_KEYS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_expires_in",
    "user",
}


def login(api, email: str, password: str = PASSWORD):
    return api.post("/api/auth/login", json={"email": email, "password": password})


def signed_in(app, user_id: int) -> dict:
    """A sign-in's tokens from the token service (argon2 runs only where sign-in is tested)."""
    with app.app_context():
        pair = issue_tokens(db.session.get(User, user_id))
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_login_answers_the_contract_of_design_md(api, app):
    patient = gen_patient(email="pat@example.com")
    response = login(api, "PAT@example.com ")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] == 604800
    assert body["user"] == {
        "id": patient.user_id,
        "role": "patient",
        "patient_id": patient.id,
        "doctor_id": None,
        "clinic_id": None,
    }
    with app.app_context():
        assert principal_for_access_token(body["access_token"]).id == patient.user_id


def test_a_doctor_signs_in_with_their_doctor_id(api):
    doctor = gen_doctor(email="doc@example.com")
    user = login(api, "doc@example.com").get_json()["user"]
    assert user["role"] == "doctor" and user["doctor_id"] == doctor.id
    assert user["patient_id"] is None


def test_refresh_tokens_are_stored_only_as_their_sha256(api, app):
    gen_patient(email="pat@example.com")
    token = login(api, "pat@example.com").get_json()["refresh_token"]
    assert len(token) >= 43  # 32 random bytes, base64url
    with app.app_context():
        row = db.session.scalars(select(RefreshToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in {row.token_hash, row.family}
        assert row.expires_at - row.issued_at == TestConfig.REFRESH_TOKEN_TTL


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(api):
    gen_patient(email="pat@example.com")
    wrong = login(api, "pat@example.com", "not-the-password")
    unknown = login(api, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"


def test_a_deactivated_account_cannot_sign_in(api, app):
    patient = gen_patient(email="pat@example.com")
    with app.app_context():
        db.session.get(User, patient.user_id).active = False
        db.session.commit()
    assert login(api, "pat@example.com").status_code == 401


def test_failed_sign_ins_are_throttled_per_account_with_retry_after(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "2 per 5 minutes")  # 5 in use
    gen_patient(email="pat@example.com")
    statuses = [login(api, "pat@example.com", "wrong-password-1").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    throttled = login(api, "pat@example.com")  # even the right password now waits
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.get_json()["error"]["code"] == "throttled"


def test_an_unknown_account_is_throttled_exactly_like_a_real_one(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "2 per 5 minutes")
    statuses = [login(api, "nobody@example.com", "wrong-password-1").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_successful_sign_ins_do_not_count_against_the_account(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_LIMIT_PER_ACCOUNT", "1 per 5 minutes")
    gen_patient(email="pat@example.com")
    assert [login(api, "pat@example.com").status_code for _ in range(2)] == [200, 200]


def test_sign_ins_are_throttled_per_address(api):
    statuses = [api.post("/api/auth/login", data="{").status_code for _ in range(21)]
    assert statuses == [400] * 20 + [429]


def test_registration_is_throttled_per_address(api, app):
    statuses = [api.post("/api/auth/register", data="{").status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    assert count(app, User) == 0


def register(api, **fields):
    body = {
        "email": "new@example.com",
        "password": "a-long-new-password",
        "full_name": "New Patient",
        "phone": "+14155550123",
        **fields,
    }
    return api.post("/api/auth/register", json=body)


def test_registration_answers_201_signed_in_with_the_body_of_login(api, app):
    response = register(api)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["user"]["role"] == "patient" and body["user"]["patient_id"]
    assert login(api, "new@example.com", "a-long-new-password").status_code == 200


def test_registering_a_taken_email_gets_409_and_creates_nothing(api, app):
    gen_patient(email="new@example.com")
    response = register(api, email="NEW@example.com")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_taken"
    assert count(app, User) == 1


def test_registration_refuses_what_the_portal_refuses(api, app):
    cases = [
        ({"password": "short"}, "password"),
        ({"password": "password1234"}, "password"),  # too common
        ({"password": "new-example-pass", "email": "new-example@example.com"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "555-0123"}, "phone"),
        ({"full_name": "   "}, "full_name"),
        ({"is_admin": True}, "is_admin"),
        ({"full_name": 42}, "full_name"),
    ]
    for fields, field in cases:
        response = register(api, **fields)
        assert response.status_code == 422, fields
        assert field in response.get_json()["error"]["fields"], fields
    assert count(app, User) == 0


def test_refresh_hands_out_a_new_pair_and_spends_the_old_token(api, app):
    first = signed_in(app, gen_patient().user_id)
    second = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    body = second.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    third = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert third.status_code == 200


def test_presenting_a_spent_refresh_token_revokes_the_whole_family(api, app):
    stolen = signed_in(app, gen_patient().user_id)["refresh_token"]
    current = api.post("/api/auth/refresh", json={"refresh_token": stolen}).get_json()
    replay = api.post("/api/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "refresh_token_reused"
    # The legitimate holder's newer token went with the family.
    after = api.post("/api/auth/refresh", json={"refresh_token": current["refresh_token"]})
    assert after.status_code == 401


def test_reuse_revokes_one_family_and_leaves_other_sign_ins_alone(api, app):
    user_id = gen_patient().user_id
    phone = signed_in(app, user_id)["refresh_token"]
    tablet = signed_in(app, user_id)["refresh_token"]
    api.post("/api/auth/refresh", json={"refresh_token": phone})
    api.post("/api/auth/refresh", json={"refresh_token": phone})  # reuse: phone's family goes
    assert api.post("/api/auth/refresh", json={"refresh_token": tablet}).status_code == 200


def test_logout_revokes_the_family_and_answers_204_every_time(api, app):
    first = signed_in(app, gen_patient().user_id)
    current = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    token = current.get_json()["refresh_token"]
    response = api.post("/api/auth/logout", json={"refresh_token": token})
    assert response.status_code == 204 and response.get_data() == b""
    assert api.post("/api/auth/refresh", json={"refresh_token": token}).status_code == 401
    assert api.post("/api/auth/logout", json={"refresh_token": token}).status_code == 204
    assert api.post("/api/auth/logout", json={"refresh_token": "never-issued"}).status_code == 204


def test_an_unknown_refresh_token_gets_401(api):
    response = api.post("/api/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_an_access_token_is_not_a_refresh_token(api, app):
    access = signed_in(app, gen_patient().user_id)["access_token"]
    response = api.post("/api/auth/refresh", json={"refresh_token": access})
    assert response.status_code == 401


def test_auth_endpoints_refuse_bodies_that_are_not_json_objects(api, app):
    for path in ("/api/auth/login", "/api/auth/register", "/api/auth/refresh", "/api/auth/logout"):
        for kwargs in (
            {},
            {"data": "{not json", "content_type": "application/json"},
            {"json": ["an", "array"]},
            {"json": "a string"},
            {"data": {"email": "a@example.com"}},  # a form, not JSON
        ):
            response = api.post(path, **kwargs)
            assert response.status_code == 400, (path, kwargs)
            assert_error_shape(response.get_json())
            assert response.get_json()["error"]["code"] == "bad_json"
    assert count(app, RefreshToken) == 0
