"""A patient's appointments and medical records, newest first, a page at a time.

Who may read them is the authorization layer's call: the patient, or a doctor who treats
them; never a clinic admin. Every page of records leaves an audit row, written by the records
service in the transaction that reads them, exactly as for the portal.
"""

from flask import request
from sqlalchemy import bindparam, select

from portal.api.blueprint import bp
from portal.api.errors import not_found
from portal.api.schemas import MAX_ID, HistoryOut, HistoryQuery, RecordsOut, RecordsQuery
from portal.api.security import api_user, bearer_required
from portal.api.serializers import appointment_out, record_out
from portal.api.spec import BEARER, answers, api_spec
from portal.database import read_only
from portal.errors import error_response
from portal.extensions import db
from portal.models import Patient
from portal.services.audit import AuditFailed
from portal.services.authz import can_see_patient, require
from portal.services.history import InvalidFilter, appointment_history
from portal.services.records import medical_records_page

TAGS = ["patients"]

bp.register_error_handler(
    InvalidFilter, lambda e: error_response(422, e.message, "invalid", {e.field: e.message})
)
# No audit row, no data: the read did not happen (the service rolled it back).
bp.register_error_handler(
    AuditFailed,
    lambda e: error_response(503, "Medical records cannot be read right now.", "unavailable"),
)


_EXISTING_PATIENT = select(Patient.id).where(Patient.id == bindparam("id"))


def _existing_patient(patient_id: int) -> int:
    """The id of a patient who exists (404 otherwise); a patient's own id needs no query."""
    if patient_id == api_user().patient_id:
        return patient_id
    if patient_id > MAX_ID or db.session.scalar(_EXISTING_PATIENT, {"id": patient_id}) is None:
        raise not_found("patient")
    return patient_id


@bp.get("/patients/<int:patient_id>/appointments")
@read_only
@bearer_required()
@api_spec.validate(
    query=HistoryQuery,
    resp=answers(400, 401, 403, 404, 422, HTTP_200=HistoryOut),
    tags=TAGS,
    security=BEARER,
)
def appointments(patient_id: int):
    """A patient's appointments, newest first (filters: status, from, to as local dates)."""
    patient_id = _existing_patient(patient_id)
    require(can_see_patient(api_user(), patient_id))
    query: HistoryQuery = request.context.query
    page = appointment_history(
        patient_id,
        limit=query.limit,
        cursor=query.cursor,
        status=query.status,
        date_from=query.date_from,
        date_to=query.date_to,
    )
    return HistoryOut(
        items=[appointment_out(row) for row in page.items], next_cursor=page.next_cursor
    )


@bp.get("/patients/<int:patient_id>/medical-records")
@bearer_required()
@api_spec.validate(
    query=RecordsQuery,
    resp=answers(400, 401, 403, 404, 422, HTTP_200=RecordsOut),
    tags=TAGS,
    security=BEARER,
)
def medical_records(patient_id: int):
    """A patient's current medical records, newest first; each page read is audited."""
    patient_id = _existing_patient(patient_id)
    query: RecordsQuery = request.context.query
    page = medical_records_page(
        api_user(),
        patient_id,
        limit=query.limit,
        cursor=query.cursor,
        record_type=query.record_type,
        date_from=query.date_from,
        date_to=query.date_to,
    )
    return RecordsOut(
        items=[record_out(entry) for entry in page.items], next_cursor=page.next_cursor
    )
