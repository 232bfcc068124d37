"""Video rooms made ahead by the every-minute job, behind retries and a circuit breaker."""

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from jobs.video_rooms import prepare_video_rooms
from portal.extensions import db
from portal.models import Appointment, User, VideoRoom, utcnow
from portal.services.video_rooms import RoomNotReady, appointment_with_room, video_access_token
from tests.factories import gen_appointment, gen_clinic, gen_doctor, gen_patient
from tests.jobs.conftest import TWILIO_SETTINGS
from tests.jobs.data import outbox_rows


def video_visit(minutes: float, **fields) -> Appointment:
    patient = fields.pop("patient", None) or gen_patient(notify_sms=False)
    starts = utcnow().replace(microsecond=0) + timedelta(minutes=minutes)
    return gen_appointment(patient, gen_doctor(gen_clinic()), starts, **{"kind": "video", **fields})


def rooms(app) -> dict[int, VideoRoom]:
    with app.app_context():
        return {r.appointment_id: r for r in db.session.scalars(select(VideoRoom))}


def token_for(app, appointment: Appointment, user_id: int) -> dict:
    with app.app_context():
        visit, room = appointment_with_room(appointment.id)
        return video_access_token(visit, room, db.session.get(User, user_id))


def test_rooms_are_made_minutes_ahead_for_video_visits_only(app, providers, rq_queue, run_worker):
    soon = video_visit(3)
    later = video_visit(30)
    in_person = video_visit(3, kind="in_person")
    cancelled = video_visit(3, status="cancelled")

    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    made = rooms(app)
    assert set(made) == {soon.id}
    assert made[soon.id].status == "ready"
    assert made[soon.id].room_name == f"portal-appt-{soon.id}"
    room = providers.twilio.rooms[f"portal-appt-{soon.id}"]
    assert made[soon.id].provider_room_id == room["sid"]
    # Still open when the visit starts, and for a late joiner after.
    assert room["unused_room_timeout"] >= 3 + 30
    assert {later.id, in_person.id, cancelled.id}.isdisjoint(made)


def test_a_room_made_by_an_attempt_whose_answer_was_lost_is_found_not_made_again(
    app, providers, rq_queue, run_worker
):
    visit = video_visit(2)
    name = f"portal-appt-{visit.id}"
    providers.twilio.answer("POST", "/v1/Rooms", {"UniqueName": name})  # the lost attempt
    existing = providers.twilio.rooms[name]["sid"]

    rq_queue.enqueue(prepare_video_rooms)
    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    assert rooms(app)[visit.id].provider_room_id == existing
    assert list(providers.twilio.rooms) == [name]
    # One create answered 53113 and one fetch found the room; the second run had nothing to do.
    assert providers.twilio.requests[1:] == [("POST", "/v1/Rooms"), ("GET", f"/v1/Rooms/{name}")]


def test_a_create_whose_answer_timed_out_is_retried_and_finds_the_room_it_made(
    app, providers, rq_queue, run_worker, monkeypatch
):
    monkeypatch.setitem(app.config, "PROVIDER_TIMEOUT", 0.5)
    providers.twilio.answer_late_next(1, 1.0)
    visit = video_visit(3)

    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    name = f"portal-appt-{visit.id}"
    assert rooms(app)[visit.id].status == "ready"
    assert rooms(app)[visit.id].provider_room_id == providers.twilio.rooms[name]["sid"]
    assert list(providers.twilio.rooms) == [name]
    assert providers.twilio.requests == [
        ("POST", "/v1/Rooms"),  # made, but the answer came after the timeout
        ("POST", "/v1/Rooms"),  # 53113: the name is in use
        ("GET", f"/v1/Rooms/{name}"),
    ]


def test_a_twilio_outage_opens_the_breaker_the_job_gives_up_fast_and_visits_go_to_phone(
    app, providers, rq_queue, run_worker, redis_conn
):
    providers.twilio.outage = True
    visits = [video_visit(0.7) for _ in range(6)]

    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    # Five failures in a row open the breaker; the rest are refused without a call.
    assert providers.twilio.room_requests() == app.config["BREAKER_FAIL_MAX"] == 5
    assert redis_conn.get("portal:breaker:twilio-video:pybreaker:state") == b"open"
    made = rooms(app)
    assert {made[v.id].status for v in visits} == {"failed"}
    told = {(row.appointment_id, row.kind, row.recipient) for row in outbox_rows(app)}
    with app.app_context():
        for visit in visits:
            patient_email = db.session.get(Appointment, visit.id).patient.user.email
            doctor_email = db.session.get(Appointment, visit.id).doctor.user.email
            assert (visit.id, "fallback_phone", patient_email) in told
            assert (visit.id, "fallback_phone_doctor", doctor_email) in told
    assert {row.status for row in outbox_rows(app)} == {"sent"}
    assert len(providers.ses.recipients()) == 12

    video_visit(0.7)
    rq_queue.enqueue(prepare_video_rooms)
    run_worker()
    assert providers.twilio.room_requests() == 5  # the open breaker is shared through Redis


def test_a_visit_further_off_waits_for_the_next_run_instead_of_falling_back(
    app, providers, rq_queue, run_worker
):
    providers.twilio.outage = True
    visit = video_visit(4)

    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    room = rooms(app)[visit.id]
    assert (room.status, room.attempts) == ("pending", 1)
    assert "Service unavailable" in room.error
    assert outbox_rows(app) == []

    providers.twilio.outage = False
    rq_queue.enqueue(prepare_video_rooms)
    run_worker()
    assert rooms(app)[visit.id].status == "ready"


def test_a_token_is_signed_only_for_the_ready_room_and_without_a_call(
    app, providers, rq_queue, run_worker
):
    patient = gen_patient()
    visit = video_visit(3, patient=patient)
    with pytest.raises(RoomNotReady):
        token_for(app, visit, patient.user_id)

    rq_queue.enqueue(prepare_video_rooms)
    run_worker()
    calls_before = len(providers.twilio.requests)
    answer = token_for(app, visit, patient.user_id)

    assert len(providers.twilio.requests) == calls_before
    assert answer["room_name"] == f"portal-appt-{visit.id}"
    claims = jwt.decode(answer["token"], TWILIO_SETTINGS["TWILIO_API_SECRET"], algorithms=["HS256"])
    assert claims["grants"]["video"] == {"room": answer["room_name"]}
    assert claims["grants"]["identity"] == f"patient-{patient.user_id}"
    assert claims["iss"] == TWILIO_SETTINGS["TWILIO_API_KEY"]
    assert claims["exp"] - claims["nbf"] <= answer["expires_in"] + 1


def test_no_token_once_a_visit_fell_back_to_phone(app, providers, rq_queue, run_worker):
    providers.twilio.outage = True
    patient = gen_patient(notify_sms=False)
    visit = video_visit(0.5, patient=patient)
    rq_queue.enqueue(prepare_video_rooms)
    run_worker()

    with pytest.raises(RoomNotReady, match="by phone"):
        token_for(app, visit, patient.user_id)
