"""The clinic calendar: a week of every doctor, utilization, week by week, cancel for a patient."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event

from portal.extensions import db
from portal.models import Appointment, Clinic, Notification, utcnow
from portal.services.availability import free_slots
from portal.services.availability_cache import CachedDays
from portal.services.calendar import clinic_week
from tests.clinics.conftest import TZ, fetch, post_form
from tests.conftest import csrf_token_from
from tests.factories import (
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_schedule,
    gen_time_off,
)

MONDAY = date(2027, 3, 1)
ZONE = ZoneInfo(TZ)
HTMX = {"HX-Request": "true"}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).astimezone(UTC)


def week_page(client, day: date = MONDAY, **headers):
    return client.get("/clinic/calendar", query_string={"week": day.isoformat()}, headers=headers)


def test_the_week_shows_every_doctor_and_seven_days_with_utilization(
    admin_client, clinic, doctor, app
):
    gen_schedule(doctor, weekdays=[0, 1, 2, 3, 4], start=time(9), end=time(17), slot=30)
    idle = gen_doctor(clinic, full_name="Dr. Idle Ivy")
    gen_appointment(gen_patient(full_name="Ann Booked"), doctor, local(MONDAY, 9))
    gen_appointment(gen_patient(), doctor, local(MONDAY, 9, 30))
    gen_appointment(gen_patient(), doctor, local(MONDAY, 10), status="cancelled")
    html = week_page(admin_client, MONDAY + timedelta(days=3)).get_data(as_text=True)
    assert "Dr. Ada Lane" in html and "Dr. Idle Ivy" in html and "Ann Booked" in html
    assert "Mon 01" in html and "Sun 07" in html and TZ in html
    assert "13%" in html  # 60 booked of 480 scheduled minutes on Monday
    assert "booked 60 of 480 scheduled minutes" in html
    assert "booked 0 of 480 scheduled minutes" in html  # Tuesday
    assert html.count("no hours") >= 2 + 7  # the weekend, and every day of Dr. Idle Ivy
    assert idle.full_name in html


def test_utilization_leaves_out_time_off_but_counts_visits_kept_inside_it(clinic, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(13), slot=60)
    gen_time_off(doctor, local(MONDAY, 9), local(MONDAY, 11))
    gen_appointment(gen_patient(), doctor, local(MONDAY, 10), minutes=60)
    with app.app_context():
        week = clinic_week(db.session.get(Clinic, clinic.id), MONDAY)
    monday = week.rows[0].cells[0]
    # 12:00 and 11:00 are scheduled, 9:00 is off, 10:00 is off but its visit was kept.
    assert (monday.booked_minutes, monday.scheduled_minutes) == (60, 180)


def test_weeks_change_without_a_reload(admin_client, doctor):
    page = week_page(admin_client, MONDAY, **HTMX)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" not in html
    assert "week=2027-02-22" in html and "week=2027-03-08" in html
    assert 'hx-target="#week"' in html


def test_the_week_costs_the_same_queries_for_one_doctor_or_many(app, clinic, doctor):
    def statements_for_week() -> int:
        seen = []
        with app.app_context():
            fresh = db.session.get(Clinic, clinic.id)

            def count(*_):
                seen.append(1)

            event.listen(db.engine, "before_cursor_execute", count)
            try:
                clinic_week(fresh, MONDAY)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    gen_schedule(doctor, weekdays=range(7))
    gen_appointment(gen_patient(), doctor, local(MONDAY, 9))
    one = statements_for_week()
    for _ in range(5):
        other = gen_doctor(clinic)
        gen_schedule(other, weekdays=range(7))
        gen_appointment(gen_patient(), other, local(MONDAY, 10))
        gen_time_off(other, local(MONDAY, 12), local(MONDAY, 13))
    assert statements_for_week() == one <= 5


def test_a_bad_week_is_a_clear_400(admin_client):
    for raw in ("last week", "2027-02-30", "20270301", "9999-01-01"):
        response = admin_client.get("/clinic/calendar", query_string={"week": raw})
        assert response.status_code == 400, raw
        assert "week" in response.get_data(as_text=True).lower() or "2100" in response.get_data(
            as_text=True
        )


def test_an_admin_cancels_a_visit_for_the_patient_who_is_told(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(12))
    visit = gen_appointment(gen_patient(full_name="Cancel Me"), doctor, local(MONDAY, 9))
    with app.app_context():
        free_slots(fetch(app, type(doctor), id=doctor.id), MONDAY, MONDAY, local(MONDAY, 0))
        assert CachedDays([doctor.id], [MONDAY]).hits
    token_page = admin_client.get(f"/clinic/appointments/{visit.id}").get_data(as_text=True)
    response = admin_client.post(
        f"/clinic/appointments/{visit.id}/cancel",
        headers={**HTMX, "X-CSRFToken": csrf_token_from(token_page)},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'<li id="calendar-visit-{visit.id}" class="visit-cancelled">' in html
    assert "The visit is cancelled and the patient is being told." in html
    assert fetch(app, Appointment, id=visit.id)[0].status == "cancelled"
    assert {n.kind for n in fetch(app, Notification, appointment_id=visit.id)} == {"cancelled"}
    with app.app_context():
        assert CachedDays([doctor.id], [MONDAY]).hits == {}  # the day was invalidated


def test_cancelling_a_visit_twice_says_why(admin_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, local(MONDAY, 9), status="cancelled")
    path = f"/clinic/appointments/{visit.id}/cancel"
    response = post_form(admin_client, path, {}, "/clinic/calendar")
    assert response.status_code == 409
    assert "not scheduled" in response.get_data(as_text=True)


def test_a_visit_that_has_started_is_not_cancelled(admin_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, utcnow() - timedelta(minutes=5))
    path = f"/clinic/appointments/{visit.id}/cancel"
    response = post_form(admin_client, path, {}, "/clinic/calendar")
    assert response.status_code == 409
    assert "already started" in response.get_data(as_text=True)
    assert fetch(app, Appointment, id=visit.id)[0].status == "scheduled"
    assert fetch(app, Notification) == []


def test_another_clinics_visit_cannot_be_cancelled(admin_client, app):
    stranger = gen_doctor(gen_clinic())
    visit = gen_appointment(gen_patient(), stranger, local(MONDAY, 9))
    response = post_form(admin_client, f"/clinic/appointments/{visit.id}/cancel", {}, "/clinic/")
    assert response.status_code == 403
    assert fetch(app, Appointment, id=visit.id)[0].status == "scheduled"
    assert fetch(app, Notification) == []
    html = week_page(admin_client).get_data(as_text=True)
    assert stranger.full_name not in html


def test_an_empty_clinic_says_so(admin_client):
    assert "This clinic has no doctors yet." in week_page(admin_client).get_data(as_text=True)


def test_a_refused_cancel_through_htmx_returns_the_week_with_the_reason(admin_client, doctor):
    visit = gen_appointment(gen_patient(), doctor, local(MONDAY, 9), status="completed")
    token = csrf_token_from(week_page(admin_client).get_data(as_text=True))
    response = admin_client.post(
        f"/clinic/appointments/{visit.id}/cancel", headers={**HTMX, "X-CSRFToken": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "<html" not in html
    assert 'role="alert"' in html and "completed, not scheduled" in html


def test_a_visit_opens_in_a_panel_with_its_details_and_the_cancel_button(admin_client, doctor):
    future = datetime.now(UTC) + timedelta(days=2)
    visit = gen_appointment(gen_patient(full_name="Pat Panel"), doctor, future, reason="Rash")
    week = week_page(admin_client, future.astimezone(ZONE).date()).get_data(as_text=True)
    assert f'hx-get="/clinic/appointments/{visit.id}"' in week and 'id="visit-panel"' in week
    panel = admin_client.get(f"/clinic/appointments/{visit.id}", headers=HTMX)
    html = panel.get_data(as_text=True)
    assert panel.status_code == 200 and "<html" not in html
    assert "Pat Panel" in html and "Rash" in html and TZ in html
    assert f'hx-post="/clinic/appointments/{visit.id}/cancel"' in html
    page = admin_client.get(f"/clinic/appointments/{visit.id}").get_data(as_text=True)
    assert "<html" in page and "The week calendar" in page


def test_a_visit_that_is_over_offers_no_cancel(admin_client, doctor):
    visit = gen_appointment(gen_patient(), doctor, datetime.now(UTC) - timedelta(days=1))
    html = admin_client.get(f"/clinic/appointments/{visit.id}").get_data(as_text=True)
    assert "/cancel" not in html and "can no longer be cancelled" in html


def scheduled_minutes(app, clinic, monday: date) -> list[int]:
    with app.app_context():
        week = clinic_week(db.session.get(Clinic, clinic.id), monday)
    return [cell.scheduled_minutes for cell in week.rows[0].cells]


def test_a_spring_forward_day_schedules_only_the_hours_that_exist(app, clinic, doctor):
    # 2027-03-14, New York: 02:00 does not exist, so 01:00-04:00 holds two hourly slots.
    gen_schedule(doctor, weekdays=[5, 6], start=time(1), end=time(4), slot=60)
    minutes = scheduled_minutes(app, clinic, date(2027, 3, 8))
    assert minutes[5:] == [180, 120]


def test_overlapping_rules_from_before_validation_are_not_counted_twice(app, clinic, doctor):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(12), slot=30)
    gen_schedule(doctor, weekdays=[0], start=time(10), end=time(13), slot=30)
    assert scheduled_minutes(app, clinic, MONDAY)[0] == 240
