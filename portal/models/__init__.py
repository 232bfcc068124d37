"""The data model of DESIGN.md, one module per aggregate."""

from portal.models.appointment import ACTIVE_STATUSES, KINDS, STATUSES, Appointment, VideoRoom
from portal.models.audit import AuditLog
from portal.models.clinic import Clinic
from portal.models.doctor import SLOT_LENGTHS, Doctor, DoctorSchedule, ScheduleException
from portal.models.notification import Notification, idempotency_key
from portal.models.patient import Patient
from portal.models.record import RECORD_TYPES, MedicalRecord
from portal.models.token import RefreshToken
from portal.models.types import utcnow
from portal.models.user import ROLES, User

__all__ = [
    "ACTIVE_STATUSES",
    "KINDS",
    "RECORD_TYPES",
    "ROLES",
    "SLOT_LENGTHS",
    "STATUSES",
    "Appointment",
    "AuditLog",
    "Clinic",
    "Doctor",
    "DoctorSchedule",
    "MedicalRecord",
    "Notification",
    "Patient",
    "RefreshToken",
    "ScheduleException",
    "User",
    "VideoRoom",
    "idempotency_key",
    "utcnow",
]
