"""Rows and service results turned into the API's response models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.api.schemas import (
    AppointmentOut,
    ClinicOut,
    DoctorOut,
    PatientBriefOut,
    RecordOut,
    ScheduleItemOut,
    SearchResultOut,
    SlotOut,
    TokenOut,
    UserOut,
)
from portal.models import Appointment, Clinic, Doctor
from portal.services.search import DoctorAvailability
from portal.services.tokens import TokenPair

if TYPE_CHECKING:
    from portal.services.records import RecordEntry


def token_out(pair: TokenPair) -> TokenOut:
    user = pair.user
    return TokenOut(
        access_token=pair.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme's name, not a secret)
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
        user=UserOut(
            id=user.id,
            role=user.role,
            patient_id=user.patient.id if user.patient else None,
            doctor_id=user.doctor.id if user.doctor else None,
            clinic_id=user.clinic_id,
        ),
    )


def clinic_out(clinic: Clinic) -> ClinicOut:
    return ClinicOut(id=clinic.id, name=clinic.name, city=clinic.city, timezone=clinic.timezone)


def doctor_out(doctor: Doctor) -> DoctorOut:
    return DoctorOut(
        id=doctor.id,
        full_name=doctor.full_name,
        specialization=doctor.specialization,
        consultation_fee=f"{doctor.consultation_fee:.2f}",
        clinic=clinic_out(doctor.clinic),
    )


def search_result_out(result: DoctorAvailability) -> SearchResultOut:
    slots = [
        SlotOut(starts_at=slot.starts_at, ends_at=slot.ends_at)
        for day in sorted(result.days)
        for slot in result.days[day]
    ]
    return SearchResultOut(doctor=doctor_out(result.doctor), slots=slots)


def appointment_out(appointment: Appointment) -> AppointmentOut:
    return AppointmentOut(
        id=appointment.id,
        patient_id=appointment.patient_id,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        status=appointment.status,
        kind=appointment.kind,
        reason=appointment.reason,
        doctor=doctor_out(appointment.doctor),
    )


def schedule_item_out(appointment: Appointment) -> ScheduleItemOut:
    return ScheduleItemOut(
        id=appointment.id,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        status=appointment.status,
        kind=appointment.kind,
        reason=appointment.reason,
        patient=PatientBriefOut(id=appointment.patient.id, full_name=appointment.patient.full_name),
    )


def record_out(entry: RecordEntry) -> RecordOut:
    record = entry.record
    return RecordOut(
        id=record.id,
        patient_id=record.patient_id,
        appointment_id=record.appointment_id,
        created_at=record.created_at,
        record_type=record.record_type,
        diagnosis=record.diagnosis,
        prescription=record.prescription,
        data=record.data,
        doctor=doctor_out(record.doctor),
        amends_id=entry.amends_id,
        amends_created_at=entry.amends_created_at,
    )
