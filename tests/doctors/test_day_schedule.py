"""The doctor's day: rows in the clinic's zone, days without reload, one-click status changes."""

from portal.extensions import db
from portal.models import Appointment
from tests.doctors.conftest import hours_from_now, local_day
from tests.factories import gen_appointment, gen_doctor, gen_patient

HTMX = {"HX-Request": "true"}


def status_of(app, appointment_id: int) -> tuple[str, object]:
    with app.app_context():
        appointment = db.session.get(Appointment, appointment_id)
        return appointment.status, appointment.checked_in_at


def csrf(client) -> str:
    from tests.conftest import csrf_token_from

    return csrf_token_from(client.get("/doctor/").get_data(as_text=True))


def test_the_day_lists_time_patient_reason_kind_and_status(doctor_client, doctor):
    at = hours_from_now(2)
    patient = gen_patient(full_name="Grace Hopper")
    gen_appointment(patient, doctor, at, reason="Chest pain", kind="video")
    html = doctor_client.get("/doctor/", query_string={"date": local_day(at)}).get_data(
        as_text=True
    )
    assert "Grace Hopper" in html and "Chest pain" in html and "Video" in html
    assert "Scheduled" in html
    assert "America/New_York" in html
    assert f"/doctor/patients/{patient.id}/history" in html


def test_the_day_shows_other_days_without_a_reload(doctor_client, doctor):
    at = hours_from_now(24 * 3)
    gen_appointment(gen_patient(full_name="Later Patient"), doctor, at)
    page = doctor_client.get("/doctor/", query_string={"date": local_day(at)}, headers=HTMX)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<html" not in html and "Later Patient" in html
    assert 'hx-target="#day"' in html and 'name="date"' in html
    assert page.headers["Vary"] == "HX-Request" or "HX-Request" in page.headers["Vary"]


def test_an_empty_day_says_so(doctor_client):
    html = doctor_client.get("/doctor/", query_string={"date": "2026-12-25"}).get_data(as_text=True)
    assert "No appointments on this day." in html


def test_another_doctors_visits_are_not_on_my_day(doctor_client, doctor):
    at = hours_from_now(2)
    colleague = gen_doctor(doctor.clinic)
    gen_appointment(gen_patient(full_name="Not Mine"), colleague, at)
    html = doctor_client.get("/doctor/", query_string={"date": local_day(at)}).get_data(
        as_text=True
    )
    assert "Not Mine" not in html


def test_dates_that_do_not_parse_or_are_far_away_get_a_clear_400(doctor_client):
    for raw in ("tomorrow", "2026-13-01", "20261201", "2026-W49-1", "9999-01-01", "1700-01-01"):
        page = doctor_client.get("/doctor/", query_string={"date": raw})
        assert page.status_code == 400, raw
        assert "date" in page.get_data(as_text=True).lower()


def test_check_in_is_one_htmx_post_that_returns_the_updated_row(doctor_client, doctor, app):
    # Started a few minutes ago: check-in makes sense whatever the time of day.
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-0.1))
    token = csrf(doctor_client)
    response = doctor_client.post(
        f"/doctor/appointments/{visit.id}/check-in", headers={**HTMX, "X-CSRFToken": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="appointment-{visit.id}"')
    assert "checked in" in html
    status, checked_in_at = status_of(app, visit.id)
    assert status == "scheduled" and checked_in_at is not None


def test_a_started_visit_can_be_completed_and_another_marked_no_show(doctor_client, doctor, app):
    seen = gen_appointment(gen_patient(), doctor, hours_from_now(-1))
    missed = gen_appointment(gen_patient(), doctor, hours_from_now(-2))
    token = csrf(doctor_client)
    headers = {**HTMX, "X-CSRFToken": token}
    assert (
        doctor_client.post(f"/doctor/appointments/{seen.id}/complete", headers=headers).status_code
        == 200
    )
    assert (
        doctor_client.post(f"/doctor/appointments/{missed.id}/no-show", headers=headers).status_code
        == 200
    )
    assert status_of(app, seen.id)[0] == "completed"
    assert status_of(app, missed.id)[0] == "no_show"


def test_without_htmx_a_status_change_goes_back_to_the_day(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1))
    response = doctor_client.post(
        f"/doctor/appointments/{visit.id}/complete", data={"csrf_token": csrf(doctor_client)}
    )
    assert response.status_code == 303
    assert f"date={local_day(visit.starts_at)}" in response.headers["Location"]
    assert status_of(app, visit.id)[0] == "completed"


def refused(client, visit, action) -> str:
    token = csrf(client)
    response = client.post(
        f"/doctor/appointments/{visit.id}/{action}", headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 409  # the unchanged row, carrying the message
    return response.get_data(as_text=True)


def test_completing_a_cancelled_visit_is_refused_and_changes_nothing(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1), status="cancelled")
    html = refused(doctor_client, visit, "complete")
    assert 'role="alert"' in html and "already cancelled" in html
    assert status_of(app, visit.id) == ("cancelled", None)


def test_checking_in_a_completed_visit_is_refused(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1), status="completed")
    html = refused(doctor_client, visit, "check-in")
    assert "already completed" in html
    assert status_of(app, visit.id) == ("completed", None)


