"""A doctor's day: for the doctor themself or an admin of their clinic."""

from flask import request

from portal.api.blueprint import bp
from portal.api.errors import not_found
from portal.api.schemas import MAX_ID, ScheduleOut, ScheduleQuery
from portal.api.security import api_user, bearer_required
from portal.api.serializers import schedule_item_out
from portal.api.spec import BEARER, answers, api_spec
from portal.database import read_only
from portal.extensions import db
from portal.models import Doctor, utcnow
from portal.services.authz import can_manage_doctor, require
from portal.services.schedule import doctor_day, today_in

TAGS = ["doctors"]


@bp.get("/doctors/<int:doctor_id>/schedule")
@read_only
@bearer_required()
@api_spec.validate(
    query=ScheduleQuery,
    resp=answers(401, 403, 404, 422, HTTP_200=ScheduleOut),
    tags=TAGS,
    security=BEARER,
)
def schedule(doctor_id: int):
    """The doctor's appointments on one local day of their clinic (default: today there)."""
    doctor = db.session.get(Doctor, doctor_id) if doctor_id <= MAX_ID else None
    if doctor is None:
        raise not_found("doctor")
    require(can_manage_doctor(api_user(), doctor.id))
    timezone = doctor.clinic.timezone
    day = request.context.query.date or today_in(timezone, utcnow())
    schedule = doctor_day(doctor, day)
    return ScheduleOut(
        doctor_id=doctor.id,
        date=day,
        timezone=timezone,
        items=[schedule_item_out(appointment) for appointment in schedule.appointments],
    )
