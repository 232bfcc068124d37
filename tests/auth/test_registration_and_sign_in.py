"""Patients register; everyone signs in and out; bad input creates nothing."""

import pytest

from portal.extensions import db
from portal.models import Patient, User
from tests.conftest import csrf_token_from
from tests.factories import gen_admin, gen_clinic, gen_doctor, gen_patient

GOOD = {
    "email": "new.patient@example.com",
    "full_name": "Ada Lovelace",
    "phone": "+44 20 7946 0958",
    "password": "correct horse battery",
    "confirm": "correct horse battery",
}


def register(client, **changes):
    token = csrf_token_from(client.get("/register").get_data(as_text=True))
    return client.post("/register", data={**GOOD, **changes, "csrf_token": token})


def test_a_patient_registers_and_lands_on_their_visits(client, app):
    response = register(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/patient/")
    with app.app_context():
        user = db.session.query(User).filter_by(email="new.patient@example.com").one()
        assert user.role == "patient"
        assert user.password_hash.startswith("$argon2id$")
        assert user.patient.full_name == "Ada Lovelace"
        assert user.patient.phone == "+442079460958"
    page = client.get("/patient/").get_data(as_text=True)
    assert "Ada Lovelace" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": "a@b"}, "Enter a valid email address."),
        ({"password": "short", "confirm": "short"}, "at least 10 characters"),
        ({"password": "password123", "confirm": "password123"}, "too common"),
        ({"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"}, "too common"),
        ({"confirm": "something else"}, "The passwords differ."),
        ({"full_name": ""}, "This field is required."),
        ({"phone": "12345"}, "international format"),
    ],
)
def test_bad_registration_shows_the_error_and_creates_nothing(client, app, changes, message):
    response = register(client, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(User).count() == 0
        assert db.session.query(Patient).count() == 0


def test_a_duplicate_registration_is_refused(client, app):
    gen_patient(email="new.patient@example.com")
    response = register(client, email="New.Patient@Example.com")
    assert response.status_code == 422
    assert "exists already" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_sign_in_goes_to_the_role_first_page(client, auth, app):
    clinic = gen_clinic(name="Hudson Health")
    gen_patient(email="p@example.com")
    gen_doctor(clinic, email="d@example.com")
    gen_admin(clinic, email="a@example.com")
    for email, page in [
        ("p@example.com", "/patient/"),
        ("d@example.com", "/doctor/"),
        ("a@example.com", "/clinic/"),
    ]:
        response = auth.login(email)
        assert response.status_code == 303, (email, response.get_data(as_text=True)[-600:])
        assert response.headers["Location"].endswith(page)
        assert client.get(page).status_code == 200
        auth.logout()


def test_wrong_password_and_unknown_account_get_the_same_answer(client, auth, app):
    gen_patient(email="p@example.com")
    wrong = auth.login("p@example.com", "not the password")
    unknown = auth.login("nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 422
    message = "Email or password is incorrect."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert client.get("/patient/").status_code == 302  # still signed out


def test_a_deactivated_user_cannot_sign_in(client, auth, app):
    gen_patient(email="p@example.com")
    with app.app_context():
        db.session.query(User).filter_by(email="p@example.com").update({"active": False})
        db.session.commit()
    assert auth.login("p@example.com").status_code == 422


def test_next_parameter_only_redirects_within_the_site(client, auth, app):
    gen_patient(email="p@example.com")
    token = auth.csrf()
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": "p@example.com", "password": "demo-password-2026", "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/patient/")