def test_a_no_show_before_the_visit_starts_is_refused(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(3))
    html = refused(doctor_client, visit, "no-show")
    assert "not started yet" in html
    assert status_of(app, visit.id) == ("scheduled", None)


def test_checking_in_next_week_is_refused(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(24 * 7))
    assert "day of their visit" in refused(doctor_client, visit, "check-in")


def test_a_checked_in_patient_is_not_a_no_show(doctor_client, doctor, app):
    visit = gen_appointment(
        gen_patient(), doctor, hours_from_now(-1), checked_in_at=hours_from_now(-1.2)
    )
    assert "checked in" in refused(doctor_client, visit, "no-show")
    assert status_of(app, visit.id)[0] == "scheduled"


def test_a_status_change_without_htmx_that_makes_no_sense_is_a_flash_message(
    doctor_client, doctor, app
):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1), status="cancelled")
    response = doctor_client.post(
        f"/doctor/appointments/{visit.id}/complete",
        data={"csrf_token": csrf(doctor_client)},
        follow_redirects=True,
    )
    assert "already cancelled" in response.get_data(as_text=True)


def test_a_doctor_cannot_change_another_doctors_visit(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), gen_doctor(doctor.clinic), hours_from_now(-1))
    token = csrf(doctor_client)
    response = doctor_client.post(
        f"/doctor/appointments/{visit.id}/complete", headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 403
    assert status_of(app, visit.id)[0] == "scheduled"
    missing = doctor_client.post(
        "/doctor/appointments/999999/complete", headers={**HTMX, "X-CSRFToken": token}
    )
    assert missing.status_code == 404


def buttons_of(client, visit) -> str:
    html = client.get("/doctor/", query_string={"date": local_day(visit.starts_at)}).get_data(
        as_text=True
    )
    row = html[html.index(f'id="appointment-{visit.id}"') :]
    return row[: row.index("</tr>")]


def test_status_buttons_match_what_makes_sense(doctor_client, doctor):
    started = gen_appointment(gen_patient(), doctor, hours_from_now(-0.5))
    next_week = gen_appointment(gen_patient(), doctor, hours_from_now(24 * 7))
    checked_in = gen_appointment(
        gen_patient(), doctor, hours_from_now(-2), checked_in_at=hours_from_now(-2)
    )
    cancelled = gen_appointment(gen_patient(), doctor, hours_from_now(-3), status="cancelled")
    row = buttons_of(doctor_client, started)
    assert "/check-in" in row and "/complete" in row and "/no-show" in row
    assert "Write a record" in row
    row = buttons_of(doctor_client, next_week)
    assert "/check-in" not in row and "/complete" not in row and "/no-show" not in row
    row = buttons_of(doctor_client, checked_in)
    assert "/check-in" not in row and "/complete" in row and "/no-show" not in row
    row = buttons_of(doctor_client, cancelled)
    assert "<form" not in row and "Write a record" not in row
