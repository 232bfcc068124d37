"""Doctor pages: the day schedule and the status of each visit.

The records of a visit and a patient's history live in record_views and patient_views, which
add their routes to the same blueprint.
"""

import re
from datetime import date

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.access import doctor_required
from portal.doctors import patient_views, record_views  # noqa: F401 (their routes join bp)
from portal.doctors.blueprint import bp
from portal.doctors.forms import ActionForm
from portal.extensions import db
from portal.htmx import is_partial, render
from portal.models import Appointment, Doctor, utcnow
from portal.services.authz import can_change_visit_status
from portal.services.schedule import doctor_day, today_in
from portal.services.visits import VisitStatusError, allowed_actions, change_status

__all__ = ["bp"]

FIRST_YEAR, LAST_YEAR = 2000, 2100
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The URL words of the three status actions, and the service's names for them.
ACTION_WORDS = {"check-in": "check_in", "complete": "complete", "no-show": "no_show"}
DONE = {"check_in": "Checked in.", "complete": "Completed.", "no_show": "Marked as a no-show."}


def _requested_day(timezone: str) -> date:
    """The ?date= of the request (YYYY-MM-DD), or today in the clinic's zone."""
    raw = (request.args.get("date") or "").strip()
    if not raw:
        return today_in(timezone, utcnow())
    try:
        if not ISO_DATE.fullmatch(raw):  # fromisoformat alone takes 20261129 and 2026-W48-7
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, "The date must look like 2026-11-29.")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        abort(400, f"Dates lie between {FIRST_YEAR} and {LAST_YEAR}.")
    return day


def _row_context(appointment: Appointment) -> dict:
    """What the row block needs to show one visit and its buttons."""
    now = utcnow()
    return {
        "appt": appointment,
        "tz": appointment.doctor.clinic.timezone,
        "allowed": {appointment.id: allowed_actions(appointment, now)},
        "action_form": ActionForm(),
        "message": None,
    }


@bp.route("/")
@doctor_required
def today():
    """The doctor's day: today by default, any day with ?date=; days change without reload."""
    doctor = db.session.get(Doctor, current_user.doctor_id)
    day = _requested_day(doctor.clinic.timezone)
    schedule = doctor_day(doctor, day)
    now = utcnow()
    return render(
        "doctors/today.html",
        block="day",
        schedule=schedule,
        tz=doctor.clinic.timezone,
        allowed={a.id: allowed_actions(a, now) for a in schedule.appointments},
        action_form=ActionForm(),
        today=today_in(doctor.clinic.timezone, now),
    )


@bp.route(
    "/appointments/<int:appointment_id>/<any('check-in', 'complete', 'no-show'):action>",
    methods=["POST"],
)
@doctor_required
def visit_status(appointment_id: int, action: str):
    """Check-in, completed or no-show: one htmx POST that answers with the updated row."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        abort(404)
    if not can_change_visit_status(current_user, appointment):
        abort(403)
    service_action = ACTION_WORDS[action]
    message = None
    try:
        appointment = change_status(appointment.id, current_user, service_action, utcnow())
    except VisitStatusError as error:
        db.session.refresh(appointment)
        message = error.message
    if not is_partial():
        flash(message or DONE[service_action], "error" if message else "success")
        day = appointment.starts_at.astimezone(appointment.doctor.clinic.zone).date()
        return redirect(url_for("doctors.today", date=day.isoformat()), code=303)
    context = _row_context(appointment)
    context["message"] = message
    # A refusal is the unchanged row with its message in it (htmx swaps 4xx answers too).
    return render("doctors/today.html", block="row", **context), 409 if message else 200
