"""Bad input on every endpoint: 400 or 422 in the error shape, the field named, nothing changed.

400 is for a request the API cannot read (not a JSON object, a cursor it did not sign for this
list); 422 for values it read and refuses (types, unknown fields, limits, dates, ranges).
"""

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Appointment, AuditLog, RefreshToken
from tests.api.conftest import in_days
from tests.factories import gen_appointment, gen_doctor, gen_record, gen_schedule

BAD_LIMITS = ("0", "-1", "1000000", "101", "abc", "1.5", "", "1e2")
BAD_DATES = (
    "2026-02-30",
    "2026-13-01",
    "20261129",
    "2026-W48-1",
    "86400",
    "0001-01-01",
    "9999-12-31",
)

LISTS = {
    "history": "/api/patients/{patient}/appointments",
    "records": "/api/patients/{patient}/medical-records",
    "clinics": "/api/clinics",
    "search": "/api/appointments/search",
}
SEARCH = {"specialization": "Cardiology", "city": "New York"}


def list_path(name: str, world) -> str:
    return LISTS[name].format(patient=world.patient_p.id)


def base_query(name: str) -> dict:
    return dict(SEARCH) if name == "search" else {}


def refused(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    if field is not None:
        assert field in error["fields"], error
    return error


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name", LISTS)
def test_every_list_refuses_absurd_limits_with_422(name, api, world):
    for limit in BAD_LIMITS:
        query = {**base_query(name), "limit": limit}
        response = api.get(list_path(name, world), user=world.user("patient"), query_string=query)
        refused(response, 422, "limit")


@pytest.mark.parametrize("name", LISTS)
def test_every_list_refuses_a_tampered_cursor_with_400(name, api, app, world):
    with app.app_context():  # enough rows for a second page everywhere
        gen_appointment(world.patient_p, world.doctor_b, in_days(-3), status="completed")
        gen_record(world.past_visit_p)
    path, user = list_path(name, world), world.user("patient")
    query = {**base_query(name), "limit": 1}
    if name == "search":
        query = {"specialization": "Cardiology", "clinic_id": world.clinic_a.id, "limit": 1}
        with app.app_context():
            gen_schedule(gen_doctor(world.clinic_a))
    cursor = api.get(path, user=user, query_string=query).get_json()["next_cursor"]
    assert cursor
    flipped = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (flipped, cursor + "x", "garbage", cursor.split(".")[0]):
        response = api.get(path, user=user, query_string={**query, "cursor": bad})
        assert refused(response, 400, "cursor")["code"] == "bad_cursor", bad
    refused(api.get(path, user=user, query_string={**query, "cursor": "a b"}), 422, "cursor")
    assert api.get(path, user=user, query_string={**query, "cursor": cursor}).status_code == 200


def test_a_cursor_works_only_for_the_list_that_made_it(api, app, world):
    with app.app_context():
        gen_appointment(world.patient_p, world.doctor_b, in_days(-3), status="completed")
        gen_appointment(world.patient_q, world.doctor_a, in_days(-4), status="completed")
        gen_appointment(world.patient_q, world.doctor_a, in_days(-5), status="completed")
    p_path = f"/api/patients/{world.patient_p.id}/appointments"
    q_path = f"/api/patients/{world.patient_q.id}/appointments"
    p_cursor = api.get(p_path, user=world.user("patient"), query_string={"limit": 1}).get_json()[
        "next_cursor"
    ]
    # The doctor of both may read Q's history, but not with P's cursor, nor under other filters.
    doctor = world.user("doctor")
    assert api.get(q_path, user=doctor, query_string={"cursor": p_cursor}).status_code == 400
    other_filter = {"cursor": p_cursor, "status": "completed"}
    assert api.get(p_path, user=doctor, query_string=other_filter).status_code == 400
    records = f"/api/patients/{world.patient_p.id}/medical-records"
    assert api.get(records, user=doctor, query_string={"cursor": p_cursor}).status_code == 400


@pytest.mark.parametrize("name", ["history", "records"])
def test_history_and_records_refuse_dates_that_do_not_exist_and_backward_ranges(name, api, world):
    path, user = list_path(name, world), world.user("patient")
    for bad in BAD_DATES:
        refused(api.get(path, user=user, query_string={"from": bad}), 422, "from")
        refused(api.get(path, user=user, query_string={"to": bad}), 422, "to")
    backward = {"from": "2026-11-29", "to": "2026-11-28"}
    refused(api.get(path, user=user, query_string=backward), 422, "to")


def test_history_and_records_refuse_unknown_filter_values_and_parameters(api, world):
    user = world.user("patient")
    history, records = list_path("history", world), list_path("records", world)
    refused(api.get(history, user=user, query_string={"status": "lost"}), 422, "status")
    refused(api.get(records, user=user, query_string={"record_type": "gossip"}), 422, "record_type")
    refused(api.get(history, user=user, query_string={"page": "2"}), 422, "page")
    refused(api.get(history, user=user, query_string={"limit": ["1", "2"]}), 422, "limit")


def test_search_refuses_what_the_portal_refuses(api, world):
    user = world.user("patient")
    today = in_days(0).date()
    cases = [
        ({"city": "New York"}, "specialization"),
        ({"specialization": "Astrology", "city": "New York"}, "specialization"),
        ({"specialization": "Cardiology"}, "city"),  # neither city nor clinic
        ({"specialization": "Cardiology", "city": "Atlantis"}, "city"),
        ({**SEARCH, "clinic_id": "987654"}, "clinic_id"),
        ({**SEARCH, "clinic_id": "abc"}, "clinic_id"),
        ({**SEARCH, "clinic_id": "0"}, "clinic_id"),
        (
            {**SEARCH, "date_from": today.isoformat(), "date_to": in_days(14).date().isoformat()},
            "date_to",
        ),
        (
            {**SEARCH, "date_from": in_days(3).date().isoformat(), "date_to": today.isoformat()},
            "date_to",
        ),
        ({**SEARCH, "date_from": "2020-01-01", "date_to": "2020-01-05"}, "date_from"),
        ({**SEARCH, "date_from": "2026-02-30"}, "date_from"),
        ({**SEARCH, "date_from": "9999-12-31"}, "date_from"),
        ({**SEARCH, "specialization": "x" * 81}, "specialization"),
        ({**SEARCH, "sort": "price"}, "sort"),
    ]
    for query, field in cases:
        refused(api.get("/api/appointments/search", user=user, query_string=query), 422, field)


def test_the_schedule_refuses_dates_that_do_not_exist(api, world):
    path = f"/api/doctors/{world.doctor_a.id}/schedule"
    for bad in BAD_DATES:
        refused(api.get(path, user=world.user("doctor"), query_string={"date": bad}), 422, "date")


def booking(world, **fields) -> dict:
    return {"doctor_id": world.doctor_a.id, "starts_at": in_days(3).isoformat(), **fields}


def test_booking_refuses_bad_bodies_and_books_nothing(api, app, world):
    user = world.user("patient")
    cases_400 = [
        {},
        {"data": "{", "content_type": "application/json"},
        {"json": [booking(world)]},
        {"json": None},
        {"data": booking(world)},  # a form
        {"data": "doctor_id=1", "content_type": "text/plain"},
    ]
    for kwargs in cases_400:
        refused(api.post("/api/appointments", user=user, **kwargs), 400, "body")
    cases_422 = [
        (booking(world, doctor_id=str(world.doctor_a.id)), "doctor_id"),
        (booking(world, doctor_id=1.5), "doctor_id"),
        (booking(world, doctor_id=True), "doctor_id"),
        (booking(world, doctor_id=2**31), "doctor_id"),
        (booking(world, doctor_id=None), "doctor_id"),
        (booking(world, starts_at="2026-02-30T10:00:00+00:00"), "starts_at"),
        (booking(world, starts_at=in_days(3).replace(tzinfo=None).isoformat()), "starts_at"),
        (booking(world, starts_at="tomorrow"), "starts_at"),
        (booking(world, starts_at=1795000000), "starts_at"),
        (booking(world, kind="phone"), "kind"),
        (booking(world, reason="x" * 1001), "reason"),
        (booking(world, reason=["a"]), "reason"),
        (booking(world, patient_id=world.patient_q.id), "patient_id"),
        ({"starts_at": in_days(3).isoformat()}, "doctor_id"),
    ]
    for body, field in cases_422:
        refused(api.post("/api/appointments", user=user, json=body), 422, field)
    assert rows(app, Appointment) == 4  # the world's visits, no more


def test_id_paths_refuse_what_is_not_an_id(api, world):
    user = world.user("patient")
    for path in (
        "/api/patients/abc/appointments",
        "/api/patients/-1/appointments",
        "/api/patients/0/medical-records",
        f"/api/patients/{2**31}/appointments",
        f"/api/patients/{10**30}/medical-records",
        f"/api/doctors/{2**40}/schedule",
    ):
        assert api.get(path, user=user).status_code == 404, path
    for path in (f"/api/appointments/{2**63}/cancel", f"/api/appointments/{10**30}/video-token"):
        assert api.post(path, user=user).status_code == 404, path


def test_records_refused_for_bad_input_leave_no_audit_row(api, app, world):
    path, user = list_path("records", world), world.user("patient")
    for query in ({"limit": "0"}, {"cursor": "garbage"}, {"from": "2026-02-30"}):
        assert api.get(path, user=user, query_string=query).status_code in (400, 422)
    assert rows(app, AuditLog) == 0


def test_wrong_methods_and_unknown_paths_answer_in_the_error_shape(api, world):
    refused(api.get("/api/auth/login"), 405)
    refused(api.get("/api/appointments"), 405)
    refused(api.request("DELETE", f"/api/appointments/{world.visit_p.id}/cancel"), 405)
    refused(api.get("/api/nothing-here"), 404)


def test_sign_in_refuses_wrong_types_and_unknown_fields_and_issues_nothing(api, app):
    cases = [
        ({"email": 5, "password": "x"}, "email"),
        ({"email": "a@example.com", "password": None}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "x", "remember": True}, "remember"),
        ({"email": "a@example.com", "password": "x" * 257}, "password"),
    ]
    for body, field in cases:
        refused(api.post("/api/auth/login", json=body), 422, field)
    for body in ({"refresh_token": 5}, {"refresh_token": ""}, {"token": "x"}):
        refused(api.post("/api/auth/refresh", json=body), 422)
        refused(api.post("/api/auth/logout", json=body), 422)
    assert rows(app, RefreshToken) == 0
