"""Patient pages: upcoming visits, search, booking, cancelling and rescheduling."""

from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from portal.auth.access import patient_required
from portal.database import read_only
from portal.extensions import db
from portal.htmx import is_partial, render, respond
from portal.models import Appointment, Doctor, utcnow
from portal.patients.cards import MARKUP_VERSION, render_cards
from portal.patients.forms import BookingForm, CancelForm, RescheduleForm
from portal.services.authz import NotAllowed
from portal.services.availability import free_slots
from portal.services.booking import (
    BookingError,
    BookingRequest,
    InvalidBooking,
    book_appointment,
    cancel_appointment,
    reschedule_appointment,
)
from portal.services.history import upcoming_visits
from portal.services.pagination import BadCursor, BadLimit, parse_limit
from portal.services.search import (
    SearchError,
    bookable_doctor,
    cities,
    earliest_bookable,
    next_available,
    parse_criteria,
    specializations,
)
from portal.services.search_results import cached_search

bp = Blueprint("patients", __name__, url_prefix="/patient")


def _parse_date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SearchError(name, "Dates look like 2026-12-01.") from None


def _parse_instant(raw: str | None) -> datetime | None:
    """An ISO 8601 instant with its offset, or None."""
    try:
        value = datetime.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _own_appointment(appointment_id: int) -> Appointment:
    """The signed-in patient's appointment, or 404/403."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        abort(404)
    if appointment.patient_id != current_user.patient_id:
        abort(403)
    return appointment


@bp.route("/")
@read_only
@patient_required
def home():
    """The patient's upcoming visits."""
    visits = upcoming_visits(current_user.patient_id, now=utcnow(), status="scheduled").items
    return render(
        "patients/home.html", name=current_user.full_name, visits=visits, cancel_form=CancelForm()
    )


@bp.route("/search")
@read_only
@patient_required
def search():
    """Search by specialization and city or clinic; doctors soonest-free first, infinite scroll."""
    args = request.args
    context = {"args": args, "page": None, "error": None, "next_slot": None}
    if not args.get("specialization"):
        return _search_page(context)
    now = utcnow()
    cursor = args.get("cursor") or None
    # An infinite-scroll request gets more cards; a page (even one with a cursor) the list.
    block = "result_rows" if cursor and is_partial() else "results"
    try:
        clinic_id = int(args["clinic_id"]) if args.get("clinic_id") else None
        criteria = parse_criteria(
            args.get("specialization"),
            _parse_date("date_from"),
            _parse_date("date_to"),
            today=now.date(),
            city=args.get("city"),
            clinic_id=clinic_id,
        )
        limit = parse_limit(args.get("limit"))

        def make(page) -> str:
            context.update(page=page, criteria=criteria, cards=render_cards(page.items))
            if not page.items and not cursor:
                context["next_slot"] = next_available(
                    criteria.specialization, now, city=criteria.city, clinic_id=criteria.clinic_id
                )
            return render_block("patients/search.html", block, **context)

        results = cached_search(
            criteria,
            kind=f"portal:{block}:{MARKUP_VERSION}",
            limit=limit,
            cursor=cursor,
            now=now,
            make=make,
        )
    except SearchError as error:
        context["error"] = error.message
        return _search_page(context), (422 if is_partial() else 400)
    except (BadCursor, BadLimit, ValueError):
        context["error"] = "That link is not valid any more. Please search again."
        return _search_page(context), (422 if is_partial() else 400)
    # Rendered by our autoescaping template (now or when it was kept); user text is escaped.
    results = Markup(results)  # noqa: S704
    if is_partial():
        return respond(results)
    return _search_page(context, block=None, results_html=results)


def _search_page(context: dict, block: str | None = "results", **extra):
    """The search page with its form's catalogue (read by now with the search's versions, by
    search_results, else read here); for an htmx request the named block, which has no form."""
    if block and is_partial():
        return render("patients/search.html", block=block, **context, **extra)
    catalogue = {"specializations": specializations(), "cities": cities()}
    return render("patients/search.html", **catalogue, **context, **extra)


DOCTOR_PAGE_DAYS = 7


