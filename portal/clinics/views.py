"""Clinic admin pages: the clinic's doctors, their weekly rules and time off, the week calendar.

Each view parses its input, asks services.authz (through the services) whether the admin may
touch the object, calls one service and renders. Forms that can come back with errors are
plain posts (hx-boost off), so a 422 page is shown as it is; the calendar's week navigation and
its cancel buttons are htmx requests answered with the week's block.
"""

import re
from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.access import clinic_admin_required
from portal.clinics.forms import AddDoctorForm, ConfirmForm, RuleForm, TimeOffForm
from portal.extensions import db
from portal.htmx import is_partial, render
from portal.models import Appointment, Clinic, Doctor, utcnow
from portal.services.authz import NotAllowed, can_administer_doctor, can_see_appointment
from portal.services.booking import BookingError, cancel_appointment
from portal.services.calendar import clinic_week, week_start
from portal.services.rules import (
    FIRST_YEAR,
    LAST_YEAR,
    WEEKDAYS,
    CollisionsToDecide,
    RuleInput,
    ScheduleInvalid,
    add_rule,
    add_time_off,
    delete_rule,
    doctor_rules,
    doctor_time_off,
    get_rule,
    get_time_off,
    local_to_utc,
    update_rule,
)
from portal.services.rules import (
    remove_time_off as remove_time_off_period,
)
from portal.services.schedule import clinic_doctors, today_in
from portal.services.search import specializations
from portal.services.staff import (
    NewDoctor,
    StaffError,
    add_doctor,
    deactivate_doctor,
    upcoming_visits,
)

bp = Blueprint("clinics", __name__, url_prefix="/clinic")

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _my_clinic() -> Clinic:
    """The signed-in admin's clinic."""
    return db.session.get(Clinic, current_user.clinic_id)


def _clinic_doctor(doctor_id: int) -> Doctor:
    """A doctor of the admin's own clinic, or 404 (no such doctor) / 403 (another clinic)."""
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None:
        abort(404)
    if not can_administer_doctor(current_user, doctor.id):
        abort(403)
    return doctor


def _form_error(form, field: str, message: str) -> None:
    """Put a service's message on the field it names, or above the form."""
    target = getattr(form, field, None)
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)


@bp.route("/")
@clinic_admin_required
def home():
    """The admin's clinic and its doctors."""
    clinic = _my_clinic()
    return render(
        "clinics/home.html", clinic=clinic, doctors=clinic_doctors(clinic.id), confirm=ConfirmForm()
    )


@bp.route("/doctors/new", methods=["GET", "POST"])
@clinic_admin_required
def new_doctor():
    """Add a doctor and their sign-in; a generated password is shown on this page, once."""
    form = AddDoctorForm()
    if form.validate_on_submit():
        try:
            doctor, generated = add_doctor(
                current_user.clinic_id,
                NewDoctor(
                    full_name=form.full_name.data,
                    email=form.email.data,
                    specialization=form.specialization.data,
                    consultation_fee=form.consultation_fee.data,
                    password=form.password.data or "",
                ),
            )
        except StaffError as error:
            _form_error(form, error.field, error.message)
        else:
            if generated is None:
                flash(f"{doctor.full_name} can now sign in as {doctor.user.email}.", "success")
                return redirect(url_for("clinics.rules", doctor_id=doctor.id), code=303)
            # Rendered, not redirected: the password must not travel through the session.
            response = render("clinics/doctor_added.html", doctor=doctor, password=generated)
            response.headers["Cache-Control"] = "no-store"
            return response, 201
    status = 422 if form.errors or form.form_errors else 200
    return render(
        "clinics/new_doctor.html", form=form, clinic=_my_clinic(), specializations=specializations()
    ), status


@bp.route("/doctors/<int:doctor_id>/deactivate", methods=["POST"])
@clinic_admin_required
def deactivate(doctor_id: int):
    """Turn off a doctor's sign-in; say how many visits they still have."""
    doctor = _clinic_doctor(doctor_id)
    deactivate_doctor(current_user, doctor.id)
    remaining = upcoming_visits(doctor.id, utcnow())
    message = f"{doctor.full_name} is deactivated and can no longer sign in."
    if remaining:
        message += (
            f" They still have {remaining} upcoming visit(s): cancel them from the calendar"
            " if they will not take place."
        )
    flash(message, "success")
    return redirect(url_for("clinics.home"), code=303)


