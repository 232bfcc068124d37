"""The audit trail of clinical data: one append-only row per read or write of medical records.

An audit row is written in the transaction of the access it records: for a read, the records
are selected and the row inserted in one transaction, which commits before any data is
returned; for a write, the row joins the transaction that writes the record. If the audit row
cannot be written, the transaction is rolled back and AuditFailed raised: no audit row, no data.
"""

from collections.abc import Sequence

from flask import has_request_context, request
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import AuditLog, utcnow
from portal.request_context import current_request_id
from portal.services.authz import Actor

READ = "records.read"
WRITE = "records.write"
AMEND = "records.amend"


class AuditFailed(RuntimeError):
    """The audit row could not be written, so the access it records did not happen."""


def request_address() -> str | None:
    """The client's address as the WSGI server saw it (ProxyFix decides what that means)."""
    if not has_request_context() or not request.remote_addr:
        return None
    return request.remote_addr[:64]


# One INSERT, built once: nothing reads the row back as an entity, and every page of records
# writes one, so the ORM's unit of work would only add CPU.
_INSERT = insert(AuditLog).returning(AuditLog.id)


def add_audit_row(
    actor: Actor,
    patient_id: int,
    record_ids: Sequence[int],
    action: str,
    *,
    address: str | None = None,
    request_id: str | None = None,
) -> int:
    """Insert one audit row in the current transaction (a failure shows here); its id.

    Address and request id default to the current request's. On failure the whole
    transaction is rolled back and AuditFailed raised. The caller commits.
    """
    values = {
        "at": utcnow(),
        "actor_id": actor.id,
        "actor_role": actor.role,
        "patient_id": patient_id,
        "record_ids": [int(record_id) for record_id in record_ids],
        "action": action,
        "address": address if address is not None else request_address(),
        "request_id": request_id if request_id is not None else current_request_id(),
    }
    try:
        return db.session.connection().execute(_INSERT, values).scalar_one()
    except SQLAlchemyError as error:
        db.session.rollback()
        raise AuditFailed(f"audit row for {action} could not be written") from error


def audit_record_read(
    actor: Actor, patient_id: int, record_ids: Sequence[int], *, action: str = READ
) -> int:
    """Audit a read of these records of a patient, in the transaction that selected them."""
    return add_audit_row(actor, patient_id, record_ids, action)


def audit_record_write(
    actor: Actor, patient_id: int, record_ids: Sequence[int], *, action: str = WRITE
) -> int:
    """Audit a write (or, with action=AMEND, an amendment) of records, in the writing transaction.

    Call it after the record rows are flushed (so they have ids) and before the commit; the
    caller's commit then saves the records and their audit row together, or neither.
    """
    return add_audit_row(actor, patient_id, record_ids, action)


def commit_with_audit() -> None:
    """Commit the transaction that holds an audit row; AuditFailed (rolled back) if it fails."""
    try:
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        raise AuditFailed("the audited transaction could not be committed") from error
