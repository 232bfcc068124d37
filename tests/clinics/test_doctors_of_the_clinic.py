"""Doctors of a clinic: list, add with a sign-in, deactivate."""

from datetime import UTC, datetime, time, timedelta

from portal.models import Doctor, RefreshToken, User
from portal.services.availability import free_slots
from portal.services.availability_cache import CachedDays
from portal.services.search import specializations
from tests.clinics.conftest import fetch, post_form
from tests.conftest import AuthActions
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_schedule,
)

NEW = {
    "full_name": "Dr. Jane Smith",
    "email": "Jane.Smith@Clinic.example",
    "specialization": "Dermatology",
    "consultation_fee": "120.50",
}


def test_the_clinic_page_lists_its_doctors_only(admin_client, doctor):
    gen_doctor(gen_clinic(), full_name="Dr. Elsewhere")
    html = admin_client.get("/clinic/").get_data(as_text=True)
    assert "Dr. Ada Lane" in html and "Dr. Elsewhere" not in html
    assert f"/clinic/doctors/{doctor.id}/rules" in html


def test_an_admin_adds_a_doctor_with_a_chosen_password_who_can_then_sign_in(
    admin_client, clinic, app, auth
):
    response = post_form(
        admin_client, "/clinic/doctors/new", {**NEW, "password": "a-long-secret-42"}
    )
    assert response.status_code == 303
    [doctor] = fetch(app, Doctor, full_name="Dr. Jane Smith")
    assert doctor.clinic_id == clinic.id and str(doctor.consultation_fee) == "120.50"
    [user] = fetch(app, User, email="jane.smith@clinic.example")
    assert user.role == "doctor" and user.active
    auth.logout()
    assert auth.login("jane.smith@clinic.example", "a-long-secret-42").status_code == 303
    assert admin_client.get("/doctor/").status_code == 200


def test_a_generated_password_is_shown_once_and_works(admin_client, app, auth):
    response = post_form(admin_client, "/clinic/doctors/new", {**NEW, "password": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    password = html.split('class="one-time-password">')[1].split("<")[0]
    assert len(password) >= 16
    assert password not in admin_client.get("/clinic/").get_data(as_text=True)
    auth.logout()
    assert auth.login("jane.smith@clinic.example", password).status_code == 303


def test_adding_a_doctor_with_bad_input_says_why_and_creates_nothing(admin_client, app, doctor):
    taken = fetch(app, User, id=doctor.user_id)[0].email
    cases = [
        ({"email": taken}, "already a sign-in with this email"),
        ({"email": "not-an-email"}, "Enter an email address"),
        ({"consultation_fee": "cheap"}, "The fee is a number"),
        ({"consultation_fee": "-5"}, "between 0 and"),
        ({"password": "short"}, "at least 10 characters"),
        ({"full_name": ""}, "This field is required"),
    ]
    for change, message in cases:
        response = post_form(admin_client, "/clinic/doctors/new", {**NEW, **change})
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert fetch(app, Doctor, full_name="Dr. Jane Smith") == []


def test_deactivating_a_doctor_invalidates_their_cached_availability(admin_client, doctor, app):
    gen_schedule(doctor, start=time(9), end=time(12))
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    with app.app_context():
        free_slots(fetch(app, Doctor, id=doctor.id), tomorrow, tomorrow, datetime.now(UTC))
        assert CachedDays([doctor.id], [tomorrow]).hits  # the day is cached
    gen_appointment(gen_patient(), doctor, datetime.combine(tomorrow, time(20), tzinfo=UTC))
    response = post_form(admin_client, f"/clinic/doctors/{doctor.id}/deactivate", {}, "/clinic/")
    assert response.status_code == 303
    page = admin_client.get("/clinic/").get_data(as_text=True)
    assert "is deactivated" in page and "1 upcoming visit" in page
    assert not fetch(app, User, id=doctor.user_id)[0].active
    with app.app_context():
        assert CachedDays([doctor.id], [tomorrow]).hits == {}


def test_a_deactivated_doctor_cannot_sign_in_any_more(app, client, auth, clinic, doctor):
    admin = gen_admin(clinic)
    auth.login(doctor.user.email)
    assert client.get("/doctor/").status_code == 200
    other = app.test_client()
    AuthActions(other).login(admin.email)
    post_form(other, f"/clinic/doctors/{doctor.id}/deactivate", {}, "/clinic/")
    # The doctor's open session ends with the account, and a new sign-in is refused.
    assert client.get("/doctor/").status_code == 302
    assert auth.login(doctor.user.email).status_code == 422


def test_an_admin_cannot_deactivate_another_clinics_doctor(admin_client, app):
    stranger = gen_doctor(gen_clinic())
    token_page = "/clinic/"
    response = post_form(admin_client, f"/clinic/doctors/{stranger.id}/deactivate", {}, token_page)
    assert response.status_code == 403
    assert fetch(app, User, id=stranger.user_id)[0].active
    missing = post_form(admin_client, "/clinic/doctors/999999/deactivate", {}, token_page)
    assert missing.status_code == 404


def test_a_new_specialization_is_offered_by_the_search_form_at_once(admin_client, doctor, app):
    with app.app_context():
        assert "Dermatology" not in specializations()  # the catalogue is cached now
    assert post_form(admin_client, "/clinic/doctors/new", NEW).status_code == 201
    with app.app_context():
        assert "Dermatology" in specializations()
    form = admin_client.get("/clinic/doctors/new").get_data(as_text=True)
    assert '<option value="Dermatology">' in form and 'list="known-specializations"' in form


def test_deactivation_revokes_the_doctors_api_tokens(admin_client, doctor, app):
    api = app.test_client()
    login = api.post(
        "/api/auth/login", json={"email": doctor.user.email, "password": "demo-password-2026"}
    )
    assert login.status_code == 200
    tokens = login.get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    schedule = f"/api/doctors/{doctor.id}/schedule?date=2027-03-01"
    assert api.get(schedule, headers=bearer).status_code == 200
    post_form(admin_client, f"/clinic/doctors/{doctor.id}/deactivate", {}, "/clinic/")
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    assert api.get(schedule, headers=bearer).status_code == 401
    with app.app_context():
        rows = fetch(app, RefreshToken, user_id=doctor.user_id)
    assert rows and all(row.revoked_at is not None for row in rows)