# --- Weekly rules ---------------------------------------------------------------------------


def _rule_input(form: RuleForm) -> RuleInput:
    return RuleInput(
        weekday=int(form.weekday.data),
        start_time=form.start_time.data,
        end_time=form.end_time.data,
        slot_minutes=int(form.slot_minutes.data) if form.slot_minutes.data.isdigit() else 0,
        valid_from=form.valid_from.data,
        valid_to=form.valid_to.data,
    )


def _rules_page(doctor: Doctor, form: RuleForm, status: int = 200):
    return render(
        "clinics/rules.html",
        doctor=doctor,
        rules=doctor_rules(doctor.id),
        form=form,
        confirm=ConfirmForm(),
        weekdays=WEEKDAYS,
    ), status


@bp.route("/doctors/<int:doctor_id>/rules", methods=["GET", "POST"])
@clinic_admin_required
def rules(doctor_id: int):
    """A doctor's weekly rules, and a form to add one."""
    doctor = _clinic_doctor(doctor_id)
    form = RuleForm()
    if request.method == "GET":
        form.valid_from.data = today_in(doctor.clinic.timezone, utcnow())
        return _rules_page(doctor, form)
    if form.validate_on_submit():
        try:
            add_rule(current_user, doctor.id, _rule_input(form))
        except ScheduleInvalid as error:
            _form_error(form, error.field, error.message)
        else:
            flash("The rule is added; its slots are open for booking.", "success")
            return redirect(url_for("clinics.rules", doctor_id=doctor.id), code=303)
    return _rules_page(doctor, form, 422)


@bp.route("/rules/<int:rule_id>/edit", methods=["GET", "POST"])
@clinic_admin_required
def edit_rule(rule_id: int):
    """Change one weekly rule."""
    rule = get_rule(rule_id) or abort(404)
    doctor = _clinic_doctor(rule.doctor_id)
    form = RuleForm(obj=rule if request.method == "GET" else None)
    if request.method == "GET":
        form.weekday.data = str(rule.weekday)
        form.slot_minutes.data = str(rule.slot_minutes)
        return render("clinics/edit_rule.html", doctor=doctor, rule=rule, form=form)
    if form.validate_on_submit():
        try:
            update_rule(current_user, rule.id, _rule_input(form))
        except ScheduleInvalid as error:
            _form_error(form, error.field, error.message)
        else:
            flash("The rule is changed.", "success")
            return redirect(url_for("clinics.rules", doctor_id=doctor.id), code=303)
    return render("clinics/edit_rule.html", doctor=doctor, rule=rule, form=form), 422


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@clinic_admin_required
def remove_rule(rule_id: int):
    """Delete one weekly rule; visits already booked stay booked."""
    rule = get_rule(rule_id) or abort(404)
    doctor = _clinic_doctor(rule.doctor_id)
    delete_rule(current_user, rule.id)
    flash("The rule is deleted. Visits already booked stay booked.", "success")
    return redirect(url_for("clinics.rules", doctor_id=doctor.id), code=303)


# --- Time off -------------------------------------------------------------------------------


def _time_off_page(doctor: Doctor, form: TimeOffForm, status: int = 200, collisions=None):
    return render(
        "clinics/time_off.html",
        doctor=doctor,
        periods=doctor_time_off(doctor.id, utcnow()),
        form=form,
        confirm=ConfirmForm(),
        collisions=collisions,
    ), status


def _seen_ids(raw: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in (raw or "").split(",") if part.strip().isdigit())


