"""Doctor pages: the history and medical records of a patient they have a visit with.

The lists, their infinite scroll and the audit of every records page come from the patients'
history module; this module only decides who the patient is and whether the doctor may look.
"""

from flask import abort
from flask_login import current_user

from portal.auth.access import doctor_required
from portal.database import read_only
from portal.doctors.blueprint import bp
from portal.extensions import db
from portal.models import Patient
from portal.patients.history import history_response, records_response
from portal.services.authz import can_see_patient


def _treated_patient(patient_id: int) -> Patient:
    """A patient with a visit with this doctor, or 404 (no such patient) / 403 (not theirs)."""
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    if not can_see_patient(current_user, patient.id):
        abort(403)
    return patient


@bp.route("/patients/<int:patient_id>/history")
@read_only
@doctor_required
def patient_history(patient_id: int):
    """A patient's visits (with every doctor), as infinite scroll."""
    patient = _treated_patient(patient_id)
    return history_response(
        current_user,
        patient.id,
        endpoint="doctors.patient_history",
        endpoint_args={"patient_id": patient.id},
        heading=f"Visits of {patient.full_name}",
    )


@bp.route("/patients/<int:patient_id>/records")
@doctor_required
def patient_records(patient_id: int):
    """A patient's medical records, newest first; every page read leaves an audit row."""
    patient = _treated_patient(patient_id)
    return records_response(
        current_user,
        patient.id,
        endpoint="doctors.patient_records",
        endpoint_args={"patient_id": patient.id},
        heading=f"Medical records of {patient.full_name}",
    )
