"""Clinic admin pages."""

from flask import Blueprint
from flask_login import current_user

from portal.auth.access import clinic_admin_required
from portal.htmx import render
from portal.services.schedule import clinic_doctors

bp = Blueprint("clinics", __name__, url_prefix="/clinic")


@bp.route("/")
@clinic_admin_required
def home():
    """The admin's clinic and its doctors."""
    clinic = current_user.clinic
    return render("clinics/home.html", clinic=clinic, doctors=clinic_doctors(clinic.id))
