"""Weekly rules per doctor: add, edit, delete, refused with a message when they make no sense."""

from datetime import UTC, date, datetime, time

import pytest

from portal.models import Doctor, DoctorSchedule
from portal.services.availability import free_slots
from portal.services.availability_cache import CachedDays
from tests.clinics.conftest import TZ, fetch, post_form
from tests.factories import gen_clinic, gen_doctor, gen_schedule

MONDAY = date(2027, 3, 1)
RULE = {
    "weekday": "0",
    "start_time": "09:00",
    "end_time": "12:00",
    "slot_minutes": "30",
    "valid_from": "2027-01-04",
    "valid_to": "",
}
EARLY = datetime(2026, 1, 1, tzinfo=UTC)


def add(client, doctor, **change):
    path = f"/clinic/doctors/{doctor.id}/rules"
    return post_form(client, path, {**RULE, **change})


def slots_on(app, doctor, day: date) -> list:
    with app.app_context():
        [fresh] = fetch(app, Doctor, id=doctor.id)
        return free_slots([fresh], day, day, EARLY).get(doctor.id, {}).get(day, [])


def test_an_added_rule_is_listed_and_its_slots_are_offered(admin_client, doctor, app):
    assert slots_on(app, doctor, MONDAY) == []  # cached as "no slots"
    response = add(admin_client, doctor)
    assert response.status_code == 303
    page = admin_client.get(f"/clinic/doctors/{doctor.id}/rules").get_data(as_text=True)
    assert "Monday" in page and "09:00–12:00" in page and "30 min" in page
    assert TZ in page
    # The cached empty day was invalidated: six 30-minute slots now, 9:00 local first.
    slots = slots_on(app, doctor, MONDAY)
    assert len(slots) == 6
    assert slots[0].starts_at.astimezone(doctor.clinic.zone).time() == time(9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_time": "9am"}, "Times look like 09:00."),
        ({"end_time": "25:00"}, "Times look like 17:00."),
        ({"end_time": "08:00"}, "The end must be after the start."),
        ({"end_time": "09:00"}, "The end must be after the start."),
        ({"slot_minutes": "25"}, "Slots last 10, 15, 20, 30, 45, 60 minutes."),
        ({"slot_minutes": "45", "end_time": "11:00"}, "45-minute slots do not fill 120 minutes"),
        ({"slot_minutes": "lots"}, "Slots last"),
        ({"valid_from": "someday"}, "Dates look like 2026-12-01."),
        ({"valid_to": "2026-12-31"}, "must end on or after the day it starts"),
        ({"valid_from": "3027-01-01"}, "Dates lie between 2000 and 2100."),
        ({"weekday": "9"}, "Not a valid choice"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused_with_a_message(
    admin_client, doctor, app, change, message
):
    response = add(admin_client, doctor, **change)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert fetch(app, DoctorSchedule, doctor_id=doctor.id) == []


def test_an_overlapping_rule_is_refused_but_one_in_another_period_is_fine(
    admin_client, doctor, app
):
    assert add(admin_client, doctor, valid_to="2027-06-30").status_code == 303
    overlap = add(admin_client, doctor, start_time="11:00", end_time="13:00")
    html = overlap.get_data(as_text=True)
    assert overlap.status_code == 422
    assert "overlaps the rule Monday 09:00-12:00" in html
    # Another weekday, the afternoon, or after the first rule ends: all fine.
    assert add(admin_client, doctor, weekday="1").status_code == 303
    assert add(admin_client, doctor, start_time="12:00", end_time="14:00").status_code == 303
    assert add(admin_client, doctor, valid_from="2027-07-01").status_code == 303
    assert len(fetch(app, DoctorSchedule, doctor_id=doctor.id)) == 4


def test_editing_a_rule_changes_its_slots(admin_client, doctor, app):
    [rule] = gen_schedule(doctor, weekdays=[0], start=time(9), end=time(12), slot=30)
    assert len(slots_on(app, doctor, MONDAY)) == 6
    edit = f"/clinic/rules/{rule.id}/edit"
    form = admin_client.get(edit).get_data(as_text=True)
    assert 'value="09:00"' in form
    response = post_form(
        admin_client,
        edit,
        {**RULE, "valid_from": "2020-01-01", "end_time": "10:00", "slot_minutes": "15"},
    )
    assert response.status_code == 303
    assert len(slots_on(app, doctor, MONDAY)) == 4


def test_editing_a_rule_into_an_overlap_is_refused(admin_client, doctor, app):
    first, _ = gen_schedule(doctor, weekdays=[0], start=time(9), end=time(12)), None
    gen_schedule(doctor, weekdays=[0], start=time(13), end=time(17))
    edit = f"/clinic/rules/{first[0].id}/edit"
    response = post_form(
        admin_client, edit, {**RULE, "valid_from": "2020-01-01", "end_time": "14:00"}
    )
    assert response.status_code == 422
    assert "overlaps the rule Monday 13:00-17:00" in response.get_data(as_text=True)
    assert fetch(app, DoctorSchedule, id=first[0].id)[0].end_time == time(12)


def test_deleting_a_rule_removes_its_slots(admin_client, doctor, app):
    [rule] = gen_schedule(doctor, weekdays=[0], start=time(9), end=time(12))
    assert slots_on(app, doctor, MONDAY)
    path = f"/clinic/rules/{rule.id}/delete"
    response = post_form(admin_client, path, {}, f"/clinic/doctors/{doctor.id}/rules")
    assert response.status_code == 303
    assert fetch(app, DoctorSchedule, id=rule.id) == []
    assert slots_on(app, doctor, MONDAY) == []


def test_a_rule_change_leaves_other_doctors_cached_days_alone(admin_client, doctor, app):
    colleague = gen_doctor(doctor.clinic)
    gen_schedule(colleague, weekdays=[0])
    slots_on(app, colleague, MONDAY)
    assert add(admin_client, doctor).status_code == 303
    with app.app_context():
        assert CachedDays([colleague.id], [MONDAY]).hits


def test_another_clinics_rules_are_out_of_reach(admin_client, app):
    stranger = gen_doctor(gen_clinic())
    [rule] = gen_schedule(stranger, weekdays=[0])
    assert admin_client.get(f"/clinic/doctors/{stranger.id}/rules").status_code == 403
    assert admin_client.get(f"/clinic/rules/{rule.id}/edit").status_code == 403
    page = "/clinic/"
    assert post_form(admin_client, f"/clinic/rules/{rule.id}/delete", {}, page).status_code == 403
    assert len(fetch(app, DoctorSchedule, doctor_id=stranger.id)) == 1
    assert admin_client.get("/clinic/doctors/999999/rules").status_code == 404
    assert admin_client.get("/clinic/rules/999999/edit").status_code == 404
