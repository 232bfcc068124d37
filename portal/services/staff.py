"""The doctors of a clinic: adding one with their sign-in, and deactivating one.

A deactivated doctor cannot sign in (Flask-Login refuses inactive users), is not found by
search and takes no bookings; their availability is invalidated and their API refresh tokens
are revoked in the same transaction, so the mobile app loses access at once.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Appointment, Doctor, User
from portal.services import availability_cache
from portal.services.accounts import normalize_email
from portal.services.authz import Actor, can_administer_doctor, require
from portal.services.passwords import hash_password, password_problem
from portal.services.search import forget_catalogue
from portal.services.tokens import revoke_all_for_user

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_FEE = Decimal("99999.99")


class StaffError(Exception):
    """A doctor that cannot be added; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class NewDoctor:
    """What an admin types to add a doctor; an empty password asks for a generated one."""

    full_name: str
    email: str
    specialization: str
    consultation_fee: str
    password: str = ""


def generate_password() -> str:
    """A random 16-character password, shown once to the admin who hands it over."""
    return secrets.token_urlsafe(12)


def _parse_fee(raw: str) -> Decimal:
    try:
        fee = Decimal(raw.strip())
    except InvalidOperation:
        raise StaffError("consultation_fee", "The fee is a number such as 90 or 90.50.") from None
    if not fee.is_finite() or fee < 0 or fee > MAX_FEE or fee != fee.quantize(Decimal("0.01")):
        raise StaffError("consultation_fee", f"The fee lies between 0 and {MAX_FEE:,}.")
    return fee


def _check(new: NewDoctor) -> tuple[str, str, str, Decimal]:
    """The cleaned name, email, specialization and fee, or StaffError for the first problem."""
    full_name = new.full_name.strip()
    if not 2 <= len(full_name) <= 200:
        raise StaffError("full_name", "Enter the doctor's full name (2 to 200 characters).")
    email = normalize_email(new.email)
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise StaffError("email", "Enter an email address such as name@clinic.example.")
    specialization = new.specialization.strip()
    if not 2 <= len(specialization) <= 80:
        raise StaffError("specialization", "Enter a specialization (2 to 80 characters).")
    fee = _parse_fee(new.consultation_fee)
    if new.password:
        problem = password_problem(new.password, email)
        if problem:
            raise StaffError("password", problem)
    return full_name, email, specialization, fee


def add_doctor(clinic_id: int, new: NewDoctor) -> tuple[Doctor, str | None]:
    """Create a doctor of this clinic and their sign-in in one transaction.

    Returns the doctor and the generated password when the admin left it empty (None when
    they chose one): it is shown once and never stored in clear.
    """
    full_name, email, specialization, fee = _check(new)
    generated = None if new.password else generate_password()
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise StaffError("email", "There is already a sign-in with this email.")
    user = User(
        email=email,
        password_hash=hash_password(new.password or generated),
        role="doctor",
        active=True,
    )
    doctor = Doctor(
        user=user,
        clinic_id=clinic_id,
        full_name=full_name,
        specialization=specialization,
        consultation_fee=fee,
    )
    db.session.add_all([user, doctor])
    try:
        db.session.commit()
    except IntegrityError as error:  # a concurrent sign-up took the email
        db.session.rollback()
        raise StaffError("email", "There is already a sign-in with this email.") from error
    forget_catalogue()  # a new specialization shows in the search form at once
    return doctor, generated  # no rules yet, so no availability to invalidate


def upcoming_visits(doctor_id: int, now: datetime) -> int:
    """How many scheduled visits the doctor still has from now on."""
    return db.session.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.doctor_id == doctor_id,
            Appointment.status == "scheduled",
            Appointment.starts_at >= now,
        )
    )


def deactivate_doctor(actor: Actor, doctor_id: int) -> Doctor:
    """Turn off a doctor's sign-in: no sign-in, no search, no new bookings, no API tokens.

    Their existing visits stay as they are; the admin sees how many and may cancel them from
    the clinic calendar, which tells each patient.
    """
    doctor = db.session.get(Doctor, doctor_id)
    if doctor is None:
        raise LookupError(doctor_id)
    require(can_administer_doctor(actor, doctor_id))
    doctor.user.active = False
    # In the same transaction: a deactivated doctor never keeps a working refresh token.
    revoke_all_for_user(doctor.user_id, commit=False)
    db.session.commit()
    availability_cache.invalidate_doctor(doctor.id)
    return doctor
