"""The one authorization layer: who may see or change which object.

Views and the API ask these questions; none of them decides on its own. A patient sees only
their own data; a doctor their own schedule and the patients they have appointments with; a
clinic admin their own clinic's calendars and appointments, and no clinical records.
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, bindparam, exists, select

from portal.extensions import db
from portal.models import Appointment, Doctor, Patient, User


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts, as this layer and the audit trail see them: the ids and role of a signed-in
    user without the user's ORM entity (the API resolves each access token to one)."""

    id: int
    role: str
    active: bool
    clinic_id: int | None
    patient_id: int | None
    doctor_id: int | None

    @property
    def is_active(self) -> bool:
        return self.active


def principal_select(*extra: ColumnElement) -> Select:
    """One user's Principal fields (in its order), then `extra` columns, by :user_id: one row,
    no ORM entities. Build it once (a module constant) and execute it with the id."""
    return (
        select(User.id, User.role, User.active, User.clinic_id, Patient.id, Doctor.id, *extra)
        .outerjoin(Patient, Patient.user_id == User.id)
        .outerjoin(Doctor, Doctor.user_id == User.id)
        .where(User.id == bindparam("user_id"))
    )


# Every question below takes either: the portal's signed-in User or the API's Principal.
Actor = User | Principal


class NotAllowed(Exception):
    """The signed-in user may not do this to this object (a 403)."""


def _doctor_clinic_id(doctor_id: int) -> int | None:
    return db.session.scalar(select(Doctor.clinic_id).where(Doctor.id == doctor_id))


def can_see_appointment(user: Actor, appointment: Appointment) -> bool:
    """The patient, the doctor, or an admin of the doctor's clinic."""
    if user.role == "patient":
        return user.patient_id is not None and appointment.patient_id == user.patient_id
    if user.role == "doctor":
        return user.doctor_id is not None and appointment.doctor_id == user.doctor_id
    if user.role == "clinic_admin":
        return _doctor_clinic_id(appointment.doctor_id) == user.clinic_id
    return False


def can_cancel_appointment(user: Actor, appointment: Appointment) -> bool:
    """Whoever may see an appointment may cancel it (the patient within the cutoff)."""
    return can_see_appointment(user, appointment)


def can_manage_doctor(user: Actor, doctor_id: int) -> bool:
    """The doctor themself, or an admin of their clinic."""
    if user.role == "doctor":
        return user.doctor_id is not None and user.doctor_id == doctor_id
    if user.role == "clinic_admin":
        return _doctor_clinic_id(doctor_id) == user.clinic_id
    return False


def doctor_treats_patient(doctor_id: int, patient_id: int) -> bool:
    """True when the doctor has (or had) an appointment with the patient."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Appointment.doctor_id == doctor_id, Appointment.patient_id == patient_id
                )
            )
        )
    )


def can_see_patient(user: Actor, patient_id: int) -> bool:
    """The patient themself, or a doctor who treats them; never a clinic admin (clinical data)."""
    if user.role == "patient":
        return user.patient_id is not None and user.patient_id == patient_id
    if user.role == "doctor":
        return user.doctor_id is not None and doctor_treats_patient(user.doctor_id, patient_id)
    return False


def require(allowed: bool) -> None:
    """Raise NotAllowed unless allowed."""
    if not allowed:
        raise NotAllowed()


def can_administer_doctor(user: Actor, doctor_id: int) -> bool:
    """An admin of the doctor's clinic: the sign-in, weekly rules and time off (not the doctor)."""
    return user.role == "clinic_admin" and _doctor_clinic_id(doctor_id) == user.clinic_id


def can_see_clinic(user: Actor, clinic_id: int) -> bool:
    """The clinic's calendar and doctors: its own admins only."""
    return user.role == "clinic_admin" and user.clinic_id == clinic_id


def can_change_visit_status(user: Actor, appointment: Appointment) -> bool:
    """Check-in, completed, no-show: the doctor of the visit."""
    return (
        user.role == "doctor"
        and user.doctor_id is not None
        and appointment.doctor_id == user.doctor_id
    )


def can_write_record(user: Actor, appointment: Appointment) -> bool:
    """A medical record on a visit: its own doctor only (never an admin, never a colleague)."""
    return can_change_visit_status(user, appointment)


def can_amend_record(user: Actor, record_doctor_id: int, patient_id: int) -> bool:
    """An amendment: the doctor who wrote the record, while they still treat the patient."""
    return (
        user.role == "doctor"
        and user.doctor_id is not None
        and user.doctor_id == record_doctor_id
        and doctor_treats_patient(user.doctor_id, patient_id)
    )


def can_join_video(user: Actor, appointment: Appointment) -> bool:
    """A video visit's room: its patient and its doctor only (never an admin)."""
    if user.role == "patient":
        return user.patient_id is not None and appointment.patient_id == user.patient_id
    return can_change_visit_status(user, appointment)
