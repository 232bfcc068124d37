"""Video rooms, made ahead: a job creates each room minutes before its visit; tokens are signed here.

Every minute the job looks at video visits starting within VIDEO_ROOM_LEAD_MINUTES that have
no ready room. The room's name comes from the appointment, so a repeat (or Twilio's 53113,
"name in use") finds the room already made instead of making a second. Its unused-room
timeout covers the wait until the visit plus VIDEO_ROOM_JOIN_GRACE_MINUTES.

Twilio calls have a timeout (the client's), tenacity retries of what may be retried, and a
pybreaker circuit breaker whose state is shared in Redis by every worker (per process without
Redis): after BREAKER_FAIL_MAX failures in a row calls fail at once for BREAKER_RESET_SECONDS.
A room that still cannot be made once its visit is VIDEO_FALLBACK_MINUTES away is marked
failed, and the visit falls back to phone: patient and doctor are both told through the outbox.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import pybreaker
from flask import current_app
from sqlalchemy import bindparam, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from portal.extensions import db
from portal.models import (
    Appointment,
    Doctor,
    Notification,
    User,
    VideoRoom,
    idempotency_key,
    utcnow,
)
from portal.providers import Permanent, ProviderError, Retryable, Uncertain, get_provider

# Imported with the app, not by a worker's first video token: twilio and requests take about
# 150 ms to import, which the first token of every fresh gunicorn worker used to pay.
from portal.providers import video as _video_provider  # noqa: F401
from portal.replica import select_rows
from portal.services import outbox
from portal.services.authz import Actor

log = logging.getLogger(__name__)


class RoomNotReady(Exception):
    """No ready room for this visit (yet, or ever: it fell back to phone). The API says 409."""

    code = "room_not_ready"
    status = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class RoomRun:
    ready: int = 0
    waiting: int = 0
    fell_back: int = 0
    provider_calls_refused: int = 0


def room_name(appointment_id: int) -> str:
    """The room's unique name: derived from the appointment, so every attempt agrees on it."""
    return f"{current_app.config['VIDEO_ROOM_PREFIX']}-appt-{appointment_id}"


def video_breaker() -> pybreaker.CircuitBreaker:
    """The app's breaker for Twilio Video, its state in Redis when there is one."""
    breaker = current_app.extensions.get("portal_video_breaker")
    if breaker is None:
        redis = current_app.extensions.get("redis")
        storage = (
            pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, redis, namespace="portal:breaker:twilio-video"
            )
            if redis is not None
            else None
        )
        breaker = pybreaker.CircuitBreaker(
            fail_max=current_app.config["BREAKER_FAIL_MAX"],
            reset_timeout=current_app.config["BREAKER_RESET_SECONDS"],
            exclude=[Permanent],  # one refused room is not an outage
            state_storage=storage,
            name="twilio-video",
        )
        current_app.extensions["portal_video_breaker"] = breaker
    return breaker


def create_room(name: str, unused_timeout_minutes: int) -> str:
    """Make (or find) the room: retried with backoff, behind the breaker.

    Unlike a message, a room can be asked for again even when an answer was lost (a timeout):
    its unique name makes Twilio answer 53113 and the room is fetched, not made twice.
    """
    provider = get_provider("video")
    breaker = video_breaker()
    for attempt in Retrying(
        retry=retry_if_exception_type((Retryable, Uncertain)),
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=0.25, max=2),
        reraise=True,
    ):
        with attempt:
            return breaker.call(provider.create_room, name, unused_timeout_minutes)
    raise AssertionError("unreachable: tenacity reraises")