@bp.route("/doctors/<int:doctor_id>")
@read_only
@patient_required
def doctor(doctor_id: int):
    """One doctor's free times for a week (from date_from, default today), every slot of each
    day: where a search card's "more times" leads."""
    found = bookable_doctor(doctor_id)
    if found is None:
        abort(404)
    today = utcnow().date()
    error = None
    try:
        start = _parse_date("date_from") or today
        if start > today + timedelta(days=365):
            raise SearchError("date_from", "Look at most a year ahead.")
    except SearchError as problem:
        error, start = problem.message, today
    start = max(start, today)
    end = start + timedelta(days=DOCTOR_PAGE_DAYS - 1)
    days = {} if error else free_slots([found], start, end, earliest_bookable(utcnow()))[found.id]
    page = render(
        "patients/doctor.html",
        doctor=found,
        days=days,
        start=start,
        end=end,
        earlier=start - timedelta(days=DOCTOR_PAGE_DAYS) if start > today else None,
        later=end + timedelta(days=1),
        error=error,
    )
    return (page, 400) if error else page


def _fresh_slots(doctor: Doctor, around: datetime) -> dict[date, list]:
    """The doctor's free slots over the next few days, for "just taken" and reschedule pages."""
    now = utcnow()
    start = max(around, now).date()
    return free_slots([doctor], start, start + timedelta(days=6), earliest_bookable(now))[doctor.id]


@bp.route("/book", methods=["GET", "POST"])
@patient_required
def book():
    """Confirm a chosen slot, then book it; a slot taken meanwhile gets fresh choices."""
    form = BookingForm(request.form if request.method == "POST" else request.args)
    doctor_id = form.doctor_id.data or ""
    doctor = db.session.get(Doctor, int(doctor_id)) if doctor_id.isdigit() else None
    starts_at = _parse_instant(form.starts_at.data)
    if doctor is None or starts_at is None:
        return render(
            "patients/book.html", doctor=None, form=form, error="Choose a slot from the search."
        ), 400
    context = {"doctor": doctor, "starts_at": starts_at, "form": form, "error": None}
    if request.method == "GET":
        return render("patients/book.html", **context)
    if not form.validate():
        return render("patients/book.html", **context), 422
    try:
        appointment = book_appointment(
            BookingRequest(
                patient_id=current_user.patient_id,
                doctor_id=doctor.id,
                starts_at=starts_at,
                kind=form.kind.data,
                reason=form.reason.data,
            ),
            now=utcnow(),
        )
    except BookingError as error:
        context.update(error=error.message, fresh=_fresh_slots(doctor, starts_at))
        return render("patients/book.html", **context), error.status
    flash(
        "Booked: "
        + appointment.starts_at.astimezone(doctor.clinic.zone).strftime("%a %d %b, %H:%M %Z")
        + f" with {doctor.full_name}.",
        "success",
    )
    return redirect(url_for("patients.home"), code=303)


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@patient_required
def cancel(appointment_id: int):
    """Cancel one of the patient's own visits (until the cutoff)."""
    _own_appointment(appointment_id)
    try:
        cancel_appointment(appointment_id, current_user, utcnow())
    except NotAllowed:
        abort(403)
    except BookingError as error:
        flash(error.message, "error")
        return redirect(url_for("patients.home"), code=303)
    flash("Your visit is cancelled.", "success")
    return redirect(url_for("patients.home"), code=303)


@bp.route("/appointments/<int:appointment_id>/reschedule", methods=["GET", "POST"])
@patient_required
def reschedule(appointment_id: int):
    """Move a visit to another free slot of the same doctor, all or nothing."""
    appointment = _own_appointment(appointment_id)
    form = RescheduleForm()
    context = {"appointment": appointment, "form": form, "error": None}
    if form.validate_on_submit():
        new_start = _parse_instant(form.starts_at.data)
        try:
            if new_start is None:
                raise InvalidBooking("Choose a new time from the list.")
            moved = reschedule_appointment(appointment_id, current_user, new_start, utcnow())
        except NotAllowed:
            abort(403)
        except BookingError as error:
            context["error"] = error.message
            db.session.refresh(appointment)
        else:
            zone = moved.doctor.clinic.zone
            flash(
                "Moved to " + moved.starts_at.astimezone(zone).strftime("%a %d %b, %H:%M %Z") + ".",
                "success",
            )
            return redirect(url_for("patients.home"), code=303)
    status = 200 if request.method == "GET" and not context["error"] else 409
    if request.method == "POST" and form.errors:
        status = 422
    context["fresh"] = _fresh_slots(appointment.doctor, utcnow())
    return render("patients/reschedule.html", **context), status
