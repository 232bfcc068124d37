"""What each endpoint answers when it is used as intended."""

from datetime import date, datetime, timedelta

from redis import Redis
from sqlalchemy import func, select

from portal.config import TestConfig
from portal.extensions import db
from portal.models import Appointment, AuditLog, User, utcnow
from portal.services.audit import READ
from tests.api.conftest import gen_video_room, in_days
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_record, gen_schedule


def walk(api, path: str, user, **params) -> list[list[dict]]:
    """Every page of a list, following next_cursor."""
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(path, user=user, query_string=query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


# Catalogue.


def test_specializations_lists_each_once_alphabetically_without_a_token(api, world):
    assert api.get("/api/specializations").get_json() == {"items": ["Cardiology", "Dermatology"]}


def test_clinics_are_paged_by_name_and_filtered_by_city(api, app, world):
    with app.app_context():
        for name in ("Gamma", "Delta", "Epsilon"):
            gen_clinic(name=f"{name} Clinic", city="Berlin", timezone="Europe/Berlin")
    pages = walk(api, "/api/clinics", None, limit=2)
    names = [clinic["name"] for page in pages for clinic in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert names == sorted(names) and len(set(names)) == 5
    berlin = walk(api, "/api/clinics", None, city="Berlin")
    assert {clinic["city"] for clinic in berlin[0]} == {"Berlin"} and len(berlin[0]) == 4
    assert set(berlin[0][0]) == {"id", "name", "city", "timezone"}


# Search.


def test_search_answers_doctors_with_their_clinic_and_free_slots(api, world):
    start = utcnow().date() + timedelta(days=1)
    response = api.get(
        "/api/appointments/search",
        user=world.user("patient"),
        query_string={
            "specialization": "Cardiology",
            "city": "New York",
            "date_from": start.isoformat(),
            "date_to": (start + timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["next_cursor"] is None
    [result] = body["items"]
    assert result["doctor"] == {
        "id": world.doctor_a.id,
        "full_name": "Dr. Ada Alpha",
        "specialization": "Cardiology",
        "consultation_fee": "90.00",
        "clinic": {
            "id": world.clinic_a.id,
            "name": "Alpha Clinic",
            "city": "New York",
            "timezone": "America/New_York",
        },
    }
    starts = [datetime.fromisoformat(slot["starts_at"]) for slot in result["slots"]]
    assert starts == sorted(starts) and len(starts) == 3 * 16  # 9:00-17:00, 30 minutes
    assert all(s.tzinfo is not None and s > utcnow() for s in starts)


def test_search_pages_over_doctors_with_a_cursor(api, app, world):
    with app.app_context():
        for n in range(2):
            gen_schedule(gen_doctor(world.clinic_a, full_name=f"Dr. Extra {n}"))
    pages = walk(
        api,
        "/api/appointments/search",
        world.user("patient"),
        specialization="Cardiology",
        clinic_id=world.clinic_a.id,
        limit=2,
    )
    assert [len(page) for page in pages] == [2, 1]
    assert len({result["doctor"]["id"] for page in pages for result in page}) == 3


def test_a_repeated_search_comes_from_the_cache_until_a_booking_changes_it(api, world):
    start = utcnow().date() + timedelta(days=1)
    query = {
        "specialization": "Cardiology",
        "city": "New York",
        "date_from": start.isoformat(),
        "date_to": start.isoformat(),
    }
    patient = world.user("patient")
    first = api.get("/api/appointments/search", user=patient, query_string=query)
    again = api.get("/api/appointments/search", user=patient, query_string=query)
    assert again.get_data() == first.get_data()
    assert Redis.from_url(TestConfig.REDIS_URL).keys(TestConfig.CACHE_KEY_PREFIX + "frag:results:*")
    [slot, *rest] = first.get_json()["items"][0]["slots"]
    booked = api.post(
        "/api/appointments",
        user=patient,
        json={"doctor_id": world.doctor_a.id, "starts_at": slot["starts_at"], "kind": "in_person"},
    )
    assert booked.status_code == 201
    after = api.get("/api/appointments/search", user=patient, query_string=query).get_json()
    assert after["items"][0]["slots"] == rest


# Booking and cancelling.


def test_booking_a_free_slot_answers_201_with_the_appointment(api, app, world):
    starts_at = in_days(3)
    response = api.post(
        "/api/appointments",
        user=world.user("patient"),
        json={
            "doctor_id": world.doctor_a.id,
            "starts_at": starts_at.isoformat(),
            "kind": "video",
            "reason": "Chest pain",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["patient_id"] == world.patient_p.id and body["status"] == "scheduled"
    assert body["kind"] == "video" and body["reason"] == "Chest pain"
    assert datetime.fromisoformat(body["starts_at"]) == starts_at
    assert datetime.fromisoformat(body["ends_at"]) == starts_at + timedelta(minutes=30)
    assert body["doctor"]["id"] == world.doctor_a.id
    with app.app_context():
        assert db.session.get(Appointment, body["id"]).patient_id == world.patient_p.id


def test_a_slot_taken_or_not_offered_gets_409_and_books_nothing(api, app, world):
    slot = {"doctor_id": world.doctor_a.id, "starts_at": in_days(3).isoformat()}
    assert api.post("/api/appointments", user=world.user("patient"), json=slot).status_code == 201
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Appointment))
    cases = [
        slot,  # taken, by someone else now
        {**slot, "starts_at": in_days(4).replace(minute=10).isoformat()},  # off the grid
        {**slot, "starts_at": in_days(4, hour=3).isoformat()},  # outside the hours
        {**slot, "starts_at": (utcnow() - timedelta(days=1)).isoformat()},  # the past
        {**slot, "doctor_id": 987654},  # no such doctor
        {**slot, "starts_at": "1066-10-14T09:00:00+00:00"},
    ]
    for body in cases:
        response = api.post("/api/appointments", user=world.user("patient", own=False), json=body)
        assert response.status_code == 409, body
        assert response.get_json()["error"]["code"] in {"slot_taken", "slot_not_offered"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == before


def test_cancelling_answers_the_cancelled_appointment(api, world):
    response = api.post(f"/api/appointments/{world.visit_p.id}/cancel", user=world.user("patient"))
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    again = api.post(f"/api/appointments/{world.visit_p.id}/cancel", user=world.user("patient"))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "cannot_cancel"


def test_a_patient_cannot_cancel_shortly_before_the_visit_but_the_doctor_can(api, app, world):
    with app.app_context():  # the cutoff is 2 hours
        soon = gen_appointment(world.patient_p, world.doctor_a, utcnow() + timedelta(minutes=90))
    late = api.post(f"/api/appointments/{soon.id}/cancel", user=world.user("patient"))
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "cannot_cancel"
    by_doctor = api.post(f"/api/appointments/{soon.id}/cancel", user=world.user("doctor"))
    assert by_doctor.status_code == 200


def test_a_visit_that_has_started_is_not_cancelled_by_anyone(api, app, world):
    with app.app_context():
        begun = gen_appointment(world.patient_p, world.doctor_a, utcnow() - timedelta(minutes=10))
    refusals = {
        role: api.post(f"/api/appointments/{begun.id}/cancel", user=world.user(role))
        for role in ("doctor", "patient")
    }
    for refused in refusals.values():
        assert refused.status_code == 409
        assert refused.get_json()["error"]["code"] == "cannot_cancel"
    assert "already started" in refusals["doctor"].get_json()["error"]["message"]
    assert "hours before" in refusals["patient"].get_json()["error"]["message"]  # the cutoff
    with app.app_context():
        assert db.session.get(Appointment, begun.id).status == "scheduled"


# Video.


def test_the_video_token_is_signed_for_the_pre_made_room(api, world):
    for role in ("patient", "doctor"):
        response = api.post(
            f"/api/appointments/{world.visit_p.id}/video-token", user=world.user(role)
        )
        assert response.status_code == 200
        body = response.get_json()
        assert body["room_name"] == f"test-appt-{world.visit_p.id}"
        assert body["token"].count(".") == 2 and body["expires_in"] > 0


def test_a_video_token_costs_two_reads_the_user_and_the_visit_with_its_room(api, app, world):
    from tests.patients.test_search_and_booking_pages import count_statements

    path = f"/api/appointments/{world.visit_p.id}/video-token"
    token = api.token_for(world.user("patient"))
    response, statements = count_statements(app, lambda: api.post(path, token=token))
    assert response.status_code == 200
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, [s[:90] for s in selects]
    assert "video_rooms" in selects[1] and "appointments" in selects[1]
    assert all(s.lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT")) for s in statements)


def test_no_video_token_until_the_room_is_ready(api, app, world):
    with app.app_context():
        waiting = gen_appointment(world.patient_p, world.doctor_a, in_days(5), kind="video")
        pending = gen_appointment(world.patient_p, world.doctor_a, in_days(6), kind="video")
        gen_video_room(pending, status="pending")
        failed = gen_appointment(world.patient_p, world.doctor_a, in_days(8), kind="video")
        gen_video_room(failed, status="failed")  # the visit fell back to phone
    for appointment in (waiting, pending, failed):
        path = f"/api/appointments/{appointment.id}/video-token"
        response = api.post(path, user=world.user("patient"))
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "room_not_ready"


def test_an_in_person_visit_has_no_video_token(api, app, world):
    with app.app_context():
        visit = gen_appointment(world.patient_p, world.doctor_a, in_days(5))
    response = api.post(f"/api/appointments/{visit.id}/video-token", user=world.user("patient"))
    assert response.status_code == 409


# History.


def test_history_is_newest_first_and_pages_through_everything_once(api, app, world):
    with app.app_context():
        for n in range(5):
            gen_appointment(world.patient_p, world.doctor_a, in_days(-n - 1), status="completed")
    pages = walk(
        api, f"/api/patients/{world.patient_p.id}/appointments", world.user("patient"), limit=3
    )
    items = [item for page in pages for item in page]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert len({item["id"] for item in items}) == 7
    starts = [item["starts_at"] for item in items]
    assert starts == sorted(starts, reverse=True)
    assert items[0]["doctor"]["clinic"]["timezone"] == "America/New_York"


def test_history_filters_by_status_and_local_dates(api, world):
    path = f"/api/patients/{world.patient_p.id}/appointments"
    completed = api.get(path, user=world.user("patient"), query_string={"status": "completed"})
    assert [item["id"] for item in completed.get_json()["items"]] == [world.past_visit_p.id]
    day = world.visit_p.starts_at.astimezone(world.clinic_a.zone).date().isoformat()
    on_day = api.get(path, user=world.user("patient"), query_string={"from": day, "to": day})
    assert [item["id"] for item in on_day.get_json()["items"]] == [world.visit_p.id]


def test_a_doctor_reads_the_history_of_a_patient_they_treat(api, world):
    response = api.get(
        f"/api/patients/{world.patient_p.id}/appointments", user=world.user("doctor")
    )
    assert {item["id"] for item in response.get_json()["items"]} == {
        world.visit_p.id,
        world.past_visit_p.id,
    }


# Medical records and their audit trail.


def audit_rows(app) -> list[AuditLog]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


def test_records_are_newest_first_paged_and_each_page_read_is_audited(api, app, world):
    with app.app_context():
        extra = [
            gen_record(
                world.past_visit_p, created_at=utcnow() - timedelta(days=n), record_type=kind
            )
            for n, kind in enumerate(("lab_result", "prescription", "lab_result"))
        ]
    path = f"/api/patients/{world.patient_p.id}/medical-records"
    pages = walk(api, path, world.user("doctor"), limit=2)
    ids = [item["id"] for page in pages for item in page]
    assert ids == [record.id for record in extra] + [world.record_p.id]
    rows = audit_rows(app)
    assert len(rows) == len(pages) == 2
    for row, page in zip(rows, pages, strict=True):
        assert row.action == READ and row.patient_id == world.patient_p.id
        assert row.actor_id == world.user("doctor") and row.actor_role == "doctor"
        assert row.record_ids == [item["id"] for item in page]
        assert row.address == "127.0.0.1" and row.request_id
    labs = api.get(path, user=world.user("patient"), query_string={"record_type": "lab_result"})
    assert [item["id"] for item in labs.get_json()["items"]] == [extra[0].id, extra[2].id]


def test_an_api_read_writes_the_audit_row_the_portal_writes(api, app, auth, client, world):
    response = api.get(
        f"/api/patients/{world.patient_p.id}/medical-records",
        user=world.user("patient"),
        headers={"X-Request-ID": "api-read-1"},
    )
    assert response.status_code == 200
    with app.app_context():
        email = db.session.get(User, world.user("patient")).email
    auth.login(email)
    portal = client.get("/patient/records", headers={"X-Request-ID": "portal-read-1"})
    assert portal.status_code == 200
    api_row, portal_row = audit_rows(app)
    fields = ("actor_id", "actor_role", "patient_id", "record_ids", "action", "address")
    assert [getattr(api_row, f) for f in fields] == [getattr(portal_row, f) for f in fields]
    assert (api_row.request_id, portal_row.request_id) == ("api-read-1", "portal-read-1")


def test_a_refused_records_read_returns_nothing_and_audits_nothing(api, app, world):
    response = api.get(
        f"/api/patients/{world.patient_p.id}/medical-records", user=world.user("clinic_admin")
    )
    assert response.status_code == 403
    assert "P's diagnosis" not in response.get_data(as_text=True)
    assert audit_rows(app) == []


# A doctor's day.


def test_the_schedule_is_one_local_day_of_the_doctor_in_time_order(api, app, world):
    with app.app_context():
        early = gen_appointment(
            world.patient_q, world.doctor_a, world.visit_p.starts_at - timedelta(hours=3)
        )
    day = world.visit_p.starts_at.astimezone(world.clinic_a.zone).date()
    path = f"/api/doctors/{world.doctor_a.id}/schedule"
    response = api.get(
        path, user=world.user("clinic_admin"), query_string={"date": day.isoformat()}
    )
    body = response.get_json()
    assert body["date"] == day.isoformat() and body["timezone"] == "America/New_York"
    assert [item["id"] for item in body["items"]] == [early.id, world.visit_p.id]
    assert body["items"][1]["patient"]["id"] == world.patient_p.id
    today = api.get(path, user=world.user("doctor")).get_json()
    assert date.fromisoformat(today["date"]) == utcnow().astimezone(world.clinic_a.zone).date()