def _upcoming(now: datetime) -> list[Appointment]:
    """Scheduled video visits starting within the lead time whose room is not settled yet."""
    config = current_app.config
    lead = timedelta(minutes=config["VIDEO_ROOM_LEAD_MINUTES"])
    return db.session.scalars(
        select(Appointment)
        .outerjoin(VideoRoom, VideoRoom.appointment_id == Appointment.id)
        .where(
            Appointment.kind == "video",
            Appointment.status == "scheduled",
            # A visit that began while the job was down still gets its room, within the grace.
            Appointment.starts_at
            >= now - timedelta(minutes=config["VIDEO_ROOM_JOIN_GRACE_MINUTES"]),
            Appointment.starts_at <= now + lead,
            (VideoRoom.id.is_(None)) | (VideoRoom.status == "pending"),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()


def _room_for(appointment: Appointment) -> VideoRoom:
    room = db.session.scalar(select(VideoRoom).where(VideoRoom.appointment_id == appointment.id))
    if room is None:
        room = VideoRoom(
            appointment_id=appointment.id,
            room_name=room_name(appointment.id),
            status="pending",
            attempts=0,
        )
        db.session.add(room)
    return room


def prepare_rooms(now: datetime | None = None) -> RoomRun:
    """Make the rooms of the visits starting soon; fall back to phone where it is too late."""
    now = now or utcnow()
    config = current_app.config
    grace = config["VIDEO_ROOM_JOIN_GRACE_MINUTES"]
    fallback_at = timedelta(minutes=config["VIDEO_FALLBACK_MINUTES"])
    run = RoomRun()
    for appointment in _upcoming(now):
        room = _room_for(appointment)
        room.attempts += 1
        minutes_left = (appointment.starts_at - now).total_seconds() / 60
        unused_timeout = max(1, min(60, math.ceil(minutes_left) + grace))
        try:
            room.provider_room_id = create_room(room.room_name, unused_timeout)
            room.status, room.error = "ready", None
            run.ready += 1
        except (ProviderError, pybreaker.CircuitBreakerError) as error:
            if isinstance(error, pybreaker.CircuitBreakerError):
                run.provider_calls_refused += 1
                room.error = "circuit open: Twilio Video is failing, not called"
            else:
                room.error = error.message
            if isinstance(error, Permanent) or appointment.starts_at - now <= fallback_at:
                fall_back_to_phone(appointment, room)
                run.fell_back += 1
            else:
                run.waiting += 1
        db.session.commit()  # one visit at a time: a crash loses nothing already decided
    if run.fell_back or run.waiting:
        log.warning("video rooms: %s", run)
    return run


def fall_back_to_phone(appointment: Appointment, room: VideoRoom) -> None:
    """Mark the room failed and tell the patient and the doctor, in the caller's transaction."""
    room.status = "failed"
    outbox.add_status_notifications(appointment, "fallback_phone")
    doctor_email = db.session.scalar(
        select(User.email)
        .join(Doctor, Doctor.user_id == User.id)
        .where(Doctor.id == appointment.doctor_id)
    )
    kind = "fallback_phone_doctor"
    outbox.add_to_outbox(
        [
            Notification(
                appointment_id=appointment.id,
                channel="email",
                kind=kind,
                idempotency_key=idempotency_key(appointment.id, kind, "email"),
                recipient=doctor_email,
                status="pending",
                attempts=0,
            )
        ]
    )


@dataclass(frozen=True, slots=True)
class VideoVisit:
    """What a video token asks of a visit: whose it is and whether it is by video."""

    id: int
    patient_id: int
    doctor_id: int
    kind: str


@dataclass(frozen=True, slots=True)
class RoomState:
    """What a video token asks of a visit's room."""

    room_name: str
    status: str


# Every video token reads these: one row, no ORM entities, a statement built once.
_VISIT_AND_ROOM = (
    select(
        Appointment.id,
        Appointment.patient_id,
        Appointment.doctor_id,
        Appointment.kind,
        VideoRoom.room_name,
        VideoRoom.status,
    )
    .outerjoin(VideoRoom, VideoRoom.appointment_id == Appointment.id)
    .where(Appointment.id == bindparam("appointment_id"))
)


def appointment_with_room(appointment_id: int) -> tuple[VideoVisit, RoomState | None] | None:
    """A visit and its room (None before the job made it), in one query; None if no visit."""
    row = select_rows(_VISIT_AND_ROOM, {"appointment_id": appointment_id}).first()
    if row is None:
        return None
    room = RoomState(row.room_name, row.status) if row.room_name is not None else None
    return VideoVisit(*row[:4]), room


def video_access_token(visit: VideoVisit, room: RoomState | None, user: Actor) -> dict:
    """Sign a token for the visit's pre-made room: no network call. RoomNotReady otherwise.

    `visit` and `room` are what appointment_with_room read (room None before the job made it);
    the caller has already checked that `user` is the visit's patient or doctor.
    """
    if visit.kind != "video":
        raise RoomNotReady("This visit is not a video visit.")
    if room is None or room.status == "pending":
        lead = current_app.config["VIDEO_ROOM_LEAD_MINUTES"]
        raise RoomNotReady(f"The video room opens about {lead} minutes before the visit.")
    if room.status != "ready":
        raise RoomNotReady("The video room could not be opened: this visit is by phone.")
    ttl = current_app.config["VIDEO_TOKEN_TTL_SECONDS"]
    identity = f"{user.role}-{user.id}"
    token = get_provider("video").access_token(room.room_name, identity, ttl)
    return {"room_name": room.room_name, "token": token, "expires_in": ttl}
