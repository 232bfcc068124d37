"""Doctor pages: the medical records of a visit, written and amended, never edited in place."""

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from portal.auth.access import doctor_required
from portal.doctors.blueprint import bp
from portal.doctors.forms import RecordForm
from portal.extensions import db
from portal.htmx import render
from portal.models import Appointment, MedicalRecord
from portal.services.audit import AuditFailed
from portal.services.authz import can_amend_record, can_write_record
from portal.services.visits import (
    RecordInput,
    RecordRefused,
    amend_record,
    record_problem,
    record_to_amend,
    visit_records,
    write_record,
)


def _own_visit(appointment_id: int) -> Appointment:
    """The signed-in doctor's visit, or 404 (no such visit) / 403 (someone else's)."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        abort(404)
    if not can_write_record(current_user, appointment):
        abort(403)
    return appointment


def _entry(form: RecordForm) -> RecordInput:
    return RecordInput(
        record_type=form.record_type.data,
        diagnosis=form.diagnosis.data,
        prescription=form.prescription.data,
        vitals=form.vitals(),
    )


def _refused(form: RecordForm, error: RecordRefused) -> None:
    field = getattr(form, error.field, None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


@bp.route("/appointments/<int:appointment_id>/record", methods=["GET", "POST"])
@doctor_required
def visit_record(appointment_id: int):
    """A visit's current records (read, audited) and the form for a new one (write, audited)."""
    appointment = _own_visit(appointment_id)
    form = RecordForm()
    status = 200
    if form.validate_on_submit():
        try:
            write_record(current_user, appointment.id, _entry(form))
        except RecordRefused as error:
            _refused(form, error)
            status = 422
        except AuditFailed:
            abort(503)
        else:
            flash("The record is saved.", "success")
            return redirect(
                url_for("doctors.visit_record", appointment_id=appointment.id), code=303
            )
    elif form.is_submitted():
        status = 422
    try:
        records = visit_records(current_user, appointment)
    except AuditFailed:
        abort(503)
    return render(
        "doctors/record.html",
        appointment=appointment,
        records=records,
        form=form,
        problem=record_problem(appointment),
        amending=None,
    ), status


@bp.route("/records/<int:record_id>/amend", methods=["GET", "POST"])
@doctor_required
def amend(record_id: int):
    """Amend a record: the form starts from it; saving adds a new version, the old one stays."""
    record = db.session.get(MedicalRecord, record_id)
    if record is None:
        abort(404)
    if not can_amend_record(current_user, record.doctor_id, record.patient_id):
        abort(403)
    appointment = (
        db.session.get(Appointment, record.appointment_id) if record.appointment_id else None
    )
    form = RecordForm()
    status = 200
    if form.validate_on_submit():
        try:
            amend_record(current_user, record.id, _entry(form))
        except RecordRefused as error:
            _refused(form, error)
            status = 422
        except AuditFailed:
            abort(503)
        else:
            flash("The amendment is saved; the earlier version is kept.", "success")
            if appointment is not None:
                return redirect(
                    url_for("doctors.visit_record", appointment_id=appointment.id), code=303
                )
            return redirect(
                url_for("doctors.patient_records", patient_id=record.patient_id), code=303
            )
    elif form.is_submitted():
        status = 422
    try:
        record = record_to_amend(current_user, record.id)
    except AuditFailed:
        abort(503)
    if status == 200:
        form.fill_from(record)
    return render(
        "doctors/record.html",
        appointment=appointment,
        records=[],
        form=form,
        problem=None,
        amending=record,
    ), status
