"""A doctor's page of free times, and the search cards that link to it."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from portal.extensions import db
from portal.models import User
from tests.factories import gen_clinic, gen_doctor, gen_patient, gen_schedule
from tests.patients.test_search_and_booking_pages import search


@pytest.fixture
def patient_client(client, auth):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    return client


def busy_doctor():
    """A doctor with 16 half-hour slots every day: more than a search card shows."""
    clinic = gen_clinic(city="Springfield", timezone="America/New_York")
    doctor = gen_doctor(clinic, specialization="Cardiology")
    gen_schedule(doctor, start=time(9), end=time(17), slot=30)
    return doctor


def slot_links(html: str) -> list[str]:
    return re.findall(r'href="/patient/book\?[^"]+"', html)


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def test_a_search_card_shows_four_times_a_day_and_links_to_the_rest(patient_client):
    doctor = busy_doctor()
    html = search(patient_client, date_from=in_days(1), date_to=in_days(1)).get_data(as_text=True)
    assert len(slot_links(html)) == 4
    assert "+12 more" in html
    assert f'href="/patient/doctors/{doctor.id}?date_from={in_days(1)}"' in html


def test_the_doctor_page_lists_every_free_time_of_the_week(patient_client):
    doctor = busy_doctor()
    page = patient_client.get(
        f"/patient/doctors/{doctor.id}", query_string={"date_from": in_days(1)}
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert doctor.full_name in html and "America/New_York" in html
    assert len(slot_links(html)) == 7 * 16
    assert f'id="day-{in_days(1)}"' in html
    assert f"date_from={in_days(8)}" in html  # the later week


def test_the_doctor_page_starts_today_and_never_in_the_past(patient_client):
    doctor = busy_doctor()
    html = patient_client.get(
        f"/patient/doctors/{doctor.id}", query_string={"date_from": "2001-01-01"}
    ).get_data(as_text=True)
    assert "Earlier week" not in html
    assert f'id="day-{in_days(1)}"' in html


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01", "9999-01-01"])
def test_bad_dates_are_a_clear_400(patient_client, bad):
    doctor = busy_doctor()
    page = patient_client.get(f"/patient/doctors/{doctor.id}", query_string={"date_from": bad})
    assert page.status_code == 400
    assert 'role="alert"' in page.get_data(as_text=True)


def test_an_unknown_or_inactive_doctor_is_404(patient_client, app):
    doctor = busy_doctor()
    assert patient_client.get("/patient/doctors/999999").status_code == 404
    assert patient_client.get(f"/patient/doctors/{2**40}").status_code == 404
    with app.app_context():
        db.session.get(User, doctor.user_id).active = False
        db.session.commit()
    assert patient_client.get(f"/patient/doctors/{doctor.id}").status_code == 404


def test_the_doctor_name_is_escaped(patient_client, app):
    doctor = busy_doctor()
    with app.app_context():
        from portal.models import Doctor

        db.session.get(Doctor, doctor.id).full_name = "<script>alert(1)</script>"
        db.session.commit()
    html = patient_client.get(f"/patient/doctors/{doctor.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
