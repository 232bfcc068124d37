"""User text (names, reasons, diagnoses) is escaped on every page that shows it, never markup."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from tests.conftest import AuthActions, csrf_token_from
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
    gen_schedule,
    gen_time_off,
)

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'
PAYLOAD = f"{SCRIPT}{IMG}"
ZONE = ZoneInfo("America/New_York")


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC)


def assert_inert(html: str, where: str) -> None:
    assert "<script>alert" not in html, where
    assert "<img src=x" not in html, where
    assert "&lt;script&gt;" in html, where  # the text is there, shown as text


def test_script_and_img_payloads_are_inert_on_every_page_that_shows_them(app):
    clinic = gen_clinic(timezone="America/New_York")
    doctor = gen_doctor(
        clinic, email="doc@example.com", full_name=f"Dr. {PAYLOAD}", specialization=PAYLOAD
    )
    gen_schedule(doctor, weekdays=range(7))
    gen_admin(clinic, email="admin@example.com")
    patient = gen_patient(email="pat@example.com", full_name=PAYLOAD)

    past = gen_appointment(patient, doctor, local(date(2026, 11, 2), 10), reason=PAYLOAD)
    record = gen_record(past, diagnosis=PAYLOAD, prescription=PAYLOAD, data={"note": PAYLOAD})
    later = date(2027, 3, 1)
    upcoming = gen_appointment(patient, doctor, local(later, 10), reason=PAYLOAD)
    gen_time_off(doctor, local(later, 14), local(later, 15))

    doctor_client = app.test_client()
    AuthActions(doctor_client).login("doc@example.com")
    doctor_pages = [
        f"/doctor/?date={past.starts_at.astimezone(ZONE).date().isoformat()}",
        f"/doctor/?date={later.isoformat()}",
        f"/doctor/appointments/{past.id}/record",
        f"/doctor/records/{record.id}/amend",
        f"/doctor/patients/{patient.id}/history",
        f"/doctor/patients/{patient.id}/records",
    ]
    for path in doctor_pages:
        response = doctor_client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.get_data(as_text=True), path)
    token = csrf_token_from(doctor_client.get("/doctor/").get_data(as_text=True))
    row = doctor_client.post(
        f"/doctor/appointments/{past.id}/complete",
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert_inert(row.get_data(as_text=True), "status row")

    admin_client = app.test_client()
    AuthActions(admin_client).login("admin@example.com")
    admin_pages = [
        "/clinic/",
        f"/clinic/calendar?week={later.isoformat()}",
        f"/clinic/doctors/{doctor.id}/rules",
        f"/clinic/doctors/{doctor.id}/time-off",
        f"/clinic/appointments/{upcoming.id}",
    ]
    for path in admin_pages:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.get_data(as_text=True), path)
    # The time off form lists the visits it would cover, with the patient's name and reason.
    page = f"/clinic/doctors/{doctor.id}/time-off"
    token = csrf_token_from(admin_client.get(page).get_data(as_text=True))
    collision = admin_client.post(
        page,
        data={
            "csrf_token": token,
            "starts_at": f"{later.isoformat()}T09:00",
            "ends_at": f"{later.isoformat()}T12:00",
            "reason": PAYLOAD,
        },
    )
    assert collision.status_code == 409
    assert_inert(collision.get_data(as_text=True), "time off collisions")

    patient_client = app.test_client()
    AuthActions(patient_client).login("pat@example.com")
    for path in ("/patient/", "/patient/history", "/patient/records"):
        response = patient_client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.get_data(as_text=True), path)
