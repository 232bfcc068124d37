"""A patient's medical records, newest first, read only by who may read them, and audited.

Keyset over (created_at, id) on ix_medical_records_patient_created (patient_id, created_at
DESC, id DESC), no Sort node and no OFFSET: the large text and jsonb are read for the page's
rows (and the one-row lookahead) only. Every page read writes its audit row in the same
transaction as the select, and the data is returned only after that transaction commits.

Amendments: an amendment is a new row whose supersedes_id names the row it replaces. The list
shows current versions only (rows no other row supersedes), each amendment with the date of the
record it replaced, so nobody reads an outdated diagnosis as if it were the current one.
"""

import functools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, bindparam, exists, select, tuple_
from sqlalchemy.orm import aliased

from portal.models import RECORD_TYPES, Clinic, Doctor, MedicalRecord
from portal.replica import select_rows
from portal.services.audit import AuditFailed, audit_record_read, commit_with_audit
from portal.services.authz import Actor, NotAllowed, can_see_patient
from portal.services.directory import DOCTOR_CARD_COLUMNS, DoctorCard, DoctorCards
from portal.services.history import (
    InvalidFilter,
    check_date_range,
    keyset_key,
    keyset_params,
    local_date_conditions,
    local_date_params,
)
from portal.services.pagination import (
    DEFAULT_LIMIT,
    Page,
    decode_time_id_cursor,
    page_from_rows,
    parse_limit,
)

__all__ = [
    "AuditFailed",
    "NotAllowed",
    "RecordEntry",
    "medical_records_page",
    "record_read_allowed",
    "require_record_read",
]


@dataclass(frozen=True, slots=True)
class RecordCard:
    """One medical record as a list shows it: read-only, made from the query's columns."""

    id: int
    patient_id: int
    appointment_id: int
    doctor_id: int
    created_at: datetime
    record_type: str
    diagnosis: str | None
    prescription: str | None
    data: dict | list | None
    supersedes_id: int | None
    doctor: DoctorCard


@dataclass(frozen=True)
class RecordEntry:
    """One current medical record, with its doctor and clinic, and what it amends (if anything)."""

    record: RecordCard
    amends_created_at: datetime | None = None  # when the record it replaces was written

    @property
    def amends_id(self) -> int | None:
        return self.record.supersedes_id

    @property
    def is_amendment(self) -> bool:
        return self.amends_id is not None

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.record.created_at, self.record.id)


def record_read_allowed(actor: Actor, patient_id: int) -> bool:
    """May `actor` read this patient's medical records?

    A patient only their own; a doctor only patients they have (or had) an appointment with
    (an EXISTS on appointments by doctor_id and patient_id); a clinic admin never. The rule
    itself is authz.can_see_patient, the one authorization layer.
    """
    if not actor.is_active:
        return False
    return can_see_patient(actor, patient_id)


def require_record_read(actor: Actor, patient_id: int) -> None:
    """NotAllowed (a 403) unless the actor may read the patient's records."""
    if not record_read_allowed(actor, patient_id):
        raise NotAllowed("not allowed to read these medical records")


def check_record_type(record_type: str | None) -> None:
    """InvalidFilter for a record type that does not exist."""
    if record_type is not None and record_type not in RECORD_TYPES:
        raise InvalidFilter("record_type", "Choose a record type from the list.")


def records_scope(
    patient_id: int, record_type: str | None, date_from: date | None, date_to: date | None
) -> str:
    """The cursor scope of one patient's records under one set of filters."""
    return (
        f"records:patient:{patient_id}:{record_type or ''}:"
        f"{date_from.isoformat() if date_from else ''}:{date_to.isoformat() if date_to else ''}"
    )


def _select_page(
    patient_id: int,
    limit: int,
    after: tuple[datetime, int] | None,
    record_type: str | None,
    date_from: date | None,
    date_to: date | None,
) -> list[RecordEntry]:
    """limit+1 current records, newest first, with doctor, clinic and the amended row's date."""
    query = _records_statement(
        record_type is not None, date_from is not None, date_to is not None, after is not None
    )
    params = {
        "patient_id": patient_id,
        "record_type": record_type,
        "limit": limit + 1,
        **local_date_params(date_from, date_to),
        **keyset_params(after),
    }
    cards = DoctorCards()
    entries = []
    for row in select_rows(query, params).all():
        record = RecordCard(*row[:10], cards.card(row[11:]))
        entries.append(RecordEntry(record, row.replaced_at))
    return entries


@functools.cache
def _records_statement(record_type: bool, date_from: bool, date_to: bool, after: bool) -> Select:
    """A page's statement for one shape of filters, built once (history._history_statement
    says why); its values are bound parameters."""
    replaced = aliased(MedicalRecord, name="replaced")
    newer = aliased(MedicalRecord, name="newer")
    query = (
        select(
            MedicalRecord.id,
            MedicalRecord.patient_id,
            MedicalRecord.appointment_id,
            MedicalRecord.doctor_id,
            MedicalRecord.created_at,
            MedicalRecord.record_type,
            MedicalRecord.diagnosis,
            MedicalRecord.prescription,
            MedicalRecord.data,
            MedicalRecord.supersedes_id,
            replaced.created_at.label("replaced_at"),
            *DOCTOR_CARD_COLUMNS,
        )
        .join(Doctor, Doctor.id == MedicalRecord.doctor_id)
        .join(Clinic, Clinic.id == Doctor.clinic_id)
        .outerjoin(replaced, replaced.id == MedicalRecord.supersedes_id)
        .where(
            MedicalRecord.patient_id == bindparam("patient_id"),
            ~exists().where(newer.supersedes_id == MedicalRecord.id),
            *local_date_conditions(MedicalRecord.created_at, Clinic.timezone, date_from, date_to),
        )
    )
    if record_type:
        query = query.where(MedicalRecord.record_type == bindparam("record_type"))
    if after:
        query = query.where(tuple_(MedicalRecord.created_at, MedicalRecord.id) < keyset_key())
    return query.order_by(MedicalRecord.created_at.desc(), MedicalRecord.id.desc()).limit(
        bindparam("limit")
    )


def medical_records_page(
    actor: Actor,
    patient_id: int,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    record_type: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Page[RecordEntry]:
    """A page of a patient's current medical records, newest first, audited.

    Raises NotAllowed (403) for an actor who may not read them, BadLimit, BadCursor or
    InvalidFilter for bad input, and AuditFailed when the audit row cannot be written, in which
    case nothing is returned. Commits the session's transaction.
    """
    require_record_read(actor, patient_id)
    limit = parse_limit(limit)
    check_record_type(record_type)
    check_date_range(date_from, date_to)
    scope = records_scope(patient_id, record_type, date_from, date_to)
    after = decode_time_id_cursor(scope, cursor)
    entries = _select_page(patient_id, limit, after, record_type, date_from, date_to)
    page = page_from_rows(entries, limit, scope, lambda entry: entry.sort_key)
    audit_record_read(actor, patient_id, [entry.record.id for entry in page.items])
    commit_with_audit()
    return page
