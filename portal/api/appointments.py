"""Booking and cancelling appointments, and the video token of a video visit."""

from datetime import UTC, datetime

from flask import request

from portal.api.blueprint import bp
from portal.api.errors import not_found
from portal.api.schemas import MAX_BIGINT_ID, AppointmentOut, BookingIn, VideoTokenOut
from portal.api.security import api_user, bearer_required
from portal.api.serializers import appointment_out
from portal.api.spec import BEARER, answers, api_spec
from portal.database import read_only
from portal.extensions import db
from portal.models import Appointment, utcnow
from portal.services.authz import can_join_video, require
from portal.services.booking import (
    BookingRequest,
    SlotNotOffered,
    book_appointment,
    cancel_appointment,
)
from portal.services.video_rooms import appointment_with_room, video_access_token

TAGS = ["appointments"]
# Far outside any doctor's calendar, and beyond what date arithmetic in UTC survives.
EARLIEST, LATEST = datetime(1971, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _appointment_or_404(appointment_id: int) -> Appointment:
    appointment = (
        db.session.get(Appointment, appointment_id) if appointment_id <= MAX_BIGINT_ID else None
    )
    if appointment is None:
        raise not_found("appointment")
    return appointment


@bp.post("/appointments")
@bearer_required("patient")
@api_spec.validate(
    json=BookingIn,
    resp=answers(400, 401, 403, 409, 422, HTTP_201=AppointmentOut),
    tags=TAGS,
    security=BEARER,
)
def book():
    """Book a free slot for the signed-in patient; 409 if it is taken or not a free slot."""
    body: BookingIn = request.context.json
    if not EARLIEST <= body.starts_at <= LATEST:
        raise SlotNotOffered("That time is not a free slot of this doctor.")
    appointment = book_appointment(
        BookingRequest(
            patient_id=api_user().patient_id,
            doctor_id=body.doctor_id,
            starts_at=body.starts_at,
            kind=body.kind,
            reason=body.reason,
        ),
        now=utcnow(),
    )
    return appointment_out(appointment), 201


@bp.post("/appointments/<int:appointment_id>/cancel")
@bearer_required()
@api_spec.validate(
    resp=answers(401, 403, 404, 409, HTTP_200=AppointmentOut), tags=TAGS, security=BEARER
)
def cancel(appointment_id: int):
    """Cancel a scheduled visit: its patient (until the cutoff), its doctor or the clinic's admin."""
    _appointment_or_404(appointment_id)
    try:
        appointment = cancel_appointment(appointment_id, api_user(), utcnow())
    except LookupError:
        raise not_found("appointment") from None
    return appointment_out(appointment)


@bp.post("/appointments/<int:appointment_id>/video-token")
@read_only
@bearer_required("patient", "doctor")
@api_spec.validate(
    resp=answers(401, 403, 404, 409, HTTP_200=VideoTokenOut), tags=TAGS, security=BEARER
)
def video_token(appointment_id: int):
    """Join a video visit: a token for its room, made ahead; 409 room_not_ready until then."""
    found = appointment_with_room(appointment_id) if appointment_id <= MAX_BIGINT_ID else None
    if found is None:
        raise not_found("appointment")
    visit, room = found
    user = api_user()
    require(can_join_video(user, visit))
    return VideoTokenOut(**video_access_token(visit, room, user))
