"""Patient pages."""

from flask import Blueprint
from flask_login import current_user

from portal.auth.access import patient_required
from portal.htmx import render
from portal.models import utcnow
from portal.services.schedule import upcoming_appointments

bp = Blueprint("patients", __name__, url_prefix="/patient")


@bp.route("/")
@patient_required
def home():
    """The patient's upcoming visits."""
    patient = current_user.patient
    visits = upcoming_appointments(patient.id, utcnow())
    return render("patients/home.html", patient=patient, visits=visits)