@bp.route("/doctors/<int:doctor_id>/time-off", methods=["GET", "POST"])
@clinic_admin_required
def time_off(doctor_id: int):
    """A doctor's coming time off, and a form to add some (deciding about booked visits)."""
    doctor = _clinic_doctor(doctor_id)
    form = TimeOffForm()
    if request.method == "GET":
        return _time_off_page(doctor, form)
    if not form.validate_on_submit():
        return _time_off_page(doctor, form, 422)
    timezone = doctor.clinic.timezone
    try:
        result = add_time_off(
            current_user,
            doctor.id,
            local_to_utc(form.starts_at.data, timezone, "starts_at"),
            local_to_utc(form.ends_at.data, timezone, "ends_at"),
            form.reason.data,
            now=utcnow(),
            decision=form.decision.data,
            seen_ids=_seen_ids(form.seen.data),
        )
    except ScheduleInvalid as error:
        _form_error(form, error.field, error.message)
        return _time_off_page(doctor, form, 422)
    except CollisionsToDecide as decide:
        form.seen.data = ",".join(str(a.id) for a in decide.appointments)
        form.decision.data = None
        return _time_off_page(doctor, form, 409, collisions=decide.appointments)
    message = "The time off is added."
    if result.cancelled:
        message += f" {len(result.cancelled)} visit(s) cancelled; each patient is being told."
    if result.kept:
        message += f" {len(result.kept)} booked visit(s) kept inside it."
    flash(message, "success")
    return redirect(url_for("clinics.time_off", doctor_id=doctor.id), code=303)


@bp.route("/time-off/<int:time_off_id>/delete", methods=["POST"])
@clinic_admin_required
def remove_time_off(time_off_id: int):
    """Remove a period of time off; its slots open again."""
    period = get_time_off(time_off_id) or abort(404)
    doctor = _clinic_doctor(period.doctor_id)
    remove_time_off_period(current_user, period.id)
    flash("The time off is removed; its free slots are open again.", "success")
    return redirect(url_for("clinics.time_off", doctor_id=doctor.id), code=303)


# --- The clinic calendar --------------------------------------------------------------------


def _requested_week(timezone: str) -> date:
    """The Monday of ?week= (any date of the week, YYYY-MM-DD), or of this week."""
    raw = (request.args.get("week") or "").strip()
    if not raw:
        return week_start(today_in(timezone, utcnow()))
    try:
        if not ISO_DATE.fullmatch(raw):  # fromisoformat alone takes 20261130 and 2026-W49-1
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, "The week is given by a date such as 2026-11-30.")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        abort(400, f"Weeks lie between {FIRST_YEAR} and {LAST_YEAR}.")
    return week_start(day)


def _week_page(monday: date, *, error: str | None = None, notice: str | None = None, status=200):
    week = clinic_week(_my_clinic(), monday)
    return render(
        "clinics/calendar.html",
        block="week",
        week=week,
        error=error,
        notice=notice,
    ), status


@bp.route("/calendar")
@clinic_admin_required
def calendar():
    """A week of every doctor of the clinic, with utilization; week by week without reload."""
    return _week_page(_requested_week(_my_clinic().timezone))


def _clinic_visit(appointment_id: int) -> Appointment:
    """A visit with one of the admin's doctors, or 404 (no such visit) / 403 (another clinic)."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        abort(404)
    if not can_see_appointment(current_user, appointment):
        abort(403)
    return appointment


def _monday_of(appointment: Appointment) -> date:
    return week_start(appointment.starts_at.astimezone(_my_clinic().zone).date())


@bp.route("/appointments/<int:appointment_id>")
@clinic_admin_required
def visit(appointment_id: int):
    """One visit of the calendar, and the button that cancels it for the patient."""
    appointment = _clinic_visit(appointment_id)
    return render(
        "clinics/visit.html",
        block="visit",
        appointment=appointment,
        monday=_monday_of(appointment),
        cancellable=appointment.status == "scheduled" and appointment.ends_at > utcnow(),
        confirm=ConfirmForm(),
    )


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@clinic_admin_required
def cancel(appointment_id: int):
    """Cancel a visit on the patient's behalf; the patient is told. Answers with the week."""
    appointment = _clinic_visit(appointment_id)
    monday = _monday_of(appointment)
    try:
        cancel_appointment(appointment.id, current_user, utcnow(), notify=True)
    except NotAllowed:
        abort(403)
    except BookingError as error:  # the week again, with the reason above it
        return _week_page(monday, error=error.message, status=409)
    done = "The visit is cancelled and the patient is being told."
    if is_partial():
        return _week_page(monday, notice=done)
    flash(done, "success")
    return redirect(url_for("clinics.calendar", week=monday.isoformat()), code=303)
