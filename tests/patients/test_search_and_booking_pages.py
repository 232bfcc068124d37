"""The patient's search and booking pages, through the test client."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import event

from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment
from tests.conftest import csrf_token_from
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient, gen_schedule


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


def next_week() -> str:
    return (datetime.now(UTC) + timedelta(days=7)).date().isoformat()


def make_doctors(
    count: int, city="Springfield", timezone="America/New_York", specialization="Cardiology"
):
    clinic = gen_clinic(city=city, timezone=timezone)
    doctors = []
    for _ in range(count):
        doctor = gen_doctor(clinic, specialization=specialization)
        gen_schedule(doctor, start=time(9), end=time(17), slot=30)
        doctors.append(doctor)
    return doctors


@pytest.fixture
def patient_client(client, auth):
    gen_patient(email="p@example.com")
    auth.login("p@example.com")
    return client


def search(client, **params):
    query = {
        "specialization": "Cardiology",
        "city": "Springfield",
        "date_from": tomorrow(),
        "date_to": next_week(),
    }
    query.update(params)
    return client.get("/patient/search", query_string=query)


def test_search_shows_doctors_with_fee_clinic_and_slots_grouped_by_day(patient_client):
    make_doctors(2)
    page = search(patient_client)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="doctor-result"') == 2
    assert "90.00" in html and "Springfield" in html
    assert "America/New_York" in html
    assert "/patient/book?doctor_id=" in html


def test_results_are_ordered_by_the_soonest_free_slot(patient_client, app):
    busy, free = make_doctors(2)
    # The busy doctor is booked all day tomorrow, so the free doctor comes first.
    day = datetime.fromisoformat(tomorrow())
    start = datetime.combine(day.date(), time(9)).replace(tzinfo=None)
    from zoneinfo import ZoneInfo

    for n in range(16):
        at = (start + timedelta(minutes=30 * n)).replace(tzinfo=ZoneInfo("America/New_York"))
        gen_appointment(gen_patient(), busy, at.astimezone(UTC))
    html = search(patient_client).get_data(as_text=True)
    assert html.index(free.full_name) < html.index(busy.full_name)


def count_statements(app, action):
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, statements


def test_one_results_page_costs_the_same_queries_for_5_and_50_doctors(
    patient_client, app, redis_conn
):
    make_doctors(5, city="Fivetown")
    make_doctors(50, city="Fiftyville")
    search(patient_client, city="Fivetown")  # the form's catalogue is now cached
    for pattern in ("avail:*", "frag:*"):  # both measured cold, from the database
        for key in redis_conn.scan_iter(TestConfig.CACHE_KEY_PREFIX + pattern):
            redis_conn.delete(key)
    five, five_statements = count_statements(
        app, lambda: search(patient_client, city="Fivetown", limit=100)
    )
    fifty, fifty_statements = count_statements(
        app, lambda: search(patient_client, city="Fiftyville", limit=100)
    )
    assert five.get_data(as_text=True).count('class="doctor-result"') == 5
    assert fifty.get_data(as_text=True).count('class="doctor-result"') == 50
    assert len(five_statements) == len(fifty_statements)


def test_more_doctors_arrive_by_infinite_scroll(patient_client):
    make_doctors(25)
    first = search(patient_client).get_data(as_text=True)
    assert first.count('class="doctor-result"') == 20
    next_url = re.search(r'class="sentinel" hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    rest = patient_client.get(next_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert rest.count('class="doctor-result"') == 5
    assert "sentinel" not in rest
    assert "<html" not in rest  # a fragment, not a page
    names = re.findall(r"<h2 class=\"doctor-name\">(.*?)</h2>", first + rest)
    assert len(names) == len(set(names)) == 25


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"specialization": "Astrology"}, "no such specialization"),
        ({"city": "Atlantis"}, "no clinic in that city"),
        ({"date_from": "2026-02-30"}, "Dates look like"),
        ({"date_from": "tomorrow"}, "Dates look like"),
        ({"date_to": "2020-01-01"}, "before the start"),
        ({"date_to": "2099-01-01"}, "at most 14 days"),
        ({"limit": "0"}, "not valid"),
        ({"limit": "-1"}, "not valid"),
        ({"limit": "1000000"}, "not valid"),
        ({"limit": "abc"}, "not valid"),
        ({"cursor": "tampered"}, "not valid"),
    ],
)
def test_bad_search_input_gets_a_clear_message(patient_client, params, message):
    make_doctors(1)
    page = search(patient_client, **params)
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)
    fragment = (
        search(patient_client, **params)
        if False
        else patient_client.get(
            "/patient/search",
            query_string={"specialization": "Cardiology", "city": "Springfield", **params},
            headers={"HX-Request": "true"},
        )
    )
    assert fragment.status_code == 422


def test_a_cursor_from_another_search_is_refused(patient_client):
    make_doctors(25)
    make_doctors(25, city="Shelbyville")
    first = search(patient_client).get_data(as_text=True)
    cursor = re.search(r"cursor=([^&\"]+)", first).group(1)
    other = search(patient_client, city="Shelbyville", cursor=cursor)
    assert other.status_code == 400


def slot_link(html: str) -> str:
    return re.search(r'href="(/patient/book\?[^"]+)"', html).group(1).replace("&amp;", "&")


def test_booking_shows_a_confirmation_then_books(patient_client, app):
    (doctor,) = make_doctors(1)
    link = slot_link(search(patient_client).get_data(as_text=True))
    confirm = patient_client.get(link)
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Confirm your visit" in html and doctor.full_name in html
    assert re.search(r"\d\d:\d\d E[SD]T", html)  # local time with its zone
    params = dict(re.findall(r'name="(doctor_id|starts_at)" type="hidden" value="([^"]+)"', html))
    response = patient_client.post(
        "/patient/book",
        data={
            **params,
            "kind": "video",
            "reason": "Chest pain",
            "csrf_token": csrf_token_from(html),
        },
    )
    assert response.status_code == 303
    home = patient_client.get("/patient/").get_data(as_text=True)
    assert doctor.full_name in home and "Video" in home
    with app.app_context():
        assert db.session.query(Appointment).filter_by(status="scheduled").count() == 1


def test_a_slot_taken_meanwhile_gets_a_friendly_message_and_fresh_slots(patient_client, app):
    (doctor,) = make_doctors(1)
    link = slot_link(search(patient_client).get_data(as_text=True))
    html = patient_client.get(link).get_data(as_text=True)
    params = dict(re.findall(r'name="(doctor_id|starts_at)" type="hidden" value="([^"]+)"', html))
    gen_appointment(gen_patient(), doctor, datetime.fromisoformat(params["starts_at"]))
    response = patient_client.post(
        "/patient/book", data={**params, "kind": "in_person", "csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "just taken" in body
    assert "/patient/book?doctor_id=" in body  # fresh choices
    with app.app_context():
        assert db.session.query(Appointment).count() == 1


def test_booking_a_time_off_the_grid_is_refused_on_the_page(patient_client, app):
    (doctor,) = make_doctors(1)
    html = patient_client.get("/patient/search").get_data(as_text=True)
    off_grid = (datetime.now(UTC) + timedelta(days=2)).replace(minute=7, second=0, microsecond=0)
    response = patient_client.post(
        "/patient/book",
        data={
            "doctor_id": doctor.id,
            "starts_at": off_grid.isoformat(),
            "kind": "in_person",
            "csrf_token": csrf_token_from(html),
        },
    )
    assert response.status_code == 409
    assert "not a free slot" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Appointment).count() == 0


def test_reasons_are_escaped_on_every_page(patient_client, app):
    (doctor,) = make_doctors(1)
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    at = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    with app.app_context():
        from portal.models import Patient, User

        patient = db.session.query(Patient).join(User).filter(User.email == "p@example.com").one()
    gen_appointment(patient, doctor, at, reason=payload)
    html = patient_client.get("/patient/").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<img src=x" not in html


def test_cancel_from_the_visits_page(patient_client, app):
    (doctor,) = make_doctors(1)
    with app.app_context():
        from portal.models import Patient, User

        patient = db.session.query(Patient).join(User).filter(User.email == "p@example.com").one()
    at = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    visit = gen_appointment(patient, doctor, at)
    html = patient_client.get("/patient/").get_data(as_text=True)
    response = patient_client.post(
        f"/patient/appointments/{visit.id}/cancel", data={"csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Appointment, visit.id).status == "cancelled"


def test_a_patient_cannot_cancel_someone_elses_visit(patient_client, app):
    (doctor,) = make_doctors(1)
    at = (datetime.now(UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    visit = gen_appointment(gen_patient(), doctor, at)
    html = patient_client.get("/patient/").get_data(as_text=True)
    response = patient_client.post(
        f"/patient/appointments/{visit.id}/cancel", data={"csrf_token": csrf_token_from(html)}
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Appointment, visit.id).status == "scheduled"


def test_the_form_keeps_the_search_it_shows(patient_client):
    make_doctors(1)
    make_doctors(1, city="Shelbyville", specialization="Dermatology")
    html = search(patient_client, city="Shelbyville").get_data(as_text=True)
    selected = re.findall(r'<option value="([^"]*)" selected>', html)
    assert selected == ["Cardiology", "Shelbyville"]
    assert f'name="date_from" value="{tomorrow()}"' in html
