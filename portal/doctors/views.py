"""Doctor pages."""

from datetime import date

from flask import Blueprint, abort, request
from flask_login import current_user

from portal.auth.access import doctor_required
from portal.htmx import render
from portal.models import utcnow
from portal.services.schedule import doctor_day, today_in

bp = Blueprint("doctors", __name__, url_prefix="/doctor")


def _requested_day(timezone: str) -> date:
    """The ?date= of the request (YYYY-MM-DD), or today in the clinic's zone."""
    raw = request.args.get("date")
    if not raw:
        return today_in(timezone, utcnow())
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, "The date must look like 2026-11-29.")
    if not 2000 <= day.year <= 2100:
        abort(400, "That date is out of range.")
    return day


@bp.route("/")
@doctor_required
def today():
    """The doctor's day: today by default, any day with ?date=."""
    doctor = current_user.doctor
    day = _requested_day(doctor.clinic.timezone)
    return render("doctors/today.html", block="day", schedule=doctor_day(doctor, day))
