"""Time off: added around or over booked visits as the admin chooses, removed, invalidated exactly."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.models import Appointment, Doctor, Notification, ScheduleException
from portal.services.availability import free_slots
from portal.services.availability_cache import CachedDays
from tests.clinics.conftest import TZ, fetch, post_form
from tests.factories import (
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_schedule,
    gen_time_off,
)

DAY = date(2027, 3, 1)  # a Monday
EARLY = datetime(2026, 1, 1, tzinfo=UTC)
ZONE = ZoneInfo(TZ)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).astimezone(UTC)


def slot_hours(app, doctor, day: date = DAY) -> list[str]:
    """The free slots of a day as local HH:MM, through the cache."""
    with app.app_context():
        [fresh] = fetch(app, Doctor, id=doctor.id)
        slots = free_slots([fresh], day, day, EARLY)[doctor.id].get(day, [])
        return [s.starts_at.astimezone(ZONE).strftime("%H:%M") for s in slots]


def add_time_off(client, doctor, **fields):
    data = {"starts_at": "2027-03-01T10:00", "ends_at": "2027-03-01T12:00", "reason": "Training"}
    path = f"/clinic/doctors/{doctor.id}/time-off"
    return post_form(client, path, {**data, **fields})


def test_time_off_without_visits_blocks_its_slots(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(13), slot=60)
    assert slot_hours(app, doctor) == ["09:00", "10:00", "11:00", "12:00"]
    response = add_time_off(admin_client, doctor)
    assert response.status_code == 303
    assert slot_hours(app, doctor) == ["09:00", "12:00"]
    page = admin_client.get(f"/clinic/doctors/{doctor.id}/time-off").get_data(as_text=True)
    assert "Training" in page and "Mon 01 Mar 2027, 10:00 EST" in page and TZ in page


def test_visits_inside_time_off_are_shown_and_nothing_is_written_until_the_admin_decides(
    admin_client, doctor, app
):
    patient = gen_patient(full_name="Marie Curie")
    gen_appointment(patient, doctor, local(DAY, 10, 30), reason="Blood test")
    response = add_time_off(admin_client, doctor)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "1 booked visit falls inside this time off" in html
    assert "Marie Curie" in html and "Blood test" in html
    assert 'value="keep"' in html and 'value="cancel"' in html
    assert fetch(app, ScheduleException, doctor_id=doctor.id) == []


def decide(client, doctor, decision: str):
    first = add_time_off(client, doctor)
    seen = first.get_data(as_text=True).split('name="seen" type="hidden" value="')[1].split('"')[0]
    return add_time_off(client, doctor, decision=decision, seen=seen)


def test_keeping_the_visits_applies_the_time_off_around_them(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(13), slot=30)
    visit = gen_appointment(gen_patient(), doctor, local(DAY, 10, 30))
    response = decide(admin_client, doctor, "keep")
    assert response.status_code == 303
    assert fetch(app, Appointment, id=visit.id)[0].status == "scheduled"
    assert len(fetch(app, ScheduleException, doctor_id=doctor.id)) == 1
    # 10:00-12:00 is blocked; the kept visit holds 10:30 anyway.
    assert slot_hours(app, doctor) == ["09:00", "09:30", "12:00", "12:30"]
    assert fetch(app, Notification) == []


def test_cancelling_the_visits_tells_each_patient(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(13), slot=30)
    first = gen_appointment(gen_patient(), doctor, local(DAY, 10))
    second = gen_appointment(gen_patient(), doctor, local(DAY, 11, 30))
    outside = gen_appointment(gen_patient(), doctor, local(DAY, 12))
    response = decide(admin_client, doctor, "cancel")
    assert response.status_code == 303
    assert "2 visit(s) cancelled" in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    statuses = {a.id: a.status for a in fetch(app, Appointment, doctor_id=doctor.id)}
    assert statuses == {first.id: "cancelled", second.id: "cancelled", outside.id: "scheduled"}
    told = {(n.appointment_id, n.kind) for n in fetch(app, Notification)}
    assert (first.id, "cancelled") in told and (second.id, "cancelled") in told
    assert outside.id not in {appointment_id for appointment_id, _ in told}
    # The cancelled visits' slots stay closed: they are inside the time off.
    assert slot_hours(app, doctor) == ["09:00", "09:30", "12:30"]


def test_a_visit_booked_after_the_admin_looked_is_shown_before_anything_is_cancelled(
    admin_client, doctor, app
):
    gen_appointment(gen_patient(), doctor, local(DAY, 10))
    first = add_time_off(admin_client, doctor)
    seen = first.get_data(as_text=True).split('name="seen" type="hidden" value="')[1].split('"')[0]
    late = gen_appointment(gen_patient(full_name="Late Booker"), doctor, local(DAY, 11))
    again = add_time_off(admin_client, doctor, decision="cancel", seen=seen)
    assert again.status_code == 409
    assert "Late Booker" in again.get_data(as_text=True)
    assert fetch(app, Appointment, id=late.id)[0].status == "scheduled"
    assert fetch(app, ScheduleException, doctor_id=doctor.id) == []


def test_time_off_that_makes_no_sense_is_refused_with_a_message(admin_client, doctor, app):
    cases = [
        ({"ends_at": "2027-03-01T09:00"}, "must end after it starts"),
        ({"ends_at": "2027-03-01T10:00"}, "must end after it starts"),
        ({"starts_at": "next tuesday"}, "Enter a date and time such as"),
        ({"starts_at": "2027-03-14T02:30", "ends_at": "2027-03-14T05:00"}, "clocks change"),
        ({"starts_at": "9999-03-01T10:00", "ends_at": "9999-03-02T10:00"}, "between 2000 and 2100"),
        ({"ends_at": "2029-03-01T10:00"}, "at most a year"),
        ({"reason": "x" * 201}, "200"),
    ]
    for change, message in cases:
        response = add_time_off(admin_client, doctor, **change)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
    assert fetch(app, ScheduleException, doctor_id=doctor.id) == []


def test_removing_time_off_opens_its_slots_again(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=[0], start=time(9), end=time(13), slot=60)
    assert add_time_off(admin_client, doctor).status_code == 303
    [period] = fetch(app, ScheduleException, doctor_id=doctor.id)
    assert slot_hours(app, doctor) == ["09:00", "12:00"]
    page = f"/clinic/doctors/{doctor.id}/time-off"
    response = post_form(admin_client, f"/clinic/time-off/{period.id}/delete", {}, page)
    assert response.status_code == 303
    assert slot_hours(app, doctor) == ["09:00", "10:00", "11:00", "12:00"]


def test_time_off_invalidates_only_the_days_it_covers(admin_client, doctor, app):
    gen_schedule(doctor, weekdays=range(7))
    colleague = gen_doctor(doctor.clinic)
    gen_schedule(colleague, weekdays=range(7))
    next_day = DAY + timedelta(days=1)
    for who in (doctor, colleague):
        for day in (DAY, next_day):
            slot_hours(app, who, day)
    assert add_time_off(admin_client, doctor).status_code == 303
    with app.app_context():
        mine = CachedDays([doctor.id], [DAY, next_day]).hits
        theirs = CachedDays([colleague.id], [DAY, next_day]).hits
    assert set(mine) == {(doctor.id, next_day)}
    assert set(theirs) == {(colleague.id, DAY), (colleague.id, next_day)}


def test_another_clinics_time_off_is_out_of_reach(admin_client, app):
    stranger = gen_doctor(gen_clinic())
    period = gen_time_off(stranger, local(DAY, 10), local(DAY, 12))
    assert admin_client.get(f"/clinic/doctors/{stranger.id}/time-off").status_code == 403
    response = post_form(admin_client, f"/clinic/time-off/{period.id}/delete", {}, "/clinic/")
    assert response.status_code == 403
    assert len(fetch(app, ScheduleException, doctor_id=stranger.id)) == 1
    assert (
        post_form(admin_client, "/clinic/time-off/999999/delete", {}, "/clinic/").status_code == 404
    )


def test_visits_already_over_need_no_decision_and_stay_as_they_are(admin_client, doctor, app):
    yesterday = datetime.now(UTC).astimezone(ZONE).date() - timedelta(days=1)
    over = gen_appointment(gen_patient(), doctor, local(yesterday, 10))
    response = add_time_off(
        admin_client,
        doctor,
        starts_at=f"{yesterday.isoformat()}T08:00",
        ends_at=f"{yesterday.isoformat()}T18:00",
    )
    assert response.status_code == 303
    assert fetch(app, Appointment, id=over.id)[0].status == "scheduled"
    assert fetch(app, Notification) == []
